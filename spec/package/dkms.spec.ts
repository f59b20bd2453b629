// The driver as a user's machine installs it: Debian's dkms adds driver/ and
// builds it against the 6.1 and 6.12 headers (in a private tree under
// build/dkms: nothing goes into the host's /lib/modules or /var/lib/dkms),
// then each kernel boots with the module dkms built (npm run vm -- --ko) and
// the npm package as an app installed it (build/package-app, left by the
// packaging spec) runs a transaction and a snapshot on it. Boots its own guests.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const test = suite('driver packaging: dkms build, the module it built in guests');

interface Built { series: string; KVER: string; ko: string }
interface DkmsModule {
  dkmsBuild(series: string[]): Built[];
  dkmsPackage(): { name: string; version: string };
}
const dkms = (await import(pathToFileURL(join(root, 'harness', 'dkms.mjs')).href)) as DkmsModule;

function runVm(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(root, 'harness', 'vm.mjs'), '--no-build', ...args],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    child.on('close', (code) => resolve({ code, out }));
  });
}

let built: Built[] = [];

test('dkms add and dkms build of driver/ for 6.1 and 6.12, in a private tree', () => {
  const hostDkms = existsSync('/var/lib/dkms') ? readdirSync('/var/lib/dkms') : [];
  built = dkms.dkmsBuild(['6.1', '6.12']);
  assert.equal(built.map((b) => b.series), ['6.1', '6.12']);
  for (const b of built) {
    assert.ok(existsSync(b.ko), b.ko);
    assert.ok(b.ko.startsWith(join(root, 'build', 'dkms')), b.ko);
    const vermagic = spawnSync('modinfo', ['-F', 'vermagic', b.ko], { encoding: 'utf8' }).stdout;
    assert.ok(vermagic.startsWith(`${b.KVER} `), `${b.ko}: vermagic ${vermagic}`);
    assert.not.ok(existsSync(join('/lib/modules', b.KVER, 'updates', 'dkms', 'kshm.ko')), 'installed on the host');
  }
  assert.equal(existsSync('/var/lib/dkms') ? readdirSync('/var/lib/dkms') : [], hostDkms, 'the host dkms tree changed');
});

test('driver/dkms.conf is the package\'s version', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  assert.equal(dkms.dkmsPackage(), { name: 'kshm', version: pkg.version });
});

test('the module dkms built loads in both guests, and the installed package runs on it', async () => {
  assert.ok(built.length === 2, 'dkms built nothing');
  const app = join(root, 'build', 'package-app', 'device.mjs');
  assert.ok(existsSync(app), `${app} is missing: the packaging spec (spec/package/package.spec) installs it`);
  const runs = await Promise.all(built.map((b) => runVm(['--kernel', b.series, '--smp', '2', '--timeout', '240',
    '--ko', b.ko, 'sh', '-c', `grep -q '^kshm ' /proc/modules && echo kshm-loaded && exec node ${app}`])));
  runs.forEach((r, i) => {
    const b = built[i] as Built;
    assert.is(r.code, 0, `${b.series}: ${r.out}`);
    assert.match(r.out, 'kshm-loaded');
    assert.match(r.out, /Passed:\s+3\b/);
  });
});

test('vm --ko really loads the file it names (a file that is no module fails the boot)', async () => {
  const dir = join(root, 'build', 'dkms');
  mkdirSync(dir, { recursive: true });
  const bogus = join(dir, 'not-a-module.ko');
  writeFileSync(bogus, 'not an ELF file\n');
  const r = await runVm(['--kernel', '6.12', '--timeout', '120', '--ko', bogus, 'true']);
  assert.is.not(r.code, 0);
  assert.match(r.out, `module did not load (${bogus})`);
});

test.run();
