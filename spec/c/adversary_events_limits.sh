#!/bin/sh
# Module parameter ring= at its limits, in a guest started with --no-module:
#   npm run vm -- --no-module --kernel 7.3 --smp 2 sh spec/c/adversary_events_limits.sh 7.3
# Valid values load and give that many records; invalid ones must fail the load (EINVAL).
series=${1:-7.3}
ko=build/driver/$series/kshm.ko
t=build/spec-c/adversary_events_test
B=/kshm/busybox
fails=0
pass() { echo "PASS [ring=] $*"; }
fail() { echo "FAIL [ring=] $*"; fails=$((fails + 1)); }

for v in 1 2 65536 0; do
	if ! $B insmod "$ko" ring=$v; then
		fail "ring=$v: the load failed (a valid value)"
		continue
	fi
	pass "ring=$v loads"
	if [ "$v" = 0 ]; then
		$t noring || fail "ring=0: noring checks failed"
	else
		$t layout $v || fail "ring=$v: layout checks failed"
	fi
	$B rmmod kshm || fail "ring=$v: rmmod failed"
done
if $B insmod "$ko"; then
	$t noring || fail "no ring= given: noring checks failed (default must be 0)"
	$B rmmod kshm
else
	fail "load without ring= failed"
fi
for v in 3 6 100 65535 65537 131072 2147483648 4294967296 18446744073709551616 -1 -4096 abc 1e3 ' ' 16x 0x10001; do
	out=$($B insmod "$ko" "ring=$v" 2>&1)
	if [ $? -eq 0 ]; then
		recs=$($B cat /sys/module/kshm/parameters/ring 2>/dev/null)
		fail "ring='$v' loaded (parameter reads '$recs'; header: anything else fails the load with EINVAL)"
		$B rmmod kshm
	else
		pass "ring='$v' refused: $out"
	fi
done
# Other spellings (header: decimal only; '+' allowed; leading zeroes are not octal).
for vw in 0x10:no 010:no +16:16 016:16 0x4:no; do
	v=${vw%%:*}
	want=${vw#*:}
	if $B insmod "$ko" "ring=$v" 2>/dev/null; then
		recs=$($B cat /sys/module/kshm/parameters/ring)
		$B rmmod kshm
		if [ "$want" = "$recs" ]; then
			pass "ring='$v' loads as $recs records"
		else
			fail "ring='$v' loads as $recs records (want: $want)"
		fi
	elif [ "$want" = no ]; then
		pass "ring='$v' refused (decimal only)"
	else
		fail "ring='$v' refused (want $want records)"
	fi
done
# A ring page pinned in a pipe (vmsplice) across rmmod and a new load.
if $B insmod "$ko" ring=4096; then
	$t splice
	$B sleep 1
	$B rmmod kshm || fail "rmmod with a ring page pinned in a pipe (no file open) failed"
	$B insmod "$ko" ring=65536 && $t layout 65536 > /dev/null
	$B sleep 14
	if [ -f /tmp/kshm-splice.res ]; then
		$B cat /tmp/kshm-splice.res
		$B grep -q '^PASS' /tmp/kshm-splice.res || fails=$((fails + 1))
	else
		echo "  . splice: no result (vmsplice refused?)"
	fi
	$B rmmod kshm
fi
echo "limits: $fails failure(s)"
[ $fails -eq 0 ]
