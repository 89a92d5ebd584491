// SPDX-License-Identifier: GPL-2.0-only
/*
 * TC flow capture: xf_tc_ingress / xf_tc_egress count every IPv4/IPv6 packet
 * of the interface into a flow table shared by all CPUs and never change the
 * traffic.
 *
 * They return TC_ACT_UNSPEC, not TC_ACT_OK: with direct action, TC_ACT_OK
 * ends the clsact filter chain, so any filter behind ours (Cilium, a
 * firewall, a second xlatflowd) would silently stop running. UNSPEC lets
 * the chain go on, and a chain that ends in UNSPEC passes the packet.
 *
 * Accounting invariant (in packets, a GSO super-packet counting gso_segs):
 *   XF_CNT_PACKETS = packets in flow_table + packets in flow_events
 *                    + XF_CNT_SAMPLED_OUT + XF_CNT_RB_LOST_PACKETS
 * XF_CNT_MAP_FULL counts the packets that found no slot for their flow,
 * whether their event reached the ring buffer or not. XF_CNT_PACKETS/OCTETS
 * count well-formed IP packets only; XF_CNT_NON_IP and XF_CNT_MALFORMED
 * count skbs that are not flows.
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
 * The flow table (see xlatflow_shared.h): flow_table holds the slots of
 * both epoch parities, flow_list the positions taken in each. Userspace
 * sets max_entries of both before load (2 * table_slots slots, 2 *
 * table_slots positions) and reads them in place through mmap().
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 2 * XF_DEFAULT_MAX_FLOWS);
	__type(key, __u32);
	__type(value, struct xf_flow_slot);
} flow_table SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 2 * XF_DEFAULT_MAX_FLOWS / XF_LIST_CHUNK);
	__type(key, __u32);
	__type(value, struct xf_flow_list_chunk);
} flow_list SEC(".maps");

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

/* Even: programs use slots [0, table_slots), odd: [table_slots, 2 * table_slots). */
__u32 flows_epoch;
/* Slots taken (and listed in flow_list) in the even/odd table this epoch. */
__u32 slots_used[2];

/* Slots of one epoch's table (kernel_max_flows) and the hash seed: set before load. */
const volatile __u32 table_slots = XF_DEFAULT_MAX_FLOWS;
/* A quarter of flow_events' size: set before load (a constant, not a second ringbuf query). */
const volatile __u64 ring_wake_bytes = 64 * 1024;
const volatile __u32 hash_seed[XF_SEED_WORDS];

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
 * VM). A flow's first packet always gets the precise clock, and last_ns
 * never moves backwards, so first_ns <= last_ns holds and a flow's end is
 * early by at most one tick. 1: precise clock every packet.
 */
const volatile __u32 precise_time = 0;

/*
 * The datapath order (enum xf_order, datapath_order in xlatflowd.conf(5)).
 * Ring first, a packet costs a sequential write instead of a random access
 * to its flow's slot, and the daemon aggregates it, its cache misses
 * overlapped: cheaper where flows are many and their packets few a drain
 * interval, for as many packets as one daemon thread merges
 * (docs/datapath.md). XF_ORDER_SLOTS and XF_ORDER_RING are load-time
 * constants (the verifier drops the other order's code); XF_ORDER_AUTO
 * reads ring_order, which the daemon sets from what it measures.
 */
const volatile __u32 order_mode = XF_ORDER_SLOTS;
/* XF_ORDER_AUTO: 1 while the daemon runs the ring-first order. */
__u32 ring_order;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xf_order_cost);
} order_cost SEC(".maps");

/* Add n to this CPU's counter idx; its new value (0 if the lookup failed). */
static __always_inline __u64 xf_count(__u32 idx, __u64 n)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &idx);

	if (!c)
		return 0;
	*c += n;
	return *c;
}

/* Add a timed packet's program time to this CPU's cost of the order it ran. */
static __always_inline void xf_cost(__u32 ring, __u64 ns)
{
	__u32 zero = 0;
	struct xf_order_cost *oc = bpf_map_lookup_elem(&order_cost, &zero);

	if (!oc)
		return;
	oc->ns[ring & 1] += ns;
	oc->samples[ring & 1]++;
}

/*
 * Word-sized copies (the stats side is aligned, unaligned packet loads are
 * fine for the verifier and the JIT); memcpy of 6-byte arrays becomes 24
 * byte-sized instructions.
 */
static __always_inline void xf_copy_macs(__u8 *macs, const struct ethhdr *eth)
{
	const void *e = eth;

	/* macs: src_mac[6] then dst_mac[6], 4-byte aligned (the stats' and the compact event's) */
	*(__u32 *)&macs[0] = *(const __u32 *)(e + 6);
	*(__u16 *)&macs[4] = *(const __u16 *)(e + 10);
	*(__u16 *)&macs[6] = *(const __u16 *)(e + 0);
	*(__u32 *)&macs[8] = *(const __u32 *)(e + 2);
}

/*
 * Add a packet to a ready slot, shared by all CPUs: atomic adds for the
 * counters, an atomic or for flags the slot lacks (most packets of a TCP
 * flow bring none: a load, no atomic). Plain stores for the rest: two CPUs
 * racing there leave one of their packets' values, which is all these say;
 * last_ns only moves forward (a racing store may keep the earlier of two
 * nearly equal times).
 */
static __always_inline void xf_account(struct xf_flow_stats *st, const struct xf_pkt *pkt,
				       const struct ethhdr *eth, __u32 segs, __u64 octets)
{
	__u64 now;

	__sync_fetch_and_add(&st->packets, segs);
	__sync_fetch_and_add(&st->octets, octets);
	if (pkt->tcp_flags & ~st->tcp_flags)
		/* tcp_flags is a half of this aligned 4-byte word (tos and pad the other) */
		__sync_fetch_and_or((__u32 *)&st->tcp_flags,
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
				    (__u32)pkt->tcp_flags << 16
#else
				    (__u32)pkt->tcp_flags
#endif
		);
	now = precise_time ? bpf_ktime_get_ns() : bpf_ktime_get_coarse_ns();
	if (now > st->last_ns)
		st->last_ns = now;
	st->tos = pkt->tos;
	xf_copy_macs(st->src_mac, eth);
}

/* The first packet's stats, in a slot only this CPU writes (BUSY): plain stores. */
static __always_inline void xf_first(struct xf_flow_stats *st, const struct xf_pkt *pkt,
				     const struct ethhdr *eth, __u32 segs, __u64 octets)
{
	__u64 now = bpf_ktime_get_ns();

	st->packets = segs;
	st->octets = octets;
	st->first_ns = now;
	st->last_ns = now;
	st->tcp_flags = pkt->tcp_flags;
	st->tos = pkt->tos;
	st->pad = 0;
	xf_copy_macs(st->src_mac, eth);
}

static __always_inline bool xf_key_eq(const struct xf_flow_key *a, const struct xf_flow_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4]) |
		(x[5] ^ y[5])) == 0;
}

/*
 * List a slot this CPU filled (position pos of the table of this epoch's
 * parity), then publish it. Each position is taken once per epoch, so the
 * list (table_slots entries per parity) cannot overflow.
 */
static __always_inline void xf_publish(struct xf_flow_slot *s, __u32 parity, __u32 pos, __u64 tag)
{
	__u32 nth = __sync_fetch_and_add(&slots_used[parity], 1);
	__u32 at = (parity ? table_slots : 0) + nth;
	__u32 chunk = at / XF_LIST_CHUNK;
	struct xf_flow_list_chunk *l = bpf_map_lookup_elem(&flow_list, &chunk);

	if (l)
		l->slot[at % XF_LIST_CHUNK] = pos;
	/* an exchange, so ordered after the key and stats stores on every architecture */
	__sync_lock_test_and_set(&s->tag, tag);
}

/*
 * Submit an event. The daemon reads the ring at every drain anyway, so it
 * is woken only once the ring holds a quarter of its size: a wakeup per
 * event (an epoll round trip in the daemon for each packet past full
 * slots, 2% of packets at the documented sizing) cost it more than all its
 * other work (bench/README.md, issue 14 item 2).
 */
static __always_inline void xf_submit(void *ev)
{
	bpf_ringbuf_submit(ev, bpf_ringbuf_query(&flow_events, BPF_RB_AVAIL_DATA) >= ring_wake_bytes
				       ? BPF_RB_FORCE_WAKEUP
				       : BPF_RB_NO_WAKEUP);
}

/* An IPv4 packet's compact event (struct xf_flow_event4): false when the ring is full. */
static __always_inline bool xf_emit4(const struct xf_pkt *pkt, const struct ethhdr *eth, __u32 segs,
				     __u64 octets)
{
	struct xf_flow_event4 *ev = bpf_ringbuf_reserve(&flow_events, sizeof(*ev), 0);
	const struct xf_flow_key *k = &pkt->key;

	if (!ev)
		return false;
	ev->ns = bpf_ktime_get_ns();
	ev->octets = octets;
	ev->packets = segs;
	*(__u32 *)ev->src_addr = *(const __u32 *)k->src_addr;
	*(__u32 *)ev->dst_addr = *(const __u32 *)k->dst_addr;
	/* the ports, then ifindex; the VLAN id, protocol and direction */
	*(__u32 *)&ev->src_port = *(const __u32 *)&k->src_port;
	ev->ifindex = k->ifindex;
	ev->vlan_id = k->vlan_id;
	ev->proto = k->proto;
	ev->direction = k->direction;
	xf_copy_macs(ev->src_mac, eth);
	ev->tcp_flags = pkt->tcp_flags;
	ev->tos = pkt->tos;
	ev->pad = 0;
	xf_submit(ev);
	return true;
}

/*
 * Hand one packet to userspace as a flow_events event (its flow's first and
 * only packet there: the precise clock, as a slot's first packet); false
 * when the ring is full. IPv4 takes the compact event.
 */
static __always_inline bool xf_emit(const struct xf_pkt *pkt, const struct ethhdr *eth, __u32 segs,
				    __u64 octets)
{
	struct xf_flow_event *ev;

	if (pkt->key.family == XF_FAMILY_IPV4)
		return xf_emit4(pkt, eth, segs, octets);
	ev = bpf_ringbuf_reserve(&flow_events, sizeof(*ev), 0);
	if (!ev)
		return false;
	__builtin_memcpy(&ev->key, &pkt->key, sizeof(ev->key));
	xf_first(&ev->stats, pkt, eth, segs, octets);
	xf_submit(ev);
	return true;
}

/*
 * Add the packet to its flow in this epoch's table: probe from the flow's
 * home slot for its key (add to it) or an empty slot (take it), at most
 * XF_PROBES slots. A slot another CPU is filling (BUSY) is passed over,
 * even if it is for the same flow: that costs a second slot, which
 * userspace merges by key, never a packet counted in another flow.
 */
static __always_inline void xf_record(__u32 epoch, struct __sk_buff *skb, const struct xf_pkt *pkt,
				      __u32 segs, __u64 octets, __u32 ring)
{
	void *data = xf_skb_data(skb);
	void *data_end = xf_skb_data_end(skb);
	const struct ethhdr *eth = data;
	__u32 n = table_slots, parity = epoch & 1, pos, idx;
	struct xf_flow_slot *s;
	__u64 hash, tag, t;

	if ((void *)(eth + 1) > data_end)
		return; /* cannot happen: the parser read it */
	if (ring) {
		if (xf_emit(pkt, eth, segs, octets))
			return;
		xf_count(XF_CNT_RING_FULL_SLOTS, segs);
	}
	hash = xf_flow_hash(&pkt->key, hash_seed);
	tag = XF_SLOT_TAG(hash);
	pos = xf_flow_home(hash, n);
	for (int i = 0; i < XF_PROBES; i++) {
		idx = (parity ? n : 0) + pos;
		s = bpf_map_lookup_elem(&flow_table, &idx);
		if (!s)
			break;
		t = *(volatile __u64 *)&s->tag;
		if (t == tag && xf_key_eq(&s->key, &pkt->key)) {
			xf_account(&s->stats, pkt, eth, segs, octets);
			return;
		}
		if (t == XF_SLOT_EMPTY &&
		    __sync_val_compare_and_swap(&s->tag, XF_SLOT_EMPTY, XF_SLOT_BUSY) ==
			    XF_SLOT_EMPTY) {
			__builtin_memcpy(&s->key, &pkt->key, sizeof(s->key));
			xf_first(&s->stats, pkt, eth, segs, octets);
			xf_publish(s, parity, pos, tag);
			return;
		}
		if (++pos >= n)
			pos = 0;
	}

	/* No slot for the flow this epoch: hand the packet to userspace as an event. */
	xf_count(XF_CNT_MAP_FULL, segs);
	if (!xf_emit(pkt, eth, segs, octets)) {
		xf_count(XF_CNT_RB_LOST_PACKETS, segs);
		xf_count(XF_CNT_RB_LOST_OCTETS, octets);
	}
}

static __always_inline int xf_handle(struct __sk_buff *skb, __u8 direction)
{
	__u32 gso_segs = skb->gso_segs;
	__u32 segs = gso_segs > 1 ? gso_segs : 1;
	struct xf_pkt pkt;
	__u64 octets, seen, t0 = 0;
	__u32 epoch, ring;
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
	seen = xf_count(XF_CNT_PACKETS, segs);
	xf_count(XF_CNT_OCTETS, octets);

	if (sampling > 1 && bpf_get_prandom_u32() % sampling) {
		xf_count(XF_CNT_SAMPLED_OUT, segs);
		return XF_TC_VERDICT;
	}

	pkt.key.ifindex = skb->ifindex;
	pkt.key.direction = direction;
	/* Read once: lookup and insert must go to the same table. */
	epoch = *(volatile __u32 *)&flows_epoch;
	ring = order_mode == XF_ORDER_RING;
	if (order_mode == XF_ORDER_AUTO) {
		ring = *(volatile __u32 *)&ring_order;
		/* this packet took this CPU's count past a multiple of XF_COST_EVERY */
		if (seen % XF_COST_EVERY < segs)
			t0 = bpf_ktime_get_ns();
	}
	xf_record(epoch, skb, &pkt, segs, octets, ring);
	if (t0)
		xf_cost(ring, bpf_ktime_get_ns() - t0);
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
