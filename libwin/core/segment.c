/*
 * Shared memory segments: memfd-backed, page-aligned. A peer on the same host
 * maps a segment by opening the owner's descriptor through /proc/PID/fd,
 * which needs no socket and no name in /dev/shm that a crash could leave
 * behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/internal.h"

size_t win_page_size(void)
{
	static size_t page;

	if (!page)
		page = (size_t)sysconf(_SC_PAGESIZE);
	return page;
}

static size_t round_pages(size_t len)
{
	size_t pg = win_page_size();

	if (len == 0)
		len = 1;
	return (len + pg - 1) / pg * pg;
}

int win_segment_create(struct win_segment *seg, const char *name, size_t len)
{
	seg->fd = -1;
	seg->addr = NULL;
	seg->len = round_pages(len);
	if (seg->len < len)
		return win_seterr(WIN_ERR_NOMEM, "segment of %zu bytes", len);
	seg->fd = memfd_create(name, MFD_CLOEXEC);
	if (seg->fd < 0)
		return win_seterr_sys(WIN_ERR_SYS, errno, "memfd_create");
	if (ftruncate(seg->fd, (off_t)seg->len) < 0) {
		int e = errno;

		close(seg->fd);
		seg->fd = -1;
		return win_seterr_sys(e == ENOMEM || e == ENOSPC ?
				      WIN_ERR_NOMEM : WIN_ERR_SYS, e,
				      "ftruncate of a %zu byte segment",
				      seg->len);
	}
	seg->addr = mmap(NULL, seg->len, PROT_READ | PROT_WRITE, MAP_SHARED,
			 seg->fd, 0);
	if (seg->addr == MAP_FAILED) {
		int e = errno;

		seg->addr = NULL;
		close(seg->fd);
		seg->fd = -1;
		return win_seterr_sys(WIN_ERR_NOMEM, e, "mmap of %zu bytes",
				      seg->len);
	}
	return WIN_OK;
}

int win_segment_attach(struct win_segment *seg, pid_t pid, int fd, size_t len)
{
	char path[64];

	seg->addr = NULL;
	seg->len = round_pages(len);
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
	seg->fd = open(path, O_RDWR | O_CLOEXEC);
	if (seg->fd < 0) {
		int e = errno;

		return win_seterr_sys(e == EACCES || e == EPERM ?
				      WIN_ERR_PERM : WIN_ERR_SYS, e,
				      "cannot open peer segment %s", path);
	}
	seg->addr = mmap(NULL, seg->len, PROT_READ | PROT_WRITE, MAP_SHARED,
			 seg->fd, 0);
	if (seg->addr == MAP_FAILED) {
		int e = errno;

		seg->addr = NULL;
		close(seg->fd);
		seg->fd = -1;
		return win_seterr_sys(WIN_ERR_SYS, e, "mmap of peer segment");
	}
	return WIN_OK;
}

void win_segment_destroy(struct win_segment *seg)
{
	if (seg->addr)
		munmap(seg->addr, seg->len);
	if (seg->fd >= 0)
		close(seg->fd);
	seg->addr = NULL;
	seg->fd = -1;
}
