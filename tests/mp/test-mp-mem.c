/*
 * Created windows over win_mem_alloc'ed memory: the parts lie inside the
 * allocation at an offset, every operation lands where it should, and the
 * atomics of all members on one part agree (a race of fetch-adds) also
 * when only some members' parts are such memory (odd iterations: the even
 * ranks use malloc'ed memory). win_mem_free refuses memory a window still
 * exposes and pointers it did not hand out.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define PART 1024       /* bytes per member */
#define OFFSET 192      /* the part's offset in the allocation */
#define NADD 300        /* fetch-adds per member and target */

static void body_mem(struct mp_env *e)
{
	bool mixed = e->arg != NULL;
	bool lib = !mixed || (e->rank & 1);
	int n = e->size, me = e->rank;
	char *mem = NULL, *part;
	uint64_t v, old;
	win_t *w = NULL;

	if (lib) {
		CHECK_OK(win_mem_alloc(e->ctx, 4096, (void **)&mem));
		CHECK(((uintptr_t)mem & 4095) == 0, "win_mem_alloc gave %p, "
		      "not page-aligned", (void *)mem);
		for (int i = 0; i < 4096; i++)
			CHECK(mem[i] == 0, "byte %d of fresh memory is %d", i,
			      mem[i]);
		part = mem + OFFSET;
	} else {
		CHECK((mem = aligned_alloc(64, PART)) != NULL, "out of memory");
		memset(mem, 0, PART);
		part = mem;
	}
	/* Bytes around the part that no operation may touch. */
	if (lib) {
		memset(mem, 0x5a, OFFSET);
		memset(part + PART, 0xa5, 4096 - OFFSET - PART);
	}
	CHECK_OK(win_create(e->group, part, PART, 8, NULL, &w));
	if (lib)
		CHECK_RC(win_mem_free(e->ctx, mem), WIN_ERR_SYNC);

	/* put: member r writes its rank + 1 into slot r + 1 of everyone. */
	CHECK_OK(win_fence(w, 0));
	v = (uint64_t)me + 1;
	for (int t = 0; t < n; t++)
		CHECK_OK(win_put(w, &v, 8, t, (size_t)me + 1));
	CHECK_OK(win_fence(w, 0));
	for (int r = 0; r < n; r++) {
		memcpy(&v, part + (size_t)(r + 1) * 8, 8);
		CHECK(v == (uint64_t)r + 1, "slot %d holds %llu, expected %d",
		      r + 1, (unsigned long long)v, r + 1);
	}
	/* get: read back the next member's slots. */
	for (int r = 0; r < n; r++) {
		CHECK_OK(win_get(w, &v, 8, (me + 1) % n, (size_t)r + 1));
		CHECK_OK(win_fence(w, 0));
		CHECK(v == (uint64_t)r + 1, "get of slot %d from rank %d: "
		      "%llu", r + 1, (me + 1) % n, (unsigned long long)v);
	}
	CHECK_OK(win_fence(w, WIN_MODE_NOSUCCEED));

	/* Every member adds to slot 0 of every member, all at once. */
	mp_fetch_add_race(e, w, part, 0, NADD);
	/* A compare-and-swap race: exactly one member wins on each. */
	mp_barrier(e);
	CHECK_OK(win_lock_all(w, 0));
	{
		uint64_t cmp = (uint64_t)NADD * (uint64_t)n, swp = 1000 + me;

		for (int t = 0; t < n; t++) {
			CHECK_OK(win_compare_swap(w, &cmp, &swp, &old,
						  WIN_UINT64, t, 0));
			CHECK(old == cmp || old >= 1000, "cas on rank %d saw "
			      "%llu", t, (unsigned long long)old);
		}
	}
	CHECK_OK(win_unlock_all(w));
	mp_barrier(e);
	memcpy(&v, part, 8);
	CHECK(v >= 1000 && v < 1000 + (uint64_t)n, "slot 0 after the race: "
	      "%llu", (unsigned long long)v);

	if (lib) {
		for (int i = 0; i < OFFSET; i++)
			CHECK((unsigned char)mem[i] == 0x5a, "byte %d before "
			      "the part changed", i);
		for (int i = OFFSET + PART; i < 4096; i++)
			CHECK((unsigned char)mem[i] == 0xa5, "byte %d after "
			      "the part changed", i);
	}
	CHECK_OK(win_free(w));
	if (lib) {
		CHECK_OK(win_mem_free(e->ctx, mem));
		CHECK_RC(win_mem_free(e->ctx, mem), WIN_ERR_ARG);
	} else {
		CHECK_RC(win_mem_free(e->ctx, mem), WIN_ERR_ARG);
		free(mem);
	}
	CHECK_OK(win_mem_free(e->ctx, NULL));
}

/* i & 1: mixed (even ranks' parts are malloc'ed); i & 2: 4 members. */
START_TEST(mem_window)
{
	static int mixed_flag;
	struct mp_opts o = { .size = mp_loop_size(_i),
			     .flavor = WIN_FLAVOR_CREATE,
			     .arg = (_i & 1) ? &mixed_flag : NULL };

	MP_RUN(&o, body_mem);
}
END_TEST

/* Unused memory goes away with the context; bad calls fail cleanly. */
static void body_leftover(struct mp_env *e)
{
	void *a = NULL, *b = NULL;

	CHECK_OK(win_mem_alloc(e->ctx, 1, &a));
	CHECK_OK(win_mem_alloc(e->ctx, 1 << 20, &b));
	CHECK(a && b && a != b, "two allocations: %p %p", a, b);
	CHECK_RC(win_mem_alloc(e->ctx, 16, NULL), WIN_ERR_ARG);
	CHECK_RC(win_mem_free(e->ctx, (char *)b + 8), WIN_ERR_ARG);
	memset(b, 1, 1 << 20);
	/* a and b are left for win_finalize. */
}

START_TEST(leftover)
{
	struct mp_opts o = { .size = 2 };

	MP_RUN(&o, body_leftover);
}
END_TEST

static Suite *mem_suite(void)
{
	Suite *s = suite_create("mp-mem");
	TCase *tc = tcase_create("mem");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, mem_window, 0, 4);
	tcase_add_test(tc, leftover);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite("mp-mem", mem_suite());
}
