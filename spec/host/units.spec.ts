// Host units: typed errors of openDevice without a driver, Page and Snapshot
// readers and writers, the fake kernel's own checks.
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asyncScheduler, firstValueFrom, from, lastValueFrom, toArray } from 'rxjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AbiMismatchError, DeviceNotFoundError, KshmDevice, KshmError, openDevice, Snapshot } from '../../lib/index.js';
import { createFakeDevice, FakeBackend, FakeRegion } from '../../lib/testing/index.js';

const test = suite('units');
const dir = mkdtempSync(join(tmpdir(), 'kshm-units-'));

/** A file that looks like a kshm header page (plus one data page). */
function fakeDeviceFile(abi: number, magic = 0x4d48534b): string {
  const b = Buffer.alloc(8192);
  b.writeUInt32LE(magic, 0);
  b.writeUInt32LE(abi, 4);
  b.writeUInt32LE(4096, 8);
  b.writeUInt32LE(1, 12);
  b.writeBigUInt64LE(4096n, 40);
  b.writeBigUInt64LE(4096n, 48);
  const path = join(dir, `dev-${abi}-${magic}`);
  writeFileSync(path, b);
  return path;
}

test('openDevice: no device, another ABI, not a kshm device', async () => {
  const missing = await openDevice(join(dir, 'nope')).catch((e: unknown) => e);
  assert.instance(missing, DeviceNotFoundError);
  assert.is((missing as KshmError).code, 'KSHM_NO_DEVICE');
  assert.match((missing as Error).message, /insmod|npm run vm/);
  const abi = await openDevice(fakeDeviceFile(7)).catch((e: unknown) => e);
  assert.instance(abi, AbiMismatchError);
  assert.match((abi as Error).message, /ABI version 7/);
  assert.match((abi as Error).message, /ABI version 2/);
  const notKshm = await openDevice('/dev/null').catch((e: unknown) => e);
  assert.instance(notKshm, KshmError);
  assert.is((notKshm as KshmError).code, 'KSHM_NOT_A_DEVICE');
  const garbage = await openDevice(fakeDeviceFile(1, 0x1234)).catch((e: unknown) => e);
  assert.is((garbage as KshmError).code, 'KSHM_NOT_A_DEVICE');
});

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

test('Snapshot: bytes is a fresh copy; utf8 stops at NUL; tick reads the last 16 bytes', () => {
  const raw = new Uint8Array(64);
  raw.set(new TextEncoder().encode('ab\0cd'), 0);
  raw[48] = 7;
  const s = new Snapshot(raw, 3n, 6);
  const copy = s.bytes;
  copy[0] = 0;
  assert.is(s.u8(0), 97);
  assert.is.not(s.bytes, s.bytes);
  assert.is(s.utf8(0, 5), 'ab');
  assert.equal(s.tick(), { count: 7n, monoNs: 0n });
  assert.throws(() => s.u32(62), (e: unknown) => e instanceof RangeError);
  assert.throws(() => s.slice(-1, 2), (e: unknown) => e instanceof RangeError);
});

test('fake kernel: checks its own arguments and the lock', async () => {
  const fake = createFakeDevice({ pages: 2 });
  assert.is(fake.size, 8192);
  assert.throws(() => fake.kernel.write(8190, [1, 2, 3]), (e: unknown) => e instanceof RangeError);
  assert.throws(() => createFakeDevice({ pages: 0 }), (e: unknown) => e instanceof RangeError);
  fake.kernel.hold();
  assert.throws(() => fake.kernel.hold());
  assert.throws(() => fake.kernel.write(0, [1]));
  assert.is(fake.info().kernelHolds, true);
  fake.kernel.release(false);
  assert.throws(() => fake.kernel.release());
  assert.is(fake.kernel.write(0, [9]), 1n);
  assert.is((await firstValueFrom(fake.snapshots$)).u8(0), 9);
  assert.throws(() => fake.kernel.setTickMs(-1), (e: unknown) => e instanceof RangeError);
});

test('bad options are RangeErrors before anything waits', async () => {
  const fake = createFakeDevice();
  for (const timeoutMs of [0, -5, 1.5, 2 ** 33]) {
    const err = await lastValueFrom(fake.transaction(() => 1, { timeoutMs })).catch((e: unknown) => e);
    assert.instance(err, RangeError, `timeoutMs ${timeoutMs}`);
  }
  assert.is(fake.info().locked, false);
});

test('snapshots$: one commit watcher however many subscribers, torn down at zero', async () => {
  let watches = 0;
  let stops = 0;
  const region = new FakeRegion(1, asyncScheduler);
  const backend = new FakeBackend(region, 'fake', false);
  const watch = backend.watchCommits.bind(backend);
  backend.watchCommits = (onCommit: () => void) => {
    watches++;
    const stop = watch(onCommit);
    return () => { stops++; stop(); };
  };
  const device = new KshmDevice(backend);
  const subs = [device.snapshots$.subscribe(), device.snapshots$.subscribe(), device.select$((s) => s.u8(0)).subscribe()];
  assert.is(watches, 1);
  await lastValueFrom(device.transaction((p) => p.setU8(0, 1)));
  for (const sub of subs) sub.unsubscribe();
  assert.is(stops, 1);
  device.snapshots$.subscribe().unsubscribe();
  assert.is(watches, 2);
  assert.is(stops, 2);
});

test('device.transact is the transact operator bound to the device', async () => {
  const fake = createFakeDevice();
  const out = await lastValueFrom(from([5, 6]).pipe(fake.transact((p, n: number) => {
    p.setU8(0, p.u8(0) + n);
    return p.u8(0);
  }), toArray()));
  assert.equal(out, [5, 11]);
});

test.run();
