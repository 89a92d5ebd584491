#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Lost rtnetlink events: the daemon rescans and reconciles both ways.
#  1. Overflow (ENOBUFS): the daemon is stopped, its rtnetlink socket is
#     flooded with link events (alias changes on an interface it does not
#     watch) until the kernel counts a drop for that socket in
#     /proc/net/netlink, so everything that happens next is lost: ch0-ch2
#     deleted, ch10-ch12 created, ch3 renamed out of the patterns, ch4
#     renamed within them, ot0 renamed into them, and someone deletes the
#     clsact qdisc (with our filters) of ch5. After SIGCONT, asserted:
#     - every interface that exists and matches the patterns carries both
#       our filters, no other interface carries any;
#     - the interface table the daemon exports at exit (options records at
#       xf-collect) lists exactly those interfaces, by index and name: the
#       vanished ones are gone from it;
#     - ch5's filters were put back, counted once (xlatFilterReattachTotalCount 1).
#  2. An oversized message (ENOSPC): ch20, with 200 alternative names of 104
#     characters (a ~24 KiB link message, larger than the daemon's first
#     16 KiB read buffer), is moved into the daemon's namespace: that one
#     message is all the daemon hears of it. It is lost, and the rescan that
#     follows attaches ch20.
#  Flows sent on vb before and after are counted exactly.
XF_TEST=le
source "$(dirname "$0")/faultlib.sh"
pair_setup
need_cmd tc

# drops of the daemon's rtnetlink socket that listens to RTMGRP_LINK (group bit 0)
nl_drops() {
	local inodes
	inodes=$(ls -l "/proc/$XLATFLOWD_PID/fd" | sed -n 's/.*socket:\[\([0-9]*\)\].*/\1/p' | tr '\n' ' ')
	ip netns exec "$B" cat /proc/net/netlink | awk -v ino=" $inodes" \
		'$2 == 0 && $4 ~ /[13579bdfBDF]$/ && index(ino, " " $10 " ") { print $9 }'
}
filters_on() { # IFNAME: how many of our filters the interface carries
	local n=0 d
	for d in ingress egress; do
		tc -n "$B" filter show dev "$1" "$d" 2>/dev/null | grep -q " xf_tc_" && n=$((n + 1))
	done
	echo $n
}

port=$(free_port)
start_xfc xfc tcp "$port"
for i in $(seq 0 9); do
	echo "link add ch$i type veth peer name pe$i"
done >"$WORK/add.batch"
echo "link add ot0 type veth peer name po0" >>"$WORK/add.batch"
echo "link add fl0 type veth peer name fl1" >>"$WORK/add.batch"
echo "link set fl0 up" >>"$WORK/add.batch" # an alias change is announced only when up
ip -n "$B" -b "$WORK/add.batch"
start_xlatflowd "$B" --interface vb --interface 'ch*' --collector "tcp://127.0.0.1:$port" \
	--idle-timeout 2 --active-timeout 60 --drain-interval 100 --nat-hook off
wait_log "connected" 10
send_flows "$A" --dst 198.18.0.2 --dport 5001 --flows 20 --packets 5 --payload 60 >/dev/null
[ "$(nl_drops)" = 0 ] || fail "cannot find the daemon's rtnetlink socket (drops: '$(nl_drops)')"

echo "1. overflow of the daemon's rtnetlink socket"
kill -STOP "$XLATFLOWD_PID"
# a stopped daemon would not die of cleanup's SIGTERM; cleanup wants the exit status in $?
trap 'rc=$?; set +e; kill -CONT "$XLATFLOWD_PID" 2>/dev/null; (exit $rc); cleanup' EXIT
for round in $(seq 1 50); do
	for i in $(seq 1 1000); do echo "link set fl0 alias flood$round.$i"; done >"$WORK/flood.batch"
	ip -n "$B" -b "$WORK/flood.batch"
	[ "$(nl_drops)" -gt 0 ] && break
done
drops=$(nl_drops)
[ "$drops" -gt 0 ] || fail "no overflow after 50000 link events"
echo "overflowed after $round rounds of 1000 link events ($drops dropped so far)"
{
	echo "link del ch0"
	echo "link del ch1"
	echo "link del ch2"
	for i in 10 11 12; do echo "link add ch$i type veth peer name pe$i"; done
	echo "link set ch3 name cx3"
	echo "link set ch4 name ch4r"
	echo "link set ot0 name ch13"
} >"$WORK/change.batch"
ip -n "$B" -b "$WORK/change.batch"
tc -n "$B" qdisc del dev ch5 clsact
[ "$(nl_drops)" -gt "$drops" ] || fail "the changes were not lost (drops: $drops -> $(nl_drops))"
kill -CONT "$XLATFLOWD_PID"
wait_log "interface and tc events lost (No buffer space available), rescanning interfaces" 10
wait_log "interface ch5 (index [0-9]*): our TC ingress and egress filters had been removed" 10

echo "2. an oversized link message"
C=$(ns_add c)
ip -n "$C" link add ch20 type veth peer name pc20
for i in $(seq 1 200); do
	printf 'link property add dev ch20 altname %s\n' "$(printf 'alt%03d%0101d' "$i" 0)"
done >"$WORK/alt.batch"
ip -n "$C" -b "$WORK/alt.batch"
ip -n "$C" link set ch20 netns "$B"
wait_log "rtnetlink: a [0-9]*-byte message did not fit the 16384-byte read buffer and is lost" 10
wait_log "interface and tc events lost (No space left on device), rescanning interfaces" 10
wait_log "interface ch20 (index [0-9]*) monitored" 10

send_flows "$A" --dst 198.18.0.2 --dport 5002 --flows 20 --packets 5 --payload 60 >/dev/null
sleep 3 # idle timeout 2 s: every flow exported
kill -0 "$XLATFLOWD_PID" || fail "xlatflowd died"

# what exists now, and what the daemon must be attached to: vb and ch*
ip -n "$B" -o link show | sed -n 's/^\([0-9]*\): \([^:@]*\)[:@].*/\1 \2/p' | sort -n >"$WORK/links"
awk '$2 == "vb" || $2 ~ /^ch/' "$WORK/links" >"$WORK/want"
echo "wanted: $(awk '{ printf "%s ", $2 }' "$WORK/want")"
while read -r idx name; do
	n=$(filters_on "$name")
	if grep -q "^$idx $name\$" "$WORK/want"; then
		[ "$n" -eq 2 ] || fail "$name matches the patterns but carries $n of our filters"
	else
		[ "$n" -eq 0 ] || fail "$name does not match the patterns but carries $n of our filters"
	fi
done <"$WORK/links"

stop_xlatflowd
stop_xfc xfc
# the last round of interface table records (template 264) the daemon sent, at exit
python3 - "$WORK/xfc.json" >"$WORK/table" <<'PY'
import json, sys
rows = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("set") != "options":
        continue
    if r["template_id"] == 262:  # the metering record starts each round
        rows = []
    elif r["template_id"] == 264:
        rows.append((r["ingressInterface"], r["interfaceName"]))
for i, n in sorted(rows):
    print(i, n)
PY
diff -u "$WORK/want" "$WORK/table" || fail "the exported interface table is not the set of wanted interfaces"
for d in 5001 5002; do
	acct "$WORK/xfc.json" --src 198.18.0.1 --dport "$d" --flows 20 --packets 5 --payload 60 ||
		fail "flows to port $d not counted exactly"
done
got=$(acct "$WORK/xfc.json" --src 198.18.0.1 --dport 5001 --flows 20 --packets 5 --payload 60 \
	--summary | grep -o "opt_xlatFilterReattachTotalCount=[0-9]*" || true)
[ "$got" = "opt_xlatFilterReattachTotalCount=1" ] || fail "expected 1 re-attachment, got '$got'"
for i in 0 1 2; do
	grep -q "interface ch$i (index [0-9]*) removed" "$WORK/xlatflowd.log" || fail "ch$i not forgotten"
done
echo "PASS: link_events_lost"
