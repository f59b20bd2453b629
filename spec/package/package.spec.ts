// The npm package as an app gets it: `npm pack` (prepack builds what ships),
// then `npm install <tarball> --ignore-scripts` into a fresh project with no
// compiler on PATH, then what the app does with it on the host. The installed
// project stays in build/package-app: the guest suite runs its device check
// against the real driver (harness/guest-suite.mjs), and the DKMS spec too.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import {
  copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const appDir = join(root, 'build', 'package-app');
const binDir = join(root, 'build', 'package-bin');
const packDir = join(root, 'build', 'package-tarball');
const installed = join(appDir, 'node_modules', 'kshm');
/** The app's rxjs: another 7.8 release than the one kshm is developed with. */
const APP_RXJS = '7.8.1';
const LICENSE = 'MIT';

interface Packed { filename: string; unpackedSize: number; files: Array<{ path: string; size: number }> }
let packed: Packed;
/** npm installed the rxjs peer with the tarball alone. */
let peerInstalled = false;

const test = suite('package: npm pack, npm install --ignore-scripts, use it');

/** The environment without what `npm test` put there for its own scripts. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v;
  return { ...env, NO_COLOR: '1', ...extra };
}

/** An app's environment: PATH holds node, npm, npx and sh, and no compiler. */
const appEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv =>
  cleanEnv({ PATH: binDir, npm_config_update_notifier: 'false', ...extra });

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { encoding: 'utf8', timeout: 180_000, cwd: appDir, env: appEnv(), ...opts });
}

const show = (r: SpawnSyncReturns<string>): string =>
  `exit ${r.status ?? r.signal}${r.error ? ` (${r.error.message})` : ''}\n${r.stdout}\n${r.stderr}`;

function npmCli(name: 'npm' | 'npx'): string {
  const beside = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', `${name}-cli.js`);
  if (existsSync(beside)) return beside;
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return realpathSync(r.stdout.trim());
}

/**
 * What made the setup below fail. uvu swallows an error thrown by a before
 * hook (the suite then reports 0 of N passed and no message): the hook
 * prints it, and every test fails with it instead.
 */
let setupError: Error | undefined;
let setupReported = false;
test.before.each(() => {
  if (!setupError) return;
  const first = !setupReported;
  setupReported = true;
  throw first ? setupError : new Error(`the setup failed: ${setupError.message.split('\n')[0]} (the first test shows why)`);
});

test.before(() => {
  try {
    setup();
  } catch (e) {
    setupError = e instanceof Error ? e : new Error(String(e));
    console.error(`\npackage spec: the setup failed: ${setupError.message}`);
  }
});

function setup(): void {
  rmSync(packDir, { recursive: true, force: true });
  mkdirSync(packDir, { recursive: true });
  const pack = run('npm', ['pack', '--json', '--pack-destination', packDir], { cwd: root, env: cleanEnv() });
  if (pack.status !== 0) throw new Error(`npm pack failed: ${show(pack)}`);
  packed = (JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as Packed[])[0] as Packed;

  rmSync(binDir, { recursive: true, force: true });
  mkdirSync(binDir, { recursive: true });
  symlinkSync(process.execPath, join(binDir, 'node'));
  symlinkSync(npmCli('npm'), join(binDir, 'npm'));
  symlinkSync(npmCli('npx'), join(binDir, 'npx'));
  symlinkSync('/bin/sh', join(binDir, 'sh'));

  rmSync(appDir, { recursive: true, force: true });
  mkdirSync(appDir, { recursive: true });
  writeFileSync(join(appDir, 'package.json'), `${JSON.stringify({ name: 'kshm-app', private: true, type: 'module' }, null, 2)}\n`);
  const fixtures = join(root, 'spec', 'package', 'app');
  for (const f of readdirSync(fixtures)) copyFileSync(join(fixtures, f), join(appDir, f));
  writeFileSync(join(appDir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true,
      exactOptionalPropertyTypes: true, types: ['node'], typeRoots: [join(root, 'node_modules', '@types')],
    },
    files: ['types.mts'],
  }));
  // What a new user runs: the tarball alone (npm installs the rxjs peer itself)...
  const install = run('npm', ['install', join(packDir, packed.filename),
    '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline']);
  if (install.status !== 0) throw new Error(`npm install of the tarball failed: ${show(install)}`);
  peerInstalled = existsSync(join(appDir, 'node_modules', 'rxjs', 'package.json'));
  // ...then the app settles on another rxjs 7.8 release of its own.
  const rx = run('npm', ['install', `rxjs@${APP_RXJS}`, '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline']);
  if (rx.status !== 0) throw new Error(`npm install rxjs@${APP_RXJS} failed: ${show(rx)}`);
}

test('the tarball holds the library, the command, two prebuilt libraries and the licence: nothing else', () => {
  const paths = packed.files.map((f) => f.path);
  const allowed = /^(package\.json|README\.md|LICENSE|dist\/(lib|cli)\/[\w/.-]+\.(js|d\.ts)|native-shim\/prebuilds\/linux-(x64|arm64)\/libkshm\.so)$/;
  assert.equal(paths.filter((p) => !allowed.test(p)), [], 'files outside the whitelist');
  assert.equal(paths.filter((p) => /^(spec|bench|harness|driver|dist\/spec|dist\/bench)\//.test(p)), []);
  for (const p of ['dist/lib/index.js', 'dist/lib/index.d.ts', 'dist/lib/testing/index.js', 'dist/cli/kshm.js',
    'native-shim/prebuilds/linux-x64/libkshm.so', 'native-shim/prebuilds/linux-arm64/libkshm.so', 'LICENSE']) {
    assert.ok(paths.includes(p), `${p} is missing from the tarball`);
  }
  const withoutSo = packed.unpackedSize - packed.files.filter((f) => f.path.endsWith('.so')).reduce((a, f) => a + f.size, 0);
  // Issue 17: under 200 kB (harness/pack-js.mjs minifies the JS and ships only the public declarations).
  assert.ok(withoutSo < 200_000, `${withoutSo} bytes unpacked without the .so files`);
});

test('the prebuilt libraries are ELF shared objects for x86-64 and aarch64', () => {
  const machine = (arch: string): number => {
    const elf = readFileSync(join(installed, 'native-shim', 'prebuilds', `linux-${arch}`, 'libkshm.so'));
    assert.equal([...elf.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], `${arch}: not ELF`);
    assert.is(elf.readUInt16LE(16), 3, `${arch}: not a shared object`);
    return elf.readUInt16LE(18);
  };
  assert.is(machine('x64'), 62);
  assert.is(machine('arm64'), 183);
});

test('the licence field is an SPDX expression of what the tarball holds', () => {
  const pkg = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { license: string };
  assert.is(pkg.license, LICENSE);
  // Every shipped file that names a licence names MIT.
  const other = packed.files.map((f) => f.path).filter((p) => /\.(js|ts)$/.test(p))
    .map((p) => [p, /SPDX-License-Identifier: (\S+)/.exec(readFileSync(join(installed, p), 'utf8'))?.[1]] as const)
    .filter(([, id]) => id !== undefined && id !== 'MIT');
  assert.equal(other, []);
  assert.ok(readFileSync(join(installed, 'dist', 'lib', 'index.js'), 'utf8').startsWith('// SPDX-License-Identifier: MIT'));
  const text = readFileSync(join(installed, 'LICENSE'), 'utf8');
  assert.match(text, /MIT License/);
  assert.match(text, LICENSE);
  // The repository's other parts are named, so nobody mistakes the driver for MIT code.
  assert.match(text, /driver\/\): GPL-2\.0-only/);
});

test('rxjs is a peer: the app\'s own copy, installed once', () => {
  const pkg = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>; peerDependencies?: Record<string, string>;
  };
  assert.is(pkg.peerDependencies?.['rxjs'], '^7.8.0');
  assert.is(pkg.dependencies?.['rxjs'], undefined);
  assert.ok(peerInstalled, 'npm install <tarball> did not install the rxjs peer');
  assert.not.ok(existsSync(join(installed, 'node_modules', 'rxjs')), 'kshm got an rxjs of its own');
  const fromKshm = createRequire(join(installed, 'package.json')).resolve('rxjs');
  assert.is(fromKshm, join(appDir, 'node_modules', 'rxjs', 'dist', 'cjs', 'index.js'));
  const rxjs = JSON.parse(readFileSync(join(appDir, 'node_modules', 'rxjs', 'package.json'), 'utf8')) as { version: string };
  assert.is(rxjs.version, APP_RXJS);
});

test('it installed with no compiler on PATH, and uses the prebuilt library', () => {
  const r = run('sh', ['-c', 'for c in cc gcc c++ clang make; do command -v $c && exit 1; done; exit 0']);
  assert.is(r.status, 0, `a compiler is on the app's PATH: ${r.stdout}`);
  assert.not.ok(existsSync(join(installed, 'native-shim', 'libkshm.so')), 'a library was built on install');
});

test('a marble test with the app\'s TestScheduler runs the fake in virtual time', () => {
  const r = run('node', ['marbles.mjs']);
  assert.is(r.status, 0, show(r));
  const out = JSON.parse(r.stdout) as { ok: boolean; wallMs: number };
  assert.ok(out.ok);
  assert.ok(out.wallMs < 10_000, `3 virtual minutes took ${out.wallMs} ms`);
});

test('it type-checks against the app\'s rxjs: one Observable type', () => {
  const r = run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json']);
  assert.is(r.status, 0, show(r));
});

interface Failure {
  name: string; code: string; message: string; kshmError: boolean; deviceNotFound: boolean; libraryNotFound: boolean;
}
interface Attempts { missing: Failure; existing: Failure; permission: string }
function attempts(mode: string, env: Record<string, string> = {}): Attempts {
  const r = run('node', ['errors.mjs', mode], { env: appEnv(env) });
  assert.is(r.status, 0, show(r));
  return JSON.parse(r.stdout) as Attempts;
}
const REPO_ONLY = /npm run vm|make -C driver|driver\/kshm\.ko|driver\/99-kshm/;

test('openDevice(\'/nonexistent\') throws DeviceNotFoundError; its and PermissionDeniedError\'s messages are for an app', () => {
  const { missing, existing, permission } = attempts('missing');
  assert.ok(missing.deviceNotFound, JSON.stringify(missing));
  assert.is(missing.code, 'KSHM_NO_DEVICE');
  assert.match(missing.message, /modprobe kshm/);
  assert.not.match(missing.message, REPO_ONLY);
  assert.match(permission, /usermod -aG kshm/);
  assert.not.match(permission, REPO_ONLY);
  // The prebuilt library loaded: /dev/null is opened, and refused by the shim.
  assert.is(existing.code, 'KSHM_NOT_A_DEVICE', JSON.stringify(existing));
});

test('where no prebuilt library fits: LibraryNotFoundError (KSHM_NO_LIBRARY), but DeviceNotFoundError first', () => {
  const { missing, existing } = attempts('nolib');
  assert.ok(existing.libraryNotFound && existing.kshmError, JSON.stringify(existing));
  assert.is(existing.name, 'LibraryNotFoundError');
  assert.is(existing.code, 'KSHM_NO_LIBRARY');
  assert.match(existing.message, /linux-riscv64/);
  assert.match(existing.message, /KSHM_LIBRARY/);
  assert.not.match(existing.message, REPO_ONLY);
  assert.ok(missing.deviceNotFound, JSON.stringify(missing));
});

test('KSHM_LIBRARY overrides the library: a missing or foreign file is a LibraryNotFoundError', () => {
  const absent = attempts('badenv', { KSHM_LIBRARY: '/nonexistent/libkshm.so' }).existing;
  assert.ok(absent.libraryNotFound, JSON.stringify(absent));
  assert.match(absent.message, /KSHM_LIBRARY names \/nonexistent\/libkshm\.so/);
  const foreignArch = process.arch === 'arm64' ? 'x64' : 'arm64';
  const foreign = join(installed, 'native-shim', 'prebuilds', `linux-${foreignArch}`, 'libkshm.so');
  const wrong = attempts('badenv', { KSHM_LIBRARY: foreign }).existing;
  assert.ok(wrong.libraryNotFound, JSON.stringify(wrong));
  assert.match(wrong.message, /does not load/);
  const own = join(installed, 'native-shim', 'prebuilds', `linux-${process.arch}`, 'libkshm.so');
  assert.is(attempts('badenv', { KSHM_LIBRARY: own }).existing.code, 'KSHM_NOT_A_DEVICE');
});

test('npx kshm info without the device exits 1 with one clear line', () => {
  assert.not.ok(existsSync('/dev/kshm'), 'this check needs a machine without /dev/kshm');
  const r = run('npx', ['kshm', 'info'], { env: appEnv({ npm_config_offline: 'true' }) });
  assert.is(r.status, 1, show(r));
  assert.is(r.stdout, '');
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  assert.is(lines.length, 1, r.stderr);
  assert.match(lines[0] ?? '', /^kshm: \/dev\/kshm does not exist: the kshm kernel driver is not loaded/);
  assert.not.match(r.stderr, REPO_ONLY);
});

test.run();
