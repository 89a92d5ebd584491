#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Someone else removes the daemon's TC filters from a monitored interface
# while it runs (as `tc qdisc del dev X clsact` or a CNI plugin would). The
# rtnetlink tc event makes the daemon attach them again at once, logged and
# counted once per removal. Asserted, on vb (the daemon's end of the pair):
#  1. tc qdisc del dev vb clsact: both filters back, re-attachment 1;
#  2. tc filter del of our ingress filter only, beside a foreign u32 filter
#     on the same hook: ours back, the foreign one and our egress filter
#     untouched, re-attachment 2 (removed again within a minute: the next
#     one waits, and the log says so);
#  3. clsact replaced by the legacy ingress qdisc (no egress hook): the
#     daemon cannot attach, says so once, retries with back-off, never
#     loops; once the ingress qdisc goes, re-attachment 3;
#  4. on exit the clsact it made again is gone; flows sent before the first removal and after each re-attachment are
#     counted exactly at xf-collect; the last metering record says
#     xlatFilterReattachTotalCount 3; the log has exactly 3 re-attachments.
XF_TEST=fr
source "$(dirname "$0")/faultlib.sh"
pair_setup
need_cmd tc

# ours: "filter protocol all pref 49152 bpf chain 0 handle 0x1 xf_tc_ingress:[12] ..."
our_filter() { # HOOK: "PREF HANDLE" of our filter on vb's hook, empty if none
	tc -n "$B" filter show dev vb "$1" | awk '/ xf_tc_/ { for (i = 1; i < NF; i++) {
		if ($i == "pref") p = $(i + 1); if ($i == "handle") h = $(i + 1) } print p, h }'
}
reattachments() {
	grep -c "had been removed by someone else; attached again" "$WORK/xlatflowd.log" || true
}
# flows DPORT: 20 flows of 5 packets A -> B:DPORT, all of them counted exactly at the end
flows() {
	send_flows "$A" --dst 198.18.0.2 --dport "$1" --flows 20 --packets 5 --payload 60 >/dev/null
	SENT+=("$1")
}
SENT=()

port=$(free_port)
start_xfc xfc tcp "$port"
start_xlatflowd "$B" --interface vb --collector "tcp://127.0.0.1:$port" \
	--idle-timeout 2 --active-timeout 60 --drain-interval 100 --nat-hook off
wait_log "connected" 10
[ -n "$(our_filter ingress)" ] && [ -n "$(our_filter egress)" ] || fail "not attached at start"
flows 5001

echo "1. tc qdisc del dev vb clsact"
tc -n "$B" qdisc del dev vb clsact
wait_log "re-attachment 1)" 5
grep -q "interface vb (index [0-9]*): our TC ingress and egress filters had been removed" \
	"$WORK/xlatflowd.log" || fail "the re-attachment log line does not name vb and both filters"
[ -n "$(our_filter ingress)" ] && [ -n "$(our_filter egress)" ] || fail "filters not back"
flows 5002

echo "2. tc filter del of our ingress filter, a foreign filter beside it"
tc -n "$B" filter add dev vb ingress prio 7 protocol all u32 match ip protocol 99 0xff
egress_before=$(our_filter egress)
read -r pref handle <<<"$(our_filter ingress)"
tc -n "$B" filter del dev vb ingress pref "$pref" handle "$handle" protocol all bpf
wait_log "re-attachment 2)" 5
grep -q "our TC ingress filter had been removed by someone else; attached again (re-attachment 2); removed again within 60 s of the last one, so the next re-attachment waits 1 s" \
	"$WORK/xlatflowd.log" || fail "re-attachment 2: no back-off announced"
[ -n "$(our_filter ingress)" ] || fail "ingress filter not back"
[ "$(our_filter egress)" = "$egress_before" ] || fail "egress filter changed: $egress_before -> $(our_filter egress)"
foreign=$(tc -n "$B" filter show dev vb ingress)
[[ $foreign == *"pref 7 u32"* ]] || fail "the foreign filter is gone"
flows 5003

echo "3. clsact replaced by the legacy ingress qdisc"
# stopped, so that it cannot put clsact back between the two commands
kill -STOP "$XLATFLOWD_PID"
tc -n "$B" qdisc del dev vb clsact
tc -n "$B" qdisc add dev vb ingress
kill -CONT "$XLATFLOWD_PID"
wait_log "cannot be attached again: Device or resource busy" 5
sleep 4 # the retries back off (2 s, 4 s, ...): one retry in these 4 s, logged at debug level
n=$(grep -c "cannot be attached again" "$WORK/xlatflowd.log" || true)
[ "$n" -eq 1 ] || fail "the failure was logged $n times, not once"
[ "$(reattachments)" -eq 2 ] || fail "re-attached while the ingress qdisc was there"
tc -n "$B" qdisc del dev vb ingress
wait_log "re-attachment 3)" 15
[ -n "$(our_filter ingress)" ] && [ -n "$(our_filter egress)" ] || fail "filters not back"
flows 5004

sleep 3 # idle timeout 2 s: every flow exported
kill -0 "$XLATFLOWD_PID" || fail "xlatflowd died"
stop_xlatflowd
stop_xfc xfc
[ "$(reattachments)" -eq 3 ] || fail "$(reattachments) re-attachments logged, expected 3"
for d in "${SENT[@]}"; do
	acct "$WORK/xfc.json" --src 198.18.0.1 --dport "$d" --flows 20 --packets 5 --payload 60 ||
		fail "flows to port $d not counted exactly"
done
got=$(acct "$WORK/xfc.json" --src 198.18.0.1 --dport 5001 --flows 20 --packets 5 --payload 60 \
	--summary | grep -o "opt_xlatFilterReattachTotalCount=[0-9]*" || true)
echo "metering: $got"
[ "$got" = "opt_xlatFilterReattachTotalCount=3" ] || fail "expected xlatFilterReattachTotalCount 3"
q=$(tc -n "$B" qdisc show dev vb | grep -c clsact || true)
[ "$q" -eq 0 ] || fail "the clsact the daemon made again is left on vb after exit"
echo "PASS: filters_removed"
