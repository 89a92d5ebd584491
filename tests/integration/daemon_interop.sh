#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The whole daemon against three real collectors at once. On the shared NAT
# topology (tests/lib/nat-topology.sh), the node DNATs a UDP service (cases
# zones and ipv6: IPv4 198.19.0.31:53 -> 198.18.2.2:9053 in conntrack zone 9;
# IPv6 [2001:db8:ffff::10]:53 -> [2001:db8:2::2]:5353); xlatflowd there
# (NAT source: conntrack events, capture on r1 and r2) exports, from one
# process:
#   - NetFlow v9 to nfcapd: nfdump must show the IPv4 and the IPv6 post-NAT
#     address and port and the zone as ingress_vrf;
#   - IPFIX to nfacctd with templates/pmacct-primitives.lst: post_nat_*
#     built-ins, IPv6 post-NAT, zone, translation type, observation point
#     and the pre-NAT destination, from the enterprise elements;
#   - IPFIX to a UDP listener whose pcap tshark decodes: no "no template
#     found", the flows and the options records by field name.
# Each client sends 5 datagrams of 6 bytes: the request flows must count
# exactly 5 packets and 170 (IPv4) / 270 (IPv6) bytes in every collector.
# The daemon's options records: the interface table names r1 and r2 by
# ifindex, and the packets of all flows nfdump shows add up to the packets
# the metering records say were selected (1:1) and not lost.
XF_TEST=di
source "$(dirname "$0")/lib.sh"
need_root
need_cmd nfcapd nfdump nfacctd tshark nft conntrack python3 ping
[ -x "$XLATFLOWD" ] || fail "$XLATFLOWD not built"
primitives=$abs_top_srcdir/templates/pmacct-primitives.lst
source "$abs_top_srcdir/tests/lib/nat-topology.sh"
topo_modules zones ipv6 2>/dev/null || true # built in where modprobe fails

topo_setup "$NS_PREFIX-" "$abs_top_srcdir" "$WORK" || fail "topology"
topo_nat zones ipv6 || fail "NAT rules"
topo_serve srv1 udp,0.0.0.0,9053 udp,::,5353 || fail "server"
node=$(topo_ns node)

# the collectors, on the node's loopback
p_nfcapd=$(free_port)
p_nfacctd=$(free_port)
p_pcap=$(free_port)
start_nfcapd "$node" "$p_nfcapd"
cat >"$WORK/nfacctd.conf" <<CONF
daemonize: false
nfacctd_ip: 127.0.0.1
nfacctd_port: $p_nfacctd
plugins: print
aggregate: src_host, dst_host, src_port, dst_port, proto, post_nat_src_host, post_nat_dst_host, post_nat_src_port, post_nat_dst_port, post_nat_src_ipv6, post_nat_dst_ipv6, xlat_zone, xlat_type, xlat_observed, xlat_pre_dst_host, xlat_pre_dst_ipv6, xlat_pre_dst_port
aggregate_primitives: $primitives
print_output: json
print_output_file: $WORK/nfacctd.json
print_output_file_append: true
print_refresh_time: 1
CONF
ip netns exec "$node" nfacctd -f "$WORK/nfacctd.conf" >"$WORK/nfacctd.log" 2>&1 &
NFACCTD_PID=$!
XF_PIDS+=("$NFACCTD_PID")
ip netns exec "$node" python3 -c '
import socket, struct, sys, time
port = int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", port))
s.settimeout(0.5)
pkts = []
deadline = time.time() + 25
while time.time() < deadline:
    try:
        pkts.append(s.recv(65535))
    except socket.timeout:
        if open(sys.argv[3]).read().strip() == "stop":
            break
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 101))
    for i, d in enumerate(pkts):
        udp = struct.pack("!HHHH", 50000, port, 8 + len(d), 0) + d
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0,
                         socket.inet_aton("127.0.0.1"), socket.inet_aton("127.0.0.1"))
        c = sum(struct.unpack("!10H", ip))
        c = (c >> 16) + (c & 0xffff)
        c += c >> 16
        ip = ip[:10] + struct.pack("!H", ~c & 0xffff) + ip[12:]
        f.write(struct.pack("<IIII", 1764140000 + i, 0, len(ip + udp), len(ip + udp)) + ip + udp)
' "$WORK/export.pcap" "$p_pcap" "$WORK/pcap.ctl" &
PCAP_PID=$!
echo run >"$WORK/pcap.ctl"
XF_PIDS+=("$PCAP_PID")
# nfacctd's print plugin is ready after the core says it is waiting
for _ in $(seq 100); do
	grep -q "waiting for NetFlow/IPFIX data" "$WORK/nfacctd.log" &&
		grep -q "JSON: setting object handlers" "$WORK/nfacctd.log" && break
	sleep 0.1
done
sleep 0.5

cat >"$WORK/xlatflowd.conf" <<CONF
interfaces = { include = [ "r1", "r2" ]; };
collectors = (
	{ url = "udp://127.0.0.1:$p_nfcapd"; protocol = "netflow9"; },
	{ url = "udp://127.0.0.1:$p_nfacctd"; },
	{ url = "udp://127.0.0.1:$p_pcap"; }
);
CONF
topo_flush_conntrack || fail "conntrack flush"
start_xlatflowd "$node" --config "$WORK/xlatflowd.conf" --idle-timeout 3 \
	--drain-interval 100 --nat-hook conntrack

topo_client cli udp,198.19.0.31,53,42001,5,0.05 \
	udp,2001:db8:ffff::10,53,42002,5,0.05 >"$WORK/clients.log" 2>&1 ||
	fail "clients: $(cat "$WORK/clients.log")"

sleep 5 # idle timeout 3 s: the flows expire and are exported on their own
stop_xlatflowd
stop_nfcapd
nfdump_json "$WORK/nfdump.json"
for _ in $(seq 30); do
	[ -s "$WORK/nfacctd.json" ] && [ "$(wc -l <"$WORK/nfacctd.json")" -ge 8 ] && break
	sleep 0.1
done
# nfacctd's core sometimes ignores SIGTERM (and lib.sh's cleanup would wait
# for it forever): stop it and its plugin processes here
plugins=$(pgrep -P "$NFACCTD_PID" || true)
kill -TERM "$NFACCTD_PID" 2>/dev/null || true
for _ in $(seq 30); do
	kill -0 "$NFACCTD_PID" 2>/dev/null || break
	sleep 0.1
done
# plugins first, so that the core (our child) reaps them
[ -n "$plugins" ] && kill -KILL $plugins 2>/dev/null
sleep 0.2
kill -KILL "$NFACCTD_PID" 2>/dev/null || true
wait "$NFACCTD_PID" 2>/dev/null || true
echo stop >"$WORK/pcap.ctl"
wait "$PCAP_PID" 2>/dev/null || true
tshark -r "$WORK/export.pcap" -d "udp.port==$p_pcap,cflow" -V >"$WORK/tshark.txt" 2>/dev/null
tshark -r "$WORK/export.pcap" -d "udp.port==$p_pcap,cflow" -T json >"$WORK/tshark.json" \
	2>/dev/null
r1_index=$(ip netns exec "$node" cat /sys/class/net/r1/ifindex)
r2_index=$(ip netns exec "$node" cat /sys/class/net/r2/ifindex)
tshark -r "$WORK/export.pcap" -d "udp.port==$p_pcap,cflow" -T fields -E separator=';' \
	-e cflow.srcaddr -e cflow.dstaddr -e cflow.srcport -e cflow.dstport \
	-e cflow.post_natdestination_ipv4_address -e cflow.post_naptdestination_transport_port \
	-e cflow.post_nat_destination_ipv6_address -e cflow.srcaddrv6 -e cflow.packets \
	-e cflow.sampling_interval >"$WORK/tshark.fields" 2>/dev/null

python3 - "$WORK/nfdump.json" "$WORK/nfacctd.json" "$WORK/tshark.txt" "$WORK/tshark.fields" \
	"$WORK/nfacctd.log" "$WORK/tshark.json" "$r1_index" "$r2_index" <<'PY'
import json, sys

nfdump = json.load(open(sys.argv[1]))
nfacctd = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
tshark_text = open(sys.argv[3]).read()
tshark_fields = open(sys.argv[4]).read()
nfacctd_log = open(sys.argv[5]).read()
failures = []

def check(what, got, want):
    if got != want:
        failures.append(f"{what}: got {got!r}, want {want!r}")

def one(rows, what, **match):
    found = [r for r in rows if all(r.get(k) == v for k, v in match.items())]
    check(f"{what}: matching records", len(found), 1)
    return found[0] if found else {}

# nfcapd, NetFlow v9
f = one(nfdump, "v9 IPv4 request before NAT", src4_addr="198.18.1.2", dst4_addr="198.19.0.31",
        src_port=42001, dst_port=53)
for k, v in dict(in_packets=5, in_bytes=170, proto=17, src4_xlt_ip="198.18.1.2",
                 dst4_xlt_ip="198.18.2.2", src_xlt_port="42001", dst_xlt_port="9053",
                 ingress_vrf="9").items():
    check(f"v9 IPv4 pre-NAT {k}", f.get(k), v)
f = one(nfdump, "v9 IPv4 request after NAT", src4_addr="198.18.1.2", dst4_addr="198.18.2.2",
        src_port=42001, dst_port=9053)
for k, v in dict(in_packets=5, in_bytes=170, dst4_xlt_ip="198.18.2.2", dst_xlt_port="9053",
                 ingress_vrf="9").items():
    check(f"v9 IPv4 post-NAT {k}", f.get(k), v)
f = one(nfdump, "v9 IPv6 request before NAT", src6_addr="2001:db8:1::2",
        dst6_addr="2001:db8:ffff::10", src_port=42002, dst_port=53)
for k, v in dict(in_packets=5, in_bytes=270, src6_xlt_ip="2001:db8:1::2",
                 dst6_xlt_ip="2001:db8:2::2", dst_xlt_port="5353", ingress_vrf="0").items():
    check(f"v9 IPv6 pre-NAT {k}", f.get(k), v)

# nfacctd, IPFIX with the shipped primitives
check("nfacctd: no malformed template", "malformed" in nfacctd_log, False)
r = one(nfacctd, "nfacctd IPv4 request before NAT", ip_src="198.18.1.2", ip_dst="198.19.0.31",
        port_src=42001)
for k, v in dict(packets=5, bytes=170, post_nat_ip_dst="198.18.2.2", post_nat_port_dst=9053,
                 post_nat_ip_src="198.18.1.2", post_nat_port_src=42001, xlat_zone="9",
                 xlat_type="2", xlat_observed="1", xlat_pre_dst_host="198.19.0.31",
                 xlat_pre_dst_port="53").items():
    check(f"nfacctd IPv4 pre-NAT {k}", r.get(k), v)
r = one(nfacctd, "nfacctd IPv4 request after NAT", ip_src="198.18.1.2", ip_dst="198.18.2.2",
        port_src=42001)
for k, v in dict(packets=5, bytes=170, post_nat_ip_dst="198.18.2.2", xlat_zone="9",
                 xlat_type="2", xlat_observed="2", xlat_pre_dst_host="198.19.0.31",
                 xlat_pre_dst_port="53").items():
    check(f"nfacctd IPv4 post-NAT {k}", r.get(k), v)
r = one(nfacctd, "nfacctd IPv6 request before NAT", ip_src="2001:db8:1::2",
        ip_dst="2001:db8:ffff::10", port_src=42002)
for k, v in dict(packets=5, bytes=270, post_nat_dst_ipv6="2001:db8:2::2", post_nat_port_dst=5353,
                 xlat_type="2", xlat_observed="1", xlat_pre_dst_ipv6="2001:db8:ffff::10").items():
    check(f"nfacctd IPv6 pre-NAT {k}", r.get(k), v)

# tshark, IPFIX
check("tshark: no template missing", "no template found" in tshark_text, False)
check("tshark: nothing malformed", "[Malformed Packet" in tshark_text, False)
rows = [l.split(";") for l in tshark_fields.splitlines()]
check("tshark: IPv4 pre-NAT flow", any("198.19.0.31" in l[1] and "198.18.2.2" in l[4] and
                                       "9053" in l[5] for l in rows), True)
check("tshark: IPv6 post-NAT", any("2001:db8:2::2" in l[6] for l in rows), True)
check("tshark: sampling options record", any(l[9].strip() == "1" for l in rows), True)

# The daemon's own options records (IPFIX, via tshark): the interface table
# and the metering counters of its final round at shutdown.
objects = []
def walk(o):
    if isinstance(o, list) and o and all(isinstance(p, tuple) for p in o):
        keys = [k for k, _ in o]
        if any(k.startswith("cflow.") for k in keys):
            objects.append(dict((k, v) for k, v in o if not isinstance(v, list)))
        for _, v in o:
            if isinstance(v, list):
                walk(v)
    elif isinstance(o, list):
        for v in o:
            walk(v)
walk(json.load(open(sys.argv[6]), object_pairs_hook=lambda p: p))
ifaces = {o["cflow.inputint"]: (o["cflow.if_name"], o["cflow.if_descr"])
          for o in objects if "cflow.if_name" in o}
descr = "monitored by xlatflowd (tc clsact ingress+egress)"
check("interface table", ifaces, {sys.argv[7]: ("r1", descr), sys.argv[8]: ("r2", descr)})
selector = [o for o in objects if "cflow.selector_id_total_pkts_observed" in o]
metering = [o for o in objects if "cflow.ignore_packets" in o]
check("selector and metering records", bool(selector and metering), True)
if selector and metering:
    observed = int(selector[-1]["cflow.selector_id_total_pkts_observed"])
    selected = int(selector[-1]["cflow.selector_id_total_pkts_selected"])
    lost = int(metering[-1]["cflow.drop_total_packets"])
    check("1:1: every observed packet selected", selected, observed)
    check("no packet lost", lost, 0)
    # every IP packet the TC programs selected is in exactly one exported
    # flow unless lost (bpf/flow.bpf.c); non-IP and malformed packets are
    # counted apart, in ignoredPacketTotalCount
    in_flows = sum(f.get("in_packets", 0) for f in nfdump)
    check("packets in flows = selected - lost", in_flows, selected - lost)
    check("observed at least the 40 datagrams", observed >= 40, True)

for f in failures:
    print("FAIL:", f)
print(f"daemon interop: nfdump {len(nfdump)}, nfacctd {len(nfacctd)} records; "
      f"{len(failures)} mismatches")
sys.exit(1 if failures else 0)
PY
