/* Process-shared futex helpers (the words live in shared mappings). */
#ifndef LIBWIN_FUTEX_H
#define LIBWIN_FUTEX_H

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Sleep while *addr == val, at most timeout_ms. Spurious returns are fine. */
static inline void win_futex_wait(uint32_t *addr, uint32_t val, int timeout_ms)
{
	struct timespec ts = { timeout_ms / 1000,
			       (long)(timeout_ms % 1000) * 1000000L };

	syscall(SYS_futex, addr, FUTEX_WAIT, val, &ts, NULL, 0);
}

static inline void win_futex_wake(uint32_t *addr)
{
	syscall(SYS_futex, addr, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static inline void win_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* How often a sleeping wait wakes to check peers and the deadline. */
#define WIN_WAIT_SLICE_MS 100
/* Spins before a wait goes to sleep. */
#define WIN_WAIT_SPINS 2000
/* ... and at most this long, when each spin tests a condition that may
 * be a remote operation (a lock attempt over the network). */
#define WIN_WAIT_SPIN_US 100

#endif
