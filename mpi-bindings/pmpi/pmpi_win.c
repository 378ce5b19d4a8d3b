/*
 * libwin_pmpi: MPI-3 RMA served by libwin, through the MPI profiling
 * interface. Put it ahead of the MPI library (LD_PRELOAD=libwin_pmpi.so, or
 * link it before -lmpi) and an unmodified MPI program's windows, epochs and
 * one-sided operations run on libwin; everything else stays with MPI.
 * libwin_pmpi.so is built against Open MPI, libwin_pmpi_mpich.so against
 * MPICH, from the same sources.
 *
 * Design
 * ------
 * Handles. Every window the program creates gets a real MPI window as its
 * handle: PMPI_Win_create over no memory (size 0) on the same
 * communicator. The MPI library owns everything about the handle itself
 * (MPI_Win_get_group, names, user attributes, error handlers,
 * MPI_Win_call_errhandler), so the handle works in every MPI call. The libwin
 * window that carries the data sits in a side table keyed by the handle
 * (a list with a one-entry cache for the last window used). A handle not in
 * the table is handed to the MPI library unchanged.
 *
 * Groups. The libwin group of a window is formed over its communicator:
 * rank 0 picks a name unique on the host, MPI_Bcast spreads it and every
 * rank joins with win_group_join(name, size, rank) (or, built with
 * PW_WITH_WIN_MPI, win_group_from_comm()). libwin groups are single-host
 * here, as is the shm transport.
 *
 * Displacements. The libwin window always has displacement unit 1; each
 * rank's MPI displacement unit is gathered at creation and displacements
 * are scaled here, so byte offsets inside derived target types need not be
 * multiples of the unit. Dynamic windows are a libwin created window over
 * this process's whole user address range (from its lowest mapping up); a
 * target displacement (an address at the target) becomes an offset from
 * the target's base, which is gathered at creation.
 *
 * Dynamic windows: attached regions. Only memory the target has attached
 * may be reached. Each dynamic window comes with a small libwin allocated
 * window holding every rank's region table (PW_REGIONS regions of {base,
 * len} and a generation count, odd while its owner rewrites it);
 * MPI_Win_attach and MPI_Win_detach edit the caller's own table, and
 * attaching beyond PW_REGIONS fails with MPI_ERR_RMA_ATTACH. An origin
 * reads a target's table with win_get into a per-target cache, first in
 * each epoch (lock, lock_all, fence, start) and once more when an access
 * falls outside every cached region; an access [disp + lb, disp + ub) of
 * the target datatype that lies inside no single attached region is
 * refused with MPI_ERR_RMA_RANGE and touches no memory. So the cache holds
 * within an epoch: as MPI requires, a region must be attached before an
 * origin's access is synchronised with the attach (a later epoch, or any
 * synchronisation after which the access misses the cache), and an origin
 * must not reach a region after the target may have detached it within
 * the same epoch.
 *
 * Datatypes (pmpi_dtype.c). Both origin and target types are flattened into
 * byte runs and served by win_put/win_get when both are contiguous, else by
 * win_putv/win_getv. Accumulates need every element of both sides to be of
 * one libwin type (int32/64, uint32/64, float, double and their MPI
 * aliases); they are issued run by run with win_accumulate and
 * win_get_accumulate, so they are element-wise atomic as MPI requires.
 * Types or ops libwin lacks fail with MPI_ERR_TYPE or MPI_ERR_OP.
 *
 * Requests. libwin completes puts, gets and atomics locally before it
 * returns, so MPI_Rput, MPI_Rget, MPI_Raccumulate and MPI_Rget_accumulate
 * do the operation and return a generalized request (MPI_Grequest_start)
 * that is already complete: MPI_Wait, MPI_Test and friends work unchanged.
 * They are refused with MPI_ERR_RMA_SYNC outside a passive-target epoch on
 * the target (libwin's win_check_passive says whether one is open).
 *
 * Errors. A libwin status becomes an MPI error class (pmpi_op.c); the code
 * returned is a dynamic code of that class whose string carries libwin's
 * message, and it goes through the window's error handler
 * (PMPI_Win_call_errhandler) as the MPI library's own errors would.
 *
 * Attributes and info. MPI_WIN_BASE, MPI_WIN_SIZE, MPI_WIN_DISP_UNIT,
 * MPI_WIN_CREATE_FLAVOR and MPI_WIN_MODEL (always MPI_WIN_UNIFIED) are
 * answered here; other keyvals go to the MPI library. MPI_Win_get_info
 * returns no_locks, accumulate_ordering, accumulate_ops, same_size and
 * same_disp_unit as given at creation or by MPI_Win_set_info; no_locks
 * makes the libwin window refuse locks.
 *
 * Shared windows. MPI_Win_allocate_shared is a libwin allocated window;
 * MPI_Win_shared_query gives each rank's direct pointer. The parts of
 * different ranks are not adjacent in memory (as with the info key
 * alloc_shared_noncontig): use MPI_Win_shared_query, not pointer arithmetic
 * from rank 0's base.
 */
#define _GNU_SOURCE
#include "pmpi_internal.h"

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef PW_WITH_WIN_MPI
#include <win_mpi.h>
#endif

#define PW_INFO_KEYS 5
static const char *const info_keys[PW_INFO_KEYS] = {
	"no_locks", "accumulate_ordering", "accumulate_ops", "same_size",
	"same_disp_unit",
};
static const char *const info_defaults[PW_INFO_KEYS] = {
	"false", "rar,raw,war,waw", "same_op_no_op", "false", "false",
};

#define PW_REGIONS 64

struct pw_rent {
	uint64_t base, len;
};

/* A rank's attached regions, in its part of the table window. */
struct pw_rtab {
	uint64_t gen;		/* odd while the owner edits the table */
	uint64_t n;
	struct pw_rent r[PW_REGIONS];
};

/* An origin's copy of one target's table. */
struct pw_rcache {
	unsigned long epoch;	/* pw_win.epoch when read (0: never) */
	int n;
	struct pw_rent r[PW_REGIONS];
};

struct pw_win {
	MPI_Win h;
	win_t *w;
	win_group_t *g;
	MPI_Group grp;		/* the window's group, for PSCW groups */
	int rank, size;
	int flavor;		/* MPI_WIN_FLAVOR_* */
	int model;
	void *base;
	MPI_Aint size_attr;
	int du_attr;
	int *du;		/* every rank's displacement unit */
	uintptr_t *dbase;	/* dynamic: every rank's libwin base */
	win_t *tw;		/* dynamic: the region tables' window */
	struct pw_rtab *rtab;	/* dynamic: this rank's table */
	struct pw_rcache *rc;	/* dynamic: cached tables, per target */
	unsigned long epoch;	/* access epochs begun (dynamic windows) */
	char info[PW_INFO_KEYS][64];
	struct pw_win *next;
};

static win_ctx_t *ctx;
static struct pw_win *wins, *last;
static unsigned group_seq;

/* Lets a program (the test suite) see that the interposer is loaded. */
int libwin_pmpi_loaded(void);
int libwin_pmpi_loaded(void)
{
	return 1;
}

static inline struct pw_win *find(MPI_Win h)
{
	struct pw_win *p;

	if (last && last->h == h)
		return last;
	for (p = wins; p; p = p->next)
		if (p->h == h)
			return last = p;
	return NULL;
}

/* ---- errors ---- */

static int raise_code(struct pw_win *pw, int cls, const char *msg)
{
	int code = pw_error_code(cls, msg);

	if (pw)
		PMPI_Win_call_errhandler(pw->h, code);
	return code;
}

static int fail(struct pw_win *pw, int cls, const char *call,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(struct pw_win *pw, int cls, const char *call,
		const char *fmt, ...)
{
	char msg[MPI_MAX_ERROR_STRING], *p;
	int n;
	va_list ap;

	n = snprintf(msg, sizeof(msg), "libwin_pmpi: %s: ", call);
	p = msg + (n > 0 && (size_t)n < sizeof(msg) ? n : 0);
	va_start(ap, fmt);
	vsnprintf(p, sizeof(msg) - (size_t)(p - msg), fmt, ap);
	va_end(ap);
	return raise_code(pw, cls, msg);
}

/* A libwin status to an MPI code, through the window's error handler. */
static int werr(struct pw_win *pw, int st, const char *call)
{
	const char *m = win_last_error();

	return fail(pw, pw_class_of(st), call, "%s%s%s", win_strerror(st),
		    m && *m ? ": " : "", m ? m : "");
}

#define WCALL(pw, call, expr)                                   \
	do {                                                    \
		int st_ = (expr);                               \
		if (__builtin_expect(st_ != WIN_OK, 0))         \
			return werr((pw), st_, (call));         \
	} while (0)

/* ---- setup ---- */

static int ensure_ctx(void)
{
	int st;

	if (ctx)
		return WIN_OK;
	st = win_init(NULL, &ctx);
	return st;
}

static int make_group(MPI_Comm comm, win_group_t **g)
{
#ifdef PW_WITH_WIN_MPI
	return win_group_from_comm(ctx, comm, g);
#else
	char name[64];
	int r, n, st;

	PMPI_Comm_rank(comm, &r);
	PMPI_Comm_size(comm, &n);
	memset(name, 0, sizeof(name));
	if (r == 0)
		snprintf(name, sizeof(name), "pmpi-%d-%u", (int)getpid(),
			 group_seq++);
	PMPI_Bcast(name, sizeof(name), MPI_CHAR, 0, comm);
	st = win_group_join(ctx, name, n, r, g);
	return st;
#endif
}

static void read_info(struct pw_win *pw, MPI_Info info)
{
	int k, flag;
	char v[64];

	for (k = 0; k < PW_INFO_KEYS; k++) {
		if (info != MPI_INFO_NULL &&
		    PMPI_Info_get(info, info_keys[k], sizeof(v) - 1, v,
				  &flag) == MPI_SUCCESS && flag) {
			v[sizeof(v) - 1] = '\0';
			snprintf(pw->info[k], sizeof(pw->info[k]), "%s", v);
		} else if (info == MPI_INFO_NULL || !pw->info[k][0]) {
			snprintf(pw->info[k], sizeof(pw->info[k]), "%s",
				 info_defaults[k]);
		}
	}
}

/* Lowest address mapped in this process (for dynamic windows). */
static uintptr_t lowest_mapping(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned long lo = 0;

	if (f) {
		if (fscanf(f, "%lx", &lo) != 1)
			lo = 0;
		fclose(f);
	}
	return (uintptr_t)lo;
}

#define USER_TOP ((uintptr_t)1 << 47)

static void free_pw(struct pw_win *pw)
{
	if (pw->grp != MPI_GROUP_NULL)
		PMPI_Group_free(&pw->grp);
	free(pw->du);
	free(pw->dbase);
	free(pw->rc);
	free(pw);
}

/*
 * Dynamic windows: the table window, allocated over the same group and
 * kept in a lock_all epoch that takes no locks, so origins read tables at
 * any time.
 */
static int open_tables(struct pw_win *pw)
{
	void *b = NULL;
	int st;

	st = win_allocate(pw->g, sizeof(struct pw_rtab), 1, NULL, &b, &pw->tw);
	if (st != WIN_OK)
		return st;
	pw->rtab = b;
	memset(pw->rtab, 0, sizeof(*pw->rtab));
	st = win_lock_all(pw->tw, WIN_MODE_NOCHECK);
	if (st != WIN_OK) {
		win_free(pw->tw);
		pw->tw = NULL;
	}
	return st;
}

static int close_tables(struct pw_win *pw)
{
	int st;

	if (!pw->tw)
		return WIN_OK;
	st = win_unlock_all(pw->tw);
	if (st == WIN_OK)
		st = win_free(pw->tw);
	pw->tw = NULL;
	return st;
}

/* Collective window set-up for every flavour. */
static int setup(const char *call, int flavor, void *base, MPI_Aint size,
		 int disp_unit, MPI_Info info, MPI_Comm comm, void **basep,
		 MPI_Win *win)
{
	struct pw_win *pw;
	win_opts_t opts = { 0 };
	int st = WIN_OK, rc, ok, allok;
	void *b = base;

	if (!win)
		return fail(NULL, MPI_ERR_ARG, call, "window pointer is NULL");
	if (size < 0)
		return fail(NULL, MPI_ERR_SIZE, call, "negative size %ld",
			    (long)size);
	if (disp_unit < 1)
		return fail(NULL, MPI_ERR_DISP, call, "displacement unit %d",
			    disp_unit);
	pw = calloc(1, sizeof(*pw));
	if (!pw)
		return fail(NULL, MPI_ERR_NO_MEM, call, "out of memory");
	pw->grp = MPI_GROUP_NULL;
	rc = PMPI_Win_create(NULL, 0, 1, MPI_INFO_NULL, comm, &pw->h);
	if (rc != MPI_SUCCESS) {
		free(pw);
		return rc;
	}
	PMPI_Comm_rank(comm, &pw->rank);
	PMPI_Comm_size(comm, &pw->size);
	PMPI_Comm_group(comm, &pw->grp);
	pw->flavor = flavor;
	pw->model = MPI_WIN_UNIFIED;
	read_info(pw, info);
	if (!strcmp(pw->info[0], "true"))
		opts.flags |= WIN_OPT_NO_LOCKS;
	pw->du = calloc((size_t)pw->size, sizeof(int));
	if (flavor == MPI_WIN_FLAVOR_DYNAMIC) {
		pw->dbase = calloc((size_t)pw->size, sizeof(uintptr_t));
		pw->rc = calloc((size_t)pw->size, sizeof(*pw->rc));
		pw->epoch = 1;
	}

	/* Agree before the libwin collectives, so nobody waits on a rank
	 * that gave up. */
	if (!pw->du || (flavor == MPI_WIN_FLAVOR_DYNAMIC &&
			(!pw->dbase || !pw->rc)))
		st = WIN_ERR_NOMEM;
	if (st == WIN_OK)
		st = ensure_ctx();
	ok = st == WIN_OK;
	PMPI_Allreduce(&ok, &allok, 1, MPI_INT, MPI_LAND, comm);
	if (!allok)
		goto fail_early;
	st = make_group(comm, &pw->g);
	if (st == WIN_OK) {
		switch (flavor) {
		case MPI_WIN_FLAVOR_CREATE:
			st = win_create(pw->g, base, (size_t)size, 1, &opts,
					&pw->w);
			break;
		case MPI_WIN_FLAVOR_DYNAMIC: {
			uintptr_t lo = lowest_mapping();

			b = (void *)lo;
			st = win_create(pw->g, b, USER_TOP - lo, 1, &opts,
					&pw->w);
			if (st == WIN_OK && (st = open_tables(pw)) != WIN_OK) {
				win_free(pw->w);
				pw->w = NULL;
			}
			break;
		}
		default:
			st = win_allocate(pw->g, (size_t)size, 1, &opts, &b,
					  &pw->w);
			break;
		}
	}
	if (st != WIN_OK)
		goto fail_late;
	PMPI_Allgather(&disp_unit, 1, MPI_INT, pw->du, 1, MPI_INT, comm);
	if (flavor == MPI_WIN_FLAVOR_DYNAMIC) {
		uintptr_t me = (uintptr_t)b;

		PMPI_Allgather(&me, sizeof(me), MPI_BYTE, pw->dbase,
			       sizeof(me), MPI_BYTE, comm);
		pw->base = MPI_BOTTOM;
		pw->size_attr = 0;
	} else {
		pw->base = size ? b : (flavor == MPI_WIN_FLAVOR_CREATE ? base
								       : b);
		pw->size_attr = size;
	}
	pw->du_attr = disp_unit;
	if (basep)
		*(void **)basep = pw->base;
	pw->next = wins;
	wins = pw;
	*win = pw->h;
	return MPI_SUCCESS;

fail_late:
	rc = fail(NULL, pw_class_of(st), call, "%s: %s", win_strerror(st),
		  win_last_error());
	if (pw->g)
		win_group_leave(pw->g);
	PMPI_Win_free(&pw->h);
	free_pw(pw);
	return rc;
fail_early:
	rc = fail(NULL, st ? pw_class_of(st) : MPI_ERR_OTHER, call,
		  "%s", st ? win_last_error() : "another rank failed to set "
		  "up libwin");
	PMPI_Win_free(&pw->h);
	free_pw(pw);
	return rc;
}

int MPI_Win_create(void *base, MPI_Aint size, int disp_unit, MPI_Info info,
		   MPI_Comm comm, MPI_Win *win)
{
	return setup("MPI_Win_create", MPI_WIN_FLAVOR_CREATE, base, size,
		     disp_unit, info, comm, NULL, win);
}

int MPI_Win_allocate(MPI_Aint size, int disp_unit, MPI_Info info,
		     MPI_Comm comm, void *baseptr, MPI_Win *win)
{
	return setup("MPI_Win_allocate", MPI_WIN_FLAVOR_ALLOCATE, NULL, size,
		     disp_unit, info, comm, baseptr, win);
}

int MPI_Win_allocate_shared(MPI_Aint size, int disp_unit, MPI_Info info,
			    MPI_Comm comm, void *baseptr, MPI_Win *win)
{
	return setup("MPI_Win_allocate_shared", MPI_WIN_FLAVOR_SHARED, NULL,
		     size, disp_unit, info, comm, baseptr, win);
}

int MPI_Win_create_dynamic(MPI_Info info, MPI_Comm comm, MPI_Win *win)
{
	return setup("MPI_Win_create_dynamic", MPI_WIN_FLAVOR_DYNAMIC, NULL, 0,
		     1, info, comm, NULL, win);
}

/* The owner edits its table between two generation steps (seqlock). */
static void rtab_edit(struct pw_rtab *t, int add, uint64_t base,
		      uint64_t len, uint64_t i)
{
	uint64_t g = t->gen;

	__atomic_store_n(&t->gen, g + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	if (add) {
		t->r[t->n].base = base;
		t->r[t->n].len = len;
		t->n++;
	} else {
		t->r[i] = t->r[t->n - 1];
		t->n--;
	}
	__atomic_store_n(&t->gen, g + 2, __ATOMIC_RELEASE);
}

int MPI_Win_attach(MPI_Win win, void *base, MPI_Aint size)
{
	struct pw_win *pw = find(win);

	if (!pw)
		return PMPI_Win_attach(win, base, size);
	if (pw->flavor != MPI_WIN_FLAVOR_DYNAMIC)
		return fail(pw, MPI_ERR_RMA_FLAVOR, "MPI_Win_attach",
			    "the window is not dynamic");
	if (size < 0 || (size && !base))
		return fail(pw, MPI_ERR_ARG, "MPI_Win_attach",
			    "bad region (%p, %ld)", base, (long)size);
	if ((uintptr_t)base < pw->dbase[pw->rank] ||
	    (uintptr_t)base + (size_t)size > USER_TOP)
		return fail(pw, MPI_ERR_RMA_ATTACH, "MPI_Win_attach",
			    "region %p outside the reachable address range",
			    base);
	if (pw->rtab->n >= PW_REGIONS)
		return fail(pw, MPI_ERR_RMA_ATTACH, "MPI_Win_attach",
			    "%d regions are attached already, the most "
			    "libwin_pmpi keeps per window", PW_REGIONS);
	rtab_edit(pw->rtab, 1, (uintptr_t)base, (uint64_t)size, 0);
	return MPI_SUCCESS;
}

int MPI_Win_detach(MPI_Win win, const void *base)
{
	struct pw_win *pw = find(win);
	uint64_t i;

	if (!pw)
		return PMPI_Win_detach(win, base);
	if (pw->flavor != MPI_WIN_FLAVOR_DYNAMIC)
		return fail(pw, MPI_ERR_RMA_FLAVOR, "MPI_Win_detach",
			    "the window is not dynamic");
	for (i = 0; i < pw->rtab->n; i++) {
		if (pw->rtab->r[i].base == (uintptr_t)base) {
			rtab_edit(pw->rtab, 0, 0, 0, i);
			return MPI_SUCCESS;
		}
	}
	return fail(pw, MPI_ERR_ARG, "MPI_Win_detach",
		    "%p is not attached to the window", base);
}

int MPI_Win_free(MPI_Win *win)
{
	struct pw_win *pw, **pp;
	int st, rc;

	if (!win || !(pw = find(*win)))
		return PMPI_Win_free(win);
	st = win_free(pw->w);
	if (st != WIN_OK)
		return werr(pw, st, "MPI_Win_free");
	/* The window is gone: finish, reporting a failure to free the
	 * tables on the way. */
	st = close_tables(pw);
	rc = st == WIN_OK ? MPI_SUCCESS : werr(pw, st, "MPI_Win_free");
	win_group_leave(pw->g);
	for (pp = &wins; *pp; pp = &(*pp)->next)
		if (*pp == pw) {
			*pp = pw->next;
			break;
		}
	if (last == pw)
		last = NULL;
	PMPI_Win_free(&pw->h);
	*win = MPI_WIN_NULL;
	free_pw(pw);
	return rc;
}

/* ---- memory for windows ---- */

/*
 * MPI_Alloc_mem serves memory that same-host peers can map (win_mem_alloc),
 * so that a window MPI_Win_create'd over it is reached with loads, stores
 * and CPU atomics rather than a system call per access. What libwin does
 * not serve goes to the MPI library, and MPI_Free_mem hands it back there.
 */
int MPI_Alloc_mem(MPI_Aint size, MPI_Info info, void *baseptr)
{
	void *p = NULL;

	if (size > 0 && baseptr && ensure_ctx() == WIN_OK &&
	    win_mem_alloc(ctx, (size_t)size, &p) == WIN_OK) {
		memcpy(baseptr, &p, sizeof(p));
		return MPI_SUCCESS;
	}
	return PMPI_Alloc_mem(size, info, baseptr);
}

int MPI_Free_mem(void *base)
{
	int st;

	if (!ctx || !base)
		return PMPI_Free_mem(base);
	st = win_mem_free(ctx, base);
	if (st == WIN_OK)
		return MPI_SUCCESS;
	if (st == WIN_ERR_ARG) /* not ours */
		return PMPI_Free_mem(base);
	/* Still exposed by a window: kept, and the caller is told. */
	return fail(NULL, pw_class_of(st), "MPI_Free_mem", "%s",
		    win_last_error());
}

int MPI_Finalize(void)
{
	if (ctx) {
		win_finalize(ctx);
		ctx = NULL;
	}
	while (wins) {
		struct pw_win *pw = wins;

		wins = pw->next;
		free_pw(pw);
	}
	last = NULL;
	return PMPI_Finalize();
}

/* ---- attributes, info, shared memory ---- */

int MPI_Win_get_attr(MPI_Win win, int keyval, void *val, int *flag)
{
	struct pw_win *pw = find(win);

	if (!pw || !val || !flag)
		return PMPI_Win_get_attr(win, keyval, val, flag);
	if (keyval == MPI_WIN_BASE)
		*(void **)val = pw->base;
	else if (keyval == MPI_WIN_SIZE)
		*(MPI_Aint **)val = &pw->size_attr;
	else if (keyval == MPI_WIN_DISP_UNIT)
		*(int **)val = &pw->du_attr;
	else if (keyval == MPI_WIN_CREATE_FLAVOR)
		*(int **)val = &pw->flavor;
	else if (keyval == MPI_WIN_MODEL)
		*(int **)val = &pw->model;
	else
		return PMPI_Win_get_attr(win, keyval, val, flag);
	*flag = 1;
	return MPI_SUCCESS;
}

int MPI_Win_get_info(MPI_Win win, MPI_Info *info)
{
	struct pw_win *pw = find(win);
	int k, rc;

	if (!pw)
		return PMPI_Win_get_info(win, info);
	if (!info)
		return fail(pw, MPI_ERR_ARG, "MPI_Win_get_info",
			    "info pointer is NULL");
	if ((rc = PMPI_Info_create(info)) != MPI_SUCCESS)
		return rc;
	for (k = 0; k < PW_INFO_KEYS; k++)
		PMPI_Info_set(*info, info_keys[k], pw->info[k]);
	return MPI_SUCCESS;
}

int MPI_Win_set_info(MPI_Win win, MPI_Info info)
{
	struct pw_win *pw = find(win);

	if (!pw)
		return PMPI_Win_set_info(win, info);
	if (info != MPI_INFO_NULL)
		read_info(pw, info);
	return MPI_SUCCESS;
}

int MPI_Win_shared_query(MPI_Win win, int rank, MPI_Aint *size,
			 int *disp_unit, void *baseptr)
{
	struct pw_win *pw = find(win);
	void *b = NULL;
	size_t sz = 0;
	int st, r;

	if (!pw)
		return PMPI_Win_shared_query(win, rank, size, disp_unit, baseptr);
	if (pw->flavor != MPI_WIN_FLAVOR_SHARED &&
	    pw->flavor != MPI_WIN_FLAVOR_ALLOCATE)
		return fail(pw, MPI_ERR_RMA_FLAVOR, "MPI_Win_shared_query",
			    "the window was not made by MPI_Win_allocate_shared");
	if (rank == MPI_PROC_NULL) {
		/* the lowest rank with a non-empty part */
		for (r = 0; r < pw->size; r++) {
			st = win_shared_query(pw->w, r, &b, &sz, NULL);
			if (st != WIN_OK)
				return werr(pw, st, "MPI_Win_shared_query");
			if (sz)
				break;
		}
		if (r == pw->size)
			r = 0;
	} else {
		if (rank < 0 || rank >= pw->size)
			return fail(pw, MPI_ERR_RANK, "MPI_Win_shared_query",
				    "rank %d outside 0..%d", rank,
				    pw->size - 1);
		r = rank;
		st = win_shared_query(pw->w, r, &b, &sz, NULL);
		if (st != WIN_OK)
			return werr(pw, st, "MPI_Win_shared_query");
	}
	if (size)
		*size = (MPI_Aint)sz;
	if (disp_unit)
		*disp_unit = pw->du[r];
	if (baseptr)
		*(void **)baseptr = b;
	return MPI_SUCCESS;
}

/* ---- synchronization ---- */

static inline unsigned asserts(int a)
{
	unsigned f = 0;

	if (a & MPI_MODE_NOCHECK)
		f |= WIN_MODE_NOCHECK;
	if (a & MPI_MODE_NOSTORE)
		f |= WIN_MODE_NOSTORE;
	if (a & MPI_MODE_NOPUT)
		f |= WIN_MODE_NOPUT;
	if (a & MPI_MODE_NOPRECEDE)
		f |= WIN_MODE_NOPRECEDE;
	if (a & MPI_MODE_NOSUCCEED)
		f |= WIN_MODE_NOSUCCEED;
	return f;
}

int MPI_Win_fence(int a, MPI_Win win)
{
	struct pw_win *pw = find(win);

	if (!pw)
		return PMPI_Win_fence(a, win);
	WCALL(pw, "MPI_Win_fence", win_fence(pw->w, asserts(a)));
	pw->epoch++;
	return MPI_SUCCESS;
}

/* Ranks of an MPI group in the window's group. */
static int group_ranks(struct pw_win *pw, MPI_Group g, const char *call,
		       int **out, int *n)
{
	int *in, *r, i, rc;

	if (g == MPI_GROUP_NULL)
		return fail(pw, MPI_ERR_GROUP, call, "MPI_GROUP_NULL");
	PMPI_Group_size(g, n);
	in = malloc(sizeof(int) * (size_t)(*n + 1));
	r = malloc(sizeof(int) * (size_t)(*n + 1));
	if (!in || !r) {
		free(in);
		free(r);
		return fail(pw, MPI_ERR_NO_MEM, call, "out of memory");
	}
	for (i = 0; i < *n; i++)
		in[i] = i;
	rc = PMPI_Group_translate_ranks(g, *n, in, pw->grp, r);
	free(in);
	if (rc != MPI_SUCCESS) {
		free(r);
		return raise_code(pw, rc, "group translation failed");
	}
	for (i = 0; i < *n; i++)
		if (r[i] == MPI_UNDEFINED) {
			free(r);
			return fail(pw, MPI_ERR_GROUP, call, "member %d of the "
				    "group is not in the window's group", i);
		}
	*out = r;
	return MPI_SUCCESS;
}

static int pscw(int post, MPI_Group g, int a, MPI_Win win)
{
	struct pw_win *pw = find(win);
	const char *call = post ? "MPI_Win_post" : "MPI_Win_start";
	int *r = NULL, n = 0, rc, st;

	if (!pw)
		return post ? PMPI_Win_post(g, a, win) : PMPI_Win_start(g, a, win);
	if ((rc = group_ranks(pw, g, call, &r, &n)))
		return rc;
	st = post ? win_post(pw->w, r, n, asserts(a)) :
		    win_start(pw->w, r, n, asserts(a));
	free(r);
	if (st != WIN_OK)
		return werr(pw, st, call);
	pw->epoch++;
	return MPI_SUCCESS;
}

int MPI_Win_post(MPI_Group g, int a, MPI_Win win)
{
	return pscw(1, g, a, win);
}

int MPI_Win_start(MPI_Group g, int a, MPI_Win win)
{
	return pscw(0, g, a, win);
}

#define SIMPLE_SYNC(name, pname, expr)                          \
	int name(MPI_Win win)                                   \
	{                                                       \
		struct pw_win *pw = find(win);                  \
		if (!pw)                                        \
			return pname(win);                      \
		WCALL(pw, #name, expr);                         \
		return MPI_SUCCESS;                             \
	}

SIMPLE_SYNC(MPI_Win_complete, PMPI_Win_complete, win_complete(pw->w))
SIMPLE_SYNC(MPI_Win_wait, PMPI_Win_wait, win_wait(pw->w))
SIMPLE_SYNC(MPI_Win_unlock_all, PMPI_Win_unlock_all, win_unlock_all(pw->w))
SIMPLE_SYNC(MPI_Win_flush_all, PMPI_Win_flush_all, win_flush_all(pw->w))
SIMPLE_SYNC(MPI_Win_flush_local_all, PMPI_Win_flush_local_all,
	    win_flush_local_all(pw->w))
SIMPLE_SYNC(MPI_Win_sync, PMPI_Win_sync, win_sync(pw->w))

int MPI_Win_test(MPI_Win win, int *flag)
{
	struct pw_win *pw = find(win);

	if (!pw)
		return PMPI_Win_test(win, flag);
	if (!flag)
		return fail(pw, MPI_ERR_ARG, "MPI_Win_test", "flag is NULL");
	WCALL(pw, "MPI_Win_test", win_test(pw->w, flag));
	return MPI_SUCCESS;
}

int MPI_Win_lock(int type, int rank, int a, MPI_Win win)
{
	struct pw_win *pw = find(win);
	int t;

	if (!pw)
		return PMPI_Win_lock(type, rank, a, win);
	if (type == MPI_LOCK_SHARED)
		t = WIN_LOCK_SHARED;
	else if (type == MPI_LOCK_EXCLUSIVE)
		t = WIN_LOCK_EXCLUSIVE;
	else
		return fail(pw, MPI_ERR_LOCKTYPE, "MPI_Win_lock",
			    "lock type %d", type);
	if (rank == MPI_PROC_NULL)
		return MPI_SUCCESS;
	WCALL(pw, "MPI_Win_lock", win_lock(pw->w, t, rank, asserts(a)));
	pw->epoch++;
	return MPI_SUCCESS;
}

int MPI_Win_lock_all(int a, MPI_Win win)
{
	struct pw_win *pw = find(win);

	if (!pw)
		return PMPI_Win_lock_all(a, win);
	WCALL(pw, "MPI_Win_lock_all", win_lock_all(pw->w, asserts(a)));
	pw->epoch++;
	return MPI_SUCCESS;
}

#define RANK_SYNC(name, pname, fn)                              \
	int name(int rank, MPI_Win win)                         \
	{                                                       \
		struct pw_win *pw = find(win);                  \
		if (__builtin_expect(!pw, 0))                   \
			return pname(rank, win);                \
		if (rank == MPI_PROC_NULL)                      \
			return MPI_SUCCESS;                     \
		WCALL(pw, #name, fn(pw->w, rank));              \
		return MPI_SUCCESS;                             \
	}

RANK_SYNC(MPI_Win_unlock, PMPI_Win_unlock, win_unlock)
RANK_SYNC(MPI_Win_flush, PMPI_Win_flush, win_flush)
RANK_SYNC(MPI_Win_flush_local, PMPI_Win_flush_local, win_flush_local)

/* ---- one-sided operations ---- */

/* Dynamic windows: does [a, a + len) lie inside one cached region? */
static int covered(const struct pw_rcache *c, uint64_t a, uint64_t len)
{
	for (int i = 0; i < c->n; i++)
		if (a >= c->r[i].base && a - c->r[i].base <= c->r[i].len &&
		    len <= c->r[i].len - (a - c->r[i].base))
			return 1;
	return 0;
}

/* Read `rank`'s region table into the cache: header, regions, then the
 * generation again, until one reading saw no edit. */
static int fetch_table(struct pw_win *pw, const char *call, int rank)
{
	struct pw_rcache *c = &pw->rc[rank];
	struct { uint64_t gen, n; } h;
	uint64_t again;
	int st, tries;

	c->epoch = 0;
	c->n = 0;
	for (tries = 0; tries < 1000; tries++) {
		st = win_get(pw->tw, &h, sizeof(h), rank, 0);
		if (st == WIN_OK && !(h.gen & 1) && h.n <= PW_REGIONS) {
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			st = win_get(pw->tw, c->r, h.n * sizeof(c->r[0]), rank,
				     offsetof(struct pw_rtab, r));
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			if (st == WIN_OK)
				st = win_get(pw->tw, &again, sizeof(again), rank,
					     0);
			if (st == WIN_OK && again == h.gen) {
				c->n = (int)h.n;
				c->epoch = pw->epoch;
				return MPI_SUCCESS;
			}
		}
		if (st != WIN_OK)
			return werr(pw, st, call);
		sched_yield();
	}
	return fail(pw, MPI_ERR_RMA_RANGE, call, "rank %d's table of "
		    "attached regions kept changing", rank);
}

/*
 * Dynamic windows: bytes [a, a + len) at `rank` must lie in one region it
 * has attached. The cache is read first in each epoch, and again on a miss.
 */
static int attached(struct pw_win *pw, const char *call, int rank,
		    uint64_t a, uint64_t len)
{
	struct pw_rcache *c = &pw->rc[rank];
	int rc, fresh = 0;

	if (c->epoch != pw->epoch) {
		if ((rc = fetch_table(pw, call, rank)))
			return rc;
		fresh = 1;
	}
	if (covered(c, a, len))
		return MPI_SUCCESS;
	if (!fresh) {
		if ((rc = fetch_table(pw, call, rank)))
			return rc;
		if (covered(c, a, len))
			return MPI_SUCCESS;
	}
	return fail(pw, MPI_ERR_RMA_RANGE, call, "%llu bytes at %#llx are not "
		    "inside one region rank %d has attached to the dynamic "
		    "window", (unsigned long long)len, (unsigned long long)a,
		    rank);
}

/* tbyte() for dynamic windows: the bytes reached must be attached. */
static __attribute__((noinline)) int
dyn_off(struct pw_win *pw, const char *call, int rank, MPI_Aint disp,
	const struct pw_dtype *d, int count, size_t *off)
{
	MPI_Aint lo, hi, rep;
	int rc;

	if (count > 0 && d->hi > d->lo) {
		/* the bytes reached: [disp + lo, disp + hi) */
		if (__builtin_mul_overflow(d->extent, (MPI_Aint)(count - 1),
					   &rep) ||
		    __builtin_add_overflow(d->lo, rep < 0 ? rep : 0, &lo) ||
		    __builtin_add_overflow(d->hi, rep > 0 ? rep : 0, &hi) ||
		    __builtin_add_overflow(disp, lo, &lo) ||
		    __builtin_add_overflow(disp, hi, &hi) || lo < 0)
			return fail(pw, MPI_ERR_RMA_RANGE, call, "%d instances "
				    "of the target datatype at %#lx overflow "
				    "the address space", count,
				    (unsigned long)disp);
		if ((rc = attached(pw, call, rank, (uint64_t)lo,
				   (uint64_t)(hi - lo))))
			return rc;
	}
	/* (an empty access far outside is refused by libwin) */
	*off = (uintptr_t)disp - pw->dbase[rank];
	return MPI_SUCCESS;
}

/*
 * Target displacement to a byte offset in the libwin window; `count`
 * instances of `d` will be reached there (dynamic windows check them).
 */
static inline int tbyte(struct pw_win *pw, const char *call, int rank,
			MPI_Aint disp, const struct pw_dtype *d, int count,
			size_t *off)
{
	if (__builtin_expect((unsigned)rank >= (unsigned)pw->size, 0))
		return fail(pw, MPI_ERR_RANK, call, "target rank %d outside "
			    "0..%d", rank, pw->size - 1);
	if (__builtin_expect(pw->dbase != NULL, 0))
		return dyn_off(pw, call, rank, disp, d, count, off);
	if (__builtin_expect(disp < 0, 0))
		return fail(pw, MPI_ERR_DISP, call, "negative displacement "
			    "%ld", (long)disp);
	if (__builtin_expect(__builtin_mul_overflow((size_t)disp,
						    (size_t)pw->du[rank], off),
			     0))
		return fail(pw, MPI_ERR_DISP, call, "displacement %ld times "
			    "unit %d overflows", (long)disp, pw->du[rank]);
	return MPI_SUCCESS;
}

static inline int type_ok(struct pw_win *pw, const char *call,
			  const struct pw_dtype *d, int count, const char *side)
{
	if (__builtin_expect(d->err != 0, 0))
		return fail(pw, d->err, call, "%s datatype: %s", side, d->why);
	if (__builtin_expect(count < 0, 0))
		return fail(pw, MPI_ERR_COUNT, call, "%s count %d", side, count);
	return MPI_SUCCESS;
}

/* iovec of `count` instances of `d` at `buf`. */
static struct iovec *make_iov(const struct pw_dtype *d, const void *buf,
			      int count, int *n)
{
	struct iovec *v = malloc(sizeof(*v) * ((size_t)d->nseg * (size_t)count + 1));
	int i, j, k = 0;

	if (!v)
		return NULL;
	for (i = 0; i < count; i++)
		for (j = 0; j < d->nseg; j++) {
			v[k].iov_base = (char *)buf + d->extent * i + d->seg[j].off;
			v[k].iov_len = (size_t)d->seg[j].len;
			k++;
		}
	*n = k;
	return v;
}

static win_seg_t *make_segs(const struct pw_dtype *d, size_t off, int count,
			    int *n)
{
	win_seg_t *s = malloc(sizeof(*s) * ((size_t)d->nseg * (size_t)count + 1));
	int i, j, k = 0;

	if (!s)
		return NULL;
	for (i = 0; i < count; i++)
		for (j = 0; j < d->nseg; j++) {
			s[k].disp = off + (size_t)(d->extent * i + d->seg[j].off);
			s[k].len = (size_t)d->seg[j].len;
			k++;
		}
	*n = k;
	return s;
}

/* Put (is_put) or get between an origin buffer and a target. */
static __attribute__((noinline)) int
xfer(int is_put, const char *call, void *oaddr, int ocount, MPI_Datatype otype,
     int trank, MPI_Aint tdisp, int tcount, MPI_Datatype ttype,
     struct pw_win *pw)
{
	const struct pw_dtype *od, *td;
	struct iovec *iov;
	win_seg_t *segs;
	size_t off = 0, len;
	int rc, st, ni, ns;

	if (trank == MPI_PROC_NULL)
		return MPI_SUCCESS;
	od = pw_dtype_get(otype);
	td = ttype == otype ? od : pw_dtype_get(ttype);
	if ((rc = type_ok(pw, call, od, ocount, "origin")) ||
	    (rc = type_ok(pw, call, td, tcount, "target")) ||
	    (rc = tbyte(pw, call, trank, tdisp, td, tcount, &off)))
		return rc;
	len = (size_t)od->size * (size_t)ocount;
	if (__builtin_expect(len != (size_t)td->size * (size_t)tcount, 0))
		return fail(pw, MPI_ERR_TYPE, call, "origin (%zu bytes) and "
			    "target (%zu bytes) do not match", len,
			    (size_t)td->size * (size_t)tcount);
	if (__builtin_expect(od->contig && td->contig, 1)) {
		st = is_put ? win_put(pw->w, oaddr, len, trank, off) :
			      win_get(pw->w, oaddr, len, trank, off);
		if (__builtin_expect(st != WIN_OK, 0))
			return werr(pw, st, call);
		return MPI_SUCCESS;
	}
	if (len == 0)
		return MPI_SUCCESS;
	iov = make_iov(od, oaddr, ocount, &ni);
	segs = make_segs(td, off, tcount, &ns);
	if (!iov || !segs) {
		free(iov);
		free(segs);
		return fail(pw, MPI_ERR_NO_MEM, call, "out of memory");
	}
	st = is_put ? win_putv(pw->w, iov, ni, trank, segs, ns) :
		      win_getv(pw->w, iov, ni, trank, segs, ns);
	free(iov);
	free(segs);
	if (st != WIN_OK)
		return werr(pw, st, call);
	return MPI_SUCCESS;
}

/*
 * MPI_Put and MPI_Get. The common case is inline: one contiguous datatype
 * and count on both sides, a rank of the window, a displacement that
 * scales without overflow, not a dynamic window; it passes every check
 * xfer() makes. Anything else, and every error report, is xfer()'s. libwin
 * checks the epoch and the bounds either way.
 */
static inline __attribute__((always_inline)) int
put_get(int is_put, const char *call, void *oaddr, int ocount,
	MPI_Datatype otype, int trank, MPI_Aint tdisp, int tcount,
	MPI_Datatype ttype, MPI_Win win)
{
	struct pw_win *pw = find(win);
	const struct pw_dtype *d;
	size_t len, off;
	int st;

	if (__builtin_expect(!pw, 0))
		return is_put ? PMPI_Put(oaddr, ocount, otype, trank, tdisp,
					 tcount, ttype, win) :
				PMPI_Get(oaddr, ocount, otype, trank, tdisp,
					 tcount, ttype, win);
	/* (a datatype other than the last one looked up: xfer() looks) */
	if (__builtin_expect(otype != ttype || otype != pw_last_type ||
			     ocount != tcount || ocount < 0 || tdisp < 0 ||
			     pw->dbase || (unsigned)trank >= (unsigned)pw->size,
			     0))
		goto general;
	d = pw_last_dtype;
	if (__builtin_expect(!d->contig ||
			     __builtin_mul_overflow((size_t)d->size,
						    (size_t)ocount, &len) ||
			     __builtin_mul_overflow((size_t)tdisp,
						    (size_t)pw->du[trank], &off),
			     0))
		goto general;
	st = is_put ? win_put(pw->w, oaddr, len, trank, off) :
		      win_get(pw->w, oaddr, len, trank, off);
	if (__builtin_expect(st == WIN_OK, 1))
		return MPI_SUCCESS;
	return werr(pw, st, call);
general:
	return xfer(is_put, call, oaddr, ocount, otype, trank, tdisp, tcount,
		    ttype, pw);
}

int MPI_Put(const void *oaddr, int ocount, MPI_Datatype otype, int trank,
	    MPI_Aint tdisp, int tcount, MPI_Datatype ttype, MPI_Win win)
{
	return put_get(1, "MPI_Put", (void *)oaddr, ocount, otype, trank,
		       tdisp, tcount, ttype, win);
}

int MPI_Get(void *oaddr, int ocount, MPI_Datatype otype, int trank,
	    MPI_Aint tdisp, int tcount, MPI_Datatype ttype, MPI_Win win)
{
	return put_get(0, "MPI_Get", oaddr, ocount, otype, trank, tdisp,
		       tcount, ttype, win);
}

/* Copy between a packed buffer and `count` instances of `d` at `buf`. */
static void pack(const struct pw_dtype *d, const void *buf, int count,
		 char *out)
{
	for (int i = 0; i < count; i++)
		for (int j = 0; j < d->nseg; j++) {
			memcpy(out, (const char *)buf + d->extent * i +
			       d->seg[j].off, (size_t)d->seg[j].len);
			out += d->seg[j].len;
		}
}

static void unpack(const struct pw_dtype *d, void *buf, int count,
		   const char *in)
{
	for (int i = 0; i < count; i++)
		for (int j = 0; j < d->nseg; j++) {
			memcpy((char *)buf + d->extent * i + d->seg[j].off, in,
			       (size_t)d->seg[j].len);
			in += d->seg[j].len;
		}
}

/*
 * Accumulate and get-accumulate, any datatypes of one libwin element type.
 * result == NULL for accumulate.
 */
static int acc(const char *call, const void *oaddr, int ocount,
	       MPI_Datatype otype, void *raddr, int rcount, MPI_Datatype rtype,
	       int trank, MPI_Aint tdisp, int tcount, MPI_Datatype ttype,
	       MPI_Op op, struct pw_win *pw, int fetch)
{
	const struct pw_dtype *od = NULL, *td, *rd = NULL;
	const char *src;
	char *tmp_o = NULL, *tmp_r = NULL, *res;
	size_t off = 0, len, pos;
	int rc, st = WIN_OK, wop, i, j, noop;

	if (trank == MPI_PROC_NULL)
		return MPI_SUCCESS;
	wop = pw_op_of(op);
	if (!wop)
		return fail(pw, MPI_ERR_OP, call, "%s is not supported by "
			    "libwin (it has sum, prod, min, max, band, bor, "
			    "bxor, replace, no_op)", pw_op_name(op));
	noop = wop == WIN_OP_NO_OP;
	if (noop && !fetch)
		return MPI_SUCCESS; /* accumulate with MPI_NO_OP: nothing */
	td = pw_dtype_get(ttype);
	if ((rc = type_ok(pw, call, td, tcount, "target")) ||
	    (rc = tbyte(pw, call, trank, tdisp, td, tcount, &off)))
		return rc;
	if (!td->wtype)
		return fail(pw, MPI_ERR_TYPE, call, "the target datatype is "
			    "not made of one element type libwin can "
			    "accumulate (int32/64, uint32/64, float, double)");
	len = (size_t)td->size * (size_t)tcount;
	if (!noop) {
		od = otype == ttype ? td : pw_dtype_get(otype);
		if ((rc = type_ok(pw, call, od, ocount, "origin")))
			return rc;
		if (od->wtype != td->wtype)
			return fail(pw, MPI_ERR_TYPE, call, "origin and target "
				    "element types differ");
		if ((size_t)od->size * (size_t)ocount != len)
			return fail(pw, MPI_ERR_TYPE, call, "origin and target "
				    "sizes differ");
	}
	if (fetch) {
		rd = rtype == ttype ? td : pw_dtype_get(rtype);
		if ((rc = type_ok(pw, call, rd, rcount, "result")))
			return rc;
		if (rd->wtype != td->wtype ||
		    (size_t)rd->size * (size_t)rcount != len)
			return fail(pw, MPI_ERR_TYPE, call, "result and target "
				    "datatypes do not match");
	}
	if (len == 0)
		return MPI_SUCCESS;
	/* Origin packed, result packed. */
	if (noop) {
		src = NULL;
	} else if (od->contig) {
		src = oaddr;
	} else {
		tmp_o = malloc(len);
		if (!tmp_o)
			return fail(pw, MPI_ERR_NO_MEM, call, "out of memory");
		pack(od, oaddr, ocount, tmp_o);
		src = tmp_o;
	}
	if (fetch && !rd->contig) {
		tmp_r = malloc(len);
		if (!tmp_r) {
			free(tmp_o);
			return fail(pw, MPI_ERR_NO_MEM, call, "out of memory");
		}
		res = tmp_r;
	} else {
		res = raddr;
	}
	if (noop) {
		/* the operand is ignored; give libwin the result buffer */
		src = res;
	}
	pos = 0;
	for (i = 0; i < tcount && st == WIN_OK; i++)
		for (j = 0; j < td->nseg && st == WIN_OK; j++) {
			size_t n = (size_t)td->seg[j].len / td->esize;
			size_t d = off + (size_t)(td->extent * i + td->seg[j].off);

			if (fetch)
				st = win_get_accumulate(pw->w, src + pos,
							res + pos, n,
							(win_datatype_t)td->wtype,
							(win_op_t)wop, trank, d);
			else
				st = win_accumulate(pw->w, src + pos, n,
						    (win_datatype_t)td->wtype,
						    (win_op_t)wop, trank, d);
			pos += (size_t)td->seg[j].len;
		}
	if (st == WIN_OK && tmp_r)
		unpack(rd, raddr, rcount, tmp_r);
	free(tmp_o);
	free(tmp_r);
	if (st != WIN_OK)
		return werr(pw, st, call);
	return MPI_SUCCESS;
}

int MPI_Accumulate(const void *oaddr, int ocount, MPI_Datatype otype,
		   int trank, MPI_Aint tdisp, int tcount, MPI_Datatype ttype,
		   MPI_Op op, MPI_Win win)
{
	struct pw_win *pw = find(win);

	if (!pw)
		return PMPI_Accumulate(oaddr, ocount, otype, trank, tdisp,
				       tcount, ttype, op, win);
	return acc("MPI_Accumulate", oaddr, ocount, otype, NULL, 0,
		   MPI_DATATYPE_NULL, trank, tdisp, tcount, ttype, op, pw, 0);
}

int MPI_Get_accumulate(const void *oaddr, int ocount, MPI_Datatype otype,
		       void *raddr, int rcount, MPI_Datatype rtype, int trank,
		       MPI_Aint tdisp, int tcount, MPI_Datatype ttype,
		       MPI_Op op, MPI_Win win)
{
	struct pw_win *pw = find(win);

	if (!pw)
		return PMPI_Get_accumulate(oaddr, ocount, otype, raddr, rcount,
					   rtype, trank, tdisp, tcount, ttype,
					   op, win);
	return acc("MPI_Get_accumulate", oaddr, ocount, otype, raddr, rcount,
		   rtype, trank, tdisp, tcount, ttype, op, pw, 1);
}

/* One element: the type must be predefined and libwin's. */
static inline int elem_type(struct pw_win *pw, const char *call,
			    MPI_Datatype t, const struct pw_dtype **dp)
{
	const struct pw_dtype *d = pw_dtype_get(t);

	if (__builtin_expect(d->err || !d->wtype || d->size != (MPI_Aint)d->esize, 0))
		return fail(pw, MPI_ERR_TYPE, call, "datatype is not one "
			    "element of int32/64, uint32/64, float or double"
			    "%s%s", d->err ? ": " : "", d->err ? d->why : "");
	*dp = d;
	return MPI_SUCCESS;
}

int MPI_Fetch_and_op(const void *oaddr, void *raddr, MPI_Datatype type,
		     int trank, MPI_Aint tdisp, MPI_Op op, MPI_Win win)
{
	struct pw_win *pw = find(win);
	const struct pw_dtype *d = NULL;
	size_t off = 0;
	int rc, wop;

	if (__builtin_expect(!pw, 0))
		return PMPI_Fetch_and_op(oaddr, raddr, type, trank, tdisp, op,
					 win);
	if (trank == MPI_PROC_NULL)
		return MPI_SUCCESS;
	if ((rc = elem_type(pw, "MPI_Fetch_and_op", type, &d)) ||
	    (rc = tbyte(pw, "MPI_Fetch_and_op", trank, tdisp, d, 1, &off)))
		return rc;
	wop = pw_op_of(op);
	if (!wop)
		return fail(pw, MPI_ERR_OP, "MPI_Fetch_and_op", "%s is not "
			    "supported by libwin", pw_op_name(op));
	if (!oaddr)
		oaddr = raddr; /* MPI_NO_OP may pass no operand */
	WCALL(pw, "MPI_Fetch_and_op",
	      win_fetch_op(pw->w, oaddr, raddr, (win_datatype_t)d->wtype,
			   (win_op_t)wop, trank, off));
	return MPI_SUCCESS;
}

int MPI_Compare_and_swap(const void *oaddr, const void *caddr, void *raddr,
			 MPI_Datatype type, int trank, MPI_Aint tdisp,
			 MPI_Win win)
{
	struct pw_win *pw = find(win);
	const struct pw_dtype *d = NULL;
	size_t off = 0;
	int rc;

	if (__builtin_expect(!pw, 0))
		return PMPI_Compare_and_swap(oaddr, caddr, raddr, type, trank,
					     tdisp, win);
	if (trank == MPI_PROC_NULL)
		return MPI_SUCCESS;
	if ((rc = elem_type(pw, "MPI_Compare_and_swap", type, &d)) ||
	    (rc = tbyte(pw, "MPI_Compare_and_swap", trank, tdisp, d, 1, &off)))
		return rc;
	WCALL(pw, "MPI_Compare_and_swap",
	      win_compare_swap(pw->w, caddr, oaddr, raddr,
			       (win_datatype_t)d->wtype,
			       trank, off));
	return MPI_SUCCESS;
}

/* ---- request-based operations ---- */

static int greq_query(void *extra, MPI_Status *status)
{
	PMPI_Status_set_elements(status, MPI_BYTE, 0);
	PMPI_Status_set_cancelled(status, 0);
	status->MPI_SOURCE = MPI_UNDEFINED;
	status->MPI_TAG = MPI_UNDEFINED;
	return MPI_SUCCESS;
}

static int greq_free(void *extra)
{
	return MPI_SUCCESS;
}

static int greq_cancel(void *extra, int complete)
{
	return MPI_SUCCESS;
}

/*
 * Request-based operations belong to passive-target epochs (MPI-3.1
 * 11.3.5). libwin keeps the epoch state: win_check_passive refuses a
 * target that is neither locked nor under lock_all. A bad rank is left to
 * the operation.
 */
static int passive(struct pw_win *pw, const char *call, int trank)
{
	int st;

	if (trank == MPI_PROC_NULL || (unsigned)trank >= (unsigned)pw->size)
		return MPI_SUCCESS;
	st = win_check_passive(pw->w, trank);
	if (__builtin_expect(st == WIN_ERR_SYNC, 0))
		return fail(pw, MPI_ERR_RMA_SYNC, call, "only allowed in a "
			    "passive-target epoch (MPI_Win_lock of rank %d or "
			    "MPI_Win_lock_all)", trank);
	return st == WIN_OK ? MPI_SUCCESS : werr(pw, st, call);
}

/* The operation is done: hand back a request that is already complete. */
static int done_request(int rc, MPI_Request *req)
{
	if (!req)
		return rc ? rc : MPI_ERR_REQUEST;
	if (rc != MPI_SUCCESS) {
		*req = MPI_REQUEST_NULL;
		return rc;
	}
	rc = PMPI_Grequest_start(greq_query, greq_free, greq_cancel, NULL, req);
	if (rc == MPI_SUCCESS)
		rc = PMPI_Grequest_complete(*req);
	return rc;
}

int MPI_Rput(const void *oaddr, int ocount, MPI_Datatype otype, int trank,
	     MPI_Aint tdisp, int tcount, MPI_Datatype ttype, MPI_Win win,
	     MPI_Request *req)
{
	struct pw_win *pw = find(win);

	if (!pw)
		return PMPI_Rput(oaddr, ocount, otype, trank, tdisp, tcount,
				 ttype, win, req);
	return done_request(passive(pw, "MPI_Rput", trank) ?:
			    xfer(1, "MPI_Rput", (void *)oaddr, ocount, otype,
				 trank, tdisp, tcount, ttype, pw), req);
}

int MPI_Rget(void *oaddr, int ocount, MPI_Datatype otype, int trank,
	     MPI_Aint tdisp, int tcount, MPI_Datatype ttype, MPI_Win win,
	     MPI_Request *req)
{
	struct pw_win *pw = find(win);

	if (!pw)
		return PMPI_Rget(oaddr, ocount, otype, trank, tdisp, tcount,
				 ttype, win, req);
	return done_request(passive(pw, "MPI_Rget", trank) ?:
			    xfer(0, "MPI_Rget", oaddr, ocount, otype, trank,
				 tdisp, tcount, ttype, pw), req);
}

int MPI_Raccumulate(const void *oaddr, int ocount, MPI_Datatype otype,
		    int trank, MPI_Aint tdisp, int tcount, MPI_Datatype ttype,
		    MPI_Op op, MPI_Win win, MPI_Request *req)
{
	struct pw_win *pw = find(win);

	if (!pw)
		return PMPI_Raccumulate(oaddr, ocount, otype, trank, tdisp,
					tcount, ttype, op, win, req);
	return done_request(passive(pw, "MPI_Raccumulate", trank) ?:
			    acc("MPI_Raccumulate", oaddr, ocount, otype, NULL,
				0, MPI_DATATYPE_NULL, trank, tdisp, tcount,
				ttype, op, pw, 0), req);
}

int MPI_Rget_accumulate(const void *oaddr, int ocount, MPI_Datatype otype,
			void *raddr, int rcount, MPI_Datatype rtype, int trank,
			MPI_Aint tdisp, int tcount, MPI_Datatype ttype,
			MPI_Op op, MPI_Win win, MPI_Request *req)
{
	struct pw_win *pw = find(win);

	if (!pw)
		return PMPI_Rget_accumulate(oaddr, ocount, otype, raddr, rcount,
					    rtype, trank, tdisp, tcount, ttype,
					    op, win, req);
	return done_request(passive(pw, "MPI_Rget_accumulate", trank) ?:
			    acc("MPI_Rget_accumulate", oaddr, ocount, otype,
				raddr, rcount, rtype, trank, tdisp, tcount,
				ttype, op, pw, 1), req);
}
