#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# Run one scenario script as root inside a throw-away QEMU guest that boots
# a distribution kernel (Debian's: kprobes, fentry, BTF) on top of the
# host's root file system, shared read-only over 9p.
#
#   run-vm.sh [-t TIMEOUT] [-w WORKDIR] [-k KERNEL] SCENARIO [ARG...]
#   run-vm.sh -l          list the installed kernels, newest first
#
# The kernels are the images /boot/vmlinuz-VERSION whose modules are
# installed (/lib/modules/VERSION/modules.dep), whatever their version:
# linux-image-amd64's, and any other linux-image-* package. KERNEL (-k, or
# XF_VM_KERNEL; -k wins) chooses:
#   newest    the highest VERSION (sort -V), the default
#   all       each installed kernel in turn, one boot each, in
#             WORKDIR-VERSION when there are several; fails if one fails,
#             skips if all skip, and reports a kernel whose scenario
#             skipped as "SKIP-CHECK: kernel VERSION: ..."
#   VERSION   /boot/vmlinuz-VERSION
#   /PATH     that image; its modules in /lib/modules/VERSION, where the
#             file is named vmlinuz-VERSION
# Set XF_SKIP_VM=1 to skip (exit 77) without booting. XF_VM_SMP (default 2)
# and XF_VM_MEM (default 2G) are qemu's -smp and -m: "2,maxcpus=128" boots
# 2 CPUs with 128 possible ones, so per-CPU allocations are sized as on a
# 128-CPU node (bench/kmap_vm.sh). XF_VM_APPEND is added to the kernel
# command line (TCG emulates at most 255 CPUs; "possible_cpus=256" makes
# 256 possible on x86).
#
# SCENARIO (an absolute path on the host, so the guest sees it at the same
# place) runs with ARGs and these variables:
#   XF_OUT       writable directory, shared back to the host as WORKDIR/out
#   XF_BUILDDIR  the build tree this script was started from (read-only)
#   XF_SRCDIR    the source tree (read-only)
# Its exit status comes back as an "XF-RC=<n>" line on the serial console
# and is ours: 0 pass, 77 skip, anything else fail. WORKDIR (default
# BUILDDIR/tests/vm/work-<scenario name>) keeps the initramfs, the job file
# and console.log, the whole console. Exit 77 when qemu or a kernel image is missing.
#
# Why not KVM: it is not usable on the CI machines (see docs), so this is
# TCG, slow but enough for a boot plus a few namespace scenarios per minute.
# The work dir must not be under /tmp: the guest mounts its own tmpfs there.
set -eu

timeout=240
workdir=
kernel=${XF_VM_KERNEL:-newest}
list=
while getopts t:w:k:l opt; do
	case $opt in
	t) timeout=$OPTARG ;;
	w) workdir=$OPTARG ;;
	k) kernel=$OPTARG ;;
	l) list=1 ;;
	*) echo "usage: $0 [-t TIMEOUT] [-w WORKDIR] [-k KERNEL] SCENARIO [ARG...] | -l" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))

# The installed kernels' versions, newest first: an image and its modules.
installed_kernels() {
	for k in /boot/vmlinuz-*; do
		[ -r "$k" ] || continue
		v=${k#/boot/vmlinuz-}
		[ -f "/lib/modules/$v/modules.dep" ] && echo "$v"
	done | sort -rV
}
if [ -n "$list" ]; then
	installed_kernels
	exit 0
fi
[ $# -ge 1 ] || { echo "$0: no scenario given" >&2; exit 2; }
scenario=$1
shift

here=$(cd "$(dirname "$0")" && pwd)
srcdir=${XF_SRCDIR:-$(cd "$here/../.." && pwd)}
builddir=${XF_BUILDDIR:-$(pwd)}

skip() { echo "SKIP: $*" >&2; exit 77; }

[ "${XF_SKIP_VM:-0}" = 0 ] || skip "XF_SKIP_VM is set"

qemu=$(command -v qemu-system-x86_64 || true)
[ -n "$qemu" ] || skip "qemu-system-x86_64 not installed (apt-get install qemu-system-x86)"
[ "$(uname -m)" = x86_64 ] || skip "guest image is x86_64 only"
kvers=$(installed_kernels)
case $kernel in
newest | all)
	[ -n "$kvers" ] ||
		skip "no /boot/vmlinuz-VERSION with its modules in /lib/modules (apt-get install linux-image-amd64)"
	;;
esac
case $kernel in
newest) kernel=/boot/vmlinuz-$(echo "$kvers" | head -n 1) ;;
all) [ "$(echo "$kvers" | wc -l)" -gt 1 ] || kernel=/boot/vmlinuz-$kvers ;;
/*) ;;
*) kernel=/boot/vmlinuz-$kernel ;;
esac
if [ "$kernel" != all ]; then
	[ -r "$kernel" ] || skip "cannot read kernel image $kernel"
	kver=$(basename "$kernel")
	kver=${kver#vmlinuz-}
	[ -f "/lib/modules/$kver/modules.dep" ] || skip "no modules for $kernel in /lib/modules/$kver"
fi
busybox=$(command -v busybox || true)
[ -n "$busybox" ] || skip "busybox-static not installed"
# the initramfs has no libc: busybox must be the static build
ldd "$busybox" >/dev/null 2>&1 && skip "$busybox is dynamically linked (apt-get install busybox-static)"
command -v cpio >/dev/null || skip "cpio not installed"

case $scenario in
/*) ;;
*) scenario=$(cd "$(dirname "$scenario")" && pwd)/$(basename "$scenario") ;;
esac
[ -r "$scenario" ] || { echo "$0: no scenario $scenario" >&2; exit 2; }
# one work dir per scenario, so VM tests can run in parallel (make -j check)
name=$(basename "$scenario")
workdir=${workdir:-$builddir/tests/vm/work-${name%.*}}

if [ "$kernel" = all ]; then
	# one boot per kernel, newest first, each in its own work dir
	fails=0 passes=0
	for v in $kvers; do
		rc=0
		XF_SRCDIR=$srcdir XF_BUILDDIR=$builddir sh "$0" -t "$timeout" -w "$workdir-$v" \
			-k "/boot/vmlinuz-$v" "$scenario" "$@" || rc=$?
		case $rc in
		0) passes=$((passes + 1)); echo "run-vm: kernel $v: pass" >&2 ;;
		77) echo "SKIP-CHECK: kernel $v: the scenario skipped (see $workdir-$v/console.txt)" ;;
		*) fails=$((fails + 1)); echo "run-vm: kernel $v: FAIL" >&2 ;;
		esac
	done
	[ $fails -eq 0 ] || exit 1
	[ $passes -gt 0 ] || exit 77
	exit 0
fi
for d in "$workdir" "$builddir" "$srcdir" "$scenario"; do
	case $d in
	/tmp/* | /tmp) echo "$0: $d is under /tmp, which the guest cannot see" >&2; exit 2 ;;
	esac
done

mkdir -p "$workdir"
workdir=$(cd "$workdir" && pwd)
rm -rf "$workdir/initramfs" "$workdir/out"
mkdir -p "$workdir/initramfs/bin" "$workdir/initramfs/lib/modules" "$workdir/out" \
	"$workdir/initramfs/proc" "$workdir/initramfs/sys" "$workdir/initramfs/dev"

# --- initramfs: static busybox, the 9p/virtio modules, a first-stage init ---
cp "$busybox" "$workdir/initramfs/bin/busybox"
: >"$workdir/initramfs/modules.list"
for m in virtio_pci 9pnet_virtio 9p; do
	modprobe -S "$kver" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'
done | awk '!seen[$0]++' | while read -r ko; do
	# builtin modules print "builtin ..." and are skipped by the awk above
	base=$(basename "$ko")
	case $ko in
	*.ko.xz) xz -dc "$ko" >"$workdir/initramfs/lib/modules/${base%.xz}"; base=${base%.xz} ;;
	*.ko.zst) zstd -qdc "$ko" >"$workdir/initramfs/lib/modules/${base%.zst}"; base=${base%.zst} ;;
	*) cp "$ko" "$workdir/initramfs/lib/modules/$base" ;;
	esac
	echo "/lib/modules/$base" >>"$workdir/initramfs/modules.list"
done

cat >"$workdir/initramfs/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
fail() { echo "XF-RC=init: $*"; sync; poweroff -f; }
while read -r ko; do insmod "$ko" || fail "insmod $ko"; done </modules.list
mkdir -p /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=262144 root /newroot ||
	fail "mount 9p root"
stage2=$(sed -n 's/.*xf\.stage2=\([^ ]*\).*/\1/p' /proc/cmdline)
[ -x "/newroot$stage2" ] || fail "no stage 2 $stage2"
umount /proc /sys /dev
exec switch_root /newroot "$stage2"
EOF
chmod +x "$workdir/initramfs/init"

# The job file tells stage 2 what to run; the guest reads it over the
# read-only root share (the work dir is on the host root).
{
	echo "XF_SCENARIO='$scenario'"
	echo "XF_BUILDDIR='$builddir'"
	echo "XF_SRCDIR='$srcdir'"
	printf 'XF_ARGS="'
	for a in "$@"; do printf '%s ' "$a"; done
	printf '"\n'
} >"$workdir/job"

(cd "$workdir/initramfs" && find . | cpio -o -H newc --quiet | gzip -1) >"$workdir/initramfs.cpio.gz"

# --- boot ---
# A kernel that panics before stage 2 started the scenario (no "xf-vm:"
# line on the console) is booted again, at most twice, and said so: under
# TCG with several vCPU threads on a loaded host, Debian's 6.12 has been
# seen to die at 1.3 s in enqueue_timer, a jump into the middle of an
# instruction (text patching under emulation), before anything of ours ran.
# A panic after the scenario started is the scenario's result and fails it.
start=$(date +%s)
for attempt in 1 2 3; do
	set +e
	timeout -k 5 "$timeout" "$qemu" \
		-accel tcg,thread=multi -cpu max -m "${XF_VM_MEM:-2G}" \
		-smp "${XF_VM_SMP:-2}" -nographic -no-reboot -nic none \
		-kernel "$kernel" -initrd "$workdir/initramfs.cpio.gz" \
		-append "console=ttyS0 quiet loglevel=4 panic=-1 random.trust_cpu=on xf.stage2=$here/guest-init.sh xf.job=$workdir/job ${XF_VM_APPEND:-}" \
		-virtfs local,path=/,mount_tag=root,security_model=none,readonly=on,multidevs=remap \
		-virtfs local,path="$workdir/out",mount_tag=xfout,security_model=none,multidevs=remap \
		</dev/null >"$workdir/console.log" 2>&1
	qrc=$?
	set -e
	if grep -q "Kernel panic" "$workdir/console.log" && ! grep -q "^xf-vm: " "$workdir/console.log"; then
		cp "$workdir/console.log" "$workdir/console-panic-$attempt.log"
		echo "run-vm: kernel $kver panicked while booting, before the scenario started" \
			"(attempt $attempt, $workdir/console-panic-$attempt.log)" >&2
		[ "$attempt" -lt 3 ] && continue
	fi
	break
done
end=$(date +%s)

# the console uses CRLF line ends
tr -d '\r' <"$workdir/console.log" >"$workdir/console.txt"
cat "$workdir/console.txt"
rc=$(sed -n 's/^XF-RC=//p' "$workdir/console.txt" | tail -n 1)
echo "run-vm: kernel $kver, $((end - start)) s, qemu exit $qrc, scenario status ${rc:-none}" >&2
if [ -z "$rc" ]; then
	[ $qrc -eq 124 ] && echo "run-vm: timed out after $timeout s" >&2
	exit 1
fi
case $rc in
0 | 77) exit "$rc" ;;
*) exit 1 ;;
esac
