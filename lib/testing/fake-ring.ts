// SPDX-License-Identifier: MIT
/**
 * The fake's ring of records: a model of the driver's EVENTS ring and of
 * libkshm's reader, in scheduler time. Records are numbered from 0, the ring
 * keeps the last `records` of them, an emit never waits (the oldest record is
 * overwritten), and each reader has its own position. A reader that finds
 * its next record overwritten resumes where libkshm's does (a sixteenth of
 * the ring past the oldest record held) and reports exactly how many it
 * skipped. Readers that have caught up sleep; the first emit while one
 * sleeps schedules one wake-up (on the next scheduler turn) that delivers
 * every record published by then in one batch per reader, as the driver's
 * irq_work wake-up and poll() do.
 * @module
 */
import type { SchedulerLike, Subscription } from 'rxjs';
import { EV_MAX_DATA } from '../abi.js';
import type { EventsFrom, RawEvent } from '../backend.js';

interface Slot {
  seq: bigint;
  type: number;
  timeNs: bigint;
  fromUser: boolean;
  bytes: Uint8Array;
}

interface Reader {
  pos: bigint;
  lost: bigint;
  onBatch: (batch: RawEvent[]) => void;
}

/** The largest ring (KSHM_RING_MAX_RECORDS). */
export const FAKE_RING_MAX_RECORDS = 65536;

export class FakeRing {
  readonly #slots: Slot[] = [];
  readonly #readers = new Set<Reader>();
  #head = 0n;
  #wake: Subscription | undefined;
  /** Wake-ups of sleeping readers so far (the driver's event_wakeups). */
  wakeups = 0;

  constructor(readonly records: number, readonly scheduler: SchedulerLike) {
    if (!Number.isInteger(records) || records < 1 || records > FAKE_RING_MAX_RECORDS
      || (records & (records - 1)) !== 0) {
      throw new RangeError(`ring must be a power of two from 1 to ${FAKE_RING_MAX_RECORDS}, got ${records}`);
    }
  }

  /** Records published so far (the next record's seq). */
  get head(): bigint { return this.#head; }

  /** Publishes a record; returns its seq. The caller checked `type` and the size. */
  emit(type: number, bytes: Uint8Array, fromUser: boolean): bigint {
    if (bytes.length > EV_MAX_DATA) throw new RangeError(`a record carries at most ${EV_MAX_DATA} bytes`);
    const seq = this.#head;
    const prev = this.#slots[Number((seq + BigInt(this.records) - 1n) % BigInt(this.records))];
    let timeNs = BigInt(Math.round(this.scheduler.now() * 1e6));
    if (prev && prev.seq === seq - 1n && prev.timeNs > timeNs) timeNs = prev.timeNs;
    this.#slots[Number(seq % BigInt(this.records))] = { seq, type, timeNs, fromUser, bytes: bytes.slice() };
    this.#head = seq + 1n;
    // Only a sleeping reader (one that has caught up) needs a wake-up; one per burst.
    if (!this.#wake && [...this.#readers].some((r) => r.pos === seq)) {
      this.#wake = this.scheduler.schedule(() => {
        this.#wake = undefined;
        this.wakeups++;
        for (const r of [...this.#readers]) if (this.#readers.has(r)) this.#deliver(r);
      });
    }
    return seq;
  }

  /** Where libkshm's reader resumes after an overrun (requires head > records). */
  #resumeAt(): bigint {
    const n = BigInt(this.records);
    return this.#head - n + n / 16n;
  }

  /** Everything the reader has not read yet, in one batch. */
  #deliver(r: Reader): void {
    const n = BigInt(this.records);
    const batch: RawEvent[] = [];
    while (r.pos < this.#head) {
      if (this.#head - r.pos > n) {
        const to = this.#resumeAt();
        r.lost += to - r.pos;
        r.pos = to;
      }
      const s = this.#slots[Number(r.pos % n)] as Slot;
      batch.push({
        seq: s.seq, type: s.type, timeNs: s.timeNs, lostBefore: Number(r.lost), fromUser: s.fromUser,
        bytes: s.bytes.slice(),
      });
      r.lost = 0n;
      r.pos++;
    }
    if (batch.length > 0) r.onBatch(batch);
  }

  /**
   * A reader from `from`; its first batch (records already there, for
   * 'oldest') comes on the next scheduler turn. Returns its stop.
   */
  read(from: EventsFrom, onBatch: (batch: RawEvent[]) => void): () => void {
    const n = BigInt(this.records);
    const pos = from === 'oldest' ? (this.#head > n ? this.#head - n : 0n) : this.#head;
    const r: Reader = { pos, lost: 0n, onBatch };
    this.#readers.add(r);
    const first = this.scheduler.schedule(() => this.#deliver(r));
    return () => {
      first.unsubscribe();
      this.#readers.delete(r);
    };
  }
}
