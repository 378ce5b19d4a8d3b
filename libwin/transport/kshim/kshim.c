/* The kshim transport (not implemented yet: open() declines). */
#include "core/internal.h"

static int kshim_open(struct win_ctx *ctx, void **state)
{
	(void)ctx;
	*state = NULL;
	return win_seterr(WIN_ERR_UNSUPPORTED, "the kshim transport is not "
			  "implemented yet");
}

const struct win_transport win_kshim_transport = {
	.name = "kshim",
	.open = kshim_open,
};
