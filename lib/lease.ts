// SPDX-License-Identifier: MIT
import type { Observable, Subscriber } from 'rxjs';
import { DeviceClosedError, LeaseEndedError, LockCancelledError, systemError } from './errors.js';
import type { Hold, LockQueue } from './lock-queue.js';
import { endPage, stagedWrites, type Page } from './page.js';
import type { Lease } from './types.js';

export interface HoldContext {
  readonly queue: LockQueue;
  readonly lost: Map<Hold, () => void>;
  readonly closed$: Observable<void>;
  stage(page: Page): void;
}

/**
 * Runs fn on the page just granted, then commits, or restores and aborts.
 * When fn returns a promise, the page turns staged and the lock is held
 * until it settles: the returned function then aborts it (unsubscribe).
 */
export function runTransaction<R>(ctx: HoldContext, fn: (page: Page) => R | PromiseLike<R>, subscriber: Subscriber<R>,
  hold: Hold, page: Page, signal: AbortSignal | undefined): (() => void) | undefined {
  let result: R | PromiseLike<R>;
  try {
    result = fn(page);
    if (result !== null && typeof (result as { then?: unknown })?.then === 'function') {
      // Settled asynchronously: the device's state may change meanwhile.
      if (!ctx.queue.closed && page.live) return runAsync(ctx, result as PromiseLike<R>, subscriber, hold, page, signal);
      (result as PromiseLike<R>).then(undefined, () => {}); // its outcome goes nowhere: no unhandled rejection
      throw ctx.queue.closed ? new DeviceClosedError() : new LeaseEndedError();
    }
    // Aborted while it held the lock (fn aborted it): undone like an unsubscribe.
    if (signal?.aborted) throw new LockCancelledError(signal.reason);
  } catch (e) {
    endPage(page, true);
    ctx.queue.release(hold, false); // an abort; fn's error is what the subscriber needs
    subscriber.error(ctx.queue.closed ? new DeviceClosedError() : e);
    return;
  }
  endPage(page, false);
  // fn may have closed the device: close() already restored its writes.
  const errno = ctx.queue.closed ? 0 : ctx.queue.release(hold, true);
  if (ctx.queue.closed) subscriber.error(new DeviceClosedError());
  else if (errno) subscriber.error(systemError('UNLOCK', errno));
  else {
    subscriber.next(result as R);
    subscriber.complete();
  }
  return undefined;
}

/**
 * An async transaction: fn's synchronous part wrote in place; those writes
 * move to the staging copy, the shared data is restored and the write
 * section ends, so readers see the committed state until the promise
 * resolves (publish, emit) or anything else ends it (abort: the shared
 * data was never touched). Returns the abort for an unsubscribe.
 */
function runAsync<R>(ctx: HoldContext, promise: PromiseLike<R>, subscriber: Subscriber<R>, hold: Hold, page: Page,
  signal: AbortSignal | undefined): () => void {
  ctx.stage(page);
  const cleanup = (): void => {
    closing.unsubscribe();
    if (signal) signal.removeEventListener('abort', onAbort);
    ctx.lost.delete(hold);
  };
  /** Ends the hold (once); returns the UNLOCK errno. */
  const end = (commit: boolean): number => {
    cleanup();
    const writes = stagedWrites(page);
    endPage(page, !commit);
    return ctx.queue.release(hold, commit, writes);
  };
  const abort = (error: unknown): void => {
    if (!page.live) return;
    const errno = end(false);
    subscriber.error(errno ? systemError('UNLOCK', errno) : error);
  };
  const onAbort = (): void => abort(new LockCancelledError(signal?.reason));
  // close() restores and aborts the hold itself (LockQueue.close).
  const closing = ctx.closed$.subscribe(() => {
    cleanup();
    subscriber.error(new DeviceClosedError());
  });
  signal?.addEventListener('abort', onAbort, { once: true });
  ctx.lost.set(hold, () => {
    cleanup();
    subscriber.error(new LeaseEndedError());
  });
  if (signal?.aborted) onAbort(); // fn's synchronous part aborted it
  promise.then((value) => {
    if (!page.live) return; // ended already: the subscriber was told
    if (signal?.aborted) {
      abort(new LockCancelledError(signal.reason));
      return;
    }
    const errno = end(true);
    if (errno) {
      subscriber.error(systemError('UNLOCK', errno));
      return;
    }
    subscriber.next(value);
    subscriber.complete();
  }, (error: unknown) => abort(error));
  return () => {
    if (!page.live) return;
    cleanup();
    endPage(page, true);
    ctx.queue.release(hold, false);
  };
}

/**
 * Emits a lease and ends its stream. A lease committed or aborted inside the
 * emission itself (`map((lease) => { ...; lease.commit(); return x; })`,
 * `tap`) ends the stream only once the emission returns: completing first
 * would make every operator below drop the lease (or what it mapped it to),
 * and `lastValueFrom` fail with EmptyError. The lock is released at once
 * either way; only the notification waits.
 */
export class LeaseEmitter {
  #emitting = false;
  #ended: (() => void) | undefined;

  constructor(private readonly subscriber: Subscriber<Lease>) {}

  emit(lease: Lease): void {
    this.#emitting = true;
    try {
      this.subscriber.next(lease);
    } finally {
      this.#emitting = false;
      const ended = this.#ended;
      this.#ended = undefined;
      ended?.();
    }
  }

  /** Completes the stream, or errors it with `error` (when defined). */
  end(error?: unknown): void {
    const end = (): void => {
      if (error !== undefined) this.subscriber.error(error);
      else this.subscriber.complete();
    };
    // The first end wins, as it does outside an emission.
    if (this.#emitting) this.#ended ??= end;
    else end();
  }
}

/**
 * A lease as lock$ emits it. A class, not an object literal: a literal with
 * a getter and a computed key is built on V8's slow path (~1 us each,
 * measured: a quarter of a lease). commit and abort stay own functions, so
 * `({ page, commit }) => ...` keeps working.
 */
export class GrantedLease implements Lease {
  readonly commit: () => void;
  readonly abort: () => void;

  constructor(readonly page: Page, readonly ownerDied: boolean, end: (commit: boolean) => void) {
    this.commit = () => end(true);
    this.abort = () => end(false);
  }

  get active(): boolean {
    return this.page.live;
  }

  [Symbol.dispose](): void {
    if (this.page.live) this.abort();
  }
}
