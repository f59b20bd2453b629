// The debug kernel's checkers fail a run: each family of report (KASAN,
// lockdep, atomic sleep, UBSAN, refcount) is provoked by the test-only module
// harness/testmod/kshm_fault.c and must make `npm run vm` exit non-zero with
// the report shown, while a clean run on the same kernel passes. Run by
// `npm run test:debug`.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const test = suite('harness: the debug kernel (6.12-debug) catches every family');
const root = fileURLToPath(new URL('../../../', import.meta.url));
const vm = `${root}harness/vm.mjs`;
const faultKo = `${root}build/testmod/6.12-debug/kshm_fault.ko`;

interface Run { code: number | null; out: string }

function runVm(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [vm, '--no-build', '--kernel', '6.12-debug', '--smp', '2', ...args],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    child.on('close', (code) => resolve({ code, out }));
  });
}

/** Boots at most two guests at once (one per host core); each test awaits its own. */
const queue: (() => void)[] = [];
let active = 0;
function boot(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const start = () => {
      active++;
      void runVm(args).then((r) => {
        active--;
        queue.shift()?.();
        resolve(r);
      });
    };
    if (active < 2) start();
    else queue.push(start);
  });
}

const families: [mode: string, what: string, report: RegExp][] = [
  ['uaf', 'KASAN (use after free)', /BUG: KASAN: slab-use-after-free/],
  ['oob', 'KASAN (out of bounds)', /BUG: KASAN: slab-out-of-bounds/],
  ['inversion', 'lockdep (lock inversion)', /possible circular locking dependency/],
  ['sleep', 'DEBUG_ATOMIC_SLEEP', /sleeping function called from invalid context/],
  ['bounds', 'UBSAN (array bounds)', /UBSAN: array-index-out-of-bounds/],
  ['refcount', 'refcount_t', /refcount_t: /],
];
// Start every boot now: they run two at a time while the tests wait in order.
const clean = boot(['sh', '-c', 'grep -c . /proc/modules; node -e "process.exit(0)"']);
const runs = new Map(families.map(([mode]) => [mode, boot(['insmod', faultKo, `mode=${mode}`])]));

test('a clean run on the debug kernel passes, with kshm loaded', async () => {
  const r = await clean;
  assert.is(r.code, 0, r.out);
});

for (const [mode, what, report] of families) {
  test(`${what} fails the run and shows the report (kshm_fault mode=${mode})`, async () => {
    const r = await runs.get(mode)!;
    assert.is.not(r.code, 0, r.out);
    assert.match(r.out, /FAILED: the kernel logged trouble/);
    assert.match(r.out, report);
  });
}

test.run();
