#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Compare the NAT events xf-natwatch printed with what conntrack reported.

  check-events.py SOURCE EVENTS CONNTRACK STDERR --creates N
                  --insert-failed N --drop N --conns-left N

EVENTS: xf-natwatch --events --destroy JSON lines. CONNTRACK: the output of
`conntrack -E -o timestamp,extended,ktimestamp,id` in the router, the truth.
STDERR: xf-natwatch's stderr (the counters line).

Passes when:
- the translated connections conntrack announced (NEW whose reply tuple is
  not the inverse of the original) are the scenario's N (4 of them through
  the 4-port range; under emulation conntrack may also announce a
  connection twice, or a fifth through the range: see main()), and the
  CREATE events are
  exactly them (family, protocol, zone, both tuples), each at most 5 ms
  after and 1 s before conntrack -E read it (the tool's wake-up lag
  under emulation) and within 50 ms of the kernel's own start timestamp of
  the connection (the DELETE's start time);
- the DELETE events are exactly conntrack's DESTROYs of translated
  connections, with the same per-direction packets and octets (accounting
  on), a start time in the second conntrack prints and within 50 ms of the
  connection's CREATE, each at most 5 ms after and 1 s before conntrack
  -E read it; the destroy
  callback got each of them once;
- PORTS_EXHAUSTED events equal conntrack's insert_failed increase (> 0),
  each a masquerade to 198.18.2.1:40000-40003 of a connection to
  198.18.2.2:7000; TABLE_FULL events equal its drop increase (> 0), each a
  connection to 198.19.0.12:80;
- every event comes from SOURCE, the hook's counters agree with the lines,
  nothing was lost, and the "already reported" map is empty again (N left).
"""
import argparse
import collections
import json
import re
import sys
import time

WINDOW_NS = 50 * 1000000
# conntrack -E stamps an event when the tool reads it: after the kernel's
# time, which the hooks report. Under QEMU TCG its wake-up lags by up to
# ~270 ms on an idle host (measured; ~490 ms under load), so against it an
# event may be up to LAG_NS early and at most SKEW_NS late (clock reads).
LAG_NS = 1000 * 1000000
SKEW_NS = 5 * 1000000

CT_LINE = re.compile(r"^\[(\d+)\.(\d+)\]\s+\[(NEW|DESTROY|UPDATE)\]\s+(ipv4|ipv6)\s+\d+\s+(\w+)\s+\d+\s+(.*)$")


def tuple_text(fam, src, sport, dst, dport):
    if fam == 6:
        return "[%s]:%s->[%s]:%s" % (src, sport, dst, dport)
    return "%s:%s->%s:%s" % (src, sport, dst, dport)


def parse_conntrack(path):
    """Translated connections' NEW and DESTROY events, in order."""
    out = []
    with open(path) as f:
        for line in f:
            m = CT_LINE.match(line.strip())
            if not m:
                continue
            sec, usec, what, l3, proto, rest = m.groups()
            fam = 4 if l3 == "ipv4" else 6
            kv = re.findall(r"(\w[\w-]*)=([^\s\]]+)", rest.split("[start=")[0])
            src = [v for k, v in kv if k == "src"]
            dst = [v for k, v in kv if k == "dst"]
            sport = [v for k, v in kv if k == "sport"] or ["0", "0"]
            dport = [v for k, v in kv if k == "dport"] or ["0", "0"]
            packets = [int(v) for k, v in kv if k == "packets"]
            octets = [int(v) for k, v in kv if k == "bytes"]
            zone = int(dict(kv).get("zone", 0))
            orig = tuple_text(fam, src[0], sport[0], dst[0], dport[0])
            reply = tuple_text(fam, src[1], sport[1], dst[1], dport[1])
            natted = (src[1], sport[1], dst[1], dport[1]) != (dst[0], dport[0], src[0], sport[0])
            if not natted or what == "UPDATE":
                continue
            start = re.search(r"\[start=([^\]]+)\]", rest)
            out.append({
                "what": what,
                "key": (fam, proto, zone, orig, reply),
                "wall_ns": int(sec) * 1000000000 + int(usec.ljust(6, "0")[:6]) * 1000,
                "packets": packets,
                "octets": octets,
                "start": start.group(1) if start else None,
            })
    return out


def key_of(ev):
    return (ev["family"], ev["proto"], ev["zone"], ev["orig"], ev["reply"])


def pair(ours, theirs, what, bad):
    """Match events by key, in order; returns [(ours, theirs)]."""
    by_key = collections.defaultdict(list)
    for t in theirs:
        by_key[t["key"]].append(t)
    pairs = []
    for o in ours:
        lst = by_key.get(key_of(o))
        if not lst:
            bad.append("%s not reported by conntrack: %s" % (what, key_of(o)))
            continue
        pairs.append((o, lst.pop(0)))
    for k, lst in by_key.items():
        for t in lst:
            bad.append("%s missing: %s" % (what, k))
    return pairs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("source")
    ap.add_argument("events")
    ap.add_argument("conntrack")
    ap.add_argument("stderr")
    ap.add_argument("--creates", type=int, required=True)
    ap.add_argument("--insert-failed", type=int, required=True)
    ap.add_argument("--drop", type=int, required=True)
    ap.add_argument("--conns-left", type=int, required=True)
    a = ap.parse_args()
    bad = []

    evs = collections.defaultdict(list)
    with open(a.events) as f:
        for line in f:
            ev = json.loads(line)
            evs[ev["kind"]].append(ev)
            if ev["source"] != a.source:
                bad.append("source %s, want %s: %s" % (ev["source"], a.source, line.strip()))
    ct = parse_conntrack(a.conntrack)
    ct_new = [c for c in ct if c["what"] == "NEW"]
    ct_del = [c for c in ct if c["what"] == "DESTROY"]

    # The scenario's connections, by original tuple. Under emulation
    # conntrack may announce more than the scenario meant, in two ways the
    # kernel is right about, and each such entry must still be exactly one
    # CREATE and one DELETE (pair() below):
    # - an original tuple twice: the scenario's 1 s closing and UDP timeouts
    #   expired an entry before the connection's last packet, which started a
    #   second entry (loose pickup);
    # - a fifth connection through the 4-port masquerade range: one of the
    #   16 waiting connections' SYN retransmissions found a port that a
    #   closed connection's expired entry gave back.
    # Every other connection is the scenario's, exactly.
    ranged = {c["key"][:4] for c in ct_new if c["key"][3].endswith("->198.18.2.2:7000")}
    other = {c["key"][:4] for c in ct_new} - ranged
    if len(other) + 4 != a.creates or not 4 <= len(ranged) <= 20:
        bad.append("conntrack announced %d translated connections (%d through the 4-port "
                   "range), the scenario made %d (4 through it)"
                   % (len(other) + len(ranged), len(ranged), a.creates))
    if len(ct_new) != len(other) + len(ranged):
        print("%s: conntrack announced %d connections twice (an entry expired before its "
              "last packet)" % (a.source, len(ct_new) - len(other) - len(ranged)))
    if len(ranged) > 4:
        print("%s: %d connections through the 4-port range, 4 held at once (a retried SYN "
              "found a port given back)" % (a.source, len(ranged)))
    creates = pair(evs["create"], ct_new, "CREATE", bad)
    lags = []
    for o, t in creates:
        lags.append(t["wall_ns"] - o["wall_ns"])
        if not -SKEW_NS <= t["wall_ns"] - o["wall_ns"] <= LAG_NS:
            bad.append("CREATE %.1f ms from conntrack's NEW: %s"
                       % ((o["wall_ns"] - t["wall_ns"]) / 1e6, key_of(o)))
    created_at = collections.defaultdict(list)  # in order: a key can be created twice
    for o, _ in creates:
        created_at[key_of(o)].append(o["wall_ns"])

    deletes = pair(evs["delete"], ct_del, "DELETE", bad)
    for o, t in deletes:
        k = key_of(o)
        lags.append(t["wall_ns"] - o["wall_ns"])
        if not -SKEW_NS <= t["wall_ns"] - o["wall_ns"] <= LAG_NS:
            bad.append("DELETE %.1f ms from conntrack's DESTROY: %s"
                       % ((o["wall_ns"] - t["wall_ns"]) / 1e6, k))
        if o["flags"] & 3 != 3:
            bad.append("DELETE flags %d, want start and counters: %s" % (o["flags"], k))
        if o["packets"] != t["packets"] or o["octets"] != t["octets"]:
            bad.append("DELETE packets %s octets %s, conntrack %s %s: %s"
                       % (o["packets"], o["octets"], t["packets"], t["octets"], k))
        if t["start"]:
            want = int(time.mktime(time.strptime(t["start"], "%a %b %d %H:%M:%S %Y")))
            if o["start_wall_ns"] // 1000000000 != want:
                bad.append("DELETE start %d s, conntrack's %d: %s"
                           % (o["start_wall_ns"] // 1000000000, want, k))
        else:
            bad.append("conntrack's DESTROY has no start time: %s" % (k,))
        if created_at[k]:
            c_ns = created_at[k].pop(0)
            if abs(o["start_wall_ns"] - c_ns) > WINDOW_NS:
                bad.append("DELETE start %.1f ms from the CREATE: %s"
                           % ((o["start_wall_ns"] - c_ns) / 1e6, k))
    destroyed = collections.Counter(key_of(o) for o in evs["destroy"])
    if destroyed != collections.Counter(key_of(o) for o in evs["delete"]):
        bad.append("destroy callback %s, DELETE events %s" % (
            sorted(destroyed.items()), sorted(collections.Counter(key_of(o) for o in evs["delete"]).items())))

    ports = evs["ports_exhausted"]
    if len(ports) != a.insert_failed or not ports:
        bad.append("%d PORTS_EXHAUSTED, conntrack's insert_failed grew by %d"
                   % (len(ports), a.insert_failed))
    for o in ports:
        if not (o["proto"] == "tcp" and o["orig"].endswith("->198.18.2.2:7000")
                and re.fullmatch(r"198\.18\.2\.2:7000->198\.18\.2\.1:4000[0-3]", o["reply"])
                and o["count"] == 1):
            bad.append("PORTS_EXHAUSTED not the 4-port masquerade's: %s" % (key_of(o),))
    full = evs["table_full"]
    if len(full) != a.drop or not full:
        bad.append("%d TABLE_FULL, conntrack's drop grew by %d" % (len(full), a.drop))
    for o in full:
        if not (o["proto"] == "tcp" and o["orig"].startswith("198.18.1.2:")
                and o["orig"].endswith("->198.19.0.12:80") and o["count"] == 1):
            bad.append("TABLE_FULL not for 198.19.0.12:80: %s" % (key_of(o),))

    with open(a.stderr) as f:
        text = f.read()
    m = re.search(r"counters (.*)", text)
    cnt = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))) if m else {}
    if not cnt:
        bad.append("no counters line in xf-natwatch stderr")
    else:
        for kind in ("create", "delete", "ports_exhausted", "table_full"):
            if cnt[kind] != len(evs[kind]):
                bad.append("counter %s=%d, %d lines" % (kind, cnt[kind], len(evs[kind])))
            if cnt["lost_" + kind]:
                bad.append("counter lost_%s=%d" % (kind, cnt["lost_" + kind]))
        for c in ("rb_lost", "unsupported", "map_full"):
            if cnt[c]:
                bad.append("counter %s=%d" % (c, cnt[c]))
    if a.conns_left:
        bad.append("%d entries left in xlat_conns after every connection ended" % a.conns_left)

    if lags:
        lags.sort()
        print("%s: conntrack -E read the events %.1f ms (median), %.1f ms (max) after them"
              % (a.source, lags[len(lags) // 2] / 1e6, lags[-1] / 1e6))
    for b in bad:
        print("FAIL %s: %s" % (a.source, b))
    print("%s: %d CREATE, %d DELETE, %d PORTS_EXHAUSTED, %d TABLE_FULL, %s" % (
        a.source, len(evs["create"]), len(evs["delete"]), len(ports), len(full),
        "FAIL" if bad else "ok"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
