// lib/snapshot.ts: an immutable copy with typed readers.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createSnapshot } from '../../lib/snapshot.js';

const test = suite('snapshot');

test('Snapshot: bytes is a fresh copy; utf8 stops at NUL; tick reads the last 16 bytes', () => {
  const raw = new Uint8Array(64);
  raw.set(new TextEncoder().encode('ab\0cd'), 0);
  raw[48] = 7;
  const s = createSnapshot(raw, 3n, 6);
  const copy = s.bytes;
  copy[0] = 0;
  assert.is(s.u8(0), 97);
  assert.is.not(s.bytes, s.bytes);
  assert.is(s.utf8(0, 5), 'ab');
  assert.equal(s.tick(), { count: 7n, monoNs: 0n });
  assert.throws(() => s.u32(62), (e: unknown) => e instanceof RangeError);
  assert.throws(() => s.slice(-1, 2), (e: unknown) => e instanceof RangeError);
});

test.run();
