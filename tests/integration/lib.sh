# SPDX-License-Identifier: GPL-2.0-only
# Shared helpers for the integration tests: network namespaces (only the ones
# the test creates, only 198.18.0.0/15 and 2001:db8::/32), a real nfcapd on
# the namespace's loopback, xlatflowd, and exact assertions on nfdump's JSON.
# Source it; set XF_TEST (short name) first.

set -euo pipefail

: "${XF_TEST:?set XF_TEST before sourcing lib.sh}"
abs_top_builddir=${abs_top_builddir:-$(pwd)}
abs_top_srcdir=${abs_top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
XLATFLOWD=${XLATFLOWD:-$abs_top_builddir/src/xlatflowd}
# Namespace names are unique per test and per run so parallel tests never meet.
NS_PREFIX="xf${XF_TEST}$$"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/xlatflow-$XF_TEST.XXXXXX")
XF_NAMESPACES=()
XF_PIDS=()

skip() {
	echo "SKIP: $*"
	exit 77
}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

need_root() {
	[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, BPF)"
}

need_cmd() {
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip "$c not installed"
	done
}

cleanup() {
	local rc=$?
	set +e
	# what the test started and stops its own way (a database cluster)
	declare -F xf_test_teardown >/dev/null && xf_test_teardown
	for pid in "${XF_PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${XF_PIDS[@]}"; do
		wait "$pid" 2>/dev/null
	done
	# servers and namespaces of tests/lib/nat-topology.sh, if the test used it
	declare -F topo_teardown >/dev/null && topo_teardown
	# ns_add runs in $(...), a subshell: its XF_NAMESPACES+= never reaches
	# this shell, so find the test's namespaces by their prefix too.
	for ns in "${XF_NAMESPACES[@]}" $(ip netns list 2>/dev/null |
		awk -v p="$NS_PREFIX-" 'index($1, p) == 1 { print $1 }'); do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
		for f in "$WORK"/*.log; do
			[ -f "$f" ] || continue
			echo "--- $f"
			tail -n 40 "$f"
		done
	fi
	[ -n "${XF_KEEP:-}" ] || rm -rf "$WORK"
	exit $rc
}
trap cleanup EXIT

# ns_add NAME: create namespace $NS_PREFIX-NAME with loopback up; prints its name.
ns_add() {
	local ns="$NS_PREFIX-$1"
	ip netns add "$ns"
	XF_NAMESPACES+=("$ns")
	ip -n "$ns" link set lo up
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	echo "$ns"
}

# veth_pair NS1 IF1 NS2 IF2: a veth between two namespaces, both up, offloads
# off so every packet on the wire is one packet at the hook.
veth_pair() {
	ip link add "$2" netns "$1" type veth peer name "$4" netns "$3"
	ip -n "$1" link set "$2" up
	ip -n "$3" link set "$4" up
	ip netns exec "$1" ethtool -K "$2" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
	ip netns exec "$3" ethtool -K "$4" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
}

# free_port: a UDP/TCP port number unlikely to collide between parallel tests.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_nfcapd NS PORT: nfcapd on NS's loopback writing to $WORK/nfcapd.
start_nfcapd() {
	mkdir -p "$WORK/nfcapd"
	ip netns exec "$1" nfcapd -b 127.0.0.1 -p "$2" -w "$WORK/nfcapd" -t 3600 \
		>"$WORK/nfcapd.log" 2>&1 &
	NFCAPD_PID=$!
	XF_PIDS+=("$NFCAPD_PID")
	sleep 0.5
}

# stop_nfcapd: flush the current file and wait.
stop_nfcapd() {
	kill -TERM "$NFCAPD_PID"
	wait "$NFCAPD_PID" 2>/dev/null || true
}

# nfdump_json OUT: all records nfcapd wrote, as one JSON array.
nfdump_json() {
	nfdump -R "$WORK/nfcapd" -o json >"$1" 2>"$WORK/nfdump.log" ||
		fail "nfdump failed: $(cat "$WORK/nfdump.log")"
}

# start_xlatflowd NS ARGS...: the daemon in the foreground inside NS.
start_xlatflowd() {
	local ns=$1
	shift
	ip netns exec "$ns" "$XLATFLOWD" --foreground "$@" >"$WORK/xlatflowd.log" 2>&1 &
	XLATFLOWD_PID=$!
	XF_PIDS+=("$XLATFLOWD_PID")
	# ready when the startup summary is printed
	for _ in $(seq 1 100); do
		grep -q "NAT enrichment:" "$WORK/xlatflowd.log" 2>/dev/null && return 0
		kill -0 "$XLATFLOWD_PID" 2>/dev/null || fail "xlatflowd exited: $(cat "$WORK/xlatflowd.log")"
		sleep 0.1
	done
	fail "xlatflowd did not start: $(cat "$WORK/xlatflowd.log")"
}

# stop_xlatflowd: SIGTERM exports every cached flow; the exit status must be 0.
stop_xlatflowd() {
	kill -TERM "$XLATFLOWD_PID"
	local rc=0
	wait "$XLATFLOWD_PID" || rc=$?
	[ $rc -eq 0 ] || fail "xlatflowd exited with $rc: $(tail -n 20 "$WORK/xlatflowd.log")"
}

# The NAT scenario of nat_scenarios.sh (cases A-H there) on the shared topology
# (tests/lib/nat-topology.sh), for every test that checks its translations.
NAT_SCENARIO_CASES="clusterip_ipt clusterip_nft nodeport egress ipv6 icmp zones output"

# nat_scenario_serve: the servers its connections go to
nat_scenario_serve() {
	topo_serve srv1 tcp,::,8080 tcp,0.0.0.0,8081 udp,0.0.0.0,9053 @srv2 tcp,0.0.0.0,8080 \
		@ext udp,0.0.0.0,9000
}

# nat_scenario_traffic BASE: the connections, from client ports BASE+1 to
# BASE+62 (fixed, so each connection is known), and the ping through DNAT
nat_scenario_traffic() {
	local b=$1 i specs=()
	for i in 1 2 3 4 5 6; do specs+=("tcp,198.19.0.11,80,$((b + i))"); done      # A
	for i in 1 2 3 4 5 6; do specs+=("tcp,198.19.0.10,80,$((b + 10 + i))"); done # B
	specs+=("tcp,2001:db8:ffff::10,80,$((b + 41))")                               # E
	specs+=("tcp,198.19.0.30,80,$((b + 61))")                                      # G zone 7
	specs+=(@ext "tcp,198.18.9.1,30080,$((b + 21))" "tcp,198.18.9.1,30080,$((b + 22))") # C
	specs+=(@srv1 "udp,198.18.9.2,9000,$((b + 31))")                                     # D
	specs+=(@ext "udp,198.19.0.31,53,$((b + 62))")                                       # G zone 9
	specs+=(@node "tcp,198.19.0.12,80,$((b + 51))")                                      # H
	# one python3 for every host's connections: the VM runs this too (TCG)
	topo_client cli "${specs[@]}" >"$WORK/clients.log" 2>&1 ||
		fail "clients: $(tail -n 3 "$WORK/clients.log")"
	topo_exec cli ping -c 3 -i 0.2 -W 2 198.19.0.20 >/dev/null || fail "ping through DNAT" # F
}
