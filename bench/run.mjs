#!/usr/bin/env node
// npm run bench [-- --quick] [-- --boots N] [-- --runs N] [-- --kernel 6.1|6.12|7.3]...
//                [-- --pages 1,16,256,1024] [-- --no-guest] [-- --only NAME]...
//
// Measures the library against plain C baselines, on the host (the
// library's own cost, over the stand-in device, and host stand-ins for the
// contended and waking paths) and in TCG guests (the real driver, like
// against like, over several boots), then writes bench/results.json with its
// provenance and regenerates BENCHMARKS.md and bench/chart.svg from it
// (bench/report.mjs; `node bench/report.mjs` alone re-renders).
//
// --quick (CI, before npm test): everything briefly, one boot of 6.1, output
// to bench/out/; then it ASSERTS the speed-independent invariants
// (bench/invariants.ts: syscalls per transaction from a trace of every
// syscall, every latency sample arrives (the writer paced by the readers'
// acknowledgements, so a missing one is a lost wake-up), every contender progresses, pool
// threads <= 1 per device, heap + ArrayBuffers flat) and exits 1 on any
// violation or broken measurement. A full run reports the same violations.
//
// Extra benchmark modules: every bench/*.bench.mjs (or those --only names)
// is imported and its default export awaited with a context
// { quick, repoRoot, sh, vm, node }; it returns
// { name, rows?: [[figure, library, c, note?]...], columns?: [left, right] (the two figure
//   columns' names, when not the library and C), headline?: [[goal, ratio (a number), target, where]...],
//   violations?: [{ invariant, detail }...], raw?: any }. Rows and headline
// lines land in BENCHMARKS.md under the module's name, violations fail
// --quick like the built-in ones. See BENCHMARKS.md, "Adding a benchmark".
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../harness/kernels.mjs';
import { readmeWith, render } from './report.mjs';

const started = Date.now();
const git = (a) => spawnSync('git', a, { cwd: repoRoot, encoding: 'utf8' }).stdout.trim();
// What is measured: the commit (and whether the tree differed) when the run starts.
const commitAtStart = git(['rev-parse', 'HEAD']);
const dirtyAtStart = git(['status', '--porcelain', '--untracked-files=no']) !== '';
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const opt = (name) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const many = (name) => args.flatMap((a, i) => (args[i - 1] === name ? [a] : []));
const boots = Number(opt('--boots') ?? (quick ? 1 : 3));
const reps = Number(opt('--runs') ?? (quick ? 1 : 5));
const kernels = many('--kernel');
const series = args.includes('--no-guest') ? [] : kernels.length > 0 ? kernels : quick ? ['6.1'] : ['6.12'];
const pagesList = (opt('--pages') ?? (quick ? '' : '1,16,256,1024')).split(',').filter(Boolean).map(Number);
const only = many('--only');
const outDir = quick ? join(repoRoot, 'bench', 'out') : join(repoRoot, 'bench');

function sh(cmd, cmdArgs, env = {}) {
  const r = spawnSync(cmd, cmdArgs, { cwd: repoRoot, encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 26 });
  if (r.status !== 0) {
    process.stderr.write(`${r.stdout ?? ''}${r.stderr ?? ''}`);
    throw new Error(`${cmd} ${cmdArgs.join(' ')} failed (${r.status ?? r.error?.message})`);
  }
  return r.stdout;
}
const firstLine = (cmd, cmdArgs) => {
  const r = spawnSync(cmd, cmdArgs, { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split('\n')[0].trim() : `unavailable (${r.error?.message ?? r.status})`;
};
/** The last JSON line of an output; throws when there is none (a broken measurement). */
const lastJson = (out, what) => {
  const line = out.trim().split('\n').filter((l) => l.startsWith('{')).at(-1);
  if (!line) throw new Error(`${what}: no JSON result`);
  return JSON.parse(line);
};
const vm = (kernel, cmd, { params = [], timeout = 900 } = {}) => sh(process.execPath, ['harness/vm.mjs', '--kernel', kernel,
  '--smp', '2', '--timeout', String(timeout), ...params.flatMap((p) => ['--param', p]), ...cmd]);

console.log('bench: building');
sh('make', ['-s', '-C', 'native-shim']);
mkdirSync(join(repoRoot, 'build', 'bench'), { recursive: true });
const cflags = ['-O2', '-Wall', '-Wextra', '-Werror', '-pthread'];
sh('gcc', [...cflags, '-o', 'build/bench/baseline', 'bench/c/baseline.c',
  '-Lnative-shim', '-l:libkshm.so', `-Wl,-rpath,${join(repoRoot, 'native-shim')}`]);
sh('gcc', [...cflags, '-o', 'build/bench/baseline-standin', 'bench/c/baseline.c',
  '-Lnative-shim', '-l:libkshm-standin.so', `-Wl,-rpath,${join(repoRoot, 'native-shim')}`]);
sh('gcc', [...cflags, '-o', 'build/bench/limits', 'bench/c/limits.c']);
sh(process.execPath, ['node_modules/typescript/bin/tsc', '-p', '.']);
const { checkHost, checkRun } = await import(pathToFileURL(join(repoRoot, 'dist/bench/invariants.js')).href);

// ---- calibration: the stand-in's syscall weighs what the driver's does ------
// In one guest boot, the driver's LOCK+UNLOCK against a pair of ioctl
// FIONREAD on a pipe (what the stand-in calls); the host's stand-in then
// makes that many FIONREADs per LOCK or UNLOCK (KSHM_STANDIN_WEIGHT, see
// native-shim/standin.h). Without a guest: `--standin-weight W`, else 1.
const calibration = series.length > 0 ? (() => {
  console.log(`bench: calibration, guest ${series[0]}`);
  try {
    const c = lastJson(vm(series[0], ['build/bench/baseline', 'calibrate', String(quick ? 2000 : 20000)],
      { timeout: 300 }), 'calibrate');
    // The driver's pair includes its own lock-word work; the stand-in adds its
    // device work after the weighted syscalls: that work comes off the weight
    // (measured on the host against the host's FIONREAD pair).
    const w = lastJson(sh('build/bench/baseline-standin', ['standin-work', String(quick ? 20000 : 200000)]), 'standin-work');
    const rawWeight = c.driverPairNs / c.standinPairNs;
    return { kernel: series[0], standinPairNs: c.standinPairNs, driverPairNs: c.driverPairNs, rawWeight,
      hostPairNs: w.pairNs, deviceWorkNs: w.workNs, weight: Math.max(1, rawWeight - w.workNs / w.pairNs) };
  } catch (e) {
    return { error: e.message, weight: 1 };
  }
})() : { weight: Number(opt('--standin-weight') ?? 1), given: opt('--standin-weight') !== undefined };
console.log(`bench: stand-in weight ${calibration.weight.toFixed(2)} FIONREAD per LOCK or UNLOCK`
  + (calibration.driverPairNs ? ` (guest ${calibration.kernel}: LOCK+UNLOCK ${calibration.driverPairNs} ns,`
    + ` FIONREAD pair ${calibration.standinPairNs} ns: ${calibration.rawWeight.toFixed(2)}; less the stand-in's device work,`
    + ` ${calibration.deviceWorkNs} ns against a host FIONREAD pair of ${calibration.hostPairNs} ns)`
    : calibration.given ? ' (given)' : ' (uncalibrated: no guest)'));

// ---- host ------------------------------------------------------------------
console.log(`bench: host, ${reps} run(s)`);
const n = quick ? 20000 : 200000;
const standin = {
  KSHM_LIBRARY: join(repoRoot, 'native-shim', 'libkshm-standin.so'),
  KSHM_STANDIN_WEIGHT: String(calibration.weight),
};
const host = [];
/** Timed loops per P1 transaction figure, on both sides; the fastest counts (a shared host's noise only slows a loop). */
const P1_PASSES = 3;
for (let i = 0; i < reps; i++) {
  const c = (mode, ops, ...rest) => lastJson(sh('build/bench/baseline-standin', [mode, String(ops), ...rest], standin), mode).nsPerOp;
  // P1's transactions: the fastest of PASSES loops on each side (bench/host.ts does the same for the library).
  const best = (mode, ops, ...rest) => Math.min(...Array.from({ length: P1_PASSES }, () => c(mode, ops, ...rest)));
  host.push({
    c: {
      txn: best('txn-standin', n),
      txnFastInline: best('txn-fast', n),
      txnLib: best('txn-lib', n, 'standin:1'),
      snapshot: c('snapshot', n * 5),
      snapshotMalloc: Object.fromEntries([1, 16, 256, 1024].map((pages) =>
        [pages, c('snapshot-malloc', Math.max(200, Math.floor((n * 2) / pages)), String(pages))])),
      snapshotMalloc8: c('snapshot-malloc', n * 2, '1', '8'),
    },
    limits: lastJson(sh('build/bench/limits', ['all', String(quick ? 20000 : 200000)]), 'limits'),
    lib: lastJson(sh(process.execPath, ['--expose-gc', 'dist/bench/host.js', String(n), ...(quick ? ['--quick'] : [])],
      standin), 'host.js'),
    standin: standinHost(i),
  });
}

/**
 * P3 and P4 at host speed: the shared stand-in (a FIFO futex queue and
 * commit wake-ups, see native-shim/standin.h), library next to C on libkshm.
 */
function standinHost(i) {
  const name = `bench-${process.pid}-${i}`;
  const clean = () => rmSync(`/dev/shm/kshm-standin-${name}`, { force: true })
    || rmSync(`/tmp/kshm-standin-${name}.fifo`, { force: true });
  clean();
  try {
    return lastJson(sh('timeout', ['300', process.execPath, 'dist/bench/guest.js', 'standin-host', ...(quick ? ['--quick'] : [])], {
      ...standin, KSHM_BENCH_DEVICE: `standin:1:${name}`,
      KSHM_BENCH_BASELINE: join(repoRoot, 'build', 'bench', 'baseline-standin'),
    }), 'standin-host');
  } finally {
    clean();
  }
}

// ---- guests ----------------------------------------------------------------
const guest = {};
const guestErrors = [];
for (const s of series) {
  guest[s] = [];
  for (let b = 0; b < boots; b++) {
    console.log(`bench: guest ${s}, boot ${b + 1}/${boots}`);
    try {
      // A full boot did not finish in 15 min on the shared host under load 10-14 (2026-11-26): 50 min.
      guest[s].push(lastJson(vm(s, [process.execPath, 'dist/bench/guest.js', ...(quick ? ['--quick'] : [])],
        { timeout: quick ? 600 : 3000 }), `guest ${s}`));
    } catch (e) {
      guestErrors.push(`${s} boot ${b + 1}: ${e.message}`);
      guest[s].push(null);
    }
  }
}

// Growth with the region's size: one boot per size (the module's pages= parameter).
const growth = [];
if (series.length > 0) {
  for (const pages of pagesList) {
    console.log(`bench: guest ${series[0]}, pages=${pages}`);
    try {
      growth.push({ pages, ...lastJson(vm(series[0], [process.execPath, 'dist/bench/growth.js'], { params: [`pages=${pages}`] }), 'growth') });
    } catch (e) {
      growth.push({ pages, error: e.message });
    }
  }
}

// ---- extra benchmark modules (bench/*.bench.mjs) ---------------------------
const extra = {};
const ctx = { quick, repoRoot, sh, vm, node: process.execPath };
for (const file of readdirSync(join(repoRoot, 'bench')).filter((f) => f.endsWith('.bench.mjs')).sort()) {
  const name = file.replace(/\.bench\.mjs$/, '');
  if (only.length > 0 && !only.includes(name)) continue;
  console.log(`bench: module ${file}`);
  try {
    const mod = await import(pathToFileURL(join(repoRoot, 'bench', file)).href);
    extra[name] = await mod.default(ctx);
  } catch (e) {
    extra[name] = { name, violations: [{ invariant: 'module', detail: `${file}: ${e.message}` }] };
  }
}

// ---- results -----------------------------------------------------------------
const violations = [
  ...guestErrors.map((detail) => ({ invariant: 'results', detail })),
  ...(series.length > 0 ? checkRun(guest, host) : host.flatMap((r, i) => checkHost(r, `host run ${i + 1}`))),
  ...Object.values(extra).flatMap((x) => x?.violations ?? []),
];
const results = {
  date: new Date().toISOString(),
  quick,
  provenance: {
    commit: commitAtStart,
    dirty: dirtyAtStart,
    node: process.version,
    qemu: firstLine('qemu-system-x86_64', ['--version']),
    kernels: Object.fromEntries(Object.entries(guest).map(([s, b]) => [s, [...new Set(b.map((r) => r?.kernel).filter(Boolean))]])),
    hostKernel: firstLine('uname', ['-r']),
    machine: `${cpus()[0]?.model ?? 'unknown cpu'}, ${cpus().length} cores`,
    runs: reps,
    boots,
    series,
    pages: pagesList,
    command: `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`,
    seconds: Math.round((Date.now() - started) / 1000),
    calibration,
  },
  violations,
  host,
  guest,
  growth,
  extra,
};
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
const { markdown, svg, headline } = render(results);
writeFileSync(join(outDir, 'chart.svg'), svg);
writeFileSync(quick ? join(outDir, 'BENCHMARKS.md') : join(repoRoot, 'BENCHMARKS.md'), markdown);
if (!quick) {
  const readme = join(repoRoot, 'README.md');
  writeFileSync(readme, readmeWith(readFileSync(readme, 'utf8'), headline, results));
}
console.log(markdown);
console.log(`bench: wrote ${join(outDir, 'results.json')} in ${results.provenance.seconds} s`);
if (violations.length > 0) {
  console.error(`bench: ${violations.length} invariant(s) violated:`);
  for (const v of violations) console.error(`  [${v.invariant}] ${v.detail}`);
  if (quick) process.exit(1);
} else {
  console.log('bench: every invariant holds');
}
