#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The main job, end to end on one machine: a Kubernetes-style ClusterIP
# Service (198.19.0.10:80) load-balanced over two backend "pods" on :8080 by
# nftables DNAT the way kube-proxy programs it, with masquerade, in network
# namespaces (the test topology, tests/lib/nat-topology.sh: cases
# clusterip_nft and masquerade_all); xlatflowd on the "node" exporting IPFIX
# to a real nfcapd on the node's loopback, flows and the NAT event log
# (nat_events = true, docs/nat-events.md); nfdump printing the flows with
# their translated endpoints and its NEL view (-o nel) of the connections'
# session create and delete events.
# Usage: demo.sh BUILDDIR   (run as root)
set -euo pipefail

builddir=${1:?usage: demo.sh BUILDDIR}
XF_TEST=demo
abs_top_builddir=$builddir
source "$(dirname "$0")/../tests/integration/lib.sh"
source "$abs_top_srcdir/tests/lib/nat-topology.sh"
need_root

# client pod cli 198.18.1.2 -- node -- backend pods srv1 198.18.2.2, srv2 198.18.3.2
# (and ext, unused here); modprobe fails harmlessly where the modules are built in
topo_modules clusterip_nft masquerade_all 2>/dev/null || true
topo_setup "$NS_PREFIX-" "$abs_top_srcdir" "$WORK" || fail "topology"
# The Service, as kube-proxy's nftables mode programs it: ClusterIP DNAT with
# random endpoint choice, and masquerade of traffic that leaves towards pods.
topo_nat clusterip_nft masquerade_all || fail "NAT rules"
node=$(topo_ns node)

# Backend pods answer HTTP on 8080.
for pod in srv1 srv2; do
	ip netns exec "$(topo_ns $pod)" python3 -m http.server 8080 --bind 0.0.0.0 \
		>"$WORK/http-$pod.log" 2>&1 &
	XF_PIDS+=($!)
done
sleep 1

port=$(free_port)
start_nfcapd "$node" "$port"
# flows and NAT events to the same collector (a collector block: nat_events)
cat >"$WORK/xlatflowd.conf" <<CONF
interfaces = { include = [ "r*" ]; };
collectors = ( { url = "udp://127.0.0.1:$port"; nat_events = true; } );
idle_timeout = 2;
active_timeout = 60;
drain_interval_ms = 200;
CONF
chmod 600 "$WORK/xlatflowd.conf"
start_xlatflowd "$node" --config "$WORK/xlatflowd.conf"
echo "== xlatflowd started:"
sed 's/^/   /' "$WORK/xlatflowd.log"

echo "== client 198.18.1.2 requests http://198.19.0.10/ (the ClusterIP) 6 times"
for i in $(seq 1 6); do
	topo_exec cli python3 -c '
import urllib.request
print("   ", urllib.request.urlopen("http://198.19.0.10/", timeout=5).status, end=" ")'
done
echo
sleep 1
# Their connections sit in TIME_WAIT for two minutes: end them now, as
# conntrack would then (a session delete event each).
topo_flush_conntrack || fail "conntrack flush"
sleep 3
stop_xlatflowd
stop_nfcapd

echo "== flows nfdump decoded (xsa/xda: post-NAT addresses, xsp/xdp: post-NAPT ports):"
nfdump -R "$WORK/nfcapd" -q -N -o 'fmt:%ts %pr %sa:%sp -> %da:%dp %pkt %byt %flg | post-NAT %xsa:%xsp -> %xda:%xdp' \
	'proto tcp' | sort -k2
echo
echo "Every flow of a Service connection carries its translation: the client's flows to"
echo "198.19.0.10:80 show which backend pod (198.18.2.2:8080 or 198.18.3.2:8080) served them,"
echo "and the pods' flows show the masquerade address (198.18.2.1 or 198.18.3.1) the node used."
echo
echo "== the NAT event log, nfdump's NEL view (natEvent 4 = session create, 5 = delete;"
echo "   nfdump 1.7.1 prints UNKNOW for these IANA values, its JSON names them):"
nfdump -R "$WORK/nfcapd" -o nel 'nat event 4 or nat event 5' | sed '/^Summary\|^Time window\|^Total\|^Sys:/d'
echo "Each connection: a create when conntrack confirmed it, a delete when it ended; X-Src is"
echo "the masquerade address and port, X-Dst the backend pod the Service chose."
