#!/usr/bin/env node
// Renders bench/results.json into BENCHMARKS.md and bench/chart.svg. Run by
// bench/run.mjs after a run; `node bench/report.mjs [results.json]` alone
// re-renders (both files are generated: edit this file, not them).
//
// Figures are min / median / max over the host runs (or the boots of a
// kernel); a ratio is paired: library / C within the same run (the same
// boot), then min / median / max of those ratios.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const get = (o, path) => path.split('.').reduce((v, k) => v?.[k], o);
const isNum = (x) => typeof x === 'number' && Number.isFinite(x);
export function stats(xs) {
  const s = xs.filter(isNum).sort((a, b) => a - b);
  return { min: s[0], median: s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : undefined, max: s.at(-1), n: s.length };
}
const f = (x, d = 2) => (isNum(x) ? x.toFixed(d) : 'n/a');
const mmm = (st, d = 1) => (st.n ? `${f(st.min, d)} / ${f(st.median, d)} / ${f(st.max, d)}` : 'n/a');

/**
 * A latency run's sample accounting, worst of the runs (`st(path)`: stats over
 * them): received / sent; generation jumps; acknowledgements the writer missed.
 */
function samples(st, at) {
  return `${f(st(`${at}.n`).min, 0)} / ${f(st(`${at}.expected`).max, 0)}; ${f(st(`${at}.generationJumps`).max, 0)}; `
    + `${f(st(`${at}.writer.missingAcks`).max, 0)}`;
}

/** How the host stand-in's syscall weight was chosen (bench/run.mjs, native-shim/standin.h). */
function calibrationText(c) {
  if (!c) return 'none recorded (1 FIONREAD per LOCK or UNLOCK)';
  const w = `${f(c.weight, 2)} ioctl FIONREAD per LOCK or UNLOCK`;
  if (c.driverPairNs) {
    return `${w}: in a ${c.kernel} guest, the driver's LOCK+UNLOCK took ${f(c.driverPairNs, 0)} ns against `
      + `${f(c.standinPairNs, 0)} ns for a FIONREAD pair`
      + (c.deviceWorkNs === undefined ? '' : ` (${f(c.rawWeight, 2)}), less the stand-in device's own work after its syscalls `
        + `(lock word, queue, seqcount: ${f(c.deviceWorkNs, 1)} ns per LOCK+UNLOCK against a host FIONREAD pair of `
        + `${f(c.hostPairNs, 0)} ns), which the driver's figure counts already; the library and the C ioctl loop call that same device`);
  }
  return c.error ? `${w} (the calibration boot failed: ${c.error})` : c.given ? `${w} (given with --standin-weight)` : `${w} (uncalibrated: no guest)`;
}

/** Markdown and SVG for a results object. */
export function render(results) {
  const host = results.host ?? [];
  const pv = results.provenance ?? {};
  const boots = Object.entries(results.guest ?? {}).map(([s, b]) => [s, (b ?? []).filter(Boolean)]);
  const h = (path) => stats(host.map((r) => get(r, path)));
  const hr = (a, b) => stats(host.map((r) => get(r, a) / get(r, b)));
  const g = (runs, path) => stats(runs.map((r) => get(r, path)));
  const gr = (runs, a, b) => stats(runs.map((r) => get(r, a) / get(r, b)));

  // headline: [goal, stats of the ratio, which statistic the target applies to, target, met?, where,
  // and where measured: the same ratio for Node alone (no library), the runtime's floor under the goal]
  const headline = [];
  const line = (goal, st, target, check, where, use = 'median', floor = undefined) => {
    const v = st[use];
    headline.push({ goal, st, target, use, met: isNum(v) ? check(v) : undefined, where, floor });
  };
  /** Node's cheapest fresh 4 KiB copy in each run (P2's floor, no library). */
  const fresh4k = (r) => Math.min(...['slab', 'typedArray', 'slice'].map((w) => get(r, `lib.runtimeFloor.fresh4k.${w}Ns`)).filter(isNum));
  line('P1 transaction, library fast path / C on libkshm\'s fast path', hr('lib.transactionNs', 'c.txnLib'), '<= 5', (v) => v <= 5, 'host');
  line('P1 transaction, library fast path / C ioctl loop (every run)', hr('lib.transactionNs', 'c.txn'), '<= 0.5', (v) => v <= 0.5, 'host, stand-in', 'max');
  line('P1 transaction, library fastPath: false / C ioctl loop', hr('lib.transactionIoctlNs', 'c.txn'), '<= 2', (v) => v <= 2, 'host, stand-in');
  line('P2 snapshots$ emission (copy + Snapshot + Rx) / C malloc + seqcount memcpy, 4 KiB', hr('lib.snapshotEmissionNs', 'c.snapshotMalloc.1'), '<= 3', (v) => v <= 3, 'host', 'median',
    { st: stats(host.map((r) => fresh4k(r) / get(r, 'c.snapshotMalloc.1'))) });
  line('P2 8-byte select$ subscriber (snapshotRange$), largest / 1-page region', hr('lib.select8Ns.ns', 'lib.select8Ns.onePageNs'), '<= 1.5 (size-independent)', (v) => v <= 1.5, 'host');
  line('P2 8-byte select$ subscriber (snapshotRange$) / C malloc + seqcount memcpy of the 8 bytes', hr('lib.select8Ns.onePageNs', 'c.snapshotMalloc8'), '<= 3', (v) => v <= 3, 'host', 'median',
    { st: hr('lib.runtimeFloor.rx8Ns', 'c.snapshotMalloc8') });
  line('P3 commit -> subscriber p50, library / C poll(), host stand-in wake-ups', hr('standin.commitToSubscriber.lib.p50Us', 'standin.commitToSubscriber.c.p50Us'), '<= 2', (v) => v <= 2, 'host, stand-in', 'median',
    { st: hr('standin.commitToSubscriber.nodeFloor.p50Us', 'standin.commitToSubscriber.c.p50Us') });
  line('P4 4 processes, library / C on libkshm, host stand-in FIFO futex queue, throughput', hr('standin.contended4.lib.throughput', 'standin.contended4.c.throughput'), '>= 0.5', (v) => v >= 0.5, 'host, stand-in');
  line('P4 4 processes, library max/min share, host stand-in, worst run', h('standin.contended4.lib.fairness'), '<= 1.5', (v) => v <= 1.5, 'host, stand-in', 'max');
  for (const [s, runs] of boots) {
    const k = runs[0]?.kernel ?? s;
    line('P3 commit -> subscriber p50, library / C poll()', gr(runs, 'commitToSubscriber.lib.p50Us', 'commitToSubscriber.c.p50Us'), '<= 2 (goal on host)', (v) => v <= 2, `TCG ${k}`);
    line('P4 4 processes, library / C on libkshm\'s lock, throughput', gr(runs, 'contended4.lib.throughput', 'contended4.c.throughput'), '>= 0.5 (goal on host)', (v) => v >= 0.5, `TCG ${k}`);
    line('P4 4 processes, library max/min share, worst boot', g(runs, 'contended4.lib.fairness'), '<= 1.5', (v) => v <= 1.5, `TCG ${k}`, 'max');
    line('P4 voluntary context switches per contended transaction, library - C', stats(runs.map((r) => get(r, 'contended4.lib.voluntarySwitchesPerContended') - get(r, 'contended4.c.voluntarySwitchesPerContended'))), '<= 1', (v) => v <= 1, `TCG ${k}`, 'median',
      { label: 'C in the design card\'s shape', st: stats(runs.map((r) => get(r, 'contended4.cCard.voluntarySwitchesPerContended') - get(r, 'contended4.c.voluntarySwitchesPerContended'))) });
    line(`P5 heap + ArrayBuffers, end / warm, ${get(runs[0], 'memory.transactions') ?? '?'} transactions`, stats(runs.map((r) => (get(r, 'memory.after.heapUsed') + get(r, 'memory.after.arrayBuffers')) / (get(r, 'memory.before.heapUsed') + get(r, 'memory.before.arrayBuffers')))), '< 1.1', (v) => v < 1.1, `TCG ${k}`, 'max');
  }

  const mark = (m) => (m === undefined ? 'n/a' : m ? 'met' : '**missed**');
  let md = `# kshm benchmarks\n\n`
    + `Generated from \`bench/results.json\` by \`bench/report.mjs\` (\`${pv.command ?? 'npm run bench'}\`, ${results.date})${results.quick ? ' (--quick: not representative)' : ''}.\n\n`
    + `Provenance: commit \`${pv.commit ?? '?'}\`${pv.dirty ? ' (with uncommitted changes)' : ''}, Node ${pv.node ?? '?'}, ${pv.qemu ?? 'QEMU ?'}, `
    + `host kernel ${pv.hostKernel ?? '?'} on ${pv.machine ?? '?'}; guest kernels ${Object.entries(pv.kernels ?? {}).map(([s, k]) => `${s}: ${k.join(', ')}`).join('; ') || 'none'}; `
    + `${pv.runs ?? '?'} host run(s), ${pv.boots ?? '?'} boot(s) per kernel; the run took ${pv.seconds ?? '?'} s.\n\n`
    + `Stand-in calibration: ${calibrationText(pv.calibration)}.\n\n`
    + 'Figures are min / median / max; ratios are paired (library / C in the same run or boot), then min / median / max. '
    + 'The host is 2 cores shared with other work: expect noise, read the paired ratios. '
    + 'Each run\'s P1 transaction figures (library and C alike) are the fastest of 3 timed loops of the same size.\n\n'
    + 'Next to a status, "Node alone" is the same ratio for Node with no library (the rows marked runtime floor below): '
    + 'what any library on this runtime pays before it does its own work; "C in the design card\'s shape" is the same figure for a C '
    + 'program whose main thread never blocks in the driver (a worker thread waits and wakes it through an eventfd, as the library\'s '
    + 'libuv pool thread does).\n\n'
    + '## Headline\n\n| goal | ratio min / median / max | target | status (on) | measured on |\n| --- | --- | --- | --- | --- |\n'
    + headline.map((x) => `| ${x.goal} | ${mmm(x.st, 2)} | ${x.target} | ${mark(x.met)} (${x.use})`
      + `${x.floor?.st.n ? `; ${x.floor.label ?? 'Node alone'} ${f(x.floor.st.median, 2)}` : ''} | ${x.where} |`).join('\n') + '\n';

  const viol = results.violations ?? [];
  md += `\n## Invariants (asserted by \`npm run bench -- --quick\`)\n\n${viol.length === 0 ? 'Every invariant held in every boot.' : viol.map((v) => `- **${v.invariant}**: ${v.detail}`).join('\n')}\n`;

  md += '\n## Host: the library\'s own cost (stand-in syscall: ioctl FIONREAD on a pipe)\n\n| figure | library | C | physical limit |\n| --- | --- | --- | --- |\n'
    + `| P1 transaction, fast path, ns (C: libkshm's kshm_lock/kshm_unlock) | ${mmm(h('lib.transactionNs'))} | ${mmm(h('c.txnLib'))} | robust pthread mutex ${mmm(h('limits.mutexNs'))}; futex ${mmm(h('limits.futexNs'))}; Atomics ${mmm(h('lib.atomicsUncontendedNs'))} |\n`
    + `| P1 the same, C inlined (lockword.h protocol, no library call), ns | | ${mmm(h('c.txnFastInline'))} | |\n`
    + `| P1 transaction, fastPath: false, ns (C: the ioctl loop on the stand-in device) | ${mmm(h('lib.transactionIoctlNs'))} | ${mmm(h('c.txn'))} | |\n`
    + `| P2 snapshots$ emission per commit, 4 KiB (C: malloc + seqcount memcpy + free), ns | ${mmm(h('lib.snapshotEmissionNs'))} | ${mmm(h('c.snapshotMalloc.1'))} | `
    + `runtime floor, Node alone, a fresh 4 KiB copy: slab carve ${mmm(h('lib.runtimeFloor.fresh4k.slabNs'))}; new Uint8Array ${mmm(h('lib.runtimeFloor.fresh4k.typedArrayNs'))}; `
    + `slice() ${mmm(h('lib.runtimeFloor.fresh4k.sliceNs'))} (into a reused buffer, not immutable: ${mmm(h('lib.runtimeFloor.reused4kNs'))}) |\n`
    + `| P2 8-byte select$ subscriber per commit, 1-page region (C: malloc + seqcount memcpy of 8 bytes + free), ns | ${mmm(h('lib.select8Ns.onePageNs'))} | ${mmm(h('c.snapshotMalloc8'))} | `
    + `runtime floor, Node alone: 8 bytes copied into a slab and delivered through bare RxJS (Subject, map, subscriber) ${mmm(h('lib.runtimeFloor.rx8Ns'))} |\n`
    + `| P2 detail: backend snapshot (copy + allocation), ns | ${mmm(h('lib.snapshotNs'))} | | |\n`
    + `| P2 detail: the seqcount copy alone into a reused buffer (C: the same), ns | ${mmm(h('lib.snapshotCopyOnlyNs'))} | ${mmm(h('c.snapshot'))} | |\n`
    + `| hand-off between two parties, ns | | | futex ${mmm(h('limits.futexHandoffNs'))}; robust mutex + condvar ${mmm(h('limits.mutexHandoffNs'))}; Atomics.wait/notify (worker threads) ${mmm(h('lib.atomicsHandoffNs'))} |\n`
    + `| 4 processes on a FIFO futex lock (memfd): transactions/s; max/min; voluntary switches per transaction | | | ${mmm(h('limits.fifo4.throughput'), 0)}; ${mmm(h('limits.fifo4.fairness'), 2)}; ${mmm(h('limits.fifo4.voluntarySwitchesPerTxn'), 3)} |\n`
    + `| P5 heap + ArrayBuffers after 100k transactions + snapshots / after ${results.quick ? 1 : 3}00k more, MiB | ${f(h('lib.memory.before.heapUsed').median / 2 ** 20 + h('lib.memory.before.arrayBuffers').median / 2 ** 20, 1)} / ${f(h('lib.memory.after.heapUsed').median / 2 ** 20 + h('lib.memory.after.arrayBuffers').median / 2 ** 20, 1)} | | |\n`;

  md += '\n### Host stand-ins for the contended and waking paths (shared stand-in region, 4 processes / 1 writer + 1 subscriber)\n\n| figure | library | C on libkshm | physical limit |\n| --- | --- | --- | --- |\n'
    + `| P4 transactions/s, 4 processes | ${mmm(h('standin.contended4.lib.throughput'), 0)} | ${mmm(h('standin.contended4.c.throughput'), 0)} | FIFO futex lock ${mmm(h('limits.fifo4.throughput'), 0)} |\n`
    + `| P4 max/min share | ${mmm(h('standin.contended4.lib.fairness'), 2)} | ${mmm(h('standin.contended4.c.fairness'), 2)} | ${mmm(h('limits.fifo4.fairness'), 2)} |\n`
    + `| P4 voluntary context switches per transaction, all transactions of the run | ${mmm(h('standin.contended4.lib.voluntarySwitchesPerTxn'), 2)} | ${mmm(h('standin.contended4.c.voluntarySwitchesPerTxn'), 2)} | ${mmm(h('limits.fifo4.voluntarySwitchesPerTxn'), 3)} |\n`
    + `| P4 voluntary context switches per contended transaction (switches / waits that queued in the stand-in) | ${mmm(h('standin.contended4.lib.voluntarySwitchesPerContended'), 2)} | ${mmm(h('standin.contended4.c.voluntarySwitchesPerContended'), 2)} | `
    + `C in the design card's shape (a worker thread waits in the queue and wakes the main thread's epoll through an eventfd): ${mmm(h('standin.contended4.cCard.voluntarySwitchesPerContended'), 2)} |\n`
    + `| P4 transactions that queued in the stand-in, share of all | ${mmm(stats(host.map((r) => get(r, 'standin.contended4.lib.contendedWaits') / get(r, 'standin.contended4.lib.transactions'))), 3)} | ${mmm(stats(host.map((r) => get(r, 'standin.contended4.c.contendedWaits') / get(r, 'standin.contended4.c.transactions'))), 3)} | |\n`
    + `| P3 commit -> subscriber p50, µs (both stamp after the copy) | ${mmm(h('standin.commitToSubscriber.lib.p50Us'))} | ${mmm(h('standin.commitToSubscriber.c.p50Us'))} | futex hand-off ${f(h('limits.futexHandoffNs').median / 1e3, 1)}; Atomics.wait/notify ${f(h('lib.atomicsHandoffNs').median / 1e3, 1)} |\n`
    + (!h('standin.commitToSubscriber.nodeFloor.p50Us').n ? ''
      : `| P3 the runtime's floor, p50 µs: the library's native backend alone in Node (koffi.node.poll, the same 24-byte seqcount copy as C, stamped after it; no Snapshot, no RxJS); its ratio to C in the same run | ${mmm(h('standin.commitToSubscriber.nodeFloor.p50Us'))}; ${mmm(hr('standin.commitToSubscriber.nodeFloor.p50Us', 'standin.commitToSubscriber.c.p50Us'), 2)} x C | | |\n`)
    + (!h('standin.commitToSubscriber.libRange.p50Us').n ? ''
      : `| P3 the same bytes on both sides, p50 µs: the library reading the sample's 24 bytes alone (snapshotRange$) vs C reading them (as above); ratio | ${mmm(h('standin.commitToSubscriber.libRange.p50Us'))} | ${mmm(h('standin.commitToSubscriber.c.p50Us'))}; ${mmm(hr('standin.commitToSubscriber.libRange.p50Us', 'standin.commitToSubscriber.c.p50Us'), 2)} x | |\n`
      + `| P3 the same bytes on both sides, p50 µs: the library's whole snapshots (as above) vs C copying the whole region (malloc + seqcount memcpy + free); ratio | ${mmm(h('standin.commitToSubscriber.lib.p50Us'))} | ${mmm(h('standin.commitToSubscriber.cWhole.p50Us'))}; ${mmm(hr('standin.commitToSubscriber.lib.p50Us', 'standin.commitToSubscriber.cWhole.p50Us'), 2)} x | |\n`)
    + `| P3 commit -> subscriber p99, µs | ${mmm(h('standin.commitToSubscriber.lib.p99Us'))} | ${mmm(h('standin.commitToSubscriber.c.p99Us'))} | |\n`
    + `| P3 samples received / sent, worst run; snapshots that skipped a generation (conflated); acknowledgements the writer missed (it waits up to ${get(host[0], 'standin.commitToSubscriber.lib.writer.ackTimeoutMs') ?? '?'} ms for the reader's, sent once a sample is stamped, before its next commit) | ${samples(h, 'standin.commitToSubscriber.lib')} | ${samples(h, 'standin.commitToSubscriber.c')} | |\n`
    + `| P3 library per stage, p50 µs (a run of its own, stamped): writer's commit -> poll callback (wake-up, libuv, koffi) | ${mmm(h('standin.commitToSubscriber.libStages.stagesP50Us.wakeToCallback'))} | | |\n`
    + `| P3 stage: poll callback -> seqcount copy made (4 KiB, into a slab) | ${mmm(h('standin.commitToSubscriber.libStages.stagesP50Us.callbackToSnapshot'))} | | |\n`
    + `| P3 stage: copy -> subscriber (Snapshot, delivery; the wake-up is consumed after it) | ${mmm(h('standin.commitToSubscriber.libStages.stagesP50Us.snapshotToSubscriber'))} | | |\n`;

  md += '\n### Where the time goes (per stage, host medians)\n\n| stage | ns |\n| --- | --- |\n'
    + `| fast path: lock word alone (CAS, seq, generation, CAS) | ${mmm(h('lib.breakdown.lockWordNs'))} |\n`
    + `| fast path: + Page + 64 B write (undo log) | ${mmm(h('lib.breakdown.pageNs'))} |\n`
    + `| fast path: + Observable, queue, subscribe | ${mmm(h('lib.breakdown.rxjsNs'))} |\n`
    + `| fastPath: false: trylock + unlock through koffi (2 stand-in ioctls) | ${mmm(h('lib.breakdown.ffiNs'))} |\n`
    + `| fastPath: false: + Page + write | ${mmm(stats(host.map((r) => get(r, 'lib.breakdown.ioctlPathPageNs') - get(r, 'lib.breakdown.ffiNs'))))} |\n`
    + `| fastPath: false: + Observable, queue, subscribe | ${mmm(h('lib.breakdown.ioctlRxjsNs'))} |\n`
    + `| snapshot: seqcount copy (4 KiB) | ${mmm(h('lib.snapshotCopyOnlyNs'))} |\n`
    + `| snapshot: + allocation of the copy | ${mmm(stats(host.map((r) => get(r, 'lib.snapshotNs') - get(r, 'lib.snapshotCopyOnlyNs'))))} |\n`
    + `| snapshot: + Snapshot object, the stream's connection (distinct by generation, replay), delivery | ${mmm(stats(host.map((r) => get(r, 'lib.snapshotEmissionNs') - get(r, 'lib.snapshotNs'))))} |\n`;

  md += '\n### Growth (host, ns)\n\n| region pages | snapshots$ emission | C malloc + memcpy |\n| --- | --- | --- |\n';
  for (const p of [1, 16, 256, 1024]) md += `| ${p} | ${mmm(h(`lib.emissionByPagesNs.${p}`))} | ${mmm(h(`c.snapshotMalloc.${p}`))} |\n`;
  md += `| 1, a select$ of 8 bytes (snapshotRange$; C: malloc + copy of 8 bytes) | ${mmm(h('lib.select8Ns.onePageNs'))} | ${mmm(h('c.snapshotMalloc8'))} |\n`;
  md += `| ${get(host[0], 'lib.select8Ns.pages') ?? '?'}, a select$ of 8 bytes (snapshotRange$) | ${mmm(h('lib.select8Ns.ns'))} | |\n`;
  md += '\n| subscribers in one process | snapshots$ emission per commit (all of them) |\n| --- | --- |\n';
  for (const k of [1, 10, 100]) md += `| ${k} | ${mmm(h(`lib.emissionBySubscribersNs.${k}`))} |\n`;
  md += '\n| bytes written per transaction | transaction, fast path |\n| --- | --- |\n';
  for (const b of [8, 64, 512, 4080]) md += `| ${b} | ${mmm(h(`lib.bytesPerTxn.${b}`))} |\n`;

  const med = (path) => h(path).median;
  md += '\n### Reading the breakdown: where the time goes, what was done, what is left\n\n'
    + `- **P1, fast path** (${f(med('lib.transactionNs'), 0)} ns vs libkshm's ${f(med('c.txnLib'), 0)} ns): the lock word itself `
    + `(CAS, seq, generation, CAS with Atomics on the mapped control page) is ${f(med('lib.breakdown.lockWordNs'), 0)} ns against `
    + `${f(med('c.txnFastInline'), 0)} ns for the same protocol inlined in C; the Page and its undo log add ${f(med('lib.breakdown.pageNs'), 0)} ns, `
    + `the Observable, the lock queue and the subscription ${f(med('lib.breakdown.rxjsNs'), 0)} ns. libkshm's own fast path pays for its `
    + 'handle table (a counted get/put around each call), which is why it is the like-for-like C figure. Against the C ioctl loop '
    + 'the host has only the stand-in, so its syscall is weighted to the driver\'s (see the calibration above), and the C loop '
    + 'calls the same stand-in device the library reaches through libkshm (standin-device.h: its lock word and queue work after '
    + 'each syscall; until session 8 the C loop wrote the word with plain stores where the device makes two compare-and-swaps, '
    + '~30 ns a transaction less than the device the library paid for). Taken out after '
    + 'profiling: a process.pid read per lock (30 ns), an allocation per write for the undo log (now one reused log), closures per call; '
    + 'then (session 6, paired on a loaded host: ~290 -> ~245 ns) the uncontended transaction runs with no request, callbacks or closures '
    + '(LockQueue.grantNow), the grant\'s generation stays a number until a page reads it (a bigint was ~15 ns and garbage per '
    + 'transaction), and the undo log copies aligned writes as 32-bit words. What is left is mostly fixed: the Atomics (4 locked '
    + 'instructions, ~40 ns: JS has no release-only store, C uses plain stores), new Observable + subscribe (~47 ns measured alone), '
    + 'a Page object (~35 ns), the copy.\n'
    + `- **P1, fastPath: false** (${f(med('lib.transactionIoctlNs'), 0)} ns vs ${f(med('c.txn'), 0)} ns): two synchronous koffi calls `
    + `(${f(med('lib.breakdown.ffiNs'), 0)} ns with their two stand-in syscalls) carry most of the difference: koffi ~40-70 ns a call, and `
    + 'libkshm\'s own work per call (its handle table: a mutex and a counted get/put; the stand-in\'s queue bookkeeping): ~90 ns '
    + 'per transaction over the raw ioctls, measured in C; '
    + 'the Page and the Rx layers are the same JS as above but cost ~1.5x more here (measured: the same loop with and without the '
    + 'syscalls around it), likely because the kernel refills the return stack buffer on each exit (spectre_v2 "RSB filling" '
    + 'on this host), so the calls and returns that follow each syscall mispredict.\n'
    + `- **Bytes per transaction**: each write's old bytes go to the device's undo log, one buffer reused by every transaction `
    + `(4 bytes at a time up to 64 bytes, one copy above), so a write costs a copy of its bytes and no allocation `
    + `(${f(med('lib.bytesPerTxn.8'), 0)} ns at 8 B, ${f(med('lib.bytesPerTxn.64'), 0)} ns at 64 B, ${f(med('lib.bytesPerTxn.512'), 0)} ns at 512 B). `
    + 'Before the log, each write sliced its old bytes into a fresh typed array (GC was 15 % of a transaction\'s profile).\n'
    + `- **P2, a whole-page subscriber**: the seqcount copy is C's speed (${f(med('lib.snapshotCopyOnlyNs'), 0)} ns vs ${f(med('c.snapshot'), 0)} ns), `
    + `but an immutable Snapshot needs fresh memory per commit, and fresh 4 KiB in V8 (slab carving, page faults of new slabs, external-memory `
    + `accounting that drives GC) costs ${f(h('lib.snapshotNs').median - h('lib.snapshotCopyOnlyNs').median, 0)} ns whatever the slab size `
    + '(measured from 4 KiB to 4 MiB slabs: never under ~300 ns), against malloc reusing a hot 4 KiB chunk; then the Snapshot object with its DataView and '
    + 'the delivery (the stream\'s connection, the subscriber). The 3x goal is under that allocation floor for a full copy. '
    + 'What was designed instead is the size-independent path: `device.snapshotRange$(offset, length)` copies only the bytes a subscriber reads, '
    + `and \`select$(layout, offset)\` uses it by itself: an 8-byte select costs ${f(med('lib.select8Ns.ns'), 0)} ns per commit on a `
    + `${get(host[0], 'lib.select8Ns.pages') ?? '?'}-page region and ${f(med('lib.select8Ns.onePageNs'), 0)} ns on one page, where a whole-region `
    + `subscriber pays ${f(med('lib.emissionByPagesNs.1024'), 0)} ns at 1024 pages (C: ${f(med('c.snapshotMalloc.1024'), 0)} ns). `
    + 'The native copy also reuses its range source and the cached generation bigint (one allocation less per commit). '
    + 'Profiled with perf (bench/emission.ts\'s loop, issue 20): a quarter of an emission was the memset of each new 1 MiB slab '
    + '(`new ArrayBuffer` zero-fills; slabs now come from `Buffer.allocUnsafeSlow`, whose bytes are overwritten by the copy before anybody '
    + 'sees them), and distinctUntilChanged + share + ReplaySubject (three subscribers deep, an array trim per value) are now the stream\'s '
    + 'own connection: the snapshot goes from the wake-up to the subscribers, replayed to late ones, with the same resets. What is left '
    + 'is the copy into fresh (uncached) memory, V8\'s typed array and DataView per Snapshot (~25 and ~55 ns measured alone) and write '
    + 'barriers (paired runs of the 4 KiB emission on a loaded host, fastest of 7: 822-893 ns before, 646-809 ns after; C 57-65 ns). '
    + 'A snapshot whose memory follows the bytes changed would need the region compared with the previous snapshot at every '
    + 'commit: JS has no native mismatch search (Buffer.compare answers equal or not, ~30-50 ns a call), so finding the changed chunks '
    + 'costs about what the allocation does, and chunked storage would slow every typed read; not done. Reusing the memory of '
    + 'snapshots nobody holds any more (a FinalizationRegistry handing a 4 KiB chunk back when its snapshot is collected, '
    + 'the event loop turning every 256 commits) was measured too: ~1200 ns per snapshot against ~450 ns for fresh slab memory, '
    + 'with three in four chunks still fresh (the registry\'s weak cells cost more than the page faults they save); not done. '
    + 'The ceiling of any recycling, measured (session 7, a JS loop): a 4 KiB copy into one of 64 reused, cache-hot buffers plus its '
    + 'typed array costs ~120 ns (fresh slab memory 380-720 ns, `new Uint8Array(4096)` ~1100 ns), already 2.3x C\'s whole malloc + copy + '
    + 'free before a Snapshot exists or is delivered: recycling perfectly would halve the emission, not bring it to 3x.\n'
    + `- **P3** (p50 ${f(med('standin.commitToSubscriber.lib.p50Us'), 1)} µs vs C ${f(med('standin.commitToSubscriber.c.p50Us'), 1)} µs): `
    + 'both sides wake from the same FIFO. Stamped per stage (the rows above; before this work, in paired runs on a loaded host: '
    + 'wake-up -> callback 50-57 µs, the consume of the wake-up (a koffi call, two read()s) 8-11 µs, callback -> copy 17-24 µs, '
    + 'copy -> subscriber 14-16 µs; 102-112 µs in all against C\'s 14-23 µs). Now the snapshot is delivered before the wake-up is consumed '
    + '(the seqcount is compared after the read, so a commit made meanwhile is read again, not lost), the stream delivers with no Rx '
    + 'operator in between (-8 µs), and the slab pages the next snapshot will use are touched after delivery, taking its page fault off '
    + 'the way (-8 µs): 77-86 µs in the same runs. Unstamped (the latency role itself), four paired rounds: 40-103 µs before, 26-63 µs '
    + 'after (0.54-0.67 of before), C 7-36 µs. What is left is cold code: with 2 ms between commits on 2 shared cores, caches, TLB '
    + 'and branch predictors are cold at each wake-up, and the reader spends ~150 µs of CPU per wake-up (process.cpuUsage) on work that '
    + 'takes a few µs hot; and the wake-up itself, the largest stage: epoll\'s return, libuv\'s turn (strace shows a second epoll_pwait, '
    + 'with a zero timeout, per turn), koffi\'s poll callback (an events object with three named properties, their names interned at every '
    + 'call, then napi into JS). Closing it would need a poll callback that calls JS with less (not in koffi 3.3.4) or a reader that '
    + 'does not sleep. The floor row above measures that part alone (session 8): a Node process with the library\'s native backend and '
    + 'nothing else, woken by the same koffi.node.poll and copying the same 24 bytes as C'
    + (!h('standin.commitToSubscriber.nodeFloor.p50Us').n ? ''
      : ` (${f(med('standin.commitToSubscriber.nodeFloor.p50Us'), 1)} µs, ${f(hr('standin.commitToSubscriber.nodeFloor.p50Us', 'standin.commitToSubscriber.c.p50Us').median, 2)}x C: `
        + `the library adds ${f(med('standin.commitToSubscriber.lib.p50Us') - med('standin.commitToSubscriber.nodeFloor.p50Us'), 1)} µs to it)`)
    + '.'
    + (!h('standin.commitToSubscriber.libRange.p50Us').n || !h('standin.commitToSubscriber.cWhole.p50Us').n ? ''
      : ` The same bytes on both sides (the rows above): the library reading the 24 bytes alone takes ${f(med('standin.commitToSubscriber.libRange.p50Us'), 1)} µs `
        + `against ${f(med('standin.commitToSubscriber.lib.p50Us'), 1)} µs for whole snapshots, C copying the whole region ${f(med('standin.commitToSubscriber.cWhole.p50Us'), 1)} µs `
        + `against ${f(med('standin.commitToSubscriber.c.p50Us'), 1)} µs for the 24 bytes (medians of runs made one after another).`)
    + '\n'
    + '- **P4**: the lock hands over in FIFO order (the driver, and the stand-in the same way), so once one waiter is queued every '
    + 'transaction is a hand-off, and a library hand-off costs two wake-ups (the pool thread\'s blocking LOCK, then the main thread '
    + 'through uv_async) with the lock held in transit meanwhile, where a C waiter is the thread that runs next. So a contended request '
    + 'first spins on the lock word: up to 20 µs while the word names a holder and nobody is queued, and up to 100 µs while waiters '
    + 'are queued (WAITERS), for the queue to drain rather than joining it (LockWord.spinWhileHeld in JS, lw_spin_while_held() in '
    + 'libkshm, which the C contenders use too: same lock path; the pool thread\'s wait does not spin again, kshm_lock_epoch_nospin). '
    + 'Spinners take only a free word, and the word is free only once the driver\'s queue is empty, so they never pass a queued waiter; '
    + 'a spin that runs out queues as before (the design card: the blocking LOCK on a libuv worker). Joining the queue at once kept '
    + 'the convoy going on a loaded host (host stand-in, 8 paired runs: library 70k/s and C 447k/s median queuing at once, '
    + '896k/s and 1.88M/s spinning through). The context switches are counted per queued wait (the driver\'s locks_contended over the '
    + 'run): a queued library wait costs ~3 voluntary switches by construction (the main thread\'s sleep in epoll, the pool thread\'s '
    + 'blocking LOCK, its return to the idle pool) where a queued C wait costs 1; in a TCG guest a hand-off\'s wake-ups take '
    + 'milliseconds (8 runnable threads on 2 emulated CPUs), far past any spin budget, so most contended library transactions still '
    + 'queue there. Closing the guest gap needs fewer wake-ups per queued wait than the design card\'s blocking call on a pool '
    + 'thread allows: measured, a C program of that shape (bench/c/baseline.c contend-card: the same try, spin and queued wait, a '
    + 'worker thread that blocks in the driver and wakes the main thread\'s epoll through an eventfd) makes '
    + `${f(stats(boots.flatMap(([, runs]) => runs.map((r) => get(r, 'contended4.cCard.voluntarySwitchesPerContended') - get(r, 'contended4.c.voluntarySwitchesPerContended')))).median, 2)} `
    + 'switches per queued wait more than plain C in the guest (the headline\'s "C in the design card\'s shape"), before any JS. Fairness on the host stand-in (worst run over 1.5 in some runs, C 1.0-1.15), instrumented (session 7, '
    + 'per-process counters, not kept): each process\'s count follows the CPU time it got times its transactions per CPU-ms, each '
    + 'varying 5-30 % between runs; in the bad runs each process spent ~40 % of the window in queued waits (~1,400 waits of ~0.57 ms) '
    + 'and ~300 ms spinning: a library hand-off needs two wake-ups (the pool thread, then the main thread) with the lock idle between, '
    + 'and with 4 processes on 2 shared cores the spinners delay both. C itself ranged 1.06-2.65 over six back-to-back rounds on a busy '
    + 'host, more than the gap to close; no change could be shown sound against that noise (not done).\n';

  for (const [s, runs] of boots) {
    if (runs.length === 0) continue;
    const k = runs[0].kernel;
    md += `\n## TCG guest, kernel ${k} (${runs.length} boot(s), 2 vCPUs)\n\n`
      + 'Like-for-like only: TCG inflates JS against syscalls, so time ratios of JS work to C here mislead; counts, shares and latencies of the same job compare.\n\n'
      + '| figure | library | C |\n| --- | --- | --- |\n'
      + `| calibration: ioctl FIONREAD pair (host stand-in) vs LOCK+UNLOCK (driver), ns | ${mmm(g(runs, 'calibration.standinPairNs'), 0)} | ${mmm(g(runs, 'calibration.driverPairNs'), 0)} |\n`
      + `| syscalls per transaction, fast path, every syscall traced (C: libkshm fast path) | ${mmm(g(runs, 'syscalls.lib.perOp'), 3)} | ${mmm(g(runs, 'syscalls.cFast.perOp'), 3)} |\n`
      + `| syscalls per transaction, ioctl path (C: the ioctl loop) | ${mmm(g(runs, 'syscalls.libIoctl.perOp'), 3)} | ${mmm(g(runs, 'syscalls.c.perOp'), 3)} |\n`
      + `| 4 processes contending, transactions/s (C: libkshm's lock) | ${mmm(g(runs, 'contended4.lib.throughput'), 0)} | ${mmm(g(runs, 'contended4.c.throughput'), 0)} |\n`
      + `| the same, C on the ioctl loop | | ${mmm(g(runs, 'contended4.cIoctl.throughput'), 0)} |\n`
      + `| max/min share among the 4 (C: libkshm's lock; ioctl loop) | ${mmm(g(runs, 'contended4.lib.fairness'), 2)} | ${mmm(g(runs, 'contended4.c.fairness'), 2)}; ${mmm(g(runs, 'contended4.cIoctl.fairness'), 2)} |\n`
      + `| voluntary context switches per contended transaction (switches / waits that queued, the driver's locks_contended; C: libkshm's lock; ioctl loop) | ${mmm(g(runs, 'contended4.lib.voluntarySwitchesPerContended'), 2)} | ${mmm(g(runs, 'contended4.c.voluntarySwitchesPerContended'), 2)}; ${mmm(g(runs, 'contended4.cIoctl.voluntarySwitchesPerContended'), 2)} |\n`
      + `| the same, C in the design card's shape (a worker thread waits in the driver's queue and wakes the main thread's epoll through an eventfd; its transactions/s; its queued share) | | ${mmm(g(runs, 'contended4.cCard.voluntarySwitchesPerContended'), 2)}; ${mmm(g(runs, 'contended4.cCard.throughput'), 0)}; ${mmm(stats(runs.map((r) => get(r, 'contended4.cCard.contendedWaits') / get(r, 'contended4.cCard.transactions'))), 3)} |\n`
      + `| transactions that queued in the driver, share of all (C: libkshm's lock; ioctl loop) | ${mmm(stats(runs.map((r) => get(r, 'contended4.lib.contendedWaits') / get(r, 'contended4.lib.transactions'))), 3)} | ${mmm(stats(runs.map((r) => get(r, 'contended4.c.contendedWaits') / get(r, 'contended4.c.transactions'))), 3)}; ${mmm(stats(runs.map((r) => get(r, 'contended4.cIoctl.contendedWaits') / get(r, 'contended4.cIoctl.transactions'))), 3)} |\n`
      + `| voluntary context switches per transaction, all transactions of the run (C: libkshm's lock; ioctl loop) | ${mmm(g(runs, 'contended4.lib.voluntarySwitchesPerTxn'), 2)} | ${mmm(g(runs, 'contended4.c.voluntarySwitchesPerTxn'), 2)}; ${mmm(g(runs, 'contended4.cIoctl.voluntarySwitchesPerTxn'), 2)} |\n`
      + `| commit -> subscriber p50, µs (both stamp after the copy) | ${mmm(g(runs, 'commitToSubscriber.lib.p50Us'))} | ${mmm(g(runs, 'commitToSubscriber.c.p50Us'))} |\n`
      + `| commit -> subscriber p99, µs | ${mmm(g(runs, 'commitToSubscriber.lib.p99Us'))} | ${mmm(g(runs, 'commitToSubscriber.c.p99Us'))} |\n`
      + `| samples received / sent, worst boot (commit gap ${get(runs[0], 'commitToSubscriber.lib.gapUs') ?? '?'} µs, and each commit after the reader acknowledged the previous sample, up to ${get(runs[0], 'commitToSubscriber.lib.writer.ackTimeoutMs') ?? '?'} ms); snapshots that skipped a generation (conflated); acknowledgements missed | ${samples((p) => g(runs, p), 'commitToSubscriber.lib')} | ${samples((p) => g(runs, p), 'commitToSubscriber.c')} |\n`
      + `| transaction time, fast path (TCG-inflated, for reference), ns | ${mmm(g(runs, 'transactionNs.lib'), 0)} | ${mmm(g(runs, 'transactionNs.cFast'), 0)} |\n`
      + `| transaction time, ioctl path (TCG-inflated), ns | ${mmm(g(runs, 'transactionNs.libIoctl'), 0)} | ${mmm(g(runs, 'transactionNs.c'), 0)} |\n`
      + [1, 2, 4, 8].map((k) => `| commit -> subscriber p50 with ${k} subscriber process(es), µs (median reader; worst reader's p50; samples received, worst reader; generation jumps, all readers; acknowledgements missed: the writer waits for all ${k}) | `
        + `${mmm(g(runs, `subscriberProcesses.${k}.p50Us`))}; ${mmm(g(runs, `subscriberProcesses.${k}.worstP50Us`))}; ${f(g(runs, `subscriberProcesses.${k}.receivedMin`).min, 0)} / ${f(g(runs, `subscriberProcesses.${k}.expected`).max, 0)}; `
        + `${f(g(runs, `subscriberProcesses.${k}.generationJumps`).max, 0)}; ${f(g(runs, `subscriberProcesses.${k}.writer.missingAcks`).max, 0)} | |\n`).join('')
      + `| libuv pool threads blocked per open device (UV_THREADPOOL_SIZE=64, 20 queued each) | ${mmm(g(runs, 'pool.blockedPerDevice'), 2)} | |\n`
      + `| file read while they wait, ms | ${mmm(g(runs, 'pool.fileIoMs'), 0)} | |\n`
      + `| P5 RSS warm / end, MiB (${get(runs[0], 'memory.transactions') ?? '?'} transactions, snapshots$, lock$, contended waits) | ${f(g(runs, 'memory.before.rss').median / 2 ** 20, 1)} / ${f(g(runs, 'memory.after.rss').median / 2 ** 20, 1)} | |\n`
      + `| P5 heap / ArrayBuffers warm, MiB | ${f(g(runs, 'memory.before.heapUsed').median / 2 ** 20, 2)} / ${f(g(runs, 'memory.before.arrayBuffers').median / 2 ** 20, 2)} | |\n`
      + `| P5 heap / ArrayBuffers end, MiB | ${f(g(runs, 'memory.after.heapUsed').median / 2 ** 20, 2)} / ${f(g(runs, 'memory.after.arrayBuffers').median / 2 ** 20, 2)} | |\n`;
  }

  const growth = (results.growth ?? []).filter((x) => !x.error);
  if (growth.length > 0) {
    md += '\n## Growth with the region size (TCG guest, module parameter pages=N)\n\n| pages | snapshots$ emission, µs | select$ of 8 bytes, µs | transaction (64 B), µs | C malloc + memcpy, µs |\n| --- | --- | --- | --- | --- |\n'
      + growth.map((x) => `| ${x.pages} | ${f(x.emissionUs, 1)} | ${f(x.select8Us, 1)} | ${f(x.transactionUs, 1)} | ${f(x.cSnapshotUs, 1)} |`).join('\n') + '\n';
  }

  for (const [name, x] of Object.entries(results.extra ?? {})) {
    md += `\n## ${x?.name ?? name} (bench/${name}.bench.mjs)\n\n`;
    if (x?.headline?.length) md += '| goal | ratio | target | measured on |\n| --- | --- | --- | --- |\n' + x.headline.map(([a, v, t, w]) => `| ${a} | ${f(v)} | ${t} | ${w} |`).join('\n') + '\n\n';
    // A module's two figure columns are the library and C unless it names them (`columns`).
    const [left, right] = Array.isArray(x?.columns) && x.columns.length === 2 ? x.columns : ['library', 'C'];
    if (x?.rows?.length) md += `| figure | ${left} | ${right} | note |\n| --- | --- | --- | --- |\n` + x.rows.map(([a, l, c, note]) => `| ${a} | ${l ?? ''} | ${c ?? ''} | ${note ?? ''} |`).join('\n') + '\n';
  }

  md += '\n## Adding a benchmark\n\nDrop a module `bench/NAME.bench.mjs` whose default export is an async function of '
    + '`{ quick, repoRoot, sh, vm, node }` (`sh(cmd, args, env)` runs on the host and returns stdout, throwing on failure; '
    + '`vm(series, cmd, { params })` boots a guest and returns its output) that returns '
    + '`{ name, rows?: [[figure, library, c, note]], columns?: [left, right], headline?: [[goal, ratio, target, where]], violations?: [{ invariant, detail }], raw? }` '
    + '(`columns` names the two figure columns when they are not the library and C; a headline ratio is a number). '
    + '`npm run bench` runs every such module (`-- --only NAME` picks some), stores what it returns under `extra.NAME` in results.json, '
    + 'renders it here, and `--quick` fails on its violations. A module that throws is a violation.\n'
    + '\n![ratios](bench/chart.svg)\n';

  // The chart: each headline ratio (its median) against its target.
  const rows = headline.filter((x) => isNum(x.st.median));
  const W = 820;
  const rowH = 26;
  const H = 40 + rows.length * rowH;
  const maxV = Math.max(3, ...rows.map((x) => x.st.max ?? x.st.median));
  const x = (v) => 400 + (Math.min(v, maxV) / maxV) * (W - 440);
  const esc = (t) => String(t).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const svg = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<text x="10" y="18" font-size="13">kshm: library / C ratios (bar: median, whisker: min-max), targets (red) ${results.quick ? '(quick run)' : ''}</text>`,
    ...rows.flatMap((r, i) => {
      const y = 30 + i * rowH;
      const t = Number(String(r.target).replace(/^[^0-9]*([0-9.]+).*$/, '$1'));
      return [
        `<text x="10" y="${y + 14}">${esc(`${r.goal} [${r.where}]`.slice(0, 70))}</text>`,
        `<rect x="400" y="${y + 4}" width="${Math.max(1, x(r.st.median) - 400)}" height="14" fill="${r.met === false ? '#c77' : '#4a7ebb'}"/>`,
        `<line x1="${x(r.st.min)}" x2="${x(r.st.max)}" y1="${y + 11}" y2="${y + 11}" stroke="#222"/>`,
        Number.isFinite(t) ? `<line x1="${x(t)}" x2="${x(t)}" y1="${y}" y2="${y + 22}" stroke="#c33" stroke-width="2"/>` : '',
        `<text x="${Math.min(W - 40, x(r.st.max) + 4)}" y="${y + 15}">${f(r.st.median)}</text>`,
      ];
    }), '</svg>'].join('\n');
  return { markdown: md, svg: `${svg}\n`, headline };
}

/** README.md with its headline block (between the bench:headline markers) replaced. */
export function readmeWith(readme, headline, results) {
  const begin = '<!-- bench:headline -->';
  const end = '<!-- /bench:headline -->';
  const i = readme.indexOf(begin);
  const j = readme.indexOf(end);
  if (i < 0 || j < i) return readme;
  const rows = headline.filter((x) => isNum(x.st.median)).map((x) =>
    `| ${x.goal} | ${f(x.st[x.use])}${x.use === 'median' ? '' : ` (${x.use})`} | ${x.target} | ${x.met ? 'met' : 'missed'} | ${x.where} |`);
  const table = `| figure | library / C | goal | | measured on |\n| --- | --- | --- | --- | --- |\n${rows.join('\n')}\n\n`
    + `(${results.date.slice(0, 10)}, commit \`${String(results.provenance?.commit ?? '?').slice(0, 12)}\`, `
    + `${results.provenance?.runs ?? '?'} host runs, ${results.provenance?.boots ?? '?'} boots.)`;
  return `${readme.slice(0, i + begin.length)}\n${table}\n${readme.slice(j)}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = join(fileURLToPath(new URL('.', import.meta.url)), '..');
  const file = process.argv[2] ?? join(root, 'bench', 'results.json');
  const results = JSON.parse(readFileSync(file, 'utf8'));
  const { markdown, svg, headline } = render(results);
  const quick = results.quick;
  writeFileSync(quick ? join(root, 'bench', 'out', 'BENCHMARKS.md') : join(root, 'BENCHMARKS.md'), markdown);
  writeFileSync(quick ? join(root, 'bench', 'out', 'chart.svg') : join(root, 'bench', 'chart.svg'), svg);
  if (!quick) writeFileSync(join(root, 'README.md'), readmeWith(readFileSync(join(root, 'README.md'), 'utf8'), headline, results));
  console.log(markdown);
}
