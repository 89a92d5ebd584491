/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The kernel/user contract of xlatflow: map value layouts, ring buffer
 * events and counter indices shared by the BPF programs (bpf/) and the
 * daemon (src/).
 *
 * Rules: fixed-width types only, explicit padding, no pointers. Userspace
 * checks every size with _Static_assert (src/contract.c). Any change here
 * changes both sides at once.
 */
#ifndef XLATFLOW_SHARED_H
#define XLATFLOW_SHARED_H

#ifdef __BPF__
/* BPF programs include this after vmlinux.h or <linux/types.h>. */
#else
#include <linux/types.h>
#endif

#define XF_DIR_INGRESS 0
#define XF_DIR_EGRESS 1

#define XF_FAMILY_IPV4 4
#define XF_FAMILY_IPV6 6

/*
 * One unidirectional flow as seen at one observation point (interface and
 * direction). Addresses are in network byte order; IPv4 addresses occupy
 * bytes 0..3 and bytes 4..15 are zero. Ports are in host byte order.
 * For ICMP/ICMPv6, src_port is 0 and dst_port is (type << 8 | code), the
 * encoding of icmpTypeCodeIPv4/IPv6 (IEs 32/139).
 * For SCTP, TCP and UDP the ports are the transport ports.
 */
struct xf_flow_key {
	__u8 src_addr[16];
	__u8 dst_addr[16];
	__u16 src_port;
	__u16 dst_port;
	__u32 ifindex;
	__u16 vlan_id;	/* outermost 802.1Q/802.1ad VLAN id, 0 when untagged */
	__u8 proto;	/* IPPROTO_* */
	__u8 family;	/* XF_FAMILY_IPV4 or XF_FAMILY_IPV6 */
	__u8 direction; /* XF_DIR_* */
	__u8 pad[3];
};

/*
 * The counts of one flow key in one epoch: a flow slot's (struct
 * xf_flow_slot, shared by all CPUs) or a ring buffer event's.
 * Times are bpf_ktime_get_ns() (CLOCK_MONOTONIC): first_ns of the packet
 * that took the slot, last_ns of the latest (see bpf/flow.bpf.c for the
 * coarse clock). MACs and tos are the latest packet's.
 * octets counts the IP header and payload (RFC 7012 octetDeltaCount): the
 * IPv4 total length or the IPv6 payload length + 40.
 */
struct xf_flow_stats {
	__u64 packets;
	__u64 octets;
	__u64 first_ns;
	__u64 last_ns;
	__u8 src_mac[6];
	__u8 dst_mac[6];
	__u16 tcp_flags; /* OR of TCP flags, tcpControlBits layout (RFC 7125) */
	__u8 tos;	 /* IPv4 TOS / IPv6 traffic class (ipClassOfService) */
	__u8 pad;
};

/*
 * Sent on the "flow_events" ring buffer when a packet finds neither its
 * flow's slot nor a free one in XF_PROBES probes of its epoch's table (the
 * table is full there): one event per packet, same aggregate layout with
 * packets == the packet's segments. Userspace merges it like a map entry.
 */
struct xf_flow_event {
	struct xf_flow_key key;
	struct xf_flow_stats stats;
};

/*
 * An IPv4 packet's event: the same contents as struct xf_flow_event in 56
 * bytes, 64 with the ring's 8-byte record header, so one cache line where
 * the 96-byte event takes two or three. Ring first, every packet is an
 * event, and the lines the programs write and the daemon reads are most of
 * an event's cost (docs/datapath.md). The daemon tells the two apart by the
 * record's size and expands this one into a struct xf_flow_event whose key
 * is the one a slot would hold (addresses in bytes 0..3, the rest zero).
 */
struct xf_flow_event4 {
	__u64 ns; /* first_ns and last_ns: the packet's time */
	__u64 octets;
	__u32 packets; /* the packet's segments */
	__u8 src_addr[4];
	__u8 dst_addr[4];
	__u16 src_port;
	__u16 dst_port;
	__u32 ifindex;
	__u16 vlan_id;
	__u8 proto;
	__u8 direction;
	__u8 src_mac[6];
	__u8 dst_mac[6];
	__u16 tcp_flags;
	__u8 tos;
	__u8 pad;
};

/*
 * A conntrack tuple as the NAT hook reads it from struct nf_conn.
 * Addresses in network byte order (IPv4 in bytes 0..3), ports in host byte
 * order. For ICMP/ICMPv6 both ports are 0 (the echo id is not part of the
 * flow key, see docs/nat.md).
 */
struct xf_tuple {
	__u8 src_addr[16];
	__u8 dst_addr[16];
	__u16 src_port;
	__u16 dst_port;
	__u8 proto;
	__u8 family;
	__u8 pad[2];
};

/*
 * One NAT translation: the conntrack original and reply tuples and the zone.
 * For a connection client C:cp -> service S:sp DNATed to backend B:bp and
 * SNATed to C':cp', orig = C:cp -> S:sp and reply = B:bp -> C':cp'.
 * Sent on the "xlat_events" ring buffer when a connection is first seen
 * translated, when its tuples change, and again every
 * XF_XLAT_REFRESH_NS while packets keep being translated.
 */
struct xf_xlat_event {
	struct xf_tuple orig;
	struct xf_tuple reply;
	__u64 ts_ns;   /* bpf_ktime_get_ns() of the packet or event that emitted it */
	__u16 zone_id; /* ct->zone.id, 0 = default zone */
	__u8 source;   /* XF_XLAT_SRC_* */
	__u8 kind;     /* XF_XLAT_KIND_* */
	__u8 pad[4];
};

#define XF_XLAT_SRC_FENTRY 1
#define XF_XLAT_SRC_KPROBE 2
#define XF_XLAT_SRC_CONNTRACK 3 /* produced in userspace from netlink */

/*
 * What an event reports. SEEN is the flow enrichment's translation (a
 * translated packet: once per connection and change, and a refresh); the
 * others are the NAT event log's (docs/nat-events.md): one CREATE when a
 * translated connection is confirmed (its final tuples, at its first
 * packet), one DELETE when conntrack removes it (a struct xf_xlat_session
 * carries it), and the two failures, each for one dropped packet of a new
 * connection: PORTS_EXHAUSTED (its translated tuple clashed with an existing
 * connection: no free port in the SNAT/masquerade range; orig is the
 * connection's, reply the clashing translated tuple) and TABLE_FULL
 * (conntrack had no room for it; orig is the packet's tuple, reply zero).
 */
#define XF_XLAT_KIND_SEEN 0
#define XF_XLAT_KIND_CREATE 1
#define XF_XLAT_KIND_DELETE 2
#define XF_XLAT_KIND_PORTS_EXHAUSTED 3
#define XF_XLAT_KIND_TABLE_FULL 4

/*
 * A DELETE: the connection's translation and what conntrack knew of it.
 * Times are wall clock (conntrack's timestamp extension,
 * net.netfilter.nf_conntrack_timestamp=1); counters are conntrack's
 * accounting (net.netfilter.nf_conntrack_acct=1), index 0 the original
 * direction, 1 the reply. A flag says which are there.
 */
struct xf_xlat_session {
	struct xf_xlat_event ev; /* kind XF_XLAT_KIND_DELETE */
	__u64 start_wall_ns;
	__u64 stop_wall_ns;
	__u64 packets[2];
	__u64 octets[2];
	__u32 flags; /* XF_SESSION_F_* */
	__u32 pad;
};

#define XF_SESSION_F_TSTAMP 0x1 /* start_wall_ns, stop_wall_ns valid */
#define XF_SESSION_F_ACCT 0x2	/* packets, octets valid */

#define XF_XLAT_REFRESH_NS (10ULL * 1000000000ULL)

/*
 * The NAT hook's "already reported" table (xlat_conns): an array of sets of
 * XF_CONN_WAYS entries, one entry per translated connection, found by the
 * struct nf_conn address (ct). What a packet's connection must still match
 * for the hook to send nothing (docs/nat.md, "What the per-packet hook
 * costs"). Only the BPF programs read it; userspace sizes it.
 */
#define XF_CONN_WAYS 4

struct xf_xlat_seen {
	__u64 ct;      /* struct nf_conn address; 0: a free entry */
	__u64 emitted; /* when the last translation was sent: bpf_jiffies64(), or ns without CONFIG_HZ */
	__u64 digest; /* of the last translation sent (tuples, zone) */
	/*
	 * Identity (struct nf_conn is SLAB_TYPESAFE_BY_RCU), of the reply tuple;
	 * also what the set is hashed from.
	 */
	__u32 dst_addr; /* the first 4 bytes of the destination address */
	__u16 src_port; /* both ports, as conntrack holds them */
	__u16 dst_port;
	__u32 status;  /* ct->status & XF_SEEN_STATUS_MASK when last checked */
	__u32 created; /* 1 once the CREATE of this connection was sent */
	__u64 pad;
};

/* IPS_CONFIRMED, IPS_SRC_NAT_DONE, IPS_DST_NAT_DONE (uapi bits) */
#define XF_SEEN_STATUS_MASK ((1U << 3) | (1U << 7) | (1U << 8))

struct xf_xlat_seen_set {
	struct xf_xlat_seen way[XF_CONN_WAYS];
};

/*
 * Indices into the per-CPU "counters" array map. Userspace sums CPUs.
 * Exported in the metering statistics options records.
 */
enum xf_counter {
	/*
	 * Well-formed IP packets (a GSO packet counts as its segments) and their
	 * IP octets. Invariant: PACKETS = packets in the maps + packets in
	 * flow_events + SAMPLED_OUT + RB_LOST_PACKETS.
	 */
	XF_CNT_PACKETS = 0,
	XF_CNT_OCTETS,
	XF_CNT_NON_IP,		/* not IPv4/IPv6 (ARP, LLDP, ...): not a flow */
	XF_CNT_MALFORMED,	/* truncated or invalid headers: not a flow */
	XF_CNT_SAMPLED_OUT,	/* skipped by sampling */
	XF_CNT_MAP_FULL,	/* no free flow slot: packets sent to flow_events or lost */
	XF_CNT_RB_LOST_PACKETS, /* map full and ring buffer full: lost */
	XF_CNT_RB_LOST_OCTETS,
	/*
	 * NAT hook calls that took the slow path (a new connection, a change,
	 * the refresh): the per-packet fast path counts nothing (bpf_stats'
	 * run_cnt has every call)
	 */
	XF_CNT_XLAT_CALLS,
	XF_CNT_XLAT_EVENTS,	 /* translations emitted */
	XF_CNT_XLAT_RB_LOST,	 /* translations lost: ring buffer full */
	XF_CNT_XLAT_UNSUPPORTED, /* translations of unsupported families */
	/*
	 * The NAT hook's "already reported" table: packets whose connection was
	 * not in it (first packet, a connection older than the hook, or one whose
	 * entry was taken), and entries taken from a connection still tracked
	 * because every entry of its set was in use (its next packet is a miss).
	 */
	XF_CNT_XLAT_MISSES,
	XF_CNT_XLAT_MAP_FULL,
	/* NAT events sent, by kind: XF_CNT_NATEV(kind) */
	XF_CNT_NATEV_CREATE,
	XF_CNT_NATEV_DELETE,
	XF_CNT_NATEV_PORTS_EXHAUSTED,
	XF_CNT_NATEV_TABLE_FULL,
	/* NAT events lost (ring buffer full), by kind: XF_CNT_NATEV_LOST(kind) */
	XF_CNT_NATEV_LOST_CREATE,
	XF_CNT_NATEV_LOST_DELETE,
	XF_CNT_NATEV_LOST_PORTS_EXHAUSTED,
	XF_CNT_NATEV_LOST_TABLE_FULL,
	/*
	 * Ring first only (XF_ORDER_RING, or AUTO while it runs ring first):
	 * packets the full ring buffer passed to the flow slots (the daemon did not keep up); they are in the slots' packets
	 * (or MAP_FULL and lost past full slots too)
	 */
	XF_CNT_RING_FULL_SLOTS,
	XF_CNT_MAX,
};

/*
 * The datapath order (order_mode in bpf/flow.bpf.c, datapath_order in
 * xlatflowd.conf(5)): SLOTS counts each packet into its flow's slot and
 * sends it to the flow_events ring only past full slots; RING sends each
 * packet to the ring first and the slots take what the ring cannot hold;
 * AUTO runs either, as the daemon chooses (ring_order in .bss), and times
 * every XF_COST_EVERY-th packet of each CPU into order_cost.
 */
enum xf_order {
	XF_ORDER_SLOTS = 0,
	XF_ORDER_RING = 1,
	XF_ORDER_AUTO = 2,
};

/*
 * A packet is timed when the CPU's XF_CNT_PACKETS crosses a multiple of
 * this: two clock reads every 64 packets, well under a nanosecond a packet.
 */
#define XF_COST_EVERY 64

/*
 * order_cost (a per-CPU array of one): the program time of the timed
 * packets, from their flow's lookup to the program's return, and how many,
 * by the order they ran in (index XF_ORDER_SLOTS or XF_ORDER_RING).
 */
struct xf_order_cost {
	__u64 ns[2];
	__u64 samples[2];
};

#define XF_CNT_NATEV(kind) (XF_CNT_NATEV_CREATE + (kind)-XF_XLAT_KIND_CREATE)
#define XF_CNT_NATEV_LOST(kind) (XF_CNT_NATEV_LOST_CREATE + (kind)-XF_XLAT_KIND_CREATE)

/*
 * The flow table: how the TC programs hand flows to userspace without a
 * system call per flow, in memory that does not grow with the CPU count.
 *
 * flow_table is one mmap()able array of 2 * n struct xf_flow_slot (n =
 * kernel_max_flows, the rodata "table_slots"): slots [0, n) are the table of
 * even epochs, [n, 2n) the table of odd epochs ("flows_epoch"). Each is an
 * open-addressing hash table: a flow's home slot is
 * xf_flow_home(xf_flow_hash(key, seed), n), and a packet probes at most
 * XF_PROBES slots from there (linear probing, wrapping at n) for its key or
 * an empty slot. The hash is keyed by a random seed the loader puts in
 * .rodata, so which flows collide is not predictable from outside.
 *
 * A slot's tag says what it holds: XF_SLOT_EMPTY, XF_SLOT_BUSY (a program
 * is filling it) or XF_SLOT_TAG(hash) (ready: the key and stats are
 * valid). A program takes an empty slot with a compare-and-swap to BUSY,
 * writes the key and the first packet's stats, appends the slot's position
 * to its epoch's list (flow_list: 2 * n __u32, the first n for even
 * epochs; slots_used[epoch & 1] counts them) and publishes the tag with an
 * atomic exchange. Later packets find the ready slot and add to the one
 * shared struct xf_flow_stats with atomic adds (packets, octets) and
 * atomic or (tcp_flags); last_ns only moves forward, tos and MACs are the
 * latest packet's. A flow that finds neither its key nor a free slot in
 * XF_PROBES slots goes to the flow_events ring buffer.
 *
 * Userspace flips the epoch, waits until no program still runs on the old
 * one (an RCU grace period), reads the slots named by list[0,
 * slots_used[old]) in place, sets their tags back to XF_SLOT_EMPTY and
 * slots_used[old] to 0: the old table is empty again for the epoch after
 * next. A flow can hold two slots of one epoch (two CPUs starting it at the
 * same moment: one saw the other's slot BUSY): both carry its key, and
 * userspace adds them up.
 */
#define XF_PROBES 16
#define XF_SLOT_EMPTY 0ULL
#define XF_SLOT_BUSY 1ULL
/* A ready slot's tag: the hash with bit 1 set, bit 0 clear (never EMPTY or BUSY). */
#define XF_SLOT_TAG(hash) (((hash) & ~3ULL) | 2ULL)

struct xf_flow_slot {
	__u64 tag; /* XF_SLOT_* */
	struct xf_flow_key key;
	struct xf_flow_stats stats;
};

/* flow_list's values: XF_LIST_CHUNK positions each (an array map stores 8-byte multiples). */
#define XF_LIST_CHUNK 16
struct xf_flow_list_chunk {
	__u32 slot[XF_LIST_CHUNK];
};

/* The hash seed: one random word per 32-bit word of struct xf_flow_key. */
#define XF_SEED_WORDS 12

#ifndef __always_inline
#define __always_inline inline __attribute__((__always_inline__))
#endif

/*
 * The flow key's hash: NH (UMAC's, RFC 4418), a sum of products of word
 * pairs each offset by a seed word, universal for a random seed. Pairs are
 * independent multiplies (no chain), which keeps it cheap in the datapath.
 * IPv4 keys hash the 6 words that can be non-zero (addresses bytes 0..3,
 * ports, ifindex, VLAN/proto/family/direction); the others are zero.
 * Keys that differ in one small field (a port) give sums that differ in
 * their low bits only: the final xor-shift and multiply carry that into
 * the high bits, which pick the home slot.
 */
static __always_inline __u64 xf_flow_hash(const struct xf_flow_key *k, const volatile __u32 *seed)
{
	const __u32 *w = (const __u32 *)k;
	__u64 h;

	h = (__u64)(__u32)(w[0] + seed[0]) * (__u32)(w[4] + seed[4]);
	h += (__u64)(__u32)(w[8] + seed[8]) * (__u32)(w[9] + seed[9]);
	h += (__u64)(__u32)(w[10] + seed[10]) * (__u32)(w[11] + seed[11]);
	if (k->family != XF_FAMILY_IPV4) {
		h += (__u64)(__u32)(w[1] + seed[1]) * (__u32)(w[5] + seed[5]);
		h += (__u64)(__u32)(w[2] + seed[2]) * (__u32)(w[6] + seed[6]);
		h += (__u64)(__u32)(w[3] + seed[3]) * (__u32)(w[7] + seed[7]);
	}
	h ^= h >> 31;
	return h * 0x9e3779b97f4a7c15ULL;
}

/* The home slot of a hash in a table of n slots (the high 32 bits, scaled to n). */
static __always_inline __u32 xf_flow_home(__u64 hash, __u32 n)
{
	return (__u32)(((hash >> 32) * n) >> 32);
}

#endif /* XLATFLOW_SHARED_H */
