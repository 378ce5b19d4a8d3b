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
 * With LAUNCH_RMA_HOSTS=2 the ranks pretend to be on two hosts (WIN_HOSTNAME
 * by rank parity): peers of the same parity must be served by shm/kshim,
 * the others by neither; then, if a network transport carries them, every
 * check runs across the two "hosts", else the window must be refused with
 * WIN_ERR_TRANSPORT on every rank.
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

static int two_hosts(win_group_t *g)
{
	int me = win_group_rank(g), n = win_group_size(g);
	win_t *w = NULL;
	void *base;
	int rc;

	rc = win_allocate(g, 64, 1, NULL, &base, &w);
	if (rc == WIN_ERR_TRANSPORT) {
		if (me == 0)
			printf("%s: other-host peers unreachable "
			       "(WIN_ERR_TRANSPORT: %s)\n", rc_tag,
			       win_last_error());
		return rc_fail;
	}
	RC_CHECK(rc == WIN_OK, "two hosts: win_allocate: %s (%s)",
		 win_strerror(rc), win_last_error());
	if (rc)
		return rc_fail;
	for (int r = 0; r < n; r++) {
		const char *tn = win_transport_name(w, r);
		int local = tn && (!strcmp(tn, "shm") || !strcmp(tn, "kshim"));

		RC_CHECK(local == (r % 2 == me % 2), "two hosts: rank %d (%s "
			 "host) served by '%s'", r, r % 2 == me % 2 ? "same" :
			 "other", tn ? tn : "(null)");
	}
	if (me == 0 && n > 1)
		printf("%s: other-host peer served by %s\n", rc_tag,
		       win_transport_name(w, 1));
	RC_OK(win_free(w));
	return rma_checks(g, rc_tag, 0);
}

int main(void)
{
	win_ctx_t *ctx;
	win_group_t *g = NULL;
	const char *env;
	char tag[64];
	int rc, me, n, fails, hosts;

	if ((rc = win_init(NULL, &ctx))) {
		fprintf(stderr, "launch-rma: win_init: %s\n",
			win_last_error());
		return 1;
	}
	hosts = getenv("LAUNCH_RMA_HOSTS") && *getenv("LAUNCH_RMA_HOSTS");
	if (hosts && getenv("PMIX_RANK")) {
		snprintf(tag, sizeof(tag), "libwin-test-host-%d",
			 atoi(getenv("PMIX_RANK")) % 2);
		setenv("WIN_HOSTNAME", tag, 1);
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
	if (hosts)
		fails = rc_fail ? rc_fail : two_hosts(g);
	else
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
