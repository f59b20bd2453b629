// A region destroyed while openDevice() opens it, between libkshm's open()
// and its mmap(), or before a stream's first subscriber: DeviceGoneError, as
// for every other call on a destroyed region (guest, run by
// harness/guest-suite.mjs --regions). The destroy during the open is forced
// by an LD_PRELOAD library (spec/c/destroy_at_mmap.c) in a child node
// process; the in-kernel API test module makes the regions.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { lastValueFrom, type Observable } from 'rxjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DeviceGoneError, openDevice } from '../../lib/index.js';

const test = suite('a region destroyed during openDevice');
const root = fileURLToPath(new URL('../../../', import.meta.url));
const series = process.env['KSHM_KERNEL'] ?? '6.1';
const kapi = `${root}build/kmod/${series}/kshm_kapi_test.ko`;
const preload = `${root}build/spec-c/destroy_at_mmap.so`;
const params = '/sys/module/kshm_kapi_test/parameters';
const busybox = '/kshm/busybox';

function run(args: string[]): void {
  const [cmd, ...rest] = existsSync(busybox) ? [busybox, ...args] : args;
  const r = spawnSync(cmd!, rest, { encoding: 'utf8' });
  assert.is(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
}

test('DeviceGoneError (KSHM_DEVICE_GONE, ENODEV), not NotAKshmDeviceError', () => {
  const path = '/dev/kshm/opening';
  run(['insmod', kapi]);
  try {
    writeFileSync(`${params}/create`, 'opening:1');
    assert.is(readFileSync(`${params}/result`, 'utf8').trim(), '0');
    assert.ok(existsSync(path));
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', `
      import { openDevice } from ${JSON.stringify(`${root}dist/lib/index.js`)};
      const e = await openDevice(${JSON.stringify(path)}).then((d) => { d.close(); return { name: 'opened' }; }, (err) => err);
      console.log(JSON.stringify({ name: e.name, code: e.code, errno: e.errno }));
    `], { encoding: 'utf8', env: { ...process.env, LD_PRELOAD: preload, KSHM_DESTROY_AT_MMAP: path } });
    assert.is(child.status, 0, child.stderr);
    assert.equal(JSON.parse(child.stdout), { name: 'DeviceGoneError', code: 'KSHM_DEVICE_GONE', errno: 19 });
    assert.not.ok(existsSync(path), 'the preload destroyed the region');
  } finally {
    run(['rmmod', 'kshm_kapi_test']);
  }
});

test('destroyed before a subscriber comes: snapshots$, select$, snapshotRange$ fail with DeviceGoneError, no stale snapshot first', async () => {
  const path = '/dev/kshm/gone_early';
  run(['insmod', kapi]);
  try {
    writeFileSync(`${params}/create`, 'gone_early:1');
    assert.is(readFileSync(`${params}/result`, 'utf8').trim(), '0');
    const device = await openDevice(path);
    await lastValueFrom(device.transaction((p) => p.setU8(0, 5)));
    writeFileSync(`${params}/destroy`, '1');
    for (const [name, stream] of [['snapshots$', device.snapshots$], ['select$', device.select$((s) => s.u8(0))],
      ['snapshotRange$', device.snapshotRange$(0, 4)]] as const) {
      const seen: unknown[] = [];
      const e = await new Promise((resolve) => {
        (stream as Observable<unknown>).subscribe({ next: (v) => seen.push(v), error: resolve, complete: () => resolve('completed') });
      });
      assert.instance(e, DeviceGoneError, name);
      assert.is(seen.length, 0, `${name}: nothing before the error`);
    }
    device.close();
  } finally {
    run(['rmmod', 'kshm_kapi_test']);
  }
});

test.run();
