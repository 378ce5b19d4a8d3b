/*
 * ofibench: winbench's flush-mode loops written directly on libfabric, the
 * baseline for libwin's ofi transport (ofi-compare.sh runs both).
 *
 * Two processes (fork; addresses and keys go over a socketpair): rank 0
 * issues, rank 1 only drives its provider's progress. The provider and
 * endpoint are chosen as the ofi transport chooses them (FI_RMA|FI_ATOMIC,
 * FI_EP_RDM, node 127.0.0.1 for network providers, FI_TCP_IFACE=lo), and
 * remote completion is obtained the same way: a trailing 8-byte fi_read
 * when the provider orders reads after writes (FI_ORDER_RMA_RAW), else
 * writes with FI_DELIVERY_COMPLETE.
 *
 *   lat put:  fi_write (fi_inject_write when it fits) + remote completion
 *   lat get:  fi_read, wait
 *   lat fop:  fi_fetch_atomic(int64 sum), wait
 *   bw put:   W writes, then remote completion
 *   bw get:   W reads, then wait for all
 *
 * -b blocking (the default) gives every write and read the semantics of a
 * blocking win_put/win_get: the call returns when its buffer is reusable
 * (write) or filled (read), so each one waits for its own completion
 * (a write small enough for fi_inject_write has none to wait for) and
 * only the remote completion is left to the flush. -b pipelined keeps
 * all W of a bandwidth batch in flight instead: the provider's ceiling,
 * which blocking calls cannot reach.
 *
 * -r N repeats each timed loop N times (default 5) and reports the
 * median, min and max, as winbench -r does. -i N operations per timed loop
 * for sizes up to 8 KiB, -I N for larger ones (default -i / 10), as in
 * winbench.
 *
 * -B binds the origin to the first CPU it may run on and the target to
 * the second, as winbench -B does (bench_bind.h).
 *
 * -P gives each process a second thread that only sleeps, as a library
 * that serves its peers with no call from its user has one (libwin's
 * progress thread). It does nothing, but once a process has started a
 * thread, glibc's mutexes (libfabric's rxm and tcp take about six per
 * put) and its cancellable system calls take atomic paths, and the
 * kernel counts references to the files of every system call on a
 * descriptor: the price of that guarantee, apart from any work.
 *
 * Output: the CSV columns of `winbench -c` (impl "ofi-raw", or
 * "ofi-raw-pipelined" with -b pipelined).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <rdma/fabric.h>
#include <rdma/fi_atomic.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

#include "bench_bind.h"

#define DIE(...)                                                             \
	do {                                                                 \
		fprintf(stderr, "ofibench: " __VA_ARGS__);                   \
		fputc('\n', stderr);                                         \
		exit(1);                                                     \
	} while (0)
#define FI_CHK(call)                                                         \
	do {                                                                 \
		int r_ = (int)(call);                                        \
		if (r_)                                                      \
			DIE("%s: %s", #call, fi_strerror(-r_));              \
	} while (0)

struct xchg {
	char addr[256];
	size_t addrlen;
	uint64_t base, key;
};

static struct fi_info *info;
static struct fid_fabric *fabric;
static struct fid_domain *domain;
static struct fid_ep *ep;
static struct fid_av *av;
static struct fid_cq *cq;
static struct fid_mr *mr;
static struct fid_cntr *rcntr;  /* peers' operations served (FI_RMA_EVENT) */
static char *buf;         /* registered: [0, len) window, then local */
static size_t buflen;
static fi_addr_t peer;
static uint64_t rbase, rkey;
static bool raw_order;
static long outstanding;
static bool cq_waitable = true;
static bool target_busy;
static bool blocking = true;
static pid_t child;             /* the target, in the origin */

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/*
 * Wait for completions as libwin's ofi transport waits: poll, with a pause
 * for the first 200 empty polls, a sched_yield up to 2000, then 20 us
 * sleeps. (Spinning without pause starves the target's progress when
 * both processes share few, busy cores.)
 */
static void reap(long until)
{
	struct fi_cq_entry e[16];
	unsigned spins = 0;

	while (outstanding > until) {
		ssize_t n = fi_cq_read(cq, e, 16);

		if (n > 0) {
			outstanding -= n;
			spins = 0;
		} else if (n == -FI_EAGAIN) {
			if (++spins < 200) {
				__builtin_ia32_pause();
			} else if (spins < 2000) {
				sched_yield();
			} else {
				struct timespec ts = { 0, 20000 };

				if (spins % 1024 == 0 && child > 0 &&
				    waitpid(child, NULL, WNOHANG) == child)
					DIE("the target process has exited");
				nanosleep(&ts, NULL);
			}
		} else if (n == -FI_EAVAIL) {
			struct fi_cq_err_entry err = { 0 };

			fi_cq_readerr(cq, &err, 0);
			DIE("completion error: %s", fi_strerror(err.err));
		} else if (n != -FI_EAGAIN) {
			DIE("fi_cq_read: %s", fi_strerror((int)-n));
		}
	}
}

#define POST(call)                                                           \
	do {                                                                 \
		ssize_t r_;                                                  \
		while ((r_ = (call)) == -FI_EAGAIN)                          \
			reap(outstanding ? outstanding - 1 : 0),             \
				fi_cq_read(cq, NULL, 0);                     \
		if (r_)                                                      \
			DIE("%s: %s", #call, fi_strerror((int)-r_));         \
	} while (0)

static void put(const void *src, size_t len)
{
	void *desc = fi_mr_desc(mr);

	if (raw_order && len <= info->tx_attr->inject_size) {
		POST(fi_inject_write(ep, src, len, peer, rbase, rkey));
		return;
	}
	struct iovec iov = { (void *)src, len };
	struct fi_rma_iov riov = { rbase, len, rkey };
	struct fi_msg_rma msg = { .msg_iov = &iov, .desc = &desc,
				  .iov_count = 1, .addr = peer,
				  .rma_iov = &riov, .rma_iov_count = 1,
				  .context = NULL };
	uint64_t fl = FI_COMPLETION | (raw_order ? 0 : FI_DELIVERY_COMPLETE);

	if (len <= info->tx_attr->inject_size)
		fl |= FI_INJECT;
	POST(fi_writemsg(ep, &msg, fl));
	outstanding++;
	if (blocking)
		reap(0);
}

static void get(void *dst, size_t len)
{
	POST(fi_read(ep, dst, len, fi_mr_desc(mr), peer, rbase, rkey, NULL));
	outstanding++;
	if (blocking)
		reap(0);
}

/* Remote completion of the writes issued so far. */
static void flush(char *scratch)
{
	if (raw_order) {
		POST(fi_read(ep, scratch, 8, fi_mr_desc(mr), peer, rbase, rkey,
			     NULL));
		outstanding++;
	}
	reap(0);
}

static void fop(int64_t *operand, int64_t *result)
{
	void *d = fi_mr_desc(mr);

	POST(fi_fetch_atomic(ep, operand, 1, d, result, d, peer, rbase, rkey,
			     FI_INT64, FI_SUM, NULL));
	outstanding++;
	reap(0);
}

static void setup(const char *prov)
{
	struct fi_info *hints = fi_allocinfo();
	bool local = prov && !strncmp(prov, "shm", 3);
	/* The wait object libwin's ofi transport asks for (see ofi.c). */
	struct fi_cq_attr cqa = { .format = FI_CQ_FORMAT_CONTEXT,
				  .wait_obj = FI_WAIT_FD };
	struct fi_av_attr ava = { 0 };

	setenv("FI_TCP_IFACE", "lo", 0);
	/* The rxm sizes libwin's ofi transport chooses by default. */
	setenv("FI_OFI_RXM_BUFFER_SIZE", "4096", 0);
	setenv("FI_OFI_RXM_RX_SIZE", "16", 0);
	setenv("FI_OFI_RXM_MSG_RX_SIZE", "16", 0);
	hints->caps = FI_RMA | FI_ATOMIC;
	hints->mode = FI_CONTEXT | FI_CONTEXT2 | FI_BUFFERED_RECV;
	hints->ep_attr->type = FI_EP_RDM;
	hints->domain_attr->mr_mode = FI_MR_VIRT_ADDR | FI_MR_PROV_KEY |
				      FI_MR_LOCAL | FI_MR_ENDPOINT |
				      FI_MR_ALLOCATED;
	hints->domain_attr->threading = FI_THREAD_SAFE;
	if (prov)
		hints->fabric_attr->prov_name = strdup(prov);
	FI_CHK(fi_getinfo(FI_VERSION(1, 17), local ? NULL : "127.0.0.1", NULL,
			  local ? 0 : FI_SOURCE, hints, &info));
	fi_freeinfo(hints);
	raw_order = (info->tx_attr->msg_order & FI_ORDER_RMA_RAW) &&
		    (info->tx_attr->msg_order & FI_ORDER_ATOMIC_RAW);
	ava.type = info->domain_attr->av_type;
	FI_CHK(fi_fabric(info->fabric_attr, &fabric, NULL));
	FI_CHK(fi_domain(fabric, info, &domain, NULL));
	if (fi_cq_open(domain, &cqa, &cq, NULL)) {
		cqa.wait_obj = FI_WAIT_NONE;
		cq_waitable = false;
		FI_CHK(fi_cq_open(domain, &cqa, &cq, NULL));
	}
	FI_CHK(fi_av_open(domain, &ava, &av, NULL));
	FI_CHK(fi_endpoint(domain, info, &ep, NULL));
	FI_CHK(fi_ep_bind(ep, &cq->fid, FI_TRANSMIT | FI_RECV));
	FI_CHK(fi_ep_bind(ep, &av->fid, 0));
	if (!cq_waitable && (info->caps & FI_RMA_EVENT) &&
	    !(info->domain_attr->mr_mode & FI_MR_RMA_EVENT)) {
		/* As libwin's polling progress thread counts them. */
		struct fi_cntr_attr ca = { .events = FI_CNTR_EVENTS_COMP,
					   .wait_obj = FI_WAIT_NONE };

		FI_CHK(fi_cntr_open(domain, &ca, &rcntr, NULL));
		FI_CHK(fi_ep_bind(ep, &rcntr->fid,
				  FI_REMOTE_WRITE | FI_REMOTE_READ));
	}
	if (info->addr_format == FI_ADDR_STR) {
		/*
		 * shm's own region name (pid and endpoint index) meets the
		 * region of any killed process that had this pid (EBUSY);
		 * one with the time in it does not.
		 */
		char name[64];
		int rc;

		snprintf(name, sizeof(name), "ofibench_%d_%llx", (int)getpid(),
			 (unsigned long long)now_ns());
		rc = fi_setname(&ep->fid, name, strlen(name) + 1);
		if (rc && rc != -FI_ENOSYS && rc != -FI_EOPNOTSUPP)
			FI_CHK(rc);
	}
	FI_CHK(fi_enable(ep));
	if (posix_memalign((void **)&buf, 4096, buflen))
		DIE("out of memory");
	memset(buf, 0, buflen);
	FI_CHK(fi_mr_reg(domain, buf, buflen, FI_READ | FI_WRITE |
			 FI_REMOTE_READ | FI_REMOTE_WRITE, 0, 7, 0, &mr, NULL));
	if (info->domain_attr->mr_mode & FI_MR_ENDPOINT) {
		FI_CHK(fi_mr_bind(mr, &ep->fid, 0));
		FI_CHK(fi_mr_enable(mr));
	}
}

/* Close everything, so that shm removes its region. */
static void teardown(void)
{
	fi_close(&mr->fid);
	fi_close(&ep->fid);
	fi_close(&av->fid);
	if (rcntr)
		fi_close(&rcntr->fid);
	fi_close(&cq->fid);
	fi_close(&domain->fid);
	fi_close(&fabric->fid);
	fi_freeinfo(info);
}

static void exchange(int sock)
{
	struct xchg me = { 0 }, them;

	me.addrlen = sizeof(me.addr);
	FI_CHK(fi_getname(&ep->fid, me.addr, &me.addrlen));
	me.base = (info->domain_attr->mr_mode & FI_MR_VIRT_ADDR) ?
		  (uintptr_t)buf : 0;
	me.key = fi_mr_key(mr);
	if (write(sock, &me, sizeof(me)) != sizeof(me) ||
	    read(sock, &them, sizeof(them)) != sizeof(them))
		DIE("exchange over the socketpair failed");
	if (fi_av_insert(av, them.addr, 1, &peer, 0, NULL) != 1)
		DIE("fi_av_insert failed");
	rbase = them.base;
	rkey = them.key;
}

/*
 * The target: drive progress until the origin says it is done. By default
 * as libwin's progress thread does it: blocking in fi_cq_sread (woken when
 * the provider has work) when the completion queue has an fd wait object,
 * else polling fi_cq_read with the same backoff (yield for 64 empty polls
 * after activity, then sleeps from 20 us doubling to 1 ms), where activity
 * includes peers' operations served, as the remote counter shows them;
 * -t busy spins in fi_cq_read instead.
 */
static void target(int sock)
{
	struct pollfd p = { sock, POLLIN, 0 };
	unsigned n = 0, idle = 0;
	uint64_t served = 0;

	for (;;) {
		if (!target_busy && cq_waitable) {
			struct fi_cq_entry e;

			fi_cq_sread(cq, &e, 1, NULL, 50);
			if (poll(&p, 1, 0) > 0)
				break;
			continue;
		}
		bool quiet = fi_cq_read(cq, NULL, 0) == -FI_EAGAIN;
		uint64_t c;

		if (quiet && rcntr && (c = fi_cntr_read(rcntr)) != served) {
			served = c;
			quiet = false;
		}
		if (quiet && !target_busy) {
			if (idle < 64) {
				idle++;
				sched_yield();
			} else {
				struct timespec ts = { 0, 20000L << (idle - 64) };

				if (idle < 70)
					idle++;
				if (ts.tv_nsec > 1000000L)
					ts.tv_nsec = 1000000L;
				nanosleep(&ts, NULL);
			}
		} else {
			idle = 0;
		}
		if ((++n & (target_busy ? 1023 : 15)) == 0 &&
		    poll(&p, 1, 0) > 0)
			break;
	}
}

/* -P: a thread that never runs again, for the process to have two. */
static void *idle_thread(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

static int reps = 5;
static double tv[64];

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median, min and max over the repetitions in tv[0..reps). */
static void emit(const char *kind, const char *op, size_t size, long iters,
		 const char *unit)
{
	double med;

	qsort(tv, (size_t)reps, sizeof(tv[0]), cmp_double);
	med = reps % 2 ? tv[reps / 2] : (tv[reps / 2 - 1] + tv[reps / 2]) / 2;
	printf("%s,%s,%s,flush,allocate,%s,%zu,%ld,%d,%.4f,%.4f,%.4f,%s,"
	       "0,0,ok\n", blocking ? "ofi-raw" : "ofi-raw-pipelined", kind,
	       op, info->fabric_attr->prov_name, size, iters, reps, med,
	       tv[0], tv[reps - 1], unit);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	const char *prov = getenv("WIN_OFI_PROVIDER");
	size_t minsz = 1, maxsz = 1 << 22;
	long iters = 10000, warm = 100, iters_large = -1;
	int w = 64, c, sv[2];
	bool do_lat = true, do_bw = true;
	char ops[64] = "put,get,fop";
	bool bind_ranks = false, two_threads = false;
	cpu_set_t cpus;
	pthread_t idle;
	pid_t pid;

	while ((c = getopt(argc, argv, "p:m:i:I:x:W:k:o:t:b:r:BPh")) != -1) {
		switch (c) {
		case 'p': prov = optarg; break;
		case 'm': {
			char *e;

			minsz = strtoul(optarg, &e, 10);
			minsz <<= *e == 'K' ? 10 : *e == 'M' ? 20 : 0;
			e += *e == 'K' || *e == 'M';
			if (*e != ':')
				DIE("-m MIN:MAX");
			maxsz = strtoul(e + 1, &e, 10);
			maxsz <<= *e == 'K' ? 10 : *e == 'M' ? 20 : 0;
			if (!minsz || maxsz < minsz)
				DIE("-m MIN:MAX");
			break;
		}
		case 'i': iters = atol(optarg); break;
		case 'I': iters_large = atol(optarg); break;
		case 'x': warm = atol(optarg); break;
		case 'W': w = atoi(optarg); break;
		case 'k':
			do_lat = strstr(optarg, "lat") != NULL;
			do_bw = strstr(optarg, "bw") != NULL;
			break;
		case 't': target_busy = !strcmp(optarg, "busy"); break;
		case 'r':
			reps = atoi(optarg);
			if (reps < 1 || reps > 64)
				DIE("-r 1..64");
			break;
		case 'b':
			if (strcmp(optarg, "blocking") &&
			    strcmp(optarg, "pipelined"))
				DIE("-b blocking|pipelined");
			blocking = !strcmp(optarg, "blocking");
			break;
		case 'o': snprintf(ops, sizeof(ops), "%s", optarg); break;
		case 'B': bind_ranks = true; break;
		case 'P': two_threads = true; break;
		default:
			printf("usage: ofibench [-p provider] [-m MIN:MAX] "
			       "[-i iters] [-I iters] [-x warmup] [-W window] "
			       "[-k lat,bw] [-o put,get,fop] [-t block|busy]\n"
			       "       [-b blocking|pipelined] [-r reps] [-B] [-P]\n"
			       "The provider defaults to $WIN_OFI_PROVIDER, "
			       "else libfabric's first match.\n");
			return c == 'h' ? 0 : 1;
		}
	}
	if (prov && !*prov)
		prov = NULL;
	buflen = 2 * maxsz + 8192;
	if (bind_ranks && bench_cpus(&cpus) < 0)
		DIE("-B: %s", strerror(errno));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		DIE("socketpair: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		DIE("fork: %s", strerror(errno));
	child = pid;
	/* Before the provider starts any thread: they inherit it. */
	if (bind_ranks && bench_bind_rank(&cpus, pid ? 0 : 1) < 0)
		DIE("-B: %s", strerror(errno));
	/* Each keeps one end only: a peer that exits is seen (EOF). */
	close(pid ? sv[1] : sv[0]);
	setup(prov);
	exchange(pid ? sv[0] : sv[1]);
	if (two_threads && (errno = pthread_create(&idle, NULL, idle_thread,
						    NULL)))
		DIE("-P: %s", strerror(errno));
	if (pid == 0) {
		target(sv[1]);
		teardown();
		_exit(0);
	}
	char *win = buf, *local = buf + maxsz + 4096;
	char *scratch = buf + buflen - 8;
	int64_t one = 1, *res = (int64_t *)(local + 64);

	printf("impl,kind,op,sync,flavor,transport,size,iters,reps,median,"
	       "min,max,unit,memcpy_us,memcpy_mbps,verified\n");
	(void)win;
	/*
	 * The order of winbench's sweeps: latency of put, get and fetch-op,
	 * then bandwidth of put and get, each over all sizes, so that both
	 * programs meet a load that changes during a run at the same points.
	 */
	for (int k = 0; k < 5; k++) {
		static const char *const kop[5] = { "put", "get", "fop",
						    "put", "get" };
		bool lat = k < 3;

		if (!(lat ? do_lat : do_bw) || !strstr(ops, kop[k]))
			continue;
		for (size_t sz = k == 2 ? 8 : minsz; sz <= (k == 2 ? 8 : maxsz);
		     sz *= 2) {
			long it = sz <= 8192 ? iters :
				  iters_large >= 0 ? iters_large : iters / 10;
			long wu = sz <= 8192 ? warm : warm / 10;
			long loops;
			uint64_t t0 = 0;

			if (it < 1)
				it = 1;
			loops = it / w > 2 ? it / w : 2;
			for (int r = 0; r < reps; r++) {
				if (lat) {
					for (long i = 0; i < wu + it; i++) {
						if (i == wu)
							t0 = now_ns();
						if (k == 0) {
							put(local, sz);
							flush(scratch);
						} else if (k == 1) {
							get(local, sz);
							reap(0);
						} else {
							fop(&one, res);
						}
					}
					tv[r] = (now_ns() - t0) / 1e3 / it;
					continue;
				}
				for (long i = 0; i < loops + 1; i++) {
					if (i == 1)
						t0 = now_ns();
					for (int j = 0; j < w; j++) {
						if (k == 3)
							put(local, sz);
						else
							get(local, sz);
					}
					if (k == 3)
						flush(scratch);
					else
						reap(0);
				}
				tv[r] = (double)sz * w * loops /
					((now_ns() - t0) / 1e3);
			}
			if (lat)
				emit("lat", kop[k], sz, it, "us");
			else
				emit("bw", kop[k], sz, loops * w, "MB/s");
		}
	}
	if (write(sv[0], "x", 1) != 1)
		kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	teardown();
	return 0;
}
