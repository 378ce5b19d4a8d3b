// SPDX-License-Identifier: GPL-2.0
/*
 * kshim windows: kernel-owned (pages from the owner's pool) or registered
 * (the owner's pages, pinned). A window lives while any of its files does
 * or until its owner revokes it; handles keep only the structure.
 */
#include <linux/file.h>
#include <linux/highmem.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

#include "kshim_int.h"

#define KSHIM_MAX_HANDLES 65536

static void win_free(struct kref *ref)
{
	struct kshim_win *win = container_of(ref, struct kshim_win, ref);

	/* pages are gone already (win_kill) */
	if (win->pool)
		kshim_pool_put(win->pool);
	if (win->owner_mm)
		mmdrop(win->owner_mm);
	iput(win->inode);
	kfree(win);
}

void kshim_win_put(struct kshim_win *win)
{
	kref_put(&win->ref, win_free);
}

/* Free the window's pages now; every mapping and handle sees it dead. */
static void win_kill(struct kshim_win *win)
{
	down_write(&win->sem);
	if (win->dead) {
		up_write(&win->sem);
		return;
	}
	mutex_lock(&win->fmutex);
	win->dead = true;
	unmap_mapping_range(win->inode->i_mapping, 0, 0, 1);
	mutex_unlock(&win->fmutex);

	if (win->kernel_owned) {
		kshim_pool_put_n(win->pool, win->pages, win->npages);
	} else {
		unpin_user_pages_dirty_lock(win->pages, win->npages, true);
		atomic64_sub(win->pinned, &win->owner_mm->pinned_vm);
		atomic64_sub(win->npages, &kshim_st.pinned_pages);
	}
	kvfree(win->pages);
	win->pages = NULL;
	atomic64_dec(&kshim_st.windows);
	up_write(&win->sem);
}

static int win_file_release(struct inode *inode, struct file *file)
{
	struct kshim_win *win = file->private_data;

	if (atomic_dec_and_test(&win->nfiles))
		win_kill(win);
	kshim_win_put(win);
	return 0;
}

static vm_fault_t win_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct kshim_win *win = vma->vm_file->private_data;
	vm_fault_t ret;

	mutex_lock(&win->fmutex);
	if (win->dead || vmf->pgoff >= win->npages ||
	    (win->exposed && vma->vm_mm == win->owner_mm)) {
		ret = VM_FAULT_SIGBUS;
	} else {
		ret = vmf_insert_pfn(vma, vmf->address,
				     page_to_pfn(win->pages[vmf->pgoff]));
	}
	mutex_unlock(&win->fmutex);
	return ret;
}

static const struct vm_operations_struct win_vmops = {
	.fault = win_fault,
};

static int win_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct kshim_win *win = file->private_data;
	unsigned long pages = (vma->vm_end - vma->vm_start) >> PAGE_SHIFT;

	if (is_cow_mapping(vma->vm_flags))
		return -EINVAL; /* MAP_SHARED only */
	/* a registered window maps only if it covers whole pages */
	if (!win->kernel_owned && (win->off0 || (win->len & ~PAGE_MASK)))
		return -EINVAL;
	if (vma->vm_pgoff > win->npages || pages > win->npages - vma->vm_pgoff)
		return -EINVAL;
	if (READ_ONCE(win->dead))
		return -ENXIO;
	vma->vm_flags |= VM_PFNMAP | VM_IO | VM_DONTEXPAND | VM_DONTDUMP;
	vma->vm_ops = &win_vmops;
	return 0;
}

const struct file_operations kshim_win_fops = {
	.owner = THIS_MODULE,
	.release = win_file_release,
	.mmap = win_mmap,
	.llseek = noop_llseek,
};

/* A new file on the window; returns an installed-later fd via *filep. */
static int win_new_fd(struct kshim_win *win, bool rdonly, struct file **filep)
{
	struct file *f;
	int fd;

	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0)
		return fd;
	if (!try_module_get(THIS_MODULE)) {
		put_unused_fd(fd);
		return -ENODEV;
	}
	ihold(win->inode);
	f = alloc_file_pseudo(win->inode, kshim_mnt, "kshim-win",
			      rdonly ? O_RDONLY : O_RDWR, &kshim_win_fops);
	if (IS_ERR(f)) {
		iput(win->inode);
		module_put(THIS_MODULE);
		put_unused_fd(fd);
		return PTR_ERR(f);
	}
	kref_get(&win->ref);
	atomic_inc(&win->nfiles);
	f->private_data = win;
	*filep = f;
	return fd;
}

/* Hand the fd to user space through *ufd, or undo everything. */
static int win_install(int fd, struct file *f, __s32 __user *ufd)
{
	if (put_user(fd, ufd)) {
		put_unused_fd(fd);
		fput(f);
		return -EFAULT;
	}
	fd_install(fd, f);
	return 0;
}

static struct kshim_win *win_new(struct kshim_port *port)
{
	struct kshim_win *win;
	struct inode *ino;

	win = kzalloc(sizeof(*win), GFP_KERNEL);
	if (!win)
		return NULL;
	ino = alloc_anon_inode(kshim_mnt->mnt_sb);
	if (IS_ERR(ino)) {
		kfree(win);
		return NULL;
	}
	kref_init(&win->ref);
	init_rwsem(&win->sem);
	mutex_init(&win->fmutex);
	win->inode = ino;
	win->uid = current_euid();
	win->owner_port = port->id;
	mmgrab(current->mm);
	win->owner_mm = current->mm;
	return win;
}

long kshim_win_alloc(struct kshim_port *port, void __user *arg)
{
	struct kshim_win_alloc a;
	struct kshim_win *win;
	struct file *f = NULL;
	unsigned long n, i;
	int fd, err;

	if (copy_from_user(&a, arg, sizeof(a)))
		return -EFAULT;
	if (a.flags || a.fd || !a.len || a.len > ((u64)port->pool->total << PAGE_SHIFT))
		return a.flags || a.fd || !a.len ? -EINVAL : -ENOMEM;
	n = PAGE_ALIGN(a.len) >> PAGE_SHIFT;

	win = win_new(port);
	if (!win)
		return -ENOMEM;
	win->kernel_owned = true;
	win->len = a.len;
	win->pages = kvcalloc(n, sizeof(*win->pages), GFP_KERNEL);
	if (!win->pages) {
		kshim_win_put(win);
		return -ENOMEM;
	}
	if (kshim_pool_get_n(port->pool, win->pages, n)) {
		kvfree(win->pages);
		kshim_win_put(win);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++)
		clear_highpage(win->pages[i]);
	win->npages = n;
	kref_get(&port->pool->ref);
	win->pool = port->pool;
	atomic64_inc(&kshim_st.windows);

	fd = win_new_fd(win, false, &f);
	if (fd < 0) {
		win_kill(win);
		kshim_win_put(win);
		return fd;
	}
	kshim_win_put(win); /* the file holds it now */
	err = win_install(fd, f, &((struct kshim_win_alloc __user *)arg)->fd);
	return err;
}

long kshim_win_register(struct kshim_port *port, void __user *arg)
{
	struct kshim_win_register r;
	struct kshim_win *win;
	struct file *f = NULL;
	unsigned long start, n, got = 0, lim;
	s64 pinned;
	int fd, err;

	if (copy_from_user(&r, arg, sizeof(r)))
		return -EFAULT;
	if (r.flags || r.fd || !r.len || r.addr + r.len < r.addr ||
	    !access_ok((void __user *)(uintptr_t)r.addr, r.len))
		return -EINVAL;
	start = r.addr & PAGE_MASK;
	n = (PAGE_ALIGN(r.addr + r.len) - start) >> PAGE_SHIFT;
	if (n > kshim_max_pin_pages)
		return -ENOMEM;
	if (atomic64_add_return(n, &kshim_st.pinned_pages) > (s64)kshim_max_pinned_total) {
		atomic64_sub(n, &kshim_st.pinned_pages);
		return -ENOMEM;
	}
	lim = rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;
	pinned = atomic64_add_return(n, &current->mm->pinned_vm);
	if (pinned > (s64)lim && !capable(CAP_IPC_LOCK)) {
		err = -ENOMEM;
		goto out_charge;
	}

	win = win_new(port);
	if (!win) {
		err = -ENOMEM;
		goto out_charge;
	}
	win->pages = kvcalloc(n, sizeof(*win->pages), GFP_KERNEL);
	if (!win->pages) {
		err = -ENOMEM;
		goto out_win;
	}
	while (got < n) {
		int chunk = min_t(unsigned long, n - got, 65536);
		int ret = pin_user_pages_fast(start + (got << PAGE_SHIFT), chunk,
					      FOLL_WRITE | FOLL_LONGTERM,
					      win->pages + got);
		if (ret <= 0) {
			err = ret ? ret : -EFAULT;
			goto out_unpin;
		}
		got += ret;
		if (fatal_signal_pending(current)) {
			err = -EINTR;
			goto out_unpin;
		}
	}
	win->npages = n;
	win->pinned = n;
	win->len = r.len;
	win->off0 = r.addr & ~PAGE_MASK;
	atomic64_inc(&kshim_st.windows);

	fd = win_new_fd(win, false, &f);
	if (fd < 0) {
		win_kill(win);
		kshim_win_put(win);
		return fd;
	}
	kshim_win_put(win);
	return win_install(fd, f, &((struct kshim_win_register __user *)arg)->fd);

out_unpin:
	if (got)
		unpin_user_pages(win->pages, got);
	kvfree(win->pages);
out_win:
	win->pages = NULL;
	win->dead = true;
	kshim_win_put(win);
out_charge:
	atomic64_sub(n, &current->mm->pinned_vm);
	atomic64_sub(n, &kshim_st.pinned_pages);
	return err;
}

/* The window behind a window file descriptor, with a reference. */
static struct kshim_win *win_from_fd(int fd, bool *rdonly, int *err)
{
	struct fd f = fdget(fd);
	struct kshim_win *win;

	if (!f.file) {
		*err = -EBADF;
		return NULL;
	}
	if (f.file->f_op != &kshim_win_fops) {
		fdput(f);
		*err = -EINVAL;
		return NULL;
	}
	win = f.file->private_data;
	kref_get(&win->ref);
	*rdonly = !(f.file->f_mode & FMODE_WRITE);
	fdput(f);
	return win;
}

long kshim_win_dup(struct kshim_port *port, void __user *arg)
{
	struct kshim_win_dup d;
	struct kshim_win *win;
	struct file *f = NULL;
	bool rdonly;
	int fd, err;

	if (copy_from_user(&d, arg, sizeof(d)))
		return -EFAULT;
	if ((d.flags & ~KSHIM_WIN_RDONLY) || d.pad || d.new_fd)
		return -EINVAL;
	win = win_from_fd(d.fd, &rdonly, &err);
	if (!win)
		return err;
	down_read(&win->sem);
	if (win->dead) {
		up_read(&win->sem);
		kshim_win_put(win);
		return -ENXIO;
	}
	fd = win_new_fd(win, rdonly || (d.flags & KSHIM_WIN_RDONLY), &f);
	up_read(&win->sem);
	kshim_win_put(win);
	if (fd < 0)
		return fd;
	return win_install(fd, f, &((struct kshim_win_dup __user *)arg)->new_fd);
}

long kshim_win_import(struct kshim_port *port, void __user *arg)
{
	struct kshim_win_import im;
	struct kshim_handle *h;
	struct kshim_win *win;
	bool rdonly;
	int id, err;

	if (copy_from_user(&im, arg, sizeof(im)))
		return -EFAULT;
	if (im.handle || im.len || im.flags || im.pad)
		return -EINVAL;
	win = win_from_fd(im.fd, &rdonly, &err);
	if (!win)
		return err;
	if (!uid_eq(win->uid, current_euid())) {
		kshim_win_put(win);
		return -EACCES;
	}
	if (READ_ONCE(win->dead)) {
		kshim_win_put(win);
		return -ENXIO;
	}
	h = kmalloc(sizeof(*h), GFP_KERNEL);
	if (!h) {
		kshim_win_put(win);
		return -ENOMEM;
	}
	h->win = win;
	h->rdonly = rdonly;
	mutex_lock(&port->lock);
	if (port->nhandles >= KSHIM_MAX_HANDLES)
		id = -ENOSPC;
	else
		id = idr_alloc(&port->handles, h, 1, INT_MAX, GFP_KERNEL);
	if (id > 0)
		port->nhandles++;
	mutex_unlock(&port->lock);
	if (id < 0) {
		kfree(h);
		kshim_win_put(win);
		return id;
	}
	im.handle = id;
	im.len = win->len;
	im.flags = (rdonly ? KSHIM_WIN_RDONLY : 0) |
		   (win->kernel_owned ? KSHIM_WIN_KERNEL_OWNED : 0);
	if (copy_to_user(arg, &im, sizeof(im))) {
		mutex_lock(&port->lock);
		idr_remove(&port->handles, id);
		port->nhandles--;
		mutex_unlock(&port->lock);
		kfree(h);
		kshim_win_put(win);
		return -EFAULT;
	}
	return 0;
}

/* Look a handle up; returns the window with a reference. */
struct kshim_win *kshim_handle_get(struct kshim_port *port, u32 handle, bool *rdonly, int *err)
{
	struct kshim_handle *h;
	struct kshim_win *win = NULL;

	if (!handle || handle > INT_MAX) {
		*err = -EBADF;
		return NULL;
	}
	mutex_lock(&port->lock);
	h = idr_find(&port->handles, handle);
	if (h) {
		win = h->win;
		kref_get(&win->ref);
		*rdonly = h->rdonly;
	}
	mutex_unlock(&port->lock);
	if (!win)
		*err = -EBADF;
	return win;
}

long kshim_win_release(struct kshim_port *port, void __user *arg)
{
	struct kshim_win_release r;
	struct kshim_handle *h;

	if (copy_from_user(&r, arg, sizeof(r)))
		return -EFAULT;
	if (r.pad)
		return -EINVAL;
	if (!r.handle || r.handle > INT_MAX)
		return -EBADF;
	mutex_lock(&port->lock);
	h = idr_remove(&port->handles, r.handle);
	if (h)
		port->nhandles--;
	mutex_unlock(&port->lock);
	if (!h)
		return -EBADF;
	kshim_win_put(h->win);
	kfree(h);
	return 0;
}

static struct kshim_win *owned_win(struct kshim_port *port, u32 handle, int *err)
{
	struct kshim_win *win;
	bool rdonly;

	win = kshim_handle_get(port, handle, &rdonly, err);
	if (!win)
		return NULL;
	if (win->owner_port != port->id || rdonly) {
		kshim_win_put(win);
		*err = -EPERM;
		return NULL;
	}
	return win;
}

long kshim_win_expose(struct kshim_port *port, void __user *arg)
{
	struct kshim_win_expose e;
	struct kshim_win *win;
	int err = 0;

	if (copy_from_user(&e, arg, sizeof(e)))
		return -EFAULT;
	if (e.exposed > 1)
		return -EINVAL;
	win = owned_win(port, e.handle, &err);
	if (!win)
		return err;
	if (!win->kernel_owned) {
		kshim_win_put(win);
		return -EINVAL;
	}
	down_read(&win->sem);
	mutex_lock(&win->fmutex);
	if (win->dead) {
		err = -ENXIO;
	} else if (e.exposed && !win->exposed) {
		win->exposed = true;
		/*
		 * Zap every mapping: the owner's fault again and get SIGBUS,
		 * peers' fault the same pages back in.
		 */
		unmap_mapping_range(win->inode->i_mapping, 0, 0, 1);
	} else {
		win->exposed = !!e.exposed;
	}
	mutex_unlock(&win->fmutex);
	up_read(&win->sem);
	kshim_win_put(win);
	return err;
}

long kshim_win_revoke(struct kshim_port *port, void __user *arg)
{
	struct kshim_win_revoke r;
	struct kshim_win *win;
	int err = 0;

	if (copy_from_user(&r, arg, sizeof(r)))
		return -EFAULT;
	if (r.pad)
		return -EINVAL;
	win = owned_win(port, r.handle, &err);
	if (!win)
		return err;
	if (READ_ONCE(win->dead))
		err = -ENXIO;
	else
		win_kill(win);
	kshim_win_put(win);
	return err;
}

/*
 * Staged delivery by moving: put pages[0..n) at window page off/PAGE_SIZE
 * on, and hand the window's old pages back in pages[]. Every mapping of
 * the window loses its PTEs for the range before the old pages leave.
 * Caller checked range and alignment.
 *
 * The old pages are not cleared: they go to the submitting port's pool,
 * whence they reach user space only as that port's fresh staging pages
 * (WIN_ALLOC clears what it takes). What they hold is the window's range
 * just overwritten by the caller, which the caller's writable handle let
 * it read anyway; clearing them would cost as much as the copy the move
 * saves.
 */
int kshim_win_move_pages(struct kshim_win *win, u64 off, struct page **pages, unsigned long n)
{
	unsigned long first = off >> PAGE_SHIFT, i;

	down_write(&win->sem);
	if (win->dead) {
		up_write(&win->sem);
		return -ENXIO;
	}
	mutex_lock(&win->fmutex);
	for (i = 0; i < n; i++)
		swap(win->pages[first + i], pages[i]);
	unmap_mapping_range(win->inode->i_mapping, off, (loff_t)n << PAGE_SHIFT, 1);
	mutex_unlock(&win->fmutex);
	up_write(&win->sem);
	return 0;
}
