/*
 * Error paths between processes. Members expose windows of different
 * sizes and displacement units (member r: 64 * (r + 1) bytes, unit
 * 1, 8, 4, 2), so bounds are checked against the *target's* window.
 * Loop tests: iteration & 1 selects allocate, & 2 selects 4 members.
 */
#include <string.h>

#include "harness.h"

static const int units[4] = { 1, 8, 4, 2 };

static size_t size_of(int r)
{
	return 64 * (size_t)(r + 1);
}

static win_t *open_uneven(struct mp_env *e)
{
	return mp_win(e, 0, size_of(e->rank), units[e->rank], 0, NULL);
}

static void body_peer_bounds(struct mp_env *e)
{
	unsigned char buf[512];
	uint64_t v = 0, res;
	struct iovec iov = { buf, 8 };
	win_seg_t seg;
	int n = e->size, t;
	size_t end;
	win_t *w = open_uneven(e);

	CHECK_OK(win_lock_all(w, 0));
	for (t = 0; t < n; t++) {
		end = size_of(t) / units[t]; /* first unit past the end */
		/* Exactly the whole window: fine. */
		CHECK_OK(win_put(w, buf, size_of(t), t, 0));
		CHECK_OK(win_get(w, buf, 8, t, end - 8 / units[t]));
		/* Start at the end: length error. */
		CHECK_RC(win_put(w, buf, 8, t, end), WIN_ERR_LENGTH);
		CHECK_RC(win_get(w, buf, 1, t, end), WIN_ERR_LENGTH);
		CHECK_RC(win_fetch_op(w, &v, &res, WIN_UINT64, WIN_OP_SUM, t,
				      end), WIN_ERR_LENGTH);
		/* Inside, but running past the end. */
		CHECK_RC(win_put(w, buf, size_of(t) + 1, t, 0),
			 WIN_ERR_LENGTH);
		CHECK_RC(win_get(w, buf, 16, t, end - 8 / units[t]),
			 WIN_ERR_LENGTH);
		CHECK_RC(win_accumulate(w, buf, size_of(t) / 8 + 1,
					WIN_UINT64, WIN_OP_SUM, t, 0),
			 WIN_ERR_LENGTH);
		/* Past the end: displacement error. */
		CHECK_RC(win_put(w, buf, 1, t, end + 1), WIN_ERR_DISP);
		CHECK_RC(win_get(w, buf, 1, t, end + 100), WIN_ERR_DISP);
		CHECK_RC(win_compare_swap(w, &v, &v, &res, WIN_UINT64, t,
					  end + 8), WIN_ERR_DISP);
		CHECK_RC(win_get_accumulate(w, buf, buf + 64, 1, WIN_UINT64,
					    WIN_OP_SUM, t, end * 2),
			 WIN_ERR_DISP);
		seg = (win_seg_t){ end + 1, 8 };
		CHECK_RC(win_putv(w, &iov, 1, t, &seg, 1), WIN_ERR_DISP);
		seg = (win_seg_t){ end - 1, 8 };
		if (units[t] < 8)
			CHECK_RC(win_getv(w, &iov, 1, t, &seg, 1),
				 WIN_ERR_LENGTH);
		/* The larger window of the last member is no excuse. */
		if (t < n - 1)
			CHECK_RC(win_put(w, buf, size_of(n - 1), t, 0),
				 WIN_ERR_LENGTH);
		/* Misaligned atomic target in the peer's window. */
		if (units[t] < 8) {
			CHECK_RC(win_fetch_op(w, &v, &res, WIN_UINT64,
					      WIN_OP_SUM, t, 4 / units[t]),
				 WIN_ERR_DATATYPE);
			CHECK_RC(win_compare_swap(w, &v, &v, &res, WIN_INT64,
						  t, 4 / units[t]),
				 WIN_ERR_DATATYPE);
		}
	}
	CHECK_OK(win_unlock_all(w));
	mp_barrier(e);
	mp_win_free(w);
}

static void body_bad_rank(struct mp_env *e)
{
	uint64_t v = 0, res;
	int n = e->size;
	win_t *w = open_uneven(e);

	CHECK_OK(win_lock_all(w, 0));
	CHECK_RC(win_put(w, &v, 8, n, 0), WIN_ERR_RANK);
	CHECK_RC(win_get(w, &v, 8, -1, 0), WIN_ERR_RANK);
	CHECK_RC(win_fetch_op(w, &v, &res, WIN_UINT64, WIN_OP_SUM, n + 5, 0),
		 WIN_ERR_RANK);
	CHECK_RC(win_put_signal(w, &v, 8, n, 0, 0, 1, WIN_SIGNAL_SET),
		 WIN_ERR_RANK);
	CHECK_RC(win_flush(w, n), WIN_ERR_RANK);
	CHECK_OK(win_unlock_all(w));
	CHECK_RC(win_lock(w, WIN_LOCK_SHARED, n, 0), WIN_ERR_RANK);
	CHECK_RC(win_post(w, &n, 1, 0), WIN_ERR_RANK);
	CHECK_RC(win_start(w, &n, 1, 0), WIN_ERR_RANK);
	mp_barrier(e);
	mp_win_free(w);
}

static void body_outside_epoch(struct mp_env *e)
{
	int n = e->size, r = e->rank, right = (r + 1) % n;
	uint64_t v = 0, res;
	win_t *w = open_uneven(e);

	CHECK_RC(win_put(w, &v, 8, right, 0), WIN_ERR_SYNC);
	CHECK_RC(win_get(w, &v, 8, right, 0), WIN_ERR_SYNC);
	CHECK_RC(win_fetch_op(w, &v, &res, WIN_UINT64, WIN_OP_SUM, right, 0),
		 WIN_ERR_SYNC);
	CHECK_RC(win_put_signal(w, &v, 8, right, 0, 0, 1, WIN_SIGNAL_ADD),
		 WIN_ERR_SYNC);
	CHECK_RC(win_flush(w, right), WIN_ERR_SYNC);

	/* A lock on one target does not open an epoch to another. */
	if (n > 2) {
		CHECK_OK(win_lock(w, WIN_LOCK_SHARED, right, 0));
		CHECK_RC(win_put(w, &v, 8, (r + 2) % n, 0), WIN_ERR_SYNC);
		CHECK_RC(win_flush(w, (r + 2) % n), WIN_ERR_SYNC);
		CHECK_OK(win_put(w, &v, 8, right, 0));
		CHECK_OK(win_unlock(w, right));
	}
	/* Start with one peer: the others are not in the access epoch. */
	CHECK_OK(win_post(w, (int[]){ (r + n - 1) % n }, 1, 0));
	CHECK_OK(win_start(w, &right, 1, 0));
	if (n > 2)
		CHECK_RC(win_put(w, &v, 8, (r + 2) % n, 0), WIN_ERR_SYNC);
	CHECK_OK(win_put(w, &v, 8, right, 0));
	CHECK_OK(win_complete(w));
	CHECK_OK(win_wait(w));
	CHECK_RC(win_put(w, &v, 8, right, 0), WIN_ERR_SYNC);

	/* Fence epoch with operations, then lock: refused until closed. */
	CHECK_OK(win_fence(w, 0));
	CHECK_OK(win_put(w, &v, 8, right, 0));
	CHECK_RC(win_lock(w, WIN_LOCK_SHARED, right, 0), WIN_ERR_SYNC);
	CHECK_RC(win_lock_all(w, 0), WIN_ERR_SYNC);
	CHECK_RC(win_free(w), WIN_ERR_SYNC);
	CHECK_OK(win_fence(w, WIN_MODE_NOSUCCEED));
	CHECK_RC(win_put(w, &v, 8, right, 0), WIN_ERR_SYNC);
	CHECK_OK(win_lock(w, WIN_LOCK_SHARED, right, 0));
	CHECK_OK(win_unlock(w, right));
	mp_barrier(e);
	mp_win_free(w);
}

static void body_after_free(struct mp_env *e)
{
	int n = e->size, r = e->rank, right = (r + 1) % n;
	uint64_t v = 0, res;
	win_t *w = open_uneven(e);

	mp_win_free(w);
	CHECK_RC(win_put(w, &v, 8, right, 0), WIN_ERR_HANDLE);
	CHECK_RC(win_get(w, &v, 8, right, 0), WIN_ERR_HANDLE);
	CHECK_RC(win_fetch_op(w, &v, &res, WIN_UINT64, WIN_OP_SUM, right, 0),
		 WIN_ERR_HANDLE);
	CHECK_RC(win_lock(w, WIN_LOCK_SHARED, right, 0), WIN_ERR_HANDLE);
	CHECK_RC(win_lock_all(w, 0), WIN_ERR_HANDLE);
	CHECK_RC(win_fence(w, 0), WIN_ERR_HANDLE);
	CHECK_RC(win_free(w), WIN_ERR_HANDLE);
	/* The group goes on working. */
	mp_barrier(e);
}

#define LOOP_TEST(fn)                                                     \
	START_TEST(fn)                                                     \
	{                                                                  \
		struct mp_opts o = { .size = mp_loop_size(_i),             \
				     .flavor = mp_loop_flavor(_i) };       \
		MP_RUN(&o, body_##fn);                                     \
	}                                                                  \
	END_TEST

LOOP_TEST(peer_bounds)
LOOP_TEST(bad_rank)
LOOP_TEST(outside_epoch)
LOOP_TEST(after_free)

static Suite *errors_suite(void)
{
	Suite *s = suite_create("mp-errors");
	TCase *tc = tcase_create("errors");

	tcase_set_timeout(tc, 40);
	tcase_add_loop_test(tc, peer_bounds, 0, 4);
	tcase_add_loop_test(tc, bad_rank, 0, 4);
	tcase_add_loop_test(tc, outside_epoch, 0, 4);
	tcase_add_loop_test(tc, after_free, 0, 4);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite("mp-errors", errors_suite());
}
