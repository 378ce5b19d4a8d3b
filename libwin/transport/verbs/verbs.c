/* The verbs transport (not implemented yet: open() declines). */
#include "core/internal.h"

static int verbs_open(struct win_ctx *ctx, void **state)
{
	(void)ctx;
	*state = NULL;
	return win_seterr(WIN_ERR_UNSUPPORTED, "the verbs transport is not "
			  "implemented yet");
}

const struct win_transport win_verbs_transport = {
	.name = "verbs",
	.open = verbs_open,
};
