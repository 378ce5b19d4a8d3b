/* Internal structures shared by the core and the transports. */
#ifndef LIBWIN_INTERNAL_H
#define LIBWIN_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "win.h"
#include "transport/transport.h"

#define WIN_MAGIC_CTX 0x57494e43u    /* "WINC" */
#define WIN_MAGIC_GROUP 0x57494e47u  /* "WING" */
#define WIN_MAGIC_WIN 0x57494e57u    /* "WINW" */
#define WIN_MAGIC_REQ 0x57494e52u    /* "WINR" */
#define WIN_MAGIC_DEAD 0xdeadbeefu

#define WIN_MAX_TRANSPORTS 8
#define WIN_GROUP_MAX 256

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* ---- errors and logging (core/error.c) ---- */
int win_seterr(int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int win_seterr_sys(int status, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void win_log(struct win_ctx *ctx, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- memory segments (core/segment.c) ---- */
/* A shared, page-aligned memory segment backed by a memfd. */
struct win_segment {
	int fd;
	void *addr;
	size_t len; /* mapped length (page multiple, >= 1 page) */
};
int win_segment_create(struct win_segment *seg, const char *name, size_t len);
/* Map the segment that process `pid` holds open as descriptor `fd`. */
int win_segment_attach(struct win_segment *seg, pid_t pid, int fd, size_t len);
void win_segment_destroy(struct win_segment *seg);
size_t win_page_size(void);

/* ---- context (core/context.c) ---- */
struct win_req {
	uint32_t magic;
	struct win_ctx *ctx;
	int status;
	int done;
	void *tw;                    /* transport window, while pending */
	const struct win_transport *tp;
	struct win_req *next_free;
	uint64_t tp_data[4];         /* transport scratch */
};

struct win_ctx {
	uint32_t magic;
	struct win_ctx *next_live; /* list of live contexts */
	int log_level;
	int timeout_ms;
	int ntp;
	const struct win_transport *tp[WIN_MAX_TRANSPORTS];
	void *tp_state[WIN_MAX_TRANSPORTS];
	/* Why each built-in transport did not open (win_describe). */
	char tp_why[WIN_MAX_TRANSPORTS][160];
	struct win_group *groups; /* open groups */
	struct win_group *dead_groups; /* left groups (tombstones) */
	struct win *wins;         /* open and freed windows */
	struct win_req *req_free;
	struct win_req_chunk *req_chunks;
	struct win_mem *mems;     /* win_mem_alloc'ed memory */
};

/* Memory from win_mem_alloc, or adopted from under created windows
 * (core/adopt.c): a segment same-host peers can map. */
struct win_mem {
	struct win_segment seg;
	int users;                /* created windows over it */
	bool adopted;             /* the owner's own pages, moved into seg */
	struct win_mem *next;     /* the context's list; adopted: the
				     process's (core/adopt.c) */
};
/* The win_mem_alloc'ed memory holding [addr, addr + len), or NULL. */
struct win_mem *win_mem_find(struct win_ctx *ctx, const void *addr,
			     size_t len);
/*
 * core/adopt.c. A created window joins the process's list of them and
 * finds the shareable memory behind (part of) its bytes: win_mem_alloc'ed
 * memory, or its whole pages adopted when a peer's transport maps
 * segments (sets w->mem and the w->mem_* fields). Detach undoes it.
 */
void win_created_attach(struct win *w);
void win_created_detach(struct win *w);

/* Is `ctx` a context that was initialised and not finalized? */
bool win_ctx_live(const struct win_ctx *ctx);
struct win_req *win_req_alloc(struct win_ctx *ctx);
void win_req_release(struct win_ctx *ctx, struct win_req *req);
/* Monotonic time in milliseconds. */
uint64_t win_now_ms(void);
uint64_t win_now_us(void);
/* Is the process alive (a zombie is not)? */
bool win_pid_alive(pid_t pid);

/* ---- groups (core/group.c, bootstraps in core/boot.h) ---- */
struct win_boot; /* the shared bootstrap segment of a named group */
struct win_boot_ops;

struct win_group {
	uint32_t magic;
	struct win_ctx *ctx;
	struct win_group *next;
	int rank;
	int size;
	/* The bootstrap that carries the group's collectives: the named
	 * single-host segment, PMIx, or an MPI communicator (libwin_mpi). */
	const struct win_boot_ops *bops;
	void *bstate;
	struct win_boot *boot; /* named groups only (else NULL) */
	size_t boot_len;
	pid_t *pids;      /* per rank */
	uint64_t *hostid; /* per rank; equal ids = same host */
};

int win_group_check(const win_group_t *g);
/* Collective: gather `len` bytes from every member into out[size*len]. */
int win_group_allgather(struct win_group *g, const void *in, void *out,
			size_t len);
/* WIN_ERR_PEER (with a message) if a member has died, else WIN_OK. */
int win_group_check_peers(struct win_group *g);
/* The same for one member (r < 0: every member). */
int win_group_check_peer(struct win_group *g, int r);
bool win_group_same_host(struct win_group *g, int rank);

/* ---- windows (core/window.c) ---- */
struct win_peer {
	const struct win_transport *tp;
	void *tw;        /* that transport's window state */
	char *map;       /* direct load/store view of the part, or NULL */
	/* Transport for atomics and control words (see core/select.c). */
	const struct win_transport *atp;
	void *atw;
	bool cpu_amo;    /* atomics may use `map` with CPU atomics */
	size_t size;     /* bytes the peer exposes */
	int disp_unit;
};

enum win_lock_state { WIN_UNLOCKED = 0, WIN_LOCKED_SHARED = 1,
		      WIN_LOCKED_EXCLUSIVE = 2 };

struct win {
	uint32_t magic;
	struct win_ctx *ctx;
	struct win_group *group;
	struct win *next;
	int rank, size;
	int flavor;
	unsigned flags;
	void *base;      /* this member's part, as the user sees it */
	size_t len;      /* this member's size in bytes */
	int disp_unit;
	struct win_segment data; /* allocate flavour (fd -1 otherwise) */
	void *data_lib;  /* the library's own mapping of `data` */
	/* Created windows whose bytes [mem_lo, mem_hi) lie in a segment
	 * (win_mem_alloc'ed or adopted): peers on this host may map mem->seg
	 * and find byte mem_lo of this member's part at mem_off. */
	struct win_mem *mem;
	size_t mem_off, mem_lo, mem_hi;
	struct win *next_created; /* the process's created windows */
	bool created_listed;
	struct win_segment ctrl; /* this member's control block */
	struct win_peer *peers;
	void *tw[WIN_MAX_TRANSPORTS];

	/* epoch state */
	uint8_t *access;     /* access[r] != 0: operations to r allowed now */
	uint8_t *locked;     /* enum win_lock_state per target */
	uint8_t *started;    /* r is in the current start() group */
	uint8_t *posted;     /* r is in the current post() group */
	uint64_t *post_seen; /* posts consumed from each target */
	uint64_t *complete_seen; /* completes consumed from each origin */
	int nlocked;
	bool lock_all;
	bool lock_all_nocheck; /* lock_all took no locks (NOCHECK) */
	bool fence_open;
	bool fence_used;     /* an operation ran in the open fence epoch */
	bool start_open;
	bool post_open;
	bool revoked;        /* the owner's mapping is revoked */
};

/* A live window handle? (Inline: every call begins with it.) */
static inline int win_check(win_t *w)
{
	if (unlikely(!w || w->magic != WIN_MAGIC_WIN))
		return win_seterr(WIN_ERR_HANDLE, "invalid or freed window");
	return WIN_OK;
}
/* core/select.c: fill peers[].tp for every rank. */
int win_select_transports(struct win *w);
/* Collective: every member's status in, the first failure (if any) out. */
int win_agree(struct win_group *g, int status);
/* Release a window's local resources without talking to peers. */
void win_release_local(struct win *w);
uint64_t *win_ctrl_word(struct win *w, unsigned word);
/* Revoke/restore the owner's direct mapping (don't-touch enforcement). */
int win_expose(struct win *w, bool exposed);

/*
 * Wait until cond(arg) holds, sleeping on `rank`'s control word `word`.
 * Fails with WIN_ERR_PEER when member `watch` dies (watch < 0: any member),
 * and with WIN_ERR_TIMEOUT after the context's timeout.
 */
int win_ctrl_wait_until(struct win *w, int rank, unsigned word, int watch,
			bool (*cond)(struct win *w, void *arg), void *arg);

#endif
