// SPDX-License-Identifier: GPL-2.0
/*
 * kshim operations: put/get between a caller's iovec and a window, atomics
 * on window pages, staged puts by page exchange. Small operations run
 * inside SUBMIT; large asynchronous ones and staged copies run on the
 * module's workqueue and complete through the port's ring.
 */
#include <linux/highmem.h>
#include <linux/kthread.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

#include "kshim_int.h"

#define KSHIM_MAX_SUBMIT (1u << 20)

/* One batch of staged puts: the staging pages taken out of the area. */
struct kshim_batch {
	struct kref ref;
	struct kshim_port *port;
	unsigned long first; /* stage index of taken[0] */
	unsigned long n;
	struct page **taken; /* NULL where no op touched the page */
	u16 *uses;
};

struct kshim_work {
	struct work_struct work;
	struct kshim_cqnode node;
	struct list_head pend;
	struct kshim_port *port;
	struct kshim_win *win;
	bool rdonly;
	u16 opcode;
	u64 off, len;
	bool queued;      /* counted in port->queued */
	/* put/get */
	struct mm_struct *mm;
	struct iov_iter iter;
	struct iovec *iov_alloc;
	struct iovec fast[UIO_FASTIOV];
	/* staged */
	struct kshim_batch *batch;
	unsigned long sidx; /* stage index of the first page */
	unsigned long sn;   /* pages */
	unsigned int soff;  /* offset in the first page */
	u64 uaddr;          /* the caller's address of the range */
};

vm_fault_t kshim_stage_fault(struct vm_fault *vmf)
{
	struct kshim_port *port = vmf->vma->vm_file->private_data;
	unsigned long idx = vmf->pgoff - KSHIM_STAGE_PGOFF;
	vm_fault_t ret;

	mutex_lock(&port->stage_mutex);
	if (!port->stage || vmf->pgoff < KSHIM_STAGE_PGOFF || idx >= port->stage_pages)
		ret = VM_FAULT_SIGBUS;
	else
		ret = vmf_insert_pfn(vmf->vma, vmf->address, page_to_pfn(port->stage[idx]));
	mutex_unlock(&port->stage_mutex);
	return ret;
}

static int range_ok(struct kshim_win *win, u64 off, u64 len)
{
	return len <= win->len && off <= win->len - len;
}

/* Copy between an iov_iter and the window; caller holds win->sem. */
static int win_copy(struct kshim_win *win, u64 off, struct iov_iter *it, bool put)
{
	u64 pos = win->off0 + off;
	size_t left = iov_iter_count(it);

	while (left) {
		struct page *pg = win->pages[pos >> PAGE_SHIFT];
		size_t po = pos & ~PAGE_MASK;
		size_t n = min_t(size_t, left, PAGE_SIZE - po);
		size_t c = put ? copy_page_from_iter(pg, po, n, it)
			       : copy_page_to_iter(pg, po, n, it);

		if (c != n)
			return -EFAULT;
		pos += n;
		left -= n;
		cond_resched();
	}
	return 0;
}

static int win_rw(struct kshim_win *win, bool rdonly, bool put, u64 off, struct iov_iter *it)
{
	int err;

	down_read(&win->sem);
	if (win->dead)
		err = -ENXIO;
	else if (put && rdonly)
		err = -EACCES;
	else if (!range_ok(win, off, iov_iter_count(it)))
		err = -ERANGE;
	else
		err = win_copy(win, off, it, put);
	up_read(&win->sem);
	return err;
}

static int do_atomic(struct kshim_win *win, bool rdonly, struct kshim_op *op)
{
	u64 pos, old = 0;
	void *p;
	int err = 0;

	if ((op->width != 4 && op->width != 8) || op->aop < KSHIM_AOP_FETCH_ADD ||
	    op->aop > KSHIM_AOP_READ || op->iovcnt || op->addr ||
	    (op->len && op->len != op->width))
		return -EINVAL;
	if (rdonly && op->aop != KSHIM_AOP_READ)
		return -EACCES;
	down_read(&win->sem);
	if (win->dead) {
		err = -ENXIO;
		goto out;
	}
	if (!range_ok(win, op->off, op->width)) {
		err = -ERANGE;
		goto out;
	}
	pos = win->off0 + op->off;
	if (pos & (op->width - 1)) {
		err = -EINVAL;
		goto out;
	}
	p = kmap_local_page(win->pages[pos >> PAGE_SHIFT]);
	if (op->width == 8) {
		atomic64_t *a = p + (pos & ~PAGE_MASK);
		s64 v = op->operand;

		switch (op->aop) {
		case KSHIM_AOP_FETCH_ADD: old = atomic64_fetch_add(v, a); break;
		case KSHIM_AOP_SWAP: old = atomic64_xchg(a, v); break;
		case KSHIM_AOP_CSWAP: old = atomic64_cmpxchg(a, op->compare, v); break;
		case KSHIM_AOP_AND: old = atomic64_fetch_and(v, a); break;
		case KSHIM_AOP_OR: old = atomic64_fetch_or(v, a); break;
		case KSHIM_AOP_XOR: old = atomic64_fetch_xor(v, a); break;
		default: old = atomic64_read(a); break;
		}
	} else {
		atomic_t *a = p + (pos & ~PAGE_MASK);
		int v = (u32)op->operand;

		switch (op->aop) {
		case KSHIM_AOP_FETCH_ADD: old = (u32)atomic_fetch_add(v, a); break;
		case KSHIM_AOP_SWAP: old = (u32)atomic_xchg(a, v); break;
		case KSHIM_AOP_CSWAP: old = (u32)atomic_cmpxchg(a, (u32)op->compare, v); break;
		case KSHIM_AOP_AND: old = (u32)atomic_fetch_and(v, a); break;
		case KSHIM_AOP_OR: old = (u32)atomic_fetch_or(v, a); break;
		case KSHIM_AOP_XOR: old = (u32)atomic_fetch_xor(v, a); break;
		default: old = (u32)atomic_read(a); break;
		}
	}
	kunmap_local(p);
	op->result = old;
out:
	up_read(&win->sem);
	return err;
}

/* --- completions ------------------------------------------------------------ */

static int post_now(struct kshim_port *port, u64 tag, int status, u64 result)
{
	struct kshim_cqnode *n = kmalloc(sizeof(*n), GFP_KERNEL);

	if (!n)
		return -ENOMEM;
	n->cqe.tag = tag;
	n->cqe.status = status;
	n->cqe.flags = 0;
	n->cqe.result = result;
	n->alloc = n;
	kshim_post(port, n);
	return 0;
}

static void batch_release(struct kref *ref)
{
	struct kshim_batch *b = container_of(ref, struct kshim_batch, ref);
	unsigned long i, k = 0;

	/* compact the taken pages, give them back under one lock */
	for (i = 0; i < b->n; i++)
		if (b->taken[i])
			b->taken[k++] = b->taken[i];
	if (k)
		kshim_pool_put_n(b->port->pool, b->taken, k);
	kvfree(b->taken);
	kvfree(b->uses);
	kref_put(&b->port->ref, kshim_port_release_ref);
	kfree(b);
}

/* Finish a work item: post its completion, drop what it holds. */
static void work_finish(struct kshim_work *w, int status)
{
	struct kshim_port *port = w->port;

	kfree(w->iov_alloc);
	w->iov_alloc = NULL;
	if (w->mm)
		mmdrop(w->mm);
	if (w->win)
		kshim_win_put(w->win);
	if (w->batch)
		kref_put(&w->batch->ref, batch_release);
	if (w->queued)
		atomic_dec(&port->queued);
	w->node.cqe.status = status;
	w->node.cqe.flags = 0;
	w->node.cqe.result = 0;
	w->node.alloc = w;
	kshim_post(port, &w->node); /* frees w */
	kref_put(&port->ref, kshim_port_release_ref);
}

static void putget_work(struct work_struct *work)
{
	struct kshim_work *w = container_of(work, struct kshim_work, work);
	int st = -EFAULT;

	if (mmget_not_zero(w->mm)) {
		kthread_use_mm(w->mm);
		st = win_rw(w->win, w->rdonly, w->opcode == KSHIM_OP_PUT, w->off, &w->iter);
		kthread_unuse_mm(w->mm);
		mmput(w->mm);
	}
	atomic64_inc(&kshim_st.ops_async);
	work_finish(w, st);
}

/* Staged copy: the taken staging pages' bytes into the window. */
static int staged_copy(struct kshim_work *w)
{
	struct kshim_win *win = w->win;
	struct kshim_batch *b = w->batch;
	unsigned long bi = w->sidx - b->first;
	u64 done = 0;
	int st = 0;

	down_read(&win->sem);
	if (win->dead) {
		st = -ENXIO;
	} else {
		size_t spos = w->soff;

		while (done < w->len) {
			u64 wpos = win->off0 + w->off + done;
			size_t wo = wpos & ~PAGE_MASK;
			size_t so = spos & ~PAGE_MASK;
			size_t n = min3((size_t)(w->len - done), PAGE_SIZE - wo, PAGE_SIZE - so);
			void *src = kmap_local_page(b->taken[bi + (spos >> PAGE_SHIFT)]);
			void *dst = kmap_local_page(win->pages[wpos >> PAGE_SHIFT]);

			memcpy(dst + wo, src + so, n);
			kunmap_local(dst);
			kunmap_local(src);
			done += n;
			spos += n;
			cond_resched();
		}
	}
	up_read(&win->sem);
	if (!st)
		atomic64_add(w->sn, &kshim_st.pages_copied);
	return st;
}

static void staged_copy_work(struct work_struct *work)
{
	struct kshim_work *w = container_of(work, struct kshim_work, work);
	int st = staged_copy(w);

	atomic64_inc(&kshim_st.ops_async);
	work_finish(w, st);
}

/* Put w on the workqueue, counted against the port's kshim_max_queued. */
static void work_queue(struct kshim_work *w, work_func_t fn)
{
	atomic_inc(&w->port->queued);
	w->queued = true;
	INIT_WORK(&w->work, fn);
	queue_work(kshim_wq, &w->work);
}

/* May one more work item of the port go on the workqueue? */
static bool queue_room(struct kshim_port *port)
{
	return atomic_read(&port->queued) < (int)READ_ONCE(kshim_max_queued);
}

static struct kshim_work *work_new(struct kshim_port *port, struct kshim_win *win,
				   bool rdonly, const struct kshim_op *op)
{
	struct kshim_work *w = kzalloc(sizeof(*w), GFP_KERNEL);

	if (!w)
		return NULL;
	kref_get(&port->ref);
	w->port = port;
	w->win = win; /* takes the caller's reference */
	w->rdonly = rdonly;
	w->opcode = op->opcode;
	w->off = op->off;
	w->len = op->len;
	w->node.cqe.tag = op->tag;
	return w;
}

/* --- put / get ------------------------------------------------------------------ */

static int do_putget(struct kshim_port *port, struct kshim_win *win, bool rdonly,
		     struct kshim_op *op, bool *async)
{
	struct iovec fast[UIO_FASTIOV], *iov = fast;
	struct iov_iter it;
	bool put = op->opcode == KSHIM_OP_PUT;
	ssize_t n;
	int err;

	if (op->aop || op->width)
		return -EINVAL;
	if (put && rdonly)
		return -EACCES;
	if (!range_ok(win, op->off, op->len))
		return -ERANGE;

	if ((op->flags & KSHIM_OPF_ASYNC) && op->len > kshim_sync_threshold &&
	    queue_room(port)) {
		struct kshim_work *w = work_new(port, win, rdonly, op);

		if (!w)
			return -ENOMEM;
		w->iov_alloc = w->fast;
		n = import_iovec(put ? ITER_SOURCE : ITER_DEST, u64_to_user_ptr(op->addr),
				 op->iovcnt, UIO_FASTIOV, &w->iov_alloc, &w->iter);
		if (n < 0 || (u64)n != op->len) {
			if (w->iov_alloc != w->fast)
				kfree(w->iov_alloc);
			kref_put(&port->ref, kshim_port_release_ref);
			kfree(w);
			return n < 0 ? (int)n : -EINVAL;
		}
		mmgrab(current->mm);
		w->mm = current->mm;
		*async = true; /* the work owns the window reference now */
		work_queue(w, putget_work);
		return -EINPROGRESS;
	}

	n = import_iovec(put ? ITER_SOURCE : ITER_DEST, u64_to_user_ptr(op->addr),
			 op->iovcnt, UIO_FASTIOV, &iov, &it);
	if (n < 0)
		return n;
	if ((u64)n != op->len)
		err = -EINVAL;
	else
		err = win_rw(win, rdonly, put, op->off, &it);
	kfree(iov);
	return err;
}

/* --- staged puts ------------------------------------------------------------------ */

static int staged_prepare(struct kshim_port *port, struct kshim_win *win, bool rdonly,
			  struct kshim_op *op, struct list_head *pend, bool *async)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	struct kshim_work *w;
	unsigned long idx, n;
	u64 end;

	if (op->aop || op->width || op->iovcnt)
		return -EINVAL;
	if (rdonly)
		return -EACCES;
	if (!range_ok(win, op->off, op->len))
		return -ERANGE;
	end = op->addr + op->len;
	if (end < op->addr)
		return -EFAULT;

	mmap_read_lock(mm);
	vma = vma_lookup(mm, op->addr);
	if (!vma || !vma->vm_file || vma->vm_file->private_data != port ||
	    vma->vm_pgoff < KSHIM_STAGE_PGOFF || end > vma->vm_end) {
		mmap_read_unlock(mm);
		return -EFAULT;
	}
	idx = vma->vm_pgoff - KSHIM_STAGE_PGOFF + ((op->addr - vma->vm_start) >> PAGE_SHIFT);
	mmap_read_unlock(mm);
	n = (PAGE_ALIGN(end) - (op->addr & PAGE_MASK)) >> PAGE_SHIFT;
	if (idx >= port->stage_pages || n > port->stage_pages - idx)
		return -EFAULT;

	w = work_new(port, win, rdonly, op);
	if (!w)
		return -ENOMEM;
	w->sidx = idx;
	w->sn = n;
	w->uaddr = op->addr;
	w->soff = op->addr & ~PAGE_MASK;
	list_add_tail(&w->pend, pend);
	*async = true;
	return -EINPROGRESS;
}

struct stage_fill {
	struct kshim_port *port;
	struct vm_area_struct *vma;
	unsigned long first; /* stage index mapped at vma->vm_start */
	unsigned long lo;
	const u16 *use;
};

/* apply_to_page_range callback, under the PTE table's lock: no sleeping */
static int stage_fill_pte(pte_t *pte, unsigned long addr, void *data)
{
	struct stage_fill *f = data;
	unsigned long i = f->first + ((addr - f->vma->vm_start) >> PAGE_SHIFT) - f->lo;

	if (f->use[i] && pte_none(ptep_get(pte)))
		set_pte_at(f->vma->vm_mm, addr, pte,
			   pte_mkspecial(pfn_pte(page_to_pfn(f->port->stage[f->lo + i]),
						 f->vma->vm_page_prot)));
	return 0;
}

/*
 * Map the fresh staging pages [lo, lo+n) (those in use[]) into the
 * caller's view of the staging area at once: a staging buffer is meant to
 * be filled again, and filling the PTEs here is much cheaper than a page
 * fault per page later. Only the mapping that holds `uaddr` (the batch's
 * first op's range) is filled; other views of the area fault as usual.
 *
 * One walk over the range, one PTE lock per page table, writing the
 * special PFN entries the fault handler's vmf_insert_pfn() would write:
 * the pages are ordinary RAM from the pool, write-back, which is what the
 * mapping's vm_page_prot says, so PAT has nothing to change. The range was
 * just zapped under stage_mutex, which the fault handler also takes, so
 * every entry is empty and no TLB holds a stale one; an entry found
 * present anyway is left alone. Caller holds mmap_lock (read) and
 * stage_mutex.
 */
static void stage_refill_ptes(struct kshim_port *port, u64 uaddr, unsigned long lo,
			      unsigned long n, const u16 *use)
{
	struct vm_area_struct *vma = vma_lookup(current->mm, uaddr);
	struct stage_fill f = { .port = port, .vma = vma, .lo = lo, .use = use };
	unsigned long start, end, vpages;

	/* our staging mapping, still readable and writable (else: faults) */
	if (!vma || !vma->vm_file || vma->vm_file->private_data != port ||
	    !vma->vm_ops || vma->vm_ops->fault != kshim_stage_fault ||
	    !(vma->vm_flags & VM_PFNMAP) || vma->vm_pgoff < KSHIM_STAGE_PGOFF ||
	    (vma->vm_flags & (VM_READ | VM_WRITE)) != (VM_READ | VM_WRITE))
		return;
	f.first = vma->vm_pgoff - KSHIM_STAGE_PGOFF;
	vpages = vma_pages(vma);
	/* [lo, lo+n) clipped to the stage indices this mapping shows */
	if (lo + n <= f.first || lo >= f.first + vpages)
		return;
	start = max(lo, f.first);
	end = min(lo + n, f.first + vpages);
	apply_to_page_range(vma->vm_mm, vma->vm_start + ((start - f.first) << PAGE_SHIFT),
			    (end - start) << PAGE_SHIFT, stage_fill_pte, &f);
}

/*
 * Take every staging page the batch touches out of the area (each once,
 * even when several ops share it), put fresh pool pages in their place,
 * zap the area's mappings once (one TLB flush), map the fresh pages into
 * the caller's view, then deliver each op: whole-page moves and small
 * copies here, large copies on the workqueue.
 */
static void staged_deliver(struct kshim_port *port, struct list_head *pend)
{
	struct kshim_work *w, *tmp;
	struct kshim_batch *b;
	unsigned long lo = ULONG_MAX, hi = 0, i, need = 0;
	struct page **fresh = NULL;
	int err = -ENOMEM;

	if (list_empty(pend))
		return;
	list_for_each_entry(w, pend, pend) {
		lo = min(lo, w->sidx);
		hi = max(hi, w->sidx + w->sn);
	}
	b = kzalloc(sizeof(*b), GFP_KERNEL);
	if (!b)
		goto fail;
	kref_init(&b->ref);
	kref_get(&port->ref);
	b->port = port;
	b->first = lo;
	b->n = hi - lo;
	b->taken = kvcalloc(b->n, sizeof(*b->taken), GFP_KERNEL);
	b->uses = kvcalloc(b->n, sizeof(*b->uses), GFP_KERNEL);
	fresh = kvcalloc(b->n, sizeof(*fresh), GFP_KERNEL);
	if (!b->taken || !b->uses || !fresh)
		goto fail_batch;
	list_for_each_entry(w, pend, pend)
		for (i = 0; i < w->sn; i++)
			if (b->uses[w->sidx - lo + i]++ == 0)
				need++;
	if (kshim_pool_get_n(port->pool, fresh, need))
		goto fail_batch;

	mmap_read_lock(current->mm);
	mutex_lock(&port->stage_mutex);
	for (i = 0, need = 0; i < b->n; i++) {
		if (!b->uses[i])
			continue;
		b->taken[i] = port->stage[lo + i];
		port->stage[lo + i] = fresh[need++];
	}
	if (b->n) {
		unmap_mapping_range(port->inode->i_mapping,
				    KSHIM_STAGE_OFF + ((loff_t)lo << PAGE_SHIFT),
				    (loff_t)b->n << PAGE_SHIFT, 1);
		w = list_first_entry(pend, struct kshim_work, pend);
		stage_refill_ptes(port, w->uaddr, lo, b->n, b->uses);
	}
	mutex_unlock(&port->stage_mutex);
	mmap_read_unlock(current->mm);
	kvfree(fresh);

	list_for_each_entry_safe(w, tmp, pend, pend) {
		unsigned long bi = w->sidx - lo;
		bool whole = w->win->kernel_owned && !w->soff &&
			     !(w->off & ~PAGE_MASK) && !(w->len & ~PAGE_MASK);

		list_del(&w->pend);
		kref_get(&b->ref);
		w->batch = b;
		for (i = 0; whole && i < w->sn; i++)
			if (b->uses[bi + i] != 1)
				whole = false;
		if (whole && w->len) {
			int st = kshim_win_move_pages(w->win, w->off, &b->taken[bi], w->sn);

			if (!st)
				atomic64_add(w->sn, &kshim_st.pages_moved);
			atomic64_inc(&kshim_st.ops_sync);
			work_finish(w, st);
		} else if (w->len <= kshim_sync_threshold || !queue_room(port)) {
			/* small copies, or a port with a full queue: at
			 * once, no worker to wake */
			int st = staged_copy(w);

			atomic64_inc(&kshim_st.ops_sync);
			work_finish(w, st);
		} else {
			work_queue(w, staged_copy_work);
		}
	}
	kref_put(&b->ref, batch_release);
	return;

fail_batch:
	kvfree(fresh);
	kref_put(&b->ref, batch_release);
fail:
	list_for_each_entry_safe(w, tmp, pend, pend) {
		list_del(&w->pend);
		work_finish(w, err);
	}
}

/* --- submit ------------------------------------------------------------------------ */

static void do_op(struct kshim_port *port, struct kshim_op *op, struct list_head *pend)
{
	struct kshim_win *win;
	bool rdonly = false, async = false;
	int err;

	op->result = 0;
	if (op->pad || (op->flags & ~(KSHIM_OPF_ASYNC | KSHIM_OPF_NOTIFY))) {
		op->status = -EINVAL;
		return;
	}
	if (op->opcode < KSHIM_OP_PUT || op->opcode > KSHIM_OP_PUT_STAGED) {
		op->status = -EINVAL;
		return;
	}
	win = kshim_handle_get(port, op->handle, &rdonly, &err);
	if (!win) {
		op->status = err;
		return;
	}
	if (READ_ONCE(win->dead)) {
		err = -ENXIO;
	} else {
		switch (op->opcode) {
		case KSHIM_OP_PUT:
		case KSHIM_OP_GET:
			err = do_putget(port, win, rdonly, op, &async);
			break;
		case KSHIM_OP_ATOMIC:
			err = do_atomic(win, rdonly, op);
			break;
		default:
			err = staged_prepare(port, win, rdonly, op, pend, &async);
			break;
		}
	}
	if (!async)
		kshim_win_put(win);
	op->status = err;
	if (err != -EINPROGRESS) {
		atomic64_inc(&kshim_st.ops_sync);
		if ((op->flags & KSHIM_OPF_NOTIFY) && post_now(port, op->tag, err, op->result))
			op->status = -ENOMEM;
	}
}

long kshim_submit(struct kshim_port *port, void __user *arg)
{
	struct kshim_submit __user *us = arg;
	struct kshim_submit s;
	struct kshim_op __user *uops;
	struct kshim_op op;
	LIST_HEAD(pend);
	u32 i;

	if (copy_from_user(&s, arg, sizeof(s)))
		return -EFAULT;
	if (s.done)
		return -EINVAL;
	if (s.count > KSHIM_MAX_SUBMIT)
		return -EINVAL;
	uops = u64_to_user_ptr(s.ops);
	for (i = 0; i < s.count; i++) {
		if (copy_from_user(&op, &uops[i], sizeof(op)))
			break;
		do_op(port, &op, &pend);
		if (put_user(op.status, &uops[i].status) ||
		    put_user(op.result, &uops[i].result)) {
			i++;
			break;
		}
		if (fatal_signal_pending(current)) {
			i++;
			break;
		}
		cond_resched();
	}
	staged_deliver(port, &pend);
	if (put_user(i, &us->done))
		return -EFAULT;
	if (!i && s.count)
		return -EFAULT;
	return i;
}
