#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# UDP collectors at their defaults, as a new user runs them: nfcapd
# (`nfcapd -p PORT -w DIR`, no -B), nfacctd (no rcvbuf, no pipe size) and
# xf-collect, each with the kernel's default socket buffer (about 92
# datagrams), and xlatflowd's collector blocks with no rate or burst (the
# defaults pace them). The collectors run with a real-time priority (chrt -f
# 1): their buffers are the defaults, but the rest of a shared 2-CPU test
# machine (make -j2, VM tests; load average 10 and more) must not keep them
# off the CPU for more than the 6.5 ms a default buffer covers at the
# default pace, which even nice -10 did not prevent (bench/README.md,
# "Collector socket buffers"). They sleep in recv() between datagrams.
#  1. XF_BURST_FLOWS (20000; bench/run.sh runs 200000) one-packet UDP flows
#     end together (bench/flowgen, idle timeout 2 s): every collector
#     decodes every flow exactly (records, packets, octets), nfdump -I shows
#     no sequence failure, and the exporter counted none as not sent.
#     Unpaced (before the exporter paced), nfcapd got 9059-17373 of 20000,
#     nfacctd 15404, xf-collect 10046.
#  2. SIGTERM with 20000 flows cached, collectors paced at 20000 records/s:
#     the flows leave at the pace (the daemon takes at least the 1 s the
#     rate allows) and all arrive, flowEndReason 4, no sequence failure.
#  3. A second SIGTERM during that export: the rest goes at once and the
#     daemon exits at once, exit status 0.
# XF_BURST_ONLY=1 runs part 1 alone, XF_BURST_COLLECTORS names the collectors
# (default "nfcapd nfacctd xf-collect"; bench/run.sh runs 200000 flows to
# each alone).
XF_TEST=eb
source "$(dirname "$0")/lib.sh"
need_root
need_cmd nfcapd nfdump nfacctd python3 chrt
[ -x "$XLATFLOWD" ] || fail "$XLATFLOWD not built"
FLOWGEN=$abs_top_builddir/bench/flowgen
XFC=$abs_top_builddir/tests/tools/xf-collect
[ -x "$FLOWGEN" ] || fail "$FLOWGEN not built"
[ -x "$XFC" ] || fail "$XFC not built"
FLOWS=${XF_BURST_FLOWS:-20000}
COLLECTORS=${XF_BURST_COLLECTORS:-nfcapd nfacctd xf-collect}
has() { case " $COLLECTORS " in *" $1 "*) return 0 ;; esac; return 1; }

g=$(ns_add g)
o=$(ns_add o)
for ns in "$g" "$o"; do
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1
done
veth_pair "$g" vg "$o" vb
ip -n "$o" addr add 198.18.0.2/24 dev vb
# flowgen's frames (198.18.128.0/17 -> 198.19.0.0/16) end at vb, not forwarded
ip netns exec "$o" sysctl -qw net.ipv4.ip_forward=0
vb_mac=$(ip netns exec "$o" cat /sys/class/net/vb/address)
[ "$(ip netns exec "$o" sysctl -n net.core.rmem_default)" -le 212992 ] ||
	skip "net.core.rmem_default above the kernel's default (212992): not a default collector"

# start_collectors NAME: nfcapd, nfacctd and xf-collect ($COLLECTORS) at their
# defaults on o's loopback; ports in PN PA PX, output under $WORK/NAME.*
start_collectors() {
	local n=$1
	PN=$(free_port) PA=$(free_port) PX=$(free_port)
	NF_PID= PM_PID= XFC_PID=
	if has nfcapd; then
		mkdir -p "$WORK/$n.nf"
		ip netns exec "$o" chrt -f 1 nfcapd -p "$PN" -w "$WORK/$n.nf" \
			>"$WORK/$n-nfcapd.log" 2>&1 &
		NF_PID=$!
		XF_PIDS+=("$NF_PID")
	fi
	if has nfacctd; then
		cat >"$WORK/$n.pm.conf" <<EOF
daemonize: false
nfacctd_ip: 127.0.0.1
nfacctd_port: $PA
plugins: print
aggregate: src_host, dst_host, src_port, dst_port, proto
print_output: json
print_output_file: $WORK/$n.pm.json
print_output_file_append: true
print_refresh_time: 1
EOF
		ip netns exec "$o" chrt -f 1 nfacctd -f "$WORK/$n.pm.conf" \
			>"$WORK/$n-nfacctd.log" 2>&1 &
		PM_PID=$!
		XF_PIDS+=("$PM_PID")
	fi
	if has xf-collect; then
		ip netns exec "$o" chrt -f 1 "$XFC" --udp "$PX" --out "$WORK/$n.xfc.json" \
			2>"$WORK/$n-xfc.log" &
		XFC_PID=$!
		XF_PIDS+=("$XFC_PID")
	fi
	for _ in $(seq 100); do
		{ ! has nfcapd || grep -q "Startup" "$WORK/$n-nfcapd.log"; } &&
			{ ! has nfacctd || grep -q "JSON: setting object handlers" \
				"$WORK/$n-nfacctd.log"; } && break
		sleep 0.1
	done
	! has nfacctd || grep -q "JSON: setting object handlers" "$WORK/$n-nfacctd.log" ||
		fail "nfacctd did not start"
	sleep 0.5
}

# stop_collectors: each writes out what it has (nfacctd's core may ignore
# SIGTERM once its print plugin purged: then it is killed)
stop_collectors() {
	local plugins= p
	sleep 1.5 # nfacctd's print plugin writes every second
	[ -n "$PM_PID" ] && plugins=$(pgrep -P "$PM_PID" || true)
	for p in $NF_PID $XFC_PID $PM_PID; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for _ in $(seq 30); do
		[ -n "$PM_PID" ] && kill -0 "$PM_PID" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$plugins" ] && kill -KILL $plugins 2>/dev/null
	[ -n "$PM_PID" ] && kill -KILL "$PM_PID" 2>/dev/null
	for p in $NF_PID $XFC_PID $PM_PID; do
		{ wait "$p"; } 2>/dev/null || true
	done
}

# check NAME FLOWS: every collector decoded the FLOWS flowgen flows exactly, once each
check() {
	local n=$1 want=$2 seqf=0
	if has nfcapd; then
		nfdump -R "$WORK/$n.nf" -I >"$WORK/$n.nfinfo" 2>&1 ||
			fail "nfdump -I: $(cat "$WORK/$n.nfinfo")"
		nfdump -R "$WORK/$n.nf" -q -o csv 'dst net 198.19.0.0/16' >"$WORK/$n.nf.csv" 2>&1 ||
			fail "nfdump: $(cat "$WORK/$n.nf.csv")"
		seqf=$(awk '/^Sequence failures:/ { print $3 }' "$WORK/$n.nfinfo")
	fi
	python3 - "$n" "$want" "$COLLECTORS" "$WORK/$n.nf.csv" "$WORK/$n.pm.json" \
		"$WORK/$n.xfc.json" "$seqf" <<'PY'
import json, sys
name, want, collectors, nf_csv, pm_json, xfc_json, seqf = sys.argv[1:]
want = int(want)
collectors = collectors.split()
fails = []
def check(what, got, exp):
    print(f"{name}: {what}: {got}" + ("" if got == exp else f", want {exp}"))
    if got != exp:
        fails.append(what)
if "nfcapd" in collectors:
    # flows, packets, bytes (csv columns 3-6 addresses and ports, 11 packets, 12 bytes)
    rows = [l.split(",") for l in open(nf_csv) if l[:1].isdigit()]
    keys = {(r[3], r[4], r[5], r[6]) for r in rows}
    check("nfcapd flows", len(rows), want)
    check("nfcapd distinct flows", len(keys), want)
    check("nfcapd packets", sum(int(r[11]) for r in rows), want)
    check("nfcapd bytes", sum(int(r[12]) for r in rows), 100 * want)
    check("nfcapd sequence failures (nfdump -I)", int(seqf), 0)
if "nfacctd" in collectors:
    # one row per flow (aggregated on the 5-tuple)
    pm = [json.loads(l) for l in open(pm_json) if l.strip()]
    pm = [r for r in pm if r["ip_dst"].startswith("198.19.")]
    check("nfacctd flows", len({(r["ip_src"], r["ip_dst"], r["port_src"]) for r in pm}), want)
    check("nfacctd packets", sum(r["packets"] for r in pm), want)
    check("nfacctd bytes", sum(r["bytes"] for r in pm), 100 * want)
if "xf-collect" in collectors:
    # records, and the exporter's own count in its last options records
    recs = [json.loads(l) for l in open(xfc_json) if l.strip()]
    data = [r for r in recs if r.get("set") == "data"
            and r.get("destinationIPv4Address", "").startswith("198.19.")]
    check("xf-collect flows", len({(r["sourceIPv4Address"], r["destinationIPv4Address"],
                                    r["sourceTransportPort"]) for r in data}), want)
    check("xf-collect packets", sum(r["packetDeltaCount"] for r in data), want)
    opts = [r for r in recs if r.get("set") == "options" and "notSentFlowTotalCount" in r]
    check("exporter: records not sent", opts[-1]["notSentFlowTotalCount"] if opts else None, 0)
sys.exit(1 if fails else 0)
PY
}

conf() { # FILE RATE_BURST_EXTRA: the collectors, with RATE_BURST_EXTRA in each block
	local blocks=
	has nfcapd && blocks="$blocks{ url = \"udp://127.0.0.1:$PN\"; $2 },"
	has nfacctd && blocks="$blocks{ url = \"udp://127.0.0.1:$PA\"; $2 },"
	has xf-collect && blocks="$blocks{ url = \"udp://127.0.0.1:$PX\"; $2 },"
	printf 'collectors = ( %s );\n' "${blocks%,}" >"$1"
	chmod 600 "$1"
}

# udp_drops: datagrams o's UDP sockets dropped for a full receive buffer, and
# the machine's backlog drops (softnet_stat, all CPUs): where a loss happened
udp_drops() {
	printf 'RcvbufErrors %s, backlog drops %s\n' \
		"$(ip netns exec "$o" awk '/^Udp:/ { if (h) print $6; h = 1 }' /proc/net/snmp)" \
		"$(python3 -c 'print(sum(int(l.split()[1], 16) for l in open("/proc/net/softnet_stat")))')"
}

flowgen() { # FLOWS: one-packet flows, as fast as the generator goes
	ip netns exec "$g" "$FLOWGEN" -i vg -d "$vb_mac" -f "$1" -p 1 -s 100 -r 1000000
}

# --- 1. a burst ------------------------------------------------------------
start_collectors burst
conf "$WORK/burst.conf" ""
kmax=65536
while [ $kmax -lt $((FLOWS * 2)) ]; do kmax=$((kmax * 2)); done
start_xlatflowd "$o" --config "$WORK/burst.conf" --interface vb --idle-timeout 2 \
	--active-timeout 60 --drain-interval 100 --nat-hook off --kernel-max-flows $kmax
flowgen "$FLOWS"
# every flow idle-expires at once; at 200000 records/s they leave within FLOWS/200000 s
for i in $(seq 1 $((50 + FLOWS / 2000))); do
	if has xf-collect; then
		[ "$(grep -c '"set":"data"' "$WORK/burst.xfc.json" 2>/dev/null || true)" -ge \
			"$FLOWS" ] && break
	elif [ "$i" -ge $((15 + FLOWS / 10000)) ]; then
		break # twice the time the pace takes, after the idle timeout
	fi
	sleep 0.2
done
stop_xlatflowd
stop_collectors
echo "burst: o's UDP sockets: $(udp_drops)"
grep -q "paced queue full" "$WORK/xlatflowd.log" && fail "the paced queue overflowed"
check burst "$FLOWS"
echo "ok 1: $FLOWS flows ending together, every one at every collector"
[ -z "${XF_BURST_ONLY:-}" ] || exit 0

# --- 2. paced shutdown -----------------------------------------------------
start_collectors term
conf "$WORK/term.conf" "rate = 20000;"
start_xlatflowd "$o" --config "$WORK/term.conf" --interface vb --idle-timeout 60 \
	--active-timeout 120 --drain-interval 100 --nat-hook off
flowgen 20000
sleep 1 # drained: every flow is in the cache
t0=$(date +%s%N)
kill -TERM "$XLATFLOWD_PID"
wait_rc=0
wait "$XLATFLOWD_PID" || wait_rc=$?
t1=$(date +%s%N)
[ $wait_rc -eq 0 ] || fail "xlatflowd exited $wait_rc"
ms=$(((t1 - t0) / 1000000))
echo "SIGTERM with 20000 flows cached at 20000 records/s: exited after $ms ms"
# 20000 records and the options, a 400-record burst ahead: 0.98 s at the least
[ $ms -ge 950 ] || fail "the shutdown export took $ms ms: not paced"
[ $ms -lt 15000 ] || fail "the shutdown export took $ms ms"
stop_collectors
check term 20000
python3 - "$WORK/term.xfc.json" <<'PY' || fail "term: flowEndReason"
import json, sys
by = {}
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r.get("set") == "data":
        by[r["flowEndReason"]] = by.get(r["flowEndReason"], 0) + 1
print("term: records by flowEndReason:", by)
sys.exit(0 if by == {4: 20000} else 1)
PY
echo "ok 2: SIGTERM exports every cached flow at the pace"

# --- 3. a second SIGTERM -----------------------------------------------------
start_collectors term2
conf "$WORK/term2.conf" "rate = 2000;"
start_xlatflowd "$o" --config "$WORK/term2.conf" --interface vb --idle-timeout 60 \
	--active-timeout 120 --drain-interval 100 --nat-hook off
flowgen 20000
sleep 1
kill -TERM "$XLATFLOWD_PID"
sleep 1
t0=$(date +%s%N)
kill -TERM "$XLATFLOWD_PID"
wait_rc=0
wait "$XLATFLOWD_PID" || wait_rc=$?
t1=$(date +%s%N)
[ $wait_rc -eq 0 ] || fail "xlatflowd exited $wait_rc after a second SIGTERM"
ms=$(((t1 - t0) / 1000000))
echo "second SIGTERM: exited after $ms ms"
[ $ms -lt 3000 ] || fail "xlatflowd took $ms ms after a second SIGTERM"
grep -q "Terminated again: sending the rest at once" "$WORK/xlatflowd.log" ||
	fail "no log line for the second SIGTERM"
grep -q "sending the last [0-9]* cached flows and [0-9]* queued records at once" \
	"$WORK/xlatflowd.log" || fail "no log line for the unpaced rest"
stop_collectors
nfdump -R "$WORK/term2.nf" -I | grep -E "^(Flows|Sequence failures):" | tr '\n' ' '
echo "(a collector at its defaults loses what comes at once: its sequence numbers show it)"
echo "ok 3: a second SIGTERM sends the rest at once"
