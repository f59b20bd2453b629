// SPDX-License-Identifier: GPL-2.0
/*
 * kshm: pages shared between the kernel and user space through /dev/kshm,
 * with a fair, robust lock that the kernel owns, a seqcount for lock-free
 * snapshots and poll() on every commit. See include/uapi/kshm.h for the ABI
 * and ARCHITECTURE.md for the design.
 */
#include <linux/device.h>
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

struct kshm_region kshm_region;

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
	xa_destroy(&r->files);
	r->pages = NULL;
	r->data = NULL;
}

static int kshm_region_init(struct kshm_region *r, unsigned int nr_pages)
{
	struct kshm_header *h;
	unsigned int i;

	spin_lock_init(&r->lock);
	INIT_LIST_HEAD(&r->waiters);
	xa_init_flags(&r->files, XA_FLAGS_ALLOC);
	mutex_init(&r->kernel_mutex);
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
			goto err_free;
	}
	/* One contiguous kernel view of the data for the kernel-side writers. */
	r->data = vmap(r->pages + 1, nr_pages, VM_MAP, PAGE_KERNEL);
	if (!r->data)
		goto err_free;

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

err_free:
	kshm_region_free(r);
	return -ENOMEM;
}

/* ---- file operations --------------------------------------------------- */

static int kshm_open(struct inode *inode, struct file *file)
{
	struct kshm_region *r = &kshm_region;
	struct kshm_file *f;
	int ret;

	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return -ENOMEM;
	f->region = r;
	f->writable = file->f_mode & FMODE_WRITE;
	f->lock_tgid = task_tgid_nr(current);
	f->seen_generation = kshm_region_generation(r);
	/* Ids fit the lock word's owner field; KSHM_LW_KERNEL is the kernel's. */
	ret = xa_alloc(&r->files, &f->id, f, XA_LIMIT(1, KSHM_LW_KERNEL - 1), GFP_KERNEL);
	if (ret)
		goto err_free;
	file->private_data = f;
	return stream_open(inode, file);

err_free:
	kfree(f);
	return ret == -EBUSY ? -EMFILE : ret;
}

/*
 * Called on every close() of a descriptor. The mapping keeps the file alive,
 * so release() may come much later (after munmap): the lock must not wait
 * for it when its holder closes or dies.
 */
static int kshm_flush(struct file *file, fl_owner_t id)
{
	struct kshm_file *f = file->private_data;

	kshm_region_owner_gone(f->region, f, false);
	return 0;
}

static int kshm_release(struct inode *inode, struct file *file)
{
	struct kshm_file *f = file->private_data;

	kshm_region_owner_gone(f->region, f, true);
	kfree(f);
	return 0;
}

static ssize_t kshm_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)
{
	struct kshm_file *f = file->private_data;
	struct kshm_region *r = f->region;
	u64 g;

	if (count < sizeof(g))
		return -EINVAL;
	if (file->f_flags & O_NONBLOCK) {
		if (kshm_region_generation(r) == READ_ONCE(f->seen_generation))
			return -EAGAIN;
	} else if (wait_event_interruptible(r->commit_wq, kshm_region_changed(r, f))) {
		return -ERESTARTSYS;
	}
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

	poll_wait(file, &r->commit_wq, wait);
	if (kshm_region_changed(r, f))
		return EPOLLIN | EPOLLRDNORM;
	return 0;
}

/* ---- ioctls ------------------------------------------------------------ */

static long kshm_ioctl_info(struct kshm_file *f, void __user *uarg)
{
	struct kshm_info info;

	kshm_region_info(f->region, f, &info);
	return copy_to_user(uarg, &info, sizeof(info)) ? -EFAULT : 0;
}

static long kshm_ioctl_lock(struct kshm_file *f, void __user *uarg)
{
	struct kshm_region *r = f->region;
	struct kshm_lock_req req;
	u64 generation;
	int ret;

	if (!f->writable)
		return -EBADF;
	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	if (req.reserved || (req.flags & ~KSHM_LOCK_TRY))
		return -EINVAL;
	ret = kshm_region_lock(r, f, kshm_timeout_jiffies(req.timeout_ms),
			       req.flags & KSHM_LOCK_TRY, &req.result, &req.generation);
	if (ret)
		return ret;
	if (copy_to_user(uarg, &req, sizeof(req))) {
		/* The caller cannot learn it holds the lock: give it back. */
		kshm_region_unlock(r, f, KSHM_UNLOCK_ABORT, &generation);
		return -EFAULT;
	}
	return 0;
}

static long kshm_ioctl_unlock(struct kshm_file *f, void __user *uarg)
{
	struct kshm_unlock_req req;
	u32 how;
	int ret;

	if (!f->writable)
		return -EBADF;
	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	how = req.flags & ~KSHM_UNLOCK_PUBLISHED;
	if (req.reserved || (how != KSHM_UNLOCK_COMMIT && how != KSHM_UNLOCK_ABORT))
		return -EINVAL;
	ret = kshm_region_unlock(f->region, f, req.flags, &req.generation);
	if (ret)
		return ret;
	/* Unlocked either way; the generation is only informative. */
	if (copy_to_user(uarg, &req, sizeof(req)))
		return -EFAULT;
	return 0;
}

static long kshm_ioctl_kwrite(struct kshm_file *f, void __user *uarg)
{
	struct kshm_region *r = f->region;
	struct kshm_kwrite_req req;
	void *buf;
	int ret;

	if (!f->writable)
		return -EBADF;
	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	if (req.reserved || req.len == 0 || req.len > r->data_size ||
	    req.offset > r->data_size - req.len)
		return -EINVAL;
	/* The kernel would wait for this very caller to unlock. */
	if (kshm_region_holds(r, f))
		return -EDEADLK;
	buf = vmemdup_user(u64_to_user_ptr(req.data), req.len);
	if (IS_ERR(buf))
		return PTR_ERR(buf);
	ret = kshm_kwrite(r, req.offset, buf, req.len, req.timeout_ms,
			  &req.result, &req.generation);
	kvfree(buf);
	if (ret)
		return ret;
	return copy_to_user(uarg, &req, sizeof(req)) ? -EFAULT : 0;
}

static long kshm_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct kshm_file *f = file->private_data;
	void __user *uarg = (void __user *)arg;

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
	.mmap = kshm_mmap,
	.unlocked_ioctl = kshm_ioctl,
	/* Every struct has one layout for 32- and 64-bit callers. */
	.compat_ioctl = compat_ptr_ioctl,
};

/* ---- sysfs: /sys/class/misc/kshm/stats, for operators ----------------- */

static ssize_t stats_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct kshm_info i;

	kshm_region_info(&kshm_region, NULL, &i);
	return sysfs_emit(buf,
			  "abi_version %u\npages %u\npage_size %u\nflags %u\ngeneration %llu\n"
			  "holder_pid %d\nwaiters %u\ntick_ms %u\nlocks_granted %llu\n"
			  "locks_contended %llu\nlock_timeouts %llu\nlock_cancels %llu\n"
			  "owner_died %llu\ncommits %llu\naborts %llu\nkernel_writes %llu\n"
			  "ticks %llu\nticks_skipped %llu\n",
			  i.abi_version, i.pages, i.page_size, i.flags, i.generation,
			  i.holder_pid, i.waiters, i.tick_ms, i.locks_granted,
			  i.locks_contended, i.lock_timeouts, i.lock_cancels,
			  i.owner_died, i.commits, i.aborts, i.kernel_writes,
			  i.ticks, i.ticks_skipped);
}
static DEVICE_ATTR_RO(stats);

static struct attribute *kshm_attrs[] = {
	&dev_attr_stats.attr,
	NULL,
};
ATTRIBUTE_GROUPS(kshm);

static struct miscdevice kshm_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "kshm",
	.fops = &kshm_fops,
	.groups = kshm_groups,
	.mode = 0660,
};

static int __init kshm_init(void)
{
	int ret;

	if (pages < 1 || pages > KSHM_MAX_PAGES) {
		pr_err("kshm: pages=%u is out of range 1-%u\n", pages, KSHM_MAX_PAGES);
		return -EINVAL;
	}
	ret = kshm_region_init(&kshm_region, pages);
	if (ret)
		return ret;
	ret = misc_register(&kshm_misc);
	if (ret)
		goto err_region;
	kshm_tick_start();
	pr_info("kshm: %u data page(s), ABI %u\n", pages, KSHM_ABI_VERSION);
	return 0;

err_region:
	kshm_region_free(&kshm_region);
	return ret;
}

static void __exit kshm_exit(void)
{
	kshm_tick_stop();
	misc_deregister(&kshm_misc);
	kshm_region_free(&kshm_region);
}

module_init(kshm_init);
module_exit(kshm_exit);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("kshm developers");
MODULE_DESCRIPTION("Pages shared between kernel and user space, with a fair, robust lock");
