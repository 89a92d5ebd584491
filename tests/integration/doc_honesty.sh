#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The documentation cannot drift from the daemon (issue 17): asked of the
# built binary, not of a list kept by hand,
# - every key `xlatflowd --check-config` prints (top level, interfaces and
#   collector keys) has its entry in xlatflowd.conf(5) and is shown in the
#   shipped etc/xlatflowd.conf;
# - every option `xlatflowd --help` lists is in xlatflowd(8), rendered with
#   its argument on the option's own line (a .TP tag, not the body);
# - the guides the pages name are installed;
# - both pages render without a warning (`man --warnings`, groff -ww).
set -euo pipefail
abs_top_builddir=${abs_top_builddir:-$(pwd)}
abs_top_srcdir=${abs_top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
xlatflowd=$abs_top_builddir/src/xlatflowd
man8=$abs_top_srcdir/man/xlatflowd.8
man5=$abs_top_srcdir/man/xlatflowd.conf.5
shipped=$abs_top_srcdir/etc/xlatflowd.conf
for c in man groff col; do
	command -v "$c" >/dev/null 2>&1 || { echo "SKIP: $c not installed (man-db, groff, bsdextrautils)"; exit 77; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/xlatflow-doc.XXXXXX")
trap 'rm -rf "$work"' EXIT
fails=0
ok() { echo "ok $*"; }
bad() {
	echo "FAIL $*"
	fails=$((fails + 1))
}

# A file with one collector, so that the collector keys are printed too.
cat >"$work/c.conf" <<'EOF'
interfaces = { include = [ "x" ]; };
collectors = ( { url = "udp://127.0.0.1:4739"; } );
EOF
chmod 600 "$work/c.conf"
"$xlatflowd" --check-config --config "$work/c.conf" >"$work/printed" ||
	{ echo "FAIL --check-config"; exit 1; }
# "key = value;" lines, "\tkey = [" in groups, "{ url = ...; protocol = ...; }" in lists
keys=$(sed -e 's/#.*//' "$work/printed" | grep -o '[a-z_][a-z_0-9]* =' | sed 's/ =$//' | sort -u)
n=0
for key in $keys; do
	n=$((n + 1))
	# an entry: a .TP tag ".B key" or a section ".SS "key (...)""
	if grep -qx -e ".B $key" -e ".SS \"$key (.*" "$man5"; then
		ok "key $key in xlatflowd.conf(5)"
	else
		bad "key $key (printed by --check-config) has no entry in man/xlatflowd.conf.5"
	fi
	if grep -qE "^[[:space:]]*#?[[:space:]]*(\{ )?$key[[:space:]]*=|[{;] $key = " "$shipped"; then
		ok "key $key in etc/xlatflowd.conf"
	else
		bad "key $key (printed by --check-config) is not shown in etc/xlatflowd.conf"
	fi
done
[ "$n" -ge 25 ] || bad "only $n keys read from --check-config"

# Options: the rendered page, wide enough that no tag wraps.
MANWIDTH=200 MAN_KEEP_FORMATTING= man -l "$man8" 2>/dev/null | col -b >"$work/man8.txt"
"$xlatflowd" --help >"$work/help"
while read -r line; do
	# "  -c, --config FILE   text" / "      --zone-as-vrf   text"
	opt=$(printf '%s\n' "$line" | grep -o -- '--[a-z][a-z-]*' | head -n 1)
	arg=$(printf '%s\n' "$line" | sed -n 's/^ *\(-[a-zA-Z], \)\{0,1\}--[a-z-]* \([A-Z][A-Z]*\) .*/\2/p')
	[ -n "$opt" ] || continue
	want="$opt"
	[ -z "$arg" ] || want="$opt ${arg,,}"
	# the tag line: the option (after its short form) and its argument, alone
	if grep -qE -- "^ {7}(-[a-zA-Z], )?$want\$" "$work/man8.txt"; then
		ok "$want is a tag of xlatflowd(8)"
	else
		bad "xlatflowd(8) has no tag line '$want' (--help: $line)"
	fi
done < <(grep -E '^ +(-[a-zA-Z], )?--[a-z]' "$work/help")

# The guides the pages name are the ones installed in /usr/share/doc/xlatflow.
for doc in $(grep -ho '[-a-z\]*\.md' "$man8" "$man5" | sed 's/\\-/-/g' | sort -u); do
	if grep -q "docs/$doc" "$abs_top_srcdir/etc/xlatflow.am"; then
		ok "$doc (named in a man page) is installed"
	else
		bad "$doc is named in a man page but not installed (etc/xlatflow.am dist_doc_DATA)"
	fi
done

for page in "$man8" "$man5"; do
	w=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null || true)
	w2=$(groff -man -ww -z "$page" 2>&1 || true)
	if [ -z "$w$w2" ]; then
		ok "$(basename "$page") renders without warnings"
	else
		bad "$(basename "$page"): $w $w2"
	fi
done
[ $fails -eq 0 ]
