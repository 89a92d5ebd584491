#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Nothing lost, nothing twice: the NAT event log to a TCP collector that is
# down, through the on-disk spool, across a SIGKILL of the daemon.
#
# A generator namespace opens 10000 one-packet UDP connections
# (tests/tools/xf-ctgen, a new tuple each) through a node that DNATs them
# (nftables, port kept) to a sink that drops them; once all are in the
# table, `conntrack -L` records them and `conntrack -F` ends them (DESTROY
# events for every one; `conntrack -E` beside the daemon loses events at
# this rate on this machine, ENOBUFS, so it cannot be the truth). xlatflowd runs in the node with
# the conntrack source and one collector, tcp://127.0.0.1:PORT with
# flows = false, nat_events = true, spool = true, where nothing listens
# (connection refused) until the end:
#   1. 5000 connections open and close; once conntrack destroyed them all
#      and the spool holds their 10000 events, the daemon is SIGKILLed and
#      started again on the same spool;
#   2. 5000 more connections open and close;
#   3. tests/tools/xf-collect comes up on the port.
# The truth is conntrack itself: the kernel's table before each flush (the
# connections' pre- and post-NAT tuples), empty after it, and its counters
# (no insert failed, nothing dropped). The collector must decode exactly one
# session create (natEvent 4) and one session delete (natEvent 5) per
# connection of the table, with conntrack's pre- and post-NAT tuples, the
# spooled events of the first daemon before those of the second, each
# create before its delete; and the last options record must say the spool
# is empty, nothing lost. The collector is down for about 10 s, not the 30 s
# of the issue: what the spool holds depends on the events, not on the
# time, so a longer outage only makes the test longer.
# The daemon is killed between the two bursts, not in the middle of one:
# events it read from conntrack but had not yet handed to the spool die
# with it, and while no daemon runs conntrack delivers its events to no
# one; neither is the spool's to keep (docs/nat-events.md, "Delivery").
XF_TEST=natspool
source "$(dirname "$0")/lib.sh"
need_root
need_cmd nft conntrack python3 ping
[ -x "$XLATFLOWD" ] || fail "$XLATFLOWD not built"
GEN=$abs_top_builddir/tests/tools/xf-ctgen
COLLECT=$abs_top_builddir/tests/tools/xf-collect
[ -x "$GEN" ] || fail "$GEN not built"
[ -x "$COLLECT" ] || fail "$COLLECT not built"
N=5000
for m in nf_conntrack nf_nat nft_chain_nat nf_conntrack_netlink; do
	modprobe -q "$m" 2>/dev/null || true
done

gen=$(ns_add gen)
node=$(ns_add node)
sink=$(ns_add sink)
ip netns exec "$node" conntrack -L >/dev/null 2>&1 || skip "conntrack netlink unavailable"
veth_pair "$gen" c0 "$node" r1
veth_pair "$sink" s0 "$node" r2
ip -n "$gen" addr add 198.18.1.2/24 dev c0
ip -n "$gen" route add default via 198.18.1.1
ip -n "$node" addr add 198.18.1.1/24 dev r1
ip -n "$node" addr add 198.18.2.1/24 dev r2
ip -n "$node" neigh add 198.18.2.2 lladdr 02:00:00:00:00:02 dev r2 nud permanent
ip netns exec "$node" sysctl -qw net.ipv4.ip_forward=1 net.netfilter.nf_conntrack_udp_timeout=60
ip netns exec "$node" nft -f - <<'NFT' || skip "nftables NAT unavailable"
table ip xf_spool {
	chain pre {
		type nat hook prerouting priority dstnat;
		ip daddr 198.19.0.10 udp dport 10000-10999 dnat to 198.18.2.2
	}
	# the daemon's connection to its collector on loopback stays out of conntrack
	chain raw_pre { type filter hook prerouting priority raw; iif "lo" notrack; }
	chain raw_out { type filter hook output priority raw; oif "lo" notrack; }
}
NFT
ip netns exec "$gen" ping -c1 -W2 198.18.1.1 >/dev/null || fail "gen cannot reach node"
ip netns exec "$node" conntrack -F >/dev/null 2>&1

port=$(free_port)
spool=$WORK/spool
dir=$spool/tcp-127.0.0.1:$port
cat >"$WORK/xlatflowd.conf" <<CONF
interfaces = { include = [ "r*" ]; };
collectors = (
	{ url = "tcp://127.0.0.1:$port"; flows = false; nat_events = true; spool = true; }
);
nat_hook = "conntrack";
drain_interval_ms = 100;
template_refresh = 1;
spool_dir = "$spool";
CONF
chmod 600 "$WORK/xlatflowd.conf"

ctstat() { # the node's conntrack counters summed over CPUs: "insert_failed drop early_drop"
	ip netns exec "$node" conntrack -S | awk '{ for (i = 2; i <= NF; i++) { split($i, a, "=");
		s[a[1]] += a[2] } } END { print s["insert_failed"], s["drop"], s["early_drop"] }'
}
stats_before=$(ctstat)

table_empty() {
	for _ in $(seq 1 150); do
		[ "$(ip netns exec "$node" conntrack -C)" = 0 ] && return 0
		sleep 0.1
	done
	fail "$1: conntrack still holds $(ip netns exec "$node" conntrack -C) connections"
}

# spooled NAME COUNT: the spool holds exactly COUNT records. Every record
# here is an IPv4 session event of one size: 12 bytes of framing and the
# payload length the first record's header gives (bytes 20..23 of the
# first segment, little-endian), after one 16-byte header per segment.
spooled() {
	local first len segs size want=-
	for _ in $(seq 1 300); do
		first=$(ls "$dir"/*.seg 2>/dev/null | head -n 1)
		if [ -n "$first" ] && [ "$(wc -c <"$first")" -ge 24 ]; then
			len=$(od -A n -t u4 -j 20 -N 4 "$first" | tr -d ' ')
			segs=$(ls "$dir"/*.seg | wc -l)
			size=$(cat "$dir"/*.seg | wc -c)
			want=$((segs * 16 + $2 * (12 + len)))
			[ "$size" = "$want" ] && return 0
		fi
		sleep 0.1
	done
	fail "$1: the spool in $dir holds ${size:-0} bytes, not $want ($2 records)"
}

# burst NAME: all N connections in the table; record them (the truth), end them
burst() {
	for _ in $(seq 1 100); do
		[ "$(ip netns exec "$node" conntrack -C)" = $N ] && break
		sleep 0.1
	done
	[ "$(ip netns exec "$node" conntrack -C)" = $N ] ||
		fail "$1: conntrack holds $(ip netns exec "$node" conntrack -C) connections, not $N"
	ip netns exec "$node" conntrack -L -p udp -o id >>"$WORK/conntrack.list" 2>/dev/null
	ip netns exec "$node" conntrack -F >/dev/null 2>&1
	table_empty "$1"
}

# ---- 1. 5000 connections, then SIGKILL --------------------------------------
start_xlatflowd "$node" --config "$WORK/xlatflowd.conf"
grep -q "NAT enrichment: conntrack" "$WORK/xlatflowd.log" ||
	fail "NAT source is not conntrack: $(grep -i nat "$WORK/xlatflowd.log")"
ip netns exec "$gen" "$GEN" -s 198.18.1.2 -d 198.19.0.10 -n $N -r 20000 >"$WORK/gen1.log" ||
	fail "generator 1"
burst "burst 1"
spooled "burst 1" $((2 * N))
kill -KILL "$XLATFLOWD_PID"
wait "$XLATFLOWD_PID" 2>/dev/null || true
size1=$(cat "$dir"/*.seg | wc -c)
mv "$WORK/xlatflowd.log" "$WORK/xlatflowd-1.log"

# ---- 2. the second daemon on the same spool, 5000 more ----------------------
start_xlatflowd "$node" --config "$WORK/xlatflowd.conf"
ip netns exec "$gen" "$GEN" -s 198.18.1.2 -d 198.19.0.10 -n $N -o $N -r 20000 \
	>"$WORK/gen2.log" || fail "generator 2"
burst "burst 2"
spooled "burst 2" $((4 * N))
[ "$(ctstat)" = "$stats_before" ] ||
	fail "conntrack insert_failed/drop/early_drop went from $stats_before to $(ctstat)"
size2=$(cat "$dir"/*.seg | wc -c)

# ---- 3. the collector comes up -----------------------------------------------
ip netns exec "$node" "$COLLECT" --tcp "$port" --bind 127.0.0.1 --out "$WORK/xfc.json" \
	2>"$WORK/xf-collect.log" &
XFC_PID=$!
XF_PIDS+=("$XFC_PID")
for _ in $(seq 1 300); do
	[ "$(grep -c '"natEvent"' "$WORK/xfc.json" 2>/dev/null || true)" -ge $((4 * N)) ] && break
	sleep 0.1
done
# the options records every second (template_refresh) until one says the spool is empty
for _ in $(seq 1 50); do
	grep '"xlatSpoolPendingRecordCount":' "$WORK/xfc.json" | tail -n 1 |
		grep -q '"xlatSpoolPendingRecordCount":0,' && break
	sleep 0.1
done
kill "$XFC_PID" 2>/dev/null || true

python3 - "$WORK/conntrack.list" "$WORK/xfc.json" "$N" "$size1" "$size2" <<'EOF' || fail "events"
import json, re, sys
ev_file, xfc_file, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
# conntrack -L: the original tuple, then the reply tuple (src=198.18.2.2 after DNAT)
pat = re.compile(r"^udp\s+17 .*?src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+)"
                 r".*?src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+)")
table = []
for line in open(ev_file):
    m = pat.search(line)
    if m and m.group(5) == "198.18.2.2":
        # pre-NAT src, dst, ports; post-NAT destination = the reply's source
        table.append((m.group(1), m.group(2), int(m.group(3)), int(m.group(4)),
                      m.group(5), int(m.group(7))))
truth = {"NEW": table, "DESTROY": table}
recs = [json.loads(l) for l in open(xfc_file)]
events = [r for r in recs if r.get("set") == "data" and "natEvent" in r]
opts = [r for r in recs if "xlatSpoolPendingRecordCount" in r]
def key(r):
    return (r["sourceIPv4Address"], r["destinationIPv4Address"], r["sourceTransportPort"],
            r["destinationTransportPort"], r["postNATDestinationIPv4Address"],
            r["postNAPTDestinationTransportPort"])
got = {4: [key(r) for r in events if r["natEvent"] == 4],
       5: [key(r) for r in events if r["natEvent"] == 5]}
bad = 0
def check(what, ok, detail=""):
    global bad
    bad += not ok
    print(("ok " if ok else "FAIL ") + what + ("" if ok else ": " + detail))
check("conntrack's table held %d distinct DNATed connections" % (2 * n),
      len(table) == 2 * n and len(set(table)) == 2 * n, "%d, %d distinct" % (len(table), len(set(table))))
check("one create per connection, none else", sorted(got[4]) == sorted(table),
      "%d creates, %d distinct, %d connections" % (len(got[4]), len(set(got[4])), len(table)))
check("one delete per connection, none else", sorted(got[5]) == sorted(table),
      "%d deletes, %d distinct, %d connections" % (len(got[5]), len(set(got[5])), len(table)))
check("no other records", len(events) == 4 * n, "%d records" % len(events))
# spool order: the first daemon's (source ports 1024..) before the second's
first = [r["sourceTransportPort"] < 1024 + n for r in events]
check("the first daemon's events first", first == sorted(first, reverse=True))
pos = {}
for i, r in enumerate(events):
    pos.setdefault((key(r), r["natEvent"]), i)
check("each create before its delete",
      all(pos[(k, 4)] < pos[(k, 5)] for k in set(got[4]) & set(got[5])))
check("post-NAT source unchanged (DNAT only)",
      all(r["postNATSourceIPv4Address"] == r["sourceIPv4Address"] for r in events))
last = opts[-1] if opts else {}
for k, want in (("xlatSpoolPendingRecordCount", 0), ("xlatSpoolFullRecordTotalCount", 0),
                ("xlatSpoolWriteErrorRecordTotalCount", 0), ("xlatSpoolDamagedRecordTotalCount", 0)):
    check("last options record: %s = %d" % (k, want), last.get(k) == want, str(last.get(k)))
natlog = [r for r in recs if "xlatNatEventExportedTotalCount" in r]
nl = natlog[-1] if natlog else {}
check("event log statistics: %d exported by the second daemon, none not sent" % (4 * n),
      nl.get("xlatNatEventExportedTotalCount") == 4 * n and nl.get("xlatNatEventNotSentTotalCount") == 0,
      "%s" % {k: v for k, v in nl.items() if k.startswith("xlatNatEvent")})
print("spool: %s bytes after the first daemon, %s before the replay; %d records decoded"
      % (sys.argv[4], sys.argv[5], len(events)))
sys.exit(1 if bad else 0)
EOF
grep -q "spool .*: $((2 * N)) records to send" "$WORK/xlatflowd.log" ||
	fail "the second daemon did not find the first one's $((2 * N)) events: $(grep spool "$WORK/xlatflowd.log")"
echo "PASS: $((4 * N)) NAT events through the spool, $N connections on each side of a SIGKILL"
