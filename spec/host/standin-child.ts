// Runs a script in a node child over libkshm's stand-in build (the library
// is chosen once per process), on a shared stand-in region of its own,
// removed before and after: for specs of lib/native over the stand-in.
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';

/** The repository's root, with a trailing slash. */
export const root = fileURLToPath(new URL('../../../', import.meta.url));
/** libkshm's stand-in build (npm run build makes it). */
export const standin = `${root}native-shim/libkshm-standin.so`;

/**
 * Runs `source(name)` (an ES module's text) in a node process over the
 * stand-in build, on the shared stand-in region `${prefix}-<pid>`; returns
 * the last line it printed, parsed. Fails on a non-zero exit or `timeout`.
 */
export function onStandin(prefix: string, source: (name: string) => string, timeout: number): unknown {
  assert.ok(existsSync(standin), 'npm run build makes native-shim/libkshm-standin.so');
  const name = `${prefix}-${process.pid}`;
  const clean = (): void => {
    rmSync(`/dev/shm/kshm-standin-${name}`, { force: true });
    rmSync(`/tmp/kshm-standin-${name}.fifo`, { force: true });
  };
  clean();
  try {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', source(name)],
      { encoding: 'utf8', env: { ...process.env, KSHM_LIBRARY: standin }, timeout });
    assert.is(r.status, 0, `${r.error?.message ?? ''} ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').at(-1) as string);
  } finally {
    clean();
  }
}
