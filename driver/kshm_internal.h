/* SPDX-License-Identifier: GPL-2.0 */
/* kshm: state shared by the driver's files. Nothing here is user-visible. */
#ifndef _KSHM_INTERNAL_H
#define _KSHM_INTERNAL_H

#include <linux/list.h>
#include <linux/mm_types.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>
#include "include/uapi/kshm.h"

struct kshm_stats {
	u64 locks_granted;
	u64 locks_contended;
	u64 lock_timeouts;
	u64 lock_cancels;
	u64 owner_died;
	u64 commits;
	u64 aborts;
	u64 kernel_writes;
	u64 ticks;
	u64 ticks_skipped;
};

/*
 * The one shared region. The lock state lives here, private to the kernel;
 * the header page only mirrors it for readers, and is never read back.
 */
struct kshm_region {
	spinlock_t lock;		/* owner, waiters, seq, generation, stats */
	const void *owner;		/* struct kshm_file *, &kshm_kernel_owner, NULL */
	pid_t owner_tgid;		/* 0 for the kernel */
	struct list_head waiters;	/* struct kshm_waiter, FIFO */
	unsigned int nr_waiters;
	bool owner_died;		/* a holder died: tell the next ones */
	u32 seq;
	u64 generation;
	struct kshm_stats stats;

	struct mutex kernel_mutex;	/* serialises kernel-side holders */
	wait_queue_head_t commit_wq;	/* poll() and read() */

	unsigned int nr_pages;		/* data pages */
	unsigned long map_pages;	/* header + data: the mappable range */
	struct page **pages;		/* [0] header, [1..] data */
	struct kshm_header *hdr;	/* kernel address of the header page */
	void *data;			/* vmap of the data pages */
	size_t data_size;
};

/* Per open file description. The lock belongs to one of these. */
struct kshm_file {
	struct kshm_region *region;
	u64 seen_generation;		/* for poll() and read() */
	bool writable;			/* opened with write access */
};

/* The kernel's identity as a lock holder. */
extern const int kshm_kernel_owner;

extern struct kshm_region kshm_region;

/* kshm_lock.c */
int kshm_region_lock(struct kshm_region *r, const void *owner, long timeout,
		     bool try, u32 *result, u64 *generation);
int kshm_region_unlock(struct kshm_region *r, const void *owner, bool commit,
		       u64 *generation);
void kshm_region_cancel(struct kshm_region *r, const void *owner);
void kshm_region_owner_gone(struct kshm_region *r, const void *owner,
			    bool any_process);
bool kshm_region_holds(struct kshm_region *r, const void *owner);
void kshm_region_info(struct kshm_region *r, struct kshm_info *info);
long kshm_timeout_jiffies(u32 timeout_ms);

/* kshm_mmap.c */
int kshm_mmap(struct file *file, struct vm_area_struct *vma);

/* kshm_tick.c */
extern unsigned int kshm_tick_ms;
void kshm_tick_start(void);
void kshm_tick_stop(void);

/* kshm_kapi.c */
int kshm_kwrite(struct kshm_region *r, u64 offset, const void *src, u32 len,
		u32 timeout_ms, u32 *result, u64 *generation);
void kshm_kapi_count_kwrite(struct kshm_region *r);

#endif /* _KSHM_INTERNAL_H */
