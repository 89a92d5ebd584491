#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# A hash collector group with real NAT: the NAT scenario of nat_scenarios.sh
# (kube-proxy ClusterIP in iptables and nftables mode, NodePort with
# masquerade, pod egress, IPv6, ICMP, zones, node-local clients; conntrack
# source) exported to a group of three xf-collect members in "hash" mode and
# to nfcapd. The kernel's conntrack table is the truth: every record of a
# translated connection, in both directions, observed before and after NAT
# at every interface, is on one member and the same member; over the three
# members together every translated flow is there with exactly the
# translation conntrack applied (natcheck.py, as for one collector); and
# every member took some. The members also take the NAT event log: each
# connection's session events go to the member that has its flows.
XF_TEST=natp
source "$(dirname "$0")/lib.sh"
source "$abs_top_srcdir/tests/lib/nat-topology.sh"
need_root
need_cmd nfcapd nfdump nft iptables conntrack python3 ping
[ -x "$XLATFLOWD" ] || fail "$XLATFLOWD not built"
collect=$abs_top_builddir/tests/tools/xf-collect
[ -x "$collect" ] || fail "$collect not built (make check builds it)"
cases=$NAT_SCENARIO_CASES
topo_modules $cases 2>/dev/null || true

topo_setup "$NS_PREFIX-" "$abs_top_srcdir" "$WORK" || fail "topology"
topo_nat $cases || fail "NAT rules"
nat_scenario_serve || fail "servers"
topo_flush_conntrack || fail "conntrack flush"
node=$(topo_ns node)

port=$(free_port)
start_nfcapd "$node" "$port"
XFC=()
members=""
for m in 0 1 2; do
	p=$(free_port)
	ip netns exec "$node" "$collect" --udp "$p" --bind 127.0.0.1 --out "$WORK/m$m.json" \
		2>"$WORK/m$m.log" &
	XFC+=("$!")
	XF_PIDS+=("$!")
	members="$members${members:+, }{ url = \"udp://127.0.0.1:$p\"; nat_events = true; }"
done
(umask 077; cat >"$WORK/xlatflowd.conf") <<EOF2
interfaces = { include = [ "r*" ]; };
collectors = (
	{ url = "udp://127.0.0.1:$port"; },
	{ mode = "hash"; members = ( $members ); }
);
EOF2
start_xlatflowd "$node" --config "$WORK/xlatflowd.conf" --idle-timeout 3 --drain-interval 100 \
	--nat-hook conntrack
grep -q "NAT enrichment: conntrack" "$WORK/xlatflowd.log" ||
	fail "NAT enrichment is not conntrack: $(grep -i nat "$WORK/xlatflowd.log")"

b=43000
nat_scenario_traffic $b # cases A-H
ip netns exec "$node" conntrack -L -o extended >"$WORK/conntrack.txt" 2>/dev/null || true
ip netns exec "$node" conntrack -L -f ipv6 -o extended >>"$WORK/conntrack.txt" 2>/dev/null || true

sleep 5 # idle timeout 3 s
stop_xlatflowd
stop_nfcapd
sleep 0.3
kill -TERM "${XFC[@]}"
wait "${XFC[@]}" 2>/dev/null || true
nfdump_json "$WORK/nfdump.json"

# the group as a whole: what one collector would have got (the flows: the
# NAT event log's records, templates 266-270, are checked below)
cat "$WORK"/m[012].json | grep -v '"template_id":2\(6[6-9]\|70\),' >"$WORK/all.json"
python3 "$abs_top_srcdir/tests/integration/natcheck.py" "$WORK/conntrack.txt" "$WORK/all.json" \
	"$WORK/nfdump.json" "$b" || fail "natcheck over the group"

# each translated connection on one member
python3 - "$abs_top_srcdir/tests/integration" "$WORK/conntrack.txt" "$WORK"/m[012].json <<'PY' ||
import sys
sys.path.insert(0, sys.argv[1])
import natcheck
conns = [c for c in natcheck.parse_conntrack(sys.argv[2])
         if c["orig"] != natcheck.inv(c["reply"])]
index = {}
for i, c in enumerate(conns):
    o, r = c["orig"], c["reply"]
    for t in (o, natcheck.inv(r), r, natcheck.inv(o)):
        index.setdefault(t, i)
where, count, events, fails = {}, [0, 0, 0], 0, []
for m, path in enumerate(sys.argv[3:]):
    for rec in natcheck.load_jsonl(path):
        if rec.get("set") != "data" or "protocolIdentifier" not in rec:
            continue
        # a session event (266, 267) names the connection's original tuple
        i = index.get(natcheck.flow_tuple(rec))
        if i is None:
            continue
        where.setdefault(i, set()).add(m)
        count[m] += 1
        events += rec.get("template_id") in (266, 267)
for i, ms in sorted(where.items()):
    if len(ms) != 1:
        fails.append(f'{conns[i]["line"]}: on members {sorted(ms)}')
print(f'{len(where)} translated connections, records per member {count} '
      f'({events} of them NAT session events)')
if events < len(where):
    fails.append(f'{events} session events for {len(where)} connections')
if len(where) < 10 or min(count) == 0:
    fails.append(f'{len(where)} connections, {count}: expected at least 10, some on every member')
for f in fails:
    print("FAIL:", f, file=sys.stderr)
sys.exit(1 if fails else 0)
PY
	fail "a translated connection on more than one member"
echo "PASS: nat_pools"
