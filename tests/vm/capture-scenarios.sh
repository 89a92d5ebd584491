#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# Checks of tests/unit/capture_test that need the guest's kernel, run as
# root inside the run-vm.sh guest:
#   capture-scenarios.sh CHECK...      (CHECK: vlan)
# Each runs `capture_test CHECK` from the build tree; its output goes to
# the console and to $XF_OUT/capture-CHECK.log.
set -u
rc=0
for check in "$@"; do
	echo "=== capture_test $check on $(uname -r)"
	"$XF_BUILDDIR/tests/unit/capture_test" "$check" >"$XF_OUT/capture-$check.log" 2>&1
	r=$?
	cat "$XF_OUT/capture-$check.log"
	[ "$r" -eq 0 ] || rc=1
done
exit $rc
