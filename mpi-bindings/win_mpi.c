/*
 * libwin_mpi: the MPI bootstrap for libwin groups (see include/win_mpi.h).
 *
 * Built once per MPI implementation (libwin_mpi with Open MPI's mpicc,
 * libwin_mpi_mpich with mpicc.mpich); it uses only standard MPI calls. The
 * group's collectives run on a private duplicate of the communicator.
 */
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "win_mpi.h"
#include "core/boot.h"

struct mpi_boot {
	MPI_Comm comm; /* our duplicate */
	int size;
};

/* Record an MPI failure as libwin's last error. */
static int mpi_fail(int err, const char *what)
{
	char msg[MPI_MAX_ERROR_STRING + 128], estr[MPI_MAX_ERROR_STRING];
	int len = 0;

	if (MPI_Error_string(err, estr, &len) != MPI_SUCCESS)
		snprintf(estr, sizeof(estr), "MPI error %d", err);
	snprintf(msg, sizeof(msg), "MPI bootstrap: %s: %s", what, estr);
	return win_boot_seterr(WIN_ERR_SYS, msg);
}

/*
 * Wait for a non-blocking collective, yielding the CPU: with more ranks
 * than cores, an MPI that spins in a blocking collective (MPICH does)
 * starves the peers, and whatever progress their transports need.
 */
static int mb_wait(MPI_Request *req, const char *what)
{
	int done = 0, err;

	for (unsigned long spins = 0;; spins++) {
		err = MPI_Test(req, &done, MPI_STATUS_IGNORE);
		if (err != MPI_SUCCESS)
			return mpi_fail(err, what);
		if (done)
			return WIN_OK;
		if (spins < 100)
			continue;
		if (spins < 10000)
			sched_yield();
		else
			usleep(50);
	}
}

static int mb_barrier(void *state)
{
	struct mpi_boot *mb = state;
	MPI_Request req;
	int err = MPI_Ibarrier(mb->comm, &req);

	if (err != MPI_SUCCESS)
		return mpi_fail(err, "MPI_Ibarrier");
	return mb_wait(&req, "MPI_Ibarrier");
}

static int mb_allgather(void *state, const void *in, void *out, size_t len)
{
	struct mpi_boot *mb = state;
	int err;

	/* MPI counts are ints: larger contributions go in pieces. */
	for (size_t done = 0; done < len;) {
		size_t n = len - done;
		char *tmp;

		if (n > (1u << 30))
			n = 1u << 30;
		if (n == len) {
			MPI_Request req;

			err = MPI_Iallgather(in, (int)n, MPI_BYTE, out, (int)n,
					     MPI_BYTE, mb->comm, &req);
			if (err != MPI_SUCCESS)
				return mpi_fail(err, "MPI_Iallgather");
			return mb_wait(&req, "MPI_Iallgather");
		}
		tmp = malloc(n * (size_t)mb->size);
		if (!tmp)
			return win_boot_seterr(WIN_ERR_NOMEM, "MPI bootstrap: "
					       "allgather buffer");
		err = MPI_Allgather((const char *)in + done, (int)n, MPI_BYTE,
				    tmp, (int)n, MPI_BYTE, mb->comm);
		if (err != MPI_SUCCESS) {
			free(tmp);
			return mpi_fail(err, "MPI_Allgather");
		}
		for (int r = 0; r < mb->size; r++)
			memcpy((char *)out + (size_t)r * len + done,
			       tmp + (size_t)r * n, n);
		free(tmp);
		done += n;
	}
	return WIN_OK;
}

static void mb_leave(void *state)
{
	struct mpi_boot *mb = state;
	int fin = 1;

	/* Collective, and only while MPI still runs: after MPI_Finalize the
	 * duplicate is gone with everything else. */
	if (MPI_Finalized(&fin) == MPI_SUCCESS && !fin) {
		MPI_Barrier(mb->comm);
		MPI_Comm_free(&mb->comm);
	}
	free(mb);
}

static const struct win_boot_ops mpi_boot_ops = {
	.name = "mpi",
	.barrier = mb_barrier,
	.allgather = mb_allgather,
	.leave = mb_leave,
};

int win_group_from_comm(win_ctx_t *ctx, MPI_Comm comm, win_group_t **gp)
{
	struct mpi_boot *mb;
	char host[MPI_MAX_PROCESSOR_NAME + 1];
	int init = 0, fin = 0, inter = 0, rank, size, len = 0, err;

	if (gp)
		*gp = NULL;
	if (!gp)
		return win_boot_seterr(WIN_ERR_ARG, "win_group_from_comm: NULL "
				       "group pointer");
	if (MPI_Initialized(&init) != MPI_SUCCESS || !init ||
	    MPI_Finalized(&fin) != MPI_SUCCESS || fin)
		return win_boot_seterr(WIN_ERR_SYS, "win_group_from_comm: MPI "
				       "is not initialised (or already "
				       "finalized)");
	if (comm == MPI_COMM_NULL)
		return win_boot_seterr(WIN_ERR_ARG, "win_group_from_comm: "
				       "MPI_COMM_NULL");
	if ((err = MPI_Comm_test_inter(comm, &inter)) != MPI_SUCCESS)
		return mpi_fail(err, "MPI_Comm_test_inter");
	if (inter)
		return win_boot_seterr(WIN_ERR_ARG, "win_group_from_comm: an "
				       "intercommunicator has no single group");
	mb = calloc(1, sizeof(*mb));
	if (!mb)
		return win_boot_seterr(WIN_ERR_NOMEM, "win_group_from_comm");
	/* Collective over comm: every member makes its duplicate, even one
	 * whose libwin context is bad, so that nobody is left waiting. */
	if ((err = MPI_Comm_dup(comm, &mb->comm)) != MPI_SUCCESS) {
		free(mb);
		return mpi_fail(err, "MPI_Comm_dup");
	}
	MPI_Comm_set_errhandler(mb->comm, MPI_ERRORS_RETURN);
	MPI_Comm_rank(mb->comm, &rank);
	MPI_Comm_size(mb->comm, &size);
	mb->size = size;
	if (MPI_Get_processor_name(host, &len) != MPI_SUCCESS)
		len = 0;
	host[len] = '\0';
	/* The boot id goes with the name: two containers or VMs may share a
	 * host name, never a running kernel. WIN_HOSTNAME (testing) wins. */
	return win_boot_group_create(ctx, rank, size, &mpi_boot_ops, mb,
				     win_boot_host_id(getenv("WIN_HOSTNAME") ||
						      !len ? NULL : host),
				     gp);
}

/* ---- windows over a communicator ---- */

/* Windows made here, with the group each owns. */
struct comm_win {
	win_t *win;
	win_group_t *group;
	struct comm_win *next;
};
static struct comm_win *comm_wins;

static int remember(win_t *win, win_group_t *g)
{
	struct comm_win *cw = malloc(sizeof(*cw));

	if (!cw)
		return WIN_ERR_NOMEM;
	cw->win = win;
	cw->group = g;
	cw->next = comm_wins;
	comm_wins = cw;
	return WIN_OK;
}

win_group_t *win_comm_group(win_t *win)
{
	for (struct comm_win *cw = comm_wins; cw; cw = cw->next)
		if (cw->win == win)
			return cw->group;
	return NULL;
}

static int finish(win_group_t *g, int rc, win_t **win)
{
	if (rc == WIN_OK && remember(*win, g) != WIN_OK) {
		/* Collective either way: free the window with the others. */
		win_free(*win);
		*win = NULL;
		rc = win_boot_seterr(WIN_ERR_NOMEM, "window over a "
				     "communicator");
	}
	if (rc != WIN_OK) {
		char msg[1024];

		/* Leaving talks to the peers: keep the first failure. */
		snprintf(msg, sizeof(msg), "%s", win_last_error());
		win_group_leave(g);
		win_boot_seterr(rc, msg);
	}
	return rc;
}

int win_create_comm(win_ctx_t *ctx, MPI_Comm comm, void *base, size_t size,
		    int disp_unit, const win_opts_t *opts, win_t **win)
{
	win_group_t *g;
	int rc;

	if (!win)
		return win_boot_seterr(WIN_ERR_ARG, "win_create_comm: NULL "
				       "window pointer");
	*win = NULL;
	if ((rc = win_group_from_comm(ctx, comm, &g)))
		return rc;
	rc = win_create(g, base, size, disp_unit, opts, win);
	return finish(g, rc, win);
}

int win_allocate_comm(win_ctx_t *ctx, MPI_Comm comm, size_t size,
		      int disp_unit, const win_opts_t *opts, void **base,
		      win_t **win)
{
	win_group_t *g;
	int rc;

	if (!win)
		return win_boot_seterr(WIN_ERR_ARG, "win_allocate_comm: NULL "
				       "window pointer");
	*win = NULL;
	if ((rc = win_group_from_comm(ctx, comm, &g)))
		return rc;
	rc = win_allocate(g, size, disp_unit, opts, base, win);
	return finish(g, rc, win);
}

int win_free_comm(win_t *win)
{
	struct comm_win **pp, *cw = NULL;
	int rc;

	for (pp = &comm_wins; *pp; pp = &(*pp)->next) {
		if ((*pp)->win == win) {
			cw = *pp;
			break;
		}
	}
	if (!cw)
		return win_free(win);
	rc = win_free(win);
	if (rc == WIN_ERR_SYNC)
		return rc; /* an epoch is still open: the window stays */
	*pp = cw->next;
	/* The window is gone (or unusable) either way; the group goes. */
	win_group_leave(cw->group);
	free(cw);
	return rc;
}
