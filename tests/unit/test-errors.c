/*
 * Error paths on a group of one member: arguments, ranks, displacements,
 * lengths, datatypes, ops, epoch states, freed handles and requests, and
 * the precedence between them. Loop iteration 0: created window,
 * 1: allocated window.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "self.h"

#define WSIZE 64 /* bytes; windows use disp_unit 4 (16 units) */

static win_t *setup(struct self *s, int i)
{
	self_setup(s, 0);
	return self_win(s, loop_flavor(i), WSIZE, 4, 0, NULL);
}

#define SKIP 1 /* no expectation for compare_swap */

/*
 * The atomic operations on `rank` at `disp` with `len` bytes worth of
 * elements of `type` under `op` must fail with `want`; compare_swap (which
 * has no op) with `cas_want` unless that is SKIP.
 */
static void atomics_fail(win_t *w, int rank, size_t disp, size_t len,
			 win_datatype_t type, win_op_t op, int want,
			 int cas_want, const char *what)
{
	static unsigned char buf[256], res[256];
	uint64_t cmp = 0, swp = 0, r64;
	size_t count = len / 8 ? len / 8 : 1;
	int rc;

#define EXPECT(call, want_)                                               \
	do {                                                               \
		rc = (call);                                               \
		ck_assert_msg(rc == (want_), "%s: %s: got %s, expected %s "\
			      "(%s)", what, #call, rc_name(rc),            \
			      rc_name(want_), win_last_error());           \
	} while (0)

	EXPECT(win_fetch_op(w, buf, res, type, op, rank, disp), want);
	EXPECT(win_accumulate(w, buf, count, type, op, rank, disp), want);
	EXPECT(win_get_accumulate(w, buf, res, count, type, op, rank, disp),
	       want);
	if (cas_want != SKIP)
		EXPECT(win_compare_swap(w, &cmp, &swp, &r64, type, rank, disp),
		       cas_want);
}

/* The data-movement (non-atomic) operations. */
static void rma_fail(win_t *w, int rank, size_t disp, size_t len, int want,
		     const char *what)
{
	static unsigned char buf[256];
	struct iovec iov = { buf, len };
	win_seg_t seg = { disp, len };
	win_req_t *req = NULL;
	int rc;

	EXPECT(win_put(w, buf, len, rank, disp), want);
	EXPECT(win_get(w, buf, len, rank, disp), want);
	EXPECT(win_iput(w, buf, len, rank, disp, &req), want);
	ck_assert_ptr_null(req);
	EXPECT(win_iget(w, buf, len, rank, disp, &req), want);
	ck_assert_ptr_null(req);
	EXPECT(win_put_strided(w, buf, 8, len, 1, rank, disp, 8), want);
	EXPECT(win_get_strided(w, buf, 8, len, 1, rank, disp, 8), want);
	EXPECT(win_putv(w, &iov, 1, rank, &seg, 1), want);
	EXPECT(win_getv(w, &iov, 1, rank, &seg, 1), want);
	EXPECT(win_put_signal(w, buf, len, rank, disp, 0, 1, WIN_SIGNAL_SET),
	       want);
}

/* Every operation, with a valid datatype and op. */
static void all_ops_fail(win_t *w, int rank, size_t disp, size_t len,
			 int want, const char *what)
{
	rma_fail(w, rank, disp, len, want, what);
	atomics_fail(w, rank, disp, len, WIN_INT64, WIN_OP_SUM, want, want,
		     what);
}

START_TEST(bad_rank)
{
	struct self s;
	win_t *w = setup(&s, _i);
	static const int one[1] = { 1 }, neg[1] = { -1 };

	ck_assert_ok(win_lock_all(w, 0));
	all_ops_fail(w, 1, 0, 8, WIN_ERR_RANK, "rank 1");
	all_ops_fail(w, -1, 0, 8, WIN_ERR_RANK, "rank -1");
	all_ops_fail(w, 1000000, 0, 8, WIN_ERR_RANK, "rank 1000000");
	ck_assert_ok(win_unlock_all(w));
	ck_assert_rc(win_lock(w, WIN_LOCK_SHARED, 1, 0), WIN_ERR_RANK);
	ck_assert_rc(win_lock(w, WIN_LOCK_SHARED, -1, 0), WIN_ERR_RANK);
	ck_assert_rc(win_unlock(w, 1), WIN_ERR_RANK);
	ck_assert_rc(win_post(w, one, 1, 0), WIN_ERR_RANK);
	ck_assert_rc(win_start(w, neg, 1, 0), WIN_ERR_RANK);
	ck_assert_rc(win_shared_query(w, 1, NULL, NULL, NULL), WIN_ERR_RANK);
	ck_assert_rc(win_shared_query(w, -1, NULL, NULL, NULL), WIN_ERR_RANK);
	/* Flushes, inside an epoch that allows them. */
	ck_assert_ok(win_lock_all(w, 0));
	ck_assert_rc(win_flush(w, 1), WIN_ERR_RANK);
	ck_assert_rc(win_flush_local(w, 1), WIN_ERR_RANK);
	ck_assert_rc(win_flush(w, -1), WIN_ERR_RANK);
	ck_assert_rc(win_flush_local(w, -2), WIN_ERR_RANK);
	ck_assert_ok(win_unlock_all(w));
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

START_TEST(bad_disp)
{
	struct self s;
	win_t *w = setup(&s, _i);

	ck_assert_ok(win_lock(w, WIN_LOCK_EXCLUSIVE, 0, 0));
	/* 17 units * 4 = byte 68 > 64: the start is outside. */
	all_ops_fail(w, 0, 17, 8, WIN_ERR_DISP, "disp 17");
	all_ops_fail(w, 0, 1000000, 8, WIN_ERR_DISP, "disp 1000000");
	/* disp * disp_unit overflows size_t: still outside. */
	all_ops_fail(w, 0, SIZE_MAX / 4 + 2, 8, WIN_ERR_DISP,
		     "disp overflowing");
	all_ops_fail(w, 0, SIZE_MAX / 2 + 1, 8, WIN_ERR_DISP,
		     "disp overflowing to 0");
	all_ops_fail(w, 0, SIZE_MAX, 8, WIN_ERR_DISP, "disp SIZE_MAX");
	ck_assert_rc(win_signal_wait_until(w, 1000, WIN_CMP_EQ, 0, NULL),
		     WIN_ERR_DISP);
	ck_assert_ok(win_unlock(w, 0));
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

START_TEST(bad_length)
{
	unsigned char buf[128];
	struct self s;
	win_t *w = setup(&s, _i);
	struct iovec iov[2];
	win_seg_t seg[2];

	ck_assert_ok(win_lock(w, WIN_LOCK_EXCLUSIVE, 0, 0));
	/* Start at the end (unit 16 = byte 64) or inside, end outside. */
	all_ops_fail(w, 0, 16, 8, WIN_ERR_LENGTH, "disp at end");
	rma_fail(w, 0, 15, 8, WIN_ERR_LENGTH, "disp 15 len 8");
	rma_fail(w, 0, 0, 65, WIN_ERR_LENGTH, "len 65");
	rma_fail(w, 0, 1, SIZE_MAX, WIN_ERR_LENGTH, "len SIZE_MAX");
	rma_fail(w, 0, 1, SIZE_MAX - 2, WIN_ERR_LENGTH, "len wrapping");
	/* Atomics with more elements than fit. */
	ck_assert_rc(win_accumulate(w, buf, 9, WIN_INT64, WIN_OP_SUM, 0, 0),
		     WIN_ERR_LENGTH);
	ck_assert_rc(win_get_accumulate(w, buf, buf + 64, 3, WIN_INT32,
					WIN_OP_SUM, 0, 14),
		     WIN_ERR_LENGTH);
	ck_assert_rc(win_accumulate(w, buf, SIZE_MAX / 2, WIN_INT64,
				    WIN_OP_SUM, 0, 0), WIN_ERR_LENGTH);
	/* Strided: the last block runs past the end. */
	ck_assert_rc(win_put_strided(w, buf, 8, 8, 4, 0, 0, 20),
		     WIN_ERR_LENGTH);
	ck_assert_rc(win_get_strided(w, buf, 8, 8, 4, 0, 0, 20),
		     WIN_ERR_LENGTH);
	ck_assert_ok(win_put_strided(w, buf, 8, 8, 3, 0, 0, 20));
	/* Signal word past the end, and data past the end. */
	ck_assert_rc(win_put_signal(w, buf, 8, 0, 0, 16, 1, WIN_SIGNAL_SET),
		     WIN_ERR_LENGTH);
	ck_assert_rc(win_put_signal(w, buf, 8, 0, 0, 18, 1, WIN_SIGNAL_SET),
		     WIN_ERR_DISP);
	/* Vector: origin and target totals disagree. */
	iov[0] = (struct iovec){ buf, 8 };
	iov[1] = (struct iovec){ buf + 8, 8 };
	seg[0] = (win_seg_t){ 0, 8 };
	seg[1] = (win_seg_t){ 4, 4 };
	ck_assert_rc(win_putv(w, iov, 2, 0, seg, 2), WIN_ERR_LENGTH);
	ck_assert_rc(win_getv(w, iov, 2, 0, seg, 2), WIN_ERR_LENGTH);
	/* Vector: a segment starting outside, one running past the end. */
	seg[1] = (win_seg_t){ 17, 8 };
	ck_assert_rc(win_putv(w, iov, 2, 0, seg, 2), WIN_ERR_DISP);
	seg[1] = (win_seg_t){ 15, 8 };
	ck_assert_rc(win_getv(w, iov, 2, 0, seg, 2), WIN_ERR_LENGTH);
	/* Exactly up to the end is fine, and so is nothing at the end. */
	ck_assert_ok(win_put(w, buf, 8, 0, 14));
	ck_assert_ok(win_get(w, buf, 64, 0, 0));
	ck_assert_ok(win_put(w, buf, 0, 0, 16));
	ck_assert_ok(win_unlock(w, 0));
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

START_TEST(bad_datatype)
{
	uint64_t v;
	struct self s;
	win_t *w;

	self_setup(&s, 0);
	w = self_win(&s, loop_flavor(_i), WSIZE, 1, 0, NULL);
	ck_assert_ok(win_lock_all(w, 0));
	atomics_fail(w, 0, 0, 8, (win_datatype_t)0, WIN_OP_SUM,
		     WIN_ERR_DATATYPE, WIN_ERR_DATATYPE, "type 0");
	atomics_fail(w, 0, 0, 8, (win_datatype_t)99, WIN_OP_SUM,
		     WIN_ERR_DATATYPE, WIN_ERR_DATATYPE, "type 99");
	/* Misaligned targets (disp_unit 1). */
	atomics_fail(w, 0, 4, 8, WIN_INT64, WIN_OP_SUM, WIN_ERR_DATATYPE,
		     WIN_ERR_DATATYPE, "int64 at byte 4");
	atomics_fail(w, 0, 2, 8, WIN_UINT32, WIN_OP_SUM, WIN_ERR_DATATYPE,
		     WIN_ERR_DATATYPE, "uint32 at byte 2");
	atomics_fail(w, 0, 1, 8, WIN_DOUBLE, WIN_OP_MAX, WIN_ERR_DATATYPE,
		     WIN_ERR_DATATYPE, "double at byte 1");
	atomics_fail(w, 0, 6, 8, WIN_FLOAT, WIN_OP_SUM, WIN_ERR_DATATYPE,
		     WIN_ERR_DATATYPE, "float at byte 6");
	ck_assert_rc2(win_put_signal(w, &s, 1, 0, 0, 12, 1, WIN_SIGNAL_SET),
		      WIN_ERR_DATATYPE, WIN_ERR_ARG);
	ck_assert_rc2(win_signal_wait_until(w, 4, WIN_CMP_EQ, 0, NULL),
		      WIN_ERR_DATATYPE, WIN_ERR_ARG);
	ck_assert_rc2(win_signal_read(w, 3, &v), WIN_ERR_DATATYPE,
		      WIN_ERR_ARG);
	ck_assert_ok(win_unlock_all(w));
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

START_TEST(bad_op)
{
	unsigned char buf[64], res[64];
	struct self s;
	win_t *w = setup(&s, _i);

	ck_assert_ok(win_lock_all(w, 0));
	atomics_fail(w, 0, 0, 8, WIN_INT32, (win_op_t)0, WIN_ERR_OP, SKIP,
		     "op 0");
	atomics_fail(w, 0, 0, 8, WIN_UINT64, (win_op_t)42, WIN_ERR_OP, SKIP,
		     "op 42");
	/* Bitwise ops on floating types. */
	ck_assert_rc(win_fetch_op(w, buf, res, WIN_FLOAT, WIN_OP_BAND, 0, 0),
		     WIN_ERR_OP);
	ck_assert_rc(win_fetch_op(w, buf, res, WIN_DOUBLE, WIN_OP_BOR, 0, 0),
		     WIN_ERR_OP);
	ck_assert_rc(win_accumulate(w, buf, 2, WIN_DOUBLE, WIN_OP_BXOR, 0, 0),
		     WIN_ERR_OP);
	ck_assert_rc(win_get_accumulate(w, buf, res, 2, WIN_FLOAT,
					WIN_OP_BXOR, 0, 0), WIN_ERR_OP);
	ck_assert_rc(win_accumulate(w, buf, 2, WIN_FLOAT, WIN_OP_BAND, 0, 0),
		     WIN_ERR_OP);
	ck_assert_rc(win_get_accumulate(w, buf, res, 1, WIN_DOUBLE,
					WIN_OP_BAND, 0, 0), WIN_ERR_OP);
	/* Bad signal op or comparison. */
	ck_assert_rc2(win_put_signal(w, buf, 8, 0, 0, 8, 1, 0), WIN_ERR_OP,
		      WIN_ERR_ARG);
	ck_assert_rc2(win_put_signal(w, buf, 8, 0, 0, 8, 1, 3), WIN_ERR_OP,
		      WIN_ERR_ARG);
	ck_assert_rc2(win_signal_wait_until(w, 0, 0, 0, NULL), WIN_ERR_OP,
		      WIN_ERR_ARG);
	ck_assert_rc2(win_signal_wait_until(w, 0, 7, 0, NULL), WIN_ERR_OP,
		      WIN_ERR_ARG);
	ck_assert_ok(win_unlock_all(w));
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

START_TEST(precedence)
{
	struct self s;
	win_t *w;

	self_setup(&s, 0);
	w = self_win(&s, loop_flavor(_i), WSIZE, 1, 0, NULL);
	/* No epoch is open: handle > rank > sync > the rest. */
	rma_fail(NULL, 7, 1000, 65, WIN_ERR_HANDLE, "NULL window, bad all");
	atomics_fail(NULL, 7, 1000, 8, (win_datatype_t)0, (win_op_t)0,
		     WIN_ERR_HANDLE, WIN_ERR_HANDLE, "NULL window, bad all");
	rma_fail(w, 7, 1000, 65, WIN_ERR_RANK, "bad rank, no epoch, bad all");
	atomics_fail(w, 7, 1000, 8, (win_datatype_t)0, (win_op_t)0,
		     WIN_ERR_RANK, WIN_ERR_RANK, "bad rank, no epoch, bad all");
	rma_fail(w, 0, 1000, 65, WIN_ERR_SYNC, "no epoch, bad all");
	atomics_fail(w, 0, 1000, 8, (win_datatype_t)0, (win_op_t)0,
		     WIN_ERR_SYNC, WIN_ERR_SYNC, "no epoch, bad all");
	ck_assert_ok(win_lock_all(w, 0));
	atomics_fail(w, 0, 1000, 8, (win_datatype_t)0, (win_op_t)0,
		     WIN_ERR_DATATYPE, WIN_ERR_DATATYPE,
		     "bad datatype, op, disp");
	atomics_fail(w, 0, 1000, 8, WIN_INT64, (win_op_t)0, WIN_ERR_OP,
		     WIN_ERR_DISP, "bad op, disp");
	atomics_fail(w, 0, 1000, 8, WIN_DOUBLE, WIN_OP_BAND, WIN_ERR_OP,
		     WIN_ERR_DISP, "bitwise on double, bad disp");
	atomics_fail(w, 0, 1000, 8, WIN_INT64, WIN_OP_SUM, WIN_ERR_DISP,
		     WIN_ERR_DISP, "bad disp");
	atomics_fail(w, 0, 64, 8, WIN_INT64, WIN_OP_SUM, WIN_ERR_LENGTH,
		     WIN_ERR_LENGTH, "at the end");
	rma_fail(w, 0, 1000, 8, WIN_ERR_DISP, "bad disp");
	rma_fail(w, 7, 60, 8, WIN_ERR_RANK, "bad rank and length");
	rma_fail(w, 0, 60, 8, WIN_ERR_LENGTH, "bad length");
	ck_assert_ok(win_unlock_all(w));
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

START_TEST(no_epoch)
{
	uint64_t v = 0;
	struct self s;
	win_t *w = setup(&s, _i);
	int done;

	all_ops_fail(w, 0, 0, 8, WIN_ERR_SYNC, "no epoch yet");
	ck_assert_rc(win_flush(w, 0), WIN_ERR_SYNC);
	ck_assert_rc(win_flush_all(w), WIN_ERR_SYNC);
	ck_assert_rc(win_flush_local(w, 0), WIN_ERR_SYNC);
	ck_assert_rc(win_flush_local_all(w), WIN_ERR_SYNC);
	ck_assert_rc(win_check_passive(w, 0), WIN_ERR_SYNC);
	ck_assert_rc(win_check_passive(w, 1), WIN_ERR_RANK);
	ck_assert_rc(win_unlock(w, 0), WIN_ERR_SYNC);
	ck_assert_rc(win_unlock_all(w), WIN_ERR_SYNC);
	ck_assert_rc(win_complete(w), WIN_ERR_SYNC);
	ck_assert_rc(win_wait(w), WIN_ERR_SYNC);
	ck_assert_rc(win_test(w, &done), WIN_ERR_SYNC);

	/* After each kind of epoch has been closed. */
	ck_assert_ok(win_lock(w, WIN_LOCK_EXCLUSIVE, 0, 0));
	ck_assert_ok(win_check_passive(w, 0));
	ck_assert_ok(win_put(w, &v, 8, 0, 0));
	ck_assert_ok(win_unlock(w, 0));
	ck_assert_rc(win_check_passive(w, 0), WIN_ERR_SYNC);
	all_ops_fail(w, 0, 0, 8, WIN_ERR_SYNC, "after unlock");
	ck_assert_rc(win_flush(w, 0), WIN_ERR_SYNC);
	ck_assert_ok(win_lock_all(w, 0));
	ck_assert_ok(win_check_passive(w, 0));
	ck_assert_ok(win_unlock_all(w));
	all_ops_fail(w, 0, 0, 8, WIN_ERR_SYNC, "after unlock_all");
	ck_assert_ok(win_fence(w, 0));
	ck_assert_ok(win_put(w, &v, 8, 0, 0));
	ck_assert_ok(win_fence(w, WIN_MODE_NOSUCCEED));
	all_ops_fail(w, 0, 0, 8, WIN_ERR_SYNC, "after fence NOSUCCEED");
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

START_TEST(flush_needs_passive)
{
	static const int me[1] = { 0 };
	uint64_t v = 1;
	struct self s;
	win_t *w = setup(&s, _i);

	ck_assert_ok(win_fence(w, 0));
	ck_assert_ok(win_put(w, &v, 8, 0, 0));
	ck_assert_rc(win_flush(w, 0), WIN_ERR_SYNC);
	ck_assert_rc(win_flush_all(w), WIN_ERR_SYNC);
	ck_assert_rc(win_flush_local(w, 0), WIN_ERR_SYNC);
	ck_assert_rc(win_flush_local_all(w), WIN_ERR_SYNC);
	ck_assert_ok(win_fence(w, WIN_MODE_NOSUCCEED));

	ck_assert_ok(win_post(w, me, 1, 0));
	ck_assert_ok(win_start(w, me, 1, 0));
	ck_assert_ok(win_put(w, &v, 8, 0, 0));
	ck_assert_rc(win_flush(w, 0), WIN_ERR_SYNC);
	ck_assert_rc(win_flush_all(w), WIN_ERR_SYNC);
	ck_assert_rc(win_flush_local(w, 0), WIN_ERR_SYNC);
	ck_assert_rc(win_flush_local_all(w), WIN_ERR_SYNC);
	ck_assert_ok(win_complete(w));
	ck_assert_ok(win_wait(w));
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

START_TEST(epoch_mixing)
{
	static const int me[1] = { 0 };
	uint64_t v = 1;
	struct self s;
	win_t *w = setup(&s, _i);

	/* Passive epochs exclude everything else. */
	ck_assert_ok(win_lock(w, WIN_LOCK_SHARED, 0, 0));
	ck_assert_rc(win_lock(w, WIN_LOCK_SHARED, 0, 0), WIN_ERR_SYNC);
	ck_assert_rc(win_lock(w, WIN_LOCK_EXCLUSIVE, 0, 0), WIN_ERR_SYNC);
	ck_assert_rc(win_lock_all(w, 0), WIN_ERR_SYNC);
	ck_assert_rc(win_fence(w, 0), WIN_ERR_SYNC);
	ck_assert_rc(win_start(w, me, 1, 0), WIN_ERR_SYNC);
	ck_assert_rc(win_unlock_all(w), WIN_ERR_SYNC);
	ck_assert_rc(win_free(w), WIN_ERR_SYNC);
	ck_assert_ok(win_unlock(w, 0));
	ck_assert_rc(win_unlock(w, 0), WIN_ERR_SYNC);

	ck_assert_ok(win_lock_all(w, 0));
	ck_assert_rc(win_lock_all(w, 0), WIN_ERR_SYNC);
	ck_assert_rc(win_lock(w, WIN_LOCK_SHARED, 0, 0), WIN_ERR_SYNC);
	ck_assert_rc(win_fence(w, 0), WIN_ERR_SYNC);
	ck_assert_rc(win_unlock(w, 0), WIN_ERR_SYNC);
	ck_assert_rc(win_free(w), WIN_ERR_SYNC);
	ck_assert_ok(win_unlock_all(w));

	/* Active target. */
	ck_assert_ok(win_post(w, me, 1, 0));
	ck_assert_rc(win_post(w, me, 1, 0), WIN_ERR_SYNC);
	ck_assert_rc(win_fence(w, 0), WIN_ERR_SYNC);
	ck_assert_rc(win_free(w), WIN_ERR_SYNC);
	ck_assert_ok(win_start(w, me, 1, 0));
	ck_assert_rc(win_start(w, me, 1, 0), WIN_ERR_SYNC);
	ck_assert_rc(win_lock(w, WIN_LOCK_SHARED, 0, 0), WIN_ERR_SYNC);
	ck_assert_rc(win_lock_all(w, 0), WIN_ERR_SYNC);
	ck_assert_rc(win_fence(w, 0), WIN_ERR_SYNC);
	ck_assert_rc(win_free(w), WIN_ERR_SYNC);
	ck_assert_ok(win_put(w, &v, 8, 0, 0));
	ck_assert_ok(win_complete(w));
	ck_assert_rc(win_complete(w), WIN_ERR_SYNC);
	ck_assert_rc(win_free(w), WIN_ERR_SYNC);
	ck_assert_ok(win_wait(w));

	/* A fence epoch with operations blocks the other modes. */
	ck_assert_ok(win_fence(w, 0));
	ck_assert_ok(win_put(w, &v, 8, 0, 0));
	ck_assert_rc(win_lock(w, WIN_LOCK_SHARED, 0, 0), WIN_ERR_SYNC);
	ck_assert_rc(win_lock_all(w, 0), WIN_ERR_SYNC);
	ck_assert_rc(win_post(w, me, 1, 0), WIN_ERR_SYNC);
	ck_assert_rc(win_start(w, me, 1, 0), WIN_ERR_SYNC);
	ck_assert_rc(win_free(w), WIN_ERR_SYNC);
	ck_assert_ok(win_fence(w, WIN_MODE_NOSUCCEED));
	ck_assert_ok(win_lock(w, WIN_LOCK_SHARED, 0, 0));
	ck_assert_ok(win_unlock(w, 0));
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

/*
 * A window may not be locked and exposed (post .. wait) at once (as in
 * MPI: locking a window that is posted, or posting a locked window, is
 * erroneous); here both orders are refused.
 */
START_TEST(exposure_excludes_locks)
{
	static const int me[1] = { 0 };
	struct self s;
	win_t *w = setup(&s, _i);

	ck_assert_ok(win_lock_all(w, 0));
	ck_assert_rc(win_post(w, me, 1, 0), WIN_ERR_SYNC);
	ck_assert_ok(win_unlock_all(w));
	ck_assert_ok(win_lock(w, WIN_LOCK_EXCLUSIVE, 0, 0));
	ck_assert_rc(win_post(w, me, 1, 0), WIN_ERR_SYNC);
	ck_assert_ok(win_unlock(w, 0));

	ck_assert_ok(win_post(w, me, 1, 0));
	ck_assert_rc(win_lock(w, WIN_LOCK_SHARED, 0, 0), WIN_ERR_SYNC);
	ck_assert_rc(win_lock_all(w, 0), WIN_ERR_SYNC);
	ck_assert_ok(win_start(w, me, 1, 0));
	ck_assert_ok(win_complete(w));
	ck_assert_ok(win_wait(w));
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

START_TEST(empty_fence_closes)
{
	static const int me[1] = { 0 };
	uint64_t v = 5, r = 0;
	struct self s;
	win_t *w = setup(&s, _i);

	/* A fence with no operation after it is not an epoch. */
	ck_assert_ok(win_fence(w, 0));
	ck_assert_ok(win_lock(w, WIN_LOCK_EXCLUSIVE, 0, 0));
	ck_assert_ok(win_put(w, &v, 8, 0, 0));
	ck_assert_ok(win_unlock(w, 0));

	ck_assert_ok(win_fence(w, 0));
	ck_assert_ok(win_lock_all(w, 0));
	ck_assert_ok(win_get(w, &r, 8, 0, 0));
	ck_assert_ok(win_unlock_all(w));
	ck_assert_uint_eq(r, 5);

	ck_assert_ok(win_fence(w, 0));
	ck_assert_ok(win_post(w, me, 1, 0));
	ck_assert_ok(win_start(w, me, 1, 0));
	ck_assert_ok(win_complete(w));
	ck_assert_ok(win_wait(w));

	/* Two fences in a row with operations in neither. */
	ck_assert_ok(win_fence(w, 0));
	ck_assert_ok(win_fence(w, 0));
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

START_TEST(free_open_epoch)
{
	uint64_t v = 0;
	struct self s;
	win_t *w = setup(&s, _i);

	ck_assert_ok(win_fence(w, 0));
	ck_assert_ok(win_put(w, &v, 8, 0, 0));
	ck_assert_rc(win_free(w), WIN_ERR_SYNC);
	/* The refused free left the window usable. */
	ck_assert_ok(win_get(w, &v, 8, 0, 1));
	ck_assert_ok(win_fence(w, WIN_MODE_NOSUCCEED));
	ck_assert_ok(win_free(w));

	w = self_win(&s, loop_flavor(_i), WSIZE, 4, 0, NULL);
	ck_assert_ok(win_fence(w, 0));
	ck_assert_ok(win_free(w)); /* empty fence epoch: closed implicitly */
	self_teardown(&s);
}
END_TEST

START_TEST(freed_window)
{
	static const int me[1] = { 0 };
	uint64_t v;
	struct self s;
	win_t *w = setup(&s, _i);
	void *p;
	int done;

	ck_assert_ok(win_free(w));
	all_ops_fail(w, 0, 0, 8, WIN_ERR_HANDLE, "freed window");
	ck_assert_rc(win_fence(w, 0), WIN_ERR_HANDLE);
	ck_assert_rc(win_lock(w, WIN_LOCK_SHARED, 0, 0), WIN_ERR_HANDLE);
	ck_assert_rc(win_unlock(w, 0), WIN_ERR_HANDLE);
	ck_assert_rc(win_lock_all(w, 0), WIN_ERR_HANDLE);
	ck_assert_rc(win_unlock_all(w), WIN_ERR_HANDLE);
	ck_assert_rc(win_post(w, me, 1, 0), WIN_ERR_HANDLE);
	ck_assert_rc(win_start(w, me, 1, 0), WIN_ERR_HANDLE);
	ck_assert_rc(win_complete(w), WIN_ERR_HANDLE);
	ck_assert_rc(win_wait(w), WIN_ERR_HANDLE);
	ck_assert_rc(win_test(w, &done), WIN_ERR_HANDLE);
	ck_assert_rc(win_flush(w, 0), WIN_ERR_HANDLE);
	ck_assert_rc(win_flush_all(w), WIN_ERR_HANDLE);
	ck_assert_rc(win_flush_local(w, 0), WIN_ERR_HANDLE);
	ck_assert_rc(win_flush_local_all(w), WIN_ERR_HANDLE);
	ck_assert_rc(win_sync(w), WIN_ERR_HANDLE);
	ck_assert_rc(win_query(w, &p, NULL, NULL, NULL), WIN_ERR_HANDLE);
	ck_assert_rc(win_shared_query(w, 0, &p, NULL, NULL), WIN_ERR_HANDLE);
	ck_assert_rc(win_signal_read(w, 0, &v), WIN_ERR_HANDLE);
	ck_assert_rc(win_signal_wait_until(w, 0, WIN_CMP_EQ, 0, NULL),
		     WIN_ERR_HANDLE);
	ck_assert_rc(win_free(w), WIN_ERR_HANDLE);
	self_teardown(&s);
}
END_TEST

START_TEST(null_window)
{
	int done;

	all_ops_fail(NULL, 0, 0, 8, WIN_ERR_HANDLE, "NULL window");
	ck_assert_rc(win_fence(NULL, 0), WIN_ERR_HANDLE);
	ck_assert_rc(win_lock(NULL, WIN_LOCK_SHARED, 0, 0), WIN_ERR_HANDLE);
	ck_assert_rc(win_unlock(NULL, 0), WIN_ERR_HANDLE);
	ck_assert_rc(win_lock_all(NULL, 0), WIN_ERR_HANDLE);
	ck_assert_rc(win_unlock_all(NULL), WIN_ERR_HANDLE);
	ck_assert_rc(win_complete(NULL), WIN_ERR_HANDLE);
	ck_assert_rc(win_wait(NULL), WIN_ERR_HANDLE);
	ck_assert_rc(win_test(NULL, &done), WIN_ERR_HANDLE);
	ck_assert_rc(win_flush_all(NULL), WIN_ERR_HANDLE);
	ck_assert_rc(win_sync(NULL), WIN_ERR_HANDLE);
	ck_assert_rc(win_free(NULL), WIN_ERR_HANDLE);
	ck_assert_rc(win_query(NULL, NULL, NULL, NULL, NULL), WIN_ERR_HANDLE);
	ck_assert_rc(win_group_barrier(NULL), WIN_ERR_HANDLE);
	ck_assert_rc(win_group_leave(NULL), WIN_ERR_HANDLE);
}
END_TEST

START_TEST(null_args)
{
	unsigned char buf[64];
	uint64_t cmp = 0, swp = 0, res;
	struct iovec iov = { buf, 8 };
	win_seg_t seg = { 0, 8 };
	win_t *w2 = NULL;
	void *base = NULL;
	struct self s;
	win_t *w = setup(&s, _i);
	win_req_t *req;

	ck_assert_ok(win_lock_all(w, 0));
	ck_assert_rc(win_put(w, NULL, 8, 0, 0), WIN_ERR_ARG);
	ck_assert_rc(win_get(w, NULL, 8, 0, 0), WIN_ERR_ARG);
	ck_assert_rc(win_iput(w, buf, 8, 0, 0, NULL), WIN_ERR_ARG);
	ck_assert_rc(win_iget(w, buf, 8, 0, 0, NULL), WIN_ERR_ARG);
	ck_assert_rc(win_iput(w, NULL, 8, 0, 0, &req), WIN_ERR_ARG);
	ck_assert_rc(win_put_strided(w, NULL, 8, 8, 2, 0, 0, 8), WIN_ERR_ARG);
	ck_assert_rc(win_get_strided(w, NULL, 8, 8, 2, 0, 0, 8), WIN_ERR_ARG);
	ck_assert_rc(win_putv(w, NULL, 1, 0, &seg, 1), WIN_ERR_ARG);
	ck_assert_rc(win_getv(w, &iov, 1, 0, NULL, 1), WIN_ERR_ARG);
	ck_assert_rc(win_putv(w, &iov, -1, 0, &seg, 1), WIN_ERR_ARG);
	ck_assert_rc(win_getv(w, &iov, 1, 0, &seg, -2), WIN_ERR_ARG);
	ck_assert_rc(win_fetch_op(w, NULL, &res, WIN_INT64, WIN_OP_SUM, 0, 0),
		     WIN_ERR_ARG);
	ck_assert_rc(win_fetch_op(w, &cmp, NULL, WIN_INT64, WIN_OP_SUM, 0, 0),
		     WIN_ERR_ARG);
	ck_assert_rc(win_compare_swap(w, NULL, &swp, &res, WIN_INT64, 0, 0),
		     WIN_ERR_ARG);
	ck_assert_rc(win_compare_swap(w, &cmp, NULL, &res, WIN_INT64, 0, 0),
		     WIN_ERR_ARG);
	ck_assert_rc(win_compare_swap(w, &cmp, &swp, NULL, WIN_INT64, 0, 0),
		     WIN_ERR_ARG);
	ck_assert_rc(win_accumulate(w, NULL, 1, WIN_INT64, WIN_OP_SUM, 0, 0),
		     WIN_ERR_ARG);
	ck_assert_rc(win_get_accumulate(w, buf, NULL, 1, WIN_INT64,
					WIN_OP_SUM, 0, 0), WIN_ERR_ARG);
	ck_assert_rc(win_put_signal(w, NULL, 8, 0, 0, 8, 1, WIN_SIGNAL_SET),
		     WIN_ERR_ARG);
	ck_assert_rc(win_signal_read(w, 0, NULL), WIN_ERR_ARG);
	ck_assert_ok(win_unlock_all(w));

	ck_assert_ok(win_post(w, (const int[]){ 0 }, 1, 0));
	ck_assert_ok(win_start(w, (const int[]){ 0 }, 1, 0));
	ck_assert_ok(win_complete(w));
	ck_assert_rc(win_test(w, NULL), WIN_ERR_ARG);
	ck_assert_ok(win_wait(w));

	ck_assert_rc(win_lock(w, 0, 0, 0), WIN_ERR_ARG);
	ck_assert_rc(win_lock(w, 3, 0, 0), WIN_ERR_ARG);
	ck_assert_rc(win_post(w, NULL, 1, 0), WIN_ERR_ARG);
	ck_assert_rc(win_start(w, NULL, 1, 0), WIN_ERR_ARG);
	ck_assert_rc(win_post(w, (const int[]){ 0 }, -1, 0), WIN_ERR_ARG);
	ck_assert_rc(win_start(w, (const int[]){ 0 }, -1, 0), WIN_ERR_ARG);

	/* Window creation. */
	ck_assert_rc(win_create(s.group, buf, 64, 1, NULL, NULL),
		     WIN_ERR_ARG);
	ck_assert_rc(win_create(s.group, NULL, 64, 1, NULL, &w2),
		     WIN_ERR_ARG);
	ck_assert_rc(win_create(s.group, buf, 64, 0, NULL, &w2),
		     WIN_ERR_ARG);
	ck_assert_rc(win_create(s.group, buf, 64, -4, NULL, &w2),
		     WIN_ERR_ARG);
	ck_assert_rc(win_create(NULL, buf, 64, 1, NULL, &w2),
		     WIN_ERR_HANDLE);
	ck_assert_rc(win_allocate(s.group, 64, 1, NULL, NULL, &w2),
		     WIN_ERR_ARG);
	ck_assert_rc(win_allocate(s.group, 64, 1, NULL, &base, NULL),
		     WIN_ERR_ARG);
	ck_assert_rc(win_allocate(s.group, 64, 0, NULL, &base, &w2),
		     WIN_ERR_ARG);
	ck_assert_rc(win_allocate(NULL, 64, 1, NULL, &base, &w2),
		     WIN_ERR_HANDLE);
	/* Unknown option bits. */
	{
		win_opts_t bad = { .flags = 0x80000000u };

		ck_assert_rc(win_create(s.group, buf, 64, 1, &bad, &w2),
			     WIN_ERR_ARG);
		ck_assert_rc(win_allocate(s.group, 64, 1, &bad, &base, &w2),
			     WIN_ERR_ARG);
	}
	/* A created window cannot be enforced "don't touch". */
	{
		win_opts_t dt = { .flags = WIN_OPT_ENFORCE_DONT_TOUCH };

		ck_assert_rc2(win_create(s.group, buf, 64, 1, &dt, &w2),
			      WIN_ERR_ARG, WIN_ERR_UNSUPPORTED);
	}
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

START_TEST(requests)
{
	unsigned char buf[64];
	win_req_t *req = NULL, *stale;
	struct self s;
	win_t *w = setup(&s, _i);
	int done = 0;

	ck_assert_ok(win_lock_all(w, 0));
	ck_assert_ok(win_iput(w, buf, 16, 0, 0, &req));
	stale = req;
	ck_assert_ok(win_req_wait(&req));
	ck_assert_ptr_null(req);
	ck_assert_rc(win_req_wait(&req), WIN_ERR_HANDLE);
	ck_assert_rc(win_req_test(&req, &done), WIN_ERR_HANDLE);
	ck_assert_rc(win_req_wait(&stale), WIN_ERR_HANDLE);
	stale = NULL;

	ck_assert_ok(win_iget(w, buf, 16, 0, 0, &req));
	stale = req;
	done = 0;
	while (!done)
		ck_assert_ok(win_req_test(&req, &done));
	ck_assert_ptr_null(req);
	ck_assert_rc(win_req_test(&stale, &done), WIN_ERR_HANDLE);
	ck_assert_rc(win_req_wait(&stale), WIN_ERR_HANDLE);

	ck_assert_ok(win_iget(w, buf, 16, 0, 0, &req));
	ck_assert_rc(win_req_test(&req, NULL), WIN_ERR_ARG);
	ck_assert_ok(win_req_wait(&req));
	ck_assert_rc2(win_req_wait(NULL), WIN_ERR_ARG, WIN_ERR_HANDLE);
	ck_assert_rc2(win_req_test(NULL, &done), WIN_ERR_ARG, WIN_ERR_HANDLE);
	ck_assert_ok(win_unlock_all(w));
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

START_TEST(group_args)
{
	win_ctx_t *ctx = NULL;
	win_group_t *g = NULL;
	char name[64];

	ck_assert_ok(win_init(NULL, &ctx));
	unique_name(name, sizeof(name), "ga");
	ck_assert_rc(win_group_join(NULL, name, 1, 0, &g), WIN_ERR_HANDLE);
	ck_assert_rc(win_group_join(ctx, NULL, 1, 0, &g), WIN_ERR_ARG);
	ck_assert_rc(win_group_join(ctx, name, 1, 0, NULL), WIN_ERR_ARG);
	ck_assert_rc(win_group_join(ctx, name, 0, 0, &g), WIN_ERR_ARG);
	ck_assert_rc(win_group_join(ctx, name, -3, 0, &g), WIN_ERR_ARG);
	ck_assert_rc2(win_group_join(ctx, name, 1, 1, &g), WIN_ERR_RANK,
		      WIN_ERR_ARG);
	ck_assert_rc2(win_group_join(ctx, name, 1, -2, &g), WIN_ERR_RANK,
		      WIN_ERR_ARG);
	/* Still usable after all that. */
	ck_assert_ok(win_group_join(ctx, name, 1, -1, &g));
	ck_assert_int_eq(win_group_rank(g), 0);
	ck_assert_int_eq(win_group_size(g), 1);
	ck_assert_ok(win_group_barrier(g));
	ck_assert_ok(win_group_leave(g));
	ck_assert_ok(win_finalize(ctx));
	/* A finalized context. */
	ck_assert_rc(win_group_join(ctx, name, 1, 0, &g), WIN_ERR_HANDLE);
}
END_TEST

static Suite *errors_suite(void)
{
	Suite *s = suite_create("errors");
	TCase *tc;

	tc = tcase_create("operands");
	tcase_add_loop_test(tc, bad_rank, 0, 2);
	tcase_add_loop_test(tc, bad_disp, 0, 2);
	tcase_add_loop_test(tc, bad_length, 0, 2);
	tcase_add_loop_test(tc, bad_datatype, 0, 2);
	tcase_add_loop_test(tc, bad_op, 0, 2);
	tcase_add_loop_test(tc, precedence, 0, 2);
	suite_add_tcase(s, tc);

	tc = tcase_create("epochs");
	tcase_add_loop_test(tc, no_epoch, 0, 2);
	tcase_add_loop_test(tc, flush_needs_passive, 0, 2);
	tcase_add_loop_test(tc, epoch_mixing, 0, 2);
	tcase_add_loop_test(tc, exposure_excludes_locks, 0, 2);
	tcase_add_loop_test(tc, empty_fence_closes, 0, 2);
	tcase_add_loop_test(tc, free_open_epoch, 0, 2);
	suite_add_tcase(s, tc);

	tc = tcase_create("handles");
	tcase_add_loop_test(tc, freed_window, 0, 2);
	tcase_add_test(tc, null_window);
	tcase_add_loop_test(tc, null_args, 0, 2);
	tcase_add_loop_test(tc, requests, 0, 2);
	tcase_add_test(tc, group_args);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite("errors", errors_suite());
}
