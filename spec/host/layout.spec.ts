// Typed layouts on the fake device: defineLayout's checks, read on snapshots
// and pages (every field type, little-endian; nesting; arrays), page.write's
// checks before any byte changes and its partial writes, layoutFromJSON,
// and the selectLayout operator / device.select$(layout) in virtual time.
import { firstValueFrom, lastValueFrom, take } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  defineLayout, layoutFromJSON, layoutValuesEqual, LeaseEndedError, selectLayout, type Lease, type Page,
} from '../../lib/index.js';
import { createFakeDevice } from '../../lib/testing/index.js';
import { createSnapshot } from '../../lib/snapshot.js';

const test = suite('typed layouts (fake device)');

const point = defineLayout({ x: { at: 0, type: 'i32' }, y: { at: 4, type: 'i32' } });
/** Every field type, out of offset order, some unaligned. */
const all = defineLayout({
  u8: { at: 0, type: 'u8' },
  u16: { at: 1, type: 'u16' },
  u32: { at: 3, type: 'u32' },
  u64: { at: 7, type: 'u64' },
  i8: { at: 15, type: 'i8' },
  i16: { at: 16, type: 'i16' },
  i32: { at: 18, type: 'i32' },
  i64: { at: 22, type: 'i64' },
  f32: { at: 30, type: 'f32' },
  f64: { at: 34, type: 'f64' },
  name: { at: 42, type: 'utf8', length: 10 },
  raw: { at: 52, type: 'bytes', length: 4 },
  levels: { at: 56, type: 'u16', count: 3 },
  big: { at: 62, type: 'i64', count: 2 },
  path: { at: 86, layout: point, count: 2 },
  origin: { at: 78, layout: point },
});

/** The bytes of `all`'s fields, written with Buffer's little-endian writers. */
function allBytes(): Buffer {
  const b = Buffer.alloc(all.size);
  b.writeUInt8(0xfe, 0);
  b.writeUInt16LE(0xbeef, 1);
  b.writeUInt32LE(0xdeadbeef, 3);
  b.writeBigUInt64LE(0xfedcba9876543210n, 7);
  b.writeInt8(-2, 15);
  b.writeInt16LE(-1234, 16);
  b.writeInt32LE(-123456789, 18);
  b.writeBigInt64LE(-(2n ** 62n) - 5n, 22);
  b.writeFloatLE(1.5, 30);
  b.writeDoubleLE(-2.25e300, 34);
  b.write('héllo', 42, 'utf8'); // 6 bytes, then NULs
  Buffer.from([1, 2, 3, 4]).copy(b, 52);
  [7, 8, 65535].forEach((v, i) => b.writeUInt16LE(v, 56 + 2 * i));
  [-1n, 2n ** 63n - 1n].forEach((v, i) => b.writeBigInt64LE(v, 62 + 8 * i));
  b.writeInt32LE(-7, 78);
  b.writeInt32LE(8, 82);
  [[1, 2], [3, -4]].forEach(([x, y], i) => { b.writeInt32LE(x!, 86 + 8 * i); b.writeInt32LE(y!, 90 + 8 * i); });
  return b;
}

const allValues = {
  u8: 0xfe, u16: 0xbeef, u32: 0xdeadbeef, u64: 0xfedcba9876543210n,
  i8: -2, i16: -1234, i32: -123456789, i64: -(2n ** 62n) - 5n,
  f32: 1.5, f64: -2.25e300,
  name: 'héllo', raw: Uint8Array.of(1, 2, 3, 4),
  levels: [7, 8, 65535], big: [-1n, 2n ** 63n - 1n],
  origin: { x: -7, y: 8 },
  path: [{ x: 1, y: 2 }, { x: 3, y: -4 }],
};

function throwsWith(fn: () => unknown, type: new (...a: never[]) => Error, message: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  assert.instance(thrown, type, `expected a ${type.name} matching ${message}, got ${String(thrown)}`);
  assert.match((thrown as Error).message, message);
}

/** Runs fn on a page of a fresh fake device, committing. */
async function onPage<R>(fn: (page: Page) => R, fake = createFakeDevice()): Promise<R> {
  return lastValueFrom(fake.transaction(fn));
}

/* ---- defineLayout -------------------------------------------------------- */

test('defineLayout: size is the end of the last byte, whatever the order; fields are kept (frozen)', () => {
  assert.is(point.size, 8);
  assert.is(all.size, 102);
  assert.is(defineLayout({ b: { at: 10, type: 'u8' }, a: { at: 0, type: 'u64' } }).size, 11);
  assert.is(defineLayout({ a: { at: 100, type: 'bytes', length: 5 } }).size, 105);
  assert.is(defineLayout({ a: { at: 4, layout: point, count: 3 } }).size, 28);
  assert.equal(all.fields.name, { at: 42, type: 'utf8', length: 10 });
  assert.is(all.fields.origin.layout, point);
  assert.ok(Object.isFrozen(all) && Object.isFrozen(all.fields) && Object.isFrozen(all.fields.u8));
  // The layout keeps its own copy: changing the map given changes nothing.
  const fields = { a: { at: 0, type: 'u8' as const } };
  const l = defineLayout(fields);
  (fields.a as { at: number }).at = 4;
  assert.is(l.size, 1);
});

test('defineLayout: overlapping fields are a RangeError naming both', () => {
  throwsWith(() => defineLayout({ a: { at: 0, type: 'u32' }, b: { at: 3, type: 'u8' } }), RangeError,
    /field "b" \(bytes \[3, 4\)\) overlaps field "a" \(bytes \[0, 4\)\)/);
  throwsWith(() => defineLayout({ long: { at: 0, type: 'utf8', length: 32 }, b: { at: 20, type: 'u64' } }), RangeError,
    /"b".*overlaps.*"long"/);
  // an array's last element, a nested struct's end, a field inside another
  throwsWith(() => defineLayout({ arr: { at: 0, type: 'u16', count: 4 }, b: { at: 7, type: 'u8' } }), RangeError, /"b".*"arr"/);
  throwsWith(() => defineLayout({ p: { at: 2, layout: point }, b: { at: 9, type: 'u8' } }), RangeError, /"b".*"p"/);
  throwsWith(() => defineLayout({ big: { at: 0, type: 'bytes', length: 64 }, c: { at: 40, type: 'u8' }, d: { at: 10, type: 'u8' } }),
    RangeError, /"d".*"big"/);
  // touching is fine
  assert.is(defineLayout({ a: { at: 0, type: 'u32' }, b: { at: 4, type: 'u8' } }).size, 5);
});

test('defineLayout: bad sizes and offsets are RangeErrors naming the field', () => {
  const bad: Array<[unknown, RegExp]> = [
    [{ f: { at: -1, type: 'u8' } }, /field "f": at must be a non-negative integer, got -1/],
    [{ f: { at: 1.5, type: 'u8' } }, /field "f": at must be a non-negative integer/],
    [{ f: { at: Number.NaN, type: 'u8' } }, /field "f": at/],
    [{ f: { at: 2 ** 53, type: 'u8' } }, /field "f": at/],
    [{ f: { at: 0, type: 'utf8', length: 0 } }, /field "f": length must be a positive integer, got 0/],
    [{ f: { at: 0, type: 'bytes', length: 2.5 } }, /field "f": length must be a positive integer/],
    [{ f: { at: 0, type: 'u32', count: 0 } }, /field "f": count must be a positive integer, got 0/],
    [{ f: { at: 0, type: 'u32', count: -2 } }, /field "f": count/],
    [{ f: { at: 0, layout: point, count: 1.5 } }, /field "f": count/],
    [{ f: { at: 2 ** 52, type: 'u64', count: 2 ** 50 } }, /field "f": too large/],
    [{}, /at least one field/],
  ];
  for (const [fields, message] of bad) throwsWith(() => defineLayout(fields as never), RangeError, message);
});

test('defineLayout: what is not a field is a TypeError naming the field', () => {
  const bad: Array<[unknown, RegExp]> = [
    [{ f: { at: 0, type: 'float' } }, /field "f": unknown type "float" \(expected one of u8, u16, .*utf8, bytes\)/],
    [{ f: { at: 0, type: 'U8' } }, /field "f": unknown type "U8"/],
    [{ f: { at: 0 } }, /field "f": needs a type or a layout/],
    [{ f: { at: '0', type: 'u8' } }, /field "f": at must be a number, got string/],
    [{ f: { type: 'u8' } }, /field "f": at must be a number, got undefined/],
    [{ f: { at: 0, type: 'utf8' } }, /field "f": a utf8 field needs a length/],
    [{ f: { at: 0, type: 'bytes', length: '4' } }, /field "f": length must be a number/],
    [{ f: { at: 0, type: 'u32', length: 4 } }, /field "f": length is for utf8 and bytes fields \(use count/],
    [{ f: { at: 0, type: 'utf8', length: 4, count: 2 } }, /field "f": count is for numbers and nested layouts/],
    [{ f: { at: 0, type: 'u8', lenght: 4 } }, /field "f": unknown property "lenght"/],
    [{ f: { at: 0, type: 'u8', layout: point } }, /field "f": give either type or layout/],
    [{ f: { at: 0, layout: point, length: 3 } }, /field "f": length is for utf8 and bytes/],
    [{ f: { at: 0, layout: { x: { at: 0, type: 'u8' } } } }, /field "f": layout must be a layout made by defineLayout/],
    [{ f: { at: 0, layout: { size: 8, fields: {} } } }, /field "f": layout must be a layout/],
    [{ f: 5 }, /field "f": expected \{ at, type/],
    [{ f: null }, /field "f": expected/],
    [JSON.parse('{"__proto__": {"at": 0, "type": "u8"}}'), /field "__proto__": not a usable field name/],
    [[{ at: 0, type: 'u8' }], /a layout is an object of fields by name/],
    [null, /a layout is an object/],
  ];
  for (const [fields, message] of bad) throwsWith(() => defineLayout(fields as never), TypeError, message);
});

/* ---- read ------------------------------------------------------------------ */

test('snapshot.read: every field type, little-endian, at an offset; a plain object of fresh values', async () => {
  const fake = createFakeDevice();
  fake.kernel.write(0, allBytes());
  fake.kernel.write(1000, allBytes());
  const s = await firstValueFrom(fake.snapshots$);
  const v = s.read(all);
  assert.equal(v, allValues);
  assert.equal(s.read(all, 1000), allValues);
  assert.is(Object.getPrototypeOf(v), Object.prototype);
  assert.equal(Object.keys(v), Object.keys(all.fields));
  // fresh each time: changing one read changes neither the snapshot nor the next read
  v.raw[0] = 99;
  v.levels[0] = 99;
  v.origin.x = 99;
  assert.equal(s.read(all), allValues);
  assert.is.not(s.read(all).raw, s.read(all).raw);
  // a text of exactly its length has no NUL; the reader stops at the field's end
  fake.kernel.write(42, Buffer.from('0123456789ABC'));
  assert.is((await firstValueFrom(fake.snapshots$)).read(all).name, '0123456789');
});

test('read: floats of every kind, and the layout must lie in the region (RangeError)', () => {
  const f = defineLayout({ a: { at: 0, type: 'f32', count: 4 }, b: { at: 16, type: 'f64', count: 3 } });
  const b = Buffer.alloc(64);
  [Number.NaN, -0, Infinity, 2 ** -149].forEach((x, i) => b.writeFloatLE(x, 4 * i));
  [Number.NaN, -Infinity, Number.MIN_VALUE].forEach((x, i) => b.writeDoubleLE(x, 16 + 8 * i));
  const s = createSnapshot(new Uint8Array(b), 1n, 2);
  const v = s.read(f);
  assert.ok(Number.isNaN(v.a[0]) && Object.is(v.a[1], -0) && v.a[2] === Infinity && v.a[3] === 2 ** -149);
  assert.ok(Number.isNaN(v.b[0]) && v.b[1] === -Infinity && v.b[2] === Number.MIN_VALUE);
  assert.is(s.read(f, 24).a.length, 4);
  throwsWith(() => s.read(f, 25), RangeError, /bytes \[25, 25 \+ 40\) are outside the 64-byte region/);
  throwsWith(() => s.read(f, -1), RangeError, /outside/);
  throwsWith(() => s.read(f, 0.5), RangeError, /outside/);
  throwsWith(() => s.read({ size: 1, fields: {} } as never), TypeError, /not a layout/);
});

test('page.read: the same values, live (sees the page\'s own writes), dead after the transaction', async () => {
  const fake = createFakeDevice();
  fake.kernel.write(8, allBytes());
  let kept: Page | undefined;
  const out = await onPage((page) => {
    kept = page;
    const before = page.read(all, 8);
    page.setU8(8, 1);
    return [before, page.read(all, 8).u8];
  }, fake);
  assert.equal(out, [allValues, 1]);
  throwsWith(() => kept!.read(all), LeaseEndedError, /./);
});

test('nesting: layouts in layouts, arrays of them', () => {
  const line = defineLayout({ from: { at: 0, layout: point }, to: { at: 8, layout: point }, tag: { at: 16, type: 'utf8', length: 4 } });
  const drawing = defineLayout({ n: { at: 0, type: 'u8' }, lines: { at: 4, layout: line, count: 2 } });
  assert.is(drawing.size, 44);
  const b = Buffer.alloc(44);
  b.writeUInt8(2, 0);
  [1, 2, 3, 4].forEach((x, i) => b.writeInt32LE(x, 4 + 4 * i));
  b.write('ab', 20);
  [5, 6, 7, 8].forEach((x, i) => b.writeInt32LE(x, 24 + 4 * i));
  b.write('cdef', 40);
  const s = createSnapshot(new Uint8Array(b), 1n, 2);
  assert.equal(s.read(drawing), {
    n: 2,
    lines: [
      { from: { x: 1, y: 2 }, to: { x: 3, y: 4 }, tag: 'ab' },
      { from: { x: 5, y: 6 }, to: { x: 7, y: 8 }, tag: 'cdef' },
    ],
  });
  assert.equal(s.read(line, 24), { from: { x: 5, y: 6 }, to: { x: 7, y: 8 }, tag: 'cdef' });
});

/* ---- write ----------------------------------------------------------------- */

test('page.write: every field type, little-endian, byte for byte what Buffer writes', async () => {
  const fake = createFakeDevice();
  await onPage((page) => page.write(all, allValues, 100), fake);
  assert.equal(Buffer.from(fake.kernel.data.subarray(100, 100 + all.size)), allBytes());
  assert.equal((await firstValueFrom(fake.snapshots$)).read(all, 100), allValues);
  // a read value writes back as is
  await onPage((page) => page.write(all, page.read(all, 100), 300), fake);
  assert.equal(Buffer.from(fake.kernel.data.subarray(300, 300 + all.size)), allBytes());
});

test('page.write: only the fields given; arrays from index 0, undefined skipped; text and bytes zero-padded', async () => {
  const fake = createFakeDevice();
  fake.kernel.write(0, new Uint8Array(all.size).fill(0xaa));
  await onPage((page) => page.write(all, {
    u16: 1, name: 'ok', raw: Uint8Array.of(9), levels: [5, undefined], path: [undefined, { y: 6 }], origin: {},
    i8: undefined as unknown as number, // an undefined value is skipped (JS callers, exactOptionalPropertyTypes off)
  }), fake);
  const expected = Buffer.alloc(all.size, 0xaa);
  expected.writeUInt16LE(1, 1);
  expected.fill(0, 42, 52).write('ok', 42);
  expected.fill(0, 52, 56)[52] = 9;
  expected.writeUInt16LE(5, 56);
  expected.writeInt32LE(6, 98);
  assert.equal(Buffer.from(fake.kernel.data.subarray(0, all.size)), expected);
  // nothing given, nothing written (and no generation lost either)
  await onPage((page) => page.write(all, {}), fake);
  assert.equal(Buffer.from(fake.kernel.data.subarray(0, all.size)), expected);
});

test('page.write: range and type errors name the field, and nothing is written', async () => {
  const fake = createFakeDevice();
  fake.kernel.write(0, allBytes());
  const bad: Array<[unknown, new (...a: never[]) => Error, RegExp, number?]> = [
    [{ u8: 256 }, RangeError, /field "u8" \(u8\): 256 is not an integer in 0\.\.255/],
    [{ u8: -1 }, RangeError, /"u8"/],
    [{ u16: 65536 }, RangeError, /"u16"/],
    [{ u32: 2 ** 32 }, RangeError, /"u32"/],
    [{ u32: 1.5 }, RangeError, /"u32" \(u32\): 1\.5 is not an integer/],
    [{ u32: Number.NaN }, RangeError, /"u32"/],
    [{ i8: 128 }, RangeError, /"i8"/],
    [{ i16: -32769 }, RangeError, /"i16"/],
    [{ i32: 2 ** 31 }, RangeError, /"i32"/],
    [{ u64: -1n }, RangeError, /field "u64" \(u64\): -1n is out of range 0\.\.18446744073709551615/],
    [{ u64: 2n ** 64n }, RangeError, /"u64"/],
    [{ i64: 2n ** 63n }, RangeError, /"i64"/],
    [{ i64: -(2n ** 63n) - 1n }, RangeError, /"i64"/],
    [{ f32: 1e39 }, RangeError, /field "f32" \(f32\): 1e\+39 is out of range/],
    [{ name: 'x'.repeat(11) }, RangeError, /field "name" \(utf8\): "xxxxxxxxxxx" needs 11 bytes, the field has 10/],
    [{ name: 'ééééé!' }, RangeError, /needs 11 bytes/],
    [{ raw: new Uint8Array(5) }, RangeError, /field "raw" \(bytes\): 5 bytes, the field has 4/],
    [{ levels: [1, 2, 3, 4] }, RangeError, /field "levels": 4 elements, the field has 3/],
    [{ levels: [1, 2, 70000] }, RangeError, /field "levels\[2\]" \(u16\): 70000/],
    [{ path: [{ x: 1 }, { y: 2 ** 31 }] }, RangeError, /field "path\[1\]\.y" \(i32\)/],
    [{ origin: { x: 0.5 } }, RangeError, /field "origin\.x"/],
    [{ u64: 1 }, TypeError, /field "u64" \(u64\): expected a bigint, got 1/],
    [{ i64: 1.5 }, TypeError, /"i64".*bigint/],
    [{ u8: 1n }, TypeError, /field "u8" \(u8\): expected a number, got 1n/],
    [{ u8: '1' }, TypeError, /"u8".*expected a number, got "1"/],
    [{ f64: 1n }, TypeError, /"f64".*expected a number/],
    [{ name: 5 }, TypeError, /field "name" \(utf8\): expected a string, got 5/],
    [{ raw: [1, 2] }, TypeError, /field "raw" \(bytes\): expected a Uint8Array, got an array/],
    [{ raw: Buffer.from([1]).toString() }, TypeError, /"raw"/],
    [{ levels: 1 }, TypeError, /field "levels": expected an array, got 1/],
    [{ origin: 5 }, TypeError, /field "origin": expected an object of fields, got 5/],
    [{ origin: [1] }, TypeError, /"origin": expected an object/],
    [{ path: [5] }, TypeError, /field "path\[0\]": expected an object/],
    [{ nope: 1 }, TypeError, /the layout has no field "nope"/],
    [{ origin: { z: 1 } }, TypeError, /the layout has no field "origin\.z"/],
    [5, TypeError, /values must be an object of fields, got 5/],
    [null, TypeError, /values must be an object/],
    [{ u8: 1 }, RangeError, /bytes \[4000, 4000 \+ 102\) are outside the 4096-byte region/, 4000],
    [{ u8: 1 }, RangeError, /outside/, -1],
  ];
  const errors = await onPage((page) => bad.map(([values, type, message, offset]) => {
    // the first fields are valid and would be written first: they must not be
    const first = { u32: 1, name: 'changed', ...(values as object) };
    try {
      page.write(all, (typeof values === 'object' && values !== null ? first : values) as never, offset ?? 0);
      return `${JSON.stringify(values, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x))}: no error`;
    } catch (e) {
      if (!(e instanceof type) || !message.test((e as Error).message)) return `${String(e)} is not a ${type.name} like ${message}`;
      if (!Buffer.from(page.slice(0, all.size)).equals(allBytes())) return `${String(e)}: bytes were written`;
      return 'ok';
    }
  }), fake);
  assert.equal(errors, bad.map(() => 'ok'));
  assert.equal(Buffer.from(fake.kernel.data.subarray(0, all.size)), allBytes());
});

test('page.write: a transaction that throws after writing restores; so does an aborted lease', async () => {
  const fake = createFakeDevice();
  fake.kernel.write(0, allBytes());
  const err = await onPage((page) => {
    page.write(all, { u64: 1n, name: 'gone', path: [{ x: 9 }] });
    assert.is(page.read(all).name, 'gone');
    throw new Error('after the write');
  }, fake).catch((e: unknown) => e);
  assert.match(String(err), /after the write/);
  assert.equal(Buffer.from(fake.kernel.data.subarray(0, all.size)), allBytes());
  const lease = await new Promise<Lease>((resolve) => fake.lock$().subscribe(resolve));
  lease.page.write(all, { levels: [0, 0, 0], origin: { x: 0, y: 0 } });
  assert.equal(lease.page.read(all).levels, [0, 0, 0]);
  lease.abort();
  assert.equal(Buffer.from(fake.kernel.data.subarray(0, all.size)), allBytes());
  throwsWith(() => lease.page.write(all, { u8: 1 }), LeaseEndedError, /./);
});

/* ---- JSON ------------------------------------------------------------------ */

test('layoutFromJSON: the same field map, nested layouts inline; text or object; JSON.stringify round-trips', () => {
  const text = JSON.stringify({
    count: { at: 0, type: 'u32' },
    label: { at: 4, type: 'utf8', length: 12 },
    pos: { at: 16, layout: { x: { at: 0, type: 'i32' }, y: { at: 4, type: 'i32' } } },
    trail: { at: 24, layout: { x: { at: 0, type: 'i32' }, y: { at: 4, type: 'i32' } }, count: 2 },
    samples: { at: 40, type: 'f64', count: 2 },
  });
  const l = layoutFromJSON(text);
  assert.is(l.size, 56);
  assert.is(l.fields['pos']?.layout?.size, 8);
  assert.equal(JSON.parse(JSON.stringify(l)), JSON.parse(text));
  assert.equal(JSON.stringify(layoutFromJSON(JSON.parse(text) as object)), JSON.stringify(l));
  assert.equal(JSON.stringify(layoutFromJSON(JSON.stringify(all))), JSON.stringify(all));
  assert.is(layoutFromJSON(JSON.stringify(all)).size, all.size);
  // a typed layout may be nested in an object given directly
  assert.is(layoutFromJSON({ p: { at: 4, layout: point } }).fields['p']?.layout, point);
  // reads and writes the same bytes as the typed layout
  const b = allBytes();
  const s = createSnapshot(new Uint8Array(b), 1n, 2);
  assert.equal(s.read(layoutFromJSON(JSON.stringify(all))), allValues);
});

test('layoutFromJSON: checked the same way, nested fields named by their path', () => {
  throwsWith(() => layoutFromJSON('{"a": {"at": 0, "type": "u32"}, "b": {"at": 2, "type": "u8"}}'), RangeError, /"b".*overlaps.*"a"/);
  throwsWith(() => layoutFromJSON('{"p": {"at": 0, "layout": {"x": {"at": 0, "type": "i33"}}}}'), TypeError,
    /field "p\.x": unknown type "i33"/);
  throwsWith(() => layoutFromJSON('{"p": {"at": 0, "layout": {"x": {"at": 0, "type": "u8"}, "y": {"at": 0, "type": "u8"}}}}'),
    RangeError, /field "p\.y" .*overlaps field "p\.x"/);
  throwsWith(() => layoutFromJSON('{"p": {"at": 0, "layout": {}}}'), RangeError, /field "p": a layout needs at least one field/);
  throwsWith(() => layoutFromJSON('{"p": {"at": 0, "layout": 5}}'), TypeError, /field "p": layout must be a layout/);
  throwsWith(() => layoutFromJSON('{"s": {"at": 0, "type": "utf8", "length": -3}}'), RangeError, /field "s": length/);
  throwsWith(() => layoutFromJSON('[1]'), TypeError, /a layout is an object of fields/);
  throwsWith(() => layoutFromJSON('"u8"'), TypeError, /a layout is an object/);
  throwsWith(() => layoutFromJSON('{"a": {"at": 0, "type": "u8"},'), SyntaxError, /^layout JSON: /);
});

/* ---- selectLayout ---------------------------------------------------------- */

test('layoutValuesEqual: deep, by value (bigint, arrays, Uint8Array, nested)', () => {
  const eq = layoutValuesEqual;
  assert.ok(eq({ a: 1n, b: [1, 2], c: Uint8Array.of(1), d: { e: 'x', f: [{ g: Number.NaN }] } },
    { a: 1n, b: [1, 2], c: Uint8Array.of(1), d: { e: 'x', f: [{ g: Number.NaN }] } }));
  assert.not.ok(eq({ a: 1n }, { a: 2n }));
  assert.not.ok(eq({ a: [1, 2] }, { a: [1, 3] }));
  assert.not.ok(eq({ a: [1, 2] }, { a: [1, 2, 3] }));
  assert.not.ok(eq({ a: Uint8Array.of(1, 2) }, { a: Uint8Array.of(1, 3) }));
  assert.not.ok(eq({ a: Uint8Array.of(1) }, { a: [1] }));
  assert.not.ok(eq({ a: [1] }, { a: Uint8Array.of(1) }));
  assert.not.ok(eq({ a: { b: { c: 1 } } }, { a: { b: { c: 2 } } }));
  assert.not.ok(eq({ a: 0 }, { a: -0 }));
  assert.not.ok(eq({ a: 1 }, { b: 1 }));
  assert.not.ok(eq({ a: 1 }, { a: 1, b: 2 }));
  assert.not.ok(eq({ a: 1 }, { a: '1' }));
  assert.not.ok(eq({ a: {} }, { a: [] }));
});

const scheduler = (): TestScheduler => new TestScheduler((actual, expected) => assert.equal(actual, expected));

test('selectLayout (marbles): one object per commit that changed a field; other commits emit nothing', () => {
  scheduler().run(({ cold, expectObservable }) => {
    const fake = createFakeDevice();
    const state = defineLayout({
      count: { at: 0, type: 'u64' },
      levels: { at: 8, type: 'u8', count: 2 },
      raw: { at: 10, type: 'bytes', length: 2 },
      pos: { at: 12, layout: point },
    });
    const zero = { count: 0n, levels: [0, 0], raw: Uint8Array.of(0, 0), pos: { x: 0, y: 0 } };
    cold('-a-b-c-d-e-f-g-h-i|', {
      a: [0, [1]], // count 1n
      b: [0, [1]], // the same bytes again: a commit, no change
      c: [100, [7]], // outside the layout
      d: [9, [5]], // levels[1]
      e: [11, [3]], // raw[1]
      f: [16, [0xff, 0xff, 0xff, 0xff]], // pos.y = -1
      g: [16, [0xff, 0xff, 0xff, 0xff]], // the same again
      h: [12, [0, 0, 0, 0]], // pos.x was 0 already
      i: [7, [0x80]], // count's top byte: a bigint beyond 2^53
    } as Record<string, [number, number[]]>).subscribe(([at, bytes]) => fake.kernel.write(at, bytes));
    const one = { ...zero, count: 1n };
    const two = { ...one, levels: [0, 5] };
    const three = { ...two, raw: Uint8Array.of(0, 3) };
    const four = { ...three, pos: { x: 0, y: -1 } };
    const five = { ...four, count: 1n + 2n ** 63n };
    expectObservable(fake.snapshots$.pipe(selectLayout(state), take(6)))
      .toBe('za-----d-e-f-----(i|)', { z: zero, a: one, d: two, e: three, f: four, i: five });
    // device.select$(layout, offset) is the same operator, here on pos alone
    expectObservable(fake.select$(point, 12).pipe(take(2))).toBe('z----------(f|)', { z: { x: 0, y: 0 }, f: { x: 0, y: -1 } });
    // and select$(fn, compare) is as it was
    expectObservable(fake.select$((s) => s.u8(0), (a, b) => a % 2 === b % 2).pipe(take(2))).toBe('z(a|)', { z: 0, a: 1 });
  });
});

test('selectLayout: each emission is a fresh object, so a subscriber that changes it changes nothing', () => {
  scheduler().run(({ cold, expectObservable, flush }) => {
    const fake = createFakeDevice();
    const l = defineLayout({ v: { at: 0, type: 'u8', count: 2 } });
    const seen: number[][] = [];
    fake.select$(l).subscribe((x) => {
      seen.push([...x.v]);
      x.v[1] = 42; // must neither hide the next change from the comparison nor show in other emissions
    });
    cold('-a-b|', { a: [1, 42], b: [0, 1] }).subscribe(([at, value]) => fake.kernel.write(at!, [value!]));
    expectObservable(fake.select$(l)).toBe('za-b', { z: { v: [0, 0] }, a: { v: [0, 42] }, b: { v: [1, 42] } });
    flush();
    assert.equal(seen, [[0, 0], [0, 42], [1, 42]]);
  });
});

test('selectLayout: a layout beyond the region errors the stream; anything else throws at once', async () => {
  const fake = createFakeDevice();
  const err = await firstValueFrom(fake.select$(point, 4090)).catch((e: unknown) => e);
  assert.instance(err, RangeError);
  throwsWith(() => selectLayout({ size: 1 } as never), TypeError, /not a layout/);
  throwsWith(() => fake.select$({ size: 1 } as never), TypeError, /not a layout/);
});

test.run();
