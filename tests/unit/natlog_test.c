// SPDX-License-Identifier: GPL-2.0-only
/* Unit test of src/natlog.c: nat_event -> RFC 8158 records, failure aggregation, threshold. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "natlog.h"
#include "testutil.h"

#define SEC_NS 1000000000ULL
/* wall = mono + 1.7e12 s... in ms: a fixed offset so times are exact */
#define OFFSET_NS (1700000000ULL * SEC_NS)

static struct ipfix_natev_rec got[64];
static int n_got;

static void collect(void *ctx, const struct ipfix_natev_rec *rec)
{
	(void)ctx;
	if (n_got < 64)
		got[n_got++] = *rec;
}

static void addr4(uint8_t *a, const char *s)
{
	memset(a, 0, 16);
	inet_pton(AF_INET, s, a);
}

static void tuple4(struct xf_tuple *t, const char *src, uint16_t sp, const char *dst, uint16_t dp,
		   uint8_t proto)
{
	memset(t, 0, sizeof(*t));
	addr4(t->src_addr, src);
	addr4(t->dst_addr, dst);
	t->src_port = sp;
	t->dst_port = dp;
	t->proto = proto;
	t->family = XF_FAMILY_IPV4;
}

/* client 198.18.0.2:40000 -> service 198.18.100.1:80, DNAT to 198.18.1.2:8080, SNAT to 198.18.0.1:50000 */
static void session(struct nat_event *ev, uint8_t kind)
{
	memset(ev, 0, sizeof(*ev));
	ev->kind = kind;
	ev->zone_id = 7;
	tuple4(&ev->orig, "198.18.0.2", 40000, "198.18.100.1", 80, 6);
	tuple4(&ev->reply, "198.18.1.2", 8080, "198.18.0.1", 50000, 6);
	ev->time_mono_ns = 5 * SEC_NS + 123456789;
}

static void test_session(void)
{
	struct xf_clock clk;
	struct nat_event ev;
	struct ipfix_natev_rec r;
	const struct ipfix_natev_session_rec *s = &r.u.session;

	clock_set_offset(&clk, (int64_t)OFFSET_NS);
	session(&ev, XF_XLAT_KIND_CREATE);
	CHECK_INT(natlog_session_record(&r, &ev, &clk), 0);
	CHECK_U64(r.tid, IPFIX_TID_NAT44_SESSION);
	CHECK_U64(s->nat_event, 4);
	CHECK_U64(s->time_ms, 1700000005123ULL);
	CHECK_U64(s->start_ms, 1700000005123ULL);
	CHECK_U64(s->end_ms, 0);
	CHECK_U64(s->src_ip4, 0xc6120002);
	CHECK_U64(s->dst_ip4, 0xc6126401);
	CHECK_U64(s->post_src_ip4, 0xc6120001);
	CHECK_U64(s->post_dst_ip4, 0xc6120102);
	CHECK_U64(s->src_port, 40000);
	CHECK_U64(s->dst_port, 80);
	CHECK_U64(s->post_src_port, 50000);
	CHECK_U64(s->post_dst_port, 8080);
	CHECK_U64(s->proto, 6);
	CHECK_U64(s->vrf, 7);
	CHECK_U64(s->zone, 7);
	CHECK_U64(s->octets[0] + s->packets[0], 0);

	session(&ev, XF_XLAT_KIND_DELETE);
	ev.flags = NAT_EVENT_F_START | NAT_EVENT_F_ACCT;
	ev.start_wall_ns = 1700000001000ULL * 1000000ULL + 999999;
	ev.packets[0] = 3;
	ev.packets[1] = 4;
	ev.octets[0] = 300;
	ev.octets[1] = 4000;
	CHECK_INT(natlog_session_record(&r, &ev, &clk), 0);
	CHECK_U64(s->nat_event, 5);
	CHECK_U64(s->start_ms, 1700000001000ULL);
	CHECK_U64(s->end_ms, 1700000005123ULL);
	CHECK_U64(s->packets[0], 3);
	CHECK_U64(s->packets[1], 4);
	CHECK_U64(s->octets[0], 300);
	CHECK_U64(s->octets[1], 4000);

	/* a DELETE without conntrack's extensions: no start, no counters */
	ev.flags = 0;
	CHECK_INT(natlog_session_record(&r, &ev, &clk), 0);
	CHECK_U64(s->start_ms, 0);
	CHECK_U64(s->packets[0] + s->octets[1], 0);

	/* NAT66 */
	session(&ev, XF_XLAT_KIND_CREATE);
	ev.orig.family = ev.reply.family = XF_FAMILY_IPV6;
	inet_pton(AF_INET6, "2001:db8::2", ev.orig.src_addr);
	inet_pton(AF_INET6, "2001:db8::1", ev.reply.dst_addr);
	CHECK_INT(natlog_session_record(&r, &ev, &clk), 0);
	CHECK_U64(r.tid, IPFIX_TID_NAT66_SESSION);
	CHECK(memcmp(s->src_ip6, ev.orig.src_addr, 16) == 0);
	CHECK(memcmp(s->post_src_ip6, ev.reply.dst_addr, 16) == 0);

	ev.orig.family = 0;
	CHECK_INT(natlog_session_record(&r, &ev, &clk), -EINVAL);
}

static void failure(struct nat_event *ev, uint8_t kind, const char *post, const char *dst,
		    uint16_t dport, uint64_t t_ns)
{
	memset(ev, 0, sizeof(*ev));
	ev->kind = kind;
	ev->time_mono_ns = t_ns;
	ev->count = 1;
	tuple4(&ev->orig, "198.18.0.2", 40000, dst, dport, 6);
	tuple4(&ev->reply, dst, dport, post, 1024, 6);
}

static void test_aggregation(void)
{
	struct natlog *nl = natlog_new(collect, NULL);
	struct xf_clock clk;
	struct nat_event ev;
	struct natlog_stats st;

	clock_set_offset(&clk, (int64_t)OFFSET_NS);
	n_got = 0;
	/* 5 failures in second 10 to one destination, 2 to another, 3 in second 11 */
	for (int i = 0; i < 5; i++) {
		failure(&ev, XF_XLAT_KIND_PORTS_EXHAUSTED, "198.18.0.1", "198.18.9.9", 443,
			10 * SEC_NS + (uint64_t)i * 1000000);
		natlog_event(nl, &ev, &clk);
	}
	for (int i = 0; i < 2; i++) {
		failure(&ev, XF_XLAT_KIND_PORTS_EXHAUSTED, "198.18.0.1", "198.18.9.8", 443,
			10 * SEC_NS + 500000000);
		natlog_event(nl, &ev, &clk);
	}
	for (int i = 0; i < 3; i++) {
		failure(&ev, XF_XLAT_KIND_PORTS_EXHAUSTED, "198.18.0.1", "198.18.9.9", 443,
			11 * SEC_NS + 1000);
		natlog_event(nl, &ev, &clk);
	}
	/* a table-full count from conntrack's statistics (no tuple) */
	memset(&ev, 0, sizeof(ev));
	ev.kind = XF_XLAT_KIND_TABLE_FULL;
	ev.time_mono_ns = 10 * SEC_NS + 900000000;
	ev.count = 17;
	natlog_table_fill(nl, 10, 256, 10 * SEC_NS, &clk);
	natlog_event(nl, &ev, &clk);
	CHECK_INT(n_got, 0);

	natlog_table_fill(nl, 10, 65536, 11 * SEC_NS, &clk); /* raised before the record goes */
	natlog_tick(nl, 11 * SEC_NS + 2000, &clk);	     /* second 10 is over */
	CHECK_INT(n_got, 3);
	CHECK_U64(got[0].tid, IPFIX_TID_NAT44_PORTS);
	CHECK_U64(got[0].u.ports.count, 5);
	CHECK_U64(got[0].u.ports.dropped, 5);
	CHECK_U64(got[0].u.ports.nat_event, 12);
	CHECK_U64(got[0].u.ports.time_ms, 1700000010000ULL);
	CHECK_U64(got[0].u.ports.post_src_ip4, 0xc6120001);
	CHECK_U64(got[0].u.ports.dst_ip4, 0xc6120909);
	CHECK_U64(got[0].u.ports.dst_port, 443);
	CHECK_U64(got[0].u.ports.proto, 6);
	CHECK_U64(got[1].u.ports.count, 2);
	CHECK_U64(got[1].u.ports.dst_ip4, 0xc6120908);
	CHECK_U64(got[2].tid, IPFIX_TID_NAT_QUOTA);
	CHECK_U64(got[2].u.quota.nat_event, 13);
	CHECK_U64(got[2].u.quota.quota_event, 1);
	CHECK_U64(got[2].u.quota.max_sessions, 256);
	CHECK_U64(got[2].u.quota.count, 17);

	natlog_flush(nl);
	CHECK_INT(n_got, 4);
	CHECK_U64(got[3].u.ports.count, 3);
	CHECK_U64(got[3].u.ports.time_ms, 1700000011000ULL);

	natlog_get_stats(nl, &st);
	CHECK_U64(st.ports_exhausted, 10);
	CHECK_U64(st.table_full, 17);
	CHECK_U64(st.failure_records, 4);
	natlog_free(nl);
}

static void test_threshold(void)
{
	struct natlog *nl = natlog_new(collect, NULL);
	struct xf_clock clk;

	clock_set_offset(&clk, (int64_t)OFFSET_NS);
	n_got = 0;
	natlog_table_fill(nl, 1000, 1000, SEC_NS, &clk); /* threshold off */
	CHECK_INT(n_got, 0);
	natlog_set_threshold(nl, 80);
	natlog_table_fill(nl, 799, 1000, SEC_NS, &clk);
	CHECK_INT(n_got, 0);
	natlog_table_fill(nl, 800, 1000, 2 * SEC_NS, &clk);
	CHECK_INT(n_got, 1);
	CHECK_U64(got[0].tid, IPFIX_TID_NAT_QUOTA);
	CHECK_U64(got[0].u.quota.nat_event, 18);
	CHECK_U64(got[0].u.quota.threshold_event, 3);
	CHECK_U64(got[0].u.quota.high_threshold, 800);
	CHECK_U64(got[0].u.quota.max_sessions, 1000);
	CHECK_U64(got[0].u.quota.time_ms, 1700000002000ULL);
	/* hovering at it: one event; below 90% of it re-arms */
	natlog_table_fill(nl, 790, 1000, 3 * SEC_NS, &clk);
	natlog_table_fill(nl, 900, 1000, 3 * SEC_NS, &clk);
	CHECK_INT(n_got, 1);
	natlog_table_fill(nl, 719, 1000, 4 * SEC_NS, &clk);
	natlog_table_fill(nl, 801, 1000, 5 * SEC_NS, &clk);
	CHECK_INT(n_got, 2);
	natlog_free(nl);
}

int main(void)
{
	RUN(test_session);
	RUN(test_aggregation);
	RUN(test_threshold);
	return tu_finish();
}
