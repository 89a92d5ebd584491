#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The collector tier's recipe, tested: xlatflowd -> nfacctd (pgsql plugin)
# -> PostgreSQL, with the shipped templates/pmacct-postgresql/nfacctd.conf
# and schema.sql and templates/pmacct-primitives.lst.
#
# A throw-away PostgreSQL cluster owned by the test (initdb into its work
# directory as the postgres user, a Unix socket there and no TCP, password
# authentication as the recipe has it), the schema created as the role
# nfacctd logs in as; nfacctd started from the recipe with only its address,
# port, database socket, password and refresh time (1 s) replaced; the NAT
# scenario of nat_scenarios.sh (cases A-H, tests/lib/nat-topology.sh) through
# xlatflowd (NAT source: conntrack) on the node. The truth is conntrack's own
# view, with its per-direction packet and byte counters on
# (nf_conntrack_acct): one SQL query on the schema's view xlat_flows must
# return, for every translated connection, exactly one row per tuple its
# packets carried, with the pre- and post-NAT addresses and ports, the
# observation point, the NAT type, the zone, the exporter and the packets and
# bytes conntrack counted in that direction (natsqlcheck.py); every row lies
# in a one-minute bin (sql_history) within the test's run.
XF_TEST=pg
source "$(dirname "$0")/lib.sh"
source "$abs_top_srcdir/tests/lib/nat-topology.sh"
need_root
need_cmd nfacctd psql runuser nft iptables conntrack python3 ping
[ -x "$XLATFLOWD" ] || fail "$XLATFLOWD not built"
# Debian's server binaries are not on PATH (postgresql-common's layout)
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$pgbin" ] && [ -x "$pgbin/initdb" ] && [ -x "$pgbin/pg_ctl" ] ||
	skip "PostgreSQL server not installed (Debian package postgresql)"
id postgres >/dev/null 2>&1 || skip "no postgres user (Debian package postgresql)"
nfacctd -V 2>&1 | grep -q '^PostgreSQL' || fail "this nfacctd has no PostgreSQL plugin"
recipe=$abs_top_srcdir/templates/pmacct-postgresql
primitives=$abs_top_srcdir/templates/pmacct-primitives.lst
cases=$NAT_SCENARIO_CASES
topo_modules $cases 2>/dev/null || true # built in where modprobe fails

NFACCTD_PID=
pg=$WORK/pg
stop_nfacctd() {
	[ -n "$NFACCTD_PID" ] || return 0
	# nfacctd's core sometimes ignores SIGTERM: then its plugin processes
	# and then the core are killed (plugins first, so the core reaps them)
	local plugins
	plugins=$(pgrep -P "$NFACCTD_PID" || true)
	kill -TERM "$NFACCTD_PID" 2>/dev/null || true
	for _ in $(seq 30); do
		kill -0 "$NFACCTD_PID" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$plugins" ] && kill -KILL $plugins 2>/dev/null
	sleep 0.2
	kill -KILL "$NFACCTD_PID" 2>/dev/null || true
	wait "$NFACCTD_PID" 2>/dev/null || true
	NFACCTD_PID=
}
xf_test_teardown() {
	stop_nfacctd
	[ -f "$pg/data/postmaster.pid" ] &&
		runuser -u postgres -- "$pgbin/pg_ctl" -D "$pg/data" -m immediate -w stop >/dev/null 2>&1
	return 0
}

topo_setup "$NS_PREFIX-" "$abs_top_srcdir" "$WORK" || fail "topology"
topo_nat $cases || fail "NAT rules"
nat_scenario_serve || fail "servers"
node=$(topo_ns node)
# conntrack's packets and bytes per direction, for the connections made from now on
topo_exec node sysctl -qw net.netfilter.nf_conntrack_acct=1 || fail "nf_conntrack_acct"
topo_flush_conntrack || fail "conntrack flush"

# --- PostgreSQL: a cluster of the test's own, in its work directory ---------
chmod 0711 "$WORK" # the postgres user reaches its directory, nothing else
mkdir "$pg"
touch "$WORK/postgres.log"
chown postgres: "$pg" "$WORK/postgres.log"
superpw=$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
pmpw=$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
(umask 077 && echo "$superpw" >"$pg/superpw") && chown postgres: "$pg/superpw"
runuser -u postgres -- "$pgbin/initdb" -D "$pg/data" -U postgres --pwfile="$pg/superpw" \
	--auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --locale=C --no-sync \
	>"$WORK/initdb.log" 2>&1 || fail "initdb: $(tail -n 5 "$WORK/initdb.log")"
# in the node's namespace, so that the namespace teardown would stop it too;
# UTC, so that its bins compare with date -u
ip netns exec "$node" runuser -u postgres -- "$pgbin/pg_ctl" -D "$pg/data" \
	-l "$WORK/postgres.log" -w -t 30 -o "-c listen_addresses='' \
	-c unix_socket_directories='$pg' -c timezone=UTC -c fsync=off \
	-c synchronous_commit=off -c full_page_writes=off" start >/dev/null ||
	fail "PostgreSQL did not start: $(tail -n 5 "$WORK/postgres.log")"
su_psql() { PGPASSWORD=$superpw psql -X -q -v ON_ERROR_STOP=1 -h "$pg" -U postgres "$@"; }
pm_psql() { PGPASSWORD=$pmpw psql -X -q -v ON_ERROR_STOP=1 -h "$pg" -U pmacct -d pmacct "$@"; }
su_psql -d postgres -c "CREATE ROLE pmacct LOGIN PASSWORD '$pmpw'" \
	-c "CREATE DATABASE pmacct OWNER pmacct" || fail "role and database"
pm_psql -f "$recipe/schema.sql" || fail "schema.sql"

# --- nfacctd: the recipe, with the test's address, socket and password ------
port=$(free_port)
# the keys replaced here must be in the recipe: the test runs what it ships
for key in daemonize pidfile syslog nfacctd_ip nfacctd_port aggregate_primitives sql_host \
	sql_passwd sql_refresh_time; do
	[ "$(grep -c "^$key:" "$recipe/nfacctd.conf")" = 1 ] || fail "recipe: no single $key line"
done
{
	grep -v -E '^(daemonize|pidfile|syslog|nfacctd_ip|nfacctd_port|aggregate_primitives|sql_host|sql_passwd|sql_refresh_time):' \
		"$recipe/nfacctd.conf"
	cat <<CONF
daemonize: false
nfacctd_ip: 127.0.0.1
nfacctd_port: $port
aggregate_primitives: $primitives
sql_host: $pg
sql_passwd: $pmpw
sql_refresh_time: 1
CONF
} >"$WORK/nfacctd.conf"
TZ=UTC ip netns exec "$node" nfacctd -f "$WORK/nfacctd.conf" >"$WORK/nfacctd.log" 2>&1 &
NFACCTD_PID=$!
# what arrives before the core is waiting and the plugin has its cache is lost
for _ in $(seq 100); do
	grep -q "waiting for NetFlow/IPFIX data" "$WORK/nfacctd.log" &&
		grep -q "cache entries=" "$WORK/nfacctd.log" && break
	kill -0 "$NFACCTD_PID" 2>/dev/null || fail "nfacctd exited: $(cat "$WORK/nfacctd.log")"
	sleep 0.1
done
grep -q "cache entries=" "$WORK/nfacctd.log" || fail "nfacctd's pgsql plugin did not start"
sleep 0.5

# --- the NAT scenario through xlatflowd -------------------------------------
t0=$(date -u '+%Y-%m-%d %H:%M:%S')
start_xlatflowd "$node" --interface 'r*' --collector "udp://127.0.0.1:$port" --idle-timeout 3 \
	--drain-interval 100 --nat-hook conntrack
b=43000
nat_scenario_traffic $b # cases A-H
# conntrack's view, read before the connections time out
ip netns exec "$node" conntrack -L -o extended >"$WORK/conntrack.txt" 2>/dev/null || true
ip netns exec "$node" conntrack -L -f ipv6 -o extended >>"$WORK/conntrack.txt" 2>/dev/null || true
sleep 5 # idle timeout 3 s: the flows expire and are exported on their own
stop_xlatflowd

# nfacctd writes every second: wait for the translated rows' packets to add up
# (or time out, and let the check say what is missing), then stop it
check=$abs_top_srcdir/tests/integration/natsqlcheck.py
want=$(python3 "$check" "$WORK/conntrack.txt" --packets) || fail "conntrack: $want"
got=
for _ in $(seq 40); do
	got=$(pm_psql -A -t -c "SELECT coalesce(sum(packets), 0) FROM xlat_flows WHERE observed IS NOT NULL")
	[ "$got" = "$want" ] && break
	sleep 0.5
done
sleep 1.5 # one more purge: anything beyond what conntrack counted shows too
stop_nfacctd
t1=$(date -u '+%Y-%m-%d %H:%M:%S')
echo "translated packets in the database: $got (conntrack: $want)"
grep -E "ERROR|WARN" "$WORK/nfacctd.log" && fail "nfacctd logged errors"

# The exact rows, by one query on the recipe's view: per flow key and
# translation, the sums over the purges.
pm_psql --csv -o "$WORK/rows.csv" -c "
SELECT host(exporter) AS exporter, ip_proto, host(ip_src) AS ip_src, host(ip_dst) AS ip_dst,
	port_src, port_dst, observed, xlat_type, zone,
	host(pre_src) AS pre_src, host(pre_dst) AS pre_dst, pre_sport, pre_dport,
	host(post_src) AS post_src, host(post_dst) AS post_dst, post_sport, post_dport,
	sum(packets) AS packets, sum(bytes) AS bytes
FROM xlat_flows
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17
ORDER BY 2, 3, 4, 5, 6, 7" || fail "query"
# every row in a bin (sql_history 1m, rounded to the minute) of this run
outside=$(pm_psql -A -t -c "SELECT count(*) FROM xlat_acct WHERE stamp_inserted <
	date_trunc('minute', timestamp '$t0') OR stamp_inserted > timestamp '$t1'")
[ "$outside" = 0 ] || fail "$outside rows outside the run's bins ($t0 .. $t1): \
$(pm_psql -A -t -c "SELECT DISTINCT stamp_inserted FROM xlat_acct")"

[ -z "${XF_KEEP:-}" ] || cp -r "$WORK" "$XF_KEEP"
python3 "$check" "$WORK/conntrack.txt" "$WORK/rows.csv" 127.0.0.1 "$b"
