#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# Inside the run-vm.sh guest: the host's kube-proxy-style NAT scenarios
# (tests/integration/nat_scenarios.sh: iptables statistic and nftables numgen
# ClusterIPs with two endpoints, NodePort, egress masquerade, IPv6, ICMP,
# zones, OUTPUT DNAT), run with the daemon's kernel hooks instead of conntrack
# netlink:  kube-nat-scenarios.sh MODE...   (default: fentry kprobe)
[ $# -ge 1 ] || set -- fentry kprobe
for m in veth nf_tables nf_nat nft_chain_nat nft_ct nft_numgen xt_statistic xt_nat \
	iptable_nat nf_conntrack_netlink; do
	modprobe -q $m 2>/dev/null
done
rc=0
for mode in "$@"; do
	echo "=== NAT_MODE=$mode"
	NAT_MODE=$mode abs_top_builddir=$XF_BUILDDIR abs_top_srcdir=$XF_SRCDIR \
		bash "$XF_SRCDIR/tests/integration/nat_scenarios.sh"
	r=$?
	echo "=== NAT_MODE=$mode: exit $r"
	[ $r -eq 0 ] || rc=1
done
exit $rc
