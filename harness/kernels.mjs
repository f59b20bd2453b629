// Where the provisioned kernels and build outputs live; shared by the harness scripts.
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const cacheRoot = process.env.KSHM_CACHE ?? join(homedir(), '.cache', 'kshm');
export const supportedSeries = ['6.1', '6.12'];

/** Build folder of the driver for one kernel series. */
export function driverBuildDir(series) {
  return join(repoRoot, 'build', 'driver', series);
}

/**
 * The provisioned kernel of a series: { series, KVER, KDIR, VMLINUZ, MODDIR }.
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
