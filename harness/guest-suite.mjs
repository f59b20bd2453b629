#!/usr/bin/env node
// Runs inside a test guest (npm test boots one per kernel): every suite that
// needs the real driver, one after another, each under a time limit. Prints
// each suite's totals (uvu's format); exits non-zero if any suite failed.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { bundleRxjs } from './guest-rxjs.mjs';
import { repoRoot } from './kernels.mjs';

const quick = process.env.KSHM_QUICK === '1';
// --regions: the guest booted kshm with regions=a:1,b:4 (harness/test.mjs's
// second boot per kernel): only the suites about regions, which need it.
const regions = process.argv.includes('--regions');
// --long: test:debug's production guest also runs the slow EVENTS adversary suite.
const long = process.argv.includes('--long');
// The debug kernel (KASAN, lockdep, SLUB debugging) makes every syscall
// several times slower: vm.mjs sets KSHM_TIME_SCALE there, and every limit
// scales with it (test assertions never depend on speed).
const scale = Number(process.env.KSHM_TIME_SCALE ?? 1);
const suites = regions ? [
  ['regions (C, regions=a:1,b:4)', [join(repoRoot, 'build/spec-c/regions_test')], 180],
  ['regions: the library and the sample producer module (uvu)',
    [process.execPath, join(repoRoot, 'harness/uvu-timed.mjs'), 'dist/spec/regions', '\\.spec\\.js$'], 300],
  // The fault suite's fuzzer, recovery and hostile user on the second region.
  ['fault suite on a second region (/dev/kshm/b)', [process.execPath, join(repoRoot, 'dist/spec/fault/run.js')], 300,
    { KSHM_DEVICE: '/dev/kshm/b', KSHM_FAULT_SECONDS: process.env.KSHM_FAULT_SECONDS ?? '5' }],
] : [
  ['driver (C, raw ABI)', [join(repoRoot, 'build/spec-c/driver_test')], 300],
  ['driver vs hostile users (C)', [join(repoRoot, 'build/spec-c/hostile_test')], 180],
  // Written from the uapi header alone, as an attacker would (every promise
  // it makes); its many timed waits are left to the production kernels.
  // Its 35 s of timed waits under signals (hostile_test has the short checks) run with --long only.
  ...(scale > 1 ? [] : [['driver vs the uapi header (C, adversary)',
    [join(repoRoot, 'build/spec-c/adversary_test'), ...(long ? [] : ['--skip', 'signals'])], 300]]),
  ['libkshm (C)', [join(repoRoot, 'build/spec-c/shim_test')], 120],
  // EVENTS: needs kshm loaded with ring=4096 (npm test's guests are).
  ['events (C: the ring, hardirq producers)', [join(repoRoot, 'build/spec-c/events_test')], 240],
  // EVENTS from the uapi header alone (~150 s under TCG; timed waits: production kernels only).
  // npm test leaves it to test:debug's production guest (--long), to stay near 5 min.
  // Not here: spec/c/adversary_events_limits.sh (reloads the module: run it with --no-module,
  // see its first lines) and the 32-bit caller (make -C spec/c compat32, then
  // npm run vm -- --kernel 7.3 --smp 2 --param ring=4096 build/spec-c/adversary_events_compat32).
  ...(scale > 1 || !long ? [] : [['events vs the uapi header (C, adversary)', [join(repoRoot, 'build/spec-c/adversary_events_test')], 300]]),
  // A second attacker's test from the uapi header alone (session 9: 39 cases, as uid 65534, the ticker
  // off for its run); test:debug's production guest (--long), with the other long adversary.
  ...(scale > 1 || !long ? [] : [['driver vs the uapi header (C, attack: an unprivileged user)', [join(repoRoot, 'build/spec-c/attack_test')], 400]]),
  // 420 s: the staging spec (issue 19: two processes around 2 s leases, both paths) joined the
  // group, which took ~260 s under a shared machine's load before it.
  ['lib specs (uvu)', [process.execPath, join(repoRoot, 'harness/uvu-timed.mjs'), 'dist/spec/guest', '\\.spec\\.js$'], 420],
  ['regions (C, kshm alone: the default region\'s node moves)', [join(repoRoot, 'build/spec-c/regions_test')], 60],
];
if (!quick && !regions) {
  suites.push(['fault suite', [process.execPath, join(repoRoot, 'dist/spec/fault/run.js')], 300]);
}
// The npm package as an app installed it (the host's packaging spec,
// spec/package, leaves that project in build/package-app): its own copy of
// kshm and its prebuilt libkshm against the real driver. npm test requires it.
const packageApp = join(repoRoot, 'build/package-app/device.mjs');
if (regions) {
  // (the package's check runs in the main boot)
} else if (existsSync(packageApp) || process.env.KSHM_PACKAGE_REQUIRED === '1') {
  suites.push(['installed npm package (build/package-app)', [process.execPath, packageApp], 120]);
} else {
  console.log('\n### installed npm package: not installed (run the packaging spec first), skipped');
}

// Every node process below loads rxjs from one file instead of 235 (3.5 s each under TCG).
console.log(bundleRxjs(repoRoot));
let failed = 0;
for (const [name, cmd, limit, env = {}] of suites) {
  console.log(`\n### ${name}`);
  const script = cmd.find((c) => c.endsWith('.js'));
  if (script && !existsSync(script)) {
    console.log(`### ${name}: not built (${script}), skipped`);
    continue;
  }
  const t0 = Date.now();
  const r = spawnSync('timeout', ['--kill-after=5', String(Math.ceil(limit * scale)), ...cmd], {
    cwd: repoRoot, stdio: 'inherit', env: { ...process.env, NO_COLOR: '1', ...env },
  });
  console.log(`### ${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  if (r.status !== 0) {
    failed++;
    console.log(`### ${name}: FAILED (exit ${r.status ?? r.signal}${r.status === 124 ? ', timed out' : ''})`);
  }
}
process.exit(failed ? 1 : 0);
