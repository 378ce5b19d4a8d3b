/*
 * Named groups (join with explicit and automatic ranks, size mismatch,
 * missing members, name reuse, barriers), window queries across members
 * (win_shared_query, win_transport_name), members that leave early (one
 * while another still works on its window).
 */
#include <stdio.h>
#include <string.h>

#include "harness.h"

static void body_auto_rank(struct mp_env *e)
{
	win_group_t *g;
	int rank;

	CHECK_OK(win_group_join(e->ctx, e->name, e->size, -1, &g));
	rank = win_group_rank(g);
	CHECK(rank >= 0 && rank < e->size, "auto rank %d", rank);
	CHECK(win_group_size(g) == e->size, "size %d", win_group_size(g));
	CHECK((mp_add(e->scratch, 0, 1ull << (8 * rank)) >> (8 * rank) &
	       0xff) == 1, "rank %d given twice", rank);
	CHECK_OK(win_group_barrier(g));
	CHECK(mp_load(e->scratch, 0) ==
	      (e->size == 2 ? 0x0101ull : 0x01010101ull),
	      "ranks given: %llx", (unsigned long long)mp_load(e->scratch, 0));
	CHECK_OK(win_group_leave(g));
}

static void body_mismatch(struct mp_env *e)
{
	win_group_t *g = NULL;
	int rc;

	/* The last member disagrees about the size. */
	rc = win_group_join(e->ctx, e->name,
			    e->size + (e->rank == e->size - 1), e->rank, &g);
	CHECK(rc == WIN_ERR_MISMATCH || rc == WIN_ERR_TIMEOUT,
	      "join with a size mismatch: %s", rc_name(rc));
	if (rc == WIN_ERR_MISMATCH)
		mp_add(e->scratch, 0, 1);
	mp_add(e->scratch, 1, 1);
	mp_wait_scratch(e, 1, (uint64_t)e->size, 8000);
	CHECK(mp_load(e->scratch, 0) >= 1,
	      "nobody was told WIN_ERR_MISMATCH");
}

static void body_missing(struct mp_env *e)
{
	win_group_t *g = NULL;
	long long t0 = now_ms();

	/* One member more than will ever come. */
	CHECK_RC(win_group_join(e->ctx, e->name, e->size + 1, -1, &g),
		 WIN_ERR_TIMEOUT);
	CHECK(now_ms() - t0 < 6000, "join took %lld ms", now_ms() - t0);
}

static void body_reuse(struct mp_env *e)
{
	win_group_t *g[3];
	int k;

	for (k = 0; k < 3; k++) {
		CHECK_OK(win_group_join(e->ctx, e->name, e->size, e->rank,
					&g[k]));
		CHECK_OK(win_group_barrier(g[k]));
	}
	for (k = 0; k < 3; k++)
		CHECK_OK(win_group_leave(g[k]));
}

static void body_barriers(struct mp_env *e)
{
	int k;

	for (k = 1; k <= 200; k++) {
		mp_add(e->scratch, 0, 1);
		mp_barrier(e);
		CHECK(mp_load(e->scratch, 0) >= (uint64_t)k * e->size,
		      "barrier %d let a member through early", k);
	}
}

static void body_shared_query(struct mp_env *e)
{
	int n = e->size, r = e->rank, right = (r + 1) % n, t, unit, rc;
	const char *tp;
	uint64_t *p, got;
	size_t size;
	void *q;
	win_t *w;

	w = mp_win(e, 0, 64 * (size_t)(r + 1), 8, 0, NULL);
	for (t = 0; t < n; t++) {
		tp = win_transport_name(w, t);
		CHECK(tp != NULL, "no transport name for rank %d", t);
		CHECK(transport_allowed(tp), "rank %d served by %s, not in "
		      "WIN_TRANSPORTS", t, tp);
	}
	rc = win_shared_query(w, right, &q, &size, &unit);
	if (e->flavor == WIN_FLAVOR_CREATE) {
		CHECK(rc == WIN_ERR_UNSUPPORTED,
		      "shared_query on a created window: %s", rc_name(rc));
		mp_win_free(w);
		return;
	}
	tp = win_transport_name(w, right);
	if (rc == WIN_ERR_UNSUPPORTED && strcmp(tp, "shm") &&
	    strcmp(tp, "kshim")) {
		mp_win_free(w);
		return; /* no direct mapping on this transport */
	}
	CHECK_OK(rc);
	CHECK(size == 64 * (size_t)(right + 1) && unit == 8,
	      "right's part: size %zu unit %d", size, unit);
	p = q;
	p[r % 8] = 0xc0de0000u + (unsigned)r;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	mp_barrier(e);
	CHECK_OK(win_lock(w, WIN_LOCK_SHARED, r, 0));
	CHECK_OK(win_get(w, &got, 8, r, (r + n - 1) % n % 8));
	CHECK_OK(win_unlock(w, r));
	CHECK(got == 0xc0de0000u + (unsigned)((r + n - 1) % n),
	      "store through shared_query not seen: %llx",
	      (unsigned long long)got);
	mp_barrier(e);
	mp_win_free(w);
}


/*
 * The last member leaves cleanly and exits while the others still
 * synchronize among themselves, with pauses longer than the library's
 * liveness checks: a clean departure is not a dead peer. (win_free is
 * collective, so the two that stay release the window by leaving too.)
 */
static void body_early_leave(struct mp_env *e)
{
	int peer = 1 - e->rank;
	void *base;
	uint64_t v = 0;
	win_t *w;

	CHECK_OK(win_allocate(e->group, 64, 1, NULL, &base, &w));
	if (e->rank == e->size - 1)
		return; /* the harness leaves and finalizes at once */
	for (int k = 1; k <= 3; k++) {
		/* Rank 0 waits in win_start for rank 1's post. */
		mp_sleep_ms(e->rank ? 250 : 0);
		CHECK_OK(win_lock(w, WIN_LOCK_EXCLUSIVE, peer, 0));
		v = (uint64_t)k;
		CHECK_OK(win_put(w, &v, 8, peer, 0));
		CHECK_OK(win_unlock(w, peer));
		CHECK_OK(win_post(w, &peer, 1, 0));
		CHECK_OK(win_start(w, &peer, 1, 0));
		CHECK_OK(win_get(w, &v, 8, peer, 0));
		CHECK(v == (uint64_t)k, "round %d read %llu", k,
		      (unsigned long long)v);
		CHECK_OK(win_complete(w));
		CHECK_OK(win_wait(w));
	}
}

/*
 * A member leaves and finalizes while another still issues atomics and
 * puts to it. The leaver's finalize must succeed: over libfabric's rxm on
 * verbs, closing the endpoint with a message of the busy member just
 * received crashed it. The busy member's operations end with WIN_ERR_PEER
 * or WIN_ERR_TIMEOUT over a network transport; over shared memory they
 * may go on succeeding in the memory it still maps.
 */
#define LEAVE_BUSY_TIMEOUT 2000

static void body_leave_busy(struct mp_env *e)
{
	uint64_t one = 1, old;
	const char *t;
	long long t0;
	int rc = WIN_OK;
	win_t *w;

	w = mp_win(e, 0, 64, 8, 0, NULL);
	t = win_transport_name(w, 1);
	mp_barrier(e);
	if (e->rank == 1) {
		mp_sleep_ms(100);
		return; /* the harness leaves and finalizes */
	}
	CHECK_OK(win_lock_all(w, 0));
	t0 = now_ms();
	for (int i = 0; rc == WIN_OK && now_ms() - t0 < 1000; i++) {
		rc = win_fetch_op(w, &one, &old, WIN_UINT64, WIN_OP_SUM, 1, 0);
		if (rc == WIN_OK && i % 8 == 0)
			rc = win_put(w, &one, 8, 1, 1);
	}
	CHECK(now_ms() - t0 < 1000 + LEAVE_BUSY_TIMEOUT + 4000,
	      "operations on a member that left took %lld ms to fail",
	      now_ms() - t0);
	if (mp_network_transport(t))
		CHECK(rc == WIN_ERR_PEER || rc == WIN_ERR_TIMEOUT,
		      "operations over %s on a member that left: got %s, "
		      "expected WIN_ERR_PEER or WIN_ERR_TIMEOUT (%s)", t,
		      rc_name(rc), win_last_error());
	else
		CHECK(rc == WIN_OK || rc == WIN_ERR_PEER ||
		      rc == WIN_ERR_TIMEOUT, "operations over %s on a member "
		      "that left: %s (%s)", t ? t : "?", rc_name(rc),
		      win_last_error());
	/* The harness leaves and finalizes this member too. */
}

START_TEST(auto_rank)
{
	struct mp_opts o = { .size = _i ? 4 : 2, .flags = MP_NO_JOIN };

	MP_RUN(&o, body_auto_rank);
}
END_TEST

START_TEST(mismatch)
{
	struct mp_opts o = { .size = _i ? 4 : 2, .flags = MP_NO_JOIN,
			     .lib_timeout_ms = 1500 };

	MP_RUN(&o, body_mismatch);
}
END_TEST

START_TEST(missing)
{
	struct mp_opts o = { .size = _i ? 4 : 2, .flags = MP_NO_JOIN,
			     .lib_timeout_ms = 1000 };

	MP_RUN(&o, body_missing);
}
END_TEST

START_TEST(reuse)
{
	struct mp_opts o = { .size = _i ? 4 : 2, .flags = MP_NO_JOIN };

	MP_RUN(&o, body_reuse);
}
END_TEST

START_TEST(barriers)
{
	struct mp_opts o = { .size = _i ? 4 : 2 };

	MP_RUN(&o, body_barriers);
}
END_TEST

START_TEST(early_leave)
{
	struct mp_opts o = { .size = 3, .lib_timeout_ms = 5000 };

	MP_RUN(&o, body_early_leave);
}
END_TEST

START_TEST(leave_busy)
{
	struct mp_opts o = { .size = 2, .flavor = mp_loop_flavor(_i),
			     .lib_timeout_ms = LEAVE_BUSY_TIMEOUT };

	MP_RUN(&o, body_leave_busy);
}
END_TEST

START_TEST(shared_query)
{
	struct mp_opts o = { .size = mp_loop_size(_i),
			     .flavor = mp_loop_flavor(_i) };

	MP_RUN(&o, body_shared_query);
}
END_TEST

static Suite *group_suite(void)
{
	Suite *s = suite_create("mp-group");
	TCase *tc = tcase_create("group");

	tcase_set_timeout(tc, 40);
	tcase_add_loop_test(tc, auto_rank, 0, 2);
	tcase_add_loop_test(tc, mismatch, 0, 2);
	tcase_add_loop_test(tc, missing, 0, 2);
	tcase_add_loop_test(tc, reuse, 0, 2);
	tcase_add_loop_test(tc, barriers, 0, 2);
	tcase_add_loop_test(tc, shared_query, 0, 4);
	tcase_add_test(tc, early_leave);
	tcase_add_loop_test(tc, leave_busy, 0, 4);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite("mp-group", group_suite());
}
