// SPDX-License-Identifier: MIT
import { constants } from 'node:os';
import { ABI_VERSION, LW_OWNER_MASK } from '../abi.js';
import type { Backend, DeviceInfo, EventsFrom, LockAttempt, RawEvent, RawSnapshot } from '../backend.js';
import type { LockWord, LockWordDriver } from '../lockword.js';
import { DeviceGoneError } from '../errors.js';
import type { FakeRegion } from './fake-region.js';

const E = constants.errno;

/**
 * One opener of a {@link FakeRegion}: what an open file of /dev/kshm is to the
 * driver. `fastPath` takes the lock word with the same {@link LockWord} as
 * the native backend, and falls back to the region's model of the driver
 * exactly where the native backend falls back to the driver.
 */
export class FakeBackend implements Backend {
  readonly #region: FakeRegion;
  readonly #stops = new Set<() => void>();
  readonly #stopLost: () => void;
  readonly #lostWatchers = new Set<() => void>();
  /** Cancels of this opener's kernel writes still waiting for the lock (close cancels them, as the driver does). */
  readonly #kernelWrites = new Set<() => void>();
  /** This opener's id in the lock word. */
  readonly #id: number;
  /** What only the driver does for a fast-path holder: the region's model does it. */
  readonly #driver: LockWordDriver;
  /** The lock is held, taken on the fast path: release it there too. */
  #heldFast = false;
  /** The lock is held staged: the data is written only by publish(). */
  #staged = false;
  #closed = false;

  constructor(region: FakeRegion, readonly path: string, readonly readOnly: boolean) {
    this.#region = region;
    this.#id = region.idOf(this);
    this.#driver = {
      unlockPublished: (commit) => region.unlock(this, commit, true),
      wake: () => region.wake(),
    };
    // killHolder took the lock from this opener: its fast-path hold is gone too.
    this.#stopLost = region.watchLost(this, () => {
      this.#heldFast = false;
      this.#staged = false;
      for (const w of [...this.#lostWatchers]) w();
    });
  }

  get size(): number { return this.#region.size; }
  get data(): Uint8Array { return this.#region.data; }

  /** EBADF when the driver would refuse the call (closed, or opened read-only), ENODEV (destroyed), else 0. */
  #refused(): number {
    if (this.#closed) return E.EBADF;
    if (this.#region.destroyed) return E.ENODEV;
    return this.readOnly ? E.EBADF : 0;
  }

  tryLock(fastPath = true, staged = false): LockAttempt {
    const refused = this.#refused();
    if (refused) return { ok: false, errno: refused };
    this.#region.sync();
    if (fastPath) {
      const taken = this.#region.word.tryLock(this.#id, staged);
      if (taken?.ok) {
        this.#heldFast = true;
        this.#staged = staged;
      }
      if (taken !== undefined) return taken;
    }
    const r = this.#region.tryLock(this, process.pid, staged);
    if (r.errno) return { ok: false, errno: r.errno };
    this.#staged = staged;
    return { ok: true, ownerDied: r.ownerDied, generation: this.#region.generation };
  }

  /**
   * As the native backend's hint: the lock word names a holder, so a
   * tryLock would only fail (a kernel write that tries once then fails at
   * once, with no 1 ms kernel wait, as on the driver).
   */
  surelyTaken(): boolean {
    if (this.#closed) return false;
    this.#region.sync();
    return (this.#region.word.word & LW_OWNER_MASK) !== 0;
  }

  lock(timeoutMs: number, done: (errno: number, ownerDied: boolean, generation: bigint) => void,
    staged = false): () => void {
    const refused = this.#refused();
    if (refused) {
      this.#region.scheduler.schedule(() => done(refused, false, 0n));
      return () => {};
    }
    this.#region.sync();
    return this.#region.lock(this, timeoutMs, (errno, ownerDied) => {
      if (!errno) this.#staged = staged;
      done(errno, ownerDied, this.#region.generation);
    }, process.pid, staged);
  }

  stage(): void {
    if (this.#refused()) return;
    this.#region.sync();
    this.#region.word.leaveWrite();
    this.#staged = true;
    // Readers that found the write section open hear that it closed.
    this.#region.noteReleased();
  }

  publish(src: Uint8Array, ranges: readonly number[]): number {
    const refused = this.#refused();
    if (refused) return refused;
    const r = this.#region;
    r.sync();
    if (r.owner !== this) return E.EPERM;
    r.word.publish(r.data, src, ranges);
    this.#staged = false;
    if (this.#heldFast) {
      this.#heldFast = false;
      const errno = r.word.unlockStaged(this.#id, true, this.#driver);
      r.noteReleased();
      return errno;
    }
    return r.unlock(this, true, true);
  }

  unlock(commit: boolean): number {
    const refused = this.#refused();
    if (refused) return refused;
    this.#region.sync();
    if (this.#staged) {
      if (commit) return this.publish(this.#region.data, []);
      this.#staged = false;
      if (!this.#heldFast) return this.#region.unlock(this, false);
      this.#heldFast = false;
      const errno = this.#region.word.unlockStaged(this.#id, false, this.#driver);
      this.#region.noteReleased();
      return errno;
    }
    if (this.#heldFast) {
      this.#heldFast = false;
      const errno = this.#region.word.unlock(this.#id, commit, this.#driver);
      this.#region.noteReleased();
      return errno;
    }
    return this.#region.unlock(this, commit);
  }

  seq(): number {
    this.#region.sync();
    return this.#region.seq;
  }

  snapshot(offset = 0, length = this.#region.data.length - offset): RawSnapshot | undefined {
    const r = this.#region;
    r.sync();
    if (r.seq & 1) return undefined;
    return { bytes: r.data.slice(offset, offset + length), generation: r.generation, seq: r.seq };
  }

  watchCommits(onCommit: () => void, onError?: (errno: number) => void): () => void {
    const region = this.#region;
    if (region.destroyed) {
      // Destroyed already: the error at once, before any snapshot (as NativeBackend).
      onError?.(E.ENODEV);
      return () => {};
    }
    return this.#tracked(region.watch(onCommit), region.watchGone(() => onError?.(E.ENODEV)));
  }

  watchReleases(onRelease: () => void): () => void {
    return this.#tracked(this.#region.watchReleases(onRelease));
  }

  /**
   * Keeps `stops` (one watch's) for close() to run, and returns the watch's
   * own stop: it runs them once, unless close() has, and tells whether it did.
   */
  #tracked(...stops: (() => void)[]): () => boolean {
    const stop = (): void => {
      for (const s of stops) s();
    };
    this.#stops.add(stop);
    return () => {
      if (!this.#stops.delete(stop)) return false;
      stop();
      return true;
    };
  }

  watchLockLost(onLost: () => void): () => void {
    const w = (): void => onLost();
    this.#lostWatchers.add(w);
    return () => { this.#lostWatchers.delete(w); };
  }

  info(): DeviceInfo {
    const r = this.#region;
    if (r.destroyed && !this.#closed) throw new DeviceGoneError('INFO');
    r.sync();
    return {
      abiVersion: ABI_VERSION,
      pages: r.pages,
      pageSize: r.pageSize,
      size: r.size,
      generation: r.generation,
      holderPid: r.owner ? r.ownerPid : 0,
      locked: r.owner !== undefined,
      kernelHolds: r.owner === r.kernel,
      ownerDied: r.ownerDied,
      waiters: r.waiters.length,
      tickMs: r.tickMs,
      counters: { ...r.counters },
      ...(r.ring ? { ring: { records: r.ring.records, events: Number(r.ring.head), wakeups: r.ring.wakeups } } : {}),
    };
  }

  /**
   * EVENTS: a reader of the region's ring (ENOSPC without one), as the
   * driver's: a destroyed region ends it with ENODEV (after the records
   * published before), and refuses a new one so.
   */
  events(from: EventsFrom, onBatch: (batch: RawEvent[]) => void, onError: (errno: number) => void): () => void {
    const region = this.#region;
    const ring = region.ring;
    if (this.#closed || region.destroyed || !ring) {
      const errno = this.#closed ? E.EBADF : region.destroyed ? E.ENODEV : E.ENOSPC;
      const t = region.scheduler.schedule(() => onError(errno));
      return () => t.unsubscribe();
    }
    const stopRead = ring.read(from, onBatch);
    const stop = this.#tracked(stopRead, region.watchGone(() => {
      if (stop()) onError(E.ENODEV); // else stopped meanwhile
    }));
    return stop;
  }

  emit(type: number, bytes: Uint8Array): { errno: number; seq: bigint } {
    const refused = this.#refused();
    if (refused) return { errno: refused, seq: 0n };
    const ring = this.#region.ring;
    if (!ring) return { errno: E.ENOSPC, seq: 0n };
    return { errno: 0, seq: ring.emit(type, bytes, true) };
  }

  kernelWrite(offset: number, bytes: Uint8Array, timeoutMs: number,
    done: (errno: number, generation: bigint) => void): void {
    const r = this.#region;
    const refused = this.#refused();
    if (refused) {
      r.scheduler.schedule(() => done(refused, 0n));
      return;
    }
    r.sync();
    if (r.owner === this) {
      r.scheduler.schedule(() => done(E.EDEADLK, 0n));
      return;
    }
    // As the driver: the result reaches the caller asynchronously.
    let cancel: (() => void) | undefined;
    let settled = false;
    cancel = r.kernelWrite(offset, bytes, timeoutMs, (errno, generation) => {
      settled = true;
      if (cancel) this.#kernelWrites.delete(cancel);
      r.scheduler.schedule(() => done(errno, generation));
    });
    if (!settled) this.#kernelWrites.add(cancel);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopLost();
    this.#lostWatchers.clear();
    // The driver wakes this file's blocked KWRITE with ECANCELED: the kernel never writes it.
    for (const cancel of [...this.#kernelWrites]) cancel();
    for (const stop of this.#stops) stop();
    this.#stops.clear();
    this.#region.ownerGone(this);
  }
}
