// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only module: widens a race window of kshm's ticker so that a test can
 * hit it every time. A kprobe on kshm_region_lock() busy-waits delay_ms the
 * first time the ticker calls it (a workqueue worker asking for the lock as
 * the kernel, keyed by its work) after armed was set: the tick has read
 * tick_ms and not yet looked at the queue. hit reads 1 from then on, and
 * armed is 0 again. Never shipped; loaded only by spec/c/hostile_test.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/delay.h>
#include <linux/kprobes.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/sched.h>
#include "kshm.h"	/* driver/include/linux, from Kbuild */

static int armed;
module_param(armed, int, 0644);
MODULE_PARM_DESC(armed, "1: delay the ticker's next lock call");

static int hit;
module_param(hit, int, 0444);
MODULE_PARM_DESC(hit, "1 once a lock call was delayed (set when the delay starts)");

static unsigned int delay_ms = 300;
module_param(delay_ms, uint, 0444);
MODULE_PARM_DESC(delay_ms, "how long the ticker's lock call is held up");

/* kshm_region_lock(r, id, key, ...): id in %rsi, key in %rdx (x86-64). */
static int kshm_tickrace_pre(struct kprobe *p, struct pt_regs *regs)
{
	if (regs->si != KSHM_LW_KERNEL || !regs->dx || !(current->flags & PF_WQ_WORKER))
		return 0;
	if (cmpxchg(&armed, 1, 0) != 1)
		return 0;
	WRITE_ONCE(hit, 1);
	mdelay(delay_ms);
	return 0;
}

static struct kprobe kshm_tickrace_kp = {
	.symbol_name = "kshm_region_lock",
	.pre_handler = kshm_tickrace_pre,
};

static int __init kshm_tickrace_init(void)
{
	if (!IS_ENABLED(CONFIG_X86_64))
		return -EOPNOTSUPP;
	return register_kprobe(&kshm_tickrace_kp);
}

static void __exit kshm_tickrace_exit(void)
{
	unregister_kprobe(&kshm_tickrace_kp);
}

module_init(kshm_tickrace_init);
module_exit(kshm_tickrace_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kshm test: holds up the ticker between reading tick_ms and queueing");
