/*
 * Adopted memory: the pages behind a created window moved into a memfd
 * segment, so that same-host peers can map them.
 *
 * A window created over ordinary memory (malloc, posix_memalign, anonymous
 * mmap) can only be reached by another process through one process_vm
 * system call per access, and its atomics need a lock around two of them.
 * When a peer's transport maps segments (shm), win_create instead copies
 * the pages that hold the window into a fresh memfd and moves that mapping
 * over the same addresses with mremap(MREMAP_FIXED): the owner keeps its
 * pointer and its bytes, the peers map the memfd and use loads, stores and
 * CPU atomics. When the last window over them is freed the pages are
 * copied back into private anonymous memory the same way.
 *
 * What is adopted, and when:
 *  - only pages of private, anonymous, writable mappings (the heap, mmap'd
 *    malloc chunks, anonymous mmap): never the stack, files, shared
 *    mappings or anything else;
 *  - the first and last page may hold bytes that are not the window's
 *    (neighbouring allocations, malloc's own headers). Another thread
 *    storing there during the copy would lose its store, so such pages are
 *    adopted only while the process has a single thread; a page-aligned
 *    window of whole pages is adopted in any process (its bytes are the
 *    window's, which nobody may store to while win_create or win_free run);
 *  - WIN_SHM_ADOPT=0 turns it off.
 * A child created by fork() gets private copies of adopted pages at once
 * (the atfork handler below), as it would have of the original memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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
	size_t len, pos;
	char buf[8192];
};

static bool maps_open(struct maps_reader *m)
{
	m->len = m->pos = 0;
	m->fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
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
		if (m->len == sizeof(m->buf))
			return NULL; /* no line is this long */
		n = read(m->fd, m->buf + m->len, sizeof(m->buf) - m->len);
		if (n <= 0)
			return NULL;
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

/* "lo-hi perms offset dev inode   path" */
static bool maps_next(struct maps_reader *m, struct vma *v)
{
	size_t len;
	char *line = maps_line(m, &len);
	const char *s, *end;
	unsigned long n;

	if (!line)
		return false;
	end = line + len;
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

	if (!maps_open(&m))
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

static int thread_count(void)
{
	char buf[4096];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ssize_t n;
	char *t;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	t = strstr(buf, "\nThreads:");
	return t ? atoi(t + 9) : -1;
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
 * they have now, if the mapping there is still m's segment (the owner may
 * have unmapped it, or fork's handler already did this).
 */
static bool give_back(struct win_mem *m)
{
	struct stat st;
	void *tmp;

	if (m->seg.fd < 0 || fstat(m->seg.fd, &st) ||
	    !range_is((uintptr_t)m->seg.addr,
		      (uintptr_t)m->seg.addr + m->seg.len, ok_our_segment,
		      (unsigned long)st.st_ino))
		return false;
	tmp = mmap(NULL, m->seg.len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (tmp == MAP_FAILED)
		return false;
	if (!copy_out(tmp, m->seg.fd, m->seg.len) ||
	    mremap(tmp, m->seg.len, m->seg.len, MREMAP_MAYMOVE | MREMAP_FIXED,
		   m->seg.addr) == MAP_FAILED) {
		munmap(tmp, m->seg.len);
		return false;
	}
	return true;
}

/* ---- fork: children get private copies ---- */

static pthread_mutex_t adopted_lock = PTHREAD_MUTEX_INITIALIZER;
static struct win_mem *adopted; /* every adopted segment in the process */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void atfork_prepare(void)
{
	pthread_mutex_lock(&adopted_lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&adopted_lock);
}

static void atfork_child(void)
{
	for (struct win_mem *m = adopted; m; m = m->next_adopted)
		give_back(m);
	pthread_mutex_unlock(&adopted_lock);
}

static void atfork_register(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* ---- adoption ---- */

bool win_mem_adoption_wanted(struct win *w)
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

struct win_mem *win_mem_adopt(struct win_ctx *ctx, void *base, size_t len)
{
	size_t pg = win_page_size();
	uintptr_t lo = (uintptr_t)base / pg * pg;
	uintptr_t hi = ((uintptr_t)base + len + pg - 1) / pg * pg;
	bool foreign = lo != (uintptr_t)base || hi != (uintptr_t)base + len;
	struct win_mem *m;

	if (!len || hi < lo)
		return NULL;
	if (!range_is(lo, hi, ok_private_anon, 0)) {
		win_log(ctx, WIN_LOG_DEBUG, "window memory %p+%zu: not private "
			"anonymous memory, peers reach it with process_vm",
			base, len);
		return NULL;
	}
	if (foreign && thread_count() != 1) {
		win_log(ctx, WIN_LOG_DEBUG, "window memory %p+%zu shares its "
			"first or last page and the process has threads: peers "
			"reach it with process_vm", base, len);
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	if (win_segment_create(&m->seg, "libwin-adopted", hi - lo)) {
		free(m);
		return NULL;
	}
	if (!copy_in(m->seg.fd, (char *)lo, hi - lo) ||
	    mremap(m->seg.addr, m->seg.len, m->seg.len,
		   MREMAP_MAYMOVE | MREMAP_FIXED, (void *)lo) == MAP_FAILED) {
		win_log(ctx, WIN_LOG_DEBUG, "moving window memory into a "
			"segment: %s", strerror(errno));
		win_segment_destroy(&m->seg);
		free(m);
		return NULL;
	}
	m->seg.addr = (void *)lo;
	m->adopted = true;
	m->foreign = foreign;
	pthread_once(&atfork_once, atfork_register);
	pthread_mutex_lock(&adopted_lock);
	m->next_adopted = adopted;
	adopted = m;
	pthread_mutex_unlock(&adopted_lock);
	m->next = ctx->mems;
	ctx->mems = m;
	win_log(ctx, WIN_LOG_DEBUG, "window memory %p+%zu adopted (%zu pages)",
		base, len, m->seg.len / pg);
	return m;
}

void win_mem_release(struct win_mem *m)
{
	if (m->adopted) {
		struct win_mem **pp;

		pthread_mutex_lock(&adopted_lock);
		for (pp = &adopted; *pp && *pp != m; pp = &(*pp)->next_adopted)
			;
		if (*pp)
			*pp = m->next_adopted;
		pthread_mutex_unlock(&adopted_lock);
		/* Giving back a page shared with other data could race
		 * another thread: such pages stay shared (still the owner's
		 * memory, at the same addresses). */
		if (!m->foreign || thread_count() == 1)
			give_back(m);
		/* Whatever is mapped there now is the owner's: keep it. */
		m->seg.addr = NULL;
	}
	win_segment_destroy(&m->seg);
	free(m);
}
