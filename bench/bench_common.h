/*
 * Shared parts of the one-sided benchmarks (winbench and mpi_rma_bench):
 * options, timing, statistics, the memcpy reference and the output formats
 * (human table, CSV, JSON).  Nothing here is on a timed path except
 * bench_now().
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum bench_op {
	BOP_PUT,
	BOP_GET,
	BOP_FOP,
	BOP_CAS,
	BOP_ACC,
	BOP_COUNT
};

enum bench_sync {
	BSYNC_FLUSH,
	BSYNC_LOCK,
	BSYNC_LOCK_ALL,
	BSYNC_FENCE,
	BSYNC_PSCW,
	BSYNC_PP,		/* put one way: ping-pong polling memory */
	BSYNC_COUNT
};

enum bench_flavor {
	BFLAV_ALLOCATE,
	BFLAV_CREATE,
	BFLAV_CREATE_MEM, /* created over win_mem_alloc / MPI_Alloc_mem memory */
	BFLAV_COUNT
};

enum bench_kind {
	BKIND_LAT,
	BKIND_BW,
	BKIND_COUNT
};

enum bench_fmt {
	BFMT_TABLE,
	BFMT_CSV,
	BFMT_JSON
};

/* Messages above this size use the "large" iteration counts (as OSU). */
#define BENCH_LARGE_MSG 8192
/* Bytes one timed latency loop moves at most (bounds large messages). */
#define BENCH_LAT_BYTE_CAP (256ul << 20)
/* Largest message size accepted. */
#define BENCH_MAX_SIZE (1ul << 30)

struct bench_opts {
	int nprocs;		/* winbench: processes to fork */
	unsigned ops;		/* bit per enum bench_op */
	unsigned syncs;		/* bit per enum bench_sync */
	unsigned flavors;	/* bit per enum bench_flavor */
	unsigned kinds;		/* bit per enum bench_kind */
	size_t min_size;
	size_t max_size;
	long iters;		/* timed iterations, small messages */
	long warmup;		/* untimed iterations, small messages */
	long iters_large;
	long warmup_large;
	int reps;		/* repetitions of each timed loop */
	int window;		/* operations in flight (bandwidth) */
	int fmt;
	int memcpy_ref;		/* measure the memcpy reference */
	int verify;		/* check the data after the loops */
	int per_op;		/* latency: time each operation (-P) */
	int local_win;		/* -L: local buffers in own window memory */
	const char *transports;	/* winbench: allowed libwin transports */
};

/* Static description of the program, for the headers of the output. */
struct bench_meta {
	const char *prog;	/* "winbench", "mpi_rma_bench" */
	const char *impl;	/* "libwin", "ompi" */
	const char *version;	/* implementation version string */
	const char *extra;	/* free text (MCA settings...), may be NULL */
	int nprocs;
};

struct bench_result {
	int kind;
	int op;
	int sync;
	int flavor;
	const char *transport;
	size_t size;
	long iters;		/* timed operations per repetition */
	int reps;
	double median;		/* us (latency) or MB/s (bandwidth) */
	double min;
	double max;
	double memcpy_us;	/* memcpy of the same size, 0 if unknown */
	double memcpy_mbps;
	int verified;		/* 1 ok, 0 not checked, -1 mismatch */
};

extern const char *const bench_op_names[BOP_COUNT];
extern const char *const bench_sync_names[BSYNC_COUNT];
extern const char *const bench_flavor_names[BFLAV_COUNT];
extern const char *const bench_kind_names[BKIND_COUNT];

static inline uint64_t bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Parse the command line into *o. `extra` lists extra short options the
 * caller accepts ("n:T:" for winbench); they are handed to `extra_cb`,
 * which returns 0 when it took the option. Returns 0 to run, 1 when help
 * was printed, -1 on error (message already printed when `loud`).
 */
int bench_parse_args(int argc, char **argv, struct bench_opts *o,
		     const char *prog, const char *extra,
		     int (*extra_cb)(struct bench_opts *o, int c,
				     const char *arg),
		     const char *extra_help, int loud);

/* Iteration counts for a message size. */
long bench_lat_iters(const struct bench_opts *o, size_t size);
long bench_lat_warmup(const struct bench_opts *o, size_t size);
long bench_bw_loops(const struct bench_opts *o, size_t size);
long bench_bw_warmup(const struct bench_opts *o, size_t size);

/* Median, min and max of n values (the array is sorted in place). */
void bench_stats(double *v, int n, double *median, double *min,
		 double *max);

/*
 * Single-core memcpy of `size` bytes between two buffers of at least that
 * size, `count` copies per repetition, `reps` repetitions: median time per
 * copy in microseconds and bandwidth in MB/s (10^6 bytes/s).
 */
void bench_memcpy_ref(void *dst, const void *src, size_t size, long count,
		      int reps, double *us, double *mbps);

/* Output.  Only one process calls these. */
void bench_out_begin(const struct bench_opts *o, const struct bench_meta *m);
void bench_out_result(const struct bench_opts *o, const struct bench_meta *m,
		      const struct bench_result *r);
void bench_out_note(const struct bench_opts *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void bench_out_end(const struct bench_opts *o, const struct bench_meta *m);

/* Allocate `size` bytes aligned to a page, touched; exits on failure. */
void *bench_alloc(size_t size);

#endif /* BENCH_COMMON_H */
