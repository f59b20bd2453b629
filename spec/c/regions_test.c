// SPDX-License-Identifier: GPL-2.0
/*
 * Regions (issue 21), from REGIONS in the uapi header. Two environments:
 *
 * - kshm loaded with regions=a:1,b:4 (the harness's regions guest): the
 *   nodes, sizes and sysfs of a and b, independent locks, per-region
 *   counters and tickers, name validation and destroy under users and
 *   under ring readers (through the in-kernel API test module, spec/kmod).
 * - kshm loaded alone (the main guest suite): the default region's node
 *   moves to /dev/kshm/default while a named region exists, and back.
 *
 * Usage: regions_test [FILTER]
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include "../../driver/include/uapi/kshm.h"
#include "kshm.h"
#include "ktest.h"
#include "lockword.h"

#define DEV_A	KSHM_REGION_DIR "a"
#define DEV_B	KSHM_REGION_DIR "b"
#define SYS_A	KSHM_SYSFS_DIR "kshm!a"
#define SYS_B	KSHM_SYSFS_DIR "kshm!b"
#define SYS_DEFAULT	KSHM_SYSFS_DIR "kshm"

static long page_size;

static int ropen(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);

	if (fd < 0)
		KT_FAIL("open %s: %s", path, strerror(errno));
	return fd;
}

static struct kshm_info info(int fd)
{
	struct kshm_info i;

	KT_CHECK(ioctl(fd, KSHM_IOC_INFO, &i) == 0);
	return i;
}

static int lock_ex(int fd, unsigned int timeout_ms, unsigned int flags)
{
	struct kshm_lock_req req = { .timeout_ms = timeout_ms, .flags = flags };

	return ioctl(fd, KSHM_IOC_LOCK, &req) ? -errno : 0;
}

static int unlock_ex(int fd, unsigned int flags)
{
	struct kshm_unlock_req req = { .flags = flags };

	return ioctl(fd, KSHM_IOC_UNLOCK, &req) ? -errno : 0;
}

static int kwrite(int fd, uint64_t off, const void *buf, uint32_t len, uint32_t timeout_ms)
{
	struct kshm_kwrite_req req = { .offset = off, .data = (uintptr_t)buf, .len = len,
				       .timeout_ms = timeout_ms };

	return ioctl(fd, KSHM_IOC_KWRITE, &req) ? -errno : 0;
}

static void *map(int fd, size_t len, int prot, off_t off)
{
	void *p = mmap(NULL, len, prot, MAP_SHARED, fd, off);

	KT_CHECK(p != MAP_FAILED);
	return p;
}

/* A sysfs file's first line, or "" when it cannot be read. */
static const char *sysfs_read(const char *path)
{
	static char buf[128];
	int fd = open(path, O_RDONLY), n;

	buf[0] = 0;
	if (fd < 0)
		return buf;
	n = (int)read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	if (n > 0 && buf[n - 1] == '\n')
		buf[n - 1] = 0;
	return buf;
}

static unsigned long long sysfs_u64(const char *dir, const char *file)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return strtoull(sysfs_read(path), NULL, 10);
}

static int sysfs_write(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY), n;

	if (fd < 0)
		return -errno;
	n = (int)write(fd, value, strlen(value));
	close(fd);
	return n < 0 ? -errno : 0;
}

static bool is_chr(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISCHR(st.st_mode);
}

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* ---- the in-kernel API test module (spec/kmod) ------------------------- */

static void kapi_unload(void)
{
	syscall(SYS_delete_module, "kshm_kapi_test", O_NONBLOCK);
}

static void kapi_load(void)
{
	atexit(kapi_unload);	/* a failed test must not keep kshm in use */
	kt_load_module("kshm_kapi_test", "");
}

/* kshm_region_create(@name, @pages, NULL) in the kernel: 0 or its -errno. */
static int kapi_create(const char *name, unsigned int pages)
{
	char buf[128];

	snprintf(buf, sizeof(buf), "%s:%u", name, pages);
	KT_EQ(sysfs_write("/sys/module/kshm_kapi_test/parameters/create", buf), 0);
	return atoi(sysfs_read("/sys/module/kshm_kapi_test/parameters/result"));
}

static void kapi_destroy(void)
{
	KT_EQ(sysfs_write("/sys/module/kshm_kapi_test/parameters/destroy", "1"), 0);
}

/* ---- regions=a:1,b:4 ---------------------------------------------------- */

static void test_nodes(void)
{
	int fd;

	KT_CHECK(is_dir(KSHM_DEVICE_PATH));
	KT_CHECK(is_chr(DEV_A));
	KT_CHECK(is_chr(DEV_B));
	KT_CHECK(is_chr(KSHM_DEFAULT_REGION_ALT));
	/* /dev/kshm is their directory now: the default is KSHM_DEFAULT_REGION_ALT. */
	KT_EQ(open(KSHM_DEVICE_PATH, O_RDWR), -1);
	KT_EQ(errno, EISDIR);

	fd = ropen(DEV_A, O_RDWR);
	KT_EQ(info(fd).pages, 1);
	KT_EQ(info(fd).abi_version, KSHM_ABI_VERSION);
	close(fd);
	fd = ropen(DEV_B, O_RDWR);
	KT_EQ(info(fd).pages, 4);
	close(fd);

	KT_CHECK(!strcmp(sysfs_read(SYS_A "/region/name"), "a"));
	KT_CHECK(!strcmp(sysfs_read(SYS_A "/region/pages"), "1"));
	KT_CHECK(!strcmp(sysfs_read(SYS_B "/region/name"), "b"));
	KT_CHECK(!strcmp(sysfs_read(SYS_B "/region/pages"), "4"));
	KT_CHECK(!strcmp(sysfs_read(SYS_DEFAULT "/region/name"), KSHM_DEFAULT_REGION_NAME));
	KT_CHECK(!strcmp(sysfs_read(SYS_B "/stats/pages"), "4"));
	KT_CHECK(!strcmp(sysfs_read("/sys/module/kshm/parameters/regions"), "a:1,b:4"));
}

/* Each region has its own header, data and control page: a map of b is 4 data pages. */
static void test_mappings(void)
{
	int a = ropen(DEV_A, O_RDWR), b = ropen(DEV_B, O_RDWR);
	volatile struct kshm_header *ha = map(a, page_size, PROT_READ, 0);
	volatile struct kshm_header *hb = map(b, page_size, PROT_READ, 0);
	uint8_t *da = map(a, page_size, PROT_READ | PROT_WRITE, page_size);
	uint8_t *db = map(b, 4 * page_size, PROT_READ | PROT_WRITE, page_size);

	KT_EQ(ha->pages, 1);
	KT_EQ(hb->pages, 4);
	KT_EQ(hb->ctrl_offset, 5 * page_size);
	/* a: header, 1 data page, control page; nothing beyond. */
	KT_EQ(mmap(NULL, 3 * page_size, PROT_READ, MAP_SHARED, a, page_size), MAP_FAILED);
	KT_CHECK(mmap(NULL, 3 * page_size, PROT_READ, MAP_SHARED, b, 2 * page_size) != MAP_FAILED);
	KT_EQ(lock_ex(a, 1000, 0), 0);
	memset(da, 0xaa, page_size);
	KT_EQ(unlock_ex(a, KSHM_UNLOCK_COMMIT), 0);
	KT_EQ(lock_ex(b, 1000, 0), 0);
	memset(db, 0x55, 4 * page_size);
	KT_EQ(unlock_ex(b, KSHM_UNLOCK_COMMIT), 0);
	KT_EQ(da[0], 0xaa);	/* different pages */
	KT_EQ(db[4 * page_size - 1], 0x55);
}

struct blocked {
	const char *path;
	int ret;
	double took;
};

static void *lock_thread(void *arg)
{
	struct blocked *x = arg;
	int fd = ropen(x->path, O_RDWR);
	double t0 = kt_now_ms();

	x->ret = lock_ex(fd, 0, 0);
	x->took = kt_now_ms() - t0;
	close(fd);	/* closing releases what it got */
	return NULL;
}

/* A lock held (with a waiter queued) on a does not delay b, nor its counters. */
static void test_independent_locks(void)
{
	int a = ropen(DEV_A, O_RDWR), b = ropen(DEV_B, O_RDWR);
	volatile struct kshm_header *ha = map(a, page_size, PROT_READ, 0);
	volatile struct kshm_header *hb = map(b, page_size, PROT_READ, 0);
	struct kshm_info ia0, ib0, ia, ib;
	struct blocked x = { .path = DEV_A };
	double t0, took;
	pthread_t t;
	uint8_t v = 7;
	int i;

	ia0 = info(a);
	ib0 = info(b);
	KT_EQ(lock_ex(a, 1000, 0), 0);
	pthread_create(&t, NULL, lock_thread, &x);
	for (t0 = kt_now_ms(); ha->waiters != 1; kt_sleep_ms(1)) {
		if (kt_now_ms() - t0 > 5000 * kt_time_scale())
			KT_FAIL("no waiter queued on a");
	}
	KT_CHECK(ha->flags & KSHM_HDR_LOCKED);
	/* b: 200 lock/commit rounds and kernel writes, none waits for a. */
	t0 = kt_now_ms();
	for (i = 0; i < 200; i++) {
		KT_EQ(lock_ex(b, 100, 0), 0);
		KT_EQ(unlock_ex(b, KSHM_UNLOCK_COMMIT), 0);
		KT_EQ(kwrite(b, 0, &v, 1, 100), 0);
	}
	took = kt_now_ms() - t0;
	if (took > 2000 * kt_time_scale())
		KT_FAIL("400 uncontended commits on b took %.0f ms while a was held", took);
	KT_EQ(hb->waiters, 0);
	KT_EQ(ha->waiters, 1);
	ia = info(a);
	ib = info(b);
	KT_EQ(ib.commits - ib0.commits, 400);
	KT_EQ(ib.kernel_writes - ib0.kernel_writes, 200);
	KT_EQ(ib.locks_contended, ib0.locks_contended);
	KT_EQ(ia.commits, ia0.commits);
	KT_EQ(ia.locks_contended - ia0.locks_contended, 1);
	KT_EQ(ia.waiters, 1);
	KT_EQ(sysfs_u64(SYS_B, "stats/commits"), ib.commits);
	KT_EQ(sysfs_u64(SYS_A, "stats/waiters"), 1);
	KT_EQ(unlock_ex(a, KSHM_UNLOCK_ABORT), 0);
	pthread_join(t, NULL);
	KT_EQ(x.ret, 0);
}

/* Each region's ticker runs at its own region/tick_ms. */
static void test_tickers(void)
{
	unsigned long long a0 = sysfs_u64(SYS_A, "stats/ticks");
	unsigned long long d0 = sysfs_u64(SYS_DEFAULT, "stats/ticks");
	int b = ropen(DEV_B, O_RDWR);
	volatile struct kshm_tick *tick;

	KT_EQ(sysfs_write(SYS_B "/region/tick_ms", "5"), 0);
	KT_CHECK(!strcmp(sysfs_read(SYS_B "/region/tick_ms"), "5"));
	KT_EQ(info(b).tick_ms, 5);
	KT_EQ(sysfs_write(SYS_B "/region/tick_ms", "3600001"), -EINVAL);
	kt_sleep_ms(300);
	KT_CHECK(sysfs_u64(SYS_B, "stats/ticks") > 0);
	tick = map(b, page_size, PROT_READ, 4 * page_size);	/* b's last data page */
	KT_CHECK(tick[(page_size - sizeof(*tick)) / sizeof(*tick)].count > 0);
	KT_EQ(sysfs_write(SYS_B "/region/tick_ms", "0"), 0);
	KT_EQ(sysfs_u64(SYS_A, "stats/ticks"), a0);
	KT_EQ(sysfs_u64(SYS_DEFAULT, "stats/ticks"), d0);
	KT_CHECK(!strcmp(sysfs_read("/sys/module/kshm/parameters/tick_ms"), "0"));
}

/* kshm_region_create() checks names and sizes, and refuses duplicates. */
static void test_names(void)
{
	char long_name[KSHM_REGION_NAME_MAX + 2];

	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = 0;
	kapi_load();
	KT_EQ(kapi_create("Sensors", 1), -EINVAL);
	KT_EQ(kapi_create("a/b", 1), -EINVAL);
	KT_EQ(kapi_create("-x", 1), -EINVAL);
	KT_EQ(kapi_create("a.b", 1), -EINVAL);
	KT_EQ(kapi_create(long_name, 1), -EINVAL);
	KT_EQ(kapi_create("ok", 0), -EINVAL);
	KT_EQ(kapi_create("ok", KSHM_MAX_PAGES + 1), -EINVAL);
	KT_EQ(kapi_create("a", 1), -EEXIST);
	KT_EQ(kapi_create(KSHM_DEFAULT_REGION_NAME, 1), -EEXIST);
	long_name[KSHM_REGION_NAME_MAX] = 0;	/* exactly the limit */
	KT_EQ(kapi_create(long_name, 1), 0);
	kapi_destroy();
	KT_EQ(kapi_create("ok_name-1", 2), 0);
	KT_CHECK(is_chr(KSHM_REGION_DIR "ok_name-1"));
	KT_CHECK(!strcmp(sysfs_read(KSHM_SYSFS_DIR "kshm!ok_name-1/region/pages"), "2"));
	kapi_destroy();
	KT_CHECK(!exists(KSHM_REGION_DIR "ok_name-1"));
	KT_CHECK(!exists(KSHM_SYSFS_DIR "kshm!ok_name-1"));
	kapi_unload();
}

struct reader {
	int fd;
	ssize_t ret;
	int err;
};

static void *read_thread(void *arg)
{
	struct reader *r = arg;
	uint64_t g;
	int flags = fcntl(r->fd, F_GETFL);

	fcntl(r->fd, F_SETFL, flags & ~O_NONBLOCK);
	r->ret = read(r->fd, &g, sizeof(g));
	r->err = errno;
	return NULL;
}

/*
 * Destroyed under its users: calls fail with ENODEV, waits end, poll says
 * EPOLLERR | EPOLLHUP, mappings stay memory, and the creator can unload.
 */
static void test_destroy_under_users(void)
{
	const char *path = KSHM_REGION_DIR "gone";
	int fd, waiter, rfd, child_status;
	struct reader rd;
	struct pollfd p;
	volatile struct kshm_ctrl *ctrl;
	uint8_t *data;
	pthread_t rt;
	double t0;
	pid_t child;
	int i;

	kapi_load();
	KT_EQ(kapi_create("gone", 1), 0);
	fd = ropen(path, O_RDWR);
	waiter = ropen(path, O_RDWR);
	rfd = ropen(path, O_RDONLY);
	data = map(fd, page_size, PROT_READ | PROT_WRITE, page_size);
	ctrl = map(fd, page_size, PROT_READ | PROT_WRITE, 2 * page_size);
	KT_EQ(lock_ex(fd, 1000, 0), 0);
	for (i = 0; i < page_size; i++)
		data[i] = (uint8_t)i;
	KT_EQ(unlock_ex(fd, KSHM_UNLOCK_COMMIT), 0);
	KT_EQ(lock_ex(fd, 1000, 0), 0);

	/* A child queued in LOCK without a time limit, a thread in read(). */
	child = fork();
	if (child == 0) {
		t0 = kt_now_ms();
		if (lock_ex(waiter, 0, 0) != -ENODEV)
			_exit(1);
		_exit(kt_now_ms() - t0 < 60000 ? 0 : 2);
	}
	rd.fd = rfd;
	KT_EQ(read(rfd, &(uint64_t){ 0 }, 8), 8);	/* the commit above: seen */
	pthread_create(&rt, NULL, read_thread, &rd);
	for (t0 = kt_now_ms(); info(fd).waiters != 1; kt_sleep_ms(1)) {
		if (kt_now_ms() - t0 > 5000 * kt_time_scale())
			KT_FAIL("the child did not queue");
	}
	kt_sleep_ms(50);	/* the reader is asleep in read() */

	t0 = kt_now_ms();
	kapi_destroy();
	KT_CHECK(!exists(path));
	KT_CHECK(!exists(KSHM_SYSFS_DIR "kshm!gone"));
	/* The blocked calls end at once, with ENODEV. */
	KT_EQ(waitpid(child, &child_status, 0), child);
	KT_CHECK(WIFEXITED(child_status) && WEXITSTATUS(child_status) == 0);
	pthread_join(rt, NULL);
	KT_EQ(rd.ret, -1);
	KT_EQ(rd.err, ENODEV);
	if (kt_now_ms() - t0 > 1000 * kt_time_scale())
		KT_FAIL("the blocked calls took %.0f ms to end", kt_now_ms() - t0);

	/* Every call fails with ENODEV; poll() reports the end. */
	p = (struct pollfd){ .fd = rfd, .events = POLLIN };
	KT_EQ(poll(&p, 1, 1000), 1);
	KT_CHECK(p.revents & POLLERR);
	KT_CHECK(p.revents & POLLHUP);
	errno = 0;
	KT_EQ(ioctl(fd, KSHM_IOC_INFO, &(struct kshm_info){ 0 }), -1);
	KT_EQ(errno, ENODEV);
	KT_EQ(unlock_ex(fd, KSHM_UNLOCK_COMMIT), -ENODEV);
	KT_EQ(lock_ex(fd, 10, KSHM_LOCK_TRY), -ENODEV);
	KT_EQ(kwrite(fd, 0, "x", 1, 10), -ENODEV);
	KT_EQ(mmap(NULL, page_size, PROT_READ, MAP_SHARED, fd, 0), MAP_FAILED);
	KT_EQ(errno, ENODEV);

	/* The creator's module can go while the region is still open and mapped. */
	KT_EQ(syscall(SYS_delete_module, "kshm_kapi_test", O_NONBLOCK), 0);

	/* The mapping is still the region's memory. */
	for (i = 0; i < page_size; i++) {
		if (data[i] != (uint8_t)i)
			KT_FAIL("data[%d] = %u after destroy", i, data[i]);
	}
	data[0] = 42;
	KT_EQ(data[0], 42);
	KT_EQ(ctrl->seq & 1, 1);	/* the lock's word and seq, as they were */
	KT_EQ(munmap(data, page_size), 0);
	close(fd);
	close(waiter);
	close(rfd);
	/* The same name is a new, fresh region. */
	kapi_load();
	KT_EQ(kapi_create("gone", 1), 0);
	fd = ropen(path, O_RDWR);
	data = map(fd, page_size, PROT_READ, page_size);
	KT_EQ(data[1], 0);
	KT_EQ(info(fd).generation, 0);
	close(fd);
	kapi_destroy();
	kapi_unload();
	KT_EQ(*(volatile uint8_t *)data, 0);	/* still mapped after all */
}

/* kshm_region_create(@name, @pages, { .ring = @ring }) in the kernel: 0 or its -errno. */
static int kapi_create_ring(const char *name, unsigned int pages, unsigned int ring)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%u", ring);
	KT_EQ(sysfs_write("/sys/module/kshm_kapi_test/parameters/ring", buf), 0);
	return kapi_create(name, pages);
}

/*
 * Destroyed under its ring's readers (EVENTS): poll() wakes and reports
 * EPOLLERR | EPOLLHUP on every open file, a reader registered with
 * KSHM_EVENTS_POLLIN (records instead of commits make it readable) and one
 * without alike, in poll() and in epoll; then at once.
 */
static void test_destroy_under_ring_readers(void)
{
	const char *path = KSHM_REGION_DIR "evgone";
	struct kshm_events_req req = { .flags = KSHM_EVENTS_POLLIN };
	struct epoll_event ee = { .events = EPOLLIN | EPOLLPRI | EPOLLET }, got;
	struct kt_poller pin, ppri;
	pthread_t tin, tpri;
	int fin, fpri, ep, i;
	struct pollfd p;
	double t0;

	kapi_load();
	KT_EQ(kapi_create_ring("evgone", 1, 16), 0);
	fin = ropen(path, O_RDONLY);
	fpri = ropen(path, O_RDONLY);
	KT_EQ(ioctl(fin, KSHM_IOC_EVENTS, &req), 0);
	req.flags = 0;
	KT_EQ(ioctl(fpri, KSHM_IOC_EVENTS, &req), 0);
	ep = epoll_create1(EPOLL_CLOEXEC);
	KT_CHECK(ep >= 0);
	ee.data.fd = fin;
	KT_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, fin, &ee), 0);
	KT_EQ(epoll_wait(ep, &got, 1, 0), 0);	/* no record, no commit: nothing */
	pin = (struct kt_poller){ .fd = fin, .events = POLLIN | POLLPRI,
				  .timeout_ms = (int)(10000 * kt_time_scale()) };
	ppri = (struct kt_poller){ .fd = fpri, .events = POLLPRI,
				   .timeout_ms = (int)(10000 * kt_time_scale()) };
	KT_EQ(pthread_create(&tin, NULL, kt_poll_thread, &pin), 0);
	KT_EQ(pthread_create(&tpri, NULL, kt_poll_thread, &ppri), 0);
	kt_sleep_ms(100);	/* both asleep in poll() */

	t0 = kt_now_ms();
	kapi_destroy();
	pthread_join(tin, NULL);
	pthread_join(tpri, NULL);
	if (kt_now_ms() - t0 > 1000 * kt_time_scale())
		KT_FAIL("the ring's pollers took %.0f ms to wake", kt_now_ms() - t0);
	KT_EQ(pin.ret, 1);
	KT_EQ(pin.revents & (POLLERR | POLLHUP), POLLERR | POLLHUP);
	KT_EQ(ppri.ret, 1);
	KT_EQ(ppri.revents & (POLLERR | POLLHUP), POLLERR | POLLHUP);
	KT_EQ(epoll_wait(ep, &got, 1, (int)(1000 * kt_time_scale())), 1);
	KT_EQ(got.events & (EPOLLERR | EPOLLHUP), EPOLLERR | EPOLLHUP);
	for (i = 0; i < 2; i++) {
		p = (struct pollfd){ .fd = i ? fpri : fin, .events = POLLIN | POLLPRI };
		KT_EQ(poll(&p, 1, 0), 1);
		KT_EQ(p.revents & (POLLERR | POLLHUP), POLLERR | POLLHUP);
	}
	errno = 0;
	KT_EQ(ioctl(fin, KSHM_IOC_EVENTS, &req), -1);
	KT_EQ(errno, ENODEV);
	close(ep);
	close(fin);
	close(fpri);
	kapi_unload();
}

/*
 * Destroyed: the fast path comes to the kernel too. The word gets
 * KSHM_LW_WAITERS for good, so a fast holder's release CAS fails and UNLOCK
 * says ENODEV, its holder's exit keeps it, and a fast acquire (CAS from 0
 * or DIED) fails: LOCK says ENODEV.
 */
static void test_destroy_fast_path(void)
{
	const char *path = KSHM_REGION_DIR "fastgone";
	volatile struct kshm_ctrl *ctrl;
	uint32_t id, other_id;
	int fd, other;

	kapi_load();
	KT_EQ(kapi_create("fastgone", 1), 0);
	fd = ropen(path, O_RDWR);
	other = ropen(path, O_RDWR);
	ctrl = map(fd, page_size, PROT_READ | PROT_WRITE, 2 * page_size);
	id = info(fd).file_id;
	other_id = info(other).file_id;
	KT_EQ(lw_lock(ctrl, id), 0);		/* held on the fast path */
	kapi_destroy();
	KT_EQ(ctrl->lock, id | KSHM_LW_WAITERS);
	KT_EQ(lw_unlock(fd, ctrl, id, true, true), -ENODEV);
	KT_EQ(lw_unlock(fd, ctrl, id, false, true), -ENODEV);
	KT_EQ(ctrl->lock, id | KSHM_LW_WAITERS);
	close(fd);	/* the holder's id retires: passed on with DIED, WAITERS kept */
	KT_EQ(ctrl->lock, KSHM_LW_DIED | KSHM_LW_WAITERS);
	KT_EQ(lw_lock(ctrl, other_id), -EAGAIN);
	KT_EQ(lock_ex(other, 10, KSHM_LOCK_TRY), -ENODEV);
	close(other);
	KT_EQ(munmap((void *)ctrl, page_size), 0);
	kapi_unload();
}

/*
 * Set: the next mmap() of this program or of libkshm first destroys the kapi
 * region, so a region is destroyed between kshm_open()'s open() and mmap().
 */
static bool destroy_at_mmap;

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (destroy_at_mmap) {
		destroy_at_mmap = false;
		kapi_destroy();
	}
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

static void test_destroyed_during_open(void)
{
	kapi_load();
	KT_EQ(kapi_create("opening", 1), 0);
	destroy_at_mmap = true;
	KT_EQ(kshm_open(KSHM_REGION_DIR "opening", 0), -ENODEV);
	KT_CHECK(!destroy_at_mmap);
	KT_CHECK(!exists(KSHM_REGION_DIR "opening"));
	/* Not a region at all stays "not a kshm device". */
	KT_EQ(kshm_open("/dev/null", 0), -KSHM_E_MAGIC);
	kapi_unload();
}

/* ---- kshm alone: the default region's node moves and comes back -------- */

static void test_default_node_moves(void)
{
	int before = ropen(KSHM_DEVICE_PATH, O_RDWR), alt, again;
	volatile struct kshm_ctrl *c;
	uint64_t g;

	KT_CHECK(is_chr(KSHM_DEVICE_PATH));
	c = map(before, page_size, PROT_READ, (off_t)(info(before).pages + 1) * page_size);
	kapi_load();
	KT_EQ(kapi_create("t", 1), 0);
	KT_CHECK(is_dir(KSHM_DEVICE_PATH));
	KT_CHECK(is_chr(KSHM_DEFAULT_REGION_ALT));
	KT_CHECK(is_chr(KSHM_REGION_DIR "t"));
	KT_CHECK(!strcmp(sysfs_read(SYS_DEFAULT "/region/name"), KSHM_DEFAULT_REGION_NAME));
	/* The file opened before is the same region as the moved node. */
	alt = ropen(KSHM_DEFAULT_REGION_ALT, O_RDWR);
	KT_EQ(lock_ex(before, 1000, 0), 0);
	KT_EQ(lock_ex(alt, 0, KSHM_LOCK_TRY), -EBUSY);
	KT_EQ(unlock_ex(before, KSHM_UNLOCK_COMMIT), 0);
	g = info(alt).generation;
	KT_EQ(c->generation, g);
	kapi_destroy();
	KT_CHECK(is_chr(KSHM_DEVICE_PATH));
	KT_CHECK(!exists(KSHM_DEFAULT_REGION_ALT));
	again = ropen(KSHM_DEVICE_PATH, O_RDWR);
	KT_EQ(info(again).generation, g);
	KT_EQ(info(before).generation, g);
	KT_EQ(info(alt).generation, g);
	kapi_unload();
}

static const struct kt_test region_tests[] = {
	{ "regions=a:1,b:4: /dev/kshm/a and /dev/kshm/b, /dev/kshm/default; sysfs region/{name,pages}", test_nodes },
	{ "each region maps its own header, data and control page", test_mappings },
	{ "a lock held on a (and a waiter) does not delay b; counters are per region", test_independent_locks },
	{ "each region's ticker runs at its own region/tick_ms", test_tickers },
	{ "kshm_region_create: names [a-z0-9_-] up to 32, pages 1-1024, duplicates and 'default' refused", test_names },
	{ "destroy under users: ENODEV, waits end, POLLERR|POLLHUP, mappings stay, the creator unloads", test_destroy_under_users, 60 },
	{ "destroy under ring readers: poll and epoll wake with POLLERR|POLLHUP, KSHM_EVENTS_POLLIN or not", test_destroy_under_ring_readers, 60 },
	{ "destroy: the fast path's acquire and release go to the kernel (WAITERS kept), ENODEV", test_destroy_fast_path },
	{ "libkshm: a region destroyed between kshm_open's open() and mmap() is -ENODEV", test_destroyed_during_open },
};

static const struct kt_test default_tests[] = {
	{ "the default region moves to /dev/kshm/default while a named region exists, and back", test_default_node_moves },
};

int main(int argc, char **argv)
{
	page_size = sysconf(_SC_PAGESIZE);
	if (is_chr(KSHM_DEVICE_PATH))
		return KT_RUN("regions (kshm alone)", default_tests, argc, argv);
	if (!is_chr(DEV_A)) {
		fprintf(stderr, "regions_test: needs kshm loaded alone or with regions=a:1,b:4\n");
		return 1;
	}
	return KT_RUN("regions (regions=a:1,b:4)", region_tests, argc, argv);
}
