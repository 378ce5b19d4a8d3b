/*
 * Helpers shared by the libwin test programs.
 */
#ifndef LIBWIN_TESTS_COMMON_H
#define LIBWIN_TESTS_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <check.h>

#include "win.h"

/* Symbolic name of a status code ("WIN_ERR_SYNC"), or "unknown". */
const char *rc_name(int rc);

/* A group name no other test (or concurrent test program) uses. */
void unique_name(char *buf, size_t len, const char *tag);

/* Monotonic clock in milliseconds. */
long long now_ms(void);

/*
 * Run the suite with CK_NORMAL, print the summary on stdout (and on file
 * descriptor 9 when the automake harness provides it) and return the exit
 * status for main().
 */
int run_suite(const char *name, Suite *s);

/* True when WIN_TRANSPORTS is unset or lists `name`. */
int transport_allowed(const char *name);

#define ck_assert_rc(expr, want)                                          \
	do {                                                               \
		int rc_ = (expr);                                          \
		int want_ = (want);                                        \
		ck_assert_msg(rc_ == want_,                                \
			      "%s: got %s (%d), expected %s (%d); "        \
			      "last error: %s",                            \
			      #expr, rc_name(rc_), rc_, rc_name(want_),    \
			      want_, win_last_error());                    \
	} while (0)

/* Either of two codes is acceptable (the contract leaves the choice). */
#define ck_assert_rc2(expr, a, b)                                         \
	do {                                                               \
		int rc_ = (expr);                                          \
		ck_assert_msg(rc_ == (a) || rc_ == (b),                    \
			      "%s: got %s (%d), expected %s or %s; "       \
			      "last error: %s",                            \
			      #expr, rc_name(rc_), rc_, rc_name(a),        \
			      rc_name(b), win_last_error());               \
	} while (0)

#define ck_assert_ok(expr) ck_assert_rc(expr, WIN_OK)


/* ---- reference arithmetic for the atomic operations ---- */

/* Large enough for one element of any datatype. */
typedef union elem {
	int32_t i32;
	int64_t i64;
	uint32_t u32;
	uint64_t u64;
	float f;
	double d;
	unsigned char bytes[8];
} elem_t;

#define NTYPES 6
#define NOPS 9
extern const win_datatype_t all_types[NTYPES];
extern const win_op_t all_ops[NOPS];

const char *type_name(win_datatype_t t);
const char *op_name(win_op_t op);
/* Whether `op` is defined on `t` (bitwise ops need an integer type). */
int op_valid(win_datatype_t t, win_op_t op);
/* Store the number v into an element of type t. */
void elem_set(win_datatype_t t, elem_t *e, double v);
/* Element as a double (for messages). */
double elem_get(win_datatype_t t, const elem_t *e);
/* Bitwise equality of the first win_datatype_size(t) bytes. */
int elem_eq(win_datatype_t t, const void *a, const void *b);
/* *acc = *acc OP *operand, as the library must compute it. */
void elem_apply(win_datatype_t t, win_op_t op, void *acc,
		const void *operand);

#endif /* LIBWIN_TESTS_COMMON_H */
