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
 *   baseline writer N GAP_US OFF [READERS ACKS TIMEOUT_MS]
 *                                 guest: N commits of CLOCK_MONOTONIC at OFF, paced
 *                                 by READERS readers' acknowledgements on the FIFO ACKS
 *                                 (see struct pace)
 *   baseline poll-latency N OFF [ACKS]  guest: poll() wake latency of N commits; each
 *                                 sample acknowledged on the FIFO ACKS once stamped
 *   baseline txn-lib N [PATH]     libkshm's own lock: kshm_lock, 64 B write, kshm_unlock
 *                                 (the lock-word fast path, kernel fallback); host:
 *                                 PATH standin:1 with the stand-in build (baseline-standin)
 *   baseline contend-lib S ID [PATH]  contended transactions through libkshm's lock
 *   baseline contend-card S ID [PATH]  the same in the design card's shape: the main
 *                                 thread never blocks in the driver, a worker thread
 *                                 does and wakes it through an eventfd (the library's)
 *   baseline lib-writer N GAP OFF [PATH [READERS ACKS TIMEOUT_MS]]
 *                                 writer over libkshm (host stand-in: standin:1:NAME)
 *   baseline lib-poll-latency N OFF [PATH [ACKS [whole]]]  poll() wake latency over libkshm's layout fd
 *                                 (whole: the sample read from a malloc'd copy of the region)
 *   baseline calibrate N          guest: ioctl FIONREAD on a pipe next to LOCK+UNLOCK
 *   baseline standin-work N       host: a FIONREAD pair next to the stand-in device's own work
 *
 * txn, txn-lib: the timed loop is preceded by an empty window and followed by
 * the real one, each between two marker writes to /dev/null
 * ("KSHM-MARK-<what>-BEGIN/END"), so a trace of every syscall can count the
 * loop's own (bench/syscalls.ts) with the setup left out.
 *
 * The latency readers (and bench/guest.ts's library reader) take
 * KSHM_BENCH_DROP_EVERY=K from the environment, for a spec only: every K-th
 * sample is treated as never woken for (not stamped, not acknowledged), a
 * lost wake-up on purpose, which the "every sample arrives" invariant must
 * catch; and KSHM_BENCH_STALL_EVERY=K: every K-th sample, once stamped, the
 * reader stalls 20 ms before acknowledging it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
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
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include "../../driver/include/uapi/kshm.h"
#include "../../native-shim/kshm.h"
#include "../../native-shim/lockword.h"
#include "../../native-shim/standin-device.h"
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

/*
 * Commit -> subscriber pacing. Each reader, once it has stamped sample I,
 * writes I (8 bytes: one atomic write, <= PIPE_BUF) to the FIFO ACKS that
 * the orchestrator made; before each next commit the writer waits until
 * all READERS acknowledged the previous sample (up to TIMEOUT_MS), and keeps
 * at least GAP_US between commits in any case. So two commits never
 * conflate in a reader that is merely slow (a stalled guest): a sample that
 * never arrives is a lost wake-up, and the writer goes on without its
 * acknowledgement (counted: missingAcks). Stale acknowledgements (of an
 * earlier sample, after its timeout) are skipped. After PACE_GIVE_UP samples
 * in a row without them (a reader died: the samples are lost anyway), the
 * writer stops waiting, so a dead reader costs no more than the gaps.
 * READERS 0: no pacing.
 */
#define PACE_GIVE_UP 3

struct pace {
	long readers;
	long timeout_ms;
	int fd;			/* the FIFO, O_RDWR: never EOF, never blocks the open */
	uint64_t last_ns;	/* the previous commit, 0: none yet */
	long gap_us;
	long missing;		/* acknowledgements that did not come in time */
	long timeouts;		/* samples whose acknowledgements did not all come */
	long in_a_row;		/* the last samples' timeouts in a row */
};

static struct pace pace_open(long gap_us, int argc, char **argv, int at)
{
	struct pace p = { .fd = -1, .gap_us = gap_us };

	if (argc > at + 2) {
		p.readers = atol(argv[at]);
		p.timeout_ms = atol(argv[at + 2]);
		p.fd = open(argv[at + 1], O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (p.fd < 0 || p.readers < 1 || p.timeout_ms < 1)
			die("acknowledgement FIFO");
	}
	return p;
}

/*
 * Waits for READERS acknowledgements of @idx, or the timeout (none once the
 * writer gave up: it then takes only those already there).
 */
static void pace_acks(struct pace *p, uint64_t idx)
{
	uint64_t wait_ns = p->in_a_row >= PACE_GIVE_UP ? 0 : (uint64_t)p->timeout_ms * 1000000ull;
	uint64_t deadline = now_ns() + wait_ns;
	uint64_t rec[64];
	long got = 0;

	while (got < p->readers) {
		struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
		uint64_t t = now_ns();
		ssize_t len;
		int r;

		r = poll(&pfd, 1, t >= deadline ? 0 : (int)((deadline - t) / 1000000ull) + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("poll acknowledgements");
		if (r == 0 && now_ns() >= deadline)
			break;
		if (r == 0)
			continue;
		/* Every write is 8 bytes and every read a multiple: whole records only. */
		len = read(p->fd, rec, sizeof(rec));
		if (len < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (len < 0 || len % 8)
			die("read acknowledgements");
		for (ssize_t i = 0; i < len / 8; i++)
			got += rec[i] == idx;
	}
	if (got < p->readers) {
		p->missing += p->readers - got;
		p->timeouts++;
		p->in_a_row++;
	} else {
		p->in_a_row = 0;
	}
}

/*
 * Before commit @idx (1..N; N + 1: the done marker): the previous sample's
 * acknowledgements, then the rest of the gap since the previous commit.
 */
static void pace_before(struct pace *p, uint64_t idx)
{
	uint64_t t, until;

	if (p->fd >= 0 && idx > 1)
		pace_acks(p, idx - 1);
	if (!p->last_ns) {
		usleep((useconds_t)p->gap_us);
		return;
	}
	until = p->last_ns + (uint64_t)p->gap_us * 1000ull;
	while ((t = now_ns()) < until)
		usleep((useconds_t)((until - t) / 1000ull) + 1);
}

static void pace_print(const char *mode, long n, const struct pace *p)
{
	printf("{\"mode\":\"%s\",\"n\":%ld,\"readers\":%ld,\"ackTimeoutMs\":%ld,\"ackTimeouts\":%ld,"
	       "\"missingAcks\":%ld}\n", mode, n, p->readers, p->timeout_ms, p->timeouts, p->missing);
}

/*
 * A latency reader's side: the FIFO to acknowledge on (-1: none), the
 * deliberate drop (KSHM_BENCH_DROP_EVERY, for a spec), and the generations
 * it saw: a snapshot whose generation skipped one is a conflation, counted.
 */
struct sampler {
	int ack;
	long drop_every;
	long stall_every;
	long dropped;
	uint64_t last_gen;
	long generation_jumps;
	/* the latencies of the samples kept: n wanted, got so far, the last index */
	uint64_t *lat;
	long n, got;
	uint64_t last;
};

static struct sampler sampler_open(const char *ack, long n)
{
	const char *drop = getenv("KSHM_BENCH_DROP_EVERY");
	const char *stall = getenv("KSHM_BENCH_STALL_EVERY");
	struct sampler s = { .ack = -1, .drop_every = drop ? atol(drop) : 0, .stall_every = stall ? atol(stall) : 0,
			     .lat = calloc((size_t)(n > 0 ? n : 1), sizeof(uint64_t)), .n = n };

	if (!s.lat)
		die("calloc");
	if (ack) {
		s.ack = open(ack, O_RDWR | O_CLOEXEC);
		if (s.ack < 0)
			die("acknowledgement FIFO");
	}
	return s;
}

/* Every copy the reader made, with its generation. */
static void sampler_saw(struct sampler *s, uint64_t gen)
{
	if (s->last_gen && gen > s->last_gen + 1)
		s->generation_jumps++;
	if (gen > s->last_gen)
		s->last_gen = gen;
}

/* A new sample @idx: false when it is dropped on purpose (neither stamped nor acknowledged). */
static int sampler_keep(struct sampler *s, uint64_t idx)
{
	if (s->drop_every > 0 && idx % (uint64_t)s->drop_every == 0) {
		s->dropped++;
		return 0;
	}
	return 1;
}

/* Once the sample is stamped. */
static void sampler_ack(struct sampler *s, uint64_t idx)
{
	if (s->stall_every > 0 && idx % (uint64_t)s->stall_every == 0)
		usleep(20000);
	if (s->ack >= 0 && write(s->ack, &idx, sizeof(idx)) != sizeof(idx))
		die("acknowledge");
}

/*
 * One wake-up's copy of the sample v = [timestamp, done marker, index] (the
 * writers' layout), of generation @gen, stamped @t: false once the writer is
 * done. A new index is kept (its latency), then acknowledged.
 */
static bool sampler_take(struct sampler *s, const uint64_t v[3], uint64_t gen, uint64_t t)
{
	sampler_saw(s, gen);
	if (v[1] == UINT64_MAX)
		return false;
	if (v[0] && t >= v[0] && v[2] > s->last && s->got < s->n) {
		s->last = v[2];
		if (sampler_keep(s, v[2])) {
			s->lat[s->got++] = t - v[0];
			sampler_ack(s, v[2]);
		}
	}
	return true;
}

static int cmp_u64(const void *a, const void *b);

static void sampler_print(struct sampler *s, const char *mode, unsigned long long copy_bytes)
{
	long got = s->got;

	qsort(s->lat, (size_t)got, sizeof(*s->lat), cmp_u64);
	printf("{\"mode\":\"%s\",\"copyBytes\":%llu,\"expected\":%ld,\"n\":%ld,\"p50Us\":%.1f,"
	       "\"p99Us\":%.1f,\"generationJumps\":%ld,\"dropped\":%ld}\n", mode, copy_bytes, s->n, got,
	       got ? s->lat[got / 2] / 1e3 : 0, got ? s->lat[(got * 99) / 100] / 1e3 : 0,
	       s->generation_jumps, s->dropped);
}

/* Copies @len bytes of @src to @dst through the seqcount; returns the generation copied (and @seq). */
static uint64_t seq_copy(void *dst, const void *src, size_t len, const volatile struct kshm_ctrl *c,
			 uint32_t *seq)
{
	uint64_t gen;
	uint32_t s1;

	do {
		s1 = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE);
		if (s1 & 1)
			continue;
		memcpy(dst, src, len);
		gen = c->generation;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
	} while ((s1 & 1) || s1 != __atomic_load_n(&c->seq, __ATOMIC_RELAXED));
	*seq = s1;
	return gen;
}

/* A writer's commit, either way: the driver's ioctls (guest) or libkshm (host stand-in). */
struct committer {
	void (*lock)(void *arg);
	void (*unlock)(void *arg);
	void *arg;
	uint8_t *data;
};

/*
 * The latency writer: [timestamp, done marker, index] at @off (zeroed by the
 * orchestrator), index 1..n, one commit each, paced by @p; then the done
 * marker at @off + 8, where readers stop.
 */
static void write_samples(const char *mode, long n, long off, struct pace *p, const struct committer *c)
{
	for (long i = 1; i <= n; i++) {
		uint64_t t, idx = (uint64_t)i;

		pace_before(p, idx);
		c->lock(c->arg);
		memcpy(c->data + off + 16, &idx, sizeof(idx));
		t = now_ns();
		memcpy(c->data + off, &t, sizeof(t));
		c->unlock(c->arg);
		p->last_ns = t;
	}
	pace_before(p, (uint64_t)n + 1);
	c->lock(c->arg);
	memset(c->data + off + 8, 0xff, 8);
	c->unlock(c->arg);
	pace_print(mode, n, p);
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

/*
 * The C ioctl loop on the host: each LOCK and UNLOCK is the stand-in
 * syscall, then the stand-in device's own work on the control page
 * (standin-device.h: the code libkshm-standin runs behind its ioctls), so
 * the library and C pay for the same device and differ only in what calls it.
 */
static void txn_standin(long n)
{
	int p[2];
	uint8_t *data, src[64];
	struct kshm_ctrl *c = host_region(&data);
	struct kshm_lock_req lock = { .flags = KSHM_LOCK_TRY };
	uint64_t t0;

	if (pipe(p))
		die("pipe");
	memset(src, 7, sizeof(src));
	t0 = now_ns();
	for (long i = 0; i < n; i++) {
		standin_weighted_ioctl(p[0]);		/* LOCK */
		if (standin_lock(c, 1, &lock))
			die("stand-in LOCK");
		src[0] = (uint8_t)i;
		memcpy(data, src, sizeof(src));
		standin_weighted_ioctl(p[0]);		/* UNLOCK */
		if (standin_unlock(c, 1, KSHM_UNLOCK_COMMIT))
			die("stand-in UNLOCK");
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

/*
 * The design card's shape in C, the library's without JS: the main thread
 * never blocks in the driver. It tries the lock (a CAS when free), spins
 * while a short hold lasts (the library's SPIN_NS and SPIN_WAITERS_NS), else
 * hands the wait to a worker thread (the libuv pool's part: it sleeps on a
 * condition variable between waits) that blocks in the driver's queue and
 * then signals an eventfd the main thread sleeps on in epoll (its event
 * loop). Its context switches per contended transaction are the design
 * card's floor, next to plain C's blocking kshm_lock().
 */
struct card {
	pthread_mutex_t m;
	pthread_cond_t cv;
	kshm_handle h;
	volatile struct kshm_ctrl *ctrl;
	int efd;
	int ep;
	bool want;
};

static void *card_worker(void *arg)
{
	struct card *w = arg;
	uint64_t one = 1;

	for (;;) {
		pthread_mutex_lock(&w->m);
		while (!w->want)
			pthread_cond_wait(&w->cv, &w->m);
		w->want = false;
		pthread_mutex_unlock(&w->m);
		if (kshm_lock_epoch_nospin(w->h, kshm_cancel_epoch(w->h), 0, 0, NULL))
			die("kshm_lock_epoch_nospin");
		if (write(w->efd, &one, sizeof(one)) != sizeof(one))
			die("eventfd write");
	}
	return NULL;
}

static void card_open(struct card *w, kshm_handle h, volatile struct kshm_ctrl *ctrl)
{
	struct epoll_event ev = { .events = EPOLLIN };
	pthread_t t;

	pthread_mutex_init(&w->m, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->h = h;
	w->ctrl = ctrl;
	w->want = false;
	w->efd = eventfd(0, EFD_CLOEXEC);
	w->ep = epoll_create1(EPOLL_CLOEXEC);
	if (w->efd < 0 || w->ep < 0 || epoll_ctl(w->ep, EPOLL_CTL_ADD, w->efd, &ev))
		die("eventfd/epoll");
	if (pthread_create(&t, NULL, card_worker, w) || pthread_detach(t))
		die("pthread_create");
}

static void card_lock(struct card *w)
{
	struct epoll_event ev;
	uint64_t v;
	int ret = kshm_lock(w->h, 0, KSHM_LOCK_TRY, NULL);

	if (ret == -EBUSY && lw_spin_while_held(w->ctrl, 20000, 100000))
		ret = kshm_lock(w->h, 0, KSHM_LOCK_TRY, NULL);
	if (ret == 0)
		return;
	if (ret != -EBUSY) {
		errno = -ret;
		die("kshm_lock try");
	}
	pthread_mutex_lock(&w->m);
	w->want = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->m);
	while (epoll_wait(w->ep, &ev, 1, -1) < 0)
		if (errno != EINTR)
			die("epoll_wait");
	if (read(w->efd, &v, sizeof(v)) != sizeof(v))
		die("eventfd read");
}

/*
 * Contenders on libkshm's lock (fast path, kernel fallback): the library's
 * path; card: in the design card's shape (struct card).
 */
static void contend_lib(int id, const char *path, bool card)
{
	kshm_handle h = lib_open(path);
	struct kshm_layout l;
	struct card w;
	uint8_t *data;
	uint64_t count = 0;
	long csw;

	if (kshm_layout(h, &l))
		die("kshm_layout");
	data = l.data;
	if (card)
		card_open(&w, h, l.ctrl);
	if (kshm_lock(h, 0, 0, NULL))
		die("kshm_lock");
	data[4002]++;
	kshm_unlock(h, KSHM_UNLOCK_COMMIT);
	while (__atomic_load_n(&data[4000], __ATOMIC_ACQUIRE) == 0)
		usleep(100);
	csw = voluntary_switches();
	for (;;) {
		if (card)
			card_lock(&w);
		else if (kshm_lock(h, 0, 0, NULL))
			die("kshm_lock");
		if (data[4001]) {
			kshm_unlock(h, KSHM_UNLOCK_ABORT);
			break;
		}
		memset(data + 64 * (id % 8), (int)count, 64);
		kshm_unlock(h, KSHM_UNLOCK_COMMIT);
		count++;
	}
	printf("{\"mode\":\"%s\",\"id\":%d,\"count\":%llu,\"voluntarySwitches\":%ld}\n",
	       card ? "contend-card" : "contend-lib", id, (unsigned long long)count, voluntary_switches() - csw);
	/* A card's worker is idle here (on its condition variable): exit() ends it. */
	kshm_close(h);
}

static void lib_lock(void *h)
{
	if (kshm_lock(*(kshm_handle *)h, 0, 0, NULL))
		die("kshm_lock");
}

static void lib_unlock(void *h)
{
	if (kshm_unlock(*(kshm_handle *)h, KSHM_UNLOCK_COMMIT))
		die("kshm_unlock");
}

/* writer over libkshm (fast path; WAKE when a poller waits): the host stand-in's commits. */
static void lib_writer(long n, const char *path, struct pace *p, long off)
{
	kshm_handle h = lib_open(path);
	struct kshm_layout l;

	if (kshm_layout(h, &l))
		die("kshm_layout");
	write_samples("lib-writer", n, off, p, &(struct committer){ lib_lock, lib_unlock, &h, l.data });
	kshm_close(h);
}

/*
 * poll() wake latency over libkshm (the layout's fd, kshm_consume, a seqcount
 * copy). @whole: the copy is the whole region into memory of its own
 * (malloc + seqcount memcpy + free, as a subscriber of whole snapshots gets
 * it), and the sample is read from that copy; else the 24 bytes alone.
 */
static void lib_poll_latency(long n, long off, const char *path, const char *ack, bool whole)
{
	kshm_handle h = kshm_open(path, KSHM_OPEN_READONLY);
	struct kshm_layout l;
	struct pollfd pfd;
	struct sampler sm = sampler_open(ack, n);
	bool more = true;

	if (h <= 0 || kshm_layout(h, &l))
		die("kshm_open");
	if ((uint64_t)off + 24 > l.data_size)
		die("sample offset");
	pfd = (struct pollfd){ .fd = l.fd, .events = POLLIN };
	printf("ready\n");
	while (more && poll(&pfd, 1, 10000) > 0) {
		const uint8_t *d = l.data;
		uint32_t seq;

		/*
		 * As the library does: copy and stamp first, then consume the
		 * wake-up; a commit made meanwhile (its wake-up consumed with
		 * this one) is read again at once.
		 */
		do {
			uint64_t v[3], gen, t;
			uint8_t *copy = NULL;

			if (whole) {
				copy = malloc(l.data_size);
				if (!copy)
					die("malloc");
				gen = seq_copy(copy, d, l.data_size, l.ctrl, &seq);
				memcpy(v, copy + off, sizeof(v));
			} else {
				gen = seq_copy(v, d + off, sizeof(v), l.ctrl, &seq);
			}
			t = now_ns();
			free(copy);
			more = sampler_take(&sm, v, gen, t);
			kshm_consume(h, NULL);
		} while (more && __atomic_load_n(&l.ctrl->seq, __ATOMIC_ACQUIRE) != seq);
	}
	sampler_print(&sm, "lib-poll-latency", whole ? (unsigned long long)l.data_size : 24ULL);
	kshm_close(h);
}

/* The stand-in's weight against the driver's: FIONREAD pairs vs LOCK+UNLOCK. */
/* A pair of ioctl FIONREAD on a pipe (the stand-in's syscall), ns per pair. */
static double fionread_pair_ns(long n)
{
	static int p[2] = { -1, -1 };
	int avail;
	uint64_t t0;

	if (p[0] < 0 && pipe(p))
		die("pipe");
	t0 = now_ns();
	for (long i = 0; i < n; i++) {
		ioctl(p[0], FIONREAD, &avail);
		ioctl(p[0], FIONREAD, &avail);
	}
	return (double)(now_ns() - t0) / n;
}

/* Guest: the driver's LOCK+UNLOCK against a FIONREAD pair (the first round warms up). */
static void calibrate(long n)
{
	struct region r = open_device();
	double standin = 0, driver = 0;
	uint64_t t0;

	for (int round = 0; round < 2; round++) {
		standin = fionread_pair_ns(n);
		t0 = now_ns();
		for (long i = 0; i < n; i++) {
			lock(&r);
			unlock(&r);
		}
		driver = (double)(now_ns() - t0) / n;
	}
	printf("{\"mode\":\"calibrate\",\"n\":%ld,\"standinPairNs\":%.1f,\"driverPairNs\":%.1f}\n", n,
	       standin, driver);
}

/*
 * Host: a FIONREAD pair, and the stand-in device's own work per LOCK +
 * UNLOCK (standin-device.h on a control page, no syscall). The calibrated
 * weight counts the driver's work in its syscalls already: the bench takes
 * this work off the weight, so a stand-in LOCK + UNLOCK (the weighted
 * syscalls, then this work) costs what the driver's does.
 */
static void standin_work(long n)
{
	uint8_t *data;
	struct kshm_ctrl *c = host_region(&data);
	struct kshm_lock_req req = { .flags = KSHM_LOCK_TRY };
	double pair = 0, work = 0;
	uint64_t t0;

	for (int round = 0; round < 2; round++) {	/* the first round warms up */
		pair = fionread_pair_ns(n);
		t0 = now_ns();
		for (long i = 0; i < n; i++) {
			if (standin_lock(c, 1, &req) || standin_unlock(c, 1, KSHM_UNLOCK_COMMIT))
				die("stand-in device");
		}
		work = (double)(now_ns() - t0) / n;
	}
	printf("{\"mode\":\"standin-work\",\"n\":%ld,\"pairNs\":%.1f,\"workNs\":%.1f}\n", n, pair, work);
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

static void region_lock(void *r)
{
	lock(r);
}

static void region_unlock(void *r)
{
	unlock(r);
}

static void writer(long n, struct pace *p, long off)
{
	struct region r = open_device();

	write_samples("writer", n, off, p, &(struct committer){ region_lock, region_unlock, &r, r.data });
}

/*
 * Stamps each commit after its seqcount copy, then consumes the wake-up
 * (read(): the generation seen), as the library's subscriber does; a commit
 * made meanwhile is read again at once.
 */
static void poll_latency(long n, long off, const char *ack)
{
	struct region r = open_device();
	struct pollfd pfd = { .fd = r.fd, .events = POLLIN };
	struct sampler sm = sampler_open(ack, n);
	bool more = true;

	if ((size_t)off + 24 > r.size)
		die("sample offset");
	/* read() only consumes: nothing new (taken by the read before) is EAGAIN, never a wait. */
	if (fcntl(r.fd, F_SETFL, fcntl(r.fd, F_GETFL) | O_NONBLOCK))
		die("O_NONBLOCK");
	printf("ready\n");	/* the orchestrator starts the writer now */
	while (more && poll(&pfd, 1, 10000) > 0) {
		uint32_t seq;

		do {
			uint64_t g, v[3], gen = seq_copy(v, r.data + off, sizeof(v), r.ctrl, &seq);

			more = sampler_take(&sm, v, gen, now_ns());
			if (read(r.fd, &g, sizeof(g)) != sizeof(g) && errno != EAGAIN)
				die("read");
		} while (more && __atomic_load_n(&r.ctrl->seq, __ATOMIC_ACQUIRE) != seq);
	}
	sampler_print(&sm, "poll-latency", 24);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	long a = argc > 2 ? atol(argv[2]) : 0, b = argc > 3 ? atol(argv[3]) : 0;
	long c = argc > 4 ? atol(argv[4]) : 0;
	/* The writers' pacing: [READERS ACKS TIMEOUT_MS] after their other arguments. */
	struct pace p = pace_open(b, argc, argv, !strcmp(mode, "lib-writer") ? 6 : 5);

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(mode, "txn-standin"))
		txn_standin(a);
	else if (!strcmp(mode, "standin-work"))
		standin_work(a);
	else if (!strcmp(mode, "txn-fast"))
		txn_fast(a);
	else if (!strcmp(mode, "snapshot"))
		snapshot(a);
	else if (!strcmp(mode, "txn"))
		txn(a);
	else if (!strcmp(mode, "contend"))
		contend(atof(argv[2]), (int)b);
	else if (!strcmp(mode, "writer"))
		writer(a, &p, c);
	else if (!strcmp(mode, "poll-latency"))
		poll_latency(a, b, argc > 4 ? argv[4] : NULL);
	else if (!strcmp(mode, "snapshot-malloc"))
		snapshot_malloc(a, b, c);
	else if (!strcmp(mode, "txn-lib"))
		txn_lib(a, argc > 3 ? argv[3] : NULL);
	else if (!strcmp(mode, "contend-lib") || !strcmp(mode, "contend-card"))
		contend_lib((int)b, argc > 4 ? argv[4] : NULL, !strcmp(mode, "contend-card"));
	else if (!strcmp(mode, "lib-writer"))
		lib_writer(a, argc > 5 ? argv[5] : NULL, &p, c);
	else if (!strcmp(mode, "lib-poll-latency"))
		lib_poll_latency(a, b, argc > 4 ? argv[4] : NULL, argc > 5 ? argv[5] : NULL,
				 argc > 6 && !strcmp(argv[6], "whole"));
	else if (!strcmp(mode, "calibrate"))
		calibrate(a);
	else {
		fprintf(stderr, "usage: baseline txn-standin|snapshot|txn|contend|writer|poll-latency ...\n");
		return 2;
	}
	return 0;
}
