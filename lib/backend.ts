// SPDX-License-Identifier: MIT
/**
 * The interface every kshm backend implements: the real driver through
 * libkshm ({@link NativeBackend}) and the pure TypeScript fake of
 * `kshm/testing`. {@link KshmDevice} builds the whole RxJS API on top of it,
 * so both behave the same, and one contract suite (spec/contract) checks
 * both. Errors cross this interface as positive errno values.
 * @module
 */

/**
 * What the driver's INFO ioctl reports, typed.
 *
 * @example
 * ```ts
 * const { generation, holderPid, waiters, counters } = device.info();
 * ```
 */
export interface DeviceInfo {
  abiVersion: number;
  pages: number;
  pageSize: number;
  /** Bytes of shared data (pages × pageSize). */
  size: number;
  generation: bigint;
  /** Process id of the holder; 0 when free or held by the kernel. */
  holderPid: number;
  locked: boolean;
  kernelHolds: boolean;
  /** A holder died and nobody has committed a repair since. */
  ownerDied: boolean;
  waiters: number;
  /** The kernel ticker's period, 0 when off. */
  tickMs: number;
  /**
   * The driver's counters. A lock taken and released on the lock-word fast
   * path never enters the driver, so it is not in `locksGranted`, `commits`
   * or `aborts` (unless a waiter made the release go through the driver);
   * `generation` counts every commit.
   */
  counters: {
    locksGranted: number;
    locksContended: number;
    lockTimeouts: number;
    lockCancels: number;
    ownerDied: number;
    commits: number;
    aborts: number;
    kernelWrites: number;
    ticks: number;
    ticksSkipped: number;
    /** Lock words that named nobody who could hold the lock (forged or stale), reclaimed with OWNER_DIED. */
    lockReclaims: number;
  };
  /**
   * The device's ring of records (see `events$`), absent when it has none:
   * its size in records, the records published so far and how many times
   * the kernel woke sleeping readers (wake-ups per record: `wakeups / events`).
   */
  ring?: { records: number; events: number; wakeups: number };
}

/** Where a new events reader starts: the next record published, or the oldest the ring still holds. */
export type EventsFrom = 'now' | 'oldest';

/** One record of the ring, as a backend delivers it (the device wraps it in an EventRecord). */
export interface RawEvent {
  seq: bigint;
  type: number;
  timeNs: bigint;
  /** Records overwritten before this reader could read them, just before this one. */
  lostBefore: number;
  /** Emitted by a user (an `emit` call) rather than by kernel code. */
  fromUser: boolean;
  /** The payload: the record's own (it may be a view into a copy the backend made for a whole batch). */
  bytes: Uint8Array;
}

/**
 * {@link DeviceInfo} as JSON: what `JSON.stringify(device.info())` writes
 * (the info a device returns has a `toJSON`): `generation` is a decimal
 * string, because JSON has no bigints.
 */
export type DeviceInfoJSON = Omit<DeviceInfo, 'generation'> & { generation: string };

/** A consistent copy of the data and the generation it belongs to. */
export interface RawSnapshot {
  bytes: Uint8Array;
  generation: bigint;
  /** The seqcount value the copy was validated against. */
  seq: number;
}

export type LockAttempt = {
  ok: true;
  ownerDied: boolean;
  generation: bigint;
  /**
   * The generation as a number when it is below 2^53 (the library's own
   * backends set it): the device then makes the bigint only if the page's
   * generation is read, one allocation less per transaction.
   * @internal
   */
  readonly generationNumber?: number | undefined;
} | { ok: false; errno: number };

/**
 * What a backend provides to {@link KshmDevice}. Implement it to put the
 * RxJS API over another transport; run spec/contract against it.
 *
 * @example
 * ```ts
 * class MyBackend implements Backend { ... }
 * const device = new KshmDevice(new MyBackend());
 * ```
 */
export interface Backend {
  readonly path: string;
  readonly readOnly: boolean;
  /** Bytes of shared data. */
  readonly size: number;
  /** A live view of the shared data. Only valid until close(); write only under the lock. */
  readonly data: Uint8Array;
  /**
   * Takes the lock if it is free; never blocks. `fastPath` (default true):
   * a backend with a user-space lock word may take it there without a
   * syscall; false asks for the driver's own path. A lock is released by
   * unlock() the same way it was taken.
   */
  tryLock(fastPath?: boolean, staged?: boolean): LockAttempt;
  /**
   * Optional hint, free to call (no syscall): true when the lock is surely
   * taken right now, so a tryLock would only fail. Contended waiters then go
   * straight to lock().
   */
  surelyTaken?(): boolean;
  /**
   * Optional, for a backend with a user-space lock word: spins up to
   * `budgetNs` while the lock is held and nobody is queued; true once it is
   * seen free (then tryLock again). Spares a contended waiter the sleep and
   * wake-up of a queued wait when the holder is about to release.
   * `waitersBudgetNs` (> 0): queued waiters do not end the spin; it waits
   * up to that long (from the start) for the queue to drain and the lock to
   * be free (LockWord.spinWhileHeld).
   */
  spinWhileHeld?(budgetNs: number, waitersBudgetNs?: number): boolean;
  /**
   * Waits for the lock without blocking the event loop (timeoutMs 0: no
   * limit) and calls `done` exactly once, asynchronously. The returned
   * function cancels the wait; `done` then reports ECANCELED, or success if
   * the grant won the race.
   */
  lock(timeoutMs: number, done: (errno: number, ownerDied: boolean, generation: bigint) => void,
    staged?: boolean): () => void;
  /**
   * Releases the lock: 0 or an errno (EPERM: not the holder). For a staged
   * hold, `unlock(false)` aborts without touching the data, the seqcount or
   * the generation.
   */
  unlock(commit: boolean): number;
  /**
   * Optional staging (the uapi header's STAGING; a backend with both
   * `stage` and `publish` gets staged leases and async transactions, others
   * write in place). `tryLock(..., true)` and `lock(..., true)` take the
   * lock staged: the seqcount stays even, readers keep copying the
   * committed data. `stage()`: the holder of an in-place lock has put the
   * data back to its committed state; the write section ends and the hold
   * goes on staged.
   */
  stage?(): void;
  /**
   * Commits a staged hold: opens the write section, copies
   * `src[offset, offset + length)` for each `[offset, length]` pair of
   * `ranges` into the data, advances the generation, closes the section and
   * releases the lock. 0 or an errno (EPERM: not the holder, nothing written).
   */
  publish?(src: Uint8Array, ranges: readonly number[]): number;
  /** The current seqcount value (odd while a writer is in). */
  seq(): number;
  /**
   * A seqcount-validated copy, or undefined when a writer stayed in; with
   * `offset` and `length`, of that range only (checked by the caller).
   */
  snapshot(offset?: number, length?: number): RawSnapshot | undefined;
  /**
   * Calls `onCommit` after commits (several commits may be reported once),
   * driven by the device's readiness, without a timer or worker thread.
   * Returns the function that stops watching. On a region destroyed
   * already it calls `onError(ENODEV)` before it returns.
   */
  watchCommits(onCommit: () => void, onError: (errno: number) => void): () => void;
  /**
   * Optional: calls `onRelease` (asynchronously) whenever a writer leaves
   * the data (a commit or an abort), so a reader that found a writer in
   * waits for that instead of polling. Returns the function that stops
   * watching. Without it, readers retry on a timer while a writer is in.
   */
  watchReleases?(onRelease: () => void): () => void;
  /**
   * Optional: calls `onLost` when this opener's held lock was taken from it
   * without an unlock (the fake's `killHolder`: its holder "died"). The
   * device then ends the lease. Returns the function that stops watching.
   */
  watchLockLost?(onLost: () => void): () => void;
  info(): DeviceInfo;
  /**
   * Optional (EVENTS): a reader of the ring with its own position, from
   * `from`. Calls `onBatch` (asynchronously, once per wake-up) with the
   * records read, in seq order, and `onError` (ENOSPC: no ring) at most
   * once. Returns the function that stops it.
   */
  events?(from: EventsFrom, onBatch: (batch: RawEvent[]) => void, onError: (errno: number) => void): () => void;
  /** Optional (EVENTS): publishes one record; errno 0 and its seq, or ENOSPC (no ring), EMSGSIZE, EBADF. */
  emit?(type: number, bytes: Uint8Array): { errno: number; seq: bigint };
  /** Asks the kernel to write and commit (async); `done(errno, generation)`. */
  kernelWrite(offset: number, bytes: Uint8Array, timeoutMs: number,
    done: (errno: number, generation: bigint) => void): void;
  /** Cancels blocked calls, unmaps, closes. Idempotent. */
  close(): void;
}
