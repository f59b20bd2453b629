// lib/native/native-backend.ts's seqcount copies (whole region and ranges),
// run over libkshm's stand-in build (a memfd shaped like the driver's
// region) in a child process, since the library is chosen once per process.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const test = suite('native backend snapshots (stand-in library)');
const root = fileURLToPath(new URL('../../../', import.meta.url));
const standin = `${root}native-shim/libkshm-standin.so`;

const script = `
const { openNativeBackend } = await import(${JSON.stringify(`${root}dist/lib/native/native-backend.js`)});
const b = openNativeBackend('standin:2', false);
const out = {};
const commit = (at, v) => { if (!b.tryLock(true).ok) throw new Error('lock'); b.data[at] = v; if (b.unlock(true)) throw new Error('unlock'); };
commit(10, 1); commit(5000, 2);
const whole = b.snapshot();
out.whole = [whole.bytes.length, whole.bytes[10], whole.bytes[5000], String(whole.generation), whole.seq === b.seq()];
// Two ranges in turn: each copy reads its own bytes (the kept source must not mix them up).
const rs = [];
for (let i = 0; i < 4; i++) {
  commit(12, 20 + i);
  const a = b.snapshot(8, 8);
  const c = b.snapshot(4996, 8);
  rs.push([a.bytes.length, a.bytes[2], a.bytes[4], c.bytes.length, c.bytes[4], String(a.generation), String(c.generation)]);
}
out.ranges = rs;
const dst = new Uint8Array(3);
out.into = [String(b.copyInto(dst, 10).generation), [...dst]];
b.close();
out.closed = b.snapshot(0, 8) === undefined;
console.log(JSON.stringify(out));
`;

test('whole and ranged copies hold the right bytes and generation, whatever ranges alternate', () => {
  assert.ok(existsSync(standin), 'npm run build makes native-shim/libkshm-standin.so');
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script],
    { encoding: 'utf8', env: { ...process.env, KSHM_LIBRARY: standin } });
  assert.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1) as string);
  assert.equal(out.whole, [8192, 1, 2, '2', true]);
  assert.equal(out.ranges, [
    [8, 1, 20, 8, 2, '3', '3'], [8, 1, 21, 8, 2, '4', '4'], [8, 1, 22, 8, 2, '5', '5'], [8, 1, 23, 8, 2, '6', '6'],
  ]);
  assert.equal(out.into, ['6', [1, 0, 23]]);
  assert.is(out.closed, true);
});

test.run();
