#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The daemon (not --check-config) facing bad configuration, an interface
# that does not exist yet, and what it exposes once running:
#  1. exits 1 before touching anything, naming FILE:LINE for an unknown
#     key, a wrong type, an out-of-range value, a collector name that does
#     not resolve; naming the file for one that is missing, a directory,
#     unreadable (as uid 65534), writable by group or others, or owned by
#     another user;
#  2. --interface naming an interface that does not exist: it warns, keeps
#     running, and captures the interface once it appears (exact counts);
#  3. running: no listening socket, effective/permitted/bounding
#     capabilities exactly cap_net_admin, nothing pinned in /sys/fs/bpf,
#     its /proc fd directory closed to others.
XF_TEST=cs
source "$(dirname "$0")/faultlib.sh"
need_root
need_cmd ss setpriv
[ -x "$XLATFLOWD" ] || fail "$XLATFLOWD not built"

# --- 1. bad configuration ---------------------------------------------------
C=$(ns_add cfg)   # no resolver reachable, nothing to capture
cd "$WORK"
printf 'interfaces = { include = [ "vb" ]; };\nidle_timout = 5;\n' >unknown.conf
printf 'interfaces = { include = [ "vb" ]; };\n\nidle_timeout = "5";\n' >type.conf
printf '# range\nidle_timeout = 0;\n' >range.conf
printf 'interfaces = { include = [ "vb" ]; };\ncollectors = (\n  { url = "udp://no-such-host.invalid:4739"; }\n);\n' >resolve.conf
chmod 600 ./*.conf
cp unknown.conf world.conf && chmod 666 world.conf
cp unknown.conf group.conf && chmod 620 group.conf
cp unknown.conf owner.conf && chmod 600 owner.conf && chown 65534 owner.conf
cp range.conf noread.conf && chown 65534 noread.conf && chmod 000 noread.conf
mkdir dir.conf

bad() { # NAME EXPECTED-STDERR [RUNNER...]
	local name=$1 want=$2 rc=0
	shift 2
	timeout 30 ip netns exec "$C" "$@" "$XLATFLOWD" --foreground --config "$WORK/$name" \
		--nat-hook off >"$WORK/bad.out" 2>&1 || rc=$?
	if [ $rc -ne 1 ] || [ "$(cat "$WORK/bad.out")" != "$want" ]; then
		fail "$name: exit $rc, output '$(cat "$WORK/bad.out")', expected exit 1 and '$want'"
	fi
	echo "ok $name: $want"
}
bad unknown.conf "xlatflowd: $WORK/unknown.conf:2: unknown key 'idle_timout'"
bad type.conf "xlatflowd: $WORK/type.conf:3: 'idle_timeout' must be an integer, not a string"
bad range.conf "xlatflowd: $WORK/range.conf:2: 'idle_timeout' must be in 1..86400, not 0"
bad resolve.conf "xlatflowd: $WORK/resolve.conf:3: 'collectors[0].url': cannot resolve 'no-such-host.invalid': Temporary failure in name resolution"
bad missing.conf "xlatflowd: cannot read $WORK/missing.conf: No such file or directory"
bad dir.conf "xlatflowd: cannot read $WORK/dir.conf: not a regular file"
bad world.conf "xlatflowd: refusing $WORK/world.conf: writable by group or others (mode 0666); fix with chmod go-w $WORK/world.conf"
bad group.conf "xlatflowd: refusing $WORK/group.conf: writable by group or others (mode 0620); fix with chmod go-w $WORK/group.conf"
bad owner.conf "xlatflowd: refusing $WORK/owner.conf: owned by uid 65534, not by root or the current user (uid 0)"
chmod 755 "$WORK"
bad noread.conf "xlatflowd: cannot read $WORK/noread.conf: Permission denied" \
	setpriv --reuid=65534 --regid=65534 --clear-groups
cd /

# --- 2. an interface that is not there yet -----------------------------------
A=$(ns_add a)
B=$(ns_add b)
ls -a /sys/fs/bpf >"$WORK/bpffs.before" 2>/dev/null || true
port=$(free_port)
start_xfc xfc tcp "$port"
start_xlatflowd "$B" --interface late0 --collector "tcp://127.0.0.1:$port" --idle-timeout 1 \
	--active-timeout 60 --drain-interval 100 --nat-hook off
wait_log "connected" 10
grep -q "no interface matches" "$WORK/xlatflowd.log" ||
	fail "no warning that nothing matches --interface late0"
sleep 1
kill -0 "$XLATFLOWD_PID" || fail "xlatflowd exited without its interface"
ip link add va netns "$A" type veth peer name late0 netns "$B"
ip -n "$A" link set va up
ip -n "$B" link set late0 up
ip -n "$A" addr add 198.18.0.1/24 dev va
ip -n "$B" addr add 198.18.0.2/24 dev late0
ip netns exec "$B" nft add table inet xfcs
ip netns exec "$B" nft add chain inet xfcs pre '{ type filter hook prerouting priority -300; }'
ip netns exec "$B" nft add rule inet xfcs pre udp dport 5001 drop
wait_log "interface late0 (index [0-9]*) monitored" 10
ip netns exec "$A" ping -c1 -W2 198.18.0.2 >/dev/null
send_flows "$A" --dst 198.18.0.2 --dport 5001 --flows 5 --packets 7 --payload 10 >/dev/null
sleep 2.5

# --- 3. what the running daemon exposes ---------------------------------------
pid=$XLATFLOWD_PID
listening=$(ip netns exec "$B" ss -lntupwH | grep "pid=$pid," || true)
[ -z "$listening" ] || fail "listening sockets: $listening"
echo "ok no listening socket"
for f in CapEff CapPrm CapBnd; do
	v=$(awk -v f="$f:" '$1 == f {print $2}' "/proc/$pid/status")
	[ "$v" = 0000000000001000 ] || fail "$f = $v, expected cap_net_admin only (0000000000001000)"
done
v=$(awk '$1 == "CapInh:" {print $2}' "/proc/$pid/status")
[ "$v" = 0000000000000000 ] || fail "CapInh = $v"
v=$(awk '$1 == "CapAmb:" {print $2}' "/proc/$pid/status")
[ "$v" = 0000000000000000 ] || fail "CapAmb = $v"
echo "ok capabilities: cap_net_admin only"
ls -a /sys/fs/bpf >"$WORK/bpffs.after" 2>/dev/null || true
diff -u "$WORK/bpffs.before" "$WORK/bpffs.after" || fail "something pinned in /sys/fs/bpf"
[ "$(stat -c %a "/proc/$pid/fd")" = 500 ] || fail "/proc/$pid/fd mode $(stat -c %a "/proc/$pid/fd")"
echo "ok nothing pinned; map fds reachable only through the process (mode 500 /proc/PID/fd)"

stop_xlatflowd
stop_xfc xfc
acct "$WORK/xfc.json" --src 198.18.0.1 --dport 5001 --flows 5 --packets 7 --payload 10 ||
	fail "flows on the late interface"
echo "PASS: config_security"
