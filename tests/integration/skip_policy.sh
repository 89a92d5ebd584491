#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The skip policy bites: tests/skip-check-driver (make check's LOG_DRIVER)
# and scripts/test-summary.py on a scratch build tree of made-up tests, one
# passing, one exiting 77, one passing with two "SKIP-CHECK:" sub-checks,
# then one failing:
#  - the driver adds one ":test-result: SKIP" per sub-check to the .trs;
#  - the summary counts tests (2 passed, 3 skipped), not suites;
#  - strict (--strict, CI=true or XF_STRICT_SKIPS=1) fails on each skip not
#    on the allow-list; a developer's run (none of those) passes;
#  - allow-listed with reasons, the strict run passes; an entry without a
#    reason is an error; a failing test fails whatever the list says;
#  - the packaging suite's "ok N"/"not ok N" lines and the sanitizer run's
#    "ok X:"/"FAIL X:" lines are counted one by one.
set -euo pipefail
abs_top_srcdir=${abs_top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
driver=$abs_top_srcdir/tests/skip-check-driver
testdriver=$abs_top_srcdir/build-aux/test-driver
summary=$abs_top_srcdir/scripts/test-summary.py
[ -f "$testdriver" ] || { echo "FAIL: no $testdriver"; exit 1; }
command -v python3 >/dev/null || { echo "SKIP: python3 not installed"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/xlatflow-skip.XXXXXX")
trap 'rm -rf "$work"' EXIT
fails=0
ok() { echo "ok $*"; }
bad() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

mkdir -p "$work/tree/t"
cd "$work/tree"
runtest() { # NAME SCRIPT
	sh "$driver" "$testdriver" --test-name "t/$1" --log-file "t/$1.log" --trs-file "t/$1.trs" \
		--color-tests no --enable-hard-errors yes --expect-failure no -- sh -c "$2" >>"$work/console"
}
runtest pass 'echo "1 checks, 0 failed"'
runtest skip77 'echo "SKIP: needs a frobnicator"; exit 77'
runtest subskip 'echo "SKIP-CHECK: gso ipv4 tcp: this kernel refuses gso_segs"
echo "SKIP-CHECK: per-CPU merge: needs two usable CPUs"; echo "ok rest"'

# the driver: automake's own result, then one SKIP per sub-check
want=$(printf ':test-result: PASS\n:global-test-result: PASS\n:recheck: no\n:copy-in-global-log: yes\n:test-result: SKIP\n:test-result: SKIP')
[ "$(cat t/subskip.trs)" = "$want" ] && ok "driver: sub-checks become SKIP results" ||
	bad "driver: t/subskip.trs is: $(cat t/subskip.trs)"
[ "$(grep -c '^:test-result:' t/skip77.trs)" = 1 ] && grep -q '^:test-result: SKIP' t/skip77.trs &&
	ok "driver: exit 77 is one SKIP" || bad "driver: t/skip77.trs is: $(cat t/skip77.trs)"
grep -qxF "SKIP: t/subskip: per-CPU merge: needs two usable CPUs" "$work/console" &&
	ok "driver: the console names each skipped sub-check" || bad "console: $(cat "$work/console")"

# check ARGS... -- EXPECTED_STATUS LAST_LINE: run the summary, compare
check() {
	local args=() rc=0
	while [ "$1" != -- ]; do
		args+=("$1")
		shift
	done
	shift
	env -u CI -u XF_STRICT_SKIPS ${ENVV:-} python3 "$summary" check "${args[@]}" . >"$work/out" 2>&1 || rc=$?
	if [ $rc -eq "$1" ] && [ "$(tail -n 1 "$work/out")" = "$2" ]; then
		ok "${ENVV:-} check ${args[*]}: exit $rc, $2"
	else
		bad "${ENVV:-} check ${args[*]}: exit $rc (want $1), output:"$'\n'"$(cat "$work/out")"
	fi
}
: >"$work/empty"
counts="tests: 2 passed, 0 failed, 3 skipped (0 allowed, 3 not)"
check --allow "$work/empty" -- 0 "$counts"
check --allow "$work/empty" --strict -- 1 "$counts"
ENVV=CI=true check --allow "$work/empty" -- 1 "$counts"
ENVV=XF_STRICT_SKIPS=1 check --allow "$work/empty" -- 1 "$counts"
grep -qxF "SKIPPED, not allowed: t/skip77: needs a frobnicator" "$work/out" &&
	grep -qxF "SKIPPED, not allowed: t/subskip: gso ipv4 tcp: this kernel refuses gso_segs" "$work/out" &&
	ok "strict: each skip is named with its reason" || bad "strict output: $(cat "$work/out")"

cat >"$work/allow" <<'EOF'
# made-up tests
t/skip77 # the frobnicator is not packaged
t/subskip: gso ipv4 tcp   # the test kernel refuses gso_segs
t/subskip: per-CPU merge  # one CPU
EOF
check --allow "$work/allow" --strict -- 0 "tests: 2 passed, 0 failed, 3 skipped (3 allowed, 0 not)"
head -n 2 "$work/allow" >"$work/allow2"
check --allow "$work/allow2" --strict -- 1 "tests: 2 passed, 0 failed, 3 skipped (1 allowed, 2 not)"
printf 't/skip77\n' >"$work/noreason"
check --allow "$work/noreason" --strict -- 2 "$work/noreason:1: 't/skip77' has no reason: write it as a comment after '#'"

runtest fail 'echo "FAIL: something"; exit 1'
check --allow "$work/allow" -- 1 "tests: 2 passed, 1 failed, 3 skipped (3 allowed, 0 not)"

# the other suites: each "ok"/"not ok" line, each sanitizer verdict
cat >"$work/packaging.out" <<'EOF'
=== tests/packaging/unit-verify.sh
ok 1 - unit verifies
ok 2 - ExecStart is the installed daemon
PASS: tests/packaging/unit-verify.sh
=== tests/packaging/deb-smoke.sh
SKIP: xlatflow is already installed here
SKIP: tests/packaging/deb-smoke.sh
=== tests/packaging/rpm-files.sh
ok 1 - spec parses
not ok 2 - file list matches
FAIL: tests/packaging/rpm-files.sh (exit 1)
=== tests/packaging/systemd-unit.sh
FAIL: tests/packaging/systemd-unit.sh (exit 2)
1 passed, 2 failed, 1 skipped
EOF
python3 "$summary" tap packaging "$work/packaging.out" 1 >"$work/pkg.tsv"
cat >"$work/sanitize.out" <<'EOF'
PASS: tests/unit/clock_test
ok asan: no sanitizer report
FAIL valgrind: daemon_nfcapd.sh under memcheck
EOF
python3 "$summary" lines sanitize "$work/sanitize.out" 1 >"$work/san.tsv"
rc=0
env -u CI -u XF_STRICT_SKIPS python3 "$summary" summary --allow "$work/empty" "$work/pkg.tsv" \
	"$work/san.tsv" >"$work/out" || rc=$?
if [ $rc -eq 1 ] && [ "$(tail -n 1 "$work/out")" = "tests: 4 passed, 3 failed, 1 skipped (0 allowed, 1 not)" ] &&
	grep -qxF "SKIPPED, not on the allow-list: tests/packaging/deb-smoke.sh [packaging]: xlatflow is already installed here" "$work/out" &&
	grep -qxF "FAILED: tests/packaging/systemd-unit.sh [packaging]: (exit 2)" "$work/out"; then
	ok "packaging and sanitizer lines counted one by one"
else
	bad "packaging/sanitize summary: exit $rc:"$'\n'"$(cat "$work/out")"
fi

[ $fails -eq 0 ] || exit 1
echo "PASS: skip policy"
