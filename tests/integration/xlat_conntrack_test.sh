#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# The conntrack-netlink translation source against the real kernel, on the
# shared NAT topology (tests/lib/nat-topology.sh; cases clusterip, zones,
# egress, icmp, ipv6): the node DNATs the ClusterIP 198.19.0.12 (tcp 80 ->
# srv1:8080; udp 53 -> srv1:5353, nobody listening, for the flood),
# 198.19.0.31 udp 53 -> srv1:9053 in conntrack zone 9, ICMP to 198.19.0.20
# and [2001:db8:ffff::10]:80 to srv1, and masquerades srv1's egress to ext.
# xlat_conntrack_listen runs in the node namespace; every event it prints
# and every table lookup it answers is compared with the exact expected line.
# Exit 77 when not root or namespaces/nftables NAT/conntrack are unavailable.
set -u

LISTEN=${XLAT_CONNTRACK_LISTEN:-./tests/integration/xlat_conntrack_listen}
PY=/usr/bin/python3
srcdir=${abs_top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
PFX=xct$$-
TMP=$(mktemp -d /tmp/xlat_conntrack_test.XXXXXX)
LISTEN_PID=
fail=0

skip() {
	echo "SKIP: $*"
	exit 77
}

. "$srcdir/tests/lib/nat-topology.sh"

cleanup() {
	[ -n "$LISTEN_PID" ] && kill "$LISTEN_PID" 2>/dev/null
	topo_teardown
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, nftables, conntrack netlink)"
for tool in ip nft conntrack ping; do
	command -v "$tool" >/dev/null 2>&1 || skip "$tool not installed"
done
[ -x "$PY" ] || skip "$PY not installed"
[ -x "$LISTEN" ] || { echo "FAIL: $LISTEN not built"; exit 99; }

ip netns add "${PFX}probe" 2>/dev/null || skip "cannot create network namespaces"
ip netns del "${PFX}probe"
topo_modules clusterip zones egress icmp ipv6 2>/dev/null # built in where modprobe fails
topo_setup "$PFX" "$srcdir" "$TMP" || { echo "FAIL: namespace setup"; exit 1; }
topo_nat clusterip zones egress icmp ipv6 2>"$TMP/nft.err" ||
	skip "nftables NAT unavailable: $(cat "$TMP/nft.err")"
topo_exec node conntrack -L >/dev/null 2>&1 || skip "conntrack netlink unavailable"
topo_serve srv1 tcp,::,8080 tcp,0.0.0.0,7000 udp,0.0.0.0,9053 @ext tcp,0.0.0.0,9000 ||
	{ echo "FAIL: servers did not start"; exit 1; }

# client HOST SPEC...: nat-peer.py client, every exchange answered
client() {
	topo_client "$@" >>"$TMP/clients.log" 2>&1 || { echo "FAIL: client $*"; fail=1; }
}

wait_for() { # file pattern seconds
	i=0
	while ! grep -q "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt $(($3 * 10)) ] && return 1
		sleep 0.1
	done
}

# A translated connection older than the listener: must come from the start dump.
client cli udp,198.19.0.31,53,53001

ip netns exec "$(topo_ns node)" "$LISTEN" -r 1000 \
	-l tcp,198.19.0.12,80,198.18.1.2,40000 \
	-l udp,198.18.1.2,53000,198.19.0.31,53 \
	-l udp,198.18.2.2,9053,198.18.1.2,53001 \
	-l tcp,198.18.9.1,40001,198.18.9.2,9000 \
	-l icmp,198.18.2.2,0,198.18.1.2,0 \
	-l icmp,198.18.1.2,0,198.18.2.2,2048 \
	-l tcp,2001:db8:1::2,40003,2001:db8:2::2,8080 \
	-l tcp,198.18.1.2,40002,198.18.2.2,7000 \
	>"$TMP/out" 2>"$TMP/err" &
LISTEN_PID=$!
wait_for "$TMP/out" '^READY$' 10 || { echo "FAIL: listener not ready"; cat "$TMP/err"; exit 1; }

client cli tcp,198.19.0.12,80,40000      # ClusterIP DNAT
client srv1 tcp,198.18.9.2,9000,40001    # pod egress masquerade
client cli tcp,198.18.2.2,7000,40002     # no NAT: no event
client cli udp,198.19.0.31,53,53000      # DNAT in zone 9
topo_exec cli ping -c 1 -W 3 198.19.0.20 >/dev/null || { echo "FAIL: ping"; fail=1; } # ICMP DNAT
client cli tcp,2001:db8:ffff::10,80,40003 # IPv6 DNAT
topo_exec node conntrack -D -p tcp --orig-port-src 40000 >/dev/null 2>&1 ||
	{ echo "FAIL: conntrack -D"; fail=1; }
# Let the 1 s refresh dump run at least once after the traffic.
sleep 2.5
kill "$LISTEN_PID"
wait "$LISTEN_PID"
rc=$?
LISTEN_PID=
[ $rc = 0 ] || { echo "FAIL: listener exit $rc"; cat "$TMP/err"; fail=1; }

OLD="zone=9 udp 198.18.1.2:53001>198.19.0.31:53 reply 198.18.2.2:9053>198.18.1.2:53001"
TCP="zone=0 tcp 198.18.1.2:40000>198.19.0.12:80 reply 198.18.2.2:8080>198.18.1.2:40000"
MASQ="zone=0 tcp 198.18.2.2:40001>198.18.9.2:9000 reply 198.18.9.2:9000>198.18.9.1:40001"
UDP="zone=9 udp 198.18.1.2:53000>198.19.0.31:53 reply 198.18.2.2:9053>198.18.1.2:53000"
ICMP="zone=0 icmp 198.18.1.2:0>198.19.0.20:0 reply 198.18.2.2:0>198.18.1.2:0"
V6="zone=0 tcp [2001:db8:1::2]:40003>[2001:db8:ffff::10]:80 reply [2001:db8:2::2]:8080>[2001:db8:1::2]:40003"

cat >"$TMP/allowed" <<EOF
DUMP $OLD
EVENT $OLD
EVENT $TCP
EVENT $MASQ
EVENT $UDP
EVENT $ICMP
EVENT $V6
DESTROY $TCP
READY
LOOKUP tcp 198.19.0.12:80>198.18.1.2:40000 pre 198.18.2.2:8080>198.18.1.2:40000 post 198.19.0.12:80>198.18.1.2:40000 observed=2 type=2 zone=0
LOOKUP udp 198.18.1.2:53000>198.19.0.31:53 pre 198.18.1.2:53000>198.19.0.31:53 post 198.18.1.2:53000>198.18.2.2:9053 observed=1 type=2 zone=9
LOOKUP udp 198.18.2.2:9053>198.18.1.2:53001 pre 198.18.2.2:9053>198.18.1.2:53001 post 198.19.0.31:53>198.18.1.2:53001 observed=1 type=2 zone=9
LOOKUP tcp 198.18.9.1:40001>198.18.9.2:9000 pre 198.18.2.2:40001>198.18.9.2:9000 post 198.18.9.1:40001>198.18.9.2:9000 observed=2 type=1 zone=0
LOOKUP icmp 198.18.2.2:0>198.18.1.2:0 pre 198.18.2.2:0>198.18.1.2:0 post 198.19.0.20:0>198.18.1.2:0 observed=1 type=2 zone=0
LOOKUP icmp 198.18.1.2:0>198.18.2.2:2048 pre 198.18.1.2:0>198.19.0.20:0 post 198.18.1.2:0>198.18.2.2:0 observed=2 type=2 zone=0
LOOKUP tcp [2001:db8:1::2]:40003>[2001:db8:2::2]:8080 pre [2001:db8:1::2]:40003>[2001:db8:ffff::10]:80 post [2001:db8:1::2]:40003>[2001:db8:2::2]:8080 observed=2 type=2 zone=0
LOOKUP tcp 198.18.1.2:40002>198.18.2.2:7000 none
EOF

# Every line printed is expected...
grep -v '^STATS ' "$TMP/out" | sort -u >"$TMP/got"
if ! sort -u "$TMP/allowed" | comm -23 "$TMP/got" - >"$TMP/unexpected" || [ -s "$TMP/unexpected" ]; then
	echo "FAIL: unexpected lines:"
	cat "$TMP/unexpected"
	fail=1
fi
# ...and every expected line was printed (DUMP before READY).
while IFS= read -r line; do
	grep -qxF "$line" "$TMP/got" || { echo "FAIL: missing: $line"; fail=1; }
done <"$TMP/allowed"
[ "$(head -n 2 "$TMP/out")" = "DUMP $OLD
READY" ] || { echo "FAIL: start dump is not exactly the old connection"; fail=1; }
grep -Eq '^STATS dumps=([2-9]|[1-9][0-9]+) enobufs=0 errors=0$' "$TMP/out" ||
	{ echo "FAIL: $(grep '^STATS' "$TMP/out")"; fail=1; }

if [ $fail != 0 ]; then
	echo "--- listener output"
	cat "$TMP/out" "$TMP/err"
	exit 1
fi
echo "events: $(grep -c '^EVENT' "$TMP/out") lines, $(grep '^STATS' "$TMP/out"), $(cat "$TMP/err")"

# Overrun: the listener stops reading while 60000 new translated UDP
# connections arrive (one NEW event each, far beyond the 16 MiB buffer).
# It must count the overrun and get every connection back from a dump;
# the periodic refresh is off, so only the overrun can cause that dump.
cat >"$TMP/flood.py" <<'EOF'
import socket
for port in range(5000, 65000):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("198.18.1.2", port))
    s.sendto(b"x", ("198.19.0.12", 53))
    s.close()
EOF
ip netns exec "$(topo_ns node)" "$LISTEN" -q -p 60000 -r 0 \
	-l udp,198.18.1.2,5000,198.19.0.12,53 \
	-l udp,198.18.2.2,5353,198.18.1.2,64999 \
	>"$TMP/out2" 2>"$TMP/err2" &
LISTEN_PID=$!
wait_for "$TMP/out2" '^READY$' 10 || { echo "FAIL: listener not ready"; cat "$TMP/err2"; exit 1; }
topo_exec cli "$PY" "$TMP/flood.py" || { echo "FAIL: flood"; fail=1; }
kill -USR1 "$LISTEN_PID"
wait_for "$TMP/err2" 'ENOBUFS' 20 || { echo "FAIL: no overrun reported"; fail=1; }
# the resync dump is read a slice at a time: wait for its end
wait_for "$TMP/err2" '^dumps=2$' 20 || { echo "FAIL: no resync dump"; fail=1; }
kill "$LISTEN_PID"
wait "$LISTEN_PID"
rc=$?
LISTEN_PID=
[ $rc = 0 ] || { echo "FAIL: listener exit $rc"; fail=1; }
cat >"$TMP/expected2" <<EOF
READY
LOOKUP udp 198.18.1.2:5000>198.19.0.12:53 pre 198.18.1.2:5000>198.19.0.12:53 post 198.18.1.2:5000>198.18.2.2:5353 observed=1 type=2 zone=0
LOOKUP udp 198.18.2.2:5353>198.18.1.2:64999 pre 198.18.2.2:5353>198.18.1.2:64999 post 198.19.0.12:53>198.18.1.2:64999 observed=1 type=2 zone=0
EOF
grep -v '^STATS ' "$TMP/out2" | diff "$TMP/expected2" - || fail=1
grep -q '^STATS dumps=2 enobufs=[1-9][0-9]* errors=0$' "$TMP/out2" ||
	{ echo "FAIL: $(grep '^STATS' "$TMP/out2")"; fail=1; }
if [ $fail != 0 ]; then
	echo "--- listener output"
	cat "$TMP/out2" "$TMP/err2"
	exit 1
fi
echo "overrun: $(grep '^STATS' "$TMP/out2"), $(tr '\n' ' ' <"$TMP/err2")"
echo PASS
exit 0
