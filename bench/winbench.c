/*
 * winbench: one-sided latency and bandwidth of libwin, measured like the
 * OSU one-sided micro-benchmarks (put/get latency and bandwidth, fetch_op,
 * compare_swap and accumulate latency) in every sync mode.
 *
 * It forks itself into -n processes (default 2) that join a named
 * single-host group: rank 0 is the origin and prints, rank 1 is the target,
 * further ranks only take part in the collective calls. Started by a PMIx
 * launcher (mpirun -np N winbench) it forks nothing and uses the launcher's
 * ranks instead.  The same loops,
 * written against MPI-3 RMA, are in mpi_rma_bench; compare.sh runs both.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <win.h>

#include "bench_bind.h"
#include "bench_common.h"

#define WINBENCH_MAX_PROCS 256
#define WINBENCH_MAX_REQS 1024

/* -N: puts and gets are win_iput/win_iget, waited for at the next
 * synchronization (flush, unlock, fence, complete), as MPI_Put/MPI_Get
 * complete at the next synchronization: a batch stays in flight. */
static int nonblocking;
/* -B: forked ranks bound to one CPU each (bench_bind.h). */
static int bind_ranks;

struct be {
	win_ctx_t *ctx;
	win_group_t *grp;
	win_t *win;
	void *own;		/* created windows: our memory */
	void *mem;		/* ... or win_mem_alloc'ed */
	void *base;		/* our part of the window */
	long timeout_ms;	/* the context's bound on waits */
	int rank;
	int size;
	char transport[64];
	char err[600];
	win_req_t *reqs[WINBENCH_MAX_REQS]; /* -N: in flight */
	int nreqs;
};

/* Children forked by rank 0, ended if the run has to stop. */
static pid_t children[WINBENCH_MAX_PROCS];
static int nchildren;
static int am_parent = 1;

static inline int be_rank(struct be *b)
{
	return b->rank;
}

static inline int be_size(struct be *b)
{
	return b->size;
}

static int be_barrier(struct be *b)
{
	return win_group_barrier(b->grp);
}

static int be_win_open(struct be *b, int flavor, size_t bytes)
{
	const char *t;
	int rc;

	if (flavor == BFLAV_ALLOCATE) {
		rc = win_allocate(b->grp, bytes, 1, NULL, &b->base, &b->win);
	} else if (flavor == BFLAV_CREATE_MEM) {
		if ((rc = win_mem_alloc(b->ctx, bytes, &b->mem)))
			return rc;
		b->base = b->mem;
		rc = win_create(b->grp, b->mem, bytes, 1, NULL, &b->win);
	} else {
		b->own = bench_alloc(bytes);
		b->base = b->own;
		rc = win_create(b->grp, b->own, bytes, 1, NULL, &b->win);
	}
	if (rc)
		return rc;
	t = win_transport_name(b->win, b->size > 1 ? 1 : 0);
	snprintf(b->transport, sizeof(b->transport), "%s",
		 t && *t ? t : "unknown");
	return win_group_barrier(b->grp);
}

static int be_win_close(struct be *b)
{
	int rc = win_free(b->win);

	b->win = NULL;
	b->base = NULL;
	free(b->own);
	b->own = NULL;
	if (b->mem && rc == WIN_OK)
		rc = win_mem_free(b->ctx, b->mem);
	b->mem = NULL;
	return rc;
}

static const char *be_transport(struct be *b)
{
	return b->transport;
}

/* -N: wait for every request in flight. */
static int be_drain(struct be *b)
{
	int rc = WIN_OK;

	while (b->nreqs > 0) {
		int r = win_req_wait(&b->reqs[--b->nreqs]);

		if (r && !rc)
			rc = r;
	}
	return rc;
}

static inline int be_track(struct be *b, win_req_t *req)
{
	b->reqs[b->nreqs++] = req;
	return b->nreqs == WINBENCH_MAX_REQS ? be_drain(b) : WIN_OK;
}

static inline int be_put(struct be *b, const void *src, size_t len,
			 int rank, size_t disp)
{
	win_req_t *req;
	int rc;

	if (!nonblocking)
		return win_put(b->win, src, len, rank, disp);
	rc = win_iput(b->win, src, len, rank, disp, &req);
	return rc ? rc : be_track(b, req);
}

static inline int be_get(struct be *b, void *dst, size_t len, int rank,
			 size_t disp)
{
	win_req_t *req;
	int rc;

	if (!nonblocking)
		return win_get(b->win, dst, len, rank, disp);
	rc = win_iget(b->win, dst, len, rank, disp, &req);
	return rc ? rc : be_track(b, req);
}

static inline int be_fop(struct be *b, const int64_t *operand,
			 int64_t *result, int rank, size_t disp)
{
	return win_fetch_op(b->win, operand, result, WIN_INT64, WIN_OP_SUM,
			    rank, disp);
}

static inline int be_cas(struct be *b, const int64_t *cmp,
			 const int64_t *swp, int64_t *result, int rank,
			 size_t disp)
{
	return win_compare_swap(b->win, cmp, swp, result, WIN_INT64, rank,
				disp);
}

static inline int be_acc(struct be *b, const int64_t *operand, int rank,
			 size_t disp)
{
	return win_accumulate(b->win, operand, 1, WIN_INT64, WIN_OP_SUM, rank,
			      disp);
}

static inline int be_flush(struct be *b, int rank)
{
	int rc = be_drain(b);

	return rc ? rc : win_flush(b->win, rank);
}

static inline int be_lock(struct be *b, int rank)
{
	return win_lock(b->win, WIN_LOCK_SHARED, rank, 0);
}

static inline int be_unlock(struct be *b, int rank)
{
	int rc = be_drain(b);

	return rc ? rc : win_unlock(b->win, rank);
}

static inline int be_lock_all(struct be *b)
{
	return win_lock_all(b->win, 0);
}

static inline int be_unlock_all(struct be *b)
{
	int rc = be_drain(b);

	return rc ? rc : win_unlock_all(b->win);
}

static inline int be_fence(struct be *b, int nosucceed)
{
	int rc = be_drain(b);

	return rc ? rc : win_fence(b->win, nosucceed ? WIN_MODE_NOSUCCEED : 0);
}

static inline int be_post(struct be *b, int peer)
{
	return win_post(b->win, &peer, 1, 0);
}

static inline int be_start(struct be *b, int peer)
{
	return win_start(b->win, &peer, 1, 0);
}

static inline int be_complete(struct be *b)
{
	int rc = be_drain(b);

	return rc ? rc : win_complete(b->win);
}

static inline int be_wait(struct be *b)
{
	return win_wait(b->win);
}

static void *be_local(struct be *b)
{
	return b->base;
}

static inline int be_sync(struct be *b)
{
	return win_sync(b->win);
}

static long be_timeout_ms(struct be *b)
{
	return b->timeout_ms;
}

static const char *be_errstr(struct be *b, int rc)
{
	const char *detail = win_last_error();

	snprintf(b->err, sizeof(b->err), "%s (%d)%s%s", win_strerror(rc), rc,
		 detail && *detail ? ": " : "", detail ? detail : "");
	return b->err;
}

static void kill_children(void)
{
	int i;

	for (i = 0; i < nchildren; i++)
		if (children[i] > 0)
			kill(children[i], SIGTERM);
}

static void be_fatal(struct be *b) __attribute__((noreturn));
static void be_fatal(struct be *b)
{
	fflush(stdout);
	if (am_parent) {
		kill_children();
		while (wait(NULL) > 0 || errno == EINTR)
			;
	}
	exit(1);
}

#include "bench_loops.h"

static int winbench_opt(struct bench_opts *o, int c, const char *arg)
{
	char *end;
	long v;

	switch (c) {
	case 'n':
		errno = 0;
		v = strtol(arg, &end, 10);
		if (errno || *end || v < 2 || v > WINBENCH_MAX_PROCS)
			return -1;
		o->nprocs = (int)v;
		return 0;
	case 'T':
		o->transports = arg;
		return 0;
	case 'N':
		nonblocking = 1;
		return 0;
	case 'B':
		bind_ranks = 1;
		return 0;
	}
	return -1;
}

static const char winbench_help[] =
"  -n N        processes to fork (default 2; rank 0 origin, rank 1 target)\n"
"  -T LIST     libwin transports allowed, in order (as WIN_TRANSPORTS)\n"
"  -N          puts and gets as win_iput/win_iget, completed at the next\n"
"              synchronization (as MPI_Put/MPI_Get): a bandwidth batch\n"
"              stays in flight\n"
"  -B          bind rank r to the r-th CPU this may run on (forked ranks;\n"
"              under mpirun, its --bind-to)\n";

static int run_rank(const struct bench_opts *o, const char *name, int rank)
{
	char version[32], extra[256];
	const char *bound = "";
	const char *tenv;
	struct bench_meta m;
	win_config_t cfg;
	struct be b;
	int rc, leave;

	if (bind_ranks)
		bound = name ? "; ranks bound to a CPU each (-B)" :
			"; -B ignored: the launcher binds (mpirun --bind-to)";
	memset(&b, 0, sizeof(b));
	memset(&cfg, 0, sizeof(cfg));
	cfg.transports = o->transports;
	/* Ranks wait in barriers while rank 0 measures memcpy: be patient. */
	tenv = getenv("WIN_TIMEOUT_MS");
	if (!tenv)
		cfg.timeout_ms = 600000;
	rc = win_init(&cfg, &b.ctx);
	/* What win_init took: ours, the variable, or its default. */
	b.timeout_ms = cfg.timeout_ms ? cfg.timeout_ms :
		       *tenv ? atol(tenv) : 60000;
	if (rc) {
		fprintf(stderr, "winbench: rank %d: win_init: %s\n", rank,
			be_errstr(&b, rc));
		return 1;
	}
	/* Started by a PMIx launcher (mpirun -np N winbench): its group. */
	rc = name ? win_group_join(b.ctx, name, o->nprocs, rank, &b.grp) :
		    win_group_from_launcher(b.ctx, &b.grp);
	if (rc) {
		fprintf(stderr, "winbench: rank %d: %s(%s): %s\n", rank,
			name ? "win_group_join" : "win_group_from_launcher",
			name ? name : "PMIx", be_errstr(&b, rc));
		win_finalize(b.ctx);
		return 1;
	}
	b.rank = win_group_rank(b.grp);
	b.size = win_group_size(b.grp);

	snprintf(version, sizeof(version), "libwin %d.%d", WIN_VERSION_MAJOR,
		 WIN_VERSION_MINOR);
	tenv = o->transports ? o->transports : getenv("WIN_TRANSPORTS");
	snprintf(extra, sizeof(extra), "group %s; transports allowed: %s%s%s",
		 name ? name : "from the PMIx launcher",
		 tenv && *tenv ? tenv : "all built (default)",
		 nonblocking ? "; puts and gets nonblocking (-N)" : "", bound);
	memset(&m, 0, sizeof(m));
	m.prog = "winbench";
	m.impl = "libwin";
	m.version = version;
	m.extra = extra;
	m.nprocs = b.size;

	rc = bench_run(&b, o, &m);

	leave = win_group_leave(b.grp);
	if (leave) {
		fprintf(stderr, "winbench: rank %d: win_group_leave: %s\n",
			b.rank, be_errstr(&b, leave));
		if (!rc)
			rc = 1;
	}
	win_finalize(b.ctx);
	return rc;
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	char name[64];
	pid_t parent = getpid(), pid;
	int i, rc, status, bad = 0;
	cpu_set_t cpus;

	rc = bench_parse_args(argc, argv, &o, "winbench", "n:T:NB",
			      winbench_opt, winbench_help, 1);
	if (rc)
		return rc > 0 ? 0 : 1;

	/* Under mpirun (or any PMIx launcher) the launcher made the ranks:
	 * no forking, -n is the launcher's -np. */
	if (getenv("PMIX_RANK") && getenv("PMIX_NAMESPACE"))
		return run_rank(&o, NULL, atoi(getenv("PMIX_RANK")));

	snprintf(name, sizeof(name), "winbench-%ld", (long)parent);
	if (bind_ranks && bench_cpus(&cpus) < 0) {
		fprintf(stderr, "winbench: -B: %s\n", strerror(errno));
		return 1;
	}
	fflush(stdout);
	fflush(stderr);
	for (i = 1; i < o.nprocs; i++) {
		/* Each rank inherits its binding, taken here where a failure
		 * leaves no rank waiting for another. */
		if (bind_ranks && bench_bind_rank(&cpus, i) < 0) {
			fprintf(stderr, "winbench: -B: rank %d: %s\n", i,
				strerror(errno));
			kill_children();
			return 1;
		}
		pid = fork();
		if (pid < 0) {
			perror("winbench: fork");
			kill_children();
			return 1;
		}
		if (pid == 0) {
			am_parent = 0;
			nchildren = 0;
			/* Do not outlive rank 0. */
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			if (getppid() != parent)
				_exit(1);
			_exit(run_rank(&o, name, i));
		}
		children[nchildren++] = pid;
	}

	if (bind_ranks && bench_bind_rank(&cpus, 0) < 0) {
		fprintf(stderr, "winbench: -B: rank 0: %s\n", strerror(errno));
		kill_children();
		return 1;
	}
	rc = run_rank(&o, name, 0);

	for (i = 0; i < nchildren; i++) {
		while (waitpid(children[i], &status, 0) < 0) {
			if (errno != EINTR) {
				status = -1;
				break;
			}
		}
		if (status == -1) {
			bad = 1;
		} else if (WIFSIGNALED(status)) {
			fprintf(stderr, "winbench: rank %d killed by signal "
				"%d\n", i + 1, WTERMSIG(status));
			bad = 1;
		} else if (WEXITSTATUS(status)) {
			fprintf(stderr, "winbench: rank %d exited with "
				"status %d\n", i + 1, WEXITSTATUS(status));
			bad = 1;
		}
	}
	if (!rc && bad)
		rc = 1;
	return rc;
}
