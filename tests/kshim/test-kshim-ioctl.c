/*
 * kshim ioctl-level tests: every ioctl with good and bad arguments,
 * put/get/atomics, the completion ring, staged puts, exposure.
 */
#include "kt.h"

START_TEST(version_and_attach)
{
	struct kshim_version v;
	struct kshim_attach a;
	int fd = kt_open();

	ck_assert_int_eq(kt_ioctl(fd, KSHIM_IOC_VERSION, &v), 0);
	ck_assert_uint_eq(v.major, KSHIM_ABI_MAJOR);
	ck_assert_uint_eq(v.page_size, (uint64_t)sysconf(_SC_PAGESIZE));
	ck_assert_uint_gt(v.max_pool_pages, 0);
	ck_assert_int_eq(kt_ioctl(fd, KSHIM_IOC_VERSION, NULL), -EFAULT);
	ck_assert_int_eq(kt_ioctl(fd, KSHIM_IOC_ATTACH, NULL), -EFAULT);
	ck_assert_int_eq(kt_ioctl(fd, KSHIM_IOC_STATS, NULL), -EFAULT);

	/* everything else needs ATTACH first */
	struct kshim_win_alloc wa = { .len = PG };
	ck_assert_int_eq(kt_ioctl(fd, KSHIM_IOC_WIN_ALLOC, &wa), -ENOTCONN);

	memset(&a, 0, sizeof(a));
	a.flags = 1;
	ck_assert_int_eq(kt_ioctl(fd, KSHIM_IOC_ATTACH, &a), -EINVAL);
	memset(&a, 0, sizeof(a));
	a.ring_entries = v.max_ring_entries + 1;
	ck_assert_int_eq(kt_ioctl(fd, KSHIM_IOC_ATTACH, &a), -EINVAL);
	memset(&a, 0, sizeof(a));
	a.pool_pages = 64;
	a.ring_entries = 5;
	ck_assert_int_eq(kt_ioctl(fd, KSHIM_IOC_ATTACH, &a), 0);
	ck_assert_uint_eq(a.pool_pages, 64);
	ck_assert_uint_eq(a.ring_entries, 8);
	ck_assert_uint_ge(a.ring_mmap_len, sizeof(struct kshim_ring_hdr) + 8 * sizeof(struct kshim_cqe));
	ck_assert_uint_le(a.stage_mmap_len, 64 * PG);
	ck_assert_int_eq(kt_ioctl(fd, KSHIM_IOC_ATTACH, &a), -EBUSY);

	struct kshim_stats s = kt_stats(fd);
	ck_assert_uint_eq(s.port_pool_pages, 64);
	ck_assert_uint_eq(s.port_pool_free, 64 - a.stage_mmap_len / PG);
	ck_assert_uint_ge(s.ports, 1);
	/* unknown ioctls */
	ck_assert_int_eq(kt_ioctl(fd, _IO(KSHIM_IOC_MAGIC, 0x7f), NULL), -ENOTTY);
	ck_assert_int_eq(kt_ioctl(fd, _IOW(KSHIM_IOC_MAGIC, 0x10, int), &wa), -ENOTTY);
	ck_assert_int_eq(kt_ioctl(fd, TCGETS, &wa), -ENOTTY);
	close(fd);
}
END_TEST

START_TEST(window_bad_args)
{
	int port = kt_port(64, 0, NULL);
	struct kshim_win_alloc wa = { 0 };
	struct kshim_win_register wr = { 0 };
	struct kshim_win_import im = { 0 };
	struct kshim_win_dup d = { 0 };
	struct kshim_win_release rl = { 0 };
	struct kshim_win_expose ex = { 0 };
	struct kshim_win_revoke rv = { 0 };

	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_ALLOC, NULL), -EFAULT);
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_ALLOC, &wa), -EINVAL); /* len 0 */
	wa.len = PG;
	wa.flags = 4;
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_ALLOC, &wa), -EINVAL);
	wa.flags = 0;
	wa.len = 1ULL << 40;
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_ALLOC, &wa), -ENOMEM);

	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_REGISTER, NULL), -EFAULT);
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_REGISTER, &wr), -EINVAL);
	wr.addr = 0x1000;
	wr.len = PG;
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_REGISTER, &wr), -EFAULT); /* unmapped */
	wr.addr = ~0ULL - 10;
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_REGISTER, &wr), -EINVAL);

	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_IMPORT, NULL), -EFAULT);
	im.fd = -1;
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_IMPORT, &im), -EBADF);
	im.fd = port; /* not a window file */
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_IMPORT, &im), -EINVAL);
	im.fd = 0;
	im.pad = 1;
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_IMPORT, &im), -EINVAL);

	d.fd = 12345;
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_DUP, &d), -EBADF);
	d.flags = 8;
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_DUP, &d), -EINVAL);

	rl.handle = 99;
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_RELEASE, &rl), -EBADF);
	rl.handle = 0;
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_RELEASE, &rl), -EBADF);
	rl.pad = 1;
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_RELEASE, &rl), -EINVAL);
	ex.handle = 7;
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_EXPOSE, &ex), -EBADF);
	ex.exposed = 2;
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_EXPOSE, &ex), -EINVAL);
	rv.handle = 7;
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_REVOKE, &rv), -EBADF);
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_REVOKE, NULL), -EFAULT);

	/* a good window, its handle, release twice */
	int w = kt_alloc(port, 3 * PG + 5);
	im.fd = w;
	im.pad = 0;
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_IMPORT, &im), 0);
	ck_assert_uint_eq(im.len, 3 * PG + 5);
	ck_assert_uint_eq(im.flags, KSHIM_WIN_KERNEL_OWNED);
	rl.handle = im.handle;
	rl.pad = 0;
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_RELEASE, &rl), 0);
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_RELEASE, &rl), -EBADF);
	/* window file is close-on-exec */
	ck_assert_int_eq(fcntl(w, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	/* window fds do not take port ioctls */
	ck_assert_int_eq(kt_ioctl(w, KSHIM_IOC_VERSION, &wa), -ENOTTY);
	close(w);
	close(port);
}
END_TEST

START_TEST(submit_bad_ops)
{
	int port = kt_port(64, 0, NULL);
	int w = kt_alloc(port, 2 * PG);
	uint32_t h = kt_import(port, w);
	char buf[64] = "x";
	struct iovec iov = { buf, sizeof(buf) };
	struct kshim_op op;
	struct kshim_submit s = { 0 };

	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_SUBMIT, NULL), -EFAULT);
	s.count = 1;
	s.ops = 0;
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_SUBMIT, &s), -EFAULT);
	s.count = 0;
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_SUBMIT, &s), 0);
	s.done = 3;
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_SUBMIT, &s), -EINVAL);

#define OP0() memset(&op, 0, sizeof(op)), op.opcode = KSHIM_OP_PUT, op.handle = h, \
	op.iovcnt = 1, op.addr = (uintptr_t)&iov, op.len = sizeof(buf)
	OP0();
	ck_assert_int_eq(kt_op(port, &op), 0);
	OP0(); op.opcode = 9;
	ck_assert_int_eq(kt_op(port, &op), -EINVAL);
	OP0(); op.opcode = 0;
	ck_assert_int_eq(kt_op(port, &op), -EINVAL);
	OP0(); op.pad = 1;
	ck_assert_int_eq(kt_op(port, &op), -EINVAL);
	OP0(); op.flags = 0x80;
	ck_assert_int_eq(kt_op(port, &op), -EINVAL);
	OP0(); op.handle = 77;
	ck_assert_int_eq(kt_op(port, &op), -EBADF);
	OP0(); op.off = 2 * PG - 10;
	ck_assert_int_eq(kt_op(port, &op), -ERANGE);
	OP0(); op.off = ~0ULL - 2;
	ck_assert_int_eq(kt_op(port, &op), -ERANGE);
	OP0(); op.addr = 0;
	ck_assert_int_eq(kt_op(port, &op), -EFAULT);
	OP0(); op.len = 10; /* iovec total differs */
	ck_assert_int_eq(kt_op(port, &op), -EINVAL);
	OP0(); iov.iov_base = (void *)16;
	ck_assert_int_eq(kt_op(port, &op), -EFAULT);
	iov.iov_base = buf;
	OP0(); op.opcode = KSHIM_OP_GET; op.iovcnt = 100000;
	ck_assert_int_eq(kt_op(port, &op), -EINVAL);
	/* atomics */
	ck_assert_int_eq(kt_atomic(port, h, KSHIM_AOP_FETCH_ADD, 3, 0, 1, 0, NULL), -EINVAL);
	ck_assert_int_eq(kt_atomic(port, h, KSHIM_AOP_FETCH_ADD, 8, 4, 1, 0, NULL), -EINVAL);
	ck_assert_int_eq(kt_atomic(port, h, 0, 8, 0, 1, 0, NULL), -EINVAL);
	ck_assert_int_eq(kt_atomic(port, h, 8, 8, 0, 1, 0, NULL), -EINVAL);
	ck_assert_int_eq(kt_atomic(port, h, KSHIM_AOP_SWAP, 8, 2 * PG, 1, 0, NULL), -ERANGE);
	ck_assert_int_eq(kt_atomic(port, h, KSHIM_AOP_SWAP, 4, 2 * PG - 4, 1, 0, NULL), 0);
	/* staged put from outside the staging area */
	OP0(); op.opcode = KSHIM_OP_PUT_STAGED; op.iovcnt = 0; op.addr = (uintptr_t)buf;
	ck_assert_int_eq(kt_op(port, &op), -EFAULT);

	/* a batch: statuses per op, done counts all */
	struct kshim_op ops[3];
	OP0(); ops[0] = op; ops[1] = op; ops[1].handle = 1234; ops[2] = op; ops[2].off = 1;
	s.ops = (uintptr_t)ops;
	s.count = 3;
	s.done = 0;
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_SUBMIT, &s), 3);
	ck_assert_uint_eq(s.done, 3);
	ck_assert_int_eq(ops[0].status, 0);
	ck_assert_int_eq(ops[1].status, -EBADF);
	ck_assert_int_eq(ops[2].status, 0);
	close(w);
	/* window gone: handle reports ENXIO */
	OP0();
	ck_assert_int_eq(kt_op(port, &op), -ENXIO);
	close(port);
}
END_TEST

START_TEST(putget_atomics_mmap)
{
	int port = kt_port(64, 0, NULL);
	size_t len = 5 * PG + 100;
	int w = kt_alloc(port, len);
	uint32_t h = kt_import(port, w);
	char *src = malloc(len), *dst = malloc(len);
	size_t i;

	for (i = 0; i < len; i++)
		src[i] = (char)(i * 7 + 3);
	char *map = mmap(NULL, 6 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, w, 0);
	ck_assert_ptr_ne(map, MAP_FAILED);
	ck_assert_int_eq(map[0], 0); /* fresh windows are zeroed */
	ck_assert_ptr_eq(mmap(NULL, 7 * PG, PROT_READ, MAP_SHARED, w, 0), MAP_FAILED);
	ck_assert_ptr_eq(mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, w, 0), MAP_FAILED);

	/* crossing pages, unaligned */
	ck_assert_int_eq(kt_putget(port, KSHIM_OP_PUT, h, 0, src, len, 0, 0), 0);
	ck_assert_int_eq(memcmp(map, src, len), 0);
	ck_assert_int_eq(kt_putget(port, KSHIM_OP_GET, h, 0, dst, len, 0, 0), 0);
	ck_assert_int_eq(memcmp(dst, src, len), 0);
	ck_assert_int_eq(kt_putget(port, KSHIM_OP_PUT, h, 4093, "abcdef", 6, 0, 0), 0);
	ck_assert_int_eq(memcmp(map + 4093, "abcdef", 6), 0);
	/* stores through the mapping are seen by GET */
	strcpy(map + 3 * PG + 1, "stored");
	ck_assert_int_eq(kt_putget(port, KSHIM_OP_GET, h, 3 * PG + 1, dst, 7, 0, 0), 0);
	ck_assert_str_eq(dst, "stored");

	/* a multi-segment iovec */
	struct iovec iov[3] = { { src, 10 }, { src + 100, 20 }, { src + 1000, 4000 } };
	struct kshim_op op = { .opcode = KSHIM_OP_PUT, .handle = h, .iovcnt = 3,
			       .addr = (uintptr_t)iov, .len = 4030, .off = 8 };
	ck_assert_int_eq(kt_op(port, &op), 0);
	ck_assert_int_eq(memcmp(map + 8, src, 10), 0);
	ck_assert_int_eq(memcmp(map + 18, src + 100, 20), 0);
	ck_assert_int_eq(memcmp(map + 38, src + 1000, 4000), 0);

	/* atomics, seen through the mapping */
	uint64_t old;
	uint64_t *q = (uint64_t *)(map + 2 * PG);
	uint32_t *d = (uint32_t *)(map + 2 * PG + 64);
	*q = 10;
	*d = 0xfffffff0u;
	*(uint32_t *)(map + 2 * PG + 68) = 0;
	ck_assert_int_eq(kt_atomic(port, h, KSHIM_AOP_FETCH_ADD, 8, 2 * PG, 5, 0, &old), 0);
	ck_assert_uint_eq(old, 10);
	ck_assert_uint_eq(*q, 15);
	ck_assert_int_eq(kt_atomic(port, h, KSHIM_AOP_CSWAP, 8, 2 * PG, 99, 14, &old), 0);
	ck_assert_uint_eq(old, 15);
	ck_assert_uint_eq(*q, 15);
	ck_assert_int_eq(kt_atomic(port, h, KSHIM_AOP_CSWAP, 8, 2 * PG, 99, 15, &old), 0);
	ck_assert_uint_eq(*q, 99);
	ck_assert_int_eq(kt_atomic(port, h, KSHIM_AOP_SWAP, 8, 2 * PG, 0xf0f0, 0, &old), 0);
	ck_assert_uint_eq(old, 99);
	ck_assert_int_eq(kt_atomic(port, h, KSHIM_AOP_AND, 8, 2 * PG, 0xff, 0, &old), 0);
	ck_assert_uint_eq(*q, 0xf0);
	ck_assert_int_eq(kt_atomic(port, h, KSHIM_AOP_OR, 8, 2 * PG, 0x1, 0, &old), 0);
	ck_assert_int_eq(kt_atomic(port, h, KSHIM_AOP_XOR, 8, 2 * PG, 0xf1, 0, &old), 0);
	ck_assert_uint_eq(*q, 0);
	ck_assert_int_eq(kt_atomic(port, h, KSHIM_AOP_FETCH_ADD, 4, 2 * PG + 64, 0x20, 0, &old), 0);
	ck_assert_uint_eq(old, 0xfffffff0u);
	ck_assert_uint_eq(*d, 0x10); /* wrapped in 32 bits */
	ck_assert_uint_eq(*(uint32_t *)(map + 2 * PG + 68), 0);
	ck_assert_int_eq(kt_atomic(port, h, KSHIM_AOP_READ, 4, 2 * PG + 64, 0, 0, &old), 0);
	ck_assert_uint_eq(old, 0x10);

	/* kernel atomics and CPU atomics through the mapping, from two processes */
	*q = 0;
	pid_t pid = fork();
	if (!pid) {
		for (i = 0; i < 20000; i++)
			__atomic_fetch_add(q, 1, __ATOMIC_SEQ_CST);
		_exit(0);
	}
	/* raw ioctls: Check's assertions are slow in a loop */
	struct kshim_op aop = { .opcode = KSHIM_OP_ATOMIC, .aop = KSHIM_AOP_FETCH_ADD,
				.width = 8, .handle = h, .off = 2 * PG, .operand = 1 };
	struct kshim_submit sub = { .ops = (uintptr_t)&aop, .count = 1 };
	int bad = 0;
	for (i = 0; i < 20000; i++) {
		sub.done = 0;
		if (ioctl(port, KSHIM_IOC_SUBMIT, &sub) != 1 || aop.status)
			bad++;
	}
	ck_assert_int_eq(bad, 0);
	int st;
	waitpid(pid, &st, 0);
	ck_assert_uint_eq(*q, 40000);
	struct kshim_stats s = kt_stats(port);
	ck_assert_uint_gt(s.ops_sync, 20000);
	munmap(map, 6 * PG);
	close(w);
	close(port);
	free(src);
	free(dst);
}
END_TEST

START_TEST(async_ring_overflow)
{
	struct kshim_attach a;
	int port = kt_port(256, 4, &a);
	size_t len = 128 * PG;
	int w = kt_alloc(port, len);
	uint32_t h = kt_import(port, w);
	char *src = malloc(len), *dst = malloc(len);
	struct kshim_cqe c;
	size_t i;

	struct kshim_ring_hdr *r = mmap(NULL, a.ring_mmap_len, PROT_READ | PROT_WRITE,
					MAP_SHARED, port, a.ring_mmap_off);
	ck_assert_ptr_ne(r, MAP_FAILED);
	ck_assert_uint_eq(r->mask, 3);
	struct pollfd p = { .fd = port, .events = POLLIN };
	ck_assert_int_eq(poll(&p, 1, 0), 0);

	for (i = 0; i < len; i++)
		src[i] = (char)(i ^ (i >> 9));
	struct kshim_stats s0 = kt_stats(port);
	/* large + ASYNC: queued, completes through the ring */
	ck_assert_int_eq(kt_putget(port, KSHIM_OP_PUT, h, 0, src, len, KSHIM_OPF_ASYNC, 42),
			 -EINPROGRESS);
	ck_assert_int_eq(kt_reap(port, r, &c, 10000), 1);
	ck_assert_uint_eq(c.tag, 42);
	ck_assert_int_eq(c.status, 0);
	ck_assert_int_eq(kt_putget(port, KSHIM_OP_GET, h, 0, dst, len, KSHIM_OPF_ASYNC, 43),
			 -EINPROGRESS);
	ck_assert_int_eq(kt_reap(port, r, &c, 10000), 1);
	ck_assert_uint_eq(c.tag, 43);
	ck_assert_int_eq(c.status, 0);
	ck_assert_int_eq(memcmp(src, dst, len), 0);
	struct kshim_stats s1 = kt_stats(port);
	ck_assert_uint_eq(s1.ops_async - s0.ops_async, 2);
	/* async out of range fails at once */
	ck_assert_int_eq(kt_putget(port, KSHIM_OP_PUT, h, PG, src, len, KSHIM_OPF_ASYNC, 1),
			 -ERANGE);
	/* small + ASYNC runs at once */
	ck_assert_int_eq(kt_putget(port, KSHIM_OP_PUT, h, 0, src, 100, KSHIM_OPF_ASYNC, 1), 0);

	/* overflow: 10 NOTIFY completions into a ring of 4, none lost */
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(kt_putget(port, KSHIM_OP_PUT, h, i, src, 8, KSHIM_OPF_NOTIFY,
					   100 + i), 0);
	ck_assert_uint_eq(r->tail - r->head, 4);
	ck_assert_uint_eq(r->overflow, 6);
	for (i = 0; i < 10; i++) {
		ck_assert_int_eq(kt_reap(port, r, &c, 1000), 1);
		ck_assert_uint_eq(c.tag, 100 + i);
		ck_assert_int_eq(c.status, 0);
	}
	ck_assert_int_eq(kt_reap(port, r, &c, 0), 0);
	ck_assert_uint_eq(r->overflow, 0);
	/* NOTIFY on a failing op reports the error too */
	ck_assert_int_eq(kt_putget(port, KSHIM_OP_PUT, h, len, src, 8, KSHIM_OPF_NOTIFY, 7), -ERANGE);
	ck_assert_int_eq(kt_reap(port, r, &c, 1000), 1);
	ck_assert_int_eq(c.status, -ERANGE);
	/* a garbage head from user space does not confuse the kernel */
	r->head = r->tail + 1000;
	ck_assert_int_eq(kt_putget(port, KSHIM_OP_PUT, h, 0, src, 8, KSHIM_OPF_NOTIFY, 8), 0);
	r->head = r->tail;
	munmap(r, a.ring_mmap_len);
	close(w);
	close(port);
	free(src);
	free(dst);
}
END_TEST

START_TEST(staged_put)
{
	struct kshim_attach a;
	int port = kt_port(256, 64, &a);
	size_t slen = a.stage_mmap_len;
	ck_assert_uint_ge(slen, 16 * PG);
	int w = kt_alloc(port, 16 * PG);
	uint32_t h = kt_import(port, w);
	struct kshim_cqe c;
	size_t i;

	char *st = mmap(NULL, slen, PROT_READ | PROT_WRITE, MAP_SHARED, port, a.stage_mmap_off);
	ck_assert_ptr_ne(st, MAP_FAILED);
	struct kshim_ring_hdr *r = mmap(NULL, a.ring_mmap_len, PROT_READ | PROT_WRITE,
					MAP_SHARED, port, a.ring_mmap_off);
	ck_assert_ptr_ne(r, MAP_FAILED);
	char *map = mmap(NULL, 16 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, w, 0);
	ck_assert_ptr_ne(map, MAP_FAILED);
	memset(map, 'o', 16 * PG); /* old contents, mapped before the move */

	for (i = 0; i < 4 * PG; i++)
		st[i] = (char)('a' + i % 26);
	struct kshim_stats s0 = kt_stats(port);
	/* page-aligned whole pages: moved */
	struct kshim_op op = { .opcode = KSHIM_OP_PUT_STAGED, .handle = h, .off = 4 * PG,
			       .addr = (uintptr_t)st, .len = 4 * PG, .tag = 5 };
	ck_assert_int_eq(kt_op(port, &op), -EINPROGRESS);
	ck_assert_int_eq(kt_reap(port, r, &c, 5000), 1);
	ck_assert_uint_eq(c.tag, 5);
	ck_assert_int_eq(c.status, 0);
	struct kshim_stats s1 = kt_stats(port);
	ck_assert_uint_eq(s1.pages_moved - s0.pages_moved, 4);
	/* the existing mapping shows the new pages, not stale ones */
	char *want = malloc(4 * PG);
	for (i = 0; i < 4 * PG; i++)
		want[i] = (char)('a' + i % 26);
	ck_assert_int_eq(memcmp(map + 4 * PG, want, 4 * PG), 0);
	free(want);
	ck_assert_int_eq(map[4 * PG - 1], 'o');
	ck_assert_int_eq(map[8 * PG], 'o');
	/* the staging range is usable again at once */
	memset(st, 'z', 4 * PG);
	ck_assert_int_eq(map[4 * PG], 'a');
	/* pool is whole again: moved pages came back in exchange */
	ck_assert_uint_eq(s1.port_pool_free, s0.port_pool_free);

	/* unaligned, and two ops sharing a staging page in one batch: copied */
	memcpy(st + 100, "hello", 5);
	memcpy(st + 200, "world", 5);
	struct kshim_op ops[2] = {
		{ .opcode = KSHIM_OP_PUT_STAGED, .handle = h, .off = 10, .addr = (uintptr_t)(st + 100), .len = 5, .tag = 1 },
		{ .opcode = KSHIM_OP_PUT_STAGED, .handle = h, .off = 3 * PG - 2, .addr = (uintptr_t)(st + 200), .len = 5, .tag = 2 },
	};
	struct kshim_submit sb = { .ops = (uintptr_t)ops, .count = 2 };
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_SUBMIT, &sb), 2);
	ck_assert_int_eq(ops[0].status, -EINPROGRESS);
	ck_assert_int_eq(ops[1].status, -EINPROGRESS);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(kt_reap(port, r, &c, 5000), 1);
		ck_assert_int_eq(c.status, 0);
	}
	ck_assert_int_eq(memcmp(map + 10, "hello", 5), 0);
	ck_assert_int_eq(memcmp(map + 3 * PG - 2, "world", 5), 0);
	struct kshim_stats s2 = kt_stats(port);
	ck_assert_uint_ge(s2.pages_copied - s1.pages_copied, 2);

	/* a read-only handle refuses it */
	struct kshim_win_dup d = { .fd = w, .flags = KSHIM_WIN_RDONLY };
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_DUP, &d), 0);
	uint32_t hr = kt_import(port, d.new_fd);
	op.handle = hr;
	ck_assert_int_eq(kt_op(port, &op), -EACCES);
	/* outside the staging mapping */
	op.handle = h;
	op.addr = (uintptr_t)(st + slen - PG);
	op.len = 2 * PG;
	ck_assert_int_eq(kt_op(port, &op), -EFAULT);
	op.addr = (uintptr_t)map;
	op.len = PG;
	ck_assert_int_eq(kt_op(port, &op), -EFAULT);
	close(d.new_fd);
	munmap(map, 16 * PG);
	munmap(st, slen);
	munmap(r, a.ring_mmap_len);
	close(w);
	close(port);
}
END_TEST

static int peer_reads(void *arg)
{
	volatile char *m = arg;

	return kt_faults(m, 0) ? 1 : (m[0] == 'E' ? 0 : 2);
}

START_TEST(expose_sigbus)
{
	int port = kt_port(64, 0, NULL);
	int w = kt_alloc(port, 2 * PG);
	uint32_t h = kt_import(port, w);
	char *map = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, w, 0);

	ck_assert_ptr_ne(map, MAP_FAILED);
	map[0] = 'E';
	ck_assert_int_eq(kt_faults(map, 0), 0);
	struct kshim_win_expose e = { .handle = h, .exposed = 1 };
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_EXPOSE, &e), 0);
	ck_assert_int_eq(kt_faults(map, 0), 1);
	ck_assert_int_eq(kt_faults(map + PG, 1), 1);
	/* put/get still work during exposure */
	ck_assert_int_eq(kt_putget(port, KSHIM_OP_PUT, h, PG, "peer", 4, 0, 0), 0);
	/* a peer mapping (another process) keeps working */
	int peer = 0;
	{
		int sv[2];
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		pid_t pid = fork();
		if (!pid) {
			int fd = kt_recv_fd(sv[1]);
			char *m2 = mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 0);
			_exit(m2 == MAP_FAILED ? 3 : peer_reads(m2));
		}
		kt_send_fd(sv[0], w);
		waitpid(pid, &peer, 0);
	}
	ck_assert_int_eq(WEXITSTATUS(peer), 0);
	e.exposed = 0;
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_EXPOSE, &e), 0);
	ck_assert_int_eq(kt_faults(map, 0), 0);
	ck_assert_int_eq(memcmp(map + PG, "peer", 4), 0);
	/* revoke: mapping dies, handle says ENXIO */
	struct kshim_win_revoke rv = { .handle = h };
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_REVOKE, &rv), 0);
	ck_assert_int_eq(kt_faults(map, 0), 1);
	ck_assert_int_eq(kt_putget(port, KSHIM_OP_PUT, h, 0, "x", 1, 0, 0), -ENXIO);
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_REVOKE, &rv), -ENXIO);
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_EXPOSE, &e), -ENXIO);
	munmap(map, 2 * PG);
	close(w);
	close(port);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kshim-ioctl");
	TCase *tc = tcase_create("ioctl");

	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, version_and_attach);
	tcase_add_test(tc, window_bad_args);
	tcase_add_test(tc, submit_bad_ops);
	tcase_add_test(tc, putget_atomics_mmap);
	tcase_add_test(tc, async_ring_overflow);
	tcase_add_test(tc, staged_put);
	tcase_add_test(tc, expose_sigbus);
	suite_add_tcase(s, tc);
	return kt_main(s);
}
