#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Runs inside the container that systemd-unit.sh boots (systemd is PID 1):
# installs the .deb, runs xlatflowd through its own unit with all of the
# unit's sandboxing, and checks start, readiness, the capabilities left after
# setup, hot-plugged interfaces, reload (good and bad), stop, and the exact
# packet counts nfcapd decoded. Results go to /xftest (bind-mounted from the
# host); the container powers off at the end.
. /xftest/tests/lib.sh

out=/xftest/out
exec > "$out/inner.log" 2>&1
on_exit "journalctl -b --no-pager -o short-monotonic -u xlatflowd > '$out/journal.txt' 2>&1"

deb=$(ls /xfdeb/xlatflow_*.deb | head -n 1)
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" > "$out/dpkg.log" 2>&1
check_eq "dpkg -i under systemd" 0 "$?"
check_eq "installed disabled" disabled "$(systemctl is-enabled xlatflowd 2>&1)"
check_eq "not started by the install" inactive "$(systemctl is-active xlatflowd 2>&1)"

# Interfaces xfu*: xfu0 exists at start, xfu2 appears while running.
veth() {	# veth NS DEV PEER NET
	ip netns add "$1"
	ip link add "$2" type veth peer name "$3" netns "$1"
	sysctl -q -w "net.ipv6.conf.$2.disable_ipv6=1"
	ip netns exec "$1" sysctl -q -w "net.ipv6.conf.$3.disable_ipv6=1"
	ip addr add "$4.1/24" dev "$2"
	ip link set "$2" up
	ip -n "$1" addr add "$4.2/24" dev "$3"
	ip -n "$1" link set "$3" up
	ip -n "$1" link set lo up
}
ip link set lo up
veth xfp1 xfu0 xfv0 198.18.1

port=4739
mkdir -p /var/tmp/xfflows
nfcapd -w /var/tmp/xfflows -b 127.0.0.1 -p $port -t 3600 > "$out/nfcapd.log" 2>&1 &
nfcapd_pid=$!

conf=/etc/xlatflow/xlatflowd.conf
cat > "$conf" <<CONF
interfaces = { include = [ "xfu*" ]; };
collectors = ( { url = "udp://127.0.0.1:$port"; } );
active_timeout = 300;
idle_timeout = 300;
nat_hook = "conntrack";
log_level = "debug";
metrics_listen = "127.0.0.1:9477";
CONF
chmod 0640 "$conf"

systemctl start xlatflowd
check_eq "systemctl start xlatflowd (Type=notify: returns when READY=1)" 0 "$?"
check_eq "active after start" active "$(systemctl is-active xlatflowd)"
pid=$(systemctl show -P MainPID xlatflowd)
# CAP_NET_ADMIN is bit 12: the only capability left after setup.
check_eq "effective capabilities after setup" 0000000000001000 \
	"$(sed -n 's/^CapEff:\t//p' /proc/$pid/status)"
check_eq "permitted capabilities after setup" 0000000000001000 \
	"$(sed -n 's/^CapPrm:\t//p' /proc/$pid/status)"
check_eq "NoNewPrivs" 1 "$(sed -n 's/^NoNewPrivs:\t//p' /proc/$pid/status)"
check_eq "seccomp filter on" 2 "$(sed -n 's/^Seccomp:\t//p' /proc/$pid/status)"

attached() {	# attached DEV: both TC hooks carry a bpf filter
	for _ in $(seq 1 50); do
		tc filter show dev "$1" ingress | grep -q bpf &&
			tc filter show dev "$1" egress | grep -q bpf && return 0
		sleep 0.1
	done
	return 1
}
check "TC programs on xfu0" attached xfu0
ip netns exec xfp1 ping -q -c 5 -i 0.2 198.18.1.1 > /dev/null
check_eq "ping over xfu0" 0 "$?"

# The metrics endpoint through the unit's sandbox (RestrictAddressFamilies,
# the system call filter): it listens, answers the probes, and counts the
# five pings each way over xfu0 (drained every second).
endpoint() {	# endpoint PATH [REGEX...]: "STATUS BODY", asked until every REGEX matches (5 s)
	python3 - "http://127.0.0.1:9477$1" "$@" <<'PY'
import re, sys, time, urllib.request, urllib.error
url, want, deadline = sys.argv[1], sys.argv[3:], time.time() + 5
while True:
    try:
        r = urllib.request.urlopen(url, timeout=5)
        code, body = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        code, body = e.code, e.read().decode()
    except OSError as e:
        code, body = 0, str(e)
    if all(re.search(w, body, re.M) for w in want) or time.time() > deadline:
        break
    time.sleep(0.1)
sys.stdout.write("%d %s" % (code, body))
PY
}
check_eq "metrics endpoint: /healthz" "200 ok" "$(endpoint /healthz)"
check_eq "metrics endpoint: /readyz" "200 ready" "$(endpoint /readyz)"
pings=$(endpoint /metrics \
	'^xlatflow_interface_packets_total\{interface="xfu0",ifindex="\d+",direction="ingress"\} 5$' \
	'^xlatflow_interface_packets_total\{interface="xfu0",ifindex="\d+",direction="egress"\} 5$' |
	sed -n 's/^xlatflow_interface_packets_total{interface="xfu0",ifindex="[0-9]*",direction="\([a-z]*\)"} /\1 /p')
check_eq "metrics endpoint: pings over xfu0 by direction" "ingress 5
egress 5" "$pings"

# An interface that appears later: only CAP_NET_ADMIN is left to attach it.
veth xfp2 xfu2 xfv2 198.18.2
check "TC programs on hot-plugged xfu2" attached xfu2
ip netns exec xfp2 ping -q -c 3 -i 0.2 198.18.2.1 > /dev/null
check_eq "ping over xfu2" 0 "$?"

# Reload with a valid change (log level), then with a broken file.
sed -i 's/log_level = "debug"/log_level = "info"/' "$conf"
systemctl reload xlatflowd
check_eq "systemctl reload (valid file)" 0 "$?"
check_eq "same process after reload" "$pid" "$(systemctl show -P MainPID xlatflowd)"
cp "$conf" "$out/good.conf"
echo 'collectors = ( { url = "udp://127.0.0.1"; } );' >> "$conf"
systemctl reload xlatflowd
check_eq "systemctl reload (broken file) returns" 0 "$?"
check_eq "still active after a rejected reload" active "$(systemctl is-active xlatflowd)"
check_eq "same process after a rejected reload" "$pid" "$(systemctl show -P MainPID xlatflowd)"
check "rejection logged" sh -c "journalctl -b --no-pager -u xlatflowd | grep -q 'reload rejected'"
cp "$out/good.conf" "$conf"

systemctl stop xlatflowd
check_eq "systemctl stop" 0 "$?"
check_eq "stopped cleanly (Result)" success "$(systemctl show -P Result xlatflowd)"
check_eq "exit status 0" 0 "$(systemctl show -P ExecMainStatus xlatflowd)"
check "no TC filter left on xfu0" sh -c '! tc filter show dev xfu0 ingress | grep -q bpf'
sleep 0.5
stop_pid "$nfcapd_pid" TERM 10

flows=$(nfdump -R /var/tmp/xfflows -q -N -o 'fmt:%pr %sa %da %pkt %byt' 'proto icmp' |
	awk '{ key = $1 " " $2 " " $3; pkts[key] += $4; bytes[key] += $5 }
	     END { for (k in pkts) print k, pkts[k], bytes[k] }' | sort)
check_eq "nfdump: every ICMP packet on both interfaces, exactly once" \
"1 198.18.1.1 198.18.1.2 5 420
1 198.18.1.2 198.18.1.1 5 420
1 198.18.2.1 198.18.2.2 3 252
1 198.18.2.2 198.18.2.1 3 252" "$flows"

# What the sandbox denied would show up as errors or warnings in the journal;
# the one expected warning is the rejected reload.
warnings=$(journalctl -b --no-pager -o cat -p warning -u xlatflowd | grep -v 'reload rejected')
check_eq "no other warning or error in the journal" "" "$warnings"

# Restart=on-failure: a killed daemon comes back by itself after RestartSec.
systemctl start xlatflowd
pid=$(systemctl show -P MainPID xlatflowd)
kill -KILL "$pid"
newpid=$pid
for _ in $(seq 1 100); do
	newpid=$(systemctl show -P MainPID xlatflowd)
	[ "$newpid" != 0 ] && [ "$newpid" != "$pid" ] &&
		[ "$(systemctl is-active xlatflowd)" = active ] && break
	sleep 0.1
done
check "restarted after SIGKILL (pid $pid -> $newpid)" \
	[ "$newpid" != 0 ] && [ "$newpid" != "$pid" ]
check_eq "active after the restart" active "$(systemctl is-active xlatflowd)"
check "TC programs on xfu0 after the restart" attached xfu0
# A killed daemon cannot remove its TC filters: say how many are left over.
echo "# bpf filters on xfu0 ingress after kill + restart:" \
	"$(tc filter show dev xfu0 ingress | grep -c ' handle ')"
systemctl stop xlatflowd
echo "# bpf filters on xfu0 ingress after the stop:" \
	"$(tc filter show dev xfu0 ingress | grep -c ' handle ')"

# The spool of a TCP collector (spool = true) under the sandbox: the unit's
# StateDirectory is the one place it may write. The collector is down: the
# flows of a ping are spooled in /var/lib/xlatflow/spool; once a sink
# listens, they are sent and the spool's position file is written.
cp "$conf" "$out/good.conf"
cat > "$conf" <<CONF
interfaces = { include = [ "xfu*" ]; };
collectors = ( { url = "tcp://127.0.0.1:4740"; spool = true; } );
idle_timeout = 1;
drain_interval_ms = 100;
nat_hook = "conntrack";
CONF
chmod 0640 "$conf"
systemctl start xlatflowd
check_eq "active with a spooled TCP collector" active "$(systemctl is-active xlatflowd)"
spool=/var/lib/xlatflow/spool/tcp-127.0.0.1:4740
ip netns exec xfp1 ping -q -c 3 -i 0.2 198.18.1.1 > /dev/null
spooled() {	# the flows reached a segment file
	for _ in $(seq 1 100); do
		[ "$(cat "$spool"/*.seg 2>/dev/null | wc -c)" -gt 16 ] && return 0
		sleep 0.1
	done
	return 1
}
check "flows spooled in $spool while the collector is down" spooled
check_eq "StateDirectory mode" "700 root:root" "$(stat -c '%a %U:%G' /var/lib/xlatflow)"
check_eq "spool directory mode" "700" "$(stat -c '%a' "$spool")"
python3 -c '
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 4740)); s.listen(1); s.settimeout(20)
c, _ = s.accept(); c.settimeout(3)
try:
    while c.recv(65536): pass
except socket.timeout:
    pass
' > "$out/spool-sink.log" 2>&1 &
sink_pid=$!
sent() {	# the position file appears once a message was taken by the kernel
	for _ in $(seq 1 150); do
		[ -s "$spool/position" ] && return 0
		sleep 0.1
	done
	return 1
}
check "spooled flows sent after the collector came up (position written)" sent
systemctl stop xlatflowd
wait "$sink_pid" 2>/dev/null
check "no spool error in the journal" \
	sh -c "! journalctl -b --no-pager -o cat -u xlatflowd | grep -i 'spool.*\(error\|denied\|read-only\|cannot\)'"
cp "$out/good.conf" "$conf"

# Upgrade of an enabled, running service whose conffile was edited: the edit
# stays (dpkg keeps a changed conffile when the package's did not change),
# the daemon is restarted with the new binary, and stays enabled.
up=$(ls /xfdeb/upgrade/xlatflow_*.deb 2>/dev/null | head -n 1)
if [ -n "$up" ]; then
	systemctl enable --now xlatflowd 2>/dev/null
	check_eq "enabled before the upgrade" enabled "$(systemctl is-enabled xlatflowd)"
	pid=$(systemctl show -P MainPID xlatflowd)
	echo '# local edit' >> "$conf"
	DEBIAN_FRONTEND=noninteractive dpkg -i "$up" > "$out/upgrade.log" 2>&1
	check_eq "dpkg -i (upgrade)" 0 "$?"
	check_eq "upgraded version" "$(dpkg-deb -f "$up" Version)" \
		"$(dpkg-query -W -f='${Version}' xlatflow)"
	check_eq "edited conffile kept" "# local edit" "$(tail -n 1 "$conf")"
	check_eq "conffile mode kept" "640 root:root" "$(stat -c '%a %U:%G' "$conf")"
	check_eq "still enabled after the upgrade" enabled "$(systemctl is-enabled xlatflowd)"
	check_eq "active after the upgrade" active "$(systemctl is-active xlatflowd)"
	newpid=$(systemctl show -P MainPID xlatflowd)
	check "restarted by the upgrade (pid $pid -> $newpid)" [ "$newpid" != "$pid" ]
else
	fail "no upgrade package in /xfdeb/upgrade"
fi

dpkg --purge xlatflow > "$out/purge.log" 2>&1
check_eq "dpkg --purge" 0 "$?"
check_eq "purge stopped the service" inactive "$(systemctl is-active xlatflowd 2>&1)"
check "purge removed /etc/xlatflow" [ ! -e /etc/xlatflow ]
check "purge removed /var/lib/xlatflow (the spools)" [ ! -e /var/lib/xlatflow ]
check "purge removed the enablement link" \
	[ ! -e /etc/systemd/system/multi-user.target.wants/xlatflowd.service ]
finish_status=0
[ "$xf_failures" -eq 0 ] || finish_status=1
echo "$((xf_checks - xf_failures)) passed, $xf_failures failed" > "$out/result"
