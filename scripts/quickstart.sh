#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The README's two commands, for a fresh Debian 12 machine, as root:
#   bash scripts/quickstart.sh demo   install deps, build, run xlatflowd against a
#                                     local nfcapd with NATed traffic in namespaces,
#                                     print the translated flows nfdump decoded
#   bash scripts/quickstart.sh test   install deps, build, run every test suite; a
#                                     skip fails unless tests/allowed-skips lists it
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
# Every skip fails the run unless tests/allowed-skips lists it with its
# reason (README, Tests): make check's check-local applies that to each
# automake run (this one, the sanitizer build's, distcheck's), and the
# summary at the end to every suite's results.
export XF_STRICT_SKIPS=1
cd "$builddir"
summary=$top/scripts/test-summary.py
results=$builddir/test-results
rm -rf "$results"
mkdir -p "$results"
suites_pass=0
suites_fail=0
failed=()

# suite NAME OUT CMD...: run a suite, its output also to $results/OUT
# (OUT "-": none); its exit status in $suite_rc.
suite() {
	local name=$1 out=$2
	shift 2
	echo "=== $name"
	suite_rc=0
	if [ "$out" = - ]; then
		"$@" || suite_rc=$?
	else
		"$@" 2>&1 | tee "$results/$out" || suite_rc=$?
	fi
	if [ "$suite_rc" -eq 0 ]; then
		suites_pass=$((suites_pass + 1))
	else
		suites_fail=$((suites_fail + 1))
		failed+=("$name")
	fi
}

# result NAME: one result for a suite that is a single check
result() {
	python3 "$summary" result "$1" "$1" "$suite_rc" >"$results/$1.tsv"
}

# The benchmarks are not run here (they measure, never pass or fail), but they
# must keep compiling warning-free.
suite "benchmarks build" - make -s -j"$(nproc)" bench-programs
result "benchmarks build"
# Results of earlier runs of other tests would be counted with this one's.
find "$builddir/tests" "$builddir/bpf" -name '*.trs' -delete 2>/dev/null || true
suite "make check" - make -j2 check
python3 "$summary" automake "make check" "$builddir" >"$results/make-check.tsv"
# The end of each failed test's log, while it is still that run's.
for log in $(find "$builddir/tests" "$builddir/bpf" -name '*.log' 2>/dev/null | sort); do
	if grep -q '^:test-result: FAIL\|^:test-result: ERROR' "${log%.log}.trs" 2>/dev/null; then
		echo "--- $log"
		tail -n 60 "$log"
	fi
done
suite "static analysis" - env XF_BUILDDIR="$builddir" bash "$top/scripts/static-analysis.sh"
result "static analysis"
find "$top/build-asan" -name '*.trs' -delete 2>/dev/null || true
suite "sanitizers" sanitize.out env XF_BUILDDIR="$builddir" XF_ASAN_BUILDDIR="$top/build-asan" \
	bash "$top/scripts/sanitize.sh"
# the ASan build's make check, then the sanitizers' own verdicts
python3 "$summary" automake asan "$top/build-asan" >"$results/asan.tsv"
python3 "$summary" lines sanitize "$results/sanitize.out" "$suite_rc" >"$results/sanitize.tsv"
# The release tarball builds, installs and passes the tests on its own; the
# QEMU tests and the fuzzing (XF_ONCE_TESTS, Makefile.am) ran in the make
# check above, on the same sources, and do not run a second time.
suite "make distcheck" - make -j2 distcheck XF_ONCE_TESTS=
# A failed test's log inside distcheck's tree, before `make dist` (packaging)
# removes that tree.
for log in $(find "$builddir"/xlatflow-*/_build -name '*.log' 2>/dev/null | sort); do
	if grep -q '^:test-result: FAIL\|^:test-result: ERROR' "${log%.log}.trs" 2>/dev/null; then
		echo "--- $log"
		tail -n 60 "$log"
	fi
done
result "make distcheck"
if [ -n "${XF_SKIP_PACKAGING:-}" ]; then
	python3 "$summary" notrun packaging tests/packaging/run.sh "XF_SKIP_PACKAGING is set" \
		>"$results/packaging.tsv"
else
	suite "packaging" packaging.out bash "$top/tests/packaging/run.sh" "$builddir"
	python3 "$summary" tap packaging "$results/packaging.out" "$suite_rc" >"$results/packaging.tsv"
fi

echo "=== summary"
[ ${#failed[@]} -eq 0 ] || echo "failed suites: ${failed[*]}"
echo "suites: $suites_pass passed, $suites_fail failed"
# skips and failures by name, then "tests: N passed, N failed, N skipped"
tests_rc=0
python3 "$summary" summary --strict --unused "$results"/*.tsv || tests_rc=$?
[ "$suites_fail" -eq 0 ] && [ "$tests_rc" -eq 0 ]
