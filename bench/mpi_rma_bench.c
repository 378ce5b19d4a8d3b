/*
 * mpi_rma_bench: the winbench loops written against MPI-3 RMA, so that an
 * MPI library's own one-sided layer can be compared line by line with
 * libwin.  Start it with two processes:
 *
 *   mpirun -np 2 ./mpi_rma_bench [options]
 *
 * Same options and output as winbench (see -h).
 */
#define _GNU_SOURCE
#include <mpi.h>

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * With Open MPI's development headers the one-sided component serving a
 * window can be named exactly (osc/sm, osc/rdma, osc/pt2pt, osc/ucx).
 */
#if defined(OPEN_MPI) && defined(__has_include)
#if __has_include(<ompi/win/win.h>)
#include <ompi/win/win.h>
#define HAVE_OMPI_WIN_H 1
#endif
#endif

#include "bench_common.h"

struct be {
	MPI_Win win;
	int have_win;
	int unified;		/* the window's memory model is unified */
	void *base;
	void *own;		/* created windows: our memory */
	void *mem;		/* ... or MPI_Alloc_mem'ed */
	MPI_Group grp[2];	/* {0} and {1}, for post/start */
	int rank;
	int size;
	char transport[64];
	char err[MPI_MAX_ERROR_STRING + 1];
};

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
	return MPI_Barrier(MPI_COMM_WORLD);
}

static void be_name_transport(struct be *b)
{
#ifdef HAVE_OMPI_WIN_H
	ompi_osc_base_module_t *mod = b->win->w_osc_module;
	const char *p, *q;
	Dl_info di;

	snprintf(b->transport, sizeof(b->transport), "osc/unknown");
	if (!mod || !dladdr((void *)mod->osc_put, &di))
		return;
	/* ompi_osc_<component>_put, or the file mca_osc_<component>.so */
	if (di.dli_sname && !strncmp(di.dli_sname, "ompi_osc_", 9)) {
		p = di.dli_sname + 9;
		q = strchr(p, '_');
		if (q) {
			snprintf(b->transport, sizeof(b->transport),
				 "osc/%.*s", (int)(q - p), p);
			return;
		}
	}
	if (di.dli_fname) {
		p = strstr(di.dli_fname, "mca_osc_");
		if (p) {
			p += 8;
			q = strchr(p, '.');
			snprintf(b->transport, sizeof(b->transport),
				 "osc/%.*s", q ? (int)(q - p) : (int)strlen(p),
				 p);
		}
	}
#else
	snprintf(b->transport, sizeof(b->transport), "osc");
#endif
}

static int be_win_open(struct be *b, int flavor, size_t bytes)
{
	int rc, flag = 0, *model = NULL;

	if (flavor == BFLAV_ALLOCATE) {
		rc = MPI_Win_allocate((MPI_Aint)bytes, 1, MPI_INFO_NULL,
				      MPI_COMM_WORLD, &b->base, &b->win);
	} else if (flavor == BFLAV_CREATE_MEM) {
		rc = MPI_Alloc_mem((MPI_Aint)bytes, MPI_INFO_NULL, &b->mem);
		if (rc)
			return rc;
		memset(b->mem, 0, bytes);
		b->base = b->mem;
		rc = MPI_Win_create(b->base, (MPI_Aint)bytes, 1,
				    MPI_INFO_NULL, MPI_COMM_WORLD, &b->win);
	} else {
		b->own = bench_alloc(bytes);
		b->base = b->own;
		rc = MPI_Win_create(b->base, (MPI_Aint)bytes, 1,
				    MPI_INFO_NULL, MPI_COMM_WORLD, &b->win);
	}
	if (rc)
		return rc;
	b->have_win = 1;
	MPI_Win_set_errhandler(b->win, MPI_ERRORS_RETURN);
	b->unified = MPI_Win_get_attr(b->win, MPI_WIN_MODEL, &model,
				      &flag) == MPI_SUCCESS && flag &&
		*model == MPI_WIN_UNIFIED;
	be_name_transport(b);
	return MPI_Barrier(MPI_COMM_WORLD);
}

static int be_win_close(struct be *b)
{
	int rc = MPI_Win_free(&b->win);

	b->have_win = 0;
	free(b->own);
	b->own = NULL;
	if (b->mem && rc == MPI_SUCCESS)
		rc = MPI_Free_mem(b->mem);
	b->mem = NULL;
	return rc;
}

static const char *be_transport(struct be *b)
{
	return b->transport;
}

static inline int be_put(struct be *b, const void *src, size_t len,
			 int rank, size_t disp)
{
	return MPI_Put(src, (int)len, MPI_BYTE, rank, (MPI_Aint)disp,
		       (int)len, MPI_BYTE, b->win);
}

static inline int be_get(struct be *b, void *dst, size_t len, int rank,
			 size_t disp)
{
	return MPI_Get(dst, (int)len, MPI_BYTE, rank, (MPI_Aint)disp,
		       (int)len, MPI_BYTE, b->win);
}

static inline int be_fop(struct be *b, const int64_t *operand,
			 int64_t *result, int rank, size_t disp)
{
	return MPI_Fetch_and_op(operand, result, MPI_INT64_T, rank,
				(MPI_Aint)disp, MPI_SUM, b->win);
}

static inline int be_cas(struct be *b, const int64_t *cmp,
			 const int64_t *swp, int64_t *result, int rank,
			 size_t disp)
{
	return MPI_Compare_and_swap(swp, cmp, result, MPI_INT64_T, rank,
				    (MPI_Aint)disp, b->win);
}

static inline int be_acc(struct be *b, const int64_t *operand, int rank,
			 size_t disp)
{
	return MPI_Accumulate(operand, 1, MPI_INT64_T, rank, (MPI_Aint)disp,
			      1, MPI_INT64_T, MPI_SUM, b->win);
}

static inline int be_flush(struct be *b, int rank)
{
	return MPI_Win_flush(rank, b->win);
}

static inline int be_lock(struct be *b, int rank)
{
	return MPI_Win_lock(MPI_LOCK_SHARED, rank, 0, b->win);
}

static inline int be_unlock(struct be *b, int rank)
{
	return MPI_Win_unlock(rank, b->win);
}

static inline int be_lock_all(struct be *b)
{
	return MPI_Win_lock_all(0, b->win);
}

static inline int be_unlock_all(struct be *b)
{
	return MPI_Win_unlock_all(b->win);
}

static inline int be_fence(struct be *b, int nosucceed)
{
	return MPI_Win_fence(nosucceed ? MPI_MODE_NOSUCCEED : 0, b->win);
}

static inline int be_post(struct be *b, int peer)
{
	return MPI_Win_post(b->grp[peer], 0, b->win);
}

static inline int be_start(struct be *b, int peer)
{
	return MPI_Win_start(b->grp[peer], 0, b->win);
}

static inline int be_complete(struct be *b)
{
	return MPI_Win_complete(b->win);
}

static inline int be_wait(struct be *b)
{
	return MPI_Win_wait(b->win);
}

/* Loads see remote puts (after MPI_Win_sync) in the unified model only. */
static void *be_local(struct be *b)
{
	return b->unified ? b->base : NULL;
}

static inline int be_sync(struct be *b)
{
	return MPI_Win_sync(b->win);
}

/* MPI has no bound on waits of its own: one minute. */
static long be_timeout_ms(struct be *b)
{
	return 60000;
}

static const char *be_errstr(struct be *b, int rc)
{
	int len = 0;

	if (MPI_Error_string(rc, b->err, &len) != MPI_SUCCESS)
		snprintf(b->err, sizeof(b->err), "MPI error %d", rc);
	return b->err;
}

static void be_fatal(struct be *b) __attribute__((noreturn));
static void be_fatal(struct be *b)
{
	MPI_Abort(MPI_COMM_WORLD, 1);
	exit(1);
}

#include "bench_loops.h"

/* "Open MPI v4.1.4, package: ..." -> "Open MPI v4.1.4" */
static void library_version(char *buf, size_t len)
{
	char v[MPI_MAX_LIBRARY_VERSION_STRING];
	int n = 0;

	if (MPI_Get_library_version(v, &n) != MPI_SUCCESS) {
		snprintf(buf, len, "MPI");
		return;
	}
	v[strcspn(v, ",\n")] = '\0';
	snprintf(buf, len, "%s", v);
}

/*
 * The MCA settings that decide the one-sided path: mpirun hands its --mca
 * options to the processes as OMPI_MCA_* variables.
 */
static void mca_settings(char *buf, size_t len)
{
	static const char *const keys[] = {
		"OMPI_MCA_osc", "OMPI_MCA_btl", "OMPI_MCA_pml",
		"OMPI_MCA_osc_", "OMPI_MCA_btl_vader_single_copy_mechanism",
	};
	extern char **environ;
	size_t used = 0, k;
	char **e;
	int n;

	buf[0] = '\0';
	for (e = environ; *e; e++) {
		for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
			size_t kl = strlen(keys[k]);

			if (strncmp(*e, keys[k], kl))
				continue;
			/* Exact names, or the osc_ prefix. */
			if (keys[k][kl - 1] != '_' && (*e)[kl] != '=')
				continue;
			break;
		}
		if (k == sizeof(keys) / sizeof(keys[0]))
			continue;
		n = snprintf(buf + used, len - used, "%s%s",
			     used ? " " : "", *e + 9);
		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
	if (!used)
		snprintf(buf, len, "(none)");
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	struct bench_meta m;
	struct be b;
	char version[MPI_MAX_LIBRARY_VERSION_STRING], mca[512], extra[600];
	MPI_Group world;
	int r, rc;

	MPI_Init(&argc, &argv);
	memset(&b, 0, sizeof(b));
	MPI_Comm_rank(MPI_COMM_WORLD, &b.rank);
	MPI_Comm_size(MPI_COMM_WORLD, &b.size);
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);

	rc = bench_parse_args(argc, argv, &o, "mpi_rma_bench", NULL, NULL,
			      NULL, b.rank == 0);
	if (rc) {
		MPI_Finalize();
		return rc > 0 ? 0 : 1;
	}
	if (b.size < 2) {
		if (b.rank == 0)
			fprintf(stderr, "mpi_rma_bench: needs at least 2 "
				"processes (mpirun -np 2)\n");
		MPI_Finalize();
		return 1;
	}
	MPI_Comm_group(MPI_COMM_WORLD, &world);
	for (r = 0; r < 2; r++)
		MPI_Group_incl(world, 1, &r, &b.grp[r]);
	MPI_Group_free(&world);

	library_version(version, sizeof(version));
	mca_settings(mca, sizeof(mca));
	snprintf(extra, sizeof(extra), "MCA: %s", mca);
	memset(&m, 0, sizeof(m));
	m.prog = "mpi_rma_bench";
	m.impl = "ompi";
	m.version = version;
	m.extra = extra;
	m.nprocs = b.size;
#ifndef OPEN_MPI
	m.impl = "mpi";
#endif

	rc = bench_run(&b, &o, &m);

	for (r = 0; r < 2; r++)
		MPI_Group_free(&b.grp[r]);
	MPI_Finalize();
	return rc;
}
