#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Usage: packaging/dist-tarball.sh OUTDIR [BUILDDIR]
# Make the release tarball (`make dist`) of this source tree, in BUILDDIR (a
# configured build tree) or else in a scratch VPATH build, and move it to
# OUTDIR; print the tarball's path.
# The Debian and RPM builds both start from this tarball, so what they package
# is exactly what `make dist` ships.
set -eu

srcdir=$(cd "$(dirname "$0")/.." && pwd)
outdir=${1:?usage: $0 OUTDIR}
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)

if [ ! -x "$srcdir/configure" ]; then
	(cd "$srcdir" && flock .autoreconf.lock autoreconf -fi) >&2
fi

if [ -n "${2:-}" ]; then
	work=$(cd "$2" && pwd)
	[ -f "$work/Makefile" ] || { echo "dist-tarball: $2 is not a configured build tree" >&2; exit 1; }
	rm -f "$work"/xlatflow-*.tar.gz
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/xlatflow-dist.XXXXXX")
	trap 'rm -rf "$work"' EXIT
	(cd "$work" && "$srcdir/configure" -q) >&2
fi
make -s -C "$work" dist-gzip >/dev/null
tarball=$(ls "$work"/xlatflow-*.tar.gz)
mv "$tarball" "$outdir/"
echo "$outdir/$(basename "$tarball")"
