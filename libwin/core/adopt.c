/*
 * Memory behind created windows that same-host peers can map.
 *
 * A window created over ordinary memory (malloc, posix_memalign, anonymous
 * mmap) can only be reached by another process through one process_vm
 * system call per access, and its atomics need a lock around two of them.
 * When a peer's transport maps segments (shm), win_create instead adopts
 * the window's whole pages: it copies them into a fresh memfd and maps
 * that over the same addresses (mmap MAP_FIXED): the owner keeps its
 * pointer and its bytes, the peers map the memfd and use loads, stores
 * and CPU atomics there. When no window uses them any more the pages are
 * copied back into private anonymous memory the same way.
 *
 * Only pages that hold nothing but the window's own bytes are adopted:
 * the part of a window between its first and its last page boundary. The
 * bytes before the first boundary and after the last, which share their
 * pages with other data (neighbouring allocations, malloc's headers) that
 * other threads may be writing, stay where they are; peers reach them with
 * process_vm calls (transport/shm/shm.c splits each access). Nobody may
 * store to the window's bytes while win_create or win_free runs, as MPI
 * requires of the window's memory anyway.
 *
 * What is adopted, and when:
 *  - pages of private, anonymous, writable mappings (the heap, malloc's
 *    mmap'd chunks, anonymous mmap), not the stack in use, files, shared
 *    mappings, nor mappings that are locked (mlock), excluded from fork
 *    children (MADV_DONTFORK, MADV_WIPEONFORK), under userfaultfd or
 *    protection keys;
 *  - pages that no other live created window of the process overlaps (its
 *    registration with a device, the module or a peer would keep pointing
 *    at the replaced pages); a window over pages already adopted shares
 *    them, and they are given back once no created window overlaps them.
 *    So when windows overlap, pages moved for one that has been freed are
 *    given back only with the last overlapping one, and the rule above
 *    (no stores while win_free runs) then covers all of those pages;
 *  - WIN_SHM_ADOPT=0 turns it off. Memory that other software registered
 *    for DMA (RDMA, io_uring fixed buffers) must not be adopted: set it.
 * A child created by fork() gets private copies of adopted pages from the
 * atfork handler below, registered when the library is loaded; stores the
 * parent makes between fork() and that handler can still reach the child.
 * _Fork() and raw clone() run no handlers: such a child shares the pages.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/internal.h"

/* ---- /proc/self/maps, read without stdio or malloc (fork child) ---- */

struct vma {
	uintptr_t lo, hi;
	char perms[4];
	unsigned long inode;
	const char *path; /* not NUL-terminated */
	size_t pathlen;
};

struct maps_reader {
	int fd;
	bool err;         /* a read failed: what was seen is not all */
	size_t len, pos;
	char buf[8192];
};

static bool maps_open(struct maps_reader *m, const char *path)
{
	m->len = m->pos = 0;
	m->err = false;
	m->fd = open(path, O_RDONLY | O_CLOEXEC);
	return m->fd >= 0;
}

static void maps_close(struct maps_reader *m)
{
	close(m->fd);
}

/* The next whole line, or NULL at the end. */
static char *maps_line(struct maps_reader *m, size_t *llen)
{
	for (;;) {
		char *nl = memchr(m->buf + m->pos, '\n', m->len - m->pos);
		ssize_t n;

		if (nl) {
			char *line = m->buf + m->pos;

			*llen = (size_t)(nl - line);
			m->pos = (size_t)(nl - m->buf) + 1;
			return line;
		}
		memmove(m->buf, m->buf + m->pos, m->len - m->pos);
		m->len -= m->pos;
		m->pos = 0;
		if (m->len == sizeof(m->buf)) {
			m->err = true; /* no line is this long */
			return NULL;
		}
		n = read(m->fd, m->buf + m->len, sizeof(m->buf) - m->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			m->err |= n < 0;
			return NULL;
		}
		m->len += (size_t)n;
	}
}

static const char *parse_num(const char *s, const char *end, int base,
			     unsigned long *v)
{
	*v = 0;
	for (; s < end; s++) {
		int d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else
			break;
		*v = *v * (unsigned long)base + (unsigned long)d;
	}
	return s;
}

/* A maps line: "lo-hi perms offset dev inode   path". */
static bool parse_vma(const char *line, size_t len, struct vma *v)
{
	const char *s, *end = line + len;
	unsigned long n;

	s = parse_num(line, end, 16, &n);
	v->lo = n;
	if (s >= end || *s++ != '-')
		return false;
	s = parse_num(s, end, 16, &n);
	v->hi = n;
	if (end - s < 6 || *s++ != ' ')
		return false;
	memcpy(v->perms, s, 4);
	s += 5;
	for (int field = 0; field < 2; field++) { /* offset, device */
		while (s < end && *s != ' ')
			s++;
		s++;
	}
	s = parse_num(s, end, 10, &v->inode);
	while (s < end && *s == ' ')
		s++;
	v->path = s;
	v->pathlen = s < end ? (size_t)(end - s) : 0;
	return true;
}

static bool maps_next(struct maps_reader *m, struct vma *v)
{
	size_t len;
	char *line = maps_line(m, &len);

	return line && parse_vma(line, len, v);
}

static bool vma_adoptable(const struct vma *v)
{
	return !memcmp(v->perms, "rw-p", 4) && v->inode == 0 &&
	       (v->pathlen == 0 ||
		(v->pathlen == 6 && !memcmp(v->path, "[heap]", 6)));
}

/* Is [lo, hi) covered, without holes, by mappings that pass `ok`? */
static bool range_is(uintptr_t lo, uintptr_t hi,
		     bool (*ok)(const struct vma *, unsigned long),
		     unsigned long arg)
{
	struct maps_reader m;
	struct vma v;
	uintptr_t cur = lo;

	if (!maps_open(&m, "/proc/self/maps"))
		return false;
	while (cur < hi && maps_next(&m, &v)) {
		if (v.hi <= cur)
			continue;
		if (v.lo > cur || !ok(&v, arg))
			break;
		cur = v.hi;
	}
	maps_close(&m);
	return cur >= hi;
}

static bool ok_private_anon(const struct vma *v, unsigned long unused)
{
	return vma_adoptable(v);
}

static bool ok_our_segment(const struct vma *v, unsigned long inode)
{
	return !memcmp(v->perms, "rw-s", 4) && v->inode == inode;
}

/*
 * Does a mapping overlapping [lo, hi) carry a property that moving its
 * pages would drop (smaps VmFlags: locked, not copied or wiped on fork,
 * userfaultfd) or a protection key? Unreadable: assume so.
 */
static bool flags_forbid(uintptr_t lo, uintptr_t hi)
{
	static const char bad[][3] = { "lo", "dc", "wf", "um", "uw", "ui" };
	struct maps_reader m;
	bool in = false, forbid = false;
	size_t len;
	char *line;

	if (!maps_open(&m, "/proc/self/smaps"))
		return true;
	while (!forbid && (line = maps_line(&m, &len))) {
		struct vma v;

		if (len && ((*line >= '0' && *line <= '9') ||
			    (*line >= 'a' && *line <= 'f'))) {
			in = parse_vma(line, len, &v) && v.lo < hi && v.hi > lo;
		} else if (in && len > 8 && !memcmp(line, "VmFlags:", 8)) {
			for (size_t i = 8; i + 2 <= len; i += 3) {
				while (i < len && line[i] == ' ')
					i++;
				for (size_t k = 0; k < sizeof(bad) / 3; k++)
					if (i + 2 <= len &&
					    !memcmp(line + i, bad[k], 2))
						forbid = true;
			}
		} else if (in && len > 14 &&
			   !memcmp(line, "ProtectionKey:", 14)) {
			unsigned long key;
			const char *t = line + 14;

			while (t < line + len && *t == ' ')
				t++;
			parse_num(t, line + len, 10, &key);
			forbid = key != 0;
		}
	}
	maps_close(&m);
	return forbid || m.err;
}

/* Does the mapping this thread runs its stack on overlap [lo, hi)? */
static bool holds_our_stack(uintptr_t lo, uintptr_t hi)
{
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
	struct maps_reader m;
	struct vma v;
	bool hit = true; /* unknown: as if it did */

	if (!maps_open(&m, "/proc/self/maps"))
		return true;
	while (maps_next(&m, &v)) {
		if (sp >= v.lo && sp < v.hi) {
			hit = v.lo < hi && v.hi > lo;
			break;
		}
	}
	maps_close(&m);
	return hit;
}

/* ---- copying pages ----
 *
 * The edge pages hold bytes that are not the window's, which sanitizers
 * see as out of bounds: pages are read only by page_is_zero (exempt) and
 * by the kernel (pwrite/pread), never by an intercepted memcpy.
 */

__attribute__((no_sanitize_address))
static bool page_is_zero(const char *p, size_t pg)
{
	const volatile uint64_t *q = (const volatile uint64_t *)p;

	for (size_t i = 0; i < pg / 8; i++)
		if (q[i])
			return false;
	return true;
}

static bool rw_all(bool write, int fd, char *buf, size_t len, off_t off)
{
	while (len) {
		long n = syscall(write ? SYS_pwrite64 : SYS_pread64, fd, buf,
				 len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		buf += n;
		len -= (size_t)n;
		off += n;
	}
	return true;
}

/* Into a fresh memfd: zero pages stay holes (never-touched memory reads as
 * zero and would otherwise be allocated by the copy). */
static bool copy_in(int fd, char *src, size_t len)
{
	size_t pg = win_page_size();

	for (size_t o = 0; o < len; o += pg)
		if (!page_is_zero(src + o, pg) &&
		    !rw_all(true, fd, src + o, pg, (off_t)o))
			return false;
	return true;
}

/* Out of the memfd: only the extents that hold data. */
static bool copy_out(char *dst, int fd, size_t len)
{
	off_t o = 0;

	while ((size_t)o < len) {
		off_t d = lseek(fd, o, SEEK_DATA), h;

		if (d < 0) /* ENXIO: holes to the end */
			return errno == ENXIO ||
			       rw_all(false, fd, dst + o, len - (size_t)o, o);
		h = lseek(fd, d, SEEK_HOLE);
		if (h < 0 || (size_t)h > len)
			h = (off_t)len;
		if (!rw_all(false, fd, dst + d, (size_t)(h - d), d))
			return false;
		o = h;
	}
	return true;
}

/*
 * Put private anonymous pages back under m's addresses, with the contents
 * they have now: copied into a fresh mapping first, which then replaces
 * the segment's in one step. Only if the mapping there is still m's
 * segment (`check`; the owner may have unmapped it).
 */
static bool give_back(struct win_mem *m, bool check)
{
	struct stat st;
	void *tmp;

	if (check && (fstat(m->seg.fd, &st) ||
		      !range_is((uintptr_t)m->seg.addr,
				(uintptr_t)m->seg.addr + m->seg.len,
				ok_our_segment, (unsigned long)st.st_ino)))
		return true; /* nothing of ours is there any more */
	tmp = mmap(NULL, m->seg.len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (tmp == MAP_FAILED)
		return false;
	if (copy_out(tmp, m->seg.fd, m->seg.len) &&
	    mremap(tmp, m->seg.len, m->seg.len, MREMAP_MAYMOVE | MREMAP_FIXED,
		   m->seg.addr) != MAP_FAILED)
		return true;
	munmap(tmp, m->seg.len);
	/* A failed MREMAP_FIXED may have unmapped the range: put the
	 * segment back (it still holds every byte). */
	if (!fstat(m->seg.fd, &st) &&
	    !range_is((uintptr_t)m->seg.addr,
		      (uintptr_t)m->seg.addr + m->seg.len, ok_our_segment,
		      (unsigned long)st.st_ino))
		mmap(m->seg.addr, m->seg.len, PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_FIXED, m->seg.fd, 0);
	return false;
}

/* ---- the process's adopted segments and created windows ---- */

static pthread_mutex_t adopt_lock = PTHREAD_MUTEX_INITIALIZER;
static struct win_mem *adopted; /* in use, or waiting to be given back */
static struct win *created;     /* live created windows, every context */

/*
 * fork: the child gets private copies at once. Registered when the library
 * is loaded, so that it runs before child handlers registered later.
 */
static void atfork_prepare(void)
{
	pthread_mutex_lock(&adopt_lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&adopt_lock);
}

static void atfork_child(void)
{
	for (struct win_mem *m = adopted; m; m = m->next)
		give_back(m, true);
	/* The segments and windows are the parent's: a window the child
	 * creates over the same addresses must not find them. (Windows the
	 * child inherited still point at their records, left allocated.) */
	adopted = NULL;
	created = NULL;
	pthread_mutex_unlock(&adopt_lock);
}

__attribute__((constructor)) static void adopt_init(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* Does a live created window other than `except` overlap [lo, hi)? */
static bool overlaps_created(uintptr_t lo, uintptr_t hi,
			     const struct win *except)
{
	for (const struct win *w = created; w; w = w->next_created)
		if (w != except && w->len && (uintptr_t)w->base < hi &&
		    (uintptr_t)w->base + w->len > lo)
			return true;
	return false;
}

static struct win_mem *adopted_find(uintptr_t lo, uintptr_t hi)
{
	for (struct win_mem *m = adopted; m; m = m->next) {
		uintptr_t a = (uintptr_t)m->seg.addr;

		if (lo >= a && hi <= a + m->seg.len)
			return m;
	}
	return NULL;
}

static bool adoption_wanted(struct win *w)
{
	const char *env = getenv("WIN_SHM_ADOPT");

	if (env && !strcmp(env, "0"))
		return false;
	for (int r = 0; r < w->size; r++)
		if (r != w->rank && w->peers[r].tp &&
		    w->peers[r].tp->maps_segments)
			return true;
	return false;
}

/* Move the whole pages [lo, hi) into a new segment; NULL if not. */
static struct win_mem *adopt(struct win *w, uintptr_t lo, uintptr_t hi)
{
	size_t len = hi - lo;
	sigset_t all, old;
	struct win_mem *m;
	bool ok;
	void *p;

	if (overlaps_created(lo, hi, w) || holds_our_stack(lo, hi) ||
	    !range_is(lo, hi, ok_private_anon, 0) || flags_forbid(lo, hi)) {
		win_log(w->ctx, WIN_LOG_DEBUG, "window memory %p+%zu stays "
			"where it is (not plain private memory, or another "
			"window uses it): peers reach it with process_vm",
			w->base, w->len);
		return NULL;
	}
	if (!(m = calloc(1, sizeof(*m))))
		return NULL;
	m->seg.fd = memfd_create("libwin-adopted", MFD_CLOEXEC);
	if (m->seg.fd < 0 || ftruncate(m->seg.fd, (off_t)len)) {
		if (m->seg.fd >= 0)
			close(m->seg.fd);
		free(m);
		return NULL;
	}
	m->seg.len = len;
	m->seg.addr = (void *)lo;
	/* No signal handler may store into the pages between copy and map. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ok = copy_in(m->seg.fd, (char *)lo, len);
	p = ok ? mmap((void *)lo, len, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_FIXED, m->seg.fd, 0) : MAP_FAILED;
	if (ok && p == MAP_FAILED && !range_is(lo, hi, ok_private_anon, 0)) {
		/* The kernel let go of the old pages but did not map the
		 * new ones: the segment holds every byte, try once more. */
		p = mmap((void *)lo, len, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, m->seg.fd, 0);
		if (p == MAP_FAILED)
			win_log(w->ctx, WIN_LOG_ERROR, "window memory %p+%zu "
				"could not be mapped back: %s", (void *)lo,
				len, strerror(errno));
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (p == MAP_FAILED) {
		close(m->seg.fd);
		free(m);
		return NULL;
	}
	m->adopted = true;
	m->next = adopted;
	adopted = m;
	win_log(w->ctx, WIN_LOG_DEBUG, "window memory %p+%zu: %zu pages "
		"adopted", w->base, w->len, len / win_page_size());
	return m;
}

/* w uses m for its bytes [lo, hi). */
static void use(struct win *w, struct win_mem *m, uintptr_t lo, uintptr_t hi)
{
	m->users++;
	w->mem = m;
	w->mem_lo = lo - (uintptr_t)w->base;
	w->mem_hi = hi - (uintptr_t)w->base;
	w->mem_off = lo - (uintptr_t)m->seg.addr;
}

void win_created_attach(struct win *w)
{
	size_t pg = win_page_size();
	uintptr_t b = (uintptr_t)w->base, e = b + w->len;
	uintptr_t lo = (b + pg - 1) / pg * pg, hi = e / pg * pg;
	struct win_mem *m;

	pthread_mutex_lock(&adopt_lock);
	if (w->len && (m = win_mem_find(w->ctx, w->base, w->len)))
		use(w, m, b, e); /* inside win_mem_alloc'ed memory */
	else if (lo < hi &&
		 ((m = win_mem_find(w->ctx, (void *)lo, hi - lo)) ||
		  (m = adopted_find(lo, hi)) ||
		  (adoption_wanted(w) && (m = adopt(w, lo, hi)))))
		use(w, m, lo, hi);
	w->next_created = created;
	created = w;
	w->created_listed = true;
	pthread_mutex_unlock(&adopt_lock);
}

void win_created_detach(struct win *w)
{
	struct win_mem **pp;

	pthread_mutex_lock(&adopt_lock);
	if (w->created_listed) {
		struct win **wp;

		for (wp = &created; *wp && *wp != w; wp = &(*wp)->next_created)
			;
		if (*wp)
			*wp = w->next_created;
		w->created_listed = false;
	}
	if (w->mem)
		w->mem->users--;
	w->mem = NULL;
	/* Pages no window uses go back, once no created window overlaps
	 * them (one that does might reach them by address). */
	for (pp = &adopted; *pp;) {
		struct win_mem *m = *pp;
		uintptr_t a = (uintptr_t)m->seg.addr;

		if (m->users || overlaps_created(a, a + m->seg.len, NULL) ||
		    !give_back(m, true)) {
			pp = &m->next;
			continue;
		}
		*pp = m->next;
		close(m->seg.fd);
		free(m);
	}
	pthread_mutex_unlock(&adopt_lock);
}
