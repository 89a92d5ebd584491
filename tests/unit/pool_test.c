// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit test for src/pool.c: the connection key is the same for both
 * directions and every observation point of a connection (with and without
 * NAT, and from a NAT event's tuples), hash picks are stable, spread
 * evenly, move only a down member's connections and return when it is
 * back, round-robin takes turns among the members that are up.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "testutil.h"

static const char *const urls[3] = { "tcp://127.0.0.1:4801", "tcp://127.0.0.1:4802",
				     "udp://[2001:db8::7]:4739" };

static void ip4(uint8_t *a, const char *s)
{
	memset(a, 0, 16);
	inet_pton(AF_INET, s, a);
}

static struct flow_record flow4(uint8_t proto, const char *src, uint16_t sport, const char *dst,
				uint16_t dport)
{
	struct flow_record r;

	memset(&r, 0, sizeof(r));
	r.key.family = XF_FAMILY_IPV4;
	r.key.proto = proto;
	ip4(r.key.src_addr, src);
	ip4(r.key.dst_addr, dst);
	r.key.src_port = sport;
	r.key.dst_port = dport;
	return r;
}

/* A translated record: pre (the packet before NAT) and post, one of them the key. */
static struct flow_record flow4_xlat(const char *psrc, uint16_t psport, const char *pdst,
				     uint16_t pdport, const char *qsrc, uint16_t qsport,
				     const char *qdst, uint16_t qdport, uint8_t observed)
{
	struct flow_record r = observed == XLAT_OBSERVED_PRE
				       ? flow4(IPPROTO_TCP, psrc, psport, pdst, pdport)
				       : flow4(IPPROTO_TCP, qsrc, qsport, qdst, qdport);

	r.has_xlat = true;
	ip4(r.xlat.pre_src, psrc);
	ip4(r.xlat.pre_dst, pdst);
	ip4(r.xlat.post_src, qsrc);
	ip4(r.xlat.post_dst, qdst);
	r.xlat.pre_sport = psport;
	r.xlat.pre_dport = pdport;
	r.xlat.post_sport = qsport;
	r.xlat.post_dport = qdport;
	r.xlat.observed = observed;
	r.xlat.zone_id = 7;
	return r;
}

static struct xf_tuple tuple4(const char *src, uint16_t sport, const char *dst, uint16_t dport)
{
	struct xf_tuple t;

	memset(&t, 0, sizeof(t));
	t.family = XF_FAMILY_IPV4;
	t.proto = IPPROTO_TCP;
	ip4(t.src_addr, src);
	ip4(t.dst_addr, dst);
	t.src_port = sport;
	t.dst_port = dport;
	return t;
}

static void test_key_directions(void)
{
	struct flow_record a = flow4(IPPROTO_TCP, "198.18.0.1", 40000, "198.18.0.2", 80);
	struct flow_record b = flow4(IPPROTO_TCP, "198.18.0.2", 80, "198.18.0.1", 40000);
	struct flow_record c = flow4(IPPROTO_TCP, "198.18.0.1", 40001, "198.18.0.2", 80);
	struct flow_record d = flow4(IPPROTO_UDP, "198.18.0.1", 40000, "198.18.0.2", 80);
	/* ICMP: the echo request and its reply differ in type, not in connection */
	struct flow_record e = flow4(IPPROTO_ICMP, "198.18.0.1", 8 << 8, "198.18.0.2", 0);
	struct flow_record f = flow4(IPPROTO_ICMP, "198.18.0.2", 0, "198.18.0.1", 0);

	CHECK_U64(pool_flow_key(&a), pool_flow_key(&b));
	CHECK(pool_flow_key(&a) != pool_flow_key(&c));
	CHECK(pool_flow_key(&a) != pool_flow_key(&d));
	CHECK_U64(pool_flow_key(&e), pool_flow_key(&f));
	/* interface, direction, VLAN do not count: the same connection on another port */
	b.key.ifindex = 9;
	b.key.direction = 1;
	b.key.vlan_id = 100;
	CHECK_U64(pool_flow_key(&a), pool_flow_key(&b));
}

/*
 * Client C 198.18.1.10:40000 -> service S 198.19.0.10:80, DNAT to backend
 * B 198.18.2.20:8080 and SNAT to C' 198.18.2.1:50000: conntrack's orig
 * C:40000 -> S:80, reply B:8080 -> C':50000. Every record of it, both
 * directions, observed before and after NAT, and the event's tuples, one key.
 */
static void test_key_nat(void)
{
	struct flow_record orig_pre = flow4_xlat("198.18.1.10", 40000, "198.19.0.10", 80,
						 "198.18.2.1", 50000, "198.18.2.20", 8080,
						 XLAT_OBSERVED_PRE);
	struct flow_record orig_post = flow4_xlat("198.18.1.10", 40000, "198.19.0.10", 80,
						  "198.18.2.1", 50000, "198.18.2.20", 8080,
						  XLAT_OBSERVED_POST);
	struct flow_record reply_pre = flow4_xlat("198.18.2.20", 8080, "198.18.2.1", 50000,
						  "198.19.0.10", 80, "198.18.1.10", 40000,
						  XLAT_OBSERVED_PRE);
	struct flow_record reply_post = flow4_xlat("198.18.2.20", 8080, "198.18.2.1", 50000,
						   "198.19.0.10", 80, "198.18.1.10", 40000,
						   XLAT_OBSERVED_POST);
	struct xf_tuple o = tuple4("198.18.1.10", 40000, "198.19.0.10", 80);
	struct xf_tuple r = tuple4("198.18.2.20", 8080, "198.18.2.1", 50000);
	uint64_t k = pool_flow_key(&orig_pre);
	struct flow_record other = orig_pre;

	CHECK_U64(pool_flow_key(&orig_post), k);
	CHECK_U64(pool_flow_key(&reply_pre), k);
	CHECK_U64(pool_flow_key(&reply_post), k);
	CHECK_U64(pool_tuple_key(&o, &r), k);
	CHECK_U64(pool_tuple_key(&r, &o), k);
	/* the key is the original tuple's pair here (198.18.1.10 < 198.18.2.1): seen without translation info, the original direction keeps it */
	struct flow_record plain = flow4(IPPROTO_TCP, "198.19.0.10", 80, "198.18.1.10", 40000);

	CHECK_U64(pool_flow_key(&plain), k);
	other.xlat.pre_sport = 40001;
	other.key.src_port = 40001;
	CHECK(pool_flow_key(&other) != k);
}

static void test_hash_pick(void)
{
	uint64_t seeds[3], rev[3];
	int count[3] = { 0 }, moved = 0, kept = 0, to[3] = { 0 };
	const int n = 30000;

	for (int i = 0; i < 3; i++) {
		seeds[i] = pool_member_seed(urls[i]);
		rev[2 - i] = seeds[i];
	}
	CHECK(seeds[0] != seeds[1] && seeds[1] != seeds[2]);
	CHECK_U64(pool_member_seed(urls[1]), seeds[1]); /* no per-process salt */
	for (int i = 0; i < n; i++) {
		struct flow_record f = flow4(IPPROTO_UDP, "198.18.0.1",
					     (uint16_t)(10000 + i % 50000), "198.18.0.2",
					     (uint16_t)(5000 + i / 50000));
		uint64_t key = pool_flow_key(&f);
		int home = pool_pick_hash(seeds, 3, 0x7, key), down;

		CHECK_INT(pool_pick_hash(seeds, 3, 0, key), home); /* 0: as if all were up */
		CHECK_INT(pool_pick_hash(seeds, 3, 0x7, key), home);
		/* the member list reversed: the same URL takes it */
		CHECK_INT(pool_pick_hash(rev, 3, 0x7, key), 2 - home);
		count[home]++;
		/* member 1 down: only its connections move, to the others */
		down = pool_pick_hash(seeds, 3, 0x5, key);
		CHECK(down != 1);
		if (home == 1) {
			moved++;
			to[down]++;
		} else {
			CHECK_INT(down, home);
			kept++;
		}
		/* only one up: it takes all */
		CHECK_INT(pool_pick_hash(seeds, 3, 0x4, key), 2);
	}
	/* evenly: each near n/3 (binomial sd 82; 900 is 11 sd) */
	for (int i = 0; i < 3; i++)
		CHECK(abs(count[i] - n / 3) < 900);
	CHECK_INT(moved, count[1]);
	CHECK_INT(kept, count[0] + count[2]);
	/* what member 1 had spreads over both others */
	CHECK(abs(to[0] - count[1] / 2) < 600);
	CHECK(abs(to[2] - count[1] / 2) < 600);
	printf("hash: %d/%d/%d of %d; member 1 down: %d to 0, %d to 2\n", count[0], count[1],
	       count[2], n, to[0], to[2]);
}

static void test_round_robin(void)
{
	uint32_t next = 0;
	int seq[6];

	for (int i = 0; i < 6; i++)
		seq[i] = pool_pick_next(&next, 3, 0x7);
	CHECK(seq[0] == 0 && seq[1] == 1 && seq[2] == 2 && seq[3] == 0 && seq[4] == 1 &&
	      seq[5] == 2);
	/* member 1 down: 0, 2, 0, 2 */
	next = 0;
	for (int i = 0; i < 4; i++)
		CHECK_INT(pool_pick_next(&next, 3, 0x5), i % 2 ? 2 : 0);
	/* back up: its turn again */
	CHECK_INT(pool_pick_next(&next, 3, 0x7), 0);
	CHECK_INT(pool_pick_next(&next, 3, 0x7), 1);
	/* none up: in turn regardless */
	next = 0;
	for (int i = 0; i < 4; i++)
		CHECK_INT(pool_pick_next(&next, 3, 0), i % 3);
}

int main(void)
{
	RUN(test_key_directions);
	RUN(test_key_nat);
	RUN(test_hash_pick);
	RUN(test_round_robin);
	return tu_finish();
}
