#!/usr/bin/env node
// npm test [-- --host-only] [-- --kernel SERIES]...
// npm run test:debug              (= node harness/test.mjs --debug)
//
// 1. checks the machine has what guests need (installs it as root with apt),
// 2. type-checks and compiles (tsc), builds libkshm and the C tests,
// 3. provisions the kernels and builds the driver for each (W=1, sparse),
// 4. runs the host specs (fake device, units, libkshm without a device under
//    valgrind and ASan), and the packaging spec (npm pack, install the
//    tarball into an app, use it),
// 5. runs the guest suite on each kernel (with the installed package on the
//    real driver), a second boot per kernel with named regions, the DKMS spec
//    (dkms build, its module in guests) and the harness's own spec, two at a
//    time (the 2 host cores run one TCG guest each),
// then prints every run's output, and last one line "N passed, N failed"
// summed over all runs. Exits non-zero on any failure.
//
// The kernels: npm test boots the oldest and the newest production kernels
// (6.1, 7.3); --debug boots the KASAN + lockdep debug kernel (built from
// Debian's 6.12 source on first use) beside Debian's production 6.12, and
// proves with the test module that the debug checkers' reports fail a run.
// The host specs run in npm test only.
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './kernels.mjs';
import { ensureGuestTools, ensurePackagingTools } from './tools.mjs';

const args = process.argv.slice(2);
const hostOnly = args.includes('--host-only');
const debug = args.includes('--debug');
const kernels = args.flatMap((a, i) => (args[i - 1] === '--kernel' ? [a] : []));
const series = kernels.length > 0 ? kernels : debug ? ['6.12-debug', '6.12'] : ['6.1', '7.3'];
const env = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
const uvu = join(repoRoot, 'node_modules', 'uvu', 'bin.js');

const runs = [];
/** Suites still running: a signal to npm test is passed on to them (and so to the guests). */
const running = new Set();
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    for (const child of running) child.kill('SIGTERM');
    process.exit(130);
  });
}
// Every suite's output also goes to a log as it comes (a hung guest still leaves its trace).
const logDir = join(repoRoot, 'build', 'test-logs');

function step(title, cmd, cmdArgs, opts = {}) {
  console.log(`\n== ${title}`);
  const r = spawnSync(cmd, cmdArgs, { cwd: repoRoot, stdio: 'inherit', env, ...opts });
  if (r.status !== 0) {
    console.error(`\n${title} failed: stopping here.`);
    console.log('\n0 passed, 1 failed');
    process.exit(1);
  }
}

/** Runs a test command, capturing its output for the totals. */
function runSuite(title, cmd, cmdArgs, { limit = 600, stream = true } = {}) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn('timeout', ['--kill-after=10', String(limit), cmd, ...cmdArgs],
      { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    mkdirSync(logDir, { recursive: true });
    const log = join(logDir, `${title.replace(/[^a-z0-9.]+/gi, '-').toLowerCase()}.log`);
    writeFileSync(log, '');
    let out = '';
    const onData = (d) => {
      out += d;
      appendFileSync(log, d);
      if (stream) process.stdout.write(d);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    if (stream) console.log(`\n== ${title}`);
    child.on('close', (code, signal) => {
      running.delete(child);
      const run = { title, out, code: code ?? 128, signal, seconds: (Date.now() - started) / 1000 };
      runs.push(run);
      if (!stream) console.log(`\n== ${title}\n${out}`);
      resolve(run);
    });
  });
}

/** Sums every uvu-style totals block in an output. */
function totals(out) {
  let total = 0;
  let passed = 0;
  let skipped = 0;
  const re = /Total:\s+(\d+)\s*\n\s*Passed:\s+(\d+)\s*\n\s*Skipped:\s+(\d+)/g;
  for (const m of out.matchAll(re)) {
    total += Number(m[1]);
    passed += Number(m[2]);
    skipped += Number(m[3]);
  }
  return { total, passed, skipped };
}

async function main() {
  const t0 = Date.now();
  ensurePackagingTools();
  if (!hostOnly) ensureGuestTools();
  step('type-check and compile (tsc)', process.execPath, [join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', '.']);
  step('libkshm and C tests', 'sh', ['-c', 'make -s -C native-shim && make -s -C spec/c']);
  if (!hostOnly) {
    step('kernels', 'bash', [join(repoRoot, 'harness/provision-kernels.sh'), ...series]);
    step('driver build (W=1, sparse)', process.execPath, [join(repoRoot, 'harness/build-driver.mjs'), ...series]);
  }

  if (!debug) {
    await runSuite('host specs (uvu)', process.execPath, [uvu, 'dist/spec/host', '\\.spec\\.js$'], { limit: 300 });
    await runSuite('libkshm without a device (valgrind)', 'valgrind',
      ['-q', '--error-exitcode=9', '--leak-check=full', '--errors-for-leak-kinds=definite', 'build/spec-c/shim_test']);
    await runSuite('libkshm without a device (ASan, UBSan)', 'sh', ['-c',
      'make -s -C spec/c asan && ASAN_OPTIONS=detect_leaks=1 build/spec-c/asan/shim_test']);
    await runSuite('libkshm over the host stand-in (contended path)', 'build/spec-c/standin_test', []);
    await runSuite('libkshm over the host stand-in, spin budget of seconds', 'build/spec-c/standin_longspin_test', []);
    // Leaves the installed app in build/package-app for the guests.
    await runSuite('packaging: npm pack, npm install --ignore-scripts, use (uvu)', process.execPath,
      [uvu, 'dist/spec/package', 'package\\.spec\\.js$'], { limit: 300 });
    env.KSHM_PACKAGE_REQUIRED = '1'; // the guests run the installed package's check
  }

  if (!hostOnly) {
    // Two at a time (the 2 host cores run one TCG guest each), in this order, each
    // worker taking the next job when its last one ends: the guest suite of each
    // kernel, a second boot per kernel with named regions, the DKMS spec (its own
    // guests), the harness's own spec (its own guests; it tags them, so the
    // others' guests do not count as left behind). The debug kernel runs
    // everything several times slower (KASAN, lockdep, SLUB debug).
    const jobs = [];
    for (const s of series) {
      // test:debug's production guest also runs the EVENTS adversary suite (--long).
      const limit = s.endsWith('-debug') ? 1800 : debug ? 1200 : 900;
      jobs.push(() => runSuite(`guest ${s}`, process.execPath,
        [join(repoRoot, 'harness/vm.mjs'), '--kernel', s, '--smp', '2', '--no-build', '--timeout', String(limit),
          // EVENTS: /dev/kshm with a ring of 4096 records (events_test, the events contract)
          '--param', 'ring=4096', process.execPath, 'harness/guest-suite.mjs', ...(debug ? ['--long'] : [])],
        { limit: limit + 60, stream: false }));
    }
    for (const s of series) {
      // A second boot with named regions (/dev/kshm is then their directory).
      const rlimit = s.endsWith('-debug') ? 900 : 400;
      jobs.push(() => runSuite(`guest ${s} regions=a:1,b:4`, process.execPath,
        [join(repoRoot, 'harness/vm.mjs'), '--kernel', s, '--smp', '2', '--no-build', '--timeout', String(rlimit),
          '--param', 'regions=a:1,b:4', process.execPath, 'harness/guest-suite.mjs', '--regions'],
        { limit: rlimit + 60, stream: false }));
    }
    if (!debug) {
      jobs.push(() => runSuite('driver packaging: dkms build, its module in guests (uvu)', process.execPath,
        [uvu, 'dist/spec/package', 'dkms\\.spec\\.js$'], { limit: 400, stream: false }));
    }
    if (existsSync(join(repoRoot, 'dist/spec/harness'))) {
      jobs.push(() => runSuite('harness specs (boots its own guests)', process.execPath,
        [uvu, 'dist/spec/harness', debug ? 'debug\\.spec\\.js$' : 'vm\\.spec\\.js$'], { limit: 600, stream: false }));
    }
    const worker = async () => {
      for (let job = jobs.shift(); job; job = jobs.shift()) await job();
    };
    await Promise.all([worker(), worker()]);
  }

  let passed = 0;
  let failed = 0;
  console.log('\n== summary');
  for (const r of runs) {
    const t = totals(r.out);
    let f = t.total - t.passed;
    // A run that failed without a failing test (a crash, a timeout, a
    // kernel warning) still counts as one failure.
    if (r.code !== 0 && f === 0) f = 1;
    passed += t.passed;
    failed += f;
    console.log(`${r.code === 0 ? 'ok  ' : 'FAIL'} ${r.title}: ${t.passed} passed, ${f} failed (${r.seconds.toFixed(1)} s)`);
  }
  console.log(`total time ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`\n${passed} passed, ${failed} failed`);
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
}

await main();
