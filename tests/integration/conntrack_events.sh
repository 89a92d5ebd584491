#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The NAT events of the conntrack source (src/xlat_conntrack.c), the source
# that runs on this host, against the kernel's own account. The node of the
# shared topology (tests/lib/nat-topology.sh) translates the way kube-proxy
# and CNI plugins do, with its cases clusterip, nodeport, egress, ipv6 and
# zones:
#
#   clusterip  cli -> 198.19.0.12 tcp 80 -> srv1:8080, udp 53 -> srv1:5353
#   nodeport   ext -> 198.18.9.1:30080 -> srv1:8080, masqueraded to 198.18.2.1
#   egress     srv1 -> ext udp 9000, masqueraded to 198.18.9.1
#   ipv6       cli -> [2001:db8:ffff::10] tcp 80 -> [2001:db8:2::2]:8080
#   zones      cli -> 198.19.0.30 tcp 80 -> srv1:8081 in zone 7,
#              ext -> 198.19.0.31 udp 53 -> srv1:9053 in zone 9
#
# Four connections of each (fixed source ports, several packets each), then
# a flush. The probe (xlat_conntrack_listen -e -X, as the daemon: reliable
# delivery, timestamps and accounting on) must report exactly one CREATE and
# one DELETE per connection, with conntrack's tuples and zone; each DELETE
# with conntrack's start time to the nanosecond and its packets and octets
# per direction (truth: `conntrack -L -o xml,ktimestamp` just before the
# flush); every event within 50 ms of the time `conntrack -E -o timestamp`
# saw the same event. Then the same without the sysctls: DELETEs without
# start and counters. Then port exhaustion: a masquerade with two ports and
# five new connections must give PORTS_EXHAUSTED events counting 3, as
# conntrack's insert_failed does. Then a full table: TABLE_FULL counting
# the three connections conntrack dropped, and entries = nf_conntrack_max.
XF_TEST=ctev
source "$(dirname "$0")/lib.sh"
source "$abs_top_srcdir/tests/lib/nat-topology.sh"
need_root
need_cmd nft conntrack python3 ping chrt
LISTEN=$abs_top_builddir/tests/integration/xlat_conntrack_listen
[ -x "$LISTEN" ] || fail "$LISTEN not built"
check=$abs_top_srcdir/tests/integration/conntrack_events.py
cases="clusterip nodeport egress ipv6 zones"
# where they are built in (no module directory), modprobe fails and need not
topo_modules $cases 2>/dev/null || true

topo_setup "$NS_PREFIX-" "$abs_top_srcdir" "$WORK" || fail "topology"
topo_exec node conntrack -L >/dev/null 2>&1 || skip "conntrack netlink unavailable"
topo_nat $cases 2>"$WORK/nft.err" || skip "nftables NAT unavailable: $(cat "$WORK/nft.err")"
topo_serve srv1 tcp,::,8080 tcp,0.0.0.0,8081 udp,0.0.0.0,5353 udp,0.0.0.0,9053 \
	@ext udp,0.0.0.0,9000 || fail "servers"
node=$(topo_ns node)
# nothing older than the probe in the table (the topology's pings)
topo_flush_conntrack || fail "conntrack flush"

client() { # HOST SPEC... [@HOST SPEC...]: every exchange answered
	topo_client "$@" >>"$WORK/clients.log" 2>&1 ||
		fail "client $*: $(tail -n 3 "$WORK/clients.log")"
}

wait_for() { # FILE PATTERN SECONDS
	for _ in $(seq 1 $(($3 * 10))); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# ROUND NAME DELETES LISTEN_ARGS...: probe and `conntrack -E` beside it.
# Both at a real-time priority (chrt -f 1), as export_burst.sh's collectors:
# the 50 ms compare two processes' wake-ups, and on a loaded 2-CPU test
# machine (make -j2, VM tests beside) either can be kept off the CPU longer.
start_round() {
	local name=$1 deletes=$2
	shift 2
	ip netns exec "$node" chrt -f 1 "$LISTEN" -q -D "$deletes" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
	PROBE_PID=$!
	XF_PIDS+=("$PROBE_PID")
	wait_for "$WORK/$name.out" '^READY$' 10 || fail "probe not ready: $(cat "$WORK/$name.err")"
	ip netns exec "$node" chrt -f 1 conntrack -E -o timestamp,extended,id >"$WORK/$name.events" 2>&1 &
	EV_PID=$!
	XF_PIDS+=("$EV_PID")
	sleep 0.3
}

# end_round NAME: the kernel's table, the flush, every DELETE, then stop
end_round() {
	local name=$1
	sleep 0.5 # the last FIN/ACKs
	ip netns exec "$node" conntrack -L -o xml,ktimestamp >"$WORK/$name.xml" 2>/dev/null
	ip netns exec "$node" conntrack -L -f ipv6 -o xml,ktimestamp >>"$WORK/$name.xml" 2>/dev/null
	topo_flush_conntrack || fail "conntrack flush"
	# the probe exits by itself after the expected number of DELETEs
	for _ in $(seq 1 100); do
		kill -0 "$PROBE_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$PROBE_PID" 2>/dev/null; then
		kill "$PROBE_PID"
		wait "$PROBE_PID" 2>/dev/null
		fail "$name: probe did not see every DELETE: $(grep -c '^NAT DELETE' "$WORK/$name.out")"
	fi
	wait "$PROBE_PID" || fail "$name: probe failed: $(cat "$WORK/$name.err")"
	sleep 0.2
	kill "$EV_PID"
	wait "$EV_PID" 2>/dev/null || true
}

# Round 1: every case, reliable delivery, timestamps and accounting.
start_round full 28 -e -X
b=42000
client cli tcp,198.19.0.12,80,$((b + 1)),2,0.05 tcp,198.19.0.12,80,$((b + 2)),3,0.05 \
	tcp,198.19.0.12,80,$((b + 3)) tcp,198.19.0.12,80,$((b + 4)),2,0.05 \
	udp,198.19.0.12,53,$((b + 11)) udp,198.19.0.12,53,$((b + 12)),3,0.05 \
	udp,198.19.0.12,53,$((b + 13)),2,0.05 udp,198.19.0.12,53,$((b + 14)) \
	tcp,2001:db8:ffff::10,80,$((b + 41)) tcp,2001:db8:ffff::10,80,$((b + 42)),2,0.05 \
	tcp,2001:db8:ffff::10,80,$((b + 43)),3,0.05 tcp,2001:db8:ffff::10,80,$((b + 44)) \
	tcp,198.19.0.30,80,$((b + 51)) tcp,198.19.0.30,80,$((b + 52)),2,0.05 \
	tcp,198.19.0.30,80,$((b + 53)) tcp,198.19.0.30,80,$((b + 54)),3,0.05 \
	@ext tcp,198.18.9.1,30080,$((b + 21)) tcp,198.18.9.1,30080,$((b + 22)),2,0.05 \
	tcp,198.18.9.1,30080,$((b + 23)),3,0.05 tcp,198.18.9.1,30080,$((b + 24)) \
	udp,198.19.0.31,53,$((b + 61)),2,0.05 udp,198.19.0.31,53,$((b + 62)) \
	udp,198.19.0.31,53,$((b + 63)),3,0.05 udp,198.19.0.31,53,$((b + 64)) \
	@srv1 udp,198.18.9.2,9000,$((b + 31)) udp,198.18.9.2,9000,$((b + 32)),2,0.05 \
	udp,198.18.9.2,9000,$((b + 33)),3,0.05 udp,198.18.9.2,9000,$((b + 34))
end_round full

# Round 2: without nf_conntrack_timestamp and nf_conntrack_acct (the probe
# without -X leaves them alone): the same events, without start and counters.
ip netns exec "$node" sysctl -qw net.netfilter.nf_conntrack_timestamp=0 \
	net.netfilter.nf_conntrack_acct=0
start_round bare 4 -e
client cli tcp,198.19.0.12,80,$((b + 101)),2,0.05 udp,198.19.0.12,53,$((b + 102)) \
	@ext udp,198.19.0.31,53,$((b + 103)) @srv1 udp,198.18.9.2,9000,$((b + 104))
end_round bare

# Round 3: port exhaustion. Connections from cli to ext udp 9100 are
# masqueraded into two ports: of five, three find no port.
ip netns exec "$node" nft -f - <<'NFT' || fail "nftables snat range"
table ip xf_exhaust {
	chain post {
		type nat hook postrouting priority srcnat - 1;
		oifname "r9" ip saddr 198.18.1.2 udp dport 9100 snat to 198.18.9.1:20000-20001
	}
}
NFT
start_round exhaust 2 -e -X
ip netns exec "$node" conntrack -S >"$WORK/exhaust.stats-before"
topo_exec cli python3 -c '
import socket
for p in range(43001, 43006):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("198.18.1.2", p))
    s.sendto(b"x", ("198.18.9.2", 9100))
    s.close()
'
sleep 2.5 # two statistics polls
ip netns exec "$node" conntrack -S >"$WORK/exhaust.stats-after"
end_round exhaust

# Round 4: a full table. conntrack -R fills the node's table to
# nf_conntrack_max with assured entries (which early_drop may not evict);
# three new connections are then dropped: TABLE_FULL events counting 3, as
# conntrack's drop counter, and the fill reported (entries = max).
max=$(cat /proc/sys/net/netfilter/nf_conntrack_max)
if [ "$max" -le 1048576 ]; then
	start_round tablefull 0 -e -X
	awk -v n=$((max - $(ip netns exec "$node" conntrack -C))) 'BEGIN {
		for (i = 0; i < n; i++)
			printf "-I -p udp -s 198.18.5.%d -d 198.18.6.%d --sport %d --dport 53 -t 600 " \
				"--status ASSURED,SEEN_REPLY\n", i % 250 + 1, int(i / 250) % 250 + 1,
				1024 + int(i / 62500) }' >"$WORK/fill.txt"
	ip netns exec "$node" conntrack -R "$WORK/fill.txt" >/dev/null 2>&1
	[ "$(ip netns exec "$node" conntrack -C)" = "$max" ] ||
		fail "tablefull: conntrack -R filled $(ip netns exec "$node" conntrack -C) of $max"
	ip netns exec "$node" conntrack -S >"$WORK/tablefull.stats-before"
	topo_exec cli python3 -c '
import socket
for p in range(43101, 43104):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("198.18.1.2", p))
    s.sendto(b"x", ("198.19.0.12", 53))
    s.close()
'
	sleep 2.5 # two statistics polls
	ip netns exec "$node" conntrack -S >"$WORK/tablefull.stats-after"
	echo "$max" >"$WORK/tablefull.max"
	kill "$PROBE_PID" "$EV_PID"
	wait "$PROBE_PID" || fail "tablefull: probe failed: $(cat "$WORK/tablefull.err")"
	wait "$EV_PID" 2>/dev/null || true
	topo_flush_conntrack || fail "conntrack flush"
else
	echo "SKIP-CHECK: tablefull: nf_conntrack_max is $max, too many entries to fill here"
fi

[ -z "${XF_KEEP:-}" ] || cp -r "$WORK" "$XF_KEEP"
python3 "$check" "$WORK" "$b"
