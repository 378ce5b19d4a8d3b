/*
 * The kshim transport: peers on the same host through the kshim kernel
 * module (/dev/kshim, ABI in include/uapi/kshim.h).
 *
 * Each context opens one port (pool, completion ring, staging area).
 *
 * Allocated windows are kernel-owned (WIN_ALLOC from the owner's pool). The
 * owner maps its window file; each peer receives the file over a UNIX
 * socket (SCM_RIGHTS, the sender's pid checked with SO_PEERCRED against
 * the group) and maps it too, so put/get are plain copies and atomics CPU
 * atomics on the very pages the module's atomics use. With
 * WIN_OPT_ENFORCE_DONT_TOUCH, exposure epochs revoke every mapping the
 * owner has (WIN_EXPOSE; the owner's view is mprotected too, so a stray
 * access raises SIGSEGV, SEGV_ACCERR, as on shm, and any other view of
 * the window SIGBUS), and the library reaches its own part through its
 * handle meanwhile.
 *
 * Created windows are registered (WIN_REGISTER pins the owner's pages); the
 * file goes to the peers, which import it. When the window covers whole
 * pages (address and length page-aligned, as with posix_memalign or mmap)
 * each peer maps the file as well: the mapping shows exactly the window's
 * pinned pages, so put/get are plain copies and atomics CPU atomics on the
 * same pages the module's atomics and the owner's own accesses use. The
 * pages stay pinned (referenced by the window) until it is freed, so an
 * owner that munmaps the range after registering cannot make peers write
 * into memory reused for something else; freeing or revoking the window
 * zaps every peer's mapping (later accesses fault with SIGBUS, and the
 * library never touches a freed window). A window that is not page-aligned
 * cannot be mapped (its first and last pages would show the owner's
 * neighbouring bytes): peers move data with SUBMIT (single copy, iovec
 * batches) and update it with the module's 4/8-byte atomics; the other
 * ops are compare-and-swap loops on those.
 *
 * Control words (locks, post/complete, doorbells) are the core's control
 * blocks, shared with the shm transport (transport/shm/ctrlblock.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "uapi/kshim.h"

#include "core/amo.h"
#include "core/futex.h"
#include "core/internal.h"
#include "transport/shm/ctrlblock.h"

#define KS_BATCH 64           /* ops per SUBMIT */
#define KS_TAG_STAGED 1ull    /* ring tag of staged puts (no waiter) */
#define KS_MSG_MAGIC 0x4b53464du /* "KSFM": a window file message */
#define KS_DEFAULT_POOL_MB 16

/* Completion of one operation that somebody waits for. */
struct ks_cpl {
	int32_t status;
	int32_t done;
	uint64_t result;
};

/* A window file received before the window it belongs to was set up. */
struct ks_stash {
	struct ks_stash *next;
	pid_t pid;
	uint64_t xseq;
	int fd;
};

struct ks_port {
	struct win_ctx *ctx;
	int fd;
	size_t page;
	struct kshim_version ver;
	struct kshim_attach att;
	void *ring_map;
	struct kshim_ring_hdr *ring;
	struct kshim_cqe *cqe;
	char *stage;            /* staging area */
	size_t stage_pages;
	uint8_t *stage_used;    /* per page: 1 when handed out */
	int sock;               /* listening socket for window files */
	uint32_t nonce;         /* its abstract name: pid and nonce */
	uint64_t xseq;          /* windows set up so far */
	struct ks_stash *stash;
	uint64_t inflight;      /* ops queued in the kernel */
	int async_err;          /* first failure of an unwaited op */
};

struct ks_peer {
	bool has_handle;
	uint32_t handle;
	char *map;              /* our mapping of a kernel-owned part */
	size_t map_len;
};

struct ks_win {
	struct win_ctrlset cs;  /* first: the ctrl_* ops use it */
	struct win *w;
	struct ks_port *pt;
	struct ks_peer *p;
	int own_fd;             /* file of a created window we registered */
	bool exposed;           /* our own mappings are revoked */
};

struct ks_exchange {
	struct win_ctrl_addr ctrl;
	uint32_t nonce;
	uint32_t has_file;
	uint64_t xseq;
};

struct ks_msg {
	uint32_t magic;
	int32_t from;
	uint64_t xseq;
};

/* ---- errors ---- */

static int ks_status(int e, const char *what, int rank)
{
	switch (e) {
	case ENXIO:
		return win_seterr(WIN_ERR_PEER, "%s: rank %d's window is gone",
				  what, rank);
	case EACCES:
	case EPERM:
		return win_seterr_sys(WIN_ERR_PERM, e, "%s (rank %d)", what,
				      rank);
	case ENOMEM:
		return win_seterr_sys(WIN_ERR_NOMEM, e, "%s: the port's pool "
				      "is exhausted", what);
	case EFAULT:
		return win_seterr_sys(WIN_ERR_ARG, e, "%s: bad local memory",
				      what);
	}
	return win_seterr_sys(WIN_ERR_TRANSPORT, e, "kshim %s (rank %d)", what,
			      rank);
}

/* ---- the port: open, ring ---- */

static size_t pool_pages_wanted(struct ks_port *pt)
{
	const char *env = getenv("WIN_KSHIM_POOL_MB");
	size_t mb = KS_DEFAULT_POOL_MB, pages;
	struct rlimit rl;

	if (env && *env)
		mb = strtoull(env, NULL, 10);
	pages = mb * (1024 * 1024 / pt->page);
	if (pt->ver.max_pool_pages && pages > pt->ver.max_pool_pages)
		pages = pt->ver.max_pool_pages;
	/* The pool is charged to RLIMIT_MEMLOCK, and so are registrations:
	 * leave half of a finite limit to those. */
	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
	    && pages > rl.rlim_cur / 2 / pt->page)
		pages = rl.rlim_cur / 2 / pt->page;
	return pages ? pages : 1;
}

static int port_attach(struct ks_port *pt)
{
	size_t want = pool_pages_wanted(pt);
	void *m;

	for (;;) {
		pt->att = (struct kshim_attach){ .pool_pages = want };
		if (ioctl(pt->fd, KSHIM_IOC_ATTACH, &pt->att) == 0)
			break;
		if (errno != ENOMEM || want <= 16)
			return win_seterr_sys(errno == ENOMEM ? WIN_ERR_NOMEM :
					      WIN_ERR_SYS, errno, "kshim: "
					      "attach with %zu pool pages", want);
		want /= 2;
	}
	m = mmap(NULL, pt->att.ring_mmap_len, PROT_READ | PROT_WRITE,
		 MAP_SHARED, pt->fd, (off_t)pt->att.ring_mmap_off);
	if (m == MAP_FAILED)
		return win_seterr_sys(WIN_ERR_SYS, errno, "kshim: mmap of the "
				      "completion ring");
	pt->ring_map = m;
	pt->ring = m;
	pt->cqe = (struct kshim_cqe *)((char *)m + sizeof(*pt->ring));
	if (pt->att.stage_mmap_len) {
		m = mmap(NULL, pt->att.stage_mmap_len, PROT_READ | PROT_WRITE,
			 MAP_SHARED, pt->fd, (off_t)pt->att.stage_mmap_off);
		if (m == MAP_FAILED)
			return win_seterr_sys(WIN_ERR_SYS, errno, "kshim: mmap "
					      "of the staging area");
		pt->stage = m;
		pt->stage_pages = pt->att.stage_mmap_len / pt->page;
		pt->stage_used = calloc(pt->stage_pages, 1);
		if (!pt->stage_used)
			return win_seterr(WIN_ERR_NOMEM, "staging map");
	}
	return WIN_OK;
}

/* The abstract socket name of the port of process `pid`. */
static socklen_t ks_sockaddr(struct sockaddr_un *sa, pid_t pid,
			     uint32_t nonce)
{
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1,
		     "libwin-kshim.%d.%u", (int)pid, nonce);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
			   (size_t)n);
}

static int port_socket(struct ks_port *pt)
{
	struct sockaddr_un sa;
	struct timespec ts;
	socklen_t sl;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	pt->nonce = (uint32_t)(ts.tv_nsec ^ (ts.tv_sec << 20) ^
			       ((uintptr_t)pt >> 4));
	pt->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
			  0);
	if (pt->sock < 0)
		return win_seterr_sys(WIN_ERR_SYS, errno, "kshim: socket");
	/* Abstract name: nothing in the file system to clean up. */
	sl = ks_sockaddr(&sa, getpid(), pt->nonce);
	if (bind(pt->sock, (struct sockaddr *)&sa, sl) < 0 ||
	    listen(pt->sock, 4096) < 0)
		return win_seterr_sys(WIN_ERR_SYS, errno, "kshim: listening "
				      "socket for window files");
	return WIN_OK;
}

static void ks_close(void *state)
{
	struct ks_port *pt = state;

	if (!pt)
		return;
	while (pt->stash) {
		struct ks_stash *s = pt->stash;

		pt->stash = s->next;
		close(s->fd);
		free(s);
	}
	if (pt->stage)
		munmap(pt->stage, pt->att.stage_mmap_len);
	if (pt->ring_map)
		munmap(pt->ring_map, pt->att.ring_mmap_len);
	free(pt->stage_used);
	if (pt->sock >= 0)
		close(pt->sock);
	if (pt->fd >= 0)
		close(pt->fd);
	free(pt);
}

static int ks_open(struct win_ctx *ctx, void **state)
{
	struct ks_port *pt;
	int rc;

	*state = NULL;
	pt = calloc(1, sizeof(*pt));
	if (!pt)
		return win_seterr(WIN_ERR_NOMEM, "kshim port");
	pt->ctx = ctx;
	pt->sock = -1;
	pt->page = win_page_size();
	pt->fd = open(KSHIM_DEVICE, O_RDWR | O_CLOEXEC);
	if (pt->fd < 0) {
		int e = errno;

		ks_close(pt);
		if (e == ENOENT || e == ENXIO || e == ENODEV)
			return win_seterr(WIN_ERR_UNSUPPORTED, "no %s (module "
					  "not loaded)", KSHIM_DEVICE);
		return win_seterr_sys(WIN_ERR_UNSUPPORTED, e, "cannot open %s",
				      KSHIM_DEVICE);
	}
	if (ioctl(pt->fd, KSHIM_IOC_VERSION, &pt->ver) < 0) {
		rc = win_seterr_sys(WIN_ERR_UNSUPPORTED, errno, "%s does not "
				    "answer KSHIM_IOC_VERSION", KSHIM_DEVICE);
		ks_close(pt);
		return rc;
	}
	if (pt->ver.major != KSHIM_ABI_MAJOR) {
		rc = win_seterr(WIN_ERR_UNSUPPORTED, "kshim ABI %u.x, libwin "
				"speaks %u.x", pt->ver.major, KSHIM_ABI_MAJOR);
		ks_close(pt);
		return rc;
	}
	if (pt->ver.page_size != pt->page) {
		rc = win_seterr(WIN_ERR_UNSUPPORTED, "kshim page size %llu, "
				"ours %zu",
				(unsigned long long)pt->ver.page_size,
				pt->page);
		ks_close(pt);
		return rc;
	}
	if ((rc = port_attach(pt)) || (rc = port_socket(pt))) {
		ks_close(pt);
		return rc;
	}
	*state = pt;
	return WIN_OK;
}

static bool ks_reaches(void *state, struct win_group *g, int rank)
{
	(void)state;
	return win_group_same_host(g, rank);
}

/* Consume the completion ring. */
static void port_drain(struct ks_port *pt)
{
	uint32_t head = pt->ring->head;
	uint32_t tail = __atomic_load_n(&pt->ring->tail, __ATOMIC_ACQUIRE);

	while (head != tail) {
		struct kshim_cqe *c = &pt->cqe[head & pt->ring->mask];

		if (pt->inflight)
			pt->inflight--;
		if (c->tag == KS_TAG_STAGED) {
			if (c->status && !pt->async_err)
				pt->async_err = c->status;
		} else if (c->tag) {
			struct ks_cpl *cpl = (struct ks_cpl *)(uintptr_t)c->tag;

			cpl->status = c->status;
			cpl->result = c->result;
			cpl->done = 1;
		}
		head++;
		if (head == tail)
			tail = __atomic_load_n(&pt->ring->tail,
					       __ATOMIC_ACQUIRE);
	}
	__atomic_store_n(&pt->ring->head, head, __ATOMIC_RELEASE);
}

/* Wait until *flag is set (flag NULL: until nothing is in flight). */
static int port_wait(struct ks_port *pt, const int32_t *flag,
		     struct win_group *g)
{
	uint64_t deadline = 0;

	for (;;) {
		struct pollfd pfd = { .fd = pt->fd, .events = POLLIN };

		port_drain(pt);
		if (flag ? *flag != 0 : pt->inflight == 0)
			return WIN_OK;
		if (poll(&pfd, 1, WIN_WAIT_SLICE_MS) > 0)
			continue;
		if (!deadline)
			deadline = win_now_ms() + (uint64_t)pt->ctx->timeout_ms;
		else if (win_now_ms() > deadline)
			return win_seterr(WIN_ERR_TIMEOUT, "kshim: an operation "
					  "did not complete within %d ms",
					  pt->ctx->timeout_ms);
		if (g && win_group_check_peers(g))
			return WIN_ERR_PEER;
	}
}

static int async_error(struct ks_port *pt)
{
	int e = -pt->async_err;

	pt->async_err = 0;
	return e ? ks_status(e, "staged put", -1) : WIN_OK;
}

/*
 * Submit `n` ops and wait for all of them; their results are left in the
 * ops (status 0 or -errno, result).
 */
static int submit_wait(struct ks_win *kw, struct kshim_op *ops, unsigned n)
{
	struct ks_port *pt = kw->pt;
	struct ks_cpl cpl[KS_BATCH];

	for (unsigned done = 0; done < n;) {
		unsigned k = n - done < KS_BATCH ? n - done : KS_BATCH;
		struct kshim_submit s = { .ops = (uintptr_t)(ops + done),
					  .count = k };

		for (unsigned i = 0; i < k; i++) {
			cpl[i].done = 0;
			ops[done + i].tag = (uintptr_t)&cpl[i];
		}
		if (ioctl(pt->fd, KSHIM_IOC_SUBMIT, &s) < 0)
			return ks_status(errno, "submit", -1);
		for (unsigned i = 0; i < k; i++)
			if (ops[done + i].status == -EINPROGRESS)
				pt->inflight++;
		for (unsigned i = 0; i < k; i++) {
			struct kshim_op *op = &ops[done + i];
			int rc;

			if (op->status != -EINPROGRESS)
				continue;
			if ((rc = port_wait(pt, &cpl[i].done, kw->w->group)))
				return rc;
			op->status = cpl[i].status;
			op->result = cpl[i].result;
		}
		if (s.done != k)
			return win_seterr(WIN_ERR_TRANSPORT, "kshim: submit "
					  "processed %u of %u ops", s.done, k);
		done += k;
	}
	return WIN_OK;
}

/* ---- window setup ---- */

static int ks_mem_alloc(void *state, struct win *w, size_t len,
			struct win_segment *seg)
{
	struct ks_port *pt = state;
	struct kshim_win_alloc a;
	size_t pg = pt->page;

	(void)w;
	seg->fd = -1;
	seg->addr = NULL;
	seg->len = len ? (len + pg - 1) / pg * pg : pg;
	if (seg->len < len)
		return win_seterr(WIN_ERR_NOMEM, "window of %zu bytes", len);
	a = (struct kshim_win_alloc){ .len = seg->len };
	if (ioctl(pt->fd, KSHIM_IOC_WIN_ALLOC, &a) < 0)
		return ks_status(errno, "allocating a kernel-owned window",
				 w->rank);
	seg->addr = mmap(NULL, seg->len, PROT_READ | PROT_WRITE, MAP_SHARED,
			 a.fd, 0);
	if (seg->addr == MAP_FAILED) {
		int e = errno;

		seg->addr = NULL;
		close(a.fd);
		return win_seterr_sys(WIN_ERR_NOMEM, e, "mmap of a kernel-owned "
				      "window of %zu bytes", seg->len);
	}
	seg->fd = a.fd;
	return WIN_OK;
}

static int import_file(struct ks_win *kw, int rank, int fd)
{
	struct kshim_win_import im = { .fd = fd };
	struct ks_peer *p = &kw->p[rank];

	if (ioctl(kw->pt->fd, KSHIM_IOC_WIN_IMPORT, &im) < 0)
		return ks_status(errno, "importing a window file", rank);
	p->handle = im.handle;
	p->has_handle = true;
	if (rank == kw->w->rank)
		return WIN_OK;
	p->map_len = (size_t)im.len;
	p->map = mmap(NULL, p->map_len, PROT_READ | PROT_WRITE, MAP_SHARED,
		      fd, 0);
	if (p->map != MAP_FAILED)
		return WIN_OK;
	p->map = NULL;
	/*
	 * A registered window maps only when it covers whole pages (EINVAL
	 * otherwise, so that no neighbouring bytes of the owner show): such
	 * a window is reached through SUBMIT instead.
	 */
	if (!(im.flags & KSHIM_WIN_KERNEL_OWNED) && errno == EINVAL)
		return WIN_OK;
	return win_seterr_sys(WIN_ERR_SYS, errno, "mmap of rank %d's %s "
			      "window", rank, im.flags & KSHIM_WIN_KERNEL_OWNED ?
			      "kernel-owned" : "registered");
}

/* One message of the window-file protocol: a ks_msg and one descriptor. */
struct ks_wire {
	struct ks_msg m;
	struct iovec iov;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct msghdr mh;
};

static void wire_init(struct ks_wire *x)
{
	memset(x, 0, sizeof(*x));
	x->iov = (struct iovec){ &x->m, sizeof(x->m) };
	x->mh.msg_iov = &x->iov;
	x->mh.msg_iovlen = 1;
	x->mh.msg_control = x->cm.buf;
	x->mh.msg_controllen = sizeof(x->cm.buf);
}

static int send_file(struct ks_win *kw, const struct ks_exchange *to,
		     int fd)
{
	struct sockaddr_un sa;
	struct ks_wire x;
	struct cmsghdr *c;
	int s, rc = WIN_OK;
	socklen_t sl = ks_sockaddr(&sa, to->ctrl.pid, to->nonce);

	wire_init(&x);
	x.m = (struct ks_msg){ .magic = KS_MSG_MAGIC, .from = kw->w->rank,
			       .xseq = kw->pt->xseq };
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return win_seterr_sys(WIN_ERR_SYS, errno, "kshim: socket");
	if (connect(s, (struct sockaddr *)&sa, sl) < 0) {
		rc = win_seterr_sys(WIN_ERR_PEER, errno, "kshim: cannot reach "
				    "process %d to hand over a window file",
				    (int)to->ctrl.pid);
		goto out;
	}
	c = CMSG_FIRSTHDR(&x.mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	if (sendmsg(s, &x.mh, MSG_NOSIGNAL) != (ssize_t)sizeof(x.m))
		rc = win_seterr_sys(WIN_ERR_PEER, errno, "kshim: sending a "
				    "window file to process %d",
				    (int)to->ctrl.pid);
out:
	close(s);
	return rc;
}

/* Accept one connection; stash the file it carries (if it is valid). */
static void accept_one(struct ks_port *pt)
{
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	struct ks_wire x;
	struct cmsghdr *c;
	struct ks_stash *st;
	int s, fd = -1;
	ssize_t n;

	s = accept4(pt->sock, NULL, NULL, SOCK_CLOEXEC);
	if (s < 0)
		return;
	/* The sender is whoever connected, as the kernel saw it. */
	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0)
		goto out;
	{
		struct pollfd pfd = { .fd = s, .events = POLLIN };

		if (poll(&pfd, 1, 1000) <= 0)
			goto out;
	}
	wire_init(&x);
	n = recvmsg(s, &x.mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	for (c = CMSG_FIRSTHDR(&x.mh); c; c = CMSG_NXTHDR(&x.mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&fd, CMSG_DATA(c), sizeof(int));
	if (n != (ssize_t)sizeof(x.m) || x.m.magic != KS_MSG_MAGIC || fd < 0 ||
	    !(st = malloc(sizeof(*st))))
		goto out;
	st->pid = cred.pid;
	st->xseq = x.m.xseq;
	st->fd = fd;
	st->next = pt->stash;
	pt->stash = st;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	close(s);
}

/* The window file `pid` sent for its window number `xseq`. */
static int recv_file(struct ks_win *kw, pid_t pid, uint64_t xseq, int *fd)
{
	struct ks_port *pt = kw->pt;
	uint64_t deadline = win_now_ms() + (uint64_t)pt->ctx->timeout_ms;

	for (;;) {
		struct pollfd pfd = { .fd = pt->sock, .events = POLLIN };

		for (struct ks_stash **pp = &pt->stash; *pp;
		     pp = &(*pp)->next) {
			struct ks_stash *s = *pp;

			if (s->pid == pid && s->xseq == xseq) {
				*pp = s->next;
				*fd = s->fd;
				free(s);
				return WIN_OK;
			}
		}
		if (poll(&pfd, 1, WIN_WAIT_SLICE_MS) > 0) {
			accept_one(pt);
			continue;
		}
		if (win_group_check_peers(kw->w->group))
			return WIN_ERR_PEER;
		if (win_now_ms() > deadline)
			return win_seterr(WIN_ERR_TIMEOUT, "kshim: no window "
					  "file from process %d", (int)pid);
	}
}

static int ks_win_close(struct win *w, void *tw);

static int ks_win_open(struct win *w, void *state, const bool *serves,
		       void **twp)
{
	struct ks_port *pt = state;
	struct ks_exchange me = { 0 }, *all;
	struct ks_win *kw;
	int file = -1, rc = WIN_OK;
	bool any = false;

	for (int r = 0; r < w->size; r++)
		any |= serves[r];
	kw = calloc(1, sizeof(*kw));
	all = calloc((size_t)w->size, sizeof(*all));
	if (kw)
		kw->p = calloc((size_t)w->size, sizeof(*kw->p));
	if (!kw || !all || !kw->p || win_ctrlset_init(&kw->cs, w)) {
		if (kw)
			free(kw->p);
		free(kw);
		free(all);
		return win_seterr(WIN_ERR_NOMEM, "kshim window");
	}
	kw->w = w;
	kw->pt = pt;
	kw->own_fd = -1;
	pt->xseq++;

	/* This member's window file. */
	if (any && w->flavor == WIN_FLAVOR_ALLOCATE) {
		file = w->data.fd;
	} else if (any && w->len) {
		struct kshim_win_register reg = { .addr = (uintptr_t)w->base,
						  .len = w->len };

		if (ioctl(pt->fd, KSHIM_IOC_WIN_REGISTER, &reg) < 0)
			rc = ks_status(errno, "registering the window's "
				       "memory", w->rank);
		else
			file = kw->own_fd = reg.fd;
	}
	if (rc == WIN_OK && file >= 0)
		rc = import_file(kw, w->rank, file);
	win_ctrlset_addr(w, &me.ctrl);
	me.nonce = pt->nonce;
	me.has_file = file >= 0;
	me.xseq = pt->xseq;
	rc = win_agree(w->group, rc);
	if (rc == WIN_OK)
		rc = win_group_allgather(w->group, &me, all, sizeof(me));
	/* Hand our file to every peer we serve, then take theirs. */
	for (int r = 0; r < w->size && rc == WIN_OK && file >= 0; r++)
		if (serves[r] && r != w->rank)
			rc = send_file(kw, &all[r], file);
	for (int r = 0; r < w->size && rc == WIN_OK; r++) {
		int fd = -1;

		if (!serves[r])
			continue;
		rc = win_ctrlset_attach(&kw->cs, r, &all[r].ctrl);
		if (rc || r == w->rank || !all[r].has_file)
			continue;
		if (all[r].ctrl.pid != (int32_t)w->group->pids[r])
			rc = win_seterr(WIN_ERR_MISMATCH, "kshim: rank %d "
					"claims pid %d, the group says %d", r,
					(int)all[r].ctrl.pid,
					(int)w->group->pids[r]);
		else
			rc = recv_file(kw, w->group->pids[r], all[r].xseq,
				       &fd);
		if (rc == WIN_OK)
			rc = import_file(kw, r, fd);
		if (fd >= 0)
			close(fd);
	}
	free(all);
	if (rc) {
		ks_win_close(w, kw);
		return rc;
	}
	*twp = kw;
	return WIN_OK;
}

static int ks_win_close(struct win *w, void *tw)
{
	struct ks_win *kw = tw;

	for (int r = 0; r < w->size; r++) {
		struct ks_peer *p = &kw->p[r];

		if (p->map)
			munmap(p->map, p->map_len);
		if (p->has_handle) {
			struct kshim_win_release rel = { .handle = p->handle };

			ioctl(kw->pt->fd, KSHIM_IOC_WIN_RELEASE, &rel);
		}
	}
	if (kw->own_fd >= 0)
		close(kw->own_fd);
	win_ctrlset_fini(&kw->cs);
	free(kw->p);
	free(kw);
	return WIN_OK;
}

/* Where `rank`'s part is reachable with loads and stores, or NULL. */
static inline char *mapped(struct ks_win *kw, int rank)
{
	if (rank == kw->w->rank)
		return kw->exposed ? NULL : kw->w->base;
	return kw->p[rank].map;
}

static void *ks_direct(void *tw, int rank)
{
	return mapped(tw, rank);
}

static int ks_expose(void *tw, bool exposed)
{
	struct ks_win *kw = tw;
	struct win *w = kw->w;
	struct ks_peer *me = &kw->p[w->rank];
	struct kshim_win_expose ex = { .handle = me->handle,
				       .exposed = exposed };

	if (!me->has_handle)
		return win_seterr(WIN_ERR_TRANSPORT, "kshim: no handle on the "
				  "own window");
	/*
	 * The module revokes every mapping this process has of the window
	 * (any other view faults with SIGBUS); the owner's own view is also
	 * mprotected, so a stray access there raises SIGSEGV (SEGV_ACCERR)
	 * as on every transport.
	 */
	if (!exposed && mprotect(w->base, w->data.len,
				 PROT_READ | PROT_WRITE) < 0)
		return win_seterr_sys(WIN_ERR_SYS, errno, "mprotect of the "
				      "owner's window mapping");
	if (ioctl(kw->pt->fd, KSHIM_IOC_WIN_EXPOSE, &ex) < 0)
		return ks_status(errno, exposed ? "revoking the owner's access"
				 : "restoring the owner's access", w->rank);
	if (exposed && mprotect(w->base, w->data.len, PROT_NONE) < 0)
		return win_seterr_sys(WIN_ERR_SYS, errno, "mprotect of the "
				      "owner's window mapping");
	kw->exposed = exposed;
	return WIN_OK;
}

/* ---- data movement ---- */

static int need_handle(struct ks_win *kw, int rank)
{
	if (likely(kw->p[rank].has_handle))
		return WIN_OK;
	return win_seterr(WIN_ERR_TRANSPORT, "kshim: no handle on rank %d's "
			  "window", rank);
}

static int op_result(const struct kshim_op *op, int rank, const char *what)
{
	return op->status ? ks_status(-op->status, what, rank) : WIN_OK;
}

static int ks_rw(struct ks_win *kw, int rank, void *buf, size_t len,
		 size_t off, struct win_req *req, bool put)
{
	struct iovec iov = { buf, len };
	struct kshim_op op = {
		.opcode = put ? KSHIM_OP_PUT : KSHIM_OP_GET,
		.handle = kw->p[rank].handle, .iovcnt = 1, .off = off,
		.addr = (uintptr_t)&iov, .len = len,
	};
	struct kshim_submit s = { .ops = (uintptr_t)&op, .count = 1 };
	char *m = mapped(kw, rank);
	int rc;

	if (m) {
		if (put)
			memmove(m + off, buf, len);
		else
			memmove(buf, m + off, len);
		return WIN_OK;
	}
	if (!len)
		return WIN_OK;
	if ((rc = need_handle(kw, rank)))
		return rc;
	if (!req) {
		rc = submit_wait(kw, &op, 1);
		return rc ? rc : op_result(&op, rank, put ? "put" : "get");
	}
	/* A request: the op may finish later, through the ring. */
	{
		struct ks_cpl *cpl = (struct ks_cpl *)req->tp_data;

		cpl->done = 0;
		op.tag = (uintptr_t)cpl;
		op.flags = KSHIM_OPF_ASYNC;
		if (ioctl(kw->pt->fd, KSHIM_IOC_SUBMIT, &s) < 0)
			return ks_status(errno, "submit", rank);
		if (op.status == -EINPROGRESS) {
			kw->pt->inflight++;
			req->done = 0;
			return WIN_OK;
		}
		return op_result(&op, rank, put ? "put" : "get");
	}
}

static int ks_put(void *tw, int rank, const void *src, size_t len,
		  size_t off, struct win_req *req)
{
	return ks_rw(tw, rank, (void *)src, len, off, req, true);
}

static int ks_get(void *tw, int rank, void *dst, size_t len, size_t off,
		  struct win_req *req)
{
	return ks_rw(tw, rank, dst, len, off, req, false);
}

static int ks_req_progress(void *tw, struct win_req *req, int *done)
{
	struct ks_win *kw = tw;
	struct ks_cpl *cpl = (struct ks_cpl *)req->tp_data;

	port_drain(kw->pt);
	*done = cpl->done;
	if (cpl->done && cpl->status)
		return ks_status(-cpl->status, "request", -1);
	return WIN_OK;
}

/* Vector transfers: one op per target span, its slice of the iovec list. */
static int ks_vector(void *tw, int rank, const struct iovec *iov, int iovcnt,
		     const struct win_span *spans, int nspans, bool put)
{
	struct ks_win *kw = tw;
	struct kshim_op *ops;
	struct iovec *pieces;
	size_t io = 0, npieces = (size_t)iovcnt + (size_t)nspans;
	int i = 0, rc, nops = 0;
	char *m = mapped(kw, rank);

	if (m) {
		/* Mapped: walk the spans and the iovec list together. */
		for (int s = 0; s < nspans; s++) {
			size_t left = spans[s].len, pos = spans[s].off;

			while (left) {
				size_t n = iov[i].iov_len - io;
				char *b = (char *)iov[i].iov_base + io;

				if (n > left)
					n = left;
				if (put)
					memmove(m + pos, b, n);
				else
					memmove(b, m + pos, n);
				left -= n;
				pos += n;
				io += n;
				if (io == iov[i].iov_len) {
					i++;
					io = 0;
				}
			}
		}
		return WIN_OK;
	}
	if ((rc = need_handle(kw, rank)))
		return nspans == 0 ? WIN_OK : rc;
	ops = calloc((size_t)nspans ? (size_t)nspans : 1, sizeof(*ops));
	pieces = calloc(npieces ? npieces : 1, sizeof(*pieces));
	if (!ops || !pieces) {
		free(ops);
		free(pieces);
		return win_seterr(WIN_ERR_NOMEM, "kshim vector transfer");
	}
	npieces = 0;
	for (int s = 0; s < nspans; s++) {
		size_t left = spans[s].len;
		struct kshim_op *op = &ops[nops];

		if (!left)
			continue;
		*op = (struct kshim_op){
			.opcode = put ? KSHIM_OP_PUT : KSHIM_OP_GET,
			.handle = kw->p[rank].handle, .off = spans[s].off,
			.addr = (uintptr_t)&pieces[npieces], .len = left,
		};
		while (left) {
			size_t n = iov[i].iov_len - io;

			if (n > left)
				n = left;
			if (n) {
				pieces[npieces].iov_base =
					(char *)iov[i].iov_base + io;
				pieces[npieces++].iov_len = n;
				op->iovcnt++;
			}
			left -= n;
			io += n;
			if (io == iov[i].iov_len) {
				i++;
				io = 0;
			}
		}
		nops++;
	}
	rc = submit_wait(kw, ops, (unsigned)nops);
	for (int k = 0; k < nops && rc == WIN_OK; k++)
		rc = op_result(&ops[k], rank, put ? "putv" : "getv");
	free(ops);
	free(pieces);
	return rc;
}

static int ks_putv(void *tw, int rank, const struct iovec *iov, int iovcnt,
		   const struct win_span *spans, int nspans)
{
	return ks_vector(tw, rank, iov, iovcnt, spans, nspans, true);
}

static int ks_getv(void *tw, int rank, const struct iovec *iov, int iovcnt,
		   const struct win_span *spans, int nspans)
{
	return ks_vector(tw, rank, iov, iovcnt, spans, nspans, false);
}

/* ---- atomics ---- */

/* The module's op for `op` on `type`, or 0 (then: a CAS loop). */
static unsigned native_aop(int type, int op)
{
	bool integer = type != WIN_FLOAT && type != WIN_DOUBLE;

	switch (op) {
	case WIN_AMO_CSWAP:
		return KSHIM_AOP_CSWAP;
	case WIN_OP_REPLACE:
		return KSHIM_AOP_SWAP;
	case WIN_OP_NO_OP:
		return KSHIM_AOP_READ;
	case WIN_OP_SUM:
		return integer ? KSHIM_AOP_FETCH_ADD : 0;
	case WIN_OP_BAND:
		return KSHIM_AOP_AND;
	case WIN_OP_BOR:
		return KSHIM_AOP_OR;
	case WIN_OP_BXOR:
		return KSHIM_AOP_XOR;
	}
	return 0;
}

static uint64_t elem_load(const void *base, size_t i, size_t size)
{
	uint64_t v = 0;

	if (base)
		memcpy(&v, (const char *)base + i * size, size);
	return v;
}

static int one_atomic(struct ks_win *kw, int rank, unsigned aop,
		      size_t width, size_t off, uint64_t operand,
		      uint64_t compare, uint64_t *old)
{
	struct kshim_op op = {
		.opcode = KSHIM_OP_ATOMIC, .aop = (uint16_t)aop,
		.width = (uint16_t)width, .handle = kw->p[rank].handle,
		.off = off, .operand = operand, .compare = compare,
	};
	int rc = submit_wait(kw, &op, 1);

	if (rc == WIN_OK)
		rc = op_result(&op, rank, "atomic");
	*old = width == 4 ? (uint32_t)op.result : op.result;
	return rc;
}

/* Element i by compare-and-swap: read, compute, swap until unchanged. */
static int cas_loop(struct ks_win *kw, int rank, const struct win_amo *a,
		    size_t i, size_t tsize)
{
	size_t off = a->off + i * tsize;
	uint64_t old, now, nv = 0;
	int rc = one_atomic(kw, rank, KSHIM_AOP_READ, tsize, off, 0, 0, &old);

	while (rc == WIN_OK) {
		if (!win_amo_compute(a, i, &old, &nv))
			break;
		rc = one_atomic(kw, rank, KSHIM_AOP_CSWAP, tsize, off, nv, old,
				&now);
		if (rc || now == old)
			break;
		old = now;
	}
	if (rc == WIN_OK && a->result)
		memcpy((char *)a->result + i * tsize, &old, tsize);
	return rc;
}

static int ks_amo(void *tw, int rank, const struct win_amo *a)
{
	struct ks_win *kw = tw;
	size_t tsize = win_type_bytes(a->type);
	unsigned aop = native_aop(a->type, a->op);
	struct kshim_op ops[KS_BATCH];
	char *m = mapped(kw, rank);
	int rc;

	if (m) {
		win_amo_cpu(m + a->off, a);
		return WIN_OK;
	}
	if ((rc = need_handle(kw, rank)))
		return rc;
	if (!aop) {
		for (size_t i = 0; i < a->count && rc == WIN_OK; i++)
			rc = cas_loop(kw, rank, a, i, tsize);
		return rc;
	}
	for (size_t done = 0; done < a->count;) {
		size_t n = a->count - done < KS_BATCH ? a->count - done :
							 KS_BATCH;

		for (size_t i = 0; i < n; i++)
			ops[i] = (struct kshim_op){
				.opcode = KSHIM_OP_ATOMIC, .aop = (uint16_t)aop,
				.width = (uint16_t)tsize,
				.handle = kw->p[rank].handle,
				.off = a->off + (done + i) * tsize,
				.operand = elem_load(a->operand, done + i,
						     tsize),
				.compare = elem_load(a->compare, done + i,
						     tsize),
			};
		if ((rc = submit_wait(kw, ops, (unsigned)n)))
			return rc;
		for (size_t i = 0; i < n; i++) {
			if ((rc = op_result(&ops[i], rank, "atomic")))
				return rc;
			if (a->result)
				memcpy((char *)a->result + (done + i) * tsize,
				       &ops[i].result, tsize);
		}
		done += n;
	}
	return WIN_OK;
}

static int ks_flush(void *tw, int rank)
{
	struct ks_win *kw = tw;
	struct ks_port *pt = kw->pt;
	int rc;

	(void)rank;
	/* Puts and atomics through a mapping or SUBMIT are complete when
	 * they return: a fence, as on shm, unless queued ops are pending. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (likely(!pt->inflight && !pt->async_err))
		return WIN_OK;
	if (pt->inflight && (rc = port_wait(pt, NULL, kw->w->group)))
		return rc;
	return async_error(pt);
}

/* ---- staging ---- */

static int ks_stage_alloc(void *tw, size_t len, void **buf)
{
	struct ks_port *pt = ((struct ks_win *)tw)->pt;
	size_t n = (len + pt->page - 1) / pt->page, run = 0;

	for (size_t i = 0; i < pt->stage_pages; i++) {
		run = pt->stage_used[i] ? 0 : run + 1;
		if (run == n) {
			memset(pt->stage_used + i + 1 - n, 1, n);
			*buf = pt->stage + (i + 1 - n) * pt->page;
			return WIN_OK;
		}
	}
	return win_seterr(WIN_ERR_NOMEM, "kshim: no %zu free pages in the "
			  "staging area", n);
}

static void ks_stage_free(void *tw, void *buf, size_t len)
{
	struct ks_port *pt = ((struct ks_win *)tw)->pt;
	size_t first = (size_t)((char *)buf - pt->stage) / pt->page;
	size_t n = (len + pt->page - 1) / pt->page;

	memset(pt->stage_used + first, 0, n);
}

static int ks_put_staged(void *tw, int rank, void *buf, size_t len,
			 size_t off)
{
	struct ks_win *kw = tw;
	struct kshim_op op = {
		.opcode = KSHIM_OP_PUT_STAGED, .flags = KSHIM_OPF_ASYNC,
		.handle = kw->p[rank].handle, .off = off,
		.addr = (uintptr_t)buf, .len = len, .tag = KS_TAG_STAGED,
	};
	struct kshim_submit s = { .ops = (uintptr_t)&op, .count = 1 };
	int rc;

	if ((rc = need_handle(kw, rank)))
		return rc;
	if (ioctl(kw->pt->fd, KSHIM_IOC_SUBMIT, &s) < 0)
		return ks_status(errno, "staged put", rank);
	if (op.status == -EINPROGRESS) {
		kw->pt->inflight++;
		return WIN_OK;
	}
	return op_result(&op, rank, "staged put");
}

/* ---- wininfo ---- */

static void ks_describe(void *state, FILE *out)
{
	struct ks_port *pt = state;
	struct kshim_stats st;

	fprintf(out, "  device: %s, ABI %u.%u (libwin speaks %u.%u)\n",
		KSHIM_DEVICE, pt->ver.major, pt->ver.minor, KSHIM_ABI_MAJOR,
		KSHIM_ABI_MINOR);
	fprintf(out, "  pool: %llu pages of %llu bytes (module cap %llu), "
		"staging %llu bytes, ring %u entries\n",
		(unsigned long long)pt->att.pool_pages,
		(unsigned long long)pt->ver.page_size,
		(unsigned long long)pt->ver.max_pool_pages,
		(unsigned long long)pt->att.stage_mmap_len,
		pt->att.ring_entries);
	if (ioctl(pt->fd, KSHIM_IOC_STATS, &st) == 0)
		fprintf(out, "  module: %llu ports, %llu windows, %llu pool "
			"pages, %llu pinned pages\n",
			(unsigned long long)st.ports,
			(unsigned long long)st.windows,
			(unsigned long long)st.pool_pages,
			(unsigned long long)st.pinned_pages);
	fprintf(out, "  allocated windows: kernel-owned, mapped by every "
		"member: put/get are CPU copies, atomics CPU atomics "
		"(native)\n");
	fprintf(out, "  created windows: page-aligned ones mapped by every "
		"member (pinned pages): CPU copies and atomics (native); "
		"others: put/get/putv/getv single-copy in the "
		"kernel (native); atomics 4/8-byte fetch-add, swap, cswap, "
		"and, or, xor, read in the kernel (native); prod, min, max "
		"and float sum as compare-and-swap loops (emulated)\n");
	fprintf(out, "  staged put: page moves into kernel-owned windows, "
		"copies otherwise (native)\n");
	fprintf(out, "  don't-touch: kernel revokes the owner's mappings "
		"(SIGSEGV on the window's view, SIGBUS on any other)\n");
	fprintf(out, "  locks, post/complete, signals' wake-ups: shared "
		"control blocks with futexes\n");
}

const struct win_transport win_kshim_transport = {
	.name = "kshim",
	.cpu_atomics = true,
	.open = ks_open,
	.close = ks_close,
	.reaches = ks_reaches,
	.win_open = ks_win_open,
	.win_close = ks_win_close,
	.direct = ks_direct,
	.put = ks_put,
	.get = ks_get,
	.putv = ks_putv,
	.getv = ks_getv,
	.amo = ks_amo,
	.flush = ks_flush,
	.req_progress = ks_req_progress,
	.ctrl_fadd = win_ctrlset_fadd,
	.ctrl_cas = win_ctrlset_cas,
	.ctrl_read = win_ctrlset_read,
	.ctrl_wait = win_ctrlset_wait,
	.ctrl_wake = win_ctrlset_wake,
	.mem_alloc = ks_mem_alloc,
	.expose = ks_expose,
	.stage_alloc = ks_stage_alloc,
	.stage_free = ks_stage_free,
	.put_staged = ks_put_staged,
	.describe = ks_describe,
};
