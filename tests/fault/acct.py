#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Exact per-flow accounting of xf-collect output (JSON lines) for gen.py flows.

usage: acct.py FILE... --src IP[,IP...] --dport P --sport-base S --flows N
               --packets K --payload B [--mode exact|whole|absent]
               [--reason R] [--max-records-per-flow M] [--summary]

Selects the data records of UDP flows SRC:* -> *:P (several files are read
as one stream: the same collector restarted). Flows are numbered as gen.py
numbers them.
  exact   every flow i < N is there, its records add up to exactly K packets
          and K * (28 + B) octets, no record of a port outside the range
  whole   every flow that is there is exact (a flow is all or nothing:
          lost with the datagram that carried it, never half counted)
  absent  no record at all
Always: start <= end and no record counts more than a flow sent.
--reason R: every selected record has flowEndReason R.
--summary prints "records=.. flows=.. packets=.. octets=.. missing=.." and
the sum of the last options records' counters found (as "opt_NAME=V").
"""
import argparse
import json
import sys


def load(paths):
    out = []
    for p in paths:
        try:
            text = open(p).read()
        except FileNotFoundError:
            continue
        for line in text.splitlines():
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('files', nargs='+')
    ap.add_argument('--src', required=True)
    ap.add_argument('--dport', type=int, required=True)
    ap.add_argument('--sport-base', type=int, default=10000)
    ap.add_argument('--flows', type=int, required=True)
    ap.add_argument('--packets', type=int, default=1)
    ap.add_argument('--payload', type=int, default=100)
    ap.add_argument('--mode', choices=('exact', 'whole', 'absent'), default='exact')
    ap.add_argument('--reason', type=int)
    ap.add_argument('--max-records-per-flow', type=int, default=0)
    ap.add_argument('--summary', action='store_true')
    a = ap.parse_args()

    recs = load(a.files)
    data = [r for r in recs if r.get('set') == 'data']
    srcs = a.src.split(',')
    per_src = 65535 - a.sport_base + 1
    sel = [r for r in data if r.get('sourceIPv4Address') in srcs
           and r.get('destinationTransportPort') == a.dport
           and r.get('protocolIdentifier') == 17]
    want_p, want_o = a.packets, a.packets * (28 + a.payload)
    flows = {}
    errors = []
    for r in sel:
        port = r.get('sourceTransportPort')
        i = srcs.index(r['sourceIPv4Address']) * per_src + port - a.sport_base
        if not (port >= a.sport_base and 0 <= i < a.flows):
            errors.append(f'record of a flow never sent: source port {port}')
            continue
        f = flows.setdefault(i, [0, 0, 0])
        f[0] += r.get('packetDeltaCount', 0)
        f[1] += r.get('octetDeltaCount', 0)
        f[2] += 1
        s, e = r.get('flowStartMilliseconds'), r.get('flowEndMilliseconds')
        if s is None or e is None or s > e:
            errors.append(f'flow {port}: start {s} end {e}')
        if a.reason is not None and r.get('flowEndReason') != a.reason:
            errors.append(f'flow {port}: flowEndReason {r.get("flowEndReason")}, expected {a.reason}')
    for i, (p, o, n) in sorted(flows.items()):
        if p != want_p or o != want_o:
            errors.append(f'flow {a.sport_base + i}: {p} packets {o} octets in {n} records, '
                          f'sent {want_p} packets {want_o} octets')
        if a.max_records_per_flow and n > a.max_records_per_flow:
            errors.append(f'flow {a.sport_base + i}: {n} records')
    missing = a.flows - len(flows)
    if a.mode == 'exact' and missing:
        some = [a.sport_base + i for i in range(a.flows) if i not in flows][:10]
        errors.append(f'{missing} of {a.flows} flows missing (source ports {some} ...)')
    if a.mode == 'absent' and sel:
        errors.append(f'{len(sel)} records present, expected none')
    if a.summary:
        opts = {}
        # options records are cumulative: the last one of each template wins
        last = {}
        for r in recs:
            if r.get('set') == 'options':
                last[(r.get('template_id'), r.get('observation_domain'))] = r
        for r in last.values():
            for k, v in r.items():
                if k.endswith('TotalCount') and isinstance(v, int):
                    opts[k] = opts.get(k, 0) + v
        print(f'records={len(sel)} flows={len(flows)} '
              f'packets={sum(f[0] for f in flows.values())} '
              f'octets={sum(f[1] for f in flows.values())} missing={missing} '
              f'all_data={len(data)} '
              + ' '.join(f'opt_{k}={v}' for k, v in sorted(opts.items())))
    for e in errors[:20]:
        print('FAIL acct:', e, file=sys.stderr)
    if len(errors) > 20:
        print(f'FAIL acct: ... {len(errors) - 20} more', file=sys.stderr)
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
