// SPDX-License-Identifier: GPL-2.0-only
/*
 * Reference TC program for bench/datapath_bench: does nothing. Its
 * BPF_PROG_TEST_RUN time is the floor every TC program pays (test-run loop,
 * program entry and exit); ratios against it show what parsing and map
 * access add on top.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int ref_empty(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
