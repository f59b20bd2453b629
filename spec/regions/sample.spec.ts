// The sample producer module (driver/samples/kshm_sample.c) loaded, producing
// and unloaded while a node process is subscribed to /dev/kshm/sample (guest,
// run by harness/guest-suite.mjs --regions, which boots kshm with regions=a:1,b:4).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { constants } from 'node:os';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { firstValueFrom, lastValueFrom, take, timeout, toArray } from 'rxjs';
import { listDevices, openDevice, type EventRecord } from '../../lib/index.js';

const test = suite('kshm_sample: a producer module under a subscriber');
const root = fileURLToPath(new URL('../../../', import.meta.url));
const series = process.env['KSHM_KERNEL'] ?? '6.1';
const ko = `${root}build/sample/${series}/kshm_sample.ko`;
const subscriber = fileURLToPath(new URL('./fixtures/subscriber.js', import.meta.url));
const busybox = '/kshm/busybox';
const scale = Number(process.env['KSHM_TIME_SCALE'] ?? 1);

function modprobe(args: string[]): void {
  const [cmd, ...rest] = existsSync(busybox) ? [busybox, ...args] : args;
  const r = spawnSync(cmd!, rest, { encoding: 'utf8' });
  assert.is(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
}

const load = (periodMs: number, rateHz = 0): void => modprobe(['insmod', ko, `period_ms=${periodMs}`, `rate_hz=${rateHz}`]);
const unload = (): void => modprobe(['rmmod', 'kshm_sample']);

interface Line { count?: string; monoNs?: string; end?: string; name?: string; code?: string; errno?: number }

/** The subscriber process: its lines as they come, and its end. */
function subscribe(path: string): { lines: Line[]; seen(n: number): Promise<void>; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [subscriber, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: Line[] = [];
  let buf = '';
  let waiting: { n: number; resolve: () => void } | undefined;
  child.stdout.on('data', (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buf.slice(0, nl)) as Line);
      buf = buf.slice(nl + 1);
    }
    if (waiting && lines.length >= waiting.n) waiting.resolve();
  });
  const hard = setTimeout(() => child.kill('SIGKILL'), 60000 * scale);
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => {
    clearTimeout(hard);
    resolve(code);
  }));
  return {
    lines,
    seen: (n) => new Promise((resolve) => {
      if (lines.length >= n) resolve();
      else waiting = { n, resolve };
    }),
    exit,
  };
}

test('loads: /dev/kshm/sample (1 page) commits a counter and CLOCK_MONOTONIC every period_ms', async () => {
  load(10);
  try {
    const entry = (await listDevices()).find((d) => d.name === 'sample');
    assert.equal(entry, { name: 'sample', pages: 1, path: '/dev/kshm/sample' });
    const device = await openDevice('/dev/kshm/sample', { readOnly: true });
    try {
      assert.is(device.size, 4096);
      const first = await new Promise<[bigint, bigint]>((resolve) => {
        const seen: bigint[] = [];
        const sub = device.snapshots$.subscribe((s) => {
          seen.push(s.u64(0));
          if (seen.length === 5) {
            sub.unsubscribe();
            resolve([seen[0]!, s.u64(8)]);
          }
        });
      });
      const count = first[0];
      assert.ok(count >= 1n, `count ${count}`);
      // CLOCK_MONOTONIC: Node's hrtime reads the same clock.
      const drift = process.hrtime.bigint() - first[1];
      assert.ok(drift >= 0n && drift < 5_000_000_000n, `mono_ns is ${drift} ns behind`);
    } finally {
      device.close();
    }
  } finally {
    unload();
  }
  assert.not.ok(existsSync('/dev/kshm/sample'));
});

test('unloads under a subscribed node process: the stream errors with DeviceGoneError, the process exits by itself', async () => {
  load(10);
  let loaded = true;
  try {
    const sub = subscribe('/dev/kshm/sample');
    await sub.seen(3);
    unload();
    loaded = false;
    const code = await sub.exit;
    assert.is(code, 0, 'the subscriber did not exit cleanly');
    const counts = sub.lines.filter((l) => l.count !== undefined).map((l) => BigInt(l.count!));
    assert.ok(counts.length >= 3);
    for (let i = 1; i < counts.length; i++) assert.ok(counts[i]! > counts[i - 1]!, 'counts go up');
    const end = sub.lines.at(-1)!;
    assert.equal(end, { end: 'error', name: 'DeviceGoneError', code: 'KSHM_DEVICE_GONE', errno: constants.errno.ENODEV });
  } finally {
    if (loaded) unload();
  }
});

test('an open device of the destroyed region fails typed; the name loads again as a new region', async () => {
  load(5);
  let loaded = true;
  const old = await openDevice('/dev/kshm/sample');
  // events$ ends with DeviceGoneError, however it is subscribed (no record comes: rate_hz=0).
  const events = (): Promise<unknown> => firstValueFrom(old.events$().pipe(timeout(10000 * scale)))
    .then(() => 'a record', (e: unknown) => e);
  const name = (e: unknown): string => (e instanceof Error ? e.constructor.name : String(e));
  try {
    assert.ok(old.info().pages === 1);
    const subscribed = events();
    unload();
    loaded = false;
    assert.throws(() => old.info(), (e: Error) => e.constructor.name === 'DeviceGoneError');
    const got: Record<string, string> = {};
    got['events$ subscribed before the unload'] = name(await subscribed);
    got['events$ subscribed after it'] = name(await events());
    // The lock's fast path included: the kernel left KSHM_LW_WAITERS in the word.
    got['a transaction after it'] = name(await lastValueFrom(old.transaction((p) => p.setU8(0, 1)))
      .then(() => 'committed', (e: unknown) => e));
    load(5);
    loaded = true;
    got['events$ once the name is a new region'] = name(await events());
    assert.equal(got, Object.fromEntries(Object.keys(got).map((k) => [k, 'DeviceGoneError'])));
    const fresh = await openDevice('/dev/kshm/sample', { readOnly: true });
    try {
      const count = await new Promise<bigint>((resolve) => {
        const s = fresh.snapshots$.subscribe((snap) => {
          if (snap.u64(0) > 0n) {
            queueMicrotask(() => s.unsubscribe());
            resolve(snap.u64(0));
          }
        });
      });
      assert.ok(count >= 1n);
    } finally {
      fresh.close();
    }
  } finally {
    old.close();
    if (loaded) unload();
  }
});

test('rate_hz: an hrtimer emits records of type 1 with a u64 counter from 0 into the region\'s ring (4096), in order; unloading ends events$ with DeviceGoneError', async () => {
  load(100, 1000);
  let loaded = true;
  const device = await openDevice('/dev/kshm/sample', { readOnly: true });
  try {
    assert.is(device.info().ring?.records, 4096);
    const first = await firstValueFrom(device.events$({ from: 'oldest' }).pipe(take(1), timeout(10000 * scale)));
    assert.is(first.type, 1);
    assert.is(first.seq, 0n);
    assert.is(first.u64(0), 0n, 'the counter starts at 0');
    const seen: EventRecord[] = [];
    const ended = new Promise<unknown>((resolve) => {
      device.events$().subscribe({ next: (e) => seen.push(e), error: resolve, complete: () => resolve('complete') });
    });
    const batch = await firstValueFrom(device.events$().pipe(take(200), toArray(), timeout(20000 * scale)));
    for (let i = 1; i < batch.length; i++) {
      assert.is(batch[i]!.seq, batch[i - 1]!.seq + 1n, 'contiguous seq');
      assert.is(batch[i]!.u64(0), batch[i - 1]!.u64(0) + 1n, 'the counter goes up by 1');
      assert.is(batch[i]!.lostBefore, 0);
    }
    assert.is(batch[0]!.u64(0), batch[0]!.seq, 'the counter is the seq (the only producer)');
    unload();
    loaded = false;
    const end = await ended;
    assert.is((end as Error).constructor.name, 'DeviceGoneError', String(end));
    assert.ok(seen.length > 0);
  } finally {
    device.close();
    if (loaded) unload();
  }
});

test.run();
