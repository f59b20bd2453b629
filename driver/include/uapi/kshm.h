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
 *   ctrl_offset       reserved for the lock-word fast path (a user-writable
 *                     control page after the data); 0 while the driver does
 *                     not offer it (see KSHM_FEAT_LOCKWORD).
 *
 * The mapping must be MAP_SHARED to be writable; mappings never grow.
 *
 * THE LOCK
 *
 * KSHM_IOC_LOCK blocks until the lock is granted, in FIFO order (no
 * barging; exactly one waiter is woken per hand-off). The lock belongs to the
 * open file description that took it. When its holder closes that file or
 * dies, the lock passes on and the next holder is told KSHM_LOCK_OWNER_DIED:
 * the data may be half-written. KSHM_IOC_UNLOCK with KSHM_UNLOCK_COMMIT
 * advances the generation and wakes pollers; KSHM_UNLOCK_ABORT does not.
 *
 * READER PROTOCOL (consistent snapshots without a syscall)
 *
 * hdr->seq is odd while the region is locked (or being handed over by the
 * kernel) and even otherwise. A reader:
 *
 *	do {
 *		s1 = __atomic_load_n(&hdr->seq, __ATOMIC_ACQUIRE);
 *		if (s1 & 1)
 *			continue;	(a writer is in: wait, or give up: EAGAIN)
 *		copy the data (and hdr->generation) it needs;
 *		__atomic_thread_fence(__ATOMIC_ACQUIRE);    (smp_rmb)
 *		s2 = __atomic_load_n(&hdr->seq, __ATOMIC_RELAXED);
 *	} while (s1 != s2 || (s1 & 1));
 *
 * The writer side (the kernel) makes seq odd with a store followed by
 * smp_wmb() before the holder can write, and even again after smp_wmb() once
 * the holder has unlocked. The copy is consistent when s1 == s2 and even.
 * Users who ignore the lock can still scribble on the data pages; the kernel
 * never trusts what the data pages contain.
 *
 * CHANGE NOTIFICATION
 *
 * poll()/select()/epoll report EPOLLIN when the generation has advanced since
 * this open file last read it. read() of 8 bytes returns the current
 * generation (__u64) and marks it seen; it blocks unless O_NONBLOCK (EAGAIN).
 */
#ifndef _UAPI_LINUX_KSHM_H
#define _UAPI_LINUX_KSHM_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define KSHM_DEVICE_PATH	"/dev/kshm"
#define KSHM_MAGIC		0x4d48534bU	/* "KSHM" in memory order */
#define KSHM_ABI_VERSION	1
#define KSHM_MAX_PAGES		1024

/* struct kshm_header.flags */
#define KSHM_HDR_LOCKED		(1U << 0)	/* someone holds the lock */
#define KSHM_HDR_KERNEL_HOLDER	(1U << 1)	/* ...and it is the kernel */
#define KSHM_HDR_OWNER_DIED	(1U << 2)	/* a holder died; not repaired yet */

/* struct kshm_header.features */
#define KSHM_FEAT_LOCKWORD	(1U << 0)	/* ctrl page with a lock word */

/* The header page. Only the kernel writes it; users map it read-only. */
struct kshm_header {
	__u32 magic;		/* KSHM_MAGIC */
	__u32 abi_version;	/* KSHM_ABI_VERSION */
	__u32 page_size;	/* bytes in a page */
	__u32 pages;		/* data pages */
	__u32 seq;		/* seqcount: odd while locked */
	__u32 flags;		/* KSHM_HDR_* */
	__u64 generation;	/* commits so far */
	__s32 holder_pid;	/* tgid of the holder, 0: free or kernel */
	__u32 waiters;		/* blocked in KSHM_IOC_LOCK */
	__u64 data_offset;	/* mmap offset of the data pages */
	__u64 data_size;	/* pages * page_size */
	__u64 ctrl_offset;	/* mmap offset of the control page, or 0 */
	__u64 commit_ns;	/* CLOCK_MONOTONIC of the last commit */
	__u32 tick_offset;	/* data offset of struct kshm_tick */
	__u32 features;		/* KSHM_FEAT_* */
	__u64 reserved[6];
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
	__u64 reserved[6];
};

#define KSHM_IOC_MAGIC	0xb9

#define KSHM_IOC_INFO	_IOR(KSHM_IOC_MAGIC, 0, struct kshm_info)
#define KSHM_IOC_LOCK	_IOWR(KSHM_IOC_MAGIC, 1, struct kshm_lock_req)
#define KSHM_IOC_UNLOCK	_IOWR(KSHM_IOC_MAGIC, 2, struct kshm_unlock_req)
/* Wake this open file's blocked KSHM_IOC_LOCK calls with ECANCELED. */
#define KSHM_IOC_CANCEL	_IO(KSHM_IOC_MAGIC, 3)
#define KSHM_IOC_KWRITE	_IOWR(KSHM_IOC_MAGIC, 4, struct kshm_kwrite_req)
/* Numbers 5 to 15 are reserved for the lock-word fast path. */

#endif /* _UAPI_LINUX_KSHM_H */
