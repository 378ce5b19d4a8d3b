/*
 * A member that dies must not hang the others: a waiter in a barrier,
 * fence, lock or win_wait, and a stream of puts to it with its flush,
 * return WIN_ERR_PEER or WIN_ERR_TIMEOUT within the context's timeout
 * (2 s here). Loop tests: iteration & 1 selects
 * allocate, & 2 selects 4 members.
 */
#include <string.h>

#include "harness.h"

#define LIB_TIMEOUT 2000

static void expect_dead(int rc, long long t0, const char *what)
{
	long long dt = now_ms() - t0;

	CHECK(rc == WIN_ERR_PEER || rc == WIN_ERR_TIMEOUT,
	      "%s with a dead member: got %s, expected WIN_ERR_PEER or "
	      "WIN_ERR_TIMEOUT (%s)", what, rc_name(rc), win_last_error());
	CHECK(dt < LIB_TIMEOUT + 4000, "%s took %lld ms to notice", what,
	      dt);
}

static void body_barrier(struct mp_env *e)
{
	long long t0;
	win_t *w;

	w = mp_win(e, 0, 256, 1, 0, NULL);
	(void)w;
	mp_barrier(e);
	if (e->rank == e->size - 1)
		mp_exit_now();
	t0 = now_ms();
	expect_dead(win_group_barrier(e->group), t0, "win_group_barrier");
	mp_exit_now();
}

static void body_fence(struct mp_env *e)
{
	uint64_t v = 1;
	long long t0;
	int rc;
	win_t *w;

	w = mp_win(e, 0, 256, 8, 0, NULL);
	CHECK_OK(win_fence(w, 0));
	if (e->rank == e->size - 1)
		mp_exit_now();
	CHECK_OK(win_put(w, &v, 8, e->rank, 0));
	t0 = now_ms();
	rc = win_fence(w, 0);
	if (rc == WIN_OK) /* a second fence must need the dead member */
		rc = win_fence(w, WIN_MODE_NOSUCCEED);
	expect_dead(rc, t0, "win_fence");
	mp_exit_now();
}

static void body_lock(struct mp_env *e)
{
	uint64_t v = 1;
	long long t0;
	win_t *w;

	w = mp_win(e, 0, 256, 8, 0, NULL);
	mp_barrier(e);
	if (e->rank == 1) {
		CHECK_OK(win_lock(w, WIN_LOCK_EXCLUSIVE, 0, 0));
		CHECK_OK(win_put(w, &v, 8, 0, 0));
		mp_store(e->scratch, 0, 1);
		mp_exit_now(); /* dies holding the lock */
	}
	mp_wait_scratch(e, 0, 1, 8000);
	t0 = now_ms();
	expect_dead(win_lock(w, WIN_LOCK_EXCLUSIVE, 0, 0), t0,
		    "win_lock (held by a dead member)");
	mp_exit_now();
}

static void body_wait(struct mp_env *e)
{
	int n = e->size, r = e->rank, ranks[16], k, rc;
	uint64_t v = 1;
	long long t0;
	win_t *w;

	w = mp_win(e, 0, 256, 8, 0, NULL);
	mp_barrier(e);
	if (r == 0) {
		for (k = 1; k < n; k++)
			ranks[k - 1] = k;
		/* The dead member may already be seen by the post (a
		 * transport that signals it with a remote write). */
		t0 = now_ms();
		rc = win_post(w, ranks, n - 1, 0);
		if (rc == WIN_OK)
			rc = win_wait(w);
		expect_dead(rc, t0, "win_post + win_wait");
		/* Stay until the live members have completed: their
		 * complete reaches this member's memory (over a network
		 * transport, through this process). */
		mp_wait_scratch(e, 0, (uint64_t)(n - 2), 20000);
	} else if (r == n - 1) {
		mp_exit_now(); /* never starts its access epoch */
	} else {
		ranks[0] = 0;
		CHECK_OK(win_start(w, ranks, 1, 0));
		CHECK_OK(win_put(w, &v, 8, 0, r));
		rc = win_complete(w);
		mp_add(e->scratch, 0, 1);
		CHECK_OK(rc);
	}
	mp_exit_now();
}

/*
 * A stream of blocking puts to a member that has died, then a flush.
 * Over a network transport (ofi, verbs) the puts need the member: a put
 * (or, for puts a transport left in flight, the flush) fails. Over shared
 * memory they land in its still-mapped window, and the flush may succeed.
 */
static void body_put_stream(struct mp_env *e)
{
	static unsigned char src[8192];
	int dead = e->size - 1, rc, i;
	const char *t;
	long long t0;
	win_t *w;

	w = mp_win(e, 0, 64 * sizeof(src), 1, 0, NULL);
	t = win_transport_name(w, dead);
	mp_barrier(e);
	if (e->rank == dead) {
		mp_store(e->scratch, 0, 1);
		mp_exit_now();
	}
	mp_wait_scratch(e, 0, 1, 8000);
	mp_sleep_ms(100);
	t0 = now_ms();
	rc = win_lock_all(w, 0);
	for (i = 0; i < 64 && rc == WIN_OK; i++)
		rc = win_put(w, src, sizeof(src), dead, (size_t)i * sizeof(src));
	if (rc == WIN_OK)
		rc = win_flush(w, dead);
	if (mp_network_transport(t))
		expect_dead(rc, t0, "puts and a flush to a dead member");
	else
		CHECK(rc == WIN_OK || rc == WIN_ERR_PEER ||
		      rc == WIN_ERR_TIMEOUT, "puts and a flush to a dead "
		      "member over %s: %s (%s)", t ? t : "?", rc_name(rc),
		      win_last_error());
	mp_exit_now();
}

#define LOOP_TEST(fn)                                                     \
	START_TEST(fn)                                                     \
	{                                                                  \
		struct mp_opts o = { .size = mp_loop_size(_i),             \
				     .flavor = mp_loop_flavor(_i),         \
				     .lib_timeout_ms = LIB_TIMEOUT,        \
				     .timeout_ms = 20000,                  \
				     .flags = MP_NO_FINALIZE };            \
		MP_RUN(&o, body_##fn);                                     \
	}                                                                  \
	END_TEST

LOOP_TEST(barrier)
LOOP_TEST(fence)
LOOP_TEST(lock)
LOOP_TEST(wait)
LOOP_TEST(put_stream)

static Suite *deadpeer_suite(void)
{
	Suite *s = suite_create("mp-deadpeer");
	TCase *tc = tcase_create("deadpeer");

	tcase_set_timeout(tc, 40);
	tcase_add_loop_test(tc, barrier, 0, 4);
	tcase_add_loop_test(tc, fence, 0, 4);
	tcase_add_loop_test(tc, lock, 0, 4);
	tcase_add_loop_test(tc, wait, 0, 4);
	tcase_add_loop_test(tc, put_stream, 0, 4);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite("mp-deadpeer", deadpeer_suite());
}
