// SPDX-License-Identifier: GPL-2.0-only
/*
 * src/ipfix.c: encode known flow records, decode the messages back with
 * libfixbuf's collector side (a memory buffer, no socket) using an internal
 * template written here independently of the template tables, and
 * check every field, the template each record used, the message headers,
 * the message size limit, the RFC 5610 type records, the options records
 * (exporting process, metering, sampling, an interface table spanning
 * messages), random records of every template, sequence numbers counted by
 * a small RFC 7011 reader of the test's own, and message limits from 512 to
 * 9000 bytes with flows, options records and templates interleaved. The
 * template descriptions themselves: tests/unit/ipfix_template_test.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <fixbuf/public.h>

#include "ie_registry_fb.h"
#include "ipfix.h"
#include "testutil.h"
#include "emit_capture.h"

#define ODID 4242
#define DEC_TID 999

/* What the test decodes, by element name; layout chosen here, not the encoder's. */
struct dec {
	uint64_t start, end, octets, packets;
	uint8_t src6[16], dst6[16], post_src6[16], post_dst6[16];
	uint8_t x_pre_src6[16], x_pre_dst6[16], x_post_src6[16], x_post_dst6[16];
	uint32_t src4, dst4, ingress, egress, vrf, post_src4, post_dst4;
	uint32_t x_pre_src4, x_pre_dst4, x_post_src4, x_post_dst4;
	uint16_t sport, dport, flags, icmp4, icmp6, vlan, post_sport, post_dport, zone;
	uint16_t x_pre_sport, x_pre_dport, x_post_sport, x_post_dport;
	uint8_t proto, tos, dir, reason, obs, xtype;
	uint8_t smac[6], dmac[6];
} __attribute__((packed));

static fbInfoElementSpec_t dec_spec[] = {
	{ "flowStartMilliseconds", 8, 0 },
	{ "flowEndMilliseconds", 8, 0 },
	{ "octetDeltaCount", 8, 0 },
	{ "packetDeltaCount", 8, 0 },
	{ "sourceIPv6Address", 16, 0 },
	{ "destinationIPv6Address", 16, 0 },
	{ "postNATSourceIPv6Address", 16, 0 },
	{ "postNATDestinationIPv6Address", 16, 0 },
	{ "xlatPreSourceIPv6Address", 16, 0 },
	{ "xlatPreDestinationIPv6Address", 16, 0 },
	{ "xlatPostSourceIPv6Address", 16, 0 },
	{ "xlatPostDestinationIPv6Address", 16, 0 },
	{ "sourceIPv4Address", 4, 0 },
	{ "destinationIPv4Address", 4, 0 },
	{ "ingressInterface", 4, 0 },
	{ "egressInterface", 4, 0 },
	{ "ingressVRFID", 4, 0 },
	{ "postNATSourceIPv4Address", 4, 0 },
	{ "postNATDestinationIPv4Address", 4, 0 },
	{ "xlatPreSourceIPv4Address", 4, 0 },
	{ "xlatPreDestinationIPv4Address", 4, 0 },
	{ "xlatPostSourceIPv4Address", 4, 0 },
	{ "xlatPostDestinationIPv4Address", 4, 0 },
	{ "sourceTransportPort", 2, 0 },
	{ "destinationTransportPort", 2, 0 },
	{ "tcpControlBits", 2, 0 },
	{ "icmpTypeCodeIPv4", 2, 0 },
	{ "icmpTypeCodeIPv6", 2, 0 },
	{ "vlanId", 2, 0 },
	{ "postNAPTSourceTransportPort", 2, 0 },
	{ "postNAPTDestinationTransportPort", 2, 0 },
	{ "xlatZoneId", 2, 0 },
	{ "xlatPreSourceTransportPort", 2, 0 },
	{ "xlatPreDestinationTransportPort", 2, 0 },
	{ "xlatPostSourceTransportPort", 2, 0 },
	{ "xlatPostDestinationTransportPort", 2, 0 },
	{ "protocolIdentifier", 1, 0 },
	{ "ipClassOfService", 1, 0 },
	{ "flowDirection", 1, 0 },
	{ "flowEndReason", 1, 0 },
	{ "xlatObservationPoint", 1, 0 },
	{ "xlatType", 1, 0 },
	{ "sourceMacAddress", 6, 0 },
	{ "destinationMacAddress", 6, 0 },
	FB_IESPEC_NULL,
};

struct decoded {
	struct dec rec;
	uint16_t tid;
	uint32_t n_elements; /* elements in the external template */
};

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return ntohl(v);
}

/*
 * Decode every message in c (checking the message headers on the way) into
 * out; returns the number of data records or -1 on a decode error.
 */
static int decode_all(struct capture *c, uint32_t odid, struct decoded *out, int max)
{
	fbInfoModel_t *model = fbInfoModelAlloc();
	fbSession_t *session;
	fbTemplate_t *tmpl;
	fBuf_t *fbuf;
	GError *gerr = NULL;
	uint32_t expect_seq = 0;
	int n = 0;

	ie_registry_add_to_model(model, IPFIX_DEFAULT_PEN);
	session = fbSessionAlloc(model);
	tmpl = fbTemplateAlloc(model);
	if (!fbTemplateAppendSpecArray(tmpl, dec_spec, 0, &gerr) ||
	    !fbSessionAddTemplate(session, TRUE, DEC_TID, tmpl, &gerr)) {
		fprintf(stderr, "decode template: %s\n", gerr->message);
		abort();
	}
	CHECK_U64(fbTemplateGetIELenOfMemBuffer(tmpl), sizeof(struct dec));
	fbuf = fBufAllocForCollection(session, NULL);
	fBufSetAutomaticMode(fbuf, FALSE);

	for (int m = 0; m < c->n; m++) {
		const uint8_t *h = c->msg[m];
		int in_msg = 0, type_recs = 0;

		/* RFC 7011 header: version, length, export time, sequence, domain */
		CHECK_U64((h[0] << 8) | h[1], 10);
		CHECK_U64((h[2] << 8) | h[3], c->len[m]);
		CHECK_U64(rd32(h + 8), expect_seq);
		CHECK_U64(rd32(h + 12), odid);

		fBufSetBuffer(fbuf, c->msg[m], c->len[m]);
		for (;;) {
			size_t len = sizeof(struct dec);
			uint16_t ext_tid = 0;

			if (!fBufSetInternalTemplate(fbuf, DEC_TID, &gerr))
				abort();
			if (!fBufNext(fbuf, (uint8_t *)&out[n].rec, &len, &gerr)) {
				if (g_error_matches(gerr, FB_ERROR_DOMAIN, FB_ERROR_EOM) ||
				    g_error_matches(gerr, FB_ERROR_DOMAIN, FB_ERROR_BUFSZ)) {
					g_clear_error(&gerr);
					break;
				}
				fprintf(stderr, "fBufNext: %s\n", gerr->message);
				g_clear_error(&gerr);
				n = -1;
				goto out;
			}
			tmpl = fBufGetCollectionTemplate(fbuf, &ext_tid);
			/* RFC 5610 records count in the sequence number, not as flows */
			if (ext_tid == IPFIX_TID_IE_TYPE) {
				type_recs++;
				continue;
			}
			out[n].tid = ext_tid;
			out[n].n_elements = fbTemplateCountElements(tmpl);
			in_msg++;
			if (++n >= max)
				goto out;
		}
		CHECK_U64(in_msg, c->records[m]);
		CHECK(type_recs == 0 || in_msg == 0); /* never mixed with flows */
		expect_seq += in_msg + type_recs;
	}
out:
	fBufFree(fbuf);
	fbInfoModelFree(model);
	return n;
}

static struct ipfix_encoder *enc_new(struct capture *c, bool vrf, uint16_t max_len)
{
	struct ipfix_params p = {
		.observation_domain_id = ODID,
		.enterprise_number = IPFIX_DEFAULT_PEN,
		.zone_as_vrf = vrf,
		.max_message_len = max_len,
	};
	char err[256] = "";
	struct ipfix_encoder *enc = ipfix_encoder_new(&p, capture_emit, c, err, sizeof(err));

	if (!enc) {
		fprintf(stderr, "ipfix_encoder_new: %s\n", err);
		abort();
	}
	return enc;
}

static void ip4(uint8_t *dst, const char *text)
{
	memset(dst, 0, 16);
	if (inet_pton(AF_INET, text, dst) != 1)
		abort();
}

static void ip6(uint8_t *dst, const char *text)
{
	if (inet_pton(AF_INET6, text, dst) != 1)
		abort();
}

static uint32_t ip4_host(const char *text)
{
	struct in_addr a;

	inet_pton(AF_INET, text, &a);
	return ntohl(a.s_addr);
}

static void base_record(struct flow_record *r, int family, uint8_t proto)
{
	static const uint8_t smac[6] = { 0x02, 0x00, 0x5e, 0x10, 0x20, 0x30 };
	static const uint8_t dmac[6] = { 0x02, 0x00, 0x5e, 0xa0, 0xb0, 0xc0 };

	memset(r, 0, sizeof(*r));
	r->key.family = family;
	r->key.proto = proto;
	if (family == XF_FAMILY_IPV4) {
		ip4(r->key.src_addr, "198.18.0.1");
		ip4(r->key.dst_addr, "198.19.255.254");
	} else {
		ip6(r->key.src_addr, "2001:db8::1");
		ip6(r->key.dst_addr, "2001:db8:ffff::abcd");
	}
	r->key.src_port = 40000;
	r->key.dst_port = 443;
	r->key.ifindex = 7;
	r->key.direction = XF_DIR_INGRESS;
	r->key.vlan_id = 100;
	r->packets = 12345678901ULL;
	r->octets = 9876543210123ULL;
	r->start_ms = 1764140000123ULL;
	r->end_ms = 1764140059999ULL;
	memcpy(r->src_mac, smac, 6);
	memcpy(r->dst_mac, dmac, 6);
	r->tcp_flags = 0x01d2; /* NS | ECE | ACK | SYN ... all 9 bits used */
	r->tos = 0xb8;
	r->end_reason = FLOW_END_IDLE;
}

static bool zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* Fields every template carries. */
static void check_common(const struct dec *d, const struct flow_record *r)
{
	CHECK_U64(d->start, r->start_ms);
	CHECK_U64(d->end, r->end_ms);
	CHECK_U64(d->octets, r->octets);
	CHECK_U64(d->packets, r->packets);
	CHECK_U64(d->proto, r->key.proto);
	CHECK_U64(d->flags, r->tcp_flags);
	CHECK_U64(d->tos, r->tos);
	CHECK_U64(d->dir, r->key.direction);
	CHECK_U64(d->ingress, r->key.direction == XF_DIR_INGRESS ? r->key.ifindex : 0);
	CHECK_U64(d->egress, r->key.direction == XF_DIR_EGRESS ? r->key.ifindex : 0);
	CHECK(memcmp(d->smac, r->src_mac, 6) == 0);
	CHECK(memcmp(d->dmac, r->dst_mac, 6) == 0);
	CHECK_U64(d->vlan, r->key.vlan_id);
	CHECK_U64(d->reason, r->end_reason);
}

static void check_no_nat(const struct dec *d)
{
	CHECK_U64(d->post_src4, 0);
	CHECK_U64(d->post_dst4, 0);
	CHECK(zero(d->post_src6, 16) && zero(d->post_dst6, 16));
	CHECK_U64(d->post_sport, 0);
	CHECK_U64(d->post_dport, 0);
	CHECK_U64(d->zone, 0);
	CHECK_U64(d->obs, 0);
	CHECK_U64(d->xtype, 0);
	CHECK_U64(d->vrf, 0);
}

static int encode_decode(struct flow_record *recs, int n, bool vrf, struct decoded *out)
{
	struct capture c = { .n = 0 };
	struct ipfix_encoder *enc = enc_new(&c, vrf, 1472);
	int got;

	CHECK_U64(ipfix_encoder_add_templates(enc), 0);
	for (int i = 0; i < n; i++)
		CHECK_U64(ipfix_encoder_add(enc, &recs[i]), 0);
	CHECK_U64(ipfix_encoder_pending(enc), n);
	CHECK_U64(ipfix_encoder_flush(enc), 0);
	CHECK_U64(ipfix_encoder_pending(enc), 0);
	got = decode_all(&c, ODID, out, 64);
	capture_free(&c);
	ipfix_encoder_free(enc);
	return got;
}

static void test_ipv4(void)
{
	struct flow_record r;
	struct decoded out[4];
	struct dec *d = &out[0].rec;

	base_record(&r, XF_FAMILY_IPV4, IPPROTO_TCP);
	CHECK_U64(ipfix_template_for(&r), IPFIX_TID_IPV4);
	CHECK_U64(encode_decode(&r, 1, true, out), 1);
	CHECK_U64(out[0].tid, IPFIX_TID_IPV4);
	CHECK_U64(out[0].n_elements, 19);
	check_common(d, &r);
	CHECK_U64(d->src4, ip4_host("198.18.0.1"));
	CHECK_U64(d->dst4, ip4_host("198.19.255.254"));
	CHECK(zero(d->src6, 16) && zero(d->dst6, 16));
	CHECK_U64(d->sport, 40000);
	CHECK_U64(d->dport, 443);
	CHECK_U64(d->icmp4, 0);
	CHECK_U64(d->icmp6, 0);
	CHECK_U64(d->ingress, 7);
	CHECK_U64(d->egress, 0);
	check_no_nat(d);
}

static void test_ipv6(void)
{
	struct flow_record r;
	struct decoded out[4];
	struct dec *d = &out[0].rec;
	uint8_t a[16];

	base_record(&r, XF_FAMILY_IPV6, IPPROTO_UDP);
	r.key.direction = XF_DIR_EGRESS;
	r.key.ifindex = 0x01020304;
	r.key.vlan_id = 4094;
	r.end_reason = FLOW_END_ACTIVE;
	CHECK_U64(encode_decode(&r, 1, false, out), 1);
	CHECK_U64(out[0].tid, IPFIX_TID_IPV6);
	CHECK_U64(out[0].n_elements, 19);
	check_common(d, &r);
	ip6(a, "2001:db8::1");
	CHECK(memcmp(d->src6, a, 16) == 0);
	ip6(a, "2001:db8:ffff::abcd");
	CHECK(memcmp(d->dst6, a, 16) == 0);
	CHECK_U64(d->src4, 0);
	CHECK_U64(d->sport, 40000);
	CHECK_U64(d->dport, 443);
	CHECK_U64(d->ingress, 0);
	CHECK_U64(d->egress, 0x01020304);
	CHECK_U64(d->dir, 1);
	check_no_nat(d);
}

static void test_ipv4_nat(bool vrf)
{
	struct flow_record r;
	struct decoded out[4];
	struct dec *d = &out[0].rec;

	base_record(&r, XF_FAMILY_IPV4, IPPROTO_TCP);
	/* client 198.18.0.1:40000 -> service 198.19.255.254:443, DNAT to backend
	 * 198.18.5.5:8443 and SNAT to 198.18.9.9:61000, observed before NAT */
	r.has_xlat = true;
	ip4(r.xlat.pre_src, "198.18.0.1");
	ip4(r.xlat.pre_dst, "198.19.255.254");
	ip4(r.xlat.post_src, "198.18.9.9");
	ip4(r.xlat.post_dst, "198.18.5.5");
	r.xlat.pre_sport = 40000;
	r.xlat.pre_dport = 443;
	r.xlat.post_sport = 61000;
	r.xlat.post_dport = 8443;
	r.xlat.zone_id = 513;
	r.xlat.observed = XLAT_OBSERVED_PRE;
	r.xlat.type = XLAT_TYPE_SNAT | XLAT_TYPE_DNAT;
	r.end_reason = FLOW_END_END_OF_FLOW;
	CHECK_U64(encode_decode(&r, 1, vrf, out), 1);
	CHECK_U64(out[0].tid, IPFIX_TID_IPV4_NAT);
	CHECK_U64(out[0].n_elements, vrf ? 35 : 34);
	check_common(d, &r);
	CHECK_U64(d->src4, ip4_host("198.18.0.1"));
	CHECK_U64(d->dst4, ip4_host("198.19.255.254"));
	CHECK_U64(d->sport, 40000);
	CHECK_U64(d->dport, 443);
	CHECK_U64(d->post_src4, ip4_host("198.18.9.9"));
	CHECK_U64(d->post_dst4, ip4_host("198.18.5.5"));
	CHECK_U64(d->post_sport, 61000);
	CHECK_U64(d->post_dport, 8443);
	CHECK_U64(d->vrf, vrf ? 513 : 0);
	CHECK_U64(d->zone, 513);
	CHECK_U64(d->obs, 1);
	CHECK_U64(d->xtype, 3);
	CHECK_U64(d->x_pre_src4, ip4_host("198.18.0.1"));
	CHECK_U64(d->x_pre_dst4, ip4_host("198.19.255.254"));
	CHECK_U64(d->x_post_src4, ip4_host("198.18.9.9"));
	CHECK_U64(d->x_post_dst4, ip4_host("198.18.5.5"));
	CHECK_U64(d->x_pre_sport, 40000);
	CHECK_U64(d->x_pre_dport, 443);
	CHECK_U64(d->x_post_sport, 61000);
	CHECK_U64(d->x_post_dport, 8443);
	CHECK(zero(d->post_src6, 16) && zero(d->x_pre_src6, 16) && zero(d->x_post_dst6, 16));
}

static void test_ipv4_nat_vrf(void)
{
	test_ipv4_nat(true);
}

static void test_ipv4_nat_novrf(void)
{
	test_ipv4_nat(false);
}

static void test_ipv6_nat(void)
{
	struct flow_record r;
	struct decoded out[4];
	struct dec *d = &out[0].rec;
	uint8_t a[16];

	base_record(&r, XF_FAMILY_IPV6, IPPROTO_UDP);
	/* observed after SNAT: the key is the post-NAT packet */
	r.has_xlat = true;
	ip6(r.xlat.pre_src, "2001:db8:aaaa::10");
	ip6(r.xlat.pre_dst, "2001:db8:ffff::abcd");
	ip6(r.xlat.post_src, "2001:db8::1");
	ip6(r.xlat.post_dst, "2001:db8:ffff::abcd");
	r.xlat.pre_sport = 5353;
	r.xlat.pre_dport = 443;
	r.xlat.post_sport = 40000;
	r.xlat.post_dport = 443;
	r.xlat.zone_id = 0;
	r.xlat.observed = XLAT_OBSERVED_POST;
	r.xlat.type = XLAT_TYPE_SNAT;
	r.end_reason = FLOW_END_FORCED;
	CHECK_U64(encode_decode(&r, 1, false, out), 1);
	CHECK_U64(out[0].tid, IPFIX_TID_IPV6_NAT);
	CHECK_U64(out[0].n_elements, 34);
	check_common(d, &r);
	ip6(a, "2001:db8::1");
	CHECK(memcmp(d->src6, a, 16) == 0);
	CHECK(memcmp(d->post_src6, a, 16) == 0);
	CHECK(memcmp(d->x_post_src6, a, 16) == 0);
	ip6(a, "2001:db8:ffff::abcd");
	CHECK(memcmp(d->post_dst6, a, 16) == 0);
	CHECK(memcmp(d->x_pre_dst6, a, 16) == 0);
	CHECK(memcmp(d->x_post_dst6, a, 16) == 0);
	ip6(a, "2001:db8:aaaa::10");
	CHECK(memcmp(d->x_pre_src6, a, 16) == 0);
	CHECK_U64(d->post_sport, 40000);
	CHECK_U64(d->post_dport, 443);
	CHECK_U64(d->x_pre_sport, 5353);
	CHECK_U64(d->x_pre_dport, 443);
	CHECK_U64(d->x_post_sport, 40000);
	CHECK_U64(d->x_post_dport, 443);
	CHECK_U64(d->zone, 0);
	CHECK_U64(d->obs, 2);
	CHECK_U64(d->xtype, 1);
	CHECK_U64(d->vrf, 0);
	CHECK_U64(d->post_src4, 0);
	CHECK_U64(d->x_pre_src4, 0);
}

static void test_icmp(void)
{
	struct flow_record r[2];
	struct decoded out[4];

	base_record(&r[0], XF_FAMILY_IPV4, IPPROTO_ICMP);
	r[0].key.src_port = 0;
	r[0].key.dst_port = (3 << 8) | 4; /* dest unreachable, frag needed */
	base_record(&r[1], XF_FAMILY_IPV6, IPPROTO_ICMPV6);
	r[1].key.src_port = 0;
	r[1].key.dst_port = (128 << 8) | 0; /* echo request */
	r[1].end_reason = FLOW_END_LACK_OF_RESOURCES;
	CHECK_U64(encode_decode(r, 2, false, out), 2);
	CHECK_U64(out[0].tid, IPFIX_TID_IPV4);
	check_common(&out[0].rec, &r[0]);
	CHECK_U64(out[0].rec.icmp4, 0x0304);
	CHECK_U64(out[0].rec.icmp6, 0);
	CHECK_U64(out[0].rec.sport, 0);
	CHECK_U64(out[0].rec.dport, 0);
	CHECK_U64(out[1].tid, IPFIX_TID_IPV6);
	check_common(&out[1].rec, &r[1]);
	CHECK_U64(out[1].rec.icmp6, 0x8000);
	CHECK_U64(out[1].rec.icmp4, 0);
	CHECK_U64(out[1].rec.sport, 0);
	CHECK_U64(out[1].rec.dport, 0);
}

/* xorshift64*: the same random records on every run. */
static uint64_t rnd(uint64_t *st)
{
	*st ^= *st >> 12;
	*st ^= *st << 25;
	*st ^= *st >> 27;
	return *st * 0x2545f4914f6cdd1dULL;
}

static void rnd_bytes(uint64_t *st, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd(st);
}

static void random_record(struct flow_record *r, uint64_t *st)
{
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, IPPROTO_ICMP,
					  IPPROTO_ICMPV6 };
	bool v4 = rnd(st) & 1;

	memset(r, 0, sizeof(*r));
	r->key.family = v4 ? XF_FAMILY_IPV4 : XF_FAMILY_IPV6;
	r->key.proto = protos[rnd(st) % sizeof(protos)];
	rnd_bytes(st, r->key.src_addr, v4 ? 4 : 16);
	rnd_bytes(st, r->key.dst_addr, v4 ? 4 : 16);
	r->key.src_port = (uint16_t)rnd(st);
	r->key.dst_port = (uint16_t)rnd(st);
	r->key.ifindex = (uint32_t)rnd(st);
	r->key.vlan_id = (uint16_t)(rnd(st) & 0xfff);
	r->key.direction = rnd(st) & 1 ? XF_DIR_EGRESS : XF_DIR_INGRESS;
	r->packets = rnd(st);
	r->octets = rnd(st);
	r->start_ms = rnd(st);
	r->end_ms = rnd(st);
	rnd_bytes(st, r->src_mac, 6);
	rnd_bytes(st, r->dst_mac, 6);
	r->tcp_flags = (uint16_t)rnd(st);
	r->tos = (uint8_t)rnd(st);
	r->end_reason = (uint8_t)(1 + rnd(st) % 5);
	r->has_xlat = rnd(st) % 3 != 0;
	if (!r->has_xlat)
		return;
	rnd_bytes(st, r->xlat.pre_src, v4 ? 4 : 16);
	rnd_bytes(st, r->xlat.pre_dst, v4 ? 4 : 16);
	rnd_bytes(st, r->xlat.post_src, v4 ? 4 : 16);
	rnd_bytes(st, r->xlat.post_dst, v4 ? 4 : 16);
	r->xlat.pre_sport = (uint16_t)rnd(st);
	r->xlat.pre_dport = (uint16_t)rnd(st);
	r->xlat.post_sport = (uint16_t)rnd(st);
	r->xlat.post_dport = (uint16_t)rnd(st);
	r->xlat.zone_id = (uint16_t)rnd(st);
	r->xlat.observed = (uint8_t)(1 + rnd(st) % 2);
	r->xlat.type = (uint8_t)(1 + rnd(st) % 3);
}

static uint32_t be32_at(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return ntohl(v);
}

/* Every field of a decoded record against the record it came from. */
static void check_record(const struct decoded *o, const struct flow_record *r, bool vrf)
{
	const struct dec *d = &o->rec;
	bool v4 = r->key.family == XF_FAMILY_IPV4;
	bool icmp = r->key.proto == (v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6);
	const struct xlat_info *x = &r->xlat;

	CHECK_U64(o->tid, v4 ? (r->has_xlat ? IPFIX_TID_IPV4_NAT : IPFIX_TID_IPV4)
			     : (r->has_xlat ? IPFIX_TID_IPV6_NAT : IPFIX_TID_IPV6));
	check_common(d, r);
	CHECK_U64(d->sport, icmp ? 0 : r->key.src_port);
	CHECK_U64(d->dport, icmp ? 0 : r->key.dst_port);
	CHECK_U64(d->icmp4, icmp && v4 ? r->key.dst_port : 0);
	CHECK_U64(d->icmp6, icmp && !v4 ? r->key.dst_port : 0);
	if (v4) {
		CHECK_U64(d->src4, be32_at(r->key.src_addr));
		CHECK_U64(d->dst4, be32_at(r->key.dst_addr));
		CHECK(zero(d->src6, 16) && zero(d->dst6, 16));
	} else {
		CHECK(memcmp(d->src6, r->key.src_addr, 16) == 0);
		CHECK(memcmp(d->dst6, r->key.dst_addr, 16) == 0);
		CHECK_U64(d->src4, 0);
		CHECK_U64(d->dst4, 0);
	}
	if (!r->has_xlat) {
		check_no_nat(d);
		return;
	}
	if (v4) {
		CHECK_U64(d->post_src4, be32_at(x->post_src));
		CHECK_U64(d->post_dst4, be32_at(x->post_dst));
		CHECK_U64(d->x_pre_src4, be32_at(x->pre_src));
		CHECK_U64(d->x_pre_dst4, be32_at(x->pre_dst));
		CHECK_U64(d->x_post_src4, be32_at(x->post_src));
		CHECK_U64(d->x_post_dst4, be32_at(x->post_dst));
	} else {
		CHECK(memcmp(d->post_src6, x->post_src, 16) == 0);
		CHECK(memcmp(d->post_dst6, x->post_dst, 16) == 0);
		CHECK(memcmp(d->x_pre_src6, x->pre_src, 16) == 0);
		CHECK(memcmp(d->x_pre_dst6, x->pre_dst, 16) == 0);
		CHECK(memcmp(d->x_post_src6, x->post_src, 16) == 0);
		CHECK(memcmp(d->x_post_dst6, x->post_dst, 16) == 0);
	}
	CHECK_U64(d->post_sport, x->post_sport);
	CHECK_U64(d->post_dport, x->post_dport);
	CHECK_U64(d->x_pre_sport, x->pre_sport);
	CHECK_U64(d->x_pre_dport, x->pre_dport);
	CHECK_U64(d->x_post_sport, x->post_sport);
	CHECK_U64(d->x_post_dport, x->post_dport);
	CHECK_U64(d->zone, x->zone_id);
	CHECK_U64(d->vrf, vrf ? x->zone_id : 0);
	CHECK_U64(d->obs, x->observed);
	CHECK_U64(d->xtype, x->type);
}

/*
 * Random records of all four flow templates, every field random (high bits
 * set, so a byte-order slip shows), decoded by libfixbuf's collector: the
 * encoder writes flow records itself (src/ipfix_wire.c), libfixbuf is the
 * independent reader here.
 */
static void test_random(void)
{
	enum { N = 3000 };
	struct flow_record *r = g_new0(struct flow_record, N);
	struct decoded *out = g_new0(struct decoded, N + 1);
	uint64_t st = 0x9e3779b97f4a7c15ULL;

	for (int vrf = 0; vrf < 2; vrf++) {
		struct capture *c = g_new0(struct capture, 1);
		struct ipfix_encoder *enc = enc_new(c, vrf, 1472);
		int got;

		for (int i = 0; i < N; i++)
			random_record(&r[i], &st);
		CHECK_U64(ipfix_encoder_add_templates(enc), 0);
		for (int i = 0; i < N; i++)
			CHECK_U64(ipfix_encoder_add(enc, &r[i]), 0);
		CHECK_U64(ipfix_encoder_flush(enc), 0);
		got = decode_all(c, ODID, out, N + 1);
		CHECK_U64(got, N);
		for (int i = 0; i < got && i < N; i++)
			check_record(&out[i], &r[i], vrf);
		capture_free(c);
		g_free(c);
		ipfix_encoder_free(enc);
	}
	g_free(r);
	g_free(out);
}

/*
 * An RFC 7011 reader of our own (no libfixbuf): learns field lengths from
 * template sets (variable-length fields included, for the RFC 5610 type
 * records), walks every data set record by record and returns the data
 * records in msg, or -1 when a set or record does not add up.
 */
struct walk_tmpl {
	uint16_t n_fields;
	uint16_t len[IPFIX_MAX_FIELDS + 8];
};

static int walk_message(const uint8_t *msg, size_t len, struct walk_tmpl *tmpls)
{
	size_t off = IPFIX_HEADER_LEN;
	int records = 0;

	while (off < len) {
		uint16_t set_id, set_len;
		size_t end, p;

		if (off + 4 > len)
			return -1;
		set_id = (uint16_t)(msg[off] << 8 | msg[off + 1]);
		set_len = (uint16_t)(msg[off + 2] << 8 | msg[off + 3]);
		end = off + set_len;
		if (set_len < 4 || end > len)
			return -1;
		for (p = off + 4; set_id == 2 || set_id == 3;) {
			/* template (2) or options template (3) records */
			uint16_t tid, n, scope = 0;
			struct walk_tmpl *t;

			if (p + 4 > end)
				break; /* padding */
			tid = (uint16_t)(msg[p] << 8 | msg[p + 1]);
			n = (uint16_t)(msg[p + 2] << 8 | msg[p + 3]);
			p += 4;
			if (set_id == 3) {
				scope = (uint16_t)(msg[p] << 8 | msg[p + 1]);
				p += 2;
			}
			(void)scope;
			if (tid < 256 || tid >= 256 + 16 || n > IPFIX_MAX_FIELDS + 8)
				return -1;
			t = &tmpls[tid - 256];
			t->n_fields = n;
			for (int i = 0; i < n; i++) {
				bool ent = msg[p] & 0x80;

				t->len[i] = (uint16_t)(msg[p + 2] << 8 | msg[p + 3]);
				p += ent ? 8 : 4;
			}
			if (p > end)
				return -1;
		}
		if (set_id >= 256) {
			struct walk_tmpl *t = set_id < 256 + 16 ? &tmpls[set_id - 256] : NULL;

			if (!t || !t->n_fields)
				return -1;
			for (p = off + 4; p < end;) {
				size_t start = p;

				for (int i = 0; i < t->n_fields; i++) {
					size_t l = t->len[i];

					if (l == 65535) {
						l = msg[p++];
						if (l == 255) {
							l = (size_t)(msg[p] << 8 | msg[p + 1]);
							p += 2;
						}
					}
					p += l;
				}
				if (p > end)
					return -1;
				/* fewer bytes left than one record: set padding */
				if (p == start)
					return -1;
				records++;
				if (end - p < 4)
					break;
			}
		}
		off = end;
	}
	return off == len ? records : -1;
}

/*
 * Flows, options records and template refreshes interleaved: every message
 * header's sequence number is the count of data records (flows, options
 * and RFC 5610 type records) in the messages before it, counted by a
 * reader that shares nothing with the encoder.
 */
static void test_sequence_mixed(void)
{
	struct capture *c = g_new0(struct capture, 1);
	struct ipfix_encoder *enc = enc_new(c, false, 600);
	struct walk_tmpl *tmpls = g_new0(struct walk_tmpl, 16);
	struct ipfix_interface ifs[3] = { { .ifindex = 1, .name = "lo" },
					  { .ifindex = 2, .name = "eth0" },
					  { .ifindex = 3, .name = "veth1" } };
	struct ipfix_options opts = { .sampling = 1, .interfaces = ifs, .n_interfaces = 3 };
	struct flow_record r;
	uint64_t st = 42;
	uint32_t seq = 0, flows = 0;

	for (int round = 0; round < 6; round++) {
		if (round % 3 == 0)
			CHECK_U64(ipfix_encoder_add_templates(enc), 0);
		for (int i = 0; i < 25 + round * 7; i++) {
			random_record(&r, &st);
			CHECK_U64(ipfix_encoder_add(enc, &r), 0);
		}
		CHECK_U64(ipfix_encoder_add_options(enc, &opts), 0);
		if (round % 2)
			CHECK_U64(ipfix_encoder_flush(enc), 0);
	}
	CHECK_U64(ipfix_encoder_flush(enc), 0);
	for (int m = 0; m < c->n; m++) {
		const uint8_t *h = c->msg[m];
		int n = walk_message(h, c->len[m], tmpls);

		CHECK(n >= 0);
		CHECK(c->len[m] <= 600);
		CHECK_U64((h[2] << 8) | h[3], c->len[m]);
		CHECK_U64(be32_at(h + 8), seq);
		CHECK_U64(be32_at(h + 12), ODID);
		seq += n > 0 ? n : 0;
		flows += c->records[m];
	}
	CHECK_U64(flows, 6 * 25 + 7 * 15);
	/* flows + 6 rounds x (exporter, metering, sampling, selector, 3 interfaces) + type records */
	CHECK_U64(seq, flows + 6 * 7 + 2 * IE_REGISTRY_COUNT);
	capture_free(c);
	g_free(c);
	g_free(tmpls);
	ipfix_encoder_free(enc);
}

static void test_end_reasons(void)
{
	struct flow_record r[5];
	struct decoded out[8];

	for (int i = 0; i < 5; i++) {
		base_record(&r[i], i % 2 ? XF_FAMILY_IPV6 : XF_FAMILY_IPV4, IPPROTO_TCP);
		r[i].end_reason = FLOW_END_IDLE + i;
		r[i].packets = i + 1;
	}
	CHECK_U64(encode_decode(r, 5, false, out), 5);
	for (int i = 0; i < 5; i++) {
		CHECK_U64(out[i].rec.reason, FLOW_END_IDLE + i);
		CHECK_U64(out[i].rec.packets, i + 1);
		CHECK_U64(out[i].tid, i % 2 ? IPFIX_TID_IPV6 : IPFIX_TID_IPV4);
	}
}

static void test_bad_family(void)
{
	struct capture c = { .n = 0 };
	struct ipfix_encoder *enc = enc_new(&c, false, 1472);
	struct flow_record r;

	base_record(&r, XF_FAMILY_IPV4, IPPROTO_TCP);
	r.key.family = 0;
	CHECK_U64(ipfix_template_for(&r), 0);
	CHECK(ipfix_encoder_add(enc, &r) == -EINVAL);
	CHECK_U64(ipfix_encoder_pending(enc), 0);
	CHECK_U64(ipfix_encoder_flush(enc), 0);
	CHECK_U64(c.n, 0); /* nothing to send: no message */
	ipfix_encoder_free(enc);
}

/* Many records of every kind: no message over the limit, none lost, in order. */
static void test_mtu(uint16_t max_len)
{
	enum { N = 3000 };
	struct capture *c = g_new0(struct capture, 1);
	struct ipfix_encoder *enc = enc_new(c, true, max_len);
	struct decoded *out = g_new0(struct decoded, N + 1);
	struct flow_record r;
	uint32_t sum = 0;
	int got;

	CHECK_U64(ipfix_encoder_add_templates(enc), 0);
	for (int i = 0; i < N; i++) {
		base_record(&r, i % 2 ? XF_FAMILY_IPV6 : XF_FAMILY_IPV4, IPPROTO_UDP);
		r.has_xlat = i % 3 == 0;
		r.xlat.zone_id = i;
		r.packets = i;
		/* templates again now and then, as the UDP refresh does */
		if (i % 1000 == 999)
			CHECK_U64(ipfix_encoder_add_templates(enc), 0);
		CHECK_U64(ipfix_encoder_add(enc, &r), 0);
	}
	CHECK_U64(ipfix_encoder_flush(enc), 0);
	CHECK(c->n > N * 100 / max_len);
	for (int m = 0; m < c->n; m++) {
		CHECK(c->len[m] <= max_len);
		sum += c->records[m];
	}
	CHECK_U64(sum, N);
	got = decode_all(c, ODID, out, N + 1);
	CHECK_U64(got, N);
	for (int i = 0; i < got && i < N; i++) {
		CHECK_U64(out[i].rec.packets, i);
		CHECK_U64(out[i].rec.zone, i % 3 == 0 ? (uint16_t)i : 0);
		CHECK_U64(out[i].rec.vrf, i % 3 == 0 ? (uint16_t)i : 0);
	}
	capture_free(c);
	ipfix_encoder_free(enc);
	g_free(out);
	g_free(c);
}

static void test_mtu_1472(void)
{
	test_mtu(1472);
}

static void test_mtu_512(void)
{
	test_mtu(IPFIX_MIN_MESSAGE_LEN);
}

static void test_mtu_too_small(void)
{
	struct ipfix_params p = { .enterprise_number = IPFIX_DEFAULT_PEN, .max_message_len = 200 };
	char err[256] = "";

	CHECK(ipfix_encoder_new(&p, capture_emit, NULL, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "below the minimum") != NULL);
}

/*
 * A collector that knows nothing of our elements learns them from the
 * RFC 5610 type records (fBufSetAutomaticInsert) with the configured PEN.
 */
static void test_rfc5610(void)
{
	struct capture c = { .n = 0 };
	struct ipfix_params p = {
		.observation_domain_id = 1,
		.enterprise_number = 99999,
		.max_message_len = 1400,
	};
	char err[256] = "";
	struct ipfix_encoder *enc = ipfix_encoder_new(&p, capture_emit, &c, err, sizeof(err));
	fbInfoModel_t *model = fbInfoModelAlloc();
	fbSession_t *session = fbSessionAlloc(model);
	fBuf_t *fbuf;
	GError *gerr = NULL;
	const fbInfoElement_t *ie;

	CHECK(enc != NULL);
	CHECK(fbInfoModelGetElementByName(model, "xlatZoneId") == NULL);
	CHECK_U64(ipfix_encoder_add_templates(enc), 0);
	CHECK_U64(ipfix_encoder_flush(enc), 0);
	/* options template, type records, data templates: no flow records */
	CHECK(c.n >= 2);
	for (int m = 0; m < c.n; m++)
		CHECK_U64(c.records[m], 0);

	fbuf = fBufAllocForCollection(session, NULL);
	fBufSetAutomaticMode(fbuf, FALSE);
	CHECK(fBufSetAutomaticInsert(fbuf, &gerr));
	for (int m = 0; m < c.n; m++) {
		fBufSetBuffer(fbuf, c.msg[m], c.len[m]);
		/* no flow records: reading consumes templates and type records */
		CHECK(fBufNextCollectionTemplate(fbuf, NULL, &gerr) == NULL);
		g_clear_error(&gerr);
	}

	for (int i = 0; i < IE_REGISTRY_COUNT; i++) {
		const fbInfoElement_t *want = &ie_registry_elements[i];

		ie = fbInfoModelGetElementByName(model, want->ref.name);
		CHECK(ie != NULL);
		if (!ie)
			continue;
		CHECK_U64(ie->ent, 99999);
		CHECK_U64(ie->num, want->num);
		CHECK_U64(ie->type, want->type);
		CHECK_U64(ie->len, want->len);
		CHECK_U64(FB_IE_SEMANTIC(ie->flags), FB_IE_SEMANTIC(want->flags));
		CHECK_STR(ie->description ? ie->description : "", want->description);
	}
	ie = fbInfoModelGetElementByName(model, "xlatType");
	CHECK(ie && FB_IE_SEMANTIC(ie->flags) == FB_IE_SEMANTIC(FB_IE_FLAGS));

	fBufFree(fbuf);
	fbInfoModelFree(model);
	capture_free(&c);
	ipfix_encoder_free(enc);
}

/* Options records, decoded into one internal template holding every options field. */
struct optdec {
	uint64_t messages, records, octets, not_sent, not_sent_packets, not_sent_octets, init_ms;
	uint64_t ignored, dropped_packets, dropped_octets;
	uint64_t non_ip, malformed, sampled_out, map_full, lost, lost_xlat, unsupported, evicted;
	uint64_t evicted_xlat, reattached;
	uint64_t selector_id, observed, selected;
	double probability;
	uint32_t odid, ifindex, packet_interval, packet_space, sampling_interval;
	uint16_t selector_algorithm;
	uint8_t sampling_algorithm;
	char name[IPFIX_IFNAME_LEN];
	char descr[IPFIX_IFDESCR_LEN];
} __attribute__((packed));

static fbInfoElementSpec_t optdec_spec[] = {
	{ "exportedMessageTotalCount", 8, 0 },
	{ "exportedFlowRecordTotalCount", 8, 0 },
	{ "exportedOctetTotalCount", 8, 0 },
	{ "notSentFlowTotalCount", 8, 0 },
	{ "notSentPacketTotalCount", 8, 0 },
	{ "notSentOctetTotalCount", 8, 0 },
	{ "systemInitTimeMilliseconds", 8, 0 },
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
	{ "xlatFilterReattachTotalCount", 8, 0 },
	{ "selectorId", 8, 0 },
	{ "selectorIdTotalPktsObserved", 8, 0 },
	{ "selectorIdTotalPktsSelected", 8, 0 },
	{ "samplingProbability", 8, 0 },
	{ "observationDomainId", 4, 0 },
	{ "ingressInterface", 4, 0 },
	{ "samplingPacketInterval", 4, 0 },
	{ "samplingPacketSpace", 4, 0 },
	{ "samplingInterval", 4, 0 },
	{ "selectorAlgorithm", 2, 0 },
	{ "samplingAlgorithm", 1, 0 },
	{ "interfaceName", IPFIX_IFNAME_LEN, 0 },
	{ "interfaceDescription", IPFIX_IFDESCR_LEN, 0 },
	FB_IESPEC_NULL,
};

#define N_IFS 40

/*
 * Templates and options records at a 512-byte limit: the interface table
 * spans messages; every options record decodes with its scope and values,
 * the sequence numbers count them, and none counts as a flow.
 */
static void test_options(void)
{
	struct capture c = { .n = 0 };
	struct ipfix_encoder *enc = enc_new(&c, false, 512);
	struct ipfix_interface ifs[N_IFS];
	struct ipfix_options opts = {
		.system_init_ms = 1764140000123ULL,
		.exported_messages = 11,
		.exported_records = 22,
		.exported_octets = 3333,
		.not_sent_records = 4,
		.not_sent_packets = 44,
		.not_sent_octets = 4444,
		.sampling = 1,
		.metering = { .observed_packets = 1000,
			      .non_ip_packets = 3,
			      .malformed_packets = 2,
			      .sampled_out_packets = 0,
			      .map_full_packets = 9,
			      .lost_packets = 6,
			      .lost_octets = 600,
			      .lost_translations = 8,
			      .unsupported_translations = 1,
			      .cache_evicted_flows = 12,
			      .evicted_translations = 13,
			      .filter_reattachments = 14 },
		.interfaces = ifs,
		.n_interfaces = N_IFS,
	};
	fbInfoModel_t *model = fbInfoModelAlloc();
	fbSession_t *session;
	fbTemplate_t *tmpl;
	fBuf_t *fbuf;
	GError *gerr = NULL;
	int count[IPFIX_TID_SELECTOR + 1] = { 0 };
	uint32_t expect_seq = 0, seen_if = 0;

	CHECK(enc != NULL);
	if (!enc)
		return;
	for (int i = 0; i < N_IFS; i++) {
		memset(&ifs[i], 0, sizeof(ifs[i]));
		ifs[i].ifindex = 100 + i;
		snprintf(ifs[i].name, sizeof(ifs[i].name), "veth%d", i);
		snprintf(ifs[i].description, sizeof(ifs[i].description), "pod %d", i);
	}
	CHECK_U64(ipfix_encoder_add_templates(enc), 0);
	CHECK_U64(ipfix_encoder_add_options(enc, &opts), 0);
	CHECK_U64(ipfix_encoder_pending(enc), 0); /* options records are not flows */
	CHECK_U64(ipfix_encoder_flush(enc), 0);
	CHECK(c.n > 6);

	ie_registry_add_to_model(model, IPFIX_DEFAULT_PEN);
	session = fbSessionAlloc(model);
	tmpl = fbTemplateAlloc(model);
	if (!fbTemplateAppendSpecArray(tmpl, optdec_spec, 0, &gerr) ||
	    !fbSessionAddTemplate(session, TRUE, DEC_TID, tmpl, &gerr))
		abort();
	CHECK_U64(fbTemplateGetIELenOfMemBuffer(tmpl), sizeof(struct optdec));
	fbuf = fBufAllocForCollection(session, NULL);
	fBufSetAutomaticMode(fbuf, FALSE);
	for (int m = 0; m < c.n; m++) {
		CHECK(c.len[m] <= 512);
		CHECK_U64(c.records[m], 0);
		CHECK_U64(rd32(c.msg[m] + 8), expect_seq);
		fBufSetBuffer(fbuf, c.msg[m], c.len[m]);
		for (;;) {
			struct optdec o;
			size_t len = sizeof(o);
			uint16_t tid = 0;

			memset(&o, 0, sizeof(o));
			if (!fBufSetInternalTemplate(fbuf, DEC_TID, &gerr))
				abort();
			if (!fBufNext(fbuf, (uint8_t *)&o, &len, &gerr)) {
				g_clear_error(&gerr);
				break;
			}
			expect_seq++;
			tmpl = fBufGetCollectionTemplate(fbuf, &tid);
			if (tid == IPFIX_TID_IE_TYPE)
				continue;
			CHECK(tid >= IPFIX_TID_EXPORTER && tid <= IPFIX_TID_SELECTOR);
			if (tid < IPFIX_TID_EXPORTER || tid > IPFIX_TID_SELECTOR)
				continue;
			count[tid]++;
			/* scope: the first field, and only one */
			CHECK_U64(fbTemplateGetOptionsScope(tmpl), 1);
			if (tid != IPFIX_TID_INTERFACE)
				CHECK_U64(o.odid, ODID);
			switch (tid) {
			case IPFIX_TID_EXPORTER:
				CHECK_U64(o.messages, 11);
				CHECK_U64(o.records, 22);
				CHECK_U64(o.octets, 3333);
				CHECK_U64(o.not_sent, 4);
				CHECK_U64(o.not_sent_packets, 44);
				CHECK_U64(o.not_sent_octets, 4444);
				CHECK_U64(o.init_ms, 1764140000123ULL);
				break;
			case IPFIX_TID_METERING:
				CHECK_U64(o.ignored, 5);
				CHECK_U64(o.dropped_packets, 6);
				CHECK_U64(o.dropped_octets, 600);
				CHECK_U64(o.non_ip, 3);
				CHECK_U64(o.malformed, 2);
				CHECK_U64(o.sampled_out, 0);
				CHECK_U64(o.map_full, 9);
				CHECK_U64(o.lost, 6);
				CHECK_U64(o.lost_xlat, 8);
				CHECK_U64(o.unsupported, 1);
				CHECK_U64(o.evicted, 12);
				CHECK_U64(o.evicted_xlat, 13);
				CHECK_U64(o.reattached, 14);
				CHECK_U64(o.init_ms, 1764140000123ULL);
				break;
			case IPFIX_TID_SAMPLING:
				CHECK_U64(o.sampling_interval, 1);
				/* deterministic: every packet */
				CHECK_U64(o.sampling_algorithm, 1);
				break;
			case IPFIX_TID_SELECTOR:
				CHECK_U64(o.selector_id, 1);
				CHECK_U64(o.selector_algorithm, 1); /* systematic count-based */
				CHECK_U64(o.packet_interval, 1);
				CHECK_U64(o.packet_space, 0);
				CHECK(o.probability == 1.0);
				CHECK_U64(o.observed, 1000);
				CHECK_U64(o.selected, 1000);
				break;
			case IPFIX_TID_INTERFACE: {
				char name[32], descr[32];

				/* in table order, each exactly once */
				CHECK_U64(o.ifindex, 100 + seen_if);
				snprintf(name, sizeof(name), "veth%u", seen_if);
				snprintf(descr, sizeof(descr), "pod %u", seen_if);
				CHECK(!strncmp(o.name, name, sizeof(o.name)));
				CHECK(!strncmp(o.descr, descr, sizeof(o.descr)));
				seen_if++;
				break;
			}
			}
		}
	}
	CHECK_U64(count[IPFIX_TID_EXPORTER], 1);
	CHECK_U64(count[IPFIX_TID_METERING], 1);
	CHECK_U64(count[IPFIX_TID_SAMPLING], 1);
	CHECK_U64(count[IPFIX_TID_SELECTOR], 1);
	CHECK_U64(count[IPFIX_TID_INTERFACE], N_IFS);
	fBufFree(fbuf);
	fbInfoModelFree(model);
	capture_free(&c);
	ipfix_encoder_free(enc);
}

/*
 * Message limits from 512 to 9000 bytes (sweep_next_limit), as in
 * netflow9_test: a mix is a string of steps, what follows '|' repeated until
 * a data message went out full, each step a flow record of one template (4 IPv4, 6 IPv6, N IPv4
 * NAT, M IPv6 NAT), the options records (o: exporter, metering, sampling,
 * selector, two interfaces) or the templates and type records again (t,
 * which sends the open data message: never repeated); r is a record or the
 * options at random. IPFIX sets are not padded, but the set builder is the
 * one NetFlow v9 pads with (src/ipfix_wire.c).
 */
static const char *const mixes[] = { "|4", "|46NM", "|M6N4o", "4N6t|Mo4NN6", "o|r" };

#define SWEEP_RECORDS 4096

struct sweep {
	struct capture c;
	fbInfoModel_t *model;
	fBuf_t *fbuf; /* the collector of one encoder's messages */
	struct walk_tmpl tmpls[16];
	uint16_t want_tid[SWEEP_RECORDS]; /* flow records in the order added */
	int n_flows, n_options;
	uint32_t seq; /* the next message's sequence number */
	uint64_t rng;
	struct flow_record v4, v6;
};

/* One step of a mix (r: the step taken); false if the encoder refused it. */
static bool sweep_step(struct sweep *s, struct ipfix_encoder *enc, char *op,
		       const struct ipfix_options *opts)
{
	struct flow_record r;

	if (*op == 'r')
		*op = "46NMMN46o"[rnd(&s->rng) % 9];
	switch (*op) {
	case 'o':
		s->n_options += 4 + opts->n_interfaces;
		return ipfix_encoder_add_options(enc, opts) == 0;
	case 't': return ipfix_encoder_add_templates(enc) == 0;
	case '4':
	case 'N': r = s->v4; break;
	default: r = s->v6; break;
	}
	r.has_xlat = *op == 'N' || *op == 'M';
	r.packets = s->n_flows; /* the record's place, checked when decoded */
	s->want_tid[s->n_flows++] = ipfix_template_for(&r);
	return ipfix_encoder_add(enc, &r) == 0;
}

/* Whether message m is the encoder's data message (its first set flows or options). */
static bool data_message(const struct capture *c, int m)
{
	int set_id = c->len[m] >= IPFIX_HEADER_LEN + 4
			     ? c->msg[m][IPFIX_HEADER_LEN] << 8 | c->msg[m][IPFIX_HEADER_LEN + 1]
			     : 0;

	/* libfixbuf's messages: template sets, RFC 5610 type records */
	return set_id >= 256 && set_id != IPFIX_TID_IE_TYPE;
}

/* A collector for a new encoder: a session of its own, the decoding template. */
static fBuf_t *sweep_collector(fbInfoModel_t *model)
{
	fbSession_t *session = fbSessionAlloc(model);
	fbTemplate_t *tmpl = fbTemplateAlloc(model);
	GError *gerr = NULL;
	fBuf_t *fbuf;

	if (!fbTemplateAppendSpecArray(tmpl, dec_spec, 0, &gerr) ||
	    !fbSessionAddTemplate(session, TRUE, DEC_TID, tmpl, &gerr))
		abort();
	fbuf = fBufAllocForCollection(session, NULL);
	fBufSetAutomaticMode(fbuf, FALSE);
	return fbuf;
}

/* Decode every captured message with libfixbuf's collector; check it against what was added. */
static bool sweep_decode(struct sweep *s, unsigned limit, const char *mix)
{
	fBuf_t *fbuf = s->fbuf;
	GError *gerr = NULL;
	int flows = 0, options = 0;
	bool ok = true;

	for (int m = 0; ok && m < s->c.n; m++) {
		const uint8_t *h = s->c.msg[m];
		int walked = walk_message(h, s->c.len[m], s->tmpls), records = 0, in_msg = flows;

		if (s->c.len[m] > limit || walked < 0 || rd32(h + 8) != s->seq ||
		    (size_t)((h[2] << 8) | h[3]) != s->c.len[m]) {
			fprintf(stderr, "limit %u mix %s: message %d of %zu bytes, sequence %u%s\n",
				limit, mix, m, s->c.len[m], rd32(h + 8),
				walked < 0 ? ", sets do not add up" : "");
			ok = false;
			break;
		}
		s->seq += walked;
		fBufSetBuffer(fbuf, s->c.msg[m], s->c.len[m]);
		for (;;) {
			struct dec d;
			size_t len = sizeof(d);
			uint16_t tid = 0;

			if (!fBufSetInternalTemplate(fbuf, DEC_TID, &gerr))
				abort();
			if (!fBufNext(fbuf, (uint8_t *)&d, &len, &gerr)) {
				if (!g_error_matches(gerr, FB_ERROR_DOMAIN, FB_ERROR_EOM) &&
				    !g_error_matches(gerr, FB_ERROR_DOMAIN, FB_ERROR_BUFSZ)) {
					fprintf(stderr, "limit %u mix %s: fBufNext: %s\n", limit,
						mix, gerr->message);
					ok = false;
				}
				g_clear_error(&gerr);
				break;
			}
			records++;
			fBufGetCollectionTemplate(fbuf, &tid);
			if (tid == IPFIX_TID_IE_TYPE)
				continue;
			if (tid >= IPFIX_TID_EXPORTER) {
				options++;
				continue;
			}
			if (flows >= s->n_flows || tid != s->want_tid[flows] ||
			    d.packets != (uint64_t)flows) {
				fprintf(stderr, "limit %u mix %s: flow record %d out of place\n",
					limit, mix, flows);
				ok = false;
				break;
			}
			flows++;
		}
		if (ok && (records != walked || (uint32_t)(flows - in_msg) != s->c.records[m])) {
			fprintf(stderr,
				"limit %u mix %s: message %d: libfixbuf read %d records of %d, "
				"%d flows of %u\n",
				limit, mix, m, records, walked, flows - in_msg, s->c.records[m]);
			ok = false;
		}
	}
	if (ok && (flows != s->n_flows || options != s->n_options)) {
		fprintf(stderr, "limit %u mix %s: decoded %d flows, %d options of %d, %d\n", limit,
			mix, flows, options, s->n_flows, s->n_options);
		ok = false;
	}
	return ok;
}

/*
 * Whether the first record of message next had fit at the end of message p
 * of len bytes under limit: in p's last set if that is of its template, or
 * in a new set.
 */
static bool had_room(const struct walk_tmpl *tmpls, const uint8_t *p, size_t len,
		     const uint8_t *next, unsigned limit)
{
	size_t off = IPFIX_HEADER_LEN, last = off, r = 0;
	unsigned id = next[IPFIX_HEADER_LEN] << 8 | next[IPFIX_HEADER_LEN + 1];

	for (; off + 4 <= len; off += p[off + 2] << 8 | p[off + 3])
		last = off;
	for (int i = 0; id >= 256 && id < 256 + 16 && i < tmpls[id - 256].n_fields; i++)
		r += tmpls[id - 256].len[i];
	return len + (id == (unsigned)(p[last] << 8 | p[last + 1]) ? 0 : 4) + r <= limit;
}

/*
 * One mix at one limit: steps until a data step sent a full data message,
 * then the rest flushed; every message within the limit and decoded
 * completely, and the full one without room for the record that opens the
 * next data message (the limit is not met by wasting room). Says why and
 * returns false on the first problem.
 */
static bool sweep_run(struct sweep *s, struct ipfix_encoder *enc, unsigned limit, const char *mix,
		      const struct ipfix_options *opts)
{
	int full = -1;

	s->n_flows = s->n_options = 0;
	for (const char *p = mix; full < 0; p = p[1] ? p + 1 : strchr(mix, '|')) {
		int before = s->c.n;
		char op = *p;

		if (op == '|')
			continue;
		if (s->n_flows + s->n_options > SWEEP_RECORDS - 16 ||
		    !sweep_step(s, enc, &op, opts))
			goto refused;
		/* a data step sends libfixbuf's message, or the data message when full */
		for (int m = before; op != 't' && m < s->c.n; m++)
			if (data_message(&s->c, m))
				full = m;
	}
	if (ipfix_encoder_flush(enc))
		goto refused;
	if (!sweep_decode(s, limit, mix))
		return false;
	/* the data step that filled it put its record in the next message */
	if (full + 1 >= s->c.n || !data_message(&s->c, full + 1) ||
	    had_room(s->tmpls, s->c.msg[full], s->c.len[full], s->c.msg[full + 1], limit)) {
		fprintf(stderr, "limit %u mix %s: the full message (%zu bytes) had room\n", limit,
			mix, s->c.len[full]);
		return false;
	}
	capture_free(&s->c);
	return true;
refused:
	fprintf(stderr, "limit %u mix %s: the encoder refused a step\n", limit, mix);
	return false;
}

/*
 * The limits: every one up to 2048 bytes (a message fills up at every
 * offset from the end of every record, and every usual mtu), every 7th
 * above (longer messages). Building an encoder takes half a millisecond (a
 * libfixbuf information model and session): 4.6 s for all 8489 limits.
 * netflow9_test, whose flowsets are padded, sweeps every limit.
 */
static unsigned sweep_next_limit(unsigned limit)
{
	return limit + 1;
}

static void test_every_limit(void)
{
	struct sweep *s = g_new0(struct sweep, 1);
	struct ipfix_interface ifs[2] = {
		{ .ifindex = 3, .name = "eth0", .description = "uplink" },
		{ .ifindex = 7, .name = "veth-abcdefghijk", .description = "pod" },
	};
	struct ipfix_options opts = { .sampling = 1, .interfaces = ifs, .n_interfaces = 2 };
	int bad = 0, runs = 0, limits = 0;

	s->rng = 0x9e3779b97f4a7c15ULL;
	s->model = fbInfoModelAlloc();
	ie_registry_add_to_model(s->model, IPFIX_DEFAULT_PEN);
	base_record(&s->v4, XF_FAMILY_IPV4, IPPROTO_UDP);
	base_record(&s->v6, XF_FAMILY_IPV6, IPPROTO_TCP);
	s->v4.xlat.zone_id = s->v6.xlat.zone_id = 5;
	for (unsigned limit = IPFIX_MIN_MESSAGE_LEN; limit <= 9000 && bad < 10;
	     limit = sweep_next_limit(limit), limits++) {
		/* with ingressVRFID at odd limits: NAT records 4 bytes longer */
		struct ipfix_encoder *enc = enc_new(&s->c, limit & 1, (uint16_t)limit);

		s->seq = 0;
		s->fbuf = sweep_collector(s->model);
		/* the templates go out once, in the first mix's messages */
		CHECK_U64(ipfix_encoder_add_templates(enc), 0);
		for (size_t m = 0; m < sizeof(mixes) / sizeof(mixes[0]); m++, runs++) {
			if (!sweep_run(s, enc, limit, mixes[m], &opts)) {
				bad++;
				break;
			}
		}
		capture_free(&s->c);
		fBufFree(s->fbuf);
		ipfix_encoder_free(enc);
	}
	CHECK_U64(bad, 0);
	CHECK_U64(limits, 9000 - IPFIX_MIN_MESSAGE_LEN + 1);
	CHECK_U64(runs, limits * (sizeof(mixes) / sizeof(mixes[0])));
	fbInfoModelFree(s->model);
	g_free(s);
}

int main(void)
{
	RUN(test_ipv4);
	RUN(test_ipv6);
	RUN(test_ipv4_nat_vrf);
	RUN(test_ipv4_nat_novrf);
	RUN(test_ipv6_nat);
	RUN(test_icmp);
	RUN(test_end_reasons);
	RUN(test_random);
	RUN(test_sequence_mixed);
	RUN(test_bad_family);
	RUN(test_mtu_1472);
	RUN(test_mtu_512);
	RUN(test_mtu_too_small);
	RUN(test_rfc5610);
	RUN(test_options);
	RUN(test_every_limit);
	return tu_finish();
}
