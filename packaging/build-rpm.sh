#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Usage: packaging/build-rpm.sh OUTDIR [TARBALL]
# Build the binary RPM from the `make dist` tarball (made from this tree when
# TARBALL is not given) with rpmbuild and copy it to OUTDIR.
# On Debian (the `rpm` package) the build dependencies cannot be checked
# against an RPM database, so they are not (--nodeps), and there is no
# debuginfo tooling: this is a test of the spec and of the file list; real
# packages are built on an RPM distribution with `rpmbuild -ta TARBALL`.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
outdir=${1:?usage: $0 OUTDIR [TARBALL]}
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
tarball=${2:-$("$here/dist-tarball.sh" "$outdir")}

base=$(basename "$tarball" .tar.gz)
version=${base#xlatflow-}

work=$(mktemp -d "${TMPDIR:-/tmp}/xlatflow-rpm.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/SOURCES" "$work/SPECS"
cp "$tarball" "$work/SOURCES/"
tar -xzOf "$tarball" "$base/packaging/rpm/xlatflow.spec" > "$work/SPECS/xlatflow.spec"

specversion=$(sed -n 's/^Version:[[:space:]]*//p' "$work/SPECS/xlatflow.spec")
if [ "$specversion" != "$version" ]; then
	echo "build-rpm: xlatflow.spec is at $specversion but the tarball is $version" >&2
	exit 1
fi

set -- --define "_topdir $work" --define "_smp_mflags -j$(nproc)"
if ! rpm -q rpm >/dev/null 2>&1; then
	set -- "$@" --nodeps --define "debug_package %{nil}"
fi
rpmbuild -bb --nocheck "$@" "$work/SPECS/xlatflow.spec" > "$work/build.log" 2>&1 || {
	tail -n 60 "$work/build.log" >&2
	echo "build-rpm: rpmbuild failed (last 60 lines above)" >&2
	exit 1
}
find "$work/RPMS" -name '*.rpm' -exec cp {} "$outdir/" \;
ls "$outdir"/xlatflow-"$version"-*.rpm
