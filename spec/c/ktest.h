/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A tiny test runner for kshm's C tests. Each test runs in its own forked
 * process with an alarm, so a crash, a hang or a leaked lock fails that test
 * only. The summary uses uvu's format (Total/Passed/Skipped) so the project's
 * test runner can add C and JS results together.
 */
#ifndef KTEST_H
#define KTEST_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KT_FAIL(...)                                                     \
	do {                                                             \
		fprintf(stderr, "    at %s:%d: ", __FILE__, __LINE__);       \
		fprintf(stderr, __VA_ARGS__);                            \
		fprintf(stderr, "\n");                                   \
		exit(1);                                                 \
	} while (0)

#define KT_CHECK(cond)                                                   \
	do {                                                             \
		if (!(cond))                                             \
			KT_FAIL("check failed: %s (errno %d: %s)", #cond,  \
				errno, strerror(errno));                 \
	} while (0)

#define KT_EQ(a, b)                                                      \
	do {                                                             \
		long long _a = (long long)(a), _b = (long long)(b);      \
		if (_a != _b)                                            \
			KT_FAIL("%s == %s: got %lld, want %lld", #a, #b,   \
				_a, _b);                                 \
	} while (0)

/*
 * Loads a test module the harness built, build/kmod/<series>/@name.ko, with
 * @params: found from this program's own path (build/spec-c/PROGRAM), the
 * series being the one the harness booted (KSHM_KERNEL). kt_try_load_module()
 * returns 0 or -errno of the load instead of failing the test.
 */
static inline int kt_try_load_module(const char *name, const char *params)
{
	char path[512];
	struct utsname u;
	ssize_t n;
	int fd, ret;

	KT_EQ(uname(&u), 0);
	n = readlink("/proc/self/exe", path, sizeof(path) - 128);
	KT_CHECK(n > 0);
	path[n] = 0;			/* readlink() does not terminate it */
	*strrchr(path, '/') = 0;	/* build/spec-c */
	*strrchr(path, '/') = 0;	/* build */
	snprintf(path + strlen(path), 128, "/kmod/%s/%s.ko",
		 getenv("KSHM_KERNEL") ? getenv("KSHM_KERNEL") :
		 !strncmp(u.release, "6.1.", 4) ? "6.1" : "6.12", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		KT_FAIL("%s: %s (npm run driver:build builds it)", path, strerror(errno));
	ret = syscall(SYS_finit_module, fd, params, 0) ? -errno : 0;
	close(fd);
	return ret;
}

static inline void kt_load_module(const char *name, const char *params)
{
	KT_EQ(kt_try_load_module(name, params), 0);
}

struct kt_test {
	const char *name;
	void (*fn)(void);
	unsigned int timeout_s;
};

static inline double kt_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/*
 * How much slower than a production kernel this guest is: the harness sets
 * KSHM_TIME_SCALE on the debug kernel (KASAN, lockdep, SLUB debugging). Bounds
 * on how soon the driver acts (recovery, cancel) are multiplied by it.
 */
static inline double kt_time_scale(void)
{
	const char *s = getenv("KSHM_TIME_SCALE");
	double v = s ? atof(s) : 1;

	return v >= 1 ? v : 1;
}

/*
 * A poll() of one file on a thread of its own
 * (pthread_create(&t, NULL, kt_poll_thread, &p)): what it returned, and revents.
 */
struct kt_poller {
	int fd;
	short events;
	int timeout_ms;
	int ret;
	short revents;
};

static inline void *kt_poll_thread(void *arg)
{
	struct kt_poller *p = arg;
	struct pollfd pfd = { .fd = p->fd, .events = p->events };

	p->ret = poll(&pfd, 1, p->timeout_ms);
	p->revents = pfd.revents;
	return NULL;
}

static inline void kt_sleep_ms(double ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)((ms - (time_t)(ms / 1000) * 1000) * 1e6) };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/*
 * Fills @words u32 with xorshift values from *@x whose sum is 0 (mod 2^32):
 * the invariant that no consistent snapshot may break.
 */
static inline void kt_fill_checksummed(uint32_t *w, int words, uint32_t *x)
{
	uint32_t sum = 0;

	for (int i = 0; i < words - 1; i++) {
		*x ^= *x << 13;
		*x ^= *x >> 17;
		*x ^= *x << 5;
		w[i] = *x;
		sum += *x;
	}
	w[words - 1] = -sum;
}

/* Runs every test whose name contains argv[1] (or all); returns the exit code. */
static inline int kt_main(const char *suite, const struct kt_test *tests, size_t n,
			  int argc, char **argv)
{
	const char *filter = argc > 1 ? argv[1] : NULL;
	unsigned int total = 0, passed = 0, skipped = 0;
	size_t i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("%s\n", suite);
	for (i = 0; i < n; i++) {
		const struct kt_test *t = &tests[i];
		double t0;
		pid_t pid;
		int status;

		if (filter && !strstr(t->name, filter)) {
			skipped++;
			continue;
		}
		total++;
		fflush(NULL);
		t0 = kt_now_ms();
		pid = fork();
		if (pid == 0) {
			setpgid(0, 0);	/* so whatever it forks can be stopped with it */
			alarm((unsigned int)((t->timeout_s ? t->timeout_s : 30) * kt_time_scale()));
			t->fn();
			exit(0);
		}
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		/* A failed test may leave children running: stop them all. */
		kill(-pid, SIGKILL);
		while (waitpid(-pid, NULL, 0) > 0 || errno == EINTR)
			;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			passed++;
			printf("  ✔ %s (%.0f ms)\n", t->name, kt_now_ms() - t0);
		} else if (WIFSIGNALED(status)) {
			printf("  ✘ %s: killed by signal %d%s\n", t->name, WTERMSIG(status),
			       WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
		} else {
			printf("  ✘ %s\n", t->name);
		}
	}
	printf("\n  Total:     %u\n  Passed:    %u\n  Skipped:   %u\n", total, passed, skipped);
	return passed == total ? 0 : 1;
}

#define KT_RUN(suite, tests, argc, argv) \
	kt_main(suite, tests, sizeof(tests) / sizeof(tests[0]), argc, argv)

#endif /* KTEST_H */
