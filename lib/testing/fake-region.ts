// SPDX-License-Identifier: MIT
import type { FakeRing } from './fake-ring.js';
import type { SchedulerLike, Subscription } from 'rxjs';
import { constants } from 'node:os';
import { CTRL_SIZE, LW_DIED, LW_KERNEL, LW_OWNER_MASK, LW_WAITERS, TICK_SIZE } from '../abi.js';
import { LockWord } from '../lockword.js';

const E = constants.errno;

/** Who can hold the fake lock: a fake open file, or the kernel. */
export type Holder = object;

interface Waiter {
  holder: Holder;
  id: number;
  pid: number;
  grant: (ownerDied: boolean) => void;
  timer: Subscription | undefined;
  /** KSHM_LOCK_STAGED: granted with the write section closed. */
  staged: boolean;
  /** Takes it out of the queue with an errno (a region destroyed: ENODEV). */
  leave?: (errno: number) => void;
}

/**
 * The state a real driver keeps, in TypeScript: the shared bytes, a control
 * page with the lock word, the seqcount and the generation (run by the same
 * {@link LockWord} as the native backend's fast path), and a model of the
 * driver's slow path (kshm_lock.c): a FIFO hand-off lock with owner-died
 * recovery that keeps the word as the driver does (the holder's id, WAITERS
 * while anyone queues, DIED until a user commit). Time (timeouts, ticks,
 * callbacks that the driver would deliver from another thread) goes through
 * an RxJS scheduler, so tests under TestScheduler.run are deterministic.
 */
export class FakeRegion {
  readonly data: Uint8Array;
  readonly pageSize = 4096;
  readonly kernel: Holder = { kernel: true };
  /** struct kshm_ctrl as 32-bit words, and the lock-word protocol over it. */
  readonly ctrl = new Uint32Array(CTRL_SIZE / 4);
  /**
   * The lock-word protocol over `ctrl` (the library's own machinery: not
   * shipped in the declarations; a test forges the word through `ctrl`).
   * @internal
   */
  readonly word = new LockWord(this.ctrl);
  /** The kernel holds the lock (its own record: a word naming the kernel is not enough). */
  kernelHolds = false;
  tickMs = 0;
  tickCount = 0n;
  readonly waiters: Waiter[] = [];
  readonly counters = {
    locksGranted: 0, locksContended: 0, lockTimeouts: 0, lockCancels: 0, ownerDied: 0,
    commits: 0, aborts: 0, kernelWrites: 0, ticks: 0, ticksSkipped: 0, lockReclaims: 0,
  };
  readonly #watchers = new Set<() => void>();
  readonly #ids = new Map<Holder, number>();
  readonly #holders = new Map<number, Holder>();
  /** Process id of each id's last slow-path locker (the opener's at first). */
  readonly #pids = new Map<number, number>();
  /** Wakes commit watchers at each tick time, only while there are watchers. */
  #ticker: Subscription | undefined;
  /** Scheduler time the ticker started, and how many of its periods have been run since. */
  #tickStart = 0;
  #ticksRun = 0;
  #syncing = false;
  #notify: Subscription | undefined;
  readonly #releaseWatchers = new Set<() => void>();
  #releaseNotify: Subscription | undefined;
  readonly #lostWatchers = new Map<Holder, Set<() => void>>();
  /** EVENTS: the region's ring of records, if it was created with one. */
  ring: FakeRing | undefined;

  constructor(readonly pages: number, readonly scheduler: SchedulerLike) {
    if (!Number.isInteger(pages) || pages < 1 || pages > 1024) {
      throw new RangeError(`pages must be a whole number from 1 to 1024, got ${pages}`);
    }
    this.data = new Uint8Array(pages * this.pageSize);
    this.#ids.set(this.kernel, LW_KERNEL);
  }

  /**
   * The region was destroyed (kshm_region_destroy()): LOCK, UNLOCK, KWRITE
   * and INFO fail with ENODEV; the bytes stay readable, as a mapping does.
   */
  destroyed = false;
  readonly #goneWatchers = new Set<() => void>();

  /** Destroys the region: queued waiters leave with ENODEV, commit watchers hear of it. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.setTickMs(0);
    for (const w of [...this.waiters]) w.leave?.(E.ENODEV);
    for (const w of [...this.#goneWatchers]) this.scheduler.schedule(() => w());
  }

  /** Calls `onGone` (on a later scheduler tick) when the region is destroyed. Returns the stop. */
  watchGone(onGone: () => void): () => void {
    const w = (): void => onGone();
    this.#goneWatchers.add(w);
    return () => { this.#goneWatchers.delete(w); };
  }

  get size(): number { return this.data.length; }
  get seq(): number { return this.word.seq; }
  get generation(): bigint { return this.word.generation(); }
  /** A holder died and no user has committed since. */
  get ownerDied(): boolean { return (this.word.word & LW_DIED) !== 0; }

  /** Whom the word names, if anyone. */
  get owner(): Holder | undefined {
    const id = this.word.word & LW_OWNER_MASK;
    if (id === LW_KERNEL) return this.kernelHolds ? this.kernel : undefined;
    return this.#holders.get(id);
  }

  /** The holder's process id; 0 when free or held by the kernel. */
  get ownerPid(): number {
    const id = this.word.word & LW_OWNER_MASK;
    return id === LW_KERNEL ? 0 : this.#pids.get(id) ?? 0;
  }

  /** An open file's id in the lock word (KSHM_IOC_INFO's file_id), given on first use. */
  idOf(holder: Holder, pid = process.pid): number {
    let id = this.#ids.get(holder);
    if (id === undefined) {
      id = this.#ids.size;
      this.#ids.set(holder, id);
      this.#holders.set(id, holder);
      this.#pids.set(id, pid);
    }
    return id;
  }

  #granted(holder: Holder, id: number, pid: number): void {
    if (holder === this.kernel) this.kernelHolds = true;
    else this.#pids.set(id, pid);
    this.counters.locksGranted++;
  }

  /**
   * The driver's kshm_take_or_flag: take a free lock (nobody queued), or
   * flag WAITERS. 0 or LW_DIED when granted, else -EDEADLK, -EBUSY (`tryOnly`)
   * or -EAGAIN (queue).
   */
  #takeOrFlag(holder: Holder, pid: number, tryOnly: boolean): number {
    const id = this.idOf(holder, pid);
    for (;;) {
      const word = this.word.word;
      const owner = word & LW_OWNER_MASK;
      // Kernel parties share one id and queue behind each other, as in the driver.
      if (owner === id && holder !== this.kernel) return -E.EDEADLK;
      if (!owner && this.waiters.length === 0) {
        this.word.set(id | (word & LW_DIED));
        this.#granted(holder, id, pid);
        return (word & LW_DIED) >>> 0;
      }
      if (!owner) {
        this.#passOn((word & LW_DIED) !== 0); // a wiped word: the head waiter gets it
        continue;
      }
      if (tryOnly) return -E.EBUSY;
      this.word.set(word | LW_WAITERS);
      return -E.EAGAIN;
    }
  }

  /** Non-blocking (LOCK with KSHM_LOCK_TRY): the lock if free and nobody queued, else EBUSY/EDEADLK. */
  tryLock(holder: Holder, pid = process.pid, staged = false): { errno: number; ownerDied: boolean } {
    const ret = this.#takeOrFlag(holder, pid, true);
    if (ret < 0) return { errno: -ret, ownerDied: false };
    this.#openWrite(staged);
    return { errno: 0, ownerDied: ret !== 0 };
  }

  /** A grant opens the write section, or (staged, KSHM_LOCK_STAGED) closes one left open. */
  #openWrite(staged: boolean): void {
    if (staged) this.word.leaveWrite();
    else this.word.enterWrite();
  }

  /** Queues for the lock (LOCK); `done` runs on a later scheduler tick. Returns cancel. */
  lock(holder: Holder, timeoutMs: number, done: (errno: number, ownerDied: boolean) => void,
    pid = process.pid, staged = false): () => void {
    const ret = this.#takeOrFlag(holder, pid, false);
    if (ret !== -E.EAGAIN) {
      if (ret >= 0) this.#openWrite(staged);
      this.scheduler.schedule(() => done(ret < 0 ? -ret : 0, ret > 0));
      return () => {};
    }
    this.counters.locksContended++;
    const waiter: Waiter = {
      holder,
      id: this.idOf(holder, pid),
      pid,
      timer: undefined,
      staged,
      grant: (ownerDied) => this.scheduler.schedule(() => done(0, ownerDied)),
    };
    const leave = (errno: number): void => {
      const i = this.waiters.indexOf(waiter);
      if (i < 0) return; // granted meanwhile: the grant wins
      this.waiters.splice(i, 1);
      waiter.timer?.unsubscribe();
      this.#clearWaiters();
      this.scheduler.schedule(() => done(errno, false));
    };
    waiter.leave = leave;
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

  /** The last waiter left without the lock: fast unlockers need not call the driver. */
  #clearWaiters(): void {
    if (this.waiters.length === 0) this.word.set(this.word.word & ~LW_WAITERS);
  }

  /**
   * Releases (UNLOCK): hands the lock to the longest waiter. `published`: a
   * fast-path holder already advanced the generation and ended the write
   * section. 0 or EPERM.
   */
  unlock(holder: Holder, commit: boolean, published = false): number {
    const isHolder = holder === this.kernel ? this.kernelHolds
      : (this.word.word & LW_OWNER_MASK) === this.#ids.get(holder);
    if (!isHolder) return E.EPERM;
    if (holder === this.kernel) this.kernelHolds = false;
    let died = (this.word.word & LW_DIED) !== 0;
    if (commit) {
      if (!published) this.word.bumpGeneration();
      this.counters.commits++;
      if (holder !== this.kernel) died = false; // a user commit repairs
    } else {
      this.counters.aborts++;
    }
    this.word.leaveWrite();
    this.#released();
    this.#passOn(died);
    if (commit) this.wake();
    return 0;
  }

  /** The driver's kshm_pass_on: the longest waiter gets the lock, or it is freed; DIED kept or set. */
  #passOn(died: boolean): void {
    const next = this.waiters.shift();
    let word = died ? LW_DIED : 0;
    if (next) {
      word |= next.id;
      if (this.waiters.length > 0) word |= LW_WAITERS;
      this.#granted(next.holder, next.id, next.pid);
      next.timer?.unsubscribe();
    }
    this.word.set(word);
    if (next) {
      this.#openWrite(next.staged);
      next.grant(died);
    }
  }

  /** The holder's file was closed or its process died: pass the lock on with OWNER_DIED. */
  ownerGone(holder: Holder): void {
    for (const w of [...this.waiters]) {
      if (w.holder === holder) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.timer?.unsubscribe();
      }
    }
    this.#clearWaiters();
    if (this.owner === holder) this.killHolder();
  }

  /**
   * The current holder dies mid-transaction: the lock passes on with
   * OWNER_DIED, and the holder (if it watches, see {@link watchLost}) is
   * told that its lock is gone.
   */
  killHolder(): void {
    const owner = this.owner;
    if (!owner) throw new Error('nobody holds the lock');
    this.kernelHolds = false;
    this.counters.ownerDied++;
    this.word.leaveWrite();
    this.#released();
    this.#passOn(true);
    for (const w of [...this.#lostWatchers.get(owner) ?? []]) w();
  }

  /** Calls `onLost` when `holder` loses the lock to killHolder. Returns the stop. */
  watchLost(holder: Holder, onLost: () => void): () => void {
    let set = this.#lostWatchers.get(holder);
    if (!set) this.#lostWatchers.set(holder, set = new Set());
    const w = (): void => onLost();
    set.add(w);
    return () => {
      set.delete(w);
      if (set.size === 0) this.#lostWatchers.delete(holder);
    };
  }

  /**
   * Calls `onRelease` (on a later scheduler turn) each time a writer leaves
   * the data: a commit, an abort, a dead holder. Returns the stop.
   */
  watchReleases(onRelease: () => void): () => void {
    const w = (): void => onRelease();
    this.#releaseWatchers.add(w);
    return () => { this.#releaseWatchers.delete(w); };
  }

  /** A writer left on the lock-word fast path (no driver call): readers waiting for a release hear it too. */
  noteReleased(): void {
    this.#released();
  }

  #released(): void {
    if (this.#releaseNotify || this.#releaseWatchers.size === 0) return;
    this.#releaseNotify = this.scheduler.schedule(() => {
      this.#releaseNotify = undefined;
      for (const w of [...this.#releaseWatchers]) w();
    });
  }

  /**
   * Watches commits, like poll() on the device: a watcher is a sleeping
   * poller, so ctrl->pollers is set while there is one. Returns the stop.
   */
  watch(onCommit: () => void): () => void {
    const w = (): void => onCommit();
    this.#watchers.add(w);
    this.word.setPollers(true);
    this.#scheduleTick();
    return () => {
      this.#watchers.delete(w);
      this.word.setPollers(this.#watchers.size > 0);
      if (this.#watchers.size === 0) {
        this.#ticker?.unsubscribe();
        this.#ticker = undefined;
      }
    };
  }

  /**
   * Wakes pollers after a commit (KSHM_IOC_WAKE after a fast one): readiness
   * is level-triggered in the driver, so several commits wake once.
   */
  wake(): void {
    if (this.#notify) return;
    this.#notify = this.scheduler.schedule(() => {
      this.#notify = undefined;
      for (const w of [...this.#watchers]) w();
    });
  }

  /**
   * The kernel writes `bytes` at `offset` and commits (the driver's KWRITE):
   * at once when the lock is free (`done` runs synchronously), else after
   * queueing for it like any party, up to `timeoutMs` (0: no limit; -1: do
   * not wait, EBUSY). `done(errno, generation)`. Returns the cancel of a
   * queued write (KSHM_IOC_CANCEL on the caller's file: ECANCELED, nothing
   * written); a no-op once it is done.
   */
  kernelWrite(offset: number, bytes: Uint8Array, timeoutMs: number,
    done: (errno: number, generation: bigint) => void): () => void {
    this.sync();
    const write = (): bigint => {
      this.data.set(bytes, offset);
      this.counters.kernelWrites++;
      this.unlock(this.kernel, true);
      return this.generation;
    };
    const r = this.tryLock(this.kernel);
    if (!r.errno) {
      done(0, write());
    } else if (r.errno !== E.EBUSY || timeoutMs < 0) {
      done(r.errno, 0n);
    } else {
      return this.lock(this.kernel, timeoutMs, (errno) => done(errno, errno ? 0n : write()));
    }
    return () => {};
  }

  /**
   * Runs the ticker's periods that are due (scheduler time), in order. The
   * ticker is lazy: nothing changes the region between two of its
   * operations, so running the due ticks at the start of each operation
   * (every opener's call and the kernel handle's) gives exactly what a
   * timer per tick would, and a test's virtual time can end (a timer only
   * runs while a commit watcher needs waking at a tick).
   */
  sync(): void {
    if (this.tickMs <= 0 || this.#syncing) return;
    this.#syncing = true;
    try {
      const due = Math.floor((this.scheduler.now() - this.#tickStart) / this.tickMs);
      while (this.#ticksRun < due) {
        this.#ticksRun++;
        this.#tickAt(this.#tickStart + this.#ticksRun * this.tickMs);
      }
    } finally {
      this.#syncing = false;
    }
  }

  /** One tick of the kernel ticker now (the due ones first). */
  tick(): boolean {
    this.sync();
    return this.#tickAt(this.scheduler.now());
  }

  /** One tick at scheduler time `at`: a tick record at the end of the data, committed; skipped while the lock is held. */
  #tickAt(at: number): boolean {
    const r = this.tryLock(this.kernel);
    if (r.errno) {
      this.counters.ticksSkipped++;
      return false;
    }
    const view = new DataView(this.data.buffer, this.data.byteOffset, this.data.byteLength);
    this.tickCount++;
    view.setBigUint64(this.size - TICK_SIZE, this.tickCount, true);
    view.setBigUint64(this.size - TICK_SIZE + 8, BigInt(Math.round(at * 1e6)), true);
    this.counters.ticks++;
    this.unlock(this.kernel, true);
    return true;
  }

  /** While commit watchers wait and the ticker runs: a timer at the next tick, to run it and wake them. */
  #scheduleTick(): void {
    if (this.#ticker || this.tickMs <= 0 || this.#watchers.size === 0) return;
    const next = this.#tickStart + (this.#ticksRun + 1) * this.tickMs;
    this.#ticker = this.scheduler.schedule(() => {
      this.#ticker = undefined;
      this.sync();
      this.#scheduleTick();
    }, Math.max(0, next - this.scheduler.now()));
  }

  /** Starts (ms > 0) or stops (0) the ticker, like the driver's tick_ms parameter. */
  setTickMs(ms: number): void {
    if (!Number.isInteger(ms) || ms < 0 || ms > 3600000) throw new RangeError(`tick_ms must be 0..3600000, got ${ms}`);
    this.sync();
    this.tickMs = ms;
    this.#tickStart = this.scheduler.now();
    this.#ticksRun = 0;
    this.#ticker?.unsubscribe();
    this.#ticker = undefined;
    this.#scheduleTick();
  }
}
