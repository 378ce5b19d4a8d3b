/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kshim internals: page pools, ports, windows, operations.
 *
 * Locking order (outer first):
 *   mmap_lock -> kshim_win.fmutex / kshim_port.stage_mutex -> i_mmap_rwsem
 *   kshim_win.sem (ops: read; revoke, move: write) -> kshim_win.fmutex
 *   kshim_port.lock (handle table) is never held while touching user memory
 *   kshim_port.cq_lock and kshim_pool.lock are innermost spinlocks.
 *
 * Window and staging mappings are VM_PFNMAP: the fault handler inserts the
 * pfn under fmutex/stage_mutex, and whoever swaps or frees a page does so
 * under the same mutex and zaps every mapping of it before letting go, so
 * no mapping can outlive the page it shows. A staged put also inserts the
 * fresh staging pages into the caller's view right after the zap, under
 * mmap_lock (read) and stage_mutex, as the fault handler would. GUP
 * refuses VM_PFNMAP, so our pages never carry references we do not know
 * about.
 */
#ifndef KSHIM_INT_H
#define KSHIM_INT_H

#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/kref.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/rwsem.h>
#include <linux/spinlock.h>
#include <linux/uio.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "uapi/kshim.h"

/* mmap offsets of the port file */
#define KSHIM_RING_OFF 0ULL
#define KSHIM_STAGE_OFF 0x40000000ULL
#define KSHIM_STAGE_PGOFF (KSHIM_STAGE_OFF >> PAGE_SHIFT)

struct kshim_pool {
	struct kref ref;
	spinlock_t lock;
	struct page **free; /* stack of free pages, capacity total */
	unsigned long nfree;
	unsigned long total;
	struct mm_struct *mm; /* charged (locked_vm), mmgrab'ed */
	unsigned long charged;
};

struct kshim_cqnode {
	struct list_head link;
	struct kshim_cqe cqe;
	void *alloc; /* what to kfree once the entry is in the ring */
};

struct kshim_port {
	struct kref ref;
	u64 id;
	struct mutex lock; /* attach, handles */
	bool attached;
	bool closed;
	struct kshim_pool *pool;
	struct inode *inode; /* own address space for the staging mappings */
	struct idr handles;
	unsigned int nhandles;

	/* completion ring */
	struct kshim_ring_hdr *ring;
	size_t ring_len;
	u32 entries;
	u32 tail; /* kernel's copy; never read back from user memory */
	spinlock_t cq_lock;
	struct list_head overflow;
	u32 noverflow;
	wait_queue_head_t wq;
	/* work items on the workqueue, at most kshim_max_queued: a port
	 * that never reaps cannot queue without end, and the copies left
	 * when its process is killed end soon */
	atomic_t queued;

	/* staging area */
	struct mutex stage_mutex;
	struct page **stage;
	unsigned long stage_pages;
};

struct kshim_win {
	struct kref ref;
	struct rw_semaphore sem;
	struct mutex fmutex; /* pages[] and flags as seen by faults */
	bool dead;
	bool exposed;
	bool kernel_owned;
	atomic_t nfiles;
	struct inode *inode;
	struct page **pages;
	unsigned long npages;
	u64 len;
	unsigned int off0; /* byte offset of the window in pages[0] */
	struct kshim_pool *pool; /* kernel-owned */
	struct mm_struct *owner_mm; /* mmgrab'ed */
	u64 owner_port;
	kuid_t uid;
	unsigned long pinned; /* registered: pages charged to pinned_vm */
};

struct kshim_handle {
	struct kshim_win *win;
	bool rdonly;
};

struct kshim_stats_global {
	atomic64_t ports, windows, pool_pages, pinned_pages;
	atomic64_t ops_sync, ops_async, pages_moved, pages_copied;
};

extern struct kshim_stats_global kshim_st;
extern struct workqueue_struct *kshim_wq;
extern struct vfsmount *kshim_mnt;
extern unsigned long kshim_sync_threshold;
extern unsigned int kshim_max_queued;
extern unsigned long kshim_max_pin_pages;
extern unsigned long kshim_max_pinned_total;

/* pool.c */
struct kshim_pool *kshim_pool_create(unsigned long pages, int *err);
void kshim_pool_put(struct kshim_pool *pool);
int kshim_pool_get_n(struct kshim_pool *pool, struct page **pages, unsigned long n);
void kshim_pool_put_n(struct kshim_pool *pool, struct page **pages, unsigned long n);

/* port.c */
void kshim_port_release_ref(struct kref *ref);
int kshim_post(struct kshim_port *port, struct kshim_cqnode *node);

/* win.c */
extern const struct file_operations kshim_win_fops;
long kshim_win_alloc(struct kshim_port *port, void __user *arg);
long kshim_win_register(struct kshim_port *port, void __user *arg);
long kshim_win_dup(struct kshim_port *port, void __user *arg);
long kshim_win_import(struct kshim_port *port, void __user *arg);
long kshim_win_release(struct kshim_port *port, void __user *arg);
long kshim_win_expose(struct kshim_port *port, void __user *arg);
long kshim_win_revoke(struct kshim_port *port, void __user *arg);
void kshim_win_put(struct kshim_win *win);
struct kshim_win *kshim_handle_get(struct kshim_port *port, u32 handle, bool *rdonly, int *err);
int kshim_win_move_pages(struct kshim_win *win, u64 off, struct page **pages, unsigned long n);

/* ops.c */
long kshim_submit(struct kshim_port *port, void __user *arg);
vm_fault_t kshim_stage_fault(struct vm_fault *vmf);

#endif
