/* Control blocks shared by the same-host transports (see ctrlblock.h). */
#include <stdlib.h>
#include <unistd.h>

#include "core/futex.h"
#include "transport/shm/ctrlblock.h"

void win_ctrlset_addr(struct win *w, struct win_ctrl_addr *a)
{
	a->pid = (int32_t)getpid();
	a->fd = w->ctrl.fd;
	a->len = w->ctrl.len;
}

int win_ctrlset_init(struct win_ctrlset *cs, struct win *w)
{
	cs->w = w;
	cs->ctrl = calloc((size_t)w->size, sizeof(*cs->ctrl));
	cs->seg = calloc((size_t)w->size, sizeof(*cs->seg));
	if (!cs->ctrl || !cs->seg) {
		free(cs->ctrl);
		free(cs->seg);
		cs->ctrl = NULL;
		cs->seg = NULL;
		return win_seterr(WIN_ERR_NOMEM, "control block table");
	}
	for (int r = 0; r < w->size; r++)
		cs->seg[r].fd = -1;
	return WIN_OK;
}

int win_ctrlset_attach(struct win_ctrlset *cs, int rank,
		       const struct win_ctrl_addr *a)
{
	int rc;

	if (rank == cs->w->rank) {
		cs->ctrl[rank] = cs->w->ctrl.addr;
		return WIN_OK;
	}
	rc = win_segment_attach(&cs->seg[rank], a->pid, a->fd, a->len);
	if (rc == WIN_OK)
		cs->ctrl[rank] = cs->seg[rank].addr;
	return rc;
}

void win_ctrlset_fini(struct win_ctrlset *cs)
{
	if (cs->seg)
		for (int r = 0; r < cs->w->size; r++)
			win_segment_destroy(&cs->seg[r]);
	free(cs->seg);
	free(cs->ctrl);
	cs->seg = NULL;
	cs->ctrl = NULL;
}

int win_ctrlset_fadd(void *tw, int rank, unsigned word, uint64_t add,
		     uint64_t *old)
{
	struct win_ctrlset *cs = tw;
	uint64_t v = __atomic_fetch_add(&cs->ctrl[rank][word], add,
					__ATOMIC_SEQ_CST);

	if (old)
		*old = v;
	return WIN_OK;
}

int win_ctrlset_cas(void *tw, int rank, unsigned word, uint64_t cmp,
		    uint64_t swp, uint64_t *old)
{
	struct win_ctrlset *cs = tw;

	__atomic_compare_exchange_n(&cs->ctrl[rank][word], &cmp, swp, false,
				    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	*old = cmp;
	return WIN_OK;
}

int win_ctrlset_read(void *tw, int rank, unsigned word, uint64_t *val)
{
	struct win_ctrlset *cs = tw;

	*val = __atomic_load_n(&cs->ctrl[rank][word], __ATOMIC_SEQ_CST);
	return WIN_OK;
}

/* Sleepers on word W are counted in word W + 1 (LOCK_WAITERS, WAITERS). */
int win_ctrlset_wait(void *tw, int rank, unsigned word, uint64_t seen,
		     int timeout_ms)
{
	struct win_ctrlset *cs = tw;
	uint64_t *c = cs->ctrl[rank];

	__atomic_fetch_add(&c[word + 1], 1, __ATOMIC_SEQ_CST);
	/* The futex watches the low half, where every change shows. */
	win_futex_wait((uint32_t *)&c[word], (uint32_t)seen, timeout_ms);
	__atomic_fetch_sub(&c[word + 1], 1, __ATOMIC_SEQ_CST);
	return WIN_OK;
}

int win_ctrlset_wake(void *tw, int rank, unsigned word)
{
	struct win_ctrlset *cs = tw;
	uint64_t *c = cs->ctrl[rank];

	if (__atomic_load_n(&c[word + 1], __ATOMIC_SEQ_CST))
		win_futex_wake((uint32_t *)&c[word]);
	return WIN_OK;
}
