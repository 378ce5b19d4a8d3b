/*
 * The checks that the launch and communicator tests run over a group whose
 * members were started by someone else (a PMIx launcher, MPI): put and get
 * in fence epochs, passive-target locks (shared and exclusive), fetch_op
 * and compare_swap, over allocated and created windows, and the transport
 * each peer is given. Every result is compared with the value it must have.
 *
 * rma_checks() returns the number of failures, after printing each one.
 */
#ifndef LIBWIN_TESTS_RMA_CHECKS_H
#define LIBWIN_TESTS_RMA_CHECKS_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <win.h>

static const char *rc_tag = "";
static int rc_fail;

#define RC_CHECK(cond, ...)                                               \
	do {                                                              \
		if (!(cond)) {                                            \
			fprintf(stderr, "%s: FAIL %s:%d: ", rc_tag, __FILE__, \
				__LINE__);                                \
			fprintf(stderr, __VA_ARGS__);                     \
			fprintf(stderr, "\n");                            \
			rc_fail++;                                        \
		}                                                         \
	} while (0)

#define RC_OK(call)                                                       \
	do {                                                              \
		int rc_ = (call);                                         \
		RC_CHECK(rc_ == WIN_OK, "%s = %s (%s)", #call,            \
			 win_strerror(rc_), win_last_error());            \
	} while (0)

/* Slots of each member's part (int64 each). */
enum { SLOT_FENCE = 0, SLOT_COUNT = 64, SLOT_EXCL = 65, SLOT_CAS = 66,
       SLOT_LOCKPUT = 67, NSLOTS = 72 };

static int64_t rc_val(int from, int to, int round)
{
	return (int64_t)1000000 * (round + 1) + 1000 * from + to;
}

/*
 * The checks over one window `w` of NSLOTS int64 per member, whose local
 * part is `mine` (read directly only outside exposure epochs).
 */
static void rma_checks_win(win_group_t *g, win_t *w, int64_t *mine,
			   int same_host_expected)
{
	int me = win_group_rank(g), n = win_group_size(g);
	int right = (me + 1) % n, left = (me + n - 1) % n;
	int64_t v, got, res;
	const char *tn;

	/* Every peer is on this host: a same-host transport serves it. */
	for (int r = 0; r < n && same_host_expected; r++) {
		tn = win_transport_name(w, r);
		RC_CHECK(tn && (!strcmp(tn, "shm") || !strcmp(tn, "kshim")),
			 "rank %d served by '%s', not shm/kshim", r,
			 tn ? tn : "(null)");
	}

	/* Fence: everybody puts into slot `me` of everybody (me < 64). */
	RC_OK(win_fence(w, 0));
	for (int r = 0; r < n; r++) {
		v = rc_val(me, r, 0);
		RC_OK(win_put(w, &v, sizeof(v), r, (size_t)me % 64));
	}
	RC_OK(win_fence(w, 0));
	for (int r = 0; r < n; r++) {
		/* The window is exposed again: read it through get. */
		RC_OK(win_get(w, &got, sizeof(got), me, (size_t)r % 64));
		RC_CHECK(got == rc_val(r, me, 0), "fence: slot %d holds "
			 "%" PRId64 ", want %" PRId64, r, got, rc_val(r, me, 0));
	}
	/* What the left neighbour put at the right one. */
	RC_OK(win_get(w, &got, sizeof(got), right, (size_t)left % 64));
	RC_CHECK(got == rc_val(left, right, 0), "fence get: rank %d slot %d "
		 "holds %" PRId64 ", want %" PRId64, right, left, got,
		 rc_val(left, right, 0));
	RC_OK(win_fence(w, WIN_MODE_NOSUCCEED));

	/* Passive target: put to the right under an exclusive lock, read it
	 * back from the left one's put under a shared lock. */
	v = rc_val(me, right, 1);
	RC_OK(win_lock(w, WIN_LOCK_EXCLUSIVE, right, 0));
	RC_OK(win_put(w, &v, sizeof(v), right, SLOT_LOCKPUT));
	RC_OK(win_unlock(w, right));
	RC_OK(win_group_barrier(g));
	RC_OK(win_lock(w, WIN_LOCK_SHARED, me, 0));
	RC_OK(win_get(w, &got, sizeof(got), me, SLOT_LOCKPUT));
	RC_OK(win_unlock(w, me));
	RC_CHECK(got == rc_val(left, me, 1), "lock: got %" PRId64 ", want "
		 "%" PRId64, got, rc_val(left, me, 1));

	/* Atomics: everybody adds 1 + rank to rank 0's counter, 10 times. */
	RC_OK(win_lock_all(w, 0));
	for (int i = 0; i < 10; i++) {
		v = 1 + me;
		RC_OK(win_fetch_op(w, &v, &res, WIN_INT64, WIN_OP_SUM, 0,
				   SLOT_COUNT));
		RC_CHECK(res >= 0 && res < 10 * (int64_t)n * (n + 1) / 2,
			 "fetch_op: old value %" PRId64 " out of range", res);
	}
	RC_OK(win_unlock_all(w));
	RC_OK(win_group_barrier(g));
	if (me == 0) {
		RC_OK(win_lock(w, WIN_LOCK_SHARED, 0, 0));
		RC_OK(win_fetch_op(w, NULL, &res, WIN_INT64, WIN_OP_NO_OP, 0,
				   SLOT_COUNT));
		RC_OK(win_unlock(w, 0));
		RC_CHECK(res == 10 * (int64_t)n * (n + 1) / 2, "fetch_op sum: "
			 "%" PRId64 ", want %" PRId64, res,
			 10 * (int64_t)n * (n + 1) / 2);
	}

	/* Exclusive lock as a mutex: read-modify-write with put/get on the
	 * last rank's slot, 5 times each; no update may be lost. */
	for (int i = 0; i < 5; i++) {
		RC_OK(win_lock(w, WIN_LOCK_EXCLUSIVE, n - 1, 0));
		RC_OK(win_get(w, &got, sizeof(got), n - 1, SLOT_EXCL));
		got++;
		RC_OK(win_put(w, &got, sizeof(got), n - 1, SLOT_EXCL));
		RC_OK(win_unlock(w, n - 1));
	}
	/* Compare-and-swap: the ranks take turns by ticket on rank 0. */
	RC_OK(win_lock(w, WIN_LOCK_SHARED, 0, 0));
	for (int64_t want = me;;) {
		int64_t next = want + 1;

		RC_OK(win_compare_swap(w, &want, &next, &res, WIN_INT64, 0,
				       SLOT_CAS));
		if (res == want)
			break;
		RC_CHECK(res < want, "compare_swap: ticket %" PRId64 " seen "
			 "before %" PRId64 " was taken", res, want);
		if (res > want)
			break;
		RC_OK(win_flush(w, 0));
	}
	RC_OK(win_unlock(w, 0));
	RC_OK(win_group_barrier(g));
	if (me == n - 1) {
		RC_OK(win_lock(w, WIN_LOCK_SHARED, me, 0));
		RC_OK(win_get(w, &got, sizeof(got), me, SLOT_EXCL));
		RC_OK(win_unlock(w, me));
		RC_CHECK(got == 5 * (int64_t)n, "exclusive lock counter: %"
			 PRId64 ", want %d", got, 5 * n);
	}
	if (me == 0) {
		RC_OK(win_lock(w, WIN_LOCK_SHARED, 0, 0));
		RC_OK(win_get(w, &got, sizeof(got), 0, SLOT_CAS));
		RC_OK(win_unlock(w, 0));
		RC_CHECK(got == n, "compare_swap tickets: %" PRId64 ", want "
			 "%d", got, n);
	}
	(void)mine;
	RC_OK(win_group_barrier(g));
}

/* Both flavours over group `g`. */
static int rma_checks(win_group_t *g, const char *tag, int same_host)
{
	win_t *w;
	int64_t *mine = NULL;
	int64_t *own;

	rc_tag = tag;
	RC_OK(win_allocate(g, NSLOTS * sizeof(int64_t), sizeof(int64_t), NULL,
			   (void **)&mine, &w));
	if (mine) {
		rma_checks_win(g, w, mine, same_host);
		RC_OK(win_free(w));
	}
	own = calloc(NSLOTS, sizeof(int64_t));
	RC_CHECK(own != NULL, "calloc");
	if (!own)
		return rc_fail;
	RC_OK(win_create(g, own, NSLOTS * sizeof(int64_t), sizeof(int64_t),
			 NULL, &w));
	if (!rc_fail) {
		rma_checks_win(g, w, own, same_host);
		RC_OK(win_free(w));
	}
	free(own);
	return rc_fail;
}

#endif

