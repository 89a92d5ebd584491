# SPDX-License-Identifier: GPL-2.0-only
# Sourced by bench/e2e.sh and bench/rss.sh: the traffic topology.
#
#   gen  vg ----veth---- vb  obs
#
# bench_pair GEN OBS: the two namespaces and the veth, IPv6 off, 198.18.0.2/24
# on vb, no forwarding in OBS (frames end at vb). Sets vb_mac. Returns non-zero
# when a step fails. bench_pair_del GEN OBS removes both namespaces.
bench_pair() {
	local gen=$1 obs=$2 ns
	ip netns add "$gen" && ip netns add "$obs" || return 1
	ip link add vg netns "$gen" type veth peer name vb netns "$obs" || return 1
	for ns in "$gen" "$obs"; do
		ip -n "$ns" link set lo up
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
			net.ipv6.conf.default.disable_ipv6=1
	done
	ip -n "$gen" link set vg up
	ip -n "$obs" link set vb up
	ip -n "$obs" addr add 198.18.0.2/24 dev vb
	ip netns exec "$obs" sysctl -qw net.ipv4.ip_forward=0
	vb_mac=$(ip netns exec "$obs" cat /sys/class/net/vb/address)
}

bench_pair_del() {
	ip netns del "$1" 2>/dev/null
	ip netns del "$2" 2>/dev/null
}

# bench_need CMD...: root and these commands, else exit 77 (a skip, as in automake)
bench_need() {
	local c
	[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
	for c in "$@"; do
		command -v "$c" >/dev/null || { echo "SKIP: $c not installed"; exit 77; }
	done
}

# bench_file_needed FILE HINT: FILE exists, else exit 77 saying HINT
bench_file_needed() { [ -e "$1" ] || { echo "SKIP: $1 not built ($2)"; exit 77; }; }

# bench_stop: stop and reap the processes in pids[], delete the pair $gen $obs
# and, unless BENCH_KEEP is set, the work directory $work
bench_stop() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	pids=()
	bench_pair_del "$gen" "$obs"
	[ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"
}

# cpu_ns PID: CPU time of all PID's threads in ns (schedstat: exact, unlike clock ticks)
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{ s += $1 } END { printf "%d\n", s }'; }
