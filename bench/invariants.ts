// SPDX-License-Identifier: MIT
/**
 * The invariants `npm run bench -- --quick` asserts (CI runs it): the ones
 * that do not depend on speed. Each guest boot's JSON (bench/guest.ts) goes
 * through {@link checkGuest}; a missing or malformed figure is a failure too,
 * never a pass (a broken measurement must not read as a good one).
 * @module
 */
import { SLAB_BYTES } from '../lib/native/native-backend.js';

export interface Violation {
  /** Which invariant. */
  invariant: string;
  /** What was found. */
  detail: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const at = (o: unknown, path: string): unknown =>
  path.split('.').reduce<unknown>((v, k) => (isObj(v) ? v[k] : undefined), o);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * What a JS runtime calls for itself (GC, JIT, its helper threads): counted
 * and reported, but not the transaction's. They come a few per 100
 * operations (a GC, a code page), never one per operation: at most
 * {@link RUNTIME_MAX_PER_OP}.
 */
export const RUNTIME_SYSCALLS = ['mmap', 'munmap', 'mprotect', 'madvise', 'brk', 'futex'];
export const RUNTIME_MAX_PER_OP = 0.25;
/** The rest (everything a transaction could call) within this of the expected count: a rare getpid, say. */
export const OTHER_SLACK_PER_OP = 0.01;
/** Heap + ArrayBuffer growth allowed between the warm point and the end. */
export const MAX_MEMORY_GROWTH = 0.1;
/**
 * One snapshot slab (lib/native/native-backend.ts SLAB_BYTES): snapshots are
 * carved from 1 MiB slabs, and the next slab is taken (and its pages
 * touched) as soon as the next snapshot would not fit, so one or two slabs
 * are live depending on where the last snapshot fell: a step of one slab
 * between two measurements is that phase, not growth (seen in --quick: +1 MiB
 * exactly, 15.9 %). The memory role commits thousands of snapshots, so a
 * leak of them still shows far beyond this.
 */
export const SNAPSHOT_SLAB_BYTES = SLAB_BYTES;

/**
 * Checks one guest boot's results; returns every violation (empty: all
 * invariants hold). `label` prefixes the details (the kernel, the boot).
 */
export function checkGuest(result: unknown, label = 'guest'): Violation[] {
  const out: Violation[] = [];
  const fail = (invariant: string, detail: string): void => { out.push({ invariant, detail: `${label}: ${detail}` }); };
  if (!isObj(result)) {
    fail('results', `no JSON result (${String(result)})`);
    return out;
  }

  // Syscalls, every one traced, the empty window subtracted.
  const sys = (key: string, what: string, expected: number, ioctls: number, exact: boolean): void => {
    const s = at(result, `syscalls.${key}`);
    const err = at(s, 'error');
    if (typeof err === 'string') {
      fail('syscalls', `${what}: the measurement failed: ${err}`);
      return;
    }
    const perOp = at(s, 'perOp');
    const ioctl = at(s, 'perOpByName.ioctl') ?? 0;
    if (!isNum(perOp) || !isNum(ioctl)) {
      fail('syscalls', `${what}: no syscall count (${JSON.stringify(s)})`);
      return;
    }
    const byName = (at(s, 'perOpByName') ?? {}) as Record<string, number>;
    const runtime = RUNTIME_SYSCALLS.reduce((sum, name) => sum + (byName[name] ?? 0), 0);
    const own = perOp - runtime;
    const ok = exact ? perOp === expected
      : Math.abs(own - expected) <= OTHER_SLACK_PER_OP && runtime <= RUNTIME_MAX_PER_OP;
    if (!ok || ioctl !== ioctls) {
      fail('syscalls', `${what}: ${perOp} syscalls (${ioctl} ioctls) per transaction, expected ${expected} (${ioctls} ioctls)`
        + `${exact ? ' exactly' : ''}: ${JSON.stringify(at(s, 'perOpByName'))}`);
    }
  };
  sys('c', 'C ioctl loop', 2, 2, true);
  sys('cFast', 'C on libkshm\'s fast path', 0, 0, true);
  sys('lib', 'library fast path', 0, 0, false);
  sys('libIoctl', 'library fastPath: false', 2, 2, false);

  checkDelivery(result, fail, ['lib', 'c', 'cCard', 'cIoctl']);
  return checkRest(result, fail, out);
}

/**
 * Every latency sample arrives: the writer commits each next sample only once
 * every reader acknowledged the previous one (bench/c/baseline.c, struct
 * pace; the acknowledgement is sent after the sample is stamped), so a slow
 * or stalled reader cannot have two commits conflate (snapshots$ emits the
 * latest state): a missing sample is a lost wake-up. The detail says which
 * acknowledgements did not come in time and how many snapshots skipped a
 * generation (a conflation, had a stall outlasted the acknowledgement timeout).
 */
export function checkLatency(commitToSubscriber: unknown, fail: (invariant: string, detail: string) => void): void {
  // The host's other readers (stage-stamped, Node floor, ranged, C whole-region copy) are paced and counted the same way.
  const more = ['libStages', 'nodeFloor', 'libRange', 'cWhole'].filter((k) => at(commitToSubscriber, k) !== undefined);
  for (const side of ['lib', 'c', ...more]) {
    const l = at(commitToSubscriber, side);
    const n = at(l, 'n');
    const expected = at(l, 'expected');
    if (!isNum(n) || !isNum(expected) || expected <= 0) fail('latency', `${side}: no sample count (${JSON.stringify(l)})`);
    else if (n !== expected) {
      const jumps = at(l, 'generationJumps');
      const missing = at(l, 'writer.missingAcks');
      const dropped = at(l, 'dropped');
      fail('latency', `${side}: ${n} of ${expected} commits reached the subscriber (the writer missed `
        + `${isNum(missing) ? missing : '?'} acknowledgement(s) within ${String(at(l, 'writer.ackTimeoutMs') ?? '?')} ms; `
        + `${isNum(jumps) ? jumps : '?'} snapshot(s) skipped a generation: ${jumps === 0 ? 'lost wake-ups' : 'conflated'}`
        + `${isNum(dropped) && dropped > 0 ? `; ${dropped} dropped on purpose (KSHM_BENCH_DROP_EVERY)` : ''})`);
    }
  }
}

/** Every latency sample arrives (see {@link checkLatency}) and every contender progresses. */
function checkDelivery(result: Obj, fail: (invariant: string, detail: string) => void, contenders: string[]): void {
  checkLatency(at(result, 'commitToSubscriber'), fail);
  // k subscriber processes (a full guest run): the writer waited for all k acknowledgements.
  for (const [k, x] of Object.entries(at(result, 'subscriberProcesses') ?? {})) {
    const got = at(x, 'receivedMin');
    const expected = at(x, 'expected');
    if (!isNum(got) || !isNum(expected) || expected <= 0) fail('latency', `${k} subscriber processes: no sample count (${JSON.stringify(x)})`);
    else if (got !== expected) {
      fail('latency', `${k} subscriber processes: ${got} of ${expected} commits reached the worst reader (the writer missed `
        + `${String(at(x, 'writer.missingAcks') ?? '?')} acknowledgement(s); ${String(at(x, 'generationJumps') ?? '?')} snapshot(s) skipped a generation)`);
    }
  }

  // Every contender made progress.
  for (const side of contenders) {
    const counts = at(result, `contended4.${side}.counts`);
    if (!Array.isArray(counts) || counts.length === 0 || !counts.every(isNum)) {
      fail('progress', `${side}: no contender counts (${JSON.stringify(counts)})`);
    } else if (counts.some((c) => (c as number) <= 0)) {
      fail('progress', `${side}: a contender made no progress (${counts.join(', ')})`);
    }
    // The waits that queued (the driver's locks_contended delta): the
    // per-contended-transaction figures divide by it. Missing, negative or more
    // than one per lock taken (the transactions, each contender's last lock that
    // sees the stop, the orchestrator's stop, a few EINTR retries) is a broken
    // count, never a figure.
    const waits = at(result, `contended4.${side}.contendedWaits`);
    const txns = at(result, `contended4.${side}.transactions`);
    const locks = isNum(txns) && Array.isArray(counts) ? txns + counts.length + 1 + 4 : NaN;
    if (!isNum(waits) || !isNum(txns)) fail('contended', `${side}: no count of queued waits (${JSON.stringify(waits)})`);
    else if (waits < 0 || !(waits <= locks)) fail('contended', `${side}: ${waits} queued waits for ${txns} transactions`);
  }
}

function checkRest(result: Obj, fail: (invariant: string, detail: string) => void, out: Violation[]): Violation[] {

  // Pool threads: at most one blocked per open device, and file I/O completes meanwhile.
  const perDevice = at(result, 'pool.blockedPerDevice');
  const poolSize = at(result, 'pool.threadPoolSize');
  if (!isNum(perDevice) || !isNum(poolSize)) fail('pool', `no pool figures (${JSON.stringify(at(result, 'pool'))})`);
  else {
    if (poolSize < 64) fail('pool', `counted with UV_THREADPOOL_SIZE=${poolSize}, not 64: the pool could cap the count`);
    if (perDevice > 1) fail('pool', `${perDevice} pool threads blocked per open device (at most 1)`);
    if (perDevice <= 0) fail('pool', 'no pool thread blocked: the contended wait was not measured');
  }
  if (at(result, 'pool.fileIoCompleted') !== true) fail('pool', 'file I/O did not complete while the waits were blocked');

  // Memory: heap + ArrayBuffers flat over the transactions.
  const before = at(result, 'memory.before');
  const after = at(result, 'memory.after');
  const heapB = at(before, 'heapUsed');
  const abB = at(before, 'arrayBuffers');
  const heapA = at(after, 'heapUsed');
  const abA = at(after, 'arrayBuffers');
  if (!isNum(heapB) || !isNum(abB) || !isNum(heapA) || !isNum(abA) || heapB + abB <= 0) {
    fail('memory', `no memory figures (${JSON.stringify(at(result, 'memory'))})`);
  } else {
    const growth = (heapA + abA - SNAPSHOT_SLAB_BYTES) / (heapB + abB) - 1;
    if (growth >= MAX_MEMORY_GROWTH) {
      fail('memory', `heap + ArrayBuffers grew ${(growth * 100).toFixed(1)} % beyond one snapshot slab `
        + `(limit ${MAX_MEMORY_GROWTH * 100} %)`);
    }
  }
  return out;
}

/**
 * Checks a host run's stand-in figures (P3, P4 at host speed): every sample
 * arrives (its commit gaps are short, 2 ms, but the writer is paced by the
 * reader's acknowledgements as in the guest) and every contender progresses.
 */
export function checkHost(run: unknown, label = 'host'): Violation[] {
  const out: Violation[] = [];
  const fail = (invariant: string, detail: string): void => { out.push({ invariant, detail: `${label}: ${detail}` }); };
  const standin = at(run, 'standin');
  if (!isObj(standin)) fail('results', `no stand-in result (${JSON.stringify(standin)})`);
  else checkDelivery(standin, fail, ['lib', 'c', 'cCard']);
  return out;
}

/**
 * Checks every boot of a run (`guest` maps a kernel series to its boots'
 * results) and every host run.
 */
export function checkRun(guest: Record<string, unknown[]>, host: unknown[] = []): Violation[] {
  const series = Object.entries(guest);
  const hostViolations = host.flatMap((r, i) => checkHost(r, `host run ${i + 1}`));
  if (series.length === 0) return [{ invariant: 'results', detail: 'no guest ran' }, ...hostViolations];
  return [...series.flatMap(([s, boots]) => (boots.length === 0
    ? [{ invariant: 'results', detail: `${s}: no boot` }]
    : boots.flatMap((b, i) => checkGuest(b, `${s} boot ${i + 1}`)))), ...hostViolations];
}
