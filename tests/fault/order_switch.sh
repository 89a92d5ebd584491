#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# datapath_order "auto" changing the order under traffic. With
# datapath_probe_interval = 1 the daemon measures the other order every
# other second, so 2000 UDP flows of 100 packets each, interleaved at 20000
# packets a second (10 s), run through both orders, every flow through several
# changes: some of its packets counted into its flow slot, others sent to
# the ring buffer. Asserted:
#  - before any traffic the daemon measures nothing (0 changes);
#  - every flow decodes with exactly its packets and octets: the slots' and
#    the ring's shares of a flow are merged, nothing counted twice or lost;
#  - the kernel lost nothing and no packet went past full slots;
#  - the daemon measured the other order at least 3 times, changed order at
#    least as often, logged each measuring window, and knows a cost for
#    both orders (the exit statistics line);
#  - the metrics endpoint reports the same measurements.
XF_TEST=os
source "$(dirname "$0")/faultlib.sh"
pair_setup
need_cmd curl
FLOWS=2000
PKTS=100

port=$(free_port)
mport=$(free_port)
printf 'datapath_probe_interval = 1;\n' >"$WORK/os.conf"
chmod 600 "$WORK/os.conf"
start_xfc xfc tcp "$port"
start_xlatflowd "$B" --config "$WORK/os.conf" --interface vb --collector "tcp://127.0.0.1:$port" \
	--idle-timeout 30 --active-timeout 120 --drain-interval 200 --nat-hook off \
	--log-level debug --metrics-listen "127.0.0.1:$mport"
sleep 2.5
grep -q "datapath order: measuring" "$WORK/xlatflowd.log" &&
	fail "the daemon measured an order before any traffic"

sent=$(send_flows "$A" --dst 198.18.0.2 --dport 5007 --flows $FLOWS --packets $PKTS \
	--payload 50 --interleave --rate 20000 --timing)
echo "sent: $sent"
sleep 1.5
metrics=$(ip netns exec "$B" curl -sf "http://127.0.0.1:$mport/metrics") || fail "metrics endpoint"
kc=$(python3 "$FAULT_DIR/kcounters.py" "$XLATFLOWD_PID") || fail "kernel counters"
echo "kernel $kc"
stop_xlatflowd
stop_xfc xfc
eval "$(echo "$kc" | tr ' ' '\n' | sed 's/^/K_/')"

[ "$K_RB_LOST_PACKETS" -eq 0 ] || fail "the kernel lost $K_RB_LOST_PACKETS packets"
[ "$K_MAP_FULL" -eq 0 ] || fail "$K_MAP_FULL packets past full slots (65536 slots, $FLOWS flows)"
acct "$WORK/xfc.json" --src 198.18.0.1 --dport 5007 --sport-base 10000 --flows $FLOWS \
	--packets $PKTS --payload 50 --summary || fail "not every flow decoded exactly"

line=$(grep "stats (exit): datapath order:" "$WORK/xlatflowd.log") ||
	fail "no datapath order statistics at exit"
echo "$line"
changes=$(echo "$line" | sed -n 's/.* now, \([0-9]*\) changes, \([0-9]*\) measurements.*/\1/p')
probes=$(echo "$line" | sed -n 's/.* now, \([0-9]*\) changes, \([0-9]*\) measurements.*/\2/p')
slots_ns=$(echo "$line" | sed -n 's/.*a packet cost \([0-9]*\) ns slots first, \([0-9]*\) ns ring first.*/\1/p')
ring_ns=$(echo "$line" | sed -n 's/.*a packet cost \([0-9]*\) ns slots first, \([0-9]*\) ns ring first.*/\2/p')
[ -n "$probes" ] && [ -n "$ring_ns" ] || fail "cannot read the statistics line"
[ "$probes" -ge 3 ] || fail "$probes measurements of the other order in $((FLOWS * PKTS / 20)) ms of traffic, want >= 3"
[ "$changes" -ge "$probes" ] || fail "$changes changes < $probes measurements"
[ "$slots_ns" -gt 0 ] && [ "$ring_ns" -gt 0 ] || fail "a cost not measured: $slots_ns / $ring_ns ns"
windows=$(grep -c "datapath order: measuring" "$WORK/xlatflowd.log" || true)
[ "$windows" -eq "$probes" ] || fail "$windows measuring windows logged, $probes counted"
m_probes=$(echo "$metrics" | awk '$1 == "xlatflow_datapath_order_measurements_total" {print $2}')
[ -n "$m_probes" ] && [ "$m_probes" -ge 3 ] && [ "$m_probes" -le "$probes" ] ||
	fail "metrics: $m_probes measurements (exit line: $probes)"
echo "$metrics" | grep -Eq '^xlatflow_datapath_packet_cost_seconds\{order="ring"\} 0\.[0-9]*[1-9]' ||
	fail "metrics: no measured ring-first cost"
echo "order switch: $probes measurements, $changes changes; $slots_ns ns slots first, $ring_ns ns ring first"
echo "PASS: order_switch"
