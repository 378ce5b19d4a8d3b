/*
 * A plain libwin program (no MPI) started by a PMIx launcher:
 *
 *     mpirun -np N launch/launch-rma
 *
 * forms its group with win_group_from_launcher() and checks rank and size
 * against the launcher's environment, then put/get, locks and atomics
 * between the ranks (rma-checks.h). Prints "launch-rma: rank R of N: ok"
 * per rank and exits 0, or exits 1 after printing each failure.
 *
 * Started without a launcher it checks that win_group_from_launcher()
 * refuses with WIN_ERR_UNSUPPORTED and prints the reason on stdout (the
 * test script uses that to tell "no PMIx in this build" apart); exit 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <win.h>

#include "rma-checks.h"

int main(void)
{
	win_ctx_t *ctx;
	win_group_t *g = NULL;
	const char *env;
	char tag[64];
	int rc, me, n, fails;

	if ((rc = win_init(NULL, &ctx))) {
		fprintf(stderr, "launch-rma: win_init: %s\n",
			win_last_error());
		return 1;
	}
	rc = win_group_from_launcher(ctx, &g);
	if (!getenv("PMIX_RANK") || !getenv("PMIX_NAMESPACE")) {
		if (rc != WIN_ERR_UNSUPPORTED || g) {
			fprintf(stderr, "launch-rma: outside a launch: got %s, "
				"want WIN_ERR_UNSUPPORTED\n", win_strerror(rc));
			return 1;
		}
		printf("unsupported: %s\n", win_last_error());
		win_finalize(ctx);
		return 0;
	}
	if (rc) {
		fprintf(stderr, "launch-rma: win_group_from_launcher: %s: %s\n",
			win_strerror(rc), win_last_error());
		return 1;
	}
	me = win_group_rank(g);
	n = win_group_size(g);
	snprintf(tag, sizeof(tag), "launch-rma: rank %d of %d", me, n);
	rc_tag = tag;
	RC_CHECK(me == atoi(getenv("PMIX_RANK")), "rank %d, PMIX_RANK %s", me,
		 getenv("PMIX_RANK"));
	if ((env = getenv("OMPI_COMM_WORLD_SIZE")))
		RC_CHECK(n == atoi(env), "size %d, OMPI_COMM_WORLD_SIZE %s", n,
			 env);
	if ((env = getenv("LAUNCH_RMA_SIZE")))
		RC_CHECK(n == atoi(env), "size %d, want %s", n, env);
	fails = rc_fail ? rc_fail : rma_checks(g, tag, 1);
	RC_OK(win_group_leave(g));
	RC_OK(win_finalize(ctx));
	if (rc_fail || fails) {
		fprintf(stderr, "%s: %d failures\n", tag, rc_fail);
		return 1;
	}
	printf("%s: ok\n", tag);
	return 0;
}
