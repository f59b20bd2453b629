// SPDX-License-Identifier: GPL-2.0
/*
 * The driver against users who do not follow the rules (issue 15): forged
 * lock words, kernel writers that would wait forever, forks, signals,
 * read-only request structs, pid namespaces, exec mappings, wake-ups. Every
 * test here failed on the driver before the fix it names. Runs in the guest
 * on every supported kernel (npm test).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include "../../driver/include/uapi/kshm.h"
#include "ktest.h"
#include "lockword.h"
#include "rawabi.h"

#define ARRAY_LEN(a)	(sizeof(a) / sizeof((a)[0]))

/* A process that opens the device, writes @word into the lock word and exits. */
static void forge_and_exit(uint32_t word)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		struct fast f = fast_open();

		f.c->lock = word;
		_exit(0);
	}
	KT_CHECK(pid > 0);
	KT_CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Takes and commits the lock through @fd, expecting @result: leaves a clean word. */
static void lock_commit(int fd, unsigned int want_result)
{
	unsigned int result = 99;

	KT_EQ(lock_ex(fd, 2000, 0, &result), 0);
	KT_EQ(result, want_result);
	KT_EQ(unlock_ex(fd, KSHM_UNLOCK_COMMIT), 0);
}

/* ---- 1. forged words ---------------------------------------------------- */

static void test_forged_words_reclaimed(void)
{
	static const uint32_t forged[] = {
		KSHM_LW_KERNEL,				/* the kernel, which does not hold it */
		0x00123457,				/* an id nobody has */
		0xffffffff,				/* everything set */
		KSHM_LW_OWNER_MASK - 1,
		KSHM_LW_KERNEL | KSHM_LW_WAITERS,
	};
	int b = kopen(O_RDWR), ro = kopen(O_RDONLY);
	volatile struct kshm_ctrl *c = map_ctrl(b);
	struct kshm_info i0 = info(b);
	unsigned int result;

	KT_EQ(info(ro).file_id, 0);	/* a read-only file has no id: it cannot hold the lock */
	for (size_t k = 0; k < ARRAY_LEN(forged); k++) {
		double t0;

		forge_and_exit(forged[k]);
		KT_EQ(c->lock & ~KSHM_LW_WAITERS, forged[k] & ~KSHM_LW_WAITERS);
		t0 = kt_now_ms();
		result = 0;
		if (k & 1)
			KT_EQ(lock_ex(b, 2000, 0, &result), 0);
		else
			KT_EQ(lock_ex(b, 0, KSHM_LOCK_TRY, &result), 0);
		/* At once: no recheck period, no timeout (TCG slack only). */
		if (kt_now_ms() - t0 > 300)
			KT_FAIL("word %#x: reclaimed after %.0f ms", forged[k], kt_now_ms() - t0);
		KT_EQ(result, KSHM_LOCK_OWNER_DIED);
		KT_EQ(c->lock & KSHM_LW_OWNER_MASK, info(b).file_id);
		KT_EQ(c->seq & 1, 1);
		KT_EQ(unlock_ex(b, KSHM_UNLOCK_COMMIT), 0);
		KT_EQ(c->lock, 0);
		KT_EQ(c->seq & 1, 0);
	}
	/* A stale id: its process closed the file (keeping the mapping), then wrote it. */
	{
		pid_t pid = fork();

		if (pid == 0) {
			struct fast f = fast_open();

			close(f.fd);
			f.c->lock = f.id;
			_exit(0);
		}
		waitpid(pid, NULL, 0);
		KT_CHECK(c->lock != 0);
		lock_commit(b, KSHM_LOCK_OWNER_DIED);
	}
	KT_EQ(info(b).lock_reclaims - i0.lock_reclaims, ARRAY_LEN(forged) + 1);
	KT_EQ(info(b).owner_died, i0.owner_died);	/* no holder died */
}

static void test_forged_word_queued_waiter(void)
{
	int a = kopen(O_RDWR), b = kopen(O_RDWR);
	volatile struct kshm_header *h = map_header(b);
	volatile struct kshm_ctrl *c = map_ctrl(b);
	static const uint32_t forged[] = { KSHM_LW_KERNEL, 0x00123457, 0xffffffff };

	for (size_t k = 0; k < ARRAY_LEN(forged); k++) {
		unsigned int result = 0;
		int status;
		double t0;
		pid_t pid;

		KT_EQ(lock_ex(a, 0, 0, NULL), 0);
		pid = fork();
		if (pid == 0) {
			unsigned int r = 0;

			if (lock_ex(b, 10000, 0, &r))
				_exit(2);
			_exit(r == KSHM_LOCK_OWNER_DIED && unlock_ex(b, KSHM_UNLOCK_COMMIT) == 0 ? 0 : 3);
		}
		wait_waiters(h, 1);
		/* The forger overwrites the live holder's word, and dies. */
		forge_and_exit(forged[k]);
		t0 = kt_now_ms();
		waitpid(pid, &status, 0);
		KT_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		if (kt_now_ms() - t0 > 1000)
			KT_FAIL("word %#x: the queued waiter got it after %.0f ms", forged[k],
				kt_now_ms() - t0);
		/* The holder lost it to the forger: its unlock is refused, nothing breaks. */
		KT_EQ(unlock_ex(a, KSHM_UNLOCK_COMMIT), -EPERM);
		KT_EQ(c->lock, 0);
		(void)result;
	}
}

static void test_forged_word_kernel_parties(void)
{
	int b = kopen(O_RDWR);
	volatile struct kshm_ctrl *c = map_ctrl(b);
	uint8_t *d = map_data(b, PROT_READ);
	struct kshm_kwrite_req kw = { .offset = 3, .len = 2, .timeout_ms = 2000 };
	struct kshm_info i0;

	forge_and_exit(KSHM_LW_KERNEL);
	kw.data = (uintptr_t)"ok";
	KT_CHECK(ioctl(b, KSHM_IOC_KWRITE, &kw) == 0);
	KT_EQ(kw.result, KSHM_LOCK_OWNER_DIED);
	KT_EQ(memcmp(d + 3, "ok", 2), 0);
	KT_EQ(c->lock, KSHM_LW_DIED);	/* a kernel commit does not repair */
	lock_commit(b, KSHM_LOCK_OWNER_DIED);
	/* The ticker reclaims it too, and keeps ticking. */
	forge_and_exit(0xffffffff);
	i0 = info(b);
	KT_EQ(write_param("tick_ms", "5"), 0);
	kt_sleep_ms(300);
	KT_EQ(write_param("tick_ms", "0"), 0);
	KT_CHECK(info(b).ticks >= i0.ticks + 5);
	KT_EQ(info(b).lock_reclaims, i0.lock_reclaims + 1);
	lock_commit(b, KSHM_LOCK_OWNER_DIED);
}

struct kwriter {
	int fd;
	atomic_int *stop;
	long ok, failed;
	int last_errno;
};

/* KWRITEs the whole region, again and again, counting each commit. */
static void *kwriter_thread(void *arg)
{
	struct kwriter *k = arg;
	size_t n = data_size(k->fd);
	uint8_t *buf = calloc(1, n);

	while (!atomic_load(k->stop)) {
		int ret = kwrite(k->fd, 0, buf, (uint32_t)n, 2000);

		if (ret) {
			k->failed++;
			k->last_errno = -ret;
		} else {
			k->ok++;
		}
	}
	free(buf);
	return NULL;
}

/*
 * A user who stores a free word while the kernel holds the lock (KWRITE
 * A granted, copying) grants nobody else: not KWRITE B (two kernel holders,
 * whose second release was EPERM though it committed), not a LOCK. And a
 * kernel release whose word was forged meanwhile still counts its commit
 * and ends its write section (it left seq odd, the generation unmoved).
 */
static void test_forged_free_word_during_kernel_hold(void)
{
	struct fast f = fast_open();	/* the forger: the control page mapped writable */
	int b = f.fd, l = kopen(O_RDWR);
	volatile struct kshm_ctrl *c = f.c;
	uint32_t *word = (uint32_t *)&c->lock;
	atomic_int stop = 0;
	struct kwriter k[2] = { { kopen(O_RDWR), &stop, 0, 0, 0 }, { kopen(O_RDWR), &stop, 0, 0, 0 } };
	pthread_t t[2];
	uint64_t g0 = info(b).generation;
	double until = kt_now_ms() + 1500;
	long forged = 0, locks = 0;

	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, kwriter_thread, &k[i]);
	while (kt_now_ms() < until) {
		__atomic_store_n(word, 0, __ATOMIC_RELAXED);
		forged++;
		if (lock_ex(l, 0, KSHM_LOCK_TRY, NULL) == 0) {
			/* Granted: the kernel did not hold it (a KWRITE may be queued behind us). */
			locks++;
			KT_EQ(unlock_ex(l, KSHM_UNLOCK_ABORT), 0);
		}
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	printf("    %ld + %ld KWRITEs, %ld + %ld failed (errno %d, %d), %ld forged words, %ld LOCKs\n",
	       k[0].ok, k[1].ok, k[0].failed, k[1].failed, k[0].last_errno, k[1].last_errno, forged, locks);
	KT_CHECK(k[0].ok > 0 && k[1].ok > 0);
	/* Once UNLOCK or KWRITE has acted it returns success: no EPERM, no timeout. */
	KT_EQ(k[0].failed + k[1].failed, 0);
	/* Every kernel commit counted; every write section ended. */
	KT_EQ(info(b).generation - g0, (uint64_t)(k[0].ok + k[1].ok));
	KT_EQ(c->seq & 1, 0);
	/* And the lock still works for everybody. */
	KT_EQ(lock_ex(l, 1000, 0, NULL), 0);
	KT_EQ(unlock_ex(l, KSHM_UNLOCK_ABORT), 0);
	KT_EQ(kwrite(b, 0, "ok", 2, 1000), 0);
	close(k[0].fd);
	close(k[1].fd);
	close(l);
	close(b);
}

/*
 * The same with the forger's own id: a user who stores its own (valid) id
 * while the kernel holds the lock and then calls UNLOCK. Its UNLOCK works
 * (the word named it), but it must not hand the lock on while the kernel
 * holds it: a queued KWRITE granted then made two kernel holders, and the
 * second release failed with EPERM though it had committed.
 */
static void test_forged_own_id_unlocked_during_kernel_hold(void)
{
	struct fast f = fast_open();
	volatile struct kshm_ctrl *c = f.c;
	uint32_t *word = (uint32_t *)&c->lock;
	atomic_int stop = 0;
	struct kwriter k[2] = { { kopen(O_RDWR), &stop, 0, 0, 0 }, { kopen(O_RDWR), &stop, 0, 0, 0 } };
	pthread_t t[2];
	uint64_t g0 = info(f.fd).generation;
	double until = kt_now_ms() + 1500;
	long forged = 0, unlocks = 0, commits = 0;

	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, kwriter_thread, &k[i]);
	while (kt_now_ms() < until) {
		__atomic_store_n(word, f.id, __ATOMIC_RELAXED);
		forged++;
		if (unlock_ex(f.fd, KSHM_UNLOCK_ABORT) == 0)
			unlocks++;
	}
	/* The same hold ended by a close: the id of a file of its own, closed at once. */
	until = kt_now_ms() + 1500;
	while (kt_now_ms() < until) {
		int o = kopen(O_RDWR);

		__atomic_store_n(word, info(o).file_id, __ATOMIC_RELAXED);
		forged++;
		close(o);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	commits = info(f.fd).commits;
	printf("    %ld + %ld KWRITEs, %ld + %ld failed (errno %d, %d), %ld forged words, %ld UNLOCKs\n",
	       k[0].ok, k[1].ok, k[0].failed, k[1].failed, k[0].last_errno, k[1].last_errno, forged,
	       unlocks);
	KT_CHECK(k[0].ok > 0 && k[1].ok > 0 && unlocks > 0 && commits > 0);
	/* Once KWRITE has acted it returns success: no EPERM, no timeout. */
	KT_EQ(k[0].failed + k[1].failed, 0);
	KT_EQ(info(f.fd).generation - g0, (uint64_t)(k[0].ok + k[1].ok));
	KT_EQ(c->seq & 1, 0);
	KT_EQ(c->lock & KSHM_LW_OWNER_MASK, 0);
	KT_EQ(kwrite(f.fd, 0, "ok", 2, 1000), 0);
	KT_EQ(lock_ex(f.fd, 1000, 0, NULL), 0);
	KT_EQ(unlock_ex(f.fd, KSHM_UNLOCK_ABORT), 0);
	close(k[0].fd);
	close(k[1].fd);
	close(f.fd);
}

/*
 * A word naming the caller's own valid id is its hold, whenever it was
 * written: KSHM_IOC_LOCK returns EDEADLK to it, also while the kernel holds
 * the lock (it queued behind itself and waited until its timeout), and its
 * UNLOCK then works.
 */
static void test_forged_own_id_lock_edeadlk_during_kernel_hold(void)
{
	struct fast f = fast_open();
	uint32_t *word = (uint32_t *)&f.c->lock;
	atomic_int stop = 0;
	struct kwriter k[2] = { { kopen(O_RDWR), &stop, 0, 0, 0 }, { kopen(O_RDWR), &stop, 0, 0, 0 } };
	pthread_t t[2];
	double until = kt_now_ms() + 1500;
	long tries = 0, other = 0;
	int last = 0;

	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, kwriter_thread, &k[i]);
	while (kt_now_ms() < until) {
		int ret;

		__atomic_store_n(word, f.id, __ATOMIC_RELAXED);
		tries++;
		ret = lock_ex(f.fd, 200, 0, NULL);
		if (ret != -EDEADLK) {
			other++;
			last = ret;
		}
		if (ret == 0 || ret == -EDEADLK)
			KT_EQ(unlock_ex(f.fd, KSHM_UNLOCK_ABORT), 0);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	printf("    %ld + %ld KWRITEs, %ld LOCKs on a word naming the caller, %ld not EDEADLK (last %d)\n",
	       k[0].ok, k[1].ok, tries, other, last);
	KT_CHECK(k[0].ok > 0 && k[1].ok > 0 && tries > 0);
	KT_EQ(other, 0);
	KT_EQ(k[0].failed + k[1].failed, 0);
	close(k[0].fd);
	close(k[1].fd);
	close(f.fd);
}

/* ---- 2. kernel waits ---------------------------------------------------- */

struct call {
	int fd;
	bool kwrite;
	unsigned int timeout_ms;
	int ret;
	double ms;		/* how long it took */
	atomic_int done;
};

static void *call_thread(void *arg)
{
	struct call *k = arg;
	double t0 = kt_now_ms();

	if (k->kwrite)
		k->ret = kwrite(k->fd, 0, "kk", 2, k->timeout_ms);
	else
		k->ret = lock_ex(k->fd, k->timeout_ms, 0, NULL);
	k->ms = kt_now_ms() - t0;
	atomic_store(&k->done, 1);
	return NULL;
}

static void join_within(pthread_t t, struct call *k, double ms)
{
	double until = kt_now_ms() + ms;

	while (!atomic_load(&k->done)) {
		if (kt_now_ms() > until)
			KT_FAIL("a blocked call did not return within %.0f ms", ms);
		kt_sleep_ms(2);
	}
	pthread_join(t, NULL);
}

static void test_kwrite_forever_stalls_nobody(void)
{
	int holder = kopen(O_RDWR);
	volatile struct kshm_header *h = map_header(holder);
	struct call x = { .fd = kopen(O_RDWR), .kwrite = true }, y = { .fd = kopen(O_RDWR), .kwrite = true };
	struct kshm_info i0;
	pthread_t tx, ty;
	double t0;

	KT_EQ(lock_ex(holder, 0, 0, NULL), 0);
	pthread_create(&tx, NULL, call_thread, &x);	/* timeout_ms = 0: no limit */
	wait_waiters(h, 1);
	/* Every other kernel party keeps its own deadline. */
	t0 = kt_now_ms();
	KT_EQ(kwrite(kopen(O_RDWR), 0, "z", 1, 100), -ETIMEDOUT);
	if (kt_now_ms() - t0 < 90 || kt_now_ms() - t0 > 1000)
		KT_FAIL("a 100 ms KWRITE took %.0f ms", kt_now_ms() - t0);
	i0 = info(holder);
	KT_EQ(write_param("tick_ms", "5"), 0);
	kt_sleep_ms(200);
	t0 = kt_now_ms();
	KT_EQ(write_param("tick_ms", "0"), 0);
	KT_CHECK(kt_now_ms() - t0 < 500);
	KT_CHECK(info(holder).ticks_skipped >= i0.ticks_skipped + 5);
	/* CANCEL on its file ends it. */
	KT_EQ(atomic_load(&x.done), 0);
	KT_CHECK(ioctl(x.fd, KSHM_IOC_CANCEL) == 0);
	join_within(tx, &x, 1000);
	KT_EQ(x.ret, -ECANCELED);
	/* So does closing its file. */
	pthread_create(&ty, NULL, call_thread, &y);
	wait_waiters(h, 1);
	close(y.fd);
	join_within(ty, &y, 1000);
	KT_EQ(y.ret, -ECANCELED);
	KT_EQ(h->waiters, 0);
	KT_EQ(unlock_ex(holder, KSHM_UNLOCK_ABORT), 0);
}

/*
 * The in-kernel API through spec/kmod's test module: a kernel caller of
 * kshm_lock_timeout() keeps its own deadline even while a KWRITE without a
 * limit waits (the old kernel mutex made it sleep forever), and a zero
 * timeout is refused.
 */
static void kapi_unload(void)
{
	syscall(SYS_delete_module, "kshm_kapi_test", O_NONBLOCK);
}

static void kapi_module(bool load)
{
	if (!load) {
		KT_EQ(syscall(SYS_delete_module, "kshm_kapi_test", O_NONBLOCK), 0);
		return;
	}
	atexit(kapi_unload);	/* a failed test must not keep kshm in use */
	kt_load_module("kshm_kapi_test", "");
}

/* kshm_lock_timeout(@ms) in the kernel; returns its result and how long it took. */
static int kapi_lock(unsigned int ms, double *took)
{
	char buf[32];
	double t0 = kt_now_ms();
	int fd, n;

	snprintf(buf, sizeof(buf), "%u", ms);
	KT_EQ(write_param_of("kshm_kapi_test", "lock_ms", buf), 0);
	*took = kt_now_ms() - t0;
	fd = open("/sys/module/kshm_kapi_test/parameters/result", O_RDONLY);
	KT_CHECK(fd >= 0);
	n = (int)read(fd, buf, sizeof(buf) - 1);
	close(fd);
	KT_CHECK(n > 0);
	buf[n] = 0;
	return atoi(buf);
}

static void test_kernel_api_bounded(void)
{
	int holder = kopen(O_RDWR);
	volatile struct kshm_header *h = map_header(holder);
	struct call x = { .fd = kopen(O_RDWR), .kwrite = true };
	pthread_t tx;
	double took;

	kapi_module(true);
	KT_EQ(kapi_lock(0, &took), -EINVAL);	/* no wait without a limit */
	KT_EQ(kapi_lock(100, &took), 0);
	KT_EQ(lock_ex(holder, 0, 0, NULL), 0);
	pthread_create(&tx, NULL, call_thread, &x);	/* KWRITE, timeout_ms = 0 */
	wait_waiters(h, 1);
	KT_EQ(kapi_lock(100, &took), -ETIMEDOUT);
	if (took < 90 || took > 1000)
		KT_FAIL("kshm_lock_timeout(100) took %.0f ms behind a KWRITE without a limit", took);
	KT_CHECK(ioctl(x.fd, KSHM_IOC_CANCEL) == 0);
	join_within(tx, &x, 1000);
	KT_EQ(x.ret, -ECANCELED);
	KT_EQ(unlock_ex(holder, KSHM_UNLOCK_ABORT), 0);
	KT_EQ(kapi_lock(100, &took), 0);
	kapi_module(false);
}

/* ---- 3. lock-word ids per (open file, process) -------------------------- */

struct ids {
	pid_t pid;
	uint32_t mine, parents;
};

static void test_fork_child_lock_survives_parent(void)
{
	int b = kopen(O_RDWR);
	volatile struct kshm_ctrl *c = map_ctrl(b);
	int up[2], to_p[2], to_c[2], status;
	struct ids ids;
	char ch;
	pid_t p;

	KT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);	/* the orphaned child comes to us */
	KT_CHECK(pipe(up) == 0 && pipe(to_p) == 0 && pipe(to_c) == 0);
	p = fork();
	if (p == 0) {
		struct fast f = fast_open();

		if (fork() == 0) {
			struct fast g = f;
			struct ids me = { .pid = getpid(), .parents = f.id };

			/* The child's own id, from INFO after the fork. */
			g.id = me.mine = info(f.fd).file_id;
			if (fast_lock(&g))
				_exit(2);
			KT_CHECK(write(up[1], &me, sizeof(me)) == sizeof(me));
			KT_CHECK(read(to_c[0], &ch, 1) == 1);
			/* Still ours, no DIED: nobody touched it. */
			if (g.c->lock != g.id)
				_exit(3);
			_exit(fast_unlock(&g, true, true) ? 4 : 0);
		}
		KT_CHECK(read(to_p[0], &ch, 1) == 1);
		close(f.fd);
		KT_CHECK(write(up[1], "c", 1) == 1);
		KT_CHECK(read(to_p[0], &ch, 1) == 1);
		_exit(0);
	}
	KT_EQ(read(up[0], &ids, sizeof(ids)), sizeof(ids));
	KT_CHECK(ids.mine != 0);
	KT_CHECK(ids.mine != ids.parents);
	KT_EQ(c->lock, ids.mine);
	/* (a) The parent closes its descriptor: the child's lock stays. */
	KT_EQ(write(to_p[1], "x", 1), 1);
	KT_EQ(read(up[0], &ch, 1), 1);
	KT_EQ(c->lock, ids.mine);
	KT_EQ(lock_ex(b, 0, KSHM_LOCK_TRY, NULL), -EBUSY);
	KT_EQ(info(b).holder_pid, ids.pid);
	/* ...and exits: still the child's. */
	KT_EQ(write(to_p[1], "x", 1), 1);
	KT_EQ(waitpid(p, &status, 0), p);
	KT_EQ(c->lock, ids.mine);
	KT_EQ(lock_ex(b, 50, 0, NULL), -ETIMEDOUT);
	KT_EQ(write(to_c[1], "x", 1), 1);
	KT_EQ(waitpid(ids.pid, &status, 0), ids.pid);
	KT_CHECK(WIFEXITED(status));
	KT_EQ(WEXITSTATUS(status), 0);
	KT_EQ(c->lock, 0);
	lock_commit(b, 0);
}

static void test_fork_opener_dies_holding(void)
{
	int b = kopen(O_RDWR), ready[2];
	volatile struct kshm_ctrl *c = map_ctrl(b);
	pid_t p, child = 0;
	unsigned int result = 0;
	char ch;

	KT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	KT_CHECK(pipe(ready) == 0);
	p = fork();
	if (p == 0) {
		struct fast f = fast_open();
		pid_t kid;

		if (fast_lock(&f))
			_exit(2);
		kid = fork();
		if (kid == 0) {
			pause();	/* keeps the file open */
			_exit(0);
		}
		KT_CHECK(write(ready[1], &kid, sizeof(kid)) == sizeof(kid));
		pause();
		_exit(0);
	}
	KT_EQ(read(ready[0], &child, sizeof(child)), sizeof(child));
	KT_CHECK(c->lock != 0);
	kill(p, SIGKILL);
	waitpid(p, NULL, 0);
	KT_EQ(c->lock, KSHM_LW_DIED);	/* released at its exit, the child's copy notwithstanding */
	KT_EQ(lock_ex(b, 1000, 0, &result), 0);
	KT_EQ(result, KSHM_LOCK_OWNER_DIED);
	KT_EQ(unlock_ex(b, KSHM_UNLOCK_COMMIT), 0);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	(void)ch;
}

static void test_fork_child_dies_holding(void)
{
	int b = kopen(O_RDWR), ready[2];
	volatile struct kshm_ctrl *c = map_ctrl(b);
	struct fast f = fast_open();	/* the parent keeps it open throughout */
	unsigned int result = 0;
	uint32_t id;
	double t0;
	pid_t kid;

	KT_CHECK(pipe(ready) == 0);
	kid = fork();
	if (kid == 0) {
		struct fast g = f;

		g.id = info(f.fd).file_id;
		if (g.id == f.id || fast_lock(&g))
			_exit(2);
		KT_CHECK(write(ready[1], &g.id, sizeof(g.id)) == sizeof(g.id));
		pause();
		_exit(0);
	}
	KT_EQ(read(ready[0], &id, sizeof(id)), sizeof(id));
	KT_EQ(c->lock, id);
	t0 = kt_now_ms();
	kill(kid, SIGKILL);
	KT_EQ(lock_ex(b, 2000, 0, &result), 0);
	KT_EQ(result, KSHM_LOCK_OWNER_DIED);
	if (kt_now_ms() - t0 > 500)
		KT_FAIL("released after %.0f ms", kt_now_ms() - t0);
	KT_EQ(unlock_ex(b, KSHM_UNLOCK_COMMIT), 0);
	waitpid(kid, NULL, 0);
	/* The parent's own id still works. */
	KT_EQ(fast_lock(&f), 0);
	KT_EQ(fast_unlock(&f, true, true), 0);
}

struct unshared {
	int fd;
	bool close_it;	/* close its copy; otherwise just exit with it */
	int ret;
};

/* A thread that takes a descriptor table of its own, then closes or exits. */
static void *unshared_thread(void *arg)
{
	struct unshared *u = arg;

	u->ret = unshare(CLONE_FILES) ? -errno : 0;
	if (!u->ret && u->close_it)
		u->ret = close(u->fd) ? -errno : 0;
	return NULL;
}

/* The same thread, which then sleeps until the process dies. */
static void *unshared_sleeper(void *arg)
{
	unshared_thread(arg);
	for (;;)
		pause();
	return NULL;
}

/*
 * An id is valid while its process keeps a descriptor of the file: a thread
 * with a table of its own (unshare(CLONE_FILES)) that closes its copy, or
 * exits with it, leaves the process's other descriptor, its id and its lock
 * alone. Before the fix either passed the lock on with DIED.
 */
static void test_unshared_table_thread_keeps_id(void)
{
	int fd = kopen(O_RDWR), other = kopen(O_RDWR);
	uint32_t id = info(fd).file_id;
	struct kshm_info i0 = info(other), i1;
	unsigned int result = 99;

	KT_EQ(lock_ex(fd, 1000, 0, NULL), 0);
	for (int k = 0; k < 2; k++) {
		struct unshared u = { .fd = fd, .close_it = k == 0 };
		pthread_t t;

		KT_EQ(pthread_create(&t, NULL, unshared_thread, &u), 0);
		KT_EQ(pthread_join(t, NULL), 0);
		KT_EQ(u.ret, 0);
		i1 = info(other);
		if (i1.lock_word != id)
			KT_FAIL("%s: word %#x, want %#x (owner_died +%llu)",
				u.close_it ? "the thread closed its copy" : "the thread exited with its copy",
				i1.lock_word, id, (unsigned long long)(i1.owner_died - i0.owner_died));
		KT_EQ(info(fd).file_id, id);
	}
	KT_EQ(i1.owner_died, i0.owner_died);
	KT_EQ(unlock_ex(fd, KSHM_UNLOCK_COMMIT), 0);
	/* The process's own last close still retires the id and passes the lock on. */
	KT_EQ(lock_ex(fd, 1000, 0, NULL), 0);
	close(fd);
	KT_EQ(lock_ex(other, 1000, 0, &result), 0);
	KT_EQ(result, KSHM_LOCK_OWNER_DIED);
	KT_EQ(unlock_ex(other, KSHM_UNLOCK_COMMIT), 0);

	/* A SIGKILLed holder whose threads have tables of their own: DIED too. */
	{
		int ready[2];
		pid_t kid;
		char c;

		KT_EQ(pipe(ready), 0);
		kid = fork();
		if (kid == 0) {
			struct unshared u = { .fd = kopen(O_RDWR), .close_it = false };
			pthread_t t;

			if (lock_ex(u.fd, 1000, 0, NULL))
				_exit(1);
			for (int k = 0; k < 2; k++)
				pthread_create(&t, NULL, unshared_sleeper, &u);
			kt_sleep_ms(100);
			if (write(ready[1], "r", 1) != 1)
				_exit(1);
			for (;;)
				pause();
		}
		KT_CHECK(kid > 0);
		KT_EQ(read(ready[0], &c, 1), 1);
		kill(kid, SIGKILL);
		waitpid(kid, NULL, 0);
		result = 99;
		KT_EQ(lock_ex(other, 2000, 0, &result), 0);
		KT_EQ(result, KSHM_LOCK_OWNER_DIED);
		KT_EQ(unlock_ex(other, KSHM_UNLOCK_COMMIT), 0);
		close(ready[0]);
		close(ready[1]);
	}
	close(other);
}

static int clone_files_kid(void *arg)
{
	int *p = arg;
	char c;

	/* Shares its parent's descriptor table until the parent says go. */
	if (read(p[0], &c, 1) != 1)
		_exit(1);
	_exit(0);
}

/*
 * close_range(CLOSE_RANGE_UNSHARE) in a process whose table is shared with
 * another process (clone(CLONE_FILES) without CLONE_THREAD): the caller gets
 * a private copy without the descriptor, closed there before the copy is
 * installed. The process then has no descriptor of the file: its id is
 * retired and its lock passed on with DIED (the other process has a
 * descriptor of its own, and its own id).
 */
static void test_close_range_unshare_with_other_process_retires_id(void)
{
	int fd = kopen(O_RDWR), other = kopen(O_RDWR);
	static char stack[65536] __attribute__((aligned(16)));
	unsigned int result = 99;
	int p[2], ret;
	pid_t kid;

	KT_EQ(pipe(p), 0);
	KT_EQ(lock_ex(fd, 1000, 0, NULL), 0);
	kid = clone(clone_files_kid, stack + sizeof(stack), CLONE_FILES | SIGCHLD, p);
	KT_CHECK(kid > 0);
	KT_EQ(syscall(SYS_close_range, fd, fd, 2U /* CLOSE_RANGE_UNSHARE */), 0);
	KT_CHECK(fcntl(fd, F_GETFD) < 0);
	ret = lock_ex(other, 1000, 0, &result);
	KT_EQ(write(p[1], "g", 1), 1);
	waitpid(kid, NULL, 0);
	if (ret)
		KT_FAIL("LOCK after the process closed its last descriptor of the holder's file: %d", ret);
	KT_EQ(result, KSHM_LOCK_OWNER_DIED);
	KT_EQ(unlock_ex(other, KSHM_UNLOCK_COMMIT), 0);
	close(p[0]);
	close(p[1]);
	close(other);
}

/* ---- 4. the ticker ------------------------------------------------------ */

static void test_tick_param_never_waits(void)
{
	int fd = kopen(O_RDWR);
	struct kshm_info i0 = info(fd);
	double t0, took;

	KT_EQ(lock_ex(fd, 0, 0, NULL), 0);
	/* The first tick comes after 1.5 s and finds the lock held. */
	KT_EQ(write_param("tick_ms", "1500"), 0);
	kt_sleep_ms(1700);
	t0 = kt_now_ms();
	KT_EQ(write_param("tick_ms", "3600000"), 0);
	KT_EQ(write_param("tick_ms", "0"), 0);
	took = kt_now_ms() - t0;
	if (took > 500)
		KT_FAIL("writing tick_ms waited %.0f ms for the ticker", took);
	KT_CHECK(info(fd).ticks_skipped >= i0.ticks_skipped + 1);
	KT_EQ(unlock_ex(fd, KSHM_UNLOCK_ABORT), 0);
	/* Out of range and garbage are refused. */
	KT_EQ(write_param("tick_ms", "3600001"), -EINVAL);
	KT_EQ(write_param("tick_ms", "-1"), -EINVAL);
	KT_EQ(info(fd).tick_ms, 0);
}

static void tickrace_unload(void)
{
	syscall(SYS_delete_module, "kshm_tickrace_test", O_NONBLOCK);
}

static int read_param_of(const char *module, const char *name)
{
	char path[128], buf[32] = "";
	int fd, n;

	snprintf(path, sizeof(path), "/sys/module/%s/parameters/%s", module, name);
	fd = open(path, O_RDONLY);
	KT_CHECK(fd >= 0);
	n = (int)read(fd, buf, sizeof(buf) - 1);
	close(fd);
	KT_CHECK(n > 0);
	return atoi(buf);
}

/*
 * tick_ms=0 written while a tick has read tick_ms but not yet queued for the
 * lock (spec/kmod's kshm_tickrace_test holds the tick there for 1.5 s: room
 * for a loaded host to run the writer late):
 * the writer waits for that tick, which must give up instead of queueing
 * behind the user holder. Before the fix it queued and timed out (100 ms on
 * the holder, lock_timeouts + 1) while the writer waited for it.
 */
static void test_tick_param_never_waits_racing_tick(void)
{
	int fd = kopen(O_RDWR);
	struct kshm_info i0, i1;
	double t0;

	atexit(tickrace_unload);
	/* register_kprobe() without CONFIG_KPROBES (the debug kernel): EOPNOTSUPP. */
	if (kt_try_load_module("kshm_tickrace_test", "delay_ms=1500") == -EOPNOTSUPP) {
		printf("    not run: this kernel has no kprobes\n");
		return;
	}
	KT_CHECK(read_param_of("kshm_tickrace_test", "delay_ms") == 1500);
	KT_EQ(lock_ex(fd, 0, 0, NULL), 0);
	KT_EQ(write_param_of("kshm_tickrace_test", "armed", "1"), 0);
	i0 = info(fd);
	KT_EQ(write_param("tick_ms", "1000"), 0);	/* min(1000, 100) ms per tick */
	t0 = kt_now_ms();
	while (!read_param_of("kshm_tickrace_test", "hit")) {
		if (kt_now_ms() - t0 > 20000 * kt_time_scale())
			KT_FAIL("the ticker never came");
		kt_sleep_ms(5);
	}
	/* The tick sits between reading tick_ms and the queue for up to 1.5 s. */
	KT_EQ(write_param("tick_ms", "0"), 0);
	i1 = info(fd);
	if (i1.lock_timeouts != i0.lock_timeouts)
		KT_FAIL("the tick queued behind the holder and timed out (+%llu) while tick_ms=0 waited",
			(unsigned long long)(i1.lock_timeouts - i0.lock_timeouts));
	KT_EQ(i1.ticks, i0.ticks);
	KT_EQ(i1.ticks_skipped, i0.ticks_skipped + 1);
	KT_EQ(unlock_ex(fd, KSHM_UNLOCK_ABORT), 0);
	/* The ticker works again afterwards. */
	KT_EQ(write_param("tick_ms", "5"), 0);
	t0 = kt_now_ms();
	while (info(fd).ticks == i1.ticks) {
		if (kt_now_ms() - t0 > 20000 * kt_time_scale())
			KT_FAIL("no tick after tick_ms=5");
		kt_sleep_ms(5);
	}
	KT_EQ(write_param("tick_ms", "0"), 0);
	KT_EQ(syscall(SYS_delete_module, "kshm_tickrace_test", O_NONBLOCK), 0);
}

/* ---- 5. hand-offs never overwrite a word they did not check ------------- */

/*
 * A process whose threads race: one takes and releases the lock on the fast
 * path, another releases it through KSHM_IOC_UNLOCK whenever it sees it held
 * (the driver then releases on the process's behalf while the first thread's
 * own release may win), and at the end the main thread closes the file while
 * the first still runs (the flush passes a lock it sees held on with DIED).
 * Meanwhile another process grabs the word whenever it is free and checks
 * that nobody rewrites it while it holds it.
 */
static atomic_int spin_stop;

static void *fast_spinner(void *arg)
{
	struct fast *f = arg;

	uint32_t x = 2463534242u;

	while (!atomic_load(&spin_stop)) {
		if (fast_lock(f) < 0)
			continue;
		/* Hold for a random while, so that releases land inside the driver's. */
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		for (volatile uint32_t i = 0; i < x % 4096; i++)
			;
		lw_unlock(f->fd, f->c, f->id, true, false);
	}
	return NULL;
}

static void *ioctl_releaser(void *arg)
{
	struct fast *f = arg;

	while (!atomic_load(&spin_stop)) {
		if ((f->c->lock & KSHM_LW_OWNER_MASK) == f->id)
			unlock_ex(f->fd, KSHM_UNLOCK_COMMIT | KSHM_UNLOCK_PUBLISHED);
	}
	return NULL;
}

static void test_handoff_never_overwrites(void)
{
	int b = kopen(O_RDWR);
	uint8_t *d = map_data(b, PROT_READ | PROT_WRITE);
	volatile int *stolen = (volatile int *)(d + 64);
	double until = kt_now_ms() + 3000;
	pid_t grabber, churn;
	int status;

	*stolen = 0;
	grabber = fork();
	if (grabber == 0) {
		struct fast g = fast_open();

		for (long misses = 0; kt_now_ms() < until;) {
			int r = fast_lock(&g);

			if (r < 0) {
				/* A stale word (the closer's id) is the driver's to reclaim. */
				if (++misses % 100000 == 0 &&
				    lock_ex(g.fd, 0, KSHM_LOCK_TRY, NULL) == 0)
					unlock_ex(g.fd, KSHM_UNLOCK_COMMIT);
				continue;
			}
			for (int i = 0; i < 50; i++) {
				if ((g.c->lock & KSHM_LW_OWNER_MASK) != g.id)
					(*stolen)++;
			}
			if (fast_unlock(&g, true, false) < 0 && !*stolen)
				(*stolen)++;
			/* Let the other process take it, then wait for its release. */
			for (volatile int i = 0; i < 3000; i++)
				;
		}
		_exit(0);
	}
	churn = fork();
	if (churn == 0) {
		while (kt_now_ms() < until) {
			struct fast f = fast_open();
			pthread_t t1, t2;

			atomic_store(&spin_stop, 0);
			pthread_create(&t1, NULL, fast_spinner, &f);
			pthread_create(&t2, NULL, ioctl_releaser, &f);
			kt_sleep_ms(20);
			close(f.fd);
			kt_sleep_ms(1);
			atomic_store(&spin_stop, 1);
			pthread_join(t1, NULL);
			pthread_join(t2, NULL);
			munmap((void *)f.c, page_size);
		}
		_exit(0);
	}
	waitpid(churn, &status, 0);
	waitpid(grabber, &status, 0);
	KT_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (*stolen)
		KT_FAIL("the kernel rewrote a word it had not checked %d times", *stolen);
	lock_commit(b, info(b).lock_word & KSHM_LW_DIED ? KSHM_LOCK_OWNER_DIED : 0);
}

/*
 * The repair of a lost WAITERS bit: waiters queue in the driver while the
 * word is wiped to 0, and two processes pass the free word between them by
 * CAS. The driver hands a free word to the queue's head: it must never do so
 * over a CAS that won in the meantime.
 */
static int exit_code(pid_t pid);

static void grabber_loop(double until, volatile int *stolen)
{
	struct fast g = fast_open();

	while (kt_now_ms() < until) {
		if (fast_lock(&g) < 0)
			continue;
		for (int i = 0; i < 20; i++) {
			if ((g.c->lock & KSHM_LW_OWNER_MASK) != g.id)
				(*stolen)++;
		}
		if (fast_unlock(&g, true, false) < 0)
			(*stolen)++;
	}
	_exit(0);
}

static void test_repair_never_overwrites(void)
{
	int holder = kopen(O_RDWR);
	volatile struct kshm_header *h = map_header(holder);
	volatile struct kshm_ctrl *c = fast_open().c;	/* writable */
	uint8_t *d = map_data(holder, PROT_READ | PROT_WRITE);
	volatile int *stolen = (volatile int *)(d + 128);
	double until = kt_now_ms() + 3000;
	pid_t kids[8];

	*stolen = 0;
	KT_EQ(lock_ex(holder, 0, 0, NULL), 0);
	for (int k = 0; k < 6; k++) {
		kids[k] = fork();
		if (kids[k] == 0) {
			int fd = kopen(O_RDWR);

			while (kt_now_ms() < until) {
				if (lock_ex(fd, 1000, 0, NULL) == 0)
					unlock_ex(fd, KSHM_UNLOCK_COMMIT);
			}
			_exit(0);
		}
		wait_waiters(h, k + 1);
	}
	for (int k = 6; k < 8; k++) {
		kids[k] = fork();
		if (kids[k] == 0)
			grabber_loop(until, stolen);
	}
	/* The holder's word is wiped: the grabbers barge in. */
	__atomic_store_n(&c->lock, 0, __ATOMIC_RELEASE);
	/* From now on WAITERS keeps being lost (the owner is left alone). */
	while (kt_now_ms() < until) {
		uint32_t w = __atomic_load_n(&c->lock, __ATOMIC_RELAXED);

		if (w & KSHM_LW_WAITERS)
			__atomic_compare_exchange_n(&c->lock, &w, w & ~KSHM_LW_WAITERS, false,
						    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
	}
	for (int k = 0; k < 8; k++)
		KT_EQ(exit_code(kids[k]), 0);
	if (*stolen)
		KT_FAIL("the driver rewrote a word a user CAS had won, %d times", *stolen);
	KT_EQ(unlock_ex(holder, KSHM_UNLOCK_ABORT), -EPERM);
	lock_commit(holder, info(holder).lock_word & KSHM_LW_DIED ? KSHM_LOCK_OWNER_DIED : 0);
}

/* ---- 6. signals --------------------------------------------------------- */

static atomic_int handled;

static void on_signal(int sig)
{
	(void)sig;
	atomic_fetch_add(&handled, 1);
}

static void set_handler(int sig, bool restart)
{
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = restart ? SA_RESTART : 0 };

	sigemptyset(&sa.sa_mask);
	KT_EQ(sigaction(sig, &sa, NULL), 0);
}

/*
 * A child blocked in LOCK or KWRITE (@timeout_ms) through its own file;
 * reports the call's return value as its exit status (0, or 100 + errno).
 */
static pid_t blocked_child(bool kwrite_call, unsigned int timeout_ms, int handler)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = kopen(O_RDWR), r;

		if (handler)
			set_handler(SIGUSR1, handler > 0);
		r = kwrite_call ? kwrite(fd, 0, "s", 1, timeout_ms) : lock_ex(fd, timeout_ms, 0, NULL);
		if (!r && !kwrite_call)
			unlock_ex(fd, KSHM_UNLOCK_ABORT);
		_exit(r ? 100 - r : 0);
	}
	return pid;
}

static int exit_code(pid_t pid)
{
	int status;

	KT_EQ(waitpid(pid, &status, 0), pid);
	KT_CHECK(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_stop_cont_restarts(void)
{
	int holder = kopen(O_RDWR);
	volatile struct kshm_header *h = map_header(holder);
	pid_t kids[4];

	KT_EQ(lock_ex(holder, 0, 0, NULL), 0);
	kids[0] = blocked_child(false, 0, 0);
	wait_waiters(h, 1);
	kids[1] = blocked_child(false, 20000, 0);
	wait_waiters(h, 2);
	kids[2] = blocked_child(true, 0, 0);
	wait_waiters(h, 3);
	kids[3] = blocked_child(true, 20000, 0);
	wait_waiters(h, 4);
	for (int round = 0; round < 3; round++) {
		for (int k = 0; k < 4; k++)
			kill(kids[k], SIGSTOP);
		kt_sleep_ms(30);
		for (int k = 0; k < 4; k++)
			kill(kids[k], SIGCONT);
		kt_sleep_ms(30);
	}
	/* No handler ran: every call is back in the queue, none returned EINTR. */
	wait_waiters(h, 4);
	KT_EQ(unlock_ex(holder, KSHM_UNLOCK_ABORT), 0);
	for (int k = 0; k < 4; k++)
		KT_EQ(exit_code(kids[k]), 0);
}

static void test_signal_handlers(void)
{
	int holder = kopen(O_RDWR);
	volatile struct kshm_header *h = map_header(holder);
	pid_t restart, intr, kw_intr, timed;
	double t0;

	KT_EQ(lock_ex(holder, 0, 0, NULL), 0);
	restart = blocked_child(false, 0, 1);		/* SA_RESTART */
	wait_waiters(h, 1);
	intr = blocked_child(false, 0, -1);		/* no SA_RESTART */
	wait_waiters(h, 2);
	kw_intr = blocked_child(true, 0, -1);
	wait_waiters(h, 3);
	kill(restart, SIGUSR1);
	kill(intr, SIGUSR1);
	kill(kw_intr, SIGUSR1);
	KT_EQ(exit_code(intr), 100 + EINTR);
	KT_EQ(exit_code(kw_intr), 100 + EINTR);
	wait_waiters(h, 1);
	/* A timed wait restarted by a stream of signals keeps its deadline. */
	timed = blocked_child(false, 400, 1);
	wait_waiters(h, 2);
	t0 = kt_now_ms();
	for (int i = 0, status; i < 100; i++) {
		if (waitpid(timed, &status, WNOHANG) == timed) {
			KT_CHECK(WIFEXITED(status));
			KT_EQ(WEXITSTATUS(status), 100 + ETIMEDOUT);
			break;
		}
		KT_CHECK(i < 99);
		kill(timed, SIGUSR1);
		kt_sleep_ms(20);
	}
	if (kt_now_ms() - t0 < 300 || kt_now_ms() - t0 > 1500)
		KT_FAIL("a 400 ms wait took %.0f ms under signals", kt_now_ms() - t0);
	KT_EQ(unlock_ex(holder, KSHM_UNLOCK_ABORT), 0);
	KT_EQ(exit_code(restart), 0);
}

static void test_signal_timeout_left(void)
{
	int holder = kopen(O_RDWR), fd = kopen(O_RDWR);
	struct kshm_lock_req req = { .timeout_ms = 500 };
	pid_t self = getpid(), pinger;
	double t0;

	/* EINTR (no SA_RESTART) leaves the time that remained in timeout_ms. */
	set_handler(SIGUSR1, false);
	KT_EQ(lock_ex(holder, 0, 0, NULL), 0);
	pinger = fork();
	if (pinger == 0) {
		kt_sleep_ms(150);
		kill(self, SIGUSR1);
		_exit(0);
	}
	t0 = kt_now_ms();
	KT_CHECK(ioctl(fd, KSHM_IOC_LOCK, &req) == -1 && errno == EINTR);
	waitpid(pinger, NULL, 0);
	KT_CHECK(req.timeout_ms >= 1 && req.timeout_ms < 500);
	KT_CHECK(req.timeout_ms <= 500 - (kt_now_ms() - t0) + 30);
	KT_EQ(unlock_ex(holder, KSHM_UNLOCK_ABORT), 0);
}

/* ---- 7. never fail after acting ----------------------------------------- */

/* A copy of @len bytes at @src in a read-only page. */
static void *read_only_copy(const void *src, size_t len)
{
	void *p = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	KT_CHECK(p != MAP_FAILED);
	memcpy(p, src, len);
	KT_EQ(mprotect(p, page_size, PROT_READ), 0);
	return p;
}

static void test_read_only_requests(void)
{
	int a = kopen(O_RDWR), b = kopen(O_RDWR);
	volatile struct kshm_ctrl *c = map_ctrl(a);
	uint8_t *d = map_data(a, PROT_READ);
	struct kshm_lock_req lr = { .timeout_ms = 100 };
	struct kshm_unlock_req ur = { .flags = KSHM_UNLOCK_COMMIT };
	struct kshm_kwrite_req kw = { .offset = 9, .len = 3, .timeout_ms = 100 };
	struct kshm_info i0 = info(a), i1;
	uint64_t g0 = c->generation;
	uint8_t before[3];

	/* LOCK: refused before anything happens, the lock stays free. */
	errno = 0;
	KT_CHECK(ioctl(a, KSHM_IOC_LOCK, read_only_copy(&lr, sizeof(lr))) == -1);
	KT_EQ(errno, EFAULT);
	KT_EQ(c->lock, 0);
	i1 = info(a);
	KT_EQ(i1.locks_granted, i0.locks_granted);
	KT_EQ(i1.aborts, i0.aborts);
	/* UNLOCK(COMMIT): EFAULT means not committed, still held. */
	KT_EQ(lock_ex(a, 0, 0, NULL), 0);
	errno = 0;
	KT_CHECK(ioctl(a, KSHM_IOC_UNLOCK, read_only_copy(&ur, sizeof(ur))) == -1);
	KT_EQ(errno, EFAULT);
	KT_EQ(c->generation, g0);
	KT_EQ(c->lock & KSHM_LW_OWNER_MASK, info(a).file_id);
	KT_EQ(info(a).commits, i0.commits);
	KT_EQ(unlock_ex(a, KSHM_UNLOCK_COMMIT), 0);	/* a retry commits once */
	KT_EQ(c->generation, g0 + 1);
	/* KWRITE: EFAULT means nothing written, nothing committed. */
	memcpy(before, d + 9, 3);
	kw.data = (uintptr_t)"new";
	errno = 0;
	KT_CHECK(ioctl(b, KSHM_IOC_KWRITE, read_only_copy(&kw, sizeof(kw))) == -1);
	KT_EQ(errno, EFAULT);
	KT_EQ(memcmp(d + 9, before, 3), 0);
	KT_EQ(c->generation, g0 + 1);
	KT_EQ(info(a).kernel_writes, i0.kernel_writes);
	KT_EQ(c->lock, 0);
}

/* ---- 8. pids ------------------------------------------------------------ */

static void test_pid_namespaces(void)
{
	int b = kopen(O_RDWR), up[2], go[2];
	volatile struct kshm_header *h = map_header(b);
	pid_t outer, seen_inside;
	char ch;

	KT_CHECK(pipe(up) == 0 && pipe(go) == 0);
	KT_EQ(unshare(CLONE_NEWPID), 0);
	outer = fork();		/* pid 1 of the new namespace */
	if (outer == 0) {
		int fd = kopen(O_RDWR);
		pid_t v;

		if (getpid() != 1 || lock_ex(fd, 1000, 0, NULL))
			_exit(2);
		v = info(fd).holder_pid;
		KT_CHECK(write(up[1], &v, sizeof(v)) == sizeof(v));
		KT_CHECK(read(go[0], &ch, 1) == 1);
		unlock_ex(fd, KSHM_UNLOCK_COMMIT);
		/* The outer holder is not visible in here: 0. */
		KT_CHECK(read(go[0], &ch, 1) == 1);
		v = info(fd).holder_pid;
		KT_CHECK(write(up[1], &v, sizeof(v)) == sizeof(v));
		_exit(0);
	}
	KT_EQ(read(up[0], &seen_inside, sizeof(seen_inside)), sizeof(seen_inside));
	KT_EQ(seen_inside, 1);
	KT_EQ(info(b).holder_pid, outer);
	KT_EQ(write(go[1], "x", 1), 1);
	KT_EQ(lock_ex(b, 2000, 0, NULL), 0);
	KT_EQ(write(go[1], "x", 1), 1);
	KT_EQ(read(up[0], &seen_inside, sizeof(seen_inside)), sizeof(seen_inside));
	KT_EQ(seen_inside, 0);
	KT_EQ(exit_code(outer), 0);
	/* The header no longer names anyone (one page cannot suit every namespace). */
	KT_EQ(h->holder_pid, 0);
	KT_EQ(info(b).holder_pid, getpid());
	KT_EQ(unlock_ex(b, KSHM_UNLOCK_COMMIT), 0);
}

/* ---- 9. nothing executable ---------------------------------------------- */

static void test_no_exec_mappings(void)
{
	int fd = kopen(O_RDWR);
	struct kshm_info i = info(fd);
	const off_t offs[] = { 0, page_size, (off_t)(i.pages + 1) * page_size };

	for (size_t k = 0; k < ARRAY_LEN(offs); k++) {
		void *p;

		errno = 0;
		KT_CHECK(mmap(NULL, page_size, PROT_READ | PROT_EXEC, MAP_SHARED, fd, offs[k]) ==
			 MAP_FAILED);
		KT_EQ(errno, EACCES);
		KT_CHECK(mmap(NULL, page_size, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, offs[k]) ==
			 MAP_FAILED);
		p = mmap(NULL, page_size, PROT_READ, MAP_SHARED, fd, offs[k]);
		KT_CHECK(p != MAP_FAILED);
		errno = 0;
		KT_CHECK(mprotect(p, page_size, PROT_READ | PROT_EXEC) != 0);
		KT_EQ(errno, EACCES);
		munmap(p, page_size);
	}
}

/* ---- 10. wake-ups ------------------------------------------------------- */

static long voluntary_switches(pid_t pid)
{
	char path[64], buf[4096], *at;
	long n = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	KT_CHECK(f != NULL);
	while (fgets(buf, sizeof(buf), f)) {
		at = strstr(buf, "voluntary_ctxt_switches:");
		if (at == buf)
			n = atol(buf + strlen("voluntary_ctxt_switches:"));
	}
	fclose(f);
	KT_CHECK(n >= 0);
	return n;
}

static void test_waiters_sleep(void)
{
	int holder = kopen(O_RDWR);
	volatile struct kshm_header *h = map_header(holder);
	long before[3], after;
	pid_t kids[3];

	KT_EQ(lock_ex(holder, 0, 0, NULL), 0);
	for (int k = 0; k < 3; k++) {
		kids[k] = blocked_child(false, k == 2 ? 20000 : 0, 0);
		wait_waiters(h, k + 1);
	}
	kt_sleep_ms(20);
	for (int k = 0; k < 3; k++)
		before[k] = voluntary_switches(kids[k]);
	kt_sleep_ms(1000);
	/* A second of a held lock: no waiter woke up (the old driver: ~20 times each). */
	for (int k = 0; k < 3; k++) {
		after = voluntary_switches(kids[k]);
		if (after - before[k] > 3)
			KT_FAIL("waiter %d woke %ld times in 1 s", k, after - before[k]);
	}
	KT_EQ(unlock_ex(holder, KSHM_UNLOCK_ABORT), 0);
	for (int k = 0; k < 3; k++)
		KT_EQ(exit_code(kids[k]), 0);
}

static const struct kt_test tests[] = {
	{ "1 forged words naming nobody: reclaimed with DIED at once", test_forged_words_reclaimed },
	{ "1 forged word under a queued LOCK: reclaimed within the recheck", test_forged_word_queued_waiter },
	{ "1 forged word: KWRITE and the ticker reclaim it too", test_forged_word_kernel_parties },
	{ "1 a free word forged while the kernel holds grants nobody; its release still commits",
	  test_forged_free_word_during_kernel_hold },
	{ "1 a user's own id forged and unlocked while the kernel holds hands nothing on",
	  test_forged_own_id_unlocked_during_kernel_hold },
	{ "1 LOCK on a word naming the caller: EDEADLK, also while the kernel holds",
	  test_forged_own_id_lock_edeadlk_during_kernel_hold },
	{ "2 KWRITE without a limit stalls no kernel party; CANCEL, close end it", test_kwrite_forever_stalls_nobody },
	{ "2 the in-kernel API keeps its deadline behind a KWRITE without a limit", test_kernel_api_bounded },
	{ "3a fork: parent's close and exit keep the child's fast lock", test_fork_child_lock_survives_parent },
	{ "3b fork: opener dies holding, a child keeps the file: DIED", test_fork_opener_dies_holding },
	{ "3c fork: a child dies holding a fast lock: DIED", test_fork_child_dies_holding },
	{ "3d a thread with its own fd table closes or exits: the process keeps its id and lock",
	  test_unshared_table_thread_keeps_id },
	{ "3e close_range(UNSHARE) with the table shared by another process retires the id",
	  test_close_range_unshare_with_other_process_retires_id },
	{ "4 writing tick_ms never waits for a held lock", test_tick_param_never_waits },
	{ "4 tick_ms=0 does not wait for a tick about to queue behind a holder",
	  test_tick_param_never_waits_racing_tick, 60 },
	{ "5 hand-offs never rewrite a word they did not check", test_handoff_never_overwrites, 60 },
	{ "5 the repair of a lost WAITERS never rewrites a won CAS", test_repair_never_overwrites, 60 },
	{ "6 SIGSTOP/SIGCONT: LOCK and KWRITE restart, no EINTR", test_stop_cont_restarts },
	{ "6 handlers: SA_RESTART restarts, none: EINTR; deadlines kept", test_signal_handlers },
	{ "6 EINTR leaves the time remaining in timeout_ms", test_signal_timeout_left },
	{ "7 read-only request structs: EFAULT, nothing done", test_read_only_requests },
	{ "8 pids as the caller's pid namespace sees them", test_pid_namespaces },
	{ "9 nothing kshm maps is executable", test_no_exec_mappings },
	{ "10 queued waiters sleep while the lock is held", test_waiters_sleep },
};

int main(int argc, char **argv)
{
	page_size = sysconf(_SC_PAGESIZE);
	return KT_RUN("driver against hostile users (issue 15)", tests, argc, argv);
}
