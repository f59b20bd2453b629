// lib/device.ts against a scripted backend: transactions, leases, kernel
// writes and close, composed from the lock queue and the snapshot stream.
import { asyncScheduler, firstValueFrom, lastValueFrom, map, toArray } from 'rxjs';
import { createFakeDevice, FakeBackend, FakeRegion } from '../../lib/testing/index.js';
import { TestScheduler } from 'rxjs/testing';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { KshmDevice } from '../../lib/device.js';
import { DeviceClosedError, LeaseEndedError, ReadOnlyDeviceError } from '../../lib/errors.js';
import type { Lease } from '../../lib/types.js';
import { StubBackend } from './stub-backend.js';

const test = suite('device (stub backend)');
const virtual = (fn: (helpers: { flush: () => void }) => void): void => {
  new TestScheduler((a, b) => assert.equal(a, b)).run(fn);
};

test('a transaction commits and emits; a throw restores the bytes and aborts', async () => {
  const b = new StubBackend();
  const d = new KshmDevice(b);
  assert.is(await lastValueFrom(d.transaction((p) => { p.setU8(1, 9); return 'ok'; })), 'ok');
  const err = await lastValueFrom(d.transaction((p) => { p.setU8(1, 7); throw new Error('no'); })).catch((e: unknown) => e);
  assert.is((err as Error).message, 'no');
  assert.is(b.data[1], 9);
  assert.equal(b.unlocks, [true, false]);
});

test('an async transaction on a backend that cannot stage holds the lock in place until it settles', async () => {
  const b = new StubBackend();
  const d = new KshmDevice(b);
  let release: (() => void) | undefined;
  const done = lastValueFrom(d.transaction(async (p) => {
    p.setU8(3, 4);
    await new Promise<void>((r) => { release = r; });
    p.setU8(4, 5);
    return 1;
  }));
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(b.unlocks, [], 'held while the promise is pending');
  assert.is(b.data[3], 4, 'written in place (no staging without Backend.stage/publish)');
  release?.();
  assert.is(await done, 1);
  assert.equal(b.unlocks, [true]);
  assert.equal([b.data[3], b.data[4]], [4, 5]);
  const err = await lastValueFrom(d.transaction(async (p) => { p.setU8(3, 9); throw new Error('no'); })).catch((e: unknown) => e);
  assert.is((err as Error).message, 'no');
  assert.is(b.data[3], 4, 'restored');
  assert.equal(b.unlocks, [true, false]);
});

test('a lease: commit publishes, unsubscribe aborts and restores, a dead lease throws', () => {
  virtual(() => {
    const b = new StubBackend();
    const d = new KshmDevice(b);
    let lease: Lease | undefined;
    d.lock$().subscribe((l) => { lease = l; });
    lease?.page.setU8(0, 5);
    lease?.commit();
    assert.throws(() => lease?.commit(), (e: unknown) => e instanceof LeaseEndedError);
    const sub = d.lock$().subscribe((l) => { lease = l; });
    lease?.page.setU8(0, 6);
    sub.unsubscribe();
    assert.is(lease?.active, false);
    assert.is(b.data[0], 5);
    assert.equal(b.unlocks, [true, false]);
  });
});

test('a transaction that closes its device ends with DeviceClosedError, its writes undone', async () => {
  const b = new StubBackend();
  const d = new KshmDevice(b);
  const err = await lastValueFrom(d.transaction((p) => { p.setU8(2, 1); d.close(); })).catch((e: unknown) => e);
  assert.instance(err, DeviceClosedError);
  assert.is(b.data[2], 0);
  assert.equal(b.unlocks, [false]);
  assert.is(b.closed, 1);
});

test('kernelWrite copies its bytes and defaults to a 1000 ms kernel timeout', () => {
  virtual(() => {
    const b = new StubBackend();
    const d = new KshmDevice(b);
    const out: bigint[] = [];
    d.kernelWrite(3, [1, 2]).subscribe((g) => out.push(g));
    assert.equal([...(b.kernelWrites[0]?.bytes ?? [])], [1, 2]);
    assert.is(b.kernelWrites[0]?.timeoutMs, 1000);
    b.kernelWrites[0]?.done(0, 4n);
    assert.equal(out, [4n]);
  });
});

test('select$ is the select operator on snapshots$; a read-only device refuses writes', async () => {
  const b = new StubBackend(true);
  const d = new KshmDevice(b, { scheduler: asyncScheduler });
  assert.is(await firstValueFrom(d.select$((s) => s.u8(0))), 0);
  assert.instance(await lastValueFrom(d.transaction(() => 1)).catch((e: unknown) => e), ReadOnlyDeviceError);
  d.close();
  assert.throws(() => d.info(), (e: unknown) => e instanceof DeviceClosedError);
});

test('bad options are RangeErrors before anything waits', async () => {
  const fake = createFakeDevice();
  for (const timeoutMs of [-5, 1.5, 2 ** 33]) {
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

test('lock$: a lease ended inside its own emission (commit, abort, the device closing, its holder killed) still reaches operators below', async () => {
  const fake = createFakeDevice();
  const other = fake.open();
  const got = await lastValueFrom(other.lock$().pipe(map((lease) => {
    other.close();
    return lease.active;
  }), toArray()));
  assert.equal(got, [false], 'the close completes the stream after the value');
  const seen: boolean[] = [];
  const killed = await new Promise((resolve) => {
    fake.lock$().pipe(map((lease) => {
      fake.kernel.killHolder();
      return lease.active;
    })).subscribe({ next: (v) => seen.push(v), error: resolve, complete: () => resolve('completed') });
  });
  assert.equal(seen, [false], 'the value arrives, then the error');
  assert.instance(killed, LeaseEndedError);
  assert.is(fake.info().locked, false);
});

test.run();
