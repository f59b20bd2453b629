// Guest benchmarks, against the real driver, library next to the C baseline
// in the same boot (like against like: syscalls per job, contended
// throughput and fairness, commit -> subscriber latency, pool threads).
// Run inside a guest by bench/run.mjs; prints one JSON object.
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { filter, lastValueFrom, range, take } from 'rxjs';
import { openDevice, transact, type Device } from '../lib/index.js';

const quick = process.argv.includes('--quick');
const root = fileURLToPath(new URL('../../', import.meta.url));
const baseline = `${root}build/bench/baseline`;
const self = fileURLToPath(import.meta.url);
const role = process.argv[2];

function json(out: string): Record<string, number> {
  const line = out.trim().split('\n').filter((l) => l.startsWith('{')).at(-1);
  return JSON.parse(line ?? '{}') as Record<string, number>;
}

/** ioctl/read/poll syscalls made by a command, counted by strace -c. */
function syscalls(cmd: string[]): Record<string, number> {
  const r = spawnSync('strace', ['-f', '-c', '-U', 'name,calls', '-e', 'trace=ioctl,read,poll,ppoll,epoll_wait,epoll_pwait', ...cmd],
    { encoding: 'utf8' });
  const counts: Record<string, number> = {};
  for (const line of r.stderr.split('\n')) {
    const m = /^\s*(\w+)\s+(\d+)\s*$/.exec(line);
    if (m && m[1] !== 'total') counts[m[1] as string] = Number(m[2]);
  }
  return counts;
}

const run = (cmd: string, args: string[]): Promise<string> => new Promise((resolve) => {
  const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  c.stdout.on('data', (d) => { out += d; });
  c.on('close', () => resolve(out));
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

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

// ---- roles run as child processes ---------------------------------------

async function roleTxn(n: number, fastPath: boolean): Promise<void> {
  const d = await openDevice('/dev/kshm', { fastPath });
  const src = new Uint8Array(64).fill(3);
  const t0 = process.hrtime.bigint();
  await lastValueFrom(range(0, n).pipe(transact(d, (page, i) => {
    src[0] = i & 0xff;
    page.set(0, src);
  })), { defaultValue: undefined });
  console.log(JSON.stringify({ nsPerOp: Number(process.hrtime.bigint() - t0) / n }));
  d.close();
}

async function roleSnapshots(n: number): Promise<void> {
  const d = await openDevice('/dev/kshm', { readOnly: true });
  let seen = 0;
  await lastValueFrom(d.snapshots$.pipe(filter(() => ++seen > 0), take(n)));
  console.log(JSON.stringify({ snapshots: seen }));
  d.close();
}

async function roleContend(id: number): Promise<void> {
  const d = await openDevice();
  await lastValueFrom(d.transaction((page) => page.setU8(4002, (page.u8(4002) + 1) & 0xff)));
  await lastValueFrom(d.snapshots$.pipe(filter((s) => s.u8(4000) !== 0), take(1)));
  let count = 0;
  const fill = new Uint8Array(64);
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
  console.log(JSON.stringify({ id, count }));
  d.close();
}

async function roleLatency(n: number, offset: number): Promise<void> {
  const d = await openDevice('/dev/kshm', { readOnly: true });
  const lat: number[] = [];
  const DONE = (1n << 64n) - 1n;
  setImmediate(() => console.log('ready')); // subscribed below, synchronously
  await lastValueFrom(d.snapshots$.pipe(
    filter((s) => {
      const now = process.hrtime.bigint();
      if (s.u64(offset + 8) === DONE) return true; // the writer finished
      const ts = s.u64(offset);
      if (ts > 0n && now >= ts && lat.length < n) lat.push(Number(now - ts) / 1e3);
      return false;
    }),
    take(1),
  ));
  lat.sort((a, b) => a - b);
  console.log(JSON.stringify({ n: lat.length, p50Us: lat[Math.floor(lat.length / 2)], p99Us: lat[Math.floor(lat.length * 0.99)] }));
  d.close();
}

// ---- the orchestration, in the guest -------------------------------------

async function setGo(device: Device, value: number): Promise<void> {
  await lastValueFrom(device.transaction((p) => p.setU8(4000, value)));
}

async function contended(lib: boolean, seconds: number): Promise<{ throughput: number; fairness: number }> {
  const d = await openDevice();
  await lastValueFrom(d.transaction((p) => { p.setU8(4000, 0); p.setU8(4001, 0); p.setU8(4002, 0); }));
  const procs = [0, 1, 2, 3].map((id) => (lib
    ? run(process.execPath, [self, 'contend', String(id)])
    : run(baseline, ['contend', '0', String(id)])));
  // Everybody ready (node starts slowly under TCG), then one common window.
  await lastValueFrom(d.snapshots$.pipe(filter((s) => s.u8(4002) === 4), take(1)));
  await setGo(d, 1);
  await sleep(seconds * 1000);
  await lastValueFrom(d.transaction((p) => p.setU8(4001, 1)));
  const counts = (await Promise.all(procs)).map((o) => json(o)['count'] ?? 0);
  d.close();
  const total = counts.reduce((a, b) => a + b, 0);
  return { throughput: total / seconds, fairness: Math.max(...counts) / Math.max(1, Math.min(...counts)) };
}

async function latency(lib: boolean, n: number): Promise<Record<string, number>> {
  const offset = 3800;
  const d = await openDevice();
  await lastValueFrom(d.transaction((p) => p.fill(0, offset, 16))); // no stale done marker
  d.close();
  const reader = lib ? startReader(process.execPath, [self, 'latency', String(n), String(offset)])
    : startReader(baseline, ['poll-latency', String(n), String(offset)]);
  await reader.ready;
  await run(baseline, ['writer', String(n + 5), '3000', String(offset)]);
  return json(await reader.done);
}

async function poolThreads(): Promise<number> {
  const holder = await openDevice();
  let release: (() => void) | undefined;
  holder.lock$().subscribe((l) => { release = () => l.abort(); });
  const devices = await Promise.all([openDevice(), openDevice(), openDevice()]);
  const pending = devices.flatMap((d) => Array.from({ length: 20 }, () => lastValueFrom(d.transaction(() => 1))));
  await sleep(300);
  const blocked = holder.info().waiters;
  release?.();
  await Promise.all(pending);
  for (const d of [holder, ...devices]) d.close();
  return blocked / devices.length;
}

async function orchestrate(): Promise<void> {
  const n = quick ? 200 : 3000;
  const seconds = quick ? 1 : 3;
  const perTxn = (counts: Record<string, number>, ops: number): number => (counts['ioctl'] ?? 0) / ops;
  const libTxnCalls = syscalls([process.execPath, self, 'txn', String(n), 'fast']);
  const libIoctlTxnCalls = syscalls([process.execPath, self, 'txn', String(n), 'ioctl']);
  const cTxnCalls = syscalls([baseline, 'txn', String(n)]);
  const libSnapCalls = syscalls([process.execPath, self, 'snapshots', '1']);
  const libTxn = json(await run(process.execPath, [self, 'txn', String(n), 'fast']));
  const libIoctlTxn = json(await run(process.execPath, [self, 'txn', String(n), 'ioctl']));
  const cTxn = json(await run(baseline, ['txn', String(n)]));
  const libContend = await contended(true, seconds);
  const cContend = await contended(false, seconds);
  const libLatency = await latency(true, quick ? 20 : 200);
  const cLatency = await latency(false, quick ? 20 : 200);
  console.log(JSON.stringify({
    kernel: spawnSync('uname', ['-r'], { encoding: 'utf8' }).stdout.trim(),
    syscallsPerTransaction: {
      lib: perTxn(libTxnCalls, n), libIoctl: perTxn(libIoctlTxnCalls, n), c: perTxn(cTxnCalls, n),
    },
    syscallsToSubscribeOnce: libSnapCalls,
    transactionNs: { lib: libTxn['nsPerOp'], libIoctl: libIoctlTxn['nsPerOp'], c: cTxn['nsPerOp'] },
    contended4: { lib: libContend, c: cContend },
    commitToSubscriberUs: { lib: libLatency, c: cLatency },
    poolThreadsBlockedPerDevice: await poolThreads(),
  }));
}

if (role === 'txn') await roleTxn(Number(process.argv[3]), process.argv[4] !== 'ioctl');
else if (role === 'snapshots') await roleSnapshots(Number(process.argv[3]));
else if (role === 'contend') await roleContend(Number(process.argv[3]));
else if (role === 'latency') await roleLatency(Number(process.argv[3]), Number(process.argv[4]));
else await orchestrate();
