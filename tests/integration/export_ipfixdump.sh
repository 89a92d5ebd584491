#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# ipfixDump (libfixbuf-tools) reads what the exporter sends: a UDP listener
# on 127.0.0.1 stores the IPFIX messages of xf-send-records as a file, and
# `ipfixDump --rfc5610` must name every enterprise element from our RFC 5610
# type records alone (no XML element file) and print the exact values of
# the NAT flows and of every options record: exporting process, metering
# (standard and enterprise counters), sampling (34/35 and PSAMP), interface
# table; and of the NAT event log (RFC 8158 records, docs/nat-events.md):
# NAT44 and NAT66 session create/delete, ports exhausted, table full,
# threshold, and the event log's statistics. Exits 77 when ipfixDump or
# python3 is missing.
set -eu

for tool in ipfixDump python3; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "SKIP: $tool not installed (Debian package libfixbuf-tools / python3)"
		exit 77
	fi
done

send=./tests/tools/xf-send-records
regfile=${abs_top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/templates/xlatflow-ies.txt
tmp=$(mktemp -d /tmp/xf-export-ipfixdump.XXXXXX)
lpid=
cleanup() {
	[ -n "$lpid" ] && kill "$lpid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# Every datagram appended to a file: an IPFIX file is a sequence of messages.
python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
s.settimeout(1.5)
with open(sys.argv[1], "wb") as out:
    while True:
        try:
            out.write(s.recv(65535))
            out.flush()
        except socket.timeout:
            break
' "$tmp/export.ipfix" >"$tmp/port" &
lpid=$!
for _ in $(seq 50); do
	[ -s "$tmp/port" ] && break
	sleep 0.1
done
port=$(cat "$tmp/port")
printf 'metering\niface 3 eth0 uplink port\nsend a\nsend b\nnatev\nflush\noptions\nstats\nquit\n' |
	"$send" --collector "udp://127.0.0.1:$port" --odid 77 --pen 32473 --sampling 10 --nat-events \
	>"$tmp/stats.json"
wait "$lpid"
lpid=
ipfixDump --rfc5610 -i "$tmp/export.ipfix" >"$tmp/dump.txt"

python3 - "$tmp/dump.txt" "$regfile" <<'PY'
import ipaddress, re, sys

text = open(sys.argv[1]).read()
registry = [l.split("|") for l in open(sys.argv[2]) if l[0].isdigit()]
failures = []

def check(what, got, want):
    if got != want:
        failures.append(f"{what}: got {got!r}, want {want!r}")

# templates: every enterprise element named, from the type records alone
for fields in registry:
    eid, name = int(fields[0]), fields[1].strip()
    check(f"template names element {eid}",
          bool(re.search(rf"ent: 32473\s+id:\s+{eid}\s.*\s{name}$", text, re.M)), True)
    check(f"type record for {name}",
          f"informationElementName : (len: {len(name)}) {name}" in text, True)
check("no unnamed enterprise element", re.search(r"ent: 32473 .*\s(_?unknown|\d+/\d+)\s*$", text, re.M), None)

# data records: (tid, {name: value}) in order
records = []
for block in text.split("--- data record")[1:]:
    tid = int(re.search(r"tid:\s+(\d+)", block).group(1))
    vals = {}
    for m in re.finditer(r"^\s*\(([\d/]+)\)(?: \(S\))?\s*(\w+) : (.*)$", block, re.M):
        vals[m.group(2)] = m.group(3).strip()
    records.append((tid, vals))

def last(tid):
    found = [v for t, v in records if t == tid]
    return found[-1] if found else {}

flows = [v for t, v in records if t in (256, 257, 258, 259)]
check("flow records", len(flows), 6)
nat4 = flows[1]
for k, v in dict(postNATSourceIPv4Address="198.18.100.1", postNATDestinationIPv4Address="198.18.200.53",
                 postNAPTSourceTransportPort="61000", postNAPTDestinationTransportPort="5353",
                 xlatZoneId="5", xlatObservationPoint="1", xlatType="3",
                 xlatPreSourceIPv4Address="198.18.0.2", xlatPreDestinationIPv4Address="198.19.0.53",
                 xlatPostSourceIPv4Address="198.18.100.1",
                 xlatPostDestinationIPv4Address="198.18.200.53",
                 xlatPreSourceTransportPort="5353", xlatPreDestinationTransportPort="53",
                 xlatPostSourceTransportPort="61000",
                 xlatPostDestinationTransportPort="5353").items():
    check(f"IPv4 NAT flow {k}", nat4.get(k), v)
nat6 = flows[2]
for k, v in dict(postNATSourceIPv6Address="2001:db8:100::1",
                 postNATDestinationIPv6Address="2001:db8:200::2",
                 xlatZoneId="7", xlatPreSourceIPv6Address="2001:db8::1").items():
    got = nat6.get(k)
    if got and ":" in got:  # ipfixDump prints IPv6 unabbreviated
        got = str(ipaddress.ip_address(got))
    check(f"IPv6 NAT flow {k}", got, v)

exp = last(261)
check("exporter scope", exp.get("observationDomainId"), "77")
check("exporter notSentFlowTotalCount", exp.get("notSentFlowTotalCount"), "0")
check("exporter systemInitTimeMilliseconds present", "systemInitTimeMilliseconds" in exp, True)
check("exporter exportedMessageTotalCount > 0", int(exp.get("exportedMessageTotalCount", "0")) > 0, True)
met = last(262)
for k, v in dict(observationDomainId="77", ignoredPacketTotalCount="18", droppedPacketTotalCount="5",
                 droppedOctetTotalCount="4200", xlatNonIpPacketTotalCount="11",
                 xlatMalformedPacketTotalCount="7", xlatSampledOutPacketTotalCount="90000",
                 xlatMapFullPacketTotalCount="300", xlatLostPacketTotalCount="5",
                 xlatLostTranslationTotalCount="2", xlatUnsupportedTranslationTotalCount="1",
                 xlatCacheEvictedFlowTotalCount="3", xlatEvictedTranslationTotalCount="4",
                 xlatFilterReattachTotalCount="6").items():
    check(f"metering {k}", met.get(k), v)
smp = last(263)
check("samplingInterval", smp.get("samplingInterval"), "10")
check("samplingAlgorithm", smp.get("samplingAlgorithm"), "2")
sel = last(265)
for k, v in dict(selectorId="1", selectorAlgorithm="4", samplingPacketInterval="1",
                 samplingPacketSpace="9", samplingProbability="0.1",
                 selectorIdTotalPktsObserved="100000", selectorIdTotalPktsSelected="10000").items():
    check(f"selector {k}", sel.get(k), v)
ifr = last(264)
check("interface ingressInterface", ifr.get("ingressInterface"), "3")
check("interface interfaceName", ifr.get("interfaceName"), "(len: 16) eth0")
check("interface interfaceDescription", ifr.get("interfaceDescription"), "(len: 64) uplink port")

# the NAT event set of xf-send-records (natev_set()), wall clock 1764140000 s = 2025-11-26 06:53:20
def nat(tid):
    return [v for t, v in records if t == tid]
def v6(s):
    return str(ipaddress.ip_address(s)) if s and ":" in s and " " not in s else s
s44 = nat(266)
check("NAT44 session records", len(s44), 2)
common = dict(sourceIPv4Address="198.18.0.2", destinationIPv4Address="198.19.0.10",
              postNATSourceIPv4Address="198.18.100.1", postNATDestinationIPv4Address="198.18.1.2",
              sourceTransportPort="40000", destinationTransportPort="80",
              postNAPTSourceTransportPort="61000", postNAPTDestinationTransportPort="8080",
              ingressVRFID="5", xlatZoneId="5", protocolIdentifier="6")
want = [dict(common, natEvent="4", observationTimeMilliseconds="2025-11-26 06:53:21.250",
             flowStartMilliseconds="2025-11-26 06:53:21.250", initiatorOctets="0",
             flowEndMilliseconds="1970-01-01 00:00:00.000",
             responderOctets="0", initiatorPackets="0", responderPackets="0"),
        dict(common, natEvent="5", observationTimeMilliseconds="2025-11-26 06:53:23.500",
             flowStartMilliseconds="2025-11-26 06:53:21.250", initiatorOctets="300",
             flowEndMilliseconds="2025-11-26 06:53:23.500",
             responderOctets="4000", initiatorPackets="3", responderPackets="4")]
for i, w in enumerate(want):
    for k, v in w.items():
        check(f"NAT44 session {i} {k}", s44[i].get(k) if i < len(s44) else None, v)
s66 = nat(267)
check("NAT66 session records", len(s66), 1)
for k, v in dict(natEvent="4", sourceIPv6Address="2001:db8::2", destinationIPv6Address="2001:db8:1::10",
                 postNATSourceIPv6Address="2001:db8:100::1",
                 postNATDestinationIPv6Address="2001:db8:2::20", sourceTransportPort="5000",
                 destinationTransportPort="443", postNAPTSourceTransportPort="6000",
                 postNAPTDestinationTransportPort="8443", protocolIdentifier="17",
                 observationTimeMilliseconds="2025-11-26 06:53:22.000").items():
    check(f"NAT66 session {k}", v6(s66[0].get(k)) if s66 else None, v)
pe = nat(268)
check("ports exhausted records", len(pe), 1)
for k, v in dict(natEvent="12", observationTimeMilliseconds="2025-11-26 06:53:24.100",
                 postNATSourceIPv4Address="198.18.100.1", destinationIPv4Address="198.18.9.9",
                 destinationTransportPort="443", protocolIdentifier="6",
                 droppedPacketDeltaCount="3", xlatNatEventCount="3").items():
    check(f"ports exhausted {k}", pe[0].get(k) if pe else None, v)
q = nat(270)
check("quota records", len(q), 2)
for i, w in enumerate([dict(natEvent="13", natQuotaExceededEvent="1", maxSessionEntries="512",
                            droppedPacketDeltaCount="2", xlatNatEventCount="2",
                            observationTimeMilliseconds="2025-11-26 06:53:24.500"),
                       dict(natEvent="18", natThresholdEvent="3", maxSessionEntries="512",
                            addressPortMappingHighThreshold="410", xlatNatEventCount="1",
                            observationTimeMilliseconds="2025-11-26 06:53:25.000")]):
    for k, v in w.items():
        check(f"quota {i} {k}", q[i].get(k) if i < len(q) else None, v)
st = last(271)
for k, v in dict(observationDomainId="77", xlatNatEventExportedTotalCount="6",
                 xlatNatEventNotSentTotalCount="0", xlatNatEventSourceLostTotalCount="0",
                 xlatNatEventRecoveredTotalCount="0").items():
    check(f"NAT event log statistics {k}", st.get(k), v)

for f in failures:
    print("FAIL:", f)
print(f"ipfixDump: {len(registry)} elements, {len(records)} data records checked, {len(failures)} mismatches")
sys.exit(1 if failures else 0)
PY
