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
#include <linux/xarray.h>
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
 * The one shared region. Who holds the lock is the word in the control page
 * (users take it there without a syscall); the kernel keeps the queue of
 * waiters, the ids of the open files and the statistics. The header page
 * mirrors what the kernel saw last, and is never read back.
 */
struct kshm_region {
	spinlock_t lock;		/* waiters, stats, kernel writes of ctrl */
	struct list_head waiters;	/* struct kshm_waiter, FIFO */
	unsigned int nr_waiters;
	struct xarray files;		/* file id -> struct kshm_file */
	bool kernel_holds;		/* granted to the kernel (trusts no word) */
	struct kshm_stats stats;

	struct mutex kernel_mutex;	/* serialises kernel-side holders */
	wait_queue_head_t commit_wq;	/* poll() and read() */

	unsigned int nr_pages;		/* data pages */
	unsigned long map_pages;	/* header + data + ctrl: the mappable range */
	struct page **pages;		/* [0] header, [1..nr_pages] data, then ctrl */
	struct kshm_header *hdr;	/* kernel address of the header page */
	struct kshm_ctrl *ctrl;		/* ...of the control page: user-writable */
	void *data;			/* vmap of the data pages */
	size_t data_size;
};

/* Per open file description. The lock belongs to one of these. */
struct kshm_file {
	struct kshm_region *region;
	u32 id;				/* its value in ctrl->lock */
	pid_t lock_tgid;		/* opener, then last KSHM_IOC_LOCK caller */
	u64 seen_generation;		/* for poll() and read() */
	bool writable;			/* opened with write access */
};

extern struct kshm_region kshm_region;

/*
 * kshm_lock.c. A NULL struct kshm_file * stands for the kernel as a holder.
 * unlock flags: KSHM_UNLOCK_COMMIT or _ABORT, maybe with _PUBLISHED.
 */
int kshm_region_lock(struct kshm_region *r, struct kshm_file *f, long timeout,
		     bool try, u32 *result, u64 *generation);
int kshm_region_unlock(struct kshm_region *r, struct kshm_file *f, u32 flags,
		       u64 *generation);
void kshm_region_cancel(struct kshm_region *r, struct kshm_file *f);
void kshm_region_owner_gone(struct kshm_region *r, struct kshm_file *f,
			    bool last_close);
bool kshm_region_holds(struct kshm_region *r, struct kshm_file *f);
void kshm_region_info(struct kshm_region *r, struct kshm_file *f,
		      struct kshm_info *info);
u64 kshm_region_generation(struct kshm_region *r);
bool kshm_region_changed(struct kshm_region *r, struct kshm_file *f);
void kshm_region_wake(struct kshm_region *r);
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
