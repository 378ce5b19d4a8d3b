/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note OR BSD-2-Clause */
/*
 * kshim user ABI: the one contract between the kshim kernel module and
 * user space (libwin's kshim transport, the module's tests).
 *
 * Objects
 *   /dev/kshim          misc device. Each open file is a "port": it owns a
 *                       page pool, a completion ring and a table of imported
 *                       windows (handles). Ports are private to the process
 *                       that opened them.
 *   window file         an anonymous file returned by WIN_ALLOC or
 *                       WIN_REGISTER. Holding it is the right to the window:
 *                       it is passed to peers over a UNIX socket
 *                       (SCM_RIGHTS). WIN_DUP makes a read-only copy.
 *                       WIN_IMPORT turns it into a handle on a port.
 *                       Importing a window of another user fails with EACCES.
 *                       When the owner frees the window (WIN_REVOKE, or the
 *                       last reference to its files goes) every handle on it
 *                       fails with ENXIO / status -ENXIO.
 *
 * Version: the library calls KSHIM_IOC_VERSION first and refuses a module
 * whose major differs from KSHIM_ABI_MAJOR. Minors only add.
 *
 * Every structure has explicit padding; reserved fields must be zero (else
 * EINVAL) so they can be given meaning later. All sizes and offsets are
 * bytes unless named *_pages.
 *
 * Clarifications (ABI 1.0, as the module implements it; no layout change):
 *   - ioctls return 0 or -1/errno; unknown commands ENOTTY; a NULL or bad
 *     argument pointer EFAULT. Before ATTACH every ioctl but VERSION, STATS
 *     and ATTACH fails with ENOTCONN; a second ATTACH with EBUSY.
 *   - A port belongs to the process (mm) that attached it: ioctls and mmap
 *     of the staging area from another process (e.g. a forked child still
 *     holding the fd) fail with EPERM. Window files, by contrast, are meant
 *     to be passed around.
 *   - "out" fields (fd, handle, len, flags, new_fd, done) must be zero on
 *     input, like reserved fields.
 *   - Windows and the staging area map with MAP_SHARED only (MAP_PRIVATE:
 *     EINVAL), at most their size (EINVAL beyond). A registered window maps
 *     only if addr and len are page-aligned (else its first and last pages
 *     would show the owner's neighbouring bytes): EINVAL otherwise. Such a
 *     mapping shows the window's pinned pages, the very pages SUBMIT and
 *     the owner's own accesses use, for as long as the window lives (an
 *     owner's later munmap of the range does not free them); freeing or
 *     revoking the window zaps it (SIGBUS afterwards).
 *   - EXPOSE/REVOKE by a port that is not the window's owner: EPERM.
 *     EXPOSE of a registered window: EINVAL (its pages are the owner's own
 *     memory). Exposure zaps every mapping of the window; peers fault the
 *     same pages back in transparently, only the owner gets SIGBUS.
 *   - The pool is trimmed (not refused) to the module caps and to what
 *     RLIMIT_MEMLOCK leaves (unless CAP_IPC_LOCK); ENOMEM only if nothing
 *     is left. A quarter of the granted pool backs the staging area; the
 *     rest serves WIN_ALLOC and staged-put exchanges.
 */
#ifndef _UAPI_KSHIM_H
#define _UAPI_KSHIM_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define KSHIM_DEVICE "/dev/kshim"
#define KSHIM_ABI_MAJOR 1
#define KSHIM_ABI_MINOR 0

#define KSHIM_IOC_MAGIC 'K'

/* --- version --------------------------------------------------------- */
struct kshim_version {
	__u32 major; /* out */
	__u32 minor; /* out */
	__u64 page_size; /* out: PAGE_SIZE of the kernel */
	__u64 max_pool_pages; /* out: per-port pool cap (module parameter) */
	__u64 max_ring_entries; /* out */
};

/* --- attach: size the port's pool and ring ---------------------------- */
/*
 * Once per port, before anything else but VERSION and STATS. The pool is
 * allocated here (bounded by the module's caps and by RLIMIT_MEMLOCK, to
 * which it is charged); operations never allocate pages afterwards.
 * ring_entries is rounded up to a power of two.
 */
struct kshim_attach {
	__u64 pool_pages;   /* in: wanted; out: granted */
	__u32 ring_entries; /* in: wanted (0: default); out: granted */
	__u32 flags;        /* in: 0 */
	__u64 ring_mmap_off; /* out: mmap offset of the ring */
	__u64 ring_mmap_len; /* out */
	__u64 stage_mmap_off; /* out: mmap offset of the staging area */
	__u64 stage_mmap_len; /* out: staging area size (<= pool) */
};

/* --- windows ----------------------------------------------------------- */
/*
 * Handle errors: EBADF for a handle not on this port (0 is never valid),
 * ENXIO once the window is gone. WIN_IMPORT: EBADF for a bad fd, EINVAL
 * for an fd that is not a window file, EACCES for another user's window
 * (effective uid at import vs. the creator's), ENXIO for a dead window.
 */
#define KSHIM_WIN_RDONLY 0x1u /* the file grants reads only */

/*
 * Kernel-owned window ("allocate" flavour): `len` bytes (rounded up to
 * pages) from the port's pool. mmap the returned window file (offset 0) for
 * load/store; a read-only file maps read-only. During exposure (EXPOSE) the
 * owner's mappings are revoked and any access by the owner raises SIGBUS
 * (BUS_ADRERR) until the exposure ends; peers' mappings stay.
 */
struct kshim_win_alloc {
	__u64 len;   /* in */
	__u32 flags; /* in: 0 */
	__s32 fd;    /* out: window file (O_CLOEXEC) */
};

/*
 * Window over the caller's memory ("create" flavour). The pages are pinned
 * (FOLL_LONGTERM) and charged to the process's pinned memory against
 * RLIMIT_MEMLOCK. Later munmap/mremap/fork/exit of the range do not affect
 * the pinned pages: the window keeps them until freed.
 */
struct kshim_win_register {
	__u64 addr;  /* in: page-aligned or not; the window is [addr, addr+len) */
	__u64 len;   /* in */
	__u32 flags; /* in: 0 */
	__s32 fd;    /* out: window file (O_CLOEXEC) */
};

/* Make a read-only copy of a window file (to hand to readers). */
struct kshim_win_dup {
	__s32 fd;     /* in: window file */
	__u32 flags;  /* in: KSHIM_WIN_RDONLY */
	__s32 new_fd; /* out */
	__u32 pad;
};

/* Turn a window file into a handle on this port. */
struct kshim_win_import {
	__s32 fd;       /* in: window file */
	__u32 handle;   /* out: small integer, valid on this port only */
	__u64 len;      /* out: window size in bytes */
	__u32 flags;    /* out: KSHIM_WIN_RDONLY, KSHIM_WIN_KERNEL_OWNED */
	__u32 pad;
};
#define KSHIM_WIN_KERNEL_OWNED 0x2u

/* Drop a handle from this port. */
struct kshim_win_release {
	__u32 handle;
	__u32 pad;
};

/*
 * Owner only (the port that allocated/registered the window, by handle as
 * returned by WIN_IMPORT of its own file): begin (exposed=1) or end
 * (exposed=0) an exposure epoch of a kernel-owned window.
 */
struct kshim_win_expose {
	__u32 handle;
	__u32 exposed;
};

/* Owner only: free the window now; every peer's handle and mapping dies. */
struct kshim_win_revoke {
	__u32 handle;
	__u32 pad;
};

/* --- operations ---------------------------------------------------------- */
enum kshim_opcode {
	KSHIM_OP_PUT = 1,  /* local iovec -> window [off, off+len) */
	KSHIM_OP_GET = 2,  /* window [off, off+len) -> local iovec */
	KSHIM_OP_ATOMIC = 3, /* one 4- or 8-byte atomic at off (aligned) */
	/*
	 * Staged put: [addr, addr+len) must lie in this port's staging area.
	 * The kernel takes the pages under the range and puts fresh pool pages
	 * at the same addresses (one TLB flush per batch), then delivers the
	 * taken pages' contents to the window: page-aligned whole pages into a
	 * kernel-owned window are moved (the window's old pages return to the
	 * pool), anything else is copied (inside SUBMIT up to the module's
	 * sync_threshold, by a worker above it). The op completes through
	 * the ring; the caller may reuse the staging range at once (the new
	 * pages' contents are undefined: they may hold earlier contents of
	 * a window range this port overwrote by a staged put, never other
	 * data).
	 */
	KSHIM_OP_PUT_STAGED = 4,
};

enum kshim_atomic_op {
	KSHIM_AOP_FETCH_ADD = 1,
	KSHIM_AOP_SWAP = 2,
	KSHIM_AOP_CSWAP = 3, /* if (*p == compare) *p = operand */
	KSHIM_AOP_AND = 4,
	KSHIM_AOP_OR = 5,
	KSHIM_AOP_XOR = 6,
	KSHIM_AOP_READ = 7,
};

/* op flags */
#define KSHIM_OPF_ASYNC 0x1u  /* may complete later through the ring */
#define KSHIM_OPF_NOTIFY 0x2u /* post a ring entry even if done at once */

/*
 * One operation. For PUT/GET, `addr` points at `iovcnt` struct iovec
 * (local buffers, total `len` bytes). For PUT_STAGED, addr/len is the
 * staging range. For ATOMIC, `width` is 4 or 8; operand/compare are the
 * values; the old value comes back in `result`.
 *
 * Synchronous or not (module 1.0): PUT/GET run inside SUBMIT unless the op
 * has KSHIM_OPF_ASYNC *and* len > the module parameter sync_threshold
 * (default 64 KiB); then status is -EINPROGRESS and a ring entry follows,
 * unless the port already has max_queued (module parameter, default 64)
 * work items queued: then the op runs inside SUBMIT like a small one (so
 * does a large staged copy), which bounds what a port that never reaps can
 * queue, and what is left to run after its process is killed.
 * Without KSHIM_OPF_ASYNC an op is always finished when SUBMIT returns.
 * ATOMIC always runs inside SUBMIT (len must be 0 or width; iovcnt and
 * addr 0; off must give a width-aligned address). PUT_STAGED always
 * answers -EINPROGRESS and always posts a ring entry (a move posts it
 * before SUBMIT returns). KSHIM_OPF_NOTIFY posts an entry for an op that
 * finished inside SUBMIT, failed ones included. Ops with unknown opcode or
 * flag bits, or nonzero pad: EINVAL. A PUT/GET whose iovec total differs
 * from len: EINVAL. A batch is at most 1<<20 ops (EINVAL).
 *
 * status: out. 0 done; -EINPROGRESS queued (a ring entry with `tag` will
 * come); else -errno (EINVAL malformed, EBADF/ENOENT bad handle, ENXIO window
 * gone, EACCES write to a read-only window, ERANGE outside the window,
 * EFAULT bad local memory, ENOMEM pool exhausted).
 */
struct kshim_op {
	__u16 opcode;   /* enum kshim_opcode */
	__u16 aop;      /* enum kshim_atomic_op (ATOMIC) */
	__u16 width;    /* ATOMIC: 4 or 8 */
	__u16 flags;    /* KSHIM_OPF_* */
	__u32 handle;   /* target window on this port */
	__u32 iovcnt;   /* PUT/GET: entries at addr */
	__u64 off;      /* byte offset in the window */
	__u64 addr;     /* see above */
	__u64 len;      /* bytes */
	__u64 operand;  /* ATOMIC */
	__u64 compare;  /* ATOMIC CSWAP */
	__u64 result;   /* out: ATOMIC old value */
	__u64 tag;      /* echoed in the ring entry */
	__s32 status;   /* out */
	__u32 pad;
};

/*
 * Submit `count` ops at `ops` (an array of struct kshim_op, updated in
 * place with status/result). Returns the number of ops processed (all of
 * them unless a fault on the array itself stops it); each op's own status
 * says how it went. Small operations run synchronously inside the call;
 * large ones (and all with KSHIM_OPF_ASYNC over the module's threshold) go
 * to a workqueue and complete through the ring.
 */
struct kshim_submit {
	__u64 ops;   /* user pointer */
	__u32 count; /* in */
	__u32 done;  /* out: ops processed */
};

/* --- completion ring ------------------------------------------------------ */
/*
 * mmap(ring_mmap_off, ring_mmap_len) of the port file: a header then
 * `entries` slots. The kernel writes slots at `tail` and advances it (with
 * release ordering); the process consumes at `head` and advances it.
 * poll()/select() on the port file report POLLIN while head != tail.
 * When the ring is full, completions wait in the kernel (never dropped)
 * and `overflow` counts how many are waiting. Waiting completions move
 * into the ring when the kernel next posts one, and on every poll()/
 * select() of the port: a process that found the ring empty but overflow
 * nonzero calls poll() (timeout 0 is fine) to flush them.
 * The kernel never trusts `head`: a nonsense value only makes it treat
 * the ring as full.
 */
struct kshim_ring_hdr {
	__u32 head;     /* written by the process */
	__u32 tail;     /* written by the kernel */
	__u32 mask;     /* entries - 1 */
	__u32 overflow; /* kernel: completions waiting for room */
	__u64 pad[6];   /* one cache line in all */
};

struct kshim_cqe {
	__u64 tag;
	__s32 status; /* 0 or -errno */
	__u32 flags;
	__u64 result;
};

/* --- statistics ----------------------------------------------------------- */
/*
 * Module-wide counters (any caller) and this port's (when attached).
 * port_pinned_pages is the calling process's pinned_vm (pages pinned by
 * all of its registrations, kshim's and others').
 */
struct kshim_stats {
	__u64 ports;           /* open ports */
	__u64 windows;         /* live windows */
	__u64 pool_pages;      /* pages held in all pools */
	__u64 pinned_pages;    /* user pages pinned by all registrations */
	__u64 ops_sync;        /* operations completed inside submit */
	__u64 ops_async;       /* operations completed by a worker */
	__u64 pages_moved;     /* staged pages delivered by moving */
	__u64 pages_copied;    /* staged pages delivered by copying */
	__u64 port_pool_pages; /* this port's pool */
	__u64 port_pool_free;  /* this port's free pages */
	__u64 port_pinned_pages;
	__u64 reserved[5];
};

#define KSHIM_IOC_VERSION      _IOR(KSHIM_IOC_MAGIC, 0x00, struct kshim_version)
#define KSHIM_IOC_ATTACH       _IOWR(KSHIM_IOC_MAGIC, 0x01, struct kshim_attach)
#define KSHIM_IOC_STATS        _IOR(KSHIM_IOC_MAGIC, 0x02, struct kshim_stats)
#define KSHIM_IOC_WIN_ALLOC    _IOWR(KSHIM_IOC_MAGIC, 0x10, struct kshim_win_alloc)
#define KSHIM_IOC_WIN_REGISTER _IOWR(KSHIM_IOC_MAGIC, 0x11, struct kshim_win_register)
#define KSHIM_IOC_WIN_DUP      _IOWR(KSHIM_IOC_MAGIC, 0x12, struct kshim_win_dup)
#define KSHIM_IOC_WIN_IMPORT   _IOWR(KSHIM_IOC_MAGIC, 0x13, struct kshim_win_import)
#define KSHIM_IOC_WIN_RELEASE  _IOW(KSHIM_IOC_MAGIC, 0x14, struct kshim_win_release)
#define KSHIM_IOC_WIN_EXPOSE   _IOW(KSHIM_IOC_MAGIC, 0x15, struct kshim_win_expose)
#define KSHIM_IOC_WIN_REVOKE   _IOW(KSHIM_IOC_MAGIC, 0x16, struct kshim_win_revoke)
#define KSHIM_IOC_SUBMIT       _IOWR(KSHIM_IOC_MAGIC, 0x20, struct kshim_submit)

#endif /* _UAPI_KSHIM_H */
