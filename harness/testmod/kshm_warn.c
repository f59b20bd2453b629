// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only module: loading it makes the kernel log a WARNING, so the
 * harness spec can prove that `npm run vm` fails on a kernel warning.
 * Never shipped, never loaded outside the harness spec.
 */
#include <linux/module.h>
#include <linux/bug.h>

static int __init kshm_warn_init(void)
{
	WARN(1, "kshm_warn: deliberate warning for the harness spec\n");
	return 0;
}

static void __exit kshm_warn_exit(void)
{
}

module_init(kshm_warn_init);
module_exit(kshm_warn_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kshm harness self-test: logs one WARNING at load");
