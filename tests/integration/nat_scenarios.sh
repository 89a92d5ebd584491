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
# Cases (client source ports are fixed so each connection is known), on the
# shared topology (tests/lib/nat-topology.sh: cli, node, srv1, srv2, ext):
#   A ClusterIP, kube-proxy iptables mode: iptables-nft KUBE-SVC chains with
#     statistic-mode random choice between two endpoints, 198.19.0.11:80
#   B ClusterIP, kube-proxy nftables mode: numgen vmap over two endpoints,
#     198.19.0.10:80
#   C NodePort 198.18.9.1:30080 from outside (ext): DNAT + masquerade SNAT
#   D pod egress masquerade from srv1 to the external host (UDP)
#   E IPv6 DNAT [2001:db8:ffff::10]:80
#   F ICMP echo through DNAT 198.19.0.20
#   G two conntrack zones (7 and 9) set in raw prerouting; zone 9 from ext,
#     so DNAT + masquerade
#   H a client on the node itself: OUTPUT-chain DNAT 198.19.0.12:80
XF_TEST=nat
source "$(dirname "$0")/lib.sh"
source "$abs_top_srcdir/tests/lib/nat-topology.sh"
need_root
need_cmd nfcapd nfdump nft iptables conntrack python3 ping
[ -x "$XLATFLOWD" ] || fail "$XLATFLOWD not built"
NAT_MODE=${NAT_MODE:-conntrack}
collect=$abs_top_builddir/tests/tools/xf-collect
[ -x "$collect" ] || fail "$collect not built (make check builds it)"
cases="clusterip_ipt clusterip_nft nodeport egress ipv6 icmp zones output"
# where they are built in (no module directory), modprobe fails and need not
topo_modules $cases 2>/dev/null || true

topo_setup "$NS_PREFIX-" "$abs_top_srcdir" "$WORK" || fail "topology"
topo_nat $cases || fail "NAT rules"
topo_serve srv1 tcp,::,8080 tcp,0.0.0.0,8081 udp,0.0.0.0,9053 @srv2 tcp,0.0.0.0,8080 \
	@ext udp,0.0.0.0,9000 || fail "servers"
topo_flush_conntrack || fail "conntrack flush"
node=$(topo_ns node)

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

b=41000
specs=()
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
