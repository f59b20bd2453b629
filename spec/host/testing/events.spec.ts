// kshm/testing's ring (lib/testing/fake-ring.ts): kernel.emit and events$ in
// virtual time: batches per wake-up, overruns with the driver's (libkshm's)
// resume rule and exact lostBefore, time from the scheduler, wake-ups only
// for sleeping readers, and the errors.
import { map, take, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { NoRingError, type EventRecord } from '../../../lib/index.js';
import { createFakeDevice } from '../../../lib/testing/index.js';

const test = suite('testing: the fake ring (EVENTS)');
const scheduler = (): TestScheduler => new TestScheduler((a, b) => assert.equal(a, b));
const summary = (e: EventRecord): string => `${e.seq}:${e.type}:${e.lostBefore}:${e.timeNs}`;

test('records arrive in one batch per wake-up, in order, with the virtual time', () => {
  scheduler().run(({ expectObservable, cold }) => {
    const fake = createFakeDevice({ ring: 16 });
    cold('-a 4ms b').subscribe((v) => {
      if (v === 'a') {
        fake.kernel.emit(1);
        fake.kernel.emit(2);
      } else {
        fake.kernel.emit(3, [7]);
      }
    });
    expectObservable(fake.events$().pipe(map(summary)), '^ 9ms !').toBe('-(ab) 1ms c', {
      a: '0:1:0:1000000', b: '1:2:0:1000000', c: '2:3:0:6000000',
    });
  });
});

test('an overrun in one turn: lostBefore as libkshm counts it (a sixteenth of the ring more), then all', () => {
  scheduler().run(({ expectObservable, cold }) => {
    const fake = createFakeDevice({ ring: 16 });
    cold('-a 1ms b').subscribe((v) => {
      const n = v === 'a' ? 40 : 2;
      for (let i = 0; i < n; i++) fake.kernel.emit(5, [i]);
    });
    // head 40, ring 16: the reader resumes at 40 - 16 + 1 = 25 (lost 25), then 26..39, then 40, 41
    const seqs = fake.events$().pipe(map((e) => `${e.seq}/${e.lostBefore}`), take(17), toArray());
    const want = ['25/25', ...Array.from({ length: 14 }, (_, i) => `${26 + i}/0`), '40/0', '41/0'];
    expectObservable(seqs).toBe('3ms (a|)', { a: want });
  });
});

test("from 'oldest', two readers with their own positions, wake-ups only for sleepers", () => {
  scheduler().run(({ expectObservable, cold, flush }) => {
    const fake = createFakeDevice({ ring: 4 });
    for (let i = 0; i < 6; i++) fake.kernel.emit(1, [i]); // nobody reads: no wake-up
    assert.is(fake.info().ring?.wakeups, 0);
    expectObservable(fake.events$({ from: 'oldest' }).pipe(map((e) => `${e.seq}`)), '^ 9ms !')
      .toBe('(abcd) 2ms e', { a: '2', b: '3', c: '4', d: '5', e: '6' });
    expectObservable(fake.events$().pipe(map((e) => `${e.seq}`)), '^ 9ms !').toBe('8ms e', { e: '6' });
    cold('8ms a').subscribe(() => fake.kernel.emit(1));
    flush();
    assert.equal(fake.info().ring, { records: 4, events: 7, wakeups: 1 });
  });
});

test('kernel.emit and emit: records marked by origin, errors, no ring', async () => {
  const fake = createFakeDevice({ ring: 8 });
  const seen: EventRecord[] = [];
  fake.events$().subscribe((e) => seen.push(e));
  assert.is(fake.kernel.emit(1, [1, 2, 3]), 0n);
  assert.is(fake.emit(2, [4]), 1n);
  assert.throws(() => fake.kernel.emit(1, new Uint8Array(105)), RangeError);
  assert.throws(() => fake.kernel.emit(-1), RangeError);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(seen.map((e) => [e.seq, e.fromUser, [...e.bytes]]), [[0n, false, [1, 2, 3]], [1n, true, [4]]]);
  assert.throws(() => createFakeDevice({ ring: 3 }), RangeError);
  assert.throws(() => createFakeDevice({ ring: 131072 }), RangeError);
  const none = createFakeDevice();
  assert.is(none.info().ring, undefined);
  assert.throws(() => none.kernel.emit(1), (e: unknown) => e instanceof NoRingError);
  assert.throws(() => none.emit(1), (e: unknown) => e instanceof NoRingError && e.code === 'KSHM_NO_RING');
  const err = await new Promise((resolve) => none.events$().subscribe({ error: resolve }));
  assert.instance(err, NoRingError);
});

test.run();
