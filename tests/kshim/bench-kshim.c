/*
 * bench-kshim: put bandwidth into a kernel-owned window by single copy
 * (PUT), by staged page move (PUT_STAGED, page-aligned) and by staged copy
 * (PUT_STAGED, unaligned), for a few sizes. Prints one line per size.
 * Usage: bench-kshim [ITERATIONS]   (needs /dev/kshim; exits 77 without)
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include "uapi/kshim.h"

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static struct kshim_ring_hdr *ring;

static void reap(int port, int n)
{
	struct pollfd p = { .fd = port, .events = POLLIN };

	while (n > 0) {
		uint32_t tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);

		if (tail == ring->head) {
			poll(&p, 1, 1000);
			continue;
		}
		struct kshim_cqe *c = (struct kshim_cqe *)(ring + 1) + (ring->head & ring->mask);
		if (c->status) {
			fprintf(stderr, "completion status %d\n", c->status);
			exit(1);
		}
		__atomic_store_n(&ring->head, ring->head + 1, __ATOMIC_RELEASE);
		n--;
	}
}

int main(int argc, char **argv)
{
	int iters = argc > 1 ? atoi(argv[1]) : 200;
	int port = open(KSHIM_DEVICE, O_RDWR);
	struct kshim_attach a = { .pool_pages = 4096, .ring_entries = 256 };
	size_t sizes[] = { 4096, 16384, 65536, 262144, 1048576 }, i;

	if (port < 0) {
		printf("SKIP: %s not present\n", KSHIM_DEVICE);
		return 77;
	}
	if (ioctl(port, KSHIM_IOC_ATTACH, &a)) {
		perror("attach");
		return 1;
	}
	struct kshim_win_alloc wa = { .len = 2 << 20 };
	if (ioctl(port, KSHIM_IOC_WIN_ALLOC, &wa)) {
		perror("alloc");
		return 1;
	}
	struct kshim_win_import im = { .fd = wa.fd };
	ioctl(port, KSHIM_IOC_WIN_IMPORT, &im);
	ring = mmap(NULL, a.ring_mmap_len, PROT_READ | PROT_WRITE, MAP_SHARED, port, a.ring_mmap_off);
	char *st = mmap(NULL, a.stage_mmap_len, PROT_READ | PROT_WRITE, MAP_SHARED, port, a.stage_mmap_off);
	char *buf = malloc(2 << 20);
	if (ring == MAP_FAILED || st == MAP_FAILED || a.stage_mmap_len < (2 << 20)) {
		fprintf(stderr, "mmap or staging area too small\n");
		return 1;
	}
	memset(buf, 1, 2 << 20);
	printf("%10s %12s %12s %12s  (MB/s, %d iterations, page %ld)\n", "bytes", "put-copy",
	       "staged-move", "staged-copy", iters, sysconf(_SC_PAGESIZE));
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t len = sizes[i];
		struct iovec iov = { buf, len };
		struct kshim_op op;
		struct kshim_submit s = { .ops = (uintptr_t)&op, .count = 1 };
		double t0, tput, tmove, tcopy;
		int k;

		memset(&op, 0, sizeof(op));
		op.opcode = KSHIM_OP_PUT;
		op.handle = im.handle;
		op.iovcnt = 1;
		op.addr = (uintptr_t)&iov;
		op.len = len;
		t0 = now();
		for (k = 0; k < iters; k++) {
			s.done = 0;
			if (ioctl(port, KSHIM_IOC_SUBMIT, &s) != 1 || op.status)
				return 1;
		}
		tput = now() - t0;

		memset(&op, 0, sizeof(op));
		op.opcode = KSHIM_OP_PUT_STAGED;
		op.handle = im.handle;
		op.addr = (uintptr_t)st;
		op.len = len;
		t0 = now();
		for (k = 0; k < iters; k++) {
			memset(st, k, 64); /* touch: the fresh page faults in */
			s.done = 0;
			if (ioctl(port, KSHIM_IOC_SUBMIT, &s) != 1 || op.status != -EINPROGRESS)
				return 1;
			reap(port, 1);
		}
		tmove = now() - t0;

		op.addr = (uintptr_t)st + 8; /* unaligned: copied by a worker */
		op.off = 8;
		t0 = now();
		for (k = 0; k < iters; k++) {
			memset(st + 8, k, 64);
			s.done = 0;
			if (ioctl(port, KSHIM_IOC_SUBMIT, &s) != 1 || op.status != -EINPROGRESS)
				return 1;
			reap(port, 1);
		}
		tcopy = now() - t0;
		printf("%10zu %12.1f %12.1f %12.1f\n", len, len * (double)iters / tput / 1e6,
		       len * (double)iters / tmove / 1e6, len * (double)iters / tcopy / 1e6);
	}
	struct kshim_stats stt;
	ioctl(port, KSHIM_IOC_STATS, &stt);
	printf("pages moved %llu, pages copied %llu\n", (unsigned long long)stt.pages_moved,
	       (unsigned long long)stt.pages_copied);
	return 0;
}
