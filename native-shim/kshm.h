/* SPDX-License-Identifier: MIT */
/*
 * libkshm: a thin C library over /dev/kshm (see driver/include/uapi/kshm.h).
 * It is what the TypeScript layer calls through koffi, and a usable C
 * library in its own right.
 *
 * Conventions
 * - Every function returning int returns 0 (or a count, or the flags its
 *   comment names) on success and a negative errno value on failure;
 *   kshm_strerror() describes both errno values and libkshm's own codes.
 *   Nothing in the library aborts or exits.
 * - Handles are small integers, never pointers: a closed or unknown handle
 *   gives -EBADF, so closing twice, or using a handle after closing it, is
 *   harmless.
 * - Only non-variadic entry points (koffi runs them on worker threads).
 *
 * Thread safety
 * - kshm_open, kshm_close, kshm_cancel, kshm_info, kshm_snapshot(_wait),
 *   kshm_generation, kshm_layout: safe from any thread, on any handle.
 * - kshm_lock and kshm_kwrite block: call them from a worker thread (koffi's
 *   .async). Another thread may kshm_close() or kshm_cancel() the handle
 *   meanwhile; the blocked call then returns -ECANCELED promptly. The
 *   driver's cancel is per open file: a kshm_cancel() made for a lock call
 *   also ends a kshm_kwrite() of the handle waiting at that moment.
 * - kshm_trylock, kshm_unlock, kshm_publish, kshm_wake: any thread; the lock belongs to
 *   the handle (the open file), not to a thread.
 */
#ifndef LIBKSHM_H
#define LIBKSHM_H

#include <stddef.h>
#include <stdint.h>
#include "../driver/include/uapi/kshm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* libkshm's own error codes (negative, beyond errno's range). */
#define KSHM_E_ABI	4096	/* driver ABI version differs from libkshm's */
#define KSHM_E_MAGIC	4097	/* not a kshm device */
#define KSHM_E_TOO_MANY	4098	/* too many open handles */

/* kshm_open flags */
#define KSHM_OPEN_READONLY	(1U << 0)
/* Always lock through the driver's ioctl (the ABI's slow path). */
#define KSHM_OPEN_NO_FASTPATH	(1U << 1)

typedef int32_t kshm_handle;

/**
 * kshm_open() - open a kshm device, check it, map its header and data
 * @path: device path (a region: /dev/kshm/NAME), NULL (or KSHM_DEVICE_PATH)
 *	for the default region: KSHM_DEVICE_PATH, or KSHM_DEFAULT_REGION_ALT
 *	while named regions exist (REGIONS in the uapi header)
 * @flags: 0 to read and write, or KSHM_OPEN_READONLY, and/or
 *	KSHM_OPEN_NO_FASTPATH (every lock and unlock goes to the driver)
 *
 * Return: a handle (> 0) or a negative error: -ENOENT (no device: the module
 * is not loaded), -EACCES (permission), -EINVAL (unknown @flags),
 * -ENODEV (the region was destroyed during the open), -KSHM_E_ABI,
 * -KSHM_E_MAGIC (not a kshm device), -KSHM_E_TOO_MANY, -ENOMEM, or the errno
 * of open or mmap.
 */
kshm_handle kshm_open(const char *path, uint32_t flags);

/**
 * kshm_close() - cancel the handle's blocked calls, then unmap and close
 *
 * Waits (briefly) for calls of this handle running in other threads to
 * return. A lock still held is released by the driver with OWNER_DIED.
 * Return: 0, -EBADF when already closed, or -ETIMEDOUT when a call of the
 * handle did not return within 5 s (the handle is then leaked, never freed
 * under a caller).
 */
int kshm_close(kshm_handle h);

/**
 * kshm_cancel_epoch() - the handle's cancel epoch, for kshm_lock_epoch()
 *
 * A lock call started with an epoch that kshm_cancel() has since moved on
 * returns -ECANCELED without blocking, even if it had not started yet when
 * kshm_cancel() ran (a call queued on a worker pool, for instance).
 * Return: the epoch (>= 0) or -EBADF.
 */
int64_t kshm_cancel_epoch(kshm_handle h);

/**
 * kshm_lock() - take the lock, blocking up to @timeout_ms (0: no limit)
 *
 * A free lock is taken with a compare-and-swap on the control page (no
 * syscall) unless the handle was opened with KSHM_OPEN_NO_FASTPATH; a taken
 * one is first spun on for up to 20 us while nobody is queued (a hold is
 * short; a queued wait costs a sleep and a wake-up), or up to 100 us for the
 * queue to drain while others are queued (joining them would keep every
 * release a hand-off; the word is free only once the queue is empty, so the
 * spinner never passes a waiter), then waited for in the driver's FIFO queue.
 * @timeout_ms counts from the call: the spin never outlasts it, and the
 * queued wait gets only what is left. A kshm_cancel() ends the spin as it
 * ends the wait. A signal does not end the wait: it resumes with the time left.
 * @flags: KSHM_LOCK_TRY to fail with -EBUSY instead of waiting, and/or
 *	KSHM_LOCK_STAGED to hold the lock staged (see kshm_publish()): readers
 *	keep copying the committed data for the whole hold
 * @result: out (may be NULL), KSHM_LOCK_OWNER_DIED when the previous holder
 *	died
 *
 * Return: 0, -ETIMEDOUT, -ECANCELED, -EBUSY (KSHM_LOCK_TRY), -EDEADLK (this
 * handle holds it), -EBADF (closed, or opened read-only), -EINVAL (@flags),
 * -ENODEV (the region was destroyed: close the handle).
 */
int kshm_lock(kshm_handle h, uint32_t timeout_ms, uint32_t flags, uint32_t *result);

/* kshm_lock(), cancelled by any kshm_cancel() after @epoch was read. */
int kshm_lock_epoch(kshm_handle h, int64_t epoch, uint32_t timeout_ms, uint32_t flags,
		    uint32_t *result);

/*
 * kshm_lock_epoch() without the spin: a lock found taken is waited for in
 * the driver's queue at once, not spun on first. For a caller that spun on
 * the lock word already before it handed the wait to this thread (the
 * TypeScript layer: its main thread spins, then a pool thread blocks here):
 * a second spin would only delay the queued wait. libkshm's own choice, not
 * a flag of the ABI's LOCK.
 */
int kshm_lock_epoch_nospin(kshm_handle h, int64_t epoch, uint32_t timeout_ms, uint32_t flags,
			   uint32_t *result);

/*
 * kshm_trylock() - kshm_lock() with KSHM_LOCK_TRY: never blocks
 *
 * Return: KSHM_LOCK_OWNER_DIED or 0 when granted (the result in the return
 * value: no out parameter), else a negative error as kshm_lock().
 * The one try-lock entry point; a staged try is
 * kshm_lock(h, 0, KSHM_LOCK_TRY | KSHM_LOCK_STAGED, &result).
 */
int kshm_trylock(kshm_handle h);

/**
 * kshm_unlock() - release the lock
 * @flags: KSHM_UNLOCK_COMMIT (new generation, pollers wake) or
 *	KSHM_UNLOCK_ABORT. A lock taken on the fast path is released there (no
 *	syscall unless someone waits or polls). With KSHM_UNLOCK_PUBLISHED the
 *	call goes to the driver as it is: for callers that ran the fast path
 *	themselves on kshm_layout()'s ctrl (the TypeScript layer does).
 * Return: 0, -EPERM (not the holder: nothing changed), -EINVAL (@flags not
 * exactly one of COMMIT and ABORT, optionally with PUBLISHED), -EBADF
 * (closed, or opened read-only), -ENODEV (the region was destroyed).
 */
int kshm_unlock(kshm_handle h, uint32_t flags);

/* One write of a staged commit: @len bytes from @src to data offset @offset. */
struct kshm_write {
	uint64_t offset;
	const void *src;
	uint64_t len;
};

/**
 * kshm_publish() - commit a staged hold (the uapi header's STAGING)
 * @writes: what changed, @count entries (NULL when @count is 0)
 *
 * For a lock taken with kshm_lock(..., KSHM_LOCK_STAGED, ...): the caller
 * wrote nothing to the data while it held the lock (it wrote into its own
 * buffer); readers kept copying the committed state. kshm_publish() makes
 * seq odd, copies the @writes (in order) into the data, advances the
 * generation, makes seq even, and releases the lock as a commit, on the
 * path it was taken (waking pollers): readers see all of it or none of it.
 * Every write is checked first. To abort a staged hold, call
 * kshm_unlock(h, KSHM_UNLOCK_ABORT): the data, seq and the generation stay
 * as they are. kshm_unlock(h, KSHM_UNLOCK_COMMIT) on a staged hold is
 * kshm_publish(h, NULL, 0).
 *
 * Return: 0, -EINVAL (no staged hold, or a write out of range or with a
 * NULL @src: nothing written, the lock still held), -EPERM (the lock is no
 * longer this handle's: nothing written), -EBADF, or the errno of UNLOCK.
 */
int kshm_publish(kshm_handle h, const struct kshm_write *writes, uint32_t count);

/* KSHM_IOC_WAKE: wake pollers after a fast-path commit. Return: 0 or -errno. */
int kshm_wake(kshm_handle h);

/**
 * kshm_cancel() - make the handle's blocked kshm_lock calls return -ECANCELED
 *
 * Callable from any thread; returns once no lock call of the handle is
 * blocked any more, spinning or queued (bounded: -ETIMEDOUT after about 2 s).
 * The driver's cancel is per open file: a kshm_kwrite() of the handle
 * waiting for the lock meanwhile returns -ECANCELED too.
 */
int kshm_cancel(kshm_handle h);

/* How long kshm_snapshot() waits for a writer to leave, in microseconds. */
#define KSHM_SNAPSHOT_WAIT_US	2000

/**
 * kshm_snapshot() - seqcount-consistent copy of data bytes
 * @dst: @len bytes
 * @offset: data offset
 * @generation: out (may be NULL), the generation the copy belongs to
 *
 * Never returns a torn copy: while a writer holds the write section it
 * retries, for up to KSHM_SNAPSHOT_WAIT_US. Return: 0, -EAGAIN (a writer
 * stayed in longer), -EINVAL (range), -EBADF.
 */
int kshm_snapshot(kshm_handle h, void *dst, uint64_t offset, uint64_t len,
		  uint64_t *generation);

/*
 * kshm_snapshot() with its own bound: @max_wait_us (0: a few retries, no
 * wait; what a caller on an event loop wants).
 */
int kshm_snapshot_wait(kshm_handle h, void *dst, uint64_t offset, uint64_t len,
		       uint64_t *generation, uint32_t max_wait_us);

/* The generation in the control page (no syscall); 0 for a bad handle. */
uint64_t kshm_generation(kshm_handle h);

/*
 * Mark the current generation seen, so the fd polls readable only after
 * the next commit. Return: 1 when a new generation was seen, 0 when there
 * was none, or a negative error. Never blocks.
 */
int kshm_consume(kshm_handle h, uint64_t *generation);

/* The driver's INFO figures. Return: 0 or -errno. */
int kshm_info(kshm_handle h, struct kshm_info *info);

/*
 * Ask the kernel to write @len bytes at @offset under the lock and commit.
 * @generation: out (may be NULL), the generation of this commit.
 * Blocks while it waits for the lock: a kshm_close() of the handle from
 * another thread ends that wait (-ECANCELED) and the kernel does not write
 * (a KWRITE already granted completes: its write is committed).
 * Return: 0, -EINVAL (range), -ETIMEDOUT, -EDEADLK (this handle holds the
 * lock), -ECANCELED, -EBADF, or another errno of KSHM_IOC_KWRITE.
 */
int kshm_kwrite(kshm_handle h, uint64_t offset, const void *src, uint32_t len,
		uint32_t timeout_ms, uint64_t *generation);

/*
 * EVENTS (the ring, see EVENTS in the uapi header)
 *
 * A handle reads its device's ring through a reader of its own: one per
 * handle (its open file), used by one thread at a time. Open one handle per
 * independent reader (KSHM_OPEN_READONLY is enough to read).
 */
#define KSHM_EVENTS_FROM_NOW	0	/* the next record published */
#define KSHM_EVENTS_FROM_OLDEST	1	/* the oldest record the ring still holds */

/* One record as kshm_events_next() delivers it. */
struct kshm_event_rec {
	uint64_t seq;			/* contiguous per ring */
	uint64_t time_ns;		/* CLOCK_MONOTONIC when published */
	uint64_t lost_before;		/* records overwritten before this reader saw them */
	uint32_t type;
	uint16_t len;			/* bytes in data */
	uint16_t flags;			/* KSHM_EV_USER: emitted by a user */
	uint8_t data[KSHM_EV_MAX_DATA];
};

/**
 * kshm_events_start() - (re)start the handle's reader
 * @from: KSHM_EVENTS_FROM_NOW or KSHM_EVENTS_FROM_OLDEST
 *
 * Also makes the handle's fd (kshm_layout) poll readable when records wait
 * (KSHM_EVENTS_POLLIN): it then no longer reports commits.
 * Return: 0, -ENOSPC (the device has no ring), -EINVAL (@from), -EBADF.
 */
int kshm_events_start(kshm_handle h, uint32_t from);

/**
 * kshm_events_next() - the next records, in seq order
 * @recs: room for @max records
 * @timeout_ms: 0 to return at once, -1 to wait without a limit, else how
 *	long to wait for a first record
 *
 * Reads the ring without a syscall; when it is caught up (fewer than @max
 * records returned) it has told the driver its position (one ioctl, none
 * if the driver had it already), so the fd polls readable exactly when
 * records wait; with a timeout it then sleeps in poll() for the next.
 * lost_before counts records overwritten before this reader could read
 * them, exactly (0 normally).
 * Return: the number of records (0: none in time), -ECANCELED (kshm_cancel
 * or kshm_close from another thread), -ENOSPC (no ring), -EINVAL (not
 * started, no room), -EBADF, -ENODEV (the region was destroyed: once every
 * record published before is returned; a wait ends at once).
 */
int kshm_events_next(kshm_handle h, struct kshm_event_rec *recs, uint32_t max,
		     int32_t timeout_ms);

/**
 * kshm_emit() - publish a record (KSHM_IOC_EMIT)
 * @seq: out (may be NULL), the record's seq
 *
 * Return: 0, -ENOSPC (no ring), -EMSGSIZE (@len > KSHM_EV_MAX_DATA),
 * -EFAULT, -EBADF (closed, or opened read-only).
 */
int kshm_emit(kshm_handle h, uint32_t type, const void *data, uint32_t len, uint64_t *seq);

/* The mapped ring (read-only) and its size. Return: 0, -ENOSPC (none), -EBADF. */
int kshm_events_ring(kshm_handle h, const struct kshm_ring_hdr **ring, uint64_t *size);

/* Where a handle's mappings are, valid until kshm_close(). */
struct kshm_layout {
	const struct kshm_header *header;	/* read-only */
	void *data;			/* writable unless opened read-only */
	uint64_t data_size;
	struct kshm_ctrl *ctrl;		/* lock word, seqcount, generation; read-only if opened so */
	uint32_t file_id;		/* the calling process's id in the lock word (INFO's
					 * file_id): a forked child gets its own, as the
					 * driver requires; 0 when opened read-only */
	int32_t fd;			/* for poll/epoll: readable when a commit happened */
};

/* Fill @layout for @h. Return: 0 or -EBADF. */
int kshm_layout(kshm_handle h, struct kshm_layout *layout);

/*
 * Details of the last kshm_open() failure in this thread (for instance both
 * ABI versions on a mismatch); "" when there are none.
 */
const char *kshm_last_error(void);

/* A message for a (negative or positive) errno or libkshm code. */
const char *kshm_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* LIBKSHM_H */
