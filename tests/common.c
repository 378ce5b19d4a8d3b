/*
 * Helpers shared by the libwin test programs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

const char *rc_name(int rc)
{
	switch (rc) {
	case WIN_OK: return "WIN_OK";
	case WIN_ERR_ARG: return "WIN_ERR_ARG";
	case WIN_ERR_RANK: return "WIN_ERR_RANK";
	case WIN_ERR_DISP: return "WIN_ERR_DISP";
	case WIN_ERR_LENGTH: return "WIN_ERR_LENGTH";
	case WIN_ERR_DATATYPE: return "WIN_ERR_DATATYPE";
	case WIN_ERR_OP: return "WIN_ERR_OP";
	case WIN_ERR_SYNC: return "WIN_ERR_SYNC";
	case WIN_ERR_HANDLE: return "WIN_ERR_HANDLE";
	case WIN_ERR_NOMEM: return "WIN_ERR_NOMEM";
	case WIN_ERR_SYS: return "WIN_ERR_SYS";
	case WIN_ERR_PERM: return "WIN_ERR_PERM";
	case WIN_ERR_PEER: return "WIN_ERR_PEER";
	case WIN_ERR_TIMEOUT: return "WIN_ERR_TIMEOUT";
	case WIN_ERR_UNSUPPORTED: return "WIN_ERR_UNSUPPORTED";
	case WIN_ERR_TRANSPORT: return "WIN_ERR_TRANSPORT";
	case WIN_ERR_MISMATCH: return "WIN_ERR_MISMATCH";
	}
	return "unknown";
}

void unique_name(char *buf, size_t len, const char *tag)
{
	static unsigned counter;
	struct timespec ts;

	/* The time keeps names apart when process ids are reused. */
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(buf, len, "wt-%s-%ld-%u-%lx", tag, (long)getpid(),
		 ++counter, (unsigned long)(ts.tv_sec * 1000000000L +
					    ts.tv_nsec));
}

long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int transport_allowed(const char *name)
{
	const char *env = getenv("WIN_TRANSPORTS");
	const char *p;
	size_t n = strlen(name);

	if (!env || !*env)
		return 1;
	for (p = env; p; p = strchr(p, ',')) {
		if (*p == ',')
			p++;
		while (*p == ' ')
			p++;
		if (!strncmp(p, name, n) && (p[n] == ',' || p[n] == '\0' ||
					     p[n] == ' '))
			return 1;
	}
	return 0;
}

/* File descriptor 9 reaches the terminal under automake's harness. */
static FILE *summary_stream(void)
{
	int fd;

	if (fcntl(9, F_GETFD) < 0)
		return NULL;
	fd = dup(9);
	if (fd < 0)
		return NULL;
	return fdopen(fd, "w");
}

int run_suite(const char *name, Suite *s)
{
	SRunner *sr = srunner_create(s);
	TestResult **fails;
	FILE *out;
	int nbad, nrun, nerr = 0, i;

	/*
	 * Open and close one context here, in the parent of every test:
	 * the forked tests and their members inherit the transports'
	 * one-time library start-up (libfabric initializes all of its
	 * built-in providers in every process, 1-3 s on a loaded machine)
	 * instead of each paying for it again. Only a speed-up: members
	 * meet at the harness's start line after win_init, so a slow
	 * start-up never counts against a test's library timeout. Not
	 * with libfabric's verbs provider: its fi_getinfo opens the RDMA
	 * devices and keeps them for the process's later domains, and
	 * the kernel refuses a forked child's use of its parent's device
	 * files ("changed security contexts"), so the tests would hang.
	 */
	const char *prov = getenv("WIN_OFI_PROVIDER");

	if (!prov || strncmp(prov, "verbs", 5)) {
		win_ctx_t *warm;

		if (win_init(NULL, &warm) == WIN_OK)
			win_finalize(warm);
	}
	fflush(stdout);
	srunner_run_all(sr, CK_ENV);
	nbad = srunner_ntests_failed(sr);
	nrun = srunner_ntests_run(sr);
	fails = srunner_failures(sr);
	for (i = 0; fails && i < nbad; i++)
		if (tr_rtype(fails[i]) == CK_ERROR)
			nerr++;

	out = summary_stream();
	if (out) {
		for (i = 0; fails && i < nbad; i++)
			fprintf(out, "  %s %s:%d: %s: %s\n",
				tr_rtype(fails[i]) == CK_ERROR ? "ERROR"
							       : "FAIL",
				tr_lfile(fails[i]), tr_lno(fails[i]),
				tr_tcname(fails[i]), tr_msg(fails[i]));
		fprintf(out, "Suite %s\n%d%%: Checks: %d, Failures: %d, "
			"Errors: %d\n", name,
			nrun ? 100 * (nrun - nbad) / nrun : 0, nrun,
			nbad - nerr, nerr);
		fclose(out);
	}
	free(fails);
	srunner_free(sr);
	return nbad ? EXIT_FAILURE : EXIT_SUCCESS;
}

const win_datatype_t all_types[NTYPES] = {
	WIN_INT32, WIN_INT64, WIN_UINT32, WIN_UINT64, WIN_FLOAT, WIN_DOUBLE,
};

const win_op_t all_ops[NOPS] = {
	WIN_OP_SUM, WIN_OP_PROD, WIN_OP_MIN, WIN_OP_MAX, WIN_OP_BAND,
	WIN_OP_BOR, WIN_OP_BXOR, WIN_OP_REPLACE, WIN_OP_NO_OP,
};

const char *type_name(win_datatype_t t)
{
	switch (t) {
	case WIN_INT32: return "int32";
	case WIN_INT64: return "int64";
	case WIN_UINT32: return "uint32";
	case WIN_UINT64: return "uint64";
	case WIN_FLOAT: return "float";
	case WIN_DOUBLE: return "double";
	}
	return "?";
}

const char *op_name(win_op_t op)
{
	switch (op) {
	case WIN_OP_SUM: return "sum";
	case WIN_OP_PROD: return "prod";
	case WIN_OP_MIN: return "min";
	case WIN_OP_MAX: return "max";
	case WIN_OP_BAND: return "band";
	case WIN_OP_BOR: return "bor";
	case WIN_OP_BXOR: return "bxor";
	case WIN_OP_REPLACE: return "replace";
	case WIN_OP_NO_OP: return "no_op";
	}
	return "?";
}

int op_valid(win_datatype_t t, win_op_t op)
{
	int bitwise = op == WIN_OP_BAND || op == WIN_OP_BOR ||
		      op == WIN_OP_BXOR;

	return !(bitwise && (t == WIN_FLOAT || t == WIN_DOUBLE));
}

void elem_set(win_datatype_t t, elem_t *e, double v)
{
	memset(e, 0, sizeof(*e));
	switch (t) {
	case WIN_INT32: e->i32 = (int32_t)v; break;
	case WIN_INT64: e->i64 = (int64_t)v; break;
	case WIN_UINT32: e->u32 = (uint32_t)v; break;
	case WIN_UINT64: e->u64 = (uint64_t)v; break;
	case WIN_FLOAT: e->f = (float)v; break;
	case WIN_DOUBLE: e->d = v; break;
	}
}

double elem_get(win_datatype_t t, const elem_t *e)
{
	switch (t) {
	case WIN_INT32: return e->i32;
	case WIN_INT64: return (double)e->i64;
	case WIN_UINT32: return e->u32;
	case WIN_UINT64: return (double)e->u64;
	case WIN_FLOAT: return e->f;
	case WIN_DOUBLE: return e->d;
	}
	return 0;
}

int elem_eq(win_datatype_t t, const void *a, const void *b)
{
	return memcmp(a, b, win_datatype_size(t)) == 0;
}

#define APPLY(acc, x, op)                                                 \
	do {                                                               \
		switch (op) {                                              \
		case WIN_OP_SUM: acc = acc + x; break;                     \
		case WIN_OP_PROD: acc = acc * x; break;                    \
		case WIN_OP_MIN: acc = x < acc ? x : acc; break;           \
		case WIN_OP_MAX: acc = x > acc ? x : acc; break;           \
		case WIN_OP_REPLACE: acc = x; break;                       \
		default: break;                                            \
		}                                                          \
	} while (0)

#define APPLY_BITS(acc, x, op)                                            \
	do {                                                               \
		switch (op) {                                              \
		case WIN_OP_BAND: acc = acc & x; break;                    \
		case WIN_OP_BOR: acc = acc | x; break;                     \
		case WIN_OP_BXOR: acc = acc ^ x; break;                    \
		default: APPLY(acc, x, op); break;                         \
		}                                                          \
	} while (0)

void elem_apply(win_datatype_t t, win_op_t op, void *accp,
		const void *operandp)
{
	elem_t acc, x;
	size_t n = win_datatype_size(t);

	memcpy(&acc, accp, n);
	memcpy(&x, operandp, n);
	switch (t) {
	case WIN_INT32:
		/* Wrap like the hardware does, without signed overflow. */
		if (op == WIN_OP_SUM || op == WIN_OP_PROD) {
			uint32_t a = (uint32_t)acc.i32, b = (uint32_t)x.i32;

			APPLY(a, b, op);
			acc.i32 = (int32_t)a;
		} else {
			APPLY_BITS(acc.i32, x.i32, op);
		}
		break;
	case WIN_INT64:
		if (op == WIN_OP_SUM || op == WIN_OP_PROD) {
			uint64_t a = (uint64_t)acc.i64, b = (uint64_t)x.i64;

			APPLY(a, b, op);
			acc.i64 = (int64_t)a;
		} else {
			APPLY_BITS(acc.i64, x.i64, op);
		}
		break;
	case WIN_UINT32: APPLY_BITS(acc.u32, x.u32, op); break;
	case WIN_UINT64: APPLY_BITS(acc.u64, x.u64, op); break;
	case WIN_FLOAT: APPLY(acc.f, x.f, op); break;
	case WIN_DOUBLE: APPLY(acc.d, x.d, op); break;
	}
	memcpy(accp, &acc, n);
}
