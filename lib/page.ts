// SPDX-License-Identifier: MIT
import { ByteReader, checkInt, checkRange, toBytes, WordsOf } from './bytes.js';
import { LeaseEndedError } from './errors.js';
import { orderBulkWrite } from './lockword.js';
import { planOf, type FieldMap, type Layout, type LayoutPatch, type NumberType, type Plan, type PlanField } from './layout.js';

const encoder = new TextEncoder();

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

/** The range of each integer type, for layout writes (checked before anything is written). */
const RANGES: Readonly<Record<Exclude<NumberType, 'f32' | 'f64'>, readonly [number | bigint, number | bigint]>> = {
  u8: [0, 0xff], u16: [0, 0xffff], u32: [0, 0xffffffff], u64: [0n, U64_MAX],
  i8: [-0x80, 0x7f], i16: [-0x8000, 0x7fff], i32: [-0x80000000, 0x7fffffff], i64: [I64_MIN, I64_MAX],
};
const F32_MAX = 3.4028234663852886e38;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 20 ? `${value.slice(0, 20)}...` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'number') return String(value);
  return Array.isArray(value) ? 'an array' : value === null ? 'null' : `a ${typeof value}`;
}

/**
 * What only the library may do with a page. Not exported from `kshm`: no
 * app can end, restore or make a page (the package exports only its index).
 */
let friend: {
  create(data: Uint8Array, ownerDied: boolean, generation: Gen, view?: DataView, staged?: boolean,
    undo?: UndoLog): Page;
  committedBytes(page: Page): Uint8Array;
  end(page: Page, rollback: boolean): void;
  stage(page: Page, copy: Uint8Array, copyView: DataView): void;
  staged(page: Page): StagedWrites | undefined;
};

/**
 * A generation as the library passes it to a page: a number while it is
 * exact as one (below 2^53), else a bigint; the page makes the bigint of a
 * number only when its generation is read (most transactions never do).
 * @internal
 */
export type Gen = bigint | number;

/** Whether two generations are the same, whichever form each has (library-internal). @internal */
export function sameGeneration(a: Gen, b: Gen): boolean {
  return typeof a === typeof b ? a === b : BigInt(a) === BigInt(b);
}

/** The generation one commit after `g` (the ABI's += 1, wrapping at 2^64) (library-internal). @internal */
export function nextGeneration(g: Gen): Gen {
  if (typeof g === 'number' && g < Number.MAX_SAFE_INTEGER) return g + 1;
  return (BigInt(g) + 1n) & 0xffff_ffff_ffff_ffffn;
}

/**
 * What a staged page publishes: its own copy of the data, and the ranges
 * written, as `[offset, length]` pairs (merged where they touch).
 * @internal
 */
export interface StagedWrites {
  readonly src: Uint8Array;
  readonly ranges: readonly number[];
}

/**
 * The old bytes of an in-place page's writes, so that an abort can put them
 * back: one per device, reused by each of its pages in turn (one holder at a
 * time), so a transaction's undo costs a copy of the bytes it writes and no
 * allocation once the log has grown to the largest transaction's writes.
 * Library-internal.
 * @internal
 */
export class UndoLog {
  /** The old bytes, back to back (each write's start aligned to 4 bytes). */
  #bytes = new Uint8Array(256);
  #view = new DataView(this.#bytes.buffer);
  #words = new Uint32Array(this.#bytes.buffer);
  #used = 0;
  /** Per write: [offset in the data, width, position in #bytes]; the first #count are this page's. */
  readonly #entries: number[] = [];
  #count = 0;
  /** The 32-bit words of the data logged from (one device: always the same data). */
  readonly #dataWords = new WordsOf();

  /** Empties the log for a new page (the entries array is kept: truncating it costs more). */
  reset(): void {
    this.#used = 0;
    this.#count = 0;
  }

  /** Logs the `width` bytes of `data` (whose view is `dv`) at `offset`, before a write changes them. */
  record(data: Uint8Array, dv: DataView, offset: number, width: number): void {
    const at = this.#used;
    if (at + width > this.#bytes.length) this.#grow(at + width);
    // Small writes (every typed setter) copy 4 bytes at a time (as integers:
    // a float would not keep a NaN's bits): a subarray for set() costs more
    // than this copy up to a few dozen bytes; an aligned write copies whole
    // words through typed arrays, the cheapest access V8 has.
    if (width <= 64) {
      let k = 0;
      const words = (offset & 3) === 0 ? this.#dataWords.of(data) : undefined;
      if (words) {
        const out = this.#words;
        const from = offset >> 2;
        const to = at >> 2;
        const n = width >> 2;
        for (; k < n; k++) out[to + k] = words[from + k] as number;
        k <<= 2;
      } else {
        const out = this.#view;
        for (; k + 4 <= width; k += 4) out.setUint32(at + k, dv.getUint32(offset + k));
      }
      const bytes = this.#bytes;
      for (; k < width; k++) bytes[at + k] = data[offset + k] as number;
    } else {
      this.#bytes.set(data.subarray(offset, offset + width), at);
    }
    // The next write's old bytes start on a word.
    this.#used = (at + width + 3) & ~3;
    const e = this.#entries;
    const n = this.#count;
    e[n] = offset;
    e[n + 1] = width;
    e[n + 2] = at;
    this.#count = n + 3;
  }

  #grow(needed: number): void {
    let size = this.#bytes.length * 2;
    while (size < needed) size *= 2;
    const bytes = new Uint8Array(size);
    bytes.set(this.#bytes.subarray(0, this.#used));
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer);
    this.#words = new Uint32Array(bytes.buffer);
  }

  /** Writes the old bytes back into `bytes`, newest first. */
  undoInto(bytes: Uint8Array): void {
    const e = this.#entries;
    for (let i = this.#count - 3; i >= 0; i -= 3) {
      const at = e[i + 2] as number;
      bytes.set(this.#bytes.subarray(at, at + (e[i + 1] as number)), e[i] as number);
    }
  }

  /** Each logged write's [offset, width], oldest first. */
  *writes(): Generator<[number, number]> {
    const e = this.#entries;
    for (let i = 0; i < this.#count; i += 3) yield [e[i] as number, e[i + 1] as number];
  }
}

/** Beyond this many ranges a staged page publishes one span covering them all. */
const MAX_RANGES = 512;

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
  /** The generation when the lock was granted (a number until read: see {@link Gen}). */
  #generation: Gen;
  #live = true;
  /** The old bytes of every write (in place); the device's log, reset for this page, or one of its own. */
  #undo: UndoLog | undefined;
  /**
   * Staged (the page writes its own copy; the shared data is untouched until
   * the publish): the ranges written, [offset, length, ...]; else undefined.
   */
  #ranges: number[] | undefined;

  /** Pages are made by devices only (the lock must be held). */
  private constructor(data: Uint8Array, ownerDied: boolean, generation: Gen, view?: DataView, staged = false,
    undo?: UndoLog) {
    super(data, view);
    this.ownerDied = ownerDied;
    this.#generation = generation;
    if (staged) this.#ranges = [];
    else if (undo) {
      undo.reset();
      this.#undo = undo;
    }
  }

  static {
    friend = {
      create: (data, ownerDied, generation, view, staged, undo) => new Page(data, ownerDied, generation, view, staged, undo),
      committedBytes: (page) => page.#committedBytes(),
      end: (page, rollback) => page.#end(rollback),
      stage: (page, copy, copyView) => page.#stage(copy, copyView),
      staged: (page) => (page.#ranges ? { src: page.bytesView, ranges: page.#ranges } : undefined),
    };
  }

  protected override assertUsable(): void {
    if (!this.#live) throw new LeaseEndedError();
  }

  /** The generation when the lock was granted. */
  get generation(): bigint {
    const g = this.#generation;
    return typeof g === 'bigint' ? g : (this.#generation = BigInt(g));
  }

  /** Whether this page can still be used. */
  get live(): boolean {
    return this.#live;
  }

  #before(offset: number, width: number): void {
    this.assertUsable();
    checkRange(offset, width, this.size);
    const ranges = this.#ranges;
    if (ranges) Page.#addRange(ranges, offset, width);
    else {
      (this.#undo ??= new UndoLog()).record(this.bytesView, this.dataView, offset, width);
      orderBulkWrite(width);
    }
  }

  /** Records a staged write: merged with the last range when they touch, one span past MAX_RANGES. */
  static #addRange(ranges: number[], offset: number, width: number): void {
    const n = ranges.length;
    if (n > 0) {
      const at = ranges[n - 2] as number;
      const end = at + (ranges[n - 1] as number);
      if (offset <= end && offset + width >= at) {
        const lo = Math.min(at, offset);
        ranges[n - 2] = lo;
        ranges[n - 1] = Math.max(end, offset + width) - lo;
        return;
      }
      if (n >= 2 * MAX_RANGES) {
        let lo = offset;
        let hi = offset + width;
        for (let i = 0; i < n; i += 2) {
          lo = Math.min(lo, ranges[i] as number);
          hi = Math.max(hi, (ranges[i] as number) + (ranges[i + 1] as number));
        }
        ranges.length = 0;
        ranges.push(lo, hi - lo);
        return;
      }
    }
    ranges.push(offset, width);
  }

  /**
   * Turns an in-place page staged: `copy` gets the data as written so far,
   * the shared data gets its committed bytes back, and from now on the page
   * reads and writes `copy`, recording the ranges it writes.
   */
  #stage(copy: Uint8Array, copyView: DataView): void {
    if (!this.#live || this.#ranges) return;
    const shared = this.bytesView;
    copy.set(shared);
    const undo = this.#undo;
    const ranges: number[] = [];
    if (undo) {
      undo.undoInto(shared);
      for (const [offset, width] of undo.writes()) Page.#addRange(ranges, offset, width);
      undo.reset();
    }
    this.#undo = undefined;
    this.#ranges = ranges;
    this.bytesView = copy;
    this.dataView = copyView;
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
    const src = bytes instanceof Uint8Array ? bytes : toBytes(bytes);
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

  /**
   * Writes the fields given in `values` (a deep partial of what
   * `read(layout)` returns) of `layout` at `offset`, and nothing else: an
   * array writes its elements from index 0 (an `undefined` element is
   * skipped, the rest of the array stays), `utf8` and `bytes` fields are
   * zero-padded to their length. Everything is checked before a byte
   * changes: the layout must lie in the region, numbers be in range
   * (integers for integer types, bigints for 64-bit ones), text and bytes
   * fit, arrays have at most `count` elements, and every name be a field
   * (RangeError or TypeError naming the field, nothing written). The writes
   * go through the setters, so a failed transaction restores them.
   *
   * @example
   * ```ts
   * const state = defineLayout({ count: { at: 0, type: 'u32' }, name: { at: 4, type: 'utf8', length: 12 } });
   * device.transaction((page) => {
   *   const { count } = page.read(state);
   *   page.write(state, { count: count + 1 });   // name stays as it is
   * }).subscribe();
   * ```
   * @see {@link defineLayout}
   */
  write<M extends FieldMap>(layout: Layout<M>, values: NoInfer<LayoutPatch<M>>, offset = 0): void {
    const plan = planOf(layout);
    this.assertUsable();
    checkRange(offset, plan.size, this.size);
    if (!isRecord(values)) throw new TypeError(`page.write: values must be an object of fields, got ${show(values)}`);
    const writes: Array<() => void> = [];
    this.#planWrites(plan, values, offset, '', writes);
    for (const w of writes) w();
  }

  /** Checks `values` against `plan` and queues the writes (nothing written yet). */
  #planWrites(plan: Plan, values: Record<string, unknown>, base: number, prefix: string, writes: Array<() => void>): void {
    for (const key of Object.keys(values)) {
      const value = values[key];
      if (value === undefined) continue;
      const f = plan.byName.get(key);
      const name = prefix + key;
      if (!f) throw new TypeError(`page.write: the layout has no field "${name}"`);
      if (f.count === undefined) {
        this.#planElement(f, value, base + f.at, name, writes);
        continue;
      }
      if (!Array.isArray(value)) throw new TypeError(`field "${name}": expected an array, got ${show(value)}`);
      if (value.length > f.count) {
        throw new RangeError(`field "${name}": ${value.length} elements, the field has ${f.count}`);
      }
      for (let i = 0; i < value.length; i++) {
        const element: unknown = value[i];
        if (element !== undefined) this.#planElement(f, element, base + f.at + i * f.width, `${name}[${i}]`, writes);
      }
    }
  }

  #planElement(f: PlanField, value: unknown, at: number, name: string, writes: Array<() => void>): void {
    const kind = f.kind;
    switch (kind) {
      case 'layout':
        if (!isRecord(value)) throw new TypeError(`field "${name}": expected an object of fields, got ${show(value)}`);
        this.#planWrites(f.sub as Plan, value, at, `${name}.`, writes);
        return;
      case 'utf8': {
        if (typeof value !== 'string') throw new TypeError(`field "${name}" (utf8): expected a string, got ${show(value)}`);
        const length = encoder.encode(value).length;
        if (length > f.width) {
          throw new RangeError(`field "${name}" (utf8): ${show(value)} needs ${length} bytes, the field has ${f.width}`);
        }
        writes.push(() => this.setUtf8(at, value, f.width));
        return;
      }
      case 'bytes': {
        if (!(value instanceof Uint8Array)) {
          throw new TypeError(`field "${name}" (bytes): expected a Uint8Array, got ${show(value)}`);
        }
        if (value.length > f.width) {
          throw new RangeError(`field "${name}" (bytes): ${value.length} bytes, the field has ${f.width}`);
        }
        const padded = new Uint8Array(f.width);
        padded.set(value);
        writes.push(() => this.set(at, padded));
        return;
      }
      case 'f32':
      case 'f64':
        if (typeof value !== 'number') throw new TypeError(`field "${name}" (${kind}): expected a number, got ${show(value)}`);
        if (kind === 'f32' && Number.isFinite(value) && Math.abs(value) > F32_MAX) {
          throw new RangeError(`field "${name}" (f32): ${value} is out of range (a finite f32 is at most ${F32_MAX})`);
        }
        writes.push(kind === 'f32' ? () => this.setF32(at, value) : () => this.setF64(at, value));
        return;
      case 'u64':
      case 'i64': {
        if (typeof value !== 'bigint') throw new TypeError(`field "${name}" (${kind}): expected a bigint, got ${show(value)}`);
        const [min, max] = RANGES[kind];
        if (value < min || value > max) throw new RangeError(`field "${name}" (${kind}): ${value}n is out of range ${min}..${max}`);
        writes.push(kind === 'u64' ? () => this.setU64(at, value) : () => this.setI64(at, value));
        return;
      }
      default: {
        if (typeof value !== 'number') throw new TypeError(`field "${name}" (${kind}): expected a number, got ${show(value)}`);
        const [min, max] = RANGES[kind];
        if (!Number.isInteger(value) || value < min || value > max) {
          throw new RangeError(`field "${name}" (${kind}): ${value} is not an integer in ${min}..${max}`);
        }
        const set = INT_SETTERS[kind];
        writes.push(() => set.call(this, at, value));
      }
    }
  }

  /** The bytes as they were when the lock was granted (the committed state). */
  #committedBytes(): Uint8Array {
    const copy = this.bytesView.slice();
    this.#undo?.undoInto(copy);
    return copy;
  }

  /**
   * Ends the page's life; `rollback` first puts back every byte written
   * through it, newest first (a staged page never wrote the shared data).
   */
  #end(rollback: boolean): void {
    if (!this.#live) return;
    if (rollback) this.#undo?.undoInto(this.bytesView);
    this.#live = false;
    this.#undo = undefined;
  }
}


/**
 * A live page over `data`, for the holder of the lock (library-internal).
 * `undo`: the device's reusable log of old bytes (reset here; one page at a
 * time may use it), else the page makes its own on its first write.
 * @internal
 */
export function createPage(data: Uint8Array, ownerDied: boolean, generation: Gen, view?: DataView,
  undo?: UndoLog): Page {
  return friend.create(data, ownerDied, generation, view, false, undo);
}

/**
 * A live staged page (library-internal): it reads and writes `copy` (which
 * the caller filled with the committed data), never the shared data.
 * @internal
 */
export function createStagedPage(copy: Uint8Array, ownerDied: boolean, generation: Gen, view?: DataView): Page {
  return friend.create(copy, ownerDied, generation, view, true);
}

/**
 * Turns an in-place page staged (library-internal): see the method.
 * @internal
 */
export function stagePage(page: Page, copy: Uint8Array, copyView: DataView): void {
  friend.stage(page, copy, copyView);
}

/**
 * What a staged page would publish; undefined for an in-place page (library-internal).
 * @internal
 */
export function stagedWrites(page: Page): StagedWrites | undefined {
  return friend.staged(page);
}

/**
 * The page's bytes as they were when the lock was granted (library-internal).
 * @internal
 */
export function committedBytes(page: Page): Uint8Array {
  return friend.committedBytes(page);
}

/**
 * Ends a page (no-op when already ended), restoring its writes first when `rollback` (library-internal).
 * @internal
 */
export function endPage(page: Page, rollback: boolean): void {
  friend.end(page, rollback);
}

/** The setters of the integer types up to 32 bits, for layout writes. */
const INT_SETTERS = {
  u8: Page.prototype.setU8, u16: Page.prototype.setU16, u32: Page.prototype.setU32,
  i8: Page.prototype.setI8, i16: Page.prototype.setI16, i32: Page.prototype.setI32,
} as const;
