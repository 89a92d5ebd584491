#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The systemd unit: `systemd-analyze verify` finds no error or warning, the
# hardening keeps the exposure score low, and the settings the daemon depends
# on are there (a unit that still parses but lost Type=notify or a capability
# would pass verify and break on a real host).
. "$(dirname "$0")/lib.sh"
need_cmd systemd-analyze

unit="$XF_SRCDIR/etc/xlatflowd.service"
work=$(mktemp -d "${TMPDIR:-/tmp}/xlatflow-unit.XXXXXX")
on_exit "rm -rf '$work'"

# verify checks that ExecStart exists; the daemon is not installed here, so
# point it at a stand-in executable of the same name (deb-smoke.sh verifies
# the installed unit against the installed daemon).
mkdir -p "$work/sbin"
cp /bin/true "$work/sbin/xlatflowd"
sed "s#^ExecStart=/usr/sbin/xlatflowd#ExecStart=$work/sbin/xlatflowd#" "$unit" \
	> "$work/xlatflowd.service"
out=$(cd "$work" && systemd-analyze verify --man=no xlatflowd.service 2>&1)
rc=$?
check_eq "systemd-analyze verify exits 0" 0 "$rc"
check_eq "systemd-analyze verify prints nothing" "" "$out"

# A broken key must be caught by the same check (guards the test itself).
sed 's/^ProtectHome=yes/ProtecHome=yes/' "$work/xlatflowd.service" > "$work/bad.service"
out=$(cd "$work" && systemd-analyze verify --man=no bad.service 2>&1)
case $out in
*"Unknown key"*ProtecHome*) pass "verify reports a misspelt key" ;;
*) fail "verify did not report a misspelt key: $out" ;;
esac

score=$(systemd-analyze security --offline=yes "$work/xlatflowd.service" 2>&1 |
	sed -n 's/.*Overall exposure level for xlatflowd.service: \([0-9.]*\).*/\1/p')
check "security exposure $score <= 3.0" awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 3.0) }'

prop() {
	sed -n "s/^$1=//p" "$unit" | tail -n 1
}
check_eq "Type" notify "$(prop Type)"
check_eq "ExecStart" "/usr/sbin/xlatflowd --foreground" "$(prop ExecStart)"
check_eq "ExecReload" '/bin/kill -HUP $MAINPID' "$(prop ExecReload)"
check_eq "Restart" on-failure "$(prop Restart)"
# the kernels xlatflowd supports (5.12+) need no CAP_SYS_ADMIN or CAP_SYS_RESOURCE
caps="CAP_BPF CAP_PERFMON CAP_NET_ADMIN"
check_eq "CapabilityBoundingSet" "$caps" "$(prop CapabilityBoundingSet)"
check_eq "AmbientCapabilities" "$caps" "$(prop AmbientCapabilities)"
check_eq "RestrictAddressFamilies" "AF_INET AF_INET6 AF_NETLINK AF_UNIX" \
	"$(prop RestrictAddressFamilies)"
for k in NoNewPrivileges ProtectHome PrivateTmp ProtectKernelTunables LockPersonality \
	MemoryDenyWriteExecute; do
	check_eq "$k" yes "$(prop "$k")"
done
check_eq "ProtectSystem" strict "$(prop ProtectSystem)"
# the one writable place: spool_dir's default, /var/lib/xlatflow/spool
check_eq "StateDirectory" xlatflow "$(prop StateDirectory)"
check_eq "StateDirectoryMode" 0700 "$(prop StateDirectoryMode)"
check_eq "SystemCallArchitectures" native "$(prop SystemCallArchitectures)"
finish
