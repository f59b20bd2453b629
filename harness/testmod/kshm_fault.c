// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only module: each mode commits one deliberate bug of a family the debug
 * kernel's checkers catch, so the harness spec can prove that `npm run vm`
 * fails a run on that family's report. Never shipped, never loaded outside
 * the harness spec.
 *
 *   mode=uaf        a read after kfree()                    (KASAN)
 *   mode=oob        a read past a kmalloc()ed object         (KASAN)
 *   mode=inversion  two mutexes taken in both orders         (lockdep)
 *   mode=sleep      mutex_lock() under a spinlock            (DEBUG_ATOMIC_SLEEP)
 *   mode=bounds     an array index out of bounds             (UBSAN)
 *   mode=refcount   a refcount_t decremented to zero         (refcount)
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/refcount.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>

static char *mode = "";
module_param(mode, charp, 0444);
MODULE_PARM_DESC(mode, "the deliberate bug: uaf, oob, inversion, sleep, bounds, refcount");

/* An index the compiler cannot see through, so no warning at build time. */
static int index = 8;
module_param(index, int, 0444);
MODULE_PARM_DESC(index, "the index mode=bounds reads (out of bounds by default)");

static DEFINE_MUTEX(lock_a);
static DEFINE_MUTEX(lock_b);
static DEFINE_SPINLOCK(spin);

static int kshm_fault_uaf(bool past_end)
{
	size_t size = 32;
	u8 *p = kmalloc(size, GFP_KERNEL);
	u8 v;

	if (!p)
		return -ENOMEM;
	memset(p, 0x5a, size);
	if (past_end) {
		v = READ_ONCE(p[size + index]);
		kfree(p);
	} else {
		kfree(p);
		v = READ_ONCE(p[0]);
	}
	pr_info("read %u\n", v);
	return 0;
}

static void kshm_fault_inversion(void)
{
	mutex_lock(&lock_a);
	mutex_lock(&lock_b);
	mutex_unlock(&lock_b);
	mutex_unlock(&lock_a);

	mutex_lock(&lock_b);
	mutex_lock(&lock_a);
	mutex_unlock(&lock_a);
	mutex_unlock(&lock_b);
}

static void kshm_fault_sleep(void)
{
	spin_lock(&spin);
	mutex_lock(&lock_a);
	mutex_unlock(&lock_a);
	spin_unlock(&spin);
}

static void kshm_fault_bounds(void)
{
	int table[8] = { 0 };

	pr_info("table[%d] = %d\n", index, table[index]);
}

static void kshm_fault_refcount(void)
{
	refcount_t r = REFCOUNT_INIT(1);

	refcount_dec(&r);
}

static int __init kshm_fault_init(void)
{
	if (!strcmp(mode, "uaf"))
		return kshm_fault_uaf(false);
	if (!strcmp(mode, "oob"))
		return kshm_fault_uaf(true);
	if (!strcmp(mode, "inversion"))
		kshm_fault_inversion();
	else if (!strcmp(mode, "sleep"))
		kshm_fault_sleep();
	else if (!strcmp(mode, "bounds"))
		kshm_fault_bounds();
	else if (!strcmp(mode, "refcount"))
		kshm_fault_refcount();
	else
		return -EINVAL;
	return 0;
}

static void __exit kshm_fault_exit(void)
{
}

module_init(kshm_fault_init);
module_exit(kshm_fault_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kshm harness self-test: one deliberate bug per checker family");
