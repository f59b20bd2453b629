// Which libkshm.so is loaded, and the typed error when none fits, from a
// clone (the installed package's side is in spec/package). Each case runs in
// a fresh node: the library is loaded once per process.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const test = suite('libkshm: which library, and LibraryNotFoundError');

interface Outcome { name: string; code: string; message: string; kshm: boolean; library: string }

function attempt(path: string, env: Record<string, string | undefined>): Outcome {
  const script = `
    import * as kshm from ${JSON.stringify(join(root, 'dist/lib/index.js'))};
    import { libraryPath } from ${JSON.stringify(join(root, 'dist/lib/native/libkshm.js'))};
    let library = '';
    try { library = libraryPath(); } catch { library = '(none)'; }
    try { await kshm.openDevice(${JSON.stringify(path)}); console.log('{}'); }
    catch (e) {
      console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message, kshm: e instanceof kshm.KshmError, library }));
    }`;
  const childEnv = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k];
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: childEnv });
  assert.is(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Outcome;
}

test('a clone loads the library it built (native-shim/libkshm.so)', () => {
  const o = attempt('/dev/null', { KSHM_LIBRARY: undefined });
  assert.is(o.library, join(root, 'native-shim', 'libkshm.so'));
  assert.is(o.code, 'KSHM_NOT_A_DEVICE');
});

test('KSHM_LIBRARY naming a missing file: LibraryNotFoundError, a KshmError, never a plain Error', () => {
  const o = attempt('/dev/null', { KSHM_LIBRARY: '/nonexistent/libkshm.so' });
  assert.is(o.name, 'LibraryNotFoundError');
  assert.is(o.code, 'KSHM_NO_LIBRARY');
  assert.ok(o.kshm);
  assert.match(o.message, 'KSHM_LIBRARY names /nonexistent/libkshm.so');
});

test('a file that does not load as a library is a LibraryNotFoundError too', () => {
  const o = attempt('/dev/null', { KSHM_LIBRARY: join(root, 'package.json') });
  assert.is(o.code, 'KSHM_NO_LIBRARY', o.message);
  assert.match(o.message, /does not load on this machine/);
});

test('a missing device is DeviceNotFoundError even with no library; in a clone it says how to boot a guest', () => {
  const o = attempt('/nonexistent', { KSHM_LIBRARY: '/nonexistent/libkshm.so' });
  assert.is(o.name, 'DeviceNotFoundError');
  assert.is(o.code, 'KSHM_NO_DEVICE');
  assert.match(o.message, /npm run vm/);
});

test.run();
