// The host tools that guests and driver builds need, listed once: installed
// with apt when running as root on Debian, else the one command to run is
// printed. vm.mjs checks the same list before it boots.
import { spawnSync } from 'node:child_process';

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
