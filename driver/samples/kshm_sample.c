// SPDX-License-Identifier: GPL-2.0
/*
 * kshm_sample: a producer module. It shares the region "sample"
 * (/dev/kshm/sample, one page) and every period_ms commits, under the
 * region's lock, a u64 counter at offset 0 and CLOCK_MONOTONIC ns (u64) at
 * offset 8. Users read them with the seqcount protocol or wait with poll().
 * With rate_hz, an hrtimer also emits that many records per second into the
 * region's event ring (4096 records), from hardirq context: type 1, payload a
 * u64 little-endian counter from 0.
 */
#include <linux/hrtimer.h>
#include <linux/kshm.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/workqueue.h>
#include <asm/byteorder.h>
#include "../kshm_compat.h"	/* kshm_hrtimer_setup(): hrtimer_setup() since 6.13 */

static unsigned int period_ms = 100;
module_param(period_ms, uint, 0444);
MODULE_PARM_DESC(period_ms, "Commit period in ms (1 or more, default 100)");
static unsigned int rate_hz;
module_param(rate_hz, uint, 0444);
MODULE_PARM_DESC(rate_hz, "Records of type 1 per second from an hrtimer (0 = off, at most 100000)");

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

/* ---- events: an hrtimer emits rate_hz records per second (hardirq) ----- */

static struct hrtimer sample_timer;
static ktime_t sample_period;
static u64 emitted;

static enum hrtimer_restart sample_timer_fn(struct hrtimer *t)
{
	u64 n = hrtimer_forward_now(t, sample_period);

	/* One record per period that passed (at most 64 after a long stall). */
	for (n = min_t(u64, n, 64); n; n--) {
		__le64 v = cpu_to_le64(emitted++);

		kshm_region_emit(region, 1, &v, sizeof(v));
	}
	return HRTIMER_RESTART;
}

/* ---- load and unload --------------------------------------------------- */

static int __init kshm_sample_init(void)
{
	const struct kshm_region_opts opts = { .ring = 4096 };

	if (!period_ms || rate_hz > 100000)
		return -EINVAL;
	region = kshm_region_create("sample", 1, &opts);
	if (IS_ERR(region))
		return PTR_ERR(region);
	schedule_delayed_work(&sample_counter, 0);
	kshm_hrtimer_setup(&sample_timer, sample_timer_fn, CLOCK_MONOTONIC, HRTIMER_MODE_REL_HARD);
	if (rate_hz) {
		sample_period = ns_to_ktime(div_u64(NSEC_PER_SEC, rate_hz));
		hrtimer_start(&sample_timer, sample_period, HRTIMER_MODE_REL_HARD);
	}
	return 0;
}

static void __exit kshm_sample_exit(void)
{
	hrtimer_cancel(&sample_timer);
	cancel_delayed_work_sync(&sample_counter);
	kshm_region_destroy(region);	/* users still holding it get ENODEV */
}

module_init(kshm_sample_init);
module_exit(kshm_sample_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kshm sample producer: a counter, a timestamp and events in /dev/kshm/sample");
