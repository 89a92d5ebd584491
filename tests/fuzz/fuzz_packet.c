// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fuzz target: the TC flow parser. Each input is one Ethernet frame, run
 * through xf_tc_ingress with BPF_PROG_TEST_RUN (the programs of
 * capture_open(), not attached anywhere). A userspace parser written here
 * from the protocol formats and the documented rules (bpf/lib/flow_parse.h
 * header comment, xlatflow_shared.h) says what the program must have
 * counted, and the program's counters and flow slots must agree exactly:
 *   - non-IP: NON_IP + 1, nothing else; malformed: MALFORMED + 1, nothing
 *     else;
 *   - well-formed: PACKETS + 1, OCTETS + the IP length, and exactly one
 *     flow entry whose key (addresses, ports or ICMP type/code, protocol,
 *     family, VLAN id) and stats (1 packet, the IP length, TCP flags, TOS)
 *     are the ones parsed here.
 * Needs root (BPF); the replay build exits 77 without it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "capture.h"
#include "drain.h"
#include "fuzz.h"
#include "../unit/testskip.h"

#define LO_IFINDEX 1 /* BPF_PROG_TEST_RUN runs on loopback */
#define MAX_FRAME 1514
#define L4_OFF_MAX 1024
#define VLAN_MAX 3
#define IPV6_EXT_MAX 8

enum verdict { V_OK, V_NON_IP, V_MALFORMED };

struct expect {
	struct xf_flow_key key;
	uint32_t ip_len;
	uint16_t tcp_flags;
	uint8_t tos;
};

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Transport header at l4 (absolute offset), the IP packet ending at end. */
static enum verdict parse_l4(const uint8_t *p, uint32_t l4, uint32_t end, struct expect *e)
{
	uint32_t avail;

	if (l4 > L4_OFF_MAX || l4 > end)
		return V_MALFORMED;
	avail = end - l4;
	switch (e->key.proto) {
	case 6: { /* TCP: data offset in 32-bit words, at least 5 */
		uint32_t doff;

		if (avail < 20)
			return V_MALFORMED;
		doff = (uint32_t)(p[l4 + 12] >> 4) * 4;
		if (doff < 20 || doff > avail)
			return V_MALFORMED;
		e->key.src_port = be16(p + l4);
		e->key.dst_port = be16(p + l4 + 2);
		e->tcp_flags = (uint16_t)(p[l4 + 13] | (p[l4 + 12] & 1) << 8);
		return V_OK;
	}
	case 17:
	case 136: /* UDP, UDP-Lite */
		if (avail < 8)
			return V_MALFORMED;
		e->key.src_port = be16(p + l4);
		e->key.dst_port = be16(p + l4 + 2);
		return V_OK;
	case 132: /* SCTP common header */
		if (avail < 12)
			return V_MALFORMED;
		e->key.src_port = be16(p + l4);
		e->key.dst_port = be16(p + l4 + 2);
		return V_OK;
	case 1:
	case 58: /* ICMP in IPv4, ICMPv6 in IPv6; crossed they are just protocols */
		if ((e->key.proto == 1) != (e->key.family == XF_FAMILY_IPV4))
			return V_OK;
		if (avail < 8)
			return V_MALFORMED;
		e->key.dst_port = (uint16_t)(p[l4] << 8 | p[l4 + 1]);
		return V_OK;
	default: return V_OK;
	}
}

static bool ipv6_ext(uint8_t nh)
{
	return nh == 0 || nh == 43 || nh == 44 || nh == 60;
}

static enum verdict parse(const uint8_t *p, uint32_t len, struct expect *e)
{
	uint32_t off = 14, ip_len, end;
	uint16_t type;

	memset(e, 0, sizeof(*e));
	if (len < 14)
		return V_MALFORMED;
	type = be16(p + 12);
	for (int i = 0; i < VLAN_MAX && (type == 0x8100 || type == 0x88a8); i++) {
		if (off + 4 > len)
			return V_MALFORMED;
		if (i == 0)
			e->key.vlan_id = be16(p + off) & 0x0fff;
		type = be16(p + off + 2);
		off += 4;
	}
	if (type == 0x0800) {
		uint32_t ihl;

		if (off + 20 > len)
			return V_MALFORMED;
		if (p[off] >> 4 != 4 || (p[off] & 15) < 5)
			return V_MALFORMED;
		ihl = (uint32_t)(p[off] & 15) * 4;
		ip_len = be16(p + off + 2);
		if (ip_len > len - off || ip_len < ihl)
			return V_MALFORMED;
		e->ip_len = ip_len;
		e->tos = p[off + 1];
		e->key.family = XF_FAMILY_IPV4;
		e->key.proto = p[off + 9];
		memcpy(e->key.src_addr, p + off + 12, 4);
		memcpy(e->key.dst_addr, p + off + 16, 4);
		if (be16(p + off + 6) & 0x1fff) /* not the first fragment: no ports */
			return V_OK;
		return parse_l4(p, off + ihl, off + ip_len, e);
	}
	if (type == 0x86dd) {
		uint32_t l4;
		uint8_t nh;
		int i;

		if (off + 40 > len)
			return V_MALFORMED;
		if (p[off] >> 4 != 6)
			return V_MALFORMED;
		ip_len = be16(p + off + 4) + 40u;
		if (ip_len > len - off)
			return V_MALFORMED;
		e->ip_len = ip_len;
		e->tos = (uint8_t)((p[off] & 15) << 4 | p[off + 1] >> 4);
		e->key.family = XF_FAMILY_IPV6;
		memcpy(e->key.src_addr, p + off + 8, 16);
		memcpy(e->key.dst_addr, p + off + 24, 16);
		nh = p[off + 6];
		l4 = off + 40;
		end = off + ip_len;
		for (i = 0; i < IPV6_EXT_MAX && ipv6_ext(nh); i++) {
			if (l4 > L4_OFF_MAX || l4 + 8 > end)
				return V_MALFORMED;
			if (nh == 44) { /* fragment header: 8 bytes */
				nh = p[l4];
				if (be16(p + l4 + 2) & 0xfff8) {
					e->key.proto = nh;
					return V_OK;
				}
				l4 += 8;
			} else {
				nh = p[l4];
				l4 += ((uint32_t)p[l4 + 1] + 1) * 8;
			}
		}
		if (ipv6_ext(nh))
			return V_MALFORMED;
		e->key.proto = nh;
		return parse_l4(p, l4, end, e);
	}
	return V_NON_IP;
}

static struct capture *cap;
static struct drain *cap_drain; /* cap's */

int fuzz_init(void);
int fuzz_init(void)
{
	struct capture_opts o = { .kernel_max_flows = 1024 };
	char err[512];

	if (cap)
		return 0;
	if (!tu_bpf_capable()) {
		printf("SKIP: needs CAP_BPF and CAP_NET_ADMIN (run as root)\n");
		return 77;
	}
	libbpf_set_print(NULL);
	/* with the capabilities, a load or verifier failure is ours: FAIL */
	cap = capture_open(&o, err, sizeof(err));
	if (!cap) {
		printf("FAIL: cannot load the flow programs: %s\n", err);
		return 1;
	}
	cap_drain = drain_new(cap);
	return 0;
}

static void counters(uint64_t out[XF_CNT_MAX])
{
	if (capture_read_counters(cap, out) < 0)
		FUZZ_FAIL("cannot read counters");
}

static void dump_key(const char *what, const struct xf_flow_key *k)
{
	fprintf(stderr, "%s: family %u proto %u ports %u -> %u vlan %u ifindex %u dir %u\n", what,
		k->family, k->proto, k->src_port, k->dst_port, k->vlan_id, k->ifindex,
		k->direction);
}

/* What the program stored for the frame: the last flow's key, all flows' stats. */
struct stored {
	struct xf_flow_key key;
	struct xf_flow_stats sum;
};

static void on_slot(void *ctx, const struct xf_flow_key *key, const struct xf_flow_stats *merged)
{
	struct stored *st = ctx;

	st->key = *key;
	st->sum.packets += merged->packets;
	st->sum.octets += merged->octets;
	st->sum.tcp_flags |= merged->tcp_flags;
	st->sum.tos = merged->tos;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stored st = { 0 };
	uint64_t c0[XF_CNT_MAX], c1[XF_CNT_MAX];
	uint8_t pkt[MAX_FRAME];
	struct expect e;
	enum verdict v;
	uint32_t old;
	int n, rc;

	if (fuzz_init() != 0)
		abort();
	/* BPF_PROG_TEST_RUN refuses a frame of no more than an Ethernet header (EINVAL) */
	if (size <= 14 || size > MAX_FRAME)
		return 0;
	memcpy(pkt, data, size);
	v = parse(pkt, (uint32_t)size, &e);

	counters(c0);
	{
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = (uint32_t)size,
			    .repeat = 1);

		rc = bpf_prog_test_run_opts(capture_prog_fd(cap, XF_DIR_INGRESS), &o);
	}
	counters(c1);
	if (rc == -EINVAL) {
		/* the kernel refused the frame before running the program: nothing counted */
		if (memcmp(c0, c1, sizeof(c0)) != 0)
			FUZZ_FAIL("counters changed although BPF_PROG_TEST_RUN refused the frame");
		return 0;
	}
	if (rc < 0)
		FUZZ_FAIL("BPF_PROG_TEST_RUN: %d", rc);

	/* what the program stored: every slot of the epoch, which then moves on */
	old = capture_epoch(cap);
	capture_set_epoch(cap, old + 1);
	n = drain_slots(cap_drain, old & 1, on_slot, &st);

	uint64_t d_pk = c1[XF_CNT_PACKETS] - c0[XF_CNT_PACKETS];
	uint64_t d_oc = c1[XF_CNT_OCTETS] - c0[XF_CNT_OCTETS];
	uint64_t d_ni = c1[XF_CNT_NON_IP] - c0[XF_CNT_NON_IP];
	uint64_t d_ma = c1[XF_CNT_MALFORMED] - c0[XF_CNT_MALFORMED];

	switch (v) {
	case V_NON_IP:
	case V_MALFORMED:
		if (d_pk || d_oc || n || d_ni != (v == V_NON_IP) || d_ma != (v == V_MALFORMED))
			FUZZ_FAIL("%s frame: packets +%lu octets +%lu non-ip +%lu malformed +%lu, "
				  "%d flows",
				  v == V_NON_IP ? "non-IP" : "malformed", (unsigned long)d_pk,
				  (unsigned long)d_oc, (unsigned long)d_ni, (unsigned long)d_ma, n);
		return 0;
	case V_OK: break;
	}
	e.key.ifindex = LO_IFINDEX;
	e.key.direction = XF_DIR_INGRESS;
	if (d_pk != 1 || d_oc != e.ip_len || d_ni || d_ma || n != 1) {
		dump_key("expected", &e.key);
		FUZZ_FAIL("well-formed frame (ip length %u): packets +%lu octets +%lu non-ip +%lu "
			  "malformed +%lu, %d flows",
			  e.ip_len, (unsigned long)d_pk, (unsigned long)d_oc, (unsigned long)d_ni,
			  (unsigned long)d_ma, n);
	}
	if (memcmp(&st.key, &e.key, sizeof(st.key)) != 0) {
		dump_key("expected", &e.key);
		dump_key("got", &st.key);
		FUZZ_FAIL("flow key differs");
	}
	if (st.sum.packets != 1 || st.sum.octets != e.ip_len || st.sum.tcp_flags != e.tcp_flags ||
	    st.sum.tos != e.tos)
		FUZZ_FAIL("stats: packets %lu octets %lu (want %u) tcp_flags %#x (want %#x) tos %u "
			  "(want %u)",
			  (unsigned long)st.sum.packets, (unsigned long)st.sum.octets, e.ip_len,
			  st.sum.tcp_flags, e.tcp_flags, st.sum.tos, e.tos);
	return 0;
}
