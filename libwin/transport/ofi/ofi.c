/*
 * The ofi transport: one-sided operations over libfabric.
 *
 * Provider choice: fi_getinfo asks for FI_RMA | FI_ATOMIC on a reliable
 * datagram endpoint (FI_EP_RDM; connection-oriented providers such as
 * verbs are reached through the ofi_rxm utility provider, which libfabric
 * layers on top of them), thread-safe domains, and the memory-registration
 * modes handled here (FI_MR_VIRT_ADDR, FI_MR_PROV_KEY, FI_MR_LOCAL,
 * FI_MR_ENDPOINT, FI_MR_ALLOCATED). WIN_OFI_PROVIDER names the provider
 * ("tcp", "shm", "sockets", "tcp;ofi_rxm", "verbs;ofi_rxm", ...); without
 * it the first match libfabric returns is used. Network providers are bound
 * to 127.0.0.1 (node 127.0.0.1 with FI_SOURCE, FI_TCP_IFACE=lo when the
 * environment does not set it), and an endpoint whose address is not a
 * loopback address is refused: by default this transport never leaves the
 * host. WIN_OFI_NODE=ADDRESS binds to that local address instead (an RDMA
 * device's IP address for the verbs provider, a cluster network's), and
 * lifts the loopback rule.
 *
 * Start-up cost: libfabric 1.17 runs the init of every built-in provider
 * in the first libfabric call of a process, whatever the hints or
 * FI_PROVIDER say (the filter applies after the inits); its verbs
 * provider scans /proc/kallsyms twice there, looking for kernel dmabuf
 * support, which takes 0.5-3 s on a loaded machine and dominates
 * fi_getinfo. Nothing in this transport can skip it; a process that forks
 * its members after opening one context (as the test programs do) pays it
 * once, and the children only pay the provider's own getinfo (~0.2 s).
 * The endpoint's enable was the other cost: ofi_rxm preallocates its
 * message buffers there, so the transport asks for small pools
 * (FI_OFI_RXM_BUFFER_SIZE=4096, FI_OFI_RXM_RX_SIZE=16,
 * FI_OFI_RXM_MSG_RX_SIZE=16) unless the environment sets them.
 *
 * Endpoints are RDM where a provider offers them with FI_RMA|FI_ATOMIC,
 * else connected ones (FI_EP_MSG); WIN_OFI_EP_TYPE=rdm or =msg insists on
 * one. With connected endpoints each member listens on a passive
 * endpoint, and every window connects each pair of members once
 * (fi_connect/fi_accept through one event queue; the lower rank accepts,
 * a member connects to itself for its own part), the listening addresses
 * and a per-window tag travelling through the group bootstrap. The verbs
 * provider offers only those (on Soft-RoCE in the guest: FI_EP_MSG over
 * rdma_cm, its "verbs;ofi_rxm" RDM has no FI_ATOMIC); on the host the
 * sockets provider does (tcp's MSG endpoints have no atomics, which the
 * control words need).
 *
 * WIN_OFI_EMULATE_ATOMICS=1 puts every window atomic (fetch-op,
 * accumulate, compare-and-swap) on the compare-and-swap loop used for the
 * types and ops fi_query_atomic does not offer, to exercise that path on
 * a provider that has them all; the control words stay native.
 *
 * The fabric, domain and endpoint are created lazily, by the first window
 * that this transport actually carries, so a context in which shm or kshim
 * serve every peer pays only for the fi_getinfo.
 *
 * Windows: every member registers its part and its control block and
 * sends its endpoint name, addresses and keys through the group bootstrap.
 * put/get are fi_write/fi_read (fi_writemsg/fi_readmsg for vectors),
 * atomics are fi_atomic/fi_fetch_atomic/fi_compare_atomic where
 * fi_query_atomic offers the type and op, else compare-and-swap loops on
 * the element. Control words (locks, post/complete, doorbells) are remote
 * atomics on the registered control block; waits poll them with backoff.
 * Nothing needs the target's CPU: when the provider's data progress is
 * manual, a progress thread of this transport drives it (blocking in
 * fi_cq_sread when the completion queue has an fd wait object, else
 * polling: yielding between polls right after activity, which includes
 * peers' operations it served where a FI_RMA_EVENT counter shows them,
 * then sleeping with backoff), and every wait of the calling thread
 * drives it too. While callers wait, and until one of its sleeps has
 * passed with no wait begun (waits are counted, not timed), the thread
 * stays off the completion queue, asleep (it would only take a core from
 * the caller or from the peer the caller waits on), in sleeps of 2 ms
 * growing to 8 ms while waits keep coming: it takes over at most 16 ms
 * after callers stop. While it stands by so, a thread that
 * sleeps in fi_cq_sread is held to the CPU where the last wait began (a
 * polling one is not, see progress_start): its wake-ups then interrupt
 * only this process (floating, they land on the core of the peer being
 * waited on, which costs a stream of tcp puts 10-15 % of its bandwidth on
 * 2 cores); when it drives progress itself it floats over the process's
 * CPUs again. WIN_OFI_PROGRESS_PIN=0: it always floats.
 *
 * shm endpoints are named by the transport ("libwin_<pid>_<time>_<n>"),
 * and regions of that form left by dead processes are removed.
 *
 * Completions go to one completion queue; each operation carries a context
 * that whichever thread reaps the entry marks done. Remote completion
 * (flush): with FI_ORDER_RMA_RAW from the provider, a trailing 8-byte
 * fi_read of the target's control block after the writes (the read cannot
 * pass them); without it every write is issued with FI_DELIVERY_COMPLETE
 * and flush waits for the writes' completions.
 *
 * Errors: an error completion, a failed post, or a peer the group reports
 * dead becomes WIN_ERR_PEER/WIN_ERR_TRANSPORT on the operation; every wait
 * is bounded by the context's timeout (WIN_ERR_TIMEOUT).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <rdma/fabric.h>
#include <rdma/fi_atomic.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

#include "core/amo.h"
#include "core/ctrl.h"
#include "core/futex.h"
#include "core/internal.h"

#define OFI_VERSION FI_VERSION(1, 17)
#define OFI_ADDR_MAX 256
#define OFI_NTYPES 7  /* win_datatype_t 1..6 */
#define OFI_NOPS 10   /* win_op_t 1..9 */
#define OFI_EMU_BATCH 128 /* emulated atomics in flight together */
/*
 * Blocking puts of up to OFI_BOUNCE_SLOT bytes (above the provider's
 * inject size) are copied into a slot of a registered ring and left in
 * flight: the caller's buffer is free at once, as a blocking put
 * promises, and the next put need not wait for the provider to complete
 * this one. Up to OFI_BOUNCE_SLOTS are in flight; flushes wait for them
 * as for any write, and report a failed one.
 */
#define OFI_BOUNCE_SLOT 16384
#define OFI_BOUNCE_SLOTS 16
#define OFI_STAGE 65536
#define OFI_MR_MODES (FI_MR_VIRT_ADDR | FI_MR_PROV_KEY | FI_MR_LOCAL | \
		      FI_MR_ENDPOINT | FI_MR_ALLOCATED)

/* One posted operation; the completion entry points back to it. */
struct ofi_op {
	struct fi_context2 fctx; /* first: op_context is the op */
	int state;               /* 0 pending, 1 done */
	int status;              /* WIN_OK or WIN_ERR_* */
	int prov_err;            /* provider errno of an error completion */
	struct ofi_reg *lreg;    /* FI_MR_LOCAL registration, if any */
	struct ofi_op *next_free;
	struct ofi_win *ow;      /* a put left in flight: its window */
	int rank;                /* and target */
};

enum { K_ATOMIC, K_FETCH, K_CMP };

/*
 * A registration of the caller's memory (a window's data or control part,
 * or an operation's local buffer under FI_MR_LOCAL), shared by everything
 * that lies inside it while it lives: a window inside another window, a
 * buffer inside a window, two operations on one buffer. Registering such
 * memory twice is not safe on every provider: with libfabric's MR cache
 * the second registration gets the first one's device region and key, and
 * ofi_rxm (verbs) then refuses it (FI_ENOKEY) after dropping the first
 * one's entry from the table it checks atomics against.
 */
struct ofi_reg {
	struct ofi_reg *next;
	uintptr_t base;
	size_t len;
	struct fid_mr *mr;
	int refs;
};

struct ofi_state {
	struct win_ctx *ctx;
	struct fi_info *info;
	bool up;               /* fabric objects exist */
	struct fid_fabric *fabric;
	struct fid_domain *domain;
	struct fid_ep *ep;
	struct fid_av *av;
	struct fid_cq *cq;
	bool cq_waitable;
	/* FI_RMA_EVENT: incoming operations served, for the polling thread
	 * (it sees no completion of its own when it serves a peer). */
	struct fid_cntr *rcntr;
	uint64_t rseen;
	/* Waits of application threads (they drive progress themselves),
	 * counted as they begin and end: counters rather than a clock, so
	 * that a wait costs no clock read. */
	uint64_t waits_begun, waits_ended;
	bool manual;           /* FI_PROGRESS_MANUAL data progress */
	bool raw_order;        /* FI_ORDER_RMA_RAW: flush by trailing read */
	uint64_t mr_mode;
	size_t inject, max_msg, iov_limit, rma_iov_limit;
	uint64_t next_key;
	pthread_t thr;
	bool thr_running;
	bool thr_pin;          /* stand by on the waiting caller's CPU */
	int thr_cpu;           /* the CPU it is held to, or -1: floats */
	int caller_cpu;        /* where the last wait began */
	cpu_set_t thr_cpus;    /* the CPUs it floats over */
	int stop;
	uint64_t issued, completed; /* ops with contexts */
	struct ofi_op *free_ops;
	/* Registered scratch for atomics' operands and results. */
	uint64_t *scratch;
	size_t scratch_len;
	struct ofi_reg *scratch_reg;
	void *scratch_desc;
	/* Operands, compares and results of pipelined emulated atomics. */
	uint64_t *emu;
	struct ofi_reg *emu_reg;
	void *emu_desc;
	/* Blocking puts left in flight (see OFI_BOUNCE_SLOT): slot i of
	 * `bounce` belongs to ring[i]; ring_tail..ring_head are in use. */
	char *bounce;
	struct ofi_reg *bounce_reg;
	/* FI_MR_LOCAL: local buffers that cannot be registered as they are
	 * go through this one, OFI_STAGE bytes at a time (see local_desc). */
	char *stage;
	struct ofi_reg *stage_reg;
	struct ofi_op *ring[OFI_BOUNCE_SLOTS];
	unsigned ring_head, ring_tail;
	char myaddr[OFI_ADDR_MAX];
	size_t myaddr_len;
	char addr_str[128];
	uint8_t native[OFI_NTYPES][OFI_NOPS][3];
	size_t native_count[OFI_NTYPES][OFI_NOPS][3];
	bool cswap64;          /* native 64-bit compare-and-swap */
	bool cas_checked;      /* check_atomics passed on this context */
	bool emulate;          /* WIN_OFI_EMULATE_ATOMICS: CAS loops only */
	/* FI_EP_MSG: a listening endpoint and the connection events. */
	bool msg;
	struct fid_pep *pep;
	struct fid_eq *eq;
	struct ofi_connreq *early; /* requests for windows not open yet */
	uint64_t next_tag;
	/*
	 * Peer addresses in the address vector, each inserted once and kept
	 * until the endpoint closes, as its connections are (ofi_rxm). Not
	 * removed when the last window using one closes: providers differ on
	 * inserting an address twice (shm keeps one peer mapping per name,
	 * which the first removal takes down under the other windows), and
	 * on taking one back (shm, 1.17: after fi_av_remove and a new
	 * fi_av_insert of a peer, an atomic to it never completed).
	 */
	struct ofi_avent *avs;
	struct ofi_reg *regs;  /* live shared registrations */
};

struct ofi_avent {
	struct ofi_avent *next;
	fi_addr_t addr;
	uint32_t len;
	char name[OFI_ADDR_MAX];
};

/* A connection request (FI_EP_MSG), with the rank and window it is for. */
struct ofi_connreq {
	struct fi_info *info;
	uint64_t tag;
	int rank;
	struct ofi_connreq *next;
};

/* What a connecting side sends with fi_connect. */
struct ofi_cm_param {
	uint64_t tag;   /* the window, as the accepting side named it */
	int32_t rank;   /* the connecting rank */
	int32_t pad;
};

struct ofi_peer {
	struct fid_ep *ep;     /* the context's (RDM) or the connection's */
	struct fid_ep *acc_ep; /* FI_EP_MSG: the accepted side, kept open */
	bool connected;
	fi_addr_t addr;
	bool dirty;            /* writes since the last remote completion */
	uint64_t data_base, data_key;
	uint64_t ctrl_base, ctrl_key;
};

struct ofi_win {
	struct ofi_state *s;
	struct win *w;
	bool active;
	uint64_t tag;
	struct ofi_peer *p;
	struct ofi_reg *data_reg, *ctrl_reg;
	/* The first failure of a put left in flight, for the next flush. */
	int put_err, put_err_rank, put_prov_err;
};

struct ofi_xchg {
	uint64_t tag;  /* FI_EP_MSG: this member's name for the window */
	uint64_t data_base, data_key;
	uint64_t ctrl_base, ctrl_key;
	uint32_t addr_len;
	uint32_t pad;
	char addr[OFI_ADDR_MAX];
};

/* ---- completion handling ---- */

static int prov_status(int err)
{
	switch (err) {
	case FI_ECONNREFUSED:
	case FI_ECONNRESET:
	case FI_ECONNABORTED:
	case FI_ENOTCONN:
	case FI_EHOSTUNREACH:
	case FI_ESHUTDOWN:
	case FI_ETIMEDOUT:
	case EPIPE:
	case FI_EIO:
	/* sockets, connected endpoints: an atomic to a member that had
	 * just exited (its pid not yet gone) failed so. */
	case FI_ENOENT:
		return WIN_ERR_PEER;
	}
	return WIN_ERR_TRANSPORT;
}

static void op_done(struct ofi_state *s, struct ofi_op *op, int status,
		    int err)
{
	op->status = status;
	op->prov_err = err;
	__atomic_store_n(&op->state, 1, __ATOMIC_RELEASE);
	__atomic_fetch_add(&s->completed, 1, __ATOMIC_RELEASE);
}

/* Reap completions (this drives progress too). Returns entries seen. */
static int ofi_poll(struct ofi_state *s)
{
	struct fi_cq_entry ent[16];
	ssize_t n = fi_cq_read(s->cq, ent, 16);

	if (n > 0) {
		for (ssize_t i = 0; i < n; i++)
			if (ent[i].op_context)
				op_done(s, ent[i].op_context, WIN_OK, 0);
		return (int)n;
	}
	if (n == -FI_EAVAIL) {
		struct fi_cq_err_entry e;

		memset(&e, 0, sizeof(e));
		if (fi_cq_readerr(s->cq, &e, 0) > 0 && e.op_context)
			op_done(s, e.op_context, prov_status(e.err), e.err);
		return 1;
	}
	return 0;
}

/*
 * The progress thread stands by while application threads drive progress
 * themselves, and until a whole sleep of its own has passed with no wait
 * begun. It sleeps OFI_QUIET_US at a time at first, doubling up to
 * OFI_QUIET_MAX_US for as long as every sleep saw a wait begin. Waits are
 * counted, not timed, so the sleep in which the last one began does not
 * tell when: the thread takes over after the next one, at most twice
 * OFI_QUIET_MAX_US (16 ms) after callers stop. Each wake-up costs: every
 * 2 ms it was 1 in 16 of a latency run's context switches, and a stream
 * of tcp puts lost about 5 % of its bandwidth to them.
 */
#define OFI_QUIET_US 2000
#define OFI_QUIET_MAX_US 8000

/* Hold the progress thread to `cpu`, or (-1) let it float again. */
static void progress_hold(struct ofi_state *s, int cpu)
{
	cpu_set_t one;

	if (cpu == s->thr_cpu)
		return;
	if (cpu >= 0) {
		if (cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &s->thr_cpus))
			return;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
	}
	if (!pthread_setaffinity_np(pthread_self(), sizeof(cpu_set_t),
				    cpu >= 0 ? &one : &s->thr_cpus))
		s->thr_cpu = cpu;
}

/*
 * Did this process serve peers' operations since the last look? Serving
 * them leaves no entry in its own completion queue; the remote counter
 * (FI_RMA_EVENT) counts them. Without one, the polling thread backs off
 * to 1 ms sleeps in the middle of a peer's stream, and every operation
 * of that peer waits for it.
 */
static bool served_peers(struct ofi_state *s)
{
	uint64_t v;

	if (!s->rcntr)
		return false;
	v = fi_cntr_read(s->rcntr);
	if (v == s->rseen)
		return false;
	s->rseen = v;
	return true;
}

static void *progress_thread(void *arg)
{
	struct ofi_state *s = arg;
	unsigned idle = 0;
	long quiet = OFI_QUIET_US;
	uint64_t seen = 0;     /* waits begun, as of the last look */

	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		/* Ended first: a wait counted there was counted as begun. */
		uint64_t ended = __atomic_load_n(&s->waits_ended,
						 __ATOMIC_ACQUIRE);
		uint64_t begun = __atomic_load_n(&s->waits_begun,
						 __ATOMIC_ACQUIRE);

		/*
		 * While application threads wait in this transport they
		 * drive progress themselves: stay off the completion queue
		 * and its lock (on few cores the two pollers only slow each
		 * other down), until a whole quiet period has passed with no
		 * wait in it. Long sleeps: every wake-up of this thread
		 * takes a core from the caller or from the peer it waits on.
		 */
		if (begun != ended || begun != seen) {
			struct timespec ts = { 0, quiet * 1000L };

			idle = 0;
			seen = begun;
			if (s->thr_pin)
				progress_hold(s, __atomic_load_n(&s->caller_cpu,
							 __ATOMIC_RELAXED));
			nanosleep(&ts, NULL);
			/* Longer while waits keep beginning. */
			if (__atomic_load_n(&s->waits_begun,
					    __ATOMIC_ACQUIRE) != begun)
				quiet = quiet < OFI_QUIET_MAX_US / 2 ?
					quiet * 2 : OFI_QUIET_MAX_US;
			else
				quiet = OFI_QUIET_US;
			continue;
		}
		quiet = OFI_QUIET_US;
		if (s->thr_cpu >= 0)
			progress_hold(s, -1);
		if (s->cq_waitable) {
			struct fi_cq_entry ent;
			ssize_t n = fi_cq_sread(s->cq, &ent, 1, NULL, 50);

			/*
			 * Waits begun during the read send the thread to
			 * sleep next round even when the read found nothing:
			 * a busy caller reaps its own completions, so an
			 * empty read does not mean the caller has gone.
			 */
			if (n > 0 && ent.op_context)
				op_done(s, ent.op_context, WIN_OK, 0);
			else if (n == -FI_EAVAIL)
				ofi_poll(s);
			else if (n < 0 && n != -FI_EAGAIN &&
				 n != -FI_ETIMEDOUT && n != -FI_EINTR)
				s->cq_waitable = false; /* fall back */
			continue;
		}
		if (ofi_poll(s) || served_peers(s)) {
			idle = 0;
			continue;
		}
		/*
		 * Right after activity (its own completions, or peers'
		 * operations it served), yield between polls: on shm every
		 * put, get and atomic of a peer needs a pass of this
		 * process's progress, and they come back to back. Then sleep
		 * with backoff up to 1 ms.
		 */
		if (idle < 64) {
			idle++;
			sched_yield();
			continue;
		}
		struct timespec ts = { 0, 20000L << (idle - 64) };

		if (idle < 70)
			idle++;
		if (ts.tv_nsec > 1000000L)
			ts.tv_nsec = 1000000L;
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/*
 * Start the progress thread. It floats over this thread's CPUs, and
 * stands by on a waiting caller's (see the top of the file) unless
 * WIN_OFI_PROGRESS_PIN=0, those CPUs are unknown, or the thread polls.
 * Peers' threads poll too then (shm: no fd wait object) and keep a core
 * busy while a stream comes in; when a thread held to its caller's CPU
 * wakes there, the scheduler can balance only by moving the caller, onto
 * the core of the peer it waits for. On 2 cores that doubled the median
 * time of an 8 B put and flush on shm (2.38 us against 1.26 us floating,
 * 45 alternated rounds).
 */
static int progress_start(struct ofi_state *s)
{
	const char *pin = getenv("WIN_OFI_PROGRESS_PIN");
	int rc;

	s->thr_cpu = -1;
	s->caller_cpu = -1;
	s->thr_pin = s->cq_waitable && !(pin && !strcmp(pin, "0")) &&
		     !pthread_getaffinity_np(pthread_self(), sizeof(cpu_set_t),
					     &s->thr_cpus);
	if ((rc = pthread_create(&s->thr, NULL, progress_thread, s)))
		return win_seterr_sys(WIN_ERR_SYS, rc, "ofi progress thread");
	s->thr_running = true;
	return WIN_OK;
}

/* An application thread starts driving progress (see progress_thread). */
static inline void polling_begin(struct ofi_state *s)
{
	if (s->thr_pin)
		__atomic_store_n(&s->caller_cpu, sched_getcpu(),
				 __ATOMIC_RELAXED);
	__atomic_add_fetch(&s->waits_begun, 1, __ATOMIC_ACQ_REL);
}

static inline void polling_end(struct ofi_state *s)
{
	__atomic_add_fetch(&s->waits_ended, 1, __ATOMIC_ACQ_REL);
}

static struct ofi_op *op_get(struct ofi_state *s)
{
	struct ofi_op *op = s->free_ops;

	if (op)
		s->free_ops = op->next_free;
	else if (!(op = calloc(1, sizeof(*op)))) {
		win_seterr(WIN_ERR_NOMEM, "ofi operation");
		return NULL;
	}
	/* The provider's context area needs no clearing. */
	op->state = 0;
	op->status = WIN_OK;
	op->prov_err = 0;
	op->lreg = NULL;
	op->ow = NULL;
	return op;
}

static void reg_put(struct ofi_state *s, struct ofi_reg *r);

static void op_put(struct ofi_state *s, struct ofi_op *op)
{
	if (op->lreg)
		reg_put(s, op->lreg);
	op->lreg = NULL;
	op->next_free = s->free_ops;
	s->free_ops = op;
}

/* Retire the ring's completed puts, oldest first, keeping the first
 * failure for its window's next flush of that target. */
static void ring_retire(struct ofi_state *s)
{
	while (s->ring_tail != s->ring_head) {
		struct ofi_op *op = s->ring[s->ring_tail % OFI_BOUNCE_SLOTS];

		if (!__atomic_load_n(&op->state, __ATOMIC_ACQUIRE))
			return;
		if (op->status && op->ow && !op->ow->put_err) {
			op->ow->put_err = op->status;
			op->ow->put_err_rank = op->rank;
			op->ow->put_prov_err = op->prov_err;
		}
		op_put(s, op);
		s->ring_tail++;
	}
}

/* Deadline bookkeeping shared by every wait. */
struct ofi_waiter {
	struct ofi_win *ow;
	uint64_t deadline;
	unsigned spins;
};

/* Has `rank`'s process died? (Group members share this host.) */
static bool rank_dead(struct ofi_win *ow, int rank)
{
	pid_t pid;

	if (rank < 0 || rank >= ow->w->size || !ow->w->group->pids)
		return false;
	pid = ow->w->group->pids[rank];
	return pid > 0 && !win_pid_alive(pid);
}

/* One round of waiting: progress, backoff, peer and deadline checks. */
static int wait_round(struct ofi_waiter *wt, int rank, const char *what)
{
	struct ofi_state *s = wt->ow->s;

	if (ofi_poll(s)) {
		wt->spins = 0;
		return WIN_OK;
	}
	if (++wt->spins < 200) {
		win_cpu_relax();
		return WIN_OK;
	}
	if (wt->spins < 2000) {
		sched_yield();
		return WIN_OK;
	}
	if (wt->spins % 64 == 0) {
		uint64_t now = win_now_ms();

		if (!wt->deadline)
			wt->deadline = now + (uint64_t)wt->ow->w->ctx->timeout_ms;
		/* Only the target's death fails an operation on it. */
		if (rank >= 0 && rank_dead(wt->ow, rank))
			return win_seterr(WIN_ERR_PEER, "ofi %s on rank %d: the "
					  "process has died", what, rank);
		if (rank < 0 && win_group_check_peers(wt->ow->w->group))
			return win_seterr(WIN_ERR_PEER, "ofi %s: %s", what,
					  win_last_error());
		if (now > wt->deadline)
			return win_seterr(WIN_ERR_TIMEOUT, "ofi %s on rank %d: "
					  "no completion in %d ms", what, rank,
					  wt->ow->w->ctx->timeout_ms);
	}
	struct timespec ts = { 0, 20000 };

	nanosleep(&ts, NULL);
	return WIN_OK;
}

/* Until `op` has completed (WIN_OK), or the wait fails. */
static int wait_done(struct ofi_win *ow, struct ofi_op *op, int rank,
		     const char *what)
{
	struct ofi_waiter wt = { ow, 0, 0 };
	int rc = WIN_OK;

	if (__atomic_load_n(&op->state, __ATOMIC_ACQUIRE))
		return WIN_OK;
	polling_begin(ow->s);
	while (!__atomic_load_n(&op->state, __ATOMIC_ACQUIRE))
		if ((rc = wait_round(&wt, rank, what)))
			break;
	polling_end(ow->s);
	return rc;
}

/* The error of an operation on `rank` that completed with `status`. */
static int op_error(struct ofi_win *ow, int rank, const char *what,
		    int status, int prov_err)
{
	/* Whatever the provider calls it, a failure on a target that has
	 * died is that death (providers differ: ENOENT, ECONNRESET, EIO). */
	if (rank_dead(ow, rank))
		return win_seterr(WIN_ERR_PEER, "ofi %s on rank %d: the "
				  "process has died (%s)", what, rank,
				  fi_strerror(prov_err));
	/* The target refused the window's key: it has freed the window
	 * (or left the group) while this process still used it. */
	if (prov_err == FI_EACCES)
		return win_seterr(WIN_ERR_PEER, "ofi %s on rank %d: the "
				  "target no longer exposes the window (freed "
				  "or left: %s)", what, rank,
				  fi_strerror(prov_err));
	return win_seterr(status, "ofi %s on rank %d failed: %s", what, rank,
			  fi_strerror(prov_err));
}

/* Wait for one operation; on failure the op is abandoned (not reused). */
static int op_wait(struct ofi_win *ow, struct ofi_op *op, int rank,
		   const char *what)
{
	int rc = wait_done(ow, op, rank, what);

	if (rc)
		return rc;
	if (op->status)
		rc = op_error(ow, rank, what, op->status, op->prov_err);
	op_put(ow->s, op);
	return rc;
}

/* Wait until every operation with a context has completed. */
static int wait_all(struct ofi_win *ow, int rank, const char *what)
{
	struct ofi_state *s = ow->s;
	struct ofi_waiter wt = { ow, 0, 0 };
	int rc = WIN_OK;

	if (__atomic_load_n(&s->completed, __ATOMIC_ACQUIRE) == s->issued)
		return WIN_OK;
	polling_begin(s);
	while (__atomic_load_n(&s->completed, __ATOMIC_ACQUIRE) !=
	       s->issued)
		if ((rc = wait_round(&wt, rank, what)))
			break;
	polling_end(s);
	return rc;
}

/*
 * Post with retries: a full transmit queue (-FI_EAGAIN) is drained by
 * progress, within the context's timeout.
 */
#define OFI_POST(ow, rank, what, call)                                       \
	({                                                                   \
		struct ofi_waiter wt_ = { (ow), 0, 0 };                      \
		ssize_t r_;                                                  \
		int rc_ = WIN_OK;                                            \
		while ((r_ = (call)) == -FI_EAGAIN) {                        \
			wt_.spins = wt_.spins < 2000 ? 2000 : wt_.spins;     \
			if ((rc_ = wait_round(&wt_, (rank), (what))))        \
				break;                                       \
		}                                                            \
		if (rc_ == WIN_OK && r_ < 0)                                 \
			rc_ = win_seterr(rank_dead((ow), (rank)) ?           \
					 WIN_ERR_PEER :                      \
					 prov_status((int)-r_), "ofi %s on " \
					 "rank %d: %s", (what), (rank),      \
					 fi_strerror((int)-r_));             \
		rc_;                                                         \
	})

/* ---- context ---- */

/*
 * Endpoint types to ask for, in order: WIN_OFI_EP_TYPE=rdm or =msg names
 * one; unset, RDM and, where no provider offers RDM, connected endpoints
 * (FI_EP_MSG, one connection per peer). 0 ends the list; -1 if the
 * variable holds something else.
 */
static int ofi_ep_types(enum fi_ep_type out[2])
{
	const char *e = getenv("WIN_OFI_EP_TYPE");

	out[0] = FI_EP_RDM;
	out[1] = FI_EP_MSG;
	if (!e || !*e)
		return 2;
	if (!strcasecmp(e, "rdm"))
		return 1;
	if (!strcasecmp(e, "msg")) {
		out[0] = FI_EP_MSG;
		return 1;
	}
	return -1;
}

/* fi_getinfo for one endpoint type; -FI_ENODATA when nothing matches. */
static int getinfo_type(const char *prov, enum fi_ep_type type,
			const char *node, bool local, uint64_t caps,
			struct fi_info **out)
{
	struct fi_info *hints = fi_allocinfo();
	int rc;

	if (!hints)
		return -FI_ENOMEM;
	hints->caps = caps;
	hints->mode = FI_CONTEXT | FI_CONTEXT2 | FI_BUFFERED_RECV;
	hints->ep_attr->type = type;
	hints->domain_attr->mr_mode = OFI_MR_MODES;
	hints->domain_attr->threading = FI_THREAD_SAFE;
	hints->addr_format = FI_FORMAT_UNSPEC;
	if (prov && !(hints->fabric_attr->prov_name = strdup(prov))) {
		fi_freeinfo(hints);
		return -FI_ENOMEM;
	}
	rc = fi_getinfo(OFI_VERSION, node, NULL, local ? 0 : FI_SOURCE, hints,
			out);
	fi_freeinfo(hints);
	return rc;
}

static int ofi_getinfo(const char *prov, struct fi_info **out, char *why,
		       size_t whylen)
{
	bool local = prov && strncmp(prov, "shm", 3) == 0;
	const char *node = NULL;
	enum fi_ep_type types[2];
	int ntypes = ofi_ep_types(types);
	int rc = -FI_ENODATA;

	if (ntypes < 0) {
		snprintf(why, whylen, "WIN_OFI_EP_TYPE=%s: expected rdm or msg",
			 getenv("WIN_OFI_EP_TYPE"));
		return WIN_ERR_ARG;
	}
	/* Network providers bind to the loopback address unless
	 * WIN_OFI_NODE names another local address (an RDMA device's). */
	if (!local && !(node = getenv("WIN_OFI_NODE")))
		node = "127.0.0.1";
	for (int t = 0; t < ntypes && rc == -FI_ENODATA; t++)
		rc = getinfo_type(prov, types[t], node, local,
				  FI_RMA | FI_ATOMIC, out);
	if (rc == -FI_ENODATA) {
		/* Say why: no RMA at all, or RMA without atomics? */
		struct fi_info *i2 = NULL;

		for (int t = 0; t < ntypes && !i2; t++)
			if (getinfo_type(prov, types[t], node, local, FI_RMA,
					 &i2))
				i2 = NULL;
		if (i2) {
			snprintf(why, whylen, "provider %s offers FI_RMA but no "
				 "FI_ATOMIC, which the control words need",
				 i2->fabric_attr->prov_name);
			fi_freeinfo(i2);
		} else {
			snprintf(why, whylen, "no libfabric provider%s%s offers "
				 "FI_RMA|FI_ATOMIC on %s with thread-safe "
				 "domains on %s", prov ? " matching " : "",
				 prov ? prov : "", ntypes == 2 ?
				 "an RDM or FI_EP_MSG endpoint" :
				 types[0] == FI_EP_MSG ? "an FI_EP_MSG endpoint" :
				 "an RDM endpoint", node ? node : "this host");
		}
		return WIN_ERR_UNSUPPORTED;
	}
	if (rc) {
		snprintf(why, whylen, "fi_getinfo: %s", fi_strerror(-rc));
		return rc == -FI_ENOMEM ? WIN_ERR_NOMEM : WIN_ERR_UNSUPPORTED;
	}
	return WIN_OK;
}

/* Provider discovery (fi_getinfo initializes every provider: slow). */
static int ofi_discover(struct ofi_state *s)
{
	const char *prov = getenv("WIN_OFI_PROVIDER");
	char why[200];
	int rc;

	if (s->info)
		return WIN_OK;
	if (prov && !*prov)
		prov = NULL;
	/* The tcp provider enumerates interfaces from this variable. */
	setenv("FI_TCP_IFACE", "lo", 0);
	/*
	 * ofi_rxm (over tcp, verbs) preallocates and touches its message
	 * buffers when the endpoint is enabled: by default 16 KiB each and
	 * hundreds of them, 0.5-1 s per process under load, which spreads
	 * the members' arrival at the first window's collectives beyond
	 * short timeouts. This transport sends no messages itself (rxm uses
	 * the buffers for its inject bounce and its atomics protocol):
	 * 4 KiB buffers and 16 receive buffers per queue make the enable
	 * ~20 times faster (~30 ms). Only when the environment does not
	 * choose; libfabric reads them when it initializes.
	 */
	setenv("FI_OFI_RXM_BUFFER_SIZE", "4096", 0);
	setenv("FI_OFI_RXM_RX_SIZE", "16", 0);
	setenv("FI_OFI_RXM_MSG_RX_SIZE", "16", 0);
	rc = ofi_getinfo(prov, &s->info, why, sizeof(why));
	if (rc) {
		win_log(s->ctx, WIN_LOG_INFO, "ofi: %s", why);
		return win_seterr(rc, "ofi: %s", why);
	}
	return WIN_OK;
}

static int ofi_open(struct win_ctx *ctx, void **state)
{
	struct ofi_state *s;
	bool local_first = false;
	int rc;

	*state = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return win_seterr(WIN_ERR_NOMEM, "ofi state");
	s->ctx = ctx;
	s->next_key = 1;
	/*
	 * When a same-host transport comes first, ofi would only carry
	 * peers on other hosts: discovery waits for the first window that
	 * needs it, so contexts that never use ofi do not pay for it. When
	 * ofi is the first choice, a missing provider fails win_init.
	 */
	for (int i = 0; i < ctx->ntp; i++)
		if (!strcmp(ctx->tp[i]->name, "shm") ||
		    !strcmp(ctx->tp[i]->name, "kshim"))
			local_first = true;
	if (!local_first && (rc = ofi_discover(s))) {
		free(s);
		return rc;
	}
	*state = s;
	return WIN_OK;
}

/*
 * A peer may still wait for work this process owes it as a target: a
 * provider's reply to an atomic already applied here (the peer's epoch
 * may end on the new value before the reply leaves). Drive progress for a
 * few quiet milliseconds (at most 20 times that) before the window's
 * registrations or the endpoint go away. It returns right after a poll
 * that found nothing, so that the caller closes on an empty queue.
 */
#define OFI_QUIESCE_MS 5

static void ofi_quiesce(struct ofi_state *s)
{
	uint64_t start = win_now_ms(), last = start, now;

	polling_begin(s);
	for (;;) {
		bool seen = ofi_poll(s) > 0;

		now = win_now_ms();
		if (seen)
			last = now;
		if ((!seen && now - last >= OFI_QUIESCE_MS) ||
		    now - start >= 20 * OFI_QUIESCE_MS)
			break;
		if (!seen)
			sched_yield();
	}
	polling_end(s);
}

static void ofi_down(struct ofi_state *s)
{
	if (s->thr_running) {
		__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
		pthread_join(s->thr, NULL);
		s->thr_running = false;
	}
	/*
	 * Reap what has arrived right before closing the endpoint. ofi_rxm
	 * (libfabric 1.17, verbs) closes a connection's endpoint and then
	 * reaps the completions still queued for it, reposting their
	 * receive buffers on the endpoint it has just freed: a message a
	 * peer sent shortly before (a credit update, an atomic) crashed
	 * the process in fi_close.
	 */
	if (s->ep && s->cq)
		ofi_quiesce(s);
	if (s->ep)
		fi_close(&s->ep->fid);
	if (s->pep)
		fi_close(&s->pep->fid);
	while (s->early) {
		struct ofi_connreq *c = s->early;

		s->early = c->next;
		fi_reject(s->pep, c->info->handle, NULL, 0);
		fi_freeinfo(c->info);
		free(c);
	}
	if (s->eq)
		fi_close(&s->eq->fid);
	s->pep = NULL;
	s->eq = NULL;
	/* Every registration, the scratch and emulation buffers' too. */
	while (s->regs) {
		struct ofi_reg *r = s->regs;

		s->regs = r->next;
		fi_close(&r->mr->fid);
		free(r);
	}
	s->scratch_reg = NULL;
	s->emu_reg = NULL;
	free(s->emu);
	s->emu = NULL;
	s->bounce_reg = NULL;
	s->stage_reg = NULL;
	while (s->avs) {
		struct ofi_avent *e = s->avs;

		s->avs = e->next;
		free(e);
	}
	if (s->av)
		fi_close(&s->av->fid);
	if (s->rcntr)
		fi_close(&s->rcntr->fid);
	s->rcntr = NULL;
	s->rseen = 0;
	if (s->cq)
		fi_close(&s->cq->fid);
	/* Puts left in flight that never completed stay allocated: the
	 * provider may have held their contexts to the end. */
	for (; s->ring_tail != s->ring_head; s->ring_tail++) {
		struct ofi_op *op = s->ring[s->ring_tail % OFI_BOUNCE_SLOTS];

		if (__atomic_load_n(&op->state, __ATOMIC_ACQUIRE))
			op_put(s, op);
	}
	s->ring_head = s->ring_tail = 0;
	if (s->domain)
		fi_close(&s->domain->fid);
	if (s->fabric)
		fi_close(&s->fabric->fid);
	free(s->scratch);
	s->scratch = NULL;
	free(s->bounce);
	s->bounce = NULL;
	free(s->stage);
	s->stage = NULL;
	s->ep = NULL;
	s->av = NULL;
	s->cq = NULL;
	s->domain = NULL;
	s->fabric = NULL;
	s->up = false;
}

static void ofi_close_ctx(void *state)
{
	struct ofi_state *s = state;

	if (!s)
		return;
	ofi_down(s);
	while (s->free_ops) {
		struct ofi_op *op = s->free_ops;

		s->free_ops = op->next_free;
		free(op);
	}
	fi_freeinfo(s->info);
	free(s);
}

static bool ofi_reaches(void *state, struct win_group *g, int rank)
{
	return true;
}

static const enum fi_datatype fi_types[OFI_NTYPES] = {
	[WIN_INT32] = FI_INT32, [WIN_INT64] = FI_INT64,
	[WIN_UINT32] = FI_UINT32, [WIN_UINT64] = FI_UINT64,
	[WIN_FLOAT] = FI_FLOAT, [WIN_DOUBLE] = FI_DOUBLE,
};

static const enum fi_op fi_ops[OFI_NOPS] = {
	[WIN_OP_SUM] = FI_SUM, [WIN_OP_PROD] = FI_PROD,
	[WIN_OP_MIN] = FI_MIN, [WIN_OP_MAX] = FI_MAX,
	[WIN_OP_BAND] = FI_BAND, [WIN_OP_BOR] = FI_BOR,
	[WIN_OP_BXOR] = FI_BXOR, [WIN_OP_REPLACE] = FI_ATOMIC_WRITE,
	[WIN_OP_NO_OP] = FI_ATOMIC_READ,
};

static size_t query_one(struct ofi_state *s, int t, enum fi_op op,
			uint64_t flags)
{
	struct fi_atomic_attr attr = { 0 };

	if (fi_query_atomic(s->domain, fi_types[t], op, &attr, flags))
		return 0;
	return attr.count;
}

static void query_atomics(struct ofi_state *s)
{
	for (int t = 1; t < OFI_NTYPES; t++) {
		size_t cnt;

		for (int o = 1; o < OFI_NOPS; o++) {
			if (!win_amo_valid(t, o))
				continue;
			if (o != WIN_OP_NO_OP &&
			    (cnt = query_one(s, t, fi_ops[o], 0))) {
				s->native[t][o][K_ATOMIC] = 1;
				s->native_count[t][o][K_ATOMIC] = cnt;
			}
			if ((cnt = query_one(s, t, fi_ops[o], FI_FETCH_ATOMIC))) {
				s->native[t][o][K_FETCH] = 1;
				s->native_count[t][o][K_FETCH] = cnt;
			}
		}
		if ((cnt = query_one(s, t, FI_CSWAP, FI_COMPARE_ATOMIC))) {
			s->native[t][0][K_CMP] = 1;
			s->native_count[t][0][K_CMP] = cnt;
		}
	}
	s->cswap64 = s->native[WIN_UINT64][0][K_CMP];
	/*
	 * WIN_OFI_EMULATE_ATOMICS=1: the window's atomics (fetch-op,
	 * accumulate, compare-and-swap) all take the compare-and-swap loop,
	 * as on a provider without them; control words stay native.
	 */
	{
		const char *e = getenv("WIN_OFI_EMULATE_ATOMICS");

		s->emulate = e && *e && strcmp(e, "0") != 0;
	}
}

/* Does the window's atomic (type, op, kind) run natively? */
static inline bool amo_native(struct ofi_state *s, int t, int o, int kind)
{
	return !s->emulate && s->native[t][o][kind];
}

/*
 * May the endpoint use this address? Loopback (or host-local) only,
 * unless WIN_OFI_NODE chose the local address to bind: then the user has
 * asked for that network.
 */
static bool addr_allowed(const void *addr, size_t len, uint32_t fmt)
{
	const char *node = getenv("WIN_OFI_NODE");

	if (node && *node)
		return true;
	if (fmt == FI_SOCKADDR_IN || (fmt == FI_SOCKADDR &&
				      len == sizeof(struct sockaddr_in))) {
		const struct sockaddr_in *in = addr;

		return in->sin_family == AF_INET &&
		       (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (fmt == FI_SOCKADDR_IN6 || (fmt == FI_SOCKADDR &&
				       len == sizeof(struct sockaddr_in6))) {
		const struct sockaddr_in6 *in6 = addr;

		return in6->sin6_family == AF_INET6 &&
		       IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	}
	/* Host-local address formats (shm names and the like). */
	return fmt == FI_ADDR_STR;
}

#define OFI_REG_ACCESS (FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE)

static int mr_reg(struct ofi_state *s, void *buf, size_t len,
		  struct fid_mr **mr)
{
	int rc = fi_mr_reg(s->domain, buf, len, OFI_REG_ACCESS, 0,
			   __atomic_fetch_add(&s->next_key, 1, __ATOMIC_RELAXED),
			   0, mr, NULL);

	if (rc) {
		/* Some providers leave their half-made region in *mr. */
		*mr = NULL;
		return win_seterr(WIN_ERR_TRANSPORT, "ofi: fi_mr_reg of %zu "
				  "bytes: %s", len, fi_strerror(-rc));
	}
	if (s->mr_mode & FI_MR_ENDPOINT) {
		if ((rc = fi_mr_bind(*mr, &s->ep->fid, 0)) == 0)
			rc = fi_mr_enable(*mr);
		if (rc) {
			fi_close(&(*mr)->fid);
			*mr = NULL;
			return win_seterr(WIN_ERR_TRANSPORT, "ofi: binding a "
					  "memory region to the endpoint: %s",
					  fi_strerror(-rc));
		}
	}
	return WIN_OK;
}

/* Does r cover [a, a + len)? */
static bool reg_contains(const struct ofi_reg *r, uintptr_t a, size_t len)
{
	return a >= r->base && len <= r->len && a - r->base <= r->len - len;
}

/*
 * A registration covering [buf, buf + len): a live one that contains it
 * (one more reference), else a new one. Every shared registration allows
 * all four kinds of access, so any user may share it (the MR cache under
 * the verbs provider registers with all of them anyway).
 */
static int reg_get(struct ofi_state *s, void *buf, size_t len,
		   struct ofi_reg **out)
{
	uintptr_t a = (uintptr_t)buf;
	struct ofi_reg *r;
	int rc;

	for (r = s->regs; r; r = r->next)
		if (reg_contains(r, a, len)) {
			r->refs++;
			*out = r;
			return WIN_OK;
		}
	if (!(r = calloc(1, sizeof(*r))))
		return win_seterr(WIN_ERR_NOMEM, "ofi registration");
	if ((rc = mr_reg(s, buf, len, &r->mr))) {
		free(r);
		return rc;
	}
	r->base = a;
	r->len = len;
	r->refs = 1;
	r->next = s->regs;
	s->regs = r;
	*out = r;
	return WIN_OK;
}

static void reg_put(struct ofi_state *s, struct ofi_reg *r)
{
	struct ofi_reg **pp;

	if (--r->refs > 0)
		return;
	for (pp = &s->regs; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	fi_close(&r->mr->fid);
	free(r);
}

/* Where `addr` lies for peers: its address under FI_MR_VIRT_ADDR, else
 * its offset in the registration. */
static uint64_t reg_addr(struct ofi_state *s, struct ofi_reg *r, void *addr)
{
	return (s->mr_mode & FI_MR_VIRT_ADDR) ? (uintptr_t)addr
					      : (uintptr_t)addr - r->base;
}

/*
 * The ring of puts left in flight (OFI_BOUNCE_SLOT), when writes are
 * ordered before later reads and atomics (FI_ORDER_RMA_RAW,
 * FI_ORDER_ATOMIC_RAW): a get or atomic after a put then sees the put's
 * data, as when the put had waited. WIN_OFI_BOUNCE=0 leaves it out.
 * Best effort: without it every blocking put waits for its completion.
 */
static void bounce_open(struct ofi_state *s)
{
	const char *e = getenv("WIN_OFI_BOUNCE");
	size_t len = (size_t)OFI_BOUNCE_SLOT * OFI_BOUNCE_SLOTS;

	if (!s->raw_order || (e && !strcmp(e, "0")) ||
	    posix_memalign((void **)&s->bounce, 4096, len))
		return;
	if (reg_get(s, s->bounce, len, &s->bounce_reg)) {
		free(s->bounce);
		s->bounce = NULL;
	}
}

#define UP_FAIL(what, r)                                                   \
	do {                                                               \
		rc = win_seterr(WIN_ERR_TRANSPORT, "ofi (%s): %s: %s",     \
				s->info->fabric_attr->prov_name, what,     \
				fi_strerror(-(int)(r)));                   \
		goto fail;                                                 \
	} while (0)

/*
 * Remove the shm regions (named by shm_name_ep() below) of processes that
 * have died: killed members cannot remove their own, and each holds up to
 * 16 MiB of /dev/shm. Peers that still map one keep their mapping.
 */
static void shm_sweep(void)
{
	DIR *d = opendir("/dev/shm");
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[300];
		long pid;

		if (strncmp(e->d_name, "libwin_", 7) != 0)
			continue;
		pid = strtol(e->d_name + 7, NULL, 10);
		if (pid <= 0 || (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
			continue;
		snprintf(path, sizeof(path), "/dev/shm/%s", e->d_name);
		unlink(path);
	}
	closedir(d);
}

/* Name a host-local (FI_ADDR_STR) endpoint; see ofi_up. */
static int shm_name_ep(struct fid_ep *ep)
{
	static unsigned seq;
	struct timespec ts;
	char name[96];
	int rc;

	shm_sweep();
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(name, sizeof(name), "libwin_%d_%llx_%u", (int)getpid(),
		 (unsigned long long)ts.tv_sec * 1000000000ull +
		 (unsigned long long)ts.tv_nsec,
		 __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
	rc = fi_setname(&ep->fid, name, strlen(name) + 1);
	return rc == -FI_ENOSYS || rc == -FI_EOPNOTSUPP ? 0 : rc;
}

/*
 * A counter of the operations peers make on this endpoint's memory, for
 * the progress thread when it has to poll (see served_peers). Providers
 * without FI_RMA_EVENT, or that want memory regions bound to counters
 * for it, go without: the thread then only backs off.
 */
static void remote_counter(struct ofi_state *s)
{
	struct fi_cntr_attr ca = { .events = FI_CNTR_EVENTS_COMP,
				   .wait_obj = FI_WAIT_NONE };

	if (!(s->info->caps & FI_RMA_EVENT) ||
	    (s->mr_mode & FI_MR_RMA_EVENT))
		return;
	if (fi_cntr_open(s->domain, &ca, &s->rcntr, NULL))
		s->rcntr = NULL;
	else if (fi_ep_bind(s->ep, &s->rcntr->fid,
			    FI_REMOTE_WRITE | FI_REMOTE_READ)) {
		fi_close(&s->rcntr->fid);
		s->rcntr = NULL;
	}
}

/* Create the fabric objects (first window this transport serves). */
static int ofi_up(struct ofi_state *s)
{
	struct fi_info *info;
	/*
	 * A file-descriptor wait object, so that the progress thread sleeps
	 * in fi_cq_sread until the provider has work. Not FI_WAIT_UNSPEC:
	 * providers may pick libfabric's "yield" wait (shm does), which spins
	 * on sched_yield and, in 1.17, ignores fi_cq_sread's timeout, so the
	 * thread would burn a core and never see its stop flag. Without fd
	 * waits the thread polls with backoff.
	 */
	struct fi_cq_attr cqa = { .format = FI_CQ_FORMAT_CONTEXT,
				  .wait_obj = FI_WAIT_FD };
	struct fi_av_attr ava = { 0 };
	int rc;

	if (s->up)
		return WIN_OK;
	if ((rc = ofi_discover(s)))
		return rc;
	info = s->info;
	ava.type = info->domain_attr->av_type;
	s->mr_mode = info->domain_attr->mr_mode;
	s->manual = info->domain_attr->data_progress == FI_PROGRESS_MANUAL;
	s->raw_order = (info->tx_attr->msg_order & FI_ORDER_RMA_RAW) &&
		       (info->tx_attr->msg_order & FI_ORDER_ATOMIC_RAW);
	s->inject = info->tx_attr->inject_size;
	s->max_msg = info->ep_attr->max_msg_size ? info->ep_attr->max_msg_size :
						   (size_t)1 << 30;
	s->iov_limit = info->tx_attr->iov_limit ? info->tx_attr->iov_limit : 1;
	s->rma_iov_limit = info->tx_attr->rma_iov_limit ?
			   info->tx_attr->rma_iov_limit : 1;
	if (s->iov_limit > 16)
		s->iov_limit = 16;
	if (info->domain_attr->mr_key_size > 8) {
		rc = win_seterr(WIN_ERR_UNSUPPORTED, "ofi (%s): memory keys "
				"of %zu bytes (FI_MR_RAW) are not supported",
				info->fabric_attr->prov_name,
				info->domain_attr->mr_key_size);
		return rc;
	}
	if ((rc = fi_fabric(info->fabric_attr, &s->fabric, NULL)))
		UP_FAIL("fi_fabric", rc);
	if ((rc = fi_domain(s->fabric, info, &s->domain, NULL)))
		UP_FAIL("fi_domain", rc);
	if ((rc = fi_cq_open(s->domain, &cqa, &s->cq, NULL))) {
		cqa.wait_obj = FI_WAIT_NONE;
		if ((rc = fi_cq_open(s->domain, &cqa, &s->cq, NULL)))
			UP_FAIL("fi_cq_open", rc);
	} else {
		s->cq_waitable = true;
	}
	s->msg = info->ep_attr->type == FI_EP_MSG;
	if (s->msg) {
		/*
		 * Connected endpoints: a listening endpoint here, and one
		 * connection per peer and window (see msg_connect).
		 */
		struct fi_eq_attr eqa = { .size = 64,
					  .wait_obj = FI_WAIT_NONE };

		if (s->mr_mode & FI_MR_ENDPOINT) {
			rc = win_seterr(WIN_ERR_UNSUPPORTED, "ofi (%s): "
					"FI_MR_ENDPOINT with FI_EP_MSG is not "
					"supported", info->fabric_attr->prov_name);
			goto fail;
		}
		if ((rc = fi_eq_open(s->fabric, &eqa, &s->eq, NULL)))
			UP_FAIL("fi_eq_open", rc);
		if ((rc = fi_passive_ep(s->fabric, info, &s->pep, NULL)))
			UP_FAIL("fi_passive_ep", rc);
		if ((rc = fi_pep_bind(s->pep, &s->eq->fid, 0)))
			UP_FAIL("binding the event queue", rc);
		if ((rc = fi_listen(s->pep)))
			UP_FAIL("fi_listen", rc);
		s->myaddr_len = sizeof(s->myaddr);
		if ((rc = fi_getname(&s->pep->fid, s->myaddr,
				     &s->myaddr_len)))
			UP_FAIL("fi_getname", rc);
		if (!addr_allowed(s->myaddr, s->myaddr_len, info->addr_format)) {
			rc = win_seterr(WIN_ERR_TRANSPORT, "ofi (%s): the "
					"listening address is not a loopback "
					"address; refusing to use it",
					info->fabric_attr->prov_name);
			goto fail;
		}
		if (info->addr_format == FI_SOCKADDR_IN ||
		    s->myaddr_len == sizeof(struct sockaddr_in)) {
			const struct sockaddr_in *in = (void *)s->myaddr;
			char ip[INET_ADDRSTRLEN];

			inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
			snprintf(s->addr_str, sizeof(s->addr_str),
				 "%s:%u (listening; FI_EP_MSG)", ip,
				 ntohs(in->sin_port));
		} else {
			snprintf(s->addr_str, sizeof(s->addr_str),
				 "listening (FI_EP_MSG)");
		}
		goto endpoint_done;
	}
	if ((rc = fi_av_open(s->domain, &ava, &s->av, NULL)))
		UP_FAIL("fi_av_open", rc);
	if ((rc = fi_endpoint(s->domain, info, &s->ep, NULL)))
		UP_FAIL("fi_endpoint", rc);
	if ((rc = fi_ep_bind(s->ep, &s->cq->fid, FI_TRANSMIT | FI_RECV)))
		UP_FAIL("binding the completion queue", rc);
	if ((rc = fi_ep_bind(s->ep, &s->av->fid, 0)))
		UP_FAIL("binding the address vector", rc);
	if (!s->cq_waitable)
		remote_counter(s);
	if (info->addr_format == FI_ADDR_STR) {
		/*
		 * shm names its endpoint's region after the process id and
		 * an endpoint index: the region of a process that was killed
		 * stays behind and a later process that gets the same pid
		 * fails fi_enable with EBUSY. A name of our own, with the
		 * time in it, never meets such leftovers (and the regions of
		 * dead processes that carry our names are removed first).
		 * Providers that cannot set names keep theirs.
		 */
		if ((rc = shm_name_ep(s->ep)))
			UP_FAIL("fi_setname", rc);
	}
	if ((rc = fi_enable(s->ep)))
		UP_FAIL("fi_enable", rc);
	s->myaddr_len = sizeof(s->myaddr);
	if ((rc = fi_getname(&s->ep->fid, s->myaddr, &s->myaddr_len)))
		UP_FAIL("fi_getname", rc);
	if (!addr_allowed(s->myaddr, s->myaddr_len, info->addr_format)) {
		rc = win_seterr(WIN_ERR_TRANSPORT, "ofi (%s): the endpoint's "
				"address is not a loopback address; refusing "
				"to use it", info->fabric_attr->prov_name);
		goto fail;
	}
	{
		size_t l = sizeof(s->addr_str);

		if (!fi_av_straddr(s->av, s->myaddr, s->addr_str, &l))
			snprintf(s->addr_str, sizeof(s->addr_str), "?");
	}
endpoint_done:
	s->scratch_len = 4096;
	if (posix_memalign((void **)&s->scratch, 4096, s->scratch_len)) {
		rc = win_seterr(WIN_ERR_NOMEM, "ofi scratch");
		goto fail;
	}
	memset(s->scratch, 0, s->scratch_len);
	if ((rc = reg_get(s, s->scratch, s->scratch_len, &s->scratch_reg)))
		goto fail;
	s->scratch_desc = fi_mr_desc(s->scratch_reg->mr);
	/* Best effort: without it emulated atomics go element by element. */
	if (posix_memalign((void **)&s->emu, 4096,
			   4 * OFI_EMU_BATCH * sizeof(uint64_t)) == 0) {
		memset(s->emu, 0, 4 * OFI_EMU_BATCH * sizeof(uint64_t));
		if (reg_get(s, s->emu, 4 * OFI_EMU_BATCH * sizeof(uint64_t),
			    &s->emu_reg) == WIN_OK) {
			s->emu_desc = fi_mr_desc(s->emu_reg->mr);
		} else {
			free(s->emu);
			s->emu = NULL;
		}
	}
	bounce_open(s);
	/* Best effort: without it such buffers fail (see local_desc). */
	if ((s->mr_mode & FI_MR_LOCAL) &&
	    posix_memalign((void **)&s->stage, 4096, OFI_STAGE) == 0 &&
	    reg_get(s, s->stage, OFI_STAGE, &s->stage_reg)) {
		free(s->stage);
		s->stage = NULL;
	}
	query_atomics(s);
	if (!s->cswap64 || !s->native[WIN_UINT64][WIN_OP_SUM][K_FETCH]) {
		rc = win_seterr(WIN_ERR_UNSUPPORTED, "ofi (%s): no 64-bit "
				"fetch-add/compare-and-swap for the control "
				"words", info->fabric_attr->prov_name);
		goto fail;
	}
	if (s->manual && (rc = progress_start(s)) != WIN_OK)
		goto fail;
	s->up = true;
	return WIN_OK;
fail:
	ofi_down(s);
	return rc;
}

/* ---- windows ---- */

/* ---- connected endpoints (FI_EP_MSG) ---- */

/* An endpoint of the window's connections, bound and enabled. */
static int msg_ep(struct ofi_state *s, struct fi_info *info,
		  struct fid_ep **ep)
{
	int rc;

	if ((rc = fi_endpoint(s->domain, info, ep, NULL)))
		return win_seterr(WIN_ERR_TRANSPORT, "ofi: fi_endpoint: %s",
				  fi_strerror(-rc));
	if ((rc = fi_ep_bind(*ep, &s->eq->fid, 0)) == 0 &&
	    (rc = fi_ep_bind(*ep, &s->cq->fid, FI_TRANSMIT | FI_RECV)) == 0)
		rc = fi_enable(*ep);
	if (rc) {
		fi_close(&(*ep)->fid);
		*ep = NULL;
		return win_seterr(WIN_ERR_TRANSPORT, "ofi: setting up a "
				  "connection's endpoint: %s", fi_strerror(-rc));
	}
	return WIN_OK;
}

/* Accept `c` (a request from c->rank for this window). */
static int msg_accept(struct ofi_win *ow, struct ofi_connreq *c)
{
	struct ofi_peer *p;
	int rc;

	if (c->rank < 0 || c->rank > ow->w->rank || ow->p[c->rank].acc_ep) {
		fi_reject(ow->s->pep, c->info->handle, NULL, 0);
		return win_seterr(WIN_ERR_TRANSPORT, "ofi: unexpected "
				  "connection request from rank %d", c->rank);
	}
	p = &ow->p[c->rank];
	if ((rc = msg_ep(ow->s, c->info, &p->acc_ep))) {
		fi_reject(ow->s->pep, c->info->handle, NULL, 0);
		return rc;
	}
	if ((rc = fi_accept(p->acc_ep, NULL, 0)))
		return win_seterr(WIN_ERR_TRANSPORT, "ofi: fi_accept of rank "
				  "%d: %s", c->rank, fi_strerror(-rc));
	if (c->rank != ow->w->rank)
		p->ep = p->acc_ep; /* the connection to a lower rank */
	return WIN_OK;
}

/*
 * One connection per pair of members for this window: each member
 * connects to its own listener and to those of the higher ranks, and
 * accepts from the lower ranks and from itself. Requests carry the
 * accepting member's tag for the window and the connecting rank; requests
 * for a window this member has not opened yet wait in s->early.
 */
static int msg_connect(struct ofi_win *ow, const struct ofi_xchg *all)
{
	struct ofi_state *s = ow->s;
	struct win *w = ow->w;
	int me = w->rank, up = 0, need = (w->size - me) + (me + 1);
	uint64_t deadline = win_now_ms() + (uint64_t)w->ctx->timeout_ms;
	int rc = WIN_OK;

	for (int r = me; r < w->size && rc == WIN_OK; r++) {
		struct fi_info *hi = fi_dupinfo(s->info);
		struct ofi_cm_param prm = { all[r].tag, me, 0 };

		if (!hi)
			return win_seterr(WIN_ERR_NOMEM, "ofi connection");
		free(hi->dest_addr);
		hi->dest_addr = malloc(all[r].addr_len);
		if (!hi->dest_addr) {
			fi_freeinfo(hi);
			return win_seterr(WIN_ERR_NOMEM, "ofi connection");
		}
		memcpy(hi->dest_addr, all[r].addr, all[r].addr_len);
		hi->dest_addrlen = all[r].addr_len;
		rc = msg_ep(s, hi, &ow->p[r].ep);
		fi_freeinfo(hi);
		if (rc)
			return rc;
		if ((rc = fi_connect(ow->p[r].ep, all[r].addr, &prm,
				     sizeof(prm))))
			return win_seterr(WIN_ERR_TRANSPORT, "ofi: fi_connect "
					  "to rank %d: %s", r,
					  fi_strerror(-rc));
	}
	/* Requests that arrived before this window opened. */
	for (struct ofi_connreq **cp = &s->early; *cp && rc == WIN_OK;) {
		struct ofi_connreq *c = *cp;

		if (c->tag != ow->tag) {
			cp = &c->next;
			continue;
		}
		*cp = c->next;
		rc = msg_accept(ow, c);
		fi_freeinfo(c->info);
		free(c);
	}
	while (rc == WIN_OK && up < need) {
		struct {
			struct fi_eq_cm_entry e;
			uint8_t data[sizeof(struct ofi_cm_param)];
		} ev;
		uint32_t event;
		ssize_t n = fi_eq_read(s->eq, &event, &ev, sizeof(ev), 0);

		if (n == -FI_EAGAIN) {
			struct timespec ts = { 0, 50000 };

			ofi_poll(s);
			if (win_now_ms() > deadline)
				return win_seterr(WIN_ERR_TIMEOUT, "ofi: %d of "
						  "%d connections up in %d ms",
						  up, need,
						  w->ctx->timeout_ms);
			if (win_group_check_peers(w->group))
				return win_seterr(WIN_ERR_PEER, "ofi "
						  "connections: %s",
						  win_last_error());
			nanosleep(&ts, NULL);
			continue;
		}
		if (n == -FI_EAVAIL) {
			struct fi_eq_err_entry ee;

			memset(&ee, 0, sizeof(ee));
			fi_eq_readerr(s->eq, &ee, 0);
			return win_seterr(prov_status(ee.err), "ofi: connection "
					  "error: %s", fi_strerror(ee.err));
		}
		if (n < 0)
			return win_seterr(WIN_ERR_TRANSPORT, "ofi: fi_eq_read: "
					  "%s", fi_strerror((int)-n));
		if (event == FI_CONNREQ) {
			struct ofi_connreq *c = calloc(1, sizeof(*c));
			struct ofi_cm_param prm;

			if (!c) {
				fi_reject(s->pep, ev.e.info->handle, NULL, 0);
				fi_freeinfo(ev.e.info);
				return win_seterr(WIN_ERR_NOMEM, "ofi "
						  "connection");
			}
			memset(&prm, 0, sizeof(prm));
			if ((size_t)n >= sizeof(ev.e) + sizeof(prm))
				memcpy(&prm, ev.data, sizeof(prm));
			c->info = ev.e.info;
			c->tag = prm.tag;
			c->rank = prm.rank;
			if (c->tag != ow->tag) {
				c->next = s->early;
				s->early = c;
				continue;
			}
			rc = msg_accept(ow, c);
			fi_freeinfo(c->info);
			free(c);
		} else if (event == FI_CONNECTED) {
			for (int r = 0; r < w->size; r++) {
				struct ofi_peer *p = &ow->p[r];

				if (p->ep && &p->ep->fid == ev.e.fid &&
				    !p->connected) {
					p->connected = true;
					up++;
				}
				if (r == me && p->acc_ep &&
				    &p->acc_ep->fid == ev.e.fid) {
					up++;
				}
			}
		}
		/* FI_SHUTDOWN of earlier windows' connections: nothing to do. */
	}
	return rc;
}

/* The address vector's entry for a peer's name: 1, or an error. */
static int av_get(struct ofi_state *s, const char *name, uint32_t len,
		  fi_addr_t *addr)
{
	struct ofi_avent *e;
	int n;

	for (e = s->avs; e; e = e->next)
		if (e->len == len && !memcmp(e->name, name, len)) {
			*addr = e->addr;
			return 1;
		}
	if (len > OFI_ADDR_MAX)
		return -FI_EINVAL;
	if (!(e = calloc(1, sizeof(*e))))
		return -FI_ENOMEM;
	n = fi_av_insert(s->av, name, 1, &e->addr, 0, NULL);
	if (n != 1) {
		free(e);
		return n;
	}
	e->len = len;
	memcpy(e->name, name, len);
	e->next = s->avs;
	s->avs = e;
	*addr = e->addr;
	return 1;
}

static int ofi_win_close(struct win *w, void *tw);

/*
 * Every window op of this transport rests on remote compare-and-swap and
 * fetch-add (the control words; the emulated atomics). Before the first
 * window trusts them, each goes once to a word of this process's own
 * scratch, through the endpoint it uses for its own part: 0 -> 1 must
 * leave 1 and return 0, then + 5 must leave 6 and return 1. Some
 * providers get them wrong (libfabric 1.17's verbs provider sends the
 * operands' addresses as their values); such a provider is refused rather
 * than allowed to corrupt memory.
 */
static int native_amo(struct ofi_win *ow, int rank, int kind, int type,
		      enum fi_op fop, uint64_t raddr, uint64_t key,
		      const void *operand, const void *compare, void *result,
		      size_t count);

static int check_atomics(struct ofi_win *ow)
{
	struct ofi_state *s = ow->s;
	int me = ow->w->rank;
	/* Past the operand native_amo puts at the start of the scratch. */
	uint64_t *word = s->scratch + 8;
	uint64_t raddr = reg_addr(s, s->scratch_reg, word);
	uint64_t key = fi_mr_key(s->scratch_reg->mr);
	uint64_t one = 1, zero = 0, five = 5, old = 7;
	const char *bad = NULL;
	int rc;

	if (s->cas_checked)
		return WIN_OK;
	__atomic_store_n(word, 0, __ATOMIC_RELEASE);
	if ((rc = native_amo(ow, me, K_CMP, WIN_UINT64, FI_CSWAP, raddr, key,
			     &one, &zero, &old, 1)))
		return rc;
	if (__atomic_load_n(word, __ATOMIC_ACQUIRE) != 1 || old != 0) {
		bad = "fi_compare_atomic (0 -> 1 on a zero word)";
	} else {
		old = 7;
		if ((rc = native_amo(ow, me, K_FETCH, WIN_UINT64, FI_SUM,
				     raddr, key, &five, NULL, &old, 1)))
			return rc;
		if (__atomic_load_n(word, __ATOMIC_ACQUIRE) != 6 || old != 1)
			bad = "fi_fetch_atomic(FI_SUM) (1 + 5)";
	}
	if (bad)
		return win_seterr(WIN_ERR_TRANSPORT, "ofi (%s): the provider's "
				  "%s is wrong: the word holds %#llx, %#llx "
				  "came back; remote atomics cannot be trusted "
				  "on it", s->info->fabric_attr->prov_name, bad,
				  (unsigned long long)*word,
				  (unsigned long long)old);
	s->cas_checked = true;
	return WIN_OK;
}

static int ofi_win_open(struct win *w, void *state, const bool *serves,
			void **twp)
{
	struct ofi_state *s = state;
	struct ofi_win *ow;
	struct ofi_xchg me, *all = NULL;
	uint8_t need = 0, *needs;
	bool any = false;
	int rc;

	for (int r = 0; r < w->size; r++)
		need |= serves[r];
	needs = calloc((size_t)w->size, 1);
	ow = calloc(1, sizeof(*ow));
	if (!needs || !ow) {
		free(needs);
		free(ow);
		return win_seterr(WIN_ERR_NOMEM, "ofi window");
	}
	ow->s = s;
	ow->w = w;
	/* First, does anybody use ofi for this window? (Every member asks,
	 * so the collectives below stay matched.) */
	rc = win_group_allgather(w->group, &need, needs, 1);
	for (int r = 0; r < w->size && rc == WIN_OK; r++)
		any |= needs[r];
	free(needs);
	if (rc || !any) {
		free(ow);
		if (rc)
			return rc;
		*twp = NULL;
		return WIN_OK;
	}
	rc = ofi_up(s);
	ow->active = true;
	if (rc == WIN_OK && !(ow->p = calloc((size_t)w->size, sizeof(*ow->p))))
		rc = win_seterr(WIN_ERR_NOMEM, "ofi window");
	if (rc == WIN_OK && !(all = calloc((size_t)w->size, sizeof(*all))))
		rc = win_seterr(WIN_ERR_NOMEM, "ofi window");
	memset(&me, 0, sizeof(me));
	if (rc == WIN_OK && w->len)
		rc = reg_get(s, w->data_lib, w->len, &ow->data_reg);
	if (rc == WIN_OK)
		rc = reg_get(s, w->ctrl.addr, w->ctrl.len, &ow->ctrl_reg);
	if (rc == WIN_OK) {
		if (ow->data_reg) {
			me.data_base = reg_addr(s, ow->data_reg, w->data_lib);
			me.data_key = fi_mr_key(ow->data_reg->mr);
		}
		me.ctrl_base = reg_addr(s, ow->ctrl_reg, w->ctrl.addr);
		ow->tag = me.tag = ((uint64_t)getpid() << 32) ^
				   ++s->next_tag;
		me.ctrl_key = fi_mr_key(ow->ctrl_reg->mr);
		me.addr_len = (uint32_t)s->myaddr_len;
		memcpy(me.addr, s->myaddr, s->myaddr_len);
	}
	/* Everyone's failure is everyone's: nobody waits for a member that
	 * has given up before the exchange. */
	rc = win_agree(w->group, rc);
	if (rc == WIN_OK)
		rc = win_group_allgather(w->group, &me, all, sizeof(me));
	for (int r = 0; r < w->size && rc == WIN_OK; r++) {
		struct ofi_peer *p = &ow->p[r];
		int n;

		p->data_base = all[r].data_base;
		p->data_key = all[r].data_key;
		p->ctrl_base = all[r].ctrl_base;
		p->ctrl_key = all[r].ctrl_key;
		if (s->msg) {
			p->addr = FI_ADDR_UNSPEC;
			continue;
		}
		p->ep = s->ep;
		n = av_get(s, all[r].addr, all[r].addr_len, &p->addr);
		if (n != 1)
			rc = win_seterr(WIN_ERR_TRANSPORT, "ofi: fi_av_insert of "
					"rank %d's address: %s", r,
					fi_strerror(n < 0 ? -n : FI_EINVAL));
	}
	if (rc == WIN_OK && s->msg)
		rc = msg_connect(ow, all);
	free(all);
	if (rc == WIN_OK)
		rc = check_atomics(ow);
	rc = win_agree(w->group, rc);
	if (rc) {
		ofi_win_close(w, ow);
		return rc;
	}
	*twp = ow;
	return WIN_OK;
}

static int ofi_win_close(struct win *w, void *tw)
{
	struct ofi_win *ow = tw;

	if (!ow)
		return WIN_OK;
	if (ow->active && ow->s->up) {
		/* Let what is still in flight finish (bounded). */
		if (ow->p)
			wait_all(ow, -1, "window close");
		ring_retire(ow->s);
		for (unsigned i = ow->s->ring_tail; i != ow->s->ring_head; i++)
			if (ow->s->ring[i % OFI_BOUNCE_SLOTS]->ow == ow)
				ow->s->ring[i % OFI_BOUNCE_SLOTS]->ow = NULL;
		ofi_quiesce(ow->s);
		for (int r = 0; ow->s->msg && ow->p && r < w->size; r++) {
			struct ofi_peer *p = &ow->p[r];

			if (p->acc_ep && p->acc_ep != p->ep)
				fi_close(&p->acc_ep->fid);
			if (p->ep)
				fi_close(&p->ep->fid);
			p->ep = p->acc_ep = NULL;
		}
		if (ow->data_reg)
			reg_put(ow->s, ow->data_reg);
		if (ow->ctrl_reg)
			reg_put(ow->s, ow->ctrl_reg);
	}
	free(ow->p);
	free(ow);
	return WIN_OK;
}

/*
 * No direct load/store view, not even of our own part: peers update it
 * with provider atomics, which CPU atomics in the core would bypass. (The
 * core still answers win_shared_query for the caller's own part.)
 */
static void *ofi_direct(void *tw, int rank)
{
	return NULL;
}

/* ---- data movement ---- */

/*
 * Does [buf, buf + len) overlap a live registration without lying inside
 * it? Registering it then is not safe under ofi_rxm on verbs: with
 * libfabric's MR cache a buffer reaching past a live registration of the
 * same start (a put of 200 bytes from where one of 8 is in flight) failed
 * with FI_ENOKEY.
 */
static bool reg_conflict(struct ofi_state *s, const void *buf, size_t len)
{
	uintptr_t a = (uintptr_t)buf;
	bool overlap = false;

	for (struct ofi_reg *r = s->regs; r; r = r->next) {
		if (reg_contains(r, a, len))
			return false; /* shared, see reg_get */
		if (a < r->base + r->len && r->base < a + len)
			overlap = true;
	}
	return overlap;
}

/* local_desc: the buffer goes through the staging buffer instead. */
#define OFI_STAGED 1

/*
 * The descriptor of an operation's local buffer under FI_MR_LOCAL, with
 * the buffer registered (or shared) for as long as the operation lives.
 * OFI_STAGED when it must go through s->stage instead: it conflicts
 * with a live registration (reg_conflict), or its registration failed
 * (under ofi_rxm/verbs, libfabric's MR cache refused fresh memory too,
 * with FI_ENOKEY, next to registrations it had cached).
 */
static int local_desc(struct ofi_state *s, struct ofi_op *op, void *buf,
		      size_t len, void **desc)
{
	int rc;

	*desc = NULL;
	if (!(s->mr_mode & FI_MR_LOCAL) || !len)
		return WIN_OK;
	if (s->stage && reg_conflict(s, buf, len))
		return OFI_STAGED;
	if ((rc = reg_get(s, buf, len, &op->lreg)))
		return s->stage ? OFI_STAGED : rc;
	*desc = fi_mr_desc(op->lreg->mr);
	return WIN_OK;
}

static inline uint64_t data_addr(struct ofi_peer *p, size_t off)
{
	return p->data_base + off;
}

/* The flags for writes: delivery-complete when flush relies on it. */
static inline uint64_t write_flags(struct ofi_state *s)
{
	return s->raw_order ? 0 : FI_DELIVERY_COMPLETE;
}

/* A write the provider copies at once and never completes to us: small
 * enough, needing no local descriptor, and proved delivered by flush's
 * read (which cannot pass it: raw ordering). */
static inline bool injectable(const struct ofi_state *s, size_t len)
{
	return len <= s->inject && s->raw_order && !(s->mr_mode & FI_MR_LOCAL);
}

static inline int post_inject(struct ofi_win *ow, int rank, const void *buf,
			      size_t len, uint64_t raddr, uint64_t key)
{
	struct ofi_peer *p = &ow->p[rank];

	p->dirty = true;
	return OFI_POST(ow, rank, "put",
			fi_inject_write(p->ep, buf, len, p->addr, raddr, key));
}

/* Post one contiguous write or read of at most max_msg bytes. */
static int post_rw(struct ofi_win *ow, int rank, void *buf, size_t len,
		   uint64_t raddr, uint64_t key, bool write, struct ofi_op **opp)
{
	struct ofi_state *s = ow->s;
	struct ofi_peer *p = &ow->p[rank];
	struct ofi_op *op;
	void *desc;
	int rc;

	*opp = NULL;
	if (write && injectable(s, len))
		return post_inject(ow, rank, buf, len, raddr, key);
	if (!(op = op_get(s)))
		return WIN_ERR_NOMEM;
	if ((rc = local_desc(s, op, buf, len, &desc))) {
		op_put(s, op);
		return rc;
	}
	if (write) {
		struct iovec iov = { buf, len };
		struct fi_rma_iov riov = { raddr, len, key };
		struct fi_msg_rma msg = { .msg_iov = &iov, .desc = &desc,
					  .iov_count = 1, .addr = p->addr,
					  .rma_iov = &riov, .rma_iov_count = 1,
					  .context = op };
		uint64_t fl = FI_COMPLETION | write_flags(s);

		if (len <= s->inject)
			fl |= FI_INJECT;
		rc = OFI_POST(ow, rank, "put", fi_writemsg(p->ep, &msg, fl));
		p->dirty = true;
	} else {
		rc = OFI_POST(ow, rank, "get",
			      fi_read(p->ep, buf, len, desc, p->addr, raddr,
				      key, op));
	}
	if (rc) {
		op_put(s, op);
		return rc;
	}
	s->issued++;
	*opp = op;
	return WIN_OK;
}

/* The ring's next slot, once the put that used it last has finished. */
static int ring_slot(struct ofi_win *ow, char **slot)
{
	struct ofi_state *s = ow->s;
	int rc;

	ring_retire(s);
	if (s->ring_head - s->ring_tail == OFI_BOUNCE_SLOTS) {
		struct ofi_op *old = s->ring[s->ring_tail % OFI_BOUNCE_SLOTS];

		if ((rc = wait_done(old->ow ? old->ow : ow, old,
				    old->ow ? old->rank : -1, "put")))
			return rc;
		ring_retire(s);
	}
	*slot = s->bounce +
		(size_t)(s->ring_head % OFI_BOUNCE_SLOTS) * OFI_BOUNCE_SLOT;
	return WIN_OK;
}

/* Report (once) a failed put of the ring to `rank` (-1: to any). */
static int put_failed(struct ofi_win *ow, int rank)
{
	if (!ow->put_err || (rank >= 0 && rank != ow->put_err_rank))
		return WIN_OK;
	ow->put_err = WIN_OK;
	return op_error(ow, ow->put_err_rank, "put", ow->put_err,
			ow->put_prov_err);
}

/* A put or get of window offset `off` through s->stage (OFI_STAGED),
 * a piece at a time, each waited for. */
static int staged_rw(struct ofi_win *ow, int rank, char *buf, size_t len,
		     size_t off, bool write)
{
	struct ofi_state *s = ow->s;
	struct ofi_peer *p = &ow->p[rank];
	int rc = WIN_OK;

	for (size_t done = 0, n; done < len && rc == WIN_OK; done += n) {
		struct ofi_op *op;

		n = len - done < OFI_STAGE ? len - done : OFI_STAGE;
		if (n > s->max_msg)
			n = s->max_msg;
		if (write)
			memcpy(s->stage, buf + done, n);
		rc = post_rw(ow, rank, s->stage, n, data_addr(p, off + done),
			     p->data_key, write, &op);
		if (rc == WIN_OK && op)
			rc = op_wait(ow, op, rank, write ? "put" : "get");
		if (rc == WIN_OK && !write)
			memcpy(buf + done, s->stage, n);
	}
	return rc;
}

static int ofi_rw(struct ofi_win *ow, int rank, void *buf, size_t len,
		  size_t off, bool write, struct win_req *req)
{
	struct ofi_state *s = ow->s;
	struct ofi_peer *p = &ow->p[rank];
	const char *what = write ? "put" : "get";
	int rc = WIN_OK;

	if (!len)
		return WIN_OK;
	/* Blocking puts the provider would not take as injects go
	 * through the ring (see OFI_BOUNCE_SLOT). */
	if (write && !req && s->bounce && len <= OFI_BOUNCE_SLOT &&
	    len <= s->max_msg &&
	    (len > s->inject || (s->mr_mode & FI_MR_LOCAL))) {
		struct ofi_op *op;
		char *slot;

		if ((rc = ring_slot(ow, &slot)))
			return rc;
		memcpy(slot, buf, len);
		if ((rc = post_rw(ow, rank, slot, len, data_addr(p, off),
				  p->data_key, true, &op)))
			return rc;
		op->ow = ow;
		op->rank = rank;
		s->ring[s->ring_head++ % OFI_BOUNCE_SLOTS] = op;
		return WIN_OK;
	}
	for (size_t done = 0; done < len && rc == WIN_OK;) {
		size_t n = len - done < s->max_msg ? len - done : s->max_msg;
		struct ofi_op *op;

		rc = post_rw(ow, rank, (char *)buf + done, n,
			     data_addr(p, off + done), p->data_key, write, &op);
		if (rc == OFI_STAGED)
			rc = staged_rw(ow, rank, (char *)buf + done, n,
				       off + done, write);
		else if (rc == WIN_OK && op) {
			/* A request keeps the last piece; completions
			 * need not come in order, so every earlier
			 * piece is waited for here. */
			if (req && done + n == len) {
				req->tp_data[0] = (uintptr_t)op;
				req->tp_data[1] = (uint64_t)rank;
				req->done = 0;
			} else {
				rc = op_wait(ow, op, rank, what);
			}
		}
		done += n;
	}
	return rc;
}

static int ofi_put(void *tw, int rank, const void *src, size_t len,
		   size_t off, struct win_req *req)
{
	struct ofi_win *ow = tw;

	/* The common small blocking put, without the general path. */
	if (!req && len && injectable(ow->s, len))
		return post_inject(ow, rank, src, len,
				   data_addr(&ow->p[rank], off),
				   ow->p[rank].data_key);
	return ofi_rw(tw, rank, (void *)src, len, off, true, req);
}

static int ofi_get(void *tw, int rank, void *dst, size_t len, size_t off,
		   struct win_req *req)
{
	return ofi_rw(tw, rank, dst, len, off, false, req);
}

static int ofi_req_progress(void *tw, struct win_req *req, int *done)
{
	struct ofi_win *ow = tw;
	struct ofi_op *op = (struct ofi_op *)(uintptr_t)req->tp_data[0];
	int rank = (int)req->tp_data[1];

	*done = 0;
	if (!op) {
		*done = 1;
		return WIN_OK;
	}
	if (!__atomic_load_n(&op->state, __ATOMIC_ACQUIRE)) {
		ofi_poll(ow->s);
		if (!__atomic_load_n(&op->state, __ATOMIC_ACQUIRE)) {
			/* Bound the wait: req_wait loops on this. */
			if (!req->tp_data[2])
				req->tp_data[2] = win_now_ms() +
					(uint64_t)ow->w->ctx->timeout_ms;
			else if (win_now_ms() > req->tp_data[2])
				return win_seterr(WIN_ERR_TIMEOUT, "ofi request "
						  "on rank %d: no completion "
						  "in %d ms", rank,
						  ow->w->ctx->timeout_ms);
			if (win_group_check_peers(ow->w->group))
				return win_seterr(WIN_ERR_PEER, "ofi request on "
						  "rank %d: %s", rank,
						  win_last_error());
			return WIN_OK;
		}
	}
	req->tp_data[0] = 0;
	*done = 1;
	return op_wait(ow, op, rank, "request");
}

/* Vectors: fi_writemsg/fi_readmsg, one target span per message with up
 * to iov_limit local pieces. */
static int ofi_vector(struct ofi_win *ow, int rank, const struct iovec *iov,
		      int iovcnt, const struct win_span *spans, int nspans,
		      bool write)
{
	struct ofi_state *s = ow->s;
	struct ofi_peer *p = &ow->p[rank];
	const char *what = write ? "putv" : "getv";
	size_t io = 0;
	int i = 0, rc = WIN_OK;
	/* FI_MR_LOCAL: one registered piece per message. */
	size_t lim = (s->mr_mode & FI_MR_LOCAL) ? 1 : s->iov_limit;
	struct ofi_op *ops[64];
	int nops = 0;

	for (int sp = 0; sp < nspans && rc == WIN_OK; sp++) {
		size_t so = 0;

		while (so < spans[sp].len && rc == WIN_OK) {
			struct iovec liov[16];
			void *desc[16] = { 0 };
			size_t nl = 0, bytes = 0;
			size_t want = spans[sp].len - so;
			struct ofi_op *op;

			if (want > s->max_msg)
				want = s->max_msg;
			while (bytes < want && nl < lim && i < iovcnt) {
				size_t n = iov[i].iov_len - io;

				if (n > want - bytes)
					n = want - bytes;
				liov[nl].iov_base = (char *)iov[i].iov_base + io;
				liov[nl++].iov_len = n;
				bytes += n;
				io += n;
				if (io == iov[i].iov_len) {
					i++;
					io = 0;
				}
			}
			if (!bytes) {
				while (i < iovcnt && iov[i].iov_len == 0)
					i++;
				if (i >= iovcnt)
					break;
				continue;
			}
			if (!(op = op_get(s))) {
				rc = WIN_ERR_NOMEM;
				break;
			}
			if (s->mr_mode & FI_MR_LOCAL) {
				rc = local_desc(s, op, liov[0].iov_base,
						liov[0].iov_len, &desc[0]);
				if (rc == OFI_STAGED) {
					op_put(s, op);
					rc = staged_rw(ow, rank,
						       liov[0].iov_base, bytes,
						       spans[sp].off + so, write);
					so += bytes;
					continue;
				}
				if (rc) {
					op_put(s, op);
					break;
				}
			}
			struct fi_rma_iov riov = {
				data_addr(p, spans[sp].off + so), bytes,
				p->data_key };
			struct fi_msg_rma msg = {
				.msg_iov = liov, .desc = desc,
				.iov_count = nl, .addr = p->addr,
				.rma_iov = &riov, .rma_iov_count = 1,
				.context = op };

			if (write) {
				rc = OFI_POST(ow, rank, what,
					      fi_writemsg(p->ep, &msg,
							  FI_COMPLETION |
							  write_flags(s)));
				p->dirty = true;
			} else {
				rc = OFI_POST(ow, rank, what,
					      fi_readmsg(p->ep, &msg,
							 FI_COMPLETION));
			}
			if (rc) {
				op_put(s, op);
				break;
			}
			s->issued++;
			so += bytes;
			ops[nops++] = op;
			if (nops == 64) {
				for (int k = 0; k < nops && rc == WIN_OK; k++)
					rc = op_wait(ow, ops[k], rank, what);
				nops = 0;
			}
		}
	}
	for (int k = 0; k < nops; k++) {
		int r2 = op_wait(ow, ops[k], rank, what);

		if (rc == WIN_OK)
			rc = r2;
	}
	return rc;
}

static int ofi_putv(void *tw, int rank, const struct iovec *iov, int iovcnt,
		    const struct win_span *spans, int nspans)
{
	return ofi_vector(tw, rank, iov, iovcnt, spans, nspans, true);
}

static int ofi_getv(void *tw, int rank, const struct iovec *iov, int iovcnt,
		    const struct win_span *spans, int nspans)
{
	return ofi_vector(tw, rank, iov, iovcnt, spans, nspans, false);
}

/* ---- atomics ---- */

/*
 * One native atomic on `count` elements at raddr: operands and results go
 * through the registered scratch (so FI_MR_LOCAL needs nothing more).
 */
static int native_amo(struct ofi_win *ow, int rank, int kind, int type,
		      enum fi_op fop, uint64_t raddr, uint64_t key,
		      const void *operand, const void *compare, void *result,
		      size_t count)
{
	struct ofi_state *s = ow->s;
	struct ofi_peer *p = &ow->p[rank];
	size_t tsize = win_type_bytes(type);
	char *buf = (char *)s->scratch;       /* operand: first third */
	char *cmp = buf + s->scratch_len / 3; /* compare */
	char *res = buf + 2 * (s->scratch_len / 3); /* result */
	void *d = s->scratch_desc;
	struct ofi_op *op;
	int rc;

	if (operand)
		memcpy(buf, operand, count * tsize);
	else
		memset(buf, 0, count * tsize);
	if (!(op = op_get(s)))
		return WIN_ERR_NOMEM;
	switch (kind) {
	case K_ATOMIC:
		rc = OFI_POST(ow, rank, "atomic",
			      fi_atomic(p->ep, buf, count, d, p->addr, raddr,
					key, fi_types[type], fop, op));
		break;
	case K_FETCH:
		rc = OFI_POST(ow, rank, "atomic",
			      fi_fetch_atomic(p->ep, buf, count, d, res, d,
					      p->addr, raddr, key,
					      fi_types[type], fop, op));
		break;
	default:
		memcpy(cmp, compare, count * tsize);
		rc = OFI_POST(ow, rank, "atomic",
			      fi_compare_atomic(p->ep, buf, count, d, cmp, d,
						res, d, p->addr, raddr, key,
						fi_types[type], FI_CSWAP, op));
		break;
	}
	if (rc) {
		op_put(s, op);
		return rc;
	}
	s->issued++;
	if (kind == K_ATOMIC)
		p->dirty = true;
	if ((rc = op_wait(ow, op, rank, "atomic")))
		return rc;
	if (result && kind != K_ATOMIC)
		memcpy(result, res, count * tsize);
	return WIN_OK;
}

/* Integer type of the same width, for compare-and-swap loops. */
static int cas_type(int type)
{
	return win_type_bytes(type) == 4 ? WIN_UINT32 : WIN_UINT64;
}

/*
 * Elements [first, first+n) of `a` by compare-and-swap loops, pipelined:
 * the reads of all n elements are in flight together, then the
 * compare-and-swaps of those that need one, again and again for the
 * elements whose swap lost a race. Each element is still updated by its
 * own atomic read and compare-and-swap; only the waiting is shared, so a
 * vector costs a few round trips instead of two per element (on shm each
 * one needs a pass of the target's progress).
 */
static int emulated_batch(struct ofi_win *ow, int rank,
			  const struct win_amo *a, size_t first, size_t n)
{
	struct ofi_state *s = ow->s;
	struct ofi_peer *p = &ow->p[rank];
	size_t tsize = win_type_bytes(a->type);
	int ct = cas_type(a->type);
	uint64_t *opnd = s->emu, *cmp = opnd + OFI_EMU_BATCH,
		 *res = cmp + OFI_EMU_BATCH, *old = res + OFI_EMU_BATCH;
	void *d = s->emu_desc;
	struct ofi_op *ops[OFI_EMU_BATCH];
	uint8_t pend[OFI_EMU_BATCH];
	size_t npend = n;
	int rc = WIN_OK;

	for (size_t k = 0; k < n; k++) {
		opnd[k] = 0;
		pend[k] = 1;
	}
	/* Round 0 reads; later rounds swap. */
	for (unsigned round = 0; npend && rc == WIN_OK; round++) {
		size_t posted = 0;

		if (round > 1000000)
			return win_seterr(WIN_ERR_TIMEOUT, "ofi: emulated "
					  "atomic on rank %d never won its "
					  "compare-and-swaps", rank);
		for (size_t k = 0; k < n && rc == WIN_OK; k++) {
			uint64_t raddr = data_addr(p, a->off +
						   (first + k) * tsize);

			ops[k] = NULL;
			if (!pend[k])
				continue;
			if (round > 0) {
				uint64_t nv = 0;

				if (!win_amo_compute(a, first + k, &old[k],
						     &nv)) {
					/* Nothing to store: the read
					 * value is the result. */
					res[k] = old[k];
					pend[k] = 0;
					npend--;
					continue;
				}
				memcpy(&opnd[k], &nv, sizeof(nv));
				cmp[k] = old[k];
			}
			if (!(ops[k] = op_get(s))) {
				rc = WIN_ERR_NOMEM;
				break;
			}
			res[k] = 0;
			if (round == 0)
				rc = OFI_POST(ow, rank, "atomic",
					      fi_fetch_atomic(p->ep, &opnd[k], 1,
						      d, &res[k], d, p->addr,
						      raddr, p->data_key,
						      fi_types[ct],
						      FI_ATOMIC_READ, ops[k]));
			else
				rc = OFI_POST(ow, rank, "atomic",
					      fi_compare_atomic(p->ep, &opnd[k],
						      1, d, &cmp[k], d, &res[k],
						      d, p->addr, raddr,
						      p->data_key, fi_types[ct],
						      FI_CSWAP, ops[k]));
			if (rc) {
				op_put(s, ops[k]);
				ops[k] = NULL;
				break;
			}
			s->issued++;
			posted++;
		}
		/* Collect every posted operation, even after a failure. */
		for (size_t k = 0; k < n; k++) {
			int r2;

			if (!ops[k])
				continue;
			r2 = op_wait(ow, ops[k], rank, "atomic");
			if (rc == WIN_OK)
				rc = r2;
			if (r2)
				continue;
			if (round == 0) {
				old[k] = res[k];
			} else if (memcmp(&res[k], &cmp[k], tsize) == 0) {
				res[k] = cmp[k]; /* swapped: old value */
				pend[k] = 0;
				npend--;
			} else {
				old[k] = res[k]; /* lost a race: again */
			}
		}
		(void)posted;
	}
	if (rc == WIN_OK && a->result)
		for (size_t k = 0; k < n; k++)
			memcpy((char *)a->result + (first + k) * tsize, &res[k],
			       tsize);
	return rc;
}

/* Element `i` of `a` by a compare-and-swap loop on its bits. */
static int emulated_elem(struct ofi_win *ow, int rank, const struct win_amo *a,
			 size_t i)
{
	struct ofi_peer *p = &ow->p[rank];
	size_t tsize = win_type_bytes(a->type);
	uint64_t raddr = data_addr(p, a->off + i * tsize);
	int ct = cas_type(a->type);
	uint64_t old = 0, nv = 0, seen = 0;
	int rc;

	if (!ow->s->native[ct][0][K_CMP])
		return win_seterr(WIN_ERR_UNSUPPORTED, "ofi: the provider has "
				  "neither this atomic nor a %zu-byte "
				  "compare-and-swap", tsize);
	/* Start from an atomic read of the element. */
	rc = native_amo(ow, rank, K_FETCH, ct, FI_ATOMIC_READ, raddr,
			p->data_key, NULL, NULL, &old, 1);
	if (rc)
		return rc;
	for (unsigned tries = 0;; tries++) {
		bool write = win_amo_compute(a, i, &old, &nv);

		if (!write) {
			/* Nothing to store (NO_OP, failed compare, or no
			 * change): the read value is the result. */
			seen = old;
			break;
		}
		rc = native_amo(ow, rank, K_CMP, ct, FI_CSWAP, raddr,
				p->data_key, &nv, &old, &seen, 1);
		if (rc)
			return rc;
		if (memcmp(&seen, &old, tsize) == 0)
			break;
		old = seen;
		if (tries > 1000000)
			return win_seterr(WIN_ERR_TIMEOUT, "ofi: emulated "
					  "atomic on rank %d never won its "
					  "compare-and-swap", rank);
	}
	if (a->result)
		memcpy((char *)a->result + i * tsize, &seen, tsize);
	return WIN_OK;
}

static int ofi_amo(void *tw, int rank, const struct win_amo *a)
{
	struct ofi_win *ow = tw;
	struct ofi_state *s = ow->s;
	struct ofi_peer *p = &ow->p[rank];
	size_t tsize = win_type_bytes(a->type);
	size_t max = (s->scratch_len / 3) / tsize;
	int kind, o = a->op;
	int rc = WIN_OK;

	if (a->op == WIN_AMO_CSWAP) {
		kind = K_CMP;
		o = 0;
	} else if (a->result || a->op == WIN_OP_NO_OP) {
		kind = K_FETCH;
	} else {
		/* Accumulate: the fetching form, so its completion means
		 * the target has applied it (remote completion). */
		kind = amo_native(s, a->type, o, K_FETCH) ? K_FETCH :
							     K_ATOMIC;
	}
	if (a->op == WIN_OP_NO_OP && !a->result)
		return WIN_OK;
	if (a->op == WIN_OP_NO_OP && rank == ow->w->rank && ow->w->data_lib &&
	    (tsize == 4 || tsize == 8)) {
		/*
		 * An atomic read of our own part (signal waits poll this):
		 * the provider applies its peers' atomics to this memory in
		 * this process, so aligned loads see them whole, as for our
		 * own control words; drive progress so it applies them.
		 */
		const char *src = (const char *)ow->w->data_lib + a->off;

		ofi_poll(s);
		for (size_t i = 0; i < a->count; i++) {
			if (tsize == 8) {
				uint64_t v = __atomic_load_n(
					(const uint64_t *)src + i,
					__ATOMIC_SEQ_CST);
				memcpy((char *)a->result + i * 8, &v, 8);
			} else {
				uint32_t v = __atomic_load_n(
					(const uint32_t *)src + i,
					__ATOMIC_SEQ_CST);
				memcpy((char *)a->result + i * 4, &v, 4);
			}
		}
		return WIN_OK;
	}
	if (!amo_native(s, a->type, o, kind)) {
		int ct = cas_type(a->type);

		if (!s->native[ct][0][K_CMP] ||
		    !s->native[ct][WIN_OP_NO_OP][K_FETCH] || !s->emu) {
			for (size_t i = 0; i < a->count && rc == WIN_OK; i++)
				rc = emulated_elem(ow, rank, a, i);
			return rc;
		}
		for (size_t i = 0; i < a->count && rc == WIN_OK;
		     i += OFI_EMU_BATCH)
			rc = emulated_batch(ow, rank, a, i,
					    a->count - i < OFI_EMU_BATCH ?
					    a->count - i : OFI_EMU_BATCH);
		return rc;
	}
	if (s->native_count[a->type][o][kind] < max)
		max = s->native_count[a->type][o][kind];
	for (size_t done = 0; done < a->count && rc == WIN_OK;) {
		size_t n = a->count - done < max ? a->count - done : max;
		const char *opnd = a->operand ?
				   (const char *)a->operand + done * tsize :
				   NULL;
		const char *cmp = a->compare ?
				  (const char *)a->compare + done * tsize :
				  NULL;
		char *res = a->result ? (char *)a->result + done * tsize :
					NULL;

		rc = native_amo(ow, rank, kind, a->type,
				kind == K_CMP ? FI_CSWAP : fi_ops[o],
				data_addr(p, a->off + done * tsize),
				p->data_key, opnd, cmp, res, n);
		done += n;
	}
	return rc;
}

static int ofi_flush(void *tw, int rank);

static int ofi_put_signal(void *tw, int rank, const void *src, size_t len,
			  size_t off, size_t sig_off, uint64_t value,
			  int sig_op)
{
	struct ofi_win *ow = tw;
	struct ofi_peer *p = &ow->p[rank];
	uint64_t old;
	int rc = ofi_put(tw, rank, src, len, off, NULL);

	/* The data is remotely complete before the signal is applied. */
	if (rc == WIN_OK)
		rc = ofi_flush(tw, rank);
	if (rc)
		return rc;
	return native_amo(ow, rank, K_FETCH, WIN_UINT64,
			  sig_op == WIN_SIGNAL_ADD ? FI_SUM : FI_ATOMIC_WRITE,
			  data_addr(p, sig_off), p->data_key, &value, NULL,
			  &old, 1);
}

/* Remote completion of the writes issued to one target. */
static int flush_one(struct ofi_win *ow, int rank, struct ofi_op **opp)
{
	struct ofi_state *s = ow->s;
	struct ofi_peer *p = &ow->p[rank];
	struct ofi_op *op;
	int rc;

	*opp = NULL;
	if (!p->dirty || !s->raw_order)
		return WIN_OK;
	/* The read cannot pass the writes before it (FI_ORDER_RMA_RAW),
	 * so its completion says they are all visible at the target. */
	if (!(op = op_get(s)))
		return WIN_ERR_NOMEM;
	rc = OFI_POST(ow, rank, "flush",
		      fi_read(p->ep, (char *)s->scratch + s->scratch_len - 8,
			      8, s->scratch_desc, p->addr, p->ctrl_base,
			      p->ctrl_key, op));
	if (rc) {
		op_put(s, op);
		return rc;
	}
	s->issued++;
	p->dirty = false;
	*opp = op;
	return WIN_OK;
}

static int ofi_flush(void *tw, int rank)
{
	struct ofi_win *ow = tw;
	int rc = WIN_OK;

	if (!ow || !ow->active)
		return WIN_OK;
	/* Nothing written to `rank` since its last flush, nothing in
	 * flight: the common flush after blocking calls. */
	if (rank >= 0 && !ow->p[rank].dirty &&
	    __atomic_load_n(&ow->s->completed, __ATOMIC_ACQUIRE) ==
	    ow->s->issued)
		return WIN_OK;
	if (rank >= 0) {
		struct ofi_op *op;

		rc = flush_one(ow, rank, &op);
		if (rc == WIN_OK && op)
			rc = op_wait(ow, op, rank, "flush");
	} else {
		for (int r = 0; r < ow->w->size && rc == WIN_OK; r++) {
			struct ofi_op *op;

			if (ow->w->peers[r].tw != ow)
				continue;
			rc = flush_one(ow, r, &op);
			if (rc == WIN_OK && op)
				rc = op_wait(ow, op, r, "flush");
		}
	}
	/* With delivery-complete writes, their completions are the proof. */
	if (rc == WIN_OK)
		rc = wait_all(ow, rank, "flush");
	ring_retire(ow->s);
	if (rc == WIN_OK)
		rc = put_failed(ow, rank);
	return rc;
}

/* ---- control words ---- */

static inline uint64_t ctrl_addr(struct ofi_peer *p, unsigned word)
{
	return p->ctrl_base + (uint64_t)word * 8;
}

static int ofi_ctrl_fadd(void *tw, int rank, unsigned word, uint64_t add,
			 uint64_t *old)
{
	struct ofi_win *ow = tw;
	struct ofi_peer *p = &ow->p[rank];
	uint64_t v;
	int rc = native_amo(ow, rank, K_FETCH, WIN_UINT64, FI_SUM,
			    ctrl_addr(p, word), p->ctrl_key, &add, NULL,
			    old ? old : &v, 1);

	/*
	 * A notification (post, complete, doorbell, unlock: no old value
	 * wanted) to a member that has died has nobody left to observe it,
	 * as over shared memory; the waits that depend on that member
	 * report its death themselves.
	 */
	if (rc == WIN_ERR_PEER && !old && rank_dead(ow, rank)) {
		win_log(ow->w->ctx, WIN_LOG_INFO, "ofi: notification to dead "
			"rank %d dropped", rank);
		return WIN_OK;
	}
	return rc;
}

static int ofi_ctrl_cas(void *tw, int rank, unsigned word, uint64_t cmp,
			uint64_t swp, uint64_t *old)
{
	struct ofi_win *ow = tw;
	struct ofi_peer *p = &ow->p[rank];

	return native_amo(ow, rank, K_CMP, WIN_UINT64, FI_CSWAP,
			  ctrl_addr(p, word), p->ctrl_key, &swp, &cmp, old, 1);
}

static int ofi_ctrl_read(void *tw, int rank, unsigned word, uint64_t *val)
{
	struct ofi_win *ow = tw;
	struct ofi_peer *p = &ow->p[rank];

	if (rank == ow->w->rank) {
		/* Our own word: an aligned load sees every update the
		 * provider has applied; drive progress so it applies them. */
		ofi_poll(ow->s);
		*val = __atomic_load_n(win_ctrl_word(ow->w, word),
				       __ATOMIC_SEQ_CST);
		return WIN_OK;
	}
	if (ow->s->native[WIN_UINT64][WIN_OP_NO_OP][K_FETCH])
		return native_amo(ow, rank, K_FETCH, WIN_UINT64, FI_ATOMIC_READ,
				  ctrl_addr(p, word), p->ctrl_key, NULL, NULL,
				  val, 1);
	/* No atomic read: fetch-add of zero. */
	return ofi_ctrl_fadd(tw, rank, word, 0, val);
}

/* Poll the word with backoff: nothing here needs the target's CPU. */
static int ofi_ctrl_wait(void *tw, int rank, unsigned word, uint64_t seen,
			 int timeout_ms)
{
	uint64_t end = win_now_ms() + (uint64_t)timeout_ms;
	long ns = 2000;

	for (;;) {
		uint64_t v;
		struct timespec ts;

		if (ofi_ctrl_read(tw, rank, word, &v) || v != seen)
			return WIN_OK;
		if (win_now_ms() >= end)
			return WIN_OK;
		ts.tv_sec = 0;
		ts.tv_nsec = ns;
		nanosleep(&ts, NULL);
		if (ns < 1000000)
			ns *= 2;
	}
}

static int ofi_ctrl_wake(void *tw, int rank, unsigned word)
{
	/* Waiters poll. */
	return WIN_OK;
}

static const char *progress_name(enum fi_progress p)
{
	switch (p) {
	case FI_PROGRESS_AUTO:
		return "auto";
	case FI_PROGRESS_MANUAL:
		return "manual";
	default:
		return "unspecified";
	}
}

static void ofi_describe(void *state, FILE *out)
{
	struct ofi_state *s = state;
	struct fi_info *i;
	uint64_t mr;
	bool raw;
	static const char *const tn[] = { "", "int32", "int64", "uint32",
					   "uint64", "float", "double" };
	char buf[512];
	int k = 0;

	/* wininfo wants the atomics table: open the endpoint for it. */
	if (!s->up && ofi_up(s))
		fprintf(out, "  endpoint error: %s\n", win_last_error());
	if (!(i = s->info))
		return;
	mr = i->domain_attr->mr_mode;
	raw = (i->tx_attr->msg_order & FI_ORDER_RMA_RAW) &&
	      (i->tx_attr->msg_order & FI_ORDER_ATOMIC_RAW);
	fprintf(out, "  provider: %s (fabric %s, domain %s)\n",
		i->fabric_attr->prov_name, i->fabric_attr->name,
		i->domain_attr->name);
	fprintf(out, "  endpoint: %s\n",
		i->ep_attr->type == FI_EP_RDM ? "FI_EP_RDM" :
		i->ep_attr->type == FI_EP_MSG ? "FI_EP_MSG" : "other");
	buf[0] = 0;
	if (mr & FI_MR_VIRT_ADDR)
		k += snprintf(buf + k, sizeof(buf) - k, " virt_addr");
	if (mr & FI_MR_PROV_KEY)
		k += snprintf(buf + k, sizeof(buf) - k, " prov_key");
	if (mr & FI_MR_LOCAL)
		k += snprintf(buf + k, sizeof(buf) - k, " local");
	if (mr & FI_MR_ENDPOINT)
		k += snprintf(buf + k, sizeof(buf) - k, " endpoint");
	if (mr & FI_MR_ALLOCATED)
		k += snprintf(buf + k, sizeof(buf) - k, " allocated");
	fprintf(out, "  mr mode:%s\n", k ? buf : " none (offsets, "
		"requested keys)");
	fprintf(out, "  progress: data %s%s, control %s\n",
		progress_name(i->domain_attr->data_progress),
		i->domain_attr->data_progress == FI_PROGRESS_MANUAL ?
		" (driven by the library: a progress thread, and every wait)" :
		"", progress_name(i->domain_attr->control_progress));
	if (s->up && s->manual) {
		fprintf(out, "  progress thread: %s, ", s->cq_waitable ?
			"sleeps in fi_cq_sread (fd wait object)" :
			s->rcntr ? "polls with backoff (no fd wait object), "
			"kept polling by peers' operations (FI_RMA_EVENT "
			"counter)" :
			"polls with backoff (no fd wait object)");
		fprintf(out, "%s\n", s->thr_pin ? "on the waiting caller's "
			"CPU while callers wait, else on any of the process's "
			"(WIN_OFI_PROGRESS_PIN=0: always on any)" :
			s->cq_waitable ? "on any of the process's CPUs" :
			"on any of the process's CPUs (a polling thread is "
			"never held to the caller's)");
	}
	fprintf(out, "  address: %s\n", s->up ? s->addr_str :
		"loopback (endpoint opened by the first window)");
	fprintf(out, "  put/get: native (fi_write/fi_read; vectors "
		"fi_writemsg/fi_readmsg)\n");
	if (s->up && s->bounce)
		fprintf(out, "  blocking puts: up to %d KiB copied into a ring "
			"of %d registered slots and left in flight "
			"(WIN_OFI_BOUNCE=0: each waits for its completion)\n",
			OFI_BOUNCE_SLOT / 1024, OFI_BOUNCE_SLOTS);
	else if (s->up)
		fprintf(out, "  blocking puts: each waits for its completion "
			"(%s)\n", raw ? "WIN_OFI_BOUNCE=0" : "writes are not "
			"ordered before later reads");
	if (s->up && (s->mr_mode & FI_MR_LOCAL))
		fprintf(out, "  local buffers (FI_MR_LOCAL): registered for "
			"each operation, or shared with a live registration "
			"that contains them; %s\n", s->stage ? "one that "
			"overlaps a live registration, or that the provider "
			"refuses, goes through a registered staging buffer "
			"64 KiB at a time" : "no staging buffer: one that "
			"the provider refuses fails");
	fprintf(out, "  flush: %s\n", raw ?
		"trailing fi_read after the writes (FI_ORDER_RMA_RAW)" :
		"writes issued with FI_DELIVERY_COMPLETE");
	if (!s->up) {
		fprintf(out, "  atomics: queried with fi_query_atomic when "
			"the first window opens\n");
	} else {
		for (int t = 1; t < OFI_NTYPES; t++) {
			int nat = 0, emu = 0;

			for (int o = 1; o < OFI_NOPS; o++) {
				if (!win_amo_valid(t, o))
					continue;
				if (amo_native(s, t, o, K_FETCH))
					nat++;
				else
					emu++;
			}
			fprintf(out, "  atomics %s: %d ops native, %d emulated "
				"(compare-and-swap loop); compare-swap %s\n",
				tn[t], nat, emu, amo_native(s, t, 0, K_CMP) ?
				"native" : s->native[cas_type(t)][0][K_CMP] ?
				"emulated (loop)" : "unavailable");
		}
		if (s->emulate)
			fprintf(out, "  atomics forced to compare-and-swap "
				"loops (WIN_OFI_EMULATE_ATOMICS)\n");
	}
	fprintf(out, "  locks/pscw/signals: native remote atomics on the "
		"control block; waits poll with backoff\n");
}

const struct win_transport win_ofi_transport = {
	.name = "ofi",
	.open = ofi_open,
	.close = ofi_close_ctx,
	.reaches = ofi_reaches,
	.win_open = ofi_win_open,
	.win_close = ofi_win_close,
	.direct = ofi_direct,
	.put = ofi_put,
	.get = ofi_get,
	.putv = ofi_putv,
	.getv = ofi_getv,
	.amo = ofi_amo,
	.put_signal = ofi_put_signal,
	.flush = ofi_flush,
	.req_progress = ofi_req_progress,
	.ctrl_fadd = ofi_ctrl_fadd,
	.ctrl_cas = ofi_ctrl_cas,
	.ctrl_read = ofi_ctrl_read,
	.ctrl_wait = ofi_ctrl_wait,
	.ctrl_wake = ofi_ctrl_wake,
	.describe = ofi_describe,
};
