// SPDX-License-Identifier: GPL-2.0
/*
 * An LD_PRELOAD library for spec/regions/destroyed-open.spec.ts: the first
 * mmap() of a file opened at $KSHM_DESTROY_AT_MMAP first destroys the region
 * of the in-kernel API test module (spec/kmod/kshm_kapi_test.c), so that the
 * region goes between libkshm's open() and mmap() in kshm_open(), as a
 * destroy racing an open would. Every other mmap() is passed on unchanged.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static int done;

static int opened_at(int fd, const char *path)
{
	char link[64], target[256];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0)
		return 0;
	target[n] = 0;
	return !strcmp(target, path);
}

static void destroy_region(void)
{
	int fd = open("/sys/module/kshm_kapi_test/parameters/destroy", O_WRONLY | O_CLOEXEC);

	if (fd < 0 || write(fd, "1", 1) != 1)
		fprintf(stderr, "destroy_at_mmap: could not destroy the region\n");
	if (fd >= 0)
		close(fd);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	const char *path = getenv("KSHM_DESTROY_AT_MMAP");

	if (path && fd >= 0 && !__atomic_load_n(&done, __ATOMIC_ACQUIRE) && opened_at(fd, path) &&
	    !__atomic_exchange_n(&done, 1, __ATOMIC_ACQ_REL))
		destroy_region();
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}
