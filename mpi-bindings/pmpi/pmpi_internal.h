/*
 * libwin_pmpi internals shared by pmpi_win.c (windows, epochs, RMA calls),
 * pmpi_dtype.c (datatype flattening) and pmpi_op.c (MPI_Op and predefined
 * types onto libwin's ops and types, error classes).
 */
#ifndef LIBWIN_PMPI_INTERNAL_H
#define LIBWIN_PMPI_INTERNAL_H

#include <mpi.h>
#include <stddef.h>
#include <win.h>

/* One contiguous run of bytes inside one instance of a datatype. */
struct pw_seg {
	MPI_Aint off;
	MPI_Aint len;
};

/* A datatype flattened once and cached. */
struct pw_dtype {
	struct pw_seg *seg;	/* runs of one instance, in type-map order */
	int nseg;
	MPI_Aint size;		/* data bytes in one instance */
	MPI_Aint extent;	/* distance between consecutive instances */
	MPI_Aint lo, hi;	/* data bytes of one instance lie in [lo, hi) */
	int wtype;		/* libwin element type of every element, or 0 */
	size_t esize;		/* element size when wtype != 0 */
	int contig;		/* one run at 0 whose length is the extent */
	int err;		/* MPI error class if the type cannot be served */
	char why[160];		/* ...and why */
};

/* Flattened description of `type` (never NULL; check ->err). Cached on the
 * datatype; predefined types are in a table. */
const struct pw_dtype *pw_dtype_lookup(MPI_Datatype type)
	__attribute__((visibility("hidden")));

/* The type looked up last, kept until it is freed: the hot path's lookup
 * is one comparison. */
extern MPI_Datatype pw_last_type __attribute__((visibility("hidden")));
extern const struct pw_dtype *pw_last_dtype
	__attribute__((visibility("hidden")));

static inline const struct pw_dtype *pw_dtype_get(MPI_Datatype type)
{
	if (__builtin_expect(type == pw_last_type, 1))
		return pw_last_dtype;
	return pw_dtype_lookup(type);
}

/* libwin type of a predefined MPI datatype, or 0. */
int pw_wtype_of(MPI_Datatype type);

/* libwin op for an MPI_Op, or 0. */
int pw_op_of(MPI_Op op);

/* Name of an op for messages. */
const char *pw_op_name(MPI_Op op);

/* MPI error class for a libwin status. */
int pw_class_of(int win_status);

/* An error code of class `cls` whose string is `msg` (one dynamic code per
 * class, its string replaced each time); the class itself if that fails,
 * and always with MPICH. LIBWIN_PMPI_ERRORS=print also writes every message
 * to stderr. */
int pw_error_code(int cls, const char *msg);

#endif
