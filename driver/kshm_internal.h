/* SPDX-License-Identifier: GPL-2.0 */
/* kshm: state shared by the driver's files. Nothing here is user-visible. */
#ifndef _KSHM_INTERNAL_H
#define _KSHM_INTERNAL_H

#include <linux/kref.h>
#include <linux/list.h>
#include <linux/miscdevice.h>
#include <linux/mm_types.h>
#include <linux/mutex.h>
#include <linux/pid.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include "include/linux/kshm.h"
#include "kshm_compat.h"
#include "kshm_ring.h"

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
	u64 lock_reclaims;
};

/*
 * A shared region: the default one (/dev/kshm) or a named one
 * (/dev/kshm/NAME). Who holds the lock is the word in the control page
 * (users take it there without a syscall); the kernel keeps the queue of
 * waiters, the lock-word ids of (open file, process) pairs and the
 * statistics. The header page mirrors what the kernel saw last, and is
 * never read back.
 *
 * Lifetime: the creator holds one reference and every open file one (a
 * mapping holds its file). kshm_region_destroy() removes the device node,
 * marks the region dead (calls fail with -ENODEV, waits end), stops its
 * ticker and drops the creator's reference; the pages go with the last one.
 */
struct kshm_region {
	struct kref ref;
	struct list_head node;		/* in kshm_regions, under kshm_regions_mutex */
	char name[KSHM_REGION_NAME_MAX + 1];	/* "default" for the default region */
	char devname[sizeof("kshm/") + KSHM_REGION_NAME_MAX];	/* misc device name */
	struct miscdevice misc;		/* registered while the region is live */
	bool registered;		/* misc is registered (kshm_regions_mutex) */
	bool dead;			/* destroyed: calls fail with -ENODEV (under lock) */
	bool from_param;		/* created by regions=: destroyed at unload */

	spinlock_t lock;		/* waiters, owners, stats, kernel writes of ctrl */
	struct list_head waiters;	/* struct kshm_waiter, FIFO */
	unsigned int nr_waiters;
	struct xarray owners;		/* lock-word id -> struct kshm_owner */
	u32 next_id;			/* for xa_alloc_cyclic() */
	bool kernel_holds;		/* granted to the kernel (trusts no word) */
	const void *blocked_key;	/* kshm_region_block(): LOCK fails at once */
	struct kshm_stats stats;
	struct delayed_work recheck;	/* rechecks the word while anyone waits */

	wait_queue_head_t commit_wq;	/* poll() and read() */

	unsigned int nr_pages;		/* data pages */
	unsigned long map_pages;	/* header + data + ctrl: the mappable range */
	struct page **pages;		/* [0] header, [1..nr_pages] data, then ctrl */
	struct kshm_header *hdr;	/* kernel address of the header page */
	struct kshm_ctrl *ctrl;		/* ...of the control page: user-writable */
	void *data;			/* vmap of the data pages */
	size_t data_size;

	/* The ticker (kshm_tick.c). */
	struct mutex tick_mutex;	/* tick_ms changes, start, stop */
	unsigned int tick_ms;		/* 0: off */
	bool tick_enabled;		/* between kshm_tick_start() and _stop() */
	u64 tick_count;
	struct delayed_work tick_work;

	struct kshm_ring *ring;		/* events: mapped after map_pages; NULL: none */
};

/* Per open file description. */
struct kshm_file {
	struct kshm_region *region;
	struct list_head owners;	/* struct kshm_owner, under region->lock */
	u64 seen_generation;		/* for poll() and read() */
	bool writable;			/* opened with write access */
	struct kshm_ring_reader ev;	/* events: KSHM_IOC_EVENTS position */
};

/*
 * A lock-word id: one per (writable open file, process). The lock belongs to
 * one of these (or to the kernel). Linked into its file's list and the
 * region's xarray under region->lock, and only then valid.
 */
struct kshm_owner {
	struct list_head node;		/* in kshm_file.owners */
	struct kshm_file *file;		/* NULL until linked */
	struct pid *tgid;		/* the process (a reference) */
	u32 id;
};

/* kshm_main.c */
void kshm_region_get(struct kshm_region *r);
void kshm_region_put(struct kshm_region *r);
struct kshm_region *kshm_region_new(const char *name, unsigned int pages,
				    const struct kshm_region_opts *opts);
void kshm_region_misc_init(struct kshm_region *r, const char *devname, const char *nodename);

/* kshm_region.c: the regions, their device nodes, regions= */
extern struct kshm_region *kshm_default;
int kshm_regions_init(unsigned int default_pages);
void kshm_regions_exit(void);

/* kshm_lock.c. The kernel's id in the word, and in these calls, is KSHM_LW_KERNEL. */
int kshm_region_init_lock(struct kshm_region *r);
void kshm_region_stop_lock(struct kshm_region *r);
int kshm_region_lock(struct kshm_region *r, u32 id, const void *key, long *timeout,
		     u32 flags, u32 *result, u64 *generation);
int kshm_region_unlock_id(struct kshm_region *r, u32 id, u32 flags, u64 *generation);
void kshm_region_kill(struct kshm_region *r);
void kshm_region_cancel(struct kshm_region *r, const void *key);
void kshm_region_block(struct kshm_region *r, const void *key, bool block);
void kshm_region_unblock(struct kshm_region *r);
void kshm_region_owner_gone(struct kshm_region *r, struct kshm_file *f, bool last_close);
bool kshm_region_holds(struct kshm_region *r, u32 id);
int kshm_owner_id(struct kshm_region *r, struct kshm_file *f, bool create, u32 *id);
void kshm_region_info(struct kshm_region *r, struct kshm_info *info);
u64 kshm_region_generation(struct kshm_region *r);
bool kshm_region_changed(struct kshm_region *r, struct kshm_file *f);
void kshm_region_wake(struct kshm_region *r);
long kshm_timeout_jiffies(u32 timeout_ms);

/* kshm_mmap.c: kshm_map_setup(), behind kshm_mmap() in kshm_compat.h */

/* Events: the region's mappable pages, its ring's included. */
static inline unsigned long kshm_region_all_pages(struct kshm_region *r)
{
	return r->map_pages + (r->ring ? r->ring->nr_pages : 0);
}

/* kshm_tick.c */
#define KSHM_TICK_MAX_MS	3600000U
extern unsigned int kshm_tick_ms;
extern unsigned int kshm_ring_records;	/* kshm_main.c: ring= */
void kshm_tick_init(struct kshm_region *r, unsigned int ms);
void kshm_tick_start(struct kshm_region *r);
void kshm_tick_stop(struct kshm_region *r);
void kshm_tick_set(struct kshm_region *r, unsigned int ms);
void kshm_default_tick_set(unsigned int ms);	/* kshm_main.c */

/* kshm_kapi.c */
int kshm_kwrite(struct kshm_region *r, struct kshm_file *f, u64 offset, const void *src,
		u32 len, long *timeout, u32 *result, u64 *generation);

#endif /* _KSHM_INTERNAL_H */
