#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# NAT hook cost per call (bench/run.sh part 2). A scenario for
# tests/vm/run-vm.sh: runs as root inside the QEMU guest (Debian 6.1 kernel,
# which allows tracing programs), writes $XF_OUT/nat.md.
#
#   run-vm.sh -w WORK bench/nat_vm.sh [CONNECTIONS]   (default 220, in 11 rounds)
#
# With kernel.bpf_stats_enabled=1, three programs sit on nf_nat_manip_pkt at
# once, so they see the same calls: the NAT hook's fentry program
# (xf-natwatch --mode fentry), its kprobe program (xf-natwatch --mode kprobe)
# and bench/ref_fentry.bpf.o, an fentry program that returns at once. A
# loop of TCP connections from cli crosses an nftables DNAT + masquerade on
# the shared NAT topology (tests/lib/nat-topology.sh, cases clusterip and
# masquerade_all): 198.19.0.12:80 is DNATed to srv1 198.18.2.2:8080, and the
# node masquerades it to 198.18.2.1.
#
# Reported: run_time_ns / run_cnt of each program (bpf_prog_info) and the
# ratios. TCG emulation makes absolute times meaningless; the ratios hold.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u

conns=${1:-220}
B=$XF_BUILDDIR
S=$XF_SRCDIR
OUT=${XF_OUT:-/tmp}
natwatch=$B/tests/tools/xf-natwatch
attach=$B/bench/bpf_attach
ref=$B/bench/ref_fentry.bpf.o
md=$OUT/nat.md

note() { echo "$*" >>"$md"; }
: >"$md"
for f in "$natwatch" "$attach" "$ref"; do
	[ -e "$f" ] || { note "nat_vm: $f not built (make bench-programs)"; exit 99; }
done
. "$S/tests/lib/nat-topology.sh"
{
	topo_modules clusterip masquerade_all && topo_setup "" "$S" "$OUT" &&
		topo_nat clusterip masquerade_all && topo_serve srv1 tcp,0.0.0.0,8080
} 2>"$OUT/topology.log" || { note "nat_vm: topology failed: $(cat "$OUT/topology.log")"; exit 99; }

sysctl -qw kernel.bpf_stats_enabled=1
# Guest time under -icount runs far ahead of real time (idle is skipped): no short timeouts.
"$natwatch" --mode fentry --timeout 1000000 >/dev/null 2>"$OUT/natwatch-fentry.log" &
p1=$!
"$natwatch" --mode kprobe --timeout 1000000 >/dev/null 2>"$OUT/natwatch-kprobe.log" &
p2=$!
"$attach" "$ref" 2>"$OUT/ref.log" &
p3=$!
i=0
until grep -q "mode fentry" "$OUT/natwatch-fentry.log" && grep -q "mode kprobe" "$OUT/natwatch-kprobe.log" &&
	grep -q attached "$OUT/ref.log"; do
	i=$((i + 1))
	if [ $i -gt 600 ]; then
		note "nat_vm: hooks did not attach: $(cat "$OUT"/natwatch-*.log "$OUT/ref.log" | tr '\n' ' ')"
		kill $p1 $p2 $p3
		topo_teardown
		exit 1
	fi
	sleep 0.1
done

# stats NAME: "run_time_ns run_cnt" of the loaded program called NAME
stats() {
	bpftool -j prog show name "$1" 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
d = d if isinstance(d, list) else [d]
print(sum(p.get("run_time_ns", 0) for p in d), sum(p.get("run_cnt", 0) for p in d))'
}
progs="xf_nat_fentry xf_nat_kprobe ref_fentry"
# Rounds: emulated time is noisy (the host's other work slows the guest unevenly), so each
# round gets its own ratios and the table shows per-round medians.
rounds=11
per=$((conns / rounds))
ok=0
t0=$(date +%s.%N)
for r in $(seq $rounds); do
	for p in $progs; do stats $p >"$OUT/before.$r.$p"; done
	# nat-peer.py answers each line with "ok <peer>"; it closes after the client
	topo_exec cli python3 -c '
import socket, sys
n = int(sys.argv[1]); ok = 0
for i in range(n):
    s = socket.create_connection(("198.19.0.12", 80), timeout=10)
    s.sendall(b"x\n")
    if s.recv(64).startswith(b"ok "):
        ok += 1
    s.close()
print(ok)' "$per" >"$OUT/client.out" 2>&1
	ok=$((ok + $(cat "$OUT/client.out" 2>/dev/null || echo 0)))
	for p in $progs; do stats $p >"$OUT/after.$r.$p"; done
done
t1=$(date +%s.%N)
kill $p1 $p2 $p3 2>/dev/null
wait $p1 $p2 $p3 2>/dev/null
topo_teardown

# one line per round: calls and ns per call of each program, in $progs order
for r in $(seq $rounds); do
	for p in $progs; do
		read -r a c <"$OUT/before.$r.$p"
		read -r b d <"$OUT/after.$r.$p"
		awk -v a="$a" -v b="$b" -v c="$c" -v d="$d" \
			'BEGIN { n = d - c; printf "%d %.1f ", n, (n ? (b - a) / n : 0) }'
	done
	echo
done >"$OUT/rounds.txt"

{
	echo "$((per * rounds)) TCP connections ($ok answered) through nftables DNAT + masquerade in"
	echo "$rounds rounds, $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s of guest time, kernel $(uname -r). All three programs were"
	echo "attached at once and saw the same calls. run_time_ns covers the program body only: the"
	echo "fentry trampoline and the kprobe's breakpoint/ftrace entry are outside it. Emulated ns are"
	echo "not real costs; the ratios (median of per-round ratios) are the result."
	echo
} >>"$md"
awk -v rounds=$rounds '
function median(a, n,   i, j, t) {
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
# a round in which a program saw no call (it was gone) does not count
$1 == 0 || $3 == 0 || $5 == 0 { bad++; next }
{ calls_f += $1; calls_k += $3; calls_r += $5; i = ++good
  nf[i] = $2; nk[i] = $4; nr[i] = $6
  rf[i] = $2 / $6; rk[i] = $4 / $6; kf[i] = $4 / $2 }
END {
	n = good
	if (bad)
		printf "%d of %d rounds left out: a program saw no call in them.\n\n", bad, bad + good
	printf "| program | calls | ns per call (emulated, median round) | vs ref_fentry (empty fentry) |\n|---|---:|---:|---:|\n"
	printf "| xf_nat_fentry | %d | %.0f | **%.2f** |\n", calls_f, median(nf, n), median(rf, n)
	printf "| xf_nat_kprobe | %d | %.0f | **%.2f** |\n", calls_k, median(nk, n), median(rk, n)
	printf "| ref_fentry | %d | %.0f | 1.00 |\n", calls_r, median(nr, n)
	m = median(kf, n)
	printf "\nUnder -icount, ns / 16 is the number of emulated instructions: about %.0f for the fentry\n", median(nf, n) / 16
	printf "program, %.0f for the kprobe program, %.0f for the empty fentry (its stats bookkeeping).\n", median(nk, n) / 16, median(nr, n) / 16
	printf "\nkprobe / fentry: **%.2f** (median of per-round ratios; the kprobe program reads the connection\n", m
	printf "with bpf_probe_read_kernel, the fentry program reads it directly).\n"
	printf "\n<!-- summary: | NAT hook per call, kprobe / fentry (VM, TCG) | %.2f | - | - | -->\n", m
}' "$OUT/rounds.txt" >>"$md"
[ "$ok" = $((per * rounds)) ] || { note "nat_vm: only $ok of $((per * rounds)) connections answered"; exit 1; }
exit 0
