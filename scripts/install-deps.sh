#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Install everything xlatflow needs to build, test and package on Debian 12.
# The one list of the project's Debian dependencies; .ci/run and the README
# quick start both call it. Idempotent.
set -euo pipefail

build=(autoconf automake libtool pkg-config make gcc clang llvm bpftool
	libbpf-dev libfixbuf-dev libglib2.0-dev libconfig-dev libelf-dev zlib1g-dev
	libmnl-dev libsystemd-dev libmicrohttpd-dev)
test=(python3 iproute2 iputils-ping nftables iptables conntrack ethtool procps psmisc kmod
	nfdump pmacct postgresql tshark libfixbuf-tools softflowd iperf3
	qemu-system-x86 linux-image-amd64 linux-image-6.12-amd64 busybox-static cpio valgrind systemd
	systemd-container man-db gnuplot-nox cppcheck clang-format clang-tidy libclang-rt-14-dev
	prometheus)
pkg=(debhelper dpkg-dev rpm fakeroot mmdebstrap podman buildah runc yamllint)
# mmdebstrap, podman, buildah and runc build and run the container image
# (packaging/container/build.sh, tests/packaging/container.sh; podman's crun
# refuses the sandbox's hybrid cgroup layout, so the tests pass --runtime runc);
# yamllint checks the Kubernetes manifests (deploy/kubernetes/).
# linux-image-amd64 is Debian 12's 6.1, linux-image-6.12-amd64 (bookworm-security)
# the 6.12 the NAT hooks are also tested on (tests/vm/nat-events.test boots both).

if [ "$(id -u)" != 0 ]; then
	echo "install-deps.sh: run as root (apt-get install)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer once, non-interactively.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${build[@]}" "${test[@]}" "${pkg[@]}" >/dev/null
# nfdump and pmacct ship services that would grab the collector ports, and
# postgresql a cluster on port 5432, prometheus a server on port 9090: the
# tests start their own collectors on loopback, their own database cluster
# (tests/integration/nat_pgsql.sh) and their own prometheus
# (tests/integration/metrics_prometheus.sh).
for svc in nfdump nfacctd pmacctd sfacctd uacctd softflowd postgresql prometheus; do
	systemctl disable --now "$svc" >/dev/null 2>&1 || true
done
echo "install-deps.sh: dependencies installed"
