#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Run the packaged daemon under systemd itself, with every hardening setting
# of the shipped unit in force: boot this machine's own system in a container
# (systemd-nspawn on a throw-away overlay of /, private network), install the
# .deb there, and let systemd-inner.sh drive xlatflowd.service (start, hot
# plug, reload, stop, packet counts at nfcapd). `systemd-analyze verify`
# proves the unit parses; this proves the sandbox leaves the daemon working.
# Needs root, systemd-nspawn (Debian: systemd-container) and overlayfs.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd systemd-nspawn dpkg-buildpackage nfcapd nfdump
[ -x /lib/systemd/systemd ] || skip "needs systemd installed (/lib/systemd/systemd)"

deb=$(built_deb) || { fail "build-deb.sh"; finish; }
pass "build-deb.sh built $(basename "$deb")"

# The container's root: an overlay on / whose upper layer is a tmpfs, so
# nothing the container does (dpkg, /etc edits) reaches this machine.
work=$(mktemp -d /run/xlatflow-nspawn.XXXXXX)
# The overlay's lower layer is / itself: remove the directory only once
# nothing is mounted under it any more.
on_exit "umount '$work/root' 2>/dev/null || umount -l '$work/root' 2>/dev/null;
	umount '$work/tmp' 2>/dev/null || umount -l '$work/tmp' 2>/dev/null;
	mountpoint -q '$work/root' || mountpoint -q '$work/tmp' || rm -rf --one-file-system '$work'"
mkdir -p "$work/tmp" "$work/root" "$work/xftest/out" "$work/xftest/tests" "$work/xfdeb"
mount -t tmpfs -o mode=0755 xfpkg "$work/tmp" &&
	mkdir -p "$work/tmp/upper" "$work/tmp/work" &&
	mount -t overlay xfpkg -o "lowerdir=/,upperdir=$work/tmp/upper,workdir=$work/tmp/work" \
		"$work/root" || skip "cannot mount an overlay of / (overlayfs missing?)"
root=$work/root
cp "$XF_SRCDIR/tests/packaging/lib.sh" "$XF_SRCDIR/tests/packaging/systemd-inner.sh" \
	"$work/xftest/tests/"
cp "$deb" "$work/xfdeb/"

# A second build of the same tarball with a newer Debian revision, to test
# the upgrade of a running, enabled service with an edited conffile.
tarball=$(dist_tarball)
base=$(basename "$tarball" .tar.gz)
mkdir -p "$work/up"
tar -xzf "$tarball" -C "$work/up"
cl="$work/up/$base/packaging/debian/changelog"
upver="$(dpkg-deb -f "$deb" Version).1"
{
	printf 'xlatflow (%s) unstable; urgency=medium\n\n' "$upver"
	printf '  * Upgrade test build.\n\n'
	printf ' -- %s  %s\n\n' "$(sed -n 's/^ -- \(.*>\)  .*/\1/p' "$cl" | head -n 1)" "$(date -R)"
	cat "$cl"
} > "$cl.new" && mv "$cl.new" "$cl"
(cd "$work/up" && tar -czf "$base.tar.gz" "$base")
if "$XF_SRCDIR/packaging/build-deb.sh" "$work/up/debs" "$work/up/$base.tar.gz" >/dev/null; then
	mkdir -p "$work/xfdeb/upgrade"
	cp "$work/up/debs/xlatflow_${upver}_"*.deb "$work/xfdeb/upgrade/"
	pass "built the upgrade package $upver"
else
	fail "build of the upgrade package $upver"
fi

# Own machine id (nspawn refuses to share the host's journal), and the test
# as the only unit to start: the host's other enabled services stay off.
# A container image's policy-rc.d (exit 101) forbids maintainer scripts to
# start, restart or stop services: drop it so the container behaves like an
# installed Debian system.
rm -f "$root/usr/sbin/policy-rc.d"
od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > "$root/etc/machine-id"
echo >> "$root/etc/machine-id"
cat > "$root/etc/systemd/system/xftest.service" <<'UNIT'
[Unit]
Description=xlatflow packaging test under systemd
Requires=basic.target
After=basic.target
[Service]
Type=oneshot
ExecStart=/bin/sh /xftest/tests/systemd-inner.sh
ExecStopPost=/bin/systemctl --no-block poweroff
UNIT

timeout 300 systemd-nspawn -q -D "$root" -b --private-network --register=no --keep-unit \
	--link-journal=no --capability=all --system-call-filter='bpf perf_event_open' \
	--bind="$work/xftest:/xftest" --bind-ro="$work/xfdeb:/xfdeb" \
	-- systemd.unit=xftest.service > "$work/console.log" 2>&1
rc=$?
check "container booted and powered off (nspawn exit $rc)" [ "$rc" -eq 0 ]

if [ -f "$work/xftest/out/inner.log" ]; then
	sed "s/^/    inner: /" "$work/xftest/out/inner.log"
else
	fail "the test inside the container did not run"
	tail -n 40 "$work/console.log" | sed 's/^/#   /'
fi
result=$(cat "$work/xftest/out/result" 2>/dev/null)
case $result in
*" passed, 0 failed") pass "inside the container: $result" ;;
*)
	fail "inside the container: ${result:-no result}"
	echo "# xlatflowd journal:"
	sed 's/^/#   /' "$work/xftest/out/journal.txt" 2>/dev/null
	;;
esac
finish
