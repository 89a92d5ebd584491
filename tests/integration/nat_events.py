#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Checks nat_events.sh: the NAT event log at five collectors against conntrack.

  nat_events.py WORK BASE_PORT

WORK holds conntrack.xml (`conntrack -L -o xml,ktimestamp` before the flush),
conntrack.events (`conntrack -E -o timestamp,extended,id`), nfdump.json and
nfdump.nel (IPFIX), nfdump9.json (NetFlow v9), nfacctd.json, tshark.json and
xfc.json; with the failure rounds (tests/vm) also exhaust.xml and the
`conntrack -S` output before and after each round. Every difference is printed; the exit status is 1 if there is one.
"""
import datetime
import ipaddress
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conntrack_events import conntrack_stats, parse_events, parse_xml  # noqa: E402

TIME_SLACK = 0.050  # seconds between an event's time and conntrack -E's
# The kernel hooks stamp events in the kernel, conntrack -E when it reads
# them, which in a TCG guest is up to a few hundred ms later: their creates are
# checked against conntrack's own start timestamp, their deletes against the
# `conntrack -F` that deleted them (flush.times: before and after), both at
# TIME_SLACK. The conntrack source (the host) is checked against conntrack -E.
KERNEL_TIMES = os.environ.get("NAT_MODE", "conntrack") != "conntrack"
FLUSHES = []
CREATE, DELETE = 4, 5  # natEvent, IANA (RFC 8158): NAT44 session create/delete
errors = []


def err(msg):
    errors.append(msg)


def norm(addr):
    return str(ipaddress.ip_address(addr)) if addr else addr


def expected_connections(b):
    def conns(proto, src, ports, dst, dport):
        return [(proto, src, b + p, dst, dport) for p in ports]

    return (conns("tcp", "198.18.1.2", range(1, 5), "198.19.0.12", 80) +
            conns("udp", "198.18.1.2", range(11, 13), "198.19.0.12", 53) +
            conns("tcp", "2001:db8:1::2", range(41, 43), "2001:db8:ffff::10", 80) +
            conns("tcp", "198.18.1.2", range(51, 53), "198.19.0.30", 80) +
            conns("tcp", "198.18.9.2", range(21, 23), "198.18.9.1", 30080) +
            conns("udp", "198.18.9.2", range(61, 62), "198.19.0.31", 53) +
            conns("udp", "198.18.2.2", range(31, 33), "198.18.9.2", 9000))


PROTO = {6: "tcp", 17: "udp", "tcp": "tcp", "udp": "udp"}


def post_nat(truth):
    """conntrack's reply tuple turned around: post-NAT source and destination."""
    rsrc, rsport, rdst, rdport = truth["reply"]
    return (rdst, rdport, rsrc, rsport)


def check_collector(name, events, expected, flows, times, want_post_addr6=True,
                    check_times=True, check_zone=True):
    """events: list of dicts kind, key (orig tuple), post (4-tuple), zone, time (s)."""
    worst = 0.0
    for key in expected:
        truth = flows.get(key)
        for kind in (CREATE, DELETE):
            got = [e for e in events if e["kind"] == kind and e["key"] == key]
            if len(got) != 1:
                err("%s: %d natEvent %d for %s" % (name, len(got), kind, key))
                continue
            ev = got[0]
            if truth:
                want = post_nat(truth)
                post = ev["post"]
                if ":" in key[1] and not want_post_addr6:
                    want, post = (want[1], want[3]), (post[1], post[3])
                if post != want:
                    err("%s: natEvent %d %s: post-NAT %s, conntrack %s" % (
                        name, kind, key, post, want))
                if check_zone and ev.get("zone") != truth["zone"]:
                    err("%s: natEvent %d %s: zone %s, conntrack %d" % (
                        name, kind, key, ev.get("zone"), truth["zone"]))
            if not check_times:
                continue
            if kind == CREATE and KERNEL_TIMES and truth and truth["start"]:
                kt, what = truth["start"] / 1e9, "conntrack's start"
            elif kind == DELETE and KERNEL_TIMES:
                # inside the flush that deleted it: the nearest edge of the nearest flush
                what, kt = "conntrack -F", None
                for t0, t1 in FLUSHES:
                    near = min(max(ev["time"], t0), t1)
                    if kt is None or abs(ev["time"] - near) < abs(ev["time"] - kt):
                        kt = near
            else:
                kt = times.get(key, {}).get("NEW" if kind == CREATE else "DESTROY")
                what = "conntrack -E"
            if kt is None:
                err("%s: conntrack -E saw no %s of %s" % (
                    name, "NEW" if kind == CREATE else "DESTROY", key))
                continue
            worst = max(worst, abs(ev["time"] - kt))
            if abs(ev["time"] - kt) > TIME_SLACK:
                err("%s: natEvent %d %s at %.3f, %s at %.6f (%.1f ms apart)" % (
                    name, kind, key, ev["time"], what, kt, (ev["time"] - kt) * 1000))
    others = [e for e in events if e["key"] not in expected]
    if others:
        err("%s: events of connections not made: %s" % (name, others[:3]))
    n_create = sum(e["kind"] == CREATE for e in events)
    n_delete = sum(e["kind"] == DELETE for e in events)
    if n_create != len(expected) or n_delete != len(expected):
        err("%s: %d creates and %d deletes, want %d each" % (name, n_create, n_delete,
                                                             len(expected)))
    print("%s: %d creates, %d deletes%s" % (
        name, n_create, n_delete,
        ", times at most %.1f ms from conntrack's" % (worst * 1000) if check_times else ""))


def nfdump_time(text):
    """nfdump's t_event, local time (the test runs nfdump with TZ=UTC); nfdump 1.7
    prints the milliseconds as a number without leading zeros (.99 is 99 ms)."""
    date, _, frac = text.partition(".")
    t = datetime.datetime.strptime(date, "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    return t + (int(frac) / 1000.0 if frac else 0)


def nfdump_events(path):
    events = []
    for r in json.load(open(path)):
        if int(r.get("nat_event_id", 0)) not in (CREATE, DELETE):
            continue
        six = "src6_addr" in r
        src = norm(r.get("src6_addr") if six else r.get("src4_addr"))
        dst = norm(r.get("dst6_addr") if six else r.get("dst4_addr"))
        events.append({
            "kind": int(r["nat_event_id"]),
            "key": (PROTO.get(r["proto"], r["proto"]), src, r["src_port"], dst, r["dst_port"]),
            "post": (norm(r.get("src6_xlt_ip" if six else "src4_xlt_ip")),
                     int(r.get("src_xlt_port", 0)),
                     norm(r.get("dst6_xlt_ip" if six else "dst4_xlt_ip")),
                     int(r.get("dst_xlt_port", 0))),
            "zone": int(r.get("ingress_vrf", -1)),
            "time": nfdump_time(r["t_event"]),
        })
    return events


def xfc_events(path, flows, failures=None):
    events, stats, n_flows = [], [], 0
    for line in open(path):
        r = json.loads(line)
        tid = r.get("template_id")
        if tid in (268, 269, 270) and failures is not None:
            failures.append(r)
        if tid in (256, 257, 258, 259):
            n_flows += 1
        if tid == 271:
            stats.append(r)
        if tid not in (266, 267):
            continue
        six = tid == 267
        a = "IPv6Address" if six else "IPv4Address"
        key = (PROTO[r["protocolIdentifier"]], norm(r["source" + a]),
               r["sourceTransportPort"], norm(r["destination" + a]),
               r["destinationTransportPort"])
        events.append({
            "kind": r["natEvent"], "key": key,
            "post": (norm(r["postNATSource" + a]), r["postNAPTSourceTransportPort"],
                     norm(r["postNATDestination" + a]), r["postNAPTDestinationTransportPort"]),
            "zone": r["xlatZoneId"] if r["xlatZoneId"] == r["ingressVRFID"] else -1,
            "time": r["observationTimeMilliseconds"] / 1000.0,
            "rec": r,
        })
    return events, stats, n_flows


def check_failures(work, recs):
    """natEvent 12, 13 and 18 at xf-collect against conntrack's statistics."""
    def delta(name, key):
        before = conntrack_stats("%s/%s.stats-before" % (work, name))
        after = conntrack_stats("%s/%s.stats-after" % (work, name))
        return after.get(key, 0) - before.get(key, 0)

    failed = delta("exhaust", "insert_failed")
    ports = [r for r in recs if r.get("natEvent") == 12]
    if failed != 16:
        err("exhaustion: conntrack insert_failed +%d, want 16 (20 connections, 4 ports)" % failed)
    if sum(r["xlatNatEventCount"] for r in ports) != failed:
        err("exhaustion: natEvent 12 counts %s, conntrack insert_failed +%d" % (
            [r["xlatNatEventCount"] for r in ports], failed))
    for r in ports:
        got = (r.get("postNATSourceIPv4Address"), r.get("destinationIPv4Address"),
               r.get("destinationTransportPort"), r.get("protocolIdentifier"),
               r.get("droppedPacketDeltaCount"))
        if got != ("198.18.9.1", "198.18.9.2", 9100, 17, r["xlatNatEventCount"]):
            err("exhaustion: natEvent 12 record %s" % (got,))
    dropped = delta("tablefull", "drop")
    full = [r for r in recs if r.get("natEvent") == 13]
    if dropped != 3:
        err("table full: conntrack drop +%d, want 3" % dropped)
    if sum(r["xlatNatEventCount"] for r in full) != dropped:
        err("table full: natEvent 13 counts %s, conntrack drop +%d" % (
            [r["xlatNatEventCount"] for r in full], dropped))
    for r in full:
        if (r.get("natQuotaExceededEvent"), r.get("maxSessionEntries")) != (1, 64):
            err("table full: natEvent 13 record %s" % r)
    thr = [r for r in recs if r.get("natEvent") == 18]
    if len(thr) != 1 or (thr[0].get("natThresholdEvent"), thr[0].get("maxSessionEntries"),
                         thr[0].get("addressPortMappingHighThreshold")) != (3, 64, 32):
        err("threshold: natEvent 18 records %s, want one (3, max 64, threshold 32)" % thr)
    print("failures: natEvent 12 counts %s (insert_failed +%d), natEvent 13 counts %s "
          "(drop +%d), %d threshold record" % (
              [r["xlatNatEventCount"] for r in ports], failed,
              [r["xlatNatEventCount"] for r in full], dropped, len(thr)))


def main():
    work, b = sys.argv[1], int(sys.argv[2])
    expected = expected_connections(b)
    # the daemon's own datagrams to the collectors on loopback are tracked, untranslated
    flows = {k: v for k, v in parse_xml(work + "/conntrack.xml").items() if k[1] != "127.0.0.1"}
    times = parse_events(work + "/conntrack.events")
    FLUSHES.extend(tuple(map(float, l.split())) for l in open(work + "/flush.times"))
    if set(flows) != set(expected):
        err("conntrack's table is not the connections made: extra %s, missing %s" % (
            sorted(set(flows) - set(expected)), sorted(set(expected) - set(flows))))
    zones = sorted(set(f["zone"] for f in flows.values()))
    if zones != [0, 7, 9]:
        err("zones %s, want [0, 7, 9]" % zones)

    with_failures = os.path.exists(work + "/failures")
    if with_failures:
        # the connections of the exhaustion round that got a port: sessions too
        exhaust = {k: v for k, v in parse_xml(work + "/exhaust.xml").items()
                   if k[0] == "udp" and k[4] == 9100}
        if len(exhaust) != 4:
            err("exhaustion: %d connections got a port, want 4: %s" % (len(exhaust),
                                                                        sorted(exhaust)))
        flows.update(exhaust)
        expected = expected + sorted(exhaust)

    # xf-collect: every field; deletes with conntrack's start and counters
    failures = []
    events, stats, n_flows = xfc_events(work + "/xfc.json", flows, failures)
    check_collector("xf-collect", events, expected, flows, times)
    for ev in events:
        truth = flows.get(ev["key"])
        r = ev["rec"]
        if not truth:
            continue
        if ev["kind"] == DELETE:
            (po, bo), (pr, br) = truth["counters"]
            want = (truth["start"] // 1000000, po, pr, bo, br, r["observationTimeMilliseconds"])
            got = (r["flowStartMilliseconds"], r["initiatorPackets"], r["responderPackets"],
                   r["initiatorOctets"], r["responderOctets"], r["flowEndMilliseconds"])
        else:
            want = (r["observationTimeMilliseconds"], 0, 0, 0, 0, 0)
            got = (r["flowStartMilliseconds"], r["initiatorPackets"], r["responderPackets"],
                   r["initiatorOctets"], r["responderOctets"], r["flowEndMilliseconds"])
        if got != want:
            err("xf-collect: natEvent %d %s: start/packets/octets/end %s, want %s" % (
                ev["kind"], ev["key"], got, want))
    if n_flows == 0:
        err("xf-collect: no flow records (flows = true beside nat_events)")
    if not stats:
        err("xf-collect: no NAT event log statistics record (template 271)")
    else:
        last = stats[-1]
        want = {"xlatNatEventExportedTotalCount": 2 * len(expected) + len(failures),
                "xlatNatEventNotSentTotalCount": 0, "xlatNatEventSourceLostTotalCount": 0,
                "xlatNatEventRecoveredTotalCount": 0}
        for k, v in want.items():
            if last.get(k) != v:
                err("xf-collect: statistics %s = %s, want %s" % (k, last.get(k), v))

    if with_failures:
        check_failures(work, failures)

    # nfcapd, IPFIX and NetFlow v9 (nfdump maps no post-NAT IPv6 address)
    check_collector("nfdump IPFIX", nfdump_events(work + "/nfdump.json"), expected, flows,
                    times, want_post_addr6=False)
    check_collector("nfdump NetFlow v9", nfdump_events(work + "/nfdump9.json"), expected,
                    flows, times, want_post_addr6=False)
    nel = [l for l in open(work + "/nfdump.nel") if "->" in l]
    if len(nel) != 2 * len(expected) + len(failures):
        err("nfdump -o nel: %d lines, want %d" % (len(nel), 2 * len(expected) + len(failures)))

    # nfacctd: pmacct's nat_event and post_nat_* primitives (no post-NAT IPv6 address)
    events = []
    for line in open(work + "/nfacctd.json"):
        r = json.loads(line)
        if r["nat_event"] not in (CREATE, DELETE):
            continue
        key = (r["ip_proto"], norm(r["ip_src"]), r["port_src"], norm(r["ip_dst"]), r["port_dst"])
        events.append({"kind": r["nat_event"], "key": key,
                       "post": (norm(r["post_nat_ip_src"]), r["post_nat_port_src"],
                                norm(r["post_nat_ip_dst"]), r["post_nat_port_dst"])})
    check_collector("nfacctd", events, expected, flows, times, want_post_addr6=False,
                    check_times=False, check_zone=False)

    # tshark: cflow.nat_event, ports and the post-NAT destination port of each
    # record of the session templates (266, 267)
    events = []
    for pkt in json.load(open(work + "/tshark.json")):
        cflow = pkt["_source"]["layers"].get("cflow", {})
        for name, flowset in cflow.items():
            if not name.startswith("Set ") or not ("[id=266]" in name or "[id=267]" in name):
                continue
            for rec_name, r in flowset.items():
                if rec_name.startswith("Flow "):
                    events.append((int(r["cflow.nat_event"]), int(r["cflow.srcport"]),
                                   int(r["cflow.dstport"]),
                                   int(r["cflow.post_naptdestination_transport_port"])))
    for key in expected:
        truth = flows.get(key)
        for kind in (CREATE, DELETE):
            n = sum(1 for e in events
                    if e[:3] == (kind, key[2], key[4]) and (not truth or e[3] == truth["reply"][1]))
            if n != 1:
                err("tshark: %d cflow.nat_event == %d for %s" % (n, kind, key))
    if len(events) != 2 * len(expected):
        err("tshark: %d session records, want %d" % (len(events), 2 * len(expected)))
    print("tshark: %d creates, %d deletes" % (sum(e[0] == CREATE for e in events),
                                               sum(e[0] == DELETE for e in events)))

    for e in errors:
        print("FAIL: " + e)
    if errors:
        return 1
    print("PASS: %d connections, one create and one delete each at every collector" %
          len(expected))
    return 0


if __name__ == "__main__":
    sys.exit(main())
