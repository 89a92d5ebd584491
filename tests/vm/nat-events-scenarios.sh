#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# NAT event log sources (CREATE, DELETE, PORTS_EXHAUSTED, TABLE_FULL) of the
# kernel hooks, run as root inside the run-vm.sh guest:
#   nat-events-scenarios.sh MODE...     (MODE: fentry, kprobe; default both)
#
# Topology: tests/lib/nat-topology.sh, cases clusterip, nodeport, egress,
# ipv6 and zones, plus a masquerade to a 4-port range (cli -> srv1
# 198.18.2.2 tcp 7000 masqueraded to 198.18.2.1:40000-40003). For each
# MODE, with `xf-natwatch --mode MODE --events --destroy` in the root
# namespace (the hooks are kernel-wide) and `conntrack -E` in node's (the
# truth for creates, deletes, their tuples, zones, counters and times):
#   1. N connections of each kind: ClusterIP DNAT (cli), NodePort DNAT +
#      masquerade (ext), pod egress masquerade (UDP, srv1 -> ext), IPv6
#      DNAT (cli), DNAT in zone 7 (cli); conntrack
#      timeouts are short, so they are deleted by expiry; what is left after
#      a bounded wait is flushed (conntrack -F deletes too);
#   2. port exhaustion: 20 concurrent TCP connections to 198.18.2.2:7000,
#      4 ports to masquerade them to; PORTS_EXHAUSTED events must equal
#      the increase of conntrack's insert_failed (conntrack -S, all CPUs);
#   3. table full: nf_conntrack_max set to what the table holds + 4, four
#      connections to the ClusterIP held open (assured: early_drop cannot
#      evict them), then new ones; TABLE_FULL events must equal the increase
#      of drop.
# tests/vm/check-events.py compares everything (accounting and timestamps
# on: exact per-direction packets and octets, start times, event times).
set -u

B=$XF_BUILDDIR
S=$XF_SRCDIR
OUT=${XF_OUT:-/tmp}
natwatch=$B/tests/tools/xf-natwatch
check=$S/tests/vm/check-events.py
N=3 # connections of each kind

[ $# -ge 1 ] || set -- fentry kprobe
[ -x "$natwatch" ] || { echo "no $natwatch: run make check (check_PROGRAMS)"; exit 99; }
command -v conntrack >/dev/null || { echo "SKIP: conntrack (conntrack-tools) not installed"; exit 77; }

. "$S/tests/lib/nat-topology.sh"

# conntrack's own statistics of node, summed over CPUs: "insert_failed drop"
ct_stats() {
	topo_exec node conntrack -S 2>/dev/null | awk '{
		for (i = 1; i <= NF; i++) {
			split($i, kv, "=")
			if (kv[1] == "insert_failed") f += kv[2]
			if (kv[1] == "drop") d += kv[2]
		}
	} END { print f + 0, d + 0 }'
}

# Accounting and timestamps for the DELETEs, short timeouts so that they
# come soon; the port-range masquerade; the servers. All NAT in node.
events_setup() {
	topo_exec node sysctl -qw net.netfilter.nf_conntrack_acct=1 net.netfilter.nf_conntrack_timestamp=1 \
		net.netfilter.nf_conntrack_tcp_timeout_time_wait=1 \
		net.netfilter.nf_conntrack_tcp_timeout_close=1 \
		net.netfilter.nf_conntrack_tcp_timeout_close_wait=1 \
		net.netfilter.nf_conntrack_tcp_timeout_fin_wait=1 \
		net.netfilter.nf_conntrack_tcp_timeout_last_ack=1 \
		net.netfilter.nf_conntrack_udp_timeout=1 \
		net.netfilter.nf_conntrack_udp_timeout_stream=1 || return 1
	topo_nft <<'EOF' || return 1
table ip xf_events {
	chain post {
		type nat hook postrouting priority srcnat - 1;
		oifname "r2" ip daddr 198.18.2.2 tcp dport 7000 masquerade to :40000-40003
	}
}
EOF
	topo_serve srv1 tcp,::,8080 tcp,0.0.0.0,8081 tcp,0.0.0.0,7000 @ext udp,0.0.0.0,9000
}

# N connections of each kind, source ports from $1
traffic() {
	b=$1
	for i in $(seq $N); do
		p=$((b + 10 * i))
		topo_client cli tcp,198.19.0.12,80,$((p + 1)) \
			tcp,2001:db8:ffff::10,80,$((p + 4)) tcp,198.19.0.30,80,$((p + 5)) \
			@ext tcp,198.18.9.1,30080,$((p + 2)) \
			@srv1 udp,198.18.9.2,9000,$((p + 3)) || return 1
	done
}

# $1 TCP connections to $2:$3 from ports $4..., all at once, held for $5 s:
# prints how many were established
hold() {
	topo_exec cli python3 - "$@" <<'EOF'
import socket, sys, time
n, addr, port, base, secs = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
socks = []
for i in range(n):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("198.18.1.2", base + i))
    s.setblocking(False)
    s.connect_ex((addr, port))
    socks.append(s)
time.sleep(secs)
up = 0
for s in socks:
    try:
        s.send(b"hello\n")
        s.setblocking(True)
        s.settimeout(2)
        if s.recv(64).startswith(b"ok"):
            up += 1
    except OSError:
        pass
print(up, flush=True)
EOF
}

# Wait until conntrack -E ($1) shows as many DESTROY as NEW events, at most $2 s.
wait_deletes() {
	i=0
	while [ $i -lt $(($2 * 5)) ]; do
		new=$(grep -c '\[NEW\]' "$1")
		del=$(grep -c '\[DESTROY\]' "$1")
		[ "$new" -gt 0 ] && [ "$new" = "$del" ] && return 0
		i=$((i + 1))
		sleep 0.2
	done
	return 1
}

run_mode() {
	mode=$1
	b=$2
	dir=$OUT/events-$mode
	mkdir -p "$dir"
	topo_flush_conntrack
	sleep 0.5

	# conntrack stamps an event when it reads it: real-time priority keeps that
	# close to the kernel's time under emulation
	# (ip netns exec itself, not nsx: $! must be the process)
	ip netns exec "$(topo_ns node)" chrt -f 50 conntrack -E -o timestamp,extended,ktimestamp,id \
		>"$dir/conntrack.txt" 2>"$dir/conntrack.err" &
	ctpid=$!
	"$natwatch" --mode "$mode" --events --destroy --timeout 600 >"$dir/events.json" \
		2>"$dir/stderr.log" &
	pid=$!
	i=0
	until grep -q "xf-natwatch: mode" "$dir/stderr.log" 2>/dev/null; do
		if ! kill -0 $pid 2>/dev/null; then
			echo "$mode: xf-natwatch exited:"; cat "$dir/stderr.log"; kill $ctpid; return 1
		fi
		i=$((i + 1))
		[ $i -lt 300 ] || { echo "$mode: xf-natwatch did not attach"; kill $pid $ctpid; return 1; }
		sleep 0.1
	done
	sed "s/^/$mode stderr: /" "$dir/stderr.log"
	t0=$(date +%s.%N)
	rc=0

	# 1. translated connections; deleted by their (short) timeouts
	traffic "$b" >"$dir/traffic.log" 2>&1 || { echo "FAIL $mode: traffic"; rc=1; }
	sed "s/^/$mode traffic: /" "$dir/traffic.log"
	if wait_deletes "$dir/conntrack.txt" 15; then
		echo "$mode: every connection deleted by its timeout"
	else
		echo "$mode: flushing what the timeouts left"
		topo_flush_conntrack
		wait_deletes "$dir/conntrack.txt" 10 || echo "$mode: deletes still missing"
	fi
	t1=$(date +%s.%N)

	# 2. port exhaustion: 4 ports for 20 connections
	set -- $(ct_stats)
	f0=$1
	up=$(hold 20 198.18.2.2 7000 $((b + 100)) 3)
	set -- $(ct_stats)
	f1=$1
	echo "$mode: ports: $up of 20 connections up, insert_failed $f0 -> $f1"
	[ "$up" = 4 ] || { echo "FAIL $mode: $up connections through a 4-port range, want 4"; rc=1; }
	t2=$(date +%s.%N)

	# 3. table full: room for exactly 4 more, held open; then 6 that cannot get in
	topo_flush_conntrack
	wait_deletes "$dir/conntrack.txt" 10 || echo "$mode: deletes missing before table full"
	max=$(cat /proc/sys/net/netfilter/nf_conntrack_max)
	count=$(topo_exec node conntrack -C)
	sysctl -qw net.netfilter.nf_conntrack_max=$((count + 4))
	set -- $(ct_stats)
	d0=$2
	ip netns exec "$(topo_ns cli)" python3 - $((b + 200)) >"$dir/full.log" 2>&1 <<'EOF' &
import socket, sys, time
base = int(sys.argv[1])
held = []
for i in range(4):
    s = socket.create_connection(("198.19.0.12", 80), timeout=5, source_address=("198.18.1.2", base + i))
    s.send(b"hello\n")
    s.recv(64)
    held.append(s)
print("held", len(held), flush=True)
time.sleep(4)
EOF
	fullpid=$!
	i=0
	until grep -q held "$dir/full.log"; do
		i=$((i + 1))
		[ $i -lt 100 ] && kill -0 $fullpid 2>/dev/null || break
		sleep 0.1
	done
	more=$(hold 6 198.19.0.12 80 $((b + 210)) 2.5)
	wait $fullpid
	set -- $(ct_stats)
	d1=$2
	sysctl -qw net.netfilter.nf_conntrack_max="$max"
	echo "$mode: table full: $(cat "$dir/full.log"), $more of 6 more up, drop $d0 -> $d1"
	[ "$more" = 0 ] || { echo "FAIL $mode: $more connections got into a full table"; rc=1; }
	t3=$(date +%s.%N)

	# the connections of 2. and 3. end too
	topo_flush_conntrack
	wait_deletes "$dir/conntrack.txt" 10 || echo "$mode: final deletes missing"
	sleep 0.5
	# every translated connection was freed: the free hook emptied the map
	left=$(bpftool -j map dump name xlat_conns 2>/dev/null | python3 -c '
import json, sys
print(sum(1 for e in json.load(sys.stdin) for w in e["formatted"]["value"]["way"] if w["ct"]))' \
		2>/dev/null || echo -1)
	kill -TERM $pid
	wait $pid
	kill $ctpid 2>/dev/null
	wait $ctpid 2>/dev/null
	grep "counters" "$dir/stderr.log" | sed "s/^/$mode /"
	awk -v m="$mode" -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" \
		'BEGIN { printf "%s: connections %.1f s, ports %.1f s, table full %.1f s\n", m, b - a, c - b, d - c }'
	python3 "$check" "$mode" "$dir/events.json" "$dir/conntrack.txt" "$dir/stderr.log" \
		--creates $((5 * N + 4 + 4)) --insert-failed $((f1 - f0)) --drop $((d1 - d0)) \
		--conns-left "$left" || rc=1
	return $rc
}

cases="clusterip nodeport egress ipv6 zones"
# shellcheck disable=SC2086 # a word list
topo_modules $cases || exit 99
rc=0
# shellcheck disable=SC2086
{ topo_setup "" "$S" "$OUT" && topo_nat $cases && events_setup; } ||
	{ echo "FAIL: setup"; topo_teardown; exit 99; }
base=41000
for mode in "$@"; do
	run_mode "$mode" $base || rc=1
	base=$((base + 1000))
done
topo_teardown
exit $rc
