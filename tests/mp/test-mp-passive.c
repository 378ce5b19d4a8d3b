/*
 * Passive target needs no help from the target: the target sleeps in
 * plain system calls (never calling the library) while the others lock,
 * put, get, run atomics and unlock on it. The origins must finish while
 * it sleeps. Loop tests: iteration & 1 selects allocate, & 2 selects 4
 * members.
 */
#include <string.h>

#include "harness.h"

#define BLK 256

/* scratch words: 0 = target asleep, 1 = origins done, 2 = target awake */
static void body_sleeping_target(struct mp_env *e)
{
	int n = e->size, r = e->rank, k, i;
	unsigned char src[BLK], dst[BLK];
	uint64_t one = 1, old, total, cmp, swp;
	win_t *w;

	w = mp_win(e, 0, 64 + (size_t)n * BLK, 1, 0, NULL);
	mp_barrier(e);
	if (r == 0) {
		/* Asleep: no library call until everyone is done. */
		mp_store(e->scratch, 0, 1);
		mp_wait_scratch(e, 1, (uint64_t)(n - 1), 8000);
		mp_store(e->scratch, 2, 1);
	} else {
		mp_wait_scratch(e, 0, 1, 8000);
		for (k = 0; k < 20; k++) {
			for (i = 0; i < BLK; i++)
				src[i] = (unsigned char)(r * 37 + k + i);
			CHECK_OK(win_lock(w, k & 1 ? WIN_LOCK_SHARED :
					  WIN_LOCK_EXCLUSIVE, 0, 0));
			CHECK_OK(win_put(w, src, BLK, 0,
					 64 + (size_t)r * BLK));
			CHECK_OK(win_flush(w, 0));
			CHECK_OK(win_get(w, dst, BLK, 0,
					 64 + (size_t)r * BLK));
			CHECK(!memcmp(src, dst, BLK), "get after put");
			CHECK_OK(win_fetch_op(w, &one, &old, WIN_UINT64,
					      WIN_OP_SUM, 0, 0));
			CHECK_OK(win_accumulate(w, &one, 1, WIN_UINT64,
						WIN_OP_SUM, 0, 8));
			cmp = 0;
			swp = (uint64_t)r;
			CHECK_OK(win_compare_swap(w, &cmp, &swp, &old,
						  WIN_UINT64, 0, 16));
			CHECK_OK(win_unlock(w, 0));
		}
		CHECK_OK(win_lock_all(w, 0));
		CHECK_OK(win_get(w, dst, BLK, 0, 64 + (size_t)r * BLK));
		CHECK_OK(win_unlock_all(w));
		CHECK(!memcmp(src, dst, BLK), "get under lock_all");
		CHECK(mp_load(e->scratch, 2) == 0,
		      "the target woke up before the origins finished");
		mp_add(e->scratch, 1, 1);
	}
	mp_barrier(e);
	CHECK_OK(win_lock(w, WIN_LOCK_SHARED, 0, 0));
	CHECK_OK(win_get(w, &total, 8, 0, 0));
	CHECK(total == (uint64_t)(n - 1) * 20, "fetch_op total %llu",
	      (unsigned long long)total);
	CHECK_OK(win_get(w, &total, 8, 0, 8));
	CHECK(total == (uint64_t)(n - 1) * 20, "accumulate total %llu",
	      (unsigned long long)total);
	CHECK_OK(win_get(w, &total, 8, 0, 16));
	CHECK(total >= 1 && total < (uint64_t)n, "CAS winner %llu",
	      (unsigned long long)total);
	CHECK_OK(win_unlock(w, 0));
	mp_win_free(w);
}

/* An exclusive lock held by a sleeping origin is still waited for, and
 * the waiter proceeds once it is released. */
static void body_sleeping_holder(struct mp_env *e)
{
	int n = e->size, r = e->rank;
	uint64_t v;
	win_t *w;

	w = mp_win(e, 0, 64, 8, 0, NULL);
	if (r == n - 1) {
		CHECK_OK(win_lock(w, WIN_LOCK_EXCLUSIVE, 0, 0));
		v = 5;
		CHECK_OK(win_put(w, &v, 8, 0, 0));
		mp_store(e->scratch, 0, 1);
		mp_sleep_ms(200);
		CHECK_OK(win_unlock(w, 0));
	} else {
		mp_wait_scratch(e, 0, 1, 8000);
		CHECK_OK(win_lock(w, WIN_LOCK_EXCLUSIVE, 0, 0));
		CHECK_OK(win_get(w, &v, 8, 0, 0));
		CHECK(v >= 5, "read %llu: the holder's put was lost",
		      (unsigned long long)v);
		v++;
		CHECK_OK(win_put(w, &v, 8, 0, 0));
		CHECK_OK(win_unlock(w, 0));
	}
	mp_barrier(e);
	CHECK_OK(win_lock(w, WIN_LOCK_SHARED, 0, 0));
	CHECK_OK(win_get(w, &v, 8, 0, 0));
	CHECK_OK(win_unlock(w, 0));
	CHECK(v == (uint64_t)(5 + n - 1), "final %llu",
	      (unsigned long long)v);
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

LOOP_TEST(sleeping_target)
LOOP_TEST(sleeping_holder)

static Suite *passive_suite(void)
{
	Suite *s = suite_create("mp-passive");
	TCase *tc = tcase_create("progress");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, sleeping_target, 0, 4);
	tcase_add_loop_test(tc, sleeping_holder, 0, 4);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite("mp-passive", passive_suite());
}
