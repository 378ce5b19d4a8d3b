/*
 * MPI predefined datatypes and ops onto libwin's element types and ops,
 * and libwin statuses onto MPI error classes.
 */
#include "pmpi_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INT_KIND(t) (sizeof(t) == 4 ? WIN_INT32 : sizeof(t) == 8 ? WIN_INT64 : 0)
#define UINT_KIND(t) (sizeof(t) == 4 ? WIN_UINT32 : sizeof(t) == 8 ? WIN_UINT64 : 0)

int pw_wtype_of(MPI_Datatype t)
{
	if (t == MPI_INT)
		return INT_KIND(int);
	if (t == MPI_LONG)
		return INT_KIND(long);
	if (t == MPI_LONG_LONG || t == MPI_LONG_LONG_INT)
		return INT_KIND(long long);
	if (t == MPI_INT32_T)
		return WIN_INT32;
	if (t == MPI_INT64_T)
		return WIN_INT64;
	if (t == MPI_UNSIGNED)
		return UINT_KIND(unsigned);
	if (t == MPI_UNSIGNED_LONG)
		return UINT_KIND(unsigned long);
	if (t == MPI_UNSIGNED_LONG_LONG)
		return UINT_KIND(unsigned long long);
	if (t == MPI_UINT32_T)
		return WIN_UINT32;
	if (t == MPI_UINT64_T)
		return WIN_UINT64;
	if (t == MPI_AINT)
		return INT_KIND(MPI_Aint);
	if (t == MPI_OFFSET)
		return INT_KIND(MPI_Offset);
	if (t == MPI_COUNT)
		return INT_KIND(MPI_Count);
	if (t == MPI_FLOAT)
		return sizeof(float) == 4 ? WIN_FLOAT : 0;
	if (t == MPI_DOUBLE)
		return sizeof(double) == 8 ? WIN_DOUBLE : 0;
	return 0;
}

int pw_op_of(MPI_Op op)
{
	if (op == MPI_SUM)
		return WIN_OP_SUM;
	if (op == MPI_PROD)
		return WIN_OP_PROD;
	if (op == MPI_MIN)
		return WIN_OP_MIN;
	if (op == MPI_MAX)
		return WIN_OP_MAX;
	if (op == MPI_BAND)
		return WIN_OP_BAND;
	if (op == MPI_BOR)
		return WIN_OP_BOR;
	if (op == MPI_BXOR)
		return WIN_OP_BXOR;
	if (op == MPI_REPLACE)
		return WIN_OP_REPLACE;
	if (op == MPI_NO_OP)
		return WIN_OP_NO_OP;
	return 0;
}

const char *pw_op_name(MPI_Op op)
{
	if (op == MPI_LAND)
		return "MPI_LAND";
	if (op == MPI_LOR)
		return "MPI_LOR";
	if (op == MPI_LXOR)
		return "MPI_LXOR";
	if (op == MPI_MAXLOC)
		return "MPI_MAXLOC";
	if (op == MPI_MINLOC)
		return "MPI_MINLOC";
	if (op == MPI_OP_NULL)
		return "MPI_OP_NULL";
	return pw_op_of(op) ? "a predefined op" : "a user-defined op";
}

int pw_class_of(int st)
{
	switch (st) {
	case WIN_OK:
		return MPI_SUCCESS;
	case WIN_ERR_ARG:
		return MPI_ERR_ARG;
	case WIN_ERR_RANK:
		return MPI_ERR_RANK;
	case WIN_ERR_DISP:
		return MPI_ERR_DISP;
	case WIN_ERR_LENGTH:
		return MPI_ERR_RMA_RANGE;
	case WIN_ERR_DATATYPE:
		return MPI_ERR_TYPE;
	case WIN_ERR_OP:
		return MPI_ERR_OP;
	case WIN_ERR_SYNC:
		return MPI_ERR_RMA_SYNC;
	case WIN_ERR_HANDLE:
		return MPI_ERR_WIN;
	case WIN_ERR_NOMEM:
		return MPI_ERR_NO_MEM;
	case WIN_ERR_UNSUPPORTED:
		return MPI_ERR_UNSUPPORTED_OPERATION;
	case WIN_ERR_MISMATCH:
		return MPI_ERR_ARG;
	default:
		return MPI_ERR_OTHER;
	}
}

int pw_error_code(int cls, const char *msg)
{
	/* Classes are small integers below MPI_ERR_LASTCODE. One dynamic
	 * code per class, its string replaced by each new message. */
	static int verbose = -1;

	if (verbose < 0) {
		const char *e = getenv("LIBWIN_PMPI_ERRORS");

		verbose = e && !strcmp(e, "print");
	}
	if (verbose)
		fprintf(stderr, "%s\n", msg);
#ifdef MPICH_VERSION
	/* MPICH's MPI_Error_string does not show the strings of added
	 * codes (it decodes them as error stacks): give the class, whose
	 * string is right. */
	return cls;
#else
	static int codes[128];
	int code;

	if (cls <= 0 || cls >= 128)
		return cls;
	if (!codes[cls]) {
		if (PMPI_Add_error_code(cls, &code) != MPI_SUCCESS)
			return cls;
		codes[cls] = code;
	}
	if (PMPI_Add_error_string(codes[cls], msg) != MPI_SUCCESS)
		return cls;
	return codes[cls];
#endif
}
