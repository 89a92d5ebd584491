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

#endif /* XF_NAT_CT_H */
