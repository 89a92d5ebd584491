# SPDX-License-Identifier: GPL-2.0-only
#
# The namespace topology of the VM NAT scenarios, sourced by
# nat-scenarios.sh (xf-natwatch) and daemon-nat-scenarios.sh (xlatflowd):
#
#   cli  c0 198.18.1.2/24 2001:db8:1::2/64
#    |
#   rtr  r1 198.18.1.1/24 2001:db8:1::1/64    nftables NAT, conntrack zones
#        r2 198.18.2.1/24 2001:db8:2::1/64
#    |
#   srv  s0 198.18.2.2/24 2001:db8:2::2/64    nat-peer.py serve
#
# NAT rules in rtr (addresses from 198.18.0.0/15 and 2001:db8::/32 only):
#   198.19.0.10 tcp/sctp 80 -> 198.18.2.2:8080   DNAT (also OUTPUT, for rtr's own sockets)
#   198.18.2.2 udp 9000                           masquerade to 198.18.2.1
#   198.19.0.40 tcp 80 -> 198.18.2.2:8080         DNAT + masquerade
#   198.19.0.20 icmp -> 198.18.2.2                DNAT
#   198.19.0.30 tcp 80 -> 198.18.2.2:8081         DNAT in conntrack zone 7
#   198.19.0.31 udp 53 -> 198.18.2.2:9053         DNAT in conntrack zone 9
#   [2001:db8:ffff::10] tcp 80 -> [2001:db8:2::2]:8080, 2001:db8:ffff::20 icmpv6 -> 2001:db8:2::2
#
# Needs: $peer (nat-peer.py), $OUT (writable). Defines nsx, topo_modules,
# topo_setup (sets $server_pid) and topo_flush_conntrack.

# Not for background jobs: $! would be a subshell, not the command.
nsx() { ns=$1; shift; ip netns exec "$ns" "$@"; }

topo_setup() {
	for ns in cli rtr srv; do
		ip netns add $ns
		nsx $ns ip link set lo up
	done
	ip link add c0 netns cli type veth peer name r1 netns rtr
	ip link add s0 netns srv type veth peer name r2 netns rtr
	for ns_if in cli:c0 rtr:r1 rtr:r2 srv:s0; do
		ns=${ns_if%:*}
		nsx "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	done
	nsx cli ip addr add 198.18.1.2/24 dev c0
	nsx cli ip -6 addr add 2001:db8:1::2/64 dev c0 nodad
	nsx rtr ip addr add 198.18.1.1/24 dev r1
	nsx rtr ip -6 addr add 2001:db8:1::1/64 dev r1 nodad
	nsx rtr ip addr add 198.18.2.1/24 dev r2
	nsx rtr ip -6 addr add 2001:db8:2::1/64 dev r2 nodad
	nsx srv ip addr add 198.18.2.2/24 dev s0
	nsx srv ip -6 addr add 2001:db8:2::2/64 dev s0 nodad
	for ns_if in cli:c0 rtr:r1 rtr:r2 srv:s0; do
		nsx "${ns_if%:*}" ip link set "${ns_if#*:}" up
	done
	nsx cli ip route add default via 198.18.1.1
	nsx cli ip -6 route add default via 2001:db8:1::1
	nsx srv ip route add default via 198.18.2.1
	nsx srv ip -6 route add default via 2001:db8:2::1
	nsx rtr sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	# the router's own sockets route the service range before OUTPUT DNAT
	# rewrites it (as kube-proxy nodes do through their default route)
	nsx rtr ip route add 198.19.0.0/24 via 198.18.2.2

	# ClusterIP-style DNAT (PREROUTING and, for the router's own sockets,
	# OUTPUT), masquerade, DNAT+masquerade, ICMP DNAT, two zones, IPv6.
	nsx rtr nft -f - <<'EOF' || return 1
table ip raw {
	chain pre {
		type filter hook prerouting priority raw;
		iifname "r1" ip daddr 198.19.0.30 ct zone set 7
		iifname "r2" ip saddr 198.18.2.2 tcp sport 8081 ct zone set 7
		iifname "r1" ip daddr 198.19.0.31 ct zone set 9
		iifname "r2" ip saddr 198.18.2.2 udp sport 9053 ct zone set 9
	}
}
table ip nat {
	chain pre {
		type nat hook prerouting priority dstnat;
		ip daddr 198.19.0.10 tcp dport 80 dnat to 198.18.2.2:8080
		ip daddr 198.19.0.10 sctp dport 80 dnat to 198.18.2.2:8080
		ip daddr 198.19.0.20 ip protocol icmp dnat to 198.18.2.2
		ip daddr 198.19.0.30 tcp dport 80 dnat to 198.18.2.2:8081
		ip daddr 198.19.0.31 udp dport 53 dnat to 198.18.2.2:9053
		ip daddr 198.19.0.40 tcp dport 80 dnat to 198.18.2.2:8080
	}
	chain out {
		type nat hook output priority -100;
		ip daddr 198.19.0.10 tcp dport 80 dnat to 198.18.2.2:8080
	}
	chain post {
		type nat hook postrouting priority srcnat;
		oifname "r2" udp dport 9000 masquerade
		oifname "r2" ct original ip daddr 198.19.0.40 masquerade
	}
}
table ip6 nat {
	chain pre {
		type nat hook prerouting priority dstnat;
		ip6 daddr 2001:db8:ffff::10 tcp dport 80 dnat to [2001:db8:2::2]:8080
		ip6 daddr 2001:db8:ffff::20 meta l4proto icmpv6 dnat to 2001:db8:2::2
	}
}
EOF
	ip netns exec srv python3 "$peer" serve tcp,::,8080 tcp,0.0.0.0,8081 udp,0.0.0.0,9000 \
		udp,0.0.0.0,9053 sctp,0.0.0.0,8080 >"$OUT/server.log" 2>&1 &
	server_pid=$!
	i=0
	until grep -q ready "$OUT/server.log" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 100 ] || { echo "server did not start"; cat "$OUT/server.log"; return 1; }
		sleep 0.1
	done
	# neighbours resolved once, so the first NATed packet is not delayed
	nsx cli ping -c 1 -W 2 198.18.1.1 >/dev/null
	nsx srv ping -c 1 -W 2 198.18.2.1 >/dev/null
}

# Forget all connections of earlier rounds, so each case starts a new one.
topo_flush_conntrack() {
	nsx rtr conntrack -F >/dev/null 2>&1
	nsx rtr conntrack -F -f ipv6 >/dev/null 2>&1
}

# modules the guest autoloads only on first use; loaded here so the hook's
# target (nf_nat_manip_pkt in nf_nat.ko) exists before the hook attaches
topo_modules() {
	for m in veth nf_tables nf_nat nft_chain_nat nft_ct sctp; do
		modprobe $m || { echo "modprobe $m failed"; return 1; }
	done
}

