# SPDX-License-Identifier: GPL-2.0-only
#
# The NAT test topology, written once: sourced by the host tests
# (tests/integration), the QEMU scenarios (tests/vm), the NAT hook benchmark
# (bench/nat_vm.sh) and the demo (scripts/demo.sh). POSIX sh, because the VM
# scenarios run under the guest's /bin/sh; it also works in bash under
# `set -euo pipefail` (every function returns its status, none relies on -e).
#
#        cli  c0 198.18.1.2/24 2001:db8:1::2/64
#         |
#   r1 198.18.1.1/24 2001:db8:1::1/64
#  node                                 the NAT: nftables / iptables, conntrack
#   r2 198.18.2.1/24 2001:db8:2::1/64 -- s0 198.18.2.2/24 2001:db8:2::2/64  srv1
#   r3 198.18.3.1/24 2001:db8:3::1/64 -- s0 198.18.3.2/24 2001:db8:3::2/64  srv2
#   r9 198.18.9.1/24 2001:db8:9::1/64 -- e0 198.18.9.2/24 2001:db8:9::2/64  ext
#
# cli is a client pod, srv1 and srv2 are backend pods (pod addresses
# 198.18.2.0/24 and 198.18.3.0/24), ext is a host outside the cluster. Every
# host routes through node; veth offloads are off, so each packet on the wire
# is one packet at a hook. Services use 198.19.0.0/24 and 2001:db8:ffff::/64.
# Only 198.18.0.0/15 and 2001:db8::/32 are used.
#
# NAT cases, each a set of rules in its own nftables table (xf_CASE) or,
# for clusterip_ipt, iptables chains, that a script asks for with topo_nat:
#   clusterip      ClusterIP 198.19.0.12, one endpoint: tcp 80 -> srv1:8080,
#                  udp 53 -> srv1:5353 (DNAT only, so the backend is known)
#   clusterip_nft  ClusterIP 198.19.0.10 tcp 80, kube-proxy nftables mode:
#                  numgen random over srv1:8080 and srv2:8080
#   clusterip_ipt  ClusterIP 198.19.0.11 tcp 80, kube-proxy iptables mode:
#                  KUBE-SVC/KUBE-SEP chains, statistic random 0.5 over
#                  srv1:8080 and srv2:8080
#   nodeport       198.18.9.1:30080 tcp -> srv1:8080, and masquerade of every
#                  DNATed connection that came in from ext (r9): the backend
#                  sees 198.18.2.1
#   egress         pod egress: srv1/srv2 -> ext masqueraded to 198.18.9.1
#   ipv6           [2001:db8:ffff::10] tcp 80 -> [2001:db8:2::2]:8080,
#                  udp 53 -> [2001:db8:2::2]:5353
#   icmp           198.19.0.20 icmp -> 198.18.2.2; 2001:db8:ffff::20 icmpv6
#                  -> 2001:db8:2::2
#   output         OUTPUT-chain DNAT for node's own sockets: 198.19.0.12 tcp
#                  80 -> srv1:8080 (node routes 198.19.0.0/24 via srv1, so
#                  the connection leaves through r2 with source 198.18.2.1)
#   zones          conntrack zone 7: 198.19.0.30 tcp 80 -> srv1:8081; zone 9:
#                  198.19.0.31 udp 53 -> srv1:9053. Set in a raw prerouting
#                  chain: originals by service address (from any host),
#                  replies by the backend's source port, so each zone has
#                  backend ports of its own
#   sctp           198.19.0.12 sctp 80 -> srv1:8080 (needs the sctp module)
#   masquerade_all every DNATed connection forwarded to srv1/srv2 is also
#                  masqueraded (kube-proxy --masquerade-all): changes the
#                  translation of every DNAT case above
# To add a case: a function topo_case_NAME that installs its rules in node
# (topo_nft, topo_exec), its modules in topo_case_modules, a line above.
#
# Servers (tests/lib/nat-peer.py serve) listen where a script asks; the ports
# above are the plan: srv1 tcp 8080 (both families) and 8081, udp 5353 and
# 9053, sctp 8080; srv2 tcp 8080; ext udp 9000 (egress).
#
# Functions (HOST: node, cli, srv1, srv2 or ext):
#   topo_modules CASE...   modprobe what the topology and the cases need;
#                          non-zero (and names the module) if one failed
#   topo_setup PREFIX SRCDIR WORK
#                          namespaces PREFIX+HOST (PREFIX may be empty), links,
#                          addresses, routes, neighbours resolved; SRCDIR is
#                          the source tree, WORK a writable directory (logs)
#   topo_nat CASE...       install the NAT cases in node
#   topo_ns HOST           print HOST's namespace name
#   topo_exec HOST CMD...  run CMD in HOST (not for background jobs: $! would
#                          be a subshell; use ip netns exec "$(topo_ns HOST)")
#   topo_serve HOST SPEC... [@HOST SPEC...]
#                          nat-peer.py serve in HOST, in the background,
#                          until it is ready; SPEC = proto,addr,port
#   topo_client HOST SPEC... [@HOST SPEC...]
#                          nat-peer.py client in HOST (see nat-peer.py);
#                          $topo_peer is its path, for clients in the background
#                          @HOST moves the following SPECs to HOST, in the same
#                          process: python3 starts are slow under TCG
#   topo_flush_conntrack   forget node's connections (both families)
#   topo_teardown          stop the servers, delete the namespaces
# Each returns non-zero, with a message on stderr, when a step failed.

topo_prefix=
topo_srcdir=
topo_work=
topo_peer=
topo_made=
topo_pids=
topo_nserve=0

topo_ns() { echo "$topo_prefix$1"; }

topo_exec() {
	topo_h=$1
	shift
	ip netns exec "$topo_prefix$topo_h" "$@"
}

# modules of the topology itself (veth, conntrack, nftables NAT, zones,
# conntrack netlink for the conntrack tool and the daemon's source)
topo_base_modules="veth nf_conntrack nf_nat nf_tables nft_chain_nat nft_ct nf_conntrack_netlink"

topo_case_modules() {
	case $1 in
	clusterip_nft) echo nft_numgen ;;
	clusterip_ipt) echo xt_statistic xt_nat iptable_nat ;;
	sctp) echo sctp ;;
	esac
}

topo_modules() {
	topo_rc=0
	for topo_m in $topo_base_modules $(for topo_c in "$@"; do topo_case_modules "$topo_c"; done); do
		modprobe "$topo_m" 2>/dev/null || {
			echo "topo_modules: modprobe $topo_m failed" >&2
			topo_rc=1
		}
	done
	return $topo_rc
}

# topo_link HOST IF NODE_IF N: veth HOST:IF -- node:NODE_IF on 198.18.N.0/24
# and 2001:db8:N::/64, host .2 and node .1, the host's default route via node
topo_link() {
	topo_hn=$topo_prefix$1
	topo_nn=$topo_prefix"node"
	ip link add "$2" netns "$topo_hn" type veth peer name "$3" netns "$topo_nn" || return 1
	ip -n "$topo_hn" addr add "198.18.$4.2/24" dev "$2" &&
		ip -n "$topo_hn" addr add "2001:db8:$4::2/64" dev "$2" nodad &&
		ip -n "$topo_nn" addr add "198.18.$4.1/24" dev "$3" &&
		ip -n "$topo_nn" addr add "2001:db8:$4::1/64" dev "$3" nodad &&
		ip -n "$topo_hn" link set "$2" up &&
		ip -n "$topo_nn" link set "$3" up &&
		ip -n "$topo_hn" route add default via "198.18.$4.1" &&
		ip -n "$topo_hn" -6 route add default via "2001:db8:$4::1" || return 1
	ip netns exec "$topo_hn" ethtool -K "$2" tso off gso off gro off tx off rx off >/dev/null 2>&1
	ip netns exec "$topo_nn" ethtool -K "$3" tso off gso off gro off tx off rx off >/dev/null 2>&1
	return 0
}

topo_setup() {
	[ $# -eq 3 ] || { echo "usage: topo_setup PREFIX SRCDIR WORK" >&2; return 2; }
	topo_prefix=$1
	topo_srcdir=$2
	topo_work=$3
	topo_peer=$topo_srcdir/tests/lib/nat-peer.py
	[ -r "$topo_peer" ] || { echo "topo_setup: no $topo_peer" >&2; return 1; }
	for topo_h in node cli srv1 srv2 ext; do
		ip netns add "$topo_prefix$topo_h" || return 1
		topo_made="$topo_made $topo_prefix$topo_h"
		ip -n "$topo_prefix$topo_h" link set lo up &&
			ip netns exec "$topo_prefix$topo_h" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
				net.ipv6.conf.default.accept_dad=0 || return 1
	done
	topo_link cli c0 r1 1 && topo_link srv1 s0 r2 2 && topo_link srv2 s0 r3 3 &&
		topo_link ext e0 r9 9 || { echo "topo_setup: links failed" >&2; return 1; }
	topo_exec node sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 || return 1
	# neighbours resolved once (both ends learn each other), so the first
	# packet of a counted exchange is not delayed or dropped by ARP/ND
	for topo_hn in cli:1 srv1:2 srv2:3 ext:9; do
		topo_exec "${topo_hn%:*}" ping -c 1 -W 2 "198.18.${topo_hn#*:}.1" >/dev/null &&
			topo_exec "${topo_hn%:*}" ping -c 1 -W 2 "2001:db8:${topo_hn#*:}::1" >/dev/null || {
			echo "topo_setup: ${topo_hn%:*} cannot reach node" >&2
			return 1
		}
	done
	return 0
}

# topo_nft: nft -f - in node (the rules on stdin)
topo_nft() { topo_exec node nft -f -; }

topo_case_clusterip() {
	topo_nft <<'EOF'
table ip xf_clusterip {
	chain pre {
		type nat hook prerouting priority dstnat;
		ip daddr 198.19.0.12 tcp dport 80 dnat to 198.18.2.2:8080
		ip daddr 198.19.0.12 udp dport 53 dnat to 198.18.2.2:5353
	}
}
EOF
}

# as kube-proxy's nftables mode programs a Service with two endpoints
topo_case_clusterip_nft() {
	topo_nft <<'EOF'
table ip xf_clusterip_nft {
	chain pre {
		type nat hook prerouting priority dstnat;
		ip daddr 198.19.0.10 tcp dport 80 numgen random mod 2 vmap { 0 : jump ep1, 1 : jump ep2 }
	}
	chain ep1 {
		meta l4proto tcp dnat to 198.18.2.2:8080
	}
	chain ep2 {
		meta l4proto tcp dnat to 198.18.3.2:8080
	}
}
EOF
}

# as kube-proxy's iptables mode programs it (iptables in the nat table)
topo_case_clusterip_ipt() {
	for topo_r in "-N KUBE-SERVICES" "-A PREROUTING -j KUBE-SERVICES" "-N KUBE-SVC-XF" \
		"-N KUBE-SEP-XF1" "-N KUBE-SEP-XF2" \
		"-A KUBE-SERVICES -d 198.19.0.11/32 -p tcp --dport 80 -j KUBE-SVC-XF" \
		"-A KUBE-SVC-XF -m statistic --mode random --probability 0.5 -j KUBE-SEP-XF1" \
		"-A KUBE-SVC-XF -j KUBE-SEP-XF2" \
		"-A KUBE-SEP-XF1 -p tcp -j DNAT --to-destination 198.18.2.2:8080" \
		"-A KUBE-SEP-XF2 -p tcp -j DNAT --to-destination 198.18.3.2:8080"; do
		# shellcheck disable=SC2086 # each rule is a word list
		topo_exec node iptables -w -t nat $topo_r || return 1
	done
}

topo_case_nodeport() {
	topo_nft <<'EOF'
table ip xf_nodeport {
	chain pre {
		type nat hook prerouting priority dstnat;
		ip daddr 198.18.9.1 tcp dport 30080 dnat to 198.18.2.2:8080
	}
	chain post {
		type nat hook postrouting priority srcnat;
		iifname "r9" ct status dnat masquerade
	}
}
EOF
}

topo_case_egress() {
	topo_nft <<'EOF'
table ip xf_egress {
	chain post {
		type nat hook postrouting priority srcnat;
		oifname "r9" ip saddr { 198.18.2.0/24, 198.18.3.0/24 } masquerade
	}
}
EOF
}

topo_case_ipv6() {
	topo_nft <<'EOF'
table ip6 xf_ipv6 {
	chain pre {
		type nat hook prerouting priority dstnat;
		ip6 daddr 2001:db8:ffff::10 tcp dport 80 dnat to [2001:db8:2::2]:8080
		ip6 daddr 2001:db8:ffff::10 udp dport 53 dnat to [2001:db8:2::2]:5353
	}
}
EOF
}

topo_case_icmp() {
	topo_nft <<'EOF'
table ip xf_icmp {
	chain pre {
		type nat hook prerouting priority dstnat;
		ip daddr 198.19.0.20 ip protocol icmp dnat to 198.18.2.2
	}
}
table ip6 xf_icmp6 {
	chain pre {
		type nat hook prerouting priority dstnat;
		ip6 daddr 2001:db8:ffff::20 meta l4proto icmpv6 dnat to 2001:db8:2::2
	}
}
EOF
}

# The node's own sockets route the Service range before OUTPUT DNAT rewrites
# it (kube-proxy nodes do so through their default route).
topo_case_output() {
	topo_exec node ip route add 198.19.0.0/24 via 198.18.2.2 || return 1
	topo_nft <<'EOF'
table ip xf_output {
	chain out {
		type nat hook output priority -100;
		ip daddr 198.19.0.12 tcp dport 80 dnat to 198.18.2.2:8080
	}
}
EOF
}

topo_case_zones() {
	topo_nft <<'EOF'
table ip xf_zones {
	chain raw {
		type filter hook prerouting priority raw;
		ip daddr 198.19.0.30 ct zone set 7
		iifname "r2" ip saddr 198.18.2.2 tcp sport 8081 ct zone set 7
		ip daddr 198.19.0.31 ct zone set 9
		iifname "r2" ip saddr 198.18.2.2 udp sport 9053 ct zone set 9
	}
	chain pre {
		type nat hook prerouting priority dstnat;
		ip daddr 198.19.0.30 tcp dport 80 dnat to 198.18.2.2:8081
		ip daddr 198.19.0.31 udp dport 53 dnat to 198.18.2.2:9053
	}
}
EOF
}

topo_case_sctp() {
	topo_nft <<'EOF'
table ip xf_sctp {
	chain pre {
		type nat hook prerouting priority dstnat;
		ip daddr 198.19.0.12 sctp dport 80 dnat to 198.18.2.2:8080
	}
}
EOF
}

topo_case_masquerade_all() {
	topo_nft <<'EOF'
table ip xf_masquerade_all {
	chain post {
		type nat hook postrouting priority srcnat;
		oifname { "r2", "r3" } ct status dnat masquerade
	}
}
EOF
}

topo_nat() {
	for topo_c in "$@"; do
		command -v "topo_case_$topo_c" >/dev/null 2>&1 ||
			{ echo "topo_nat: no NAT case $topo_c" >&2; return 2; }
		"topo_case_$topo_c" || { echo "topo_nat: case $topo_c failed" >&2; return 1; }
	done
	return 0
}

# topo_peer_args ARG...: the arguments, each @HOST as @NAMESPACE, one a line
topo_peer_args() {
	for topo_a in "$@"; do
		case $topo_a in
		@*) echo "@$topo_prefix${topo_a#@}" ;;
		*) echo "$topo_a" ;;
		esac
	done
}

topo_serve() {
	topo_h=$1
	shift
	topo_nserve=$((topo_nserve + 1))
	topo_log=$topo_work/serve-$topo_h-$topo_nserve.log
	# specs and namespace names have no blanks: one word each
	# shellcheck disable=SC2046
	ip netns exec "$topo_prefix$topo_h" python3 "$topo_peer" serve $(topo_peer_args "$@") \
		>"$topo_log" 2>&1 &
	# ip netns exec runs python3 in its own process: $! is the server
	topo_sp=$!
	topo_pids="$topo_pids $topo_sp"
	topo_i=0
	# python3 takes seconds to start under TCG
	until grep -q '^ready$' "$topo_log" 2>/dev/null; do
		topo_i=$((topo_i + 1))
		if [ $topo_i -gt 300 ] || ! kill -0 $topo_sp 2>/dev/null; then
			echo "topo_serve: server in $topo_h did not start: $(cat "$topo_log")" >&2
			return 1
		fi
		sleep 0.1
	done
	return 0
}

topo_client() {
	topo_h=$1
	shift
	# shellcheck disable=SC2046 # specs and names have no blanks
	ip netns exec "$topo_prefix$topo_h" python3 "$topo_peer" client $(topo_peer_args "$@")
}

topo_flush_conntrack() {
	topo_exec node conntrack -F >/dev/null 2>&1 &&
		topo_exec node conntrack -F -f ipv6 >/dev/null 2>&1 ||
		{ echo "topo_flush_conntrack: conntrack -F failed" >&2; return 1; }
}

topo_teardown() {
	for topo_p in $topo_pids; do
		kill "$topo_p" 2>/dev/null
	done
	for topo_p in $topo_pids; do
		wait "$topo_p" 2>/dev/null
	done
	topo_pids=
	for topo_n in $topo_made; do
		topo_p=$(ip netns pids "$topo_n" 2>/dev/null)
		[ -z "$topo_p" ] || kill -9 $topo_p 2>/dev/null
		ip netns del "$topo_n" 2>/dev/null
	done
	topo_made=
	return 0
}
