// lib/page.ts: typed, range-checked writes in place.
import { lastValueFrom } from 'rxjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createFakeDevice } from '../../lib/testing/index.js';

const test = suite('page');

test('Page: every typed write is range-checked and read back', async () => {
  const fake = createFakeDevice();
  const back = await lastValueFrom(fake.transaction((p) => {
    p.setU8(0, 255); p.setU16(2, 65535); p.setU32(4, 0xffffffff); p.setU64(8, (1n << 64n) - 1n);
    p.setI8(16, -128); p.setI16(18, -32768); p.setI32(20, -2147483648); p.setI64(24, -(1n << 63n));
    p.setF32(32, 1.5); p.setF64(40, -0.25); p.setU64(48, 42); p.setUtf8(56, 'héllo', 8);
    for (const bad of [() => p.setU8(0, -1), () => p.setU16(0, 65536), () => p.setU32(0, 2 ** 32),
      () => p.setU64(0, -1n), () => p.setI64(0, 1n << 63n), () => p.setU64(0, 2 ** 60), () => p.setI8(0, 128),
      () => p.setU8(0, 1.5), () => p.set(0, [300]), () => p.fill(256)]) {
      assert.throws(bad, (e: unknown) => e instanceof RangeError);
    }
    return [p.u8(0), p.u16(2), p.u32(4), p.u64(8), p.i8(16), p.i16(18), p.i32(20), p.i64(24), p.f32(32),
      p.f64(40), p.u64(48), p.utf8(56, 8)];
  }));
  assert.equal(back, [255, 65535, 0xffffffff, (1n << 64n) - 1n, -128, -32768, -2147483648, -(1n << 63n),
    1.5, -0.25, 42n, 'héllo']);
});

test.run();
