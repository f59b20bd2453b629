// The kshm CLI and the demo against the driver: the real bin as a process
// (smoke tests), and the whole CLI contract in-process (spec/contract/cli-contract.ts).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../../cli/main.js';
import { openDevice } from '../../lib/index.js';
import { ABI_VERSION } from '../../lib/abi.js';
import { cliContract } from '../contract/cli-contract.js';

const test = suite('kshm CLI: the real bin');
const cli = fileURLToPath(new URL('../../cli/kshm.js', import.meta.url));
const demo = fileURLToPath(new URL('../../cli/demo.js', import.meta.url));

interface Result { code: number | null; out: string; err: string }

function run(args: string[], opts: {
  script?: string; killAfterMs?: number; signal?: NodeJS.Signals; onOut?: (s: string) => void; uid?: number;
} = {}): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [opts.script ?? cli, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
      ...(opts.uid === undefined ? {} : { uid: opts.uid, gid: opts.uid }),
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
      opts.onOut?.(out);
    });
    child.stderr.on('data', (d) => { err += d; });
    const timer = opts.killAfterMs ? setTimeout(() => child.kill(opts.signal ?? 'SIGINT'), opts.killAfterMs) : undefined;
    const hard = setTimeout(() => child.kill('SIGKILL'), 60000);
    child.on('close', (code) => {
      clearTimeout(timer);
      clearTimeout(hard);
      resolve({ code, out, err });
    });
  });
}

/** The CLI in this process (fast: no node start-up in the guest). */
async function kshm(args: string[], onOut?: (s: string) => void): Promise<Result> {
  let out = '';
  let err = '';
  const code = await main(args, {
    out: (t) => { out += t; onOut?.(out); },
    err: (t) => { err += t; },
    isTTY: false,
  });
  return { code, out, err };
}

test('info: plain text from the real bin (not a TTY)', async () => {
  const plain = await run(['info']);
  assert.is(plain.code, 0, plain.err);
  assert.match(plain.out, new RegExp(`abi version\\s+${ABI_VERSION}`));
  assert.match(plain.out, /generation\s+\d+/);
  assert.not.match(plain.out, /\x1b\[/); // no ANSI when stdout is not a TTY
});

test('lock --hold in another process makes writers time out; SIGINT releases', async () => {
  let started!: () => void;
  const holding = new Promise<void>((r) => { started = r; });
  const holder = run(['lock', '--hold', '60000'], {
    onOut: (s) => { if (s.includes('holding')) started(); },
  });
  await holding;
  const blocked = await kshm(['write', '0', '1', '--timeout', '50']);
  assert.is(blocked.code, 1);
  assert.match(blocked.err, /not granted within 50 ms/);
  const device = await openDevice();
  assert.is(device.info().locked, true);
  const killer = spawn('pkill', ['-INT', '-f', 'kshm.js lock --hold 60000']);
  await new Promise((r) => killer.on('close', r));
  const h = await holder;
  assert.is(h.code, 130);
  assert.is(device.info().locked, false);
  assert.is(device.info().waiters, 0);
  device.close();
  const short = await kshm(['lock', '--hold', '10', '--json']);
  assert.is(short.code, 0);
  assert.equal(short.out.trim().split('\n').map((l) => Object.keys(JSON.parse(l) as object)[0]), ['held', 'released']);
});

test('permission denied: exit 1, and the message names the group to join', async () => {
  for (const args of [['info'], ['watch', '--count', '1'], ['write', '0', '1']]) {
    const r = await run(args, { uid: 65534 });
    assert.is(r.code, 1, `kshm ${args.join(' ')}: ${r.err}`);
    assert.match(r.err, /^kshm: permission denied opening \/dev\/kshm: join the kshm group/);
    assert.not.match(r.err, /^\s+at /m);
  }
});

test('works from any working directory', async () => {
  const anywhere = await new Promise<Result>((resolve) => {
    const child = spawn(process.execPath, [cli, 'info', '--json'], { cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.on('close', (code) => resolve({ code, out, err: '' }));
  });
  assert.is(anywhere.code, 0);
  assert.is((JSON.parse(anywhere.out) as { abiVersion: number }).abiVersion, ABI_VERSION);
});

test('the demo runs, keeps its books balanced and stops after --duration', async () => {
  const r = await run(['--duration', '2'], { script: demo });
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /^kshm demo on \/dev\/kshm/);
  assert.match(r.out, /stopped: \d+ snapshots checked, 0 broken/);
  const device = await openDevice();
  const info = device.info();
  device.close();
  assert.is(info.locked, false);
  assert.is(info.tickMs, 0); // restored
});

test.run();

cliContract('driver', { open: openDevice });
