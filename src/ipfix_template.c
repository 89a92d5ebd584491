// SPDX-License-Identifier: GPL-2.0-only
/*
 * Templates are data: one table per record layout lists every element once,
 * in wire order, with flag bits saying which template variants carry it.
 * The whole table is the layout of its struct (the internal record); each
 * template picks its variant from it. Each entry carries what both encoders
 * need: the name libfixbuf's information model knows the element by, its
 * id, whether it is an xlatflow element (the enterprise number is
 * configured), its length and whether it is written big-endian.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "errbuf.h"
#include "ie_registry.h"
#include "ipfix_template.h"

/* Template variant bits. */
#define TF_IPV4 0x01
#define TF_IPV6 0x02
#define TF_NAT 0x04
#define TF_VRF 0x08 /* ingressVRFID = zone id (zone_as_vrf) */

/* What an element is. */
#define ELEM_BYTES 0x00 /* copied as it is: IPv6 addresses, MACs, strings */
#define ELEM_INT 0x01	/* integers, IPv4 addresses, float64: host order in the record */
#define ELEM_ENT 0x02	/* an xlatflow element (templates/xlatflow-ies.txt) */

struct element {
	const char *name; /* IANA or registry name */
	uint16_t id;
	uint16_t len;
	uint8_t kind;	  /* ELEM_* */
	uint8_t variants; /* TF_*: carried by the templates with all these bits (0: by all) */
};

/* Every exported field, once, in wire order; must match struct ipfix_flow_rec. */
static const struct element flow_elements[] = {
	{ "flowStartMilliseconds", 152, 8, ELEM_INT, 0 },
	{ "flowEndMilliseconds", 153, 8, ELEM_INT, 0 },
	{ "octetDeltaCount", 1, 8, ELEM_INT, 0 },
	{ "packetDeltaCount", 2, 8, ELEM_INT, 0 },
	{ "sourceIPv4Address", 8, 4, ELEM_INT, TF_IPV4 },
	{ "destinationIPv4Address", 12, 4, ELEM_INT, TF_IPV4 },
	{ "sourceIPv6Address", 27, 16, ELEM_BYTES, TF_IPV6 },
	{ "destinationIPv6Address", 28, 16, ELEM_BYTES, TF_IPV6 },
	{ "sourceTransportPort", 7, 2, ELEM_INT, 0 },
	{ "destinationTransportPort", 11, 2, ELEM_INT, 0 },
	{ "protocolIdentifier", 4, 1, ELEM_INT, 0 },
	{ "tcpControlBits", 6, 2, ELEM_INT, 0 }, /* RFC 7125: 16 bits */
	{ "ipClassOfService", 5, 1, ELEM_INT, 0 },
	{ "icmpTypeCodeIPv4", 32, 2, ELEM_INT, TF_IPV4 },
	{ "icmpTypeCodeIPv6", 139, 2, ELEM_INT, TF_IPV6 },
	{ "ingressInterface", 10, 4, ELEM_INT, 0 },
	{ "egressInterface", 14, 4, ELEM_INT, 0 },
	{ "flowDirection", 61, 1, ELEM_INT, 0 },
	{ "sourceMacAddress", 56, 6, ELEM_BYTES, 0 },
	{ "destinationMacAddress", 80, 6, ELEM_BYTES, 0 },
	{ "vlanId", 58, 2, ELEM_INT, 0 },
	{ "flowEndReason", 136, 1, ELEM_INT, 0 },
	{ "postNATSourceIPv4Address", 225, 4, ELEM_INT, TF_IPV4 | TF_NAT },
	{ "postNATDestinationIPv4Address", 226, 4, ELEM_INT, TF_IPV4 | TF_NAT },
	{ "postNATSourceIPv6Address", 281, 16, ELEM_BYTES, TF_IPV6 | TF_NAT },
	{ "postNATDestinationIPv6Address", 282, 16, ELEM_BYTES, TF_IPV6 | TF_NAT },
	{ "postNAPTSourceTransportPort", 227, 2, ELEM_INT, TF_NAT },
	{ "postNAPTDestinationTransportPort", 228, 2, ELEM_INT, TF_NAT },
	{ "ingressVRFID", 234, 4, ELEM_INT, TF_NAT | TF_VRF },
	{ "xlatZoneId", IE_XLAT_ZONE_ID, 2, ELEM_ENT | ELEM_INT, TF_NAT },
	{ "xlatObservationPoint", IE_XLAT_OBSERVATION_POINT, 1, ELEM_ENT | ELEM_INT, TF_NAT },
	{ "xlatType", IE_XLAT_TYPE, 1, ELEM_ENT | ELEM_INT, TF_NAT },
	{ "xlatPreSourceIPv4Address", IE_XLAT_PRE_SOURCE_IPV4_ADDRESS, 4, ELEM_ENT | ELEM_INT,
	  TF_IPV4 | TF_NAT },
	{ "xlatPreDestinationIPv4Address", IE_XLAT_PRE_DESTINATION_IPV4_ADDRESS, 4,
	  ELEM_ENT | ELEM_INT, TF_IPV4 | TF_NAT },
	{ "xlatPostSourceIPv4Address", IE_XLAT_POST_SOURCE_IPV4_ADDRESS, 4, ELEM_ENT | ELEM_INT,
	  TF_IPV4 | TF_NAT },
	{ "xlatPostDestinationIPv4Address", IE_XLAT_POST_DESTINATION_IPV4_ADDRESS, 4,
	  ELEM_ENT | ELEM_INT, TF_IPV4 | TF_NAT },
	{ "xlatPreSourceIPv6Address", IE_XLAT_PRE_SOURCE_IPV6_ADDRESS, 16, ELEM_ENT,
	  TF_IPV6 | TF_NAT },
	{ "xlatPreDestinationIPv6Address", IE_XLAT_PRE_DESTINATION_IPV6_ADDRESS, 16, ELEM_ENT,
	  TF_IPV6 | TF_NAT },
	{ "xlatPostSourceIPv6Address", IE_XLAT_POST_SOURCE_IPV6_ADDRESS, 16, ELEM_ENT,
	  TF_IPV6 | TF_NAT },
	{ "xlatPostDestinationIPv6Address", IE_XLAT_POST_DESTINATION_IPV6_ADDRESS, 16, ELEM_ENT,
	  TF_IPV6 | TF_NAT },
	{ "xlatPreSourceTransportPort", IE_XLAT_PRE_SOURCE_TRANSPORT_PORT, 2, ELEM_ENT | ELEM_INT,
	  TF_NAT },
	{ "xlatPreDestinationTransportPort", IE_XLAT_PRE_DESTINATION_TRANSPORT_PORT, 2,
	  ELEM_ENT | ELEM_INT, TF_NAT },
	{ "xlatPostSourceTransportPort", IE_XLAT_POST_SOURCE_TRANSPORT_PORT, 2, ELEM_ENT | ELEM_INT,
	  TF_NAT },
	{ "xlatPostDestinationTransportPort", IE_XLAT_POST_DESTINATION_TRANSPORT_PORT, 2,
	  ELEM_ENT | ELEM_INT, TF_NAT },
};

/*
 * Options records (RFC 7011 4.3): scope fields first. Each table is the
 * layout of its struct, packed, integers in host byte order.
 */
struct exporter_rec {
	uint32_t odid;
	uint64_t messages;
	uint64_t records;
	uint64_t octets;
	uint64_t not_sent_records;
	uint64_t not_sent_packets;
	uint64_t not_sent_octets;
	uint64_t spool_full;
	uint64_t spool_write_error;
	uint64_t spool_damaged;
	uint64_t spool_pending;
	uint64_t spool_octets;
	uint64_t system_init_ms;
	uint32_t exporter_ip4;
	uint8_t exporter_ip6[16];
	uint64_t collector_down;
	uint64_t collector_redirected;
	uint64_t collector_taken_over;
} __attribute__((packed));

static const struct element exporter_elements[] = {
	{ "observationDomainId", 149, 4, ELEM_INT, 0 }, /* scope */
	{ "exportedMessageTotalCount", 41, 8, ELEM_INT, 0 },
	{ "exportedFlowRecordTotalCount", 42, 8, ELEM_INT, 0 },
	{ "exportedOctetTotalCount", 40, 8, ELEM_INT, 0 },
	{ "notSentFlowTotalCount", 166, 8, ELEM_INT, 0 },
	{ "notSentPacketTotalCount", 167, 8, ELEM_INT, 0 },
	{ "notSentOctetTotalCount", 168, 8, ELEM_INT, 0 },
	{ "xlatSpoolFullRecordTotalCount", IE_XLAT_SPOOL_FULL_RECORD_TOTAL_COUNT, 8,
	  ELEM_ENT | ELEM_INT, 0 },
	{ "xlatSpoolWriteErrorRecordTotalCount", IE_XLAT_SPOOL_WRITE_ERROR_RECORD_TOTAL_COUNT, 8,
	  ELEM_ENT | ELEM_INT, 0 },
	{ "xlatSpoolDamagedRecordTotalCount", IE_XLAT_SPOOL_DAMAGED_RECORD_TOTAL_COUNT, 8,
	  ELEM_ENT | ELEM_INT, 0 },
	{ "xlatSpoolPendingRecordCount", IE_XLAT_SPOOL_PENDING_RECORD_COUNT, 8, ELEM_ENT | ELEM_INT,
	  0 },
	{ "xlatSpoolOctetCount", IE_XLAT_SPOOL_OCTET_COUNT, 8, ELEM_ENT | ELEM_INT, 0 },
	{ "systemInitTimeMilliseconds", 160, 8, ELEM_INT, 0 },
	/* the sending socket's address: the template of a collector reached over IPv6 has 131 */
	{ "exporterIPv4Address", 130, 4, ELEM_INT, TF_IPV4 },
	{ "exporterIPv6Address", 131, 16, ELEM_BYTES, TF_IPV6 },
	{ "xlatCollectorDownTotalCount", IE_XLAT_COLLECTOR_DOWN_TOTAL_COUNT, 8, ELEM_ENT | ELEM_INT,
	  0 },
	{ "xlatCollectorRedirectedFlowTotalCount", IE_XLAT_COLLECTOR_REDIRECTED_FLOW_TOTAL_COUNT, 8,
	  ELEM_ENT | ELEM_INT, 0 },
	{ "xlatCollectorTakenOverFlowTotalCount", IE_XLAT_COLLECTOR_TAKEN_OVER_FLOW_TOTAL_COUNT, 8,
	  ELEM_ENT | ELEM_INT, 0 },
};

struct metering_rec {
	uint32_t odid;
	uint64_t ignored_packets;
	uint64_t dropped_packets;
	uint64_t dropped_octets;
	uint64_t non_ip;
	uint64_t malformed;
	uint64_t sampled_out;
	uint64_t map_full;
	uint64_t lost_packets;
	uint64_t lost_translations;
	uint64_t unsupported_translations;
	uint64_t cache_evicted_flows;
	uint64_t evicted_translations;
	uint64_t filter_reattachments;
	uint64_t system_init_ms;
} __attribute__((packed));

static const struct element metering_elements[] = {
	{ "observationDomainId", 149, 4, ELEM_INT, 0 }, /* scope */
	{ "ignoredPacketTotalCount", 164, 8, ELEM_INT, 0 },
	{ "droppedPacketTotalCount", 135, 8, ELEM_INT, 0 },
	{ "droppedOctetTotalCount", 134, 8, ELEM_INT, 0 },
	{ "xlatNonIpPacketTotalCount", IE_XLAT_NON_IP_PACKET_TOTAL_COUNT, 8, ELEM_ENT | ELEM_INT,
	  0 },
	{ "xlatMalformedPacketTotalCount", IE_XLAT_MALFORMED_PACKET_TOTAL_COUNT, 8,
	  ELEM_ENT | ELEM_INT, 0 },
	{ "xlatSampledOutPacketTotalCount", IE_XLAT_SAMPLED_OUT_PACKET_TOTAL_COUNT, 8,
	  ELEM_ENT | ELEM_INT, 0 },
	{ "xlatMapFullPacketTotalCount", IE_XLAT_MAP_FULL_PACKET_TOTAL_COUNT, 8,
	  ELEM_ENT | ELEM_INT, 0 },
	{ "xlatLostPacketTotalCount", IE_XLAT_LOST_PACKET_TOTAL_COUNT, 8, ELEM_ENT | ELEM_INT, 0 },
	{ "xlatLostTranslationTotalCount", IE_XLAT_LOST_TRANSLATION_TOTAL_COUNT, 8,
	  ELEM_ENT | ELEM_INT, 0 },
	{ "xlatUnsupportedTranslationTotalCount", IE_XLAT_UNSUPPORTED_TRANSLATION_TOTAL_COUNT, 8,
	  ELEM_ENT | ELEM_INT, 0 },
	{ "xlatCacheEvictedFlowTotalCount", IE_XLAT_CACHE_EVICTED_FLOW_TOTAL_COUNT, 8,
	  ELEM_ENT | ELEM_INT, 0 },
	{ "xlatEvictedTranslationTotalCount", IE_XLAT_EVICTED_TRANSLATION_TOTAL_COUNT, 8,
	  ELEM_ENT | ELEM_INT, 0 },
	{ "xlatFilterReattachTotalCount", IE_XLAT_FILTER_REATTACH_TOTAL_COUNT, 8,
	  ELEM_ENT | ELEM_INT, 0 },
	{ "systemInitTimeMilliseconds", 160, 8, ELEM_INT, 0 },
};

/*
 * Sampling, in two records because collectors look for two different
 * shapes and nfdump takes a record holding both for a per-selector one
 * that no flow refers to:
 * - IPFIX_TID_SAMPLING: the NetFlow v9 samplingInterval/samplingAlgorithm
 *   pair (34/35), exporter wide; nfdump and nfacctd apply it to every flow.
 * - IPFIX_TID_SELECTOR: PSAMP (RFC 5476/5477). 1 in N random sampling is
 *   selectorAlgorithm 4 (uniform probabilistic, samplingProbability 1/N),
 *   also written as 1 packet selected, N - 1 skipped (305/306). At 1:1 it
 *   says systematic count-based, interval 1, space 0: every packet.
 */
struct sampling_rec {
	uint32_t odid;
	uint32_t sampling_interval;
	uint8_t sampling_algorithm;
} __attribute__((packed));

static const struct element sampling_elements[] = {
	{ "observationDomainId", 149, 4, ELEM_INT, 0 }, /* scope */
	{ "samplingInterval", 34, 4, ELEM_INT, 0 },
	{ "samplingAlgorithm", 35, 1, ELEM_INT, 0 },
};

struct selector_rec {
	uint32_t odid;
	uint64_t selector_id;
	uint16_t selector_algorithm;
	uint32_t packet_interval;
	uint32_t packet_space;
	double probability;
	uint64_t pkts_observed;
	uint64_t pkts_selected;
} __attribute__((packed));

static const struct element selector_elements[] = {
	{ "observationDomainId", 149, 4, ELEM_INT, 0 }, /* scope */
	{ "selectorId", 302, 8, ELEM_INT, 0 },
	{ "selectorAlgorithm", 304, 2, ELEM_INT, 0 },
	{ "samplingPacketInterval", 305, 4, ELEM_INT, 0 },
	{ "samplingPacketSpace", 306, 4, ELEM_INT, 0 },
	{ "samplingProbability", 311, 8, ELEM_INT, 0 }, /* float64, byte-swapped like a uint64 */
	{ "selectorIdTotalPktsObserved", 318, 8, ELEM_INT, 0 },
	{ "selectorIdTotalPktsSelected", 319, 8, ELEM_INT, 0 },
};

/* PSAMP selectorAlgorithm values (IANA registry) */
#define SELECTOR_SYSTEMATIC_COUNT 1
#define SELECTOR_UNIFORM_PROBABILISTIC 4
/* NetFlow v9 SAMPLING_ALGORITHM */
#define NF9_SAMPLING_DETERMINISTIC 1
#define NF9_SAMPLING_RANDOM 2

struct interface_rec {
	uint32_t ifindex;
	char name[IPFIX_IFNAME_LEN];
	char description[IPFIX_IFDESCR_LEN];
} __attribute__((packed));

/* Fixed-length strings, so NetFlow v9 (which has no variable length) can use them too. */
static const struct element interface_elements[] = {
	{ "ingressInterface", 10, 4, ELEM_INT, 0 }, /* scope */
	{ "interfaceName", 82, IPFIX_IFNAME_LEN, ELEM_BYTES, 0 },
	{ "interfaceDescription", 83, IPFIX_IFDESCR_LEN, ELEM_BYTES, 0 },
};

/*
 * The NAT event log (RFC 8158 section 4; docs/nat-events.md). Session
 * create and delete share one layout: a CREATE carries zero counters, a
 * DELETE the session's start and end (pmacct's timestamp_start/_end,
 * nfdump's first/last) and conntrack's counters (NSEL style, initiator =
 * the original direction). NAT66 uses the IPv6 elements.
 */
static const struct element natev_session_elements[] = {
	{ "observationTimeMilliseconds", 323, 8, ELEM_INT, 0 },
	{ "flowStartMilliseconds", 152, 8, ELEM_INT, 0 },
	{ "flowEndMilliseconds", 153, 8, ELEM_INT, 0 },
	{ "initiatorOctets", 231, 8, ELEM_INT, 0 },
	{ "responderOctets", 232, 8, ELEM_INT, 0 },
	{ "initiatorPackets", 298, 8, ELEM_INT, 0 },
	{ "responderPackets", 299, 8, ELEM_INT, 0 },
	{ "sourceIPv4Address", 8, 4, ELEM_INT, TF_IPV4 },
	{ "destinationIPv4Address", 12, 4, ELEM_INT, TF_IPV4 },
	{ "postNATSourceIPv4Address", 225, 4, ELEM_INT, TF_IPV4 },
	{ "postNATDestinationIPv4Address", 226, 4, ELEM_INT, TF_IPV4 },
	{ "sourceIPv6Address", 27, 16, ELEM_BYTES, TF_IPV6 },
	{ "destinationIPv6Address", 28, 16, ELEM_BYTES, TF_IPV6 },
	{ "postNATSourceIPv6Address", 281, 16, ELEM_BYTES, TF_IPV6 },
	{ "postNATDestinationIPv6Address", 282, 16, ELEM_BYTES, TF_IPV6 },
	{ "sourceTransportPort", 7, 2, ELEM_INT, 0 },
	{ "destinationTransportPort", 11, 2, ELEM_INT, 0 },
	{ "postNAPTSourceTransportPort", 227, 2, ELEM_INT, 0 },
	{ "postNAPTDestinationTransportPort", 228, 2, ELEM_INT, 0 },
	{ "ingressVRFID", 234, 4, ELEM_INT, 0 },
	{ "protocolIdentifier", 4, 1, ELEM_INT, 0 },
	{ "natEvent", 230, 1, ELEM_INT, 0 },
	{ "xlatZoneId", IE_XLAT_ZONE_ID, 2, ELEM_ENT | ELEM_INT, 0 },
};

/*
 * NAT ports exhausted: no free source port on the post-NAT address towards
 * one destination. One record per second, post-NAT address, destination
 * and protocol, with how many failures (packets dropped) it stands for:
 * droppedPacketDeltaCount for NetFlow v9, which has no enterprise elements,
 * and xlatNatEventCount.
 */
static const struct element natev_ports_elements[] = {
	{ "observationTimeMilliseconds", 323, 8, ELEM_INT, 0 },
	{ "droppedPacketDeltaCount", 133, 8, ELEM_INT, 0 },
	{ "postNATSourceIPv4Address", 225, 4, ELEM_INT, TF_IPV4 },
	{ "destinationIPv4Address", 12, 4, ELEM_INT, TF_IPV4 },
	{ "postNATSourceIPv6Address", 281, 16, ELEM_BYTES, TF_IPV6 },
	{ "destinationIPv6Address", 28, 16, ELEM_BYTES, TF_IPV6 },
	{ "destinationTransportPort", 11, 2, ELEM_INT, 0 },
	{ "ingressVRFID", 234, 4, ELEM_INT, 0 },
	{ "protocolIdentifier", 4, 1, ELEM_INT, 0 },
	{ "natEvent", 230, 1, ELEM_INT, 0 },
	{ "xlatZoneId", IE_XLAT_ZONE_ID, 2, ELEM_ENT | ELEM_INT, 0 },
	{ "xlatNatEventCount", IE_XLAT_NAT_EVENT_COUNT, 8, ELEM_ENT | ELEM_INT, 0 },
};

/* Conntrack table full (Quota Exceeded) and its fill threshold (Threshold Reached). */
static const struct element natev_quota_elements[] = {
	{ "observationTimeMilliseconds", 323, 8, ELEM_INT, 0 },
	{ "natEvent", 230, 1, ELEM_INT, 0 },
	{ "natQuotaExceededEvent", 466, 4, ELEM_INT, 0 },
	{ "natThresholdEvent", 467, 4, ELEM_INT, 0 },
	{ "maxSessionEntries", 471, 4, ELEM_INT, 0 },
	{ "addressPortMappingHighThreshold", 478, 4, ELEM_INT, 0 },
	{ "droppedPacketDeltaCount", 133, 8, ELEM_INT, 0 },
	{ "ingressVRFID", 234, 4, ELEM_INT, 0 },
	{ "xlatZoneId", IE_XLAT_ZONE_ID, 2, ELEM_ENT | ELEM_INT, 0 },
	{ "xlatNatEventCount", IE_XLAT_NAT_EVENT_COUNT, 8, ELEM_ENT | ELEM_INT, 0 },
};

struct natlog_stats_rec {
	uint32_t odid;
	uint64_t exported;
	uint64_t not_sent;
	uint64_t source_lost;
	uint64_t recovered;
	uint64_t system_init_ms;
} __attribute__((packed));

static const struct element natlog_stats_elements[] = {
	{ "observationDomainId", 149, 4, ELEM_INT, 0 }, /* scope */
	{ "xlatNatEventExportedTotalCount", IE_XLAT_NAT_EVENT_EXPORTED_TOTAL_COUNT, 8,
	  ELEM_ENT | ELEM_INT, 0 },
	{ "xlatNatEventNotSentTotalCount", IE_XLAT_NAT_EVENT_NOT_SENT_TOTAL_COUNT, 8,
	  ELEM_ENT | ELEM_INT, 0 },
	{ "xlatNatEventSourceLostTotalCount", IE_XLAT_NAT_EVENT_SOURCE_LOST_TOTAL_COUNT, 8,
	  ELEM_ENT | ELEM_INT, 0 },
	{ "xlatNatEventRecoveredTotalCount", IE_XLAT_NAT_EVENT_RECOVERED_TOTAL_COUNT, 8,
	  ELEM_ENT | ELEM_INT, 0 },
	{ "systemInitTimeMilliseconds", 160, 8, ELEM_INT, 0 },
};

/* The internal record of any options template. */
union options_rec {
	struct exporter_rec exporter;
	struct metering_rec metering;
	struct sampling_rec sampling;
	struct selector_rec selector;
	struct interface_rec interface;
	struct natlog_stats_rec natlog;
};

#define TABLE(a) a, sizeof(a) / sizeof(a[0])

/*
 * Every template: id, table, variant bits, scope fields and the size of
 * the table's struct (the internal record). The flow templates come first,
 * in tid order, as ipfix_describe_templates() promises.
 */
static const struct template_def {
	uint16_t tid;
	const char *name;
	const struct element *elements;
	size_t n_elements;
	uint8_t variants;
	uint16_t scope_count;
	uint16_t rec_len;
} templates[] = {
	{ IPFIX_TID_IPV4, "xlatflow IPv4", TABLE(flow_elements), TF_IPV4, 0,
	  sizeof(struct ipfix_flow_rec) },
	{ IPFIX_TID_IPV6, "xlatflow IPv6", TABLE(flow_elements), TF_IPV6, 0,
	  sizeof(struct ipfix_flow_rec) },
	{ IPFIX_TID_IPV4_NAT, "xlatflow IPv4 NAT", TABLE(flow_elements), TF_IPV4 | TF_NAT, 0,
	  sizeof(struct ipfix_flow_rec) },
	{ IPFIX_TID_IPV6_NAT, "xlatflow IPv6 NAT", TABLE(flow_elements), TF_IPV6 | TF_NAT, 0,
	  sizeof(struct ipfix_flow_rec) },
	{ IPFIX_TID_EXPORTER, "exporting process statistics", TABLE(exporter_elements), 0, 1,
	  sizeof(struct exporter_rec) },
	{ IPFIX_TID_METERING, "metering process statistics", TABLE(metering_elements), 0, 1,
	  sizeof(struct metering_rec) },
	{ IPFIX_TID_SAMPLING, "sampling", TABLE(sampling_elements), 0, 1,
	  sizeof(struct sampling_rec) },
	{ IPFIX_TID_SELECTOR, "PSAMP selector", TABLE(selector_elements), 0, 1,
	  sizeof(struct selector_rec) },
	{ IPFIX_TID_INTERFACE, "interface table", TABLE(interface_elements), 0, 1,
	  sizeof(struct interface_rec) },
	/* the NAT event log's, only with nat_events */
	{ IPFIX_TID_NAT44_SESSION, "NAT44 session event", TABLE(natev_session_elements), TF_IPV4, 0,
	  sizeof(struct ipfix_natev_session_rec) },
	{ IPFIX_TID_NAT66_SESSION, "NAT66 session event", TABLE(natev_session_elements), TF_IPV6, 0,
	  sizeof(struct ipfix_natev_session_rec) },
	{ IPFIX_TID_NAT44_PORTS, "NAT44 ports exhausted", TABLE(natev_ports_elements), TF_IPV4, 0,
	  sizeof(struct ipfix_natev_ports_rec) },
	{ IPFIX_TID_NAT66_PORTS, "NAT66 ports exhausted", TABLE(natev_ports_elements), TF_IPV6, 0,
	  sizeof(struct ipfix_natev_ports_rec) },
	{ IPFIX_TID_NAT_QUOTA, "NAT table full or threshold", TABLE(natev_quota_elements), 0, 0,
	  sizeof(struct ipfix_natev_quota_rec) },
	{ IPFIX_TID_NATLOG_STATS, "NAT event log statistics", TABLE(natlog_stats_elements), 0, 1,
	  sizeof(struct natlog_stats_rec) },
};

_Static_assert(sizeof(templates) / sizeof(templates[0]) == IPFIX_MAX_TEMPLATES,
	       "IPFIX_MAX_TEMPLATES counts the table");
_Static_assert(IPFIX_TID_IPV6 == IPFIX_TID_IPV4 + 1 && IPFIX_TID_IPV4_NAT == IPFIX_TID_IPV4 + 2 &&
		       IPFIX_TID_IPV6_NAT == IPFIX_TID_IPV4 + 3 && IPFIX_N_FLOW_TEMPLATES == 4,
	       "flow templates are templates[0..3], in tid order");
/* Offsets in the record writer's steps are 16 bits. */
_Static_assert(sizeof(struct ipfix_flow_rec) <= UINT16_MAX &&
		       sizeof(union options_rec) <= UINT16_MAX,
	       "record too large");

/* An xlatflow element must be what templates/xlatflow-ies.txt says it is. */
static int registry_check(const struct template_def *def, const struct element *e, char *err,
			  size_t err_len)
{
	for (int i = 0; i < IE_REGISTRY_COUNT; i++) {
		const struct ie_registry_element *r = &ie_registry[i];

		if (r->id != e->id)
			continue;
		if (strcmp(r->name, e->name) ||
		    (r->len != IE_REGISTRY_VARLEN && r->len != e->len) ||
		    (e->len > 1 && r->integer != !!(e->kind & ELEM_INT)))
			break;
		return 0;
	}
	return errbuf_set(err, err_len, -EINVAL,
			  "%s: element %s (enterprise id %u, %u bytes) does not match "
			  "templates/xlatflow-ies.txt",
			  def->name, e->name, e->id, e->len);
}

/*
 * One template for these params. The selection rule is libfixbuf's
 * fbTemplateAppendSpecArray(): an element with variant bits is taken when
 * the template has all of them.
 */
static int describe(const struct template_def *def, const struct ipfix_params *params,
		    bool netflow9, struct ipfix_template_desc *d, char *err, size_t err_len)
{
	uint8_t variants = def->variants;
	uint16_t offset = 0;

	if ((netflow9 || params->zone_as_vrf) && (variants & TF_NAT))
		variants |= TF_VRF;
	if (def->tid == IPFIX_TID_EXPORTER)
		variants |= params->exporter_ipv6 ? TF_IPV6 : TF_IPV4;
	memset(d, 0, sizeof(*d));
	d->tid = def->tid;
	d->name = def->name;
	for (size_t i = 0; i < def->n_elements; offset += def->elements[i].len, i++) {
		const struct element *e = &def->elements[i];

		if ((e->kind & ELEM_ENT) && registry_check(def, e, err, err_len))
			return -EINVAL;
		if ((e->variants & variants) != e->variants || (netflow9 && (e->kind & ELEM_ENT)))
			continue;
		if (d->n_fields >= IPFIX_MAX_FIELDS)
			return errbuf_set(err, err_len, -EINVAL, "%s: more than %d fields",
					  def->name, IPFIX_MAX_FIELDS);
		d->fields[d->n_fields++] = (struct ipfix_field){
			.name = e->name,
			.id = e->id,
			.pen = (e->kind & ELEM_ENT) ? params->enterprise_number : 0,
			.len = e->len,
			.offset = offset,
			.integer = (e->kind & ELEM_INT) != 0,
		};
		d->record_len += e->len;
		if (i < def->scope_count)
			d->scope_count++;
	}
	/* Records are written from the struct at these offsets: the table must be the struct. */
	if (offset != def->rec_len)
		return errbuf_set(err, err_len, -EINVAL, "%s: the table is %u bytes, its struct %u",
				  def->name, offset, def->rec_len);
	return 0;
}

int ipfix_describe_templates(const struct ipfix_params *params, bool netflow9,
			     struct ipfix_template_desc *out, char *err, size_t err_len)
{
	int n = params->nat_events ? IPFIX_MAX_TEMPLATES : IPFIX_N_TEMPLATES;

	for (int i = 0; i < n; i++)
		if (describe(&templates[i], params, netflow9, &out[i], err, err_len))
			return -EINVAL;
	return n;
}

uint16_t ipfix_template_for(const struct flow_record *rec)
{
	if (rec->key.family == XF_FAMILY_IPV4)
		return rec->has_xlat ? IPFIX_TID_IPV4_NAT : IPFIX_TID_IPV4;
	if (rec->key.family == XF_FAMILY_IPV6)
		return rec->has_xlat ? IPFIX_TID_IPV6_NAT : IPFIX_TID_IPV6;
	return 0;
}

static uint32_t ip4_host(const uint8_t *addr)
{
	uint32_t v;

	memcpy(&v, addr, 4);
	return ntohl(v);
}

static void record_fill(struct ipfix_flow_rec *r, const struct flow_record *rec, bool zone_as_vrf)
{
	const struct xf_flow_key *k = &rec->key;
	bool v4 = k->family == XF_FAMILY_IPV4;
	bool icmp = (v4 && k->proto == IPPROTO_ICMP) || (!v4 && k->proto == IPPROTO_ICMPV6);

	/*
	 * Every field the record's template reads is written once, nothing is
	 * cleared first: this runs for every record, and a memset of the
	 * packed struct (a rep stos) cost more than the rest of the function.
	 * The other family's fields and, without a translation, the NAT part
	 * are left as they are: no template of this record reads them.
	 */
	r->flow_start_ms = rec->start_ms;
	r->flow_end_ms = rec->end_ms;
	r->octets = rec->octets;
	r->packets = rec->packets;
	/* ICMP keeps type/code in dst_port (see xlatflow_shared.h); ports are 0. */
	if (v4) {
		r->src_ip4 = ip4_host(k->src_addr);
		r->dst_ip4 = ip4_host(k->dst_addr);
		r->icmp_type_code4 = icmp ? k->dst_port : 0;
	} else {
		memcpy(r->src_ip6, k->src_addr, 16);
		memcpy(r->dst_ip6, k->dst_addr, 16);
		r->icmp_type_code6 = icmp ? k->dst_port : 0;
	}
	r->src_port = icmp ? 0 : k->src_port;
	r->dst_port = icmp ? 0 : k->dst_port;
	r->proto = k->proto;
	r->tcp_flags = rec->tcp_flags;
	r->tos = rec->tos;
	r->ingress_if = k->direction == XF_DIR_EGRESS ? 0 : k->ifindex;
	r->egress_if = k->direction == XF_DIR_EGRESS ? k->ifindex : 0;
	r->direction = k->direction == XF_DIR_EGRESS ? 1 : 0;
	memcpy(r->src_mac, rec->src_mac, 6);
	memcpy(r->dst_mac, rec->dst_mac, 6);
	r->vlan_id = k->vlan_id;
	r->end_reason = rec->end_reason;

	if (!rec->has_xlat)
		return;
	const struct xlat_info *x = &rec->xlat;

	if (v4) {
		r->post_nat_src_ip4 = ip4_host(x->post_src);
		r->post_nat_dst_ip4 = ip4_host(x->post_dst);
		r->xlat_pre_src_ip4 = ip4_host(x->pre_src);
		r->xlat_pre_dst_ip4 = ip4_host(x->pre_dst);
		r->xlat_post_src_ip4 = r->post_nat_src_ip4;
		r->xlat_post_dst_ip4 = r->post_nat_dst_ip4;
	} else {
		memcpy(r->post_nat_src_ip6, x->post_src, 16);
		memcpy(r->post_nat_dst_ip6, x->post_dst, 16);
		memcpy(r->xlat_pre_src_ip6, x->pre_src, 16);
		memcpy(r->xlat_pre_dst_ip6, x->pre_dst, 16);
		memcpy(r->xlat_post_src_ip6, x->post_src, 16);
		memcpy(r->xlat_post_dst_ip6, x->post_dst, 16);
	}
	r->post_napt_src_port = x->post_sport;
	r->post_napt_dst_port = x->post_dport;
	r->ingress_vrf = zone_as_vrf ? x->zone_id : 0;
	r->xlat_zone = x->zone_id;
	r->xlat_observed = x->observed;
	r->xlat_type = x->type;
	r->xlat_pre_src_port = x->pre_sport;
	r->xlat_pre_dst_port = x->pre_dport;
	r->xlat_post_src_port = x->post_sport;
	r->xlat_post_dst_port = x->post_dport;
}

uint16_t ipfix_record_flow(struct ipfix_flow_rec *r, const struct flow_record *rec,
			   bool zone_as_vrf)
{
	uint16_t tid = ipfix_template_for(rec);

	if (tid)
		record_fill(r, rec, zone_as_vrf);
	return tid;
}

/* The internal record of options template tid (index: the interface). */
static void options_fill(union options_rec *u, uint16_t tid, const struct ipfix_options *opts,
			 uint32_t odid, int index)
{
	const struct ipfix_metering *m = &opts->metering;
	uint32_t n = opts->sampling ? opts->sampling : 1;

	switch (tid) {
	case IPFIX_TID_EXPORTER:
		u->exporter = (struct exporter_rec){
			.odid = odid,
			.messages = opts->exported_messages,
			.records = opts->exported_records,
			.octets = opts->exported_octets,
			.not_sent_records = opts->not_sent_records,
			.not_sent_packets = opts->not_sent_packets,
			.not_sent_octets = opts->not_sent_octets,
			.spool_full = opts->spool.full,
			.spool_write_error = opts->spool.write_error,
			.spool_damaged = opts->spool.damaged,
			.spool_pending = opts->spool.pending,
			.spool_octets = opts->spool.octets,
			.system_init_ms = opts->system_init_ms,
			.collector_down = opts->collector_down,
			.collector_redirected = opts->collector_redirected,
			.collector_taken_over = opts->collector_taken_over,
		};
		u->exporter.exporter_ip4 = ip4_host(opts->exporter_addr);
		memcpy(u->exporter.exporter_ip6, opts->exporter_addr, 16);
		break;
	case IPFIX_TID_METERING:
		u->metering = (struct metering_rec){
			.odid = odid,
			.ignored_packets = m->non_ip_packets + m->malformed_packets,
			.dropped_packets = m->lost_packets,
			.dropped_octets = m->lost_octets,
			.non_ip = m->non_ip_packets,
			.malformed = m->malformed_packets,
			.sampled_out = m->sampled_out_packets,
			.map_full = m->map_full_packets,
			.lost_packets = m->lost_packets,
			.lost_translations = m->lost_translations,
			.unsupported_translations = m->unsupported_translations,
			.cache_evicted_flows = m->cache_evicted_flows,
			.evicted_translations = m->evicted_translations,
			.filter_reattachments = m->filter_reattachments,
			.system_init_ms = opts->system_init_ms,
		};
		break;
	case IPFIX_TID_SAMPLING:
		u->sampling = (struct sampling_rec){
			.odid = odid,
			.sampling_interval = n,
			.sampling_algorithm = n > 1 ? NF9_SAMPLING_RANDOM
						    : NF9_SAMPLING_DETERMINISTIC,
		};
		break;
	case IPFIX_TID_SELECTOR:
		u->selector = (struct selector_rec){
			.odid = odid,
			.selector_id = 1,
			.selector_algorithm = n > 1 ? SELECTOR_UNIFORM_PROBABILISTIC
						    : SELECTOR_SYSTEMATIC_COUNT,
			.packet_interval = 1,
			.packet_space = n - 1,
			.probability = 1.0 / n,
			.pkts_observed = m->observed_packets,
			.pkts_selected = m->observed_packets >= m->sampled_out_packets
						 ? m->observed_packets - m->sampled_out_packets
						 : 0,
		};
		break;
	case IPFIX_TID_INTERFACE:
		u->interface = (struct interface_rec){ .ifindex = opts->interfaces[index].ifindex };
		memcpy(u->interface.name, opts->interfaces[index].name, IPFIX_IFNAME_LEN);
		memcpy(u->interface.description, opts->interfaces[index].description,
		       IPFIX_IFDESCR_LEN);
		break;
	case IPFIX_TID_NATLOG_STATS:
		u->natlog = (struct natlog_stats_rec){
			.odid = odid,
			.exported = opts->natlog.exported,
			.not_sent = opts->natlog.not_sent,
			.source_lost = opts->natlog.source_lost,
			.recovered = opts->natlog.recovered,
			.system_init_ms = opts->system_init_ms,
		};
		break;
	}
}

/* The options templates in the order their records go out; the interface table last. */
static const uint16_t options_order[] = { IPFIX_TID_EXPORTER,	  IPFIX_TID_METERING,
					  IPFIX_TID_SAMPLING,	  IPFIX_TID_SELECTOR,
					  IPFIX_TID_NATLOG_STATS, IPFIX_TID_INTERFACE };

int ipfix_options_foreach(const struct ipfix_options *opts, uint32_t observation_domain_id,
			  ipfix_options_fn fn, void *ctx)
{
	union options_rec rec;
	int rc = 0;

	for (size_t i = 0; !rc && i < sizeof(options_order) / sizeof(options_order[0]); i++) {
		uint16_t tid = options_order[i];
		int n = tid == IPFIX_TID_INTERFACE ? opts->n_interfaces : 1;

		if (tid == IPFIX_TID_NATLOG_STATS && !opts->nat_events)
			continue;

		for (int k = 0; !rc && k < n; k++) {
			options_fill(&rec, tid, opts, observation_domain_id, k);
			rc = fn(ctx, tid, &rec);
		}
	}
	return rc;
}
