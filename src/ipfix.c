// SPDX-License-Identifier: GPL-2.0-only
/*
 * IPFIX encoding with libfixbuf. Templates are data: one spec array lists
 * every field once with flag bits saying which template variants carry it;
 * the internal template is the whole array (the layout of struct ipfix_rec),
 * each external template picks its variant with fbTemplateAppendSpecArray.
 *
 * libfixbuf writes into a memory buffer exporter sized to the collector's
 * message limit and runs in manual mode: an append that does not fit fails
 * with FB_ERROR_EOM, we emit the message and append again to a fresh one,
 * so no record is ever split and no message exceeds the limit.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include <fixbuf/public.h>

#include "ie_registry.h"
#include "ipfix.h"

/* Template variant bits used in the spec flags. */
#define TF_IPV4 0x01
#define TF_IPV6 0x02
#define TF_NAT 0x04
#define TF_VRF 0x08 /* ingressVRFID = zone id (zone_as_vrf) */
#define TF_ALL (TF_IPV4 | TF_IPV6 | TF_NAT | TF_VRF)

/* Internal template id (internal ids are a namespace of their own). */
#define TID_INTERNAL 0x7f00

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

/* The external templates: id and the variant bits they are built with. */
static const struct {
	uint16_t tid;
	uint32_t flags;
	const char *name;
} variants[] = {
	{ IPFIX_TID_IPV4, TF_IPV4, "xlatflow IPv4" },
	{ IPFIX_TID_IPV6, TF_IPV6, "xlatflow IPv6" },
	{ IPFIX_TID_IPV4_NAT, TF_IPV4 | TF_NAT, "xlatflow IPv4 NAT" },
	{ IPFIX_TID_IPV6_NAT, TF_IPV6 | TF_NAT, "xlatflow IPv6 NAT" },
};

struct ipfix_encoder {
	fbInfoModel_t *model;
	fbSession_t *session; /* owned by fbuf once fbuf exists */
	fBuf_t *fbuf;
	fbExporter_t *exporter; /* owned by fbuf */
	uint8_t *buf;
	uint16_t buf_len;
	uint16_t type_tid; /* RFC 5610 options template */
	uint32_t pen;
	bool zone_as_vrf;
	ipfix_emit_fn emit;
	void *ctx;
	uint32_t records; /* data records in the open message */
	bool has_content; /* the open message holds something */
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

static fbTemplate_t *template_build(fbInfoModel_t *model, uint32_t flags, GError **gerr)
{
	fbTemplate_t *tmpl = fbTemplateAlloc(model);

	if (!fbTemplateAppendSpecArray(tmpl, flow_spec, flags, gerr)) {
		fbTemplateFreeUnused(tmpl);
		return NULL;
	}
	return tmpl;
}

struct ipfix_encoder *ipfix_encoder_new(const struct ipfix_params *params, ipfix_emit_fn emit,
					void *ctx, char *err, size_t err_len)
{
	struct ipfix_encoder *enc;
	fbTemplate_t *tmpl;
	GError *gerr = NULL;
	uint16_t len;

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
	enc->buf_len = params->max_message_len;
	enc->buf = g_malloc0(enc->buf_len);
	enc->model = fbInfoModelAlloc();
	ie_registry_add_to_model(enc->model, enc->pen);
	enc->session = fbSessionAlloc(enc->model);

	tmpl = template_build(enc->model, TF_ALL, &gerr);
	if (!tmpl) {
		set_err(err, err_len, "internal template", gerr);
		goto fail;
	}
	len = fbTemplateGetIELenOfMemBuffer(tmpl);
	if (len != sizeof(struct ipfix_rec)) {
		fbTemplateFreeUnused(tmpl);
		snprintf(err, err_len, "internal template is %u bytes, struct ipfix_rec %zu", len,
			 sizeof(struct ipfix_rec));
		goto fail;
	}
	if (!fbSessionAddTemplate(enc->session, TRUE, TID_INTERNAL, tmpl, &gerr)) {
		set_err(err, err_len, "internal template", gerr);
		goto fail;
	}

	/* External templates live in the observation domain: set it first. */
	fbSessionSetDomain(enc->session, params->observation_domain_id);
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		uint32_t flags = variants[i].flags;

		if (enc->zone_as_vrf && (flags & TF_NAT))
			flags |= TF_VRF;
		tmpl = template_build(enc->model, flags, &gerr);
		if (!tmpl || !fbSessionAddTemplate(enc->session, FALSE, variants[i].tid, tmpl, &gerr)) {
			set_err(err, err_len, variants[i].name, gerr);
			goto fail;
		}
	}
	/*
	 * RFC 5610 type records: "enabled" would describe every non-IANA
	 * element of the model (hundreds of CERT ones too), so only the
	 * template is added here and ipfix_encoder_add_templates() writes the
	 * records of our own elements.
	 */
	enc->type_tid = fbSessionSetMetadataExportElements(enc->session, FALSE, IPFIX_TID_IE_TYPE,
							   &gerr);
	if (!enc->type_tid) {
		set_err(err, err_len, "RFC 5610 type template", gerr);
		goto fail;
	}

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
	g_free(enc);
}

static int encoder_emit(struct ipfix_encoder *enc)
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
	enc->emit(enc->ctx, enc->buf, len, enc->records);
	enc->records = 0;
	enc->has_content = false;
	return 0;
}

int ipfix_encoder_flush(struct ipfix_encoder *enc)
{
	return encoder_emit(enc);
}

uint32_t ipfix_encoder_pending(const struct ipfix_encoder *enc)
{
	return enc->records;
}

/*
 * One write into the open message. libfixbuf answers FB_ERROR_EOM when the
 * write does not fit, and also once when switching between template and
 * data sets (it keeps templates and data in separate messages): emit what
 * the message holds and write again. EOM on an empty message means the
 * write can never fit.
 */
enum write_kind { WRITE_TEMPLATE, WRITE_TYPE_RECORD, WRITE_DATA };

static int encoder_write(struct ipfix_encoder *enc, enum write_kind kind, uint16_t tid,
			 const void *arg)
{
	for (int attempt = 0; attempt < 3; attempt++) {
		GError *gerr = NULL;
		gboolean ok;
		int rc;

		switch (kind) {
		case WRITE_TEMPLATE:
			ok = fbSessionExportTemplate(enc->session, tid, &gerr);
			break;
		case WRITE_TYPE_RECORD:
			ok = fbInfoElementWriteOptionsRecord(enc->fbuf, arg, enc->type_tid,
							     enc->type_tid, &gerr);
			break;
		default:
			ok = fBufSetInternalTemplate(enc->fbuf, TID_INTERNAL, &gerr) &&
			     fBufSetExportTemplate(enc->fbuf, tid, &gerr) &&
			     fBufAppend(enc->fbuf, (uint8_t *)arg, sizeof(struct ipfix_rec), &gerr);
			break;
		}
		if (ok) {
			enc->has_content = true;
			if (kind == WRITE_DATA)
				enc->records++;
			return 0;
		}
		if (!g_error_matches(gerr, FB_ERROR_DOMAIN, FB_ERROR_EOM)) {
			g_clear_error(&gerr);
			return -EIO;
		}
		g_clear_error(&gerr);
		rc = encoder_emit(enc);
		if (rc)
			return rc;
	}
	return -EMSGSIZE;
}

int ipfix_encoder_add_templates(struct ipfix_encoder *enc)
{
	int rc = 0;

	if (enc->records)
		rc = encoder_emit(enc);
	if (rc)
		return rc;
	/* Type records first, so a collector can name our elements in the templates. */
	rc = encoder_write(enc, WRITE_TEMPLATE, enc->type_tid, NULL);
	for (int i = 0; !rc && i < IE_REGISTRY_COUNT; i++) {
		const fbInfoElement_t *ie = fbInfoModelGetElementByID(
			enc->model, ie_registry_elements[i].num, enc->pen);

		rc = encoder_write(enc, WRITE_TYPE_RECORD, 0, ie);
	}
	for (size_t i = 0; !rc && i < sizeof(variants) / sizeof(variants[0]); i++)
		rc = encoder_write(enc, WRITE_TEMPLATE, variants[i].tid, NULL);
	return rc;
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

int ipfix_encoder_add(struct ipfix_encoder *enc, const struct flow_record *rec)
{
	struct ipfix_rec r;
	uint16_t tid = ipfix_template_for(rec);

	if (!tid)
		return -EINVAL;
	record_fill(&r, rec, enc->zone_as_vrf);
	return encoder_write(enc, WRITE_DATA, tid, &r);
}
