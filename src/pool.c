// SPDX-License-Identifier: GPL-2.0-only
/* Member selection of a collector group (pool.h). */
#include <string.h>

#include "pool.h"

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= FNV_PRIME;
	}
	return h;
}

/* splitmix64's finalizer: every input bit moves every output bit */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

uint64_t pool_member_seed(const char *url)
{
	return mix64(fnv1a(FNV_OFFSET, url, strlen(url)));
}

/* Both endpoints of a tuple, the smaller (address, then port) first. */
struct pair {
	uint8_t a[16];
	uint16_t a_port;
	uint8_t b[16];
	uint16_t b_port;
} __attribute__((packed));

static void pair_make(struct pair *p, const uint8_t *src, uint16_t sport, const uint8_t *dst,
		      uint16_t dport, int alen, bool ports)
{
	int c = memcmp(src, dst, (size_t)alen);

	if (!ports)
		sport = dport = 0;
	if (c > 0 || (c == 0 && sport > dport)) {
		const uint8_t *t = src;
		uint16_t tp = sport;

		src = dst;
		dst = t;
		sport = dport;
		dport = tp;
	}
	memset(p, 0, sizeof(*p));
	memcpy(p->a, src, (size_t)alen);
	memcpy(p->b, dst, (size_t)alen);
	p->a_port = sport;
	p->b_port = dport;
}

static uint64_t pairs_key(uint8_t family, uint8_t proto, const struct pair *x, const struct pair *y)
{
	const struct pair *p = memcmp(x, y, sizeof(*x)) <= 0 ? x : y;
	uint64_t h = fnv1a(FNV_OFFSET, &family, 1);

	h = fnv1a(h, &proto, 1);
	return mix64(fnv1a(h, p, sizeof(*p)));
}

static int addr_len(uint8_t family)
{
	return family == XF_FAMILY_IPV4 ? 4 : 16;
}

uint64_t pool_flow_key(const struct flow_record *rec)
{
	const struct xf_flow_key *k = &rec->key;
	const struct xlat_info *x = &rec->xlat;
	bool ports = flow_proto_has_ports(k->proto);
	int alen = addr_len(k->family);
	struct pair pre, post;

	if (!rec->has_xlat) {
		pair_make(&pre, k->src_addr, k->src_port, k->dst_addr, k->dst_port, alen, ports);
		return pairs_key(k->family, k->proto, &pre, &pre);
	}
	pair_make(&pre, x->pre_src, x->pre_sport, x->pre_dst, x->pre_dport, alen, ports);
	pair_make(&post, x->post_src, x->post_sport, x->post_dst, x->post_dport, alen, ports);
	return pairs_key(k->family, k->proto, &pre, &post);
}

uint64_t pool_tuple_key(const struct xf_tuple *orig, const struct xf_tuple *reply)
{
	bool ports = flow_proto_has_ports(orig->proto);
	int alen = addr_len(orig->family);
	struct pair o, r;

	pair_make(&o, orig->src_addr, orig->src_port, orig->dst_addr, orig->dst_port, alen, ports);
	pair_make(&r, reply->src_addr, reply->src_port, reply->dst_addr, reply->dst_port, alen,
		  ports);
	return pairs_key(orig->family, orig->proto, &o, &r);
}

int pool_pick_hash(const uint64_t *seeds, int n, uint32_t up_mask, uint64_t key)
{
	uint64_t best_score = 0;
	int best = 0;

	if (!up_mask)
		up_mask = UINT32_MAX;
	for (int i = 0, found = 0; i < n; i++) {
		uint64_t score;

		if (!(up_mask & (1u << i)))
			continue;
		score = mix64(key ^ seeds[i]);
		if (!found++ || score > best_score) {
			best_score = score;
			best = i;
		}
	}
	return best;
}

int pool_pick_next(uint32_t *next, int n, uint32_t up_mask)
{
	uint32_t start = *next % (uint32_t)n;

	for (int k = 0; k < n; k++) {
		uint32_t i = (start + (uint32_t)k) % (uint32_t)n;

		if (up_mask & (1u << i)) {
			*next = i + 1;
			return (int)i;
		}
	}
	*next = start + 1; /* none is up: in turn regardless */
	return (int)start;
}
