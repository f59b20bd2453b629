// Run in a guest with the driver loaded: the installed copy of kshm opens
// the real device, runs a transaction and takes a snapshot. Prints uvu-style
// totals for the harness.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { firstValueFrom } from 'rxjs';
import { openDevice } from 'kshm';

const app = dirname(fileURLToPath(import.meta.url));
let passed = 0;
let total = 0;
async function check(name, fn) {
  total++;
  try {
    await fn();
    passed++;
    console.log(`  ok   ${name}`);
  } catch (e) {
    console.log(`  FAIL ${name}\n${e.stack ?? e}`);
  }
}

await check('kshm resolves to the installed copy, with the app\'s rxjs', () => {
  assert.equal(fileURLToPath(import.meta.resolve('kshm')), join(app, 'node_modules/kshm/dist/lib/index.js'));
  assert.equal(fileURLToPath(import.meta.resolve('rxjs')), join(app, 'node_modules/rxjs/dist/cjs/index.js'));
});

await check('openDevice() opens the real driver through the prebuilt libkshm', async () => {
  const device = await openDevice();
  try {
    const info = device.info();
    assert.ok(info.pages >= 1);
    const before = (await firstValueFrom(device.snapshots$)).generation;
    const stamp = (Date.now() & 0x7fffffff) >>> 0;
    const result = await firstValueFrom(device.transaction((page) => {
      page.setU32(0, stamp);
      return page.u32(0);
    }, { timeoutMs: 5000 }));
    assert.equal(result, stamp);
    const after = await firstValueFrom(device.snapshots$);
    assert.equal(after.u32(0), stamp);
    assert.ok(after.generation > before, `generation ${after.generation} after ${before}`);
    const maps = readFileSync('/proc/self/maps', 'utf8');
    assert.ok(maps.includes(join(app, `node_modules/kshm/native-shim/prebuilds/linux-${process.arch}/libkshm.so`)),
      'the prebuilt libkshm.so is the one loaded');
  } finally {
    device.close();
  }
});

await check('kshm info (the package bin) reads the device', () => {
  const out = execFileSync(join(app, 'node_modules/.bin/kshm'), ['info'], { encoding: 'utf8' });
  assert.match(out, /\/dev\/kshm/);
});

console.log(`\n  Total:     ${total}\n  Passed:    ${passed}\n  Skipped:   0\n`);
process.exit(passed === total ? 0 : 1);
