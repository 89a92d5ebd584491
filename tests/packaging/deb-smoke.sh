#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Build the .deb from the dist tarball, install it on this machine, check what
# it installed, run the installed daemon against a local nfcapd with traffic
# in network namespaces, assert the exact packet counts nfdump decodes, then
# purge the package and check nothing is left behind.
#
# Needs root (dpkg, netns). Network: two namespaces joined by a veth pair,
# 198.18.0.1/24 and 198.18.0.2/24; the collector listens on the loopback of
# the daemon's namespace. Nothing leaves the machine.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd dpkg apt-get dpkg-buildpackage ip nfcapd nfdump ping tc
if dpkg-query -W -f='${Status}' xlatflow 2>/dev/null | grep -q 'ok installed'; then
	skip "xlatflow is already installed here; purge it first (apt-get purge xlatflow)"
fi

deb=$(built_deb) || { fail "build-deb.sh"; finish; }
pass "build-deb.sh built $(basename "$deb")"
version=$(source_version)
check_eq "package version is configure's" "$version-1" "$(dpkg-deb -f "$deb" Version)"
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libbpf1 libfixbuf9 libconfig9 libmnl0 libsystemd0 libglib2.0-0; do
	case ", $depends," in
	*", $lib "*|*", $lib,"*) pass "Depends (from shlibs) has $lib" ;;
	*) fail "Depends lacks $lib: $depends" ;;
	esac
done
check_eq "conffiles" /etc/xlatflow/xlatflowd.conf \
	"$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)"

# --- install -----------------------------------------------------------------
on_exit "apt-get purge -y -q xlatflow >/dev/null 2>&1"
if DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$deb" \
	> "$XF_PKG_OUT/apt-install.log" 2>&1; then
	pass "apt-get install ./$(basename "$deb")"
else
	fail "apt-get install failed:"
	sed 's/^/#   /' "$XF_PKG_OUT/apt-install.log"
	finish
fi

expected="/etc/xlatflow/xlatflowd.conf
/lib/systemd/system/xlatflowd.service
/usr/sbin/xlatflowd
/usr/share/doc/xlatflow/architecture.md
/usr/share/doc/xlatflow/changelog.Debian.gz
/usr/share/doc/xlatflow/collectors.md
/usr/share/doc/xlatflow/copyright
/usr/share/doc/xlatflow/datapath.md
/usr/share/doc/xlatflow/ipfix.md
/usr/share/doc/xlatflow/kubernetes.md
/usr/share/doc/xlatflow/metrics.md
/usr/share/doc/xlatflow/nat-events.md
/usr/share/doc/xlatflow/nat.md
/usr/share/doc/xlatflow/operation.md
/usr/share/doc/xlatflow/scaling.md
/usr/share/doc/xlatflow/security.md
/usr/share/lintian/overrides/xlatflow
/usr/share/man/man5/xlatflowd.conf.5.gz
/usr/share/man/man8/xlatflowd.8.gz
/usr/share/xlatflow/templates/nfdump-format.txt
/usr/share/xlatflow/templates/nprobe-custom-fields.txt
/usr/share/xlatflow/templates/pmacct-postgresql/nfacctd.conf
/usr/share/xlatflow/templates/pmacct-postgresql/schema.sql
/usr/share/xlatflow/templates/pmacct-primitives.lst
/usr/share/xlatflow/templates/prometheus-alerts.yml
/usr/share/xlatflow/templates/xlatflow-ies.txt"
actual=$(dpkg -L xlatflow | while read -r f; do [ -d "$f" ] || echo "$f"; done | sort)
if [ "$actual" = "$expected" ]; then
	pass "dpkg -L lists exactly the expected files"
else
	fail "installed file list differs (- expected, + actual):"
	printf '%s\n' "$expected" > "$XF_PKG_OUT/deb-expected.txt"
	printf '%s\n' "$actual" | diff -u "$XF_PKG_OUT/deb-expected.txt" - | sed 's/^/#   /'
fi
check_eq "config mode and owner" "640 root:root" \
	"$(stat -c '%a %U:%G' /etc/xlatflow/xlatflowd.conf)"
check_eq "daemon mode and owner" "755 root:root" "$(stat -c '%a %U:%G' /usr/sbin/xlatflowd)"
check "daemon's libraries all resolve" sh -c '! ldd /usr/sbin/xlatflowd | grep -q "not found"'
check "unit is the tree's" cmp -s /lib/systemd/system/xlatflowd.service \
	"$XF_SRCDIR/etc/xlatflowd.service"
if command -v systemd-analyze >/dev/null 2>&1; then
	# The installed unit against the installed daemon and man pages: no stand-ins.
	# (it also checks Documentation=man:... where man is installed)
	man_opt=
	command -v man >/dev/null 2>&1 || man_opt=--man=no
	out=$(systemd-analyze verify $man_opt xlatflowd.service 2>&1)
	check_eq "systemd-analyze verify on the installed unit" "" "$out"
fi
# Not enabled, not started: the shipped config cannot know the interfaces.
if [ -d /run/systemd/system ]; then
	check_eq "unit not enabled on install" disabled "$(systemctl is-enabled xlatflowd 2>&1)"
fi
if command -v man >/dev/null 2>&1; then
	check "man page xlatflowd(8) renders" \
		sh -c 'MANWIDTH=80 man 8 xlatflowd 2>/dev/null | grep -q "IPFIX flow exporter"'
else
	echo "# man not installed (man-db): the installed man page is not rendered"
fi

# --- the installed daemon ------------------------------------------------------
out=$(/usr/sbin/xlatflowd --version 2>&1)
rc=$?
check_eq "xlatflowd --version exits 0" 0 "$rc"
case $out in
*"$version"*) pass "xlatflowd --version prints $version" ;;
*) fail "xlatflowd --version prints '$out', not $version" ;;
esac

# Every option --help lists is documented in xlatflowd(8) (roff writes the
# dashes as \-).
undocumented=
for opt in $(/usr/sbin/xlatflowd --help 2>&1 | grep -o -- '--[a-z][a-z-]*' | sort -u); do
	roff=$(printf '%s' "$opt" | sed 's/-/\\\\-/g')
	zcat /usr/share/man/man8/xlatflowd.8.gz | grep -q -- "$roff" || undocumented="$undocumented $opt"
done
check_eq "every --help option is in xlatflowd(8)" "" "$undocumented"

out=$(/usr/sbin/xlatflowd --check-config 2>&1)
rc=$?
check_eq "xlatflowd --check-config on the shipped config exits 0" 0 "$rc"
[ "$rc" -eq 0 ] || printf '%s\n' "$out" | sed 's/^/#   /'

# The daemon refuses a config that others may write (it runs as root).
work=$(mktemp -d "${TMPDIR:-/tmp}/xlatflow-smoke.XXXXXX")
on_exit "rm -rf '$work'"
cp /etc/xlatflow/xlatflowd.conf "$work/open.conf"
chmod 0666 "$work/open.conf"
/usr/sbin/xlatflowd --check-config --config "$work/open.conf" >/dev/null 2>&1
check_eq "--check-config refuses a world-writable config" 1 "$?"

# --- live export through nfcapd ------------------------------------------------------
# ns A: daemon + nfcapd on A's loopback, veth xfpa (198.18.0.1)
# ns B: veth xfpb (198.18.0.2) pings A: 7 echo requests in, 7 replies out
nsa=xfpkg-a-$$
nsb=xfpkg-b-$$
ip netns add "$nsa" && ip netns add "$nsb" || { fail "create network namespaces"; finish; }
on_exit "ip netns del '$nsa' 2>/dev/null; ip netns del '$nsb' 2>/dev/null"
ip -n "$nsa" link set lo up
ip -n "$nsb" link set lo up
ip -n "$nsa" link add xfpa type veth peer name xfpb netns "$nsb"
for ns in "$nsa:xfpa:198.18.0.1" "$nsb:xfpb:198.18.0.2"; do
	n=${ns%%:*}; rest=${ns#*:}; dev=${rest%%:*}; addr=${rest#*:}
	# No IPv6 on the link: router solicitations and MLD reports would add
	# packets the test does not count.
	ip netns exec "$n" sysctl -q -w "net.ipv6.conf.$dev.disable_ipv6=1"
	ip -n "$n" addr add "$addr/24" dev "$dev"
	ip -n "$n" link set "$dev" up
done

port=$((20000 + $$ % 10000))
mkdir -p "$work/flows"
ip netns exec "$nsa" nfcapd -w "$work/flows" -b 127.0.0.1 -p "$port" -t 3600 \
	> "$work/nfcapd.log" 2>&1 &
nfcapd_pid=$!
on_exit "kill $nfcapd_pid 2>/dev/null"

ip netns exec "$nsa" /usr/sbin/xlatflowd --foreground --interface xfpa \
	--collector "udp://127.0.0.1:$port" --active-timeout 60 --idle-timeout 60 \
	--nat-hook off --log-level info > "$work/xlatflowd.log" 2>&1 &
daemon_pid=$!
on_exit "kill $daemon_pid 2>/dev/null"

# Ready when its TC programs are on the interface (both directions).
attached=no
for _ in $(seq 1 100); do
	if ip netns exec "$nsa" tc filter show dev xfpa ingress | grep -q bpf &&
		ip netns exec "$nsa" tc filter show dev xfpa egress | grep -q bpf; then
		attached=yes
		break
	fi
	kill -0 "$daemon_pid" 2>/dev/null || break
	sleep 0.1
done
check_eq "installed daemon attached TC programs to xfpa" yes "$attached"

if [ "$attached" = yes ]; then
	ip netns exec "$nsb" ping -q -c 7 -i 0.2 -W 2 198.18.0.1 > "$work/ping.log" 2>&1
	check_eq "ping 198.18.0.1 from ns B" 0 "$?"
fi
# SIGTERM: the daemon exports every cached flow, then exits 0.
stop_pid "$daemon_pid" TERM 10
check_eq "daemon exits 0 within 10 s of SIGTERM" 0 "$stop_status"
sleep 0.5
stop_pid "$nfcapd_pid" TERM 10

# Per direction: protocol (1 = ICMP), addresses, packets, bytes. An echo
# request or reply of ping's default 56-byte payload is 84 bytes at L3.
flows=$(nfdump -R "$work/flows" -q -N -o 'fmt:%pr %sa %da %pkt %byt' 'proto icmp' 2>&1 |
	awk '{ key = $1 " " $2 " " $3; pkts[key] += $4; bytes[key] += $5 }
	     END { for (k in pkts) print k, pkts[k], bytes[k] }' | sort)
check_eq "nfdump decoded 7 requests and 7 replies, 84 bytes each" \
"1 198.18.0.1 198.18.0.2 7 588
1 198.18.0.2 198.18.0.1 7 588" "$flows"
if [ "$xf_failures" -gt 0 ]; then
	echo "# xlatflowd log:"; sed 's/^/#   /' "$work/xlatflowd.log"
	echo "# nfcapd log:"; sed 's/^/#   /' "$work/nfcapd.log"
fi

# --- purge -----------------------------------------------------------------------
DEBIAN_FRONTEND=noninteractive apt-get purge -y -q xlatflow > "$XF_PKG_OUT/apt-purge.log" 2>&1
check_eq "apt-get purge exits 0" 0 "$?"
check "no file of the package is left" sh -c '
	for f in /usr/sbin/xlatflowd /lib/systemd/system/xlatflowd.service \
		/usr/share/man/man8/xlatflowd.8.gz /usr/share/doc/xlatflow /etc/xlatflow; do
		[ ! -e "$f" ] || { echo "left behind: $f"; exit 1; }
	done'
finish
