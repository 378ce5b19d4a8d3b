/*
 * The measurement loops, shared word for word by winbench (libwin) and
 * mpi_rma_bench (MPI-3 RMA), so that both time exactly the same sequence
 * of calls.  The including file defines `struct be` and these primitives
 * (all return 0 on success, an implementation error code otherwise):
 *
 *   int be_rank(struct be *), be_size(struct be *)
 *   int be_barrier(struct be *)
 *   int be_win_open(struct be *, int flavor, size_t bytes)   collective
 *   int be_win_close(struct be *)                            collective
 *   const char *be_transport(struct be *)   how rank 1 is reached
 *   int be_put(b, const void *src, size_t len, int rank, size_t disp)
 *   int be_get(b, void *dst, size_t len, int rank, size_t disp)
 *   int be_fop(b, const int64_t *operand, int64_t *result, rank, disp)
 *   int be_cas(b, const int64_t *cmp, const int64_t *swp, int64_t *result,
 *              rank, disp)
 *   int be_acc(b, const int64_t *operand, rank, disp)
 *   int be_flush(b, rank), be_lock(b, rank) (shared), be_unlock(b, rank),
 *       be_lock_all(b), be_unlock_all(b), be_fence(b, int nosucceed),
 *       be_post(b, peer), be_start(b, peer), be_complete(b), be_wait(b)
 *   void *be_local(struct be *)      this rank's own window memory (the
 *                                    allocated base, or the created
 *                                    window's buffer); NULL when it may not
 *                                    be read directly
 *   int be_sync(struct be *)         public and private window copies agree
 *   long be_timeout_ms(struct be *)  bound on a wait that sees no progress
 *   const char *be_errstr(struct be *, int rc)
 *   void be_fatal(struct be *)       ends the whole run, never returns
 *
 * The atomics are on one int64 with SUM; displacements are in bytes.
 *
 * Latency, per sync mode (the definitions of the OSU one-sided tests):
 *   flush     lock_all once; per iteration op + flush(target)
 *   lock      per iteration lock(shared, target), op, unlock(target)
 *   lock_all  per iteration lock_all, op, unlock_all
 *   fence     ping-pong: rank 0 fence, op, fence, fence; rank 1 fence,
 *             fence, op, fence; half the time per iteration
 *   pscw      ping-pong: rank 0 start, op, complete, post, wait; rank 1
 *             post, wait, start, op, complete; half the time per iteration
 *   pingpong  put only, as ib_write_lat: both in lock_all; rank 0 puts
 *             `size` bytes ending in sequence number i to rank 1 and polls
 *             its own window until rank 1's put brings i back; rank 1
 *             polls for i, then puts; no flush; half the time per iteration
 * Bandwidth: the same, with `window` operations between synchronizations
 * (fence: rank 0 fence, ops, fence; pscw: start, ops, complete against
 * post, wait).
 */
#ifndef BENCH_LOOPS_H
#define BENCH_LOOPS_H

#include "bench_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bench_state {
	struct be *b;
	const struct bench_opts *o;
	const struct bench_meta *m;
	size_t win_bytes;
	unsigned char *src;	/* origin buffer of put/acc */
	unsigned char *dst;	/* origin buffer of get */
	unsigned char *chk;	/* data checks */
	int64_t one;		/* fop/acc operand */
	int64_t res;		/* fop/cas result */
	int64_t cmp, swp;	/* cas operands */
	double *tv;		/* one value per repetition */
	double *ov;		/* -P: one value per timed operation (us) */
	long nov, ovcap;
	uint64_t ovlast;	/* -P: end of the previous operation */
	int nsizes;
	double *mc_us;		/* memcpy reference per size index */
	double *mc_mbps;
	const char *what;	/* the call that failed */
	int bad;		/* a data check failed */
	int64_t pp_seq;		/* pingpong: last sequence number sent */
	int pp_bad;		/* pingpong: rank 0 received wrong data */
};

#define BENCH_CHK(s, call)						\
	do {								\
		rc = (call);						\
		if (rc) {						\
			(s)->what = #call;				\
			goto fail;					\
		}							\
	} while (0)

/*
 * -P: called on rank 0 as timed iteration `i` (of a loop whose first
 * timed one is `warm`) ends; records its time, divided by `div` (2 for a
 * ping-pong, which times a round trip).
 */
static inline void bench_op_done(struct bench_state *s, long i, long warm,
				 int div)
{
	uint64_t now;

	if (!s->o->per_op || i < warm || !s->ov)
		return;
	now = bench_now();
	if (i > warm && s->nov < s->ovcap)
		s->ov[s->nov++] = (double)(now - s->ovlast) / 1e3 / div;
	s->ovlast = now;
}

static void bench_fail(struct bench_state *s, int rc)
{
	fprintf(stderr, "%s: rank %d: %s failed: %s\n", s->m->prog,
		be_rank(s->b), s->what ? s->what : "?",
		be_errstr(s->b, rc));
	fflush(stderr);
	be_fatal(s->b);
}

static inline int bench_do_op(struct bench_state *s, int op, size_t size,
			      int peer)
{
	switch (op) {
	case BOP_PUT:
		return be_put(s->b, s->src, size, peer, 0);
	case BOP_GET:
		return be_get(s->b, s->dst, size, peer, 0);
	case BOP_FOP:
		return be_fop(s->b, &s->one, &s->res, peer, 0);
	case BOP_CAS:
		/*
		 * Swap in old + 1, guessing old from the last result (which
		 * the completion of the previous iteration made valid): the
		 * uncontended target word counts the successful swaps.
		 */
		s->cmp = s->res == s->cmp ? s->swp : s->res;
		s->swp = s->cmp + 1;
		return be_cas(s->b, &s->cmp, &s->swp, &s->res, peer, 0);
	case BOP_ACC:
		return be_acc(s->b, &s->one, peer, 0);
	}
	return -1;
}

/* Ranks beyond 0 and 1 only take part in the collective calls. */
static int bench_idle(struct bench_state *s, int sync, long n, int fences)
{
	long i;
	int k, rc = 0;

	if (sync != BSYNC_FENCE)
		return 0;
	for (i = 0; i < n; i++)
		for (k = 0; k < fences; k++)
			BENCH_CHK(s, be_fence(s->b, 0));
	BENCH_CHK(s, be_fence(s->b, 1));
	return 0;
fail:
	bench_fail(s, rc);
	return rc;
}

/*
 * Pingpong: wait until the last 8 bytes of the first `size` of our own
 * window memory hold `want` (a peer's put). Each read is an acquire load,
 * with be_sync() between reads; a word that stays unchanged for the
 * timeout ends the run.
 */
static int bench_pp_wait(struct bench_state *s, const unsigned char *mem,
			 size_t size, int64_t want)
{
	const int64_t *p = (const int64_t *)(const void *)(mem + size - 8);
	uint64_t now, since = 0;
	uint64_t limit = (uint64_t)be_timeout_ms(s->b) * 1000000u;
	int64_t v, seen = want - 1;
	unsigned k = 0;
	int rc;

	while ((v = __atomic_load_n(p, __ATOMIC_ACQUIRE)) != want) {
		if (v != seen) {
			seen = v;
			since = 0;
		} else if (!(++k & 4095)) {
			now = bench_now();
			if (!since) {
				since = now;
			} else if (now - since > limit) {
				fprintf(stderr, "%s: rank %d: sync pingpong: "
					"no put arrived in %ld ms (waiting for "
					"%lld, the word holds %lld)\n",
					s->m->prog, be_rank(s->b),
					be_timeout_ms(s->b), (long long)want,
					(long long)v);
				be_fatal(s->b);
			}
		}
		rc = be_sync(s->b);
		if (rc)
			return rc;
	}
	return 0;
}

/* One timed latency loop; *ns is set on rank 0. */
static void bench_lat_loop(struct bench_state *s, int op, int sync,
			   size_t size, long warm, long iters, uint64_t *ns)
{
	struct be *b = s->b;
	int me = be_rank(b), rc = 0;
	long i, n = warm + iters;
	uint64_t t0 = 0;
	unsigned char *mem;
	int64_t seq;

	if (me > 1) {
		bench_idle(s, sync, n, 3);
		return;
	}
	switch (sync) {
	case BSYNC_FLUSH:
		if (me)
			break;
		BENCH_CHK(s, be_lock_all(b));
		for (i = 0; i < n; i++) {
			if (i == warm)
				t0 = bench_now();
			bench_op_done(s, i, warm, 1);
			BENCH_CHK(s, bench_do_op(s, op, size, 1));
			BENCH_CHK(s, be_flush(b, 1));
		}
		bench_op_done(s, n, warm, 1);
		*ns = bench_now() - t0;
		BENCH_CHK(s, be_unlock_all(b));
		break;
	case BSYNC_LOCK:
		if (me)
			break;
		for (i = 0; i < n; i++) {
			if (i == warm)
				t0 = bench_now();
			BENCH_CHK(s, be_lock(b, 1));
			BENCH_CHK(s, bench_do_op(s, op, size, 1));
			BENCH_CHK(s, be_unlock(b, 1));
		}
		*ns = bench_now() - t0;
		break;
	case BSYNC_LOCK_ALL:
		if (me)
			break;
		for (i = 0; i < n; i++) {
			if (i == warm)
				t0 = bench_now();
			BENCH_CHK(s, be_lock_all(b));
			BENCH_CHK(s, bench_do_op(s, op, size, 1));
			BENCH_CHK(s, be_unlock_all(b));
		}
		*ns = bench_now() - t0;
		break;
	case BSYNC_FENCE:
		for (i = 0; i < n; i++) {
			if (i == warm)
				t0 = bench_now();
			if (me == 0) {
				BENCH_CHK(s, be_fence(b, 0));
				BENCH_CHK(s, bench_do_op(s, op, size, 1));
				BENCH_CHK(s, be_fence(b, 0));
				BENCH_CHK(s, be_fence(b, 0));
			} else {
				BENCH_CHK(s, be_fence(b, 0));
				BENCH_CHK(s, be_fence(b, 0));
				BENCH_CHK(s, bench_do_op(s, op, size, 0));
				BENCH_CHK(s, be_fence(b, 0));
			}
		}
		*ns = (bench_now() - t0) / 2;
		BENCH_CHK(s, be_fence(b, 1));
		break;
	case BSYNC_PSCW:
		for (i = 0; i < n; i++) {
			if (i == warm)
				t0 = bench_now();
			if (me == 0) {
				BENCH_CHK(s, be_start(b, 1));
				BENCH_CHK(s, bench_do_op(s, op, size, 1));
				BENCH_CHK(s, be_complete(b));
				BENCH_CHK(s, be_post(b, 1));
				BENCH_CHK(s, be_wait(b));
			} else {
				BENCH_CHK(s, be_post(b, 0));
				BENCH_CHK(s, be_wait(b));
				BENCH_CHK(s, be_start(b, 0));
				BENCH_CHK(s, bench_do_op(s, op, size, 0));
				BENCH_CHK(s, be_complete(b));
			}
		}
		*ns = (bench_now() - t0) / 2;
		break;
	case BSYNC_PP:
		mem = be_local(b);
		BENCH_CHK(s, be_lock_all(b));
		for (i = 0; i < n; i++) {
			if (i == warm)
				t0 = bench_now();
			if (me == 0)
				bench_op_done(s, i, warm, 2);
			seq = ++s->pp_seq;
			memcpy(s->src + size - 8, &seq, 8);
			if (me == 0) {
				BENCH_CHK(s, be_put(b, s->src, size, 1, 0));
				BENCH_CHK(s, bench_pp_wait(s, mem, size, seq));
			} else {
				BENCH_CHK(s, bench_pp_wait(s, mem, size, seq));
				BENCH_CHK(s, be_put(b, s->src, size, 0, 0));
			}
		}
		if (me == 0)
			bench_op_done(s, n, warm, 2);
		*ns = (bench_now() - t0) / 2;
		BENCH_CHK(s, be_unlock_all(b));
		/* Rank 1 sent the same pattern and sequence numbers back. */
		if (me == 0 && s->o->verify && memcmp(mem, s->src, size))
			s->pp_bad = 1;
		break;
	}
	return;
fail:
	bench_fail(s, rc);
}

/* One timed bandwidth loop (`loops` synchronizations of `w` ops each). */
static void bench_bw_loop(struct bench_state *s, int op, int sync,
			  size_t size, long warm, long loops, int w,
			  uint64_t *ns)
{
	struct be *b = s->b;
	int me = be_rank(b), rc = 0, j;
	long i, n = warm + loops;
	uint64_t t0 = 0;

	if (me > 1) {
		bench_idle(s, sync, n, 2);
		return;
	}
	switch (sync) {
	case BSYNC_FLUSH:
		if (me)
			break;
		BENCH_CHK(s, be_lock_all(b));
		for (i = 0; i < n; i++) {
			if (i == warm)
				t0 = bench_now();
			for (j = 0; j < w; j++)
				BENCH_CHK(s, bench_do_op(s, op, size, 1));
			BENCH_CHK(s, be_flush(b, 1));
		}
		*ns = bench_now() - t0;
		BENCH_CHK(s, be_unlock_all(b));
		break;
	case BSYNC_LOCK:
		if (me)
			break;
		for (i = 0; i < n; i++) {
			if (i == warm)
				t0 = bench_now();
			BENCH_CHK(s, be_lock(b, 1));
			for (j = 0; j < w; j++)
				BENCH_CHK(s, bench_do_op(s, op, size, 1));
			BENCH_CHK(s, be_unlock(b, 1));
		}
		*ns = bench_now() - t0;
		break;
	case BSYNC_LOCK_ALL:
		if (me)
			break;
		for (i = 0; i < n; i++) {
			if (i == warm)
				t0 = bench_now();
			BENCH_CHK(s, be_lock_all(b));
			for (j = 0; j < w; j++)
				BENCH_CHK(s, bench_do_op(s, op, size, 1));
			BENCH_CHK(s, be_unlock_all(b));
		}
		*ns = bench_now() - t0;
		break;
	case BSYNC_FENCE:
		for (i = 0; i < n; i++) {
			if (i == warm)
				t0 = bench_now();
			BENCH_CHK(s, be_fence(b, 0));
			if (me == 0)
				for (j = 0; j < w; j++)
					BENCH_CHK(s, bench_do_op(s, op, size,
								 1));
			BENCH_CHK(s, be_fence(b, 0));
		}
		*ns = bench_now() - t0;
		BENCH_CHK(s, be_fence(b, 1));
		break;
	case BSYNC_PSCW:
		for (i = 0; i < n; i++) {
			if (i == warm)
				t0 = bench_now();
			if (me == 0) {
				BENCH_CHK(s, be_start(b, 1));
				for (j = 0; j < w; j++)
					BENCH_CHK(s, bench_do_op(s, op, size,
								 1));
				BENCH_CHK(s, be_complete(b));
			} else {
				BENCH_CHK(s, be_post(b, 0));
				BENCH_CHK(s, be_wait(b));
			}
		}
		*ns = bench_now() - t0;
		break;
	}
	return;
fail:
	bench_fail(s, rc);
}

static unsigned char bench_pattern(size_t size, size_t i)
{
	return (unsigned char)((i * 131u + size * 7u + 1u) & 0xff);
}

/*
 * Before the timed loops: give rank 1's window a known state (rank 0, in a
 * passive epoch of its own). Atomics count from 0; get reads a pattern.
 */
static void bench_prepare(struct bench_state *s, int op, size_t size)
{
	struct be *b = s->b;
	int rc = 0;
	size_t i;

	for (i = 0; i < size; i++)
		s->src[i] = bench_pattern(size, i);
	s->one = 1;
	s->res = 0;
	s->cmp = -1;
	s->swp = 0;
	s->pp_bad = 0;
	memset(s->dst, 0, size);
	BENCH_CHK(s, be_barrier(b));
	if (be_rank(b) == 0 && s->o->verify) {
		memset(s->chk, 0, size < 8 ? 8 : size);
		BENCH_CHK(s, be_lock(b, 1));
		if (op == BOP_GET)
			BENCH_CHK(s, be_put(b, s->src, size, 1, 0));
		else if (op != BOP_PUT)
			BENCH_CHK(s, be_put(b, s->chk, 8, 1, 0));
		BENCH_CHK(s, be_unlock(b, 1));
	}
	BENCH_CHK(s, be_barrier(b));
	return;
fail:
	bench_fail(s, rc);
}

/* After the loops: 1 when rank 1's window (or the get buffer) is right. */
static int bench_check(struct bench_state *s, int op, size_t size,
		       long total_ops)
{
	struct be *b = s->b;
	int rc = 0, ok = 0;
	int64_t v;

	BENCH_CHK(s, be_barrier(b));
	if (be_rank(b) == 0 && s->o->verify) {
		BENCH_CHK(s, be_lock(b, 1));
		BENCH_CHK(s, be_get(b, s->chk, op <= BOP_GET ? size : 8, 1,
				    0));
		BENCH_CHK(s, be_unlock(b, 1));
		switch (op) {
		case BOP_PUT:
			ok = !memcmp(s->chk, s->src, size) && !s->pp_bad;
			break;
		case BOP_GET:
			ok = !memcmp(s->dst, s->src, size) &&
				!memcmp(s->chk, s->src, size);
			break;
		default:
			memcpy(&v, s->chk, sizeof(v));
			ok = v == total_ops;
			if (!ok)
				bench_out_note(s->o, "WARNING: %s: target "
					       "counter is %lld after %ld "
					       "operations",
					       bench_op_names[op],
					       (long long)v, total_ops);
			break;
		}
		ok = ok ? 1 : -1;
	}
	BENCH_CHK(s, be_barrier(b));
	return ok;
fail:
	bench_fail(s, rc);
	return -1;
}

static double bench_emit(struct bench_state *s, int kind, int op, int sync,
			 int flavor, size_t size, int si, long iters,
			 int verified)
{
	struct bench_result r;

	if (be_rank(s->b) != 0)
		return 0;
	if (verified < 0)
		s->bad = 1;
	memset(&r, 0, sizeof(r));
	r.kind = kind;
	r.op = op;
	r.sync = sync;
	r.flavor = flavor;
	r.transport = be_transport(s->b);
	r.size = size;
	r.iters = iters;
	r.reps = s->o->reps;
	r.verified = verified;
	if (s->nov > 0)
		bench_stats(s->ov, (int)s->nov, &r.median, &r.min, &r.max);
	else
		bench_stats(s->tv, s->o->reps, &r.median, &r.min, &r.max);
	s->nov = 0;
	if (op <= BOP_GET && si >= 0 && s->mc_us) {
		r.memcpy_us = s->mc_us[si];
		r.memcpy_mbps = s->mc_mbps[si];
	}
	bench_out_result(s->o, s->m, &r);
	return r.median;
}

static void bench_sweep_lat(struct bench_state *s, int op, int sync,
			    int flavor)
{
	const struct bench_opts *o = s->o;
	size_t size, lo = o->min_size, hi = o->max_size;
	int si, r;
	long iters, warm;
	uint64_t ns = 0;

	if (sync == BSYNC_PP && op != BOP_PUT)
		return;
	if (sync == BSYNC_PP && !be_local(s->b)) {
		if (be_rank(s->b) == 0)
			bench_out_note(o, "sync pingpong skipped (window %s): "
				       "its memory may not be read directly",
				       bench_flavor_names[flavor]);
		return;
	}
	if (op > BOP_GET)
		lo = hi = 8;
	for (size = lo, si = 0; size <= hi; size *= 2, si++) {
		if (sync == BSYNC_PP && size < 8)
			continue;
		iters = bench_lat_iters(o, size);
		warm = bench_lat_warmup(o, size);
		bench_prepare(s, op, size);
		for (r = 0; r < o->reps; r++) {
			if (be_barrier(s->b)) {
				s->what = "barrier";
				bench_fail(s, -1);
			}
			bench_lat_loop(s, op, sync, size, warm, iters, &ns);
			s->tv[r] = (double)ns / 1e3 / (double)iters;
		}
		bench_emit(s, BKIND_LAT, op, sync, flavor, size,
			   op <= BOP_GET ? si : -1, iters,
			   bench_check(s, op, size,
				       (long)o->reps * (warm + iters)));
	}
}

static void bench_sweep_bw(struct bench_state *s, int op, int sync,
			   int flavor)
{
	const struct bench_opts *o = s->o;
	size_t size;
	int si, r;
	long loops, warm;
	uint64_t ns = 0;
	double bw = 0;

	if (sync == BSYNC_PP)	/* latency only */
		return;
	for (size = o->min_size, si = 0; size <= o->max_size;
	     size *= 2, si++) {
		loops = bench_bw_loops(o, size);
		warm = bench_bw_warmup(o, size);
		bench_prepare(s, op, size);
		for (r = 0; r < o->reps; r++) {
			if (be_barrier(s->b)) {
				s->what = "barrier";
				bench_fail(s, -1);
			}
			bench_bw_loop(s, op, sync, size, warm, loops,
				      o->window, &ns);
			s->tv[r] = ns ? (double)size * o->window * loops /
				((double)ns / 1e3) : 0;
		}
		bw = bench_emit(s, BKIND_BW, op, sync, flavor, size, si,
				loops * o->window,
				bench_check(s, op, size, 0));
	}
	/* The headline ratio: put bandwidth over memcpy at the top size. */
	if (be_rank(s->b) == 0 && op == BOP_PUT && s->mc_mbps &&
	    s->nsizes > 0 && s->mc_mbps[s->nsizes - 1] > 0)
		bench_out_note(o, "put bandwidth at %zu B (sync %s, window "
			       "%s): %.2f MB/s = %.3f x single-core memcpy "
			       "(%.2f MB/s)", o->max_size,
			       bench_sync_names[sync],
			       bench_flavor_names[flavor], bw, bw /
			       s->mc_mbps[s->nsizes - 1],
			       s->mc_mbps[s->nsizes - 1]);
}

/* memcpy of every put/get size, on rank 0 alone, the others waiting. */
static void bench_memcpy_all(struct bench_state *s)
{
	const struct bench_opts *o = s->o;
	unsigned char *a, *c;
	size_t size;
	int si;

	s->mc_us = calloc((size_t)s->nsizes, sizeof(double));
	s->mc_mbps = calloc((size_t)s->nsizes, sizeof(double));
	if (!s->mc_us || !s->mc_mbps) {
		fprintf(stderr, "%s: out of memory\n", s->m->prog);
		be_fatal(s->b);
	}
	if (be_rank(s->b) == 0) {
		a = bench_alloc(o->max_size);
		c = bench_alloc(o->max_size);
		memset(a, 0x5a, o->max_size);
		for (size = o->min_size, si = 0; size <= o->max_size;
		     size *= 2, si++)
			bench_memcpy_ref(c, a, size, bench_bw_loops(o, size) *
					 o->window, o->reps, &s->mc_us[si],
					 &s->mc_mbps[si]);
		free(a);
		free(c);
	}
	if (be_barrier(s->b)) {
		s->what = "barrier";
		bench_fail(s, -1);
	}
}

/*
 * The whole run: for each window flavour, each sync mode, each operation,
 * latency then bandwidth over the sizes.  Returns 0, or 2 when a data
 * check failed.
 */
static int bench_run(struct be *b, const struct bench_opts *o,
		     const struct bench_meta *m)
{
	struct bench_state st, *s = &st;
	int flavor, sync, op, rc = 0;
	size_t size, bufsz;
	unsigned char *heap_src, *heap_dst;

	memset(s, 0, sizeof(*s));
	s->b = b;
	s->o = o;
	s->m = m;
	for (size = o->min_size; size <= o->max_size; size *= 2)
		s->nsizes++;
	bufsz = o->max_size < 4096 ? 4096 : o->max_size;
	/* -L: the target's part, then the origin's source and destination. */
	s->win_bytes = o->local_win ? 3 * bufsz : bufsz;
	heap_src = s->src = bench_alloc(bufsz);
	heap_dst = s->dst = bench_alloc(bufsz);
	s->chk = bench_alloc(bufsz);
	s->tv = calloc((size_t)o->reps, sizeof(double));
	if (o->per_op) {
		long most = o->iters > o->iters_large ? o->iters : o->iters_large;

		s->ovcap = most * o->reps;
		s->ov = calloc((size_t)s->ovcap, sizeof(double));
	}
	if (!s->tv || (o->per_op && !s->ov)) {
		fprintf(stderr, "%s: out of memory\n", m->prog);
		be_fatal(b);
	}

	if (be_rank(b) == 0)
		bench_out_begin(o, m);
	if (be_rank(b) == 0 && o->per_op)
		bench_out_note(o, "-P: latency with sync flush and pingpong is "
			       "the median (min, max) of single operations "
			       "over all repetitions");
	if (be_rank(b) == 0 && o->local_win)
		bench_out_note(o, "-L: put sources and get destinations in "
			       "the origin's own window memory");
	if (o->memcpy_ref && (o->ops & ((1u << BOP_PUT) | (1u << BOP_GET))))
		bench_memcpy_all(s);

	for (flavor = 0; flavor < BFLAV_COUNT; flavor++) {
		if (!(o->flavors & (1u << flavor)))
			continue;
		BENCH_CHK(s, be_win_open(b, flavor, s->win_bytes));
		if (o->local_win) {
			s->src = (unsigned char *)be_local(b) + bufsz;
			s->dst = (unsigned char *)be_local(b) + 2 * bufsz;
		}
		for (sync = 0; sync < BSYNC_COUNT; sync++) {
			if (!(o->syncs & (1u << sync)))
				continue;
			for (op = 0; op < BOP_COUNT; op++)
				if ((o->ops & (1u << op)) &&
				    (o->kinds & (1u << BKIND_LAT)))
					bench_sweep_lat(s, op, sync, flavor);
			for (op = BOP_PUT; op <= BOP_GET; op++)
				if ((o->ops & (1u << op)) &&
				    (o->kinds & (1u << BKIND_BW)))
					bench_sweep_bw(s, op, sync, flavor);
		}
		s->src = heap_src;
		s->dst = heap_dst;
		BENCH_CHK(s, be_win_close(b));
	}

	if (be_rank(b) == 0) {
		if (s->mc_mbps && s->nsizes > 0)
			bench_out_note(o, "single-core memcpy at %zu B: "
				       "%.3f us, %.2f MB/s", o->max_size,
				       s->mc_us[s->nsizes - 1],
				       s->mc_mbps[s->nsizes - 1]);
		bench_out_end(o, m);
	}
	free(s->src);
	free(s->dst);
	free(s->chk);
	free(s->tv);
	free(s->ov);
	free(s->mc_us);
	free(s->mc_mbps);
	return s->bad ? 2 : 0;
fail:
	bench_fail(s, rc);
	return 1;
}

#endif /* BENCH_LOOPS_H */
