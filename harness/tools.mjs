// The host tools the project needs, listed once, by purpose: installed with
// apt when running as root on Debian, else the one command to run is printed.
// vm.mjs checks the guest list before it boots; .ci/run and
// build-debug-kernel.sh install through this file too:
//
//   node harness/tools.mjs install guest|packaging|kernels|debug|all
//   node harness/tools.mjs packages guest|packaging|kernels|debug|all
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** virtiofsd is not on PATH: Debian ships it here. */
export const VIRTIOFSD = '/usr/lib/qemu/virtiofsd';

/** [binary or absolute path, Debian package] */
const NEEDED = [
  ['qemu-system-x86_64', 'qemu-system-x86'], [VIRTIOFSD, 'qemu-system-common'],
  ['busybox', 'busybox-static'], ['cpio', 'cpio'], ['modinfo', 'kmod'], ['pahole', 'pahole'],
  ['sparse', 'sparse'], ['xz', 'xz-utils'], ['valgrind', 'valgrind'], ['make', 'make'], ['gcc', 'gcc'], ['strace', 'strace'],
  ['dkms', 'dkms'], // the DKMS spec (dkms build in a private tree under build/dkms)
];
/** npm pack (prepack) cross-compiles the package's prebuilt linux-arm64 libkshm.so. */
const PACKAGING = [
  ['make', 'make'], ['gcc', 'gcc'],
  ['aarch64-linux-gnu-gcc', 'gcc-aarch64-linux-gnu'], ['/usr/aarch64-linux-gnu/include/stdio.h', 'libc6-dev-arm64-cross'],
];

/** provision-kernels.sh: the trixie build root for the 7.3 series. */
const KERNELS = [['debootstrap', 'debootstrap']];
/**
 * build-debug-kernel.sh: Debian's 6.12 source and what building a kernel takes. The script
 * checks the same list itself (it runs standalone, and its own hash keys the cached build).
 */
const DEBUG = [
  ['/usr/src/linux-source-6.12.tar.xz', 'linux-source-6.12'], ['bc', 'bc'], ['flex', 'flex'], ['bison', 'bison'],
  ['/usr/include/libelf.h', 'libelf-dev'], ['/usr/include/openssl/ssl.h', 'libssl-dev'],
  ['make', 'make'], ['gcc', 'gcc'], ['xz', 'xz-utils'],
];
const LISTS = { guest: NEEDED, packaging: PACKAGING, kernels: KERNELS, debug: DEBUG };
LISTS.all = Object.values(LISTS).flat();

/** The packages of the tools in @needed that are missing, and the command that installs them. */
function missingOf(needed) {
  const missing = [...new Set(needed
    .filter(([bin]) => spawnSync('sh', ['-c', `command -v ${bin} || test -e ${bin}`], { stdio: 'ignore' }).status !== 0)
    .map(([, pkg]) => pkg))];
  return { missing, cmd: `apt-get install -y --no-install-recommends ${missing.join(' ')}` };
}

/** The packages of the guest tools that are missing, and the command that installs them. */
export function missingGuestTools() {
  return missingOf(NEEDED);
}

export function ensureGuestTools() {
  ensure(NEEDED, 'to boot test guests');
}

export function ensurePackagingTools() {
  ensure(PACKAGING, 'to build its npm package');
}

/** Installs (or asks for) every package of one list: guest, packaging, kernels, debug or all. */
export function ensureTools(list) {
  ensure(LISTS[list], `(${list})`);
}

function ensure(needed, why) {
  const { missing, cmd } = missingOf(needed);
  if (missing.length === 0) return;
  const canApt = process.getuid?.() === 0
    && spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;
  if (!canApt) {
    console.error(`kshm needs these packages ${why}: ${missing.join(' ')}\nrun: sudo ${cmd}`);
    process.exit(1);
  }
  console.log(`installing ${missing.join(' ')} (apt-get)`);
  const r = spawnSync('sh', ['-c', `apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive ${cmd} -q >/dev/null`],
    { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`installing failed: run ${cmd}`);
    process.exit(1);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [verb, list] = process.argv.slice(2);
  if (!['install', 'packages'].includes(verb) || !(list in LISTS)) {
    console.error(`usage: node harness/tools.mjs install|packages ${Object.keys(LISTS).join('|')}`);
    process.exit(2);
  }
  if (verb === 'packages') console.log([...new Set(LISTS[list].map(([, pkg]) => pkg))].join(' '));
  else ensureTools(list);
}
