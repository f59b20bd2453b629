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
 * kshm_region_lock_timeout() - take a region's lock for the kernel
 * @r: the region
 * @timeout_ms: how long to wait for it, 1 or more milliseconds
 *
 * Waits in FIFO order behind users and other kernel callers. The caller must
 * release it with kshm_region_unlock() soon, without sleeping on user space.
 * A signal ends the wait (kernel callers cannot be restarted).
 *
 * Context: process context; sleeps.
 * Return: the lock's result flags (0, or KSHM_LOCK_OWNER_DIED when a
 * previous holder died mid-transaction: the data may be half-written), or
 * -EINVAL (@timeout_ms is 0), -ETIMEDOUT, -EINTR or -ENODEV (the region was
 * destroyed).
 */
int kshm_region_lock_timeout(struct kshm_region *r, unsigned int timeout_ms)
{
	long timeout = kshm_timeout_jiffies(timeout_ms);
	u32 result;
	u64 generation;
	int ret;

	if (!timeout_ms)
		return -EINVAL;
	ret = kshm_region_lock(r, KSHM_LW_KERNEL, NULL, &timeout, 0, &result, &generation);
	if (ret == -ERESTARTSYS)
		return -EINTR;
	return ret ? ret : result;
}
EXPORT_SYMBOL_GPL(kshm_region_lock_timeout);

/**
 * kshm_region_unlock() - release the lock taken by kshm_region_lock_timeout()
 * @r: the region
 * @commit: true to publish the writes (a new generation, pollers woken),
 *	false to abort (restore what was written first: an unchanged
 *	generation tells readers the data did not change)
 *
 * Never fails for a kernel holder, whatever user space wrote in the lock
 * word; calling it without holding the lock is a bug (a warning).
 */
void kshm_region_unlock(struct kshm_region *r, bool commit)
{
	u64 generation;

	WARN_ON_ONCE(kshm_region_unlock_id(r, KSHM_LW_KERNEL,
					   commit ? KSHM_UNLOCK_COMMIT : KSHM_UNLOCK_ABORT,
					   &generation));
}
EXPORT_SYMBOL_GPL(kshm_region_unlock);

/**
 * kshm_region_data() - the kernel address of a region's data
 * @r: the region
 *
 * Write it only while holding the lock (kshm_region_lock_timeout()).
 *
 * Return: kshm_region_data_size() bytes, contiguous, valid until
 * kshm_region_destroy().
 */
void *kshm_region_data(struct kshm_region *r)
{
	return r->data;
}
EXPORT_SYMBOL_GPL(kshm_region_data);

/**
 * kshm_region_data_size() - the size of a region's data
 * @r: the region
 *
 * Return: bytes at kshm_region_data(): the data pages times PAGE_SIZE.
 */
size_t kshm_region_data_size(struct kshm_region *r)
{
	return r->data_size;
}
EXPORT_SYMBOL_GPL(kshm_region_data_size);

/**
 * kshm_region_write() - write bytes into a region under its lock, and commit
 * @r: the region
 * @offset: byte offset in the data
 * @src: @len bytes
 * @len: 1 to kshm_region_data_size() - @offset
 * @timeout_ms: how long to wait for the lock, 1 or more milliseconds
 *
 * Context: process context; sleeps.
 * Return: the lock's result flags (see kshm_region_lock_timeout()) once
 * committed, or -EINVAL (a range outside the data, or @timeout_ms is 0),
 * -ETIMEDOUT, -EINTR or -ENODEV; nothing was written then.
 */
int kshm_region_write(struct kshm_region *r, size_t offset, const void *src, size_t len,
		      unsigned int timeout_ms)
{
	int ret;

	if (!len || len > r->data_size || offset > r->data_size - len)
		return -EINVAL;
	ret = kshm_region_lock_timeout(r, timeout_ms);
	if (ret < 0)
		return ret;
	memcpy(r->data + offset, src, len);
	kshm_region_unlock(r, true);
	return ret;
}
EXPORT_SYMBOL_GPL(kshm_region_write);

/**
 * kshm_lock_timeout() - take the default region's lock for the kernel
 * @timeout_ms: how long to wait for it, 1 or more milliseconds
 *
 * kshm_region_lock_timeout() on the default region (/dev/kshm).
 *
 * Return: as kshm_region_lock_timeout().
 */
int kshm_lock_timeout(unsigned int timeout_ms)
{
	return kshm_region_lock_timeout(kshm_default, timeout_ms);
}
EXPORT_SYMBOL_GPL(kshm_lock_timeout);

/**
 * kshm_unlock() - release the lock taken by kshm_lock_timeout()
 * @commit: true to publish the writes, false to abort (as kshm_region_unlock())
 */
void kshm_unlock(bool commit)
{
	kshm_region_unlock(kshm_default, commit);
}
EXPORT_SYMBOL_GPL(kshm_unlock);

/**
 * kshm_data() - the kernel address of the default region's data
 *
 * Write it only while holding the lock (kshm_lock_timeout()).
 *
 * Return: kshm_data_size() bytes, contiguous, valid while the module is loaded.
 */
void *kshm_data(void)
{
	return kshm_default->data;
}
EXPORT_SYMBOL_GPL(kshm_data);

/**
 * kshm_data_size() - the size of the default region's data
 *
 * Return: bytes at kshm_data(): the data pages times PAGE_SIZE.
 */
size_t kshm_data_size(void)
{
	return kshm_default->data_size;
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

	ret = kshm_region_lock(r, KSHM_LW_KERNEL, f, timeout, 0, result, generation);
	if (ret)
		return ret;
	memcpy(r->data + offset, src, len);
	spin_lock(&r->lock);
	r->stats.kernel_writes++;
	spin_unlock(&r->lock);
	return kshm_region_unlock_id(r, KSHM_LW_KERNEL, KSHM_UNLOCK_COMMIT, generation);
}

/**
 * kshm_region_emit() - publish a record in a region's event ring
 * @r: a region created with a ring (kshm_region_opts.ring, or ring= in regions=)
 * @type: the record's type
 * @data: @len bytes
 * @len: 0 to KSHM_EV_MAX_DATA
 *
 * Callable from any context but NMI, hardirq included; never sleeps; several
 * CPUs may emit at once. When the ring is full the oldest record is
 * overwritten: nothing waits for a reader. See EVENTS in uapi/linux/kshm.h.
 * The caller keeps @r alive (it created it and has not destroyed it yet).
 *
 * Return: 0, -ENODEV (the region was destroyed), -ENOSPC (it has no ring),
 * -EMSGSIZE, or -EBUSY (called from NMI: nothing published, warned once).
 */
int kshm_region_emit(struct kshm_region *r, u32 type, const void *data, u32 len)
{
	if (READ_ONCE(r->dead))
		return -ENODEV;
	if (!r->ring)
		return -ENOSPC;
	return kshm_ring_emit(r->ring, type, data, len);
}
EXPORT_SYMBOL_GPL(kshm_region_emit);

/**
 * kshm_emit() - publish a record in the default region's ring
 * @type: the record's type
 * @data: @len bytes
 * @len: 0 to KSHM_EV_MAX_DATA
 *
 * kshm_region_emit() on the default region (/dev/kshm, ring= at load).
 *
 * Return: 0, -ENOSPC (the module was loaded without ring=), -EMSGSIZE or
 * -EBUSY (called from NMI).
 */
int kshm_emit(u32 type, const void *data, u32 len)
{
	return kshm_region_emit(kshm_default, type, data, len);
}
EXPORT_SYMBOL_GPL(kshm_emit);
