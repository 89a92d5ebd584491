#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# xlatflowd end to end with each NAT translation source, run as root inside
# the run-vm.sh guest:
#   daemon-nat-scenarios.sh MODE...   (MODE: fentry, kprobe, conntrack, auto;
#                                      default: fentry kprobe conntrack)
#
# Topology and NAT rules: tests/lib/nat-topology.sh, cases $cases below. For
# each MODE the daemon runs in the node namespace, captures on r1 (cli), r2
# (srv1) and r9 (ext), both directions, and exports to a real nfcapd and to
# xf-collect on the node's loopback; zone_as_vrf puts the conntrack zone in
# ingressVRFID. After one connection per case, SIGTERM makes it export every
# cached flow, and the translations decoded by nfdump (IPv4 NAT fields, VRF)
# and xf-collect (enterprise elements: pre/post tuples, xlatType,
# xlatZoneId, observation point, IPv6) must be exactly those of docs/nat.md's
# table, for each of the four flows (in/out on each side) of a connection
# (tests/vm/check-daemon.py).
set -u

B=$XF_BUILDDIR
S=$XF_SRCDIR
OUT=${XF_OUT:-/tmp}
xlatflowd=$B/src/xlatflowd
collect=$B/tests/tools/xf-collect
cases="clusterip nodeport egress zones ipv6 icmp output"

[ $# -ge 1 ] || set -- fentry kprobe conntrack
for f in "$xlatflowd" "$collect"; do
	[ -x "$f" ] || { echo "no $f: run make check (check_PROGRAMS)"; exit 99; }
done
command -v nfcapd >/dev/null && command -v nfdump >/dev/null ||
	{ echo "SKIP: nfdump not installed"; exit 77; }

. "$S/tests/lib/nat-topology.sh"

# one python3 process for every host's connections (seconds each under TCG)
traffic() {
	b=$1
	topo_client cli tcp,198.19.0.12,80,$((b + 1)) tcp,198.19.0.30,80,$((b + 5)) \
		tcp,2001:db8:ffff::10,80,$((b + 7)) @srv1 udp,198.18.9.2,9000,$((b + 2)) \
		@ext tcp,198.18.9.1,30080,$((b + 3)) @node tcp,198.19.0.12,80,$((b + 8)) || return 1
	topo_exec cli ping -c 1 -W 3 198.19.0.20 >/dev/null || { echo "ping 198.19.0.20 failed"; return 1; }
}

# One flow of a translated connection as docs/nat.md describes it:
# flow NAME PROTO SRC SPORT DST DPORT PRE_SRC PRE_SPORT PRE_DST PRE_DPORT
#      POST_SRC POST_SPORT POST_DST POST_DPORT OBSERVED TYPE ZONE
# (NAME without blanks); tests/vm/check-daemon.py checks the list.
flow() {
	echo "$*"
}

expectations() {
	b=$1
	CL=198.18.1.2 SVC=198.19.0.12 BK=198.18.2.2 RT=198.18.2.1
	EXT=198.18.9.2 NP=198.18.9.1
	p=$((b + 1))
	# ClusterIP DNAT: O = CL:p -> SVC:80, R = BK:8080 -> CL:p
	flow dnat-r1-in 6 $CL $p $SVC 80 $CL $p $SVC 80 $CL $p $BK 8080 pre 2 0
	flow dnat-r2-out 6 $CL $p $BK 8080 $CL $p $SVC 80 $CL $p $BK 8080 post 2 0
	flow dnat-r2-in 6 $BK 8080 $CL $p $BK 8080 $CL $p $SVC 80 $CL $p pre 2 0
	flow dnat-r1-out 6 $SVC 80 $CL $p $BK 8080 $CL $p $SVC 80 $CL $p post 2 0
	p=$((b + 2))
	# pod egress masquerade: O = BK:p -> EXT:9000, R = EXT:9000 -> NP:p
	flow egress-r2-in 17 $BK $p $EXT 9000 $BK $p $EXT 9000 $NP $p $EXT 9000 pre 1 0
	flow egress-r9-out 17 $NP $p $EXT 9000 $BK $p $EXT 9000 $NP $p $EXT 9000 post 1 0
	flow egress-r9-in 17 $EXT 9000 $NP $p $EXT 9000 $NP $p $EXT 9000 $BK $p pre 1 0
	flow egress-r2-out 17 $EXT 9000 $BK $p $EXT 9000 $NP $p $EXT 9000 $BK $p post 1 0
	p=$((b + 3))
	# NodePort, DNAT + masquerade: O = EXT:p -> NP:30080, R = BK:8080 -> RT:p
	# (the hook's first, DNAT-only report must have been replaced by the final one)
	flow nodeport-r9-in 6 $EXT $p $NP 30080 $EXT $p $NP 30080 $RT $p $BK 8080 pre 3 0
	flow nodeport-r2-out 6 $RT $p $BK 8080 $EXT $p $NP 30080 $RT $p $BK 8080 post 3 0
	flow nodeport-r2-in 6 $BK 8080 $RT $p $BK 8080 $RT $p $NP 30080 $EXT $p pre 3 0
	flow nodeport-r9-out 6 $NP 30080 $EXT $p $BK 8080 $RT $p $NP 30080 $EXT $p post 3 0
	p=$((b + 5))
	# zone 7
	flow zone7-r1-in 6 $CL $p 198.19.0.30 80 $CL $p 198.19.0.30 80 $CL $p $BK 8081 pre 2 7
	flow zone7-r2-in 6 $BK 8081 $CL $p $BK 8081 $CL $p 198.19.0.30 80 $CL $p pre 2 7
	p=$((b + 7))
	flow ipv6-dnat-r1-in 6 2001:db8:1::2 $p 2001:db8:ffff::10 80 2001:db8:1::2 $p \
		2001:db8:ffff::10 80 2001:db8:1::2 $p 2001:db8:2::2 8080 pre 2 0
	flow ipv6-dnat-r2-out 6 2001:db8:1::2 $p 2001:db8:2::2 8080 2001:db8:1::2 $p \
		2001:db8:ffff::10 80 2001:db8:1::2 $p 2001:db8:2::2 8080 post 2 0
	# ICMP: ports 0 (docs/nat.md, ICMP)
	flow icmp-dnat-r1-in 1 $CL 0 198.19.0.20 0 $CL 0 198.19.0.20 0 $CL 0 $BK 0 pre 2 0
	flow icmp-dnat-r2-out 1 $CL 0 $BK 0 $CL 0 198.19.0.20 0 $CL 0 $BK 0 post 2 0
	p=$((b + 8))
	# the node's own connection, DNATed in OUTPUT: only r2 sees it
	flow output-dnat-r2-out 6 $RT $p $BK 8080 $RT $p $SVC 80 $RT $p $BK 8080 post 2 0
	flow output-dnat-r2-in 6 $BK 8080 $RT $p $BK 8080 $RT $p $SVC 80 $RT $p pre 2 0
}

run_mode() {
	mode=$1
	b=$2
	dir=$OUT/daemon-$mode
	mkdir -p "$dir/nfcapd"
	t0=$(date +%s.%N)
	topo_flush_conntrack

	# background jobs via ip netns exec itself, not topo_exec: $! must be
	# the process we signal, not a subshell around it
	node=$(topo_ns node)
	ip netns exec "$node" nfcapd -b 127.0.0.1 -p 4739 -w "$dir/nfcapd" -t 3600 >"$dir/nfcapd.log" 2>&1 &
	nfcapd_pid=$!
	ip netns exec "$node" "$collect" --udp 4740 --bind 127.0.0.1 --timeout 120 --out "$dir/collect.json" \
		>"$dir/collect.log" 2>&1 &
	collect_pid=$!
	cat >"$dir/xlatflowd.conf" <<EOF
interfaces = { include = [ "r1", "r2", "r9" ]; };
collectors = ( { url = "udp://127.0.0.1:4739"; }, { url = "udp://127.0.0.1:4740"; } );
zone_as_vrf = true;
EOF
	ip netns exec "$node" "$xlatflowd" --foreground --config "$dir/xlatflowd.conf" --nat-hook "$mode" \
		--idle-timeout 5 --active-timeout 60 --drain-interval 100 >"$dir/xlatflowd.log" 2>&1 &
	pid=$!
	i=0
	until grep -q "NAT enrichment:" "$dir/xlatflowd.log" 2>/dev/null; do
		if ! kill -0 $pid 2>/dev/null; then
			echo "FAIL $mode: xlatflowd exited:"; cat "$dir/xlatflowd.log"; return 1
		fi
		i=$((i + 1))
		[ $i -lt 300 ] || { echo "FAIL $mode: xlatflowd did not start"; return 1; }
		sleep 0.1
	done
	t1=$(date +%s.%N)

	traffic "$b" >"$dir/traffic.log" 2>&1
	trc=$?
	sed "s/^/daemon $mode traffic: /" "$dir/traffic.log"
	sleep 1
	kill -TERM $pid
	wait $pid
	drc=$?
	sleep 0.5
	kill -TERM $nfcapd_pid $collect_pid
	wait $nfcapd_pid $collect_pid
	t2=$(date +%s.%N)
	sed "s/^/daemon $mode log: /" "$dir/xlatflowd.log" | grep -v "send: Connection refused"
	nfdump -R "$dir/nfcapd" -o json >"$dir/flows.json" 2>"$dir/nfdump.log" ||
		{ echo "FAIL $mode: nfdump: $(cat "$dir/nfdump.log")"; return 1; }
	t3=$(date +%s.%N)

	expectations "$b" >"$dir/expect.txt"
	# one python3 run per mode (each costs seconds under TCG); details in
	# WORKDIR/out on the host, failures and the summary on the console
	rc=0
	python3 "$S/tests/vm/check-daemon.py" "$dir/expect.txt" "$dir/flows.json" \
		"$dir/collect.json" >"$dir/check.txt" || rc=1
	grep -v "^ok" "$dir/check.txt" | sed "s/^/daemon $mode /"
	t4=$(date +%s.%N)
	awk -v m="$mode" -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" -v e="$t4" 'BEGIN {
		printf "daemon %s: start %.1f s, traffic+export %.1f s, nfdump %.1f s, checks %.1f s\n",
			m, b - a, c - b, d - c, e - d }'
	grep -q "NAT enrichment: $mode" "$dir/xlatflowd.log" ||
		[ "$mode" = auto ] || { echo "FAIL $mode: not the active source"; rc=1; }
	[ $trc -eq 0 ] || { echo "FAIL $mode: traffic failed"; rc=1; }
	[ $drc -eq 0 ] || { echo "FAIL $mode: xlatflowd exited with $drc"; rc=1; }
	[ $rc -eq 0 ] && echo "daemon $mode: ok"
	return $rc
}

topo_modules $cases || exit 99
topo_setup "" "$S" "$OUT" && topo_nat $cases &&
	topo_serve srv1 tcp,::,8080 tcp,0.0.0.0,8081 @ext udp,0.0.0.0,9000 ||
	{ echo "FAIL: setup"; exit 99; }
rc=0
base=50000
for mode in "$@"; do
	run_mode "$mode" $base || rc=1
	base=$((base + 100))
done
topo_teardown
exit $rc
