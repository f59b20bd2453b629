// SPDX-License-Identifier: MIT
import { ByteReader, checkRange } from './bytes.js';
import { LeaseEndedError } from './errors.js';

const encoder = new TextEncoder();

function checkInt(value: number, min: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${value} is not a valid ${what} (${min}..${max})`);
  }
}

function checkBig(value: bigint | number, min: bigint, max: bigint, what: string): bigint {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw new RangeError(`${value} is not a valid ${what}: pass a bigint or a safe integer`);
  }
  const v = BigInt(value);
  if (v < min || v > max) throw new RangeError(`${v} is not a valid ${what} (${min}..${max})`);
  return v;
}

const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;

/**
 * The shared data, in place, while a transaction or lease holds the lock.
 * Every write is bounds- and range-checked before a byte changes (RangeError,
 * nothing written), and recorded, so that a failed transaction can restore
 * every byte it wrote. A page is dead once its transaction or lease ends:
 * any use then throws {@link LeaseEndedError}.
 *
 * @example
 * ```ts
 * device.transaction((page) => {
 *   const n = page.u32(0) + 1;
 *   page.setU32(0, n);
 *   page.setUtf8(4, `count ${n}`, 28);
 *   return n;
 * }).subscribe(console.log);
 * ```
 */
export class Page extends ByteReader {
  /** The previous holder died mid-transaction: the data may be half-written. */
  readonly ownerDied: boolean;
  /** The generation when the lock was granted. */
  readonly generation: bigint;
  #live = true;
  /** Old bytes of every write, oldest first: [offset, bytes, offset, bytes, ...]; made on the first write. */
  #undo: Array<number | Uint8Array> | undefined;

  /** @internal pages are made by devices */
  constructor(data: Uint8Array, ownerDied: boolean, generation: bigint, view?: DataView) {
    super(data, view);
    this.ownerDied = ownerDied;
    this.generation = generation;
  }

  protected override assertUsable(): void {
    if (!this.#live) throw new LeaseEndedError();
  }

  /** Whether this page can still be used. */
  get live(): boolean {
    return this.#live;
  }

  #before(offset: number, width: number): void {
    this.assertUsable();
    checkRange(offset, width, this.size);
    (this.#undo ??= []).push(offset, this.bytesView.slice(offset, offset + width));
  }

  setU8(offset: number, value: number): void {
    checkInt(value, 0, 0xff, 'u8'); this.#before(offset, 1); this.dataView.setUint8(offset, value);
  }
  setU16(offset: number, value: number): void {
    checkInt(value, 0, 0xffff, 'u16'); this.#before(offset, 2); this.dataView.setUint16(offset, value, true);
  }
  setU32(offset: number, value: number): void {
    checkInt(value, 0, 0xffffffff, 'u32'); this.#before(offset, 4); this.dataView.setUint32(offset, value, true);
  }
  setU64(offset: number, value: bigint | number): void {
    const v = checkBig(value, 0n, U64_MAX, 'u64'); this.#before(offset, 8); this.dataView.setBigUint64(offset, v, true);
  }
  setI8(offset: number, value: number): void {
    checkInt(value, -0x80, 0x7f, 'i8'); this.#before(offset, 1); this.dataView.setInt8(offset, value);
  }
  setI16(offset: number, value: number): void {
    checkInt(value, -0x8000, 0x7fff, 'i16'); this.#before(offset, 2); this.dataView.setInt16(offset, value, true);
  }
  setI32(offset: number, value: number): void {
    checkInt(value, -0x80000000, 0x7fffffff, 'i32'); this.#before(offset, 4); this.dataView.setInt32(offset, value, true);
  }
  setI64(offset: number, value: bigint | number): void {
    const v = checkBig(value, I64_MIN, I64_MAX, 'i64'); this.#before(offset, 8); this.dataView.setBigInt64(offset, v, true);
  }
  setF32(offset: number, value: number): void {
    if (typeof value !== 'number') throw new TypeError('f32 needs a number');
    this.#before(offset, 4); this.dataView.setFloat32(offset, value, true);
  }
  setF64(offset: number, value: number): void {
    if (typeof value !== 'number') throw new TypeError('f64 needs a number');
    this.#before(offset, 8); this.dataView.setFloat64(offset, value, true);
  }

  /** Copies `bytes` to `offset`. */
  set(offset: number, bytes: ArrayLike<number>): void {
    const src = bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes, (b) => {
      checkInt(b, 0, 0xff, 'byte');
      return b;
    });
    this.#before(offset, src.length);
    this.bytesView.set(src, offset);
  }

  /** Fills `length` bytes at `offset` (default: to the end) with `value`. */
  fill(value: number, offset = 0, length = this.size - offset): void {
    checkInt(value, 0, 0xff, 'byte');
    this.#before(offset, length);
    this.bytesView.fill(value, offset, offset + length);
  }

  /**
   * Writes `text` as UTF-8 at `offset`. With `fieldLength`, the text must
   * fit in that many bytes and the rest of the field is zeroed (a fixed-size
   * field, read back with `utf8(offset, fieldLength)`). Returns the bytes of
   * text written.
   */
  setUtf8(offset: number, text: string, fieldLength?: number): number {
    const encoded = encoder.encode(text);
    const width = fieldLength ?? encoded.length;
    if (encoded.length > width) {
      throw new RangeError(`"${text.slice(0, 20)}" needs ${encoded.length} bytes, the field has ${width}`);
    }
    this.#before(offset, width);
    this.bytesView.set(encoded, offset);
    this.bytesView.fill(0, offset + encoded.length, offset + width);
    return encoded.length;
  }

  /** @internal the bytes as they were when the lock was granted (the committed state) */
  committedBytes(): Uint8Array {
    const copy = this.bytesView.slice();
    Page.#undoInto(copy, this.#undo);
    return copy;
  }

  /** Writes the old bytes back into `bytes`, newest first. */
  static #undoInto(bytes: Uint8Array, undo: Array<number | Uint8Array> | undefined): void {
    if (!undo) return;
    for (let i = undo.length - 2; i >= 0; i -= 2) bytes.set(undo[i + 1] as Uint8Array, undo[i] as number);
  }

  /** @internal puts back every byte written through this page, newest first */
  rollback(): void {
    Page.#undoInto(this.bytesView, this.#undo);
    this.#undo = undefined;
  }

  /** @internal ends the page's life */
  end(): void {
    this.#live = false;
    this.#undo = undefined;
  }
}
