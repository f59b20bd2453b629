#!/usr/bin/env node
// npm run vm -- [--kernel 6.1|6.12|7.3|6.12-debug] [--smp N] [--mem MB] [--timeout S]
//               [--param NAME=VALUE]... [--load 'MODULE [PARAM=VALUE...]']...
//               [--no-module] [--no-build] [--ko FILE] CMD ARGS...
//
// Boots a provisioned Debian kernel in qemu-system-x86_64 (TCG), loads the
// freshly built kshm.ko (or the one --ko names, e.g. a DKMS build; it must
// be inside the repository, which the guest sees), runs CMD inside the guest with the repository at the
// same absolute path and the host's /usr (so node) shared by virtiofs, streams
// its output and exits with CMD's exit code. Each --load loads one more
// module after kshm.ko, in order (MODULE: a name the driver build made, e.g.
// kshm_sample from driver/samples, or a .ko path in the repository); they
// are unloaded in reverse order after CMD, and the run fails if one does not. It fails with the reason printed
// when the module does not load or unload, when the kernel logs a BUG, WARNING,
// Oops, panic, hung task or lockdep report, or on timeout. Every process it
// starts (qemu, virtiofsd) is stopped by pid before it exits.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync,
  rmSync, writeFileSync, chmodSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import {
  cacheRoot, debugSeries, driverBuildDir, extraModuleDirs, kernel, repoRoot, supportedSeries,
} from './kernels.mjs';
import { missingGuestTools, VIRTIOFSD } from './tools.mjs';

// Every report a kernel checker prints, production or debug kernel. Lockdep's
// own boot banner ("... MAX_LOCKDEP_KEYS", "RCU lockdep checking is enabled")
// is not a report, so lockdep is matched by its report titles.
const KERNEL_TROUBLE = [
  /\bBUG[: ]/, /WARNING:/, /\bOops\b/, /Kernel panic/, /blocked for more than \d+ seconds/,
  /possible circular locking/, /possible recursive locking/, /inconsistent lock state/,
  /possible irq lock inversion/, /suspicious RCU usage/, /DEBUG_LOCKS_WARN/, /Invalid wait context/,
  /turning off the locking correctness validator/, /lockdep is turned off/, /MAX_LOCKDEP_\w+ too low/,
  /bad unlock balance/, /held lock freed/, /lock held when returning to user space/,
  /sleeping function called from invalid context/, /general protection fault/,
  /UBSAN:/, /KASAN:/, /KFENCE:/, /ODEBUG:/, /refcount_t:/, /list_(add|del) corruption/,
  /soft lockup/, /hard LOCKUP/, /rcu_sched self-detected stall|rcu: INFO: rcu_.* stall/,
];

function usage(msg) {
  if (msg) console.error(`vm: ${msg}`);
  console.error(`usage: npm run vm -- [--kernel ${supportedSeries.join('|')}] [--smp N] [--mem MB] [--timeout S] `
    + "[--param NAME=VALUE]... [--load 'MODULE [PARAM=VALUE...]']... [--no-module] [--no-build] [--ko FILE] CMD ARGS...");
  process.exit(2);
}

function parseArgs(argv) {
  const o = { series: process.env.KSHM_KERNEL ?? '6.1', smp: 1, mem: 0, timeout: 300,
    params: [], loads: [], module: true, build: true, ko: undefined, cmd: [] };
  let i = 0;
  const value = (name) => {
    if (i + 1 >= argv.length) usage(`${name} needs a value`);
    return argv[++i];
  };
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') { i++; break; }
    if (!a.startsWith('--')) break;
    if (a === '--kernel') o.series = value(a);
    else if (a === '--smp') o.smp = Number(value(a));
    else if (a === '--mem') o.mem = Number(value(a));
    else if (a === '--timeout') o.timeout = Number(value(a));
    else if (a === '--param') o.params.push(value(a));
    else if (a === '--load') o.loads.push(value(a));
    else if (a === '--no-module') o.module = false;
    else if (a === '--no-build') o.build = false;
    else if (a === '--ko') o.ko = resolve(value(a));
    else if (a === '--help') usage();
    else usage(`unknown option ${a}`);
  }
  o.cmd = argv.slice(i);
  // KASAN's shadow and quarantine, SLUB red zones and lockdep's tables need room.
  if (o.mem === 0) o.mem = debugSeries.includes(o.series) ? 2048 : 1024;
  if (o.cmd.length === 0) usage('no command given');
  for (const [k, v] of [['--smp', o.smp], ['--mem', o.mem], ['--timeout', o.timeout]]) {
    if (!Number.isInteger(v) || v <= 0) usage(`${k} takes a positive whole number`);
  }
  // Values may hold lists (regions=a:1,b:4:tick_ms=10), never shell syntax.
  const paramRe = /^\w+=[\w.,:=-]*$/;
  for (const p of o.params) if (!paramRe.test(p)) usage(`bad --param '${p}' (NAME=VALUE)`);
  o.loads = o.loads.map((spec) => {
    const [mod, ...params] = spec.trim().split(/\s+/);
    if (!mod || !/^[\w./-]+$/.test(mod)) usage(`bad --load '${spec}' (MODULE [PARAM=VALUE...])`);
    for (const p of params) if (!paramRe.test(p)) usage(`bad --load parameter '${p}' (NAME=VALUE)`);
    if (!o.module) usage('--load needs kshm loaded (not --no-module)');
    return { mod, params };
  });
  if (o.ko !== undefined) {
    if (!o.module) usage('--ko and --no-module exclude each other');
    if (relative(repoRoot, o.ko).startsWith('..')) usage(`--ko ${o.ko} is outside the repository: the guest cannot see it`);
    if (!existsSync(o.ko)) usage(`--ko ${o.ko} does not exist`);
    o.build = false; // a given module: nothing of ours to build
  }
  return o;
}

const shq = (s) => `'${String(s).replaceAll("'", "'\\''")}'`;

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr ?? ''}`);
  return r.stdout;
}

/** Module names (without .ko) needed for virtiofs, in load order, resolved with modinfo. */
function virtiofsModules(k) {
  const files = new Map();
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else {
        const m = /^(.*)\.ko(\.xz|\.zst)?$/.exec(e.name);
        if (m) files.set(m[1].replaceAll('-', '_'), join(d, e.name));
      }
    }
  };
  walk(join(k.MODDIR, 'kernel'));
  const order = [];
  const visit = (name) => {
    if (order.includes(name) || !files.has(name)) return;
    const deps = run('modinfo', ['-F', 'depends', files.get(name)]).trim();
    for (const d of deps ? deps.split(',') : []) visit(d.replaceAll('-', '_'));
    order.push(name);
  };
  // Built-in on some kernels (then absent from MODDIR and skipped).
  for (const m of ['virtio_pci', 'fuse', 'virtiofs']) visit(m);
  return order.map((name) => ({ name, file: files.get(name) }));
}

/** The per-kernel base initramfs (busybox, virtio modules, /init), built once and cached. */
function baseInitramfs(k) {
  const init = readFileSync(join(repoRoot, 'harness', 'guest-init.sh'));
  const busybox = '/bin/busybox';
  const hash = createHash('sha256').update('layout-2').update(init).update(k.KVER).update(readFileSync(busybox))
    .digest('hex').slice(0, 16);
  const dir = join(cacheRoot, 'initramfs');
  const out = join(dir, `${k.KVER}-${hash}.cpio`);
  if (existsSync(out)) return out;
  mkdirSync(dir, { recursive: true });
  const root = mkdtempSync(join(tmpdir(), 'kshm-initramfs-'));
  try {
    chmodSync(root, 0o755); // the guest's / (mkdtemp made it 0700)
    for (const d of ['kshm/modules', 'proc', 'sys', 'dev', 'tmp', 'run', 'usr', 'etc', 'root', 'mnt']) {
      mkdirSync(join(root, d), { recursive: true });
    }
    // Debian 12 is merged-/usr: the top-level dirs are links into the shared /usr.
    for (const l of ['bin', 'sbin', 'lib', 'lib64']) run('ln', ['-s', `usr/${l}`, join(root, l)]);
    copyFileSync(busybox, join(root, 'kshm', 'busybox'));
    chmodSync(join(root, 'kshm', 'busybox'), 0o755);
    copyFileSync(join(repoRoot, 'harness', 'guest-init.sh'), join(root, 'init'));
    chmodSync(join(root, 'init'), 0o755);
    const mods = virtiofsModules(k);
    for (const m of mods) {
      const dst = join(root, 'kshm', 'modules', `${m.name}.ko`);
      if (m.file.endsWith('.xz')) writeFileSync(dst, run('xz', ['-dc', m.file], { encoding: 'buffer', maxBuffer: 1 << 28 }));
      else if (m.file.endsWith('.zst')) writeFileSync(dst, run('zstd', ['-dc', m.file], { encoding: 'buffer', maxBuffer: 1 << 28 }));
      else copyFileSync(m.file, dst);
    }
    writeFileSync(join(root, 'kshm', 'modules.order'), mods.map((m) => m.name).join('\n') + '\n');
    writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n');
    writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\nkshm:x:990:\nnogroup:x:65534:\n');
    writeFileSync(join(root, 'etc', 'hosts'), '127.0.0.1 localhost\n');
    const tmp = `${out}.${process.pid}.tmp`;
    run('sh', ['-c', `cd ${shq(root)} && find . | cpio -o -H newc --quiet > ${shq(tmp)}`]);
    renameSync(tmp, out);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return out;
}

/** The .ko file --load MOD means: a path in the repository, or a module the driver build made. */
function resolveModule(series, mod) {
  if (mod.includes('/') || mod.endsWith('.ko')) {
    const file = resolve(mod);
    if (relative(repoRoot, file).startsWith('..')) usage(`--load ${mod} is outside the repository: the guest cannot see it`);
    if (!existsSync(file)) usage(`--load ${mod}: no such file`);
    return file;
  }
  for (const dir of extraModuleDirs(series)) {
    const file = join(dir, `${mod}.ko`);
    if (existsSync(file)) return file;
  }
  return usage(`--load ${mod}: no ${mod}.ko built for ${series} (npm run driver:build)`);
}

/** A tiny uncompressed cpio with this run's command, appended to the base initramfs. */
function runInitramfs(tmp, o, base) {
  const root = join(tmp, 'runroot');
  mkdirSync(join(root, 'kshm'), { recursive: true });
  const cwd = relative(repoRoot, process.cwd()).startsWith('..') ? repoRoot : process.cwd();
  const ko = o.module ? o.ko ?? join(driverBuildDir(o.series), 'kshm.ko') : '';
  const passEnv = Object.entries(process.env)
    .filter(([k]) => /^(KSHM_\w+|CI|NO_COLOR|NODE_OPTIONS|UV_THREADPOOL_SIZE|SEED|DEBUG)$/.test(k))
    .filter(([k]) => !['KSHM_KO', 'KSHM_KO_PARAMS', 'KSHM_REPO', 'KSHM_CWD'].includes(k));
  const env = [
    ['KSHM_REPO', repoRoot], ['KSHM_CWD', cwd], ['KSHM_KO', ko], ['KSHM_KO_PARAMS', o.params.join(' ')],
  ];
  const exported = [
    ['PATH', '/usr/local/bin:/usr/bin:/usr/sbin:/bin:/sbin'], ['HOME', '/root'], ['TERM', 'dumb'],
    ['NODE_DISABLE_COLORS', '1'], ['NO_COLOR', '1'], ['KSHM_IN_GUEST', '1'], ['KSHM_KERNEL', o.series],
    ['KSHM_HOST_TTY', process.stdout.isTTY ? '1' : '0'],
    ['KSHM_TIME_SCALE', debugSeries.includes(o.series) ? '4' : '1'],
    ...passEnv,
  ];
  writeFileSync(join(root, 'kshm', 'run.env'),
    [...env.map(([k, v]) => `${k}=${shq(v)}`), ...exported.map(([k, v]) => `export ${k}=${shq(v)}`)].join('\n') + '\n');
  writeFileSync(join(root, 'kshm', 'cmd.sh'), `exec ${o.cmd.map(shq).join(' ')}\n`);
  // One "PATH PARAMS..." line per --load, in load order.
  writeFileSync(join(root, 'kshm', 'loads'),
    o.loads.map(({ mod, params }) => [resolveModule(o.series, mod), ...params].join(' ') + '\n').join(''));
  const runCpio = join(tmp, 'run.cpio');
  run('sh', ['-c', `cd ${shq(root)} && find kshm/run.env kshm/cmd.sh kshm/loads | cpio -o -H newc --quiet > ${shq(runCpio)}`]);
  const initrd = join(tmp, 'initrd');
  writeFileSync(initrd, Buffer.concat([readFileSync(base), readFileSync(runCpio)]));
  return initrd;
}

function startVirtiofsd(tmp, tag, source, cache, children) {
  const sock = join(tmp, `${tag}.sock`);
  const child = spawn(VIRTIOFSD, [`--socket-path=${sock}`, '-o', `source=${source}`, '-o', `cache=${cache}`,
    '-o', 'sandbox=chroot', '-o', 'log_level=err'], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  return { sock, child, error: () => err };
}

async function waitFor(path, ms, what) {
  const until = Date.now() + ms;
  while (!existsSync(path)) {
    if (Date.now() > until) throw new Error(`${what} did not start`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  let k;
  try {
    k = kernel(o.series);
  } catch (e) {
    usage(e.message);
  }
  if (o.build) {
    const r = spawnSync(process.execPath, [join(repoRoot, 'harness', 'build-driver.mjs'), o.series],
      { stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) { console.error('vm: driver build failed'); process.exit(1); }
  }
  if (o.module && o.ko === undefined && !existsSync(join(driverBuildDir(o.series), 'kshm.ko'))) {
    console.error(`vm: no kshm.ko for ${o.series}: run npm run driver:build`);
    process.exit(1);
  }
  const tools = missingGuestTools();
  if (tools.missing.length > 0) {
    console.error(`vm: ${tools.missing.join(', ')} missing: ${tools.cmd}`);
    process.exit(1);
  }
  const base = baseInitramfs(k);
  let result = await bootOnce(o, k, base);
  if (result.retryable) {
    // Seen rarely under multi-threaded TCG: the kernel trips while booting
    // (e.g. an int3 during text patching), before kshm is even loaded.
    console.error('vm: the kernel failed while booting, before kshm was loaded; booting once more');
    result = await bootOnce(o, k, base);
  }
  process.exit(result.exitCode);
}

let cleanupCurrent = () => {};
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => { cleanupCurrent(); process.exit(130); });
}

/** One boot: returns the exit code, and whether the failure came before kshm was loaded. */
async function bootOnce(o, k, base) {
  // KSHM_VM_TAG (letters, digits) names the run directory kshm-vm-TAG...: the
  // harness spec finds its own guests' processes by it beside npm test's others.
  const tag = (process.env.KSHM_VM_TAG ?? '').replace(/[^a-z0-9]/gi, '');
  const tmp = mkdtempSync(join(tmpdir(), `kshm-vm-${tag}`));
  const children = [];
  let exitCode = 1;
  let retryable = false;
  const cleanup = () => {
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null) {
        // `timeout` runs qemu in a process group of its own: kill the group.
        try { process.kill(-c.pid, 'SIGKILL'); } catch { /* not a group leader */ }
        try { process.kill(c.pid, 'SIGKILL'); } catch { /* already gone */ }
      }
    }
    rmSync(tmp, { recursive: true, force: true });
  };
  cleanupCurrent = cleanup;
  try {
    const initrd = runInitramfs(tmp, o, base);
    const usr = startVirtiofsd(tmp, 'usr', '/usr', 'always', children);
    const repo = startVirtiofsd(tmp, 'repo', repoRoot, 'auto', children);
    await waitFor(usr.sock, 5000, `virtiofsd for /usr (${usr.error()})`);
    await waitFor(repo.sock, 5000, `virtiofsd for the repo (${repo.error()})`);
    const klog = join(tmp, 'kernel.log');
    writeFileSync(klog, '');
    const accel = process.env.KSHM_ACCEL === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg', '-cpu', 'max'];
    const append = ['console=ttyS1', 'loglevel=7', 'panic=-1', 'oops=panic', 'tsc=reliable',
      'nokaslr', 'rdinit=/init', 'random.trust_cpu=on'].join(' ');
    const qemuArgs = [
      ...accel, '-smp', String(o.smp), '-m', `${o.mem}M`,
      '-object', `memory-backend-memfd,id=mem,size=${o.mem}M,share=on`, '-numa', 'node,memdev=mem',
      '-kernel', k.VMLINUZ, '-initrd', initrd, '-append', append,
      '-display', 'none', '-no-reboot', '-nodefaults',
      '-serial', 'stdio', '-serial', `file:${klog}`,
      '-chardev', `socket,id=usrfs,path=${usr.sock}`, '-device', 'vhost-user-fs-pci,chardev=usrfs,tag=usr',
      '-chardev', `socket,id=repofs,path=${repo.sock}`, '-device', 'vhost-user-fs-pci,chardev=repofs,tag=repo',
    ];
    const qemu = spawn('timeout', ['--kill-after=5', String(o.timeout + 30), 'qemu-system-x86_64', ...qemuArgs],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(qemu);
    let failure = null;
    let guestExit = null;
    let ready = false;
    let printed = false;
    let pending = '';
    const onLine = (line) => {
      const m = /@@KSHM-(READY|EXIT:(\d+)|FAIL:(.*))@@/.exec(line);
      if (!m) {
        printed = true;
        process.stdout.write(`${line}\n`);
        return;
      }
      if (m[1] === 'READY') ready = true;
      else if (m[2] !== undefined) guestExit = Number(m[2]);
      else failure = failure ?? m[3];
    };
    const decoder = new StringDecoder('utf8');
    qemu.stdout.on('data', (d) => {
      pending += decoder.write(d).replaceAll('\r', '');
      const lines = pending.split('\n');
      pending = lines.pop();
      lines.forEach(onLine);
    });
    let qemuErr = '';
    qemu.stderr.on('data', (d) => { qemuErr += d; });
    const scanKernel = () => {
      const log = readFileSync(klog, 'utf8');
      const bad = log.split('\n').find((l) => KERNEL_TROUBLE.some((re) => re.test(l)));
      return { log, bad };
    };
    const stopGuest = () => {
      try { process.kill(-qemu.pid, 'SIGKILL'); } catch { /* gone */ }
      try { process.kill(qemu.pid, 'SIGKILL'); } catch { /* gone */ }
    };
    const timer = setTimeout(() => {
      failure = failure ?? `timeout after ${o.timeout} s${ready ? '' : ' (the guest never became ready)'}`;
      stopGuest();
    }, o.timeout * 1000);
    // Watch the kernel log while the command runs: the guest is stopped at
    // the first report (a WARNING does not end it by itself), and the
    // report is printed below as the failure.
    const watch = setInterval(() => {
      if (!scanKernel().bad) return;
      clearInterval(watch);
      stopGuest();
    }, 500);
    await new Promise((resolve) => qemu.on('close', resolve));
    clearTimeout(timer);
    clearInterval(watch);
    if (pending) onLine(pending);
    const { log, bad } = scanKernel();
    if (bad) failure = `the kernel logged trouble: ${bad.trim()}`;
    if (!failure && guestExit === null) failure = `the guest stopped without reporting an exit code${qemuErr ? `: ${qemuErr.trim()}` : ''}`;
    if (failure) {
      const lines = log.split('\n').filter(Boolean);
      const at = bad ? lines.findIndex((l) => l === bad) : -1;
      const shown = at >= 0 ? lines.slice(Math.max(0, at - 5), at + 40) : lines.slice(-25);
      const keep = join(repoRoot, 'build', 'vm-failures', `${new Date().toISOString().replace(/[:.]/g, '-')}-${o.series}.log`);
      mkdirSync(join(repoRoot, 'build', 'vm-failures'), { recursive: true });
      writeFileSync(keep, log);
      console.error(`\nvm (${o.series}, ${k.KVER}): FAILED: ${failure}\n--- kernel log ${at >= 0 ? 'around it' : '(last lines)'} ---\n`
        + `${shown.join('\n')}\n--- whole kernel log: ${keep}`);
      exitCode = guestExit && guestExit !== 0 ? guestExit : 1;
      const kshmLoaded = lines.findIndex((l) => l.includes('kshm'));
      retryable = at >= 0 && !ready && !printed && (kshmLoaded < 0 || kshmLoaded > at);
    } else {
      exitCode = guestExit;
    }
  } catch (e) {
    console.error(`vm: ${e.message}`);
    exitCode = 1;
  } finally {
    cleanup();
  }
  return { exitCode, retryable };
}

await main();
