/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Building a struct xf_xlat_event from a struct nf_conn, shared by the
 * fentry and the kprobe program of bpf/nat.bpf.c. The two differ only in how
 * they read kernel memory: fentry receives a BTF-typed ct and loads from it
 * directly (the verifier checks each load against the BTF), a kprobe only
 * has a raw address and must use bpf_probe_read_kernel. Every function takes
 * a compile-time constant `direct` and is always inlined, so each program
 * gets exactly one of the two load flavours and the logic exists once.
 *
 * All member addresses are taken through vmlinux.h records marked
 * preserve_access_index: offsets are CO-RE relocations, never constants.
 */
#ifndef XF_NAT_CT_H
#define XF_NAT_CT_H

#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "xlatflow_shared.h"

/* NFPROTO_* values of nf_conntrack_man.l3num (equal to AF_INET/AF_INET6). */
#define NAT_CT_NFPROTO_IPV4 2
#define NAT_CT_NFPROTO_IPV6 10

#define NAT_CT_IPPROTO_ICMP 1
#define NAT_CT_IPPROTO_TCP 6
#define NAT_CT_IPPROTO_UDP 17
#define NAT_CT_IPPROTO_ICMPV6 58
#define NAT_CT_IPPROTO_SCTP 132
#define NAT_CT_IPPROTO_UDPLITE 136

/* ct->status bits (uapi enum ip_conntrack_status: stable values). */
#define NAT_CT_IPS_CONFIRMED (1UL << 3)
#define NAT_CT_IPS_SRC_NAT (1UL << 4)
#define NAT_CT_IPS_DST_NAT (1UL << 5)
#define NAT_CT_IPS_NAT_MASK (NAT_CT_IPS_SRC_NAT | NAT_CT_IPS_DST_NAT)
#define NAT_CT_IPS_SRC_NAT_DONE (1UL << 7)
#define NAT_CT_IPS_DST_NAT_DONE (1UL << 8)
/* IPS_NAT_CLASH shares IPS_UNTRACKED's bit: a clash loser kept for replies */
#define NAT_CT_IPS_NAT_CLASH (1UL << 12)

/* skb->_nfct holds the nf_conn address with ctinfo in the low 3 bits. */
#define NAT_CT_NFCT_PTRMASK (~7UL)

/*
 * The start of struct nf_conn that every hook needs (zone, both tuples,
 * status), copied with one bpf_probe_read_kernel where kernel memory cannot
 * be loaded directly (kprobes; fentry/fexit programs that find the nf_conn
 * through skb->_nfct, which the verifier sees as a plain number). Copied
 * from offset 0, so that the copy reads like the kernel's struct (the
 * verifier refuses to subtract from a stack pointer) and 8-byte members
 * stay aligned (it refuses misaligned stack loads too). 136 bytes on 6.1
 * and 6.12.
 */
#define NAT_CT_HEAD_MAX 160
struct nat_ct_head {
	__u64 w[NAT_CT_HEAD_MAX / 8];
};

/*
 * Copy the head of the kernel's *ct into h. Returns h as a struct nf_conn
 * (the same CO-RE offsets), or NULL when the read fails or the kernel's
 * layout does not fit NAT_CT_HEAD_MAX. Only zone, tuplehash[] and status
 * may be read through it.
 */
static __always_inline const struct nf_conn *nat_ct_copy_head(struct nat_ct_head *h,
							      const struct nf_conn *ct)
{
	__u32 end = bpf_core_field_offset(ct->status) + sizeof(ct->status);

	if (end > sizeof(*h))
		return NULL;
	if (bpf_probe_read_kernel(h, end, ct))
		return NULL;
	return (const struct nf_conn *)h;
}

/*
 * Copy size bytes of kernel memory at src. size is a constant after
 * inlining, so the direct branch becomes plain loads the verifier checks
 * against the BTF of the fentry argument.
 */
static __always_inline void nat_ct_read(void *dst, const void *src, __u32 size, const bool direct)
{
	if (direct)
		__builtin_memcpy(dst, src, size);
	else
		bpf_probe_read_kernel(dst, size, src);
}

/*
 * Fill t from one conntrack tuple. Returns 0, or -1 when the tuple is not
 * IPv4/IPv6 (t is then unusable). The family comes from the tuple's l3num,
 * not from the skb: the tuple is what the translation table joins on, and
 * it saves parsing packet headers in the hook.
 */
static __always_inline int nat_ct_tuple(struct xf_tuple *t, const struct nf_conntrack_tuple *ctt,
					const bool direct)
{
	__u16 l3num = 0, sport = 0, dport = 0;
	__u8 proto = 0;

	nat_ct_read(&l3num, &ctt->src.l3num, sizeof(l3num), direct);
	nat_ct_read(&proto, &ctt->dst.protonum, sizeof(proto), direct);

	if (l3num == NAT_CT_NFPROTO_IPV4) {
		t->family = XF_FAMILY_IPV4;
		/* bytes 4..15 stay zero, the xf_tuple convention for IPv4 */
		nat_ct_read(t->src_addr, &ctt->src.u3.ip, 4, direct);
		nat_ct_read(t->dst_addr, &ctt->dst.u3.ip, 4, direct);
	} else if (l3num == NAT_CT_NFPROTO_IPV6) {
		t->family = XF_FAMILY_IPV6;
		nat_ct_read(t->src_addr, &ctt->src.u3.ip6, 16, direct);
		nat_ct_read(t->dst_addr, &ctt->dst.u3.ip6, 16, direct);
	} else {
		return -1;
	}
	t->proto = proto;

	/*
	 * Ports only where the flow key has them (bpf/lib/flow_parse.h), so
	 * the translation table can join on them. For ICMP the tuple holds the
	 * echo id and type/code, which the flow key does not carry, so 0/0.
	 */
	switch (proto) {
	case NAT_CT_IPPROTO_TCP:
	case NAT_CT_IPPROTO_UDP:
	case NAT_CT_IPPROTO_UDPLITE:
	case NAT_CT_IPPROTO_SCTP:
		nat_ct_read(&sport, &ctt->src.u.all, sizeof(sport), direct);
		nat_ct_read(&dport, &ctt->dst.u.all, sizeof(dport), direct);
		t->src_port = bpf_ntohs(sport);
		t->dst_port = bpf_ntohs(dport);
		break;
	default: break;
	}
	return 0;
}

/* ct->zone.id, or 0 on kernels built without CONFIG_NF_CONNTRACK_ZONES. */
static __always_inline __u16 nat_ct_zone(const struct nf_conn *ct, const bool direct)
{
	__u16 id = 0;

	if (bpf_core_field_exists(ct->zone))
		nat_ct_read(&id, &ct->zone.id, sizeof(id), direct);
	return id;
}

static __always_inline unsigned long nat_ct_status(const struct nf_conn *ct, const bool direct)
{
	unsigned long status = 0;

	nat_ct_read(&status, &ct->status, sizeof(status), direct);
	return status;
}

/*
 * Fill ev (zeroed by the caller, so padding is zero) from ct. Returns 0, or
 * -1 when either tuple has an unsupported family.
 */
static __always_inline int nat_ct_event(struct xf_xlat_event *ev, const struct nf_conn *ct,
					const bool direct)
{
	if (nat_ct_tuple(&ev->orig, &ct->tuplehash[IP_CT_DIR_ORIGINAL].tuple, direct) < 0)
		return -1;
	if (nat_ct_tuple(&ev->reply, &ct->tuplehash[IP_CT_DIR_REPLY].tuple, direct) < 0)
		return -1;
	ev->zone_id = nat_ct_zone(ct, direct);
	return 0;
}


/*
 * Whether the kernel's conntrack extension area of ct has extension id and
 * where it starts (0: absent). ct is a kernel address: always probe-read
 * (the area is found through a pointer, beyond what a head copy holds).
 */
static __always_inline __u64 nat_ct_ext_find(const struct nf_conn *ct, __u32 id)
{
	struct nf_ct_ext *ext = NULL;
	__u8 off = 0;

	if (bpf_probe_read_kernel(&ext, sizeof(ext), &ct->ext) || !ext || id >= 16)
		return 0;
	if (bpf_probe_read_kernel(&off, sizeof(off), &ext->offset[id]) || !off)
		return 0;
	return (__u64)ext + off;
}

/*
 * A deleted connection's accounting (per-direction packets and octets) and
 * timestamps (start, stop) from its extensions, when conntrack keeps them
 * (net.netfilter.nf_conntrack_acct / _timestamp). Sets XF_SESSION_F_* in
 * s->flags for what was there.
 */
static __always_inline void nat_ct_session(struct xf_xlat_session *s, const struct nf_conn *ct)
{
	struct nf_conn_acct *acct;
	struct nf_conn_tstamp *ts;

	if (bpf_core_enum_value_exists(enum nf_ct_ext_id, NF_CT_EXT_ACCT)) {
		acct = (void *)nat_ct_ext_find(
			ct, bpf_core_enum_value(enum nf_ct_ext_id, NF_CT_EXT_ACCT));
		if (acct) {
			bpf_core_read(&s->packets[0], 8, &acct->counter[0].packets.counter);
			bpf_core_read(&s->octets[0], 8, &acct->counter[0].bytes.counter);
			bpf_core_read(&s->packets[1], 8, &acct->counter[1].packets.counter);
			bpf_core_read(&s->octets[1], 8, &acct->counter[1].bytes.counter);
			s->flags |= XF_SESSION_F_ACCT;
		}
	}
	if (bpf_core_enum_value_exists(enum nf_ct_ext_id, NF_CT_EXT_TSTAMP)) {
		ts = (void *)nat_ct_ext_find(
			ct, bpf_core_enum_value(enum nf_ct_ext_id, NF_CT_EXT_TSTAMP));
		if (ts) {
			bpf_core_read(&s->start_wall_ns, 8, &ts->start);
			bpf_core_read(&s->stop_wall_ns, 8, &ts->stop);
			s->flags |= XF_SESSION_F_TSTAMP;
		}
	}
}

#endif /* XF_NAT_CT_H */
