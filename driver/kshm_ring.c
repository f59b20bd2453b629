// SPDX-License-Identifier: GPL-2.0
/*
 * The ring of records (EVENTS in include/uapi/kshm.h): fixed 128-byte slots,
 * one per record, in pages mapped read-only after the region's control page.
 *
 * Producers (kshm_ring_emit(): kernel code in any context but NMI, and the
 * KSHM_IOC_EMIT ioctl) serialise on a raw spinlock taken with interrupts
 * off, held for one slot's copy: at most KSHM_EV_MAX_DATA bytes, no loop
 * over anything else, no sleeping, and a raw lock stays a spinning lock on
 * PREEMPT_RT. A lockless reserve (an atomic add on head) would publish slots
 * out of order: readers would then have to tell "not written yet" from
 * "overwritten" and head could not be a plain count. With the lock, records
 * are published in seq order, head is exact, and a reader's check of one
 * slot's seq before and after its copy is all the overrun detection needed.
 *
 * Readers never take the lock and never write to the ring (it is read-only
 * to users); the kernel never reads back what they do. Their positions live
 * in user space; poll() learns one through KSHM_IOC_EVENTS. Sleeping readers
 * are woken without a wake-up per record: a poll pass sets ring->sleepers
 * and then (full barrier) reads head; a producer publishes head and then
 * (full barrier) reads sleepers, so one of the two sees the other. The
 * wake-up itself runs from an irq_work: a producer in hardirq context takes
 * no wait-queue lock (a sleeping lock on PREEMPT_RT), and irq_work_queue()
 * of a pending work is a no-op. The work takes the flag (xchg) and then
 * wakes the wait queue only if someone is on it: a burst costs one wake-up,
 * and a flag left by a poll that did not sleep (timeout 0, records ready,
 * or a poll() that has returned and left the queue) wakes nobody and is not
 * counted.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/build_bug.h>
#include <linux/gfp.h>
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/preempt.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/vmalloc.h>
#include "kshm_ring.h"

#define KSHM_EV_SLOT_SIZE	sizeof(struct kshm_event)

/**
 * kshm_ring_check() - is @records a valid ring size?
 * @records: slots; 0 means no ring
 *
 * Return: 0 for 0 or a power of two up to KSHM_RING_MAX_RECORDS (on 64-bit
 * kernels: the ring's 64-bit words must be single stores), else -EINVAL.
 */
int kshm_ring_check(unsigned int records)
{
	if (!records)
		return 0;
	if (!IS_ENABLED(CONFIG_64BIT) || records > KSHM_RING_MAX_RECORDS ||
	    !is_power_of_2(records))
		return -EINVAL;
	return 0;
}

/**
 * kshm_ring_parse() - parse a ring size, as in ring=N
 * @val: the text, decimal only (kstrtouint() base 10: "010" is 10, "0x10"
 *	is refused)
 * @records: out, the size (0: no ring), set only on success
 *
 * Return: 0, or -EINVAL (not a number, or kshm_ring_check() refuses it).
 */
int kshm_ring_parse(const char *val, unsigned int *records)
{
	unsigned int n;

	if (kstrtouint(val, 10, &n) || kshm_ring_check(n))
		return -EINVAL;
	*records = n;
	return 0;
}

static void kshm_ring_wake_fn(struct irq_work *work)
{
	struct kshm_ring *ring = container_of(work, struct kshm_ring, wake_work);
	u64 n;

	/*
	 * The flag is taken (xchg: a full barrier) before the wait queue is
	 * looked at: a poller that set it is on the queue already (it adds
	 * itself first), one that sets it after sees the record that queued
	 * this work when it reads head. Flag already clear: an earlier run of
	 * this work took it and woke whoever had set it.
	 */
	if (!xchg(&ring->sleepers, 0))
		return;
	/* Nobody on the queue: the flag was left by a poll that did not sleep. */
	if (!waitqueue_active(&ring->wq))
		return;
	n = atomic64_inc_return(&ring->wakeups);
	WRITE_ONCE(ring->hdr->wakeups, n);
	wake_up_interruptible_poll(&ring->wq, EPOLLIN | EPOLLRDNORM | EPOLLPRI | EPOLLRDBAND);
}

/**
 * kshm_ring_free() - free a ring
 * @ring: from kshm_ring_alloc(), or NULL
 *
 * No producer may run any more and no file may use the ring: its pages go
 * (a mapping still holds its own references to the pages it faulted in).
 * A wake-up still pending is waited for.
 */
void kshm_ring_free(struct kshm_ring *ring)
{
	unsigned long i;

	if (!ring)
		return;
	irq_work_sync(&ring->wake_work);
	if (ring->slots)
		vunmap(ring->slots);
	for (i = 0; ring->pages && i < ring->nr_pages; i++) {
		if (ring->pages[i])
			__free_page(ring->pages[i]);
	}
	kfree(ring->pages);
	kfree(ring);
}

/**
 * kshm_ring_alloc() - allocate an empty ring
 * @records: slots, checked by kshm_ring_check() and not 0
 *
 * Return: the ring, or ERR_PTR(-EINVAL or -ENOMEM). Sleeps.
 */
struct kshm_ring *kshm_ring_alloc(unsigned int records)
{
	struct kshm_ring *ring;
	unsigned long i;

	BUILD_BUG_ON(sizeof(struct kshm_event) != 128);
	BUILD_BUG_ON(sizeof(struct kshm_ring_hdr) > PAGE_SIZE);
	if (!records || kshm_ring_check(records))
		return ERR_PTR(-EINVAL);
	ring = kzalloc(sizeof(*ring), GFP_KERNEL);
	if (!ring)
		return ERR_PTR(-ENOMEM);
	raw_spin_lock_init(&ring->lock);
	init_waitqueue_head(&ring->wq);
	init_irq_work(&ring->wake_work, kshm_ring_wake_fn);
	atomic64_set(&ring->wakeups, 0);
	ring->records = records;
	ring->nr_pages = 1 + DIV_ROUND_UP((size_t)records * KSHM_EV_SLOT_SIZE, PAGE_SIZE);
	ring->pages = kcalloc(ring->nr_pages, sizeof(*ring->pages), GFP_KERNEL);
	if (!ring->pages)
		goto err;
	for (i = 0; i < ring->nr_pages; i++) {
		ring->pages[i] = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!ring->pages[i])
			goto err;
	}
	ring->slots = vmap(ring->pages + 1, ring->nr_pages - 1, VM_MAP, PAGE_KERNEL);
	if (!ring->slots)
		goto err;
	ring->hdr = page_address(ring->pages[0]);
	ring->hdr->records = records;
	ring->hdr->slot_size = KSHM_EV_SLOT_SIZE;
	ring->hdr->slots_offset = PAGE_SIZE;
	return ring;

err:
	kshm_ring_free(ring);
	return ERR_PTR(-ENOMEM);
}

/**
 * kshm_ring_describe() - announce a ring in a region's header page
 * @ring: the ring, or NULL (the fields stay 0)
 * @hdr: the region's header
 * @offset: the ring's mmap offset (after the control page)
 */
void kshm_ring_describe(struct kshm_ring *ring, struct kshm_header *hdr, u64 offset)
{
	if (!ring)
		return;
	hdr->ring_offset = offset;
	hdr->ring_size = (u64)ring->nr_pages * PAGE_SIZE;
	hdr->ring_records = ring->records;
	hdr->ring_slot_size = KSHM_EV_SLOT_SIZE;
	hdr->features |= KSHM_FEAT_RING;
}

/**
 * kshm_ring_emit_flags() - publish one record
 * @ring: the ring
 * @type: the record's type
 * @flags: KSHM_EV_* for the record (KSHM_EV_USER: from KSHM_IOC_EMIT)
 * @data: @len bytes (kernel memory)
 * @len: 0 to KSHM_EV_MAX_DATA
 * @seq: out (may be NULL), the record's seq
 *
 * Any context but NMI; never sleeps; overwrites the oldest record when the
 * ring is full.
 *
 * Return: 0, -EMSGSIZE (@len too big) or -EBUSY (called from NMI).
 */
int kshm_ring_emit_flags(struct kshm_ring *ring, u32 type, u16 flags, const void *data,
			 u32 len, u64 *seq)
{
	struct kshm_event *ev;
	unsigned long irqflags;
	u64 s;

	if (len > KSHM_EV_MAX_DATA)
		return -EMSGSIZE;
	if (WARN_ON_ONCE(in_nmi()))
		return -EBUSY;
	raw_spin_lock_irqsave(&ring->lock, irqflags);
	s = ring->head;
	ev = ring->slots + (s & (ring->records - 1)) * KSHM_EV_SLOT_SIZE;
	WRITE_ONCE(ev->seq, KSHM_EV_BUSY);
	smp_wmb();	/* BUSY visible before any byte of the new record */
	ev->time_ns = ktime_get_ns();
	ev->type = type;
	ev->len = len;
	ev->flags = flags;
	memcpy(ev->data, data, len);
	memset(ev->data + len, 0, KSHM_EV_MAX_DATA - len);
	/* The record complete before its seq; its seq before head passes it. */
	smp_store_release(&ev->seq, s);
	ring->head = s + 1;
	/* Readers' acquire of head pairs with this (see READING in the uapi). */
	smp_store_release(&ring->hdr->head, s + 1);
	raw_spin_unlock_irqrestore(&ring->lock, irqflags);
	/* head published before sleepers is read: pairs with kshm_ring_poll() */
	smp_mb();
	if (READ_ONCE(ring->sleepers))
		irq_work_queue(&ring->wake_work);
	if (seq)
		*seq = s;
	return 0;
}

/**
 * kshm_ring_emit() - publish one kernel record
 * @ring: the ring
 * @type: the record's type
 * @data: @len bytes
 * @len: 0 to KSHM_EV_MAX_DATA
 *
 * Any context but NMI (hardirq included); never sleeps; several CPUs may
 * emit at once; overwrites the oldest record when the ring is full.
 *
 * Return: 0 or -EMSGSIZE.
 */
int kshm_ring_emit(struct kshm_ring *ring, u32 type, const void *data, u32 len)
{
	return kshm_ring_emit_flags(ring, type, 0, data, len, NULL);
}

/**
 * kshm_ring_head() - records published so far
 * @ring: the ring
 *
 * Return: the next record's seq.
 */
u64 kshm_ring_head(struct kshm_ring *ring)
{
	/* Pairs with the release in kshm_ring_emit_flags(). */
	return smp_load_acquire(&ring->hdr->head);
}

/**
 * kshm_ring_wakeups() - wake-ups of sleeping readers so far
 * @ring: the ring
 *
 * Return: the count.
 */
u64 kshm_ring_wakeups(struct kshm_ring *ring)
{
	return atomic64_read(&ring->wakeups);
}

/**
 * kshm_ring_page() - a page of the ring, for the fault handler
 * @ring: the ring
 * @index: 0 for its header page, then the slot pages
 *
 * Return: the page, or NULL when @index is beyond the ring.
 */
struct page *kshm_ring_page(struct kshm_ring *ring, unsigned long index)
{
	return index < ring->nr_pages ? ring->pages[index] : NULL;
}

/**
 * kshm_ring_set_reader() - KSHM_IOC_EVENTS: store an open file's position
 * @ring: the ring
 * @rd: the open file's reader state
 * @pos: the seq it waits for (any value: one beyond head is not ready yet)
 * @pollin: records also make the file EPOLLIN (instead of commits)
 */
void kshm_ring_set_reader(struct kshm_ring *ring, struct kshm_ring_reader *rd, u64 pos,
			  bool pollin)
{
	WRITE_ONCE(rd->pos, pos);
	WRITE_ONCE(rd->pollin, pollin);
	WRITE_ONCE(rd->registered, true);
}

/**
 * kshm_ring_hangup() - the ring's region was destroyed: wake its pollers
 * @ring: the ring
 *
 * A reader registered with KSHM_EVENTS_POLLIN waits on the ring's queue
 * alone; woken, it sees the region dead (EPOLLERR | EPOLLHUP). Not a wake-up
 * for records: event_wakeups does not count it.
 */
void kshm_ring_hangup(struct kshm_ring *ring)
{
	wake_up_interruptible_poll(&ring->wq, EPOLLERR | EPOLLHUP);
}

/**
 * kshm_ring_poll() - the ring's part of poll()
 * @ring: the ring
 * @rd: the open file's reader state
 * @file: the file
 * @wait: the poll table
 *
 * Return: 0 for a file that never called KSHM_IOC_EVENTS (it does not wait
 * on the ring either); else EPOLLPRI | EPOLLRDBAND (and EPOLLIN |
 * EPOLLRDNORM with KSHM_EVENTS_POLLIN) while head is beyond its position.
 */
__poll_t kshm_ring_poll(struct kshm_ring *ring, struct kshm_ring_reader *rd,
			struct file *file, struct poll_table_struct *wait)
{
	__poll_t ready = EPOLLPRI | EPOLLRDBAND;

	if (!READ_ONCE(rd->registered))
		return 0;
	poll_wait(file, &ring->wq, wait);
	/*
	 * Set even when records are ready: an edge-triggered epoll is not
	 * polled again until a wake-up, and it must get one per burst. A
	 * release: the wake-up that takes the flag sees poll_wait()'s entry.
	 */
	smp_store_release(&ring->sleepers, 1);
	smp_mb();	/* sleepers set before head is read: pairs with the emit */
	if (kshm_ring_head(ring) <= READ_ONCE(rd->pos))
		return 0;
	if (READ_ONCE(rd->pollin))
		ready |= EPOLLIN | EPOLLRDNORM;
	return ready;
}
