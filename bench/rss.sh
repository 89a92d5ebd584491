#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# xlatflowd holding FLOWS flows: its resident set (bench/run.sh part 4).
#
#   gen  vg ----veth---- vb  obs      (bench/netlib.sh)
#
# bench/flowgen sends FLOWS distinct UDP flows of one packet each at RATE
# packets a second into vb, which xlatflowd watches with an idle timeout
# longer than the traffic, so that all of them are in its flow cache at once.
# After the last drain, /proc/PID/status gives VmRSS split into RssAnon (the
# daemon's own memory: the flow cache) and RssFile + RssShmem (mapped pages:
# the flow slots it reads in place are kernel memory shared with the TC
# programs, counted in the kernel maps' memlock as well). The same figures
# right after start-up are the baseline. Then every flow idle-expires to
# nfcapd, which must hold exactly FLOWS records, FLOWS packets and
# FLOWS x IP_LEN bytes: the cache really held them all.
#
#   rss.sh [-f FLOWS] [-r RATE]
# Prints Markdown. Needs root; exit 77 when a tool is missing.
set -uo pipefail

flows=1000000 rate=100000 ip_len=100
while getopts f:r: opt; do
	case $opt in
	f) flows=$OPTARG ;;
	r) rate=$OPTARG ;;
	*) echo "usage: $0 [-f FLOWS] [-r RATE]" >&2; exit 2 ;;
	esac
done
src=${abs_top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
build=${abs_top_builddir:-$(pwd)}
XLATFLOWD=${XLATFLOWD:-$build/src/xlatflowd}
FLOWGEN=$build/bench/flowgen
# shellcheck source=bench/netlib.sh
source "$src/bench/netlib.sh"

bench_need nfcapd nfdump python3
bench_file_needed "$XLATFLOWD" "make"
bench_file_needed "$FLOWGEN" "make bench-programs"

work=$(mktemp -d "${TMPDIR:-/tmp}/xlatflow-rss.XXXXXX")
gen=xfrg$$ obs=xfro$$
pids=()
trap bench_stop EXIT
bench_pair $gen $obs || exit 1

port=47393
mkdir -p "$work/nf"
ip netns exec $obs nfcapd -b 127.0.0.1 -p $port -B 16777216 -w "$work/nf" -t 3600 \
	>"$work/nfcapd.log" 2>&1 &
pid_n=$!
pids+=($pid_n)

secs=$(( (flows + rate - 1) / rate ))
idle=$((secs + 10))
# one drain interval takes at most rate new flows; twice that in slots
kmax=1024
while [ $kmax -lt $((rate * 2)) ]; do kmax=$((kmax * 2)); done
ip netns exec $obs "$XLATFLOWD" -f --interface vb --collector "udp://127.0.0.1:$port" \
	--nat-hook off --idle-timeout $idle --active-timeout 3600 \
	--max-flows $((flows + flows / 10)) --kernel-max-flows $kmax >"$work/xlatflowd.log" 2>&1 &
pid_x=$!
pids+=($pid_x)
for _ in $(seq 100); do
	grep -q "NAT enrichment:" "$work/xlatflowd.log" 2>/dev/null && break
	sleep 0.1
done
kill -0 $pid_x 2>/dev/null || { echo "xlatflowd exited: $(tail -n 5 "$work/xlatflowd.log")"; exit 1; }
sleep 1

# rss PID: "VmRSS RssAnon RssFile RssShmem" in KiB
rss() {
	awk '/^(VmRSS|RssAnon|RssFile|RssShmem):/ { v[$1] = $2 }
	     END { print v["VmRSS:"], v["RssAnon:"], v["RssFile:"], v["RssShmem:"] }' \
		/proc/"$1"/status
}
read -r r0 a0 f0 s0 < <(rss $pid_x)
ip netns exec $gen "$FLOWGEN" -i vg -d "$vb_mac" -f "$flows" -p 1 -s $ip_len -r "$rate" \
	>"$work/flowgen.out" || { echo "flowgen failed"; exit 1; }
sleep 3 # two drain intervals: every flow is in the cache
read -r r1 a1 f1 s1 < <(rss $pid_x)
x_cpu=$(cpu_ns $pid_x)

# every flow idle-expires (idle after its packet, within a few drain intervals)
sleep $((idle + 4))
kill -TERM $pid_x
wait $pid_x 2>/dev/null
sleep 0.5
kill -TERM $pid_n
wait $pid_n 2>/dev/null
pids=()
read -r nf np nb < <(nfdump -R "$work/nf" -q -o csv 2>/dev/null | python3 -c '
import sys
f = p = b = 0
for line in sys.stdin:
    x = line.strip().split(",")
    if len(x) < 13 or not x[0][:1].isdigit():
        continue
    f += 1; p += int(x[11]); b += int(x[12])
print(f, p, b)')
sent=$(sed -n 's/.*packets=\([0-9]*\).*/\1/p' "$work/flowgen.out")
exact=no
[ "$nf" = "$flows" ] && [ "$np" = "$sent" ] && [ "$nb" = $((sent * ip_len)) ] && exact=yes

kib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
per() { awk -v a="$1" -v b="$2" -v n="$flows" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }'; }
cat <<EOT
$flows flows of one packet (IPv4 UDP, IP length $ip_len) sent at $rate/s from one namespace into
a veth xlatflowd watches (idle timeout ${idle} s, max_flows $((flows + flows / 10)), kernel_max_flows
$kmax). Resident set from /proc/PID/status after start-up and once every flow is in the cache.

| | after start-up | holding $flows flows | growth per flow |
|---|---:|---:|---:|
| VmRSS | $(kib "$r0") | $(kib "$r1") | $(per "$r0" "$r1") bytes |
| RssAnon (the daemon's own memory: the flow cache) | $(kib "$a0") | $(kib "$a1") | $(per "$a0" "$a1") bytes |
| RssFile + RssShmem (mapped: shared libraries; the flow slots and ring buffer, kernel memory shared with the programs) | $(kib $((f0 + s0))) | $(kib $((f1 + s1))) | - |

Then every flow idle-expired to nfcapd: $nf records, $np packets, $nb bytes (sent: $flows
flows, $sent packets, $((sent * ip_len)) bytes): exact: **$exact**. xlatflowd CPU until then:
$(awk -v c="$x_cpu" 'BEGIN { printf "%.2f", c / 1e9 }') s.

<!-- summary: | xlatflowd resident set holding $flows flows (RssAnon growth per flow) | $(kib "$r1") ($(per "$a0" "$a1") B) | - | exact at nfcapd: $exact | -->
EOT
[ "$exact" = yes ]
