#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""UDP flows of known sizes for the fault tests.

usage: gen.py --dst IP --dport P --flows N [--src IP[,IP...]] [--sport-base S]
              [--packets K] [--payload B] [--interleave] [--rounds R --gap SEC]
              [--rate PPS]

Flow i goes from source address src[i // ports_per_src] and port
sport_base + i % ports_per_src (ports_per_src = 65535 - sport_base + 1) to
dst:dport with K packets of B payload bytes, so it counts K packets and
K * (28 + B) IP octets. --interleave sends packet 1 of every flow, then
packet 2, ... (all flows are alive at once); otherwise flow after flow.
--rounds repeats the whole thing R times, SEC seconds apart (the packets
per flow are then R * K). Prints "flows=N packets=P octets=O", and with
--timing also "first_wall_ms=W span_ms=S": the wall clock at the first
packet and the CLOCK_MONOTONIC time from the first packet to the last.
--started FILE creates FILE right after the first packet.
"""
import argparse
import resource
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--dst', required=True)
    ap.add_argument('--dport', type=int, required=True)
    ap.add_argument('--src', default='198.18.0.1')
    ap.add_argument('--sport-base', type=int, default=10000)
    ap.add_argument('--flows', type=int, required=True)
    ap.add_argument('--packets', type=int, default=1)
    ap.add_argument('--payload', type=int, default=100)
    ap.add_argument('--interleave', action='store_true')
    ap.add_argument('--rounds', type=int, default=1)
    ap.add_argument('--gap', type=float, default=0.0)
    ap.add_argument('--rate', type=float, default=0.0, help='packets per second (0: as fast as possible)')
    ap.add_argument('--timing', action='store_true')
    ap.add_argument('--started', help='create this file after the first packet')
    a = ap.parse_args()

    srcs = a.src.split(',')
    per_src = 65535 - a.sport_base + 1
    if a.flows > per_src * len(srcs):
        sys.exit(f'gen.py: {a.flows} flows need more than {len(srcs)} source addresses')
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if a.interleave and a.flows + 64 > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, a.flows + 64), hard))
    payload = b'x' * a.payload
    dst = (a.dst, a.dport)
    sent = 0
    t0 = time.monotonic()

    first_wall = first_mono = last_mono = None

    def pace():
        nonlocal sent, first_wall, first_mono, last_mono
        last_mono = time.monotonic()
        if first_mono is None:
            first_wall, first_mono = time.time(), last_mono
            if a.started:
                open(a.started, 'w').close()
        sent += 1
        if a.rate:
            ahead = sent / a.rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)

    def sock(i):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((srcs[i // per_src], a.sport_base + i % per_src))
        return s

    for r in range(a.rounds):
        if r and a.gap:
            time.sleep(a.gap)
        if a.interleave:
            socks = [sock(i) for i in range(a.flows)]
            for _ in range(a.packets):
                for s in socks:
                    s.sendto(payload, dst)
                    pace()
            for s in socks:
                s.close()
        else:
            for i in range(a.flows):
                s = sock(i)
                for _ in range(a.packets):
                    s.sendto(payload, dst)
                    pace()
                s.close()
    n = a.flows * a.packets * a.rounds
    timing = ''
    if a.timing:
        timing = f' first_wall_ms={int(first_wall * 1000)} span_ms={int((last_mono - first_mono) * 1000)}'
    print(f'flows={a.flows} packets={n} octets={n * (28 + a.payload)}{timing}')


if __name__ == '__main__':
    main()
