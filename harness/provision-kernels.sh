#!/usr/bin/env bash
# Fetch Debian's cloud kernel images and headers for the supported series into
# a cache folder, without installing anything on the host: apt-get download +
# dpkg-deb -x only (no maintainer scripts, nothing under /boot or /lib/modules).
#
# Usage: harness/provision-kernels.sh [SERIES...]   (default: 6.1 6.12 7.3)
#   6.1, 6.12   Debian 12's cloud kernels (the host's own apt lists)
#   7.3         the newest trixie-backports cloud kernel, with a trixie build
#               root (debootstrap, gcc-14) to build modules for it, since its
#               kbuild needs a newer compiler and glibc than the host's
#   6.12-debug  built from Debian's linux-source-6.12 with KASAN, lockdep,
#               ... (harness/build-debug-kernel.sh, harness/debug.config)
# Cache:  $KSHM_CACHE (default ~/.cache/kshm)/kernels/<series>/
#         with an env file giving KVER, KDIR (headers), VMLINUZ, MODDIR.
# A second run with the same resolved versions downloads nothing.
set -euo pipefail

cache=${KSHM_CACHE:-$HOME/.cache/kshm}/kernels
series_list=("$@")
[ ${#series_list[@]} -gt 0 ] || series_list=(6.1 6.12 7.3)

meta_image() {
	case "$1" in
	6.1) echo linux-image-cloud-amd64 ;;
	6.12) echo linux-image-6.12-cloud-amd64 ;;
	*) echo "unknown kernel series '$1' (supported: 6.1 6.12 7.3 6.12-debug)" >&2; return 1 ;;
	esac
}

# First "Depends:" of a package whose name matches a pattern.
dep_matching() {
	apt-cache depends "$1" 2>/dev/null | sed -n 's/^ *|\{0,1\}Depends: //p' | grep -E "$2" | head -n1
}

apt_updated=
ensure_apt_lists() {
	if [ -z "$apt_updated" ] && ! apt-cache show linux-image-cloud-amd64 >/dev/null 2>&1; then
		apt-get update -q >/dev/null
	fi
	apt_updated=1
}

provision() {
	local series=$1 dir image kver headers common kbuild pkgs stamp
	dir=$cache/$series
	ensure_apt_lists
	image=$(dep_matching "$(meta_image "$series")" '^linux-image-')
	[ -n "$image" ] || { echo "cannot resolve $(meta_image "$series")" >&2; return 1; }
	kver=${image#linux-image-}
	headers=linux-headers-$kver
	common=$(dep_matching "$headers" '^linux-headers-.*-common$')
	kbuild=$(dep_matching "$headers" '^linux-kbuild-')
	[ -n "$common" ] && [ -n "$kbuild" ] || { echo "cannot resolve headers of $kver" >&2; return 1; }
	pkgs="$image $headers $common $kbuild"
	stamp="$pkgs $(apt-cache policy $pkgs | sed -n 's/^ *Candidate: //p' | tr '\n' ' ')"
	if [ -f "$dir/env" ] && [ "$(cat "$dir/stamp" 2>/dev/null)" = "$stamp" ]; then
		echo "kernel $series: $kver (cached)"
		return 0
	fi
	echo "kernel $series: fetching $pkgs"
	rm -rf "$dir"
	mkdir -p "$dir/debs" "$dir/root"
	(cd "$dir/debs" && apt-get download -q -o APT::Sandbox::User=root $pkgs >/dev/null)
	for deb in "$dir"/debs/*.deb; do
		dpkg-deb -x "$deb" "$dir/root"
	done
	rm -rf "$dir/debs"

	local kdir="$dir/root/usr/src/linux-headers-$kver"
	local commondir=${common#linux-headers-}
	# The flavour headers include the -common tree by absolute path; point
	# that at the cache instead of /usr/src.
	sed -i "s|/usr/src/linux-headers-$commondir|$dir/root/usr/src/linux-headers-$commondir|g" \
		"$kdir/Makefile"
	[ -f "$dir/root/boot/vmlinuz-$kver" ] || { echo "no vmlinuz in $image" >&2; return 1; }
	cat > "$dir/env" <<ENV
KSHM_SERIES=$series
KVER=$kver
KDIR=$kdir
VMLINUZ=$dir/root/boot/vmlinuz-$kver
MODDIR=$dir/root/lib/modules/$kver
ENV
	echo "$stamp" > "$dir/stamp"
	echo "kernel $series: $kver ready in $dir"
}

# The Debian mirror the host's apt already uses (no host is named here).
host_mirror() {
	ensure_apt_lists
	apt-cache policy | sed -n 's|^ *[0-9]* \([a-z]*://[^ ]*\) bookworm/main .*|\1|p' | head -n1
}

# A trixie build root for kernels whose kbuild the host's toolchain cannot run
# (gcc-14 flags, an objtool linked against glibc >= 2.38): made once with
# debootstrap from Debian's packages into the cache. Its own apt sources carry
# trixie-backports; the host's apt configuration is never touched.
buildroot_trixie() {
	local root mirror stamp
	root=$(cd "$cache/.." && pwd)/buildroot-trixie
	stamp="trixie-1 gcc-14 make libc6-dev libelf-dev libssl-dev bc flex bison sparse kmod xz-utils"
	if [ -f "$root/.kshm-stamp" ] && [ "$(cat "$root/.kshm-stamp")" = "$stamp" ]; then
		echo "$root"
		return 0
	fi
	mirror=$(host_mirror)
	[ -n "$mirror" ] || { echo "cannot find the host's Debian mirror in apt-cache policy" >&2; return 1; }
	command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive timeout 900 \
		apt-get install -y -q --no-install-recommends debootstrap >/dev/null
	echo "build root: debootstrap trixie into $root" >&2
	rm -rf "$root"
	timeout 1500 debootstrap --variant=minbase \
		--include=gcc-14,make,libc6-dev,libelf-dev,libssl-dev,bc,flex,bison,sparse,kmod,xz-utils \
		trixie "$root" "$mirror" > "$cache/../buildroot-trixie.log" 2>&1 \
		|| { tail -20 "$cache/../buildroot-trixie.log" >&2; return 1; }
	cat > "$root/etc/apt/sources.list.d/backports.sources" <<SRC
Types: deb
URIs: $mirror
Suites: trixie-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
	timeout 600 chroot "$root" apt-get update -q >/dev/null
	echo "$stamp" > "$root/.kshm-stamp"
	echo "$root"
}

# The newest trixie-backports cloud kernel: its headers are installed into the
# build root (with their kbuild and compiler), its image unpacked into the cache.
provision_backports() {
	local series=$1 dir=$cache/$1 root meta image kver stamp
	root=$(buildroot_trixie)
	meta=linux-image-cloud-amd64
	image=$(chroot "$root" apt-cache -t trixie-backports depends "$meta" 2>/dev/null \
		| sed -n 's/^ *|\{0,1\}Depends: //p' | grep -E '^linux-image-' | head -n1)
	[ -n "$image" ] || { echo "cannot resolve $meta in trixie-backports" >&2; return 1; }
	kver=${image#linux-image-}
	kver=${kver%-unsigned}
	case "$kver" in
	"$series".*) ;;
	*) echo "trixie-backports' newest cloud kernel is $kver, not series $series: update harness/kernels.mjs" >&2; return 1 ;;
	esac
	stamp="$image $(chroot "$root" apt-cache policy "$image" | sed -n 's/^ *Candidate: //p')"
	if [ -f "$dir/env" ] && [ "$(cat "$dir/stamp" 2>/dev/null)" = "$stamp" ]; then
		echo "kernel $series: $kver (cached)"
		return 0
	fi
	echo "kernel $series: fetching $image and installing its headers into the build root"
	rm -rf "$dir"
	mkdir -p "$dir/root"
	DEBIAN_FRONTEND=noninteractive timeout 900 chroot "$root" apt-get install -y -q \
		--no-install-recommends -t trixie-backports "linux-headers-$kver" >/dev/null
	rm -rf "$root/tmp/kshm-debs"
	mkdir -p "$root/tmp/kshm-debs"
	# Since 7.x the image package is split: the kernel and its modules come in
	# linux-binary-* and linux-modules-*, which it depends on.
	local debs
	debs="$image $(chroot "$root" apt-cache depends "$image" 2>/dev/null \
		| sed -n 's/^ *|\{0,1\}Depends: //p' | grep -xF -e "linux-binary-$kver" -e "linux-modules-$kver" | tr '\n' ' ')"
	(timeout 900 chroot "$root" sh -c "cd /tmp/kshm-debs && apt-get download -q \
		-o APT::Sandbox::User=root -t trixie-backports $debs" >/dev/null)
	for deb in "$root"/tmp/kshm-debs/*.deb; do
		dpkg-deb -x "$deb" "$dir/root"
	done
	rm -rf "$root/tmp/kshm-debs"
	# merged-/usr packaging: the kernel sits beside its modules
	local vmlinuz=$dir/root/usr/lib/modules/$kver/vmlinuz
	[ -f "$vmlinuz" ] || vmlinuz=$dir/root/boot/vmlinuz-$kver
	[ -f "$vmlinuz" ] || { echo "no vmlinuz in $debs" >&2; return 1; }
	cat > "$dir/env" <<ENV
KSHM_SERIES=$series
KVER=$kver
KDIR=/usr/src/linux-headers-$kver
CHROOT=$root
VMLINUZ=$vmlinuz
MODDIR=$(dirname "$vmlinuz")
ENV
	echo "$stamp" > "$dir/stamp"
	echo "kernel $series: $kver ready in $dir (modules build in $root)"
}

for s in "${series_list[@]}"; do
	case "$s" in
	6.12-debug) bash "$(dirname "$0")/build-debug-kernel.sh" "$cache/$s" ;;
	7.3) provision_backports "$s" ;;
	*) provision "$s" ;;
	esac
done
