/* SPDX-License-Identifier: MIT */
/*
 * Benchmark-only: the stand-in device's LOCK and UNLOCK on a control page
 * (lock word, FIFO queue of waiters, seqcount, generation), the work the
 * driver does behind its ioctls. Shared by the stand-in (standin.h, inside
 * libkshm-standin.so) and the C baseline's stand-in ioctl loop
 * (bench/c/baseline.c), so that both sides of a host comparison call the
 * same device: each adds the stand-in syscall (standin-weight.h) itself.
 */
#ifndef KSHM_STANDIN_DEVICE_H
#define KSHM_STANDIN_DEVICE_H

#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The waiters' queue, in the control page after struct kshm_ctrl. */
struct standin_queue {
	uint32_t next;			/* the next ticket to hand out */
	uint32_t serving;		/* the ticket at the head of the queue */
	uint32_t ids[64];		/* lock-word id of each ticket's waiter */
	uint64_t contended;		/* waits that queued: INFO's locks_contended */
};

#define STANDIN_QUEUE(c)	((struct standin_queue *)((uint8_t *)(c) + 2048))

static inline long standin_futex(uint32_t *uaddr, int op, uint32_t val)
{
	return syscall(SYS_futex, uaddr, op, val, NULL, NULL, 0);
}

/* Hands the lock to the head waiter, or frees it: the driver's UNLOCK. */
static inline void standin_release(struct kshm_ctrl *c, uint32_t id)
{
	struct standin_queue *q = STANDIN_QUEUE(c);

	for (;;) {
		uint32_t head = __atomic_load_n(&q->serving, __ATOMIC_ACQUIRE);
		uint32_t w = __atomic_load_n(&c->lock, __ATOMIC_ACQUIRE), next_id;

		if (__atomic_load_n(&q->next, __ATOMIC_ACQUIRE) != head) {
			/* A waiter took a ticket: wait until it wrote its id, then hand over. */
			while (!(next_id = __atomic_load_n(&q->ids[head % 64], __ATOMIC_ACQUIRE)))
				sched_yield();
			__atomic_store_n(&q->ids[head % 64], 0, __ATOMIC_RELAXED);
			__atomic_store_n(&q->serving, head + 1, __ATOMIC_RELEASE);
			__atomic_store_n(&c->lock, next_id |
					 (__atomic_load_n(&q->next, __ATOMIC_ACQUIRE) != head + 1 ?
					  KSHM_LW_WAITERS : 0), __ATOMIC_RELEASE);
			standin_futex(&c->lock, FUTEX_WAKE, INT32_MAX);
			return;
		}
		if (__atomic_compare_exchange_n(&c->lock, &w, 0, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
			return;
		(void)id;
	}
}

/* The driver's blocking LOCK: FIFO behind the queued waiters. */
static inline void standin_wait(struct kshm_ctrl *c, uint32_t id)
{
	struct standin_queue *q = STANDIN_QUEUE(c);
	uint32_t t = __atomic_fetch_add(&q->next, 1, __ATOMIC_ACQ_REL);

	__atomic_fetch_add(&q->contended, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&q->ids[t % 64], id, __ATOMIC_RELEASE);
	for (;;) {
		uint32_t w = __atomic_load_n(&c->lock, __ATOMIC_ACQUIRE);

		if ((w & KSHM_LW_OWNER_MASK) == id)
			return;		/* handed over to us */
		if (!(w & KSHM_LW_OWNER_MASK) && __atomic_load_n(&q->serving, __ATOMIC_ACQUIRE) == t) {
			/* Free and we are the head: take it ourselves. */
			uint32_t mine = id | (__atomic_load_n(&q->next, __ATOMIC_ACQUIRE) != t + 1 ?
					      KSHM_LW_WAITERS : 0);

			if (__atomic_compare_exchange_n(&c->lock, &w, mine, 0, __ATOMIC_ACQUIRE,
							__ATOMIC_RELAXED)) {
				__atomic_store_n(&q->ids[t % 64], 0, __ATOMIC_RELAXED);
				__atomic_store_n(&q->serving, t + 1, __ATOMIC_RELEASE);
				/* Later tickets flagged WAITERS meanwhile: keep the flag right. */
				if (__atomic_load_n(&q->next, __ATOMIC_ACQUIRE) != t + 1)
					__atomic_or_fetch(&c->lock, KSHM_LW_WAITERS, __ATOMIC_RELEASE);
				return;
			}
			continue;
		}
		if (!(w & KSHM_LW_WAITERS) &&
		    !__atomic_compare_exchange_n(&c->lock, &w, w | KSHM_LW_WAITERS, 0,
						 __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			continue;
		standin_futex(&c->lock, FUTEX_WAIT, w | KSHM_LW_WAITERS);
	}
}

/* The driver's LOCK (after its syscall): 0, or -1 with errno (EDEADLK, EBUSY). */
static inline int standin_lock(struct kshm_ctrl *c, uint32_t id, struct kshm_lock_req *req)
{
	uint32_t w = __atomic_load_n(&c->lock, __ATOMIC_ACQUIRE);
	struct standin_queue *q = STANDIN_QUEUE(c);

	if ((w & KSHM_LW_OWNER_MASK) == id) {
		errno = EDEADLK;
		return -1;
	}
	if (req->flags & KSHM_LOCK_TRY) {
		if ((w & KSHM_LW_OWNER_MASK) ||
		    __atomic_load_n(&q->next, __ATOMIC_ACQUIRE) !=
		    __atomic_load_n(&q->serving, __ATOMIC_ACQUIRE) ||
		    !__atomic_compare_exchange_n(&c->lock, &w, id, 0, __ATOMIC_ACQUIRE,
						 __ATOMIC_RELAXED)) {
			errno = EBUSY;
			return -1;
		}
	} else {
		standin_wait(c, id);
	}
	if (req->flags & KSHM_LOCK_STAGED) {
		if (c->seq & 1)
			__atomic_store_n(&c->seq, c->seq + 1, __ATOMIC_RELEASE);
	} else {
		__atomic_store_n(&c->seq, c->seq | 1, __ATOMIC_RELEASE);
	}
	req->result = 0;
	req->generation = c->generation;
	return 0;
}

/* The driver's UNLOCK (after its syscall): 0, or -1 with errno EPERM (not the holder). */
static inline int standin_unlock(struct kshm_ctrl *c, uint32_t id, uint32_t flags)
{
	if ((c->lock & KSHM_LW_OWNER_MASK) != id) {
		errno = EPERM;
		return -1;
	}
	if (!(flags & KSHM_UNLOCK_PUBLISHED)) {
		if (flags & KSHM_UNLOCK_COMMIT)
			c->generation++;
		if (c->seq & 1)
			__atomic_store_n(&c->seq, c->seq + 1, __ATOMIC_RELEASE);
	}
	standin_release(c, id);
	return 0;
}

#endif
