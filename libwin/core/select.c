/*
 * The one place that decides which transport carries traffic to each peer:
 * the first transport in the context's preference order that reaches it.
 * With every transport allowed, the registry's order gives: same host →
 * kshim (module loaded) or shm; other host → verbs (RDMA device) or ofi.
 */
#include "core/internal.h"

int win_select_transports(struct win *w)
{
	struct win_ctx *ctx = w->ctx;

	for (int r = 0; r < w->size; r++) {
		w->peers[r].tp = NULL;
		for (int i = 0; i < ctx->ntp; i++) {
			if (ctx->tp[i]->reaches(ctx->tp_state[i], w->group, r)) {
				w->peers[r].tp = ctx->tp[i];
				break;
			}
		}
		if (!w->peers[r].tp)
			return win_seterr(WIN_ERR_TRANSPORT,
					  "no allowed transport reaches rank "
					  "%d", r);
	}
	return WIN_OK;
}
