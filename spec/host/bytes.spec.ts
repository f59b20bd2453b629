// lib/bytes.ts: the range checks and the typed readers Page and Snapshot share.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ByteReader, checkRange, checkWrite } from '../../lib/bytes.js';

const test = suite('bytes');
const isRange = (e: unknown): boolean => e instanceof RangeError;

test('checkRange: inside passes; negative, fractional or past the end throws', () => {
  checkRange(0, 8, 8);
  checkRange(8, 0, 8);
  for (const [offset, width] of [[-1, 1], [0, 9], [1.5, 1], [0, -1], [7, 2]] as const) {
    assert.throws(() => checkRange(offset, width, 8), isRange, `${offset}+${width}`);
  }
});

test('checkWrite: at least one byte, inside the region', () => {
  checkWrite(7, 1, 8);
  assert.throws(() => checkWrite(0, 0, 8), isRange);
  assert.throws(() => checkWrite(7, 2, 8), isRange);
});

test('ByteReader: little-endian reads, NUL-terminated utf8, slices are copies', () => {
  const bytes = Uint8Array.of(1, 0, 0, 0, 0x68, 0x69, 0, 0x7a);
  const r = new ByteReader(bytes);
  assert.is(r.u32(0), 1);
  assert.is(r.utf8(4, 4), 'hi');
  const s = r.slice(4, 2);
  s[0] = 0;
  assert.is(r.u8(4), 0x68);
  assert.throws(() => r.u64(1), isRange);
});

test.run();
