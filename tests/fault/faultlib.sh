# SPDX-License-Identifier: GPL-2.0-only
# Helpers shared by the fault and overload tests (tests/fault/*.sh), on top
# of tests/integration/lib.sh: a two-namespace topology, a traffic generator
# with known flows, xf-collect, resource probes of the daemon. Source it
# after setting XF_TEST.

source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"
FAULT_DIR=$abs_top_srcdir/tests/fault
XF_COLLECT=$abs_top_builddir/tests/tools/xf-collect

# pair_setup: namespaces $A (sender, va 198.18.0.1) and $B (daemon, vb
# 198.18.0.2). UDP to 198.18.0.2 is dropped by nftables in $B after the TC
# hook saw it, so no receiver and no ICMP replies disturb the counts.
pair_setup() {
	need_root
	need_cmd nfcapd nft python3 ip
	[ -x "$XLATFLOWD" ] || fail "$XLATFLOWD not built"
	[ -x "$XF_COLLECT" ] || fail "$XF_COLLECT not built"
	A=$(ns_add a)
	B=$(ns_add b)
	veth_pair "$A" va "$B" vb
	ip -n "$A" addr add 198.18.0.1/24 dev va
	ip -n "$B" addr add 198.18.0.2/24 dev vb
	ip netns exec "$A" sysctl -qw net.ipv6.conf.va.disable_ipv6=1
	ip netns exec "$B" sysctl -qw net.ipv6.conf.vb.disable_ipv6=1
	ip netns exec "$A" ping -c1 -W2 198.18.0.2 >/dev/null
	# static neighbours: no ARP while the daemon counts
	ip -n "$A" neigh replace 198.18.0.2 lladdr "$(ip -n "$B" -br link show vb | awk '{print $3}')" dev va nud permanent
	ip -n "$B" neigh replace 198.18.0.1 lladdr "$(ip -n "$A" -br link show va | awk '{print $3}')" dev vb nud permanent
	ip netns exec "$B" nft -f - <<'NFT'
table inet xffault {
	chain pre { type filter hook prerouting priority -300; udp dport 5000-5999 drop; }
}
NFT
}

# send_flows NS ARGS...: tests/fault/gen.py in NS (see its usage).
send_flows() {
	local ns=$1
	shift
	ip netns exec "$ns" python3 "$FAULT_DIR/gen.py" "$@"
}

# start_xfc NAME udp|tcp PORT [NS]: xf-collect writing $WORK/NAME.json; pid in XFC_PIDS[NAME].
declare -A XFC_PIDS
start_xfc() {
	local name=$1 proto=$2 port=$3 ns=${4:-$B}
	ip netns exec "$ns" "$XF_COLLECT" "--$proto" "$port" --bind 127.0.0.1 \
		--out "$WORK/$name.json" 2>"$WORK/$name.log" &
	XFC_PIDS[$name]=$!
	XF_PIDS+=("$!")
	sleep 0.3
}

# stop_xfc NAME: let it read everything that was sent (every TCP connection
# closed, the output stable for half a second, at most 30 s), then stop it.
stop_xfc() {
	local pid=${XFC_PIDS[$1]} out=$WORK/$1.json log=$WORK/$1.log i size last=-1 opened closed
	for i in $(seq 1 300); do
		opened=$(grep -c "connection$" "$log" || true)
		closed=$(grep -c "connection closed" "$log" || true)
		size=$(stat -c %s "$out" 2>/dev/null || echo 0)
		if [ "$opened" -eq "$closed" ] && [ "$size" -eq "$last" ] && [ $((i % 5)) -eq 0 ]; then
			break
		fi
		[ $((i % 5)) -eq 0 ] && last=$size
		sleep 0.1
	done
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# acct ARGS...: tests/fault/acct.py (exact per-flow accounting).
acct() {
	python3 "$FAULT_DIR/acct.py" "$@"
}

rss_kb() {
	awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}

fd_count() {
	ls "/proc/$1/fd" | wc -l
}

# wait_log PATTERN [TIMEOUT_S]: wait until the daemon's log matches.
wait_log() {
	local i
	for i in $(seq 1 $((${2:-10} * 10))); do
		grep -q -- "$1" "$WORK/xlatflowd.log" && return 0
		sleep 0.1
	done
	fail "timed out waiting for '$1' in the daemon log"
}

# wait_exit PID TIMEOUT_S: wait for PID to exit; its status in WAIT_RC.
wait_exit() {
	local i
	for i in $(seq 1 $(($2 * 10))); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$1" 2>/dev/null && fail "pid $1 still running after $2 s"
	WAIT_RC=0
	wait "$1" || WAIT_RC=$?
}
