/* Windows: collective creation and release, queries. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/ctrl.h"
#include "core/internal.h"
#include "core/rma.h"

/* What each member tells the others when a window is created. */
struct win_exchange {
	int32_t status;
	int32_t flavor;
	int32_t disp_unit;
	int32_t pad;
	uint64_t len;
};

int win_agree(struct win_group *g, int status)
{
	int32_t mine = status;
	int32_t *all = malloc(sizeof(*all) * (size_t)g->size);
	int rc;

	if (!all)
		return win_seterr(WIN_ERR_NOMEM, "win_agree");
	rc = win_group_allgather(g, &mine, all, sizeof(mine));
	if (rc == WIN_OK && status == WIN_OK) {
		for (int r = 0; r < g->size; r++) {
			if (all[r] != WIN_OK) {
				rc = win_seterr(all[r], "rank %d failed: %s",
						r, win_strerror(all[r]));
				break;
			}
		}
	}
	free(all);
	return rc ? rc : status;
}

uint64_t *win_ctrl_word(struct win *w, unsigned word)
{
	return (uint64_t *)w->ctrl.addr + word;
}

static int win_alloc_state(struct win *w)
{
	size_t n = (size_t)w->size;

	w->peers = calloc(n, sizeof(*w->peers));
	w->access = calloc(n, 4);
	w->post_seen = calloc(n, sizeof(uint64_t));
	w->complete_seen = calloc(n, sizeof(uint64_t));
	if (!w->peers || !w->access || !w->post_seen || !w->complete_seen)
		return win_seterr(WIN_ERR_NOMEM, "window state");
	w->locked = w->access + n;
	w->started = w->access + 2 * n;
	w->posted = w->access + 3 * n;
	return WIN_OK;
}

static void win_free_state(struct win *w)
{
	free(w->peers);
	free(w->access);
	free(w->post_seen);
	free(w->complete_seen);
	w->peers = NULL;
	w->access = NULL;
	w->post_seen = NULL;
	w->complete_seen = NULL;
}

/* Local memory of the window: the data segment and the control block. */
static void *win_tp_state(struct win *w, const struct win_transport *tp)
{
	for (int i = 0; i < w->ctx->ntp; i++)
		if (w->ctx->tp[i] == tp)
			return w->ctx->tp_state[i];
	return NULL;
}

static int win_local_memory(struct win *w, size_t len, void *base)
{
	const struct win_transport *own;
	int rc;

	w->data.fd = -1;
	w->ctrl.fd = -1;
	rc = win_segment_create(&w->ctrl, "libwin-ctrl",
				win_ctrl_bytes(w->size));
	if (rc)
		return rc;
	if (w->flavor == WIN_FLAVOR_CREATE) {
		w->base = base;
		w->data_lib = base;
		win_created_attach(w);
		return WIN_OK;
	}
	own = w->peers[w->rank].tp;
	if (own && own->mem_alloc)
		rc = own->mem_alloc(win_tp_state(w, own), w, len, &w->data);
	else
		rc = win_segment_create(&w->data, "libwin-window", len);
	if (rc)
		return rc;
	w->base = w->data.addr;
	w->data_lib = w->data.addr;
	if ((w->flags & WIN_OPT_ENFORCE_DONT_TOUCH) &&
	    !(own && own->expose)) {
		/* A second view for the library, so the owner's can be
		 * revoked while the library keeps working. */
		void *p = mmap(NULL, w->data.len, PROT_READ | PROT_WRITE,
			       MAP_SHARED, w->data.fd, 0);

		if (p == MAP_FAILED)
			return win_seterr_sys(WIN_ERR_NOMEM, errno,
					      "library view of the window");
		w->data_lib = p;
	}
	return WIN_OK;
}

static void win_local_memory_free(struct win *w)
{
	if (w->data_lib && w->data_lib != w->base && w->data.addr)
		munmap(w->data_lib, w->data.len);
	w->data_lib = NULL;
	if (w->flavor == WIN_FLAVOR_CREATE)
		win_created_detach(w);
	win_segment_destroy(&w->data);
	win_segment_destroy(&w->ctrl);
}

static int win_open_transports(struct win *w)
{
	struct win_ctx *ctx = w->ctx;
	bool *serves = calloc((size_t)w->size, sizeof(bool));
	int rc = WIN_OK;

	if (!serves)
		return win_seterr(WIN_ERR_NOMEM, "window transports");
	/* Every transport joins every window's setup, so the collective
	 * calls inside stay matched across members. */
	for (int i = 0; i < ctx->ntp && rc == WIN_OK; i++) {
		for (int r = 0; r < w->size; r++)
			serves[r] = w->peers[r].tp == ctx->tp[i] ||
				    w->peers[r].atp == ctx->tp[i];
		rc = ctx->tp[i]->win_open(w, ctx->tp_state[i], serves,
					  &w->tw[i]);
		for (int r = 0; r < w->size && rc == WIN_OK; r++) {
			struct win_peer *p = &w->peers[r];

			if (p->atp == ctx->tp[i])
				p->atw = w->tw[i];
			if (p->tp != ctx->tp[i])
				continue;
			p->tw = w->tw[i];
			if (ctx->tp[i]->direct)
				p->map = ctx->tp[i]->direct(w->tw[i], r);
		}
	}
	for (int r = 0; r < w->size; r++) {
		struct win_peer *p = &w->peers[r];

		p->cpu_amo = p->atp == p->tp && p->tp->cpu_atomics;
	}
	free(serves);
	return rc;
}

static void win_close_transports(struct win *w)
{
	for (int i = 0; i < w->ctx->ntp; i++) {
		if (w->tw[i])
			w->ctx->tp[i]->win_close(w, w->tw[i]);
		w->tw[i] = NULL;
	}
}

static int win_setup(win_group_t *g, int flavor, void *base, size_t len,
		     int disp_unit, const win_opts_t *opts, win_t **winp)
{
	struct win_exchange me, *all = NULL;
	struct win *w;
	int rc;

	if (win_group_check(g))
		return WIN_ERR_HANDLE;
	if (!winp)
		return win_seterr(WIN_ERR_ARG, "window pointer is NULL");
	*winp = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return win_seterr(WIN_ERR_NOMEM, "window");
	w->ctx = g->ctx;
	w->group = g;
	w->rank = g->rank;
	w->size = g->size;
	w->flavor = flavor;
	w->flags = opts ? opts->flags : 0;
	w->len = len;
	w->disp_unit = disp_unit;
	w->data.fd = -1;
	w->ctrl.fd = -1;

	/* Local checks first; their verdict is shared before anyone waits
	 * on a member that has already given up. */
	rc = WIN_OK;
	if (disp_unit < 1)
		rc = win_seterr(WIN_ERR_ARG, "displacement unit %d < 1",
				disp_unit);
	else if (opts && (opts->flags & ~(WIN_OPT_ENFORCE_DONT_TOUCH |
					  WIN_OPT_NO_LOCKS)))
		rc = win_seterr(WIN_ERR_ARG, "unknown window option 0x%x",
				opts->flags);
	else if (flavor == WIN_FLAVOR_CREATE && len && !base)
		rc = win_seterr(WIN_ERR_ARG, "NULL base for %zu bytes", len);
	else if (flavor == WIN_FLAVOR_CREATE &&
		 (w->flags & WIN_OPT_ENFORCE_DONT_TOUCH))
		rc = win_seterr(WIN_ERR_UNSUPPORTED, "don't-touch enforcement "
				"needs an allocated window");
	if (rc == WIN_OK)
		rc = win_alloc_state(w);
	/* Transports are chosen first: the one serving this member itself
	 * may provide the memory of an allocated window. */
	if (rc == WIN_OK)
		rc = win_select_transports(w);
	if (rc == WIN_OK)
		rc = win_local_memory(w, len, base);

	me = (struct win_exchange){ .status = rc, .flavor = flavor,
				    .disp_unit = disp_unit, .len = len };
	all = calloc((size_t)w->size, sizeof(*all));
	if (!all) {
		rc = win_seterr(WIN_ERR_NOMEM, "window exchange");
		goto fail; /* the others time out on their barrier */
	}
	{
		int xrc = win_group_allgather(g, &me, all, sizeof(me));

		if (xrc) {
			rc = xrc;
			goto fail;
		}
	}
	for (int r = 0; r < w->size && rc == WIN_OK; r++) {
		if (all[r].status != WIN_OK)
			rc = win_seterr(all[r].status, "window creation failed "
					"on rank %d (%s)", r,
					win_strerror(all[r].status));
		else if (all[r].flavor != flavor)
			rc = win_seterr(WIN_ERR_MISMATCH, "rank %d creates a "
					"window of another flavour", r);
	}
	if (rc)
		goto fail;
	for (int r = 0; r < w->size; r++) {
		w->peers[r].size = all[r].len;
		w->peers[r].disp_unit = all[r].disp_unit;
	}
	free(all);
	all = NULL;

	rc = win_agree(g, win_open_transports(w));
	if (rc)
		goto fail_open;
	w->magic = WIN_MAGIC_WIN;
	w->next = g->ctx->wins;
	g->ctx->wins = w;
	*winp = w;
	return WIN_OK;

fail_open:
	win_close_transports(w);
fail:
	free(all);
	win_local_memory_free(w);
	win_free_state(w);
	free(w);
	return rc;
}

int win_create(win_group_t *g, void *base, size_t size, int disp_unit,
	       const win_opts_t *opts, win_t **win)
{
	return win_setup(g, WIN_FLAVOR_CREATE, base, size, disp_unit, opts,
			 win);
}

int win_allocate(win_group_t *g, size_t size, int disp_unit,
		 const win_opts_t *opts, void **base, win_t **win)
{
	int rc;

	if (!base)
		return win_seterr(WIN_ERR_ARG, "base pointer is NULL");
	*base = NULL;
	rc = win_setup(g, WIN_FLAVOR_ALLOCATE, NULL, size, disp_unit, opts,
		       win);
	if (rc == WIN_OK)
		*base = (*win)->base;
	return rc;
}

static void win_stage_release_all(struct win *w);

void win_release_local(struct win *w)
{
	if (w->revoked)
		win_expose(w, false);
	win_stage_release_all(w);
	win_close_transports(w);
	win_local_memory_free(w);
	win_free_state(w);
	/* The struct stays (as a tombstone) until win_finalize, so a stale
	 * handle is reported rather than followed. */
	w->magic = WIN_MAGIC_DEAD;
}

int win_free(win_t *w)
{
	int rc;

	if (win_check(w))
		return WIN_ERR_HANDLE;
	if (w->fence_open && !w->fence_used)
		w->fence_open = false;
	if (w->fence_open || w->start_open || w->post_open || w->lock_all ||
	    w->nlocked)
		return win_seterr(WIN_ERR_SYNC, "win_free: an epoch is still "
				  "open on the window");
	/* Nobody may release memory a peer is still working on. */
	rc = win_group_barrier(w->group);
	win_release_local(w);
	return rc;
}

int win_query(win_t *w, void **base, size_t *size, int *disp_unit,
	      int *flavor)
{
	if (win_check(w))
		return WIN_ERR_HANDLE;
	if (base)
		*base = w->base;
	if (size)
		*size = w->len;
	if (disp_unit)
		*disp_unit = w->disp_unit;
	if (flavor)
		*flavor = w->flavor;
	return WIN_OK;
}

int win_shared_query(win_t *w, int rank, void **base, size_t *size,
		     int *disp_unit)
{
	void *p = NULL;

	if (win_check(w))
		return WIN_ERR_HANDLE;
	if ((unsigned)rank >= (unsigned)w->size)
		return win_seterr(WIN_ERR_RANK, "rank %d outside 0..%d", rank,
				  w->size - 1);
	if (w->flavor == WIN_FLAVOR_ALLOCATE && w->peers[rank].tp->direct)
		p = rank == w->rank ? w->base :
			w->peers[rank].tp->direct(w->peers[rank].tw, rank);
	if (!p)
		return win_seterr(WIN_ERR_UNSUPPORTED, "rank %d's part has no "
				  "direct mapping here", rank);
	if (base)
		*base = p;
	if (size)
		*size = w->peers[rank].size;
	if (disp_unit)
		*disp_unit = w->peers[rank].disp_unit;
	return WIN_OK;
}

const char *win_transport_name(win_t *w, int rank)
{
	if (win_check(w) || (unsigned)rank >= (unsigned)w->size)
		return "none";
	return w->peers[rank].tp->name;
}

int win_expose(struct win *w, bool exposed)
{
	struct win_peer *self;

	if (!(w->flags & WIN_OPT_ENFORCE_DONT_TOUCH) ||
	    w->flavor != WIN_FLAVOR_ALLOCATE || exposed == w->revoked)
		return WIN_OK;
	self = &w->peers[w->rank];
	if (self->tp->expose) {
		/* The transport revokes every mapping this process has of
		 * the part; the core goes through the transport meanwhile. */
		int rc = self->tp->expose(self->tw, exposed);

		if (rc)
			return rc;
		self->map = exposed ? NULL : self->tp->direct ?
			self->tp->direct(self->tw, w->rank) : NULL;
		w->revoked = exposed;
		return WIN_OK;
	}
	if (mprotect(w->base, w->data.len,
		     exposed ? PROT_NONE : PROT_READ | PROT_WRITE) < 0)
		return win_seterr_sys(WIN_ERR_SYS, errno, "mprotect of the "
				      "owner's window mapping");
	w->revoked = exposed;
	return WIN_OK;
}

/* ---- staging buffers ---- */

/* Staging buffers handed out, over all windows (few; a list will do). */
struct win_stage {
	struct win_stage *next;
	struct win *w;
	char *buf;
	size_t len;
	const struct win_transport *tp; /* provider, or NULL: ordinary memory */
	void *tw;
};

static struct win_stage *stages;
static pthread_mutex_t stage_lock = PTHREAD_MUTEX_INITIALIZER;

static void stage_release(struct win_stage *s)
{
	if (s->tp)
		s->tp->stage_free(s->tw, s->buf, s->len);
	else
		free(s->buf);
	free(s);
}

static void win_stage_release_all(struct win *w)
{
	struct win_stage **pp, *mine = NULL;

	pthread_mutex_lock(&stage_lock);
	for (pp = &stages; *pp;) {
		struct win_stage *s = *pp;

		if (s->w == w) {
			*pp = s->next;
			s->next = mine;
			mine = s;
		} else {
			pp = &s->next;
		}
	}
	pthread_mutex_unlock(&stage_lock);
	while (mine) {
		struct win_stage *s = mine;

		mine = s->next;
		stage_release(s);
	}
}

int win_stage_alloc(win_t *w, size_t len, void **buf)
{
	const struct win_peer *self;
	struct win_stage *s;
	int rc = WIN_ERR_UNSUPPORTED;

	if (win_check(w))
		return WIN_ERR_HANDLE;
	if (!buf)
		return win_seterr(WIN_ERR_ARG, "buffer pointer is NULL");
	*buf = NULL;
	if (len == 0)
		return win_seterr(WIN_ERR_LENGTH, "staging buffer of 0 bytes");
	if (!(s = calloc(1, sizeof(*s))))
		return win_seterr(WIN_ERR_NOMEM, "staging buffer");
	s->w = w;
	s->len = len;
	self = &w->peers[w->rank];
	if (self->tp->stage_alloc) {
		rc = self->tp->stage_alloc(self->tw, len, (void **)&s->buf);
		if (rc == WIN_OK) {
			s->tp = self->tp;
			s->tw = self->tw;
		} else if (rc != WIN_ERR_NOMEM && rc != WIN_ERR_UNSUPPORTED) {
			free(s);
			return rc;
		}
	}
	if (rc != WIN_OK) {
		/* Ordinary page-aligned memory: staged puts are plain puts. */
		size_t pg = win_page_size();

		if (posix_memalign((void **)&s->buf, pg,
				   (len + pg - 1) / pg * pg)) {
			free(s);
			return win_seterr(WIN_ERR_NOMEM, "staging buffer of %zu "
					  "bytes", len);
		}
	}
	pthread_mutex_lock(&stage_lock);
	s->next = stages;
	stages = s;
	pthread_mutex_unlock(&stage_lock);
	*buf = s->buf;
	return WIN_OK;
}

/* The staging buffer of `w` holding [buf, buf+len), or NULL. */
static struct win_stage *stage_find(struct win *w, const char *buf,
				    size_t len)
{
	struct win_stage *s;

	pthread_mutex_lock(&stage_lock);
	for (s = stages; s; s = s->next) {
		if (s->w != w)
			continue;
		if (buf >= s->buf && (size_t)(buf - s->buf) <= s->len &&
		    len <= s->len - (size_t)(buf - s->buf))
			break;
	}
	pthread_mutex_unlock(&stage_lock);
	return s;
}

int win_put_staged(win_t *w, void *buf, size_t len, int rank, size_t disp)
{
	const struct win_peer *p;
	struct win_stage *s;
	size_t off = 0;
	int rc = win_target_check(w, rank, disp, len, &off);

	if (rc)
		return rc;
	if (!buf || !(s = stage_find(w, buf, len)))
		return win_seterr(WIN_ERR_ARG, "%zu bytes at %p are not in a "
				  "staging buffer of this window", len, buf);
	p = &w->peers[rank];
	if (len && s->tp && p->tp == s->tp && p->tp->put_staged)
		return p->tp->put_staged(p->tw, rank, buf, len, off);
	return win_put(w, buf, len, rank, disp);
}

int win_stage_free(win_t *w, void *buf)
{
	struct win_stage **pp, *s = NULL;

	if (win_check(w))
		return WIN_ERR_HANDLE;
	if (!buf)
		return WIN_OK;
	pthread_mutex_lock(&stage_lock);
	for (pp = &stages; *pp; pp = &(*pp)->next) {
		if ((*pp)->w == w && (*pp)->buf == buf) {
			s = *pp;
			*pp = s->next;
			break;
		}
	}
	pthread_mutex_unlock(&stage_lock);
	if (!s)
		return win_seterr(WIN_ERR_ARG, "%p is not a staging buffer of "
				  "this window", buf);
	stage_release(s);
	return WIN_OK;
}
