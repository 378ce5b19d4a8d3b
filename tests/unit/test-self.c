/*
 * Every operation and every synchronization mode on a group of one member,
 * with created and allocated windows (loop iteration 0: create, 1: allocate).
 */
#include <stdlib.h>
#include <string.h>

#include "self.h"

#define WSIZE 4096

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)(seed * 31 + i * 7 + 1);
}

START_TEST(query)
{
	struct self s;
	void *base, *qbase = NULL;
	size_t size = 0;
	int unit = 0, flavor = 0;
	win_t *w;
	size_t i;

	self_setup(&s, 0);
	w = self_win(&s, loop_flavor(_i), WSIZE, 4, 0, &base);
	ck_assert_ok(win_query(w, &qbase, &size, &unit, &flavor));
	ck_assert_ptr_eq(qbase, base);
	ck_assert_uint_eq(size, WSIZE);
	ck_assert_int_eq(unit, 4);
	ck_assert_int_eq(flavor, loop_flavor(_i));
	ck_assert_ok(win_query(w, NULL, NULL, NULL, NULL));
	for (i = 0; i < WSIZE; i++)
		ck_assert_msg(((unsigned char *)base)[i] == 0,
			      "byte %zu of a new window is not zero", i);
	ck_assert_ptr_nonnull(win_transport_name(w, 0));
	ck_assert_msg(transport_allowed(win_transport_name(w, 0)),
		      "transport \"%s\" is not in WIN_TRANSPORTS",
		      win_transport_name(w, 0));
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

START_TEST(fence_put_get)
{
	unsigned char src[512], dst[512];
	struct self s;
	void *base;
	win_t *w;

	self_setup(&s, 0);
	w = self_win(&s, loop_flavor(_i), WSIZE, 1, 0, &base);
	fill(src, sizeof(src), 1);
	ck_assert_ok(win_fence(w, 0));
	ck_assert_ok(win_put(w, src, sizeof(src), 0, 100));
	ck_assert_ok(win_fence(w, 0));
	memset(dst, 0, sizeof(dst));
	ck_assert_ok(win_get(w, dst, sizeof(dst), 0, 100));
	ck_assert_ok(win_fence(w, WIN_MODE_NOSUCCEED));
	ck_assert_mem_eq(dst, src, sizeof(src));
	ck_assert_mem_eq((unsigned char *)base + 100, src, sizeof(src));
	ck_assert_int_eq(((unsigned char *)base)[99], 0);
	ck_assert_int_eq(((unsigned char *)base)[100 + sizeof(src)], 0);
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

START_TEST(fence_assertions)
{
	uint64_t v = 42, r = 0;
	struct self s;
	win_t *w;

	self_setup(&s, 0);
	w = self_win(&s, loop_flavor(_i), WSIZE, 8, 0, NULL);
	ck_assert_ok(win_fence(w, WIN_MODE_NOPRECEDE));
	ck_assert_ok(win_put(w, &v, 8, 0, 3));
	ck_assert_ok(win_fence(w, WIN_MODE_NOSTORE));
	ck_assert_ok(win_get(w, &r, 8, 0, 3));
	ck_assert_ok(win_fence(w, WIN_MODE_NOPUT | WIN_MODE_NOSUCCEED));
	ck_assert_uint_eq(r, 42);
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

START_TEST(disp_unit_scaling)
{
	uint64_t v = 0x1122334455667788ull;
	struct self s;
	void *base;
	win_t *w;

	self_setup(&s, 0);
	w = self_win(&s, loop_flavor(_i), 256, 8, 0, &base);
	ck_assert_ok(win_fence(w, 0));
	ck_assert_ok(win_put(w, &v, 8, 0, 3));
	ck_assert_ok(win_fence(w, WIN_MODE_NOSUCCEED));
	ck_assert_mem_eq((unsigned char *)base + 24, &v, 8);
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

START_TEST(lock_exclusive)
{
	unsigned char src[300], dst[300];
	struct self s;
	win_t *w;

	self_setup(&s, 0);
	w = self_win(&s, loop_flavor(_i), WSIZE, 1, 0, NULL);
	fill(src, sizeof(src), 2);
	ck_assert_ok(win_lock(w, WIN_LOCK_EXCLUSIVE, 0, 0));
	ck_assert_ok(win_put(w, src, sizeof(src), 0, 7));
	ck_assert_ok(win_flush(w, 0));
	ck_assert_ok(win_get(w, dst, sizeof(dst), 0, 7));
	ck_assert_mem_eq(dst, src, sizeof(src));
	ck_assert_ok(win_flush_local(w, 0));
	ck_assert_ok(win_flush_all(w));
	ck_assert_ok(win_flush_local_all(w));
	ck_assert_ok(win_sync(w));
	ck_assert_ok(win_unlock(w, 0));

	ck_assert_ok(win_lock(w, WIN_LOCK_SHARED, 0, WIN_MODE_NOCHECK));
	memset(dst, 0, sizeof(dst));
	ck_assert_ok(win_get(w, dst, sizeof(dst), 0, 7));
	ck_assert_ok(win_unlock(w, 0));
	ck_assert_mem_eq(dst, src, sizeof(src));
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

START_TEST(lock_all)
{
	unsigned char src[64], dst[64];
	struct self s;
	void *base;
	win_t *w;

	self_setup(&s, 0);
	w = self_win(&s, loop_flavor(_i), WSIZE, 1, 0, &base);
	fill(src, sizeof(src), 3);
	ck_assert_ok(win_lock_all(w, 0));
	ck_assert_ok(win_put(w, src, sizeof(src), 0, 0));
	ck_assert_ok(win_flush_local_all(w));
	ck_assert_ok(win_flush_all(w));
	ck_assert_ok(win_get(w, dst, sizeof(dst), 0, 0));
	ck_assert_mem_eq(dst, src, sizeof(src));
	ck_assert_ok(win_flush(w, 0));
	ck_assert_ok(win_flush_local(w, 0));
	ck_assert_ok(win_sync(w));
	ck_assert_ok(win_unlock_all(w));
	ck_assert_mem_eq(base, src, sizeof(src));
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

START_TEST(post_start_self)
{
	static const int me[1] = { 0 };
	unsigned char src[128];
	struct self s;
	void *base;
	int done = 0, spins = 0;
	win_t *w;

	self_setup(&s, 0);
	w = self_win(&s, loop_flavor(_i), WSIZE, 1, 0, &base);
	fill(src, sizeof(src), 4);
	ck_assert_ok(win_post(w, me, 1, 0));
	ck_assert_ok(win_start(w, me, 1, 0));
	ck_assert_ok(win_put(w, src, sizeof(src), 0, 1000));
	ck_assert_ok(win_complete(w));
	ck_assert_ok(win_wait(w));
	ck_assert_mem_eq((unsigned char *)base + 1000, src, sizeof(src));

	/* Again, finishing the exposure epoch with win_test(). */
	fill(src, sizeof(src), 5);
	ck_assert_ok(win_post(w, me, 1, WIN_MODE_NOCHECK));
	ck_assert_ok(win_start(w, me, 1, WIN_MODE_NOCHECK));
	ck_assert_ok(win_put(w, src, sizeof(src), 0, 1000));
	ck_assert_ok(win_complete(w));
	while (!done) {
		ck_assert_ok(win_test(w, &done));
		ck_assert_msg(++spins < 1000000, "win_test never finished");
	}
	ck_assert_mem_eq((unsigned char *)base + 1000, src, sizeof(src));
	/* The exposure epoch is over: a new wait has nothing to end. */
	ck_assert_rc(win_wait(w), WIN_ERR_SYNC);
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

START_TEST(nonblocking)
{
	unsigned char src[4][256], dst[4][256];
	win_req_t *req[4];
	struct self s;
	int i, done;
	win_t *w;

	self_setup(&s, 0);
	w = self_win(&s, loop_flavor(_i), WSIZE, 1, 0, NULL);
	ck_assert_ok(win_lock_all(w, 0));
	for (i = 0; i < 4; i++) {
		fill(src[i], sizeof(src[i]), 10 + i);
		req[i] = NULL;
		ck_assert_ok(win_iput(w, src[i], 256, 0, 256 * i, &req[i]));
		ck_assert_ptr_nonnull(req[i]);
	}
	ck_assert_ok(win_req_wait(&req[0]));
	ck_assert_ptr_null(req[0]);
	for (i = 1; i < 4; i++) {
		done = 0;
		while (!done)
			ck_assert_ok(win_req_test(&req[i], &done));
		ck_assert_ptr_null(req[i]);
	}
	ck_assert_ok(win_flush(w, 0));
	for (i = 0; i < 4; i++)
		ck_assert_ok(win_iget(w, dst[i], 256, 0, 256 * i, &req[i]));
	for (i = 3; i >= 0; i--) {
		ck_assert_ok(win_req_wait(&req[i]));
		ck_assert_ptr_null(req[i]);
		ck_assert_mem_eq(dst[i], src[i], 256);
	}
	ck_assert_ok(win_unlock_all(w));
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

START_TEST(strided)
{
	unsigned char src[16 * 10], back[16 * 10], *b;
	struct self s;
	void *base;
	size_t k;
	win_t *w;

	self_setup(&s, 0);
	w = self_win(&s, loop_flavor(_i), WSIZE, 4, 0, &base);
	b = base;
	fill(src, sizeof(src), 6);
	ck_assert_ok(win_fence(w, 0));
	/* 10 blocks of 6 bytes: origin every 16 bytes, target every 20. */
	ck_assert_ok(win_put_strided(w, src, 16, 6, 10, 0, 8, 20));
	ck_assert_ok(win_fence(w, 0));
	memset(back, 0xee, sizeof(back));
	ck_assert_ok(win_get_strided(w, back, 16, 6, 10, 0, 8, 20));
	ck_assert_ok(win_fence(w, WIN_MODE_NOSUCCEED));
	for (k = 0; k < 10; k++) {
		ck_assert_mem_eq(b + 32 + 20 * k, src + 16 * k, 6);
		ck_assert_int_eq(b[32 + 20 * k + 6], 0);
		ck_assert_mem_eq(back + 16 * k, src + 16 * k, 6);
		if (k < 9)
			ck_assert_int_eq(back[16 * k + 6], 0xee);
	}
	ck_assert_int_eq(b[31], 0);
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

START_TEST(vector)
{
	unsigned char a[10], bb[30], c[24], all[64], out[64];
	struct iovec iov[3], oiov[2];
	win_seg_t segs[2];
	unsigned char *b;
	struct self s;
	void *base;
	win_t *w;

	self_setup(&s, 0);
	w = self_win(&s, loop_flavor(_i), WSIZE, 2, 0, &base);
	b = base;
	fill(a, sizeof(a), 7);
	fill(bb, sizeof(bb), 8);
	fill(c, sizeof(c), 9);
	memcpy(all, a, 10);
	memcpy(all + 10, bb, 30);
	memcpy(all + 40, c, 24);
	iov[0] = (struct iovec){ a, sizeof(a) };
	iov[1] = (struct iovec){ bb, sizeof(bb) };
	iov[2] = (struct iovec){ c, sizeof(c) };
	/* 64 bytes into 20 bytes at unit 5 (byte 10), 44 at unit 100. */
	segs[0] = (win_seg_t){ 5, 20 };
	segs[1] = (win_seg_t){ 100, 44 };
	ck_assert_ok(win_lock(w, WIN_LOCK_EXCLUSIVE, 0, 0));
	ck_assert_ok(win_putv(w, iov, 3, 0, segs, 2));
	ck_assert_ok(win_flush(w, 0));
	memset(out, 0, sizeof(out));
	oiov[0] = (struct iovec){ out, 33 };
	oiov[1] = (struct iovec){ out + 33, 31 };
	ck_assert_ok(win_getv(w, oiov, 2, 0, segs, 2));
	ck_assert_ok(win_unlock(w, 0));
	ck_assert_mem_eq(out, all, 64);
	ck_assert_mem_eq(b + 10, all, 20);
	ck_assert_mem_eq(b + 200, all + 20, 44);
	ck_assert_int_eq(b[9], 0);
	ck_assert_int_eq(b[30], 0);
	ck_assert_int_eq(b[244], 0);
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

/* Check fetch_op for one type and op from a start value and operand. */
static void one_fetch_op(win_t *w, win_datatype_t t, win_op_t op,
			 double start, double operand)
{
	elem_t init, x, res, want, now;
	size_t n = win_datatype_size(t);

	elem_set(t, &init, start);
	elem_set(t, &x, operand);
	ck_assert_ok(win_put(w, &init, n, 0, 8));
	ck_assert_ok(win_flush(w, 0));
	memset(&res, 0xa5, sizeof(res));
	ck_assert_ok(win_fetch_op(w, &x, &res, t, op, 0, 8));
	ck_assert_ok(win_flush(w, 0));
	ck_assert_msg(elem_eq(t, &res, &init),
		      "fetch_op %s %s: fetched %g, expected %g", type_name(t),
		      op_name(op), elem_get(t, &res), start);
	want = init;
	elem_apply(t, op, &want, &x);
	memset(&now, 0, sizeof(now));
	ck_assert_ok(win_get(w, &now, n, 0, 8));
	ck_assert_msg(elem_eq(t, &now, &want),
		      "fetch_op %s %s on %g with %g: target %g, expected %g",
		      type_name(t), op_name(op), start, operand,
		      elem_get(t, &now), elem_get(t, &want));
}

START_TEST(fetch_op_all)
{
	struct self s;
	int ti, oi;
	win_t *w;

	self_setup(&s, 0);
	w = self_win(&s, loop_flavor(_i), 256, 8, 0, NULL);
	ck_assert_ok(win_lock(w, WIN_LOCK_EXCLUSIVE, 0, 0));
	for (ti = 0; ti < NTYPES; ti++) {
		for (oi = 0; oi < NOPS; oi++) {
			if (!op_valid(all_types[ti], all_ops[oi]))
				continue;
			one_fetch_op(w, all_types[ti], all_ops[oi], 12, 5);
			one_fetch_op(w, all_types[ti], all_ops[oi], 3, 10);
		}
	}
	ck_assert_ok(win_unlock(w, 0));
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

START_TEST(compare_swap_all)
{
	elem_t init, cmp, swp, res, now;
	struct self s;
	size_t n;
	int ti;
	win_t *w;

	self_setup(&s, 0);
	w = self_win(&s, loop_flavor(_i), 256, 1, 0, NULL);
	ck_assert_ok(win_fence(w, 0));
	for (ti = 0; ti < NTYPES; ti++) {
		win_datatype_t t = all_types[ti];

		n = win_datatype_size(t);
		elem_set(t, &init, 7);
		elem_set(t, &swp, 9);
		ck_assert_ok(win_put(w, &init, n, 0, 64));
		ck_assert_ok(win_fence(w, 0));
		/* Mismatch: nothing changes. */
		elem_set(t, &cmp, 8);
		ck_assert_ok(win_compare_swap(w, &cmp, &swp, &res, t, 0, 64));
		ck_assert_msg(elem_eq(t, &res, &init), "cas %s fetched %g",
			      type_name(t), elem_get(t, &res));
		ck_assert_ok(win_fence(w, 0));
		ck_assert_ok(win_get(w, &now, n, 0, 64));
		ck_assert_ok(win_fence(w, 0));
		ck_assert_msg(elem_eq(t, &now, &init),
			      "failed cas %s changed the target to %g",
			      type_name(t), elem_get(t, &now));
		/* Match: swapped. */
		elem_set(t, &cmp, 7);
		ck_assert_ok(win_compare_swap(w, &cmp, &swp, &res, t, 0, 64));
		ck_assert_msg(elem_eq(t, &res, &init), "cas %s fetched %g",
			      type_name(t), elem_get(t, &res));
		ck_assert_ok(win_fence(w, 0));
		ck_assert_ok(win_get(w, &now, n, 0, 64));
		ck_assert_ok(win_fence(w, 0));
		ck_assert_msg(elem_eq(t, &now, &swp),
			      "cas %s left %g, expected 9", type_name(t),
			      elem_get(t, &now));
	}
	ck_assert_ok(win_fence(w, WIN_MODE_NOSUCCEED));
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

START_TEST(accumulate_all)
{
	enum { COUNT = 5 };
	elem_t init[COUNT], src[COUNT], res[COUNT], want[COUNT], now[COUNT];
	struct self s;
	int ti, oi, k;
	size_t n;
	win_t *w;

	self_setup(&s, 0);
	w = self_win(&s, loop_flavor(_i), 1024, 1, 0, NULL);
	ck_assert_ok(win_lock_all(w, 0));
	for (ti = 0; ti < NTYPES; ti++) {
		win_datatype_t t = all_types[ti];

		n = win_datatype_size(t);
		for (oi = 0; oi < NOPS; oi++) {
			win_op_t op = all_ops[oi];
			unsigned char buf[COUNT * 8];

			if (!op_valid(t, op))
				continue;
			for (k = 0; k < COUNT; k++) {
				elem_set(t, &init[k], 2 + 3 * k);
				elem_set(t, &src[k], 9 - 2 * k);
				memcpy(buf + n * k, &init[k], n);
			}
			/* accumulate */
			ck_assert_ok(win_put(w, buf, n * COUNT, 0, 128));
			ck_assert_ok(win_flush(w, 0));
			for (k = 0; k < COUNT; k++)
				memcpy(buf + n * k, &src[k], n);
			ck_assert_ok(win_accumulate(w, buf, COUNT, t, op, 0,
						    128));
			ck_assert_ok(win_flush(w, 0));
			ck_assert_ok(win_get(w, buf, n * COUNT, 0, 128));
			for (k = 0; k < COUNT; k++) {
				want[k] = init[k];
				elem_apply(t, op, &want[k], &src[k]);
				memcpy(&now[k], buf + n * k, n);
				ck_assert_msg(elem_eq(t, &now[k], &want[k]),
					      "accumulate %s %s [%d]: %g, "
					      "expected %g", type_name(t),
					      op_name(op), k,
					      elem_get(t, &now[k]),
					      elem_get(t, &want[k]));
			}
			/* get_accumulate on top of that */
			for (k = 0; k < COUNT; k++)
				memcpy(buf + n * k, &src[k], n);
			memset(res, 0, sizeof(res));
			{
				unsigned char rbuf[COUNT * 8];

				ck_assert_ok(win_get_accumulate(w, buf, rbuf,
								COUNT, t, op,
								0, 128));
				ck_assert_ok(win_flush(w, 0));
				for (k = 0; k < COUNT; k++)
					memcpy(&res[k], rbuf + n * k, n);
			}
			ck_assert_ok(win_get(w, buf, n * COUNT, 0, 128));
			for (k = 0; k < COUNT; k++) {
				elem_t w2 = want[k];

				ck_assert_msg(elem_eq(t, &res[k], &want[k]),
					      "get_accumulate %s %s [%d] "
					      "fetched %g, expected %g",
					      type_name(t), op_name(op), k,
					      elem_get(t, &res[k]),
					      elem_get(t, &want[k]));
				elem_apply(t, op, &w2, &src[k]);
				memcpy(&now[k], buf + n * k, n);
				ck_assert_msg(elem_eq(t, &now[k], &w2),
					      "get_accumulate %s %s [%d]: %g, "
					      "expected %g", type_name(t),
					      op_name(op), k,
					      elem_get(t, &now[k]),
					      elem_get(t, &w2));
			}
		}
	}
	ck_assert_ok(win_unlock_all(w));
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

START_TEST(put_signal_self)
{
	unsigned char src[200], *b;
	uint64_t seen = 0, v = 1;
	struct self s;
	void *base;
	win_t *w;

	self_setup(&s, 0);
	w = self_win(&s, loop_flavor(_i), WSIZE, 8, 0, &base);
	b = base;
	fill(src, sizeof(src), 11);
	ck_assert_ok(win_signal_read(w, 0, &v));
	ck_assert_uint_eq(v, 0);
	ck_assert_ok(win_lock_all(w, 0));
	ck_assert_ok(win_put_signal(w, src, sizeof(src), 0, 2, 0, 5,
				    WIN_SIGNAL_SET));
	ck_assert_ok(win_flush(w, 0));
	ck_assert_ok(win_signal_wait_until(w, 0, WIN_CMP_EQ, 5, &seen));
	ck_assert_uint_eq(seen, 5);
	ck_assert_ok(win_put_signal(w, src, sizeof(src), 0, 2, 0, 3,
				    WIN_SIGNAL_ADD));
	ck_assert_ok(win_flush(w, 0));
	ck_assert_ok(win_signal_read(w, 0, &v));
	ck_assert_uint_eq(v, 8);
	ck_assert_ok(win_signal_wait_until(w, 0, WIN_CMP_NE, 5, &seen));
	ck_assert_uint_eq(seen, 8);
	ck_assert_ok(win_signal_wait_until(w, 0, WIN_CMP_GT, 7, &seen));
	ck_assert_ok(win_signal_wait_until(w, 0, WIN_CMP_GE, 8, &seen));
	ck_assert_ok(win_signal_wait_until(w, 0, WIN_CMP_LT, 9, &seen));
	ck_assert_ok(win_signal_wait_until(w, 0, WIN_CMP_LE, 8, NULL));
	ck_assert_uint_eq(seen, 8);
	/* A signal word elsewhere in the window. */
	ck_assert_ok(win_put_signal(w, src, 8, 0, 100, 101, 77,
				    WIN_SIGNAL_ADD));
	ck_assert_ok(win_flush(w, 0));
	ck_assert_ok(win_signal_read(w, 101, &v));
	ck_assert_uint_eq(v, 77);
	ck_assert_ok(win_unlock_all(w));
	ck_assert_mem_eq(b + 16, src, sizeof(src));
	ck_assert_mem_eq(b + 800, src, 8);
	/* Waiting is legal outside any epoch. */
	ck_assert_ok(win_signal_wait_until(w, 0, WIN_CMP_EQ, 8, &seen));
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

START_TEST(signal_wait_timeout)
{
	struct self s;
	uint64_t seen = 99;
	long long t0, dt;
	win_t *w;

	self_setup(&s, 300);
	w = self_win(&s, loop_flavor(_i), 64, 1, 0, NULL);
	t0 = now_ms();
	ck_assert_rc(win_signal_wait_until(w, 8, WIN_CMP_EQ, 1, &seen),
		     WIN_ERR_TIMEOUT);
	dt = now_ms() - t0;
	ck_assert_msg(dt >= 250 && dt < 3000,
		      "timed out after %lld ms with a 300 ms bound", dt);
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

START_TEST(zero_size)
{
	unsigned char c = 1;
	struct self s;
	size_t size = 99;
	win_t *w;

	self_setup(&s, 0);
	w = self_win(&s, loop_flavor(_i), 0, 1, 0, NULL);
	ck_assert_ok(win_query(w, NULL, &size, NULL, NULL));
	ck_assert_uint_eq(size, 0);
	ck_assert_ok(win_lock_all(w, 0));
	ck_assert_rc(win_put(w, &c, 1, 0, 0), WIN_ERR_LENGTH);
	ck_assert_rc(win_get(w, &c, 1, 0, 1), WIN_ERR_DISP);
	ck_assert_ok(win_put(w, &c, 0, 0, 0));
	ck_assert_ok(win_unlock_all(w));
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

START_TEST(shared_query_self)
{
	struct self s;
	void *base, *p = NULL;
	size_t size = 0;
	int unit = 0, rc;
	uint32_t v = 0;
	win_t *w;

	self_setup(&s, 0);
	w = self_win(&s, loop_flavor(_i), 512, 4, 0, &base);
	rc = win_shared_query(w, 0, &p, &size, &unit);
	if (loop_flavor(_i) == WIN_FLAVOR_CREATE) {
		ck_assert_rc(rc, WIN_ERR_UNSUPPORTED);
	} else {
		ck_assert_rc(rc, WIN_OK);
		ck_assert_ptr_nonnull(p);
		ck_assert_uint_eq(size, 512);
		ck_assert_int_eq(unit, 4);
		((volatile uint32_t *)p)[10] = 0xfeedbeef;
		ck_assert_ok(win_lock(w, WIN_LOCK_SHARED, 0, 0));
		ck_assert_ok(win_get(w, &v, 4, 0, 10));
		ck_assert_ok(win_unlock(w, 0));
		ck_assert_uint_eq(v, 0xfeedbeef);
		ck_assert_uint_eq(((uint32_t *)base)[10], 0xfeedbeef);
	}
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

START_TEST(many_windows)
{
	win_t *w[8];
	struct self s;
	uint32_t v, r;
	int i;

	self_setup(&s, 0);
	for (i = 0; i < 8; i++)
		w[i] = self_win(&s, loop_flavor(_i), 64 + 64 * i, 4, 0, NULL);
	for (i = 0; i < 8; i++) {
		v = 1000 + i;
		ck_assert_ok(win_lock(w[i], WIN_LOCK_EXCLUSIVE, 0, 0));
		ck_assert_ok(win_put(w[i], &v, 4, 0, i));
		ck_assert_ok(win_unlock(w[i], 0));
	}
	for (i = 7; i >= 0; i--) {
		ck_assert_ok(win_lock(w[i], WIN_LOCK_SHARED, 0, 0));
		ck_assert_ok(win_get(w[i], &r, 4, 0, i));
		ck_assert_ok(win_unlock(w[i], 0));
		ck_assert_uint_eq(r, 1000 + (unsigned)i);
		ck_assert_ok(win_free(w[i]));
	}
	self_teardown(&s);
}
END_TEST

START_TEST(finalize_frees_open)
{
	struct self s;

	self_setup(&s, 0);
	(void)self_win(&s, loop_flavor(_i), 128, 1, 0, NULL);
	(void)self_win(&s, loop_flavor(_i), 128, 1, 0, NULL);
	/* Windows and the group still open go with the context. */
	ck_assert_ok(win_finalize(s.ctx));
	s.ctx = NULL;
	s.group = NULL;
	self_teardown(&s);
}
END_TEST

static Suite *self_suite(void)
{
	Suite *s = suite_create("self");
	TCase *tc;

	tc = tcase_create("rma");
	tcase_add_loop_test(tc, query, 0, 2);
	tcase_add_loop_test(tc, fence_put_get, 0, 2);
	tcase_add_loop_test(tc, fence_assertions, 0, 2);
	tcase_add_loop_test(tc, disp_unit_scaling, 0, 2);
	tcase_add_loop_test(tc, lock_exclusive, 0, 2);
	tcase_add_loop_test(tc, lock_all, 0, 2);
	tcase_add_loop_test(tc, post_start_self, 0, 2);
	tcase_add_loop_test(tc, nonblocking, 0, 2);
	tcase_add_loop_test(tc, strided, 0, 2);
	tcase_add_loop_test(tc, vector, 0, 2);
	tcase_add_loop_test(tc, zero_size, 0, 2);
	tcase_add_loop_test(tc, shared_query_self, 0, 2);
	tcase_add_loop_test(tc, many_windows, 0, 2);
	tcase_add_loop_test(tc, finalize_frees_open, 0, 2);
	suite_add_tcase(s, tc);

	tc = tcase_create("atomics");
	tcase_add_loop_test(tc, fetch_op_all, 0, 2);
	tcase_add_loop_test(tc, compare_swap_all, 0, 2);
	tcase_add_loop_test(tc, accumulate_all, 0, 2);
	tcase_add_loop_test(tc, put_signal_self, 0, 2);
	tcase_add_loop_test(tc, signal_wait_timeout, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite("self", self_suite());
}
