// lib/testing/index.ts: the fake kernel handle checks its own arguments.
import { firstValueFrom, lastValueFrom } from 'rxjs';
import { LockBusyError } from '../../../lib/index.js';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createFakeDevice } from '../../../lib/testing/index.js';

const test = suite('testing: the fake kernel');

test('fake kernel: checks its own arguments and the lock', async () => {
  const fake = createFakeDevice({ pages: 2 });
  assert.is(fake.size, 8192);
  assert.instance(await lastValueFrom(fake.kernel.write(8190, [1, 2, 3])).catch((e: unknown) => e), RangeError);
  assert.throws(() => createFakeDevice({ pages: 0 }), (e: unknown) => e instanceof RangeError);
  fake.kernel.hold();
  assert.throws(() => fake.kernel.hold());
  assert.instance(await lastValueFrom(fake.kernel.write(0, [1], { timeoutMs: 0 })).catch((e: unknown) => e), LockBusyError);
  assert.is(fake.info().kernelHolds, true);
  fake.kernel.release(false);
  assert.throws(() => fake.kernel.release());
  assert.is(await lastValueFrom(fake.kernel.write(0, [9])), 1n);
  assert.is((await firstValueFrom(fake.snapshots$)).u8(0), 9);
  assert.throws(() => fake.kernel.setTickMs(-1), (e: unknown) => e instanceof RangeError);
});

test('fake kernel: values that are not bytes are a RangeError, as device.kernelWrite and emit say', async () => {
  const fake = createFakeDevice({ ring: 4 });
  for (const bad of [[256], [-1], [0.5]]) {
    assert.instance(await lastValueFrom(fake.kernel.write(0, bad)).catch((e: unknown) => e), RangeError);
    assert.throws(() => fake.kernel.emit(1, bad), (e: unknown) => e instanceof RangeError);
  }
  assert.is(fake.kernel.generation, 0n, 'nothing written');
  assert.is(fake.kernel.emit(1, [255]), 0n, 'nothing published before');
});

test.run();
