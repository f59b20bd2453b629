#!/usr/bin/env bash
# Builds the kshm debug kernel (series 6.12-debug) from Debian's own kernel
# source (the linux-source-6.12 package) with harness/debug.config applied on
# top of `make allnoconfig`: KASAN, KFENCE, lockdep, UBSAN, DEBUG_OBJECTS,
# SLUB debugging, hung-task detection, and just what a test guest needs.
#
# Usage: harness/build-debug-kernel.sh OUTDIR
# Writes OUTDIR/env (KSHM_SERIES KVER KDIR VMLINUZ MODDIR), OUTDIR/stamp and
# OUTDIR/build-seconds. A second run with the same source package, fragment and
# script builds nothing. Runs on 2 cores in about the time printed at the end.
set -euo pipefail

out=${1:?usage: build-debug-kernel.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
frag=$here/debug.config
pkgs=(linux-source-6.12 bc flex bison libelf-dev libssl-dev make gcc xz-utils)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "the debug kernel needs: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
		exit 1
	fi
	echo "installing ${missing[*]} (apt-get)"
	timeout 600 apt-get update -q >/dev/null
	DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

tarball=$(ls /usr/src/linux-source-6.12.tar.xz)
stamp="$(dpkg-query -W -f='${Version}' linux-source-6.12) $(sha256sum "$frag" "$0" | cut -c1-16 | tr '\n' ' ')"
if [ -f "$out/env" ] && [ "$(cat "$out/stamp" 2>/dev/null)" = "$stamp" ]; then
	echo "kernel 6.12-debug: $(sed -n 's/^KVER=//p' "$out/env") (cached)"
	exit 0
fi

start=$(date +%s)
rm -rf "$out"
mkdir -p "$out/src" "$out/modules/kernel"
echo "kernel 6.12-debug: unpacking $tarball"
tar -xJf "$tarball" -C "$out/src" --strip-components=1
src=$out/src
mk() { make -C "$src" ARCH=x86_64 "$@"; }

echo "kernel 6.12-debug: configuring (allnoconfig + harness/debug.config)"
mk -s KCONFIG_ALLCONFIG="$frag" allnoconfig >/dev/null
# Kconfig drops a symbol whose dependencies are unmet without a word: check
# that every line of the fragment made it into the final .config.
bad=0
while IFS= read -r line; do
	case "$line" in '' | '#'*) continue ;; esac
	if ! grep -qxF -- "$line" "$src/.config"; then
		echo "debug.config: '$line' did not make it into the kernel's .config" >&2
		bad=1
	fi
done < "$frag"
[ "$bad" = 0 ] || exit 1

jobs=$(nproc)
echo "kernel 6.12-debug: building with $jobs jobs"
if ! mk -j"$jobs" -s bzImage modules > "$out/build.log" 2>&1; then
	tail -40 "$out/build.log" >&2
	echo "kernel 6.12-debug: build failed (whole log: $out/build.log)" >&2
	exit 1
fi
kver=$(mk -s kernelrelease)
seconds=$(($(date +%s) - start))
echo "$seconds" > "$out/build-seconds"
cat > "$out/env" <<ENV
KSHM_SERIES=6.12-debug
KVER=$kver
KDIR=$src
VMLINUZ=$src/arch/x86/boot/bzImage
MODDIR=$out/modules
DEBUG=1
ENV
echo "$stamp" > "$out/stamp"
echo "kernel 6.12-debug: $kver built in ${seconds} s on $jobs cores ($out)"
