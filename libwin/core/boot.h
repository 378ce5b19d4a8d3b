/*
 * Group bootstraps. A group's collectives (barrier, allgather), its dead-peer
 * check and its leave go through a small table of operations, so that a
 * group can be formed by something other than the single-host shared-memory
 * rendezvous: a PMIx launcher (core/boot-pmix.c) or an MPI communicator
 * (libwin_mpi, which registers its table through win_boot_group_create()
 * because libwin itself does not link MPI).
 *
 * This header is internal to libwin and its companion libraries; it is not
 * installed and its contents may change between releases.
 */
#ifndef LIBWIN_BOOT_H
#define LIBWIN_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "win.h"

struct win_boot_ops {
	const char *name;
	/* Collective barrier. */
	int (*barrier)(void *state);
	/* Collective: `len` bytes from every member into out[size * len],
	 * in rank order. */
	int (*allgather)(void *state, const void *in, void *out, size_t len);
	/*
	 * Optional: WIN_ERR_PEER (with a message) if member `rank` is known
	 * to be dead. The core already checks the pids of same-host members;
	 * this hook is for what the bootstrap knows beyond that.
	 */
	int (*check_peer)(void *state, int rank);
	/* Release the bootstrap (the group is being left; collective). */
	void (*leave)(void *state);
};

/*
 * Form a group of `size` members in which this process is `rank`, over the
 * bootstrap `ops`/`state`. Collective: exchanges every member's pid and
 * host id through ops->allgather. `hostid` is this member's host identity
 * (members with equal ids share a host); 0 takes the default one
 * (win_boot_host_id()). On failure ops->leave is called, so the caller
 * hands `state` over in every case.
 */
__attribute__((visibility("default")))
int win_boot_group_create(win_ctx_t *ctx, int rank, int size,
			  const struct win_boot_ops *ops, void *state,
			  uint64_t hostid, win_group_t **group);

/* This host's identity: a hash of the kernel's boot id and the host name
 * (never 0). `name` replaces the host name when not NULL. */
__attribute__((visibility("default")))
uint64_t win_boot_host_id(const char *name);

/* Record a failure from outside libwin as the thread's last error. */
__attribute__((visibility("default")))
int win_boot_seterr(int status, const char *msg);

#endif
