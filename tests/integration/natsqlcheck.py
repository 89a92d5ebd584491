#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Check the rows nfacctd wrote into PostgreSQL against the kernel's conntrack table.

usage: natsqlcheck.py CONNTRACK_TXT --packets
       natsqlcheck.py CONNTRACK_TXT ROWS_CSV EXPORTER BASE_PORT

CONNTRACK_TXT is `conntrack -L -o extended` output taken with
net.netfilter.nf_conntrack_acct = 1, so that each tuple carries the packets
and bytes conntrack counted in its direction. ROWS_CSV is `psql --csv` output
of nat_pgsql.sh's query on the view xlat_flows
(templates/pmacct-postgresql/schema.sql): one row per flow key and
translation, packets and bytes summed over the purges.

Every translated connection (O != inverse(R)) must have exactly these rows
(docs/nat.md, "The four tuples of a translated connection"), each with
EXPORTER as exporter and the connection's conntrack zone:

  flow key   observed  pre  post     xlat_type       packets, bytes
  O          1         O    inv(R)   SNAT|DNAT bits  conntrack's original direction
  inv(R)     2         O    inv(R)
  R          1         R    inv(O)                   conntrack's reply direction
  inv(O)     2         R    inv(O)

except that a connection from the node's own socket (case H, source
198.18.2.1) crosses no interface before its OUTPUT NAT: only inv(R) and R.
No other row may carry a translation, and no row without one may have the
flow key of a translated connection. The connections of the test (client
ports BASE+1.., and ICMP) must all be there, in zones 0, 7 and 9.

With --packets, print the packets the translated rows must add up to (the
test waits for the database to hold them before it stops nfacctd).
"""
import csv
import ipaddress
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from natcheck import inv, parse_conntrack  # noqa: E402

COLUMNS = ("exporter", "ip_proto", "ip_src", "ip_dst", "port_src", "port_dst", "observed",
           "xlat_type", "zone", "pre_src", "pre_dst", "pre_sport", "pre_dport", "post_src",
           "post_dst", "post_sport", "post_dport", "packets", "bytes")


def nat_type(o, r):
    """xlatType: bit 0 source NAT (C:cp != C':cp'), bit 1 destination NAT (S:sp != B:bp)."""
    return (1 if (o[0], o[2]) != (r[1], r[3]) else 0) | (2 if (o[1], o[3]) != (r[0], r[2]) else 0)


def expected_rows(conns, exporter):
    """flow key -> (the row's other columns, the conntrack line it comes from)"""
    rows = {}
    for c in conns:
        o, r = c["orig"], c["reply"]
        if c["orig_counts"] is None or c["reply_counts"] is None:
            raise SystemExit("FAIL conntrack has no counters (nf_conntrack_acct off?): %s" %
                             c["line"])
        local = str(o[0]) == "198.18.2.1"  # case H: the node's own socket
        for role, key, pre, post, observed, counts in (
                ("O", o, o, inv(r), 1, c["orig_counts"]),
                ("invR", inv(r), o, inv(r), 2, c["orig_counts"]),
                ("R", r, r, inv(o), 1, c["reply_counts"]),
                ("invO", inv(o), r, inv(o), 2, c["reply_counts"])):
            if local and role in ("O", "invO"):
                continue
            want = {"exporter": exporter, "observed": observed, "xlat_type": nat_type(o, r),
                    "zone": c["zone"], "pre_src": str(pre[0]), "pre_dst": str(pre[1]),
                    "pre_sport": pre[2], "pre_dport": pre[3], "post_src": str(post[0]),
                    "post_dst": str(post[1]), "post_sport": post[2], "post_dport": post[3],
                    "packets": counts[0], "bytes": counts[1]}
            if key in rows:
                raise SystemExit("FAIL two connections share the tuple %s:\n%s\n%s" %
                                 (key, rows[key][1], c["line"]))
            rows[key] = (want, "%s of %s" % (role, c["line"]))
    return rows


def row_key(r):
    return (ipaddress.ip_address(r["ip_src"]), ipaddress.ip_address(r["ip_dst"]),
            int(r["port_src"]), int(r["port_dst"]), int(r["ip_proto"]))


def row_value(k, v):
    if v == "":
        return None
    if k in ("exporter", "pre_src", "pre_dst", "post_src", "post_dst"):
        return str(ipaddress.ip_address(v))
    return int(v)


def main():
    conns = [c for c in parse_conntrack(sys.argv[1]) if c["orig"] != inv(c["reply"])]
    if sys.argv[2:] == ["--packets"]:
        rows = expected_rows(conns, "")
        print(sum(want["packets"] for want, _ in rows.values()))
        return 0
    rows_csv, exporter, base = sys.argv[2], sys.argv[3], int(sys.argv[4])
    want_rows = expected_rows(conns, exporter)
    fails = []
    got_rows = list(csv.DictReader(open(rows_csv)))
    if got_rows and tuple(got_rows[0].keys()) != COLUMNS:
        raise SystemExit("FAIL query columns %s, expected %s" % (tuple(got_rows[0].keys()),
                                                                  COLUMNS))
    seen, plain = set(), 0
    for r in got_rows:
        key = row_key(r)
        name = "%d %s:%d -> %s:%d" % (key[4], key[0], key[2], key[1], key[3])
        hit = want_rows.get(key)
        if r["observed"] == "":
            plain += 1
            if hit:
                fails.append("%s: row without a translation, expected %s" % (name, hit[1]))
            continue
        if not hit:
            fails.append("%s: translated row of no translated connection: %s" % (name, r))
            continue
        if key in seen:
            fails.append("%s: more than one row (different translations)" % name)
        seen.add(key)
        want, origin = hit
        for k, v in want.items():
            got = row_value(k, r[k])
            if got != v:
                fails.append("%s (%s): %s = %r, expected %r" % (name, origin, k, got, v))
    for key, (want, origin) in want_rows.items():
        if key not in seen:
            fails.append("no row for %d %s:%d -> %s:%d (%s)" % (key[4], key[0], key[2], key[1],
                                                              key[3], origin))

    ours = [c for c in conns if c["orig"][4] in (1, 58) or base < c["orig"][2] <= base + 100]
    if len(ours) < 20:
        fails.append("only %d translated connections of the test in conntrack (want >= 20)" %
                     len(ours))
    zones = sorted({c["zone"] for c in ours})
    if zones != [0, 7, 9]:
        fails.append("zones of the test's connections: %s, expected [0, 7, 9]" % zones)

    packets = sum(want["packets"] for want, _ in want_rows.values())
    if fails:
        for f in fails:
            print("FAIL", f)
        print("%d rows for %d translated connections checked, %d failures" %
              (len(want_rows), len(conns), len(fails)))
        return 1
    print("ok: %d rows for %d translated connections (%d packets, zones %s) hold exactly "
          "conntrack's translation and counters; %d rows of untranslated flows" %
          (len(want_rows), len(conns), packets, zones, plain))
    return 0


if __name__ == "__main__":
    sys.exit(main())
