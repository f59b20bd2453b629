// Where the provisioned kernels and build outputs live; shared by the harness scripts.
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const cacheRoot = process.env.KSHM_CACHE ?? join(homedir(), '.cache', 'kshm');
/** Debian's production kernels: 6.1 and 6.12 (bookworm), 7.3 (trixie-backports, built in a trixie root). */
export const productionSeries = ['6.1', '6.12', '7.3'];
/** Built from Debian's linux-source-6.12 with KASAN, lockdep, UBSAN, ... (harness/debug.config). */
export const debugSeries = ['6.12-debug'];
export const supportedSeries = [...productionSeries, ...debugSeries];

/** True when the kernel of a series is provisioned already (nothing to fetch or build). */
export function provisioned(series) {
  return existsSync(join(cacheRoot, 'kernels', series, 'env'));
}

/** Build folder of the driver for one kernel series. */
export function driverBuildDir(series) {
  return join(repoRoot, 'build', 'driver', series);
}

/** Build folder of the sample producer module (driver/samples) for one kernel series. */
export function sampleBuildDir(series) {
  return join(repoRoot, 'build', 'sample', series);
}

/**
 * Where --load finds a module by name: the sample, the in-kernel API test
 * module, the harness's test modules (built by npm run driver:build).
 */
export function extraModuleDirs(series) {
  return [sampleBuildDir(series), join(repoRoot, 'build', 'kmod', series), join(repoRoot, 'build', 'testmod', series)];
}

/**
 * The provisioned kernel of a series: { series, KVER, KDIR, VMLINUZ, MODDIR },
 * plus CHROOT when modules for it build inside a build root (KDIR is then a
 * path inside it) and DEBUG=1 for the debug kernel.
 * Provisions it first (harness/provision-kernels.sh) when the cache lacks it.
 */
export function kernel(series) {
  if (!supportedSeries.includes(series)) {
    throw new Error(`unknown kernel series '${series}' (supported: ${supportedSeries.join(', ')})`);
  }
  const envFile = join(cacheRoot, 'kernels', series, 'env');
  if (!existsSync(envFile)) {
    const r = spawnSync('bash', [join(repoRoot, 'harness', 'provision-kernels.sh'), series], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    if (r.status !== 0) throw new Error(`provisioning kernel ${series} failed`);
  }
  const env = { series };
  for (const line of readFileSync(envFile, 'utf8').split('\n')) {
    const m = /^(\w+)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2];
  }
  return env;
}
