// SPDX-License-Identifier: GPL-2.0
/*
 * kshm_sample: a producer module. It shares the region "sample"
 * (/dev/kshm/sample, one page) and every period_ms commits, under the
 * region's lock, a u64 counter at offset 0 and CLOCK_MONOTONIC ns (u64) at
 * offset 8. Users read them with the seqcount protocol or wait with poll().
 */
#include <linux/kshm.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/workqueue.h>

static unsigned int period_ms = 100;
module_param(period_ms, uint, 0444);
MODULE_PARM_DESC(period_ms, "Commit period in ms (1 or more, default 100)");

static struct kshm_region *region;

/* ---- the counter: a delayed work commits { count, now } ---------------- */

static u64 count;
static void sample_counter_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(sample_counter, sample_counter_fn);

static void sample_counter_fn(struct work_struct *work)
{
	u64 v[2] = { count + 1, ktime_get_ns() };

	/* Wait for the lock at most one period; a busy lock skips a beat. */
	if (kshm_region_write(region, 0, v, sizeof(v), period_ms) >= 0)
		count++;
	schedule_delayed_work(&sample_counter, msecs_to_jiffies(period_ms));
}

/* ---- load and unload --------------------------------------------------- */

static int __init kshm_sample_init(void)
{
	if (!period_ms)
		return -EINVAL;
	region = kshm_region_create("sample", 1, NULL);
	if (IS_ERR(region))
		return PTR_ERR(region);
	schedule_delayed_work(&sample_counter, 0);
	return 0;
}

static void __exit kshm_sample_exit(void)
{
	cancel_delayed_work_sync(&sample_counter);
	kshm_region_destroy(region);	/* users still holding it get ENODEV */
}

module_init(kshm_sample_init);
module_exit(kshm_sample_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kshm sample producer: a counter and a timestamp in /dev/kshm/sample");
