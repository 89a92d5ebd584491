#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# NAT enrichment end to end: the whole daemon on a "node" namespace that
# translates traffic the way kube-proxy and CNI plugins do, exporting to a real
# nfcapd and to the project's decoder (xf-collect). The truth is the kernel's
# own conntrack table (`conntrack -L`, read independently of xlatflowd): for
# every translated connection, every flow xlatflowd exported at every
# observation point must carry exactly the translation conntrack applied.
#
#   NAT_MODE=conntrack (default; the host)  or fentry / kprobe (tests/vm)
#   XF_SAMPLING=N  sample 1 packet in N: every flow that is kept must still
#                  carry its translation (the NAT path never samples), but
#                  not every observation point is expected any more
#
# Cases (client source ports are fixed so each connection is known):
#   A ClusterIP, kube-proxy iptables mode: iptables-nft KUBE-SVC chains with
#     statistic-mode random choice between two endpoints, 198.19.0.10:80
#   B ClusterIP, kube-proxy nftables mode: numgen vmap over two endpoints,
#     198.19.0.11:80
#   C NodePort 198.18.9.1:30080 from outside: DNAT + masquerade SNAT
#   D pod egress masquerade to an external host (UDP)
#   E IPv6 DNAT [2001:db8:ffff::10]:80
#   F ICMP echo through DNAT 198.19.0.20
#   G two conntrack zones (7 and 9) set in raw prerouting
#   H a client on the node itself: OUTPUT-chain DNAT 198.19.0.12:80
XF_TEST=nat
source "$(dirname "$0")/lib.sh"
need_root
need_cmd nfcapd nfdump nft iptables conntrack python3 ping
[ -x "$XLATFLOWD" ] || fail "$XLATFLOWD not built"
NAT_MODE=${NAT_MODE:-conntrack}
peer=$abs_top_srcdir/tests/vm/nat-peer.py
collect=$abs_top_builddir/tests/tools/xf-collect
[ -x "$collect" ] || fail "$collect not built (make check builds it)"
for m in nf_conntrack nf_nat nft_chain_nat nft_ct nft_numgen xt_statistic xt_nat; do
	modprobe -q "$m" 2>/dev/null || true
done

node=$(ns_add node)
cli=$(ns_add cli)
srv1=$(ns_add srv1)
srv2=$(ns_add srv2)
ext=$(ns_add ext)
veth_pair "$cli" c0 "$node" r1
veth_pair "$srv1" s0 "$node" r2
veth_pair "$srv2" s0 "$node" r3
veth_pair "$ext" e0 "$node" r9
addr() { ip -n "$1" addr add "$3" dev "$2" nodad 2>/dev/null || ip -n "$1" addr add "$3" dev "$2"; }
addr "$cli" c0 198.18.1.2/24; addr "$cli" c0 2001:db8:1::2/64
addr "$node" r1 198.18.1.1/24; addr "$node" r1 2001:db8:1::1/64
addr "$srv1" s0 198.18.2.2/24; addr "$srv1" s0 2001:db8:2::2/64
addr "$node" r2 198.18.2.1/24; addr "$node" r2 2001:db8:2::1/64
addr "$srv2" s0 198.18.3.2/24
addr "$node" r3 198.18.3.1/24
addr "$ext" e0 198.18.9.2/24
addr "$node" r9 198.18.9.1/24
ip -n "$cli" route add default via 198.18.1.1
ip -n "$cli" -6 route add default via 2001:db8:1::1
ip -n "$srv1" route add default via 198.18.2.1
ip -n "$srv1" -6 route add default via 2001:db8:2::1
ip -n "$srv2" route add default via 198.18.3.1
ip -n "$ext" route add default via 198.18.9.1
ip netns exec "$node" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
# the node's own sockets route the Service address towards srv2 (case H)
ip -n "$node" route add 198.19.0.12/32 via 198.18.3.2

# C, D, E, F, G, H and B in nftables; A the way kube-proxy's iptables mode does it.
ip netns exec "$node" nft -f - <<'NFT' || fail "nftables rules"
table ip xfraw {
	chain pre {
		type filter hook prerouting priority raw;
		iifname "r1" ip daddr 198.19.0.30 ct zone set 7
		iifname "r2" ip saddr 198.18.2.2 tcp sport 8081 ct zone set 7
		iifname "r9" ip daddr 198.19.0.31 ct zone set 9
		iifname "r2" ip saddr 198.18.2.2 udp sport 9053 ct zone set 9
	}
}
table ip xfnat {
	chain pre {
		type nat hook prerouting priority dstnat;
		ip daddr 198.19.0.11 tcp dport 80 numgen random mod 2 vmap { 0 : jump ep1, 1 : jump ep2 }
		ip daddr 198.18.9.1 tcp dport 30080 dnat to 198.18.2.2:8080
		ip daddr 198.19.0.20 ip protocol icmp dnat to 198.18.2.2
		ip daddr 198.19.0.30 tcp dport 80 dnat to 198.18.2.2:8081
		ip daddr 198.19.0.31 udp dport 53 dnat to 198.18.2.2:9053
	}
	chain ep1 {
		meta l4proto tcp dnat to 198.18.2.2:8080
	}
	chain ep2 {
		meta l4proto tcp dnat to 198.18.3.2:8080
	}
	chain out {
		type nat hook output priority -100;
		ip daddr 198.19.0.12 tcp dport 80 dnat to 198.18.3.2:8080
	}
	chain post {
		type nat hook postrouting priority srcnat;
		iifname "r9" ct status dnat masquerade
		oifname "r9" ip saddr 198.18.2.0/24 masquerade
	}
}
table ip6 xfnat6 {
	chain pre {
		type nat hook prerouting priority dstnat;
		ip6 daddr 2001:db8:ffff::10 tcp dport 80 dnat to [2001:db8:2::2]:8080
	}
}
NFT
ipt() { ip netns exec "$node" iptables -w -t nat "$@"; }
ipt -N KUBE-SERVICES
ipt -A PREROUTING -j KUBE-SERVICES
ipt -N KUBE-SVC-XF
ipt -N KUBE-SEP-XF1
ipt -N KUBE-SEP-XF2
ipt -A KUBE-SERVICES -d 198.19.0.10/32 -p tcp --dport 80 -j KUBE-SVC-XF
ipt -A KUBE-SVC-XF -m statistic --mode random --probability 0.5 -j KUBE-SEP-XF1
ipt -A KUBE-SVC-XF -j KUBE-SEP-XF2
ipt -A KUBE-SEP-XF1 -p tcp -j DNAT --to-destination 198.18.2.2:8080
ipt -A KUBE-SEP-XF2 -p tcp -j DNAT --to-destination 198.18.3.2:8080

serve() {
	local ns=$1
	shift
	ip netns exec "$ns" python3 "$peer" serve "$@" >"$WORK/serve-$ns.log" 2>&1 &
	XF_PIDS+=($!)
}
serve "$srv1" tcp,::,8080 tcp,0.0.0.0,8081 udp,0.0.0.0,9053
serve "$srv2" tcp,0.0.0.0,8080
serve "$ext" udp,0.0.0.0,9000
for ns in "$srv1" "$srv2" "$ext"; do
	for _ in $(seq 1 50); do
		grep -q ready "$WORK/serve-$ns.log" 2>/dev/null && break
		sleep 0.1
	done
done
# neighbours first, so that the counted exchanges are not delayed by ARP/ND
ip netns exec "$cli" ping -c1 -W2 198.18.1.1 >/dev/null
ip netns exec "$cli" ping -c1 -W2 2001:db8:1::1 >/dev/null || true
ip netns exec "$srv1" ping -c1 -W2 198.18.2.1 >/dev/null
ip netns exec "$srv2" ping -c1 -W2 198.18.3.1 >/dev/null
ip netns exec "$ext" ping -c1 -W2 198.18.9.1 >/dev/null
ip netns exec "$node" conntrack -F >/dev/null 2>&1 || true
ip netns exec "$node" conntrack -F -f ipv6 >/dev/null 2>&1 || true

port=$(free_port)
port2=$(free_port)
start_nfcapd "$node" "$port"
ip netns exec "$node" "$collect" --udp "$port2" --bind 127.0.0.1 --out "$WORK/xfc.json" \
	2>"$WORK/xf-collect.log" &
XFC_PID=$!
XF_PIDS+=("$XFC_PID")
start_xlatflowd "$node" --interface 'r*' --collector "udp://127.0.0.1:$port" \
	--collector "udp://127.0.0.1:$port2" --idle-timeout 3 --drain-interval 100 \
	--nat-hook "$NAT_MODE" --sampling "${XF_SAMPLING:-1}"
grep -q "NAT enrichment: $NAT_MODE" "$WORK/xlatflowd.log" ||
	fail "NAT enrichment is not $NAT_MODE: $(grep -i nat "$WORK/xlatflowd.log")"

client() {
	local ns=$1
	shift
	ip netns exec "$ns" python3 "$peer" client "$@" >>"$WORK/clients.log" 2>&1 ||
		fail "client $*: $(tail -n 3 "$WORK/clients.log")"
}
b=41000
specs=()
for i in 1 2 3 4 5 6; do specs+=("tcp,198.19.0.10,80,$((b + i))"); done      # A
for i in 1 2 3 4 5 6; do specs+=("tcp,198.19.0.11,80,$((b + 10 + i))"); done # B
specs+=("tcp,2001:db8:ffff::10,80,$((b + 41))")                               # E
specs+=("tcp,198.19.0.30,80,$((b + 61))")                                      # G zone 7
client "$cli" "${specs[@]}"
client "$ext" "tcp,198.18.9.1,30080,$((b + 21))" "tcp,198.18.9.1,30080,$((b + 22))" # C
client "$srv1" "udp,198.18.9.2,9000,$((b + 31))"                                     # D
client "$ext" "udp,198.19.0.31,53,$((b + 62))"                                       # G zone 9
client "$node" "tcp,198.19.0.12,80,$((b + 51))"                                      # H
ip netns exec "$cli" ping -c 3 -i 0.2 -W 2 198.19.0.20 >/dev/null || fail "ping through DNAT" # F

# The kernel's truth, read before the connections time out.
ip netns exec "$node" conntrack -L -o extended >"$WORK/conntrack.txt" 2>/dev/null || true
ip netns exec "$node" conntrack -L -f ipv6 -o extended >>"$WORK/conntrack.txt" 2>/dev/null || true

sleep 5 # idle timeout 3 s: the flows expire and are exported on their own
stop_xlatflowd
stop_nfcapd
sleep 0.3
kill -TERM "$XFC_PID"
wait "$XFC_PID" 2>/dev/null || true
nfdump_json "$WORK/nfdump.json"

[ -z "${XF_KEEP:-}" ] || cp -r "$WORK" "$XF_KEEP"
python3 "$abs_top_srcdir/tests/integration/natcheck.py" "$WORK/conntrack.txt" "$WORK/xfc.json" \
	"$WORK/nfdump.json" "$b" ${XF_SAMPLING:+--sampled}
