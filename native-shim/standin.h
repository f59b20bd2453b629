/* SPDX-License-Identifier: MIT */
/*
 * Benchmark-only stand-in for /dev/kshm (built into libkshm-standin.so,
 * never into libkshm.so): the region is an anonymous shared memfd with a
 * header and control page like the driver's, and each LOCK/UNLOCK costs one
 * real syscall of a comparable weight (ioctl FIONREAD on a pipe) before it
 * updates the control page the way the driver would (lock word, seqcount,
 * generation). The fast path needs no stand-in: it never calls the driver
 * when uncontended. Single process, no contention: it exists to measure the
 * library's own cost on the host.
 */
#include <sys/syscall.h>

static int standin_pipe[2] = { -1, -1 };

static void standin_syscall(void)
{
	int n;

	if (standin_pipe[0] < 0 && pipe(standin_pipe))
		return;
	ioctl(standin_pipe[0], FIONREAD, &n);
}

static int dev_open(const char *path, int flags, struct kshm *k)
{
	long ps = sysconf(_SC_PAGESIZE);
	unsigned int pages = 1;
	struct kshm_header *h;
	int fd;

	(void)flags;
	if (path && strncmp(path, "standin:", 8) == 0)
		pages = (unsigned int)atoi(path + 8);
	if (pages < 1 || pages > KSHM_MAX_PAGES)
		pages = 1;
	fd = (int)syscall(SYS_memfd_create, "kshm-standin", 0);
	if (fd < 0 || ftruncate(fd, (off_t)(pages + 2) * ps))
		return -1;
	h = mmap(NULL, (size_t)ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED)
		return -1;
	h->magic = KSHM_MAGIC;
	h->abi_version = KSHM_ABI_VERSION;
	h->page_size = (uint32_t)ps;
	h->pages = pages;
	h->data_offset = (uint64_t)ps;
	h->data_size = (uint64_t)pages * ps;
	h->ctrl_offset = (uint64_t)(pages + 1) * ps;
	h->features = KSHM_FEAT_LOCKWORD;
	h->tick_offset = (uint32_t)(h->data_size - sizeof(struct kshm_tick));
	k->whdr = h;
	return fd;
}

#define STANDIN_ID	1

/* The driver's slow path, minus the queue: one process, no contention. */
static int dev_ioctl(struct kshm *k, unsigned long cmd, void *arg)
{
	struct kshm_ctrl *c = k->ctrl;

	standin_syscall();
	switch (cmd) {
	case KSHM_IOC_LOCK:
		if (__atomic_load_n(&c->lock, __ATOMIC_ACQUIRE) & KSHM_LW_OWNER_MASK) {
			errno = ((struct kshm_lock_req *)arg)->flags & KSHM_LOCK_TRY ? EBUSY : ETIMEDOUT;
			return -1;
		}
		__atomic_store_n(&c->lock, STANDIN_ID, __ATOMIC_RELAXED);
		if (((struct kshm_lock_req *)arg)->flags & KSHM_LOCK_STAGED) {
			if (c->seq & 1)
				__atomic_store_n(&c->seq, c->seq + 1, __ATOMIC_RELEASE);
		} else {
			__atomic_store_n(&c->seq, c->seq | 1, __ATOMIC_RELEASE);
		}
		((struct kshm_lock_req *)arg)->result = 0;
		((struct kshm_lock_req *)arg)->generation = c->generation;
		return 0;
	case KSHM_IOC_UNLOCK:
		if ((c->lock & KSHM_LW_OWNER_MASK) != STANDIN_ID) {
			errno = EPERM;
			return -1;
		}
		if (!(((struct kshm_unlock_req *)arg)->flags & KSHM_UNLOCK_PUBLISHED)) {
			if (((struct kshm_unlock_req *)arg)->flags & KSHM_UNLOCK_COMMIT)
				c->generation++;
			if (c->seq & 1)
				__atomic_store_n(&c->seq, c->seq + 1, __ATOMIC_RELEASE);
		}
		__atomic_store_n(&c->lock, 0, __ATOMIC_RELEASE);
		return 0;
	case KSHM_IOC_INFO:
		memset(arg, 0, sizeof(struct kshm_info));
		((struct kshm_info *)arg)->abi_version = KSHM_ABI_VERSION;
		((struct kshm_info *)arg)->pages = k->whdr->pages;
		((struct kshm_info *)arg)->page_size = k->whdr->page_size;
		((struct kshm_info *)arg)->features = KSHM_FEAT_LOCKWORD;
		((struct kshm_info *)arg)->file_id = STANDIN_ID;
		if (c) {
			((struct kshm_info *)arg)->generation = c->generation;
			((struct kshm_info *)arg)->lock_word = c->lock;
		}
		return 0;
	case KSHM_IOC_CANCEL:
	case KSHM_IOC_WAKE:
		return 0;
	default:
		errno = ENOTTY;
		return -1;
	}
}

static ssize_t dev_read(struct kshm *k, void *buf, size_t len)
{
	(void)k;
	(void)buf;
	(void)len;
	errno = EAGAIN;
	return -1;
}
