// SPDX-License-Identifier: MIT
/*
 * Plain C baselines for bench/: the same jobs as the library, done the
 * shortest way in C. Each run prints one JSON object on stdout.
 *
 *   baseline txn-standin N        host: lock/write 64 B/unlock with a stand-in syscall
 *   baseline txn-fast N           host: the same over the ABI's lock-word fast path
 *                                 (CAS, seq, generation, CAS: no syscall at all)
 *   baseline snapshot N           host: seqcount-validated 4 KiB copy
 *   baseline snapshot-malloc N P [BYTES]  malloc + seqcount copy of P pages (or of
 *                                 their first BYTES) + free
 *   baseline txn N                guest: real LOCK, 64 B write, UNLOCK COMMIT
 *   baseline contend SECONDS ID   guest: contended transactions for SECONDS
 *   baseline writer N GAP_US OFF  guest: N commits of CLOCK_MONOTONIC at OFF
 *   baseline poll-latency N OFF   guest: poll() wake latency of N commits
 *   baseline txn-lib N [PATH]     libkshm's own lock: kshm_lock, 64 B write, kshm_unlock
 *                                 (the lock-word fast path, kernel fallback); host:
 *                                 PATH standin:1 with the stand-in build (baseline-standin)
 *   baseline contend-lib S ID [PATH]  contended transactions through libkshm's lock
 *   baseline lib-writer N GAP OFF [PATH]   writer over libkshm (host stand-in: standin:1:NAME)
 *   baseline lib-poll-latency N OFF [PATH] poll() wake latency over libkshm's layout fd
 *   baseline calibrate N          guest: ioctl FIONREAD on a pipe next to LOCK+UNLOCK
 *
 * txn, txn-lib: the timed loop is preceded by an empty window and followed by
 * the real one, each between two marker writes to /dev/null
 * ("KSHM-MARK-<what>-BEGIN/END"), so a trace of every syscall can count the
 * loop's own (bench/syscalls.ts) with the setup left out.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include "../../driver/include/uapi/kshm.h"
#include "../../native-shim/kshm.h"
#include "../../native-shim/standin-weight.h"
#define BENCH_NAME "baseline"
#include "common.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* One write(2) to /dev/null that a syscall trace can find. */
static void mark(const char *what, const char *edge)
{
	static int fd = -1;
	char buf[64];
	int len;

	if (fd < 0)
		fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	len = snprintf(buf, sizeof(buf), "KSHM-MARK-%s-%s", what, edge);
	if (write(fd, buf, (size_t)len) != len)
		die("mark");
}

static long voluntary_switches(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_nvcsw;
}

struct region {
	int fd;
	volatile struct kshm_header *hdr;
	volatile struct kshm_ctrl *ctrl;	/* read-only here: the C baseline locks by ioctl */
	uint8_t *data;
	size_t size;
};

static struct region open_device(void)
{
	struct region r;
	long ps = sysconf(_SC_PAGESIZE);

	r.fd = open(KSHM_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (r.fd < 0)
		die("open");
	r.hdr = mmap(NULL, ps, PROT_READ, MAP_SHARED, r.fd, 0);
	if (r.hdr == MAP_FAILED)
		die("mmap header");
	r.size = r.hdr->data_size;
	r.data = mmap(NULL, r.size, PROT_READ | PROT_WRITE, MAP_SHARED, r.fd, ps);
	if (r.data == MAP_FAILED)
		die("mmap data");
	r.ctrl = mmap(NULL, ps, PROT_READ, MAP_SHARED, r.fd, (off_t)r.hdr->ctrl_offset);
	if (r.ctrl == MAP_FAILED)
		die("mmap ctrl");
	return r;
}

static void lock(struct region *r)
{
	struct kshm_lock_req req = { 0 };

	while (ioctl(r->fd, KSHM_IOC_LOCK, &req))
		if (errno != EINTR)
			die("LOCK");
}

static void unlock(struct region *r)
{
	struct kshm_unlock_req req = { .flags = KSHM_UNLOCK_COMMIT };

	if (ioctl(r->fd, KSHM_IOC_UNLOCK, &req))
		die("UNLOCK");
}

/* A control page and a data page in anonymous shared memory (host runs). */
static struct kshm_ctrl *host_region(uint8_t **data)
{
	long ps = sysconf(_SC_PAGESIZE);
	int fd = (int)syscall(SYS_memfd_create, "baseline", 0);
	struct kshm_ctrl *c;

	if (fd < 0 || ftruncate(fd, 2 * ps))
		die("setup");
	c = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (c == MAP_FAILED)
		die("mmap");
	*data = (uint8_t *)c + ps;
	return c;
}

/* The same work the driver's slow path does, with the stand-in syscall. */
static void txn_standin(long n)
{
	int p[2];
	uint8_t *data, src[64];
	struct kshm_ctrl *c = host_region(&data);
	uint64_t t0;

	if (pipe(p))
		die("pipe");
	memset(src, 7, sizeof(src));
	t0 = now_ns();
	for (long i = 0; i < n; i++) {
		standin_weighted_ioctl(p[0]);		/* LOCK */
		__atomic_store_n(&c->lock, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&c->seq, c->seq + 1, __ATOMIC_RELEASE);
		src[0] = (uint8_t)i;
		memcpy(data, src, sizeof(src));
		standin_weighted_ioctl(p[0]);		/* UNLOCK */
		c->generation++;
		__atomic_store_n(&c->seq, c->seq + 1, __ATOMIC_RELEASE);
		__atomic_store_n(&c->lock, 0, __ATOMIC_RELEASE);
	}
	printf("{\"mode\":\"txn-standin\",\"n\":%ld,\"nsPerOp\":%.1f}\n", n, (double)(now_ns() - t0) / n);
}

/* The ABI's fast path, shortest form: the floor for any library over it. */
static void txn_fast(long n)
{
	uint8_t *data, src[64];
	struct kshm_ctrl *c = host_region(&data);
	uint64_t t0;

	memset(src, 7, sizeof(src));
	t0 = now_ns();
	for (long i = 0; i < n; i++) {
		uint32_t free_word = 0, mine = 1;

		if (!__atomic_compare_exchange_n(&c->lock, &free_word, 1, 0, __ATOMIC_ACQUIRE,
						 __ATOMIC_RELAXED))
			die("fast lock");
		__atomic_store_n(&c->seq, c->seq | 1, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_RELEASE);
		src[0] = (uint8_t)i;
		memcpy(data, src, sizeof(src));
		c->generation++;
		__atomic_store_n(&c->seq, (c->seq | 1) + 1, __ATOMIC_RELEASE);
		if (!__atomic_compare_exchange_n(&c->lock, &mine, 0, 0, __ATOMIC_RELEASE,
						 __ATOMIC_RELAXED))
			die("fast unlock");
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (__atomic_load_n(&c->pollers, __ATOMIC_RELAXED))
			die("pollers");
	}
	printf("{\"mode\":\"txn-fast\",\"n\":%ld,\"nsPerOp\":%.1f}\n", n, (double)(now_ns() - t0) / n);
}

static void snapshot(long n)
{
	long ps = sysconf(_SC_PAGESIZE);
	uint8_t *mem = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct kshm_ctrl *h = (struct kshm_ctrl *)mem;
	static uint8_t dst[4096];
	uint64_t t0, sink = 0;

	if (mem == MAP_FAILED)
		die("mmap");
	t0 = now_ns();
	for (long i = 0; i < n; i++) {
		uint32_t s1, s2;

		do {
			s1 = __atomic_load_n(&h->seq, __ATOMIC_ACQUIRE);
			memcpy(dst, mem + ps, sizeof(dst));
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			s2 = __atomic_load_n(&h->seq, __ATOMIC_RELAXED);
		} while (s1 != s2 || (s1 & 1));
		sink += dst[i & 4095];
		__asm__ volatile("" : : "r"(dst) : "memory");
	}
	printf("{\"mode\":\"snapshot\",\"n\":%ld,\"nsPerOp\":%.1f,\"sink\":%llu}\n", n,
	       (double)(now_ns() - t0) / n, (unsigned long long)sink);
}

/*
 * What a C subscriber gets per commit: a fresh consistent copy of the whole
 * region (malloc + seqcount memcpy), freed once read (PAGES data pages).
 */
static void snapshot_malloc(long n, long pages, long bytes)
{
	long ps = sysconf(_SC_PAGESIZE);
	size_t region = (size_t)(pages > 0 ? pages : 1) * (size_t)ps;
	size_t size = bytes > 0 && (size_t)bytes < region ? (size_t)bytes : region;
	uint8_t *mem = mmap(NULL, ps + region, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct kshm_ctrl *h = (struct kshm_ctrl *)mem;
	uint64_t t0, sink = 0;

	if (mem == MAP_FAILED)
		die("mmap");
	t0 = now_ns();
	for (long i = 0; i < n; i++) {
		uint8_t *dst = malloc(size);
		uint32_t s1, s2;

		if (!dst)
			die("malloc");
		do {
			s1 = __atomic_load_n(&h->seq, __ATOMIC_ACQUIRE);
			memcpy(dst, mem + ps, size);
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			s2 = __atomic_load_n(&h->seq, __ATOMIC_RELAXED);
		} while (s1 != s2 || (s1 & 1));
		sink += dst[(size_t)i % size];
		__asm__ volatile("" : : "r"(dst) : "memory");
		free(dst);
	}
	printf("{\"mode\":\"snapshot-malloc\",\"n\":%ld,\"pages\":%ld,\"nsPerOp\":%.1f,\"sink\":%llu}\n", n, pages,
	       (double)(now_ns() - t0) / n, (unsigned long long)sink);
}

static void txn(long n)
{
	struct region r = open_device();
	uint8_t src[64];
	uint64_t t0;

	memset(src, 3, sizeof(src));
	mark("empty", "BEGIN");
	mark("empty", "END");
	mark("loop", "BEGIN");
	t0 = now_ns();
	for (long i = 0; i < n; i++) {
		lock(&r);
		src[0] = (uint8_t)i;
		memcpy(r.data, src, sizeof(src));
		unlock(&r);
	}
	t0 = now_ns() - t0;
	mark("loop", "END");
	printf("{\"mode\":\"txn\",\"n\":%ld,\"nsPerOp\":%.1f}\n", n, (double)t0 / n);
}

static kshm_handle lib_open(const char *path)
{
	kshm_handle h = kshm_open(path, 0);

	if (h <= 0) {
		errno = -h;
		die("kshm_open");
	}
	return h;
}

/* libkshm's own lock, as a C program uses it: the fast path when free. */
static void txn_lib(long n, const char *path)
{
	kshm_handle h = lib_open(path);
	struct kshm_layout l;
	uint8_t src[64];
	uint64_t t0;

	if (kshm_layout(h, &l))
		die("kshm_layout");
	memset(src, 3, sizeof(src));
	mark("empty", "BEGIN");
	mark("empty", "END");
	mark("loop", "BEGIN");
	t0 = now_ns();
	for (long i = 0; i < n; i++) {
		if (kshm_lock(h, 0, 0, NULL))
			die("kshm_lock");
		src[0] = (uint8_t)i;
		memcpy(l.data, src, sizeof(src));
		if (kshm_unlock(h, KSHM_UNLOCK_COMMIT))
			die("kshm_unlock");
	}
	t0 = now_ns() - t0;
	mark("loop", "END");
	printf("{\"mode\":\"txn-lib\",\"n\":%ld,\"nsPerOp\":%.1f}\n", n, (double)t0 / n);
	kshm_close(h);
}

/* Contenders on libkshm's lock (fast path, kernel fallback): the library's path. */
static void contend_lib(int id, const char *path)
{
	kshm_handle h = lib_open(path);
	struct kshm_layout l;
	uint8_t *data;
	uint64_t count = 0;
	long csw;

	if (kshm_layout(h, &l))
		die("kshm_layout");
	data = l.data;
	if (kshm_lock(h, 0, 0, NULL))
		die("kshm_lock");
	data[4002]++;
	kshm_unlock(h, KSHM_UNLOCK_COMMIT);
	while (__atomic_load_n(&data[4000], __ATOMIC_ACQUIRE) == 0)
		usleep(100);
	csw = voluntary_switches();
	for (;;) {
		if (kshm_lock(h, 0, 0, NULL))
			die("kshm_lock");
		if (data[4001]) {
			kshm_unlock(h, KSHM_UNLOCK_ABORT);
			break;
		}
		memset(data + 64 * (id % 8), (int)count, 64);
		kshm_unlock(h, KSHM_UNLOCK_COMMIT);
		count++;
	}
	printf("{\"mode\":\"contend-lib\",\"id\":%d,\"count\":%llu,\"voluntarySwitches\":%ld}\n", id,
	       (unsigned long long)count, voluntary_switches() - csw);
	kshm_close(h);
}

/* writer over libkshm (fast path; WAKE when a poller waits): the host stand-in's commits. */
static void lib_writer(long n, long gap_us, long off, const char *path)
{
	kshm_handle h = lib_open(path);
	struct kshm_layout l;
	uint8_t *d;

	if (kshm_layout(h, &l))
		die("kshm_layout");
	d = l.data;
	for (long i = 1; i <= n; i++) {
		uint64_t t, idx = (uint64_t)i;

		usleep((useconds_t)gap_us);
		if (kshm_lock(h, 0, 0, NULL))
			die("kshm_lock");
		memcpy(d + off + 16, &idx, sizeof(idx));
		t = now_ns();
		memcpy(d + off, &t, sizeof(t));
		kshm_unlock(h, KSHM_UNLOCK_COMMIT);
	}
	usleep((useconds_t)gap_us);
	kshm_lock(h, 0, 0, NULL);
	memset(d + off + 8, 0xff, 8);
	kshm_unlock(h, KSHM_UNLOCK_COMMIT);
	printf("{\"mode\":\"lib-writer\",\"n\":%ld}\n", n);
	kshm_close(h);
}

/* poll() wake latency over libkshm (the layout's fd, kshm_consume, a seqcount copy). */
static void lib_poll_latency(long n, long off, const char *path)
{
	kshm_handle h = kshm_open(path, KSHM_OPEN_READONLY);
	struct kshm_layout l;
	struct pollfd pfd;
	uint64_t *lat = calloc((size_t)n, sizeof(*lat)), last = 0;
	long got = 0;

	if (h <= 0 || kshm_layout(h, &l))
		die("kshm_open");
	pfd = (struct pollfd){ .fd = l.fd, .events = POLLIN };
	printf("ready\n");
	for (;;) {
		uint64_t ts, t, done, idx;
		uint32_t s1;
		const uint8_t *d = l.data;

		if (poll(&pfd, 1, 10000) <= 0)
			break;
		kshm_consume(h, NULL);
		do {
			s1 = __atomic_load_n(&l.ctrl->seq, __ATOMIC_ACQUIRE);
			memcpy(&ts, d + off, sizeof(ts));
			memcpy(&done, d + off + 8, sizeof(done));
			memcpy(&idx, d + off + 16, sizeof(idx));
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
		} while ((s1 & 1) || s1 != __atomic_load_n(&l.ctrl->seq, __ATOMIC_RELAXED));
		t = now_ns();
		if (done == UINT64_MAX)
			break;
		if (ts && t >= ts && idx > last && got < n) {
			lat[got++] = t - ts;
			last = idx;
		}
	}
	qsort(lat, (size_t)got, sizeof(*lat), cmp_u64);
	printf("{\"mode\":\"lib-poll-latency\",\"expected\":%ld,\"n\":%ld,\"p50Us\":%.1f,\"p99Us\":%.1f}\n", n,
	       got, got ? lat[got / 2] / 1e3 : 0, got ? lat[(got * 99) / 100] / 1e3 : 0);
	kshm_close(h);
}

/* The stand-in's weight against the driver's: FIONREAD pairs vs LOCK+UNLOCK. */
static void calibrate(long n)
{
	struct region r = open_device();
	int p[2], avail;
	uint64_t t0, standin, driver;

	if (pipe(p))
		die("pipe");
	for (int round = 0; round < 2; round++) {	/* the first round warms up */
		t0 = now_ns();
		for (long i = 0; i < n; i++) {
			ioctl(p[0], FIONREAD, &avail);
			ioctl(p[0], FIONREAD, &avail);
		}
		standin = now_ns() - t0;
		t0 = now_ns();
		for (long i = 0; i < n; i++) {
			lock(&r);
			unlock(&r);
		}
		driver = now_ns() - t0;
	}
	printf("{\"mode\":\"calibrate\",\"n\":%ld,\"standinPairNs\":%.1f,\"driverPairNs\":%.1f}\n", n,
	       (double)standin / n, (double)driver / n);
}

static void contend(double seconds, int id)
{
	struct region r = open_device();
	uint64_t until, count = 0;
	long csw;

	/* Say ready (byte 4002), start on the go byte (4000), stop on 4001. */
	(void)seconds;
	lock(&r);
	r.data[4002]++;
	unlock(&r);
	while (__atomic_load_n(&r.data[4000], __ATOMIC_ACQUIRE) == 0)
		usleep(100);
	csw = voluntary_switches();
	for (;;) {
		lock(&r);
		if (r.data[4001]) {
			unlock(&r);
			break;
		}
		memset(r.data + 64 * (id % 8), (int)count, 64);
		unlock(&r);
		count++;
	}
	until = 0;
	(void)until;
	printf("{\"mode\":\"contend\",\"id\":%d,\"count\":%llu,\"voluntarySwitches\":%ld}\n", id,
	       (unsigned long long)count, voluntary_switches() - csw);
}

static void writer(long n, long gap_us, long off)
{
	struct region r = open_device();

	lock(&r);
	memset(r.data + off, 0, 24);
	unlock(&r);

	/* [timestamp, done marker, index] at OFF: index 1..N, one commit each. */
	for (long i = 1; i <= n; i++) {
		uint64_t t, idx = (uint64_t)i;

		usleep((useconds_t)gap_us);
		lock(&r);
		memcpy(r.data + off + 16, &idx, sizeof(idx));
		t = now_ns();
		memcpy(r.data + off, &t, sizeof(t));
		unlock(&r);
	}
	/* Done marker at OFF + 8: readers stop here. */
	usleep((useconds_t)gap_us);
	lock(&r);
	memset(r.data + off + 8, 0xff, 8);
	unlock(&r);
	printf("{\"mode\":\"writer\",\"n\":%ld}\n", n);
}

/* Stamps each commit after its seqcount copy (as the library's subscriber does). */
static void poll_latency(long n, long off)
{
	struct region r = open_device();
	struct pollfd pfd = { .fd = r.fd, .events = POLLIN };
	uint64_t *lat = calloc((size_t)n, sizeof(*lat));
	uint64_t last = 0;
	long got = 0;

	printf("ready\n");	/* the orchestrator starts the writer now */

	for (;;) {
		uint64_t g, ts, t, done, idx;
		uint32_t s1;

		if (poll(&pfd, 1, 10000) <= 0)
			break;
		if (read(r.fd, &g, sizeof(g)) != sizeof(g))
			die("read");
		do {
			s1 = __atomic_load_n(&r.ctrl->seq, __ATOMIC_ACQUIRE);
			memcpy(&ts, r.data + off, sizeof(ts));
			memcpy(&done, r.data + off + 8, sizeof(done));
			memcpy(&idx, r.data + off + 16, sizeof(idx));
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
		} while ((s1 & 1) || s1 != __atomic_load_n(&r.ctrl->seq, __ATOMIC_RELAXED));
		t = now_ns();
		if (done == UINT64_MAX)
			break;
		if (ts && t >= ts && idx > last && got < n) {
			lat[got++] = t - ts;
			last = idx;
		}
	}
	qsort(lat, (size_t)got, sizeof(*lat), cmp_u64);
	printf("{\"mode\":\"poll-latency\",\"expected\":%ld,\"n\":%ld,\"p50Us\":%.1f,\"p99Us\":%.1f}\n", n, got,
	       got ? lat[got / 2] / 1e3 : 0, got ? lat[(got * 99) / 100] / 1e3 : 0);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	long a = argc > 2 ? atol(argv[2]) : 0, b = argc > 3 ? atol(argv[3]) : 0;
	long c = argc > 4 ? atol(argv[4]) : 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(mode, "txn-standin"))
		txn_standin(a);
	else if (!strcmp(mode, "txn-fast"))
		txn_fast(a);
	else if (!strcmp(mode, "snapshot"))
		snapshot(a);
	else if (!strcmp(mode, "txn"))
		txn(a);
	else if (!strcmp(mode, "contend"))
		contend(atof(argv[2]), (int)b);
	else if (!strcmp(mode, "writer"))
		writer(a, b, c);
	else if (!strcmp(mode, "poll-latency"))
		poll_latency(a, b);
	else if (!strcmp(mode, "snapshot-malloc"))
		snapshot_malloc(a, b, c);
	else if (!strcmp(mode, "txn-lib"))
		txn_lib(a, argc > 3 ? argv[3] : NULL);
	else if (!strcmp(mode, "contend-lib"))
		contend_lib((int)b, argc > 4 ? argv[4] : NULL);
	else if (!strcmp(mode, "lib-writer"))
		lib_writer(a, b, c, argc > 5 ? argv[5] : NULL);
	else if (!strcmp(mode, "lib-poll-latency"))
		lib_poll_latency(a, b, argc > 4 ? argv[4] : NULL);
	else if (!strcmp(mode, "calibrate"))
		calibrate(a);
	else {
		fprintf(stderr, "usage: baseline txn-standin|snapshot|txn|contend|writer|poll-latency ...\n");
		return 2;
	}
	return 0;
}
