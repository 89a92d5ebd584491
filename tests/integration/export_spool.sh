#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# The on-disk spool of a TCP collector (spool = true) end to end, through
# export.h (tests/tools/xf-send-records) to tests/tools/xf-collect:
# 1. No collector listens. Exporter 1 spools records 1..20000 and is
#    SIGKILLed while it waits; it is SIGKILLed again (exporter 2) in the
#    middle of spooling 100000 more (a write torn by the kill is cut when
#    the spool is opened). Exporter 3 spools 20000 more, then the collector
#    comes up: it decodes 1..20000, a prefix of exporter 2's records with no
#    gap, and all of exporter 3's, in order, each exactly once; the last
#    options record says the spool is empty and nothing else was lost.
# 2. The bound: 1 MiB of spool, 20000 records while the collector is down:
#    the collector decodes exactly the records that fit, and the options
#    record counts the rest (xlatSpoolFullRecordTotalCount and
#    notSentFlowTotalCount), so sent + lost = 20000.
set -eu

if ! command -v python3 >/dev/null 2>&1; then
	echo "SKIP: python3 not installed"
	exit 77
fi

send=./tests/tools/xf-send-records
collect=./tests/tools/xf-collect
tmp=$(mktemp -d /tmp/xf-export-spool.XXXXXX)
spid=
cpid=
cleanup() {
	[ -n "$cpid" ] && kill "$cpid" 2>/dev/null
	[ -n "$spid" ] && kill -KILL "$spid" 2>/dev/null
	exec 3>&- 2>/dev/null || true
	wait 2>/dev/null || true
	[ -n "${XF_KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="tcp://127.0.0.1:$port"

fail() {
	echo "FAIL: $*"
	tail -n 20 "$tmp"/*.err
	exit 1
}

# wait_lines FILE PATTERN N [SECONDS]: until FILE has N lines matching PATTERN
wait_lines() {
	for _ in $(seq $((${4:-20} * 10))); do
		[ "$(grep -c "$2" "$1" 2>/dev/null || true)" -ge "$3" ] && return 0
		sleep 0.1
	done
	fail "$1 has $(grep -c "$2" "$1" 2>/dev/null || echo 0) lines matching $2, want $3"
}

# start_sender NAME [OPTIONS]: an exporter reading commands from fd 3
start_sender() {
	name=$1
	shift
	rm -f "$tmp/cmd"
	mkfifo "$tmp/cmd"
	"$send" --collector "$url" "$@" <"$tmp/cmd" >"$tmp/$name.out" 2>"$tmp/$name.err" &
	spid=$!
	exec 3>"$tmp/cmd"
}

kill_sender() {
	kill -KILL "$spid"
	wait "$spid" 2>/dev/null || true
	spid=
	exec 3>&-
}

spool="$tmp/spool"
dir="$spool/tcp-127.0.0.1:$port"

# ---- 1. SIGKILL while the collector is down, twice; then replay ----------
start_sender s1 --spool "$spool"
echo "bulk 20000 1" >&3
echo "flush" >&3
echo "sleep 60000" >&3
# spooled: 20000 records of 192 bytes (framing and layout) after a 16-byte header
for _ in $(seq 100); do
	[ "$(cat "$dir"/*.seg 2>/dev/null | wc -c)" -ge $((16 + 20000 * 192)) ] && break
	sleep 0.1
done
kill_sender

start_sender s2 --spool "$spool"
echo "bulk 100000 1000001" >&3
echo "flush" >&3
sleep 0.02
kill_sender
torn=$(cat "$dir"/*.seg | wc -c)

start_sender s3 --spool "$spool"
echo "bulk 20000 2000001" >&3
echo "flush" >&3
echo "sleep 200" >&3
"$collect" --tcp "$port" --out "$tmp/c1.json" 2>"$tmp/c1.err" &
cpid=$!
wait_lines "$tmp/c1.json" '"set":"data"' 40000 30
# everything sent: the options records now say so
echo "sleep 1000" >&3
echo "options" >&3
echo "sleep 500" >&3
kill -0 "$spid" || fail "exporter 3 died"
wait_lines "$tmp/c1.json" '"xlatSpoolPendingRecordCount":[0-9]' 2
sleep 0.5
kill "$cpid"
wait "$cpid" 2>/dev/null || true
cpid=
kill_sender

python3 - "$tmp/c1.json" "$tmp/s3.err" <<'EOF' || fail "replay after SIGKILL"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
data = [r["packetDeltaCount"] for r in recs if r.get("set") == "data"]
opts = [r for r in recs if "xlatSpoolPendingRecordCount" in r]
a = [p for p in data if p <= 20000]
b = [p for p in data if 1000001 <= p <= 1100000]
c = [p for p in data if 2000001 <= p]
bad = 0
def check(what, got, want):
    global bad
    ok = got == want
    bad += not ok
    show = lambda v: v if not isinstance(v, list) else "%d records" % len(v)
    print(("ok" if ok else "FAIL") + " %s: %s" % (what, show(got) if ok else "%s, want %s" % (show(got), show(want))))
check("exporter 1: records 1..20000 in order", a, list(range(1, 20001)))
check("exporter 2: a prefix with no gap", b, list(range(1000001, 1000001 + len(b))))
check("exporter 3: records 2000001..2020000 in order", c, list(range(2000001, 2020001)))
check("nothing else, nothing twice", len(data), len(a) + len(b) + len(c))
check("in spool order", data, a + b + c)
last = opts[-1]
check("spool empty at the end", last["xlatSpoolPendingRecordCount"], 0)
check("nothing full", last["xlatSpoolFullRecordTotalCount"], 0)
check("no write error", last["xlatSpoolWriteErrorRecordTotalCount"], 0)
# exporter 3 opened the spool after exporter 2's kill: a torn tail counts 1
torn = "torn record" in open(sys.argv[2]).read()
check("damaged = torn tails cut at open", last["xlatSpoolDamagedRecordTotalCount"], int(torn))
# a torn record's kind is not known: it is counted in the spool's damaged
# counter only (export.c), and nothing was refused
check("notSentFlowTotalCount", last["notSentFlowTotalCount"], 0)
print("exporter 2 spooled %d of 100000 records before its SIGKILL%s" %
      (len(b), " (its last write torn, cut at open)" if torn else ""))
sys.exit(1 if bad else 0)
EOF
# sent records leave the disk: one segment (the one being written) is left
[ "$(ls "$dir" | grep -c '\.seg$')" -eq 1 ] || fail "segments left: $(ls "$dir")"
echo "ok spool directory holds one segment after the replay (was $torn bytes)"

# ---- 2. the bound ---------------------------------------------------------
rm -rf "$spool"
start_sender s4 --spool "$spool" --spool-max 1048576
echo "bulk 20000 1" >&3
echo "flush" >&3
echo "stats" >&3
echo "sleep 100" >&3
wait_lines "$tmp/s4.out" records_dropped 1
size=$(cat "$dir"/*.seg | wc -c)
[ "$size" -le 1048576 ] || fail "spool holds $size bytes, bound 1048576"
"$collect" --tcp "$port" --out "$tmp/c2.json" 2>"$tmp/c2.err" &
cpid=$!
wait_lines "$tmp/c2.json" '"xlatSpoolPendingRecordCount":[0-9]' 1 30
echo "sleep 1500" >&3
echo "options" >&3
echo "sleep 300" >&3
wait_lines "$tmp/c2.json" '"xlatSpoolPendingRecordCount":[0-9]' 2
sleep 0.5
kill "$cpid"
wait "$cpid" 2>/dev/null || true
cpid=
kill_sender
python3 - "$tmp/c2.json" "$size" <<'EOF' || fail "bound"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
data = [r["packetDeltaCount"] for r in recs if r.get("set") == "data"]
opts = [r for r in recs if "xlatSpoolPendingRecordCount" in r]
first, last = opts[0], opts[-1]
n = len(data)
bad = 0
def check(what, got, want):
    global bad
    ok = got == want
    bad += not ok
    show = lambda v: v if not isinstance(v, list) else "%d records" % len(v)
    print(("ok" if ok else "FAIL") + " %s: %s" % (what, show(got) if ok else "%s, want %s" % (show(got), show(want))))
check("the records that fit, in order", data, list(range(1, n + 1)))
check("on connect: all of them pending", first["xlatSpoolPendingRecordCount"], n)
check("on connect: the spool's bytes on disk", first["xlatSpoolOctetCount"], int(sys.argv[2]))
check("the rest counted as lost: spool full", last["xlatSpoolFullRecordTotalCount"], 20000 - n)
check("and not sent", last["notSentFlowTotalCount"], 20000 - n)
check("spool empty at the end", last["xlatSpoolPendingRecordCount"], 0)
print("1 MiB held %d records (%s bytes on disk)" % (n, sys.argv[2]))
sys.exit(1 if bad or n < 5000 else 0)
EOF
echo "PASS"
