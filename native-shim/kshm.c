// SPDX-License-Identifier: MIT
/*
 * libkshm: see kshm.h. Handles index a table of open devices, each with a
 * count of calls in flight, so that kshm_close() can cancel blocked calls and
 * wait for them before it unmaps: no call ever touches freed or unmapped
 * memory, whatever the interleaving of threads.
 *
 * Locking takes the fast path of the ABI (a CAS on the control page's lock
 * word, no syscall) when the lock is free, and the driver's FIFO queue
 * otherwise; a lock is released the way it was taken.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "kshm.h"
#include "lockword.h"

#define MAX_HANDLES	1024		/* a power of two */
#define SLOT_BITS	10
#define CLOSE_WAIT_NS	(5LL * 1000 * 1000 * 1000)
#define CANCEL_WAIT_NS	(2LL * 1000 * 1000 * 1000)
/* How long a contended kshm_lock() spins before it queues (SPIN_NS in lib/lock-queue.ts). */
#ifndef KSHM_SPIN_NS
#define KSHM_SPIN_NS	(20LL * 1000)
#endif
/* ...and through queued waiters, for the queue to drain (SPIN_WAITERS_NS in lib/lock-queue.ts). */
#ifndef KSHM_SPIN_WAITERS_NS
#define KSHM_SPIN_WAITERS_NS	(100LL * 1000)
#endif

struct kshm {
	int fd;
	struct kshm_header *whdr;	/* stand-in build only: a writable header */
	bool writable;
	size_t page_size;
	const struct kshm_header *hdr;
	uint8_t *data;
	size_t data_size;
	struct kshm_ctrl *ctrl;		/* read-only unless writable */
	_Atomic uint32_t id;		/* this process's id in ctrl->lock (INFO) */
	atomic_uint id_forks;		/* fork_count when id was read */
	bool fast;			/* may take the lock without a syscall */
	atomic_bool held_fast;		/* holds a lock taken on the fast path */
	atomic_bool staged;		/* holds a lock taken with KSHM_LOCK_STAGED */
	atomic_int users;		/* calls in flight */
	atomic_int in_lock;		/* of which: kshm_lock calls */
	atomic_int in_kwrite;		/* of which: kshm_kwrite calls (kshm_close cancels them) */
	atomic_llong epoch;		/* bumped by kshm_cancel and kshm_close */
	/* events: the ring (NULL without one) and this handle's reader */
	const struct kshm_ring_hdr *ring;
	size_t ring_size;
	const uint8_t *slots;
	uint64_t ev_pos;		/* the seq wanted next */
	uint64_t ev_lost;		/* lost before the next record delivered */
	uint64_t ev_stored;		/* the position the driver has (KSHM_IOC_EVENTS) */
	bool ev_started;		/* kshm_events_start() was called */
	int ev_cancel_fd;		/* eventfd: kshm_cancel/close wake a waiting reader */
};

#ifdef KSHM_STANDIN
#include "standin.h"
#else
/* The device, directly. The bench build swaps these for a stand-in. */
static int dev_open(const char *path, int flags, struct kshm *k)
{
	(void)k;
	return open(path, flags);
}

static int dev_ioctl(struct kshm *k, unsigned long cmd, void *arg)
{
	return ioctl(k->fd, cmd, arg);
}

static ssize_t dev_read(struct kshm *k, void *buf, size_t len)
{
	return read(k->fd, buf, len);
}
#endif

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	struct kshm *k;
	uint32_t gen;
} table[MAX_HANDLES];

static __thread char last_error[256];

/*
 * Lock-word ids belong to (open file, process): a forked child must ask the
 * driver for its own before it takes the lock. Bumped in the child at every
 * fork; a handle re-reads its id when it sees a new value.
 */
static atomic_uint fork_count;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void)
{
	atomic_fetch_add_explicit(&fork_count, 1, memory_order_relaxed);
}

static void install_atfork(void)
{
	pthread_atfork(NULL, NULL, on_fork_child);
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void nap_us(long us)
{
	struct timespec ts = { 0, us * 1000 };

	nanosleep(&ts, NULL);
}

/*
 * The open device behind @h, or NULL when closed or unknown. @remove takes
 * it out of the table (close); otherwise it is counted as a call in flight.
 */
static struct kshm *table_lookup(kshm_handle h, bool remove)
{
	struct kshm *k = NULL;
	uint32_t slot, gen;

	if (h <= 0)
		return NULL;
	slot = (uint32_t)h & (MAX_HANDLES - 1);
	gen = (uint32_t)h >> SLOT_BITS;
	pthread_mutex_lock(&table_lock);
	if (table[slot].k && table[slot].gen == gen) {
		k = table[slot].k;
		if (remove)
			table[slot].k = NULL;
		else
			atomic_fetch_add(&k->users, 1);
	}
	pthread_mutex_unlock(&table_lock);
	return k;
}

static struct kshm *get(kshm_handle h)
{
	return table_lookup(h, false);
}

static void put(struct kshm *k)
{
	atomic_fetch_sub(&k->users, 1);
}

static kshm_handle table_insert(struct kshm *k)
{
	kshm_handle h = -KSHM_E_TOO_MANY;

	pthread_mutex_lock(&table_lock);
	for (uint32_t slot = 0; slot < MAX_HANDLES; slot++) {
		if (table[slot].k)
			continue;
		/* gen never 0, so no handle is 0; stays positive in 31 bits */
		table[slot].gen = table[slot].gen % ((1U << (31 - SLOT_BITS)) - 1) + 1;
		table[slot].k = k;
		h = (kshm_handle)(table[slot].gen << SLOT_BITS | slot);
		break;
	}
	pthread_mutex_unlock(&table_lock);
	return h;
}

static int check_header(const struct kshm_header *hdr, size_t page_size)
{
	if (hdr->magic != KSHM_MAGIC) {
		snprintf(last_error, sizeof(last_error),
			 "not a kshm device (magic 0x%08x, want 0x%08x)", hdr->magic, KSHM_MAGIC);
		return -KSHM_E_MAGIC;
	}
	if (hdr->abi_version != KSHM_ABI_VERSION) {
		snprintf(last_error, sizeof(last_error),
			 "kshm driver ABI version %u, but libkshm speaks ABI version %u: "
			 "rebuild and reload the driver and the library from one source tree",
			 hdr->abi_version, KSHM_ABI_VERSION);
		return -KSHM_E_ABI;
	}
	if (hdr->page_size != page_size || hdr->pages < 1 || hdr->pages > KSHM_MAX_PAGES ||
	    hdr->data_size != (uint64_t)hdr->pages * page_size || hdr->data_offset != page_size ||
	    !(hdr->features & KSHM_FEAT_LOCKWORD) ||
	    hdr->ctrl_offset != (uint64_t)(hdr->pages + 1) * page_size) {
		snprintf(last_error, sizeof(last_error), "kshm header is inconsistent");
		return -KSHM_E_MAGIC;
	}
	return 0;
}

/* The control page, and this file's id in the lock word (from INFO). */
static int map_ctrl(struct kshm *k)
{
	struct kshm_info info;
	void *p;

	p = mmap(NULL, k->page_size, k->writable ? PROT_READ | PROT_WRITE : PROT_READ,
		 MAP_SHARED, k->fd, (off_t)k->hdr->ctrl_offset);
	if (p == MAP_FAILED)
		return -errno;
	k->ctrl = p;
	atomic_store(&k->id_forks, atomic_load(&fork_count));
	if (dev_ioctl(k, KSHM_IOC_INFO, &info)) {
		/* ENOTTY: a file that looks like a device but has no ioctls. */
		int ret = errno == ENOTTY ? -KSHM_E_MAGIC : -errno;

		if (ret == -KSHM_E_MAGIC)
			snprintf(last_error, sizeof(last_error), "no kshm ioctls (INFO: ENOTTY)");
		munmap(p, k->page_size);
		return ret;
	}
	atomic_store(&k->id, info.file_id);
	return 0;
}

/*
 * Events: map the ring read-only when the header announces one, after
 * checking that its geometry is the one the ABI describes.
 */
static int map_ring(struct kshm *k)
{
	const struct kshm_header *h = k->hdr;
	uint64_t slots;
	void *p;

	k->ev_cancel_fd = -1;
	if (!(h->features & KSHM_FEAT_RING))
		return 0;
	slots = (uint64_t)h->ring_records * h->ring_slot_size;
	if (h->ring_offset != h->ctrl_offset + k->page_size || !h->ring_records ||
	    h->ring_records > KSHM_RING_MAX_RECORDS ||
	    (h->ring_records & (h->ring_records - 1)) ||
	    h->ring_slot_size != sizeof(struct kshm_event) ||
	    h->ring_size != k->page_size + (slots + k->page_size - 1) / k->page_size * k->page_size) {
		snprintf(last_error, sizeof(last_error), "kshm ring header is inconsistent");
		return -KSHM_E_MAGIC;
	}
	p = mmap(NULL, h->ring_size, PROT_READ, MAP_SHARED, k->fd, (off_t)h->ring_offset);
	if (p == MAP_FAILED)
		return -errno;
	k->ring = p;
	k->ring_size = h->ring_size;
	k->slots = (const uint8_t *)p + k->ring->slots_offset;
	return 0;
}

static void unmap_ring(struct kshm *k)
{
	if (k->ring)
		munmap((void *)k->ring, k->ring_size);
	if (k->ev_cancel_fd >= 0)
		close(k->ev_cancel_fd);
}

/* Wake a reader waiting in kshm_events_next() (it then sees the new epoch). */
static void wake_reader(struct kshm *k)
{
	uint64_t one = 1;

	if (__atomic_load_n(&k->ev_cancel_fd, __ATOMIC_ACQUIRE) >= 0 &&
	    write(k->ev_cancel_fd, &one, sizeof(one)) < 0)
		return;
}

/* The calling process's id: after a fork, the child's own (0 if INFO fails). */
static uint32_t lock_id(struct kshm *k)
{
	unsigned int forks = atomic_load_explicit(&fork_count, memory_order_relaxed);
	struct kshm_info info;

	if (atomic_load_explicit(&k->id_forks, memory_order_relaxed) != forks) {
		atomic_store(&k->id, dev_ioctl(k, KSHM_IOC_INFO, &info) ? 0 : info.file_id);
		atomic_store(&k->id_forks, forks);
	}
	return atomic_load_explicit(&k->id, memory_order_relaxed);
}

/*
 * A regular file shorter than the header page maps, but reading the header
 * would raise SIGBUS: such a file is not a kshm device. (A device's pages
 * are always there; past the header only the INFO ioctl is used before a
 * file is known to be a device, and a regular file fails it.)
 */
static int header_backed(struct kshm *k)
{
	struct stat st;

	if (fstat(k->fd, &st))
		return -errno;
	if (S_ISREG(st.st_mode) && st.st_size < (off_t)k->page_size) {
		snprintf(last_error, sizeof(last_error),
			 "a file of %lld bytes, shorter than a header page", (long long)st.st_size);
		return -KSHM_E_MAGIC;
	}
	return 0;
}

/*
 * Why an opened file's mmap() failed with ENODEV: a kshm region destroyed
 * since the open() (REGIONS in the uapi header: its every ioctl fails with
 * ENODEV too) gives -ENODEV; any other file (no mmap at all, /dev/null)
 * -KSHM_E_MAGIC.
 */
static int unmappable(struct kshm *k)
{
	struct kshm_info info;

	if (dev_ioctl(k, KSHM_IOC_INFO, &info) && errno == ENODEV)
		return -ENODEV;
	snprintf(last_error, sizeof(last_error), "the file cannot be mapped");
	return -KSHM_E_MAGIC;
}

/*
 * The default region is /dev/kshm, or /dev/kshm/default while named regions
 * make /dev/kshm a directory (REGIONS in the uapi header). A read-only open()
 * of a directory succeeds: fstat() tells.
 */
static int open_region(const char *path, int flags, struct kshm *k)
{
	bool dflt = !path || !strcmp(path, KSHM_DEVICE_PATH);
	struct stat st;
	int fd;

	fd = dev_open(dflt ? KSHM_DEVICE_PATH : path, flags, k);
	if (fd >= 0 && dflt && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		fd = -1;
		errno = EISDIR;
	}
	if (fd < 0 && dflt && errno == EISDIR)
		fd = dev_open(KSHM_DEFAULT_REGION_ALT, flags, k);
	return fd;
}

kshm_handle kshm_open(const char *path, uint32_t flags)
{
	bool ro = flags & KSHM_OPEN_READONLY;
	struct kshm *k;
	void *p;
	int ret;

	last_error[0] = 0;
	if (flags & ~(KSHM_OPEN_READONLY | KSHM_OPEN_NO_FASTPATH))
		return -EINVAL;
	pthread_once(&atfork_once, install_atfork);
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->writable = !ro;
	k->fast = !ro && !(flags & KSHM_OPEN_NO_FASTPATH);
	k->page_size = (size_t)sysconf(_SC_PAGESIZE);
	/* O_NONBLOCK: kshm_consume() must never block; LOCK ignores it. */
	k->fd = open_region(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK, k);
	if (k->fd < 0) {
		ret = -errno;
		goto err_free;
	}
	ret = header_backed(k);
	if (ret)
		goto err_close;
	p = mmap(NULL, k->page_size, PROT_READ, MAP_SHARED, k->fd, 0);
	if (p == MAP_FAILED) {
		ret = -errno;
		if (ret == -ENODEV)
			ret = unmappable(k);
		goto err_close;
	}
	k->hdr = p;
	ret = check_header(k->hdr, k->page_size);
	if (ret)
		goto err_unmap_header;
	k->data_size = k->hdr->data_size;
	p = mmap(NULL, k->data_size, ro ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, k->fd,
		 (off_t)k->hdr->data_offset);
	if (p == MAP_FAILED) {
		ret = -errno;
		goto err_unmap_header;
	}
	k->data = p;
	ret = map_ctrl(k);
	if (ret)
		goto err_unmap_data;
	ret = map_ring(k);
	if (ret)
		goto err_unmap_ctrl;
	ret = table_insert(k);
	if (ret < 0)
		goto err_unmap_ring;
	return ret;

err_unmap_ring:
	unmap_ring(k);
err_unmap_ctrl:
	munmap(k->ctrl, k->page_size);
err_unmap_data:
	munmap(k->data, k->data_size);
err_unmap_header:
	munmap((void *)k->hdr, k->page_size);
err_close:
	close(k->fd);
err_free:
	free(k);
	return ret;
}

int kshm_close(kshm_handle h)
{
	struct kshm *k = table_lookup(h, true);
	long long deadline = now_ns() + CLOSE_WAIT_NS;

	if (!k)
		return -EBADF;
	/* No new call can find it now; end the ones in flight. */
	atomic_fetch_add(&k->epoch, 1);
	while (atomic_load(&k->users) > 0) {
		if (now_ns() > deadline)
			return -ETIMEDOUT;	/* leak rather than free under a caller */
		/* A blocked LOCK or KWRITE holds the file: only a cancel ends it. */
		if (atomic_load(&k->in_lock) > 0 || atomic_load(&k->in_kwrite) > 0)
			dev_ioctl(k, KSHM_IOC_CANCEL, NULL);
		wake_reader(k);
		nap_us(100);
	}
	unmap_ring(k);
	munmap(k->ctrl, k->page_size);
	munmap(k->data, k->data_size);
	munmap((void *)k->hdr, k->page_size);
	close(k->fd);	/* a lock still held is released by the driver */
	free(k);
	return 0;
}

int64_t kshm_cancel_epoch(kshm_handle h)
{
	struct kshm *k = get(h);
	int64_t e;

	if (!k)
		return -EBADF;
	e = atomic_load(&k->epoch);
	put(k);
	return e;
}

/* The fast path on the control page (lockword.h); held_fast says how to release. */
static int fast_acquire(struct kshm *k, bool staged)
{
	uint32_t id = lock_id(k);
	int ret;

	if (!id)	/* no id for this process (INFO failed after a fork) */
		return -EAGAIN;
	ret = staged ? lw_lock_staged(k->ctrl, id) : lw_lock(k->ctrl, id);
	if (ret >= 0)
		atomic_store(&k->held_fast, true);
	return ret;
}

/*
 * Ends a fast-path hold: publish (unless @published: the caller did, or a
 * staged hold aborts), free the word, or let the driver hand over.
 */
static int fast_release(struct kshm *k, uint32_t flags, bool published)
{
	struct kshm_unlock_req req = { .flags = flags | KSHM_UNLOCK_PUBLISHED };
	bool commit = flags & KSHM_UNLOCK_COMMIT;
	uint32_t id = lock_id(k);
	int ret;

	/* Not ours: the driver took it back (file closed), or a fork's child asks. */
	if (!id)
		return -EPERM;
	ret = published ? lw_free(k->ctrl, id, commit) : lw_release(k->ctrl, id, commit);
	if (ret == -EPERM)
		return ret;
	atomic_store(&k->held_fast, false);
	atomic_store(&k->staged, false);
	if (ret == LW_HANDOVER)	/* WAITERS is set: the driver hands over */
		return dev_ioctl(k, KSHM_IOC_UNLOCK, &req) ? -errno : 0;
	if (commit && lw_wake_needed(k->ctrl))
		dev_ioctl(k, KSHM_IOC_WAKE, NULL);
	return 0;
}

struct spin_call {
	struct kshm *k;
	int64_t epoch;
};

/* lw_spin_while_held_or()'s stop: a kshm_cancel() (or kshm_close()) moved the epoch on. */
static bool spin_cancelled(void *arg)
{
	struct spin_call *s = arg;

	return atomic_load(&s->k->epoch) != s->epoch;
}

/*
 * A contended lock call's spin (lw_spin_while_held_or), bounded by the
 * call's @deadline (0: none) and ended by a cancel; counted in in_lock, as
 * the wait, so that kshm_cancel() returns only once it ended. True when the
 * word was seen free and the call was not cancelled.
 */
static bool spin_for_lock(struct kshm *k, int64_t epoch, long long deadline)
{
	struct spin_call s = { .k = k, .epoch = epoch };
	long long budget = KSHM_SPIN_NS, waiters_budget = KSHM_SPIN_WAITERS_NS;
	bool free = false;

	if (deadline) {
		long long left = deadline - now_ns();

		if (left <= 0)
			return false;
		if (budget > left)
			budget = left;
		if (waiters_budget > left)
			waiters_budget = left;
	}
	atomic_fetch_add(&k->in_lock, 1);
	/* Pairs with kshm_cancel: it bumps epoch, then waits while in_lock > 0. */
	if (!spin_cancelled(&s))
		free = lw_spin_while_held_or(k->ctrl, budget, waiters_budget, spin_cancelled, &s);
	atomic_fetch_sub(&k->in_lock, 1);
	return free;
}

static int do_lock(struct kshm *k, int64_t epoch, uint32_t timeout_ms, uint32_t flags,
		   uint32_t *result, bool spin)
{
	struct kshm_lock_req req = { .timeout_ms = timeout_ms, .flags = flags };
	long long deadline = 0;
	int ret = 0;

	if (!k->writable)
		return -EBADF;
	if (flags & ~(KSHM_LOCK_TRY | KSHM_LOCK_STAGED))
		return -EINVAL;
	/* Cancelled before it started (kshm_lock_epoch): not even a free lock is taken. */
	if (!(flags & KSHM_LOCK_TRY) && atomic_load(&k->epoch) != epoch)
		return -ECANCELED;
	/* Only a call that may wait needs its deadline (the spin's too): keep trylock cheap. */
	if (timeout_ms && !(flags & KSHM_LOCK_TRY))
		deadline = now_ns() + (long long)timeout_ms * 1000000;
	if (k->fast) {
		ret = fast_acquire(k, flags & KSHM_LOCK_STAGED);
		/* Held: spin through a short hold (or a draining queue) rather than queue. */
		if (ret == -EBUSY && spin && !(flags & KSHM_LOCK_TRY) &&
		    spin_for_lock(k, epoch, deadline)) {
			/* A kshm_cancel() during the spin wins over the lock. */
			if (atomic_load(&k->epoch) != epoch)
				return -ECANCELED;
			ret = fast_acquire(k, flags & KSHM_LOCK_STAGED);
		}
		if (ret >= 0) {
			atomic_store(&k->staged, (flags & KSHM_LOCK_STAGED) != 0);
			if (result)
				*result = (uint32_t)ret;
			return 0;
		}
		if (ret == -EDEADLK || (ret == -EBUSY && (flags & KSHM_LOCK_TRY)))
			return ret;
	}
	if (flags & KSHM_LOCK_TRY) {
		/* Never sleeps, so nothing to cancel: skip the accounting. */
		if (dev_ioctl(k, KSHM_IOC_LOCK, &req))
			return -errno;
		atomic_store(&k->staged, (flags & KSHM_LOCK_STAGED) != 0);
		if (result)
			*result = req.result;
		return 0;
	}
	atomic_fetch_add(&k->in_lock, 1);
	/* Pairs with kshm_cancel: it bumps epoch, then kicks while in_lock > 0. */
	while (atomic_load(&k->epoch) == epoch) {
		/* The time the spin took (or a signal's wait) is gone from the timeout. */
		if (deadline) {
			long long left = deadline - now_ns();

			if (left <= 0) {
				ret = -ETIMEDOUT;
				goto out;
			}
			req.timeout_ms = (uint32_t)((left + 999999) / 1000000);
		}
		if (dev_ioctl(k, KSHM_IOC_LOCK, &req) == 0) {
			ret = 0;
			atomic_store(&k->staged, (flags & KSHM_LOCK_STAGED) != 0);
			if (result)
				*result = req.result;
			goto out;
		}
		ret = -errno;
		if (ret != -EINTR)	/* a signal, not a cancel: wait again for what is left */
			goto out;
	}
	ret = -ECANCELED;
out:
	atomic_fetch_sub(&k->in_lock, 1);
	return ret;
}

/* do_lock() on the handle's device, counted as a call in flight. */
static int lock_epoch(kshm_handle h, int64_t epoch, uint32_t timeout_ms, uint32_t flags,
		      uint32_t *result, bool spin)
{
	struct kshm *k = get(h);
	int ret;

	if (!k)
		return -EBADF;
	ret = do_lock(k, epoch, timeout_ms, flags, result, spin);
	put(k);
	return ret;
}

int kshm_lock_epoch(kshm_handle h, int64_t epoch, uint32_t timeout_ms, uint32_t flags,
		    uint32_t *result)
{
	return lock_epoch(h, epoch, timeout_ms, flags, result, true);
}

int kshm_lock_epoch_nospin(kshm_handle h, int64_t epoch, uint32_t timeout_ms, uint32_t flags,
			   uint32_t *result)
{
	return lock_epoch(h, epoch, timeout_ms, flags, result, false);
}

int kshm_lock(kshm_handle h, uint32_t timeout_ms, uint32_t flags, uint32_t *result)
{
	struct kshm *k = get(h);
	int ret;

	if (!k)
		return -EBADF;
	ret = do_lock(k, atomic_load(&k->epoch), timeout_ms, flags, result, true);
	put(k);
	return ret;
}

int kshm_trylock(kshm_handle h)
{
	uint32_t result = 0;
	int ret = kshm_lock(h, 0, KSHM_LOCK_TRY, &result);

	return ret ? ret : (int)(result & KSHM_LOCK_OWNER_DIED);
}

/*
 * A staged hold's commit: check every write, open the write section, copy,
 * new generation, close it, then release the way the lock was taken.
 */
static int publish(struct kshm *k, const struct kshm_write *writes, uint32_t count)
{
	struct kshm_unlock_req req = { .flags = KSHM_UNLOCK_COMMIT | KSHM_UNLOCK_PUBLISHED };
	uint32_t id = lock_id(k);
	uint32_t i;

	if (!writes && count)
		return -EINVAL;
	for (i = 0; i < count; i++) {
		if (writes[i].offset > k->data_size || writes[i].len > k->data_size - writes[i].offset ||
		    (writes[i].len && !writes[i].src))
			return -EINVAL;
	}
	/* The word names the holder on both paths: a lock taken back is not ours to write. */
	if (!id || (__atomic_load_n(&k->ctrl->lock, __ATOMIC_RELAXED) & KSHM_LW_OWNER_MASK) != id)
		return -EPERM;
	lw_publish_begin(k->ctrl);
	for (i = 0; i < count; i++)
		memcpy(k->data + writes[i].offset, writes[i].src, writes[i].len);
	lw_publish_end(k->ctrl);
	if (atomic_load(&k->held_fast))
		return fast_release(k, KSHM_UNLOCK_COMMIT, true);
	atomic_store(&k->staged, false);
	return dev_ioctl(k, KSHM_IOC_UNLOCK, &req) ? -errno : 0;
}

int kshm_publish(kshm_handle h, const struct kshm_write *writes, uint32_t count)
{
	struct kshm *k = get(h);
	int ret;

	if (!k)
		return -EBADF;
	if (!k->writable)
		ret = -EBADF;
	else if (!atomic_load(&k->staged))
		ret = -EINVAL;
	else
		ret = publish(k, writes, count);
	put(k);
	return ret;
}

int kshm_unlock(kshm_handle h, uint32_t flags)
{
	struct kshm *k = get(h);
	struct kshm_unlock_req req = { .flags = flags };
	bool staged;
	int ret = 0;

	if (!k)
		return -EBADF;
	staged = atomic_load(&k->staged) && !(flags & KSHM_UNLOCK_PUBLISHED);
	if (!k->writable)
		ret = -EBADF;
	else if ((flags & ~KSHM_UNLOCK_PUBLISHED) != KSHM_UNLOCK_COMMIT &&
		 (flags & ~KSHM_UNLOCK_PUBLISHED) != KSHM_UNLOCK_ABORT)
		ret = -EINVAL;	/* the driver's own rule, checked before anything moves */
	else if (staged && (flags & KSHM_UNLOCK_COMMIT))
		ret = publish(k, NULL, 0);	/* a staged commit of nothing: a new generation */
	else if (atomic_load(&k->held_fast) && !(flags & KSHM_UNLOCK_PUBLISHED))
		ret = fast_release(k, flags, staged);	/* a staged abort touches neither seq nor generation */
	else if (dev_ioctl(k, KSHM_IOC_UNLOCK, &req))
		ret = -errno;
	else
		atomic_store(&k->staged, false);
	put(k);
	return ret;
}

/* One ioctl on @h's device. Return: 0 or -errno (-EBADF: a bad handle). */
static int handle_ioctl(kshm_handle h, unsigned long cmd, void *arg)
{
	struct kshm *k = get(h);
	int ret = 0;

	if (!k)
		return -EBADF;
	if (dev_ioctl(k, cmd, arg))
		ret = -errno;
	put(k);
	return ret;
}

int kshm_wake(kshm_handle h)
{
	return handle_ioctl(h, KSHM_IOC_WAKE, NULL);
}

int kshm_cancel(kshm_handle h)
{
	struct kshm *k = get(h);
	long long deadline = now_ns() + CANCEL_WAIT_NS;
	int ret = 0;

	if (!k)
		return -EBADF;
	atomic_fetch_add(&k->epoch, 1);
	wake_reader(k);
	while (atomic_load(&k->in_lock) > 0) {
		if (now_ns() > deadline) {
			ret = -ETIMEDOUT;
			break;
		}
		dev_ioctl(k, KSHM_IOC_CANCEL, NULL);
		nap_us(50);
	}
	put(k);
	return ret;
}

static int seq_copy(struct kshm *k, void *dst, uint64_t offset, uint64_t len,
		    uint64_t *generation, uint32_t max_wait_us)
{
	const uint32_t *seq = &k->ctrl->seq;
	long long deadline = 0;

	for (unsigned int tries = 0;; tries++) {
		uint32_t s1 = __atomic_load_n(seq, __ATOMIC_ACQUIRE);

		if (!(s1 & 1)) {
			uint64_t g;

			memcpy(dst, k->data + offset, len);
			g = __atomic_load_n(&k->ctrl->generation, __ATOMIC_RELAXED);
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			if (__atomic_load_n(seq, __ATOMIC_RELAXED) == s1) {
				if (generation)
					*generation = g;
				return 0;
			}
		}
		if (tries < 64)
			continue;
		if (!deadline)
			deadline = now_ns() + (long long)max_wait_us * 1000;
		if (now_ns() >= deadline)
			return -EAGAIN;
		sched_yield();
	}
}

int kshm_snapshot(kshm_handle h, void *dst, uint64_t offset, uint64_t len,
		  uint64_t *generation)
{
	return kshm_snapshot_wait(h, dst, offset, len, generation, KSHM_SNAPSHOT_WAIT_US);
}

int kshm_snapshot_wait(kshm_handle h, void *dst, uint64_t offset, uint64_t len,
		       uint64_t *generation, uint32_t max_wait_us)
{
	struct kshm *k = get(h);
	int ret;

	if (!k)
		return -EBADF;
	if (offset > k->data_size || len > k->data_size - offset || (len && !dst))
		ret = -EINVAL;
	else
		ret = seq_copy(k, dst, offset, len, generation, max_wait_us);
	put(k);
	return ret;
}

uint64_t kshm_generation(kshm_handle h)
{
	struct kshm *k = get(h);
	uint64_t g;

	if (!k)
		return 0;
	g = __atomic_load_n(&k->ctrl->generation, __ATOMIC_ACQUIRE);
	put(k);
	return g;
}

int kshm_consume(kshm_handle h, uint64_t *generation)
{
	struct kshm *k = get(h);
	uint64_t g;
	int ret;

	if (!k)
		return -EBADF;
	if (dev_read(k, &g, sizeof(g)) == (ssize_t)sizeof(g)) {
		if (generation)
			*generation = g;
		ret = 1;
	} else {
		ret = errno == EAGAIN ? 0 : -errno;
	}
	put(k);
	return ret;
}

int kshm_info(kshm_handle h, struct kshm_info *info)
{
	return handle_ioctl(h, KSHM_IOC_INFO, info);
}

int kshm_kwrite(kshm_handle h, uint64_t offset, const void *src, uint32_t len,
		uint32_t timeout_ms, uint64_t *generation)
{
	struct kshm_kwrite_req req = {
		.offset = offset, .data = (uintptr_t)src, .len = len, .timeout_ms = timeout_ms,
	};
	struct kshm *k = get(h);
	int ret = 0;

	if (!k)
		return -EBADF;
	/* Counted, so that kshm_close() cancels it while it waits for the lock. */
	atomic_fetch_add(&k->in_kwrite, 1);
	if (dev_ioctl(k, KSHM_IOC_KWRITE, &req))
		ret = -errno;
	atomic_fetch_sub(&k->in_kwrite, 1);
	put(k);
	if (!ret && generation)
		*generation = req.generation;
	return ret;
}

int kshm_layout(kshm_handle h, struct kshm_layout *layout)
{
	struct kshm *k = get(h);

	if (!k)
		return -EBADF;
	*layout = (struct kshm_layout) {
		.header = k->hdr, .data = k->data, .data_size = k->data_size, .ctrl = k->ctrl,
		.file_id = k->writable ? lock_id(k) : 0,
#ifdef KSHM_STANDIN
		.fd = standin_poll_fd(k),
#else
		.fd = k->fd,
#endif
	};
	put(k);
	return 0;
}

/* ---- events ------------------------------------------------------------ */

/* KSHM_IOC_EVENTS: store the position for poll(); Return: head, or -errno. */
static int64_t store_pos(struct kshm *k)
{
	struct kshm_events_req req = { .pos = k->ev_pos, .flags = KSHM_EVENTS_POLLIN };

	if (dev_ioctl(k, KSHM_IOC_EVENTS, &req))
		return -errno;
	k->ev_stored = k->ev_pos;
	return (int64_t)req.head;
}

/*
 * Caught up: the driver must know our position before we report "nothing
 * more" (poll() compares it with head). One ioctl per batch; none when it
 * already has this position (then head comes from the mapping: poll()
 * itself orders its check of head against the producers' wake-up).
 * Return: head, or -errno.
 */
static int64_t caught_up(struct kshm *k)
{
	if (k->ev_stored == k->ev_pos)
		return (int64_t)__atomic_load_n(&k->ring->head, __ATOMIC_ACQUIRE);
	return store_pos(k);
}

int kshm_events_start(kshm_handle h, uint32_t from)
{
	struct kshm *k = get(h);
	uint64_t head, n;
	int64_t ret;
	int fd;

	if (!k)
		return -EBADF;
	if (from > KSHM_EVENTS_FROM_OLDEST) {
		put(k);
		return -EINVAL;
	}
	if (!k->ring) {
		put(k);
		return -ENOSPC;
	}
	if (__atomic_load_n(&k->ev_cancel_fd, __ATOMIC_ACQUIRE) < 0) {
		fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fd < 0) {
			ret = -errno;
			put(k);
			return (int)ret;
		}
		__atomic_store_n(&k->ev_cancel_fd, fd, __ATOMIC_RELEASE);
	}
	head = __atomic_load_n(&k->ring->head, __ATOMIC_ACQUIRE);
	n = k->ring->records;
	k->ev_pos = from == KSHM_EVENTS_FROM_OLDEST ? (head > n ? head - n : 0) : head;
	k->ev_lost = 0;
	k->ev_started = true;
	ret = store_pos(k);
	put(k);
	return ret < 0 ? (int)ret : 0;
}

/*
 * Where an overrun reader resumes: the oldest record held is the next one
 * the producer overwrites, so a reader that resumed exactly there would race
 * the producer and likely lose again at its next pause. It skips a further
 * sixteenth of the ring (counted in lost_before like the rest: the loss is
 * still exact, and the reader is clear by records/16 publications).
 * Requires head > records.
 */
static uint64_t resume_at(uint64_t head, uint64_t records)
{
	return head - records + records / 16;
}

/* Copy the next record into @out, or account for what was lost. 1, or 0: none yet. */
static int read_one(struct kshm *k, struct kshm_event_rec *out)
{
	uint64_t n = k->ring->records, head, pos, skip;
	const struct kshm_event *ev;

	for (;;) {
		pos = k->ev_pos;
		head = __atomic_load_n(&k->ring->head, __ATOMIC_ACQUIRE);
		if (pos >= head)
			return 0;
		if (head - pos > n) {
			/* Overrun: resume clear of the producer (see resume_at()). */
			skip = resume_at(head, n) - pos;
			k->ev_lost += skip;
			k->ev_pos = pos = pos + skip;
		}
		ev = (const struct kshm_event *)(k->slots + (pos & (n - 1)) * sizeof(*ev));
		if (__atomic_load_n(&ev->seq, __ATOMIC_ACQUIRE) == pos) {
			out->time_ns = ev->time_ns;
			out->type = ev->type;
			out->len = ev->len;
			out->flags = ev->flags;
			memcpy(out->data, ev->data, sizeof(out->data));
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			if (__atomic_load_n(&ev->seq, __ATOMIC_RELAXED) == pos &&
			    out->len <= KSHM_EV_MAX_DATA) {
				out->seq = pos;
				out->lost_before = k->ev_lost;
				k->ev_lost = 0;
				k->ev_pos = pos + 1;
				return 1;
			}
		}
		/* Overwritten before or while it was copied. */
		head = __atomic_load_n(&k->ring->head, __ATOMIC_ACQUIRE);
		skip = (head > n && resume_at(head, n) > pos + 1 ? resume_at(head, n) : pos + 1) - pos;
		k->ev_lost += skip;
		k->ev_pos = pos + skip;
	}
}

int kshm_events_next(kshm_handle h, struct kshm_event_rec *recs, uint32_t max,
		     int32_t timeout_ms)
{
	struct kshm *k = get(h);
	long long deadline = timeout_ms > 0 ? now_ns() + timeout_ms * 1000000LL : 0;
	int64_t epoch, head;
	uint32_t got = 0;
	int ret = 0;

	if (!k)
		return -EBADF;
	if (!k->ring || !k->ev_started) {
		put(k);
		return k->ring ? -EINVAL : -ENOSPC;
	}
	if (!recs || !max) {
		put(k);
		return -EINVAL;
	}
	epoch = atomic_load(&k->epoch);
	for (;;) {
		while (got < max && read_one(k, &recs[got]))
			got++;
		if (got == max) {
			ret = (int)got;
			break;
		}
		/*
		 * Caught up: tell the driver where we are (so poll() waits for the
		 * next record, and a caller that polls the fd itself needs no
		 * second call), then read what came meanwhile.
		 */
		head = caught_up(k);
		if (head < 0) {
			/* The records read are delivered; the next call reports it. */
			ret = got ? (int)got : (int)head;
			break;
		}
		if ((uint64_t)head > k->ev_pos)
			continue;
		if (got) {
			ret = (int)got;
			break;
		}
		if (!timeout_ms)
			break;
		{
			struct pollfd p[2] = {
				{ .fd = k->fd, .events = POLLPRI },
				{ .fd = k->ev_cancel_fd, .events = POLLIN },
			};
			uint64_t drain;
			int wait_ms = -1;

			if (read(k->ev_cancel_fd, &drain, sizeof(drain)) < 0 && errno != EAGAIN) {
				ret = -errno;
				break;
			}
			if (atomic_load(&k->epoch) != epoch) {
				ret = -ECANCELED;
				break;
			}
			if (deadline) {
				long long left = deadline - now_ns();

				if (left <= 0)
					break;
				wait_ms = (int)((left + 999999) / 1000000);
			}
			if (poll(p, 2, wait_ms) < 0 && errno != EINTR) {
				ret = -errno;
				break;
			}
			/* The region was destroyed: EVENTS says so (ENODEV). */
			if (p[0].revents & (POLLERR | POLLHUP)) {
				head = store_pos(k);
				if (head < 0) {
					ret = (int)head;
					break;
				}
			}
			if (atomic_load(&k->epoch) != epoch) {
				ret = -ECANCELED;
				break;
			}
		}
	}
	put(k);
	return ret;
}

int kshm_emit(kshm_handle h, uint32_t type, const void *data, uint32_t len, uint64_t *seq)
{
	struct kshm_emit_req req = { .type = type, .len = len, .data = (uintptr_t)data };
	int ret = handle_ioctl(h, KSHM_IOC_EMIT, &req);

	if (!ret && seq)
		*seq = req.seq;
	return ret;
}

int kshm_events_ring(kshm_handle h, const struct kshm_ring_hdr **ring, uint64_t *size)
{
	struct kshm *k = get(h);

	if (!k)
		return -EBADF;
	*ring = k->ring;
	*size = k->ring_size;
	put(k);
	return k->ring ? 0 : -ENOSPC;
}

const char *kshm_last_error(void)
{
	return last_error;
}

const char *kshm_strerror(int err)
{
	const char *s;

	if (err < 0)
		err = -err;
	switch (err) {
	case 0:
		return "success";
	case KSHM_E_ABI:
		return "kshm driver and libkshm ABI versions differ";
	case KSHM_E_MAGIC:
		return "not a kshm device";
	case KSHM_E_TOO_MANY:
		return "too many open kshm handles";
	}
	s = strerrordesc_np(err);
	return s ? s : "unknown error";
}
