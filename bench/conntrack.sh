#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The conntrack source under load (part 7 of bench/run.sh; also runs alone,
# as root, from a build tree after `make bench-programs`). Never pass/fail.
#
#   conntrack.sh [-r "RATES"] [-s SECONDS] [-m ENTRIES]
#
# 1. Rates: new NATed connections a second (tests/tools/xf-ctgen: one-packet
#    UDP through a DNAT, node UDP timeout 1 s) for SECONDS at each rate, once
#    with the daemon's reliable delivery and once with plain events (no
#    NETLINK_BROADCAST_ERROR, as ipt-netflow-style listeners), the same
#    traffic one after the other. The probe (xlat_conntrack_listen -c -X)
#    counts CREATEs and DELETEs and their tuple digests; the generator says
#    what it sent and at what rate it managed.
# 2. Stall: a table of ENTRIES translated connections (nf_conntrack_max is
#    raised for the run when smaller, and restored): the longest
#    xlat_conntrack_dispatch() while the source dumps it a slice at a time
#    (bench/conntrack_stall), against the same dump in one call (what the
#    source did before dumps were sliced).
# Prints markdown; <!-- summary: ... --> lines for run.sh's summary table.
set -uo pipefail

rates="10000 20000 30000 50000 100000"
secs=4
big=1000000
while getopts "r:s:m:" opt; do
	case $opt in
	r) rates=$OPTARG ;;
	s) secs=$OPTARG ;;
	m) big=$OPTARG ;;
	*) exit 2 ;;
	esac
done
build=${abs_top_builddir:-$(pwd)}
LISTEN=$build/tests/integration/xlat_conntrack_listen
GEN=$build/tests/tools/xf-ctgen
STALL=$build/bench/conntrack_stall
for p in "$LISTEN" "$GEN" "$STALL"; do
	[ -x "$p" ] || { echo "$p not built (make bench-programs)" >&2; exit 1; }
done
WORK=$(mktemp -d /tmp/xlatflow-bench-ct.XXXXXX)
P=xfctb$$
gen=$P-gen node=$P-node sink=$P-sink
max_file=/proc/sys/net/netfilter/nf_conntrack_max
old_max=
probe_pid=
cleanup() {
	[ -n "$probe_pid" ] && kill "$probe_pid" 2>/dev/null
	wait 2>/dev/null
	for ns in $gen $node $sink; do ip netns del "$ns" 2>/dev/null; done
	[ -n "$old_max" ] && echo "$old_max" >"$max_file"
	rm -rf "$WORK"
}
trap cleanup EXIT
log() { echo "conntrack bench: $*" >&2; }

for ns in $gen $node $sink; do
	ip netns add "$ns" && ip -n "$ns" link set lo up || exit 1
done
ip link add c0 netns $gen type veth peer name r1 netns $node
ip link add s0 netns $sink type veth peer name r2 netns $node
ip -n $gen addr add 198.18.1.2/24 dev c0
ip -n $gen link set c0 up
ip -n $gen route add default via 198.18.1.1
ip -n $node addr add 198.18.1.1/24 dev r1
ip -n $node addr add 198.18.2.1/24 dev r2
ip -n $node link set r1 up
ip -n $node link set r2 up
ip -n $sink link set s0 up
ip -n $node neigh add 198.18.2.2 lladdr 02:00:00:00:00:02 dev r2 nud permanent
ip netns exec $node sysctl -qw net.ipv4.ip_forward=1 net.netfilter.nf_conntrack_udp_timeout=1
ip netns exec $node nft -f - <<'NFT' || exit 1
table ip xf_rate {
	chain pre {
		type nat hook prerouting priority dstnat;
		ip daddr 198.19.0.10 udp dport 10000-10999 dnat to 198.18.2.2
	}
}
NFT
ip netns exec $gen ping -c1 -W2 198.18.1.1 >/dev/null || exit 1
ip netns exec $node conntrack -F >/dev/null 2>&1

count() { ip netns exec $node conntrack -C; }
drained() { # wait until conntrack forgot every connection (GC of the 1 s timeout)
	for _ in $(seq 1 600); do
		[ "$(count)" = 0 ] && return 0
		sleep 0.1
	done
	return 1
}
field() { sed -n "s/^$2 .*\\b$3=\\([^ ]*\\).*/\\1/p" "$1"; }
offset=0

# rate_run RATE MODE: one row of the table
rate_run() {
	local rate=$1 mode=$2 n=$(($1 * secs)) flag= out=$WORK/rate.out
	[ "$mode" = plain ] && flag=-U
	ip netns exec $node "$LISTEN" -q -c -X $flag -D $n >"$out" 2>"$WORK/rate.err" &
	probe_pid=$!
	for _ in $(seq 1 100); do
		grep -q '^READY$' "$out" 2>/dev/null && break
		sleep 0.1
	done
	ip netns exec $gen "$GEN" -s 198.18.1.2 -d 198.19.0.10 -n $n -r "$rate" -o $offset \
		>"$WORK/gen.out"
	offset=$((offset + n))
	# reliable: the probe ends at its last DELETE; plain: when conntrack is empty
	drained
	for _ in $(seq 1 50); do
		kill -0 $probe_pid 2>/dev/null || break
		sleep 0.1
	done
	kill $probe_pid 2>/dev/null
	wait $probe_pid 2>/dev/null
	probe_pid=
	local got sent cr de rec ovr lost cpu dig ok
	got=$(sed -n 's/.*rate=\([0-9]*\).*/\1/p' "$WORK/gen.out")
	dig=$(sed -n 's/.*digest=\([0-9a-f]*\).*/\1/p' "$WORK/gen.out")
	cr=$(field "$out" DIGEST creates)
	de=$(field "$out" DIGEST deletes)
	rec=$(field "$out" DIGEST recovered)
	ovr=$(field "$out" NATSTATS overruns)
	lost=$(field "$out" NATSTATS lost_events)
	cpu=$(sed -n 's/.*cpu_s=\([0-9.]*\).*/\1/p' "$WORK/rate.err")
	ok=no
	[ "$cr" = $n ] && [ "$de" = $n ] && [ "$(field "$out" DIGEST create_sum)" = "$dig" ] &&
		[ "$(field "$out" DIGEST delete_sum)" = "$dig" ] && ok=yes
	printf '| %s | %s | %s | %s | %s / %s | %s | %s | %s | %s | %s |\n' "$rate" "$got" "$mode" \
		"$n" "$cr" "$de" "$ok" "$rec" "$ovr" "$lost" \
		"$(awk -v c="$cpu" -v n=$n 'BEGIN { printf "%.1f", c * 1e6 / (2 * n) }')"
	echo "$rate $got $mode $n $cr $de $ok $rec $ovr $lost $(awk -v c="$cpu" -v n=$n \
		'BEGIN { printf "%.2f", c * 1e6 / (2 * n) }')" >>"$WORK/rows"
}

echo "### Rates: reliable delivery vs plain events, the same traffic"
echo
echo "One-packet UDP connections through a DNAT in a namespace (UDP timeout 1 s), $secs s at each"
echo "rate; a CREATE and a DELETE each. *exact*: CREATE and DELETE counts and tuple digests equal the"
echo "generator's. *recovered*: CREATEs rebuilt from their DELETE (the NEW overran the socket);"
echo "*overruns*: messages the kernel could not queue (reliable: sent again later); *lost*: overruns"
echo "under plain delivery, gone (counted by the source). CPU: the probe's, per event."
echo
echo "| asked/s | generator managed/s | delivery | connections | CREATE / DELETE | exact | recovered | overruns | lost | probe us/event |"
echo "|---:|---:|---|---:|---:|---|---:|---:|---:|---:|"
for r in $rates; do
	for mode in reliable plain; do
		log "rate $r $mode"
		rate_run "$r" $mode
		drained
	done
done
exact=$(awk '$3 == "reliable" && $7 != "yes" { bad++ } END { print bad ? "no" : "yes" }' "$WORK/rows")
top=$(awk '$3 == "reliable" && $2 > m { m = $2 } END { print m + 0 }' "$WORK/rows")
plain=$(awk '$3 == "plain" { n++; if ($10 > 0) { k++; if ($10 / (2 * $4) > w) w = $10 / (2 * $4) } }
	END { printf "%d of %d rates, up to %.0f%% of the messages", k, n, w * 100 }' "$WORK/rows")
cap=$(awk '$3 == "reliable" && ($11 < m || !m) { m = $11 } END { printf "%.0f", m ? 1e6 / m : 0 }' "$WORK/rows")
echo
echo "Reliable delivery exact at every rate (the generator managed up to $top/s): $exact."
over=$(awk '$3 == "reliable" { n++; if ($9 > 0) k++ } END { printf "%d of %d", k, n }' "$WORK/rows")
echo "Plain events lost messages at $plain. The socket overran under reliable delivery"
echo "at $over rates, and the kernel sent those messages again. The probe reads about $cap"
echo "events per CPU second ($((cap / 2)) connections: a CREATE and a DELETE each)."
echo "<!-- summary: | conntrack source, reliable delivery: every CREATE and DELETE at every rate (up to $top/s managed) | $exact | exact at 50000/s | - | -->"
echo "<!-- summary: | conntrack source, plain events (ipt-netflow style) on the same traffic: lost | $plain | - | - | -->"
echo "<!-- summary: | conntrack source: events read per CPU second | $cap | - | - | -->"

# --- 2. stall ------------------------------------------------------------------------
echo
echo "### The longest dispatch while dumping $big translated connections"
echo
cur=$(cat $max_file)
if [ "$cur" -lt $((big + 50000)) ]; then
	old_max=$cur
	echo $((big + 50000)) >$max_file || { echo "cannot raise nf_conntrack_max"; exit 0; }
fi
ip netns exec $node sysctl -qw net.netfilter.nf_conntrack_udp_timeout=3600
log "filling $big connections"
ip netns exec $gen "$GEN" -s 198.18.1.2 -d 198.19.0.10 -n $big -r 10000000 -o $offset >"$WORK/gen.out"
n=$(count)
echo "conntrack holds $n connections (nf_conntrack_max $(cat $max_file), $(cat /proc/sys/net/netfilter/nf_conntrack_buckets) buckets)."
echo
echo "| source | longest dispatch, CPU | longest dispatch, wall | start dump, wall | one-call dump (before): CPU / wall | RSS |"
echo "|---|---:|---:|---:|---:|---:|"
for args in "" "-e"; do
	log "stall $args"
	ip netns exec $node "$STALL" $args -d 2 -r 1000 >"$WORK/stall.out" 2>"$WORK/stall.err" || {
		echo "| conntrack_stall $args failed: $(tail -n 1 "$WORK/stall.err") |"
		continue
	}
	f() { sed -n "s/.*\\b$1=\\([0-9.]*\\).*/\\1/p" "$WORK/stall.out"; }
	printf '| %s | %s ms | %s ms | %s ms | %s / %s ms | %s MiB |\n' \
		"$([ -n "$args" ] && echo "with NAT events ($(f sessions) sessions)" || echo translations only)" \
		"$(f max_cpu_ms)" "$(f max_wall_ms)" "$(f start_dump_ms)" "$(f sync_cpu_ms)" "$(f sync_wall_ms)" \
		"$(awk -v k="$(f rss_kib)" 'BEGIN { printf "%.1f", k / 1024 }')"
	[ -n "$args" ] && echo "<!-- summary: | conntrack source: longest dispatch (CPU) dumping $n connections, sliced / in one call (before) | $(f max_cpu_ms) / $(f sync_cpu_ms) ms | - | - | -->"
done
echo
echo "Wall times include waiting for a CPU on a shared host; CPU times are this thread's (softirq"
echo "work the kernel does meanwhile on the same CPU is counted too)."
ip netns exec $node conntrack -F >/dev/null 2>&1
