// SPDX-License-Identifier: MIT
import type { SchedulerLike, Subscription } from 'rxjs';
import { constants } from 'node:os';
import { TICK_SIZE } from '../abi.js';

const E = constants.errno;

/** Who can hold the fake lock: a fake open file, or the kernel. */
export type Holder = object;

interface Waiter {
  holder: Holder;
  grant: (ownerDied: boolean) => void;
  timer: Subscription | undefined;
}

/**
 * The state a real driver keeps in the kernel, in TypeScript: the shared
 * bytes, a FIFO hand-off lock with owner-died recovery, the seqcount, the
 * generation and the counters. Time (timeouts, ticks, callbacks that the
 * driver would deliver from another thread) goes through an RxJS scheduler,
 * so tests under TestScheduler.run are deterministic.
 */
export class FakeRegion {
  readonly data: Uint8Array;
  readonly pageSize = 4096;
  readonly kernel: Holder = { kernel: true };
  seq = 0;
  generation = 0n;
  owner: Holder | undefined;
  ownerPid = 0;
  ownerDied = false;
  tickMs = 0;
  tickCount = 0n;
  readonly waiters: Waiter[] = [];
  readonly watchers = new Set<() => void>();
  readonly counters = {
    locksGranted: 0, locksContended: 0, lockTimeouts: 0, lockCancels: 0, ownerDied: 0,
    commits: 0, aborts: 0, kernelWrites: 0, ticks: 0, ticksSkipped: 0,
  };
  #ticker: Subscription | undefined;
  #notify: Subscription | undefined;

  constructor(readonly pages: number, readonly scheduler: SchedulerLike) {
    if (!Number.isInteger(pages) || pages < 1 || pages > 1024) {
      throw new RangeError(`pages must be a whole number from 1 to 1024, got ${pages}`);
    }
    this.data = new Uint8Array(pages * this.pageSize);
  }

  get size(): number { return this.data.length; }

  #take(holder: Holder, pid: number): boolean {
    this.owner = holder;
    this.ownerPid = holder === this.kernel ? 0 : pid;
    this.counters.locksGranted++;
    this.seq++;
    return this.ownerDied;
  }

  /** Non-blocking: the lock if free (and nobody queued), else EBUSY/EDEADLK. */
  tryLock(holder: Holder, pid = process.pid): { errno: number; ownerDied: boolean } {
    if (this.owner === holder) return { errno: E.EDEADLK, ownerDied: false };
    if (this.owner || this.waiters.length > 0) return { errno: E.EBUSY, ownerDied: false };
    return { errno: 0, ownerDied: this.#take(holder, pid) };
  }

  /** Queues for the lock; `done` runs on a later scheduler tick. Returns cancel. */
  lock(holder: Holder, timeoutMs: number, done: (errno: number, ownerDied: boolean) => void,
    pid = process.pid): () => void {
    const first = this.tryLock(holder, pid);
    if (first.errno !== E.EBUSY) {
      this.scheduler.schedule(() => done(first.errno, first.ownerDied));
      return () => {};
    }
    this.counters.locksContended++;
    const waiter: Waiter = {
      holder,
      timer: undefined,
      grant: (ownerDied) => {
        this.ownerPid = holder === this.kernel ? 0 : pid;
        this.scheduler.schedule(() => done(0, ownerDied));
      },
    };
    const leave = (errno: number): void => {
      const i = this.waiters.indexOf(waiter);
      if (i < 0) return; // granted meanwhile: the grant wins
      this.waiters.splice(i, 1);
      waiter.timer?.unsubscribe();
      this.scheduler.schedule(() => done(errno, false));
    };
    if (timeoutMs > 0) {
      waiter.timer = this.scheduler.schedule(() => {
        if (this.waiters.includes(waiter)) this.counters.lockTimeouts++;
        leave(E.ETIMEDOUT);
      }, timeoutMs);
    }
    this.waiters.push(waiter);
    return () => {
      if (this.waiters.includes(waiter)) this.counters.lockCancels++;
      leave(E.ECANCELED);
    };
  }

  /** Releases: hands the lock to the longest waiter. 0 or EPERM. */
  unlock(holder: Holder, commit: boolean): number {
    if (this.owner !== holder) return E.EPERM;
    if (commit) {
      this.generation++;
      this.counters.commits++;
      if (holder !== this.kernel) this.ownerDied = false;
    } else {
      this.counters.aborts++;
    }
    this.#release();
    if (commit) this.#notifyWatchers();
    return 0;
  }

  #release(): void {
    if (this.seq & 1) this.seq++;
    const next = this.waiters.shift();
    if (!next) {
      this.owner = undefined;
      this.ownerPid = 0;
      return;
    }
    next.timer?.unsubscribe();
    next.grant(this.#take(next.holder, 0));
  }

  /** The holder's file was closed or its process died: pass the lock on with OWNER_DIED. */
  ownerGone(holder: Holder): void {
    for (const w of [...this.waiters]) {
      if (w.holder === holder) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.timer?.unsubscribe();
        w.grant = () => {};
      }
    }
    if (this.owner === holder) this.killHolder();
  }

  /** The current holder dies mid-transaction. */
  killHolder(): void {
    if (!this.owner) throw new Error('nobody holds the lock');
    this.ownerDied = true;
    this.counters.ownerDied++;
    this.#release();
  }

  /** Poll readiness: level-triggered in the driver, so several commits wake once. */
  #notifyWatchers(): void {
    if (this.#notify) return;
    this.#notify = this.scheduler.schedule(() => {
      this.#notify = undefined;
      for (const w of [...this.watchers]) w();
    });
  }

  /** The kernel writes `bytes` at `offset` and commits, if the lock is free. */
  kernelWrite(offset: number, bytes: Uint8Array): bigint {
    const r = this.tryLock(this.kernel);
    if (r.errno) throw new Error('the lock is held: the kernel cannot write now (release it first)');
    this.data.set(bytes, offset);
    this.counters.kernelWrites++;
    this.unlock(this.kernel, true);
    return this.generation;
  }

  /** One tick of the kernel ticker: a tick record at the end of the data, committed. */
  tick(): boolean {
    const r = this.tryLock(this.kernel);
    if (r.errno) {
      this.counters.ticksSkipped++;
      return false;
    }
    const view = new DataView(this.data.buffer, this.data.byteOffset, this.data.byteLength);
    this.tickCount++;
    view.setBigUint64(this.size - TICK_SIZE, this.tickCount, true);
    view.setBigUint64(this.size - TICK_SIZE + 8, BigInt(Math.round(this.scheduler.now() * 1e6)), true);
    this.counters.ticks++;
    this.unlock(this.kernel, true);
    return true;
  }

  /** Starts (ms > 0) or stops (0) the ticker, like the driver's tick_ms parameter. */
  setTickMs(ms: number): void {
    if (!Number.isInteger(ms) || ms < 0 || ms > 3600000) throw new RangeError(`tick_ms must be 0..3600000, got ${ms}`);
    this.tickMs = ms;
    this.#ticker?.unsubscribe();
    this.#ticker = undefined;
    if (ms > 0) {
      const region = this;
      this.#ticker = this.scheduler.schedule(function tickAgain(this: { schedule(s?: unknown, d?: number): void }) {
        region.tick();
        this.schedule(undefined, ms);
      }, ms);
    }
  }
}
