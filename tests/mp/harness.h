/*
 * Multi-process test harness: fork N member processes that form a group
 * and run a test body, collect their exit statuses with a bounded wait and
 * report through Check.
 *
 * Inside a member, use the CHECK* macros: on failure they print
 * "rank R: file:line: message" to stderr, hand the message to the parent
 * and end the member with _exit(1). Check's own assertions are for the
 * parent only.
 */
#ifndef LIBWIN_TESTS_HARNESS_H
#define LIBWIN_TESTS_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common.h"

#define MP_SCRATCH 4096

struct mp_env {
	win_ctx_t *ctx;
	win_group_t *group; /* NULL with MP_NO_JOIN */
	int rank;
	int size;
	int flavor;         /* for tests run over both flavours */
	const char *name;   /* the group's name */
	/* MP_SCRATCH bytes shared by all members, zeroed (out-of-band). */
	volatile void *scratch;
	void *arg;
};

typedef void (*mp_body_fn)(struct mp_env *env);

struct mp_opts {
	int size;          /* members */
	int flavor;        /* copied into mp_env.flavor */
	int lib_timeout_ms; /* win_config_t.timeout_ms; 0: 10000 */
	int timeout_ms;    /* harness bound on the whole run; 0: 25000 */
	unsigned flags;
	void *arg;
};

/* Members call win_init only; the body joins (or does not) itself. */
#define MP_NO_JOIN 0x1u
/* Members skip win_group_leave/win_finalize after the body. */
#define MP_NO_FINALIZE 0x2u

/*
 * Run `body` in opts->size members. Returns 0 when all exited with status
 * 0, else -1 with a description in msg.
 */
int mp_run(const struct mp_opts *opts, mp_body_fn body, char *msg,
	   size_t msglen);

/* Run from a Check test: fail the test with the members' message. */
#define MP_RUN(opts, body)                                                \
	do {                                                               \
		char mp_msg_[2048];                                        \
		int mp_rc_ = mp_run((opts), (body), mp_msg_,               \
				    sizeof(mp_msg_));                      \
		ck_assert_msg(mp_rc_ == 0, "%s", mp_msg_);                 \
	} while (0)

/* The flavour and size a loop test's iteration stands for. */
static inline int mp_loop_flavor(int i)
{
	return (i & 1) ? WIN_FLAVOR_ALLOCATE : WIN_FLAVOR_CREATE;
}

static inline int mp_loop_size(int i)
{
	return (i & 2) ? 4 : 2;
}

/* Is `t` (win_transport_name) a network transport, whose operations
 * need the target process (so fail once it is gone)? */
static inline int mp_network_transport(const char *t)
{
	return t && (!strcmp(t, "ofi") || !strcmp(t, "verbs"));
}

/* Report a failure in a member and _exit(1). */
void mp_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));

/* The member's rank, for messages (-1 in the parent). */
extern int mp_rank;

#define CHECK(cond, ...)                                                  \
	do {                                                               \
		if (!(cond))                                               \
			mp_fail(__FILE__, __LINE__, __VA_ARGS__);          \
	} while (0)

#define CHECK_RC(expr, want)                                              \
	do {                                                               \
		int rc_ = (expr);                                          \
		int want_ = (want);                                        \
		if (rc_ != want_)                                          \
			mp_fail(__FILE__, __LINE__,                        \
				"%s: got %s (%d), expected %s; last error: "\
				"%s", #expr, rc_name(rc_), rc_,            \
				rc_name(want_), win_last_error());         \
	} while (0)

#define CHECK_OK(expr) CHECK_RC(expr, WIN_OK)

/*
 * Open a window of env->flavor (or `flavor` if nonzero) with `size` bytes
 * for this member, zeroed. WIN_ERR_PERM fails the test with the library's
 * message (the kernel refused cross-process access).
 */
win_t *mp_win(struct mp_env *env, int flavor, size_t size, int disp_unit,
	      unsigned flags, void **base);

/* Free a window (and the create flavour's memory is left to exit). */
void mp_win_free(win_t *w);

/* Barrier over the group, checked. */
void mp_barrier(struct mp_env *env);

/* End this member now with status 0, without leaving or finalizing. */
void mp_exit_now(void) __attribute__((noreturn));

/* Sleep in plain system calls (never in the library). */
void mp_sleep_ms(int ms);

/* Atomic helpers for the scratch area. */
static inline uint64_t mp_load(volatile void *scratch, int i)
{
	return __atomic_load_n((volatile uint64_t *)scratch + i,
			       __ATOMIC_SEQ_CST);
}

static inline void mp_store(volatile void *scratch, int i, uint64_t v)
{
	__atomic_store_n((volatile uint64_t *)scratch + i, v,
			 __ATOMIC_SEQ_CST);
}

static inline uint64_t mp_add(volatile void *scratch, int i, uint64_t v)
{
	return __atomic_add_fetch((volatile uint64_t *)scratch + i, v,
				  __ATOMIC_SEQ_CST);
}

/* Wait (plain polling) until scratch word i >= v; fail after ms. */
void mp_wait_scratch(struct mp_env *env, int i, uint64_t v, int ms);

/*
 * Every member fetch-adds 1 `nadd` times to the uint64 at displacement
 * `disp` of every member's part of `w`, all at once (in lock_all); then
 * checks that its own counter, at `counter` in its memory, holds
 * nadd * size.
 */
void mp_fetch_add_race(struct mp_env *env, win_t *w, const void *counter,
		       size_t disp, int nadd);

#endif /* LIBWIN_TESTS_HARNESS_H */
