/*
 * Created windows over ordinary memory whose pages the library moves into
 * shareable memory (core/adopt.c) when a peer's transport maps segments
 * (shm): which memory is adopted and which is not (stack, threads sharing
 * the edge pages, WIN_SHM_ADOPT=0), that the owner's bytes and pointer
 * survive creation and free, that neighbouring bytes on the same pages are
 * never touched, that all members' operations and atomics land, that the
 * memory is private again after win_free or win_finalize, and that a
 * fork()ed child gets a private copy.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define PART 1024   /* bytes per member */
#define GUARD 200   /* bytes on each side that no operation may touch */
#define NADD 200    /* fetch-adds per member and target */

enum where { HEAP, PAGES, PAGES_THREADED, HEAP_THREADED, STACK, OFF, NWHERE };
static const char *const where_name[NWHERE] = {
	"heap", "whole pages", "whole pages with a thread",
	"heap with a thread", "stack", "WIN_SHM_ADOPT=0",
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

/* Every member: initial contents, puts, gets, a fetch-add race (the
 * window's displacement unit is 8: offsets are slots). */
static void exercise(struct mp_env *e, win_t *w, char *part)
{
	int n = e->size, me = e->rank, next = (me + 1) % n;
	uint64_t v;

	/* What the owner stored before win_create is what peers read. */
	CHECK_OK(win_lock_all(w, 0));
	for (int s = 2 * n; s < PART / 8 - 1; s += 17) {
		CHECK_OK(win_get(w, &v, 8, next, (size_t)s));
		CHECK_OK(win_flush(w, next));
		CHECK(v == pattern(next, s), "slot %d of rank %d before any "
		      "put: %#llx", s, next, (unsigned long long)v);
	}
	CHECK_OK(win_unlock_all(w));

	/* put: member r writes into slot n + r of everyone. */
	CHECK_OK(win_fence(w, 0));
	for (int t = 0; t < n; t++) {
		v = pattern(me, 1000 + t);
		CHECK_OK(win_put(w, &v, 8, t, (size_t)(n + me)));
	}
	/* The owner's own stores through its pointer reach its peers. */
	memcpy(part + 8 * (PART / 8 - 1), &(uint64_t){ pattern(me, 7) }, 8);
	CHECK_OK(win_fence(w, 0));
	for (int r = 0; r < n; r++) {
		memcpy(&v, part + (size_t)(n + r) * 8, 8);
		CHECK(v == pattern(r, 1000 + me), "slot %d holds %#llx", n + r,
		      (unsigned long long)v);
	}
	CHECK_OK(win_get(w, &v, 8, next, PART / 8 - 1));
	CHECK_OK(win_fence(w, 0));
	CHECK(v == pattern(next, 7), "rank %d's own store read back as %#llx",
	      next, (unsigned long long)v);

	mp_fetch_add_race(e, w, part, NADD);
}

static void body_where(struct mp_env *e)
{
	enum where wh = (enum where)(intptr_t)e->arg;
	int me = e->rank, next = (me + 1) % e->size;
	long pg = sysconf(_SC_PAGESIZE);
	unsigned char stack_mem[2 * GUARD + PART] __attribute__((aligned(8)));
	unsigned char *block = NULL, *part;
	size_t blen = 2 * GUARD + PART;
	int pipefd[2] = { -1, -1 };
	pthread_t th;
	bool expect;
	win_t *w;

	if (wh == OFF)
		setenv("WIN_SHM_ADOPT", "0", 1);
	if (wh == PAGES || wh == PAGES_THREADED) {
		/* Whole pages; the guards are the pages around them. */
		blen = (size_t)pg * 3;
		CHECK(posix_memalign((void **)&block, (size_t)pg, blen) == 0,
		      "out of memory");
		part = block + pg;
	} else if (wh == STACK) {
		block = stack_mem;
		part = block + GUARD;
	} else {
		CHECK((block = malloc(blen)) != NULL, "out of memory");
		part = block + GUARD;
	}
	memset(block, 0x5a, blen);
	for (int s = 0; s < PART / 8; s++)
		memcpy(part + 8 * s, &(uint64_t){ pattern(me, s) }, 8);
	memset(part, 0, 8); /* the fetch-add counter */
	if (wh == PAGES_THREADED || wh == HEAP_THREADED) {
		CHECK(pipe(pipefd) == 0 &&
		      pthread_create(&th, NULL, idle_thread, pipefd) == 0,
		      "cannot start a thread");
	}

	CHECK_OK(win_create(e->group, part, wh == PAGES ||
			    wh == PAGES_THREADED ? (size_t)pg : PART, 8, NULL,
			    &w));
	expect = !strcmp(win_transport_name(w, next), "shm") &&
		 (wh == HEAP || wh == PAGES || wh == PAGES_THREADED);
	CHECK(adopted_at(part) == expect, "%s: memory %s adopted (peer "
	      "transport %s)", where_name[wh], expect ? "not" : "wrongly",
	      win_transport_name(w, next));
	CHECK_RC(win_mem_free(e->ctx, part), WIN_ERR_ARG);

	exercise(e, w, (char *)part);

	mp_barrier(e);
	CHECK_OK(win_free(w));
	CHECK(!adopted_at(part), "%s: memory still adopted after win_free",
	      where_name[wh]);
	/* The bytes stay; nothing outside the part changed. */
	for (int r = 0; r < e->size; r++) {
		uint64_t v;

		memcpy(&v, part + (size_t)(e->size + r) * 8, 8);
		CHECK(v == pattern(r, 1000 + me), "after win_free slot %d "
		      "holds %#llx", e->size + r, (unsigned long long)v);
	}
	CHECK(all_are(block, 0, (size_t)(part - block), 0x5a) &&
	      all_are(part, wh == PAGES || wh == PAGES_THREADED ?
		      (size_t)pg : PART, blen - (size_t)(part - block), 0x5a),
	      "%s: bytes around the window changed", where_name[wh]);
	memset(part, 1, 64); /* private, writable memory */
	if (pipefd[0] >= 0) {
		CHECK(write(pipefd[1], "x", 1) == 1 &&
		      pthread_join(th, NULL) == 0, "thread did not end");
		close(pipefd[0]);
		close(pipefd[1]);
	}
	if (block != stack_mem)
		free(block);
	unsetenv("WIN_SHM_ADOPT");
}

/* _i: the kind of memory; _i >= NWHERE: heap with 4 members. */
START_TEST(where)
{
	struct mp_opts o = { .size = _i >= NWHERE ? 4 : 2,
			     .flavor = WIN_FLAVOR_CREATE,
			     .arg = (void *)(intptr_t)(_i % NWHERE) };

	MP_RUN(&o, body_where);
}
END_TEST

/*
 * Two windows over one adopted range share it until the last is freed;
 * a fork()ed child gets a private copy (its stores stay its own); an
 * unfreed window's memory is given back by win_finalize.
 */
static void body_lifetime(struct mp_env *e)
{
	int me = e->rank, next = (me + 1) % e->size;
	char *block = malloc(4 * PART);
	char *part;
	bool shm;
	win_t *w1, *w2, *w3;
	uint64_t v;
	pid_t child;
	int status;

	CHECK(block != NULL, "out of memory");
	part = block + 64;
	memset(block, 0, 4 * PART);
	CHECK_OK(win_create(e->group, part, 2 * PART, 1, NULL, &w1));
	CHECK_OK(win_create(e->group, part + PART, PART, 1, NULL, &w2));
	shm = !strcmp(win_transport_name(w1, next), "shm");
	CHECK(adopted_at(part) == shm, "first window %sadopted",
	      shm ? "not " : "");

	/* Both windows reach the same bytes. */
	CHECK_OK(win_lock_all(w2, 0));
	v = pattern(me, 1);
	CHECK_OK(win_put(w2, &v, 8, next, 0));
	CHECK_OK(win_unlock_all(w2));
	mp_barrier(e);
	CHECK_OK(win_lock_all(w1, 0));
	CHECK_OK(win_get(w1, &v, 8, next, PART));
	CHECK_OK(win_unlock_all(w1));
	CHECK(v == pattern(me, 1), "rank %d's byte %d read %#llx through the "
	      "other window", next, PART, (unsigned long long)v);
	mp_barrier(e);
	CHECK_OK(win_free(w1));
	CHECK(adopted_at(part) == shm, "adopted memory released while a "
	      "window still uses it");

	/* fork: the child's stores stay in the child. */
	memcpy(part + PART + 8, &(uint64_t){ 42 }, 8);
	child = fork();
	CHECK(child >= 0, "fork failed");
	if (child == 0) {
		uint64_t c;

		memcpy(&c, part + PART + 8, 8);
		if (c != 42 || adopted_at(part))
			_exit(1);
		memcpy(part + PART + 8, &(uint64_t){ 43 }, 8);
		_exit(0);
	}
	CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 0, "child saw the wrong memory (status "
	      "%#x)", status);
	memcpy(&v, part + PART + 8, 8);
	CHECK(v == 42, "the child's store reached its parent: %llu",
	      (unsigned long long)v);
	mp_barrier(e);
	CHECK_OK(win_lock_all(w2, 0));
	CHECK_OK(win_get(w2, &v, 8, next, 8));
	CHECK_OK(win_unlock_all(w2));
	CHECK(v == 42, "a peer read %llu where the owner has 42",
	      (unsigned long long)v);
	mp_barrier(e);
	CHECK_OK(win_free(w2));
	CHECK(!adopted_at(part), "memory adopted after its last window");

	/* A window left to win_finalize. */
	CHECK_OK(win_create(e->group, part, PART, 1, NULL, &w3));
	CHECK(adopted_at(part) == shm, "third window %sadopted",
	      shm ? "not " : "");
	memcpy(part + 16, &(uint64_t){ 77 }, 8);
	CHECK_OK(win_group_leave(e->group));
	CHECK_OK(win_finalize(e->ctx));
	CHECK(!adopted_at(part), "memory adopted after win_finalize");
	memcpy(&v, part + 16, 8);
	CHECK(v == 77 && all_are((unsigned char *)block, 0, 64, 0),
	      "memory changed by win_finalize");
	free(block);
}

START_TEST(lifetime)
{
	struct mp_opts o = { .size = 2, .flags = MP_NO_FINALIZE };

	MP_RUN(&o, body_lifetime);
}
END_TEST

static Suite *adopt_suite(void)
{
	Suite *s = suite_create("mp-adopt");
	TCase *tc = tcase_create("adopt");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, where, 0, NWHERE + 1);
	tcase_add_test(tc, lifetime);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite("mp-adopt", adopt_suite());
}
