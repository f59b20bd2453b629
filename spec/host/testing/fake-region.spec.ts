// lib/testing/fake-region.ts: the model of the driver keeps the lock word as
// the driver does, so the fast path means the same on the fake.
import { constants } from 'node:os';
import { asyncScheduler, lastValueFrom } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LW_DIED, LW_KERNEL, LW_WAITERS } from '../../../lib/abi.js';
import { createFakeDevice, FakeRegion } from '../../../lib/testing/index.js';

const test = suite('testing: the fake region (a model of the driver)');

test('the word names the holder, flags WAITERS while anyone queues, and the driver hands over FIFO', () => {
  new TestScheduler((a, b) => assert.equal(a, b)).run(({ flush }) => {
    const r = new FakeRegion(1, asyncScheduler);
    const [a, b, c] = [{}, {}, {}];
    const ids = [a, b, c].map((h) => r.idOf(h));
    assert.is(r.tryLock(a).errno, 0);
    assert.is(r.word.word, ids[0]);
    const order: number[] = [];
    r.lock(b, 0, () => order.push(1));
    const cancelC = r.lock(c, 0, () => order.push(2));
    assert.is(r.word.word, ((ids[0] as number) | LW_WAITERS) >>> 0);
    cancelC();
    flush();
    assert.equal(order, [2], 'c left with ECANCELED');
    assert.is(r.unlock(a, true), 0);
    assert.is(r.word.word, ids[1], 'handed to b, no WAITERS left');
    flush();
    assert.equal(order, [2, 1]);
    assert.is(r.unlock(a, true), constants.errno.EPERM, 'a is not the holder any more');
  });
});

test('DIED: set when a holder dies, kept by the kernel, repaired by a user commit', async () => {
  const fake = createFakeDevice();
  const region = fake.kernel;
  fake.kernel.hold();
  assert.is(fake.info().kernelHolds, true);
  fake.kernel.killHolder();
  assert.is(fake.info().ownerDied, true);
  region.write(0, [1]);
  assert.is(fake.info().ownerDied, true, 'a kernel commit is no repair');
  assert.is(await lastValueFrom(fake.transaction((p) => p.ownerDied)), true);
  assert.is(fake.info().ownerDied, false);
  assert.ok(LW_DIED > LW_KERNEL);
});

test('fastPath means what it means on the driver: no driver grant on the fast path, one without it', async () => {
  const fake = createFakeDevice();
  const fast = fake.open({ fastPath: true });
  const slow = fake.open({ fastPath: false });
  const before = fake.info().counters;
  await lastValueFrom(fast.transaction((p) => p.setU8(0, 1)));
  assert.is(fake.info().counters.locksGranted, before.locksGranted);
  assert.is(fake.info().counters.commits, before.commits);
  assert.is(fake.info().generation, 1n, 'the generation counts every commit');
  await lastValueFrom(slow.transaction((p) => p.setU8(0, 2)));
  assert.is(fake.info().counters.locksGranted, before.locksGranted + 1);
  assert.is(fake.info().counters.commits, before.commits + 1);
});

test.run();
