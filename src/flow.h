/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * struct flow_record: one expired (or interval) flow as the flow cache hands
 * it to the exporter. Times are wall-clock milliseconds since the epoch;
 * counters are deltas since the previous record of the same flow.
 */
#ifndef XF_FLOW_H
#define XF_FLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "clock.h"
#include "xlatflow_shared.h"

/* flowEndReason, IANA IE 136 */
enum flow_end_reason {
	FLOW_END_IDLE = 1,
	FLOW_END_ACTIVE = 2,
	FLOW_END_END_OF_FLOW = 3,
	FLOW_END_FORCED = 4,
	FLOW_END_LACK_OF_RESOURCES = 5,
};

/* Where this flow was observed relative to the translation. */
enum xlat_observed {
	XLAT_OBSERVED_PRE = 1,	/* packets seen before conntrack translated them */
	XLAT_OBSERVED_POST = 2, /* packets seen after translation */
};

/*
 * xlat_type bits describe the connection, not the packet: comparing the
 * original tuple with the inverted reply tuple. Reply flows of a DNAT
 * connection carry DNAT too.
 */
#define XLAT_TYPE_SNAT 0x01 /* the original direction's source changed */
#define XLAT_TYPE_DNAT 0x02 /* the original direction's destination changed */

/*
 * The translation conntrack applies to this flow's packets, in the packets'
 * own direction: pre_* is the packet before NAT, post_* after. One of the
 * two equals the observed key (see observed). Addresses in network byte
 * order (IPv4 in bytes 0..3), ports in host byte order.
 */
struct xlat_info {
	uint8_t pre_src[16];
	uint8_t pre_dst[16];
	uint8_t post_src[16];
	uint8_t post_dst[16];
	uint16_t pre_sport;
	uint16_t pre_dport;
	uint16_t post_sport;
	uint16_t post_dport;
	uint16_t zone_id;
	uint8_t observed; /* enum xlat_observed */
	uint8_t type;	  /* XLAT_TYPE_* */
};

struct flow_record {
	struct xf_flow_key key;
	uint64_t packets;
	uint64_t octets;
	uint64_t start_ms;
	uint64_t end_ms;
	uint8_t src_mac[6];
	uint8_t dst_mac[6];
	uint16_t tcp_flags;
	uint8_t tos;
	uint8_t end_reason; /* enum flow_end_reason */
	bool has_xlat;
	struct xlat_info xlat; /* valid when has_xlat */
};

/*
 * Protocols whose flow keys and translation tuples carry transport ports
 * (the flow parser in bpf/lib/flow_parse.h and the NAT hook agree).
 */
bool flow_proto_has_ports(uint8_t proto);

/*
 * Build the record of one cached flow: counters copied, kernel times
 * converted to wall-clock ms with clk; no translation (has_xlat false,
 * xlat left as it was: only has_xlat makes it valid).
 */
void flow_record_fill(struct flow_record *rec, const struct xf_flow_key *key,
		      const struct xf_flow_stats *st, enum flow_end_reason reason,
		      const struct xf_clock *clk);

/*
 * dst = src with every byte defined: padding and, without a translation,
 * xlat zeroed (what flow_record_fill() leaves alone). For records written
 * out as a whole struct (the spool).
 */
void flow_record_copy_clean(struct flow_record *dst, const struct flow_record *src);

#endif
