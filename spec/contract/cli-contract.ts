/**
 * The CLI contract: every behaviour of `kshm` (cli/main.ts), run in-process
 * through main() with a device opener: against the fake on the host, the
 * driver in the guest. Tests share one region, so each uses its own offsets.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, lastValueFrom, type Subscription } from 'rxjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { main, type DeviceLister, type DeviceOpener } from '../../cli/main.js';
import { ABI_VERSION } from '../../lib/abi.js';
import { DeviceNotFoundError, type Device, type DeviceEntry } from '../../lib/index.js';

export interface CliTarget {
  /** What main() opens devices with (a path other than /dev/kshm: DeviceNotFoundError). */
  open: DeviceOpener;
  /** What main() lists regions with (default: the package's listDevices). */
  list?: DeviceLister;
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
    }, target.open, ...(target.list ? [target.list] : []));
    return { code, out, err };
  }

  /**
   * Runs a watch command while another device commits each of `values` as a
   * u32 at `offset`, 100 ms apart, starting once the watch printed its first line.
   */
  async function watchWhileWriting(args: string[], offset: number, values: number[]): Promise<Result> {
    const device = await other();
    let kicks: Promise<void> | undefined;
    const res = await kshm(args, () => {
      kicks ??= (async () => {
        for (const v of values) {
          await lastValueFrom(device.transaction((p) => p.setU32(offset, v)));
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
    });
    await kicks;
    device.close();
    return res;
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
    const res = await watchWhileWriting(['watch', '--offset', '300', '--length', '4', '--as', 'u32', '--count', '3'],
      300, [1, 2]);
    assert.is(res.code, 0, res.err);
    const lines = res.out.trim().split('\n');
    assert.is(lines.length, 3);
    for (const l of lines) assert.match(l, /^generation \d+ rate \d+\/s \d+$/);
    const json = await kshm(['watch', '--offset', '300', '--length', '4', '--as', 'u32', '--count', '1', '--json']);
    assert.type((JSON.parse(json.out) as { generation: number }).generation, 'number');
  });

  /** A layout file for --layout (the JSON field map), in a fresh temporary folder. */
  function layoutFile(fields: unknown): string {
    const dir = mkdtempSync(join(tmpdir(), 'kshm-layout-'));
    const file = join(dir, 'layout.json');
    writeFileSync(file, typeof fields === 'string' ? fields : JSON.stringify(fields));
    return file;
  }
  const sensor = {
    count: { at: 0, type: 'u64' },
    temp: { at: 8, type: 'f32' },
    name: { at: 12, type: 'utf8', length: 8 },
    raw: { at: 20, type: 'bytes', length: 2 },
    pos: { at: 24, layout: { x: { at: 0, type: 'i16' }, y: { at: 2, type: 'i16' } } },
    last: { at: 28, type: 'u8', count: 3 },
  };

  test('watch --events prints one line per record, live; --count stops it; --json; emit publishes', async () => {
    const device = await other();
    const plain = kshm(['watch', '--events', '--count', '3']);
    await new Promise((r) => setTimeout(r, 200));
    const s0 = device.emit(91, [1, 2]);
    device.emit(92);
    device.emit(93, [0xff]);
    const p = await plain;
    assert.is(p.code, 0, p.err);
    const lines = p.out.trim().split('\n');
    assert.is(lines.length, 3);
    assert.match(lines[0] as string, new RegExp(`^seq ${s0} type 91 time \\d+ user \\[2\\] 01 02$`));
    assert.match(lines[1] as string, new RegExp(`^seq ${s0 + 1n} type 92 time \\d+ user \\[0\\] $`));
    assert.match(lines[2] as string, /type 93 .* ff$/);
    const json = kshm(['watch', '--events', '--count', '1', '--json']);
    await new Promise((r) => setTimeout(r, 200));
    const e = await kshm(['emit', '94', '258', '--as', 'u16', '--json']);
    assert.is(e.code, 0, e.err);
    const emitted = JSON.parse(e.out) as { seq: number; type: number; bytes: number };
    assert.equal({ type: emitted.type, bytes: emitted.bytes }, { type: 94, bytes: 2 });
    const j = await json;
    assert.is(j.code, 0, j.err);
    const rec = JSON.parse(j.out) as { seq: number; type: number; lostBefore: number; fromUser: boolean; bytes: string };
    assert.equal(rec, { ...rec, seq: emitted.seq, type: 94, lostBefore: 0, fromUser: true, bytes: '02 01' });
    const plainEmit = await kshm(['emit', '95']);
    assert.is(plainEmit.code, 0, plainEmit.err);
    assert.match(plainEmit.out, /^seq \d+\n$/);
    const bad = await kshm(['emit', '95', '1', '--as', 'hex']);
    assert.ok(bad.code !== 0);
    assert.is((await kshm(['watch', '--events', '--from', 'later'])).code, 2);
    device.close();
  });

  test('dump --layout prints named fields (text and --json), nested and arrays included', async () => {
    const device = await other();
    await lastValueFrom(device.transaction((p) => {
      p.setU64(600, 12345678901234n);
      p.setF32(608, 21.5);
      p.setUtf8(612, 'probe-1', 8);
      p.set(620, [0xab, 0xcd]);
      p.setI16(624, -3);
      p.setI16(626, 7);
      p.set(628, [1, 2, 3]);
    }));
    device.close();
    const file = layoutFile(sensor);
    const text = await kshm(['dump', '--layout', file, '--offset', '600']);
    assert.is(text.code, 0, text.err);
    assert.match(text.out, /^generation \d+$/m);
    assert.match(text.out, /^count\s+12345678901234$/m);
    assert.match(text.out, /^temp\s+21\.5$/m);
    assert.match(text.out, /^name\s+"probe-1"$/m);
    assert.match(text.out, /^raw\s+ab cd$/m);
    assert.match(text.out, /^pos\.x\s+-3$/m);
    assert.match(text.out, /^pos\.y\s+7$/m);
    assert.match(text.out, /^last\s+\[1, 2, 3\]$/m);
    const json = await kshm(['dump', '--layout', file, '--offset', '600', '--json']);
    assert.is(json.code, 0, json.err);
    const parsed = JSON.parse(json.out) as { offset: number; fields: Record<string, unknown> };
    assert.is(parsed.offset, 600);
    assert.equal(parsed.fields, {
      count: 12345678901234, temp: 21.5, name: 'probe-1', raw: [0xab, 0xcd], pos: { x: -3, y: 7 }, last: [1, 2, 3],
    });
  });

  test('watch --layout prints the fields once per commit that changed one of them', async () => {
    const file = layoutFile({ n: { at: 0, type: 'u32' } });
    // The second commit changes nothing in the layout.
    const res = await watchWhileWriting(['watch', '--layout', file, '--offset', '640', '--count', '3'], 640, [1, 1, 2]);
    assert.is(res.code, 0, res.err);
    const lines = res.out.trim().split('\n');
    assert.is(lines.length, 3);
    assert.match(lines[1] ?? '', /^generation \d+ n 1$/);
    assert.match(lines[2] ?? '', /^generation \d+ n 2$/);
  });

  test('--layout errors: unreadable file, bad JSON, bad field, outside the region: exit 2 with the reason', async () => {
    const missing = await kshm(['dump', '--layout', '/nonexistent/layout.json']);
    assert.is(missing.code, 2);
    assert.match(missing.err, /cannot read/);
    const bad = await kshm(['dump', '--layout', layoutFile('{"a": ')]);
    assert.is(bad.code, 2);
    assert.match(bad.err, /layout JSON/);
    const field = await kshm(['dump', '--layout', layoutFile({ a: { at: 0, type: 'u128' } })]);
    assert.is(field.code, 2);
    assert.match(field.err, /"a"/);
    const far = await kshm(['dump', '--layout', layoutFile({ a: { at: 0, type: 'u64' } }), '--offset', '999999999']);
    assert.is(far.code, 2);
    assert.match(far.err, /outside the \d+-byte region/);
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
    for (const command of ['write', 'kwrite']) {	// --timeout 0: try once, fail at once
      const busy = await kshm([command, '0', '1', '--timeout', '0']);
      assert.is(busy.code, 1, `${command}: ${busy.err}`);
      assert.match(busy.err, /KSHM_BUSY|busy|taken/i);
    }
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
      ['write', '0', '1', '--timeout', '-1'],
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

  test('bad arguments are exit 2 with the reason even where no device exists (checked before opening one)', async () => {
    let opened = 0;
    const none: DeviceOpener = (path) => {
      opened++;
      return Promise.reject(new DeviceNotFoundError(path));
    };
    for (const args of [
      ['write', '0', '1', '--as', 'u7'], ['write', '0'], ['write', 'x', '1'], ['write', '0', '300', '--as', 'u8'],
      ['write', '0', '1', '--timeout', 'soon'], ['kwrite', '0', 'zz', '--as', 'hex'], ['watch', '--count', 'abc'],
      ['dump', '--as', 'x'], ['dump', '--offset', 'x'], ['watch', '--events', '--from', 'later'], ['emit'],
      ['emit', 'x'], ['emit', '1', '1.5'], ['dump', '--layout', '/nonexistent/layout.json'], ['lock', '--hold', 'soon'],
      // Extra operands are refused rather than ignored.
      ['info', 'extra'], ['dump', '0', '16'], ['write', '0', '1', '2'], ['list', 'all'],
      ['write', '0', '', '--as', 'utf8'], ['kwrite', '0', '', '--as', 'hex'],
    ]) {
      let err = '';
      const r = await main(args, { out: () => {}, err: (t) => { err += t; }, isTTY: false }, none, () => []);
      assert.is(r, 2, `kshm ${args.join(' ')}: exit ${r}, ${err}`);
      assert.not.match(err, /does not exist/, `kshm ${args.join(' ')}`);
      assert.match(err, /^kshm: /);
    }
    assert.is(opened, 0, 'no device was opened for bad arguments');
    const extra = await kshm(['info', 'extra']);
    assert.is(extra.code, 2);
    assert.match(extra.err, /"extra"/);
    const empty = await kshm(['write', '0', '', '--as', 'utf8']);
    assert.is(empty.code, 2);
    assert.match(empty.err, /VALUE is empty/);
  });

  test('Ctrl-C while write or kwrite waits for the lock: exit 130 at once, nothing left waiting or written', async () => {
    const device = await other();
    const before = (await firstValueFrom(device.snapshots$)).u8(700);
    let sub: Subscription | undefined;
    await new Promise<void>((resolve, reject) => {
      sub = device.lock$().subscribe({ next: () => resolve(), error: reject });
    });
    const waiters = async (n: number): Promise<void> => {
      const until = Date.now() + 5000;
      while (device.info().waiters !== n) {
        if (Date.now() > until) throw new Error(`waiters ${device.info().waiters}, not ${n}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    try {
      for (const args of [['write', '700', String(before ^ 0xff), '--as', 'u8'],
        ['kwrite', '700', String(before ^ 0xff), '--as', 'u8', '--timeout', '30000']]) {
        const t0 = Date.now();
        const running = kshm(args);
        await waiters(1);
        process.emit('SIGINT');
        const r = await Promise.race([running,
          new Promise<Result>((res) => setTimeout(() => res({ code: -1, out: '', err: 'still waiting' }), 5000))]);
        assert.is(r.code, 130, `kshm ${args.join(' ')}: ${r.err}`);
        assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
        await waiters(0);
      }
    } finally {
      sub?.unsubscribe();
    }
    await new Promise((r) => setTimeout(r, 50));
    assert.is((await firstValueFrom(device.snapshots$)).u8(700), before, 'the interrupted writes never happened');
    device.close();
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

  test('list: every region (the default first) with its pages and a path every command takes as --device', async () => {
    const r = await kshm(['list', '--json']);
    assert.is(r.code, 0, r.err);
    const regions = JSON.parse(r.out) as DeviceEntry[];
    assert.is(regions[0]?.name, 'default');
    assert.ok(regions[0]?.path === '/dev/kshm' || regions[0]?.path === '/dev/kshm/default');
    for (const region of regions) {
      assert.ok(Number.isInteger(region.pages) && region.pages >= 1);
      const info = await kshm(['info', '--json', '--device', region.path]);
      assert.is(info.code, 0, info.err);
      const parsed = JSON.parse(info.out) as { device: string; pages: number };
      assert.is(parsed.pages, region.pages, region.name);
    }
    const text = await kshm(['list']);
    assert.is(text.code, 0);
    const lines = text.out.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^NAME\s+PAGES\s+PATH$/);
    for (const region of regions) {
      assert.ok(lines.some((l) => l.split(/\s+/).join(' ') === `${region.name} ${region.pages} ${region.path}`), text.out);
    }
  });

  test('--device PATH on every command that opens one: a missing device fails each the same way', async () => {
    for (const args of [['info'], ['dump', '--length', '4'], ['watch', '--count', '1'], ['write', '8', '1'],
      ['kwrite', '8', '1'], ['lock', '--hold', '1']]) {
      const r = await kshm([...args, '--device', '/dev/kshm/nope']);
      assert.is(r.code, 1, args.join(' '));
      assert.match(r.err, /\/dev\/kshm\/nope does not exist/);
    }
    // list needs no device: --device changes nothing.
    const r = await kshm(['list', '--json', '--device', '/dev/kshm/nope']);
    assert.is(r.code, 0);
  });

  test.run();
}
