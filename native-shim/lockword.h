/* SPDX-License-Identifier: MIT */
/*
 * The ABI's lock-word fast path (driver/include/uapi/kshm.h, "THE LOCK"),
 * written once for C: libkshm uses lw_lock(), lw_release() and
 * lw_wake_needed(); the C tests (driver_test, fuzz) also use lw_unlock(),
 * which adds the two ioctls a release may need on a plain descriptor.
 * Header-only (static inline): nothing here is part of libkshm's ABI.
 */
#ifndef KSHM_LOCKWORD_H
#define KSHM_LOCKWORD_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <time.h>
#include "../driver/include/uapi/kshm.h"

/* lw_release(): the CAS failed on KSHM_LW_WAITERS; the driver must hand over. */
#define LW_HANDOVER	1

/*
 * lw_take() is the CAS alone; lw_lock() is the fast acquire: CAS a free word
 * to @id (or a DIED word to id|DIED), then open the write section (seq odd). Returns 0 or KSHM_LOCK_OWNER_DIED when
 * taken; -EDEADLK when @id holds it already, -EBUSY when another holder does,
 * -EAGAIN when only the driver can tell (a free word with waiters flagged, or
 * a word no cooperating party writes): use KSHM_IOC_LOCK.
 */
static inline int lw_take(volatile struct kshm_ctrl *c, uint32_t id)
{
	uint32_t seen = 0;

	if (!__atomic_compare_exchange_n(&c->lock, &seen, id, false,
					 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
		if ((seen & KSHM_LW_OWNER_MASK) == id)
			return -EDEADLK;
		if (seen != KSHM_LW_DIED)
			return (seen & KSHM_LW_OWNER_MASK) ? -EBUSY : -EAGAIN;
		if (!__atomic_compare_exchange_n(&c->lock, &seen, id | KSHM_LW_DIED, false,
						 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return -EAGAIN;
		return KSHM_LOCK_OWNER_DIED;
	}
	return 0;
}

static inline int lw_lock(volatile struct kshm_ctrl *c, uint32_t id)
{
	int ret = lw_take(c, id);

	if (ret < 0)
		return ret;
	__atomic_store_n(&c->seq, __atomic_load_n(&c->seq, __ATOMIC_RELAXED) | 1,
			 __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);	/* seq odd before our writes */
	return ret;
}

/*
 * lw_spin_while_held() - before queuing on KSHM_IOC_LOCK, wait briefly for a
 * holder about to release. Spins while the word names a holder and nobody is
 * queued, for at most @budget_ns: true once the word is seen free (try
 * lw_lock() again), false when the budget ran out, a waiter queued
 * (KSHM_LW_WAITERS: the driver hands the lock over in FIFO order, so the
 * word is never free for a spinner while anyone is queued) or the holder
 * died. A hold lasts a few hundred nanoseconds; a queued wait costs a sleep
 * and a wake-up, and once anyone queues every release is a hand-off.
 * @waiters_budget_ns > 0: KSHM_LW_WAITERS does not end the spin; it goes on
 * for up to that long (from the start) until the word is free, which it is
 * only once the driver's queue drained (the spinner still never passes a
 * waiter): joining the queue would keep every release a hand-off (a convoy).
 * The same rule as LockWord.spinWhileHeld() in lib/lockword.ts.
 * lw_spin_while_held_or() - the same, and it also ends (false) once @stop(@arg)
 * is true (looked at when the clock is, every 32 pauses): a cancel, for libkshm.
 */
static inline bool lw_spin_while_held_or(volatile struct kshm_ctrl *c, long long budget_ns,
					 long long waiters_budget_ns,
					 bool (*stop)(void *arg), void *arg)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned int i = 1; ; i++) {
		uint32_t w = __atomic_load_n(&c->lock, __ATOMIC_RELAXED);

		if (!w)
			return true;
		if (w & KSHM_LW_DIED)
			return false;
		if (w & KSHM_LW_WAITERS) {
			if (waiters_budget_ns <= 0)
				return false;
			if (budget_ns < waiters_budget_ns)
				budget_ns = waiters_budget_ns;
		}
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#endif
		if (!(i & 31)) {
			if (stop && stop(arg))
				return false;
			clock_gettime(CLOCK_MONOTONIC, &t);
			if ((t.tv_sec - t0.tv_sec) * 1000000000LL + (t.tv_nsec - t0.tv_nsec) >= budget_ns)
				return false;
		}
	}
}

static inline bool lw_spin_while_held(volatile struct kshm_ctrl *c, long long budget_ns,
				      long long waiters_budget_ns)
{
	return lw_spin_while_held_or(c, budget_ns, waiters_budget_ns, NULL, NULL);
}

/*
 * Staged acquire (the ABI's STAGING): the same CAS, but the write section
 * stays closed (seq even; an odd seq left by a rule-breaker is made even),
 * so readers keep copying the committed data. Returns as lw_lock().
 */
static inline int lw_lock_staged(volatile struct kshm_ctrl *c, uint32_t id)
{
	int ret = lw_take(c, id);
	uint32_t seq;

	if (ret < 0)
		return ret;
	seq = __atomic_load_n(&c->seq, __ATOMIC_RELAXED);
	if (seq & 1)
		__atomic_store_n(&c->seq, seq + 1, __ATOMIC_RELEASE);
	return ret;
}

/* A staged holder's publish, part 1: open the write section (seq odd). */
static inline void lw_publish_begin(volatile struct kshm_ctrl *c)
{
	__atomic_store_n(&c->seq, __atomic_load_n(&c->seq, __ATOMIC_RELAXED) | 1,
			 __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);	/* seq odd before the copy */
}

/* Part 2, after the copy: a new generation, then seq even (readers may copy). */
static inline void lw_publish_end(volatile struct kshm_ctrl *c)
{
	__atomic_store_n(&c->generation,
			 __atomic_load_n(&c->generation, __ATOMIC_RELAXED) + 1,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&c->seq, (__atomic_load_n(&c->seq, __ATOMIC_RELAXED) | 1) + 1,
			 __ATOMIC_RELEASE);
}

/*
 * Frees the word of a lock taken by @id on the fast path, touching neither
 * seq nor the generation (the holder published already, or aborts a staged
 * hold): CAS(id[|DIED] -> 0) on commit, -> DIED kept on abort. Returns as
 * lw_release().
 */
static inline int lw_free(volatile struct kshm_ctrl *c, uint32_t id, bool commit)
{
	uint32_t seen = __atomic_load_n(&c->lock, __ATOMIC_RELAXED);
	uint32_t mine = id | (seen & KSHM_LW_DIED);

	if ((seen & KSHM_LW_OWNER_MASK) != id)
		return -EPERM;
	if (__atomic_compare_exchange_n(&c->lock, &mine, commit ? 0 : mine & KSHM_LW_DIED,
					false, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		return 0;
	return LW_HANDOVER;
}

/*
 * Fast release of a lock taken by lw_lock(): publish (the generation on
 * commit, then seq even), then CAS the word free (a commit repairs DIED, an
 * abort keeps it). Returns 0 when the CAS released it, LW_HANDOVER when
 * waiters are queued (call KSHM_IOC_UNLOCK with KSHM_UNLOCK_PUBLISHED: the
 * driver hands over), -EPERM when @id no longer holds it (the driver took
 * it back: nothing changed).
 */
static inline int lw_release(volatile struct kshm_ctrl *c, uint32_t id, bool commit)
{
	uint32_t seen = __atomic_load_n(&c->lock, __ATOMIC_RELAXED);

	if ((seen & KSHM_LW_OWNER_MASK) != id)
		return -EPERM;
	if (commit)	/* only the holder writes it: no read-modify-write needed */
		__atomic_store_n(&c->generation,
				 __atomic_load_n(&c->generation, __ATOMIC_RELAXED) + 1,
				 __ATOMIC_RELAXED);
	/* Our writes and the generation before seq turns even. */
	__atomic_store_n(&c->seq, (__atomic_load_n(&c->seq, __ATOMIC_RELAXED) | 1) + 1,
			 __ATOMIC_RELEASE);
	return lw_free(c, id, commit);
}

/*
 * After a commit that lw_release() completed: whether a poller sleeps and
 * KSHM_IOC_WAKE is due. The full barrier orders the generation store before
 * the pollers load (the Dekker handshake with poll()).
 */
static inline bool lw_wake_needed(volatile struct kshm_ctrl *c)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return __atomic_load_n(&c->pollers, __ATOMIC_RELAXED) != 0;
}

/*
 * lw_release() on a plain descriptor, with the ioctls it may need. Returns 0
 * when the CAS alone released it, 1 when the driver handed over, or -errno.
 * @wake: after a commit, call KSHM_IOC_WAKE when a poller sleeps.
 */
static inline int lw_unlock(int fd, volatile struct kshm_ctrl *c, uint32_t id, bool commit,
			    bool wake)
{
	struct kshm_unlock_req req = {
		.flags = (commit ? KSHM_UNLOCK_COMMIT : KSHM_UNLOCK_ABORT) | KSHM_UNLOCK_PUBLISHED,
	};
	int ret = lw_release(c, id, commit);

	if (ret == LW_HANDOVER)
		return ioctl(fd, KSHM_IOC_UNLOCK, &req) ? -errno : 1;
	if (ret == 0 && commit && wake && lw_wake_needed(c) && ioctl(fd, KSHM_IOC_WAKE))
		return -errno;
	return ret;
}

#endif /* KSHM_LOCKWORD_H */
