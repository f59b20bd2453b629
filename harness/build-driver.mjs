#!/usr/bin/env node
// npm run driver:build [-- SERIES...]: builds driver/ (and the harness's
// test-only modules) against every production kernel series, and the debug
// kernel once it is provisioned, with W=1, and with sparse (C=2) when it is
// installed (on the host, or in the build root for kernels built there). Any
// compiler, modpost or sparse warning fails the build: the driver is kept at
// zero warnings on every kernel.
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { debugSeries, driverBuildDir, kernel, productionSeries, provisioned, repoRoot, sampleBuildDir } from './kernels.mjs';

const has = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;

/**
 * In a build root, a command runs in a private mount namespace with its own
 * /proc (objtool reads it), which goes away with the command.
 */
function inRoot(root, cmd) {
  return ['unshare', ['--mount', '--propagation', 'private', 'chroot', root, 'sh', '-c',
    'mount -t proc proc /proc && exec "$@"', 'sh', ...cmd]];
}

/**
 * Whether sparse can check this kernel: newer kernels use __typeof_unqual__,
 * which older sparse releases cannot parse (the kernel's own
 * scripts/checker-valid.sh test, which Debian's headers do not ship).
 */
function sparseWorks(root) {
  const probe = 'static inline int u(const int *q) { __typeof_unqual__(*q) v = *q; return v; }\n';
  const script = `command -v sparse >/dev/null && f=$(mktemp --suffix=.c) && printf '${probe}' > $f `
    + '&& out=$(sparse -m64 $f 2>&1); rc=$?; rm -f $f; [ $rc = 0 ] && ! echo "$out" | grep -q error';
  const [cmd, args] = root ? inRoot(root, ['sh', '-c', script]) : ['sh', ['-c', script]];
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}

/** Copy a module's sources into its per-kernel build folder (kbuild writes beside them). */
function stage(srcDir, outDir) {
  mkdirSync(outDir, { recursive: true });
  for (const name of readdirSync(srcDir)) {
    if (name === 'Makefile' || name === 'dkms.conf' || name.startsWith('.')) continue;
    cpSync(join(srcDir, name), join(outDir, name), { recursive: true });
  }
}

/** Where a build folder is as its kbuild sees it: inside the build root for k.CHROOT kernels. */
function buildPath(k, outDir) {
  return k.CHROOT
    ? join('/kshm-build', createHash('sha256').update(repoRoot).digest('hex').slice(0, 12), k.series,
      outDir.split('/').at(-2))
    : outDir;
}

/**
 * Kernels whose kbuild the host cannot run (k.CHROOT) build in their build
 * root: the sources are staged in a folder inside it (one per checkout, so
 * several checkouts can build at once), built there, and copied back.
 * @extra: more make arguments (paths in them as buildPath() gives them).
 */
function buildModule(k, srcDir, outDir, label, extra = []) {
  const root = k.CHROOT;
  const inside = buildPath(k, outDir);
  const stageDir = root ? join(root, inside) : outDir;
  if (root) rmSync(stageDir, { recursive: true, force: true });
  stage(srcDir, stageDir);
  const sparse = root ? sparseWorks(root) : hasSparse;
  const args = ['-C', k.KDIR, `M=${inside}`, 'W=1', '-j2', ...extra, 'modules'];
  if (sparse) args.push('C=2', 'CHECK=sparse');
  const [cmd, cmdArgs] = root ? inRoot(root, ['make', ...args]) : ['make', args];
  const r = spawnSync(cmd, cmdArgs, {
    encoding: 'utf8',
    env: { ...process.env, KCFLAGS: '-Werror' },
  });
  if (root) {
    rmSync(outDir, { recursive: true, force: true });
    mkdirSync(outDir, { recursive: true });
    if (existsSync(stageDir)) cpSync(stageDir, outDir, { recursive: true });
  }
  const out = `${r.stdout}${r.stderr}`;
  // sparse and modpost report as "warning:"; the compiler too (and -Werror
  // turns those into errors). Either way: not clean.
  const bad = out.split('\n').filter((l) => /\b(warning|error)\b/i.test(l));
  if (r.status !== 0 || bad.length > 0) {
    process.stderr.write(out);
    process.stderr.write(`\n${label} on ${k.series} (${k.KVER}): build ${r.status !== 0 ? 'failed' : 'has warnings'}\n`);
    return false;
  }
  console.log(`${label}: built for ${k.series} (${k.KVER})${root ? ' in its build root' : ''}`
    + `${sparse ? ', sparse clean' : ', sparse: none usable for this kernel'}, W=1 clean`);
  return true;
}

const hasSparse = has('sparse');
const wanted = process.argv.slice(2).length > 0
  ? process.argv.slice(2)
  : [...productionSeries, ...debugSeries.filter(provisioned)];
let ok = true;
for (const series of wanted) {
  const k = kernel(series);
  ok = buildModule(k, join(repoRoot, 'driver'), driverBuildDir(series), 'kshm.ko') && ok;
  const testOut = join(repoRoot, 'build', 'testmod', series);
  rmSync(testOut, { recursive: true, force: true });
  ok = buildModule(k, join(repoRoot, 'harness', 'testmod'), testOut, 'test modules (kshm_warn, kshm_fault)') && ok;
  // The in-kernel API's test module (spec/kmod), linked against this kshm.ko
  // (whose staged build folder holds the driver's include/ too).
  const kapiOut = join(repoRoot, 'build', 'kmod', series);
  rmSync(kapiOut, { recursive: true, force: true });
  const kshmBuild = buildPath(k, driverBuildDir(series));
  const againstKshm = [
    `KBUILD_EXTRA_SYMBOLS=${join(kshmBuild, 'Module.symvers')}`,
    `KSHM_INCLUDE=${k.CHROOT ? join(kshmBuild, 'include') : join(repoRoot, 'driver', 'include')}`,
  ];
  ok = buildModule(k, join(repoRoot, 'spec', 'kmod'), kapiOut, 'kshm_kapi_test.ko, kshm_events_test.ko, kshm_tickrace_test.ko', againstKshm) && ok;
  // The sample producer (driver/samples), built like the kapi test module.
  const sampleOut = sampleBuildDir(series);
  rmSync(sampleOut, { recursive: true, force: true });
  ok = buildModule(k, join(repoRoot, 'driver', 'samples'), sampleOut, 'kshm_sample.ko', againstKshm) && ok;
}
process.exit(ok ? 0 : 1);
