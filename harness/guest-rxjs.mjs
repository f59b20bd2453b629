// Inside a test guest only (harness/guest-suite.mjs): the repository's rxjs
// (node_modules/rxjs) is shown to the guest's node processes as rxjs's own
// single-file bundle of the same release (dist/bundles/rxjs.umd.min.js), behind
// ES module wrappers with the same entry points ('rxjs', 'rxjs/operators',
// 'rxjs/testing', ...). Why: under TCG, node's module loader costs ~15 ms per
// file, and rxjs's CommonJS build is 235 files: 3.5 s of every node start-up
// that imports the library (the CLI, every fixture process), against 0.05 s for
// the bundle. The library's code and rxjs's API are the same; only how rxjs's
// code is split into files differs. A guest-side bind mount over the
// directory: the host and its files are untouched, and the mount ends with the
// guest. KSHM_GUEST_RXJS=files keeps rxjs's files (to compare).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const ENTRIES = { '.': null, './operators': 'operators', './testing': 'testing', './ajax': 'ajax', './fetch': 'fetch', './webSocket': 'webSocket' };

/** Returns a line saying what it did (or why not). */
export function bundleRxjs(repoRoot) {
  if (process.env.KSHM_GUEST_RXJS === 'files') return 'rxjs: its files (KSHM_GUEST_RXJS=files)';
  // Never on a host: only a guest's init has /kshm/busybox.
  if (process.env.KSHM_IN_GUEST !== '1' || !existsSync('/kshm/busybox')) return 'rxjs: its files (not in a guest)';
  const dir = join(repoRoot, 'node_modules', 'rxjs');
  const bundle = join(dir, 'dist', 'bundles', 'rxjs.umd.min.js');
  if (!existsSync(bundle)) return `rxjs: its files (no ${bundle})`;
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const shim = '/tmp/kshm-rxjs';
  mkdirSync(shim, { recursive: true });
  copyFileSync(bundle, join(shim, 'rxjs.umd.min.js'));
  const rx = createRequire(join(shim, 'x.js'))('./rxjs.umd.min.js');
  const exportsMap = {};
  for (const [entry, key] of Object.entries(ENTRIES)) {
    const ns = key ? rx[key] : rx;
    if (!ns || typeof ns !== 'object') continue;
    const file = `${key ?? 'index'}.mjs`;
    const names = Object.keys(ns).filter((n) => /^[A-Za-z_$][\w$]*$/.test(n) && n !== 'default');
    writeFileSync(join(shim, file), `import rx from './rxjs.umd.min.js';\nconst ns = ${key ? `rx.${key}` : 'rx'};\n`
      + `export const { ${names.join(', ')} } = ns;\n`);
    exportsMap[entry] = { types: pkg.exports?.[entry]?.types, default: `./${file}` };
  }
  exportsMap['./package.json'] = './package.json';
  writeFileSync(join(shim, 'package.json'), `${JSON.stringify({
    name: 'rxjs', version: pkg.version, description: 'rxjs bundle for the test guest (harness/guest-rxjs.mjs)',
    exports: exportsMap,
  }, null, 1)}\n`);
  const r = spawnSync('/kshm/busybox', ['mount', '-o', 'bind', shim, dir], { encoding: 'utf8' });
  if (r.status !== 0) return `rxjs: its files (mount --bind failed: ${r.stderr.trim()})`;
  return `rxjs: ${pkg.version} from its single-file bundle (harness/guest-rxjs.mjs)`;
}
