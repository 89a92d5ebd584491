#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Safety nets, as root on the test machine:
#  1. AddressSanitizer + UndefinedBehaviorSanitizer: a separate build
#     (-fsanitize=address,undefined -fno-omit-frame-pointer), then the unit
#     tests, the BPF parser test, the fuzz replays and the daemon end-to-end
#     test (tests/integration/daemon_nfcapd.sh) under it. Every report goes
#     to a log file (the daemon's stderr is a test's temporary file), and
#     any report at all fails, even from a test that passed.
#  2. valgrind memcheck of the daemon (plain build) through the same
#     end-to-end test, with --error-exitcode: any error or definite leak
#     makes the daemon exit non-zero, which the test reports. Suppressions
#     (each with its reason): scripts/valgrind.supp.
#
#   sanitize.sh [asan|valgrind]...      (default: both)
# Build dirs: XF_ASAN_BUILDDIR (default build-asan), XF_BUILDDIR (plain,
# default build; built if missing).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
asan_dir=${XF_ASAN_BUILDDIR:-$top/build-asan}
plain_dir=${XF_BUILDDIR:-$top/build}
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(asan valgrind)
fails=0

configure_build() { # DIR [configure args...]
	local dir=$1
	shift
	mkdir -p "$dir"
	if [ ! -f "$dir/Makefile" ]; then
		[ -x "$top/configure" ] || (cd "$top" && autoreconf -fi >/dev/null 2>&1)
		(cd "$dir" && "$top/configure" -q "$@")
	fi
	make -C "$dir" -s -j"$(nproc)" >/dev/null
	make -C "$dir" -s -j"$(nproc)" check TESTS= >/dev/null
}

# Tests that the sanitizers run: every unit test, the parser test, the fuzz
# replays, the daemon end to end.
asan_tests() {
	local t
	for t in "$top"/tests/unit/*_test.c; do
		t=tests/unit/$(basename "$t" .c)
		grep -qF "$t\$(EXEEXT)" "$asan_dir/Makefile" && echo "$t"
	done
	echo tests/bpf/flow_parse_test
	echo tests/fuzz/fuzz_config_replay tests/fuzz/fuzz_packet_replay tests/fuzz/fuzz_ipfix_replay
	echo tests/integration/daemon_nfcapd.sh
}

run_asan() {
	local logs=$asan_dir/sanitizer-reports tests reports
	echo "=== ASan + UBSan build in $asan_dir"
	configure_build "$asan_dir" \
		CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
		LDFLAGS="-fsanitize=address,undefined"
	rm -rf "$logs"
	mkdir -p "$logs"
	tests=$(asan_tests | tr '\n' ' ')
	echo "tests: $tests"
	export ASAN_OPTIONS="log_path=$logs/asan:detect_leaks=1:abort_on_error=0:halt_on_error=1:strict_string_checks=1"
	export UBSAN_OPTIONS="log_path=$logs/ubsan:print_stacktrace=1:halt_on_error=1"
	export LSAN_OPTIONS="suppressions=$top/tests/fuzz/lsan.supp:print_suppressions=0"
	if ! make -C "$asan_dir" -s check TESTS="$tests" >"$logs/make-check.log" 2>&1; then
		echo "FAIL asan: make check failed"
		grep -E '^(FAIL|ERROR|PASS|SKIP):' "$logs/make-check.log" || tail -n 30 "$logs/make-check.log"
		fails=$((fails + 1))
	else
		grep -E '^(FAIL|ERROR|PASS|SKIP):' "$logs/make-check.log"
	fi
	unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
	reports=$(find "$logs" -name 'asan.*' -o -name 'ubsan.*' | sort)
	if [ -n "$reports" ]; then
		echo "FAIL asan: sanitizer reports:"
		for r in $reports; do
			echo "--- $r"
			head -n 40 "$r"
		done
		fails=$((fails + 1))
	else
		echo "ok asan: no sanitizer report"
	fi
}

run_valgrind() {
	local wrap=$plain_dir/tests/valgrind-xlatflowd logs=$plain_dir/valgrind-reports
	command -v valgrind >/dev/null || { echo "FAIL valgrind: not installed"; fails=$((fails + 1)); return; }
	echo "=== valgrind memcheck of xlatflowd ($plain_dir)"
	configure_build "$plain_dir"
	rm -rf "$logs"
	mkdir -p "$logs" "$(dirname "$wrap")"
	cat >"$wrap" <<WRAP
#!/bin/sh
exec valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \\
	--show-leak-kinds=definite --track-fds=no --suppressions=$top/scripts/valgrind.supp \\
	--log-file=$logs/memcheck.%p "$plain_dir/src/xlatflowd" "\$@"
WRAP
	chmod +x "$wrap"
	if XLATFLOWD=$wrap abs_top_builddir=$plain_dir abs_top_srcdir=$top \
		bash "$top/tests/integration/daemon_nfcapd.sh" >"$logs/daemon_nfcapd.log" 2>&1; then
		echo "ok valgrind: daemon_nfcapd.sh passed under memcheck"
	else
		echo "FAIL valgrind: daemon_nfcapd.sh under memcheck"
		tail -n 40 "$logs/daemon_nfcapd.log"
		fails=$((fails + 1))
	fi
	# --quiet: errors are the "==PID==" lines ("--PID--" lines are valgrind's
	# own warnings, see valgrind.supp)
	for r in "$logs"/memcheck.*; do
		grep -q '^==[0-9]*==' "$r" || continue
		echo "FAIL valgrind: report $r"
		head -n 60 "$r"
		fails=$((fails + 1))
	done
}

for m in "${modes[@]}"; do
	case $m in
	asan) run_asan ;;
	valgrind) run_valgrind ;;
	*) echo "usage: $0 [asan|valgrind]..." >&2; exit 2 ;;
	esac
done
if [ $fails -eq 0 ]; then
	echo "sanitize: 0 reports"
fi
[ $fails -eq 0 ]
