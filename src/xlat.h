/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The translation table: every NAT translation reported by the kernel hook
 * (or conntrack netlink), indexed by all four tuples a connection's packets
 * can carry, so any flow of the connection finds it. See docs/nat.md.
 */
#ifndef XF_XLAT_H
#define XF_XLAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow.h"
#include "xlatflow_shared.h"

struct xlat_table;

/* Largest bound (config key max_translations): about 17 GiB of table at most. */
#define XLAT_MAX_TRANSLATIONS 100000000u

struct xlat_table_stats {
	uint64_t translations; /* held now (xlat_table_size) */
	uint64_t evicted;      /* dropped before their time to stay within the bound */
	uint64_t bytes;	       /* heap the table holds: records, index, the table itself */
};

/*
 * timeout_ms: a translation not refreshed for this long is dropped.
 * max_translations (1..XLAT_MAX_TRANSLATIONS): the table holds at most this
 * many; a new one then evicts a removed one still in its grace, else the
 * least recently seen.
 */
struct xlat_table *xlat_table_new(uint64_t timeout_ms, uint32_t max_translations);
void xlat_table_free(struct xlat_table *tab);

/* A new timeout_ms (a reload), applied from the next xlat_table_expire(). */
void xlat_table_set_timeout(struct xlat_table *tab, uint64_t timeout_ms);

/* A smaller bound evicts at once (the record array keeps its size). */
void xlat_table_set_max(struct xlat_table *tab, uint32_t max_translations);

/*
 * Insert or refresh a translation; now_ms is CLOCK_MONOTONIC ms. Records
 * are kept in the order they were last seen, so now_ms should not go back
 * between calls (a stamp from the past only delays expiry).
 */
void xlat_table_update(struct xlat_table *tab, const struct xf_xlat_event *ev, uint64_t now_ms);

/*
 * How long a removed connection stays findable (default 2 s): flows of a
 * closed connection exported up to this long after the removal still get
 * their translation.
 */
void xlat_table_set_remove_grace(struct xlat_table *tab, uint64_t grace_ms);

/* Forget a connection (conntrack DESTROY), keyed by its original tuple. */
void xlat_table_remove(struct xlat_table *tab, const struct xf_tuple *orig);

/*
 * Find the translation of the connection a flow key belongs to and fill out
 * in the flow's own direction. Returns false when the flow is not translated.
 */
bool xlat_table_lookup(const struct xlat_table *tab, const struct xf_flow_key *key,
		       struct xlat_info *out);

/*
 * A hint, no effect otherwise: the index slot xlat_table_lookup() of this
 * key reads first is brought into the cache (a DRAM and TLB miss in a table
 * of 100000s of translations). pipeline.c calls it two records ahead.
 */
void xlat_table_prefetch(const struct xlat_table *tab, const struct xf_flow_key *key);

/* Drop what timed out and what ended its grace: O(dropped), not O(table). */
void xlat_table_expire(struct xlat_table *tab, uint64_t now_ms);
size_t xlat_table_size(const struct xlat_table *tab);
void xlat_table_get_stats(const struct xlat_table *tab, struct xlat_table_stats *out);

/*
 * The most heap a table bounded by max_translations holds (stats.bytes),
 * not counting the moment of a resize, when the old array is still there.
 */
uint64_t xlat_table_max_bytes(uint32_t max_translations);

#endif
