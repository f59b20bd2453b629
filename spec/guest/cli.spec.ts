// The kshm CLI and the demo, against the driver: output, --json, exit codes, errors.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { lastValueFrom } from 'rxjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../../cli/main.js';
import { openDevice } from '../../lib/index.js';
import { ABI_VERSION } from '../../lib/abi.js';

const test = suite('kshm CLI');
const cli = fileURLToPath(new URL('../../cli/kshm.js', import.meta.url));
const demo = fileURLToPath(new URL('../../cli/demo.js', import.meta.url));

interface Result { code: number | null; out: string; err: string }

function run(args: string[], opts: { script?: string; killAfterMs?: number; signal?: NodeJS.Signals; onOut?: (s: string) => void } = {}):
  Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [opts.script ?? cli, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
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

test('info: plain text (the real bin, not a TTY) and --json', async () => {
  const plain = await run(['info']);
  assert.is(plain.code, 0, plain.err);
  assert.match(plain.out, new RegExp(`abi version\\s+${ABI_VERSION}`));
  assert.match(plain.out, /generation\s+\d+/);
  assert.match(plain.out, /ticks skipped\s+\d+/);
  assert.not.match(plain.out, /\x1b\[/); // no ANSI when stdout is not a TTY
  const json = await kshm(['info', '--json']);
  assert.is(json.code, 0);
  const info = JSON.parse(json.out) as { abiVersion: number; pages: number; generation: number; counters: { commits: number } };
  assert.is(info.abiVersion, ABI_VERSION);
  assert.ok(info.pages >= 1);
  assert.type(info.generation, 'number');
  assert.type(info.counters.commits, 'number');
});

test('write under the lock, then dump it back in every format', async () => {
  const w = await kshm(['write', '100', '0xdeadbeef', '--as', 'u32', '--json']);
  assert.is(w.code, 0, w.err);
  const wrote = JSON.parse(w.out) as { generation: number; by: string };
  assert.is(wrote.by, 'user');
  const d = await kshm(['dump', '--offset', '100', '--length', '4', '--as', 'u32', '--json']);
  const dumped = JSON.parse(d.out) as { values: number[]; generation: number };
  assert.equal(dumped.values, [0xdeadbeef]);
  assert.ok(dumped.generation >= wrote.generation);
  assert.is((await kshm(['write', '104', '--as', 'i16', '--', '-2'])).code, 0);
  assert.equal((JSON.parse((await kshm(['dump', '--offset', '104', '--length', '2', '--as', 'i16', '--json'])).out) as { values: number[] }).values, [-2]);
  assert.is((await kshm(['write', '112', '2.5', '--as', 'f64'])).code, 0);
  assert.equal((JSON.parse((await kshm(['dump', '--offset', '112', '--length', '8', '--as', 'f64', '--json'])).out) as { values: number[] }).values, [2.5]);
  assert.is((await kshm(['write', '120', '18446744073709551615', '--as', 'u64'])).code, 0);
  assert.equal((JSON.parse((await kshm(['dump', '--offset', '120', '--length', '8', '--as', 'u64', '--json'])).out) as { values: string[] }).values, ['18446744073709551615']);
  assert.is((await kshm(['write', '96', '0', '--as', 'u32'])).code, 0);
  const hex = await kshm(['dump', '--offset', '96', '--length', '32']);
  assert.match(hex.out, /^generation \d+/);
  assert.match(hex.out, /000060  00 00 00 00 ef be ad de/);
});

test('kwrite asks the kernel', async () => {
  const k = await kshm(['kwrite', '200', 'hello kernel', '--as', 'utf8', '--json']);
  assert.is(k.code, 0, k.err);
  assert.is((JSON.parse(k.out) as { by: string }).by, 'kernel');
  const d = await kshm(['dump', '--offset', '200', '--length', '12', '--as', 'utf8', '--json']);
  assert.equal((JSON.parse(d.out) as { values: string[] }).values, ['hello kernel']);
});

test('watch prints one line per commit (plain, not a TTY) and --count stops it', async () => {
  const device = await openDevice();
  let kicks: Promise<void> | undefined;
  const r = kshm(['watch', '--offset', '300', '--length', '4', '--as', 'u32', '--count', '3'], () => {
      kicks ??= (async () => {
        for (let i = 1; i <= 2; i++) {
          await lastValueFrom(device.transaction((p) => p.setU32(300, i)));
          await new Promise((res) => setTimeout(res, 100));
        }
      })();
  });
  const res = await r;
  await kicks;
  device.close();
  assert.is(res.code, 0, res.err);
  const lines = res.out.trim().split('\n');
  assert.is(lines.length, 3);
  for (const l of lines) assert.match(l, /^generation \d+ rate \d+\/s \d+$/);
  const json = await kshm(['watch', '--offset', '300', '--length', '4', '--as', 'u32', '--count', '1', '--json']);
  assert.type((JSON.parse(json.out) as { generation: number }).generation, 'number');
});

test('lock --hold makes other writers time out; Ctrl-C releases', async () => {
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

test('bad arguments: exit 2 with a message', async () => {
  for (const args of [
    [], ['frobnicate'], ['write'], ['write', '0'], ['write', 'x', '1'], ['write', '0', '300', '--as', 'u8'],
    ['write', '0', '1', '--as', 'u7'], ['dump', '--offset', '999999'], ['dump', '--length', '3', '--as', 'u32'],
    ['lock'], ['lock', '--hold', 'soon'], ['info', '--bogus'], ['write', '0', 'zz', '--as', 'hex'],
  ]) {
    const r = await kshm(args);
    assert.is(r.code, 2, `kshm ${args.join(' ')}: exit ${r.code}`);
    assert.ok(r.err.length > 0, `kshm ${args.join(' ')}: no message`);
  }
  const help = await kshm(['help']);
  assert.is(help.code, 0);
  assert.match(help.out, /usage: kshm/);
});

test('works from any working directory; watch on a TTY highlights changed bytes', async () => {
  const anywhere = await new Promise<Result>((resolve) => {
    const child = spawn(process.execPath, [cli, 'info', '--json'], { cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.on('close', (code) => resolve({ code, out, err: '' }));
  });
  assert.is(anywhere.code, 0);
  assert.is((JSON.parse(anywhere.out) as { abiVersion: number }).abiVersion, ABI_VERSION);
  const device = await openDevice();
  let screen = '';
  let kicked = false;
  const watching = main(['watch', '--offset', '320', '--length', '8', '--count', '2'], {
    out: (t) => {
      screen += t;
      if (!kicked) {
        kicked = true;
        device.transaction((p) => p.setU8(321, (p.u8(321) + 1) & 0xff)).subscribe();
      }
    },
    err: () => {},
    isTTY: true,
  });
  assert.is(await watching, 0);
  device.close();
  assert.match(screen, /\x1b\[H\x1b\[2J/); // redraws
  assert.match(screen, /\x1b\[7m[0-9a-f]{2}\x1b\[0m/); // the changed byte, inverse
});

test('no device: exit 1 and how to get one', async () => {
  const r = await kshm(['info', '--device', '/dev/kshm-nope']);
  assert.is(r.code, 1);
  assert.match(r.err, /does not exist/);
  assert.match(r.err, /npm run vm/);
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
