#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Collector groups (docs/collectors.md "Collector groups"): one daemon, three
# groups of three xf-collect members each, every group getting every record:
#   hash over UDP, round-robin over UDP, hash over TCP.
# UDP connections with an echo (both directions, one connection), counted
# exactly over the members of each group (tests/fault/poolcheck.py):
#   A  all members up: every flow exactly once per group; hash: each
#      connection's two records on one member; round-robin: counts within 1.
#   B  member 1 of each hash group stopped (the TCP one reads everything
#      first and closes). TCP: its share goes to members 0 and 2, nothing
#      lost. UDP: what went to it before the refusal came back is lost
#      (B1: whole flows or none); once refused (B2) it gets nothing and
#      nothing is lost.
#   C  both restarted: the TCP member reconnects, the UDP one is probed and
#      accepted again; every member takes its share again, exact.
# Over all phases the TCP group lost nothing; the options records at exit
# say that member 1's redirected records equal what 0 and 2 took over, and
# carry the sending socket's address (exporterIPv4Address 127.0.0.1) and
# the machine-id derived observation domain; the metrics endpoint says the
# same.
XF_TEST=po
source "$(dirname "$0")/faultlib.sh"
pair_setup


# UDP echo in B on 7001..7004 (outside the dropped 5000-5999)
ip netns exec "$B" python3 - >"$WORK/echo.log" 2>&1 <<'PY' &
import selectors, socket
sel = selectors.DefaultSelector()
for p in range(7001, 7005):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("198.18.0.2", p))
    sel.register(s, selectors.EVENT_READ)
while True:
    for k, _ in sel.select():
        data, peer = k.fileobj.recvfrom(4096)
        k.fileobj.sendto(data, peer)
PY
XF_PIDS+=($!)

N=60 K=2 P=80
conns() { # DPORT SPORT_BASE: N connections of K packets, each echoed
	ip netns exec "$A" python3 - "$1" "$2" "$N" "$K" "$P" <<'PY'
import socket, sys
dport, base, n, k, p = map(int, sys.argv[1:])
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("198.18.0.1", base + i))
    s.settimeout(2)
    for _ in range(k):
        s.sendto(b"e" * p, ("198.18.0.2", dport))
        s.recv(4096)
    s.close()
PY
	sleep 2.5 # idle timeout 1 s, then exported
	kill -0 "$XLATFLOWD_PID" || fail "xlatflowd died"
}

declare -A PORT
for m in h0 h1 h2 r0 r1 r2 t0 t1 t2 metrics; do PORT[$m]=$(free_port); done
for m in h0 h1 h2 r0 r1 r2; do start_xfc "$m" udp "${PORT[$m]}"; done
for m in t0 t1 t2; do start_xfc "$m" tcp "${PORT[$m]}"; done
u() { echo "{ url = \"udp://127.0.0.1:${PORT[$1]}\"; }"; }
t() { echo "{ url = \"tcp://127.0.0.1:${PORT[$1]}\"; }"; }
(umask 077; cat >"$WORK/xlatflowd.conf") <<EOF2
interfaces = { include = [ "vb" ]; };
collectors = (
	{ mode = "hash"; members = ( $(u h0), $(u h1), $(u h2) ); },
	{ mode = "round-robin"; members = ( $(u r0), $(u r1), $(u r2) ); },
	{ mode = "hash"; members = ( $(t t0), $(t t1), $(t t2) ); }
);
idle_timeout = 1;
active_timeout = 60;
drain_interval_ms = 100;
nat_hook = "off";
metrics_listen = "127.0.0.1:${PORT[metrics]}";
EOF2
start_xlatflowd "$B" --config "$WORK/xlatflowd.conf"
wait_log "tcp://127.0.0.1:${PORT[t2]}: connected" 10

check() { # PHASE ARGS...: poolcheck over the three groups' files
	local ph=$1
	shift
	python3 "$FAULT_DIR/poolcheck.py" --src 198.18.0.1 --flows $N --packets $K --payload $P \
		--echo "$@" || fail "phase $ph: $*"
}
J=$WORK

# --- A: all up
conns 7001 20000
check A "$J/h0.json" "$J/h1.json" "$J/h2.json" --dport 7001 --sport-base 20000 --hash --present 0,1,2
check A "$J/r0.json" "$J/r1.json" "$J/r2.json" --dport 7001 --sport-base 20000 --even
check A "$J/t0.json" "$J/t1.json" "$J/t2.json" --dport 7001 --sport-base 20000 --hash --present 0,1,2

# kill_member NAME: once it has read everything (its output unchanged for
# half a second), SIGTERM; a TCP member closes its connection
kill_member() {
	local out=$WORK/$1.json size last=-1 i
	for i in $(seq 1 100); do
		size=$(stat -c %s "$out" 2>/dev/null || echo 0)
		[ "$size" -eq "$last" ] && break
		last=$size
		sleep 0.5
	done
	kill -TERM "${XFC_PIDS[$1]}"
	wait "${XFC_PIDS[$1]}" 2>/dev/null || true
}

# --- B: member 1 of both hash groups stopped
kill_member t1
kill_member h1
wait_log "tcp://127.0.0.1:${PORT[t1]}: connection closed by collector" 10
conns 7002 21000
# the refusal of what B1 sent member 1 of the UDP group has come back
wait_log "udp://127.0.0.1:${PORT[h1]}: datagrams refused (Connection refused): down" 10
conns 7003 22000
for ph in "7002 21000" "7003 22000"; do
	set -- $ph
	check "B $1" "$J/t0.json" "$J/t1.json" "$J/t2.json" --dport "$1" --sport-base "$2" --hash \
		--absent 1 --present 0,2
	check "B $1" "$J/r0.json" "$J/r1.json" "$J/r2.json" --dport "$1" --sport-base "$2" --even
done
check "B1 udp" "$J/h0.json" "$J/h1.json" "$J/h2.json" --dport 7002 --sport-base 21000 --hash --lossy
check "B2 udp" "$J/h0.json" "$J/h1.json" "$J/h2.json" --dport 7003 --sport-base 22000 --hash \
	--absent 1 --present 0,2

# --- C: both back
start_xfc t1b tcp "${PORT[t1]}"
start_xfc h1b udp "${PORT[h1]}"
wait_log "udp://127.0.0.1:${PORT[h1]}: datagrams accepted again" 40
for i in $(seq 1 400); do
	[ "$(grep -c "tcp://127.0.0.1:${PORT[t1]}: connected" "$WORK/xlatflowd.log")" -ge 2 ] && break
	sleep 0.1
done
[ "$i" -lt 400 ] || fail "TCP member 1 did not reconnect"
conns 7004 23000
check C "$J/h0.json" "$J/h1.json,$J/h1b.json" "$J/h2.json" --dport 7004 --sport-base 23000 --hash \
	--present 0,1,2
check C "$J/r0.json" "$J/r1.json" "$J/r2.json" --dport 7004 --sport-base 23000 --even
check C "$J/t0.json" "$J/t1.json,$J/t1b.json" "$J/t2.json" --dport 7004 --sport-base 23000 --hash \
	--present 0,1,2

# the same counters on the metrics endpoint, before the daemon stops
ip netns exec "$B" python3 -c 'import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
	"http://127.0.0.1:${PORT[metrics]}/metrics" >"$WORK/metrics.txt" || fail "metrics endpoint"
stop_xlatflowd
for m in h0 h1b h2 r0 r1 r2 t0 t1b t2; do stop_xfc "$m"; done

# TCP over all phases: nothing lost, each connection once
for ph in "7001 20000" "7002 21000" "7003 22000" "7004 23000"; do
	set -- $ph
	check "tcp total $1" "$J/t0.json" "$J/t1.json,$J/t1b.json" "$J/t2.json" --dport "$1" \
		--sport-base "$2" --hash
done

# The options records each member got last (at exit): redirected and taken
# over balance, the down count, the sending address, the domain from the
# machine id.
want_domain=$(python3 - <<'PY'
import hashlib, hmac
key = bytes.fromhex(open("/etc/machine-id").read().strip())
d = int(hmac.new(key, b"xlatflow observation domain", hashlib.sha256).hexdigest()[:8], 16)
print(d or 1)
PY
)
python3 - "$want_domain" "$J/t0.json" "$J/t1b.json" "$J/t2.json" "$J/h0.json" "$J/h1b.json" \
	"$J/h2.json" "$J/metrics.txt" "${PORT[t0]},${PORT[t1]},${PORT[t2]}" \
	"${PORT[h0]},${PORT[h1]},${PORT[h2]}" <<'PY' || fail "options records of the groups"
import json, re, sys
want_domain = int(sys.argv[1])
metrics = open(sys.argv[8]).read()
ports = {'tcp': sys.argv[9].split(','), 'udp': sys.argv[10].split(',')}
def metric(name, url):
    m = re.search(r'^%s\{collector="%s",[^}]*\} (\d+)$' % (name, re.escape(url)), metrics, re.M)
    return int(m.group(1)) if m else None
fails = []
def last(path):
    recs = [json.loads(l) for l in open(path) if l.strip()]
    for r in recs:
        if r.get('observation_domain') != want_domain:
            fails.append(f'{path}: observation domain {r.get("observation_domain")}, want {want_domain}')
            break
    o = [r for r in recs if r.get('set') == 'options' and 'xlatCollectorDownTotalCount' in r]
    return o[-1]
for group, paths in (('tcp', sys.argv[2:5]), ('udp', sys.argv[5:8])):
    o = [last(p) for p in paths]
    red = [x['xlatCollectorRedirectedFlowTotalCount'] for x in o]
    took = [x['xlatCollectorTakenOverFlowTotalCount'] for x in o]
    down = [x['xlatCollectorDownTotalCount'] for x in o]
    addr = {x.get('exporterIPv4Address') for x in o}
    print(f'{group}: redirected {red} taken over {took} down {down} exporter {addr}')
    if red[1] < 1 or red[0] or red[2] or took[1] or took[0] + took[2] != red[1]:
        fails.append(f'{group}: redirected {red} and taken over {took} do not balance')
    if down[1] < 1 or down[0] or down[2]:
        fails.append(f'{group}: down counts {down}')
    if addr != {'127.0.0.1'}:
        fails.append(f'{group}: exporterIPv4Address {addr}')
    urls = [f'{group}://127.0.0.1:{p}' for p in ports[group]]
    got = ([metric('xlatflow_collector_redirected_records_total', u) for u in urls],
           [metric('xlatflow_collector_taken_over_records_total', u) for u in urls],
           [metric('xlatflow_collector_down_total', u) for u in urls])
    if got != (red, took, down):
        fails.append(f'{group}: metrics say redirected/taken over/down {got}, options {(red, took, down)}')
for f in fails:
    print('FAIL:', f, file=sys.stderr)
sys.exit(1 if fails else 0)
PY
echo "PASS: pools"
