// SPDX-License-Identifier: GPL-2.0
/*
 * kshm: pages shared between the kernel and user space through /dev/kshm,
 * with a fair, robust lock that the kernel owns, a seqcount for lock-free
 * snapshots and poll() on every commit. See include/uapi/kshm.h for the ABI
 * and ARCHITECTURE.md for the design.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/device.h>
#include <linux/fdtable.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include "kshm_internal.h"

static unsigned int pages = 1;
module_param(pages, uint, 0444);
MODULE_PARM_DESC(pages, "Data pages in the shared region (1-1024, default 1)");

/* ---- events (issue 22): the default region's ring ---------------------- */

unsigned int kshm_ring_records;	/* the default region's ring (ring=) */

static int kshm_ring_param_set(const char *val, const struct kernel_param *kp)
{
	return kshm_ring_parse(val, kp->arg);
}

static const struct kernel_param_ops kshm_ring_param_ops = {
	.set = kshm_ring_param_set,
	.get = param_get_uint,
};

module_param_cb(ring, &kshm_ring_param_ops, &kshm_ring_records, 0444);
MODULE_PARM_DESC(ring, "Records in the default region's event ring (0 = none, or a power of two up to 65536)");

static long kshm_ioctl_emit(struct kshm_file *f, struct kshm_emit_req __user *uarg)
{
	struct kshm_ring *ring = f->region->ring;
	u8 buf[KSHM_EV_MAX_DATA];
	struct kshm_emit_req req;
	int ret;

	if (!f->writable)
		return -EBADF;
	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	if (req.flags || req.reserved)
		return -EINVAL;
	if (!ring)
		return -ENOSPC;
	if (req.len > KSHM_EV_MAX_DATA)
		return -EMSGSIZE;
	if (copy_from_user(buf, u64_to_user_ptr(req.data), req.len))
		return -EFAULT;
	if (copy_to_user(uarg, &req, sizeof(req)))
		return -EFAULT;
	ret = kshm_ring_emit_flags(ring, req.type, KSHM_EV_USER, buf, req.len, &req.seq);
	if (ret)
		return ret;
	/* Published: never report a failure after that. */
	if (put_user(req.seq, &uarg->seq))
		pr_debug("EMIT published, its seq not copied\n");
	return 0;
}

static long kshm_ioctl_events(struct kshm_file *f, struct kshm_events_req __user *uarg)
{
	struct kshm_ring *ring = f->region->ring;
	struct kshm_events_req req;

	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	if (req.reserved || req.reserved2 || (req.flags & ~KSHM_EVENTS_POLLIN))
		return -EINVAL;
	if (!ring)
		return -ENOSPC;
	/* Writable, checked before anything happens. */
	if (copy_to_user(uarg, &req, sizeof(req)))
		return -EFAULT;
	kshm_ring_set_reader(ring, &f->ev, req.pos, req.flags & KSHM_EVENTS_POLLIN);
	/* Stored: never report a failure after that. */
	if (put_user(kshm_ring_head(ring), &uarg->head))
		pr_debug("EVENTS stored, head not copied\n");
	return 0;
}

/* ---- end of events ------------------------------------------------------ */

/* ---- the region -------------------------------------------------------- */

static void kshm_region_free(struct kshm_region *r)
{
	unsigned int i;

	if (r->data)
		vunmap(r->data);
	for (i = 0; r->pages && i < r->map_pages; i++) {
		if (r->pages[i])
			__free_page(r->pages[i]);
	}
	kfree(r->pages);
	kshm_ring_free(r->ring);
	kshm_region_stop_lock(r);
	mutex_destroy(&r->tick_mutex);
	kfree(r);
}

static void kshm_region_release(struct kref *ref)
{
	kshm_region_free(container_of(ref, struct kshm_region, ref));
}

/**
 * kshm_region_get - take a reference on a region
 * @r: the region
 */
void kshm_region_get(struct kshm_region *r)
{
	kref_get(&r->ref);
}

/**
 * kshm_region_put - drop a reference; the last one frees the pages
 * @r: the region
 *
 * Context: process context (the last put unmaps and frees).
 */
void kshm_region_put(struct kshm_region *r)
{
	kref_put(&r->ref, kshm_region_release);
}

static int kshm_region_init(struct kshm_region *r, unsigned int nr_pages)
{
	struct kshm_header *h;
	unsigned int i;

	kref_init(&r->ref);
	INIT_LIST_HEAD(&r->node);
	kshm_region_init_lock(r);
	init_waitqueue_head(&r->commit_wq);
	r->nr_pages = nr_pages;
	r->map_pages = nr_pages + 2;	/* header, data, control page */
	r->data_size = (size_t)nr_pages * PAGE_SIZE;

	r->pages = kcalloc(r->map_pages, sizeof(*r->pages), GFP_KERNEL);
	if (!r->pages)
		return -ENOMEM;
	for (i = 0; i < r->map_pages; i++) {
		r->pages[i] = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!r->pages[i])
			return -ENOMEM;
	}
	/* One contiguous kernel view of the data for the kernel-side writers. */
	r->data = vmap(r->pages + 1, nr_pages, VM_MAP, PAGE_KERNEL);
	if (!r->data)
		return -ENOMEM;

	r->ctrl = page_address(r->pages[nr_pages + 1]);
	h = page_address(r->pages[0]);
	r->hdr = h;
	h->magic = KSHM_MAGIC;
	h->abi_version = KSHM_ABI_VERSION;
	h->page_size = PAGE_SIZE;
	h->pages = nr_pages;
	h->data_offset = PAGE_SIZE;
	h->data_size = r->data_size;
	h->ctrl_offset = (u64)(nr_pages + 1) * PAGE_SIZE;
	h->tick_offset = KSHM_TICK_OFFSET(r->data_size);
	h->features = KSHM_FEAT_LOCKWORD;
	return 0;
}

/**
 * kshm_region_new - allocate a region, not yet registered
 * @name: its name (checked by the caller)
 * @pages: data pages, 1 to KSHM_MAX_PAGES
 * @opts: its options
 *
 * Return: the region with one reference (the creator's), or ERR_PTR(-ENOMEM).
 */
struct kshm_region *kshm_region_new(const char *name, unsigned int pages,
				    const struct kshm_region_opts *opts)
{
	struct kshm_region *r;

	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return ERR_PTR(-ENOMEM);
	strscpy(r->name, name, sizeof(r->name));
	kshm_tick_init(r, opts->tick_ms);
	if (kshm_region_init(r, pages)) {
		kshm_region_free(r);
		return ERR_PTR(-ENOMEM);
	}
	if (opts->ring) {
		/* Events: the ring after the control page, announced in the header. */
		r->ring = kshm_ring_alloc(opts->ring);
		if (IS_ERR(r->ring)) {
			long err = PTR_ERR(r->ring);

			r->ring = NULL;
			kshm_region_free(r);
			return ERR_PTR(err);
		}
		kshm_ring_describe(r->ring, r->hdr, (u64)r->map_pages * PAGE_SIZE);
	}
	return r;
}

/* ---- file operations --------------------------------------------------- */

/*
 * misc_open() calls us under misc_mtx with private_data pointing at the
 * miscdevice: kshm_region_destroy() deregisters it (under misc_mtx) before
 * it drops the creator's reference, so the region is alive here.
 */
static int kshm_open(struct inode *inode, struct file *file)
{
	struct miscdevice *misc = file->private_data;
	struct kshm_region *r = container_of(misc, struct kshm_region, misc);
	struct kshm_file *f;
	u32 id;
	int ret;

	if (READ_ONCE(r->dead))
		return -ENODEV;
	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return -ENOMEM;
	kshm_region_get(r);
	f->region = r;
	INIT_LIST_HEAD(&f->owners);
	f->writable = file->f_mode & FMODE_WRITE;
	f->seen_generation = kshm_region_generation(r);
	/* The opener's lock-word id; other processes get theirs from INFO or LOCK. */
	ret = kshm_owner_id(r, f, true, &id);
	if (ret)
		goto err_free;
	file->private_data = f;
	return stream_open(inode, file);

err_free:
	kshm_region_put(r);
	kfree(f);
	return ret;
}

static int kshm_is_file(const void *p, struct file *file, unsigned int fd)
{
	return file == p;
}

/*
 * Does another descriptor table of the calling process (a thread that
 * unshared its table, CLONE_FILES left out) than @closing hold @file? A
 * table goes from its task under task_lock(), so it is safe to look at
 * there (task_lock, then the table's lock, as /proc/PID/fdinfo does).
 * The caller's own thread is skipped: its table is @closing, or none (it
 * exits), or one about to be replaced (close_range() with
 * CLOSE_RANGE_UNSHARE closes in the new copy before installing it, and the
 * old one may be another process's now). Only the close of a table's
 * last descriptor of the file gets here.
 */
static bool kshm_other_table_has(struct file *file, struct files_struct *closing)
{
	struct task_struct *t;
	bool found = false;

	rcu_read_lock();
	for_each_thread(current, t) {
		if (t == current)
			continue;
		task_lock(t);
		if (t->files && t->files != closing)
			found = iterate_fd(t->files, 0, kshm_is_file, file);
		task_unlock(t);
		if (found)
			break;
	}
	rcu_read_unlock();
	return found;
}

/*
 * Called on every close() of a descriptor, and for each descriptor when a
 * process exits. The mapping keeps the file alive, so release() may come much
 * later (after munmap): the lock must not wait for it when its holder closes
 * or dies. When the closing process has no descriptor of the file left, its
 * lock-word id goes, and with it a lock it holds; a forked child closing its
 * copy touches only its own id, never its parent's.
 */
static int kshm_flush(struct file *file, fl_owner_t id)
{
	struct kshm_file *f = file->private_data;
	struct files_struct *files = id;

	if (!files)
		return 0;
	/*
	 * An exiting process closes its whole table (close_files() runs when
	 * its last user goes), and newer kernels no longer clear each slot
	 * before closing it: the other descriptors found there are going too.
	 */
	if (!(current->flags & PF_EXITING) && iterate_fd(files, 0, kshm_is_file, file))
		return 0;
	/* A thread with a table of its own may still have it: the process does. */
	if (kshm_other_table_has(file, files))
		return 0;
	kshm_region_owner_gone(f->region, f, false);
	return 0;
}

static int kshm_release(struct inode *inode, struct file *file)
{
	struct kshm_file *f = file->private_data;

	kshm_region_owner_gone(f->region, f, true);
	kshm_region_put(f->region);
	kfree(f);
	return 0;
}

static ssize_t kshm_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)
{
	struct kshm_file *f = file->private_data;
	struct kshm_region *r = f->region;
	u64 g;

	if (READ_ONCE(r->dead))
		return -ENODEV;
	if (count != sizeof(g))
		return -EINVAL;
	if (file->f_flags & O_NONBLOCK) {
		if (kshm_region_generation(r) == READ_ONCE(f->seen_generation))
			return -EAGAIN;
	} else if (wait_event_interruptible(r->commit_wq, kshm_region_changed(r, f) ||
					    READ_ONCE(r->dead))) {
		return -ERESTARTSYS;
	}
	if (READ_ONCE(r->dead))
		return -ENODEV;
	g = kshm_region_generation(r);
	if (copy_to_user(buf, &g, sizeof(g)))
		return -EFAULT;
	WRITE_ONCE(f->seen_generation, g);
	return sizeof(g);
}

static __poll_t kshm_poll(struct file *file, struct poll_table_struct *wait)
{
	struct kshm_file *f = file->private_data;
	struct kshm_region *r = f->region;
	__poll_t mask = 0;

	/* Events: records, for a file that registered with KSHM_IOC_EVENTS. */
	if (r->ring) {
		mask = kshm_ring_poll(r->ring, &f->ev, file, wait);
		/* Destroyed: kshm_region_kill() woke the ring's queue too. */
		if (READ_ONCE(f->ev.pollin))
			return READ_ONCE(r->dead) ? EPOLLERR | EPOLLHUP : mask;
	}
	poll_wait(file, &r->commit_wq, wait);
	if (READ_ONCE(r->dead))
		return EPOLLERR | EPOLLHUP;
	if (kshm_region_changed(r, f))
		mask |= EPOLLIN | EPOLLRDNORM;
	return mask;
}

/* ---- ioctls ------------------------------------------------------------ */

static long kshm_ioctl_info(struct kshm_file *f, void __user *uarg)
{
	struct kshm_info info;
	u32 id;
	int ret;

	ret = kshm_owner_id(f->region, f, true, &id);
	if (ret)
		return ret;
	kshm_region_info(f->region, &info);
	info.file_id = id;
	return copy_to_user(uarg, &info, sizeof(info)) ? -EFAULT : 0;
}

/*
 * A wait that a signal interrupted restarts (-ERESTARTSYS) with the time
 * that was left, which is stored in the caller's timeout_ms first, as
 * select() does with its timeout: restarts never extend a deadline.
 */
static int kshm_restart(int ret, u32 timeout_ms, long left, u32 __user *utimeout)
{
	if (ret != -ERESTARTSYS || !timeout_ms)
		return ret;
	if (put_user(max(jiffies_to_msecs(left), 1U), utimeout))
		return -EFAULT;
	return ret;
}

static long kshm_ioctl_lock(struct kshm_file *f, struct kshm_lock_req __user *uarg)
{
	struct kshm_region *r = f->region;
	struct kshm_lock_req req;
	u64 generation;
	long timeout;
	u32 id;
	int ret;

	if (!f->writable)
		return -EBADF;
	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	if (req.reserved || (req.flags & ~(KSHM_LOCK_TRY | KSHM_LOCK_STAGED)))
		return -EINVAL;
	/* Out-fields writable, checked before anything happens. */
	if (copy_to_user(uarg, &req, sizeof(req)))
		return -EFAULT;
	ret = kshm_owner_id(r, f, true, &id);
	if (ret)
		return ret;
	timeout = kshm_timeout_jiffies(req.timeout_ms);
	ret = kshm_region_lock(r, id, f, &timeout, req.flags, &req.result, &req.generation);
	if (ret)
		return kshm_restart(ret, req.timeout_ms, timeout, &uarg->timeout_ms);
	if (copy_to_user(uarg, &req, sizeof(req))) {
		/* Unmapped since the check: the caller cannot learn it holds the lock. */
		kshm_region_unlock_id(r, id, KSHM_UNLOCK_ABORT, &generation);
		return -EFAULT;
	}
	return 0;
}

static long kshm_ioctl_unlock(struct kshm_file *f, struct kshm_unlock_req __user *uarg)
{
	struct kshm_unlock_req req;
	u32 how, id;
	int ret;

	if (!f->writable)
		return -EBADF;
	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	how = req.flags & ~KSHM_UNLOCK_PUBLISHED;
	if (req.reserved || (how != KSHM_UNLOCK_COMMIT && how != KSHM_UNLOCK_ABORT))
		return -EINVAL;
	if (copy_to_user(uarg, &req, sizeof(req)))
		return -EFAULT;
	ret = kshm_owner_id(f->region, f, false, &id);
	if (ret)
		return ret;
	ret = kshm_region_unlock_id(f->region, id, req.flags, &req.generation);
	if (ret)
		return ret;
	/* Unlocked: never report a failure after that (the caller unmapped the struct). */
	if (copy_to_user(uarg, &req, sizeof(req)))
		pr_debug("UNLOCK done, its generation not copied\n");
	return 0;
}

static long kshm_ioctl_kwrite(struct kshm_file *f, struct kshm_kwrite_req __user *uarg)
{
	struct kshm_region *r = f->region;
	struct kshm_kwrite_req req;
	long timeout;
	void *buf;
	u32 id;
	int ret;

	if (!f->writable)
		return -EBADF;
	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	if (req.reserved || req.len == 0 || req.len > r->data_size ||
	    req.offset > r->data_size - req.len)
		return -EINVAL;
	if (copy_to_user(uarg, &req, sizeof(req)))
		return -EFAULT;
	/* The kernel would wait for this very caller to unlock. */
	ret = kshm_owner_id(r, f, false, &id);
	if (ret)
		return ret;
	if (kshm_region_holds(r, id))
		return -EDEADLK;
	buf = vmemdup_user(u64_to_user_ptr(req.data), req.len);
	if (IS_ERR(buf))
		return PTR_ERR(buf);
	timeout = kshm_timeout_jiffies(req.timeout_ms);
	ret = kshm_kwrite(r, f, req.offset, buf, req.len, &timeout, &req.result,
			  &req.generation);
	kvfree(buf);
	if (ret)
		return kshm_restart(ret, req.timeout_ms, timeout, &uarg->timeout_ms);
	/* Committed: never report a failure after that (the caller unmapped the struct). */
	if (copy_to_user(uarg, &req, sizeof(req)))
		pr_debug("KWRITE committed, its result not copied\n");
	return 0;
}

static long kshm_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct kshm_file *f = file->private_data;
	void __user *uarg = (void __user *)arg;

	/* Destroyed: the mapping stays memory, the calls end. */
	if (READ_ONCE(f->region->dead))
		return -ENODEV;
	switch (cmd) {
	case KSHM_IOC_INFO:
		return kshm_ioctl_info(f, uarg);
	case KSHM_IOC_LOCK:
		return kshm_ioctl_lock(f, uarg);
	case KSHM_IOC_UNLOCK:
		return kshm_ioctl_unlock(f, uarg);
	case KSHM_IOC_CANCEL:
		kshm_region_cancel(f->region, f);
		return 0;
	case KSHM_IOC_KWRITE:
		return kshm_ioctl_kwrite(f, uarg);
	case KSHM_IOC_WAKE:
		if (!f->writable)
			return -EBADF;
		kshm_region_wake(f->region);
		return 0;
	case KSHM_IOC_EMIT:
		return kshm_ioctl_emit(f, uarg);
	case KSHM_IOC_EVENTS:
		return kshm_ioctl_events(f, uarg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations kshm_fops = {
	.owner = THIS_MODULE,
	.open = kshm_open,
	.flush = kshm_flush,
	.release = kshm_release,
	.read = kshm_read,
	.poll = kshm_poll,
	.KSHM_FOP_MMAP = kshm_mmap,
	.unlocked_ioctl = kshm_ioctl,
	/* Every struct has one layout for 32- and 64-bit callers. */
	.compat_ioctl = compat_ptr_ioctl,
};

/*
 * ---- sysfs: <device>/stats/<name>, one value per file -----------------
 * (KSHM_IOC_INFO returns all of them at once.) <device> is
 * /sys/class/misc/kshm for the default region, /sys/class/misc/kshm!NAME
 * for region NAME.
 */

static struct kshm_region *kshm_dev_region(struct device *dev)
{
	struct miscdevice *misc = dev_get_drvdata(dev);

	return container_of(misc, struct kshm_region, misc);
}

enum kshm_stat_type { KSHM_STAT_U32, KSHM_STAT_S32, KSHM_STAT_U64 };

/* Which field of struct kshm_info each file shows, and its type. */
struct kshm_stat_field {
	const char *name;
	size_t offset;
	enum kshm_stat_type type;
};

static const struct kshm_stat_field kshm_stat_fields[] = {
	{ "abi_version", offsetof(struct kshm_info, abi_version), KSHM_STAT_U32 },
	{ "pages", offsetof(struct kshm_info, pages), KSHM_STAT_U32 },
	{ "flags", offsetof(struct kshm_info, flags), KSHM_STAT_U32 },
	{ "generation", offsetof(struct kshm_info, generation), KSHM_STAT_U64 },
	{ "holder_pid", offsetof(struct kshm_info, holder_pid), KSHM_STAT_S32 },
	{ "waiters", offsetof(struct kshm_info, waiters), KSHM_STAT_U32 },
	{ "tick_ms", offsetof(struct kshm_info, tick_ms), KSHM_STAT_U32 },
	{ "locks_granted", offsetof(struct kshm_info, locks_granted), KSHM_STAT_U64 },
	{ "locks_contended", offsetof(struct kshm_info, locks_contended), KSHM_STAT_U64 },
	{ "lock_timeouts", offsetof(struct kshm_info, lock_timeouts), KSHM_STAT_U64 },
	{ "lock_cancels", offsetof(struct kshm_info, lock_cancels), KSHM_STAT_U64 },
	{ "owner_died", offsetof(struct kshm_info, owner_died), KSHM_STAT_U64 },
	{ "lock_reclaims", offsetof(struct kshm_info, lock_reclaims), KSHM_STAT_U64 },
	{ "commits", offsetof(struct kshm_info, commits), KSHM_STAT_U64 },
	{ "aborts", offsetof(struct kshm_info, aborts), KSHM_STAT_U64 },
	{ "kernel_writes", offsetof(struct kshm_info, kernel_writes), KSHM_STAT_U64 },
	{ "ticks", offsetof(struct kshm_info, ticks), KSHM_STAT_U64 },
	{ "ticks_skipped", offsetof(struct kshm_info, ticks_skipped), KSHM_STAT_U64 },
	{ "events", offsetof(struct kshm_info, events), KSHM_STAT_U64 },
	{ "event_wakeups", offsetof(struct kshm_info, event_wakeups), KSHM_STAT_U64 },
};

#define KSHM_NR_STATS	ARRAY_SIZE(kshm_stat_fields)

static struct device_attribute kshm_stat_attrs[KSHM_NR_STATS];
static struct attribute *kshm_stat_attr_list[KSHM_NR_STATS + 1];

static ssize_t kshm_stat_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	const struct kshm_stat_field *f = &kshm_stat_fields[attr - kshm_stat_attrs];
	const void *field;
	struct kshm_info info;

	kshm_region_info(kshm_dev_region(dev), &info);
	field = (const u8 *)&info + f->offset;
	switch (f->type) {
	case KSHM_STAT_U64:
		return sysfs_emit(buf, "%llu\n", *(const u64 *)field);
	case KSHM_STAT_S32:
		return sysfs_emit(buf, "%d\n", *(const s32 *)field);
	default:
		return sysfs_emit(buf, "%u\n", *(const u32 *)field);
	}
}

static void kshm_stats_init(void)
{
	size_t i;

	for (i = 0; i < KSHM_NR_STATS; i++) {
		struct device_attribute *a = &kshm_stat_attrs[i];

		sysfs_attr_init(&a->attr);
		a->attr.name = kshm_stat_fields[i].name;
		a->attr.mode = 0444;
		a->show = kshm_stat_show;
		kshm_stat_attr_list[i] = &a->attr;
	}
}

static const struct attribute_group kshm_stats_group = {
	.name = "stats",
	.attrs = kshm_stat_attr_list,
};

/* ---- sysfs: <device>/region/{name,pages,tick_ms} ----------------------- */

static ssize_t name_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%s\n", kshm_dev_region(dev)->name);
}
static DEVICE_ATTR_RO(name);

static ssize_t pages_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", kshm_dev_region(dev)->nr_pages);
}
static DEVICE_ATTR_RO(pages);

static ssize_t tick_ms_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", READ_ONCE(kshm_dev_region(dev)->tick_ms));
}

static ssize_t tick_ms_store(struct device *dev, struct device_attribute *attr,
			     const char *buf, size_t count)
{
	unsigned int ms;
	int ret;

	ret = kstrtouint(buf, 0, &ms);
	if (ret)
		return ret;
	if (ms > KSHM_TICK_MAX_MS)
		return -EINVAL;
	kshm_tick_set(kshm_dev_region(dev), ms);
	return count;
}
static DEVICE_ATTR_RW(tick_ms);

static struct attribute *kshm_region_attrs[] = {
	&dev_attr_name.attr,
	&dev_attr_pages.attr,
	&dev_attr_tick_ms.attr,
	NULL,
};

static const struct attribute_group kshm_region_group = {
	.name = "region",
	.attrs = kshm_region_attrs,
};

static const struct attribute_group *kshm_groups[] = {
	&kshm_stats_group,
	&kshm_region_group,
	NULL,
};

/**
 * kshm_region_misc_init - fill in a region's misc device, before it registers
 * @r: the region
 * @devname: the device's name: "kshm", or "kshm/NAME" (sysfs: kshm!NAME)
 * @nodename: its node under /dev, or NULL for @devname
 */
void kshm_region_misc_init(struct kshm_region *r, const char *devname, const char *nodename)
{
	r->misc.minor = MISC_DYNAMIC_MINOR;
	r->misc.name = devname;
	r->misc.nodename = nodename;
	r->misc.fops = &kshm_fops;
	r->misc.groups = kshm_groups;
	r->misc.mode = 0660;
}

static int __init kshm_init(void)
{
	int ret;

	if (pages < 1 || pages > KSHM_MAX_PAGES) {
		pr_err("pages=%u is out of range 1-%u\n", pages, KSHM_MAX_PAGES);
		return -EINVAL;
	}
	kshm_stats_init();
	ret = kshm_regions_init(pages);
	if (ret)
		return ret;
	pr_info("%u data page(s), ABI %u\n", pages, KSHM_ABI_VERSION);
	return 0;
}

static void __exit kshm_exit(void)
{
	kshm_regions_exit();
}

module_init(kshm_init);
module_exit(kshm_exit);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("kshm developers");
MODULE_DESCRIPTION("Pages shared between kernel and user space, with a fair, robust lock");
