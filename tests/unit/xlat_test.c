// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit test of src/xlat.c: every kind of translation looked up through all
 * four tuples its packets can carry, with exact xlat_info values; zones,
 * refresh, replacement, expiry on an injected clock, removal with grace, and
 * a large table to exercise index growth, shrinking and deletion.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "xlat.h"

static void addr(uint8_t out[16], const char *text)
{
	memset(out, 0, 16);
	if (strchr(text, ':')) {
		if (inet_pton(AF_INET6, text, out) != 1)
			abort();
	} else if (inet_pton(AF_INET, text, out) != 1) {
		abort();
	}
}

static uint8_t family_of(const char *text)
{
	return strchr(text, ':') ? XF_FAMILY_IPV6 : XF_FAMILY_IPV4;
}

static void tuple(struct xf_tuple *t, uint8_t proto, const char *src, uint16_t sport,
		  const char *dst, uint16_t dport)
{
	memset(t, 0, sizeof(*t));
	addr(t->src_addr, src);
	addr(t->dst_addr, dst);
	t->src_port = sport;
	t->dst_port = dport;
	t->proto = proto;
	t->family = family_of(src);
}

/* Connection C:cp -> S:sp, reply B:bp -> N:np (N = C' after SNAT). */
static struct xf_xlat_event event(uint8_t proto, const char *c, uint16_t cp, const char *s,
				  uint16_t sp, const char *b, uint16_t bp, const char *n,
				  uint16_t np, uint16_t zone)
{
	struct xf_xlat_event ev;

	memset(&ev, 0, sizeof(ev));
	tuple(&ev.orig, proto, c, cp, s, sp);
	tuple(&ev.reply, proto, b, bp, n, np);
	ev.zone_id = zone;
	ev.source = XF_XLAT_SRC_CONNTRACK;
	return ev;
}

static struct xf_flow_key flow(uint8_t proto, const char *src, uint16_t sport, const char *dst,
			       uint16_t dport)
{
	struct xf_flow_key k;

	memset(&k, 0, sizeof(k));
	addr(k.src_addr, src);
	addr(k.dst_addr, dst);
	k.src_port = sport;
	k.dst_port = dport;
	k.proto = proto;
	k.family = family_of(src);
	k.ifindex = 7;
	k.direction = XF_DIR_INGRESS;
	return k;
}

struct expect {
	const char *pre_src;
	uint16_t pre_sport;
	const char *pre_dst;
	uint16_t pre_dport;
	const char *post_src;
	uint16_t post_sport;
	const char *post_dst;
	uint16_t post_dport;
	uint8_t observed;
	uint8_t type;
	uint16_t zone;
};

static void check_addr(const uint8_t got[16], const char *want, const char *what, int line)
{
	uint8_t w[16];
	char gs[INET6_ADDRSTRLEN], ws[INET6_ADDRSTRLEN];
	int af = family_of(want) == XF_FAMILY_IPV6 ? AF_INET6 : AF_INET;

	addr(w, want);
	if (memcmp(got, w, 16) != 0) {
		inet_ntop(af, got, gs, sizeof(gs));
		inet_ntop(af, w, ws, sizeof(ws));
		fprintf(stderr, "line %d: %s is %s, expected %s\n", line, what, gs, ws);
		tu_failures++;
	}
}

#define EXPECT_XLAT(tab, key, ...) expect_xlat(tab, key, (struct expect){ __VA_ARGS__ }, __LINE__)

static void expect_xlat(const struct xlat_table *tab, struct xf_flow_key key, struct expect e,
			int line)
{
	struct xlat_info xi;

	memset(&xi, 0xa5, sizeof(xi));
	if (!xlat_table_lookup(tab, &key, &xi)) {
		fprintf(stderr, "line %d: lookup failed\n", line);
		tu_failures++;
		return;
	}
	check_addr(xi.pre_src, e.pre_src, "pre_src", line);
	check_addr(xi.pre_dst, e.pre_dst, "pre_dst", line);
	check_addr(xi.post_src, e.post_src, "post_src", line);
	check_addr(xi.post_dst, e.post_dst, "post_dst", line);
	if (xi.pre_sport != e.pre_sport || xi.pre_dport != e.pre_dport ||
	    xi.post_sport != e.post_sport || xi.post_dport != e.post_dport ||
	    xi.observed != e.observed || xi.type != e.type || xi.zone_id != e.zone) {
		fprintf(stderr,
			"line %d: ports %u>%u / %u>%u observed %u type %u zone %u, expected "
			"%u>%u / %u>%u observed %u type %u zone %u\n",
			line, xi.pre_sport, xi.pre_dport, xi.post_sport, xi.post_dport, xi.observed,
			xi.type, xi.zone_id, e.pre_sport, e.pre_dport, e.post_sport, e.post_dport,
			e.observed, e.type, e.zone);
		tu_failures++;
	}
}

static bool found(const struct xlat_table *tab, struct xf_flow_key key)
{
	struct xlat_info xi;

	return xlat_table_lookup(tab, &key, &xi);
}

#define C "198.18.1.2"
#define S "198.19.0.10"
#define B "198.18.2.2"
#define PRE XLAT_OBSERVED_PRE
#define POST XLAT_OBSERVED_POST
#define SNAT XLAT_TYPE_SNAT
#define DNAT XLAT_TYPE_DNAT

/* Kubernetes ClusterIP: C:40000 -> S:80 DNATed to B:8080, client kept. */
static void test_clusterip_dnat(void)
{
	struct xlat_table *tab = xlat_table_new(60000, XLAT_MAX_TRANSLATIONS);
	struct xf_xlat_event ev = event(IPPROTO_TCP, C, 40000, S, 80, B, 8080, C, 40000, 0);

	xlat_table_update(tab, &ev, 1000);
	CHECK_U64(xlat_table_size(tab), 1);
	/* O: client -> service, before DNAT */
	EXPECT_XLAT(tab, flow(IPPROTO_TCP, C, 40000, S, 80), C, 40000, S, 80, C, 40000, B, 8080,
		    PRE, DNAT, 0);
	/* rev(R): client -> backend, after DNAT */
	EXPECT_XLAT(tab, flow(IPPROTO_TCP, C, 40000, B, 8080), C, 40000, S, 80, C, 40000, B, 8080,
		    POST, DNAT, 0);
	/* R: backend -> client, before un-DNAT */
	EXPECT_XLAT(tab, flow(IPPROTO_TCP, B, 8080, C, 40000), B, 8080, C, 40000, S, 80, C, 40000,
		    PRE, DNAT, 0);
	/* rev(O): service -> client, after un-DNAT */
	EXPECT_XLAT(tab, flow(IPPROTO_TCP, S, 80, C, 40000), B, 8080, C, 40000, S, 80, C, 40000,
		    POST, DNAT, 0);

	/* Anything else is not this connection. */
	CHECK(!found(tab, flow(IPPROTO_TCP, C, 40001, S, 80)));
	CHECK(!found(tab, flow(IPPROTO_UDP, C, 40000, S, 80)));
	CHECK(!found(tab, flow(IPPROTO_TCP, S, 80, B, 8080)));
	CHECK(!found(tab, flow(IPPROTO_TCP, "::1", 40000, "::2", 80)));
	xlat_table_free(tab);
}

/* NodePort: C:40001 -> node 198.18.0.1:30080, DNAT to B:8080, SNAT to 198.18.2.1:61000. */
static void test_nodeport_dnat_snat(void)
{
	struct xlat_table *tab = xlat_table_new(60000, XLAT_MAX_TRANSLATIONS);
	const char *n = "198.18.0.1", *cn = "198.18.2.1";
	struct xf_xlat_event ev = event(IPPROTO_TCP, C, 40001, n, 30080, B, 8080, cn, 61000, 0);

	xlat_table_update(tab, &ev, 1000);
	EXPECT_XLAT(tab, flow(IPPROTO_TCP, C, 40001, n, 30080), C, 40001, n, 30080, cn, 61000, B,
		    8080, PRE, SNAT | DNAT, 0);
	EXPECT_XLAT(tab, flow(IPPROTO_TCP, cn, 61000, B, 8080), C, 40001, n, 30080, cn, 61000, B,
		    8080, POST, SNAT | DNAT, 0);
	EXPECT_XLAT(tab, flow(IPPROTO_TCP, B, 8080, cn, 61000), B, 8080, cn, 61000, n, 30080, C,
		    40001, PRE, SNAT | DNAT, 0);
	EXPECT_XLAT(tab, flow(IPPROTO_TCP, n, 30080, C, 40001), B, 8080, cn, 61000, n, 30080, C,
		    40001, POST, SNAT | DNAT, 0);
	xlat_table_free(tab);
}

/* Masquerade: C:50000 -> 198.18.3.3:443 leaves as 198.18.0.1:1024. */
static void test_masquerade_snat(void)
{
	struct xlat_table *tab = xlat_table_new(60000, XLAT_MAX_TRANSLATIONS);
	const char *d = "198.18.3.3", *m = "198.18.0.1";
	struct xf_xlat_event ev = event(IPPROTO_UDP, C, 50000, d, 443, d, 443, m, 1024, 0);

	xlat_table_update(tab, &ev, 1000);
	EXPECT_XLAT(tab, flow(IPPROTO_UDP, C, 50000, d, 443), C, 50000, d, 443, m, 1024, d, 443,
		    PRE, SNAT, 0);
	EXPECT_XLAT(tab, flow(IPPROTO_UDP, m, 1024, d, 443), C, 50000, d, 443, m, 1024, d, 443,
		    POST, SNAT, 0);
	EXPECT_XLAT(tab, flow(IPPROTO_UDP, d, 443, m, 1024), d, 443, m, 1024, d, 443, C, 50000, PRE,
		    SNAT, 0);
	EXPECT_XLAT(tab, flow(IPPROTO_UDP, d, 443, C, 50000), d, 443, m, 1024, d, 443, C, 50000,
		    POST, SNAT, 0);
	xlat_table_free(tab);
}

static void test_ipv6_dnat(void)
{
	struct xlat_table *tab = xlat_table_new(60000, XLAT_MAX_TRANSLATIONS);
	const char *c6 = "2001:db8:1::2", *s6 = "2001:db8:ffff::10", *b6 = "2001:db8:2::2";
	struct xf_xlat_event ev = event(IPPROTO_TCP, c6, 40000, s6, 80, b6, 8080, c6, 40000, 3);

	xlat_table_update(tab, &ev, 1000);
	EXPECT_XLAT(tab, flow(IPPROTO_TCP, c6, 40000, s6, 80), c6, 40000, s6, 80, c6, 40000, b6,
		    8080, PRE, DNAT, 3);
	EXPECT_XLAT(tab, flow(IPPROTO_TCP, c6, 40000, b6, 8080), c6, 40000, s6, 80, c6, 40000, b6,
		    8080, POST, DNAT, 3);
	EXPECT_XLAT(tab, flow(IPPROTO_TCP, b6, 8080, c6, 40000), b6, 8080, c6, 40000, s6, 80, c6,
		    40000, PRE, DNAT, 3);
	EXPECT_XLAT(tab, flow(IPPROTO_TCP, s6, 80, c6, 40000), b6, 8080, c6, 40000, s6, 80, c6,
		    40000, POST, DNAT, 3);
	/* The IPv4 connection with the same low bytes is a different key. */
	CHECK(!found(tab, flow(IPPROTO_TCP, C, 40000, S, 80)));
	xlat_table_free(tab);
}

/*
 * ping C -> S DNATed to B. Flow keys carry type/code in dst_port (request
 * 8/0, reply 0/0); the table matches on addresses only and reports ports 0.
 */
static void test_icmp_echo(void)
{
	struct xlat_table *tab = xlat_table_new(60000, XLAT_MAX_TRANSLATIONS);
	struct xf_xlat_event ev = event(IPPROTO_ICMP, C, 0, S, 0, B, 0, C, 0, 0);

	xlat_table_update(tab, &ev, 1000);
	EXPECT_XLAT(tab, flow(IPPROTO_ICMP, C, 0, S, 8 << 8), C, 0, S, 0, C, 0, B, 0, PRE, DNAT, 0);
	EXPECT_XLAT(tab, flow(IPPROTO_ICMP, C, 0, B, 8 << 8), C, 0, S, 0, C, 0, B, 0, POST, DNAT,
		    0);
	EXPECT_XLAT(tab, flow(IPPROTO_ICMP, B, 0, C, 0), B, 0, C, 0, S, 0, C, 0, PRE, DNAT, 0);
	EXPECT_XLAT(tab, flow(IPPROTO_ICMP, S, 0, C, 0), B, 0, C, 0, S, 0, C, 0, POST, DNAT, 0);
	/* Destination unreachable 3/3 between the same hosts finds it too. */
	EXPECT_XLAT(tab, flow(IPPROTO_ICMP, S, 0, C, 3 << 8 | 3), B, 0, C, 0, S, 0, C, 0, POST,
		    DNAT, 0);
	CHECK(!found(tab, flow(IPPROTO_TCP, C, 0, S, 8 << 8)));

	/* ICMPv6 echo 128 / reply 129, through masquerade; stray ports ignored. */
	const char *c6 = "2001:db8:1::2", *d6 = "2001:db8:3::3", *m6 = "2001:db8::1";
	struct xf_xlat_event ev6 = event(IPPROTO_ICMPV6, c6, 0x1234, d6, 0, d6, 0, m6, 0x1234, 0);

	xlat_table_update(tab, &ev6, 1000);
	CHECK_U64(xlat_table_size(tab), 2);
	EXPECT_XLAT(tab, flow(IPPROTO_ICMPV6, c6, 0, d6, 128 << 8), c6, 0, d6, 0, m6, 0, d6, 0, PRE,
		    SNAT, 0);
	EXPECT_XLAT(tab, flow(IPPROTO_ICMPV6, m6, 0, d6, 128 << 8), c6, 0, d6, 0, m6, 0, d6, 0,
		    POST, SNAT, 0);
	EXPECT_XLAT(tab, flow(IPPROTO_ICMPV6, d6, 0, m6, 129 << 8), d6, 0, m6, 0, d6, 0, c6, 0, PRE,
		    SNAT, 0);
	EXPECT_XLAT(tab, flow(IPPROTO_ICMPV6, d6, 0, c6, 129 << 8), d6, 0, m6, 0, d6, 0, c6, 0,
		    POST, SNAT, 0);
	xlat_table_free(tab);
}

/* The same tuples in two zones are one entry: the last event wins. */
static void test_two_zones(void)
{
	struct xlat_table *tab = xlat_table_new(60000, XLAT_MAX_TRANSLATIONS);
	struct xf_xlat_event z1 = event(IPPROTO_TCP, C, 40000, S, 80, B, 8080, C, 40000, 1);
	struct xf_xlat_event z2 = z1;
	struct xf_xlat_event other = event(IPPROTO_TCP, C, 40002, S, 80, B, 8080, C, 40002, 7);
	struct xf_xlat_event z2b =
		event(IPPROTO_TCP, C, 40000, S, 80, "198.18.2.3", 8080, C, 40000, 2);

	z2.zone_id = 2;
	xlat_table_update(tab, &z1, 1000);
	xlat_table_update(tab, &other, 1000);
	EXPECT_XLAT(tab, flow(IPPROTO_TCP, C, 40000, S, 80), C, 40000, S, 80, C, 40000, B, 8080,
		    PRE, DNAT, 1);
	EXPECT_XLAT(tab, flow(IPPROTO_TCP, S, 80, C, 40002), B, 8080, C, 40002, S, 80, C, 40002,
		    POST, DNAT, 7);
	xlat_table_update(tab, &z2, 1001);
	CHECK_U64(xlat_table_size(tab), 2);
	EXPECT_XLAT(tab, flow(IPPROTO_TCP, B, 8080, C, 40000), B, 8080, C, 40000, S, 80, C, 40000,
		    PRE, DNAT, 2);
	xlat_table_update(tab, &z1, 1002);
	EXPECT_XLAT(tab, flow(IPPROTO_TCP, C, 40000, B, 8080), C, 40000, S, 80, C, 40000, B, 8080,
		    POST, DNAT, 1);
	/* Zone 2 picks another backend for the same O: replaces zone 1's. */
	xlat_table_update(tab, &z2b, 1003);
	CHECK_U64(xlat_table_size(tab), 2);
	EXPECT_XLAT(tab, flow(IPPROTO_TCP, C, 40000, S, 80), C, 40000, S, 80, C, 40000,
		    "198.18.2.3", 8080, PRE, DNAT, 2);
	CHECK(!found(tab, flow(IPPROTO_TCP, B, 8080, C, 40000)));
	xlat_table_free(tab);
}

static void test_untranslated(void)
{
	struct xlat_table *tab = xlat_table_new(60000, XLAT_MAX_TRANSLATIONS);
	struct xf_xlat_event ev = event(IPPROTO_TCP, C, 40000, B, 8080, B, 8080, C, 40000, 0);

	xlat_table_update(tab, &ev, 1000);
	CHECK_U64(xlat_table_size(tab), 0);
	CHECK(!found(tab, flow(IPPROTO_TCP, C, 40000, B, 8080)));
	CHECK(!found(tab, flow(IPPROTO_TCP, B, 8080, C, 40000)));

	/* A translated connection that turns untranslated is dropped. */
	struct xf_xlat_event nat = event(IPPROTO_TCP, C, 40000, S, 80, B, 8080, C, 40000, 0);
	struct xf_xlat_event plain = event(IPPROTO_TCP, C, 40000, S, 80, S, 80, C, 40000, 0);

	xlat_table_update(tab, &nat, 1000);
	CHECK_U64(xlat_table_size(tab), 1);
	xlat_table_update(tab, &plain, 1001);
	CHECK_U64(xlat_table_size(tab), 0);
	CHECK(!found(tab, flow(IPPROTO_TCP, C, 40000, S, 80)));
	CHECK(!found(tab, flow(IPPROTO_TCP, B, 8080, C, 40000)));

	/* Unknown family or mismatched tuples are ignored. */
	nat.orig.family = 5;
	nat.reply.family = 5;
	xlat_table_update(tab, &nat, 1002);
	CHECK_U64(xlat_table_size(tab), 0);
	xlat_table_free(tab);
}

static void test_refresh_and_expiry(void)
{
	struct xlat_table *tab = xlat_table_new(5000, XLAT_MAX_TRANSLATIONS);
	struct xf_xlat_event a = event(IPPROTO_TCP, C, 40000, S, 80, B, 8080, C, 40000, 0);
	struct xf_xlat_event b = event(IPPROTO_TCP, C, 40001, S, 80, B, 8080, C, 40001, 0);

	xlat_table_update(tab, &a, 1000);
	xlat_table_update(tab, &b, 1000);
	xlat_table_update(tab, &a, 4000); /* refresh: same tuples */
	CHECK_U64(xlat_table_size(tab), 2);
	xlat_table_expire(tab, 5999);
	CHECK_U64(xlat_table_size(tab), 2);
	xlat_table_expire(tab, 6000); /* b unseen for 5000 ms */
	CHECK_U64(xlat_table_size(tab), 1);
	CHECK(!found(tab, flow(IPPROTO_TCP, C, 40001, S, 80)));
	CHECK(!found(tab, flow(IPPROTO_TCP, S, 80, C, 40001)));
	CHECK(found(tab, flow(IPPROTO_TCP, S, 80, C, 40000)));
	xlat_table_expire(tab, 8999);
	CHECK_U64(xlat_table_size(tab), 1);
	xlat_table_expire(tab, 9000);
	CHECK_U64(xlat_table_size(tab), 0);
	CHECK(!found(tab, flow(IPPROTO_TCP, C, 40000, B, 8080)));

	/* An event stamped before the clock of the last expire does not underflow. */
	xlat_table_update(tab, &a, 20000);
	xlat_table_expire(tab, 19000);
	CHECK_U64(xlat_table_size(tab), 1);
	xlat_table_free(tab);
}

/* Same O, new reply tuple (another backend): old keys gone, new ones found. */
static void test_replace(void)
{
	struct xlat_table *tab = xlat_table_new(5000, XLAT_MAX_TRANSLATIONS);
	struct xf_xlat_event a = event(IPPROTO_TCP, C, 40000, S, 80, B, 8080, C, 40000, 0);
	struct xf_xlat_event b =
		event(IPPROTO_TCP, C, 40000, S, 80, "198.18.2.9", 9090, "198.18.0.1", 2000, 4);

	xlat_table_update(tab, &a, 1000);
	xlat_table_update(tab, &b, 2000);
	CHECK_U64(xlat_table_size(tab), 1);
	CHECK(!found(tab, flow(IPPROTO_TCP, C, 40000, B, 8080)));
	CHECK(!found(tab, flow(IPPROTO_TCP, B, 8080, C, 40000)));
	EXPECT_XLAT(tab, flow(IPPROTO_TCP, C, 40000, S, 80), C, 40000, S, 80, "198.18.0.1", 2000,
		    "198.18.2.9", 9090, PRE, SNAT | DNAT, 4);
	EXPECT_XLAT(tab, flow(IPPROTO_TCP, "198.18.0.1", 2000, "198.18.2.9", 9090), C, 40000, S, 80,
		    "198.18.0.1", 2000, "198.18.2.9", 9090, POST, SNAT | DNAT, 4);
	EXPECT_XLAT(tab, flow(IPPROTO_TCP, "198.18.2.9", 9090, "198.18.0.1", 2000), "198.18.2.9",
		    9090, "198.18.0.1", 2000, S, 80, C, 40000, PRE, SNAT | DNAT, 4);
	EXPECT_XLAT(tab, flow(IPPROTO_TCP, S, 80, C, 40000), "198.18.2.9", 9090, "198.18.0.1", 2000,
		    S, 80, C, 40000, POST, SNAT | DNAT, 4);
	/* The replacement refreshed it: alive at 6999, gone at 7000. */
	xlat_table_expire(tab, 6999);
	CHECK_U64(xlat_table_size(tab), 1);
	xlat_table_expire(tab, 7000);
	CHECK_U64(xlat_table_size(tab), 0);
	xlat_table_free(tab);
}

static void test_remove_grace(void)
{
	struct xlat_table *tab = xlat_table_new(60000, XLAT_MAX_TRANSLATIONS);
	struct xf_xlat_event a = event(IPPROTO_TCP, C, 40000, S, 80, B, 8080, C, 40000, 0);
	struct xf_xlat_event b = event(IPPROTO_UDP, C, 53000, S, 53, B, 5353, C, 53000, 0);
	struct xf_tuple unknown;

	xlat_table_update(tab, &a, 1000);
	xlat_table_update(tab, &b, 1000);
	/* Removing by a non-original tuple or an unknown one does nothing. */
	xlat_table_remove(tab, &a.reply);
	tuple(&unknown, IPPROTO_TCP, C, 1, S, 80);
	xlat_table_remove(tab, &unknown);
	xlat_table_expire(tab, 2000);
	xlat_table_expire(tab, 30000);
	CHECK_U64(xlat_table_size(tab), 2);

	xlat_table_remove(tab, &a.orig);
	/* Still found during the grace, by every tuple. */
	EXPECT_XLAT(tab, flow(IPPROTO_TCP, S, 80, C, 40000), B, 8080, C, 40000, S, 80, C, 40000,
		    POST, DNAT, 0);
	xlat_table_expire(tab, 31000);	 /* arms the grace: gone at 33000 */
	xlat_table_remove(tab, &a.orig); /* a duplicate DESTROY does not restart it */
	xlat_table_expire(tab, 32999);
	CHECK(found(tab, flow(IPPROTO_TCP, C, 40000, B, 8080)));
	CHECK_U64(xlat_table_size(tab), 2);
	xlat_table_expire(tab, 33000);
	CHECK_U64(xlat_table_size(tab), 1);
	CHECK(!found(tab, flow(IPPROTO_TCP, C, 40000, B, 8080)));
	CHECK(!found(tab, flow(IPPROTO_TCP, C, 40000, S, 80)));
	CHECK(found(tab, flow(IPPROTO_UDP, B, 5353, C, 53000)));

	/* A new event for a dying connection (tuple reuse) revives it. */
	xlat_table_remove(tab, &b.orig);
	xlat_table_expire(tab, 34000);
	xlat_table_update(tab, &b, 35000);
	xlat_table_expire(tab, 40000);
	xlat_table_expire(tab, 50000);
	CHECK(found(tab, flow(IPPROTO_UDP, S, 53, C, 53000)));
	CHECK_U64(xlat_table_size(tab), 1);
	xlat_table_free(tab);
}

/*
 * Chained NAT on one host (zone 1 then zone 2): the second connection's O
 * is the first one's rev(R). The newer claim owns the shared key, and
 * freeing the first connection must not take the key from the second.
 */
static void test_chained(void)
{
	struct xlat_table *tab = xlat_table_new(5000, XLAT_MAX_TRANSLATIONS);
	const char *b2 = "198.18.2.9";
	struct xf_xlat_event x = event(IPPROTO_TCP, C, 1000, S, 80, B, 8080, C, 1000, 1);
	struct xf_xlat_event y = event(IPPROTO_TCP, C, 1000, B, 8080, b2, 9090, C, 1000, 2);

	xlat_table_update(tab, &x, 1000);
	xlat_table_update(tab, &y, 3000);
	CHECK_U64(xlat_table_size(tab), 2);
	EXPECT_XLAT(tab, flow(IPPROTO_TCP, C, 1000, B, 8080), C, 1000, B, 8080, C, 1000, b2, 9090,
		    PRE, DNAT, 2);
	EXPECT_XLAT(tab, flow(IPPROTO_TCP, C, 1000, S, 80), C, 1000, S, 80, C, 1000, B, 8080, PRE,
		    DNAT, 1);
	xlat_table_update(tab, &x, 3000); /* a refresh does not take the key back */
	EXPECT_XLAT(tab, flow(IPPROTO_TCP, C, 1000, B, 8080), C, 1000, B, 8080, C, 1000, b2, 9090,
		    PRE, DNAT, 2);
	xlat_table_update(tab, &y, 5000);
	xlat_table_expire(tab, 8000); /* x goes, y stays */
	CHECK_U64(xlat_table_size(tab), 1);
	CHECK(!found(tab, flow(IPPROTO_TCP, C, 1000, S, 80)));
	CHECK(!found(tab, flow(IPPROTO_TCP, S, 80, C, 1000)));
	EXPECT_XLAT(tab, flow(IPPROTO_TCP, C, 1000, B, 8080), C, 1000, B, 8080, C, 1000, b2, 9090,
		    PRE, DNAT, 2);
	EXPECT_XLAT(tab, flow(IPPROTO_TCP, b2, 9090, C, 1000), b2, 9090, C, 1000, B, 8080, C, 1000,
		    PRE, DNAT, 2);
	xlat_table_free(tab);
}

/*
 * Random churn in the smallest index (64 slots, up to 44 keys, so long
 * probe chains that wrap around the end), checked against a model after
 * every step: exercises deletion by backward shift.
 */
static void test_churn(void)
{
	enum { LIVE = 11, STEPS = 20000 };
	struct xlat_table *tab = xlat_table_new(1000000, XLAT_MAX_TRANSLATIONS);
	struct xf_xlat_event live[LIVE];
	bool active[LIVE] = { false };
	unsigned seed = 12345;
	int bad = 0;

	memset(live, 0, sizeof(live));
	for (int step = 0; step < STEPS; step++) {
		int k = rand_r(&seed) % LIVE;
		char c[32], b[32];

		if (active[k]) {
			/* Untranslated now: drops the record. */
			struct xf_xlat_event gone = live[k];

			memcpy(gone.reply.src_addr, gone.orig.dst_addr, 16);
			memcpy(gone.reply.dst_addr, gone.orig.src_addr, 16);
			gone.reply.src_port = gone.orig.dst_port;
			gone.reply.dst_port = gone.orig.src_port;
			xlat_table_update(tab, &gone, 1000);
			active[k] = false;
		}
		if (rand_r(&seed) % 4) {
			snprintf(c, sizeof(c), "198.18.1.%d", rand_r(&seed) % 250 + 1);
			snprintf(b, sizeof(b), "198.18.2.%d", rand_r(&seed) % 250 + 1);
			live[k] = event(IPPROTO_UDP, c, (uint16_t)(step + 1), S, 53, b, 5353, c,
					(uint16_t)(step + 1), 0);
			xlat_table_update(tab, &live[k], 1000);
			active[k] = true;
		}
		size_t n = 0;

		for (int i = 0; i < LIVE; i++) {
			struct xf_tuple *o = &live[i].orig, *r = &live[i].reply;
			struct xf_flow_key keys[4];
			struct xlat_info xi;
			char os[16], od[16], rs[16], rd[16];

			n += active[i];
			inet_ntop(AF_INET, o->src_addr, os, sizeof(os));
			inet_ntop(AF_INET, o->dst_addr, od, sizeof(od));
			inet_ntop(AF_INET, r->src_addr, rs, sizeof(rs));
			inet_ntop(AF_INET, r->dst_addr, rd, sizeof(rd));
			keys[0] = flow(IPPROTO_UDP, os, o->src_port, od, o->dst_port);
			keys[1] = flow(IPPROTO_UDP, rd, r->dst_port, rs, r->src_port);
			keys[2] = flow(IPPROTO_UDP, rs, r->src_port, rd, r->dst_port);
			keys[3] = flow(IPPROTO_UDP, od, o->dst_port, os, o->src_port);
			for (int role = 0; role < 4; role++) {
				bool hit = xlat_table_lookup(tab, &keys[role], &xi);

				if (hit != active[i] ||
				    (hit && (xi.observed != (role % 2 ? POST : PRE) ||
					     xi.pre_sport != (role < 2 ? o->src_port : 5353))))
					bad++;
			}
		}
		if (xlat_table_size(tab) != n)
			bad++;
	}
	CHECK_U64(bad, 0);
	xlat_table_free(tab);
}

/* 100000 connections: growth, lookups, deletion by backward shift, shrink. */
static void test_many(void)
{
	enum { N = 100000 };
	struct xlat_table *tab = xlat_table_new(10000, XLAT_MAX_TRANSLATIONS);
	char c[32], b[32];
	struct xf_xlat_event ev;
	int missing = 0, wrong = 0;

	/* all seen at 1000, the even ones again at 5000: interleaved in the index */
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < N; i += 1 + pass) {
			snprintf(c, sizeof(c), "198.18.%d.%d", (i >> 8) & 0xff, i & 0xff);
			snprintf(b, sizeof(b), "198.19.%d.%d", (i >> 8) & 0xff, i & 0xff);
			ev = event(IPPROTO_TCP, c, (uint16_t)(1024 + i % 7), S, 80, b, 8080,
				   "198.18.255.1", (uint16_t)(i % 60000 + 1), 0);
			xlat_table_update(tab, &ev, pass ? 5000 : 1000);
		}
	}
	CHECK_U64(xlat_table_size(tab), N);
	xlat_table_expire(tab, 11000); /* odd ones expire */
	CHECK_U64(xlat_table_size(tab), N / 2);
	for (int i = 0; i < N; i++) {
		struct xlat_info xi;
		struct xf_flow_key k;

		snprintf(c, sizeof(c), "198.18.%d.%d", (i >> 8) & 0xff, i & 0xff);
		snprintf(b, sizeof(b), "198.19.%d.%d", (i >> 8) & 0xff, i & 0xff);
		k = flow(IPPROTO_TCP, b, 8080, "198.18.255.1", (uint16_t)(i % 60000 + 1));
		bool hit = xlat_table_lookup(tab, &k, &xi);

		if (hit != (i % 2 == 0))
			missing++;
		else if (hit && (xi.post_dport != 1024 + i % 7 || xi.observed != PRE ||
				 xi.type != (SNAT | DNAT)))
			wrong++;
	}
	CHECK_U64(missing, 0);
	CHECK_U64(wrong, 0);
	xlat_table_expire(tab, 15000);
	CHECK_U64(xlat_table_size(tab), 0);
	/* Empty and shrunk: still usable. */
	ev = event(IPPROTO_TCP, C, 40000, S, 80, B, 8080, C, 40000, 0);
	xlat_table_update(tab, &ev, 16000);
	CHECK(found(tab, flow(IPPROTO_TCP, S, 80, C, 40000)));
	xlat_table_free(tab);
}

/* Connection i (< 120000) of the bound tests: client C(i):port(i) -> S:80 DNATed to B:8080. */
static uint16_t numbered_port(int i)
{
	return (uint16_t)(10000 + i % 50000);
}

static struct xf_xlat_event numbered(int i)
{
	int j = i + 4096;
	char c[32];

	snprintf(c, sizeof(c), "198.%d.%d.%d", 18 + (j >> 16), (j >> 8) & 0xff, j & 0xff);
	return event(IPPROTO_TCP, c, numbered_port(i), S, 80, B, 8080, c, numbered_port(i), 0);
}

static bool numbered_found(const struct xlat_table *tab, int i)
{
	struct xf_xlat_event ev = numbered(i);
	struct xf_flow_key o, r;
	struct xlat_info xo, xr;
	bool ho, hr;

	memset(&o, 0, sizeof(o));
	memcpy(o.src_addr, ev.orig.src_addr, 16);
	memcpy(o.dst_addr, ev.orig.dst_addr, 16);
	o.src_port = ev.orig.src_port;
	o.dst_port = ev.orig.dst_port;
	o.proto = IPPROTO_TCP;
	o.family = XF_FAMILY_IPV4;
	r = o;
	memcpy(r.src_addr, ev.reply.src_addr, 16);
	memcpy(r.dst_addr, ev.reply.dst_addr, 16);
	r.src_port = ev.reply.src_port;
	r.dst_port = ev.reply.dst_port;
	ho = xlat_table_lookup(tab, &o, &xo);
	hr = xlat_table_lookup(tab, &r, &xr);
	/* every tuple of a connection comes and goes together, with its own ports */
	if (ho != hr || (ho && (xo.post_dport != 8080 || xr.post_dport != numbered_port(i))))
		tu_failures++;
	return ho;
}

/*
 * More distinct translations than the bound, while 8 live connections keep
 * being refreshed: exactly one eviction per translation past the bound, the
 * least recently seen go first, the live ones stay findable, and the table's
 * memory stops growing at the bound.
 */
static void test_bound_lru(void)
{
	enum { MAX = 64, LIVE = 8, N = 2000 };
	struct xlat_table *tab = xlat_table_new(10000000, MAX);
	struct xlat_table_stats st;
	uint64_t t = 1000;
	int missing = 0, stale = 0;

	for (int l = 0; l < LIVE; l++) {
		struct xf_xlat_event ev = numbered(N + l);

		xlat_table_update(tab, &ev, t);
	}
	for (int i = 0; i < N; i++) {
		struct xf_xlat_event ev = numbered(i);

		xlat_table_update(tab, &ev, ++t);
		/* each refresh puts the live ones behind the next MAX - LIVE - 16 others */
		if (i % 16 == 15) {
			for (int l = 0; l < LIVE; l++) {
				struct xf_xlat_event lv = numbered(N + l);

				xlat_table_update(tab, &lv, t);
			}
		}
		xlat_table_get_stats(tab, &st);
		if (st.bytes > xlat_table_max_bytes(MAX))
			stale++;
		xlat_table_expire(tab, t);
	}
	xlat_table_get_stats(tab, &st);
	CHECK_U64(st.evicted, N + LIVE - MAX);
	CHECK_U64(st.translations, MAX);
	CHECK_U64(xlat_table_size(tab), MAX);
	/* the survivors: the live ones and the last MAX - LIVE others, nothing older */
	for (int l = 0; l < LIVE; l++)
		missing += !numbered_found(tab, N + l);
	for (int i = 0; i < N; i++)
		if (numbered_found(tab, i) != (i >= N - (MAX - LIVE)))
			missing++;
	CHECK_U64(missing, 0);
	/* memory: exactly the bound's worth (records array capped at MAX), never more */
	CHECK_U64(stale, 0);
	CHECK_U64(st.bytes, xlat_table_max_bytes(MAX));
	xlat_table_free(tab);
}

/*
 * What the bound costs in memory, against the table without it: 100000
 * translations through a bound of 1000 leave the table at 1000's worth.
 */
static void test_bound_memory(void)
{
	enum { MAX = 1000, N = 100000 };
	struct xlat_table *bounded = xlat_table_new(10000000, MAX);
	struct xlat_table *unbounded = xlat_table_new(10000000, XLAT_MAX_TRANSLATIONS);
	struct xlat_table_stats b, u;

	for (int i = 0; i < N; i++) {
		struct xf_xlat_event ev = numbered(i);

		xlat_table_update(bounded, &ev, 1000 + (uint64_t)i);
		xlat_table_update(unbounded, &ev, 1000 + (uint64_t)i);
	}
	xlat_table_get_stats(bounded, &b);
	xlat_table_get_stats(unbounded, &u);
	CHECK_U64(b.evicted, N - MAX);
	CHECK_U64(u.evicted, 0);
	CHECK_U64(u.translations, N);
	/* 96-byte records + 4 index slots of 8 bytes each at a load of 3/8..3/4 */
	CHECK_U64(b.bytes, xlat_table_max_bytes(MAX));
	CHECK(b.bytes <= (uint64_t)MAX * (96 + 86) + 4096);
	CHECK(u.bytes >= (uint64_t)N * (96 + 42));
	/* config.c's default bound (786432): at most 104 MiB, as the documentation says */
	CHECK_U64(xlat_table_max_bytes(786432) >> 20, 104);
	printf("bytes per translation: %.1f (%d held, bound %d), %.1f (%d held, unbounded)\n",
	       (double)b.bytes / MAX, MAX, MAX, (double)u.bytes / N, N);
	xlat_table_free(bounded);
	xlat_table_free(unbounded);
}

/*
 * A removed connection (waiting out its grace) is evicted before any live
 * one; then the least recently seen. A smaller bound evicts at once, and
 * expiry still frees what is left.
 */
static void test_bound_dying_first(void)
{
	struct xlat_table *tab = xlat_table_new(60000, 4);
	struct xlat_table_stats st;
	struct xf_xlat_event ev[6];

	for (int i = 0; i < 6; i++)
		ev[i] = numbered(i);
	for (int i = 0; i < 4; i++)
		xlat_table_update(tab, &ev[i], 1000 + (uint64_t)i);
	xlat_table_remove(tab, &ev[3].orig); /* the most recently seen, now dying */
	xlat_table_update(tab, &ev[4], 2000);
	CHECK(!numbered_found(tab, 3));
	CHECK(numbered_found(tab, 0));
	xlat_table_update(tab, &ev[0], 2001); /* 0 refreshed: 1 is the least recently seen */
	xlat_table_update(tab, &ev[5], 2002);
	CHECK(!numbered_found(tab, 1));
	CHECK(numbered_found(tab, 0) && numbered_found(tab, 2) && numbered_found(tab, 4) &&
	      numbered_found(tab, 5));
	xlat_table_get_stats(tab, &st);
	CHECK_U64(st.evicted, 2);
	/* armed and disarmed dying records leave the lists intact when evicted */
	xlat_table_remove(tab, &ev[2].orig);
	xlat_table_expire(tab, 3000); /* 2 goes at 5000 */
	xlat_table_remove(tab, &ev[4].orig);
	xlat_table_set_max(tab, 2); /* evicts 2, then 4 (removal order) */
	xlat_table_get_stats(tab, &st);
	CHECK_U64(st.evicted, 4);
	CHECK_U64(st.translations, 2);
	CHECK(numbered_found(tab, 0) && numbered_found(tab, 5));
	CHECK(!numbered_found(tab, 2) && !numbered_found(tab, 4));
	xlat_table_expire(tab, 62001); /* 0 unseen for 60000 ms */
	CHECK_U64(xlat_table_size(tab), 1);
	CHECK(numbered_found(tab, 5));
	xlat_table_expire(tab, 62002);
	CHECK_U64(xlat_table_size(tab), 0);
	/* refilled after emptying: the free list and the lists are consistent */
	for (int i = 0; i < 6; i++)
		xlat_table_update(tab, &ev[i], 70000 + (uint64_t)i);
	CHECK_U64(xlat_table_size(tab), 2);
	CHECK(numbered_found(tab, 4) && numbered_found(tab, 5));
	xlat_table_get_stats(tab, &st);
	CHECK_U64(st.evicted, 8);
	xlat_table_free(tab);
}

int main(void)
{
	xlat_table_free(NULL);
	test_clusterip_dnat();
	test_nodeport_dnat_snat();
	test_masquerade_snat();
	test_ipv6_dnat();
	test_icmp_echo();
	test_two_zones();
	test_untranslated();
	test_refresh_and_expiry();
	test_replace();
	test_remove_grace();
	test_chained();
	test_churn();
	test_many();
	test_bound_lru();
	test_bound_memory();
	test_bound_dying_first();
	return tu_finish();
}
