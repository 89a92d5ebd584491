#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# A TCP collector that accepts and then stops reading, while 100000 flows
# are exported. The daemon must keep running with bounded memory (RSS under
# a bound: the send queue is capped at 4 MiB), drop what does not fit and
# count it, and once the collector reads again deliver the rest:
#   decoded records of the burst + notSentFlowTotalCount = 100000 exactly,
# every decoded flow exact, and flows sent after the recovery all decode.
XF_TEST=sr
source "$(dirname "$0")/faultlib.sh"
pair_setup
ip -n "$A" addr add 198.18.0.11/24 dev va
# small socket buffers, so that the 4 MiB send queue is what fills
ip netns exec "$B" sysctl -qw net.ipv4.tcp_wmem="4096 16384 65536" net.ipv4.tcp_rmem="4096 65536 65536"
FLOWS=100000
RSS_LIMIT_KB=$((64 * 1024))

lport=$(free_port)
cport=$(free_port)
start_xfc xfc tcp "$cport"
ip netns exec "$B" python3 "$FAULT_DIR/relay.py" "$lport" "$cport" "$WORK/go" \
	>"$WORK/relay.log" 2>&1 &
RELAY_PID=$!
XF_PIDS+=("$RELAY_PID")
sleep 0.3
printf 'template_refresh = 1;\n' >"$WORK/sr.conf"
chmod 600 "$WORK/sr.conf"
start_xlatflowd "$B" --config "$WORK/sr.conf" --interface vb --collector "tcp://127.0.0.1:$lport" \
	--idle-timeout 1 --active-timeout 60 --drain-interval 100 --nat-hook off
wait_log "connected" 10
rss0=$(rss_kb "$XLATFLOWD_PID")

send_flows "$A" --src 198.18.0.1,198.18.0.11 --dst 198.18.0.2 --dport 5001 --flows $FLOWS \
	--packets 1 --payload 20
# every flow expires and is exported into the stalled connection
max=0
for _ in $(seq 1 40); do
	kill -0 "$XLATFLOWD_PID" || fail "xlatflowd died"
	r=$(rss_kb "$XLATFLOWD_PID")
	[ "$r" -gt "$max" ] && max=$r
	sleep 0.1
done
echo "RSS: $rss0 kB at start, at most $max kB while the collector did not read (bound $RSS_LIMIT_KB kB)"
[ "$max" -lt "$RSS_LIMIT_KB" ] || fail "RSS $max kB over $RSS_LIMIT_KB kB"

touch "$WORK/go"                                # the collector reads again
sleep 3                                         # queue flushed; options records refreshed
send_flows "$A" --dst 198.18.0.2 --dport 5002 --flows 200 --packets 2 --payload 50 >/dev/null
sleep 3
stop_xlatflowd
wait "$RELAY_PID" || true
cat "$WORK/relay.log"
stop_xfc xfc

acct "$WORK/xfc.json" --src 198.18.0.1 --dport 5002 --flows 200 --packets 2 --payload 50 ||
	fail "flows after the recovery"
out=$(acct "$WORK/xfc.json" --src 198.18.0.1,198.18.0.11 --dport 5001 --flows $FLOWS \
	--packets 1 --payload 20 --mode whole --summary) || fail "burst: a flow decoded wrong"
echo "burst: $out"
python3 - "$WORK/xfc.json" $FLOWS <<'PY' || fail "burst: decoded + not sent != $FLOWS"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
burst = sum(1 for r in recs if r.get('set') == 'data' and r.get('destinationTransportPort') == 5001)
opts = [r for r in recs if r.get('set') == 'options' and 'notSentFlowTotalCount' in r]
ns = opts[-1]['notSentFlowTotalCount']
print(f'burst: {burst} decoded + {ns} not sent (counted) = {burst + ns}, sent {sys.argv[2]}')
sys.exit(0 if burst + ns == int(sys.argv[2]) and ns > 0 else 1)
PY
echo "PASS: slow_reader"
