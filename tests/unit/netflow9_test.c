// SPDX-License-Identifier: GPL-2.0-only
/*
 * src/netflow9.c: encode known records as NetFlow v9 and decode the packets
 * with a v9 parser written here from RFC 3954 (not from the encoder's
 * tables): packet headers (version, count, sysUptime, UNIX seconds,
 * sequence, source id), flowset padding, template and options template
 * records (no enterprise fields, scope types), every field of the flow
 * records by IANA id, the options records, and the message size limit (at
 * every limit from 512 to 9000 bytes, with flows, options records and
 * templates interleaved, each message filled exactly to what fits).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <glib.h>

#include "netflow9.h"
#include "testutil.h"
#include "emit_capture.h"

#define SOURCE_ID 4711
#define MAX_FIELDS 64

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t rd(const uint8_t *p, int len)
{
	uint64_t v = 0;

	for (int i = 0; i < len; i++)
		v = v << 8 | p[i];
	return v;
}

/* A template as the collector learns it. */
struct v9_template {
	uint16_t tid;
	int n_scopes; /* options templates: scope fields first */
	int n;
	uint16_t type[MAX_FIELDS];
	uint16_t len[MAX_FIELDS];
	bool options;
};

/* One decoded data record: field type -> bytes. */
struct v9_record {
	uint16_t tid;
	int n;
	uint16_t type[MAX_FIELDS];
	uint16_t len[MAX_FIELDS];
	const uint8_t *val[MAX_FIELDS];
	bool scope[MAX_FIELDS];
};

struct decoder {
	struct v9_template tmpl[32];
	int n_tmpl;
	struct v9_record rec[4096];
	int n_rec;
	uint32_t next_seq;
	int packets;
};

static struct v9_template *tmpl_find(struct decoder *d, uint16_t tid)
{
	for (int i = 0; i < d->n_tmpl; i++)
		if (d->tmpl[i].tid == tid)
			return &d->tmpl[i];
	return NULL;
}

static struct v9_template *tmpl_slot(struct decoder *d, uint16_t tid)
{
	struct v9_template *t = tmpl_find(d, tid);

	if (!t) {
		if (d->n_tmpl >= 32)
			abort();
		t = &d->tmpl[d->n_tmpl++];
	}
	memset(t, 0, sizeof(*t));
	t->tid = tid;
	return t;
}

/* Decode one packet; returns false on any format error (and CHECKs it). */
static bool decode_packet(struct decoder *d, const uint8_t *p, size_t len, uint64_t init_ms)
{
	size_t off = 20;
	int records = 0;
	struct timespec ts;
	uint64_t now_ms;

	clock_gettime(CLOCK_REALTIME, &ts);
	now_ms = (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	CHECK(len >= 20);
	CHECK_U64(rd16(p), 9);
	CHECK_U64(rd32(p + 12), d->next_seq);
	CHECK_U64(rd32(p + 16), SOURCE_ID);
	/* sysUptime: ms since init_ms, UNIX seconds: now */
	CHECK(rd32(p + 4) <= now_ms - init_ms && rd32(p + 4) + 2000 >= now_ms - init_ms);
	CHECK(rd32(p + 8) <= now_ms / 1000 && rd32(p + 8) + 2 >= now_ms / 1000);
	d->next_seq++;
	d->packets++;
	while (off + 4 <= len) {
		uint16_t id = rd16(p + off), slen = rd16(p + off + 2);
		size_t end = off + slen, q = off + 4;

		CHECK(slen >= 4 && slen % 4 == 0 && end <= len);
		if (slen < 4 || end > len)
			return false;
		if (id == 0) {
			while (q + 4 <= end) {
				struct v9_template *t = tmpl_slot(d, rd16(p + q));
				int n = rd16(p + q + 2);

				CHECK(n > 0 && n <= 60);
				CHECK(q + 4 + 4 * (size_t)n <= end);
				t->n = n;
				for (int i = 0; i < n; i++) {
					t->type[i] = rd16(p + q + 4 + 4 * i);
					t->len[i] = rd16(p + q + 6 + 4 * i);
					CHECK(t->type[i] < 32768); /* v9: no enterprise bit */
				}
				records++;
				q += 4 + 4 * n;
			}
		} else if (id == 1) {
			/* one options template per flowset (then padding) */
			struct v9_template *t = tmpl_slot(d, rd16(p + q));
			int scope_len = rd16(p + q + 2), opt_len = rd16(p + q + 4);

			CHECK(scope_len % 4 == 0 && opt_len % 4 == 0);
			CHECK(q + 6 + scope_len + opt_len <= end);
			CHECK(end - (q + 6 + scope_len + opt_len) < 4);
			t->options = true;
			t->n_scopes = scope_len / 4;
			t->n = (scope_len + opt_len) / 4;
			for (int i = 0; i < t->n; i++) {
				t->type[i] = rd16(p + q + 6 + 4 * i);
				t->len[i] = rd16(p + q + 8 + 4 * i);
			}
			records++;
		} else {
			struct v9_template *t = tmpl_find(d, id);
			size_t rlen = 0;

			CHECK(id >= 256 && t != NULL);
			if (!t)
				return false;
			for (int i = 0; i < t->n; i++)
				rlen += t->len[i];
			while (q + rlen <= end) {
				struct v9_record *r = &d->rec[d->n_rec++];

				r->tid = id;
				r->n = t->n;
				for (int i = 0; i < t->n; i++) {
					r->type[i] = t->type[i];
					r->len[i] = t->len[i];
					r->val[i] = p + q;
					r->scope[i] = i < t->n_scopes;
					q += t->len[i];
				}
				records++;
			}
			CHECK(end - q < 4); /* only padding left */
		}
		off = end;
	}
	CHECK(off == len);
	CHECK_U64(rd16(p + 2), records);
	return off == len;
}

static int decode_all(struct capture *c, struct decoder *d, uint64_t init_ms)
{
	for (int i = 0; i < c->n; i++)
		if (!decode_packet(d, c->msg[i], c->len[i], init_ms))
			return -1;
	return d->n_rec;
}

/* Field value of type in r (scope selects scope fields); NULL if absent. */
static const uint8_t *field(const struct v9_record *r, uint16_t type, bool scope, int *len)
{
	for (int i = 0; i < r->n; i++) {
		if (r->type[i] == type && r->scope[i] == scope) {
			if (len)
				*len = r->len[i];
			return r->val[i];
		}
	}
	return NULL;
}

static uint64_t num(const struct v9_record *r, uint16_t type)
{
	int len = 0;
	const uint8_t *v = field(r, type, false, &len);

	CHECK(v != NULL);
	return v ? rd(v, len) : ~0ULL;
}

static bool has(const struct v9_record *r, uint16_t type)
{
	return field(r, type, false, NULL) != NULL;
}

static void addr_is(const struct v9_record *r, uint16_t type, const char *text)
{
	uint8_t want[16];
	int len = 0;
	const uint8_t *v = field(r, type, false, &len);
	int family = strchr(text, ':') ? AF_INET6 : AF_INET;

	inet_pton(family, text, want);
	CHECK(v != NULL && len == (family == AF_INET6 ? 16 : 4));
	if (v && memcmp(v, want, len))
		CHECK(!"address differs");
}

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct netflow9_encoder *enc_new(struct capture *c, uint16_t max_len, uint64_t init_ms)
{
	struct ipfix_params params = {
		.observation_domain_id = SOURCE_ID,
		.enterprise_number = 32473,
		.zone_as_vrf = false, /* v9 carries the zone in ingressVRFID anyway */
		.max_message_len = max_len,
	};
	char err[256] = "";
	struct netflow9_encoder *enc =
		netflow9_encoder_new(&params, init_ms, capture_emit, c, err, sizeof(err));

	CHECK(enc != NULL);
	return enc;
}

static void ip(uint8_t *dst, const char *text)
{
	memset(dst, 0, 16);
	inet_pton(strchr(text, ':') ? AF_INET6 : AF_INET, text, dst);
}

static void record_v4_nat(struct flow_record *r)
{
	memset(r, 0, sizeof(*r));
	r->key.family = XF_FAMILY_IPV4;
	ip(r->key.src_addr, "198.18.0.2");
	ip(r->key.dst_addr, "198.19.0.53");
	r->key.src_port = 5353;
	r->key.dst_port = 53;
	r->key.proto = 17;
	r->key.ifindex = 4;
	r->key.direction = XF_DIR_EGRESS;
	r->key.vlan_id = 12;
	r->packets = 2;
	r->octets = 152;
	r->start_ms = 1764140002000ULL;
	r->end_ms = 1764140002250ULL;
	r->tos = 0x28;
	r->end_reason = FLOW_END_ACTIVE;
	memcpy(r->src_mac, "\x02\x00\x00\x00\x00\x01", 6);
	memcpy(r->dst_mac, "\x02\x00\x00\x00\x00\x02", 6);
	r->has_xlat = true;
	ip(r->xlat.pre_src, "198.18.0.2");
	ip(r->xlat.pre_dst, "198.19.0.53");
	ip(r->xlat.post_src, "198.18.100.1");
	ip(r->xlat.post_dst, "198.18.200.53");
	r->xlat.pre_sport = 5353;
	r->xlat.pre_dport = 53;
	r->xlat.post_sport = 61000;
	r->xlat.post_dport = 5353;
	r->xlat.zone_id = 5;
	r->xlat.observed = XLAT_OBSERVED_PRE;
	r->xlat.type = XLAT_TYPE_SNAT | XLAT_TYPE_DNAT;
}

static void record_v6_nat(struct flow_record *r)
{
	memset(r, 0, sizeof(*r));
	r->key.family = XF_FAMILY_IPV6;
	ip(r->key.src_addr, "2001:db8::1");
	ip(r->key.dst_addr, "2001:db8::2");
	r->key.src_port = 40002;
	r->key.dst_port = 80;
	r->key.proto = 6;
	r->key.ifindex = 5;
	r->packets = 5;
	r->octets = 400;
	r->start_ms = 1764140003000ULL;
	r->end_ms = 1764140004000ULL;
	r->tcp_flags = 0x12;
	r->end_reason = FLOW_END_END_OF_FLOW;
	r->has_xlat = true;
	ip(r->xlat.post_src, "2001:db8:100::1");
	ip(r->xlat.post_dst, "2001:db8:200::2");
	r->xlat.post_sport = 62000;
	r->xlat.post_dport = 8080;
	r->xlat.zone_id = 7;
}

static void record_icmp(struct flow_record *r)
{
	memset(r, 0, sizeof(*r));
	r->key.family = XF_FAMILY_IPV4;
	ip(r->key.src_addr, "198.18.0.3");
	ip(r->key.dst_addr, "198.19.0.10");
	r->key.dst_port = 8 << 8; /* echo request, code 0 */
	r->key.proto = 1;
	r->key.ifindex = 3;
	r->packets = 4;
	r->octets = 336;
	r->start_ms = 1764140005000ULL;
	r->end_ms = 1764140008000ULL;
	r->end_reason = FLOW_END_FORCED;
}

/* Templates: ids, field counts, standard post-NAT fields, no enterprise fields. */
static void check_templates(struct decoder *d)
{
	static const uint16_t want_tids[] = { 256, 257, 258, 259, 261, 262, 263, 264, 265 };
	struct v9_template *t;

	CHECK_U64(d->n_tmpl, sizeof(want_tids) / sizeof(want_tids[0]));
	for (size_t i = 0; i < sizeof(want_tids) / sizeof(want_tids[0]); i++)
		CHECK(tmpl_find(d, want_tids[i]) != NULL);
	t = tmpl_find(d, 256);
	if (t) {
		CHECK_U64(t->n, 19);
		CHECK(!t->options);
	}
	t = tmpl_find(d, 258);
	if (t) {
		/* 19 + 225, 226, 227, 228 + ingressVRFID */
		CHECK_U64(t->n, 24);
		CHECK_U64(t->type[19], 225);
		CHECK_U64(t->type[20], 226);
		CHECK_U64(t->type[21], 227);
		CHECK_U64(t->type[22], 228);
		CHECK_U64(t->type[23], 234);
	}
	t = tmpl_find(d, 259);
	if (t) {
		CHECK_U64(t->type[19], 281);
		CHECK_U64(t->len[19], 16);
		CHECK_U64(t->type[20], 282);
	}
	/* options: scope System (1) for the domain, Interface (2) for the interface table */
	t = tmpl_find(d, 261);
	if (t) {
		CHECK(t->options);
		CHECK_U64(t->n_scopes, 1);
		CHECK_U64(t->type[0], 1);
		CHECK_U64(t->len[0], 4);
		/* the enterprise collector counters are left out; exporterIPv4Address last */
		CHECK_U64(t->n, 9);
		CHECK_U64(t->type[8], 130);
		CHECK_U64(t->len[8], 4);
	}
	t = tmpl_find(d, 262);
	if (t) /* the enterprise counters are left out: 164, 135, 134, 160 */
		CHECK_U64(t->n, 5);
	t = tmpl_find(d, 264);
	if (t) {
		CHECK_U64(t->type[0], 2);
		CHECK_U64(t->type[1], 82);
		CHECK_U64(t->len[1], 16);
		CHECK_U64(t->type[2], 83);
		CHECK_U64(t->len[2], 64);
	}
}

static void test_flows_and_options(void)
{
	struct capture c = { 0 };
	struct decoder *d = g_new0(struct decoder, 1);
	uint64_t init_ms = wall_ms() - 5000;
	struct netflow9_encoder *enc = enc_new(&c, 1472, init_ms);
	struct flow_record r[3];
	struct ipfix_interface ifs[2] = {
		{ .ifindex = 3, .name = "eth0", .description = "uplink" },
		{ .ifindex = 7, .name = "veth-abcdefghijk", .description = "pod" },
	};
	struct ipfix_options opts = {
		.system_init_ms = init_ms,
		.exported_messages = 11,
		.exported_records = 22,
		.exported_octets = 3333,
		.not_sent_records = 4,
		.not_sent_packets = 44,
		.not_sent_octets = 4444,
		.sampling = 100,
		.metering = { .observed_packets = 1000,
			      .non_ip_packets = 3,
			      .malformed_packets = 2,
			      .sampled_out_packets = 990,
			      .lost_packets = 6,
			      .lost_octets = 600 },
		.interfaces = ifs,
		.n_interfaces = 2,
	};
	const struct v9_record *v4 = NULL, *v6 = NULL, *icmp = NULL;
	int n, flows = 0;

	if (!enc)
		return;
	record_v4_nat(&r[0]);
	record_v6_nat(&r[1]);
	record_icmp(&r[2]);
	CHECK_U64(netflow9_encoder_add_templates(enc), 0);
	CHECK_U64(netflow9_encoder_add_options(enc, &opts), 0);
	for (int i = 0; i < 3; i++)
		CHECK_U64(netflow9_encoder_add(enc, &r[i]), 0);
	CHECK_U64(netflow9_encoder_pending(enc), 3);
	CHECK_U64(netflow9_encoder_flush(enc), 0);
	CHECK_U64(netflow9_encoder_pending(enc), 0);
	CHECK_U64(c.n, 1); /* everything fits one 1472-byte packet */
	CHECK_U64(c.records[0], 3);
	n = decode_all(&c, d, init_ms);
	CHECK_U64(n, 3 + 6); /* 3 flows; exporter, metering, sampling, selector, 2 interfaces */
	check_templates(d);

	for (int i = 0; i < d->n_rec; i++) {
		const struct v9_record *x = &d->rec[i];

		if (x->tid == 258)
			v4 = x;
		else if (x->tid == 259)
			v6 = x;
		else if (x->tid == 256)
			icmp = x;
		if (x->tid >= 256 && x->tid <= 259)
			flows++;
	}
	CHECK_U64(flows, 3);
	CHECK(v4 && v6 && icmp);
	if (v4) {
		CHECK_U64(num(v4, 152), 1764140002000ULL);
		CHECK_U64(num(v4, 153), 1764140002250ULL);
		CHECK_U64(num(v4, 1), 152);
		CHECK_U64(num(v4, 2), 2);
		addr_is(v4, 8, "198.18.0.2");
		addr_is(v4, 12, "198.19.0.53");
		CHECK_U64(num(v4, 7), 5353);
		CHECK_U64(num(v4, 11), 53);
		CHECK_U64(num(v4, 4), 17);
		CHECK_U64(num(v4, 5), 0x28);
		CHECK_U64(num(v4, 10), 0);
		CHECK_U64(num(v4, 14), 4);
		CHECK_U64(num(v4, 61), 1);
		CHECK_U64(num(v4, 58), 12);
		CHECK_U64(num(v4, 136), FLOW_END_ACTIVE);
		CHECK_U64(num(v4, 56), 0x020000000001ULL);
		CHECK_U64(num(v4, 80), 0x020000000002ULL);
		addr_is(v4, 225, "198.18.100.1");
		addr_is(v4, 226, "198.18.200.53");
		CHECK_U64(num(v4, 227), 61000);
		CHECK_U64(num(v4, 228), 5353);
		CHECK_U64(num(v4, 234), 5); /* the zone */
	}
	if (v6) {
		addr_is(v6, 27, "2001:db8::1");
		addr_is(v6, 28, "2001:db8::2");
		addr_is(v6, 281, "2001:db8:100::1");
		addr_is(v6, 282, "2001:db8:200::2");
		CHECK_U64(num(v6, 227), 62000);
		CHECK_U64(num(v6, 228), 8080);
		CHECK_U64(num(v6, 6), 0x12);
		CHECK_U64(num(v6, 234), 7);
		CHECK(!has(v6, 8));
	}
	if (icmp) {
		CHECK_U64(num(icmp, 32), 0x0800);
		CHECK_U64(num(icmp, 7), 0);
		CHECK_U64(num(icmp, 11), 0);
		CHECK(!has(icmp, 225) && !has(icmp, 234));
	}

	for (int i = 0; i < d->n_rec; i++) {
		const struct v9_record *x = &d->rec[i];
		int len = 0;
		const uint8_t *scope = field(x, x->tid == 264 ? 2 : 1, true, &len);

		if (x->tid < 261)
			continue;
		CHECK(scope != NULL && len == 4);
		if (x->tid != 264 && scope)
			CHECK_U64(rd32(scope), SOURCE_ID);
		switch (x->tid) {
		case 261:
			CHECK_U64(num(x, 41), 11);
			CHECK_U64(num(x, 42), 22);
			CHECK_U64(num(x, 40), 3333);
			CHECK_U64(num(x, 166), 4);
			CHECK_U64(num(x, 167), 44);
			CHECK_U64(num(x, 168), 4444);
			CHECK_U64(num(x, 160), init_ms);
			break;
		case 262:
			CHECK_U64(num(x, 164), 5);
			CHECK_U64(num(x, 135), 6);
			CHECK_U64(num(x, 134), 600);
			break;
		case 263:
			CHECK_U64(num(x, 34), 100);
			CHECK_U64(num(x, 35), 2);
			break;
		case 265: {
			double p;
			uint64_t bits = num(x, 311);

			memcpy(&p, &bits, 8);
			CHECK_U64(num(x, 302), 1);
			CHECK_U64(num(x, 304), 4);
			CHECK_U64(num(x, 305), 1);
			CHECK_U64(num(x, 306), 99);
			CHECK(p == 0.01);
			CHECK_U64(num(x, 318), 1000);
			CHECK_U64(num(x, 319), 10);
			break;
		}
		case 264: {
			const uint8_t *name = field(x, 82, false, &len);
			const uint8_t *descr;

			CHECK(name != NULL && len == 16);
			descr = field(x, 83, false, &len);
			CHECK(descr != NULL && len == 64);
			if (!name || !descr || !scope)
				break;
			if (rd32(scope) == 3) {
				CHECK(!memcmp(name, "eth0\0\0\0\0\0\0\0\0\0\0\0\0", 16));
				CHECK(!memcmp(descr, "uplink", 7));
			} else {
				CHECK_U64(rd32(scope), 7);
				/* 16 characters fill the field, no terminator */
				CHECK(!memcmp(name, "veth-abcdefghijk", 16));
			}
			break;
		}
		default: CHECK(!"unexpected options template");
		}
	}
	netflow9_encoder_free(enc);
	capture_free(&c);
	g_free(d);
}

/* A small limit: every packet within it, every record decoded, none split. */
static void test_message_limit(void)
{
	struct capture c = { 0 };
	struct decoder *d = g_new0(struct decoder, 1);
	uint64_t init_ms = wall_ms();
	struct netflow9_encoder *enc = enc_new(&c, 512, init_ms);
	struct flow_record r;
	uint64_t packets = 0;
	int n;

	if (!enc)
		return;
	CHECK_U64(netflow9_encoder_add_templates(enc), 0);
	for (int i = 1; i <= 3000; i++) {
		record_v4_nat(&r);
		r.packets = i;
		CHECK_U64(netflow9_encoder_add(enc, &r), 0);
	}
	netflow9_encoder_flush(enc);
	for (int i = 0; i < c.n; i++)
		CHECK(c.len[i] <= 512);
	CHECK(c.n > 3000 * 70 / 512);
	n = decode_all(&c, d, init_ms);
	CHECK_U64(n, 3000);
	for (int i = 0; i < d->n_rec; i++)
		packets += num(&d->rec[i], 2);
	CHECK_U64(packets, 3000ULL * 3001 / 2);
	netflow9_encoder_free(enc);
	capture_free(&c);
	g_free(d);
}

/*
 * A mix is a string of steps, repeated until the encoder has emitted a
 * full message: a flow record of one template (4 IPv4, 6 IPv6, N IPv4 NAT,
 * M IPv6 NAT), a round of options records (o: exporter, metering,
 * sampling, selector, two interfaces) or the templates again (t); r is one
 * of those at random. A record of another template than the one before
 * opens a flowset, closing (and padding) the one before.
 */
static const char *const mixes[] = {
	/* one long flowset (6 and N pad as 4 and M do) */
	"4",
	"M",
	/* a flowset per step */
	"46NM",
	"M6N4o",
	"4N6Mt",
	"oNt4M6",
	/* runs, with options and templates between them */
	"44NNN6MMMMo",
	"NMo4t6",
	"r",
};

#define SWEEP_RECORDS 4096

struct sweep {
	struct capture c;
	struct decoder d;
	struct flow_record v4, v6;	  /* the records steps add (has_xlat, packets per step) */
	uint16_t want_tid[SWEEP_RECORDS]; /* flow records in the order added */
	int n_flows, n_options, n_templates;
	uint64_t rng;
};

/* xorshift64*: the same steps on every run. */
static uint64_t sweep_rnd(struct sweep *s)
{
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return s->rng * 0x2545f4914f6cdd1dULL;
}

/* One step of a mix; false if the encoder refused it. */
static bool sweep_step(struct sweep *s, struct netflow9_encoder *enc, char op,
		       const struct ipfix_options *opts)
{
	struct flow_record r;

	if (op == 'r')
		op = "46NMMN46ot"[sweep_rnd(s) % 10];
	switch (op) {
	case 'o':
		s->n_options += 4 + opts->n_interfaces;
		return netflow9_encoder_add_options(enc, opts) == 0;
	case 't': s->n_templates += 9; return netflow9_encoder_add_templates(enc) == 0;
	case '4':
	case 'N': r = s->v4; break;
	default: r = s->v6; break;
	}
	r.has_xlat = op == 'N' || op == 'M';
	r.packets = s->n_flows; /* the record's place, checked when decoded */
	s->want_tid[s->n_flows++] = op == '4' ? 256 : op == '6' ? 257 : op == 'N' ? 258 : 259;
	return netflow9_encoder_add(enc, &r) == 0;
}

static size_t pad4(size_t len)
{
	return (4 - len % 4) % 4;
}

/* Bytes of one data record of template tid, as the decoder learned it. */
static size_t record_len(struct decoder *d, uint16_t tid)
{
	struct v9_template *t = tmpl_find(d, tid);
	size_t len = 0;

	for (int i = 0; t && i < t->n; i++)
		len += t->len[i];
	return len;
}

/* The first record of a packet: its flowset id and length. */
static size_t first_record(struct decoder *d, const uint8_t *p, uint16_t *id)
{
	const uint8_t *set = p + 20;

	*id = rd16(set);
	if (*id == 0)
		return 4 + 4 * (size_t)rd16(set + 6);
	if (*id == 1)
		return 6 + rd16(set + 6) + rd16(set + 8);
	return record_len(d, *id);
}

/*
 * Whether the first record of packet next had fit at the end of packet p
 * of len bytes under limit: in p's last flowset if that is of its id (not
 * options templates, one per flowset) or in a new one, with RFC 3954
 * padding to 4 bytes.
 */
static bool had_room(struct decoder *d, const uint8_t *p, size_t len, const uint8_t *next,
		     unsigned limit)
{
	size_t off = 20, last = 20, used, r;
	uint16_t id, last_id;

	for (; off + 4 <= len; off += rd16(p + off + 2))
		last = off;
	last_id = rd16(p + last);
	r = first_record(d, next, &id);
	if (id != last_id || id == 1)
		return len + 4 + r + pad4(4 + r) <= limit;
	/* the last flowset before padding (shorter than a record) */
	used = rd16(p + last + 2);
	if (id >= 256)
		used = 4 + (used - 4) / r * r;
	return last + used + r + pad4(used + r) <= limit;
}

/*
 * One mix at one limit: the templates, then steps until a message went
 * out, then the rest flushed. Every message within the limit and decoded
 * completely, every record in its place, and the message that went out
 * full had no room for the record that opens the next one (the limit is
 * not met by wasting room). Says why and returns false on the first
 * problem.
 */
static bool sweep_run(struct sweep *s, struct netflow9_encoder *enc, unsigned limit,
		      const char *mix, const struct ipfix_options *opts, uint64_t init_ms)
{
	struct decoder *d = &s->d;
	int flows = 0, options = 0, header_count = 0, n_rec;
	uint32_t flows_emitted = 0;

	s->n_flows = s->n_options = 0;
	s->n_templates = 9;
	if (netflow9_encoder_add_templates(enc))
		goto refused;
	for (size_t i = 0; s->c.n == 0; i = mix[i + 1] ? i + 1 : 0) {
		if (s->n_flows + s->n_options + s->n_templates > SWEEP_RECORDS - 16 ||
		    !sweep_step(s, enc, mix[i], opts))
			goto refused;
	}
	if (netflow9_encoder_flush(enc))
		goto refused;
	for (int i = 0; i < s->c.n; i++) {
		if (s->c.len[i] > limit) {
			fprintf(stderr, "limit %u mix %s: message %d is %zu bytes\n", limit, mix, i,
				s->c.len[i]);
			return false;
		}
		header_count += rd16(s->c.msg[i] + 2);
		flows_emitted += s->c.records[i];
	}
	d->n_rec = 0;
	n_rec = decode_all(&s->c, d, init_ms);
	if (n_rec < 0) {
		fprintf(stderr, "limit %u mix %s: decode error\n", limit, mix);
		return false;
	}
	for (int i = 0; i < n_rec; i++) {
		const struct v9_record *x = &d->rec[i];

		if (x->tid >= IPFIX_TID_EXPORTER) {
			options++;
			continue;
		}
		if (flows >= s->n_flows || x->tid != s->want_tid[flows] ||
		    num(x, 2) != (uint64_t)flows) {
			fprintf(stderr, "limit %u mix %s: flow record %d out of place\n", limit,
				mix, flows);
			return false;
		}
		flows++;
	}
	/* the header counts template records too */
	if (flows != s->n_flows || options != s->n_options ||
	    header_count - n_rec != s->n_templates || flows_emitted != (uint32_t)s->n_flows) {
		fprintf(stderr,
			"limit %u mix %s: decoded %d flows, %d options, %d templates "
			"(emit said %u flows) of %d, %d, %d\n",
			limit, mix, flows, options, header_count - n_rec, flows_emitted, s->n_flows,
			s->n_options, s->n_templates);
		return false;
	}
	if (s->c.n < 2 || had_room(d, s->c.msg[0], s->c.len[0], s->c.msg[1], limit)) {
		fprintf(stderr, "limit %u mix %s: the full message (%zu bytes) had room\n", limit,
			mix, s->c.len[0]);
		return false;
	}
	capture_free(&s->c);
	return true;
refused:
	fprintf(stderr, "limit %u mix %s: the encoder refused a step\n", limit, mix);
	return false;
}

/*
 * Every limit from 512 to 9000 bytes (a collector's mtu less 28 bytes of
 * IPv4 and UDP headers, or 48 over IPv6: every mtu from 576 to 9028) with
 * every mix: flowsets of every length, closed at every offset from the
 * limit. Too little room counted for padding wrote past the message buffer
 * (AddressSanitizer, scripts/sanitize.sh) and sent messages over the limit
 * (seen at 1451, 1478 and 1479 bytes).
 */
static void test_every_limit(void)
{
	struct sweep *s = g_new0(struct sweep, 1);
	struct ipfix_interface ifs[2] = {
		{ .ifindex = 3, .name = "eth0", .description = "uplink" },
		{ .ifindex = 7, .name = "veth-abcdefghijk", .description = "pod" },
	};
	struct ipfix_options opts = { .sampling = 1, .interfaces = ifs, .n_interfaces = 2 };
	uint64_t init_ms = wall_ms();
	int bad = 0, runs = 0;

	s->rng = 0x9e3779b97f4a7c15ULL;
	record_v4_nat(&s->v4);
	record_v6_nat(&s->v6);
	for (unsigned limit = IPFIX_MIN_MESSAGE_LEN; limit <= 9000 && bad < 10; limit++) {
		struct netflow9_encoder *enc = enc_new(&s->c, (uint16_t)limit, init_ms);

		s->d.n_tmpl = 0;
		s->d.next_seq = 0;
		for (size_t m = 0; enc && m < sizeof(mixes) / sizeof(mixes[0]); m++, runs++) {
			if (!sweep_run(s, enc, limit, mixes[m], &opts, init_ms)) {
				bad++;
				break; /* the encoder and the decoder disagree from here on */
			}
		}
		capture_free(&s->c);
		netflow9_encoder_free(enc);
	}
	CHECK_U64(bad, 0);
	CHECK_U64(runs, (9000 - IPFIX_MIN_MESSAGE_LEN + 1) * (sizeof(mixes) / sizeof(mixes[0])));
	g_free(s);
}

static void test_errors(void)
{
	struct capture c = { 0 };
	struct ipfix_params params = { .observation_domain_id = 1, .max_message_len = 200 };
	char err[256] = "";
	struct netflow9_encoder *enc;
	struct flow_record r;

	CHECK(netflow9_encoder_new(&params, 0, capture_emit, &c, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "below the minimum") != NULL);
	enc = enc_new(&c, 1472, wall_ms());
	if (!enc)
		return;
	memset(&r, 0, sizeof(r));
	r.key.family = 99;
	CHECK_U64(netflow9_encoder_add(enc, &r), (uint64_t)-EINVAL);
	CHECK_U64(netflow9_encoder_flush(enc), 0);
	CHECK_U64(c.n, 0); /* nothing to send */
	netflow9_encoder_free(enc);
	netflow9_encoder_free(NULL);
}

int main(void)
{
	RUN(test_flows_and_options);
	RUN(test_message_limit);
	RUN(test_every_limit);
	RUN(test_errors);
	return tu_finish();
}
