// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel ticker: every tick_ms it commits a struct kshm_tick (count and
 * CLOCK_MONOTONIC) at the end of the data area, through the same lock as
 * everybody else. It never waits on a user holder for longer than one tick
 * period, and counts the ticks it had to skip.
 */
#include <linux/moduleparam.h>
#include <linux/ktime.h>
#include <linux/workqueue.h>
#include "kshm_internal.h"

#define KSHM_TICK_MAX_MS	3600000U

unsigned int kshm_tick_ms;
static DEFINE_MUTEX(kshm_tick_mutex);	/* kshm_tick_ms changes, start, stop */
static bool kshm_tick_enabled;		/* the region exists */
static u64 kshm_tick_count;
static void kshm_tick_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(kshm_tick_work, kshm_tick_fn);

static void kshm_tick_once(struct kshm_region *r, unsigned int ms)
{
	struct kshm_tick *t = r->data + r->hdr->tick_offset;
	u32 result;
	u64 generation;
	bool skipped;

	/* Another kernel writer is busy (perhaps waiting on a user): skip. */
	skipped = !mutex_trylock(&r->kernel_mutex);
	if (!skipped) {
		skipped = kshm_region_lock(r, NULL, kshm_timeout_jiffies(ms),
					   false, &result, &generation) != 0;
		if (!skipped) {
			WRITE_ONCE(t->count, ++kshm_tick_count);
			WRITE_ONCE(t->mono_ns, ktime_get_ns());
			spin_lock(&r->lock);
			r->stats.ticks++;
			spin_unlock(&r->lock);
			kshm_region_unlock(r, NULL, KSHM_UNLOCK_COMMIT, &generation);
		}
		mutex_unlock(&r->kernel_mutex);
	}
	if (skipped) {
		spin_lock(&r->lock);
		r->stats.ticks_skipped++;
		spin_unlock(&r->lock);
	}
}

static void kshm_tick_fn(struct work_struct *work)
{
	unsigned int ms = READ_ONCE(kshm_tick_ms);

	if (!ms)
		return;
	kshm_tick_once(&kshm_region, ms);
	queue_delayed_work(system_unbound_wq, &kshm_tick_work, msecs_to_jiffies(ms));
}

static void kshm_tick_reschedule(void)
{
	unsigned int ms = kshm_tick_ms;

	if (ms)
		mod_delayed_work(system_unbound_wq, &kshm_tick_work, msecs_to_jiffies(ms));
	else
		cancel_delayed_work_sync(&kshm_tick_work);
}

static int kshm_tick_param_set(const char *val, const struct kernel_param *kp)
{
	unsigned int ms;
	int ret;

	ret = kstrtouint(val, 0, &ms);
	if (ret)
		return ret;
	if (ms > KSHM_TICK_MAX_MS)
		return -EINVAL;
	mutex_lock(&kshm_tick_mutex);
	WRITE_ONCE(kshm_tick_ms, ms);
	if (kshm_tick_enabled)
		kshm_tick_reschedule();
	mutex_unlock(&kshm_tick_mutex);
	return 0;
}

static const struct kernel_param_ops kshm_tick_param_ops = {
	.set = kshm_tick_param_set,
	.get = param_get_uint,
};

module_param_cb(tick_ms, &kshm_tick_param_ops, &kshm_tick_ms, 0644);
MODULE_PARM_DESC(tick_ms,
		 "Kernel ticker period in ms (0 = off, at most 3600000); writable at runtime");

void kshm_tick_start(void)
{
	mutex_lock(&kshm_tick_mutex);
	kshm_tick_enabled = true;
	kshm_tick_reschedule();
	mutex_unlock(&kshm_tick_mutex);
}

void kshm_tick_stop(void)
{
	mutex_lock(&kshm_tick_mutex);
	kshm_tick_enabled = false;
	cancel_delayed_work_sync(&kshm_tick_work);
	mutex_unlock(&kshm_tick_mutex);
}
