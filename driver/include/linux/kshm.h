/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kshm in-kernel API: the kernel is a party to the shared region like any
 * user process. It takes the same FIFO lock, and its commits advance the same
 * generation and seqcount that users see.
 *
 *	int r = kshm_lock_timeout(50);
 *	if (r < 0)
 *		return r;		(-ETIMEDOUT, -EINTR)
 *	memcpy(kshm_data() + off, buf, len);
 *	kshm_unlock(true);		(commit)
 *
 * A non-negative return is the lock's result flags: KSHM_LOCK_OWNER_DIED when
 * the previous holder died mid-transaction. There is no wait without a time
 * limit: a user may hold the lock for as long as it likes. Kernel callers
 * queue behind each other in the same FIFO, each within its own timeout; a
 * kernel caller never holds the lock across a sleep that waits on user space.
 */
#ifndef _LINUX_KSHM_H
#define _LINUX_KSHM_H

#include <linux/types.h>
#include "../uapi/kshm.h"

int kshm_lock_timeout(unsigned int timeout_ms);
void kshm_unlock(bool commit);
void *kshm_data(void);
size_t kshm_data_size(void);
int kshm_emit(u32 type, const void *data, u32 len);

#endif /* _LINUX_KSHM_H */
