#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Check xlatflowd's NAT fields as nfdump and xf-collect decoded them.

  check-daemon.py EXPECT NFDUMP_JSON XF_COLLECT_JSON

EXPECT: one flow per line,
  NAME PROTO SRC SPORT DST DPORT PRE_SRC PRE_SPORT PRE_DST PRE_DPORT
  POST_SRC POST_SPORT POST_DST POST_DPORT OBSERVED(pre|post) XLAT_TYPE ZONE
the flow key, then its translation in its own direction (docs/nat.md).
For each flow exactly one record per collector must have the key, with:
  nfdump:     src4_xlt_ip/dst4_xlt_ip (IPv4 only: nfdump 1.7.1 does not show
              281/282), src_xlt_port/dst_xlt_port, ingress_vrf (zone_as_vrf)
  xf-collect: postNAT*/postNAPT* (225-228, 281/282), xlatPre*/xlatPost*,
              xlatObservationPoint, xlatType, xlatZoneId
Exit 1 on any difference. Same matching rules as tests/integration/flowcheck.py,
in one process because every python3 start costs seconds under TCG.
"""
import json
import sys


def load(path):
    text = open(path).read().strip()
    if not text:
        return []
    if text.startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def expectations(line):
    (name, proto, src, sport, dst, dport, psrc, psport, pdst, pdport,
     qsrc, qsport, qdst, qdport, observed, typ, zone) = line.split()
    proto, zone = int(proto), int(zone)
    v6 = ":" in src
    fam = "IPv6" if v6 else "IPv4"
    nf_match = {"proto": proto}
    xc_match = {"protocolIdentifier": proto,
                "source%sAddress" % fam: src, "destination%sAddress" % fam: dst}
    if v6:
        nf_match.update({"src6_addr": src, "dst6_addr": dst})
    else:
        nf_match.update({"src4_addr": src, "dst4_addr": dst})
    if proto in (1, 58):  # the echo request; ICMP flows carry type/code, not ports
        nf_match["icmp_type"] = 8 if proto == 1 else 128
    else:
        nf_match.update({"src_port": int(sport), "dst_port": int(dport)})
        xc_match.update({"sourceTransportPort": int(sport),
                         "destinationTransportPort": int(dport)})
    # nfdump 1.7.1 prints the translated ports and the VRF as JSON strings
    nf_expect = {"src_xlt_port": qsport, "dst_xlt_port": qdport}
    if not v6:
        nf_expect.update({"src4_xlt_ip": qsrc, "dst4_xlt_ip": qdst, "ingress_vrf": str(zone)})
    xc_expect = {
        "postNATSource%sAddress" % fam: qsrc, "postNATDestination%sAddress" % fam: qdst,
        "postNAPTSourceTransportPort": int(qsport),
        "postNAPTDestinationTransportPort": int(qdport),
        "xlatPreSource%sAddress" % fam: psrc, "xlatPreDestination%sAddress" % fam: pdst,
        "xlatPreSourceTransportPort": int(psport), "xlatPreDestinationTransportPort": int(pdport),
        "xlatPostSource%sAddress" % fam: qsrc, "xlatPostDestination%sAddress" % fam: qdst,
        "xlatPostSourceTransportPort": int(qsport),
        "xlatPostDestinationTransportPort": int(qdport),
        "xlatObservationPoint": 1 if observed == "pre" else 2,
        "xlatType": int(typ), "xlatZoneId": zone,
    }
    return name, (nf_match, nf_expect), (xc_match, xc_expect)


def check(collector, name, records, match, expect):
    sel = [r for r in records if all(r.get(k) == v for k, v in match.items())]
    if len(sel) != 1:
        return ["FAIL %s %s: %d records match %s, expected 1" % (collector, name, len(sel), match)]
    return ["FAIL %s %s: %s = %r, expected %r" % (collector, name, k, sel[0].get(k), v)
            for k, v in expect.items() if sel[0].get(k) != v]


def main():
    lines = [l for l in open(sys.argv[1]) if l.strip() and not l.startswith("#")]
    sources = {"nfdump": load(sys.argv[2]),
               "collect": [r for r in load(sys.argv[3]) if r.get("set") == "data"]}
    counts = {"nfdump": [0, 0], "collect": [0, 0]}
    for line in lines:
        name, nf, xc = expectations(line)
        for collector, (match, expect) in (("nfdump", nf), ("collect", xc)):
            bad = check(collector, name, sources[collector], match, expect)
            counts[collector][1 if bad else 0] += 1
            for b in bad:
                print(b)
            if not bad:
                print("ok %s %s" % (collector, name))
    failed = False
    for collector, (ok, bad) in counts.items():
        print("%s: %d flows ok, %d failed (%d records)" % (collector, ok, bad,
                                                         len(sources[collector])))
        failed = failed or bad > 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
