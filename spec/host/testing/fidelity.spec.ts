// lib/testing: the fake behaves as the README says the driver does (issue 18),
// in virtual time. A fake behaviour that keeps rescheduling itself would make
// TestScheduler.run spin forever: each test caps the virtual clock and then
// checks that nothing is left scheduled (a spinning fake fails, not hangs).
import { constants } from 'node:os';
import { asyncScheduler, lastValueFrom, type Observable, type Subscription } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ABI_VERSION } from '../../../lib/abi.js';
import {
  LeaseEndedError, LockBusyError, LockCancelledError, LockTimeoutError, type Lease, type Snapshot,
} from '../../../lib/index.js';
import { createFakeDevice } from '../../../lib/testing/index.js';

const E = constants.errno;
const test = suite('testing: fake fidelity (virtual time)');

const CAP = 100_000;

/** Runs fn under TestScheduler.run with the clock capped; fails if anything is still scheduled at the end. */
function virtual(fn: (h: { flush: () => void; now: () => number }) => void): void {
  const ts = new TestScheduler((a, b) => assert.equal(a, b));
  ts.run(({ flush }) => {
    ts.maxFrames = CAP;
    fn({ flush, now: () => ts.now() });
    flush();
    const pending = (ts as unknown as { actions: unknown[] }).actions.length;
    assert.is(pending, 0, `${pending} actions still scheduled after ${CAP} virtual ms: the fake spins`);
  });
}

/** asyncScheduler: TestScheduler.run makes it virtual. */
const asyncSchedule = (fn: () => void, delay: number): void => { asyncScheduler.schedule(fn, delay); };

function record<T>(o: Observable<T>, log: string[], now: () => number, show: (v: T) => string): Subscription {
  return o.subscribe({
    next: (v) => log.push(`${show(v)} @${now()}`),
    error: (e: unknown) => log.push(`${(e as Error).name} @${now()}`),
    complete: () => log.push(`complete @${now()}`),
  });
}

test('closing a device cancels its kernel write still waiting for the lock: the kernel never writes it', () => {
  // The uapi header: a closed file's blocked KSHM_IOC_KWRITE returns ECANCELED.
  const fake = createFakeDevice();
  const log: string[] = [];
  virtual(({ now }) => {
    const writer = fake.open();
    fake.kernel.hold();
    record(writer.kernelWrite(100, [0x5a], { timeoutMs: 1000 }), log, now, (g) => `generation ${g}`);
    asyncSchedule(() => {
      log.push(`waiters ${fake.info().waiters} @${now()}`);
      writer.close();
    }, 10);
    asyncSchedule(() => {
      log.push(`waiters ${fake.info().waiters} @${now()}`);
      fake.kernel.release(false);
    }, 20);
  });
  assert.equal(log, ['waiters 1 @10', 'DeviceClosedError @10', 'waiters 0 @20']);
  assert.is(fake.kernel.data[100], 0);
  assert.is(fake.kernel.generation, 0n);
});

test('the ticker terminates: setTickMs(10) under TestScheduler.run ends when its subscribers do', () => {
  virtual(({ flush, now }) => {
    const fake = createFakeDevice();
    fake.kernel.setTickMs(10);
    const log: string[] = [];
    const sub = record(fake.select$((s) => s.tick().count), log, now, String);
    asyncSchedule(() => sub.unsubscribe(), 35);
    flush();
    assert.equal(log, ['0 @0', '1 @10', '2 @20', '3 @30']);
    // Nobody watching: the ticks still happen (lazily), in step with the clock.
    asyncSchedule(() => log.push(`gen ${fake.kernel.generation} @${now()}`), 65);
    flush();
    assert.equal(log.at(-1), 'gen 10 @100');
    assert.is(fake.info().counters.ticks, 10);
  });
});

test('snapshots$ while fake.kernel.hold() holds: no spin, the first snapshot comes at the release', () => {
  virtual(({ flush, now }) => {
    const fake = createFakeDevice();
    fake.kernel.hold();
    const log: string[] = [];
    const sub = record(fake.snapshots$, log, now, (s: Snapshot) => `g${s.generation}`);
    asyncSchedule(() => fake.kernel.release(), 500);
    flush();
    assert.equal(log, ['g1 @500']);
    sub.unsubscribe();
    // An abort (no commit) wakes the reader too: it reads the unchanged data.
    fake.kernel.hold();
    const log2: string[] = [];
    const sub2 = record(fake.snapshots$, log2, now, (s: Snapshot) => `g${s.generation}`);
    asyncSchedule(() => fake.kernel.release(false), 40);
    flush();
    assert.equal(log2, ['g1 @540']);
    sub2.unsubscribe();
  });
});

test('a reader gets the committed state at once during a staged lease; its abort changes nothing', () => {
  virtual(({ flush, now }) => {
    const fake = createFakeDevice();
    const writer = fake.open({ fastPath: true });
    let lease: Lease | undefined;
    writer.lock$().subscribe((l) => { lease = l; });
    lease?.page.setU8(0, 1);
    const log: string[] = [];
    const sub = record(fake.snapshots$, log, now, (s: Snapshot) => `g${s.generation} ${s.u8(0)}`);
    asyncSchedule(() => lease?.abort(), 70);
    flush();
    assert.equal(log, ['g0 0 @0']);
    assert.is(fake.kernel.seq % 2, 0);
    sub.unsubscribe();
  });
});

test('a reader that found an in-place writer in (a transaction whose fn is sync) waits for its release', () => {
  virtual(({ flush, now }) => {
    const fake = createFakeDevice();
    const log: string[] = [];
    // A rule-level view of the in-place path: seq odd while a synchronous fn runs.
    let seenOdd = false;
    fake.open().transaction((p) => { p.setU8(0, 1); seenOdd = fake.kernel.seq % 2 === 1; }).subscribe();
    const sub = record(fake.snapshots$, log, now, (s: Snapshot) => `g${s.generation} ${s.u8(0)}`);
    flush();
    assert.ok(seenOdd);
    assert.equal(log, ['g1 1 @0']);
    sub.unsubscribe();
  });
});

test('fake.kernel.write() while the lock is held waits like the driver\'s kernel writer, with its errors', () => {
  virtual(({ flush, now }) => {
    const fake = createFakeDevice();
    const other = fake.open();
    const log: string[] = [];
    let lease: Lease | undefined;
    other.lock$().subscribe((l) => { lease = l; });
    record(fake.kernel.write(0, [7], { timeoutMs: 50 }), log, now, (g) => `written g${g}`);
    record(fake.kernel.write(1, [8], { timeoutMs: 10 }), log, now, (g) => `written g${g}`);
    record(fake.kernel.write(2, [9], { timeoutMs: 0 }), log, now, (g) => `written g${g}`);
    asyncSchedule(() => lease?.commit(), 20);
    flush();
    assert.equal(log, ['LockBusyError @0', 'LockTimeoutError @10', 'written g2 @20', 'complete @20']);
    assert.equal([...fake.kernel.data.subarray(0, 3)], [7, 0, 0]);
    // The same errors as device.kernelWrite: a default timeout of 1000 ms.
    other.lock$().subscribe((l) => { lease = l; });
    const errors: unknown[] = [];
    fake.kernel.write(0, [1]).subscribe({ error: (e) => errors.push(e) });
    fake.kernelWrite(0, [1]).subscribe({ error: (e) => errors.push(e) });
    flush();
    assert.equal(errors.map((e) => (e as Error).name), ['LockTimeoutError', 'LockTimeoutError']);
    assert.is((errors[0] as LockTimeoutError).timeoutMs, 1000);
    assert.is(now(), 1020);
    lease?.abort();
    // The kernel queues behind the kernel (hold), as in the driver.
    fake.kernel.hold();
    const log2: string[] = [];
    record(fake.kernel.write(0, [3]), log2, now, (g) => `written g${g}`);
    asyncSchedule(() => fake.kernel.release(), 5);
    flush();
    assert.equal(log2, ['written g4 @1025', 'complete @1025']);
    assert.instance(new LockBusyError(), Error);
  });
});

test('fake.kernel.killHolder() on a user lease ends it: not active, writes throw, its subscriber hears it', () => {
  virtual(({ flush, now }) => {
    const fake = createFakeDevice();
    const other = fake.open();
    let lease: Lease | undefined;
    const log: string[] = [];
    other.lock$().subscribe({
      next: (l) => { lease = l; },
      error: (e: unknown) => log.push(`${(e as Error).name} @${now()}`),
      complete: () => log.push('complete'),
    });
    lease?.page.setU8(0, 42);
    fake.kernel.killHolder();
    assert.is(lease?.active, false);
    assert.throws(() => lease?.page.setU8(0, 1), (e: unknown) => e instanceof LeaseEndedError);
    assert.throws(() => lease?.commit(), (e: unknown) => e instanceof LeaseEndedError);
    assert.equal(log, ['LeaseEndedError @0']);
    flush();
    // The next holder gets ownerDied, and intact data (the lease's writes were staged,
    // never in the shared data); the killed device still works.
    const seen: string[] = [];
    other.transaction((p) => `${p.ownerDied} ${p.u8(0)}`).subscribe((v) => seen.push(v));
    flush();
    assert.equal(seen, ['true 0']);
    assert.is(fake.info().locked, false);
  });
});

test('abort signal after the grant ends the lease: bytes restored, ABORT, LockCancelledError', () => {
  virtual(({ flush, now }) => {
    const fake = createFakeDevice({ fastPath: false });
    const ac = new AbortController();
    let lease: Lease | undefined;
    const log: string[] = [];
    fake.lock$({ signal: ac.signal }).subscribe({
      next: (l) => { lease = l; },
      error: (e: unknown) => log.push(`${(e as Error).name} @${now()}`),
    });
    lease?.page.setU32(0, 0xdeadbeef);
    const aborts = fake.info().counters.aborts;
    asyncSchedule(() => ac.abort(), 30);
    flush();
    assert.equal(log, ['LockCancelledError @30']);
    assert.is(lease?.active, false);
    assert.is(fake.kernel.data[0], 0);
    assert.is(fake.info().locked, false);
    assert.is(fake.info().counters.aborts, aborts + 1);
    // A transaction whose fn aborts its own signal is undone the same way.
    const ac2 = new AbortController();
    const errors: unknown[] = [];
    fake.transaction((p) => { p.setU8(5, 9); ac2.abort(); return 1; }, { signal: ac2.signal })
      .subscribe({ error: (e) => errors.push(e) });
    assert.instance(errors[0], LockCancelledError);
    assert.is(fake.kernel.data[5], 0);
    assert.is(fake.info().locked, false);
  });
});

test('info().abiVersion is the driver\'s, and the fake honours fastPath', () => {
  virtual(({ flush }) => {
    const fake = createFakeDevice();
    assert.is(fake.info().abiVersion, ABI_VERSION);
    assert.is(ABI_VERSION, 2);
    const granted = (): number => fake.info().counters.locksGranted;
    const g0 = granted();
    void lastValueFrom(fake.transaction(() => 1));
    assert.is(granted(), g0, 'the fast path takes the lock word, not the driver');
    const slow = fake.open({ fastPath: false });
    slow.transaction(() => 1).subscribe();
    slow.transaction(() => 1, { fastPath: true }).subscribe();
    fake.transaction(() => 1, { fastPath: false }).subscribe();
    assert.is(granted(), g0 + 2, 'fastPath: false goes through the driver, per device and per call');
    const noFast = createFakeDevice({ fastPath: false });
    noFast.transaction(() => 1).subscribe();
    assert.is(noFast.info().counters.locksGranted, 1);
    flush();
  });
});

test('timeoutMs 0 on the fake: LockBusyError at once when taken, nothing queued', () => {
  virtual(({ flush }) => {
    const fake = createFakeDevice();
    const other = fake.open();
    fake.kernel.hold();
    const errors: unknown[] = [];
    other.transaction(() => 1, { timeoutMs: 0 }).subscribe({ error: (e) => errors.push(e) });
    other.lock$({ timeoutMs: 0 }).subscribe({ error: (e) => errors.push(e) });
    other.kernelWrite(0, [1], { timeoutMs: 0 }).subscribe({ error: (e) => errors.push(e) });
    flush();
    assert.equal(errors.map((e) => (e as Error).name), ['LockBusyError', 'LockBusyError', 'LockBusyError']);
    assert.is(fake.info().waiters, 0);
    assert.is(E.EBUSY, (errors[0] as LockBusyError).errno);
  });
});

test('timeoutMs 0 on a kernel write: LockBusyError at once in virtual time, as the driver-backed device', () => {
  // The driver-backed device sees the lock word taken and fails without a
  // KWRITE; the fake asked its kernel for a 1 ms wait: LockBusyError at 1 ms.
  virtual(({ flush, now }) => {
    const fake = createFakeDevice();
    const other = fake.open();
    const log: string[] = [];
    fake.kernel.hold();
    record(other.kernelWrite(0, [1], { timeoutMs: 0 }), log, now, String);
    asyncSchedule(() => fake.kernel.release(), 5);
    asyncSchedule(() => { fake.lock$().subscribe(); }, 10);
    asyncSchedule(() => { record(other.kernelWrite(0, [2], { timeoutMs: 0 }), log, now, String); }, 20);
    flush();
    assert.equal(log, ['LockBusyError @0', 'LockBusyError @20']);
    assert.is(fake.info().counters.kernelWrites, 0);
    assert.is(fake.info().waiters, 0);
  });
});

test.run();
