// A backend with no fd to poll (the benchmarks' private stand-in region,
// "standin:1" over native-shim/libkshm-standin.so): snapshots$ fails with a
// typed error instead of koffi.node.poll(-1) aborting the process.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const test = suite('native backend without a pollable fd');
const root = fileURLToPath(new URL('../../../', import.meta.url));
const standin = join(root, 'native-shim', 'libkshm-standin.so');

test('snapshots$ on a region with no fd errors with KshmSystemError (poll, EBADF); the process lives on', () => {
  assert.ok(existsSync(standin), `${standin} is built by make -C native-shim`);
  const script = `
    import { firstValueFrom, skip } from 'rxjs';
    import { openDevice, KshmSystemError } from ${JSON.stringify(join(root, 'dist/lib/index.js'))};
    const d = await openDevice('standin:1');
    const first = await firstValueFrom(d.snapshots$);
    const e = await firstValueFrom(d.snapshots$.pipe(skip(1))).catch((err) => err);
    console.log(JSON.stringify({ size: first.size, typed: e instanceof KshmSystemError, errno: e?.errno, msg: String(e?.message) }));
    d.close();`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: root, encoding: 'utf8', env: { ...process.env, KSHM_LIBRARY: standin }, timeout: 30000,
  });
  assert.is(r.status, 0, `exit ${r.status} ${r.signal ?? ''}: ${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as { size: number; typed: boolean; errno: number };
  assert.is(out.size, 4096);
  assert.ok(out.typed, r.stdout);
  assert.is(out.errno, 9); // EBADF
});

test.run();
