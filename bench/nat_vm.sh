#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# NAT hook cost per call (bench/run.sh part 2). A scenario for
# tests/vm/run-vm.sh: runs as root inside the QEMU guest (a Debian kernel,
# which allows tracing programs), writes $XF_OUT/nat.md.
#
#   run-vm.sh -w WORK bench/nat_vm.sh [CONNECTIONS [ROUNDS]]   (default 220, in 11 rounds)
#
# With kernel.bpf_stats_enabled=1, three programs sit on nf_nat_manip_pkt at
# once, so they see the same calls: the NAT hook's fentry program
# (xf-natwatch --mode fentry), its kprobe program (xf-natwatch --mode kprobe)
# and bench/ref_fentry.bpf.o, an fentry program that returns at once. The
# traffic from cli crosses an nftables DNAT + masquerade on the shared NAT
# topology (tests/lib/nat-topology.sh, cases clusterip and masquerade_all):
# 198.19.0.12 tcp 80 is DNATed to srv1 198.18.2.2:8080, udp 53 to
# 198.18.2.2:5353 (a sink here: no replies), and the node masquerades both
# to 198.18.2.1.
#
# Three kinds of rounds, each measured on its own:
#   tcp          CONNECTIONS/ROUNDS TCP connections with one exchange each: the
#                mix of first packets, handshake and established packets of
#                short connections (the figure earlier runs reported);
#   first        one UDP datagram from each of 200 new source ports: every call
#                (DNAT's, then masquerade's) is a connection's first packet, so
#                the translation is built and sent;
#   established  400 datagrams of one UDP flow that already passed 3 (reported,
#                confirmed): every call is the "nothing new" path.
# Reported: run_time_ns / run_cnt of each program (bpf_prog_info) per round
# kind, and the ratios. TCG emulation makes absolute times meaningless; the
# ratios hold.
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
# the UDP sink: nat-peer.py would answer, and the answers are no first packets
ip netns exec "$(topo_ns srv1)" python3 -c '
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("198.18.2.2", 5353))
while True:
    u.recv(2048)
' &
sink=$!

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
tcp_round() {
	topo_exec cli python3 -c '
import socket, sys
n = int(sys.argv[1]); ok = 0
for i in range(n):
    s = socket.create_connection(("198.19.0.12", 80), timeout=10)
    s.sendall(b"x\n")
    if s.recv(64).startswith(b"ok "):
        ok += 1
    s.close()
print(ok)' "$1"
}

# one datagram from each of $1 new source ports (base $2): first packets only
first_round() {
	topo_exec cli python3 -c '
import socket, sys
n, base = int(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("198.18.1.2", base + i))
    s.sendto(b"x", ("198.19.0.12", 53))
    s.close()' "$1" "$2"
}

# $1 datagrams of the flow from source port $2 (started by a warm-up call)
established_round() {
	topo_exec cli python3 -c '
import socket, sys, time
n, port = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.1.2", port))
for i in range(n):
    s.sendto(b"x", ("198.19.0.12", 53))
    if i % 50 == 49:
        time.sleep(0.01)' "$1" "$2"
}

# Rounds: emulated time is noisy in real-time TCG (the host's other work slows the guest
# unevenly), so each round gets its own ratios and the table shows per-round medians.
rounds=${2:-11}
per=$((conns / rounds))
ok=0
t0=$(date +%s.%N)
for r in $(seq $rounds); do
	for kind in tcp first established; do
		if [ $kind = established ]; then
			# the flow's first packets (sent, then confirmed) are not measured
			established_round 3 $((30000 + r)) >/dev/null 2>&1
			sleep 0.2
		fi
		for p in $progs; do stats $p >"$OUT/before.$kind.$r.$p"; done
		case $kind in
		tcp)
			tcp_round "$per" >"$OUT/client.out" 2>&1
			ok=$((ok + $(cat "$OUT/client.out" 2>/dev/null || echo 0)))
			;;
		first) first_round 200 $((20000 + r * 200)) ;;
		established) established_round 400 $((30000 + r)) ;;
		esac
		for p in $progs; do stats $p >"$OUT/after.$kind.$r.$p"; done
	done
done
t1=$(date +%s.%N)
kill $p1 $p2 $p3 $sink 2>/dev/null
wait $p1 $p2 $p3 2>/dev/null
topo_teardown

# one line per round: calls and ns per call of each program, in $progs order
for kind in tcp first established; do
	for r in $(seq $rounds); do
		for p in $progs; do
			read -r a c <"$OUT/before.$kind.$r.$p"
			read -r b d <"$OUT/after.$kind.$r.$p"
			awk -v a="$a" -v b="$b" -v c="$c" -v d="$d" \
				'BEGIN { n = d - c; printf "%d %.1f ", n, (n ? (b - a) / n : 0) }'
		done
		echo
	done >"$OUT/rounds.$kind.txt"
done

{
	echo "$rounds rounds of each kind, $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s of guest time, kernel $(uname -r): tcp = $per TCP"
	echo "connections through nftables DNAT + masquerade ($ok of $((per * rounds)) answered), first = 200 new UDP"
	echo "flows of one datagram through the same (every call a first packet), established = 400 datagrams of"
	echo "one UDP flow already reported (every call the \"nothing new\" path). All three programs were"
	echo "attached at once and saw the same calls. run_time_ns covers the program body only: the"
	echo "fentry trampoline and the kprobe's breakpoint/ftrace entry are outside it. Emulated ns are"
	echo "not real costs; the ratios (median of per-round ratios) are the result."
	echo
	echo "| round | program | calls | ns per call (emulated, median round) | instructions (ns / 16) | vs ref_fentry (empty fentry) |"
	echo "|---|---|---:|---:|---:|---:|"
} >>"$md"
table() {
	awk -v kind="$1" '
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
	if (!n) { printf "| %s | (no round counted: %d without calls) | | | | |\n", kind, bad; exit }
	printf "| %s | xf_nat_fentry | %d | %.0f | %.0f | **%.2f** |\n", kind, calls_f, median(nf, n), median(nf, n) / 16, median(rf, n)
	printf "| %s | xf_nat_kprobe | %d | %.0f | %.0f | **%.2f** |\n", kind, calls_k, median(nk, n), median(nk, n) / 16, median(rk, n)
	printf "| %s | ref_fentry | %d | %.0f | %.0f | 1.00 |\n", kind, calls_r, median(nr, n), median(nr, n) / 16
	printf "%s %.2f %.2f %.2f\n", kind, median(rf, n), median(rk, n), median(kf, n) > "/dev/stderr"
}' "$OUT/rounds.$1.txt"
}
for kind in tcp first established; do table $kind; done >>"$md" 2>"$OUT/ratios.txt"
awk '
{ f[$1] = $2; k[$1] = $3; kf[$1] = $4 }
END {
	printf "\nUnder -icount, ns / 16 is the number of emulated instructions; the empty fentry'"'"'s are its\n"
	printf "stats bookkeeping. Established packets: fentry **%.2f**x the empty fentry, kprobe / fentry\n", f["established"]
	printf "**%.2f**; first packets: fentry %.2fx, kprobe / fentry %.2f; the TCP mix: fentry %.2fx,\n", kf["established"], f["first"], kf["first"], f["tcp"]
	printf "kprobe / fentry %.2f. The kprobe program reads the connection with one\n", kf["tcp"]
	printf "bpf_probe_read_kernel, the fentry program reads it directly.\n"
	printf "\n<!-- summary: | NAT hook per call, established packet: fentry / empty fentry (VM) | %.2f | <= 3 | %s | -->\n", f["established"], f["established"] <= 3 ? "met" : "not met"
	printf "<!-- summary: | NAT hook per call, established packet: kprobe / fentry (VM) | %.2f | <= 1.5 | %s | -->\n", kf["established"], kf["established"] <= 1.5 ? "met" : "not met"
	printf "<!-- summary: | NAT hook per call, first packet: fentry / empty fentry (VM) | %.2f | - | - | -->\n", f["first"]
	printf "<!-- summary: | NAT hook per call, TCP connections: kprobe / fentry (VM) | %.2f | - | - | -->\n", kf["tcp"]
}' "$OUT/ratios.txt" >>"$md"
[ "$ok" = $((per * rounds)) ] || { note "nat_vm: only $ok of $((per * rounds)) connections answered"; exit 1; }
exit 0
