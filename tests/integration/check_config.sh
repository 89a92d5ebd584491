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
	--pidfile /run/x.pid

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
