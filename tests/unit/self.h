/*
 * A context and a group of one member, for single-process tests.
 */
#ifndef LIBWIN_TESTS_SELF_H
#define LIBWIN_TESTS_SELF_H

#include "common.h"

struct self {
	win_ctx_t *ctx;
	win_group_t *group;
	void *mem[16];  /* memory of created windows, freed at teardown */
	int nmem;
};

/* win_init (with the given timeout, 0 for the default) and join. */
void self_setup(struct self *s, int timeout_ms);
/* Leave and finalize (those not NULL), then free the created memory. */
void self_teardown(struct self *s);

/*
 * Open a window of `flavor` over `size` bytes (zeroed). For the create
 * flavour the memory comes from the heap. A refusal by the kernel fails
 * the test with the library's message.
 */
win_t *self_win(struct self *s, int flavor, size_t size, int disp_unit,
		unsigned flags, void **base);

/* The flavour a loop test's iteration stands for. */
static inline int loop_flavor(int i)
{
	return (i & 1) ? WIN_FLAVOR_ALLOCATE : WIN_FLAVOR_CREATE;
}

#endif /* LIBWIN_TESTS_SELF_H */
