/* SPDX-License-Identifier: MIT */
/*
 * What every C benchmark program needs: a monotonic clock in nanoseconds and
 * a fatal error that names the program (BENCH_NAME, defined before this
 * header is included) and errno.
 */
#ifndef KSHM_BENCH_COMMON_H
#define KSHM_BENCH_COMMON_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void die(const char *what)
{
	fprintf(stderr, BENCH_NAME ": %s: %s\n", what, strerror(errno));
	exit(1);
}

#endif
