// SPDX-License-Identifier: GPL-2.0
/*
 * The kshm lock: a futex-like lock word with a FIFO hand-off slow path and
 * robust (owner-died) semantics.
 *
 * The word (ctrl->lock, in a page every writer maps) says who holds the lock.
 * Users take and release a free lock there with a compare-and-swap and no
 * syscall. Everything else is the kernel's: the queue of KSHM_IOC_LOCK
 * waiters, the hand-off to the longest waiter, and recovery when a holder
 * dies. While anyone waits, the word carries KSHM_LW_WAITERS, so a fast
 * acquirer's CAS (which expects exactly 0) fails and it queues too: nobody
 * barges past a waiter, and an unlocker's CAS fails and it calls the kernel
 * to hand over.
 *
 * Why not a struct mutex: a mutex lets a newcomer barge past sleepers, it
 * belongs to a task rather than to an open file, and it cannot be released
 * on behalf of a dead owner.
 *
 * The word is user-writable, so it is untrusted input. Every CAS loop here is
 * bounded; a hand-off (the kernel is the authority then) is a plain exchange;
 * an id in the word is only ever looked up, never used as an address. A
 * forged word can at worst look like a holder that never releases, or hide
 * the WAITERS bit so an unlocker does not call us: waiters therefore recheck
 * the word every KSHM_RECHECK_MS and take a lock left free.
 *
 * The seqcount that readers use is made odd by the grantee itself once it
 * runs, not by the unlocker at hand-off time: between the two nobody can
 * write, and readers get a window to take a snapshot even while the lock is
 * passed around under heavy contention.
 */
#include <linux/jiffies.h>
#include <linux/ktime.h>
#include <linux/minmax.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include "kshm_internal.h"

#define KSHM_CAS_TRIES		16
#define KSHM_RECHECK_MS		50

struct kshm_waiter {
	struct list_head node;
	struct task_struct *task;
	struct kshm_file *file;	/* NULL: the kernel */
	u32 id;			/* file->id or KSHM_LW_KERNEL */
	pid_t tgid;
	bool granted;		/* written under r->lock by the granter */
	bool cancelled;		/* written under r->lock by a canceller */
	u32 result;		/* KSHM_LOCK_OWNER_DIED, valid once granted */
};

long kshm_timeout_jiffies(u32 timeout_ms)
{
	return timeout_ms ? (long)msecs_to_jiffies(timeout_ms) : MAX_SCHEDULE_TIMEOUT;
}

static u32 kshm_id(struct kshm_file *f)
{
	return f ? f->id : KSHM_LW_KERNEL;
}

static u32 kshm_word(struct kshm_region *r)
{
	return READ_ONCE(r->ctrl->lock);
}

static bool kshm_word_cas(struct kshm_region *r, u32 old, u32 new)
{
	return cmpxchg(&r->ctrl->lock, old, new) == old;
}

/* The process behind a holder id, as far as the kernel knows. r->lock held. */
static pid_t kshm_holder_tgid(struct kshm_region *r, u32 owner)
{
	struct kshm_file *f;

	if (!owner || owner == KSHM_LW_KERNEL)
		return 0;
	f = xa_load(&r->files, owner);
	return f ? READ_ONCE(f->lock_tgid) : 0;
}

static u32 kshm_word_flags(u32 word)
{
	u32 owner = word & KSHM_LW_OWNER_MASK, flags = 0;

	if (owner)
		flags |= KSHM_HDR_LOCKED;
	if (owner == KSHM_LW_KERNEL)
		flags |= KSHM_HDR_KERNEL_HOLDER;
	if (word & KSHM_LW_DIED)
		flags |= KSHM_HDR_OWNER_DIED;
	return flags;
}

/* Mirror the lock state into the read-only header. r->lock held. */
static void kshm_publish(struct kshm_region *r)
{
	u32 word = kshm_word(r);

	WRITE_ONCE(r->hdr->flags, kshm_word_flags(word));
	WRITE_ONCE(r->hdr->holder_pid, kshm_holder_tgid(r, word & KSHM_LW_OWNER_MASK));
	WRITE_ONCE(r->hdr->waiters, r->nr_waiters);
}

/* The holder is about to write: readers retry until kshm_seq_leave(). */
static void kshm_seq_enter(struct kshm_region *r)
{
	u32 seq = READ_ONCE(r->ctrl->seq);

	if (!(seq & 1))
		WRITE_ONCE(r->ctrl->seq, seq + 1);
	smp_wmb();	/* seq odd before any write of the holder */
}

/* Even and changed again (a dead or published holder may have left it so). */
static void kshm_seq_leave(struct kshm_region *r)
{
	u32 seq;

	smp_wmb();	/* the holder's writes before seq turns even */
	seq = READ_ONCE(r->ctrl->seq);
	if (seq & 1)
		WRITE_ONCE(r->ctrl->seq, seq + 1);
}

static void kshm_granted(struct kshm_region *r, struct kshm_waiter *w, bool died)
{
	w->result = died ? KSHM_LOCK_OWNER_DIED : 0;
	if (w->file)
		WRITE_ONCE(w->file->lock_tgid, w->tgid);
	else
		r->kernel_holds = true;
	r->stats.locks_granted++;
}

/*
 * Does @f (NULL: the kernel) hold the lock? For a file, the word says; the
 * kernel trusts only its own record, so that a forged word can never make a
 * kernel holder's unlock fail (the in-kernel API cannot fail there).
 */
static bool kshm_is_holder(struct kshm_region *r, struct kshm_file *f)
{
	if (!f)
		return r->kernel_holds;
	return (kshm_word(r) & KSHM_LW_OWNER_MASK) == f->id;
}

/*
 * Give the lock to the longest waiter, or free it, keeping or setting DIED.
 * r->lock held, and the caller has checked who holds it: during a hand-off
 * the kernel is the authority, so the word is simply replaced.
 */
static void kshm_pass_on(struct kshm_region *r, bool died)
{
	struct kshm_waiter *w;
	u32 next = died ? KSHM_LW_DIED : 0;

	w = list_first_entry_or_null(&r->waiters, struct kshm_waiter, node);
	if (w) {
		list_del_init(&w->node);
		r->nr_waiters--;
		next |= w->id;
		if (!list_empty(&r->waiters))
			next |= KSHM_LW_WAITERS;
		kshm_granted(r, w, died);
	}
	xchg(&r->ctrl->lock, next);
	if (w) {
		/*
		 * The waiter re-takes r->lock before it returns, so w and its
		 * task stay valid until we drop the lock.
		 */
		WRITE_ONCE(w->granted, true);
		wake_up_process(w->task);
	}
	kshm_publish(r);
}

/*
 * Waiters are queued but the word says free: only a forged word or a lost
 * WAITERS bit gets us here. Hand the lock to the head. r->lock held.
 */
static void kshm_repair(struct kshm_region *r)
{
	u32 word = kshm_word(r);

	if (!(word & KSHM_LW_OWNER_MASK) && !list_empty(&r->waiters))
		kshm_pass_on(r, word & KSHM_LW_DIED);
}

/*
 * Take a free lock for @w or make sure the word says someone waits.
 * Returns 0 (granted), -EDEADLK, -EBUSY (@try, or the word kept changing) or
 * -EAGAIN: queue and sleep. r->lock held.
 */
static int kshm_take_or_flag(struct kshm_region *r, struct kshm_waiter *w, bool try)
{
	int i;

	for (i = 0; i < KSHM_CAS_TRIES; i++) {
		u32 word = kshm_word(r);
		u32 owner = word & KSHM_LW_OWNER_MASK;

		/* (A word naming the kernel is only the kernel's if it says so.) */
		if (owner == w->id && (w->file || r->kernel_holds))
			return -EDEADLK;
		if (!owner && list_empty(&r->waiters)) {
			if (kshm_word_cas(r, word, w->id | (word & KSHM_LW_DIED))) {
				kshm_granted(r, w, word & KSHM_LW_DIED);
				return 0;
			}
			continue;
		}
		if (!owner) {
			kshm_repair(r);
			continue;
		}
		if (try)
			return -EBUSY;
		if ((word & KSHM_LW_WAITERS) || kshm_word_cas(r, word, word | KSHM_LW_WAITERS))
			return -EAGAIN;
	}
	/* Somebody keeps rewriting the word: wait, and let the recheck sort it out. */
	return try ? -EBUSY : -EAGAIN;
}

/* The last waiter left without the lock: fast unlockers need not call us. */
static void kshm_clear_waiters(struct kshm_region *r)
{
	int i;

	for (i = 0; i < KSHM_CAS_TRIES && list_empty(&r->waiters); i++) {
		u32 word = kshm_word(r);

		if (!(word & KSHM_LW_WAITERS) ||
		    kshm_word_cas(r, word, word & ~KSHM_LW_WAITERS))
			break;
	}
}

static void kshm_recheck(struct kshm_region *r)
{
	spin_lock(&r->lock);
	kshm_repair(r);
	spin_unlock(&r->lock);
}

/*
 * Sleep until granted, cancelled, signalled or @timeout jiffies have passed,
 * in slices of KSHM_RECHECK_MS. The limit is a deadline, so slicing never
 * shortens it (each nap may end up to a jiffy early).
 */
static int kshm_wait(struct kshm_region *r, struct kshm_waiter *w, long timeout)
{
	const long slice = msecs_to_jiffies(KSHM_RECHECK_MS);
	bool forever = timeout == MAX_SCHEDULE_TIMEOUT;
	unsigned long deadline = jiffies + (forever ? 0 : timeout);
	int ret = 0;

	for (;;) {
		long nap, left;

		if (!forever)
			timeout = time_before(jiffies, deadline) ? (long)(deadline - jiffies) : 0;
		nap = min(timeout, slice);
		set_current_state(TASK_INTERRUPTIBLE);
		if (READ_ONCE(w->granted))
			break;
		if (READ_ONCE(w->cancelled)) {
			ret = -ECANCELED;
			break;
		}
		if (signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		if (!timeout) {
			ret = -ETIMEDOUT;
			break;
		}
		left = schedule_timeout(nap);
		/* A whole slice without a wake-up: was a release missed? */
		if (!left)
			kshm_recheck(r);
	}
	__set_current_state(TASK_RUNNING);
	return ret;
}

/**
 * kshm_region_lock - take the region lock for @f, FIFO after earlier waiters
 * @r: the region
 * @f: the open file, or NULL for the kernel
 * @timeout: jiffies, or MAX_SCHEDULE_TIMEOUT
 * @try: fail with -EBUSY instead of waiting
 * @result: KSHM_LOCK_OWNER_DIED when a previous holder died
 * @generation: the generation at grant time
 *
 * Returns 0, -EDEADLK (@f holds it), -EBUSY, -ETIMEDOUT, -ECANCELED or
 * -EINTR. A grant that races with a timeout, cancel or signal wins: the
 * caller then holds the lock and gets 0.
 */
int kshm_region_lock(struct kshm_region *r, struct kshm_file *f, long timeout,
		     bool try, u32 *result, u64 *generation)
{
	struct kshm_waiter w = {
		.task = current,
		.file = f,
		.id = kshm_id(f),
		.tgid = f ? task_tgid_nr(current) : 0,
	};
	int ret;

	spin_lock(&r->lock);
	ret = kshm_take_or_flag(r, &w, try);
	if (!ret)
		goto granted;
	if (ret != -EAGAIN) {
		spin_unlock(&r->lock);
		return ret;
	}
	list_add_tail(&w.node, &r->waiters);
	r->nr_waiters++;
	r->stats.locks_contended++;
	kshm_publish(r);
	spin_unlock(&r->lock);

	ret = kshm_wait(r, &w, timeout);

	spin_lock(&r->lock);
	if (w.granted)
		goto granted;
	list_del(&w.node);
	r->nr_waiters--;
	kshm_clear_waiters(r);
	if (ret == -ETIMEDOUT)
		r->stats.lock_timeouts++;
	else if (ret == -ECANCELED)
		r->stats.lock_cancels++;
	kshm_publish(r);
	spin_unlock(&r->lock);
	return ret;

granted:
	kshm_seq_enter(r);
	*result = w.result;
	*generation = READ_ONCE(r->ctrl->generation);
	kshm_publish(r);
	spin_unlock(&r->lock);
	return 0;
}

/**
 * kshm_region_unlock - release the lock held by @f
 * @r: the region
 * @f: who unlocks (NULL: the kernel)
 * @flags: KSHM_UNLOCK_COMMIT (advance the generation, wake pollers) or
 *	KSHM_UNLOCK_ABORT, optionally with KSHM_UNLOCK_PUBLISHED: the caller
 *	already advanced the generation and ended the write section itself
 * @generation: the generation after unlocking
 *
 * Returns 0 or -EPERM when @f does not hold the lock (nothing changes).
 */
int kshm_region_unlock(struct kshm_region *r, struct kshm_file *f, u32 flags,
		       u64 *generation)
{
	bool commit = flags & KSHM_UNLOCK_COMMIT;
	u32 word;
	bool died;

	spin_lock(&r->lock);
	if (!kshm_is_holder(r, f)) {
		spin_unlock(&r->lock);
		return -EPERM;
	}
	if (!f)
		r->kernel_holds = false;
	word = kshm_word(r);
	died = word & KSHM_LW_DIED;
	if (commit) {
		if (!(flags & KSHM_UNLOCK_PUBLISHED))
			WRITE_ONCE(r->ctrl->generation, READ_ONCE(r->ctrl->generation) + 1);
		WRITE_ONCE(r->hdr->commit_ns, ktime_get_ns());
		r->stats.commits++;
		/* A user commit after OWNER_DIED is taken as the repair. */
		if (f)
			died = false;
	} else {
		r->stats.aborts++;
	}
	kshm_seq_leave(r);
	*generation = READ_ONCE(r->ctrl->generation);
	kshm_pass_on(r, died);
	spin_unlock(&r->lock);
	if (commit)
		kshm_region_wake(r);
	return 0;
}

/* Wake @f's blocked lockers with -ECANCELED. */
void kshm_region_cancel(struct kshm_region *r, struct kshm_file *f)
{
	struct kshm_waiter *w;

	spin_lock(&r->lock);
	list_for_each_entry(w, &r->waiters, node) {
		if (w->file == f) {
			w->cancelled = true;
			wake_up_process(w->task);
		}
	}
	spin_unlock(&r->lock);
}

/**
 * kshm_region_owner_gone - an open file is being closed (flush or release)
 * @r: the region
 * @f: the closing file
 * @last_close: the last reference is gone (release); otherwise only a close
 *	by the process that opened the file or last took the lock through the
 *	slow path counts (flush: a forked child closing its copy of the
 *	descriptor must not release its parent's lock)
 *
 * Cancels the closing process's blocked lockers and, when the file holds the
 * lock, passes it on with OWNER_DIED: the data may be half-written. On the
 * last close the file's id is retired too, under r->lock, so that nobody
 * looks the file up once it is freed.
 */
void kshm_region_owner_gone(struct kshm_region *r, struct kshm_file *f,
			    bool last_close)
{
	pid_t tgid = task_tgid_nr(current);
	struct kshm_waiter *w;

	spin_lock(&r->lock);
	list_for_each_entry(w, &r->waiters, node) {
		if (w->file == f && (last_close || w->tgid == tgid)) {
			w->cancelled = true;
			wake_up_process(w->task);
		}
	}
	if ((kshm_word(r) & KSHM_LW_OWNER_MASK) == f->id &&
	    (last_close || READ_ONCE(f->lock_tgid) == tgid)) {
		r->stats.owner_died++;
		kshm_seq_leave(r);
		kshm_pass_on(r, true);
	}
	if (last_close)
		xa_erase(&r->files, f->id);
	spin_unlock(&r->lock);
}

bool kshm_region_holds(struct kshm_region *r, struct kshm_file *f)
{
	bool holds;

	spin_lock(&r->lock);
	holds = kshm_is_holder(r, f);
	spin_unlock(&r->lock);
	return holds;
}

u64 kshm_region_generation(struct kshm_region *r)
{
	return READ_ONCE(r->ctrl->generation);
}

/*
 * Has a commit happened since @f last read the generation? Before looking,
 * tell fast-path committers that someone is about to sleep on it: with the
 * committer's "store generation, full barrier, load pollers" this makes sure
 * one of the two sees the other (the caller is already on commit_wq).
 */
bool kshm_region_changed(struct kshm_region *r, struct kshm_file *f)
{
	WRITE_ONCE(r->ctrl->pollers, 1);
	smp_mb();	/* pollers set before the generation is read */
	return kshm_region_generation(r) != READ_ONCE(f->seen_generation);
}

/* Wake everyone waiting for a commit; they set pollers again as they look. */
void kshm_region_wake(struct kshm_region *r)
{
	WRITE_ONCE(r->ctrl->pollers, 0);
	smp_mb();	/* cleared before the sleepers run and set it again */
	wake_up_interruptible_poll(&r->commit_wq, EPOLLIN | EPOLLRDNORM);
}

void kshm_region_info(struct kshm_region *r, struct kshm_file *f,
		      struct kshm_info *info)
{
	u32 word;

	memset(info, 0, sizeof(*info));
	spin_lock(&r->lock);
	word = kshm_word(r);
	info->abi_version = KSHM_ABI_VERSION;
	info->pages = r->nr_pages;
	info->page_size = PAGE_SIZE;
	info->flags = kshm_word_flags(word);
	info->generation = kshm_region_generation(r);
	info->holder_pid = kshm_holder_tgid(r, word & KSHM_LW_OWNER_MASK);
	info->waiters = r->nr_waiters;
	info->locks_granted = r->stats.locks_granted;
	info->locks_contended = r->stats.locks_contended;
	info->lock_timeouts = r->stats.lock_timeouts;
	info->lock_cancels = r->stats.lock_cancels;
	info->owner_died = r->stats.owner_died;
	info->commits = r->stats.commits;
	info->aborts = r->stats.aborts;
	info->kernel_writes = r->stats.kernel_writes;
	info->ticks = r->stats.ticks;
	info->ticks_skipped = r->stats.ticks_skipped;
	spin_unlock(&r->lock);
	info->file_id = f ? f->id : 0;
	info->lock_word = word;
	info->tick_ms = READ_ONCE(kshm_tick_ms);
	info->features = READ_ONCE(r->hdr->features);
}
