#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# The NAT event log end to end with the kernel hooks, run as root inside the
# run-vm.sh guest:
#   nat-log-scenarios.sh MODE...     (MODE: fentry, kprobe, conntrack;
#                                     default: fentry kprobe)
#
# For each MODE, tests/integration/nat_events.sh with NAT_MODE=MODE and its
# failure rounds (NATEV_FAILURES=1: the guest's nf_conntrack_max is ours):
# the daemon exports to nfcapd (IPFIX and NetFlow v9), nfacctd, tshark and
# xf-collect; exactly one create and one delete per connection at each,
# times within 50 ms of conntrack's start timestamp (creates) and of the
# `conntrack -F` that deleted them (deletes): under TCG conntrack -E itself
# reads events up to 300 ms late; natEvent 12 counts equal to
# conntrack's insert_failed for 20 connections masqueraded into 4 ports,
# natEvent 13 counts equal to its drops at nf_conntrack_max 64, one
# threshold record (nat_events.py).
set -u

B=$XF_BUILDDIR
S=$XF_SRCDIR
[ $# -ge 1 ] || set -- fentry kprobe
rc=0
for mode in "$@"; do
	echo "=== nat_events.sh NAT_MODE=$mode"
	# lib.sh keeps its work directory in TMPDIR: the guest's /tmp is a tmpfs
	abs_top_builddir=$B abs_top_srcdir=$S NAT_MODE=$mode NATEV_FAILURES=1 \
		XF_KEEP=${XF_OUT:+$XF_OUT/nat-log-$mode} \
		bash "$S/tests/integration/nat_events.sh"
	r=$?
	echo "=== $mode: exit $r"
	if [ $r -eq 77 ]; then
		[ $rc -ne 0 ] || rc=77
	elif [ $r -ne 0 ]; then
		rc=$r
	fi
done
exit $rc
