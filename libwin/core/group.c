/*
 * Groups. Every group runs its bootstrap collectives (barrier, allgather),
 * its dead-peer check and its leave through a bootstrap table (core/boot.h).
 *
 * A named single-host group meets in a small POSIX shared-memory segment
 * ("/libwin.NAME"): members claim ranks, publish their pid, and use it
 * afterwards for the bootstrap collectives that window creation needs. The
 * name is unlinked as soon as the group has formed, so nothing is left in
 * /dev/shm once a group is running.
 *
 * Groups formed by other bootstraps (PMIx, MPI) exchange every member's pid
 * and host id once, at creation, through the bootstrap's allgather.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/boot.h"
#include "core/futex.h"
#include "core/internal.h"

#define BOOT_MAGIC 0x57424f54u /* "WBOT" */
#define BOOT_SLOT 512          /* allgather bytes per member per round */

struct boot_member {
	int32_t pid;     /* claimed by a compare-and-swap from 0 */
	uint32_t left;   /* the member left the group cleanly */
	uint64_t hostid;
};

struct win_boot {
	uint32_t magic;
	uint32_t ready;
	int32_t size;
	uint32_t joined;
	uint32_t bar_count;
	uint32_t bar_gen;
	uint32_t bar_waiters;
	uint32_t pad;
	struct boot_member m[WIN_GROUP_MAX];
	char slots[]; /* size * BOOT_SLOT */
};

static size_t boot_len(int size)
{
	return sizeof(struct win_boot) + (size_t)size * BOOT_SLOT;
}

int win_group_check(const win_group_t *g)
{
	if (!g || g->magic != WIN_MAGIC_GROUP)
		return win_seterr(WIN_ERR_HANDLE, "invalid or freed group");
	return WIN_OK;
}

int win_group_rank(const win_group_t *g)
{
	return win_group_check(g) ? WIN_ERR_HANDLE : g->rank;
}

int win_group_size(const win_group_t *g)
{
	return win_group_check(g) ? WIN_ERR_HANDLE : g->size;
}

bool win_pid_alive(pid_t pid)
{
	char path[64], buf[256];
	FILE *f;
	char *p;
	bool alive = true;

	if (pid <= 0)
		return false;
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return false;
	/* A zombie answers kill() but will never call into the library. */
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return true;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) &&
	    (p[2] == 'Z' || p[2] == 'X'))
		alive = false;
	fclose(f);
	return alive;
}

bool win_group_same_host(struct win_group *g, int rank)
{
	return g->hostid[rank] == g->hostid[g->rank];
}

int win_group_check_peer(struct win_group *g, int r)
{
	int rc;

	if (r < 0)
		return win_group_check_peers(g);
	if (r == g->rank)
		return WIN_OK;
	/* What the bootstrap knows first: a member that left cleanly (> 0)
	 * is not a dead peer, the others may still be synchronizing among
	 * themselves. */
	if (g->bops->check_peer) {
		rc = g->bops->check_peer(g->bstate, r);
		if (rc < 0)
			return rc;
		if (rc > 0)
			return WIN_OK;
	}
	/* Only a pid on this host means anything here; members on other
	 * hosts are watched by the bootstrap and the network transports
	 * (and bounded by the context's timeout). */
	if (win_group_same_host(g, r) && !win_pid_alive(g->pids[r]))
		return win_seterr(WIN_ERR_PEER, "rank %d (pid %d) of the group "
				  "has died", r, (int)g->pids[r]);
	return WIN_OK;
}

int win_group_check_peers(struct win_group *g)
{
	for (int r = 0; r < g->size; r++) {
		int rc = win_group_check_peer(g, r);

		if (rc)
			return rc;
	}
	return WIN_OK;
}

uint64_t win_boot_host_id(const char *name)
{
	char buf[384] = "";
	uint64_t h = 1469598103934665603ull;
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
	size_t n = 0;

	if (f) {
		n = fread(buf, 1, 127, f);
		fclose(f);
	}
	buf[n] = '\0';
	/* WIN_HOSTNAME stands in for the host name: several "hosts" on one
	 * machine, for testing the choice between host and network paths. */
	if (!name)
		name = getenv("WIN_HOSTNAME");
	if (name && *name)
		snprintf(buf + n, sizeof(buf) - n, "%s", name);
	else
		gethostname(buf + n, sizeof(buf) - n - 1);
	for (const char *p = buf; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	return h ? h : 1;
}

int win_boot_seterr(int status, const char *msg)
{
	return win_seterr(status, "%s", msg ? msg : "");
}

/*
 * Wait until *word != old, bounded by the context's timeout and by peers
 * dying. `waiters` counts sleepers so that wakers can skip the syscall.
 */
static int boot_wait_change(struct win_group *g, uint32_t *word, uint32_t old,
			    uint32_t *waiters, const char *what)
{
	uint64_t deadline = win_now_ms() + (uint64_t)g->ctx->timeout_ms;

	for (int i = 0; i < WIN_WAIT_SPINS; i++) {
		if (__atomic_load_n(word, __ATOMIC_ACQUIRE) != old)
			return WIN_OK;
		win_cpu_relax();
	}
	while (__atomic_load_n(word, __ATOMIC_ACQUIRE) == old) {
		int rc;

		__atomic_fetch_add(waiters, 1, __ATOMIC_SEQ_CST);
		win_futex_wait(word, old, WIN_WAIT_SLICE_MS);
		__atomic_fetch_sub(waiters, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(word, __ATOMIC_ACQUIRE) != old)
			break;
		if (g->pids && (rc = win_group_check_peers(g)))
			return win_seterr(rc, "%s: %s", what,
					  win_last_error());
		if (win_now_ms() > deadline)
			return win_seterr(WIN_ERR_TIMEOUT,
					  "%s: no progress in %d ms", what,
					  g->ctx->timeout_ms);
	}
	return WIN_OK;
}

static void boot_wake(uint32_t *word, uint32_t *waiters)
{
	if (__atomic_load_n(waiters, __ATOMIC_SEQ_CST))
		win_futex_wake(word);
}

/* ---- the named single-host bootstrap (state: the group itself) ---- */

static int shm_barrier(void *state)
{
	struct win_group *g = state;
	struct win_boot *b;
	uint32_t gen;

	if (g->size == 1)
		return WIN_OK;
	b = g->boot;
	gen = __atomic_load_n(&b->bar_gen, __ATOMIC_ACQUIRE);
	if (__atomic_fetch_add(&b->bar_count, 1, __ATOMIC_ACQ_REL) ==
	    (uint32_t)g->size - 1) {
		__atomic_store_n(&b->bar_count, 0, __ATOMIC_RELAXED);
		__atomic_fetch_add(&b->bar_gen, 1, __ATOMIC_SEQ_CST);
		boot_wake(&b->bar_gen, &b->bar_waiters);
		return WIN_OK;
	}
	return boot_wait_change(g, &b->bar_gen, gen, &b->bar_waiters,
				"barrier");
}

static int shm_allgather(void *state, const void *in, void *out,
			 size_t len)
{
	struct win_group *g = state;

	for (size_t done = 0; done < len || (len == 0 && done == 0);) {
		size_t n = len - done < BOOT_SLOT ? len - done : BOOT_SLOT;
		int rc;

		memcpy(g->boot->slots + (size_t)g->rank * BOOT_SLOT,
		       (const char *)in + done, n);
		if ((rc = shm_barrier(g)))
			return rc;
		for (int r = 0; r < g->size; r++)
			memcpy((char *)out + (size_t)r * len + done,
			       g->boot->slots + (size_t)r * BOOT_SLOT, n);
		if ((rc = shm_barrier(g)))
			return rc;
		done += n;
		if (len == 0)
			break;
	}
	return WIN_OK;
}

/* A member that left cleanly is not a dead peer. */
static int shm_check_peer(void *state, int rank)
{
	struct win_group *g = state;

	return __atomic_load_n(&g->boot->m[rank].left, __ATOMIC_ACQUIRE) ? 1 :
									    0;
}

static void shm_leave(void *state)
{
	struct win_group *g = state;

	__atomic_store_n(&g->boot->m[g->rank].left, 1, __ATOMIC_RELEASE);
	munmap(g->boot, g->boot_len);
	g->boot = NULL;
}

static const struct win_boot_ops shm_boot_ops = {
	.name = "shm",
	.barrier = shm_barrier,
	.allgather = shm_allgather,
	.check_peer = shm_check_peer,
	.leave = shm_leave,
};

/* ---- dispatch ---- */

int win_group_barrier(win_group_t *g)
{
	if (win_group_check(g))
		return WIN_ERR_HANDLE;
	if (g->size == 1)
		return WIN_OK;
	return g->bops->barrier(g->bstate);
}

int win_group_allgather(struct win_group *g, const void *in, void *out,
			size_t len)
{
	if (g->size == 1) {
		if (len)
			memmove(out, in, len);
		return WIN_OK;
	}
	return g->bops->allgather(g->bstate, in, out, len);
}

/* Open or create the rendezvous segment; *created says which. */
static int boot_open(const char *shmname, int size, struct win_boot **bp,
		     bool *created)
{
	size_t len = boot_len(size);
	struct stat st;
	int fd;
	void *p;

	*created = false;
	fd = shm_open(shmname, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd >= 0) {
		*created = true;
		if (ftruncate(fd, (off_t)len) < 0) {
			int e = errno;

			close(fd);
			shm_unlink(shmname);
			return win_seterr_sys(WIN_ERR_SYS, e, "group segment");
		}
	} else if (errno == EEXIST) {
		fd = shm_open(shmname, O_RDWR, 0600);
		if (fd < 0)
			return win_seterr_sys(errno == EACCES ? WIN_ERR_PERM :
					      WIN_ERR_SYS, errno,
					      "open group segment %s", shmname);
		/* The creator may not have sized it yet. */
		for (int i = 0; i < 1000; i++) {
			if (fstat(fd, &st) == 0 && st.st_size > 0)
				break;
			usleep(1000);
		}
		if (fstat(fd, &st) < 0 || (size_t)st.st_size != len) {
			close(fd);
			return win_seterr(WIN_ERR_MISMATCH,
					  "group %s exists with another size",
					  shmname + 8);
		}
	} else {
		return win_seterr_sys(errno == EACCES ? WIN_ERR_PERM :
				      WIN_ERR_SYS, errno,
				      "create group segment %s", shmname);
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return win_seterr_sys(WIN_ERR_SYS, errno, "map group segment");
	*bp = p;
	return WIN_OK;
}

/* A segment whose every member so far is dead was left by a crash. */
static bool boot_stale(struct win_boot *b)
{
	bool any = false;

	if (!__atomic_load_n(&b->ready, __ATOMIC_ACQUIRE))
		return false;
	for (int r = 0; r < b->size && r < WIN_GROUP_MAX; r++) {
		pid_t pid = __atomic_load_n(&b->m[r].pid, __ATOMIC_ACQUIRE);

		if (!pid)
			continue;
		any = true;
		if (win_pid_alive(pid))
			return false;
	}
	return any;
}

static bool claim(struct win_boot *b, int rank)
{
	int32_t zero = 0;

	return __atomic_compare_exchange_n(&b->m[rank].pid, &zero,
					   (int32_t)getpid(), false,
					   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

static int claim_rank(struct win_boot *b, int size, int rank, int *got)
{
	if (rank >= 0) {
		if (!claim(b, rank))
			return win_seterr(WIN_ERR_ARG,
					  "rank %d of the group is taken",
					  rank);
		*got = rank;
		return WIN_OK;
	}
	for (int r = 0; r < size; r++) {
		if (claim(b, r)) {
			*got = r;
			return WIN_OK;
		}
	}
	return win_seterr(WIN_ERR_MISMATCH, "the group already has its %d "
			  "members", size);
}

int win_group_join(win_ctx_t *ctx, const char *name, int size, int rank,
		   win_group_t **gp)
{
	char shmname[256];
	struct win_group *g;
	struct win_boot *b = NULL;
	bool created;
	uint32_t joined;
	int rc;

	if (!win_ctx_live(ctx))
		return win_seterr(WIN_ERR_HANDLE, "win_group_join: invalid or "
				  "finalized context");
	if (!gp || !name || !*name)
		return win_seterr(WIN_ERR_ARG, "win_group_join: NULL argument");
	*gp = NULL;
	if (strchr(name, '/') || strlen(name) > 200)
		return win_seterr(WIN_ERR_ARG, "group name '%s' has a '/' or "
				  "is longer than 200 bytes", name);
	if (size < 1 || size > WIN_GROUP_MAX)
		return win_seterr(WIN_ERR_ARG, "group size %d outside 1..%d",
				  size, WIN_GROUP_MAX);
	if (rank < -1 || rank >= size)
		return win_seterr(WIN_ERR_RANK, "rank %d outside -1..%d", rank,
				  size - 1);
	snprintf(shmname, sizeof(shmname), "/libwin.%s", name);

	g = calloc(1, sizeof(*g));
	if (!g)
		return win_seterr(WIN_ERR_NOMEM, "win_group_join");
	g->magic = WIN_MAGIC_GROUP;
	g->ctx = ctx;
	g->size = size;
	g->bops = &shm_boot_ops;
	g->bstate = g;

	for (int attempt = 0;; attempt++) {
		rc = boot_open(shmname, size, &b, &created);
		if (rc)
			goto fail;
		if (created) {
			b->size = size;
			b->magic = BOOT_MAGIC;
			__atomic_store_n(&b->ready, 1, __ATOMIC_RELEASE);
			break;
		}
		for (int i = 0; i < 5000 &&
		     !__atomic_load_n(&b->ready, __ATOMIC_ACQUIRE); i++)
			usleep(1000);
		if (b->magic != BOOT_MAGIC || b->size != size) {
			munmap(b, boot_len(size));
			rc = win_seterr(WIN_ERR_MISMATCH,
					"group '%s': members disagree on its "
					"size (%d here)", name, size);
			goto fail;
		}
		if (attempt == 0 && boot_stale(b)) {
			win_log(ctx, WIN_LOG_WARN, "group '%s': removing a "
				"segment left by dead processes", name);
			munmap(b, boot_len(size));
			shm_unlink(shmname);
			continue;
		}
		break;
	}
	g->boot = b;
	g->boot_len = boot_len(size);
	rc = claim_rank(b, size, rank, &g->rank);
	if (rc) {
		munmap(b, g->boot_len);
		goto fail;
	}
	b->m[g->rank].hostid = win_boot_host_id(NULL);
	joined = __atomic_add_fetch(&b->joined, 1, __ATOMIC_SEQ_CST);
	if (joined == (uint32_t)size) {
		__atomic_fetch_add(&b->bar_gen, 1, __ATOMIC_SEQ_CST);
		win_futex_wake(&b->bar_gen);
	} else {
		/* bar_gen moves from 0 to 1 when the last member arrives. */
		while (__atomic_load_n(&b->joined, __ATOMIC_ACQUIRE) <
		       (uint32_t)size) {
			rc = boot_wait_change(g, &b->bar_gen, 0,
					      &b->bar_waiters, "group join");
			if (rc) {
				/* Give the rank back so a retry can use it. */
				joined = __atomic_sub_fetch(&b->joined, 1,
							    __ATOMIC_SEQ_CST);
				__atomic_store_n(&b->m[g->rank].pid, 0,
						 __ATOMIC_RELEASE);
				munmap(b, g->boot_len);
				/* The last one to give up removes the name. */
				if (joined == 0)
					shm_unlink(shmname);
				win_seterr(rc, "group '%s': %u of %d members "
					   "joined in time", name, joined + 1,
					   size);
				goto fail;
			}
		}
	}
	g->pids = calloc((size_t)size, sizeof(*g->pids));
	g->hostid = calloc((size_t)size, sizeof(*g->hostid));
	if (!g->pids || !g->hostid) {
		rc = win_seterr(WIN_ERR_NOMEM, "win_group_join");
		munmap(b, g->boot_len);
		goto fail;
	}
	for (int r = 0; r < size; r++) {
		g->pids[r] = b->m[r].pid;
		g->hostid[r] = b->m[r].hostid;
	}
	if (g->rank == 0)
		shm_unlink(shmname);
	g->next = ctx->groups;
	ctx->groups = g;
	*gp = g;
	return WIN_OK;
fail:
	free(g->pids);
	free(g->hostid);
	free(g);
	return rc;
}

int win_group_leave(win_group_t *g)
{
	struct win_group **pp;

	if (win_group_check(g))
		return WIN_ERR_HANDLE;
	for (struct win *w = g->ctx->wins; w; w = w->next) {
		if (w->magic == WIN_MAGIC_WIN && w->group == g)
			win_release_local(w);
	}
	for (pp = &g->ctx->groups; *pp; pp = &(*pp)->next) {
		if (*pp == g) {
			*pp = g->next;
			break;
		}
	}
	g->bops->leave(g->bstate);
	g->bstate = NULL;
	free(g->pids);
	free(g->hostid);
	g->pids = NULL;
	g->hostid = NULL;
	/* Kept as a tombstone until win_finalize, like a freed window. */
	g->magic = WIN_MAGIC_DEAD;
	g->next = g->ctx->dead_groups;
	g->ctx->dead_groups = g;
	return WIN_OK;
}

/* ---- groups over other bootstraps ---- */

struct boot_card {
	int32_t pid;
	int32_t rank; /* checks that the bootstrap gathers in rank order */
	uint64_t hostid;
};

int win_boot_group_create(win_ctx_t *ctx, int rank, int size,
			  const struct win_boot_ops *ops, void *state,
			  uint64_t hostid, win_group_t **gp)
{
	struct boot_card me, *all = NULL;
	struct win_group *g;
	int rc;

	if (!ops || !ops->barrier || !ops->allgather || !ops->leave)
		return win_seterr(WIN_ERR_ARG, "bootstrap without operations");
	if (!win_ctx_live(ctx) || !gp || size < 1 || rank < 0 ||
	    rank >= size) {
		ops->leave(state);
		if (!win_ctx_live(ctx))
			return win_seterr(WIN_ERR_HANDLE, "group bootstrap: "
					  "invalid or finalized context");
		if (!gp)
			return win_seterr(WIN_ERR_ARG, "group bootstrap: NULL "
					  "group pointer");
		return win_seterr(WIN_ERR_RANK, "group bootstrap: rank %d of "
				  "%d", rank, size);
	}
	*gp = NULL;
	g = calloc(1, sizeof(*g));
	if (g) {
		g->pids = calloc((size_t)size, sizeof(*g->pids));
		g->hostid = calloc((size_t)size, sizeof(*g->hostid));
		all = calloc((size_t)size, sizeof(*all));
	}
	if (!g || !g->pids || !g->hostid || !all) {
		rc = win_seterr(WIN_ERR_NOMEM, "group bootstrap");
		goto fail;
	}
	g->magic = WIN_MAGIC_GROUP;
	g->ctx = ctx;
	g->rank = rank;
	g->size = size;
	g->bops = ops;
	g->bstate = state;
	me = (struct boot_card){ .pid = (int32_t)getpid(), .rank = rank,
				 .hostid = hostid ? hostid :
						    win_boot_host_id(NULL) };
	if (size == 1)
		all[0] = me;
	else if ((rc = ops->allgather(state, &me, all, sizeof(me))))
		goto fail;
	for (int r = 0; r < size; r++) {
		if (all[r].rank != r) {
			rc = win_seterr(WIN_ERR_MISMATCH, "%s bootstrap: slot "
					"%d holds rank %d's data", ops->name,
					r, (int)all[r].rank);
			goto fail;
		}
		g->pids[r] = all[r].pid;
		g->hostid[r] = all[r].hostid;
	}
	free(all);
	win_log(ctx, WIN_LOG_INFO, "group of %d formed by %s, rank %d", size,
		ops->name, rank);
	g->next = ctx->groups;
	ctx->groups = g;
	*gp = g;
	return WIN_OK;
fail:
	ops->leave(state);
	free(all);
	if (g) {
		free(g->pids);
		free(g->hostid);
	}
	free(g);
	return rc;
}
