// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only module: drives kshm's in-kernel API (include/linux/kshm.h) from
 * user space, so that the C tests can check what a kernel caller sees.
 * Writing N to /sys/module/kshm_kapi_test/parameters/lock_ms calls
 * kshm_lock_timeout(N), aborts at once if granted, and stores the return
 * value in .../result. Writing NAME:PAGES to .../create calls
 * kshm_region_create(NAME, PAGES, opts) with opts.ring from .../ring
 * (result: 0 or the error), writing N to .../emit emits N records into it
 * (type 7, payload the u64 0..N-1, little-endian), writing anything to
 * .../destroy destroys that region; unloading destroys it too.
 * Never shipped; loaded only by spec/c/hostile_test and spec/c/regions_test.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/err.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/string.h>
#include <asm/byteorder.h>
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

static struct kshm_region *region;	/* made by create, under the param lock */

static unsigned int ring;
module_param(ring, uint, 0644);
MODULE_PARM_DESC(ring, "records in the ring of the region create makes (0: none)");

static int kshm_kapi_test_create(const char *val, const struct kernel_param *kp)
{
	struct kshm_region_opts opts = {};
	char name[64], *colon;
	unsigned int pages;
	int ret;

	if (region)
		return -EBUSY;
	strscpy(name, val, sizeof(name));
	colon = strrchr(name, ':');
	if (!colon)
		return -EINVAL;
	*colon = 0;
	ret = kstrtouint(colon + 1, 0, &pages);
	if (ret)
		return ret;
	opts.ring = READ_ONCE(ring);
	region = kshm_region_create(name, pages, &opts);
	ret = IS_ERR(region) ? PTR_ERR(region) : 0;
	if (ret)
		region = NULL;
	WRITE_ONCE(result, ret);
	return 0;
}

static const struct kernel_param_ops kshm_kapi_test_create_ops = {
	.set = kshm_kapi_test_create,
};

module_param_cb(create, &kshm_kapi_test_create_ops, NULL, 0200);
MODULE_PARM_DESC(create, "write NAME:PAGES: kshm_region_create(NAME, PAGES, { .ring = ring })");

static int kshm_kapi_test_emit(const char *val, const struct kernel_param *kp)
{
	unsigned int i, n;
	int ret;

	if (!region)
		return -ENOENT;
	ret = kstrtouint(val, 0, &n);
	if (ret)
		return ret;
	for (i = 0; i < n && !ret; i++) {
		__le64 v = cpu_to_le64(i);

		ret = kshm_region_emit(region, 7, &v, sizeof(v));
	}
	WRITE_ONCE(result, ret);
	return 0;
}

static const struct kernel_param_ops kshm_kapi_test_emit_ops = {
	.set = kshm_kapi_test_emit,
};

module_param_cb(emit, &kshm_kapi_test_emit_ops, NULL, 0200);
MODULE_PARM_DESC(emit, "write N: N records into the region made by create (type 7, u64 0..N-1)");

static int kshm_kapi_test_destroy(const char *val, const struct kernel_param *kp)
{
	kshm_region_destroy(region);
	region = NULL;
	return 0;
}

static const struct kernel_param_ops kshm_kapi_test_destroy_ops = {
	.set = kshm_kapi_test_destroy,
};

module_param_cb(destroy, &kshm_kapi_test_destroy_ops, NULL, 0200);
MODULE_PARM_DESC(destroy, "write anything: kshm_region_destroy() the region made by create");

static void __exit kshm_kapi_test_exit(void)
{
	kshm_region_destroy(region);
}
module_exit(kshm_kapi_test_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kshm test: the in-kernel API, driven through a module parameter");
