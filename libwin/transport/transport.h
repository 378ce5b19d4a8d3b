/*
 * The transport interface. Every transport fills in one `struct win_transport`
 * and is listed in transport/registry.c; the core never names a transport
 * anywhere else. The core validates every argument (rank, bounds, epoch,
 * datatype, op) before calling into a transport, so transports only move
 * bytes and update words.
 *
 * Offsets passed to transports are byte offsets into the target's part of
 * the window (the core has already applied the displacement unit).
 */
#ifndef LIBWIN_TRANSPORT_H
#define LIBWIN_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/uio.h>
#include "win.h"

struct win;
struct win_ctx;
struct win_group;
struct win_req;
struct win_segment;

/* Byte span at the target (offset into the target's window part). */
struct win_span {
	size_t off;
	size_t len;
};

/* One atomic operation, described for the transport. */
struct win_amo {
	int type;            /* win_datatype_t */
	int op;              /* win_op_t, or WIN_AMO_CSWAP */
	size_t count;        /* elements */
	size_t off;          /* byte offset at the target */
	const void *operand; /* count elements (NULL for NO_OP) */
	const void *compare; /* compare-and-swap only */
	void *result;        /* count elements, or NULL: no fetch */
};
#define WIN_AMO_CSWAP 100

/* Bytes per element of a win_datatype_t; 0 for an unknown type. */
static inline size_t win_type_bytes(int type)
{
	switch (type) {
	case WIN_INT32:
	case WIN_UINT32:
	case WIN_FLOAT:
		return 4;
	case WIN_INT64:
	case WIN_UINT64:
	case WIN_DOUBLE:
		return 8;
	}
	return 0;
}

/* Words of a member's control block (see core/ctrl.h), by index. */
enum win_ctrl_word {
	WIN_CTRL_LOCK = 0,     /* passive-target lock word */
	WIN_CTRL_LOCK_WAITERS, /* origins sleeping on the lock word */
	WIN_CTRL_DOORBELL,     /* bumped when something arrives for the member */
	WIN_CTRL_WAITERS,      /* the member is asleep on its doorbell */
	WIN_CTRL_AMO_LOCK,     /* serializes emulated atomics on the member */
	WIN_CTRL_FIXED_WORDS = 8,
	/* then post[size] and complete[size] */
};

struct win_transport {
	const char *name;
	/*
	 * Its atomics and control-word operations are CPU atomics on memory
	 * the members map (shm, kshim). Atomics done by a network device or a
	 * provider are not atomic with those, so when a group spans hosts the
	 * core sends every atomic and control-word operation of a window
	 * through one network transport, same-host peers and the own part
	 * included (core/select.c); data still moves on the fastest path.
	 */
	bool cpu_atomics;
	/*
	 * It maps a created window's part when the part lies in a memory
	 * segment (win_mem_alloc, or memory the core adopts: core/adopt.c),
	 * which the core then arranges when it can.
	 */
	bool maps_segments;

	/* Per context. open() returns WIN_ERR_UNSUPPORTED when the transport
	 * cannot work here (no device, no module); the reason goes to the log. */
	int (*open)(struct win_ctx *ctx, void **state);
	void (*close)(void *state);

	/* Can this transport reach `rank` of `group`? */
	bool (*reaches)(void *state, struct win_group *group, int rank);

	/*
	 * Collective over the whole group: every transport in the context is
	 * called on every member, with `serves[r]` true for the peers it will
	 * carry for this member. Exchanges whatever the transport needs (keys,
	 * addresses) through the group's bootstrap.
	 */
	int (*win_open)(struct win *win, void *state, const bool *serves,
			void **tw);
	int (*win_close)(struct win *win, void *tw);

	/*
	 * Direct load/store address of `rank`'s part, or NULL. When it is
	 * given, the core moves data there with plain copies and performs
	 * atomics there with CPU atomics, bypassing put/get/amo: the
	 * transport promises that this is coherent with what it does itself.
	 */
	void *(*direct)(void *tw, int rank);

	/* Data movement. `req` is NULL for blocking calls; otherwise the
	 * transport either completes at once or marks it pending. */
	int (*put)(void *tw, int rank, const void *src, size_t len, size_t off,
		   struct win_req *req);
	int (*get)(void *tw, int rank, void *dst, size_t len, size_t off,
		   struct win_req *req);
	int (*putv)(void *tw, int rank, const struct iovec *iov, int iovcnt,
		    const struct win_span *spans, int nspans);
	int (*getv)(void *tw, int rank, const struct iovec *iov, int iovcnt,
		    const struct win_span *spans, int nspans);
	int (*amo)(void *tw, int rank, const struct win_amo *amo);
	/* Optional: data, then the 64-bit signal word at sig_off (set or
	 * add), ordered. Without it the core does put, flush, then amo. */
	int (*put_signal)(void *tw, int rank, const void *src, size_t len,
			  size_t off, size_t sig_off, uint64_t value,
			  int sig_op);

	/* Remote completion of everything issued to `rank` (rank < 0: all). */
	int (*flush)(void *tw, int rank);
	/* Drive a pending request; sets *done. */
	int (*req_progress)(void *tw, struct win_req *req, int *done);

	/* Control words of `rank`'s control block. */
	int (*ctrl_fadd)(void *tw, int rank, unsigned word, uint64_t add,
			 uint64_t *old);
	int (*ctrl_cas)(void *tw, int rank, unsigned word, uint64_t cmp,
			uint64_t swp, uint64_t *old);
	int (*ctrl_read)(void *tw, int rank, unsigned word, uint64_t *val);
	/*
	 * Sleep until `rank`'s control word may differ from `seen`, or
	 * timeout_ms passes (return WIN_OK either way: the core re-checks).
	 */
	int (*ctrl_wait)(void *tw, int rank, unsigned word, uint64_t seen,
			 int timeout_ms);
	/* Wake whoever sleeps on `rank`'s control word. */
	int (*ctrl_wake)(void *tw, int rank, unsigned word);

	/*
	 * Optional: provide the memory of this member's part of an allocated
	 * window. Asked of the transport that serves the member's own rank,
	 * before win_open. Fills `seg` with a zeroed, page-aligned mapping
	 * (seg->len a page multiple >= len, seg->fd the descriptor that
	 * backs it); the core releases it with win_segment_destroy() after
	 * win_close. Without it the core uses a memfd segment.
	 */
	int (*mem_alloc)(void *state, struct win *win, size_t len,
			 struct win_segment *seg);

	/*
	 * Optional: enforce don't-touch on this member's allocated part:
	 * revoke (exposed true) or restore the owner's own mappings of it.
	 * While revoked the core does not use the direct pointer to its own
	 * part and calls put/get/amo/put_signal for the own rank instead,
	 * which the transport serves through its own handle. Without it the
	 * core keeps a second mapping for itself and mprotects the owner's.
	 */
	int (*expose)(void *tw, bool exposed);

	/*
	 * Optional: staging buffers (win_stage_alloc, win_put_staged). The
	 * transport serving the member's own rank provides them; a staged put
	 * to a rank of the same transport calls put_staged, which leaves
	 * [buf, buf+len) reusable at once (its contents undefined) and
	 * completes at the target like a put. Without them the core uses
	 * ordinary memory and put.
	 */
	int (*stage_alloc)(void *tw, size_t len, void **buf);
	void (*stage_free)(void *tw, void *buf, size_t len);
	int (*put_staged)(void *tw, int rank, void *buf, size_t len,
			  size_t off);

	/*
	 * Optional: describe the opened transport for `wininfo` (devices,
	 * providers, and for each operation class whether it runs natively or
	 * is emulated), as "  key: value" lines.
	 */
	void (*describe)(void *state, FILE *out);
};

/* The transports compiled in, in default preference order, NULL-ended. */
extern const struct win_transport *const win_transports[];

#endif
