/*
 * verbs-peer NAME RANK [SIZE]: one member of a group of SIZE (default 2)
 * processes started independently (for example one per network namespace),
 * checking put, get, vector transfers, atomics, locks, active target and
 * put-with-signal results over whatever transport WIN_TRANSPORTS forces
 * (the guest's part-verbs-netns.sh uses verbs). Every member must report
 * the transport it was asked for (VERBS_PEER_EXPECT, default "verbs").
 *
 * Exit status: 0 all checks passed, 1 a check failed, 77 the transport
 * cannot run here (no device).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "win.h"

/* Words and buffers above what the transfer checks write. */
#define A ((size_t)200 * 1024)

static int me = -1, checks;

static void die(int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "verbs-peer rank %d: line %d: ", me, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (last error: %s)\n", win_last_error());
	exit(1);
}

#define OK(expr)                                                          \
	do {                                                               \
		int rc_ = (expr);                                          \
		if (rc_ != WIN_OK)                                         \
			die(__LINE__, "%s returned %s", #expr,             \
			    win_strerror(rc_));                            \
		checks++;                                                  \
	} while (0)

#define EXPECT(cond, ...)                                                 \
	do {                                                               \
		if (!(cond))                                               \
			die(__LINE__, __VA_ARGS__);                        \
		checks++;                                                  \
	} while (0)

static unsigned char pat(int rank, size_t i)
{
	return (unsigned char)(rank * 31 + i * 7 + 1);
}

int main(int argc, char **argv)
{
	const char *expect = getenv("VERBS_PEER_EXPECT");
	win_ctx_t *ctx;
	win_group_t *g;
	win_t *w;
	unsigned char *base, *buf;
	const size_t len = 256 * 1024, big = 128 * 1024;
	int size, rc, peer;

	if (argc < 3) {
		fprintf(stderr, "usage: verbs-peer NAME RANK [SIZE]\n");
		return 2;
	}
	me = atoi(argv[2]);
	size = argc > 3 ? atoi(argv[3]) : 2;
	if (!expect)
		expect = "verbs";
	rc = win_init(NULL, &ctx);
	if (rc == WIN_ERR_TRANSPORT || rc == WIN_ERR_UNSUPPORTED) {
		printf("verbs-peer rank %d: SKIP: %s\n", me, win_last_error());
		return 77;
	}
	OK(rc);
	OK(win_group_join(ctx, argv[1], size, me, &g));
	peer = (me + 1) % size;
	OK(win_allocate(g, len, 1, NULL, (void **)&base, &w));
	for (int r = 0; r < size; r++)
		EXPECT(!strcmp(win_transport_name(w, r), expect),
		       "rank %d is served by %s, not %s", r,
		       win_transport_name(w, r), expect);
	buf = malloc(len);
	if (!buf)
		die(__LINE__, "out of memory");

	/* Fence: small (inline) and large puts into the next rank. */
	for (size_t i = 0; i < big; i++)
		buf[i] = pat(me, i);
	OK(win_fence(w, 0));
	OK(win_put(w, buf, 16, peer, 0));
	OK(win_put(w, buf + 16, big - 16, peer, 16));
	OK(win_fence(w, 0));
	{
		int from = (me + size - 1) % size;

		for (size_t i = 0; i < big; i++)
			EXPECT(base[i] == pat(from, i), "byte %zu from rank %d:"
			       " %u, expected %u", i, from, base[i],
			       pat(from, i));
	}
	/* Get back what we put into the peer. */
	memset(buf, 0, big);
	OK(win_get(w, buf, big, peer, 0));
	OK(win_fence(w, 0));
	for (size_t i = 0; i < big; i++)
		EXPECT(buf[i] == pat(me, i), "get byte %zu: %u, expected %u", i,
		       buf[i], pat(me, i));

	/* Strided put: 64 blocks of 24 bytes every 100 bytes, at 150 KiB. */
	{
		const size_t at = 150 * 1024, bl = 24, n = 64;
		unsigned char src[64 * 32], back[64 * 24];

		for (size_t i = 0; i < sizeof(src); i++)
			src[i] = (unsigned char)(i * 3 + me);
		OK(win_put_strided(w, src, 32, bl, n, peer, at, 100));
		OK(win_fence(w, 0));
		OK(win_get_strided(w, back, 24, bl, n, peer, at, 100));
		OK(win_fence(w, 0));
		for (size_t b = 0; b < n; b++)
			EXPECT(!memcmp(back + b * 24, src + b * 32, bl),
			       "strided block %zu differs", b);
	}
	OK(win_fence(w, WIN_MODE_NOSUCCEED));

	/* Atomics on rank 0's words, from every member at once. */
	{
		const int iters = 50;
		int64_t one = 1, old64, sum64 = 0;
		int32_t one32 = 1, old32;
		double half = 0.5, oldd;
		uint64_t maxv = 1000 + (uint64_t)me, oldu;

		OK(win_lock_all(w, 0));
		for (int i = 0; i < iters; i++) {
			OK(win_fetch_op(w, &one, &old64, WIN_INT64, WIN_OP_SUM, 0,
					A));
			OK(win_fetch_op(w, &one32, &old32, WIN_INT32, WIN_OP_SUM,
					0, A + 8));
			OK(win_accumulate(w, &half, 1, WIN_DOUBLE, WIN_OP_SUM, 0,
					  A + 16));
		}
		OK(win_fetch_op(w, &maxv, &oldu, WIN_UINT64, WIN_OP_MAX, 0,
				A + 24));
		OK(win_unlock_all(w));
		OK(win_group_barrier(g));
		OK(win_lock_all(w, 0));
		OK(win_fetch_op(w, NULL, &sum64, WIN_INT64, WIN_OP_NO_OP, 0,
				A));
		OK(win_fetch_op(w, NULL, &old32, WIN_INT32, WIN_OP_NO_OP, 0,
				A + 8));
		OK(win_fetch_op(w, NULL, &oldd, WIN_DOUBLE, WIN_OP_NO_OP, 0,
				A + 16));
		OK(win_fetch_op(w, NULL, &oldu, WIN_UINT64, WIN_OP_NO_OP, 0,
				A + 24));
		OK(win_unlock_all(w));
		EXPECT(sum64 == (int64_t)size * iters, "int64 sum %lld, "
		       "expected %lld", (long long)sum64,
		       (long long)size * iters);
		EXPECT(old32 == size * iters, "int32 sum %d, expected %d",
		       (int)old32, size * iters);
		EXPECT(oldd == 0.5 * size * iters, "double sum %g, expected "
		       "%g", oldd, 0.5 * size * iters);
		EXPECT(oldu == 1000 + (uint64_t)size - 1, "max %llu, expected "
		       "%llu", (unsigned long long)oldu,
		       1000ull + (unsigned long long)size - 1);
	}
	OK(win_group_barrier(g));

	/* Compare-and-swap: exactly one member wins the word at 1056. */
	{
		uint64_t zero = 0, mine = 100 + (uint64_t)me, got, final;
		int wins;

		OK(win_lock(w, WIN_LOCK_SHARED, 0, 0));
		OK(win_compare_swap(w, &zero, &mine, &got, WIN_UINT64, 0,
				    A + 32));
		OK(win_unlock(w, 0));
		wins = got == 0;
		OK(win_group_barrier(g));
		OK(win_lock(w, WIN_LOCK_SHARED, 0, 0));
		OK(win_fetch_op(w, NULL, &final, WIN_UINT64, WIN_OP_NO_OP, 0,
				A + 32));
		OK(win_unlock(w, 0));
		EXPECT(final >= 100 && final < 100 + (uint64_t)size,
		       "cas word %llu", (unsigned long long)final);
		EXPECT(wins == (final == mine), "cas: won %d but the word "
		       "holds %llu", wins, (unsigned long long)final);
	}

	/* Exclusive locks: read-modify-write with get and put. */
	{
		const int iters = 20;
		int64_t v = 0;

		for (int i = 0; i < iters; i++) {
			OK(win_lock(w, WIN_LOCK_EXCLUSIVE, 0, 0));
			OK(win_get(w, &v, 8, 0, A + 64));
			OK(win_flush(w, 0));
			v++;
			OK(win_put(w, &v, 8, 0, A + 64));
			OK(win_unlock(w, 0));
		}
		OK(win_group_barrier(g));
		OK(win_lock(w, WIN_LOCK_SHARED, 0, 0));
		OK(win_get(w, &v, 8, 0, A + 64));
		OK(win_unlock(w, 0));
		EXPECT(v == (int64_t)size * iters, "locked counter %lld, "
		       "expected %lld", (long long)v,
		       (long long)size * iters);
	}

	/* Active target: every member exposes to and accesses its peers. */
	{
		int from = (me + size - 1) % size;
		uint64_t tag = 0xabc000 + (uint64_t)me, seen;

		OK(win_post(w, &from, 1, 0));
		OK(win_start(w, &peer, 1, 0));
		OK(win_put(w, &tag, 8, peer, A + 128));
		OK(win_complete(w));
		OK(win_wait(w));
		memcpy(&seen, base + A + 128, 8);
		EXPECT(seen == 0xabc000 + (uint64_t)from, "pscw word %llx",
		       (unsigned long long)seen);
	}

	/* Put with signal: the data is there when the signal is. */
	{
		uint64_t seen = 0;
		int from = (me + size - 1) % size;

		for (size_t i = 0; i < 4096; i++)
			buf[i] = (unsigned char)(i ^ (size_t)me);
		OK(win_lock_all(w, 0));
		OK(win_put_signal(w, buf, 4096, peer, A + 4096, A + 16384, 7,
				  WIN_SIGNAL_ADD));
		OK(win_flush(w, peer));
		OK(win_signal_wait_until(w, A + 16384, WIN_CMP_GE, 7, &seen));
		OK(win_unlock_all(w));
		EXPECT(seen == 7, "signal %llu", (unsigned long long)seen);
		for (size_t i = 0; i < 4096; i++)
			EXPECT(base[A + 4096 + i] == (unsigned char)(i ^
							 (size_t)from),
			       "signalled byte %zu", i);
	}

	OK(win_group_barrier(g));
	OK(win_free(w));
	OK(win_group_leave(g));
	OK(win_finalize(ctx));
	free(buf);
	printf("verbs-peer rank %d of %d: %d checks passed over %s\n", me,
	       size, checks, expect);
	return 0;
}
