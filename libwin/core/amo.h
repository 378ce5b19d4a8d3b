/* Element arithmetic for atomics, shared by the transports. */
#ifndef LIBWIN_AMO_H
#define LIBWIN_AMO_H

#include "core/internal.h"

/* True if `op` is defined on `type` (bitwise ops: integers only). */
static inline bool win_amo_valid(int type, int op)
{
	bool fp = type == WIN_FLOAT || type == WIN_DOUBLE;

	if (op == WIN_AMO_CSWAP)
		return true;
	if (op < WIN_OP_SUM || op > WIN_OP_NO_OP)
		return false;
	return !(fp && (op == WIN_OP_BAND || op == WIN_OP_BOR ||
			op == WIN_OP_BXOR));
}

/*
 * Perform `a` on memory this process maps at `target` (a->off already
 * applied), element by element with CPU atomics. Atomic with respect to the
 * same call from any process mapping the same memory.
 */
void win_amo_cpu(void *target, const struct win_amo *a);

/*
 * Compute element `i` of `a` given the target's old value: writes the new
 * value to `out` and returns true if the target must be written.
 */
bool win_amo_compute(const struct win_amo *a, size_t i, const void *old,
		     void *out);

#endif
