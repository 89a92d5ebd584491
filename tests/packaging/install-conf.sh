#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# `make install` / `make uninstall` from the dist tarball into a DESTDIR: the
# config lands 0640, a second install keeps an edited config, uninstall keeps
# an edited one and removes an untouched one, and every installed path is the
# expected one.
. "$(dirname "$0")/lib.sh"
need_cmd make cc

tarball=$(dist_tarball) || { fail "make dist"; finish; }
work=$(mktemp -d "${TMPDIR:-/tmp}/xlatflow-inst.XXXXXX")
on_exit "rm -rf '$work'"
tar -xzf "$tarball" -C "$work"
src=$(ls -d "$work"/xlatflow-*/)
mkdir "$work/build"
(cd "$work/build" && "$src/configure" -q --prefix=/usr --sysconfdir=/etc \
	--with-systemdsystemunitdir=/lib/systemd/system && make -s -j"$(nproc)") \
	> "$work/build.log" 2>&1 || { fail "configure && make"; tail -n 30 "$work/build.log"; finish; }
dest=$work/dest
inst() { make -s -C "$work/build" DESTDIR="$dest" "$@" > "$work/make-$1.log" 2>&1; }
conf=$dest/etc/xlatflow/xlatflowd.conf

inst install
check_eq "make install exits 0" 0 "$?"
check_eq "installed files" "/etc/xlatflow/xlatflowd.conf
/lib/systemd/system/xlatflowd.service
/usr/sbin/xlatflowd
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
/usr/share/xlatflow/templates/nfdump-format.txt
/usr/share/xlatflow/templates/nprobe-custom-fields.txt
/usr/share/xlatflow/templates/pmacct-postgresql/nfacctd.conf
/usr/share/xlatflow/templates/pmacct-postgresql/schema.sql
/usr/share/xlatflow/templates/pmacct-primitives.lst
/usr/share/xlatflow/templates/prometheus-alerts.yml
/usr/share/xlatflow/templates/xlatflow-ies.txt" "$(cd "$dest" && find . -type f | sed 's/^\.//' | sort)"
check_eq "config mode" 640 "$(stat -c %a "$conf")"
check "config is the shipped one" cmp -s "$conf" "$src/etc/xlatflowd.conf"

echo '# local edit' >> "$conf"
inst install
check_eq "second make install exits 0" 0 "$?"
check_eq "second install keeps the edited config" "# local edit" "$(tail -n 1 "$conf")"
inst uninstall
check_eq "make uninstall exits 0" 0 "$?"
check_eq "uninstall keeps the edited config" "# local edit" "$(tail -n 1 "$conf")"
check_eq "uninstall removes everything else" "/etc/xlatflow/xlatflowd.conf" \
	"$(cd "$dest" && find . -type f | sed 's/^\.//')"

rm -f "$conf"
inst install
inst uninstall
check_eq "uninstall removes an untouched config and its directory" "" \
	"$(cd "$dest" && find . -type f; [ ! -d etc/xlatflow ] || echo etc/xlatflow)"
finish
