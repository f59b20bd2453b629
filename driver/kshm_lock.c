// SPDX-License-Identifier: GPL-2.0
/*
 * The kshm lock: a FIFO hand-off lock with robust (owner-died) semantics.
 *
 * Why not a struct mutex: a mutex lets a newcomer barge past sleepers
 * (optimistic spinning, stealing at unlock), it belongs to a task rather than
 * to an open file, and it cannot be released on behalf of a dead owner. Here
 * unlock hands ownership directly to the waiter at the head of the queue and
 * wakes that one waiter only, so the longest waiter always wins and there is
 * no thundering herd.
 *
 * The seqcount that readers use is made odd by the holder itself once it runs
 * (in kshm_region_lock), not by the unlocker at hand-off time: between the
 * two nobody can write, and readers get a window to take a snapshot even
 * while the lock is passed around under heavy contention.
 */
#include <linux/jiffies.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/ktime.h>
#include "kshm_internal.h"

struct kshm_waiter {
	struct list_head node;
	struct task_struct *task;
	const void *owner;
	pid_t tgid;
	bool granted;		/* written under r->lock by the granter */
	bool cancelled;		/* written under r->lock by a canceller */
	u32 result;		/* KSHM_LOCK_OWNER_DIED, valid once granted */
};

long kshm_timeout_jiffies(u32 timeout_ms)
{
	return timeout_ms ? (long)msecs_to_jiffies(timeout_ms) : MAX_SCHEDULE_TIMEOUT;
}

static pid_t kshm_owner_tgid(const void *owner)
{
	return owner == &kshm_kernel_owner ? 0 : task_tgid_nr(current);
}

/* Mirror the lock state into the read-only header. r->lock held. */
static void kshm_publish(struct kshm_region *r)
{
	u32 flags = 0;

	if (r->owner)
		flags |= KSHM_HDR_LOCKED;
	if (r->owner == &kshm_kernel_owner)
		flags |= KSHM_HDR_KERNEL_HOLDER;
	if (r->owner_died)
		flags |= KSHM_HDR_OWNER_DIED;
	WRITE_ONCE(r->hdr->flags, flags);
	WRITE_ONCE(r->hdr->holder_pid, r->owner_tgid);
	WRITE_ONCE(r->hdr->waiters, r->nr_waiters);
}

/* Readers retry from here until kshm_seq_end(). r->lock held. */
static void kshm_seq_begin(struct kshm_region *r)
{
	WRITE_ONCE(r->hdr->seq, ++r->seq);
	smp_wmb();	/* seq odd before any write of the holder */
}

static void kshm_seq_end(struct kshm_region *r)
{
	smp_wmb();	/* the holder's writes before seq turns even */
	WRITE_ONCE(r->hdr->seq, ++r->seq);
}

static u32 kshm_take(struct kshm_region *r, const void *owner, pid_t tgid)
{
	r->owner = owner;
	r->owner_tgid = tgid;
	r->stats.locks_granted++;
	return r->owner_died ? KSHM_LOCK_OWNER_DIED : 0;
}

/* Release the lock: hand it to the longest waiter, or free it. r->lock held. */
static void kshm_release(struct kshm_region *r)
{
	struct kshm_waiter *w;

	if (r->seq & 1)
		kshm_seq_end(r);
	w = list_first_entry_or_null(&r->waiters, struct kshm_waiter, node);
	if (w) {
		list_del_init(&w->node);
		r->nr_waiters--;
		w->result = kshm_take(r, w->owner, w->tgid);
		/*
		 * The waiter re-takes r->lock before it returns, so w and its
		 * task stay valid until we drop the lock.
		 */
		WRITE_ONCE(w->granted, true);
		wake_up_process(w->task);
	} else {
		r->owner = NULL;
		r->owner_tgid = 0;
	}
	kshm_publish(r);
}

static int kshm_wait(struct kshm_waiter *w, long timeout)
{
	int ret = 0;

	for (;;) {
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
		timeout = schedule_timeout(timeout);
	}
	__set_current_state(TASK_RUNNING);
	return ret;
}

/**
 * kshm_region_lock - take the region lock for @owner, FIFO after earlier waiters
 * @r: the region
 * @owner: the open file (struct kshm_file) or &kshm_kernel_owner
 * @timeout: jiffies, or MAX_SCHEDULE_TIMEOUT
 * @try: fail with -EBUSY instead of waiting
 * @result: KSHM_LOCK_OWNER_DIED when a previous holder died
 * @generation: the generation at grant time
 *
 * Returns 0, -EDEADLK (@owner holds it), -EBUSY, -ETIMEDOUT, -ECANCELED or
 * -EINTR. A grant that races with a timeout, cancel or signal wins: the
 * caller then holds the lock and gets 0.
 */
int kshm_region_lock(struct kshm_region *r, const void *owner, long timeout,
		     bool try, u32 *result, u64 *generation)
{
	struct kshm_waiter w = {
		.task = current,
		.owner = owner,
		.tgid = kshm_owner_tgid(owner),
	};
	int ret;

	spin_lock(&r->lock);
	if (r->owner == owner) {
		spin_unlock(&r->lock);
		return -EDEADLK;
	}
	if (!r->owner && list_empty(&r->waiters)) {
		*result = kshm_take(r, owner, w.tgid);
		goto granted;
	}
	if (try) {
		spin_unlock(&r->lock);
		return -EBUSY;
	}
	list_add_tail(&w.node, &r->waiters);
	r->nr_waiters++;
	r->stats.locks_contended++;
	kshm_publish(r);
	spin_unlock(&r->lock);

	ret = kshm_wait(&w, timeout);

	spin_lock(&r->lock);
	if (w.granted) {
		*result = w.result;
		goto granted;
	}
	list_del(&w.node);
	r->nr_waiters--;
	if (ret == -ETIMEDOUT)
		r->stats.lock_timeouts++;
	else if (ret == -ECANCELED)
		r->stats.lock_cancels++;
	kshm_publish(r);
	spin_unlock(&r->lock);
	return ret;

granted:
	kshm_seq_begin(r);
	*generation = r->generation;
	kshm_publish(r);
	spin_unlock(&r->lock);
	return 0;
}

/**
 * kshm_region_unlock - release the lock held by @owner
 * @r: the region
 * @owner: who unlocks
 * @commit: advance the generation and wake pollers (else: abort)
 * @generation: the generation after unlocking
 *
 * Returns 0 or -EPERM when @owner does not hold the lock (nothing changes).
 */
int kshm_region_unlock(struct kshm_region *r, const void *owner, bool commit,
		       u64 *generation)
{
	spin_lock(&r->lock);
	if (r->owner != owner) {
		spin_unlock(&r->lock);
		return -EPERM;
	}
	if (commit) {
		r->generation++;
		WRITE_ONCE(r->hdr->generation, r->generation);
		WRITE_ONCE(r->hdr->commit_ns, ktime_get_ns());
		r->stats.commits++;
		/* A user commit after OWNER_DIED is taken as the repair. */
		if (owner != &kshm_kernel_owner)
			r->owner_died = false;
	} else {
		r->stats.aborts++;
	}
	*generation = r->generation;
	kshm_release(r);
	spin_unlock(&r->lock);
	if (commit)
		wake_up_interruptible_poll(&r->commit_wq, EPOLLIN | EPOLLRDNORM);
	return 0;
}

/* Wake @owner's blocked lockers with -ECANCELED. */
void kshm_region_cancel(struct kshm_region *r, const void *owner)
{
	struct kshm_waiter *w;

	spin_lock(&r->lock);
	list_for_each_entry(w, &r->waiters, node) {
		if (w->owner == owner) {
			w->cancelled = true;
			wake_up_process(w->task);
		}
	}
	spin_unlock(&r->lock);
}

/**
 * kshm_region_owner_gone - an open file is being closed (flush or release)
 * @r: the region
 * @owner: the closing file
 * @any_process: the last reference is gone (release); otherwise only the
 *	current process's close counts (flush: a forked child closing its copy
 *	of the descriptor must not release its parent's lock)
 *
 * Cancels the closing process's blocked lockers and, when the file holds the
 * lock, passes it on with OWNER_DIED: the data may be half-written.
 */
void kshm_region_owner_gone(struct kshm_region *r, const void *owner,
			    bool any_process)
{
	pid_t tgid = task_tgid_nr(current);
	struct kshm_waiter *w;

	spin_lock(&r->lock);
	list_for_each_entry(w, &r->waiters, node) {
		if (w->owner == owner && (any_process || w->tgid == tgid)) {
			w->cancelled = true;
			wake_up_process(w->task);
		}
	}
	if (r->owner == owner && (any_process || r->owner_tgid == tgid)) {
		r->owner_died = true;
		r->stats.owner_died++;
		kshm_release(r);
	}
	spin_unlock(&r->lock);
}

bool kshm_region_holds(struct kshm_region *r, const void *owner)
{
	bool holds;

	spin_lock(&r->lock);
	holds = r->owner == owner;
	spin_unlock(&r->lock);
	return holds;
}

void kshm_region_info(struct kshm_region *r, struct kshm_info *info)
{
	memset(info, 0, sizeof(*info));
	spin_lock(&r->lock);
	info->abi_version = KSHM_ABI_VERSION;
	info->pages = r->nr_pages;
	info->page_size = PAGE_SIZE;
	info->flags = READ_ONCE(r->hdr->flags);
	info->generation = r->generation;
	info->holder_pid = r->owner_tgid;
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
	info->tick_ms = READ_ONCE(kshm_tick_ms);
	info->features = READ_ONCE(r->hdr->features);
}
