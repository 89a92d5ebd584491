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

# cpu_ns PID: CPU time of all PID's threads in ns (schedstat: exact, unlike clock ticks)
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{ s += $1 } END { printf "%d\n", s }'; }
