// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel ticker: every tick_ms it commits a struct kshm_tick (count and
 * CLOCK_MONOTONIC) at the end of the data area, through the same lock as
 * everybody else. It waits for the lock no longer than one period and never
 * longer than KSHM_TICK_WAIT_MS, and counts the ticks it had to skip.
 * Changing tick_ms or unloading cancels a tick that waits, so neither ever
 * waits on a user holder.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/lockdep.h>
#include <linux/minmax.h>
#include <linux/moduleparam.h>
#include <linux/ktime.h>
#include <linux/mutex.h>
#include <linux/workqueue.h>
#include "kshm_internal.h"

#define KSHM_TICK_MAX_MS	3600000U
#define KSHM_TICK_WAIT_MS	100U

unsigned int kshm_tick_ms;
static DEFINE_MUTEX(kshm_tick_mutex);	/* kshm_tick_ms changes, start, stop */
static bool kshm_tick_enabled;		/* the region exists */
static u64 kshm_tick_count;
static void kshm_tick_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(kshm_tick_work, kshm_tick_fn);

static void kshm_tick_once(struct kshm_region *r, unsigned int ms)
{
	struct kshm_tick *t = r->data + r->hdr->tick_offset;
	long timeout = msecs_to_jiffies(min(ms, KSHM_TICK_WAIT_MS));
	u64 generation;
	u32 result;
	int ret;

	/* Keyed by the work: kshm_tick_cancel_wait() ends the wait. */
	ret = kshm_region_lock(r, KSHM_LW_KERNEL, &kshm_tick_work, &timeout, 0,
			       &result, &generation);
	if (!ret) {
		WRITE_ONCE(t->count, ++kshm_tick_count);
		WRITE_ONCE(t->mono_ns, ktime_get_ns());
	}
	spin_lock(&r->lock);
	if (ret)
		r->stats.ticks_skipped++;
	else
		r->stats.ticks++;
	spin_unlock(&r->lock);
	if (!ret)
		kshm_region_unlock(r, KSHM_LW_KERNEL, KSHM_UNLOCK_COMMIT, &generation);
}

static void kshm_tick_fn(struct work_struct *work)
{
	unsigned int ms = READ_ONCE(kshm_tick_ms);

	if (!ms)
		return;
	kshm_tick_once(&kshm_region, ms);
	queue_delayed_work(system_unbound_wq, &kshm_tick_work, msecs_to_jiffies(ms));
}

/* Apply kshm_tick_ms: a waiting tick gives up at once. kshm_tick_mutex held. */
static void kshm_tick_reschedule(void)
{
	unsigned int ms = kshm_tick_ms;

	lockdep_assert_held(&kshm_tick_mutex);
	kshm_region_cancel(&kshm_region, &kshm_tick_work);
	if (ms && kshm_tick_enabled)
		mod_delayed_work(system_unbound_wq, &kshm_tick_work, msecs_to_jiffies(ms));
	else
		cancel_delayed_work_sync(&kshm_tick_work);
}

static int kshm_tick_param_set(const char *val, const struct kernel_param *kp)
{
	struct kernel_param tmp = *kp;
	unsigned int ms;
	int ret;

	tmp.arg = &ms;
	ret = param_set_uint_minmax(val, &tmp, 0, KSHM_TICK_MAX_MS);
	if (ret)
		return ret;
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
	kshm_tick_reschedule();
	mutex_unlock(&kshm_tick_mutex);
}
