// SPDX-License-Identifier: MIT
/**
 * The public types of a kshm device: {@link Device}, {@link Lease} and the
 * options of its calls. {@link KshmDevice} implements them over any backend.
 * @module
 */
import type { Observable, OperatorFunction } from 'rxjs';
import type { DeviceInfo, DeviceInfoJSON } from './backend.js';
import type { EventRecord, EventsOptions } from './events.js';
import type { FieldMap, Layout, LayoutValue } from './layout.js';
import type { Page } from './page.js';
import type { Snapshot } from './snapshot.js';

/**
 * Options of a transaction or lease.
 *
 * @example
 * ```ts
 * const ac = new AbortController();
 * device.transaction(fn, { timeoutMs: 100, signal: ac.signal }).subscribe();
 * ```
 */
export interface TransactionOptions {
  /**
   * Give up with {@link LockTimeoutError} after this many ms of waiting
   * (default, or `undefined`: wait without a limit). `0` tries once: a taken
   * lock fails at once with {@link LockBusyError}.
   */
  timeoutMs?: number | undefined;
  /**
   * Aborting works like unsubscribing, at any moment, and errors with
   * {@link LockCancelledError}: while waiting it cancels the wait; once the
   * lock is granted it ends the lease (every byte written restored, the lock
   * released with ABORT), and a transaction whose `fn` aborts it is undone
   * the same way.
   */
  signal?: AbortSignal | undefined;
  /**
   * Take a free lock through the shared lock word (a compare-and-swap on the
   * mapped control page: no syscall, no native call), and release it there
   * (a syscall only when someone waits or a subscriber sleeps). `false`
   * always uses the driver's LOCK and UNLOCK ioctls. Default true. A taken
   * lock is waited for in the driver's FIFO queue either way, so both paths
   * are equally fair and robust (a holder that dies is detected the same).
   */
  fastPath?: boolean | undefined;
}

/**
 * Options of a kernel write.
 *
 * @example
 * ```ts
 * device.kernelWrite(0, [1, 2, 3], { timeoutMs: 50 }).subscribe((generation) => console.log(generation));
 * ```
 */
export interface KernelWriteOptions {
  /**
   * How long the kernel may wait for the lock, in ms (default, or
   * `undefined`: 1000). `0` tries once: a taken lock fails at once with
   * {@link LockBusyError}.
   */
  timeoutMs?: number | undefined;
}

/**
 * The lock, held while a {@link Device.lock$} subscription lasts: for work
 * across async boundaries. Writes through `page` are staged: they go to the
 * lease's own copy of the data (the lease's reads see them), while every
 * other reader keeps getting the last committed state, and `commit()`
 * publishes the bytes written at once (readers see all of them or none).
 * Ending the lease any other way (unsubscribe, `abort()`, an error, the
 * device closing) releases the lock with ABORT: the shared data was never
 * changed.
 *
 * @example
 * ```ts
 * device.lock$({ timeoutMs: 500 }).pipe(
 *   switchMap(async (lease) => {
 *     lease.page.setU32(0, await fetchNextValue());
 *     lease.commit();
 *   }),
 * ).subscribe();
 * ```
 */
export interface Lease {
  /** The shared data, writable until the lease ends. */
  readonly page: Page;
  /** The previous holder died mid-transaction: the data may be half-written. */
  readonly ownerDied: boolean;
  /** Whether the lease still holds the lock. */
  readonly active: boolean;
  /** Publishes the writes (a new generation), releases the lock and completes the lease. */
  commit(): void;
  /** Restores the bytes written, releases the lock and completes the lease. */
  abort(): void;
  /** `using lease = ...`: aborts the lease if it is still active (a no-op after commit or abort). */
  [Symbol.dispose](): void;
}

/**
 * An open kshm device: the shared pages as RxJS streams, and transactions
 * under the lock that the kernel owns. Made by `openDevice` (the driver) or
 * `createFakeDevice` (kshm/testing); both behave the same. A device is
 * `Disposable`: `using device = await openDevice()` closes it at the end of
 * the scope.
 *
 * @example
 * ```ts
 * const device = await openDevice();
 * device.select$((s) => s.u32(0)).subscribe((n) => console.log('now', n));
 * device.transaction((page) => page.setU32(0, page.u32(0) + 1)).subscribe();
 * ```
 */
export interface Device {
  readonly path: string;
  readonly readOnly: boolean;
  /** Bytes of shared data. */
  readonly size: number;
  readonly closed: boolean;
  /**
   * The current snapshot on subscribe, then one per commit. Consistent
   * (never torn), conflated (a slow subscriber gets the latest), multicast
   * with refCount (one poll handle for every subscriber). Completes when the
   * device closes.
   */
  readonly snapshots$: Observable<Snapshot>;
  /**
   * {@link snapshots$} for a subscriber that reads only the `length` bytes
   * at `offset`: each snapshot holds a copy of that range alone (offsets stay
   * the region's; a read outside the range is a RangeError), so a commit
   * costs a copy of `length` bytes, whatever the region's size. Shared by
   * the subscribers of the returned observable. RangeError at once unless
   * the range lies in the region. `select$(layout, offset)` uses it for the
   * layout's bytes.
   *
   * @example
   * ```ts
   * device.snapshotRange$(8, 8).subscribe((s) => console.log(s.u64(8)));
   * ```
   */
  snapshotRange$(offset: number, length: number): Observable<Snapshot>;
  /** A field derived from each snapshot, emitted when it changes. */
  select$<T>(project: (snapshot: Snapshot) => T, compare?: (a: T, b: T) => boolean): Observable<T>;
  /**
   * The typed object of `layout` at `offset`, emitted when a field changed
   * (see {@link selectLayout}); copies only the layout's bytes per commit
   * ({@link snapshotRange$}).
   */
  select$<M extends FieldMap>(layout: Layout<M>, offset?: number): Observable<LayoutValue<M>>;
  /**
   * A cold observable: on subscribe it takes the lock, runs `fn(page)`,
   * commits, then emits fn's result and completes. If fn throws, every byte
   * it wrote is restored, the lock is released with ABORT and the error goes
   * to the subscriber. Unsubscribing while waiting cancels the wait.
   *
   * A synchronous `fn` writes the shared data in place (the fastest path).
   * An async `fn` (one that returns a promise) holds the lock until the
   * promise settles, and its writes are staged: other readers keep getting
   * the last committed state meanwhile, and the writes are published at
   * once when the promise resolves (then its value is emitted). A rejection,
   * an unsubscribe, the `signal` or the device closing aborts it: the shared
   * data was never changed.
   *
   * @example
   * ```ts
   * device.transaction(async (page) => {
   *   const next = await computeSlowly(page.u32(0));  // readers see the old value meanwhile
   *   page.setU32(0, next);
   *   return next;
   * }).subscribe((n) => console.log('published', n));
   * ```
   */
  transaction<R>(fn: (page: Page) => PromiseLike<R>, options?: TransactionOptions): Observable<R>;
  transaction<R>(fn: (page: Page) => R, options?: TransactionOptions): Observable<R>;
  /**
   * The {@link transact} operator bound to this device: one transaction per
   * source value, in order, emitting each result (an async `fn` is staged,
   * as in {@link transaction}).
   */
  transact<T, R>(fn: (page: Page, value: T) => PromiseLike<R>, options?: TransactionOptions): OperatorFunction<T, R>;
  transact<T, R>(fn: (page: Page, value: T) => R, options?: TransactionOptions): OperatorFunction<T, R>;
  /** Holds the lock while subscribed; see {@link Lease}. */
  lock$(options?: TransactionOptions): Observable<Lease>;
  /**
   * Asks the kernel to write `bytes` at `offset` under the lock, from kernel
   * context, and commit. Emits the new generation and completes. A range
   * outside the region, no bytes, or a value that is not a byte (an integer
   * 0..255) errors with RangeError, nothing written. From a
   * device that holds the lock itself (a lease or transaction of its own)
   * it fails at once with {@link LockDeadlockError} (code `KSHM_DEADLOCK`):
   * the kernel would queue behind that holder.
   */
  kernelWrite(offset: number, bytes: ArrayLike<number>, options?: KernelWriteOptions): Observable<bigint>;
  /**
   * The records of the device's ring (EVENTS), in seq order, each with
   * `seq` (bigint, contiguous per ring), `type`, `timeNs` (bigint), the
   * payload's typed readers and `lostBefore`: how many records were
   * overwritten before this subscriber could read them (0 normally; the
   * kernel never waits for a reader, so a subscriber that stalls longer
   * than the ring lasts learns exactly how many it lost). Each subscription
   * is a reader of its own (`from: 'now'`, the default, or `'oldest'`);
   * records come in batches, one per wake-up, emitted one by one. Completes
   * when the device closes; {@link NoRingError} when the device has no ring.
   */
  events$(options?: EventsOptions): Observable<EventRecord>;
  /**
   * Publishes a record in the device's ring (any u32 `type`, at most 104
   * bytes; never waits: the oldest record is overwritten when the ring is
   * full) and returns its seq. Throws RangeError (type, size),
   * {@link ReadOnlyDeviceError}, {@link NoRingError}, {@link DeviceClosedError}.
   */
  emit(type: number, bytes?: ArrayLike<number>): bigint;
  /**
   * The driver's figures: ABI, pages, generation, holder, waiters, counters.
   * `JSON.stringify(device.info())` works: the object has a `toJSON` that
   * writes `generation` as a decimal string ({@link DeviceInfoJSON}).
   * Throws {@link DeviceClosedError} once the device is closed.
   */
  info(): DeviceInfo & { toJSON(): DeviceInfoJSON };
  /**
   * Closes the device (idempotent): waits and queued calls fail with
   * {@link DeviceClosedError}, streams complete, a held lease is aborted.
   */
  close(): void;
  /** `using device = ...`: the same as {@link close}. */
  [Symbol.dispose](): void;
}
