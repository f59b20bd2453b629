// SPDX-License-Identifier: GPL-2.0
/*
 * adversary_events_compat32: a 32-bit (i386) caller of the EVENTS ioctls.
 * The header promises "the same layout for 32- and 64-bit callers", so a
 * 32-bit process must be able to EMIT, EVENTS, INFO and map the ring.
 * Freestanding (no 32-bit libc on the build host): raw int $0x80 syscalls.
 * Build: gcc -m32 -static -nostdlib -ffreestanding -fno-pic -O1 (spec/c/Makefile: compat32)
 */
#include "../../driver/include/uapi/kshm.h"

#define NR_exit		1
#define NR_write	4
#define NR_open		5
#define NR_close	6
#define NR_ioctl	54

static long sys3(long n, long a, long b, long c)
{
	long r;

	__asm__ volatile("int $0x80" : "=a"(r) : "a"(n), "b"(a), "c"(b), "d"(c) : "memory");
	return r;
}

/* old_mmap (90): one pointer to the six arguments, offset in bytes */
static long xmmap(long len, long prot, long flags, long fd, long off)
{
	long a[6] = { 0, len, prot, flags, fd, off };

	return sys3(90, (long)a, 0, 0);
}

static unsigned int slen(const char *s)
{
	unsigned int n = 0;

	while (s[n])
		n++;
	return n;
}

static void out(const char *s)
{
	sys3(NR_write, 1, (long)s, slen(s));
}

static void num(long v)
{
	char b[24];
	int i = 23;
	int neg = v < 0;
	unsigned long u = neg ? -v : v;

	b[i] = 0;
	do {
		b[--i] = '0' + u % 10;
		u /= 10;
	} while (u);
	if (neg)
		b[--i] = '-';
	out(b + i);
}

static int fails;

static void check(int ok, const char *what, long v)
{
	out(ok ? "PASS [compat32] " : "FAIL [compat32] ");
	out(what);
	out(" (");
	num(v);
	out(")\n");
	fails += !ok;
}

void _start(void)
{
	long fd = sys3(NR_open, (long)KSHM_DEVICE_PATH, 2 /* O_RDWR */, 0);
	struct kshm_emit_req q = { .type = 0x32, .len = 4, .data = (unsigned long)"i386" };
	struct kshm_events_req e = { 0 };
	struct kshm_info in;
	struct kshm_header *h;
	long r;

	check(fd >= 0, "open /dev/kshm", fd);
	r = sys3(NR_ioctl, fd, KSHM_IOC_INFO, (long)&in);
	check(r == 0, "32-bit KSHM_IOC_INFO", r);
	r = sys3(NR_ioctl, fd, KSHM_IOC_EMIT, (long)&q);
	check(r == 0, "32-bit KSHM_IOC_EMIT", r);
	e.pos = q.seq + 1;
	r = sys3(NR_ioctl, fd, KSHM_IOC_EVENTS, (long)&e);
	check(r == 0 && e.head == q.seq + 1, "32-bit KSHM_IOC_EVENTS, head == seq + 1", r);
	q.flags = 1;
	r = sys3(NR_ioctl, fd, KSHM_IOC_EMIT, (long)&q);
	check(r == -22, "32-bit EMIT flags 1: -EINVAL", r);
	h = (struct kshm_header *)xmmap(4096, 1 /* PROT_READ */, 1 /* MAP_SHARED */, fd, 0);
	check((unsigned long)h < 0xfffff000ul, "32-bit mmap of the header page", (long)h);
	if ((unsigned long)h < 0xfffff000ul && (h->features & KSHM_FEAT_RING)) {
		struct kshm_ring_hdr *rh = (struct kshm_ring_hdr *)xmmap((long)h->ring_size, 1, 1, fd,
							(long)h->ring_offset);
		int ok = (unsigned long)rh < 0xfffff000ul;

		check(ok, "32-bit mmap of the ring", (long)rh);
		if (ok) {
			struct kshm_event *s = (struct kshm_event *)((char *)rh + rh->slots_offset +
				(unsigned long)(q.seq & (rh->records - 1)) * rh->slot_size);

			check(s->seq == q.seq && s->type == 0x32 && s->data[0] == 'i',
			      "32-bit reader sees its record", (long)s->seq);
		}
	}
	sys3(NR_close, fd, 0, 0);
	sys3(NR_exit, fails ? 1 : 0, 0, 0);
	for (;;)
		;
}
