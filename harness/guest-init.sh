#!/kshm/busybox sh
# PID 1 of a kshm test guest (packed into the initramfs by harness/vm.mjs).
# ttyS0 carries the command's output and the harness markers; the kernel
# console is on ttyS1, which the harness scans for BUG/WARNING/Oops.
B=/kshm/busybox
out=/dev/ttyS0

$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
$B mount -t devtmpfs devtmpfs /dev
$B mkdir -p /dev/pts /dev/shm
$B mount -t devpts devpts /dev/pts
$B mount -t tmpfs tmpfs /dev/shm
$B mount -t tmpfs tmpfs /tmp
$B mount -t tmpfs tmpfs /run
$B stty -F $out raw -echo 2>/dev/null

mark() { echo "@@KSHM-$1@@" > $out; }
die() {
	mark "$1"
	$B sync
	$B poweroff -f
}

for m in $($B cat /kshm/modules.order); do
	$B insmod "/kshm/modules/$m.ko" || die "FAIL:insmod $m"
done
$B mount -t virtiofs -o ro usr /usr || die "FAIL:mount /usr"
. /kshm/run.env
$B mkdir -p "$KSHM_REPO"
$B mount -t virtiofs repo "$KSHM_REPO" || die "FAIL:mount repo"
echo 30 > /proc/sys/kernel/hung_task_timeout_secs 2>/dev/null

if [ -n "$KSHM_KO" ]; then
	# shellcheck disable=SC2086 # parameters are split on purpose
	$B insmod "$KSHM_KO" $KSHM_KO_PARAMS || die "FAIL:module did not load ($KSHM_KO)"
fi
# --load: more modules after kshm, in order; unloaded in reverse after CMD.
loaded=
while read -r ko params; do
	[ -n "$ko" ] || continue
	# shellcheck disable=SC2086 # parameters are split on purpose
	$B insmod "$ko" $params || die "FAIL:module did not load ($ko $params)"
	m=${ko##*/}
	loaded="${m%.ko} $loaded"
done < /kshm/loads
# /dev/kshm is the default region, or a directory of regions (REGIONS in kshm.h).
for n in /dev/kshm /dev/kshm/*; do
	[ -c "$n" ] || continue
	$B chgrp kshm "$n" 2>/dev/null
	$B chmod 0660 "$n" 2>/dev/null
done
mark READY
cd "$KSHM_CWD" || die "FAIL:cd $KSHM_CWD"
if [ "$KSHM_HOST_TTY" = 1 ]; then
	/bin/sh /kshm/cmd.sh < /dev/null > $out 2>&1
	rc=$?
else
	# The host's output is not a terminal: neither is the command's.
	{ /bin/sh /kshm/cmd.sh; echo $? > /run/kshm-rc; } < /dev/null 2>&1 | $B cat > $out
	rc=$($B cat /run/kshm-rc)
fi
cd /
# Stop what the command left behind, then prove the module unloads cleanly.
$B kill -9 -1 2>/dev/null
$B sleep 0.2
for m in $loaded; do
	$B rmmod "$m" || die "FAIL:$m did not unload (loaded with --load)"
done
if [ -n "$KSHM_KO" ] && ! $B rmmod kshm; then
	die "FAIL:kshm did not unload (still in use after the command ended)"
fi
mark "EXIT:$rc"
$B sync
$B poweroff -f
