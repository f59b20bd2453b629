// SPDX-License-Identifier: MIT
/**
 * The ABI's lock-word fast path (driver/include/uapi/kshm.h, "THE LOCK"),
 * written once for TypeScript, over the control page as a Uint32Array: the
 * native backend runs it on the mapped page, the fake on its model of the
 * driver. It mirrors native-shim/lockword.h, the C side.
 * @module
 */
import { constants } from 'node:os';
import { CTRL, CTRL_SIZE, LOCK_OWNER_DIED, LW_DIED, LW_OWNER_MASK, LW_WAITERS } from './abi.js';
import type { LockAttempt } from './backend.js';
import { WordsOf } from './bytes.js';

const E = constants.errno;
const LOCK = CTRL.lock / 4;
const SEQ = CTRL.seq / 4;
const GEN_LO = CTRL.generation / 4;
const GEN_HI = GEN_LO + 1;
const POLLERS = CTRL.pollers / 4;

/** {@link LockWord.release}: the CAS failed on WAITERS; the driver must hand over. */
export const LW_HANDOVER = 1;

/** What only the driver can do for a fast-path holder. */
export interface LockWordDriver {
  /** UNLOCK with PUBLISHED (a hand-over to the longest waiter): 0 or an errno. */
  unlockPublished(commit: boolean): number;
  /** WAKE: a poller sleeps and a fast commit happened. */
  wake(): void;
}

/**
 * Whether the holder's seq stores may be plain stores. The ABI asks for
 * "seq odd, then a write barrier" before the data is written and "a write
 * barrier, then seq even" after. On x86-64 (TSO: no store is reordered with
 * an older store, as the kernel's smp_wmb() there is only a compiler
 * barrier) a plain typed-array store does that: V8 emits typed-array stores
 * in program order (each is an effect, like the CAS and the DataView writes
 * around it), and the CAS that ends a release is a full barrier before the
 * pollers load, as the wake handshake needs. Elsewhere (arm64: stores may
 * pass stores) the seq stores are Atomics.store (a release store and more).
 * A locked store costs ~10 ns, two per transaction (issue 20, P1). One
 * exception to TSO: non-temporal stores may pass older stores, and glibc's
 * memmove/memset (behind TypedArray set/fill) use them for large copies, so
 * a page orders a write that long after the seq store with a locked
 * instruction first ({@link orderBulkWrite}); the release side needs
 * nothing (glibc ends them with sfence, and the release CAS is locked).
 */
const PLAIN_SEQ_STORES = process.arch === 'x64';

/**
 * The smallest write that may use non-temporal stores: glibc's lowest
 * x86_non_temporal_threshold (its default is larger, a fraction of the cache).
 */
const BULK_WRITE_BYTES = 0x4000;
const FENCE_CELL = new Int32Array(1);

/**
 * Called by a page before it writes `width` bytes of the shared data: a
 * write long enough for non-temporal stores is ordered after the plain seq
 * store by a locked instruction (a full barrier on x86, any address will do).
 * @internal
 */
export function orderBulkWrite(width: number): void {
  if (PLAIN_SEQ_STORES && width >= BULK_WRITE_BYTES) Atomics.exchange(FENCE_CELL, 0, 0);
}

/**
 * Copies [offset, length] ranges between two byte arrays of equal layout,
 * as a publish does, after the seq store that opened the write section:
 * short aligned ranges as 32-bit words, tiny ones byte by byte, longer ones
 * with one `set` (measured on x86-64: a subarray and its set cost ~50 ns
 * whatever the length; 16 words ~35 ns), ordered first when long enough
 * for non-temporal stores ({@link orderBulkWrite}).
 */
class RangeCopier {
  readonly #data = new WordsOf();
  readonly #src = new WordsOf();

  copy(data: Uint8Array, src: Uint8Array, ranges: readonly number[]): void {
    const d32 = this.#data.of(data);
    const s32 = this.#src.of(src);
    for (let i = 0; i < ranges.length; i += 2) {
      const at = ranges[i] as number;
      const length = ranges[i + 1] as number;
      const end = at + length;
      if (length <= WORD_RANGE && d32 && s32 && ((at | length) & 3) === 0) {
        for (let w = at >> 2, last = end >> 2; w < last; w++) d32[w] = s32[w] as number;
      } else if (length <= BYTE_RANGE) {
        for (let j = at; j < end; j++) data[j] = src[j] as number;
      } else {
        orderBulkWrite(length);
        data.set(src.subarray(at, end), at);
      }
    }
  }
}

/** The longest aligned range copied as words, and the longest copied byte by byte. */
const WORD_RANGE = 64;
const BYTE_RANGE = 16;

/** A generation whose high half is below this is exact as a number (< 2^53). */
const GEN_NUMBER_HI = 0x20_0000;

/**
 * A fast grant ({@link LockAttempt}): the generation is kept as a number
 * while it is exact as one and made a bigint only when read.
 */
class FastGrant {
  readonly ok = true as const;
  ownerDied = false;
  generationNumber: number | undefined = 0;
  big: bigint | undefined;

  get generation(): bigint {
    return this.big ?? BigInt(this.generationNumber as number);
  }
}

export class LockWord {
  readonly #c: Uint32Array;
  /** A publish's copier (keeps the word views of the arrays it copies between). */
  readonly #ranges = new RangeCopier();
  /** The last generation read as a bigint, and its two halves: saves an allocation per read. */
  #gen = 0n;
  #genLo = 0;
  #genHi = 0;
  /** Reused for every fast grant: the caller reads it at once and keeps nothing. */
  readonly #granted = new FastGrant();

  /** `ctrl`: struct kshm_ctrl as 32-bit words (at least its 64 bytes). */
  constructor(ctrl: Uint32Array) {
    if (ctrl.byteLength < CTRL_SIZE) throw new RangeError(`a control page has ${CTRL_SIZE} bytes, got ${ctrl.byteLength}`);
    this.#c = ctrl;
  }

  /** The word itself: owner id | WAITERS | DIED, 0 when free. */
  get word(): number {
    return Atomics.load(this.#c, LOCK);
  }

  /** The seqcount: odd while a holder may write. */
  get seq(): number {
    return Atomics.load(this.#c, SEQ);
  }

  /** Whether a poller asked for KSHM_IOC_WAKE after fast commits. */
  get pollers(): number {
    return Atomics.load(this.#c, POLLERS);
  }

  /**
   * The generation, exact while holding the lock (nobody else changes it
   * then); a reader outside the lock uses the seqcount.
   */
  generation(): bigint;
  /** The generation of two halves a seqcount reader read (cached as the one above: one bigint per commit). */
  generation(lo: number, hi: number): bigint;
  generation(lo = this.#c[GEN_LO] as number, hi = this.#c[GEN_HI] as number): bigint {
    if (lo !== this.#genLo || hi !== this.#genHi) {
      this.#genLo = lo;
      this.#genHi = hi;
      this.#gen = hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
    }
    return this.#gen;
  }

  /**
   * Spins while the word names a holder, for at most `budgetNs`: true once
   * it is seen free (a tryLock may then win it); false when the budget ran
   * out, the holder died, waiters queued (WAITERS: the word stays taken
   * until the driver's FIFO queue is empty) or it names one of `ownIds`
   * (their release needs this thread). The why: SPIN_NS in lock-queue.ts.
   * `waitersBudgetNs` (> 0): WAITERS does not end the spin; it goes on, up
   * to that long from the start, until the queue drained and the word is
   * free (the spinner never passes a waiter).
   */
  spinWhileHeld(budgetNs: number, waitersBudgetNs = 0, ownIds?: ReadonlySet<number>): boolean {
    const c = this.#c;
    const start = process.hrtime.bigint();
    let budget = BigInt(Math.max(0, Math.floor(budgetNs)));
    let owner = -1;
    for (let i = 1; ; i++) {
      const w = Atomics.load(c, LOCK);
      if (w === 0) return true;
      if ((w & LW_DIED) !== 0) return false;
      if ((w & LW_OWNER_MASK) !== owner && ownIds !== undefined) {
        owner = w & LW_OWNER_MASK;
        if (ownIds.has(owner)) return false;
      }
      if ((w & LW_WAITERS) !== 0) {
        if (waitersBudgetNs <= 0) return false;
        if (budget < waitersBudgetNs) budget = BigInt(Math.floor(waitersBudgetNs));
      }
      // The clock is read once every 32 looks at the word (a look costs ~10 ns).
      if ((i & 31) === 0 && process.hrtime.bigint() - start >= budget) return false;
    }
  }

  /**
   * Fast acquire: CAS the free word to `id` (or a DIED word to id|DIED), then
   * open the write section (seq odd). Returns 0 or LOCK_OWNER_DIED when
   * taken; -EDEADLK when `id` holds it, -EBUSY when another does, -EAGAIN
   * when only the driver can tell (waiters flagged on a free word, or a
   * forged word).
   */
  acquire(id: number, staged = false): number {
    const c = this.#c;
    let died = 0;
    const seen = Atomics.compareExchange(c, LOCK, 0, id);
    if (seen !== 0) {
      const owner = seen & LW_OWNER_MASK;
      if (owner === id) return -E.EDEADLK;
      if (seen !== LW_DIED) return owner !== 0 ? -E.EBUSY : -E.EAGAIN;
      if (Atomics.compareExchange(c, LOCK, LW_DIED, (id | LW_DIED) >>> 0) !== LW_DIED) return -E.EAGAIN;
      died = LOCK_OWNER_DIED;
    }
    // Only the holder writes seq: a plain read of it is exact here.
    const seq = c[SEQ] as number;
    // Staged (the ABI's STAGING): the write section stays closed; one left open is closed.
    if (!staged) {
      if (PLAIN_SEQ_STORES) c[SEQ] = seq | 1;
      else Atomics.store(c, SEQ, seq | 1);
    } else if (seq & 1) Atomics.store(c, SEQ, seq + 1);
    return died;
  }

  /**
   * Fast release: publish (the generation on commit, then seq even), then
   * CAS the word free (a commit repairs DIED, an abort keeps it). Returns 0
   * when the CAS released it, {@link LW_HANDOVER} when waiters are queued,
   * -EPERM when `id` no longer holds it (nothing changed).
   */
  release(id: number, commit: boolean): number {
    const c = this.#c;
    // A plain read is enough: the CAS below checks the word again.
    const seen = c[LOCK] as number;
    if ((seen & LW_OWNER_MASK) !== id) return -E.EPERM;
    if (commit) this.bumpGeneration();
    // Then the CAS in free(): a full barrier either way.
    if (PLAIN_SEQ_STORES) c[SEQ] = ((c[SEQ] as number) | 1) + 1;
    else Atomics.store(c, SEQ, ((c[SEQ] as number) | 1) + 1);
    return this.free(id, commit);
  }

  /**
   * The release's CAS alone, touching neither seq nor the generation: after
   * a staged holder's {@link publish}, or for its abort. Returns as
   * {@link release}.
   */
  free(id: number, commit: boolean): number {
    const c = this.#c;
    const seen = c[LOCK] as number;
    if ((seen & LW_OWNER_MASK) !== id) return -E.EPERM;
    const mine = (id | (seen & LW_DIED)) >>> 0;
    if (Atomics.compareExchange(c, LOCK, mine, commit ? 0 : (mine & LW_DIED) >>> 0) === mine) return 0;
    return LW_HANDOVER;
  }

  /**
   * The fast path as a backend offers it: a grant, a definite refusal, or
   * undefined when only the driver can tell (then ask it).
   */
  tryLock(id: number, staged = false): LockAttempt | undefined {
    const ret = this.acquire(id, staged);
    if (ret === -E.EAGAIN) return undefined;
    if (ret < 0) return { ok: false, errno: -ret };
    return this.grant(ret === LOCK_OWNER_DIED);
  }

  /**
   * The grant of a lock just taken, on either path, with the generation
   * read now (exact: the holder is its only writer). One object, reused:
   * the caller reads it at once and keeps nothing.
   */
  grant(ownerDied: boolean): LockAttempt {
    const granted = this.#granted;
    granted.ownerDied = ownerDied;
    const c = this.#c;
    const lo = c[GEN_LO] as number;
    const hi = c[GEN_HI] as number;
    if (hi < GEN_NUMBER_HI) {
      granted.generationNumber = hi * 0x1_0000_0000 + lo;
      granted.big = undefined;
    } else {
      granted.generationNumber = undefined;
      granted.big = this.generation(lo, hi);
    }
    return granted;
  }

  /**
   * The whole fast release as a backend does it: 0 or an errno. The driver
   * hands over when waiters are queued, and wakes pollers after a commit.
   */
  unlock(id: number, commit: boolean, driver: LockWordDriver): number {
    // The release's CAS is sequentially consistent, a full barrier: the
    // generation and seq stores are ordered before the pollers load, as the
    // handshake with poll() needs.
    return this.#handOver(this.release(id, commit), commit, driver);
  }

  /**
   * What follows a fast release's CAS (`ret`: {@link release}'s or
   * {@link free}'s): its errno, or the driver's hand-over to a queued
   * waiter, or a wake of pollers after a commit; 0 or an errno.
   */
  #handOver(ret: number, commit: boolean, driver: LockWordDriver): number {
    if (ret < 0) return -ret;
    if (ret === LW_HANDOVER) return driver.unlockPublished(commit);
    if (commit && this.pollers !== 0) driver.wake();
    return 0;
  }

  /**
   * A staged holder's publish (the ABI's STAGING), on either lock path:
   * seq odd, `ranges` ([offset, length] pairs) copied from `src` into
   * `data`, generation + 1, seq even.
   */
  publish(data: Uint8Array, src: Uint8Array, ranges: readonly number[]): void {
    // The barriers of a fast-path holder's own write section (PLAIN_SEQ_STORES):
    // plain seq stores on x86-64, a locked instruction before a copy long enough
    // for non-temporal stores; what follows (the release CAS, or UNLOCK's
    // syscall) is a full barrier. Atomics stores elsewhere.
    const c = this.#c;
    if (PLAIN_SEQ_STORES) c[SEQ] = (c[SEQ] as number) | 1;
    else Atomics.store(c, SEQ, (c[SEQ] as number) | 1);
    this.#ranges.copy(data, src, ranges);
    this.bumpGeneration();
    if (PLAIN_SEQ_STORES) c[SEQ] = ((c[SEQ] as number) | 1) + 1;
    else Atomics.store(c, SEQ, ((c[SEQ] as number) | 1) + 1);
  }

  /**
   * {@link unlock} for a staged fast-path hold: after {@link publish}
   * (`commit`) or for an abort, only the word moves (and the driver hands
   * over or wakes, as for any fast release).
   */
  unlockStaged(id: number, commit: boolean, driver: LockWordDriver): number {
    return this.#handOver(this.free(id, commit), commit, driver);
  }

  /* ---- the driver's side: what the fake's model of the driver writes ---- */

  /** Replaces the word (a hand-over: the driver is the authority). */
  set(word: number): void {
    Atomics.store(this.#c, LOCK, word >>> 0);
  }

  /** seq odd (the driver opens the write section of a slow-path grant). */
  enterWrite(): void {
    const s = this.seq;
    if (!(s & 1)) Atomics.store(this.#c, SEQ, s + 1);
  }

  /**
   * seq even and changed (after a slow-path release, or a holder that died;
   * a holder that turns staged, its data restored, does the same).
   */
  leaveWrite(): void {
    const s = this.seq;
    if (s & 1) Atomics.store(this.#c, SEQ, s + 1);
  }

  /**
   * generation + 1, by its holder (or the driver): two plain halves, since
   * the holder is the only writer and readers check seq, whose atomic store
   * after this orders them.
   */
  bumpGeneration(): void {
    const c = this.#c;
    const lo = ((c[GEN_LO] as number) + 1) >>> 0;
    c[GEN_LO] = lo;
    if (lo === 0) c[GEN_HI] = ((c[GEN_HI] as number) + 1) >>> 0;
  }

  /** Sets or clears ctrl->pollers (a poller going to sleep, or a wake). */
  setPollers(on: boolean): void {
    Atomics.store(this.#c, POLLERS, on ? 1 : 0);
  }
}
