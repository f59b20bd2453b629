// SPDX-License-Identifier: MIT
/*
 * Physical limits for bench/: what the machine itself costs for the jobs
 * kshm does, with no kshm at all. Prints one JSON object.
 *
 *   limits all N      every figure below, N operations each
 *
 * mutexNs         process-shared robust pthread mutex in a memfd, lock+unlock, uncontended
 * futexNs         raw futex lock word in a memfd (CAS 0->1, release, wake only if contended), uncontended
 * futexHandoffNs  one hand-off between two processes through a futex word (ping-pong / 2)
 * mutexHandoffNs  the same with a process-shared mutex + condition variable
 * fifo4           4 processes on a FIFO (ticket) futex lock in a memfd for 1 s:
 *                 transactions/s, max/min share, voluntary context switches per transaction
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#define BENCH_NAME "limits"
#include "common.h"

static void *shared(size_t size)
{
	int fd = (int)syscall(SYS_memfd_create, "limits", 0);
	void *p;

	if (fd < 0 || ftruncate(fd, (off_t)size))
		die("memfd");
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap");
	close(fd);
	return p;
}

static long futex(uint32_t *uaddr, int op, uint32_t val)
{
	return syscall(SYS_futex, uaddr, op, val, NULL, NULL, 0);
}

static double mutex_ns(long n)
{
	pthread_mutex_t *m = shared(4096);
	pthread_mutexattr_t a;
	uint64_t t0;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(m, &a);
	t0 = now_ns();
	for (long i = 0; i < n; i++) {
		if (pthread_mutex_lock(m))
			die("lock");
		pthread_mutex_unlock(m);
	}
	return (double)(now_ns() - t0) / n;
}

/* Drepper's mutex 2 ("Futexes are tricky"): 0 free, 1 taken, 2 taken + waiters. */
static void flock_(uint32_t *w)
{
	uint32_t c = 0;

	if (__atomic_compare_exchange_n(w, &c, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return;
	if (c != 2)
		c = __atomic_exchange_n(w, 2, __ATOMIC_ACQUIRE);
	while (c != 0) {
		futex(w, FUTEX_WAIT, 2);
		c = __atomic_exchange_n(w, 2, __ATOMIC_ACQUIRE);
	}
}

static void funlock(uint32_t *w)
{
	if (__atomic_exchange_n(w, 0, __ATOMIC_RELEASE) == 2)
		futex(w, FUTEX_WAKE, 1);
}

static double futex_ns(long n)
{
	uint32_t *w = shared(4096);
	uint64_t t0 = now_ns();

	for (long i = 0; i < n; i++) {
		flock_(w);
		funlock(w);
	}
	return (double)(now_ns() - t0) / n;
}

/* Ping-pong: the turn word goes 0 -> 1 -> 0 ...; each side waits for its value. */
static double futex_handoff_ns(long n)
{
	uint32_t *turn = shared(4096);
	uint64_t t0;
	pid_t child = fork();

	if (child < 0)
		die("fork");
	if (child == 0) {
		for (long i = 0; i < n; i++) {
			while (__atomic_load_n(turn, __ATOMIC_ACQUIRE) != 1)
				futex(turn, FUTEX_WAIT, 0);
			__atomic_store_n(turn, 0, __ATOMIC_RELEASE);
			futex(turn, FUTEX_WAKE, 1);
		}
		_exit(0);
	}
	t0 = now_ns();
	for (long i = 0; i < n; i++) {
		__atomic_store_n(turn, 1, __ATOMIC_RELEASE);
		futex(turn, FUTEX_WAKE, 1);
		while (__atomic_load_n(turn, __ATOMIC_ACQUIRE) != 0)
			futex(turn, FUTEX_WAIT, 1);
	}
	t0 = now_ns() - t0;
	waitpid(child, NULL, 0);
	return (double)t0 / (2.0 * n);
}

struct pingpong {
	pthread_mutex_t m;
	pthread_cond_t c;
	int turn;
};

static double mutex_handoff_ns(long n)
{
	struct pingpong *p = shared(4096);
	pthread_mutexattr_t ma;
	pthread_condattr_t ca;
	uint64_t t0;
	pid_t child;

	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&p->m, &ma);
	pthread_condattr_init(&ca);
	pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
	pthread_cond_init(&p->c, &ca);
	child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		pthread_mutex_lock(&p->m);
		for (long i = 0; i < n; i++) {
			while (p->turn != 1)
				pthread_cond_wait(&p->c, &p->m);
			p->turn = 0;
			pthread_cond_signal(&p->c);
		}
		pthread_mutex_unlock(&p->m);
		_exit(0);
	}
	t0 = now_ns();
	pthread_mutex_lock(&p->m);
	for (long i = 0; i < n; i++) {
		p->turn = 1;
		pthread_cond_signal(&p->c);
		while (p->turn != 0)
			pthread_cond_wait(&p->c, &p->m);
	}
	pthread_mutex_unlock(&p->m);
	t0 = now_ns() - t0;
	waitpid(child, NULL, 0);
	return (double)t0 / (2.0 * n);
}

/* A FIFO lock: a ticket lock whose waiters sleep on the "now serving" futex. */
struct fifo {
	uint32_t next;
	uint32_t serving;
	uint32_t go;
	uint32_t stop;
	uint64_t count[8];
	long csw[8];
	uint8_t data[4096];
};

static long nvcsw(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_nvcsw;
}

static void fifo_lock(struct fifo *f)
{
	uint32_t me = __atomic_fetch_add(&f->next, 1, __ATOMIC_RELAXED), s;

	while ((s = __atomic_load_n(&f->serving, __ATOMIC_ACQUIRE)) != me)
		futex(&f->serving, FUTEX_WAIT, s);
}

static void fifo_unlock(struct fifo *f)
{
	__atomic_fetch_add(&f->serving, 1, __ATOMIC_RELEASE);
	if (__atomic_load_n(&f->next, __ATOMIC_RELAXED) != __atomic_load_n(&f->serving, __ATOMIC_RELAXED))
		futex(&f->serving, FUTEX_WAKE, INT32_MAX);
}

static void fifo4(double seconds)
{
	struct fifo *f = shared(sizeof(*f));
	uint64_t total = 0, max = 0, min = UINT64_MAX;
	long csw = 0;
	int procs = 4;

	for (int id = 0; id < procs; id++) {
		pid_t c = fork();

		if (c < 0)
			die("fork");
		if (c == 0) {
			long c0;

			while (!__atomic_load_n(&f->go, __ATOMIC_ACQUIRE))
				usleep(100);
			c0 = nvcsw();
			for (;;) {
				fifo_lock(f);
				if (f->stop) {
					fifo_unlock(f);
					break;
				}
				memset(f->data + 64 * id, (int)f->count[id], 64);
				f->count[id]++;
				fifo_unlock(f);
			}
			f->csw[id] = nvcsw() - c0;
			_exit(0);
		}
	}
	usleep(100000);
	__atomic_store_n(&f->go, 1, __ATOMIC_RELEASE);
	usleep((useconds_t)(seconds * 1e6));
	__atomic_store_n(&f->stop, 1, __ATOMIC_RELEASE);
	while (wait(NULL) > 0)
		;
	for (int id = 0; id < procs; id++) {
		total += f->count[id];
		csw += f->csw[id];
		if (f->count[id] > max)
			max = f->count[id];
		if (f->count[id] < min)
			min = f->count[id];
	}
	printf("\"fifo4\":{\"counts\":[%llu,%llu,%llu,%llu],\"throughput\":%.0f,\"fairness\":%.3f,"
	       "\"voluntarySwitchesPerTxn\":%.3f}",
	       (unsigned long long)f->count[0], (unsigned long long)f->count[1],
	       (unsigned long long)f->count[2], (unsigned long long)f->count[3],
	       total / seconds, min ? (double)max / min : 0, total ? (double)csw / total : 0);
}

int main(int argc, char **argv)
{
	long n = argc > 2 ? atol(argv[2]) : 100000;

	setvbuf(stdout, NULL, _IOFBF, 0);
	if (argc < 2 || strcmp(argv[1], "all")) {
		fprintf(stderr, "usage: limits all N\n");
		return 2;
	}
	mutex_ns(n / 10);	/* warm-up */
	printf("{\"mutexNs\":%.1f,\"futexNs\":%.1f,", mutex_ns(n), futex_ns(n));
	printf("\"futexHandoffNs\":%.1f,\"mutexHandoffNs\":%.1f,", futex_handoff_ns(n / 10), mutex_handoff_ns(n / 10));
	fifo4(n >= 100000 ? 1.0 : 0.3);
	printf("}\n");
	return 0;
}
