#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""A TCP collector that stops reading: accepts one connection on
127.0.0.1:LISTEN with a small receive buffer and reads nothing until the
file GO exists; then connects to 127.0.0.1:TO (xf-collect --tcp) and
passes every byte through until the exporter closes.

usage: relay.py LISTEN TO GO
"""
import os
import socket
import sys
import time


def main():
    listen, to, go = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # set before listen so that the accepted socket inherits it
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    srv.bind(('127.0.0.1', listen))
    srv.listen(1)
    conn, _ = srv.accept()
    print('relay: accepted, not reading', flush=True)
    while not os.path.exists(go):
        time.sleep(0.05)
    out = socket.create_connection(('127.0.0.1', to))
    print('relay: reading again', flush=True)
    total = 0
    while True:
        b = conn.recv(1 << 16)
        if not b:
            break
        out.sendall(b)
        total += len(b)
    out.close()
    print(f'relay: {total} bytes passed', flush=True)


if __name__ == '__main__':
    main()
