// The test harness itself: exit codes, kernel-trouble detection, timeouts,
// and that nothing is left running. Boots its own guests.
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const test = suite('harness: npm run vm');
const root = fileURLToPath(new URL('../../../', import.meta.url));
const vm = `${root}harness/vm.mjs`;
/** This spec's guests run in /tmp/kshm-vm-hspec...: npm test boots others beside them. */
const TAG = 'hspec';

function runVm(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [vm, '--no-build', ...args],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KSHM_VM_TAG: TAG } });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    child.on('close', (code) => resolve({ code, out }));
  });
}

/**
 * The qemu and virtiofsd processes of this spec's guests (others may run
 * guests of other checkouts on the same machine, and npm test its other
 * guests meanwhile): those of every run directory of this spec's tag whose
 * virtiofsd shares this repository.
 */
function guestProcesses(): string[] {
  const r = spawnSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  const lines = r.stdout.split('\n').filter((l) => /qemu-system|virtiofsd/.test(l) && l.includes(`kshm-vm-${TAG}`));
  const runDir = (l: string): string | undefined => /kshm-vm-\w+/.exec(l)?.[0];
  const ours = new Set(lines.filter((l) => l.includes(`source=${root.replace(/\/$/, '')} `)).map(runDir));
  return lines.filter((l) => ours.has(runDir(l)));
}

/** Our guests' processes still there after a grace period (a SIGKILLed process takes a moment to go). */
async function leftBehind(): Promise<string[]> {
  for (let i = 0; i < 50 && guestProcesses().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  return guestProcesses();
}

test('the exit code of the command comes back (7.3, the newest kernel npm test boots)', async () => {
  const r = await runVm(['--kernel', '7.3', 'node', '-e', 'process.exit(3)']);
  assert.is(r.code, 3, r.out);
});

test('a command that succeeds exits 0 (6.1), in the repo, with node on PATH and the driver loaded', async () => {
  const r = await runVm(['--kernel', '6.1', 'sh', '-c', 'pwd; test -c /dev/kshm && echo has-device; node -p "1+1"']);
  assert.is(r.code, 0, r.out);
  assert.match(r.out, root.replace(/\/$/, ''));
  assert.match(r.out, 'has-device');
  assert.match(r.out, /^2$/m);
});

test('a kernel WARNING fails the run and shows the kernel message', async () => {
  const r = await runVm(['--kernel', '6.1', 'insmod', `${root}build/testmod/6.1/kshm_warn.ko`]);
  assert.is.not(r.code, 0);
  assert.match(r.out, /FAILED: the kernel logged trouble/);
  assert.match(r.out, /deliberate warning/);
});

test('the guest is stopped at the first kernel report, not left running to its timeout', async () => {
  const t0 = Date.now();
  const r = await runVm(['--kernel', '6.1', '--timeout', '240', 'sh', '-c',
    `insmod ${root}build/testmod/6.1/kshm_warn.ko; sleep 600`]);
  assert.is.not(r.code, 0);
  assert.match(r.out, /FAILED: the kernel logged trouble/);
  assert.ok(Date.now() - t0 < 120_000, `took ${Date.now() - t0} ms`);
  assert.equal(await leftBehind(), []);
});

test('a timeout fails the run, and no qemu or virtiofsd is left behind', async () => {
  const r = await runVm(['--kernel', '6.1', '--timeout', '8', 'sleep', '60']);
  assert.is.not(r.code, 0);
  assert.match(r.out, /timeout after 8 s/);
  assert.equal(await leftBehind(), []);
});

test('--load loads modules after kshm with their parameters; --param takes lists; both are unloaded after (6.1)', async () => {
  const r = await runVm(['--kernel', '6.1', '--param', 'regions=a:1,b:4:tick_ms=5', '--load', 'kshm_sample period_ms=7',
    'sh', '-c', 'test -c /dev/kshm/a && test -c /dev/kshm/b && test -c /dev/kshm/sample && echo nodes-ok; '
      + 'cat /sys/module/kshm_sample/parameters/period_ms /sys/class/misc/kshm!b/region/tick_ms']);
  assert.is(r.code, 0, r.out);
  assert.match(r.out, 'nodes-ok');
  assert.match(r.out, /^7\n5$/m);
});

test('regions= with an unknown key: kshm does not load, and the kernel log says why (6.1)', async () => {
  const r = await runVm(['--kernel', '6.1', '--param', 'regions=a:1,b:2:bogus=4', 'true']);
  assert.is.not(r.code, 0);
  assert.match(r.out, /module did not load/);
  assert.match(r.out, /regions=: region b: unknown key 'bogus' \(known: tick_ms/);
});

test('a --load module that cannot be unloaded after the command fails the run', async () => {
  // (the command unloads it itself: the harness's own rmmod then fails)
  const r = await runVm(['--kernel', '6.1', '--load', 'kshm_sample', '/kshm/busybox', 'rmmod', 'kshm_sample']);
  assert.is.not(r.code, 0);
  assert.match(r.out, /kshm_sample did not unload/);
});

test('bad arguments are refused with usage', async () => {
  for (const load of ['no_such_module', 'kshm_sample period_ms=$(reboot)', '../../etc/passwd.ko']) {
    const r = await runVm(['--kernel', '6.1', '--load', load, 'true']);
    assert.is(r.code, 2, load);
    assert.match(r.out, /usage|--load/);
  }
  const r = await runVm(['--smp', 'x', 'true']);
  assert.is(r.code, 2);
  assert.match(r.out, /usage/);
  const r2 = await runVm(['--kernel', '5.10', 'true']);
  assert.is.not(r2.code, 0);
  assert.match(r2.out, /unknown kernel series/);
});

test.run();
