// SPDX-License-Identifier: MIT
/**
 * The lock queue of one device: its lock requests and kernel writes in FIFO
 * order, granted one at a time, with at most one backend call waiting (on the
 * libuv pool for the native backend) at any time. It owns every rule about
 * who may ask (closed, read-only, options), timers, cancellation, the holder
 * and the drain on close; {@link KshmDevice} builds transactions and leases
 * on it.
 * @module
 */
import type { SchedulerLike, Subscription } from 'rxjs';
import { constants } from 'node:os';
import type { Backend, LockAttempt } from './backend.js';
import { checkWrite } from './bytes.js';
import {
  DeviceClosedError, LockBusyError, LockCancelledError, LockDeadlockError, LockTimeoutError, lockError,
  ReadOnlyDeviceError,
} from './errors.js';
import { endPage, type Gen, type Page, type StagedWrites } from './page.js';
import type { TransactionOptions } from './types.js';

const E = constants.errno;

/** What the lock is held for: the page written under it, once there is one. */
export interface Hold {
  page: Page | undefined;
}

/** What a lock request reports: the grant, or why there is none. */
export interface LockCallbacks {
  /** `generation`: a number when it is exact as one (see {@link Gen}). */
  granted(hold: Hold, ownerDied: boolean, generation: Gen): void;
  failed(error: unknown): void;
}

/** What a kernel write reports: the generation of its commit, or why it failed. */
export interface KernelWriteCallbacks {
  written(generation: bigint): void;
  failed(error: unknown): void;
}

interface RequestBase {
  readonly timeoutMs: number;
  /** Scheduler time when the wait gives up (timeoutMs > 0). */
  readonly deadline: number;
  state: 'queued' | 'waiting' | 'done';
  /** Unsubscribed while its backend call ran: the call's result is dropped. */
  cancelled: boolean;
  timer: Subscription | undefined;
}

/** A wait for the lock (a transaction or a lease). */
interface LockRequest extends RequestBase, Hold {
  readonly kind: 'lock';
  readonly fastPath: boolean;
  /** Take the lock staged (the backend's tryLock/lock `staged`). */
  readonly staged: boolean;
  readonly callbacks: LockCallbacks;
  cancelWait: (() => void) | undefined;
}

/** A kernel write: the kernel takes the lock, so it queues like a lock request. */
interface KernelWriteRequest extends RequestBase {
  readonly kind: 'kwrite';
  /** timeoutMs: 0: a lock found taken is {@link LockBusyError}, not a timeout. */
  readonly tryOnce: boolean;
  readonly offset: number;
  readonly bytes: Uint8Array;
  readonly callbacks: KernelWriteCallbacks;
}

type Request = LockRequest | KernelWriteRequest;

/** How a request ends: granted (a lock), written (a kernel write), or failed. */
type Outcome =
  | { ok: true; ownerDied: boolean; generation: bigint }
  | { ok: false; error: unknown };

/** Whether `ms` is a timeoutMs the ABI takes: a whole number 0..2^32-1 (0: try once). */
function isTimeoutMs(ms: number): boolean {
  return Number.isInteger(ms) && ms >= 0 && ms <= 0xffffffff;
}

/**
 * timeoutMs checked: `undefined` gives `absent` (0 for locks: no limit),
 * 0 means "try once" (returned as -1), a RangeError when not 0..2^32-1.
 */
function validTimeout(ms: number | undefined, absent = 0): number {
  if (ms === undefined) return absent;
  if (!isTimeoutMs(ms)) {
    throw new RangeError(`timeoutMs must be a whole number from 0 (try once) to 4294967295, got ${ms}`);
  }
  return ms === 0 ? TRY_ONCE : ms;
}

/** A grant's generation as a page takes it: the number when the backend gave one (no bigint made), else the bigint. */
export function grantGeneration(attempt: Extract<LockAttempt, { ok: true }>): Gen {
  return attempt.generationNumber ?? attempt.generation;
}

/** The teardown of a request that ended at once (one function for all: a closure per call is garbage). */
const NOTHING_TO_CANCEL = (): void => {};

/** timeoutMs: 0, inside the queue (0 there means "no limit", as in the ABI). */
const TRY_ONCE = -1;

/**
 * How long a contended request spins on the lock word before it queues a
 * blocking wait (Backend.spinWhileHeld): a few holds' worth. A queued wait
 * costs a sleep on a pool thread and two wake-ups (the worker, then the
 * main thread), and once anyone queues the lock is handed over in FIFO
 * order, so every later transaction pays them too (a convoy); spinning
 * through a short hold keeps the lock free-running. Spinners never pass a
 * queued waiter: the word is only free when the driver's queue is empty.
 */
export const SPIN_NS = 20_000;

/**
 * How long a contended request spins for the lock to be free while waiters
 * are queued (WAITERS) rather than joining them. A queued waiter here costs
 * two wake-ups per hand-off (the pool thread, then the main thread), with
 * the lock held in transit meanwhile, and while anyone is queued every
 * release is a hand-off: a request that joins the queue keeps the convoy
 * going, one that spins lets the queue drain (a few hand-offs), and the lock
 * runs free again. Spinners take the word only when it is free, which the
 * driver allows only once its queue is empty: they never pass a waiter.
 * libkshm's kshm_lock spins by the same rule (KSHM_SPIN_WAITERS_NS). Host
 * stand-in P4 (4 processes, 2 shared cores), 8 paired runs, median
 * transactions/s: library 70k -> 896k, C on libkshm 447k -> 1.88M.
 */
export const SPIN_WAITERS_NS = 100_000;

export class LockQueue {
  readonly #backend: Backend;
  readonly #scheduler: SchedulerLike;
  readonly #fastPath: boolean;
  readonly #queue: Request[] = [];
  /** The hold of a lock granted at once, with no request (one holder at a time). */
  readonly #inlineHold: Hold = { page: undefined };
  #holder: Hold | undefined;
  /** A backend call (lock or kernel write) is waiting. */
  #busy = false;
  #pumping = false;
  #pumpAgain = false;
  #closed = false;

  constructor(backend: Backend, scheduler: SchedulerLike, fastPath: boolean) {
    this.#backend = backend;
    this.#scheduler = scheduler;
    this.#fastPath = fastPath;
  }

  get closed(): boolean { return this.#closed; }
  /** Whom the lock is held for, when this device holds it. */
  get holder(): Hold | undefined { return this.#holder; }

  /** Why nothing can take the lock or write through this device, if anything. */
  #unusable(): Error | undefined {
    if (this.#closed) return new DeviceClosedError();
    if (this.#backend.readOnly) return new ReadOnlyDeviceError();
    return undefined;
  }

  /**
   * The lock at once, with nothing to set up: when no abort is pending, the
   * timeout is valid and not "try once", nothing here is queued or held, and
   * the lock is free, it is taken (for {@link holder}) and the grant returned
   * (the caller ends it with {@link release}); else undefined and nothing changed:
   * ask with {@link lock} (`tried`: true spares it a second attempt). The
   * common uncontended transaction needs no callbacks, closures or request.
   */
  grantNow(options: TransactionOptions): Extract<LockAttempt, { ok: true }> | undefined {
    const ms = options.timeoutMs;
    if (this.#closed || this.#backend.readOnly || options.signal?.aborted || !this.#idle()
      || (ms !== undefined && (ms === 0 || !isTimeoutMs(ms)))) return undefined;
    const fastPath = options.fastPath ?? this.#fastPath;
    if (!fastPath && this.#backend.surelyTaken?.() === true) return undefined;
    const attempt = this.#backend.tryLock(fastPath, false);
    if (!attempt.ok) return undefined;
    this.#holder = this.#inlineHold;
    return attempt;
  }

  /**
   * Asks for the lock: `granted` runs once it is held (synchronously when it
   * is free and nobody is queued), `failed` on any error. Returns the
   * teardown, which cancels the wait. `staged`: take the lock staged (the
   * seqcount stays even; see Backend.publish). `tried`: {@link grantNow}
   * just tried the lock for this request (no second attempt).
   */
  lock(options: TransactionOptions, callbacks: LockCallbacks, staged = false, tried = false): () => void {
    const { signal } = options;
    let timeoutMs: number;
    try {
      const unusable = this.#unusable();
      if (unusable) throw unusable;
      if (signal?.aborted) throw new LockCancelledError(signal.reason);
      timeoutMs = validTimeout(options.timeoutMs);
    } catch (e) {
      callbacks.failed(e);
      return NOTHING_TO_CANCEL;
    }
    const fastPath = options.fastPath ?? this.#fastPath;
    if (timeoutMs === TRY_ONCE) {
      // Try once: the lock if it is free and nobody here is ahead, else busy.
      const attempt: LockAttempt = this.#idle() ? this.#backend.tryLock(fastPath, staged) : { ok: false, errno: E.EBUSY };
      if (attempt.ok) this.#grant(this.#inlineHold, attempt, callbacks);
      else callbacks.failed(attempt.errno === E.EBUSY ? new LockBusyError() : lockError(attempt.errno, 'LOCK', 0));
      return NOTHING_TO_CANCEL;
    }
    // Nothing queued here: try the lock right now, with no request
    // bookkeeping. The lock-word CAS is its own "is it taken?" test; the
    // ioctl path first asks the free hint, to spare a syscall that would fail.
    if (!tried && this.#idle() && (fastPath || this.#backend.surelyTaken?.() !== true)) {
      const attempt = this.#backend.tryLock(fastPath, staged);
      if (attempt.ok) {
        this.#grant(this.#inlineHold, attempt, callbacks);
        return NOTHING_TO_CANCEL;
      }
    }
    const r: LockRequest = {
      kind: 'lock', fastPath, staged, callbacks, page: undefined, cancelWait: undefined, ...this.#base(timeoutMs),
    };
    const onAbort = (): void => {
      if (r.state === 'done') return;
      this.#cancel(r);
      callbacks.failed(new LockCancelledError(signal?.reason));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    this.#enqueue(r);
    return () => {
      signal?.removeEventListener('abort', onAbort);
      this.#cancel(r);
    };
  }

  /**
   * Queues a kernel write of `bytes` at `offset` (the kernel waits for the
   * lock up to `timeoutMs`, `undefined`: 1000 ms; 0: try once). Fails at
   * once with {@link LockDeadlockError} while this device holds the lock:
   * the kernel would queue behind it. Returns the teardown: a write already
   * started cannot be called back (its timeout bounds it); its result is
   * dropped.
   */
  kernelWrite(offset: number, bytes: Uint8Array, timeoutMs: number | undefined,
    callbacks: KernelWriteCallbacks): () => void {
    let r: KernelWriteRequest;
    try {
      const unusable = this.#unusable();
      if (unusable) throw unusable;
      checkWrite(offset, bytes.length, this.#backend.size);
      const ms = validTimeout(timeoutMs, 1000);
      if (this.#holder) throw new LockDeadlockError('KWRITE');
      if (ms === TRY_ONCE) {
        // Try once: the kernel's shortest wait (1 ms), only when nothing here is ahead of it.
        if (!this.#idle() || this.#backend.surelyTaken?.() === true) throw new LockBusyError();
        r = { kind: 'kwrite', offset, bytes, callbacks, tryOnce: true, ...this.#base(1) };
      } else {
        r = { kind: 'kwrite', offset, bytes, callbacks, tryOnce: false, ...this.#base(ms) };
      }
    } catch (e) {
      callbacks.failed(e);
      return NOTHING_TO_CANCEL;
    }
    this.#enqueue(r);
    return () => this.#cancel(r);
  }

  /**
   * Releases the lock held for `hold`; returns an errno (0: fine). A staged
   * hold's commit publishes `staged` (its writes) on the way.
   */
  release(hold: Hold, commit: boolean, staged?: StagedWrites): number {
    if (this.#holder !== hold) return 0;
    this.#holder = undefined;
    hold.page = undefined;
    const backend = this.#backend;
    const errno = commit && staged && backend.publish
      ? backend.publish(staged.src, staged.ranges)
      : backend.unlock(commit);
    if (this.#queue.length > 0) this.#pump();
    return errno;
  }

  /**
   * The lock was taken from this device without an unlock (its holder
   * "died": the fake's killHolder): forget the holder, end its page (not
   * restored: a dead holder's writes stay, and the next holder sees
   * ownerDied), and tell whoever held it. Returns the hold that was lost.
   */
  lost(): Hold | undefined {
    const holder = this.#holder;
    if (!holder) return undefined;
    this.#holder = undefined;
    if (holder.page) endPage(holder.page, false);
    holder.page = undefined;
    if (this.#queue.length > 0) this.#pump();
    return holder;
  }

  /**
   * Drains the queue for close: a held page is restored and the lock
   * aborted, and every request fails with {@link DeviceClosedError}.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const holder = this.#holder;
    if (holder) {
      if (holder.page) endPage(holder.page, true);
      this.#holder = undefined;
      holder.page = undefined;
      this.#backend.unlock(false);
    }
    for (const r of this.#queue.splice(0)) {
      if (r.state !== 'done') this.#settle(r, { ok: false, error: new DeviceClosedError() });
    }
  }

  #base(timeoutMs: number): RequestBase {
    return {
      timeoutMs, deadline: this.#scheduler.now() + timeoutMs, state: 'queued', cancelled: false, timer: undefined,
    };
  }

  #idle(): boolean {
    return !this.#holder && !this.#busy && this.#queue.length === 0;
  }

  /** The one place where the lock becomes held. */
  #grant(hold: Hold, attempt: Extract<LockAttempt, { ok: true }>, callbacks: LockCallbacks): void {
    this.#holder = hold;
    callbacks.granted(hold, attempt.ownerDied, grantGeneration(attempt));
  }

  /** The one place where a request ends: out of the queue, timer stopped, its callback told. */
  #settle(r: Request, outcome: Outcome | undefined): void {
    const i = this.#queue.indexOf(r);
    if (i >= 0) this.#queue.splice(i, 1);
    r.state = 'done';
    r.timer?.unsubscribe();
    if (!outcome) return; // cancelled: nobody to tell
    if (!outcome.ok) r.callbacks.failed(outcome.error);
    else if (r.kind === 'lock') this.#grant(r, outcome, r.callbacks);
    else r.callbacks.written(outcome.generation);
  }

  #enqueue(r: Request): void {
    if (r.timeoutMs > 0) {
      r.timer = this.#scheduler.schedule(() => {
        // Waiting in the backend already: its own timeout answers.
        if (r.state === 'queued') this.#settle(r, { ok: false, error: new LockTimeoutError(r.timeoutMs) });
      }, r.timeoutMs);
    }
    this.#queue.push(r);
    this.#pump();
  }

  /** Cancels a request for an unsubscribe or an abort signal. */
  #cancel(r: Request): void {
    if (r.state === 'queued') {
      this.#settle(r, undefined);
    } else if (r.state === 'waiting' && !r.cancelled) {
      r.cancelled = true;
      if (r.kind === 'lock') r.cancelWait?.();
    }
  }

  /** Grants the head of the queue when possible; never recurses. */
  #pump(): void {
    if (this.#pumping) {
      this.#pumpAgain = true;
      return;
    }
    this.#pumping = true;
    try {
      do {
        this.#pumpAgain = false;
        this.#pumpOnce();
      } while (this.#pumpAgain);
    } finally {
      this.#pumping = false;
    }
  }

  #pumpOnce(): void {
    while (!this.#closed && !this.#holder && !this.#busy && this.#queue.length > 0) {
      const r = this.#queue[0] as Request;
      if (r.kind === 'kwrite') {
        this.#wait(r);
        this.#backend.kernelWrite(r.offset, r.bytes, r.timeoutMs,
          (errno, generation) => this.#waited(r, errno, false, generation, 'KWRITE'));
        return;
      }
      let attempt: LockAttempt = this.#backend.surelyTaken?.()
        ? { ok: false, errno: E.EBUSY }
        : this.#backend.tryLock(r.fastPath, r.staged);
      // Held by someone about to release (or waiters queued, about to drain): spin briefly rather than queue.
      if (!attempt.ok && attempt.errno === E.EBUSY && this.#backend.spinWhileHeld?.(SPIN_NS, SPIN_WAITERS_NS)) {
        attempt = this.#backend.tryLock(r.fastPath, r.staged);
      }
      if (attempt.ok) {
        this.#settle(r, attempt);
        continue;
      }
      if (attempt.errno !== E.EBUSY) {
        this.#settle(r, { ok: false, error: lockError(attempt.errno, 'LOCK', r.timeoutMs) });
        continue;
      }
      const waitMs = r.timeoutMs > 0 ? Math.ceil(r.deadline - this.#scheduler.now()) : 0;
      if (r.timeoutMs > 0 && waitMs <= 0) {
        this.#settle(r, { ok: false, error: new LockTimeoutError(r.timeoutMs) });
        continue;
      }
      // Contended: wait off the main thread, one call per device at most.
      this.#wait(r);
      r.cancelWait = this.#backend.lock(waitMs,
        (errno, ownerDied, generation) => this.#waited(r, errno, ownerDied, generation, 'LOCK'), r.staged);
      return;
    }
  }

  #wait(r: Request): void {
    r.state = 'waiting';
    this.#busy = true;
  }

  /** A backend wait ended: settle its request (a grant nobody wants any more is aborted). */
  #waited(r: Request, errno: number, ownerDied: boolean, generation: bigint, operation: string): void {
    this.#busy = false;
    if (this.#closed) return; // close() settled it
    if (r.cancelled) {
      if (errno === 0 && r.kind === 'lock') this.#backend.unlock(false);
      this.#settle(r, undefined);
    } else {
      const busy = r.kind === 'kwrite' && r.tryOnce && errno === E.ETIMEDOUT;
      this.#settle(r, errno === 0 ? { ok: true, ownerDied, generation }
        : { ok: false, error: busy ? new LockBusyError() : lockError(errno, operation, r.timeoutMs) });
    }
    this.#pump();
  }
}
