// kshm/testing: several regions (createFakeKshm), created, listed, opened by
// path and destroyed under their users, as the driver does (REGIONS in the uapi header).
import { firstValueFrom, lastValueFrom } from 'rxjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DeviceGoneError, DeviceNotFoundError, ReadOnlyDeviceError } from '../../../lib/index.js';
import { createFakeDevice, createFakeKshm } from '../../../lib/testing/index.js';

const test = suite('kshm/testing: regions');

test('the default region is /dev/kshm until a named region exists, then /dev/kshm/default', async () => {
  const kshm = createFakeKshm({ pages: 2 });
  assert.equal(await kshm.listDevices(), [{ name: 'default', pages: 2, path: '/dev/kshm' }]);
  kshm.createRegion('sensors', { pages: 4 });
  kshm.createRegion('audio');
  assert.equal(await kshm.listDevices(), [
    { name: 'default', pages: 2, path: '/dev/kshm/default' },
    { name: 'audio', pages: 1, path: '/dev/kshm/audio' },
    { name: 'sensors', pages: 4, path: '/dev/kshm/sensors' },
  ]);
  // /dev/kshm opens the default region whatever exists (the library's EISDIR rule).
  const d = await kshm.openDevice();
  assert.is(d.size, 8192);
  assert.is((await kshm.openDevice('/dev/kshm/default')).size, 8192);
  kshm.destroyRegion('sensors');
  kshm.destroyRegion('audio');
  assert.equal((await kshm.listDevices())[0]?.path, '/dev/kshm');
  await kshm.openDevice('/dev/kshm/default').then(() => assert.unreachable(), (e) => assert.instance(e, DeviceNotFoundError));
});

test('regions are independent: their own bytes, lock and generation', async () => {
  const kshm = createFakeKshm();
  const a = kshm.createRegion('a');
  const b = kshm.createRegion('b', { pages: 4 });
  const appA = await kshm.openDevice('/dev/kshm/a');
  const appB = await kshm.openDevice('/dev/kshm/b');
  a.kernel.hold();
  // b commits at once while a's lock is held.
  assert.is(await lastValueFrom(appB.transaction((p) => p.setU32(0, 7), { timeoutMs: 0 })), undefined);
  assert.is(b.kernel.generation, 1n);
  assert.is(a.kernel.generation, 0n);
  await lastValueFrom(appA.transaction(() => {}, { timeoutMs: 0 })).then(() => assert.unreachable(), (e: Error) =>
    assert.is(e.constructor.name, 'LockBusyError'));
  a.kernel.release(false);
  assert.is(appB.size, 16384);
  assert.is(b.kernel.data[0], 7);
  assert.is(a.kernel.data[0], 0);
});

test('names as the driver takes them; duplicates and "default" refused', () => {
  const kshm = createFakeKshm();
  for (const bad of ['', 'Sensors', 'a/b', '-x', 'x'.repeat(33), 'a.b']) {
    assert.throws(() => kshm.createRegion(bad), (e: Error) => e instanceof RangeError, bad);
  }
  kshm.createRegion('x'.repeat(32));
  kshm.createRegion('ok_1-2');
  assert.throws(() => kshm.createRegion('ok_1-2'), /EEXIST/);
  assert.throws(() => kshm.createRegion('default'), /EEXIST/);
  assert.throws(() => kshm.createRegion('p', { pages: 0 }), (e: Error) => e instanceof RangeError);
  assert.throws(() => kshm.destroyRegion('nope'), /no region/);
  assert.throws(() => createFakeDevice({ name: 'Bad' }), (e: Error) => e instanceof RangeError);
  assert.is(createFakeDevice({ name: 'sensors' }).path, 'fake:kshm/sensors');
  assert.is(createFakeDevice().path, 'fake:kshm');
});

test('destroyed under its users: calls, waits and snapshot streams fail with DeviceGoneError', async () => {
  const kshm = createFakeKshm();
  const sensors = kshm.createRegion('sensors');
  const app = await kshm.openDevice('/dev/kshm/sensors');
  const reader = await kshm.openDevice('/dev/kshm/sensors', { readOnly: true });
  sensors.kernel.write(0, [1, 2, 3]);
  const ended = new Promise<unknown>((resolve) => {
    reader.snapshots$.subscribe({ error: resolve, complete: () => resolve('complete') });
  });
  assert.is((await firstValueFrom(reader.snapshots$)).u8(2), 3);
  sensors.kernel.hold();
  const waiting = lastValueFrom(app.transaction((p) => p.setU8(0, 9), { timeoutMs: 5000 }))
    .then(() => 'committed', (e: unknown) => e);
  kshm.destroyRegion('sensors');
  assert.instance(await waiting, DeviceGoneError);
  assert.instance(await ended, DeviceGoneError);
  assert.throws(() => app.info(), (e: Error) => e instanceof DeviceGoneError);
  const again = await lastValueFrom(app.transaction(() => {})).then(() => 'committed', (e: unknown) => e);
  assert.instance(again, DeviceGoneError);
  assert.is((again as DeviceGoneError).errno, 19);
  // The bytes stay readable (a mapping stays memory); the path is gone.
  assert.is(sensors.kernel.data[2], 3);
  await kshm.openDevice('/dev/kshm/sensors').then(() => assert.unreachable(), (e) => assert.instance(e, DeviceNotFoundError));
  app.close();
  reader.close();
});

test('destroyed before a subscriber comes: snapshots$, select$ and snapshotRange$ fail with DeviceGoneError, no stale snapshot first', async () => {
  const kshm = createFakeKshm();
  const sensors = kshm.createRegion('sensors');
  const app = await kshm.openDevice('/dev/kshm/sensors');
  await lastValueFrom(app.transaction((p) => p.setU8(0, 5)));
  kshm.destroyRegion('sensors');
  for (const [name, stream] of [['snapshots$', app.snapshots$], ['select$', app.select$((s) => s.u8(0))],
    ['snapshotRange$', app.snapshotRange$(0, 4)], ['the fake itself', sensors.snapshots$]] as const) {
    const seen: unknown[] = [];
    const e = await new Promise((resolve) => {
      (stream as typeof app.snapshots$).subscribe({ next: (v) => seen.push(v), error: resolve, complete: () => resolve('completed') });
    });
    assert.instance(e, DeviceGoneError, name);
    assert.is(seen.length, 0, `${name}: nothing before the error`);
  }
  app.close();
});

test('destroyed under an events$ subscriber: the records published before, then DeviceGoneError; a new events$ fails so', async () => {
  const kshm = createFakeKshm();
  const sensors = kshm.createRegion('sensors', { ring: 16 });
  const app = await kshm.openDevice('/dev/kshm/sensors', { readOnly: true });
  const seen: bigint[] = [];
  const ended = new Promise<unknown>((resolve) => {
    app.events$().subscribe({ next: (e) => seen.push(e.u64(0)), error: resolve, complete: () => resolve('complete') });
  });
  sensors.kernel.emit(1, new Uint8Array(new BigUint64Array([7n]).buffer));
  sensors.kernel.emit(1, new Uint8Array(new BigUint64Array([8n]).buffer));
  kshm.destroyRegion('sensors');
  const end = await Promise.race([ended, new Promise((resolve) => setTimeout(() => resolve('still open'), 1000))]);
  assert.instance(end, DeviceGoneError);
  assert.equal(seen, [7n, 8n]);
  const again = await firstValueFrom(app.events$()).then(() => 'a record', (e: unknown) => e);
  assert.instance(again, DeviceGoneError);
  assert.throws(() => app.emit(1), (e: Error) => e instanceof ReadOnlyDeviceError);
  app.close();
});

test.run();
