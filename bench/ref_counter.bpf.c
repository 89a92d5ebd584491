// SPDX-License-Identifier: GPL-2.0-only
/*
 * Reference TC program for bench/datapath_bench: the least a flow counter
 * must do. Parse Ethernet, IPv4 and the L4 ports, then one per-CPU hash
 * lookup and in-place update of packets, bytes and last-seen (insert on a
 * miss). No VLAN, no IPv6, no MACs or flags, no double buffering, no
 * counters: xf_tc_ingress divided by this is the price of its features.
 * Like xf_tc_ingress it returns TC_ACT_UNSPEC, so bench/e2e.sh can attach
 * it beside xlatflowd's filters on a real interface without stopping them.
 *
 * It reads the precise clock (bpf_ktime_get_ns) on every packet; its twin
 * bench/ref_counter_coarse.bpf.c, this file with REF_COARSE, reads
 * bpf_ktime_get_coarse_ns() as xf_tc_ingress does on established flows, so
 * the two ratios separate the clock from the rest.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct ref_key {
	__u32 src;
	__u32 dst;
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 pad[3];
};

struct ref_val {
	__u64 packets;
	__u64 bytes;
	__u64 last_ns;
};

#ifdef REF_COARSE
#define REF_PROG ref_counter_coarse
#define REF_NOW() bpf_ktime_get_coarse_ns()
#else
#define REF_PROG ref_counter
#define REF_NOW() bpf_ktime_get_ns()
#endif

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ref_key);
	__type(value, struct ref_val);
} ref_flows SEC(".maps");

SEC("tc")
int REF_PROG(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct ref_key key = {};
	struct ref_val *v, nv;
	struct iphdr *ip;
	__u16 *ports;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_UNSPEC;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || ip->ihl < 5)
		return TC_ACT_UNSPEC;
	key.src = ip->saddr;
	key.dst = ip->daddr;
	key.proto = ip->protocol;
	if (ip->protocol == IPPROTO_TCP || ip->protocol == IPPROTO_UDP) {
		ports = (void *)ip + ip->ihl * 4;
		if ((void *)(ports + 2) > data_end)
			return TC_ACT_UNSPEC;
		key.sport = bpf_ntohs(ports[0]);
		key.dport = bpf_ntohs(ports[1]);
	}

	v = bpf_map_lookup_elem(&ref_flows, &key);
	if (v) {
		v->packets++;
		v->bytes += bpf_ntohs(ip->tot_len);
		v->last_ns = REF_NOW();
		return TC_ACT_UNSPEC;
	}
	nv.packets = 1;
	nv.bytes = bpf_ntohs(ip->tot_len);
	nv.last_ns = REF_NOW();
	bpf_map_update_elem(&ref_flows, &key, &nv, BPF_ANY);
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "GPL";
