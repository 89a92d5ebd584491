#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Interface churn while traffic runs: 500 veth pairs appear in the daemon's
# namespace (its pattern 'ch*' matches one end of each), 250 are renamed out
# of the pattern, then all are deleted. Asserted:
#  - every matching interface gets both our TC filters once things settle;
#  - an interface renamed out of the pattern keeps no filter and no clsact
#    qdisc of ours; after exit, vb (where we created clsact) has none either;
#  - the daemon's open file descriptors are back to the baseline and its RSS
#    stays within 16 MiB of it; it never dies;
#  - the 100 flows sent on vb during all this decode exactly.
XF_TEST=ch
source "$(dirname "$0")/faultlib.sh"
pair_setup
need_cmd tc
N=500

filters_on() { # prints the interfaces of $1 (batch of names) that carry xf_tc_* filters
	local f
	for f in $1; do
		printf 'filter show dev %s ingress\nfilter show dev %s egress\n' "$f" "$f"
	done >"$WORK/tc.batch"
	tc -n "$B" -b "$WORK/tc.batch" 2>/dev/null | grep -c "xf_tc_" || true
}

port=$(free_port)
start_xfc xfc tcp "$port"
start_xlatflowd "$B" --interface vb --interface 'ch*' --collector "tcp://127.0.0.1:$port" \
	--idle-timeout 2 --active-timeout 60 --drain-interval 100 --nat-hook off
wait_log "connected" 10
sleep 0.5
fd0=$(fd_count "$XLATFLOWD_PID")
rss0=$(rss_kb "$XLATFLOWD_PID")

send_flows "$A" --dst 198.18.0.2 --dport 5001 --flows 100 --packets 60 --payload 80 \
	--interleave --rate 500 >"$WORK/gen.out" &
GEN=$!

names=$(seq -f 'ch%g' 0 $((N - 1)))
for i in $(seq 0 $((N - 1))); do
	echo "link add ch$i type veth peer name pe$i"
	echo "link set ch$i up"
done >"$WORK/add.batch"
ip -n "$B" -b "$WORK/add.batch"
for _ in $(seq 1 300); do
	[ "$(grep -c "interface ch[0-9]* (index [0-9]*) monitored" "$WORK/xlatflowd.log")" -ge $N ] && break
	sleep 0.1
done
n=$(filters_on "$names")
echo "after adding $N: $n filters of ours on the ch* interfaces"
[ "$n" -eq $((2 * N)) ] || fail "expected $((2 * N)) filters (ingress + egress on $N), found $n"

for i in $(seq 0 $((N / 2 - 1))); do
	echo "link set ch$i down"
	echo "link set ch$i name gone$i"
done >"$WORK/rename.batch"
ip -n "$B" -b "$WORK/rename.batch"
for _ in $(seq 1 300); do
	[ "$(grep -c "no longer monitored" "$WORK/xlatflowd.log")" -ge $((N / 2)) ] && break
	sleep 0.1
done
gone=$(seq -f 'gone%g' 0 $((N / 2 - 1)))
n=$(filters_on "$gone")
[ "$n" -eq 0 ] || fail "$n filters of ours left on interfaces renamed out of the pattern"
q=$(for f in $gone; do echo "qdisc show dev $f"; done | tc -n "$B" -b - | grep -c clsact || true)
[ "$q" -eq 0 ] || fail "$q clsact qdiscs left on interfaces renamed out of the pattern"
echo "after renaming $((N / 2)) out of the pattern: no filter, no clsact left on them"

{
	for i in $(seq 0 $((N / 2 - 1))); do echo "link del gone$i"; done
	for i in $(seq $((N / 2)) $((N - 1))); do echo "link del ch$i"; done
} >"$WORK/del.batch"
ip -n "$B" -b "$WORK/del.batch"
for _ in $(seq 1 300); do
	[ "$(grep -c "interface ch[0-9]* (index [0-9]*) removed" "$WORK/xlatflowd.log")" -ge $((N / 2)) ] && break
	sleep 0.1
done

wait $GEN
cat "$WORK/gen.out"
sleep 3
kill -0 "$XLATFLOWD_PID" || fail "xlatflowd died"
fd1=$(fd_count "$XLATFLOWD_PID")
rss1=$(rss_kb "$XLATFLOWD_PID")
echo "fds: $fd0 before, $fd1 after; RSS: $rss0 kB before, $rss1 kB after"
[ "$fd1" -eq "$fd0" ] || fail "file descriptors leaked: $fd0 -> $fd1"
[ "$rss1" -le $((rss0 + 16384)) ] || fail "RSS grew from $rss0 to $rss1 kB"
left=$(ip -n "$B" -o link show | grep -v -E ': (lo|vb)@?[^:]*:' || true)
[ -z "$left" ] || fail "interfaces left: $left"
stop_xlatflowd
stop_xfc xfc
q=$(tc -n "$B" qdisc show dev vb | grep -c clsact || true)
[ "$q" -eq 0 ] || fail "clsact left on vb after exit"
acct "$WORK/xfc.json" --src 198.18.0.1 --dport 5001 --flows 100 --packets 60 --payload 80 \
	--summary | cut -d' ' -f1-5 || fail "flows on vb during the churn"
echo "PASS: churn"
