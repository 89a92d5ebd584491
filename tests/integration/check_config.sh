#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# `xlatflowd --check-config -v`: the effective configuration of a file, and of
# a file with command-line overrides, diffed against golden files; every bad
# file of the config unit test makes the daemon exit 1 with the same
# file:line message.
set -euo pipefail
abs_top_builddir=${abs_top_builddir:-$(pwd)}
abs_top_srcdir=${abs_top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
xlatflowd=$abs_top_builddir/src/xlatflowd
cfgdir=$abs_top_srcdir/tests/unit/config
work=$(mktemp -d "${TMPDIR:-/tmp}/xlatflow-cc.XXXXXX")
trap 'rm -rf "$work"' EXIT
fails=0

# The daemon refuses group/other-writable files: copy at 0600 (the checkout
# may have any mode), named as the golden files expect.
cp "$cfgdir"/*.conf "$work"/
chmod 600 "$work"/*.conf
cd "$work"

check() { # NAME GOLDEN ARGS...
	local name=$1 golden=$2
	shift 2
	if "$xlatflowd" --check-config -v "$@" >"$work/out" 2>"$work/err" &&
		diff -u "$golden" "$work/out"; then
		echo "ok $name"
	else
		echo "FAIL $name: $(cat "$work/err")"
		fails=$((fails + 1))
	fi
}
check "full file" "$cfgdir/full.golden" --config full.conf
check "file and command line" "$abs_top_srcdir/tests/integration/check_config_cli.golden" \
	--config full.conf --interface 'pod*' --interface eth1 --collector udp://127.0.0.1:9995 \
	--collector tcp://[::1]:4739 --active-timeout 30 --idle-timeout 5 --nat-hook off \
	--sampling 4 --max-flows 1000 --kernel-max-flows 4096 --drain-interval 50 --log-level warn \
	--pidfile /run/x.pid --collector 'udp://127.0.0.1:2055?protocol=netflow9&mtu=9000&rate=1000' \
	--observation-domain 9 --stats-interval 0 --zone-as-vrf --metrics-listen 127.0.0.1:9477

for conf in bad-*.conf; do
	want="${conf%.conf}.err"
	[ -f "$cfgdir/$want" ] || continue
	rc=0
	"$xlatflowd" --check-config --config "$conf" >/dev/null 2>"$work/err" || rc=$?
	expected="xlatflowd: $(cat "$cfgdir/$want")"
	if [ $rc -eq 1 ] && [ "$(cat "$work/err")" = "$expected" ]; then
		echo "ok $conf"
	else
		echo "FAIL $conf: exit $rc, stderr: $(cat "$work/err"), expected: $expected"
		fails=$((fails + 1))
	fi
done

# Command-line errors name the option.
for args in "--idle-timeout 0" "--sampling x" "--nat-hook bpf" "--collector udp://x" \
	"--log-level loud" "--collector ftp://127.0.0.1:1"; do
	rc=0
	# shellcheck disable=SC2086
	"$xlatflowd" --check-config --config full.conf $args >/dev/null 2>"$work/err" || rc=$?
	opt=${args%% *}
	if [ $rc -eq 1 ] && grep -q -- "^xlatflowd: $opt" "$work/err"; then
		echo "ok $args"
	else
		echo "FAIL $args: exit $rc, stderr: $(cat "$work/err")"
		fails=$((fails + 1))
	fi
done

# The options of config.c's key table go through the file's checks; the
# message names the option and quotes the argument.
while IFS='|' read -r args want; do
	rc=0
	# shellcheck disable=SC2086
	"$xlatflowd" --check-config --config full.conf $args >/dev/null 2>"$work/err" || rc=$?
	if [ $rc -eq 1 ] && [ "$(cat "$work/err")" = "xlatflowd: $want" ]; then
		echo "ok $args"
	else
		echo "FAIL $args: exit $rc, stderr: $(cat "$work/err"), expected: xlatflowd: $want"
		fails=$((fails + 1))
	fi
done <<'EOF'
--active-timeout 0|--active-timeout: '0' must be in 1..86400
--idle-timeout 86401|--idle-timeout: '86401' must be in 1..86400
--max-flows 1e6|--max-flows: '1e6' must be an integer in 1..100000000
--kernel-max-flows 1023|--kernel-max-flows: '1023' must be in 1024..16777216
--drain-interval -5|--drain-interval: '-5' must be in 10..60000
--sampling 0x10|--sampling: '0x10' must be an integer in 1..1000000
--nat-hook bpf|--nat-hook: 'bpf' must be one of auto, fentry, kprobe, conntrack, off
--log-level loud|--log-level: 'loud' must be one of err, warn, info, debug
--pidfile x.pid|--pidfile: 'x.pid' must be an absolute path or ""
--observation-domain 4294967296|--observation-domain: '4294967296' must be in 0..4294967295
--stats-interval 86401|--stats-interval: '86401' must be in 0..86400
--collector udp://127.0.0.1:2055?mtu=9001x|--collector: bad URL "udp://127.0.0.1:2055?mtu=9001x": 'mtu' must be an integer in 576..65535, not '9001x'
--collector udp://127.0.0.1:2055?protocol=v9|--collector: bad URL "udp://127.0.0.1:2055?protocol=v9": 'protocol' must be ipfix or netflow9, not 'v9'
--collector tcp://127.0.0.1:2055?protocol=netflow9|full.conf: 'collectors[0]' (tcp://127.0.0.1:2055?protocol=netflow9): protocol "netflow9" needs a udp:// url (NetFlow v9 messages carry no length to frame them on TCP)
--metrics-listen localhost:9477|--metrics-listen: 'localhost:9477' must be "" (off), "ADDRESS:PORT" or "[IPv6]:PORT" (numeric, port 1..65535)
EOF

# --help is built from the same table; every option it lists is in xlatflowd(8).
if "$xlatflowd" --help >"$work/help" &&
	diff -u "$abs_top_srcdir/tests/integration/check_config_help.golden" "$work/help"; then
	echo "ok --help"
else
	echo "FAIL --help differs from check_config_help.golden"
	fails=$((fails + 1))
fi
while read -r opt; do
	# the man page writes --log-level as \-\-log\-level
	if grep -qF -- "${opt//-/\\-}" "$abs_top_srcdir/man/xlatflowd.8"; then
		echo "ok $opt in xlatflowd(8)"
	else
		echo "FAIL $opt: not in man/xlatflowd.8"
		fails=$((fails + 1))
	fi
done < <(grep -o -- '--[a-z-]*' "$work/help" | sort -u)

# An unreadable or world-writable file is refused with the reason.
rc=0
"$xlatflowd" --check-config --config "$work/missing.conf" 2>"$work/err" >/dev/null || rc=$?
[ $rc -eq 1 ] && grep -q "missing.conf: No such file or directory" "$work/err" &&
	echo "ok missing file" || { echo "FAIL missing file: $rc $(cat "$work/err")"; fails=$((fails + 1)); }
chmod 666 full.conf
rc=0
"$xlatflowd" --check-config --config full.conf 2>"$work/err" >/dev/null || rc=$?
[ $rc -eq 1 ] && grep -q "writable by group or others" "$work/err" &&
	echo "ok world-writable file refused" ||
	{ echo "FAIL world-writable: $rc $(cat "$work/err")"; fails=$((fails + 1)); }

[ $fails -eq 0 ]
