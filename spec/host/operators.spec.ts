// lib/operators (transact, select): marble tests on the fake device, in virtual time.
import { catchError, from, lastValueFrom, of, take, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LockTimeoutError, select, transact } from '../../lib/index.js';
import { createFakeDevice } from '../../lib/testing/index.js';

const test = suite('operators: marbles (fake device, TestScheduler)');
const scheduler = (): TestScheduler => new TestScheduler((actual, expected) => assert.equal(actual, expected));

test('README example: transact runs in order and emits each result', () => {
  scheduler().run(({ cold, expectObservable }) => {
    const fake = createFakeDevice();
    const sums$ = cold('a-b-c|', { a: 1, b: 2, c: 3 }).pipe(
      transact(fake, (page, n: number) => {
        page.setU32(0, page.u32(0) + n);
        return page.u32(0);
      }),
    );
    expectObservable(sums$).toBe('a-b-c|', { a: 1, b: 3, c: 6 });
  });
});

test('transact waits for a held lock, in order, without losing values', () => {
  scheduler().run(({ cold, expectObservable }) => {
    const fake = createFakeDevice();
    fake.kernel.hold();
    cold('-----x|').subscribe(() => fake.kernel.release());
    const out$ = cold('ab|').pipe(transact(fake, (page, v: string) => {
      page.setUtf8(0, page.utf8(0, 8) + v, 8);
      return page.utf8(0, 8);
    }));
    // both wait until 5ms; the grant callback and the next pass come on the same frame
    expectObservable(out$).toBe('-----(xy|)', { x: 'a', y: 'ab' });
  });
});

test('a throwing transaction rolls back and errors the stream; later values do not apply', () => {
  scheduler().run(({ cold, expectObservable, flush }) => {
    const fake = createFakeDevice();
    const out$ = cold('a-b-c|', { a: 1, b: 2, c: 3 }).pipe(transact(fake, (page, n: number) => {
      page.setU8(0, n);
      if (n === 2) throw new Error('two');
      return n;
    }));
    expectObservable(out$).toBe('a-#', { a: 1 }, new Error('two'));
    flush();
    assert.is(fake.kernel.data[0], 1);
    assert.is(fake.kernel.generation, 1n);
  });
});

test('timeoutMs in virtual time', () => {
  scheduler().run(({ expectObservable }) => {
    const fake = createFakeDevice();
    fake.kernel.hold();
    const out$ = fake.transaction(() => 'never', { timeoutMs: 30 }).pipe(
      catchError((e: unknown) => of(e instanceof LockTimeoutError ? 'timeout' : 'other')),
    );
    expectObservable(out$).toBe('30ms (t|)', { t: 'timeout' });
  });
});

test('unsubscribing cancels the wait: nothing runs, the lock stays free after release', () => {
  scheduler().run(({ cold, expectObservable, flush }) => {
    const fake = createFakeDevice();
    fake.kernel.hold();
    let ran = false;
    expectObservable(fake.transaction(() => { ran = true; }), '^ 10ms !').toBe('');
    cold('--------------------x').subscribe(() => fake.kernel.release());
    flush();
    assert.is(ran, false);
    assert.is(fake.info().locked, false);
    assert.is(fake.info().waiters, 0);
  });
});

test('the kernel ticker in virtual time, seen through select', () => {
  scheduler().run(({ cold, expectObservable }) => {
    const fake = createFakeDevice();
    fake.kernel.setTickMs(10);
    cold('50ms x').subscribe(() => fake.kernel.setTickMs(0)); // or flush() never ends
    const ticks$ = fake.snapshots$.pipe(select((s) => s.tick().count), take(4));
    expectObservable(ticks$).toBe('a 9ms b 9ms c 9ms (d|)', { a: 0n, b: 1n, c: 2n, d: 3n });
  });
});

test('killHolder: the next transaction is told ownerDied, until a commit repairs', () => {
  scheduler().run(({ expectObservable }) => {
    const fake = createFakeDevice();
    fake.kernel.hold();
    fake.kernel.killHolder();
    expectObservable(fake.transaction((p) => p.ownerDied)).toBe('(t|)', { t: true });
    expectObservable(fake.transaction((p) => p.ownerDied)).toBe('(f|)', { f: false });
  });
});

test('ticks are skipped while a user holds the lock', () => {
  scheduler().run(({ cold, flush }) => {
    const fake = createFakeDevice();
    const other = fake.open();
    let release: (() => void) | undefined;
    other.lock$().subscribe((lease) => { release = () => lease.abort(); });
    fake.kernel.setTickMs(5);
    cold('-----------------------x').subscribe(() => { release?.(); });
    cold('---------------------------------------x').subscribe(() => fake.kernel.setTickMs(0));
    flush();
    const { counters } = fake.info();
    assert.ok(counters.ticksSkipped >= 3, `skipped ${counters.ticksSkipped}`);
    assert.ok(counters.ticks >= 2, `ticks ${counters.ticks}`);
  });
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
