/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kshm in-kernel API: the kernel is a party to a shared region like any
 * user process. It takes the same FIFO lock, and its commits advance the same
 * generation and seqcount that users see.
 *
 * A module shares its own region (/dev/kshm/NAME, see REGIONS in
 * uapi/kshm.h):
 *
 *	r = kshm_region_create("sensors", 4, NULL);
 *	if (IS_ERR(r))
 *		return PTR_ERR(r);
 *	...
 *	ret = kshm_region_write(r, off, &sample, sizeof(sample), 50);
 *	...
 *	kshm_region_destroy(r);		(in its exit: users see ENODEV)
 *
 * or takes the lock around several writes:
 *
 *	int ret = kshm_region_lock_timeout(r, 50);
 *	if (ret < 0)
 *		return ret;		(-ETIMEDOUT, -EINTR, -ENODEV)
 *	memcpy(kshm_region_data(r) + off, buf, len);
 *	kshm_region_unlock(r, true);	(commit)
 *
 * A non-negative return is the lock's result flags: KSHM_LOCK_OWNER_DIED when
 * the previous holder died mid-transaction. There is no wait without a time
 * limit: a user may hold the lock for as long as it likes. Kernel callers
 * queue behind each other in the same FIFO, each within its own timeout; a
 * kernel caller never holds the lock across a sleep that waits on user space.
 *
 * A region created with a ring (kshm_region_opts.ring) also carries records,
 * every one delivered in order (EVENTS in uapi/kshm.h); emitting never sleeps
 * and works in any context but NMI, hardirq included:
 *
 *	kshm_region_emit(r, type, &sample, sizeof(sample));
 *
 * kshm_lock_timeout(), kshm_unlock(), kshm_data(), kshm_data_size() and
 * kshm_emit() are the same calls on the default region (/dev/kshm).
 */
#ifndef _LINUX_KSHM_H
#define _LINUX_KSHM_H

#include <linux/types.h>
#include "../uapi/kshm.h"

struct kshm_region;

/**
 * struct kshm_region_opts - a region's options (kshm_region_create(), regions=)
 * @tick_ms: the kernel ticker's period in ms (see struct kshm_tick), 0: off
 * @ring: records in the region's event ring (0: none; else a power of two up
 *	to KSHM_RING_MAX_RECORDS): see EVENTS in the uapi header
 *
 * Zero is every option's default: a caller may pass NULL for all defaults.
 */
struct kshm_region_opts {
	unsigned int tick_ms;
	unsigned int ring;
};

struct kshm_region *kshm_region_create(const char *name, unsigned int pages,
				       const struct kshm_region_opts *opts);
void kshm_region_destroy(struct kshm_region *r);
int kshm_region_lock_timeout(struct kshm_region *r, unsigned int timeout_ms);
void kshm_region_unlock(struct kshm_region *r, bool commit);
void *kshm_region_data(struct kshm_region *r);
size_t kshm_region_data_size(struct kshm_region *r);
int kshm_region_write(struct kshm_region *r, size_t offset, const void *src, size_t len,
		      unsigned int timeout_ms);

int kshm_lock_timeout(unsigned int timeout_ms);
void kshm_unlock(bool commit);
void *kshm_data(void);
size_t kshm_data_size(void);
int kshm_region_emit(struct kshm_region *r, u32 type, const void *data, u32 len);
int kshm_emit(u32 type, const void *data, u32 len);

#endif /* _LINUX_KSHM_H */
