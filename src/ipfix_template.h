/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The templates as data, for both encoders (the IPFIX encoder, ipfix.h, and
 * the NetFlow v9 encoder, netflow9.h) and their record writer
 * (ipfix_wire.h): template ids, one table per record layout listing every
 * element once with the template variants that carry it, the descriptions
 * made from those tables, and the internal records (host byte order) the
 * descriptions' offsets point into. No libfixbuf here: the IPFIX encoder
 * builds libfixbuf's templates from the descriptions and checks them
 * against libfixbuf's information model; NetFlow v9 does without it.
 */
#ifndef XF_IPFIX_TEMPLATE_H
#define XF_IPFIX_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow.h"

/* Template ids on the wire, the same in every observation domain. */
#define IPFIX_TID_IPV4 256     /* IPv4 flow */
#define IPFIX_TID_IPV6 257     /* IPv6 flow */
#define IPFIX_TID_IPV4_NAT 258 /* IPv4 flow with its translation */
#define IPFIX_TID_IPV6_NAT 259 /* IPv6 flow with its translation */
#define IPFIX_TID_IE_TYPE 260  /* RFC 5610 information element type records (IPFIX only) */
/* Options templates (RFC 7011 4.3), same ids in NetFlow v9. */
#define IPFIX_TID_EXPORTER 261	/* exporting process statistics, scope observationDomainId */
#define IPFIX_TID_METERING 262	/* metering process statistics, scope observationDomainId */
#define IPFIX_TID_SAMPLING 263	/* samplingInterval/Algorithm, scope observationDomainId */
#define IPFIX_TID_INTERFACE 264 /* interface names, scope ingressInterface */
#define IPFIX_TID_SELECTOR 265	/* PSAMP packet selection, scope observationDomainId */
/*
 * The NAT event log (RFC 8158, docs/nat-events.md), only for collectors
 * with nat_events = true: data templates, then the event log's delivery
 * statistics (options, scope observationDomainId).
 */
#define IPFIX_TID_NAT44_SESSION 266 /* session create/delete, IPv4 */
#define IPFIX_TID_NAT66_SESSION 267 /* session create/delete, IPv6 */
#define IPFIX_TID_NAT44_PORTS 268   /* NAT ports exhausted, IPv4 */
#define IPFIX_TID_NAT66_PORTS 269   /* NAT ports exhausted, IPv6 */
#define IPFIX_TID_NAT_QUOTA 270	    /* conntrack table full, threshold reached */
#define IPFIX_TID_NATLOG_STATS 271  /* the event log's counters (options) */

/* Templates ipfix_describe_templates() describes: the flow templates first. */
#define IPFIX_N_TEMPLATES 9
#define IPFIX_N_FLOW_TEMPLATES 4
/* Then, with ipfix_params.nat_events, the NAT event log's (266..271). */
#define IPFIX_N_NAT_TEMPLATES 6
#define IPFIX_MAX_TEMPLATES (IPFIX_N_TEMPLATES + IPFIX_N_NAT_TEMPLATES)

/* Fields per template at most (Wireshark's default limit is 60). */
#define IPFIX_MAX_FIELDS 60
/* Fixed lengths of interfaceName (82) and interfaceDescription (83). */
#define IPFIX_IFNAME_LEN 16
#define IPFIX_IFDESCR_LEN 64

/* RFC 5612 documentation PEN: the default enterprise number. */
#define IPFIX_DEFAULT_PEN 32473

/* Smallest message size either encoder accepts (the largest template must fit). */
#define IPFIX_MIN_MESSAGE_LEN 512

/*
 * Counters of the metering process (the kernel programs and the flow
 * cache), totals since the daemon started. Mapped to IEs in
 * IPFIX_TID_METERING and IPFIX_TID_SAMPLING (see docs/ipfix.md).
 */
struct ipfix_metering {
	uint64_t observed_packets;	   /* XF_CNT_PACKETS: IP packets, before sampling */
	uint64_t non_ip_packets;	   /* XF_CNT_NON_IP */
	uint64_t malformed_packets;	   /* XF_CNT_MALFORMED */
	uint64_t sampled_out_packets;	   /* XF_CNT_SAMPLED_OUT */
	uint64_t map_full_packets;	   /* XF_CNT_MAP_FULL */
	uint64_t lost_packets;		   /* XF_CNT_RB_LOST_PACKETS */
	uint64_t lost_octets;		   /* XF_CNT_RB_LOST_OCTETS */
	uint64_t lost_translations;	   /* XF_CNT_XLAT_RB_LOST */
	uint64_t unsupported_translations; /* XF_CNT_XLAT_UNSUPPORTED */
	uint64_t cache_evicted_flows;	   /* flowcache_stats.evicted: exported early, cache full */
	uint64_t evicted_translations;	   /* xlat_table_stats.evicted: max_translations reached */
	uint64_t filter_reattachments;	   /* TC filters put back after someone removed them */
};

/* One row of the interface table (IPFIX_TID_INTERFACE). */
struct ipfix_interface {
	uint32_t ifindex;
	char name[IPFIX_IFNAME_LEN];	     /* NUL padded */
	char description[IPFIX_IFDESCR_LEN]; /* NUL padded */
};

/* The NAT event log's delivery counters for one collector (IPFIX_TID_NATLOG_STATS). */
struct ipfix_natlog_stats {
	uint64_t exported;    /* event records sent to this collector */
	uint64_t not_sent;    /* event records for it that could not be sent */
	uint64_t source_lost; /* events the translation source lost */
	uint64_t recovered;   /* CREATEs rebuilt from a later event */
};

/* What one round of options records reports (for one collector). */
struct ipfix_options {
	uint64_t system_init_ms;    /* systemInitTimeMilliseconds: exporter start, wall clock */
	uint64_t exported_messages; /* to this collector so far */
	uint64_t exported_records;
	uint64_t exported_octets;
	uint64_t not_sent_records; /* records that could not be sent to it */
	uint64_t not_sent_packets; /* packets and octets those records counted */
	uint64_t not_sent_octets;
	/* its on-disk spool (all 0 without one): records lost by cause, what it holds */
	struct {
		uint64_t full;	      /* not spooled: spool_max_bytes reached */
		uint64_t write_error; /* not spooled: the write failed */
		uint64_t damaged;     /* torn or failed checksum */
		uint64_t pending;     /* records not sent yet */
		uint64_t octets;      /* bytes of its files */
	} spool;
	uint32_t sampling; /* 1 packet in sampling (1 = every packet) */
	/*
	 * exporterIPv4Address (bytes 0..3) or exporterIPv6Address, as
	 * ipfix_params.exporter_ipv6 says: the local address of the socket
	 * sending to this collector, network byte order; zeros while unknown.
	 */
	uint8_t exporter_addr[16];
	uint64_t collector_down;       /* xlatCollectorDownTotalCount */
	uint64_t collector_redirected; /* xlatCollectorRedirectedFlowTotalCount */
	uint64_t collector_taken_over; /* xlatCollectorTakenOverFlowTotalCount */
	struct ipfix_metering metering;
	const struct ipfix_interface *interfaces;
	int n_interfaces;
	bool nat_events; /* the collector takes NAT events: also IPFIX_TID_NATLOG_STATS */
	struct ipfix_natlog_stats natlog;
};

/* The parameters of either encoder (one per collector). */
struct ipfix_params {
	uint32_t observation_domain_id;
	uint32_t enterprise_number; /* PEN of the xlatflow elements */
	bool zone_as_vrf;	    /* also put the zone id in ingressVRFID (234) */
	uint16_t max_message_len;   /* whole message, header included */
	bool nat_events;	    /* also the NAT event log's templates (266..271) */
	bool exporter_ipv6;	    /* the collector is reached over IPv6: exporterIPv6Address */
};

/*
 * Either encoder calls this with each finished message. msg is valid only
 * during the call. records counts the flow records in it (0 for a message
 * without any). The callback must not call back into the encoder.
 */
typedef void (*ipfix_emit_fn)(void *ctx, const uint8_t *msg, size_t len, uint32_t records);

/* One field of a described template. */
struct ipfix_field {
	const char *name; /* IANA or templates/xlatflow-ies.txt name (static storage) */
	uint16_t id;	  /* element id, enterprise bit clear */
	uint32_t pen;	  /* 0 for IANA elements */
	uint16_t len;	  /* bytes, the same on the wire and in the internal record */
	uint16_t offset;  /* in the internal record */
	bool integer;	  /* host byte order in the internal record: write big-endian */
};

/* A template as data: what the record writer and both template writers need. */
struct ipfix_template_desc {
	uint16_t tid;
	const char *name;     /* for error messages */
	uint16_t scope_count; /* options templates: the first scope_count fields */
	uint16_t n_fields;
	uint16_t record_len; /* one data record on the wire */
	struct ipfix_field fields[IPFIX_MAX_FIELDS];
};

/*
 * Describe the templates into out (IPFIX_MAX_TEMPLATES entries): the flow
 * templates IPFIX_TID_IPV4..IPV6_NAT in that order, then the options
 * templates, then with params->nat_events the NAT event log's. netflow9: leave out the enterprise-specific elements and
 * always carry the zone id in ingressVRFID (NetFlow v9 has no enterprise
 * fields). The tables are checked on the way (each record layout against
 * its struct, the enterprise elements against templates/xlatflow-ies.txt,
 * the field limit). Returns how many (IPFIX_N_TEMPLATES, or
 * IPFIX_MAX_TEMPLATES with nat_events), or -EINVAL with err filled.
 */
int ipfix_describe_templates(const struct ipfix_params *params, bool netflow9,
			     struct ipfix_template_desc *out, char *err, size_t err_len);

/* Template id a record is encoded with (IPFIX_TID_*), 0 if it cannot be. */
uint16_t ipfix_template_for(const struct flow_record *rec);

/*
 * The internal record of a flow: every field of every flow template,
 * packed, in table order; integers and IPv4 addresses in host byte order,
 * IPv6 addresses and MACs as bytes. Only ipfix_record_flow() writes it;
 * the record writer reads it at the descriptions' offsets.
 */
struct ipfix_flow_rec {
	uint64_t flow_start_ms;
	uint64_t flow_end_ms;
	uint64_t octets;
	uint64_t packets;
	uint32_t src_ip4;
	uint32_t dst_ip4;
	uint8_t src_ip6[16];
	uint8_t dst_ip6[16];
	uint16_t src_port;
	uint16_t dst_port;
	uint8_t proto;
	uint16_t tcp_flags;
	uint8_t tos;
	uint16_t icmp_type_code4;
	uint16_t icmp_type_code6;
	uint32_t ingress_if;
	uint32_t egress_if;
	uint8_t direction;
	uint8_t src_mac[6];
	uint8_t dst_mac[6];
	uint16_t vlan_id;
	uint8_t end_reason;
	/* NAT variants */
	uint32_t post_nat_src_ip4;
	uint32_t post_nat_dst_ip4;
	uint8_t post_nat_src_ip6[16];
	uint8_t post_nat_dst_ip6[16];
	uint16_t post_napt_src_port;
	uint16_t post_napt_dst_port;
	uint32_t ingress_vrf;
	uint16_t xlat_zone;
	uint8_t xlat_observed;
	uint8_t xlat_type;
	uint32_t xlat_pre_src_ip4;
	uint32_t xlat_pre_dst_ip4;
	uint32_t xlat_post_src_ip4;
	uint32_t xlat_post_dst_ip4;
	uint8_t xlat_pre_src_ip6[16];
	uint8_t xlat_pre_dst_ip6[16];
	uint8_t xlat_post_src_ip6[16];
	uint8_t xlat_post_dst_ip6[16];
	uint16_t xlat_pre_src_port;
	uint16_t xlat_pre_dst_port;
	uint16_t xlat_post_src_port;
	uint16_t xlat_post_dst_port;
} __attribute__((packed));

/*
 * Fill r from a flow (zone_as_vrf: the zone id also in ingressVRFID).
 * Returns the template id (ipfix_template_for()), or 0 and r untouched.
 * Writes every field the returned template reads; the NAT fields of a
 * record without a translation, which no template of it reads, are not
 * written.
 */
uint16_t ipfix_record_flow(struct ipfix_flow_rec *r, const struct flow_record *rec,
			   bool zone_as_vrf);

/*
 * The internal records of the NAT event log (src/natlog.c fills them;
 * host byte order like struct ipfix_flow_rec). Field meanings: the tables
 * in ipfix_template.c and docs/nat-events.md.
 */
struct ipfix_natev_session_rec {
	uint64_t time_ms;    /* observationTimeMilliseconds: when it happened */
	uint64_t start_ms;   /* flowStartMilliseconds: the session's start */
	uint64_t end_ms;     /* flowEndMilliseconds: DELETE: its end (= time_ms) */
	uint64_t octets[2];  /* initiatorOctets, responderOctets (DELETE) */
	uint64_t packets[2]; /* initiatorPackets, responderPackets (DELETE) */
	uint32_t src_ip4;    /* pre-NAT (the original direction as sent) */
	uint32_t dst_ip4;
	uint32_t post_src_ip4; /* post-NAT */
	uint32_t post_dst_ip4;
	uint8_t src_ip6[16];
	uint8_t dst_ip6[16];
	uint8_t post_src_ip6[16];
	uint8_t post_dst_ip6[16];
	uint16_t src_port;
	uint16_t dst_port;
	uint16_t post_src_port;
	uint16_t post_dst_port;
	uint32_t vrf; /* ingressVRFID: the zone */
	uint8_t proto;
	uint8_t nat_event;
	uint16_t zone;
} __attribute__((packed));

struct ipfix_natev_ports_rec {
	uint64_t time_ms;      /* the start of the second the failures fell in */
	uint64_t dropped;      /* droppedPacketDeltaCount: packets dropped */
	uint32_t post_src_ip4; /* the post-NAT address that had no free port */
	uint32_t dst_ip4;      /* the destination */
	uint8_t post_src_ip6[16];
	uint8_t dst_ip6[16];
	uint16_t dst_port;
	uint32_t vrf;
	uint8_t proto;
	uint8_t nat_event;
	uint16_t zone;
	uint64_t count; /* xlatNatEventCount: failures in this record */
} __attribute__((packed));

struct ipfix_natev_quota_rec {
	uint64_t time_ms;
	uint8_t nat_event;
	uint32_t quota_event;	  /* natQuotaExceededEvent: 1 = maximum session entries */
	uint32_t threshold_event; /* natThresholdEvent */
	uint32_t max_sessions;	  /* maxSessionEntries: nf_conntrack_max */
	uint32_t high_threshold;  /* addressPortMappingHighThreshold: entries */
	uint64_t dropped;	  /* droppedPacketDeltaCount */
	uint32_t vrf;
	uint16_t zone;
	uint64_t count; /* xlatNatEventCount */
} __attribute__((packed));

/* Any NAT event record, with its template. */
struct ipfix_natev_rec {
	uint16_t tid; /* IPFIX_TID_NAT44_SESSION .. IPFIX_TID_NAT_QUOTA */
	union {
		struct ipfix_natev_session_rec session;
		struct ipfix_natev_ports_rec ports;
		struct ipfix_natev_quota_rec quota;
	} u;
};

/*
 * Called with each options record: tid is its template, rec its internal
 * record (valid during the call). A nonzero return stops the walk.
 */
typedef int (*ipfix_options_fn)(void *ctx, uint16_t tid, const void *rec);

/*
 * The options records of one round, in the order both encoders send them:
 * exporting process, metering process, sampling, PSAMP selector, then one
 * per interface. Returns 0 or what fn returned to stop.
 */
int ipfix_options_foreach(const struct ipfix_options *opts, uint32_t observation_domain_id,
			  ipfix_options_fn fn, void *ctx);

#endif
