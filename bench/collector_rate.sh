#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The steady rate a UDP collector takes at the kernel's default socket
# buffer (bench/run.sh part 7): nfcapd (`nfcapd -p PORT -w DIR`, no -B),
# nfacctd (no nfacctd_pipe_size, no rcvbuf) and the project's xf-collect,
# each in a network namespace of its own on lo. tests/tools/xf-send-records
# hands records to the exporter as it has room (`paced N`, as the daemon's
# flow cache does) and the exporter paces them at RATE records/s with the
# default burst; every run sends RATE x SECONDS records and counts what the
# collector decoded (nfcapd: `nfdump -I`, flows and sequence failures;
# nfacctd: packets of its print plugin, one packet a record, and the
# sequence warnings it logs; xf-collect: data records). The collector's
# CPU time per record (schedstat, all its processes) is its capacity on
# this machine; the loss is what the machine's load (shared, 2 vCPUs) and
# the socket buffer left of it. -p rt runs the collectors with a real-time
# priority (chrt -f 1), so that only the buffer and the pace count, not how
# long the rest of the machine keeps them off the CPU; -p normal (default)
# as users run them. Prints Markdown, never fails on numbers.
#
#   collector_rate.sh [-s SECONDS] [-r "RATE..."] [-b BURST] [-n REPEATS] [-p normal|rt]
set -uo pipefail

secs=2 rates="50000 100000 200000 300000 400000 600000" burst=${XF_BURST:-400} repeats=2
prio=normal
while getopts s:r:b:n:p: opt; do
	case $opt in
	s) secs=$OPTARG ;;
	r) rates=$OPTARG ;;
	b) burst=$OPTARG ;;
	n) repeats=$OPTARG ;;
	p) prio=$OPTARG ;;
	*) echo "usage: $0 [-s SECONDS] [-r RATES] [-b BURST] [-n REPEATS] [-p normal|rt]" >&2; exit 2 ;;
	esac
done
run_as=()
[ "$prio" = rt ] && run_as=(chrt -f 1)
src=${abs_top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
build=${abs_top_builddir:-$(pwd)}
SEND=$build/tests/tools/xf-send-records
XFC=$build/tests/tools/xf-collect
# shellcheck source=bench/netlib.sh
source "$src/bench/netlib.sh"
bench_need python3
bench_file_needed "$SEND" "make check TESTS= (check programs)"
bench_file_needed "$XFC" "make check TESTS= (check programs)"

work=$(mktemp -d "${TMPDIR:-/tmp}/xlatflow-crate.XXXXXX")
ns=xfcr$$
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	ip netns del $ns 2>/dev/null
	[ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
ip netns add $ns || exit 1
ip -n $ns link set lo up
port=4739

collectors=()
command -v nfcapd >/dev/null && command -v nfdump >/dev/null && collectors+=(nfcapd)
command -v nfacctd >/dev/null && collectors+=(nfacctd)
collectors+=(xf-collect)

# cpu_all PID: ns of CPU of PID and its children (nfacctd forks its plugins)
cpu_all() {
	local p t=0 c
	for p in "$1" $(pgrep -P "$1"); do
		c=$(cat /proc/"$p"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }')
		t=$((t + c))
	done
	echo $t
}

# start COLLECTOR DIR: the collector at its defaults on 127.0.0.1:$port; pid in $cpid
start() {
	mkdir -p "$2"
	case $1 in
	nfcapd)
		mkdir -p "$2/data"
		ip netns exec $ns "${run_as[@]}" nfcapd -p $port -w "$2/data" >"$2/log" 2>&1 &
		cpid=$!
		for _ in $(seq 50); do grep -q "Startup" "$2/log" 2>/dev/null && break; sleep 0.1; done
		;;
	nfacctd)
		cat >"$2/conf" <<EOF
daemonize: false
nfacctd_ip: 127.0.0.1
nfacctd_port: $port
plugins: print
aggregate: src_host
print_output: json
print_output_file: $2/out.json
print_output_file_append: true
print_refresh_time: 1
EOF
		ip netns exec $ns "${run_as[@]}" nfacctd -f "$2/conf" >"$2/log" 2>&1 &
		cpid=$!
		for _ in $(seq 100); do
			grep -q "JSON: setting object handlers" "$2/log" 2>/dev/null && break
			sleep 0.1
		done
		sleep 0.3
		;;
	xf-collect)
		ip netns exec $ns "${run_as[@]}" "$XFC" --udp $port --out "$2/out.json" 2>"$2/log" &
		cpid=$!
		sleep 0.3
		;;
	esac
	pids=("$cpid")
}

# stop COLLECTOR DIR: stop it; "RECEIVED SEQUENCE_FAILURES CPU_NS" into DIR/result
stop() {
	local cpu got seq plugins
	sleep 1.5 # nfacctd's print plugin writes every second
	cpu=$(cpu_all "$cpid")
	plugins=$(pgrep -P "$cpid" || true)
	kill -TERM "$cpid" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.1; done
	# nfacctd's core sometimes ignores SIGTERM; its print plugin has purged by now
	[ -n "$plugins" ] && kill -KILL $plugins 2>/dev/null
	kill -KILL "$cpid" 2>/dev/null
	{ wait "$cpid"; } 2>/dev/null
	pids=()
	case $1 in
	nfcapd)
		got=$(nfdump -R "$2/data" -I 2>/dev/null | awk '/^Flows:/ { print $2 }')
		seq=$(nfdump -R "$2/data" -I 2>/dev/null | awk '/^Sequence failures:/ { print $3 }')
		;;
	nfacctd)
		got=$(python3 -c 'import json, sys
print(sum(json.loads(l)["packets"] for l in open(sys.argv[1]) if l.strip()))' "$2/out.json" 2>/dev/null)
		seq=$(grep -c "expecting flow" "$2/log")
		;;
	xf-collect)
		got=$(grep -c '"set":"data"' "$2/out.json")
		seq=-
		;;
	esac
	echo "${got:-0} ${seq:-0} $cpu" >"$2/result"
}

echo "Each run: RATE x $secs s records of one packet, burst $burst, default socket buffers"
echo "($(ip netns exec $ns sysctl -n net.core.rmem_default) bytes), collectors at" \
	"$([ "$prio" = rt ] && echo 'a real-time priority (chrt -f 1)' || echo 'normal priority');"
echo "received / sent (sequence failures the collector reported); load average at the start:"
echo "$(cut -d' ' -f1-3 /proc/loadavg)."
echo
printf '| records/s |'
for c in "${collectors[@]}"; do printf ' %s |' "$c"; done
printf '\n|---:|'
for _ in "${collectors[@]}"; do printf -- '---|'; done
printf '\n'
declare -A cpu_sum rec_sum
for rate in $rates; do
	n=$((rate * secs))
	printf '| %s |' "$rate"
	for c in "${collectors[@]}"; do
		cell=""
		for r in $(seq 1 "$repeats"); do
			dir=$work/$c-$rate-$r
			start "$c" "$dir"
			printf 'paced %s\nquit\n' "$n" | ip netns exec $ns "$SEND" \
				--collector "udp://127.0.0.1:$port" --rate "$rate" --burst "$burst" \
				>/dev/null 2>"$dir/send.log"
			stop "$c" "$dir"
			read -r got seq cpu <"$dir/result"
			cpu_sum[$c]=$(( ${cpu_sum[$c]:-0} + cpu ))
			rec_sum[$c]=$(( ${rec_sum[$c]:-0} + got ))
			frac=$(awk -v g="$got" -v n="$n" 'BEGIN { printf "%.4f", g / n }')
			cell="$cell${cell:+, }$frac ($seq)"
			rm -rf "$dir"
		done
		printf ' %s |' "$cell"
	done
	printf '\n'
done
echo
printf 'Collector CPU per record received (all runs): '
for c in "${collectors[@]}"; do
	awk -v c="$c" -v t="${cpu_sum[$c]}" -v n="${rec_sum[$c]}" \
		'BEGIN { if (n) printf "%s %.2f us (%.0fk records per CPU-second); ", c, t / n / 1000, n / t * 1e6 }'
done
echo
