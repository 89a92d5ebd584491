#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# NAT hook scenarios, run as root inside the run-vm.sh guest:
#   nat-scenarios.sh MODE...     (MODE: fentry, kprobe, conntrack, auto;
#                                 default: all four)
#
# Topology and NAT rules: tests/lib/nat-topology.sh, cases $cases below.
#
# For each MODE: start xf-natwatch --mode MODE in the root namespace (the hook
# is kernel-wide), wait until it is attached, make one connection per case,
# stop it, and check the exact set of translations (tests/vm/check-xlat.py).
set -u

B=$XF_BUILDDIR
S=$XF_SRCDIR
OUT=${XF_OUT:-/tmp}
natwatch=$B/tests/tools/xf-natwatch
check=$S/tests/vm/check-xlat.py
cases="clusterip nodeport egress sctp zones ipv6 icmp output"

[ $# -ge 1 ] || set -- fentry kprobe conntrack auto
[ -x "$natwatch" ] || { echo "no $natwatch: run make check (check_PROGRAMS)"; exit 99; }

. "$S/tests/lib/nat-topology.sh"


# Expected translations for source ports starting at base $1, source $2.
# NodePort (DNAT plus masquerade) gives the BPF hook two events on the first
# packet: prerouting DNAT runs before postrouting has chosen the SNAT
# binding, so it first sees a reply tuple without SNAT, then the final one.
# Conntrack events only come at confirmation, with the final tuples.
# With $3 = long (mode fentry only, to save time) a 12 s UDP flow runs
# too: the hook must emit it again once XF_XLAT_REFRESH_NS (10 s) passed.
expected() {
	b=$1
	[ "$2" = conntrack ] ||
		echo "4 tcp 0 198.18.9.2:$((b + 3))->198.18.9.1:30080 198.18.2.2:8080->198.18.9.2:$((b + 3))"
	if [ "${3:-}" = long ]; then
		for i in 1 2; do
			echo "4 udp 0 198.18.2.2:$((b + 9))->198.18.9.2:9000 198.18.9.2:9000->198.18.9.1:$((b + 9))"
		done
	fi
	cat <<EOF
# family proto zone orig reply
4 tcp 0 198.18.1.2:$((b + 1))->198.19.0.12:80 198.18.2.2:8080->198.18.1.2:$((b + 1))
4 udp 0 198.18.2.2:$((b + 2))->198.18.9.2:9000 198.18.9.2:9000->198.18.9.1:$((b + 2))
4 tcp 0 198.18.9.2:$((b + 3))->198.18.9.1:30080 198.18.2.2:8080->198.18.2.1:$((b + 3))
4 sctp 0 198.18.1.2:$((b + 4))->198.19.0.12:80 198.18.2.2:8080->198.18.1.2:$((b + 4))
4 tcp 7 198.18.1.2:$((b + 5))->198.19.0.30:80 198.18.2.2:8081->198.18.1.2:$((b + 5))
4 udp 9 198.18.1.2:$((b + 6))->198.19.0.31:53 198.18.2.2:9053->198.18.1.2:$((b + 6))
6 tcp 0 [2001:db8:1::2]:$((b + 7))->[2001:db8:ffff::10]:80 [2001:db8:2::2]:8080->[2001:db8:1::2]:$((b + 7))
4 icmp 0 198.18.1.2:0->198.19.0.20:0 198.18.2.2:0->198.18.1.2:0
6 icmpv6 0 [2001:db8:1::2]:0->[2001:db8:ffff::20]:0 [2001:db8:2::2]:0->[2001:db8:1::2]:0
4 tcp 0 198.18.2.1:$((b + 8))->198.19.0.12:80 198.18.2.2:8080->198.18.2.1:$((b + 8))
EOF
}

# One connection per case: ClusterIP, pod egress (srv1 -> ext), NodePort
# (from ext), SCTP, zone 7, zone 9, IPv6, ICMP, ICMPv6, node's own socket.
# One python3 process for every host's connections (seconds each under TCG).
traffic() {
	b=$1
	topo_client cli \
		tcp,198.19.0.12,80,$((b + 1)) \
		sctp,198.19.0.12,80,$((b + 4)) \
		tcp,198.19.0.30,80,$((b + 5)) \
		udp,198.19.0.31,53,$((b + 6)) \
		tcp,2001:db8:ffff::10,80,$((b + 7)) \
		@srv1 udp,198.18.9.2,9000,$((b + 2)) \
		@ext tcp,198.18.9.1,30080,$((b + 3)) \
		@node tcp,198.19.0.12,80,$((b + 8)) || return 1
	topo_exec cli ping -c 1 -W 3 198.19.0.20 >/dev/null || { echo "ping 198.19.0.20 failed"; return 1; }
	topo_exec cli ping -c 1 -W 3 2001:db8:ffff::20 >/dev/null ||
		{ echo "ping 2001:db8:ffff::20 failed"; return 1; }
}

run_mode() {
	mode=$1
	b=$2
	dir=$OUT/$mode
	mkdir -p "$dir"
	t0=$(date +%s.%N)
	topo_flush_conntrack

	# The BPF hooks are kernel-wide; conntrack netlink only sees the
	# namespace it is opened in, so that source runs in the router's.
	watch_ns=
	[ "$mode" = conntrack ] && watch_ns="ip netns exec $(topo_ns node)"
	$watch_ns "$natwatch" --mode "$mode" --timeout 120 >"$dir/events.json" 2>"$dir/stderr.log" &
	pid=$!
	i=0
	until grep -q "xf-natwatch: mode" "$dir/stderr.log" 2>/dev/null; do
		if ! kill -0 $pid 2>/dev/null; then
			echo "$mode: xf-natwatch exited:"; cat "$dir/stderr.log"; return 1
		fi
		i=$((i + 1))
		[ $i -lt 300 ] || { echo "$mode: xf-natwatch did not attach"; kill $pid; return 1; }
		sleep 0.1
	done
	active=$(sed -n 's/^xf-natwatch: mode //p' "$dir/stderr.log")
	t1=$(date +%s.%N)

	lpid=
	if [ "$mode" = fentry ]; then
		# long-lived flow for the refresh, in parallel with the rest
		ip netns exec "$(topo_ns srv1)" python3 "$topo_peer" client \
			udp,198.18.9.2,9000,$((b + 9)),13,1 >"$dir/long.log" 2>&1 &
		lpid=$!
	fi
	traffic "$b" >"$dir/traffic.log" 2>&1
	trc=$?
	if [ -n "$lpid" ]; then
		wait $lpid || trc=1
		cat "$dir/long.log" >>"$dir/traffic.log"
	fi
	sed "s/^/$mode traffic: /" "$dir/traffic.log"
	sleep 1
	kill -TERM $pid
	wait $pid
	t2=$(date +%s.%N)
	sed "s/^/$mode events: /" "$dir/events.json"
	grep -v "^xf-natwatch: mode" "$dir/stderr.log" | sed "s/^/$mode stderr: /"
	expected "$b" "$active" "$([ -n "$lpid" ] && echo long)" >"$dir/expected.txt"
	python3 "$check" "$active" "$dir/expected.txt" "$dir/events.json" "$dir/stderr.log"
	crc=$?
	awk -v m="$mode" -v a="$t0" -v b="$t1" -v c="$t2" \
		'BEGIN { printf "%s: attach %.1f s, traffic %.1f s\n", m, b - a, c - b }'
	[ $trc -eq 0 ] || { echo "FAIL $mode: traffic failed"; return 1; }
	# auto must pick fentry where the kernel has it, as this one does
	want=$mode
	[ "$mode" = auto ] && want=fentry
	[ "$active" = "$want" ] || { echo "FAIL $mode: active mode $active, want $want"; return 1; }
	return $crc
}

topo_modules $cases || exit 99
rc=0
# the source selection where every source works: auto must choose fentry
if [ -x "$B/tests/unit/xlat_source_test" ]; then
	"$B/tests/unit/xlat_source_test" fentry >"$OUT/xlat_source_test.log" 2>&1 ||
		{ echo "FAIL: xlat_source_test"; rc=1; }
	sed "s/^/xlat_source_test: /" "$OUT/xlat_source_test.log"
fi
topo_setup "" "$S" "$OUT" && topo_nat $cases &&
	topo_serve srv1 tcp,::,8080 tcp,0.0.0.0,8081 udp,0.0.0.0,9053 sctp,0.0.0.0,8080 \
		@ext udp,0.0.0.0,9000 || { echo "FAIL: setup"; exit 99; }
base=40000
for mode in "$@"; do
	run_mode "$mode" $base || rc=1
	base=$((base + 100))
done
topo_teardown
exit $rc
