/*
 * bench_bind.h: -B for the benchmarks that fork their ranks (winbench,
 * ofibench): rank r is bound to the r-th CPU the program may run on
 * (modulo their number), as `mpirun --bind-to core` binds MPI ranks.
 *
 * Unbound on a 2-CPU machine, where the origin and the target (and the
 * target's progress) share the two cores, the scheduler's placement
 * changes from one run to the next, and a run's figures with it: 8 B to
 * 64 B gets over shm fell into two modes, about 1.8 us and 2.2-3 us, in
 * libwin and in the raw loop alike. Bound, they change far less often.
 *
 * bench_cpus() reads the CPUs allowed at start; bench_bind_rank() binds
 * the calling process to rank r's CPU among them, before anything starts
 * threads (they inherit the binding). Both return -1 with errno set on
 * failure; bench_bind_rank returns the CPU otherwise.
 */
#ifndef BENCH_BIND_H
#define BENCH_BIND_H

#include <errno.h>
#include <sched.h>

static inline int bench_cpus(cpu_set_t *allowed)
{
	if (sched_getaffinity(0, sizeof(*allowed), allowed))
		return -1;
	if (CPU_COUNT(allowed) < 1) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

static inline int bench_bind_rank(const cpu_set_t *allowed, int rank)
{
	cpu_set_t one;
	int cpu, n = CPU_COUNT(allowed);

	if (rank < 0 || n < 1) {
		errno = EINVAL;
		return -1;
	}
	for (cpu = 0, n = rank % n;; cpu++)
		if (CPU_ISSET(cpu, allowed) && n-- == 0)
			break;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	return sched_setaffinity(0, sizeof(one), &one) ? -1 : cpu;
}

#endif
