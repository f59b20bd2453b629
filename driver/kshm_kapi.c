// SPDX-License-Identifier: GPL-2.0
/*
 * The in-kernel API (include/linux/kshm.h): the kernel as a second party.
 *
 * Kernel holders share one owner identity, so they are serialised among
 * themselves by r->kernel_mutex before they queue on the region lock; the
 * FIFO lock then orders them fairly against user space.
 */
#include <linux/export.h>
#include <linux/string.h>
#include "include/linux/kshm.h"
#include "kshm_internal.h"

int kshm_lock_timeout(unsigned int timeout_ms)
{
	struct kshm_region *r = &kshm_region;
	u32 result;
	u64 generation;
	int ret;

	if (mutex_lock_interruptible(&r->kernel_mutex))
		return -EINTR;
	ret = kshm_region_lock(r, NULL, kshm_timeout_jiffies(timeout_ms),
			       false, &result, &generation);
	if (ret) {
		mutex_unlock(&r->kernel_mutex);
		return ret;
	}
	return result;
}
EXPORT_SYMBOL_GPL(kshm_lock_timeout);

int kshm_lock(void)
{
	return kshm_lock_timeout(0);
}
EXPORT_SYMBOL_GPL(kshm_lock);

void kshm_unlock(bool commit)
{
	struct kshm_region *r = &kshm_region;
	u64 generation;

	WARN_ON_ONCE(kshm_region_unlock(r, NULL, commit ? KSHM_UNLOCK_COMMIT : KSHM_UNLOCK_ABORT,
					&generation));
	mutex_unlock(&r->kernel_mutex);
}
EXPORT_SYMBOL_GPL(kshm_unlock);

void *kshm_data(void)
{
	return kshm_region.data;
}
EXPORT_SYMBOL_GPL(kshm_data);

size_t kshm_data_size(void)
{
	return kshm_region.data_size;
}
EXPORT_SYMBOL_GPL(kshm_data_size);

/*
 * KSHM_IOC_KWRITE: copy @len bytes (already in kernel memory) to @offset
 * under the lock, from the kernel's side, and commit. The caller checked the
 * range and that its own file does not hold the lock.
 */
int kshm_kwrite(struct kshm_region *r, u64 offset, const void *src, u32 len,
		u32 timeout_ms, u32 *result, u64 *generation)
{
	int ret;

	ret = kshm_lock_timeout(timeout_ms);
	if (ret < 0)
		return ret;
	*result = ret;
	memcpy(r->data + offset, src, len);
	spin_lock(&r->lock);
	r->stats.kernel_writes++;
	spin_unlock(&r->lock);
	ret = kshm_region_unlock(r, NULL, KSHM_UNLOCK_COMMIT, generation);
	mutex_unlock(&r->kernel_mutex);
	return ret;
}
