#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# End to end over UDP: tests/tools/xf-send-records exports record sets a and b
# (see that file) through export.h to a real nfcapd on loopback; nfdump reads
# the file back as JSON and python3 checks every value nfdump shows: packets,
# octets, addresses, ports, protocol, TCP flags, ICMP type/code, start/end
# milliseconds, interfaces, direction, VLAN, TOS, MACs, and the post-NAT
# fields from IEs 225-228 and ingressVRFID (234).
# Exits 77 when nfcapd, nfdump or python3 is missing.
set -eu

for tool in nfcapd nfdump python3; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "SKIP: $tool not installed (Debian package nfdump / python3)"
		exit 77
	fi
done

send=./tests/tools/xf-send-records
tmp=$(mktemp -d /tmp/xf-export-nfcapd.XXXXXX)
nfpid=
cleanup() {
	[ -n "$nfpid" ] && kill "$nfpid" 2>/dev/null && wait "$nfpid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

free_udp_port() {
	python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port=$(free_udp_port)
mkdir "$tmp/flows"
nfcapd -b 127.0.0.1 -p "$port" -w "$tmp/flows" -t 3600 >"$tmp/nfcapd.log" 2>&1 &
nfpid=$!
for _ in $(seq 50); do
	grep -q "Startup nfcapd" "$tmp/nfcapd.log" && break
	sleep 0.1
done
grep -q "Startup nfcapd" "$tmp/nfcapd.log" || { cat "$tmp/nfcapd.log"; echo "FAIL: nfcapd did not start"; exit 1; }

printf 'send a\nsend b\nflush\nstats\nquit\n' |
	"$send" --collector "udp://127.0.0.1:$port" --odid 77 --zone-as-vrf >"$tmp/stats.json"

# nfcapd writes its file when it stops
sleep 0.5
kill -TERM "$nfpid"
wait "$nfpid" || true
nfpid=
cat "$tmp/nfcapd.log"
file=$(ls "$tmp"/flows/nfcapd.2* | head -n 1)
TZ=UTC nfdump -r "$file" -o json >"$tmp/flows.json"

python3 - "$tmp/flows.json" "$tmp/stats.json" "$tmp/nfcapd.log" <<'PY'
import json, sys, datetime

flows = json.load(open(sys.argv[1]))
stats = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])
log = open(sys.argv[3]).read()
failures = []

def check(what, got, want):
    if got != want:
        failures.append(f"{what}: got {got!r}, want {want!r}")

def ms(text):
    t = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc)
    return int(t.timestamp() * 1000 + 0.5)

check("exporter records", stats["records"], 6)
check("exporter records_dropped", stats["records_dropped"], 0)
check("nfcapd summary", "Flows: 6, Packets: 31, Bytes: 3498, Sequence Errors: 0" in log, True)
check("flow count", len(flows), 6)

base = {"in_src_mac": "02:00:00:00:00:01", "in_dst_mac": "02:00:00:00:00:02"}
want = [
    dict(base, src4_addr="198.18.0.1", dst4_addr="198.19.0.10", src_port=40001, dst_port=443,
         proto=6, tcp_flags="...AP.SF", in_packets=10, in_bytes=1500,
         first=1764140000000, last=1764140001500, input_snmp=3, output_snmp=0, direction=0,
         src_tos=0, src_vlan=0),
    dict(base, src4_addr="198.18.0.2", dst4_addr="198.19.0.53", src_port=5353, dst_port=53,
         proto=17, tcp_flags="........", in_packets=2, in_bytes=152,
         first=1764140002000, last=1764140002250, input_snmp=0, output_snmp=4, direction=1,
         src_tos=40, src_vlan=0,
         src4_xlt_ip="198.18.100.1", dst4_xlt_ip="198.18.200.53",
         src_xlt_port="61000", dst_xlt_port="5353", ingress_vrf="5"),
    dict(base, src6_addr="2001:db8::1", dst6_addr="2001:db8::2", src_port=40002, dst_port=80,
         proto=6, tcp_flags="...A..S.", in_packets=5, in_bytes=400,
         first=1764140003000, last=1764140004000, input_snmp=5, output_snmp=0, direction=0,
         src_vlan=42, src_xlt_port="62000", dst_xlt_port="8080", ingress_vrf="7"),
    dict(base, src4_addr="198.18.0.3", dst4_addr="198.19.0.10", proto=1, icmp_type=8,
         icmp_code=0, in_packets=4, in_bytes=336, first=1764140005000, last=1764140008000,
         input_snmp=3, output_snmp=0, direction=0),
    dict(base, src4_addr="198.18.1.1", dst4_addr="198.19.1.1", src_port=50000, dst_port=22,
         proto=6, tcp_flags="...AP...", in_packets=7, in_bytes=777,
         first=1764140010000, last=1764140011000, input_snmp=3, output_snmp=0),
    dict(base, src6_addr="2001:db8:1::5", dst6_addr="2001:db8:2::6", src_port=4500,
         dst_port=4500, proto=17, in_packets=3, in_bytes=333,
         first=1764140012000, last=1764140013000, input_snmp=0, output_snmp=6, direction=1,
         src_xlt_port="4500", dst_xlt_port="4500", ingress_vrf="9"),
]
for i, (got, exp) in enumerate(zip(flows, want)):
    for key, value in exp.items():
        if key in ("first", "last"):
            check(f"flow {i} {key}", ms(got.get(key, "1970-01-01T00:00:00.000")), value)
        else:
            check(f"flow {i} {key}", got.get(key), value)
    # the ICMP flow carries no ports; flows without NAT no translation fields
    if "src_xlt_port" not in exp:
        check(f"flow {i} src4_xlt_ip absent", "src4_xlt_ip" in got, False)
    check(f"flow {i} export_sysid present", "export_sysid" in got, True)

for f in failures:
    print("FAIL:", f)
print(f"{len(want)} flows checked, {len(failures)} mismatches")
sys.exit(1 if failures else 0)
PY
