// Issue 19's done criterion for staging, on the fake in virtual time (the guest's
// spec/guest/staging.spec.ts runs it with two processes on the driver): one opener
// holds a lease across a 2 s timer and writes; another subscribes during the hold
// and gets the previously committed state at once, then the new state at the commit.
import { asyncScheduler } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CTRL } from '../../lib/abi.js';
import type { Lease, Snapshot } from '../../lib/index.js';
import { createFakeDevice, FakeRegion } from '../../lib/testing/index.js';

const test = suite('staging on the fake (virtual time)');

function virtual(fn: (h: { flush: () => void; now: () => number }) => void): void {
  const ts = new TestScheduler((a, b) => assert.equal(a, b));
  ts.run(({ flush }) => {
    ts.maxFrames = 100_000;
    fn({ flush, now: () => ts.now() });
    flush();
    assert.is((ts as unknown as { actions: unknown[] }).actions.length, 0, 'nothing left scheduled');
  });
}
const at = (ms: number, fn: () => void): void => { asyncScheduler.schedule(fn, ms); };

for (const fastPath of [true, false]) {
  test(`a lease held 2 s (${fastPath ? 'fast path' : 'fastPath: false'}): a subscriber during the hold gets the committed state at once, then the commit`, () => {
    virtual(({ flush, now }) => {
      const fake = createFakeDevice({ fastPath });
      fake.transaction((p) => p.setU32(0, 1)).subscribe();
      const holder = fake.open({ fastPath });
      const reader = fake.open({ readOnly: true });
      const log: string[] = [];
      let lease: Lease | undefined;
      holder.lock$().subscribe((l) => {
        lease = l;
        l.page.setU32(0, 2);
        log.push(`held, seq ${fake.kernel.seq % 2 ? 'odd' : 'even'} @${now()}`);
      });
      at(500, () => {
        reader.snapshots$.subscribe((s: Snapshot) => log.push(`g${s.generation} ${s.u32(0)} @${now()}`));
      });
      at(2000, () => {
        lease?.page.setU32(4, 3);
        lease?.commit();
      });
      flush();
      assert.equal(log, ['held, seq even @0', 'g1 1 @500', 'g2 2 @2000']);
      assert.equal([fake.kernel.data[0], fake.kernel.data[4]], [2, 3]);
      reader.close();
      holder.close();
    });
  });
}

test('a publish copies only the bytes written (a byte written outside the lock elsewhere survives it)', () => {
  virtual(() => {
    const fake = createFakeDevice();
    let lease: Lease | undefined;
    fake.lock$().subscribe((l) => { lease = l; });
    lease?.page.setU8(10, 1);
    lease?.page.setU16(11, 0x0302); // merged with the byte before
    lease?.page.setU8(100, 9);
    fake.kernel.data[50] = 0x77; // a rule-breaker, between the writes
    lease?.commit();
    assert.equal([...fake.kernel.data.subarray(10, 13)], [1, 2, 3]);
    assert.is(fake.kernel.data[100], 9);
    assert.is(fake.kernel.data[50], 0x77);
    assert.is(fake.kernel.generation, 1n);
  });
});

test('a staged grant (fast path, TRY, or handed over) closes an odd seq left on a free lock; a staged abort moves nothing', () => {
  const region = new FakeRegion(1, asyncScheduler);
  const seq = (): number => region.ctrl[CTRL.seq / 4] as number;
  const forgeOdd = (): void => { region.ctrl[CTRL.seq / 4] = seq() | 1; };
  const a = {};
  const b = {};
  const id = region.idOf(a);
  forgeOdd();
  const odd = seq();
  assert.is(region.word.acquire(id, true), 0);
  assert.is(seq(), odd + 1, 'the fast path closed it');
  assert.is(region.word.free(id, false), 0);
  assert.is(seq(), odd + 1, 'an abort left it');
  forgeOdd();
  assert.is(region.tryLock(a, 1, true).errno, 0);
  assert.is(seq(), odd + 3, 'KSHM_LOCK_STAGED | TRY closed it');
  let granted = -1;
  region.lock(b, 0, (errno) => { granted = errno; }, 2, true);
  forgeOdd();
  assert.is(region.unlock(a, false), 0, 'abort');
  assert.is(seq(), odd + 5, 'the release closed it (as the kernel does)');
  assert.is(region.word.word & 0x3fffffff, region.idOf(b), 'handed to the staged waiter');
  assert.is(seq() % 2, 0, 'and left even for it');
  assert.is(region.generation, 0n);
  assert.is(granted, -1, 'told on a later scheduler turn');
});

/** Runs fn on a lease of `device`, granted at once (the lock is free); an unended lease aborts after fn. */
function leased<T>(device: { lock$(): import('rxjs').Observable<Lease> }, fn: (lease: Lease) => T): T {
  let out: { value: T } | undefined;
  const sub = device.lock$().subscribe((lease) => { out = { value: fn(lease) }; });
  sub.unsubscribe();
  assert.ok(out, 'granted at once');
  return (out as { value: T }).value;
}

for (const fastPath of [true, false]) {
  test(`a lease reads the data as last committed by anyone, never its own aborted writes (${fastPath ? 'fast path' : 'fastPath: false'})`, async () => {
    // The device reuses its staging copy without copying the region again
    // only at the generation of its own last staged commit: every other
    // commit, an abort and a dead holder must show through.
    const fake = createFakeDevice({ fastPath });
    const other = fake.open({ fastPath });
    leased(fake, (l) => { l.page.setU32(0, 1); l.commit(); });
    assert.is(leased(fake, (l) => { const v = l.page.u32(0); l.page.setU32(4, 2); l.commit(); return v; }), 1);
    other.transaction((p) => p.setU32(0, 3)).subscribe();
    assert.equal(leased(fake, (l) => { const v = [l.page.u32(0), l.page.u32(4)]; l.commit(); return v; }), [3, 2]);
    leased(fake, (l) => { l.page.setU32(8, 9); l.abort(); });
    assert.is(leased(fake, (l) => { const v = l.page.u32(8); l.page.setU32(8, 1); return v; }), 0, 'its aborted write is gone');
    assert.is(leased(fake, (l) => { const v = l.page.u32(8); l.commit(); return v; }), 0, 'and its unsubscribed one');
    assert.is(leased(fake, (l) => { const v = l.page.u32(8); l.page.setU32(8, 4); l.commit(); return v; }), 0, 'after a commit of nothing');
    fake.kernel.write(12, [5]).subscribe();
    assert.equal(leased(fake, (l) => { const v = [l.page.u8(12), l.page.u32(8)]; l.commit(); return v; }), [5, 4], 'the kernel\'s write');
    // A holder that wrote in place and died: no commit, the same generation, the data changed.
    fake.kernel.hold();
    fake.kernel.data[16] = 7;
    fake.kernel.killHolder();
    assert.equal(leased(fake, (l) => { const v = [l.ownerDied, l.page.u8(16)]; l.commit(); return v; }), [true, 7]);
    // An async transaction stages through the same copy.
    await new Promise<unknown>((resolve, reject) => fake.transaction(async (p) => { p.setU8(20, 6); })
      .subscribe({ complete: () => resolve(undefined), error: reject }));
    assert.is(leased(fake, (l) => { const v = l.page.u8(20); l.commit(); return v; }), 6);
    await new Promise<void>((resolve) => fake.transaction(async (p) => { p.setU8(24, 8); throw new Error('no'); })
      .subscribe({ error: () => resolve() }));
    assert.equal(leased(fake, (l) => { const v = [l.page.u8(24), l.page.u8(20)]; l.abort(); return v; }), [0, 6]);
    assert.equal([...fake.kernel.data.subarray(0, 25)].filter((b) => b !== 0), [3, 2, 4, 5, 7, 6]);
    other.close();
    fake.close();
  });
}

test('a lease destructured: commit and abort work detached; active and dispose read the lease', () => {
  const fake = createFakeDevice();
  leased(fake, ({ page, commit }) => { page.setU8(30, 1); commit(); });
  leased(fake, ({ page, abort }) => { page.setU8(30, 2); abort(); });
  assert.is(fake.kernel.data[30], 1);
  const lease = leased(fake, (l) => l);
  assert.is(lease.active, false, 'aborted by the unsubscribe');
  let kept: Lease | undefined;
  const sub = fake.lock$().subscribe((l) => { kept = l; });
  const held = kept as Lease;
  assert.is(held.active, true);
  held.page.setU8(31, 5);
  held[Symbol.dispose]();
  assert.equal([held.active, fake.kernel.data[31], fake.info().locked], [false, 0, false]);
  held[Symbol.dispose](); // a no-op once ended
  assert.throws(() => held.commit(), 'commit after the end throws');
  sub.unsubscribe();
  fake.close();
});

test.run();
