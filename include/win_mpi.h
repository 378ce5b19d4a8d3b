/*
 * libwin_mpi: libwin groups and windows over MPI communicators.
 *
 * Link with -lwin_mpi (built against Open MPI) or -lwin_mpi_mpich (built
 * against MPICH), plus -lwin; compile with the matching MPI wrapper. libwin
 * itself never links MPI: this library registers an MPI bootstrap with it.
 *
 * A group made from a communicator has the communicator's size, and rank r
 * of the group is rank r of the communicator. The library works on its own
 * duplicate of the communicator (MPI_Comm_dup), so its collectives never
 * match the application's messages. Members on the same host reach each
 * other through the single-host transports (shm, kshim), members on other
 * hosts through the network transports (verbs, ofi).
 *
 * MPI must be initialised before any call here, and every call is
 * collective over the communicator. Leaving a group made from a
 * communicator (win_group_leave, win_free_comm, or win_finalize for groups
 * still open) is collective too, and must happen before MPI_Finalize.
 */
#ifndef LIBWIN_WIN_MPI_H
#define LIBWIN_WIN_MPI_H

#include <mpi.h>

#include <win.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

/*
 * Collective over `comm`: make a libwin group whose members are the
 * communicator's processes, rank for rank. Free it with win_group_leave()
 * (collective). WIN_ERR_ARG for MPI_COMM_NULL or an intercommunicator,
 * WIN_ERR_SYS when MPI is not initialised or an MPI call fails.
 */
int win_group_from_comm(win_ctx_t *ctx, MPI_Comm comm, win_group_t **group);

/*
 * Conveniences: make a group from `comm` and a window over it in one
 * collective call (as MPI_Win_create / MPI_Win_allocate do). The group
 * belongs to the window: free both with win_free_comm().
 */
int win_create_comm(win_ctx_t *ctx, MPI_Comm comm, void *base, size_t size,
		    int disp_unit, const win_opts_t *opts, win_t **win);
int win_allocate_comm(win_ctx_t *ctx, MPI_Comm comm, size_t size,
		      int disp_unit, const win_opts_t *opts, void **base,
		      win_t **win);

/*
 * Collective: free a window made by win_create_comm()/win_allocate_comm()
 * and leave its group. For any other window it is win_free().
 */
int win_free_comm(win_t *win);

/* The group of a window made by win_create_comm()/win_allocate_comm(),
 * or NULL for other windows. */
win_group_t *win_comm_group(win_t *win);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* LIBWIN_WIN_MPI_H */
