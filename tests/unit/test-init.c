/*
 * Context set-up and tear-down, configuration from win_config_t and from
 * the environment, status strings and datatype sizes.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include <dirent.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "unit/self.h"

static win_ctx_t *init_env(const char *var, const char *value, int *rc)
{
	win_ctx_t *ctx = NULL;

	if (value)
		setenv(var, value, 1);
	else
		unsetenv(var);
	*rc = win_init(NULL, &ctx);
	return ctx;
}

START_TEST(init_default)
{
	win_ctx_t *ctx = NULL;

	ck_assert_ok(win_init(NULL, &ctx));
	ck_assert_ptr_nonnull(ctx);
	ck_assert_ok(win_finalize(ctx));
}
END_TEST

START_TEST(init_zero_config)
{
	win_config_t cfg;
	win_ctx_t *ctx = NULL;

	memset(&cfg, 0, sizeof(cfg));
	ck_assert_ok(win_init(&cfg, &ctx));
	ck_assert_ptr_nonnull(ctx);
	ck_assert_ok(win_finalize(ctx));
}
END_TEST

START_TEST(init_null_out)
{
	win_config_t cfg;

	memset(&cfg, 0, sizeof(cfg));
	ck_assert_rc(win_init(NULL, NULL), WIN_ERR_ARG);
	ck_assert_rc(win_init(&cfg, NULL), WIN_ERR_ARG);
}
END_TEST

START_TEST(init_twice)
{
	win_ctx_t *a = NULL, *b = NULL;

	/* Two independent contexts in one process. */
	ck_assert_ok(win_init(NULL, &a));
	ck_assert_ok(win_init(NULL, &b));
	ck_assert_ptr_ne(a, b);
	ck_assert_ok(win_finalize(b));
	ck_assert_ok(win_finalize(a));
}
END_TEST

START_TEST(finalize_null)
{
	ck_assert_rc(win_finalize(NULL), WIN_ERR_HANDLE);
}
END_TEST

START_TEST(finalize_twice)
{
	win_ctx_t *ctx = NULL;
	win_ctx_t *again = NULL;

	ck_assert_ok(win_init(NULL, &ctx));
	ck_assert_ok(win_finalize(ctx));
	/*
	 * A second context is made so that memory of the first is likely
	 * to be reused; a finalized handle must still be refused.
	 */
	ck_assert_ok(win_init(NULL, &again));
	if (again != ctx)
		ck_assert_rc(win_finalize(ctx), WIN_ERR_HANDLE);
	ck_assert_ok(win_finalize(again));
}
END_TEST

START_TEST(config_transports_shm)
{
	win_config_t cfg;
	win_ctx_t *ctx = NULL;

	memset(&cfg, 0, sizeof(cfg));
	cfg.transports = "shm";
	ck_assert_ok(win_init(&cfg, &ctx));
	ck_assert_ok(win_finalize(ctx));
}
END_TEST

START_TEST(config_transports_bad)
{
	static const char *const bad[] = {
		"bogus", "shm,bogus", "SHM-", ",,", "shm;kshim",
	};
	win_config_t cfg;
	win_ctx_t *ctx;
	size_t i;

	memset(&cfg, 0, sizeof(cfg));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ctx = NULL;
		cfg.transports = bad[i];
		ck_assert_msg(win_init(&cfg, &ctx) == WIN_ERR_ARG,
			      "transports \"%s\" was accepted", bad[i]);
		if (ctx)
			win_finalize(ctx);
	}
}
END_TEST

START_TEST(config_overrides_env)
{
	win_config_t cfg;
	win_ctx_t *ctx = NULL;

	/* A field set in the config is used; the environment is not read. */
	setenv("WIN_TRANSPORTS", "bogus", 1);
	memset(&cfg, 0, sizeof(cfg));
	cfg.transports = "shm";
	ck_assert_ok(win_init(&cfg, &ctx));
	ck_assert_ok(win_finalize(ctx));

	setenv("WIN_LOG_LEVEL", "bogus", 1);
	cfg.log_level = WIN_LOG_WARN;
	ck_assert_ok(win_init(&cfg, &ctx));
	ck_assert_ok(win_finalize(ctx));

	setenv("WIN_TIMEOUT_MS", "bogus", 1);
	cfg.timeout_ms = 1000;
	ck_assert_ok(win_init(&cfg, &ctx));
	ck_assert_ok(win_finalize(ctx));
}
END_TEST

#ifdef WIN_HAVE_OFI
/* A malformed WIN_OFI_EP_TYPE leaves ofi unusable and says why. */
START_TEST(env_ofi_ep_type)
{
	win_ctx_t *ctx = NULL;
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int rc;

	setenv("WIN_OFI_EP_TYPE", "bogus", 1);
	ctx = init_env("WIN_TRANSPORTS", NULL, &rc);
	ck_assert_ok(rc);
	f = open_memstream(&text, &len);
	ck_assert_ptr_nonnull(f);
	ck_assert_ok(win_describe(ctx, f));
	fclose(f);
	ck_assert_msg(strstr(text, "WIN_OFI_EP_TYPE=bogus: expected rdm or msg"),
		      "describe did not name the bad variable:\n%s", text);
	free(text);
	ck_assert_ok(win_finalize(ctx));
	ctx = init_env("WIN_TRANSPORTS", "ofi", &rc);
	ck_assert_rc(rc, WIN_ERR_TRANSPORT);
	ck_assert_ptr_null(ctx);
	unsetenv("WIN_OFI_EP_TYPE");
}
END_TEST

/* The CPU list a thread of this process may run on, from /proc. */
static void task_cpus(const char *tid, char *out, size_t len)
{
	char path[300], line[256];
	FILE *f;

	out[0] = '\0';
	snprintf(path, sizeof(path), "/proc/self/task/%s/status", tid);
	if (!(f = fopen(path, "r")))
		return;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Cpus_allowed_list: %255s", out) == 1)
			break;
	fclose(f);
}

/* How many threads other than the calling one may run only on `cpus`. */
static int threads_on(const char *cpus)
{
	char self[32], c[256];
	struct dirent *d;
	int n = 0;
	DIR *dir;

	snprintf(self, sizeof(self), "%d", (int)gettid());
	ck_assert_ptr_nonnull(dir = opendir("/proc/self/task"));
	while ((d = readdir(dir)))
		if (d->d_name[0] != '.' && strcmp(d->d_name, self)) {
			task_cpus(d->d_name, c, sizeof(c));
			n += !strcmp(c, cpus);
		}
	closedir(dir);
	return n;
}

/*
 * ofi on `prov` (manual progress: a progress thread) over a window of one
 * process; `how` is what describe must say of the thread. The calling
 * thread, held to one CPU, puts and flushes (each flush waits) for up to
 * 2 s or until the progress thread stands by on its CPU; returns whether
 * it did. Then, with the calling thread idle, the progress thread must
 * float again within 2 s.
 */
static bool stands_by(const char *pin, const char *prov, const char *how)
{
	char cpu[16], *text = NULL;
	size_t tlen = 0;
	uint64_t v = 7;
	cpu_set_t one;
	struct self s;
	bool held = false;
	int n;
	win_t *w;
	FILE *f;

	if (pin)
		setenv("WIN_OFI_PROGRESS_PIN", pin, 1);
	else
		unsetenv("WIN_OFI_PROGRESS_PIN");
	setenv("WIN_OFI_PROVIDER", prov, 1);
	setenv("FI_TCP_IFACE", "lo", 1);
	setenv("WIN_TRANSPORTS", "ofi", 1);
	unsetenv("WIN_OFI_NODE");
	unsetenv("WIN_OFI_EP_TYPE");
	self_setup(&s, 0);
	w = self_win(&s, WIN_FLAVOR_ALLOCATE, 4096, 8, 0, NULL);
	f = open_memstream(&text, &tlen);
	ck_assert_ptr_nonnull(f);
	ck_assert_ok(win_describe(s.ctx, f));
	fclose(f);
	ck_assert_msg(strstr(text, how), "describe:\n%s", text);
	free(text);

	snprintf(cpu, sizeof(cpu), "%d", sched_getcpu());
	CPU_ZERO(&one);
	CPU_SET(atoi(cpu), &one);
	ck_assert_int_eq(sched_setaffinity(0, sizeof(one), &one), 0);
	ck_assert_ok(win_lock_all(w, 0));
	for (int i = 0; i < 20000 && !held; i++) {
		ck_assert_ok(win_put(w, &v, 8, 0, 1));
		ck_assert_ok(win_flush(w, 0));
		/* One look: the thread may float again right after. */
		if (i % 50 == 0 && (n = threads_on(cpu)) > 0) {
			ck_assert_int_eq(n, 1);
			held = true;
		}
	}
	ck_assert_ok(win_unlock_all(w));
	/* Idle: it floats over the process's CPUs again. */
	for (int i = 0; i < 200 && threads_on(cpu); i++)
		usleep(10000);
	ck_assert_msg(!threads_on(cpu), "the progress thread is still held "
		      "to CPU %s 2 s after the last wait", cpu);
	ck_assert_ok(win_free(w));
	self_teardown(&s);
	unsetenv("WIN_OFI_PROGRESS_PIN");
	return held;
}

/* With one CPU every thread is "held" to it: nothing to tell apart. */
static bool one_cpu(void)
{
	cpu_set_t cpus;

	ck_assert_int_eq(sched_getaffinity(0, sizeof(cpus), &cpus), 0);
	if (CPU_COUNT(&cpus) >= 2)
		return false;
	fprintf(stderr, "test-init: ofi progress-thread placement not "
		"checked: this process may run on one CPU only\n");
	return true;
}

/* While the caller waits, the progress thread stands by on its CPU. */
START_TEST(ofi_progress_stands_by)
{
	if (one_cpu())
		return;
	ck_assert_msg(stands_by(NULL, "tcp", "progress thread: sleeps in "
				"fi_cq_sread (fd wait object), on the waiting "
				"caller's CPU while callers wait"),
		      "the progress thread was never held to the waiting "
		      "caller's CPU");
}
END_TEST

/* WIN_OFI_PROGRESS_PIN=0: it stays on any of the process's CPUs. */
START_TEST(ofi_progress_floats)
{
	if (one_cpu())
		return;
	ck_assert_msg(!stands_by("0", "tcp", "progress thread: sleeps in "
				 "fi_cq_sread (fd wait object), on any of the "
				 "process's CPUs"), "WIN_OFI_PROGRESS_PIN=0, yet "
		      "the progress thread was held to the caller's CPU");
}
END_TEST

/*
 * shm has no fd wait object: the thread polls, counts the operations it
 * serves for peers (FI_RMA_EVENT), and is never held to the caller's CPU.
 */
START_TEST(ofi_progress_polling_floats)
{
	if (one_cpu())
		return;
	ck_assert_msg(!stands_by(NULL, "shm", "progress thread: polls with "
				 "backoff (no fd wait object), kept polling "
				 "by peers' operations (FI_RMA_EVENT counter), "
				 "on any of the process's CPUs (a polling "
				 "thread is never held"),
		      "a polling progress thread was held to the caller's "
		      "CPU");
}
END_TEST
#endif

START_TEST(config_log_level)
{
	win_config_t cfg;
	win_ctx_t *ctx = NULL;
	int lvl;

	memset(&cfg, 0, sizeof(cfg));
	for (lvl = WIN_LOG_ERROR; lvl <= WIN_LOG_DEBUG; lvl++) {
		cfg.log_level = lvl;
		ck_assert_ok(win_init(&cfg, &ctx));
		ck_assert_ok(win_finalize(ctx));
	}
	cfg.log_level = 5;
	ck_assert_rc(win_init(&cfg, &ctx), WIN_ERR_ARG);
	cfg.log_level = -1;
	ck_assert_rc(win_init(&cfg, &ctx), WIN_ERR_ARG);
}
END_TEST

START_TEST(config_timeout_bad)
{
	win_config_t cfg;
	win_ctx_t *ctx = NULL;

	memset(&cfg, 0, sizeof(cfg));
	cfg.timeout_ms = -5;
	ck_assert_rc(win_init(&cfg, &ctx), WIN_ERR_ARG);
}
END_TEST

START_TEST(env_transports)
{
	win_ctx_t *ctx;
	int rc;

	ctx = init_env("WIN_TRANSPORTS", "shm", &rc);
	ck_assert_rc(rc, WIN_OK);
	ck_assert_ok(win_finalize(ctx));

	ctx = init_env("WIN_TRANSPORTS", "bogus", &rc);
	ck_assert_rc(rc, WIN_ERR_ARG);
	ctx = init_env("WIN_TRANSPORTS", "shm,nonsense", &rc);
	ck_assert_rc(rc, WIN_ERR_ARG);
	(void)ctx;
}
END_TEST

START_TEST(env_log_level)
{
	static const char *const good[] = {
		"0", "1", "2", "3", "4", "none", "error", "warn", "info",
		"debug",
	};
	static const char *const bad[] = {
		"5", "-1", "loud", "debugx", "2x",
	};
	win_ctx_t *ctx;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ctx = init_env("WIN_LOG_LEVEL", good[i], &rc);
		ck_assert_msg(rc == WIN_OK, "WIN_LOG_LEVEL=%s: %s (%s)",
			      good[i], rc_name(rc), win_last_error());
		ck_assert_ok(win_finalize(ctx));
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ctx = init_env("WIN_LOG_LEVEL", bad[i], &rc);
		ck_assert_msg(rc == WIN_ERR_ARG,
			      "WIN_LOG_LEVEL=%s: got %s, expected WIN_ERR_ARG",
			      bad[i], rc_name(rc));
		if (rc == WIN_OK)
			win_finalize(ctx);
	}
}
END_TEST

START_TEST(env_timeout)
{
	win_ctx_t *ctx;
	int rc;

	ctx = init_env("WIN_TIMEOUT_MS", "2500", &rc);
	ck_assert_rc(rc, WIN_OK);
	ck_assert_ok(win_finalize(ctx));
	ctx = init_env("WIN_TIMEOUT_MS", "soon", &rc);
	ck_assert_rc(rc, WIN_ERR_ARG);
	ctx = init_env("WIN_TIMEOUT_MS", "-3", &rc);
	ck_assert_rc(rc, WIN_ERR_ARG);
	(void)ctx;
}
END_TEST

START_TEST(strerror_all)
{
	const char *s[17];
	int i, j;

	for (i = 0; i <= 16; i++) {
		s[i] = win_strerror(-i);
		ck_assert_ptr_nonnull(s[i]);
		ck_assert_msg(s[i][0] != '\0', "empty string for %d", -i);
	}
	for (i = 0; i <= 16; i++)
		for (j = i + 1; j <= 16; j++)
			ck_assert_msg(strcmp(s[i], s[j]) != 0,
				      "codes %d and %d share \"%s\"", -i, -j,
				      s[i]);
}
END_TEST

START_TEST(strerror_unknown)
{
	static const int codes[] = { 1, 7, -17, -100, 12345, -2147483647 - 1 };
	size_t i;

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		ck_assert_ptr_nonnull(win_strerror(codes[i]));
}
END_TEST

START_TEST(last_error)
{
	win_ctx_t *ctx = NULL;
	const char *msg;

	ck_assert_ptr_nonnull(win_last_error());
	ck_assert_rc(win_init(NULL, NULL), WIN_ERR_ARG);
	msg = win_last_error();
	ck_assert_ptr_nonnull(msg);
	ck_assert_msg(msg[0] != '\0', "no message after a failure");
	ck_assert_ok(win_init(NULL, &ctx));
	ck_assert_ptr_nonnull(win_last_error());
	ck_assert_ok(win_finalize(ctx));
}
END_TEST

START_TEST(datatype_size)
{
	ck_assert_uint_eq(win_datatype_size(WIN_INT32), 4);
	ck_assert_uint_eq(win_datatype_size(WIN_INT64), 8);
	ck_assert_uint_eq(win_datatype_size(WIN_UINT32), 4);
	ck_assert_uint_eq(win_datatype_size(WIN_UINT64), 8);
	ck_assert_uint_eq(win_datatype_size(WIN_FLOAT), 4);
	ck_assert_uint_eq(win_datatype_size(WIN_DOUBLE), 8);
	ck_assert_uint_eq(win_datatype_size((win_datatype_t)0), 0);
	ck_assert_uint_eq(win_datatype_size((win_datatype_t)7), 0);
	ck_assert_uint_eq(win_datatype_size((win_datatype_t)-1), 0);
}
END_TEST

static Suite *init_suite(void)
{
	Suite *s = suite_create("init");
	TCase *tc;

	tc = tcase_create("context");
	tcase_add_test(tc, init_default);
	tcase_add_test(tc, init_zero_config);
	tcase_add_test(tc, init_null_out);
	tcase_add_test(tc, init_twice);
	tcase_add_test(tc, finalize_null);
	tcase_add_test(tc, finalize_twice);
	suite_add_tcase(s, tc);

	tc = tcase_create("config");
	tcase_add_test(tc, config_transports_shm);
	tcase_add_test(tc, config_transports_bad);
	tcase_add_test(tc, config_overrides_env);
	tcase_add_test(tc, config_log_level);
	tcase_add_test(tc, config_timeout_bad);
	tcase_add_test(tc, env_transports);
	tcase_add_test(tc, env_log_level);
	tcase_add_test(tc, env_timeout);
#ifdef WIN_HAVE_OFI
	tcase_add_test(tc, env_ofi_ep_type);
	tcase_add_test(tc, ofi_progress_stands_by);
	tcase_add_test(tc, ofi_progress_polling_floats);
	tcase_add_test(tc, ofi_progress_floats);
#endif
	suite_add_tcase(s, tc);

	tc = tcase_create("strings");
	tcase_add_test(tc, strerror_all);
	tcase_add_test(tc, strerror_unknown);
	tcase_add_test(tc, last_error);
	tcase_add_test(tc, datatype_size);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite("init", init_suite());
}
