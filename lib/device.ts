// SPDX-License-Identifier: MIT
import {
  asyncScheduler, concatMap, defer, Observable, Subject, throwError, using,
  type OperatorFunction, type SchedulerLike, type Subscriber, type Unsubscribable,
} from 'rxjs';
import { EV_MAX_DATA } from './abi.js';
import type { Backend, DeviceInfo, DeviceInfoJSON } from './backend.js';
import {
  DeviceClosedError, KshmSystemError, LeaseEndedError, LockCancelledError, NoRingError, ReadOnlyDeviceError,
} from './errors.js';
import { eventsError, eventStream, type EventRecord, type EventsOptions } from './events.js';
import { LockQueue, type Hold } from './lock-queue.js';
import { select } from './operators/select.js';
import type { FieldMap, Layout, LayoutValue } from './layout.js';
import { selectLayout } from './operators/select-layout.js';
import { createPage, endPage, type Page } from './page.js';
import type { Snapshot } from './snapshot.js';
import { snapshotStream } from './snapshot-stream.js';
import type { Device, KernelWriteOptions, Lease, TransactionOptions } from './types.js';

/**
 * The {@link Device} implementation shared by every backend. It keeps a FIFO
 * queue of this device's lock requests in JS, so that at most one call per
 * device waits on the libuv pool at any time.
 *
 * @example
 * ```ts
 * // A custom backend (see Backend) gets the whole API:
 * const device: Device = new KshmDevice(myBackend);
 * ```
 */
export class KshmDevice implements Device {
  readonly snapshots$: Observable<Snapshot>;
  readonly #backend: Backend;
  readonly #queue: LockQueue;
  readonly #closed$ = new Subject<void>();
  /** Tells the holder of a lost lock (its lease) that it is gone. */
  readonly #lost = new Map<Hold, () => void>();
  readonly #stopLost: (() => void) | undefined;
  #dataView: DataView | undefined;

  /**
   * `scheduler`: timeouts and retries (default asyncScheduler); `fastPath`:
   * the default of {@link TransactionOptions.fastPath} for this device.
   */
  constructor(backend: Backend,
    options: { scheduler?: SchedulerLike | undefined; fastPath?: boolean | undefined } = {}) {
    this.#backend = backend;
    const scheduler = options.scheduler ?? asyncScheduler;
    this.#queue = new LockQueue(backend, scheduler, options.fastPath !== false);
    this.#stopLost = backend.watchLockLost?.(() => {
      const hold = this.#queue.lost();
      if (!hold) return;
      this.#lost.get(hold)?.();
    });
    const shared$ = snapshotStream({
      backend, scheduler, closed$: this.#closed$, heldPage: () => this.#queue.holder?.page,
    });
    this.snapshots$ = defer(() => (this.closed ? throwError(() => new DeviceClosedError()) : shared$));
  }

  get path(): string { return this.#backend.path; }
  get readOnly(): boolean { return this.#backend.readOnly; }
  get size(): number { return this.#backend.size; }
  get closed(): boolean { return this.#queue.closed; }

  select$<T>(project: (snapshot: Snapshot) => T, compare?: (a: T, b: T) => boolean): Observable<T>;
  select$<M extends FieldMap>(layout: Layout<M>, offset?: number): Observable<LayoutValue<M>>;
  select$<T>(project: ((snapshot: Snapshot) => T) | Layout, arg?: ((a: T, b: T) => boolean) | number): Observable<unknown> {
    if (typeof project !== 'function') return this.snapshots$.pipe(selectLayout(project, arg as number | undefined));
    return this.snapshots$.pipe(select(project, arg as ((a: T, b: T) => boolean) | undefined));
  }

  /** A page over the shared data for `hold` (one DataView per device, not per page). */
  #page(hold: Hold, ownerDied: boolean, generation: bigint): Page {
    const data = this.#backend.data;
    this.#dataView ??= new DataView(data.buffer, data.byteOffset, data.byteLength);
    hold.page = createPage(data, ownerDied, generation, this.#dataView);
    return hold.page;
  }

  transaction<R>(fn: (page: Page) => R, options: TransactionOptions = {}): Observable<R> {
    return new Observable<R>((subscriber) => this.#queue.lock(options, {
      granted: (hold, ownerDied, generation) =>
        this.#run(fn, subscriber, hold, this.#page(hold, ownerDied, generation), options.signal),
      failed: (e) => subscriber.error(e),
    }));
  }

  /** Runs fn on the page just granted, then commits, or restores and aborts. */
  #run<R>(fn: (page: Page) => R, subscriber: Subscriber<R>, hold: Hold, page: Page,
    signal: AbortSignal | undefined): void {
    let result: R;
    try {
      result = fn(page);
      if (result !== null && typeof (result as { then?: unknown })?.then === 'function') {
        throw new TypeError('a transaction function runs synchronously and cannot return a promise: '
          + 'use device.lock$() for work across async boundaries');
      }
      // Aborted while it held the lock (fn aborted it): undone like an unsubscribe.
      if (signal?.aborted) throw new LockCancelledError(signal.reason);
    } catch (e) {
      endPage(page, true);
      this.#queue.release(hold, false); // an abort; fn's error is what the subscriber needs
      subscriber.error(this.closed ? new DeviceClosedError() : e);
      return;
    }
    endPage(page, false);
    // fn may have closed the device: close() already restored its writes.
    const errno = this.closed ? 0 : this.#queue.release(hold, true);
    if (this.closed) subscriber.error(new DeviceClosedError());
    else if (errno) subscriber.error(new KshmSystemError('UNLOCK', errno));
    else {
      subscriber.next(result);
      subscriber.complete();
    }
  }

  transact<T, R>(fn: (page: Page, value: T) => R, options?: TransactionOptions): OperatorFunction<T, R> {
    return (source) => source.pipe(concatMap((value) => this.transaction((page) => fn(page, value), options)));
  }

  lock$(options: TransactionOptions = {}): Observable<Lease> {
    const { signal } = options;
    return defer(() => {
      const resource = new LeaseResource();
      return using(() => resource, () => new Observable<Lease>((subscriber) => {
        const closing = this.#closed$.subscribe(() => subscriber.complete());
        let stopAbort: (() => void) | undefined;
        let held: Hold | undefined;
        const teardown = this.#queue.lock(options, {
          granted: (hold, ownerDied, generation) => {
            const page = this.#page(hold, ownerDied, generation);
            held = hold;
            const end = (commit: boolean, error?: unknown): void => {
              if (!page.live) throw new LeaseEndedError();
              endPage(page, !commit);
              resource.end = undefined;
              stopAbort?.();
              this.#lost.delete(hold);
              const errno = this.#queue.release(hold, commit);
              if (errno) subscriber.error(new KshmSystemError('UNLOCK', errno));
              else if (error !== undefined) subscriber.error(error);
              else subscriber.complete();
            };
            resource.end = () => { if (page.live) end(false); };
            // The lock was taken from this lease (its holder died): it ends, undone by nobody.
            this.#lost.set(hold, () => {
              this.#lost.delete(hold);
              resource.end = undefined;
              stopAbort?.();
              subscriber.error(new LeaseEndedError());
            });
            if (signal) {
              // Aborting after the grant ends the lease like unsubscribing, with LockCancelledError.
              const onAbort = (): void => { if (page.live) end(false, new LockCancelledError(signal.reason)); };
              signal.addEventListener('abort', onAbort, { once: true });
              stopAbort = () => signal.removeEventListener('abort', onAbort);
            }
            const lease: Lease = {
              page,
              ownerDied,
              get active() { return page.live; },
              commit: () => end(true),
              abort: () => end(false),
              [Symbol.dispose]: () => { if (page.live) end(false); },
            };
            subscriber.next(lease);
          },
          failed: (e) => subscriber.error(e),
        });
        return () => {
          closing.unsubscribe();
          stopAbort?.();
          if (held) this.#lost.delete(held);
          teardown();
        };
      }));
    });
  }

  kernelWrite(offset: number, bytes: ArrayLike<number>, options: KernelWriteOptions = {}): Observable<bigint> {
    return new Observable<bigint>((subscriber) => this.#queue.kernelWrite(offset, Uint8Array.from(bytes),
      options.timeoutMs, {
        written: (generation) => {
          subscriber.next(generation);
          subscriber.complete();
        },
        failed: (e) => subscriber.error(e),
      }));
  }

  // ---- events (EVENTS: the ring of records) ----

  events$(options: EventsOptions = {}): Observable<EventRecord> {
    return eventStream({ backend: this.#backend, closed: () => this.closed, closed$: this.#closed$ }, options);
  }

  emit(type: number, bytes: ArrayLike<number> = []): bigint {
    if (this.closed) throw new DeviceClosedError();
    if (this.readOnly) throw new ReadOnlyDeviceError();
    if (!Number.isInteger(type) || type < 0 || type > 0xffffffff) {
      throw new RangeError(`a record type is a u32 (0 to 4294967295), got ${type}`);
    }
    const data = Uint8Array.from(bytes);
    if (data.length > EV_MAX_DATA) {
      throw new RangeError(`a record carries at most ${EV_MAX_DATA} bytes, got ${data.length}`);
    }
    if (!this.#backend.emit) throw new NoRingError();
    const { errno, seq } = this.#backend.emit(type, data);
    if (errno) throw eventsError('EMIT', errno);
    return seq;
  }

  info(): DeviceInfo & { toJSON(): DeviceInfoJSON } {
    if (this.closed) throw new DeviceClosedError();
    const info = this.#backend.info();
    // Not enumerable: spreads and deep comparisons see only the figures.
    Object.defineProperty(info, 'toJSON', {
      value: (): DeviceInfoJSON => ({
        ...info, counters: { ...info.counters }, generation: info.generation.toString(),
        ...(info.ring ? { ring: { ...info.ring } } : {}),
      }),
      enumerable: false,
      configurable: true,
      writable: true,
    });
    return info as DeviceInfo & { toJSON(): DeviceInfoJSON };
  }

  close(): void {
    if (this.closed) return;
    this.#stopLost?.();
    this.#lost.clear();
    this.#queue.close();
    this.#closed$.next();
    this.#closed$.complete();
    this.#backend.close();
  }

  /** `using device = ...`: closes the device (idempotent). */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** The resource of a lock$ subscription: ends the lease when it is unsubscribed. */
class LeaseResource implements Unsubscribable {
  end: (() => void) | undefined;

  unsubscribe(): void {
    this.end?.();
  }
}
