/*
 * Put and get between processes: blocking and non-blocking, strided,
 * vector, large transfers, per-member displacement units, gets into
 * the caller's own window memory, streams of blocking puts whose
 * source is rewritten at once (transports may leave them in flight from a
 * copy), and local buffers that overlap each other or a window. Every
 * test is
 * a loop test over (flavour, members): iteration & 1 selects allocate,
 * iteration & 2 selects 4 members instead of 2.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define CH 1024 /* bytes per origin in each member's window */

static void pattern(unsigned char *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)(seed * 131 + i * 7 + 3);
}

static void check_pattern(const unsigned char *p, size_t n, unsigned seed,
			  const char *what)
{
	size_t i;

	for (i = 0; i < n; i++)
		CHECK(p[i] == (unsigned char)(seed * 131 + i * 7 + 3),
		      "%s: byte %zu is %u, expected %u", what, i, p[i],
		      (unsigned char)(seed * 131 + i * 7 + 3));
}

static void check_zero(const unsigned char *p, size_t n, const char *what)
{
	size_t i;

	for (i = 0; i < n; i++)
		CHECK(p[i] == 0, "%s: byte %zu is %u, expected 0", what, i,
		      p[i]);
}

static void body_fence(struct mp_env *e)
{
	int n = e->size, r = e->rank;
	int right = (r + 1) % n, left = (r + n - 1) % n;
	unsigned char src[CH], dst[CH], *b;
	void *base;
	win_t *w;
	int k;

	w = mp_win(e, 0, (size_t)n * CH, 1, 0, &base);
	b = base;
	pattern(src, CH, r + 1);
	CHECK_OK(win_fence(w, 0));
	CHECK_OK(win_put(w, src, CH, right, (size_t)r * CH));
	CHECK_OK(win_fence(w, 0));
	memset(dst, 0, sizeof(dst));
	CHECK_OK(win_get(w, dst, CH, right, (size_t)r * CH));
	CHECK_OK(win_fence(w, WIN_MODE_NOSUCCEED));
	check_pattern(dst, CH, r + 1, "get back from the right");
	for (k = 0; k < n; k++) {
		if (k == left)
			check_pattern(b + k * CH, CH, left + 1,
				      "block from the left");
		else
			check_zero(b + k * CH, CH, "untouched block");
	}
	mp_win_free(w);
}

static void body_lock(struct mp_env *e)
{
	int n = e->size, r = e->rank, t, k;
	unsigned char src[CH], dst[CH];
	win_t *w;

	w = mp_win(e, 0, (size_t)n * CH, 1, 0, NULL);
	for (t = 0; t < n; t++) {
		pattern(src, CH, 16 * r + t);
		CHECK_OK(win_lock(w, t == r ? WIN_LOCK_EXCLUSIVE :
				  WIN_LOCK_SHARED, t, 0));
		CHECK_OK(win_put(w, src, CH, t, (size_t)r * CH));
		CHECK_OK(win_unlock(w, t));
	}
	mp_barrier(e);
	CHECK_OK(win_lock_all(w, 0));
	for (t = 0; t < n; t++) {
		for (k = 0; k < n; k++) {
			memset(dst, 0, sizeof(dst));
			CHECK_OK(win_get(w, dst, CH, t, (size_t)k * CH));
			check_pattern(dst, CH, 16 * k + t, "lock get");
		}
	}
	CHECK_OK(win_unlock_all(w));
	mp_win_free(w);
}

static void body_nonblocking(struct mp_env *e)
{
	int n = e->size, r = e->rank, t, done;
	unsigned char src[4][CH], dst[4][4][CH];
	win_req_t *req[4][4];
	win_t *w;

	w = mp_win(e, 0, (size_t)n * CH, 1, 0, NULL);
	CHECK_OK(win_lock_all(w, 0));
	for (t = 0; t < n; t++) {
		pattern(src[t], CH, 100 + 8 * r + t);
		req[0][t] = NULL;
		CHECK_OK(win_iput(w, src[t], CH, t, (size_t)r * CH,
				  &req[0][t]));
		CHECK(req[0][t] != NULL, "iput gave no request");
	}
	for (t = 0; t < n; t++) {
		if (t & 1) {
			CHECK_OK(win_req_wait(&req[0][t]));
		} else {
			done = 0;
			while (!done)
				CHECK_OK(win_req_test(&req[0][t], &done));
		}
		CHECK(req[0][t] == NULL, "request not cleared");
	}
	/* Local completion only so far: flush for remote completion. */
	CHECK_OK(win_flush_all(w));
	mp_barrier(e);
	for (t = 0; t < n; t++) {
		int k;

		for (k = 0; k < n; k++)
			CHECK_OK(win_iget(w, dst[t][k], CH, t,
					  (size_t)k * CH, &req[t][k]));
	}
	for (t = n - 1; t >= 0; t--) {
		int k;

		for (k = 0; k < n; k++) {
			done = 0;
			if ((t + k) & 1)
				CHECK_OK(win_req_wait(&req[t][k]));
			else
				while (!done)
					CHECK_OK(win_req_test(&req[t][k],
							      &done));
			CHECK(req[t][k] == NULL, "request not cleared");
			check_pattern(dst[t][k], CH, 100 + 8 * k + t,
				      "iget");
		}
	}
	CHECK_OK(win_unlock_all(w));
	mp_win_free(w);
}

static void body_strided(struct mp_env *e)
{
	enum { COUNT = 16, BLK = 12, SSTR = 20, DSTR = 40 };
	int n = e->size, r = e->rank, right = (r + 1) % n;
	int left = (r + n - 1) % n;
	unsigned char src[COUNT * SSTR], back[COUNT * SSTR], *b, *blk;
	void *base;
	size_t k, j;
	win_t *w;

	w = mp_win(e, 0, (size_t)n * CH, 8, 0, &base);
	b = base;
	pattern(src, sizeof(src), 40 + r);
	CHECK_OK(win_fence(w, 0));
	/* disp counts 8-byte units: r*CH bytes = r*CH/8 units. */
	CHECK_OK(win_put_strided(w, src, SSTR, BLK, COUNT, right,
				 (size_t)r * CH / 8, DSTR));
	CHECK_OK(win_fence(w, 0));
	memset(back, 0, sizeof(back));
	CHECK_OK(win_get_strided(w, back, SSTR, BLK, COUNT, right,
				 (size_t)r * CH / 8, DSTR));
	CHECK_OK(win_fence(w, WIN_MODE_NOSUCCEED));
	for (k = 0; k < COUNT; k++) {
		CHECK(!memcmp(back + k * SSTR, src + k * SSTR, BLK),
		      "get_strided block %zu differs", k);
		for (j = BLK; j < SSTR && k * SSTR + j < sizeof(back); j++)
			CHECK(back[k * SSTR + j] == 0,
			      "get_strided wrote a gap (block %zu)", k);
	}
	pattern(src, sizeof(src), 40 + left);
	blk = b + (size_t)left * CH;
	for (k = 0; k < COUNT; k++) {
		CHECK(!memcmp(blk + k * DSTR, src + k * SSTR, BLK),
		      "block %zu from the left differs", k);
		for (j = BLK; j < DSTR; j++)
			CHECK(blk[k * DSTR + j] == 0,
			      "put_strided wrote a gap (block %zu)", k);
	}
	mp_win_free(w);
}

static void body_vector(struct mp_env *e)
{
	int n = e->size, r = e->rank, right = (r + 1) % n;
	int left = (r + n - 1) % n;
	unsigned char a[100], c[300], d[57], all[457], out[457], *b, *blk;
	struct iovec iov[3], oiov[4];
	win_seg_t seg[3];
	void *base;
	win_t *w;

	w = mp_win(e, 0, (size_t)n * CH, 1, 0, &base);
	b = base;
	pattern(all, sizeof(all), 70 + r);
	memcpy(a, all, 100);
	memcpy(c, all + 100, 300);
	memcpy(d, all + 400, 57);
	iov[0] = (struct iovec){ a, 100 };
	iov[1] = (struct iovec){ c, 300 };
	iov[2] = (struct iovec){ d, 57 };
	seg[0] = (win_seg_t){ (size_t)r * CH + 900, 50 };
	seg[1] = (win_seg_t){ (size_t)r * CH + 0, 400 };
	seg[2] = (win_seg_t){ (size_t)r * CH + 500, 7 };
	CHECK_OK(win_lock(w, WIN_LOCK_SHARED, right, 0));
	CHECK_OK(win_putv(w, iov, 3, right, seg, 3));
	CHECK_OK(win_flush(w, right));
	memset(out, 0, sizeof(out));
	oiov[0] = (struct iovec){ out, 1 };
	oiov[1] = (struct iovec){ out + 1, 200 };
	oiov[2] = (struct iovec){ out + 201, 0 };
	oiov[3] = (struct iovec){ out + 201, 256 };
	CHECK_OK(win_getv(w, oiov, 4, right, seg, 3));
	CHECK_OK(win_unlock(w, right));
	CHECK(!memcmp(out, all, sizeof(all)), "getv differs from putv");
	mp_barrier(e);
	CHECK_OK(win_lock(w, WIN_LOCK_SHARED, r, 0));
	CHECK_OK(win_sync(w));
	pattern(all, sizeof(all), 70 + left);
	blk = b + (size_t)left * CH;
	CHECK(!memcmp(blk + 900, all, 50), "segment 0 differs");
	CHECK(!memcmp(blk, all + 50, 400), "segment 1 differs");
	CHECK(!memcmp(blk + 500, all + 450, 7), "segment 2 differs");
	check_zero(blk + 400, 100, "gap between segments");
	check_zero(blk + 507, 393, "gap between segments");
	CHECK_OK(win_unlock(w, r));
	mp_win_free(w);
}

static void body_large(struct mp_env *e)
{
	const size_t len = 1u << 20;
	int n = e->size, r = e->rank, right = (r + 1) % n;
	unsigned char *src, *dst;
	win_t *w;

	src = malloc(len);
	dst = malloc(len);
	CHECK(src && dst, "out of memory");
	pattern(src, len, 90 + r);
	w = mp_win(e, 0, len + 4096, 1, 0, NULL);
	CHECK_OK(win_lock(w, WIN_LOCK_EXCLUSIVE, right, 0));
	CHECK_OK(win_put(w, src, len, right, 4095));
	CHECK_OK(win_unlock(w, right));
	mp_barrier(e);
	CHECK_OK(win_lock(w, WIN_LOCK_SHARED, right, 0));
	CHECK_OK(win_get(w, dst, len, right, 4095));
	CHECK_OK(win_unlock(w, right));
	CHECK(!memcmp(src, dst, len), "1 MiB round trip differs");
	mp_win_free(w);
	free(src);
	free(dst);
}

static void body_units(struct mp_env *e)
{
	/* Member r: disp_unit 1, 8, 4, 2, ... and size 64 * (r + 1). */
	static const int units[4] = { 1, 8, 4, 2 };
	int n = e->size, r = e->rank, right = (r + 1) % n, left;
	uint64_t v = 0x0102030405060708ull * (r + 1), got = 0;
	unsigned char *b;
	void *base;
	int unit = 0;
	size_t size = 0;
	win_t *w;

	left = (r + n - 1) % n;
	w = mp_win(e, 0, 64 * (size_t)(r + 1), units[r], 0, &base);
	b = base;
	CHECK_OK(win_query(w, NULL, &size, &unit, NULL));
	CHECK(size == 64 * (size_t)(r + 1) && unit == units[r],
	      "query: size %zu unit %d", size, unit);
	CHECK_OK(win_fence(w, 0));
	/* Byte 40 of the right's window, in its units. */
	CHECK_OK(win_put(w, &v, 8, right, 40 / units[right]));
	CHECK_OK(win_fence(w, 0));
	CHECK_OK(win_get(w, &got, 8, right, 40 / units[right]));
	CHECK_OK(win_fence(w, WIN_MODE_NOSUCCEED));
	CHECK(got == v, "get back %llx", (unsigned long long)got);
	/* Byte offset 40 in every member (5 * 8 bytes). */
	v = 0x0102030405060708ull * (left + 1);
	CHECK(!memcmp(b + 40, &v, 8), "value from the left not at byte 40");
	mp_win_free(w);
}

/*
 * Two windows open at once; freeing the first leaves the second working
 * (transports share per-peer state between windows: an ofi provider's
 * address vector entry, for one).
 */
static void body_two(struct mp_env *e)
{
	int n = e->size, me = e->rank, right = (me + 1) % n;
	uint64_t v = 0xabc0 + (uint64_t)me, got = 0;
	void *base;
	win_t *w1 = mp_win(e, 0, 256, 8, 0, NULL);
	win_t *w2 = mp_win(e, 0, 256, 8, 0, &base);

	CHECK_OK(win_fence(w1, 0));
	CHECK_OK(win_put(w1, &v, 8, right, 1));
	CHECK_OK(win_fence(w1, WIN_MODE_NOSUCCEED));
	mp_barrier(e);
	mp_win_free(w1);
	CHECK_OK(win_lock_all(w2, 0));
	CHECK_OK(win_put(w2, &v, 8, right, 2));
	CHECK_OK(win_flush(w2, right));
	CHECK_OK(win_get(w2, &got, 8, right, 2));
	CHECK_OK(win_unlock_all(w2));
	CHECK(got == v, "get through the second window: %#llx",
	      (unsigned long long)got);
	mp_barrier(e);
	memcpy(&got, (char *)base + 16, 8);
	CHECK(got == 0xabc0 + (uint64_t)((me + n - 1) % n), "the left's put "
	      "through the second window: %#llx", (unsigned long long)got);
	mp_win_free(w2);
}

/*
 * Gets whose destination is window memory of the caller's own (a second
 * window, and the same window): the verbs transport reads straight into
 * its registration there. From every member, the caller included,
 * blocking and non-blocking, 8 bytes and GL bytes (several device
 * requests), at an odd offset; the bytes around each landing place stay
 * as they were. Then non-blocking puts of GL bytes from window memory
 * to every member.
 */
#define GL ((200u << 10) + 5)

static void body_into_window(struct mp_env *e)
{
	int n = e->size, me = e->rank, t, done;
	size_t slot = GL + 16;
	unsigned char *src, *land, small[8];
	void *sbase, *lbase, *dbase;
	win_req_t *req[4];
	win_t *ws, *wl, *wd;

	ws = mp_win(e, 0, GL + 64, 1, 0, &sbase);
	wl = mp_win(e, 0, (size_t)n * slot, 1, 0, &lbase);
	src = sbase;
	land = lbase;
	pattern(src, GL, 40 + me);
	memset(land, 0xee, (size_t)n * slot);
	mp_barrier(e);
	CHECK_OK(win_lock_all(ws, 0));
	for (t = 0; t < n; t++) {
		req[t] = NULL;
		if (t & 1)
			CHECK_OK(win_iget(ws, land + t * slot + 3, GL, t, 0,
					  &req[t]));
		else
			CHECK_OK(win_get(ws, land + t * slot + 3, GL, t, 0));
	}
	for (t = 0; t < n; t++) {
		if (!req[t])
			continue;
		if (t & 2) {
			CHECK_OK(win_req_wait(&req[t]));
		} else {
			done = 0;
			while (!done)
				CHECK_OK(win_req_test(&req[t], &done));
		}
	}
	for (t = 0; t < n; t++) {
		unsigned char *l = land + t * slot;

		check_pattern(l + 3, GL, 40 + t, "get into window memory");
		CHECK(l[0] == 0xee && l[1] == 0xee && l[2] == 0xee &&
		      l[3 + GL] == 0xee, "bytes around the get from rank %d "
		      "changed", t);
	}
	/* 8 bytes into the source window itself, past what others read. */
	for (t = 0; t < n; t++) {
		CHECK_OK(win_get(ws, src + GL + 8, 8, t, 16));
		memcpy(small, src + GL + 8, 8);
		for (int i = 0; i < 8; i++)
			CHECK(small[i] == (unsigned char)((40 + t) * 131 +
							  (16 + i) * 7 + 3),
			      "8-byte get from rank %d into its own window: "
			      "byte %d is %u", t, i, small[i]);
	}
	CHECK_OK(win_unlock_all(ws));
	mp_barrier(e);
	mp_win_free(wl);

	/* Non-blocking puts whose source is the caller's window memory
	 * (verbs: written from it, the request completing with the write). */
	wd = mp_win(e, 0, (size_t)n * GL, 1, 0, &dbase);
	CHECK_OK(win_lock_all(wd, 0));
	for (t = 0; t < n; t++)
		CHECK_OK(win_iput(wd, src, GL, t, (size_t)me * GL, &req[t]));
	for (t = 0; t < n; t++) {
		done = 0;
		if (t & 1)
			CHECK_OK(win_req_wait(&req[t]));
		else
			while (!done)
				CHECK_OK(win_req_test(&req[t], &done));
	}
	CHECK_OK(win_flush_all(wd));
	CHECK_OK(win_unlock_all(wd));
	mp_barrier(e);
	for (t = 0; t < n; t++)
		check_pattern((unsigned char *)dbase + (size_t)t * GL, GL,
			      40 + t, "iput from window memory");
	check_pattern(src, GL, 40 + me, "the iputs' source");
	mp_barrier(e);
	mp_win_free(wd);
	mp_win_free(ws);
}

/*
 * A stream of blocking puts of 1 B - 17 KiB to the right neighbour, more
 * than any transport keeps in flight, all from one source buffer that is
 * rewritten as soon as each put returns. A get right after a put, with no
 * flush between, must see that put's data (read-after-write order, as when
 * the put had waited); after the flush every put's data is there.
 */
#define ST_SLOT 17408
#define ST_PUTS 48

static size_t stream_len(int i)
{
	static const size_t fixed[] = { 1, 4095, 4096, 4097, 8192, 16383,
					16384, 16385, 17408 };

	if (i < (int)(sizeof(fixed) / sizeof(fixed[0])))
		return fixed[i];
	return 1 + ((size_t)i * 5279) % ST_SLOT;
}

static void body_stream(struct mp_env *e)
{
	int n = e->size, r = e->rank, right = (r + 1) % n, left, i;
	unsigned char *src, *back, *b;
	void *base;
	win_t *w;

	left = (r + n - 1) % n;
	src = malloc(ST_SLOT);
	back = malloc(ST_SLOT);
	CHECK(src && back, "out of memory");
	w = mp_win(e, 0, (size_t)ST_PUTS * ST_SLOT, 1, 0, &base);
	b = base;
	CHECK_OK(win_lock_all(w, 0));
	for (i = 0; i < ST_PUTS; i++) {
		size_t len = stream_len(i);

		pattern(src, len, 1000 * r + i);
		CHECK_OK(win_put(w, src, len, right, (size_t)i * ST_SLOT));
		memset(src, 0xa5, ST_SLOT); /* free again at once */
		if (i % 7 == 3) {
			memset(back, 0, len);
			CHECK_OK(win_get(w, back, len, right,
					 (size_t)i * ST_SLOT));
			check_pattern(back, len, 1000 * r + i,
				      "get right after a put");
		}
	}
	CHECK_OK(win_flush(w, right));
	CHECK_OK(win_unlock_all(w));
	mp_barrier(e);
	for (i = 0; i < ST_PUTS; i++)
		check_pattern(b + (size_t)i * ST_SLOT, stream_len(i),
			      1000 * left + i, "put of the stream");
	mp_barrier(e);
	mp_win_free(w);
	free(src);
	free(back);
}

/*
 * Local buffers that overlap one another or a window without lying
 * inside it: requests in flight from one source with growing lengths,
 * and a get into a buffer that straddles the start of this member's own
 * window. (Under FI_MR_LOCAL, ofi registers local buffers; ofi_rxm on
 * verbs refused the second request's registration, FI_ENOKEY.)
 */
#define OV_SLOT 65536

static void body_overlap(struct mp_env *e)
{
	static unsigned char src[OV_SLOT] __attribute__((aligned(4096)));
	static const size_t lens[] = { 8, 200, 3000, 5000, 9000, 17000,
				       33000, 60000 };
	enum { NL = sizeof(lens) / sizeof(lens[0]) };
	int n = e->size, r = e->rank, right = (r + 1) % n, i, round;
	unsigned char *big, *b;
	win_req_t *req[NL];
	uint64_t one = 1, old;
	void *base;
	win_t *w;

	big = aligned_alloc(4096, 4 * OV_SLOT);
	CHECK(big != NULL, "out of memory");
	w = mp_win(e, 0, OV_SLOT, 1, 0, &base);
	b = base;
	CHECK_OK(win_lock_all(w, 0));
	/* Every request of a round writes the same byte value, so their
	 * overlapping targets end the same in whatever order they land. */
	for (round = 0; round < 10; round++) {
		memset(src, 0x50 + round, sizeof(src));
		for (i = 0; i < NL; i++)
			CHECK_OK(win_iput(w, src, lens[i], right, 0, &req[i]));
		for (i = 0; i < NL; i++)
			CHECK_OK(win_req_wait(&req[i]));
		CHECK_OK(win_flush(w, right));
		CHECK_OK(win_fetch_op(w, &one, &old, WIN_UINT64, WIN_OP_SUM,
				      right, OV_SLOT - 8));
	}
	CHECK_OK(win_unlock_all(w));
	mp_barrier(e);
	for (i = 0; i < 60000; i++)
		CHECK(b[i] == 0x50 + 9, "iputs from one source with growing "
		      "lengths: byte %d is %u, expected %u", i, b[i], 0x50 + 9);
	mp_barrier(e);
	mp_win_free(w);

	pattern(big, 4 * OV_SLOT, 50 + r);
	CHECK_OK(win_create(e->group, big + OV_SLOT, 2 * OV_SLOT, 1, NULL,
			    &w));
	CHECK_OK(win_lock_all(w, 0));
	/* Its first 2000 bytes land in this member's window, which the
	 * left neighbour reads elsewhere (from offset 5000). */
	CHECK_OK(win_get(w, big + OV_SLOT - 1000, 3000, right, 5000));
	for (i = 0; i < 3000; i++) {
		unsigned char want = (unsigned char)((50 + right) * 131 +
				(OV_SLOT + 5000 + i) * 7 + 3);

		CHECK(big[OV_SLOT - 1000 + i] == want, "get into a buffer "
		      "straddling the window's start: byte %d is %u, "
		      "expected %u", i, big[OV_SLOT - 1000 + i], want);
	}
	CHECK_OK(win_unlock_all(w));
	mp_barrier(e);
	CHECK_OK(win_free(w));
	free(big);
}

#define LOOP_TEST(fn)                                                     \
	START_TEST(fn)                                                     \
	{                                                                  \
		struct mp_opts o = { .size = mp_loop_size(_i),             \
				     .flavor = mp_loop_flavor(_i) };       \
		MP_RUN(&o, body_##fn);                                     \
	}                                                                  \
	END_TEST

LOOP_TEST(fence)
LOOP_TEST(lock)
LOOP_TEST(nonblocking)
LOOP_TEST(strided)
LOOP_TEST(vector)
LOOP_TEST(large)
LOOP_TEST(units)
LOOP_TEST(two)
LOOP_TEST(into_window)
LOOP_TEST(stream)
LOOP_TEST(overlap)

static Suite *putget_suite(void)
{
	Suite *s = suite_create("mp-putget");
	TCase *tc = tcase_create("putget");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, fence, 0, 4);
	tcase_add_loop_test(tc, lock, 0, 4);
	tcase_add_loop_test(tc, nonblocking, 0, 4);
	tcase_add_loop_test(tc, strided, 0, 4);
	tcase_add_loop_test(tc, vector, 0, 4);
	tcase_add_loop_test(tc, large, 0, 4);
	tcase_add_loop_test(tc, units, 0, 4);
	tcase_add_loop_test(tc, two, 0, 4);
	tcase_add_loop_test(tc, into_window, 0, 4);
	tcase_add_loop_test(tc, stream, 0, 4);
	tcase_add_loop_test(tc, overlap, 0, 4);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite("mp-putget", putget_suite());
}
