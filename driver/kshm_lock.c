// SPDX-License-Identifier: GPL-2.0
/*
 * The kshm lock: a futex-like lock word with a FIFO hand-off slow path and
 * robust (owner-died) semantics.
 *
 * The word (ctrl->lock, in a page every writer maps) says who holds the lock:
 * a lock-word id, one per (writable open file, process), or the kernel.
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
 * The word is user-writable, so it is untrusted input. Every loop over it is
 * a bounded compare-and-exchange; an id in it is only ever looked up, never
 * used as an address. The kernel never overwrites a word it has not checked
 * in the same atomic step: a release first seizes the word (CAS from the
 * holder's value to KSHM_LW_KERNEL), closes the write section, then hands
 * the word on with a second CAS. A word that names nobody who can hold the
 * lock (an id no live process owns, or the kernel while it does not hold it)
 * is reclaimed with KSHM_LW_DIED by the next LOCK or KWRITE, and by a
 * recheck every KSHM_LW_RECHECK_MS while anyone waits (which also repairs a
 * lost WAITERS bit). No waiter wakes up for that: only the hand-off wakes,
 * and only the waiter it grants.
 *
 * The seqcount that readers use is made odd by the grantee itself once it
 * runs, not by the unlocker at hand-off time: between the two nobody can
 * write, and readers get a window to take a snapshot even while the lock is
 * passed around under heavy contention. A staged grantee (KSHM_LOCK_STAGED)
 * leaves it even instead: it writes into its own buffer and opens the write
 * section only to publish. Every release closes a section left open (a
 * holder that died mid-publish, or a forged seq), so staging needs nothing
 * else from the kernel.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/jiffies.h>
#include <linux/ktime.h>
#include <linux/lockdep.h>
#include <linux/minmax.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include "kshm_internal.h"

#define KSHM_CAS_TRIES		16

struct kshm_waiter {
	struct list_head node;	/* in r->waiters; empty once granted or cancelled */
	struct task_struct *task;
	const void *key;	/* what KSHM_IOC_CANCEL and close match: the file */
	struct pid *tgid;	/* the calling process (it sleeps: no reference) */
	u32 id;			/* the lock-word id to grant, or KSHM_LW_KERNEL */
	bool granted;		/* written under r->lock by the granter */
	bool cancelled;		/* written under r->lock by a canceller */
	u32 result;		/* KSHM_LOCK_OWNER_DIED, valid once granted */
};

/**
 * kshm_timeout_jiffies - a user's timeout_ms as a wait in jiffies
 * @timeout_ms: milliseconds, 0 for no limit
 *
 * Return: jiffies, or MAX_SCHEDULE_TIMEOUT for no limit.
 */
long kshm_timeout_jiffies(u32 timeout_ms)
{
	return timeout_ms ? (long)msecs_to_jiffies(timeout_ms) : MAX_SCHEDULE_TIMEOUT;
}

static u32 kshm_word(struct kshm_region *r)
{
	return READ_ONCE(r->ctrl->lock);
}

static bool kshm_word_cas(struct kshm_region *r, u32 old, u32 new)
{
	return cmpxchg(&r->ctrl->lock, old, new) == old;
}

/* The linked owner behind @id, or NULL. r->lock held. */
static struct kshm_owner *kshm_owner(struct kshm_region *r, u32 id)
{
	struct kshm_owner *o;

	lockdep_assert_held(&r->lock);
	if (!id || id >= KSHM_LW_KERNEL)
		return NULL;
	o = xa_load(&r->owners, id);
	return o && o->file ? o : NULL;
}

/*
 * Can the owner field @owner (non-zero) of the word belong to a real holder?
 * The kernel only while it holds the lock; an id only while it is linked and
 * its process lives. Anything else is a forged or stale word. r->lock held.
 */
static bool kshm_can_hold(struct kshm_region *r, u32 owner)
{
	struct kshm_owner *o;

	if (owner == KSHM_LW_KERNEL)
		return r->kernel_holds;
	o = kshm_owner(r, owner);
	return o && pid_has_task(o->tgid, PIDTYPE_TGID);
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
	lockdep_assert_held(&r->lock);
	WRITE_ONCE(r->hdr->flags, kshm_word_flags(kshm_word(r)));
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
	if (w->id == KSHM_LW_KERNEL)
		r->kernel_holds = true;
	r->stats.locks_granted++;
}

/*
 * Take the word away from the holder @from (its owner field; 0: a free word)
 * for the kernel, in one compare-and-exchange that keeps the flags: from
 * then on no user CAS can succeed on it. The kernel's own word needs no CAS.
 * Returns false, changing nothing, when the word does not name @from (or
 * keeps changing). @held: the word as seized. r->lock held.
 */
static bool kshm_seize(struct kshm_region *r, u32 from, u32 *held)
{
	int i;

	lockdep_assert_held(&r->lock);
	for (i = 0; i < KSHM_CAS_TRIES; i++) {
		u32 word = kshm_word(r);

		if ((word & KSHM_LW_OWNER_MASK) != from)
			return false;
		if (from == KSHM_LW_KERNEL ||
		    kshm_word_cas(r, word, KSHM_LW_KERNEL | (word & ~KSHM_LW_OWNER_MASK))) {
			*held = word;
			return true;
		}
	}
	return false;
}

/*
 * The kernel has seized the word (kshm_seize): hand it to the longest waiter
 * or free it, with DIED when @died. The grant is a compare-and-exchange from
 * the seized word, so a word rewritten in between is never overwritten (the
 * recheck then deals with it). r->lock held.
 */
static void kshm_hand_off(struct kshm_region *r, bool died)
{
	struct kshm_waiter *w = list_first_entry_or_null(&r->waiters, struct kshm_waiter, node);
	int i;

	lockdep_assert_held(&r->lock);
	for (i = 0; i < KSHM_CAS_TRIES; i++) {
		u32 word = kshm_word(r), next = died ? KSHM_LW_DIED : 0;

		if ((word & KSHM_LW_OWNER_MASK) != KSHM_LW_KERNEL)
			break;
		/* Destroyed: nobody is queued, and fast-path users must come to us. */
		if (r->dead)
			next |= KSHM_LW_WAITERS;
		if (w) {
			next |= w->id;
			if (!list_is_singular(&r->waiters))
				next |= KSHM_LW_WAITERS;
		}
		if (!kshm_word_cas(r, word, next))
			continue;
		if (w) {
			list_del_init(&w->node);
			r->nr_waiters--;
			kshm_granted(r, w, died);
			/*
			 * The waiter re-takes r->lock before it returns, so w
			 * and its task stay valid until we drop the lock.
			 */
			WRITE_ONCE(w->granted, true);
			wake_up_process(w->task);
		}
		break;
	}
	kshm_publish(r);
}

/*
 * The kernel holds the lock (its own record, r->kernel_holds): a word that
 * names anybody else was forged during the hold. A free word, or one naming
 * nobody who can hold the lock, gets the kernel back, with WAITERS, so that
 * no fast-path acquire succeeds and the kernel's release comes to the
 * driver; a word a live user took meanwhile stays theirs (it cannot be told
 * from them holding). The driver grants nobody until the kernel releases.
 * r->lock held.
 */
static void kshm_restore_kernel(struct kshm_region *r)
{
	int i;

	for (i = 0; i < KSHM_CAS_TRIES; i++) {
		u32 word = kshm_word(r), owner = word & KSHM_LW_OWNER_MASK;
		u32 want = KSHM_LW_KERNEL | KSHM_LW_WAITERS | (word & ~KSHM_LW_OWNER_MASK);

		if (owner && owner != KSHM_LW_KERNEL && kshm_can_hold(r, owner))
			return;
		if (word == want || kshm_word_cas(r, word, want))
			return;
	}
}

/*
 * The kernel has seized the word from a user id (kshm_seize) whose hold ends
 * (an UNLOCK, its process gone): end the write section and hand the lock on,
 * with DIED when @died. But while the kernel holds the lock (its own record),
 * that id was forged into the word during the kernel's hold: the kernel's
 * word comes back instead (kshm_restore_kernel()), nobody is granted and its
 * write section stays open until its own release. r->lock held.
 *
 * Return: true when the lock was passed on, false when the kernel keeps it.
 */
static bool kshm_pass_on(struct kshm_region *r, bool died)
{
	if (r->kernel_holds) {
		kshm_restore_kernel(r);
		kshm_publish(r);
		return false;
	}
	kshm_seq_leave(r);
	kshm_hand_off(r, died);
	return true;
}

/* A word naming nobody who can hold the lock: pass it on with DIED. r->lock held. */
static void kshm_reclaim(struct kshm_region *r, u32 owner)
{
	u32 held;

	if (!kshm_seize(r, owner, &held))
		return;
	r->stats.lock_reclaims++;
	kshm_seq_leave(r);
	kshm_hand_off(r, true);
}

/*
 * Waiters are queued but the word says free: only a forged word or a lost
 * WAITERS bit gets us here. Hand the lock to the head. Never while the
 * kernel holds the lock: both callers restore the kernel's word first
 * (kshm_restore_kernel()). r->lock held.
 */
static void kshm_repair(struct kshm_region *r)
{
	u32 held;

	if (!list_empty(&r->waiters) && kshm_seize(r, 0, &held))
		kshm_hand_off(r, held & KSHM_LW_DIED);
}

/*
 * What the queue head would otherwise have to do itself: take over a word
 * that nobody can hold, hand a free word to the head, and put back a lost
 * WAITERS bit. r->lock held.
 */
static void kshm_recheck(struct kshm_region *r)
{
	u32 word = kshm_word(r), owner = word & KSHM_LW_OWNER_MASK;

	lockdep_assert_held(&r->lock);
	if (list_empty(&r->waiters))
		return;
	if (r->kernel_holds && owner != KSHM_LW_KERNEL)
		kshm_restore_kernel(r);
	else if (!owner)
		kshm_repair(r);
	else if (!kshm_can_hold(r, owner))
		kshm_reclaim(r, owner);
	else if (!(word & KSHM_LW_WAITERS))
		kshm_word_cas(r, word, word | KSHM_LW_WAITERS);
}

static void kshm_recheck_fn(struct work_struct *work)
{
	struct kshm_region *r = container_of(to_delayed_work(work), struct kshm_region, recheck);

	spin_lock(&r->lock);
	kshm_recheck(r);
	if (!list_empty(&r->waiters))
		queue_delayed_work(system_wq, &r->recheck, msecs_to_jiffies(KSHM_LW_RECHECK_MS));
	spin_unlock(&r->lock);
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

		/*
		 * A word naming the caller is its hold, however it got there
		 * (even forged during a kernel hold): it would wait for
		 * itself. Kernel parties share one id: they queue behind each
		 * other.
		 */
		if (owner && owner == w->id && owner != KSHM_LW_KERNEL)
			return -EDEADLK;

		/*
		 * The kernel's own record, not the word: a word forged during
		 * its hold grants nobody (looked at on every pass: the word
		 * may change between two).
		 */
		if (r->kernel_holds && owner != KSHM_LW_KERNEL) {
			kshm_restore_kernel(r);
			return try ? -EBUSY : -EAGAIN;
		}
		if (owner && !kshm_can_hold(r, owner)) {
			kshm_reclaim(r, owner);
			continue;
		}
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

/*
 * The last waiter left without the lock: fast unlockers need not call us.
 * Not in a destroyed region: there WAITERS stays (kshm_region_kill()).
 */
static void kshm_clear_waiters(struct kshm_region *r)
{
	int i;

	for (i = 0; i < KSHM_CAS_TRIES && list_empty(&r->waiters) && !r->dead; i++) {
		u32 word = kshm_word(r);

		if (!(word & KSHM_LW_WAITERS) ||
		    kshm_word_cas(r, word, word & ~KSHM_LW_WAITERS))
			break;
	}
}

/* Take @w out of the queue and wake it with -ECANCELED. r->lock held. */
static void kshm_cancel_waiter(struct kshm_region *r, struct kshm_waiter *w)
{
	list_del_init(&w->node);
	r->nr_waiters--;
	WRITE_ONCE(w->cancelled, true);
	wake_up_process(w->task);
}

/*
 * Sleep until granted, cancelled, signalled or *@timeout jiffies have
 * passed; *@timeout is left with the time that remains. Nothing but a grant,
 * a cancel, a signal or the deadline wakes a waiter.
 */
static int kshm_wait(struct kshm_waiter *w, long *timeout)
{
	bool forever = *timeout == MAX_SCHEDULE_TIMEOUT;
	unsigned long deadline = jiffies + (forever ? 0 : *timeout);
	int ret = 0;

	for (;;) {
		long left = forever ? MAX_SCHEDULE_TIMEOUT : (long)(deadline - jiffies);

		set_current_state(TASK_INTERRUPTIBLE);
		if (READ_ONCE(w->granted))
			break;
		if (READ_ONCE(w->cancelled)) {
			ret = -ECANCELED;
			break;
		}
		if (left <= 0) {
			ret = -ETIMEDOUT;
			break;
		}
		/* Time is left: the caller can restart with what remains. */
		if (signal_pending(current)) {
			ret = -ERESTARTSYS;
			break;
		}
		schedule_timeout(left);
	}
	__set_current_state(TASK_RUNNING);
	if (!forever)
		*timeout = max(0L, (long)(deadline - jiffies));
	return ret;
}

/**
 * kshm_region_lock - take the region lock, FIFO after earlier waiters
 * @r: the region
 * @id: the caller's lock-word id, or KSHM_LW_KERNEL for a kernel party
 * @key: what cancels this wait (kshm_region_cancel(), a close): the file
 * @timeout: jiffies or MAX_SCHEDULE_TIMEOUT; left with the time remaining
 * @flags: KSHM_LOCK_TRY (fail with -EBUSY instead of waiting) and
 *	KSHM_LOCK_STAGED (grant with the write section closed: seq left even)
 * @result: KSHM_LOCK_OWNER_DIED when a previous holder died
 * @generation: the generation at grant time
 *
 * A grant that races with a timeout or a signal wins: the caller then holds
 * the lock and gets 0. A cancel takes the waiter out of the queue at once.
 *
 * Return: 0, -EDEADLK (@id holds it), -EBUSY, -ETIMEDOUT, -ECANCELED (also
 * when @id is no longer valid: its process closed the file), -ENODEV (the
 * region was destroyed) or -ERESTARTSYS.
 */
int kshm_region_lock(struct kshm_region *r, u32 id, const void *key, long *timeout,
		     u32 flags, u32 *result, u64 *generation)
{
	struct kshm_waiter w = {
		.task = current,
		.key = key,
		.tgid = task_tgid(current),
		.id = id,
	};
	int ret;

	spin_lock(&r->lock);
	if (r->dead) {
		spin_unlock(&r->lock);
		return -ENODEV;
	}
	if ((id != KSHM_LW_KERNEL && !kshm_owner(r, id)) ||
	    (key && key == r->blocked_key)) {
		spin_unlock(&r->lock);
		return -ECANCELED;
	}
	ret = kshm_take_or_flag(r, &w, flags & KSHM_LOCK_TRY);
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
	queue_delayed_work(system_wq, &r->recheck, msecs_to_jiffies(KSHM_LW_RECHECK_MS));
	spin_unlock(&r->lock);

	ret = kshm_wait(&w, timeout);

	spin_lock(&r->lock);
	if (w.granted)
		goto granted;
	if (!list_empty(&w.node)) {
		list_del(&w.node);
		r->nr_waiters--;
	}
	kshm_clear_waiters(r);
	if (ret == -ECANCELED && r->dead)
		ret = -ENODEV;		/* cancelled by kshm_region_kill() */
	if (ret == -ETIMEDOUT)
		r->stats.lock_timeouts++;
	else if (ret == -ECANCELED)
		r->stats.lock_cancels++;
	kshm_publish(r);
	spin_unlock(&r->lock);
	return ret;

granted:
	/* A staged holder writes elsewhere: a section left open is closed instead. */
	if (flags & KSHM_LOCK_STAGED)
		kshm_seq_leave(r);
	else
		kshm_seq_enter(r);
	*result = w.result;
	*generation = READ_ONCE(r->ctrl->generation);
	kshm_publish(r);
	spin_unlock(&r->lock);
	return 0;
}

/**
 * kshm_region_unlock_id - release the lock held by @id
 * @r: the region
 * @id: who unlocks: a lock-word id, or KSHM_LW_KERNEL
 * @flags: KSHM_UNLOCK_COMMIT (advance the generation, wake pollers) or
 *	KSHM_UNLOCK_ABORT, optionally with KSHM_UNLOCK_PUBLISHED: the caller
 *	already advanced the generation and ended the write section itself
 * @generation: the generation after unlocking
 *
 * The kernel trusts only its own record that it holds the lock, so that a
 * forged word can never make a kernel holder's unlock fail.
 *
 * Return: 0, or -EPERM when @id does not hold the lock (nothing changes).
 */
int kshm_region_unlock_id(struct kshm_region *r, u32 id, u32 flags, u64 *generation)
{
	bool commit = flags & KSHM_UNLOCK_COMMIT, kernel = id == KSHM_LW_KERNEL;
	u32 held = 0;
	bool seized;

	spin_lock(&r->lock);
	if (kernel ? !r->kernel_holds : !id) {
		spin_unlock(&r->lock);
		return -EPERM;
	}
	seized = kshm_seize(r, id, &held);
	if (!seized && !kernel) {
		spin_unlock(&r->lock);
		return -EPERM;
	}
	if (kernel)
		r->kernel_holds = false;
	/*
	 * A kernel holder's release acts on its own record even when the word
	 * was forged during the hold (not seized): its commit is a commit, and
	 * its write section ends.
	 */
	if (commit) {
		if (!(flags & KSHM_UNLOCK_PUBLISHED))
			WRITE_ONCE(r->ctrl->generation, READ_ONCE(r->ctrl->generation) + 1);
		WRITE_ONCE(r->hdr->commit_ns, ktime_get_ns());
		r->stats.commits++;
	} else {
		r->stats.aborts++;
	}
	if (seized) {
		/* A user commit after OWNER_DIED is taken as the repair. */
		kshm_pass_on(r, (held & KSHM_LW_DIED) && !(commit && !kernel));
	} else {
		/* A kernel holder's word was forged: reclaimed, or repaired for the queue. */
		kshm_seq_leave(r);
		kshm_recheck(r);
		kshm_publish(r);
	}
	*generation = READ_ONCE(r->ctrl->generation);
	spin_unlock(&r->lock);
	if (commit)
		kshm_region_wake(r);
	return 0;
}

/**
 * kshm_region_cancel - wake the waits that @key started with -ECANCELED
 * @r: the region
 * @key: the file (LOCK and KWRITE calls made through it), or the ticker
 */
void kshm_region_cancel(struct kshm_region *r, const void *key)
{
	kshm_region_block(r, key, false);
}

/**
 * kshm_region_block - cancel the waits that @key started, and bar new ones
 * @r: the region
 * @key: the waits' key (the ticker's work)
 * @block: also make every kshm_region_lock() with @key fail with -ECANCELED
 *	from now until kshm_region_unblock(), without queueing; false: only
 *	cancel (kshm_region_cancel())
 *
 * Both are done under r->lock, which kshm_region_lock() holds from its check
 * of the bar until it has queued: a wait keyed @key that started before
 * this call is cancelled, and one that starts after it never queues. So a
 * caller that then waits for the party behind @key (cancel_delayed_work_sync()
 * on the ticker) never waits for a lock holder. One key is barred at a time.
 */
void kshm_region_block(struct kshm_region *r, const void *key, bool block)
{
	struct kshm_waiter *w, *tmp;

	spin_lock(&r->lock);
	if (block)
		r->blocked_key = key;
	list_for_each_entry_safe(w, tmp, &r->waiters, node) {
		if (w->key == key)
			kshm_cancel_waiter(r, w);
	}
	kshm_clear_waiters(r);
	kshm_publish(r);
	spin_unlock(&r->lock);
}

/**
 * kshm_region_unblock - lift the bar of kshm_region_block()
 * @r: the region
 */
void kshm_region_unblock(struct kshm_region *r)
{
	spin_lock(&r->lock);
	r->blocked_key = NULL;
	spin_unlock(&r->lock);
}

/**
 * kshm_region_kill - the region is being destroyed: end every wait
 * @r: the region
 *
 * From now on kshm_region_lock() fails with -ENODEV; queued waiters wake
 * with -ENODEV, read() and poll() sleepers (the ring's included) wake and
 * see the region dead.
 * The word gets KSHM_LW_WAITERS for good (as far as the kernel goes), so a
 * fast-path acquire or release comes to the kernel and fails with -ENODEV
 * too. The pages and the ids stay as they are until the last reference goes.
 */
void kshm_region_kill(struct kshm_region *r)
{
	struct kshm_waiter *w, *tmp;
	int i;

	spin_lock(&r->lock);
	WRITE_ONCE(r->dead, true);
	list_for_each_entry_safe(w, tmp, &r->waiters, node)
		kshm_cancel_waiter(r, w);
	for (i = 0; i < KSHM_CAS_TRIES; i++) {
		u32 word = kshm_word(r);

		if ((word & KSHM_LW_WAITERS) || kshm_word_cas(r, word, word | KSHM_LW_WAITERS))
			break;
	}
	kshm_publish(r);
	spin_unlock(&r->lock);
	wake_up_interruptible_poll(&r->commit_wq, EPOLLERR | EPOLLHUP);
	if (r->ring)
		kshm_ring_hangup(r->ring);
	cancel_delayed_work_sync(&r->recheck);
}

/**
 * kshm_region_owner_gone - a process is done with an open file, or the file goes
 * @r: the region
 * @f: the file
 * @last_close: the last reference is gone (release): every process's id
 *	goes; otherwise only the calling process's (it closed its last
 *	descriptor of @f, or exited)
 *
 * Cancels the process's blocked LOCK and KWRITE calls on @f and, when one
 * of the ids that go holds the lock, passes it on with OWNER_DIED: the data
 * may be half-written. The ids are retired under r->lock, so nobody looks
 * an owner up once it is freed.
 */
void kshm_region_owner_gone(struct kshm_region *r, struct kshm_file *f, bool last_close)
{
	struct pid *tgid = task_tgid(current);
	struct kshm_waiter *w, *wtmp;
	struct kshm_owner *o, *otmp;
	u32 held;

	spin_lock(&r->lock);
	list_for_each_entry_safe(w, wtmp, &r->waiters, node) {
		if (w->key == f && (last_close || w->tgid == tgid))
			kshm_cancel_waiter(r, w);
	}
	list_for_each_entry_safe(o, otmp, &f->owners, node) {
		if (!last_close && o->tgid != tgid)
			continue;
		if (kshm_seize(r, o->id, &held) && kshm_pass_on(r, true))
			r->stats.owner_died++;
		list_del(&o->node);
		xa_erase(&r->owners, o->id);
		put_pid(o->tgid);
		kfree(o);
	}
	kshm_clear_waiters(r);
	kshm_publish(r);
	spin_unlock(&r->lock);
}

/**
 * kshm_owner_id - the calling process's lock-word id for @f
 * @r: the region
 * @f: the open file
 * @create: allocate one when the process has none yet
 * @id: the id, or 0 (a read-only file has none; or none yet, !@create)
 *
 * Return: 0, -ENOMEM, or -EMFILE when every id is taken.
 */
int kshm_owner_id(struct kshm_region *r, struct kshm_file *f, bool create, u32 *id)
{
	struct pid *tgid = task_tgid(current);
	struct kshm_owner *o, *fresh;
	int ret;

	*id = 0;
	if (!f->writable)
		return 0;
	spin_lock(&r->lock);
	list_for_each_entry(o, &f->owners, node) {
		if (o->tgid == tgid) {
			*id = o->id;
			break;
		}
	}
	spin_unlock(&r->lock);
	if (*id || !create)
		return 0;

	fresh = kzalloc(sizeof(*fresh), GFP_KERNEL);
	if (!fresh)
		return -ENOMEM;
	fresh->tgid = get_pid(tgid);
	/* Cyclic: a retired id is not handed out again soon. */
	ret = xa_alloc_cyclic(&r->owners, &fresh->id, fresh,
			      XA_LIMIT(1, KSHM_LW_KERNEL - 1), &r->next_id, GFP_KERNEL);
	if (ret < 0) {
		put_pid(fresh->tgid);
		kfree(fresh);
		return ret == -EBUSY ? -EMFILE : ret;
	}
	spin_lock(&r->lock);
	list_for_each_entry(o, &f->owners, node) {
		if (o->tgid == tgid) {
			*id = o->id;
			break;
		}
	}
	if (!*id) {
		fresh->file = f;
		list_add_tail(&fresh->node, &f->owners);
		*id = fresh->id;
		fresh = NULL;
	}
	spin_unlock(&r->lock);
	if (fresh) {	/* another thread of the process was quicker */
		xa_erase(&r->owners, fresh->id);
		put_pid(fresh->tgid);
		kfree(fresh);
	}
	return 0;
}

/**
 * kshm_region_holds - does @id hold the lock?
 * @r: the region
 * @id: a lock-word id, or KSHM_LW_KERNEL
 *
 * Return: true when it does (for a user id: the word names it).
 */
bool kshm_region_holds(struct kshm_region *r, u32 id)
{
	bool holds;

	if (!id)
		return false;
	spin_lock(&r->lock);
	if (id == KSHM_LW_KERNEL)
		holds = r->kernel_holds;
	else
		holds = (kshm_word(r) & KSHM_LW_OWNER_MASK) == id;
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

/*
 * The full state and counters, for INFO (the caller fills file_id) and
 * sysfs. holder_pid is the holder's process as the caller's pid namespace
 * sees it (0: free, the kernel, or not visible there).
 */
void kshm_region_info(struct kshm_region *r, struct kshm_info *info)
{
	struct kshm_owner *o;
	u32 word;

	memset(info, 0, sizeof(*info));
	spin_lock(&r->lock);
	word = kshm_word(r);
	info->abi_version = KSHM_ABI_VERSION;
	info->pages = r->nr_pages;
	info->page_size = PAGE_SIZE;
	info->flags = kshm_word_flags(word);
	info->generation = kshm_region_generation(r);
	o = kshm_owner(r, word & KSHM_LW_OWNER_MASK);
	info->holder_pid = o ? pid_vnr(o->tgid) : 0;
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
	info->lock_reclaims = r->stats.lock_reclaims;
	spin_unlock(&r->lock);
	info->lock_word = word;
	info->tick_ms = READ_ONCE(r->tick_ms);
	info->features = READ_ONCE(r->hdr->features);
	if (r->ring) {
		info->events = kshm_ring_head(r->ring);
		info->event_wakeups = kshm_ring_wakeups(r->ring);
	}
}

/**
 * kshm_region_init_lock - set up the lock's state
 * @r: the region
 *
 * Return: 0.
 */
int kshm_region_init_lock(struct kshm_region *r)
{
	spin_lock_init(&r->lock);
	INIT_LIST_HEAD(&r->waiters);
	xa_init_flags(&r->owners, XA_FLAGS_ALLOC);
	INIT_DELAYED_WORK(&r->recheck, kshm_recheck_fn);
	return 0;
}

/* Teardown: nothing waits any more (no file is open, the ticker is stopped). */
void kshm_region_stop_lock(struct kshm_region *r)
{
	cancel_delayed_work_sync(&r->recheck);
	WARN_ON_ONCE(!xa_empty(&r->owners));
	xa_destroy(&r->owners);
}
