/* Put and get: argument and epoch checks, then the peer's transport. */
#include <stdlib.h>
#include <string.h>

#include "core/rma.h"

/*
 * Put (`put`) or get of `len` bytes, blocking (`req` NULL) or with a
 * request. A part this process maps is a plain copy away; anything else
 * goes to the peer's transport.
 */
static inline int transfer(struct win *w, bool put, void *buf, size_t len,
			   int rank, size_t disp, win_req_t **req)
{
	const struct win_peer *p;
	struct win_req *r = NULL;
	size_t off = 0;
	int rc = win_target_check(w, rank, disp, len, &off);

	if (unlikely(rc))
		return rc;
	if (unlikely(!buf && len))
		return win_seterr(WIN_ERR_ARG, "NULL origin buffer");
	p = &w->peers[rank];
	if (req) {
		*req = NULL;
		if (!(r = win_req_alloc(w->ctx)))
			return WIN_ERR_NOMEM;
		r->tp = p->tp;
		r->tw = p->tw;
	}
	if (likely(p->map != NULL)) {
		if (put && len)
			memmove(p->map + off, buf, len);
		else if (len)
			memmove(buf, p->map + off, len);
	} else {
		rc = put ? p->tp->put(p->tw, rank, buf, len, off, r) :
			   p->tp->get(p->tw, rank, buf, len, off, r);
	}
	if (r) {
		if (rc)
			win_req_release(w->ctx, r);
		else
			*req = r;
	}
	return rc;
}

int win_put(win_t *w, const void *src, size_t len, int rank, size_t disp)
{
	return transfer(w, true, (void *)src, len, rank, disp, NULL);
}

int win_get(win_t *w, void *dst, size_t len, int rank, size_t disp)
{
	return transfer(w, false, dst, len, rank, disp, NULL);
}

int win_iput(win_t *w, const void *src, size_t len, int rank, size_t disp,
	     win_req_t **req)
{
	if (!req)
		return win_seterr(WIN_ERR_ARG, "request pointer is NULL");
	return transfer(w, true, (void *)src, len, rank, disp, req);
}

int win_iget(win_t *w, void *dst, size_t len, int rank, size_t disp,
	     win_req_t **req)
{
	if (!req)
		return win_seterr(WIN_ERR_ARG, "request pointer is NULL");
	return transfer(w, false, dst, len, rank, disp, req);
}

/* ---- vector transfers ---- */

static int check_vector(struct win *w, const struct iovec *iov, int iovcnt,
			int rank, const win_seg_t *segs, int nsegs,
			struct win_span *spans)
{
	size_t total_o = 0, total_t = 0;
	int rc;

	if ((rc = win_target_check(w, rank, 0, 0, &(size_t){ 0 })))
		return rc;
	if (iovcnt < 0 || nsegs < 0 || (iovcnt && !iov) || (nsegs && !segs))
		return win_seterr(WIN_ERR_ARG, "bad iovec or segment list");
	for (int i = 0; i < iovcnt; i++) {
		if (!iov[i].iov_base && iov[i].iov_len)
			return win_seterr(WIN_ERR_ARG, "NULL iovec entry %d",
					  i);
		total_o += iov[i].iov_len;
	}
	for (int i = 0; i < nsegs; i++) {
		if ((rc = win_target_check(w, rank, segs[i].disp, segs[i].len,
					   &spans[i].off)))
			return rc;
		spans[i].len = segs[i].len;
		total_t += segs[i].len;
	}
	if (total_o != total_t)
		return win_seterr(WIN_ERR_LENGTH, "origin describes %zu bytes, "
				  "target %zu", total_o, total_t);
	return WIN_OK;
}

static int do_vector(win_t *w, const struct iovec *iov, int iovcnt, int rank,
		     const win_seg_t *segs, int nsegs, bool put)
{
	struct win_span stack[16];
	struct win_span *spans = stack;
	int rc;

	if (nsegs > 16) {
		spans = malloc(sizeof(*spans) * (size_t)nsegs);
		if (!spans)
			return win_seterr(WIN_ERR_NOMEM, "segment list");
	}
	rc = check_vector(w, iov, iovcnt, rank, segs, nsegs, spans);
	if (rc == WIN_OK) {
		const struct win_peer *p = &w->peers[rank];

		rc = put ? p->tp->putv(p->tw, rank, iov, iovcnt, spans, nsegs) :
			   p->tp->getv(p->tw, rank, iov, iovcnt, spans, nsegs);
	}
	if (spans != stack)
		free(spans);
	return rc;
}

int win_putv(win_t *w, const struct iovec *iov, int iovcnt, int rank,
	     const win_seg_t *segs, int nsegs)
{
	return do_vector(w, iov, iovcnt, rank, segs, nsegs, true);
}

int win_getv(win_t *w, const struct iovec *iov, int iovcnt, int rank,
	     const win_seg_t *segs, int nsegs)
{
	return do_vector(w, iov, iovcnt, rank, segs, nsegs, false);
}

/* ---- strided transfers, as batches of vector transfers ---- */

#define STRIDE_BATCH 64

static int do_strided(win_t *w, char *local, ptrdiff_t local_stride,
		      size_t blocklen, size_t count, int rank, size_t disp,
		      ptrdiff_t remote_stride, bool put)
{
	struct iovec iov[STRIDE_BATCH];
	struct win_span spans[STRIDE_BATCH];
	const struct win_peer *p;
	size_t base = 0, lo, hi, span;
	int rc;

	if ((rc = win_target_check(w, rank, disp, 0, &base)))
		return rc;
	if (count == 0 || blocklen == 0)
		return WIN_OK;
	if (!local)
		return win_seterr(WIN_ERR_ARG, "NULL origin buffer");
	/* The blocks span [lo, hi) relative to the target offset `base`. */
	if (__builtin_mul_overflow((size_t)(remote_stride < 0 ?
				   -remote_stride : remote_stride),
				   count - 1, &span))
		return win_seterr(WIN_ERR_LENGTH, "stride overflows");
	lo = remote_stride < 0 ? span : 0;
	if (lo > base)
		return win_seterr(WIN_ERR_DISP, "a negative stride reaches "
				  "before rank %d's window", rank);
	hi = (remote_stride < 0 ? 0 : span) + blocklen;
	p = &w->peers[rank];
	if (hi < blocklen || hi > p->size - base)
		return win_seterr(WIN_ERR_LENGTH, "strided blocks run past "
				  "rank %d's %zu bytes", rank, p->size);
	for (size_t done = 0; done < count;) {
		int n = count - done < STRIDE_BATCH ? (int)(count - done) :
						      STRIDE_BATCH;

		for (int i = 0; i < n; i++, done++) {
			iov[i].iov_base = local + (ptrdiff_t)done * local_stride;
			iov[i].iov_len = blocklen;
			spans[i].off = base + (size_t)((ptrdiff_t)done *
						       remote_stride);
			spans[i].len = blocklen;
		}
		rc = put ? p->tp->putv(p->tw, rank, iov, n, spans, n) :
			   p->tp->getv(p->tw, rank, iov, n, spans, n);
		if (rc)
			return rc;
	}
	return WIN_OK;
}

int win_put_strided(win_t *w, const void *src, ptrdiff_t src_stride,
		    size_t blocklen, size_t count, int rank, size_t disp,
		    ptrdiff_t dst_stride)
{
	return do_strided(w, (char *)src, src_stride, blocklen, count, rank,
			  disp, dst_stride, true);
}

int win_get_strided(win_t *w, void *dst, ptrdiff_t dst_stride,
		    size_t blocklen, size_t count, int rank, size_t disp,
		    ptrdiff_t src_stride)
{
	return do_strided(w, dst, dst_stride, blocklen, count, rank, disp,
			  src_stride, false);
}
