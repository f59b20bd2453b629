// SPDX-License-Identifier: GPL-2.0
/*
 * Mapping the region: the header page read-only, the data pages and the
 * control page (the lock word) shared, nothing executable; the VFS already
 * refuses a writable shared mapping to an opener without write access.
 *
 * Pages are inserted lazily by the fault handler (as tcmu does): each is an
 * order-0 page allocated at load, so a get_page() per fault is all the VM
 * needs to keep it alive while mapped. The mapping keeps a reference on the
 * file, hence on the region (its pages outlive kshm_region_destroy()) and
 * on the module: rmmod is refused while anything is mapped.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/mm.h>
#include "kshm_compat.h"
#include "kshm_internal.h"

static vm_fault_t kshm_vm_fault(struct vm_fault *vmf)
{
	struct kshm_region *r = vmf->vma->vm_private_data;
	struct page *page;

	/* mremap() cannot grow us (VM_DONTEXPAND), but never trust pgoff. */
	if (vmf->pgoff >= kshm_region_all_pages(r))
		return VM_FAULT_SIGBUS;
	if (vmf->pgoff < r->map_pages)
		page = r->pages[vmf->pgoff];
	else
		page = kshm_ring_page(r->ring, vmf->pgoff - r->map_pages);
	if (!page)
		return VM_FAULT_SIGBUS;
	get_page(page);
	vmf->page = page;
	return 0;
}

static const struct vm_operations_struct kshm_vm_ops = {
	.fault = kshm_vm_fault,
};

/**
 * kshm_map_setup - check and set up a new mapping of the region
 * @file: the kshm file being mapped
 * @m: the mapping, before its VMA exists (7.x) or the VMA itself
 *
 * Return: 0, -EINVAL for a range outside the region or a private writable
 * mapping of data or control pages only, -EACCES for an executable mapping
 * or a writable one (shared or private) that includes the header or the ring,
 * -ENODEV when the region was destroyed.
 */
int kshm_map_setup(struct file *file, kshm_map_t *m)
{
	struct kshm_file *f = file->private_data;
	struct kshm_region *r = f->region;
	unsigned long pgoff = kshm_map_pgoff(m);
	unsigned long npages = kshm_map_pages(m);
	unsigned long all = kshm_region_all_pages(r);

	if (READ_ONCE(r->dead))
		return -ENODEV;
	if (pgoff >= all || npages > all - pgoff)
		return -EINVAL;
	/* Shared data is never code: not at mmap, not by mprotect later. */
	if (kshm_map_test(m, EXEC))
		return -EACCES;
	kshm_map_clear(m, MAYEXEC);
	if (pgoff == 0 || pgoff + npages > r->map_pages) {
		/*
		 * The header and the ring are the kernel's: never writable, not
		 * even later, shared or private (EACCES before the EINVAL below).
		 */
		if (kshm_map_test(m, WRITE))
			return -EACCES;
		kshm_map_clear(m, MAYWRITE);
	}
	if (!kshm_map_test(m, SHARED)) {
		/* A private writable copy of shared state makes no sense. */
		if (kshm_map_test(m, WRITE))
			return -EINVAL;
		kshm_map_clear(m, MAYWRITE);
	}
	kshm_map_set(m, DONTEXPAND);
	kshm_map_set(m, DONTDUMP);
	kshm_map_install(m, &kshm_vm_ops, r);
	return 0;
}
