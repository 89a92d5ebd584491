#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Without --foreground xlatflowd forks, writes its pid file and logs to
# syslog; the command returns only when the pid file holds the daemon's pid
# (before, it could still hold the starting process's for a moment); SIGHUP and SIGTERM still reach its event loop (its signalfd is made
# after the fork), SIGTERM exports every cached flow and removes the pid file.
XF_TEST=bg
source "$(dirname "$0")/lib.sh"
need_root
need_cmd python3
[ -x "$XLATFLOWD" ] || fail "$XLATFLOWD not built"
collect=$abs_top_builddir/tests/tools/xf-collect

a=$(ns_add a)
b=$(ns_add b)
veth_pair "$a" va "$b" vb
ip -n "$a" addr add 198.18.0.1/24 dev va
ip -n "$b" addr add 198.18.0.2/24 dev vb
ip netns exec "$a" ping -c1 -W2 198.18.0.2 >/dev/null
port=$(free_port)
ip netns exec "$b" "$collect" --udp "$port" --bind 127.0.0.1 --out "$WORK/c.json" \
	2>"$WORK/collect.log" &
XF_PIDS+=($!)
pidfile=$WORK/xlatflowd.pid

ip netns exec "$b" "$XLATFLOWD" --interface vb --collector "udp://127.0.0.1:$port" \
	--idle-timeout 60 --nat-hook off --pidfile "$pidfile" || fail "start returned $?"
# no waiting: the starting process returns once the daemon wrote its own pid
[ -s "$pidfile" ] || fail "no pid file when the start returned"
pid=$(cat "$pidfile")
XF_PIDS+=("$pid")
kill -0 "$pid" || fail "pid $pid from the pid file is not running"
[ "$(cat /proc/"$pid"/stat | awk '{print $6}')" = "$pid" ] || fail "the daemon is not a session leader"

ip netns exec "$a" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("198.18.0.1", 40100))
for _ in range(9): s.sendto(b"b" * 72, ("198.18.0.2", 9))'
sleep 0.5
kill -HUP "$pid"
sleep 0.5
kill -0 "$pid" || fail "the daemon died on SIGHUP"
kill -TERM "$pid"
for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "the daemon ignored SIGTERM"
[ -e "$pidfile" ] && fail "pid file left behind"
sleep 0.3

cat >"$WORK/expect.json" <<'EOF2'
[{"name": "flow exported at SIGTERM", "match": {"sourceTransportPort": 40100},
  "expect": {"packetDeltaCount": 9, "octetDeltaCount": 900, "flowEndReason": 4}}]
EOF2
python3 "$abs_top_srcdir/tests/integration/flowcheck.py" "$WORK/c.json" "$WORK/expect.json"
