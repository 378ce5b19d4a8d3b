/*
 * kshim clean-up: a process killed with SIGKILL in the middle of an epoch
 * (windows exposed, registrations live, async work queued, ring full)
 * leaves nothing behind; random ioctls for a bounded time
 * (KSHIM_FUZZ_SECONDS, default 20) leave the counters at their baseline.
 */
#include <time.h>

#include "kt.h"

static void busy_process(int ready)
{
	struct kshim_attach a = { .pool_pages = 512, .ring_entries = 2 };
	int port = open(KSHIM_DEVICE, O_RDWR);
	size_t len = 256 * PG;

	if (port < 0 || ioctl(port, KSHIM_IOC_ATTACH, &a))
		_exit(1);
	struct kshim_win_alloc wa = { .len = len };
	if (ioctl(port, KSHIM_IOC_WIN_ALLOC, &wa))
		_exit(2);
	struct kshim_win_import im = { .fd = wa.fd };
	ioctl(port, KSHIM_IOC_WIN_IMPORT, &im);
	char *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, wa.fd, 0);
	map[0] = 1;
	struct kshim_win_expose e = { .handle = im.handle, .exposed = 1 };
	ioctl(port, KSHIM_IOC_WIN_EXPOSE, &e);
	char *mem = malloc(len);
	memset(mem, 1, len);
	struct kshim_win_register r = { .addr = (uintptr_t)mem, .len = len };
	if (ioctl(port, KSHIM_IOC_WIN_REGISTER, &r))
		_exit(3);
	char *st = mmap(NULL, a.stage_mmap_len, PROT_READ | PROT_WRITE, MAP_SHARED, port,
			a.stage_mmap_off);
	if (st == MAP_FAILED)
		_exit(4);
	memset(st, 2, a.stage_mmap_len);
	struct iovec iov = { mem, len };
	struct kshim_op ops[8];
	memset(ops, 0, sizeof(ops));
	for (int i = 0; i < 8; i++) {
		ops[i].opcode = (i & 1) ? KSHIM_OP_GET : KSHIM_OP_PUT;
		ops[i].handle = im.handle;
		ops[i].iovcnt = 1;
		ops[i].addr = (uintptr_t)&iov;
		ops[i].len = len;
		ops[i].flags = KSHIM_OPF_ASYNC;
	}
	ops[7].opcode = KSHIM_OP_PUT_STAGED;
	ops[7].iovcnt = 0;
	ops[7].addr = (uintptr_t)st + 1;
	ops[7].len = a.stage_mmap_len - 1;
	ops[7].flags = 0;
	if (write(ready, "r", 1) != 1)
		_exit(5);
	for (;;) {
		struct kshim_submit s = { .ops = (uintptr_t)ops, .count = 8 };
		ioctl(port, KSHIM_IOC_SUBMIT, &s); /* never reaps: ring overflows */
	}
}

START_TEST(kill_mid_epoch)
{
	int port = kt_open();
	struct kshim_stats base = kt_stats(port);
	int round;

	for (round = 0; round < 3; round++) {
		int p[2];
		char c;

		ck_assert_int_eq(pipe(p), 0);
		pid_t pid = fork();
		if (!pid) {
			close(p[0]);
			busy_process(p[1]);
		}
		close(p[1]);
		ck_assert_int_eq(read(p[0], &c, 1), 1);
		close(p[0]);
		usleep(100000 + round * 150000);
		struct kshim_stats mid = kt_stats(port);
		ck_assert_uint_gt(mid.pool_pages, base.pool_pages);
		ck_assert_uint_gt(mid.pinned_pages, base.pinned_pages);
		kill(pid, SIGKILL);
		int st;
		waitpid(pid, &st, 0);
		ck_assert(WIFSIGNALED(st));
		ck_assert(kt_settle(port, &base, 10000));
	}
	close(port);
}
END_TEST

static uint64_t rnd_state;
static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static const unsigned long cmds[] = {
	KSHIM_IOC_VERSION, KSHIM_IOC_ATTACH, KSHIM_IOC_STATS, KSHIM_IOC_WIN_ALLOC,
	KSHIM_IOC_WIN_REGISTER, KSHIM_IOC_WIN_DUP, KSHIM_IOC_WIN_IMPORT,
	KSHIM_IOC_WIN_RELEASE, KSHIM_IOC_WIN_EXPOSE, KSHIM_IOC_WIN_REVOKE, KSHIM_IOC_SUBMIT,
};

/* One fuzzing process: random commands, sizes and argument bytes; some
 * arguments are made plausible (small handles, small fds, real buffers). */
static void fuzz_process(unsigned seed, int seconds)
{
	time_t end = time(NULL) + seconds;
	static char mem[64 * 4096] __attribute__((aligned(4096)));
	int ports[3], fds[16] = { 0 }, nfds = 0, i;
	union { char b[256]; uint64_t q[32]; struct kshim_op op[4]; struct kshim_submit s; } arg;
	struct kshim_op ops[4];
	struct iovec iov[2] = { { mem, 4096 }, { mem + 8192, 100 } };

	rnd_state = seed * 2654435761u + 1;
	for (i = 0; i < 3; i++) {
		struct kshim_attach a = { .pool_pages = 64 + i * 32, .ring_entries = 4 };
		ports[i] = open(KSHIM_DEVICE, O_RDWR);
		if (i < 2)
			ioctl(ports[i], KSHIM_IOC_ATTACH, &a);
	}
	while (time(NULL) < end) {
		int port = ports[rnd() % 3];
		unsigned long cmd;
		uint64_t r = rnd();

		for (i = 0; i < 32; i++)
			arg.q[i] = rnd();
		switch (r % 8) {
		case 0: /* fully random command number */
			cmd = (unsigned long)rnd();
			break;
		case 1: /* right magic, random nr/size/dir */
			cmd = _IOC(rnd() % 4, KSHIM_IOC_MAGIC, rnd() % 0x30, rnd() % 128);
			break;
		default:
			cmd = cmds[rnd() % (sizeof(cmds) / sizeof(cmds[0]))];
			break;
		}
		/* plausible values in the first words */
		if (r & 0x100) {
			arg.q[0] = (r & 0x200) ? (uint64_t)(rnd() % 40) : (uint64_t)(uintptr_t)(mem + (rnd() % 60) * 4096);
			arg.q[1] = (r & 0x400) ? rnd() % (64 * 4096) : rnd() % 5;
			arg.q[2] &= 0xffffffff;
			if (r & 0x800)
				memset(&arg.b[16], 0, 32);
		}
		if (cmd == KSHIM_IOC_SUBMIT && (r & 0x1000)) {
			for (i = 0; i < 4; i++) {
				memset(&ops[i], 0, sizeof(ops[i]));
				ops[i].opcode = 1 + rnd() % 5;
				ops[i].aop = rnd() % 9;
				ops[i].width = (rnd() & 1) ? 8 : 4;
				ops[i].flags = rnd() % 4;
				ops[i].handle = rnd() % 6;
				ops[i].iovcnt = rnd() % 3;
				ops[i].off = (rnd() & 1) ? rnd() % (8 * 4096) : rnd();
				ops[i].addr = (rnd() & 1) ? (uintptr_t)iov : rnd();
				ops[i].len = (rnd() & 1) ? 4196 : rnd() % 100000;
				ops[i].operand = rnd();
			}
			arg.s.ops = (uintptr_t)ops;
			arg.s.count = 1 + rnd() % 4;
			arg.s.done = 0;
		}
		void *p = (r & 0x2000) ? (void *)(uintptr_t)rnd() : (void *)&arg;
		long ret = ioctl(port, cmd, p);
		/* keep a few window fds around for import/dup/mmap/close */
		if (ret == 0 && (cmd == KSHIM_IOC_WIN_ALLOC || cmd == KSHIM_IOC_WIN_REGISTER ||
				 cmd == KSHIM_IOC_WIN_DUP) && p == &arg) {
			int nfd = cmd == KSHIM_IOC_WIN_DUP ? (int)(arg.q[0] >> 32) : (int)(arg.q[cmd == KSHIM_IOC_WIN_ALLOC ? 1 : 2] >> 32);
			if (nfd > 2 && nfd < 1024) {
				if (nfds == 16) {
					close(fds[rnd() % 16]);
					nfds--;
					fds[rnd() % 16] = nfd;
				}
				fds[nfds++] = nfd;
			}
		}
		if ((r % 97) == 0 && nfds) {
			int f = fds[rnd() % nfds];
			void *m = mmap(NULL, 4096 * (1 + rnd() % 4), PROT_READ | ((rnd() & 1) ? PROT_WRITE : 0),
				       MAP_SHARED, f, (rnd() % 4) * 4096);
			if (m != MAP_FAILED) {
				struct sigaction sa = { .sa_handler = SIG_IGN };
				(void)sa;
				munmap(m, 4096);
			}
		}
		if ((r % 211) == 0) {
			void *m = mmap(NULL, 4096 * (1 + rnd() % 8), PROT_READ | PROT_WRITE, MAP_SHARED, port,
				       (rnd() & 1) ? 0 : 0x40000000);
			if (m != MAP_FAILED)
				munmap(m, 4096);
		}
	}
	_exit(0);
}

START_TEST(fuzz)
{
	const char *e = getenv("KSHIM_FUZZ_SECONDS");
	int secs = e ? atoi(e) : 20, i, st;
	int port = kt_open();
	struct kshim_stats base = kt_stats(port);
	pid_t pids[2];

	for (i = 0; i < 2; i++) {
		pids[i] = fork();
		if (!pids[i]) {
			/* window fds of a fuzzer stay with it; never let one hang */
			alarm(secs + 60);
			fuzz_process(getpid() + i, secs);
		}
	}
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
		/* a fuzzer may die of SIGBUS/SIGSEGV from its own random mappings
		 * but not of the alarm (a hung ioctl) */
		ck_assert_msg(!(WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM), "fuzzer hung");
	}
	ck_assert(kt_settle(port, &base, 10000));
	close(port);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kshim-cleanup");
	TCase *tc = tcase_create("cleanup");
	const char *e = getenv("KSHIM_FUZZ_SECONDS");

	tcase_set_timeout(tc, 120 + (e ? atoi(e) : 20));
	tcase_add_test(tc, kill_mid_epoch);
	tcase_add_test(tc, fuzz);
	suite_add_tcase(s, tc);
	return kt_main(s);
}
