/**
 * The CLI contract: every behaviour of `kshm` (cli/main.ts), run in-process
 * through main() with a device opener: against the fake on the host, the
 * driver in the guest. Tests share one region, so each uses its own offsets.
 */
import { lastValueFrom } from 'rxjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { main, type DeviceOpener } from '../../cli/main.js';
import { ABI_VERSION } from '../../lib/abi.js';
import type { Device } from '../../lib/index.js';

export interface CliTarget {
  /** What main() opens devices with (a path other than /dev/kshm: DeviceNotFoundError). */
  open: DeviceOpener;
}

interface Result { code: number; out: string; err: string }

export function cliContract(name: string, target: CliTarget): void {
  const test = suite(`CLI contract: ${name}`);
  const other = (): Promise<Device> => target.open('/dev/kshm', {});

  /** The CLI in this process, not a TTY unless asked. */
  async function kshm(args: string[], onOut?: (s: string) => void, isTTY = false): Promise<Result> {
    let out = '';
    let err = '';
    const code = await main(args, {
      out: (t) => { out += t; onOut?.(out); },
      err: (t) => { err += t; },
      isTTY,
    }, target.open);
    return { code, out, err };
  }

  test('info: plain text without ANSI, and --json', async () => {
    const plain = await kshm(['info']);
    assert.is(plain.code, 0, plain.err);
    assert.match(plain.out, new RegExp(`abi version\\s+${ABI_VERSION}`));
    assert.match(plain.out, /generation\s+\d+/);
    assert.match(plain.out, /ticks skipped\s+\d+/);
    assert.not.match(plain.out, /\x1b\[/);
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
    const roundTrip = async (offset: string, as: string, value: string[], length: string): Promise<unknown[]> => {
      assert.is((await kshm(['write', offset, '--as', as, ...value])).code, 0);
      return (JSON.parse((await kshm(['dump', '--offset', offset, '--length', length, '--as', as, '--json'])).out) as { values: unknown[] }).values;
    };
    assert.equal(await roundTrip('104', 'i16', ['--', '-2'], '2'), [-2]);
    assert.equal(await roundTrip('112', 'f64', ['2.5'], '8'), [2.5]);
    assert.equal(await roundTrip('120', 'u64', ['18446744073709551615'], '8'), ['18446744073709551615']);
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
    const device = await other();
    let kicks: Promise<void> | undefined;
    const res = await kshm(['watch', '--offset', '300', '--length', '4', '--as', 'u32', '--count', '3'], () => {
      kicks ??= (async () => {
        for (let i = 1; i <= 2; i++) {
          await lastValueFrom(device.transaction((p) => p.setU32(300, i)));
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
    });
    await kicks;
    device.close();
    assert.is(res.code, 0, res.err);
    const lines = res.out.trim().split('\n');
    assert.is(lines.length, 3);
    for (const l of lines) assert.match(l, /^generation \d+ rate \d+\/s \d+$/);
    const json = await kshm(['watch', '--offset', '300', '--length', '4', '--as', 'u32', '--count', '1', '--json']);
    assert.type((JSON.parse(json.out) as { generation: number }).generation, 'number');
  });

  test('watch on a TTY redraws and highlights changed bytes', async () => {
    const device = await other();
    let kicked = false;
    const res = await kshm(['watch', '--offset', '320', '--length', '8', '--count', '2'], () => {
      if (kicked) return;
      kicked = true;
      device.transaction((p) => p.setU8(321, (p.u8(321) + 1) & 0xff)).subscribe();
    }, true);
    device.close();
    assert.is(res.code, 0, res.err);
    assert.match(res.out, /\x1b\[H\x1b\[2J/);
    assert.match(res.out, /\x1b\[7m[0-9a-f]{2}\x1b\[0m/);
  });

  test('lock --hold makes other writers time out; Ctrl-C releases (exit 130)', async () => {
    let started!: () => void;
    const holding = new Promise<void>((r) => { started = r; });
    const holder = kshm(['lock', '--hold', '60000'], (s) => { if (s.includes('holding')) started(); });
    await holding;
    const blocked = await kshm(['write', '0', '1', '--timeout', '50']);
    assert.is(blocked.code, 1);
    assert.match(blocked.err, /not granted within 50 ms/);
    const device = await other();
    assert.is(device.info().locked, true);
    process.emit('SIGINT');
    assert.is((await holder).code, 130);
    assert.is(device.info().locked, false);
    assert.is(device.info().waiters, 0);
    device.close();
    const short = await kshm(['lock', '--hold', '10', '--json']);
    assert.is(short.code, 0);
    assert.equal(short.out.trim().split('\n').map((l) => Object.keys(JSON.parse(l) as object)[0]), ['held', 'released']);
  });

  test('bad arguments: exit 2 with a message; help: exit 0 with the usage', async () => {
    for (const args of [
      [], ['frobnicate'], ['write'], ['write', '0'], ['write', 'x', '1'], ['write', '0', '300', '--as', 'u8'],
      ['write', '0', '1', '--as', 'u7'], ['dump', '--offset', '999999'], ['dump', '--length', '3', '--as', 'u32'],
      ['lock'], ['lock', '--hold', 'soon'], ['info', '--bogus'], ['write', '0', 'zz', '--as', 'hex'],
      ['write', '0', '1', '--timeout', '0'],
    ]) {
      const r = await kshm(args);
      assert.is(r.code, 2, `kshm ${args.join(' ')}: exit ${r.code}`);
      assert.ok(r.err.length > 0, `kshm ${args.join(' ')}: no message`);
    }
    for (const args of [['help'], ['--help']]) {
      const help = await kshm(args);
      assert.is(help.code, 0);
      for (const command of ['info', 'watch', 'dump', 'write', 'kwrite', 'lock']) {
        assert.match(help.out, new RegExp(`\\n  ${command} `));
      }
    }
  });

  test('read-only commands open the device read-only; writers open it read-write', async () => {
    const modes: string[] = [];
    const spy: DeviceOpener = (path, options) => {
      modes.push(`${options.readOnly ? 'ro' : 'rw'}`);
      return target.open(path, options);
    };
    for (const args of [['info'], ['dump', '--length', '4'], ['watch', '--count', '1'], ['write', '8', '1'],
      ['kwrite', '8', '1'], ['lock', '--hold', '1']]) {
      assert.is(await main(args, { out: () => {}, err: () => {}, isTTY: false }, spy), 0, args.join(' '));
    }
    assert.equal(modes, ['ro', 'ro', 'ro', 'rw', 'rw', 'rw']);
  });

  test('no device: exit 1 and how to get one', async () => {
    const r = await kshm(['info', '--device', '/dev/kshm-nope']);
    assert.is(r.code, 1);
    assert.match(r.err, /does not exist/);
    assert.match(r.err, /npm run vm/);
  });

  test.run();
}
