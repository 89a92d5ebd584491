/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet parsing for the TC flow programs: Ethernet, 802.1Q/802.1ad, IPv4,
 * IPv6 with extension headers, TCP, UDP, SCTP, ICMP, ICMPv6.
 *
 * Direct packet access with bounds checks. The parser never guesses: a
 * header that does not fit in what the IP header declares (or in the
 * packet) makes the packet XF_PARSE_MALFORMED. XF_PARSE_SHORT means a
 * header lies beyond the skb's linear area; the caller may pull it in and
 * parse again (bpf_skb_pull_data invalidates all packet pointers).
 *
 * Include after <linux/bpf.h> and the UAPI protocol headers.
 */
#ifndef XF_FLOW_PARSE_H
#define XF_FLOW_PARSE_H

#include <stdbool.h>

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "xlatflow_shared.h"

enum xf_parse_result {
	XF_PARSE_OK = 0,
	XF_PARSE_NON_IP,
	XF_PARSE_MALFORMED,
	XF_PARSE_SHORT, /* headers beyond the linear data: pull and retry */
};

/* VLAN tags read from the packet (a tag offloaded to skb->vlan_tci is extra). */
#define XF_VLAN_MAX 3
/* IPv6 extension headers walked before giving up. */
#define XF_IPV6_EXT_MAX 8
/*
 * Largest offset of an L4 header we parse. Keeps packet offsets bounded for
 * the verifier; IPv6 extension chains longer than this count as malformed.
 */
#define XF_L4_OFF_MAX 1024

#define XF_IP_MF 0x2000
#define XF_IP_OFFSET 0x1fff
#define XF_IP6_OFFSET 0xfff8

#define XF_ICMP_HLEN 8	/* every ICMP/ICMPv6 message has an 8-byte header */
#define XF_SCTP_HLEN 12 /* common header: ports, verification tag, checksum */

/* The 802.1Q/802.1ad tag after the outer MAC addresses. */
struct xf_vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

/* The part of the SCTP common header we read. */
struct xf_sctp_ports {
	__be16 source;
	__be16 dest;
};

/* IPv6 fragment header (RFC 8200 4.5). */
struct xf_frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 identification;
};

struct xf_icmp_type {
	__u8 type;
	__u8 code;
};

/* What the parser found. key.ifindex and key.direction are the caller's. */
struct xf_pkt {
	struct xf_flow_key key;
	__u32 l2_len;  /* bytes before the IP header in the packet data */
	__u32 ip_len;  /* IPv4 total length or IPv6 payload length + 40 */
	__u32 hdr_len; /* L3 (with options/extensions) + L4 header bytes */
	__u16 tcp_flags;
	__u8 tos;
	__u8 pad;
};

/*
 * skb->data and skb->data_end, each read afresh. Without volatile clang may
 * reuse a load from before a helper call, or widen the 32-bit ctx load with
 * shifts, which the verifier refuses on a packet pointer.
 */
static __always_inline void *xf_skb_data(const struct __sk_buff *skb)
{
	return (void *)(long)*(const volatile __u32 *)&skb->data;
}

static __always_inline void *xf_skb_data_end(const struct __sk_buff *skb)
{
	return (void *)(long)*(const volatile __u32 *)&skb->data_end;
}

/* Ports, TCP flags and header length of the transport header at l4_off. */
static __always_inline int xf_parse_l4(void *data, void *data_end, struct xf_pkt *pkt, __u32 l4_off,
				       __u32 l3_end)
{
	__u32 l4_avail;

	if (l4_off > XF_L4_OFF_MAX || l4_off > l3_end)
		return XF_PARSE_MALFORMED;
	l4_avail = l3_end - l4_off;

	switch (pkt->key.proto) {
	case IPPROTO_TCP: {
		struct tcphdr *th = data + l4_off;
		__u32 doff;

		if (l4_avail < sizeof(*th))
			return XF_PARSE_MALFORMED;
		if ((void *)(th + 1) > data_end)
			return XF_PARSE_SHORT;
		doff = th->doff * 4;
		if (doff < sizeof(*th) || doff > l4_avail)
			return XF_PARSE_MALFORMED;
		pkt->key.src_port = bpf_ntohs(th->source);
		pkt->key.dst_port = bpf_ntohs(th->dest);
		/* Byte 13 holds CWR..FIN, the low bit of byte 12 is NS (RFC 7125 layout). */
		pkt->tcp_flags = ((const __u8 *)th)[13] | ((((const __u8 *)th)[12] & 1) << 8);
		pkt->hdr_len += doff;
		return XF_PARSE_OK;
	}
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE: {
		struct udphdr *uh = data + l4_off;

		if (l4_avail < sizeof(*uh))
			return XF_PARSE_MALFORMED;
		if ((void *)(uh + 1) > data_end)
			return XF_PARSE_SHORT;
		pkt->key.src_port = bpf_ntohs(uh->source);
		pkt->key.dst_port = bpf_ntohs(uh->dest);
		pkt->hdr_len += sizeof(*uh);
		return XF_PARSE_OK;
	}
	case IPPROTO_SCTP: {
		struct xf_sctp_ports *sh = data + l4_off;

		if (l4_avail < XF_SCTP_HLEN)
			return XF_PARSE_MALFORMED;
		if ((void *)(sh + 1) > data_end)
			return XF_PARSE_SHORT;
		pkt->key.src_port = bpf_ntohs(sh->source);
		pkt->key.dst_port = bpf_ntohs(sh->dest);
		pkt->hdr_len += XF_SCTP_HLEN;
		return XF_PARSE_OK;
	}
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6: {
		struct xf_icmp_type *ih = data + l4_off;

		/* ICMP in IPv6 or ICMPv6 in IPv4 is just an unknown protocol. */
		if ((pkt->key.proto == IPPROTO_ICMP) != (pkt->key.family == XF_FAMILY_IPV4))
			return XF_PARSE_OK;
		if (l4_avail < XF_ICMP_HLEN)
			return XF_PARSE_MALFORMED;
		if ((void *)(ih + 1) > data_end)
			return XF_PARSE_SHORT;
		pkt->key.dst_port = (__u16)ih->type << 8 | ih->code;
		pkt->hdr_len += XF_ICMP_HLEN;
		return XF_PARSE_OK;
	}
	default:
		/* Other protocols (GRE, ESP, ...) are flows without ports. */
		return XF_PARSE_OK;
	}
}

/*
 * l3_len: bytes from the IP header to the end of the skb. gso: the skb is a
 * GSO/GRO super-packet, whose IP length field is not the wire length (BIG
 * TCP even writes 0), so the skb length stands in for it.
 */
static __always_inline int xf_parse_ipv4(void *data, void *data_end, struct xf_pkt *pkt, __u32 off,
					 __u32 l3_len, bool gso)
{
	struct iphdr *iph = data + off;
	__u32 ihl, ip_len;

	if ((void *)(iph + 1) > data_end)
		return XF_PARSE_SHORT;
	if (iph->version != 4 || iph->ihl < 5)
		return XF_PARSE_MALFORMED;
	ihl = iph->ihl * 4;
	ip_len = bpf_ntohs(iph->tot_len);
	if (gso)
		ip_len = l3_len;
	else if (ip_len > l3_len)
		return XF_PARSE_MALFORMED;
	if (ip_len < ihl)
		return XF_PARSE_MALFORMED;

	pkt->ip_len = ip_len;
	pkt->hdr_len = ihl;
	pkt->tos = iph->tos;
	pkt->key.family = XF_FAMILY_IPV4;
	pkt->key.proto = iph->protocol;
	*(__u32 *)pkt->key.src_addr = iph->saddr;
	*(__u32 *)pkt->key.dst_addr = iph->daddr;

	/* A non-first fragment carries no transport header: a flow without ports. */
	if (iph->frag_off & bpf_htons(XF_IP_OFFSET))
		return XF_PARSE_OK;
	return xf_parse_l4(data, data_end, pkt, off + ihl, off + ip_len);
}

static __always_inline bool xf_ipv6_is_ext(__u8 nexthdr)
{
	return nexthdr == IPPROTO_HOPOPTS || nexthdr == IPPROTO_ROUTING ||
	       nexthdr == IPPROTO_FRAGMENT || nexthdr == IPPROTO_DSTOPTS;
}

static __always_inline int xf_parse_ipv6(void *data, void *data_end, struct xf_pkt *pkt, __u32 off,
					 __u32 l3_len, bool gso)
{
	struct ipv6hdr *ip6 = data + off;
	__u32 ip_len, l4_off, l3_end;
	__u8 nexthdr;

	if ((void *)(ip6 + 1) > data_end)
		return XF_PARSE_SHORT;
	if (ip6->version != 6)
		return XF_PARSE_MALFORMED;
	ip_len = bpf_ntohs(ip6->payload_len) + sizeof(*ip6);
	if (gso)
		ip_len = l3_len;
	else if (ip_len > l3_len)
		return XF_PARSE_MALFORMED;

	pkt->ip_len = ip_len;
	pkt->tos = ip6->priority << 4 | ip6->flow_lbl[0] >> 4;
	pkt->key.family = XF_FAMILY_IPV6;
	__builtin_memcpy(pkt->key.src_addr, &ip6->saddr, 16);
	__builtin_memcpy(pkt->key.dst_addr, &ip6->daddr, 16);
	nexthdr = ip6->nexthdr;
	l4_off = off + sizeof(*ip6);
	l3_end = off + ip_len;

#pragma unroll
	for (int i = 0; i < XF_IPV6_EXT_MAX; i++) {
		if (!xf_ipv6_is_ext(nexthdr))
			break;
		/* Every extension header is at least 8 bytes long. */
		if (l4_off > XF_L4_OFF_MAX || l4_off + 8 > l3_end)
			return XF_PARSE_MALFORMED;
		if (nexthdr == IPPROTO_FRAGMENT) {
			struct xf_frag_hdr *fh = data + l4_off;

			if ((void *)(fh + 1) > data_end)
				return XF_PARSE_SHORT;
			nexthdr = fh->nexthdr;
			l4_off += sizeof(*fh);
			if (fh->frag_off & bpf_htons(XF_IP6_OFFSET)) {
				/* Non-first fragment: no transport header. */
				pkt->key.proto = nexthdr;
				pkt->hdr_len = l4_off - off;
				return XF_PARSE_OK;
			}
		} else {
			struct ipv6_opt_hdr *oh = data + l4_off;

			if ((void *)(oh + 1) > data_end)
				return XF_PARSE_SHORT;
			nexthdr = oh->nexthdr;
			l4_off += (oh->hdrlen + 1) * 8;
		}
	}
	if (xf_ipv6_is_ext(nexthdr))
		return XF_PARSE_MALFORMED;

	pkt->key.proto = nexthdr;
	pkt->hdr_len = l4_off - off;
	return xf_parse_l4(data, data_end, pkt, l4_off, l3_end);
}

/*
 * Parse the packet at skb->data into pkt (which it zeroes first). gso tells
 * whether the skb is a GSO/GRO super-packet.
 */
static __always_inline int xf_parse(struct __sk_buff *skb, struct xf_pkt *pkt, bool gso)
{
	void *data = xf_skb_data(skb);
	void *data_end = xf_skb_data_end(skb);
	struct ethhdr *eth = data;
	bool have_vlan = false;
	__u32 off = sizeof(*eth);
	__u32 len = skb->len;
	__be16 proto;

	__builtin_memset(pkt, 0, sizeof(*pkt));
	if ((void *)(eth + 1) > data_end)
		return XF_PARSE_SHORT;
	proto = eth->h_proto;

	/* A tag the driver stripped (VLAN offload) is the outermost one. */
	if (skb->vlan_present) {
		pkt->key.vlan_id = skb->vlan_tci & 0x0fff;
		have_vlan = true;
	}
#pragma unroll
	for (int i = 0; i < XF_VLAN_MAX; i++) {
		struct xf_vlan_hdr *vh = data + off;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(vh + 1) > data_end)
			return XF_PARSE_SHORT;
		if (!have_vlan) {
			pkt->key.vlan_id = bpf_ntohs(vh->tci) & 0x0fff;
			have_vlan = true;
		}
		proto = vh->encap_proto;
		off += sizeof(*vh);
	}
	pkt->l2_len = off;

	/* The packet holds at least off bytes (they passed the checks above). */
	if (proto == bpf_htons(ETH_P_IP))
		return xf_parse_ipv4(data, data_end, pkt, off, len - off, gso);
	if (proto == bpf_htons(ETH_P_IPV6))
		return xf_parse_ipv6(data, data_end, pkt, off, len - off, gso);
	return XF_PARSE_NON_IP;
}

#endif /* XF_FLOW_PARSE_H */
