/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every kernel-version guard of kshm lives here, so the rest of the driver
 * reads as if written for one kernel. Supported: 6.1 and later.
 */
#ifndef _KSHM_COMPAT_H
#define _KSHM_COMPAT_H

#include <linux/mm.h>
#include <linux/version.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 3, 0)
/* vm_flags became read-only with modifier helpers in 6.3. */
static inline void kshm_vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
	vma->vm_flags |= flags;
}

static inline void kshm_vm_flags_clear(struct vm_area_struct *vma, vm_flags_t flags)
{
	vma->vm_flags &= ~flags;
}
#else
static inline void kshm_vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
	vm_flags_set(vma, flags);
}

static inline void kshm_vm_flags_clear(struct vm_area_struct *vma, vm_flags_t flags)
{
	vm_flags_clear(vma, flags);
}
#endif

#endif /* _KSHM_COMPAT_H */
