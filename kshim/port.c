// SPDX-License-Identifier: GPL-2.0
/*
 * kshim: the /dev/kshim misc device. Each open file is a port: a page
 * pool, a completion ring, a staging area and a table of window handles.
 */
#include <linux/file.h>
#include <linux/fs_context.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/poll.h>
#include <linux/pseudo_fs.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "kshim_int.h"

#define KSHIMFS_MAGIC 0x6b73686d /* "kshm" */

static unsigned long max_pool_pages = 16384;
module_param(max_pool_pages, ulong, 0644);
MODULE_PARM_DESC(max_pool_pages, "Largest page pool of one port (pages)");

static unsigned long max_total_pool_pages = 131072;
module_param(max_total_pool_pages, ulong, 0644);
MODULE_PARM_DESC(max_total_pool_pages, "Cap on the pages of all pools together");

static unsigned long default_pool_pages = 1024;
module_param(default_pool_pages, ulong, 0644);
MODULE_PARM_DESC(default_pool_pages, "Pool size when ATTACH asks for 0 pages");

static unsigned int max_ring_entries = 65536;
module_param(max_ring_entries, uint, 0644);
MODULE_PARM_DESC(max_ring_entries, "Largest completion ring (entries, power of two)");

unsigned long kshim_sync_threshold = 65536;
module_param_named(sync_threshold, kshim_sync_threshold, ulong, 0644);
MODULE_PARM_DESC(sync_threshold, "ASYNC put/get up to this many bytes still run inside submit");

unsigned int kshim_max_queued = 64;
module_param_named(max_queued, kshim_max_queued, uint, 0644);
MODULE_PARM_DESC(max_queued, "Work items a port may have queued; further ASYNC put/get and large staged copies run inside submit");

unsigned long kshim_max_pin_pages = 262144;
module_param_named(max_pin_pages, kshim_max_pin_pages, ulong, 0644);
MODULE_PARM_DESC(max_pin_pages, "Largest registration (pages)");

unsigned long kshim_max_pinned_total = 524288;
module_param_named(max_pinned_total, kshim_max_pinned_total, ulong, 0644);
MODULE_PARM_DESC(max_pinned_total, "Cap on the pages pinned by all registrations");

struct kshim_stats_global kshim_st;
struct workqueue_struct *kshim_wq;
struct vfsmount *kshim_mnt;
static atomic64_t kshim_port_ids;

/* --- completion ring ------------------------------------------------------ */

static bool ring_room(struct kshim_port *port)
{
	u32 head = READ_ONCE(port->ring->head);

	return (u32)(port->tail - head) < port->entries;
}

static void ring_write(struct kshim_port *port, const struct kshim_cqe *cqe)
{
	struct kshim_cqe *slots = (struct kshim_cqe *)(port->ring + 1);

	slots[port->tail & (port->entries - 1)] = *cqe;
	port->tail++;
	smp_store_release(&port->ring->tail, port->tail);
}

/* Move waiting completions into the ring while there is room. */
static void ring_drain_locked(struct kshim_port *port)
{
	struct kshim_cqnode *n;

	while (!list_empty(&port->overflow) && ring_room(port)) {
		n = list_first_entry(&port->overflow, struct kshim_cqnode, link);
		list_del(&n->link);
		ring_write(port, &n->cqe);
		port->noverflow--;
		kfree(n->alloc);
	}
	WRITE_ONCE(port->ring->overflow, port->noverflow);
}

/* Post a completion; takes ownership of node->alloc. Never drops it. */
int kshim_post(struct kshim_port *port, struct kshim_cqnode *node)
{
	spin_lock(&port->cq_lock);
	if (port->closed || !port->ring) {
		spin_unlock(&port->cq_lock);
		kfree(node->alloc);
		return -EPIPE;
	}
	ring_drain_locked(port);
	if (list_empty(&port->overflow) && ring_room(port)) {
		ring_write(port, &node->cqe);
		kfree(node->alloc);
	} else {
		list_add_tail(&node->link, &port->overflow);
		port->noverflow++;
		WRITE_ONCE(port->ring->overflow, port->noverflow);
	}
	spin_unlock(&port->cq_lock);
	wake_up_interruptible(&port->wq);
	return 0;
}

/* --- ports ------------------------------------------------------------------ */

void kshim_port_release_ref(struct kref *ref)
{
	struct kshim_port *port = container_of(ref, struct kshim_port, ref);
	struct kshim_cqnode *n, *tmp;

	list_for_each_entry_safe(n, tmp, &port->overflow, link) {
		list_del(&n->link);
		kfree(n->alloc);
	}
	vfree(port->ring);
	if (port->pool)
		kshim_pool_put(port->pool);
	kfree(port);
}

static int kshim_open(struct inode *inode, struct file *file)
{
	struct kshim_port *port;
	struct inode *ino;

	port = kzalloc(sizeof(*port), GFP_KERNEL);
	if (!port)
		return -ENOMEM;
	ino = alloc_anon_inode(kshim_mnt->mnt_sb);
	if (IS_ERR(ino)) {
		kfree(port);
		return PTR_ERR(ino);
	}
	kref_init(&port->ref);
	port->id = atomic64_inc_return(&kshim_port_ids);
	mutex_init(&port->lock);
	mutex_init(&port->stage_mutex);
	idr_init(&port->handles);
	spin_lock_init(&port->cq_lock);
	INIT_LIST_HEAD(&port->overflow);
	init_waitqueue_head(&port->wq);
	port->inode = ino;
	/* staging mappings get an address space of their own */
	file->f_mapping = ino->i_mapping;
	file->private_data = port;
	atomic64_inc(&kshim_st.ports);
	return 0;
}

static int release_handle(int id, void *p, void *data)
{
	struct kshim_handle *h = p;

	kshim_win_put(h->win);
	kfree(h);
	return 0;
}

static int kshim_release(struct inode *inode, struct file *file)
{
	struct kshim_port *port = file->private_data;

	idr_for_each(&port->handles, release_handle, NULL);
	idr_destroy(&port->handles);
	spin_lock(&port->cq_lock);
	port->closed = true;
	spin_unlock(&port->cq_lock);
	if (port->stage) {
		/* no mapping is left: they hold this file */
		kshim_pool_put_n(port->pool, port->stage, port->stage_pages);
		kvfree(port->stage);
		port->stage = NULL;
	}
	iput(port->inode);
	atomic64_dec(&kshim_st.ports);
	kref_put(&port->ref, kshim_port_release_ref);
	return 0;
}

static long kshim_attach(struct kshim_port *port, void __user *arg)
{
	struct kshim_attach a;
	unsigned long want, grant, stage;
	u32 entries;
	struct kshim_pool *pool;
	int err = 0;

	if (copy_from_user(&a, arg, sizeof(a)))
		return -EFAULT;
	if (a.flags)
		return -EINVAL;
	if (a.ring_entries > max_ring_entries)
		return -EINVAL;

	mutex_lock(&port->lock);
	if (port->attached) {
		err = -EBUSY;
		goto out;
	}
	want = a.pool_pages ? a.pool_pages : default_pool_pages;
	grant = min(want, max_pool_pages);
	if (!capable(CAP_IPC_LOCK)) {
		unsigned long lim = rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;
		unsigned long used = READ_ONCE(current->mm->locked_vm);

		grant = min(grant, lim > used ? lim - used : 0UL);
	}
	{
		s64 total = atomic64_read(&kshim_st.pool_pages);
		unsigned long left = total < (s64)max_total_pool_pages ?
			max_total_pool_pages - total : 0;

		grant = min(grant, left);
	}
	if (!grant) {
		err = -ENOMEM;
		goto out;
	}

	entries = a.ring_entries ? roundup_pow_of_two(a.ring_entries) : 1024;
	if (entries > max_ring_entries)
		entries = rounddown_pow_of_two(max_ring_entries);
	if (entries < 2)
		entries = 2;
	port->ring_len = PAGE_ALIGN(sizeof(struct kshim_ring_hdr) +
				    (size_t)entries * sizeof(struct kshim_cqe));
	port->ring = vmalloc_user(port->ring_len);
	if (!port->ring) {
		err = -ENOMEM;
		goto out;
	}
	port->entries = entries;
	port->ring->mask = entries - 1;

	pool = kshim_pool_create(grant, &err);
	if (!pool)
		goto out_ring;

	/* a quarter of the pool backs the staging area */
	stage = grant / 4;
	if (stage) {
		port->stage = kvcalloc(stage, sizeof(*port->stage), GFP_KERNEL);
		if (!port->stage || kshim_pool_get_n(pool, port->stage, stage)) {
			kvfree(port->stage);
			port->stage = NULL;
			kshim_pool_put(pool);
			err = -ENOMEM;
			goto out_ring;
		}
		port->stage_pages = stage;
	}
	port->pool = pool;

	a.pool_pages = grant;
	a.ring_entries = entries;
	a.ring_mmap_off = KSHIM_RING_OFF;
	a.ring_mmap_len = port->ring_len;
	a.stage_mmap_off = KSHIM_STAGE_OFF;
	a.stage_mmap_len = (u64)stage << PAGE_SHIFT;
	if (copy_to_user(arg, &a, sizeof(a))) {
		/* stays attached: a second ATTACH says EBUSY */
		err = -EFAULT;
	}
	smp_store_release(&port->attached, true);
	mutex_unlock(&port->lock);
	return err;

out_ring:
	vfree(port->ring);
	port->ring = NULL;
	port->entries = 0;
out:
	mutex_unlock(&port->lock);
	return err;
}

static long kshim_stats(struct kshim_port *port, void __user *arg)
{
	struct kshim_stats s;

	memset(&s, 0, sizeof(s));
	s.ports = atomic64_read(&kshim_st.ports);
	s.windows = atomic64_read(&kshim_st.windows);
	s.pool_pages = atomic64_read(&kshim_st.pool_pages);
	s.pinned_pages = atomic64_read(&kshim_st.pinned_pages);
	s.ops_sync = atomic64_read(&kshim_st.ops_sync);
	s.ops_async = atomic64_read(&kshim_st.ops_async);
	s.pages_moved = atomic64_read(&kshim_st.pages_moved);
	s.pages_copied = atomic64_read(&kshim_st.pages_copied);
	if (port->attached && port->pool) {
		spin_lock(&port->pool->lock);
		s.port_pool_pages = port->pool->total;
		s.port_pool_free = port->pool->nfree;
		spin_unlock(&port->pool->lock);
		s.port_pinned_pages = current->mm ?
			atomic64_read(&current->mm->pinned_vm) : 0;
	}
	if (copy_to_user(arg, &s, sizeof(s)))
		return -EFAULT;
	return 0;
}

static long kshim_version_ioctl(void __user *arg)
{
	struct kshim_version v = {
		.major = KSHIM_ABI_MAJOR,
		.minor = KSHIM_ABI_MINOR,
		.page_size = PAGE_SIZE,
		.max_pool_pages = max_pool_pages,
		.max_ring_entries = max_ring_entries,
	};

	if (copy_to_user(arg, &v, sizeof(v)))
		return -EFAULT;
	return 0;
}

static long kshim_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct kshim_port *port = file->private_data;
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case KSHIM_IOC_VERSION:
		return kshim_version_ioctl(uarg);
	case KSHIM_IOC_STATS:
		return kshim_stats(port, uarg);
	case KSHIM_IOC_ATTACH:
		return kshim_attach(port, uarg);
	}
	if (!smp_load_acquire(&port->attached))
		return _IOC_TYPE(cmd) == KSHIM_IOC_MAGIC ? -ENOTCONN : -ENOTTY;
	/* the mm that attached owns the port; a forked child may not use it */
	if (port->pool->mm != current->mm)
		return -EPERM;
	switch (cmd) {
	case KSHIM_IOC_WIN_ALLOC:
		return kshim_win_alloc(port, uarg);
	case KSHIM_IOC_WIN_REGISTER:
		return kshim_win_register(port, uarg);
	case KSHIM_IOC_WIN_DUP:
		return kshim_win_dup(port, uarg);
	case KSHIM_IOC_WIN_IMPORT:
		return kshim_win_import(port, uarg);
	case KSHIM_IOC_WIN_RELEASE:
		return kshim_win_release(port, uarg);
	case KSHIM_IOC_WIN_EXPOSE:
		return kshim_win_expose(port, uarg);
	case KSHIM_IOC_WIN_REVOKE:
		return kshim_win_revoke(port, uarg);
	case KSHIM_IOC_SUBMIT:
		return kshim_submit(port, uarg);
	}
	return -ENOTTY;
}

static __poll_t kshim_poll(struct file *file, poll_table *pt)
{
	struct kshim_port *port = file->private_data;
	__poll_t mask = 0;

	if (!READ_ONCE(port->attached))
		return EPOLLERR;
	poll_wait(file, &port->wq, pt);
	spin_lock(&port->cq_lock);
	if (port->ring) {
		ring_drain_locked(port);
		if (READ_ONCE(port->ring->head) != port->tail)
			mask = EPOLLIN | EPOLLRDNORM;
	}
	spin_unlock(&port->cq_lock);
	return mask;
}

static const struct vm_operations_struct kshim_stage_vmops = {
	.fault = kshim_stage_fault,
};

static int kshim_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct kshim_port *port = file->private_data;
	unsigned long len = vma->vm_end - vma->vm_start;

	if (!READ_ONCE(port->attached))
		return -ENXIO;
	if (is_cow_mapping(vma->vm_flags))
		return -EINVAL;
	if (vma->vm_pgoff == (KSHIM_RING_OFF >> PAGE_SHIFT)) {
		if (len > port->ring_len)
			return -EINVAL;
		vma->vm_flags |= VM_DONTCOPY;
		return remap_vmalloc_range(vma, port->ring, 0);
	}
	if (vma->vm_pgoff >= KSHIM_STAGE_PGOFF &&
	    vma->vm_pgoff - KSHIM_STAGE_PGOFF <= port->stage_pages &&
	    (len >> PAGE_SHIFT) <= port->stage_pages - (vma->vm_pgoff - KSHIM_STAGE_PGOFF)) {
		if (current->mm != port->pool->mm)
			return -EPERM;
		vma->vm_flags |= VM_PFNMAP | VM_IO | VM_DONTEXPAND | VM_DONTDUMP | VM_DONTCOPY;
		vma->vm_ops = &kshim_stage_vmops;
		return 0;
	}
	return -EINVAL;
}

static const struct file_operations kshim_fops = {
	.owner = THIS_MODULE,
	.open = kshim_open,
	.release = kshim_release,
	.unlocked_ioctl = kshim_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.mmap = kshim_mmap,
	.poll = kshim_poll,
	.llseek = noop_llseek,
};

static struct miscdevice kshim_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "kshim",
	.fops = &kshim_fops,
	.mode = 0666,
};

/* --- pseudo file system for window files and per-port address spaces --- */

static int kshimfs_init_fs_context(struct fs_context *fc)
{
	return init_pseudo(fc, KSHIMFS_MAGIC) ? 0 : -ENOMEM;
}

static struct file_system_type kshimfs_type = {
	.name = "kshimfs",
	.init_fs_context = kshimfs_init_fs_context,
	.kill_sb = kill_anon_super,
};

static int __init kshim_init(void)
{
	int err;

	kshim_mnt = kern_mount(&kshimfs_type);
	if (IS_ERR(kshim_mnt))
		return PTR_ERR(kshim_mnt);
	kshim_wq = alloc_workqueue("kshim", WQ_UNBOUND, 0);
	if (!kshim_wq) {
		err = -ENOMEM;
		goto out_mnt;
	}
	err = misc_register(&kshim_misc);
	if (err)
		goto out_wq;
	pr_info("kshim: ABI %u.%u, /dev/kshim ready\n", KSHIM_ABI_MAJOR, KSHIM_ABI_MINOR);
	return 0;
out_wq:
	destroy_workqueue(kshim_wq);
out_mnt:
	kern_unmount(kshim_mnt);
	return err;
}

static void __exit kshim_exit(void)
{
	misc_deregister(&kshim_misc);
	destroy_workqueue(kshim_wq);
	kern_unmount(kshim_mnt);
}

module_init(kshim_init);
module_exit(kshim_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kshim: one-sided communication windows between processes");
MODULE_AUTHOR("libwin");
