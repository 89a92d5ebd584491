#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The operator's view without a collector that decodes options records, and
# the command line reaching every collector (issue 17):
# - --collector 'udp://...?protocol=netflow9&mtu=600': nfcapd decodes the
#   exact flows from NetFlow v9, and a tap in front of it sees version 9 in
#   every datagram and none above 600 bytes (IP and UDP headers included),
#   while the plain URL beside it (xf-collect) gets IPFIX at the default
#   mtu, with datagrams above 600 bytes;
# - after known traffic (10 UDP datagrams in, 4 echo requests in, 4 replies
#   out: 18 packets, 3 flows), SIGUSR1 logs the exact counters: 18 packets
#   observed, none lost, and per collector the flow records exported and the
#   messages the tap counted; a TCP collector nobody listens on holds the 3
#   records queued;
# - stats_interval logs the same lines periodically;
# - a reload that changes restart-only keys names exactly those.
# Network: namespaces a and b joined by a veth (198.18.0.1/24,
# 198.18.0.2/24, IPv6 off so that no router or neighbour solicitation is
# counted), collectors on b's loopback.
XF_TEST=ds
source "$(dirname "$0")/lib.sh"
need_root
need_cmd nfcapd nfdump python3 ping ss
[ -x "$XLATFLOWD" ] || fail "$XLATFLOWD not built"

a=$(ns_add a)
b=$(ns_add b)
for ns in "$a" "$b"; do
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1
done
veth_pair "$a" va "$b" vb
ip -n "$a" addr add 198.18.0.1/24 dev va
ip -n "$b" addr add 198.18.0.2/24 dev vb
# Permanent neighbours: no ARP on the wire, so the not-IP count is exact too.
ip -n "$a" neigh replace 198.18.0.2 dev va nud permanent \
	lladdr "$(ip netns exec "$b" cat /sys/class/net/vb/address)"
ip -n "$b" neigh replace 198.18.0.1 dev vb nud permanent \
	lladdr "$(ip netns exec "$a" cat /sys/class/net/va/address)"

# Five distinct ports (free_port one at a time may hand out one twice): the
# tap for the v9 collector, nfcapd behind it, the tap for the IPFIX
# collector, xf-collect behind it, and a TCP port nobody listens on.
read -r pv9 pnf pfix pxfc ptcp < <(python3 -c '
import socket
s = [socket.socket() for _ in range(5)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
start_nfcapd "$b" "$pnf"
ip netns exec "$b" "$abs_top_builddir/tests/tools/xf-collect" --udp "$pxfc" --bind 127.0.0.1 \
	--out "$WORK/xfc.json" 2>"$WORK/xf-collect.log" &
XFC_PID=$!
XF_PIDS+=("$XFC_PID")

# The taps: each datagram's length (plus 28 for IPv4 and UDP: the mtu's
# measure) and version, then passed on unchanged. And the UDP sink.
ip netns exec "$b" python3 - "$pv9" "$pnf" "$pfix" "$pxfc" "$WORK/tap.log" \
	>"$WORK/tap-py.log" 2>&1 <<'PY' &
import socket, sys, threading
pv9, pnf, pfix, pxfc, log = sys.argv[1:6]
out = open(log, "w")
lock = threading.Lock()
def tap(listen, to):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", int(listen)))
    f = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    while True:
        d = s.recv(65535)
        with lock:
            out.write("%s %d %d\n" % (listen, len(d) + 28, int.from_bytes(d[:2], "big")))
            out.flush()
        f.sendto(d, ("127.0.0.1", int(to)))
def sink():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("198.18.0.2", 5001))
    while True: s.recv(2048)
for args in ((pv9, pnf), (pfix, pxfc)):
    threading.Thread(target=tap, args=args, daemon=True).start()
threading.Thread(target=sink, daemon=True).start()
threading.Event().wait()
PY
XF_PIDS+=($!)
# Every receiver listening before the daemon sends: a datagram refused by a
# port not yet bound would make the next send fail and count as not sent.
for p in "$pnf" "$pxfc" "$pv9" "$pfix"; do
	for _ in $(seq 1 100); do
		[ -n "$(ip netns exec "$b" ss -Hlun "sport = :$p")" ] && break
		sleep 0.1
	done
	[ -n "$(ip netns exec "$b" ss -Hlun "sport = :$p")" ] || fail "nothing listens on udp $p"
done

# Restart-only keys come from the file (the command line is applied again
# at a reload and would hide the change).
cat >"$WORK/xf.conf" <<EOF
nat_hook = "off";
kernel_max_flows = 4096;
stats_interval = 1;
EOF
chmod 600 "$WORK/xf.conf"
start_xlatflowd "$b" --config "$WORK/xf.conf" --interface vb \
	--collector "udp://127.0.0.1:$pv9?protocol=netflow9&mtu=600" \
	--collector "udp://127.0.0.1:$pfix" --collector "tcp://127.0.0.1:$ptcp?rate=5" \
	--idle-timeout 2 --active-timeout 60 --drain-interval 100

ip netns exec "$a" python3 - <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("198.18.0.1", 40001))
for _ in range(10): s.sendto(b"u" * 100, ("198.18.0.2", 5001))
PY
ip netns exec "$a" ping -q -c 4 -i 0.2 -s 56 198.18.0.2 >/dev/null
# idle timeout 2 s, drained every 100 ms: every flow is exported by then
sleep 4

before=$(grep -c 'stats (SIGUSR1)' "$WORK/xlatflowd.log" || true)
kill -USR1 "$XLATFLOWD_PID"
for _ in $(seq 1 50); do
	[ "$(grep -c 'stats (SIGUSR1): collector' "$WORK/xlatflowd.log" || true)" -ge 3 ] && break
	sleep 0.1
done
[ "$before" -eq 0 ] || fail "a SIGUSR1 line before SIGUSR1"
# the taps' counts, read now: nothing is sent between the flows and the stop
# (template refresh 60 s)
nv9=$(awk -v p="$pv9" '$1 == p' "$WORK/tap.log" | wc -l)
nfix=$(awk -v p="$pfix" '$1 == p' "$WORK/tap.log" | wc -l)
grep 'stats (SIGUSR1)' "$WORK/xlatflowd.log" | sed 's/^.*stats (SIGUSR1)/stats (SIGUSR1)/' \
	>"$WORK/usr1.txt"
cat >"$WORK/usr1.want" <<EOF
stats (SIGUSR1): kernel: 18 packets observed, 0 lost (0 octets; flow slots and ring buffer full), 0 past full flow slots (through the ring buffer), 0 sampled out, 0 not IP or malformed; 0 translations lost, 0 evicted; 0 flows evicted from a full cache; 0 TC filter re-attachments
stats (SIGUSR1): datapath order: slots first now, 0 changes, 0 measurements; a packet cost 0 ns slots first, 0 ns ring first when last measured (0: not yet); 0 packets to the flow slots past a full ring buffer
stats (SIGUSR1): collector udp://127.0.0.1:$pv9?protocol=netflow9&mtu=600: 3 flow records exported in $nv9 messages, 0 not sent (0 packets, 0 octets dropped with them), 0 queued
stats (SIGUSR1): collector udp://127.0.0.1:$pfix: 3 flow records exported in $nfix messages, 0 not sent (0 packets, 0 octets dropped with them), 0 queued
stats (SIGUSR1): collector tcp://127.0.0.1:$ptcp?rate=5: 0 flow records exported in 0 messages, 0 not sent (0 packets, 0 octets dropped with them), 3 queued
EOF
diff -u "$WORK/usr1.want" "$WORK/usr1.txt" || fail "SIGUSR1 counters differ"
echo "ok SIGUSR1: 18 packets observed, 3 records to each UDP collector ($nv9 and $nfix messages), 3 queued for TCP"

grep -q 'stats (periodic): kernel: ' "$WORK/xlatflowd.log" ||
	fail "no periodic stats line with stats_interval = 1"
echo "ok periodic stats line"

# A reload changing two restart-only keys and one that applies at once.
cat >"$WORK/xf.conf" <<EOF
nat_hook = "conntrack";
kernel_max_flows = 8192;
stats_interval = 0;
sampling = 2;
EOF
kill -HUP "$XLATFLOWD_PID"
for _ in $(seq 1 50); do
	grep -q 'configuration reloaded' "$WORK/xlatflowd.log" && break
	sleep 0.1
done
grep -q 'configuration reloaded' "$WORK/xlatflowd.log" || fail "reload not done"
got=$(grep -o 'reload: .* stay' "$WORK/xlatflowd.log" || true)
want="reload: kernel_max_flows, nat_hook take effect on restart only; the running values stay"
[ "$got" = "$want" ] || fail "reload warning: '$got', expected '$want'"
echo "ok reload warning names kernel_max_flows and nat_hook only"

stop_xlatflowd
stop_nfcapd
sleep 0.3
kill -TERM "$XFC_PID"
wait "$XFC_PID" 2>/dev/null || true
grep -q 'stats (exit): collector udp://127.0.0.1:'"$pfix"': 3 flow records exported' \
	"$WORK/xlatflowd.log" || fail "no stats line at exit"

# What the URL parameters did: v9 in every datagram to the first collector,
# none above its mtu; IPFIX at the default mtu to the second.
python3 - "$WORK/tap.log" "$pv9" "$pfix" <<'PY' || fail "URL parameters not applied"
import sys
rows = [l.split() for l in open(sys.argv[1])]
v9 = [(int(n), int(v)) for p, n, v in rows if p == sys.argv[2]]
fix = [(int(n), int(v)) for p, n, v in rows if p == sys.argv[3]]
bad = []
if not v9 or any(v != 9 for _, v in v9): bad.append("v9 versions %s" % sorted({v for _, v in v9}))
if not v9 or max(n for n, _ in v9) > 600: bad.append("v9 datagram above mtu 600: %s" % max(n for n, _ in v9))
if not fix or any(v != 10 for _, v in fix): bad.append("ipfix versions %s" % sorted({v for _, v in fix}))
if not fix or max(n for n, _ in fix) <= 600: bad.append("ipfix datagrams all <= 600 at mtu 1500")
for b in bad: print("FAIL", b)
sys.exit(1 if bad else 0)
PY
echo "ok URL parameters: v9 datagrams all <= 600 bytes, IPFIX ones up to the default mtu"

nfdump_json "$WORK/flows.json"
cat >"$WORK/expect.json" <<'EOF'
[
 {"name": "udp in (v9)", "match": {"src4_addr": "198.18.0.1", "dst4_addr": "198.18.0.2", "proto": 17, "src_port": 40001},
  "expect": {"dst_port": 5001, "in_packets": 10, "in_bytes": 1280}},
 {"name": "icmp echo in (v9)", "match": {"src4_addr": "198.18.0.1", "dst4_addr": "198.18.0.2", "proto": 1, "icmp_type": 8},
  "expect": {"in_packets": 4, "in_bytes": 336}},
 {"name": "icmp echo reply out (v9)", "match": {"src4_addr": "198.18.0.2", "dst4_addr": "198.18.0.1", "proto": 1, "icmp_type": 0},
  "expect": {"in_packets": 4, "in_bytes": 336}}
]
EOF
python3 "$abs_top_srcdir/tests/integration/flowcheck.py" "$WORK/flows.json" "$WORK/expect.json"
cat >"$WORK/expect-xfc.json" <<'EOF'
[
 {"name": "udp in (ipfix)", "match": {"sourceIPv4Address": "198.18.0.1", "sourceTransportPort": 40001},
  "expect": {"packetDeltaCount": 10, "octetDeltaCount": 1280}},
 {"name": "icmp in (ipfix)", "match": {"sourceIPv4Address": "198.18.0.1", "protocolIdentifier": 1},
  "expect": {"packetDeltaCount": 4}},
 {"name": "icmp out (ipfix)", "match": {"sourceIPv4Address": "198.18.0.2", "protocolIdentifier": 1},
  "expect": {"packetDeltaCount": 4}}
]
EOF
python3 "$abs_top_srcdir/tests/integration/flowcheck.py" "$WORK/xfc.json" "$WORK/expect-xfc.json"
