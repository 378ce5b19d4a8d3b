/*
 * kshim access control: a window file is the right to the window.
 * Passing it over SCM_RIGHTS works; without it a process cannot import;
 * another user gets EACCES; a read-only dup refuses writes and maps
 * read-only.
 */
#include "kt.h"

static int g_sock;

/* child: receive the window fd, import it, put "child", get it back */
static int child_with_fd(void *arg)
{
	(void)arg;
	int wfd = kt_recv_fd(g_sock);
	if (wfd < 0)
		return 10;
	int port = open(KSHIM_DEVICE, O_RDWR);
	struct kshim_attach a = { .pool_pages = 16 };
	if (port < 0 || ioctl(port, KSHIM_IOC_ATTACH, &a))
		return 11;
	struct kshim_win_import im = { .fd = wfd };
	if (ioctl(port, KSHIM_IOC_WIN_IMPORT, &im))
		return 12;
	char buf[8] = "child";
	struct iovec iov = { buf, 6 };
	struct kshim_op op = { .opcode = KSHIM_OP_PUT, .handle = im.handle, .iovcnt = 1,
			       .addr = (uintptr_t)&iov, .len = 6, .off = 100 };
	struct kshim_submit s = { .ops = (uintptr_t)&op, .count = 1 };
	if (ioctl(port, KSHIM_IOC_SUBMIT, &s) != 1 || op.status)
		return 13;
	char *m = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, wfd, 0);
	if (m == MAP_FAILED || strcmp(m + 100, "child"))
		return 14;
	m[200] = 'M';
	return 0;
}

/* child without the fd: every descriptor number it tries is not a window */
static int child_without_fd(void *arg)
{
	int fd;
	(void)arg;
	int port = open(KSHIM_DEVICE, O_RDWR);
	struct kshim_attach a = { .pool_pages = 16 };
	if (port < 0 || ioctl(port, KSHIM_IOC_ATTACH, &a))
		return 11;
	for (fd = 0; fd < 64; fd++) {
		struct kshim_win_import im = { .fd = fd };
		if (fd == port)
			continue;
		if (ioctl(port, KSHIM_IOC_WIN_IMPORT, &im) == 0)
			return 20 + (fd & 0x3f);
	}
	return 0;
}

static int g_wfd;

/* child: becomes another user, keeps the fd, must get EACCES */
static int child_other_user(void *arg)
{
	(void)arg;
	int port = open(KSHIM_DEVICE, O_RDWR);
	if (port < 0)
		return 10;
	if (setgid(65534) || setuid(65534))
		return 77;
	struct kshim_attach a = { .pool_pages = 4 };
	if (ioctl(port, KSHIM_IOC_ATTACH, &a))
		return 11;
	struct kshim_win_import im = { .fd = g_wfd };
	if (ioctl(port, KSHIM_IOC_WIN_IMPORT, &im) == 0)
		return 12;
	return errno == EACCES ? 0 : 13;
}

/* child uses the parent's port: refused */
static int g_port;
static int child_parent_port(void *arg)
{
	(void)arg;
	struct kshim_win_alloc wa = { .len = PG };
	if (ioctl(g_port, KSHIM_IOC_WIN_ALLOC, &wa) == 0)
		return 1;
	return errno == EPERM ? 0 : 2;
}

START_TEST(scm_rights)
{
	int port = kt_port(32, 0, NULL);
	int w = kt_alloc(port, 2 * PG);
	uint32_t h = kt_import(port, w);
	int sv[2];
	char buf[8];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	g_sock = sv[1];
	pid_t pid = fork();
	if (!pid)
		_exit(child_with_fd(NULL));
	ck_assert_int_eq(kt_send_fd(sv[0], w), 0);
	int st;
	waitpid(pid, &st, 0);
	ck_assert_int_eq(WEXITSTATUS(st), 0);
	ck_assert_int_eq(kt_putget(port, KSHIM_OP_GET, h, 100, buf, 6, 0, 0), 0);
	ck_assert_str_eq(buf, "child");
	ck_assert_int_eq(kt_putget(port, KSHIM_OP_GET, h, 200, buf, 1, 0, 0), 0);
	ck_assert_int_eq(buf[0], 'M');

	/* without the fd (closed before fork) */
	close(w);
	g_port = port;
	ck_assert_int_eq(kt_child(child_without_fd, NULL), 0);
	ck_assert_int_eq(kt_child(child_parent_port, NULL), 0);
	close(port);
}
END_TEST

START_TEST(other_user)
{
	int port = kt_port(32, 0, NULL);

	g_wfd = kt_alloc(port, PG);
	if (getuid() != 0) {
		close(port);
		return; /* needs root to change user; the guest runs as root */
	}
	ck_assert_int_eq(kt_child(child_other_user, NULL), 0);
	close(g_wfd);
	close(port);
}
END_TEST

START_TEST(readonly_dup)
{
	int port = kt_port(32, 0, NULL);
	int w = kt_alloc(port, 2 * PG);
	uint32_t h = kt_import(port, w);
	struct kshim_win_dup d = { .fd = w, .flags = KSHIM_WIN_RDONLY };

	ck_assert_int_eq(kt_putget(port, KSHIM_OP_PUT, h, 0, "data", 5, 0, 0), 0);
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_DUP, &d), 0);
	ck_assert_int_ge(d.new_fd, 0);
	struct kshim_win_import im = { .fd = d.new_fd };
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_IMPORT, &im), 0);
	ck_assert_uint_eq(im.flags, KSHIM_WIN_RDONLY | KSHIM_WIN_KERNEL_OWNED);
	char buf[8];
	ck_assert_int_eq(kt_putget(port, KSHIM_OP_PUT, im.handle, 0, "xx", 2, 0, 0), -EACCES);
	ck_assert_int_eq(kt_putget(port, KSHIM_OP_GET, im.handle, 0, buf, 5, 0, 0), 0);
	ck_assert_str_eq(buf, "data");
	ck_assert_int_eq(kt_atomic(port, im.handle, KSHIM_AOP_FETCH_ADD, 8, 8, 1, 0, NULL), -EACCES);
	ck_assert_int_eq(kt_atomic(port, im.handle, KSHIM_AOP_READ, 8, 8, 0, 0, NULL), 0);
	/* maps read-only; write mapping and mprotect refused */
	ck_assert_ptr_eq(mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, d.new_fd, 0), MAP_FAILED);
	ck_assert_int_eq(errno, EACCES);
	char *m = mmap(NULL, PG, PROT_READ, MAP_SHARED, d.new_fd, 0);
	ck_assert_ptr_ne(m, MAP_FAILED);
	ck_assert_str_eq(m, "data");
	ck_assert_int_ne(mprotect(m, PG, PROT_READ | PROT_WRITE), 0);
	/* a dup of a read-only file cannot regain write */
	struct kshim_win_dup d2 = { .fd = d.new_fd, .flags = 0 };
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_DUP, &d2), 0);
	struct kshim_win_import im2 = { .fd = d2.new_fd };
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_IMPORT, &im2), 0);
	ck_assert_uint_eq(im2.flags & KSHIM_WIN_RDONLY, KSHIM_WIN_RDONLY);
	/* a non-owner cannot expose or revoke */
	struct kshim_win_revoke rv = { .handle = im.handle };
	ck_assert_int_eq(kt_ioctl(port, KSHIM_IOC_WIN_REVOKE, &rv), -EPERM);
	/* the window lives while any file does: close the original */
	close(w);
	ck_assert_int_eq(kt_putget(port, KSHIM_OP_GET, im.handle, 0, buf, 5, 0, 0), 0);
	ck_assert_str_eq(buf, "data");
	munmap(m, PG);
	close(d.new_fd);
	close(d2.new_fd);
	/* last file gone: handles say ENXIO */
	ck_assert_int_eq(kt_putget(port, KSHIM_OP_GET, h, 0, buf, 5, 0, 0), -ENXIO);
	close(port);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kshim-access");
	TCase *tc = tcase_create("access");

	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, scm_rights);
	tcase_add_test(tc, other_user);
	tcase_add_test(tc, readonly_dup);
	suite_add_tcase(s, tc);
	return kt_main(s);
}
