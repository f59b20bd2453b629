// lib/open-device.ts without a driver: the typed errors of openDevice.
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AbiMismatchError, DeviceNotFoundError, KshmError, NotAKshmDeviceError, openDevice } from '../../lib/index.js';

const test = suite('open-device');
const dir = mkdtempSync(join(tmpdir(), 'kshm-open-'));

/** A file that looks like a kshm header page (plus one data page). */
function fakeDeviceFile(abi: number, magic = 0x4d48534b): string {
  const b = Buffer.alloc(8192);
  b.writeUInt32LE(magic, 0);
  b.writeUInt32LE(abi, 4);
  b.writeUInt32LE(4096, 8);
  b.writeUInt32LE(1, 12);
  b.writeBigUInt64LE(4096n, 40);
  b.writeBigUInt64LE(4096n, 48);
  const path = join(dir, `dev-${abi}-${magic}`);
  writeFileSync(path, b);
  return path;
}

test('openDevice: no device, another ABI, not a kshm device', async () => {
  const missing = await openDevice(join(dir, 'nope')).catch((e: unknown) => e);
  assert.instance(missing, DeviceNotFoundError);
  assert.is((missing as KshmError).code, 'KSHM_NO_DEVICE');
  assert.match((missing as Error).message, /insmod|npm run vm/);
  const abi = await openDevice(fakeDeviceFile(7)).catch((e: unknown) => e);
  assert.instance(abi, AbiMismatchError);
  assert.match((abi as Error).message, /ABI version 7/);
  assert.match((abi as Error).message, /ABI version 2/);
  const notKshm = await openDevice('/dev/null').catch((e: unknown) => e);
  assert.instance(notKshm, NotAKshmDeviceError);
  assert.is((notKshm as KshmError).code, 'KSHM_NOT_A_DEVICE');
  const garbage = await openDevice(fakeDeviceFile(1, 0x1234)).catch((e: unknown) => e);
  assert.is((garbage as KshmError).code, 'KSHM_NOT_A_DEVICE');
});

test('files that are not kshm devices: empty, short, a directory, /proc (NotAKshmDeviceError, no SIGBUS)', async () => {
  const empty = join(dir, 'empty');
  writeFileSync(empty, '');
  const short = join(dir, 'short');
  writeFileSync(short, 'KSHM');
  for (const [path, options] of [[empty, {}], [short, { readOnly: true }], [dir, {}], [dir, { readOnly: true }],
    ['/proc/self/status', { readOnly: true }]] as const) {
    const e = await openDevice(path, options).catch((err: unknown) => err);
    assert.instance(e, NotAKshmDeviceError, `${path} ${JSON.stringify(options)}`);
    assert.is((e as KshmError).code, 'KSHM_NOT_A_DEVICE');
  }
});

test('a region path under a device that is not a directory does not exist (ENOTDIR: no named regions)', async () => {
  // /dev/kshm/NAME while /dev/kshm is the default region's device node.
  const file = fakeDeviceFile(2);
  const e = await openDevice(join(file, 'sensors')).catch((err: unknown) => err);
  assert.instance(e, DeviceNotFoundError);
  assert.match((e as Error).message, /sensors does not exist/);
});

test.run();
