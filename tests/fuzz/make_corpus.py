#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Regenerate the seed corpora of tests/fuzz/corpus/ that are not plain
config files:

  make_corpus.py packet DIR          Ethernet frames: IPv4/IPv6 with TCP, UDP,
                                     UDP-Lite, SCTP, ICMP, fragments, options,
                                     IPv6 extension chains, 802.1Q/802.1ad
                                     stacks, ARP, and truncated variants
  make_corpus.py ipfix DIR XF_SEND   IPFIX as the exporter writes it, captured
                                     from tests/tools/xf-send-records on loopback
                                     (templates, options, data), one file per
                                     scenario, messages concatenated

The committed corpus was made with this script; the fuzzers extend it.
"""
import os
import socket
import struct
import subprocess
import sys
import threading

MAC = bytes.fromhex('020000000002020000000001')


def csum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack(f'!{len(b) // 2}H', b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def ipv4(proto, l4, tos=0, frag=0, opts=b''):
    ihl = 5 + len(opts) // 4
    h = struct.pack('!BBHHHBBH4s4s', 4 << 4 | ihl, tos, 20 + len(opts) + len(l4), 1, frag, 64,
                    proto, 0, socket.inet_aton('198.18.0.1'), socket.inet_aton('198.18.0.2'))
    h = h + opts
    h = h[:10] + struct.pack('!H', csum(h)) + h[12:]
    return h + l4


def ipv6(nh, payload, tc=0):
    return struct.pack('!IHBB16s16s', 6 << 28 | tc << 20, len(payload), nh, 64,
                       socket.inet_pton(socket.AF_INET6, '2001:db8::1'),
                       socket.inet_pton(socket.AF_INET6, '2001:db8::2')) + payload


def eth(payload, etype, vlans=()):
    b = MAC
    for tpid, vid in vlans:
        b += struct.pack('!HH', tpid, vid)
    return b + struct.pack('!H', etype) + payload


def tcp(flags=0x18, doff=5, data=b'hello'):
    return struct.pack('!HHIIBBHHH', 40000, 80, 1, 2, doff << 4, flags, 65535, 0, 0) + \
        b'\x01' * ((doff - 5) * 4) + data


def udp(data=b'x' * 32):
    return struct.pack('!HHHH', 40001, 53, 8 + len(data), 0) + data


def packets():
    out = {}
    out['ipv4-tcp'] = eth(ipv4(6, tcp()), 0x0800)
    out['ipv4-tcp-syn-opts'] = eth(ipv4(6, tcp(0x02, 8, b'')), 0x0800)
    out['ipv4-udp'] = eth(ipv4(17, udp(), tos=0xb8), 0x0800)
    out['ipv4-udplite'] = eth(ipv4(136, udp()), 0x0800)
    out['ipv4-sctp'] = eth(ipv4(132, struct.pack('!HHII', 5000, 38412, 7, 0) + b'\0' * 16), 0x0800)
    out['ipv4-icmp-echo'] = eth(ipv4(1, struct.pack('!BBHHH', 8, 0, 0, 1, 1) + b'p' * 56), 0x0800)
    out['ipv4-gre'] = eth(ipv4(47, b'\0' * 24), 0x0800)
    out['ipv4-frag-first'] = eth(ipv4(17, udp(b'f' * 64), frag=0x2000), 0x0800)
    out['ipv4-frag-later'] = eth(ipv4(17, b'f' * 64, frag=0x0008), 0x0800)
    out['ipv4-options'] = eth(ipv4(17, udp(), opts=b'\x94\x04\0\0' + b'\x01' * 4), 0x0800)
    out['ipv4-padded'] = eth(ipv4(17, udp(b'')), 0x0800) + b'\0' * 18
    out['ipv4-tcp-vlan'] = eth(ipv4(6, tcp()), 0x0800, [(0x8100, 100)])
    out['ipv4-udp-qinq'] = eth(ipv4(17, udp()), 0x0800, [(0x88a8, 200), (0x8100, 10)])
    out['vlan-x3'] = eth(ipv4(17, udp()), 0x0800, [(0x8100, 1), (0x8100, 2), (0x8100, 3)])
    out['vlan-x4'] = eth(ipv4(17, udp()), 0x0800, [(0x8100, 1)] * 4)
    out['ipv6-tcp'] = eth(ipv6(6, tcp()), 0x86dd)
    out['ipv6-udp-tc'] = eth(ipv6(17, udp(), tc=0x2e), 0x86dd)
    out['ipv6-icmpv6'] = eth(ipv6(58, struct.pack('!BBHHH', 128, 0, 0, 1, 1) + b'p' * 8), 0x86dd)
    hbh = bytes([17, 0]) + b'\x01\x04\0\0\0\0'
    dst = bytes([60, 1]) + b'\x01\x0c' + b'\0' * 12
    frag_first = struct.pack('!BBHI', 6, 0, 0x0001, 99)
    frag_later = struct.pack('!BBHI', 17, 0, 0x0100, 99)
    out['ipv6-hbh-udp'] = eth(ipv6(0, hbh + udp()), 0x86dd)
    out['ipv6-dst-dst-tcp'] = eth(ipv6(60, dst + bytes([6, 0]) + b'\x01\x04\0\0\0\0' + tcp()), 0x86dd)
    out['ipv6-frag-first-tcp'] = eth(ipv6(44, frag_first + tcp()), 0x86dd)
    out['ipv6-frag-later'] = eth(ipv6(44, frag_later + b'z' * 40), 0x86dd)
    out['ipv6-routing-udp'] = eth(ipv6(43, bytes([17, 2, 0, 0]) + b'\0' * 4 +
                                       socket.inet_pton(socket.AF_INET6, '2001:db8::9') + udp()), 0x86dd)
    out['arp'] = eth(bytes.fromhex('0001080006040001') + MAC[6:] + socket.inet_aton('198.18.0.1') +
                     b'\0' * 6 + socket.inet_aton('198.18.0.2'), 0x0806)
    out['lldp'] = eth(b'\x02\x07\x04' + MAC[:6] + b'\0' * 20, 0x88cc)
    # malformed: each broken in one way
    out['bad-ipv4-short'] = eth(ipv4(6, tcp())[:19], 0x0800)
    out['bad-ipv4-totlen'] = eth(ipv4(17, udp())[:2] + b'\x05\xdc' + ipv4(17, udp())[4:], 0x0800)
    out['bad-ipv4-ihl'] = eth(b'\x44' + ipv4(17, udp())[1:], 0x0800)
    out['bad-tcp-doff'] = eth(ipv4(6, tcp(doff=15, data=b'')), 0x0800)
    out['bad-tcp-short'] = eth(ipv4(6, tcp()[:12]), 0x0800)
    out['bad-udp-short'] = eth(ipv4(17, b'\0' * 4), 0x0800)
    out['bad-ipv6-version'] = eth(b'\x40' + ipv6(17, udp())[1:], 0x86dd)
    out['bad-ipv6-ext-loop'] = eth(ipv6(60, (bytes([60, 0]) + b'\x01\x04\0\0\0\0') * 9 + udp()), 0x86dd)
    out['bad-vlan-cut'] = eth(b'', 0x8100)[:15]
    out['eth-only'] = eth(b'', 0x0800)
    return out


def ipfix(dirname, sender):
    scenarios = {
        'sets-a-b': ['send a', 'send b', 'flush'],
        'bulk-40': ['bulk 40', 'flush'],
        'options': ['iface 2 eth0 uplink port', 'metering', 'options', 'send a', 'flush'],
    }
    for name, cmds in scenarios.items():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(('127.0.0.1', 0))
        s.settimeout(1.0)
        port = s.getsockname()[1]
        msgs = []

        def rx():
            try:
                while True:
                    msgs.append(s.recv(65536))
            except OSError:
                pass
        t = threading.Thread(target=rx)
        t.start()
        subprocess.run([sender, '--collector', f'udp://127.0.0.1:{port}'],
                       input='\n'.join(cmds + ['quit']) + '\n', text=True, check=True,
                       stdout=subprocess.DEVNULL)
        t.join()
        s.close()
        with open(os.path.join(dirname, name), 'wb') as f:
            f.write(b''.join(msgs))
        for i, m in enumerate(msgs):
            with open(os.path.join(dirname, f'{name}-msg{i}'), 'wb') as f:
                f.write(m)


def main():
    kind, d = sys.argv[1], sys.argv[2]
    os.makedirs(d, exist_ok=True)
    if kind == 'packet':
        for name, b in packets().items():
            with open(os.path.join(d, name), 'wb') as f:
                f.write(b)
    elif kind == 'ipfix':
        ipfix(d, sys.argv[3])
    else:
        sys.exit('usage: make_corpus.py packet DIR | ipfix DIR XF_SEND_RECORDS')


if __name__ == '__main__':
    main()
