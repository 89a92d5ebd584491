// SPDX-License-Identifier: GPL-2.0-only
/*
 * IPFIX encoding. Templates are data: one spec array lists every field
 * once with flag bits saying which template variants carry it; the
 * internal template is the whole array (the layout of struct ipfix_rec),
 * each external template picks its variant with fbTemplateAppendSpecArray.
 *
 * libfixbuf owns the information model (with our enterprise elements), the
 * templates, the RFC 5610 type records and the options records. It writes
 * them into a memory buffer exporter sized to the collector's message limit
 * and runs in manual mode: an append that does not fit fails with
 * FB_ERROR_EOM, we emit the message and append again to a fresh one, so no
 * record is ever split and no message exceeds the limit.
 *
 * Flow records, the hot path, do not go through libfixbuf's transcoder
 * (about 2500 instructions a record: it walks the template element by
 * element): each flow template is compiled once from the same spec table
 * into a few copy and byte-swap steps (ipfix_wire.h), and data messages are
 * built here, header and sets, in a buffer of their own. A message holds
 * either libfixbuf's writes or flow records, never both; the one that is
 * open is emitted before the other kind is written, so order is kept. The
 * sequence number (RFC 7011 3.1: data records sent before this message,
 * options and type records included) is kept here for both kinds and
 * written into libfixbuf's messages as they are emitted.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <fixbuf/public.h>

#include "ie_registry.h"
#include "ipfix.h"
#include "ipfix_wire.h"

/* Template variant bits used in the spec flags. */
#define TF_IPV4 0x01
#define TF_IPV6 0x02
#define TF_NAT 0x04
#define TF_VRF 0x08 /* ingressVRFID = zone id (zone_as_vrf) */
#define TF_ALL (TF_IPV4 | TF_IPV6 | TF_NAT | TF_VRF)

/*
 * The record as libfixbuf reads it: fields in spec order, packed, integers
 * and IPv4 addresses in host byte order, IPv6 addresses and MACs as bytes.
 */
struct ipfix_rec {
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

/* Every exported field, once, in wire order; must match struct ipfix_rec. */
static fbInfoElementSpec_t flow_spec[] = {
	{ "flowStartMilliseconds", 8, 0 },
	{ "flowEndMilliseconds", 8, 0 },
	{ "octetDeltaCount", 8, 0 },
	{ "packetDeltaCount", 8, 0 },
	{ "sourceIPv4Address", 4, TF_IPV4 },
	{ "destinationIPv4Address", 4, TF_IPV4 },
	{ "sourceIPv6Address", 16, TF_IPV6 },
	{ "destinationIPv6Address", 16, TF_IPV6 },
	{ "sourceTransportPort", 2, 0 },
	{ "destinationTransportPort", 2, 0 },
	{ "protocolIdentifier", 1, 0 },
	{ "tcpControlBits", 2, 0 }, /* RFC 7125: 16 bits */
	{ "ipClassOfService", 1, 0 },
	{ "icmpTypeCodeIPv4", 2, TF_IPV4 },
	{ "icmpTypeCodeIPv6", 2, TF_IPV6 },
	{ "ingressInterface", 4, 0 },
	{ "egressInterface", 4, 0 },
	{ "flowDirection", 1, 0 },
	{ "sourceMacAddress", 6, 0 },
	{ "destinationMacAddress", 6, 0 },
	{ "vlanId", 2, 0 },
	{ "flowEndReason", 1, 0 },
	{ "postNATSourceIPv4Address", 4, TF_IPV4 | TF_NAT },
	{ "postNATDestinationIPv4Address", 4, TF_IPV4 | TF_NAT },
	{ "postNATSourceIPv6Address", 16, TF_IPV6 | TF_NAT },
	{ "postNATDestinationIPv6Address", 16, TF_IPV6 | TF_NAT },
	{ "postNAPTSourceTransportPort", 2, TF_NAT },
	{ "postNAPTDestinationTransportPort", 2, TF_NAT },
	{ "ingressVRFID", 4, TF_NAT | TF_VRF },
	{ "xlatZoneId", 2, TF_NAT },
	{ "xlatObservationPoint", 1, TF_NAT },
	{ "xlatType", 1, TF_NAT },
	{ "xlatPreSourceIPv4Address", 4, TF_IPV4 | TF_NAT },
	{ "xlatPreDestinationIPv4Address", 4, TF_IPV4 | TF_NAT },
	{ "xlatPostSourceIPv4Address", 4, TF_IPV4 | TF_NAT },
	{ "xlatPostDestinationIPv4Address", 4, TF_IPV4 | TF_NAT },
	{ "xlatPreSourceIPv6Address", 16, TF_IPV6 | TF_NAT },
	{ "xlatPreDestinationIPv6Address", 16, TF_IPV6 | TF_NAT },
	{ "xlatPostSourceIPv6Address", 16, TF_IPV6 | TF_NAT },
	{ "xlatPostDestinationIPv6Address", 16, TF_IPV6 | TF_NAT },
	{ "xlatPreSourceTransportPort", 2, TF_NAT },
	{ "xlatPreDestinationTransportPort", 2, TF_NAT },
	{ "xlatPostSourceTransportPort", 2, TF_NAT },
	{ "xlatPostDestinationTransportPort", 2, TF_NAT },
	FB_IESPEC_NULL,
};

/*
 * Options records (RFC 7011 4.3): scope fields first. Each spec array is
 * the layout of its struct, packed, integers in host byte order.
 */
struct exporter_rec {
	uint32_t odid;
	uint64_t messages;
	uint64_t records;
	uint64_t octets;
	uint64_t not_sent_records;
	uint64_t not_sent_packets;
	uint64_t not_sent_octets;
	uint64_t system_init_ms;
} __attribute__((packed));

static fbInfoElementSpec_t exporter_spec[] = {
	{ "observationDomainId", 4, 0 }, /* scope */
	{ "exportedMessageTotalCount", 8, 0 },	{ "exportedFlowRecordTotalCount", 8, 0 },
	{ "exportedOctetTotalCount", 8, 0 },	{ "notSentFlowTotalCount", 8, 0 },
	{ "notSentPacketTotalCount", 8, 0 },	{ "notSentOctetTotalCount", 8, 0 },
	{ "systemInitTimeMilliseconds", 8, 0 }, FB_IESPEC_NULL,
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
	uint64_t system_init_ms;
} __attribute__((packed));

static fbInfoElementSpec_t metering_spec[] = {
	{ "observationDomainId", 4, 0 }, /* scope */
	{ "ignoredPacketTotalCount", 8, 0 },
	{ "droppedPacketTotalCount", 8, 0 },
	{ "droppedOctetTotalCount", 8, 0 },
	{ "xlatNonIpPacketTotalCount", 8, 0 },
	{ "xlatMalformedPacketTotalCount", 8, 0 },
	{ "xlatSampledOutPacketTotalCount", 8, 0 },
	{ "xlatMapFullPacketTotalCount", 8, 0 },
	{ "xlatLostPacketTotalCount", 8, 0 },
	{ "xlatLostTranslationTotalCount", 8, 0 },
	{ "xlatUnsupportedTranslationTotalCount", 8, 0 },
	{ "xlatCacheEvictedFlowTotalCount", 8, 0 },
	{ "xlatEvictedTranslationTotalCount", 8, 0 },
	{ "systemInitTimeMilliseconds", 8, 0 },
	FB_IESPEC_NULL,
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

static fbInfoElementSpec_t sampling_spec[] = {
	{ "observationDomainId", 4, 0 }, /* scope */
	{ "samplingInterval", 4, 0 },
	{ "samplingAlgorithm", 1, 0 },
	FB_IESPEC_NULL,
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

static fbInfoElementSpec_t selector_spec[] = {
	{ "observationDomainId", 4, 0 }, /* scope */
	{ "selectorId", 8, 0 },
	{ "selectorAlgorithm", 2, 0 },
	{ "samplingPacketInterval", 4, 0 },
	{ "samplingPacketSpace", 4, 0 },
	{ "samplingProbability", 8, 0 },
	{ "selectorIdTotalPktsObserved", 8, 0 },
	{ "selectorIdTotalPktsSelected", 8, 0 },
	FB_IESPEC_NULL,
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
static fbInfoElementSpec_t interface_spec[] = {
	{ "ingressInterface", 4, 0 }, /* scope */
	{ "interfaceName", IPFIX_IFNAME_LEN, 0 },
	{ "interfaceDescription", IPFIX_IFDESCR_LEN, 0 },
	FB_IESPEC_NULL,
};

/*
 * Every external template: id, spec array, variant bits, scope fields and
 * the size of the spec array's struct (the internal record).
 */
static const struct template_def {
	uint16_t tid;
	fbInfoElementSpec_t *spec;
	uint32_t flags;
	uint16_t scope_count;
	uint16_t rec_len;
	const char *name;
} templates[] = {
	{ IPFIX_TID_IPV4, flow_spec, TF_IPV4, 0, sizeof(struct ipfix_rec), "xlatflow IPv4" },
	{ IPFIX_TID_IPV6, flow_spec, TF_IPV6, 0, sizeof(struct ipfix_rec), "xlatflow IPv6" },
	{ IPFIX_TID_IPV4_NAT, flow_spec, TF_IPV4 | TF_NAT, 0, sizeof(struct ipfix_rec),
	  "xlatflow IPv4 NAT" },
	{ IPFIX_TID_IPV6_NAT, flow_spec, TF_IPV6 | TF_NAT, 0, sizeof(struct ipfix_rec),
	  "xlatflow IPv6 NAT" },
	{ IPFIX_TID_EXPORTER, exporter_spec, 0, 1, sizeof(struct exporter_rec),
	  "exporting process statistics" },
	{ IPFIX_TID_METERING, metering_spec, 0, 1, sizeof(struct metering_rec),
	  "metering process statistics" },
	{ IPFIX_TID_SAMPLING, sampling_spec, 0, 1, sizeof(struct sampling_rec), "sampling" },
	{ IPFIX_TID_SELECTOR, selector_spec, 0, 1, sizeof(struct selector_rec), "PSAMP selector" },
	{ IPFIX_TID_INTERFACE, interface_spec, 0, 1, sizeof(struct interface_rec),
	  "interface table" },
};

#define N_TEMPLATES (sizeof(templates) / sizeof(templates[0]))
#define N_FLOW_TEMPLATES 4
_Static_assert(IPFIX_TID_IPV6 == IPFIX_TID_IPV4 + 1 && IPFIX_TID_IPV4_NAT == IPFIX_TID_IPV4 + 2 &&
		       IPFIX_TID_IPV6_NAT == IPFIX_TID_IPV4 + 3,
	       "flow templates are templates[0..3], in tid order");

_Static_assert(sizeof(struct ipfix_rec) <= IPFIX_RECORD_MAX, "flow record too large");
_Static_assert(sizeof(struct metering_rec) <= IPFIX_RECORD_MAX, "metering record too large");

static const struct template_def *template_def_find(uint16_t tid)
{
	for (size_t i = 0; i < N_TEMPLATES; i++)
		if (templates[i].tid == tid)
			return &templates[i];
	return NULL;
}

/* Variant bits the template is built with for these params. */
static uint32_t template_flags(const struct template_def *def, bool zone_as_vrf)
{
	uint32_t flags = def->flags;

	if (zone_as_vrf && (flags & TF_NAT))
		flags |= TF_VRF;
	return flags;
}

struct ipfix_encoder {
	fbInfoModel_t *model;
	fbSession_t *session; /* owned by fbuf once fbuf exists */
	fBuf_t *fbuf;
	fbExporter_t *exporter; /* owned by fbuf */
	uint8_t *buf;		/* libfixbuf's message */
	uint16_t buf_len;	/* the message limit, for both buffers */
	uint16_t type_tid;	/* RFC 5610 options template */
	uint32_t pen;
	uint32_t odid;
	bool zone_as_vrf;
	ipfix_emit_fn emit;
	void *ctx;
	bool has_content;    /* libfixbuf's message holds something */
	uint32_t fb_records; /* type records in it */
	uint32_t sequence;   /* data records sent before the next message */
	/*
	 * The data message (flow and options records): header, then one set
	 * per run of a template.
	 */
	struct ipfix_wire wire[N_TEMPLATES]; /* templates[i] compiled */
	struct ipfix_sets data;		     /* .len 0: no message open */
	uint32_t records;		     /* flow records in the open message */
	uint32_t d_records;		     /* data records of any template in it */
};

static void set_err(char *err, size_t err_len, const char *what, GError *gerr)
{
	if (err && err_len)
		snprintf(err, err_len, "%s: %s", what, gerr ? gerr->message : "failed");
	g_clear_error(&gerr);
}

uint16_t ipfix_template_for(const struct flow_record *rec)
{
	if (rec->key.family == XF_FAMILY_IPV4)
		return rec->has_xlat ? IPFIX_TID_IPV4_NAT : IPFIX_TID_IPV4;
	if (rec->key.family == XF_FAMILY_IPV6)
		return rec->has_xlat ? IPFIX_TID_IPV6_NAT : IPFIX_TID_IPV6;
	return 0;
}

static fbTemplate_t *template_build(fbInfoModel_t *model, fbInfoElementSpec_t *spec, uint32_t flags,
				    uint16_t scope_count, GError **gerr)
{
	fbTemplate_t *tmpl = fbTemplateAlloc(model);

	if (!fbTemplateAppendSpecArray(tmpl, spec, flags, gerr)) {
		fbTemplateFreeUnused(tmpl);
		return NULL;
	}
	if (scope_count)
		fbTemplateSetOptionsScope(tmpl, scope_count);
	return tmpl;
}

/*
 * Records are written from the struct of their spec array at the offsets
 * ipfix_describe_templates() adds up: the whole array (every variant) must
 * be exactly the struct.
 */
static bool layout_check(fbInfoModel_t *model, const struct template_def *def, char *err,
			 size_t err_len)
{
	GError *gerr = NULL;
	fbTemplate_t *tmpl = template_build(model, def->spec, TF_ALL, def->scope_count, &gerr);
	uint16_t len;

	if (!tmpl) {
		set_err(err, err_len, def->name, gerr);
		return false;
	}
	len = fbTemplateGetIELenOfMemBuffer(tmpl);
	fbTemplateFreeUnused(tmpl);
	if (len != def->rec_len) {
		snprintf(err, err_len, "%s: spec array is %u bytes, its struct %u", def->name, len,
			 def->rec_len);
		return false;
	}
	return true;
}

static int describe_templates(fbInfoModel_t *model, const struct ipfix_params *params,
			      bool netflow9, struct ipfix_template_desc *out, int max);

/*
 * The record writer of templates[index] (external template tmpl), from the
 * same description the NetFlow v9 encoder uses; its record must be exactly
 * as long as libfixbuf's template says.
 */
static bool wire_compile(struct ipfix_encoder *enc, const struct ipfix_template_desc *d,
			 size_t index, fbTemplate_t *tmpl, char *err, size_t err_len)
{
	struct ipfix_wire *w = &enc->wire[index];
	bool ok = d->tid == templates[index].tid && ipfix_wire_compile(w, d) == 0 &&
		  w->record_len == fbTemplateGetIELenOfMemBuffer(tmpl);

	if (!ok)
		snprintf(err, err_len, "%s: cannot compile the record writer",
			 templates[index].name);
	return ok;
}

struct ipfix_encoder *ipfix_encoder_new(const struct ipfix_params *params, ipfix_emit_fn emit,
					void *ctx, char *err, size_t err_len)
{
	struct ipfix_template_desc desc[N_TEMPLATES];
	struct ipfix_encoder *enc;
	fbTemplate_t *tmpl;
	GError *gerr = NULL;

	if (params->max_message_len < IPFIX_MIN_MESSAGE_LEN) {
		snprintf(err, err_len, "IPFIX message limit %u is below the minimum %u",
			 params->max_message_len, IPFIX_MIN_MESSAGE_LEN);
		return NULL;
	}

	enc = g_new0(struct ipfix_encoder, 1);
	enc->emit = emit;
	enc->ctx = ctx;
	enc->pen = params->enterprise_number;
	enc->zone_as_vrf = params->zone_as_vrf;
	enc->odid = params->observation_domain_id;
	enc->buf_len = params->max_message_len;
	enc->buf = g_malloc0(enc->buf_len);
	enc->model = fbInfoModelAlloc();
	ie_registry_add_to_model(enc->model, enc->pen);
	enc->session = fbSessionAlloc(enc->model);

	for (size_t i = 0; i < N_TEMPLATES; i++) {
		/* the flow variants share one spec array */
		if (i > 0 && templates[i].spec == templates[i - 1].spec)
			continue;
		if (!layout_check(enc->model, &templates[i], err, err_len))
			goto fail;
	}

	if (describe_templates(enc->model, params, false, desc, (int)N_TEMPLATES) !=
	    (int)N_TEMPLATES) {
		snprintf(err, err_len, "cannot describe the templates");
		goto fail;
	}
	/* External templates live in the observation domain: set it first. */
	fbSessionSetDomain(enc->session, params->observation_domain_id);
	for (size_t i = 0; i < N_TEMPLATES; i++) {
		const struct template_def *def = &templates[i];

		tmpl = template_build(enc->model, def->spec, template_flags(def, enc->zone_as_vrf),
				      def->scope_count, &gerr);
		if (!tmpl || !fbSessionAddTemplate(enc->session, FALSE, def->tid, tmpl, &gerr)) {
			set_err(err, err_len, def->name, gerr);
			goto fail;
		}
		if (fbTemplateCountElements(tmpl) > IPFIX_MAX_FIELDS) {
			snprintf(err, err_len, "%s: more than %d fields", def->name,
				 IPFIX_MAX_FIELDS);
			goto fail;
		}
		if (!wire_compile(enc, &desc[i], i, tmpl, err, err_len))
			goto fail;
	}
	/*
	 * RFC 5610 type records: "enabled" would describe every non-IANA
	 * element of the model (hundreds of CERT ones too), so only the
	 * template is added here and ipfix_encoder_add_templates() writes the
	 * records of our own elements.
	 */
	enc->type_tid =
		fbSessionSetMetadataExportElements(enc->session, FALSE, IPFIX_TID_IE_TYPE, &gerr);
	if (!enc->type_tid) {
		set_err(err, err_len, "RFC 5610 type template", gerr);
		goto fail;
	}

	enc->data = (struct ipfix_sets){ .buf = g_malloc0(enc->buf_len), .set_id = -1, .align = 1 };
	enc->exporter = fbExporterAllocBuffer(enc->buf, enc->buf_len);
	enc->fbuf = fBufAllocForExport(enc->session, enc->exporter);
	fBufSetAutomaticMode(enc->fbuf, FALSE);
	return enc;

fail:
	ipfix_encoder_free(enc);
	return NULL;
}

void ipfix_encoder_free(struct ipfix_encoder *enc)
{
	if (!enc)
		return;
	if (enc->fbuf)
		fBufFree(enc->fbuf); /* frees session and exporter */
	else if (enc->session)
		fbSessionFree(enc->session);
	if (enc->model)
		fbInfoModelFree(enc->model);
	g_free(enc->buf);
	g_free(enc->data.buf);
	g_free(enc);
}

/* libfixbuf's message (templates and type records), if any. */
static int fb_emit(struct ipfix_encoder *enc)
{
	GError *gerr = NULL;
	size_t len;

	if (!enc->has_content)
		return 0;
	if (!fBufEmit(enc->fbuf, &gerr)) {
		g_clear_error(&gerr);
		return -EIO;
	}
	len = fbExporterGetMsgLen(enc->exporter);
	/* our count, which includes the flow records libfixbuf never saw */
	ipfix_put32(enc->buf + 8, enc->sequence);
	enc->sequence += enc->fb_records;
	enc->emit(enc->ctx, enc->buf, len, 0);
	enc->fb_records = 0;
	enc->has_content = false;
	return 0;
}

/* The data message, if one is open: RFC 7011 3.1 header, emit. */
static void data_emit(struct ipfix_encoder *enc)
{
	struct ipfix_sets *m = &enc->data;

	if (!m->len)
		return;
	ipfix_sets_close(m);
	ipfix_put16(m->buf, 10);
	ipfix_put16(m->buf + 2, (uint16_t)m->len);
	ipfix_put32(m->buf + 4, (uint32_t)time(NULL));
	ipfix_put32(m->buf + 8, enc->sequence);
	ipfix_put32(m->buf + 12, enc->odid);
	enc->emit(enc->ctx, m->buf, m->len, enc->records);
	enc->sequence += enc->d_records;
	enc->records = 0;
	enc->d_records = 0;
	m->len = 0;
}

/*
 * Write one data record of templates[index] from its internal record,
 * opening the message and the set as needed and emitting a full message
 * first. libfixbuf's message, if open, goes out before.
 */
static int data_write(struct ipfix_encoder *enc, size_t index, const void *rec)
{
	const struct ipfix_wire *w = &enc->wire[index];
	uint16_t tid = templates[index].tid;
	int rc = fb_emit(enc);

	if (rc)
		return rc;
	if (enc->data.len &&
	    enc->data.len + ipfix_sets_need(&enc->data, tid, w->record_len) > enc->buf_len)
		data_emit(enc);
	if (!enc->data.len)
		enc->data.len = IPFIX_HEADER_LEN;
	ipfix_wire_write(w, rec, ipfix_sets_add(&enc->data, tid, w->record_len));
	enc->d_records++;
	return 0;
}

int ipfix_encoder_flush(struct ipfix_encoder *enc)
{
	data_emit(enc);
	return fb_emit(enc);
}

uint32_t ipfix_encoder_pending(const struct ipfix_encoder *enc)
{
	return enc->records;
}

/*
 * One write into libfixbuf's message. libfixbuf answers FB_ERROR_EOM when
 * the write does not fit, and also once when switching between template and
 * data sets (it keeps templates and data in separate messages): emit what
 * the message holds and write again. EOM on an empty message means the
 * write can never fit. An open flow record message goes out first.
 */
enum write_kind { WRITE_TEMPLATE, WRITE_TYPE_RECORD };

static int encoder_write(struct ipfix_encoder *enc, enum write_kind kind, uint16_t tid,
			 const void *arg)
{
	data_emit(enc);
	for (int attempt = 0; attempt < 3; attempt++) {
		GError *gerr = NULL;
		gboolean ok;
		int rc;

		switch (kind) {
		case WRITE_TEMPLATE: ok = fbSessionExportTemplate(enc->session, tid, &gerr); break;
		default:
			ok = fbInfoElementWriteOptionsRecord(enc->fbuf, arg, enc->type_tid,
							     enc->type_tid, &gerr);
			break;
		}
		if (ok) {
			enc->has_content = true;
			if (kind == WRITE_TYPE_RECORD)
				enc->fb_records++;
			return 0;
		}
		if (!g_error_matches(gerr, FB_ERROR_DOMAIN, FB_ERROR_EOM)) {
			g_clear_error(&gerr);
			return -EIO;
		}
		g_clear_error(&gerr);
		rc = fb_emit(enc);
		if (rc)
			return rc;
	}
	return -EMSGSIZE;
}

int ipfix_encoder_add_templates(struct ipfix_encoder *enc)
{
	int rc = 0;

	/* Type records first, so a collector can name our elements in the templates. */
	rc = encoder_write(enc, WRITE_TEMPLATE, enc->type_tid, NULL);
	for (int i = 0; !rc && i < IE_REGISTRY_COUNT; i++) {
		const fbInfoElement_t *ie = fbInfoModelGetElementByID(
			enc->model, ie_registry_elements[i].num, enc->pen);

		rc = encoder_write(enc, WRITE_TYPE_RECORD, 0, ie);
	}
	/*
	 * Flow and options templates alternate so that every options
	 * template opens a set of its own: nfacctd (pmacct 1.7.7) loses its
	 * place after the first options template of a set (the 6-byte record
	 * header leaves the next one off a 4-byte boundary) and drops the rest.
	 */
	for (size_t i = 0; !rc && i < N_TEMPLATES - N_FLOW_TEMPLATES; i++) {
		rc = encoder_write(enc, WRITE_TEMPLATE, templates[N_FLOW_TEMPLATES + i].tid, NULL);
		if (!rc && i < N_FLOW_TEMPLATES)
			rc = encoder_write(enc, WRITE_TEMPLATE, templates[i].tid, NULL);
	}
	_Static_assert(N_TEMPLATES - N_FLOW_TEMPLATES >= N_FLOW_TEMPLATES,
		       "every flow template follows an options template");
	return rc;
}

static int write_options_record(struct ipfix_encoder *enc, uint16_t tid,
				const struct ipfix_options *opts, int index)
{
	const struct template_def *def = template_def_find(tid);
	uint8_t rec[IPFIX_RECORD_MAX];
	int rc = ipfix_record_options(rec, tid, opts, enc->odid, index);

	if (rc)
		return rc;
	return data_write(enc, (size_t)(def - templates), rec);
}

int ipfix_encoder_add_options(struct ipfix_encoder *enc, const struct ipfix_options *opts)
{
	int rc;

	rc = write_options_record(enc, IPFIX_TID_EXPORTER, opts, 0);
	if (!rc)
		rc = write_options_record(enc, IPFIX_TID_METERING, opts, 0);
	if (!rc)
		rc = write_options_record(enc, IPFIX_TID_SAMPLING, opts, 0);
	if (!rc)
		rc = write_options_record(enc, IPFIX_TID_SELECTOR, opts, 0);
	for (int i = 0; !rc && i < opts->n_interfaces; i++)
		rc = write_options_record(enc, IPFIX_TID_INTERFACE, opts, i);
	return rc;
}

int ipfix_record_options(uint8_t *buf, uint16_t tid, const struct ipfix_options *opts,
			 uint32_t observation_domain_id, int index)
{
	const struct ipfix_metering *m = &opts->metering;
	uint32_t n = opts->sampling ? opts->sampling : 1;

	switch (tid) {
	case IPFIX_TID_EXPORTER: {
		struct exporter_rec r = {
			.odid = observation_domain_id,
			.messages = opts->exported_messages,
			.records = opts->exported_records,
			.octets = opts->exported_octets,
			.not_sent_records = opts->not_sent_records,
			.not_sent_packets = opts->not_sent_packets,
			.not_sent_octets = opts->not_sent_octets,
			.system_init_ms = opts->system_init_ms,
		};

		memcpy(buf, &r, sizeof(r));
		return 0;
	}
	case IPFIX_TID_METERING: {
		struct metering_rec r = {
			.odid = observation_domain_id,
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
			.system_init_ms = opts->system_init_ms,
		};

		memcpy(buf, &r, sizeof(r));
		return 0;
	}
	case IPFIX_TID_SAMPLING: {
		struct sampling_rec r = {
			.odid = observation_domain_id,
			.sampling_interval = n,
			.sampling_algorithm = n > 1 ? NF9_SAMPLING_RANDOM
						    : NF9_SAMPLING_DETERMINISTIC,
		};

		memcpy(buf, &r, sizeof(r));
		return 0;
	}
	case IPFIX_TID_SELECTOR: {
		struct selector_rec r = {
			.odid = observation_domain_id,
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

		memcpy(buf, &r, sizeof(r));
		return 0;
	}
	case IPFIX_TID_INTERFACE: {
		struct interface_rec r;

		if (index < 0 || index >= opts->n_interfaces)
			return -EINVAL;
		memset(&r, 0, sizeof(r));
		r.ifindex = opts->interfaces[index].ifindex;
		memcpy(r.name, opts->interfaces[index].name, IPFIX_IFNAME_LEN);
		memcpy(r.description, opts->interfaces[index].description, IPFIX_IFDESCR_LEN);
		memcpy(buf, &r, sizeof(r));
		return 0;
	}
	}
	return -EINVAL;
}

/* ipfix_describe_templates() with a model that already holds our elements. */
static int describe_templates(fbInfoModel_t *model, const struct ipfix_params *params,
			      bool netflow9, struct ipfix_template_desc *out, int max)
{
	int n = 0;

	for (size_t i = 0; i < N_TEMPLATES && n < max; i++) {
		const struct template_def *def = &templates[i];
		struct ipfix_template_desc *d = &out[n];
		uint32_t flags = template_flags(def, netflow9 || params->zone_as_vrf);
		uint16_t offset = 0;

		memset(d, 0, sizeof(*d));
		d->tid = def->tid;
		/* the same selection rule as fbTemplateAppendSpecArray */
		for (const fbInfoElementSpec_t *sp = def->spec; sp->name;
		     offset += sp->len_override, sp++) {
			const fbInfoElement_t *ie;
			int index = sp - def->spec;

			if ((sp->flags & flags) != sp->flags)
				continue;
			ie = fbInfoModelGetElementByName(model, sp->name);
			if (!ie || d->n_fields >= IPFIX_MAX_FIELDS)
				return -EINVAL;
			if (netflow9 && ie->ent)
				continue;
			d->fields[d->n_fields] = (struct ipfix_field){
				.id = ie->num,
				.pen = ie->ent,
				.len = sp->len_override,
				.offset = offset,
				.integer = (ie->flags & FB_IE_F_ENDIAN) != 0,
			};
			d->n_fields++;
			d->record_len += sp->len_override;
			if (index < def->scope_count)
				d->scope_count++;
		}
		n++;
	}
	return n;
}

int ipfix_describe_templates(const struct ipfix_params *params, bool netflow9,
			     struct ipfix_template_desc *out, int max)
{
	fbInfoModel_t *model = fbInfoModelAlloc();
	int n;

	ie_registry_add_to_model(model, params->enterprise_number);
	n = describe_templates(model, params, netflow9, out, max);
	fbInfoModelFree(model);
	return n;
}

static uint32_t ip4_host(const uint8_t *addr)
{
	uint32_t v;

	memcpy(&v, addr, 4);
	return ntohl(v);
}

static void record_fill(struct ipfix_rec *r, const struct flow_record *rec, bool zone_as_vrf)
{
	const struct xf_flow_key *k = &rec->key;
	bool v4 = k->family == XF_FAMILY_IPV4;
	bool icmp = (v4 && k->proto == IPPROTO_ICMP) || (!v4 && k->proto == IPPROTO_ICMPV6);

	memset(r, 0, sizeof(*r));
	r->flow_start_ms = rec->start_ms;
	r->flow_end_ms = rec->end_ms;
	r->octets = rec->octets;
	r->packets = rec->packets;
	if (v4) {
		r->src_ip4 = ip4_host(k->src_addr);
		r->dst_ip4 = ip4_host(k->dst_addr);
	} else {
		memcpy(r->src_ip6, k->src_addr, 16);
		memcpy(r->dst_ip6, k->dst_addr, 16);
	}
	/* ICMP keeps type/code in dst_port (see xlatflow_shared.h); ports are 0. */
	if (icmp) {
		if (v4)
			r->icmp_type_code4 = k->dst_port;
		else
			r->icmp_type_code6 = k->dst_port;
	} else {
		r->src_port = k->src_port;
		r->dst_port = k->dst_port;
	}
	r->proto = k->proto;
	r->tcp_flags = rec->tcp_flags;
	r->tos = rec->tos;
	if (k->direction == XF_DIR_EGRESS)
		r->egress_if = k->ifindex;
	else
		r->ingress_if = k->ifindex;
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

uint16_t ipfix_record_flow(uint8_t *buf, const struct flow_record *rec, bool zone_as_vrf)
{
	struct ipfix_rec r;
	uint16_t tid = ipfix_template_for(rec);

	if (!tid)
		return 0;
	record_fill(&r, rec, zone_as_vrf);
	memcpy(buf, &r, sizeof(r));
	return tid;
}

int ipfix_encoder_add(struct ipfix_encoder *enc, const struct flow_record *rec)
{
	struct ipfix_rec r;
	uint16_t tid = ipfix_template_for(rec);
	int rc;

	if (!tid)
		return -EINVAL;
	record_fill(&r, rec, enc->zone_as_vrf);
	rc = data_write(enc, tid - IPFIX_TID_IPV4, &r);
	if (!rc)
		enc->records++;
	return rc;
}
