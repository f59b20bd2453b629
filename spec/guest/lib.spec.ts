// The RxJS API against the real driver: what only a kernel can show
// (the ticker, other processes, SIGKILL, the libuv pool, process exit).
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { filter, firstValueFrom, lastValueFrom, take, toArray, type Subscription } from 'rxjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  DeviceClosedError, DeviceNotFoundError, LeaseEndedError, openDevice, type Device, type Lease,
} from '../../lib/index.js';

const test = suite('lib against the driver');
const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}.js`, import.meta.url));
const scale = Number(process.env['KSHM_TIME_SCALE'] ?? 1);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const opened: Device[] = [];
const open = async (): Promise<Device> => {
  const d = await openDevice();
  opened.push(d);
  return d;
};
test.after.each(async () => {
  for (const d of opened.splice(0)) d.close();
  await writeFile('/sys/module/kshm/parameters/tick_ms', '0');
});

/** ms: spawn to exit; firstOutMs: spawn to its first stdout output (-1: none). */
interface Child { code: number | null; signal: NodeJS.Signals | null; out: string; ms: number; firstOutMs: number }

function runNode(script: string, args: string[] = [], opts: { env?: NodeJS.ProcessEnv; limitMs?: number } = {}):
  Promise<Child> & { child: ReturnType<typeof spawn> } {
  const t0 = Date.now();
  const child = spawn(process.execPath, [script, ...args], { env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1', ...opts.env }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let firstOutMs = -1;
  child.stdout?.on('data', (d) => {
    if (firstOutMs < 0) firstOutMs = Date.now() - t0;
    out += d;
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), (opts.limitMs ?? 60000) * Number(process.env.KSHM_TIME_SCALE ?? 1));
  const p = new Promise<Child>((resolve) => child.on('close', (code, signal) => {
    clearTimeout(killer);
    resolve({ code, signal, out, ms: Date.now() - t0, firstOutMs });
  }));
  return Object.assign(p, { child });
}

function holdLease(device: Device): Promise<{ lease: Lease; sub: Subscription }> {
  return new Promise((resolve, reject) => {
    let sub: Subscription | undefined;
    sub = device.lock$().subscribe({ next: (lease) => queueMicrotask(() => resolve({ lease, sub: sub as Subscription })), error: reject });
  });
}

test('the kernel ticker is seen through snapshots$', async () => {
  const d = await open();
  await writeFile('/sys/module/kshm/parameters/tick_ms', '10');
  const ticks = await lastValueFrom(d.snapshots$.pipe(
    filter((s) => s.tick().count > 0n), take(4), toArray()));
  const counts = ticks.map((s) => s.tick().count);
  for (let i = 1; i < counts.length; i++) assert.ok((counts[i] as bigint) > (counts[i - 1] as bigint), `${counts}`);
  assert.ok((ticks.at(-1) as { tick(): { monoNs: bigint } }).tick().monoNs > 0n);
  assert.is(d.info().tickMs, 10);
});

test('a kernel write wakes snapshots$ with the bytes', async () => {
  const d = await open();
  const next = firstValueFrom(d.snapshots$.pipe(filter((s) => s.utf8(1500, 16) === 'from the kernel')));
  await lastValueFrom(d.kernelWrite(1500, new TextEncoder().encode('from the kernel\0')));
  const s = await next;
  assert.is(s.generation, d.info().generation);
});

test('two processes (fast path, ioctl path) transact concurrently; every snapshot holds the checksum', async () => {
  const d = await open();
  // Start from a state that holds the invariant (suites before this one leave bytes there).
  await lastValueFrom(d.transaction((p) => p.fill(0, 2048, 256)));
  let checked = 0;
  let torn = 0;
  const sub = d.snapshots$.subscribe((s) => {
    let sum = 0;
    for (let i = 0; i < 64; i++) sum = (sum + s.u32(2048 + i * 4)) >>> 0;
    if (sum !== 0) torn++;
    checked++;
  });
  const g0 = d.info().generation;
  const [a, b] = await Promise.all([
    runNode(fixture('checksum-writer'), ['2048', '300', '7']),
    runNode(fixture('checksum-writer'), ['2048', '300', '99'], { env: { KSHM_FAST_PATH: '0' } }),
  ]);
  sub.unsubscribe();
  assert.is(a.code, 0);
  assert.is(b.code, 0);
  assert.is(torn, 0);
  assert.ok(checked > 1, `only ${checked} snapshots`);
  assert.ok(d.info().generation - g0 >= 600n);
});

test('a seqcount reader copying all the time never validates a half-written transaction (writers on both lock paths)', async () => {
  const d = await open();
  await lastValueFrom(d.transaction((p) => { p.fill(0, 2048, 256); p.setU8(4000, 0); }));
  const reader = runNode(fixture('checksum-reader'), ['2048', '4000'], { limitMs: 180000 });
  await new Promise<void>((resolve) => reader.child.stdout?.once('data', () => resolve()));
  const [a, b] = await Promise.all([
    runNode(fixture('checksum-writer'), ['2048', '300', '5']),
    runNode(fixture('checksum-writer'), ['2048', '100', '11'], { env: { KSHM_FAST_PATH: '0' } }),
  ]);
  await lastValueFrom(d.transaction((p) => p.setU8(4000, 1))); // the reader stops
  const r = await reader;
  assert.is(a.code, 0);
  assert.is(b.code, 0);
  assert.is(r.code, 0, r.out);
  const got = JSON.parse(r.out.trim().split('\n').at(-1) as string) as { copies: number; torn: number; generations: number };
  assert.is(got.torn, 0, `${got.torn} of ${got.copies} validated copies were torn`);
  // The reads overlapped the writes: many copies, across many commits.
  assert.ok(got.copies > 1000 && got.generations >= 10, JSON.stringify(got));
});

for (const fastPath of [true, false]) {
test(`SIGKILL of a process holding the lock (${fastPath ? 'fast path' : 'ioctl'}): the next page says ownerDied, the staged writes never landed`, async () => {
  const d = await open();
  const committed = await lastValueFrom(d.transaction((p) => { p.setU32(3000, 0x600d); return p.u32(3000); }));
  const holder = runNode(fixture('hold-and-wait'), [], { env: { KSHM_FAST_PATH: fastPath ? '1' : '0' } });
  await new Promise<void>((resolve) => holder.child.stdout?.on('data', (chunk: Buffer) => {
    if (chunk.toString().includes('held')) resolve();
  }));
  const next = lastValueFrom(d.transaction((p) => ({ died: p.ownerDied, value: p.u32(3000) }), { timeoutMs: 5000 }));
  await sleep(20);
  holder.child.kill('SIGKILL');
  const seen = await next;
  await holder;
  assert.is(seen.died, true);
  assert.is(seen.value, committed, 'the lease wrote 0xbad into its own copy only');
  assert.is(await lastValueFrom(d.transaction((p) => p.ownerDied)), false);
});
}

test('fast path: no driver grant for an uncontended transaction, one with fastPath: false; subscribers woken', async () => {
  const d = await open();
  const watcher = await openDevice('/dev/kshm', { readOnly: true });
  opened.push(watcher);
  const seen: bigint[] = [];
  const sub = watcher.snapshots$.subscribe((s) => seen.push(s.generation));
  await sleep(20);
  const before = d.info();
  await lastValueFrom(d.transaction((p) => p.setU32(3100, 1)));
  const fast = d.info();
  assert.is(fast.counters.locksGranted, before.counters.locksGranted, 'the fast path asked the driver');
  assert.is(fast.generation, before.generation + 1n);
  await lastValueFrom(d.transaction((p) => p.setU32(3100, 2), { fastPath: false }));
  const slow = d.info();
  assert.is(slow.counters.locksGranted, fast.counters.locksGranted + 1);
  assert.is(slow.generation, fast.generation + 1n);
  const wanted = slow.generation;
  const until = Date.now() + 3000;
  while (!seen.includes(wanted) && Date.now() < until) await sleep(5);
  sub.unsubscribe();
  assert.ok(seen.includes(wanted), `the watcher saw ${seen.join(',')}, not ${wanted}`);
  const s = await firstValueFrom(watcher.snapshots$);
  assert.is(s.u32(3100), 2);
  // A lease on the fast path, then a transaction through the driver waits for it.
  const { lease, sub: leaseSub } = await holdLease(d);
  const other = await open();
  const waiting = lastValueFrom(other.transaction((p) => p.u32(3100), { fastPath: false, timeoutMs: 5000 }));
  await sleep(30);
  lease.page.setU32(3100, 3);
  lease.commit();
  leaseSub.unsubscribe();
  assert.is(await waiting, 3);
});

test('1,000 unsubscribes at random points: the lock is free and the process exits', async () => {
  const r = await runNode(fixture('random-unsubscribes'), [], { limitMs: 120000 });
  const seed = /seed (\d+)/.exec(r.out)?.[1];
  assert.is(r.code, 0, `exit ${r.code} ${r.signal} (seed ${seed}: rerun with SEED=${seed})\n${r.out}`);
  const result = JSON.parse(r.out.trim().split('\n').at(-1) ?? '{}') as { locked: boolean; waiters: number };
  assert.is(result.locked, false, `seed ${seed}`);
  assert.is(result.waiters, 0, `seed ${seed}`);
  const d = await open();
  assert.is(d.info().locked, false);
});

test('blocked calls never starve the libuv pool: 3 devices x 20 waiting, readFile still runs', async () => {
  const holder = await open();
  const { sub } = await holdLease(holder);
  const devices = [await open(), await open(), await open()];
  const pending = devices.flatMap((d) => Array.from({ length: 20 }, () => lastValueFrom(d.transaction(() => 1))));
  await sleep(50);
  assert.is(holder.info().waiters, 3);
  const t0 = Date.now();
  const text = await readFile('/proc/self/status', 'utf8');
  const readMs = Date.now() - t0;
  assert.ok(text.includes('Name:'));
  assert.ok(readMs < 5000, `readFile took ${readMs} ms`);
  sub.unsubscribe();
  assert.is((await Promise.all(pending)).length, 60);
});

for (const mode of ['unsubscribe', 'close', 'exit']) {
  test(`a process with snapshots$ and a blocked transaction exits by itself (${mode})`, async () => {
    const holder = await open();
    const { sub } = await holdLease(holder);
    // The holder keeps the lease until the child is gone: a child that waits for its
    // blocked call never exits, and is killed after 60 s. One that exits must do so
    // soon after it let go ("done"): within its own start-up time (node, koffi, the
    // device: what the host's load slows down alike), and never less than 5 s.
    const r = await runNode(fixture('exits-by-itself'), [mode], { limitMs: 60000 });
    sub.unsubscribe();
    assert.is(r.signal, null, `killed: it did not exit by itself (${r.ms} ms)`);
    assert.is(r.code, 0);
    assert.ok(r.out.includes(`${mode} done`));
    const exitMs = r.ms - r.firstOutMs;
    const startMs = r.firstOutMs;
    assert.ok(exitMs < Math.max(5000, startMs) * scale,
      `it took ${exitMs} ms to exit after letting go (${startMs} ms to start)`);
    assert.is(holder.info().waiters, 0);
  });
}

test('typed errors: no device, no permission', async () => {
  const err = await openDevice('/dev/kshm-missing').catch((e: unknown) => e);
  assert.instance(err, DeviceNotFoundError);
  assert.match((err as Error).message, /npm run vm/);
  const r = await runNode(fixture('no-permission'));
  const out = JSON.parse(r.out) as { name: string; message: string };
  assert.is(out.name, 'PermissionDeniedError');
  assert.match(out.message, /kshm group/);
});

test('after close, a page or lease of the device cannot reach the unmapped memory', async () => {
  const d = await openDevice();
  const { lease } = await holdLease(d);
  const snap = await firstValueFrom(d.snapshots$);
  d.close();
  assert.throws(() => lease.page.u8(0), (e: unknown) => e instanceof LeaseEndedError);
  assert.throws(() => lease.page.setU8(0, 1), (e: unknown) => e instanceof LeaseEndedError);
  assert.is(snap.u8(0), snap.bytes[0]); // snapshots are copies: still readable
  assert.throws(() => d.info(), (e: unknown) => e instanceof DeviceClosedError);
  const other = await open();
  assert.is(other.info().locked, false);
});

test.run();
