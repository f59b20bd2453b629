// bench/invariants.ts and bench/syscalls.ts: what `npm run bench -- --quick`
// asserts. A good guest result passes; breaking any one invariant, or
// breaking the measurement itself (no strace, no JSON, a missing figure),
// fails it.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { checkGuest, checkHost, checkLatency, checkRun, SNAPSHOT_SLAB_BYTES, type Violation } from '../../bench/invariants.js';
import { countWindow, perOp, traceSyscalls } from '../../bench/syscalls.js';

const test = suite('bench invariants');

const count = (perOpTotal: number, byName: Record<string, number>) => ({
  perOp: perOpTotal, perOpByName: byName, ops: 2000,
  empty: { byName: {}, total: 0, otherThreads: 0 }, loop: { byName: {}, total: perOpTotal * 2000, otherThreads: 0 },
});

/** A guest result as bench/guest.ts prints it, with every invariant holding (runtime noise included). */
function good(): Record<string, any> {
  return {
    kernel: '6.1.0-test',
    syscalls: {
      c: count(2, { ioctl: 2 }),
      cFast: count(0, {}),
      lib: count(0.0505, { futex: 0.011, madvise: 0.0115, brk: 0.001, mprotect: 0.0105, mmap: 0.008, munmap: 0.008, getpid: 0.0005 }),
      libIoctl: count(2.011, { ioctl: 2, futex: 0.0055, mprotect: 0.0025, madvise: 0.003 }),
    },
    commitToSubscriber: { lib: { expected: 100, n: 100, p50Us: 1400 }, c: { expected: 100, n: 100, p50Us: 220 } },
    contended4: {
      lib: { counts: [204, 299, 222, 247], transactions: 972, contendedWaits: 800 },
      c: { counts: [27476, 10074, 29881, 27100], transactions: 94531, contendedWaits: 84000 },
      cCard: { counts: [9021, 8870, 9305, 9114], transactions: 36310, contendedWaits: 2100 },
      cIoctl: { counts: [3620, 3617, 3972, 3806], transactions: 15015, contendedWaits: 15016 },
    },
    pool: { threadPoolSize: 64, devices: 3, blocked: 3, blockedPerDevice: 1, fileIoCompleted: true },
    memory: {
      before: { rss: 60e6, heapUsed: 5e6, arrayBuffers: 1e6 },
      after: { rss: 61e6, heapUsed: 5.2e6, arrayBuffers: 1.1e6 },
    },
  };
}

const only = (v: Violation[], invariant: string): void => {
  assert.ok(v.length > 0, `expected a ${invariant} violation, got none`);
  for (const x of v) assert.is(x.invariant, invariant, JSON.stringify(v));
};

test('a result where every invariant holds passes', () => {
  assert.equal(checkGuest(good()), []);
  assert.equal(checkRun({ '6.1': [good(), good()] }), []);
});

test('syscalls: C making 3 per ioctl transaction fails', () => {
  const r = good();
  r['syscalls'].c = count(3, { ioctl: 3 });
  only(checkGuest(r), 'syscalls');
});

test('syscalls: C\'s fast path making one syscall fails (C is counted exactly)', () => {
  const r = good();
  r['syscalls'].cFast = count(1, { futex: 1 });
  only(checkGuest(r), 'syscalls');
});

test('syscalls: the library\'s fast path making one ioctl per transaction fails', () => {
  const r = good();
  r['syscalls'].lib = count(1.0505, { ioctl: 1, futex: 0.05 });
  only(checkGuest(r), 'syscalls');
});

test('syscalls: a non-runtime syscall per transaction (a poll, a getpid) on the fast path fails', () => {
  const r = good();
  r['syscalls'].lib = count(1, { getpid: 1 });
  only(checkGuest(r), 'syscalls');
});

test('syscalls: runtime housekeeping once per transaction is not housekeeping: fails', () => {
  const r = good();
  r['syscalls'].lib = count(1, { futex: 1 });
  only(checkGuest(r), 'syscalls');
});

test('syscalls: fastPath: false making 3 ioctls fails', () => {
  const r = good();
  r['syscalls'].libIoctl = count(3, { ioctl: 3 });
  only(checkGuest(r), 'syscalls');
});

test('syscalls: a failed trace (strace missing) fails, it never reads as 0', () => {
  const r = good();
  r['syscalls'].lib = { error: 'strace library fast path: strace could not run: spawnSync strace ENOENT' };
  only(checkGuest(r), 'syscalls');
  const r2 = good();
  delete r2['syscalls'].cFast;
  only(checkGuest(r2), 'syscalls');
});

test('latency: a sample that did not arrive fails, on either side', () => {
  const r = good();
  r['commitToSubscriber'].lib.n = 99;
  only(checkGuest(r), 'latency');
  const r2 = good();
  r2['commitToSubscriber'].c = {};
  only(checkGuest(r2), 'latency');
});

test('latency: the detail tells a lost wake-up (no generation skipped) from a conflation', () => {
  const lost = good();
  lost['commitToSubscriber'].c = { expected: 100, n: 99, generationJumps: 0, writer: { missingAcks: 1, ackTimeoutMs: 3000 } };
  const v = checkGuest(lost);
  only(v, 'latency');
  assert.match(v[0]?.detail ?? '', /c: 99 of 100 .*missed 1 acknowledgement.*3000 ms; 0 snapshot\(s\) skipped a generation: lost wake-ups/);
  const conflated = good();
  conflated['commitToSubscriber'].lib = { expected: 100, n: 99, generationJumps: 1, writer: { missingAcks: 1, ackTimeoutMs: 3000 } };
  assert.match(checkGuest(conflated)[0]?.detail ?? '', /lib: 99 of 100 .*1 snapshot\(s\) skipped a generation: conflated/);
});

test('latency: k subscriber processes, a reader short of a sample fails; a failed measurement fails', () => {
  const r = good();
  r['subscriberProcesses'] = { 1: { receivedMin: 200, expected: 200 }, 8: { receivedMin: 200, expected: 200 } };
  assert.equal(checkGuest(r), []);
  r['subscriberProcesses'][8].receivedMin = 199;
  only(checkGuest(r), 'latency');
  const r2 = good();
  r2['subscriberProcesses'] = { 4: { error: 'spawn failed' } };
  only(checkGuest(r2), 'latency');
});

test('progress: a contender that made no progress fails', () => {
  for (const side of ['lib', 'c', 'cCard', 'cIoctl']) {
    const r = good();
    r['contended4'][side].counts = [10, 0, 12, 11];
    only(checkGuest(r), 'progress');
  }
  const r = good();
  r['contended4'].lib = { ...r['contended4'].lib, counts: [] };
  only(checkGuest(r), 'progress');
});

test('contended: a missing, negative or impossible count of queued waits fails, on either side', () => {
  for (const side of ['lib', 'c', 'cCard', 'cIoctl']) {
    let r = good();
    delete r['contended4'][side].contendedWaits;
    only(checkGuest(r), 'contended');
    r = good();
    r['contended4'][side].contendedWaits = -1;
    only(checkGuest(r), 'contended');
    r = good();
    // Each contender's last lock (it sees the stop) and the orchestrator's stop may queue too.
    r['contended4'][side].contendedWaits = r['contended4'][side].transactions + 5;
    assert.equal(checkGuest(r), []);
    r['contended4'][side].contendedWaits = r['contended4'][side].transactions + 10;
    only(checkGuest(r), 'contended');
  }
});

test('pool: two threads per device, none, a small pool or file I/O stuck fails', () => {
  const cases: Array<Record<string, unknown>> = [
    { blockedPerDevice: 2 }, { blockedPerDevice: 0 }, { threadPoolSize: 4 }, { fileIoCompleted: false }, { blockedPerDevice: undefined },
  ];
  for (const c of cases) {
    const r = good();
    Object.assign(r['pool'], c);
    only(checkGuest(r), 'pool');
  }
});

test('memory: heap + ArrayBuffers growing 10 % or more beyond one snapshot slab fails (ArrayBuffers alone count)', () => {
  const r = good();
  r['memory'].after.arrayBuffers = 1.7e6 + SNAPSHOT_SLAB_BYTES; // (5e6 + 1.7e6) / 6e6 = 1.117 beyond the slab
  only(checkGuest(r), 'memory');
  // One more slab live at the end (where the last snapshot fell) is not growth.
  const phase = good();
  phase['memory'].after.arrayBuffers = 1.1e6 + SNAPSHOT_SLAB_BYTES;
  assert.equal(checkGuest(phase), []);
  const r2 = good();
  r2['memory'] = {};
  only(checkGuest(r2), 'memory');
});

test('results: no JSON, no boot or no guest at all fails', () => {
  only(checkGuest(undefined), 'results');
  only(checkGuest(null), 'results');
  only(checkRun({}), 'results');
  only(checkRun({ '6.1': [] }), 'results');
  assert.ok(checkRun({ '6.1': [good(), null] }).some((v) => v.invariant === 'results'));
});

test('host stand-in: a stalled contender fails, a missing stand-in result fails, a missing sample fails (paced as in the guest)', () => {
  const host = (): Record<string, any> => ({
    standin: {
      contended4: {
        lib: { counts: [3938, 7733, 4301, 6671], transactions: 22643, contendedWaits: 900 },
        c: { counts: [321190, 354589, 319343, 312155], transactions: 1307277, contendedWaits: 50000 },
        cCard: { counts: [465402, 470113, 461989, 468530], transactions: 1866034, contendedWaits: 420 },
      },
      commitToSubscriber: { lib: { expected: 300, n: 300 }, c: { expected: 300, n: 300 } },
    },
  });
  assert.equal(checkHost(host()), []);
  assert.equal(checkRun({ '6.1': [good()] }, [host(), host()]), []);
  const lost = host();
  lost['standin'].commitToSubscriber.lib.n = 299;
  only(checkHost(lost), 'latency');
  const stages = host();
  stages['standin'].commitToSubscriber.libStages = { expected: 300, n: 300 };
  assert.equal(checkHost(stages), []);
  stages['standin'].commitToSubscriber.libStages.n = 298;
  only(checkHost(stages), 'latency');
  const stalled = host();
  stalled['standin'].contended4.c.counts = [5, 5, 0, 5];
  only(checkHost(stalled), 'progress');
  only(checkHost({}), 'results');
  only(checkRun({ '6.1': [good()] }, [{}]), 'results');
});

// ---- the paced latency run, for real, on the host stand-in ---------------------

const root = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * bench/guest.ts standin-latency over the shared stand-in region (the C
 * baseline built here over libkshm-standin.so): the library reader and the
 * C reader (and the other readers, SIDES), each with the C writer paced by
 * its acknowledgements.
 */
function standinLatency(samples: number, env: Record<string, string>): Record<string, any> {
  const dir = mkdtempSync(join(tmpdir(), 'kshm-pace-spec-'));
  const name = `spec-${process.pid}`;
  try {
    const baseline = join(dir, 'baseline-standin');
    const cc = spawnSync('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-pthread', '-o', baseline, join(root, 'bench/c/baseline.c'),
      `-L${join(root, 'native-shim')}`, '-l:libkshm-standin.so', `-Wl,-rpath,${join(root, 'native-shim')}`], { encoding: 'utf8' });
    assert.is(cc.status, 0, cc.stderr);
    const r = spawnSync('timeout', ['120', process.execPath, join(root, 'dist/bench/guest.js'), 'standin-latency', String(samples)], {
      cwd: root, encoding: 'utf8', env: {
        ...process.env, KSHM_LIBRARY: join(root, 'native-shim', 'libkshm-standin.so'),
        KSHM_BENCH_DEVICE: `standin:1:${name}`, KSHM_BENCH_BASELINE: baseline, ...env,
      },
    });
    assert.is(r.status, 0, `exit ${r.status}: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).at(-1) ?? '{}') as Record<string, any>;
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(`/dev/shm/kshm-standin-${name}`, { force: true });
    rmSync(`/tmp/kshm-standin-${name}.fifo`, { force: true });
  }
}

/** Every reader of the host stand-in's latency role: library, C, the Node floor, the same-bytes pairs. */
const SIDES = ['lib', 'c', 'nodeFloor', 'libRange', 'cWhole'];

const latencyViolations = (c2s: unknown): Violation[] => {
  const out: Violation[] = [];
  checkLatency(c2s, (invariant, detail) => out.push({ invariant, detail }));
  return out;
};

test('paced latency run: every sample arrives, acknowledged, no generation skipped (every reader)', () => {
  const r = standinLatency(40, {});
  assert.equal(Object.keys(r).sort(), [...SIDES].sort());
  for (const side of SIDES) {
    assert.is(r[side].n, 40, JSON.stringify(r[side]));
    assert.is(r[side].generationJumps, 0, JSON.stringify(r[side]));
    assert.is(r[side].writer.missingAcks, 0, JSON.stringify(r[side]));
  }
  assert.equal(latencyViolations(r), []);
});

test('paced latency run: a reader stalling 20 ms (10 commit gaps) on every 5th sample still gets every sample; unpaced, the stalls conflate commits (every reader)', () => {
  const paced = standinLatency(40, { KSHM_BENCH_STALL_EVERY: '5' });
  for (const side of SIDES) {
    assert.is(paced[side].n, 40, JSON.stringify(paced[side]));
    assert.is(paced[side].generationJumps, 0, JSON.stringify(paced[side]));
  }
  assert.equal(latencyViolations(paced), []);
  // The writer keeping only its 2 ms gaps (as before the pacing): the invariant fails, and says why.
  const unpaced = standinLatency(40, { KSHM_BENCH_STALL_EVERY: '5', KSHM_BENCH_ACK_TIMEOUT_MS: '0' });
  for (const side of SIDES) {
    assert.ok(unpaced[side].n < 40, JSON.stringify(unpaced[side]));
    assert.ok(unpaced[side].generationJumps > 0, JSON.stringify(unpaced[side]));
  }
  const v = latencyViolations(unpaced);
  only(v, 'latency');
  for (const x of v) assert.match(x.detail, /skipped a generation: conflated/);
});

test('paced latency run: a reader losing every 10th wake-up fails the invariant, as lost wake-ups (every reader: library, C, the Node floor, the same-bytes pairs)', () => {
  const r = standinLatency(20, { KSHM_BENCH_DROP_EVERY: '10', KSHM_BENCH_ACK_TIMEOUT_MS: '500' });
  for (const side of SIDES) {
    assert.is(r[side].dropped, 2, JSON.stringify(r[side]));
    assert.is(r[side].n, 18, JSON.stringify(r[side]));
    // The writer waited for the missing acknowledgements, then went on.
    assert.is(r[side].writer.missingAcks, 2, JSON.stringify(r[side]));
  }
  const v = latencyViolations(r);
  only(v, 'latency');
  assert.is(v.length, SIDES.length, JSON.stringify(v));
  for (const x of v) assert.match(x.detail, /18 of 20 commits .*missed 2 acknowledgement.* lost wake-ups; 2 dropped on purpose/);
});

// ---- the syscall count -------------------------------------------------------

const trace = [
  '100 execve("x", ["x"], 0x0 /* 1 var */) = 0',
  '100 ioctl(3, KSHM_IOC_LOCK, 0x7ffd) = 0',
  '100 write(4, "KSHM-MARK-empty-BEGIN", 21) = 21',
  '100 write(4, "KSHM-MARK-empty-END", 19) = 19',
  '100 write(4, "KSHM-MARK-loop-BEGIN", 20) = 20',
  '100 ioctl(3, _IOC(0, 0, 0, 0), 0x7ffd) = 0',
  '101 futex(0x7f, FUTEX_WAIT_PRIVATE, 0, NULL <unfinished ...>',
  '100 ioctl(3, _IOC(0, 0, 0, 0), 0x7ffd) = 0',
  '101 <... futex resumed>) = 0',
  '100 ioctl(3, _IOC(0, 0, 0, 0), 0x7ffd <unfinished ...>',
  '101 madvise(0x7f, 4096, MADV_DONTNEED) = 0',
  '100 <... ioctl resumed>) = 0',
  '100 ioctl(3, _IOC(0, 0, 0, 0), 0x7ffd) = 0',
  '--- SIGCHLD {si_signo=SIGCHLD} ---',
  '100 write(4, "KSHM-MARK-loop-END", 18) = 18',
  '100 exit_group(0) = ?',
].join('\n');

test('syscalls.ts: counts the marking thread inside the window, a split call once, other threads apart', () => {
  const loop = countWindow(trace, 'loop');
  assert.equal(loop, { byName: { ioctl: 4 }, total: 4, otherThreads: 2 });
  assert.equal(countWindow(trace, 'empty'), { byName: {}, total: 0, otherThreads: 0 });
  const c = perOp(trace, 2);
  assert.is(c?.perOp, 2);
  assert.equal(c?.perOpByName, { ioctl: 2 });
});

test('syscalls.ts: a trace without its markers gives no count', () => {
  assert.is(countWindow(trace.replace('KSHM-MARK-loop-END', 'something'), 'loop'), undefined);
  assert.is(perOp(trace.replace('KSHM-MARK-empty-BEGIN', 'x'), 2), undefined);
  assert.is(perOp(trace, 0), undefined);
});

test('syscalls.ts: strace missing throws (a broken measurement is never a figure)', () => {
  assert.throws(() => traceSyscalls(['true'], 1, '/nonexistent/strace'), /could not run/);
});

test('syscalls.ts: a real trace of every syscall counts a loop of 50 writes as 1 write per op', () => {
  const script = `const fs = require('node:fs'); const fd = fs.openSync('/dev/null', 'w');
    const m = (w, e) => fs.writeSync(fd, 'KSHM-MARK-' + w + '-' + e);
    m('empty', 'BEGIN'); m('empty', 'END'); m('loop', 'BEGIN');
    for (let i = 0; i < 50; i++) fs.writeSync(fd, 'x');
    m('loop', 'END');`;
  assert.is(spawnSync('strace', ['-V']).status, 0, 'strace is one of the host tools (harness/tools.mjs)');
  const c = traceSyscalls([process.execPath, '-e', script], 50);
  assert.is(c.perOpByName['write'], 1);
  assert.ok(Math.abs(c.perOp - 1) < 0.2, JSON.stringify(c.perOpByName));
  assert.throws(() => traceSyscalls([process.execPath, '-e', '0'], 1), /no KSHM-MARK windows/);
});

test.run();
