// SPDX-License-Identifier: GPL-2.0-only
/*
 * The NAT hook: every packet netfilter translates passes nf_nat_manip_pkt(),
 * whose nf_conn holds the connection's original and reply tuples. We turn
 * them into struct xf_xlat_event and send it to userspace, once per
 * connection and change (plus a refresh every XF_XLAT_REFRESH_NS), not per
 * packet.
 *
 * Two programs, one logic (bpf/lib/nat_ct.h): fentry (cheaper, direct BTF
 * loads, needs BPF trampolines) and kprobe (older or trampoline-less
 * kernels). Userspace disables autoload of the one it does not use.
 */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "nat_ct.h"
#include "xlatflow_shared.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} xlat_events SEC(".maps");

/* Dedup: last emitted reply tuple and zone per original tuple. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct xf_tuple);
	__type(value, struct xf_xlat_seen);
} xlat_seen SEC(".maps");

/* Same layout as the TC programs' counters; this object touches XF_CNT_XLAT_*. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XF_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} nat_counters SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&nat_counters, &idx);

	if (v)
		*v += 1; /* per-CPU slot: no other writer */
}

/* Both operands are 8-byte aligned: seen values and the stack event. */
static __always_inline bool tuple_equal(const struct xf_tuple *a, const struct xf_tuple *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	_Static_assert(sizeof(struct xf_tuple) % 8 == 0, "xf_tuple is compared in u64 words");
#pragma unroll
	for (int i = 0; i < (int)(sizeof(struct xf_tuple) / 8); i++)
		if (x[i] != y[i])
			return false;
	return true;
}

static __always_inline int handle(const struct nf_conn *ct, const bool direct, __u8 source)
{
	struct xf_xlat_seen *seen, upd;
	struct xf_xlat_event ev, *out;
	__u64 now;

	count(XF_CNT_XLAT_CALLS);

	__builtin_memset(&ev, 0, sizeof(ev));
	if (nat_ct_event(&ev, ct, direct) < 0) {
		count(XF_CNT_XLAT_UNSUPPORTED);
		return 0;
	}

	now = bpf_ktime_get_ns();
	seen = bpf_map_lookup_elem(&xlat_seen, &ev.orig);
	if (seen && seen->zone_id == ev.zone_id && tuple_equal(&seen->reply, &ev.reply) &&
	    now - seen->emitted_ns < XF_XLAT_REFRESH_NS)
		return 0;

	out = bpf_ringbuf_reserve(&xlat_events, sizeof(*out), 0);
	if (!out) {
		/* seen stays as it was, so the next packet tries again */
		count(XF_CNT_XLAT_RB_LOST);
		return 0;
	}
	ev.ts_ns = now;
	ev.source = source;
	__builtin_memcpy(out, &ev, sizeof(ev));
	bpf_ringbuf_submit(out, 0);
	count(XF_CNT_XLAT_EVENTS);

	__builtin_memset(&upd, 0, sizeof(upd));
	upd.reply = ev.reply;
	upd.emitted_ns = now;
	upd.zone_id = ev.zone_id;
	bpf_map_update_elem(&xlat_seen, &ev.orig, &upd, BPF_ANY);
	return 0;
}

SEC("fentry/nf_nat_manip_pkt")
int BPF_PROG(xf_nat_fentry, struct sk_buff *skb, struct nf_conn *ct, enum nf_nat_manip_type mtype,
	     enum ip_conntrack_dir dir)
{
	return handle(ct, true, XF_XLAT_SRC_FENTRY);
}

SEC("kprobe/nf_nat_manip_pkt")
int BPF_KPROBE(xf_nat_kprobe, struct sk_buff *skb, struct nf_conn *ct)
{
	return handle(ct, false, XF_XLAT_SRC_KPROBE);
}
