// SPDX-License-Identifier: MIT
// Issue 22's events figures as a bench module (bench/events.mjs boots its own
// guest and measures): records/s and wake-ups per record, the library next to
// a C reader of the same ring in the same boot. Speed only: --quick skips it.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export default async function events({ quick, repoRoot, node }) {
  if (quick) return { name: 'events', rows: [] };
  const r = spawnSync('timeout', ['1200', node, join(repoRoot, 'bench/events.mjs'), '--kernel', '6.12'],
    { cwd: repoRoot, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`bench/events.mjs exited ${r.status}: ${(r.stderr ?? '').slice(-400)}`);
  const { results } = JSON.parse(readFileSync(join(repoRoot, 'build/bench/events.json'), 'utf8'));
  const pair = (scenario) => ['library', 'c'].map((who) => results.find((x) => x.scenario === scenario && (x.reader === who)));
  const rows = [];
  for (const scenario of [...new Set(results.map((x) => x.scenario))]) {
    const [lib, c] = pair(scenario);
    if (!lib || !c) continue;
    const cell = (x) => `${x.readRate} rec/s, ${x.lost} lost, ${x.wakeupsPerRecord} wake-ups/rec`;
    rows.push([`events: ${scenario}`, cell(lib), cell(c), 'same boot, ring 4096']);
  }
  return { name: 'events', rows, raw: results };
}
