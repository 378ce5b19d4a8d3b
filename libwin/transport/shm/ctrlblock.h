/*
 * Control blocks for same-host transports (shm, kshim). Every member's
 * control block (core/ctrl.h) is a memfd segment the member created; peers
 * on the same host map it, so lock words, post/complete counters and
 * doorbells are CPU atomics on shared memory with futex wake-ups.
 *
 * A transport's per-window state begins with a `struct win_ctrlset`, so the
 * ctrl_* functions below serve directly as its transport ops.
 */
#ifndef LIBWIN_CTRLBLOCK_H
#define LIBWIN_CTRLBLOCK_H

#include "core/internal.h"

/* What a member publishes so that peers can map its control block. */
struct win_ctrl_addr {
	int32_t pid;
	int32_t fd;
	uint64_t len;
};

struct win_ctrlset {
	struct win *w;
	uint64_t **ctrl;             /* per rank: mapped control block */
	struct win_segment *seg;     /* per rank: our attachment (fd -1) */
};

/* This member's address, for the transport's exchange. */
void win_ctrlset_addr(struct win *w, struct win_ctrl_addr *a);
/* Allocate per-rank tables (nothing mapped yet). */
int win_ctrlset_init(struct win_ctrlset *cs, struct win *w);
/* Map `rank`'s control block (our own needs no mapping). */
int win_ctrlset_attach(struct win_ctrlset *cs, int rank,
		       const struct win_ctrl_addr *a);
void win_ctrlset_fini(struct win_ctrlset *cs);

/* Transport ops over a state that starts with a struct win_ctrlset. */
int win_ctrlset_fadd(void *tw, int rank, unsigned word, uint64_t add,
		     uint64_t *old);
int win_ctrlset_cas(void *tw, int rank, unsigned word, uint64_t cmp,
		    uint64_t swp, uint64_t *old);
int win_ctrlset_read(void *tw, int rank, unsigned word, uint64_t *val);
int win_ctrlset_wait(void *tw, int rank, unsigned word, uint64_t seen,
		     int timeout_ms);
int win_ctrlset_wake(void *tw, int rank, unsigned word);

#endif
