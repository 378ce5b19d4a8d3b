/* Atomic operations and put-with-signal: checks, then the transport. */
#include "core/amo.h"
#include "core/ctrl.h"
#include "core/futex.h"
#include "core/rma.h"

size_t win_datatype_size(win_datatype_t type)
{
	return win_type_bytes(type);
}

static int amo_issue(struct win *w, int rank, size_t disp,
		     struct win_amo *a)
{
	size_t tsize = win_type_bytes(a->type);
	size_t bytes;
	int rc;

	if ((rc = win_access_check(w, rank)))
		return rc;
	if (!tsize)
		return win_seterr(WIN_ERR_DATATYPE, "unknown datatype %d",
				  a->type);
	if (!win_amo_valid(a->type, a->op))
		return win_seterr(WIN_ERR_OP, "operation %d is not defined on "
				  "datatype %d", a->op, a->type);
	if (__builtin_mul_overflow(a->count, tsize, &bytes))
		return win_seterr(WIN_ERR_LENGTH, "%zu elements overflow",
				  a->count);
	if ((rc = win_bounds_check(w, rank, disp, bytes, &a->off)))
		return rc;
	if (a->off & (tsize - 1))
		return win_seterr(WIN_ERR_DATATYPE, "target offset %zu is not "
				  "aligned to the %zu-byte element", a->off,
				  tsize);
	if (a->count == 0)
		return WIN_OK;
	if (likely(w->peers[rank].cpu_amo && w->peers[rank].map)) {
		win_amo_cpu(w->peers[rank].map + a->off, a);
		return WIN_OK;
	}
	return w->peers[rank].atp->amo(w->peers[rank].atw, rank, a);
}

int win_fetch_op(win_t *w, const void *operand, void *result,
		 win_datatype_t type, win_op_t op, int rank, size_t disp)
{
	struct win_amo a = { .type = type, .op = op, .count = 1,
			     .operand = operand, .result = result };

	if ((!operand && op != WIN_OP_NO_OP) || !result)
		return win_seterr(WIN_ERR_ARG, "win_fetch_op: NULL buffer");
	return amo_issue(w, rank, disp, &a);
}

int win_compare_swap(win_t *w, const void *compare, const void *swap,
		     void *result, win_datatype_t type, int rank, size_t disp)
{
	struct win_amo a = { .type = type, .op = WIN_AMO_CSWAP, .count = 1,
			     .operand = swap, .compare = compare,
			     .result = result };

	if (!compare || !swap || !result)
		return win_seterr(WIN_ERR_ARG, "win_compare_swap: NULL buffer");
	return amo_issue(w, rank, disp, &a);
}

int win_accumulate(win_t *w, const void *src, size_t count,
		   win_datatype_t type, win_op_t op, int rank, size_t disp)
{
	struct win_amo a = { .type = type, .op = op, .count = count,
			     .operand = src };

	if (!src && count && op != WIN_OP_NO_OP)
		return win_seterr(WIN_ERR_ARG, "win_accumulate: NULL buffer");
	return amo_issue(w, rank, disp, &a);
}

int win_get_accumulate(win_t *w, const void *src, void *result, size_t count,
		       win_datatype_t type, win_op_t op, int rank, size_t disp)
{
	struct win_amo a = { .type = type, .op = op, .count = count,
			     .operand = src, .result = result };

	if (count && ((!src && op != WIN_OP_NO_OP) || !result))
		return win_seterr(WIN_ERR_ARG, "win_get_accumulate: NULL "
				  "buffer");
	return amo_issue(w, rank, disp, &a);
}

/* ---- put with signal ---- */

static int signal_check(struct win *w, int rank, size_t sig_disp,
			size_t *sig_off)
{
	int rc = win_bounds_check(w, rank, sig_disp, 8, sig_off);

	if (rc == WIN_OK && *sig_off % 8)
		rc = win_seterr(WIN_ERR_DATATYPE, "signal word at offset %zu "
				"is not 8-byte aligned", *sig_off);
	return rc;
}

/*
 * The data, then the signal word. A transport may do both in one go
 * (ordered on its wire); otherwise the data is made remotely complete
 * before the signal's atomic update, so a reader that sees the signal
 * sees the data.
 */
static int put_then_signal(struct win *w, int rank, const void *src,
			   size_t len, size_t off, size_t sig_off,
			   uint64_t value, int sig_op)
{
	const struct win_peer *p = &w->peers[rank];
	const struct win_transport *tp = p->tp;
	void *tw = p->tw;
	struct win_amo sig = { .type = WIN_UINT64, .count = 1, .off = sig_off,
			       .operand = &value,
			       .op = sig_op == WIN_SIGNAL_ADD ? WIN_OP_SUM :
								WIN_OP_REPLACE };
	int rc;

	if (tp->put_signal && p->atp == tp)
		return tp->put_signal(tw, rank, src, len, off, sig_off, value,
				      sig_op);
	if ((rc = tp->put(tw, rank, src, len, off, NULL)) ||
	    (rc = tp->flush(tw, rank)))
		return rc;
	return p->atp->amo(p->atw, rank, &sig);
}

int win_put_signal(win_t *w, const void *src, size_t len, int rank,
		   size_t disp, size_t sig_disp, uint64_t value, int sig_op)
{
	size_t off = 0, sig_off = 0;
	int rc;

	if ((rc = win_access_check(w, rank)))
		return rc;
	if (sig_op != WIN_SIGNAL_SET && sig_op != WIN_SIGNAL_ADD)
		return win_seterr(WIN_ERR_OP, "signal operation %d (SET or "
				  "ADD)", sig_op);
	if ((rc = win_bounds_check(w, rank, disp, len, &off)) ||
	    (rc = signal_check(w, rank, sig_disp, &sig_off)))
		return rc;
	if (!src && len)
		return win_seterr(WIN_ERR_ARG, "NULL origin buffer");
	rc = put_then_signal(w, rank, src, len, off, sig_off, value, sig_op);
	if (rc)
		return rc;
	/* Wake the target if it sleeps in win_signal_wait_until(). */
	rc = w->peers[rank].atp->ctrl_fadd(w->peers[rank].atw, rank,
					   WIN_CTRL_DOORBELL, 1, NULL);
	return rc ? rc : w->peers[rank].atp->ctrl_wake(w->peers[rank].atw,
						       rank, WIN_CTRL_DOORBELL);
}

/* Read my own signal word through my own transport, atomically with
 * respect to the updates peers make through theirs. */
static int signal_load(struct win *w, size_t sig_off, uint64_t *v)
{
	struct win_amo a = { .type = WIN_UINT64, .op = WIN_OP_NO_OP,
			     .count = 1, .off = sig_off, .result = v };

	return w->peers[w->rank].atp->amo(w->peers[w->rank].atw, w->rank, &a);
}

static int own_signal_offset(struct win *w, size_t sig_disp, size_t *off)
{
	if (win_check(w))
		return WIN_ERR_HANDLE;
	if (__builtin_mul_overflow(sig_disp, (size_t)w->disp_unit, off) ||
	    *off > w->len)
		return win_seterr(WIN_ERR_DISP, "signal displacement %zu is "
				  "outside the window", sig_disp);
	if (w->len - *off < 8)
		return win_seterr(WIN_ERR_LENGTH, "signal word runs past the "
				  "window's end");
	if (*off % 8)
		return win_seterr(WIN_ERR_DATATYPE, "signal word at offset %zu "
				  "is not 8-byte aligned", *off);
	return WIN_OK;
}

int win_signal_read(win_t *w, size_t sig_disp, uint64_t *value)
{
	size_t off;
	int rc = own_signal_offset(w, sig_disp, &off);

	if (rc)
		return rc;
	if (!value)
		return win_seterr(WIN_ERR_ARG, "win_signal_read: NULL value");
	rc = signal_load(w, off, value);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return rc;
}

struct sig_wait {
	size_t off;
	int cmp;
	uint64_t value;
	uint64_t seen;
	int rc;
};

static bool signal_met(struct win *w, void *arg)
{
	struct sig_wait *s = arg;
	uint64_t v;

	if ((s->rc = signal_load(w, s->off, &v)))
		return true;
	s->seen = v;
	switch (s->cmp) {
	case WIN_CMP_EQ: return v == s->value;
	case WIN_CMP_NE: return v != s->value;
	case WIN_CMP_GT: return v > s->value;
	case WIN_CMP_GE: return v >= s->value;
	case WIN_CMP_LT: return v < s->value;
	default: return v <= s->value;
	}
}

int win_signal_wait_until(win_t *w, size_t sig_disp, int cmp, uint64_t value,
			  uint64_t *seen)
{
	struct sig_wait s = { .cmp = cmp, .value = value };
	int rc = own_signal_offset(w, sig_disp, &s.off);

	if (rc)
		return rc;
	if (cmp < WIN_CMP_EQ || cmp > WIN_CMP_LE)
		return win_seterr(WIN_ERR_ARG, "unknown comparison %d", cmp);
	rc = win_ctrl_wait_until(w, w->rank, WIN_CTRL_DOORBELL, -1,
				 signal_met, &s);
	if (rc == WIN_OK)
		rc = s.rc;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (rc == WIN_OK && seen)
		*seen = s.seen;
	return rc;
}
