/*
 * Synchronization between processes: fence, post/start/complete/wait (and
 * win_test), exclusive and shared locks (mutual exclusion), lock_all,
 * flush family, win_sync, and enforced don't-touch with remote puts.
 * Loop tests: iteration & 1 selects allocate, & 2 selects 4 members.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static void body_fence_rounds(struct mp_env *e)
{
	int n = e->size, r = e->rank, round, t;
	uint32_t *b, v, got;
	void *base;
	win_t *w;

	w = mp_win(e, 0, 4 * (size_t)n, 4, 0, &base);
	b = base;
	CHECK_OK(win_fence(w, WIN_MODE_NOPRECEDE));
	for (round = 1; round <= 20; round++) {
		/* Everyone writes its slot in every member's window. */
		v = (uint32_t)(round * 1000 + r);
		for (t = 0; t < n; t++)
			CHECK_OK(win_put(w, &v, 4, t, r));
		CHECK_OK(win_fence(w, 0));
		for (t = 0; t < n; t++) {
			CHECK_OK(win_get(w, &got, 4, (r + 1) % n, t));
			CHECK(got == (uint32_t)(round * 1000 + t),
			      "round %d slot %d: %u", round, t, got);
		}
		CHECK_OK(win_fence(w, 0));
	}
	CHECK_OK(win_fence(w, WIN_MODE_NOSUCCEED));
	for (t = 0; t < n; t++)
		CHECK(b[t] == (uint32_t)(20 * 1000 + t), "final slot %d: %u",
		      t, b[t]);
	mp_win_free(w);
}

/* Rank 0 exposes to everyone else; the others access it. */
static void body_pscw_star(struct mp_env *e)
{
	int n = e->size, r = e->rank, ranks[16], k, round;
	uint64_t *b, v;
	void *base;
	win_t *w;

	w = mp_win(e, 0, 8 * (size_t)n, 8, 0, &base);
	b = base;
	for (round = 1; round <= 10; round++) {
		if (r == 0) {
			for (k = 1; k < n; k++)
				ranks[k - 1] = k;
			CHECK_OK(win_post(w, ranks, n - 1, 0));
			if (round & 1) {
				CHECK_OK(win_wait(w));
			} else {
				int done = 0;
				long long end = now_ms() + 10000;

				while (!done) {
					CHECK_OK(win_test(w, &done));
					CHECK(now_ms() < end,
					      "win_test never finished");
				}
			}
			for (k = 1; k < n; k++)
				CHECK(b[k] == (uint64_t)(round * 100 + k),
				      "round %d: slot %d is %llu", round, k,
				      (unsigned long long)b[k]);
		} else {
			ranks[0] = 0;
			CHECK_OK(win_start(w, ranks, 1, 0));
			v = (uint64_t)(round * 100 + r);
			CHECK_OK(win_put(w, &v, 8, 0, r));
			CHECK_OK(win_complete(w));
		}
	}
	mp_win_free(w);
}

/* Ring: each exposes to its left and accesses its right, both at once. */
static void body_pscw_ring(struct mp_env *e)
{
	int n = e->size, r = e->rank, right = (r + 1) % n;
	int left = (r + n - 1) % n, round;
	uint64_t *b, v, got;
	void *base;
	win_t *w;

	w = mp_win(e, 0, 64, 8, 0, &base);
	b = base;
	for (round = 1; round <= 20; round++) {
		CHECK_OK(win_post(w, &left, 1, 0));
		CHECK_OK(win_start(w, &right, 1, 0));
		v = (uint64_t)(round * 10 + r);
		CHECK_OK(win_put(w, &v, 8, right, round % 8));
		CHECK_OK(win_get(w, &got, 8, right, (round + 4) % 8));
		CHECK_OK(win_complete(w));
		CHECK_OK(win_wait(w));
		CHECK(b[round % 8] == (uint64_t)(round * 10 + left),
		      "round %d: got %llu from the left", round,
		      (unsigned long long)b[round % 8]);
	}
	mp_win_free(w);
}

/* N members increment a counter at rank 0 K times under exclusive lock. */
static void body_lock_counter(struct mp_env *e)
{
	enum { K = 150 };
	int n = e->size, k;
	uint64_t c, in_cs;
	win_t *w;

	w = mp_win(e, 0, 64, 8, 0, NULL);
	for (k = 0; k < K; k++) {
		CHECK_OK(win_lock(w, WIN_LOCK_EXCLUSIVE, 0, 0));
		in_cs = mp_add(e->scratch, 0, 1);
		CHECK(in_cs == 1, "%llu members inside an exclusive lock",
		      (unsigned long long)in_cs);
		CHECK_OK(win_get(w, &c, 8, 0, 0));
		c++;
		CHECK_OK(win_put(w, &c, 8, 0, 0));
		mp_add(e->scratch, 0, (uint64_t)-1);
		CHECK_OK(win_unlock(w, 0));
	}
	mp_barrier(e);
	CHECK_OK(win_lock(w, WIN_LOCK_SHARED, 0, 0));
	CHECK_OK(win_get(w, &c, 8, 0, 0));
	CHECK_OK(win_unlock(w, 0));
	CHECK(c == (uint64_t)n * K, "counter %llu, expected %d",
	      (unsigned long long)c, n * K);
	mp_win_free(w);
}

/* An exclusive lock keeps shared lockers out until it is released. */
static void body_lock_excludes_shared(struct mp_env *e)
{
	int r = e->rank;
	uint64_t v = 7, got = 0;
	win_t *w;

	w = mp_win(e, 0, 64, 8, 0, NULL);
	if (r == 1) {
		CHECK_OK(win_lock(w, WIN_LOCK_EXCLUSIVE, 0, 0));
		mp_store(e->scratch, 0, 1);	/* held */
		mp_sleep_ms(300);
		CHECK_OK(win_put(w, &v, 8, 0, 1));
		mp_store(e->scratch, 1, 1);	/* about to release */
		CHECK_OK(win_unlock(w, 0));
	} else {
		mp_wait_scratch(e, 0, 1, 10000);
		CHECK_OK(win_lock(w, WIN_LOCK_SHARED, 0, 0));
		CHECK(mp_load(e->scratch, 1) == 1,
		      "got a shared lock while another member held it "
		      "exclusively");
		CHECK_OK(win_get(w, &got, 8, 0, 1));
		CHECK_OK(win_unlock(w, 0));
		CHECK(got == 7, "read %llu after the exclusive epoch",
		      (unsigned long long)got);
	}
	mp_barrier(e);
	mp_win_free(w);
}

/* Shared locks are held concurrently by all members. */
static void body_lock_shared_concurrent(struct mp_env *e)
{
	int n = e->size;
	win_t *w;

	w = mp_win(e, 0, 64, 8, 0, NULL);
	CHECK_OK(win_lock(w, WIN_LOCK_SHARED, 0, 0));
	mp_add(e->scratch, 0, 1);
	/* Everyone holds it at the same time before anyone lets go. */
	mp_wait_scratch(e, 0, (uint64_t)n, 5000);
	CHECK_OK(win_unlock(w, 0));
	mp_barrier(e);
	mp_win_free(w);
}

static void body_lock_all_flush(struct mp_env *e)
{
	int n = e->size, r = e->rank, t, k;
	uint64_t v, got;
	win_t *w;

	w = mp_win(e, 0, 8 * (size_t)n * 4, 8, 0, NULL);
	CHECK_OK(win_lock_all(w, 0));
	for (k = 0; k < 4; k++) {
		for (t = 0; t < n; t++) {
			v = (uint64_t)(k << 16 | r << 8 | t);
			CHECK_OK(win_put(w, &v, 8, t, (size_t)(k * n + r)));
			switch (k) {
			case 0:
				CHECK_OK(win_flush(w, t));
				break;
			case 1:
				CHECK_OK(win_flush_local(w, t));
				break;
			default:
				break;
			}
			/* After a flush, our own get sees our put. */
			if (k == 0) {
				CHECK_OK(win_get(w, &got, 8, t,
						 (size_t)(k * n + r)));
				CHECK(got == v, "get after flush: %llx",
				      (unsigned long long)got);
			}
		}
		if (k == 2)
			CHECK_OK(win_flush_all(w));
		if (k == 3) {
			CHECK_OK(win_flush_local_all(w));
			CHECK_OK(win_flush_all(w));
		}
	}
	CHECK_OK(win_flush_all(w));
	CHECK_OK(win_sync(w));
	mp_barrier(e);
	for (t = 0; t < n; t++) {
		for (k = 0; k < 4; k++) {
			int o;

			for (o = 0; o < n; o++) {
				CHECK_OK(win_get(w, &got, 8, t,
						 (size_t)(k * n + o)));
				CHECK(got == (uint64_t)(k << 16 | o << 8 | t),
				      "member %d slot (%d,%d): %llx", t, k, o,
				      (unsigned long long)got);
			}
		}
	}
	CHECK_OK(win_unlock_all(w));
	mp_win_free(w);
}

/* Flush makes a put visible to a third party while the epoch goes on. */
static void body_flush_visibility(struct mp_env *e)
{
	int n = e->size, r = e->rank, round;
	uint64_t v, got;
	win_t *w;

	w = mp_win(e, 0, 64, 8, 0, NULL);
	CHECK_OK(win_lock_all(w, 0));
	for (round = 1; round <= 50; round++) {
		if (r == 0) {
			v = (uint64_t)round;
			CHECK_OK(win_put(w, &v, 8, n - 1, 0));
			CHECK_OK(win_flush(w, n - 1));
			mp_store(e->scratch, 0, (uint64_t)round);
		} else if (r == n - 1 || r == 1) {
			mp_wait_scratch(e, 0, (uint64_t)round, 10000);
			CHECK_OK(win_get(w, &got, 8, n - 1, 0));
			CHECK(got >= (uint64_t)round,
			      "round %d: flushed put not visible (%llu)",
			      round, (unsigned long long)got);
		}
	}
	CHECK_OK(win_unlock_all(w));
	mp_barrier(e);
	mp_win_free(w);
}

/* Direct stores by the owner, made visible with win_sync. */
static void body_sync_direct(struct mp_env *e)
{
	int n = e->size, r = e->rank, t;
	volatile uint64_t *b;
	uint64_t got;
	void *base;
	win_t *w;

	w = mp_win(e, 0, 64, 8, 0, &base);
	b = base;
	CHECK_OK(win_lock_all(w, 0));
	b[3] = 0xabc0u + (unsigned)r;
	CHECK_OK(win_sync(w));
	mp_barrier(e);
	for (t = 0; t < n; t++) {
		CHECK_OK(win_get(w, &got, 8, t, 3));
		CHECK(got == 0xabc0u + (unsigned)t, "member %d: %llx", t,
		      (unsigned long long)got);
	}
	CHECK_OK(win_unlock_all(w));
	mp_win_free(w);
}

static sigjmp_buf fault_jmp;
static volatile sig_atomic_t fault_code;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	fault_code = si->si_code;
	siglongjmp(fault_jmp, 1);
}

static int try_store(volatile unsigned char *p)
{
	fault_code = 0;
	if (sigsetjmp(fault_jmp, 1))
		return fault_code ? fault_code : -1;
	*p = 1;
	return 0;
}

/* Enforced don't-touch while peers put into the owner (allocate only). */
static void body_dont_touch(struct mp_env *e)
{
	int n = e->size, r = e->rank, right = (r + 1) % n;
	int left = (r + n - 1) % n, rc;
	struct sigaction sa;
	unsigned char *b, v;
	void *base;
	win_t *w;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	CHECK(sigaction(SIGSEGV, &sa, NULL) == 0, "sigaction");
	w = mp_win(e, WIN_FLAVOR_ALLOCATE, 4096, 1,
		   WIN_OPT_ENFORCE_DONT_TOUCH, &base);
	b = base;
	CHECK_OK(win_fence(w, 0));
	v = (unsigned char)(r + 1);
	CHECK_OK(win_put(w, &v, 1, right, 10));
	rc = try_store(b + 100);
	CHECK(rc == SEGV_ACCERR, "store in a fence epoch: %s",
	      rc ? "not SEGV_ACCERR" : "no fault");
	CHECK_OK(win_fence(w, WIN_MODE_NOSUCCEED));
	CHECK(try_store(b + 100) == 0, "store after the epoch faulted");
	CHECK(b[10] == (unsigned char)(left + 1), "byte from the left: %u",
	      b[10]);

	CHECK_OK(win_post(w, &left, 1, 0));
	CHECK_OK(win_start(w, &right, 1, 0));
	rc = try_store(b + 200);
	CHECK(rc == SEGV_ACCERR, "store while posted: %s",
	      rc ? "not SEGV_ACCERR" : "no fault");
	v = (unsigned char)(r + 101);
	CHECK_OK(win_put(w, &v, 1, right, 11));
	CHECK_OK(win_complete(w));
	CHECK_OK(win_wait(w));
	CHECK(try_store(b + 200) == 0, "store after wait faulted");
	CHECK(b[11] == (unsigned char)(left + 101), "byte from the left: %u",
	      b[11]);
	mp_win_free(w);
}

#define LOOP_TEST(fn)                                                     \
	START_TEST(fn)                                                     \
	{                                                                  \
		struct mp_opts o = { .size = mp_loop_size(_i),             \
				     .flavor = mp_loop_flavor(_i) };       \
		MP_RUN(&o, body_##fn);                                     \
	}                                                                  \
	END_TEST

LOOP_TEST(fence_rounds)
LOOP_TEST(pscw_star)
LOOP_TEST(pscw_ring)
LOOP_TEST(lock_counter)
LOOP_TEST(lock_excludes_shared)
LOOP_TEST(lock_shared_concurrent)
LOOP_TEST(lock_all_flush)
LOOP_TEST(flush_visibility)
LOOP_TEST(sync_direct)

START_TEST(dont_touch)
{
	struct mp_opts o = { .size = _i ? 4 : 2,
			     .flavor = WIN_FLAVOR_ALLOCATE };

	MP_RUN(&o, body_dont_touch);
}
END_TEST

static Suite *sync_suite(void)
{
	Suite *s = suite_create("mp-sync");
	TCase *tc;

	tc = tcase_create("active");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, fence_rounds, 0, 4);
	tcase_add_loop_test(tc, pscw_star, 0, 4);
	tcase_add_loop_test(tc, pscw_ring, 0, 4);
	tcase_add_loop_test(tc, dont_touch, 0, 2);
	suite_add_tcase(s, tc);

	tc = tcase_create("passive");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, lock_counter, 0, 4);
	tcase_add_loop_test(tc, lock_excludes_shared, 0, 4);
	tcase_add_loop_test(tc, lock_shared_concurrent, 0, 4);
	tcase_add_loop_test(tc, lock_all_flush, 0, 4);
	tcase_add_loop_test(tc, flush_visibility, 0, 4);
	tcase_add_loop_test(tc, sync_direct, 0, 4);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite("mp-sync", sync_suite());
}
