/*
 * libwin_mpi over a real MPI (Open MPI or MPICH, whichever compiled it):
 *
 *   1. win_group_from_comm(MPI_COMM_WORLD): ranks and size equal the
 *      communicator's; put/get, locks and atomics (rma-checks.h) over
 *      allocated and created windows.
 *   2. the same over a split communicator (even and odd world ranks), whose
 *      group ranks are the new communicator's ranks.
 *   3. win_allocate_comm()/win_create_comm() over the split communicator:
 *      every member puts its world rank into its right neighbour's part,
 *      the values read back are checked, and win_free_comm() frees window
 *      and group. Meanwhile ordinary MPI traffic on the same communicator
 *      must be unaffected (the library works on its own duplicate).
 *   4. host identity: with WIN_HOSTNAME standing in for the host name,
 *      even and odd world ranks are on two "hosts". Over the world group
 *      a same-"host" peer must be served by shm or kshim and any other
 *      peer by neither (a network transport, or no window at all with
 *      WIN_ERR_TRANSPORT when none is built or allowed; when there is
 *      one, put/get/locks/atomics are checked across the two); over the split
 *      communicator (one "host") everything is checked again on shm/kshim.
 *   5. bad arguments: MPI_COMM_NULL gives WIN_ERR_ARG.
 *
 * Each rank prints "test-comm-rma: rank R of N: ok", or each failure and
 * exits 1.
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <win_mpi.h>

#include "../launch/rma-checks.h"

static void comm_windows(win_ctx_t *ctx, MPI_Comm comm)
{
	int me, n, right, left;
	int64_t *mine = NULL, *own, v, got;
	win_t *w = NULL;
	int token = -1;

	MPI_Comm_rank(comm, &me);
	MPI_Comm_size(comm, &n);
	right = (me + 1) % n;
	left = (me + n - 1) % n;

	RC_OK(win_allocate_comm(ctx, comm, 4 * sizeof(int64_t),
				sizeof(int64_t), NULL, (void **)&mine, &w));
	if (!w)
		return;
	RC_CHECK(win_comm_group(w) != NULL &&
		 win_group_rank(win_comm_group(w)) == me &&
		 win_group_size(win_comm_group(w)) == n,
		 "win_comm_group: wrong group for the allocated window");
	/* Application traffic on comm, between the library's collectives. */
	if (n > 1) {
		MPI_Sendrecv(&me, 1, MPI_INT, right, 7, &token, 1, MPI_INT,
			     left, 7, comm, MPI_STATUS_IGNORE);
		RC_CHECK(token == left, "sendrecv on the communicator: %d, "
			 "want %d", token, left);
	}
	v = 5000 + me;
	RC_OK(win_fence(w, 0));
	RC_OK(win_put(w, &v, sizeof(v), right, 1));
	RC_OK(win_fence(w, WIN_MODE_NOSUCCEED));
	RC_CHECK(mine[1] == 5000 + left, "allocate_comm: got %lld, want %d",
		 (long long)mine[1], 5000 + left);
	RC_OK(win_free_comm(w));

	own = calloc(4, sizeof(int64_t));
	if (!own)
		return;
	w = NULL;
	RC_OK(win_create_comm(ctx, comm, own, 4 * sizeof(int64_t),
			      sizeof(int64_t), NULL, &w));
	if (w) {
		v = 7000 + me;
		RC_OK(win_lock(w, WIN_LOCK_EXCLUSIVE, right, 0));
		RC_OK(win_put(w, &v, sizeof(v), right, 2));
		RC_OK(win_get(w, &got, sizeof(got), right, 2));
		RC_OK(win_unlock(w, right));
		RC_CHECK(got == v, "create_comm: read back %lld, want %lld",
			 (long long)got, (long long)v);
		MPI_Barrier(comm);
		RC_CHECK(own[2] == 7000 + left, "create_comm: got %lld, want "
			 "%d", (long long)own[2], 7000 + left);
		RC_OK(win_free_comm(w));
	}
	free(own);
}

static void two_hosts(win_ctx_t *ctx, MPI_Comm half, int wrank, int wsize)
{
	char host[32];
	win_group_t *g = NULL;
	win_t *w = NULL;
	void *base;
	int rc, rcs;

	snprintf(host, sizeof(host), "libwin-test-host-%d", wrank % 2);
	setenv("WIN_HOSTNAME", host, 1);
	RC_OK(win_group_from_comm(ctx, MPI_COMM_WORLD, &g));
	if (g) {
		rc = win_allocate(g, 64, 1, NULL, &base, &w);
		RC_CHECK(rc == WIN_OK || (rc == WIN_ERR_TRANSPORT &&
					 wsize > 1),
			 "two hosts: win_allocate: %s (%s)", win_strerror(rc),
			 win_last_error());
		for (int r = 0; r < wsize && rc == WIN_OK; r++) {
			const char *tn = win_transport_name(w, r);
			int local = tn && (!strcmp(tn, "shm") ||
					   !strcmp(tn, "kshim"));

			RC_CHECK(local == (r % 2 == wrank % 2), "two hosts: "
				 "rank %d (%s host) served by '%s'", r,
				 r % 2 == wrank % 2 ? "same" : "other",
				 tn ? tn : "(null)");
		}
		if (wrank == 0 && wsize > 1)
			printf("%s: two hosts: other-host peer %s\n", rc_tag,
			       rc == WIN_OK ? win_transport_name(w, 1) :
			       "unreachable (WIN_ERR_TRANSPORT)");
		if (rc == WIN_OK)
			RC_OK(win_free(w));
		/* Everybody must have come to the same outcome. */
		MPI_Allreduce(&rc, &rcs, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
		RC_CHECK(rcs == rc, "two hosts: ranks disagree (%d, %d)", rc,
			 rcs);
		/* A network transport carries the other "host": the whole
		 * set of checks across both. */
		if (rc == WIN_OK && rcs == WIN_OK)
			rma_checks(g, rc_tag, 0);
		RC_OK(win_group_leave(g));
	}
	/* The split communicator holds one parity: one "host". */
	g = NULL;
	RC_OK(win_group_from_comm(ctx, half, &g));
	if (g) {
		rma_checks(g, rc_tag, 1);
		RC_OK(win_group_leave(g));
	}
	unsetenv("WIN_HOSTNAME");
}

int main(int argc, char **argv)
{
	win_ctx_t *ctx;
	win_group_t *g = NULL;
	MPI_Comm half;
	int wrank, wsize, hrank, hsize, rc;
	char tag[96];

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &wrank);
	MPI_Comm_size(MPI_COMM_WORLD, &wsize);
	snprintf(tag, sizeof(tag), "test-comm-rma: rank %d of %d", wrank,
		 wsize);
	rc_tag = tag;
	if ((rc = win_init(NULL, &ctx))) {
		fprintf(stderr, "%s: win_init: %s\n", tag, win_last_error());
		MPI_Abort(MPI_COMM_WORLD, 1);
	}

	/* 1. MPI_COMM_WORLD. */
	RC_OK(win_group_from_comm(ctx, MPI_COMM_WORLD, &g));
	if (g) {
		RC_CHECK(win_group_rank(g) == wrank && win_group_size(g) ==
			 wsize, "world group: rank %d size %d",
			 win_group_rank(g), win_group_size(g));
		rma_checks(g, tag, 1);
		RC_OK(win_group_leave(g));
	}

	/* 2. A split communicator: reversed order inside each half, so
	 * that group ranks must follow the new communicator, not the world. */
	MPI_Comm_split(MPI_COMM_WORLD, wrank % 2, wsize - wrank, &half);
	MPI_Comm_rank(half, &hrank);
	MPI_Comm_size(half, &hsize);
	g = NULL;
	RC_OK(win_group_from_comm(ctx, half, &g));
	if (g) {
		RC_CHECK(win_group_rank(g) == hrank && win_group_size(g) ==
			 hsize, "split group: rank %d size %d, want %d of %d",
			 win_group_rank(g), win_group_size(g), hrank, hsize);
		rma_checks(g, tag, 1);
		RC_OK(win_group_leave(g));
	}

	/* 3. Windows made over the communicator in one call. */
	comm_windows(ctx, half);

	/* 4. Two "hosts". */
	two_hosts(ctx, half, wrank, wsize);

	/* 5. Refusals. */
	g = NULL;
	rc = win_group_from_comm(ctx, MPI_COMM_NULL, &g);
	RC_CHECK(rc == WIN_ERR_ARG && g == NULL, "MPI_COMM_NULL: %s",
		 win_strerror(rc));

	MPI_Comm_free(&half);
	RC_OK(win_finalize(ctx));
	rc = rc_fail;
	MPI_Allreduce(MPI_IN_PLACE, &rc, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
	MPI_Finalize();
	if (rc_fail) {
		fprintf(stderr, "%s: %d failures\n", tag, rc_fail);
		return 1;
	}
	printf("%s: ok%s\n", tag, rc ? " (other ranks failed)" : "");
	return rc ? 1 : 0;
}
