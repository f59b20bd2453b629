// lib/list-devices.ts: the regions from sysfs (a fake /sys/class/misc tree).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { listDevices } from '../../lib/index.js';

const test = suite('listDevices');

/** A misc class directory with the given devices: { 'kshm!a': { 'region/name': 'a', ... } }. */
function sysfs(devices: Record<string, Record<string, string>>): string {
  const root = mkdtempSync(join(tmpdir(), 'kshm-sysfs-'));
  mkdirSync(join(root, 'tty0'));	// not ours
  for (const [dev, files] of Object.entries(devices)) {
    for (const [file, value] of Object.entries(files)) {
      mkdirSync(join(root, dev, file, '..'), { recursive: true });
      writeFileSync(join(root, dev, file), `${value}\n`);
    }
  }
  return root;
}

const region = (name: string, pages: number): Record<string, string> =>
  ({ 'region/name': name, 'region/pages': String(pages), 'stats/pages': String(pages) });

test('no driver: no regions', async () => {
  assert.equal(await listDevices({ sysfs: join(tmpdir(), 'kshm-no-such-dir') }), []);
  assert.equal(await listDevices({ sysfs: sysfs({}) }), []);
});

test('the default region alone is /dev/kshm (synchronously; await works too)', async () => {
  const root = sysfs({ kshm: region('default', 3) });
  const listed = listDevices({ sysfs: root });
  assert.ok(Array.isArray(listed));
  assert.equal(listed, [{ name: 'default', pages: 3, path: '/dev/kshm' }]);
  assert.equal(await listDevices({ sysfs: root }), listed);
});

test('with named regions: the default is /dev/kshm/default, first; the others by name', async () => {
  const root = sysfs({ 'kshm!sensors': region('sensors', 4), kshm: region('default', 1), 'kshm!audio': region('audio', 16) });
  assert.equal(await listDevices({ sysfs: root }), [
    { name: 'default', pages: 1, path: '/dev/kshm/default' },
    { name: 'audio', pages: 16, path: '/dev/kshm/audio' },
    { name: 'sensors', pages: 4, path: '/dev/kshm/sensors' },
  ]);
});

test('a driver from before regions (stats/ only) is the default region', async () => {
  assert.equal(await listDevices({ sysfs: sysfs({ kshm: { 'stats/pages': '2' } }) }),
    [{ name: 'default', pages: 2, path: '/dev/kshm' }]);
});

test('a device going away while it is read is left out', async () => {
  assert.equal(await listDevices({ sysfs: sysfs({ kshm: region('default', 1), 'kshm!gone': {} }) }),
    [{ name: 'default', pages: 1, path: '/dev/kshm' }]);
});

test.run();
