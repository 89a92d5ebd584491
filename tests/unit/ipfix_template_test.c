// SPDX-License-Identifier: GPL-2.0-only
/*
 * src/ipfix_template.c, without libfixbuf: the template descriptions both
 * encoders use (ids, order, field counts and record lengths counted here
 * by hand from RFC 7012 element sizes, enterprise fields and their PEN,
 * the NetFlow v9 variant), the options records read back at the
 * descriptions' offsets in the order they go out, and the flow record fill.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "ie_registry.h"
#include "ipfix_template.h"
#include "testutil.h"

#define ODID 4242
#define PEN 12345

static const struct ipfix_params params = {
	.observation_domain_id = ODID,
	.enterprise_number = PEN,
	.max_message_len = 1400,
};

static const struct ipfix_field *field(const struct ipfix_template_desc *d, uint16_t id,
				       uint32_t pen)
{
	for (int i = 0; i < d->n_fields; i++)
		if (d->fields[i].id == id && d->fields[i].pen == pen)
			return &d->fields[i];
	return NULL;
}

static uint64_t host_at(const uint8_t *rec, const struct ipfix_field *f)
{
	uint64_t v8 = 0;
	uint32_t v4 = 0;
	uint16_t v2 = 0;

	switch (f->len) {
	case 1: return rec[f->offset];
	case 2: memcpy(&v2, rec + f->offset, 2); return v2;
	case 4: memcpy(&v4, rec + f->offset, 4); return v4;
	default: memcpy(&v8, rec + f->offset, 8); return v8;
	}
}

/* IPFIX: ids and order, fields and bytes per template, PEN on the xlatflow elements. */
static void test_describe_ipfix(void)
{
	static const uint16_t tids[IPFIX_N_TEMPLATES] = {
		IPFIX_TID_IPV4,	    IPFIX_TID_IPV6,	IPFIX_TID_IPV4_NAT,
		IPFIX_TID_IPV6_NAT, IPFIX_TID_EXPORTER, IPFIX_TID_METERING,
		IPFIX_TID_SAMPLING, IPFIX_TID_SELECTOR, IPFIX_TID_INTERFACE,
	};
	/* 19 common fields: 4 x 8 times and counters, 2 addresses, ports, ... = 74 (v4) */
	/*
	 * the exporter's: 8 counters and times, 5 spool counters,
	 * exporterIPv4Address, 3 collector counters
	 */
	static const uint16_t n_fields[IPFIX_N_TEMPLATES] = { 19, 19, 34, 34, 17, 15, 3, 8, 3 };
	static const uint16_t record_len[IPFIX_N_TEMPLATES] = { 74,  98, 114, 210, 128,
								116, 9,	 46,  84 };
	struct ipfix_template_desc d[IPFIX_N_TEMPLATES];
	char err[256] = "";
	int n = ipfix_describe_templates(&params, false, d, err, sizeof(err));

	CHECK_U64(n, IPFIX_N_TEMPLATES);
	CHECK(!err[0]);
	for (int i = 0; i < n; i++) {
		uint16_t sum = 0;

		CHECK_U64(d[i].tid, tids[i]);
		CHECK_U64(d[i].n_fields, n_fields[i]);
		CHECK_U64(d[i].record_len, record_len[i]);
		CHECK_U64(d[i].scope_count, i >= IPFIX_N_FLOW_TEMPLATES ? 1 : 0);
		CHECK(d[i].name && d[i].name[0]);
		for (int k = 0; k < d[i].n_fields; k++) {
			const struct ipfix_field *f = &d[i].fields[k];

			sum += f->len;
			CHECK(f->name && f->name[0]);
			CHECK(f->pen == 0 || f->pen == PEN);
			if (k)
				CHECK(f->offset > d[i].fields[k - 1].offset);
		}
		CHECK_U64(sum, d[i].record_len);
	}
	/* every xlatflow element of the NAT templates, under the configured PEN */
	CHECK(field(&d[2], IE_XLAT_ZONE_ID, PEN) && field(&d[2], IE_XLAT_TYPE, PEN));
	CHECK(field(&d[2], IE_XLAT_PRE_SOURCE_IPV4_ADDRESS, PEN));
	CHECK(!field(&d[2], IE_XLAT_PRE_SOURCE_IPV6_ADDRESS, PEN));
	CHECK(field(&d[3], IE_XLAT_POST_DESTINATION_IPV6_ADDRESS, PEN));
	CHECK(!field(&d[2], 234, 0)); /* no ingressVRFID without zone_as_vrf */
	CHECK_U64(field(&d[2], IE_XLAT_ZONE_ID, PEN)->len, 2);
	CHECK(field(&d[2], IE_XLAT_ZONE_ID, PEN)->integer);
	CHECK(!field(&d[3], 27, 0)->integer); /* sourceIPv6Address: bytes */
	CHECK(field(&d[2], 8, 0)->integer);   /* sourceIPv4Address: host order */
	CHECK_U64(field(&d[5], IE_XLAT_CACHE_EVICTED_FLOW_TOTAL_COUNT, PEN)->len, 8);
	CHECK_U64(field(&d[8], 82, 0)->len, IPFIX_IFNAME_LEN);
	CHECK_U64(field(&d[8], 83, 0)->len, IPFIX_IFDESCR_LEN);
	CHECK_U64(d[8].fields[0].id, 10); /* scope ingressInterface */

	struct ipfix_params vrf = params;

	vrf.zone_as_vrf = true;
	CHECK_U64(ipfix_describe_templates(&vrf, false, d, err, sizeof(err)), IPFIX_N_TEMPLATES);
	CHECK_U64(d[2].n_fields, 35);
	CHECK_U64(d[2].record_len, 118);
	CHECK(field(&d[2], 234, 0) != NULL);
	CHECK(field(&d[0], 234, 0) == NULL); /* only the NAT variants carry it */
	CHECK_U64(field(&d[3], IE_XLAT_POST_SOURCE_TRANSPORT_PORT, PEN)->offset,
		  offsetof(struct ipfix_flow_rec, xlat_post_src_port));
	CHECK_U64(d[3].fields[d[3].n_fields - 1].offset + 2, sizeof(struct ipfix_flow_rec));

	/* a collector reached over IPv6: exporterIPv6Address (16 bytes) instead of 130 */
	struct ipfix_params v6 = params;

	v6.exporter_ipv6 = true;
	CHECK_U64(ipfix_describe_templates(&v6, false, d, err, sizeof(err)), IPFIX_N_TEMPLATES);
	CHECK_U64(d[4].n_fields, 17);
	CHECK_U64(d[4].record_len, 140);
	CHECK(field(&d[4], 130, 0) == NULL);
	CHECK_U64(field(&d[4], 131, 0)->len, 16);
	CHECK(!field(&d[4], 131, 0)->integer);
	CHECK_U64(field(&d[4], IE_XLAT_COLLECTOR_TAKEN_OVER_FLOW_TOTAL_COUNT, PEN)->len, 8);
	CHECK_U64(d[0].n_fields, 19); /* the flow templates do not change */
}

/* NetFlow v9: no enterprise fields, the zone id always in ingressVRFID. */
static void test_describe_netflow9(void)
{
	struct ipfix_template_desc d[IPFIX_N_TEMPLATES];
	char err[256] = "";
	int n = ipfix_describe_templates(&params, true, d, err, sizeof(err));

	CHECK_U64(n, IPFIX_N_TEMPLATES);
	for (int i = 0; i < n; i++)
		for (int k = 0; k < d[i].n_fields; k++)
			CHECK_U64(d[i].fields[k].pen, 0);
	CHECK_U64(d[0].n_fields, 19);
	CHECK_U64(d[2].n_fields, 24); /* 19 + 225-228 + ingressVRFID */
	CHECK_U64(d[2].record_len, 90);
	CHECK_U64(d[2].fields[23].id, 234);
	CHECK_U64(d[3].n_fields, 24); /* 19 + 281, 282, 227, 228 + ingressVRFID */
	CHECK_U64(d[5].n_fields, 5);  /* metering without its 10 xlatflow counters */
	CHECK_U64(d[5].record_len, 36);
	/* offsets into the whole internal record: the v9 writer skips what it leaves out */
	CHECK_U64(d[2].fields[23].offset, offsetof(struct ipfix_flow_rec, ingress_vrf));
	CHECK_U64(field(&d[3], 27, 0)->offset, offsetof(struct ipfix_flow_rec, src_ip6));
	CHECK_U64(field(&d[3], 139, 0)->offset, offsetof(struct ipfix_flow_rec, icmp_type_code6));
	CHECK_U64(field(&d[3], 228, 0)->offset,
		  offsetof(struct ipfix_flow_rec, post_napt_dst_port));
}

struct seen {
	int n;
	uint16_t tid[16];
	uint8_t rec[16][256];
	int stop_at;			     /* return -ECANCELED at this call (0: never) */
	const struct ipfix_template_desc *d; /* IPFIX_N_TEMPLATES: how long each record is */
};

static int collect(void *ctx, uint16_t tid, const void *rec)
{
	struct seen *s = ctx;
	size_t len = 0;

	/*
	 * the internal record reaches to the end of its template's last field,
	 * no further (ASan checks the copy); a variant skips fields in between
	 * (exporterIPv6Address of an IPv4 template), so that may be beyond
	 * record_len
	 */
	for (int i = 0; i < IPFIX_N_TEMPLATES; i++) {
		const struct ipfix_template_desc *t = &s->d[i];

		if (t->tid == tid && t->n_fields)
			len = t->fields[t->n_fields - 1].offset + t->fields[t->n_fields - 1].len;
	}
	CHECK(len > 0 && len <= sizeof(s->rec[0]));
	if (s->n < 16 && len <= sizeof(s->rec[0])) {
		s->tid[s->n] = tid;
		memcpy(s->rec[s->n], rec, len);
	}
	s->n++;
	return s->n == s->stop_at ? -ECANCELED : 0;
}

/* One round: exporter, metering, sampling, selector, then each interface; read back by offset. */
static void test_options(void)
{
	struct ipfix_interface ifs[3] = {
		{ .ifindex = 7, .name = "eth0", .description = "uplink" },
		{ .ifindex = 9, .name = "veth1" },
		{ .ifindex = 12, .name = "0123456789abcdef" }, /* fills all 16 bytes */
	};
	struct ipfix_options o = {
		.system_init_ms = 1700000000123ull,
		.exported_messages = 11,
		.exported_records = 222,
		.exported_octets = 3333,
		.not_sent_records = 4,
		.not_sent_packets = 55,
		.not_sent_octets = 666,
		.spool = { .full = 31,
			   .write_error = 32,
			   .damaged = 33,
			   .pending = 34,
			   .octets = 35 },
		.sampling = 100,
		.exporter_addr = { 198, 18, 0, 7 },
		.collector_down = 3,
		.collector_redirected = 77,
		.collector_taken_over = 88,
		.metering = { .observed_packets = 1000,
			      .non_ip_packets = 2,
			      .malformed_packets = 3,
			      .sampled_out_packets = 990,
			      .lost_packets = 6,
			      .lost_octets = 700,
			      .cache_evicted_flows = 10 },
		.interfaces = ifs,
		.n_interfaces = 3,
	};
	static const uint16_t order[] = { IPFIX_TID_EXPORTER,  IPFIX_TID_METERING,
					  IPFIX_TID_SAMPLING,  IPFIX_TID_SELECTOR,
					  IPFIX_TID_INTERFACE, IPFIX_TID_INTERFACE,
					  IPFIX_TID_INTERFACE };
	struct ipfix_template_desc d[IPFIX_N_TEMPLATES];
	struct seen s = { 0 };
	char err[256];
	double prob;

	CHECK_U64(ipfix_describe_templates(&params, false, d, err, sizeof(err)), IPFIX_N_TEMPLATES);
	s.d = d;
	CHECK_U64(ipfix_options_foreach(&o, ODID, collect, &s), 0);
	CHECK_U64(s.n, 7);
	for (int i = 0; i < 7; i++)
		CHECK_U64(s.tid[i], order[i]);

	/* exporting process (d[4]) */
	CHECK_U64(host_at(s.rec[0], field(&d[4], 149, 0)), ODID);
	CHECK_U64(host_at(s.rec[0], field(&d[4], 41, 0)), 11);
	CHECK_U64(host_at(s.rec[0], field(&d[4], 167, 0)), 55);
	CHECK_U64(host_at(s.rec[0], field(&d[4], 160, 0)), 1700000000123ull);
	CHECK_U64(host_at(s.rec[0], field(&d[4], 130, 0)), 0xc6120007); /* 198.18.0.7 */
	CHECK_U64(host_at(s.rec[0], field(&d[4], IE_XLAT_COLLECTOR_DOWN_TOTAL_COUNT, PEN)), 3);
	CHECK_U64(
		host_at(s.rec[0], field(&d[4], IE_XLAT_COLLECTOR_REDIRECTED_FLOW_TOTAL_COUNT, PEN)),
		77);
	CHECK_U64(
		host_at(s.rec[0], field(&d[4], IE_XLAT_COLLECTOR_TAKEN_OVER_FLOW_TOTAL_COUNT, PEN)),
		88);
	/* its spool: lost by cause, what it holds */
	CHECK_U64(host_at(s.rec[0], field(&d[4], IE_XLAT_SPOOL_FULL_RECORD_TOTAL_COUNT, PEN)), 31);
	CHECK_U64(
		host_at(s.rec[0], field(&d[4], IE_XLAT_SPOOL_WRITE_ERROR_RECORD_TOTAL_COUNT, PEN)),
		32);
	CHECK_U64(host_at(s.rec[0], field(&d[4], IE_XLAT_SPOOL_DAMAGED_RECORD_TOTAL_COUNT, PEN)),
		  33);
	CHECK_U64(host_at(s.rec[0], field(&d[4], IE_XLAT_SPOOL_PENDING_RECORD_COUNT, PEN)), 34);
	CHECK_U64(host_at(s.rec[0], field(&d[4], IE_XLAT_SPOOL_OCTET_COUNT, PEN)), 35);
	/* metering (d[5]): ignored = non-IP + malformed, dropped = lost */
	CHECK_U64(host_at(s.rec[1], field(&d[5], 164, 0)), 5);
	CHECK_U64(host_at(s.rec[1], field(&d[5], 135, 0)), 6);
	CHECK_U64(host_at(s.rec[1], field(&d[5], 134, 0)), 700);
	CHECK_U64(host_at(s.rec[1], field(&d[5], IE_XLAT_SAMPLED_OUT_PACKET_TOTAL_COUNT, PEN)),
		  990);
	CHECK_U64(host_at(s.rec[1], field(&d[5], IE_XLAT_CACHE_EVICTED_FLOW_TOTAL_COUNT, PEN)), 10);
	/* sampling (d[6]): 1 in 100, random */
	CHECK_U64(host_at(s.rec[2], field(&d[6], 34, 0)), 100);
	CHECK_U64(host_at(s.rec[2], field(&d[6], 35, 0)), 2);
	/* selector (d[7]): uniform probabilistic, 1 selected, 99 skipped, 10 of 1000 kept */
	CHECK_U64(host_at(s.rec[3], field(&d[7], 304, 0)), 4);
	CHECK_U64(host_at(s.rec[3], field(&d[7], 305, 0)), 1);
	CHECK_U64(host_at(s.rec[3], field(&d[7], 306, 0)), 99);
	memcpy(&prob, s.rec[3] + field(&d[7], 311, 0)->offset, 8);
	CHECK(prob == 1.0 / 100);
	CHECK_U64(host_at(s.rec[3], field(&d[7], 318, 0)), 1000);
	CHECK_U64(host_at(s.rec[3], field(&d[7], 319, 0)), 10);
	/* interfaces (d[8]) in the order given, names NUL padded to 16 bytes */
	CHECK_U64(host_at(s.rec[4], field(&d[8], 10, 0)), 7);
	CHECK(!memcmp(s.rec[4] + field(&d[8], 82, 0)->offset, "eth0\0\0\0\0\0\0\0\0\0\0\0\0", 16));
	CHECK(!memcmp(s.rec[4] + field(&d[8], 83, 0)->offset, "uplink\0", 7));
	CHECK_U64(host_at(s.rec[5], field(&d[8], 10, 0)), 9);
	CHECK_U64(host_at(s.rec[6], field(&d[8], 10, 0)), 12);
	CHECK(!memcmp(s.rec[6] + field(&d[8], 82, 0)->offset, "0123456789abcdef", 16));
	CHECK_U64(s.rec[6][field(&d[8], 83, 0)->offset], 0);

	/* 1:1 sampling is deterministic, systematic count-based, space 0 */
	o.sampling = 0;
	memset(&s, 0, sizeof(s));
	s.d = d;
	CHECK_U64(ipfix_options_foreach(&o, ODID, collect, &s), 0);
	CHECK_U64(host_at(s.rec[2], field(&d[6], 34, 0)), 1);
	CHECK_U64(host_at(s.rec[2], field(&d[6], 35, 0)), 1);
	CHECK_U64(host_at(s.rec[3], field(&d[7], 304, 0)), 1);
	CHECK_U64(host_at(s.rec[3], field(&d[7], 306, 0)), 0);

	/* the walk stops at the first error and returns it */
	memset(&s, 0, sizeof(s));
	s.d = d;
	s.stop_at = 2;
	CHECK_U64(ipfix_options_foreach(&o, ODID, collect, &s), (uint64_t)-ECANCELED);
	CHECK_U64(s.n, 2);
	/* no interfaces: the four exporter-wide records */
	memset(&s, 0, sizeof(s));
	s.d = d;
	o.n_interfaces = 0;
	CHECK_U64(ipfix_options_foreach(&o, ODID, collect, &s), 0);
	CHECK_U64(s.n, 4);
}

/* The flow record: which template, host-order addresses, ICMP type/code, the zone as VRF. */
static void test_record_flow(void)
{
	struct flow_record rec = { 0 };
	struct ipfix_flow_rec r;
	const uint8_t src[4] = { 198, 18, 0, 1 }, dst[4] = { 198, 19, 0, 2 };

	rec.key.family = XF_FAMILY_IPV4;
	rec.key.proto = IPPROTO_ICMP;
	rec.key.dst_port = 0x0800; /* echo request */
	rec.key.direction = XF_DIR_EGRESS;
	rec.key.ifindex = 5;
	memcpy(rec.key.src_addr, src, 4);
	memcpy(rec.key.dst_addr, dst, 4);
	rec.packets = 3;
	CHECK_U64(ipfix_template_for(&rec), IPFIX_TID_IPV4);
	CHECK_U64(ipfix_record_flow(&r, &rec, false), IPFIX_TID_IPV4);
	CHECK_U64(r.src_ip4, 0xc6120001);
	CHECK_U64(r.dst_ip4, 0xc6130002);
	CHECK_U64(r.icmp_type_code4, 0x0800);
	CHECK_U64(r.dst_port, 0);
	CHECK_U64(r.egress_if, 5);
	CHECK_U64(r.ingress_if, 0);
	CHECK_U64(r.direction, 1);
	CHECK_U64(r.packets, 3);

	rec.has_xlat = true;
	rec.xlat.zone_id = 77;
	CHECK_U64(ipfix_record_flow(&r, &rec, false), IPFIX_TID_IPV4_NAT);
	CHECK_U64(r.xlat_zone, 77);
	CHECK_U64(r.ingress_vrf, 0);
	CHECK_U64(ipfix_record_flow(&r, &rec, true), IPFIX_TID_IPV4_NAT);
	CHECK_U64(r.ingress_vrf, 77);

	rec.key.family = XF_FAMILY_IPV6;
	CHECK_U64(ipfix_template_for(&rec), IPFIX_TID_IPV6_NAT);
	rec.key.family = 99;
	memset(&r, 0xaa, sizeof(r));
	CHECK_U64(ipfix_record_flow(&r, &rec, false), 0);
	CHECK_U64(r.packets, 0xaaaaaaaaaaaaaaaaull); /* untouched */
}

/* The NAT event log's templates: only with nat_events, after the others. */
static void test_describe_nat_events(void)
{
	static const uint16_t tids[IPFIX_N_NAT_TEMPLATES] = {
		IPFIX_TID_NAT44_SESSION, IPFIX_TID_NAT66_SESSION, IPFIX_TID_NAT44_PORTS,
		IPFIX_TID_NAT66_PORTS,	 IPFIX_TID_NAT_QUOTA,	  IPFIX_TID_NATLOG_STATS,
	};
	static const uint16_t n_fields[IPFIX_N_NAT_TEMPLATES] = { 19, 19, 10, 10, 10, 6 };
	static const uint16_t n_fields_v9[IPFIX_N_NAT_TEMPLATES] = { 18, 18, 8, 8, 8, 2 };
	static const uint16_t record_len[IPFIX_N_NAT_TEMPLATES] = { 88, 136, 42, 66, 47, 44 };
	struct ipfix_template_desc d[IPFIX_MAX_TEMPLATES];
	struct ipfix_params nat = params;
	char err[256] = "";

	nat.nat_events = true;
	CHECK_U64(ipfix_describe_templates(&nat, false, d, err, sizeof(err)), IPFIX_MAX_TEMPLATES);
	CHECK(!err[0]);
	for (int i = 0; i < IPFIX_N_NAT_TEMPLATES; i++) {
		const struct ipfix_template_desc *t = &d[IPFIX_N_TEMPLATES + i];

		CHECK_U64(t->tid, tids[i]);
		CHECK_U64(t->n_fields, n_fields[i]);
		CHECK_U64(t->record_len, record_len[i]);
		CHECK_U64(t->scope_count, tids[i] == IPFIX_TID_NATLOG_STATS ? 1 : 0);
	}
	/* offsets into the internal records natlog.c fills */
	CHECK_U64(field(&d[9], 230, 0)->offset,
		  offsetof(struct ipfix_natev_session_rec, nat_event));
	CHECK_U64(field(&d[10], 281, 0)->offset,
		  offsetof(struct ipfix_natev_session_rec, post_src_ip6));
	CHECK(!field(&d[9], 27, 0) && !field(&d[10], 8, 0));
	CHECK_U64(field(&d[11], IE_XLAT_NAT_EVENT_COUNT, PEN)->offset,
		  offsetof(struct ipfix_natev_ports_rec, count));
	CHECK_U64(field(&d[13], 471, 0)->offset,
		  offsetof(struct ipfix_natev_quota_rec, max_sessions));
	/* NetFlow v9: the same without the enterprise elements */
	CHECK_U64(ipfix_describe_templates(&nat, true, d, err, sizeof(err)), IPFIX_MAX_TEMPLATES);
	for (int i = 0; i < IPFIX_N_NAT_TEMPLATES; i++)
		CHECK_U64(d[IPFIX_N_TEMPLATES + i].n_fields, n_fields_v9[i]);
}

int main(void)
{
	RUN(test_describe_ipfix);
	RUN(test_describe_netflow9);
	RUN(test_describe_nat_events);
	RUN(test_options);
	RUN(test_record_flow);
	return tu_finish();
}
