#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Checks conntrack_events.sh: the probe's NAT events against conntrack.

  conntrack_events.py WORK BASE_PORT

WORK holds, per round (full, bare, exhaust): NAME.out (the probe's NAT and
NATSTATS lines), NAME.xml (`conntrack -L -o xml,ktimestamp` before the
flush), NAME.events (`conntrack -E -o timestamp,extended,id` beside the
probe), and for exhaust the `conntrack -S` output before and after.
Every difference is printed; the exit status is 1 if there is one.
"""
import re
import sys
import xml.etree.ElementTree as ET

TIME_SLACK = 0.050  # seconds between the probe's event time and conntrack -E's
errors = []


def err(msg):
    errors.append(msg)


def norm(addr):
    """198.18.1.2 or 2001:db8:1::2, as both tools print them."""
    return addr.strip("[]")


def endpoint(text):
    addr, port = text.rsplit(":", 1)
    return norm(addr), int(port)


def parse_probe(path):
    events, stats = [], {}
    for line in open(path):
        f = line.split()
        if f and f[0] == "NATSTATS":
            stats = dict(kv.split("=", 1) for kv in f[1:])
        if not f or f[0] != "NAT":
            continue
        ev = {"kind": f[1], "zone": int(f[2].split("=")[1]), "proto": f[3]}
        o_src, o_dst = f[4].split(">")
        r_src, r_dst = f[6].split(">")
        ev["orig"] = (f[3],) + endpoint(o_src) + endpoint(o_dst)
        ev["reply"] = endpoint(r_src) + endpoint(r_dst)
        for kv in f[7:]:
            k, v = kv.split("=", 1)
            ev[k] = v
        ev["time"] = float(ev["time"])
        ev["start"] = int(ev["start"])
        ev["count"] = int(ev["count"])
        events.append(ev)
    return events, stats


def parse_xml(path):
    """conntrack's table: orig tuple -> reply tuple, zone, counters, start."""
    flows = {}
    text = open(path).read()
    for doc in text.split("<?xml")[1:]:
        root = ET.fromstring("<?xml" + doc)
        for flow in root.iter("flow"):
            metas = {m.get("direction"): m for m in flow.iter("meta")}
            o, r, ind = metas["original"], metas["reply"], metas["independent"]
            proto = o.find("layer4").get("protoname")

            def tup(m):
                return (norm(m.find("layer3/src").text), int(m.find("layer4/sport").text),
                        norm(m.find("layer3/dst").text), int(m.find("layer4/dport").text))

            def counters(m):
                c = m.find("counters")
                return (int(c.find("packets").text), int(c.find("bytes").text)) if c is not None \
                    else None

            zone = ind.find("zone")
            start = ind.find("timestamp/start")
            flows[(proto,) + tup(o)] = {
                "reply": tup(r),
                "zone": int(zone.text) if zone is not None else 0,
                "counters": (counters(o), counters(r)),
                "start": int(start.text) if start is not None else None,
            }
    return flows


EV_RE = re.compile(r"^\[(\d+\.\d+)\]\s+\[(NEW|UPDATE|DESTROY)\]\s+ipv[46]\s+\d+\s+(\w+)\s+\d+\s")


def parse_events(path):
    """conntrack -E: orig tuple -> {NEW: time, DESTROY: time} (first of each)."""
    times = {}
    for line in open(path):
        m = EV_RE.match(line)
        if not m:
            continue
        kv = re.findall(r"(src|dst|sport|dport)=(\S+)", line)
        first = {}
        for k, v in kv:
            first.setdefault(k, v)
        if len(first) < 4:
            continue
        key = (m.group(3), norm(first["src"]), int(first["sport"]), norm(first["dst"]),
               int(first["dport"]))
        times.setdefault(key, {}).setdefault(m.group(2), float(m.group(1)))
    return times


def show(t):
    return "%s %s:%d>%s:%d" % t


def check_round(work, name, expected, with_ext):
    events, stats = parse_probe("%s/%s.out" % (work, name))
    flows = parse_xml("%s/%s.xml" % (work, name))
    times = parse_events("%s/%s.events" % (work, name))
    sessions = [e for e in events if e["kind"] in ("CREATE", "DELETE")]
    if set(flows) != set(expected):
        err("%s: conntrack's table is not the connections made: extra %s, missing %s" % (
            name, sorted(set(flows) - set(expected)), sorted(set(expected) - set(flows))))
    for key in expected:
        truth = flows.get(key)
        for kind in ("CREATE", "DELETE"):
            got = [e for e in sessions if e["kind"] == kind and e["orig"] == key]
            if len(got) != 1:
                err("%s: %d %s for %s" % (name, len(got), kind, show(key)))
                continue
            ev = got[0]
            if truth and (ev["reply"] != truth["reply"] or ev["zone"] != truth["zone"]):
                err("%s: %s %s: reply %s zone %d, conntrack %s zone %d" % (
                    name, kind, show(key), ev["reply"], ev["zone"], truth["reply"],
                    truth["zone"]))
            kt = times.get(key, {}).get("NEW" if kind == "CREATE" else "DESTROY")
            if kt is None:
                err("%s: conntrack -E saw no %s of %s" % (name, kind, show(key)))
            elif abs(ev["time"] - kt) > TIME_SLACK:
                err("%s: %s %s at %.6f, conntrack -E at %.6f (%.1f ms apart)" % (
                    name, kind, show(key), ev["time"], kt, (ev["time"] - kt) * 1000))
            want_flags = "-" if kind == "CREATE" or not with_ext else "SA"
            if ev["flags"] != want_flags:
                err("%s: %s %s flags %s, want %s" % (name, kind, show(key), ev["flags"],
                                                      want_flags))
            if kind == "CREATE" or not truth:
                continue
            if with_ext:
                (po, bo), (pr, br) = truth["counters"]
                want = ("%d/%d" % (po, pr), "%d/%d" % (bo, br), truth["start"])
            else:
                want = ("0/0", "0/0", 0)
            if (ev["pkts"], ev["bytes"], ev["start"]) != want:
                err("%s: DELETE %s pkts %s bytes %s start %d, conntrack %s %s %s" % (
                    (name, show(key), ev["pkts"], ev["bytes"], ev["start"]) + want))
    others = [e for e in sessions if e["orig"] not in expected]
    if others:
        err("%s: events of connections not made: %s" % (name, others))
    want_stats = {"recovered_creates": "0", "lost_deletes": "0", "duplicates": "0",
                  "lost_events": "0", "lost_sessions": "0", "reliable": "1",
                  "creates": str(len(expected)), "deletes": str(len(expected)),
                  "host": "7" if with_ext else "1"}
    for k, v in want_stats.items():
        if stats.get(k) != v:
            err("%s: NATSTATS %s=%s, want %s" % (name, k, stats.get(k), v))
    print("%s: %d connections, %d CREATE and %d DELETE checked; %s" % (
        name, len(expected), sum(e["kind"] == "CREATE" for e in sessions),
        sum(e["kind"] == "DELETE" for e in sessions),
        " ".join("%s=%s" % (k, stats.get(k)) for k in ("overruns", "dispatch_max_us", "dispatch_max_cpu_us"))))
    return events, stats


def conntrack_stats(path):
    total = {}
    for line in open(path):
        for k, v in re.findall(r"(\w+)=(\d+)", line):
            if k != "cpu":
                total[k] = total.get(k, 0) + int(v)
    return total


def main():
    work, b = sys.argv[1], int(sys.argv[2])

    def conns(proto, src, ports, dst, dport):
        return [(proto, src, b + p, dst, dport) for p in ports]

    full = (conns("tcp", "198.18.1.2", range(1, 5), "198.19.0.12", 80) +
            conns("udp", "198.18.1.2", range(11, 15), "198.19.0.12", 53) +
            conns("tcp", "198.18.9.2", range(21, 25), "198.18.9.1", 30080) +
            conns("udp", "198.18.2.2", range(31, 35), "198.18.9.2", 9000) +
            conns("tcp", "2001:db8:1::2", range(41, 45), "2001:db8:ffff::10", 80) +
            conns("tcp", "198.18.1.2", range(51, 55), "198.19.0.30", 80) +
            conns("udp", "198.18.9.2", range(61, 65), "198.19.0.31", 53))
    check_round(work, "full", full, True)
    flows = parse_xml("%s/full.xml" % work)
    zones = sorted(set(f["zone"] for f in flows.values()))
    if zones != [0, 7, 9]:
        err("full: zones %s, want [0, 7, 9]" % zones)

    bare = (conns("tcp", "198.18.1.2", [101], "198.19.0.12", 80) +
            conns("udp", "198.18.1.2", [102], "198.19.0.12", 53) +
            conns("udp", "198.18.9.2", [103], "198.19.0.31", 53) +
            conns("udp", "198.18.2.2", [104], "198.18.9.2", 9000))
    check_round(work, "bare", bare, False)

    # exhaustion: two connections got the two ports, three none
    flows = parse_xml("%s/exhaust.xml" % work)
    made = [k for k in flows if k[0] == "udp" and k[4] == 9100]
    if len(made) != 2 or sorted(flows[k]["reply"][3] for k in made) != [20000, 20001]:
        err("exhaust: conntrack holds %s" % flows)
    events, stats = check_round(work, "exhaust", made, True)
    before = conntrack_stats("%s/exhaust.stats-before" % work)
    after = conntrack_stats("%s/exhaust.stats-after" % work)
    failed = after["insert_failed"] - before["insert_failed"]
    dropped = after["drop"] - before["drop"]
    exhausted = [e for e in events if e["kind"] == "PORTS_EXHAUSTED"]
    full_events = [e for e in events if e["kind"] == "TABLE_FULL"]
    if failed != 3 or sum(e["count"] for e in exhausted) != failed:
        err("exhaust: insert_failed rose by %d, PORTS_EXHAUSTED counted %s" % (
            failed, [e["count"] for e in exhausted]))
    if full_events or dropped != failed:
        err("exhaust: TABLE_FULL %s, drop rose by %d" % (full_events, dropped))
    for e in exhausted:
        if e["orig"][1:] != ("0.0.0.0", 0, "0.0.0.0", 0) or e["zone"] != 0:
            err("exhaust: PORTS_EXHAUSTED carries a tuple: %s" % e)
    if stats.get("ports_exhausted") != "3" or stats.get("insert_failed") != "3":
        err("exhaust: NATSTATS ports_exhausted=%s insert_failed=%s" % (
            stats.get("ports_exhausted"), stats.get("insert_failed")))
    print("exhaust: PORTS_EXHAUSTED %s, conntrack insert_failed +%d drop +%d" % (
        [e["count"] for e in exhausted], failed, dropped))

    # a full table: TABLE_FULL counts conntrack's drops that are no failed insert
    try:
        max_entries = int(open("%s/tablefull.max" % work).read())
    except OSError:
        max_entries = None
    if max_entries is not None:
        events, stats = parse_probe("%s/tablefull.out" % work)
        before = conntrack_stats("%s/tablefull.stats-before" % work)
        after = conntrack_stats("%s/tablefull.stats-after" % work)
        dropped = after["drop"] - before["drop"]
        failed = after["insert_failed"] - before["insert_failed"]
        full_events = [e for e in events if e["kind"] == "TABLE_FULL"]
        if dropped != 3 or failed != 0 or sum(e["count"] for e in full_events) != 3:
            err("tablefull: drop +%d insert_failed +%d, TABLE_FULL counted %s" % (
                dropped, failed, [e["count"] for e in full_events]))
        others = [e for e in events if e["kind"] != "TABLE_FULL"]
        if others:
            err("tablefull: other events: %s" % others)
        for e in full_events:
            if e["orig"][1:] != ("0.0.0.0", 0, "0.0.0.0", 0) or e["flags"] != "-":
                err("tablefull: TABLE_FULL carries a tuple or flags: %s" % e)
        want = {"table_full": "3", "table_entries": str(max_entries),
                "table_max": str(max_entries), "ports_exhausted": "0"}
        for k, v in want.items():
            if stats.get(k) != v:
                err("tablefull: NATSTATS %s=%s, want %s" % (k, stats.get(k), v))
        print("tablefull: TABLE_FULL %s, conntrack drop +%d, table %s of %s" % (
            [e["count"] for e in full_events], dropped, stats.get("table_entries"),
            stats.get("table_max")))

    for e in errors:
        print("FAIL: " + e)
    if errors:
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
