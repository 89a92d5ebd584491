#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The translation table at its bound (max_translations), the whole daemon
# with the conntrack source on the host. A "node" namespace DNATs UDP to
# 198.19.0.40 towards 198.18.2.2 (a namespace that drops it: no reply, no
# ICMP error, so conntrack reports NEW and nothing else).
#
# 1. Exact count. max_translations = 20 and 60 connections, one after the
#    other, each deleted from conntrack (DESTROY) before the next starts:
#    each connection is inserted once (its NEW event, or a periodic dump
#    that caught it alive, whichever comes first: the other only refreshes
#    it), a DESTROY only marks it for removal and its grace (idle_timeout 60
#    + 2 s) outlasts the test, and no dump can bring back an evicted one,
#    since only the current connection is alive in conntrack. So every
#    connection past the 20th evicts exactly one: the exported
#    xlatEvictedTranslationTotalCount at exit must be 60 - 20 = 40.
# 2. Memory. max_translations = 64 and a flood of 100000 new connections
#    (one UDP packet each, distinct ports: what a SYN flood with random
#    source ports does through a DNAT), all alive in conntrack: at least
#    100000 - 64 evictions (more if an event overrun's resync dump or a
#    periodic dump reports them again), and the daemon's own memory
#    (RssAnon) must not grow by more than 4 MiB. Without the bound it grows
#    by about 17 MiB (the table's 209 bytes a translation at this size,
#    tests/unit/xlat_test). No interface is captured in this part, so the
#    flow cache stays empty.
XF_TEST=xb
source "$(dirname "$0")/lib.sh"
need_root
need_cmd nft conntrack python3
[ -x "$XLATFLOWD" ] || fail "$XLATFLOWD not built"
collect=$abs_top_builddir/tests/tools/xf-collect
[ -x "$collect" ] || fail "$collect not built (make check builds it)"
for m in nf_conntrack nf_nat nft_chain_nat; do
	modprobe -q "$m" 2>/dev/null || true
done

BOUND=20 CONNS=60 FLOOD_BOUND=64 FLOOD=100000 RSS_SLACK_KB=4096

node=$(ns_add node)
cli=$(ns_add cli)
srv=$(ns_add srv)
veth_pair "$cli" c0 "$node" r1
ip -n "$cli" addr add 198.18.1.2/24 dev c0
ip -n "$node" addr add 198.18.1.1/24 dev r1
ip -n "$cli" route add default via 198.18.1.1
veth_pair "$srv" s0 "$node" r2
ip -n "$srv" addr add 198.18.2.2/24 dev s0
ip -n "$node" addr add 198.18.2.1/24 dev r2
for ns in "$cli" "$node" "$srv"; do
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
done
ip netns exec "$node" sysctl -qw net.ipv4.ip_forward=1
# the backend drops the datagrams before its own conntrack or sockets see them
ip netns exec "$srv" nft -f - <<'NFT' || fail "nftables rules (srv)"
table ip xfbound { chain pre { type filter hook prerouting priority -300; udp dport != 0 drop; }; }
NFT
ip netns exec "$node" nft -f - <<'NFT' || fail "nftables rules"
table ip xfbound {
	chain pre {
		type nat hook prerouting priority dstnat;
		ip daddr 198.19.0.40 meta l4proto udp dnat to 198.18.2.2
	}
}
NFT
ip netns exec "$cli" ping -c1 -W2 198.18.1.1 >/dev/null || fail "no route to the node"
ip netns exec "$node" ping -c1 -W2 198.18.2.2 >/dev/null || fail "no route to the backend"
ip netns exec "$node" conntrack -F >/dev/null 2>&1 || true

# run_daemon NAME MAX ARGS...: xf-collect (TCP) and xlatflowd with max_translations = MAX.
run_daemon() {
	local name=$1 max=$2
	shift 2
	printf 'max_translations = %s;\n' "$max" >"$WORK/$name.conf"
	chmod 600 "$WORK/$name.conf"
	port=$(free_port)
	ip netns exec "$node" "$collect" --tcp "$port" --bind 127.0.0.1 --out "$WORK/$name.json" \
		2>"$WORK/$name-collect.log" &
	XFC_PID=$!
	XF_PIDS+=("$XFC_PID")
	sleep 0.3
	start_xlatflowd "$node" --config "$WORK/$name.conf" --collector "tcp://127.0.0.1:$port" \
		--nat-hook conntrack --idle-timeout 60 --active-timeout 120 --drain-interval 100 "$@"
	mv "$WORK/xlatflowd.log" "$WORK/$name-xlatflowd.log"
	ln -s "$name-xlatflowd.log" "$WORK/xlatflowd.log"
	grep -q "NAT enrichment: conntrack" "$WORK/xlatflowd.log" ||
		fail "NAT enrichment is not conntrack: $(grep -i nat "$WORK/xlatflowd.log")"
}

# stop_daemon: SIGTERM (the final options records), then the collector once the connection closed.
stop_daemon() {
	stop_xlatflowd
	for _ in $(seq 1 50); do
		grep -q "connection closed" "$WORK/$1-collect.log" && break
		sleep 0.1
	done
	kill -TERM "$XFC_PID" 2>/dev/null || true
	wait "$XFC_PID" 2>/dev/null || true
	rm -f "$WORK/xlatflowd.log"
}

# evicted NAME: xlatEvictedTranslationTotalCount of the last metering record xf-collect decoded.
evicted() {
	python3 - "$WORK/$1.json" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
met = [r for r in recs if r.get("template_id") == 262]
if not met or "xlatEvictedTranslationTotalCount" not in met[-1]:
    sys.exit("no metering record with xlatEvictedTranslationTotalCount")
print(met[-1]["xlatEvictedTranslationTotalCount"])
PY
}

# --- 1. exact count ---------------------------------------------------------
run_daemon exact "$BOUND" --interface r1
ip netns exec "$cli" python3 - "$node" "$CONNS" <<'PY' || fail "connections"
import socket, subprocess, sys, time
node, conns = sys.argv[1], int(sys.argv[2])
for i in range(conns):
    sport = 20001 + i
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("198.18.1.2", sport))
    s.sendto(b"x" * 20, ("198.19.0.40", 53))
    s.close()
    # delete it from conntrack before the next one starts (retry until the entry exists)
    for _ in range(100):
        rc = subprocess.run(["ip", "netns", "exec", node, "conntrack", "-D", "-p", "udp",
                             "--orig-src", "198.18.1.2", "--orig-port-src", str(sport)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        if rc == 0:
            break
        time.sleep(0.01)
    else:
        sys.exit(f"connection {sport}: no conntrack entry to delete")
PY
sleep 1 # the last events read
left=$(ip netns exec "$node" conntrack -L -p udp 2>/dev/null | grep -c "dport=53 " || true)
[ "$left" = 0 ] || fail "$left connections still in conntrack"
stop_daemon exact
got=$(evicted exact) || fail "exact: $got"
echo "exact: $CONNS connections through max_translations = $BOUND: $got evicted (expected $((CONNS - BOUND)))"
[ "$got" = $((CONNS - BOUND)) ] || fail "xlatEvictedTranslationTotalCount is $got, not $((CONNS - BOUND))"

# --- 2. memory under a flood ------------------------------------------------
ip netns exec "$node" conntrack -F >/dev/null 2>&1 || true
run_daemon flood "$FLOOD_BOUND" --interface xfnone
rss_kb() { awk '/^RssAnon:/ { print $2 }' "/proc/$XLATFLOWD_PID/status"; }
sleep 1
before=$(rss_kb)
ip netns exec "$cli" python3 - "$FLOOD" <<'PY' || fail "flood"
import socket, sys
n = int(sys.argv[1])
socks = []
for i in range(4):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("198.18.1.2", 30001 + i))
    socks.append(s)
sent = 0
for dport in range(1024, 65536):
    for s in socks:
        if sent == n:
            break
        s.sendto(b"x", ("198.19.0.40", dport))
        sent += 1
print(f"flood: {sent} connections")
PY
sleep 3 # the overrun's resync dump, then one periodic dump of them all
in_ct=$(ip netns exec "$node" conntrack -C 2>/dev/null || echo "?")
after=$(rss_kb)
kill -0 "$XLATFLOWD_PID" || fail "xlatflowd died under the flood"
stop_daemon flood
flood_evicted=$(evicted flood) || fail "flood: $flood_evicted"
echo "flood: $in_ct connections in conntrack, max_translations = $FLOOD_BOUND:" \
	"RssAnon $before -> $after kB, $flood_evicted evicted"
[ "$flood_evicted" -ge $((FLOOD - FLOOD_BOUND)) ] ||
	fail "only $flood_evicted translations evicted: the flood did not reach the table"
[ $((after - before)) -le $RSS_SLACK_KB ] ||
	fail "RssAnon grew by $((after - before)) kB (more than $RSS_SLACK_KB kB) under the flood"
echo "PASS: xlat_bound"
