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
# Per condition, two parts:
#   traffic  the busy CPU of /proc/stat's aggregate cpu line (CPUs x time -
#            idle - iowait; see busy() for why not the sum of the tick-sampled
#            user + nice + system + irq + softirq + steal) from the start of the
#            traffic until TAIL (1.5 s) after its last packet, past the drain
#            that reads it: everything the packets cost anywhere (BPF, pcap
#            copies in softirq, the observer's process, kernel threads)
#   after    until W after the traffic (W the same for every condition, long
#            enough that both exporters have idle-expired every flow), only
#            the observer process's own CPU (schedstat): the exports, when no
#            packet flows. The whole machine is not read there: seconds of
#            nothing but the host's noise would swamp what is measured.
# The collector is not the observer: nfcapd's own CPU over the traffic part is
# subtracted. Added CPU = traffic part minus the none condition of the same
# round, plus the after part. The order of the conditions rotates between
# rounds, so drift of the machine hits all alike; the median over rounds is
# reported with its min-max. This counts what a process-CPU comparison
# misses: softflowd's kernel copies into its pcap ring (softirq) and the TC
# programs' run time, without kernel.bpf_stats_enabled (0 here: it adds two
# clock reads to every program run).
#
# On a shared machine the CPU of the other user processes (not this script's
# descendants) over the window is subtracted too, and printed; -a keeps it in
# (the raw /proc/stat figure, for a machine known to be quiet).
#
#   observer_cpu.sh [-f FLOWS] [-p PACKETS] [-r RATE] [-n ROUNDS] [-a]
# Prints Markdown. Needs root; exit 77 when a tool is missing.
set -uo pipefail

flows=20000 pkts=50 rate=200000 rounds=5 ip_len=100 all=0
while getopts f:p:r:n:a opt; do
	case $opt in
	a) all=1 ;;
	f) flows=$OPTARG ;;
	p) pkts=$OPTARG ;;
	r) rate=$OPTARG ;;
	n) rounds=$OPTARG ;;
	*) echo "usage: $0 [-f FLOWS] [-p PACKETS] [-r RATE] [-n ROUNDS] [-a]" >&2; exit 2 ;;
	esac
done
src=${abs_top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
build=${abs_top_builddir:-$(pwd)}
XLATFLOWD=${XLATFLOWD:-$build/src/xlatflowd}
FLOWGEN=$build/bench/flowgen
TC_ATTACH=$build/bench/tc_attach
# shellcheck source=bench/netlib.sh
source "$src/bench/netlib.sh"

bench_need softflowd nfcapd nfdump getconf
bench_file_needed "$XLATFLOWD" "make"
for f in "$FLOWGEN" "$TC_ATTACH" "$build/bench/ref_counter.bpf.o" "$build/bench/ref_counter_coarse.bpf.o"; do
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
sysctl -qw kernel.bpf_stats_enabled=0
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
	ref_counter | ref_counter_coarse)
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
	if [ "$c" = xlatflowd ]; then
		ip netns exec $obs "$XLATFLOWD" -f --interface vb --collector "udp://127.0.0.1:$port" \
			--nat-hook off --idle-timeout "$idle" --active-timeout 3600 \
			--max-flows $map_entries --kernel-max-flows $kflows >"$work/$tag.log" 2>&1 &
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
	none) echo "0 0" ;;
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
# seen_flows seen_packets note others_j observer_ns_traffic observer_ns_after
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
		if [ "$c" = xlatflowd ]; then
			# the exit stats: packets that went through the ring buffer, and lost ones
			note=$(sed -n 's/.*stats (exit): kernel: [0-9]* packets observed, \([0-9]*\) lost.*, \([0-9]*\) past full flow slots.*/lost=\1,ringbuf=\2/p' "$work/$tag.log" | tail -n 1)
		fi
		[ -n "$drops" ] && note="${note:+$note,}rcvbuf_errors=$drops"
		sent=$(sed -n 's/.*packets=\([0-9]*\).*/\1/p' "$work/flowgen-$tag.out")
		fsent=$(sed -n 's/.*packets=\([0-9]*\).*/\1/p' "$work/flush-$tag.out")
		secs=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' "$work/flowgen-$tag.out")
		read -r sf sp < <(seen "$c" "$tag")
		echo "$r $c $b $((n1 - n0)) $sent $fsent $secs $sf $sp ${note:--} $((o1 - o0)) $((p1 - p0)) $((p2 - p1))" >>"$res"
	done
done
t_total=$(($(date +%s) - t_start))

awk -v flows="$flows" -v pkts="$pkts" -v rate="$rate" -v rounds="$rounds" -v hz="$hz" \
	-v idle="$idle" -v win="$win" -v tail="$tail_ms" -v ip_len=$ip_len -v flush=$flush -v total="$t_total" \
	-v kflows="$kflows" -v mapn="$map_entries" -v all=$all -v load="$(cut -d' ' -f1-3 /proc/loadavg)" '
function median(a, n,    i, j, t, b) {
	for (i = 1; i <= n; i++) b[i] = a[i]
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && b[j - 1] > b[j]; j--) { t = b[j]; b[j] = b[j - 1]; b[j - 1] = t }
	return (n % 2) ? b[(n + 1) / 2] : (b[n / 2] + b[n / 2 + 1]) / 2
}
function minmax(a, n,    i, lo, hi) {
	lo = hi = a[1]
	for (i = 2; i <= n; i++) { if (a[i] < lo) lo = a[i]; if (a[i] > hi) hi = a[i] }
	mm_lo = lo; mm_hi = hi
}
# verdict V GOAL LO HI: the median ratio V against GOAL, and whether the rounds agree
function verdict(v, goal, lo, hi,    w) {
	if (v <= 0) return "not measured (reference <= 0)"
	w = (v <= goal) ? "met" : sprintf("missed by %.0f%%", (v / goal - 1) * 100)
	if (lo <= 0 || (lo <= goal && hi > goal))
		w = w " by the median; the rounds straddle " goal
	return w
}
$1 == "order" { ord[$2] = $3; for (i = 4; i <= NF; i++) ord[$2] = ord[$2] ", " $i; next }
{
	r = $1; c = $2
	m = ($5 + $6) / 1e6 # million packets through vb: the flows and the flush flow
	oth[c, r] = all ? 0 : $11 / hz / m
	cpu[c, r] = ($3 / hz - $4 / 1e9) / m - oth[c, r]
	pin[c, r] = $12 / 1e9 / m
	post[c, r] = $13 / 1e9 / m
	nf[c, r] = $4 / 1e9 / m
	sent[c, r] = $5; secs[c, r] = $7; sf[c, r] = $8; sp[c, r] = $9; note[c, r] = $10
}
END {
	n = split("none ref_counter_coarse ref_counter xlatflowd softflowd", C, " ")
	printf "%d flows x %d packets (%d IPv4 UDP packets, IP length %d) sent round robin at %d/s\n", flows, pkts, flows * pkts, ip_len, rate
	printf "from one namespace into a veth; on its peer (vb, no forwarding) one observer at a time on\n"
	printf "the ingress hook, or none. Whole-machine busy CPU from /proc/stat (CPUs x time - idle -\n"
	printf "iowait, %d ticks a second) from the start of the traffic until %.1f s after its last packet,\n", hz, tail / 1000
	printf "minus the condition without an observer of the same round; then, until %d s after the traffic\n", win
	printf "(idle timeout %d s on both exporters: every flow exported by then, checked below), the\n", idle
	printf "observer process'"'"'s own CPU (its exports; schedstat). The collectors (nfcapd, IPFIX\n"
	printf "from xlatflowd and softflowd on loopback) are not observers: their own CPU over the traffic\n"
	printf "part (schedstat) is subtracted. CPU seconds per million packets (%d, a trailing flush flow\n", flows * pkts + flush
	printf "of %d packets included, sent in every condition for softflowd'"'"'s pcap ring tail).\n", flush
	printf "%d rounds, the order of the conditions rotating each round; kernel.bpf_stats_enabled=0.\n", rounds
	if (all)
		printf "Other processes on the machine are counted in (-a): read this on a quiet machine only.\n"
	else
		printf "The CPU of the machine'"'"'s other user processes (not started by this script: other work on a\nshared machine) over the window is subtracted as well (column \"others\" below; -a keeps it in).\n"
	printf "ref counters: tc_attach, hash map %d entries; xlatflowd: --kernel-max-flows %d, --max-flows %d;\n", mapn, kflows, mapn
	printf "softflowd: -m %d -B 67108864 -t expint=1. Run took %d s, load at the end %s.\n\n", mapn, total, load

	for (r = 1; r <= rounds; r++)
		for (i = 2; i <= n; i++) add[C[i], r] = cpu[C[i], r] - cpu["none", r] + post[C[i], r]
	printf "| condition | added CPU s per 1M packets, median | min-max over %d rounds | xlatflowd / this, from the medians | xlatflowd / this, per round, min-max |\n", rounds
	printf "|---|---:|---:|---:|---:|\n"
	for (r = 1; r <= rounds; r++) a[r] = cpu["none", r]
	minmax(a, rounds)
	printf "| none (the generator and the veth: busy CPU, not added) | %.3f | %.3f-%.3f | | |\n", median(a, rounds), mm_lo, mm_hi
	for (r = 1; r <= rounds; r++) a[r] = add["xlatflowd", r]
	mx = median(a, rounds); minmax(a, rounds); xlo = mm_lo; xhi = mm_hi
	for (i = 2; i <= n; i++) {
		c = C[i]
		for (r = 1; r <= rounds; r++) { a[r] = add[c, r]; q[r] = (add[c, r] > 0) ? add["xlatflowd", r] / add[c, r] : -1 }
		med[c] = median(a, rounds); minmax(a, rounds); lo[c] = mm_lo; hi[c] = mm_hi
		ratio[c] = (med[c] > 0) ? mx / med[c] : -1
		minmax(q, rounds); qlo[c] = mm_lo; qhi[c] = mm_hi
		if (c == "xlatflowd")
			printf "| **xlatflowd** | **%.3f** | %.3f-%.3f | | |\n", med[c], lo[c], hi[c]
		else
			printf "| %s | %.3f | %.3f-%.3f | %s | %s |\n", c, med[c], lo[c], hi[c],
				(ratio[c] > 0) ? sprintf("%.2f", ratio[c]) : "n/a",
				(qlo[c] > 0) ? sprintf("%.2f-%.2f", qlo[c], qhi[c]) : "n/a (a round <= 0)"
	}
	printf "\n"
	for (i = 2; i <= n; i++) {
		c = C[i]
		if (c == "xlatflowd") continue
		over = !(xhi < lo[c] || hi[c] < xlo)
		if (rounds < 2) {
			printf "- xlatflowd vs %s: one round, no spread to compare.\n", c
			continue
		}
		printf "- xlatflowd %.3f-%.3f vs %s %.3f-%.3f: the spreads %s.\n", xlo, xhi, c, lo[c], hi[c],
			over ? "**overlap**: this run does not separate the two" : "do not overlap"
	}
	printf "\nPer round (added CPU s per 1M packets; generator rate achieved; flows / packets the\n"
	printf "observer reported, flush flow left out, against %d / %d sent):\n\n", flows, flows * pkts
	printf "| round | condition | added CPU | of which after the traffic (observer process) | observer process during the traffic | nfcapd subtracted | others subtracted | packets/s achieved | flows seen | packets seen | all seen | notes |\n"
	printf "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n"
	short = 0; missed = 0
	for (r = 1; r <= rounds; r++) {
		printf "| %d | order: %s | | | | | | | | | | |\n", r, ord[r]
		for (i = 1; i <= n; i++) {
			c = C[i]
			ach = secs[c, r] > 0 ? sent[c, r] / secs[c, r] : 0
			warn = (ach < 0.95 * rate) ? " **short**" : ""
			if (warn != "") short++
			ok = (c == "none") ? "-" : (sf[c, r] == flows && sp[c, r] == flows * pkts) ? "yes" : "**no**"
			if (ok == "**no**") missed++
			printf "| %d | %s | %s | %.3f | %.3f | %.3f | %.3f | %.0f%s | %s | %s | %s | %s |\n", r, c,
				c == "none" ? sprintf("(busy %.3f)", cpu[c, r]) : sprintf("%.3f", add[c, r]),
				post[c, r], pin[c, r], nf[c, r], oth[c, r], ach, warn, c == "none" ? "-" : sf[c, r], c == "none" ? "-" : sp[c, r], ok,
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
	printf "\n<!-- summary: | observer CPU on real traffic (whole machine), xlatflowd / ref_counter_coarse (the minimal counter), %d flows | %s (rounds %s) | <= 1.3 | %s | -->\n", flows,
		(ratio["ref_counter_coarse"] > 0) ? sprintf("%.2f", ratio["ref_counter_coarse"]) : "n/a",
		(qlo["ref_counter_coarse"] > 0) ? sprintf("%.2f-%.2f", qlo["ref_counter_coarse"], qhi["ref_counter_coarse"]) : "n/a",
		verdict(ratio["ref_counter_coarse"], 1.3, qlo["ref_counter_coarse"], qhi["ref_counter_coarse"])
	printf "<!-- summary: | observer CPU on real traffic (whole machine), xlatflowd / softflowd, %d flows | %s (rounds %s) | <= 0.5 | %s | -->\n", flows,
		(ratio["softflowd"] > 0) ? sprintf("%.2f", ratio["softflowd"]) : "n/a",
		(qlo["softflowd"] > 0) ? sprintf("%.2f-%.2f", qlo["softflowd"], qhi["softflowd"]) : "n/a",
		verdict(ratio["softflowd"], 0.5, qlo["softflowd"], qhi["softflowd"])
}' "$res"
