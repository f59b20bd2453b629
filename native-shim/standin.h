/* SPDX-License-Identifier: MIT */
/*
 * Benchmark-only stand-in for /dev/kshm (built into libkshm-standin.so,
 * never into libkshm.so): the region is an anonymous shared memfd with a
 * header like the driver's, and each LOCK/UNLOCK costs one real syscall of a
 * comparable weight (ioctl FIONREAD on a pipe) before it updates the header
 * the way the driver would (seqcount, generation). Single process, no
 * contention: it exists to measure the library's own cost on the host.
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
	if (fd < 0 || ftruncate(fd, (off_t)(pages + 1) * ps))
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
	h->tick_offset = (uint32_t)(h->data_size - sizeof(struct kshm_tick));
	k->whdr = h;
	return fd;
}

static int dev_ioctl(struct kshm *k, unsigned long cmd, void *arg)
{
	struct kshm_header *h = k->whdr;

	standin_syscall();
	switch (cmd) {
	case KSHM_IOC_LOCK:
		if (h->flags & KSHM_HDR_LOCKED) {
			errno = ((struct kshm_lock_req *)arg)->flags & KSHM_LOCK_TRY ? EBUSY : ETIMEDOUT;
			return -1;
		}
		h->flags = KSHM_HDR_LOCKED;
		h->holder_pid = getpid();
		__atomic_store_n(&h->seq, h->seq + 1, __ATOMIC_RELEASE);
		((struct kshm_lock_req *)arg)->result = 0;
		((struct kshm_lock_req *)arg)->generation = h->generation;
		return 0;
	case KSHM_IOC_UNLOCK:
		if (!(h->flags & KSHM_HDR_LOCKED)) {
			errno = EPERM;
			return -1;
		}
		if (((struct kshm_unlock_req *)arg)->flags & KSHM_UNLOCK_COMMIT)
			h->generation++;
		h->flags = 0;
		h->holder_pid = 0;
		__atomic_store_n(&h->seq, h->seq + 1, __ATOMIC_RELEASE);
		return 0;
	case KSHM_IOC_INFO:
		memset(arg, 0, sizeof(struct kshm_info));
		((struct kshm_info *)arg)->abi_version = KSHM_ABI_VERSION;
		((struct kshm_info *)arg)->pages = h->pages;
		((struct kshm_info *)arg)->page_size = h->page_size;
		((struct kshm_info *)arg)->generation = h->generation;
		return 0;
	case KSHM_IOC_CANCEL:
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
