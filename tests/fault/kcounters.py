#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Print the kernel counters (bpf/xlatflow_shared.h enum xf_counter, summed
over CPUs) of one running xlatflowd: its "counters" map is found through the
BPF map ids in /proc/PID/fdinfo, so other daemons on the host do not matter.

usage: kcounters.py PID    ->  "PACKETS=.. OCTETS=.. NON_IP=.. ..."
"""
import json
import os
import subprocess
import sys

NAMES = ['PACKETS', 'OCTETS', 'NON_IP', 'MALFORMED', 'SAMPLED_OUT', 'MAP_FULL',
         'RB_LOST_PACKETS', 'RB_LOST_OCTETS', 'XLAT_CALLS', 'XLAT_EVENTS', 'XLAT_RB_LOST',
         'XLAT_UNSUPPORTED', 'XLAT_MISSES', 'XLAT_MAP_FULL', 'NATEV_CREATE', 'NATEV_DELETE',
         'NATEV_PORTS_EXHAUSTED', 'NATEV_TABLE_FULL', 'NATEV_LOST_CREATE', 'NATEV_LOST_DELETE',
         'NATEV_LOST_PORTS_EXHAUSTED', 'NATEV_LOST_TABLE_FULL', 'RING_FULL_SLOTS']


def map_ids(pid):
    ids = set()
    d = f'/proc/{pid}/fdinfo'
    for fd in os.listdir(d):
        try:
            for line in open(os.path.join(d, fd)):
                if line.startswith('map_id:'):
                    ids.add(int(line.split()[1]))
        except OSError:
            pass
    return ids


def bpftool(*args):
    return json.loads(subprocess.run(['bpftool', '-j', *args], check=True,
                                     capture_output=True, text=True).stdout)


def main():
    pid = int(sys.argv[1])
    found = [i for i in map_ids(pid) if bpftool('map', 'show', 'id', str(i)).get('name') == 'counters']
    if len(found) != 1:
        sys.exit(f'kcounters: {len(found)} maps named counters in pid {pid}')
    vals = [0] * len(NAMES)
    for e in bpftool('map', 'dump', 'id', str(found[0])):
        k = e['key']
        if isinstance(k, list):  # raw bytes, little endian
            k = int.from_bytes(bytes(int(b, 16) for b in k), 'little')
        if k >= len(NAMES):
            continue
        for v in e['values']:
            x = v['value']
            if isinstance(x, list):
                x = int.from_bytes(bytes(int(b, 16) for b in x), 'little')
            vals[k] += x
    print(' '.join(f'{n}={v}' for n, v in zip(NAMES, vals)))


if __name__ == '__main__':
    main()
