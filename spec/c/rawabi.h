/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The driver's raw ABI as the C tests use it (driver_test, hostile_test):
 * open, map, LOCK/UNLOCK/KWRITE/INFO through ioctl, the lock-word fast path,
 * module parameters. Every failure is a test failure (ktest.h).
 */
#ifndef KSHM_TEST_RAWABI_H
#define KSHM_TEST_RAWABI_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include "../../driver/include/uapi/kshm.h"
#include "ktest.h"
#include "lockword.h"

static long page_size;

static inline int kopen(int flags)
{
	int fd = open(KSHM_DEVICE_PATH, flags | O_CLOEXEC);

	KT_CHECK(fd >= 0);
	return fd;
}

static inline int lock_ex(int fd, unsigned int timeout_ms, unsigned int flags, unsigned int *result)
{
	struct kshm_lock_req req = { .timeout_ms = timeout_ms, .flags = flags };

	if (ioctl(fd, KSHM_IOC_LOCK, &req))
		return -errno;
	if (result)
		*result = req.result;
	return 0;
}

static inline int unlock_ex(int fd, unsigned int flags)
{
	struct kshm_unlock_req req = { .flags = flags };

	return ioctl(fd, KSHM_IOC_UNLOCK, &req) ? -errno : 0;
}

static inline int kwrite(int fd, uint64_t off, const void *buf, uint32_t len, uint32_t timeout_ms)
{
	struct kshm_kwrite_req req = { .offset = off, .data = (uintptr_t)buf, .len = len,
				       .timeout_ms = timeout_ms };

	return ioctl(fd, KSHM_IOC_KWRITE, &req) ? -errno : 0;
}

static inline struct kshm_info info(int fd)
{
	struct kshm_info i;

	KT_CHECK(ioctl(fd, KSHM_IOC_INFO, &i) == 0);
	return i;
}

static inline volatile struct kshm_header *map_header(int fd)
{
	void *p = mmap(NULL, page_size, PROT_READ, MAP_SHARED, fd, 0);

	KT_CHECK(p != MAP_FAILED);
	return p;
}

static inline volatile struct kshm_ctrl *map_ctrl(int fd)
{
	struct kshm_info i = info(fd);
	void *p = mmap(NULL, page_size, PROT_READ, MAP_SHARED, fd, (off_t)(i.pages + 1) * page_size);

	KT_CHECK(p != MAP_FAILED);
	return p;
}

static inline uint8_t *map_data(int fd, int prot)
{
	struct kshm_info i = info(fd);
	void *p = mmap(NULL, (size_t)i.pages * page_size, prot, MAP_SHARED, fd, page_size);

	KT_CHECK(p != MAP_FAILED);
	return p;
}

static inline size_t data_size(int fd)
{
	return (size_t)info(fd).pages * page_size;
}

/* EVENTS: bytes of the ring after the control page (0 without one). */
static inline size_t ring_size(int fd)
{
	struct kshm_header *h = mmap(NULL, page_size, PROT_READ, MAP_SHARED, fd, 0);
	size_t n;

	KT_CHECK(h != MAP_FAILED);
	n = (h->features & KSHM_FEAT_RING) ? (size_t)h->ring_size : 0;
	munmap(h, page_size);
	return n;
}

/* Wait until the header shows @n waiters (children queued in LOCK). */
static inline void wait_waiters(volatile struct kshm_header *h, unsigned int n)
{
	double until = kt_now_ms() + 5000;

	while (__atomic_load_n(&h->waiters, __ATOMIC_ACQUIRE) != n) {
		if (kt_now_ms() > until)
			KT_FAIL("waiters stayed %u, want %u", h->waiters, n);
		kt_sleep_ms(1);
	}
}

struct fast {
	int fd;
	volatile struct kshm_ctrl *c;	/* mapped writable */
	uint32_t id;
};

static inline struct fast fast_open(void)
{
	struct fast f = { .fd = kopen(O_RDWR) };
	struct kshm_info i = info(f.fd);
	void *p = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_SHARED, f.fd,
		       (off_t)(i.pages + 1) * page_size);

	KT_CHECK(p != MAP_FAILED);
	f.c = p;
	f.id = i.file_id;
	return f;
}

static inline int fast_lock(struct fast *f)
{
	return lw_lock(f->c, f->id);
}

static inline int fast_unlock(struct fast *f, bool commit, bool wake)
{
	return lw_unlock(f->fd, f->c, f->id, commit, wake);
}

/* Writes a parameter of @module: 0 or -errno. */
static inline int write_param_of(const char *module, const char *name, const char *value)
{
	char path[128];
	int fd, n;

	snprintf(path, sizeof(path), "/sys/module/%s/parameters/%s", module, name);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	n = write(fd, value, strlen(value));
	close(fd);
	return n < 0 ? -errno : 0;
}

/* Writes a kshm module parameter (tick_ms): 0 or -errno. */
static inline int write_param(const char *name, const char *value)
{
	return write_param_of("kshm", name, value);
}

#endif /* KSHM_TEST_RAWABI_H */
