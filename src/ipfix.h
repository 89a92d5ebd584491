/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The IPFIX encoder: turns flow records into IPFIX messages. libfixbuf
 * builds the templates and RFC 5610 type records; flow and options records
 * are written from compiled templates (ipfix_wire.h). One encoder per
 * collector (its own libfixbuf session and sequence numbers, template
 * state, observation domain). Messages are built in memory and handed to
 * an emit callback; the encoder owns no socket.
 *
 * Every message is at most max_message_len bytes and a record never spans
 * two messages.
 */
#ifndef XF_IPFIX_H
#define XF_IPFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow.h"

/* Template ids on the wire, the same in every observation domain. */
#define IPFIX_TID_IPV4 256     /* IPv4 flow */
#define IPFIX_TID_IPV6 257     /* IPv6 flow */
#define IPFIX_TID_IPV4_NAT 258 /* IPv4 flow with its translation */
#define IPFIX_TID_IPV6_NAT 259 /* IPv6 flow with its translation */
#define IPFIX_TID_IE_TYPE 260  /* RFC 5610 information element type records */
/* Options templates (RFC 7011 4.3), same ids in NetFlow v9. */
#define IPFIX_TID_EXPORTER 261	/* exporting process statistics, scope observationDomainId */
#define IPFIX_TID_METERING 262	/* metering process statistics, scope observationDomainId */
#define IPFIX_TID_SAMPLING 263	/* samplingInterval/Algorithm, scope observationDomainId */
#define IPFIX_TID_INTERFACE 264 /* interface names, scope ingressInterface */
#define IPFIX_TID_SELECTOR 265	/* PSAMP packet selection, scope observationDomainId */

/* Fields per template at most (Wireshark's default limit is 60). */
#define IPFIX_MAX_FIELDS 60
/* Largest internal record of any template, in bytes. */
#define IPFIX_RECORD_MAX 512
/* Fixed lengths of interfaceName (82) and interfaceDescription (83). */
#define IPFIX_IFNAME_LEN 16
#define IPFIX_IFDESCR_LEN 64

/* RFC 5612 documentation PEN: the default enterprise number. */
#define IPFIX_DEFAULT_PEN 32473

/* IPFIX message header (RFC 7011 3.1): 16 bytes. */
#define IPFIX_HEADER_LEN 16
/* Smallest message size the encoder accepts (the largest template must fit). */
#define IPFIX_MIN_MESSAGE_LEN 512

struct ipfix_encoder;

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
};

/* One row of the interface table (IPFIX_TID_INTERFACE). */
struct ipfix_interface {
	uint32_t ifindex;
	char name[IPFIX_IFNAME_LEN];	     /* NUL padded */
	char description[IPFIX_IFDESCR_LEN]; /* NUL padded */
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
	uint32_t sampling; /* 1 packet in sampling (1 = every packet) */
	struct ipfix_metering metering;
	const struct ipfix_interface *interfaces;
	int n_interfaces;
};

/*
 * A template as data, for the record writer (ipfix_wire.h) of both
 * encoders. Built from the same spec tables as the IPFIX templates.
 */
struct ipfix_field {
	uint16_t id;	 /* element id, enterprise bit clear */
	uint32_t pen;	 /* 0 for IANA elements */
	uint16_t len;	 /* bytes, the same on the wire and in the internal record */
	uint16_t offset; /* in the internal record */
	bool integer;	 /* host byte order in the internal record: write big-endian */
};

struct ipfix_template_desc {
	uint16_t tid;
	uint16_t scope_count; /* options templates: the first scope_count fields */
	uint16_t n_fields;
	uint16_t record_len; /* one data record on the wire */
	struct ipfix_field fields[IPFIX_MAX_FIELDS];
};

struct ipfix_params {
	uint32_t observation_domain_id;
	uint32_t enterprise_number; /* PEN of the xlatflow elements */
	bool zone_as_vrf;	    /* also put the zone id in ingressVRFID (234) */
	uint16_t max_message_len;   /* whole IPFIX message, header included */
};

/*
 * Called with each finished message. msg is valid only during the call.
 * records counts the data records in it (0 for a template-only message).
 * The callback must not call back into the encoder.
 */
typedef void (*ipfix_emit_fn)(void *ctx, const uint8_t *msg, size_t len, uint32_t records);

/*
 * Create an encoder. Returns NULL and fills err on a libfixbuf setup error
 * or when max_message_len < IPFIX_MIN_MESSAGE_LEN.
 */
struct ipfix_encoder *ipfix_encoder_new(const struct ipfix_params *params, ipfix_emit_fn emit,
					void *ctx, char *err, size_t err_len);
void ipfix_encoder_free(struct ipfix_encoder *enc);

/*
 * Append one record to the open message, emitting the message first when
 * the record does not fit. Returns 0 or a negative errno (-EINVAL for an
 * unknown address family, -EIO if libfixbuf fails to emit its open message).
 */
int ipfix_encoder_add(struct ipfix_encoder *enc, const struct flow_record *rec);

/*
 * Append the RFC 5610 type records and all templates. Template sets and
 * data sets go in separate messages, so the open message is emitted first
 * if it holds data, and the next data record starts a new one.
 */
int ipfix_encoder_add_templates(struct ipfix_encoder *enc);

/* Emit the open message if it holds anything. Returns 0 or -EIO. */
int ipfix_encoder_flush(struct ipfix_encoder *enc);

/* Data records in the open (not yet emitted) message. */
uint32_t ipfix_encoder_pending(const struct ipfix_encoder *enc);

/*
 * Append the options records (exporting process, metering, sampling, one
 * per interface). Their templates go with ipfix_encoder_add_templates().
 */
int ipfix_encoder_add_options(struct ipfix_encoder *enc, const struct ipfix_options *opts);

/* Template id a record is encoded with (IPFIX_TID_*), 0 if it cannot be. */
uint16_t ipfix_template_for(const struct flow_record *rec);

/*
 * Describe the flow templates (IPFIX_TID_IPV4..IPV6_NAT) and the options
 * templates (IPFIX_TID_EXPORTER..SELECTOR) into out (at most max).
 * netflow9: leave out the enterprise-specific elements and always carry
 * the zone id in ingressVRFID (NetFlow v9 has no enterprise fields).
 * Returns the number of templates, or -EINVAL if an element is unknown.
 */
int ipfix_describe_templates(const struct ipfix_params *params, bool netflow9,
			     struct ipfix_template_desc *out, int max);

/*
 * The internal record (host byte order) of a flow, for ipfix_field
 * offsets. buf holds IPFIX_RECORD_MAX bytes. Returns the template id or 0.
 */
uint16_t ipfix_record_flow(uint8_t *buf, const struct flow_record *rec, bool zone_as_vrf);

/*
 * The internal record of options template tid (IPFIX_TID_EXPORTER ..
 * IPFIX_TID_SELECTOR; index picks the interface). Returns 0 or -EINVAL.
 */
int ipfix_record_options(uint8_t *buf, uint16_t tid, const struct ipfix_options *opts,
			 uint32_t observation_domain_id, int index);

#endif
