// SPDX-License-Identifier: GPL-2.0-only
/*
 * The NAT hooks (docs/nat.md): one object, two sets of programs, one
 * logic (bpf/lib/nat_ct.h). Userspace (src/xlat_source.c) loads the set of
 * the chosen mode: fentry/fexit (direct BTF loads, BPF trampolines) or
 * kprobe/kretprobe (older or trampoline-less kernels).
 *
 * Flow enrichment (always attached):
 *   nf_nat_manip_pkt     every translated packet: a SEEN translation once
 *                        per connection and change, and a refresh every
 *                        XF_XLAT_REFRESH_NS; otherwise as little as possible
 *                        (one inlined lookup of the connection in a table).
 *   nf_conntrack_free    forgets a translated connection's map entry.
 * NAT event log (attached when asked for):
 *   __nf_conntrack_confirm (return)  CREATE: a translated connection
 *                        entered the table, with its final tuples.
 *   nf_ct_helper_destroy DELETE: called exactly once per deletion, by the
 *                        nf_ct_delete() that set IPS_DYING, after the stop
 *                        timestamp was taken; tuples, counters, times.
 *   nf_ct_resolve_clash (return NF_DROP)  PORTS_EXHAUSTED: a new
 *                        connection's translated tuple is held by another.
 *   __nf_conntrack_alloc (return -ENOMEM)  TABLE_FULL.
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "nat_ct.h"
#include "xlatflow_shared.h"

char LICENSE[] SEC("license") = "GPL";

/*
 * The refresh is timed with jiffies (bpf_jiffies64() is one load, where
 * bpf_ktime_get_ns() reads the clock source) when libbpf finds the
 * kernel's HZ (/boot/config-*, /proc/config.gz), with ktime otherwise.
 */
extern const int CONFIG_HZ __kconfig __weak;

static __always_inline __u64 coarse_now(void)
{
	return CONFIG_HZ > 0 ? bpf_jiffies64() : bpf_ktime_get_ns();
}

static __always_inline __u64 refresh_interval(void)
{
	return CONFIG_HZ > 0 ? (XF_XLAT_REFRESH_NS / 1000000000ULL) * CONFIG_HZ
			     : XF_XLAT_REFRESH_NS;
}

#define NF_DROP 0
#define NF_ACCEPT 1
#define NAT_ENOMEM 12

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} xlat_events SEC(".maps");

/*
 * "Already reported": a set-associative table of the translated connections
 * nf_nat_manip_pkt saw, XF_CONN_WAYS entries per set, the set chosen by a
 * hash of the nf_conn address. An array, so the per-packet lookup is
 * inlined by the verifier (a few instructions, where a hash map's costs a
 * hash of the key, a bucket walk and a memcmp). Userspace sizes it from
 * nf_conntrack_max (max_entries sets, 1 << conn_set_bits) before loading.
 */
const volatile __u32 conn_set_bits = 14;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << 14);
	__type(key, __u32);
	__type(value, struct xf_xlat_seen_set);
} xlat_conns SEC(".maps");

/* Same layout as the TC programs' counters; this object touches XF_CNT_XLAT_* and _NATEV_*. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XF_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} nat_counters SEC(".maps");

/*
 * The entry arguments a kretprobe needs, per task (bpf_get_current_task(),
 * unique even for the per-CPU idle tasks that share pid 0), as a short
 * stack: a softirq can run the same function on the same task's stack
 * while its process-context call is in progress (nested, so last in first
 * out), and a task can move to another CPU between entry and return.
 */
#define STASH_DEPTH 4 /* a power of two */
#define STASH_CONFIRM 1
#define STASH_CLASH 2
#define STASH_ALLOC 3

struct stash_key {
	__u64 task;
	__u32 fn;
	__u32 pad;
};

struct stash {
	__u32 depth;
	__u32 pad;
	__u64 arg[STASH_DEPTH][3];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct stash_key);
	__type(value, struct stash);
} kret_stash SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&nat_counters, &idx);

	if (v)
		*v += 1; /* per-CPU slot: no other writer */
}

/*
 * What a packet's connection must still be for "nothing new": its status
 * bits and a few words of its reply tuple, which sit next to each other at
 * the end of the head of struct nf_conn (one short read for the kprobe).
 */
struct conn_ident {
	__u32 dst_addr;
	__u16 src_port;
	__u16 dst_port;
	__u32 status;
};

/*
 * The set of a connection: a multiplicative hash of its identity words (the
 * verifier allows no arithmetic on the nf_conn pointer an fentry program
 * gets, and reading it as a number would cost more).
 */
static __always_inline struct xf_xlat_seen_set *conn_set(__u32 dst_addr, __u16 src_port,
							 __u16 dst_port)
{
	__u64 k = ((__u64)dst_addr << 32) | ((__u32)src_port << 16) | dst_port;
	__u32 idx = (__u32)((k * 0x9e3779b97f4a7c15ULL) >> (64 - conn_set_bits));

	return bpf_map_lookup_elem(&xlat_conns, &idx);
}

/* The entry of connection ct (its address) in set, or NULL. */
static __always_inline struct xf_xlat_seen *conn_find(struct xf_xlat_seen_set *set, const void *ct)
{
#pragma unroll
	for (int i = 0; i < XF_CONN_WAYS; i++)
		if (set->way[i].ct == (__u64)ct)
			return &set->way[i];
	return NULL;
}

static __always_inline void conn_ident_direct(struct conn_ident *id, const struct nf_conn *ct)
{
	const struct nf_conntrack_tuple *t = &ct->tuplehash[IP_CT_DIR_REPLY].tuple;

	id->dst_addr = t->dst.u3.all[0];
	id->src_port = t->src.u.all;
	id->dst_port = t->dst.u.all;
	id->status = ct->status & XF_SEEN_STATUS_MASK;
}

/*
 * The kprobe's: one bpf_probe_read_kernel from the reply tuple's source
 * port to the status (32 bytes on 6.1 and 6.12), 8-byte aligned.
 */
#define IDENT_SPAN 64
static __always_inline int conn_ident_copy(struct conn_ident *id, const struct nf_conn *ct)
{
	__u64 buf[IDENT_SPAN / 8];
	__u32 start = bpf_core_field_offset(ct->tuplehash[IP_CT_DIR_REPLY].tuple.src.u.all) & ~7U;
	__u32 end = bpf_core_field_offset(ct->status) + sizeof(ct->status);
	const char *b = (const char *)buf;

	if (end <= start || end - start > sizeof(buf) ||
	    bpf_probe_read_kernel(buf, end - start, (const char *)ct + start))
		return -1;
	/* offsets relative to start: CO-RE constants, so the verifier knows them */
	id->dst_addr =
		*(const __u32 *)(b + (bpf_core_field_offset(
					      ct->tuplehash[IP_CT_DIR_REPLY].tuple.dst.u3.all[0]) -
				      start));
	id->src_port =
		*(const __u16 *)(b + (bpf_core_field_offset(
					      ct->tuplehash[IP_CT_DIR_REPLY].tuple.src.u.all) -
				      start));
	id->dst_port =
		*(const __u16 *)(b + (bpf_core_field_offset(
					      ct->tuplehash[IP_CT_DIR_REPLY].tuple.dst.u.all) -
				      start));
	id->status = *(const unsigned long *)(b + (bpf_core_field_offset(ct->status) - start)) &
		     XF_SEEN_STATUS_MASK;
	return 0;
}

/* The set and entry of ct from a head copy (or a directly readable ct). */
static __always_inline struct xf_xlat_seen *conn_lookup(const struct nf_conn *rd, const void *ct)
{
	const struct nf_conntrack_tuple *t = &rd->tuplehash[IP_CT_DIR_REPLY].tuple;
	struct xf_xlat_seen_set *set = conn_set(t->dst.u3.all[0], t->src.u.all, t->dst.u.all);

	return set ? conn_find(set, ct) : NULL;
}

static __always_inline bool ident_equal(const struct xf_xlat_seen *v, const struct conn_ident *id)
{
	return v->dst_addr == id->dst_addr && v->src_port == id->src_port &&
	       v->dst_port == id->dst_port;
}

/*
 * A connection translated by DNAT and then SNAT got an entry at its first
 * manip call, before SNAT's setup, in the set of its reply tuple then
 * (source: the DNAT target, as now; destination: the original source, not
 * yet translated). Its entry now lives in another set: free the old one.
 */
static __always_inline void conn_forget_pre_snat(const struct nf_conn *rd, const void *ct)
{
	const struct nf_conntrack_tuple *o = &rd->tuplehash[IP_CT_DIR_ORIGINAL].tuple;
	const struct nf_conntrack_tuple *r = &rd->tuplehash[IP_CT_DIR_REPLY].tuple;
	struct xf_xlat_seen_set *set;
	struct xf_xlat_seen *old;

	if ((rd->status & NAT_CT_IPS_NAT_MASK) != NAT_CT_IPS_NAT_MASK)
		return;
	set = conn_set(o->src.u3.all[0], r->src.u.all, o->src.u.all);
	old = set ? conn_find(set, ct) : NULL;
	if (old)
		old->ct = 0;
}

/* A 64-bit digest of what a SEEN event says (tuples, zone), for "is it the one sent last". */
static __always_inline __u64 event_digest(const struct xf_xlat_event *ev)
{
	const __u64 *w = (const __u64 *)ev;
	__u64 h = 0x84222325cbf29ce4ULL;

	_Static_assert(__builtin_offsetof(struct xf_xlat_event, ts_ns) % 8 == 0,
		       "tuples in u64 words");
#pragma unroll
	for (int i = 0; i < (int)(__builtin_offsetof(struct xf_xlat_event, ts_ns) / 8); i++)
		h = (h ^ w[i]) * 0x100000001b3ULL;
	return (h ^ ev->zone_id) * 0x100000001b3ULL;
}

/*
 * A packet nf_nat_manip_pkt translates; ct is the kernel's nf_conn (direct:
 * BTF loads for fentry; otherwise bpf_probe_read_kernel).
 *
 * Fast path (an established, already reported connection): one inlined
 * array lookup (the set hashed from the reply words below), the
 * connection's entry among XF_CONN_WAYS (by its address), and a comparison
 * of what cannot change without something new to say:
 * - status NAT-done bits: on a connection's first packet DNAT's manip runs
 *   before SNAT's setup, so the reply tuple changes between the two calls;
 * - IPS_CONFIRMED: an entry left by a confirmed connection never matches
 *   the first packet of a new one in the same (recycled) nf_conn;
 * - a few words of the reply tuple (the destination address' first 4
 *   bytes: the client or its masquerade address; both ports): nor does one
 *   left by an unconfirmed connection whose free the hook missed;
 * - the time of the last report, for the refresh (jiffies).
 * Anything else takes the slow path: build the translation and send it
 * unless only status bits moved and the translation is the one sent last
 * (a null binding sets SRC_NAT_DONE without translating).
 */
static __always_inline int manip(const struct nf_conn *ct, const bool direct, __u8 source)
{
	struct xf_xlat_seen *seen, *slot;
	struct xf_xlat_seen_set *set;
	struct xf_xlat_event ev, *out;
	struct nat_ct_head head;
	const struct nf_conn *rd;
	struct conn_ident id;
	__u64 now, digest;
	bool known;

	if (direct)
		conn_ident_direct(&id, ct);
	else if (conn_ident_copy(&id, ct) < 0)
		goto unsupported;
	now = coarse_now();
	set = conn_set(id.dst_addr, id.src_port, id.dst_port);
	if (!set)
		return 0; /* not reached: the index is within the array */
	seen = conn_find(set, ct);
	if (seen && seen->status == id.status && ident_equal(seen, &id) &&
	    now - seen->emitted < refresh_interval())
		return 0;

	/* slow path: a new connection, a change, or the refresh */
	count(XF_CNT_XLAT_CALLS);
	known = seen && ident_equal(seen, &id) &&
		!((seen->status & NAT_CT_IPS_CONFIRMED) && !(id.status & NAT_CT_IPS_CONFIRMED));
	if (!known)
		count(XF_CNT_XLAT_MISSES);

	rd = ct;
	if (!direct) {
		rd = nat_ct_copy_head(&head, ct);
		if (!rd)
			goto unsupported;
	}
	__builtin_memset(&ev, 0, sizeof(ev));
	if (nat_ct_event(&ev, rd, true) < 0)
		goto unsupported;
	digest = event_digest(&ev);
	if (known && now - seen->emitted < refresh_interval() && seen->digest == digest) {
		seen->status = id.status; /* nothing new to say */
		return 0;
	}

	out = bpf_ringbuf_reserve(&xlat_events, sizeof(*out), 0);
	if (!out) {
		/* the entry stays as it was, so the next packet tries again */
		count(XF_CNT_XLAT_RB_LOST);
		return 0;
	}
	ev.ts_ns = bpf_ktime_get_ns();
	ev.source = source;
	ev.kind = XF_XLAT_KIND_SEEN;
	__builtin_memcpy(out, &ev, sizeof(ev));
	bpf_ringbuf_submit(out, 0);
	count(XF_CNT_XLAT_EVENTS);

	if (known) {
		/* same connection: keep its created flag (racy stores, benign) */
		seen->digest = digest;
		seen->emitted = now;
		seen->status = id.status;
		return 0;
	}
	/*
	 * A free way, else the one reported longest ago (counted: its
	 * connection's next packet is a miss). The address goes in last, so
	 * that a packet on another CPU matching it finds the rest written.
	 */
	slot = seen;
	if (!slot) {
		conn_forget_pre_snat(rd, ct);
		slot = &set->way[0];
#pragma unroll
		for (int i = 0; i < XF_CONN_WAYS; i++) {
			if (!set->way[i].ct) {
				slot = &set->way[i];
				break;
			}
			if (set->way[i].emitted - slot->emitted > (1ULL << 63))
				slot = &set->way[i]; /* older, wrap-safe */
		}
		if (slot->ct)
			count(XF_CNT_XLAT_MAP_FULL);
	}
	slot->ct = 0;
	slot->digest = digest;
	slot->emitted = now;
	slot->dst_addr = id.dst_addr;
	slot->src_port = id.src_port;
	slot->dst_port = id.dst_port;
	slot->status = id.status;
	slot->created = 0;
	slot->ct = (__u64)ct;
	return 0;

unsupported:
	count(XF_CNT_XLAT_CALLS);
	count(XF_CNT_XLAT_UNSUPPORTED);
	return 0;
}

/*
 * A conntrack entry is being freed: forget it if the manip hook knew it. rd
 * reads like ct (ct itself for fentry, a head copy for the kprobe).
 */
static __always_inline int forget(const struct nf_conn *rd, const void *ct)
{
	struct xf_xlat_seen *seen;

	/* manip runs only for IPS_SRC_NAT/IPS_DST_NAT: others have no entry */
	if (!(rd->status & NAT_CT_IPS_NAT_MASK))
		return 0;
	seen = conn_lookup(rd, ct);
	if (seen)
		seen->ct = 0;
	return 0;
}

/*
 * Send one NAT event of kind with ct's tuples (ct: a head copy). Returns 0
 * or -1 when it was lost (counted).
 */
static __always_inline int send_event(const struct nf_conn *ct, __u8 kind, __u8 source)
{
	struct xf_xlat_event *out;

	out = bpf_ringbuf_reserve(&xlat_events, sizeof(*out), 0);
	if (!out) {
		count(XF_CNT_NATEV_LOST(kind));
		return -1;
	}
	__builtin_memset(out, 0, sizeof(*out));
	if (nat_ct_event(out, ct, true) < 0) {
		bpf_ringbuf_discard(out, 0);
		count(XF_CNT_XLAT_UNSUPPORTED);
		return 0;
	}
	out->ts_ns = bpf_ktime_get_ns();
	out->source = source;
	out->kind = kind;
	bpf_ringbuf_submit(out, 0);
	count(XF_CNT_NATEV(kind));
	return 0;
}

/* A translated connection entered the conntrack table (confirm returned NF_ACCEPT). */
static __always_inline int confirmed(__u64 ctp, __u8 source)
{
	struct nat_ct_head head;
	const struct nf_conn *ct;
	struct xf_xlat_seen *seen;
	unsigned long status;

	if (!ctp)
		return 0;
	ct = nat_ct_copy_head(&head, (const struct nf_conn *)ctp);
	if (!ct)
		return 0;
	status = ct->status;
	/* a clash loser kept only for replies (IPS_NAT_CLASH) is no connection of its own */
	if (!(status & NAT_CT_IPS_CONFIRMED) || !(status & NAT_CT_IPS_NAT_MASK) ||
	    (status & NAT_CT_IPS_NAT_CLASH))
		return 0;
	/*
	 * Once per connection: when a clash merged the packet into the
	 * connection that won (skb->_nfct now points there), or two CPUs
	 * return for it at once, the created flag lets one through.
	 */
	seen = conn_lookup(ct, (const void *)ctp);
	if (seen && __sync_val_compare_and_swap(&seen->created, 0, 1) != 0)
		return 0;
	send_event(ct, XF_XLAT_KIND_CREATE, source);
	return 0;
}

/* nf_ct_delete() removes a connection; ctp is the kernel's nf_conn. */
static __always_inline int deleted(__u64 ctp, __u8 source)
{
	struct nat_ct_head head;
	struct xf_xlat_session *s;
	const struct nf_conn *ct;
	unsigned long status;

	ct = nat_ct_copy_head(&head, (const struct nf_conn *)ctp);
	if (!ct)
		return 0;
	status = ct->status;
	/* the connections CREATE reports */
	if (!(status & NAT_CT_IPS_CONFIRMED) || !(status & NAT_CT_IPS_NAT_MASK) ||
	    (status & NAT_CT_IPS_NAT_CLASH))
		return 0;
	s = bpf_ringbuf_reserve(&xlat_events, sizeof(*s), 0);
	if (!s) {
		count(XF_CNT_NATEV_LOST(XF_XLAT_KIND_DELETE));
		return 0;
	}
	__builtin_memset(s, 0, sizeof(*s));
	if (nat_ct_event(&s->ev, ct, true) < 0) {
		bpf_ringbuf_discard(s, 0);
		count(XF_CNT_XLAT_UNSUPPORTED);
		return 0;
	}
	s->ev.ts_ns = bpf_ktime_get_ns();
	s->ev.source = source;
	s->ev.kind = XF_XLAT_KIND_DELETE;
	nat_ct_session(s, (const struct nf_conn *)ctp);
	bpf_ringbuf_submit(s, 0);
	count(XF_CNT_NATEV(XF_XLAT_KIND_DELETE));
	return 0;
}

/*
 * nf_ct_resolve_clash() dropped a new connection's packet: a tuple of it is
 * already in the table. A port exhaustion when the tuple found is not the
 * connection's original one (the range had no free port for its translated
 * reply tuple, so another connection holds it); when it is, the same
 * connection's packets raced on two CPUs, which is no exhaustion.
 * loserp: skb->_nfct's nf_conn; h: the tuple hash entry found in the table.
 */
static __always_inline int clashed(__u64 loserp, const struct nf_conntrack_tuple_hash *h,
				   __u8 source)
{
	__u64 found[5] = {}, orig[5] = {};
	struct nat_ct_head head;
	const struct nf_conn *ct;

	if (!loserp)
		return 0;
	ct = nat_ct_copy_head(&head, (const struct nf_conn *)loserp);
	if (!ct || !(ct->status & NAT_CT_IPS_NAT_MASK))
		return 0;
	/* compared as conntrack does (nf_ct_tuple_equal), without dst.dir: the last byte */
	if (bpf_core_type_size(struct nf_conntrack_tuple) == sizeof(found) &&
	    bpf_core_field_offset(struct nf_conntrack_tuple, dst.dir) == sizeof(found) - 1) {
		if (bpf_probe_read_kernel(found, sizeof(found), &h->tuple) ||
		    bpf_probe_read_kernel(orig, sizeof(orig),
					  &((const struct nf_conn *)loserp)->tuplehash[0].tuple))
			return 0;
		/* x86-64 is little-endian: dst.dir is the top byte of the last word */
		if (!((found[0] ^ orig[0]) | (found[1] ^ orig[1]) | (found[2] ^ orig[2]) |
		      (found[3] ^ orig[3]) | ((found[4] ^ orig[4]) & 0x00ffffffffffffffULL)))
			return 0;
	}
	send_event(ct, XF_XLAT_KIND_PORTS_EXHAUSTED, source);
	return 0;
}

/*
 * __nf_conntrack_alloc() failed with -ENOMEM: the table was full and
 * early_drop() found nothing to evict (the only other cause, a failed
 * GFP_ATOMIC slab allocation, is counted the same). hash is 0 when the
 * caller is nf_conntrack_alloc() (templates, ctnetlink): no packet, no event.
 */
static __always_inline int alloc_failed(const struct nf_conntrack_zone *zone,
					const struct nf_conntrack_tuple *orig, __u64 hash,
					__u8 source)
{
	struct xf_xlat_event *out;

	if (!hash)
		return 0;
	out = bpf_ringbuf_reserve(&xlat_events, sizeof(*out), 0);
	if (!out) {
		count(XF_CNT_NATEV_LOST(XF_XLAT_KIND_TABLE_FULL));
		return 0;
	}
	__builtin_memset(out, 0, sizeof(*out));
	if (nat_ct_tuple(&out->orig, orig, false) < 0) {
		bpf_ringbuf_discard(out, 0);
		count(XF_CNT_XLAT_UNSUPPORTED);
		return 0;
	}
	if (zone)
		bpf_core_read(&out->zone_id, sizeof(out->zone_id), &zone->id);
	out->ts_ns = bpf_ktime_get_ns();
	out->source = source;
	out->kind = XF_XLAT_KIND_TABLE_FULL;
	bpf_ringbuf_submit(out, 0);
	count(XF_CNT_NATEV(XF_XLAT_KIND_TABLE_FULL));
	return 0;
}

/* --- fentry / fexit ------------------------------------------------------- */

SEC("fentry/nf_nat_manip_pkt")
int BPF_PROG(xf_nat_fentry, struct sk_buff *skb, struct nf_conn *ct, enum nf_nat_manip_type mtype,
	     enum ip_conntrack_dir dir)
{
	return manip(ct, true, XF_XLAT_SRC_FENTRY);
}

SEC("fentry/nf_conntrack_free")
int BPF_PROG(xf_free_fentry, struct nf_conn *ct)
{
	return forget(ct, ct);
}

SEC("fexit/__nf_conntrack_confirm")
int BPF_PROG(xf_create_fexit, struct sk_buff *skb, int ret)
{
	if (ret != NF_ACCEPT)
		return 0;
	return confirmed(skb->_nfct & NAT_CT_NFCT_PTRMASK, XF_XLAT_SRC_FENTRY);
}

SEC("fentry/nf_ct_helper_destroy")
int BPF_PROG(xf_delete_fentry, struct nf_conn *ct)
{
	return deleted((__u64)ct, XF_XLAT_SRC_FENTRY);
}

SEC("fexit/nf_ct_resolve_clash")
int BPF_PROG(xf_clash_fexit, struct sk_buff *skb, struct nf_conntrack_tuple_hash *h,
	     __u32 reply_hash, int ret)
{
	if (ret != NF_DROP)
		return 0;
	return clashed(skb->_nfct & NAT_CT_NFCT_PTRMASK, h, XF_XLAT_SRC_FENTRY);
}

SEC("fexit/__nf_conntrack_alloc")
int BPF_PROG(xf_alloc_fexit, struct net *net, const struct nf_conntrack_zone *zone,
	     const struct nf_conntrack_tuple *orig, const struct nf_conntrack_tuple *repl,
	     __u32 gfp, __u32 hash, struct nf_conn *ret)
{
	if ((long)ret != -NAT_ENOMEM)
		return 0;
	return alloc_failed(zone, orig, hash, XF_XLAT_SRC_FENTRY);
}

/* --- kprobe / kretprobe --------------------------------------------------- */

static __always_inline void stash_push(__u32 fn, __u64 a0, __u64 a1, __u64 a2)
{
	struct stash_key k = { .task = bpf_get_current_task(), .fn = fn };
	struct stash *st, empty = {};
	__u32 d;

	st = bpf_map_lookup_elem(&kret_stash, &k);
	if (!st) {
		bpf_map_update_elem(&kret_stash, &k, &empty, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&kret_stash, &k);
		if (!st)
			return;
	}
	d = st->depth;
	if (d >= STASH_DEPTH) {
		/* deeper than any nesting seen: a lost return left slots behind */
		st->depth = 0;
		d = 0;
	}
	d &= STASH_DEPTH - 1; /* for the verifier: the compiler merges the bound checks */
	st->arg[d][0] = a0;
	st->arg[d][1] = a1;
	st->arg[d][2] = a2;
	st->depth = d + 1;
}

/* Returns 0 and the innermost call's arguments, or -1 when none is stashed. */
static __always_inline int stash_pop(__u32 fn, __u64 *a0, __u64 *a1, __u64 *a2)
{
	struct stash_key k = { .task = bpf_get_current_task(), .fn = fn };
	struct stash *st;
	__u32 d;

	st = bpf_map_lookup_elem(&kret_stash, &k);
	if (!st || st->depth == 0 || st->depth > STASH_DEPTH)
		return -1;
	d = (st->depth - 1) & (STASH_DEPTH - 1);
	*a0 = st->arg[d][0];
	*a1 = st->arg[d][1];
	*a2 = st->arg[d][2];
	st->depth = d;
	return 0;
}

SEC("kprobe/nf_nat_manip_pkt")
int BPF_KPROBE(xf_nat_kprobe, struct sk_buff *skb, struct nf_conn *ct)
{
	return manip(ct, false, XF_XLAT_SRC_KPROBE);
}

SEC("kprobe/nf_conntrack_free")
int BPF_KPROBE(xf_free_kprobe, struct nf_conn *ct)
{
	struct nat_ct_head head;
	const struct nf_conn *rd;

	/* every connection passes here: the status first, the head only for NAT */
	if (!(nat_ct_status(ct, false) & NAT_CT_IPS_NAT_MASK))
		return 0;
	rd = nat_ct_copy_head(&head, ct);
	return rd ? forget(rd, ct) : 0;
}

SEC("kprobe/__nf_conntrack_confirm")
int BPF_KPROBE(xf_create_kprobe, struct sk_buff *skb)
{
	stash_push(STASH_CONFIRM, (__u64)skb, 0, 0);
	return 0;
}

SEC("kretprobe/__nf_conntrack_confirm")
int BPF_KRETPROBE(xf_create_kretprobe, int ret)
{
	__u64 skb, unused, nfct = 0;

	if (stash_pop(STASH_CONFIRM, &skb, &unused, &unused) < 0 || ret != NF_ACCEPT)
		return 0;
	if (bpf_core_read(&nfct, sizeof(nfct), &((struct sk_buff *)skb)->_nfct))
		return 0;
	return confirmed(nfct & NAT_CT_NFCT_PTRMASK, XF_XLAT_SRC_KPROBE);
}

SEC("kprobe/nf_ct_helper_destroy")
int BPF_KPROBE(xf_delete_kprobe, struct nf_conn *ct)
{
	return deleted((__u64)ct, XF_XLAT_SRC_KPROBE);
}

SEC("kprobe/nf_ct_resolve_clash")
int BPF_KPROBE(xf_clash_kprobe, struct sk_buff *skb, struct nf_conntrack_tuple_hash *h)
{
	stash_push(STASH_CLASH, (__u64)skb, (__u64)h, 0);
	return 0;
}

SEC("kretprobe/nf_ct_resolve_clash")
int BPF_KRETPROBE(xf_clash_kretprobe, int ret)
{
	__u64 skb, h, unused, nfct = 0;

	if (stash_pop(STASH_CLASH, &skb, &h, &unused) < 0 || ret != NF_DROP)
		return 0;
	if (bpf_core_read(&nfct, sizeof(nfct), &((struct sk_buff *)skb)->_nfct))
		return 0;
	return clashed(nfct & NAT_CT_NFCT_PTRMASK, (const struct nf_conntrack_tuple_hash *)h,
		       XF_XLAT_SRC_KPROBE);
}

/*
 * __nf_conntrack_alloc(net, zone, orig, repl, gfp, hash): BPF_KPROBE takes
 * five arguments, the sixth (x86-64: r9) is read from the registers.
 */
SEC("kprobe/__nf_conntrack_alloc")
int xf_alloc_kprobe(struct pt_regs *ctx)
{
	/* every new connection passes here: stash only what a failure needs */
	stash_push(STASH_ALLOC, PT_REGS_PARM2(ctx), PT_REGS_PARM3(ctx), (__u32)ctx->r9);
	return 0;
}

SEC("kretprobe/__nf_conntrack_alloc")
int BPF_KRETPROBE(xf_alloc_kretprobe, long ret)
{
	__u64 zone, orig, hash;

	if (stash_pop(STASH_ALLOC, &zone, &orig, &hash) < 0 || ret != -NAT_ENOMEM)
		return 0;
	return alloc_failed((const struct nf_conntrack_zone *)zone,
			    (const struct nf_conntrack_tuple *)orig, hash, XF_XLAT_SRC_KPROBE);
}
