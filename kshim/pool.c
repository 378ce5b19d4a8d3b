// SPDX-License-Identifier: GPL-2.0
/*
 * kshim page pools: a fixed set of pages taken when a port attaches,
 * charged to the process's locked memory, handed out from a free stack.
 * Operations never allocate pages; a pool only ever frees its pages when
 * the last user (port, window, in-flight work) lets go of it.
 */
#include <linux/highmem.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "kshim_int.h"

struct kshim_pool *kshim_pool_create(unsigned long pages, int *err)
{
	struct kshim_pool *pool;
	unsigned long i;

	pool = kzalloc(sizeof(*pool), GFP_KERNEL);
	if (!pool)
		goto nomem;
	pool->free = kvcalloc(pages ? pages : 1, sizeof(*pool->free), GFP_KERNEL);
	if (!pool->free)
		goto nomem;
	kref_init(&pool->ref);
	spin_lock_init(&pool->lock);

	*err = account_locked_vm(current->mm, pages, true);
	if (*err)
		goto fail;
	pool->charged = pages;
	mmgrab(current->mm);
	pool->mm = current->mm;

	for (i = 0; i < pages; i++) {
		struct page *p;

		if (fatal_signal_pending(current)) {
			*err = -EINTR;
			goto fail;
		}
		p = alloc_page(GFP_KERNEL | __GFP_ZERO | __GFP_NOWARN);
		if (!p) {
			*err = -ENOMEM;
			goto fail;
		}
		pool->free[pool->nfree++] = p;
		pool->total++;
		atomic64_inc(&kshim_st.pool_pages);
		if (!(i & 255))
			cond_resched();
	}
	return pool;
nomem:
	*err = -ENOMEM;
fail:
	if (pool)
		kshim_pool_put(pool);
	return NULL;
}

static void pool_free(struct kref *ref)
{
	struct kshim_pool *pool = container_of(ref, struct kshim_pool, ref);
	unsigned long i;

	for (i = 0; i < pool->nfree; i++)
		__free_page(pool->free[i]);
	atomic64_sub(pool->total, &kshim_st.pool_pages);
	if (pool->mm) {
		account_locked_vm(pool->mm, pool->charged, false);
		mmdrop(pool->mm);
	}
	kvfree(pool->free);
	kfree(pool);
}

void kshim_pool_put(struct kshim_pool *pool)
{
	kref_put(&pool->ref, pool_free);
}

/* Take n pages, all or nothing (-ENOMEM). */
int kshim_pool_get_n(struct kshim_pool *pool, struct page **pages, unsigned long n)
{
	unsigned long i;

	spin_lock(&pool->lock);
	if (pool->nfree < n) {
		spin_unlock(&pool->lock);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++)
		pages[i] = pool->free[--pool->nfree];
	spin_unlock(&pool->lock);
	return 0;
}

/*
 * Give pages back. Pages always come back to the pool they were counted
 * in; a page moved between pools is always exchanged for another one, so
 * the stack never overflows. Should it ever, the page is freed instead.
 */
void kshim_pool_put_n(struct kshim_pool *pool, struct page **pages, unsigned long n)
{
	unsigned long i;

	spin_lock(&pool->lock);
	for (i = 0; i < n; i++) {
		if (pool->nfree < pool->total) {
			pool->free[pool->nfree++] = pages[i];
		} else {
			__free_page(pages[i]);
			pool->total--;
			atomic64_dec(&kshim_st.pool_pages);
		}
	}
	spin_unlock(&pool->lock);
}
