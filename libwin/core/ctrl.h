/*
 * A member's control block: the words peers update to synchronize with it.
 * It lives in the member's own memory (a shared segment), so passive-target
 * locking and active-target notification need nothing from the member's
 * CPU. Layout (64-bit words): the fixed words of enum win_ctrl_word, then
 * post[size] (post[t]: posts received from target t) and complete[size]
 * (complete[o]: completes received from origin o).
 */
#ifndef LIBWIN_CTRL_H
#define LIBWIN_CTRL_H

#include "core/internal.h"

/* Lock word: shared holders in the low bits, the exclusive bit at 31 (both
 * in the low 32 bits, which a futex can watch). */
#define WIN_LOCK_EXCL 0x80000000ull

static inline size_t win_ctrl_bytes(int size)
{
	return (WIN_CTRL_FIXED_WORDS + 2 * (size_t)size) * sizeof(uint64_t);
}

static inline unsigned win_ctrl_post(int from)
{
	return WIN_CTRL_FIXED_WORDS + (unsigned)from;
}

static inline unsigned win_ctrl_complete(struct win *w, int from)
{
	return WIN_CTRL_FIXED_WORDS + (unsigned)w->size + (unsigned)from;
}

#endif
