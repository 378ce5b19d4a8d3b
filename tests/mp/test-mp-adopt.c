/*
 * Created windows over ordinary memory whose whole pages the library moves
 * into shareable memory (core/adopt.c) when a peer's transport maps
 * segments (shm). Which memory is adopted: the pages between a window's
 * first and last page boundary, from the heap or anonymous mmap, also in
 * a process with threads; not a window smaller than a page, the stack,
 * memory marked MADV_DONTFORK, nor anything with WIN_SHM_ADOPT=0. That
 * the owner's bytes and pointer survive creation and free, that bytes
 * around the window are never touched, that every member's puts, gets
 * and atomics land whether they hit the adopted pages or the window's
 * edges, that the memory is private again after win_free or win_finalize
 * (not before the last window overlapping it goes), and that a fork()ed
 * child gets a private copy.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define GUARD 200   /* bytes on each side that no operation may touch */
#define NADD 200    /* fetch-adds per member and target over shm; */
#define NADD_NET 20 /* over a network transport (ofi, verbs) */

enum where {
	HEAP,           /* 3 pages + 808 bytes, unaligned, in the heap */
	PAGES,          /* 2 whole pages */
	PAGES_THREADED, /* the same with a second thread running */
	HEAP_THREADED,  /* HEAP with a second thread running */
	SMALL,          /* 1000 bytes: no whole page */
	STACK,          /* on the stack */
	DONTFORK,       /* anonymous mmap marked MADV_DONTFORK */
	OFF,            /* WIN_SHM_ADOPT=0 */
	NWHERE
};
static const char *const where_name[NWHERE] = {
	"heap", "whole pages", "whole pages with a thread",
	"heap with a thread", "less than a page", "stack",
	"MADV_DONTFORK memory", "WIN_SHM_ADOPT=0",
};

/* Is `p` inside memory the library adopted? */
static bool adopted_at(const void *p)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 &&
		    (uintptr_t)p >= lo && (uintptr_t)p < hi)
			found = strstr(line, "libwin-adopted") != NULL;
	}
	fclose(f);
	return found;
}

static void *idle_thread(void *arg)
{
	int *fd = arg;
	char c;

	return read(fd[0], &c, 1) < 0 ? NULL : NULL;
}

static uint64_t pattern(int rank, int slot)
{
	return ((uint64_t)(rank + 1) << 32) | (uint64_t)slot;
}

/* Bytes [lo, hi) of buf all equal c? */
static bool all_are(const unsigned char *buf, size_t lo, size_t hi, int c)
{
	for (size_t i = lo; i < hi; i++)
		if (buf[i] != (unsigned char)c)
			return false;
	return true;
}

static size_t page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

/* The first page boundary at or after p. */
static char *page_up(char *p)
{
	size_t pg = page_size();

	return (char *)(((uintptr_t)p + pg - 1) / pg * pg);
}

/*
 * Atomics across a page boundary inside the part (on one side bytes that
 * stay in place, on the other moved pages, when the part is unaligned):
 * everyone adds 1 to the four slots around slot b with one accumulate,
 * and fetch-adds the two slots next to the boundary, all at once; each
 * element must count every addition, however the calls cut across it.
 */
static void boundary_race(struct mp_env *e, win_t *w, char *part, size_t b,
			  int nadd)
{
	const uint64_t ones[4] = { 1, 1, 1, 1 };
	uint64_t one = 1, old, v;
	int n = e->size;

	memset(part + 8 * (b - 2), 0, 32);
	mp_barrier(e);
	CHECK_OK(win_lock_all(w, 0));
	for (int i = 0; i < nadd; i++)
		for (int t = 0; t < n; t++) {
			CHECK_OK(win_accumulate(w, ones, 4, WIN_UINT64,
						WIN_OP_SUM, t, b - 2));
			CHECK_OK(win_fetch_op(w, &one, &old, WIN_UINT64,
					      WIN_OP_SUM, t, b - 1));
			CHECK_OK(win_fetch_op(w, &one, &old, WIN_UINT64,
					      WIN_OP_SUM, t, b));
		}
	CHECK_OK(win_unlock_all(w));
	mp_barrier(e);
	for (int k = 0; k < 4; k++) {
		uint64_t want = (uint64_t)nadd * (uint64_t)n *
				(k == 1 || k == 2 ? 2 : 1);

		memcpy(&v, part + 8 * (b - 2 + (size_t)k), 8);
		CHECK(v == want, "slot %zu (%s the boundary at slot %zu) "
		      "counts %llu, want %llu", b - 2 + (size_t)k,
		      k < 2 ? "before" : "after", b, (unsigned long long)v,
		      (unsigned long long)want);
	}
}

/* The race at the part's first and last page boundaries, where they leave
 * room and miss the slots used otherwise (0, 1, mid). */
static void straddle_races(struct mp_env *e, win_t *w, char *part,
			   int slots, int mid, int nadd)
{
	size_t pg = page_size();
	char *first = page_up(part);
	char *last = (char *)(((uintptr_t)part + 8 * (size_t)slots) / pg * pg);
	size_t bs[2] = { (size_t)(first - part) / 8, (size_t)(last - part) / 8 };

	for (int i = 0; i < 2; i++) {
		size_t b = bs[i];

		if ((i == 1 && last <= first) || b < 4 ||
		    b + 2 >= (size_t)slots ||
		    ((size_t)mid + 2 >= b && (size_t)mid <= b + 1))
			continue;
		boundary_race(e, w, part, b, nadd);
	}
}

/*
 * Every member against every other: initial contents, puts and gets over
 * the whole part (edges and adopted pages alike), fetch-add races on a
 * word at the start (an edge when the part is unaligned) and one in the
 * middle (adopted when anything is). The displacement unit is 8.
 */
static void exercise(struct mp_env *e, win_t *w, char *part, size_t len,
		     int nadd)
{
	int n = e->size, me = e->rank, next = (me + 1) % n;
	int slots = (int)(len / 8), mid = slots / 2;
	int step = slots / 61 > 1 ? slots / 61 : 1;
	uint64_t v;

	/* What the owner stored before win_create is what peers read. */
	CHECK_OK(win_lock_all(w, 0));
	for (int s = 2; s < slots; s += step) {
		if (s == mid)
			continue;
		CHECK_OK(win_get(w, &v, 8, next, (size_t)s));
		CHECK_OK(win_flush(w, next));
		CHECK(v == pattern(next, s), "slot %d of rank %d before any "
		      "put: %#llx", s, next, (unsigned long long)v);
	}
	CHECK_OK(win_unlock_all(w));

	/* put: member r writes slot s of everyone for s = r + 1 mod n. */
	CHECK_OK(win_fence(w, 0));
	for (int t = 0; t < n; t++)
		for (int s = 2 + me; s < slots; s += n)
			if (s != mid) {
				v = pattern(me, 100000 + s);
				CHECK_OK(win_put(w, &v, 8, t, (size_t)s));
			}
	CHECK_OK(win_fence(w, 0));
	for (int s = 2; s < slots; s++) {
		if (s == mid)
			continue;
		memcpy(&v, part + 8 * (size_t)s, 8);
		CHECK(v == pattern((s - 2) % n, 100000 + s), "slot %d holds "
		      "%#llx after the puts", s, (unsigned long long)v);
	}
	/* The owner's own stores reach its peers; one get spans it all. */
	memcpy(part + 8, &(uint64_t){ pattern(me, 7) }, 8);
	CHECK_OK(win_fence(w, 0));
	{
		uint64_t *all = malloc(len);

		CHECK(all != NULL, "out of memory");
		CHECK_OK(win_get(w, all, len, next, 0));
		CHECK_OK(win_fence(w, 0));
		CHECK(all[1] == pattern(next, 7) &&
		      all[slots - 1] == pattern((slots - 3) % n,
						100000 + slots - 1),
		      "one get over rank %d's part: %#llx, %#llx", next,
		      (unsigned long long)all[1],
		      (unsigned long long)all[slots - 1]);
		free(all);
	}

	mp_fetch_add_race(e, w, part, 0, nadd);
	mp_fetch_add_race(e, w, part + 8 * (size_t)mid, (size_t)mid, nadd);
	straddle_races(e, w, part, slots, mid, nadd);
}

static void body_where(struct mp_env *e)
{
	enum where wh = (enum where)(intptr_t)e->arg;
	int me = e->rank, next = (me + 1) % e->size;
	size_t pg = page_size(), len;
	/* Whole pages (with 4 KiB pages): only the rule against moving the
	 * stack in use keeps them where they are. */
	unsigned char stack_mem[2 * GUARD + 3 * 4096 + 808]
		__attribute__((aligned(8)));
	unsigned char *block = NULL, *part;
	size_t blen;
	int pipefd[2] = { -1, -1 };
	pthread_t th;
	bool expect;
	win_t *w;

	switch (wh) {
	case PAGES:
	case PAGES_THREADED:
		len = 2 * pg;
		blen = 4 * pg; /* the guards are the pages around */
		CHECK(posix_memalign((void **)&block, pg, blen) == 0,
		      "out of memory");
		part = block + pg;
		break;
	case STACK:
		blen = sizeof(stack_mem);
		len = blen - 2 * GUARD;
		block = stack_mem;
		part = block + GUARD;
		break;
	case DONTFORK:
		len = 3 * pg;
		blen = 5 * pg;
		block = mmap(NULL, blen, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		CHECK(block != MAP_FAILED, "mmap failed");
		CHECK(madvise(block, blen, MADV_DONTFORK) == 0, "madvise");
		part = block + pg;
		break;
	default:
		len = wh == SMALL ? 1000 : 3 * pg + 808;
		blen = 2 * GUARD + len;
		CHECK((block = malloc(blen)) != NULL, "out of memory");
		part = block + GUARD;
		break;
	}
	if (wh == OFF)
		setenv("WIN_SHM_ADOPT", "0", 1);
	memset(block, 0x5a, blen);
	for (size_t s = 0; s < len / 8; s++)
		memcpy(part + 8 * s, &(uint64_t){ pattern(me, (int)s) }, 8);
	memset(part, 0, 8);                       /* counters */
	memset(part + 8 * (len / 16), 0, 8);
	if (wh == PAGES_THREADED || wh == HEAP_THREADED) {
		CHECK(pipe(pipefd) == 0 &&
		      pthread_create(&th, NULL, idle_thread, pipefd) == 0,
		      "cannot start a thread");
	}

	CHECK_OK(win_create(e->group, part, len, 8, NULL, &w));
	expect = !strcmp(win_transport_name(w, next), "shm") &&
		 (wh == HEAP || wh == HEAP_THREADED || wh == PAGES ||
		  wh == PAGES_THREADED);
	CHECK(adopted_at(page_up((char *)part)) == expect, "%s: memory %s "
	      "adopted (peer transport %s)", where_name[wh],
	      expect ? "not" : "wrongly", win_transport_name(w, next));
	/* Never the pages the window shares with other bytes. */
	CHECK(!adopted_at(part - 1) && !adopted_at(part + len),
	      "%s: pages around the window adopted", where_name[wh]);
	CHECK_RC(win_mem_free(e->ctx, page_up((char *)part)), WIN_ERR_ARG);

	exercise(e, w, (char *)part, len,
		 !strcmp(win_transport_name(w, next), "shm") ? NADD : NADD_NET);

	mp_barrier(e);
	CHECK_OK(win_free(w));
	CHECK(!adopted_at(page_up((char *)part)), "%s: memory still "
	      "adopted after win_free", where_name[wh]);
	/* The bytes stay; nothing outside the part changed. */
	{
		uint64_t v;
		size_t s = len / 8 - 1;

		memcpy(&v, part + 8 * s, 8);
		CHECK(v == pattern((int)(s - 2) % e->size, 100000 + (int)s),
		      "after win_free the last slot holds %#llx",
		      (unsigned long long)v);
	}
	CHECK(all_are(block, 0, (size_t)(part - block), 0x5a) &&
	      all_are(part, len, blen - (size_t)(part - block), 0x5a),
	      "%s: bytes around the window changed", where_name[wh]);
	memset(part, 1, len); /* private, writable memory */
	if (pipefd[0] >= 0) {
		CHECK(write(pipefd[1], "x", 1) == 1 &&
		      pthread_join(th, NULL) == 0, "thread did not end");
		close(pipefd[0]);
		close(pipefd[1]);
	}
	if (wh == DONTFORK)
		munmap(block, blen);
	else if (block != stack_mem)
		free(block);
	unsetenv("WIN_SHM_ADOPT");
}

/* _i: the kind of memory; _i >= NWHERE: the heap with 4 members. */
START_TEST(where)
{
	struct mp_opts o = { .size = _i >= NWHERE ? 4 : 2,
			     .flavor = WIN_FLAVOR_CREATE,
			     .timeout_ms = 90000,
			     .arg = (void *)(intptr_t)(_i % NWHERE) };

	MP_RUN(&o, body_where);
}
END_TEST

/*
 * Two windows over one adopted range share it until the last is freed;
 * a window overlapping adopted pages without covering them keeps them
 * adopted until it goes too; a fork()ed child gets a private copy (its
 * stores stay its own); an unfreed window's memory is given back by
 * win_finalize.
 */
static void body_lifetime(struct mp_env *e)
{
	int me = e->rank, next = (me + 1) % e->size;
	size_t pg = page_size();
	char *block = malloc(6 * pg);
	char *part, *p1;
	bool shm;
	win_t *w1, *w2, *w3;
	uint64_t v;
	pid_t child;
	int status;

	CHECK(block != NULL, "out of memory");
	part = block + 64;
	p1 = page_up(part);
	memset(block, 0, 6 * pg);
	CHECK_OK(win_create(e->group, part, 4 * pg, 1, NULL, &w1));
	/* Inside w1's adopted pages: shares them. */
	CHECK_OK(win_create(e->group, p1 + pg, pg, 1, NULL, &w2));
	shm = !strcmp(win_transport_name(w1, next), "shm");
	CHECK(adopted_at(p1) == shm && adopted_at(p1 + pg) == shm,
	      "first window %sadopted", shm ? "not " : "");

	/* Both windows reach the same bytes. */
	CHECK_OK(win_lock_all(w2, 0));
	v = pattern(me, 1);
	CHECK_OK(win_put(w2, &v, 8, next, 0));
	CHECK_OK(win_unlock_all(w2));
	mp_barrier(e);
	CHECK_OK(win_lock_all(w1, 0));
	CHECK_OK(win_get(w1, &v, 8, next, (size_t)(p1 + pg - part)));
	CHECK_OK(win_unlock_all(w1));
	CHECK(v == pattern(me, 1), "rank %d's byte %zu read %#llx through "
	      "the other window", next, (size_t)(p1 + pg - part),
	      (unsigned long long)v);
	mp_barrier(e);
	CHECK_OK(win_free(w1));
	CHECK(adopted_at(p1 + pg) == shm, "adopted memory released while a "
	      "window still uses it");

	/* fork: the child's stores stay in the child. (Over shm only: a
	 * fork()ed child breaks libfabric's shm provider in its parent.) */
	memcpy(p1 + pg + 8, &(uint64_t){ 42 }, 8);
	if (shm) {
		child = fork();
		CHECK(child >= 0, "fork failed");
		if (child == 0) {
			uint64_t c;

			memcpy(&c, p1 + pg + 8, 8);
			if (c != 42 || adopted_at(p1 + pg))
				_exit(1);
			memcpy(p1 + pg + 8, &(uint64_t){ 43 }, 8);
			_exit(0);
		}
		CHECK(waitpid(child, &status, 0) == child &&
		      WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "child saw the wrong memory (status %#x)", status);
		memcpy(&v, p1 + pg + 8, 8);
		CHECK(v == 42, "the child's store reached its parent: %llu",
		      (unsigned long long)v);
	}
	mp_barrier(e);
	CHECK_OK(win_lock_all(w2, 0));
	CHECK_OK(win_get(w2, &v, 8, next, 8));
	CHECK_OK(win_unlock_all(w2));
	CHECK(v == 42, "a peer read %llu where the owner has 42",
	      (unsigned long long)v);

	/* A window of 16 bytes across a boundary of the adopted pages holds
	 * no whole page: not adopted, but it overlaps them, so they stay
	 * adopted after w2, their last user, is freed, until it goes. */
	CHECK_OK(win_create(e->group, p1 + pg - 8, 16, 1, NULL, &w3));
	CHECK_OK(win_lock_all(w3, 0));
	v = pattern(me, 3);
	CHECK_OK(win_put(w3, &v, 8, next, 4));
	CHECK_OK(win_unlock_all(w3));
	mp_barrier(e);
	CHECK_OK(win_free(w2));
	CHECK(adopted_at(p1 + pg) == shm, "pages given back under a window "
	      "that overlaps them");
	memcpy(&v, p1 + pg - 4, 8);
	CHECK(v == pattern(next, 3), "a put across the adopted pages' edge "
	      "left %#llx", (unsigned long long)v);
	CHECK_OK(win_free(w3));
	CHECK(!adopted_at(p1 + pg), "memory adopted after its last window");

	/* A window left to win_finalize. */
	CHECK_OK(win_create(e->group, part, 4 * pg, 1, NULL, &w3));
	CHECK(adopted_at(p1) == shm, "window %sadopted", shm ? "not " : "");
	memcpy(p1 + 16, &(uint64_t){ 77 }, 8);
	CHECK_OK(win_group_leave(e->group));
	CHECK_OK(win_finalize(e->ctx));
	CHECK(!adopted_at(p1), "memory adopted after win_finalize");
	memcpy(&v, p1 + 16, 8);
	CHECK(v == 77 && all_are((unsigned char *)block, 0, 64, 0),
	      "memory changed by win_finalize");
	free(block);
}

START_TEST(lifetime)
{
	struct mp_opts o = { .size = 2, .flags = MP_NO_FINALIZE,
			     .timeout_ms = 90000 };

	MP_RUN(&o, body_lifetime);
}
END_TEST

static Suite *adopt_suite(void)
{
	Suite *s = suite_create("mp-adopt");
	TCase *tc = tcase_create("adopt");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, where, 0, NWHERE + 1);
	tcase_add_test(tc, lifetime);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite("mp-adopt", adopt_suite());
}
