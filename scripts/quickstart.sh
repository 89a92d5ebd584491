#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The README's two commands, for a fresh Debian 12 machine, as root:
#   bash scripts/quickstart.sh demo   install deps, build, run xlatflowd against a
#                                     local nfcapd with NATed traffic in namespaces,
#                                     print the translated flows nfdump decoded
#   bash scripts/quickstart.sh test   install deps, build, run every test suite
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
builddir=${XF_BUILDDIR:-$top/build}
mode=${1:-}

case "$mode" in
demo | test) ;;
*)
	echo "usage: $0 demo|test" >&2
	exit 2
	;;
esac

bash "$top/scripts/install-deps.sh"

build() {
	cd "$top"
	autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
	mkdir -p "$builddir"
	cd "$builddir"
	"$top/configure" -q --enable-werror --sysconfdir=/etc
	make -s -j"$(nproc)"
}

build

if [ "$mode" = demo ]; then
	exec bash "$top/scripts/demo.sh" "$builddir"
fi

# --- test -----------------------------------------------------------------
cd "$builddir"
suites_pass=0
suites_fail=0
failed=()

suite() {
	local name=$1
	shift
	echo "=== $name"
	if "$@"; then
		suites_pass=$((suites_pass + 1))
	else
		suites_fail=$((suites_fail + 1))
		failed+=("$name")
	fi
}

# The benchmarks are not run here (they measure, never pass or fail), but they
# must keep compiling warning-free.
suite "benchmarks build" make -s -j"$(nproc)" bench-programs
suite "make check" make -j2 check
# The automake counts, kept before later suites run tests in the same tree.
if [ -f test-suite.log ]; then
	{
		total=$(sed -n 's/^# TOTAL: *//p' test-suite.log | head -1)
		pass=$(sed -n 's/^# PASS: *//p' test-suite.log | head -1)
		skip=$(sed -n 's/^# SKIP: *//p' test-suite.log | head -1)
		fail=$(sed -n 's/^# FAIL: *//p' test-suite.log | head -1)
		err=$(sed -n 's/^# ERROR: *//p' test-suite.log | head -1)
		echo "make check: total ${total:-0}, pass ${pass:-0}, skip ${skip:-0}, fail ${fail:-0}, error ${err:-0}"
		grep -E '^(SKIP|FAIL|ERROR):' test-suite.log || true
	} >"$builddir/make-check-summary.txt"
fi
# The end of each failed test's log, while it is still that run's.
for log in $(find "$builddir/tests" "$builddir/bpf" -name '*.log' 2>/dev/null | sort); do
	if grep -q '^:test-result: FAIL\|^:test-result: ERROR' "${log%.log}.trs" 2>/dev/null; then
		echo "--- $log"
		tail -n 60 "$log"
	fi
done
suite "static analysis" env XF_BUILDDIR="$builddir" bash "$top/scripts/static-analysis.sh"
suite "sanitizers" env XF_BUILDDIR="$builddir" XF_ASAN_BUILDDIR="$top/build-asan" \
	bash "$top/scripts/sanitize.sh"
# The release tarball builds, installs and passes the tests on its own.
suite "make distcheck" make -j2 distcheck
if [ -z "${XF_SKIP_PACKAGING:-}" ] && [ -x "$top/tests/packaging/run.sh" ]; then
	suite "packaging" bash "$top/tests/packaging/run.sh" "$builddir"
fi

cat "$builddir/make-check-summary.txt" 2>/dev/null || true
[ ${#failed[@]} -eq 0 ] || echo "failed suites: ${failed[*]}"
echo "$suites_pass passed, $suites_fail failed"
[ "$suites_fail" -eq 0 ]
