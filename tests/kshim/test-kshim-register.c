/*
 * kshim windows over user memory ("create" flavour): pinned pages survive
 * munmap, mremap and fork of the range; exit releases the pins; the
 * pinned memory is charged against RLIMIT_MEMLOCK.
 */
#include <sys/resource.h>

#include "kt.h"

static int reg(int port, void *addr, uint64_t len, int *fd)
{
	struct kshim_win_register r = { .addr = (uintptr_t)addr, .len = len };
	long e = kt_ioctl(port, KSHIM_IOC_WIN_REGISTER, &r);

	*fd = r.fd;
	return (int)e;
}

START_TEST(register_basic_and_munmap)
{
	int port = kt_port(32, 0, NULL);
	struct kshim_stats s0 = kt_stats(port);
	size_t len = 8 * PG;
	char *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char buf[16];
	int w;

	memset(mem, 'u', len);
	/* unaligned start: window byte 0 is mem+10 */
	ck_assert_int_eq(reg(port, mem + 10, len - 20, &w), 0);
	struct kshim_win_import im = { .fd = w };
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_IMPORT, &im), 0);
	ck_assert_uint_eq(im.len, len - 20);
	ck_assert_uint_eq(im.flags, 0);
	struct kshim_stats s1 = kt_stats(port);
	ck_assert_uint_eq(s1.pinned_pages - s0.pinned_pages, 8);
	ck_assert_uint_eq(s1.port_pinned_pages - s0.port_pinned_pages, 8);

	ck_assert_int_eq(kt_putget(port, KSHIM_OP_PUT, im.handle, 0, "reg", 4, 0, 0), 0);
	ck_assert_str_eq(mem + 10, "reg");
	mem[10 + 5000] = 'Q';
	ck_assert_int_eq(kt_putget(port, KSHIM_OP_GET, im.handle, 5000, buf, 1, 0, 0), 0);
	ck_assert_int_eq(buf[0], 'Q');
	ck_assert_int_eq(kt_putget(port, KSHIM_OP_GET, im.handle, len - 20, buf, 1, 0, 0), -ERANGE);
	/* unaligned windows do not map (they would show bytes outside) */
	ck_assert_ptr_eq(mmap(NULL, PG, PROT_READ, MAP_SHARED, w, 0), MAP_FAILED);
	/* atomics respect the real address alignment */
	ck_assert_int_eq(kt_atomic(port, im.handle, KSHIM_AOP_SWAP, 8, 6, 7, 0, NULL), 0);
	ck_assert_int_eq(*(uint64_t *)(mem + 16), 7);
	ck_assert_int_eq(kt_atomic(port, im.handle, KSHIM_AOP_SWAP, 8, 8, 7, 0, NULL), -EINVAL);

	/* munmap the range: the window keeps its pages, no corruption */
	munmap(mem, len);
	char *other = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(other, 'n', len);
	ck_assert_int_eq(kt_putget(port, KSHIM_OP_PUT, im.handle, 100, "after", 6, 0, 0), 0);
	ck_assert_int_eq(kt_putget(port, KSHIM_OP_GET, im.handle, 0, buf, 4, 0, 0), 0);
	ck_assert_str_eq(buf, "reg");
	ck_assert_int_eq(kt_putget(port, KSHIM_OP_GET, im.handle, 100, buf, 6, 0, 0), 0);
	ck_assert_str_eq(buf, "after");
	size_t i, bad = 0;
	for (i = 0; i < len; i++)
		bad += other[i] != 'n';
	ck_assert_uint_eq(bad, 0);
	close(w);
	struct kshim_stats s2 = kt_stats(port);
	ck_assert_uint_eq(s2.pinned_pages, s0.pinned_pages);
	ck_assert_uint_eq(s2.port_pinned_pages, s0.port_pinned_pages);
	munmap(other, len);
	close(port);
}
END_TEST

START_TEST(register_mremap_fork)
{
	int port = kt_port(32, 0, NULL);
	size_t len = 4 * PG;
	char *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char buf[16];
	int w;

	memset(mem, 0, len);
	ck_assert_int_eq(reg(port, mem, len, &w), 0);
	uint32_t h = kt_import(port, w);
	/* a page-aligned registration maps, also into this process again */
	char *alias = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, w, 0);
	ck_assert_ptr_ne(alias, MAP_FAILED);
	strcpy(mem, "one");
	ck_assert_str_eq(alias, "one");

	/* fork: the child writes its copy-on-write pages; the window keeps the parent's */
	pid_t pid = fork();
	if (!pid) {
		strcpy(mem, "child");
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	strcpy(mem + PG, "parent");
	ck_assert_int_eq(kt_putget(port, KSHIM_OP_GET, h, 0, buf, 4, 0, 0), 0);
	ck_assert_str_eq(buf, "one");
	ck_assert_int_eq(kt_putget(port, KSHIM_OP_GET, h, PG, buf, 7, 0, 0), 0);
	ck_assert_str_eq(buf, "parent");

	/* mremap moves the range; the window follows the pages, not the addresses */
	char *moved = mremap(mem, len, 2 * len, MREMAP_MAYMOVE);
	ck_assert_ptr_ne(moved, MAP_FAILED);
	ck_assert_int_eq(kt_putget(port, KSHIM_OP_PUT, h, 2 * PG, "moved", 6, 0, 0), 0);
	ck_assert_str_eq(moved + 2 * PG, "moved");
	ck_assert_str_eq(alias + 2 * PG, "moved");
	munmap(alias, len);
	munmap(moved, 2 * len);
	close(w);
	close(port);
}
END_TEST

static int child_registers_and_exits(void *arg)
{
	(void)arg;
	int port = open(KSHIM_DEVICE, O_RDWR);
	struct kshim_attach a = { .pool_pages = 16 };
	size_t len = 64 * PG;
	char *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct kshim_win_register r = { .addr = (uintptr_t)mem, .len = len };

	if (port < 0 || ioctl(port, KSHIM_IOC_ATTACH, &a) || ioctl(port, KSHIM_IOC_WIN_REGISTER, &r))
		return 1;
	return 0; /* exit with the registration live */
}

static int child_memlock(void *arg)
{
	(void)arg;
	int port = open(KSHIM_DEVICE, O_RDWR);
	struct rlimit rl = { 16 * PG, 16 * PG };

	if (port < 0)
		return 10;
	if (setgid(65534) || setuid(65534)) /* drop CAP_IPC_LOCK */
		return 77;
	if (setrlimit(RLIMIT_MEMLOCK, &rl))
		return 11;
	struct kshim_attach a = { .pool_pages = 64 };
	if (ioctl(port, KSHIM_IOC_ATTACH, &a) || a.pool_pages != 16)
		return 12; /* pool trimmed to the limit */
	size_t len = 32 * PG;
	char *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct kshim_win_register r = { .addr = (uintptr_t)mem, .len = len };
	if (ioctl(port, KSHIM_IOC_WIN_REGISTER, &r) == 0 || errno != ENOMEM)
		return 13;
	r.len = 8 * PG;
	if (ioctl(port, KSHIM_IOC_WIN_REGISTER, &r))
		return 14;
	return 0;
}

START_TEST(exit_releases_and_limits)
{
	int port = kt_open();
	struct kshim_stats base = kt_stats(port);

	ck_assert_int_eq(kt_child(child_registers_and_exits, NULL), 0);
	ck_assert(kt_settle(port, &base, 5000));
	if (getuid() == 0) {
		ck_assert_int_eq(kt_child(child_memlock, NULL), 0);
		ck_assert(kt_settle(port, &base, 5000));
	}
	close(port);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kshim-register");
	TCase *tc = tcase_create("register");

	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, register_basic_and_munmap);
	tcase_add_test(tc, register_mremap_fork);
	tcase_add_test(tc, exit_releases_and_limits);
	suite_add_tcase(s, tc);
	return kt_main(s);
}
