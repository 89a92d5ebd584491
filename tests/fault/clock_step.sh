#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The wall clock stepped backwards (1 h) and forwards (2 h) while flows are
# alive: every exported record must keep start <= end and its true duration
# (the kernel stamps packets with CLOCK_MONOTONIC; both ends are converted
# with the offset of the export cycle), be stated in the wall clock of the
# export (the stepped one), and count every packet.
#
# CLOCK_REALTIME cannot be namespaced (a time namespace only offsets
# MONOTONIC and BOOTTIME) and stepping the host's clock would disturb every
# other test, so this runs inside a throw-away QEMU guest
# (tests/vm/run-vm.sh), where `date -s` steps the guest's own clock. Exits
# 77 where run-vm.sh cannot boot one (no qemu or kernel image, XF_SKIP_VM=1).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"   # the guest starts us with sh

if [ -z "${XF_OUT:-}" ]; then
	# on the host (make check): run this script in the guest
	abs_top_srcdir=${abs_top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
	abs_top_builddir=${abs_top_builddir:-$(pwd)}
	XF_SRCDIR=$abs_top_srcdir XF_BUILDDIR=$abs_top_builddir \
		exec sh "$abs_top_srcdir/tests/vm/run-vm.sh" -t "${XF_VM_TIMEOUT:-300}" \
		-w "$abs_top_builddir/tests/fault/work-clock_step" \
		"$abs_top_srcdir/tests/fault/clock_step.sh"
fi

# --- in the guest ---------------------------------------------------------------
export abs_top_srcdir=$XF_SRCDIR abs_top_builddir=$XF_BUILDDIR
XF_TEST=ck
source "$abs_top_srcdir/tests/fault/faultlib.sh"
modprobe -q veth 2>/dev/null || true
modprobe -q nf_tables 2>/dev/null || true
pair_setup

port=$(free_port)
start_xfc xfc tcp "$port"
start_xlatflowd "$B" --interface vb --collector "tcp://127.0.0.1:$port" --idle-timeout 3 \
	--active-timeout 60 --drain-interval 100 --nat-hook off
wait_log "connected" 20

# realtime - monotonic in ms: changes by exactly the step applied
offset_ms() {
	python3 -c 'import time; print(int((time.clock_gettime(time.CLOCK_REALTIME) - time.clock_gettime(time.CLOCK_MONOTONIC)) * 1000))'
}
step() { # SECONDS (negative: backwards); the step really applied in $WORK/step
	local before after
	before=$(offset_ms)
	date -s "@$(awk -v n="$(date +%s.%N)" -v d="$1" 'BEGIN { printf "%.3f", n + d }')" \
		>/dev/null || fail "date -s failed"
	after=$(offset_ms)
	echo $((after - before)) >>"$WORK/step"
}
# wait_started FILE: the sender sent its first packet
wait_started() {
	for _ in $(seq 1 300); do
		[ -e "$1" ] && return 0
		sleep 0.05
	done
	fail "the sender did not start"
}

# flow 1 (port 5001): 16 packets over 3 s, the clock goes back 1 h half way
send_flows "$A" --dst 198.18.0.2 --dport 5001 --flows 1 --packets 1 --payload 10 --rounds 16 \
	--gap 0.2 --timing --started "$WORK/started1" >"$WORK/gen1.out" &
g=$!
wait_started "$WORK/started1"
sleep 1.5
step -3600
wait $g
sleep 5                         # idle timeout: exported in the stepped clock
# flow 2 (port 5002): the same, the clock goes forward 2 h half way
send_flows "$A" --dst 198.18.0.2 --dport 5002 --flows 1 --packets 1 --payload 10 --rounds 16 \
	--gap 0.2 --timing --started "$WORK/started2" >"$WORK/gen2.out" &
g=$!
wait_started "$WORK/started2"
sleep 1.5
step 7200
wait $g
sleep 5
stop_xlatflowd
stop_xfc xfc

cat "$WORK/gen1.out" "$WORK/gen2.out"
echo "steps applied (ms): $(tr '\n' ' ' <"$WORK/step")"
python3 - "$WORK/xfc.json" "$WORK/gen1.out" "$WORK/gen2.out" "$WORK/step" <<'PY' || fail "exported times"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
gen = [dict(kv.split('=') for kv in open(f).read().split()) for f in sys.argv[2:4]]
steps = [int(x) for x in open(sys.argv[4]).read().split()]
bad = 0
if not (abs(steps[0] + 3600000) < 5000 and abs(steps[1] - 7200000) < 5000):
    sys.exit(f'the clock steps were {steps}')
# (port, the sender's timing, the step applied after its first packet, before export)
for port, g, shift in ((5001, gen[0], steps[0]), (5002, gen[1], steps[1])):
    t0, span = int(g['first_wall_ms']), int(g['span_ms'])
    sel = [r for r in recs if r.get('set') == 'data' and r.get('destinationTransportPort') == port]
    if len(sel) != 1:
        print(f'FAIL port {port}: {len(sel)} records'); bad += 1; continue
    r = sel[0]
    s, e = r['flowStartMilliseconds'], r['flowEndMilliseconds']
    dur = e - s
    print(f'port {port}: {r["packetDeltaCount"]} packets, start {s} end {e}, duration {dur} ms '
          f'(sender: {span} ms), start - (first packet + step) = {s - (t0 + shift)} ms')
    if r['packetDeltaCount'] != 16 or r['octetDeltaCount'] != 16 * 38:
        print('FAIL packets/octets'); bad += 1
    if not s <= e:
        print('FAIL start > end'); bad += 1
    # the sender's monotonic span; the kernel's coarse clock and the veth add a little
    if abs(dur - span) > 100:
        print('FAIL duration is not the true one'); bad += 1
    if abs(s - (t0 + shift)) > 200:
        print('FAIL start is not in the stepped wall clock'); bad += 1
sys.exit(1 if bad else 0)
PY
echo "PASS: clock_step"
