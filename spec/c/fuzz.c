// SPDX-License-Identifier: GPL-2.0
/*
 * kshm's fault and fuzz programs (run in the guest by spec/fault):
 *
 *   fuzz SECONDS PROCS SEED   processes issuing random, hostile syscall
 *                             sequences, killed and respawned at random
 *   recovery WRITERS ROUNDS SEED
 *                             writers killed mid-transaction in a loop;
 *                             no commit of a finished writer is lost
 *   hostile SECONDS [fast]    a user (locking by ioctl, or by CAS on the word
 *                             with "fast") that scribbles without the lock, tries
 *                             to write the header and never unlocks
 *
 * KSHM_DEVICE names the region to run against (default /dev/kshm; e.g.
 * /dev/kshm/b for a second region).
 *
 * Each ends with a consistency check of the lock state and prints one
 * JSON line; exit 0 means every check held. The harness fails the run on
 * any kernel BUG/WARNING/Oops/hung task, and proves rmmod works after.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "../../driver/include/uapi/kshm.h"
#include "lockword.h"

#define CHECK(cond, ...)                                                        \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "fuzz: %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                           \
			fprintf(stderr, "\n");                                  \
			exit(1);                                                \
		}                                                               \
	} while (0)

/* The region under test: KSHM_DEVICE, or the default region. */
static const char *dev_path = KSHM_DEVICE_PATH;
static long page_size;
static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void on_alarm(int sig)
{
	(void)sig;
}

/* Interrupt whatever blocks, after @ms (no SA_RESTART: calls get EINTR). */
static void arm(long ms)
{
	struct itimerval it = { .it_value = { ms / 1000, (ms % 1000) * 1000 } };

	setitimer(ITIMER_REAL, &it, NULL);
}

static void disarm(void)
{
	struct itimerval it = { 0 };

	setitimer(ITIMER_REAL, &it, NULL);
}

static struct kshm_info info_of(int fd)
{
	struct kshm_info i;

	CHECK(ioctl(fd, KSHM_IOC_INFO, &i) == 0, "INFO: %s", strerror(errno));
	return i;
}

static volatile struct kshm_ctrl *map_ctrl(int fd, int prot)
{
	void *p = mmap(NULL, page_size, prot, MAP_SHARED, fd,
		       (off_t)(info_of(fd).pages + 1) * page_size);

	return p == MAP_FAILED ? NULL : p;
}

/*
 * The lock is free, nobody waits, and every grant ended exactly once. After
 * a fuzz run that scribbled on the control page (@forged), the word may hold
 * anything a dead process wrote: what must hold then is that no live file
 * owns it and that the region works again once an admin resets the word.
 * The grant/commit identity only holds when nobody used the fast path
 * (@fast_path: the driver sees those commits and deaths, not the grants).
 */
enum final_check { SLOW_PATH_ONLY, FAST_PATH_USED, FORGED };

static void check_final_state(const char *what, enum final_check how, const struct kshm_info *base)
{
	static const struct kshm_info zero;
	int fd = open(dev_path, O_RDWR);
	struct kshm_lock_req lr = { .flags = KSHM_LOCK_TRY };
	struct kshm_unlock_req ur = { .flags = KSHM_UNLOCK_ABORT };
	struct kshm_info i;

	CHECK(fd >= 0, "open: %s", strerror(errno));
	i = info_of(fd);
	if (how == FORGED) {
		volatile struct kshm_ctrl *c = map_ctrl(fd, PROT_READ | PROT_WRITE);

		CHECK(c != NULL, "map ctrl");
		CHECK(i.holder_pid == 0, "%s: a live process holds the lock (pid %d)", what, i.holder_pid);
		CHECK(i.waiters == 0, "%s: %u waiters left", what, i.waiters);
		printf("{\"mode\":\"%s\",\"finalLockWord\":%u}\n", what, c->lock);
		c->lock = 0;
		c->seq = (c->seq | 1) + 1;
		CHECK(ioctl(fd, KSHM_IOC_LOCK, &lr) == 0, "%s: lock after: %s", what, strerror(errno));
		CHECK(ioctl(fd, KSHM_IOC_UNLOCK, &ur) == 0, "%s: unlock after: %s", what, strerror(errno));
		close(fd);
		return;
	}
	CHECK(!(i.flags & KSHM_HDR_LOCKED) && i.holder_pid == 0, "%s: still locked (pid %d)", what, i.holder_pid);
	CHECK(i.waiters == 0, "%s: %u waiters left", what, i.waiters);
	if (!base)
		base = &zero;
	i.locks_granted -= base->locks_granted;
	i.commits -= base->commits;
	i.aborts -= base->aborts;
	i.owner_died -= base->owner_died;
	CHECK(how == FAST_PATH_USED || i.locks_granted == i.commits + i.aborts + i.owner_died,
	      "%s: granted %llu != commits %llu + aborts %llu + owner_died %llu", what,
	      (unsigned long long)i.locks_granted, (unsigned long long)i.commits,
	      (unsigned long long)i.aborts, (unsigned long long)i.owner_died);
	CHECK(ioctl(fd, KSHM_IOC_LOCK, &lr) == 0, "%s: lock after: %s", what, strerror(errno));
	CHECK(ioctl(fd, KSHM_IOC_UNLOCK, &ur) == 0, "%s: unlock after: %s", what, strerror(errno));
	close(fd);
}

/* ---- fuzz ---------------------------------------------------------------- */

#define MAXFD 4
#define MAXMAP 8

struct map {
	void *addr;
	size_t len;
	int prot;
};

static void *bad_pointer(void)
{
	static const uintptr_t bad[] = { 0, 16, 4095, 0xffffffffffff0000ull, 0x00007ffffffff000ull,
					 0xdead0000ull };

	return (void *)bad[below(sizeof(bad) / sizeof(bad[0]))];
}

static void fuzz_worker(double until, uint64_t seed)
{
	int fds[MAXFD] = { -1, -1, -1, -1 };
	struct map maps[MAXMAP] = { 0 };
	uint8_t buf[512];
	unsigned long ops = 0;
	size_t data_size = 0;

	rng = seed | 1;
	while (now_s() < until) {
		int slot = (int)below(MAXFD), fd = fds[slot];
		int m = (int)below(MAXMAP);

		ops++;
		switch (below(16)) {
		case 0: /* open */
			if (fd < 0) {
				fds[slot] = open(dev_path, below(4) ? O_RDWR : O_RDONLY);
				if (fds[slot] >= 0 && !data_size)
					data_size = (size_t)info_of(fds[slot]).pages * page_size;
			}
			break;
		case 1: /* close (maybe while holding the lock) */
			if (fd >= 0 && !below(3)) {
				close(fd);
				fds[slot] = -1;
			}
			break;
		case 2: { /* mmap with random offset, length, protection, flags */
			size_t len = (size_t)(below(4) + (below(8) == 0 ? 0 : 1)) * page_size + (below(16) == 0 ? 1 : 0);
			off_t off = below(8) == 0 ? (off_t)rnd() : (off_t)(below(4) * page_size);
			int prot = (int)below(4);
			int flags = below(5) ? MAP_SHARED : MAP_PRIVATE;
			void *p;

			if (fd < 0 || maps[m].addr)
				break;
			p = mmap(NULL, len ? len : 1, prot, flags, fd, off);
			if (p == MAP_FAILED)
				break;
			maps[m] = (struct map){ p, len ? len : 1, prot };
			if (prot & PROT_READ)
				buf[0] = *(volatile uint8_t *)p;
			break;
		}
		case 3: /* munmap, mprotect, mremap */
			if (!maps[m].addr)
				break;
			if (below(2)) {
				munmap(maps[m].addr, maps[m].len);
				maps[m].addr = NULL;
			} else if (below(2)) {
				int prot = (int)below(8) & 7;

				if (mprotect(maps[m].addr, maps[m].len, prot) == 0)
					maps[m].prot = prot;
			} else {
				void *q = mremap(maps[m].addr, maps[m].len, maps[m].len + page_size, MREMAP_MAYMOVE);

				CHECK(q == MAP_FAILED, "a mapping grew with mremap");
			}
			break;
		case 4: { /* scribble into a writable mapping, lock or no lock */
			struct map *mp = &maps[m];

			if (mp->addr && (mp->prot & PROT_WRITE))
				memset(mp->addr, (int)rnd(), mp->len < 64 ? mp->len : 64);
			break;
		}
		case 5: { /* LOCK, sometimes hostile arguments */
			struct kshm_lock_req req = {
				.timeout_ms = below(4) ? (uint32_t)below(30) + 1 : (below(2) ? 0 : UINT32_MAX),
				.flags = below(8) ? (uint32_t)below(2) : (uint32_t)rnd(),
				.reserved = below(10) ? 0 : (uint32_t)rnd(),
			};

			if (fd < 0)
				break;
			arm(40);
			ioctl(fd, KSHM_IOC_LOCK, below(12) ? (void *)&req : bad_pointer());
			disarm();
			break;
		}
		case 6: { /* UNLOCK */
			struct kshm_unlock_req req = { .flags = below(6) ? (uint32_t)below(3) + 0 : (uint32_t)rnd() };

			if (fd >= 0)
				ioctl(fd, KSHM_IOC_UNLOCK, below(12) ? (void *)&req : bad_pointer());
			break;
		}
		case 7: /* CANCEL, INFO */
			if (fd >= 0) {
				ioctl(fd, KSHM_IOC_CANCEL);
				ioctl(fd, KSHM_IOC_INFO, below(3) ? (void *)buf : bad_pointer());
			}
			break;
		case 8: { /* KWRITE with random ranges and pointers */
			struct kshm_kwrite_req req = {
				.offset = below(4) ? below(data_size + 8) : rnd(),
				.len = below(4) ? (uint32_t)below(sizeof(buf)) : (uint32_t)rnd(),
				.timeout_ms = (uint32_t)below(20) + 1,
				.reserved = below(10) ? 0 : 1,
			};

			req.data = below(6) ? (uintptr_t)buf : (uintptr_t)bad_pointer();
			if (fd >= 0) {
				arm(60);
				ioctl(fd, KSHM_IOC_KWRITE, &req);
				disarm();
			}
			break;
		}
		case 9: { /* any ioctl number, any size, any argument */
			unsigned long cmd = _IOC((unsigned int)below(4), below(2) ? KSHM_IOC_MAGIC : (unsigned int)below(256),
						 (unsigned int)below(20), (unsigned int)below(1 << 13));

			if (fd >= 0) {
				arm(40);
				ioctl(fd, cmd, below(2) ? (void *)buf : bad_pointer());
				disarm();
			}
			break;
		}
		case 10: { /* read and poll */
			struct pollfd p = { .fd = fd, .events = POLLIN };

			if (fd < 0)
				break;
			arm(30);
			if (below(2))
				read(fd, below(4) ? (void *)buf : bad_pointer(), below(3) ? 8 : (size_t)below(16));
			else
				poll(&p, 1, (int)below(10));
			disarm();
			break;
		}
		case 11: { /* fork, perhaps with the lock held; the child may die holding it */
			pid_t pid;

			if (fd < 0 || below(8))
				break;
			pid = fork();
			if (pid == 0) {
				struct kshm_lock_req req = { .timeout_ms = 10 };

				if (below(2))
					ioctl(fd, KSHM_IOC_LOCK, &req);
				if (below(2))
					close(fd);
				_exit(0);
			}
			if (pid > 0)
				waitpid(pid, NULL, 0);
			break;
		}
		case 12: { /* a fast-path transaction; sometimes never released */
			volatile struct kshm_ctrl *c;
			uint32_t id, seen = 0;

			if (fd < 0 || !(c = map_ctrl(fd, PROT_READ | PROT_WRITE)))
				break;
			id = info_of(fd).file_id;
			if (__atomic_compare_exchange_n(&c->lock, &seen, id, 0, __ATOMIC_ACQUIRE,
							__ATOMIC_RELAXED)) {
				c->seq |= 1;
				if (below(4))
					lw_unlock(fd, c, id, true, true);
			}
			munmap((void *)c, page_size);
			break;
		}
		default: /* plain, well-behaved transaction */
			if (fd >= 0) {
				struct kshm_lock_req req = { .timeout_ms = 20 };
				struct kshm_unlock_req ur = { .flags = below(2) ? KSHM_UNLOCK_COMMIT : KSHM_UNLOCK_ABORT };

				arm(40);
				if (ioctl(fd, KSHM_IOC_LOCK, &req) == 0)
					ioctl(fd, KSHM_IOC_UNLOCK, &ur);
				disarm();
			}
			break;
		}
	}
	_exit(0);
}

static int run_fuzz(double seconds, int procs, uint64_t seed)
{
	double until = now_s() + seconds;
	pid_t *pids = calloc((size_t)procs, sizeof(*pids));
	unsigned long kills = 0, spawned = 0;

	rng = seed | 1;
	for (int i = 0; i < procs; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			fuzz_worker(until, seed * 7919 + (uint64_t)i);
		spawned++;
	}
	while (now_s() < until) {
		int i = (int)below((uint64_t)procs);

		usleep((useconds_t)(20000 + below(150000)));
		if (now_s() >= until)
			break;
		kill(pids[i], SIGKILL);
		waitpid(pids[i], NULL, 0);
		kills++;
		pids[i] = fork();
		if (pids[i] == 0)
			fuzz_worker(until, rnd());
		spawned++;
	}
	for (int i = 0; i < procs; i++) {
		int status;

		waitpid(pids[i], &status, 0);
		CHECK(!WIFSIGNALED(status) || WTERMSIG(status) == SIGKILL,
		      "a fuzz worker died of signal %d", WTERMSIG(status));
		CHECK(!WIFEXITED(status) || WEXITSTATUS(status) == 0, "a fuzz worker failed a check");
	}
	check_final_state("fuzz", FORGED, NULL);
	printf("{\"mode\":\"fuzz\",\"seconds\":%.0f,\"procs\":%d,\"seed\":%llu,\"workers\":%lu,\"kills\":%lu}\n",
	       seconds, procs, (unsigned long long)seed, spawned, kills);
	return 0;
}

/* ---- crash recovery ------------------------------------------------------ */

/*
 * Layout: u64 slot[id] at 8*id counts writer id's increments; u64 at 512 is
 * the sum of all slots, kept equal by every transaction. A holder told
 * OWNER_DIED repairs the sum before its own increment.
 */
/*
 * Odd writers take a free lock on the fast path (CAS on the word) and
 * release it there too; everybody falls back to LOCK when it is taken.
 * Returns whether the fast path was used; *died: OWNER_DIED.
 */
static int writer_lock(int fd, volatile struct kshm_ctrl *c, uint32_t id, int fast, int *died)
{
	struct kshm_lock_req req = { .timeout_ms = 5000 };
	int ret = fast ? lw_lock(c, id) : -EBUSY;

	if (ret >= 0) {
		*died = ret & KSHM_LOCK_OWNER_DIED;
		return 1;
	}
	CHECK(ioctl(fd, KSHM_IOC_LOCK, &req) == 0, "lock: %s", strerror(errno));
	*died = req.result & KSHM_LOCK_OWNER_DIED;
	return 0;
}

static void writer_commit(int fd, volatile struct kshm_ctrl *c, uint32_t id, int fast)
{
	struct kshm_unlock_req ur = { .flags = KSHM_UNLOCK_COMMIT };
	int ret = fast ? lw_unlock(fd, c, id, true, false) : 0;

	CHECK(ret >= 0, "unlock: %s", strerror(-ret));
	if (!fast)
		CHECK(ioctl(fd, KSHM_IOC_UNLOCK, &ur) == 0, "unlock: %s", strerror(errno));
}

static void recovery_writer(int id, int rounds, int logfd)
{
	int fd = open(dev_path, O_RDWR);
	volatile struct kshm_ctrl *c;
	uint64_t *data;
	uint32_t fid;

	CHECK(fd >= 0, "open");
	data = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, page_size);
	CHECK(data != MAP_FAILED, "mmap");
	c = map_ctrl(fd, PROT_READ | PROT_WRITE);
	CHECK(c != NULL, "mmap ctrl");
	fid = info_of(fd).file_id;
	for (int r = 0; r < rounds; r++) {
		uint32_t line = (uint32_t)id;
		int died, fast = writer_lock(fd, c, fid, id & 1, &died);

		if (died) {
			uint64_t sum = 0;

			for (int i = 0; i < 32; i++)
				sum += data[i];
			data[64] = sum;
			line |= 1u << 31;
		}
		data[id]++;
		usleep(100);	/* a window to be killed in, mid-transaction */
		data[64]++;
		writer_commit(fd, c, fid, fast);
		/* Logged only after the commit returned: "what I committed". */
		CHECK(write(logfd, &line, sizeof(line)) == sizeof(line), "log");
	}
	_exit(0);
}

static int run_recovery(int writers, int rounds, uint64_t seed)
{
	int logp[2], fd = open(dev_path, O_RDWR);
	uint64_t *data, logged[32] = { 0 }, told = 0, g0;
	pid_t pids[32];
	int killed[32] = { 0 }, kills = 0;
	struct kshm_lock_req lr = { .timeout_ms = 5000 };
	struct kshm_unlock_req ur = { .flags = KSHM_UNLOCK_COMMIT };
	struct kshm_info i0, i1;
	uint32_t line;

	CHECK(writers > 0 && writers <= 32, "1..32 writers");
	CHECK(fd >= 0 && pipe(logp) == 0, "setup");
	data = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, page_size);
	CHECK(data != MAP_FAILED, "mmap");
	rng = seed | 1;
	CHECK(ioctl(fd, KSHM_IOC_LOCK, &lr) == 0, "lock");
	memset(data, 0, 65 * sizeof(uint64_t));
	CHECK(ioctl(fd, KSHM_IOC_UNLOCK, &ur) == 0, "unlock");
	i0 = info_of(fd);
	g0 = i0.generation;
	for (int i = 0; i < writers; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			close(logp[0]);
			recovery_writer(i, rounds, logp[1]);
		}
	}
	close(logp[1]);
	/*
	 * Kill about a third of the writers at random moments; mostly whoever
	 * holds the lock right then, so that deaths land mid-transaction.
	 */
	for (int k = 0; k < writers / 3; k++) {
		pid_t holder;
		int victim = -1;

		usleep((useconds_t)below(100000));
		holder = info_of(fd).holder_pid;
		for (int i = 0; i < writers; i++)
			if (pids[i] == holder && !killed[i] && below(4))
				victim = i;
		if (victim < 0)
			victim = (int)below((uint64_t)writers);
		if (killed[victim])
			continue;
		kill(pids[victim], SIGKILL);
		killed[victim] = 1;
		kills++;
	}
	while (read(logp[0], &line, sizeof(line)) == sizeof(line)) {
		logged[line & 31]++;
		if (line >> 31)
			told++;
	}
	for (int i = 0; i < writers; i++) {
		int status;

		waitpid(pids[i], &status, 0);
		if (!killed[i] || !WIFSIGNALED(status))
			CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer %d failed", i);
		if (WIFEXITED(status))
			killed[i] = 0;	/* finished before the kill */
	}
	i1 = info_of(fd);
	uint64_t total_logged = 0, sum = 0;

	for (int i = 0; i < writers; i++) {
		total_logged += logged[i];
		sum += data[i];
		if (!killed[i])
			CHECK(data[i] == logged[i], "writer %d committed %llu but its slot says %llu", i,
			      (unsigned long long)logged[i], (unsigned long long)data[i]);
		else
			CHECK(data[i] - logged[i] <= 1, "killed writer %d: slot %llu, logged %llu", i,
			      (unsigned long long)data[i], (unsigned long long)logged[i]);
	}
	CHECK(i1.generation - g0 >= total_logged && i1.generation - g0 <= total_logged + (uint64_t)kills,
	      "generation advanced %llu for %llu logged commits and %d kills",
	      (unsigned long long)(i1.generation - g0), (unsigned long long)total_logged, kills);
	if (data[64] != sum) {
		/* Only a holder that died last leaves the sum unrepaired; the flag says so. */
		CHECK(i1.flags & KSHM_HDR_OWNER_DIED, "sum %llu != slots %llu without an owner death",
		      (unsigned long long)data[64], (unsigned long long)sum);
	}
	check_final_state("recovery", FAST_PATH_USED, NULL);
	printf("{\"mode\":\"recovery\",\"writers\":%d,\"rounds\":%d,\"kills\":%d,\"committed\":%llu,"
	       "\"ownerDiedSeen\":%llu,\"ownerDiedCounted\":%llu}\n", writers, rounds, kills,
	       (unsigned long long)total_logged, (unsigned long long)told,
	       (unsigned long long)(i1.owner_died - i0.owner_died));
	return 0;
}

/* ---- hostile user ---------------------------------------------------------- */

/* The region's tick_ms: the module parameter, or a named region's region/tick_ms. */
static int write_param(const char *value)
{
	const char *name = dev_path + strlen(KSHM_REGION_DIR);
	char path[128] = "/sys/module/kshm/parameters/tick_ms";
	ssize_t n;
	int fd;

	if (!strncmp(dev_path, KSHM_REGION_DIR, strlen(KSHM_REGION_DIR)) &&
	    strcmp(name, KSHM_DEFAULT_REGION_NAME))
		snprintf(path, sizeof(path), KSHM_SYSFS_DIR "kshm!%s/region/tick_ms", name);
	fd = open(path, O_WRONLY);

	if (fd < 0)
		return -1;
	n = write(fd, value, strlen(value));
	close(fd);
	return n < 0 ? -1 : 0;
}

static int run_hostile(double seconds, int fast)
{
	int fd = open(dev_path, O_RDWR), ready[2];
	struct kshm_info i0, i1;
	pid_t hostile;
	char c;
	unsigned long timeouts = 0, kw_timeouts = 0;
	double until;

	CHECK(fd >= 0 && pipe(ready) == 0, "setup");
	CHECK(write_param("5") == 0, "tick_ms");
	i0 = info_of(fd);
	hostile = fork();
	if (hostile == 0) {
		int h = open(dev_path, O_RDWR);
		struct kshm_lock_req req = { 0 };
		uint8_t *data = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_SHARED, h, page_size);
		void *hdr;

		CHECK(h >= 0 && data != MAP_FAILED, "hostile setup");
		CHECK(mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_SHARED, h, 0) == MAP_FAILED,
		      "the header was mapped writable");
		hdr = mmap(NULL, page_size, PROT_READ, MAP_SHARED, h, 0);
		CHECK(mprotect(hdr, page_size, PROT_READ | PROT_WRITE) != 0, "the header became writable");
		if (fast) {
			volatile struct kshm_ctrl *c = map_ctrl(h, PROT_READ | PROT_WRITE);
			uint32_t id = info_of(h).file_id, seen = 0;
			int tries = 0;

			CHECK(c != NULL, "hostile ctrl");
			/* The ticker may hold it for a moment: try for up to 2 s. */
			while (!__atomic_compare_exchange_n(&c->lock, &seen, id, 0, __ATOMIC_ACQUIRE,
							    __ATOMIC_RELAXED)) {
				CHECK(++tries < 20000, "hostile CAS (word %u)", seen);
				seen = 0;
				usleep(100);
			}
			c->seq |= 1;
		} else {
			CHECK(ioctl(h, KSHM_IOC_LOCK, &req) == 0, "hostile lock");
		}
		CHECK(write(ready[1], "x", 1) == 1, "ready");
		for (;;) {	/* never unlock; scribble garbage forever */
			for (long i = 0; i < page_size; i++)
				data[i] = (uint8_t)rnd();
			usleep(1000);
		}
	}
	CHECK(read(ready[0], &c, 1) == 1, "hostile never got ready");
	until = now_s() + seconds;
	while (now_s() < until) {
		struct kshm_lock_req req = { .timeout_ms = 20 };
		struct kshm_kwrite_req kw = { .offset = 0, .len = 4, .data = (uintptr_t)"abcd", .timeout_ms = 20 };

		CHECK(ioctl(fd, KSHM_IOC_LOCK, &req) == -1 && errno == ETIMEDOUT, "a cooperating LOCK did not time out");
		timeouts++;
		CHECK(ioctl(fd, KSHM_IOC_KWRITE, &kw) == -1 && errno == ETIMEDOUT, "KWRITE did not time out");
		kw_timeouts++;
	}
	i1 = info_of(fd);
	CHECK(i1.ticks_skipped > i0.ticks_skipped, "the ticker did not skip ticks (%llu)",
	      (unsigned long long)(i1.ticks_skipped - i0.ticks_skipped));
	CHECK(i1.holder_pid == hostile, "the hostile process should still hold the lock");
	kill(hostile, SIGKILL);
	waitpid(hostile, NULL, 0);
	{
		struct kshm_lock_req req = { .timeout_ms = 1000 };
		struct kshm_unlock_req ur = { .flags = KSHM_UNLOCK_COMMIT };

		CHECK(ioctl(fd, KSHM_IOC_LOCK, &req) == 0, "lock after the hostile died: %s", strerror(errno));
		CHECK(req.result & KSHM_LOCK_OWNER_DIED, "OWNER_DIED not reported after the hostile died");
		CHECK(ioctl(fd, KSHM_IOC_UNLOCK, &ur) == 0, "unlock");
	}
	CHECK(write_param("0") == 0, "tick_ms off");
	usleep(20000);
	check_final_state("hostile", fast ? FAST_PATH_USED : SLOW_PATH_ONLY, &i0);
	printf("{\"mode\":\"hostile\",\"seconds\":%.0f,\"lockTimeouts\":%lu,\"kwriteTimeouts\":%lu,\"ticksSkipped\":%llu}\n",
	       seconds, timeouts, kw_timeouts, (unsigned long long)(i1.ticks_skipped - i0.ticks_skipped));
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	const char *mode = argc > 1 ? argv[1] : "";

	page_size = sysconf(_SC_PAGESIZE);
	if (getenv("KSHM_DEVICE"))
		dev_path = getenv("KSHM_DEVICE");
	sigaction(SIGALRM, &sa, NULL);	/* no SA_RESTART */
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(mode, "fuzz") && argc == 5)
		return run_fuzz(atof(argv[2]), atoi(argv[3]), strtoull(argv[4], NULL, 0));
	if (!strcmp(mode, "recovery") && argc == 5)
		return run_recovery(atoi(argv[2]), atoi(argv[3]), strtoull(argv[4], NULL, 0));
	if (!strcmp(mode, "hostile") && (argc == 3 || (argc == 4 && !strcmp(argv[3], "fast"))))
		return run_hostile(atof(argv[2]), argc == 4);
	fprintf(stderr, "usage: fuzz fuzz SECONDS PROCS SEED | recovery WRITERS ROUNDS SEED | hostile SECONDS [fast]\n");
	return 2;
}
