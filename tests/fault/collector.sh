#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The collector goes away: down at start, down mid-run, restarted.
#
# TCP (tcp://): nothing may be lost. Records wait in the exporter's backlog
# while the collector is down and follow the templates on the next
# connection, so the two collector runs together hold every flow of the four
# phases exactly once with exact counts, and the options records sent on the
# second connection report exactly the 40 records the first one took and
# none unsent.
#
# UDP (udp://): the exporter cannot know what a datagram to a closed port
# became (loopback answers every other one with port unreachable, reported
# by the next send), so the flows sent while the collector is down are gone,
# and so may be the first message after it is back; the test asserts that
# the flows sent after that decode exactly, that no flow is half counted, and that the exporting process statistics add up: exported + not
# sent = every record emitted, with at least one counted as not sent. The
# template refresh is left at its default (60 s): a send the collector
# refused must make the templates go again first, or a restarted collector
# could not decode anything for up to a minute while the exporter counted
# those records as exported.
XF_TEST=co
source "$(dirname "$0")/faultlib.sh"
pair_setup
PH="--src 198.18.0.1 --flows 20 --packets 3 --payload 100"

phase() { # DPORT: 20 flows of 3 packets, then time to expire (idle 1 s) and export
	send_flows "$A" --dst 198.18.0.2 --dport "$1" --flows 20 --packets 3 --payload 100 >/dev/null
	sleep 2.5
	kill -0 "$XLATFLOWD_PID" || fail "xlatflowd died"
}

count_log() {
	grep -c -- "$1" "$WORK/xlatflowd.log" || true
}

wait_count() { # PATTERN N TIMEOUT_S
	local i
	for i in $(seq 1 $(($3 * 10))); do
		[ "$(count_log "$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	fail "timed out waiting for $2 x '$1' in the daemon log"
}

# --- TCP --------------------------------------------------------------------
port=$(free_port)
url="tcp://127.0.0.1:$port"
start_xlatflowd "$B" --interface vb --collector "$url" --idle-timeout 1 --active-timeout 60 \
	--drain-interval 100 --nat-hook off
phase 5001                                  # A: collector down at start
start_xfc tcp1 tcp "$port"
wait_count "collector $url: connected" 1 20
phase 5002                                  # B: collector up
stop_xfc tcp1                               # down mid-run
wait_count "collector $url: connection closed by collector" 1 10
phase 5003                                  # C: collector down again
start_xfc tcp2 tcp "$port"                  # restarted
wait_count "collector $url: connected" 2 20
phase 5004                                  # D: after recovery
stop_xlatflowd
stop_xfc tcp2

for p in 5001 5002 5003 5004; do
	acct "$WORK/tcp1.json" "$WORK/tcp2.json" $PH --dport $p --max-records-per-flow 1 ||
		fail "tcp: flows to port $p not exactly once"
done
acct "$WORK/tcp1.json" $PH --dport 5001 >/dev/null || fail "tcp: backlog of phase A not in the first connection"
acct "$WORK/tcp2.json" $PH --dport 5003 >/dev/null || fail "tcp: backlog of phase C not after the reconnect"
python3 - "$WORK/tcp2.json" <<'PY' || fail "tcp: options records on the second connection"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
opts = [r for r in recs if r.get('set') == 'options' and 'notSentFlowTotalCount' in r]
first = opts[0]
print('tcp: options on reconnect: exported', first['exportedFlowRecordTotalCount'],
      'not sent', first['notSentFlowTotalCount'])
sys.exit(0 if (first['exportedFlowRecordTotalCount'], first['notSentFlowTotalCount']) == (40, 0) else 1)
PY
echo "ok tcp: 4 phases, 80 flows, each exactly once"

# --- UDP --------------------------------------------------------------------
port=$(free_port)
url="udp://127.0.0.1:$port"
start_xlatflowd "$B" --interface vb --collector "$url" \
	--idle-timeout 1 --active-timeout 60 --drain-interval 100 --nat-hook off
phase 5101                                  # A: down at start: lost
start_xfc udp1 udp "$port"
phase 5102                                  # B: the socket still holds A's refusal: may be lost
phase 5103                                  # B2: templates are back: decodes
stop_xfc udp1
phase 5104                                  # C: down: lost
start_xfc udp2 udp "$port"
phase 5105                                  # D: may be lost, as B
phase 5106                                  # D2: after recovery: decodes
stop_xlatflowd
stop_xfc udp2

U="$WORK/udp1.json $WORK/udp2.json"
acct $U $PH --dport 5101 --mode absent || fail "udp: phase A"
acct $U $PH --dport 5102 --mode whole --max-records-per-flow 1 || fail "udp: phase B"
acct "$WORK/udp1.json" $PH --dport 5103 --max-records-per-flow 1 ||
	fail "udp: phase B2 (collector down at start, templates not sent again?)"
acct $U $PH --dport 5104 --mode absent || fail "udp: phase C"
acct $U $PH --dport 5105 --mode whole --max-records-per-flow 1 || fail "udp: phase D"
acct "$WORK/udp2.json" $PH --dport 5106 --max-records-per-flow 1 ||
	fail "udp: phase D2 (collector restarted, templates not sent again?)"
python3 - "$WORK/udp2.json" <<'PY' || fail "udp: exporting process statistics"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
# the options records sent at exit: all 6 phases (120 records) were emitted
opts = [r for r in recs if r.get('set') == 'options' and 'notSentFlowTotalCount' in r]
e, n = opts[-1]['exportedFlowRecordTotalCount'], opts[-1]['notSentFlowTotalCount']
print(f'udp: options at exit: exported {e} + not sent {n}')
sys.exit(0 if e + n == 120 and n >= 1 else 1)
PY
echo "ok udp: flows after each recovery decode exactly, exported + not sent = 120"
echo "PASS: collector"
