#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# Inside the run-vm.sh guest: the host's kube-proxy-style NAT scenarios
# (tests/integration/nat_scenarios.sh: iptables statistic and nftables numgen
# ClusterIPs with two endpoints, NodePort, egress masquerade, IPv6, ICMP,
# zones, OUTPUT DNAT), run with the daemon's kernel hooks instead of conntrack
# netlink:  kube-nat-scenarios.sh MODE...   (default: fentry kprobe)
# The scenario loads its modules itself (topo_modules, tests/lib/nat-topology.sh)
# before the daemon attaches the hook to nf_nat.
[ $# -ge 1 ] || set -- fentry kprobe
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
