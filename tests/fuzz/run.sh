#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Build the fuzz targets with clang's libFuzzer (-fsanitize=fuzzer,address,
# undefined) and run each for a bounded time on a copy of its committed
# seed corpus (tests/fuzz/corpus/NAME). Any crash, sanitizer report or
# FUZZ_FAIL fails; the input that did it is left in $out/crash-NAME-*.
#
#   run.sh [SECONDS_EACH] [TARGET...]    targets: config packet ipfix
#
# Run from a configured build tree (or set abs_top_builddir): the BPF
# skeleton and the IE registry are generated there by make. XF_FUZZ_TIME
# overrides SECONDS_EACH (default 20). Exits 77 without clang's libFuzzer.
set -euo pipefail
abs_top_builddir=${abs_top_builddir:-$(pwd)}
abs_top_srcdir=${abs_top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
src=$abs_top_srcdir
build=$abs_top_builddir
secs=${XF_FUZZ_TIME:-${1:-20}}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(config packet ipfix)
out=$build/tests/fuzz/libfuzzer
export LSAN_OPTIONS=suppressions=$src/tests/fuzz/lsan.supp:print_suppressions=0
CC=${FUZZ_CC:-clang}

command -v "$CC" >/dev/null || { echo "SKIP: $CC not installed"; exit 77; }
mkdir -p "$out"
echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' >"$out/probe.c"
"$CC" -fsanitize=fuzzer "$out/probe.c" -o "$out/probe" 2>/dev/null ||
	{ echo "SKIP: $CC cannot link -fsanitize=fuzzer (apt-get install libclang-rt-14-dev)"; exit 77; }
[ -f "$build/bpf/flow.skel.h" ] && [ -f "$build/src/ie_registry.c" ] &&
	[ -f "$build/src/ie_registry_fb.c" ] ||
	{ echo "FAIL: run make in $build first (flow.skel.h, ie_registry.c, ie_registry_fb.c)"; exit 1; }

version=$(sed -n 's/^AC_INIT(\[[^]]*\], *\[\([^]]*\)\].*/\1/p' "$src/configure.ac")
cflags=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
	-fno-omit-frame-pointer -I"$src/src" -I"$src/bpf" -I"$build/bpf" -I"$build/src"
	-DPACKAGE_NAME='"xlatflow"' -DPACKAGE_VERSION="\"${version:-0}\"" -DSYSCONFDIR='"/etc"'
	$(pkg-config --cflags glib-2.0 libfixbuf libconfig libbpf libmnl))
libs=($(pkg-config --libs libbpf libfixbuf glib-2.0 libconfig libelf zlib libmnl libsystemd) -lm -ldl)

build_target() {
	case $1 in
	config) srcs=("$src/tests/fuzz/fuzz_config.c" "$src/src/config.c" "$src/src/log.c"
		"$src/src/errbuf.c") ;;
	packet) srcs=("$src/tests/fuzz/fuzz_packet.c" "$src/src/capture.c" "$src/src/drain.c"
		"$src/src/log.c" "$src/src/errbuf.c" "$src/src/percpu.c") ;;
	ipfix) srcs=("$src/tests/fuzz/fuzz_ipfix.c" "$src/src/ipfix_template.c" "$src/src/ipfix_wire.c"
		"$src/src/ipfix.c" "$src/src/log.c" "$src/src/errbuf.c" "$build/src/ie_registry.c"
		"$build/src/ie_registry_fb.c") ;;
	*) echo "unknown target $1" >&2; exit 2 ;;
	esac
	"$CC" "${cflags[@]}" "${srcs[@]}" "${libs[@]}" -o "$out/fuzz_$1"
}

fails=0
for t in "${targets[@]}"; do
	if [ "$t" = packet ] && [ "$(id -u)" != 0 ]; then
		echo "SKIP-CHECK: packet: needs root (BPF)"
		continue
	fi
	build_target "$t"
	rm -rf "$out/corpus-$t"
	cp -r "$src/tests/fuzz/corpus/$t" "$out/corpus-$t"
	# config: no network at all, so that no name is ever resolved
	wrap=()
	[ "$t" = config ] && [ "$(id -u)" = 0 ] && wrap=(unshare -n)
	rc=0
	(cd "$out" && "${wrap[@]}" "./fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-max_len=4096 -artifact_prefix="$out/crash-$t-" -print_final_stats=1 \
		"corpus-$t" >"$out/$t.log" 2>&1) || rc=$?
	grep -E '^#[0-9]+ *DONE|stat::number_of_executed_units|stat::peak_rss_mb' "$out/$t.log" |
		sed "s/^/$t: /"
	if [ $rc -ne 0 ]; then
		echo "FAIL $t (exit $rc):"
		grep -A30 -E 'ERROR|fuzz: |runtime error' "$out/$t.log" | head -60
		fails=$((fails + 1))
	else
		echo "ok $t: ${secs}s, no crash"
	fi
done
[ $fails -eq 0 ]
