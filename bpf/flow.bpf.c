// SPDX-License-Identifier: GPL-2.0-only
/*
 * TC flow capture: xf_tc_ingress / xf_tc_egress count every IPv4/IPv6 packet
 * of the interface into per-CPU parts of flow slots and never change the traffic.
 *
 * They return TC_ACT_UNSPEC, not TC_ACT_OK: with direct action, TC_ACT_OK
 * ends the clsact filter chain, so any filter behind ours (Cilium, a
 * firewall, a second xlatflowd) would silently stop running. UNSPEC lets
 * the chain go on, and a chain that ends in UNSPEC passes the packet.
 *
 * Accounting invariant (in packets, a GSO super-packet counting gso_segs):
 *   XF_CNT_PACKETS = packets in flow_slots_0/1 + packets in flow_events
 *                    + XF_CNT_SAMPLED_OUT + XF_CNT_RB_LOST_PACKETS
 * XF_CNT_MAP_FULL counts the packets that found no free flow slot, whether
 * their event reached the ring buffer or not. XF_CNT_PACKETS/OCTETS count
 * well-formed IP packets only; XF_CNT_NON_IP and XF_CNT_MALFORMED count skbs
 * that are not flows.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "xlatflow_shared.h"
#include "flow_parse.h"

#define XF_DEFAULT_MAX_FLOWS 65536
/* Continue with the next filter; the default verdict passes the packet. */
#define XF_TC_VERDICT TC_ACT_UNSPEC
/* How much to pull into the linear area when headers are not there. */
#define XF_PULL_LEN 512

/*
 * Flow slots (see xlatflow_shared.h): flow_index finds a flow's slot of the
 * current epoch, flow_slots_0/1 hold the slots. Userspace sets max_entries
 * of all three and the slots' value size (key + nr_cpus stats) before load,
 * and reads the slots in place through mmap().
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XF_DEFAULT_MAX_FLOWS);
	__type(key, struct xf_flow_key);
	__type(value, __u64); /* XF_REF(epoch, slot) */
} flow_index SEC(".maps");

struct xf_slots_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, XF_DEFAULT_MAX_FLOWS);
	__uint(key_size, sizeof(__u32));
	/* no BTF value type: userspace sets the size, XF_SLOT_SIZE(nr_cpus) */
	__uint(value_size, XF_SLOT_SIZE(1));
};

struct xf_slots_map flow_slots_0 SEC(".maps");
struct xf_slots_map flow_slots_1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} flow_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XF_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* Even: programs write flow_slots_0, odd: flow_slots_1 (see xlatflow_shared.h). */
__u32 flows_epoch;
/* Slots handed out in flow_slots_0/1 this epoch (may pass max_entries when full). */
__u32 slots_used[2];

/* Possible CPUs: the number of per-CPU stats in a slot. Set before load. */
const volatile __u32 nr_cpus = 1;

/*
 * Keep one packet in `sampling` (1 keeps all). Not a load-time constant:
 * userspace changes it on a configuration reload (capture_set_sampling),
 * at the cost of one load per packet.
 */
volatile __u32 sampling = 1;

/*
 * Clock of the established-flow path. 0: bpf_ktime_get_coarse_ns(), the
 * CLOCK_MONOTONIC of the last tick (1-4 ms behind), because reading the
 * clock source costs about as much as the rest of the path (~20 ns in a
 * VM). A flow's first packet (on each CPU) always gets the precise clock,
 * and last_ns never moves backwards, so first_ns <= last_ns holds and a
 * flow's end is early by at most one tick. 1: precise clock every packet.
 */
const volatile __u32 precise_time = 0;

static __always_inline void xf_count(__u32 idx, __u64 n)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &idx);

	if (c)
		*c += n;
}

/*
 * Word-sized copies (the stats side is aligned, unaligned packet loads are
 * fine for the verifier and the JIT); memcpy of 6-byte arrays becomes 24
 * byte-sized instructions.
 */
static __always_inline void xf_copy_macs(struct xf_flow_stats *st, const struct ethhdr *eth)
{
	const void *e = eth;

	*(__u32 *)&st->src_mac[0] = *(const __u32 *)(e + 6);
	*(__u16 *)&st->src_mac[4] = *(const __u16 *)(e + 10);
	*(__u16 *)&st->dst_mac[0] = *(const __u16 *)(e + 0);
	*(__u32 *)&st->dst_mac[2] = *(const __u32 *)(e + 2);
}

static __always_inline void xf_account(struct xf_flow_stats *st, const struct xf_pkt *pkt,
				       const struct ethhdr *eth, __u32 segs, __u64 octets)
{
	__u64 now;

	if (!st->packets) {
		/* First packet of the flow on this CPU (userspace zeroed the slot). */
		now = bpf_ktime_get_ns();
		st->first_ns = now;
		st->last_ns = now;
	} else if (precise_time) {
		st->last_ns = bpf_ktime_get_ns();
	} else {
		now = bpf_ktime_get_coarse_ns();
		if (now > st->last_ns)
			st->last_ns = now;
	}
	st->packets += segs;
	st->octets += octets;
	st->tcp_flags |= pkt->tcp_flags;
	st->tos = pkt->tos;
	xf_copy_macs(st, eth);
}

static __always_inline bool xf_key_eq(const struct xf_flow_key *a, const struct xf_flow_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4]) |
		(x[5] ^ y[5])) == 0;
}

/* This CPU's stats in a slot, NULL on a CPU beyond nr_cpus (cannot happen). */
static __always_inline struct xf_flow_stats *xf_slot_stats(void *slot)
{
	__u32 cpu = bpf_get_smp_processor_id();

	if (cpu >= nr_cpus)
		return NULL;
	return slot + sizeof(struct xf_flow_key) + cpu * sizeof(struct xf_flow_stats);
}

/*
 * Add the packet to its flow in this epoch's slots. The stats are this
 * CPU's part of the slot, so the established-flow path is a lookup and
 * plain stores, no atomics. The slot's key is checked: an index entry the
 * LRU reused under us, or a slot another CPU took for the same flow at the
 * same time, only costs a second slot (userspace merges slots by key).
 */
static __always_inline void xf_record(void *slots, __u32 *used, __u32 epoch, struct __sk_buff *skb,
				      const struct xf_pkt *pkt, __u32 segs, __u64 octets)
{
	void *data = xf_skb_data(skb);
	void *data_end = xf_skb_data_end(skb);
	const struct ethhdr *eth = data;
	struct xf_flow_event *ev;
	struct xf_flow_stats *st;
	struct xf_flow_stats nst;
	__u64 *ref, nref;
	__u32 idx;
	void *slot;

	if ((void *)(eth + 1) > data_end)
		return; /* cannot happen: the parser read it */
	ref = bpf_map_lookup_elem(&flow_index, &pkt->key);
	if (ref) {
		nref = *(volatile __u64 *)ref;
		if (XF_REF_EPOCH(nref) == epoch) {
			idx = XF_REF_SLOT(nref);
			slot = bpf_map_lookup_elem(slots, &idx);
			if (slot && xf_key_eq(slot, &pkt->key)) {
				st = xf_slot_stats(slot);
				if (st) {
					xf_account(st, pkt, eth, segs, octets);
					return;
				}
			}
		}
	}

	/* First packet of the flow in this epoch: take the next slot. */
	idx = __sync_fetch_and_add(used, 1);
	slot = bpf_map_lookup_elem(slots, &idx);
	if (slot) {
		st = xf_slot_stats(slot);
		if (st) {
			__builtin_memcpy(slot, &pkt->key, sizeof(pkt->key));
			xf_account(st, pkt, eth, segs, octets);
			nref = XF_REF(epoch, idx);
			if (ref)
				*(volatile __u64 *)ref = nref;
			else
				bpf_map_update_elem(&flow_index, &pkt->key, &nref, BPF_ANY);
			return;
		}
	}

	/* No slot left this epoch: hand the packet to userspace as an event. */
	xf_count(XF_CNT_MAP_FULL, segs);
	ev = bpf_ringbuf_reserve(&flow_events, sizeof(*ev), 0);
	if (!ev) {
		xf_count(XF_CNT_RB_LOST_PACKETS, segs);
		xf_count(XF_CNT_RB_LOST_OCTETS, octets);
		return;
	}
	__builtin_memset(&nst, 0, sizeof(nst));
	nst.packets = segs;
	nst.octets = octets;
	nst.first_ns = bpf_ktime_get_ns();
	nst.last_ns = nst.first_ns;
	nst.tcp_flags = pkt->tcp_flags;
	nst.tos = pkt->tos;
	xf_copy_macs(&nst, eth);
	__builtin_memcpy(&ev->key, &pkt->key, sizeof(ev->key));
	__builtin_memcpy(&ev->stats, &nst, sizeof(ev->stats));
	bpf_ringbuf_submit(ev, 0);
}

static __always_inline int xf_handle(struct __sk_buff *skb, __u8 direction)
{
	__u32 gso_segs = skb->gso_segs;
	__u32 segs = gso_segs > 1 ? gso_segs : 1;
	struct xf_pkt pkt;
	__u64 octets;
	__u32 epoch;
	int rc;

	rc = xf_parse(skb, &pkt, segs > 1);
	if (rc == XF_PARSE_SHORT) {
		/*
		 * Headers in paged data: pull them into the linear area once.
		 * (data + want, not data_end - data: the verifier forbids
		 * arithmetic on data_end.) A packet whose first want bytes are
		 * linear already is simply too short.
		 */
		void *data = (void *)(long)skb->data;
		void *data_end = (void *)(long)skb->data_end;
		__u32 want = skb->len;

		if (want > XF_PULL_LEN)
			want = XF_PULL_LEN;
		rc = XF_PARSE_MALFORMED;
		if (data + want > data_end && !bpf_skb_pull_data(skb, want)) {
			rc = xf_parse(skb, &pkt, segs > 1);
			if (rc == XF_PARSE_SHORT)
				rc = XF_PARSE_MALFORMED;
		}
	}
	if (rc == XF_PARSE_NON_IP) {
		xf_count(XF_CNT_NON_IP, 1);
		return XF_TC_VERDICT;
	}
	if (rc != XF_PARSE_OK) {
		xf_count(XF_CNT_MALFORMED, 1);
		return XF_TC_VERDICT;
	}

	/* A GSO packet leaves as segs packets, each with its own L3+L4 headers. */
	if (segs > 1)
		octets = (__u64)(skb->len - pkt.l2_len) + (__u64)(segs - 1) * pkt.hdr_len;
	else
		octets = pkt.ip_len;
	xf_count(XF_CNT_PACKETS, segs);
	xf_count(XF_CNT_OCTETS, octets);

	if (sampling > 1 && bpf_get_prandom_u32() % sampling) {
		xf_count(XF_CNT_SAMPLED_OUT, segs);
		return XF_TC_VERDICT;
	}

	pkt.key.ifindex = skb->ifindex;
	pkt.key.direction = direction;
	/* Read once: lookup and insert must go to the same map. */
	epoch = *(volatile __u32 *)&flows_epoch;
	if (epoch & 1)
		xf_record(&flow_slots_1, &slots_used[1], epoch, skb, &pkt, segs, octets);
	else
		xf_record(&flow_slots_0, &slots_used[0], epoch, skb, &pkt, segs, octets);
	return XF_TC_VERDICT;
}

SEC("tc")
int xf_tc_ingress(struct __sk_buff *skb)
{
	return xf_handle(skb, XF_DIR_INGRESS);
}

SEC("tc")
int xf_tc_egress(struct __sk_buff *skb)
{
	return xf_handle(skb, XF_DIR_EGRESS);
}

char LICENSE[] SEC("license") = "GPL";
