/*
 * Multi-process test harness (see harness.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define MP_MAX 16

int mp_rank = -1;
static int report_fd = -1;

void mp_fail(const char *file, int line, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	n = snprintf(buf, sizeof(buf), "rank %d: %s:%d: ", mp_rank, file,
		     line);
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
	va_end(ap);
	n = strlen(buf);
	buf[n++] = '\n';
	if (write(STDERR_FILENO, buf, n) < 0) {
		/* nothing more to do */
	}
	if (report_fd >= 0 && write(report_fd, buf, n) < 0) {
		/* the parent reports the exit status anyway */
	}
	_exit(1);
}

void mp_exit_now(void)
{
	_exit(0);
}

void mp_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void mp_wait_scratch(struct mp_env *env, int i, uint64_t v, int ms)
{
	long long end = now_ms() + ms;

	while (mp_load(env->scratch, i) < v) {
		CHECK(now_ms() < end, "scratch word %d stayed below %llu "
		      "for %d ms (at %llu)", i, (unsigned long long)v, ms,
		      (unsigned long long)mp_load(env->scratch, i));
		poll(NULL, 0, 1);
	}
}

win_t *mp_win(struct mp_env *env, int flavor, size_t size, int disp_unit,
	      unsigned flags, void **base)
{
	win_opts_t opts = { .flags = flags };
	win_t *w = NULL;
	void *mem = NULL;
	int rc;

	if (!flavor)
		flavor = env->flavor;
	if (flavor == WIN_FLAVOR_CREATE) {
		if (size) {
			mem = aligned_alloc(64, (size + 63) & ~(size_t)63);
			CHECK(mem, "out of memory");
			memset(mem, 0, size);
		}
		rc = win_create(env->group, mem, size, disp_unit, &opts, &w);
	} else {
		rc = win_allocate(env->group, size, disp_unit, &opts, &mem,
				  &w);
	}
	if (rc == WIN_ERR_PERM)
		mp_fail(__FILE__, __LINE__, "the kernel refused cross-process"
			" access (WIN_ERR_PERM): %s", win_last_error());
	CHECK(rc == WIN_OK, "opening a %s window of %zu bytes: %s (%s)",
	      flavor == WIN_FLAVOR_CREATE ? "created" : "allocated", size,
	      rc_name(rc), win_last_error());
	CHECK(w != NULL, "no window handle");
	if (base)
		*base = mem;
	return w;
}

void mp_win_free(win_t *w)
{
	CHECK_OK(win_free(w));
}

void mp_barrier(struct mp_env *env)
{
	CHECK_OK(win_group_barrier(env->group));
}

void mp_fetch_add_race(struct mp_env *e, win_t *w, const void *counter,
		       size_t disp, int nadd)
{
	uint64_t one = 1, old, v;

	mp_barrier(e);
	CHECK_OK(win_lock_all(w, 0));
	for (int i = 0; i < nadd; i++)
		for (int t = 0; t < e->size; t++)
			CHECK_OK(win_fetch_op(w, &one, &old, WIN_UINT64,
					      WIN_OP_SUM, t, disp));
	CHECK_OK(win_unlock_all(w));
	mp_barrier(e);
	memcpy(&v, counter, 8);
	CHECK(v == (uint64_t)nadd * (uint64_t)e->size, "counter after %d x %d "
	      "fetch-adds: %llu", nadd, e->size, (unsigned long long)v);
}

/*
 * The library's bound on waits for peers, for tests that do not set their
 * own: 10 s, stretched with Check's timeouts (CK_TIMEOUT_MULTIPLIER, which
 * the slow transports' suites raise) up to 60 s, so that a member done
 * early does not give up on peers that are only slow.
 */
static int default_lib_timeout_ms(void)
{
	const char *m = getenv("CK_TIMEOUT_MULTIPLIER");
	double f = m ? atof(m) : 1.0;

	if (!(f >= 1.0))
		f = 1.0;
	if (f > 6.0)
		f = 6.0;
	return (int)(10000 * f);
}

/*
 * Every member past win_init before any goes on: start-up costs differ
 * (libfabric's fi_getinfo takes seconds on some machines), and a test's
 * short library timeout is meant for what it tests, not for waiting on a
 * slow start.
 */
static void start_line(volatile void *word, int size)
{
	long long end = now_ms() + 120000;

	mp_add(word, 0, 1);
	while (mp_load(word, 0) < (uint64_t)size) {
		CHECK(now_ms() < end, "%llu of %d members started",
		      (unsigned long long)mp_load(word, 0), size);
		usleep(200);
	}
}

static void member(const struct mp_opts *opts, mp_body_fn body, int rank,
		   const char *name, volatile void *scratch, pid_t parent)
{
	struct mp_env env;
	win_config_t cfg;

	mp_rank = rank;
	/* Go when the harness goes (Check's timeout kills it). */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(3);

	memset(&env, 0, sizeof(env));
	memset(&cfg, 0, sizeof(cfg));
	cfg.timeout_ms = opts->lib_timeout_ms ? opts->lib_timeout_ms
					     : default_lib_timeout_ms();
	env.rank = rank;
	env.size = opts->size;
	env.flavor = opts->flavor;
	env.name = name;
	env.scratch = scratch;
	env.arg = opts->arg;
	CHECK_OK(win_init(&cfg, &env.ctx));
	start_line((volatile char *)scratch + MP_SCRATCH, opts->size);
	if (!(opts->flags & MP_NO_JOIN)) {
		CHECK_OK(win_group_join(env.ctx, name, opts->size, rank,
					&env.group));
		CHECK(win_group_rank(env.group) == rank,
		      "win_group_rank is %d", win_group_rank(env.group));
		CHECK(win_group_size(env.group) == opts->size,
		      "win_group_size is %d", win_group_size(env.group));
	}
	body(&env);
	if (!(opts->flags & MP_NO_FINALIZE)) {
		if (env.group)
			CHECK_OK(win_group_leave(env.group));
		CHECK_OK(win_finalize(env.ctx));
	}
	fflush(NULL);
	_exit(0);
}

static void describe(char *msg, size_t len, size_t *used, const char *fmt,
		     ...) __attribute__((format(printf, 4, 5)));

static void describe(char *msg, size_t len, size_t *used, const char *fmt,
		     ...)
{
	va_list ap;
	int n;

	if (*used >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg + *used, len - *used, fmt, ap);
	va_end(ap);
	if (n > 0)
		*used += (size_t)n;
	if (*used >= len)
		*used = len - 1;
}

int mp_run(const struct mp_opts *opts, mp_body_fn body, char *msg,
	   size_t msglen)
{
	pid_t pids[MP_MAX], parent = getpid();
	int status[MP_MAX], live, i, fds[2], bad = 0;
	long long deadline;
	volatile void *scratch;
	char name[96], reports[1536];
	size_t used = 0;
	ssize_t got = 0, r;
	int timeout = opts->timeout_ms ? opts->timeout_ms : 25000;

	msg[0] = '\0';
	if (opts->size < 1 || opts->size > MP_MAX) {
		describe(msg, msglen, &used, "bad member count %d",
			 opts->size);
		return -1;
	}
	unique_name(name, sizeof(name), "mp");
	/* The tests' scratch, then the harness's own page (the start line). */
	scratch = mmap(NULL, 2 * MP_SCRATCH, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (scratch == MAP_FAILED || pipe2(fds, O_CLOEXEC) < 0) {
		describe(msg, msglen, &used, "harness setup: %s",
			 strerror(errno));
		return -1;
	}
	fflush(NULL);
	for (i = 0; i < opts->size; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			close(fds[0]);
			report_fd = fds[1];
			member(opts, body, i, name, scratch, parent);
		}
		if (pids[i] < 0) {
			describe(msg, msglen, &used, "fork: %s",
				 strerror(errno));
			opts = NULL;
			break;
		}
		status[i] = -1;
	}
	close(fds[1]);
	if (!opts) {
		while (--i >= 0) {
			kill(pids[i], SIGKILL);
			waitpid(pids[i], NULL, 0);
		}
		close(fds[0]);
		munmap((void *)scratch, 2 * MP_SCRATCH);
		return -1;
	}

	deadline = now_ms() + timeout;
	live = opts->size;
	while (live > 0) {
		for (i = 0; i < opts->size; i++) {
			if (status[i] != -1)
				continue;
			if (waitpid(pids[i], &status[i], WNOHANG) ==
			    pids[i]) {
				live--;
			} else {
				status[i] = -1;
			}
		}
		if (live == 0)
			break;
		if (now_ms() > deadline) {
			describe(msg, msglen, &used,
				 "timeout after %d ms; killed rank(s):",
				 timeout);
			for (i = 0; i < opts->size; i++) {
				if (status[i] != -1)
					continue;
				describe(msg, msglen, &used, " %d", i);
				kill(pids[i], SIGKILL);
				waitpid(pids[i], &status[i], 0);
				status[i] = -2;
			}
			describe(msg, msglen, &used, ". ");
			bad = 1;
			break;
		}
		poll(NULL, 0, 2);
	}

	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	while (got < (ssize_t)sizeof(reports) - 1 &&
	       (r = read(fds[0], reports + got,
			 sizeof(reports) - 1 - got)) > 0)
		got += r;
	reports[got] = '\0';
	close(fds[0]);
	munmap((void *)scratch, 2 * MP_SCRATCH);

	for (i = 0; i < opts->size; i++) {
		if (status[i] == -2)
			continue;
		if (WIFEXITED(status[i]) && WEXITSTATUS(status[i]) == 0)
			continue;
		bad = 1;
		if (WIFSIGNALED(status[i]))
			describe(msg, msglen, &used,
				 "rank %d killed by signal %d (%s). ", i,
				 WTERMSIG(status[i]),
				 strsignal(WTERMSIG(status[i])));
		else
			describe(msg, msglen, &used,
				 "rank %d exited with %d. ", i,
				 WEXITSTATUS(status[i]));
	}
	if (bad && got > 0)
		describe(msg, msglen, &used, "%s", reports);
	return bad ? -1 : 0;
}
