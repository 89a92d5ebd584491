#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Usage: packaging/container/build.sh [--deb FILE] [--tag IMAGE] [--oci-archive FILE] [--force]
#
# Build the xlatflowd container image from the project's own .deb on a
# minimal Debian 12 root file system, with no registry: mmdebstrap makes the
# root file system from Debian's archive (--variant=minbase bookworm), the
# .deb is installed into it with apt (which pulls exactly its Depends: the
# runtime libraries), apt itself is purged, and `podman import` turns the
# tarball into an image. No FROM, no pulled layer.
#
#   --deb FILE          the .deb to install (default: packaging/build-deb.sh
#                       builds one from this tree's `make dist` tarball)
#   --tag IMAGE         image name (default: localhost/xlatflow:VERSION)
#   --oci-archive FILE  also write the image as an OCI archive (for
#                       `ctr -n k8s.io images import`, `skopeo copy`, a registry)
#   --force             rebuild even if IMAGE was built from the same inputs
#
# An image is reused when its label org.xlatflow.build-inputs (the SHA-256 of
# the .deb and of this script) matches: the root file system takes 20 s to
# minutes (Debian's mirror), the import a few seconds. Prints the image name.
# Needs root (mmdebstrap's chroot mode, podman's system store), mmdebstrap and
# podman (scripts/install-deps.sh installs them).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
deb= tag= archive= force=
while [ $# -gt 0 ]; do
	case $1 in
	--deb) deb=${2:?--deb needs a file}; shift 2 ;;
	--tag) tag=${2:?--tag needs an image name}; shift 2 ;;
	--oci-archive) archive=${2:?--oci-archive needs a file}; shift 2 ;;
	--force) force=1; shift ;;
	*) echo "usage: $0 [--deb FILE] [--tag IMAGE] [--oci-archive FILE] [--force]" >&2; exit 2 ;;
	esac
done
for c in mmdebstrap podman dpkg-deb sha256sum; do
	command -v "$c" >/dev/null 2>&1 || { echo "build.sh: $c is not installed" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/xlatflow-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
if [ -z "$deb" ]; then
	"$top/packaging/build-deb.sh" "$work" >/dev/null
	deb=$(ls "$work"/xlatflow_*.deb)
fi
[ -f "$deb" ] || { echo "build.sh: $deb: no such file" >&2; exit 1; }
[ "$(dpkg-deb -f "$deb" Package)" = xlatflow ] ||
	{ echo "build.sh: $deb is not the xlatflow package" >&2; exit 1; }
version=$(dpkg-deb -f "$deb" Version)
: "${tag:=localhost/xlatflow:${version%-*}}"

# Stage 1, the base: Debian 12 minbase plus the packages the .deb's Depends
# names (its runtime libraries), from Debian's archive. Kept as an image of
# its own and reused while the Depends line and this script are unchanged:
# mmdebstrap takes 20 s to minutes (Debian's mirror). --force rebuilds it
# (security updates).
base_tag=localhost/xlatflow-base:bookworm
depends=$(dpkg-deb -f "$deb" Depends)
# "libbpf1 (>= 1:0.6.0), libc6 (>= 2.34), a | b" -> "libbpf1,libc6,a":
# apt installs the newest bookworm version; dpkg -i below checks the bounds.
include=$(printf '%s\n' "$depends" | tr ',' '\n' |
	sed 's/|.*//; s/(.*)//; s/^[[:space:]]*//; s/[[:space:]]*$//' | grep . | paste -sd, -)
base_inputs=$( (printf '%s\n' "$include"; sed -n '/^# Stage 1/,/^# Stage 2/p' "$0") | sha256sum | cut -d' ' -f1)
have=$(podman image inspect --format '{{index .Labels "org.xlatflow.base-inputs"}}' \
	"$base_tag" 2>/dev/null || :)
if [ -n "$force" ] || [ "$have" != "$base_inputs" ]; then
	# Documentation, man pages and translations are left out (dpkg path
	# filters), the copyright files kept. The customize hook runs in the
	# finished system and purges apt and what only apt needed (gpgv, the
	# archive keyring, libapt-pkg, GnuTLS, libstdc++): the image runs one
	# daemon and installs nothing. Also usrmerge, whose work (/bin ->
	# usr/bin) is done, and the full perl it pulls in (46 MiB; perl-base,
	# Essential, stays). mmdebstrap empties /var/lib/apt/lists and
	# /var/cache/apt itself.
	mmdebstrap --variant=minbase --mode=root --include="$include" \
		--dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-include=/usr/share/doc/*/copyright' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		--dpkgopt='path-exclude=/usr/share/info/*' \
		--customize-hook='chroot "$1" apt-get purge -y -q --allow-remove-essential --auto-remove apt usrmerge perl libperl5.36 perl-modules-5.36' \
		bookworm "$work/rootfs.tar" >"$work/mmdebstrap.log" 2>&1 || {
		tail -n 40 "$work/mmdebstrap.log" >&2
		echo "build.sh: mmdebstrap failed (last 40 lines above)" >&2
		exit 1
	}
	old=$(podman image inspect --format '{{.Id}}' "$base_tag" 2>/dev/null || :)
	podman import --quiet \
		--change "LABEL org.xlatflow.base-inputs=$base_inputs" \
		--message "Debian 12 minbase (mmdebstrap) with $include" \
		"$work/rootfs.tar" "$base_tag" >/dev/null
	# The base this one replaces, unless an image still builds on it.
	[ -z "$old" ] || podman rmi "$old" >/dev/null 2>&1 || :
	rm -f "$work/rootfs.tar"
	force=1
	echo "build.sh: built $base_tag" >&2
fi

# Stage 2: the .deb installed with dpkg in a chroot of the base (no network,
# seconds), committed as one layer on top of it. dpkg refuses the .deb if a
# Depends bound is not met by the base.
inputs=$(cat "$deb" "$0" | sha256sum | cut -d' ' -f1)
have=$(podman image inspect --format '{{index .Labels "org.xlatflow.build-inputs"}}' "$tag" \
	2>/dev/null || :)
if [ -z "$force" ] && [ "$have" = "$inputs" ]; then
	echo "build.sh: $tag is already built from $(basename "$deb") and this script" >&2
else
	ctr=$(buildah from --pull-never "$base_tag")
	trap 'buildah rm "$ctr" >/dev/null 2>&1 || :; rm -rf "$work"' EXIT
	root=$(buildah mount "$ctr")
	cp "$deb" "$root/tmp/xlatflow.deb"
	chroot "$root" dpkg --path-exclude='/usr/share/man/*' --path-exclude='/usr/share/doc/*' \
		--path-include='/usr/share/doc/*/copyright' -i /tmp/xlatflow.deb \
		>"$work/dpkg.log" 2>&1 || {
		cat "$work/dpkg.log" >&2
		echo "build.sh: dpkg -i $(basename "$deb") in the base failed" >&2
		exit 1
	}
	rm "$root/tmp/xlatflow.deb"
	npkg=$(chroot "$root" dpkg-query -W -f '${Package}\n' | wc -l)
	buildah umount "$ctr" >/dev/null
	# The image config a DaemonSet needs: the daemon in the foreground
	# (logs to stderr, no pid file), SIGTERM to export every cached flow
	# before it exits. The config comes from a read-only mount
	# (deploy/kubernetes/: a ConfigMap) at the path the package uses.
	buildah config \
		--entrypoint '["/usr/sbin/xlatflowd", "--foreground"]' \
		--cmd '--config /etc/xlatflow/xlatflowd.conf' \
		--stop-signal SIGTERM \
		--env PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		--label org.opencontainers.image.title=xlatflow \
		--label "org.opencontainers.image.version=$version" \
		--label org.opencontainers.image.base.name=$base_tag \
		--label "org.xlatflow.build-inputs=$inputs" \
		--created-by "packaging/container/build.sh: dpkg -i $(basename "$deb")" \
		"$ctr"
	old=$(podman image inspect --format '{{.Id}}' "$tag" 2>/dev/null || :)
	buildah commit --quiet --rm --format oci "$ctr" "$tag" >/dev/null
	# The image this one replaces, unless a container still uses it.
	[ -z "$old" ] || podman rmi "$old" >/dev/null 2>&1 || :
	echo "build.sh: built $tag: $npkg Debian packages" >&2
fi
if [ -n "$archive" ]; then
	rm -f "$archive"
	podman save --format oci-archive -o "$archive" "$tag" >/dev/null
fi
echo "$tag"
