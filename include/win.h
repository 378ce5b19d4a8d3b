/*
 * libwin: one-sided communication through registered memory windows.
 *
 * The model follows MPI-3 RMA. Processes form a *group* (ranks 0..n-1). A
 * *window* is memory every member registers collectively; each member
 * exposes its own part. Operations (put, get, atomics, put-with-signal) are
 * legal only inside an *epoch* that permits them:
 *
 *   fence           win_fence() .. win_fence()            (collective)
 *   active target   win_post()/win_wait() at the target,
 *                   win_start()/win_complete() at the origin
 *   passive target  win_lock()/win_unlock(), win_lock_all()/win_unlock_all()
 *
 * An operation issued outside such an epoch fails with WIN_ERR_SYNC and does
 * nothing.  Passive target never needs the target to call into the library.
 *
 * Don't touch: while a window is exposed (between fences, or between post and
 * wait) its memory belongs to the epoch. With WIN_OPT_ENFORCE_DONT_TOUCH on an
 * allocated window the owner's own mapping is revoked for the exposure epoch:
 * a stray load or store raises SIGSEGV (si_code SEGV_ACCERR). (On kshim the
 * module also revokes the kernel-owned pages themselves, so any other view
 * of them the process made faults with SIGBUS.) Use put/get to your own
 * rank instead.
 *
 * Every function returns WIN_OK (0) or a negative WIN_ERR_* code; nothing in
 * the library aborts or exits the process. win_strerror() names a code and
 * win_last_error() gives the detailed message of the calling thread's last
 * failure.
 *
 * Threading: a context, its groups and windows are used by one thread at a
 * time (like MPI_THREAD_SERIALIZED).
 */
#ifndef LIBWIN_WIN_H
#define LIBWIN_WIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

#define WIN_VERSION_MAJOR 0
#define WIN_VERSION_MINOR 1

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

enum win_status {
	WIN_OK = 0,
	WIN_ERR_ARG = -1,        /* a malformed argument (NULL, bad flag) */
	WIN_ERR_RANK = -2,       /* rank outside 0..size-1 */
	WIN_ERR_DISP = -3,       /* displacement outside the target's window */
	WIN_ERR_LENGTH = -4,     /* disp + length runs past the window's end */
	WIN_ERR_DATATYPE = -5,   /* unknown datatype, or misaligned element */
	WIN_ERR_OP = -6,         /* unknown op, or op not defined on the type */
	WIN_ERR_SYNC = -7,       /* call not allowed in the current epoch state */
	WIN_ERR_HANDLE = -8,     /* freed, finalized or foreign handle */
	WIN_ERR_NOMEM = -9,      /* out of memory */
	WIN_ERR_SYS = -10,       /* a system call failed (message has errno) */
	WIN_ERR_PERM = -11,      /* the kernel refused access (ptrace, caps) */
	WIN_ERR_PEER = -12,      /* a peer process died or left */
	WIN_ERR_TIMEOUT = -13,   /* a bounded wait ran out */
	WIN_ERR_UNSUPPORTED = -14, /* not available on this transport/build */
	WIN_ERR_TRANSPORT = -15, /* no transport reaches the peer, or it failed */
	WIN_ERR_MISMATCH = -16,  /* members disagree (group size, collective args) */
};

/* Short fixed description of a status code; never NULL. */
const char *win_strerror(int status);

/* Detailed message of the calling thread's most recent failure ("" if none). */
const char *win_last_error(void);

/* ------------------------------------------------------------------ */
/* Context                                                             */
/* ------------------------------------------------------------------ */

typedef struct win_ctx win_ctx_t;

enum win_log_level {
	WIN_LOG_NONE = 0,
	WIN_LOG_ERROR = 1,
	WIN_LOG_WARN = 2,
	WIN_LOG_INFO = 3,
	WIN_LOG_DEBUG = 4,
};

/*
 * Options for win_init(). Zero-initialise and set what you need; each field
 * left zero/NULL takes the environment's value, then the default:
 *
 *   transports   WIN_TRANSPORTS   comma list, in preference order, of the
 *                                 transports allowed ("shm", "kshim",
 *                                 "verbs", "ofi"); default: all built
 *   log_level    WIN_LOG_LEVEL    0..4 or none/error/warn/info/debug;
 *                                 default error
 *   timeout_ms   WIN_TIMEOUT_MS   bound on waits for peers that may have
 *                                 died (join, barrier, lock); default 60000
 */
typedef struct win_config {
	const char *transports;
	int log_level;
	int timeout_ms;
} win_config_t;

int win_init(const win_config_t *config, win_ctx_t **ctx);

/* Frees the context. Windows and groups still open are freed with it. */
int win_finalize(win_ctx_t *ctx);

/*
 * Print what this context can use: every transport built into the library,
 * whether it opened here (or why not), and what it offers (devices,
 * providers, which operation classes run natively and which are emulated).
 * This is what the `wininfo` tool prints.
 */
int win_describe(win_ctx_t *ctx, FILE *out);

/* ------------------------------------------------------------------ */
/* Groups                                                              */
/* ------------------------------------------------------------------ */

typedef struct win_group win_group_t;

/*
 * Join the single-host group called `name` with `size` members. `rank` is
 * this process's rank, or -1 to be given the next free one. Returns once all
 * `size` members have joined (or WIN_ERR_TIMEOUT). Members must agree on
 * size (else WIN_ERR_MISMATCH). After forming, the name may be reused.
 */
int win_group_join(win_ctx_t *ctx, const char *name, int size, int rank,
		   win_group_t **group);

/*
 * Form the group of the processes a PMIx launcher started together (Open
 * MPI's mpirun, prterun, srun --mpi=pmix), without MPI: rank and size are
 * the launch's. Collective over every process of the launch. Members on
 * the same host reach each other through shm or kshim, others through the
 * network transports. WIN_ERR_UNSUPPORTED, with the reason, when the
 * process was not started by a PMIx launcher or libwin was built without
 * PMIx. (Groups over MPI communicators: see win_mpi.h.)
 */
int win_group_from_launcher(win_ctx_t *ctx, win_group_t **group);

/* Leave the group (collective: all members call it). */
int win_group_leave(win_group_t *group);

int win_group_rank(const win_group_t *group);
int win_group_size(const win_group_t *group);

/* Collective barrier over the group. */
int win_group_barrier(win_group_t *group);

/* ------------------------------------------------------------------ */
/* Windows                                                             */
/* ------------------------------------------------------------------ */

typedef struct win win_t;

enum win_flavor {
	WIN_FLAVOR_CREATE = 1,   /* over memory the caller already has */
	WIN_FLAVOR_ALLOCATE = 2, /* memory owned by the library */
};

/* Window options (win_opts_t.flags). */
#define WIN_OPT_ENFORCE_DONT_TOUCH 0x1u /* revoke the owner's mapping while
					   exposed (allocate flavour only) */
#define WIN_OPT_NO_LOCKS 0x2u           /* the window is never locked */

typedef struct win_opts {
	unsigned flags;
} win_opts_t;

/*
 * Collective. Expose `size` bytes at `base` (the caller's memory) with
 * displacement unit `disp_unit` (>= 1). Sizes and units may differ between
 * members; size 0 exposes nothing.
 *
 * When same-host peers reach this member through the shm transport and
 * the memory is private anonymous memory (heap, malloc, anonymous mmap),
 * the library moves the window's whole pages (those between its first and
 * last page boundary) into shared memory at the same addresses, contents
 * kept, so that the peers map them (loads, stores and CPU atomics instead
 * of a system call per access); once no created window overlaps them
 * they become private memory again. Bytes that share a page with other
 * data stay where they are and are reached with system calls. No thread
 * may store to the window while win_create() or win_free() runs; a
 * fork()ed child gets a private copy. Not moved: the stack in use, locked
 * (mlock), MADV_DONTFORK/WIPEONFORK, userfaultfd or protection-key
 * memory, pages another created window overlaps. When created windows
 * overlap, pages moved for one go back with the last of them, and the
 * no-store rule covers all of those pages while it is freed. Memory
 * registered for DMA by other software must not be moved:
 * WIN_SHM_ADOPT=0 turns this off.
 */
int win_create(win_group_t *group, void *base, size_t size, int disp_unit,
	       const win_opts_t *opts, win_t **win);

/*
 * Memory for windows to be created over (as MPI_Alloc_mem): `size` zeroed
 * bytes, page-aligned, that members of a group on this host can map. A
 * window created with win_create() over (part of) it is reached by those
 * members with loads, stores and CPU atomics, as an allocated window is,
 * instead of a system call per access; peers that map it can see the
 * whole allocation, not only the window. It is shared memory: a child
 * made by fork() shares it instead of getting a copy. Other memory works
 * as before.
 * win_mem_free() fails with WIN_ERR_SYNC while a window still exposes it,
 * WIN_ERR_ARG for a pointer this context did not return; win_finalize()
 * frees what is left.
 */
int win_mem_alloc(win_ctx_t *ctx, size_t size, void **mem);
int win_mem_free(win_ctx_t *ctx, void *mem);

/*
 * Collective. The library allocates `size` zeroed bytes for this member and
 * returns their address in *base. Same-host members can reach each other's
 * parts directly through win_shared_query().
 */
int win_allocate(win_group_t *group, size_t size, int disp_unit,
		 const win_opts_t *opts, void **base, win_t **win);

/* Collective. Any open epoch must be closed first (else WIN_ERR_SYNC). */
int win_free(win_t *win);

/* This member's base, size, displacement unit and flavour (NULL to skip). */
int win_query(win_t *win, void **base, size_t *size, int *disp_unit,
	      int *flavor);

/*
 * Direct load/store pointer to `rank`'s part of an allocated window, when
 * that rank is on this host (as MPI_Win_shared_query). WIN_ERR_UNSUPPORTED
 * when no direct mapping exists (created windows, remote peers).
 */
int win_shared_query(win_t *win, int rank, void **base, size_t *size,
		     int *disp_unit);

/* Name of the transport serving `rank` on this window ("shm", ...). */
const char *win_transport_name(win_t *win, int rank);

/* ------------------------------------------------------------------ */
/* Synchronization                                                     */
/* ------------------------------------------------------------------ */

/* Assertions (hints; always safe to pass 0). */
#define WIN_MODE_NOCHECK 0x1u
#define WIN_MODE_NOSTORE 0x2u
#define WIN_MODE_NOPUT 0x4u
#define WIN_MODE_NOPRECEDE 0x8u
#define WIN_MODE_NOSUCCEED 0x10u

/* Fence: closes the previous fence epoch and, unless NOSUCCEED, opens one. */
int win_fence(win_t *win, unsigned assert_flags);

/* Active target. `ranks` lists the peers of the epoch. */
int win_post(win_t *win, const int *ranks, int nranks, unsigned assert_flags);
int win_start(win_t *win, const int *ranks, int nranks, unsigned assert_flags);
int win_complete(win_t *win);
int win_wait(win_t *win);
/* Non-blocking win_wait(): *done = 1 when the exposure epoch has ended. */
int win_test(win_t *win, int *done);

/* Passive target. */
enum win_lock_type {
	WIN_LOCK_SHARED = 1,
	WIN_LOCK_EXCLUSIVE = 2,
};
int win_lock(win_t *win, int lock_type, int rank, unsigned assert_flags);
int win_unlock(win_t *win, int rank);
int win_lock_all(win_t *win, unsigned assert_flags);
int win_unlock_all(win_t *win);

/* Remote completion of everything issued to `rank` (flush) or to all ranks;
 * the _local forms give local completion only. Passive epochs only. */
int win_flush(win_t *win, int rank);
int win_flush_all(win_t *win);
int win_flush_local(win_t *win, int rank);
int win_flush_local_all(win_t *win);

/* WIN_OK when this member holds a passive-target epoch on `rank` (a lock
 * on it, or lock_all), WIN_ERR_SYNC when it does not, WIN_ERR_RANK or
 * WIN_ERR_HANDLE for bad arguments. Nothing is flushed or changed. */
int win_check_passive(win_t *win, int rank);

/* Make the public and private copies of this member's window agree. */
int win_sync(win_t *win);

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

typedef struct win_req win_req_t;

/* Wait for / test a request. On completion the request is released and
 * *req set to NULL. */
int win_req_wait(win_req_t **req);
int win_req_test(win_req_t **req, int *done);

/* ------------------------------------------------------------------ */
/* Put and get                                                         */
/* ------------------------------------------------------------------ */

/*
 * `disp` counts in the target's displacement units. A put returns once the
 * origin buffer may be reused (local completion); the data is visible at the
 * target after a flush, unlock, complete or fence. A get returns with the
 * data in `dst`.
 */
int win_put(win_t *win, const void *src, size_t len, int rank, size_t disp);
int win_get(win_t *win, void *dst, size_t len, int rank, size_t disp);

/* Non-blocking forms: the request completes at local completion. */
int win_iput(win_t *win, const void *src, size_t len, int rank, size_t disp,
	     win_req_t **req);
int win_iget(win_t *win, void *dst, size_t len, int rank, size_t disp,
	     win_req_t **req);

/*
 * Strided: `count` blocks of `blocklen` bytes; origin blocks start every
 * `src_stride` bytes, target blocks every `dst_stride` *bytes* from disp.
 */
int win_put_strided(win_t *win, const void *src, ptrdiff_t src_stride,
		    size_t blocklen, size_t count, int rank, size_t disp,
		    ptrdiff_t dst_stride);
int win_get_strided(win_t *win, void *dst, ptrdiff_t dst_stride,
		    size_t blocklen, size_t count, int rank, size_t disp,
		    ptrdiff_t src_stride);

/* A target segment: `len` bytes at displacement `disp` (in disp units). */
typedef struct win_seg {
	size_t disp;
	size_t len;
} win_seg_t;

/*
 * Vector: gather the origin iovec into the target segments (put) or scatter
 * the target segments into the origin iovec (get). Both sides must describe
 * the same total length (else WIN_ERR_LENGTH).
 */
int win_putv(win_t *win, const struct iovec *iov, int iovcnt, int rank,
	     const win_seg_t *segs, int nsegs);
int win_getv(win_t *win, const struct iovec *iov, int iovcnt, int rank,
	     const win_seg_t *segs, int nsegs);

/* ------------------------------------------------------------------ */
/* Staged (double-buffered) put                                        */
/* ------------------------------------------------------------------ */

/*
 * A staging buffer belongs to a window. Fill it, then hand (part of) it to
 * win_put_staged(): the call returns at once with the buffer reusable, but
 * its contents are then undefined (on the kshim transport the filled pages
 * are handed over and fresh pages take their place, so nothing waits for
 * the copy). Completion at the target follows the usual rules for put: a
 * flush, unlock, complete or fence. Page-aligned whole pages into an
 * allocated window on kshim are delivered by moving the pages, not copying.
 * On transports without staging the buffer is ordinary memory and the
 * staged put is a put.
 *
 * win_stage_alloc: `len` >= 1 bytes, page-aligned, for this window (the
 * buffers are released with the window if not before).
 * win_put_staged: [buf, buf+len) must lie inside one staging buffer of
 * `win` (else WIN_ERR_ARG); rank/disp/epoch are checked as for win_put.
 * win_stage_free: `buf` as returned by win_stage_alloc (NULL: no-op).
 */
int win_stage_alloc(win_t *win, size_t len, void **buf);
int win_put_staged(win_t *win, void *buf, size_t len, int rank, size_t disp);
int win_stage_free(win_t *win, void *buf);

/* ------------------------------------------------------------------ */
/* Atomics                                                             */
/* ------------------------------------------------------------------ */

typedef enum win_datatype {
	WIN_INT32 = 1,
	WIN_INT64,
	WIN_UINT32,
	WIN_UINT64,
	WIN_FLOAT,
	WIN_DOUBLE,
} win_datatype_t;

typedef enum win_op {
	WIN_OP_SUM = 1,
	WIN_OP_PROD,
	WIN_OP_MIN,
	WIN_OP_MAX,
	WIN_OP_BAND, /* bitwise ops: integer types only */
	WIN_OP_BOR,
	WIN_OP_BXOR,
	WIN_OP_REPLACE,
	WIN_OP_NO_OP,
} win_op_t;

/* Size in bytes of one element of `type` (0 if unknown). */
size_t win_datatype_size(win_datatype_t type);

/*
 * Element-wise atomic operations. Each element is updated atomically with
 * respect to every other atomic operation on the same element, from any peer
 * and any transport. Target elements must be aligned to their size.
 */

/* *result = old; target = old OP *operand (one element). */
int win_fetch_op(win_t *win, const void *operand, void *result,
		 win_datatype_t type, win_op_t op, int rank, size_t disp);

/* *result = old; if old == *compare then target = *swap (one element).
 * Integer types compare bitwise; float/double compare bitwise too. */
int win_compare_swap(win_t *win, const void *compare, const void *swap,
		     void *result, win_datatype_t type, int rank, size_t disp);

/* target[i] = target[i] OP src[i] for i < count. */
int win_accumulate(win_t *win, const void *src, size_t count,
		   win_datatype_t type, win_op_t op, int rank, size_t disp);

/* result[i] = target[i]; target[i] = target[i] OP src[i]. */
int win_get_accumulate(win_t *win, const void *src, void *result,
		       size_t count, win_datatype_t type, win_op_t op, int rank,
		       size_t disp);

/* ------------------------------------------------------------------ */
/* Put with signal                                                     */
/* ------------------------------------------------------------------ */

enum win_signal_op {
	WIN_SIGNAL_SET = 1,
	WIN_SIGNAL_ADD = 2,
};

enum win_cmp {
	WIN_CMP_EQ = 1,
	WIN_CMP_NE,
	WIN_CMP_GT,
	WIN_CMP_GE,
	WIN_CMP_LT,
	WIN_CMP_LE,
};

/*
 * Put `len` bytes, then update the 64-bit signal word at `sig_disp` in the
 * target's window (8-byte aligned) by `sig_op` with `value`. A reader that
 * sees the signal's new value also sees the data.
 */
int win_put_signal(win_t *win, const void *src, size_t len, int rank,
		   size_t disp, size_t sig_disp, uint64_t value, int sig_op);

/*
 * Wait until this member's own signal word at `sig_disp` satisfies
 * `word CMP value`; its value is stored in *seen (may be NULL). Legal in any
 * epoch state. Bounded by the context's timeout (WIN_ERR_TIMEOUT).
 */
int win_signal_wait_until(win_t *win, size_t sig_disp, int cmp,
			  uint64_t value, uint64_t *seen);

/* Atomically read this member's own signal word. */
int win_signal_read(win_t *win, size_t sig_disp, uint64_t *value);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* LIBWIN_WIN_H */
