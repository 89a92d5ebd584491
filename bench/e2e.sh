#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# End to end, xlatflowd vs softflowd on the same traffic (bench/run.sh part 5).
#
#   gen  vg ----veth---- vb  obs      (namespaces this script creates)
#
# bench/flowgen sends FLOWS UDP flows x PACKETS packets (198.18.128.0/17 ->
# 198.19.0.0/16) from gen; obs does not forward, so the frames end at vb.
# Both observers watch vb at the same time, each exporting IPFIX to its own
# nfcapd on obs's loopback: xlatflowd (TC programs) and softflowd (libpcap).
# Short idle timeouts on both, so every flow is exported while we measure
# (not at shutdown). Reported: CPU seconds per million packets (xlatflowd:
# process CPU + BPF run time of its programs from kernel.bpf_stats_enabled;
# softflowd: process CPU), and the flows/packets/bytes each collector got.
#
#   e2e.sh [-f FLOWS] [-p PACKETS] [-r RATE]
# Prints Markdown. Needs root; exit 77 when a tool is missing.
set -uo pipefail

flows=20000 pkts=50 rate=100000 ip_len=100
while getopts f:p:r: opt; do
	case $opt in
	f) flows=$OPTARG ;;
	p) pkts=$OPTARG ;;
	r) rate=$OPTARG ;;
	*) echo "usage: $0 [-f FLOWS] [-p PACKETS] [-r RATE]" >&2; exit 2 ;;
	esac
done
src=${abs_top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
build=${abs_top_builddir:-$(pwd)}
XLATFLOWD=${XLATFLOWD:-$build/src/xlatflowd}
FLOWGEN=$build/bench/flowgen
REF=$build/bench/ref_counter.bpf.o
idle=2
# shellcheck source=bench/netlib.sh
source "$src/bench/netlib.sh"

bench_need softflowd nfcapd nfdump bpftool python3
bench_file_needed "$XLATFLOWD" "make"
bench_file_needed "$FLOWGEN" "make bench-programs"
bench_file_needed "$REF" "make bench-programs"

# Work dir outside /tmp is not needed here (no VM); namespaces unique per run.
work=$(mktemp -d "${TMPDIR:-/tmp}/xlatflow-e2e.XXXXXX")
gen=xfbg$$ obs=xfbo$$
pids=()
cleanup() {
	bench_stop
	[ -n "${old_stats:-}" ] && sysctl -qw kernel.bpf_stats_enabled="$old_stats"
}
trap cleanup EXIT

bench_pair $gen $obs || exit 1

# --- collectors ---
port_x=47391 port_s=47392
# Collector socket buffers: with nfcapd's default, the burst of records that expire together
# overflows it (see bench/README.md); the comparison is about the observers, so both get 4 MiB.
nfbuf=${NFCAPD_BUF:-4194304}
mkdir -p "$work/nf-x" "$work/nf-s"
ip netns exec $obs nfcapd -b 127.0.0.1 -p $port_x -B $nfbuf -w "$work/nf-x" -t 3600 >"$work/nfcapd-x.log" 2>&1 &
pid_nx=$!
ip netns exec $obs nfcapd -b 127.0.0.1 -p $port_s -B $nfbuf -w "$work/nf-s" -t 3600 >"$work/nfcapd-s.log" 2>&1 &
pid_ns=$!
pids+=($pid_nx $pid_ns)

# --- observers ---
# both caches hold twice the flows (xlatflowd's smallest kernel map is 1024 entries)
cache_flows=$((flows * 2 < 1024 ? 1024 : flows * 2))
old_stats=$(sysctl -n kernel.bpf_stats_enabled)
sysctl -qw kernel.bpf_stats_enabled=1
ip netns exec $obs "$XLATFLOWD" -f --interface vb --collector "udp://127.0.0.1:$port_x" \
	--nat-hook off --idle-timeout $idle --active-timeout 600 \
	--max-flows $cache_flows --kernel-max-flows $cache_flows >"$work/xlatflowd.log" 2>&1 &
pid_x=$!
pids+=($pid_x)
# softflowd: -d foreground, -v 10 IPFIX, -m cache large enough (default 8192 would evict),
# expint=1 so the idle (udp) timeout is checked every second, not every 60 s.
ip netns exec $obs softflowd -d -i vb -v 10 -n 127.0.0.1:$port_s -m $cache_flows \
	-t udp=$idle -t general=$idle -t expint=1 -B 67108864 \
	-p "$work/softflowd.pid" -c "$work/softflowd.ctl" >"$work/softflowd.log" 2>&1 &
pid_s=$!
pids+=($pid_s)

for _ in $(seq 100); do
	grep -q "NAT enrichment:" "$work/xlatflowd.log" 2>/dev/null && [ -S "$work/softflowd.ctl" ] && break
	sleep 0.1
done
kill -0 $pid_x 2>/dev/null || { echo "xlatflowd exited: $(tail -n 5 "$work/xlatflowd.log")"; exit 1; }
kill -0 $pid_s 2>/dev/null || { echo "softflowd exited: $(tail -n 5 "$work/softflowd.log")"; exit 1; }
# The reference counter (bench/ref_counter.bpf.c, the datapath benchmark's) on the same hook
# beside xlatflowd's filter: both return TC_ACT_UNSPEC, so both see every packet. The order
# (lower pref runs first and pays for bringing the packet into cache) is printed below.
# Two instances (own maps), one before and one after xlatflowd's filter (kernel-chosen pref
# 49152), so the order bias cancels in their mean.
for pref in 49000 49300; do
	ip netns exec $obs tc filter add dev vb ingress pref $pref bpf direct-action \
		obj "$REF" sec tc 2>"$work/tc.log" || { echo "tc filter (ref_counter): $(cat "$work/tc.log")"; exit 1; }
done
ref_id=$(ip netns exec $obs tc filter show dev vb ingress pref 49000 | sed -n 's/.* id \([0-9]*\) .*/\1/p' | head -n 1)
ref2_id=$(ip netns exec $obs tc filter show dev vb ingress pref 49300 | sed -n 's/.* id \([0-9]*\) .*/\1/p' | head -n 1)
order=$(ip netns exec $obs tc filter show dev vb ingress | sed -n 's/.*pref \([0-9]*\) bpf.* \([a-z_.]*\):\[.*/\1 \2/p; s/.*pref \([0-9]*\) bpf.* name \([a-z_]*\).*/\1 \2/p' |
	awk '!seen[$0]++ { printf "%s%s (pref %s)", n++ ? ", then " : "", $2, $1 }')
sleep 1

# prog_ns ID: "run_time_ns run_cnt" of program ID
prog_ns() {
	bpftool -j prog show id "$1" 2>/dev/null |
		python3 -c 'import json, sys; p = json.load(sys.stdin); print(p.get("run_time_ns", 0), p.get("run_cnt", 0))'
}
# bpf_ns PID: run_time_ns and run_cnt summed over the BPF programs PID holds open
# (program ids from /proc/PID/fdinfo: bpftool's "pids" needs a feature this build may lack)
bpf_ns() {
	local ids id t=0 c=0 rt rc
	ids=$(grep -h '^prog_id:' /proc/"$1"/fdinfo/* 2>/dev/null | awk '{ print $2 }' | sort -u)
	for id in $ids; do
		read -r rt rc < <(prog_ns "$id")
		t=$((t + ${rt:-0})) c=$((c + ${rc:-0}))
	done
	echo "$t $c"
}

x0=$(cpu_ns $pid_x) s0=$(cpu_ns $pid_s)
read -r b0 c0 < <(bpf_ns $pid_x)
read -r r0 rc0 < <(prog_ns "$ref_id")
read -r q0 qc0 < <(prog_ns "$ref2_id")
# BENCH_PERF=FILE: also record a system-wide profile of the traffic phase (perf record -a)
perf_pid=
if [ -n "${BENCH_PERF:-}" ]; then
	perf record -a -q -o "$BENCH_PERF" >/dev/null 2>&1 &
	perf_pid=$!
fi
ip netns exec $gen "$FLOWGEN" -i vg -d "$vb_mac" -f "$flows" -p "$pkts" -s $ip_len -r "$rate" \
	>"$work/flowgen.out" || { echo "flowgen failed"; exit 1; }
[ -n "$perf_pid" ] && { kill -INT $perf_pid; wait $perf_pid; }
# softflowd's libpcap ring holds back the last packets before a pause until more arrive (see
# bench/README.md): a trailing flow of 2000 packets to port 7, left out of the totals, pushes
# them through. Counted in the CPU normalisation below.
sleep 0.5
ip netns exec $gen "$FLOWGEN" -i vg -d "$vb_mac" -f 1 -p 2000 -s $ip_len -r 20000 -P 7 \
	>"$work/flush.out" || { echo "flowgen (flush) failed"; exit 1; }
# every flow idle-expires and is exported within idle + a few check intervals
sleep $((idle + 4))
x1=$(cpu_ns $pid_x) s1=$(cpu_ns $pid_s)
read -r b1 c1 < <(bpf_ns $pid_x)
read -r r1 rc1 < <(prog_ns "$ref_id")
read -r q1 qc1 < <(prog_ns "$ref2_id")
sf_stats=$(softflowctl -c "$work/softflowd.ctl" statistics 2>&1)
# UDP datagrams the collectors' sockets dropped (receive buffer full)
rcvbuf_errors=$(ip netns exec $obs awk '/^Udp:/ && ++n == 2 { print $6 }' /proc/net/snmp)

kill -TERM $pid_x $pid_s
wait $pid_x 2>/dev/null
wait $pid_s 2>/dev/null
sleep 0.5
kill -TERM $pid_nx $pid_ns
wait $pid_nx 2>/dev/null
wait $pid_ns 2>/dev/null
pids=()

sent=$(sed -n 's/.*packets=\([0-9]*\).*/\1/p' "$work/flowgen.out")
flush=$(sed -n 's/.*packets=\([0-9]*\).*/\1/p' "$work/flush.out")
secs=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' "$work/flowgen.out")
bytes=$((sent * ip_len))
# totals DIR: "records packets bytes distinct-5-tuples", the flush flow (dst port 7) left out
totals() {
	local f p b d
	read -r f p b < <(nfdump -R "$1" -q -o csv 'not dst port 7' 2>/dev/null | python3 -c '
import sys
f = p = b = 0
for line in sys.stdin:
    x = line.strip().split(",")
    if len(x) < 13 or not x[0][:1].isdigit():
        continue
    f += 1; p += int(x[11]); b += int(x[12])
print(f, p, b)')
	d=$(nfdump -R "$1" -q -o csv -A srcip,dstip,srcport,dstport,proto 'not dst port 7' 2>/dev/null |
		grep -c '^[0-9]')
	echo "$f $p $b $d"
}
read -r xf xp xb xd < <(totals "$work/nf-x")
read -r sf sp sb sd < <(totals "$work/nf-s")

awk -v sent="$sent" -v secs="$secs" -v flows="$flows" -v bytes="$bytes" \
	-v x0="$x0" -v x1="$x1" -v s0="$s0" -v s1="$s1" -v b0="$b0" -v b1="$b1" \
	-v c0="$c0" -v c1="$c1" -v rate="$rate" -v flush="$flush" \
	-v r0="$r0" -v r1="$r1" -v rc0="$rc0" -v rc1="$rc1" \
	-v q0="$q0" -v q1="$q1" -v qc0="$qc0" -v qc1="$qc1" \
	-v xf="$xf" -v xp="$xp" -v xb="$xb" -v xd="$xd" -v sf="$sf" -v sp="$sp" -v sb="$sb" \
	-v sd="$sd" 'BEGIN {
	m = (sent + flush) / 1e6
	xu = (x1 - x0) / 1e9; su = (s1 - s0) / 1e9; xb_s = (b1 - b0) / 1e9
	printf "%d flows x %d packets (%d IPv4 UDP packets, IP length 100) sent at %d/s in %.1f s from one\n", flows, sent / flows, sent, rate, secs
	printf "namespace into a veth watched by both observers at once. CPU counted from just before the\n"
	printf "traffic until every flow was idle-exported (idle timeout 2 s on both), per million packets\n"
	printf "seen (%d, the trailing flush flow included). Totals leave the flush flow out.\n\n", sent + flush
	printf "| | xlatflowd | softflowd | xlatflowd / softflowd |\n|---|---:|---:|---:|\n"
	printf "| process CPU s per 1M packets | %.3f | %.3f | %.2f |\n", xu / m, su / m, su ? xu / su : 0
	printf "| BPF run time s per 1M packets (bpf_stats, %d runs) | %.3f | - | - |\n", c1 - c0, xb_s / m
	printf "| **total CPU s per 1M packets** | **%.3f** | **%.3f** | **%.2f** |\n", (xu + xb_s) / m, su / m, su ? (xu + xb_s) / su : 0
	xr = (c1 > c0) ? (b1 - b0) / (c1 - c0) : 0
	rb = (rc1 > rc0) ? (r1 - r0) / (rc1 - rc0) : 0; ra = (qc1 > qc0) ? (q1 - q0) / (qc1 - qc0) : 0
	rr = (rb + ra) / 2
	printf "| BPF ns per packet: xf_tc_ingress vs bench/ref_counter on the same hook, mean of one before (%.0f) and one after (%.0f) it (%d runs) | %.0f | %.0f (ref_counter) | %.2f |\n", rb, ra, rc1 - rc0, xr, rr, (rr ? xr / rr : 0)
	printf "| flow records at nfcapd | %d | %d | |\n", xf, sf
	printf "| distinct 5-tuples at nfcapd (sent: %d) | %d | %d | |\n", flows, xd, sd
	printf "| packets at nfcapd (sent: %d) | %d | %d | |\n", sent, xp, sp
	printf "| bytes at nfcapd (sent: %d IP bytes) | %d | %d | |\n", bytes, xb, sb
	same = (xd == sd && xp == sp && xb == sb)
	exact = (xd == flows && xp == sent && xb == bytes)
	printf "\nBoth report the same flows, packets and bytes: **%s**; xlatflowd matches what was sent exactly: **%s**.\n", same ? "yes" : "no", exact ? "yes" : "no"
	printf "softflowd counts its own CPU only: the kernel copying each packet into its pcap ring runs in\n"
	printf "softirq context and is in neither column, while the TC programs run time is in xlatflowd.\n"
	printf "\n<!-- summary: | e2e xf_tc_ingress / ref_counter on real traffic (%d flows) | %.2f | <= 1.15 | %s | -->\n", flows, (rr ? xr / rr : 0), ((rr && xr / rr <= 1.15) ? "met" : sprintf("missed by %.0f%%", (rr ? (xr / rr / 1.15 - 1) * 100 : 0)))
	printf "<!-- summary: | e2e total CPU per 1M packets, xlatflowd / softflowd, %d flows | %.2f | - | (xlatflowd includes its BPF time) | -->\n", flows, (su ? (xu + xb_s) / su : 0)
	printf "<!-- summary: | e2e same flows/packets/bytes as sent (xlatflowd, softflowd), %d flows | %s, %s | exact | %s | -->\n", flows, exact ? "yes" : "no", (sd == flows && sp == sent && sb == bytes) ? "yes" : "no", exact ? "met" : "missed"
}'
echo
echo "Filters on vb ingress, in the order they run: ${order:-unknown}."
echo
echo "UDP datagrams dropped by the collectors' receive buffers in the observer namespace (both"
echo "nfcapd, socket buffer $nfbuf bytes): $rcvbuf_errors."
for n in x s; do
	echo "nfcapd ($([ $n = x ] && echo xlatflowd || echo softflowd)): $(grep -h 'Ident:' "$work/nfcapd-$n.log" | tail -n 1)"
done
echo
echo "softflowd's own statistics:"
echo
echo '```'
echo "$sf_stats" | grep -iE "pcap|packets|flows (exp|tot)|dropped|Expired" | head -n 12
echo '```'
