// SPDX-License-Identifier: GPL-2.0
/*
 * adversary_events_test: attacks the EVENTS section of
 * driver/include/uapi/kshm.h (the ring of records, KSHM_IOC_EMIT,
 * KSHM_IOC_EVENTS, poll for records, module parameter ring=), written from
 * that header (and issue 22) alone. Runs in a guest as root with kshm loaded.
 *
 *   adversary_events_test            full suite (needs a ring: ring=N, N >= 16)
 *   adversary_events_test noring     the module was loaded without a ring
 *   adversary_events_test layout N   quick checks for a module loaded with ring=N
 *
 * One line per check (PASS/FAIL with the numbers), exit 1 on any FAIL.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../driver/include/uapi/kshm.h"

#define PARAM_RING	"/sys/module/kshm/parameters/ring"
#define PARAM_TICK	"/sys/module/kshm/parameters/tick_ms"
#define ACQ		__ATOMIC_ACQUIRE
#define RLX		__ATOMIC_RELAXED

static int n_pass, n_fail;
static const char *cur = "";

static void check(int ok, const char *fmt, ...)
{
	va_list ap;

	if (ok)
		n_pass++;
	else
		n_fail++;
	printf("%s [%s] ", ok ? "PASS" : "FAIL", cur);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static void note(const char *fmt, ...)
{
	va_list ap;

	printf("  . ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static void on_alarm(int sig)
{
	char buf[200];
	int n = snprintf(buf, sizeof(buf), "FAIL [%s] watchdog: section hung\n", cur);

	(void)sig;
	if (write(1, buf, n) < 0)
		_exit(3);
	kill(0, SIGKILL);
	_exit(2);
}

static void section(const char *name, unsigned int secs)
{
	cur = name;
	printf("\n== %s\n", name);
	fflush(stdout);
	alarm(secs);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void msleep(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ------------------------------------------------------------------ */
/* the device                                                           */

struct ring {
	int fd;
	size_t ps;
	struct kshm_header *hdr;
	struct kshm_ring_hdr *rh;
	char *slots;
	uint32_t n, ssz;
	size_t map_len;
};

static struct ring R;
static uint64_t SH_start;

static int xopen(int flags)
{
	int fd = open(KSHM_DEVICE_PATH, flags | O_CLOEXEC);

	if (fd < 0) {
		perror("open /dev/kshm");
		exit(2);
	}
	return fd;
}

/* Maps the header page and the ring (read-only) of an open file. */
static int map_ring(struct ring *r, int fd)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->ps = sysconf(_SC_PAGESIZE);
	r->hdr = mmap(NULL, r->ps, PROT_READ, MAP_SHARED, fd, 0);
	if (r->hdr == MAP_FAILED) {
		perror("mmap header");
		exit(2);
	}
	if (!(r->hdr->features & KSHM_FEAT_RING))
		return -1;
	r->map_len = r->hdr->ring_size;
	r->rh = mmap(NULL, r->map_len, PROT_READ, MAP_SHARED, fd, r->hdr->ring_offset);
	if (r->rh == MAP_FAILED) {
		printf("mmap ring: %s\n", strerror(errno));
		exit(2);
	}
	r->n = r->hdr->ring_records;
	r->ssz = r->hdr->ring_slot_size;
	r->slots = (char *)r->rh + r->rh->slots_offset;
	return 0;
}

static int emit_req(int fd, struct kshm_emit_req *q)
{
	return ioctl(fd, KSHM_IOC_EMIT, q) ? errno : 0;
}

static int emit(int fd, uint32_t type, const void *data, uint32_t len, uint64_t *seq)
{
	struct kshm_emit_req q = { .type = type, .len = len, .data = (uintptr_t)data };
	int e = emit_req(fd, &q);

	if (!e && seq)
		*seq = q.seq;
	return e;
}

static int events(int fd, uint64_t pos, uint32_t flags, uint64_t *head)
{
	struct kshm_events_req q = { .pos = pos, .flags = flags };

	if (ioctl(fd, KSHM_IOC_EVENTS, &q))
		return errno;
	if (head)
		*head = q.head;
	return 0;
}

static struct kshm_info info(int fd)
{
	struct kshm_info i;

	memset(&i, 0, sizeof(i));
	if (ioctl(fd, KSHM_IOC_INFO, &i))
		perror("KSHM_IOC_INFO");
	return i;
}

static uint64_t head(void)
{
	return __atomic_load_n(&R.rh->head, ACQ);
}

static short pollev(int fd, short want, int ms)
{
	struct pollfd p = { .fd = fd, .events = want };
	int n = poll(&p, 1, ms);

	return n > 0 ? p.revents : (n < 0 ? -1 : 0);
}

static const char *en(int e)
{
	static char buf[8][32];
	static int i;

	i = (i + 1) & 7;
	if (!e)
		return "0";
	snprintf(buf[i], sizeof(buf[i]), "%s", strerrorname_np(e) ? strerrorname_np(e) : "?");
	return buf[i];
}

/* ------------------------------------------------------------------ */
/* the reader protocol, exactly as the header writes it                 */

struct rec {
	uint64_t seq, time_ns, lost;
	uint32_t type;
	uint16_t len, flags;
	uint8_t data[KSHM_EV_MAX_DATA];
};

struct reader {
	uint64_t pos, lost;
	uint64_t overruns;		/* times the overrun path ran */
	uint64_t bogus_overruns;	/* slot below pos (not BUSY) while pos < head */
	uint64_t bad_len;		/* len > KSHM_EV_MAX_DATA in a checked record */
};

static struct kshm_event *slot_of(struct ring *r, uint64_t seq)
{
	return (struct kshm_event *)(r->slots + (seq & (r->n - 1)) * (size_t)r->ssz);
}

/* 1: a record delivered in *o; 0: nothing new (pos == head). */
static int rd_next(struct ring *r, struct reader *d, struct rec *o)
{
	uint64_t N = r->n;

	for (;;) {
		uint64_t h = __atomic_load_n(&r->rh->head, ACQ), s, s2, lo, np;
		struct kshm_event *sl;

		if (d->pos >= h)
			return 0;
		if (h - d->pos > N) {
			d->lost += h - N - d->pos;
			d->pos = h - N;
		}
		sl = slot_of(r, d->pos);
		s = __atomic_load_n(&sl->seq, ACQ);
		if (s != d->pos)
			goto overrun;
		o->time_ns = __atomic_load_n(&sl->time_ns, RLX);
		o->type = __atomic_load_n(&sl->type, RLX);
		o->len = __atomic_load_n(&sl->len, RLX);
		o->flags = __atomic_load_n(&sl->flags, RLX);
		for (unsigned int i = 0; i < KSHM_EV_MAX_DATA; i++)
			o->data[i] = __atomic_load_n(&sl->data[i], RLX);
		__atomic_thread_fence(ACQ);
		s2 = __atomic_load_n(&sl->seq, RLX);
		if (s2 != d->pos) {
			s = s2;
			goto overrun;
		}
		if (o->len > KSHM_EV_MAX_DATA)
			d->bad_len++;
		o->seq = d->pos;
		o->lost = d->lost;
		d->lost = 0;
		d->pos++;
		return 1;
overrun:
		d->overruns++;
		if (s != KSHM_EV_BUSY && s < d->pos)
			d->bogus_overruns++;	/* the header: pos < head => slot written */
		h = __atomic_load_n(&r->rh->head, ACQ);
		lo = h > N ? h - N : 0;
		np = d->pos + 1 > lo ? d->pos + 1 : lo;
		d->lost += np - d->pos;
		d->pos = np;
	}
}

/* A payload that proves its own integrity: producer id, counter. */
static void fill(uint8_t *b, uint32_t id, uint32_t c, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		b[i] = (uint8_t)(id * 31 + c * 7 + i * 13 + 1);
}

static int intact(const struct rec *o, uint32_t *id, uint32_t *c)
{
	uint8_t b[KSHM_EV_MAX_DATA];

	*id = o->type >> 20;
	*c = o->type & 0xfffff;
	if (o->len != *c % (KSHM_EV_MAX_DATA + 1) || o->flags != KSHM_EV_USER)
		return 0;
	fill(b, *id, *c, o->len);
	if (memcmp(b, o->data, o->len))
		return 0;
	for (unsigned int i = o->len; i < KSHM_EV_MAX_DATA; i++)
		if (o->data[i])
			return 0;
	return 1;
}

/* ------------------------------------------------------------------ */
/* layout                                                               */

static void t_layout(uint32_t want_records)
{
	struct kshm_header *h = R.hdr;
	struct kshm_ring_hdr *rh = R.rh;
	struct kshm_info in = info(R.fd);
	size_t need;
	int zero = 1;

	section("layout", 20);
	check(h->features & KSHM_FEAT_RING, "hdr->features has KSHM_FEAT_RING (features %#x)", h->features);
	check(in.features & KSHM_FEAT_RING, "INFO features has KSHM_FEAT_RING (%#x)", in.features);
	check(h->ring_offset == h->ctrl_offset + h->page_size,
	      "ring_offset = ctrl_offset + page_size (%llu, %llu + %u)",
	      (unsigned long long)h->ring_offset, (unsigned long long)h->ctrl_offset, h->page_size);
	check(h->ring_offset % R.ps == 0, "ring_offset page-aligned");
	check(h->ring_records && !(h->ring_records & (h->ring_records - 1)) &&
	      h->ring_records <= KSHM_RING_MAX_RECORDS,
	      "ring_records a power of two in 1..%u (%u)", KSHM_RING_MAX_RECORDS, h->ring_records);
	if (want_records)
		check(h->ring_records == want_records, "ring_records == ring= (%u, want %u)",
		      h->ring_records, want_records);
	check(h->ring_slot_size >= sizeof(struct kshm_event) && h->ring_slot_size % 8 == 0,
	      "ring_slot_size >= sizeof(struct kshm_event) (%u >= %zu), 8-aligned", h->ring_slot_size,
	      sizeof(struct kshm_event));
	need = h->page_size + (size_t)h->ring_records * h->ring_slot_size;
	/* the header says "ring_size bytes: one page ..., then ring_records slots";
	 * mmap needs whole pages, so accept that rounded up (reported as ambiguous) */
	check(h->ring_size == ((need + R.ps - 1) & ~(R.ps - 1)),
	      "ring_size == one page + records * slot_size, rounded up to a page (%llu, exact %zu)",
	      (unsigned long long)h->ring_size, need);
	if (h->ring_size != need)
		note("ring_size %llu != page + records * slot_size = %zu: the header does not say it is rounded",
		     (unsigned long long)h->ring_size, need);
	/* the tail past the last slot is 0 */
	{
		const uint8_t *p = (const uint8_t *)R.slots + (size_t)R.n * R.ssz;
		size_t nz = 0, tail = h->ring_size - need;

		for (size_t i = 0; i < tail && need <= h->ring_size; i++)
			nz += p[i] != 0;
		check(nz == 0, "bytes past the last slot (%zu) are 0 (%zu non-zero)", tail, nz);
	}
	check(h->ring_size % R.ps == 0, "ring_size a multiple of the page size (%llu)",
	      (unsigned long long)h->ring_size);
	check(rh->records == h->ring_records && rh->slot_size == h->ring_slot_size,
	      "ring_hdr records/slot_size mirror the header (%u/%u vs %u/%u)", rh->records,
	      rh->slot_size, h->ring_records, h->ring_slot_size);
	check(rh->slots_offset == h->page_size, "slots_offset == page_size (%llu)",
	      (unsigned long long)rh->slots_offset);
	for (int i = 0; i < 4; i++)
		zero &= rh->reserved[i] == 0;
	for (int i = 0; i < 3; i++)
		zero &= h->reserved[i] == 0;
	check(zero, "reserved fields of kshm_header and kshm_ring_hdr are 0");
	check(rh->head == in.events, "ring_hdr->head == kshm_info.events (%llu, %llu)",
	      (unsigned long long)rh->head, (unsigned long long)in.events);
	check(rh->wakeups == in.event_wakeups, "ring_hdr->wakeups == kshm_info.event_wakeups (%llu, %llu)",
	      (unsigned long long)rh->wakeups, (unsigned long long)in.event_wakeups);
	/* the rest of the header page of the ring is part of it: no garbage */
	{
		const uint8_t *p = (const uint8_t *)rh + sizeof(*rh);
		size_t nz = 0;

		for (size_t i = 0; i < R.ps - sizeof(*rh); i++)
			nz += p[i] != 0;
		check(nz == 0, "bytes after struct kshm_ring_hdr in its page are 0 (%zu non-zero)", nz);
	}
	/* slots never published hold nothing that passes the protocol */
	{
		uint64_t hd = head(), bad = 0, unwritten = 0, zero = 0;

		for (uint64_t s = 0; s < R.n; s++) {
			struct kshm_event *e = slot_of(&R, s);

			if (s >= hd) {	/* never written */
				unwritten++;
				zero += e->seq == 0;
				continue;
			}
			if (e->seq == KSHM_EV_BUSY || e->seq >= hd || (e->seq & (R.n - 1)) != s)
				bad++;
		}
		check(bad == 0, "written slots hold a seq < head in the right slot (%llu bad, head %llu)",
		      (unsigned long long)bad, (unsigned long long)hd);
		note("never-written slots: %llu, of which %llu hold seq 0 (header silent on their value)",
		     (unsigned long long)unwritten, (unsigned long long)zero);
	}
	{
		FILE *f = fopen(PARAM_RING, "r");
		long v = -1;

		if (f) {
			if (fscanf(f, "%ld", &v) != 1)
				v = -1;
			fclose(f);
		}
		check(v == (long)h->ring_records, "%s reads %ld (ring_records %u)", PARAM_RING, v,
		      h->ring_records);
		f = fopen(PARAM_RING, "w");
		if (f) {
			int wr = fprintf(f, "%u\n", h->ring_records * 2u) > 0;
			int cl = fclose(f);

			check(!(wr && cl == 0), "writing %s after load fails (\"at load only\")", PARAM_RING);
		} else {
			check(1, "writing %s after load fails (%s)", PARAM_RING, strerror(errno));
		}
		check(R.hdr->ring_records == h->ring_records, "ring_records unchanged");
	}
}

/* ------------------------------------------------------------------ */
/* mapping attacks                                                      */

static void t_mapping(void)
{
	struct kshm_header *h = R.hdr;
	off_t ro = h->ring_offset;
	size_t rs = h->ring_size, ps = R.ps;
	void *p;
	int e;

	section("mapping", 30);
#define TRYMAP(len, prot, flags, off, desc, want) do {				\
		p = mmap(NULL, len, prot, flags, R.fd, off);			\
		e = p == MAP_FAILED ? errno : 0;				\
		if (p != MAP_FAILED)						\
			munmap(p, len);						\
		check(e == (want), "%s: %s (want %s)", desc, en(e), en(want));	\
	} while (0)
	TRYMAP(rs, PROT_READ | PROT_WRITE, MAP_SHARED, ro, "ring RW MAP_SHARED", EACCES);
	TRYMAP(rs, PROT_READ | PROT_WRITE, MAP_PRIVATE, ro, "ring RW MAP_PRIVATE", EACCES);
	TRYMAP(ps, PROT_WRITE, MAP_SHARED, ro, "ring header page write-only", EACCES);
	TRYMAP(ps, PROT_READ | PROT_WRITE, MAP_SHARED, ro + rs - ps, "last ring page RW", EACCES);
	/* header: writable MAP_PRIVATE of header/ring pages EACCES, of data/ctrl only EINVAL */
	TRYMAP(ps, PROT_READ | PROT_WRITE, MAP_PRIVATE, 0, "header page RW MAP_PRIVATE", EACCES);
	TRYMAP(ps, PROT_READ | PROT_WRITE, MAP_PRIVATE, h->data_offset, "data page RW MAP_PRIVATE", EINVAL);
	TRYMAP(ps, PROT_READ | PROT_WRITE, MAP_PRIVATE, h->ctrl_offset, "ctrl page RW MAP_PRIVATE", EINVAL);
	TRYMAP(2 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE, h->ctrl_offset, "ctrl + ring page RW MAP_PRIVATE",
	       EACCES);
	TRYMAP(ps, PROT_READ | PROT_WRITE, MAP_SHARED, ro + ps, "first slot page RW", EACCES);
	TRYMAP(2 * ps, PROT_READ | PROT_WRITE, MAP_SHARED, h->ctrl_offset,
	       "ctrl page + ring page RW (ctrl alone is writable)", EACCES);
	TRYMAP(ps, PROT_READ | PROT_EXEC, MAP_SHARED, ro, "ring PROT_EXEC", EACCES);
	TRYMAP(ps, PROT_READ | PROT_EXEC, MAP_PRIVATE, ro + ps, "slots PROT_EXEC private", EACCES);
	TRYMAP(ro + rs, PROT_READ, MAP_SHARED, 0, "whole device read-only (header..ring end)", 0);
	TRYMAP(2 * ps, PROT_READ, MAP_SHARED, ro + rs - ps, "read-only past the ring's end", EINVAL);
	TRYMAP(ps, PROT_READ, MAP_SHARED, ro + rs, "read-only wholly past the ring", EINVAL);
	TRYMAP(ps, PROT_READ, MAP_PRIVATE, ro, "ring read-only MAP_PRIVATE", 0);
	/* the control page must still be writable for writers on its own */
	TRYMAP(ps, PROT_READ | PROT_WRITE, MAP_SHARED, h->ctrl_offset, "ctrl page alone RW (sanity)", 0);

	/* mprotect can never add write or exec */
	p = mmap(NULL, rs, PROT_READ, MAP_SHARED, R.fd, ro);
	if (p == MAP_FAILED) {
		check(0, "mmap ring RO: %s", strerror(errno));
		return;
	}
	e = mprotect(p, ps, PROT_READ | PROT_WRITE) ? errno : 0;
	check(e == EACCES, "mprotect(ring, RW) MAP_SHARED: %s (want EACCES)", en(e));
	e = mprotect((char *)p + ps, ps, PROT_READ | PROT_WRITE) ? errno : 0;
	check(e == EACCES, "mprotect(slot page, RW): %s (want EACCES)", en(e));
	e = mprotect(p, ps, PROT_READ | PROT_EXEC) ? errno : 0;
	check(e == EACCES, "mprotect(ring, EXEC): %s (want EACCES)", en(e));
	/* writes through /proc/self/mem (FOLL_FORCE) must not reach the ring */
	{
		int mfd = open("/proc/self/mem", O_RDWR);
		uint64_t junk = 0xdeadbeefdeadbeefull, before = R.rh->head;
		ssize_t w = -1;

		if (mfd >= 0) {
			w = pwrite(mfd, &junk, 8, (off_t)(uintptr_t)p);
			e = w < 0 ? errno : 0;
			close(mfd);
		} else {
			e = errno;
		}
		check(w != 8 && R.rh->head == before && ((struct kshm_ring_hdr *)p)->head == before,
		      "/proc/self/mem write into the ring refused (%zd, %s; head %llu)", w, en(e),
		      (unsigned long long)R.rh->head);
	}
	/* process_vm_writev (no FOLL_FORCE) must not write the ring either */
	{
		uint64_t junk = 0x1111111111111111ull, before = R.rh->head;
		struct iovec l = { &junk, 8 }, r = { p, 8 };
		ssize_t w = process_vm_writev(getpid(), &l, 1, &r, 1, 0);

		e = w < 0 ? errno : 0;
		check(w != 8 && R.rh->head == before, "process_vm_writev into the ring refused (%zd, %s)", w, en(e));
	}
	/* vmsplice of ring pages into a pipe: whatever happens, the bytes are the ring's */
	{
		int pp[2];
		struct iovec v = { p, 64 };
		char back[64];

		if (!pipe(pp)) {
			ssize_t n = vmsplice(pp[1], &v, 1, 0);

			e = n < 0 ? errno : 0;
			note("vmsplice(ring page) into a pipe: %zd (%s)", n, en(e));
			if (n == 64) {
				check(read(pp[0], back, 64) == 64 && !memcmp(back, p, 16),
				      "the spliced bytes are the ring header");
			}
			close(pp[0]);
			close(pp[1]);
		}
	}
	/* mremap: growing fails with EFAULT (ERRORS COMMON) */
	{
		void *q = mremap(p, rs, rs + ps, MREMAP_MAYMOVE);

		e = q == MAP_FAILED ? errno : 0;
		check(q == MAP_FAILED && e == EFAULT, "mremap grow ring mapping: %s (want EFAULT)", en(e));
		if (q != MAP_FAILED) {
			p = q;
			rs += ps;
		}
		q = mremap(p, ps, ps, MREMAP_MAYMOVE | MREMAP_FIXED,
			   (char *)mmap(NULL, ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
		note("mremap move one ring page: %s", q == MAP_FAILED ? strerror(errno) : "ok");
		if (q != MAP_FAILED) {
			check(((struct kshm_ring_hdr *)q)->records == R.n,
			      "a moved ring page still shows the ring header");
			munmap(q, ps);
		}
	}
	munmap(p, rs);

	/* MAP_PRIVATE read-only: mprotect to write must fail too */
	p = mmap(NULL, rs, PROT_READ, MAP_PRIVATE, R.fd, ro);
	if (p != MAP_FAILED) {
		e = mprotect(p, rs, PROT_READ | PROT_WRITE) ? errno : 0;
		check(e == EACCES, "mprotect(MAP_PRIVATE ring, RW): %s (want EACCES)", en(e));
		if (!e) {
			char was = ((volatile char *)R.rh)[ps + 100];

			((volatile char *)p)[ps + 100] = (char)~was;	/* a COW copy at most */
			check(((volatile char *)R.rh)[ps + 100] == was,
			      "the private write did not reach the shared ring");
		}
		munmap(p, rs);
	}

	/* a read-only opener maps the ring too */
	{
		int rfd = xopen(O_RDONLY);

		p = mmap(NULL, rs, PROT_READ, MAP_SHARED, rfd, ro);
		e = p == MAP_FAILED ? errno : 0;
		check(!e, "O_RDONLY opener maps the ring read-only: %s", en(e));
		if (!e) {
			check(((struct kshm_ring_hdr *)p)->head == R.rh->head,
			      "...and sees the same head");
			munmap(p, rs);
		}
		p = mmap(NULL, rs, PROT_READ | PROT_WRITE, MAP_SHARED, rfd, ro);
		e = p == MAP_FAILED ? errno : 0;
		check(e == EACCES, "O_RDONLY opener, ring RW: %s (want EACCES)", en(e));
		close(rfd);
	}

	/* MADV_DONTNEED then re-read: the same contents (records refault) */
	{
		uint64_t s;
		uint8_t b[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

		emit(R.fd, 77, b, 8, &s);
		p = mmap(NULL, rs, PROT_READ, MAP_SHARED, R.fd, ro);
		if (p != MAP_FAILED) {
			struct kshm_event *e1 = (struct kshm_event *)((char *)p + ps +
						(s & (R.n - 1)) * (size_t)R.ssz);
			uint64_t before = e1->seq;

			e = madvise(p, rs, MADV_DONTNEED) ? errno : 0;
			check(!e && e1->seq == before && before == s && e1->type == 77,
			      "after MADV_DONTNEED the record refaults (seq %llu, want %llu; %s)",
			      (unsigned long long)e1->seq, (unsigned long long)s, en(e));
			munmap(p, rs);
		}
	}
	/* the mapping outlives the file: close, then read records */
	{
		int fd2 = xopen(O_RDWR);
		uint64_t s;

		p = mmap(NULL, rs, PROT_READ, MAP_SHARED, fd2, ro);
		close(fd2);
		emit(R.fd, 78, "x", 1, &s);
		if (p != MAP_FAILED) {
			check(((struct kshm_ring_hdr *)p)->head == s + 1,
			      "ring mapped by a closed file still follows head (%llu, want %llu)",
			      (unsigned long long)((struct kshm_ring_hdr *)p)->head,
			      (unsigned long long)s + 1);
			munmap(p, rs);
		}
	}
#undef TRYMAP
}

/* ------------------------------------------------------------------ */
/* EMIT: every bad argument                                             */

static void *ro_page(const void *init, size_t len)
{
	void *p = mmap(NULL, R.ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	memcpy(p, init, len);
	mprotect(p, R.ps, PROT_READ);
	return p;
}

static void t_emit_errors(void)
{
	int rfd = xopen(O_RDONLY), e;
	uint64_t h0, ev0;
	struct kshm_emit_req q;
	uint8_t buf[256];
	void *none;
	char *two;

	section("emit errors", 30);
	memset(buf, 0xab, sizeof(buf));
	h0 = head();
	ev0 = info(R.fd).events;
#define EXPECT(fd, qq, want, desc) do {						\
		e = emit_req(fd, qq);						\
		check(e == (want) && head() == h0, "EMIT %s: %s (want %s), head %llu (was %llu)", \
		      desc, en(e), en(want), (unsigned long long)head(), (unsigned long long)h0); \
	} while (0)
	q = (struct kshm_emit_req){ .type = 1, .len = 4, .data = (uintptr_t)buf };
	EXPECT(rfd, &q, EBADF, "on an O_RDONLY file");
	e = ioctl(rfd, KSHM_IOC_EMIT, NULL) ? errno : 0;
	check(e == EBADF, "EMIT O_RDONLY + NULL struct: %s (want EBADF: checked first)", en(e));
	e = ioctl(R.fd, KSHM_IOC_EMIT, NULL) ? errno : 0;
	check(e == EFAULT && head() == h0, "EMIT NULL struct: %s (want EFAULT)", en(e));
	e = ioctl(R.fd, KSHM_IOC_EMIT, (void *)0xffffffff81000000ul) ? errno : 0;
	check(e == EFAULT && head() == h0, "EMIT kernel-address struct: %s (want EFAULT)", en(e));
	for (int b = 0; b < 32; b++) {
		q = (struct kshm_emit_req){ .len = 4, .data = (uintptr_t)buf, .flags = 1u << b };
		e = emit_req(R.fd, &q);
		if (e != EINVAL || head() != h0) {
			check(0, "EMIT flags bit %d: %s (want EINVAL)", b, en(e));
			break;
		}
		if (b == 31)
			check(1, "EMIT each of the 32 flag bits: EINVAL, nothing published");
	}
	q = (struct kshm_emit_req){ .len = 4, .data = (uintptr_t)buf, .reserved = 1 };
	EXPECT(R.fd, &q, EINVAL, "reserved=1");
	q = (struct kshm_emit_req){ .len = 4, .data = (uintptr_t)buf, .reserved = 0x80000000u };
	EXPECT(R.fd, &q, EINVAL, "reserved=0x80000000");
	q = (struct kshm_emit_req){ .len = 200, .data = 0, .flags = 1 };
	EXPECT(R.fd, &q, EINVAL, "flags=1 with len 200 and NULL data (EINVAL before EMSGSIZE)");
	q = (struct kshm_emit_req){ .len = KSHM_EV_MAX_DATA + 1, .data = (uintptr_t)buf };
	EXPECT(R.fd, &q, EMSGSIZE, "len 105");
	q = (struct kshm_emit_req){ .len = 0xffffffffu, .data = (uintptr_t)buf };
	EXPECT(R.fd, &q, EMSGSIZE, "len 0xffffffff");
	q = (struct kshm_emit_req){ .len = 0x10000 + 4, .data = (uintptr_t)buf };
	EXPECT(R.fd, &q, EMSGSIZE, "len 0x10004 (truncates to 4 in a __u16)");
	q = (struct kshm_emit_req){ .len = 0x10000, .data = (uintptr_t)buf };
	EXPECT(R.fd, &q, EMSGSIZE, "len 0x10000 (truncates to 0)");
	q = (struct kshm_emit_req){ .len = KSHM_EV_MAX_DATA + 1, .data = 0 };
	EXPECT(R.fd, &q, EMSGSIZE, "len 105 + NULL data (EMSGSIZE before EFAULT)");
	q = (struct kshm_emit_req){ .len = 1, .data = 0 };
	EXPECT(R.fd, &q, EFAULT, "len 1 + NULL data");
	q = (struct kshm_emit_req){ .len = 8, .data = 0xffff888000000000ull };
	EXPECT(R.fd, &q, EFAULT, "data = kernel direct map address");
	q = (struct kshm_emit_req){ .len = 8, .data = 0x8000000000000000ull };
	EXPECT(R.fd, &q, EFAULT, "data non-canonical");
	q = (struct kshm_emit_req){ .len = 8, .data = ~0ull - 3 };
	EXPECT(R.fd, &q, EFAULT, "data wraps the address space");
	none = mmap(NULL, R.ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	q = (struct kshm_emit_req){ .len = 8, .data = (uintptr_t)none };
	EXPECT(R.fd, &q, EFAULT, "data in a PROT_NONE page");
	two = mmap(NULL, 2 * R.ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(two + R.ps, R.ps);
	q = (struct kshm_emit_req){ .len = 2, .data = (uintptr_t)(two + R.ps - 1) };
	EXPECT(R.fd, &q, EFAULT, "data's last byte unmapped");
	q = (struct kshm_emit_req){ .len = KSHM_EV_MAX_DATA, .data = (uintptr_t)(two + R.ps - 100) };
	EXPECT(R.fd, &q, EFAULT, "data 104 bytes, last 4 unmapped");
	/* the struct readable but unwritable: EFAULT, nothing published */
	q = (struct kshm_emit_req){ .type = 9, .len = 4, .data = (uintptr_t)buf };
	{
		struct kshm_emit_req *rq = ro_page(&q, sizeof(q));

		EXPECT(R.fd, rq, EFAULT, "struct in a read-only page");
		munmap(rq, R.ps);
		q.len = 300;
		rq = ro_page(&q, sizeof(q));
		EXPECT(R.fd, rq, EMSGSIZE, "struct read-only + len 300 (EMSGSIZE before EFAULT)");
		munmap(rq, R.ps);
		q.len = 4;
		q.flags = 2;
		rq = ro_page(&q, sizeof(q));
		EXPECT(R.fd, rq, EINVAL, "struct read-only + flags 2 (EINVAL before EFAULT)");
		munmap(rq, R.ps);
		q.flags = 0;
	}
	/* the struct straddles a page edge: seq (the out field) in a read-only page */
	{
		char *pp = mmap(NULL, 2 * R.ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		struct kshm_emit_req *sq = (void *)(pp + R.ps - offsetof(struct kshm_emit_req, seq));

		*sq = q;
		mprotect(pp + R.ps, R.ps, PROT_READ);
		EXPECT(R.fd, sq, EFAULT, "struct whose seq field is in a read-only page");
		mprotect(pp + R.ps, R.ps, PROT_NONE);
		EXPECT(R.fd, sq, EFAULT, "struct whose seq field is in a PROT_NONE page");
		munmap(pp, 2 * R.ps);
	}
	check(info(R.fd).events == ev0, "kshm_info.events unchanged by all the failures (%llu, %llu)",
	      (unsigned long long)info(R.fd).events, (unsigned long long)ev0);

	/* things that must work */
	{
		uint64_t s = 1234567;
		const void *rod = ro_page("readonly", 8);

		e = emit(R.fd, 5, NULL, 0, &s);
		check(!e && s == h0, "EMIT len 0, data NULL: %s, seq %llu (want %llu)", en(e),
		      (unsigned long long)s, (unsigned long long)h0);
		e = emit(R.fd, 5, rod, 8, &s);
		check(!e && s == h0 + 1, "EMIT from read-only bytes: %s, seq %llu", en(e),
		      (unsigned long long)s);
		e = emit(R.fd, 0, buf, KSHM_EV_MAX_DATA, &s);
		check(!e && s == h0 + 2, "EMIT len 104, type 0: %s", en(e));
		/* the bytes are the ring itself (a device mapping, maybe not yet faulted in) */
		{
			void *fr = mmap(NULL, R.map_len, PROT_READ, MAP_SHARED, R.fd, R.hdr->ring_offset);

			e = emit(R.fd, 6, (char *)fr + R.ps, KSHM_EV_MAX_DATA, &s);
			check(!e && s == h0 + 3, "EMIT whose bytes are in an unfaulted ring mapping: %s", en(e));
			e = emit(R.fd, 6, R.hdr, KSHM_EV_MAX_DATA, &s);
			check(!e, "EMIT whose bytes are the header page: %s", en(e));
			munmap(fr, R.map_len);
		}
		e = emit(R.fd, 7, buf, 1, (uint64_t *)&s);
		check(!e && head() == s + 1, "head == seq + 1 after EMIT (%llu, %llu)",
		      (unsigned long long)head(), (unsigned long long)s);
		/* ioctl with the struct shared with a racing munmap: no crash */
		munmap((void *)rod, R.ps);
	}
	/* EMIT ioctl numbers with a wrong size/direction are not EMIT */
	{
		uint64_t hb = head();
		unsigned long bad = _IOW(KSHM_IOC_MAGIC, 6, struct kshm_emit_req);

		q = (struct kshm_emit_req){ .len = 1, .data = (uintptr_t)buf };
		e = ioctl(R.fd, bad, &q) ? errno : 0;
		check(e && head() == hb, "ioctl _IOW(6) (wrong direction): %s, nothing published", en(e));
		e = ioctl(R.fd, _IOWR(KSHM_IOC_MAGIC, 6, uint64_t), &q) ? errno : 0;
		check(e && head() == hb, "ioctl _IOWR(6, u64) (wrong size): %s, nothing published", en(e));
	}
	munmap(none, R.ps);
	munmap(two, R.ps);
	close(rfd);
#undef EXPECT
}

/* record contents, zeroed tail, time, flags */
static void t_emit_contents(void)
{
	uint8_t full[KSHM_EV_MAX_DATA], small[3] = { 0x11, 0x22, 0x33 };
	uint64_t s, t0, t1, prev = 0;
	struct reader rd;
	struct rec o;
	int bad = 0, rfd = xopen(O_RDONLY);

	section("emit contents", 60);
	memset(full, 0xff, sizeof(full));
	/* fill every slot with full records, then a short one lands on a used slot */
	for (uint32_t i = 0; i < R.n + 1; i++)
		emit(R.fd, 0xffffffffu, full, sizeof(full), NULL);
	t0 = now_ns();
	emit(R.fd, 0xabcdef01u, small, 3, &s);
	t1 = now_ns();
	rd = (struct reader){ .pos = s };
	if (rd_next(&R, &rd, &o) != 1) {
		check(0, "record %llu readable", (unsigned long long)s);
		return;
	}
	check(o.seq == s && o.type == 0xabcdef01u && o.len == 3 && !memcmp(o.data, small, 3),
	      "record fields (type %#x len %u)", o.type, o.len);
	check(o.flags == KSHM_EV_USER, "flags == KSHM_EV_USER for an EMIT (%#x)", o.flags);
	for (unsigned int i = 3; i < KSHM_EV_MAX_DATA; i++)
		bad += o.data[i] != 0;
	check(bad == 0, "bytes of data[] past len are 0 on a reused slot (%d non-zero)", bad);
	check(o.time_ns >= t0 && o.time_ns <= t1, "time_ns in [before, after] EMIT (%llu in %llu..%llu)",
	      (unsigned long long)o.time_ns, (unsigned long long)t0, (unsigned long long)t1);
	/* the bytes of the slot beyond struct kshm_event (slot padding) are 0 too */
	{
		const uint8_t *sl = (const uint8_t *)slot_of(&R, s);
		int nz = 0;

		for (size_t i = sizeof(struct kshm_event); i < R.ssz; i++)
			nz += sl[i] != 0;
		check(nz == 0, "slot padding past struct kshm_event is 0 (%d)", nz);
	}
	/* seq stored; a read-only file sees the same record */
	rd = (struct reader){ .pos = head() - (R.n > 8 ? 8 : R.n) };
	bad = 0;
	while (rd_next(&R, &rd, &o) == 1) {
		if (o.time_ns < prev)
			bad++;
		prev = o.time_ns;
	}
	check(bad == 0, "time_ns non-decreasing over the last records");
	close(rfd);
}

/* ------------------------------------------------------------------ */
/* EVENTS errors                                                        */

static void t_events_errors(void)
{
	int rfd = xopen(O_RDONLY), e;
	struct kshm_events_req q;
	uint64_t h;

	section("events errors", 30);
	e = ioctl(R.fd, KSHM_IOC_EVENTS, NULL) ? errno : 0;
	check(e == EFAULT, "EVENTS NULL: %s (want EFAULT)", en(e));
	for (int b = 1; b < 32; b++) {
		q = (struct kshm_events_req){ .pos = 0, .flags = 1u << b };
		e = ioctl(R.fd, KSHM_IOC_EVENTS, &q) ? errno : 0;
		if (e != EINVAL) {
			check(0, "EVENTS flags bit %d: %s (want EINVAL)", b, en(e));
			break;
		}
		if (b == 31)
			check(1, "EVENTS flag bits 1..31: EINVAL");
	}
	q = (struct kshm_events_req){ .reserved = 1 };
	e = ioctl(R.fd, KSHM_IOC_EVENTS, &q) ? errno : 0;
	check(e == EINVAL, "EVENTS reserved=1: %s", en(e));
	q = (struct kshm_events_req){ .reserved2 = 1ull << 63 };
	e = ioctl(R.fd, KSHM_IOC_EVENTS, &q) ? errno : 0;
	check(e == EINVAL, "EVENTS reserved2=1<<63: %s", en(e));
	q = (struct kshm_events_req){ .head = 0x1234 };
	e = ioctl(R.fd, KSHM_IOC_EVENTS, &q) ? errno : 0;
	check(e == 0 && q.head == head(), "EVENTS ignores the in-value of head (out field): %s", en(e));

	/* position not stored on EFAULT: register "from now", then fail with pos 0 */
	e = events(rfd, head(), 0, &h);
	check(!e && h == head(), "EVENTS on an O_RDONLY file: %s, head %llu", en(e),
	      (unsigned long long)h);
	q = (struct kshm_events_req){ .pos = 0 };
	{
		struct kshm_events_req *rq = ro_page(&q, sizeof(q));

		e = ioctl(rfd, KSHM_IOC_EVENTS, rq) ? errno : 0;
		check(e == EFAULT, "EVENTS struct read-only: %s (want EFAULT)", en(e));
		check(!(pollev(rfd, POLLPRI, 0) & POLLPRI),
		      "...and the position 0 was not stored (no EPOLLPRI)");
		munmap(rq, R.ps);
	}
	{
		char *pp = mmap(NULL, 2 * R.ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		struct kshm_events_req *sq = (void *)(pp + R.ps - offsetof(struct kshm_events_req, head));

		*sq = (struct kshm_events_req){ .pos = 0, .flags = KSHM_EVENTS_POLLIN };
		mprotect(pp + R.ps, R.ps, PROT_READ);
		e = ioctl(rfd, KSHM_IOC_EVENTS, sq) ? errno : 0;
		check(e == EFAULT, "EVENTS with head (out) in a read-only page: %s", en(e));
		check(!(pollev(rfd, POLLPRI | POLLIN, 0) & (POLLPRI | POLLIN)),
		      "...and neither position nor POLLIN mode stored");
		munmap(pp, 2 * R.ps);
	}
	/* any position is accepted */
	e = events(rfd, ~0ull, 0, &h);
	check(!e, "EVENTS pos = 2^64-1 accepted: %s", en(e));
	check(!(pollev(rfd, POLLPRI, 0) & POLLPRI), "pos 2^64-1 is not ready");
	e = events(rfd, KSHM_EV_BUSY - 1, KSHM_EVENTS_POLLIN, &h);
	check(!e && !(pollev(rfd, POLLPRI | POLLIN, 0) & (POLLPRI | POLLIN)),
	      "pos 2^64-2 accepted, not ready: %s", en(e));
	e = events(rfd, 0, 0, &h);
	check(!e && (pollev(rfd, POLLPRI, 0) & POLLPRI) == POLLPRI,
	      "pos 0 (oldest ever) with records published: EPOLLPRI (%s)", en(e));
	close(rfd);
}

/* ------------------------------------------------------------------ */
/* poll bits                                                            */

static void t_poll_bits(void)
{
	int fd = xopen(O_RDWR), fd2 = xopen(O_RDONLY);
	uint64_t h;
	short r;
	struct kshm_kwrite_req kw;
	uint8_t byte = 1;

	section("poll bits", 30);
	r = pollev(fd, POLLIN | POLLPRI | POLLRDBAND | POLLRDNORM, 0);
	emit(R.fd, 1, "a", 1, NULL);
	r = pollev(fd, POLLIN | POLLPRI | POLLRDBAND | POLLRDNORM, 0);
	check(r == 0, "records do not make a non-reader file readable (revents %#x)", r);
	events(fd, head(), 0, &h);
	r = pollev(fd, POLLIN | POLLPRI | POLLRDBAND | POLLRDNORM | POLLOUT, 0);
	check(!(r & (POLLIN | POLLPRI | POLLRDBAND | POLLRDNORM)),
	      "registered at head: nothing ready (revents %#x)", r);
	emit(R.fd, 1, "b", 1, NULL);
	r = pollev(fd, POLLIN | POLLPRI | POLLRDBAND | POLLRDNORM, 0);
	check((r & (POLLPRI | POLLRDBAND)) == (POLLPRI | POLLRDBAND) && !(r & (POLLIN | POLLRDNORM)),
	      "after a record: EPOLLPRI|EPOLLRDBAND, not EPOLLIN (revents %#x)", r);
	/* commits still make it EPOLLIN without KSHM_EVENTS_POLLIN */
	kw = (struct kshm_kwrite_req){ .offset = 0, .data = (uintptr_t)&byte, .len = 1, .timeout_ms = 2000 };
	if (ioctl(R.fd, KSHM_IOC_KWRITE, &kw))
		note("KWRITE: %s", strerror(errno));
	r = pollev(fd, POLLIN | POLLRDNORM, 0);
	check((r & POLLIN) != 0, "without POLLIN mode a commit still gives EPOLLIN (revents %#x)", r);
	{
		uint64_t g;

		check(read(fd, &g, 8) == 8, "read() returns the generation");
	}
	/* POLLIN mode */
	events(fd, head(), KSHM_EVENTS_POLLIN, &h);
	if (ioctl(R.fd, KSHM_IOC_KWRITE, &kw))
		note("KWRITE: %s", strerror(errno));
	r = pollev(fd, POLLIN | POLLPRI | POLLRDNORM | POLLRDBAND, 0);
	check(r == 0, "POLLIN mode: a commit no longer makes it readable (revents %#x)", r);
	emit(R.fd, 1, "c", 1, NULL);
	r = pollev(fd, POLLIN | POLLPRI | POLLRDNORM | POLLRDBAND, 0);
	check((r & (POLLIN | POLLRDNORM | POLLPRI | POLLRDBAND)) ==
	      (POLLIN | POLLRDNORM | POLLPRI | POLLRDBAND),
	      "POLLIN mode, a record: EPOLLIN|EPOLLRDNORM|EPOLLPRI|EPOLLRDBAND (revents %#x)", r);
	/* read() still returns the generation, and does not change the position */
	{
		uint64_t g;
		int fl = fcntl(fd, F_GETFL);

		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
		errno = 0;
		ssize_t n = read(fd, &g, 8);

		note("read() in POLLIN mode with no new commit: %zd (%s)", n, n < 0 ? strerror(errno) : "ok");
		fcntl(fd, F_SETFL, fl);
		r = pollev(fd, POLLPRI, 0);
		check(r & POLLPRI, "read() does not consume records (revents %#x)", r);
	}
	/* POLLIN mode: readable for records, yet read() waits for a commit (documented trap) */
	{
		uint64_t g;
		int fl = fcntl(fd, F_GETFL);
		ssize_t n;

		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
		while (read(fd, &g, 8) == 8)
			;	/* generation seen */
		events(fd, head(), KSHM_EVENTS_POLLIN, &h);
		emit(R.fd, 1, "e", 1, NULL);
		r = pollev(fd, POLLIN, 0);
		errno = 0;
		n = read(fd, &g, 8);
		check((r & POLLIN) && n < 0 && errno == EAGAIN,
		      "POLLIN mode: EPOLLIN for a record, but read() O_NONBLOCK says EAGAIN (%#x, %zd %s)", r, n,
		      en(errno));
		fcntl(fd, F_SETFL, fl);
	}
	/* POLLIN mode: a sleeping poller is not woken by commits */
	{
		struct kshm_kwrite_req k2 = kw;
		uint64_t t;

		events(fd, head(), KSHM_EVENTS_POLLIN, &h);
		t = now_ns();
		if (fork() == 0) {
			msleep(300);
			ioctl(R.fd, KSHM_IOC_KWRITE, &k2);
			msleep(100);
			ioctl(R.fd, KSHM_IOC_KWRITE, &k2);
			_exit(0);
		}
		r = pollev(fd, POLLIN, 1500);
		wait(NULL);
		check(r == 0, "POLLIN mode: commits during a 1.5 s poll do not end it (revents %#x after %llu ms)",
		      r, (unsigned long long)(now_ns() - t) / 1000000);
	}
	/* re-register without POLLIN: mode reset (first see the commits made meanwhile) */
	events(fd, head(), 0, &h);
	{
		uint64_t g;
		int fl = fcntl(fd, F_GETFL);

		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
		while (read(fd, &g, 8) == 8)
			;
		fcntl(fd, F_SETFL, fl);
	}
	emit(R.fd, 1, "d", 1, NULL);
	r = pollev(fd, POLLIN | POLLPRI, 0);
	check(r == POLLPRI, "EVENTS without POLLIN resets the mode: a record gives only EPOLLPRI (%#x)", r);
	/* select(): EPOLLPRI is select's exceptfds */
	{
		fd_set rs, xs;
		struct timeval tv = { 0, 0 };
		int n;

		FD_ZERO(&rs);
		FD_ZERO(&xs);
		FD_SET(fd, &rs);
		FD_SET(fd, &xs);
		n = select(fd + 1, &rs, NULL, &xs, &tv);
		check(n >= 1 && FD_ISSET(fd, &xs), "select() reports the record in exceptfds (n %d, x %d, r %d)",
		      n, FD_ISSET(fd, &xs), FD_ISSET(fd, &rs));
	}
	/* exact readiness boundary: pos beyond head */
	h = head();
	events(fd, h + 3, 0, NULL);
	for (int i = 0; i < 3; i++) {
		emit(R.fd, 1, NULL, 0, NULL);
		r = pollev(fd, POLLPRI, 0);
		if (r & POLLPRI) {
			check(0, "pos = head+3: ready after %d records (head %llu)", i + 1,
			      (unsigned long long)head());
			break;
		}
	}
	emit(R.fd, 1, NULL, 0, NULL);
	r = pollev(fd, POLLPRI, 0);
	check(r & POLLPRI, "pos = head+3: ready exactly after the 4th record (head > pos) (%#x)", r);
	/* an O_RDONLY reader */
	events(fd2, head(), KSHM_EVENTS_POLLIN, NULL);
	emit(R.fd, 1, NULL, 0, NULL);
	r = pollev(fd2, POLLIN | POLLPRI, 0);
	check((r & (POLLIN | POLLPRI)) == (POLLIN | POLLPRI), "O_RDONLY reader polls records (%#x)", r);
	/* epoll */
	{
		int ep = epoll_create1(EPOLL_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLPRI | EPOLLET }, out;
		int n;

		events(fd, head(), 0, NULL);
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
		n = epoll_wait(ep, &out, 1, 0);
		check(n == 0, "epoll: nothing before a record (%d)", n);
		emit(R.fd, 1, NULL, 0, NULL);
		n = epoll_wait(ep, &out, 1, 1000);
		check(n == 1 && (out.events & EPOLLPRI), "epoll: EPOLLPRI after a record (%d, %#x)", n,
		      n > 0 ? out.events : 0);
		n = epoll_wait(ep, &out, 1, 0);
		check(n == 0, "epoll ET: no second report without a new record (%d)", n);
		emit(R.fd, 1, NULL, 0, NULL);
		n = epoll_wait(ep, &out, 1, 1000);
		check(n == 1, "epoll ET: a second record reports again (%d)", n);
		close(ep);
	}
	close(fd);
	close(fd2);
}

/* ------------------------------------------------------------------ */
/* wake-ups: none missed, one per burst, none without sleepers          */

struct waker {
	int fd;
	uint64_t pos;
	volatile int state;	/* 1 polling, 2 returned */
	short rev;
	int rc, err;
	uint64_t t_ret;
	int ms;
};

static void *poll_thread(void *a)
{
	struct waker *w = a;
	struct pollfd p = { .fd = w->fd, .events = POLLPRI };

	w->state = 1;
	w->rc = poll(&p, 1, w->ms);
	w->err = errno;
	w->rev = p.revents;
	w->t_ret = now_ns();
	w->state = 2;
	return NULL;
}

static void on_usr1(int s)
{
	(void)s;
}

static void t_wakeups(void)
{
	struct waker w[2];
	pthread_t th[2];
	uint64_t wk0, t;
	int fds[2] = { xopen(O_RDONLY), xopen(O_RDWR) };

	section("wakeups", 60);
	/* no sleepers: no wake-ups */
	wk0 = info(R.fd).event_wakeups;
	for (int i = 0; i < 500; i++)
		emit(R.fd, 2, NULL, 0, NULL);
	check(info(R.fd).event_wakeups == wk0, "500 records with nobody asleep: %llu wake-ups (want 0)",
	      (unsigned long long)(info(R.fd).event_wakeups - wk0));
	/* polls that do not sleep (timeout 0, or already ready) leave no wake-up behind */
	{
		uint64_t w1;

		events(fds[0], head(), 0, NULL);
		wk0 = info(R.fd).event_wakeups;
		for (int i = 0; i < 50; i++) {
			pollev(fds[0], POLLPRI, 0);	/* not ready: returns at once */
			emit(R.fd, 2, NULL, 0, NULL);
			events(fds[0], head(), 0, NULL);
		}
		w1 = info(R.fd).event_wakeups - wk0;
		check(w1 == 0, "50 x (poll timeout 0, record): %llu wake-ups with nobody asleep (want 0: "
		      "\"wakes the ring's pollers only when one sleeps\")", (unsigned long long)w1);
		wk0 = info(R.fd).event_wakeups;
		for (int i = 0; i < 50; i++) {
			events(fds[0], head() - 1, 0, NULL);
			pollev(fds[0], POLLPRI, 1000);	/* ready: returns at once */
			emit(R.fd, 2, NULL, 0, NULL);
		}
		w1 = info(R.fd).event_wakeups - wk0;
		check(w1 == 0, "50 x (poll that finds a record ready, record): %llu wake-ups (want 0)",
		      (unsigned long long)w1);
	}
	/* one sleeper, a burst: one wake-up ("A burst of records while a reader sleeps costs one wake-up") */
	{
		uint64_t d, d2;

		w[0] = (struct waker){ .fd = fds[0], .ms = 5000 };
		events(fds[0], head(), 0, NULL);
		pthread_create(&th[0], NULL, poll_thread, &w[0]);
		msleep(300);
		wk0 = info(R.fd).event_wakeups;
		for (int i = 0; i < 100; i++)
			emit(R.fd, 2, NULL, 0, NULL);
		pthread_join(th[0], NULL);
		d = info(R.fd).event_wakeups - wk0;
		for (int i = 0; i < 100; i++)	/* the woken reader does not poll again */
			emit(R.fd, 2, NULL, 0, NULL);
		d2 = info(R.fd).event_wakeups - wk0 - d;
		/*
		 * Header, "Residue": a record published while the woken poll() is
		 * returning (after its last pass, before it left the wait queue) may
		 * cost one more wake-up; after poll() returned, none.
		 */
		check(w[0].rc == 1 && d >= 1 && d <= 2,
		      "one sleeper, a burst of 100: %llu wake-ups (want 1, 2 by the header's residue; rc %d)",
		      (unsigned long long)d, w[0].rc);
		check(d2 == 0, "100 records after the woken reader returned from poll: %llu wake-ups (want 0)",
		      (unsigned long long)d2);
	}
	/* two sleepers on two open files: one record wakes both */
	for (int i = 0; i < 2; i++) {
		w[i] = (struct waker){ .fd = fds[i], .ms = 5000 };
		events(fds[i], head(), 0, NULL);
		pthread_create(&th[i], NULL, poll_thread, &w[i]);
	}
	msleep(300);
	wk0 = info(R.fd).event_wakeups;
	t = now_ns();
	for (int i = 0; i < 100; i++)
		emit(R.fd, 2, NULL, 0, NULL);
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		check(w[i].rc == 1 && (w[i].rev & POLLPRI) && w[i].t_ret - t < 1500000000ull,
		      "sleeper %d on its own file woken by the burst (rc %d rev %#x after %llu ms)", i,
		      w[i].rc, w[i].rev, (unsigned long long)(w[i].t_ret - t) / 1000000);
	}
	{
		uint64_t d = info(R.fd).event_wakeups - wk0;

		check(d >= 1 && d <= 2, "a burst of 100 with two sleepers: %llu wake-ups (want 1..2)",
		      (unsigned long long)d);
		check(R.rh->wakeups == info(R.fd).event_wakeups, "ring_hdr->wakeups mirrors event_wakeups");
	}
	/* 200 open files asleep in one epoll: one record wakes them all */
	{
		enum { NF = 200 };
		int ep = epoll_create1(EPOLL_CLOEXEC), fdv[NF], n = 0, got = 0, seen[NF] = { 0 };
		struct epoll_event ev, out[NF];
		uint64_t d;

		for (int i = 0; i < NF; i++) {
			fdv[i] = xopen(O_RDONLY);
			events(fdv[i], head(), i & 1 ? KSHM_EVENTS_POLLIN : 0, NULL);
			ev = (struct epoll_event){ .events = EPOLLPRI, .data.u32 = i };
			epoll_ctl(ep, EPOLL_CTL_ADD, fdv[i], &ev);
		}
		if (fork() == 0) {
			msleep(300);
			emit(R.fd, 0xe, NULL, 0, NULL);
			_exit(0);
		}
		wk0 = info(R.fd).event_wakeups;
		t = now_ns();
		while (got < NF && now_ns() - t < 3000000000ull) {
			n = epoll_wait(ep, out, NF, 3000);
			if (n <= 0)
				break;
			for (int k = 0; k < n; k++)	/* level-triggered: count each file once */
				if (out[k].data.u32 < NF && !seen[out[k].data.u32]++)
					got++;
		}
		wait(NULL);
		d = info(R.fd).event_wakeups - wk0;
		check(got == NF, "200 files in one epoll, one record: %d reported (want 200), %llu wake-ups",
		      got, (unsigned long long)d);
		for (int i = 0; i < NF; i++)
			close(fdv[i]);
		close(ep);
	}
	/* pos ahead of head: records below pos wake, re-sleep, and the one reaching it wakes */
	{
		uint64_t h = head();

		w[0] = (struct waker){ .fd = fds[0], .ms = 8000 };
		events(fds[0], h + 5, 0, NULL);
		pthread_create(&th[0], NULL, poll_thread, &w[0]);
		msleep(200);
		for (int i = 0; i < 5; i++) {
			emit(R.fd, 3, NULL, 0, NULL);
			msleep(100);
		}
		check(w[0].state == 1, "pos = head+5: still asleep after 5 records (state %d)", w[0].state);
		t = now_ns();
		emit(R.fd, 3, NULL, 0, NULL);
		pthread_join(th[0], NULL);
		check(w[0].rc == 1 && w[0].t_ret - t < 1500000000ull,
		      "...the 6th record wakes it (rc %d, %llu ms)", w[0].rc,
		      (unsigned long long)(w[0].t_ret - t) / 1000000);
	}
	/* a signal interrupts the poll; the record that came meanwhile is not lost */
	{
		struct sigaction sa = { .sa_handler = on_usr1 };

		sigaction(SIGUSR1, &sa, NULL);
		w[0] = (struct waker){ .fd = fds[0], .ms = 5000 };
		events(fds[0], head(), 0, NULL);
		pthread_create(&th[0], NULL, poll_thread, &w[0]);
		msleep(200);
		pthread_kill(th[0], SIGUSR1);
		pthread_join(th[0], NULL);
		check(w[0].rc == -1 && w[0].err == EINTR, "poll interrupted by a handler: rc %d %s", w[0].rc,
		      en(w[0].err));
		emit(R.fd, 3, NULL, 0, NULL);
		check(pollev(fds[0], POLLPRI, 1000) & POLLPRI, "...the next poll sees the record");
	}
	/* close while another thread is blocked in poll on that descriptor */
	{
		int cfd = xopen(O_RDONLY);

		w[0] = (struct waker){ .fd = cfd, .ms = 4000 };
		events(cfd, head(), 0, NULL);
		pthread_create(&th[0], NULL, poll_thread, &w[0]);
		msleep(200);
		close(cfd);
		msleep(100);
		t = now_ns();
		emit(R.fd, 3, NULL, 0, NULL);
		pthread_join(th[0], NULL);
		note("close during poll, then a record: poll rc %d rev %#x after %llu ms", w[0].rc,
		     w[0].rev, (unsigned long long)(w[0].t_ret - t) / 1000000);
		check(w[0].rc != 0 || w[0].t_ret - t < 4100000000ull, "the poller returned");
		check(w[0].rc == 1 && w[0].rev == POLLNVAL && w[0].t_ret - t < 1500000000ull,
		      "header: the record ends that poll, which reports POLLNVAL (rc %d rev %#x)", w[0].rc,
		      w[0].rev);
	}
	/* a stopped child sleeping in poll: records while stopped, it returns after SIGCONT */
	{
		int pfd[2];
		pid_t c;
		char ch = 0;
		int st;

		if (pipe(pfd))
			return;
		events(fds[1], head(), 0, NULL);
		c = fork();
		if (c == 0) {
			short r;

			close(pfd[0]);
			alarm(20);
			r = pollev(fds[1], POLLPRI, 10000);
			ch = (r & POLLPRI) ? 'y' : 'n';
			if (write(pfd[1], &ch, 1) < 0)
				_exit(3);
			_exit(0);
		}
		close(pfd[1]);
		msleep(300);
		kill(c, SIGSTOP);
		waitpid(c, &st, WUNTRACED);
		emit(R.fd, 4, NULL, 0, NULL);
		msleep(100);
		kill(c, SIGCONT);
		t = now_ns();
		if (read(pfd[0], &ch, 1) != 1)
			ch = '?';
		check(ch == 'y' && now_ns() - t < 2000000000ull,
		      "child stopped in poll, record meanwhile, SIGCONT: poll reports it (%c, %llu ms)", ch,
		      (unsigned long long)(now_ns() - t) / 1000000);
		waitpid(c, &st, 0);
		close(pfd[0]);
	}
	/* SIGKILL a child blocked in poll (its last reference to the open file) */
	{
		pid_t c = fork();
		int st, cfd;

		if (c == 0) {
			cfd = xopen(O_RDONLY);
			events(cfd, ~0ull, KSHM_EVENTS_POLLIN, NULL);
			pollev(cfd, POLLPRI | POLLIN, 20000);
			_exit(0);
		}
		msleep(300);
		kill(c, SIGKILL);
		waitpid(c, &st, 0);
		emit(R.fd, 4, NULL, 0, NULL);
		check(WIFSIGNALED(st), "child killed in poll; a record after it is fine");
	}
	close(fds[0]);
	close(fds[1]);
}

/* a reader racing a producer with sleeps: every wake-up arrives */
struct lazy {
	int count;
	volatile int done;
	volatile int emitted;
	uint64_t max_emit_ns;
	volatile uint64_t last_emit_ns;
};

static void *lazy_producer(void *a)
{
	struct lazy *l = a;
	unsigned int seed = 7;

	for (int i = 0; i < l->count; i++) {
		uint64_t t = now_ns(), d;

		emit(R.fd, 10, &i, sizeof(i), NULL);
		d = now_ns() - t;
		if (d > l->max_emit_ns)
			l->max_emit_ns = d;
		l->last_emit_ns = now_ns();
		l->emitted = i + 1;
		int k = rand_r(&seed) % 4;

		if (k == 1)
			sched_yield();
		else if (k == 2)
			usleep(rand_r(&seed) % 300);
	}
	l->done = 1;
	return NULL;
}

struct paced {
	struct lazy *l;
	int fd;
	uint64_t got, lost, timeouts, polls, stuck;
	int bad;
};

static void *paced_reader(void *a)
{
	struct paced *p = a;
	struct reader rd;
	struct rec o;
	uint64_t h = 0;

	events(p->fd, head(), 0, &h);
	rd = (struct reader){ .pos = __atomic_load_n(&SH_start, ACQ) };
	for (;;) {
		while (rd_next(&R, &rd, &o) == 1) {
			p->got++;
			p->lost += o.lost;
			if (o.type != 10 || o.len != 4)
				p->bad++;
		}
		if (p->got + p->lost >= (uint64_t)p->l->count)
			break;
		events(p->fd, rd.pos, 0, &h);
		if (h != rd.pos)
			continue;
		p->polls++;
		if (pollev(p->fd, POLLPRI, 3000) == 0) {
			p->timeouts++;
			note("poll timed out: pos %llu head %llu emitted %d, last emit %llu ms ago, done %d",
			     (unsigned long long)rd.pos, (unsigned long long)head(), p->l->emitted,
			     (unsigned long long)(now_ns() - p->l->last_emit_ns) / 1000000, p->l->done);
			if (head() > rd.pos) {
				p->stuck++;	/* a record sat there: a missed wake-up */
				break;
			}
			if (p->l->done)
				break;
		}
	}
	p->lost += rd.lost;
	return NULL;
}

static void t_no_missed_wakeup(int nreaders, int count)
{
	struct lazy l = { .count = count };
	struct paced p[4];
	pthread_t th, rt[4];
	uint64_t wk0 = info(R.fd).event_wakeups;
	char name[64];

	snprintf(name, sizeof(name), "no missed wake-up (%d readers)", nreaders);
	section(name, 300);
	SH_start = head();
	for (int i = 0; i < nreaders; i++) {
		p[i] = (struct paced){ .l = &l, .fd = xopen(O_RDONLY) };
		pthread_create(&rt[i], NULL, paced_reader, &p[i]);
	}
	msleep(100);
	pthread_create(&th, NULL, lazy_producer, &l);
	pthread_join(th, NULL);
	for (int i = 0; i < nreaders; i++) {
		pthread_join(rt[i], NULL);
		check(p[i].got == (uint64_t)count && p[i].lost == 0 && p[i].bad == 0 && p[i].timeouts == 0,
		      "reader %d, %d paced records: got %llu lost %llu bad %d poll timeouts %llu, %llu with a record waiting (sleeps %llu)",
		      i, count, (unsigned long long)p[i].got, (unsigned long long)p[i].lost, p[i].bad,
		      (unsigned long long)p[i].timeouts, (unsigned long long)p[i].stuck,
		      (unsigned long long)p[i].polls);
		close(p[i].fd);
	}
	note("wake-ups %llu, longest EMIT %llu us (TCG guest on a loaded host)",
	     (unsigned long long)(info(R.fd).event_wakeups - wk0), (unsigned long long)l.max_emit_ns / 1000);
}

/* ------------------------------------------------------------------ */
/* positions per open file description; dup and fork                    */

static void t_positions(void)
{
	int a = xopen(O_RDONLY), b = xopen(O_RDONLY), d;
	short r;
	pid_t c;
	int st;

	section("positions", 30);
	events(a, head(), 0, NULL);
	events(b, head() + 100, 0, NULL);
	emit(R.fd, 1, NULL, 0, NULL);
	check((pollev(a, POLLPRI, 0) & POLLPRI) && !(pollev(b, POLLPRI, 0) & POLLPRI),
	      "two open files keep independent positions");
	d = dup(a);
	events(d, head() + 100, 0, NULL);
	r = pollev(a, POLLPRI, 0);
	check(!(r & POLLPRI), "dup() shares the position: EVENTS on the dup moved the original's (%#x)", r);
	events(a, head(), KSHM_EVENTS_POLLIN, NULL);
	emit(R.fd, 1, NULL, 0, NULL);
	r = pollev(d, POLLIN, 0);
	check(r & POLLIN, "dup() shares the POLLIN mode (%#x)", r);
	/* fork: the child moves the shared position */
	events(a, head(), 0, NULL);
	c = fork();
	if (c == 0) {
		events(a, ~0ull, 0, NULL);
		_exit(0);
	}
	waitpid(c, &st, 0);
	emit(R.fd, 1, NULL, 0, NULL);
	r = pollev(a, POLLPRI, 0);
	check(!(r & POLLPRI), "fork(): the child's EVENTS moved the parent's position (%#x)", r);
	/* and the child's own open() is independent; a child's exit keeps the parent's file */
	events(a, head(), 0, NULL);
	c = fork();
	if (c == 0) {
		int own = xopen(O_RDONLY);

		events(own, ~0ull, 0, NULL);
		close(a);
		_exit(0);
	}
	waitpid(c, &st, 0);
	emit(R.fd, 1, NULL, 0, NULL);
	r = pollev(a, POLLPRI, 0);
	check(r & POLLPRI, "a child's own open file and its close() leave the parent's position (%#x)", r);
	/* a forked child reads records through the inherited mapping and emits */
	c = fork();
	if (c == 0) {
		uint64_t s;
		struct reader rd;
		struct rec o;

		if (emit(R.fd, 0x55, "kid", 3, &s))
			_exit(1);
		rd = (struct reader){ .pos = s };
		if (rd_next(&R, &rd, &o) != 1 || o.type != 0x55 || memcmp(o.data, "kid", 3))
			_exit(2);
		_exit(0);
	}
	waitpid(c, &st, 0);
	check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a forked child emits and reads its record (status %#x)", st);
	close(a);
	close(b);
	close(d);
}

/* ------------------------------------------------------------------ */
/* the ring outlives its openers                                        */

static void t_lifetime(void)
{
	uint64_t h1, s;
	int fd;
	struct ring r2;

	section("lifetime", 30);
	emit(R.fd, 0x77, "persist", 7, &s);
	h1 = head();
	fd = xopen(O_RDWR);
	map_ring(&r2, fd);
	check(r2.rh->head == h1, "a new open file sees the same head (%llu, %llu)",
	      (unsigned long long)r2.rh->head, (unsigned long long)h1);
	{
		struct reader rd = { .pos = s };
		struct rec o;

		check(rd_next(&r2, &rd, &o) == 1 && o.type == 0x77 && o.seq == s,
		      "a new open file reads an earlier record");
	}
	munmap(r2.rh, r2.map_len);
	munmap(r2.hdr, r2.ps);
	close(fd);
}

/* ------------------------------------------------------------------ */
/* stalls: exact loss                                                   */

static void t_stall(void)
{
	struct reader rd;
	struct rec o;
	uint64_t p0, n, got = 0, first_lost = 0, first_seq = 0, extra = 123;

	section("stall", 120);
	p0 = head();
	rd = (struct reader){ .pos = p0 };
	n = (uint64_t)R.n + extra;
	for (uint64_t i = 0; i < n; i++)
		emit(R.fd, 20, &i, sizeof(i), NULL);
	while (rd_next(&R, &rd, &o) == 1) {
		if (!got) {
			first_lost = o.lost;
			first_seq = o.seq;
		} else if (o.lost) {
			check(0, "a later record has lost %llu", (unsigned long long)o.lost);
		}
		if (*(uint64_t *)o.data != o.seq - p0)
			check(0, "record %llu carries %llu", (unsigned long long)o.seq,
			      (unsigned long long)*(uint64_t *)o.data);
		got++;
	}
	check(first_lost == extra && first_seq == p0 + extra && got == R.n,
	      "stalled over N+%llu records: first delivered seq %llu lost %llu (want %llu, %llu), got %llu (want %u)",
	      (unsigned long long)extra, (unsigned long long)first_seq, (unsigned long long)first_lost,
	      (unsigned long long)(p0 + extra), (unsigned long long)extra, (unsigned long long)got, R.n);
	/* stalled way over: many laps */
	p0 = head();
	rd = (struct reader){ .pos = p0 };
	n = 5ull * R.n + 7;
	for (uint64_t i = 0; i < n; i++)
		emit(R.fd, 21, NULL, 0, NULL);
	got = 0;
	first_lost = 0;
	while (rd_next(&R, &rd, &o) == 1) {
		if (!got)
			first_lost = o.lost;
		got++;
	}
	check(first_lost == n - R.n && got == R.n, "5 laps + 7: lost %llu (want %llu), got %llu",
	      (unsigned long long)first_lost, (unsigned long long)(n - R.n), (unsigned long long)got);
	/* reader starting at 0 ("oldest ever") */
	rd = (struct reader){ .pos = 0 };
	if (rd_next(&R, &rd, &o) == 1) {
		uint64_t h = head();
		uint64_t want = h > R.n ? h - R.n : 0;

		check(o.seq == want && o.lost == want, "pos 0: first record %llu lost %llu (want %llu)",
		      (unsigned long long)o.seq, (unsigned long long)o.lost, (unsigned long long)want);
	}
	/* the kernel never waits: emits while nobody reads are fast */
	{
		uint64_t t = now_ns();

		for (int i = 0; i < 2000; i++)
			emit(R.fd, 22, NULL, 0, NULL);
		note("2000 EMITs with nobody reading: %llu us", (unsigned long long)(now_ns() - t) / 1000);
	}
}

/* ------------------------------------------------------------------ */
/* many producers, threads and processes; the reader keeps up or not;   */
/* every delivered record checked for tears                             */

#define MAXP 16
struct shared {
	uint64_t reader_pos;
	int throttle;
	int go;
	uint32_t K;
	uint64_t seqs[MAXP][4096];
	int errs[MAXP];
};

static struct shared *SH;

static void producer(int id)
{
	uint8_t b[KSHM_EV_MAX_DATA];
	uint64_t N = R.n;

	while (!__atomic_load_n(&SH->go, ACQ))
		sched_yield();
	for (uint32_t c = 0; c < SH->K; c++) {
		uint32_t len = c % (KSHM_EV_MAX_DATA + 1);
		struct kshm_emit_req q = { .type = ((uint32_t)id << 20) | c, .len = len,
					   .data = (uintptr_t)b };

		if (SH->throttle)
			while (head() - __atomic_load_n(&SH->reader_pos, ACQ) > N / 2)
				sched_yield();
		fill(b, id, c, len);
		if (emit_req(R.fd, &q)) {
			SH->errs[id]++;
			SH->seqs[id][c] = ~0ull;
		} else {
			SH->seqs[id][c] = q.seq;
		}
	}
}

static void *producer_thread(void *a)
{
	producer((int)(intptr_t)a);
	return NULL;
}

struct got {
	uint64_t seq;
	uint32_t type;
};

static int cmp64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void t_concurrent(int throttle, int procs, int threads, uint32_t K)
{
	int np = procs * threads;
	uint64_t total = (uint64_t)np * K, h0, got = 0, lost = 0, torn = 0, order = 0, tback = 0;
	uint64_t prev_seq = 0, prev_t = 0, mism = 0, dups = 0, gaps = 0;
	struct got *g = calloc(total, sizeof(*g));
	pid_t kids[MAXP];
	pthread_t th[MAXP];
	struct reader rd;
	struct rec o;
	uint32_t lastc[MAXP];
	char name[96];

	snprintf(name, sizeof(name), "%s: %d procs x %d threads x %u", throttle ? "keeps up" : "free-run",
		 procs, threads, K);
	section(name, 300);
	memset(SH, 0, sizeof(*SH));
	SH->K = K;
	SH->throttle = throttle;
	for (int i = 0; i < MAXP; i++)
		lastc[i] = ~0u;
	h0 = head();
	SH->reader_pos = h0;
	rd = (struct reader){ .pos = h0 };
	for (int p = 0; p < procs; p++) {
		kids[p] = fork();
		if (kids[p] == 0) {
			pthread_t t2[MAXP];

			for (int t = 0; t < threads; t++)
				pthread_create(&t2[t], NULL, producer_thread,
					       (void *)(intptr_t)(p * threads + t));
			for (int t = 0; t < threads; t++)
				pthread_join(t2[t], NULL);
			_exit(0);
		}
	}
	(void)th;
	__atomic_store_n(&SH->go, 1, __ATOMIC_RELEASE);
	while (rd.pos < h0 + total) {
		int r = rd_next(&R, &rd, &o);

		if (!r) {
			sched_yield();
			continue;
		}
		uint32_t id, c;

		if (!intact(&o, &id, &c) || id >= (uint32_t)np || c >= K) {
			torn++;
			if (torn < 4)
				note("torn/foreign record seq %llu type %#x len %u flags %#x",
				     (unsigned long long)o.seq, o.type, o.len, o.flags);
		} else {
			if (lastc[id] != ~0u && c <= lastc[id])
				order++;
			lastc[id] = c;
			g[got].seq = o.seq;
			g[got].type = o.type;
		}
		if (got && o.seq != prev_seq + 1 + o.lost)
			mism++;
		if (got && o.lost == 0 && o.time_ns < prev_t)
			tback++;
		prev_seq = o.seq;
		prev_t = o.time_ns;
		lost += o.lost;
		got++;
		__atomic_store_n(&SH->reader_pos, rd.pos, __ATOMIC_RELEASE);
	}
	lost += rd.lost;
	for (int p = 0; p < procs; p++) {
		int st;

		waitpid(kids[p], &st, 0);
	}
	/* the seqs EMIT returned: exactly h0 .. h0+total-1 */
	{
		uint64_t *all = malloc(total * sizeof(*all)), k = 0;
		int errs = 0;

		for (int i = 0; i < np; i++) {
			errs += SH->errs[i];
			for (uint32_t c = 0; c < K; c++)
				all[k++] = SH->seqs[i][c];
		}
		qsort(all, total, sizeof(*all), cmp64);
		for (uint64_t i = 0; i < total; i++) {
			if (i && all[i] == all[i - 1])
				dups++;
			else if (all[i] != h0 + i)
				gaps++;
		}
		check(errs == 0 && dups == 0 && gaps == 0 && all[0] == h0 && all[total - 1] == h0 + total - 1,
		      "EMIT seqs: %llu records, %d errors, %llu duplicates, %llu out of place, range %llu..%llu (want %llu..%llu)",
		      (unsigned long long)total, errs, (unsigned long long)dups, (unsigned long long)gaps,
		      (unsigned long long)all[0], (unsigned long long)all[total - 1],
		      (unsigned long long)h0, (unsigned long long)(h0 + total - 1));
		free(all);
	}
	/* every delivered record is the one its producer was told */
	for (uint64_t i = 0; i < got; i++) {
		uint32_t id = g[i].type >> 20, c = g[i].type & 0xfffff;

		if (id < (uint32_t)np && c < K && SH->seqs[id][c] != g[i].seq)
			mism++;
	}
	check(head() == h0 + total, "head advanced by exactly %llu (%llu)", (unsigned long long)total,
	      (unsigned long long)(head() - h0));
	check(torn == 0 && rd.bad_len == 0, "no torn record accepted (torn %llu, bad len %llu; overruns seen %llu)",
	      (unsigned long long)torn, (unsigned long long)rd.bad_len, (unsigned long long)rd.overruns);
	check(got + lost == total && mism == 0,
	      "delivered %llu + lost %llu == %llu; seq == prev + 1 + lost and == EMIT's seq (%llu mismatches)",
	      (unsigned long long)got, (unsigned long long)lost, (unsigned long long)total,
	      (unsigned long long)mism);
	check(order == 0, "per producer, records in emit order (%llu inversions)", (unsigned long long)order);
	check(tback == 0, "time_ns never less than the previous record's (%llu backwards)",
	      (unsigned long long)tback);
	check(rd.bogus_overruns == 0,
	      "never a slot below pos while pos < head (head passed an unpublished record) (%llu times)",
	      (unsigned long long)rd.bogus_overruns);
	if (throttle)
		check(lost == 0, "the reader kept up: nothing lost (lost %llu, overruns %llu)",
		      (unsigned long long)lost, (unsigned long long)rd.overruns);
	free(g);
}

/* Tear hunt: producers hammer a tiny ring while the reader keeps reading the
 * slot most likely to be overwritten under it (the oldest held). */
static void t_tear_hunt(unsigned int secs)
{
	pid_t kids[2];
	uint64_t acc = 0, torn = 0, ovr = 0, bogus = 0, t0, h0 = head();
	struct reader rd;
	struct rec o;
	uint32_t id, c;

	section("tear hunt", secs + 30);
	memset(SH, 0, sizeof(*SH));
	SH->K = 4096;
	for (int p = 0; p < 2; p++) {
		kids[p] = fork();
		if (kids[p] == 0) {
			for (int round = 0;; round++) {
				producer(p);
				if (round > 1000000)
					break;
			}
			_exit(0);
		}
	}
	__atomic_store_n(&SH->go, 1, __ATOMIC_RELEASE);
	t0 = now_ns();
	while (now_ns() - t0 < secs * 1000000000ull) {
		uint64_t h = head();

		rd = (struct reader){ .pos = h > R.n ? h - R.n : 0 };
		if (rd.pos < h0)
			rd.pos = h0;	/* only records of this hunt */
		if (rd_next(&R, &rd, &o) == 1 && o.seq >= h0) {
			acc++;
			if (!intact(&o, &id, &c))
				torn++;
		}
		ovr += rd.overruns;
		bogus += rd.bogus_overruns;
	}
	for (int p = 0; p < 2; p++) {
		kill(kids[p], SIGKILL);
		waitpid(kids[p], NULL, 0);
	}
	check(torn == 0 && bogus == 0,
	      "%u s against 2 producers: %llu records accepted, %llu torn, %llu overruns detected, %llu below-pos slots",
	      secs, (unsigned long long)acc, (unsigned long long)torn, (unsigned long long)ovr,
	      (unsigned long long)bogus);
}

/* ------------------------------------------------------------------ */
/* a producer stuck in copy_from_user (userfaultfd) must stall nobody    */

struct uarg {
	void *addr;
	int e;
	uint64_t seq;
	volatile int done;
};

static void *stuck_emit(void *a)
{
	struct uarg *u = a;

	u->e = emit(R.fd, 0x99, u->addr, 16, &u->seq);
	u->done = 1;
	return NULL;
}

static void t_uffd(void)
{
	int uf = syscall(SYS_userfaultfd, O_CLOEXEC);
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg;
	struct uarg u = { 0 };
	pthread_t th;
	char *area;
	uint64_t t, s;
	int e;

	section("stuck producer (userfaultfd)", 60);
	if (uf < 0 || ioctl(uf, UFFDIO_API, &api)) {
		note("userfaultfd unavailable (%s): skipped", strerror(errno));
		return;
	}
	area = mmap(NULL, R.ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	reg = (struct uffdio_register){ .range = { (uintptr_t)area, R.ps },
					.mode = UFFDIO_REGISTER_MODE_MISSING };
	if (ioctl(uf, UFFDIO_REGISTER, &reg)) {
		note("UFFDIO_REGISTER: %s: skipped", strerror(errno));
		return;
	}
	u.addr = area;
	pthread_create(&th, NULL, stuck_emit, &u);
	msleep(300);
	check(!u.done, "an EMIT whose bytes fault on a userfaultfd page is blocked");
	t = now_ns();
	e = emit(R.fd, 0x9a, "free", 4, &s);
	check(!e && now_ns() - t < 500000000ull, "meanwhile another EMIT completes at once (%s, %llu ms)",
	      en(e), (unsigned long long)(now_ns() - t) / 1000000);
	{
		struct reader rd = { .pos = s };
		struct rec o;

		check(rd_next(&R, &rd, &o) == 1 && o.type == 0x9a,
		      "...and its record is readable while the other producer is stuck");
	}
	{
		static char page[65536];
		struct uffdio_copy cp = { .dst = (uintptr_t)area, .src = (uintptr_t)page, .len = R.ps };

		memset(page, 0x5a, sizeof(page));
		if (ioctl(uf, UFFDIO_COPY, &cp))
			note("UFFDIO_COPY: %s", strerror(errno));
	}
	pthread_join(th, NULL);
	check(u.e == 0, "the stuck EMIT completes once the page arrives (%s, seq %llu)", en(u.e),
	      (unsigned long long)u.seq);
	{
		struct reader rd = { .pos = u.seq };
		struct rec o;

		check(rd_next(&R, &rd, &o) == 1 && o.type == 0x99 && o.data[0] == 0x5a,
		      "...its record holds the bytes (type %#x, byte %#x)", o.type, o.data[0]);
	}
	close(uf);
	munmap(area, R.ps);
}

/* ------------------------------------------------------------------ */
/* no ring                                                              */

static int t_noring(void)
{
	int fd = xopen(O_RDWR), rfd = xopen(O_RDONLY), e;
	struct kshm_header *h;
	struct kshm_emit_req q;
	struct kshm_events_req eq;
	void *p;

	section("no ring", 30);
	h = mmap(NULL, sysconf(_SC_PAGESIZE), PROT_READ, MAP_SHARED, fd, 0);
	check(!(h->features & KSHM_FEAT_RING), "no KSHM_FEAT_RING (features %#x)", h->features);
	check(!h->ring_offset && !h->ring_size && !h->ring_records && !h->ring_slot_size,
	      "ring_offset/size/records/slot_size all 0 (%llu %llu %u %u)",
	      (unsigned long long)h->ring_offset, (unsigned long long)h->ring_size, h->ring_records,
	      h->ring_slot_size);
	check(!(info(fd).features & KSHM_FEAT_RING) && info(fd).events == 0, "INFO: no ring, events 0");
	q = (struct kshm_emit_req){ .len = 4, .data = (uintptr_t)"abcd" };
	e = emit_req(fd, &q);
	check(e == ENOSPC, "EMIT: %s (want ENOSPC)", en(e));
	e = emit_req(rfd, &q);
	check(e == EBADF, "EMIT on O_RDONLY: %s (want EBADF)", en(e));
	q.flags = 1;
	e = emit_req(fd, &q);
	check(e == EINVAL, "EMIT flags 1: %s (want EINVAL: before ENOSPC)", en(e));
	q = (struct kshm_emit_req){ .len = 1000, .data = 0 };
	e = emit_req(fd, &q);
	check(e == ENOSPC, "EMIT len 1000, NULL: %s (want ENOSPC: before EMSGSIZE)", en(e));
	e = ioctl(fd, KSHM_IOC_EMIT, NULL) ? errno : 0;
	check(e == EFAULT, "EMIT NULL struct: %s (want EFAULT)", en(e));
	e = events(rfd, 0, 0, NULL);
	check(e == ENOSPC, "EVENTS: %s (want ENOSPC)", en(e));
	eq = (struct kshm_events_req){ .flags = 4 };
	e = ioctl(fd, KSHM_IOC_EVENTS, &eq) ? errno : 0;
	check(e == EINVAL, "EVENTS flags 4: %s (want EINVAL: before ENOSPC)", en(e));
	e = ioctl(fd, KSHM_IOC_EVENTS, NULL) ? errno : 0;
	check(e == EFAULT, "EVENTS NULL: %s (want EFAULT)", en(e));
	p = mmap(NULL, sysconf(_SC_PAGESIZE), PROT_READ, MAP_SHARED, fd,
		 h->ctrl_offset + sysconf(_SC_PAGESIZE));
	e = p == MAP_FAILED ? errno : 0;
	check(p == MAP_FAILED, "mmap where a ring would be: %s (must fail)", en(e));
	{
		FILE *f = fopen(PARAM_RING, "r");
		long v = -1;

		if (f) {
			if (fscanf(f, "%ld", &v) != 1)
				v = -1;
			fclose(f);
		}
		check(v == 0, "%s reads 0 (%ld)", PARAM_RING, v);
	}
	check(pollev(fd, POLLPRI, 0) == 0, "no EPOLLPRI without a ring");
	close(fd);
	close(rfd);
	return n_fail ? 1 : 0;
}

/*
 * splice: pin a ring page in a pipe (vmsplice), drop the device entirely and
 * leave a child holding only the pipe; the limits script then unloads and
 * reloads the module and the child checks that the pipe still holds the
 * ring's bytes (a page freed under the pin would show other memory).
 */
static int t_splice_hold(void)
{
	int fd = xopen(O_RDWR), pp[2];
	uint8_t data[KSHM_EV_MAX_DATA], copy[4096];
	struct iovec v;
	uint64_t s;
	ssize_t n;
	pid_t c;

	map_ring(&R, fd);
	memset(data, 0xc3, sizeof(data));
	emit(fd, 0x5eed, data, sizeof(data), &s);
	if (pipe(pp))
		return 2;
	v.iov_base = (char *)R.slots + (s & (R.n - 1)) * (size_t)R.ssz;
	v.iov_len = R.ssz;
	memcpy(copy, v.iov_base, R.ssz);
	n = vmsplice(pp[1], &v, 1, 0);
	printf("splice: vmsplice of slot %llu: %zd\n", (unsigned long long)s, n);
	if (n != (ssize_t)R.ssz)
		return 0;
	c = fork();
	if (c == 0) {
		uint8_t back[4096];
		FILE *f;
		int same;

		munmap(R.rh, R.map_len);
		munmap(R.hdr, R.ps);
		close(fd);
		close(pp[1]);
		setsid();
		sleep(12);	/* the script unloads and reloads the module meanwhile */
		n = read(pp[0], back, R.ssz);
		same = n == (ssize_t)R.ssz && !memcmp(back, copy, R.ssz);
		f = fopen("/tmp/kshm-splice.res", "w");
		if (f) {
			fprintf(f, "%s [splice] a ring page pinned in a pipe across rmmod/insmod keeps the ring's bytes (read %zd, same %d, first bytes %02x %02x)\n",
				same ? "PASS" : "FAIL", n, same, back[0], back[8]);
			fclose(f);
		}
		_exit(0);
	}
	munmap(R.rh, R.map_len);
	munmap(R.hdr, R.ps);
	close(fd);
	close(pp[0]);
	close(pp[1]);
	return 0;
}

static int finish(void)
{
	printf("\nTotal: %d\nPassed: %d\nFailed: %d\n", n_pass + n_fail, n_pass, n_fail);
	return n_fail ? 1 : 0;
}

int main(int argc, char **argv)
{
	uint32_t want = 0;
	FILE *f;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGALRM, on_alarm);
	setpgid(0, 0);
	f = fopen(PARAM_TICK, "w");	/* no ticker commits during the poll checks */
	if (f) {
		fprintf(f, "0\n");
		fclose(f);
	}
	if (argc > 1 && !strcmp(argv[1], "noring")) {
		t_noring();
		return finish();
	}
	if (argc > 1 && !strcmp(argv[1], "splice"))
		return t_splice_hold();
	if (argc > 2 && !strcmp(argv[1], "layout"))
		want = strtoul(argv[2], NULL, 0);
	SH = mmap(NULL, sizeof(*SH), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (map_ring(&R, xopen(O_RDWR))) {
		check(0, "the module has a ring (load it with ring=N)");
		return finish();
	}
	printf("ring: %u records of %u bytes, ring at %#llx (%llu bytes), head %llu\n", R.n, R.ssz,
	       (unsigned long long)R.hdr->ring_offset, (unsigned long long)R.hdr->ring_size,
	       (unsigned long long)R.rh->head);
	t_layout(want);
	t_mapping();
	t_emit_errors();
	t_emit_contents();
	t_stall();
	if (want) {
		/* small/large ring: the tear hunt and accounting at this size */
		t_concurrent(0, 2, 2, 2000);
		if (R.n >= 64)
			t_concurrent(1, 1, 2, 1000);
		t_tear_hunt(R.n <= 2 ? 10 : 3);
		return finish();
	}
	t_events_errors();
	t_poll_bits();
	t_positions();
	t_lifetime();
	t_wakeups();
	t_no_missed_wakeup(1, 3000);
	t_no_missed_wakeup(3, 3000);
	t_uffd();
	t_concurrent(1, 2, 2, 2500);
	t_concurrent(0, 2, 3, 3000);
	t_concurrent(0, 4, 1, 4000);
	t_tear_hunt(5);
	/* parting shot: sleepers in poll and epoll, a burst, and exit at once: the harness
	 * unloads the module right after, with wake-ups possibly still deferred */
	section("parting shot", 20);
	for (int i = 0; i < 4; i++) {
		if (fork() == 0) {
			int fd = xopen(O_RDONLY), ep = epoll_create1(0);
			struct epoll_event ev = { .events = EPOLLPRI | EPOLLIN };

			events(fd, head(), i & 1 ? KSHM_EVENTS_POLLIN : 0, NULL);
			epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
			epoll_wait(ep, &ev, 1, 30000);
			_exit(0);
		}
	}
	msleep(300);
	for (int i = 0; i < 64; i++)
		emit(R.fd, 0xdead, NULL, 0, NULL);
	check(1, "burst emitted to 4 sleepers; exiting without waiting (the harness unloads the module)");
	return finish();
}
