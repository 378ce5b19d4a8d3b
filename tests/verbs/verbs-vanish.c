/*
 * verbs-vanish NAME RANK [SECONDS]: one of two processes (started
 * independently) that loop put, get, fetch-op and flush on each other's
 * part of a window until an operation fails or SECONDS (default 300) pass.
 * guest/part-verbs-vanish.sh deletes the RDMA device under them.
 *
 * Prints "looping" once the first round is done, then, on the first
 * failing call, its status and message. It then checks that later
 * operations fail at once too, and that freeing a second window (outside
 * any epoch, so win_free releases it) and finalizing return.
 *
 * Exit status: 3 an operation returned an error and every later check
 * held, 0 no error in SECONDS (the device never went away), 1 setup failed
 * or a check after the error did not hold, 77 no verbs device.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "win.h"

static int me;

static double now_s(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#define STEP(expr)                                                        \
	do {                                                               \
		rc = (expr);                                               \
		if (rc != WIN_OK) {                                        \
			what = #expr;                                      \
			goto failed;                                       \
		}                                                          \
	} while (0)

int main(int argc, char **argv)
{
	const size_t len = 64 * 1024, chunk = 4096;
	win_ctx_t *ctx;
	win_group_t *g;
	win_t *w, *w2;
	unsigned char *base, *base2, *buf;
	const char *what = "";
	double limit, t0, t1;
	long rounds = 0;
	int rc, rc2, peer;

	if (argc < 3) {
		fprintf(stderr, "usage: verbs-vanish NAME RANK [SECONDS]\n");
		return 2;
	}
	me = atoi(argv[2]);
	peer = 1 - me;
	limit = argc > 3 ? atof(argv[3]) : 300;
	setvbuf(stdout, NULL, _IOLBF, 0);
	rc = win_init(NULL, &ctx);
	if (rc == WIN_ERR_TRANSPORT || rc == WIN_ERR_UNSUPPORTED) {
		printf("verbs-vanish rank %d: SKIP: %s\n", me, win_last_error());
		return 77;
	}
	if (rc || (rc = win_group_join(ctx, argv[1], 2, me, &g)) ||
	    (rc = win_allocate(g, len, 1, NULL, (void **)&base, &w)) ||
	    (rc = win_allocate(g, 4096, 1, NULL, (void **)&base2, &w2)) ||
	    (rc = win_lock_all(w, 0))) {
		printf("verbs-vanish rank %d: setup failed: %s (%s)\n", me,
		       win_strerror(rc), win_last_error());
		return 1;
	}
	if (strcmp(win_transport_name(w, peer), "verbs")) {
		printf("verbs-vanish rank %d: the peer is served by %s, not "
		       "verbs\n", me, win_transport_name(w, peer));
		return 1;
	}
	buf = malloc(chunk);
	if (!buf)
		return 1;
	t0 = now_s(CLOCK_MONOTONIC);
	for (;;) {
		size_t at = (size_t)(rounds % (long)(len / chunk - 1)) * chunk;
		int64_t one = 1, old;

		memset(buf, (int)(rounds & 0xff), chunk);
		STEP(win_put(w, buf, chunk, peer, at));
		STEP(win_put(w, buf, 64, peer, at + chunk - 64));
		STEP(win_get(w, buf, chunk, peer, at));
		STEP(win_fetch_op(w, &one, &old, WIN_INT64, WIN_OP_SUM, peer,
				  len - 8));
		STEP(win_flush(w, peer));
		if (++rounds == 1)
			printf("verbs-vanish rank %d: looping\n", me);
		if (now_s(CLOCK_MONOTONIC) - t0 > limit)
			break;
	}
	printf("verbs-vanish rank %d: %ld rounds in %.0f s without an error\n",
	       me, rounds, limit);
	win_unlock_all(w);
	win_free(w);
	win_free(w2);
	win_finalize(ctx);
	return 0;

failed:
	printf("verbs-vanish rank %d: error after %ld rounds: %s returned "
	       "%s: %s\n", me, rounds, what, win_strerror(rc),
	       win_last_error());
	/* Every later operation fails too, and at once. */
	{
		int64_t one = 1, old;
		int fails = 0;

		t1 = now_s(CLOCK_MONOTONIC);
		fails += win_put(w, buf, chunk, peer, 0) != WIN_OK;
		fails += win_get(w, buf, 64, peer, 0) != WIN_OK;
		fails += win_fetch_op(w, &one, &old, WIN_INT64, WIN_OP_SUM,
				      peer, len - 8) != WIN_OK;
		fails += win_flush_all(w) != WIN_OK;
		t1 = now_s(CLOCK_MONOTONIC) - t1;
		printf("verbs-vanish rank %d: %d of 4 later operations failed "
		       "in %.3f s (%s)\n", me, fails, t1, win_last_error());
		if (fails != 4 || t1 > 5) {
			printf("verbs-vanish rank %d: FAIL: later operations "
			       "must fail at once\n", me);
			return 1;
		}
	}
	rc2 = win_unlock_all(w);
	printf("verbs-vanish rank %d: win_unlock_all: %s\n", me,
	       win_strerror(rc2));
	/* Still in its epoch: refused, and finalize releases it. */
	rc2 = win_free(w);
	printf("verbs-vanish rank %d: win_free (in an epoch): %s\n", me,
	       win_strerror(rc2));
	t1 = now_s(CLOCK_MONOTONIC);
	rc2 = win_free(w2);
	printf("verbs-vanish rank %d: win_free (no epoch): %s in %.3f s\n", me,
	       win_strerror(rc2), now_s(CLOCK_MONOTONIC) - t1);
	t1 = now_s(CLOCK_MONOTONIC);
	rc2 = win_finalize(ctx);
	printf("verbs-vanish rank %d: win_finalize: %s in %.3f s\n", me,
	       win_strerror(rc2), now_s(CLOCK_MONOTONIC) - t1);
	free(buf);
	return rc2 == WIN_OK ? 3 : 1;
}
