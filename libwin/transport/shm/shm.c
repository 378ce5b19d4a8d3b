/*
 * The shm transport: peers on the same host, no kernel module.
 *
 * Allocated windows are memfd segments that every member maps: put and get
 * are memcpy, atomics are CPU atomics on the shared mapping; so are the
 * bytes of created windows that lie in a segment: win_mem_alloc'ed memory,
 * or the window's whole pages, which the core moves into one when it can
 * (core/adopt.c). The rest of a created window is the owner's own memory,
 * reached with process_vm_readv/writev (one system call per transfer,
 * iovec batches included); atomics there are read-modify-write under a
 * per-member lock word, since the kernel offers no remote atomic. An
 * access wholly inside the mapped bytes takes the mapping, any other the
 * process_vm path: every member decides the same way for each address. Control blocks are
 * always shared segments, so locks, post/complete and signals are CPU
 * atomics plus futex wake-ups.
 */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/amo.h"
#include "core/ctrl.h"
#include "core/futex.h"
#include "core/internal.h"
#include "transport/shm/ctrlblock.h"

struct shm_peer {
	pid_t pid;
	uintptr_t data;      /* address of the part's byte 0 in our mapping */
	size_t mlo, mhi;     /* the part's bytes we reach through data */
	size_t alo, ahi;     /* ... that every member maps: CPU atomics */
	bool whole;          /* the whole part is such bytes */
	uintptr_t raddr;     /* the owner's address of its part (create) */
	struct win_segment data_seg; /* our attachment of the peer's data
					segment (fd -1 when not ours) */
};

struct shm_win {
	struct win_ctrlset cs; /* first: the ctrl_* ops use it */
	struct win *w;
	struct shm_peer *p;
};

struct shm_exchange {
	struct win_ctrl_addr ctrl;
	int32_t data_fd;     /* segment every member maps, or -1 */
	int32_t pad;
	uint64_t data_len;
	uint64_t data_off;   /* offset in that segment of the part's byte */
	uint64_t map_lo;     /* ... map_lo; the segment holds the part's */
	uint64_t map_hi;     /* bytes [map_lo, map_hi) */
	uint64_t base;
};

static int shm_open_ctx(struct win_ctx *ctx, void **state)
{
	*state = ctx;
	return WIN_OK;
}

static void shm_close_ctx(void *state)
{
}

static bool shm_reaches(void *state, struct win_group *g, int rank)
{
	return win_group_same_host(g, rank);
}

static int errno_status(int e, pid_t pid, const char *what)
{
	switch (e) {
	case ESRCH:
		return win_seterr(WIN_ERR_PEER, "%s: process %d is gone", what,
				  (int)pid);
	case EPERM:
	case EACCES:
		return win_seterr_sys(WIN_ERR_PERM, e, "%s: the kernel refuses "
				      "access to process %d (ptrace "
				      "restrictions: see "
				      "/proc/sys/kernel/yama/ptrace_scope)",
				      what, (int)pid);
	case EFAULT:
		return win_seterr(WIN_ERR_SYS, "%s: process %d no longer maps "
				  "its window memory", what, (int)pid);
	case ENOMEM:
		return win_seterr_sys(WIN_ERR_NOMEM, e, "%s", what);
	}
	return win_seterr_sys(WIN_ERR_SYS, e, "%s", what);
}

/*
 * Yama's ptrace_scope 1 lets a process reach only its descendants with
 * process_vm_*; a member of a created window declares that its peers may.
 */
static void allow_peers_to_reach_us(struct win_ctx *ctx)
{
	FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "r");
	int scope = 0;

	if (!f)
		return;
	if (fscanf(f, "%d", &scope) != 1)
		scope = 0;
	fclose(f);
	if (scope == 1 && prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0))
		win_log(ctx, WIN_LOG_WARN, "prctl(PR_SET_PTRACER): %s",
			strerror(errno));
}

/* ---- the process_vm path (created windows, other members) ---- */

static int vm_rw(struct shm_peer *p, const struct iovec *liov, int lcnt,
		 const struct iovec *riov, int rcnt, bool write)
{
	size_t want = 0;
	ssize_t n;

	for (int i = 0; i < lcnt; i++)
		want += liov[i].iov_len;
	if (want == 0)
		return WIN_OK;
	n = write ? process_vm_writev(p->pid, liov, lcnt, riov, rcnt, 0) :
		    process_vm_readv(p->pid, liov, lcnt, riov, rcnt, 0);
	if (n < 0)
		return errno_status(errno, p->pid, write ? "process_vm_writev" :
					     "process_vm_readv");
	if ((size_t)n != want) {
		/* A partial transfer means part of the range is unmapped. */
		return win_seterr(WIN_ERR_SYS, "process %d's window memory is "
				  "partly unmapped (%zd of %zu bytes)",
				  (int)p->pid, n, want);
	}
	return WIN_OK;
}

static int vm_one(struct shm_peer *p, void *local, size_t len, size_t off,
		  bool write)
{
	struct iovec l = { local, len };
	struct iovec r = { (void *)(p->raddr + off), len };

	return vm_rw(p, &l, 1, &r, 1, write);
}

/* ---- window setup ---- */

static int attach_peer(struct shm_win *sw, int rank,
		       const struct shm_exchange *x)
{
	struct shm_peer *p = &sw->p[rank];
	int rc;

	p->pid = x->ctrl.pid;
	p->raddr = (uintptr_t)x->base;
	rc = win_ctrlset_attach(&sw->cs, rank, &x->ctrl);
	if (rc)
		return rc;
	if (x->data_fd >= 0) {
		rc = win_segment_attach(&p->data_seg, x->ctrl.pid, x->data_fd,
					x->data_len);
		if (rc)
			return rc;
		p->data = (uintptr_t)p->data_seg.addr + x->data_off -
			  x->map_lo;
		p->mlo = p->alo = x->map_lo;
		p->mhi = p->ahi = x->map_hi;
	}
	return WIN_OK;
}

static int probe_peer(struct shm_peer *p, size_t size)
{
	char c;

	return size ? vm_one(p, &c, 1, 0, false) : WIN_OK;
}

static int shm_win_close(struct win *w, void *tw);

static int shm_win_open(struct win *w, void *state, const bool *serves,
			void **twp)
{
	struct shm_exchange me, *all;
	struct shm_win *sw;
	int rc = WIN_OK;

	if (w->flavor == WIN_FLAVOR_CREATE)
		allow_peers_to_reach_us(w->ctx);
	/* An allocated window's segment, or the one holding (part of) a
	 * created window's bytes: the others map it. */
	if (w->flavor != WIN_FLAVOR_CREATE)
		me = (struct shm_exchange){ .data_fd = w->data.fd,
					    .data_len = w->data.len,
					    .map_hi = UINT64_MAX };
	else if (w->mem)
		me = (struct shm_exchange){ .data_fd = w->mem->seg.fd,
					    .data_len = w->mem->seg.len,
					    .data_off = w->mem_off,
					    .map_lo = w->mem_lo,
					    .map_hi = w->mem_hi };
	else
		me = (struct shm_exchange){ .data_fd = -1 };
	me.base = (uintptr_t)w->base;
	win_ctrlset_addr(w, &me.ctrl);
	all = calloc((size_t)w->size, sizeof(*all));
	sw = calloc(1, sizeof(*sw));
	if (sw)
		sw->p = calloc((size_t)w->size, sizeof(*sw->p));
	if (!all || !sw || !sw->p || win_ctrlset_init(&sw->cs, w)) {
		free(all);
		if (sw)
			free(sw->p);
		free(sw);
		return win_seterr(WIN_ERR_NOMEM, "shm window");
	}
	sw->w = w;
	for (int r = 0; r < w->size; r++)
		sw->p[r].data_seg.fd = -1;
	rc = win_group_allgather(w->group, &me, all, sizeof(me));
	for (int r = 0; r < w->size && rc == WIN_OK; r++) {
		struct shm_peer *p = &sw->p[r];

		if (!serves[r])
			continue;
		if (r == w->rank) {
			p->pid = me.ctrl.pid;
			p->raddr = me.base;
			p->data = (uintptr_t)w->data_lib; /* all of it */
			p->mhi = SIZE_MAX;
			if (me.data_fd >= 0) {
				p->alo = me.map_lo;
				p->ahi = me.map_hi;
			}
			rc = win_ctrlset_attach(&sw->cs, r, &me.ctrl);
		} else {
			rc = attach_peer(sw, r, &all[r]);
		}
		p->whole = p->alo == 0 && p->ahi >= w->peers[r].size;
	}
	/* Once every member has mapped what it needs, created windows are
	 * probed so that a refusal by the kernel shows here, with its
	 * reason, rather than at the first put. */
	if (rc == WIN_OK)
		rc = win_agree(w->group, rc);
	for (int r = 0; r < w->size && rc == WIN_OK; r++) {
		if (serves[r] && r != w->rank && !sw->p[r].whole)
			rc = probe_peer(&sw->p[r], w->peers[r].size);
	}
	free(all);
	if (rc) {
		shm_win_close(w, sw);
		return rc;
	}
	*twp = sw;
	return WIN_OK;
}

static int shm_win_close(struct win *w, void *tw)
{
	struct shm_win *sw = tw;

	for (int r = 0; r < w->size; r++)
		win_segment_destroy(&sw->p[r].data_seg);
	win_ctrlset_fini(&sw->cs);
	free(sw->p);
	free(sw);
	return WIN_OK;
}

/* The part's byte 0 if bytes [off, off + len) are reachable with plain
 * loads and stores, else NULL. */
static inline char *mapped(struct shm_win *sw, int rank, size_t off,
			   size_t len)
{
	struct shm_peer *p = &sw->p[rank];

	return likely(p->data && off >= p->mlo && off <= p->mhi &&
		      len <= p->mhi - off) ?
	       (char *)p->data : NULL;
}

static void *shm_direct(void *tw, int rank)
{
	struct shm_win *sw = tw;

	/* Only parts every member maps whole, aligned for every element
	 * type: the atomics on the others go (in part) through the member's
	 * lock, which CPU atomics would bypass. */
	return sw->p[rank].whole && sw->p[rank].raddr % 8 == 0 ?
	       (void *)sw->p[rank].data : NULL;
}

/* ---- data movement ---- */

static int shm_put(void *tw, int rank, const void *src, size_t len,
		   size_t off, struct win_req *req)
{
	struct shm_win *sw = tw;
	char *dst = mapped(sw, rank, off, len);

	if (likely(dst != NULL)) {
		memmove(dst + off, src, len);
		return WIN_OK;
	}
	return vm_one(&sw->p[rank], (void *)src, len, off, true);
}

static int shm_get(void *tw, int rank, void *dst, size_t len, size_t off,
		   struct win_req *req)
{
	struct shm_win *sw = tw;
	char *src = mapped(sw, rank, off, len);

	if (likely(src != NULL)) {
		memmove(dst, src + off, len);
		return WIN_OK;
	}
	return vm_one(&sw->p[rank], dst, len, off, false);
}

/* Copy between an iovec list and target spans of a mapped part. */
static void copy_vector(char *base, const struct iovec *iov, int iovcnt,
			const struct win_span *spans, int nspans, bool put)
{
	size_t io = 0, so = 0;
	int i = 0, s = 0;

	while (i < iovcnt && s < nspans) {
		size_t a = iov[i].iov_len - io, b = spans[s].len - so;
		size_t n = a < b ? a : b;
		char *local = (char *)iov[i].iov_base + io;
		char *remote = base + spans[s].off + so;

		if (put)
			memmove(remote, local, n);
		else
			memmove(local, remote, n);
		io += n;
		so += n;
		if (io == iov[i].iov_len) {
			i++;
			io = 0;
		}
		if (so == spans[s].len) {
			s++;
			so = 0;
		}
	}
}

#define VM_BATCH 1024 /* IOV_MAX */

static int vm_vector(struct shm_peer *p, const struct iovec *iov, int iovcnt,
		     const struct win_span *spans, int nspans, bool put)
{
	struct iovec riov[64];
	int rc;

	/* Remote iovecs in batches; local iovecs are cut to match. */
	size_t io = 0;
	int i = 0;

	for (int s = 0; s < nspans;) {
		struct iovec liov[64];
		int nr = 0, nl = 0;
		size_t bytes = 0;

		for (; s < nspans && nr < 64; s++) {
			riov[nr].iov_base = (void *)(p->raddr + spans[s].off);
			riov[nr++].iov_len = spans[s].len;
			bytes += spans[s].len;
		}
		while (bytes > 0 && nl < 64 && i < iovcnt) {
			size_t n = iov[i].iov_len - io;

			if (n > bytes)
				n = bytes;
			liov[nl].iov_base = (char *)iov[i].iov_base + io;
			liov[nl++].iov_len = n;
			bytes -= n;
			io += n;
			if (io == iov[i].iov_len) {
				i++;
				io = 0;
			}
		}
		if (bytes > 0) {
			/* More local pieces than one batch holds: fall
			 * back to one span at a time. */
			return WIN_ERR_UNSUPPORTED;
		}
		if ((rc = vm_rw(p, liov, nl, riov, nr, put)))
			return rc;
	}
	return WIN_OK;
}

static int shm_vector(struct shm_win *sw, int rank, const struct iovec *iov,
		      int iovcnt, const struct win_span *spans, int nspans,
		      bool put)
{
	char *base = NULL;
	int rc;

	if (nspans > 0) {
		size_t lo = spans[0].off, hi = 0;

		for (int s = 0; s < nspans; s++) {
			if (spans[s].off < lo)
				lo = spans[s].off;
			if (spans[s].off + spans[s].len > hi)
				hi = spans[s].off + spans[s].len;
		}
		base = mapped(sw, rank, lo, hi - lo);
	}
	if (base) {
		copy_vector(base, iov, iovcnt, spans, nspans, put);
		return WIN_OK;
	}
	rc = vm_vector(&sw->p[rank], iov, iovcnt, spans, nspans, put);
	if (rc != WIN_ERR_UNSUPPORTED)
		return rc;
	/* Very fragmented origin: one target span per call. */
	{
		size_t io = 0;
		int i = 0;

		for (int s = 0; s < nspans; s++) {
			size_t left = spans[s].len, so = 0;

			while (left) {
				size_t n = iov[i].iov_len - io;

				if (n > left)
					n = left;
				rc = vm_one(&sw->p[rank],
					    (char *)iov[i].iov_base + io, n,
					    spans[s].off + so, put);
				if (rc)
					return rc;
				left -= n;
				so += n;
				io += n;
				if (io == iov[i].iov_len) {
					i++;
					io = 0;
				}
			}
		}
	}
	return WIN_OK;
}

static int shm_putv(void *tw, int rank, const struct iovec *iov, int iovcnt,
		    const struct win_span *spans, int nspans)
{
	return shm_vector(tw, rank, iov, iovcnt, spans, nspans, true);
}

static int shm_getv(void *tw, int rank, const struct iovec *iov, int iovcnt,
		    const struct win_span *spans, int nspans)
{
	return shm_vector(tw, rank, iov, iovcnt, spans, nspans, false);
}

/* ---- atomics ---- */

/* The member's emulated-atomics lock holds the holder's pid. */
static int amo_lock(struct shm_win *sw, int rank)
{
	uint64_t *lock = &sw->cs.ctrl[rank][WIN_CTRL_AMO_LOCK];
	uint64_t me = (uint64_t)getpid();
	uint64_t deadline = 0;

	for (unsigned spins = 0;; spins++) {
		uint64_t zero = 0;

		if (__atomic_compare_exchange_n(lock, &zero, me, false,
						__ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return WIN_OK;
		if (spins < WIN_WAIT_SPINS) {
			win_cpu_relax();
			continue;
		}
		sched_yield();
		if (spins % 1024)
			continue;
		if (!deadline)
			deadline = win_now_ms() +
				   (uint64_t)sw->w->ctx->timeout_ms;
		if (win_group_check_peers(sw->w->group))
			return win_seterr(WIN_ERR_PEER, "atomics on rank %d: %s",
					  rank, win_last_error());
		if (win_now_ms() > deadline)
			return win_seterr(WIN_ERR_TIMEOUT, "atomics on rank %d: "
					  "lock held by pid %llu", rank,
					  (unsigned long long)zero);
	}
}

static void amo_unlock(struct shm_win *sw, int rank)
{
	__atomic_store_n(&sw->cs.ctrl[rank][WIN_CTRL_AMO_LOCK], 0,
			 __ATOMIC_RELEASE);
}

/* Created windows: read, compute, write back, under the member's lock. */
static int amo_emulated(struct shm_win *sw, int rank, const struct win_amo *a)
{
	size_t tsize = win_type_bytes(a->type);
	char *local = mapped(sw, rank, a->off, a->count * tsize);
	uint64_t buf[64];
	int rc;

	if ((rc = amo_lock(sw, rank)))
		return rc;
	for (size_t done = 0; done < a->count && rc == WIN_OK;) {
		size_t n = a->count - done;
		size_t off = a->off + done * tsize;
		bool dirty = false;

		if (n * tsize > sizeof(buf))
			n = sizeof(buf) / tsize;
		if (local)
			memcpy(buf, local + off, n * tsize);
		else if ((rc = vm_one(&sw->p[rank], buf, n * tsize, off,
				      false)))
			break;
		for (size_t i = 0; i < n; i++) {
			char *elem = (char *)buf + i * tsize;

			if (a->result)
				memcpy((char *)a->result + (done + i) * tsize,
				       elem, tsize);
			dirty |= win_amo_compute(a, done + i, elem, elem);
		}
		if (dirty) {
			if (local)
				memcpy(local + off, buf, n * tsize);
			else
				rc = vm_one(&sw->p[rank], buf, n * tsize, off,
					    true);
		}
		done += n;
	}
	amo_unlock(sw, rank);
	return rc;
}

/* Elements [i, i + n) of `a`. */
static struct win_amo amo_part(const struct win_amo *a, size_t i, size_t n,
			       size_t ts)
{
	struct win_amo b = *a;

	b.off = a->off + i * ts;
	b.count = n;
	if (a->operand)
		b.operand = (const char *)a->operand + i * ts;
	if (a->result)
		b.result = (char *)a->result + i * ts;
	return b;
}

/*
 * Each element takes CPU atomics where every member maps it and it is
 * naturally aligned at the owner's address, the lock path elsewhere: the
 * same choice for a given address whichever member, and whichever call,
 * touches it.
 */
static int shm_amo(void *tw, int rank, const struct win_amo *a)
{
	struct shm_win *sw = tw;
	struct shm_peer *p = &sw->p[rank];
	size_t ts = win_type_bytes(a->type);
	size_t lo = a->off, hi = a->off + a->count * ts, i0, i1;
	struct win_amo part;
	int rc = WIN_OK;

	if (unlikely((p->raddr + lo) % ts != 0) || hi <= p->alo ||
	    lo >= p->ahi)
		return amo_emulated(sw, rank, a);
	if (likely(lo >= p->alo && hi <= p->ahi)) {
		win_amo_cpu((char *)p->data + lo, a);
		return WIN_OK;
	}
	/* Across an edge of the mapped bytes: split by element. */
	i0 = lo >= p->alo ? 0 : (p->alo - lo + ts - 1) / ts;
	i1 = hi <= p->ahi ? a->count : (p->ahi - lo) / ts;
	if (i1 < i0)
		i1 = i0; /* no whole element inside */
	if (i0 > 0) {
		part = amo_part(a, 0, i0, ts);
		rc = amo_emulated(sw, rank, &part);
	}
	if (rc == WIN_OK && i1 > i0) {
		part = amo_part(a, i0, i1 - i0, ts);
		win_amo_cpu((char *)p->data + part.off, &part);
	}
	if (rc == WIN_OK && i1 < a->count) {
		part = amo_part(a, i1, a->count - i1, ts);
		rc = amo_emulated(sw, rank, &part);
	}
	return rc;
}

static int shm_flush(void *tw, int rank)
{
	/* Every transfer is complete when its call returns. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return WIN_OK;
}

static int shm_req_progress(void *tw, struct win_req *req, int *done)
{
	*done = 1;
	return WIN_OK;
}

const struct win_transport win_shm_transport = {
	.name = "shm",
	.cpu_atomics = true,
	.maps_segments = true,
	.open = shm_open_ctx,
	.close = shm_close_ctx,
	.reaches = shm_reaches,
	.win_open = shm_win_open,
	.win_close = shm_win_close,
	.direct = shm_direct,
	.put = shm_put,
	.get = shm_get,
	.putv = shm_putv,
	.getv = shm_getv,
	.amo = shm_amo,
	.flush = shm_flush,
	.req_progress = shm_req_progress,
	.ctrl_fadd = win_ctrlset_fadd,
	.ctrl_cas = win_ctrlset_cas,
	.ctrl_read = win_ctrlset_read,
	.ctrl_wait = win_ctrlset_wait,
	.ctrl_wake = win_ctrlset_wake,
};
