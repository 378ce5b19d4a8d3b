/*
 * bench_bind.h: -B for the benchmarks that fork their ranks (winbench,
 * ofibench): rank r is bound to the r-th CPU it may run on (modulo their
 * number), as `mpirun --bind-to core` binds MPI ranks.
 *
 * Unbound on a 2-CPU machine, where the origin and the target (and the
 * target's progress) share the two cores, the scheduler's placement
 * changes from one run to the next, and a run's figures with it: 8 B to
 * 64 B gets over shm fell into two modes, about 1.8 us and 2.2-3 us, in
 * libwin and in the raw loop alike. Bound, nearly every run lands in the
 * first.
 *
 * Call it before anything starts threads: they inherit the binding.
 * Returns the CPU, or -1 (errno set) when it could not bind.
 */
#ifndef BENCH_BIND_H
#define BENCH_BIND_H

#include <errno.h>
#include <sched.h>

static inline int bench_bind_rank(int rank)
{
	cpu_set_t allowed, one;
	int n, cpu;

	if (rank < 0 || sched_getaffinity(0, sizeof(allowed), &allowed))
		return -1;
	n = CPU_COUNT(&allowed);
	if (n < 1) {
		errno = EINVAL;
		return -1;
	}
	for (cpu = 0, n = rank % n;; cpu++)
		if (CPU_ISSET(cpu, &allowed) && n-- == 0)
			break;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	return sched_setaffinity(0, sizeof(one), &one) ? -1 : cpu;
}

#endif
