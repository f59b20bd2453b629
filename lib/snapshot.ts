// SPDX-License-Identifier: MIT
import { ByteReader } from './bytes.js';

/** What only the library may do with a snapshot (not exported from `kshm`). */
let friend: {
  create(bytes: Uint8Array, generation: bigint, seq: number, base?: number, regionSize?: number): Snapshot;
  seq(snapshot: Snapshot): number;
};

/**
 * A consistent copy of the shared data at one generation: what
 * `device.snapshots$` emits. It is never torn (seqcount-validated) and never
 * changes: the typed readers read its private copy, and `bytes` hands out a
 * fresh copy each time it is read. A snapshot of `device.snapshotRange$`
 * holds only its range: offsets stay the region's, and a read outside the
 * range is a RangeError.
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
  private constructor(bytes: Uint8Array, generation: bigint, seq: number, base?: number, regionSize?: number) {
    super(bytes, undefined, base, regionSize);
    this.generation = generation;
    this.#seq = seq;
  }

  static {
    friend = {
      create: (bytes, generation, seq, base, regionSize) => new Snapshot(bytes, generation, seq, base, regionSize),
      seq: (snapshot) => snapshot.#seq,
    };
  }

  /**
   * A copy of all the bytes it holds (yours to keep or change: the snapshot
   * stays as it was): the region, or its range (from {@link offset}).
   */
  get bytes(): Uint8Array {
    return this.bytesView.slice();
  }

  /** The kernel ticker's record (struct kshm_tick) in the last 16 bytes of the data. */
  tick(): { count: bigint; monoNs: bigint } {
    return { count: this.u64(this.size - 16), monoNs: this.u64(this.size - 8) };
  }

  /** The region offset of the first byte it holds: 0, or where its range starts. */
  get offset(): number {
    return this.base;
  }

  /** Whether `other` holds the same bytes (the same range of them). */
  sameBytes(other: Snapshot): boolean {
    if (other.size !== this.size || other.base !== this.base || other.bytesView.byteLength !== this.bytesView.byteLength) {
      return false;
    }
    return Buffer.compare(this.bytesView, other.bytesView) === 0;
  }
}


/**
 * A snapshot of `bytes` (library-internal: the bytes become the snapshot's
 * own); with `base` and `regionSize`, of the range [base, base + bytes.length)
 * of a region of `regionSize` bytes.
 */
export function createSnapshot(bytes: Uint8Array, generation: bigint, seq: number, base?: number,
  regionSize?: number): Snapshot {
  return friend.create(bytes, generation, seq, base, regionSize);
}

/** The seqcount value a snapshot was validated against (library-internal). */
export function snapshotSeq(snapshot: Snapshot): number {
  return friend.seq(snapshot);
}
