/*
 * The verbs transport: RDMA over rdma-core's libibverbs (InfiniBand, RoCE,
 * Soft-RoCE).
 *
 * Device and port: the first device with an active port, unless
 * WIN_VERBS_DEVICE (device name) and WIN_VERBS_PORT say otherwise. On an
 * Ethernet link layer (RoCE) the GID is WIN_VERBS_GID_INDEX, or else the
 * best entry of the port's GID table: RoCE v2 with an IPv4-mapped address
 * first, then other RoCE v2, then RoCE v1. InfiniBand ports use the LID.
 * win_init only checks that an RDMA device (the one named) exists; the
 * device is opened, its port and GID chosen and the protection domain
 * allocated when the first window that needs verbs is created (or wininfo
 * describes the transport), so that processes which start and join groups
 * with short timeouts do not pay for it (slow under emulation). A failure
 * there fails that window, and every later one, on every member.
 *
 * Windows: every window has one RC queue pair per peer (itself included:
 * that QP is connected to itself, so a member's own part is reached through
 * the device like every other part) and one completion queue. The window's
 * memory and its control block are registered with remote read, write and
 * atomic access; QP numbers, LIDs, GIDs, PSNs, addresses and rkeys are
 * exchanged through the group's bootstrap when the window is created.
 *
 * Data: put is an RDMA WRITE, get an RDMA READ. Small puts are posted
 * inline; the others go through a registered bounce ring, so the caller's
 * buffer is never registered and a put is locally complete when it returns.
 * A get whose destination lies in the data of one of this process's
 * windows on the device (registered already, for as long as the window
 * lives) reads straight into it, with no ring and no copy: the like of
 * MPI_Get into MPI_Win_allocate'd memory, or shmem_get into the symmetric
 * heap; so does a non-blocking put's source there (its request completes
 * with the write).
 * Vector and strided transfers become chains of work requests posted with
 * one call. Only one work request in VB_SIGNAL_EVERY asks for a completion
 * (or one that somebody waits for); a completion retires every earlier
 * request of the same QP, since RC completes them in order. Where flushes
 * come after one or two requests (put + flush, the OSU latency loop),
 * every request asks for one, until a flush comes after more: the flush
 * then waits for the put itself instead of posting a zero-byte write after
 * it to wait for.
 *
 * Remote completion (flush): by default, the acknowledgement of the last
 * request to the peer. An RC responder acknowledges a WRITE only after it
 * has executed it, and the peers of a group share the host's memory system
 * with the device that acknowledges (Soft-RoCE places data with the CPU
 * before it sends the ACK). With WIN_VERBS_FLUSH=read a flush also posts an
 * 8-byte RDMA READ after the writes: the responder executes the requests of
 * a QP in order and a read response cannot pass the writes before it, so
 * its completion proves the writes are placed even on adapters that ACK
 * early.
 *
 * Atomics: 64-bit fetch-add (int64/uint64 SUM) and compare-and-swap run on
 * the device; NO_OP is a fetch-add of 0; every other 64-bit operation is a
 * compare-and-swap loop. 32-bit elements cannot be reached by the device's
 * 64-bit atomics without touching their neighbours, so they are read,
 * computed and written back under the target's AMO lock word (itself taken
 * with a device compare-and-swap). Device atomics are not atomic with CPU
 * atomics on the same memory: in windows that span hosts the core routes
 * every atomic and control-word operation through the network transport,
 * same-host peers and the own part included (core/select.c), so `serves`
 * may name same-host peers whose data goes over shm or kshim.
 *
 * Control words (locks, post/complete, doorbells) are device atomics on the
 * target's control block; nothing needs the target's CPU. ctrl_wait polls
 * the remote word with an exponential back-off; ctrl_wake has nothing to
 * do.
 *
 * Failures: a completion in error puts the peer's QP out of service and
 * every later operation on it fails (WIN_ERR_PEER when the peer stopped
 * answering, WIN_ERR_TRANSPORT otherwise); every wait is bounded by the
 * context's timeout and checks for dead members of the group.
 *
 * The device itself: its asynchronous events are read without blocking
 * (the event descriptor is made non-blocking when the device is opened)
 * from the slow path of every wait and every VB_HEALTH_EVERY posts. A QP
 * error event fails the peer that QP serves; a fatal device event, or the
 * device's uverbs entry vanishing from sysfs (`rdma link delete` of a
 * Soft-RoCE device: rxe cannot disassociate its user contexts, so the
 * kernel waits for the processes to close them and sends no event), marks
 * the device dead. From then on every operation on every window fails
 * with WIN_ERR_TRANSPORT naming the device, waits return at once, and
 * freeing windows and finalizing release what the kernel still holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "core/amo.h"
#include "core/ctrl.h"
#include "core/futex.h"
#include "core/internal.h"

#define VB_SQ_DEPTH 256
#define VB_SIGNAL_EVERY 32
#define VB_CHAIN 32                /* work requests posted per call */
#define VB_SCRATCH 4096            /* atomic results, flush reads */
#define VB_BOUNCE_SIZE (1u << 21)  /* bounce ring */
#define VB_CHUNK (64u << 10)       /* largest piece through the ring */
#define VB_NENTS 4096              /* ring entries in flight */
#define VB_INLINE_WANT 220
#define VB_HEALTH_EVERY 64         /* posts between device checks */
#define VB_PRESENCE_MS 250         /* sysfs look-ups at most this often */

/* Posting, polling and waiting: short, and on every operation's path. */
#define VB_HOT static inline __attribute__((always_inline))

const struct win_transport win_verbs_transport;

struct vb_state {
	struct win_ctx *ctx;
	pthread_mutex_t lock; /* vb_up */
	bool up;            /* device, port, GID and PD are ready */
	int up_rc;          /* or why they are not (cached) */
	char up_why[200];
	char want_dev[64];  /* WIN_VERBS_DEVICE, or "" */
	long want_port;     /* WIN_VERBS_PORT, or 0 */
	struct ibv_context *dc;
	struct ibv_pd *pd;
	struct ibv_device_attr attr;
	struct ibv_port_attr pattr;
	char devname[64];
	uint8_t port;
	int gid_index;      /* -1: InfiniBand, addressed by LID */
	union ibv_gid gid;
	int gid_type;
	bool flush_read;
	/* Device health (the context is used by one thread at a time). */
	struct vb_win *wins;   /* open windows, to fail on a device error */
	unsigned ticks;        /* posts, for VB_HEALTH_EVERY */
	int dead;              /* WIN_OK, or WIN_ERR_TRANSPORT: device gone */
	char dead_why[160];
	char presence[IBV_SYSFS_PATH_MAX + 8]; /* uverbs "ibdev" file, or "" */
	uint64_t presence_next; /* ms: next sysfs look-up */
	bool async_ok;         /* async_fd is non-blocking: events are read */
	bool port_down;        /* IBV_EVENT_PORT_ERR since the last ACTIVE */
	unsigned port_events;  /* port errors seen */
};

struct vb_peer {
	struct ibv_qp *qp;
	uint64_t data_addr, ctrl_addr;
	uint32_t data_rkey, ctrl_rkey;
	uint64_t posted;    /* sequence number of the last posted request */
	uint64_t signaled;  /* ... of the last one asking for a completion */
	uint64_t completed; /* ... of the last one known complete */
	unsigned unsig;     /* unsignaled requests since the last signaled */
	uint64_t flushed;   /* `posted` at the last flush */
	bool sig_all;       /* the last flush came after one or two requests */
	bool dirty;         /* writes since the last flush */
	int err;            /* WIN_OK, or why the QP is out of service */
	char why[160];
};

/* A piece of the bounce ring in flight. */
struct vb_ent {
	int peer;
	uint64_t seq;       /* the request that uses the piece */
	uint64_t end;       /* ring position after the piece */
	uint64_t pos;       /* ring position of the piece */
	void *dst;          /* get: where the data goes at retirement */
	size_t len;
};

struct vb_win {
	struct win *w;
	struct vb_state *vs;
	struct vb_win *next;   /* vs->wins */
	struct ibv_cq *cq;
	struct ibv_mr *data_mr, *ctrl_mr, *buf_mr;
	char *buf;          /* scratch, then the bounce ring */
	uint64_t bhead, btail; /* ring positions (monotonic) */
	struct vb_ent *ents;
	uint64_t ehead, etail; /* entry tickets (monotonic) */
	struct vb_peer *p;
	/* The responder end of this member's own pair: a QP connected to
	 * itself stalls on multi-packet reads in some providers (rxe), so
	 * the own rank is reached through a second QP. */
	struct ibv_qp *self_resp;
	int n;
	size_t self_read;   /* largest READ from the own rank: one MTU,
			     * since multi-packet READs between two QPs of
			     * one process stalled on rxe */
	uint32_t max_inline;
	uint32_t depth;
};

struct vb_xchg {
	int32_t status;
	uint16_t lid;
	uint8_t mtu;
	uint8_t pad;
	uint8_t gid[16];
	uint64_t data_addr, ctrl_addr;
	uint32_t data_rkey, ctrl_rkey;
	uint32_t psn;
	uint32_t qpn[]; /* QP serving each rank */
};

/* ------------------------------------------------------------------ */
/* Device, port and GID                                                */
/* ------------------------------------------------------------------ */

static const char *gid_type_name(int t)
{
	switch (t) {
	case IBV_GID_TYPE_IB:
		return "IB";
	case IBV_GID_TYPE_ROCE_V1:
		return "RoCE v1";
	case IBV_GID_TYPE_ROCE_V2:
		return "RoCE v2";
	}
	return "?";
}

static bool gid_zero(const union ibv_gid *g)
{
	static const uint8_t z[16];

	return memcmp(g->raw, z, 16) == 0;
}

static bool gid_v4mapped(const union ibv_gid *g)
{
	static const uint8_t pre[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
					 0xff, 0xff };

	return memcmp(g->raw, pre, 12) == 0;
}

static void gid_str(const union ibv_gid *g, char *out, size_t n)
{
	if (gid_v4mapped(g)) {
		snprintf(out, n, "::ffff:%u.%u.%u.%u", g->raw[12], g->raw[13],
			 g->raw[14], g->raw[15]);
		return;
	}
	snprintf(out, n, "%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:"
		 "%02x%02x:%02x%02x:%02x%02x", g->raw[0], g->raw[1], g->raw[2],
		 g->raw[3], g->raw[4], g->raw[5], g->raw[6], g->raw[7],
		 g->raw[8], g->raw[9], g->raw[10], g->raw[11], g->raw[12],
		 g->raw[13], g->raw[14], g->raw[15]);
}

/* Rank of a GID entry for RoCE: higher is better, 0 unusable. */
static int gid_score(const struct ibv_gid_entry *e)
{
	if (gid_zero(&e->gid))
		return 0;
	if (e->gid_type == IBV_GID_TYPE_ROCE_V2)
		return gid_v4mapped(&e->gid) ? 4 : 3;
	if (e->gid_type == IBV_GID_TYPE_ROCE_V1)
		return gid_v4mapped(&e->gid) ? 2 : 1;
	return 0;
}

static int env_int(const char *name, long lo, long hi, long *out)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (!s || !*s)
		return 0;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return win_seterr(WIN_ERR_ARG, "%s=%s: expected an integer in "
				  "%ld..%ld", name, s, lo, hi);
	*out = v;
	return 1;
}

static int pick_gid(struct vb_state *vs)
{
	long want = -1;
	int best = -1, best_score = 0;
	int rc = env_int("WIN_VERBS_GID_INDEX", 0, vs->pattr.gid_tbl_len - 1,
			 &want);

	if (rc < 0)
		return rc;
	if (vs->pattr.link_layer != IBV_LINK_LAYER_ETHERNET && want < 0) {
		vs->gid_index = -1; /* InfiniBand: LIDs */
		return WIN_OK;
	}
	if (want < 0) {
		/* One call for the valid entries of every port: querying
		 * each of a table's (often 1024) indices is slow. */
		size_t max = (size_t)vs->pattr.gid_tbl_len *
			     (size_t)(vs->attr.phys_port_cnt ?
				      vs->attr.phys_port_cnt : 1);
		struct ibv_gid_entry *t = calloc(max ? max : 1, sizeof(*t));
		ssize_t got = t ? ibv_query_gid_table(vs->dc, t, max, 0) : -1;

		for (ssize_t i = 0; i < got; i++) {
			int s = t[i].port_num == vs->port ? gid_score(&t[i]) : 0;

			if (s > best_score) {
				best = (int)t[i].gid_index;
				best_score = s;
				vs->gid = t[i].gid;
				vs->gid_type = (int)t[i].gid_type;
			}
		}
		free(t);
		if (got >= 0) {
			if (best < 0)
				return win_seterr(WIN_ERR_UNSUPPORTED, "%s port "
						  "%u has no usable RoCE GID (is "
						  "an IP address configured on "
						  "its netdev?)", vs->devname,
						  vs->port);
			vs->gid_index = best;
			return WIN_OK;
		}
		/* Not supported here: query the indices one by one. */
	}
	for (int i = 0; i < vs->pattr.gid_tbl_len; i++) {
		struct ibv_gid_entry e;
		int s;

		if (want >= 0 && i != want)
			continue;
		if (ibv_query_gid_ex(vs->dc, vs->port, (uint32_t)i, &e, 0))
			continue;
		s = gid_score(&e);
		if (want >= 0 && gid_zero(&e.gid))
			return win_seterr(WIN_ERR_ARG, "WIN_VERBS_GID_INDEX=%ld: "
					  "entry is empty on %s port %u", want,
					  vs->devname, vs->port);
		if (want >= 0 || s > best_score) {
			best = i;
			best_score = s;
			vs->gid = e.gid;
			vs->gid_type = (int)e.gid_type;
		}
	}
	if (best < 0)
		return win_seterr(WIN_ERR_UNSUPPORTED, "%s port %u has no usable "
				  "RoCE GID (is an IP address configured on its "
				  "netdev?)", vs->devname, vs->port);
	vs->gid_index = best;
	return WIN_OK;
}

/* Try `dev`: an active port (or the one asked for). */
static int try_device(struct vb_state *vs, struct ibv_device *dev,
		      long want_port)
{
	struct ibv_context *dc = ibv_open_device(dev);

	if (!dc)
		return win_seterr_sys(WIN_ERR_UNSUPPORTED, errno, "cannot open "
				      "RDMA device %s", ibv_get_device_name(dev));
	if (ibv_query_device(dc, &vs->attr)) {
		ibv_close_device(dc);
		return win_seterr_sys(WIN_ERR_UNSUPPORTED, errno, "cannot query "
				      "RDMA device %s", ibv_get_device_name(dev));
	}
	for (int p = 1; p <= vs->attr.phys_port_cnt; p++) {
		if (want_port > 0 && p != want_port)
			continue;
		if (ibv_query_port(dc, (uint8_t)p, &vs->pattr))
			continue;
		if (vs->pattr.state != IBV_PORT_ACTIVE)
			continue;
		vs->dc = dc;
		vs->port = (uint8_t)p;
		snprintf(vs->devname, sizeof(vs->devname), "%s",
			 ibv_get_device_name(dev));
		return WIN_OK;
	}
	ibv_close_device(dc);
	if (want_port > 0)
		return win_seterr(WIN_ERR_UNSUPPORTED, "port %ld of RDMA device "
				  "%s is missing or not active", want_port,
				  ibv_get_device_name(dev));
	return win_seterr(WIN_ERR_UNSUPPORTED, "RDMA device %s has no active "
			  "port", ibv_get_device_name(dev));
}

static void vb_close(void *state)
{
	struct vb_state *vs = state;

	if (!vs)
		return;
	if (vs->pd)
		ibv_dealloc_pd(vs->pd);
	if (vs->dc)
		ibv_close_device(vs->dc);
	pthread_mutex_destroy(&vs->lock);
	free(vs);
}

/*
 * Read the device name from the uverbs entry's "ibdev" file: its length,
 * or -1 with errno set.
 */
static ssize_t read_ibdev(const char *path, char *name, size_t size)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, name, size - 1);
	if (n < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	close(fd);
	while (n > 0 && (name[n - 1] == '\n' || name[n - 1] == ' '))
		n--;
	name[n] = 0;
	return n;
}

/* Does the device's uverbs entry still name it? Unknown counts as yes. */
static bool vb_present(struct vb_state *vs)
{
	char name[IBV_SYSFS_NAME_MAX + 2];

	if (!vs->presence[0])
		return true;
	if (read_ibdev(vs->presence, name, sizeof(name)) < 0)
		return !(errno == ENOENT || errno == ENODEV || errno == ENXIO);
	return strcmp(name, vs->devname) == 0;
}

/*
 * Once the device is open: its asynchronous events are read without
 * blocking, and its uverbs entry in sysfs (which the kernel removes first
 * when the device is unregistered) is watched if it names the device now.
 */
static void vb_watch_setup(struct vb_state *vs)
{
	struct ibv_device *dev = vs->dc->device;
	int fl = fcntl(vs->dc->async_fd, F_GETFL);
	char name[IBV_SYSFS_NAME_MAX + 2];

	vs->async_ok = fl >= 0 &&
		       fcntl(vs->dc->async_fd, F_SETFL, fl | O_NONBLOCK) == 0;
	if (!vs->async_ok)
		win_log(vs->ctx, WIN_LOG_WARN, "verbs: %s: cannot make the "
			"asynchronous event descriptor non-blocking (%s); its "
			"events are not read", vs->devname, strerror(errno));
	vs->presence[0] = 0;
	if (dev && dev->dev_path[0])
		snprintf(vs->presence, sizeof(vs->presence), "%s/ibdev",
			 dev->dev_path);
	else if (dev && dev->dev_name[0])
		snprintf(vs->presence, sizeof(vs->presence),
			 "/sys/class/infiniband_verbs/%s/ibdev", dev->dev_name);
	if (vs->presence[0] &&
	    (read_ibdev(vs->presence, name, sizeof(name)) <= 0 ||
	     strcmp(name, vs->devname))) {
		win_log(vs->ctx, WIN_LOG_INFO, "verbs: %s: %s does not name "
			"the device; its removal is noticed by events only",
			vs->devname, vs->presence);
		vs->presence[0] = 0;
	}
	vs->presence_next = win_now_ms() + VB_PRESENCE_MS;
}

/*
 * Open the device, pick the port and GID, allocate the PD: the first time
 * a window needs verbs (or wininfo describes it). Slow under emulation
 * (tens to hundreds of ms per process), so win_init and group joins do not
 * pay for it. A failure is remembered and returned to every later caller.
 */
static int vb_up(struct vb_state *vs)
{
	struct ibv_device **list;
	int n = 0, rc;

	pthread_mutex_lock(&vs->lock);
	if (vs->dead) {
		pthread_mutex_unlock(&vs->lock);
		return win_seterr(vs->dead, "verbs: %s", vs->dead_why);
	}
	if (vs->up || vs->up_rc) {
		rc = vs->up_rc;
		pthread_mutex_unlock(&vs->lock);
		return rc ? win_seterr(rc, "%s", vs->up_why) : WIN_OK;
	}
	list = ibv_get_device_list(&n);
	rc = win_seterr(WIN_ERR_UNSUPPORTED, "no RDMA device");
	if (list && vs->want_dev[0]) {
		int i;

		for (i = 0; i < n; i++)
			if (!strcmp(ibv_get_device_name(list[i]), vs->want_dev))
				break;
		if (i == n)
			rc = win_seterr(WIN_ERR_UNSUPPORTED, "WIN_VERBS_DEVICE=%s:"
					" no such RDMA device", vs->want_dev);
		else
			rc = try_device(vs, list[i], vs->want_port);
	} else if (list) {
		for (int i = 0; i < n && rc; i++)
			rc = try_device(vs, list[i], vs->want_port);
	}
	if (list)
		ibv_free_device_list(list);
	if (rc == WIN_OK)
		rc = pick_gid(vs);
	if (rc == WIN_OK && vs->attr.atomic_cap == IBV_ATOMIC_NONE)
		rc = win_seterr(WIN_ERR_UNSUPPORTED, "RDMA device %s has no "
				"atomic operations", vs->devname);
	if (rc == WIN_OK && !(vs->pd = ibv_alloc_pd(vs->dc)))
		rc = win_seterr_sys(WIN_ERR_UNSUPPORTED, errno, "ibv_alloc_pd "
				    "on %s", vs->devname);
	if (rc) {
		snprintf(vs->up_why, sizeof(vs->up_why), "verbs: %s",
			 win_last_error());
		if (vs->dc) {
			ibv_close_device(vs->dc);
			vs->dc = NULL;
		}
		vs->up_rc = rc;
		pthread_mutex_unlock(&vs->lock);
		win_log(vs->ctx, WIN_LOG_WARN, "%s", vs->up_why);
		return win_seterr(rc, "%s", vs->up_why);
	}
	vs->up = true;
	vb_watch_setup(vs);
	pthread_mutex_unlock(&vs->lock);
	win_log(vs->ctx, WIN_LOG_INFO, "verbs: %s port %u gid index %d",
		vs->devname, vs->port, vs->gid_index);
	return WIN_OK;
}

/*
 * Only what is cheap: the settings, and that an RDMA device (the one
 * asked for) exists, so that a host without one does not offer verbs.
 * Opening it waits for vb_up.
 */
static int vb_open(struct win_ctx *ctx, void **state)
{
	struct ibv_device **list;
	struct vb_state *vs;
	const char *want_dev = getenv("WIN_VERBS_DEVICE");
	const char *fl = getenv("WIN_VERBS_FLUSH");
	long want_port = 0;
	int n = 0, rc;

	*state = NULL;
	if ((rc = env_int("WIN_VERBS_PORT", 1, 255, &want_port)) < 0)
		return rc;
	if (fl && *fl && strcmp(fl, "ack") && strcmp(fl, "read"))
		return win_seterr(WIN_ERR_ARG, "WIN_VERBS_FLUSH=%s: expected "
				  "'ack' or 'read'", fl);
	if (want_dev && strlen(want_dev) >= sizeof(vs->want_dev))
		return win_seterr(WIN_ERR_ARG, "WIN_VERBS_DEVICE=%s: name too "
				  "long", want_dev);
	list = ibv_get_device_list(&n);
	if (!list || n == 0) {
		if (list)
			ibv_free_device_list(list);
		return win_seterr(WIN_ERR_UNSUPPORTED, "no RDMA device");
	}
	rc = WIN_OK;
	if (want_dev && *want_dev) {
		int i;

		for (i = 0; i < n; i++)
			if (!strcmp(ibv_get_device_name(list[i]), want_dev))
				break;
		if (i == n)
			rc = win_seterr(WIN_ERR_UNSUPPORTED, "WIN_VERBS_DEVICE=%s:"
					" no such RDMA device", want_dev);
	}
	ibv_free_device_list(list);
	if (rc)
		return rc;
	vs = calloc(1, sizeof(*vs));
	if (!vs)
		return win_seterr(WIN_ERR_NOMEM, "verbs state");
	pthread_mutex_init(&vs->lock, NULL);
	vs->ctx = ctx;
	vs->flush_read = fl && !strcmp(fl, "read");
	vs->want_port = want_port;
	vs->gid_index = -1;
	if (want_dev)
		snprintf(vs->want_dev, sizeof(vs->want_dev), "%s", want_dev);
	*state = vs;
	return WIN_OK;
}

static bool vb_reaches(void *state, struct win_group *g, int rank)
{
	return state != NULL;
}

/* ------------------------------------------------------------------ */
/* Posting and completions                                             */
/* ------------------------------------------------------------------ */

static int peer_fail(struct vb_win *vw, int r, int status, const char *fmt,
		     ...) __attribute__((format(printf, 4, 5)));

static int peer_fail(struct vb_win *vw, int r, int status, const char *fmt,
		     ...)
{
	struct vb_peer *p = &vw->p[r];
	va_list ap;

	if (p->err == WIN_OK) {
		va_start(ap, fmt);
		vsnprintf(p->why, sizeof(p->why), fmt, ap);
		va_end(ap);
		p->err = status;
	}
	return win_seterr(p->err, "verbs, rank %d: %s", r, p->why);
}

/* Take r out of service for an event, leaving the caller's message. */
static void peer_mark(struct vb_win *vw, int r, const char *what)
{
	struct vb_peer *p = &vw->p[r];

	if (p->err == WIN_OK) {
		snprintf(p->why, sizeof(p->why), "%s on %s", what,
			 vw->vs->devname);
		p->err = WIN_ERR_TRANSPORT;
	}
}

static int peer_status(struct vb_win *vw, int r)
{
	struct vb_peer *p = &vw->p[r];

	if (likely(p->err == WIN_OK))
		return WIN_OK;
	return win_seterr(p->err, "verbs, rank %d: %s", r, p->why);
}

/* ------------------------------------------------------------------ */
/* Device health: asynchronous events, removal                         */
/* ------------------------------------------------------------------ */

static int dead_status(struct vb_state *vs)
{
	return win_seterr(vs->dead, "verbs: %s", vs->dead_why);
}

/* The device is gone: every peer of every window fails with the reason. */
static void vb_mark_dead(struct vb_state *vs, const char *how)
{
	if (vs->dead)
		return;
	snprintf(vs->dead_why, sizeof(vs->dead_why), "device %s is gone (%s)",
		 vs->devname, how);
	vs->dead = WIN_ERR_TRANSPORT;
	win_log(vs->ctx, WIN_LOG_WARN, "verbs: %s", vs->dead_why);
	for (struct vb_win *vw = vs->wins; vw; vw = vw->next)
		for (int r = 0; r < vw->n; r++) {
			/* This reason replaces any earlier one (a flushed
			 * completion, say): it is the cause. */
			vw->p[r].err = vs->dead;
			snprintf(vw->p[r].why, sizeof(vw->p[r].why), "%s",
				 vs->dead_why);
		}
}

/* A QP error event: the peer that QP serves is out of service. */
static void vb_qp_event(struct vb_state *vs, struct ibv_qp *qp,
			enum ibv_event_type t)
{
	for (struct vb_win *vw = vs->wins; vw; vw = vw->next)
		for (int r = 0; r < vw->n; r++)
			if (vw->p[r].qp == qp ||
			    (r == vw->w->rank && vw->self_resp == qp)) {
				peer_mark(vw, r, ibv_event_type_str(t));
				return;
			}
}

/* Read the device's pending asynchronous events (never blocks). */
static void vb_async(struct vb_state *vs)
{
	struct ibv_async_event ev;
	char how[80];

	if (!vs->async_ok || vs->dead)
		return;
	for (int i = 0; i < 64; i++) {
		if (ibv_get_async_event(vs->dc, &ev)) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR)
				return;
			/* EIO: the kernel disassociated the context. */
			snprintf(how, sizeof(how), "asynchronous events: %s",
				 strerror(errno));
			vb_mark_dead(vs, how);
			return;
		}
		switch (ev.event_type) {
		case IBV_EVENT_DEVICE_FATAL:
			vb_mark_dead(vs, "fatal device error");
			break;
		case IBV_EVENT_QP_FATAL:
		case IBV_EVENT_QP_REQ_ERR:
		case IBV_EVENT_QP_ACCESS_ERR:
		case IBV_EVENT_PATH_MIG_ERR:
			vb_qp_event(vs, ev.element.qp, ev.event_type);
			break;
		case IBV_EVENT_CQ_ERR:
			for (struct vb_win *vw = vs->wins; vw; vw = vw->next)
				if (vw->cq == ev.element.cq)
					for (int r = 0; r < vw->n; r++)
						peer_mark(vw, r, "completion "
							  "queue error");
			break;
		case IBV_EVENT_PORT_ERR:
			if (ev.element.port_num == vs->port) {
				vs->port_down = true;
				vs->port_events++;
				win_log(vs->ctx, WIN_LOG_WARN, "verbs: %s port "
					"%u went down", vs->devname, vs->port);
			}
			break;
		case IBV_EVENT_PORT_ACTIVE:
			if (ev.element.port_num == vs->port)
				vs->port_down = false;
			break;
		default:
			break;
		}
		/* Unacknowledged events would block ibv_destroy_qp/cq. */
		ibv_ack_async_event(&ev);
		if (vs->dead)
			return;
	}
}

/*
 * Events now; the sysfs entry when `now` or VB_PRESENCE_MS have passed.
 * WIN_OK, or the dead device's status (message set).
 */
static int vb_check_device(struct vb_state *vs, bool now)
{
	uint64_t t;

	if (vs->dead)
		return dead_status(vs);
	if (!vs->dc)
		return WIN_OK;
	vb_async(vs);
	if (!vs->dead && vs->presence[0]) {
		t = win_now_ms();
		if (now || t >= vs->presence_next) {
			vs->presence_next = t + VB_PRESENCE_MS;
			if (!vb_present(vs))
				vb_mark_dead(vs, "its uverbs entry was removed");
		}
	}
	return vs->dead ? dead_status(vs) : WIN_OK;
}

/* Cheap enough for every post: a look at the device now and then. */
static inline int vb_tick(struct vb_state *vs)
{
	if (unlikely(vs->dead))
		return dead_status(vs);
	if (likely(++vs->ticks % VB_HEALTH_EVERY))
		return WIN_OK;
	return vb_check_device(vs, false);
}

static __attribute__((noinline)) int poll_failed(struct vb_win *vw)
{
	int rc = vb_check_device(vw->vs, true);

	if (rc)
		return rc;
	return win_seterr(WIN_ERR_TRANSPORT, "verbs: ibv_poll_cq failed on %s",
			  vw->vs->devname);
}

/* A completion in error takes its peer out of service. */
static __attribute__((noinline)) void wc_failed(struct vb_win *vw, int r,
						const struct ibv_wc *wc)
{
	if (wc->status == IBV_WC_RETRY_EXC_ERR ||
	    wc->status == IBV_WC_RNR_RETRY_EXC_ERR)
		peer_fail(vw, r, WIN_ERR_PEER, "the peer stopped answering "
			  "(%s)", ibv_wc_status_str(wc->status));
	else if (wc->status == IBV_WC_REM_ACCESS_ERR)
		peer_fail(vw, r, WIN_ERR_PEER, "the peer no longer exposes "
			  "the window (freed or left: %s)",
			  ibv_wc_status_str(wc->status));
	else
		peer_fail(vw, r, WIN_ERR_TRANSPORT, "completion error: %s "
			  "(vendor error 0x%x)", ibv_wc_status_str(wc->status),
			  wc->vendor_err);
}

/*
 * Poll the CQ once; returns the number of completions or an error.
 * (Inline: it is most of every wait.)
 */
VB_HOT int vb_poll(struct vb_win *vw)
{
	struct ibv_wc wc[16];
	int n = ibv_poll_cq(vw->cq, 16, wc);

	if (unlikely(n < 0))
		return poll_failed(vw);
	for (int i = 0; i < n; i++) {
		int r = (int)(wc[i].wr_id >> 48);
		uint64_t seq = wc[i].wr_id & ((1ull << 48) - 1);
		struct vb_peer *p;

		if (unlikely(r >= vw->n))
			continue;
		p = &vw->p[r];
		if (seq > p->completed)
			p->completed = seq;
		if (unlikely(wc[i].status != IBV_WC_SUCCESS))
			wc_failed(vw, r, &wc[i]);
	}
	return n;
}

/* Retire bounce pieces whose requests completed (gets copy out here). */
static void retire_ring(struct vb_win *vw)
{
	while (vw->etail < vw->ehead) {
		struct vb_ent *e = &vw->ents[vw->etail % VB_NENTS];
		struct vb_peer *p = &vw->p[e->peer];

		if (p->completed < e->seq && p->err == WIN_OK)
			break;
		if (e->dst && p->err == WIN_OK)
			memcpy(e->dst, vw->buf + VB_SCRATCH +
			       e->pos % VB_BOUNCE_SIZE, e->len);
		vw->btail = e->end;
		vw->etail++;
	}
}

static inline void vb_retire(struct vb_win *vw)
{
	if (vw->etail < vw->ehead)
		retire_ring(vw);
}

VB_HOT int post_list(struct vb_win *vw, int r, struct ibv_send_wr *first,
		     int nwr, bool signal);

/* Make sure the last posted request of `r` will produce a completion. */
static int ensure_signaled(struct vb_win *vw, int r)
{
	struct vb_peer *p = &vw->p[r];
	struct ibv_send_wr wr;

	if (p->signaled >= p->posted || p->err)
		return WIN_OK;
	memset(&wr, 0, sizeof(wr));
	wr.opcode = IBV_WR_RDMA_WRITE; /* zero bytes: a completion marker */
	wr.wr.rdma.remote_addr = p->ctrl_addr;
	wr.wr.rdma.rkey = p->ctrl_rkey;
	return post_list(vw, r, &wr, 1, true);
}

/* A wait on `r` (all peers for r < 0) saw no completion in time. */
static int vb_timed_out(struct vb_win *vw, int r)
{
	int ms = vw->w->ctx->timeout_ms;

	if (r < 0)
		return win_seterr(WIN_ERR_TIMEOUT, "verbs: no completion in "
				  "%d ms", ms);
	/* The counts tell a lost completion from one never asked for. */
	return win_seterr(WIN_ERR_TIMEOUT, "verbs: no completion from rank %d "
			  "in %d ms (requests: last posted %llu, signalled "
			  "%llu, completed %llu)", r, ms,
			  (unsigned long long)vw->p[r].posted,
			  (unsigned long long)vw->p[r].signaled,
			  (unsigned long long)vw->p[r].completed);
}

/* Poll until cond holds; bounded by the context's timeout. */
static int vb_progress_until(struct vb_win *vw, int r,
			     bool (*cond)(struct vb_win *, void *), void *arg)
{
	uint64_t deadline = 0;
	unsigned idle = 0;
	int rc;

	for (;;) {
		if (cond(vw, arg))
			return WIN_OK;
		if (r >= 0 && (rc = peer_status(vw, r)))
			return rc;
		rc = vb_poll(vw);
		if (rc < 0)
			return rc;
		if (rc > 0) {
			idle = 0;
			continue;
		}
		/* Soft-RoCE does its work in kernel threads that compete
		 * with this process for the CPU: give it up early. */
		if (++idle < 16) {
			win_cpu_relax();
			continue;
		}
		sched_yield();
		if (idle % 256)
			continue;
		/* Completions may never come from a device that is gone
		 * (its queues may stop being updated): look before waiting
		 * on. */
		if ((rc = vb_check_device(vw->vs, false)))
			return rc;
		if (r >= 0 && (rc = peer_status(vw, r)))
			return rc;
		if (!deadline)
			deadline = win_now_ms() +
				   (uint64_t)vw->w->ctx->timeout_ms;
		else if (win_now_ms() > deadline)
			return vb_timed_out(vw, r);
		/* Only the member waited for (all for r < 0): another one
		 * that finished and exited must not fail this wait. A
		 * member that exited because the device went away does
		 * not hide that cause. */
		if ((rc = win_group_check_peer(vw->w->group, r)))
			return vb_check_device(vw->vs, true) ?
			       vw->vs->dead : rc;
	}
}

struct seq_arg {
	int r;
	uint64_t seq;
};

static bool seq_done(struct vb_win *vw, void *arg)
{
	struct seq_arg *a = arg;

	return vw->p[a->r].completed >= a->seq;
}

VB_HOT int wait_seq(struct vb_win *vw, int r, uint64_t seq)
{
	struct vb_peer *p = &vw->p[r];
	struct seq_arg a = { r, seq };
	int rc;

	if (p->completed >= seq)
		return peer_status(vw, r);
	if (p->signaled < seq && (rc = ensure_signaled(vw, r)))
		return rc;
	/* Soft-RoCE often completes a request within its post: one poll
	 * here finds it without the general loop's bookkeeping. */
	if ((rc = vb_poll(vw)) < 0)
		return rc;
	if (p->completed < seq &&
	    (rc = vb_progress_until(vw, r, seq_done, &a)))
		return rc;
	return peer_status(vw, r);
}

static bool room(struct vb_win *vw, void *arg)
{
	struct seq_arg *a = arg;
	struct vb_peer *p = &vw->p[a->r];

	return p->posted - p->completed + a->seq < vw->depth;
}

/* The send queue to `r` has no room for `nwr` more requests: wait. */
static __attribute__((noinline)) int wait_room(struct vb_win *vw, int r,
					       int nwr)
{
	struct seq_arg a = { r, (uint64_t)nwr };

	/* Some request among the outstanding ones is signaled: never more
	 * than VB_SIGNAL_EVERY go without one. */
	return vb_progress_until(vw, r, room, &a);
}

static __attribute__((noinline)) int post_failed(struct vb_win *vw, int r,
						 int rc)
{
	char how[80];

	/* A device that went away fails every window alike. */
	if (vb_check_device(vw->vs, true) == WIN_OK &&
	    (rc == EIO || rc == ENODEV)) {
		snprintf(how, sizeof(how), "ibv_post_send: %s", strerror(rc));
		vb_mark_dead(vw->vs, how);
	}
	if (vw->vs->dead)
		return dead_status(vw->vs);
	return peer_fail(vw, r, WIN_ERR_TRANSPORT, "ibv_post_send: %s",
			 strerror(rc));
}

/*
 * Post a chain of `nwr` requests to `r`; the last asks for a completion if
 * `signal` or if enough went unsignaled.
 */
VB_HOT int post_list(struct vb_win *vw, int r, struct ibv_send_wr *first,
		     int nwr, bool signal)
{
	struct vb_peer *p = &vw->p[r];
	struct ibv_send_wr *wr, *last = NULL, *bad = NULL;
	int rc;

	if (unlikely(p->err))
		return peer_status(vw, r);
	if (unlikely((rc = vb_tick(vw->vs))))
		return rc;
	if (unlikely(p->posted - p->completed + (uint64_t)nwr >= vw->depth) &&
	    (rc = wait_room(vw, r, nwr)))
		return rc;
	for (wr = first; wr; wr = wr->next) {
		wr->wr_id = ((uint64_t)r << 48) | ++p->posted;
		wr->send_flags &= ~(unsigned)IBV_SEND_SIGNALED;
		last = wr;
	}
	p->unsig += (unsigned)nwr;
	if (signal || p->sig_all || p->unsig >= VB_SIGNAL_EVERY) {
		last->send_flags |= IBV_SEND_SIGNALED;
		p->signaled = p->posted;
		p->unsig = 0;
	}
	rc = ibv_post_send(p->qp, first, &bad);
	return unlikely(rc) ? post_failed(vw, r, rc) : WIN_OK;
}

/* ------------------------------------------------------------------ */
/* Bounce ring                                                         */
/* ------------------------------------------------------------------ */

struct space_arg {
	size_t len;
	uint64_t pos;
};

/* Find `len` contiguous bytes in the ring (pos set); false if none now. */
static bool ring_fits(struct vb_win *vw, void *arg)
{
	struct space_arg *a = arg;
	uint64_t pos = vw->bhead;
	uint64_t in = pos % VB_BOUNCE_SIZE;

	vb_retire(vw);
	if (in + a->len > VB_BOUNCE_SIZE)
		pos += VB_BOUNCE_SIZE - in; /* wrap: skip the tail end */
	if (pos + a->len - vw->btail > VB_BOUNCE_SIZE ||
	    vw->ehead - vw->etail >= VB_NENTS)
		return false;
	a->pos = pos;
	return true;
}

/* Every piece up to `upto` must complete: make their requests signal. */
static int signal_ring(struct vb_win *vw, uint64_t upto)
{
	int rc;

	for (uint64_t t = vw->etail; t <= upto && t < vw->ehead; t++) {
		struct vb_ent *e = &vw->ents[t % VB_NENTS];

		if (vw->p[e->peer].signaled < e->seq &&
		    (rc = ensure_signaled(vw, e->peer)))
			return rc;
	}
	return WIN_OK;
}

/* Wait for room in the ring. */
static int ring_wait(struct vb_win *vw, struct space_arg *a)
{
	int rc;

	if (ring_fits(vw, a))
		return WIN_OK;
	if ((rc = signal_ring(vw, vw->ehead - 1)))
		return rc;
	return vb_progress_until(vw, -1, ring_fits, a);
}

/* Reserve `len` bytes; returns the pointer, the caller records the use. */
static int ring_get(struct vb_win *vw, size_t len, char **ptr,
		    uint64_t *pos)
{
	struct space_arg a = { len, 0 };
	int rc = ring_wait(vw, &a);

	if (rc)
		return rc;
	*pos = a.pos;
	*ptr = vw->buf + VB_SCRATCH + a.pos % VB_BOUNCE_SIZE;
	return WIN_OK;
}

/* Record the piece [pos, pos+len) as used by r's request `seq`. */
static uint64_t ring_commit(struct vb_win *vw, int r, uint64_t pos,
			    size_t len, void *dst)
{
	struct vb_ent *e = &vw->ents[vw->ehead % VB_NENTS];

	e->peer = r;
	e->seq = vw->p[r].posted;
	e->pos = pos;
	e->end = pos + len;
	e->dst = dst;
	e->len = len;
	vw->bhead = e->end;
	return vw->ehead++;
}

/* ------------------------------------------------------------------ */
/* Windows                                                             */
/* ------------------------------------------------------------------ */

static int vb_win_close(struct win *w, void *tw)
{
	struct vb_win *vw = tw;

	if (!vw)
		return WIN_OK;
	if (vw->vs) {
		struct vb_win **pp = &vw->vs->wins;

		while (*pp && *pp != vw)
			pp = &(*pp)->next;
		if (*pp)
			*pp = vw->next;
	}
	/* After the device went away these may fail (EIO): nothing more
	 * can be released then, so go on with the rest. */
	for (int r = 0; vw->p && r < vw->n; r++)
		if (vw->p[r].qp)
			ibv_destroy_qp(vw->p[r].qp);
	if (vw->self_resp)
		ibv_destroy_qp(vw->self_resp);
	if (vw->cq)
		ibv_destroy_cq(vw->cq);
	if (vw->data_mr)
		ibv_dereg_mr(vw->data_mr);
	if (vw->ctrl_mr)
		ibv_dereg_mr(vw->ctrl_mr);
	if (vw->buf_mr)
		ibv_dereg_mr(vw->buf_mr);
	free(vw->buf);
	free(vw->ents);
	free(vw->p);
	free(vw);
	return WIN_OK;
}

static const int vb_access = IBV_ACCESS_LOCAL_WRITE |
			     IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ |
			     IBV_ACCESS_REMOTE_ATOMIC;

/* Local resources: CQ, QPs for the served ranks, registrations. */
static int vb_win_setup(struct vb_win *vw, const bool *serve)
{
	struct vb_state *vs = vw->vs;
	struct win *w = vw->w;
	int nq = 0, cqe;

	for (int r = 0; r < vw->n; r++)
		nq += serve[r];
	vw->depth = VB_SQ_DEPTH;
	if ((uint32_t)vs->attr.max_qp_wr < vw->depth)
		vw->depth = (uint32_t)vs->attr.max_qp_wr;
	cqe = nq * (int)vw->depth + 16;
	if (cqe > vs->attr.max_cqe)
		cqe = vs->attr.max_cqe;
	vw->cq = ibv_create_cq(vs->dc, cqe, NULL, NULL, 0);
	if (!vw->cq)
		return win_seterr_sys(WIN_ERR_TRANSPORT, errno, "verbs: "
				      "ibv_create_cq(%d)", cqe);
	if (posix_memalign((void **)&vw->buf, 4096,
			   VB_SCRATCH + VB_BOUNCE_SIZE) ||
	    !(vw->ents = calloc(VB_NENTS, sizeof(*vw->ents))))
		return win_seterr(WIN_ERR_NOMEM, "verbs bounce ring");
	vw->buf_mr = ibv_reg_mr(vs->pd, vw->buf, VB_SCRATCH + VB_BOUNCE_SIZE,
				IBV_ACCESS_LOCAL_WRITE);
	vw->ctrl_mr = ibv_reg_mr(vs->pd, w->ctrl.addr, w->ctrl.len, vb_access);
	if (w->len)
		vw->data_mr = ibv_reg_mr(vs->pd, w->data_lib, w->len,
					 vb_access);
	if (!vw->buf_mr || !vw->ctrl_mr || (w->len && !vw->data_mr))
		return win_seterr_sys(WIN_ERR_TRANSPORT, errno, "verbs: "
				      "ibv_reg_mr on %s", vs->devname);
	vw->max_inline = 0;
	for (int r = 0; r <= vw->n; r++) {
		struct ibv_qp_init_attr qa;
		struct ibv_qp_attr a;
		struct ibv_qp **qpp = r < vw->n ? &vw->p[r].qp : &vw->self_resp;

		if (r < vw->n ? !serve[r] : !serve[vw->w->rank])
			continue;
		for (int want = VB_INLINE_WANT; want >= 0; want -= 64) {
			memset(&qa, 0, sizeof(qa));
			qa.send_cq = vw->cq;
			qa.recv_cq = vw->cq;
			qa.qp_type = IBV_QPT_RC;
			qa.sq_sig_all = 0;
			qa.cap.max_send_wr = vw->depth;
			qa.cap.max_recv_wr = 1;
			qa.cap.max_send_sge = 1;
			qa.cap.max_recv_sge = 1;
			qa.cap.max_inline_data = (uint32_t)(want < 0 ? 0 : want);
			*qpp = ibv_create_qp(vs->pd, &qa);
			if (*qpp || want == 0)
				break;
			if (want < 64)
				want = 64;
		}
		if (!*qpp)
			return win_seterr_sys(WIN_ERR_TRANSPORT, errno, "verbs: "
					      "ibv_create_qp on %s",
					      vs->devname);
		if (r < vw->n)
			vw->max_inline = qa.cap.max_inline_data;
		memset(&a, 0, sizeof(a));
		a.qp_state = IBV_QPS_INIT;
		a.pkey_index = 0;
		a.port_num = vs->port;
		a.qp_access_flags = IBV_ACCESS_REMOTE_WRITE |
				    IBV_ACCESS_REMOTE_READ |
				    IBV_ACCESS_REMOTE_ATOMIC;
		if (ibv_modify_qp(*qpp, &a, IBV_QP_STATE |
				  IBV_QP_PKEY_INDEX | IBV_QP_PORT |
				  IBV_QP_ACCESS_FLAGS))
			return win_seterr_sys(WIN_ERR_TRANSPORT, errno, "verbs: "
					      "QP to INIT");
	}
	return WIN_OK;
}

static int vb_connect_qp(struct vb_win *vw, int r, struct ibv_qp *qp,
			 uint32_t dest, const struct vb_xchg *me,
			 const struct vb_xchg *peer)
{
	struct vb_state *vs = vw->vs;
	int rd = vs->attr.max_qp_rd_atom < 16 ? vs->attr.max_qp_rd_atom : 16;
	int rd_in = vs->attr.max_qp_init_rd_atom < 16 ?
		    vs->attr.max_qp_init_rd_atom : 16;
	struct ibv_qp_attr a;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = (enum ibv_mtu)(me->mtu < peer->mtu ? me->mtu : peer->mtu);
	a.dest_qp_num = dest;
	a.rq_psn = peer->psn;
	a.max_dest_rd_atomic = (uint8_t)(rd < 1 ? 1 : rd);
	a.min_rnr_timer = 12;
	a.ah_attr.port_num = vs->port;
	if (vs->gid_index >= 0) {
		a.ah_attr.is_global = 1;
		memcpy(a.ah_attr.grh.dgid.raw, peer->gid, 16);
		a.ah_attr.grh.sgid_index = (uint8_t)vs->gid_index;
		a.ah_attr.grh.hop_limit = 64;
	} else {
		a.ah_attr.dlid = peer->lid;
	}
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
			  IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
		return win_seterr_sys(WIN_ERR_TRANSPORT, errno, "verbs: QP to "
				      "rank %d to RTR", r);
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.timeout = 14;  /* 4.096 us * 2^14: 67 ms per try */
	a.retry_cnt = 7;
	a.rnr_retry = 7;
	a.sq_psn = me->psn;
	a.max_rd_atomic = (uint8_t)(rd_in < 1 ? 1 : rd_in);
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT |
			  IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN |
			  IBV_QP_MAX_QP_RD_ATOMIC))
		return win_seterr_sys(WIN_ERR_TRANSPORT, errno, "verbs: QP to "
				      "rank %d to RTS", r);
	return WIN_OK;
}

static int vb_connect(struct vb_win *vw, int r, const struct vb_xchg *me,
		      const struct vb_xchg *peer)
{
	int rc;

	if (r == vw->w->rank) {
		rc = vb_connect_qp(vw, r, vw->p[r].qp, vw->self_resp->qp_num,
				   me, me);
		if (rc == WIN_OK)
			rc = vb_connect_qp(vw, r, vw->self_resp,
					   vw->p[r].qp->qp_num, me, me);
	} else {
		rc = vb_connect_qp(vw, r, vw->p[r].qp,
				   peer->qpn[vw->w->rank], me, peer);
	}
	if (rc)
		return rc;
	vw->p[r].data_addr = peer->data_addr;
	vw->p[r].data_rkey = peer->data_rkey;
	vw->p[r].ctrl_addr = peer->ctrl_addr;
	vw->p[r].ctrl_rkey = peer->ctrl_rkey;
	return WIN_OK;
}

static int vb_win_open(struct win *w, void *state, const bool *serves,
		       void **twp)
{
	struct vb_state *vs = state;
	size_t xlen = sizeof(struct vb_xchg) + sizeof(uint32_t) *
		      (size_t)w->size;
	uint8_t use = 0, *uses = NULL;
	struct vb_xchg *me = NULL, *all = NULL;
	struct vb_win *vw = NULL;
	bool any = false;
	int rc;

	*twp = NULL;
	for (int r = 0; r < w->size; r++)
		use |= serves[r];
	uses = malloc((size_t)w->size);
	if (!uses)
		return win_seterr(WIN_ERR_NOMEM, "verbs window");
	rc = win_group_allgather(w->group, &use, uses, 1);
	for (int r = 0; r < w->size && rc == WIN_OK; r++)
		any |= uses[r];
	free(uses);
	if (rc || !any)
		return rc;

	vw = calloc(1, sizeof(*vw));
	me = calloc(1, xlen);
	all = calloc((size_t)w->size, xlen);
	rc = WIN_OK;
	if (!vw || !me || !all ||
	    !(vw->p = calloc((size_t)w->size, sizeof(*vw->p))))
		rc = win_seterr(WIN_ERR_NOMEM, "verbs window");
	/* A failure here still takes part in the exchange below, so that
	 * every member fails the window with it instead of timing out. */
	if (rc == WIN_OK)
		rc = vb_up(vs);
	if (rc == WIN_OK) {
		vw->w = w;
		vw->vs = vs;
		vw->n = w->size;
		vw->self_read = (size_t)128 << vs->pattr.active_mtu;
		rc = vb_win_setup(vw, serves);
	}
	if (rc == WIN_OK) {
		me->lid = vs->pattr.lid;
		me->mtu = (uint8_t)vs->pattr.active_mtu;
		memcpy(me->gid, vs->gid.raw, 16);
		me->psn = (uint32_t)(((unsigned)getpid() * 2654435761u) ^
				     (unsigned)w->rank) & 0xffffffu;
		me->ctrl_addr = (uintptr_t)w->ctrl.addr;
		me->ctrl_rkey = vw->ctrl_mr->rkey;
		me->data_addr = (uintptr_t)w->data_lib;
		me->data_rkey = vw->data_mr ? vw->data_mr->rkey : 0;
		for (int r = 0; r < w->size; r++)
			me->qpn[r] = vw->p[r].qp ? vw->p[r].qp->qp_num : 0;
	} else if (me) {
		me->status = rc;
	}
	if (!me) {
		/* Cannot even take part: the others time out. */
		free(all);
		vb_win_close(w, vw);
		return rc;
	}
	{
		int xrc = win_group_allgather(w->group, me, all, xlen);

		if (xrc && rc == WIN_OK)
			rc = xrc;
		else if (xrc)
			goto out;
	}
	for (int r = 0; r < w->size && rc == WIN_OK; r++) {
		const struct vb_xchg *x = (const void *)((char *)all +
							 (size_t)r * xlen);

		if (x->status)
			rc = win_seterr(x->status, "verbs: rank %d could not "
					"set up the window", r);
		else if (serves[r])
			rc = vb_connect(vw, r, me, x);
	}
	/* Nobody sends before every QP is ready to receive. */
	rc = win_agree(w->group, rc);
out:
	free(me);
	free(all);
	if (rc) {
		vb_win_close(w, vw);
		return rc;
	}
	vw->next = vs->wins;
	vs->wins = vw;
	*twp = vw;
	return WIN_OK;
}

/* ------------------------------------------------------------------ */
/* Put and get                                                         */
/* ------------------------------------------------------------------ */

static inline void rdma_wr(struct ibv_send_wr *wr, struct ibv_sge *sge,
			   enum ibv_wr_opcode op, uint64_t laddr, uint32_t len,
			   uint32_t lkey, uint64_t raddr, uint32_t rkey)
{
	sge->addr = laddr;
	sge->length = len;
	sge->lkey = lkey;
	wr->next = NULL;
	wr->sg_list = sge;
	wr->num_sge = 1;
	wr->opcode = op;
	wr->send_flags = 0;
	wr->wr.rdma.remote_addr = raddr;
	wr->wr.rdma.rkey = rkey;
}

/*
 * The local key of a registration that holds [addr, addr + len): the data
 * of a window of this process on the device. False if there is none.
 */
static bool registered(struct vb_state *vs, const void *addr, size_t len,
		       uint32_t *lkey)
{
	uintptr_t a = (uintptr_t)addr;

	for (struct vb_win *x = vs->wins; x; x = x->next) {
		struct ibv_mr *mr = x->data_mr;

		if (mr && a >= (uintptr_t)mr->addr && len <= mr->length &&
		    a - (uintptr_t)mr->addr <= mr->length - len) {
			*lkey = mr->lkey;
			return true;
		}
	}
	return false;
}

/*
 * A transfer from or into registered memory (`op` RDMA READ or WRITE):
 * the device reads or writes buf itself. Blocking, it returns once the
 * last request has completed; with a request, that completion completes
 * the request.
 */
static int rw_direct(struct vb_win *vw, int r, enum ibv_wr_opcode op,
		     void *buf, size_t len, size_t off, uint32_t lkey,
		     size_t chunk, struct win_req *req)
{
	struct vb_peer *p = &vw->p[r];
	int rc;

	for (size_t done = 0; done < len;) {
		size_t n = len - done < chunk ? len - done : chunk;
		struct ibv_send_wr wr;
		struct ibv_sge sge;

		rdma_wr(&wr, &sge, op, (uintptr_t)buf + done, (uint32_t)n,
			lkey, p->data_addr + off + done, p->data_rkey);
		if ((rc = post_list(vw, r, &wr, 1, done + n == len)))
			return rc;
		done += n;
	}
	if (req) {
		/* Complete with the last piece's request (RC: in order). */
		req->tp_data[0] = 0;
		req->tp_data[1] = (uint64_t)r;
		req->tp_data[2] = p->posted;
		req->done = 0;
		return WIN_OK;
	}
	return wait_seq(vw, r, p->posted);
}

static int vb_put(void *tw, int r, const void *src, size_t len, size_t off,
		  struct win_req *req)
{
	struct vb_win *vw = tw;
	struct vb_peer *p = &vw->p[r];
	struct ibv_send_wr wr;
	struct ibv_sge sge;
	uint32_t lkey;
	int rc;

	if (unlikely(len == 0))
		return WIN_OK;
	p->dirty = true;
	if (len <= vw->max_inline) {
		rdma_wr(&wr, &sge, IBV_WR_RDMA_WRITE, (uintptr_t)src,
			(uint32_t)len, 0, p->data_addr + off, p->data_rkey);
		wr.send_flags = IBV_SEND_INLINE;
		return post_list(vw, r, &wr, 1, false);
	}
	/* Non-blocking from registered memory: no copy, the request
	 * completes with the writes. (A blocking put copies instead, and
	 * returns without waiting for the device.) */
	if (req && registered(vw->vs, src, len, &lkey))
		return rw_direct(vw, r, IBV_WR_RDMA_WRITE, (void *)src, len,
				 off, lkey, VB_CHUNK, req);
	/* Through the ring: locally complete once copied. */
	for (size_t done = 0; done < len;) {
		size_t n = len - done < VB_CHUNK ? len - done : VB_CHUNK;
		uint64_t pos;
		char *b;

		if ((rc = ring_get(vw, n, &b, &pos)))
			return rc;
		memcpy(b, (const char *)src + done, n);
		rdma_wr(&wr, &sge, IBV_WR_RDMA_WRITE, (uintptr_t)b,
			(uint32_t)n, vw->buf_mr->lkey,
			p->data_addr + off + done, p->data_rkey);
		if ((rc = post_list(vw, r, &wr, 1, false)))
			return rc;
		ring_commit(vw, r, pos, n, NULL);
		done += n;
	}
	return WIN_OK;
}

struct ticket_arg {
	uint64_t ticket;
};

static bool ticket_done(struct vb_win *vw, void *arg)
{
	struct ticket_arg *a = arg;

	vb_retire(vw);
	return vw->etail > a->ticket;
}

/* Wait until the ring entry `ticket` has retired. */
static int wait_ticket(struct vb_win *vw, int r, uint64_t ticket)
{
	struct ticket_arg a = { ticket };
	int rc;

	if (ticket_done(vw, &a))
		return peer_status(vw, r);
	if ((rc = signal_ring(vw, ticket)))
		return rc;
	rc = vb_progress_until(vw, r, ticket_done, &a);
	return rc ? rc : peer_status(vw, r);
}

static int vb_get(void *tw, int r, void *dst, size_t len, size_t off,
		  struct win_req *req)
{
	struct vb_win *vw = tw;
	struct vb_peer *p = &vw->p[r];
	uint64_t ticket = 0;
	uint32_t lkey;
	int rc;

	size_t chunk = r == vw->w->rank ? vw->self_read : VB_CHUNK;

	if (unlikely(len == 0))
		return WIN_OK;
	if (registered(vw->vs, dst, len, &lkey))
		return rw_direct(vw, r, IBV_WR_RDMA_READ, dst, len, off, lkey,
				 chunk, req);
	for (size_t done = 0; done < len;) {
		size_t n = len - done < chunk ? len - done : chunk;
		struct ibv_send_wr wr;
		struct ibv_sge sge;
		uint64_t pos;
		char *b;
		bool last = done + n == len;

		if ((rc = ring_get(vw, n, &b, &pos)))
			return rc;
		rdma_wr(&wr, &sge, IBV_WR_RDMA_READ, (uintptr_t)b, (uint32_t)n,
			vw->buf_mr->lkey, p->data_addr + off + done,
			p->data_rkey);
		if ((rc = post_list(vw, r, &wr, 1, last)))
			return rc;
		ticket = ring_commit(vw, r, pos, n, (char *)dst + done);
		done += n;
	}
	if (req) {
		/* Completes when the last piece has been copied out. */
		req->tp_data[0] = ticket + 1;
		req->tp_data[1] = (uint64_t)r;
		req->done = 0;
		return WIN_OK;
	}
	return wait_ticket(vw, r, ticket);
}

static int vb_req_progress(void *tw, struct win_req *req, int *done)
{
	struct vb_win *vw = tw;
	struct ticket_arg a;
	int r = (int)req->tp_data[1];
	int rc;

	*done = 1;
	if (req->tp_data[2]) {
		/* A direct transfer: done when its last request has
		 * completed. */
		if (vw->p[r].completed >= req->tp_data[2])
			return peer_status(vw, r);
		if ((rc = vb_tick(vw->vs)) || (rc = vb_poll(vw)) < 0)
			return rc;
		*done = vw->p[r].completed >= req->tp_data[2];
		return peer_status(vw, r);
	}
	if (!req->tp_data[0])
		return WIN_OK;
	if ((rc = vb_tick(vw->vs)))
		return rc;
	a.ticket = req->tp_data[0] - 1;
	if (ticket_done(vw, &a))
		return peer_status(vw, r);
	if ((rc = signal_ring(vw, a.ticket)))
		return rc;
	if ((rc = vb_poll(vw)) < 0)
		return rc;
	if (ticket_done(vw, &a))
		return peer_status(vw, r);
	*done = 0;
	return peer_status(vw, r);
}

/*
 * Vector transfers: the origin side goes through the ring as one
 * contiguous piece; each target span is one request of a chain.
 */
static int vb_vector(struct vb_win *vw, int r, const struct iovec *iov,
		     int iovcnt, const struct win_span *spans, int nspans,
		     bool put)
{
	struct vb_peer *p = &vw->p[r];
	struct ibv_send_wr wrs[VB_CHAIN];
	struct ibv_sge sges[VB_CHAIN];
	size_t io = 0, so = 0;
	int i = 0, s = 0, rc;

	if (put)
		p->dirty = true;
	while (s < nspans) {
		/* One batch: spans (or parts of one) filling <= a chunk. */
		size_t room_left = !put && r == vw->w->rank ?
				   vw->self_read : VB_CHUNK, total = 0;
		int nwr = 0, s0 = s;
		size_t so0 = so;
		uint64_t pos;
		char *b;

		while (s < nspans && nwr < VB_CHAIN && room_left) {
			size_t n = spans[s].len - so;

			if (n > room_left)
				n = room_left;
			total += n;
			room_left -= n;
			nwr++;
			so += n;
			if (so == spans[s].len) {
				s++;
				so = 0;
			}
		}
		if (total == 0)
			break;
		if ((rc = ring_get(vw, total, &b, &pos)))
			return rc;
		/* Gather the origin pieces for a put. */
		{
			size_t left = total, bo = 0;
			int ii = i;
			size_t iio = io;

			while (left) {
				size_t n = iov[ii].iov_len - iio;

				if (n > left)
					n = left;
				if (put)
					memcpy(b + bo, (char *)iov[ii].iov_base +
					       iio, n);
				bo += n;
				left -= n;
				iio += n;
				if (iio == iov[ii].iov_len) {
					ii++;
					iio = 0;
				}
			}
			if (put) {
				i = ii;
				io = iio;
			}
		}
		/* The chain: one request per target piece. */
		{
			size_t bo = 0, sso = so0;
			int ss = s0;

			for (int k = 0; k < nwr; k++) {
				size_t n = spans[ss].len - sso;

				if (n > total - bo)
					n = total - bo;
				rdma_wr(&wrs[k], &sges[k], put ?
					IBV_WR_RDMA_WRITE : IBV_WR_RDMA_READ,
					(uintptr_t)(b + bo), (uint32_t)n,
					vw->buf_mr->lkey,
					p->data_addr + spans[ss].off + sso,
					p->data_rkey);
				if (k)
					wrs[k - 1].next = &wrs[k];
				bo += n;
				sso += n;
				if (sso == spans[ss].len) {
					ss++;
					sso = 0;
				}
			}
		}
		if ((rc = post_list(vw, r, wrs, nwr, !put)))
			return rc;
		{
			uint64_t t = ring_commit(vw, r, pos, total, NULL);

			if (!put) {
				/* Scatter once the reads are in. */
				size_t left = total, bo = 0;

				if ((rc = wait_seq(vw, r, p->posted)))
					return rc;
				while (left) {
					size_t n = iov[i].iov_len - io;

					if (n > left)
						n = left;
					memcpy((char *)iov[i].iov_base + io,
					       b + bo, n);
					bo += n;
					left -= n;
					io += n;
					if (io == iov[i].iov_len) {
						i++;
						io = 0;
					}
				}
				(void)t;
			}
		}
	}
	return WIN_OK;
}

static int vb_putv(void *tw, int rank, const struct iovec *iov, int iovcnt,
		   const struct win_span *spans, int nspans)
{
	return vb_vector(tw, rank, iov, iovcnt, spans, nspans, true);
}

static int vb_getv(void *tw, int rank, const struct iovec *iov, int iovcnt,
		   const struct win_span *spans, int nspans)
{
	return vb_vector(tw, rank, iov, iovcnt, spans, nspans, false);
}

/* ------------------------------------------------------------------ */
/* Atomics                                                             */
/* ------------------------------------------------------------------ */

/* One device atomic on a 64-bit word of r; the old value in *old. */
static int dev_atomic(struct vb_win *vw, int r, bool cas, uint64_t raddr,
		      uint32_t rkey, uint64_t a, uint64_t b, uint64_t *old)
{
	struct ibv_send_wr wr;
	struct ibv_sge sge;
	uint64_t *res = (uint64_t *)vw->buf;
	int rc;

	rdma_wr(&wr, &sge, cas ? IBV_WR_ATOMIC_CMP_AND_SWP :
				 IBV_WR_ATOMIC_FETCH_AND_ADD,
		(uintptr_t)res, 8, vw->buf_mr->lkey, 0, 0);
	wr.wr.atomic.remote_addr = raddr;
	wr.wr.atomic.rkey = rkey;
	wr.wr.atomic.compare_add = a;
	wr.wr.atomic.swap = b;
	if ((rc = post_list(vw, r, &wr, 1, true)))
		return rc;
	if ((rc = wait_seq(vw, r, vw->p[r].posted)))
		return rc;
	if (old)
		*old = __atomic_load_n(res, __ATOMIC_ACQUIRE);
	return WIN_OK;
}

static int data_fadd(struct vb_win *vw, int r, size_t off, uint64_t add,
		     uint64_t *old)
{
	return dev_atomic(vw, r, false, vw->p[r].data_addr + off,
			  vw->p[r].data_rkey, add, 0, old);
}

static int data_cas(struct vb_win *vw, int r, size_t off, uint64_t cmp,
		    uint64_t swp, uint64_t *old)
{
	return dev_atomic(vw, r, true, vw->p[r].data_addr + off,
			  vw->p[r].data_rkey, cmp, swp, old);
}

/* One 64-bit element: native when the device has the operation. */
static int amo64(struct vb_win *vw, int r, const struct win_amo *a,
		 size_t i)
{
	size_t off = a->off + i * 8;
	uint64_t old, nv, got;
	int rc;

	if (a->op == WIN_AMO_CSWAP) {
		rc = data_cas(vw, r, off, ((const uint64_t *)a->compare)[i],
			      ((const uint64_t *)a->operand)[i], &old);
	} else if (a->op == WIN_OP_NO_OP) {
		rc = data_fadd(vw, r, off, 0, &old);
	} else if (a->op == WIN_OP_SUM &&
		   (a->type == WIN_INT64 || a->type == WIN_UINT64)) {
		rc = data_fadd(vw, r, off, ((const uint64_t *)a->operand)[i],
			       &old);
	} else {
		/* Compare-and-swap loop, seeded with an atomic read. */
		if ((rc = data_fadd(vw, r, off, 0, &old)))
			return rc;
		for (;;) {
			struct win_amo one = *a;

			one.count = 1;
			one.operand = (const char *)a->operand + i * 8;
			if (!win_amo_compute(&one, 0, &old, &nv))
				break;
			if ((rc = data_cas(vw, r, off, old, nv, &got)))
				return rc;
			if (got == old)
				break;
			old = got;
		}
	}
	if (rc == WIN_OK && a->result)
		memcpy((char *)a->result + i * 8, &old, 8);
	return rc;
}

static int ctrl_addr_of(struct vb_win *vw, int r, unsigned word,
			uint64_t *addr)
{
	*addr = vw->p[r].ctrl_addr + (uint64_t)word * 8;
	return WIN_OK;
}

/* The target's AMO lock, for 32-bit elements. */
static int amo_lock(struct vb_win *vw, int r)
{
	uint64_t me = (uint64_t)vw->w->rank + 1, old, addr;
	uint64_t deadline = win_now_ms() + (uint64_t)vw->w->ctx->timeout_ms;
	unsigned backoff = 1;
	int rc;

	ctrl_addr_of(vw, r, WIN_CTRL_AMO_LOCK, &addr);
	for (;;) {
		if ((rc = dev_atomic(vw, r, true, addr, vw->p[r].ctrl_rkey, 0,
				     me, &old)))
			return rc;
		if (old == 0)
			return WIN_OK;
		if (win_now_ms() > deadline)
			return win_seterr(WIN_ERR_TIMEOUT, "verbs: atomics on "
					  "rank %d: its lock stays held by "
					  "rank %llu", r,
					  (unsigned long long)old - 1);
		if ((rc = win_group_check_peers(vw->w->group)))
			return rc;
		usleep(backoff);
		if (backoff < 1000)
			backoff *= 2;
	}
}

static int amo_unlock(struct vb_win *vw, int r)
{
	uint64_t me = (uint64_t)vw->w->rank + 1, addr, old;

	ctrl_addr_of(vw, r, WIN_CTRL_AMO_LOCK, &addr);
	return dev_atomic(vw, r, true, addr, vw->p[r].ctrl_rkey, me, 0, &old);
}

/* 32-bit elements: read, compute, write back under the target's lock. */
static int amo_locked(struct vb_win *vw, int r, const struct win_amo *a)
{
	size_t tsize = win_type_bytes(a->type);
	char *buf = vw->buf + 64;
	size_t cap = (r == vw->w->rank && vw->self_read < VB_SCRATCH - 64 ?
		      vw->self_read : VB_SCRATCH - 64) / tsize;
	struct vb_peer *p = &vw->p[r];
	int rc, rc2;

	if ((rc = amo_lock(vw, r)))
		return rc;
	for (size_t done = 0; done < a->count && rc == WIN_OK;) {
		size_t n = a->count - done < cap ? a->count - done : cap;
		size_t off = a->off + done * tsize;
		struct ibv_send_wr wr;
		struct ibv_sge sge;
		bool dirty = false;

		rdma_wr(&wr, &sge, IBV_WR_RDMA_READ, (uintptr_t)buf,
			(uint32_t)(n * tsize), vw->buf_mr->lkey,
			p->data_addr + off, p->data_rkey);
		if ((rc = post_list(vw, r, &wr, 1, true)) ||
		    (rc = wait_seq(vw, r, p->posted)))
			break;
		for (size_t k = 0; k < n; k++) {
			char *elem = buf + k * tsize;

			if (a->result)
				memcpy((char *)a->result + (done + k) * tsize,
				       elem, tsize);
			dirty |= win_amo_compute(a, done + k, elem, elem);
		}
		if (dirty) {
			/* The unlock's atomic follows on the same QP, so
			 * the write is placed before the lock is free. */
			rdma_wr(&wr, &sge, IBV_WR_RDMA_WRITE, (uintptr_t)buf,
				(uint32_t)(n * tsize), vw->buf_mr->lkey,
				p->data_addr + off, p->data_rkey);
			p->dirty = true;
			if ((rc = post_list(vw, r, &wr, 1, true)) ||
			    (rc = wait_seq(vw, r, p->posted)))
				break;
		}
		done += n;
	}
	rc2 = amo_unlock(vw, r);
	return rc ? rc : rc2;
}

static int vb_amo(void *tw, int r, const struct win_amo *a)
{
	struct vb_win *vw = tw;
	int rc = WIN_OK;

	if (win_type_bytes(a->type) != 8)
		return amo_locked(vw, r, a);
	for (size_t i = 0; i < a->count && rc == WIN_OK; i++)
		rc = amo64(vw, r, a, i);
	return rc;
}

static int vb_put_signal(void *tw, int r, const void *src, size_t len,
			 size_t off, size_t sig_off, uint64_t value,
			 int sig_op)
{
	struct vb_win *vw = tw;
	uint64_t old = 0, got;
	int rc = vb_put(tw, r, src, len, off, NULL);

	/* The signal is a device atomic after the data on the same QP: the
	 * responder executes them in order. */
	if (rc)
		return rc;
	if (sig_op == WIN_SIGNAL_ADD)
		return data_fadd(vw, r, sig_off, value, NULL);
	for (;;) {
		if ((rc = data_cas(vw, r, sig_off, old, value, &got)))
			return rc;
		if (got == old)
			return WIN_OK;
		old = got;
	}
}

/* Remote completion of everything posted to `r` (flush: see the top). */
VB_HOT int flush_peer(struct vb_win *vw, int r)
{
	struct vb_peer *p = &vw->p[r];
	int rc;

	if (!p->qp)
		return WIN_OK;
	if (unlikely(p->err))
		return peer_status(vw, r);
	if (vw->vs->flush_read && p->dirty) {
		struct ibv_send_wr wr;
		struct ibv_sge sge;

		rdma_wr(&wr, &sge, IBV_WR_RDMA_READ, (uintptr_t)(vw->buf + 8),
			8, vw->buf_mr->lkey, p->ctrl_addr, p->ctrl_rkey);
		if ((rc = post_list(vw, r, &wr, 1, true)))
			return rc;
	}
	if (p->completed < p->posted && (rc = wait_seq(vw, r, p->posted)))
		return rc;
	p->dirty = false;
	p->sig_all = p->posted - p->flushed <= 2;
	p->flushed = p->posted;
	return WIN_OK;
}

static int vb_flush(void *tw, int rank)
{
	struct vb_win *vw = tw;
	int rc;

	if ((rc = vb_tick(vw->vs)))
		return rc;
	if (rank >= 0) {
		rc = flush_peer(vw, rank);
	} else {
		for (int r = 0; r < vw->n && rc == WIN_OK; r++)
			rc = flush_peer(vw, r);
	}
	vb_retire(vw);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Control words                                                       */
/* ------------------------------------------------------------------ */

static int vb_ctrl_fadd(void *tw, int r, unsigned word, uint64_t add,
			uint64_t *old)
{
	struct vb_win *vw = tw;
	uint64_t addr;

	ctrl_addr_of(vw, r, word, &addr);
	return dev_atomic(vw, r, false, addr, vw->p[r].ctrl_rkey, add, 0, old);
}

static int vb_ctrl_cas(void *tw, int r, unsigned word, uint64_t cmp,
		       uint64_t swp, uint64_t *old)
{
	struct vb_win *vw = tw;
	uint64_t addr;

	ctrl_addr_of(vw, r, word, &addr);
	return dev_atomic(vw, r, true, addr, vw->p[r].ctrl_rkey, cmp, swp,
			  old);
}

static int vb_ctrl_read(void *tw, int r, unsigned word, uint64_t *val)
{
	struct vb_win *vw = tw;

	if (r == vw->w->rank) {
		*val = __atomic_load_n(win_ctrl_word(vw->w, word),
				       __ATOMIC_ACQUIRE);
		return WIN_OK;
	}
	return vb_ctrl_fadd(tw, r, word, 0, val);
}

/* Poll the word with an exponential back-off (nothing wakes us). */
static int vb_ctrl_wait(void *tw, int r, unsigned word, uint64_t seen,
			int timeout_ms)
{
	struct vb_win *vw = tw;
	uint64_t end = win_now_ms() + (uint64_t)timeout_ms, v;
	unsigned us = 2;
	int rc;

	for (;;) {
		/* Reads of the own word do not post: look at the device. */
		if ((rc = vb_tick(vw->vs)) || (rc = vb_ctrl_read(tw, r, word, &v)))
			return rc;
		if (v != seen || win_now_ms() >= end)
			return WIN_OK;
		if (r == vw->w->rank && us < 64) {
			for (unsigned i = 0; i < us * 64; i++)
				win_cpu_relax();
		} else {
			usleep(us);
		}
		if (us < 2000)
			us *= 2;
	}
}

static int vb_ctrl_wake(void *tw, int r, unsigned word)
{
	return WIN_OK;
}

/*
 * No part is given to the core for plain loads, stores and CPU atomics,
 * not even this member's own: its atomics must go through the device like
 * everyone else's. (The owner still reaches its own memory through
 * win_shared_query, which returns the window's base for itself.)
 */
static void *vb_direct(void *tw, int rank)
{
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Description                                                         */
/* ------------------------------------------------------------------ */

static const char *port_state(enum ibv_port_state s)
{
	switch (s) {
	case IBV_PORT_DOWN:
		return "down";
	case IBV_PORT_INIT:
		return "init";
	case IBV_PORT_ARMED:
		return "armed";
	case IBV_PORT_ACTIVE:
		return "active";
	case IBV_PORT_ACTIVE_DEFER:
		return "active-defer";
	default:
		return "nop";
	}
}

static void describe_device(struct ibv_device *dev, FILE *out)
{
	struct ibv_context *dc = ibv_open_device(dev);
	struct ibv_device_attr da;

	if (!dc || ibv_query_device(dc, &da)) {
		fprintf(out, "  device: %s (cannot open)\n",
			ibv_get_device_name(dev));
		if (dc)
			ibv_close_device(dc);
		return;
	}
	fprintf(out, "  device: %s (%d port%s, atomics %s, max_qp_wr %d, "
		"max_sge %d)\n", ibv_get_device_name(dev), da.phys_port_cnt,
		da.phys_port_cnt == 1 ? "" : "s",
		da.atomic_cap == IBV_ATOMIC_NONE ? "none" :
		da.atomic_cap == IBV_ATOMIC_HCA ? "HCA" : "global",
		da.max_qp_wr, da.max_sge);
	for (int p = 1; p <= da.phys_port_cnt; p++) {
		struct ibv_port_attr pa;

		if (ibv_query_port(dc, (uint8_t)p, &pa))
			continue;
		fprintf(out, "  port: %s/%d state %s, link %s, active MTU %d, "
			"max MTU %d, lid %u\n", ibv_get_device_name(dev), p,
			port_state(pa.state),
			pa.link_layer == IBV_LINK_LAYER_ETHERNET ? "Ethernet" :
								  "InfiniBand",
			128 << pa.active_mtu, 128 << pa.max_mtu, pa.lid);
		for (int i = 0; i < pa.gid_tbl_len; i++) {
			struct ibv_gid_entry e;
			char s[64];

			if (ibv_query_gid_ex(dc, (uint8_t)p, (uint32_t)i, &e,
					     0) || gid_zero(&e.gid))
				continue;
			gid_str(&e.gid, s, sizeof(s));
			fprintf(out, "  gid: %s/%d[%d] %s %s\n",
				ibv_get_device_name(dev), p, i, s,
				gid_type_name((int)e.gid_type));
		}
	}
	ibv_close_device(dc);
}

static void vb_describe(void *state, FILE *out)
{
	struct vb_state *vs = state;
	struct ibv_device **list;
	char g[64] = "LID";
	int n = 0;

	list = ibv_get_device_list(&n);
	for (int i = 0; list && i < n; i++)
		describe_device(list[i], out);
	if (list)
		ibv_free_device_list(list);
	if (vb_up(vs)) {
		fprintf(out, "  selected: none (%s)\n", win_last_error());
		return;
	}
	vb_check_device(vs, true);
	if (vs->gid_index >= 0)
		gid_str(&vs->gid, g, sizeof(g));
	fprintf(out, "  selected: %s port %u, gid index %d (%s%s%s)\n",
		vs->devname, vs->port, vs->gid_index, g,
		vs->gid_index >= 0 ? ", " : "",
		vs->gid_index >= 0 ? gid_type_name(vs->gid_type) : "");
	fprintf(out, "  device watch: %s%s%s\n", vs->async_ok ?
		"asynchronous events" : "no events (descriptor stays blocking)",
		vs->presence[0] ? ", removal through " : "",
		vs->presence[0] ? vs->presence : "");
	if (vs->dead)
		fprintf(out, "  device state: %s\n", vs->dead_why);
	else if (vs->port_events)
		fprintf(out, "  device state: port %u %s (%u port error event%s "
			"seen)\n", vs->port, vs->port_down ? "down" : "up again",
			vs->port_events, vs->port_events == 1 ? "" : "s");
	fprintf(out, "  put: native (RDMA WRITE; inline when small, "
		"non-blocking ones straight from the data of one of this "
		"process's windows, else through a registered bounce ring)\n");
	fprintf(out, "  get: native (RDMA READ straight into the data of "
		"one of this process's windows, else into a registered "
		"bounce ring)\n");
	fprintf(out, "  putv/getv/strided: native (chained work requests, "
		"one per target piece)\n");
	fprintf(out, "  flush: %s\n", vs->flush_read ?
		"native (acknowledgements, plus an RDMA READ after writes)" :
		"native (acknowledgements of the RC queue pair)");
	fprintf(out, "  atomics 64-bit fetch-add (int64/uint64 sum), "
		"compare-swap, no-op: native (device atomics)\n");
	fprintf(out, "  atomics 64-bit other ops and float/double: emulated "
		"(compare-and-swap loop)\n");
	fprintf(out, "  atomics 32-bit types: emulated (read-modify-write "
		"under the target's lock word)\n");
	fprintf(out, "  locks, fence, post/start/complete/wait: native "
		"(device atomics on control words; waits poll)\n");
	fprintf(out, "  put with signal: native (write, then a device "
		"atomic on the signal word)\n");
}

const struct win_transport win_verbs_transport = {
	.name = "verbs",
	.open = vb_open,
	.close = vb_close,
	.reaches = vb_reaches,
	.win_open = vb_win_open,
	.win_close = vb_win_close,
	.direct = vb_direct,
	.put = vb_put,
	.get = vb_get,
	.putv = vb_putv,
	.getv = vb_getv,
	.amo = vb_amo,
	.put_signal = vb_put_signal,
	.flush = vb_flush,
	.req_progress = vb_req_progress,
	.ctrl_fadd = vb_ctrl_fadd,
	.ctrl_cas = vb_ctrl_cas,
	.ctrl_read = vb_ctrl_read,
	.ctrl_wait = vb_ctrl_wait,
	.ctrl_wake = vb_ctrl_wake,
	.describe = vb_describe,
};
