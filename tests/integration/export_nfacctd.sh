#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# pmacct nfacctd decodes what the exporter sends, IPFIX and NetFlow v9:
# nfacctd on 127.0.0.1 (a free port) with the print plugin writing JSON and
# the shipped templates/pmacct-primitives.lst; xf-send-records exports
# record sets a and b. Checked, exactly, per flow: the built-in post_nat_*
# primitives (IEs 225-228), the custom primitives for IPv6 post-NAT
# (281/282), the zone (xlatZoneId in IPFIX, ingressVRFID in v9), the
# translation type and the pre-NAT source; and nfacctd's log must not call
# any template malformed. Then 1:10 sampling: nfacctd_renormalize must scale
# every counter by exactly 10 from our sampling options records (IPFIX and
# v9). Exits 77 when nfacctd or python3 is missing.
set -eu

for tool in nfacctd python3; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "SKIP: $tool not installed (Debian package pmacct / python3)"
		exit 77
	fi
done

send=./tests/tools/xf-send-records
primitives=${abs_top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/templates/pmacct-primitives.lst
tmp=$(mktemp -d /tmp/xf-export-nfacctd.XXXXXX)
pmpid=
stop_nfacctd() {
	[ -n "$pmpid" ] || return 0
	local plugins
	plugins=$(pgrep -P "$pmpid" || true)
	kill -TERM "$pmpid" 2>/dev/null || true
	# nfacctd purges and exits within a second or two, but its core
	# sometimes ignores SIGTERM: then kill it and its plugin processes
	for _ in $(seq 30); do
		kill -0 "$pmpid" 2>/dev/null || break
		sleep 0.1
	done
	# plugins first, so that the core (our child) reaps them
	[ -n "$plugins" ] && kill -KILL $plugins 2>/dev/null
	sleep 0.2
	kill -KILL "$pmpid" 2>/dev/null || true
	wait "$pmpid" 2>/dev/null || true
	pmpid=
}
cleanup() {
	local rc=$?
	stop_nfacctd
	[ $rc -ne 0 ] && [ $rc -ne 77 ] && grep -v -h -E "Purging cache|--build" "$tmp"/*.log
	rm -rf "$tmp"
}
trap cleanup EXIT

free_udp_port() {
	python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_nfacctd NAME AGGREGATE [EXTRA-CONFIG-LINE]: nfacctd on a free port
# ($port) printing JSON to $tmp/NAME.json; pid in $pmpid
start_nfacctd() {
	port=$(free_udp_port)
	cat >"$tmp/$1.conf" <<CONF
daemonize: false
nfacctd_ip: 127.0.0.1
nfacctd_port: $port
plugins: print
aggregate: $2
aggregate_primitives: $primitives
print_output: json
print_output_file: $tmp/$1.json
print_output_file_append: true
print_refresh_time: 1
${3:-}
CONF
	nfacctd -f "$tmp/$1.conf" >"$tmp/$1.log" 2>&1 &
	pmpid=$!
	# the core says it is waiting before its print plugin is ready (what
	# comes earlier is lost); the plugin says when it has set up JSON
	for _ in $(seq 100); do
		grep -q "waiting for NetFlow/IPFIX data" "$tmp/$1.log" &&
			grep -q "JSON: setting object handlers" "$tmp/$1.log" && break
		sleep 0.1
	done
	grep -q "JSON: setting object handlers" "$tmp/$1.log" ||
		{ cat "$tmp/$1.log"; echo "FAIL: nfacctd did not start"; exit 1; }
	sleep 0.5
}

# wait_rows NAME N: the print plugin writes every second
wait_rows() {
	for _ in $(seq 60); do
		[ -f "$tmp/$1.json" ] && [ "$(wc -l <"$tmp/$1.json")" -ge "$2" ] && break
		sleep 0.1
	done
}

for mode in ipfix netflow9; do
	start_nfacctd "$mode" "src_host, dst_host, src_port, dst_port, proto, post_nat_src_host, post_nat_dst_host, post_nat_src_port, post_nat_dst_port, post_nat_src_ipv6, post_nat_dst_ipv6, xlat_zone, xlat_zone_vrf, xlat_type, xlat_pre_src_host, xlat_pre_src_ipv6, xlat_pre_src_port"
	extra=
	[ "$mode" = netflow9 ] && extra=--netflow9
	printf 'metering\niface 3 eth0 uplink\nsend a\nsend b\nflush\nquit\n' |
		"$send" --collector "udp://127.0.0.1:$port" --odid 77 $extra
	wait_rows "$mode" 6
	stop_nfacctd
	python3 - "$mode" "$tmp/$mode.json" "$tmp/$mode.log" <<'PY'
import json, sys

mode, out, log = sys.argv[1:]
rows = [json.loads(l) for l in open(out) if l.strip()]
logtext = open(log).read()
failures = []

def check(what, got, want):
    if got != want:
        failures.append(f"{mode}: {what}: got {got!r}, want {want!r}")

check("malformed templates in nfacctd's log", "malformed" in logtext, False)
check("flows", len(rows), 6)
by_src = {(r["ip_src"], r["port_src"]): r for r in rows}
v9 = mode == "netflow9"
none = dict(post_nat_ip_src="", post_nat_ip_dst="", post_nat_port_src=0, post_nat_port_dst=0,
            post_nat_src_ipv6="::", post_nat_dst_ipv6="::", xlat_zone="0", xlat_zone_vrf="0",
            xlat_type="0", xlat_pre_src_host="0.0.0.0", xlat_pre_src_ipv6="::",
            xlat_pre_src_port="0")
def nat(**kw):
    d = dict(none)
    d.update(kw)
    if v9:  # no enterprise elements in v9: the zone only as ingressVRFID
        d["xlat_zone_vrf"], d["xlat_zone"] = d["xlat_zone"], "0"
        d.update(xlat_type="0", xlat_pre_src_host="0.0.0.0", xlat_pre_src_ipv6="::",
                 xlat_pre_src_port="0")
    return d
want = {
    ("198.18.0.1", 40001): dict(none, ip_dst="198.19.0.10", port_dst=443, ip_proto="tcp",
                                packets=10, bytes=1500),
    ("198.18.0.2", 5353): nat(ip_dst="198.19.0.53", port_dst=53, ip_proto="udp", packets=2,
                              bytes=152, post_nat_ip_src="198.18.100.1",
                              post_nat_ip_dst="198.18.200.53", post_nat_port_src=61000,
                              post_nat_port_dst=5353, xlat_zone="5", xlat_type="3",
                              xlat_pre_src_host="198.18.0.2", xlat_pre_src_port="5353"),
    ("2001:db8::1", 40002): nat(ip_dst="2001:db8::2", port_dst=80, ip_proto="tcp", packets=5,
                                bytes=400, post_nat_src_ipv6="2001:db8:100::1",
                                post_nat_dst_ipv6="2001:db8:200::2", post_nat_port_src=62000,
                                post_nat_port_dst=8080, xlat_zone="7", xlat_type="3",
                                xlat_pre_src_ipv6="2001:db8::1", xlat_pre_src_port="40002"),
    ("198.18.0.3", 0): dict(none, ip_dst="198.19.0.10", port_dst=0, ip_proto="icmp", packets=4,
                            bytes=336),
    ("198.18.1.1", 50000): dict(none, ip_dst="198.19.1.1", port_dst=22, ip_proto="tcp",
                                packets=7, bytes=777),
    ("2001:db8:1::5", 4500): nat(ip_dst="2001:db8:2::6", port_dst=4500, ip_proto="udp",
                                 packets=3, bytes=333, post_nat_src_ipv6="2001:db8:1::5",
                                 post_nat_dst_ipv6="2001:db8:2::6", post_nat_port_src=4500,
                                 post_nat_port_dst=4500, xlat_zone="9", xlat_type="1",
                                 xlat_pre_src_ipv6="2001:db8:aaaa::5", xlat_pre_src_port="1234"),
}
for key, exp in want.items():
    got = by_src.get(key)
    if got is None:
        failures.append(f"{mode}: flow {key} missing")
        continue
    for k, v in exp.items():
        check(f"flow {key} {k}", got.get(k), v)
for f in failures:
    print("FAIL:", f)
print(f"nfacctd {mode}: {len(rows)} flows checked, {len(failures)} mismatches")
sys.exit(1 if failures else 0)
PY
done

# Sampling 1:10 announced in the options records: nfacctd with
# nfacctd_renormalize multiplies the counters by 10, for IPFIX and for v9
# (one nfacctd, both exporters, told apart by export_proto_version).
start_nfacctd sampled "src_host, dst_host, src_port, dst_port, proto, export_proto_version" \
	"nfacctd_renormalize: true"
for extra in "" --netflow9; do
	printf 'send a\nsend b\nflush\nquit\n' |
		"$send" --collector "udp://127.0.0.1:$port" --odid 78 --sampling 10 $extra
done
wait_rows sampled 12
stop_nfacctd
python3 - "$tmp/sampled.json" <<'PY'
import json, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
failures = []
# packets and bytes of record sets a and b, by source port (ICMP: 0)
sent = {40001: (10, 1500), 5353: (2, 152), 40002: (5, 400), 0: (4, 336), 50000: (7, 777),
        4500: (3, 333)}
for version in (10, 9):
    got = {r["port_src"]: (r["packets"], r["bytes"]) for r in rows
           if r.get("export_proto_version") == version}
    want = {port: (10 * p, 10 * b) for port, (p, b) in sent.items()}
    if got != want:
        failures.append(f"version {version}: got {got}, want {want}")
for f in failures:
    print("FAIL: sampled:", f)
print(f"nfacctd sampled 1:10: {len(rows)} flows checked, {len(failures)} mismatches")
sys.exit(1 if failures else 0)
PY
