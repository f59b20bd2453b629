#!/usr/bin/env node
// npm start [-- --duration S] [-- --kernel 6.1|6.12]: the live demo. With
// /dev/kshm on this machine it runs here; without, in a QEMU guest with the
// driver loaded (through the harness), and it says so first.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ensureGuestTools } from './tools.mjs';
import { repoRoot, supportedSeries } from './kernels.mjs';

const args = process.argv.slice(2);
const kernelAt = args.indexOf('--kernel');
const series = kernelAt >= 0 ? args[kernelAt + 1] : '6.1';
const demoArgs = kernelAt >= 0 ? args.filter((_, i) => i !== kernelAt && i !== kernelAt + 1) : args;
const demo = join(repoRoot, 'dist', 'cli', 'demo.js');

function run(cmd, cmdArgs) {
  const child = spawn(cmd, cmdArgs, { stdio: 'inherit', cwd: repoRoot });
  // Ctrl-C reaches the child too (same terminal): wait for it to finish cleanly.
  process.on('SIGINT', () => {});
  child.on('close', (code) => process.exit(code ?? 1));
}

const demoArgsJs = join(repoRoot, 'dist', 'cli', 'demo-args.js');
if (!existsSync(demo) || !existsSync(demoArgsJs)) {
  const r = spawnSync('npm', ['run', 'build'], { stdio: 'inherit', cwd: repoRoot });
  if (r.status !== 0) process.exit(1);
}
// Bad arguments fail here, as the demo would fail them, before a guest boots.
const { DEMO_USAGE, parseDemoArgs } = await import(pathToFileURL(demoArgsJs).href);
try {
  if (kernelAt >= 0 && !supportedSeries.includes(series)) {
    throw new Error(`--kernel must be one of ${supportedSeries.join(', ')}, got ${series}`);
  }
  if (parseDemoArgs(demoArgs).help) {
    console.log(DEMO_USAGE);
    process.exit(0);
  }
} catch (e) {
  process.stderr.write(`demo: ${e.message}\n${DEMO_USAGE}\n`);
  process.exit(2);
}
if (existsSync('/dev/kshm')) {
  run(process.execPath, [demo, ...demoArgs]);
} else {
  console.log(`no /dev/kshm on this machine: running the demo inside a QEMU guest (kernel ${series}) with the kshm driver loaded`);
  ensureGuestTools();
  const d = demoArgs.indexOf('--duration');
  const seconds = d >= 0 ? Number(demoArgs[d + 1]) : NaN;
  const timeout = Number.isFinite(seconds) ? Math.ceil(seconds) + 120 : 7 * 24 * 3600;
  run(process.execPath, [join(repoRoot, 'harness', 'vm.mjs'), '--kernel', series, '--smp', '2',
    '--timeout', String(timeout), process.execPath, demo, ...demoArgs]);
}
