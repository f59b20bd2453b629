/* SPDX-License-Identifier: MIT */
/*
 * Benchmark-only: the weight of the host stand-in's syscall, shared by the
 * stand-in device (standin.h) and the C baseline's stand-in ioctl loop
 * (bench/c/baseline.c), so both weigh the same. Each call makes
 * KSHM_STANDIN_WEIGHT ioctl FIONREAD calls on average (1 to 100; 1 when
 * unset): `npm run bench` measures the driver's LOCK+UNLOCK against a
 * FIONREAD pair in a guest and passes the ratio.
 */
#ifndef KSHM_STANDIN_WEIGHT_H
#define KSHM_STANDIN_WEIGHT_H

#include <stdlib.h>
#include <sys/ioctl.h>

static double standin_weight = -1;
/* FIONREADs owed: a weight of 1.7 makes 7 calls in 10 make two. */
static _Thread_local double standin_credit;

static inline void standin_weighted_ioctl(int fd)
{
	int n;

	if (standin_weight < 0) {
		const char *w = getenv("KSHM_STANDIN_WEIGHT");
		double v = w ? strtod(w, NULL) : 1;

		standin_weight = v >= 1 && v <= 100 ? v : 1;
	}
	for (standin_credit += standin_weight; standin_credit >= 1; standin_credit -= 1)
		ioctl(fd, FIONREAD, &n);
}

#endif
