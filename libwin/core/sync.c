/*
 * Synchronization: fence, active target (post/start/complete/wait) and
 * passive target (lock/unlock, lock_all, flush). All of it is built on the
 * transports' control-word operations, so it works the same over every
 * transport and never needs the target's CPU for passive target.
 */
#include <stdlib.h>
#include <string.h>

#include "core/ctrl.h"
#include "core/futex.h"
#include "core/internal.h"

int win_ctrl_wait_until(struct win *w, int rank, unsigned word, int watch,
			bool (*cond)(struct win *w, void *arg), void *arg)
{
	const struct win_transport *tp = w->peers[rank].atp;
	void *tw = w->peers[rank].atw;
	uint64_t deadline = 0, spin_end = 0;
	uint64_t seen;
	int rc;

	/* Spin first, but not for long: the condition may be a network
	 * round trip (a remote compare-and-swap on a lock word), and a
	 * lock held by a dead member must still time out in time. */
	for (int i = 0; i < WIN_WAIT_SPINS; i++) {
		uint64_t now;

		if (cond(w, arg))
			return WIN_OK;
		now = win_now_us();
		if (!spin_end)
			spin_end = now + WIN_WAIT_SPIN_US;
		else if (now > spin_end)
			break;
		win_cpu_relax();
	}
	for (;;) {
		if ((rc = tp->ctrl_read(tw, rank, word, &seen)))
			return rc;
		if (cond(w, arg))
			return WIN_OK;
		tp->ctrl_wait(tw, rank, word, seen, WIN_WAIT_SLICE_MS);
		if (cond(w, arg))
			return WIN_OK;
		if (!deadline)
			deadline = win_now_ms() + (uint64_t)w->ctx->timeout_ms;
		if ((rc = win_group_check_peer(w->group, watch)))
			return rc;
		if (win_now_ms() > deadline)
			return win_seterr(WIN_ERR_TIMEOUT, "no progress from "
					  "peers in %d ms", w->ctx->timeout_ms);
	}
}

/* Bump `rank`'s doorbell and wake it if it sleeps. */
static int ring(struct win *w, int rank)
{
	const struct win_transport *tp = w->peers[rank].atp;
	int rc = tp->ctrl_fadd(w->peers[rank].atw, rank, WIN_CTRL_DOORBELL, 1,
			       NULL);

	return rc ? rc : tp->ctrl_wake(w->peers[rank].atw, rank,
				       WIN_CTRL_DOORBELL);
}

static int flush_all_transports(struct win *w)
{
	for (int i = 0; i < w->ctx->ntp; i++) {
		int rc;

		if (w->tw[i] && (rc = w->ctx->tp[i]->flush(w->tw[i], -1)))
			return rc;
	}
	return WIN_OK;
}

/*
 * A fence epoch in which nothing was issued is no epoch (as in MPI): the
 * next synchronization of another kind may start. One with operations must
 * be closed by a fence first.
 */
static int close_idle_fence(struct win *w, const char *what)
{
	if (!w->fence_open)
		return WIN_OK;
	if (w->fence_used)
		return win_seterr(WIN_ERR_SYNC, "%s inside a fence epoch that "
				  "issued operations; close it with a fence",
				  what);
	w->fence_open = false;
	memset(w->access, 0, (size_t)w->size);
	return win_expose(w, false);
}

static int check_ranks(struct win *w, const int *ranks, int n,
		       const char *what)
{
	if (n < 0 || (n > 0 && !ranks))
		return win_seterr(WIN_ERR_ARG, "%s: bad rank list", what);
	for (int i = 0; i < n; i++) {
		if ((unsigned)ranks[i] >= (unsigned)w->size)
			return win_seterr(WIN_ERR_RANK, "%s: rank %d outside "
					  "0..%d", what, ranks[i], w->size - 1);
		for (int j = 0; j < i; j++)
			if (ranks[j] == ranks[i])
				return win_seterr(WIN_ERR_ARG, "%s: rank %d "
						  "listed twice", what,
						  ranks[i]);
	}
	return WIN_OK;
}

/* ---- fence ---- */

int win_fence(win_t *w, unsigned assert_flags)
{
	int rc;

	if (win_check(w))
		return WIN_ERR_HANDLE;
	if (w->start_open || w->post_open || w->lock_all || w->nlocked)
		return win_seterr(WIN_ERR_SYNC, "win_fence inside an active- "
				  "or passive-target epoch");
	if ((rc = flush_all_transports(w)))
		return rc;
	/* Even with NOPRECEDE the barrier stays: no peer may reach a member
	 * that has not yet entered the epoch. */
	if ((rc = win_group_barrier(w->group)))
		return rc;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	w->fence_used = false;
	if (assert_flags & WIN_MODE_NOSUCCEED) {
		w->fence_open = false;
		memset(w->access, 0, (size_t)w->size);
		return win_expose(w, false);
	}
	w->fence_open = true;
	memset(w->access, 1, (size_t)w->size);
	return win_expose(w, true);
}

/* ---- active target ---- */

int win_post(win_t *w, const int *ranks, int n, unsigned assert_flags)
{
	int rc;

	if (win_check(w))
		return WIN_ERR_HANDLE;
	if ((rc = check_ranks(w, ranks, n, "win_post")))
		return rc;
	if (w->post_open)
		return win_seterr(WIN_ERR_SYNC, "win_post: an exposure epoch "
				  "is already open");
	/* As in MPI, a window is not exposed and locked at once. */
	if (w->lock_all || w->locked[w->rank])
		return win_seterr(WIN_ERR_SYNC, "win_post: this member's window "
				  "is locked");
	if ((rc = close_idle_fence(w, "win_post")))
		return rc;
	if ((rc = win_expose(w, true)))
		return rc;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (int i = 0; i < n; i++) {
		int o = ranks[i];

		w->posted[o] = 1;
		rc = w->peers[o].atp->ctrl_fadd(w->peers[o].atw, o,
					       win_ctrl_post(w->rank), 1, NULL);
		if (rc || (rc = ring(w, o)))
			return rc;
	}
	w->post_open = true;
	return WIN_OK;
}

static bool post_arrived(struct win *w, void *arg)
{
	int t = *(int *)arg;

	return __atomic_load_n(win_ctrl_word(w, win_ctrl_post(t)),
			       __ATOMIC_ACQUIRE) > w->post_seen[t];
}

int win_start(win_t *w, const int *ranks, int n, unsigned assert_flags)
{
	int rc;

	if (win_check(w))
		return WIN_ERR_HANDLE;
	if ((rc = check_ranks(w, ranks, n, "win_start")))
		return rc;
	if (w->start_open || w->lock_all || w->nlocked)
		return win_seterr(WIN_ERR_SYNC, "win_start: an access epoch "
				  "is already open");
	if ((rc = close_idle_fence(w, "win_start")))
		return rc;
	for (int i = 0; i < n; i++) {
		int t = ranks[i];

		rc = win_ctrl_wait_until(w, w->rank, WIN_CTRL_DOORBELL, t,
					 post_arrived, &t);
		if (rc) {
			for (int j = 0; j < i; j++)
				w->started[ranks[j]] = w->access[ranks[j]] = 0;
			return rc;
		}
		w->post_seen[t]++;
		w->started[t] = 1;
		w->access[t] = 1;
	}
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	w->start_open = true;
	return WIN_OK;
}

int win_complete(win_t *w)
{
	int rc = WIN_OK;

	if (win_check(w))
		return WIN_ERR_HANDLE;
	if (!w->start_open)
		return win_seterr(WIN_ERR_SYNC, "win_complete without "
				  "win_start");
	for (int t = 0; t < w->size; t++) {
		if (!w->started[t])
			continue;
		if ((rc = w->peers[t].tp->flush(w->peers[t].tw, t)))
			break;
		rc = w->peers[t].atp->ctrl_fadd(w->peers[t].atw, t,
					       win_ctrl_complete(w, w->rank), 1,
					       NULL);
		if (rc || (rc = ring(w, t)))
			break;
		w->started[t] = 0;
		w->access[t] = 0;
	}
	if (rc)
		return rc;
	w->start_open = false;
	return WIN_OK;
}

/* Every origin of the exposure epoch has completed. */
static bool all_completed(struct win *w, void *arg)
{
	for (int o = 0; o < w->size; o++) {
		if (w->posted[o] &&
		    __atomic_load_n(win_ctrl_word(w, win_ctrl_complete(w, o)),
				    __ATOMIC_ACQUIRE) <= w->complete_seen[o])
			return false;
	}
	return true;
}

static int end_exposure(struct win *w)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	for (int o = 0; o < w->size; o++) {
		if (w->posted[o]) {
			w->complete_seen[o]++;
			w->posted[o] = 0;
		}
	}
	w->post_open = false;
	return win_expose(w, false);
}

int win_wait(win_t *w)
{
	int rc;

	if (win_check(w))
		return WIN_ERR_HANDLE;
	if (!w->post_open)
		return win_seterr(WIN_ERR_SYNC, "win_wait without win_post");
	rc = win_ctrl_wait_until(w, w->rank, WIN_CTRL_DOORBELL, -1,
				 all_completed, NULL);
	return rc ? rc : end_exposure(w);
}

int win_test(win_t *w, int *done)
{
	if (win_check(w))
		return WIN_ERR_HANDLE;
	if (!done)
		return win_seterr(WIN_ERR_ARG, "win_test: done is NULL");
	*done = 0;
	if (!w->post_open)
		return win_seterr(WIN_ERR_SYNC, "win_test without win_post");
	if (!all_completed(w, NULL))
		return WIN_OK;
	*done = 1;
	return end_exposure(w);
}

/* ---- passive target ---- */

struct lock_try {
	int rank;
	int type;
	int rc;
};

/* One attempt at the lock; true when it is held or an error occurred. */
static bool lock_attempt(struct win *w, void *arg)
{
	struct lock_try *lt = arg;
	const struct win_transport *tp = w->peers[lt->rank].atp;
	void *tw = w->peers[lt->rank].atw;
	uint64_t old;

	if (lt->type == WIN_LOCK_EXCLUSIVE) {
		lt->rc = tp->ctrl_cas(tw, lt->rank, WIN_CTRL_LOCK, 0,
				      WIN_LOCK_EXCL, &old);
		return lt->rc || old == 0;
	}
	lt->rc = tp->ctrl_fadd(tw, lt->rank, WIN_CTRL_LOCK, 1, &old);
	if (lt->rc || !(old & WIN_LOCK_EXCL))
		return true;
	/* A writer holds it: step back, and let a writer waiting on our
	 * transient count see the word change. */
	lt->rc = tp->ctrl_fadd(tw, lt->rank, WIN_CTRL_LOCK, (uint64_t)-1,
			       NULL);
	if (lt->rc == WIN_OK)
		lt->rc = tp->ctrl_wake(tw, lt->rank, WIN_CTRL_LOCK);
	return lt->rc != WIN_OK;
}

static int acquire(struct win *w, int type, int rank)
{
	struct lock_try lt = { rank, type, WIN_OK };
	int rc = win_ctrl_wait_until(w, rank, WIN_CTRL_LOCK, -1,
				     lock_attempt, &lt);

	return rc ? rc : lt.rc;
}

static int release(struct win *w, int type, int rank)
{
	const struct win_transport *tp = w->peers[rank].atp;
	void *tw = w->peers[rank].atw;
	uint64_t delta = type == WIN_LOCK_EXCLUSIVE ? -WIN_LOCK_EXCL :
						      (uint64_t)-1;
	int rc = tp->ctrl_fadd(tw, rank, WIN_CTRL_LOCK, delta, NULL);

	return rc ? rc : tp->ctrl_wake(tw, rank, WIN_CTRL_LOCK);
}

static int check_passive(struct win *w, const char *what)
{
	if (w->start_open)
		return win_seterr(WIN_ERR_SYNC, "%s inside an active-target "
				  "access epoch", what);
	if (w->flags & WIN_OPT_NO_LOCKS)
		return win_seterr(WIN_ERR_SYNC, "%s on a window created with "
				  "WIN_OPT_NO_LOCKS", what);
	return close_idle_fence(w, what);
}

int win_lock(win_t *w, int type, int rank, unsigned assert_flags)
{
	int rc;

	if (win_check(w))
		return WIN_ERR_HANDLE;
	if ((unsigned)rank >= (unsigned)w->size)
		return win_seterr(WIN_ERR_RANK, "win_lock: rank %d outside "
				  "0..%d", rank, w->size - 1);
	if (type != WIN_LOCK_SHARED && type != WIN_LOCK_EXCLUSIVE)
		return win_seterr(WIN_ERR_ARG, "win_lock: bad lock type %d",
				  type);
	if (w->lock_all || w->locked[rank])
		return win_seterr(WIN_ERR_SYNC, "win_lock: rank %d is already "
				  "locked", rank);
	if (rank == w->rank && w->post_open)
		return win_seterr(WIN_ERR_SYNC, "win_lock: this member's window "
				  "is exposed (post without wait)");
	if ((rc = check_passive(w, "win_lock")))
		return rc;
	if (!(assert_flags & WIN_MODE_NOCHECK) &&
	    (rc = acquire(w, type, rank)))
		return rc;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	/* With NOCHECK nothing was taken, so nothing is given back. */
	w->locked[rank] = (assert_flags & WIN_MODE_NOCHECK) ? 3 : type;
	w->access[rank] = 1;
	w->nlocked++;
	return WIN_OK;
}

int win_unlock(win_t *w, int rank)
{
	int rc;
	int type;

	if (win_check(w))
		return WIN_ERR_HANDLE;
	if ((unsigned)rank >= (unsigned)w->size)
		return win_seterr(WIN_ERR_RANK, "win_unlock: rank %d outside "
				  "0..%d", rank, w->size - 1);
	if (!w->locked[rank])
		return win_seterr(WIN_ERR_SYNC, "win_unlock: rank %d is not "
				  "locked", rank);
	if ((rc = w->peers[rank].tp->flush(w->peers[rank].tw, rank)))
		return rc;
	type = w->locked[rank];
	if (type != 3 && (rc = release(w, type, rank)))
		return rc;
	w->locked[rank] = 0;
	w->access[rank] = 0;
	w->nlocked--;
	return WIN_OK;
}

int win_lock_all(win_t *w, unsigned assert_flags)
{
	int rc;

	if (win_check(w))
		return WIN_ERR_HANDLE;
	if (w->lock_all || w->nlocked)
		return win_seterr(WIN_ERR_SYNC, "win_lock_all: locks are "
				  "already held");
	if (w->post_open)
		return win_seterr(WIN_ERR_SYNC, "win_lock_all: this member's "
				  "window is exposed (post without wait)");
	if ((rc = check_passive(w, "win_lock_all")))
		return rc;
	if (!(assert_flags & WIN_MODE_NOCHECK)) {
		for (int r = 0; r < w->size; r++) {
			if ((rc = acquire(w, WIN_LOCK_SHARED, r))) {
				while (r-- > 0)
					release(w, WIN_LOCK_SHARED, r);
				return rc;
			}
		}
	}
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	w->lock_all = true;
	w->lock_all_nocheck = (assert_flags & WIN_MODE_NOCHECK) != 0;
	memset(w->access, 1, (size_t)w->size);
	return WIN_OK;
}

int win_unlock_all(win_t *w)
{
	int rc;

	if (win_check(w))
		return WIN_ERR_HANDLE;
	if (!w->lock_all)
		return win_seterr(WIN_ERR_SYNC, "win_unlock_all without "
				  "win_lock_all");
	if ((rc = flush_all_transports(w)))
		return rc;
	if (!w->lock_all_nocheck) {
		for (int r = 0; r < w->size; r++)
			if ((rc = release(w, WIN_LOCK_SHARED, r)))
				return rc;
	}
	w->lock_all = false;
	memset(w->access, 0, (size_t)w->size);
	return WIN_OK;
}

/* `all`: a flush of every target, else of `rank` alone. */
static inline int check_flush(struct win *w, bool all, int rank,
			      const char *what)
{
	if (win_check(w))
		return WIN_ERR_HANDLE;
	if (!all && (unsigned)rank >= (unsigned)w->size)
		return win_seterr(WIN_ERR_RANK, "%s: rank %d outside 0..%d",
				  what, rank, w->size - 1);
	if (!all ? !(w->lock_all || w->locked[rank]) :
		   !(w->lock_all || w->nlocked))
		return win_seterr(WIN_ERR_SYNC, "%s outside a passive-target "
				  "epoch", what);
	return WIN_OK;
}

int win_check_passive(win_t *w, int rank)
{
	return check_flush(w, false, rank, "win_check_passive");
}

int win_flush(win_t *w, int rank)
{
	int rc = check_flush(w, false, rank, "win_flush");

	return rc ? rc : w->peers[rank].tp->flush(w->peers[rank].tw, rank);
}

int win_flush_local(win_t *w, int rank)
{
	/* Local completion: every transport here completes locally before
	 * an operation returns or when its request completes; a flush is
	 * the strongest correct answer for any pending ones. */
	return win_flush(w, rank);
}

int win_flush_all(win_t *w)
{
	int rc = check_flush(w, true, 0, "win_flush_all");

	return rc ? rc : flush_all_transports(w);
}

int win_flush_local_all(win_t *w)
{
	return win_flush_all(w);
}

int win_sync(win_t *w)
{
	if (win_check(w))
		return WIN_ERR_HANDLE;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return WIN_OK;
}
