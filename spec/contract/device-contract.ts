/**
 * The Device contract: written once against the public Device interface and
 * run against the fake (host) and the real driver (guest, both kernels). A
 * behaviour that differs between the two is a bug in one of them.
 *
 * Tests share one region (the driver's state lives as long as the module),
 * so they assert on deltas and use their own offsets.
 */
import { filter, firstValueFrom, from, lastValueFrom, map, Subscription, take, tap, toArray } from 'rxjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ABI_VERSION } from '../../lib/abi.js';
import {
  DeadlockError, DeviceClosedError, LeaseEndedError, LockBusyError, LockCancelledError, LockDeadlockError,
  LockTimeoutError, ReadOnlyDeviceError, transact, type Device, type DeviceInfoJSON, type Lease, type Page,
  type Snapshot,
} from '../../lib/index.js';

export interface ContractTarget {
  /** Opens one more device on the same shared region (another open file). */
  open(options?: { readOnly?: boolean; fastPath?: boolean }): Promise<Device>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves with the lease once granted; unsubscribe to abort it. */
function takeLease(device: Device): Promise<{ lease: Lease; sub: Subscription }> {
  return new Promise((resolve, reject) => {
    let sub: Subscription | undefined;
    sub = device.lock$().subscribe({
      next: (lease) => queueMicrotask(() => resolve({ lease, sub: sub as Subscription })),
      error: reject,
    });
  });
}

async function waitFor(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

/**
 * Runs the contract twice: transactions and leases on the lock-word fast
 * path (the default), and with `fastPath: false` (the driver's ioctls).
 */
export function deviceContract(name: string, target: ContractTarget): void {
  for (const fastPath of [true, false]) {
    deviceContractOn(`${name}, ${fastPath ? 'fast path' : 'fastPath: false'}`, target, fastPath);
  }
}

function deviceContractOn(name: string, target: ContractTarget, fastPath: boolean): void {
  const test = suite(`Device contract: ${name}`);
  const opened: Device[] = [];
  const open = async (options?: { readOnly?: boolean }): Promise<Device> => {
    const d = await target.open({ ...options, fastPath });
    opened.push(d);
    return d;
  };
  test.after.each(() => {
    for (const d of opened.splice(0)) d.close();
  });

  test('snapshots$ emits the current snapshot on subscribe', async () => {
    const d = await open();
    const s = await firstValueFrom(d.snapshots$);
    assert.is(s.generation, d.info().generation);
    assert.is(s.size, d.size);
    assert.ok(d.size >= 4096);
  });

  test('a transaction commits, emits its result, and a new snapshot follows', async () => {
    const d = await open();
    const g0 = d.info().generation;
    const seen = lastValueFrom(d.snapshots$.pipe(take(2), toArray()));
    const result = await lastValueFrom(d.transaction((page) => {
      page.setU32(64, 0xdeadbeef);
      page.setUtf8(68, 'kshm', 12);
      return page.u32(64);
    }));
    assert.is(result, 0xdeadbeef);
    const [first, second] = (await seen) as [Snapshot, Snapshot];
    assert.is(first.generation, g0);
    assert.is(second.generation, g0 + 1n);
    assert.is(second.u32(64), 0xdeadbeef);
    assert.is(second.utf8(68, 12), 'kshm');
    assert.is(d.info().generation, g0 + 1n);
  });

  test('page.generation is the generation the lock was granted at, inside fn and after the commit', async () => {
    const d = await open();
    for (const fastPath of [true, false]) {
      const g0 = d.info().generation;
      let inside = -1n;
      const page = await lastValueFrom(d.transaction((p) => {
        inside = p.generation;
        p.setU8(200, 1);
        return p;
      }, { fastPath }));
      assert.is(inside, g0);
      assert.is(page.generation, g0, 'read first after the commit moved the generation on');
      assert.is(page.generation, g0);
      assert.is(d.info().generation, g0 + 1n);
      // Read only once the transaction ended (nothing read it before).
      const later = await lastValueFrom(d.transaction((p) => p, { fastPath }));
      assert.is(later.generation, g0 + 1n);
    }
  });

  test('a throwing transaction restores every byte and releases with ABORT', async () => {
    const d = await open();
    await lastValueFrom(d.transaction((p) => p.fill(7, 128, 32)));
    const g0 = d.info().generation;
    const boom = new Error('boom');
    let caught: unknown;
    try {
      await lastValueFrom(d.transaction((p) => {
        p.fill(1, 128, 32);
        p.setU64(136, 12345n);
        p.setF64(144, Math.PI);
        throw boom;
      }));
    } catch (e) {
      caught = e;
    }
    assert.is(caught, boom);
    const s = await firstValueFrom(d.snapshots$);
    assert.equal([...s.slice(128, 32)], new Array(32).fill(7));
    assert.is(d.info().generation, g0);
    assert.is(d.info().locked, false);
  });

  test('a rollback restores exact bytes: NaN bit patterns, overlapping writes, writes larger than any before', async () => {
    const d = await open();
    // Bytes no float round trip keeps: signalling NaNs with payloads, at every alignment.
    const pattern = Uint8Array.from({ length: 1024 }, (_, i) => (i % 8 === 7 ? 0x7f : i % 8 === 6 ? 0xf4 : (i * 37 + 11) & 0xff));
    await lastValueFrom(d.transaction((p) => p.set(0, pattern)));
    // Earlier transactions (committed and aborted) leave nothing behind for the next one's undo.
    await lastValueFrom(d.transaction((p) => { p.setU32(0, p.u32(0)); }));
    await lastValueFrom(d.transaction(() => { throw new Error('nothing written'); })).catch(() => {});
    const boom = new Error('boom');
    const caught = await lastValueFrom(d.transaction((p) => {
      p.setU8(3, 0);
      p.setF64(5, Number.NaN); // unaligned
      p.set(1, new Uint8Array(40).fill(0xaa)); // overlaps both
      p.setU16(2, 0xbeef);
      p.fill(0x55, 100, 900); // larger than any write so far
      p.setI64(101, -1n);
      throw boom;
    })).catch((e: unknown) => e);
    assert.is(caught, boom);
    const s = await firstValueFrom(d.snapshots$);
    assert.equal([...s.slice(0, 1024)], [...pattern]);
  });

  test('out-of-bounds access is a RangeError and writes nothing', async () => {
    const d = await open();
    await lastValueFrom(d.transaction((p) => p.setU32(0, 1)));
    const before = (await firstValueFrom(d.snapshots$)).bytes;
    for (const bad of [
      (p: import('../../lib/index.js').Page) => p.setU32(d.size - 2, 1),
      (p: import('../../lib/index.js').Page) => p.setU8(-1, 1),
      (p: import('../../lib/index.js').Page) => p.setU8(0, 256),
      (p: import('../../lib/index.js').Page) => p.setU16(0, 1.5),
      (p: import('../../lib/index.js').Page) => p.u64(d.size - 7),
      (p: import('../../lib/index.js').Page) => p.set(d.size - 1, [1, 2]),
      (p: import('../../lib/index.js').Page) => p.setUtf8(0, 'too long', 4),
    ]) {
      let err: unknown;
      try {
        await lastValueFrom(d.transaction(bad));
      } catch (e) {
        err = e;
      }
      assert.instance(err, RangeError);
    }
    const after = (await firstValueFrom(d.snapshots$)).bytes;
    assert.equal(after, before);
  });

  test('transact applies each value in order', async () => {
    const d = await open();
    await lastValueFrom(d.transaction((p) => p.setU32(200, 0)));
    const out = await lastValueFrom(from([1, 2, 3, 4]).pipe(
      transact(d, (p, n: number) => {
        p.setU32(200, p.u32(200) * 10 + n);
        return p.u32(200);
      }),
      toArray(),
    ));
    assert.equal(out, [1, 12, 123, 1234]);
  });

  test('a contended transaction waits for the holder, then sees its commit', async () => {
    const a = await open();
    const b = await open();
    const { lease } = await takeLease(a);
    let ran = false;
    const pending = lastValueFrom(b.transaction((p) => {
      ran = true;
      return p.u32(300);
    }));
    await sleep(30);
    assert.is(ran, false);
    lease.page.setU32(300, 4242);
    lease.commit();
    assert.is(await pending, 4242);
    assert.is(lease.active, false);
  });

  test('timeoutMs gives LockTimeoutError, and the lock stays with its holder', async () => {
    const a = await open();
    const b = await open();
    const { lease, sub } = await takeLease(a);
    const t0 = Date.now();
    let err: unknown;
    try {
      await lastValueFrom(b.transaction(() => 1, { timeoutMs: 40 }));
    } catch (e) {
      err = e;
    }
    assert.instance(err, LockTimeoutError);
    assert.ok(Date.now() - t0 >= 30); // the driver's jiffies: a tick or two of slack in a guest
    assert.ok(lease.active);
    assert.is(a.info().locked, true);
    sub.unsubscribe();
    assert.is(await lastValueFrom(b.transaction(() => 'free', { timeoutMs: 1000 })), 'free');
  });

  test('unsubscribing while waiting takes no lock and leaves nothing waiting', async () => {
    const a = await open();
    const b = await open();
    const { sub } = await takeLease(a);
    let ran = false;
    const waiting = b.transaction(() => { ran = true; }).subscribe();
    await waitFor('b to wait', () => a.info().waiters === 1);
    waiting.unsubscribe();
    await waitFor('the waiter to leave', () => a.info().waiters === 0);
    sub.unsubscribe();
    await sleep(20);
    assert.is(ran, false);
    const info = a.info();
    assert.is(info.locked, false);
    assert.is(await lastValueFrom(b.transaction(() => 'ok', { timeoutMs: 1000 })), 'ok');
  });

  test('an AbortSignal cancels the wait with LockCancelledError', async () => {
    const a = await open();
    const b = await open();
    const { sub } = await takeLease(a);
    const ac = new AbortController();
    const result = lastValueFrom(b.transaction(() => 1, { signal: ac.signal })).catch((e: unknown) => e);
    await waitFor('b to wait', () => a.info().waiters === 1);
    ac.abort(new Error('user gave up'));
    const err = await result;
    assert.instance(err, LockCancelledError);
    await waitFor('the waiter to leave', () => a.info().waiters === 0);
    sub.unsubscribe();
    const early = await lastValueFrom(b.transaction(() => 1, { signal: AbortSignal.abort() })).catch((e: unknown) => e);
    assert.instance(early, LockCancelledError);
    assert.is(a.info().locked, false);
  });

  test('lock$: commit publishes, unsubscribe restores, a dead page throws', async () => {
    const d = await open();
    const { lease } = await takeLease(d);
    assert.is(lease.ownerDied, false);
    lease.page.setU16(500, 777);
    const g = d.info().generation;
    lease.commit();
    assert.is(d.info().generation, g + 1n);
    assert.throws(() => lease.page.u16(500), (e: unknown) => e instanceof LeaseEndedError);
    assert.throws(() => lease.commit(), (e: unknown) => e instanceof LeaseEndedError);
    const second = await takeLease(d);
    second.lease.page.setU16(500, 1);
    second.sub.unsubscribe();
    assert.is(second.lease.active, false);
    const s = await firstValueFrom(d.snapshots$);
    assert.is(s.u16(500), 777);
    assert.is(d.info().generation, g + 1n);
    assert.is(d.info().locked, false);
  });

  test('snapshots$ while this device holds a lease shows the committed state', async () => {
    const d = await open();
    await lastValueFrom(d.transaction((p) => p.setU32(1300, 1)));
    const { lease, sub } = await takeLease(d);
    lease.page.setU32(1300, 2);
    const s = await firstValueFrom(d.snapshots$);
    assert.is(s.u32(1300), 1);
    assert.is(s.generation, d.info().generation);
    sub.unsubscribe();
  });

  test('kernelWrite commits from the kernel side', async () => {
    const d = await open();
    const g0 = d.info().generation;
    const kw0 = d.info().counters.kernelWrites;
    const g = await lastValueFrom(d.kernelWrite(600, [9, 8, 7]));
    assert.is(g, g0 + 1n);
    const s = await firstValueFrom(d.snapshots$);
    assert.equal([...s.slice(600, 3)], [9, 8, 7]);
    assert.is(d.info().counters.kernelWrites, kw0 + 1);
    const bad = await lastValueFrom(d.kernelWrite(d.size - 1, [1, 2])).catch((e: unknown) => e);
    assert.instance(bad, RangeError);
  });

  test('a read-only device reads but cannot lock or write', async () => {
    const w = await open();
    const r = await open({ readOnly: true });
    await lastValueFrom(w.transaction((p) => p.setU8(700, 5)));
    assert.is((await firstValueFrom(r.snapshots$)).u8(700), 5);
    const e1 = await lastValueFrom(r.transaction(() => 1)).catch((e: unknown) => e);
    assert.instance(e1, ReadOnlyDeviceError);
    const e2 = await lastValueFrom(r.kernelWrite(0, [1])).catch((e: unknown) => e);
    assert.instance(e2, ReadOnlyDeviceError);
    assert.is(r.readOnly, true);
  });

  test('close: idempotent, streams complete, calls fail with DeviceClosedError', async () => {
    const a = await open();
    const b = await open();
    const { lease } = await takeLease(a);
    let completed = false;
    b.snapshots$.subscribe({ complete: () => { completed = true; } });
    const queued = lastValueFrom(b.transaction(() => 1)).catch((e: unknown) => e);
    await waitFor('b to wait', () => a.info().waiters === 1);
    b.close();
    b.close();
    assert.is(b.closed, true);
    assert.is(completed, true);
    assert.instance(await queued, DeviceClosedError);
    assert.instance(await lastValueFrom(b.transaction(() => 1)).catch((e: unknown) => e), DeviceClosedError);
    assert.instance(await firstValueFrom(b.snapshots$).catch((e: unknown) => e), DeviceClosedError);
    assert.throws(() => b.info(), (e: unknown) => e instanceof DeviceClosedError);
    // Closing the holder aborts its lease: its writes are undone, the lock freed.
    const before = lease.page.u8(800);
    lease.page.setU8(800, before ^ 0xff);
    a.close();
    assert.is(lease.active, false);
    const c = await open();
    assert.is(c.info().locked, false);
    assert.is((await firstValueFrom(c.snapshots$)).u8(800), before);
  });

  test('one device waits with at most one blocking call', async () => {
    const a = await open();
    const b = await open();
    const { sub } = await takeLease(a);
    const results = Promise.all(Array.from({ length: 20 }, (_, i) =>
      lastValueFrom(b.transaction((p) => { p.setU32(900, i); return i; }))));
    await waitFor('b to wait', () => a.info().waiters === 1);
    await sleep(20);
    assert.is(a.info().waiters, 1);
    sub.unsubscribe();
    assert.equal(await results, Array.from({ length: 20 }, (_, i) => i));
    assert.is((await firstValueFrom(a.snapshots$)).u32(900), 19);
  });

  test('select$ emits derived values only when they change', async () => {
    const d = await open();
    await lastValueFrom(d.transaction((p) => p.setU8(1000, 0)));
    const values: number[] = [];
    const sub = d.select$((s) => s.u8(1000)).subscribe((v) => values.push(v));
    for (const v of [0, 1, 1, 2]) {
      await lastValueFrom(d.transaction((p) => p.setU8(1000, v)));
      await sleep(15);
    }
    sub.unsubscribe();
    assert.equal(values, [0, 1, 2]);
  });

  test('snapshots are immutable and conflated', async () => {
    const d = await open();
    const got: Snapshot[] = [];
    const sub = d.snapshots$.subscribe((s) => got.push(s));
    const first = got[0] ?? (await firstValueFrom(d.snapshots$));
    const copy = first.bytes;
    copy[0] = (copy[0] as number) ^ 0xff;
    assert.is.not(first.bytes[0], copy[0]);
    const g0 = d.info().generation;
    await lastValueFrom(from(Array.from({ length: 50 }, (_, i) => i)).pipe(transact(d, (p, i) => p.setU32(1100, i))));
    await waitFor('the last commit', () => got.at(-1)?.generation === g0 + 50n);
    sub.unsubscribe();
    assert.ok(got.length <= 51);
    assert.is(got.at(-1)?.u32(1100), 49);
    const gens = got.map((s) => s.generation);
    assert.equal(gens, [...gens].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)));
  });

  test('no copy when nothing changed: the same snapshot object is handed out again', async () => {
    const d = await open();
    const e = await open();
    const a = await firstValueFrom(d.snapshots$);
    const b = await firstValueFrom(d.snapshots$);
    assert.is(b, a);
    await lastValueFrom(e.transaction((p) => p.setU8(1400, (p.u8(1400) + 1) & 0xff)));
    const c = await firstValueFrom(d.snapshots$.pipe(filter((s) => s.generation > a.generation)));
    assert.is.not(c, a);
    assert.is(await firstValueFrom(d.snapshots$), c);
  });

  test('a staged lease: others snapshot the committed state during the hold, at once; the commit publishes', async () => {
    const a = await open();
    const b = await open({ readOnly: true });
    await lastValueFrom(a.transaction((p) => { p.setU32(2000, 1); p.setU32(2004, 1); }));
    const g = a.info().generation;
    // What a new subscriber waits with nobody holding the lock (a loaded host slows a guest down).
    const t1 = Date.now();
    await firstValueFrom(b.snapshots$);
    const free = Date.now() - t1;
    const { lease } = await takeLease(a);
    lease.page.setU32(2000, 2);
    assert.is(lease.page.u32(2000), 2, 'the lease reads its own staged writes');
    assert.ok(b.info().locked);
    const t0 = Date.now();
    const during = await firstValueFrom(b.snapshots$);
    const waited = Date.now() - t0;
    assert.ok(waited < Math.max(200, 3 * free), `a new subscriber waited ${waited} ms (${free} ms with the lock free)`);
    assert.is(during.u32(2000), 1);
    assert.is(during.generation, g);
    assert.is((await firstValueFrom(a.snapshots$)).u32(2000), 1, 'the holder\'s own device too');
    const next = firstValueFrom(b.snapshots$.pipe(filter((s) => s.generation > g)));
    lease.page.setU32(2004, 3);
    lease.commit();
    const after = await next;
    assert.is(after.generation, g + 1n);
    assert.equal([after.u32(2000), after.u32(2004)], [2, 3]);
    assert.is(a.info().locked, false);
  });

  test('a staged lease that aborts, or whose holder closes, never touched the data or the generation', async () => {
    const a = await open();
    const b = await open();
    await lastValueFrom(a.transaction((p) => p.setU32(2020, 5)));
    const g = a.info().generation;
    const aborts0 = a.info().counters.aborts;
    const first = await takeLease(a);
    first.lease.page.setU32(2020, 6);
    first.lease.abort();
    assert.is(a.info().generation, g);
    assert.is((await firstValueFrom(b.snapshots$)).u32(2020), 5);
    if (!fastPath) assert.is(a.info().counters.aborts, aborts0 + 1, 'released with ABORT');
    const second = await takeLease(a);
    second.lease.page.setU32(2020, 7);
    a.close();
    const s = await firstValueFrom(b.snapshots$);
    assert.equal([s.u32(2020), s.generation], [5, g]);
    assert.is(await lastValueFrom(b.transaction((p) => `${p.ownerDied} ${p.u32(2020)}`)), 'false 5');
  });

  test('an async transaction holds the lock until its promise settles; readers see the committed state meanwhile', async () => {
    const a = await open();
    const b = await open();
    await lastValueFrom(a.transaction((p) => { p.setU32(2040, 10); p.setU32(2044, 10); }));
    const g = a.info().generation;
    let during: Snapshot | undefined;
    let waiterRan = false;
    const running = lastValueFrom(a.transaction(async (p) => {
      p.setU32(2040, 11); // the synchronous part: moved to the staging copy
      await sleep(30);
      assert.is(p.u32(2040), 11);
      during = await firstValueFrom(b.snapshots$);
      assert.is(waiterRan, false, 'the lock is held');
      p.setU32(2044, 12);
      return 'done';
    }));
    const waiter = lastValueFrom(b.transaction((p) => { waiterRan = true; return p.u32(2040); }));
    assert.is(await running, 'done');
    assert.is(during?.u32(2040), 10);
    assert.is(during?.u32(2044), 10);
    assert.is(during?.generation, g);
    assert.is(await waiter, 11, 'a waiter got the lock after the commit');
    assert.ok(waiterRan);
    const s = await firstValueFrom(b.snapshots$);
    assert.equal([s.u32(2040), s.u32(2044)], [11, 12]);
    assert.is(s.generation, g + 2n);
  });

  test('an async transaction aborts on reject, unsubscribe, signal and close: the data never changed', async () => {
    const a = await open();
    const b = await open();
    await lastValueFrom(a.transaction((p) => p.setU32(2060, 20)));
    const g = a.info().generation;
    const never = new Promise<void>(() => {});
    const unchanged = async (): Promise<void> => {
      const s = await firstValueFrom(b.snapshots$);
      assert.equal([s.u32(2060), s.generation], [20, g]);
      assert.is(b.info().locked, false);
    };
    const rejected = await lastValueFrom(a.transaction(async (p) => {
      p.setU32(2060, 21);
      await sleep(5);
      throw new Error('remote failed');
    })).catch((e: unknown) => e);
    assert.is((rejected as Error).message, 'remote failed');
    await unchanged();
    let page: Page | undefined;
    const sub = a.transaction(async (p) => { page = p; p.setU32(2060, 22); await never; }).subscribe();
    await waitFor('the grant', () => page !== undefined);
    sub.unsubscribe();
    assert.throws(() => page?.u32(2060), (e: unknown) => e instanceof LeaseEndedError);
    await unchanged();
    const ac = new AbortController();
    const aborted = lastValueFrom(a.transaction(async (p) => { p.setU32(2060, 23); await never; },
      { signal: ac.signal })).catch((e: unknown) => e);
    await sleep(5);
    ac.abort();
    assert.instance(await aborted, LockCancelledError);
    await unchanged();
    const closed = lastValueFrom(a.transaction(async (p) => { p.setU32(2060, 24); await never; }))
      .catch((e: unknown) => e);
    await sleep(5);
    a.close();
    assert.instance(await closed, DeviceClosedError);
    await unchanged();
  });

  test('aborting the signal after the grant ends the lease: bytes restored, lock released, LockCancelledError', async () => {
    const d = await open();
    const before = (await firstValueFrom(d.snapshots$)).u32(1500);
    const ac = new AbortController();
    const aborts0 = d.info().counters.aborts;
    const g0 = d.info().generation;
    let outcome: unknown = 'none';
    const leased = new Promise<Lease>((resolve) => {
      d.lock$({ signal: ac.signal }).subscribe({ next: resolve, error: (e: unknown) => { outcome = e; } });
    });
    const lease = await leased;
    lease.page.setU32(1500, (before + 1) >>> 0);
    ac.abort(new Error('user gave up'));
    assert.instance(outcome, LockCancelledError);
    assert.is(lease.active, false);
    assert.throws(() => lease.page.u32(1500), (e: unknown) => e instanceof LeaseEndedError);
    assert.is(d.info().locked, false);
    assert.is(d.info().generation, g0, 'nothing published');
    if (!fastPath) assert.is(d.info().counters.aborts, aborts0 + 1, 'released with ABORT');
    assert.is((await firstValueFrom(d.snapshots$)).u32(1500), before);
    // A transaction whose fn aborts its own signal is undone the same way.
    const ac2 = new AbortController();
    const err = await lastValueFrom(d.transaction((p) => {
      p.setU32(1500, 7);
      ac2.abort();
      return 1;
    }, { signal: ac2.signal })).catch((e: unknown) => e);
    assert.instance(err, LockCancelledError);
    assert.is((await firstValueFrom(d.snapshots$)).u32(1500), before);
    assert.is(d.info().locked, false);
  });

  test('kernelWrite from a device holding its own lease fails at once with LockDeadlockError', async () => {
    const d = await open();
    const { lease, sub } = await takeLease(d);
    const t0 = Date.now();
    const err = await lastValueFrom(d.kernelWrite(1600, [1], { timeoutMs: 1000 })).catch((e: unknown) => e);
    assert.ok(Date.now() - t0 < 500, `took ${Date.now() - t0} ms`);
    assert.instance(err, LockDeadlockError);
    assert.instance(err, DeadlockError);
    assert.is((err as LockDeadlockError).code, 'KSHM_DEADLOCK');
    assert.ok(lease.active, 'the lease still holds');
    sub.unsubscribe();
    assert.ok(typeof await lastValueFrom(d.kernelWrite(1600, [1])) === 'bigint');
  });

  test('timeoutMs 0 tries once: LockBusyError at once when taken, the lock when free', async () => {
    const a = await open();
    const b = await open();
    const { sub } = await takeLease(a);
    const t0 = Date.now();
    const e1 = await lastValueFrom(b.transaction(() => 1, { timeoutMs: 0 })).catch((e: unknown) => e);
    const e2 = await lastValueFrom(b.lock$({ timeoutMs: 0 })).catch((e: unknown) => e);
    const e3 = await lastValueFrom(b.kernelWrite(1700, [1], { timeoutMs: 0 })).catch((e: unknown) => e);
    assert.ok(Date.now() - t0 < 500, `took ${Date.now() - t0} ms`);
    for (const e of [e1, e2, e3]) {
      assert.instance(e, LockBusyError);
      assert.is((e as LockBusyError).code, 'KSHM_BUSY');
    }
    assert.is(a.info().waiters, 0);
    sub.unsubscribe();
    assert.is(await lastValueFrom(b.transaction(() => 'free', { timeoutMs: 0 })), 'free');
    assert.ok(typeof await lastValueFrom(b.kernelWrite(1700, [2], { timeoutMs: 0 })) === 'bigint');
  });

  test('JSON.stringify(info()) works (generation as a decimal string); info() after close throws', async () => {
    const d = await open();
    const info = d.info();
    assert.is(info.abiVersion, ABI_VERSION);
    const json = JSON.parse(JSON.stringify(info)) as DeviceInfoJSON;
    assert.is(json.generation, info.generation.toString());
    assert.is(json.abiVersion, info.abiVersion);
    assert.equal(json.counters, info.counters);
    assert.equal(Object.keys(info).includes('toJSON'), false, 'toJSON is not one of the figures');
    d.close();
    assert.throws(() => d.info(), (e: unknown) => e instanceof DeviceClosedError);
  });

  test('Symbol.dispose: a device closes (idempotent), a lease aborts unless committed', async () => {
    const d = await open();
    const before = (await firstValueFrom(d.snapshots$)).u8(1800);
    const { lease } = await takeLease(d);
    lease.page.setU8(1800, before ^ 0xff);
    lease[Symbol.dispose]();
    assert.is(lease.active, false);
    assert.is((await firstValueFrom(d.snapshots$)).u8(1800), before);
    const second = await takeLease(d);
    second.lease.page.setU8(1800, 3);
    second.lease.commit();
    second.lease[Symbol.dispose](); // after commit: nothing to do
    assert.is((await firstValueFrom(d.snapshots$)).u8(1800), 3);
    d[Symbol.dispose]();
    assert.is(d.closed, true);
    d[Symbol.dispose]();
    d.close();
  });

  test('close cancels its kernel write still waiting for the lock: the kernel never writes it', async () => {
    const holder = await open();
    const writer = await open();
    const { lease, sub } = await takeLease(holder);
    const g0 = holder.info().generation;
    const result = lastValueFrom(writer.kernelWrite(1900, [0x5a], { timeoutMs: 10000 })).catch((e: unknown) => e);
    await waitFor('the kernel write to queue', () => holder.info().waiters === 1);
    const t0 = Date.now();
    writer.close();
    assert.ok(Date.now() - t0 < 2000, `close() returned after ${Date.now() - t0} ms: it waited the kernel write out`);
    assert.instance(await result, DeviceClosedError);
    await waitFor('the cancelled kernel write to leave the queue', () => holder.info().waiters === 0);
    lease.page.setU8(1900, 0x11);
    lease.commit();
    sub.unsubscribe();
    await sleep(50);
    const s = await firstValueFrom(holder.snapshots$);
    assert.is(s.u8(1900), 0x11);
    assert.is(s.generation, g0 + 1n, 'only the lease committed');
  });

  test('a lease committed or aborted inside map/tap still reaches the subscriber, then completes', async () => {
    const d = await open();
    const done = await lastValueFrom(d.lock$().pipe(map((lease) => {
      lease.page.setU32(2100, 0xc0ffee);
      lease.commit();
      return lease.active;
    })));
    assert.is(done, false, 'the mapped value arrives (not EmptyError), the lease ended');
    assert.is((await firstValueFrom(d.snapshots$)).u32(2100), 0xc0ffee);
    const leases = await lastValueFrom(d.lock$().pipe(tap((lease) => {
      lease.page.setU32(2100, 1);
      lease.abort();
    }), toArray()));
    assert.is(leases.length, 1);
    assert.is((await firstValueFrom(d.snapshots$)).u32(2100), 0xc0ffee, 'aborted: nothing written');
    const twice = await lastValueFrom(d.lock$().pipe(map((lease) => {
      lease.commit();
      lease.commit();
    }))).catch((e: unknown) => e);
    assert.instance(twice, LeaseEndedError);
    assert.is(d.info().locked, false);
  });

  test('values that are not bytes (0..255 integers) are a RangeError, nothing written', async () => {
    const d = await open();
    await lastValueFrom(d.transaction((p) => p.fill(7, 2120, 4)));
    const g = d.info().generation;
    for (const bad of [[300], [-1], [1.5], [Number.NaN], 'ab'] as ArrayLike<number>[]) {
      const e = await lastValueFrom(d.kernelWrite(2120, bad)).catch((err: unknown) => err);
      assert.instance(e, RangeError, `kernelWrite(${JSON.stringify(bad)})`);
      const t = await lastValueFrom(d.transaction((p) => p.set(2120, bad))).catch((err: unknown) => err);
      assert.instance(t, RangeError, `page.set(${JSON.stringify(bad)})`);
    }
    assert.equal([...(await firstValueFrom(d.snapshots$)).slice(2120, 4)], [7, 7, 7, 7]);
    assert.is(d.info().generation, g, 'no commit');
    assert.is(d.info().locked, false);
  });

  test.run();
}
