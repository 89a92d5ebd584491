#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# End to end over TCP with a reconnect: tests/tools/xf-send-records exports
# record set a through export.h to tests/tools/xf-collect; the collector is
# killed (SIGKILL), set b is exported while it is gone, a new xf-collect is
# started on the same port: the exporter must reconnect, send the RFC 5610
# type records and templates again, then set b. python3 checks every field
# of all six records, including those nfdump cannot show (IPv6 post-NAT,
# the xlat* enterprise elements, zone id), and that nothing was dropped.
# Part 2 (below): the backlog overflows while no collector listens, and the
# not-sent counters arrive exactly in the exporting process options record.
# Exits 77 when python3 is missing.
set -eu

if ! command -v python3 >/dev/null 2>&1; then
	echo "SKIP: python3 not installed"
	exit 77
fi

send=./tests/tools/xf-send-records
collect=./tests/tools/xf-collect
tmp=$(mktemp -d /tmp/xf-export-tcp.XXXXXX)
spid=
cpid=
cleanup() {
	[ -n "$cpid" ] && kill "$cpid" 2>/dev/null
	[ -n "$spid" ] && kill "$spid" 2>/dev/null
	exec 3>&- 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# wait_lines FILE PATTERN N: until FILE has N lines matching PATTERN (10 s)
wait_lines() {
	for _ in $(seq 100); do
		[ "$(grep -c "$2" "$1" 2>/dev/null || true)" -ge "$3" ] && return 0
		sleep 0.1
	done
	echo "FAIL: $1 has $(grep -c "$2" "$1" 2>/dev/null || echo 0) lines matching $2, want $3"
	cat "$tmp"/*.err
	exit 1
}

"$collect" --tcp "$port" --out "$tmp/c1.json" 2>"$tmp/c1.err" &
cpid=$!
wait_lines "$tmp/c1.err" listening 1

mkfifo "$tmp/cmd"
"$send" --collector "tcp://127.0.0.1:$port" --odid 4242 <"$tmp/cmd" >"$tmp/stats.json" \
	2>"$tmp/send.err" &
spid=$!
exec 3>"$tmp/cmd"

echo "send a" >&3
echo "flush" >&3
wait_lines "$tmp/c1.json" '"set":"data"' 4

# collector gone without a goodbye
kill -KILL "$cpid"
wait "$cpid" 2>/dev/null || true
cpid=

echo "send b" >&3
echo "flush" >&3
echo "sleep 300" >&3

"$collect" --tcp "$port" --count 2 --timeout 20 --out "$tmp/c2.json" 2>"$tmp/c2.err" &
cpid=$!
if ! wait "$cpid"; then
	cpid=
	cat "$tmp"/*.err
	echo "FAIL: the second collector did not get set b"
	exit 1
fi
cpid=

echo "stats" >&3
echo "quit" >&3
exec 3>&-
wait "$spid"
spid=
cat "$tmp/send.err"

python3 - "$tmp/c1.json" "$tmp/c2.json" "$tmp/stats.json" <<'PY'
import json, sys

c1 = [json.loads(l) for l in open(sys.argv[1])]
c2 = [json.loads(l) for l in open(sys.argv[2])]
stats = json.loads(open(sys.argv[3]).read().strip().splitlines()[-1])
failures = []

def check(what, got, want):
    if got != want:
        failures.append(f"{what}: got {got!r}, want {want!r}")

mac = {"sourceMacAddress": "02:00:00:00:00:01", "destinationMacAddress": "02:00:00:00:00:02"}
set_a = [
    dict(mac, template_id=256, sourceIPv4Address="198.18.0.1", destinationIPv4Address="198.19.0.10",
         sourceTransportPort=40001, destinationTransportPort=443, protocolIdentifier=6,
         tcpControlBits=0x1b, ipClassOfService=0, icmpTypeCodeIPv4=0,
         packetDeltaCount=10, octetDeltaCount=1500,
         flowStartMilliseconds=1764140000000, flowEndMilliseconds=1764140001500,
         ingressInterface=3, egressInterface=0, flowDirection=0, vlanId=0, flowEndReason=1),
    dict(mac, template_id=258, sourceIPv4Address="198.18.0.2", destinationIPv4Address="198.19.0.53",
         sourceTransportPort=5353, destinationTransportPort=53, protocolIdentifier=17,
         tcpControlBits=0, ipClassOfService=0x28, packetDeltaCount=2, octetDeltaCount=152,
         flowStartMilliseconds=1764140002000, flowEndMilliseconds=1764140002250,
         ingressInterface=0, egressInterface=4, flowDirection=1, flowEndReason=2,
         postNATSourceIPv4Address="198.18.100.1", postNATDestinationIPv4Address="198.18.200.53",
         postNAPTSourceTransportPort=61000, postNAPTDestinationTransportPort=5353,
         xlatZoneId=5, xlatObservationPoint=1, xlatType=3,
         xlatPreSourceIPv4Address="198.18.0.2", xlatPreDestinationIPv4Address="198.19.0.53",
         xlatPostSourceIPv4Address="198.18.100.1", xlatPostDestinationIPv4Address="198.18.200.53",
         xlatPreSourceTransportPort=5353, xlatPreDestinationTransportPort=53,
         xlatPostSourceTransportPort=61000, xlatPostDestinationTransportPort=5353),
    dict(mac, template_id=259, sourceIPv6Address="2001:db8::1", destinationIPv6Address="2001:db8::2",
         sourceTransportPort=40002, destinationTransportPort=80, protocolIdentifier=6,
         tcpControlBits=0x12, packetDeltaCount=5, octetDeltaCount=400,
         flowStartMilliseconds=1764140003000, flowEndMilliseconds=1764140004000,
         ingressInterface=5, egressInterface=0, flowDirection=0, vlanId=42, flowEndReason=3,
         icmpTypeCodeIPv6=0,
         postNATSourceIPv6Address="2001:db8:100::1", postNATDestinationIPv6Address="2001:db8:200::2",
         postNAPTSourceTransportPort=62000, postNAPTDestinationTransportPort=8080,
         xlatZoneId=7, xlatObservationPoint=1, xlatType=3,
         xlatPreSourceIPv6Address="2001:db8::1", xlatPreDestinationIPv6Address="2001:db8::2",
         xlatPostSourceIPv6Address="2001:db8:100::1", xlatPostDestinationIPv6Address="2001:db8:200::2",
         xlatPreSourceTransportPort=40002, xlatPreDestinationTransportPort=80,
         xlatPostSourceTransportPort=62000, xlatPostDestinationTransportPort=8080),
    dict(mac, template_id=256, sourceIPv4Address="198.18.0.3", destinationIPv4Address="198.19.0.10",
         sourceTransportPort=0, destinationTransportPort=0, protocolIdentifier=1,
         icmpTypeCodeIPv4=0x0800, packetDeltaCount=4, octetDeltaCount=336,
         flowStartMilliseconds=1764140005000, flowEndMilliseconds=1764140008000,
         ingressInterface=3, flowEndReason=4),
]
set_b = [
    dict(mac, template_id=256, sourceIPv4Address="198.18.1.1", destinationIPv4Address="198.19.1.1",
         sourceTransportPort=50000, destinationTransportPort=22, protocolIdentifier=6,
         tcpControlBits=0x18, packetDeltaCount=7, octetDeltaCount=777,
         flowStartMilliseconds=1764140010000, flowEndMilliseconds=1764140011000,
         ingressInterface=3, flowDirection=0, flowEndReason=1),
    dict(mac, template_id=259, sourceIPv6Address="2001:db8:1::5", destinationIPv6Address="2001:db8:2::6",
         sourceTransportPort=4500, destinationTransportPort=4500, protocolIdentifier=17,
         packetDeltaCount=3, octetDeltaCount=333,
         flowStartMilliseconds=1764140012000, flowEndMilliseconds=1764140013000,
         ingressInterface=0, egressInterface=6, flowDirection=1, flowEndReason=5,
         postNATSourceIPv6Address="2001:db8:1::5", postNATDestinationIPv6Address="2001:db8:2::6",
         postNAPTSourceTransportPort=4500, postNAPTDestinationTransportPort=4500,
         xlatZoneId=9, xlatObservationPoint=2, xlatType=1,
         xlatPreSourceIPv6Address="2001:db8:aaaa::5", xlatPreDestinationIPv6Address="2001:db8:2::6",
         xlatPostSourceIPv6Address="2001:db8:1::5", xlatPostDestinationIPv6Address="2001:db8:2::6",
         xlatPreSourceTransportPort=1234, xlatPreDestinationTransportPort=4500,
         xlatPostSourceTransportPort=4500, xlatPostDestinationTransportPort=4500),
]

def check_connection(name, lines, want):
    data = [l for l in lines if l["set"] == "data"]
    types = [l for l in lines if l["set"] == "options" and l["template_id"] == 260]
    opts = [l for l in lines if l["set"] == "options" and l["template_id"] != 260]
    first_data = lines.index(data[0]) if data else len(lines)
    # the 38 RFC 5610 type records (templates/xlatflow-ies.txt) come first on every connection
    check(f"{name} type records", len(types), 38)
    check(f"{name} type records first", lines[:38] == types, True)
    check(f"{name} type record names",
          sorted(t["informationElementName"] for t in types)[:5],
          ["xlatCacheEvictedFlowTotalCount", "xlatCollectorDownTotalCount",
           "xlatCollectorRedirectedFlowTotalCount", "xlatCollectorTakenOverFlowTotalCount",
           "xlatEvictedTranslationTotalCount"])
    check(f"{name} type record PEN", {t["privateEnterpriseNumber"] for t in types}, {32473})
    # then the options records (exporter, metering, sampling, selector), before any data
    check(f"{name} options records", [o["template_id"] for o in opts], [261, 262, 263, 265])
    check(f"{name} options before data", all(lines.index(o) < first_data for o in opts), True)
    check(f"{name} options scope", {o.get("observationDomainId") for o in opts}, {4242})
    check(f"{name} sampling 1:1", [(o.get("samplingInterval"), o.get("samplingAlgorithm"))
                                  for o in opts if o["template_id"] == 263], [(1, 1)])
    check(f"{name} selector 1:1", [(o.get("selectorAlgorithm"), o.get("samplingPacketInterval"),
                                   o.get("samplingPacketSpace")) for o in opts
                                  if o["template_id"] == 265], [(1, 1, 0)])
    check(f"{name} data records", len(data), len(want))
    for i, (got, exp) in enumerate(zip(data, want)):
        check(f"{name} record {i} observation_domain", got["observation_domain"], 4242)
        for key, value in exp.items():
            check(f"{name} record {i} {key}", got.get(key), value)
        # NAT-less templates carry no translation fields
        if exp["template_id"] in (256, 257):
            check(f"{name} record {i} no NAT fields",
                  [k for k in got if k.startswith(("xlat", "postNA"))], [])

check_connection("first connection", c1, set_a)
check_connection("after reconnect", c2, set_b)
check("exporter records", stats["records"], 6)
check("exporter records_dropped", stats["records_dropped"], 0)

for f in failures:
    print("FAIL:", f)
print(f"{len(set_a) + len(set_b)} records checked, {len(failures)} mismatches")
sys.exit(1 if failures else 0)
PY

# Part 2: no collector yet. 20000 records wait for it in the backlog, which
# keeps 16384 (packets 1..16384) and drops the rest, counted. When a
# collector appears, the first options record after the templates reports
# exactly what was not sent (notSentFlow/Packet/OctetTotalCount), then the
# 16384 records arrive.
port2=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'bulk 20000\nsleep 200\nstats\nsleep 8000\nquit\n' |
	"$send" --collector "tcp://127.0.0.1:$port2" --odid 4243 >"$tmp/stats2.json" \
	2>"$tmp/send2.err" &
spid=$!
sleep 0.5
"$collect" --tcp "$port2" --count 16384 --timeout 20 --out "$tmp/c3.json" 2>"$tmp/c3.err" ||
	{ cat "$tmp"/*.err; echo "FAIL: the backlog did not arrive"; exit 1; }
kill "$spid" 2>/dev/null || true
wait "$spid" 2>/dev/null || true
spid=

python3 - "$tmp/c3.json" "$tmp/stats2.json" <<'PY'
import json, sys

lines = [json.loads(l) for l in open(sys.argv[1])]
stats = json.loads(open(sys.argv[2]).read().strip().splitlines()[0])
failures = []

def check(what, got, want):
    if got != want:
        failures.append(f"backlog: {what}: got {got!r}, want {want!r}")

dropped = range(16385, 20001)
check("exporter records_dropped", stats["records_dropped"], 3616)
check("exporter packets_dropped", stats["packets_dropped"], sum(dropped))
check("exporter octets_dropped", stats["octets_dropped"], 100 * sum(dropped))
exp = [l for l in lines if l["set"] == "options" and l["template_id"] == 261]
data = [l for l in lines if l["set"] == "data"]
check("exporting process records", len(exp), 1)
if exp:
    check("notSentFlowTotalCount", exp[0].get("notSentFlowTotalCount"), 3616)
    check("notSentPacketTotalCount", exp[0].get("notSentPacketTotalCount"), sum(dropped))
    check("notSentOctetTotalCount", exp[0].get("notSentOctetTotalCount"), 100 * sum(dropped))
    check("options before data", lines.index(exp[0]) < lines.index(data[0]), True)
check("records after the backlog", len(data), 16384)
check("their packets", sorted(d["packetDeltaCount"] for d in data), list(range(1, 16385)))
for f in failures:
    print("FAIL:", f)
print(f"backlog: {len(data)} records and the not-sent counters checked, {len(failures)} mismatches")
sys.exit(1 if failures else 0)
PY
