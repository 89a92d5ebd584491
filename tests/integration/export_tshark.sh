#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Wireshark's dissector reads what the exporter sends, IPFIX and NetFlow v9:
# a UDP listener on 127.0.0.1 keeps every datagram of xf-send-records and
# writes them as a pcap (raw IPv4/UDP), tshark decodes it with
# `-d udp.port==N,cflow`. Checked: no "no template found" and nothing
# malformed, the flow values by field name (cflow.octets, cflow.packets,
# cflow.post_natsource_ipv4_address, cflow.post_nat_source_ipv6_address,
# ...), the options records (sampling, PSAMP selector, metering, interface
# table, systemInitTime), the RFC 5610 element names (IPFIX) and the zone
# in ingressVRFID (v9). Exits 77 when tshark or python3 is missing.
set -eu

for tool in tshark python3; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "SKIP: $tool not installed (Debian package tshark / python3)"
		exit 77
	fi
done

send=./tests/tools/xf-send-records
regfile=${abs_top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/templates/xlatflow-ies.txt
tmp=$(mktemp -d /tmp/xf-export-tshark.XXXXXX)
lpid=
cleanup() {
	[ -n "$lpid" ] && kill "$lpid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# listen on a free port, print it, then write what arrived as a pcap
listener() {
	python3 -c '
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
print(port, flush=True)
s.settimeout(1.5)
pkts = []
while True:
    try:
        pkts.append(s.recv(65535))
    except socket.timeout:
        break
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 101))  # LINKTYPE_RAW
    for i, d in enumerate(pkts):
        udp = struct.pack("!HHHH", 50000, port, 8 + len(d), 0) + d
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0,
                         socket.inet_aton("127.0.0.1"), socket.inet_aton("127.0.0.1"))
        c = sum(struct.unpack("!10H", ip))
        c = (c >> 16) + (c & 0xffff)
        c += c >> 16
        ip = ip[:10] + struct.pack("!H", ~c & 0xffff) + ip[12:]
        f.write(struct.pack("<IIII", 1764140000 + i, 0, len(ip + udp), len(ip + udp)) + ip + udp)
' "$1"
}

for mode in ipfix netflow9; do
	listener "$tmp/$mode.pcap" >"$tmp/$mode.port" &
	lpid=$!
	for _ in $(seq 50); do
		[ -s "$tmp/$mode.port" ] && break
		sleep 0.1
	done
	port=$(cat "$tmp/$mode.port")
	extra=
	[ "$mode" = netflow9 ] && extra=--netflow9
	printf 'metering\niface 3 eth0 uplink port\nsend a\nsend b\nflush\nquit\n' |
		"$send" --collector "udp://127.0.0.1:$port" --odid 77 --sampling 10 $extra
	wait "$lpid"
	lpid=
	tshark -r "$tmp/$mode.pcap" -d "udp.port==$port,cflow" -V >"$tmp/$mode.txt" 2>/dev/null
	tshark -r "$tmp/$mode.pcap" -d "udp.port==$port,cflow" -T json >"$tmp/$mode.json" 2>/dev/null

	python3 - "$mode" "$tmp/$mode.txt" "$tmp/$mode.json" "$regfile" <<'PY'
import json, sys

mode, text_file, json_file, regfile = sys.argv[1:]
text = open(text_file).read()
failures = []

def check(what, got, want):
    if got != want:
        failures.append(f"{mode}: {what}: got {got!r}, want {want!r}")

# every (field, value) in order; tshark repeats keys inside one object
pairs = []
def walk(o):
    if isinstance(o, list) and o and all(isinstance(p, tuple) for p in o):
        for k, v in o:
            if isinstance(v, list):
                walk(v)
            else:
                pairs.append((k, v))
    elif isinstance(o, list):
        for v in o:
            walk(v)
walk(json.load(open(json_file), object_pairs_hook=lambda p: p))

def values(name):
    return [v for k, v in pairs if k == name]

check("'no template found'", "no template found" in text, False)
check("malformed packets", "[Malformed Packet" in text, False)
check("version", set(values("cflow.version")), {"9" if mode == "netflow9" else "10"})
check("octets", values("cflow.octets"), ["1500", "152", "400", "336", "777", "333"])
check("packets", values("cflow.packets"), ["10", "2", "5", "4", "7", "3"])
check("post_natsource_ipv4_address", values("cflow.post_natsource_ipv4_address"), ["198.18.100.1"])
check("post_natdestination_ipv4_address", values("cflow.post_natdestination_ipv4_address"),
      ["198.18.200.53"])
check("post_nat_source_ipv6_address", values("cflow.post_nat_source_ipv6_address"),
      ["2001:db8:100::1", "2001:db8:1::5"])
check("post_nat_destination_ipv6_address", values("cflow.post_nat_destination_ipv6_address"),
      ["2001:db8:200::2", "2001:db8:2::6"])
check("post_naptsource_transport_port", values("cflow.post_naptsource_transport_port"),
      ["61000", "62000", "4500"])
check("post_naptdestination_transport_port", values("cflow.post_naptdestination_transport_port"),
      ["5353", "8080", "4500"])
# options records: the last round carries the metering counters
check("sampling_interval", values("cflow.sampling_interval")[-1:], ["10"])
check("sampling_algorithm", values("cflow.sampling_algorithm")[-1:], ["2"])
check("selector_algorithm", values("cflow.selector_algorithm")[-1:], ["4"])
check("sampling_packet_interval", values("cflow.sampling_packet_interval")[-1:], ["1"])
check("sampling_packet_space", values("cflow.sampling_packet_space")[-1:], ["9"])
check("sampling_probability", values("cflow.sampling_probability")[-1:], ["0.1"])
check("selector_id_total_pkts_observed", values("cflow.selector_id_total_pkts_observed")[-1:],
      ["100000"])
check("selector_id_total_pkts_selected", values("cflow.selector_id_total_pkts_selected")[-1:],
      ["10000"])
check("ignore_packets", values("cflow.ignore_packets")[-1:], ["18"])
check("drop_total_packets", values("cflow.drop_total_packets")[-1:], ["5"])
check("drop_total_octets", values("cflow.drop_total_octets")[-1:], ["4200"])
check("notsent_flows", values("cflow.notsent_flows")[-1:], ["0"])
check("notsent_packets", values("cflow.notsent_packets")[-1:], ["0"])
check("notsent_octets", values("cflow.notsent_octets")[-1:], ["0"])
check("if_name", values("cflow.if_name"), ["eth0"])
check("if_descr", values("cflow.if_descr"), ["uplink port"])
check("sys_init_time present", len(values("cflow.sys_init_time")) >= 2, True)
if mode == "netflow9":
    check("source_id", set(values("cflow.source_id")), {"77"})
    check("ingress_vrfid (zone)", values("cflow.ingress_vrfid"), ["5", "7", "9"])
    check("scope_system", set(values("cflow.scope_system")), {"00:00:00:4d"})
else:
    names = [l.split("|")[1].strip() for l in open(regfile) if l[0].isdigit()]
    check("RFC 5610 element names", sorted(values("cflow.information_element_name")),
          sorted(names))
    check("odid", set(values("cflow.od_id")), {"77"})
for f in failures:
    print("FAIL:", f)
print(f"tshark {mode}: {len(pairs)} fields read, {len(failures)} mismatches")
sys.exit(1 if failures else 0)
PY
done
