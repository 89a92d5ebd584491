/* SPDX-License-Identifier: GPL-2.0-only */
#include <netinet/in.h>
#include <string.h>

#include "flow.h"

bool flow_proto_has_ports(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
	case IPPROTO_SCTP: return true;
	default: return false;
	}
}

void flow_record_fill(struct flow_record *rec, const struct xf_flow_key *key,
		      const struct xf_flow_stats *st, enum flow_end_reason reason,
		      const struct xf_clock *clk)
{
	/* every field but xlat, which only has_xlat makes valid: no memset of the whole */
	rec->key = *key;
	rec->packets = st->packets;
	rec->octets = st->octets;
	/* one offset for both ends: the duration is the monotonic one */
	rec->start_ms = clock_mono_to_wall_ms(clk, st->first_ns);
	rec->end_ms = clock_mono_to_wall_ms(clk, st->last_ns);
	memcpy(rec->src_mac, st->src_mac, 6);
	memcpy(rec->dst_mac, st->dst_mac, 6);
	rec->tcp_flags = st->tcp_flags;
	rec->tos = st->tos;
	rec->end_reason = (uint8_t)reason;
	rec->has_xlat = false;
}

void flow_record_copy_clean(struct flow_record *dst, const struct flow_record *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->key = src->key;
	dst->packets = src->packets;
	dst->octets = src->octets;
	dst->start_ms = src->start_ms;
	dst->end_ms = src->end_ms;
	memcpy(dst->src_mac, src->src_mac, 6);
	memcpy(dst->dst_mac, src->dst_mac, 6);
	dst->tcp_flags = src->tcp_flags;
	dst->tos = src->tos;
	dst->end_reason = src->end_reason;
	dst->has_xlat = src->has_xlat;
	if (src->has_xlat)
		dst->xlat = src->xlat;
}
