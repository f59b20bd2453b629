/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kshm: the ring of records (EVENTS in include/uapi/kshm.h), a unit of its
 * own: a region owns at most one, maps its pages after the control page and
 * routes KSHM_IOC_EMIT, KSHM_IOC_EVENTS and poll() to it.
 */
#ifndef _KSHM_RING_H
#define _KSHM_RING_H

#include <linux/irq_work.h>
#include <linux/mm_types.h>
#include <linux/poll.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>
#include "include/uapi/kshm.h"

struct kshm_ring {
	raw_spinlock_t lock;		/* producers: reserve, copy, publish */
	u64 head;			/* next seq (the kernel's copy; under lock) */
	u32 records;			/* a power of two */
	u32 sleepers;			/* a poller may sleep: wake on publish */
	atomic64_t wakeups;		/* wake-ups of a non-empty wq */
	struct irq_work wake_work;	/* the wake-up, out of the producer's context */
	wait_queue_head_t wq;		/* events readers in poll() */

	unsigned long nr_pages;		/* header page + slot pages */
	struct page **pages;
	struct kshm_ring_hdr *hdr;	/* page 0, kernel address */
	void *slots;			/* vmap of the slot pages */
};

/* Per open file: its reader position (KSHM_IOC_EVENTS). */
struct kshm_ring_reader {
	u64 pos;			/* the seq the reader waits for */
	bool registered;		/* KSHM_IOC_EVENTS was called */
	bool pollin;			/* ...with KSHM_EVENTS_POLLIN */
};

int kshm_ring_parse(const char *val, unsigned int *records);
int kshm_ring_check(unsigned int records);
struct kshm_ring *kshm_ring_alloc(unsigned int records);
void kshm_ring_free(struct kshm_ring *ring);
void kshm_ring_describe(struct kshm_ring *ring, struct kshm_header *hdr, u64 offset);
int kshm_ring_emit(struct kshm_ring *ring, u32 type, const void *data, u32 len);
int kshm_ring_emit_flags(struct kshm_ring *ring, u32 type, u16 flags, const void *data,
			 u32 len, u64 *seq);
u64 kshm_ring_head(struct kshm_ring *ring);
u64 kshm_ring_wakeups(struct kshm_ring *ring);
struct page *kshm_ring_page(struct kshm_ring *ring, unsigned long index);
void kshm_ring_set_reader(struct kshm_ring *ring, struct kshm_ring_reader *rd, u64 pos,
			  bool pollin);
void kshm_ring_hangup(struct kshm_ring *ring);
__poll_t kshm_ring_poll(struct kshm_ring *ring, struct kshm_ring_reader *rd,
			struct file *file, struct poll_table_struct *wait);

#endif /* _KSHM_RING_H */
