/*
 * The one place that decides which transport carries traffic to each peer:
 * the first transport in the context's preference order that reaches it.
 * With every transport allowed, the registry's order gives: same host →
 * kshim (module loaded) or shm; other host → verbs (RDMA device) or ofi.
 * It also picks, per peer, the transport for atomics and control words.
 */
#include "core/internal.h"

/* Does the group span more than one host? Every member sees the same. */
static bool spans_hosts(struct win_group *g)
{
	for (int r = 0; r < g->size; r++)
		if (!win_group_same_host(g, r))
			return true;
	return false;
}

int win_select_transports(struct win *w)
{
	struct win_ctx *ctx = w->ctx;
	bool network_atomics = spans_hosts(w->group);

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
		/*
		 * Atomics on a target must all be done by one agent: when
		 * some members reach it through a network transport, all
		 * do (the first such transport that reaches it).
		 */
		w->peers[r].atp = w->peers[r].tp;
		for (int i = 0; network_atomics && i < ctx->ntp; i++) {
			if (!ctx->tp[i]->cpu_atomics &&
			    ctx->tp[i]->reaches(ctx->tp_state[i], w->group, r)) {
				w->peers[r].atp = ctx->tp[i];
				break;
			}
		}
		if (network_atomics && w->peers[r].atp->cpu_atomics)
			return win_seterr(WIN_ERR_TRANSPORT,
					  "no network transport reaches rank "
					  "%d for the atomics of a window "
					  "that spans hosts", r);
	}
	return WIN_OK;
}
