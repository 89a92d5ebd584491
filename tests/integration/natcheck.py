#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Check exported translations against the kernel's conntrack table.

usage: natcheck.py CONNTRACK_TXT XF_COLLECT_JSONL NFDUMP_JSON BASE_PORT [--sampled]

CONNTRACK_TXT is `conntrack -L -o extended` output. For every translated
connection (original tuple O, reply tuple R, O != inverse(R)) a flow with one
of the four tuples a packet of it can carry must show, in its own direction
(docs/nat.md):
  O        observed before NAT   post = inverse(R)   pre = O
  inv(R)   observed after NAT    post = inverse(R)   pre = O
  R        observed before NAT   post = inverse(O)   pre = R
  inv(O)   observed after NAT    post = inverse(O)   pre = R
This is written from the definition, independently of src/xlat.c. Flows of
untranslated connections must carry no translation. Every connection the
test made (client ports BASE+1..) must have been seen at every observation
point its path crosses, and nfdump must decode the same post-NAT IPv4 fields.
With --sampled (packet sampling on), some observation points may have no
kept packet, so coverage is only checked to be non-empty overall.
"""
import ipaddress
import json
import sys

PROTO = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58, "sctp": 132}


def parse_conntrack(path):
    conns = []
    for line in open(path):
        tok = line.split()
        if len(tok) < 4 or tok[0] not in ("ipv4", "ipv6"):
            continue
        proto = PROTO.get(tok[2])
        if proto is None:
            continue
        kv = [t.split("=", 1) for t in tok if "=" in t]
        tuples, cur, zone = [], {}, 0
        for k, v in kv:
            if k == "zone":
                zone = int(v)
            if k not in ("src", "dst", "sport", "dport", "type", "code", "id"):
                continue
            if k == "src" and "src" in cur:
                tuples.append(cur)
                cur = {}
            cur[k] = v
        tuples.append(cur)
        if len(tuples) < 2:
            continue

        def tup(d):
            icmp = proto in (1, 58)
            return (ipaddress.ip_address(d["src"]), ipaddress.ip_address(d["dst"]),
                    0 if icmp else int(d.get("sport", 0)), 0 if icmp else int(d.get("dport", 0)),
                    proto)
        conn = {"orig": tup(tuples[0]), "reply": tup(tuples[1]), "zone": zone,
                "line": line.strip()}
        # `conntrack -L` may list a connection once per family query
        if not any(c["orig"] == conn["orig"] and c["zone"] == zone for c in conns):
            conns.append(conn)
    return conns


def inv(t):
    return (t[1], t[0], t[3], t[2], t[4])


def load_jsonl(path):
    out = []
    for line in open(path):
        line = line.strip()
        if line:
            out.append(json.loads(line))
    return out


def flow_tuple(r):
    src = r.get("sourceIPv4Address") or r.get("sourceIPv6Address")
    dst = r.get("destinationIPv4Address") or r.get("destinationIPv6Address")
    proto = r["protocolIdentifier"]
    icmp = proto in (1, 58)
    return (ipaddress.ip_address(src), ipaddress.ip_address(dst),
            0 if icmp else r.get("sourceTransportPort", 0),
            0 if icmp else r.get("destinationTransportPort", 0), proto)


def main():
    conns = parse_conntrack(sys.argv[1])
    records = [r for r in load_jsonl(sys.argv[2]) if "protocolIdentifier" in r]
    nfdump = json.load(open(sys.argv[3])) if open(sys.argv[3]).read().strip() else []
    base = int(sys.argv[4])
    sampled = "--sampled" in sys.argv[5:]
    fails = []

    # tuple -> (conn, role)
    index = {}
    nat_conns = [c for c in conns if c["orig"] != inv(c["reply"])]
    for c in nat_conns:
        o, r = c["orig"], c["reply"]
        for role, t in (("O", o), ("invR", inv(r)), ("R", r), ("invO", inv(o))):
            index.setdefault(t, (c, role))

    seen = {}
    for rec in records:
        t = flow_tuple(rec)
        hit = index.get(t)
        name = "%s %s:%d -> %s:%d" % (rec["protocolIdentifier"], t[0], t[2], t[1], t[3])
        if not hit:
            nat_keys = [k for k in rec if k.startswith("postN") or k.startswith("xlat")]
            if nat_keys:
                fails.append("%s: untranslated flow carries %s" % (name, nat_keys))
            continue
        c, role = hit
        seen.setdefault(id(c), set()).add(role)
        o, r = c["orig"], c["reply"]
        if role in ("O", "invR"):
            post, pre = inv(r), o
        else:
            post, pre = inv(o), r
        observed = 1 if role in ("O", "R") else 2
        v6 = t[0].version == 6
        want = {
            ("postNATSourceIPv6Address" if v6 else "postNATSourceIPv4Address"): str(post[0]),
            ("postNATDestinationIPv6Address" if v6 else "postNATDestinationIPv4Address"): str(post[1]),
            "postNAPTSourceTransportPort": post[2],
            "postNAPTDestinationTransportPort": post[3],
            ("xlatPreSourceIPv6Address" if v6 else "xlatPreSourceIPv4Address"): str(pre[0]),
            ("xlatPreDestinationIPv6Address" if v6 else "xlatPreDestinationIPv4Address"): str(pre[1]),
            "xlatPreSourceTransportPort": pre[2],
            "xlatPreDestinationTransportPort": pre[3],
            "xlatObservationPoint": observed,
            "xlatZoneId": c["zone"],
        }
        for k, v in want.items():
            got = rec.get(k)
            if isinstance(got, str) and isinstance(v, str):
                try:
                    got = str(ipaddress.ip_address(got))
                except ValueError:
                    pass
            if got != v:
                fails.append("%s (%s of %s): %s = %r, expected %r" % (name, role, c["line"], k,
                                                                       got, v))
        # nfdump must decode the same IPv4 translation
        if not v6:
            matches = [n for n in nfdump if n.get("src4_addr") == str(t[0]) and
                       n.get("dst4_addr") == str(t[1]) and n.get("proto") == t[4] and
                       (t[4] in (1, 58) or (n.get("src_port") == t[2] and n.get("dst_port") == t[3]))]
            if not matches:
                fails.append("%s: not in nfdump output" % name)
            for n in matches:
                # nfdump prints the translated ports as strings
                got = (n.get("src4_xlt_ip"), n.get("dst4_xlt_ip"), int(n.get("src_xlt_port", -1)),
                       int(n.get("dst_xlt_port", -1)))
                exp = (str(post[0]), str(post[1]), post[2], post[3])
                if got != exp:
                    fails.append("%s: nfdump xlt %s, expected %s" % (name, got, exp))

    # coverage: every connection of the test at every point its path crosses
    ours = [c for c in nat_conns if c["orig"][4] in (1, 58) or base < c["orig"][2] <= base + 100]
    if len(ours) < 20:
        fails.append("only %d translated connections of the test in conntrack (want >= 20):\n%s" %
                     (len(ours), "\n".join(c["line"] for c in conns)))
    for c in ([] if sampled else ours):
        local = str(c["orig"][0]) == "198.18.2.1"  # case H: the node's own socket
        need = {"invR", "R"} if local else {"O", "invR", "R", "invO"}
        got = seen.get(id(c), set())
        if not need <= got:
            fails.append("connection %s: flows seen as %s, expected %s" % (c["line"], sorted(got),
                                                                            sorted(need)))
    if sampled and not seen:
        fails.append("no flow of a translated connection was kept")
    zones = sorted({c["zone"] for c in ours})
    if zones != [0, 7, 9]:
        fails.append("zones of the test's connections: %s, expected [0, 7, 9]" % zones)

    checked = sum(len(v) for v in seen.values())
    if fails:
        for f in fails:
            print("FAIL", f)
        print("%d flows of %d translated connections checked, %d failures" %
              (checked, len(ours), len(fails)))
        return 1
    print("ok: %d flows of %d translated connections carry exactly conntrack's translation "
          "(zones %s)" % (checked, len(ours), zones))
    return 0


if __name__ == "__main__":
    sys.exit(main())
