// SPDX-License-Identifier: GPL-2.0
/*
 * The in-kernel API (include/linux/kshm.h): the kernel as a second party.
 *
 * Kernel holders share one owner identity (KSHM_LW_KERNEL): they queue on
 * the same FIFO lock as users, behind each other, and each waits no longer
 * than its own timeout. No kernel party ever waits without a limit, and none
 * waits behind another kernel party except in that queue.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/export.h>
#include <linux/string.h>
#include "include/linux/kshm.h"
#include "kshm_internal.h"

/**
 * kshm_lock_timeout() - take the shared region's lock for the kernel
 * @timeout_ms: how long to wait for it, 1 or more milliseconds
 *
 * Waits in FIFO order behind users and other kernel callers. The caller must
 * release it with kshm_unlock() soon, without sleeping on user space. A
 * signal ends the wait (kernel callers cannot be restarted).
 *
 * Return: the lock's result flags (0, or KSHM_LOCK_OWNER_DIED when a
 * previous holder died mid-transaction: the data may be half-written), or
 * -EINVAL (@timeout_ms is 0), -ETIMEDOUT or -EINTR.
 */
int kshm_lock_timeout(unsigned int timeout_ms)
{
	long timeout = kshm_timeout_jiffies(timeout_ms);
	u32 result;
	u64 generation;
	int ret;

	if (!timeout_ms)
		return -EINVAL;
	ret = kshm_region_lock(&kshm_region, KSHM_LW_KERNEL, NULL, &timeout, false,
			       &result, &generation);
	if (ret == -ERESTARTSYS)
		return -EINTR;
	return ret ? ret : result;
}
EXPORT_SYMBOL_GPL(kshm_lock_timeout);

/**
 * kshm_unlock() - release the lock taken by kshm_lock_timeout()
 * @commit: true to publish the writes (a new generation, pollers woken),
 *	false to abort
 *
 * Never fails for a kernel holder, whatever user space wrote in the lock
 * word; calling it without holding the lock is a bug (a warning).
 */
void kshm_unlock(bool commit)
{
	u64 generation;

	WARN_ON_ONCE(kshm_region_unlock(&kshm_region, KSHM_LW_KERNEL,
					commit ? KSHM_UNLOCK_COMMIT : KSHM_UNLOCK_ABORT,
					&generation));
}
EXPORT_SYMBOL_GPL(kshm_unlock);

/**
 * kshm_data() - the kernel address of the shared data
 *
 * Write it only while holding the lock (kshm_lock_timeout()).
 *
 * Return: kshm_data_size() bytes, contiguous, valid while the module is loaded.
 */
void *kshm_data(void)
{
	return kshm_region.data;
}
EXPORT_SYMBOL_GPL(kshm_data);

/**
 * kshm_data_size() - the size of the shared data
 *
 * Return: bytes at kshm_data(): the data pages times PAGE_SIZE.
 */
size_t kshm_data_size(void)
{
	return kshm_region.data_size;
}
EXPORT_SYMBOL_GPL(kshm_data_size);

/**
 * kshm_kwrite() - KSHM_IOC_KWRITE: write bytes as the kernel, under the lock
 * @r: the region
 * @f: the file the request came through (KSHM_IOC_CANCEL on it, or its
 *	caller closing it, cancels the wait)
 * @offset: byte offset in the data
 * @src: @len bytes, already in kernel memory
 * @len: bytes to copy; the caller checked the range
 * @timeout: jiffies or MAX_SCHEDULE_TIMEOUT; left with the time remaining
 * @result: KSHM_LOCK_OWNER_DIED when a previous holder died
 * @generation: the generation of this commit
 *
 * Return: 0 (committed), -ETIMEDOUT, -ECANCELED or -ERESTARTSYS.
 */
int kshm_kwrite(struct kshm_region *r, struct kshm_file *f, u64 offset, const void *src,
		u32 len, long *timeout, u32 *result, u64 *generation)
{
	int ret;

	ret = kshm_region_lock(r, KSHM_LW_KERNEL, f, timeout, false, result, generation);
	if (ret)
		return ret;
	memcpy(r->data + offset, src, len);
	spin_lock(&r->lock);
	r->stats.kernel_writes++;
	spin_unlock(&r->lock);
	return kshm_region_unlock(r, KSHM_LW_KERNEL, KSHM_UNLOCK_COMMIT, generation);
}

/**
 * kshm_emit() - publish a record in /dev/kshm's ring
 * @type: the record's type
 * @data: @len bytes
 * @len: 0 to KSHM_EV_MAX_DATA
 *
 * Callable from any context but NMI, hardirq included; never sleeps; several
 * CPUs may emit at once. When the ring is full the oldest record is
 * overwritten: nothing waits for a reader. See EVENTS in uapi/linux/kshm.h.
 *
 * Return: 0, -ENOSPC (the module was loaded without ring=) or -EMSGSIZE.
 */
int kshm_emit(u32 type, const void *data, u32 len)
{
	if (!kshm_region.ring)
		return -ENOSPC;
	return kshm_ring_emit(kshm_region.ring, type, data, len);
}
EXPORT_SYMBOL_GPL(kshm_emit);
