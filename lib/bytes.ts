// SPDX-License-Identifier: MIT
/**
 * Bounds-checked typed access to shared bytes, little-endian (the byte order
 * of the machines kshm runs on; the driver writes native-endian values).
 * Shared by {@link Snapshot} (reads) and {@link Page} (reads and writes).
 * @module
 */
import { planOf, type FieldMap, type Layout, type LayoutValue, type Plan } from './layout.js';

const decoder = new TextDecoder('utf-8', { fatal: false });

/** Throws RangeError unless [offset, offset + width) lies within `size`. */
export function checkRange(offset: number, width: number, size: number): void {
  if (!Number.isInteger(offset) || !Number.isInteger(width) || offset < 0 || width < 0 || offset + width > size) {
    throw new RangeError(`bytes [${offset}, ${offset} + ${width}) are outside the ${size}-byte region`);
  }
}

/** Throws RangeError unless `value` is an integer from `min` to `max` (`what` names it). */
export function checkInt(value: number, min: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${value} is not a valid ${what} (${min}..${max})`);
  }
}

/**
 * A fresh Uint8Array of `bytes`, each element checked: RangeError unless it
 * is an integer from 0 to 255 (a plain copy would write 256 as 0 and 'a' or
 * 1.5 as something else, silently).
 */
export function toBytes(bytes: ArrayLike<number>): Uint8Array {
  // A copy, always (Buffer's slice() is a view): the caller may reuse its buffer at once.
  if (bytes instanceof Uint8Array) return new Uint8Array(bytes);
  return Uint8Array.from(bytes, (b) => {
    checkInt(b, 0, 0xff, 'byte');
    return b;
  });
}

/** Throws RangeError unless a write of `length` bytes (at least one) at `offset` fits in `size`. */
export function checkWrite(offset: number, length: number, size: number): void {
  if (length === 0) throw new RangeError(`a write of 0 bytes at ${offset}: nothing to write`);
  checkRange(offset, length, size);
}

/**
 * The 32-bit words of the last byte array asked for, when it starts on a
 * word boundary (else undefined): a hot loop copies aligned bytes a word at
 * a time through them (the cheapest access V8 has), and asks for the same
 * array every time (one device: one data, one copy), so the view is kept.
 * @internal
 */
export class WordsOf {
  #bytes: Uint8Array | undefined;
  #words: Uint32Array | undefined;

  of(bytes: Uint8Array): Uint32Array | undefined {
    if (bytes !== this.#bytes) {
      this.#bytes = bytes;
      this.#words = (bytes.byteOffset & 3) === 0
        ? new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 2) : undefined;
    }
    return this.#words;
  }
}

/**
 * Typed, bounds-checked reads over a byte array: the readers that
 * {@link Snapshot} and {@link Page} share.
 *
 * @example
 * ```ts
 * const r = new ByteReader(Uint8Array.of(1, 0, 0, 0));
 * r.u32(0); // 1
 * r.u8(9);  // RangeError
 * ```
 */
export class ByteReader {
  /** Bytes in the region. */
  readonly size: number;
  /**
   * The bytes held: the whole region, or (a ranged snapshot) the bytes from
   * {@link base} on; offsets are always the region's. Not readonly: a page
   * that turns staged moves to its own copy (the same size).
   */
  protected bytesView: Uint8Array;
  /** Over {@link bytesView}: offset `base` of the region is its byte 0. */
  protected dataView: DataView;
  /** The region offset of bytesView[0]: 0 unless only a range is held. */
  protected readonly base: number;

  /**
   * `view` may be passed when the caller already has a DataView over `bytes`.
   * `base` and `regionSize`: `bytes` holds only [base, base + bytes.length)
   * of a region of `regionSize` bytes (reads outside it are RangeErrors).
   */
  constructor(bytes: Uint8Array, view?: DataView, base = 0, regionSize = base + bytes.byteLength) {
    this.bytesView = bytes;
    this.dataView = view ?? new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.size = regionSize;
    this.base = base;
  }

  /** Overridden by views that can expire (a page after its transaction). */
  protected assertUsable(): void {}

  /** Checks the range and returns where it starts in bytesView. */
  #at(offset: number, width: number): number {
    this.assertUsable();
    checkRange(offset, width, this.size);
    if (this.base === 0 && this.bytesView.byteLength === this.size) return offset;
    const at = offset - this.base;
    if (at < 0 || at + width > this.bytesView.byteLength) {
      throw new RangeError(`bytes [${offset}, ${offset} + ${width}) are outside the range [${this.base}, `
        + `${this.base + this.bytesView.byteLength}) this snapshot holds`);
    }
    return at;
  }

  u8(offset: number): number { return this.dataView.getUint8(this.#at(offset, 1)); }
  u16(offset: number): number { return this.dataView.getUint16(this.#at(offset, 2), true); }
  u32(offset: number): number { return this.dataView.getUint32(this.#at(offset, 4), true); }
  u64(offset: number): bigint { return this.dataView.getBigUint64(this.#at(offset, 8), true); }
  i8(offset: number): number { return this.dataView.getInt8(this.#at(offset, 1)); }
  i16(offset: number): number { return this.dataView.getInt16(this.#at(offset, 2), true); }
  i32(offset: number): number { return this.dataView.getInt32(this.#at(offset, 4), true); }
  i64(offset: number): bigint { return this.dataView.getBigInt64(this.#at(offset, 8), true); }
  f32(offset: number): number { return this.dataView.getFloat32(this.#at(offset, 4), true); }
  f64(offset: number): number { return this.dataView.getFloat64(this.#at(offset, 8), true); }

  /**
   * UTF-8 text in `length` bytes at `offset`, ending at the first NUL byte
   * if there is one (the C string convention of fixed-size fields).
   */
  utf8(offset: number, length: number): string {
    return this.#text(this.#at(offset, length), length);
  }

  #text(offset: number, length: number): string {
    const field = this.bytesView.subarray(offset, offset + length);
    const nul = field.indexOf(0);
    return decoder.decode(nul === -1 ? field : field.subarray(0, nul));
  }

  /**
   * The fields of `layout` at `offset`, as a plain object of fresh values
   * (numbers, bigints for 64-bit integers, strings, copies of bytes, arrays,
   * nested objects). RangeError unless the whole layout lies in the region.
   *
   * @example
   * ```ts
   * const stats = defineLayout({ hits: { at: 0, type: 'u64' }, name: { at: 8, type: 'utf8', length: 8 } });
   * const { hits, name } = snapshot.read(stats);   // hits: bigint, name: string
   * const second = snapshot.read(stats, 64);       // the same struct 64 bytes further
   * ```
   * @see {@link defineLayout}
   */
  read<M extends FieldMap>(layout: Layout<M>, offset = 0): LayoutValue<M> {
    const plan = planOf(layout);
    return this.#fields(plan, this.#at(offset, plan.size)) as LayoutValue<M>;
  }

  /** Every layout read goes through here: the range is checked already; `base` is in bytesView. */
  #fields(plan: Plan, base: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const f of plan.fields) {
      const at = base + f.at;
      if (f.count === undefined) {
        out[f.name] = this.#element(f.kind, f.width, f.sub, at);
      } else {
        const list = new Array<unknown>(f.count);
        for (let i = 0; i < f.count; i++) list[i] = this.#element(f.kind, f.width, f.sub, at + i * f.width);
        out[f.name] = list;
      }
    }
    return out;
  }

  #element(kind: Plan['fields'][number]['kind'], width: number, sub: Plan | undefined, at: number): unknown {
    const v = this.dataView;
    switch (kind) {
      case 'u8': return v.getUint8(at);
      case 'u16': return v.getUint16(at, true);
      case 'u32': return v.getUint32(at, true);
      case 'u64': return v.getBigUint64(at, true);
      case 'i8': return v.getInt8(at);
      case 'i16': return v.getInt16(at, true);
      case 'i32': return v.getInt32(at, true);
      case 'i64': return v.getBigInt64(at, true);
      case 'f32': return v.getFloat32(at, true);
      case 'f64': return v.getFloat64(at, true);
      case 'utf8': return this.#text(at, width);
      case 'bytes': return this.bytesView.slice(at, at + width);
      case 'layout': return this.#fields(sub as Plan, at);
    }
  }

  /** A copy of `length` bytes at `offset`. */
  slice(offset: number, length: number): Uint8Array {
    const at = this.#at(offset, length);
    return this.bytesView.slice(at, at + length);
  }
}
