/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * An order-independent digest of a set of IPv4 UDP/TCP tuples: the sum of a
 * 64-bit hash of each. The traffic generator (xf-ctgen) sums what it sent,
 * the conntrack probe (xlat_conntrack_listen -c) what it was told, and the
 * test compares: a missing, extra, duplicated or wrong tuple changes the sum.
 */
#ifndef XF_TUPLE_DIGEST_H
#define XF_TUPLE_DIGEST_H

#include <stdint.h>
#include <string.h>

/* src/dst in network byte order, ports in host byte order. */
static inline uint64_t tuple_digest_hash(const uint8_t src[4], const uint8_t dst[4], uint16_t sport,
					 uint16_t dport, uint8_t proto)
{
	uint32_t s, d;
	uint64_t h;

	memcpy(&s, src, 4);
	memcpy(&d, dst, 4);
	h = (uint64_t)s << 32 | d;
	h ^= ((uint64_t)sport << 24 | (uint64_t)dport << 8 | proto) * 0x9e3779b97f4a7c15ULL;
	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
	return h ^ (h >> 31);
}

#endif
