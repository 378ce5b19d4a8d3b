/*
 * The PMIx bootstrap: a group made of the processes one PMIx launcher
 * started together (Open MPI's mpirun, prterun, a PMIx-enabled srun).
 *
 * Rank and size come from the job's namespace. The allgather publishes each
 * member's contribution under a key of its own (PMIx_Put + PMIx_Commit),
 * runs a fence that collects the job's data, then reads every member's key
 * back (PMIx_Get). A barrier is a fence without data. The host identity is
 * the kernel's boot id with the node name the launcher gives the process.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/boot.h"
#include "core/internal.h"

#ifndef WIN_HAVE_PMIX

int win_group_from_launcher(win_ctx_t *ctx, win_group_t **gp)
{
	if (gp)
		*gp = NULL;
	if (!win_ctx_live(ctx))
		return win_seterr(WIN_ERR_HANDLE, "win_group_from_launcher: "
				  "invalid or finalized context");
	return win_seterr(WIN_ERR_UNSUPPORTED, "win_group_from_launcher: "
			  "libwin was built without PMIx (pkg-config pmix "
			  "not found at configure time)");
}

#else

#include <pmix.h>

struct pmix_boot {
	struct win_ctx *ctx;
	pmix_proc_t me;
	pmix_proc_t all;   /* the whole namespace (wildcard rank) */
	int size;
	unsigned id;       /* which launcher group of this process */
	unsigned long seq; /* collectives so far */
};

static unsigned launcher_groups;

static int pmix_fail(pmix_status_t st, const char *what)
{
	return win_seterr(WIN_ERR_SYS, "PMIx: %s: %s", what,
			  PMIx_Error_string(st));
}

static int fence(struct pmix_boot *pb, bool collect)
{
	pmix_info_t info[2];
	bool yes = true;
	int secs = (pb->ctx->timeout_ms + 999) / 1000;
	size_t n = 0;
	pmix_status_t st;

	if (collect) {
		PMIX_INFO_LOAD(&info[n], PMIX_COLLECT_DATA, &yes, PMIX_BOOL);
		n++;
	}
	PMIX_INFO_LOAD(&info[n], PMIX_TIMEOUT, &secs, PMIX_INT);
	n++;
	st = PMIx_Fence(&pb->all, 1, info, n);
	for (size_t i = 0; i < n; i++)
		PMIX_INFO_DESTRUCT(&info[i]);
	if (st == PMIX_ERR_TIMEOUT)
		return win_seterr(WIN_ERR_TIMEOUT, "PMIx fence: no progress "
				  "in %d s", secs);
	if (st != PMIX_SUCCESS)
		return pmix_fail(st, "fence");
	return WIN_OK;
}

static int pb_barrier(void *state)
{
	return fence(state, false);
}

static int pb_allgather(void *state, const void *in, void *out, size_t len)
{
	struct pmix_boot *pb = state;
	char key[64];
	pmix_value_t val;
	pmix_status_t st;
	int rc;

	snprintf(key, sizeof(key), "libwin.%u.%lu", pb->id, pb->seq++);
	memset(&val, 0, sizeof(val));
	val.type = PMIX_BYTE_OBJECT;
	val.data.bo.bytes = (char *)in;
	val.data.bo.size = len;
	st = PMIx_Put(PMIX_GLOBAL, key, &val);
	if (st != PMIX_SUCCESS)
		return pmix_fail(st, "put");
	st = PMIx_Commit();
	if (st != PMIX_SUCCESS)
		return pmix_fail(st, "commit");
	if ((rc = fence(pb, true)))
		return rc;
	for (int r = 0; r < pb->size; r++) {
		pmix_proc_t p;
		pmix_value_t *v = NULL;

		PMIX_PROC_LOAD(&p, pb->me.nspace, (pmix_rank_t)r);
		st = PMIx_Get(&p, key, NULL, 0, &v);
		if (st != PMIX_SUCCESS || !v) {
			return win_seterr(WIN_ERR_SYS, "PMIx: get %s of rank "
					  "%d: %s", key, r,
					  PMIx_Error_string(st));
		}
		if (v->type != PMIX_BYTE_OBJECT || v->data.bo.size != len) {
			PMIX_VALUE_RELEASE(v);
			return win_seterr(WIN_ERR_MISMATCH, "PMIx allgather: "
					  "rank %d gave another length than "
					  "%zu bytes", r, len);
		}
		if (len)
			memcpy((char *)out + (size_t)r * len,
			       v->data.bo.bytes, len);
		PMIX_VALUE_RELEASE(v);
	}
	return WIN_OK;
}

static void pb_leave(void *state)
{
	struct pmix_boot *pb = state;

	/* Collective: nobody leaves while another member may still need
	 * its pid or its memory. */
	fence(pb, false);
	PMIx_Finalize(NULL, 0);
	free(pb);
}

static const struct win_boot_ops pmix_boot_ops = {
	.name = "pmix",
	.barrier = pb_barrier,
	.allgather = pb_allgather,
	.leave = pb_leave,
};

/* The launcher's name for the node we run on, or NULL. */
static char *node_name(struct pmix_boot *pb)
{
	pmix_value_t *v = NULL;
	char *name = NULL;

	if (PMIx_Get(&pb->me, PMIX_HOSTNAME, NULL, 0, &v) == PMIX_SUCCESS &&
	    v) {
		if (v->type == PMIX_STRING && v->data.string)
			name = strdup(v->data.string);
		PMIX_VALUE_RELEASE(v);
	}
	return name;
}

int win_group_from_launcher(win_ctx_t *ctx, win_group_t **gp)
{
	struct pmix_boot *pb;
	pmix_value_t *v = NULL;
	pmix_status_t st;
	uint64_t hostid;
	char *name;

	if (gp)
		*gp = NULL;
	if (!win_ctx_live(ctx))
		return win_seterr(WIN_ERR_HANDLE, "win_group_from_launcher: "
				  "invalid or finalized context");
	if (!gp)
		return win_seterr(WIN_ERR_ARG, "win_group_from_launcher: NULL "
				  "group pointer");
	/* Without these the client would try to find a server on its own,
	 * which is slow and fails anyway outside a launch. */
	if (!getenv("PMIX_NAMESPACE") || !getenv("PMIX_RANK"))
		return win_seterr(WIN_ERR_UNSUPPORTED, "win_group_from_launcher"
				  ": not started by a PMIx launcher "
				  "(PMIX_NAMESPACE/PMIX_RANK are not set; run "
				  "under mpirun, prterun or srun --mpi=pmix)");
	pb = calloc(1, sizeof(*pb));
	if (!pb)
		return win_seterr(WIN_ERR_NOMEM, "win_group_from_launcher");
	pb->ctx = ctx;
	st = PMIx_Init(&pb->me, NULL, 0);
	if (st != PMIX_SUCCESS) {
		free(pb);
		return win_seterr(WIN_ERR_UNSUPPORTED, "win_group_from_launcher"
				  ": PMIx_Init: %s (is the launcher's PMIx "
				  "server reachable?)", PMIx_Error_string(st));
	}
	PMIX_PROC_LOAD(&pb->all, pb->me.nspace, PMIX_RANK_WILDCARD);
	st = PMIx_Get(&pb->all, PMIX_JOB_SIZE, NULL, 0, &v);
	if (st != PMIX_SUCCESS || !v) {
		PMIx_Finalize(NULL, 0);
		free(pb);
		return pmix_fail(st, "job size");
	}
	if (v->type == PMIX_UINT32)
		pb->size = (int)v->data.uint32;
	else if (v->type == PMIX_INT)
		pb->size = v->data.integer;
	PMIX_VALUE_RELEASE(v);
	if (pb->size < 1 || (int)pb->me.rank >= pb->size) {
		int size = pb->size;
		unsigned rank = (unsigned)pb->me.rank;

		PMIx_Finalize(NULL, 0);
		free(pb);
		return win_seterr(WIN_ERR_MISMATCH, "win_group_from_launcher: "
				  "job size %d does not hold rank %u", size,
				  rank);
	}
	pb->id = launcher_groups++;
	name = getenv("WIN_HOSTNAME") ? NULL : node_name(pb);
	hostid = win_boot_host_id(name);
	free(name);
	/* win_boot_group_create owns pb from here on, failure included. */
	return win_boot_group_create(ctx, (int)pb->me.rank, pb->size,
				     &pmix_boot_ops, pb, hostid, gp);
}

#endif
