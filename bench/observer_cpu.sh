#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The whole-machine CPU each flow observer adds on real traffic (bench/run.sh
# part 10, issue 14 item 2).
#
#   gen  vg ----veth---- vb  obs      (namespaces this script creates)
#
# bench/flowgen sends FLOWS UDP flows x PACKETS packets round robin at RATE
# packets/s (198.18.128.0/17 -> 198.19.0.0/16) from gen; obs does not
# forward. Conditions, each observer ALONE on vb's ingress (started, ready,
# 1 s to settle, measured, stopped: never two at once):
#   none                no observer: the generator's and the veth's cost
#   ref_counter_coarse  bench/ref_counter_coarse.bpf.o (tc_attach): the minimal counter
#   ref_counter         its precise-clock twin
#   xlatflowd           TC programs + daemon, IPFIX to its own nfcapd
#   softflowd           libpcap (AF_PACKET ring), IPFIX to its own nfcapd
# Two measures of the CPU each observer adds, from the same runs:
#   tasks    (the headline) the scheduler's runtime of every task the packets
#            run in, host steal excluded (PARAVIRT_TIME_ACCOUNTING): the
#            generator (flowgen's CLOCK_PROCESS_CPUTIME_ID, which holds the
#            veth receive path: the frames are received in the softirq its
#            sendmmsg() runs on its own CPU, so the TC programs and the pcap
#            copies into softflowd's ring are in its time), every kernel thread
#            over the traffic (ksoftirqd when the softirq is deferred, kworkers),
#            and the observer process until every flow is exported (schedstat).
#            What no task holds (an interrupt taken while a CPU idles) is not
#            counted; it is the same for every observer save their wakeups.
#   machine  the busy CPU of /proc/stat's aggregate cpu line (CPUs x time -
#            idle - iowait; see busy() for why not the sum of the tick-sampled
#            user + nice + system + irq + softirq + steal) from the start of the
#            traffic until TAIL (1.5 s) after its last packet, past the drain
#            that reads it: everything the packets cost anywhere, and
#            everything the host took from the vCPUs meanwhile; then until W
#            after the traffic (W the same for every condition, long enough
#            that both exporters have idle-expired every flow) the observer
#            process's own CPU: the exports, when no packet flows.
# The collector is not the observer: nfcapd's own CPU is in neither. Added CPU
# = the condition minus the none condition of the same round. The order of the
# conditions rotates between rounds and a round is a minute or two, so drift
# of the host hits the conditions of one round alike: the ratios are taken per
# round (xlatflowd's added CPU over the other observer's of the same round),
# and their median is reported with the rounds' min-max and a 95% confidence
# interval of the median (order statistics, no assumption on the noise),
# which narrows with more rounds where the min-max does not. This counts what
# a process-CPU comparison misses: softflowd's kernel copies into its pcap
# ring (softirq) and the TC programs' run time, without
# kernel.bpf_stats_enabled (0 here: it adds two clock reads to every run).
#
# -s (the program's own time): kernel.bpf_stats_enabled=1 for the run and
# only the TC observers (ref_empty, the empty program, for the overhead of
# the statistics and the dispatch; the two counters; xlatflowd): the run time
# the kernel measured for the programs attached to vb (run_time_ns, per
# packet), minus ref_empty's per packet of the same round, plus the observer
# process's CPU (schedstat) until every flow is exported. No difference of
# two busy machines: a program's time is read around each of its runs, so the
# host's noise enters only as it slows the program itself. This is "BPF + its
# process" alone, without the hook's own cost, which every TC observer pays
# alike; the statistics' clock reads make it a separate run.
#
# -O ORDER: xlatflowd with --datapath-order ORDER (slots, ring or auto;
# docs/datapath.md); without it xlatflowd runs its default (auto), and the
# reports name the order given ("xlatflowd --datapath-order ring").
#
# -A ORDER: one more condition, xlatflowd_alt: xlatflowd with --datapath-order
# ORDER, or the binary $XLATFLOWD_ALT (another build, its own BPF programs
# inside) at the order -O gives. In the same rounds as xlatflowd, the two
# ratios per round (xlatflowd / xlatflowd_alt) compare two orders or two
# builds without the drift between runs.
#
# On a shared machine the CPU of the other user processes (not this script's
# descendants) over the window is subtracted too, and printed; -a keeps it in
# (the raw /proc/stat figure, for a machine known to be quiet).
#
#   observer_cpu.sh [-f FLOWS] [-p PACKETS] [-r RATE] [-n ROUNDS] [-a] [-s] [-O ORDER] [-A ORDER]
# Prints Markdown. Needs root; exit 77 when a tool is missing.
set -uo pipefail

flows=20000 pkts=50 rate=200000 rounds=5 ip_len=100 all=0 stats=0 ring=() alt=() alt_on=0
while getopts f:p:r:n:asO:A: opt; do
	case $opt in
	a) all=1 ;;
	s) stats=1 ;;
	O) ring=(--datapath-order "$OPTARG") ;;
	A) alt=(--datapath-order "$OPTARG") alt_on=1 ;;
	f) flows=$OPTARG ;;
	p) pkts=$OPTARG ;;
	r) rate=$OPTARG ;;
	n) rounds=$OPTARG ;;
	*) echo "usage: $0 [-f FLOWS] [-p PACKETS] [-r RATE] [-n ROUNDS] [-a] [-s] [-O ORDER] [-A ORDER]" >&2; exit 2 ;;
	esac
done
src=${abs_top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
build=${abs_top_builddir:-$(pwd)}
XLATFLOWD=${XLATFLOWD:-$build/src/xlatflowd}
XLATFLOWD_ALT=${XLATFLOWD_ALT:-$XLATFLOWD}
[ "$XLATFLOWD_ALT" != "$XLATFLOWD" ] && alt_on=1
# -A without a binary: the order it names; XLATFLOWD_ALT without -A: the order -O gives
[ $alt_on = 1 ] && [ ${#alt[@]} = 0 ] && alt=("${ring[@]}")
alt_desc="${alt[*]:-(defaults)}"
[ "$XLATFLOWD_ALT" != "$XLATFLOWD" ] && alt_desc="$XLATFLOWD_ALT $alt_desc"
FLOWGEN=$build/bench/flowgen
TC_ATTACH=$build/bench/tc_attach
# shellcheck source=bench/netlib.sh
source "$src/bench/netlib.sh"

bench_need softflowd nfcapd nfdump getconf
bench_file_needed "$XLATFLOWD" "make"
bench_file_needed "$XLATFLOWD_ALT" "make"
for f in "$FLOWGEN" "$TC_ATTACH" "$build/bench/ref_counter.bpf.o" "$build/bench/ref_counter_coarse.bpf.o" \
	"$build/bench/ref_empty.bpf.o"; do
	bench_file_needed "$f" "make bench-programs"
done

# A flow's packets come FLOWS / RATE seconds apart: the idle timeout is 1.5 times that plus
# 1 s (at least 2 s), so no flow goes idle between two of its packets; W, the window after
# the traffic, is the idle timeout plus 4 s (drain interval, expiry checks, export).
tail_ms=1500
idle=$(awk -v f="$flows" -v r="$rate" 'BEGIN { t = f / r * 1.5; t = (t == int(t)) ? t : int(t) + 1; t += 1; print (t < 2) ? 2 : t }')
win=$((idle + 4))
hz=$(getconf CLK_TCK)
map_entries=$((flows * 2 < 1024 ? 1024 : flows * 2))
kflows=$(((flows * 5 + 3) / 4))
[ $kflows -lt 1024 ] && kflows=1024
flush=2000 # softflowd's pcap ring tail (see e2e.sh and bench/README.md): sent in every condition
conds=(none ref_counter_coarse ref_counter xlatflowd softflowd)
[ $stats = 1 ] && conds=(ref_empty ref_counter_coarse ref_counter xlatflowd)
[ $alt_on = 1 ] && conds+=(xlatflowd_alt)

work=$(mktemp -d "${TMPDIR:-/tmp}/xlatflow-obs.XXXXXX")
gen=xfcg$$ obs=xfco$$
pids=()
cleanup() {
	bench_stop
	[ -n "${old_stats:-}" ] && sysctl -qw kernel.bpf_stats_enabled="$old_stats"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

old_stats=$(sysctl -n kernel.bpf_stats_enabled)
sysctl -qw kernel.bpf_stats_enabled=$stats
bench_pair $gen $obs || exit 1
port=47393
# 4 MiB for the collector, as e2e.sh: flows idle-expire in bursts, and nfcapd's default
# buffer (about 92 datagrams) would drop some while nfcapd waits for a CPU on a busy host.
# A lost record would count as an observer that missed packets; the question is the observer.
nfbuf=${NFCAPD_BUF:-4194304}

# busy: "IDLE NS": /proc/stat's aggregate idle + iowait in ticks, and the time. The busy
# fields (user + nice + system + irq + softirq + steal) are sampled at each tick; a tick the
# host took the vCPU away for is in no field (this guest reports no steal), while task CPU
# times (nfcapd's, other processes') and the idle counters (NO_HZ) run on the clock. So busy
# is taken as CPUs x time - idle - iowait, on the same clock as what is subtracted from it
# (the sum of the fields was off by up to a second here, even negative after the baseline).
ncpu=$(grep -c '^cpu[0-9]' /proc/stat)
busy() {
	local t
	t=$(date +%s%N)
	awk -v t="$t" '$1 == "cpu" { print $5 + $6, t; exit }' /proc/stat
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# others: CPU ticks (utime + stime + cutime + cstime: a child reaped in the window counts in its
# parent) of the user processes that are not this script's descendants, summed. Whatever else
# runs on a shared machine is not an observer; kernel threads stay in (ksoftirqd and kworkers
# run observers' work too). A process gone in the window is in its parent's cutime at the end.
others() {
	# cat, not awk on the files: a process gone between the glob and the read would stop mawk
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v me=$$ '
	{
		pid = $1; s = $0; sub(/^[0-9]+ \(.*\) /, "", s); split(s, f, " ")
		ppid[pid] = f[2]
		# PF_KTHREAD (0x00200000): kernel threads are machine, not other users
		kt[pid] = int(f[7] / 2097152) % 2 || pid == 2 || f[2] == 2
		t[pid] = f[12] + f[13] + f[14] + f[15]
	}
	END {
		for (p in t) {
			q = p
			for (k = 0; k < 64 && q != me && q > 1; k++) q = ppid[q]
			if (q != me && !kt[p]) sum += t[p]
		}
		print sum + 0
	}'
}

# kthreads FILE: the runtime (schedstat, ns) of each kernel thread (children of kthreadd), one
# "pid ns" line each, into FILE. ksoftirqd runs the receive path when the softirq is deferred,
# kworkers what observers queue. kthreads_ns A B: their runtime between two such snapshots,
# thread by thread: a thread in both counts B - A, one born in between all of B, one gone in
# between nothing. (A sum over the threads alive at each end went negative when a kworker
# with more runtime than the window's exited in it: -0.48 and -0.65 s per 1M packets in two
# rounds of the fifth round's first run.)
kthreads() {
	local p
	for p in $(ps -o pid= --ppid 2); do
		read -r ns _ <"/proc/$p/schedstat" 2>/dev/null && echo "$p $ns"
	done >"$1"
}
kthreads_ns() {
	awk 'NR == FNR { a[$1] = $2; next } { s += ($1 in a) ? $2 - a[$1] : $2 } END { printf "%.0f\n", s }' "$1" "$2"
}

# progstat: "RUN_TIME_NS RUN_CNT" summed over the TC programs attached to vb (kernel.bpf_stats_enabled)
progstat() {
	local id
	for id in $(ip netns exec $obs bpftool -j net show dev vb |
		python3 -c 'import json, sys; [print(p["id"]) for d in json.load(sys.stdin) for p in d.get("tc", [])]'); do
		bpftool -j prog show id "$id"
	done | python3 -c '
import json, sys
t = c = 0
for line in sys.stdin:
    p = json.loads(line)
    t += p.get("run_time_ns", 0); c += p.get("run_cnt", 0)
print(t, c)'
}

# wait_for FILE PATTERN PID: until FILE has PATTERN (10 s), or PID died
wait_for() {
	local i
	for i in $(seq 100); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.1
	done
	[ "$i" -lt 100 ]
}

# start_obs COND TAG: start COND's observer (and its collector), ready when it returns.
# Sets obs_pid and nf_pid (0: none).
start_obs() {
	local c=$1 tag=$2
	obs_pid=0 nf_pid=0
	case $c in
	none) return 0 ;;
	ref_counter | ref_counter_coarse | ref_empty)
		ip netns exec $obs "$TC_ATTACH" "$build/bench/$c.bpf.o" vb $map_entries \
			>"$work/$tag.out" 2>"$work/$tag.log" &
		obs_pid=$!
		pids+=("$obs_pid")
		wait_for "$work/$tag.log" "tc_attach: attached" $obs_pid
		return
		;;
	esac
	mkdir -p "$work/nf-$tag"
	ip netns exec $obs nfcapd -b 127.0.0.1 -p $port -B "$nfbuf" -w "$work/nf-$tag" -t 3600 \
		>"$work/nfcapd-$tag.log" 2>&1 &
	nf_pid=$!
	pids+=("$nf_pid")
	if [ "$c" = xlatflowd ] || [ "$c" = xlatflowd_alt ]; then
		local bin=$XLATFLOWD opts=("${ring[@]}")
		[ "$c" = xlatflowd_alt ] && bin=$XLATFLOWD_ALT opts=("${alt[@]}")
		ip netns exec $obs "$bin" -f --interface vb --collector "udp://127.0.0.1:$port" \
			--nat-hook off --idle-timeout "$idle" --active-timeout 3600 \
			--max-flows $map_entries --kernel-max-flows $kflows "${opts[@]}" >"$work/$tag.log" 2>&1 &
		obs_pid=$!
		pids+=("$obs_pid")
		wait_for "$work/$tag.log" "NAT enrichment:" $obs_pid
	else
		# -m: cache above the flow count; expint=1: check the idle timeout every second;
		# -B 64 MiB: the pcap buffer softflowd needs at this rate (as e2e.sh)
		ip netns exec $obs softflowd -d -i vb -v 10 -n 127.0.0.1:$port -m $map_entries \
			-t udp="$idle" -t general="$idle" -t expint=1 -B 67108864 \
			-p "$work/$tag.pid" -c "$work/$tag.ctl" >"$work/$tag.log" 2>&1 &
		obs_pid=$!
		pids+=("$obs_pid")
		for _ in $(seq 100); do
			[ -S "$work/$tag.ctl" ] && break
			kill -0 $obs_pid 2>/dev/null || break
			sleep 0.1
		done
		[ -S "$work/$tag.ctl" ]
	fi
}

# stop_obs: the collector first, so that only what was exported inside the window counts
# (xlatflowd exports what it still holds when stopped), then the observer
stop_obs() {
	if [ "$nf_pid" != 0 ]; then
		kill -TERM "$nf_pid"
		wait "$nf_pid" 2>/dev/null
	fi
	if [ "$obs_pid" != 0 ]; then
		kill -TERM "$obs_pid"
		wait "$obs_pid" 2>/dev/null
	fi
	pids=()
	# whatever the observer left on vb (an empty clsact) must not tax the next condition
	ip netns exec $obs tc qdisc del dev vb clsact 2>/dev/null
	# nor the freeing of its maps, which a kworker does after the last reference goes
	# (hundreds of MB at 1M flows)
	sleep 2
}

# seen COND TAG: "flows packets" the observer reported, the flush flow left out (-1: unknown)
seen() {
	local p f
	case $1 in
	none | ref_empty) echo "0 0" ;;
	ref_counter | ref_counter_coarse)
		p=$(sed -n 's/^packets=\([0-9]*\) flows=\([0-9]*\)$/\1/p' "$work/$2.out")
		f=$(sed -n 's/^packets=\([0-9]*\) flows=\([0-9]*\)$/\2/p' "$work/$2.out")
		if [ -n "$p" ]; then echo "$((f - 1)) $((p - flush))"; else echo "-1 -1"; fi
		;;
	*)
		nfdump -R "$work/nf-$2" -q -o csv 'not dst port 7' 2>/dev/null |
			awk -F, 'NF >= 13 && $1 ~ /^[0-9]/ { f++; p += $12 } END { print f + 0, p + 0 }'
		rm -rf "$work/nf-$2"
		;;
	esac
}

# res: one line per condition and round: round cond busy_j nfcapd_ns sent flush_sent secs
# seen_flows seen_packets note others_j observer_ns_traffic observer_ns_after generator_ns
# kthreads_ns prog_run_ns prog_runs
res=$work/results
: >"$res"
t_start=$(date +%s)
for ((r = 1; r <= rounds; r++)); do
	order=()
	for ((i = 0; i < ${#conds[@]}; i++)); do
		order+=("${conds[$(((i + r - 1) % ${#conds[@]}))]}")
	done
	echo "order $r ${order[*]}" >>"$res"
	for c in "${order[@]}"; do
		tag=$c-$r
		echo "observer_cpu: round $r/$rounds, $c" >&2
		if ! start_obs "$c" "$tag"; then
			echo "$c did not start: $(tail -n 3 "$work/$tag.log" 2>/dev/null)"
			exit 1
		fi
		sleep 1
		o0=$(others)
		p0=0
		[ "$obs_pid" != 0 ] && p0=$(cpu_ns "$obs_pid")
		s0="0 0"
		[ $stats = 1 ] && s0=$(progstat)
		kthreads "$work/kt0"
		read -r i0 t0 < <(busy)
		n0=0
		[ "$nf_pid" != 0 ] && n0=$(cpu_ns "$nf_pid")
		ip netns exec $gen "$FLOWGEN" -i vg -d "$vb_mac" -f "$flows" -p "$pkts" -s $ip_len \
			-r "$rate" >"$work/flowgen-$tag.out" || { echo "flowgen failed"; exit 1; }
		t_end=$(now_ms)
		# push softflowd's ring tail through (a flow of its own, to port 7, left out of
		# the counts), sent in every condition so that the traffic is the same
		sleep 0.5
		ip netns exec $gen "$FLOWGEN" -i vg -d "$vb_mac" -f 1 -p $flush -s $ip_len -r 20000 -P 7 \
			>"$work/flush-$tag.out" || { echo "flowgen (flush) failed"; exit 1; }
		sleep "$(awk -v l=$tail_ms 'BEGIN { printf "%.3f", l / 1000 }')"
		# the traffic part ends: the whole machine, nfcapd, the others, the observer
		read -r i1 t1 < <(busy)
		kthreads "$work/kt1"
		s1="0 0"
		[ $stats = 1 ] && s1=$(progstat)
		b=$(awk -v n="$ncpu" -v hz="$hz" -v t="$((t1 - t0))" -v i="$((i1 - i0))" \
			'BEGIN { printf "%.0f", n * t / 1e9 * hz - i }')
		n1=0
		[ "$nf_pid" != 0 ] && n1=$(cpu_ns "$nf_pid")
		o1=$(others)
		p1=0
		[ "$obs_pid" != 0 ] && p1=$(cpu_ns "$obs_pid")
		left=$((win * 1000 - ($(now_ms) - t_end)))
		[ $left -gt 0 ] && sleep "$(awk -v l=$left 'BEGIN { printf "%.3f", l / 1000 }')"
		# the after part: the observer's own CPU only
		p2=0
		[ "$obs_pid" != 0 ] && p2=$(cpu_ns "$obs_pid")
		drops=
		# shellcheck disable=SC2016 # awk's $6, not the shell's
		[ "$nf_pid" != 0 ] && drops=$(ip netns exec $obs awk '/^Udp:/ && ++n == 2 { print $6 }' /proc/net/snmp)
		if [ "$obs_pid" != 0 ] && ! kill -0 "$obs_pid" 2>/dev/null; then
			echo "$c exited during the run: $(tail -n 3 "$work/$tag.log")"
			exit 1
		fi
		stop_obs
		note=
		if [ "$c" = xlatflowd ] || [ "$c" = xlatflowd_alt ]; then
			# the exit stats: packets that went through the ring buffer, and lost ones
			note=$(sed -n 's/.*stats (exit): kernel: [0-9]* packets observed, \([0-9]*\) lost.*, \([0-9]*\) past full flow slots.*/lost=\1,ringbuf=\2/p' "$work/$tag.log" | tail -n 1)
		fi
		[ -n "$drops" ] && note="${note:+$note,}rcvbuf_errors=$drops"
		sent=$(sed -n 's/.*packets=\([0-9]*\).*/\1/p' "$work/flowgen-$tag.out")
		fsent=$(sed -n 's/.*packets=\([0-9]*\).*/\1/p' "$work/flush-$tag.out")
		secs=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' "$work/flowgen-$tag.out")
		g=$(cat "$work/flowgen-$tag.out" "$work/flush-$tag.out" |
			sed -n 's/.*cpu_ns=\([0-9]*\).*/\1/p' | awk '{ s += $1 } END { printf "%.0f\n", s }')
		read -r sf sp < <(seen "$c" "$tag")
		kt=$(kthreads_ns "$work/kt0" "$work/kt1")
		echo "$r $c $b $((n1 - n0)) $sent $fsent $secs $sf $sp ${note:--} $((o1 - o0)) $((p1 - p0)) $((p2 - p1)) $g $kt $(echo "$s0 $s1" | awk '{ print $3 - $1, $4 - $2 }')" >>"$res"
	done
done
t_total=$(($(date +%s) - t_start))

awk -v flows="$flows" -v pkts="$pkts" -v rate="$rate" -v rounds="$rounds" -v hz="$hz" \
	-v idle="$idle" -v win="$win" -v tail="$tail_ms" -v ip_len=$ip_len -v flush=$flush -v total="$t_total" \
	-v kflows="$kflows" -v mapn="$map_entries" -v xopt="${ring[*]}" \
	-v alt_on=$alt_on -v altdesc="$alt_desc" -v all=$all -v stats=$stats -v load="$(cut -d' ' -f1-3 /proc/loadavg)" '
function sorted(a, n,    i, j, t) {
	for (i = 1; i <= n; i++) b[i] = a[i]
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && b[j - 1] > b[j]; j--) { t = b[j]; b[j] = b[j - 1]; b[j - 1] = t }
}
function median(a, n) {
	sorted(a, n)
	return (n % 2) ? b[(n + 1) / 2] : (b[n / 2] + b[n / 2 + 1]) / 2
}
function minmax(a, n,    i, lo, hi) {
	lo = hi = a[1]
	for (i = 2; i <= n; i++) { if (a[i] < lo) lo = a[i]; if (a[i] > hi) hi = a[i] }
	mm_lo = lo; mm_hi = hi
}
# ci(a, n): a 95% confidence interval of the median of a[1..n] from order statistics: the
# k-th smallest and k-th largest, k the largest with P(Binomial(n, 1/2) < k) <= 0.025
# (n = 9: the 2nd; n = 12: the 3rd). Sets ci_lo, ci_hi, ci_ok (0 when n < 6: no k).
function ci(a, n,    k, p, c, i) {
	sorted(a, n)
	c = 0; p = 0.5 ^ n; k = 0
	for (i = 0; i < n; i++) {
		c += p
		if (c > 0.025) break
		k = i + 1
		p = p * (n - i) / (i + 1)
	}
	ci_ok = (k >= 1)
	if (ci_ok) { ci_lo = b[k]; ci_hi = b[n - k + 1] } else { ci_lo = b[1]; ci_hi = b[n] }
}
# verdict: the median per-round ratio V against GOAL, with its confidence interval
function verdict(v, goal, lo, hi, ok,    w) {
	if (v <= 0) return "not measured (a reference <= 0)"
	w = (v <= goal) ? "met" : sprintf("missed by %.0f%%", (v / goal - 1) * 100)
	if (!ok)
		w = w " (too few rounds for a confidence interval)"
	else if (lo <= goal && hi > goal)
		w = w " by the median; its 95% interval straddles " goal
	else
		w = w ", the median'"'"'s 95% interval too"
	return w
}
# table TITLE KIND: one measure (add[KIND, c, r]) per condition, ratios per round
function table(kind, title,    i, c, r, a, q, nq) {
	printf "**%s**\n\n", title
	printf "| condition | added CPU s per 1M packets, median | min-max over %d rounds | xlatflowd / this per round: median | min-max | 95%% interval of the median |\n", rounds
	printf "|---|---:|---:|---:|---:|---:|\n"
	for (i = 2; i <= n; i++) {
		c = C[i]
		nq = 0
		for (r = 1; r <= rounds; r++) {
			a[r] = add[kind, c, r]
			if (add[kind, c, r] > 0) q[++nq] = add[kind, "xlatflowd", r] / add[kind, c, r]
		}
		med[kind, c] = median(a, rounds); minmax(a, rounds)
		if (c == "xlatflowd") {
			printf "| **xlatflowd** | **%.3f** | %.3f-%.3f | | | |\n", med[kind, c], mm_lo, mm_hi
			continue
		}
		ok = (nq == rounds)
		printf "| %s | %.3f | %.3f-%.3f | ", c, med[kind, c], mm_lo, mm_hi
		if (!ok) {
			rq[kind, c] = -1
			printf "n/a (a round <= 0) | | |\n"
			continue
		}
		rq[kind, c] = median(q, nq); minmax(q, nq); ci(q, nq)
		rlo[kind, c] = ci_lo; rhi[kind, c] = ci_hi; rok[kind, c] = ci_ok
		printf "%.2f | %.2f-%.2f | %s |\n", rq[kind, c], mm_lo, mm_hi,
			ci_ok ? sprintf("%.2f-%.2f", ci_lo, ci_hi) : "n/a (under 6 rounds)"
	}
	printf "\n"
}
$1 == "order" { ord[$2] = $3; for (i = 4; i <= NF; i++) ord[$2] = ord[$2] ", " $i; next }
{
	r = $1; c = $2
	m = ($5 + $6) / 1e6 # million packets through vb: the flows and the flush flow
	oth[c, r] = all ? 0 : $11 / hz / m
	cpu[c, r] = ($3 / hz - $4 / 1e9) / m - oth[c, r]
	pin[c, r] = $12 / 1e9 / m
	post[c, r] = $13 / 1e9 / m
	gen[c, r] = $14 / 1e9 / m
	kth[c, r] = $15 / 1e9 / m
	task[c, r] = gen[c, r] + kth[c, r] + pin[c, r]
	prun[c, r] = $16; pcnt[c, r] = $17; mill[c, r] = m
	nf[c, r] = $4 / 1e9 / m
	sent[c, r] = $5; secs[c, r] = $7; sf[c, r] = $8; sp[c, r] = $9; note[c, r] = $10
}
# -s: the run time of the programs (kernel.bpf_stats_enabled) plus the observer process
function stats_report(    i, c, r, a, q, nq, per, body, k, j) {
	n = split("ref_empty ref_counter_coarse ref_counter xlatflowd" (alt_on ? " xlatflowd_alt" : ""), C, " ")
	printf "%d flows x %d packets (%d IPv4 UDP packets, IP length %d) sent round robin at %d/s\n", flows, pkts, flows * pkts, ip_len, rate
	printf "into a veth; on its peer (vb) one TC observer at a time on the ingress hook, with\n"
	printf "kernel.bpf_stats_enabled=1: the run time the kernel measured around every run of the\n"
	printf "programs attached to vb, per run, minus the empty program'"'"'s (ref_empty: the statistics'"'"'\n"
	printf "clock reads and the dispatch) of the same round, times the runs, plus the observer process'"'"'s\n"
	printf "own CPU (schedstat) until %d s after the traffic (every flow exported: checked below).\n", win
	printf "CPU seconds per million packets (%d, a flush flow of %d packets included). %d rounds, the\n", flows * pkts + flush, flush, rounds
	printf "order rotating each round. xlatflowd: --kernel-max-flows %d, --max-flows %d%s; ref counters:\n", kflows, mapn, xopt == "" ? "" : ", " xopt
	printf "hash map %d entries. Run took %d s, load at the end %s.\n", mapn, total, load
	if (alt_on) printf "xlatflowd_alt: %s, in the same rounds.\n", altdesc
	printf "\n"
	for (r = 1; r <= rounds; r++)
		for (i = 1; i <= n; i++) {
			c = C[i]
			per[c, r] = pcnt[c, r] > 0 ? prun[c, r] / pcnt[c, r] : 0
		}
	for (r = 1; r <= rounds; r++)
		for (i = 2; i <= n; i++) {
			c = C[i]
			body[c, r] = per[c, r] - per["ref_empty", r]
			add["bpf", c, r] = body[c, r] * pcnt[c, r] / 1e9 / mill[c, r] + pin[c, r] + post[c, r]
		}
	printf "| condition | ns per program run, median | min-max | added CPU s per 1M packets (program less ref_empty, + process), median | min-max | xlatflowd / this per round: median | min-max | 95%% interval of the median |\n"
	printf "|---|---:|---:|---:|---:|---:|---:|---:|\n"
	for (i = 1; i <= n; i++) {
		c = C[i]
		for (r = 1; r <= rounds; r++) a[r] = per[c, r]
		printf "| %s | %.1f | ", (c == "xlatflowd") ? "**xlatflowd**" : c, median(a, rounds)
		minmax(a, rounds); printf "%.1f-%.1f | ", mm_lo, mm_hi
		if (c == "ref_empty") { printf "(subtracted) | | | | |\n"; continue }
		for (r = 1; r <= rounds; r++) a[r] = add["bpf", c, r]
		printf "%.3f | ", median(a, rounds); minmax(a, rounds); printf "%.3f-%.3f | ", mm_lo, mm_hi
		if (c == "xlatflowd") { printf "| | |\n"; continue }
		nq = 0
		for (r = 1; r <= rounds; r++) if (add["bpf", c, r] > 0) q[++nq] = add["bpf", "xlatflowd", r] / add["bpf", c, r]
		if (nq < rounds) { rq["bpf", c] = -1; printf "n/a (a round <= 0) | | |\n"; continue }
		rq["bpf", c] = median(q, nq); minmax(q, nq); ci(q, nq)
		rlo["bpf", c] = ci_lo; rhi["bpf", c] = ci_hi; rok["bpf", c] = ci_ok
		printf "%.2f | %.2f-%.2f | %s |\n", rq["bpf", c], mm_lo, mm_hi, ci_ok ? sprintf("%.2f-%.2f", ci_lo, ci_hi) : "n/a (under 6 rounds)"
	}
	printf "\nPer round:\n\n| round | condition | ns per run | runs | observer process during the traffic | after | flows seen | packets seen | all seen | notes |\n"
	printf "|---:|---|---:|---:|---:|---:|---:|---:|---|---|\n"
	missed = 0
	for (r = 1; r <= rounds; r++) {
		printf "| %d | order: %s | | | | | | | | |\n", r, ord[r]
		for (i = 1; i <= n; i++) {
			c = C[i]
			ok = (c == "ref_empty") ? "-" : (sf[c, r] == flows && sp[c, r] == flows * pkts) ? "yes" : "**no**"
			if (ok == "**no**") missed++
			printf "| %d | %s | %.1f | %d | %.3f | %.3f | %s | %s | %s | %s |\n", r, c, per[c, r], pcnt[c, r], pin[c, r], post[c, r],
				c == "ref_empty" ? "-" : sf[c, r], c == "ref_empty" ? "-" : sp[c, r], ok, note[c, r] == "-" ? "" : note[c, r]
		}
	}
	printf "\n"
	if (missed)
		printf "**Warning:** %d observer runs did not report every flow and packet sent: their CPU is not comparable.\n", missed
	else
		printf "Every observer reported every flow and packet sent, in every round.\n"
	printf "<!-- summary: | observer CPU on real traffic (BPF + process, bpf_stats), xlatflowd%s / ref_counter_coarse (the minimal counter), %d flows, median per round | %s (95%% %s; rounds %d) | <= 1.3 | %s | -->\n", xopt == "" ? "" : " " xopt, flows,
		(rq["bpf", "ref_counter_coarse"] > 0) ? sprintf("%.2f", rq["bpf", "ref_counter_coarse"]) : "n/a",
		(rq["bpf", "ref_counter_coarse"] > 0 && rok["bpf", "ref_counter_coarse"]) ? sprintf("%.2f-%.2f", rlo["bpf", "ref_counter_coarse"], rhi["bpf", "ref_counter_coarse"]) : "n/a", rounds,
		verdict(rq["bpf", "ref_counter_coarse"], 1.3, rlo["bpf", "ref_counter_coarse"], rhi["bpf", "ref_counter_coarse"], rok["bpf", "ref_counter_coarse"])
}
END {
	if (stats) { stats_report(); exit }
	n = split("none ref_counter_coarse ref_counter xlatflowd softflowd" (alt_on ? " xlatflowd_alt" : ""), C, " ")
	printf "%d flows x %d packets (%d IPv4 UDP packets, IP length %d) sent round robin at %d/s\n", flows, pkts, flows * pkts, ip_len, rate
	printf "from one namespace into a veth; on its peer (vb, no forwarding) one observer at a time on\n"
	printf "the ingress hook, or none. Two measures (bench/observer_cpu.sh says how): **tasks**, the\n"
	printf "runtime of every task the packets run in (the generator, whose CPU holds the receive\n"
	printf "softirq, the kernel threads, the observer process; host steal excluded), and **machine**,\n"
	printf "/proc/stat'"'"'s busy CPU (CPUs x time - idle - iowait, %d ticks a second) from the start of\n", hz
	printf "the traffic until %.1f s after its last packet. Both: minus the condition without an\n", tail / 1000
	printf "observer of the same round, plus the observer process'"'"'s own CPU until %d s after the\n", win
	printf "traffic (idle timeout %d s on both exporters: every flow exported by then, checked below).\n", idle
	printf "The collectors (nfcapd on loopback) are in neither. CPU seconds per million packets (%d,\n", flows * pkts + flush
	printf "a trailing flush flow of %d packets included, sent in every condition for softflowd'"'"'s pcap\n", flush
	printf "ring tail). %d rounds, the order of the conditions rotating each round;\n", rounds
	printf "kernel.bpf_stats_enabled=0.\n"
	if (all)
		printf "machine: other processes on the machine are counted in (-a): read it on a quiet machine only.\n"
	else
		printf "machine: the CPU of the machine'"'"'s other user processes (not started by this script) over\nthe window is subtracted (column \"others\" below; -a keeps it in).\n"
	printf "ref counters: tc_attach, hash map %d entries; xlatflowd: --kernel-max-flows %d, --max-flows %d%s;\n", mapn, kflows, mapn, xopt == "" ? "" : ", " xopt
	printf "softflowd: -m %d -B 67108864 -t expint=1. Run took %d s, load at the end %s.\n", mapn, total, load
	if (alt_on) printf "xlatflowd_alt: %s, in the same rounds.\n", altdesc
	printf "\n"

	for (r = 1; r <= rounds; r++)
		for (i = 2; i <= n; i++) {
			add["task", C[i], r] = task[C[i], r] - task["none", r] + post[C[i], r]
			add["machine", C[i], r] = cpu[C[i], r] - cpu["none", r] + post[C[i], r]
		}
	for (r = 1; r <= rounds; r++) { a[r] = task["none", r]; a2[r] = cpu["none", r] }
	minmax(a, rounds)
	printf "The none condition (the generator and the veth, not added): tasks %.3f (%.3f-%.3f), ", median(a, rounds), mm_lo, mm_hi
	minmax(a2, rounds)
	printf "machine %.3f (%.3f-%.3f) CPU s per 1M packets.\n\n", median(a2, rounds), mm_lo, mm_hi
	table("task", "tasks (the headline):")
	table("machine", "machine (/proc/stat):")

	printf "Per round (CPU s per 1M packets; generator rate achieved; flows / packets the observer\n"
	printf "reported, flush flow left out, against %d / %d sent):\n\n", flows, flows * pkts
	printf "| round | condition | added, tasks | added, machine | observer process after the traffic | during | generator (with the receive softirq) | kernel threads | nfcapd (in neither) | others (subtracted from machine) | packets/s achieved | flows seen | packets seen | all seen | notes |\n"
	printf "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n"
	short = 0; missed = 0
	for (r = 1; r <= rounds; r++) {
		printf "| %d | order: %s | | | | | | | | | | | | | |\n", r, ord[r]
		for (i = 1; i <= n; i++) {
			c = C[i]
			ach = secs[c, r] > 0 ? sent[c, r] / secs[c, r] : 0
			warn = (ach < 0.95 * rate) ? " **short**" : ""
			if (warn != "") short++
			ok = (c == "none") ? "-" : (sf[c, r] == flows && sp[c, r] == flows * pkts) ? "yes" : "**no**"
			if (ok == "**no**") missed++
			printf "| %d | %s | %s | %s | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.0f%s | %s | %s | %s | %s |\n", r, c,
				c == "none" ? sprintf("(%.3f)", task[c, r]) : sprintf("%.3f", add["task", c, r]),
				c == "none" ? sprintf("(busy %.3f)", cpu[c, r]) : sprintf("%.3f", add["machine", c, r]),
				post[c, r], pin[c, r], gen[c, r], kth[c, r], nf[c, r], oth[c, r], ach, warn,
				c == "none" ? "-" : sf[c, r], c == "none" ? "-" : sp[c, r], ok,
				note[c, r] == "-" ? "" : note[c, r]
		}
	}
	printf "\n"
	if (short)
		printf "**Warning:** the generator fell more than 5%% short of %d/s in %d condition-rounds: per-packet figures of those are skewed.\n", rate, short
	else
		printf "The generator kept %d/s (within 5%%) in every condition.\n", rate
	if (missed)
		printf "**Warning:** %d observer runs did not report every flow and packet sent: their CPU is not comparable.\n", missed
	else
		printf "Every observer reported every flow and packet sent, in every round.\n"
	split("ref_counter_coarse softflowd", R, " "); split("1.3 0.5", G, " ")
	split("ref_counter_coarse (the minimal counter)|softflowd", L, "|")
	for (j = 1; j <= 2; j++)
		for (kk = 1; kk <= 2; kk++) {
			kind = (kk == 1) ? "task" : "machine"; c = R[j]
			printf "<!-- summary: | observer CPU on real traffic (%s), xlatflowd%s / %s, %d flows, median per round | %s (95%% %s; rounds %d) | <= %s | %s | -->\n",
				(kind == "task") ? "tasks" : "whole machine", xopt == "" ? "" : " " xopt, L[j], flows,
				(rq[kind, c] > 0) ? sprintf("%.2f", rq[kind, c]) : "n/a",
				(rq[kind, c] > 0 && rok[kind, c]) ? sprintf("%.2f-%.2f", rlo[kind, c], rhi[kind, c]) : "n/a", rounds, G[j],
				verdict(rq[kind, c], G[j] + 0, rlo[kind, c], rhi[kind, c], rok[kind, c])
		}
}' "$res"
