#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Static analysis: every C file formatted as .clang-format says
# (scripts/format-check.sh), and the daemon's sources (src/*.c) through
# cppcheck with the warning, performance and portability checks; zero
# findings or it fails.
# Suppressions, each with its reason: scripts/cppcheck.supp.
#
#   static-analysis.sh [--tidy]
#
# --tidy also runs clang-tidy's clang-analyzer checks and prints what they
# find without failing on it: on this code they report false positives
# (values set through a helper that always returns an error code), kept for
# a reader to look at, not as a gate.
#
# Needs the generated headers (bpf/*.skel.h, src/ie_registry.h) of a built
# tree: XF_BUILDDIR (default build).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${XF_BUILDDIR:-$top/build}
cd "$top"

command -v cppcheck >/dev/null || { echo "static-analysis: cppcheck not installed" >&2; exit 1; }
[ -f "$build/bpf/flow.skel.h" ] || { echo "static-analysis: build $build first" >&2; exit 1; }

version=$(sed -n 's/^AC_INIT(\[[^]]*\], *\[\([^]]*\)\].*/\1/p' configure.ac)
defs=(-DPACKAGE_NAME='"xlatflow"' -DPACKAGE_VERSION="\"${version:-0}\"" -DSYSCONFDIR='"/etc"')
incs=(-I src -I bpf -I "$build/bpf" -I "$build/src")

rc=0
echo "=== clang-format (.clang-format)"
bash "$top/scripts/format-check.sh" || rc=1

echo "=== cppcheck $(cppcheck --version | awk '{print $2}') over src/"
cppcheck --enable=warning,performance,portability --std=c11 --inline-suppr --quiet \
	--error-exitcode=1 --suppress=missingIncludeSystem --suppressions-list=scripts/cppcheck.supp \
	--include=scripts/cppcheck-defs.h -D__x86_64__ -D__linux__ "${defs[@]}" "${incs[@]}" \
	--template='{file}:{line}: {severity} [{id}] {message}' src/ || cpp_rc=$?
if [ "${cpp_rc:-0}" -eq 0 ]; then
	echo "cppcheck: 0 findings"
else
	echo "cppcheck: findings above"
	rc=1
fi

if [ "${1:-}" = --tidy ]; then
	echo "=== clang-tidy clang-analyzer-* (advisory)"
	flags=("${defs[@]}" "${incs[@]}" $(pkg-config --cflags glib-2.0 libfixbuf libconfig libbpf))
	for f in src/*.c; do
		clang-tidy -quiet --checks='-*,clang-analyzer-*,-clang-analyzer-security.insecureAPI.*,-clang-analyzer-optin.performance.Padding' \
			"$f" -- "${flags[@]}" 2>/dev/null | grep -E 'warning:|error:' | grep -v '\.skel\.h' || true
	done
fi
exit $rc
