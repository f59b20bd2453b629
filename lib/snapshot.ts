// SPDX-License-Identifier: MIT
import { ByteReader } from './bytes.js';

/** What only the library may do with a snapshot (not exported from `kshm`). */
let friend: {
  create(bytes: Uint8Array, generation: bigint, seq: number): Snapshot;
  seq(snapshot: Snapshot): number;
};

/**
 * A consistent copy of the shared data at one generation: what
 * `device.snapshots$` emits. It is never torn (seqcount-validated) and never
 * changes: the typed readers read its private copy, and `bytes` hands out a
 * fresh copy each time it is read.
 *
 * @example
 * ```ts
 * device.snapshots$.subscribe((s) => console.log(s.generation, s.u32(0), s.utf8(16, 32)));
 * ```
 */
export class Snapshot extends ByteReader {
  /** The commit generation this copy belongs to. */
  readonly generation: bigint;
  /** The seqcount value the copy was validated against. */
  readonly #seq: number;

  /** Snapshots are made by devices only. */
  private constructor(bytes: Uint8Array, generation: bigint, seq: number) {
    super(bytes);
    this.generation = generation;
    this.#seq = seq;
  }

  static {
    friend = {
      create: (bytes, generation, seq) => new Snapshot(bytes, generation, seq),
      seq: (snapshot) => snapshot.#seq,
    };
  }

  /** A copy of all the bytes (yours to keep or change: the snapshot stays as it was). */
  get bytes(): Uint8Array {
    return this.bytesView.slice();
  }

  /** The kernel ticker's record (struct kshm_tick) in the last 16 bytes of the data. */
  tick(): { count: bigint; monoNs: bigint } {
    return { count: this.u64(this.size - 16), monoNs: this.u64(this.size - 8) };
  }

  /** Whether `other` holds the same bytes. */
  sameBytes(other: Snapshot): boolean {
    if (other.size !== this.size) return false;
    return Buffer.compare(this.bytesView, other.bytesView) === 0;
  }
}


/** A snapshot of `bytes` (library-internal: the bytes become the snapshot's own). */
export function createSnapshot(bytes: Uint8Array, generation: bigint, seq: number): Snapshot {
  return friend.create(bytes, generation, seq);
}

/** The seqcount value a snapshot was validated against (library-internal). */
export function snapshotSeq(snapshot: Snapshot): number {
  return friend.seq(snapshot);
}
