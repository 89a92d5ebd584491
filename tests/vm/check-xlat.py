#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Compare xf-natwatch output with the translations a scenario expects.

  check-xlat.py SOURCE EXPECTED EVENTS STDERR

EXPECTED: one translation per line, "family proto zone orig reply" (orig and
reply as xf-natwatch prints them). EVENTS: xf-natwatch's JSON lines. STDERR:
its stderr, with the "counters" line.

Passes when the events are exactly the expected set (no missing, no extra),
all from SOURCE with reply_family equal to the original's. For the BPF
sources each translation must also come exactly as often as EXPECTED lists
it (the hook deduplicates per connection and re-emits after
XF_XLAT_REFRESH_NS), and the counters agree: events == printed lines, no ring buffer loss, no unsupported
family, at least one hook call per event. Conntrack reports a connection on
every NEW/UPDATE event, so repeats are allowed there.
"""
import collections
import json
import re
import sys


def main():
    source, expected_path, events_path, stderr_path = sys.argv[1:5]
    expected = []
    with open(expected_path) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                fam, proto, zone, orig, reply = line.split()
                expected.append((int(fam), proto, int(zone), orig, reply))

    got = []
    bad = []
    with open(events_path) as f:
        for line in f:
            ev = json.loads(line)
            got.append((ev["family"], ev["proto"], ev["zone"], ev["orig"], ev["reply"]))
            if ev["source"] != source:
                bad.append("source %s, want %s: %s" % (ev["source"], source, line.strip()))
            if ev["reply_family"] != ev["family"]:
                bad.append("reply family differs: " + line.strip())

    for e in sorted(set(expected) - set(got)):
        bad.append("missing: %s" % (e,))
    for e in sorted(set(got) - set(expected)):
        bad.append("unexpected: %s" % (e,))
    want_n, got_n = collections.Counter(expected), collections.Counter(got)
    for e in sorted(set(got) & set(expected)):
        if source != "conntrack" and got_n[e] != want_n[e]:
            bad.append("%d times, want %d: %s" % (got_n[e], want_n[e], e))

    with open(stderr_path) as f:
        text = f.read()
    m = re.search(r"counters calls=(\d+) events=(\d+) rb_lost=(\d+) unsupported=(\d+) "
                  r"printed=(\d+)", text)
    if source == "conntrack":
        pass
    elif not m:
        bad.append("no counters line in xf-natwatch stderr")
    else:
        calls, events, lost, unsup, printed = map(int, m.groups())
        if events != len(got) or printed != len(got):
            bad.append("counters: events=%d printed=%d, %d lines" % (events, printed, len(got)))
        if lost or unsup:
            bad.append("counters: rb_lost=%d unsupported=%d" % (lost, unsup))
        if calls < events:
            bad.append("counters: calls=%d < events=%d" % (calls, events))
        print("%s: counters calls=%d events=%d" % (source, calls, events))

    for b in bad:
        print("FAIL %s: %s" % (source, b))
    print("%s: %d expected, %d received, %s" % (source, len(expected), len(got),
                                                 "FAIL" if bad else "ok"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
