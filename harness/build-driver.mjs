#!/usr/bin/env node
// npm run driver:build [-- SERIES...]: builds driver/ (and the harness's
// test-only module) against every provisioned kernel series with W=1, and with
// sparse (C=2) when it is installed. Any compiler, modpost or sparse warning
// fails the build: the driver is kept at zero warnings on every kernel.
import { cpSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { driverBuildDir, kernel, repoRoot, supportedSeries } from './kernels.mjs';

const hasSparse = spawnSync('sh', ['-c', 'command -v sparse'], { stdio: 'ignore' }).status === 0;

/** Copy a module's sources into its per-kernel build folder (kbuild writes beside them). */
function stage(srcDir, outDir) {
  mkdirSync(outDir, { recursive: true });
  for (const name of readdirSync(srcDir)) {
    if (name === 'Makefile' || name === 'dkms.conf' || name.startsWith('.')) continue;
    cpSync(join(srcDir, name), join(outDir, name), { recursive: true });
  }
}

function buildModule(k, srcDir, outDir, label, extra = []) {
  stage(srcDir, outDir);
  const args = ['-C', k.KDIR, `M=${outDir}`, 'W=1', '-j2', ...extra, 'modules'];
  if (hasSparse) args.push('C=2', 'CHECK=sparse');
  const r = spawnSync('make', args, {
    encoding: 'utf8',
    env: { ...process.env, KCFLAGS: '-Werror' },
  });
  const out = `${r.stdout}${r.stderr}`;
  // sparse and modpost report as "warning:"; the compiler too (and -Werror
  // turns those into errors). Either way: not clean.
  const bad = out.split('\n').filter((l) => /\b(warning|error)\b/i.test(l));
  if (r.status !== 0 || bad.length > 0) {
    process.stderr.write(out);
    process.stderr.write(`\n${label} on ${k.series} (${k.KVER}): build ${r.status !== 0 ? 'failed' : 'has warnings'}\n`);
    return false;
  }
  console.log(`${label}: built for ${k.series} (${k.KVER})${hasSparse ? ', sparse clean' : ''}, W=1 clean`);
  return true;
}

const wanted = process.argv.slice(2).length > 0 ? process.argv.slice(2) : supportedSeries;
let ok = true;
for (const series of wanted) {
  const k = kernel(series);
  ok = buildModule(k, join(repoRoot, 'driver'), driverBuildDir(series), 'kshm.ko') && ok;
  const testOut = join(repoRoot, 'build', 'testmod', series);
  rmSync(testOut, { recursive: true, force: true });
  ok = buildModule(k, join(repoRoot, 'harness', 'testmod'), testOut, 'kshm_warn.ko') && ok;
  // The in-kernel API's test module (spec/kmod), linked against this kshm.ko.
  const kapiOut = join(repoRoot, 'build', 'kmod', series);
  rmSync(kapiOut, { recursive: true, force: true });
  ok = buildModule(k, join(repoRoot, 'spec', 'kmod'), kapiOut, 'kshm_kapi_test.ko', [
    `KBUILD_EXTRA_SYMBOLS=${join(driverBuildDir(series), 'Module.symvers')}`,
    `KSHM_INCLUDE=${join(repoRoot, 'driver', 'include')}`,
  ]) && ok;
}
process.exit(ok ? 0 : 1);
