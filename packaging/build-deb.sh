#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Usage: packaging/build-deb.sh OUTDIR [TARBALL]
# Build the binary Debian package from the `make dist` tarball (made from this
# tree when TARBALL is not given) and copy the .deb files to OUTDIR.
# The package's own test suite is skipped (DEB_BUILD_OPTIONS=nocheck) unless
# the caller sets DEB_BUILD_OPTIONS: CI runs `make check` separately.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
outdir=${1:?usage: $0 OUTDIR [TARBALL]}
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
tarball=${2:-$("$here/dist-tarball.sh" "$outdir")}
tarball=$(cd "$(dirname "$tarball")" && pwd)/$(basename "$tarball")

base=$(basename "$tarball" .tar.gz)	# xlatflow-0.1.0
version=${base#xlatflow-}

work=$(mktemp -d "${TMPDIR:-/tmp}/xlatflow-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
tar -xzf "$tarball" -C "$work"
src="$work/$base"
# The packaging the tarball ships is the one used: no files from outside it.
cp -r "$src/packaging/debian" "$src/debian"
ln -s "$tarball" "$work/xlatflow_$version.orig.tar.gz"

debversion=$(cd "$src" && dpkg-parsechangelog -S Version)
if [ "${debversion%-*}" != "$version" ]; then
	echo "build-deb: debian/changelog is at $debversion but the tarball is $version;" \
		"add a changelog entry (dch -v $version-1)" >&2
	exit 1
fi

: "${DEB_BUILD_OPTIONS:=nocheck parallel=$(nproc)}"
export DEB_BUILD_OPTIONS
(cd "$src" && dpkg-buildpackage -us -uc -b) > "$work/build.log" 2>&1 || {
	tail -n 60 "$work/build.log" >&2
	echo "build-deb: dpkg-buildpackage failed (last 60 lines above)" >&2
	exit 1
}
cp "$work"/*.deb "$outdir/"
ls "$outdir"/xlatflow*_"$debversion"_*.deb
