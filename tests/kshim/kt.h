/*
 * Helpers for the kshim module tests (they run inside the guest, where
 * /dev/kshim exists; without it each program exits 77).
 */
#ifndef KT_H
#define KT_H

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "uapi/kshim.h"

#define PG 4096UL

/* ioctl returning -errno instead of -1 */
static inline long kt_ioctl(int fd, unsigned long cmd, void *arg)
{
	long r = ioctl(fd, cmd, arg);

	return r < 0 ? -errno : r;
}

static inline int kt_open(void)
{
	int fd = open(KSHIM_DEVICE, O_RDWR | O_CLOEXEC);

	ck_assert_msg(fd >= 0, "open %s: %s", KSHIM_DEVICE, strerror(errno));
	return fd;
}

/* An attached port; *a receives the attach answer when non-NULL. */
static inline int kt_port(uint64_t pool_pages, uint32_t ring, struct kshim_attach *a)
{
	struct kshim_attach at = { .pool_pages = pool_pages, .ring_entries = ring };
	int fd = kt_open();

	ck_assert_int_eq(kt_ioctl(fd, KSHIM_IOC_ATTACH, &at), 0);
	if (a)
		*a = at;
	return fd;
}

static inline int kt_alloc(int port, uint64_t len)
{
	struct kshim_win_alloc wa = { .len = len };

	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_ALLOC, &wa), 0);
	ck_assert_int_ge(wa.fd, 0);
	return wa.fd;
}

static inline uint32_t kt_import(int port, int wfd)
{
	struct kshim_win_import im = { .fd = wfd };

	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_IMPORT, &im), 0);
	ck_assert_uint_gt(im.handle, 0);
	return im.handle;
}

static inline struct kshim_stats kt_stats(int port)
{
	struct kshim_stats s;

	memset(&s, 0xff, sizeof(s));
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_STATS, &s), 0);
	return s;
}

/* Submit one op; returns the op's status. */
static inline int kt_op(int port, struct kshim_op *op)
{
	struct kshim_submit s = { .ops = (uintptr_t)op, .count = 1 };
	long r = kt_ioctl(port, KSHIM_IOC_SUBMIT, &s);

	ck_assert_int_eq(r, 1);
	ck_assert_uint_eq(s.done, 1);
	return op->status;
}

static inline int kt_putget(int port, uint16_t opc, uint32_t h, uint64_t off,
			    void *buf, uint64_t len, uint16_t flags, uint64_t tag)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct kshim_op op = {
		.opcode = opc, .handle = h, .iovcnt = 1, .off = off,
		.addr = (uintptr_t)&iov, .len = len, .flags = flags, .tag = tag,
	};

	return kt_op(port, &op);
}

static inline int kt_atomic(int port, uint32_t h, uint16_t aop, uint16_t width,
			    uint64_t off, uint64_t operand, uint64_t compare, uint64_t *old)
{
	struct kshim_op op = {
		.opcode = KSHIM_OP_ATOMIC, .aop = aop, .width = width, .handle = h,
		.off = off, .operand = operand, .compare = compare,
	};
	int st = kt_op(port, &op);

	if (old)
		*old = op.result;
	return st;
}

/* Wait for one completion on a mapped ring (poll() flushes overflow). */
#include <poll.h>
static inline int kt_reap(int port, struct kshim_ring_hdr *r, struct kshim_cqe *out, int ms)
{
	struct kshim_cqe *slots = (struct kshim_cqe *)(r + 1);
	struct pollfd p = { .fd = port, .events = POLLIN };

	for (;;) {
		uint32_t tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);

		if (tail != r->head) {
			*out = slots[r->head & r->mask];
			__atomic_store_n(&r->head, r->head + 1, __ATOMIC_RELEASE);
			return 1;
		}
		if (poll(&p, 1, ms) <= 0)
			return 0;
	}
}

/* Run fn in a child; returns its exit status (or 128+signal). */
static inline int kt_child(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();
	int st;

	ck_assert_int_ge(pid, 0);
	if (!pid)
		_exit(fn(arg));
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* SCM_RIGHTS */
static inline int kt_send_fd(int sock, int fd)
{
	char c = 'f';
	struct iovec iov = { &c, 1 };
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } u;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.b, .msg_controllen = sizeof(u.b) };
	struct cmsghdr *c1 = CMSG_FIRSTHDR(&m);

	c1->cmsg_level = SOL_SOCKET;
	c1->cmsg_type = SCM_RIGHTS;
	c1->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c1), &fd, sizeof(int));
	return sendmsg(sock, &m, 0) == 1 ? 0 : -errno;
}

static inline int kt_recv_fd(int sock)
{
	char c;
	struct iovec iov = { &c, 1 };
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } u;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.b, .msg_controllen = sizeof(u.b) };
	struct cmsghdr *c1;
	int fd;

	if (recvmsg(sock, &m, 0) != 1)
		return -1;
	c1 = CMSG_FIRSTHDR(&m);
	if (!c1 || c1->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(c1), sizeof(int));
	return fd;
}

/* SIGBUS probing: returns 1 if reading/writing *p raised SIGBUS. */
static sigjmp_buf kt_jb;
static void kt_bus(int sig) { (void)sig; siglongjmp(kt_jb, 1); }
static inline int kt_faults(volatile char *p, int write)
{
	struct sigaction sa = { .sa_handler = kt_bus }, old;
	int hit = 0;

	sigaction(SIGBUS, &sa, &old);
	if (sigsetjmp(kt_jb, 1) == 0) {
		if (write)
			*p = 1;
		else
			(void)*p;
	} else {
		hit = 1;
	}
	sigaction(SIGBUS, &old, NULL);
	return hit;
}

/* Global counters that must come back to a baseline. */
static inline int kt_stats_same(const struct kshim_stats *a, const struct kshim_stats *b)
{
	return a->ports == b->ports && a->windows == b->windows &&
	       a->pool_pages == b->pool_pages && a->pinned_pages == b->pinned_pages;
}

/* Wait up to ms for the global counters to return to base. */
static inline int kt_settle(int port, const struct kshim_stats *base, int ms)
{
	struct kshim_stats s;
	int i;

	for (i = 0; i <= ms / 20; i++) {
		s = kt_stats(port);
		if (kt_stats_same(&s, base))
			return 1;
		usleep(20000);
	}
	fprintf(stderr, "stats: ports %llu/%llu windows %llu/%llu pool %llu/%llu pinned %llu/%llu\n",
		(unsigned long long)s.ports, (unsigned long long)base->ports,
		(unsigned long long)s.windows, (unsigned long long)base->windows,
		(unsigned long long)s.pool_pages, (unsigned long long)base->pool_pages,
		(unsigned long long)s.pinned_pages, (unsigned long long)base->pinned_pages);
	return 0;
}

/* main() body shared by the programs. */
static inline int kt_main(Suite *s)
{
	SRunner *sr;
	int nf;

	if (access(KSHIM_DEVICE, R_OK | W_OK) != 0) {
		printf("SKIP: %s not present (load kshim.ko; these tests run in the guest)\n",
		       KSHIM_DEVICE);
		return 77;
	}
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf ? 1 : 0;
}

#endif
