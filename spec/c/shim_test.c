// SPDX-License-Identifier: MIT
/*
 * libkshm's tests. Those marked "device" need /dev/kshm (the guest); the
 * others run anywhere, and also under valgrind and ASan on the host.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include "kshm.h"
#include "lockword.h"
#include "ktest.h"

static int has_device(void)
{
	return access(KSHM_DEVICE_PATH, F_OK) == 0;
}

#define NEEDS_DEVICE()                                          \
	do {                                                    \
		if (!has_device())                              \
			KT_FAIL("needs " KSHM_DEVICE_PATH);     \
	} while (0)

static kshm_handle must_open(uint32_t flags)
{
	kshm_handle h = kshm_open(NULL, flags);

	if (h <= 0)
		KT_FAIL("kshm_open: %s", kshm_strerror(h));
	return h;
}

/* Where @h's mappings are (kshm_layout() must succeed on an open handle). */
static struct kshm_layout layout(kshm_handle h)
{
	struct kshm_layout l;

	if (kshm_layout(h, &l))
		KT_FAIL("kshm_layout failed");
	return l;
}

/* ---- anywhere ---------------------------------------------------------- */

static void write_fake(const char *path, uint32_t magic, uint32_t abi)
{
	long ps = sysconf(_SC_PAGESIZE);
	struct kshm_header h = {
		.magic = magic, .abi_version = abi, .page_size = (uint32_t)ps, .pages = 1,
		.data_offset = (uint64_t)ps, .data_size = (uint64_t)ps,
	};
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	KT_CHECK(fd >= 0);
	KT_CHECK(ftruncate(fd, 2 * ps) == 0);
	KT_CHECK(pwrite(fd, &h, sizeof(h), 0) == sizeof(h));
	close(fd);
}

static void test_abi_mismatch(void)
{
	char path[] = "/tmp/kshm-fake-XXXXXX";
	int fd = mkstemp(path);
	kshm_handle h;

	KT_CHECK(fd >= 0);
	close(fd);
	write_fake(path, KSHM_MAGIC, 42);
	h = kshm_open(path, 0);
	KT_EQ(h, -KSHM_E_ABI);
	KT_CHECK(strstr(kshm_last_error(), "ABI version 42") != NULL);
	KT_CHECK(strstr(kshm_last_error(), "ABI version 2") != NULL);
	KT_CHECK(strstr(kshm_strerror(h), "ABI") != NULL);
	write_fake(path, 0x12345678, KSHM_ABI_VERSION);
	KT_EQ(kshm_open(path, 0), -KSHM_E_MAGIC);
	KT_CHECK(strstr(kshm_last_error(), "not a kshm device") != NULL);
	/* A well-formed header in a plain file: no control page, no INFO. */
	write_fake(path, KSHM_MAGIC, KSHM_ABI_VERSION);
	KT_EQ(kshm_open(path, KSHM_OPEN_READONLY), -KSHM_E_MAGIC);
	KT_CHECK(strstr(kshm_last_error(), "inconsistent") != NULL);
	/* A consistent header in a plain file: its INFO fails with ENOTTY. */
	fd = open(path, O_RDWR);
	KT_CHECK(fd >= 0);
	{
		long ps = sysconf(_SC_PAGESIZE);
		struct kshm_header hd = {
			.magic = KSHM_MAGIC, .abi_version = KSHM_ABI_VERSION,
			.page_size = (uint32_t)ps, .pages = 1, .features = KSHM_FEAT_LOCKWORD,
			.data_offset = (uint64_t)ps, .data_size = (uint64_t)ps,
			.ctrl_offset = 2 * (uint64_t)ps,
		};

		KT_CHECK(ftruncate(fd, 3 * ps) == 0);
		KT_CHECK(pwrite(fd, &hd, sizeof(hd), 0) == sizeof(hd));
	}
	close(fd);
	KT_EQ(kshm_open(path, KSHM_OPEN_READONLY), -KSHM_E_MAGIC);
	KT_CHECK(strstr(kshm_last_error(), "ENOTTY") != NULL);
	unlink(path);
}

static void test_missing_device(void)
{
	KT_EQ(kshm_open("/nonexistent/kshm", 0), -ENOENT);
	KT_EQ(kshm_open("/dev/null", 0), -KSHM_E_MAGIC);
	KT_EQ(kshm_open(NULL, 0x80), -EINVAL);
}

/* Files shorter than a header page map, but reading one would raise SIGBUS. */
static void test_short_files(void)
{
	char path[] = "/tmp/kshm-short-XXXXXX";
	int fd = mkstemp(path);

	KT_CHECK(fd >= 0);
	KT_EQ(kshm_open(path, 0), -KSHM_E_MAGIC);	/* empty */
	KT_CHECK(strstr(kshm_last_error(), "0 bytes") != NULL);
	KT_EQ(write(fd, "KSHM", 4), 4);
	KT_EQ(kshm_open(path, KSHM_OPEN_READONLY), -KSHM_E_MAGIC);
	close(fd);
	unlink(path);
	KT_EQ(kshm_open("/proc/self/status", KSHM_OPEN_READONLY), -KSHM_E_MAGIC);
}

static void test_bad_handles(void)
{
	uint32_t r;
	uint8_t buf[4];
	struct kshm_info info;
	struct kshm_layout layout;

	KT_EQ(kshm_close(0), -EBADF);
	KT_EQ(kshm_close(-3), -EBADF);
	KT_EQ(kshm_close(12345), -EBADF);
	KT_EQ(kshm_lock(77, 0, 0, &r), -EBADF);
	KT_EQ(kshm_trylock(77), -EBADF);
	KT_EQ(kshm_unlock(77, KSHM_UNLOCK_COMMIT), -EBADF);
	KT_EQ(kshm_cancel(77), -EBADF);
	KT_EQ(kshm_snapshot(77, buf, 0, 4, NULL), -EBADF);
	KT_EQ(kshm_snapshot_wait(77, buf, 0, 4, NULL, 0), -EBADF);
	KT_EQ(kshm_info(77, &info), -EBADF);
	KT_EQ(kshm_layout(77, &layout), -EBADF);
	KT_EQ(kshm_generation(77), 0);
}

static void test_strerror(void)
{
	KT_CHECK(strcmp(kshm_strerror(-ETIMEDOUT), kshm_strerror(ETIMEDOUT)) == 0);
	KT_CHECK(strstr(kshm_strerror(-ECANCELED), "anceled") != NULL);
	KT_CHECK(strlen(kshm_strerror(-99999)) > 0);
}

/* ---- with the device --------------------------------------------------- */

/* A holder on another thread that releases after a while: the spinner sees it free. */
static void *release_later(void *arg)
{
	struct kshm_ctrl *c = arg;

	usleep(2000);
	__atomic_store_n(&c->lock, 0, __ATOMIC_RELEASE);
	return NULL;
}

/* lw_spin_while_held(): free -> true; WAITERS or DIED -> false at once; the budget bounds it. */
static void test_spin_while_held(void)
{
	static struct kshm_ctrl c;
	pthread_t t;

	c.lock = 0;
	KT_CHECK(lw_spin_while_held(&c, 1000, 0));
	c.lock = 5;
	KT_CHECK(pthread_create(&t, NULL, release_later, &c) == 0);
	KT_CHECK(lw_spin_while_held(&c, 10LL * 1000 * 1000 * 1000, 0));	/* returns at the release */
	pthread_join(t, NULL);
	KT_EQ(c.lock, 0);
	c.lock = 5 | KSHM_LW_WAITERS;	/* queued waiters get it first: never spin */
	KT_CHECK(!lw_spin_while_held(&c, 10LL * 1000 * 1000 * 1000, 0));
	c.lock = 5 | KSHM_LW_DIED;
	KT_CHECK(!lw_spin_while_held(&c, 10LL * 1000 * 1000 * 1000, 0));
	c.lock = KSHM_LW_DIED;	/* free, but only the driver (or a DIED-aware CAS) may take it */
	KT_CHECK(!lw_spin_while_held(&c, 10LL * 1000 * 1000 * 1000, 0));
	c.lock = 5;	/* held for good: the budget ends the spin */
	KT_CHECK(!lw_spin_while_held(&c, 1000 * 1000, 0));
}

static bool stop_at_third(void *arg)
{
	return ++*(int *)arg >= 3;
}

/* lw_spin_while_held_or(): its stop ends a spin no budget would (held, or queued behind). */
static void test_spin_stop(void)
{
	static struct kshm_ctrl c;
	int calls = 0;

	c.lock = 5;
	KT_CHECK(!lw_spin_while_held_or(&c, 10LL * 1000 * 1000 * 1000, 0, stop_at_third, &calls));
	KT_EQ(calls, 3);
	calls = 0;
	c.lock = 5 | KSHM_LW_WAITERS;
	KT_CHECK(!lw_spin_while_held_or(&c, 1000, 10LL * 1000 * 1000 * 1000, stop_at_third, &calls));
	KT_EQ(calls, 3);
	calls = 0;
	c.lock = 0;	/* free: true before any stop */
	KT_CHECK(lw_spin_while_held_or(&c, 10LL * 1000 * 1000 * 1000, 0, stop_at_third, &calls));
	KT_EQ(calls, 0);
}

/*
 * With a waiters budget: WAITERS does not end the spin, which returns once
 * the queue drained and the word is free; DIED still ends it; that budget
 * bounds it.
 */
static void test_spin_through_waiters(void)
{
	static struct kshm_ctrl c;
	struct timespec t0, t1;
	pthread_t t;

	c.lock = 5 | KSHM_LW_WAITERS;
	KT_CHECK(pthread_create(&t, NULL, release_later, &c) == 0);
	KT_CHECK(lw_spin_while_held(&c, 1000, 10LL * 1000 * 1000 * 1000));	/* at the release */
	pthread_join(t, NULL);
	KT_EQ(c.lock, 0);
	c.lock = 5 | KSHM_LW_WAITERS | KSHM_LW_DIED;
	KT_CHECK(!lw_spin_while_held(&c, 10LL * 1000 * 1000 * 1000, 10LL * 1000 * 1000 * 1000));
	c.lock = 5 | KSHM_LW_WAITERS;	/* queued for good: the waiters budget ends it */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	KT_CHECK(!lw_spin_while_held(&c, 1000, 2 * 1000 * 1000));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	KT_CHECK((t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec) >= 2 * 1000 * 1000);
}

static void test_open_close_twice(void)
{
	NEEDS_DEVICE();
	kshm_handle h = must_open(0), h2;

	KT_CHECK(layout(h).data != NULL);
	KT_EQ(layout(h).header->magic, KSHM_MAGIC);
	KT_EQ(layout(h).header->abi_version, KSHM_ABI_VERSION);
	KT_EQ(layout(h).data_size, (uint64_t)layout(h).header->pages * layout(h).header->page_size);
	KT_EQ(kshm_close(h), 0);
	KT_EQ(kshm_close(h), -EBADF);
	KT_EQ(kshm_trylock(h), -EBADF);
	/* A new handle in the same slot is a different handle. */
	h2 = must_open(0);
	KT_CHECK(h2 != h);
	KT_EQ(kshm_close(h), -EBADF);
	KT_EQ(kshm_close(h2), 0);
}

static void test_trylock_and_timeout(void)
{
	NEEDS_DEVICE();
	kshm_handle a = must_open(0), b = must_open(0), ro = must_open(KSHM_OPEN_READONLY);
	uint32_t r = 99;
	double t0;

	KT_EQ(kshm_trylock(a), 0);
	KT_EQ(kshm_trylock(b), -EBUSY);
	KT_EQ(kshm_trylock(a), -EDEADLK);
	t0 = kt_now_ms();
	KT_EQ(kshm_lock(b, 40, 0, &r), -ETIMEDOUT);
	KT_CHECK(kt_now_ms() - t0 >= 30);	/* jiffies: a tick or two of slack in a TCG guest */
	KT_EQ(kshm_unlock(b, KSHM_UNLOCK_COMMIT), -EPERM);
	KT_EQ(kshm_unlock(a, 0), -EINVAL);
	KT_EQ(kshm_unlock(a, KSHM_UNLOCK_COMMIT), 0);
	KT_EQ(kshm_trylock(ro), -EBADF);
	KT_EQ(kshm_unlock(ro, KSHM_UNLOCK_ABORT), -EBADF);
	kshm_close(a);
	kshm_close(b);
	kshm_close(ro);
}

struct blocked {
	kshm_handle h;
	int64_t epoch;
	int ret;
	atomic_int done;
};

static void *lock_thread(void *arg)
{
	struct blocked *b = arg;

	b->ret = b->epoch >= 0 ? kshm_lock_epoch(b->h, b->epoch, 0, 0, NULL)
			       : kshm_lock(b->h, 0, 0, NULL);
	atomic_store(&b->done, 1);
	return NULL;
}

static void wait_waiters(kshm_handle h, unsigned int n)
{
	double until = kt_now_ms() + 5000;

	while (__atomic_load_n(&layout(h).header->waiters, __ATOMIC_ACQUIRE) != n) {
		if (kt_now_ms() > until)
			KT_FAIL("waiters did not reach %u", n);
		kt_sleep_ms(1);
	}
}

static void test_cancel_from_other_thread(void)
{
	NEEDS_DEVICE();
	kshm_handle holder = must_open(0);
	struct blocked b = { .h = must_open(0), .epoch = -1 };
	pthread_t t;
	double t0;

	KT_EQ(kshm_trylock(holder), 0);
	pthread_create(&t, NULL, lock_thread, &b);
	wait_waiters(holder, 1);
	t0 = kt_now_ms();
	KT_EQ(kshm_cancel(b.h), 0);
	pthread_join(t, NULL);
	KT_EQ(b.ret, -ECANCELED);
	KT_CHECK(kt_now_ms() - t0 < 500);
	KT_EQ(layout(holder).header->waiters, 0);
	/* The handle still works after a cancel. */
	KT_EQ(kshm_unlock(holder, KSHM_UNLOCK_ABORT), 0);
	KT_EQ(kshm_lock(b.h, 100, 0, NULL), 0);
	KT_EQ(kshm_unlock(b.h, KSHM_UNLOCK_ABORT), 0);
	kshm_close(holder);
	kshm_close(b.h);
}

static void test_cancel_before_start(void)
{
	NEEDS_DEVICE();
	kshm_handle holder = must_open(0);
	struct blocked b = { .h = must_open(0) };
	pthread_t t;

	KT_EQ(kshm_trylock(holder), 0);
	/* As with a call queued on a worker pool: epoch read, then cancel, then start. */
	b.epoch = kshm_cancel_epoch(b.h);
	KT_EQ(kshm_cancel(b.h), 0);
	pthread_create(&t, NULL, lock_thread, &b);
	pthread_join(t, NULL);
	KT_EQ(b.ret, -ECANCELED);
	KT_EQ(layout(holder).header->waiters, 0);
	KT_EQ(kshm_unlock(holder, KSHM_UNLOCK_ABORT), 0);
	kshm_close(holder);
	kshm_close(b.h);
}

static void test_close_while_blocked(void)
{
	NEEDS_DEVICE();
	kshm_handle holder = must_open(0);
	struct blocked b = { .h = must_open(0), .epoch = -1 };
	pthread_t t;

	KT_EQ(kshm_trylock(holder), 0);
	pthread_create(&t, NULL, lock_thread, &b);
	wait_waiters(holder, 1);
	KT_EQ(kshm_close(b.h), 0);
	pthread_join(t, NULL);
	KT_EQ(b.ret, -ECANCELED);
	KT_EQ(layout(holder).header->waiters, 0);
	{
		struct kshm_info i;

		KT_EQ(kshm_info(holder, &i), 0);
		KT_EQ(i.holder_pid, getpid());
	}
	KT_EQ(kshm_unlock(holder, KSHM_UNLOCK_COMMIT), 0);
	kshm_close(holder);
}

static uint64_t slow_grants(kshm_handle h)
{
	struct kshm_info i;

	KT_EQ(kshm_info(h, &i), 0);
	return i.locks_granted;
}

static void test_fast_path(void)
{
	NEEDS_DEVICE();
	kshm_handle a = must_open(0), s = must_open(KSHM_OPEN_NO_FASTPATH);
	kshm_handle ro = must_open(KSHM_OPEN_READONLY);
	struct kshm_ctrl *c = layout(a).ctrl;
	uint64_t grants = slow_grants(a), g = kshm_generation(a);

	KT_CHECK(c != NULL && layout(a).file_id != 0 && layout(a).file_id != layout(s).file_id);
	KT_EQ(kshm_open(NULL, 1U << 7), -EINVAL);
	/* Fast: the driver grants nothing, yet the word, seq and generation move. */
	KT_EQ(kshm_trylock(a), 0);
	KT_EQ(c->lock, layout(a).file_id);
	KT_EQ(c->seq & 1, 1);
	KT_EQ(kshm_trylock(s), -EBUSY);
	KT_EQ(kshm_unlock(a, KSHM_UNLOCK_COMMIT), 0);
	KT_EQ(c->lock, 0);
	KT_EQ(c->seq & 1, 0);
	KT_EQ(kshm_generation(a), g + 1);
	KT_EQ(slow_grants(a), grants);
	KT_EQ(kshm_lock(a, 100, 0, NULL), 0);
	KT_EQ(kshm_unlock(a, KSHM_UNLOCK_ABORT), 0);
	KT_EQ(kshm_generation(a), g + 1);
	KT_EQ(slow_grants(a), grants);
	/* NO_FASTPATH: every lock goes through the driver. */
	KT_EQ(kshm_lock(s, 100, 0, NULL), 0);
	KT_EQ(c->lock, layout(s).file_id);
	KT_EQ(kshm_unlock(s, KSHM_UNLOCK_COMMIT), 0);
	KT_EQ(slow_grants(a), grants + 1);
	KT_EQ(kshm_generation(a), g + 2);
	/* Read-only handles see the control page but cannot lock or wake. */
	KT_CHECK(layout(ro).ctrl != NULL);
	KT_EQ(kshm_trylock(ro), -EBADF);
	KT_EQ(kshm_wake(ro), -EBADF);
	KT_EQ(kshm_wake(a), 0);
	KT_EQ(kshm_wake(0), -EBADF);
	/* Unlock flags are checked before anything moves. */
	KT_EQ(kshm_trylock(a), 0);
	KT_EQ(kshm_unlock(a, KSHM_UNLOCK_PUBLISHED), -EINVAL);
	KT_EQ(kshm_unlock(a, KSHM_UNLOCK_COMMIT | KSHM_UNLOCK_ABORT), -EINVAL);
	KT_EQ(c->lock, layout(a).file_id);
	KT_EQ(kshm_unlock(a, KSHM_UNLOCK_COMMIT), 0);
	KT_EQ(kshm_unlock(a, KSHM_UNLOCK_COMMIT), -EPERM);
	kshm_close(a);
	kshm_close(s);
	kshm_close(ro);
}

/*
 * Lock-word ids belong to (open file, process): a forked child takes the lock
 * with its own id, so the parent's close does not release the child's lock.
 */
static void test_fork_refreshes_id(void)
{
	NEEDS_DEVICE();
	kshm_handle a = must_open(0);
	struct kshm_ctrl *c = layout(a).ctrl;
	uint32_t parent_id = layout(a).file_id;
	int up[2], down[2];
	uint32_t child_id;
	int status;
	char ch;
	pid_t pid;

	KT_CHECK(pipe(up) == 0 && pipe(down) == 0);
	pid = fork();
	if (pid == 0) {
		uint32_t id = layout(a).file_id;

		if (id == 0 || id == parent_id || kshm_trylock(a) != 0)
			_exit(2);
		if (c->lock != id)
			_exit(3);
		KT_CHECK(write(up[1], &id, sizeof(id)) == sizeof(id));
		KT_CHECK(read(down[0], &ch, 1) == 1);
		if (c->lock != id)	/* the parent's close left it alone */
			_exit(4);
		_exit(kshm_unlock(a, KSHM_UNLOCK_COMMIT) ? 5 : 0);
	}
	KT_EQ(read(up[0], &child_id, sizeof(child_id)), sizeof(child_id));
	KT_EQ(c->lock, child_id);
	KT_EQ(layout(a).file_id, parent_id);	/* the parent's own id did not change */
	KT_EQ(kshm_unlock(a, KSHM_UNLOCK_COMMIT), -EPERM);	/* not the parent's lock */
	kshm_close(a);
	KT_EQ(write(down[1], "x", 1), 1);
	KT_EQ(waitpid(pid, &status, 0), pid);
	KT_CHECK(WIFEXITED(status));
	KT_EQ(WEXITSTATUS(status), 0);
}

/* A fast holder hands over to a thread blocked in the driver. */
static void test_fast_holder_hands_over(void)
{
	NEEDS_DEVICE();
	kshm_handle a = must_open(0);
	struct blocked b = { .h = must_open(0), .epoch = -1 };
	struct kshm_ctrl *c = layout(a).ctrl;
	pthread_t t;

	KT_EQ(kshm_trylock(a), 0);
	pthread_create(&t, NULL, lock_thread, &b);
	wait_waiters(a, 1);
	KT_EQ(c->lock, layout(a).file_id | KSHM_LW_WAITERS);
	kt_sleep_ms(5);
	KT_EQ(atomic_load(&b.done), 0);
	KT_EQ(kshm_unlock(a, KSHM_UNLOCK_COMMIT), 0);
	pthread_join(t, NULL);
	KT_EQ(b.ret, 0);
	KT_EQ(c->lock, layout(b.h).file_id);	/* no WAITERS left */
	KT_EQ(kshm_trylock(a), -EBUSY);
	KT_EQ(kshm_unlock(b.h, KSHM_UNLOCK_COMMIT), 0);
	KT_EQ(c->lock, 0);
	kshm_close(a);
	kshm_close(b.h);
}

static void test_close_releases_held_lock(void)
{
	NEEDS_DEVICE();
	kshm_handle a = must_open(0), b = must_open(0);
	uint32_t r = 0;

	KT_EQ(kshm_trylock(a), 0);
	KT_EQ(kshm_close(a), 0);
	KT_EQ(kshm_lock(b, 100, 0, &r), 0);
	KT_EQ(r, KSHM_LOCK_OWNER_DIED);
	KT_EQ(kshm_unlock(b, KSHM_UNLOCK_COMMIT), 0);
	kshm_close(b);
}

#define WORDS 256

static atomic_int writer_serial;

/* Every other writer locks through the driver only: both paths interleave. */
static void *writer_thread(void *arg)
{
	kshm_handle h = must_open(atomic_fetch_add(&writer_serial, 1) & 1 ? KSHM_OPEN_NO_FASTPATH : 0);
	uint32_t *w = layout(h).data;
	atomic_int *stop = arg;
	uint32_t x = 88172645u;

	while (!atomic_load(stop)) {
		if (kshm_lock(h, 5000, 0, NULL))
			KT_FAIL("writer lock");
		kt_fill_checksummed(w, WORDS, &x);
		kshm_unlock(h, KSHM_UNLOCK_COMMIT);
	}
	kshm_close(h);
	return NULL;
}

/* The reader's waits: one per run of -EAGAIN (ended by a good snapshot, or by the end). */
struct waits {
	double long_ms;		/* a wait at least this long counts as long */
	long runs, long_runs;
	double max_ms, total_ms;
};

static void waits_add(struct waits *w, double waited)
{
	w->runs++;
	w->long_runs += waited >= w->long_ms;
	w->total_ms += waited;
	if (waited > w->max_ms)
		w->max_ms = waited;
}

/*
 * Takes snapshots of the first WORDS words (the writers keep their sum 0) for
 * @ms: fails on a torn one or a generation that goes back; counts the good
 * ones and the -EAGAIN (a writer stayed in longer than @max_wait_us) and, if
 * @w, how long each run of -EAGAIN lasted.
 */
static void read_untorn(kshm_handle h, uint32_t max_wait_us, double ms, long *good, long *again,
			struct waits *w)
{
	double now = kt_now_ms(), until = now + ms, wait_from = 0;
	uint64_t last_gen = 0;

	for (; now < until; now = kt_now_ms()) {
		uint32_t copy[WORDS], sum = 0;
		uint64_t gen;
		int ret = kshm_snapshot_wait(h, copy, 0, sizeof(copy), &gen, max_wait_us);

		if (ret == -EAGAIN) {
			if (!wait_from)
				wait_from = now;
			(*again)++;
			continue;
		}
		KT_EQ(ret, 0);
		for (int i = 0; i < WORDS; i++)
			sum += copy[i];
		if (sum)
			KT_FAIL("torn snapshot after %ld good ones", *good);
		KT_CHECK(gen >= last_gen);
		last_gen = gen;
		(*good)++;
		if (w && wait_from)
			waits_add(w, kt_now_ms() - wait_from);
		wait_from = 0;
	}
	if (w && wait_from)	/* still turned away at the end */
		waits_add(w, now - wait_from);
}

static void test_snapshot_never_torn(void)
{
	NEEDS_DEVICE();
	kshm_handle h = must_open(KSHM_OPEN_READONLY);
	atomic_int stop = 0;
	pthread_t t[4];
	long good = 0, again = 0;
	kshm_handle w = must_open(0);

	/* Start from a state that holds the invariant (earlier tests leave bytes). */
	KT_EQ(kshm_lock(w, 1000, 0, NULL), 0);
	memset(layout(w).data, 0, WORDS * 4);
	KT_EQ(kshm_unlock(w, KSHM_UNLOCK_COMMIT), 0);
	kshm_close(w);
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, writer_thread, &stop);
	read_untorn(h, 2000, 1500, &good, &again, NULL);
	atomic_store(&stop, 1);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	KT_CHECK(good > 0);
	printf("    %ld consistent snapshots, %ld EAGAIN\n", good, again);
	/* Range checks. */
	uint8_t b[8];

	KT_EQ(kshm_snapshot(h, b, layout(h).data_size - 4, 8, NULL), -EINVAL);
	KT_EQ(kshm_snapshot_wait(h, b, UINT64_MAX, 1, NULL, 0), -EINVAL);
	KT_EQ(kshm_snapshot(h, b, 0, 0, NULL), 0);
	kshm_close(h);
}

static void test_snapshot_waits_bounded(void)
{
	NEEDS_DEVICE();
	kshm_handle w = must_open(0), r = must_open(KSHM_OPEN_READONLY);
	uint8_t b[16];
	double t0;

	KT_EQ(kshm_trylock(w), 0);
	t0 = kt_now_ms();
	KT_EQ(kshm_snapshot_wait(r, b, 0, sizeof(b), NULL, 20000), -EAGAIN);
	KT_CHECK(kt_now_ms() - t0 >= 15);
	KT_CHECK(kt_now_ms() - t0 < 2000);
	/* kshm_snapshot() waits its own bound, KSHM_SNAPSHOT_WAIT_US. */
	t0 = kt_now_ms();
	KT_EQ(kshm_snapshot(r, b, 0, sizeof(b), NULL), -EAGAIN);
	KT_CHECK(kt_now_ms() - t0 >= KSHM_SNAPSHOT_WAIT_US / 1000.0 * 0.9);
	KT_CHECK(kt_now_ms() - t0 < 2000);
	KT_EQ(kshm_unlock(w, KSHM_UNLOCK_ABORT), 0);
	KT_EQ(kshm_snapshot(r, b, 0, sizeof(b), NULL), 0);
	kshm_close(w);
	kshm_close(r);
}

static void test_consume_poll_kwrite(void)
{
	NEEDS_DEVICE();
	kshm_handle w = must_open(0), r = must_open(KSHM_OPEN_READONLY);
	struct pollfd pfd = { .fd = layout(r).fd, .events = POLLIN };
	uint64_t g = 0, g2 = 0;
	struct kshm_info info;
	uint8_t back[3];

	KT_CHECK(pfd.fd >= 0);
	KT_EQ(kshm_consume(r, &g), 0);
	KT_EQ(kshm_kwrite(w, 10, "abc", 3, 500, &g2), 0);
	KT_EQ(poll(&pfd, 1, 1000), 1);
	KT_EQ(kshm_consume(r, &g), 1);
	KT_EQ(g, g2);
	KT_EQ(kshm_generation(r), g2);
	KT_EQ(poll(&pfd, 1, 0), 0);
	KT_EQ(kshm_snapshot(r, back, 10, 3, &g), 0);
	KT_EQ(memcmp(back, "abc", 3), 0);
	KT_EQ(kshm_info(r, &info), 0);
	KT_EQ(info.generation, g2);
	KT_EQ(kshm_kwrite(w, layout(w).data_size, "x", 1, 10, NULL), -EINVAL);
	kshm_close(w);
	kshm_close(r);
}

/* Commits @len bytes of @byte at 0 in place (any path). */
static void commit_fill(kshm_handle h, int byte, size_t len)
{
	KT_EQ(kshm_lock(h, 2000, 0, NULL), 0);
	memset(layout(h).data, byte, len);
	KT_EQ(kshm_unlock(h, KSHM_UNLOCK_COMMIT), 0);
}

/*
 * Staging on one lock path (@flags: 0 or KSHM_OPEN_NO_FASTPATH): readers
 * copy the committed state while a staged holder holds the lock (seq even),
 * the publish commits exactly the writes, an abort moves nothing.
 */
static void staged_basics(uint32_t flags)
{
	kshm_handle h = must_open(flags), o = must_open(0), r = must_open(KSHM_OPEN_READONLY);
	struct kshm_ctrl *c = layout(h).ctrl;
	uint8_t *d = layout(h).data, copy[128];
	uint64_t g, cg = 0;
	uint32_t seq, res = 9;
	struct kshm_write w[2] = { { 0, "BBBB", 4 }, { 100, "CC", 2 } };
	struct kshm_write bad = { layout(h).data_size - 1, "xx", 2 };

	commit_fill(o, 'A', 128);
	g = kshm_generation(h);
	seq = c->seq;
	KT_EQ(kshm_publish(h, w, 2), -EINVAL);	/* no staged hold */
	KT_EQ(kshm_lock(h, 1000, KSHM_LOCK_STAGED | 0x80, NULL), -EINVAL);
	KT_EQ(kshm_lock(h, 1000, KSHM_LOCK_STAGED, &res), 0);
	KT_EQ(res, 0);
	KT_EQ(c->lock & KSHM_LW_OWNER_MASK, layout(h).file_id);
	KT_EQ(c->seq, seq);
	KT_EQ(kshm_trylock(o), -EBUSY);
	/* A reader that never waits gets the committed state during the hold. */
	KT_EQ(kshm_snapshot(r, copy, 0, sizeof(copy), &cg), 0);
	KT_EQ(cg, g);
	KT_EQ(copy[0], 'A');
	KT_EQ(copy[100], 'A');
	/* A bad write is refused before anything moves; the lock is still held. */
	KT_EQ(kshm_publish(h, &bad, 1), -EINVAL);
	KT_EQ(kshm_publish(h, NULL, 1), -EINVAL);
	KT_EQ(c->seq, seq);
	KT_EQ(c->lock & KSHM_LW_OWNER_MASK, layout(h).file_id);
	KT_EQ(kshm_publish(h, w, 2), 0);
	KT_EQ(c->seq, seq + 2);
	KT_EQ(kshm_generation(h), g + 1);
	KT_EQ(c->lock, 0);
	KT_EQ(memcmp(d, "BBBBA", 5), 0);
	KT_EQ(memcmp(d + 99, "ACCA", 4), 0);
	KT_EQ(kshm_publish(h, w, 2), -EINVAL);	/* released */
	/* Abort: data, seq and generation as they were. */
	KT_EQ(kshm_lock(h, 1000, KSHM_LOCK_STAGED, NULL), 0);
	KT_EQ(kshm_unlock(h, KSHM_UNLOCK_ABORT), 0);
	KT_EQ(c->seq, seq + 2);
	KT_EQ(kshm_generation(h), g + 1);
	KT_EQ(c->lock, 0);
	KT_EQ(memcmp(d, "BBBBA", 5), 0);
	/* A staged try (the library's): granted, the result out, seq untouched. */
	res = 9;
	KT_EQ(kshm_lock(h, 0, KSHM_LOCK_TRY | KSHM_LOCK_STAGED, &res), 0);
	KT_EQ(res, 0);
	KT_EQ(c->seq, seq + 2);
	KT_EQ(kshm_unlock(h, KSHM_UNLOCK_ABORT), 0);
	/* A staged commit of nothing is a commit: a new generation, the lock free. */
	KT_EQ(kshm_lock(h, 1000, KSHM_LOCK_TRY | KSHM_LOCK_STAGED, NULL), 0);
	KT_EQ(kshm_unlock(h, KSHM_UNLOCK_COMMIT), 0);
	KT_EQ(kshm_generation(h), g + 2);
	KT_EQ(c->seq, seq + 4);
	/* The in-place path is unchanged afterwards. */
	KT_EQ(kshm_lock(h, 1000, 0, NULL), 0);
	KT_EQ(c->seq & 1, 1);
	KT_EQ(kshm_unlock(h, KSHM_UNLOCK_ABORT), 0);
	kshm_close(h);
	kshm_close(o);
	kshm_close(r);
}

static void test_staged_fast(void)
{
	NEEDS_DEVICE();
	staged_basics(0);
}

static void test_staged_ioctl(void)
{
	NEEDS_DEVICE();
	staged_basics(KSHM_OPEN_NO_FASTPATH);
}

struct stager {
	uint32_t open_flags;
	atomic_int *stop;
	atomic_long publishes;
};

/* Holds the lock staged, fills its own buffer slowly, publishes it whole. */
static void *stager_thread(void *arg)
{
	struct stager *st = arg;
	kshm_handle h = must_open(st->open_flags);
	uint32_t buf[WORDS], x = 2463534242u;
	struct kshm_write w = { 0, buf, sizeof(buf) };

	while (!atomic_load(st->stop)) {
		if (kshm_lock(h, 5000, KSHM_LOCK_STAGED, NULL))
			KT_FAIL("staged lock");
		kt_fill_checksummed(buf, WORDS, &x);
		usleep(1000);
		if (kshm_publish(h, &w, 1))
			KT_FAIL("publish");
		atomic_fetch_add(&st->publishes, 1);
	}
	kshm_close(h);
	return NULL;
}

/*
 * Two staged writers (fast path and ioctl path) hold the lock nearly all the
 * time (1 ms of filling per publish) and publish checksummed blocks: a reader
 * that never waits (max_wait_us 0) never gets a torn snapshot, and it is
 * turned away only while a publish copies, never for a hold. Measured as
 * waits, not as a ratio of calls: a vCPU stopped mid-copy (TCG, a loaded
 * host) makes one long wait; an odd seq for the hold makes every wait long
 * and the time turned away nearly all of the run.
 */
static void test_staged_publish_atomic(void)
{
	NEEDS_DEVICE();
	kshm_handle r = must_open(KSHM_OPEN_READONLY), w = must_open(0);
	atomic_int stop = 0;
	struct stager st[2] = { { 0, &stop, 0 }, { KSHM_OPEN_NO_FASTPATH, &stop, 0 } };
	struct waits waits = { .long_ms = 0.1 };	/* a tenth of a hold */
	const double run_ms = 1500;
	double until = kt_now_ms() + 5000;
	pthread_t t[2];
	long good = 0, again = 0, publishes, p0, p1;

	KT_EQ(kshm_lock(w, 1000, 0, NULL), 0);
	memset(layout(w).data, 0, WORDS * 4);
	KT_EQ(kshm_unlock(w, KSHM_UNLOCK_COMMIT), 0);
	kshm_close(w);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, stager_thread, &st[i]);
	/* Both stagers at work before the reader starts: it must meet their holds. */
	while ((!atomic_load(&st[0].publishes) || !atomic_load(&st[1].publishes)) && kt_now_ms() < until)
		usleep(100);
	p0 = atomic_load(&st[0].publishes);
	p1 = atomic_load(&st[1].publishes);
	read_untorn(r, 0, run_ms, &good, &again, &waits);
	publishes = atomic_load(&st[0].publishes) - p0 + atomic_load(&st[1].publishes) - p1;
	atomic_store(&stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	printf("    %ld snapshots, %ld EAGAIN (max_wait 0) in %ld waits (%ld >= %.1f ms, longest %.1f ms, %.1f ms in all), %ld publishes\n",
	       good, again, waits.runs, waits.long_runs, waits.long_ms, waits.max_ms, waits.total_ms, publishes);
	KT_CHECK(p0 > 0 && p1 > 0);
	KT_CHECK(good > 0);
	/* At most one wait per publish (and one still open at the start), nearly none as long as a hold. */
	KT_CHECK(waits.runs <= publishes + 2);
	KT_CHECK(waits.long_runs * 10 <= publishes);
	/*
	 * Turned away a tenth of the run at most besides its longest wait (one
	 * stall of a vCPU mid-copy), and that one for half the run at most.
	 */
	KT_CHECK(waits.total_ms - waits.max_ms <= run_ms / 10);
	KT_CHECK(waits.max_ms <= run_ms / 2);
	kshm_close(r);
}

/*
 * A holder killed mid-stage (its writes in its own buffer): the data and the
 * generation are the committed ones, the next holder gets OWNER_DIED.
 */
static void staged_killed(uint32_t flags)
{
	kshm_handle a = must_open(0);
	uint8_t *d = layout(a).data;
	uint32_t res = 0;
	uint64_t g;
	int p[2];
	pid_t pid;
	char x;

	commit_fill(a, 0x33, 64);
	g = kshm_generation(a);
	KT_CHECK(pipe(p) == 0);
	pid = fork();
	if (pid == 0) {
		kshm_handle h = kshm_open(NULL, flags);
		uint8_t buf[64];

		if (h <= 0 || kshm_lock(h, 1000, KSHM_LOCK_STAGED, NULL))
			_exit(1);
		memset(buf, 0x44, sizeof(buf));
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(p[1]);
	KT_EQ(read(p[0], &x, 1), 1);
	close(p[0]);
	KT_EQ(layout(a).ctrl->seq & 1, 0);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	KT_EQ(kshm_lock(a, 1000, 0, &res), 0);
	KT_EQ(res, KSHM_LOCK_OWNER_DIED);
	KT_EQ(kshm_generation(a), g);
	for (int i = 0; i < 64; i++)
		KT_EQ(d[i], 0x33);
	KT_EQ(kshm_unlock(a, KSHM_UNLOCK_COMMIT), 0);
	kshm_close(a);
}

static void test_staged_killed(void)
{
	NEEDS_DEVICE();
	staged_killed(0);
	staged_killed(KSHM_OPEN_NO_FASTPATH);
}

static const struct kt_test tests[] = {
	{ "ABI mismatch names both versions", test_abi_mismatch },
	{ "missing or wrong device", test_missing_device },
	{ "files shorter than a header page are not devices (no SIGBUS)", test_short_files },
	{ "bad handles give EBADF", test_bad_handles },
	{ "strerror", test_strerror },
	{ "lw_spin_while_held: free, queued, died, budget", test_spin_while_held },
	{ "lw_spin_while_held: through queued waiters until free, died, waiters budget", test_spin_through_waiters },
	{ "lw_spin_while_held_or: its stop ends the spin", test_spin_stop },
	{ "device: close twice is harmless", test_open_close_twice },
	{ "device: trylock, timeout, EPERM, read-only", test_trylock_and_timeout },
	{ "device: cancel from another thread", test_cancel_from_other_thread },
	{ "device: cancel before the call starts", test_cancel_before_start },
	{ "device: close while another thread is blocked", test_close_while_blocked },
	{ "device: close releases a held lock", test_close_releases_held_lock },
	{ "device: fast path (no driver grant), NO_FASTPATH, flags", test_fast_path },
	{ "device: fast holder hands over to a blocked thread", test_fast_holder_hands_over },
	{ "device: a forked child locks with its own id", test_fork_refreshes_id },
	{ "device: snapshot under writers never torn", test_snapshot_never_torn },
	{ "device: snapshot waits a bounded time", test_snapshot_waits_bounded },
	{ "device: consume, poll, kwrite, info", test_consume_poll_kwrite },
	{ "device: staged lock and publish, fast path", test_staged_fast },
	{ "device: staged lock and publish, NO_FASTPATH", test_staged_ioctl },
	{ "device: staged publishes are atomic, readers never wait", test_staged_publish_atomic },
	{ "device: a staged holder killed: data intact, OWNER_DIED", test_staged_killed },
};

int main(int argc, char **argv)
{
	/* Without the device: run the tests that need none (argv filter "device" skipped). */
	if (!has_device() && argc < 2) {
		char *args[] = { argv[0], "", NULL };
		const struct kt_test *t = tests;
		size_t n = 0;

		while (n < sizeof(tests) / sizeof(tests[0]) && strncmp(t[n].name, "device:", 7))
			n++;
		return kt_main("libkshm (host, no device)", tests, n, 2, args);
	}
	return KT_RUN("libkshm", tests, argc, argv);
}
