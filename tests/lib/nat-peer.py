#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Traffic ends of the NAT test topology (tests/lib/nat-topology.sh).

  nat-peer.py serve SPEC...   SPEC = proto,addr,port  (addr "::" is dual-stack)
  nat-peer.py client SPEC...  SPEC = proto,addr,port,sport[,count,interval]

The server answers every TCP/SCTP connection and UDP datagram with "ok <peer>",
where <peer> is the address and port it saw, so the client can check what the
backend observed. The client opens each connection in turn from the given
source port, sends one line (count lines interval seconds apart, on one
socket), waits for each answer and prints "proto addr port sport -> answer"
with the last one. Exit 1 if any exchange fails.

Among the SPECs of either, @NETNS puts the sockets of the following ones in
the network namespace /run/netns/NETNS (as `ip netns exec` would), so that
one process serves or connects for several hosts: each python3 start costs
seconds under TCG.
"""
import ctypes
import os
import selectors
import socket
import sys
import time

CLONE_NEWNET = 0x40000000

PROTOS = {
    "tcp": (socket.SOCK_STREAM, 0),
    "udp": (socket.SOCK_DGRAM, 0),
    "sctp": (socket.SOCK_STREAM, socket.IPPROTO_SCTP),
}


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def peer_text(peer):
    return "%s %d" % (peer[0], peer[1])


def enter_netns(name):
    """Make the sockets opened from now on belong to namespace NAME."""
    fd = os.open("/run/netns/" + name, os.O_RDONLY)
    try:
        if hasattr(os, "setns"):  # Python 3.12
            os.setns(fd, CLONE_NEWNET)
        elif ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns %s" % name)
    finally:
        os.close(fd)


def serve(specs):
    sel = selectors.DefaultSelector()
    for spec in specs:
        if spec.startswith("@"):
            enter_netns(spec[1:])
            continue
        proto, addr, port = spec.split(",")
        stype, sproto = PROTOS[proto]
        s = socket.socket(family(addr), stype, sproto)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family(addr) == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind((addr, int(port)))
        if stype == socket.SOCK_STREAM:
            s.listen(16)
        sel.register(s, selectors.EVENT_READ, stype)
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            s = key.fileobj
            if key.data == socket.SOCK_DGRAM:
                data, peer = s.recvfrom(2048)
                s.sendto(b"ok " + peer_text(peer).encode() + b"\n", peer)
                continue
            if key.data == socket.SOCK_STREAM:
                conn, peer = s.accept()
                conn.setblocking(False)
                sel.register(conn, selectors.EVENT_READ, peer)
                continue
            # an accepted connection: answer each line, close at EOF
            try:
                data = s.recv(2048)
                if data:
                    s.sendall(b"ok " + peer_text(key.data).encode() + b"\n")
            except OSError:
                data = b""
            if not data:
                sel.unregister(s)
                s.close()


def client(specs):
    rc = 0
    for spec in specs:
        if spec.startswith("@"):
            enter_netns(spec[1:])
            continue
        fields = spec.split(",")
        proto, addr, port, sport = fields[:4]
        count, interval = (int(fields[4]), float(fields[5])) if len(fields) > 4 else (1, 0)
        stype, sproto = PROTOS[proto]
        fam = family(addr)
        s = socket.socket(fam, stype, sproto)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.settimeout(5)
        try:
            s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", int(sport)))
            s.connect((addr, int(port)))
            for i in range(count):
                if i:
                    time.sleep(interval)
                s.send(b"hello\n")
                answer = s.recv(2048).decode().strip()
        except OSError as e:
            answer = "ERROR %s" % e
            rc = 1
        s.close()
        print("%s %s %s %s -> %s" % (proto, addr, port, sport, answer), flush=True)
    return rc


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("serve", "client"):
        print(__doc__, file=sys.stderr)
        return 2
    if sys.argv[1] == "serve":
        serve(sys.argv[2:])
        return 0
    return client(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
