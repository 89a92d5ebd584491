#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The conntrack source loses no NAT event: at rate, and when the kernel
# cannot deliver. A generator namespace sends one-packet UDP connections
# (tests/tools/xf-ctgen: a new tuple each) through a node namespace that
# DNATs them (port kept) towards a sink that drops them; the node's UDP
# timeout is 1 s, so every connection ends by itself. The probe
# (xlat_conntrack_listen -c -X, as the daemon: reliable delivery, conntrack
# timestamps) sums a digest of the original tuples of its CREATEs and of
# its DELETEs; the generator sums the same over what it sent.
#
#   rate      CT_RATE_N connections (default 150000) at CT_RATE (default
#             50000 a second, or what the generator manages on this machine:
#             printed): CREATEs = DELETEs = N, both digests the generator's,
#             no event lost, conntrack neither dropped nor failed an insert,
#             its table empty at the end.
#   reliable  the probe stops reading while 60000 connections arrive and
#             are flushed (their NEWs and DESTROYs overrun its socket): once
#             it reads again, still exactly 60000 CREATEs and DELETEs with
#             the generator's digest, the lost NEWs recovered from their
#             DELETEs (flagged), nothing lost, the table empty.
#   plain     the same with plain delivery (no NETLINK_BROADCAST_ERROR, as
#             ipt-netflow-style listeners): events are lost, and the source
#             counts every one: messages received + lost_events = 120000.
#   guard     the socket overruns while the table is past the guard's
#             threshold (lowered to 10%, so the flood passes it): reliable
#             delivery is suspended, and resumed once the table is flushed.
XF_TEST=ctrate
source "$(dirname "$0")/lib.sh"
need_root
need_cmd nft conntrack python3 ping
LISTEN=$abs_top_builddir/tests/integration/xlat_conntrack_listen
GEN=$abs_top_builddir/tests/tools/xf-ctgen
[ -x "$LISTEN" ] || fail "$LISTEN not built"
[ -x "$GEN" ] || fail "$GEN not built"
RATE=${CT_RATE:-50000}
N=${CT_RATE_N:-150000}
FLOOD=60000
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
# the sink has no address: what reaches it is dropped without an answer
ip -n "$node" neigh add 198.18.2.2 lladdr 02:00:00:00:00:02 dev r2 nud permanent
ip netns exec "$node" sysctl -qw net.ipv4.ip_forward=1 net.netfilter.nf_conntrack_udp_timeout=1
ip netns exec "$node" nft -f - <<'NFT' || skip "nftables NAT unavailable"
table ip xf_rate {
	chain pre {
		type nat hook prerouting priority dstnat;
		ip daddr 198.19.0.10 udp dport 10000-10999 dnat to 198.18.2.2
	}
}
NFT
ip netns exec "$gen" ping -c1 -W2 198.18.1.1 >/dev/null || fail "gen cannot reach node"
ip netns exec "$node" conntrack -F >/dev/null 2>&1 # the ping's

ctstat() { # the node's conntrack counters summed over CPUs: "insert_failed drop early_drop"
	ip netns exec "$node" conntrack -S | awk '{ for (i = 2; i <= NF; i++) { split($i, a, "=");
		s[a[1]] += a[2] } } END { print s["insert_failed"], s["drop"], s["early_drop"] }'
}

wait_for() { # FILE PATTERN SECONDS
	for _ in $(seq 1 $(($3 * 10))); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# probe NAME ARGS...: the probe in node, in the background, until READY
probe() {
	local name=$1
	shift
	ip netns exec "$node" "$LISTEN" -q -c -X "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
	PROBE_PID=$!
	XF_PIDS+=("$PROBE_PID")
	wait_for "$WORK/$name.out" '^READY$' 10 || fail "$name: probe not ready: $(cat "$WORK/$name.err")"
}

# finish NAME SECONDS: the probe ends by itself (-D) within SECONDS, or is stopped
finish() {
	for _ in $(seq 1 $(($2 * 10))); do
		kill -0 "$PROBE_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill "$PROBE_PID" 2>/dev/null || true
	wait "$PROBE_PID" || fail "$1: probe failed: $(cat "$WORK/$1.err")"
}

field() { # FILE LINE_TAG NAME
	sed -n "s/^$2 .*\\b$3=\\([^ ]*\\).*/\\1/p" "$1"
}

table_empty() { # NAME: the kernel forgot every connection
	for _ in $(seq 1 100); do
		[ "$(ip netns exec "$node" conntrack -C)" = 0 ] && return 0
		sleep 0.1
	done
	fail "$1: conntrack still holds $(ip netns exec "$node" conntrack -C) connections"
}

check_exact() { # NAME COUNT DIGEST: every CREATE and DELETE, nothing lost
	local out=$WORK/$1.out
	local want="creates=$2 deletes=$2"
	local got="creates=$(field "$out" DIGEST creates) deletes=$(field "$out" DIGEST deletes)"
	[ "$got" = "$want" ] || fail "$1: $got, want $want: $(cat "$out")"
	[ "$(field "$out" DIGEST create_sum)" = "$3" ] && [ "$(field "$out" DIGEST delete_sum)" = "$3" ] ||
		fail "$1: digests $(grep DIGEST "$out"), generator $3"
	for kv in lost_events=0 lost_deletes=0 lost_sessions=0 duplicates=0 reliable=1 host=7; do
		grep -q "^NATSTATS .*\\b$kv\\b" "$out" || fail "$1: not $kv: $(grep NATSTATS "$out")"
	done
}

# --- rate ---------------------------------------------------------------------
before=$(ctstat)
probe rate -D "$N"
ip netns exec "$gen" "$GEN" -s 198.18.1.2 -d 198.19.0.10 -n "$N" -r "$RATE" >"$WORK/rate.gen" ||
	fail "generator failed"
finish rate 40
digest=$(sed -n 's/.*digest=\([0-9a-f]*\).*/\1/p' "$WORK/rate.gen")
check_exact rate "$N" "$digest"
after=$(ctstat)
[ "${after% *}" = "${before% *}" ] || fail "rate: conntrack insert_failed/drop went from $before to $after"
table_empty rate
echo "rate: $(cat "$WORK/rate.gen") (asked $RATE/s; ${SECONDS}s into the test)"
echo "rate: $(grep DIGEST "$WORK/rate.out")"
echo "rate: $(grep NATSTATS "$WORK/rate.out" | grep -o 'recovered_creates=[0-9]* \|overruns=[0-9]* \|early_drop=[0-9]*' | tr -d '\n')"

# --- reliable: the socket overruns, the kernel keeps what it could not send ---
probe reliable -D "$FLOOD" -p 120000
ip netns exec "$gen" "$GEN" -s 198.18.1.2 -d 198.19.0.10 -n "$FLOOD" -r 1000000 -o "$N" \
	>"$WORK/reliable.gen" || fail "generator failed"
ip netns exec "$node" conntrack -F >/dev/null 2>&1
held=$(ip netns exec "$node" conntrack -C)
kill -USR1 "$PROBE_PID"
finish reliable 40
digest=$(sed -n 's/.*digest=\([0-9a-f]*\).*/\1/p' "$WORK/reliable.gen")
check_exact reliable "$FLOOD" "$digest"
recovered=$(field "$WORK/reliable.out" DIGEST recovered)
overruns=$(field "$WORK/reliable.out" NATSTATS overruns)
[ "$recovered" -gt 0 ] && [ "$overruns" -gt 0 ] ||
	fail "reliable: no overrun happened (recovered $recovered, overruns $overruns): flood too small"
[ "$recovered" = "$(field "$WORK/reliable.out" NATSTATS recovered_creates)" ] ||
	fail "reliable: $recovered CREATEs flagged recovered, NATSTATS says otherwise"
[ "$(field "$WORK/reliable.out" DIGEST bad_recovered)" = 0 ] ||
	fail "reliable: recovered CREATEs not at their connection's start: $(grep DIGEST "$WORK/reliable.out")"
table_empty reliable
echo "reliable: flushed with the probe stopped: $held connections held by the kernel" \
	"until delivered; $recovered NEWs recovered from DELETEs, $overruns overruns, nothing lost" \
	"(${SECONDS}s)"

# --- plain delivery: lost, and counted --------------------------------------------
probe plain -D "$FLOOD" -p 120000 -U -r 0
ip netns exec "$gen" "$GEN" -s 198.18.1.2 -d 198.19.0.10 -n "$FLOOD" -r 1000000 \
	-o $((N + FLOOD)) >"$WORK/plain.gen" || fail "generator failed"
ip netns exec "$node" conntrack -F >/dev/null 2>&1
held=$(ip netns exec "$node" conntrack -C)
kill -USR1 "$PROBE_PID"
sleep 3 # what was queued; the rest is gone
finish plain 1
out=$WORK/plain.out
lost=$(field "$out" NATSTATS lost_events)
received=$(sed -n 's/^events=\([0-9]*\) .*/\1/p' "$WORK/plain.err")
[ "$held" = 0 ] || fail "plain: the kernel held $held connections without reliable delivery"
[ "$lost" -gt 0 ] || fail "plain: nothing lost: flood too small"
[ $((received + lost)) = $((2 * FLOOD)) ] ||
	fail "plain: $received messages received + $lost counted lost != $((2 * FLOOD))"
grep -q '^NATSTATS .*\breliable=0\b' "$out" || fail "plain: reliable delivery on"
echo "plain: $(grep DIGEST "$out"); $received messages received, $lost lost and counted" \
	"(${SECONDS}s)"

# --- the guard: a full table while the socket overruns suspends reliable delivery ---
# Its thresholds lowered to 10% and 5% of nf_conntrack_max, so the flood alone
# passes them (the defaults, 95% and 80%, would take 250000 entries here).
max=$(cat /proc/sys/net/netfilter/nf_conntrack_max)
if [ $((max / 10)) -lt $((FLOOD / 2)) ]; then
	probe guard -p 120000 -G 10,5
	ip netns exec "$gen" "$GEN" -s 198.18.1.2 -d 198.19.0.10 -n "$FLOOD" -r 1000000 \
		-o $((N + 2 * FLOOD)) >"$WORK/guard.gen" || fail "generator failed"
	held=$(ip netns exec "$node" conntrack -C)
	kill -USR1 "$PROBE_PID"
	wait_for "$WORK/guard.err" 'reliable delivery suspended' 10 ||
		fail "guard: not suspended at $held of $max: $(cat "$WORK/guard.err")"
	ip netns exec "$node" conntrack -F >/dev/null 2>&1
	wait_for "$WORK/guard.err" 'reliable delivery resumed' 20 ||
		fail "guard: not resumed: $(cat "$WORK/guard.err")"
	finish guard 0
	grep -q '^NATSTATS .*\breliable=1 reliable_suspended=1\b' "$WORK/guard.out" ||
		fail "guard: $(grep NATSTATS "$WORK/guard.out")"
	echo "guard: $held of $max: $(grep -o 'reliable delivery [a-z]*[^:]*' "$WORK/guard.err" |
		tr '\n' ';') (${SECONDS}s)"
else
	echo "SKIP-CHECK: guard: nf_conntrack_max $max is too large for the flood to pass 10% of it"
fi
echo PASS
