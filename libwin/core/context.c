/* The context: configuration, transports, request pool. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/internal.h"

#define REQ_CHUNK 64

struct win_req_chunk {
	struct win_req_chunk *next;
	struct win_req reqs[REQ_CHUNK];
};

uint64_t win_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t win_now_ms(void)
{
	return win_now_us() / 1000;
}

/*
 * Live contexts. A finalized context's memory is gone, so its handle is
 * recognised by absence from this list rather than by reading it.
 */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct win_ctx *live_head;

static void ctx_link(struct win_ctx *ctx, bool add)
{
	struct win_ctx **pp;

	pthread_mutex_lock(&live_lock);
	if (add) {
		ctx->next_live = live_head;
		live_head = ctx;
	} else {
		for (pp = &live_head; *pp; pp = &(*pp)->next_live) {
			if (*pp == ctx) {
				*pp = ctx->next_live;
				break;
			}
		}
	}
	pthread_mutex_unlock(&live_lock);
}

bool win_ctx_live(const struct win_ctx *ctx)
{
	bool found = false;

	if (!ctx)
		return false;
	pthread_mutex_lock(&live_lock);
	for (const struct win_ctx *c = live_head; c && !found;
	     c = c->next_live)
		found = c == ctx;
	pthread_mutex_unlock(&live_lock);
	return found;
}

static int parse_log_level(const char *s, int *level)
{
	static const char *const names[] = { "none", "error", "warn", "info",
					     "debug" };
	char *end;
	long v;

	for (int i = 0; i < 5; i++) {
		if (!strcasecmp(s, names[i])) {
			*level = i;
			return WIN_OK;
		}
	}
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0' || v < 0 || v > 4)
		return win_seterr(WIN_ERR_ARG, "bad log level '%s' "
				  "(0..4 or none/error/warn/info/debug)", s);
	*level = (int)v;
	return WIN_OK;
}

static const struct win_transport *find_transport(const char *name,
						  size_t len)
{
	for (int i = 0; win_transports[i]; i++) {
		if (strlen(win_transports[i]->name) == len &&
		    !strncmp(win_transports[i]->name, name, len))
			return win_transports[i];
	}
	return NULL;
}

static bool known_transport(const char *name, size_t len)
{
	static const char *const all[] = { "shm", "kshim", "verbs", "ofi" };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (strlen(all[i]) == len && !strncmp(all[i], name, len))
			return true;
	return false;
}

/* Fill ctx->tp[] from a comma list (or every built transport if NULL). */
static int choose_transports(struct win_ctx *ctx, const char *list)
{
	const struct win_transport *want[WIN_MAX_TRANSPORTS];
	int nwant = 0;
	bool explicit = list != NULL;

	if (!list) {
		for (int i = 0; win_transports[i] && i < WIN_MAX_TRANSPORTS; i++)
			want[nwant++] = win_transports[i];
	} else {
		const char *p = list;

		while (*p) {
			size_t len = strcspn(p, ",");
			const struct win_transport *t;

			if (len == 0) {
				p++;
				continue;
			}
			t = find_transport(p, len);
			if (!t && known_transport(p, len))
				return win_seterr(WIN_ERR_UNSUPPORTED,
						  "transport '%.*s' is not built "
						  "into this libwin", (int)len, p);
			if (!t)
				return win_seterr(WIN_ERR_ARG,
						  "unknown transport '%.*s' "
						  "(shm, kshim, verbs, ofi)",
						  (int)len, p);
			if (nwant < WIN_MAX_TRANSPORTS)
				want[nwant++] = t;
			p += len;
		}
		if (nwant == 0)
			return win_seterr(WIN_ERR_ARG, "empty transport list");
	}

	for (int i = 0; i < nwant; i++) {
		void *state = NULL;
		int rc = want[i]->open(ctx, &state);

		if (rc == WIN_OK) {
			ctx->tp[ctx->ntp] = want[i];
			ctx->tp_state[ctx->ntp++] = state;
			continue;
		}
		win_log(ctx, explicit ? WIN_LOG_WARN : WIN_LOG_INFO,
			"transport %s unavailable: %s", want[i]->name,
			win_last_error());
		for (int j = 0; win_transports[j] && j < WIN_MAX_TRANSPORTS; j++)
			if (win_transports[j] == want[i])
				snprintf(ctx->tp_why[j], sizeof(ctx->tp_why[j]),
					 "%s", win_last_error());
	}
	if (ctx->ntp == 0)
		return win_seterr(WIN_ERR_TRANSPORT,
				  "none of the requested transports can run "
				  "here");
	return WIN_OK;
}

int win_init(const win_config_t *config, win_ctx_t **ctxp)
{
	struct win_ctx *ctx;
	const char *env;
	const char *list = NULL;
	int rc;

	if (!ctxp)
		return win_seterr(WIN_ERR_ARG, "win_init: ctx pointer is NULL");
	*ctxp = NULL;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return win_seterr(WIN_ERR_NOMEM, "win_init");
	ctx->magic = WIN_MAGIC_CTX;
	ctx->log_level = WIN_LOG_ERROR;
	ctx->timeout_ms = 60000;

	env = getenv("WIN_LOG_LEVEL");
	if (config && config->log_level)
		ctx->log_level = config->log_level;
	else if (env && *env && (rc = parse_log_level(env, &ctx->log_level)))
		goto fail;
	if (ctx->log_level < 0 || ctx->log_level > WIN_LOG_DEBUG) {
		rc = win_seterr(WIN_ERR_ARG, "log level %d outside 0..4",
				ctx->log_level);
		goto fail;
	}

	env = getenv("WIN_TIMEOUT_MS");
	if (config && config->timeout_ms) {
		ctx->timeout_ms = config->timeout_ms;
	} else if (env && *env) {
		char *end;
		long v = strtol(env, &end, 10);

		if (*end || v <= 0 || v > 86400000) {
			rc = win_seterr(WIN_ERR_ARG, "bad WIN_TIMEOUT_MS '%s'",
					env);
			goto fail;
		}
		ctx->timeout_ms = (int)v;
	}
	if (ctx->timeout_ms <= 0) {
		rc = win_seterr(WIN_ERR_ARG, "timeout %d ms", ctx->timeout_ms);
		goto fail;
	}

	env = getenv("WIN_TRANSPORTS");
	if (config && config->transports)
		list = config->transports;
	else if (env && *env)
		list = env;
	rc = choose_transports(ctx, list);
	if (rc)
		goto fail;
	ctx_link(ctx, true);
	*ctxp = ctx;
	return WIN_OK;
fail:
	for (int i = 0; i < ctx->ntp; i++)
		ctx->tp[i]->close(ctx->tp_state[i]);
	free(ctx);
	return rc;
}

/* Take a win_mem_alloc'ed segment off its list and release it. */
static void mem_unlink(struct win_mem **pp)
{
	struct win_mem *m = *pp;

	*pp = m->next;
	win_segment_destroy(&m->seg);
	free(m);
}

int win_finalize(win_ctx_t *ctx)
{
	if (!win_ctx_live(ctx))
		return win_seterr(WIN_ERR_HANDLE, "win_finalize: invalid or "
				  "finalized context");
	ctx_link(ctx, false);
	while (ctx->wins) {
		struct win *w = ctx->wins;

		ctx->wins = w->next;
		/* Peers may be gone already: release without talking. */
		if (w->magic == WIN_MAGIC_WIN)
			win_release_local(w);
		free(w);
	}
	while (ctx->groups)
		win_group_leave(ctx->groups);
	while (ctx->dead_groups) {
		struct win_group *g = ctx->dead_groups;

		ctx->dead_groups = g->next;
		free(g);
	}
	for (int i = 0; i < ctx->ntp; i++)
		ctx->tp[i]->close(ctx->tp_state[i]);
	while (ctx->mems)
		mem_unlink(&ctx->mems);
	while (ctx->req_chunks) {
		struct win_req_chunk *c = ctx->req_chunks;

		ctx->req_chunks = c->next;
		free(c);
	}
	ctx->magic = WIN_MAGIC_DEAD;
	free(ctx);
	return WIN_OK;
}

struct win_req *win_req_alloc(struct win_ctx *ctx)
{
	struct win_req *r = ctx->req_free;

	if (!r) {
		struct win_req_chunk *c = calloc(1, sizeof(*c));

		if (!c) {
			win_seterr(WIN_ERR_NOMEM, "request pool");
			return NULL;
		}
		c->next = ctx->req_chunks;
		ctx->req_chunks = c;
		for (int i = REQ_CHUNK - 1; i >= 0; i--) {
			c->reqs[i].next_free = ctx->req_free;
			ctx->req_free = &c->reqs[i];
		}
		r = ctx->req_free;
	}
	ctx->req_free = r->next_free;
	memset(r, 0, sizeof(*r));
	r->magic = WIN_MAGIC_REQ;
	r->done = 1;
	r->ctx = ctx;
	return r;
}

void win_req_release(struct win_ctx *ctx, struct win_req *r)
{
	r->magic = WIN_MAGIC_DEAD;
	r->next_free = ctx->req_free;
	ctx->req_free = r;
}

int win_req_test(win_req_t **reqp, int *done)
{
	struct win_req *r;
	int rc;

	if (!reqp || !done)
		return win_seterr(WIN_ERR_ARG, "win_req_test: NULL argument");
	r = *reqp;
	if (!r || r->magic != WIN_MAGIC_REQ)
		return win_seterr(WIN_ERR_HANDLE,
				  "win_req_test: request is NULL or completed");
	*done = 0;
	if (!r->done) {
		rc = r->tp->req_progress(r->tw, r, &r->done);
		if (rc) {
			r->status = rc;
			r->done = 1;
		}
		if (!r->done)
			return WIN_OK;
	}
	*done = 1;
	rc = r->status;
	win_req_release(r->ctx, r);
	*reqp = NULL;
	return rc;
}

int win_req_wait(win_req_t **reqp)
{
	int done = 0;
	int rc;

	if (!reqp)
		return win_seterr(WIN_ERR_ARG, "win_req_wait: NULL argument");
	while ((rc = win_req_test(reqp, &done)) == WIN_OK && !done)
		;
	return rc;
}

int win_describe(win_ctx_t *ctx, FILE *out)
{
	if (!win_ctx_live(ctx))
		return win_seterr(WIN_ERR_HANDLE, "not a live context");
	if (!out)
		return win_seterr(WIN_ERR_ARG, "output stream is NULL");
	fprintf(out, "libwin %s\n", PACKAGE_VERSION);
	for (int j = 0; win_transports[j] && j < WIN_MAX_TRANSPORTS; j++) {
		const struct win_transport *t = win_transports[j];
		int i;

		for (i = 0; i < ctx->ntp && ctx->tp[i] != t; i++)
			;
		if (i < ctx->ntp) {
			fprintf(out, "transport %s: available\n", t->name);
			if (t->describe)
				t->describe(ctx->tp_state[i], out);
		} else {
			fprintf(out, "transport %s: unavailable: %s\n", t->name,
				ctx->tp_why[j][0] ? ctx->tp_why[j] :
						    "not requested");
		}
	}
	return WIN_OK;
}

/* ---- memory peers can map (win_mem_alloc) ---- */

struct win_mem *win_mem_find(struct win_ctx *ctx, const void *addr,
			     size_t len)
{
	uintptr_t a = (uintptr_t)addr;

	for (struct win_mem *m = ctx->mems; m; m = m->next) {
		uintptr_t lo = (uintptr_t)m->seg.addr;

		if (a >= lo && a - lo <= m->seg.len &&
		    len <= m->seg.len - (a - lo))
			return m;
	}
	return NULL;
}

int win_mem_alloc(win_ctx_t *ctx, size_t size, void **mem)
{
	struct win_mem *m;
	int rc;

	if (!win_ctx_live(ctx))
		return win_seterr(WIN_ERR_HANDLE, "win_mem_alloc: invalid or "
				  "finalized context");
	if (!mem)
		return win_seterr(WIN_ERR_ARG, "win_mem_alloc: NULL result "
				  "pointer");
	*mem = NULL;
	if (!(m = calloc(1, sizeof(*m))))
		return win_seterr(WIN_ERR_NOMEM, "win_mem_alloc");
	if ((rc = win_segment_create(&m->seg, "libwin-mem", size))) {
		free(m);
		return rc;
	}
	m->next = ctx->mems;
	ctx->mems = m;
	*mem = m->seg.addr;
	return WIN_OK;
}

int win_mem_free(win_ctx_t *ctx, void *mem)
{
	struct win_mem **pp;

	if (!win_ctx_live(ctx))
		return win_seterr(WIN_ERR_HANDLE, "win_mem_free: invalid or "
				  "finalized context");
	if (!mem)
		return WIN_OK;
	for (pp = &ctx->mems; *pp; pp = &(*pp)->next)
		if ((*pp)->seg.addr == mem)
			break;
	if (!*pp)
		return win_seterr(WIN_ERR_ARG, "win_mem_free: %p was not "
				  "returned by win_mem_alloc on this context",
				  mem);
	if ((*pp)->users)
		return win_seterr(WIN_ERR_SYNC, "win_mem_free: %d window%s "
				  "still expose this memory", (*pp)->users,
				  (*pp)->users == 1 ? "" : "s");
	mem_unlink(pp);
	return WIN_OK;
}
