/*
 * Put with signal between processes: SET and ADD, win_signal_wait_until
 * and win_signal_read; whenever a signal is seen, the data put with it
 * must be there. Loop tests: iteration & 1 selects allocate, & 2 selects
 * 4 members.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define DATA 8192  /* bytes of data per message */
#define SIG0 0     /* signal words live in the first 64 bytes */

static void fill(uint64_t *p, size_t words, uint64_t v)
{
	size_t i;

	for (i = 0; i < words; i++)
		p[i] = v * 1000003u + i;
}

static void check_fill(const uint64_t *p, size_t words, uint64_t v,
		       const char *what)
{
	size_t i;

	for (i = 0; i < words; i++)
		CHECK(p[i] == v * 1000003u + i,
		      "%s: word %zu of message %llu is stale", what, i,
		      (unsigned long long)v);
}

/*
 * Pairs (0,1), (2,3): ping-pong of put_signal with SET. The receiver sees
 * signal i and checks message i in its window, then answers with ADD.
 */
static void body_ping_pong(struct mp_env *e)
{
	enum { ITER = 300 };
	int r = e->rank, peer = r ^ 1, i;
	uint64_t *msg, *b, seen;
	void *base;
	win_t *w;

	msg = malloc(DATA);
	CHECK(msg, "out of memory");
	/* unit 8: signal words at disp 0..7, data from disp 8. */
	w = mp_win(e, 0, 64 + DATA, 8, 0, &base);
	b = (uint64_t *)base + 8;
	CHECK_OK(win_lock_all(w, 0));
	for (i = 1; i <= ITER; i++) {
		if ((r & 1) == (i & 1)) {
			fill(msg, DATA / 8, (uint64_t)i);
			CHECK_OK(win_put_signal(w, msg, DATA, peer, 8, SIG0,
						(uint64_t)i, WIN_SIGNAL_SET));
			if (i % 3 == 0)
				CHECK_OK(win_flush(w, peer));
		} else {
			CHECK_OK(win_signal_wait_until(w, SIG0, WIN_CMP_EQ,
						       (uint64_t)i, &seen));
			CHECK(seen == (uint64_t)i, "saw %llu, waited for %d",
			      (unsigned long long)seen, i);
			check_fill(b, DATA / 8, (uint64_t)i, "ping-pong");
		}
	}
	CHECK_OK(win_unlock_all(w));
	mp_barrier(e);
	mp_win_free(w);
}

/*
 * Everyone but rank 0 sends a block to rank 0 and adds 1 to its signal
 * word; rank 0 waits for N-1 more each round and checks every block.
 */
static void body_gather_add(struct mp_env *e)
{
	enum { ROUNDS = 100, BLK = 1024 };
	int n = e->size, r = e->rank, round, k;
	uint64_t msg[BLK / 8], seen, v;
	uint64_t *b;
	void *base;
	win_t *w;

	w = mp_win(e, 0, 64 + (size_t)n * BLK, 8, 0, &base);
	b = base;
	CHECK_OK(win_lock_all(w, 0));
	for (round = 1; round <= ROUNDS; round++) {
		if (r != 0) {
			fill(msg, BLK / 8, (uint64_t)(round * 16 + r));
			CHECK_OK(win_put_signal(w, msg, BLK, 0,
						8 + (size_t)r * BLK / 8, 1, 1,
						WIN_SIGNAL_ADD));
			CHECK_OK(win_flush(w, 0));
		} else {
			v = (uint64_t)round * (n - 1);
			CHECK_OK(win_signal_wait_until(w, 1, WIN_CMP_GE, v,
						       &seen));
			CHECK(seen == v, "signal %llu after round %d",
			      (unsigned long long)seen, round);
			for (k = 1; k < n; k++)
				check_fill(b + 8 + (size_t)k * BLK / 8,
					   BLK / 8,
					   (uint64_t)(round * 16 + k),
					   "gather");
			CHECK_OK(win_signal_read(w, 1, &seen));
			CHECK(seen == v, "signal_read %llu",
			      (unsigned long long)seen);
		}
		/* Nobody overwrites a block before rank 0 has read it. */
		mp_barrier(e);
	}
	CHECK_OK(win_unlock_all(w));
	mp_win_free(w);
}

/* Rank 0 streams to rank 1 without waiting; rank 1 watches the signal
 * grow and checks each message it sees completely (never torn). */
static void body_stream(struct mp_env *e)
{
	enum { ITER = 500, WORDS = 512 };
	int r = e->rank, i;
	uint64_t msg[WORDS], seen = 0, last = 0, copy[WORDS];
	uint64_t *b;
	void *base;
	win_t *w;

	w = mp_win(e, 0, 64 + (size_t)ITER * WORDS * 8, 8, 0, &base);
	b = base;
	CHECK_OK(win_lock_all(w, 0));
	if (r == 0) {
		for (i = 1; i <= ITER; i++) {
			fill(msg, WORDS, (uint64_t)i);
			/* Message i goes to its own place. */
			CHECK_OK(win_put_signal(w, msg, sizeof(msg), 1,
						8 + (size_t)(i - 1) * WORDS,
						2, (uint64_t)i,
						WIN_SIGNAL_SET));
		}
		CHECK_OK(win_flush(w, 1));
	} else if (r == 1) {
		while (last < ITER) {
			CHECK_OK(win_signal_wait_until(w, 2, WIN_CMP_GT, last,
						       &seen));
			CHECK(seen > last && seen <= ITER, "signal %llu",
			      (unsigned long long)seen);
			/* All messages up to `seen` are complete. */
			for (i = (int)last + 1; i <= (int)seen; i++) {
				memcpy(copy, b + 8 + (size_t)(i - 1) * WORDS,
				       sizeof(copy));
				check_fill(copy, WORDS, (uint64_t)i,
					   "stream");
			}
			last = seen;
		}
	}
	CHECK_OK(win_unlock_all(w));
	mp_barrier(e);
	mp_win_free(w);
}

/* Waiting times out when nothing arrives. */
static void body_wait_timeout(struct mp_env *e)
{
	long long t0;
	uint64_t seen;
	win_t *w;

	w = mp_win(e, 0, 64, 8, 0, NULL);
	t0 = now_ms();
	CHECK_RC(win_signal_wait_until(w, 3, WIN_CMP_EQ, 1, &seen),
		 WIN_ERR_TIMEOUT);
	CHECK(now_ms() - t0 < 5000, "the wait took %lld ms",
	      now_ms() - t0);
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

LOOP_TEST(ping_pong)
LOOP_TEST(gather_add)
LOOP_TEST(stream)

START_TEST(wait_timeout)
{
	struct mp_opts o = { .size = mp_loop_size(_i),
			     .flavor = mp_loop_flavor(_i),
			     .lib_timeout_ms = 500 };

	MP_RUN(&o, body_wait_timeout);
}
END_TEST

static Suite *signal_suite(void)
{
	Suite *s = suite_create("mp-signal");
	TCase *tc = tcase_create("signal");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, ping_pong, 0, 4);
	tcase_add_loop_test(tc, gather_add, 0, 4);
	tcase_add_loop_test(tc, stream, 0, 4);
	tcase_add_loop_test(tc, wait_timeout, 0, 4);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite("mp-signal", signal_suite());
}
