#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The collector tier under load, on this machine: what a collector costs
# per record. Fed with xlatflowd's IPv4 NAT template (258, 114-byte records,
# 12 a datagram) at RATE records/s, each record a distinct flow key with one
# packet, from a Python sender in a network namespace of the collector's
# own (it competes for the CPUs):
#
# 1. nfcapd (`-B 4194304`, plain and `-y` LZ4 files): records nfdump counts
#    (`nfdump -I`), nfcapd's CPU per record (a cgroup), file bytes per record.
# 2. nfacctd with templates/pmacct-postgresql/nfacctd.conf (pgsql plugin,
#    COPY, one-minute bins) into a PostgreSQL cluster of its own (initdb in
#    a temporary directory, Unix socket, fsync on): the records that reached
#    the table (the sum of its packets) and the rows they made, the CPU per
#    record of nfacctd (core, plugin and its writer processes: one cgroup)
#    and of PostgreSQL (postmaster and backends: another), UDP receive
#    buffer drops and nfacctd's "Missing data" warnings (its core -> plugin
#    queue overflowing). Three configurations: the recipe as shipped; with
#    plugin_buffer_size at 100 records; and that without the source ports in
#    the aggregate (a row per client, Service, backend and minute instead of
#    per connection: docs/scaling.md). Then the table's bytes per row.
#
# Prints Markdown, never fails on numbers. Not run by bench/run.sh: run it
# by hand, as root, from the build tree (docs/scaling.md cites it):
#
#   bash ../bench/collector_ingest.sh [-s SECONDS] [-r "RATE..."]
set -uo pipefail

secs=5 rates="10000 20000 40000"
while getopts s:r: opt; do
	case $opt in
	s) secs=$OPTARG ;;
	r) rates=$OPTARG ;;
	*) echo "usage: $0 [-s SECONDS] [-r RATES]" >&2; exit 2 ;;
	esac
done
src=${abs_top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
recipe=$src/templates/pmacct-postgresql
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
for need in nfcapd nfdump nfacctd psql runuser python3 nstat; do
	command -v $need >/dev/null || { echo "collector_ingest: $need not installed" >&2; exit 1; }
done
[ -x "$pgbin/initdb" ] || { echo "collector_ingest: no PostgreSQL server (postgresql)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "collector_ingest: run as root" >&2; exit 1; }

# CPU of a process tree, exited children included: a cgroup each
if [ -d /sys/fs/cgroup/cpuacct ]; then
	cgroot=/sys/fs/cgroup/cpuacct
	cgusage() { cat "$1/cpuacct.usage"; } # ns
elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then
	cgroot=/sys/fs/cgroup
	cgusage() { awk '/^usage_usec/ { print $2 * 1000 }' "$1/cpu.stat"; }
else
	echo "collector_ingest: no cgroup cpu accounting found" >&2
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/xlatflow-collingest.XXXXXX")
ns=xfpgi$$
cg_nf=$cgroot/xfpgi$$-nfacctd
cg_pg=$cgroot/xfpgi$$-postgres
nfpid=
pg=$work/pg
stop_nfacctd() {
	[ -n "$nfpid" ] || return 0
	local plugins
	plugins=$(pgrep -P "$nfpid")
	kill -TERM "$nfpid" 2>/dev/null
	sleep 1
	[ -n "$plugins" ] && kill -KILL $plugins 2>/dev/null
	kill -KILL "$nfpid" 2>/dev/null
	wait "$nfpid" 2>/dev/null
	nfpid=
}
cleanup() {
	stop_nfacctd
	[ -f "$pg/data/postmaster.pid" ] &&
		runuser -u postgres -- "$pgbin/pg_ctl" -D "$pg/data" -m immediate -w stop >/dev/null 2>&1
	ip netns del $ns 2>/dev/null
	local cg
	for cg in "$cg_nf" "$cg_pg"; do
		[ -d "$cg" ] || continue
		while read -r p; do echo "$p" >"$cgroot/cgroup.procs"; done <"$cg/cgroup.procs" 2>/dev/null
		rmdir "$cg" 2>/dev/null
	done
	[ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
mkdir "$cg_nf" "$cg_pg" || exit 1
ip netns add $ns || exit 1
ip -n $ns link set lo up

# the database: as the test makes it, but with fsync on (the default)
chmod 0711 "$work"
mkdir "$pg" && touch "$work/postgres.log" && chown postgres: "$pg" "$work/postgres.log"
pw=$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
(umask 077 && echo "$pw" >"$pg/pw") && chown postgres: "$pg/pw"
runuser -u postgres -- "$pgbin/initdb" -D "$pg/data" -U postgres --pwfile="$pg/pw" \
	--auth-local=scram-sha-256 -E UTF8 --locale=C --no-sync >"$work/initdb.log" 2>&1 ||
	{ cat "$work/initdb.log"; exit 1; }
# the postmaster forks its backends: they stay in its cgroup
sh -c "echo \$\$ >'$cg_pg/cgroup.procs' && exec runuser -u postgres -- '$pgbin/pg_ctl' \
	-D '$pg/data' -l '$work/postgres.log' -w -o \"-c listen_addresses='' \
	-c unix_socket_directories='$pg'\" start" >/dev/null || { tail "$work/postgres.log"; exit 1; }
export PGHOST=$pg PGPASSWORD=$pw
psql -X -q -v ON_ERROR_STOP=1 -U postgres -d postgres -c "CREATE DATABASE pmacct" &&
	psql -X -q -v ON_ERROR_STOP=1 -U postgres -d pmacct -f "$recipe/schema.sql" || exit 1
sq() { psql -X -q -A -t -U postgres -d pmacct -c "$1"; }

# IPFIX sender: template 258 as xlatflowd sends it, RATE records/s, distinct keys
cat >"$work/send.py" <<'PY'
import socket, struct, sys, time
port, rate, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
PEN = 32473
# (id, length, enterprise) of template 258 in wire order (src/ipfix_template.c)
F = [(152, 8, 0), (153, 8, 0), (1, 8, 0), (2, 8, 0), (8, 4, 0), (12, 4, 0), (7, 2, 0),
     (11, 2, 0), (4, 1, 0), (6, 2, 0), (5, 1, 0), (32, 2, 0), (10, 4, 0), (14, 4, 0), (61, 1, 0),
     (56, 6, 0), (80, 6, 0), (58, 2, 0), (136, 1, 0), (225, 4, 0), (226, 4, 0), (227, 2, 0),
     (228, 2, 0), (1, 2, 1), (2, 1, 1), (3, 1, 1), (10, 4, 1), (11, 4, 1), (4, 4, 1), (5, 4, 1),
     (14, 2, 1), (15, 2, 1), (8, 2, 1), (9, 2, 1)]
assert sum(f[1] for f in F) == 114
tmpl = struct.pack("!HH", 258, len(F)) + b"".join(
    struct.pack("!HH", i | (0x8000 if e else 0), n) + (struct.pack("!I", PEN) if e else b"")
    for i, n, e in F)
seq = 0
def message(sets, records):
    global seq
    m = struct.pack("!HHIII", 10, 16 + len(sets), int(time.time()), seq, 1) + sets
    seq += records
    return m
def record(n):
    now = int(time.time() * 1000)
    src = 0xC6120001 | (n >> 16 & 0xff) << 8     # 198.18.X.1
    dst = 0xC6130000 | (n & 0xff)                # 198.19.0.Y (the Service)
    sport = 1024 + (n & 0xffff) % 60000
    backend = 0xC6120202                         # 198.18.2.2
    return struct.pack("!QQQQIIHHBHBHIIB6s6sHBIIHHHBBIIIIHHHH", now, now, 100, 1, src, dst,
                       sport, 80, 6, 0x1b, 0, 0, 2, 3, 0, b"\2" * 6, b"\2" * 6, 0, 1, src,
                       backend, sport, 8080, 0, 1, 2, src, dst, src, backend, sport, 80, sport,
                       8080)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect(("127.0.0.1", port))
s.send(message(struct.pack("!HH", 2, 4 + len(tmpl)) + tmpl, 0))
time.sleep(0.2)
n, total, t0 = 0, int(rate * secs), time.perf_counter()
while n < total:
    due = min(int((time.perf_counter() - t0) * rate), total)
    while n < due:
        k = min(12, total - n)
        body = b"".join(record(n + j) for j in range(k))
        s.send(message(struct.pack("!HH", 258, 4 + len(body)) + body, k))
        n += k
    time.sleep(0.001)
print(n, round(time.perf_counter() - t0, 2))
PY

# start_nfacctd AGGREGATE EXTRA-LINES: the recipe, refresh 2 s, in the
# namespace and its cgroup (AGGREGATE empty: the recipe's)
start_nfacctd() {
	{
		grep -v -E '^(daemonize|pidfile|syslog|nfacctd_ip|nfacctd_port|aggregate_primitives|sql_host|sql_user|sql_passwd|sql_refresh_time):' \
			"$recipe/nfacctd.conf" | if [ -n "$1" ]; then sed "s/^aggregate: .*/aggregate: $1/"; else cat; fi
		printf '%s\n' "daemonize: false" "nfacctd_ip: 127.0.0.1" "nfacctd_port: 4739" \
			"aggregate_primitives: $src/templates/pmacct-primitives.lst" "sql_host: $pg" \
			"sql_user: postgres" "sql_passwd: $pw" "sql_refresh_time: 2" "$2"
	} >"$work/nfacctd.conf"
	sh -c "echo \$\$ >'$cg_nf/cgroup.procs' && exec ip netns exec $ns nfacctd -f '$work/nfacctd.conf'" \
		>"$work/nfacctd.log" 2>&1 &
	nfpid=$!
	for _ in $(seq 100); do
		grep -q "cache entries=" "$work/nfacctd.log" && break
		sleep 0.1
	done
	sleep 3
}

recipe_aggregate=$(sed -n 's/^aggregate: //p' "$recipe/nfacctd.conf")
no_ports=$(echo "$recipe_aggregate" | sed -e 's/ src_port,//' -e 's/ post_nat_src_port,//' \
	-e 's/ xlat_pre_src_port,//' -e 's/, xlat_pre_src_port$//')
buffered=$'plugin_buffer_size: 62400\nplugin_pipe_size: 62400000'

echo "Machine: $(nproc) CPUs, $(uname -r); $(nfcapd -V 2>&1 | head -1);"
echo "nfacctd $(nfacctd -V 2>&1 | head -1 | awk '{print $5}'), PostgreSQL $("$pgbin/postgres" -V | awk '{print $3}'); $secs s per run."
echo
echo "### nfcapd"
echo
echo "| files | offered records/s | records nfdump counts / sent | nfcapd CPU us/record | file bytes/record | UDP buffer drops |"
echo "|---|---:|---:|---:|---:|---:|"
for files in plain lz4; do
	for rate in $rates; do
		rm -rf "$work/nf" && mkdir "$work/nf"
		flag=
		[ $files = lz4 ] && flag=-y
		drops0=$(ip netns exec $ns nstat -az UdpRcvbufErrors | awk '/UdpRcvbufErrors/ { print $2 }')
		sh -c "echo \$\$ >'$cg_nf/cgroup.procs' && exec ip netns exec $ns nfcapd -b 127.0.0.1 \
			-p 4739 -w '$work/nf' -t 3600 -B 4194304 $flag" >"$work/nfcapd.log" 2>&1 &
		nfcapd_pid=$!
		sleep 1
		n0=$(cgusage "$cg_nf")
		read -r sent took < <(ip netns exec $ns python3 "$work/send.py" 4739 "$rate" "$secs")
		sleep 2
		kill -TERM $nfcapd_pid
		wait $nfcapd_pid
		n1=$(cgusage "$cg_nf")
		drops1=$(ip netns exec $ns nstat -az UdpRcvbufErrors | awk '/UdpRcvbufErrors/ { print $2 }')
		got=$(nfdump -R "$work/nf" -I 2>/dev/null | awk '/^Flows:/ { print $2; exit }')
		bytes=$(cat "$work"/nf/nfcapd.* | wc -c)
		python3 -c "
got = max(${got:-0}, 1)
print('| %s | %d (sent in %s s) | %d / %d | %.1f | %.0f | %d |' % ('$files', $rate, '$took', ${got:-0},
      $sent, ($n1 - $n0) / 1e3 / got, $bytes / got, $drops1 - $drops0))"
	done
done
echo
echo "### nfacctd into PostgreSQL"
echo
echo "CPU per record: each tree's CPU time over the run (its cgroup) over the records that reached"
echo "the table; nfacctd's less its idle rate (a writer process every refresh with nothing to write,"
echo "measured for 10 s before the runs) over the same time. PostgreSQL's includes its background"
echo "writers (the run starts after a CHECKPOINT) and a connection a purge (one a refresh, 2 s here)."
echo
echo "| configuration | offered records/s | records in the table / sent | rows | nfacctd CPU us/record | PostgreSQL CPU us/record | UDP buffer drops | nfacctd \"Missing data\" |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for config in shipped buffered no-ports; do
	case $config in
	shipped) start_nfacctd "" "" ;;
	buffered) start_nfacctd "" "$buffered" ;;
	no-ports) start_nfacctd "$no_ports" "$buffered" ;;
	esac
	t0=$(date +%s%N) n0=$(cgusage "$cg_nf")
	sleep 10
	t1=$(date +%s%N) n1=$(cgusage "$cg_nf")
	idle_nf=$(((n1 - n0) / ((t1 - t0) / 1000000))) # ns of CPU a ms
	for rate in $rates; do
		# the previous run's dirty pages written now, not during this one
		sq "TRUNCATE xlat_acct" >/dev/null
		sq "CHECKPOINT" >/dev/null
		drops0=$(ip netns exec $ns nstat -az UdpRcvbufErrors | awk '/UdpRcvbufErrors/ { print $2 }')
		miss0=$(grep -c "Missing data" "$work/nfacctd.log")
		t0=$(date +%s%N) n0=$(cgusage "$cg_nf") p0=$(cgusage "$cg_pg")
		read -r sent took < <(ip netns exec $ns python3 "$work/send.py" 4739 "$rate" "$secs")
		# until every record is in, or nothing came for three purges (the
		# buffered runs keep their last, partly filled buffer: < 100)
		last=-1 same=0
		for _ in $(seq 60); do
			sleep 2
			got=$(sq "SELECT coalesce(sum(packets), 0) FROM xlat_acct")
			[ "$got" = "$sent" ] && break
			if [ "$got" = "$last" ]; then
				same=$((same + 1))
				[ $same -ge 3 ] && break
			else
				same=0
			fi
			last=$got
		done
		t1=$(date +%s%N) n1=$(cgusage "$cg_nf") p1=$(cgusage "$cg_pg")
		rows=$(sq "SELECT count(*) FROM xlat_acct")
		drops1=$(ip netns exec $ns nstat -az UdpRcvbufErrors | awk '/UdpRcvbufErrors/ { print $2 }')
		miss1=$(grep -c "Missing data" "$work/nfacctd.log")
		python3 -c "
got, ms = max($got, 1), ($t1 - $t0) / 1e6
nf = ($n1 - $n0 - $idle_nf * ms) / 1e3 / got
pg = ($p1 - $p0) / 1e3 / got
print('| %s | %d (sent in %s s) | %d / %d | %d | %.1f | %.1f | %d | %d |' % ('$config', $rate,
      '$took', $got, $sent, $rows, nf, pg, $drops1 - $drops0, $miss1 - $miss0))"
	done
	stop_nfacctd
done
echo
echo "nfacctd idle: $((idle_nf / 1000)) us of CPU a ms (last configuration)."
# one row a record: the table's bytes per row
sq "TRUNCATE xlat_acct" >/dev/null
start_nfacctd "" ""
ip netns exec $ns python3 "$work/send.py" 4739 5000 4 >/dev/null
sleep 8
stop_nfacctd
sq "VACUUM ANALYZE xlat_acct" >/dev/null
echo "Table: $(sq "SELECT pg_relation_size('xlat_acct') / greatest(count(*), 1) FROM xlat_acct") bytes per row" \
	"(heap, $(sq "SELECT count(*) FROM xlat_acct") rows; the BRIN index $(sq "SELECT pg_relation_size('xlat_acct_stamp')") bytes)."
