#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The NAT event log end to end (docs/nat-events.md): the whole daemon with
# the conntrack source on the node of the shared topology
# (tests/lib/nat-topology.sh), its events sent to five collectors at once:
#
#   nfcapd      IPFIX, nat_events only        nfdump -o json and -o nel
#   nfcapd      NetFlow v9, nat_events only   nfdump -o json
#   nfacctd     IPFIX, nat_events only        print plugin, nat_event and post_nat_*
#   tshark      IPFIX, nat_events only        cflow.nat_event (a pcap of what arrived)
#   xf-collect  IPFIX, flows and nat_events   every field
#
# Connections (fixed client ports, so each is known): ClusterIP DNAT tcp and
# udp, NodePort DNAT + masquerade, pod egress masquerade, IPv6 DNAT, and
# zones 7 and 9. Then conntrack's table is flushed, which destroys them.
# The truth is conntrack itself: `conntrack -L` before the flush (tuples,
# zones) and `conntrack -E -o timestamp` beside the daemon (times). Each
# collector must hold exactly one session create (natEvent 4) and one
# session delete (5) per connection, with conntrack's pre- and post-NAT
# tuples; nfdump's and xf-collect's event times within 50 ms of the time
# conntrack -E saw the event (with the kernel hooks, which stamp events in
# the kernel while conntrack -E stamps them when it reads them, late in a TCG
# guest: creates within 50 ms of conntrack's own start timestamp, deletes
# within 50 ms of the `conntrack -F` that deleted them); xf-collect's delete with the session's start
# and both directions' counters (accounting on) and the event log's
# statistics record counting every event as exported.
#
#   NAT_MODE=conntrack (default; the host) or fentry / kprobe (tests/vm)
#   NATEV_FAILURES=1 (tests/vm: the guest's nf_conntrack_max is ours to
#   change) adds the failures: 20 concurrent UDP connections masqueraded
#   into a 4-port range (natEvent 12 records whose counts add up to
#   conntrack's insert_failed), a full table at nf_conntrack_max 64 (natEvent
#   13, counts adding up to conntrack's drops, maxSessionEntries 64) and the
#   threshold at 50% of it (one natEvent 18 record).
XF_TEST=natev
source "$(dirname "$0")/lib.sh"
source "$abs_top_srcdir/tests/lib/nat-topology.sh"
need_root
need_cmd nfcapd nfdump nfacctd tshark nft conntrack python3
[ -x "$XLATFLOWD" ] || fail "$XLATFLOWD not built"
collect=$abs_top_builddir/tests/tools/xf-collect
[ -x "$collect" ] || fail "$collect not built (make check builds it)"
cases="clusterip nodeport egress ipv6 zones"
topo_modules $cases 2>/dev/null || true

topo_setup "$NS_PREFIX-" "$abs_top_srcdir" "$WORK" || fail "topology"
topo_exec node conntrack -L >/dev/null 2>&1 || skip "conntrack netlink unavailable"
topo_nat $cases 2>"$WORK/nft.err" || fail "nftables NAT: $(cat "$WORK/nft.err")"
topo_serve srv1 tcp,::,8080 tcp,0.0.0.0,8081 udp,0.0.0.0,5353 udp,0.0.0.0,9053 \
	@ext udp,0.0.0.0,9000 || fail "servers"
node=$(topo_ns node)
NAT_MODE=${NAT_MODE:-conntrack}
# the daemon's datagrams to its collectors on loopback stay out of conntrack
ip netns exec "$node" nft -f - <<'NFT' || fail "nftables notrack on lo"
table inet xf_natev_lo {
	chain pre { type filter hook prerouting priority raw; iif "lo" notrack; }
	chain out { type filter hook output priority raw; oif "lo" notrack; }
}
NFT
topo_flush_conntrack || fail "conntrack flush"

p_nfcapd=$(free_port)
p_nfcapd9=$(free_port)
p_pmacct=$(free_port)
p_tshark=$(free_port)
p_xfc=$(free_port)

start_nfcapd "$node" "$p_nfcapd"
mkdir -p "$WORK/nfcapd9"
ip netns exec "$node" nfcapd -b 127.0.0.1 -p "$p_nfcapd9" -w "$WORK/nfcapd9" -t 3600 \
	>"$WORK/nfcapd9.log" 2>&1 &
NFCAPD9_PID=$!
XF_PIDS+=("$NFCAPD9_PID")

cat >"$WORK/nfacctd.conf" <<CONF
daemonize: false
nfacctd_ip: 127.0.0.1
nfacctd_port: $p_pmacct
plugins: print
aggregate: nat_event, src_host, dst_host, src_port, dst_port, proto, post_nat_src_host, post_nat_dst_host, post_nat_src_port, post_nat_dst_port, timestamp_start, timestamp_end
print_output: json
print_output_file: $WORK/nfacctd.json
print_output_file_append: true
print_refresh_time: 1
timestamps_secs: false
CONF
ip netns exec "$node" nfacctd -f "$WORK/nfacctd.conf" >"$WORK/nfacctd.log" 2>&1 &
PMACCT_PID=$!
XF_PIDS+=("$PMACCT_PID")

# what arrives on p_tshark, written as a pcap for tshark (as export_tshark.sh does)
ip netns exec "$node" python3 -c '
import signal, socket, struct, sys
port = int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", port))
out = open(sys.argv[1], "wb")
out.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 101))  # LINKTYPE_RAW
out.flush()
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
i = 0
while True:
    d = s.recv(65535)
    udp = struct.pack("!HHHH", 50000, port, 8 + len(d), 0) + d
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xffff, 0, 64, 17, 0,
                     socket.inet_aton("127.0.0.1"), socket.inet_aton("127.0.0.1"))
    c = sum(struct.unpack("!10H", ip))
    c = (c >> 16) + (c & 0xffff)
    c += c >> 16
    ip = ip[:10] + struct.pack("!H", ~c & 0xffff) + ip[12:]
    out.write(struct.pack("<IIII", 1764140000 + i, 0, len(ip + udp), len(ip + udp)) + ip + udp)
    out.flush()
    i += 1
' "$WORK/tshark.pcap" "$p_tshark" 2>"$WORK/pcap.log" &
PCAP_PID=$!
XF_PIDS+=("$PCAP_PID")

ip netns exec "$node" "$collect" --udp "$p_xfc" --bind 127.0.0.1 --out "$WORK/xfc.json" \
	2>"$WORK/xf-collect.log" &
XFC_PID=$!
XF_PIDS+=("$XFC_PID")

threshold=0
[ -z "${NATEV_FAILURES:-}" ] || threshold=50
cat >"$WORK/xlatflowd.conf" <<CONF
interfaces = { include = [ "r*" ]; };
collectors = (
	{ url = "udp://127.0.0.1:$p_nfcapd"; flows = false; nat_events = true; },
	{ url = "udp://127.0.0.1:$p_nfcapd9"; protocol = "netflow9"; flows = false; nat_events = true; },
	{ url = "udp://127.0.0.1:$p_pmacct"; flows = false; nat_events = true; },
	{ url = "udp://127.0.0.1:$p_tshark"; flows = false; nat_events = true; },
	{ url = "udp://127.0.0.1:$p_xfc"; nat_events = true; }
);
nat_hook = "$NAT_MODE";
drain_interval_ms = 1000;
idle_timeout = 3;
nat_table_threshold = $threshold;
CONF
chmod 600 "$WORK/xlatflowd.conf"
sleep 1 # nfacctd binds late
start_xlatflowd "$node" --config "$WORK/xlatflowd.conf"
grep -q "NAT enrichment: $NAT_MODE" "$WORK/xlatflowd.log" ||
	fail "NAT source is not $NAT_MODE: $(grep -i nat "$WORK/xlatflowd.log")"
ip netns exec "$node" conntrack -E -o timestamp,extended,id >"$WORK/conntrack.events" 2>&1 &
EV_PID=$!
XF_PIDS+=("$EV_PID")
# Both readers at the daemon's normal priority, even under `nice make check`:
# the conntrack source stamps a create when it reads the NEW (conntrack sends
# no time with it), conntrack -E when it does; a reniced reader on a loaded
# machine waits hundreds of ms for a CPU.
renice -n 0 -p "$XLATFLOWD_PID" "$EV_PID" >/dev/null 2>&1 || true
sleep 0.5

b=44000
topo_client cli tcp,198.19.0.12,80,$((b + 1)),2,0.05 tcp,198.19.0.12,80,$((b + 2)) \
	tcp,198.19.0.12,80,$((b + 3)),3,0.05 tcp,198.19.0.12,80,$((b + 4)) \
	udp,198.19.0.12,53,$((b + 11)),2,0.05 udp,198.19.0.12,53,$((b + 12)) \
	tcp,2001:db8:ffff::10,80,$((b + 41)) tcp,2001:db8:ffff::10,80,$((b + 42)),2,0.05 \
	tcp,198.19.0.30,80,$((b + 51)) tcp,198.19.0.30,80,$((b + 52)),2,0.05 \
	@ext tcp,198.18.9.1,30080,$((b + 21)) tcp,198.18.9.1,30080,$((b + 22)),2,0.05 \
	udp,198.19.0.31,53,$((b + 61)) \
	@srv1 udp,198.18.9.2,9000,$((b + 31)) udp,198.18.9.2,9000,$((b + 32)),2,0.05 \
	>"$WORK/clients.log" 2>&1 || fail "clients: $(tail -n 3 "$WORK/clients.log")"
sleep 0.5 # the last FIN/ACKs
ip netns exec "$node" conntrack -L -o xml,ktimestamp >"$WORK/conntrack.xml" 2>/dev/null
ip netns exec "$node" conntrack -L -f ipv6 -o xml,ktimestamp >>"$WORK/conntrack.xml" 2>/dev/null
# the flush deletes the connections: its interval is the kernel's delete time
timed_flush() {
	local t0
	t0=$(date +%s.%N)
	topo_flush_conntrack || fail "conntrack flush"
	echo "$t0 $(date +%s.%N)" >>"$WORK/flush.times"
}
timed_flush

if [ -n "${NATEV_FAILURES:-}" ]; then
	# ports exhausted: cli -> ext udp 9100 masqueraded into 4 ports, 20 at once
	ip netns exec "$node" nft -f - <<'NFT' || fail "nftables snat range"
table ip xf_exhaust {
	chain post {
		type nat hook postrouting priority srcnat - 1;
		oifname "r9" ip saddr 198.18.1.2 udp dport 9100 snat to 198.18.9.1:20000-20003
	}
}
NFT
	ip netns exec "$node" conntrack -S >"$WORK/exhaust.stats-before"
	topo_exec cli python3 -c '
import socket
socks = []
for p in range(45001, 45021):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("198.18.1.2", p))
    socks.append(s)
for s in socks:
    s.sendto(b"x", ("198.18.9.2", 9100))
' || fail "exhaust clients"
	sleep 0.5
	ip netns exec "$node" conntrack -S >"$WORK/exhaust.stats-after"
	ip netns exec "$node" conntrack -L -o xml,ktimestamp >"$WORK/exhaust.xml" 2>/dev/null
	# a full table at nf_conntrack_max 64 (the guest's, global), filled with
	# assured entries early_drop may not evict; the threshold at 50% on the way
	old_max=$(cat /proc/sys/net/netfilter/nf_conntrack_max)
	echo 64 >/proc/sys/net/netfilter/nf_conntrack_max
	awk -v n=$((64 - $(ip netns exec "$node" conntrack -C))) 'BEGIN {
		for (i = 0; i < n; i++)
			printf "-I -p udp -s 198.18.5.%d -d 198.18.6.1 --sport 1024 --dport 53 -t 600 " \
				"--status ASSURED,SEEN_REPLY\n", i + 1 }' >"$WORK/fill.txt"
	ip netns exec "$node" conntrack -R "$WORK/fill.txt" >/dev/null 2>&1
	[ "$(ip netns exec "$node" conntrack -C)" = 64 ] ||
		fail "conntrack -R filled $(ip netns exec "$node" conntrack -C) of 64"
	sleep 1.2 # a threshold check sees the fill
	ip netns exec "$node" conntrack -S >"$WORK/tablefull.stats-before"
	topo_exec cli python3 -c '
import socket
for p in range(45101, 45104):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("198.18.1.2", p))
    s.sendto(b"x", ("198.19.0.12", 53))
    s.close()
' || fail "tablefull clients"
	sleep 0.5
	ip netns exec "$node" conntrack -S >"$WORK/tablefull.stats-after"
	echo "$old_max" >/proc/sys/net/netfilter/nf_conntrack_max
	timed_flush
	touch "$WORK/failures"
fi
sleep 1.5 # DESTROY events read, exported in the next cycle
stop_xlatflowd
sleep 0.3
kill "$EV_PID"
wait "$EV_PID" 2>/dev/null || true
stop_nfcapd
kill -TERM "$NFCAPD9_PID"
wait "$NFCAPD9_PID" 2>/dev/null || true
kill -TERM "$XFC_PID" "$PCAP_PID"
wait "$XFC_PID" 2>/dev/null || true
wait "$PCAP_PID" 2>/dev/null || true
sleep 1.5 # nfacctd's last print (refresh 1 s)
kill -TERM "$PMACCT_PID" 2>/dev/null || true
for _ in $(seq 30); do
	kill -0 "$PMACCT_PID" 2>/dev/null || break
	sleep 0.1
done
kill -KILL "$PMACCT_PID" 2>/dev/null || true
wait "$PMACCT_PID" 2>/dev/null || true

export TZ=UTC # nfdump prints local time
nfdump_json "$WORK/nfdump.json"
nfdump -R "$WORK/nfcapd" -o nel >"$WORK/nfdump.nel" 2>>"$WORK/nfdump.log" || fail "nfdump -o nel"
nfdump -R "$WORK/nfcapd9" -o json >"$WORK/nfdump9.json" 2>>"$WORK/nfdump.log" ||
	fail "nfdump v9 failed: $(cat "$WORK/nfdump.log")"
tshark -r "$WORK/tshark.pcap" -d "udp.port==$p_tshark,cflow" -T json >"$WORK/tshark.json" \
	2>"$WORK/tshark.log" || fail "tshark: $(cat "$WORK/tshark.log")"

[ -z "${XF_KEEP:-}" ] || cp -r "$WORK" "$XF_KEEP"
NAT_MODE=$NAT_MODE python3 "$abs_top_srcdir/tests/integration/nat_events.py" "$WORK" "$b"
