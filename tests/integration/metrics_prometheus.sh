#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The metrics endpoint against the real thing: xlatflowd in namespace b
# serves metrics_listen on b's loopback, Debian's prometheus scrapes it
# every second, and prometheus's query API must return exactly the
# daemon's counters, which must in turn be exactly what the collectors
# received: data records at xf-collect (TCP) and nfcapd (UDP), packets
# and bytes by interface and direction, flows by end reason, the final
# options records' totals, and (nat_hook "conntrack", one nftables DNAT)
# the translations conntrack -L lists. promtool check metrics finds nothing to say
# about the endpoint's text, and promtool check rules accepts the alert
# rules in templates/prometheus-alerts.yml. /readyz is 503 (with the
# reason) until the watched interface appears, then 200; /healthz 200.
XF_TEST=mp
source "$(dirname "$0")/lib.sh"
need_root
need_cmd nfcapd nfdump prometheus promtool python3 ping nft conntrack
[ -x "$XLATFLOWD" ] || fail "$XLATFLOWD not built"

promtool check rules "$abs_top_srcdir/templates/prometheus-alerts.yml" >"$WORK/rules.log" 2>&1 ||
	fail "promtool check rules: $(cat "$WORK/rules.log")"
echo "ok promtool check rules templates/prometheus-alerts.yml"

a=$(ns_add a)
b=$(ns_add b)
nport=$(free_port)
tport=$(free_port)
mport=$(free_port)
pport=$(free_port)

# http PATH [--until REGEX...]: "STATUS BODY" from the daemon's endpoint,
# inside b; with --until, asked again (10 s at most) until every REGEX
# matches a line of the body.
cat >"$WORK/get_endpoint.py" <<'PY'
import re, sys, time, urllib.request, urllib.error
url, want = sys.argv[1], sys.argv[3:] if sys.argv[2:3] == ["--until"] else []
deadline = time.time() + 10
while True:
    try:
        r = urllib.request.urlopen(url, timeout=5)
        code, body = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        code, body = e.code, e.read().decode()
    if all(re.search(w, body, re.M) for w in want) or time.time() > deadline:
        break
    time.sleep(0.05)
sys.stdout.write("%d %s" % (code, body))
PY
http() {
	local path=$1
	shift
	ip netns exec "$b" python3 "$WORK/get_endpoint.py" "http://127.0.0.1:$mport$path" "$@"
}

# The daemon starts before its interface exists: not ready until it does.
start_nfcapd "$b" "$nport"
# No template or options refresh during the test: the exported messages and
# bytes stay put between the endpoint's answer and prometheus's scrape.
echo 'template_refresh = 3600;' >"$WORK/xlatflowd.conf"
start_xlatflowd "$b" --config "$WORK/xlatflowd.conf" --interface vb --collector "udp://127.0.0.1:$nport" \
	--collector "tcp://127.0.0.1:$tport" --idle-timeout 1 --drain-interval 100 \
	--nat-hook conntrack --metrics-listen "127.0.0.1:$mport"
r=$(http /readyz)
[ "$r" = "503 the programs are attached to no interface" ] || fail "/readyz before vb: '$r'"
r=$(http /healthz)
[ "$r" = "200 ok" ] || fail "/healthz: '$r'"
r=$(http /nothing)
[ "${r%% *}" = 404 ] || fail "/nothing: '$r'"
# a request with a body is read to its end and refused
r=$(ip netns exec "$b" python3 -c '
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], data=b"x" * 100000, timeout=5)
except urllib.error.HTTPError as e:
    print(e.code, e.headers["Allow"])' "http://127.0.0.1:$mport/metrics")
[ "$r" = "405 GET, HEAD" ] || fail "POST /metrics: '$r'"
echo "ok /readyz 503 without an interface, /healthz 200, 404 elsewhere, POST 405"

# A second daemon on the same port stops at once, naming the address, before
# it loads or attaches anything (exit 1).
rc=0
ip netns exec "$b" "$XLATFLOWD" --foreground --interface vb --collector "udp://127.0.0.1:$nport" \
	--nat-hook off --metrics-listen "127.0.0.1:$mport" >"$WORK/second.out" 2>&1 || rc=$?
[ $rc = 1 ] || fail "a second daemon on the metrics port exited $rc: $(cat "$WORK/second.out")"
grep -q "^metrics_listen 127.0.0.1:$mport: bind: Address already in use$" "$WORK/second.out" ||
	fail "second daemon: $(cat "$WORK/second.out")"
grep -q "NAT enrichment\|capture" "$WORK/second.out" &&
	fail "the second daemon got as far as loading: $(cat "$WORK/second.out")"
echo "ok a second daemon on the same metrics port: exit 1, bind: Address already in use"

ip netns exec "$b" "$abs_top_builddir/tests/tools/xf-collect" --tcp "$tport" --bind 127.0.0.1 \
	--out "$WORK/xfc.json" 2>"$WORK/xf-collect.log" &
XFC_PID=$!
XF_PIDS+=("$XFC_PID")

# No IPv6 on the pair: neighbour discovery and MLD would add packets nobody sent.
for ns in "$a" "$b"; do
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1
done
veth_pair "$a" va "$b" vb
ip -n "$a" addr add 198.18.0.1/24 dev va
ip -n "$b" addr add 198.18.0.2/24 dev vb
# and no ARP either (not IP, but counted, and it comes when it likes)
ip -n "$a" neigh replace 198.18.0.2 lladdr "$(ip netns exec "$b" cat /sys/class/net/vb/address)" \
	dev va nud permanent
# 198.18.0.99:5001 is a "Service" b DNATs to itself (198.18.0.2:5001)
ip -n "$a" neigh replace 198.18.0.99 lladdr "$(ip netns exec "$b" cat /sys/class/net/vb/address)" \
	dev va nud permanent
ip netns exec "$b" nft -f - <<'NFT'
table ip xfmetrics {
	chain pre {
		type nat hook prerouting priority -100;
		ip daddr 198.18.0.99 udp dport 5001 dnat to 198.18.0.2:5001
	}
}
NFT
ip -n "$b" neigh replace 198.18.0.1 lladdr "$(ip netns exec "$a" cat /sys/class/net/va/address)" \
	dev vb nud permanent
vb_index=$(ip netns exec "$b" cat /sys/class/net/vb/ifindex)
r=$(http /readyz --until '^ready$')
[ "$r" = "200 ready" ] || fail "/readyz after vb appeared: '$r'"
echo "ok /readyz 200 once vb is attached"
# the TCP collector connects on its back-off (1 s after the refused first try)
http /metrics --until '^xlatflow_collector_up\{collector="tcp://.*\} 1$' |
	grep -q '^xlatflow_collector_up{collector="tcp://.*} 1$' || fail "xlatflowd did not connect to xf-collect"

# Known traffic: 10 UDP datagrams of 100 bytes into b (through the DNAT), 5
# pings and their replies.
ip netns exec "$b" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("198.18.0.2", 5001))
while True: s.recv(2048)' &
XF_PIDS+=($!)
sleep 0.3
ip netns exec "$a" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("198.18.0.1", 40001))
for _ in range(10): s.sendto(b"u" * 100, ("198.18.0.99", 5001))'
ip netns exec "$a" ping -q -c 5 -i 0.2 -s 56 198.18.0.2 >/dev/null || fail "ping"

# Idle timeout 1 s: wait until the three flows left the cache.
http /metrics --until '^xlatflow_flow_cache_flows 0$' \
	'^xlatflow_flows_exported_total\{reason="idle"\} 3$' >"$WORK/metrics.txt"
grep -q '^200 ' "$WORK/metrics.txt" || fail "/metrics: $(head -c 200 "$WORK/metrics.txt")"
sed -i '1s/^200 //' "$WORK/metrics.txt"
grep -q '^xlatflow_flows_exported_total{reason="idle"} 3$' "$WORK/metrics.txt" ||
	fail "the three flows were not exported: $(grep -e flows_exported -e cache_flows "$WORK/metrics.txt")"
promtool check metrics <"$WORK/metrics.txt" >"$WORK/promtool.log" 2>&1 ||
	fail "promtool check metrics: $(cat "$WORK/promtool.log")"
[ ! -s "$WORK/promtool.log" ] || fail "promtool check metrics: $(cat "$WORK/promtool.log")"
echo "ok promtool check metrics: clean ($(grep -c '^xlatflow_' "$WORK/metrics.txt") samples)"
scraped_after=$(date +%s.%N)
# conntrack's own list: the one DNATed connection (the pings are not translated)
ip netns exec "$b" conntrack -L 2>/dev/null >"$WORK/conntrack.txt"
dnat=$(grep -c 'dst=198.18.0.99 .*dport=5001' "$WORK/conntrack.txt" || true)
[ "$dnat" = 1 ] || fail "conntrack lists $dnat DNATed connections: $(cat "$WORK/conntrack.txt")"

# Prometheus starts only now: every sample it holds is from after the traffic.
cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: xlatflow
    static_configs:
      - targets: ['127.0.0.1:$mport']
EOF
ip netns exec "$b" prometheus --config.file="$WORK/prometheus.yml" \
	--storage.tsdb.path="$WORK/tsdb" --web.listen-address="127.0.0.1:$pport" \
	--log.level=warn >"$WORK/prometheus.log" 2>&1 &
XF_PIDS+=($!)

# Prometheus's view: every xlatflow_ series of its latest scrape, once a
# scrape after $scraped_after is in.
ip netns exec "$b" python3 - "http://127.0.0.1:$pport" "$scraped_after" "$WORK/prom.json" <<'PY' ||
import json, sys, time, urllib.parse, urllib.request
base, after, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
def query(q):
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": q})
    return json.load(urllib.request.urlopen(url, timeout=5))["data"]["result"]
deadline = time.time() + 20
while True:
    try:
        ts = query("timestamp(xlatflow_build_info)")
        if ts and float(ts[0]["value"][1]) > after:
            break
    except OSError:
        pass
    if time.time() > deadline:
        sys.exit("prometheus has no scrape of the endpoint")
    time.sleep(0.2)
res = query('{__name__=~"xlatflow_.+"}')
json.dump(res, open(out, "w"))
PY
	fail "prometheus: $(tail -n 5 "$WORK/prometheus.log")"

# Prometheus's values equal the daemon's own text, series by series. The
# drain timings move every cycle, and the conntrack source re-reports every
# translated connection every 10 s (its refresh dump); everything else is
# at rest now.
python3 - "$WORK/metrics.txt" "$WORK/prom.json" <<'PY'
import json, re, sys
text, prom = open(sys.argv[1]).read(), json.load(open(sys.argv[2]))
skip = ("xlatflow_drain_", "xlatflow_nat_translations_total")
def key(name, labels):
    return name + "{" + ",".join('%s="%s"' % kv for kv in sorted(labels.items())) + "}"
mine = {}
for line in text.splitlines():
    if line.startswith("#") or line.startswith(skip):
        continue
    m = re.match(r'^([a-z_]+)(?:\{(.*)\})? (\S+)$', line)
    labels = dict(re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
    mine[key(m.group(1), labels)] = float(m.group(3))
theirs = {}
for r in prom:
    labels = dict(r["metric"])
    name = labels.pop("__name__")
    labels.pop("job", None)
    labels.pop("instance", None)
    if name.startswith(skip):
        continue
    theirs[key(name, labels)] = float(r["value"][1])
fails = [k for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k)]
for k in fails:
    print("FAIL %s: endpoint %s, prometheus %s" % (k, mine.get(k), theirs.get(k)))
if fails or len(mine) < 60:
    sys.exit(1)
print("ok prometheus returns the endpoint's %d series exactly" % len(mine))
PY

# The collectors' side: stop everything, then decode what they received.
stop_xlatflowd
stop_nfcapd
sleep 0.3
kill -TERM "$XFC_PID"
wait "$XFC_PID" 2>/dev/null || true
nfdump_json "$WORK/nfcapd.json"

python3 - "$WORK/prom.json" "$WORK/xfc.json" "$WORK/nfcapd.json" "$vb_index" \
	"$("$XLATFLOWD" --version)" "$dnat" <<'PY'
import json, sys
prom, xfc_path, nf_path, vb, version, dnat = sys.argv[1:7]
prom = json.load(open(prom))
recs = [json.loads(l) for l in open(xfc_path) if l.strip()]
data = [r for r in recs if r.get("set") == "data" and "packetDeltaCount" in r]
opts = [r for r in recs if r.get("set") == "options"]
nfdump = json.load(open(nf_path))
fails = []
def p(name, **labels):
    got = [r for r in prom if r["metric"]["__name__"] == name and
           all(r["metric"].get(k) == v for k, v in labels.items())]
    if len(got) != 1:
        fails.append("%s%s: %d series in prometheus" % (name, labels, len(got)))
        return None
    return int(float(got[0]["value"][1]))
def eq(what, got, want):
    if got != want:
        fails.append("%s: prometheus %s, collectors %s" % (what, got, want))
    else:
        print("ok %s = %s" % (what, got))
# the known traffic: 10 x (100 + 28) UDP and 5 x 84 ICMP echo in; 5 x 84 replies out
sums = {}
for r in data:
    d = r["flowDirection"]
    ifx = r["ingressInterface"] if d == 0 else r["egressInterface"]
    s = sums.setdefault((ifx, d), [0, 0])
    s[0] += r["packetDeltaCount"]
    s[1] += r["octetDeltaCount"]
eq("records at xf-collect (TCP)", p("xlatflow_collector_exported_records_total", transport="tcp"), len(data))
eq("records at nfcapd (UDP)", p("xlatflow_collector_exported_records_total", transport="udp"), len(nfdump))
eq("records by flowEndReason 1 (idle)", p("xlatflow_flows_exported_total", reason="idle"),
   sum(1 for r in data if r["flowEndReason"] == 1))
for reason in ("active", "end_of_flow", "forced", "lack_of_resources"):
    eq("records exported, reason " + reason, p("xlatflow_flows_exported_total", reason=reason), 0)
for d, name, want in ((0, "ingress", (15, 1700)), (1, "egress", (5, 420))):
    got = sums.get((int(vb), d), [0, 0])
    if tuple(got) != want:
        fails.append("xf-collect %s sums %s, traffic sent %s" % (name, got, want))
    eq("vb %s packets" % name, p("xlatflow_interface_packets_total", interface="vb", direction=name), got[0])
    eq("vb %s bytes" % name, p("xlatflow_interface_bytes_total", interface="vb", direction=name), got[1])
eq("vb attached", p("xlatflow_interface_attached", interface="vb", ifindex=vb), 1)
total = sum(r["packetDeltaCount"] for r in data)
eq("packets observed (sum of the exported records)", p("xlatflow_observed_packets_total"), total)
psamp = [r for r in opts if "selectorIdTotalPktsObserved" in r]
eq("packets observed (final options record)", p("xlatflow_observed_packets_total"),
   psamp[-1]["selectorIdTotalPktsObserved"] if psamp else None)
eq("packets selected (final options record)", p("xlatflow_selected_packets_total"),
   psamp[-1]["selectorIdTotalPktsSelected"] if psamp else None)
meter = [r for r in opts if "droppedPacketTotalCount" in r]
eq("packets ignored (final options record)", p("xlatflow_ignored_packets_total"),
   meter[-1]["ignoredPacketTotalCount"] if meter else None)
eq("packets lost (final options record)", p("xlatflow_lost_packets_total"),
   meter[-1]["droppedPacketTotalCount"] if meter else None)
exp = [r for r in opts if "notSentFlowTotalCount" in r]
eq("records not sent to xf-collect (final options record)",
   p("xlatflow_collector_not_sent_records_total", transport="tcp"),
   exp[-1]["notSentFlowTotalCount"] if exp else None)
eq("records exported to xf-collect (final options record)",
   p("xlatflow_collector_exported_records_total", transport="tcp"),
   exp[-1]["exportedFlowRecordTotalCount"] if exp else None)
eq("collector up (tcp)", p("xlatflow_collector_up", transport="tcp"), 1)
eq("collector up (udp)", p("xlatflow_collector_up", transport="udp"), 1)
eq("tcp connections", p("xlatflow_collector_connections_total", transport="tcp"), 1)
eq("tcp reconnects", p("xlatflow_collector_reconnects_total", transport="tcp"), 0)
eq("cache flows", p("xlatflow_flow_cache_flows"), 0)
eq("build info " + version.split()[-1], p("xlatflow_build_info", version=version.split()[-1]), 1)
eq("nat source conntrack", p("xlatflow_nat_source_info", source="conntrack"), 1)
eq("translations held (conntrack -L: DNATed connections)", p("xlatflow_translation_table_entries"), int(dnat))
n = p("xlatflow_nat_translations_total")
if n is None or n < int(dnat):
    fails.append("translations delivered: %s, fewer than conntrack's %s" % (n, dnat))
else:
    print("ok translations delivered: %d (the NEW event and the refresh dumps since)" % n)
for name in ("xlatflow_nat_lost_translations_total", "xlatflow_conntrack_lost_events_total",
             "xlatflow_conntrack_overruns_total", "xlatflow_translation_table_evicted_total"):
    eq(name, p(name), 0)
udp = [r for r in data if r.get("protocolIdentifier") == 17]
eq("the UDP flow's post-NAT destination at xf-collect",
   "198.18.0.2:5001", "%s:%s" % (udp[0].get("postNATDestinationIPv4Address"),
                                 udp[0].get("postNAPTDestinationTransportPort")) if len(udp) == 1 else udp)
eq("non-IP packets (no ARP: permanent neighbours)", p("xlatflow_non_ip_packets_total"), 0)
for f in fails:
    print("FAIL", f)
sys.exit(1 if fails else 0)
PY
