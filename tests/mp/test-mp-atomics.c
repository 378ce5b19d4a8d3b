/*
 * Atomics between processes: every datatype x op for fetch_op, compare_swap
 * on each type, accumulate and get_accumulate with several elements, and
 * concurrent updates of one element (exact totals, distinct fetched
 * values, a CAS-based counter). Loop tests: iteration & 1 selects
 * allocate, & 2 selects 4 members.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define SLOT 128 /* bytes of each member's window per origin */

/*
 * Each origin works in its own slot of its right neighbour's window, so
 * results are deterministic.
 */
static void body_fetch_op_matrix(struct mp_env *e)
{
	int n = e->size, r = e->rank, t = (r + 1) % n, ti, oi, pass;
	elem_t init, x, res, want, now;
	size_t disp = (size_t)r * SLOT / 8, sz;
	win_t *w;

	w = mp_win(e, 0, (size_t)n * SLOT, 8, 0, NULL);
	CHECK_OK(win_lock_all(w, 0));
	for (ti = 0; ti < NTYPES; ti++) {
		win_datatype_t ty = all_types[ti];

		sz = win_datatype_size(ty);
		for (oi = 0; oi < NOPS; oi++) {
			win_op_t op = all_ops[oi];

			if (!op_valid(ty, op))
				continue;
			for (pass = 0; pass < 2; pass++) {
				elem_set(ty, &init, pass ? 3 : 12 + r);
				elem_set(ty, &x, pass ? 10 : 5);
				CHECK_OK(win_put(w, &init, sz, t, disp));
				CHECK_OK(win_flush(w, t));
				memset(&res, 0x5a, sizeof(res));
				CHECK_OK(win_fetch_op(w, &x, &res, ty, op, t,
						      disp));
				CHECK(elem_eq(ty, &res, &init),
				      "fetch_op %s %s fetched %g, not %g",
				      type_name(ty), op_name(op),
				      elem_get(ty, &res),
				      elem_get(ty, &init));
				CHECK_OK(win_flush(w, t));
				want = init;
				elem_apply(ty, op, &want, &x);
				memset(&now, 0, sizeof(now));
				CHECK_OK(win_get(w, &now, sz, t, disp));
				CHECK(elem_eq(ty, &now, &want),
				      "fetch_op %s %s: %g, expected %g",
				      type_name(ty), op_name(op),
				      elem_get(ty, &now),
				      elem_get(ty, &want));
			}
		}
	}
	CHECK_OK(win_unlock_all(w));
	mp_win_free(w);
}

static void body_compare_swap(struct mp_env *e)
{
	int n = e->size, r = e->rank, t = (r + 1) % n, ti;
	elem_t init, cmp, swp, res, now;
	size_t disp = (size_t)r * SLOT, sz;
	win_t *w;

	w = mp_win(e, 0, (size_t)n * SLOT, 1, 0, NULL);
	CHECK_OK(win_lock(w, WIN_LOCK_SHARED, t, 0));
	for (ti = 0; ti < NTYPES; ti++) {
		win_datatype_t ty = all_types[ti];

		sz = win_datatype_size(ty);
		elem_set(ty, &init, 40 + r);
		elem_set(ty, &swp, -2.5);
		if (ty == WIN_UINT32 || ty == WIN_UINT64 || ty == WIN_INT32 ||
		    ty == WIN_INT64)
			elem_set(ty, &swp, 99);
		CHECK_OK(win_put(w, &init, sz, t, disp + 8 * ti));
		CHECK_OK(win_flush(w, t));
		elem_set(ty, &cmp, 41 + r);
		CHECK_OK(win_compare_swap(w, &cmp, &swp, &res, ty, t,
					  disp + 8 * ti));
		CHECK(elem_eq(ty, &res, &init), "cas %s (miss) fetched %g",
		      type_name(ty), elem_get(ty, &res));
		CHECK_OK(win_flush(w, t));
		CHECK_OK(win_get(w, &now, sz, t, disp + 8 * ti));
		CHECK(elem_eq(ty, &now, &init), "cas %s (miss) wrote %g",
		      type_name(ty), elem_get(ty, &now));
		CHECK_OK(win_compare_swap(w, &init, &swp, &res, ty, t,
					  disp + 8 * ti));
		CHECK(elem_eq(ty, &res, &init), "cas %s (hit) fetched %g",
		      type_name(ty), elem_get(ty, &res));
		CHECK_OK(win_flush(w, t));
		CHECK_OK(win_get(w, &now, sz, t, disp + 8 * ti));
		CHECK(elem_eq(ty, &now, &swp), "cas %s (hit) left %g",
		      type_name(ty), elem_get(ty, &now));
	}
	CHECK_OK(win_unlock(w, t));
	mp_win_free(w);
}

static void body_accumulate(struct mp_env *e)
{
	enum { COUNT = 7 };
	int n = e->size, r = e->rank, t = (r + 1) % n, ti, oi, k;
	unsigned char buf[COUNT * 8], res[COUNT * 8], now[COUNT * 8];
	size_t disp = (size_t)r * SLOT, sz;
	elem_t in[COUNT], x[COUNT], want;
	win_t *w;

	w = mp_win(e, 0, (size_t)n * SLOT, 1, 0, NULL);
	CHECK_OK(win_lock_all(w, 0));
	for (ti = 0; ti < NTYPES; ti++) {
		win_datatype_t ty = all_types[ti];

		sz = win_datatype_size(ty);
		for (oi = 0; oi < NOPS; oi++) {
			win_op_t op = all_ops[oi];

			if (!op_valid(ty, op))
				continue;
			for (k = 0; k < COUNT; k++) {
				elem_set(ty, &in[k], 1 + k * 3 + r);
				elem_set(ty, &x[k], 11 - 2 * k);
				memcpy(buf + k * sz, &in[k], sz);
			}
			CHECK_OK(win_put(w, buf, COUNT * sz, t, disp));
			CHECK_OK(win_flush(w, t));
			for (k = 0; k < COUNT; k++)
				memcpy(buf + k * sz, &x[k], sz);
			if (oi & 1) {
				CHECK_OK(win_accumulate(w, buf, COUNT, ty, op,
							t, disp));
			} else {
				CHECK_OK(win_get_accumulate(w, buf, res,
							    COUNT, ty, op, t,
							    disp));
				for (k = 0; k < COUNT; k++)
					CHECK(elem_eq(ty, res + k * sz,
						      &in[k]),
					      "get_accumulate %s %s [%d] "
					      "fetched %g", type_name(ty),
					      op_name(op), k,
					      elem_get(ty, (elem_t *)(void *)
						       (res + k * sz)));
			}
			CHECK_OK(win_flush(w, t));
			CHECK_OK(win_get(w, now, COUNT * sz, t, disp));
			for (k = 0; k < COUNT; k++) {
				want = in[k];
				elem_apply(ty, op, &want, &x[k]);
				CHECK(elem_eq(ty, now + k * sz, &want),
				      "%s %s %s [%d]: got %g, expected %g",
				      oi & 1 ? "accumulate" :
				      "get_accumulate", type_name(ty),
				      op_name(op), k,
				      elem_get(ty, (elem_t *)(void *)
					       (now + k * sz)),
				      elem_get(ty, &want));
			}
		}
	}
	CHECK_OK(win_unlock_all(w));
	mp_win_free(w);
}

/*
 * Everyone adds 1 to one element at rank 0, K times, and records the old
 * values it fetched; together they must be exactly 0 .. N*K-1.
 */
static void body_fetch_add_race(struct mp_env *e)
{
	enum { K = 400 };
	int n = e->size, r = e->rank, k;
	uint64_t one = 1, old, total;
	uint32_t one32 = 1, old32;
	double oned = 1.0, oldd;
	unsigned char *seen;
	uint64_t *mine;
	win_t *w;

	mine = calloc(K, sizeof(*mine));
	CHECK(mine, "out of memory");
	/* [0]: uint64 counter, [1]: uint32 counter, [2]: double counter,
	 * then N*K bytes where everyone marks the values it fetched. */
	w = mp_win(e, 0, 64 + (size_t)n * K * 8, 8, 0, NULL);
	CHECK_OK(win_lock_all(w, 0));
	for (k = 0; k < K; k++) {
		CHECK_OK(win_fetch_op(w, &one, &old, WIN_UINT64, WIN_OP_SUM,
				      0, 0));
		mine[k] = old;
		CHECK_OK(win_fetch_op(w, &one32, &old32, WIN_UINT32,
				      WIN_OP_SUM, 0, 1));
		CHECK_OK(win_accumulate(w, &oned, 1, WIN_DOUBLE, WIN_OP_SUM,
					0, 2));
	}
	for (k = 0; k < K; k++) {
		uint64_t mark = 1 + (uint64_t)r;

		CHECK(mine[k] < (uint64_t)n * K, "fetched %llu",
		      (unsigned long long)mine[k]);
		CHECK_OK(win_put(w, &mark, 8, 0, 8 + mine[k]));
	}
	CHECK_OK(win_flush_all(w));
	mp_barrier(e);
	if (r == 0) {
		CHECK_OK(win_get(w, &total, 8, 0, 0));
		CHECK(total == (uint64_t)n * K, "uint64 total %llu, want %d",
		      (unsigned long long)total, n * K);
		CHECK_OK(win_fetch_op(w, &one32, &old32, WIN_UINT32,
				      WIN_OP_NO_OP, 0, 1));
		CHECK(old32 == (uint32_t)(n * K), "uint32 total %u", old32);
		CHECK_OK(win_fetch_op(w, &oned, &oldd, WIN_DOUBLE,
				      WIN_OP_NO_OP, 0, 2));
		CHECK(oldd == (double)(n * K), "double total %g", oldd);
		seen = malloc((size_t)n * K * 8);
		CHECK(seen, "out of memory");
		CHECK_OK(win_get(w, seen, (size_t)n * K * 8, 0, 8));
		for (k = 0; k < n * K; k++) {
			uint64_t m;

			memcpy(&m, seen + 8 * (size_t)k, 8);
			CHECK(m != 0, "old value %d was never fetched "
			      "(another was fetched twice)", k);
		}
		free(seen);
	}
	CHECK_OK(win_unlock_all(w));
	free(mine);
	mp_win_free(w);
}

/* A counter at rank n-1 incremented with compare_swap retry loops. */
static void body_cas_counter(struct mp_env *e)
{
	enum { K = 200 };
	int n = e->size, t = n - 1, k;
	int64_t cur, next, old;
	win_t *w;

	w = mp_win(e, 0, 64, 8, 0, NULL);
	CHECK_OK(win_lock(w, WIN_LOCK_SHARED, t, 0));
	for (k = 0; k < K; k++) {
		int64_t zero = 0;

		CHECK_OK(win_fetch_op(w, &zero, &cur, WIN_INT64, WIN_OP_NO_OP,
				      t, 1));
		for (;;) {
			next = cur + 1;
			CHECK_OK(win_compare_swap(w, &cur, &next, &old,
						  WIN_INT64, t, 1));
			if (old == cur)
				break;
			cur = old;
		}
	}
	CHECK_OK(win_unlock(w, t));
	mp_barrier(e);
	CHECK_OK(win_lock(w, WIN_LOCK_SHARED, t, 0));
	CHECK_OK(win_get(w, &cur, 8, t, 1));
	CHECK_OK(win_unlock(w, t));
	CHECK(cur == (int64_t)n * K, "CAS counter %lld, expected %d",
	      (long long)cur, n * K);
	mp_win_free(w);
}

/* Concurrent accumulate of arrays, mixed with fetch_op on the same
 * elements, and min/max races. */
static void body_accumulate_race(struct mp_env *e)
{
	enum { K = 100, M = 16 };
	int n = e->size, r = e->rank, k, i;
	int32_t src[M], got[M], one = 1, old;
	int64_t v, mx, mn;
	win_t *w;

	for (i = 0; i < M; i++)
		src[i] = i + 1;
	w = mp_win(e, 0, 4 * M + 64, 4, 0, NULL);
	CHECK_OK(win_lock_all(w, 0));
	for (k = 0; k < K; k++) {
		CHECK_OK(win_accumulate(w, src, M, WIN_INT32, WIN_OP_SUM, 0,
					0));
		CHECK_OK(win_fetch_op(w, &one, &old, WIN_INT32, WIN_OP_SUM, 0,
				      (size_t)(k % M)));
		v = (int64_t)(r * 1000 + k);
		CHECK_OK(win_accumulate(w, &v, 1, WIN_INT64, WIN_OP_MAX, 0,
					M + 2));
		v = -v - 1;
		CHECK_OK(win_accumulate(w, &v, 1, WIN_INT64, WIN_OP_MIN, 0,
					M + 4));
	}
	CHECK_OK(win_flush_all(w));
	mp_barrier(e);
	CHECK_OK(win_get(w, got, sizeof(got), 0, 0));
	CHECK_OK(win_get(w, &mx, 8, 0, M + 2));
	CHECK_OK(win_get(w, &mn, 8, 0, M + 4));
	CHECK_OK(win_unlock_all(w));
	for (i = 0; i < M; i++) {
		int32_t want = n * K * (i + 1) + n * (K / M + (i < K % M));

		CHECK(got[i] == want, "element %d: %d, expected %d", i,
		      got[i], want);
	}
	CHECK(mx == (int64_t)((n - 1) * 1000 + K - 1), "max %lld",
	      (long long)mx);
	CHECK(mn == -(int64_t)((n - 1) * 1000 + K - 1) - 1, "min %lld",
	      (long long)mn);
	mp_barrier(e);
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

LOOP_TEST(fetch_op_matrix)
LOOP_TEST(compare_swap)
LOOP_TEST(accumulate)
LOOP_TEST(fetch_add_race)
LOOP_TEST(cas_counter)
LOOP_TEST(accumulate_race)

static Suite *atomics_suite(void)
{
	Suite *s = suite_create("mp-atomics");
	TCase *tc;

	tc = tcase_create("ops");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, fetch_op_matrix, 0, 4);
	tcase_add_loop_test(tc, compare_swap, 0, 4);
	tcase_add_loop_test(tc, accumulate, 0, 4);
	suite_add_tcase(s, tc);

	tc = tcase_create("races");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, fetch_add_race, 0, 4);
	tcase_add_loop_test(tc, cas_counter, 0, 4);
	tcase_add_loop_test(tc, accumulate_race, 0, 4);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite("mp-atomics", atomics_suite());
}
