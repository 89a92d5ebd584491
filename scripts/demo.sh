#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The main job, end to end on one machine: a Kubernetes-style ClusterIP
# Service (198.19.0.10:80) load-balanced over two backend "pods" on :8080 by
# nftables DNAT the way kube-proxy programs it, with masquerade, in network
# namespaces; xlatflowd on the "node" exporting IPFIX to a real nfcapd on the
# node's loopback; nfdump printing the flows with their translated endpoints.
# Usage: demo.sh BUILDDIR   (run as root)
set -euo pipefail

builddir=${1:?usage: demo.sh BUILDDIR}
XF_TEST=demo
abs_top_builddir=$builddir
source "$(dirname "$0")/../tests/integration/lib.sh"
need_root

node=$(ns_add node)
client=$(ns_add client)
pod1=$(ns_add pod1)
pod2=$(ns_add pod2)

# client pod 198.18.1.2 -- node -- backend pods 198.18.2.2 and 198.18.2.3
veth_pair "$client" eth0 "$node" vclient
veth_pair "$pod1" eth0 "$node" vpod1
veth_pair "$pod2" eth0 "$node" vpod2
ip -n "$client" addr add 198.18.1.2/24 dev eth0
ip -n "$client" route add default via 198.18.1.1
ip -n "$node" addr add 198.18.1.1/24 dev vclient
ip -n "$node" addr add 198.18.2.1/32 dev vpod1
ip -n "$node" addr add 198.18.2.1/32 dev vpod2
ip -n "$node" route add 198.18.2.2/32 dev vpod1
ip -n "$node" route add 198.18.2.3/32 dev vpod2
for p in "$pod1:198.18.2.2" "$pod2:198.18.2.3"; do
	ns=${p%%:*}
	ip -n "$ns" addr add "${p#*:}/24" dev eth0
	ip -n "$ns" route add default via 198.18.2.1 dev eth0 onlink 2>/dev/null ||
		ip -n "$ns" route replace default via 198.18.2.1 dev eth0 onlink
done
ip netns exec "$node" sysctl -qw net.ipv4.ip_forward=1
for ns in "$node" "$pod1" "$pod2" "$client"; do
	ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
done

# The Service, as kube-proxy's nftables mode programs it: ClusterIP DNAT with
# random endpoint choice, and masquerade of traffic that leaves towards pods.
ip netns exec "$node" nft -f - <<'NFT'
table ip kube-proxy {
	chain services {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr 198.19.0.10 tcp dport 80 numgen random mod 2 vmap { 0 : jump ep1, 1 : jump ep2 }
	}
	chain ep1 {
		meta l4proto tcp dnat to 198.18.2.2:8080
	}
	chain ep2 {
		meta l4proto tcp dnat to 198.18.2.3:8080
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip daddr 198.18.2.0/24 ct status dnat masquerade
	}
}
NFT

# Backend pods answer HTTP on 8080.
for ns in "$pod1" "$pod2"; do
	ip netns exec "$ns" python3 -m http.server 8080 --bind 0.0.0.0 >"$WORK/http-$ns.log" 2>&1 &
	XF_PIDS+=($!)
done
sleep 1

port=$(free_port)
start_nfcapd "$node" "$port"
start_xlatflowd "$node" --interface 'v*' --collector "udp://127.0.0.1:$port" \
	--idle-timeout 2 --active-timeout 60 --drain-interval 200
echo "== xlatflowd started:"
sed 's/^/   /' "$WORK/xlatflowd.log"

echo "== client 198.18.1.2 requests http://198.19.0.10/ (the ClusterIP) 6 times"
for i in $(seq 1 6); do
	ip netns exec "$client" python3 -c '
import urllib.request
print("   ", urllib.request.urlopen("http://198.19.0.10/", timeout=5).status, end=" ")'
done
echo
sleep 4
stop_xlatflowd
stop_nfcapd

echo "== flows nfdump decoded (xsa/xda: post-NAT addresses, xsp/xdp: post-NAPT ports):"
nfdump -R "$WORK/nfcapd" -q -N -o 'fmt:%ts %pr %sa:%sp -> %da:%dp %pkt %byt %flg | post-NAT %xsa:%xsp -> %xda:%xdp' \
	'proto tcp' | sort -k2
echo
echo "Every flow of a Service connection carries its translation: the client's flows to"
echo "198.19.0.10:80 show which backend pod (198.18.2.x:8080) served them, and the pods'"
echo "flows show the masquerade address (198.18.2.1) the node used."
