#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# Second-stage init of the run-vm.sh guest: PID 1 after switch_root onto the
# host's root file system (read-only 9p). Mounts the kernel file systems,
# runs the scenario named in the job file and reports "XF-RC=<status>" on
# the console, then powers off (qemu runs with -no-reboot and exits).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/tmp LANG=C LC_ALL=C

finish() {
	echo "XF-RC=$1"
	sync
	umount /run/xf-out 2>/dev/null
	busybox poweroff -f
	# not reached; PID 1 exiting panics, and panic=-1 + -no-reboot also stops qemu
	exit "$1"
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm 2>/dev/null
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t bpf bpf /sys/fs/bpf
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mkdir -p /run/xf-out
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 xfout /run/xf-out ||
	finish "mount-out-failed"
hostname xlatflow-vm 2>/dev/null
ip link set lo up

job=$(sed -n 's/.*xf\.job=\([^ ]*\).*/\1/p' /proc/cmdline)
[ -r "$job" ] || finish "no-job"
. "$job"
export XF_OUT=/run/xf-out XF_BUILDDIR XF_SRCDIR

echo "xf-vm: $(uname -r), running $XF_SCENARIO $XF_ARGS"
# shellcheck disable=SC2086 # XF_ARGS is a word list by design
sh "$XF_SCENARIO" $XF_ARGS </dev/null
finish $?
