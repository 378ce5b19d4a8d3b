/*
 * kshimbench: the kshim transport against its same-host references, in one
 * run, two processes (fork()ed), rank 0 timing and rank 1 the target.
 *
 *   put/get latency and bandwidth, 8 B .. max, for
 *     kshim-alloc   kshim, allocated (kernel-owned, mapped) window
 *     kshim-create  kshim, created window over a page-aligned buffer
 *                   (posix_memalign): mapped by the peer, CPU copies
 *     kshim-crt-u   kshim, created window over a buffer 64 bytes past a
 *                   page boundary: not mappable, one SUBMIT per call
 *     shm-alloc     shm, allocated window (memfd mapping)
 *     shm-create    shm, created window (its pages moved into a memfd the
 *                   peer maps, core/adopt.c; process_vm_*v where not)
 *     pvm           one raw process_vm_writev/readv call to the other process
 *     memcpy        local memcpy of the same size
 *   staged put against copy put (win_put into the mapping) into the
 *   kernel-owned window, page-aligned sizes: staged (whole pages, moved),
 *   staged-u (64 bytes off a page boundary: copied by the kernel), and
 *   both again with the source refilled before every put (one byte per
 *   page, as a producer writing new data would: the staged buffer's fresh
 *   pages fault in), with the crossover.
 *
 * Each put is followed by win_flush (remote completion). For each size
 * every column's loop is calibrated to ~`-t` seconds, then the columns run
 * interleaved (rotating the order; one untimed call before each loop),
 * `-r` rounds (default 5); a time is the best round, in
 * microseconds per operation; bandwidth in MB/s (10^6 bytes).
 *
 * Usage: kshimbench [-M max_bytes] [-t seconds_per_point] [-r rounds]
 *                   [--which]
 *   --which: only print which transport serves the peer by default
 *            (no WIN_TRANSPORTS), for both flavours; exit 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "win.h"

#define MIB (1024.0 * 1024.0)

static size_t max_bytes = 64u << 20;
static double point_secs = 0.05;

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

#define CHECK(expr)                                                         \
	do {                                                                \
		int rc_ = (expr);                                           \
		if (rc_) {                                                  \
			fprintf(stderr, "kshimbench: %s: %s (%s)\n", #expr, \
				win_strerror(rc_), win_last_error());       \
			exit(1);                                            \
		}                                                           \
	} while (0)

/* One measured series of a (context, window) pair. */
struct series {
	const char *name;
	win_ctx_t *ctx;
	win_group_t *g;
	win_t *w;
	void *base;
	int ok;
};

typedef void (*op_fn)(void *arg, size_t len);

static int rounds = 5;

/* Loop iterations that take about point_secs (after one warm-up call). */
static long calibrate(op_fn fn, void *arg, size_t len)
{
	double t0, per;
	long iters;

	fn(arg, len); /* faults, first-touch costs */
	t0 = now_us();
	for (int i = 0; i < 3; i++)
		fn(arg, len);
	per = (now_us() - t0) / 3;
	if (per < 0.01)
		per = 0.01;
	iters = (long)(point_secs * 1e6 / per);
	return iters < 3 ? 3 : iters > 200000 ? 200000 : iters;
}

/*
 * Time n columns at one size: calibrate each, then `rounds` rounds in
 * which every column runs its loop once, in turn, each round starting one
 * column later (so that load changes and position hit all columns alike);
 * out[i] is column i's best round, us/op.
 */
static void measure(int n, op_fn *fn, void **arg, size_t len, double *out)
{
	long iters[16];

	for (int i = 0; i < n; i++) {
		out[i] = 1e30;
		iters[i] = fn[i] ? calibrate(fn[i], arg[i], len) : 0;
	}
	for (int r = 0; r < rounds; r++)
		for (int j = 0; j < n; j++) {
			int i = (j + r) % n; /* each round starts elsewhere */
			double t0, t;

			if (!fn[i])
				continue;
			/* untimed: the column before may have left costs
			 * behind (a staged move zaps the window's mappings,
			 * which a copy put would fault back in) */
			fn[i](arg[i], len);
			t0 = now_us();
			for (long k = 0; k < iters[i]; k++)
				fn[i](arg[i], len);
			t = (now_us() - t0) / (double)iters[i];
			if (t < out[i])
				out[i] = t;
		}
	for (int i = 0; i < n; i++)
		if (!fn[i])
			out[i] = 0;
}

static char *src_buf, *dst_buf;

struct rma_arg {
	struct series *s;
	int put;
};

static void rma_op(void *a, size_t len)
{
	struct rma_arg *r = a;

	if (r->put) {
		CHECK(win_put(r->s->w, src_buf, len, 1, 0));
		CHECK(win_flush(r->s->w, 1));
	} else {
		CHECK(win_get(r->s->w, dst_buf, len, 1, 0));
	}
}

static pid_t peer_pid;
static char *pvm_remote; /* same address in both processes (pre-fork) */

static void pvm_op(void *a, size_t len)
{
	struct iovec l = { a ? src_buf : dst_buf, len };
	struct iovec r = { pvm_remote, len };
	ssize_t n = a ? process_vm_writev(peer_pid, &l, 1, &r, 1, 0) :
			process_vm_readv(peer_pid, &l, 1, &r, 1, 0);

	if (n != (ssize_t)len) {
		fprintf(stderr, "kshimbench: process_vm_%sv: %s\n",
			a ? "write" : "read", strerror(errno));
		exit(1);
	}
}

static void memcpy_op(void *a, size_t len)
{
	memcpy(a ? pvm_remote : dst_buf, src_buf, len);
	__asm__ __volatile__("" ::: "memory");
}

static struct series *staged_s;
static char *stage_buf;
static size_t page_size;

/* arg: (uintptr_t)flags: 1 source 64 bytes into a page, 2 refill first */
static void touch(char *p, size_t len)
{
	for (size_t i = 0; i < len; i += page_size)
		((volatile char *)p)[i]++;
}

static void staged_op(void *a, size_t len)
{
	size_t sh = (uintptr_t)a & 1 ? 64 : 0;

	if ((uintptr_t)a & 2)
		touch(stage_buf + sh, len);
	CHECK(win_put_staged(staged_s->w, stage_buf + sh, len, 1, 0));
	CHECK(win_flush(staged_s->w, 1));
}

static void copy_op(void *a, size_t len)
{
	if ((uintptr_t)a & 2)
		touch(src_buf, len);
	CHECK(win_put(staged_s->w, src_buf, len, 1, 0));
	CHECK(win_flush(staged_s->w, 1));
}

static int open_series(struct series *s, const char *name,
		       const char *transports, int flavor, const char *gname,
		       int rank, size_t size, size_t shift)
{
	/* rank 1 waits in win_free while rank 0 measures: no timeout */
	win_config_t cfg = { .transports = transports,
			     .timeout_ms = 24 * 3600 * 1000 };
	char full[128];

	memset(s, 0, sizeof(*s));
	s->name = name;
	if (win_init(&cfg, &s->ctx)) {
		fprintf(stderr, "kshimbench: %s not available: %s\n", name,
			win_last_error());
		return -1;
	}
	snprintf(full, sizeof(full), "%s-%s", gname, name);
	CHECK(win_group_join(s->ctx, full, 2, rank, &s->g));
	if (flavor == WIN_FLAVOR_ALLOCATE) {
		CHECK(win_allocate(s->g, size, 1, NULL, &s->base, &s->w));
	} else {
		/* as a typical user would: page-aligned heap memory, or
		 * `shift` bytes past a page boundary */
		void *m;

		if (posix_memalign(&m, page_size, size + shift))
			exit(1);
		s->base = (char *)m + shift;
		memset(s->base, 0, size);
		CHECK(win_create(s->g, s->base, size, 1, NULL, &s->w));
	}
	s->ok = 1;
	return 0;
}

static void print_row(size_t len, const double *t, int n)
{
	printf("%10zu", len);
	for (int i = 0; i < n; i++)
		printf(" %12.3f", t[i]);
	for (int i = 0; i < n; i++)
		printf(" %12.1f", t[i] > 0 ? len / t[i] : 0.0);
	printf("\n");
}

static int which(void)
{
	char name[64];
	int rank;
	pid_t child;

	snprintf(name, sizeof(name), "kshimbench-which-%d", (int)getpid());
	child = fork();
	rank = child == 0;
	{
		win_ctx_t *ctx;
		win_group_t *g;
		win_t *wa, *wc;
		void *b;
		static long mem[512];

		CHECK(win_init(NULL, &ctx));
		CHECK(win_group_join(ctx, name, 2, rank, &g));
		CHECK(win_allocate(g, 4096, 1, NULL, &b, &wa));
		CHECK(win_create(g, mem, sizeof(mem), 1, NULL, &wc));
		if (rank == 0)
			printf("allocate: rank 1 via %s\ncreate: rank 1 via %s\n",
			       win_transport_name(wa, 1),
			       win_transport_name(wc, 1));
		CHECK(win_free(wa));
		CHECK(win_free(wc));
		CHECK(win_group_leave(g));
		CHECK(win_finalize(ctx));
	}
	if (child == 0)
		_exit(0);
	{
		int st;

		waitpid(child, &st, 0);
		return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
	}
}

int main(int argc, char **argv)
{
	enum { KA, KC, KU, SA, SC, NS };
	struct series s[NS];
	const char *names[NS] = { "kshim-alloc", "kshim-create", "kshim-crt-u",
				  "shm-alloc", "shm-create" };
	char gname[64];
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	int rank;
	pid_t child;

	page_size = pg;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--which"))
			return which();
		if (!strcmp(argv[i], "-M") && i + 1 < argc)
			max_bytes = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "-t") && i + 1 < argc)
			point_secs = atof(argv[++i]);
		else if (!strcmp(argv[i], "-r") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: kshimbench [-M max_bytes] "
				"[-t seconds_per_point] [-r rounds] "
				"[--which]\n");
			return 2;
		}
	}
	if (rounds < 1)
		rounds = 1;
	snprintf(gname, sizeof(gname), "kshimbench-%d", (int)getpid());
	src_buf = malloc(max_bytes);
	dst_buf = malloc(max_bytes);
	pvm_remote = mmap(NULL, max_bytes, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!src_buf || !dst_buf || pvm_remote == MAP_FAILED)
		return 1;
	memset(src_buf, 0x5a, max_bytes);
	memset(dst_buf, 0, max_bytes);
	memset(pvm_remote, 0, max_bytes);
	peer_pid = getpid();
	child = fork();
	rank = child == 0;
	if (rank == 0)
		peer_pid = child;
	/* The pool holds the allocated window and (rank 0) a staging area
	 * of a quarter of the pool. */
	{
		char mb[32];
		size_t need = (max_bytes >> 20) + 8;

		snprintf(mb, sizeof(mb), "%zu", rank == 0 ? 4 * need : 2 * need);
		setenv("WIN_KSHIM_POOL_MB", mb, 0);
	}
	/* A series that cannot open (no kshim here) stays out of the run;
	 * both processes see the same. */
	for (int i = 0; i < NS; i++)
		open_series(&s[i], names[i], i < SA ? "kshim" : "shm",
			    i == KA || i == SA ? WIN_FLAVOR_ALLOCATE :
						 WIN_FLAVOR_CREATE,
			    gname, rank, max_bytes, i == KU ? 64 : 0);
	for (int i = 0; i < NS; i++)
		if (s[i].ok)
			CHECK(win_lock_all(s[i].w, 0));

	if (rank == 0) {
		const char *hdr[2] = { "put + flush", "get" };

		printf("# kshimbench: %d-byte pages, two processes, columns "
		       "interleaved, best of %d rounds of ~%.0f ms per "
		       "column and size\n", (int)pg, rounds, point_secs * 1e3);
		for (int i = 0; i < NS; i++)
			if (s[i].ok)
				printf("# %s: rank 1 via %s, %s, base %zu "
				       "bytes into a page\n", names[i],
				       win_transport_name(s[i].w, 1),
				       i == KA || i == SA ? "allocated" :
				       "created",
				       (size_t)((uintptr_t)s[i].base % pg));
		for (int put = 1; put >= 0; put--) {
			printf("\n## %s: latency (us/op) then bandwidth (MB/s)\n",
			       hdr[!put]);
			printf("%10s", "bytes");
			for (int k = 0; k < 2; k++) {
				for (int i = 0; i < NS; i++)
					printf(" %12s", names[i]);
				printf(" %12s %12s", put ? "pvm_writev" :
				       "pvm_readv", "memcpy");
			}
			printf("\n");
			for (size_t len = 8; len <= max_bytes; len *= 4) {
				double t[NS + 2];
				struct rma_arg a[NS];
				op_fn fn[NS + 2];
				void *arg[NS + 2];

				for (int i = 0; i < NS; i++) {
					a[i] = (struct rma_arg){ &s[i], put };
					fn[i] = s[i].ok ? rma_op : NULL;
					arg[i] = &a[i];
				}
				fn[NS] = pvm_op;
				arg[NS] = put ? (void *)1 : NULL;
				fn[NS + 1] = memcpy_op;
				arg[NS + 1] = put ? (void *)1 : NULL;
				measure(NS + 2, fn, arg, len, t);
				print_row(len, t, NS + 2);
				if (len == 8 && s[KA].ok) {
					const char *pv = put ? "pvm_writev" :
							       "pvm_readv";

					printf("# ratios at 8 B: kshim-alloc/"
					       "shm-alloc %.2f, kshim-create/"
					       "%s %.2f, kshim-crt-u/%s %.2f, "
					       "kshim-create/shm-create %.2f\n",
					       t[KA] / t[SA], pv, t[KC] / t[NS],
					       pv, t[KU] / t[NS],
					       t[KC] / t[SC]);
				}
			}
		}
		/* Staged (page-swap) put against copy put, same window. */
		if (s[KA].ok) {
			void *b;
			double cross = 0, cross_f = 0;

			staged_s = &s[KA];
			CHECK(win_stage_alloc(s[KA].w, max_bytes + pg, &b));
			stage_buf = b;
			memset(stage_buf, 0x33, max_bytes + pg);
			printf("\n## staged put vs copy put, kshim-alloc, + "
			       "flush: us/op, then MB/s of staged and copy, "
			       "then bandwidth ratios staged/copy\n"
			       "## staged: whole pages, moved; staged-u: 64 "
			       "bytes into a page, copied by the kernel;"
			       "\n## -fill: one byte per page of the source "
			       "written before each put\n");
			printf("%10s %10s %10s %10s %10s %10s %10s %10s %7s %7s "
			       "%7s\n", "bytes", "staged", "staged-u", "copy",
			       "staged-f", "copy-f", "MB/s st", "MB/s cp",
			       "st/cp", "stu/cp", "stf/cpf");
			for (size_t len = pg; len <= max_bytes; len *= 4) {
				op_fn fn[5] = { staged_op, staged_op, copy_op,
						staged_op, copy_op };
				void *arg[5] = { (void *)0, (void *)1,
						 (void *)0, (void *)2,
						 (void *)2 };
				double t[5];

				measure(5, fn, arg, len, t);
				printf("%10zu %10.2f %10.2f %10.2f %10.2f %10.2f "
				       "%10.1f %10.1f %7.2f %7.2f %7.2f\n", len,
				       t[0], t[1], t[2], t[3], t[4],
				       len / t[0], len / t[2], t[2] / t[0],
				       t[2] / t[1], t[4] / t[3]);
				if (t[0] < t[2] && !cross)
					cross = (double)len;
				else if (t[0] >= t[2])
					cross = 0;
				if (t[3] < t[4] && !cross_f)
					cross_f = (double)len;
				else if (t[3] >= t[4])
					cross_f = 0;
			}
			if (cross)
				printf("# crossover: staged put is faster from "
				       "%.0f bytes up\n", cross);
			else
				printf("# crossover: none (staged put not "
				       "faster at the largest sizes)\n");
			if (cross_f)
				printf("# crossover with refill: staged put is "
				       "faster from %.0f bytes up\n", cross_f);
			else
				printf("# crossover with refill: none\n");
			CHECK(win_stage_free(s[KA].w, stage_buf));
		}
	}
	for (int i = 0; i < NS; i++) {
		if (!s[i].ok)
			continue;
		CHECK(win_unlock_all(s[i].w));
		CHECK(win_free(s[i].w));
		CHECK(win_group_leave(s[i].g));
		CHECK(win_finalize(s[i].ctx));
	}
	if (child) {
		int st;

		waitpid(child, &st, 0);
		return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
	}
	return 0;
}
