import {
  asyncScheduler, concatMap, defer, distinctUntilChanged, map, Observable, ReplaySubject, share, Subject,
  throwError, using, type OperatorFunction, type SchedulerLike, type Subscriber, type Subscription, type Unsubscribable,
} from 'rxjs';
import { constants } from 'node:os';
import type { Backend, DeviceInfo, LockAttempt } from './backend.js';
import {
  DeviceClosedError, KshmError, KshmSystemError, LeaseEndedError, LockCancelledError,
  LockTimeoutError, lockError, ReadOnlyDeviceError,
} from './errors.js';
import type { FieldMap, Layout, LayoutValue } from './layout.js';
import { selectLayout } from './operators/select-layout.js';
import { Page } from './page.js';
import { Snapshot } from './snapshot.js';

const E = constants.errno;

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
  /** Give up with {@link LockTimeoutError} after this many ms of waiting (default: wait). */
  timeoutMs?: number;
  /** Aborting works like unsubscribing, and errors with {@link LockCancelledError}. */
  signal?: AbortSignal;
  /**
   * Take a free lock through the shared lock word (a compare-and-swap on the
   * mapped control page: no syscall, no native call), and release it there
   * (a syscall only when someone waits or a subscriber sleeps). `false`
   * always uses the driver's LOCK and UNLOCK ioctls. Default true. A taken
   * lock is waited for in the driver's FIFO queue either way, so both paths
   * are equally fair and robust (a holder that dies is detected the same).
   */
  fastPath?: boolean;
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
  /** How long the kernel may wait for the lock, 1 ms or more (default 1000). */
  timeoutMs?: number;
}

/**
 * The lock, held while a {@link Device.lock$} subscription lasts: for work
 * across async boundaries. Nothing written through `page` is published until
 * `commit()`; ending the lease any other way (unsubscribe, `abort()`, an
 * error, the device closing) restores every byte written and releases the
 * lock with ABORT.
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
}

/**
 * An open kshm device: the shared pages as RxJS streams, and transactions
 * under the lock that the kernel owns. Made by `openDevice` (the driver) or
 * `createFakeDevice` (kshm/testing); both behave the same.
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
  /** A field derived from each snapshot, emitted when it changes. */
  select$<T>(project: (snapshot: Snapshot) => T, compare?: (a: T, b: T) => boolean): Observable<T>;
  /** The typed object of `layout` at `offset`, emitted when a field changed (see {@link selectLayout}). */
  select$<M extends FieldMap>(layout: Layout<M>, offset?: number): Observable<LayoutValue<M>>;
  /**
   * A cold observable: on subscribe it takes the lock, runs `fn(page)`
   * synchronously, commits, then emits fn's result and completes. If fn
   * throws, every byte it wrote is restored, the lock is released with ABORT
   * and the error goes to the subscriber. Unsubscribing while waiting
   * cancels the wait.
   */
  transaction<R>(fn: (page: Page) => R, options?: TransactionOptions): Observable<R>;
  /**
   * The {@link transact} operator bound to this device: one transaction per
   * source value, in order, emitting each result.
   */
  transact<T, R>(fn: (page: Page, value: T) => R, options?: TransactionOptions): OperatorFunction<T, R>;
  /** Holds the lock while subscribed; see {@link Lease}. */
  lock$(options?: TransactionOptions): Observable<Lease>;
  /**
   * Asks the kernel to write `bytes` at `offset` under the lock, from kernel
   * context, and commit. Emits the new generation and completes.
   */
  kernelWrite(offset: number, bytes: ArrayLike<number>, options?: KernelWriteOptions): Observable<bigint>;
  /** The driver's figures: ABI, pages, generation, holder, waiters, counters. */
  info(): DeviceInfo;
  /**
   * Closes the device (idempotent): waits and queued calls fail with
   * {@link DeviceClosedError}, streams complete, a held lease is aborted.
   */
  close(): void;
}

type Grant = (ownerDied: boolean, generation: bigint) => void;

interface Request {
  kind: 'lock' | 'kwrite';
  timeoutMs: number;
  fastPath: boolean;
  deadline: number;
  state: 'queued' | 'waiting' | 'done';
  cancelled: boolean;
  grant: Grant;
  fail: (e: Error) => void;
  start?: () => void;
  cancelWait?: () => void;
  timer?: Subscription;
  page?: Page;
}

/** timeoutMs checked: a RangeError when invalid (or -1 when `raise` is false); 0 when absent. */
function validTimeout(ms: number | undefined, raise = true): number {
  if (ms === undefined) return 0;
  if (!Number.isInteger(ms) || ms < 1 || ms > 0xffffffff) {
    if (!raise) return -1;
    throw new RangeError(`timeoutMs must be a whole number from 1 to 4294967295, got ${ms}`);
  }
  return ms;
}

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
  readonly #scheduler: SchedulerLike;
  readonly #queue: Request[] = [];
  readonly #closed$ = new Subject<void>();
  #holder: Request | undefined;
  #busy = false;
  #pumping = false;
  #pumpAgain = false;
  #closed = false;
  #lastSnapshot: Snapshot | undefined;

  /** The default of {@link TransactionOptions.fastPath} for this device. */
  readonly #fastPath: boolean;
  /** The holder record of a transaction granted at once (one holder at a time). */
  readonly #inlineHolder = { state: 'done' } as Request;

  constructor(backend: Backend, options: { scheduler?: SchedulerLike; fastPath?: boolean } = {}) {
    this.#backend = backend;
    this.#scheduler = options.scheduler ?? asyncScheduler;
    this.#fastPath = options.fastPath !== false;
    const shared$ = this.#snapshotSource().pipe(
      distinctUntilChanged((a, b) => a.generation === b.generation),
      share({
        connector: () => new ReplaySubject<Snapshot>(1),
        resetOnError: true,
        resetOnComplete: true,
        resetOnRefCountZero: true,
      }),
    );
    this.snapshots$ = defer(() => (this.#closed ? throwError(() => new DeviceClosedError()) : shared$));
  }

  get path(): string { return this.#backend.path; }
  get readOnly(): boolean { return this.#backend.readOnly; }
  get size(): number { return this.#backend.size; }
  get closed(): boolean { return this.#closed; }

  /* ---- snapshots --------------------------------------------------------- */

  /** The latest consistent snapshot, reused (no copy) while nothing changed. */
  #takeSnapshot(): Snapshot | undefined {
    const last = this.#lastSnapshot;
    const held = this.#holder?.page;
    if (held?.live) {
      // We are the writer: show the committed state, not our work in progress.
      if (last?.generation === held.generation) return last;
      this.#lastSnapshot = new Snapshot(held.committedBytes(), held.generation, -1);
      return this.#lastSnapshot;
    }
    if (last && this.#backend.seq() === last.seq) return last;
    const raw = this.#backend.snapshot();
    if (!raw) return undefined;
    this.#lastSnapshot = new Snapshot(raw.bytes, raw.generation, raw.seq);
    return this.#lastSnapshot;
  }

  #snapshotSource(): Observable<Snapshot> {
    return new Observable<Snapshot>((subscriber) => {
      let retry: Subscription | undefined;
      let backoffMs = 1;
      // A writer is in: try again shortly (only while one is: a commit wakes
      // us anyway, but an abort or a dead holder does not).
      const attempt = (): void => {
        retry = undefined;
        const s = this.#takeSnapshot();
        if (s) {
          backoffMs = 1;
          subscriber.next(s);
          return;
        }
        retry = this.#scheduler.schedule(attempt, backoffMs);
        backoffMs = Math.min(backoffMs * 2, 50);
      };
      const closing = this.#closed$.subscribe(() => subscriber.complete());
      const stop = this.#backend.watchCommits(
        () => { if (!retry) attempt(); },
        (errno) => subscriber.error(new KshmSystemError('poll', errno)),
      );
      attempt();
      return () => {
        stop();
        retry?.unsubscribe();
        closing.unsubscribe();
      };
    });
  }

  select$<T>(project: (snapshot: Snapshot) => T, compare?: (a: T, b: T) => boolean): Observable<T>;
  select$<M extends FieldMap>(layout: Layout<M>, offset?: number): Observable<LayoutValue<M>>;
  select$<T>(project: ((snapshot: Snapshot) => T) | Layout, arg?: ((a: T, b: T) => boolean) | number): Observable<unknown> {
    if (typeof project !== 'function') return this.snapshots$.pipe(selectLayout(project, arg as number | undefined));
    return this.snapshots$.pipe(map(project), distinctUntilChanged(arg as ((a: T, b: T) => boolean) | undefined));
  }

  /* ---- the lock queue ---------------------------------------------------- */

  #enqueue(r: Request): void {
    if (r.timeoutMs > 0) {
      r.timer = this.#scheduler.schedule(() => {
        // Waiting in the kernel already: its own timeout answers.
        if (r.state !== 'queued') return;
        this.#remove(r);
        r.state = 'done';
        r.fail(new LockTimeoutError(r.timeoutMs));
      }, r.timeoutMs);
    }
    this.#queue.push(r);
    this.#pump();
  }

  #remove(r: Request): void {
    const i = this.#queue.indexOf(r);
    if (i >= 0) this.#queue.splice(i, 1);
  }

  /** Cancels a request for an unsubscribe or an abort signal. */
  #cancel(r: Request): void {
    if (r.state === 'queued') {
      this.#remove(r);
      r.state = 'done';
      r.timer?.unsubscribe();
    } else if (r.state === 'waiting' && !r.cancelled) {
      r.cancelled = true;
      r.cancelWait?.();
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
        r.state = 'waiting';
        this.#busy = true;
        r.start?.();
        return;
      }
      const attempt: LockAttempt = this.#backend.surelyTaken?.()
        ? { ok: false, errno: E.EBUSY }
        : this.#backend.tryLock(r.fastPath);
      if (attempt.ok) {
        this.#queue.shift();
        this.#granted(r, attempt.ownerDied, attempt.generation);
        continue;
      }
      if (attempt.errno !== E.EBUSY) {
        this.#queue.shift();
        r.state = 'done';
        r.timer?.unsubscribe();
        r.fail(lockError(attempt.errno, 'LOCK', r.timeoutMs));
        continue;
      }
      let waitMs = 0;
      if (r.timeoutMs > 0) {
        waitMs = Math.ceil(r.deadline - this.#scheduler.now());
        if (waitMs <= 0) {
          this.#queue.shift();
          r.state = 'done';
          r.timer?.unsubscribe();
          r.fail(new LockTimeoutError(r.timeoutMs));
          continue;
        }
      }
      // Contended: wait off the main thread, one call per device at most.
      r.state = 'waiting';
      this.#busy = true;
      r.cancelWait = this.#backend.lock(waitMs, (errno, ownerDied, generation) => {
        this.#busy = false;
        this.#remove(r);
        if (this.#closed) return;
        if (r.cancelled) {
          r.state = 'done';
          if (errno === 0) this.#backend.unlock(false);
        } else if (errno === 0) {
          this.#granted(r, ownerDied, generation);
        } else {
          r.state = 'done';
          r.timer?.unsubscribe();
          r.fail(lockError(errno, 'LOCK', r.timeoutMs));
        }
        this.#pump();
      });
      return;
    }
  }

  #granted(r: Request, ownerDied: boolean, generation: bigint): void {
    r.state = 'done';
    r.timer?.unsubscribe();
    this.#holder = r;
    r.grant(ownerDied, generation);
  }

  /** Releases the lock held for `r`; returns an errno (0: fine). */
  #release(r: Request, commit: boolean): number {
    if (this.#holder !== r) return 0;
    this.#holder = undefined;
    const errno = this.#backend.unlock(commit);
    if (this.#queue.length > 0) this.#pump();
    return errno;
  }

  #request(kind: Request['kind'], options: TransactionOptions, grant: Grant, fail: (e: Error) => void): Request {
    const timeoutMs = validTimeout(options.timeoutMs);
    return {
      kind, timeoutMs, fastPath: options.fastPath ?? this.#fastPath, deadline: this.#scheduler.now() + timeoutMs,
      state: 'queued', cancelled: false, grant, fail,
    };
  }

  /** Why nothing can take the lock or write through this device, if anything. */
  #unusableForWrites(): KshmError | undefined {
    if (this.#closed) return new DeviceClosedError();
    if (this.readOnly) return new ReadOnlyDeviceError();
    return undefined;
  }

  /**
   * Runs `whenGranted` once the lock is held for the subscriber, with the
   * common checks (closed, read-only, abort signal). Returns the teardown.
   */
  #acquire(subscriber: { error(e: unknown): void }, options: TransactionOptions,
    whenGranted: (r: Request, ownerDied: boolean, generation: bigint) => void): () => void {
    const unusable = this.#unusableForWrites();
    if (unusable) {
      subscriber.error(unusable);
      return () => {};
    }
    const { signal } = options;
    if (signal?.aborted) {
      subscriber.error(new LockCancelledError(signal.reason));
      return () => {};
    }
    let r: Request;
    try {
      r = this.#request('lock', options, (ownerDied, generation) => whenGranted(r, ownerDied, generation),
        (e) => subscriber.error(e));
    } catch (e) {
      subscriber.error(e);
      return () => {};
    }
    const onAbort = (): void => {
      if (r.state === 'done') return;
      this.#cancel(r);
      subscriber.error(new LockCancelledError(signal?.reason));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    this.#enqueue(r);
    return () => {
      signal?.removeEventListener('abort', onAbort);
      this.#cancel(r);
    };
  }

  /* ---- transactions and leases ------------------------------------------ */

  #dataView: DataView | undefined;

  /** A page over the shared data (one DataView per device, not per page). */
  #page(ownerDied: boolean, generation: bigint): Page {
    const data = this.#backend.data;
    this.#dataView ??= new DataView(data.buffer, data.byteOffset, data.byteLength);
    return new Page(data, ownerDied, generation, this.#dataView);
  }

  transaction<R>(fn: (page: Page) => R, options: TransactionOptions = {}): Observable<R> {
    return new Observable<R>((subscriber) => {
      // Fast path: nothing queued here, so try the lock right now, with no
      // request bookkeeping. Everything else goes through the queue.
      // The lock-word CAS is its own "is it taken?" test; the ioctl path
      // first asks the free hint, to spare a syscall that would only fail.
      const fastPath = options.fastPath ?? this.#fastPath;
      if (!this.#holder && !this.#busy && this.#queue.length === 0 && !this.#closed && !this.readOnly
        && options.signal?.aborted !== true && (options.timeoutMs === undefined || validTimeout(options.timeoutMs, false) > 0)
        && (fastPath || this.#backend.surelyTaken?.() !== true)) {
        const attempt = this.#backend.tryLock(fastPath);
        if (attempt.ok) {
          this.#runTransaction(fn, subscriber, this.#inlineHolder, attempt.ownerDied, attempt.generation);
          return undefined;
        }
      }
      return this.#acquire(subscriber, options, (r, ownerDied, generation) =>
        this.#runTransaction(fn, subscriber, r, ownerDied, generation));
    });
  }

  /** Runs fn under the lock just granted for `r`, then commits, or restores and aborts. */
  #runTransaction<R>(fn: (page: Page) => R, subscriber: Subscriber<R>, r: Request, ownerDied: boolean,
    generation: bigint): void {
    this.#holder = r;
    const page = this.#page(ownerDied, generation);
    r.page = page;
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
      this.#release(r, false); // an abort; fn's error is what the subscriber needs
      subscriber.error(this.#closed ? new DeviceClosedError() : e);
      return;
    }
    page.end();
    if (this.#closed) {
      // fn closed the device: close() already restored its writes.
      subscriber.error(new DeviceClosedError());
      return;
    }
    const errno = this.#release(r, true);
    if (errno) {
      subscriber.error(new KshmSystemError('UNLOCK', errno));
      return;
    }
    subscriber.next(result);
    subscriber.complete();
  }

  transact<T, R>(fn: (page: Page, value: T) => R, options?: TransactionOptions): OperatorFunction<T, R> {
    return (source) => source.pipe(concatMap((value) => this.transaction((page) => fn(page, value), options)));
  }

  lock$(options: TransactionOptions = {}): Observable<Lease> {
    return defer(() => {
      const holder = new LeaseHolder();
      return using(() => holder, () => new Observable<Lease>((subscriber) => {
        const closing = this.#closed$.subscribe(() => subscriber.complete());
        const teardown = this.#acquire(subscriber, options, (r, ownerDied, generation) => {
          const page = this.#page(ownerDied, generation);
          r.page = page;
          const end = (commit: boolean): void => {
            if (!page.live) throw new LeaseEndedError();
            if (!commit) page.rollback();
            page.end();
            holder.end = undefined;
            const errno = this.#release(r, commit);
            if (errno) subscriber.error(new KshmSystemError('UNLOCK', errno));
            else subscriber.complete();
          };
          holder.end = () => { if (page.live) end(false); };
          subscriber.next({
            page,
            ownerDied,
            get active() { return page.live; },
            commit: () => end(true),
            abort: () => end(false),
          });
        });
        return () => {
          closing.unsubscribe();
          teardown();
        };
      }));
    });
  }

  kernelWrite(offset: number, bytes: ArrayLike<number>, options: KernelWriteOptions = {}): Observable<bigint> {
    return new Observable<bigint>((subscriber) => {
      const unusable = this.#unusableForWrites();
      if (unusable) {
        subscriber.error(unusable);
        return undefined;
      }
      const data = Uint8Array.from(bytes);
      if (!Number.isInteger(offset) || offset < 0 || data.length === 0 || offset + data.length > this.size) {
        subscriber.error(new RangeError(`kernel write of ${data.length} bytes at ${offset} is outside the ${this.size}-byte region`));
        return undefined;
      }
      let r: Request;
      try {
        r = this.#request('kwrite', { timeoutMs: options.timeoutMs ?? 1000 }, () => {}, (e) => subscriber.error(e));
      } catch (e) {
        subscriber.error(e);
        return undefined;
      }
      r.start = () => {
        this.#backend.kernelWrite(offset, data, r.timeoutMs, (errno, generation) => {
          this.#busy = false;
          this.#remove(r);
          r.state = 'done';
          r.timer?.unsubscribe();
          if (!r.cancelled && !this.#closed) {
            if (errno) subscriber.error(errno === E.EDEADLK ? new KshmError('KSHM_DEADLOCK', 'this device holds the lock the kernel needs', { errno })
              : lockError(errno, 'KWRITE', r.timeoutMs));
            else {
              subscriber.next(generation);
              subscriber.complete();
            }
          }
          this.#pump();
        });
      };
      this.#enqueue(r);
      // A kernel write cannot be called back once started; it is bounded by its timeout.
      return () => {
        if (r.state === 'waiting') r.cancelled = true;
        else this.#cancel(r);
      };
    });
  }

  info(): DeviceInfo {
    if (this.#closed) throw new DeviceClosedError();
    return this.#backend.info();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const holder = this.#holder;
    if (holder?.page?.live) {
      holder.page.rollback();
      holder.page.end();
    }
    if (holder) {
      this.#holder = undefined;
      this.#backend.unlock(false);
    }
    const pending = this.#queue.splice(0);
    for (const r of pending) {
      r.timer?.unsubscribe();
      if (r.state === 'done') continue;
      r.state = 'done';
      r.fail(new DeviceClosedError());
    }
    this.#closed$.next();
    this.#closed$.complete();
    this.#backend.close();
  }
}

/** The resource of a lock$ subscription: ends the lease when it is unsubscribed. */
class LeaseHolder implements Unsubscribable {
  end: (() => void) | undefined;

  unsubscribe(): void {
    this.end?.();
  }
}
