#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Every C file of the project is formatted as .clang-format says (kernel
# style, tabs, 100 columns). Lists the files that are not and fails.
#
#   format-check.sh          check (CI, through static-analysis.sh)
#   format-check.sh --fix    reformat in place
#
# bpf/vmlinux.h is a trimmed copy of kernel type definitions: left as it is.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
command -v clang-format >/dev/null || { echo "format-check: clang-format not installed" >&2; exit 1; }
files=$(git ls-files '*.c' '*.h' 2>/dev/null | grep -v '^bpf/vmlinux.h$' ||
	find src bpf bench tests -name '*.[ch]' ! -path bpf/vmlinux.h | sort)
if [ "${1:-}" = --fix ]; then
	echo "$files" | xargs clang-format -i --style=file
	exit 0
fi
bad=()
for f in $files; do
	clang-format --dry-run --Werror --style=file "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
	echo "format-check: not formatted as .clang-format says (scripts/format-check.sh --fix):"
	printf '  %s\n' "${bad[@]}"
	exit 1
fi
echo "format-check: $(echo "$files" | wc -l) files formatted"
