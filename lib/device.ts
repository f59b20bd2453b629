// SPDX-License-Identifier: MIT
import {
  asyncScheduler, concatMap, defer, Observable, Subject, throwError, using,
  type OperatorFunction, type SchedulerLike, type Subscriber, type Unsubscribable,
} from 'rxjs';
import type { Backend, DeviceInfo } from './backend.js';
import { DeviceClosedError, KshmSystemError, LeaseEndedError } from './errors.js';
import { LockQueue, type Hold } from './lock-queue.js';
import { select } from './operators/select.js';
import type { FieldMap, Layout, LayoutValue } from './layout.js';
import { selectLayout } from './operators/select-layout.js';
import { Page } from './page.js';
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
  #dataView: DataView | undefined;

  /** `fastPath`: the default of {@link TransactionOptions.fastPath} for this device. */
  constructor(backend: Backend, options: { scheduler?: SchedulerLike; fastPath?: boolean } = {}) {
    this.#backend = backend;
    const scheduler = options.scheduler ?? asyncScheduler;
    this.#queue = new LockQueue(backend, scheduler, options.fastPath !== false);
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
    hold.page = new Page(data, ownerDied, generation, this.#dataView);
    return hold.page;
  }

  transaction<R>(fn: (page: Page) => R, options: TransactionOptions = {}): Observable<R> {
    return new Observable<R>((subscriber) => this.#queue.lock(options, {
      granted: (hold, ownerDied, generation) => this.#run(fn, subscriber, hold, this.#page(hold, ownerDied, generation)),
      failed: (e) => subscriber.error(e),
    }));
  }

  /** Runs fn on the page just granted, then commits, or restores and aborts. */
  #run<R>(fn: (page: Page) => R, subscriber: Subscriber<R>, hold: Hold, page: Page): void {
    let result: R;
    try {
      result = fn(page);
      if (result !== null && typeof (result as { then?: unknown })?.then === 'function') {
        throw new TypeError('a transaction function runs synchronously and cannot return a promise: '
          + 'use device.lock$() for work across async boundaries');
      }
    } catch (e) {
      page.rollback();
      page.end();
      this.#queue.release(hold, false); // an abort; fn's error is what the subscriber needs
      subscriber.error(this.closed ? new DeviceClosedError() : e);
      return;
    }
    page.end();
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
    return defer(() => {
      const resource = new LeaseResource();
      return using(() => resource, () => new Observable<Lease>((subscriber) => {
        const closing = this.#closed$.subscribe(() => subscriber.complete());
        const teardown = this.#queue.lock(options, {
          granted: (hold, ownerDied, generation) => {
            const page = this.#page(hold, ownerDied, generation);
            const end = (commit: boolean): void => {
              if (!page.live) throw new LeaseEndedError();
              if (!commit) page.rollback();
              page.end();
              resource.end = undefined;
              const errno = this.#queue.release(hold, commit);
              if (errno) subscriber.error(new KshmSystemError('UNLOCK', errno));
              else subscriber.complete();
            };
            resource.end = () => { if (page.live) end(false); };
            subscriber.next({
              page,
              ownerDied,
              get active() { return page.live; },
              commit: () => end(true),
              abort: () => end(false),
            });
          },
          failed: (e) => subscriber.error(e),
        });
        return () => {
          closing.unsubscribe();
          teardown();
        };
      }));
    });
  }

  kernelWrite(offset: number, bytes: ArrayLike<number>, options: KernelWriteOptions = {}): Observable<bigint> {
    return new Observable<bigint>((subscriber) => this.#queue.kernelWrite(offset, Uint8Array.from(bytes),
      options.timeoutMs ?? 1000, {
        written: (generation) => {
          subscriber.next(generation);
          subscriber.complete();
        },
        failed: (e) => subscriber.error(e),
      }));
  }

  info(): DeviceInfo {
    if (this.closed) throw new DeviceClosedError();
    return this.#backend.info();
  }

  close(): void {
    if (this.closed) return;
    this.#queue.close();
    this.#closed$.next();
    this.#closed$.complete();
    this.#backend.close();
  }
}

/** The resource of a lock$ subscription: ends the lease when it is unsubscribed. */
class LeaseResource implements Unsubscribable {
  end: (() => void) | undefined;

  unsubscribe(): void {
    this.end?.();
  }
}
