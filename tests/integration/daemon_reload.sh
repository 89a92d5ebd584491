#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# SIGHUP reload: collectors, timeouts and interfaces change without losing a
# cached flow or a counted packet; a bad new file is rejected with file:line
# and the running configuration stays. Then a TCP collector that is down
# across a reload: its backlog and every running total are kept.
XF_TEST=rl
source "$(dirname "$0")/lib.sh"
need_root
need_cmd python3
[ -x "$XLATFLOWD" ] || fail "$XLATFLOWD not built"
collect=$abs_top_builddir/tests/tools/xf-collect

a=$(ns_add a)
b=$(ns_add b)
c=$(ns_add c)
veth_pair "$a" va "$b" vb
veth_pair "$c" vc0 "$b" vc
ip -n "$a" addr add 198.18.0.1/24 dev va
ip -n "$b" addr add 198.18.0.2/24 dev vb
ip -n "$c" addr add 198.18.5.1/24 dev vc0
ip -n "$b" addr add 198.18.5.2/24 dev vc
ip netns exec "$a" ping -c1 -W2 198.18.0.2 >/dev/null
ip netns exec "$c" ping -c1 -W2 198.18.5.2 >/dev/null
# UDP sinks in b, so no ICMP port-unreachable replies
ip netns exec "$b" python3 -c '
import socket, select
socks = []
for port in range(5001, 5005):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", port)); socks.append(s)
while True:
    for s in select.select(socks, [], [])[0]: s.recv(2048)' &
XF_PIDS+=($!)

send() { # NS SRC SPORT DPORT COUNT
	ip netns exec "$1" python3 -c "
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('$2', $3))
for _ in range($5): s.sendto(b'r' * 50, ('${6:-198.18.0.2}', $4))"
}

pa=$(free_port)
pb=$(free_port)
for p in "$pa" "$pb"; do
	ip netns exec "$b" "$collect" --udp "$p" --bind 127.0.0.1 --out "$WORK/c$p.json" \
		2>"$WORK/collect-$p.log" &
	XF_PIDS+=($!)
done
conf=$WORK/xlatflowd.conf
write_conf() { # PORT IDLE INCLUDE...
	local port=$1 idle=$2
	shift 2
	local inc
	inc=$(printf '"%s", ' "$@")
	umask 077
	cat >"$conf.tmp" <<EOF2
interfaces = { include = [ ${inc%, } ]; };
collectors = ( { url = "udp://127.0.0.1:$port"; } );
idle_timeout = $idle;
active_timeout = 60;
drain_interval_ms = 100;
nat_hook = "off";
EOF2
	mv "$conf.tmp" "$conf"
}
write_conf "$pa" 30 vb
start_xlatflowd "$b" --config "$conf"
grep -q "interface vc " "$WORK/xlatflowd.log" && fail "vc attached before it was configured"

send "$a" 198.18.0.1 40001 5001 10      # F1, cached (idle 30 s)
send "$c" 198.18.5.1 40005 5001 4 198.18.5.2 # not monitored yet
sleep 0.5

write_conf "$pb" 20 vb vc
kill -HUP "$XLATFLOWD_PID"
for _ in $(seq 1 50); do
	grep -q "configuration reloaded" "$WORK/xlatflowd.log" && break
	sleep 0.1
done
grep -q "configuration reloaded" "$WORK/xlatflowd.log" || fail "reload not logged"
grep -q "interface vc (index [0-9]*) monitored" "$WORK/xlatflowd.log" || fail "vc not attached on reload"

send "$a" 198.18.0.1 40001 5001 5       # F1 again: the cached flow goes on
send "$a" 198.18.0.1 40002 5002 7       # F2
send "$c" 198.18.5.1 40006 5003 6 198.18.5.2 # F3 on the newly monitored interface

# a bad file: rejected with file:line, the running configuration stays
printf 'idle_timeout = 20;\nidle_timout = 5;\n' >"$conf"
chmod 600 "$conf"
kill -HUP "$XLATFLOWD_PID"
for _ in $(seq 1 50); do
	grep -q "reload rejected" "$WORK/xlatflowd.log" && break
	sleep 0.1
done
grep -q "reload rejected.*xlatflowd.conf:2: unknown key 'idle_timout'" "$WORK/xlatflowd.log" ||
	fail "bad reload not rejected with file:line: $(grep -i reload "$WORK/xlatflowd.log")"
kill -0 "$XLATFLOWD_PID" || fail "xlatflowd died on a bad reload"
send "$a" 198.18.0.1 40003 5004 3       # F4 after the rejected reload

# Every flow is still cached (idle 20 s, so no timing matters): SIGTERM
# exports them all to collector B with flowEndReason 4 (forced end).
stop_xlatflowd
sleep 0.3
for pid in "${XF_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
sleep 0.3

cat >"$WORK/expect-b.json" <<EOF2
[
 {"name": "F1 cached across the reload", "match": {"sourceTransportPort": 40001}, "expect": {"packetDeltaCount": 15, "octetDeltaCount": 1170, "flowEndReason": 4}},
 {"name": "F2", "match": {"sourceTransportPort": 40002}, "expect": {"packetDeltaCount": 7}},
 {"name": "F3 on the interface added by the reload", "match": {"sourceTransportPort": 40006}, "expect": {"packetDeltaCount": 6}},
 {"name": "F4 after a rejected reload", "match": {"sourceTransportPort": 40003}, "expect": {"packetDeltaCount": 3}},
 {"name": "nothing from vc before it was monitored", "match": {"sourceTransportPort": 40005}, "records": 0}
]
EOF2
python3 "$abs_top_srcdir/tests/integration/flowcheck.py" "$WORK/c$pb.json" "$WORK/expect-b.json"
n=$(grep -c '"set":"data"' "$WORK/c$pa.json" || true)
[ "$n" = 0 ] || fail "collector A got $n data records; the flows were still cached at the reload"
echo "ok: collector A got templates only"

# --- A TCP collector down across a reload -------------------------------------
# Flows wait in the exporter's backlog for a TCP collector that is down; a
# SIGHUP (collectors unchanged) keeps the collector's connection attempts,
# backlog, sequence numbers and counters (exporter_reconfigure): once the
# collector is up every flow arrives, exactly once, and the running totals
# of the UDP collector beside it count the flows of before the reload too.
flows() { # SPORT_BASE: 20 flows of 2 packets from a to b:5001
	ip netns exec "$a" python3 -c "
import socket
for i in range(20):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('198.18.0.1', $1 + i))
    for _ in range(2): s.sendto(b'k' * 50, ('198.18.0.2', 5001))
    s.close()"
}
pt=$(free_port)
pu=$(free_port)
ip netns exec "$b" "$collect" --udp "$pu" --bind 127.0.0.1 --out "$WORK/tcpdown-udp.json" \
	2>"$WORK/collect-udp.log" &
XF_PIDS+=($!)
UDP_COLLECT=$!
write_tcp_conf() { # IDLE
	umask 077
	cat >"$conf.tmp" <<EOF2
interfaces = { include = [ "vb" ]; };
collectors = ( { url = "tcp://127.0.0.1:$pt"; }, { url = "udp://127.0.0.1:$pu"; } );
idle_timeout = $1;
active_timeout = 60;
drain_interval_ms = 100;
nat_hook = "off";
EOF2
	mv "$conf.tmp" "$conf"
}
write_tcp_conf 1
start_xlatflowd "$b" --config "$conf"
flows 42000
sleep 2.5 # idle 1 s: exported, the TCP collector's 20 records wait in the backlog
write_tcp_conf 2
kill -HUP "$XLATFLOWD_PID"
for _ in $(seq 1 50); do
	[ "$(grep -c "configuration reloaded" "$WORK/xlatflowd.log")" -ge 1 ] && break
	sleep 0.1
done
grep -q "configuration reloaded" "$WORK/xlatflowd.log" || fail "reload not logged"
flows 42100
ip netns exec "$b" "$collect" --tcp "$pt" --bind 127.0.0.1 --out "$WORK/tcpdown-tcp.json" \
	2>"$WORK/collect-tcp.log" &
XF_PIDS+=($!)
TCP_COLLECT=$!
for _ in $(seq 1 200); do
	grep -q "collector tcp://127.0.0.1:$pt: connected" "$WORK/xlatflowd.log" && break
	sleep 0.1
done
grep -q "collector tcp://127.0.0.1:$pt: connected" "$WORK/xlatflowd.log" ||
	fail "the TCP collector was never connected"
sleep 3.5 # idle 2 s: the second 20 flows are exported too
stop_xlatflowd
sleep 0.5
kill -TERM "$TCP_COLLECT" "$UDP_COLLECT"
wait "$TCP_COLLECT" "$UDP_COLLECT" 2>/dev/null || true
python3 - "$WORK/tcpdown-tcp.json" "$WORK/tcpdown-udp.json" <<'PY'
import json, sys
fails = []
for path, name in zip(sys.argv[1:], ("tcp", "udp")):
    recs = [json.loads(l) for l in open(path) if l.strip()]
    data = [r for r in recs if r.get("set") == "data" and r.get("destinationTransportPort") == 5001]
    ports = sorted(r["sourceTransportPort"] for r in data)
    want = list(range(42000, 42020)) + list(range(42100, 42120))
    opts = [r for r in recs if r.get("set") == "options" and "notSentFlowTotalCount" in r]
    last = opts[-1] if opts else {}
    print(f"{name}: {len(data)} flows, packets {sorted(set(r['packetDeltaCount'] for r in data))}, "
          f"{sum(1 for r in recs if r.get('set') == 'data')} records in all, final options: "
          f"exported {last.get('exportedFlowRecordTotalCount')}, "
          f"not sent {last.get('notSentFlowTotalCount')}")
    if ports != want:
        fails.append(f"{name}: flows {ports}")
    if any(r["packetDeltaCount"] != 2 for r in data):
        fails.append(f"{name}: packet counts")
    # the totals count every record of the run (those of before the reload
    # too, and the few other flows the interface saw), none not sent
    alldata = sum(1 for r in recs if r.get("set") == "data")
    if (last.get("exportedFlowRecordTotalCount"), last.get("notSentFlowTotalCount")) != (alldata, 0):
        fails.append(f"{name}: totals {last}, {alldata} data records decoded")
for f in fails:
    print("FAIL", f)
sys.exit(1 if fails else 0)
PY
echo "ok: a reload kept the TCP backlog and the running totals"
