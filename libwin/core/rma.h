/* Checks shared by every operation (inline: they sit on the hot path). */
#ifndef LIBWIN_RMA_H
#define LIBWIN_RMA_H

#include "core/internal.h"

/* Handle, rank and epoch: may `w` issue an operation to `rank` now? */
static inline int win_access_check(struct win *w, int rank)
{
	if (unlikely(!w || w->magic != WIN_MAGIC_WIN))
		return win_seterr(WIN_ERR_HANDLE, "invalid or freed window");
	if (unlikely((unsigned)rank >= (unsigned)w->size))
		return win_seterr(WIN_ERR_RANK, "rank %d outside 0..%d", rank,
				  w->size - 1);
	if (unlikely(!w->access[rank]))
		return win_seterr(WIN_ERR_SYNC, "no access epoch to rank %d is "
				  "open (fence, start or lock first)", rank);
	return WIN_OK;
}

/* Bounds: `len` bytes at `disp` (target units); *off is the byte offset. */
static inline int win_bounds_check(struct win *w, int rank, size_t disp,
				   size_t len, size_t *off)
{
	const struct win_peer *p = &w->peers[rank];
	size_t o;

	if (unlikely(__builtin_mul_overflow(disp, (size_t)p->disp_unit, &o) ||
		     o > p->size))
		return win_seterr(WIN_ERR_DISP, "displacement %zu (unit %d) is "
				  "outside rank %d's %zu bytes", disp,
				  p->disp_unit, rank, p->size);
	if (unlikely(len > p->size - o))
		return win_seterr(WIN_ERR_LENGTH, "%zu bytes at offset %zu run "
				  "past rank %d's %zu bytes", len, o, rank,
				  p->size);
	w->fence_used = true;
	*off = o;
	return WIN_OK;
}

static inline int win_target_check(struct win *w, int rank, size_t disp,
				   size_t len, size_t *off)
{
	int rc = win_access_check(w, rank);

	return rc ? rc : win_bounds_check(w, rank, disp, len, off);
}

#endif
