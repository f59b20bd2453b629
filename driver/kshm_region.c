// SPDX-License-Identifier: GPL-2.0
/*
 * The regions: the default one, created at load as /dev/kshm, and named
 * ones, created by other modules (kshm_region_create()) or by the module
 * parameter regions=, each its own misc device "kshm/NAME" (sysfs
 * kshm!NAME, node /dev/kshm/NAME). A path cannot be both a device and a
 * directory: while a named region exists, the default region's node is
 * /dev/kshm/default, and /dev/kshm again once the last one is gone. Its open
 * files and mappings do not notice (only the node moves).
 *
 * kshm_regions_mutex serializes creation, destruction and those moves. It
 * is never taken under misc_mtx: kshm_open() (called under misc_mtx) finds
 * its region through the miscdevice alone.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/err.h>
#include <linux/export.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/string.h>
#include "kshm_internal.h"

#define KSHM_DEFAULT_DEVNAME	"kshm"
#define KSHM_DEFAULT_ALT_NODE	"kshm/" KSHM_DEFAULT_REGION_NAME

static DEFINE_MUTEX(kshm_regions_mutex);
static LIST_HEAD(kshm_regions);		/* named regions, under kshm_regions_mutex */
static unsigned int kshm_nr_named;	/* ...whose device is registered */
struct kshm_region *kshm_default;	/* NULL before init and from exit on */

/* The keys of regions= after NAME:PAGES (each a line of kshm_region_keys[]). */
#define KSHM_REGION_KEYS	"tick_ms, ring"

static char *regions;
module_param(regions, charp, 0444);
MODULE_PARM_DESC(regions, "Named regions to create at load: NAME:PAGES[:KEY=VALUE...][,...]; "
		 "keys: " KSHM_REGION_KEYS);

/* ---- device nodes ------------------------------------------------------- */

/* (Re-)register the default region's device, its node at @nodename (NULL: /dev/kshm). */
static int kshm_default_node(const char *nodename)
{
	struct kshm_region *d = kshm_default;
	int ret;

	lockdep_assert_held(&kshm_regions_mutex);
	if (d->registered) {
		misc_deregister(&d->misc);
		d->registered = false;
	}
	kshm_region_misc_init(d, KSHM_DEFAULT_DEVNAME, nodename);
	ret = misc_register(&d->misc);
	if (ret) {
		pr_err("the default region has no device node: %d\n", ret);
		return ret;
	}
	d->registered = true;
	return 0;
}

static void kshm_region_unregister(struct kshm_region *r)
{
	lockdep_assert_held(&kshm_regions_mutex);
	if (!r->registered)
		return;
	misc_deregister(&r->misc);
	r->registered = false;
	/* Its node is gone first: /dev/kshm empties and turns back into the default. */
	if (!--kshm_nr_named)
		kshm_default_node(NULL);
}

static int kshm_region_register(struct kshm_region *r)
{
	int ret;

	lockdep_assert_held(&kshm_regions_mutex);
	/* The default's node leaves /dev/kshm before /dev/kshm/NAME needs the directory. */
	if (!kshm_nr_named) {
		ret = kshm_default_node(KSHM_DEFAULT_ALT_NODE);
		if (ret)
			goto err_default;
	}
	kshm_region_misc_init(r, r->devname, NULL);
	ret = misc_register(&r->misc);
	if (ret)
		goto err_default;
	r->registered = true;
	kshm_nr_named++;
	return 0;

err_default:
	if (!kshm_nr_named)
		kshm_default_node(NULL);
	return ret;
}

static struct kshm_region *kshm_region_find(const char *name)
{
	struct kshm_region *r;

	lockdep_assert_held(&kshm_regions_mutex);
	list_for_each_entry(r, &kshm_regions, node) {
		if (!strcmp(r->name, name))
			return r;
	}
	return NULL;
}

/* 1 to KSHM_REGION_NAME_MAX of [a-z0-9_-], starting with a letter or digit. */
static int kshm_region_name_check(const char *name)
{
	size_t i, len;

	if (!name)
		return -EINVAL;
	len = strnlen(name, KSHM_REGION_NAME_MAX + 1);
	if (!len || len > KSHM_REGION_NAME_MAX)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      (i && (c == '_' || c == '-'))))
			return -EINVAL;
	}
	return 0;
}

/* ---- the in-kernel API ------------------------------------------------- */

/**
 * kshm_region_create() - create a named shared region and its device node
 * @name: 1 to KSHM_REGION_NAME_MAX characters of [a-z0-9_-], starting with a
 *	letter or digit; "default" is taken (the default region)
 * @pages: data pages, 1 to KSHM_MAX_PAGES
 * @opts: options (the ticker's period), or NULL for none
 *
 * The region appears as /dev/kshm/@name with the ABI of include/uapi/kshm.h,
 * its statistics in /sys/class/misc/kshm!@name/. The caller owns it until
 * kshm_region_destroy(). kshm keeps no pointer into the caller's module.
 *
 * Context: process context; sleeps.
 * Return: the region, or ERR_PTR(-EINVAL) (a bad name, page count or
 * option), ERR_PTR(-EEXIST) (the name is taken) or ERR_PTR(-ENOMEM).
 */
struct kshm_region *kshm_region_create(const char *name, unsigned int pages,
				       const struct kshm_region_opts *opts)
{
	static const struct kshm_region_opts none;
	struct kshm_region *r;
	int ret;

	if (!opts)
		opts = &none;
	ret = kshm_region_name_check(name);
	if (ret)
		return ERR_PTR(ret);
	if (!strcmp(name, KSHM_DEFAULT_REGION_NAME))
		return ERR_PTR(-EEXIST);
	if (pages < 1 || pages > KSHM_MAX_PAGES || opts->tick_ms > KSHM_TICK_MAX_MS ||
	    (opts->ring && kshm_ring_check(opts->ring)))
		return ERR_PTR(-EINVAL);
	r = kshm_region_new(name, pages, opts);
	if (IS_ERR(r))
		return r;
	snprintf(r->devname, sizeof(r->devname), "kshm/%s", name);

	mutex_lock(&kshm_regions_mutex);
	if (kshm_region_find(name)) {
		ret = -EEXIST;
		goto err_unlock;
	}
	ret = kshm_region_register(r);
	if (ret)
		goto err_unlock;
	list_add_tail(&r->node, &kshm_regions);
	mutex_unlock(&kshm_regions_mutex);
	kshm_tick_start(r);
	return r;

err_unlock:
	mutex_unlock(&kshm_regions_mutex);
	kshm_region_put(r);
	return ERR_PTR(ret);
}
EXPORT_SYMBOL_GPL(kshm_region_create);

/*
 * Stop everything that runs for a region and drop the creator's reference:
 * open files keep theirs, and with them the pages their mappings show.
 */
static void kshm_region_end(struct kshm_region *r)
{
	kshm_tick_stop(r);
	kshm_region_kill(r);
	kshm_region_put(r);
}

/**
 * kshm_region_destroy() - remove a region made by kshm_region_create()
 * @r: the region (NULL or an ERR_PTR: nothing happens)
 *
 * The node goes at once. Users who still have the region open get ENODEV
 * from their next call (poll() reports EPOLLERR | EPOLLHUP), blocked LOCK,
 * KWRITE and read() calls return ENODEV, and their mappings stay valid
 * memory until unmapped: the pages are freed with the last reference. The
 * caller must not use @r afterwards, nor hold its lock; its module may
 * unload as soon as this returns.
 *
 * Context: process context; sleeps (waits for a running tick).
 */
void kshm_region_destroy(struct kshm_region *r)
{
	if (IS_ERR_OR_NULL(r))
		return;
	mutex_lock(&kshm_regions_mutex);
	list_del_init(&r->node);
	kshm_region_unregister(r);
	mutex_unlock(&kshm_regions_mutex);
	kshm_region_end(r);
}
EXPORT_SYMBOL_GPL(kshm_region_destroy);

/* ---- the default region's ticker (module parameter tick_ms) ------------ */

void kshm_default_tick_set(unsigned int ms)
{
	mutex_lock(&kshm_regions_mutex);
	if (kshm_default)
		kshm_tick_set(kshm_default, ms);
	mutex_unlock(&kshm_regions_mutex);
}

/* ---- regions=NAME:PAGES[:KEY=VALUE...][,...] --------------------------- */

/* The keys a region may have after its page count: one line each. */
static const struct kshm_region_key {
	const char *key;
	size_t offset;		/* of an unsigned int in struct kshm_region_opts */
	unsigned int max;
} kshm_region_keys[] = {
	{ "tick_ms", offsetof(struct kshm_region_opts, tick_ms), KSHM_TICK_MAX_MS },
	{ "ring", offsetof(struct kshm_region_opts, ring), KSHM_RING_MAX_RECORDS },
};

static int kshm_region_parse_key(const char *name, char *kv, struct kshm_region_opts *opts)
{
	char *val = kv, *key = strsep(&val, "=");
	unsigned int v;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(kshm_region_keys); i++) {
		const struct kshm_region_key *k = &kshm_region_keys[i];

		if (strcmp(key, k->key))
			continue;
		if (!val || kstrtouint(val, 10, &v) || v > k->max) {
			pr_err("regions=: region %s: %s needs a value 0-%u\n", name, key, k->max);
			return -EINVAL;
		}
		*(unsigned int *)((u8 *)opts + k->offset) = v;
		return 0;
	}
	pr_err("regions=: region %s: unknown key '%s' (known: " KSHM_REGION_KEYS ")\n", name, key);
	return -EINVAL;
}

static int kshm_region_parse(char *spec)
{
	struct kshm_region_opts opts = {};
	char *name = strsep(&spec, ":"), *num = strsep(&spec, ":"), *kv;
	struct kshm_region *r;
	unsigned int pages;
	int ret;

	if (!num || kstrtouint(num, 10, &pages)) {
		pr_err("regions=: '%s' needs a page count (NAME:PAGES)\n", name);
		return -EINVAL;
	}
	while ((kv = strsep(&spec, ":"))) {
		ret = kshm_region_parse_key(name, kv, &opts);
		if (ret)
			return ret;
	}
	r = kshm_region_create(name, pages, &opts);
	if (IS_ERR(r)) {
		pr_err("regions=: cannot create region '%s' with %u page(s): %ld\n",
		       name, pages, PTR_ERR(r));
		return PTR_ERR(r);
	}
	r->from_param = true;
	return 0;
}

static int kshm_regions_parse(void)
{
	char *buf, *spec, *next;
	int ret = 0;

	if (!regions || !*regions)
		return 0;
	buf = kstrdup(regions, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	next = buf;
	while ((spec = strsep(&next, ","))) {
		ret = kshm_region_parse(spec);
		if (ret)
			break;
	}
	kfree(buf);
	return ret;
}

/* ---- load and unload --------------------------------------------------- */

/* Destroy every named region left (those of regions=), then the default. */
static void kshm_regions_teardown(void)
{
	struct kshm_region *r, *d;

	for (;;) {
		mutex_lock(&kshm_regions_mutex);
		r = list_first_entry_or_null(&kshm_regions, struct kshm_region, node);
		mutex_unlock(&kshm_regions_mutex);
		if (!r)
			break;
		if (!r->from_param)
			pr_warn("region %s was never destroyed by its creator\n", r->name);
		kshm_region_destroy(r);
	}
	mutex_lock(&kshm_regions_mutex);
	d = kshm_default;
	kshm_default = NULL;
	if (d->registered)
		misc_deregister(&d->misc);
	d->registered = false;
	mutex_unlock(&kshm_regions_mutex);
	kshm_region_end(d);
}

/**
 * kshm_regions_init - create the default region (/dev/kshm) and regions=
 * @default_pages: the default region's data pages
 *
 * Return: 0, or an error with nothing left behind.
 */
int kshm_regions_init(unsigned int default_pages)
{
	struct kshm_region_opts opts = {
		.tick_ms = READ_ONCE(kshm_tick_ms),
		.ring = kshm_ring_records,
	};
	struct kshm_region *d;
	int ret;

	d = kshm_region_new(KSHM_DEFAULT_REGION_NAME, default_pages, &opts);
	if (IS_ERR(d))
		return PTR_ERR(d);
	mutex_lock(&kshm_regions_mutex);
	kshm_default = d;
	ret = kshm_default_node(NULL);
	if (ret) {
		kshm_default = NULL;
		mutex_unlock(&kshm_regions_mutex);
		kshm_region_put(d);
		return ret;
	}
	mutex_unlock(&kshm_regions_mutex);
	kshm_tick_start(d);
	ret = kshm_regions_parse();
	if (ret)
		kshm_regions_teardown();
	return ret;
}

/** kshm_regions_exit - destroy every region (no file is open: we are unloading) */
void kshm_regions_exit(void)
{
	kshm_regions_teardown();
}
