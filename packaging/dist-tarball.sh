#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Usage: packaging/dist-tarball.sh OUTDIR
# Make the release tarball (`make dist`) of this source tree in a scratch
# VPATH build and copy it to OUTDIR; print the tarball's path.
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

work=$(mktemp -d "${TMPDIR:-/tmp}/xlatflow-dist.XXXXXX")
trap 'rm -rf "$work"' EXIT
(
	cd "$work"
	"$srcdir/configure" -q
	make -s dist-gzip >/dev/null
) >&2
tarball=$(ls "$work"/xlatflow-*.tar.gz)
cp "$tarball" "$outdir/"
echo "$outdir/$(basename "$tarball")"
