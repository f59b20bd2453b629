#!/usr/bin/env node
// The events bench (EVENTS: the ring), self-contained: records/s and
// wake-ups per record, the library (device.events$(), a node process) next
// to a C reader of the same ring (libkshm's kshm_events_next), in the same
// boot. The producer is spec/kmod/kshm_events_test.ko: an hrtimer in
// hardirq context at a fixed rate, and a burst on CPU 1 as fast as the
// kernel can emit.
//
//   node bench/events.mjs [--kernel 6.12] [--quick]    (on the host: boots one guest)
//
// Prints a table and writes build/bench/events.json. Needs npm run build
// and npm run driver:build first.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const arg = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : dflt;
};
const cReader = join(root, 'build/bench/events_reader');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- roles in the guest --------------------------------------------------

/** The library's reader: device.events$() for `seconds`, then one JSON line. */
async function roleNode(seconds) {
  const { openDevice } = await import(join(root, 'dist/lib/index.js'));
  const d = await openDevice('/dev/kshm', { readOnly: true });
  let received = 0;
  let lost = 0;
  let badSeq = 0;
  let next;
  const sub = d.events$().subscribe((e) => {
    if (next !== undefined && e.seq !== next + BigInt(e.lostBefore)) badSeq++;
    next = e.seq + 1n;
    lost += e.lostBefore;
    received++;
  });
  const cpu0 = process.cpuUsage();
  console.log('ready');
  await sleep(seconds * 1000);
  sub.unsubscribe();
  const cpu = process.cpuUsage(cpu0);
  console.log(JSON.stringify({ received, lost, badSeq, cpuMs: (cpu.user + cpu.system) / 1000 }));
  d.close();
}

const PARAMS = '/sys/module/kshm_events_test/parameters';
const stat = (name) => Number(readFileSync(`/sys/class/misc/kshm/stats/${name}`, 'utf8'));
const setParam = (name, v) => writeFileSync(`${PARAMS}/${name}`, String(v));

function startReader(cmd, cmdArgs) {
  const c = spawn(cmd, cmdArgs, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let onReady = () => {};
  const ready = new Promise((r) => { onReady = r; });
  c.stdout.on('data', (d) => {
    out += d;
    if (out.includes('ready')) onReady();
  });
  const done = new Promise((resolve) => c.on('close', () => {
    onReady();
    const line = out.trim().split('\n').filter((l) => l.startsWith('{')).at(-1);
    resolve(JSON.parse(line ?? '{}'));
  }));
  return { ready, done };
}

const readers = {
  library: (s) => startReader(process.execPath, [fileURLToPath(import.meta.url), '--role-node', String(s)]),
  c: (s) => startReader(cReader, [String(s)]),
};

/** One reader, one producer run: what it read, lost, its CPU, the kernel's wake-ups. */
async function measure(which, seconds, produce) {
  const r = readers[which](seconds);
  await r.ready;
  await sleep(300); // the reader is subscribed and asleep
  const e0 = stat('events');
  const w0 = stat('event_wakeups');
  const t0 = process.hrtime.bigint();
  await produce();
  const produceS = Number(process.hrtime.bigint() - t0) / 1e9;
  const emitted = stat('events') - e0;
  const res = await r.done;
  const wakeups = stat('event_wakeups') - w0;
  return {
    reader: which, emitted, received: res.received, lost: res.lost, badSeq: res.badSeq,
    emitRate: Math.round(emitted / produceS),
    readRate: Math.round(res.received / Math.max(produceS, 0.001)),
    wakeupsPerRecord: Number((wakeups / Math.max(1, res.received)).toFixed(4)),
    recordsPerWakeup: Number((res.received / Math.max(1, wakeups)).toFixed(1)),
    cpuUsPerRecord: Number(((res.cpuMs * 1000) / Math.max(1, res.received)).toFixed(2)),
  };
}

async function guest() {
  const series = process.env.KSHM_KERNEL ?? '6.12';
  const ko = join(root, `build/kmod/${series}/kshm_events_test.ko`);
  const bb = existsSync('/kshm/busybox') ? ['/kshm/busybox'] : [];
  const sh = (...c) => {
    const r = spawnSync(bb[0] ?? c[0], bb.length ? c : c.slice(1), { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${c.join(' ')}: ${r.stderr}`);
  };
  sh('insmod', ko, 'rate_hz=0');
  const rateS = quick ? 2 : 5;
  const burst = quick ? 50000 : 200000;
  const results = [];
  try {
    for (const hz of [1000, 10000, 50000]) {
      for (const which of ['c', 'library']) {
        results.push({
          scenario: `hrtimer ${hz} Hz`,
          ...(await measure(which, rateS + 2, async () => {
            setParam('rate_hz', hz);
            await sleep(rateS * 1000);
            setParam('rate_hz', 0);
          })),
        });
      }
    }
    for (const which of ['c', 'library']) {
      results.push({
        scenario: `burst of ${burst} on CPU 1 (the kernel's emit rate)`,
        ...(await measure(which, quick ? 6 : 12, async () => { setParam('burst', burst); })),
      });
    }
  } finally {
    sh('rmmod', 'kshm_events_test');
  }
  console.log(`EVENTS-BENCH ${JSON.stringify(results)}`);
}

// ---- on the host ---------------------------------------------------------

function host() {
  const kernel = arg('--kernel', '6.12');
  mkdirSync(join(root, 'build/bench'), { recursive: true });
  const cc = spawnSync('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-I', join(root, 'native-shim'), '-o', cReader,
    join(root, 'bench/c/events_reader.c'), '-L', join(root, 'native-shim'), '-lkshm',
    `-Wl,-rpath,${join(root, 'native-shim')}`], { stdio: 'inherit' });
  if (cc.status !== 0) process.exit(1);
  const vm = spawnSync(process.execPath, [join(root, 'harness/vm.mjs'), '--kernel', kernel, '--smp', '2', '--no-build',
    '--timeout', '600', '--param', 'ring=4096', process.execPath, fileURLToPath(import.meta.url), '--guest',
    ...(quick ? ['--quick'] : [])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const line = vm.stdout.split('\n').find((l) => l.startsWith('EVENTS-BENCH '));
  if (vm.status !== 0 || !line) {
    process.stdout.write(vm.stdout);
    console.error('events bench: the guest run failed');
    process.exit(1);
  }
  const results = JSON.parse(line.slice('EVENTS-BENCH '.length));
  writeFileSync(join(root, 'build/bench/events.json'), `${JSON.stringify({ kernel, quick, results }, null, 2)}\n`);
  console.log(`events bench, ${kernel} guest (TCG, --smp 2), ring 4096, one reader at a time, same boot\n`);
  console.log('| scenario | reader | emitted | records/s emitted | received | records/s read | lost | wake-ups/record | records/wake-up | reader CPU µs/record |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of results) {
    console.log(`| ${r.scenario} | ${r.reader === 'c' ? 'C (libkshm)' : 'library'} | ${r.emitted} | ${r.emitRate} | ${r.received} | ${r.readRate} | ${r.lost} | `
      + `${r.wakeupsPerRecord} | ${r.recordsPerWakeup} | ${r.cpuUsPerRecord} |`);
  }
  if (results.some((r) => r.badSeq)) {
    console.error('a reader saw a seq that its lostBefore does not explain');
    process.exit(1);
  }
}

if (args[0] === '--role-node') await roleNode(Number(args[1]));
else if (args.includes('--guest')) await guest();
else host();
