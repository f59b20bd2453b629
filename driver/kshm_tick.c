// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel ticker, one per region: every tick_ms it commits a struct
 * kshm_tick (count and CLOCK_MONOTONIC) at the end of the region's data,
 * through the same lock as everybody else. It waits for the lock no longer
 * than one period and never longer than KSHM_TICK_WAIT_MS, and counts the
 * ticks it had to skip. Changing tick_ms or destroying the region cancels a
 * tick that waits, so neither ever waits on a user holder.
 *
 * The default region's period is the module parameter tick_ms; every
 * region's is also region/tick_ms in its sysfs directory (kshm_main.c).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/lockdep.h>
#include <linux/minmax.h>
#include <linux/moduleparam.h>
#include <linux/ktime.h>
#include <linux/mutex.h>
#include <linux/workqueue.h>
#include "kshm_internal.h"

#define KSHM_TICK_WAIT_MS	100U

/* The module parameter: the default region's period (also before it exists). */
unsigned int kshm_tick_ms;

static void kshm_tick_once(struct kshm_region *r, unsigned int ms)
{
	struct kshm_tick *t = r->data + r->hdr->tick_offset;
	long timeout = msecs_to_jiffies(min(ms, KSHM_TICK_WAIT_MS));
	u64 generation;
	u32 result;
	int ret;

	/* Keyed by the work: kshm_tick_reschedule() ends the wait. */
	ret = kshm_region_lock(r, KSHM_LW_KERNEL, &r->tick_work, &timeout, 0,
			       &result, &generation);
	if (!ret) {
		WRITE_ONCE(t->count, ++r->tick_count);
		WRITE_ONCE(t->mono_ns, ktime_get_ns());
	}
	spin_lock(&r->lock);
	if (ret)
		r->stats.ticks_skipped++;
	else
		r->stats.ticks++;
	spin_unlock(&r->lock);
	if (!ret)
		kshm_region_unlock_id(r, KSHM_LW_KERNEL, KSHM_UNLOCK_COMMIT, &generation);
}

static void kshm_tick_fn(struct work_struct *work)
{
	struct kshm_region *r = container_of(to_delayed_work(work), struct kshm_region,
					     tick_work);
	unsigned int ms = READ_ONCE(r->tick_ms);

	if (!ms)
		return;
	kshm_tick_once(r, ms);
	queue_delayed_work(system_unbound_wq, &r->tick_work, msecs_to_jiffies(ms));
}

/*
 * Apply r->tick_ms: a waiting tick gives up at once. A tick that has read
 * the old period but not yet queued for the lock must not queue either, or
 * cancel_delayed_work_sync() would wait for it to time out on a user holder
 * (up to KSHM_TICK_WAIT_MS): the ticker's lock calls are barred until the
 * tick is rescheduled or gone. r->tick_mutex held.
 */
static void kshm_tick_reschedule(struct kshm_region *r)
{
	unsigned int ms = r->tick_ms;

	lockdep_assert_held(&r->tick_mutex);
	kshm_region_block(r, &r->tick_work, true);
	if (ms && r->tick_enabled)
		mod_delayed_work(system_unbound_wq, &r->tick_work, msecs_to_jiffies(ms));
	else
		cancel_delayed_work_sync(&r->tick_work);
	kshm_region_unblock(r);
}

/**
 * kshm_tick_set - change a region's ticker period
 * @r: the region
 * @ms: the period in ms (0: off), at most KSHM_TICK_MAX_MS (the caller checked)
 */
void kshm_tick_set(struct kshm_region *r, unsigned int ms)
{
	mutex_lock(&r->tick_mutex);
	WRITE_ONCE(r->tick_ms, ms);
	if (r == READ_ONCE(kshm_default))
		WRITE_ONCE(kshm_tick_ms, ms);	/* the parameter shows it */
	if (r->tick_enabled)
		kshm_tick_reschedule(r);
	mutex_unlock(&r->tick_mutex);
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
	WRITE_ONCE(kshm_tick_ms, ms);
	kshm_default_tick_set(ms);
	return 0;
}

static const struct kernel_param_ops kshm_tick_param_ops = {
	.set = kshm_tick_param_set,
	.get = param_get_uint,
};

module_param_cb(tick_ms, &kshm_tick_param_ops, &kshm_tick_ms, 0644);
MODULE_PARM_DESC(tick_ms,
		 "The default region's ticker period in ms (0 = off, at most 3600000); writable at runtime");

/**
 * kshm_tick_init - set up a new region's ticker, stopped
 * @r: the region
 * @ms: its period (0: off)
 */
void kshm_tick_init(struct kshm_region *r, unsigned int ms)
{
	mutex_init(&r->tick_mutex);
	INIT_DELAYED_WORK(&r->tick_work, kshm_tick_fn);
	r->tick_ms = ms;
}

/**
 * kshm_tick_start - run the region's ticker (if its period is not 0)
 * @r: the region
 */
void kshm_tick_start(struct kshm_region *r)
{
	mutex_lock(&r->tick_mutex);
	r->tick_enabled = true;
	kshm_tick_reschedule(r);
	mutex_unlock(&r->tick_mutex);
}

/**
 * kshm_tick_stop - stop the region's ticker for good, and wait for a tick
 * @r: the region
 */
void kshm_tick_stop(struct kshm_region *r)
{
	mutex_lock(&r->tick_mutex);
	r->tick_enabled = false;
	kshm_tick_reschedule(r);
	mutex_unlock(&r->tick_mutex);
}
