#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Kernel flow slots full: --kernel-max-flows 1024 and 3000 distinct flows of
# known packet counts sent while the daemon is stopped (SIGSTOP: it drains
# neither the maps nor the ring buffer meanwhile). Packets of flows that
# find no room go through the ring buffer, so every packet must be
# accounted for:
#  1. default ring buffer (4 MiB): nothing is lost; every flow decodes with
#     exactly its packets and octets; the kernel counters show MAP_FULL > 0,
#     RB_LOST_PACKETS = 0 and PACKETS = packets sent.
#  2. a 4 KiB ring buffer: packets are lost, and exactly the lost ones are
#     counted: decoded packets + RB_LOST_PACKETS = packets sent (likewise
#     octets), and every decoded flow holds no more than it sent.
# Phases 1 and 2 run the slots-first order (datapath_order "slots"), phase
# 3 the ring-first order ("ring"): the daemon is stopped, so "auto" would
# stay slots first anyway, but the test names the order it tests.
#  3. ring first (every packet to the ring buffer first) with a 64 KiB ring
#     and 8192 slots: the ring fills while the daemon is stopped, and the
#     slots take the rest (RING_FULL_SLOTS > 0); nothing is lost, every flow
#     decodes with exactly its packets and octets, and the ring's events
#     (PACKETS - RING_FULL_SLOTS) are the ones the slots did not hold.
# The kernel counters are read from the daemon's own map (kcounters.py), and
# the metering statistics the daemon exports at exit (options records) must
# carry exactly the same numbers.
# The collector is on TCP: a burst of UDP export overflows a slow
# collector's socket (seen: 66 of 163 datagrams), which is not under test here.
XF_TEST=km
source "$(dirname "$0")/faultlib.sh"
pair_setup
need_cmd bpftool
FLOWS=3000

run_phase() { # NAME RINGBUF DPORT [KERNEL_MAX_FLOWS [CONFIG_LINE]]
	local name=$1 rb=$2 dport=$3 kmax=${4:-1024} port sent kc
	port=$(free_port)
	printf 'ringbuf_size = %s;\n%s\n' "$rb" "${5:-}" >"$WORK/$name.conf"
	chmod 600 "$WORK/$name.conf"
	start_xfc "$name" tcp "$port"
	start_xlatflowd "$B" --config "$WORK/$name.conf" --interface vb \
		--collector "tcp://127.0.0.1:$port" --kernel-max-flows "$kmax" --idle-timeout 2 \
		--active-timeout 60 --drain-interval 2000 --nat-hook off
	# stopped, the daemon reads neither map nor ring buffer: the burst must fit
	# (or be counted lost) by the kernel side alone
	kill -STOP "$XLATFLOWD_PID"
	sent=$(send_flows "$A" --dst 198.18.0.2 --dport "$dport" --flows $FLOWS --packets 2 \
		--payload 72)
	kill -CONT "$XLATFLOWD_PID"
	echo "$name: sent $sent"
	sleep 5
	kc=$(python3 "$FAULT_DIR/kcounters.py" "$XLATFLOWD_PID") || fail "kernel counters"
	echo "$name: kernel $kc"
	stop_xlatflowd
	stop_xfc "$name"
	cp "$WORK/xlatflowd.log" "$WORK/xlatflowd-$name.log"
	eval "$(echo "$kc" | tr ' ' '\n' | sed 's/^/K_/')"
	python3 - "$WORK/$name.json" "$K_RB_LOST_PACKETS" "$K_RB_LOST_OCTETS" "$K_MAP_FULL" <<'PY' ||
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
m = [r for r in recs if r.get('set') == 'options' and 'droppedPacketTotalCount' in r][-1]
got = (m['droppedPacketTotalCount'], m['droppedOctetTotalCount'], m['xlatMapFullPacketTotalCount'])
want = tuple(int(x) for x in sys.argv[2:5])
print(f'exported metering at exit: dropped packets/octets, map full = {got}, kernel {want}')
sys.exit(0 if got == want else 1)
PY
		fail "$name: the exported metering statistics differ from the kernel counters"
}

# --- 1. map full, ring buffer large enough ---
run_phase big 4194304 5001 1024 'datapath_order = "slots";'
[ "$K_PACKETS" -eq $((FLOWS * 2)) ] || fail "kernel saw $K_PACKETS packets, sent $((FLOWS * 2))"
[ "$K_OCTETS" -eq $((FLOWS * 2 * 100)) ] || fail "kernel saw $K_OCTETS octets"
[ "$K_MAP_FULL" -gt 0 ] || fail "the map never filled (MAP_FULL = 0): the test tests nothing"
[ "$K_RB_LOST_PACKETS" -eq 0 ] || fail "ring buffer lost $K_RB_LOST_PACKETS packets"
acct "$WORK/big.json" --src 198.18.0.1 --dport 5001 --flows $FLOWS --packets 2 --payload 72 \
	--summary || fail "phase 1: not every packet decoded exactly"

# --- 2. map full and a tiny ring buffer: losses, each one counted ---
run_phase small 4096 5002 1024 'datapath_order = "slots";'
[ "$K_PACKETS" -eq $((FLOWS * 2)) ] || fail "kernel saw $K_PACKETS packets, sent $((FLOWS * 2))"
[ "$K_RB_LOST_PACKETS" -gt 0 ] || fail "nothing lost with a 4 KiB ring buffer: the test tests nothing"
out=$(acct "$WORK/small.json" --src 198.18.0.1 --dport 5002 --flows $FLOWS --packets 2 \
	--payload 72 --mode whole --summary 2>"$WORK/acct.err") || true
echo "phase 2: $out"
# a flow may have lost one of its two packets: only "more than sent" is an error
grep -v 'packets .* octets in .* records, sent 2 packets' "$WORK/acct.err" | grep FAIL &&
	fail "phase 2: records that are not gen.py's flows"
eval "$(echo "$out" | tr ' ' '\n' | grep -E '^(packets|octets)=' | sed 's/^/D_/')"
python3 - "$WORK/small.json" <<'PY' || fail "phase 2: a flow decoded more than it sent"
import json, sys
per = {}
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r.get('set') == 'data' and r.get('destinationTransportPort') == 5002:
        per[r['sourceTransportPort']] = per.get(r['sourceTransportPort'], 0) + r['packetDeltaCount']
sys.exit(1 if any(v > 2 for v in per.values()) else 0)
PY
[ $((D_packets + K_RB_LOST_PACKETS)) -eq $((FLOWS * 2)) ] ||
	fail "decoded $D_packets + lost $K_RB_LOST_PACKETS != sent $((FLOWS * 2))"
[ $((D_octets + K_RB_LOST_OCTETS)) -eq $((FLOWS * 2 * 100)) ] ||
	fail "decoded $D_octets + lost $K_RB_LOST_OCTETS octets != sent $((FLOWS * 2 * 100))"
echo "phase 2: decoded $D_packets + lost $K_RB_LOST_PACKETS = sent $((FLOWS * 2))"

# --- 3. ring first: the ring fills, the slots take the rest, nothing is lost ---
run_phase ringfirst 65536 5003 8192 'datapath_order = "ring";'
[ "$K_PACKETS" -eq $((FLOWS * 2)) ] || fail "kernel saw $K_PACKETS packets, sent $((FLOWS * 2))"
[ "$K_RB_LOST_PACKETS" -eq 0 ] || fail "ring first lost $K_RB_LOST_PACKETS packets"
[ "$K_MAP_FULL" -eq 0 ] || fail "ring first: $K_MAP_FULL packets past full slots (8192 slots, $FLOWS flows)"
[ "$K_RING_FULL_SLOTS" -gt 0 ] || fail "the 64 KiB ring never filled: the test tests nothing"
[ "$K_RING_FULL_SLOTS" -lt $((FLOWS * 2)) ] || fail "no packet went to the ring first"
grep -q "datapath order: ring first (fixed); $K_RING_FULL_SLOTS packets to the flow slots past a full ring buffer" \
	"$WORK/xlatflowd-ringfirst.log" || fail "the exit stats do not log the kernel's RING_FULL_SLOTS"
acct "$WORK/ringfirst.json" --src 198.18.0.1 --dport 5003 --flows $FLOWS --packets 2 --payload 72 \
	--summary || fail "phase 3: not every packet decoded exactly"
echo "phase 3: $((FLOWS * 2 - K_RING_FULL_SLOTS)) packets through the ring first, $K_RING_FULL_SLOTS in the slots"
echo "PASS: kmap_full"
