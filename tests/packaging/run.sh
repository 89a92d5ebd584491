#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Usage: tests/packaging/run.sh [BUILDDIR]
# Run every packaging test, sharing one tarball, .deb and .rpm between them
# (XF_PKG_OUT), and print one "N passed, N failed, N skipped" line over the
# test scripts. Exit 0 only if none failed. With BUILDDIR (a configured
# build tree) the tarball is its `make dist`; without, a scratch build's.
# scripts/quickstart.sh test runs it after `make check`.
dir=$(cd "$(dirname "$0")" && pwd)
own=
if [ -z "${XF_PKG_OUT:-}" ]; then
	XF_PKG_OUT=$(mktemp -d "${TMPDIR:-/tmp}/xlatflow-pkg.XXXXXX")
	own=1
fi
export XF_PKG_OUT
if [ -n "${1:-}" ]; then
	"$dir/../../packaging/dist-tarball.sh" "$XF_PKG_OUT" "$1" >/dev/null || {
		echo "make dist in $1 failed"
		echo "0 passed, 1 failed, 0 skipped"
		exit 1
	}
fi
passed=0 failed=0 skipped=0
for t in unit-verify install-conf rpm-files deb-smoke systemd-unit container; do
	echo "=== tests/packaging/$t.sh"
	sh "$dir/$t.sh"
	rc=$?
	case $rc in
	0) passed=$((passed + 1)); echo "PASS: tests/packaging/$t.sh" ;;
	77) skipped=$((skipped + 1)); echo "SKIP: tests/packaging/$t.sh" ;;
	*) failed=$((failed + 1)); echo "FAIL: tests/packaging/$t.sh (exit $rc)" ;;
	esac
done
[ -z "$own" ] || [ "${XF_KEEP:-0}" = 1 ] || rm -rf "$XF_PKG_OUT"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
