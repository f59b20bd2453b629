// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only module: kernel producers for kshm's event ring (kshm_emit()),
 * in the contexts real producers run in.
 *
 * - rate_hz (0 = off, at most 100000; writable at any time): an hrtimer,
 *   pinned to CPU 0 and expiring in hardirq context (HRTIMER_MODE_*_HARD),
 *   emits rate_hz records per second of type 1, each carrying a u64 counter
 *   that starts at 0 (payload bytes 0-7, little-endian). A late expiry
 *   emits one record per period it missed (at most 256), so the rate holds.
 * - burst: writing N runs a kworker on CPU burst_cpu (default 1) that emits
 *   N records of type 2 (its own u64 counter from 0) as fast as it can,
 *   alongside the timer; the write returns when they are all out.
 * - timer_emitted, burst_emitted: records emitted so far by each.
 *
 * The hrtimer part is what driver/samples/kshm_sample.c needs for its
 * rate_hz parameter: kshm_events_timer_* move there as they are (with
 * kshm_region_emit() for kshm_emit()). Loaded only by the C events test.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cpumask.h>
#include <linux/hrtimer.h>
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/workqueue.h>
#include <asm/byteorder.h>
#include "kshm.h"		/* driver/include/linux, from Kbuild */
#include "kshm_compat.h"	/* driver/, from Kbuild */

#define KSHM_EVT_MAX_HZ		100000U
#define KSHM_EVT_MAX_CATCHUP	256
#define KSHM_EVT_TIMER_CPU	0

static DEFINE_MUTEX(kshm_evt_mutex);	/* rate changes, start, stop */
static bool kshm_evt_ready;		/* the timer is set up (after load's parameters) */
static unsigned int rate_hz;
static unsigned long timer_emitted;
static unsigned long burst_emitted;
static unsigned int burst_cpu = 1;
static struct hrtimer kshm_evt_timer;
static ktime_t kshm_evt_period;

module_param(timer_emitted, ulong, 0444);
MODULE_PARM_DESC(timer_emitted, "records of type 1 emitted by the hrtimer so far");
module_param(burst_emitted, ulong, 0444);
MODULE_PARM_DESC(burst_emitted, "records of type 2 emitted by bursts so far");
module_param(burst_cpu, uint, 0644);
MODULE_PARM_DESC(burst_cpu, "the CPU bursts run on (default 1)");

/* One record: @type with a u64 little-endian counter in bytes 0-7. */
static void kshm_evt_emit(u32 type, u64 count)
{
	__le64 v = cpu_to_le64(count);

	kshm_emit(type, &v, sizeof(v));
}

/* Hardirq context: emits one record per period that passed, never sleeps. */
static enum hrtimer_restart kshm_evt_timer_fn(struct hrtimer *t)
{
	u64 n = hrtimer_forward_now(t, kshm_evt_period);
	u64 i;

	for (i = 0; i < min_t(u64, n, KSHM_EVT_MAX_CATCHUP); i++) {
		kshm_evt_emit(1, timer_emitted);
		WRITE_ONCE(timer_emitted, timer_emitted + 1);
	}
	return HRTIMER_RESTART;
}

/* Runs on KSHM_EVT_TIMER_CPU: a pinned timer stays on the CPU that starts it. */
static long kshm_evt_timer_start_on_cpu(void *arg)
{
	hrtimer_start(&kshm_evt_timer, kshm_evt_period, HRTIMER_MODE_REL_PINNED_HARD);
	return 0;
}

/* (Re)start the timer at @hz (0: stop). kshm_evt_mutex held. */
static void kshm_evt_timer_set(unsigned int hz)
{
	int cpu = cpu_online(KSHM_EVT_TIMER_CPU) ? KSHM_EVT_TIMER_CPU : raw_smp_processor_id();

	hrtimer_cancel(&kshm_evt_timer);
	WRITE_ONCE(rate_hz, hz);
	if (!hz)
		return;
	kshm_evt_period = ns_to_ktime(div_u64(NSEC_PER_SEC, hz));
	work_on_cpu(cpu, kshm_evt_timer_start_on_cpu, NULL);
}

static int kshm_evt_rate_set(const char *val, const struct kernel_param *kp)
{
	unsigned int hz;
	int ret;

	ret = kstrtouint(val, 0, &hz);
	if (ret)
		return ret;
	if (hz > KSHM_EVT_MAX_HZ)
		return -EINVAL;
	mutex_lock(&kshm_evt_mutex);
	if (kshm_evt_ready)
		kshm_evt_timer_set(hz);
	else
		rate_hz = hz;	/* at load, before kshm_evt_init() */
	mutex_unlock(&kshm_evt_mutex);
	return 0;
}

static const struct kernel_param_ops kshm_evt_rate_ops = {
	.set = kshm_evt_rate_set,
	.get = param_get_uint,
};

module_param_cb(rate_hz, &kshm_evt_rate_ops, &rate_hz, 0644);
MODULE_PARM_DESC(rate_hz, "hrtimer records of type 1 per second (0 = off, at most 100000)");

static long kshm_evt_burst_fn(void *arg)
{
	unsigned int n = *(unsigned int *)arg, i;

	for (i = 0; i < n; i++) {
		kshm_evt_emit(2, burst_emitted);
		WRITE_ONCE(burst_emitted, burst_emitted + 1);
		if (!(i % 64))
			cond_resched();
	}
	return 0;
}

static int kshm_evt_burst_set(const char *val, const struct kernel_param *kp)
{
	unsigned int n, cpu = READ_ONCE(burst_cpu);
	int ret;

	ret = kstrtouint(val, 0, &n);
	if (ret)
		return ret;
	if (cpu >= nr_cpu_ids || !cpu_online(cpu))
		return -EINVAL;
	return (int)work_on_cpu(cpu, kshm_evt_burst_fn, &n);
}

static const struct kernel_param_ops kshm_evt_burst_ops = {
	.set = kshm_evt_burst_set,
};

module_param_cb(burst, &kshm_evt_burst_ops, NULL, 0200);
MODULE_PARM_DESC(burst, "write N: emit N records of type 2 on CPU burst_cpu");

static int __init kshm_evt_init(void)
{
	kshm_hrtimer_setup(&kshm_evt_timer, kshm_evt_timer_fn, CLOCK_MONOTONIC,
			   HRTIMER_MODE_REL_PINNED_HARD);
	mutex_lock(&kshm_evt_mutex);
	kshm_evt_ready = true;
	kshm_evt_timer_set(rate_hz);
	mutex_unlock(&kshm_evt_mutex);
	return 0;
}

static void __exit kshm_evt_exit(void)
{
	hrtimer_cancel(&kshm_evt_timer);
}

module_init(kshm_evt_init);
module_exit(kshm_evt_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kshm test: event ring producers in hardirq and on a second CPU");
