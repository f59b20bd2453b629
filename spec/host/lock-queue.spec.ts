// lib/lock-queue.ts in virtual time against a scripted backend: FIFO, one
// backend wait at a time, timers, cancel, drain, admission, error mapping.
import { asyncScheduler } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { constants } from 'node:os';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  DeadlockError, DeviceClosedError, KshmSystemError, LockBusyError, LockDeadlockError, LockTimeoutError,
  ReadOnlyDeviceError,
} from '../../lib/errors.js';
import { createPage } from '../../lib/page.js';
import { LockQueue, SPIN_NS, SPIN_WAITERS_NS, type Hold, type LockCallbacks } from '../../lib/lock-queue.js';
import { StubBackend } from './stub-backend.js';

const E = constants.errno;
const test = suite('lock-queue (stub backend, virtual time)');
const virtual = (fn: (helpers: { flush: () => void }) => void): void => {
  new TestScheduler((a, b) => assert.equal(a, b)).run(fn);
};

/** Records what a request was told, in order, with the virtual time. */
function recorder(name: string, log: string[], holds: Map<string, Hold> = new Map()): LockCallbacks {
  return {
    granted: (hold, ownerDied) => {
      holds.set(name, hold);
      log.push(`${name} granted${ownerDied ? ' died' : ''} @${asyncScheduler.now()}`);
    },
    failed: (e) => log.push(`${name} ${(e as Error).constructor.name} @${asyncScheduler.now()}`),
  };
}

test('a free lock is granted at once, synchronously, with no backend wait', () => {
  virtual(() => {
    const b = new StubBackend();
    const q = new LockQueue(b, asyncScheduler, true);
    const log: string[] = [];
    q.lock({}, recorder('a', log));
    assert.equal(log, ['a granted @0']);
    assert.equal(b.waits.length, 0);
    assert.ok(q.holder);
  });
});

test('FIFO: waiters are granted in order, one backend wait at a time', () => {
  virtual(({ flush }) => {
    const b = new StubBackend();
    b.taken = true; // another file holds it
    const q = new LockQueue(b, asyncScheduler, true);
    const log: string[] = [];
    const holds = new Map<string, Hold>();
    for (const n of ['a', 'b', 'c']) q.lock({}, recorder(n, log, holds));
    assert.is(b.waits.length, 1, 'only the head waits in the backend');
    asyncScheduler.schedule(() => { b.taken = false; b.waits[0]?.done(0); }, 10);
    asyncScheduler.schedule(() => q.release(holds.get('a') as Hold, true), 20);
    asyncScheduler.schedule(() => q.release(holds.get('b') as Hold, false), 30);
    flush();
    assert.equal(log, ['a granted @10', 'b granted @20', 'c granted @30']);
    assert.equal(b.unlocks, [true, false]);
    assert.is(b.waits.length, 1);
  });
});

test('a contended request spins (spinWhileHeld) before it queues: freed meanwhile, it is granted with no backend wait', () => {
  virtual(() => {
    const b = new StubBackend();
    const q = new LockQueue(b, asyncScheduler, true);
    const holds = new Map<string, Hold>();
    const log: string[] = [];
    b.taken = true;
    const spins: number[][] = [];
    // The holder releases during the spin.
    (b as StubBackend & { spinWhileHeld(ns: number, waitersNs: number): boolean }).spinWhileHeld = (ns, waitersNs) => {
      spins.push([ns, waitersNs]);
      b.taken = false;
      return true;
    };
    q.lock({}, recorder('a', log, holds));
    assert.equal(log, ['a granted @0']);
    // A short spin while nobody is queued, a longer one through queued waiters (SPIN_WAITERS_NS).
    assert.equal(spins, [[SPIN_NS, SPIN_WAITERS_NS]]);
    assert.ok(SPIN_NS > 0 && SPIN_WAITERS_NS > SPIN_NS);
    assert.is(b.waits.length, 0, 'no backend wait');
    // Still held after the spin (it gave up, or waiters queued): the request waits in the backend.
    q.release(holds.get('a') as Hold, true);
    b.taken = true;
    (b as StubBackend & { spinWhileHeld(ns: number): boolean }).spinWhileHeld = () => false;
    q.lock({}, recorder('b', log, holds));
    assert.is(b.waits.length, 1);
  });
});

test('the fast path default and the per-call option reach the backend', () => {
  virtual(() => {
    const b = new StubBackend();
    const q = new LockQueue(b, asyncScheduler, false);
    const holds = new Map<string, Hold>();
    q.lock({}, recorder('a', [], holds));
    q.release(holds.get('a') as Hold, true);
    q.lock({ fastPath: true }, recorder('b', [], holds));
    assert.equal(b.tryLocks, [false, true]);
  });
});

test('a timeout fails a queued request at its deadline; a waiting one gets the backend the time left', () => {
  virtual(({ flush }) => {
    const b = new StubBackend();
    b.taken = true;
    const q = new LockQueue(b, asyncScheduler, true);
    const log: string[] = [];
    q.lock({}, recorder('a', log));
    q.lock({ timeoutMs: 30 }, recorder('b', log));
    flush();
    assert.equal(log, ['b LockTimeoutError @30']);
    // a ends its wait with an error at 40: the next request's wait starts with its time left
    q.lock({ timeoutMs: 100 }, recorder('c', log));
    asyncScheduler.schedule(() => b.waits[0]?.done(E.ETIMEDOUT), 10);
    flush();
    assert.is(b.waits.length, 2);
    assert.is(b.waits[1]?.timeoutMs, 90);
  });
});

test('the backend timeout becomes LockTimeoutError; EDEADLK a DeadlockError; EBADF a system error, not read-only', () => {
  virtual(({ flush }) => {
    const b = new StubBackend();
    b.taken = true;
    const q = new LockQueue(b, asyncScheduler, true);
    const errors: unknown[] = [];
    const cb = { granted: () => errors.push('granted'), failed: (e: unknown) => errors.push(e) };
    q.lock({ timeoutMs: 5 }, cb);
    asyncScheduler.schedule(() => b.waits[0]?.done(E.ETIMEDOUT), 1);
    flush();
    b.taken = false;
    b.tryErrno = E.EDEADLK;
    q.lock({}, cb);
    b.tryErrno = E.EBADF;
    q.lock({}, cb);
    assert.instance(errors[0], LockTimeoutError);
    assert.instance(errors[1], DeadlockError);
    assert.is((errors[1] as DeadlockError).code, 'KSHM_DEADLOCK');
    assert.instance(errors[2], KshmSystemError);
    assert.not.instance(errors[2], ReadOnlyDeviceError);
  });
});

test('cancel: a queued request leaves at once; a waiting one cancels the backend wait and a late grant is aborted', () => {
  virtual(({ flush }) => {
    const b = new StubBackend();
    b.taken = true;
    const q = new LockQueue(b, asyncScheduler, true);
    const log: string[] = [];
    const stopA = q.lock({}, recorder('a', log));
    const stopB = q.lock({}, recorder('b', log));
    stopB();
    stopA();
    assert.is(b.waits[0]?.cancels, 1);
    q.lock({}, recorder('c', log));
    assert.is(b.waits.length, 1, 'c queues behind the wait being cancelled');
    asyncScheduler.schedule(() => b.waits[0]?.done(0), 5); // the grant won the race with the cancel
    flush();
    assert.equal(b.unlocks, [false], 'the unwanted grant is released with ABORT');
    assert.equal(log, ['c granted @5'], 'then c is next');
  });
});

test('an AbortSignal fails the request with LockCancelledError, before or while it waits', () => {
  virtual(({ flush }) => {
    const b = new StubBackend();
    b.taken = true;
    const q = new LockQueue(b, asyncScheduler, true);
    const log: string[] = [];
    q.lock({ signal: AbortSignal.abort() }, recorder('early', log));
    const ac = new AbortController();
    q.lock({ signal: ac.signal }, recorder('late', log));
    asyncScheduler.schedule(() => ac.abort(), 7);
    flush();
    assert.equal(log, ['early LockCancelledError @0', 'late LockCancelledError @7']);
    assert.is(b.waits[0]?.cancels, 1);
  });
});

test('admission: closed, read-only and bad timeouts fail before anything waits', () => {
  virtual(() => {
    const errors: unknown[] = [];
    const cb = { granted: () => errors.push('granted'), failed: (e: unknown) => errors.push(e) };
    const ro = new StubBackend(true);
    const roQueue = new LockQueue(ro, asyncScheduler, true);
    roQueue.lock({}, cb);
    roQueue.kernelWrite(0, Uint8Array.of(1), 10, { written: () => errors.push('written'), failed: cb.failed });
    const b = new StubBackend();
    const q = new LockQueue(b, asyncScheduler, true);
    for (const timeoutMs of [-1, 1.5, 2 ** 33]) q.lock({ timeoutMs }, cb);
    q.kernelWrite(60, new Uint8Array(8), 10, { written: () => errors.push('written'), failed: cb.failed });
    q.kernelWrite(0, new Uint8Array(8), -1, { written: () => errors.push('written'), failed: cb.failed });
    q.close();
    q.lock({}, cb);
    assert.instance(errors[0], ReadOnlyDeviceError);
    assert.instance(errors[1], ReadOnlyDeviceError);
    for (let i = 2; i < 7; i++) assert.instance(errors[i], RangeError);
    assert.instance(errors[7], DeviceClosedError);
    assert.is(errors.length, 8);
    assert.equal(ro.tryLocks, []);
    assert.equal(b.tryLocks, []);
  });
});

test('kernel writes queue like lock requests and report their generation', () => {
  virtual(({ flush }) => {
    const b = new StubBackend();
    b.taken = true; // another file holds the lock: a waits in the backend
    const q = new LockQueue(b, asyncScheduler, true);
    const log: string[] = [];
    const holds = new Map<string, Hold>();
    q.lock({}, recorder('a', log, holds));
    q.kernelWrite(4, Uint8Array.of(1, 2), 50, {
      written: (g) => log.push(`kwrite ${g} @${asyncScheduler.now()}`),
      failed: (e) => log.push(String(e)),
    });
    assert.is(b.kernelWrites.length, 0, 'queued behind a');
    asyncScheduler.schedule(() => b.waits[0]?.done(0), 1);
    asyncScheduler.schedule(() => q.release(holds.get('a') as Hold, true), 3);
    asyncScheduler.schedule(() => b.kernelWrites[0]?.done(0, 7n), 8);
    flush();
    assert.equal(log, ['a granted @1', 'kwrite 7 @8']);
    assert.is(b.kernelWrites[0]?.timeoutMs, 50);
  });
});

test('a kernel write from the device holding the lock fails at once with LockDeadlockError (issue 18)', () => {
  virtual(({ flush }) => {
    const b = new StubBackend();
    const q = new LockQueue(b, asyncScheduler, true);
    const log: string[] = [];
    const holds = new Map<string, Hold>();
    q.lock({}, recorder('a', log, holds));
    const errors: unknown[] = [];
    q.kernelWrite(4, Uint8Array.of(1), 1000, { written: () => errors.push('written'), failed: (e) => errors.push(e) });
    assert.is(errors.length, 1, 'at once, not after the timeout');
    assert.instance(errors[0], LockDeadlockError);
    assert.instance(errors[0], DeadlockError); // the deprecated alias is the same class
    assert.is((errors[0] as LockDeadlockError).code, 'KSHM_DEADLOCK');
    assert.is(b.kernelWrites.length, 0);
    flush();
    assert.ok(q.holder, 'the lease still holds');
  });
});

test('timeoutMs 0 tries once: granted when free, LockBusyError at once when taken (issue 18)', () => {
  virtual(({ flush }) => {
    const b = new StubBackend();
    const q = new LockQueue(b, asyncScheduler, true);
    const log: string[] = [];
    const holds = new Map<string, Hold>();
    q.lock({ timeoutMs: 0 }, recorder('free', log, holds));
    q.lock({ timeoutMs: 0 }, recorder('own', log));
    q.release(holds.get('free') as Hold, true);
    b.taken = true;
    q.lock({ timeoutMs: 0 }, recorder('taken', log));
    const kw: string[] = [];
    q.kernelWrite(0, Uint8Array.of(1), 0, { written: () => kw.push('written'), failed: (e) => kw.push((e as Error).name) });
    flush();
    assert.equal(log, ['free granted @0', 'own LockBusyError @0', 'taken LockBusyError @0']);
    assert.equal(b.waits.length, 0, 'nothing waited');
    // The kernel write tries once with the kernel's shortest wait; a timeout there is "busy".
    assert.is(b.kernelWrites[0]?.timeoutMs, 1);
    b.kernelWrites[0]?.done(E.ETIMEDOUT);
    assert.equal(kw, ['LockBusyError']);
    assert.instance(new LockBusyError(), Error);
    assert.is(new LockBusyError().code, 'KSHM_BUSY');
  });
});

test('a holder whose lock was lost (killed) is forgotten: its page ends unrestored, the queue moves on', () => {
  virtual(() => {
    const b = new StubBackend();
    b.data[0] = 1;
    const q = new LockQueue(b, asyncScheduler, true);
    const log: string[] = [];
    const holds = new Map<string, Hold>();
    q.lock({}, recorder('a', log, holds));
    const hold = holds.get('a') as Hold;
    const page = createPage(b.data, false, 0n);
    hold.page = page;
    page.setU8(0, 9);
    assert.is(q.lost(), hold);
    assert.is(page.live, false);
    assert.is(b.data[0], 9, 'a dead holder is not undone');
    assert.is(q.holder, undefined);
    assert.equal(b.unlocks, [], 'no unlock: the lock is not ours any more');
    assert.is(q.lost(), undefined);
  });
});

test('close drains: the held page is restored and aborted, every request fails with DeviceClosedError', () => {
  virtual(() => {
    const b = new StubBackend();
    const q = new LockQueue(b, asyncScheduler, true);
    const log: string[] = [];
    let rolledBack = 0;
    q.lock({}, {
      granted: (hold) => {
        const page = createPage(b.data, false, 0n);
        page.setU8(0, 5);
        hold.page = page;
        rolledBack = -1;
      },
      failed: () => log.push('holder failed'),
    });
    q.lock({}, recorder('queued', log));
    q.close();
    q.close();
    assert.is(rolledBack, -1);
    assert.is(b.data[0], 0, 'the held page was restored');
    rolledBack = 1;
    assert.is(rolledBack, 1);
    assert.equal(b.unlocks, [false]);
    assert.equal(log, ['queued DeviceClosedError @0']);
    assert.is(q.holder, undefined);
    // A request waiting in the backend fails at once; its late grant is ignored.
    const b2 = new StubBackend();
    b2.taken = true;
    const q2 = new LockQueue(b2, asyncScheduler, true);
    q2.lock({}, recorder('waiting', log));
    assert.is(b2.waits.length, 1);
    q2.close();
    b2.waits[0]?.done(0);
    assert.equal(log, ['queued DeviceClosedError @0', 'waiting DeviceClosedError @0']);
    assert.equal(b2.unlocks, []);
  });
});

test.run();
