#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Per-node identity (observation_domain_id = "auto", the default): two
# daemons, each in its own mount namespace with its own /etc/machine-id
# bind-mounted over the host's, as two nodes would have, export to one
# nfcapd from the same address (127.0.0.1, so only the domain tells them
# apart). Each daemon's domain is the one docs/collectors.md says how to
# compute; nfcapd keeps them as two exporters with their own sequence
# numbers (nfdump -E), counts no sequence failure (nfdump -I), and each
# exporter's flows are exactly the ones its daemon saw. The options
# records (xf-collect) carry exporterIPv4Address 127.0.0.1, and to a
# collector reached over IPv6 exporterIPv6Address ::1.
# A machine id that is missing or not one is refused, naming the file.
XF_TEST=id
source "$(dirname "$0")/lib.sh"
need_root
need_cmd nfcapd nfdump nft python3 unshare mount
[ -x "$XLATFLOWD" ] || fail "$XLATFLOWD not built"
GEN=$abs_top_srcdir/tests/fault/gen.py

a=$(ns_add a)
b=$(ns_add b)
veth_pair "$a" va1 "$b" vb1
veth_pair "$a" va2 "$b" vb2
ip -n "$a" addr add 198.18.1.1/24 dev va1
ip -n "$b" addr add 198.18.1.2/24 dev vb1
ip -n "$a" addr add 198.18.2.1/24 dev va2
ip -n "$b" addr add 198.18.2.2/24 dev vb2
for i in 1 2; do
	ip netns exec "$a" sysctl -qw "net.ipv6.conf.va$i.disable_ipv6=1"
	ip netns exec "$b" sysctl -qw "net.ipv6.conf.vb$i.disable_ipv6=1"
	ip -n "$a" neigh replace "198.18.$i.2" lladdr "$(ip -n "$b" -br link show "vb$i" | awk '{print $3}')" \
		dev "va$i" nud permanent
	ip -n "$b" neigh replace "198.18.$i.1" lladdr "$(ip -n "$a" -br link show "va$i" | awk '{print $3}')" \
		dev "vb$i" nud permanent
done
# what the daemons count is dropped after the hook: no replies, no ICMP
ip netns exec "$b" nft -f - <<'NFT'
table inet xfid {
	chain pre { type filter hook prerouting priority -300; udp dport 5000-5999 drop; }
}
NFT

# domain MACHINE_ID: docs/collectors.md "Per-node identity"
domain() {
	python3 -c 'import hashlib, hmac, sys
d = int(hmac.new(bytes.fromhex(sys.argv[1]), b"xlatflow observation domain", hashlib.sha256).hexdigest()[:8], 16)
print(d or 1)' "$1"
}
mid1=5f3d1c2b0a9e48d7b6c5a4f3e2d1c0b9
mid2=0123456789abcdef0123456789abcdef
dom1=$(domain $mid1)
dom2=$(domain $mid2)
[ "$dom1" != "$dom2" ] || fail "test machine ids give one domain"
echo "machine ids give domains $dom1 and $dom2"

port=$(free_port)
xport=$(free_port)
x6port=$(free_port)
start_nfcapd "$b" "$port"
ip netns exec "$b" "$abs_top_builddir/tests/tools/xf-collect" --udp "$xport" --bind 127.0.0.1 \
	--out "$WORK/xfc.json" 2>"$WORK/xf-collect.log" &
XFC_PID=$!
XF_PIDS+=("$XFC_PID")
ip netns exec "$b" "$abs_top_builddir/tests/tools/xf-collect" --udp "$x6port" --bind ::1 \
	--out "$WORK/xfc6.json" 2>"$WORK/xf-collect6.log" &
XFC6_PID=$!
XF_PIDS+=("$XFC6_PID")

# node N: its machine id over /etc/machine-id in a mount namespace of its own
DPID=()
start_node() { # N
	local n=$1 mid
	mid=$([ "$n" = 1 ] && echo $mid1 || echo $mid2)
	echo "$mid" >"$WORK/machine-id.$n"
	ip netns exec "$b" unshare -m sh -c 'mount --bind "$1" /etc/machine-id && shift && exec "$@"' \
		sh "$WORK/machine-id.$n" "$XLATFLOWD" --foreground --interface "vb$n" \
		--collector "udp://127.0.0.1:$port" --collector "udp://127.0.0.1:$xport" \
		--collector "udp://[::1]:$x6port" \
		--idle-timeout 1 --active-timeout 60 --drain-interval 100 --nat-hook off \
		>"$WORK/node$n.log" 2>&1 &
	DPID[$n]=$!
	XF_PIDS+=("$!")
	for _ in $(seq 1 100); do
		grep -q "NAT enrichment:" "$WORK/node$n.log" 2>/dev/null && return 0
		kill -0 "${DPID[$n]}" 2>/dev/null || fail "node $n exited: $(cat "$WORK/node$n.log")"
		sleep 0.1
	done
	fail "node $n did not start: $(cat "$WORK/node$n.log")"
}
start_node 1
start_node 2
grep -q "observation domain $dom1 (from /etc/machine-id)" "$WORK/node1.log" || fail "node 1 domain"
grep -q "observation domain $dom2 (from /etc/machine-id)" "$WORK/node2.log" || fail "node 2 domain"

# node 1 sees 30 flows of 3 packets, node 2 sees 20 of 5; in rounds, so
# both export (and number their messages) at the same time
ip netns exec "$a" python3 "$GEN" --src 198.18.1.1 --dst 198.18.1.2 --dport 5001 --flows 30 \
	--packets 3 --payload 100 >/dev/null &
g1=$!
ip netns exec "$a" python3 "$GEN" --src 198.18.2.1 --dst 198.18.2.2 --dport 5002 --flows 20 \
	--packets 5 --payload 60 >/dev/null
wait $g1
sleep 2.5
for n in 1 2; do
	kill -TERM "${DPID[$n]}"
	rc=0
	wait "${DPID[$n]}" || rc=$?
	[ $rc -eq 0 ] || fail "node $n exited with $rc: $(tail -n 5 "$WORK/node$n.log")"
done
stop_nfcapd
sleep 0.3
kill -TERM "$XFC_PID" "$XFC6_PID"
wait "$XFC_PID" "$XFC6_PID" 2>/dev/null || true

for f in "$WORK"/nfcapd/nfcapd.*; do
	nfdump -E "$f" >>"$WORK/exporters.txt" 2>&1 || fail "nfdump -E $f: $(cat "$WORK/exporters.txt")"
done
nfdump -R "$WORK/nfcapd" -I >"$WORK/stat.txt" 2>&1 || fail "nfdump -I: $(cat "$WORK/stat.txt")"
nfdump -R "$WORK/nfcapd" -o json >"$WORK/flows.json" 2>"$WORK/nfdump.log" || fail "nfdump -o json"
grep SysID "$WORK/exporters.txt" 
python3 - "$WORK/exporters.txt" "$WORK/stat.txt" "$WORK/flows.json" "$WORK/xfc.json" "$WORK/xfc6.json" \
	"$dom1" "$dom2" <<'PY'
import json, re, sys
exp_txt, stat_txt, flows_path, xfc_path, xfc6_path = sys.argv[1:6]
dom = {int(sys.argv[6]): ("198.18.1.1", 5001, 30, 3, 128), int(sys.argv[7]): ("198.18.2.1", 5002, 20, 5, 88)}
fails = []
# nfdump -E: one exporter per (address, domain), with the domain as its id
ids = {}
for line in open(exp_txt):
    m = re.search(r'SysID: *(\d+), IP: *([0-9.:a-f]+), version: *10, ID: *(\d+), '
                  r'Sequence failures: *(\d+)', line)
    if m:
        ids[int(m.group(1))] = (int(m.group(3)), m.group(2))
        if int(m.group(4)):
            fails.append(line.strip())
if sorted(v[0] for v in ids.values()) != sorted(dom):
    fails.append(f'nfdump -E exporters {ids}, want domains {sorted(dom)}')
if {v[1] for v in ids.values()} != {"127.0.0.1"}:
    fails.append(f'exporter addresses {ids}')
stat = open(stat_txt).read()
m = re.search(r'Sequence failures: *(\d+)', stat)
if not m or int(m.group(1)) != 0:
    fails.append('sequence failures: ' + (m.group(1) if m else 'not reported'))
# each exporter's flows are exactly its node's
flows = json.load(open(flows_path))
for sysid, (d, _) in ids.items():
    src, dport, n, k, octets = dom.get(d, (None,) * 5)
    mine = [f for f in flows if f.get('export_sysid') == sysid]
    ok = [f for f in mine if f.get('src4_addr') == src and f.get('dst_port') == dport
          and f.get('in_packets') == k and f.get('in_bytes') == k * octets]
    print(f'domain {d}: {len(mine)} flows, {len(ok)} of them exactly its node\'s')
    if len(mine) != n or len(ok) != n:
        fails.append(f'domain {d}: {len(mine)} flows, {len(ok)} exact, want {n}')
# the options records: the sending socket's address, per domain
recs = [json.loads(l) for l in open(xfc_path) if l.strip()]
opt = {r['observation_domain']: r.get('exporterIPv4Address') for r in recs
       if r.get('set') == 'options' and 'exportedFlowRecordTotalCount' in r}
if opt != {d: '127.0.0.1' for d in dom}:
    fails.append(f'exporterIPv4Address per domain {opt}')
# to a collector reached over IPv6: exporterIPv6Address (131) instead
recs = [json.loads(l) for l in open(xfc6_path) if l.strip()]
opt6 = {r['observation_domain']: (r.get('exporterIPv6Address'), 'exporterIPv4Address' in r)
        for r in recs if r.get('set') == 'options' and 'exportedFlowRecordTotalCount' in r}
if opt6 != {d: ('::1', False) for d in dom}:
    fails.append(f'exporterIPv6Address per domain {opt6}')
print(f'exporter addresses: {opt} over IPv4, {opt6} over IPv6')
for f in fails:
    print('FAIL:', f, file=sys.stderr)
sys.exit(1 if fails else 0)
PY

# no machine id: the error names the file and says what to do
bad() { # CONTENT WANT
	printf '%s' "$1" >"$WORK/machine-id.bad"
	if ip netns exec "$b" unshare -m sh -c 'mount --bind "$1" /etc/machine-id && shift && exec "$@"' \
		sh "$WORK/machine-id.bad" "$XLATFLOWD" --check-config --interface vb1 \
		--collector "udp://127.0.0.1:$port" >"$WORK/bad.log" 2>&1; then
		fail "machine id '$1' accepted"
	fi
	grep -qF -- "$2" "$WORK/bad.log" || fail "machine id '$1': $(cat "$WORK/bad.log")"
}
bad "" '/etc/machine-id does not hold a machine id (32 hexadecimal digits, machine-id(5)) but ""'
bad $'uninitialized\n' 'but "uninitialized"; run systemd-machine-id-setup, or set observation_domain_id to a number instead'
bad $'0123456789abcdef0123456789abcdeg\n' '/etc/machine-id does not hold a machine id'
echo "PASS: daemon_identity"
