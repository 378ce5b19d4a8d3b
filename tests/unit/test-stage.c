/*
 * Staged (double-buffered) puts: win_stage_alloc, win_put_staged,
 * win_stage_free on a group of one member, created and allocated windows
 * (loop iteration 0: create, 1: allocate). On kshim the staged pages are
 * handed to the kernel (moved into allocated windows when page-aligned);
 * elsewhere a staged put is a put. Either way the data must arrive.
 * cross_process: two processes stage puts into each other's windows
 * (allocated; created page-aligned, which kshim maps; created unaligned,
 * which kshim reaches through the module), the target checks.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "self.h"
#include "mp/harness.h"

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed * 13 + i * 5 + 3);
}

static void expect(const unsigned char *p, size_t n, unsigned seed,
		   const char *what)
{
	size_t i;

	/* One assertion per buffer: Check records every one it passes. */
	for (i = 0; i < n; i++)
		if (p[i] != (unsigned char)(seed * 13 + i * 5 + 3))
			break;
	ck_assert_msg(i == n, "%s: byte %zu is %u, expected %u", what, i,
		      i < n ? p[i] : 0,
		      (unsigned char)(seed * 13 + i * 5 + 3));
}

/* Whole pages, page-aligned at the target, reused at once. */
START_TEST(pages_reused_at_once)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), wsize = 8 * pg;
	unsigned char *buf, *got = malloc(wsize);
	struct self s;
	void *base, *b;
	win_t *w;

	ck_assert_ptr_nonnull(got);
	self_setup(&s, 0);
	w = self_win(&s, loop_flavor(_i), wsize, 1, 0, &base);
	ck_assert_ok(win_stage_alloc(w, 4 * pg, &b));
	buf = b;
	ck_assert_msg(((uintptr_t)buf % pg) == 0, "staging buffer %p is not "
		      "page-aligned", (void *)buf);
	ck_assert_ok(win_fence(w, 0));
	fill(buf, 4 * pg, 1);
	ck_assert_ok(win_put_staged(w, buf, 4 * pg, 0, 0));
	/* The buffer is reusable at once: fill it again, stage again. */
	fill(buf, 4 * pg, 2);
	ck_assert_ok(win_put_staged(w, buf, 4 * pg, 0, 4 * pg));
	ck_assert_ok(win_fence(w, 0));
	ck_assert_ok(win_get(w, got, wsize, 0, 0));
	ck_assert_ok(win_fence(w, WIN_MODE_NOSUCCEED));
	expect(got, 4 * pg, 1, "first staged put");
	expect(got + 4 * pg, 4 * pg, 2, "second staged put");
	ck_assert_ok(win_stage_free(w, buf));
	ck_assert_ok(win_free(w));
	self_teardown(&s);
	free(got);
}
END_TEST

/* Unaligned pieces, parts of a buffer, under a lock and flush. */
START_TEST(partial_and_unaligned)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), wsize = 3 * pg;
	unsigned char *buf, got[300];
	struct self s;
	void *base, *b;
	win_t *w;

	self_setup(&s, 0);
	w = self_win(&s, loop_flavor(_i), wsize, 4, 0, &base);
	ck_assert_ok(win_stage_alloc(w, 1000, &b));
	buf = b;
	ck_assert_ok(win_lock(w, WIN_LOCK_EXCLUSIVE, 0, 0));
	fill(buf + 17, 300, 3);
	ck_assert_ok(win_put_staged(w, buf + 17, 300, 0, 5)); /* byte 20 */
	ck_assert_ok(win_put_staged(w, buf, 0, 0, 0));
	ck_assert_ok(win_flush(w, 0));
	ck_assert_ok(win_get(w, got, sizeof(got), 0, 5));
	expect(got, sizeof(got), 3, "unaligned staged put");
	ck_assert_ok(win_unlock(w, 0));
	ck_assert_ok(win_stage_free(w, buf));
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

START_TEST(errors)
{
	unsigned char plain[64];
	struct self s;
	void *base, *b, *b2 = NULL;
	win_t *w, *w2;

	self_setup(&s, 0);
	w = self_win(&s, loop_flavor(_i), 4096, 1, 0, &base);
	w2 = self_win(&s, loop_flavor(_i), 4096, 1, 0, &base);
	ck_assert_rc(win_stage_alloc(w, 0, &b), WIN_ERR_LENGTH);
	ck_assert_rc(win_stage_alloc(w, 64, NULL), WIN_ERR_ARG);
	ck_assert_rc(win_stage_alloc(NULL, 64, &b), WIN_ERR_HANDLE);
	ck_assert_ok(win_stage_alloc(w, 64, &b));
	ck_assert_ok(win_stage_alloc(w2, 64, &b2));
	/* No epoch yet. */
	ck_assert_rc(win_put_staged(w, b, 64, 0, 0), WIN_ERR_SYNC);
	ck_assert_ok(win_fence(w, 0));
	/* Not a staging buffer, another window's, running past its end. */
	ck_assert_rc(win_put_staged(w, plain, 64, 0, 0), WIN_ERR_ARG);
	ck_assert_rc(win_put_staged(w, b2, 64, 0, 0), WIN_ERR_ARG);
	ck_assert_rc(win_put_staged(w, (char *)b + 1, 64, 0, 0),
		     WIN_ERR_ARG);
	ck_assert_rc(win_put_staged(w, b, 64, 1, 0), WIN_ERR_RANK);
	ck_assert_rc(win_put_staged(w, b, 64, 0, 4090), WIN_ERR_LENGTH);
	ck_assert_rc(win_put_staged(w, b, 64, 0, 5000), WIN_ERR_DISP);
	ck_assert_ok(win_fence(w, WIN_MODE_NOSUCCEED));
	ck_assert_rc(win_stage_free(w, plain), WIN_ERR_ARG);
	ck_assert_rc(win_stage_free(w, b2), WIN_ERR_ARG);
	ck_assert_ok(win_stage_free(w, NULL));
	ck_assert_ok(win_stage_free(w, b));
	ck_assert_rc(win_stage_free(w, b), WIN_ERR_ARG);
	/* b2 is released with its window. */
	ck_assert_ok(win_free(w2));
	ck_assert_rc(win_stage_alloc(w2, 64, &b), WIN_ERR_HANDLE);
	ck_assert_ok(win_free(w));
	self_teardown(&s);
}
END_TEST

/* Many buffers at once, freed in another order. */
START_TEST(many_buffers)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	unsigned char got[64];
	struct self s;
	void *base, *b[16];
	win_t *w;

	self_setup(&s, 0);
	w = self_win(&s, loop_flavor(_i), 16 * 64, 1, 0, &base);
	ck_assert_ok(win_fence(w, 0));
	for (int i = 0; i < 16; i++) {
		ck_assert_ok(win_stage_alloc(w, i % 3 ? 64 : 2 * pg, &b[i]));
		for (int j = 0; j < i; j++)
			ck_assert_ptr_ne(b[i], b[j]);
		fill(b[i], 64, (unsigned)i + 10);
		ck_assert_ok(win_put_staged(w, b[i], 64, 0, (size_t)i * 64));
	}
	for (int i = 15; i >= 0; i -= 2)
		ck_assert_ok(win_stage_free(w, b[i]));
	ck_assert_ok(win_fence(w, 0));
	for (int i = 0; i < 16; i++) {
		ck_assert_ok(win_get(w, got, 64, 0, (size_t)i * 64));
		expect(got, 64, (unsigned)i + 10, "one of many staged puts");
	}
	ck_assert_ok(win_fence(w, WIN_MODE_NOSUCCEED));
	ck_assert_ok(win_free(w)); /* frees the rest */
	self_teardown(&s);
}
END_TEST

/* Iteration 0: allocated; 1: created page-aligned; 2: created unaligned. */
static void body_cross(struct mp_env *e)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), wsize = 8 * pg;
	int peer = 1 - e->rank, kind = *(int *)e->arg;
	unsigned char *buf, *mine, *got = malloc(wsize);
	void *base, *b, *mem = NULL;
	win_t *w;

	CHECK(got, "out of memory");
	if (kind == 0) {
		w = mp_win(e, WIN_FLAVOR_ALLOCATE, wsize, 1, 0, &base);
	} else {
		size_t shift = kind == 1 ? 0 : 64;

		CHECK(posix_memalign(&mem, pg, wsize + pg) == 0,
		      "out of memory");
		base = (char *)mem + shift;
		memset(base, 0, wsize);
		CHECK_OK(win_create(e->group, base, wsize, 1, NULL, &w));
	}
	mine = base;
	CHECK_OK(win_stage_alloc(w, 4 * pg + 64, &b));
	buf = b;
	CHECK_OK(win_fence(w, 0));
	/* whole pages at a page-aligned offset (moved where possible) */
	fill(buf, 4 * pg, 20 + (unsigned)e->rank);
	CHECK_OK(win_put_staged(w, buf, 4 * pg, peer, 0));
	/* the buffer is reusable at once: unaligned source and target */
	fill(buf + 17, pg + 1000, 30 + (unsigned)e->rank);
	CHECK_OK(win_put_staged(w, buf + 17, pg + 1000, peer, 4 * pg + 5));
	CHECK_OK(win_fence(w, 0));
	/* the target checks its own memory ... */
	for (size_t i = 0; i < 4 * pg; i++)
		CHECK(mine[i] == (unsigned char)((20 + peer) * 13 + i * 5 + 3),
		      "kind %d: aligned staged put: byte %zu is %u", kind, i,
		      mine[i]);
	for (size_t i = 0; i < pg + 1000; i++)
		CHECK(mine[4 * pg + 5 + i] ==
		      (unsigned char)((30 + peer) * 13 + i * 5 + 3),
		      "kind %d: unaligned staged put: byte %zu is %u", kind, i,
		      mine[4 * pg + 5 + i]);
	CHECK(mine[4 * pg + 4] == 0 && mine[5 * pg + 1005] == 0,
	      "kind %d: bytes around the unaligned put changed", kind);
	/* ... and the origin reads the same back (no stale mapping) */
	CHECK_OK(win_get(w, got, wsize, peer, 0));
	CHECK_OK(win_fence(w, WIN_MODE_NOSUCCEED));
	for (size_t i = 0; i < 4 * pg; i++)
		CHECK(got[i] == (unsigned char)((20 + e->rank) * 13 + i * 5 + 3),
		      "kind %d: read back: byte %zu is %u", kind, i, got[i]);
	CHECK_OK(win_stage_free(w, buf));
	mp_win_free(w);
	free(mem);
	free(got);
}

START_TEST(cross_process)
{
	int kind = _i;
	struct mp_opts o = { .size = 2, .arg = &kind };

	MP_RUN(&o, body_cross);
}
END_TEST

static Suite *stage_suite(void)
{
	Suite *s = suite_create("stage");
	TCase *tc = tcase_create("staged");

	tcase_add_loop_test(tc, pages_reused_at_once, 0, 2);
	tcase_add_loop_test(tc, partial_and_unaligned, 0, 2);
	tcase_add_loop_test(tc, errors, 0, 2);
	tcase_add_loop_test(tc, many_buffers, 0, 2);
	tcase_add_loop_test(tc, cross_process, 0, 3);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite("stage", stage_suite());
}
