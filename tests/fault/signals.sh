#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Signals while traffic runs, nothing lost or counted twice:
#  1. a SIGHUP storm: 100 reloads (each builds a new exporter) 50 ms apart
#     while 200 flows send 40 packets each; a TCP and a UDP collector must
#     each decode every flow with exactly its packets and octets.
#  2. SIGTERM during export: 30000 one-packet flows over 3 s, the daemon busy
#     exporting them (idle timeout 1 s) when SIGTERM arrives right after the
#     last packet: every flow decodes exactly once, the daemon exits 0.
XF_TEST=sg
source "$(dirname "$0")/faultlib.sh"
pair_setup

# --- 1. SIGHUP storm --------------------------------------------------------
tport=$(free_port)
uport=$(free_port)
printf 'template_refresh = 1;\n' >"$WORK/hup.conf"
chmod 600 "$WORK/hup.conf"
start_xfc hupt tcp "$tport"
start_xfc hupu udp "$uport"
start_xlatflowd "$B" --config "$WORK/hup.conf" --interface vb \
	--collector "tcp://127.0.0.1:$tport" --collector "udp://127.0.0.1:$uport" \
	--idle-timeout 2 --active-timeout 60 --drain-interval 100 --nat-hook off
wait_log "connected" 10
send_flows "$A" --dst 198.18.0.2 --dport 5001 --flows 200 --packets 40 --payload 64 \
	--interleave --rate 1600 >"$WORK/gen1.out" &
GEN=$!
for _ in $(seq 1 100); do
	kill -HUP "$XLATFLOWD_PID"
	sleep 0.05
done
wait $GEN
cat "$WORK/gen1.out"
sleep 4
kill -0 "$XLATFLOWD_PID" || fail "xlatflowd died in the SIGHUP storm"
reloads=$(grep -c "configuration reloaded" "$WORK/xlatflowd.log" || true)
echo "reloads done: $reloads"
# signals that arrive while one reload runs coalesce: at least one, at most 100
[ "$reloads" -ge 1 ] && [ "$reloads" -le 100 ] || fail "$reloads reloads"
stop_xlatflowd
stop_xfc hupt
stop_xfc hupu
acct "$WORK/hupt.json" --src 198.18.0.1 --dport 5001 --flows 200 --packets 40 --payload 64 \
	--summary | cut -d' ' -f1-5 || fail "SIGHUP storm: TCP collector"
acct "$WORK/hupu.json" --src 198.18.0.1 --dport 5001 --flows 200 --packets 40 --payload 64 \
	--summary | cut -d' ' -f1-5 || fail "SIGHUP storm: UDP collector"
echo "ok SIGHUP storm"

# --- 2. SIGTERM during export ------------------------------------------------
tport=$(free_port)
start_xfc term tcp "$tport"
start_xlatflowd "$B" --interface vb --collector "tcp://127.0.0.1:$tport" \
	--idle-timeout 1 --active-timeout 60 --drain-interval 100 --nat-hook off
wait_log "connected" 10
send_flows "$A" --dst 198.18.0.2 --dport 5002 --flows 30000 --packets 1 --payload 30 \
	--rate 10000
kill -TERM "$XLATFLOWD_PID"
wait_exit "$XLATFLOWD_PID" 20
[ "$WAIT_RC" -eq 0 ] || fail "xlatflowd exited $WAIT_RC on SIGTERM"
stop_xfc term
acct "$WORK/term.json" --src 198.18.0.1 --dport 5002 --flows 30000 --packets 1 --payload 30 \
	--max-records-per-flow 1 --summary | cut -d' ' -f1-5 || fail "SIGTERM during export"
python3 - "$WORK/term.json" <<'PY'
import json, sys
by = {}
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r.get('set') == 'data':
        by[r['flowEndReason']] = by.get(r['flowEndReason'], 0) + 1
print('SIGTERM: records by flowEndReason (1 idle, 4 forced at exit):', by)
PY
echo "PASS: signals"
