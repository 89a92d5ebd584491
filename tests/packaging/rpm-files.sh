#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Build the RPM from the dist tarball with rpmbuild and check what it holds:
# the exact file list, the config flagged noreplace with mode 0640 root, the
# systemd scriptlets, and the version configure.ac declares.
. "$(dirname "$0")/lib.sh"
need_cmd rpmbuild rpm rpm2cpio cpio readelf

rpmfile=$(built_rpm) || { fail "build-rpm.sh"; finish; }
pass "build-rpm.sh built $(basename "$rpmfile")"

version=$(source_version)
check_eq "RPM version is configure's" "$version" "$(rpm -qp --qf '%{VERSION}' "$rpmfile")"
check_eq "RPM arch" x86_64 "$(rpm -qp --qf '%{ARCH}' "$rpmfile")"

expected="/etc/xlatflow
/etc/xlatflow/xlatflowd.conf
/usr/lib/systemd/system/xlatflowd.service
/usr/sbin/xlatflowd
/usr/share/doc/xlatflow
/usr/share/doc/xlatflow/architecture.md
/usr/share/doc/xlatflow/collectors.md
/usr/share/doc/xlatflow/datapath.md
/usr/share/doc/xlatflow/ipfix.md
/usr/share/doc/xlatflow/kubernetes.md
/usr/share/doc/xlatflow/metrics.md
/usr/share/doc/xlatflow/nat-events.md
/usr/share/doc/xlatflow/nat.md
/usr/share/doc/xlatflow/operation.md
/usr/share/doc/xlatflow/scaling.md
/usr/share/doc/xlatflow/security.md
/usr/share/man/man5/xlatflowd.conf.5
/usr/share/man/man8/xlatflowd.8
/usr/share/xlatflow
/usr/share/xlatflow/templates
/usr/share/xlatflow/templates/nfdump-format.txt
/usr/share/xlatflow/templates/nprobe-custom-fields.txt
/usr/share/xlatflow/templates/pmacct-postgresql
/usr/share/xlatflow/templates/pmacct-postgresql/nfacctd.conf
/usr/share/xlatflow/templates/pmacct-postgresql/schema.sql
/usr/share/xlatflow/templates/pmacct-primitives.lst
/usr/share/xlatflow/templates/prometheus-alerts.yml
/usr/share/xlatflow/templates/xlatflow-ies.txt"
# What the distribution's rpm adds or renames by its own policy is left out:
# build-id links, man page compression (brp-compress), and the doc directory
# (Fedora: %{NAME}; rpm's upstream default: %{NAME}-%{VERSION}).
actual=$(rpm -qlp "$rpmfile" | grep -v '^/usr/lib/\.build-id' |
	sed -e 's#^\(/usr/share/man/.*\)\.\(gz\|xz\|bz2\|zst\)$#\1#' \
	    -e "s#^/usr/share/doc/xlatflow-$version#/usr/share/doc/xlatflow#" | sort)
if [ "$actual" = "$expected" ]; then
	pass "rpm -qlp lists exactly the expected paths"
else
	fail "rpm -qlp file list differs (- expected, + actual):"
	printf '%s\n' "$expected" > "$XF_PKG_OUT/rpm-expected.txt"
	printf '%s\n' "$actual" | diff -u "$XF_PKG_OUT/rpm-expected.txt" - | sed 's/^/#   /'
fi

check_eq "config files (rpm -qcp)" /etc/xlatflow/xlatflowd.conf "$(rpm -qcp "$rpmfile")"
conf=$(rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\n]' \
	"$rpmfile" | grep ' /etc/xlatflow/xlatflowd.conf$')
check_eq "config is %config(noreplace), 0640 root:root" \
	"cn -rw-r----- root:root /etc/xlatflow/xlatflowd.conf" "$conf"
daemon=$(rpm -qp --qf '[%{FILEMODES:perms} %{FILEUSERNAME} %{FILENAMES}\n]' "$rpmfile" |
	grep ' /usr/sbin/xlatflowd$')
check_eq "daemon mode" "-rwxr-xr-x root /usr/sbin/xlatflowd" "$daemon"

scripts=$(rpm -qp --scripts "$rpmfile")
case $scripts in
*"preuninstall"*systemctl*xlatflowd.service*) pass "preun stops and disables the unit" ;;
*) fail "preun scriptlet has no systemctl call: $scripts" ;;
esac
case $scripts in
*"postuninstall"*try-restart*xlatflowd.service*) pass "postun restarts a running unit on upgrade" ;;
*) fail "postun scriptlet has no try-restart: $scripts" ;;
esac

# The unit inside the package is the tree's unit, byte for byte.
work=$(mktemp -d "${TMPDIR:-/tmp}/xlatflow-rpmx.XXXXXX")
on_exit "rm -rf '$work'"
(cd "$work" && rpm2cpio "$rpmfile" | cpio -id --quiet)
check "packaged unit equals etc/xlatflowd.service" \
	cmp -s "$work/usr/lib/systemd/system/xlatflowd.service" "$XF_SRCDIR/etc/xlatflowd.service"
check "packaged daemon is an x86-64 ELF executable" \
	sh -c "readelf -h '$work/usr/sbin/xlatflowd' | grep -q 'Machine:.*X86-64'"
finish
