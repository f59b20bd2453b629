// SPDX-License-Identifier: MIT
/*
 * The C reader of the events bench (bench/events.mjs): reads /dev/kshm's
 * ring through libkshm (kshm_events_next, 256 records per call, sleeping in
 * poll when caught up) for SECONDS, then prints one JSON line: records
 * read, lost, CPU time. Prints "ready" once its reader is started.
 *
 *	events_reader SECONDS
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include "kshm.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_ms(const struct rusage *ru)
{
	return (double)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1e3 +
	       (double)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) / 1e3;
}

int main(int argc, char **argv)
{
	static struct kshm_event_rec recs[256];
	double seconds = argc > 1 ? atof(argv[1]) : 5, t0, end;
	unsigned long long received = 0, lost = 0, next = 0;
	unsigned long long gaps_wrong = 0;
	struct rusage ru, ru0;
	kshm_handle h = kshm_open(NULL, KSHM_OPEN_READONLY);
	int started = 0;

	if (h <= 0 || kshm_events_start(h, KSHM_EVENTS_FROM_NOW)) {
		fprintf(stderr, "events_reader: %s\n", kshm_strerror(h <= 0 ? h : -ENOSPC));
		return 1;
	}
	getrusage(RUSAGE_SELF, &ru0);
	printf("ready\n");
	fflush(stdout);
	t0 = now_s();
	end = t0 + seconds;
	while (now_s() < end) {
		int n = kshm_events_next(h, recs, 256, 50);

		if (n < 0) {
			fprintf(stderr, "events_reader: %s\n", kshm_strerror(n));
			return 1;
		}
		for (int i = 0; i < n; i++) {
			if (started && recs[i].seq != next + recs[i].lost_before)
				gaps_wrong++;
			started = 1;
			next = recs[i].seq + 1;
			lost += recs[i].lost_before;
		}
		received += (unsigned long long)n;
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("{\"received\": %llu, \"lost\": %llu, \"badSeq\": %llu, \"cpuMs\": %.1f}\n", received, lost,
	       gaps_wrong, cpu_ms(&ru) - cpu_ms(&ru0));
	kshm_close(h);
	return 0;
}
