#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# The conntrack-netlink translation source against the real kernel.
# Three network namespaces: client (198.18.1.2, 2001:db8:1::2), router,
# backend (198.18.2.2, 2001:db8:2::2). nftables in the router DNATs the
# service 198.19.0.10 (tcp 80 -> 8080, udp 53 -> 5353 in conntrack zone 7,
# ICMP) and [2001:db8:ffff::10]:80 to the backend, and masquerades tcp/9000.
# xlat_conntrack_listen runs in the router namespace; every event it prints
# and every table lookup it answers is compared with the exact expected line.
# Exit 77 when not root or namespaces/nftables NAT/conntrack are unavailable.
set -u

LISTEN=${XLAT_CONNTRACK_LISTEN:-./tests/integration/xlat_conntrack_listen}
PY=/usr/bin/python3
ID=$$
NS_C=xct-client-$ID
NS_R=xct-router-$ID
NS_B=xct-backend-$ID
TMP=$(mktemp -d /tmp/xlat_conntrack_test.XXXXXX)
SERVER_PID=
LISTEN_PID=
fail=0

skip() {
	echo "SKIP: $*"
	exit 77
}

cleanup() {
	[ -n "$LISTEN_PID" ] && kill "$LISTEN_PID" 2>/dev/null
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
	wait 2>/dev/null
	for ns in "$NS_C" "$NS_R" "$NS_B"; do
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, nftables, conntrack netlink)"
for tool in ip nft conntrack; do
	command -v "$tool" >/dev/null 2>&1 || skip "$tool not installed"
done
[ -x "$PY" ] || skip "$PY not installed"
[ -x "$LISTEN" ] || { echo "FAIL: $LISTEN not built"; exit 99; }

ip netns add "$NS_C" 2>/dev/null || skip "cannot create network namespaces"
ip netns add "$NS_R" && ip netns add "$NS_B" || { echo "FAIL: ip netns add"; exit 1; }

setup() {
	ip -n "$NS_C" link add c0 type veth peer name r1 netns "$NS_R" &&
	ip -n "$NS_B" link add b0 type veth peer name r2 netns "$NS_R" &&
	for ns in "$NS_C" "$NS_R" "$NS_B"; do ip -n "$ns" link set lo up || return 1; done &&
	ip -n "$NS_C" addr add 198.18.1.2/24 dev c0 &&
	ip -n "$NS_C" addr add 2001:db8:1::2/64 dev c0 nodad &&
	ip -n "$NS_C" link set c0 up &&
	ip -n "$NS_C" route add default via 198.18.1.1 &&
	ip -n "$NS_C" -6 route add default via 2001:db8:1::1 &&
	ip -n "$NS_R" addr add 198.18.1.1/24 dev r1 &&
	ip -n "$NS_R" addr add 2001:db8:1::1/64 dev r1 nodad &&
	ip -n "$NS_R" addr add 198.18.2.1/24 dev r2 &&
	ip -n "$NS_R" addr add 2001:db8:2::1/64 dev r2 nodad &&
	ip -n "$NS_R" link set r1 up &&
	ip -n "$NS_R" link set r2 up &&
	ip netns exec "$NS_R" sysctl -qw net.ipv4.ip_forward=1 &&
	ip netns exec "$NS_R" sysctl -qw net.ipv6.conf.all.forwarding=1 &&
	ip -n "$NS_B" addr add 198.18.2.2/24 dev b0 &&
	ip -n "$NS_B" addr add 2001:db8:2::2/64 dev b0 nodad &&
	ip -n "$NS_B" link set b0 up &&
	ip -n "$NS_B" route add default via 198.18.2.1 &&
	ip -n "$NS_B" -6 route add default via 2001:db8:2::1
}
setup || { echo "FAIL: namespace setup"; exit 1; }

cat >"$TMP/nat.nft" <<'EOF'
table ip xct {
	chain raw {
		type filter hook prerouting priority raw; policy accept;
		iifname "r1" udp dport 53 ct zone set 7
		iifname "r2" udp sport 5353 ct zone set 7
	}
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr 198.19.0.10 tcp dport 80 dnat to 198.18.2.2:8080
		ip daddr 198.19.0.10 udp dport 53 dnat to 198.18.2.2:5353
		ip daddr 198.19.0.10 udp dport 54 dnat to 198.18.2.2:5454
		ip daddr 198.19.0.10 meta l4proto icmp dnat to 198.18.2.2
	}
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "r2" ip daddr 198.18.2.2 tcp dport 9000 masquerade
	}
}
table ip6 xct6 {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		ip6 daddr 2001:db8:ffff::10 tcp dport 80 dnat to [2001:db8:2::2]:8080
	}
}
EOF
ip netns exec "$NS_R" nft -f "$TMP/nat.nft" 2>"$TMP/nft.err" ||
	skip "nftables NAT unavailable: $(cat "$TMP/nft.err")"
ip netns exec "$NS_R" conntrack -L >/dev/null 2>&1 || skip "conntrack netlink unavailable"

cat >"$TMP/server.py" <<'EOF'
import socket, sys, threading, time

def tcp(family, addr, port):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(16)
    while True:
        c, _ = s.accept()
        c.sendall(c.recv(100))
        c.close()

def udp(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    while True:
        data, peer = s.recvfrom(100)
        s.sendto(data, peer)

for args in ((tcp, socket.AF_INET, "198.18.2.2", 8080), (tcp, socket.AF_INET, "198.18.2.2", 9000),
             (tcp, socket.AF_INET, "198.18.2.2", 7000), (tcp, socket.AF_INET6, "2001:db8:2::2", 8080),
             (udp, "198.18.2.2", 5353)):
    threading.Thread(target=args[0], args=args[1:], daemon=True).start()
time.sleep(0.2)
open(sys.argv[1], "w").write("up\n")
time.sleep(3600)
EOF

# client.py tcp|udp|icmp SRC SPORT DST DPORT: one exchange, exit 0 when answered.
cat >"$TMP/client.py" <<'EOF'
import socket, struct, sys

kind, src, sport, dst, dport = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
family = socket.AF_INET6 if ":" in src else socket.AF_INET
if kind == "icmp":
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.settimeout(3)
    body = struct.pack("!BBHHH", 8, 0, 0, 0x1234, 1) + b"xlatflow"
    csum = sum(struct.unpack("!%dH" % (len(body) // 2), body))
    csum = (csum >> 16) + (csum & 0xffff)
    csum = ~(csum + (csum >> 16)) & 0xffff
    s.sendto(body[:2] + struct.pack("!H", csum) + body[4:], (dst, 0))
    while True:
        data, peer = s.recvfrom(200)
        hl = (data[0] & 15) * 4
        if data[hl] == 0 and struct.unpack("!H", data[hl + 4:hl + 6])[0] == 0x1234:
            sys.exit(0)
s = socket.socket(family, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
s.settimeout(3)
s.bind((src, sport))
if kind == "tcp":
    s.connect((dst, dport))
    s.sendall(b"xlatflow")
    ok = s.recv(100) == b"xlatflow"
else:
    s.sendto(b"xlatflow", (dst, dport))
    ok = s.recvfrom(100)[0] == b"xlatflow"
s.close()
sys.exit(0 if ok else 1)
EOF

client() {
	ip netns exec "$NS_C" "$PY" "$TMP/client.py" "$@" ||
		{ echo "FAIL: client $*"; fail=1; }
}

wait_for() { # file pattern seconds
	i=0
	while ! grep -q "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt $(($3 * 10)) ] && return 1
		sleep 0.1
	done
}

ip netns exec "$NS_B" "$PY" "$TMP/server.py" "$TMP/server.up" &
SERVER_PID=$!
wait_for "$TMP/server.up" up 10 || { echo "FAIL: backend servers did not start"; exit 1; }

# A translated connection older than the listener: must come from the start dump.
client udp 198.18.1.2 53001 198.19.0.10 53

ip netns exec "$NS_R" "$LISTEN" -r 1000 \
	-l tcp,198.19.0.10,80,198.18.1.2,40000 \
	-l udp,198.18.1.2,53000,198.19.0.10,53 \
	-l udp,198.18.2.2,5353,198.18.1.2,53001 \
	-l tcp,198.18.2.1,40001,198.18.2.2,9000 \
	-l icmp,198.18.2.2,0,198.18.1.2,0 \
	-l icmp,198.18.1.2,0,198.18.2.2,2048 \
	-l tcp,2001:db8:1::2,40003,2001:db8:2::2,8080 \
	-l tcp,198.18.1.2,40002,198.18.2.2,7000 \
	>"$TMP/out" 2>"$TMP/err" &
LISTEN_PID=$!
wait_for "$TMP/out" '^READY$' 10 || { echo "FAIL: listener not ready"; cat "$TMP/err"; exit 1; }

client tcp 198.18.1.2 40000 198.19.0.10 80          # ClusterIP-style DNAT
client tcp 198.18.1.2 40001 198.18.2.2 9000         # masquerade
client tcp 198.18.1.2 40002 198.18.2.2 7000         # no NAT: no event
client udp 198.18.1.2 53000 198.19.0.10 53          # DNAT in zone 7
client icmp 198.18.1.2 0 198.19.0.10 0              # ping through DNAT
client tcp 2001:db8:1::2 40003 2001:db8:ffff::10 80 # IPv6 DNAT
ip netns exec "$NS_R" conntrack -D -p tcp --orig-port-src 40000 >/dev/null 2>&1 ||
	{ echo "FAIL: conntrack -D"; fail=1; }
# Let the 1 s refresh dump run at least once after the traffic.
sleep 2.5
kill "$LISTEN_PID"
wait "$LISTEN_PID"
rc=$?
LISTEN_PID=
[ $rc = 0 ] || { echo "FAIL: listener exit $rc"; cat "$TMP/err"; fail=1; }

OLD="zone=7 udp 198.18.1.2:53001>198.19.0.10:53 reply 198.18.2.2:5353>198.18.1.2:53001"
TCP="zone=0 tcp 198.18.1.2:40000>198.19.0.10:80 reply 198.18.2.2:8080>198.18.1.2:40000"
MASQ="zone=0 tcp 198.18.1.2:40001>198.18.2.2:9000 reply 198.18.2.2:9000>198.18.2.1:40001"
UDP="zone=7 udp 198.18.1.2:53000>198.19.0.10:53 reply 198.18.2.2:5353>198.18.1.2:53000"
ICMP="zone=0 icmp 198.18.1.2:0>198.19.0.10:0 reply 198.18.2.2:0>198.18.1.2:0"
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
LOOKUP tcp 198.19.0.10:80>198.18.1.2:40000 pre 198.18.2.2:8080>198.18.1.2:40000 post 198.19.0.10:80>198.18.1.2:40000 observed=2 type=2 zone=0
LOOKUP udp 198.18.1.2:53000>198.19.0.10:53 pre 198.18.1.2:53000>198.19.0.10:53 post 198.18.1.2:53000>198.18.2.2:5353 observed=1 type=2 zone=7
LOOKUP udp 198.18.2.2:5353>198.18.1.2:53001 pre 198.18.2.2:5353>198.18.1.2:53001 post 198.19.0.10:53>198.18.1.2:53001 observed=1 type=2 zone=7
LOOKUP tcp 198.18.2.1:40001>198.18.2.2:9000 pre 198.18.1.2:40001>198.18.2.2:9000 post 198.18.2.1:40001>198.18.2.2:9000 observed=2 type=1 zone=0
LOOKUP icmp 198.18.2.2:0>198.18.1.2:0 pre 198.18.2.2:0>198.18.1.2:0 post 198.19.0.10:0>198.18.1.2:0 observed=1 type=2 zone=0
LOOKUP icmp 198.18.1.2:0>198.18.2.2:2048 pre 198.18.1.2:0>198.19.0.10:0 post 198.18.1.2:0>198.18.2.2:0 observed=2 type=2 zone=0
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
grep -q '^STATS dumps=[2-9] enobufs=0 errors=0$' "$TMP/out" ||
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
    s.sendto(b"x", ("198.19.0.10", 54))
    s.close()
EOF
ip netns exec "$NS_R" "$LISTEN" -q -p 60000 -r 0 \
	-l udp,198.18.1.2,5000,198.19.0.10,54 \
	-l udp,198.18.2.2,5454,198.18.1.2,64999 \
	>"$TMP/out2" 2>"$TMP/err2" &
LISTEN_PID=$!
wait_for "$TMP/out2" '^READY$' 10 || { echo "FAIL: listener not ready"; cat "$TMP/err2"; exit 1; }
ip netns exec "$NS_C" "$PY" "$TMP/flood.py" || { echo "FAIL: flood"; fail=1; }
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
LOOKUP udp 198.18.1.2:5000>198.19.0.10:54 pre 198.18.1.2:5000>198.19.0.10:54 post 198.18.1.2:5000>198.18.2.2:5454 observed=1 type=2 zone=0
LOOKUP udp 198.18.2.2:5454>198.18.1.2:64999 pre 198.18.2.2:5454>198.18.1.2:64999 post 198.19.0.10:54>198.18.1.2:64999 observed=1 type=2 zone=0
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
