/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The ABI's lock-word fast path (driver/include/uapi/kshm.h, "THE LOCK"),
 * written once for the C tests that drive it by hand: driver_test and fuzz.
 */
#ifndef KSHM_TEST_LOCKWORD_H
#define KSHM_TEST_LOCKWORD_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include "../../driver/include/uapi/kshm.h"

/*
 * Fast acquire: CAS a free word to @id (or a DIED word to id|DIED), then
 * open the write section. Returns 0 or KSHM_LOCK_OWNER_DIED when taken,
 * -EBUSY when the word is taken or has waiters (use KSHM_IOC_LOCK).
 */
static inline int lw_lock(volatile struct kshm_ctrl *c, uint32_t id)
{
	uint32_t seen = 0, died = 0;

	if (!__atomic_compare_exchange_n(&c->lock, &seen, id, false,
					 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
		if (seen != KSHM_LW_DIED ||
		    !__atomic_compare_exchange_n(&c->lock, &seen, id | KSHM_LW_DIED, false,
						 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return -EBUSY;
		died = KSHM_LOCK_OWNER_DIED;
	}
	__atomic_store_n(&c->seq, c->seq | 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	return (int)died;
}

/*
 * Fast release of a lock taken by lw_lock() through @fd. Returns 0 when the
 * CAS alone released it, 1 when the driver had to hand over (UNLOCK with
 * PUBLISHED: waiters were queued), or -errno of a failed ioctl. @wake: after
 * a commit, call KSHM_IOC_WAKE when a poller sleeps, as the ABI asks.
 */
static inline int lw_unlock(int fd, volatile struct kshm_ctrl *c, uint32_t id, bool commit,
			    bool wake)
{
	uint32_t mine = id | (c->lock & KSHM_LW_DIED);
	struct kshm_unlock_req req = {
		.flags = (commit ? KSHM_UNLOCK_COMMIT : KSHM_UNLOCK_ABORT) | KSHM_UNLOCK_PUBLISHED,
	};

	if (commit)
		c->generation = c->generation + 1;
	__atomic_store_n(&c->seq, (c->seq | 1) + 1, __ATOMIC_RELEASE);
	if (__atomic_compare_exchange_n(&c->lock, &mine, commit ? 0 : mine & KSHM_LW_DIED,
					false, __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (commit && wake && c->pollers && ioctl(fd, KSHM_IOC_WAKE))
			return -errno;
		return 0;
	}
	return ioctl(fd, KSHM_IOC_UNLOCK, &req) ? -errno : 1;
}

#endif /* KSHM_TEST_LOCKWORD_H */
