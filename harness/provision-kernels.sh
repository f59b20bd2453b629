#!/usr/bin/env bash
# Fetch Debian's cloud kernel images and headers for the supported series into
# a cache folder, without installing anything on the host: apt-get download +
# dpkg-deb -x only (no maintainer scripts, nothing under /boot or /lib/modules).
#
# Usage: harness/provision-kernels.sh [SERIES...]   (default: 6.1 6.12)
# Cache:  $KSHM_CACHE (default ~/.cache/kshm)/kernels/<series>/
#         with an env file giving KVER, KDIR (headers), VMLINUZ, MODDIR.
# A second run with the same resolved versions downloads nothing.
set -euo pipefail

cache=${KSHM_CACHE:-$HOME/.cache/kshm}/kernels
series_list=("$@")
[ ${#series_list[@]} -gt 0 ] || series_list=(6.1 6.12)

meta_image() {
	case "$1" in
	6.1) echo linux-image-cloud-amd64 ;;
	6.12) echo linux-image-6.12-cloud-amd64 ;;
	*) echo "unknown kernel series '$1' (supported: 6.1 6.12)" >&2; return 1 ;;
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

for s in "${series_list[@]}"; do
	provision "$s"
done
