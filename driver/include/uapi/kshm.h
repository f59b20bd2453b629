/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kshm: pages shared between the kernel and user space, guarded by a lock
 * that the kernel owns. This header is the ABI: the driver, libkshm and the
 * tests all include it. Every struct has a fixed size and the same layout
 * for 32- and 64-bit callers (only __u32/__s32/__u64 fields, 8-byte aligned).
 *
 * MAPPING (byte offsets into /dev/kshm, all page-aligned)
 *
 *   0                 header page: struct kshm_header, read-only to users.
 *                     A writable mapping of it is refused, and it can never
 *                     be made writable later (no VM_MAYWRITE).
 *   data_offset       hdr->pages data pages (hdr->data_size bytes) that the
 *                     kernel and every opener share. data_offset is one
 *                     page: the data follows the header.
 *   ctrl_offset       the control page (struct kshm_ctrl): the lock word,
 *                     the reader seqcount and the generation. Writable by
 *                     openers with write access (MAP_SHARED), read-only to
 *                     the others. It follows the data: (1 + pages) pages.
 *
 * The mapping must be MAP_SHARED to be writable; mappings never grow.
 *
 * THE LOCK
 *
 * One lock guards the data. It belongs to the open file description that
 * took it (ctrl->lock holds that file's id, KSHM_IOC_INFO's file_id) or to
 * the kernel (KSHM_LW_KERNEL). It is taken in one of two ways:
 *
 * - Slow path: KSHM_IOC_LOCK blocks until the lock is granted, in FIFO order
 *   (no barging; exactly one waiter is woken per hand-off).
 * - Fast path (futex-like, no syscall when uncontended):
 *	acquire: CAS(ctrl->lock, 0 -> id), or CAS(KSHM_LW_DIED -> id|DIED) (the
 *	         previous holder died); then make ctrl->seq odd (seq | 1).
 *	         Any other value: the lock is taken or has waiters: use the slow
 *	         path, which queues behind the waiters.
 *	release: on commit, ctrl->generation += 1; then ctrl->seq = (seq | 1) + 1
 *	         (even: readers may copy); then CAS(lock, id[|DIED] -> 0) on
 *	         commit (a commit repairs OWNER_DIED) or -> lock & DIED on abort.
 *	         If that CAS fails, KSHM_LW_WAITERS is set: call KSHM_IOC_UNLOCK
 *	         with KSHM_UNLOCK_PUBLISHED and the kernel hands the lock to the
 *	         longest waiter. After a commit that needed no UNLOCK, call
 *	         KSHM_IOC_WAKE if ctrl->pollers is non-zero (a full barrier between
 *	         the generation store and the pollers load).
 *
 * A lock is released the way it was taken: a lock granted by KSHM_IOC_LOCK is
 * released by KSHM_IOC_UNLOCK (without KSHM_UNLOCK_PUBLISHED: the kernel then
 * advances the generation and ends the seqcount write section itself).
 *
 * When its holder closes the file or dies, the driver frees the lock with
 * KSHM_LW_DIED set and hands it on: the next holder is told
 * KSHM_LOCK_OWNER_DIED (the data may be half-written) until a user commit.
 * A close counts when the closing process is the one that opened the file or
 * last took the lock through KSHM_IOC_LOCK; the last close always counts.
 *
 * The control page is writable by every writer, so the driver treats every
 * value in it as untrusted input: a forged lock word can make cooperating
 * users wait or time out, never crash or hang the kernel. Waiters recheck a
 * lock word they were not woken for every 50 ms.
 *
 * READER PROTOCOL (consistent snapshots without a syscall)
 *
 * ctrl->seq is odd while a holder may write and even otherwise. A reader:
 *
 *	do {
 *		s1 = __atomic_load_n(&ctrl->seq, __ATOMIC_ACQUIRE);
 *		if (s1 & 1)
 *			continue;	(a writer is in: wait, or give up: EAGAIN)
 *		copy the data (and ctrl->generation) it needs;
 *		__atomic_thread_fence(__ATOMIC_ACQUIRE);    (smp_rmb)
 *		s2 = __atomic_load_n(&ctrl->seq, __ATOMIC_RELAXED);
 *	} while (s1 != s2 || (s1 & 1));
 *
 * Holders make seq odd with a store followed by a write barrier before they
 * write, and even again after a write barrier once done (for the slow path
 * the kernel does both). Users who ignore the lock can still scribble on the
 * data pages; the kernel never trusts what the data pages contain.
 *
 * CHANGE NOTIFICATION
 *
 * poll()/select()/epoll report EPOLLIN when ctrl->generation has advanced
 * since this open file last read it. read() of 8 bytes returns the current
 * generation (__u64) and marks it seen; it blocks unless O_NONBLOCK (EAGAIN).
 * A poller sets ctrl->pollers before it checks the generation, so that
 * fast-path committers know to call KSHM_IOC_WAKE; the wake clears it.
 */
#ifndef _UAPI_LINUX_KSHM_H
#define _UAPI_LINUX_KSHM_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define KSHM_DEVICE_PATH	"/dev/kshm"
#define KSHM_MAGIC		0x4d48534bU	/* "KSHM" in memory order */
#define KSHM_ABI_VERSION	2
#define KSHM_MAX_PAGES		1024

/*
 * commit_ns: commits through the kernel only (UNLOCK, kernel writers), not
 * fast-path commits, which never enter the kernel.
 *
 * struct kshm_header.flags, holder_pid and waiters mirror the lock as of the
 * driver's last slow-path event (LOCK, UNLOCK, a hand-off, a waiter); a lock
 * taken and released on the fast path never shows there. KSHM_IOC_INFO and
 * ctrl->lock are always current. waiters is exact: only the slow path waits.
 */
#define KSHM_HDR_LOCKED		(1U << 0)	/* someone holds the lock */
#define KSHM_HDR_KERNEL_HOLDER	(1U << 1)	/* ...and it is the kernel */
#define KSHM_HDR_OWNER_DIED	(1U << 2)	/* a holder died; not repaired yet */

/* struct kshm_header.features */
#define KSHM_FEAT_LOCKWORD	(1U << 0)	/* ctrl page with a lock word */

/* struct kshm_ctrl.lock */
#define KSHM_LW_OWNER_MASK	0x3fffffffU	/* holder: a file id, or ... */
#define KSHM_LW_KERNEL		KSHM_LW_OWNER_MASK	/* ...the kernel */
#define KSHM_LW_WAITERS		(1U << 30)	/* KSHM_IOC_LOCK callers queued */
#define KSHM_LW_DIED		(1U << 31)	/* a holder died; not repaired */

/* The header page. Only the kernel writes it; users map it read-only. */
struct kshm_header {
	__u32 magic;		/* KSHM_MAGIC */
	__u32 abi_version;	/* KSHM_ABI_VERSION */
	__u32 page_size;	/* bytes in a page */
	__u32 pages;		/* data pages */
	__u32 abi1_seq;		/* ABI 1's seqcount: 0, see kshm_ctrl */
	__u32 flags;		/* KSHM_HDR_* */
	__u64 abi1_generation;	/* ABI 1's generation: 0, see kshm_ctrl */
	__s32 holder_pid;	/* tgid of the holder, 0: free or kernel */
	__u32 waiters;		/* blocked in KSHM_IOC_LOCK */
	__u64 data_offset;	/* mmap offset of the data pages */
	__u64 data_size;	/* pages * page_size */
	__u64 ctrl_offset;	/* mmap offset of the control page, or 0 */
	__u64 commit_ns;	/* CLOCK_MONOTONIC of the last kernel-side commit */
	__u32 tick_offset;	/* data offset of struct kshm_tick */
	__u32 features;		/* KSHM_FEAT_* */
	__u64 reserved[6];
};

/*
 * The control page, at hdr->ctrl_offset: what a fast-path holder must be able
 * to write. Only the first 64 bytes are used; the rest of the page is 0.
 */
struct kshm_ctrl {
	__u32 lock;		/* owner id | KSHM_LW_WAITERS | KSHM_LW_DIED; 0: free */
	__u32 seq;		/* reader seqcount: odd while a holder writes */
	__u64 generation;	/* commits so far */
	__u32 pollers;		/* non-zero: a fast commit must KSHM_IOC_WAKE */
	__u32 reserved0;
	__u64 reserved[5];
};

/*
 * What the kernel ticker (module parameter tick_ms) commits every tick, at
 * hdr->tick_offset in the data area: the last 16 bytes of the data.
 */
struct kshm_tick {
	__u64 count;		/* ticks committed since load */
	__u64 mono_ns;		/* CLOCK_MONOTONIC when written */
};

#define KSHM_TICK_OFFSET(data_size)	((data_size) - sizeof(struct kshm_tick))

/* struct kshm_lock_req.flags (in) */
#define KSHM_LOCK_TRY		(1U << 0)	/* EBUSY instead of waiting */
/* struct kshm_lock_req.result and kshm_kwrite_req.result (out) */
#define KSHM_LOCK_OWNER_DIED	(1U << 0)	/* previous holder died */

struct kshm_lock_req {
	__u32 timeout_ms;	/* in: 0 waits without a time limit */
	__u32 flags;		/* in: KSHM_LOCK_* */
	__u32 result;		/* out: KSHM_LOCK_OWNER_DIED */
	__u32 reserved;		/* must be 0 */
	__u64 generation;	/* out: the generation when granted */
};

/* struct kshm_unlock_req.flags: exactly one of */
#define KSHM_UNLOCK_COMMIT	(1U << 0)
#define KSHM_UNLOCK_ABORT	(1U << 1)
/* ...optionally with: the caller already ended the write section (fast path) */
#define KSHM_UNLOCK_PUBLISHED	(1U << 2)

struct kshm_unlock_req {
	__u32 flags;		/* in: KSHM_UNLOCK_COMMIT or _ABORT */
	__u32 reserved;		/* must be 0 */
	__u64 generation;	/* out: the generation after unlocking */
};

/* Ask the kernel to write bytes at an offset, under the lock, and commit. */
struct kshm_kwrite_req {
	__u64 offset;		/* in: byte offset in the data area */
	__u64 data;		/* in: user pointer to the bytes */
	__u32 len;		/* in: 1..data_size */
	__u32 timeout_ms;	/* in: lock wait limit, 0: none */
	__u32 result;		/* out: KSHM_LOCK_OWNER_DIED */
	__u32 reserved;		/* must be 0 */
	__u64 generation;	/* out: the generation of this commit */
};

struct kshm_info {
	__u32 abi_version;
	__u32 pages;
	__u32 page_size;
	__u32 flags;		/* KSHM_HDR_* */
	__u64 generation;
	__s32 holder_pid;
	__u32 waiters;
	__u32 tick_ms;
	__u32 features;
	__u64 locks_granted;	/* LOCKs granted, user and kernel */
	__u64 locks_contended;	/* ...that had to wait */
	__u64 lock_timeouts;
	__u64 lock_cancels;
	__u64 owner_died;	/* holders that died with the lock */
	__u64 commits;
	__u64 aborts;
	__u64 kernel_writes;	/* KWRITEs committed */
	__u64 ticks;		/* ticks committed */
	__u64 ticks_skipped;	/* ticks skipped: lock not had in time */
	__u32 file_id;		/* the caller's lock-word id, see THE LOCK */
	__u32 lock_word;	/* ctrl->lock when INFO ran */
	__u64 lock_reclaims;	/* words that named nobody, reclaimed */
	__u64 reserved[4];
};

#define KSHM_IOC_MAGIC	0xb9

#define KSHM_IOC_INFO	_IOR(KSHM_IOC_MAGIC, 0, struct kshm_info)
#define KSHM_IOC_LOCK	_IOWR(KSHM_IOC_MAGIC, 1, struct kshm_lock_req)
#define KSHM_IOC_UNLOCK	_IOWR(KSHM_IOC_MAGIC, 2, struct kshm_unlock_req)
/* Wake this open file's blocked KSHM_IOC_LOCK calls with ECANCELED. */
#define KSHM_IOC_CANCEL	_IO(KSHM_IOC_MAGIC, 3)
#define KSHM_IOC_KWRITE	_IOWR(KSHM_IOC_MAGIC, 4, struct kshm_kwrite_req)
/* Wake pollers after a fast-path commit (when ctrl->pollers was set). */
#define KSHM_IOC_WAKE	_IO(KSHM_IOC_MAGIC, 5)
/* Numbers 6 to 15 are reserved. */

#endif /* _UAPI_LINUX_KSHM_H */
