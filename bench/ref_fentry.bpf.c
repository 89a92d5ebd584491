// SPDX-License-Identifier: GPL-2.0-only
/*
 * Reference for the NAT hook benchmark (bench/nat_vm.sh): an fentry program
 * on the same function as bpf/nat.bpf.c that does nothing. Its run time per
 * call is the trampoline's own cost; the NAT hook's fentry and kprobe
 * programs are reported as ratios to it.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("fentry/nf_nat_manip_pkt")
int ref_fentry(unsigned long long *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
