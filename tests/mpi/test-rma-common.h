/*
 * Shared helpers of the MPI-3 RMA tests (tests/mpi/test-rma-*.c). The
 * tests are plain MPI programs: they pass on any correct MPI library, and
 * with libwin_pmpi preloaded they check libwin's answers, including the
 * error classes that only the interposer promises.
 */
#ifndef TEST_RMA_COMMON_H
#define TEST_RMA_COMMON_H

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_rank, t_size, t_checks, t_fails;

#define CHECK(cond, ...)                                                  \
	do {                                                              \
		t_checks++;                                               \
		if (!(cond)) {                                            \
			t_fails++;                                        \
			fprintf(stderr, "rank %d: %s:%d: CHECK(%s) failed: ", \
				t_rank, __FILE__, __LINE__, #cond);       \
			fprintf(stderr, __VA_ARGS__);                     \
			fputc('\n', stderr);                              \
		}                                                         \
	} while (0)

static const char *t_errstr(int rc)
{
	static char s[MPI_MAX_ERROR_STRING + 1];
	int n = 0;

	if (MPI_Error_string(rc, s, &n) != MPI_SUCCESS)
		snprintf(s, sizeof(s), "error %d", rc);
	return s;
}

#define CHECK_RC(call)                                                    \
	do {                                                              \
		int rc_ = (call);                                         \
		CHECK(rc_ == MPI_SUCCESS, "%s returned %d: %s", #call,    \
		      rc_, t_errstr(rc_));                                \
	} while (0)

/* Defined by libwin_pmpi when it is loaded. */
int libwin_pmpi_loaded(void) __attribute__((weak));

static int t_interposed(void)
{
	return libwin_pmpi_loaded != NULL;
}

static void t_init(int *argc, char ***argv)
{
	MPI_Init(argc, argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &t_rank);
	MPI_Comm_size(MPI_COMM_WORLD, &t_size);
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}

static __attribute__((unused)) int t_class(int rc)
{
	int c = -1;

	MPI_Error_class(rc, &c);
	return c;
}

/* Summary on rank 0; exit status 0 only if every rank passed. */
static int t_finish(const char *name)
{
	int in[2] = { t_checks, t_fails }, out[2] = { 0, 0 };

	MPI_Allreduce(in, out, 2, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
	if (t_rank == 0)
		printf("%s: %d ranks, %s: %d checks, %d failures\n", name,
		       t_size, t_interposed() ? "libwin_pmpi" : "plain MPI",
		       out[0], out[1]);
	MPI_Finalize();
	return out[1] ? 1 : 0;
}

#endif
