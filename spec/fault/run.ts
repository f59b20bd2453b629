// The fault and fuzz suite (guest, both kernels; part of npm test). Bounded:
// 10 s of fuzzing by default, KSHM_FAULT_SECONDS=60 (or more) for longer runs.
// Seeds are printed, and can be fixed with KSHM_SEED, to reproduce a failure.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const test = suite('fault and fuzz');
const root = fileURLToPath(new URL('../../../', import.meta.url));
const fuzz = `${root}build/spec-c/fuzz`;
const seconds = Number(process.env['KSHM_FAULT_SECONDS'] ?? 10);
const seed = Number(process.env['KSHM_SEED'] ?? Date.now() % 1000003);
// KSHM_DEVICE: another region (e.g. /dev/kshm/b) for the C programs; the
// node chaos run stays on the default region's suite.
const region = process.env['KSHM_DEVICE'];
const on = region ? ` on ${region}` : '';

function run(cmd: string, args: string[], limitS: number): { code: number | null; out: string } {
  const r = spawnSync('timeout', ['--kill-after=5', String(limitS), cmd, ...args], { encoding: 'utf8', cwd: root });
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  return { code: r.status, out: r.stdout };
}

test(`syscall fuzzer${on}: ${seconds} s, 6 processes, random kills (seed ${seed})`, () => {
  const r = run(fuzz, ['fuzz', String(seconds), '6', String(seed)], seconds + 60);
  assert.is(r.code, 0, `fuzz failed: rerun with KSHM_SEED=${seed}`);
});

test(`crash recovery${on}: writers killed mid-transaction, no finished commit lost (seed ${seed})`, () => {
  for (let round = 0; round < (region ? 1 : 3); round++) {
    const r = run(fuzz, ['recovery', '12', '150', String(seed + round)], 120);
    assert.is(r.code, 0, `recovery failed: rerun with KSHM_SEED=${seed}`);
  }
});

for (const path of region ? ['ioctl'] as const : ['ioctl', 'fast'] as const) {
  test(`hostile user${on} (lock by ${path === 'fast' ? 'CAS on the word' : 'ioctl'}): garbage, header attacks, never unlocks; everyone else times out cleanly`, () => {
    const r = run(fuzz, ['hostile', '2', ...(path === 'fast' ? ['fast'] : [])], 60);
    assert.is(r.code, 0);
  });
}

for (const k of region ? [] : [0, 1]) {
  test(`node chaos: random subscribe/unsubscribe/close interleavings (seed ${seed + k})`, () => {
    const r = run(process.execPath, [fileURLToPath(new URL('./chaos.js', import.meta.url)), String(seed + k), '1500'], 120);
    assert.is(r.code, 0, `exit ${r.code}: the process did not finish by itself (rerun: node dist/spec/fault/chaos.js ${seed + k})`);
    const result = JSON.parse(r.out.trim().split('\n').at(-1) ?? '{}') as { locked: boolean; waiters: number };
    assert.is(result.locked, false, `seed ${seed + k}: lock left held`);
    assert.is(result.waiters, 0, `seed ${seed + k}: waiters left`);
  });
}

test.run();
