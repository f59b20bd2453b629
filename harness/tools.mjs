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
];

/** The packages of the tools that are missing, and the command that installs them. */
export function missingGuestTools() {
  const missing = [...new Set(NEEDED
    .filter(([bin]) => spawnSync('sh', ['-c', `command -v ${bin} || test -x ${bin}`], { stdio: 'ignore' }).status !== 0)
    .map(([, pkg]) => pkg))];
  return { missing, cmd: `apt-get install -y --no-install-recommends ${missing.join(' ')}` };
}

export function ensureGuestTools() {
  const { missing, cmd } = missingGuestTools();
  if (missing.length === 0) return;
  const canApt = process.getuid?.() === 0
    && spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;
  if (!canApt) {
    console.error(`kshm needs these packages to boot test guests: ${missing.join(' ')}\nrun: sudo ${cmd}`);
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
