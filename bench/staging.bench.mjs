// SPDX-License-Identifier: MIT
// Issue 19's staging figures as a bench module (bench/staging.mjs does the
// measuring): a staged 64 B commit against an in-place one on the host
// stand-in, and a new subscriber's first snapshot during a 5 s lease against
// a poll wake in a guest. Speed only: --quick skips it (no invariant here).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

/** The first JSON line of a run of bench/staging.mjs (it exits 1 on a missed goal: that is a figure, not an error). */
function run(repoRoot, node, args) {
  const r = spawnSync('timeout', ['900', node, ...args], { cwd: repoRoot, encoding: 'utf8', maxBuffer: 64 << 20 });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('{'));
  if (!line) throw new Error(`${args.join(' ')}: no JSON (exit ${r.status}): ${(r.stderr ?? '').slice(-400)}`);
  return JSON.parse(line);
}

export default async function staging({ quick, repoRoot, node }) {
  if (quick) return { name: 'staging', rows: [] };
  const host = run(repoRoot, node, [join(repoRoot, 'bench/staging.mjs')]);
  const guest = run(repoRoot, node, [join(repoRoot, 'harness/vm.mjs'), '--kernel', '6.12', '--smp', '2', '--no-build',
    '--timeout', '600', node, join(repoRoot, 'bench/staging.mjs'), 'guest']);
  return stagingResult(host, guest);
}

/** What the module returns for bench/staging.mjs's host and guest results (bench/report.mjs renders it). */
export function stagingResult(host, guest) {
  const ns = (x) => `${x.toFixed(0)} ns`;
  const ms = (x) => `${x.median.toFixed(1)} ms (max ${x.max.toFixed(1)})`;
  // The in-place loop is a part of what the API's synchronous transaction does (that adds the
  // Observable and the queue): slower than it, the loop measures something the device does not
  // do (it once allocated an undo log per commit: 1562 ns against the API's ~220).
  const violations = ['fastPath', 'ioctlPath'].filter((k) => !(host[k].inPlaceCommitNs <= host[k].api.syncTransactionNs)).map((k) => ({
    invariant: 'staging',
    detail: `${k}: the in-place commit loop took ${ns(host[k].inPlaceCommitNs)}, more than the whole synchronous transaction `
      + `through the API (${ns(host[k].api.syncTransactionNs)}): it does not measure what the device does`,
  }));
  // Both columns are the library: what is measured (left) against what it is compared with (right).
  return {
    name: 'staging',
    columns: ['measured', 'compared with'],
    rows: [
      ['staged 64 B commit (left) vs in-place commit (right), library, fast path (host stand-in)', ns(host.fastPath.stagedCommitNs), ns(host.fastPath.inPlaceCommitNs), `${host.fastPath.ratio.toFixed(2)}x, goal <= 1.5x`],
      ['staged 64 B commit (left) vs in-place commit (right), library, ioctl path (host stand-in)', ns(host.ioctlPath.stagedCommitNs), ns(host.ioctlPath.inPlaceCommitNs), `${host.ioctlPath.ratio.toFixed(2)}x, goal <= 1.5x`],
      ['a new subscriber\'s first snapshot during a 5 s lease (left) vs a commit\'s poll wake (right), library, fast path (guest 6.12)', ms(guest.fastPath.firstSnapshotDuringLeaseMs), ms(guest.fastPath.pollWakeMs), 'goal: within one poll wake'],
      ['a new subscriber\'s first snapshot during a 5 s lease (left) vs a commit\'s poll wake (right), library, ioctl path (guest 6.12)', ms(guest.ioctlPath.firstSnapshotDuringLeaseMs), ms(guest.ioctlPath.pollWakeMs), 'goal: within one poll wake'],
    ],
    headline: [
      // A number: bench/report.mjs formats it (a string would render as n/a).
      ['staged 64 B commit / in-place commit (host), worse of the fast and ioctl paths', Math.max(host.fastPath.ratio, host.ioctlPath.ratio), '<= 1.5', 'host stand-in'],
    ],
    violations,
    raw: { host, guest },
  };
}
