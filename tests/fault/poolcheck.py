#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Exact accounting of UDP flows across the members of a collector group.

usage: poolcheck.py MEMBER... --src IP --dport P --sport-base S --flows N
                    --packets K --payload B [--echo] [--hash] [--even]
                    [--absent I[,I...]] [--present I[,I...]] [--lossy]

Each MEMBER is the xf-collect output of one group member, several files
joined by commas when the member was restarted. Flow i goes SRC:(S+i) ->
*:P with K packets of B payload bytes (tests/fault/gen.py numbering);
--echo: each was answered packet for packet (*:P -> SRC:(S+i)), and both
directions are one connection.
Always: every flow (and echo) is there exactly once over all members
together, in one record, with exactly K packets and K * (28 + B) octets.
--hash: all records of one connection (both directions) on one member.
--even: members' record counts differ by at most 1 (round-robin).
--absent: none of these records on those members; --present: some on each.
--lossy: flows may be missing (UDP to a member that just went away), but
each is there whole or not at all, never twice.
Prints the records per member.
"""
import argparse
import json
import sys


def load(spec):
    out = []
    for p in spec.split(','):
        try:
            text = open(p).read()
        except FileNotFoundError:
            continue
        out += [json.loads(line) for line in text.splitlines() if line.strip()]
    return out


def indices(s):
    return [int(x) for x in s.split(',')] if s else []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('members', nargs='+')
    ap.add_argument('--src', required=True)
    ap.add_argument('--dport', type=int, required=True)
    ap.add_argument('--sport-base', type=int, required=True)
    ap.add_argument('--flows', type=int, required=True)
    ap.add_argument('--packets', type=int, required=True)
    ap.add_argument('--payload', type=int, required=True)
    ap.add_argument('--echo', action='store_true')
    ap.add_argument('--hash', action='store_true')
    ap.add_argument('--even', action='store_true')
    ap.add_argument('--absent', default='')
    ap.add_argument('--present', default='')
    ap.add_argument('--lossy', action='store_true')
    a = ap.parse_args()

    want = (a.packets, a.packets * (28 + a.payload))
    seen = {}  # (flow, direction) -> [(member, packets, octets)]
    per_member = [0] * len(a.members)
    for m, spec in enumerate(a.members):
        for r in load(spec):
            if r.get('set') != 'data' or r.get('protocolIdentifier') != 17:
                continue
            sa, da = r.get('sourceIPv4Address'), r.get('destinationIPv4Address')
            sp, dp = r.get('sourceTransportPort'), r.get('destinationTransportPort')
            if sa == a.src and dp == a.dport:
                key = (sp - a.sport_base, 'out')
            elif da == a.src and sp == a.dport:
                key = (dp - a.sport_base, 'echo')
            else:
                continue
            seen.setdefault(key, []).append((m, r.get('packetDeltaCount'), r.get('octetDeltaCount')))
            per_member[m] += 1
    errors = []
    dirs = ('out', 'echo') if a.echo else ('out',)
    lost = 0
    for i in range(a.flows):
        seen[('member', i)] = set()
        for d in dirs:
            got = seen.pop((i, d), [])
            if not got and a.lossy:
                lost += 1
                continue
            if len(got) != 1:
                errors.append(f'flow {a.sport_base + i} {d}: {len(got)} records {got}')
            elif got[0][1:] != want:
                errors.append(f'flow {a.sport_base + i} {d}: {got[0][1]} packets '
                              f'{got[0][2]} octets, sent {want[0]} and {want[1]}')
            seen[('member', i)].update(g[0] for g in got)
        if a.hash and len(seen[('member', i)]) > 1:
            errors.append(f'connection {a.sport_base + i} on members {sorted(seen[("member", i)])}')
    for k in [k for k in seen if k[0] != 'member']:
        errors.append(f'record of a flow never sent: {k}')
    for m in indices(a.absent):
        if per_member[m]:
            errors.append(f'member {m} has {per_member[m]} records, expected none')
    for m in indices(a.present):
        if not per_member[m]:
            errors.append(f'member {m} has no records')
    if a.even and max(per_member) - min(per_member) > 1:
        errors.append(f'round-robin uneven: {per_member}')
    print(f'dport {a.dport}: records per member {per_member}, total {sum(per_member)}'
          + (f', lost {lost}' if a.lossy else ''))
    for e in errors[:20]:
        print('FAIL poolcheck:', e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
