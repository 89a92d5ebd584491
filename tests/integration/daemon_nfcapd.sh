#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# xlatflowd end to end: exact numbers of packets of known sizes (UDP, TCP,
# ICMP, IPv6) between two namespaces; xlatflowd on one end exports IPFIX to a
# real nfcapd on loopback; nfdump's JSON must show the exact packets, octets,
# ports, protocol and TCP flags. TCP counts are checked against nftables
# counters on the same host, an independent count of the same packets.
# A second collector, the project's own decoder (xf-collect) over TCP,
# receives the same export and shows what nfdump does not: flowEndReason,
# flowDirection, the interface index.
XF_TEST=dn
source "$(dirname "$0")/lib.sh"
need_root
need_cmd nfcapd nfdump nft python3 ping
[ -x "$XLATFLOWD" ] || fail "$XLATFLOWD not built"

a=$(ns_add a)
b=$(ns_add b)
veth_pair "$a" va "$b" vb
ip -n "$a" addr add 198.18.0.1/24 dev va
ip -n "$b" addr add 198.18.0.2/24 dev vb
ip -n "$a" addr add 2001:db8:1::1/64 dev va nodad
ip -n "$b" addr add 2001:db8:1::2/64 dev vb nodad
# Resolve neighbours first so that ARP/ND do not delay the counted packets.
ip netns exec "$a" ping -c1 -W2 198.18.0.2 >/dev/null
ip netns exec "$a" ping -c1 -W2 2001:db8:1::2 >/dev/null

ip netns exec "$b" nft -f - <<'NFT'
table inet xftest {
	counter tcp_in { }
	counter tcp_out { }
	chain pre { type filter hook prerouting priority -300; tcp dport 8080 counter name tcp_in; }
	chain out { type filter hook output priority -300; tcp sport 8080 counter name tcp_out; }
}
NFT

# Receivers in b: UDP sinks and a TCP server that reads until EOF, then closes.
ip netns exec "$b" python3 - >"$WORK/servers.log" 2>&1 <<'PY' &
import socket, threading
def udp(fam, addr, port):
    s = socket.socket(fam, socket.SOCK_DGRAM); s.bind((addr, port))
    while True: s.recv(2048)
for args in ((socket.AF_INET, "198.18.0.2", 5001), (socket.AF_INET6, "2001:db8:1::2", 5002)):
    threading.Thread(target=udp, args=args, daemon=True).start()
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("198.18.0.2", 8080)); srv.listen(4)
while True:
    c, _ = srv.accept()
    while c.recv(65536): pass
    c.close()
PY
XF_PIDS+=($!)
sleep 0.5

port=$(free_port)
port2=$(free_port)
start_nfcapd "$b" "$port"
ip netns exec "$b" "$abs_top_builddir/tests/tools/xf-collect" --tcp "$port2" --bind 127.0.0.1 \
	--out "$WORK/xfc.json" 2>"$WORK/xf-collect.log" &
XFC_PID=$!
XF_PIDS+=("$XFC_PID")
start_xlatflowd "$b" --interface vb --collector "udp://127.0.0.1:$port" \
	--collector "tcp://127.0.0.1:$port2" \
	--idle-timeout 3 --active-timeout 60 --drain-interval 100 --nat-hook off
vb_index=$(ip netns exec "$b" cat /sys/class/net/vb/ifindex)

ip netns exec "$a" python3 - <<'PY'
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("198.18.0.1", 40001))
for _ in range(10): s.sendto(b"u" * 100, ("198.18.0.2", 5001))
s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s6.bind(("2001:db8:1::1", 40002))
for _ in range(7): s6.sendto(b"6" * 200, ("2001:db8:1::2", 5002))
t = socket.socket(); t.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
t.bind(("198.18.0.1", 40003)); t.connect(("198.18.0.2", 8080))
for _ in range(3):
    t.send(b"t" * 1000); time.sleep(0.05)
t.close()
time.sleep(0.3)
PY
ip netns exec "$a" ping -q -c 4 -i 0.2 -s 56 198.18.0.2 >/dev/null

# Idle timeout 3 s: let the flows expire on their own before stopping.
sleep 5
stop_xlatflowd
stop_nfcapd
sleep 0.3
kill -TERM "$XFC_PID"
wait "$XFC_PID" 2>/dev/null || true
nfdump_json "$WORK/flows.json"

# The reference counts for TCP, from nftables.
read -r tin_p tin_b < <(ip netns exec "$b" nft -j list counter inet xftest tcp_in |
	python3 -c 'import json,sys; c=[o["counter"] for o in json.load(sys.stdin)["nftables"] if "counter" in o][0]; print(c["packets"], c["bytes"])')
read -r tout_p tout_b < <(ip netns exec "$b" nft -j list counter inet xftest tcp_out |
	python3 -c 'import json,sys; c=[o["counter"] for o in json.load(sys.stdin)["nftables"] if "counter" in o][0]; print(c["packets"], c["bytes"])')
[ "$tin_p" -ge 6 ] || fail "nftables counted only $tin_p TCP packets in"

cat >"$WORK/expect.json" <<EOF2
[
 {"name": "udp4 in", "match": {"src4_addr": "198.18.0.1", "dst4_addr": "198.18.0.2", "proto": 17, "src_port": 40001},
  "expect": {"dst_port": 5001, "in_packets": 10, "in_bytes": 1280}},
 {"name": "udp6 in", "match": {"src6_addr": "2001:db8:1::1", "dst6_addr": "2001:db8:1::2", "proto": 17, "src_port": 40002},
  "expect": {"dst_port": 5002, "in_packets": 7, "in_bytes": 1736}},
 {"name": "icmp echo in", "match": {"src4_addr": "198.18.0.1", "dst4_addr": "198.18.0.2", "proto": 1, "icmp_type": 8},
  "expect": {"icmp_code": 0, "in_packets": 4, "in_bytes": 336}},
 {"name": "icmp echo reply out", "match": {"src4_addr": "198.18.0.2", "dst4_addr": "198.18.0.1", "proto": 1, "icmp_type": 0},
  "expect": {"icmp_code": 0, "in_packets": 4, "in_bytes": 336}},
 {"name": "tcp in", "match": {"src4_addr": "198.18.0.1", "dst4_addr": "198.18.0.2", "proto": 6, "src_port": 40003},
  "expect": {"dst_port": 8080, "in_packets": $tin_p, "in_bytes": $tin_b, "tcp_flags": "...AP.SF"}},
 {"name": "tcp out", "match": {"src4_addr": "198.18.0.2", "dst4_addr": "198.18.0.1", "proto": 6, "dst_port": 40003},
  "expect": {"src_port": 8080, "in_packets": $tout_p, "in_bytes": $tout_b, "tcp_flags": "...A..SF"}}
]
EOF2
python3 "$abs_top_srcdir/tests/integration/flowcheck.py" "$WORK/flows.json" "$WORK/expect.json"

# What nfdump cannot show: end reasons (1 idle for UDP/ICMP, 3 end of flow for
# TCP after FIN), direction (0 ingress, 1 egress) and the observing interface.
cat >"$WORK/expect-xfc.json" <<EOF2
[
 {"name": "udp4 in (idle)", "match": {"sourceIPv4Address": "198.18.0.1", "sourceTransportPort": 40001},
  "expect": {"flowEndReason": 1, "flowDirection": 0, "ingressInterface": $vb_index, "egressInterface": 0,
             "packetDeltaCount": 10, "octetDeltaCount": 1280}},
 {"name": "udp6 in (idle)", "match": {"sourceIPv6Address": "2001:db8:1::1", "sourceTransportPort": 40002},
  "expect": {"flowEndReason": 1, "flowDirection": 0, "packetDeltaCount": 7, "octetDeltaCount": 1736}},
 {"name": "icmp reply out (idle)", "match": {"sourceIPv4Address": "198.18.0.2", "protocolIdentifier": 1},
  "expect": {"flowEndReason": 1, "flowDirection": 1, "ingressInterface": 0, "egressInterface": $vb_index,
             "icmpTypeCodeIPv4": 0, "packetDeltaCount": 4}},
 {"name": "tcp in (end of flow)", "match": {"sourceIPv4Address": "198.18.0.1", "sourceTransportPort": 40003},
  "expect": {"flowEndReason": 3, "flowDirection": 0, "packetDeltaCount": $tin_p, "octetDeltaCount": $tin_b}},
 {"name": "tcp out (end of flow)", "match": {"sourceIPv4Address": "198.18.0.2", "destinationTransportPort": 40003},
  "expect": {"flowEndReason": 3, "flowDirection": 1, "packetDeltaCount": $tout_p, "octetDeltaCount": $tout_b}}
]
EOF2
python3 "$abs_top_srcdir/tests/integration/flowcheck.py" "$WORK/xfc.json" "$WORK/expect-xfc.json"

# The options records the daemon sends at shutdown carry its final counters:
# every IP packet the kernel counted is in exactly one exported record, none
# was lost or sampled out, and the interface table names vb.
python3 - "$WORK/xfc.json" "$vb_index" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
data = [r for r in recs if r.get("set") == "data" and "packetDeltaCount" in r]
opts = [r for r in recs if r.get("set") == "options"]
psamp = [r for r in opts if "selectorIdTotalPktsObserved" in r]
meter = [r for r in opts if "droppedPacketTotalCount" in r]
ifaces = [r for r in opts if "interfaceName" in r]
fails = []
total = sum(r["packetDeltaCount"] for r in data)
if not psamp or psamp[-1]["selectorIdTotalPktsObserved"] != total:
    fails.append("packets observed %s != packets exported %d" %
                 (psamp[-1].get("selectorIdTotalPktsObserved") if psamp else None, total))
if not psamp or psamp[-1]["selectorIdTotalPktsSelected"] != total:
    fails.append("packets selected != packets exported")
if not meter or meter[-1]["droppedPacketTotalCount"] != 0 or meter[-1].get("xlatSampledOutPacketTotalCount") != 0:
    fails.append("metering: %s" % (meter[-1] if meter else None))
if not any(r["interfaceName"] == "vb" and r["ingressInterface"] == int(sys.argv[2]) for r in ifaces):
    fails.append("interface table: %s" % ifaces)
for f in fails:
    print("FAIL", f)
if fails:
    sys.exit(1)
print("ok options: %d packets observed = %d exported in %d records, none lost; interface table names vb"
      % (total, total, len(data)))
PY
