/*
 * WIN_OPT_ENFORCE_DONT_TOUCH on allocated windows: the owner's direct
 * loads and stores fault (SIGSEGV, SEGV_ACCERR) during exposure epochs
 * (fence .. fence, post .. wait) and work again afterwards; put/get to the
 * owner's own rank work throughout.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "self.h"

#define WSIZE 8192

static sigjmp_buf fault_jmp;
static volatile sig_atomic_t fault_code;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	fault_code = si->si_code;
	siglongjmp(fault_jmp, 1);
}

static void catch_segv(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGSEGV, &sa, NULL), 0);
}

/* 0 when the store went through, else the si_code of the fault. */
static int try_store(volatile unsigned char *p, unsigned char v)
{
	fault_code = 0;
	if (sigsetjmp(fault_jmp, 1))
		return fault_code ? fault_code : -1;
	*p = v;
	return 0;
}

static int try_load(volatile unsigned char *p, unsigned char *v)
{
	fault_code = 0;
	if (sigsetjmp(fault_jmp, 1))
		return fault_code ? fault_code : -1;
	*v = *p;
	return 0;
}

static win_t *open_enforced(struct self *s, unsigned char **base)
{
	void *b = NULL;
	win_t *w;

	w = self_win(s, WIN_FLAVOR_ALLOCATE, WSIZE, 1,
		     WIN_OPT_ENFORCE_DONT_TOUCH, &b);
	*base = b;
	return w;
}

static void expect_fault(unsigned char *b, size_t off, const char *when)
{
	unsigned char v;
	int rc;

	rc = try_store(b + off, 0x5a);
	ck_assert_msg(rc == SEGV_ACCERR,
		      "%s: a store at offset %zu %s", when, off,
		      rc == 0 ? "did not fault" : "faulted, not SEGV_ACCERR");
	rc = try_load(b + off, &v);
	ck_assert_msg(rc == SEGV_ACCERR,
		      "%s: a load at offset %zu %s", when, off,
		      rc == 0 ? "did not fault" : "faulted, not SEGV_ACCERR");
}

static void expect_access(unsigned char *b, size_t off, const char *when)
{
	unsigned char v = 0;

	ck_assert_msg(try_load(b + off, &v) == 0, "%s: load faulted", when);
	ck_assert_msg(try_store(b + off, v) == 0, "%s: store faulted", when);
}

START_TEST(fence_epoch)
{
	unsigned char src[64], dst[64], *b, v = 0;
	struct self s;
	win_t *w;

	catch_segv();
	self_setup(&s, 0);
	w = open_enforced(&s, &b);
	expect_access(b, 0, "before the epoch");
	b[100] = 0x11; /* outside any epoch: fine */

	ck_assert_ok(win_fence(w, 0));
	expect_fault(b, 0, "in a fence epoch");
	expect_fault(b, WSIZE - 1, "in a fence epoch");
	/* The owner's accesses through the library still work. */
	memset(src, 0x77, sizeof(src));
	ck_assert_ok(win_put(w, src, sizeof(src), 0, 200));
	ck_assert_ok(win_get(w, dst, 1, 0, 100));
	ck_assert_ok(win_fence(w, 0));
	expect_fault(b, 4096, "in the next fence epoch");
	ck_assert_ok(win_get(w, dst, sizeof(dst), 0, 200));
	ck_assert_ok(win_fence(w, WIN_MODE_NOSUCCEED));

	ck_assert_mem_eq(dst, src, sizeof(src));
	ck_assert_msg(try_load(b + 200, &v) == 0, "load faulted after fence");
	ck_assert_int_eq(v, 0x77);
	ck_assert_int_eq(b[100], 0x11);
	ck_assert_msg(try_store(b + 300, 0x22) == 0,
		      "store faulted after the epoch");
	expect_access(b, WSIZE - 1, "after the epoch");

	/* The direct store is seen by the next epoch's get. */
	ck_assert_ok(win_fence(w, 0));
	ck_assert_ok(win_get(w, &v, 1, 0, 300));
	ck_assert_ok(win_fence(w, WIN_MODE_NOSUCCEED));
	ck_assert_int_eq(v, 0x22);
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

START_TEST(post_wait_epoch)
{
	static const int me[1] = { 0 };
	unsigned char src[32], dst[32], *b;
	struct self s;
	int done = 0;
	win_t *w;

	catch_segv();
	self_setup(&s, 0);
	w = open_enforced(&s, &b);
	memset(src, 0x3c, sizeof(src));

	ck_assert_ok(win_post(w, me, 1, 0));
	expect_fault(b, 10, "between post and wait");
	ck_assert_ok(win_start(w, me, 1, 0));
	ck_assert_ok(win_put(w, src, sizeof(src), 0, 64));
	ck_assert_ok(win_complete(w));
	expect_fault(b, 64, "after complete, before wait");
	ck_assert_ok(win_wait(w));
	expect_access(b, 10, "after wait");
	ck_assert_mem_eq(b + 64, src, sizeof(src));

	/* Ended by win_test() instead. */
	ck_assert_ok(win_post(w, me, 1, 0));
	expect_fault(b, 64, "between post and test");
	ck_assert_ok(win_start(w, me, 1, 0));
	ck_assert_ok(win_get(w, dst, sizeof(dst), 0, 64));
	ck_assert_ok(win_complete(w));
	while (!done)
		ck_assert_ok(win_test(w, &done));
	expect_access(b, 64, "after test reported done");
	ck_assert_mem_eq(dst, src, sizeof(src));
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

START_TEST(empty_fence_then_lock)
{
	unsigned char *b;
	struct self s;
	win_t *w;

	catch_segv();
	self_setup(&s, 0);
	w = open_enforced(&s, &b);
	ck_assert_ok(win_fence(w, 0));
	expect_fault(b, 0, "in an empty fence epoch");
	/* win_lock_all closes the empty fence epoch. */
	ck_assert_ok(win_lock_all(w, 0));
	ck_assert_ok(win_unlock_all(w));
	expect_access(b, 0, "after the fence epoch was closed by lock_all");
	ck_assert_ok(win_fence(w, 0));
	ck_assert_ok(win_free(w)); /* closes it too */
	self_teardown(&s);
}
END_TEST

START_TEST(passive_does_not_revoke)
{
	unsigned char *b;
	struct self s;
	win_t *w;

	catch_segv();
	self_setup(&s, 0);
	w = open_enforced(&s, &b);
	ck_assert_ok(win_lock(w, WIN_LOCK_EXCLUSIVE, 0, 0));
	ck_assert_ok(win_unlock(w, 0));
	ck_assert_ok(win_lock_all(w, 0));
	ck_assert_ok(win_unlock_all(w));
	expect_access(b, 0, "after passive epochs");
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

START_TEST(not_enforced)
{
	unsigned char *b;
	void *base = NULL;
	struct self s;
	win_t *w;

	catch_segv();
	self_setup(&s, 0);
	w = self_win(&s, WIN_FLAVOR_ALLOCATE, WSIZE, 1, 0, &base);
	b = base;
	ck_assert_ok(win_fence(w, 0));
	expect_access(b, 0, "fence epoch without enforcement");
	ck_assert_ok(win_fence(w, WIN_MODE_NOSUCCEED));
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

START_TEST(repeated)
{
	unsigned char *b, v;
	struct self s;
	win_t *w;
	int k;

	catch_segv();
	self_setup(&s, 0);
	w = open_enforced(&s, &b);
	for (k = 0; k < 50; k++) {
		v = (unsigned char)k;
		ck_assert_ok(win_fence(w, 0));
		ck_assert_msg(try_store(b + k, 1) == SEGV_ACCERR,
			      "epoch %d: store did not fault", k);
		ck_assert_ok(win_put(w, &v, 1, 0, k));
		ck_assert_ok(win_fence(w, WIN_MODE_NOSUCCEED));
		ck_assert_msg(try_load(b + k, &v) == 0,
			      "epoch %d: load after the epoch faulted", k);
		ck_assert_int_eq(v, k);
	}
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

static Suite *dont_touch_suite(void)
{
	Suite *s = suite_create("dont-touch");
	TCase *tc = tcase_create("enforce");

	tcase_add_test(tc, fence_epoch);
	tcase_add_test(tc, post_wait_epoch);
	tcase_add_test(tc, empty_fence_then_lock);
	tcase_add_test(tc, passive_does_not_revoke);
	tcase_add_test(tc, not_enforced);
	tcase_add_test(tc, repeated);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite("dont-touch", dont_touch_suite());
}
