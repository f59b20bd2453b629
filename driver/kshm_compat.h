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

/*
 * Mapping. Kernels with the vma_flags_t API (7.x) describe a new mapping
 * before any VMA exists and hand .mmap_prepare a struct vm_area_desc; older
 * kernels hand .mmap the VMA itself. kshm_map_t is whichever the kernel
 * passes (a typedef on purpose: the one name for two structs), the accessors
 * name flags without their prefix (SHARED, WRITE, ...), and kshm_mmap() is
 * the file operation (KSHM_FOP_MMAP names its slot) for either; both call
 * kshm_map_setup() in kshm_mmap.c.
 */
#ifdef EMPTY_VMA_FLAGS
typedef struct vm_area_desc kshm_map_t;
#define KSHM_FOP_MMAP			mmap_prepare
#define kshm_map_test(m, name)		vma_desc_test(m, VMA_##name##_BIT)
#define kshm_map_set(m, name)		vma_desc_set_flags(m, VMA_##name##_BIT)
#define kshm_map_clear(m, name)		vma_desc_clear_flags(m, VMA_##name##_BIT)

static inline pgoff_t kshm_map_pgoff(kshm_map_t *m)
{
	return m->pgoff;
}

static inline unsigned long kshm_map_pages(kshm_map_t *m)
{
	return vma_desc_pages(m);
}

static inline void kshm_map_install(kshm_map_t *m,
				    const struct vm_operations_struct *ops,
				    void *data)
{
	m->vm_ops = ops;
	m->private_data = data;
}

int kshm_map_setup(struct file *file, kshm_map_t *m);

static inline int kshm_mmap(struct vm_area_desc *desc)
{
	return kshm_map_setup(desc->file, desc);
}
#else
typedef struct vm_area_struct kshm_map_t;
#define KSHM_FOP_MMAP			mmap
#define kshm_map_test(m, name)		(!!((m)->vm_flags & VM_##name))
#define kshm_map_set(m, name)		kshm_vm_flags_set(m, VM_##name)
#define kshm_map_clear(m, name)		kshm_vm_flags_clear(m, VM_##name)

static inline pgoff_t kshm_map_pgoff(kshm_map_t *m)
{
	return m->vm_pgoff;
}

static inline unsigned long kshm_map_pages(kshm_map_t *m)
{
	return vma_pages(m);
}

static inline void kshm_map_install(kshm_map_t *m,
				    const struct vm_operations_struct *ops,
				    void *data)
{
	m->vm_ops = ops;
	m->vm_private_data = data;
}

int kshm_map_setup(struct file *file, kshm_map_t *m);

static inline int kshm_mmap(struct file *file, struct vm_area_struct *vma)
{
	return kshm_map_setup(file, vma);
}
#endif

/*
 * Timers: hrtimer_setup() replaced hrtimer_init() plus a function
 * assignment in 6.13 (and hrtimer_init() is gone since). HRTIMER_MODE_*_HARD
 * (expiry in hardirq context even on PREEMPT_RT) exists on every supported
 * kernel.
 */
#include <linux/hrtimer.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 13, 0)
static inline void kshm_hrtimer_setup(struct hrtimer *timer,
				      enum hrtimer_restart (*fn)(struct hrtimer *),
				      clockid_t clock, enum hrtimer_mode mode)
{
	hrtimer_init(timer, clock, mode);
	timer->function = fn;
}
#else
static inline void kshm_hrtimer_setup(struct hrtimer *timer,
				      enum hrtimer_restart (*fn)(struct hrtimer *),
				      clockid_t clock, enum hrtimer_mode mode)
{
	hrtimer_setup(timer, fn, clock, mode);
}
#endif

#endif /* _KSHM_COMPAT_H */
