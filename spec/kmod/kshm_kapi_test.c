// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only module: drives kshm's in-kernel API (include/linux/kshm.h) from
 * user space, so that the C tests can check what a kernel caller sees.
 * Writing N to /sys/module/kshm_kapi_test/parameters/lock_ms calls
 * kshm_lock_timeout(N), aborts at once if granted, and stores the return
 * value in .../result. Never shipped; loaded only by spec/c/hostile_test.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include "kshm.h"	/* driver/include/linux, from Kbuild */

static int result;
module_param(result, int, 0444);
MODULE_PARM_DESC(result, "what the last kshm_lock_timeout() returned");

static int kshm_kapi_test_set(const char *val, const struct kernel_param *kp)
{
	unsigned int ms;
	int ret;

	ret = kstrtouint(val, 0, &ms);
	if (ret)
		return ret;
	ret = kshm_lock_timeout(ms);
	if (ret >= 0)
		kshm_unlock(false);
	WRITE_ONCE(result, ret);
	return 0;
}

static const struct kernel_param_ops kshm_kapi_test_ops = {
	.set = kshm_kapi_test_set,
};

module_param_cb(lock_ms, &kshm_kapi_test_ops, NULL, 0200);
MODULE_PARM_DESC(lock_ms, "write N: kshm_lock_timeout(N), then abort");

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kshm test: the in-kernel API, driven through a module parameter");
