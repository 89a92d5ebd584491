#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Flow cache at its bound: --max-flows 10 and 50 flows. The flows that do
# not fit push the least recently updated ones out early, exported with
# flowEndReason 5 (lack of resources); no packet may go missing.
#  1. 50 flows one after the other, 3 packets each: exactly 40 records with
#     reason 5 and 10 with reason 1 (idle), one record per flow, exact counts.
#  2. 50 flows alive at once, 4 rounds of 1 packet 0.3 s apart: flows are
#     evicted and come back, so a flow may have several records, but each
#     flow's records add up to exactly its 4 packets.
XF_TEST=cf
source "$(dirname "$0")/faultlib.sh"
pair_setup

port=$(free_port)
start_xfc xfc tcp "$port"
start_xlatflowd "$B" --interface vb --collector "tcp://127.0.0.1:$port" \
	--max-flows 10 --idle-timeout 2 --active-timeout 60 --drain-interval 100 --nat-hook off

send_flows "$A" --dst 198.18.0.2 --dport 5001 --flows 50 --packets 3 --payload 100
sleep 3.5
send_flows "$A" --dst 198.18.0.2 --dport 5002 --flows 50 --packets 1 --payload 60 \
	--interleave --rounds 4 --gap 0.3
sleep 3.5
stop_xlatflowd
stop_xfc xfc

acct "$WORK/xfc.json" --src 198.18.0.1 --dport 5001 --flows 50 --packets 3 --payload 100 \
	--max-records-per-flow 1 --summary || fail "phase 1 accounting"
python3 - "$WORK/xfc.json" <<'PY' || fail "phase 1 reasons"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
sel = [r for r in recs if r.get('set') == 'data' and r.get('destinationTransportPort') == 5001]
by = {}
for r in sel:
    by[r['flowEndReason']] = by.get(r['flowEndReason'], 0) + 1
print('phase 1 records by flowEndReason:', by)
sys.exit(0 if by == {5: 40, 1: 10} else 1)
PY
out=$(acct "$WORK/xfc.json" --src 198.18.0.1 --dport 5002 --flows 50 --packets 4 --payload 60 \
	--summary) || fail "phase 2 accounting"
echo "phase 2: $out"
python3 - "$WORK/xfc.json" <<'PY' || fail "phase 2 reasons"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
sel = [r for r in recs if r.get('set') == 'data' and r.get('destinationTransportPort') == 5002]
by = {}
for r in sel:
    by[r['flowEndReason']] = by.get(r['flowEndReason'], 0) + 1
print('phase 2 records by flowEndReason:', by)
# at most 10 flows survive to the idle timeout; every other record was an eviction
ok = set(by) <= {1, 5} and by.get(1, 0) <= 10 and by.get(5, 0) >= 40
sys.exit(0 if ok else 1)
PY
python3 - "$WORK/xfc.json" <<'PY' || fail "exported eviction count"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
evicted = sum(1 for r in recs if r.get('set') == 'data' and r.get('flowEndReason') == 5)
m = [r for r in recs if r.get('set') == 'options' and 'xlatCacheEvictedFlowTotalCount' in r][-1]
print(f'records with reason 5: {evicted}, exported xlatCacheEvictedFlowTotalCount at exit: '
      f'{m["xlatCacheEvictedFlowTotalCount"]}')
sys.exit(0 if m['xlatCacheEvictedFlowTotalCount'] == evicted else 1)
PY
echo "PASS: cache_full"
