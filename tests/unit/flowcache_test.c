/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Unit test of src/flowcache.c with an injected clock: every flowEndReason,
 * and expiry with a budget (the exporter's pace): oldest due first, due
 * flows held with their end time, a late packet after idle_timeout.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "flowcache.h"
#include "testutil.h"

#define MS 1000000ULL
#define SEC (1000 * MS)

struct exported {
	struct xf_flow_key key;
	struct xf_flow_stats st;
	enum flow_end_reason reason;
};

static struct exported out[64];
static int n_out;

static void on_export(void *ctx, const struct xf_flow_key *key, const struct xf_flow_stats *st,
		      enum flow_end_reason reason)
{
	(void)ctx;
	if (n_out < 64)
		out[n_out++] = (struct exported){ *key, *st, reason };
}

static struct xf_flow_key mkkey(uint8_t last, uint16_t sport, uint8_t proto)
{
	struct xf_flow_key k = { 0 };

	k.src_addr[0] = 198;
	k.src_addr[1] = 18;
	k.src_addr[2] = 1;
	k.src_addr[3] = last;
	k.dst_addr[0] = 198;
	k.dst_addr[1] = 18;
	k.dst_addr[2] = 2;
	k.dst_addr[3] = 2;
	k.src_port = sport;
	k.dst_port = 80;
	k.proto = proto;
	k.family = XF_FAMILY_IPV4;
	k.ifindex = 3;
	return k;
}

static struct xf_flow_stats mkstats(uint64_t pkts, uint64_t octets, uint64_t first, uint64_t last,
				    uint16_t flags)
{
	struct xf_flow_stats s = { 0 };

	s.packets = pkts;
	s.octets = octets;
	s.first_ns = first;
	s.last_ns = last;
	s.tcp_flags = flags;
	return s;
}

static const struct flowcache_timeouts tmo = { .active_ns = 60 * SEC,
					       .idle_ns = 15 * SEC,
					       .fin_grace_ns = 2 * SEC };

static void test_merge_and_idle(void)
{
	struct flowcache *fc = flowcache_new(100, &tmo, on_export, NULL);
	struct xf_flow_key k = mkkey(2, 40000, 17);
	struct xf_flow_stats a = mkstats(3, 300, 10 * SEC, 11 * SEC, 0);
	struct xf_flow_stats b = mkstats(2, 250, 9 * SEC, 12 * SEC, 0);

	n_out = 0;
	b.tos = 0x20;
	b.src_mac[5] = 7;
	flowcache_update(fc, &k, &a);
	flowcache_update(fc, &k, &b);
	flowcache_expire(fc, 12 * SEC + 15 * SEC - 1, UINT32_MAX);
	CHECK_U64(n_out, 0);
	flowcache_expire(fc, 12 * SEC + 15 * SEC, UINT32_MAX);
	CHECK_U64(n_out, 1);
	CHECK_U64(out[0].st.packets, 5);
	CHECK_U64(out[0].st.octets, 550);
	CHECK_U64(out[0].st.first_ns, 9 * SEC);
	CHECK_U64(out[0].st.last_ns, 12 * SEC);
	CHECK_U64(out[0].st.tos, 0x20);
	CHECK_U64(out[0].st.src_mac[5], 7);
	CHECK_U64(out[0].reason, FLOW_END_IDLE);
	CHECK(memcmp(&out[0].key, &k, sizeof(k)) == 0);
	flowcache_free(fc);
}

static void test_active_intervals(void)
{
	struct flowcache *fc = flowcache_new(100, &tmo, on_export, NULL);
	struct xf_flow_key k = mkkey(2, 40001, 6);
	struct flowcache_stats fs;

	n_out = 0;
	/* a packet every 10 s for 140 s: records at 60 s and 130 s */
	for (uint64_t t = 0; t <= 140; t += 10) {
		struct xf_flow_stats s = mkstats(1, 100, t * SEC, t * SEC, 0x10);

		flowcache_update(fc, &k, &s);
		flowcache_expire(fc, t * SEC, UINT32_MAX);
	}
	CHECK_U64(n_out, 2);
	CHECK_U64(out[0].reason, FLOW_END_ACTIVE);
	CHECK_U64(out[0].st.packets, 7); /* 0..60 */
	CHECK_U64(out[0].st.first_ns, 0);
	CHECK_U64(out[0].st.last_ns, 60 * SEC);
	CHECK_U64(out[1].reason, FLOW_END_ACTIVE);
	CHECK_U64(out[1].st.packets, 7); /* 70..130 */
	CHECK_U64(out[1].st.first_ns, 70 * SEC);
	flowcache_flush(fc, FLOW_END_FORCED, UINT32_MAX);
	CHECK_U64(n_out, 3);
	CHECK_U64(out[2].reason, FLOW_END_FORCED);
	CHECK_U64(out[2].st.packets, 1); /* 140 */
	flowcache_get_stats(fc, &fs);
	CHECK_U64(fs.flows, 0);
	CHECK_U64(fs.exported[FLOW_END_ACTIVE], 2);
	CHECK_U64(fs.exported[FLOW_END_FORCED], 1);
	flowcache_free(fc);
}

static void test_fin_rst(void)
{
	struct flowcache *fc = flowcache_new(100, &tmo, on_export, NULL);
	struct xf_flow_key k1 = mkkey(2, 40002, 6), k2 = mkkey(3, 40003, 6);
	struct xf_flow_key u = mkkey(4, 40004, 17);
	struct xf_flow_stats syn = mkstats(1, 60, 1 * SEC, 1 * SEC, 0x02);
	struct xf_flow_stats fin = mkstats(2, 104, 2 * SEC, 2 * SEC, 0x11);
	struct xf_flow_stats ack = mkstats(1, 52, 3 * SEC, 3 * SEC, 0x10);
	struct xf_flow_stats rst = mkstats(1, 40, 2 * SEC, 2 * SEC, 0x04);
	/* a UDP "FIN bit" means nothing */
	struct xf_flow_stats udp = mkstats(1, 40, 2 * SEC, 2 * SEC, 0x01);

	n_out = 0;
	flowcache_update(fc, &k1, &syn);
	flowcache_update(fc, &k1, &fin);
	flowcache_update(fc, &k2, &rst);
	flowcache_update(fc, &u, &udp);
	flowcache_expire(fc, 3 * SEC, UINT32_MAX);
	CHECK_U64(n_out, 0);
	flowcache_update(fc, &k1, &ack); /* the last ACK joins the ended flow */
	flowcache_expire(fc, 4 * SEC, UINT32_MAX);
	CHECK_U64(n_out, 1);
	CHECK(memcmp(&out[0].key, &k2, sizeof(k2)) == 0);
	CHECK_U64(out[0].reason, FLOW_END_END_OF_FLOW);
	flowcache_expire(fc, 5 * SEC, UINT32_MAX);
	CHECK_U64(n_out, 2);
	CHECK(memcmp(&out[1].key, &k1, sizeof(k1)) == 0);
	CHECK_U64(out[1].reason, FLOW_END_END_OF_FLOW);
	CHECK_U64(out[1].st.packets, 4);
	CHECK_U64(out[1].st.octets, 216);
	CHECK_U64(out[1].st.tcp_flags, 0x13);
	flowcache_expire(fc, 17 * SEC, UINT32_MAX);
	CHECK_U64(n_out, 3);
	CHECK_U64(out[2].reason, FLOW_END_IDLE);
	CHECK_U64(out[2].key.proto, 17);
	flowcache_free(fc);
}

/*
 * A half-closed connection: the first packet the cache sees carries FIN,
 * then an ACK every second for 600 s (the other side still sending). The
 * ended flow must still obey the 60 s active timeout: exactly ten records of
 * 60 packets each, [60k, 60k + 59] s, the first with FIN|ACK, the others ACK
 * only; then nothing is left.
 */
static void test_active_after_fin(void)
{
	struct flowcache *fc = flowcache_new(100, &tmo, on_export, NULL);
	struct xf_flow_key k = mkkey(5, 40005, 6);
	struct flowcache_stats fs;

	n_out = 0;
	for (uint64_t t = 0; t < 600; t++) {
		struct xf_flow_stats s = mkstats(1, 52, t * SEC, t * SEC, t ? 0x10 : 0x11);

		flowcache_expire(fc, t * SEC, UINT32_MAX);
		flowcache_update(fc, &k, &s);
	}
	for (uint64_t t = 600; t <= 620; t++)
		flowcache_expire(fc, t * SEC, UINT32_MAX);
	CHECK_U64(n_out, 10);
	for (int r = 0; r < n_out && r < 10; r++) {
		CHECK_U64(out[r].reason, FLOW_END_ACTIVE);
		CHECK_U64(out[r].st.packets, 60);
		CHECK_U64(out[r].st.octets, 60 * 52);
		CHECK_U64(out[r].st.first_ns, (uint64_t)r * 60 * SEC);
		CHECK_U64(out[r].st.last_ns, ((uint64_t)r * 60 + 59) * SEC);
		CHECK_U64(out[r].st.tcp_flags, r ? 0x10 : 0x11);
	}
	flowcache_get_stats(fc, &fs);
	CHECK_U64(fs.flows, 0);
	CHECK_U64(fs.exported[FLOW_END_ACTIVE], 10);
	CHECK_U64(fs.exported[FLOW_END_END_OF_FLOW], 0);
	flowcache_free(fc);

	/*
	 * The tail after an interval report still ends as the flow ended:
	 * ACKs until 65 s, then end of flow fin_grace (2 s) after the last one.
	 */
	fc = flowcache_new(100, &tmo, on_export, NULL);
	n_out = 0;
	for (uint64_t t = 0; t <= 65; t++) {
		struct xf_flow_stats s = mkstats(1, 52, t * SEC, t * SEC, t ? 0x10 : 0x11);

		flowcache_expire(fc, t * SEC, UINT32_MAX);
		flowcache_update(fc, &k, &s);
	}
	flowcache_expire(fc, 66 * SEC, UINT32_MAX);
	CHECK_U64(n_out, 1);
	flowcache_expire(fc, 67 * SEC, UINT32_MAX);
	CHECK_U64(n_out, 2);
	CHECK_U64(out[1].reason, FLOW_END_END_OF_FLOW);
	CHECK_U64(out[1].st.packets, 6); /* 60..65 */
	CHECK_U64(out[1].st.first_ns, 60 * SEC);
	CHECK_U64(out[1].st.last_ns, 65 * SEC);
	flowcache_get_stats(fc, &fs);
	CHECK_U64(fs.flows, 0);
	flowcache_free(fc);
}

/*
 * A new connection on the 5-tuple of one that ended: its SYN ends the old
 * record (end of flow, exported at once) and starts a record of its own,
 * which is an open flow again (idle timeout, not fin_grace).
 */
static void test_tuple_reuse(void)
{
	struct flowcache *fc = flowcache_new(100, &tmo, on_export, NULL);
	struct xf_flow_key k = mkkey(6, 40006, 6);
	struct xf_flow_stats syn = mkstats(1, 60, 1 * SEC, 1 * SEC, 0x02);
	struct xf_flow_stats fin = mkstats(2, 104, 2 * SEC, 2 * SEC, 0x11);
	struct xf_flow_stats rst = mkstats(1, 40, 2 * SEC, 2 * SEC, 0x04);
	struct xf_flow_stats syn2 = mkstats(1, 60, 3 * SEC, 3 * SEC, 0x02);
	struct xf_flow_stats data = mkstats(5, 5000, 4 * SEC, 10 * SEC, 0x18);
	struct flowcache_stats fs;

	n_out = 0;
	flowcache_update(fc, &k, &syn);
	flowcache_update(fc, &k, &fin);
	flowcache_expire(fc, 3 * SEC, UINT32_MAX); /* within fin_grace: still cached */
	CHECK_U64(n_out, 0);
	flowcache_update(fc, &k, &syn2);
	CHECK_U64(n_out, 1);
	CHECK_U64(out[0].reason, FLOW_END_END_OF_FLOW);
	CHECK_U64(out[0].st.packets, 3);
	CHECK_U64(out[0].st.tcp_flags, 0x13);
	CHECK_U64(out[0].st.last_ns, 2 * SEC);
	flowcache_update(fc, &k, &data);
	flowcache_expire(fc, 12 * SEC, UINT32_MAX); /* an open flow: no fin_grace any more */
	CHECK_U64(n_out, 1);
	flowcache_expire(fc, 25 * SEC, UINT32_MAX);
	CHECK_U64(n_out, 2);
	CHECK_U64(out[1].reason, FLOW_END_IDLE);
	CHECK_U64(out[1].st.packets, 6);
	CHECK_U64(out[1].st.first_ns, 3 * SEC);
	CHECK_U64(out[1].st.tcp_flags, 0x1a);

	/* after RST too; a SYN on an open flow (a retransmission) changes nothing */
	flowcache_update(fc, &k, &syn);
	flowcache_update(fc, &k, &syn);
	CHECK_U64(n_out, 2);
	flowcache_update(fc, &k, &rst);
	flowcache_update(fc, &k, &syn2);
	CHECK_U64(n_out, 3);
	CHECK_U64(out[2].reason, FLOW_END_END_OF_FLOW);
	CHECK_U64(out[2].st.packets, 3);
	CHECK_U64(out[2].st.tcp_flags, 0x06);
	flowcache_get_stats(fc, &fs);
	CHECK_U64(fs.flows, 1);
	CHECK_U64(fs.created, 4);
	flowcache_flush(fc, FLOW_END_FORCED, UINT32_MAX);
	CHECK_U64(n_out, 4);
	CHECK_U64(out[3].st.packets, 1);

	/*
	 * A connection's later packets (FIN, from the ring buffer) merged
	 * before its earlier ones (SYN and data, from the flow slots): the
	 * datapath order changed mid-connection. One record, not two.
	 */
	n_out = 0;
	flowcache_update(fc, &k, &fin);
	flowcache_update(fc, &k,
			 &(struct xf_flow_stats){ .packets = 4,
						  .octets = 400,
						  .first_ns = 1 * SEC,
						  .last_ns = 2 * SEC - 1,
						  .tcp_flags = 0x12 });
	flowcache_flush(fc, FLOW_END_FORCED, UINT32_MAX);
	CHECK_U64(n_out, 1);
	CHECK_U64(out[0].st.packets, 6);
	CHECK_U64(out[0].st.first_ns, 1 * SEC);
	CHECK_U64(out[0].st.last_ns, 2 * SEC);
	CHECK_U64(out[0].st.tcp_flags, 0x13);
	flowcache_free(fc);
}

static void test_lru_eviction(void)
{
	struct flowcache *fc = flowcache_new(3, &tmo, on_export, NULL);
	struct flowcache_stats fs;

	n_out = 0;
	for (uint8_t i = 1; i <= 3; i++) {
		struct xf_flow_key k = mkkey(i, 1000 + i, 17);
		struct xf_flow_stats s = mkstats(i, 100 * i, i * SEC, i * SEC, 0);

		flowcache_update(fc, &k, &s);
	}
	/* touch flow 1 so that flow 2 is the least recently updated */
	struct xf_flow_key k1 = mkkey(1, 1001, 17);
	struct xf_flow_stats s1 = mkstats(1, 100, 4 * SEC, 4 * SEC, 0);
	flowcache_update(fc, &k1, &s1);
	struct xf_flow_key k4 = mkkey(4, 1004, 17);
	struct xf_flow_stats s4 = mkstats(1, 10, 5 * SEC, 5 * SEC, 0);
	flowcache_update(fc, &k4, &s4);
	CHECK_U64(n_out, 1);
	CHECK_U64(out[0].reason, FLOW_END_LACK_OF_RESOURCES);
	CHECK_U64(out[0].key.src_port, 1002);
	CHECK_U64(out[0].st.packets, 2);
	flowcache_get_stats(fc, &fs);
	CHECK_U64(fs.flows, 3);
	CHECK_U64(fs.evicted, 1);
	flowcache_flush(fc, FLOW_END_FORCED, UINT32_MAX);
	CHECK_U64(n_out, 4);
	flowcache_free(fc);
}

/*
 * Budget: of five idle flows due, the two that ended first go; the rest
 * stay, and go later with the end time of their last packet. A packet for
 * a held flow after its idle timeout makes two records, the old one first.
 */
static void test_expire_budget(void)
{
	struct flowcache *fc = flowcache_new(100, &tmo, on_export, NULL);
	struct flowcache_stats fs;

	n_out = 0;
	for (uint8_t i = 1; i <= 5; i++) {
		struct xf_flow_key k = mkkey(i, 2000 + i, 17);
		struct xf_flow_stats s = mkstats(i, 100 * i, i * SEC, i * SEC, 0);

		flowcache_update(fc, &k, &s);
	}
	CHECK_U64(flowcache_expire(fc, 30 * SEC, 2), 2);
	CHECK_U64(n_out, 2);
	CHECK_U64(out[0].key.src_port, 2001);
	CHECK_U64(out[1].key.src_port, 2002);
	CHECK_U64(flowcache_expire(fc, 30 * SEC, 0), 0);
	CHECK_U64(flowcache_count(fc), 3);

	/* flow 3, due since 18 s and held, gets a packet at 25 s */
	{
		struct xf_flow_key k3 = mkkey(3, 2003, 17);
		struct xf_flow_stats late = mkstats(1, 40, 25 * SEC, 25 * SEC, 0);

		flowcache_update(fc, &k3, &late);
	}
	CHECK_U64(n_out, 3);
	CHECK_U64(out[2].key.src_port, 2003);
	CHECK_U64(out[2].reason, FLOW_END_IDLE);
	CHECK_U64(out[2].st.packets, 3);
	CHECK_U64(out[2].st.last_ns, 3 * SEC);
	CHECK_U64(flowcache_count(fc), 3);

	CHECK_U64(flowcache_expire(fc, 31 * SEC, UINT32_MAX), 2);
	CHECK_U64(n_out, 5);
	CHECK_U64(out[3].key.src_port, 2004);
	CHECK_U64(out[3].st.last_ns, 4 * SEC); /* its last packet, not when it left */
	CHECK_U64(out[4].key.src_port, 2005);
	/* the new flow 3 started at 25 s */
	CHECK_U64(flowcache_expire(fc, 40 * SEC - 1, UINT32_MAX), 0);
	CHECK_U64(flowcache_expire(fc, 40 * SEC, UINT32_MAX), 1);
	CHECK_U64(out[5].key.src_port, 2003);
	CHECK_U64(out[5].st.packets, 1);
	CHECK_U64(out[5].st.first_ns, 25 * SEC);
	flowcache_get_stats(fc, &fs);
	CHECK_U64(fs.created, 6);
	CHECK_U64(fs.exported[FLOW_END_IDLE], 6);

	/* flush with a budget too */
	flowcache_get_stats(fc, &fs);
	CHECK_U64(fs.evicted, 0);
	for (uint8_t i = 1; i <= 4; i++) {
		struct xf_flow_key k = mkkey(i, 3000 + i, 17);
		struct xf_flow_stats s = mkstats(1, 100, 50 * SEC, 50 * SEC, 0);

		flowcache_update(fc, &k, &s);
	}
	CHECK_U64(flowcache_flush(fc, FLOW_END_FORCED, 3), 3);
	CHECK_U64(flowcache_count(fc), 1);
	CHECK_U64(flowcache_flush(fc, FLOW_END_FORCED, 3), 1);
	CHECK_U64(flowcache_count(fc), 0);
	CHECK_U64(n_out, 10);
	flowcache_free(fc);
}

/*
 * One record at a time, the flow due first goes first, whatever made it
 * due: idle (D at 5.2 s, B at 8 s), end of flow (A: FIN at 7 s, grace
 * 2 s: 9 s) and active (C: first packet at 0 s, active 10 s).
 */
static void test_budget_order(void)
{
	const struct flowcache_timeouts t = { .active_ns = 10 * SEC,
					      .idle_ns = 5 * SEC,
					      .fin_grace_ns = 2 * SEC };
	struct flowcache *fc = flowcache_new(100, &t, on_export, NULL);
	struct xf_flow_key a = mkkey(1, 4001, 6), b = mkkey(2, 4002, 17);
	struct xf_flow_key c = mkkey(3, 4003, 17), d = mkkey(4, 4004, 17);
	struct xf_flow_stats s;
	const uint16_t want_port[] = { 4004, 4002, 4001, 4003 };
	const enum flow_end_reason want_reason[] = { FLOW_END_IDLE, FLOW_END_IDLE,
						     FLOW_END_END_OF_FLOW, FLOW_END_ACTIVE };

	n_out = 0;
	s = mkstats(1, 100, 0, 0, 0);
	flowcache_update(fc, &c, &s);
	s = mkstats(1, 100, 200 * MS, 200 * MS, 0);
	flowcache_update(fc, &d, &s);
	s = mkstats(1, 60, 4 * SEC, 4 * SEC, 0x02);
	flowcache_update(fc, &a, &s);
	s = mkstats(1, 100, 3 * SEC, 3 * SEC, 0);
	flowcache_update(fc, &b, &s);
	s = mkstats(1, 52, 7 * SEC, 7 * SEC, 0x11);
	flowcache_update(fc, &a, &s);
	for (uint64_t sec = 1; sec <= 9; sec++) {
		s = mkstats(1, 100, sec * SEC, sec * SEC, 0);
		flowcache_update(fc, &c, &s);
	}
	for (int i = 0; i < 4; i++) {
		CHECK_U64(flowcache_expire(fc, 20 * SEC, 1), 1);
		CHECK_U64(n_out, i + 1);
		CHECK_U64(out[i].key.src_port, want_port[i]);
		CHECK_U64(out[i].reason, want_reason[i]);
	}
	CHECK_U64(out[3].st.packets, 10);
	CHECK_U64(flowcache_expire(fc, 20 * SEC, 1), 0);
	CHECK_U64(flowcache_count(fc), 0);
	flowcache_free(fc);
}

/*
 * A full cache pushes out its least recently updated flow. One that was
 * due and held for the exporter leaves with the reason it ended with (idle),
 * not as an eviction; one still live is an eviction (reason 5).
 */
static void test_evict_held(void)
{
	struct flowcache *fc = flowcache_new(2, &tmo, on_export, NULL);
	struct flowcache_stats fs;
	struct xf_flow_key a = mkkey(1, 5001, 17), b = mkkey(2, 5002, 17), c = mkkey(3, 5003, 17);
	struct xf_flow_key d = mkkey(4, 5004, 17);
	struct xf_flow_stats s;

	n_out = 0;
	s = mkstats(1, 100, 1 * SEC, 1 * SEC, 0);
	flowcache_update(fc, &a, &s);
	s = mkstats(1, 100, 20 * SEC, 20 * SEC, 0);
	flowcache_update(fc, &b, &s);
	CHECK_U64(flowcache_expire(fc, 21 * SEC, 0), 0); /* a is due, held */
	s = mkstats(1, 100, 21 * SEC, 21 * SEC, 0);
	flowcache_update(fc, &c, &s); /* pushes a out: idle since 16 s */
	CHECK_U64(n_out, 1);
	CHECK_U64(out[0].key.src_port, 5001);
	CHECK_U64(out[0].reason, FLOW_END_IDLE);
	s = mkstats(1, 100, 22 * SEC, 22 * SEC, 0);
	flowcache_update(fc, &d, &s); /* pushes b out: live */
	CHECK_U64(n_out, 2);
	CHECK_U64(out[1].key.src_port, 5002);
	CHECK_U64(out[1].reason, FLOW_END_LACK_OF_RESOURCES);
	flowcache_get_stats(fc, &fs);
	CHECK_U64(fs.evicted, 1);
	CHECK_U64(fs.exported[FLOW_END_IDLE], 1);
	flowcache_free(fc);
}

static uint64_t total_packets;
static void count_export(void *ctx, const struct xf_flow_key *key, const struct xf_flow_stats *st,
			 enum flow_end_reason reason)
{
	(void)ctx;
	(void)key;
	(void)reason;
	total_packets += st->packets;
}

/* Many flows: rehashing and chunk growth keep every packet. */
static void test_many_flows(void)
{
	struct flowcache *fc = flowcache_new(200000, &tmo, count_export, NULL);
	struct flowcache_stats fs;

	total_packets = 0;
	for (uint32_t round = 0; round < 2; round++)
		for (uint32_t i = 0; i < 150000; i++) {
			struct xf_flow_key k = mkkey((uint8_t)(i >> 16), (uint16_t)i, 17);
			struct xf_flow_stats s = mkstats(1, 64, SEC, SEC, 0);

			flowcache_update(fc, &k, &s);
		}
	flowcache_get_stats(fc, &fs);
	CHECK_U64(fs.flows, 150000);
	CHECK_U64(fs.created, 150000);
	flowcache_flush(fc, FLOW_END_FORCED, UINT32_MAX);
	CHECK_U64(total_packets, 300000);
	flowcache_free(fc);
	flowcache_free(NULL);
}

/*
 * The export-ahead hook names, while the cache expires from a list, the
 * record it exports two records later (pipeline.c prefetches its
 * translation): every record but the first two of a run is named exactly
 * once, before its export, in export order; an idle scan that stops at a
 * flow not yet due names at most the two records after the last one it
 * exports, never one of them twice.
 */
#define AHEAD_FLOWS 50
static struct xf_flow_key ahead_named[AHEAD_FLOWS + 8];
static int n_named, named_at_export[AHEAD_FLOWS];
static struct xf_flow_key ahead_out[AHEAD_FLOWS];
static int n_ahead_out;

static void on_ahead(void *ctx, const struct xf_flow_key *key)
{
	(void)ctx;
	if (n_named < AHEAD_FLOWS + 8)
		ahead_named[n_named++] = *key;
}

static void ahead_export(void *ctx, const struct xf_flow_key *key, const struct xf_flow_stats *st,
			 enum flow_end_reason reason)
{
	(void)ctx;
	(void)st;
	(void)reason;
	if (n_ahead_out < AHEAD_FLOWS) {
		named_at_export[n_ahead_out] = n_named;
		ahead_out[n_ahead_out++] = *key;
	}
}

static void test_export_ahead(void)
{
	struct flowcache *fc = flowcache_new(1000, &tmo, ahead_export, NULL);

	flowcache_set_export_ahead(fc, on_ahead);
	for (int i = 0; i < AHEAD_FLOWS; i++) {
		struct xf_flow_key k = mkkey((uint8_t)i, (uint16_t)(41000 + i), 17);
		/* flow i last seen at i seconds: the LRU order */
		struct xf_flow_stats s = mkstats(1, 64, (uint64_t)i * SEC, (uint64_t)i * SEC, 0);

		flowcache_update(fc, &k, &s);
	}
	/* idle 15 s: due at 15 + i s; at 34.5 s the first 20 are due */
	n_named = n_ahead_out = 0;
	CHECK_U64(flowcache_expire(fc, 34 * SEC + SEC / 2, UINT32_MAX), 20);
	CHECK_INT(n_ahead_out, 20);
	CHECK_INT(n_named, 20); /* records 2..21: two beyond the last exported */
	for (int j = 0; j < n_named; j++) {
		struct xf_flow_key want = mkkey((uint8_t)(j + 2), (uint16_t)(41002 + j), 17);

		CHECK(memcmp(&ahead_named[j], &want, sizeof(want)) == 0);
	}
	/* record k (k >= 2) was named before its export, two records earlier */
	for (int k = 0; k < n_ahead_out; k++)
		CHECK_INT(named_at_export[k], k + 1);
	/* the rest by flush: 30 records, 20 and 21 already named, 22..49 now */
	n_named = n_ahead_out = 0;
	CHECK_U64(flowcache_flush(fc, FLOW_END_FORCED, UINT32_MAX), 30);
	CHECK_INT(n_ahead_out, 30);
	CHECK_INT(n_named, 28);
	for (int j = 0; j < n_named; j++)
		CHECK(memcmp(&ahead_named[j], &ahead_out[j + 2], sizeof(struct xf_flow_key)) == 0);
	flowcache_free(fc);
}

/*
 * Hash flooding. Keys are chosen to collide under the flow cache's former
 * hash, which had no key: a multiply-xorshift anyone can evaluate, so an
 * attacker who picks source addresses and ports could put every flow in one
 * bucket (found by brute force against that function and the bucket mask
 * the cache has at this size). In the keyed cache they must cost no more
 * than random keys: the key comparisons that finding every cached flow once
 * takes (flowcache_chain_stats), never time.
 */
static uint64_t unkeyed_hash(const struct xf_flow_key *k)
{
	uint64_t w[6], h = 0x9e3779b97f4a7c15ULL;

	memcpy(w, k, sizeof(w));
	for (int i = 0; i < 6; i++) {
		h ^= w[i];
		h *= 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	h *= 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 29);
}

#define FLOOD_KEYS 2000
#define FLOOD_MASK 2047 /* 2000 flows: the cache starts at 1024 buckets and doubles */

static struct xf_flow_key flood_key(uint32_t c)
{
	struct xf_flow_key k = mkkey(0, (uint16_t)(1024 + (c >> 16)), 6);

	k.src_addr[1] = 18 + (uint8_t)((c >> 15) & 1);
	k.src_addr[2] = (uint8_t)(c >> 8 & 0x7f);
	k.src_addr[3] = (uint8_t)c;
	return k;
}

static void chain_cost(const struct xf_flow_key *keys, int n, uint32_t *longest, uint64_t *compares)
{
	struct flowcache *fc = flowcache_new(1000000, &tmo, count_export, NULL);
	struct xf_flow_stats s = mkstats(1, 64, SEC, SEC, 0x10);
	struct flowcache_stats fs;

	for (int i = 0; i < n; i++)
		flowcache_update(fc, &keys[i], &s);
	flowcache_get_stats(fc, &fs);
	CHECK_U64(fs.flows, n);
	flowcache_chain_stats(fc, longest, compares);
	flowcache_free(fc);
}

static void test_hash_flooding(void)
{
	static struct xf_flow_key attack[FLOOD_KEYS], random[FLOOD_KEYS];
	uint32_t c = 0, longest_attack, longest_random;
	uint64_t compares_attack, compares_random, seed = 0x9e3779b97f4a7c15ULL;
	int n = 0;

	while (n < FLOOD_KEYS) {
		struct xf_flow_key k = flood_key(c++);

		if ((unkeyed_hash(&k) & FLOOD_MASK) == 0)
			attack[n++] = k;
	}
	for (int i = 0; i < FLOOD_KEYS; i++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		random[i] = flood_key((uint32_t)(seed >> 20) ^ ((uint32_t)i << 24));
	}
	chain_cost(attack, FLOOD_KEYS, &longest_attack, &compares_attack);
	chain_cost(random, FLOOD_KEYS, &longest_random, &compares_random);
	printf("hash flooding, %d keys: longest chain %u (random keys %u), key comparisons to "
	       "find each once %llu (random keys %llu; one chain would take %d)\n",
	       FLOOD_KEYS, longest_attack, longest_random, (unsigned long long)compares_attack,
	       (unsigned long long)compares_random, FLOOD_KEYS * (FLOOD_KEYS + 1) / 2);
	/*
	 * 2000 keys in 2048 buckets take 2979 comparisons on average, standard
	 * deviation 31 (300 runs, both key sets; the ratio stayed within 0.96
	 * to 1.04): 5/4 is far out of reach of chance. The hash guarantees the
	 * expected number of colliding pairs (what the comparisons count), not
	 * the longest chain, so that one only has a loose bound (8 was the most).
	 */
	CHECK(compares_attack * 4 <= compares_random * 5);
	CHECK(compares_random < 2 * FLOOD_KEYS);
	CHECK(longest_attack <= 64);
}

/*
 * Random traffic against a model (with prefetch hints of random keys in
 * between, through rehashes and evictions): a hot set of 1000 keys, a moving set of
 * 300 that goes idle every 20 s, bursts of 1000 one-off keys into a cache of
 * 1500 (evictions), active timeouts (of ended flows too), FIN/RST, SYNs that
 * start a new record on an ended flow, and the cache's own rehash
 * from 1024 buckets. Every export must carry exactly the packets the model holds for
 * that key since its last export: a broken hash chain would make a key
 * unfindable, start a second entry and split its packets.
 */
#define MODEL_KEYS 8192

static uint64_t model_pkts[MODEL_KEYS];
static bool model_live[MODEL_KEYS];
static uint64_t model_exported, model_bad, model_evicted;

static uint32_t model_index(const struct xf_flow_key *k)
{
	return (uint32_t)k->src_addr[3] << 8 | (uint32_t)(k->src_port & 0xff);
}

static struct xf_flow_key model_key(uint32_t idx)
{
	/* a few keys differ only in protocol: neighbours in the same chains */
	return mkkey((uint8_t)(idx >> 8), (uint16_t)(0x100 | (idx & 0xff)), 6);
}

static void model_export(void *ctx, const struct xf_flow_key *key, const struct xf_flow_stats *st,
			 enum flow_end_reason reason)
{
	uint32_t idx = model_index(key);

	(void)ctx;
	if (idx >= MODEL_KEYS || !model_live[idx] || st->packets != model_pkts[idx])
		model_bad++;
	if (idx < MODEL_KEYS) {
		model_pkts[idx] = 0;
		model_live[idx] = false;
	}
	if (reason == FLOW_END_LACK_OF_RESOURCES)
		model_evicted++;
	model_exported += st->packets;
}

static void test_random_model(void)
{
	struct flowcache *fc = flowcache_new(1500, &tmo, model_export, NULL);
	struct flowcache_stats fs;
	uint64_t seed = 0x243f6a8885a308d3ULL, now = SEC, sent = 0;
	uint32_t live;

	memset(model_pkts, 0, sizeof(model_pkts));
	memset(model_live, 0, sizeof(model_live));
	model_exported = model_bad = model_evicted = 0;
	for (int step = 0; step < 300000; step++) {
		uint32_t idx, r;
		struct xf_flow_key k;
		struct xf_flow_stats st;

		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		r = (uint32_t)(seed >> 16);
		if (step % 50000 >= 48000 && step % 2) /* burst: 1000 one-off keys */
			idx = 4000 + (uint32_t)(step % 50000 - 48000) / 2 +
			      1000 * (step / 50000 % 4);
		else if (r % 4) /* hot */
			idx = (r >> 8) % 1000;
		else /* this phase's cold keys */
			idx = 1000 + ((uint32_t)step / 20000 * 300 + (r >> 8) % 300) % 3000;
		k = model_key((r >> 3) % MODEL_KEYS);
		flowcache_prefetch(fc, &k); /* a hint, whatever the key: changes nothing */
		k = model_key(idx);
		/* now and then a FIN, and a SYN (a new connection if the flow had ended) */
		st = mkstats(1 + r % 3, 100, now, now,
			     (r & 0x3ff) == 7	? 0x01
			     : (r & 0x3ff) == 9 ? 0x02
						: 0x10);
		flowcache_update(fc, &k, &st);
		model_pkts[idx] += st.packets;
		model_live[idx] = true;
		sent += st.packets;
		if (step % 1000 == 999) {
			now += SEC;
			/* every other phase a small budget: flows wait, some split */
			flowcache_expire(fc, now, step / 25000 % 2 ? 50 + r % 100 : UINT32_MAX);
		}
	}
	live = 0;
	for (uint32_t i = 0; i < MODEL_KEYS; i++)
		live += model_live[i];
	flowcache_get_stats(fc, &fs);
	CHECK_U64(fs.flows, live);
	CHECK(model_evicted > 0);
	CHECK(fs.exported[FLOW_END_IDLE] > 0 && fs.exported[FLOW_END_ACTIVE] > 0 &&
	      fs.exported[FLOW_END_END_OF_FLOW] > 0);
	flowcache_flush(fc, FLOW_END_FORCED, UINT32_MAX);
	CHECK_U64(model_bad, 0);
	CHECK_U64(model_exported, sent);
	flowcache_get_stats(fc, &fs);
	CHECK_U64(fs.flows, 0);
	flowcache_free(fc);
}

int main(void)
{
	RUN(test_merge_and_idle);
	RUN(test_active_intervals);
	RUN(test_fin_rst);
	RUN(test_active_after_fin);
	RUN(test_tuple_reuse);
	RUN(test_lru_eviction);
	RUN(test_expire_budget);
	RUN(test_budget_order);
	RUN(test_evict_held);
	RUN(test_many_flows);
	RUN(test_export_ahead);
	RUN(test_random_model);
	RUN(test_hash_flooding);
	return tu_finish();
}
