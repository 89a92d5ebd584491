#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Exact assertions on decoded flow records.

usage: flowcheck.py RECORDS EXPECT
  RECORDS  nfdump -o json output (a JSON array) or JSON lines (xf-collect)
  EXPECT   JSON list of {"name": ..., "match": {field: value}, "expect": {field: value},
           "records": N (optional, default 1)}
For each expectation, the records whose fields equal every "match" value are
selected; there must be exactly "records" of them, and every "expect" field
must be equal in each of them (numbers in "sum" are compared to the total over
the selected records instead).
"""
import json
import sys


def load(path):
    text = open(path).read().strip()
    if not text:
        return []
    if text.startswith('['):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def main():
    records = load(sys.argv[1])
    expectations = json.load(open(sys.argv[2]))
    failures = 0
    for e in expectations:
        sel = [r for r in records if all(r.get(k) == v for k, v in e['match'].items())]
        want = e.get('records', 1)
        if len(sel) != want:
            print(f"FAIL {e['name']}: {len(sel)} records match {e['match']}, expected {want}")
            failures += 1
            continue
        for k, v in e.get('expect', {}).items():
            got = [r.get(k) for r in sel]
            if any(g != v for g in got):
                print(f"FAIL {e['name']}: {k} = {got}, expected {v}")
                failures += 1
        for k, v in e.get('sum', {}).items():
            got = sum(r.get(k, 0) for r in sel)
            if got != v:
                print(f"FAIL {e['name']}: sum of {k} = {got}, expected {v}")
                failures += 1
        if not failures:
            print(f"ok {e['name']}")
    if failures:
        print(f"{failures} failed; records were:")
        for r in records:
            print(json.dumps(r, sort_keys=True))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
