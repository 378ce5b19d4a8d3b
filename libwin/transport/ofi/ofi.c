/* The ofi transport (not implemented yet: open() declines). */
#include "core/internal.h"

static int ofi_open(struct win_ctx *ctx, void **state)
{
	(void)ctx;
	*state = NULL;
	return win_seterr(WIN_ERR_UNSUPPORTED, "the ofi transport is not "
			  "implemented yet");
}

const struct win_transport win_ofi_transport = {
	.name = "ofi",
	.open = ofi_open,
};
