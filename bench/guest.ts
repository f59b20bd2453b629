// Guest benchmarks, against the real driver, library next to the C baseline
// in the same boot (like against like: syscalls per job from a trace of every
// syscall, contended throughput, fairness and context switches, commit ->
// subscriber latency with every sample accounted for, pool threads, memory,
// and the calibration of the host's stand-in syscall).
// Run inside a guest by bench/run.mjs; prints one JSON object (the figures
// bench/invariants.ts checks and bench/report.mjs reports).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';
import { filter, firstValueFrom, lastValueFrom, take } from 'rxjs';
import { openDevice, type Device, type Lease } from '../lib/index.js';
import { NativeBackend, openNativeBackend } from '../lib/native/native-backend.js';
import { traceSyscalls, type SyscallCount } from './syscalls.js';

const quick = process.argv.includes('--quick');
const root = fileURLToPath(new URL('../../', import.meta.url));
const baseline = `${root}build/bench/baseline`;
const self = fileURLToPath(import.meta.url);
const role = process.argv[2];
const DEVICE = process.env['KSHM_BENCH_DEVICE'] ?? '/dev/kshm';
/**
 * On the host (role standin-host): the stand-in build of the C baseline, and
 * C on libkshm for the writer and the poll() reader (the stand-in has no raw ioctl device).
 */
const C_BASELINE = process.env['KSHM_BENCH_BASELINE'] ?? baseline;
const onStandin = DEVICE.startsWith('standin:');

function json(out: string): Record<string, unknown> {
  const line = out.trim().split('\n').filter((l) => l.startsWith('{')).at(-1);
  return JSON.parse(line ?? '{}') as Record<string, unknown>;
}
const num = (o: Record<string, unknown>, k: string): number => (typeof o[k] === 'number' ? o[k] as number : NaN);

const run = (cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> =>
  new Promise((resolve) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], env });
    let out = '';
    c.stdout.on('data', (d) => { out += d; });
    c.on('close', () => resolve(out));
  });

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until a snapshot satisfies `pred`, looking every 5 ms (setup only,
 * never measured: the host stand-in's commit wake-ups reach one poller).
 */
async function waitUntil(d: Device, pred: (s: import('../lib/index.js').Snapshot) => boolean): Promise<void> {
  while (!pred(await firstValueFrom(d.snapshots$))) await sleep(5);
}

/** A lease kept until committed (firstValueFrom would unsubscribe, which ends it). */
const leaseOf = (d: Device): Promise<Lease> => new Promise((resolve, reject) => {
  d.lock$().subscribe({ next: resolve, error: reject });
});

/** Starts a reader; `ready` resolves once it printed "ready" (subscribed), `done` with its output. */
function startReader(cmd: string, args: string[]): { ready: Promise<void>; done: Promise<string> } {
  const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let onReady: () => void = () => {};
  const ready = new Promise<void>((r) => { onReady = r; });
  c.stdout.on('data', (d) => {
    out += d;
    if (out.includes('ready')) onReady();
  });
  const done = new Promise<string>((resolve) => c.on('close', () => {
    onReady();
    resolve(out);
  }));
  return { ready, done };
}

/** A measurement that failed is reported as such, never as a figure. */
function attempt<T>(what: string, fn: () => T): T | { error: string } {
  try {
    return fn();
  } catch (e) {
    process.stderr.write(`bench guest: ${what}: ${(e as Error).message}\n`);
    return { error: `${what}: ${(e as Error).message}` };
  }
}

// ---- roles run as child processes ---------------------------------------

/**
 * n synchronous transactions between two markers (after an empty window and
 * a warm-up), for bench/syscalls.ts; prints the time and how many completed.
 */
async function roleTxn(n: number, fastPath: boolean): Promise<void> {
  const d = await openDevice(DEVICE, { fastPath });
  const src = new Uint8Array(64).fill(3);
  const fd = openSync('/dev/null', 'w');
  const mark = (what: string, edge: string): void => { writeSync(fd, `KSHM-MARK-${what}-${edge}`); };
  let completed = 0;
  const loop = (k: number): void => {
    for (let i = 0; i < k; i++) {
      d.transaction((page) => {
        src[0] = i & 0xff;
        page.set(0, src);
      }).subscribe({ complete: () => { completed++; }, error: (e) => { throw e; } });
    }
  };
  loop(Math.min(n, 5000)); // warm-up: the JIT settles outside the window
  (globalThis as { gc?: () => void }).gc?.();
  completed = 0;
  mark('empty', 'BEGIN');
  loop(0);
  mark('empty', 'END');
  mark('loop', 'BEGIN');
  const t0 = process.hrtime.bigint();
  loop(n);
  const ns = Number(process.hrtime.bigint() - t0);
  mark('loop', 'END');
  console.log(JSON.stringify({ nsPerOp: ns / n, completed }));
  d.close();
}

async function roleContend(id: number): Promise<void> {
  const d = await openDevice(DEVICE);
  await lastValueFrom(d.transaction((page) => page.setU8(4002, (page.u8(4002) + 1) & 0xff)));
  await waitUntil(d, (s) => s.u8(4000) !== 0);
  let count = 0;
  const fill = new Uint8Array(64);
  const csw0 = process.resourceUsage().voluntaryContextSwitches;
  for (;;) {
    const stop = await lastValueFrom(d.transaction((page) => {
      if (page.u8(4001) !== 0) return true;
      fill.fill(count & 0xff);
      page.set(64 * (id % 8), fill);
      return false;
    }));
    if (stop) break;
    count++;
  }
  const voluntarySwitches = process.resourceUsage().voluntaryContextSwitches - csw0;
  console.log(JSON.stringify({ id, count, voluntarySwitches }));
  d.close();
}

/**
 * P3 per stage (a run of its own: the stamps cost a little): clock readings
 * at the entry of the poll callback (the wake-up through libuv and koffi)
 * and when the backend's snapshot is made (then: Snapshot, delivery).
 */
function stamps(): { poll: bigint; snapshot: bigint } {
  const at = { poll: 0n, snapshot: 0n };
  type Poll = (fd: number, opts: object, cb: (...args: unknown[]) => void) => unknown;
  const node = koffi.node as unknown as { poll: Poll };
  const poll = node.poll;
  node.poll = (fd, opts, cb) => poll(fd, opts, (...args) => {
    at.poll = process.hrtime.bigint();
    cb(...args);
  });
  const snapshot = NativeBackend.prototype.snapshot;
  NativeBackend.prototype.snapshot = function (this: NativeBackend, ...args) {
    const raw = snapshot.apply(this, args);
    at.snapshot = process.hrtime.bigint();
    return raw;
  };
  return at;
}

/**
 * The reader's side of the pacing (bench/c/baseline.c, struct pace): each
 * sample is acknowledged on the FIFO `ack` (its index, 8 bytes: one atomic
 * write) once stamped. KSHM_BENCH_DROP_EVERY=K (for a spec only): every K-th
 * sample is treated as never woken for (neither stamped nor acknowledged),
 * the loss the "every sample arrives" invariant must catch.
 * KSHM_BENCH_STALL_EVERY=K (for a spec only): every K-th sample, once
 * stamped, the reader stalls 20 ms before acknowledging it (the event loop
 * blocked, as a stalled guest would), longer than the host's commit gap.
 * The C readers take the same variables.
 */
function sampler(n: number, ack: string | undefined): {
  take(ts: bigint, index: bigint, generation: bigint, now: bigint): boolean;
  report(extra?: Record<string, unknown>): void;
} {
  const every = BigInt(Number(process.env['KSHM_BENCH_DROP_EVERY'] ?? 0) || 0);
  const stallEvery = BigInt(Number(process.env['KSHM_BENCH_STALL_EVERY'] ?? 0) || 0);
  const stall = new Int32Array(new SharedArrayBuffer(4));
  const fd = ack ? openSync(ack, 'r+') : -1; // O_RDWR: a FIFO's open does not wait for the other end
  const rec = new BigUint64Array(1);
  const lat: number[] = [];
  let dropped = 0;
  let last = 0n;
  let lastGeneration = -1n;
  let generationJumps = 0;
  return {
    // The JS twin of baseline.c's sampler_take(): counts a generation that
    // skipped one (a conflation), keeps each new index once, stamps, acknowledges.
    take(ts, index, generation, now) {
      if (lastGeneration >= 0n && generation > lastGeneration + 1n) generationJumps++;
      if (generation > lastGeneration) lastGeneration = generation;
      if (ts === 0n || now < ts || index <= last || lat.length >= n) return false;
      last = index;
      if (every > 0n && index % every === 0n) {
        dropped++;
        return false;
      }
      lat.push(Number(now - ts) / 1e3);
      if (stallEvery > 0n && index % stallEvery === 0n) Atomics.wait(stall, 0, 0, 20);
      if (fd >= 0) {
        rec[0] = index;
        writeSync(fd, new Uint8Array(rec.buffer));
      }
      return true;
    },
    report(extra = {}) {
      lat.sort((a, b) => a - b);
      console.log(JSON.stringify({
        expected: n, n: lat.length, p50Us: lat[Math.floor(lat.length / 2)], p99Us: lat[Math.floor(lat.length * 0.99)],
        generationJumps, dropped, ...extra,
      }));
    },
  };
}

/**
 * Commit -> subscriber: the writer (C) commits [timestamp, done, index] at
 * `offset`; each emission is stamped when the subscriber receives it (after
 * the copy, as the C reader stamps after its copy), then acknowledged on
 * `ack` (the writer waits for it before its next commit). Counts the indices
 * seen, and the emissions whose generation skipped one (a conflation).
 */
async function roleLatency(n: number, offset: number, stages = false, ack?: string, range = false): Promise<void> {
  const at = stages ? stamps() : undefined;
  const d = await openDevice(DEVICE, { readOnly: true });
  // range: a subscriber of the sample's 24 bytes alone (the bytes the C reader copies), else of whole snapshots.
  const source$ = range ? d.snapshotRange$(offset, 24) : d.snapshots$;
  const samples = sampler(n, ack);
  const parts: number[][] = [[], [], []];
  const DONE = (1n << 64n) - 1n;
  setImmediate(() => console.log('ready')); // subscribed below, synchronously
  await lastValueFrom(source$.pipe(
    filter((s) => {
      const now = process.hrtime.bigint();
      if (s.u64(offset + 8) === DONE) return true; // the writer finished
      const ts = s.u64(offset);
      if (samples.take(ts, s.u64(offset + 16), s.generation, now) && at) {
        [at.poll - ts, at.snapshot - at.poll, now - at.snapshot].forEach((x, i) => parts[i]?.push(Number(x) / 1e3));
      }
      return false;
    }),
    take(1),
  ));
  samples.report(at ? { stagesP50Us: Object.fromEntries(['wakeToCallback', 'callbackToSnapshot', 'snapshotToSubscriber'].map((k, i) => {
    const xs = (parts[i] ?? []).sort((a, b) => a - b);
    return [k, xs[Math.floor(xs.length / 2)]];
  })) } : {});
  d.close();
}

/**
 * The runtime's floor for P3: the library's native backend alone in a Node
 * process (koffi.node.poll on the device's fd, the wake-up consumed after,
 * as snapshots$ does) copying the same 24 bytes the C reader copies, through
 * the seqcount, and stamping after the copy: no Snapshot, no RxJS, no 4 KiB.
 * What a library on Node's event loop and koffi cannot go under.
 */
async function roleFloorLatency(n: number, offset: number, ack?: string): Promise<void> {
  const b = openNativeBackend(DEVICE, true);
  const samples = sampler(n, ack);
  const bytes = new Uint8Array(24);
  const words = new BigUint64Array(bytes.buffer);
  const DONE = (1n << 64n) - 1n;
  await new Promise<void>((resolve, reject) => {
    const stop = b.watchCommits(() => {
      const copied = b.copyInto(bytes, offset);
      const now = process.hrtime.bigint();
      if (copied === undefined) return;
      const [ts = 0n, done, index = 0n] = words;
      if (done === DONE) {
        stop();
        resolve();
        return;
      }
      samples.take(ts, index, copied.generation, now);
    }, (errno) => reject(new Error(`poll: errno ${errno}`)));
    console.log('ready');
  });
  samples.report();
  b.close();
}

/**
 * Pool threads (run with UV_THREADPOOL_SIZE=64, so the pool's size cannot
 * cap the count): one device holds the lock, 3 devices queue 20 transactions
 * each; the driver's waiter count is the number of pool threads blocked in
 * LOCK. A file read (libuv pool work) must complete while they wait.
 */
async function rolePool(): Promise<void> {
  const holder = await openDevice(DEVICE);
  const lease = await leaseOf(holder);
  const devices = await Promise.all([openDevice(DEVICE), openDevice(DEVICE), openDevice(DEVICE)]);
  const pending = devices.flatMap((d) => Array.from({ length: 20 }, () => lastValueFrom(d.transaction(() => 1))));
  await sleep(quick ? 500 : 1000);
  const blocked = holder.info().waiters;
  const t0 = Date.now();
  const read = await Promise.race([readFile(self).then((b) => b.length), sleep(10000).then(() => -1)]);
  const fileIoMs = Date.now() - t0;
  const stillBlocked = holder.info().waiters;
  lease.commit();
  const results = await Promise.all(pending);
  for (const d of [holder, ...devices]) d.close();
  console.log(JSON.stringify({
    threadPoolSize: Number(process.env['UV_THREADPOOL_SIZE'] ?? 4), devices: devices.length, queued: pending.length,
    blocked, blockedPerDevice: blocked / devices.length, fileIoCompleted: read > 0 && stillBlocked === blocked,
    fileIoMs, completed: results.length,
  }));
}

/**
 * Memory over n transactions with a snapshots$ subscriber, a lock$ lease
 * every 100 and a contended wait (a second device's transaction queued
 * behind a lease, waiting on the pool) every 100: RSS, heap and
 * ArrayBuffers after a first quarter (warm), and at the end, each after a GC.
 */
async function roleMemory(n: number): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  const d = await openDevice(DEVICE);
  const other = await openDevice(DEVICE);
  let emissions = 0;
  const sub = d.snapshots$.subscribe(() => { emissions++; });
  const src = new Uint8Array(64);
  let contended = 0;
  const round = async (k: number): Promise<void> => {
    for (let i = 0; i < k; i++) {
      src[0] = i & 0xff;
      d.transaction((page) => page.set(0, src)).subscribe();
      if (i % 100 === 50) {
        const lease = await leaseOf(d);
        const waiting = lastValueFrom(other.transaction((page) => page.setU8(100, i & 0xff)));
        await sleep(0);
        lease.page.setU8(101, i & 0xff);
        lease.commit();
        await waiting;
        contended++;
      }
      // Let the snapshot stream see commits: thousands of snapshots, so that a leak of them would show.
      if (i % 20 === 19) await new Promise<void>((r) => setImmediate(r));
    }
  };
  const mem = async (): Promise<{ rss: number; heapUsed: number; arrayBuffers: number; external: number }> => {
    // Two GCs with a turn between: ArrayBuffers are freed by a sweeper task.
    gc();
    await sleep(100);
    gc();
    const m = process.memoryUsage();
    return { rss: m.rss, heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers, external: m.external };
  };
  await round(Math.floor(n / 4));
  const before = await mem();
  await round(n);
  const after = await mem();
  sub.unsubscribe();
  d.close();
  other.close();
  console.log(JSON.stringify({ transactions: n, contended, emissions, before, after }));
}

// ---- the orchestration, in the guest -------------------------------------

async function setGo(device: Device, value: number): Promise<void> {
  await lastValueFrom(device.transaction((p) => p.setU8(4000, value)));
}

interface Contended {
  counts: number[]; transactions: number; throughput: number; fairness: number;
  /** Voluntary switches over every transaction of the run (a detail). */
  voluntarySwitchesPerTxn: number;
  /** Waits that queued in the driver (or the stand-in) during the run: locks_contended's delta. */
  contendedWaits: number;
  /** Voluntary switches per queued wait: per contended transaction, exactly. */
  voluntarySwitchesPerContended: number;
}

/**
 * 4 contending processes: the library; C on libkshm's lock ('c'); C in the
 * design card's shape ('c-card': a worker thread blocks in the driver and
 * wakes the main thread's epoll through an eventfd, as the library's pool
 * thread does); C on the raw ioctls ('c-ioctl', the driver only).
 */
async function contended(who: 'lib' | 'c' | 'c-card' | 'c-ioctl', seconds: number): Promise<Contended> {
  const d = await openDevice(DEVICE);
  await lastValueFrom(d.transaction((p) => { p.setU8(4000, 0); p.setU8(4001, 0); p.setU8(4002, 0); }));
  const procs = [0, 1, 2, 3].map((id) => {
    if (who === 'lib') return run(process.execPath, [self, 'contend', String(id)]);
    const mode = { c: 'contend-lib', 'c-card': 'contend-card', 'c-ioctl': 'contend' }[who];
    return run(C_BASELINE, [mode, '0', String(id), DEVICE]);
  });
  // Everybody ready (node starts slowly under TCG), then one common window.
  await waitUntil(d, (s) => s.u8(4002) === 4);
  // The driver's count of waits that queued (INFO's locks_contended, the
  // sysfs stats/locks_contended; the stand-in keeps its own): its delta over
  // the run is the number of contended transactions (the stop below may add one).
  const queued0 = d.info().counters.locksContended;
  await setGo(d, 1);
  await sleep(seconds * 1000);
  await lastValueFrom(d.transaction((p) => p.setU8(4001, 1)));
  const outs = (await Promise.all(procs)).map(json);
  const contendedWaits = d.info().counters.locksContended - queued0;
  d.close();
  const counts = outs.map((o) => num(o, 'count'));
  const total = counts.reduce((a, b) => a + b, 0);
  const switches = outs.map((o) => num(o, 'voluntarySwitches')).reduce((a, b) => a + b, 0);
  return {
    counts,
    transactions: total,
    throughput: total / seconds,
    fairness: Math.max(...counts) / Math.max(1, Math.min(...counts)),
    voluntarySwitchesPerTxn: switches / Math.max(1, total),
    contendedWaits,
    voluntarySwitchesPerContended: switches / Math.max(1, contendedWaits),
  };
}

/**
 * How long the writer waits for every reader's acknowledgement of a sample
 * before its next commit: far beyond any stall seen on a loaded host (~0.25 s
 * in a TCG guest), so a missing one is a lost wake-up. A spec shortens it,
 * or turns the pacing off with 0 (the writer then keeps only its gaps).
 */
const ACK_TIMEOUT_MS = Number(process.env['KSHM_BENCH_ACK_TIMEOUT_MS'] ?? 3000);

/**
 * Runs `readers` (each started with the acknowledgement FIFO as its last
 * argument), then the C writer of n samples paced by their acknowledgements
 * (bench/c/baseline.c, struct pace); resolves with the readers' outputs and
 * the writer's (its acknowledgements that did not come in time).
 */
async function paced(n: number, gapUs: number, offset: number,
  readers: (ack: string) => Array<{ ready: Promise<void>; done: Promise<string> }>): Promise<{ outs: Array<Record<string, unknown>>; writer: Record<string, unknown> }> {
  const d = await openDevice(DEVICE);
  await lastValueFrom(d.transaction((p) => p.fill(0, offset, 24))); // no stale done marker
  d.close();
  const dir = mkdtempSync(join(tmpdir(), 'kshm-acks-'));
  const ack = join(dir, 'acks');
  try {
    const made = spawnSync('mkfifo', ['-m', '600', ack], { encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`mkfifo ${ack}: ${made.stderr || made.error?.message}`);
    const started = readers(ack);
    await Promise.all(started.map((r) => r.ready));
    await sleep(200); // the readers subscribed: their first emission is the state before the writer
    const pacing = ACK_TIMEOUT_MS > 0 ? [String(started.length), ack, String(ACK_TIMEOUT_MS)] : [];
    const writer = json(await run(C_BASELINE, onStandin ? ['lib-writer', String(n), String(gapUs), String(offset), DEVICE, ...pacing]
      : ['writer', String(n), String(gapUs), String(offset), ...pacing]));
    return { outs: (await Promise.all(started.map((r) => r.done))).map(json), writer };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The writer's pacing figures, as reported next to the samples. */
const pacing = (w: Record<string, unknown>): Record<string, unknown> => ({
  ackTimeoutMs: w['ackTimeoutMs'], ackTimeouts: w['ackTimeouts'], missingAcks: w['missingAcks'],
});

/** Commit -> subscriber, the readers by kind: command and arguments (the acknowledgement FIFO among them). */
type Reader = 'lib' | 'lib-stages' | 'range' | 'floor' | 'c' | 'c-whole';
const READERS: Record<Reader, (n: string, offset: string, ack: string) => [string, string[]]> = {
  // the library: whole snapshots$; the same stamped per stage; snapshotRange$ of the sample's 24 bytes
  'lib': (n, offset, ack) => [process.execPath, [self, 'latency', n, offset, ack]],
  'lib-stages': (n, offset, ack) => [process.execPath, [self, 'latency-stages', n, offset, ack]],
  'range': (n, offset, ack) => [process.execPath, [self, 'latency-range', n, offset, ack]],
  // the native backend alone in Node (the runtime's floor)
  'floor': (n, offset, ack) => [process.execPath, [self, 'floor-latency', n, offset, ack]],
  // C: the 24 bytes (the driver, or the stand-in through libkshm); a malloc'd copy of the whole region (stand-in)
  'c': (n, offset, ack) => onStandin ? [C_BASELINE, ['lib-poll-latency', n, offset, DEVICE, ack]]
    : [baseline, ['poll-latency', n, offset, ack]],
  'c-whole': (n, offset, ack) => [C_BASELINE, ['lib-poll-latency', n, offset, DEVICE, ack, 'whole']],
};

/** Starts k readers of the kind given, on the acknowledgement FIFO `ack`. */
const readers = (kind: Reader, k: number, n: number, offset: number, ack: string): Array<ReturnType<typeof startReader>> =>
  Array.from({ length: k }, () => startReader(...READERS[kind](String(n), String(offset), ack)));

/** Commit -> subscriber, one reader of the kind given (READERS). */
async function latency(kind: Reader, n: number, gapUs: number): Promise<Record<string, unknown>> {
  const offset = 3800;
  const { outs, writer } = await paced(n, gapUs, offset, (ack) => readers(kind, 1, n, offset, ack));
  return { ...outs[0], gapUs, writer: pacing(writer) };
}

/**
 * Growth with subscriber processes: k library readers (one snapshots$ each)
 * of the same commits (the writer waits for all k acknowledgements); each
 * reports its own p50/p99 and count.
 */
async function latencyProcesses(k: number, n: number, gapUs: number): Promise<Record<string, unknown>> {
  const offset = 3800;
  const { outs, writer } = await paced(n, gapUs, offset, (ack) => readers('lib', k, n, offset, ack));
  const p50s = outs.map((o) => num(o, 'p50Us')).sort((a, b) => a - b);
  return {
    processes: k,
    p50Us: p50s[Math.floor(p50s.length / 2)],
    worstP50Us: p50s.at(-1),
    p99Us: Math.max(...outs.map((o) => num(o, 'p99Us'))),
    receivedMin: Math.min(...outs.map((o) => num(o, 'n'))),
    generationJumps: outs.reduce((sum, o) => sum + num(o, 'generationJumps'), 0),
    expected: n,
    gapUs,
    writer: pacing(writer),
  };
}

async function orchestrate(): Promise<void> {
  const n = quick ? 2000 : 20000;
  const seconds = quick ? 1 : 3;
  const node = [process.execPath, '--expose-gc'];
  const started = Date.now();
  const syscalls: Record<string, SyscallCount | { error: string }> = {
    c: attempt('strace C ioctl loop', () => traceSyscalls([baseline, 'txn', String(n)], n)),
    cFast: attempt('strace C libkshm fast path', () => traceSyscalls([baseline, 'txn-lib', String(n)], n)),
    lib: attempt('strace library fast path', () => traceSyscalls([...node, self, 'txn', String(n), 'fast'], n)),
    libIoctl: attempt('strace library fastPath: false', () => traceSyscalls([...node, self, 'txn', String(n), 'ioctl'], n)),
  };
  const timed = quick ? 2000 : 20000;
  const transactionNs = {
    lib: num(json(await run(process.execPath, [...node.slice(1), self, 'txn', String(timed), 'fast'])), 'nsPerOp'),
    libIoctl: num(json(await run(process.execPath, [...node.slice(1), self, 'txn', String(timed), 'ioctl'])), 'nsPerOp'),
    c: num(json(await run(baseline, ['txn', String(timed)])), 'nsPerOp'),
    cFast: num(json(await run(baseline, ['txn-lib', String(timed)])), 'nsPerOp'),
  };
  const calibration = json(await run(baseline, ['calibrate', String(quick ? 2000 : 20000)]));
  const contended4 = {
    lib: await contended('lib', seconds),
    c: await contended('c', seconds),
    cCard: await contended('c-card', seconds),
    cIoctl: await contended('c-ioctl', seconds),
  };
  // Gaps far above the latency (each sample measured from an idle reader), and the
  // writer paced by the reader's acknowledgements (sent once a sample is stamped):
  // a host loaded by other guests stalls this one for up to ~0.25 s at times (it
  // once conflated 3 of 2000 commits, with gaps alone), so the next commit waits
  // until the reader has the previous one (up to ACK_TIMEOUT_MS). A missing sample
  // is then a lost wake-up; a conflation would still show, as a generation jump.
  const samples = quick ? 60 : 2000;
  const gapUs = quick ? 50000 : 15000;
  const commitToSubscriber = { lib: await latency('lib', samples, gapUs), c: await latency('c', samples, gapUs) };
  // Subscribers in 1-8 processes (a full run only: 8 node start-ups under TCG take a while).
  const subscriberProcesses: Record<string, unknown> = {};
  if (!quick) {
    for (const k of [1, 2, 4, 8]) {
      // Gaps grow with k: k readers on 2 vCPUs take turns (each measured idle; the writer waits for all k acknowledgements).
      subscriberProcesses[String(k)] = await latencyProcesses(k, 200, 15000 * Math.max(1, k / 2)).catch((e: Error) => ({ error: e.message }));
    }
  }
  const pool = json(await run(process.execPath, [self, 'pool', ...(quick ? ['--quick'] : [])],
    { ...process.env, UV_THREADPOOL_SIZE: '64' }));
  const memory = json(await run(process.execPath, ['--expose-gc', self, 'memory', String(quick ? 10000 : 100000)]));
  console.log(JSON.stringify({
    kernel: spawnSync('uname', ['-r'], { encoding: 'utf8' }).stdout.trim(),
    quick,
    seconds: (Date.now() - started) / 1000,
    syscalls,
    transactionNs,
    calibration,
    contended4,
    commitToSubscriber,
    subscriberProcesses,
    pool,
    memory,
  }));
}

/**
 * The host stand-ins (run by bench/run.mjs on the host with KSHM_LIBRARY at
 * the stand-in build and KSHM_BENCH_DEVICE=standin:1:NAME): P4 contention on
 * the stand-in's FIFO futex queue and P3 commit -> subscriber over its
 * wake-ups, library next to C on libkshm, at host speed.
 */
async function standinHost(): Promise<void> {
  const seconds = quick ? 1 : 2;
  const samples = quick ? 300 : 2000;
  const gapUs = 2000;
  console.log(JSON.stringify({
    contended4: { lib: await contended('lib', seconds), c: await contended('c', seconds), cCard: await contended('c-card', seconds) },
    commitToSubscriber: {
      lib: await latency('lib', samples, gapUs), c: await latency('c', samples, gapUs),
      libStages: await latency('lib-stages', samples, gapUs),
      nodeFloor: await latency('floor', samples, gapUs),
      libRange: await latency('range', samples, gapUs),
      cWhole: await latency('c-whole', samples, gapUs),
    },
  }));
}

if (role === 'txn') await roleTxn(Number(process.argv[3]), process.argv[4] !== 'ioctl');
else if (role === 'contend') await roleContend(Number(process.argv[3]));
else if (role === 'latency') await roleLatency(Number(process.argv[3]), Number(process.argv[4]), false, process.argv[5]);
else if (role === 'latency-range') await roleLatency(Number(process.argv[3]), Number(process.argv[4]), false, process.argv[5], true);
else if (role === 'latency-stages') await roleLatency(Number(process.argv[3]), Number(process.argv[4]), true, process.argv[5]);
else if (role === 'floor-latency') await roleFloorLatency(Number(process.argv[3]), Number(process.argv[4]), process.argv[5]);
else if (role === 'pool') await rolePool();
else if (role === 'memory') await roleMemory(Number(process.argv[3]));
else if (role === 'standin-host') await standinHost();
// Commit -> subscriber with K subscriber processes alone (guest): K [samples].
else if (role === 'subscribers') {
  console.log(JSON.stringify(await latencyProcesses(Number(process.argv[3] ?? 8), Number(process.argv[4] ?? 200), 15000)));
}
// P4 alone on the host stand-in, to iterate on the contended path: [seconds].
// In a guest (the driver), the C ioctl loop too: `npm run vm -- ... node dist/bench/guest.js standin-contend 3`.
else if (role === 'standin-contend') {
  const seconds = Number(process.argv[3] ?? 2);
  console.log(JSON.stringify({
    lib: await contended('lib', seconds), c: await contended('c', seconds), cCard: await contended('c-card', seconds),
    ...(onStandin ? {} : { cIoctl: await contended('c-ioctl', seconds) }),
  }));
}
// P3 alone on the host stand-in, to iterate on the waking path: [samples].
else if (role === 'standin-latency') {
  const samples = Number(process.argv[3] ?? 2000);
  console.log(JSON.stringify({
    lib: await latency('lib', samples, 2000), c: await latency('c', samples, 2000), nodeFloor: await latency('floor', samples, 2000),
    libRange: await latency('range', samples, 2000), cWhole: await latency('c-whole', samples, 2000),
  }));
}
else await orchestrate();
