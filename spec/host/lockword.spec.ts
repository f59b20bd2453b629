// lib/lockword.ts: the ABI's fast path in TypeScript, on a plain control page.
import { constants } from 'node:os';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CTRL, CTRL_SIZE, LOCK_OWNER_DIED, LW_DIED, LW_WAITERS } from '../../lib/abi.js';
import type { LockAttempt } from '../../lib/backend.js';
import { LockWord, LW_HANDOVER } from '../../lib/lockword.js';

const E = constants.errno;
const test = suite('lockword');

function page(): { c: Uint32Array; lw: LockWord } {
  const c = new Uint32Array(CTRL_SIZE / 4);
  return { c, lw: new LockWord(c) };
}
const LOCK = CTRL.lock / 4;
const SEQ = CTRL.seq / 4;
const GEN = CTRL.generation / 4;

/** What a grant says (the fast path's grant is one reused object with a lazy bigint). */
function grant(a: LockAttempt | undefined): unknown {
  return a?.ok ? { ok: true, ownerDied: a.ownerDied, generation: a.generation } : a;
}
const POLLERS = CTRL.pollers / 4;

test('acquire: a free word is taken and the write section opened; taken words are refused with the right errno', () => {
  const { c, lw } = page();
  assert.is(lw.acquire(5), 0);
  assert.is(c[LOCK], 5);
  assert.is(c[SEQ], 1);
  assert.is(lw.acquire(5), -E.EDEADLK);
  assert.is(lw.acquire(6), -E.EBUSY);
  c[LOCK] = LW_WAITERS; // free, but waiters queued: only the driver may grant
  assert.is(lw.acquire(6), -E.EAGAIN);
  assert.is(lw.tryLock(6), undefined);
  c[LOCK] = (5 | LW_WAITERS) >>> 0;
  assert.equal(lw.tryLock(6), { ok: false, errno: E.EBUSY });
  assert.throws(() => new LockWord(new Uint32Array(4)), (e: unknown) => e instanceof RangeError);
});

test('a DIED word is taken with OWNER_DIED; a commit repairs it, an abort keeps it', () => {
  const { c, lw } = page();
  c[LOCK] = LW_DIED;
  assert.is(lw.acquire(3), LOCK_OWNER_DIED);
  assert.is(c[LOCK], (3 | LW_DIED) >>> 0);
  assert.is(lw.release(3, false), 0);
  assert.is(c[LOCK], LW_DIED);
  assert.equal(grant(lw.tryLock(3)), { ok: true, ownerDied: true, generation: 0n });
  assert.is(lw.release(3, true), 0);
  assert.is(c[LOCK], 0);
});

test('the generation of a grant: exact below 2^53 (kept as a number until read) and above (a bigint), as it was at the grant', () => {
  for (const [lo, hi] of [[7, 0], [0xffffffff, 0x1fffff], [0, 0x200000], [0xfffffffe, 0xffffffff]] as const) {
    const { c, lw } = page();
    c[GEN] = lo;
    c[GEN + 1] = hi;
    const expected = (BigInt(hi) << 32n) | BigInt(lo);
    const a = lw.tryLock(1);
    assert.ok(a?.ok);
    if (!a?.ok) return;
    if (hi < 0x200000) assert.is(a.generationNumber, Number(expected));
    else assert.is(a.generationNumber, undefined);
    assert.is(lw.release(1, true), 0);
    assert.is(a.generation, expected, 'read after the commit: the grant time value, not the word now');
    assert.is(lw.generation(), expected + 1n);
  }
});

test('release: commit publishes the generation, then seq even; abort only moves seq', () => {
  const { c, lw } = page();
  lw.acquire(1);
  assert.is(lw.release(1, true), 0);
  assert.is(lw.generation(), 1n);
  assert.is(c[SEQ], 2);
  lw.acquire(1);
  assert.is(lw.release(1, false), 0);
  assert.is(lw.generation(), 1n);
  assert.is(c[SEQ], 4);
});

test('the generation carries into its high half', () => {
  const { c, lw } = page();
  c[CTRL.generation / 4] = 0xffffffff;
  lw.acquire(1);
  lw.release(1, true);
  assert.is(lw.generation(), 1n << 32n);
});

test('release with waiters queued asks the driver to hand over; a holder the driver replaced gets EPERM', () => {
  const { c, lw } = page();
  const calls: string[] = [];
  const driver = { unlockPublished: (commit: boolean) => { calls.push(`unlock ${commit}`); return 0; }, wake: () => calls.push('wake') };
  lw.acquire(1);
  c[LOCK] = (1 | LW_WAITERS) >>> 0;
  assert.is(lw.release(1, true), LW_HANDOVER);
  assert.is((c[SEQ] as number) & 1, 0, 'published before the hand-over');
  lw.set(1);
  assert.is(lw.unlock(1, false, driver), 0);
  lw.set((1 | LW_WAITERS) >>> 0);
  assert.is(lw.unlock(1, true, driver), 0);
  lw.set(2);
  assert.is(lw.unlock(1, true, driver), E.EPERM);
  assert.is(c[LOCK], 2, 'nothing changed');
  assert.equal(calls, ['unlock true']);
});

test('a fast commit wakes the driver only when a poller sleeps', () => {
  const { c, lw } = page();
  const calls: string[] = [];
  const driver = { unlockPublished: () => 0, wake: () => calls.push('wake') };
  lw.acquire(1);
  lw.unlock(1, true, driver);
  c[POLLERS] = 1;
  lw.acquire(1);
  lw.unlock(1, false, driver);
  lw.acquire(1);
  lw.unlock(1, true, driver);
  assert.equal(calls, ['wake']);
});

test('staged: the CAS without the write section (an odd seq closed), publish, free, unlockStaged', () => {
  const { c, lw } = page();
  c[SEQ] = 4;
  assert.is(lw.acquire(5, true), 0);
  assert.is(c[LOCK], 5);
  assert.is(c[SEQ], 4, 'seq stays even: readers copy the committed data');
  // Abort: only the word moves.
  assert.is(lw.free(5, false), 0);
  assert.equal([c[LOCK], c[SEQ], lw.generation()], [0, 4, 0n]);
  c[SEQ] = 7; // left odd by a rule-breaker
  assert.is(lw.acquire(5, true), 0);
  assert.is(c[SEQ], 8, 'closed by the staged acquire');
  // The data, spied on: seq as each byte is copied.
  const seqs = new Set<number>();
  const bytes = new Uint8Array(256);
  const data = new Proxy(bytes, {
    set(t, k, v) { seqs.add(c[SEQ] as number); return Reflect.set(t, k, v); },
    get(t, k) {
      if (k !== 'set') return Reflect.get(t, k);
      return (a: ArrayLike<number>, at: number) => { seqs.add(c[SEQ] as number); t.set(a, at); };
    },
  });
  const src = Uint8Array.from({ length: 256 }, (_, i) => i);
  // Byte by byte, as words, with one set: every way a range is copied.
  lw.publish(data, src, [2, 3, 40, 20, 100, 100]);
  assert.equal([...seqs], [9], 'odd during the copy');
  assert.equal([...bytes].map((b, i) => (b === 0 ? 0 : i)).filter(Boolean).length, 3 + 20 + 100, 'the ranges, and nothing else');
  assert.equal([bytes[1], bytes[2], bytes[4], bytes[5], bytes[39], bytes[40], bytes[59], bytes[60], bytes[99], bytes[100], bytes[199], bytes[200]],
    [0, 2, 4, 0, 0, 40, 59, 0, 0, 100, 199, 0]);
  assert.equal([c[SEQ], lw.generation()], [10, 1n]);
  c[POLLERS] = 1;
  let wakes = 0;
  let handovers = 0;
  const driver = { unlockPublished: () => { handovers++; return 0; }, wake: () => { wakes++; } };
  assert.is(lw.unlockStaged(5, true, driver), 0);
  assert.equal([c[LOCK], c[SEQ], wakes, handovers], [0, 10, 1, 0]);
  assert.is(lw.unlockStaged(5, false, driver), E.EPERM, 'not the holder');
  // A DIED word: an abort keeps DIED, waiters make the driver hand over.
  c[LOCK] = LW_DIED;
  assert.is(lw.acquire(3, true), LOCK_OWNER_DIED);
  c[LOCK] = (3 | LW_DIED | LW_WAITERS) >>> 0;
  assert.is(lw.free(3, false), LW_HANDOVER);
  assert.is(lw.unlockStaged(3, false, driver), 0);
  assert.equal([handovers, wakes, c[SEQ]], [1, 1, 10]);
});

test('spinWhileHeld: true once the word is free; false at once when waiters queue or the holder died; the budget bounds it', async () => {
  const c = new Uint32Array(new SharedArrayBuffer(CTRL_SIZE));
  const lw = new LockWord(c);
  assert.is(lw.spinWhileHeld(1000), true, 'free already');
  c[LOCK] = 5;
  // Another thread releases while we spin (the page is shared memory, as the mapped one is).
  const { Worker } = await import('node:worker_threads');
  const w = new Worker(`
    const { workerData } = require('node:worker_threads');
    const c = new Uint32Array(workerData);
    setTimeout(() => Atomics.store(c, ${LOCK}, 0), 20);`, { eval: true, workerData: c.buffer });
  assert.is(lw.spinWhileHeld(30e9), true, 'returns at the release');
  await w.terminate();
  for (const word of [5 | LW_WAITERS, 5 | LW_DIED, LW_DIED]) {
    c[LOCK] = word >>> 0;
    assert.is(lw.spinWhileHeld(30e9), false, `word ${(word >>> 0).toString(16)}: no spin`);
  }
  c[LOCK] = 5;
  assert.is(lw.spinWhileHeld(1e6), false, 'held for good: the budget ends it');
});

test('spinWhileHeld with a waiters budget: spins through WAITERS until the queue drains and the word is free; DIED still ends it', async () => {
  const c = new Uint32Array(new SharedArrayBuffer(CTRL_SIZE));
  const lw = new LockWord(c);
  // Queued waiters, then handed over (no one queued behind), then released.
  c[LOCK] = (5 | LW_WAITERS) >>> 0;
  const { Worker } = await import('node:worker_threads');
  const w = new Worker(`
    const { workerData } = require('node:worker_threads');
    const c = new Uint32Array(workerData);
    setTimeout(() => { Atomics.store(c, ${LOCK}, 6); setTimeout(() => Atomics.store(c, ${LOCK}, 0), 20); }, 20);`,
  { eval: true, workerData: c.buffer });
  const t0 = process.hrtime.bigint();
  assert.is(lw.spinWhileHeld(1000, 30e9), true, 'returns once the queue drained and the holder released');
  assert.ok(process.hrtime.bigint() - t0 >= 30_000_000n, 'waited for both');
  await w.terminate();
  for (const word of [5 | LW_DIED, 5 | LW_WAITERS | LW_DIED]) {
    c[LOCK] = word >>> 0;
    assert.is(lw.spinWhileHeld(30e9, 30e9), false, `word ${(word >>> 0).toString(16)}: no spin`);
  }
  c[LOCK] = (5 | LW_WAITERS) >>> 0;
  const t1 = process.hrtime.bigint();
  assert.is(lw.spinWhileHeld(1000, 2e6), false, 'queued for good: the waiters budget ends it');
  assert.ok(process.hrtime.bigint() - t1 >= 2_000_000n, 'spun the waiters budget, not the 1 µs one');
});

test('spinWhileHeld with this process\'s own ids: a word naming one of them ends the spin at once (its grant needs this thread); others are spun on', async () => {
  const c = new Uint32Array(new SharedArrayBuffer(CTRL_SIZE));
  const lw = new LockWord(c);
  const own = new Set([7, 9]);
  const { Worker } = await import('node:worker_threads');
  // Freed 100 ms later: a spin that does not end at once sees it free (true).
  const releaseLater = (steps: string): Promise<number> => new Promise((resolve) => {
    const w = new Worker(`
      const { workerData, parentPort } = require('node:worker_threads');
      const c = new Uint32Array(workerData);
      ${steps}
      setTimeout(() => { Atomics.store(c, ${LOCK}, 0); parentPort.postMessage(0); }, 100);`,
    { eval: true, workerData: c.buffer });
    w.once('message', () => { void w.terminate().then(resolve); });
  });
  for (const word of [7, 9 | LW_WAITERS]) {
    c[LOCK] = word >>> 0;
    const released = releaseLater('');
    assert.is(lw.spinWhileHeld(30e9, 30e9, own), false, `word ${(word >>> 0).toString(16)}: own id, no spin`);
    await released;
  }
  // Handed over to an own id mid-spin (a stranger held it, then it went to a sibling through the queue).
  c[LOCK] = 5;
  let released = releaseLater(`setTimeout(() => Atomics.store(c, ${LOCK}, ${(7 | LW_WAITERS) >>> 0}), 20);`);
  assert.is(lw.spinWhileHeld(30e9, 30e9, own), false, 'handed to an own id: the spin ends');
  await released;
  // A stranger's hold is spun on as before, to its release.
  c[LOCK] = 5;
  released = releaseLater('');
  assert.is(lw.spinWhileHeld(30e9, 30e9, own), true, 'a stranger: spun on until free');
  await released;
});

test.run();
