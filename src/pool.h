/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Which member of a collector group (xf_pool_config) a record goes to.
 *
 * hash: rendezvous (highest random weight) hashing. Each member has a seed
 * made from its URL; a record's connection key is mixed with every seed
 * and the member with the highest score among those that are up takes the
 * record. So the choice depends only on the connection and the member
 * URLs: every node configured with the same members sends one connection's
 * records to the same member, a reorder of the list changes nothing, and a
 * member that goes down moves only its own connections (each to the member
 * that scores next for it), which return when it is back.
 *
 * round-robin: the next member that is up, in turn.
 *
 * When no member is up, the choice ignores the state (the caller's member
 * then keeps the record as a down collector does: TCP backlog, UDP send).
 */
#ifndef XF_POOL_H
#define XF_POOL_H

#include <stdint.h>

#include "flow.h"
#include "xlatflow_shared.h"

/* The hash seed of a member, from its URL as configured. */
uint64_t pool_member_seed(const char *url);

/*
 * The connection key of a flow record, the same for both directions of a
 * connection, before and after NAT, at every observation point: of the
 * two tuples a translated record carries (before and after NAT), each made
 * direction-free by ordering its two endpoints, the smaller one. Without a
 * translation both are the flow key's, which for a connection without NAT
 * is its original tuple. Addresses, protocol and (for protocols with ports)
 * ports go in; interface, VLAN and zone do not.
 */
uint64_t pool_flow_key(const struct flow_record *rec);

/*
 * The same key from a conntrack connection's original and reply tuples (a
 * NAT event): equal to pool_flow_key() of every flow record of it.
 */
uint64_t pool_tuple_key(const struct xf_tuple *orig, const struct xf_tuple *reply);

/*
 * hash: the member (0..n-1) for key among seeds[0..n-1]; bit i of up_mask
 * set when member i is up. up_mask 0: as if every member were up.
 */
int pool_pick_hash(const uint64_t *seeds, int n, uint32_t up_mask, uint64_t key);

/* round-robin: the member after *next (which it advances) that is up. */
int pool_pick_next(uint32_t *next, int n, uint32_t up_mask);

#endif
