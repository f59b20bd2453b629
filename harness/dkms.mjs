#!/usr/bin/env node
// npm run driver:dkms [-- SERIES...]: builds driver/ the way a user's machine
// does, with Debian's dkms (`dkms add` of driver/, then `dkms build`), against
// Debian 12's kernel headers (6.1, 6.12). Everything dkms writes stays in a
// private tree under build/dkms (--dkmstree, --sourcetree, --installtree):
// nothing is installed into the host's /lib/modules or /var/lib/dkms, and
// `dkms install` is never run. Prints one line per kernel with the module
// built; the guests load it with `npm run vm -- --ko FILE`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { kernel, repoRoot } from './kernels.mjs';

/**
 * The kernels whose headers the host's dkms can build against: Debian 12's.
 * (7.3's kbuild needs its trixie build root; the debug kernel is a source tree.)
 */
const dkmsSeries = ['6.1', '6.12'];

export const dkmsRoot = join(repoRoot, 'build', 'dkms');

/** PACKAGE_NAME and PACKAGE_VERSION of driver/dkms.conf. */
export function dkmsPackage() {
  const conf = readFileSync(join(repoRoot, 'driver', 'dkms.conf'), 'utf8');
  const get = (k) => new RegExp(`^${k}="?([^"\\n]+)"?$`, 'm').exec(conf)?.[1];
  return { name: get('PACKAGE_NAME'), version: get('PACKAGE_VERSION') };
}

/** Where `dkms build` leaves the module of a kernel (KVER) in the private tree. */
export function dkmsModule(kver) {
  const { name, version } = dkmsPackage();
  return join(dkmsRoot, 'tree', name, version, kver, 'x86_64', 'module', 'kshm.ko');
}

function dkms(args) {
  const trees = ['--dkmstree', join(dkmsRoot, 'tree'), '--sourcetree', join(dkmsRoot, 'src'),
    '--installtree', join(dkmsRoot, 'install')];
  const r = spawnSync('timeout', ['600', 'dkms', ...args, ...trees], { encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** Builds with dkms for each series; returns [{ series, KVER, ko }] or throws with dkms's output. */
export function dkmsBuild(seriesList = dkmsSeries) {
  if (spawnSync('sh', ['-c', 'command -v dkms'], { stdio: 'ignore' }).status !== 0) {
    throw new Error('dkms is not installed: apt-get install --no-install-recommends dkms');
  }
  const { name, version } = dkmsPackage();
  rmSync(dkmsRoot, { recursive: true, force: true });
  for (const d of ['tree', 'src', 'install']) mkdirSync(join(dkmsRoot, d), { recursive: true });
  // `dkms add DIR` copies driver/ into the source tree as <name>-<version>.
  const added = dkms(['add', join(repoRoot, 'driver')]);
  if (!added.ok) throw new Error(`dkms add ${name}/${version} failed:\n${added.out}`);
  const built = [];
  for (const series of seriesList) {
    const k = kernel(series);
    const r = dkms(['build', '-m', name, '-v', version, '-k', k.KVER, '--kernelsourcedir', k.KDIR]);
    const ko = dkmsModule(k.KVER);
    if (!r.ok || !existsSync(ko)) {
      const log = join(dkmsRoot, 'tree', name, version, 'build', 'make.log');
      throw new Error(`dkms build of ${name}/${version} for ${k.KVER} failed:\n${r.out}`
        + `${existsSync(log) ? readFileSync(log, 'utf8') : ''}`);
    }
    built.push({ series, KVER: k.KVER, ko });
  }
  return built;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const wanted = process.argv.slice(2).length > 0 ? process.argv.slice(2) : dkmsSeries;
  try {
    for (const b of dkmsBuild(wanted)) console.log(`dkms: built ${b.ko} for ${b.series} (${b.KVER})`);
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}
