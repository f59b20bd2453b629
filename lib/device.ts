// SPDX-License-Identifier: MIT
import {
  asyncScheduler, concatMap, defer, Observable, Subject, throwError,
  type OperatorFunction, type SchedulerLike, type Subscriber,
} from 'rxjs';
import type { Backend, DeviceInfo, DeviceInfoJSON } from './backend.js';
import { checkRange, toBytes } from './bytes.js';
import { DeviceClosedError, LeaseEndedError, LockCancelledError, systemError } from './errors.js';
import { emitRecord, eventStream, type EventRecord, type EventsOptions } from './events.js';
import { GrantedLease, LeaseEmitter, runTransaction, type HoldContext } from './lease.js';
import { grantGeneration, LockQueue, type Hold } from './lock-queue.js';
import { select } from './operators/select.js';
import { planOf, type FieldMap, type Layout, type LayoutValue } from './layout.js';
import { selectLayout } from './operators/select-layout.js';
import {
  createPage, createStagedPage, endPage, nextGeneration, sameGeneration, stagedWrites, stagePage, UndoLog, type Gen, type Page,
} from './page.js';
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
  /** The old bytes of the in-place page's writes (one holder at a time: reused). */
  readonly #undo = new UndoLog();
  /** A staged holder's own copy of the data (one holder at a time: reused), and its view. */
  #copy: Uint8Array | undefined;
  #copyView: DataView | undefined;
  /**
   * The generation whose committed data the copy holds (undefined: none):
   * set only by this device's own successful staged commit. Every commit
   * advances the generation (kshm.h) and an aborted or dead holder leaves
   * the data as committed or says ownerDied, so a staged grant at this
   * generation, ownerDied clear, finds the data equal to the copy and
   * skips copying the region (a lease on a 1024-page region would copy
   * 4 MiB). A writer that ignores the lock gets no such promise anyway.
   */
  #copyGeneration: Gen | undefined;
  readonly #scheduler: SchedulerLike;
  readonly #holds: HoldContext;

  /**
   * `scheduler`: timeouts and retries (default asyncScheduler); `fastPath`:
   * the default of {@link TransactionOptions.fastPath} for this device.
   */
  constructor(backend: Backend,
    options: { scheduler?: SchedulerLike | undefined; fastPath?: boolean | undefined } = {}) {
    this.#backend = backend;
    const scheduler = options.scheduler ?? asyncScheduler;
    this.#scheduler = scheduler;
    this.#queue = new LockQueue(backend, scheduler, options.fastPath !== false);
    this.#holds = {
      queue: this.#queue, lost: this.#lost, closed$: this.#closed$,
      stage: (page) => {
        if (!this.#stages) return;
        const [copy, view] = this.#stagingCopy();
        this.#copyGeneration = undefined;
        stagePage(page, copy, view);
        this.#backend.stage?.();
      },
    };
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

  snapshotRange$(offset: number, length: number): Observable<Snapshot> {
    checkRange(offset, length, this.size);
    const shared$ = snapshotStream({
      backend: this.#backend, scheduler: this.#scheduler, closed$: this.#closed$,
      heldPage: () => this.#queue.holder?.page,
    }, { offset, length });
    return defer(() => (this.closed ? throwError(() => new DeviceClosedError()) : shared$));
  }

  select$<T>(project: (snapshot: Snapshot) => T, compare?: (a: T, b: T) => boolean): Observable<T>;
  select$<M extends FieldMap>(layout: Layout<M>, offset?: number): Observable<LayoutValue<M>>;
  select$<T>(project: ((snapshot: Snapshot) => T) | Layout, arg?: ((a: T, b: T) => boolean) | number): Observable<unknown> {
    if (typeof project !== 'function') {
      // Only the layout's bytes are copied per commit; an out-of-range layout keeps its error for subscribe time.
      const offset = (arg as number | undefined) ?? 0;
      const size = planOf(project).size;
      const inRange = Number.isInteger(offset) && offset >= 0 && offset + size <= this.size && size > 0;
      const source$ = inRange ? this.snapshotRange$(offset, size) : this.snapshots$;
      return source$.pipe(selectLayout(project, arg as number | undefined));
    }
    return this.snapshots$.pipe(select(project, arg as ((a: T, b: T) => boolean) | undefined));
  }

  /** A page over the shared data for `hold` (one DataView per device, not per page). */
  #page(hold: Hold, ownerDied: boolean, generation: Gen): Page {
    const data = this.#backend.data;
    this.#dataView ??= new DataView(data.buffer, data.byteOffset, data.byteLength);
    hold.page = createPage(data, ownerDied, generation, this.#dataView, this.#undo);
    return hold.page;
  }

  /** Whether the backend stages (Backend.stage and Backend.publish): leases and async transactions then do. */
  get #stages(): boolean {
    const b = this.#backend;
    return typeof b.publish === 'function' && typeof b.stage === 'function';
  }

  /** This device's copy of the data for a staged holder, and its view. */
  #stagingCopy(): [Uint8Array, DataView] {
    const copy = this.#copy ??= new Uint8Array(this.#backend.size);
    this.#copyView ??= new DataView(copy.buffer, copy.byteOffset, copy.byteLength);
    return [copy, this.#copyView];
  }

  /** A staged page for `hold`: a copy of the committed data (nobody else writes while we hold the lock). */
  #stagedPage(hold: Hold, ownerDied: boolean, generation: Gen): Page {
    const [copy, view] = this.#stagingCopy();
    const current = this.#copyGeneration;
    this.#copyGeneration = undefined; // the copy is about to diverge (writes, or an abort)
    if (ownerDied || current === undefined || !sameGeneration(current, generation)) copy.set(this.#backend.data);
    hold.page = createStagedPage(copy, ownerDied, generation, view);
    return hold.page;
  }

  transaction<R>(fn: (page: Page) => PromiseLike<R>, options?: TransactionOptions): Observable<R>;
  transaction<R>(fn: (page: Page) => R, options?: TransactionOptions): Observable<R>;
  transaction<R>(fn: (page: Page) => R | PromiseLike<R>, options: TransactionOptions = NO_OPTIONS): Observable<R> {
    return new Observable<R>((subscriber) => {
      const queue = this.#queue;
      // The lock free and nobody here ahead: run now, with no request to set up.
      const now = queue.grantNow(options);
      if (now) {
        const hold = queue.holder as Hold;
        return runTransaction(this.#holds, fn, subscriber, hold, this.#page(hold, now.ownerDied, grantGeneration(now)), options.signal);
      }
      return this.#queued(fn, subscriber, options);
    });
  }

  /** A transaction that waits its turn in the lock queue; returns its teardown. */
  #queued<R>(fn: (page: Page) => R | PromiseLike<R>, subscriber: Subscriber<R>, options: TransactionOptions):
    (() => void) | undefined {
    let abandon: (() => void) | undefined;
    const teardown = this.#queue.lock(options, {
      granted: (hold, ownerDied, generation) => {
        abandon = runTransaction(this.#holds, fn, subscriber, hold, this.#page(hold, ownerDied, generation), options.signal);
      },
      failed: (e) => subscriber.error(e),
    }, false, true);
    // Ended already: nothing to tear down.
    if (subscriber.closed) return undefined;
    return () => {
      abandon?.();
      teardown();
    };
  }

  transact<T, R>(fn: (page: Page, value: T) => PromiseLike<R>, options?: TransactionOptions): OperatorFunction<T, R>;
  transact<T, R>(fn: (page: Page, value: T) => R, options?: TransactionOptions): OperatorFunction<T, R>;
  transact<T, R>(fn: (page: Page, value: T) => R | PromiseLike<R>, options?: TransactionOptions): OperatorFunction<T, R> {
    return (source) => source.pipe(concatMap((value) => this.transaction<R>((page) => fn(page, value) as R, options)));
  }

  lock$(options: TransactionOptions = {}): Observable<Lease> {
    const { signal } = options;
    return new Observable<Lease>((subscriber) => {
      /** Ends the lease granted (an abort), for the teardown: undefined once it ended. */
      let endLease: (() => void) | undefined;
      const emitter = new LeaseEmitter(subscriber);
      const closing = this.#closed$.subscribe(() => emitter.end());
      let stopAbort: (() => void) | undefined;
      let held: Hold | undefined;
      const staged = this.#stages;
      const teardown = this.#queue.lock(options, {
        granted: (hold, ownerDied, generation) => {
          const page = staged ? this.#stagedPage(hold, ownerDied, generation) : this.#page(hold, ownerDied, generation);
          held = hold;
          const end = (commit: boolean, error?: unknown): void => {
            if (!page.live) throw new LeaseEndedError();
            const writes = stagedWrites(page);
            endPage(page, !commit);
            endLease = undefined;
            stopAbort?.();
            this.#lost.delete(hold);
            const errno = this.#queue.release(hold, commit, writes);
            // Published: the copy is the data of the generation after the grant's.
            if (staged && commit && errno === 0 && !this.closed) this.#copyGeneration = nextGeneration(generation);
            emitter.end(errno ? systemError('UNLOCK', errno) : error);
          };
          endLease = () => { if (page.live) end(false); };
          // The lock was taken from this lease (its holder died): it ends, undone by nobody.
          this.#lost.set(hold, () => {
            this.#lost.delete(hold);
            endLease = undefined;
            stopAbort?.();
            emitter.end(new LeaseEndedError());
          });
          if (signal) {
            // Aborting after the grant ends the lease like unsubscribing, with LockCancelledError.
            const onAbort = (): void => { if (page.live) end(false, new LockCancelledError(signal.reason)); };
            signal.addEventListener('abort', onAbort, { once: true });
            stopAbort = () => signal.removeEventListener('abort', onAbort);
          }
          emitter.emit(new GrantedLease(page, ownerDied, end));
        },
        failed: (e) => subscriber.error(e),
      }, staged);
      return () => {
        closing.unsubscribe();
        stopAbort?.();
        if (held) this.#lost.delete(held);
        teardown();
        // An unsubscribe during the lease aborts it.
        endLease?.();
      };
    });
  }

  kernelWrite(offset: number, bytes: ArrayLike<number>, options: KernelWriteOptions = {}): Observable<bigint> {
    return new Observable<bigint>((subscriber) => this.#queue.kernelWrite(offset, toBytes(bytes),
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
    return emitRecord(this.#backend, this.closed, type, bytes);
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

/** The options of a transaction given none (one object for all). */
const NO_OPTIONS: TransactionOptions = Object.freeze({});
