/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The userspace flow cache: merges the aggregates drained from the kernel
 * into long-lived flows and decides when each flow's record is exported.
 *
 * A flow is exported, and removed, when
 *   - no packet arrived for idle_timeout          (flowEndReason 1, idle)
 *   - its first packet is active_timeout old      (2, active: long flows are
 *     reported in intervals, each record with the delta since the last).
 *     This holds after FIN/RST too (a half-closed connection goes on): the
 *     ended flow's interval is reported and it stays, still ended
 *   - TCP FIN or RST was seen and fin_grace passed since its last packet
 *                                                 (3, end of flow); also at
 *     once when a SYN arrives for such a flow: a new connection reusing the
 *     5-tuple, which gets a record of its own
 *   - the cache holds max_flows and a new flow needs room: the least recently
 *     updated flow goes                           (5, lack of resources)
 *   - flowcache_flush() at shutdown               (4, forced end; a reload
 *     keeps every cached flow)
 * All times are CLOCK_MONOTONIC nanoseconds, as the kernel stamps packets.
 *
 * Memory: one struct flow_entry (120 bytes) per flow plus 4 to 8 bytes of
 * bucket array; entries are allocated in chunks of 4096 as the cache grows
 * (bench/flowcache_bench: 125 heap bytes per flow at 1M flows).
 */
#ifndef XF_FLOWCACHE_H
#define XF_FLOWCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "flow.h"
#include "xlatflow_shared.h"

struct flowcache;

/*
 * Called for every record the cache exports. key and stats are only valid
 * during the call; stats holds the counters of this record (deltas).
 */
typedef void (*flowcache_export_cb)(void *ctx, const struct xf_flow_key *key,
				    const struct xf_flow_stats *stats, enum flow_end_reason reason);

struct flowcache_timeouts {
	uint64_t active_ns;
	uint64_t idle_ns;
	uint64_t fin_grace_ns; /* wait after FIN/RST for the last ACKs */
};

struct flowcache_stats {
	uint64_t flows; /* currently cached with packets not yet exported */
	uint64_t created;
	uint64_t exported[6]; /* by flowEndReason (index 1..5) */
	uint64_t evicted;     /* = exported[LACK_OF_RESOURCES] */
};

struct flowcache *flowcache_new(uint32_t max_flows, const struct flowcache_timeouts *t,
				flowcache_export_cb cb, void *ctx);
void flowcache_free(struct flowcache *fc); /* drops cached flows without exporting */

void flowcache_set_timeouts(struct flowcache *fc, const struct flowcache_timeouts *t);
/* A smaller bound takes effect as flows arrive (LRU eviction). */
void flowcache_set_max_flows(struct flowcache *fc, uint32_t max_flows);

/* Merge one drained aggregate (already summed over CPUs) into the cache. */
/*
 * A hint, no effect otherwise: key is the one flowcache_update() gets 8
 * calls from now (drain.h's prefetch hook). Prefetches its hash bucket, and
 * the chain of the key given 4 calls ago.
 */
void flowcache_prefetch(struct flowcache *fc, const struct xf_flow_key *key);

void flowcache_update(struct flowcache *fc, const struct xf_flow_key *key,
		      const struct xf_flow_stats *stats);

/*
 * A hint for the export callback's own lookups (pipeline.c: the translation
 * table): while expiring from the head of a list, the cache names the key of
 * the record it will export two records from now, with the callback's ctx.
 * NULL (the default) turns it off.
 */
typedef void (*flowcache_ahead_cb)(void *ctx, const struct xf_flow_key *key);
void flowcache_set_export_ahead(struct flowcache *fc, flowcache_ahead_cb ahead);

/*
 * Export the flows whose idle, active or end-of-flow time has come, oldest
 * due first, at most budget records (the exporter's room: a paced
 * collector takes only so many at a time; UINT32_MAX: all). Flows beyond
 * the budget stay cached, with the end time of their last packet, until a
 * later call; a packet for such a flow after idle_timeout starts a new
 * flow, after the old one's record. Returns the records exported. The LRU
 * eviction of a full cache (flowcache_update()) has no budget.
 */
uint32_t flowcache_expire(struct flowcache *fc, uint64_t now_ns, uint32_t budget);

/*
 * Export cached flows with the given reason (FLOW_END_FORCED), least
 * recently updated first, at most budget records. Returns the records
 * exported; the cache is empty when flowcache_count() is 0.
 */
uint32_t flowcache_flush(struct flowcache *fc, enum flow_end_reason reason, uint32_t budget);

/* Flows cached now. */
uint32_t flowcache_count(const struct flowcache *fc);

void flowcache_get_stats(const struct flowcache *fc, struct flowcache_stats *out);

/*
 * For tests and diagnostics (walks every bucket): the longest hash chain,
 * and the key comparisons finding every cached flow once takes (a chain of
 * n costs 1 + 2 + ... + n).
 */
void flowcache_chain_stats(const struct flowcache *fc, uint32_t *longest, uint64_t *compares);

#endif
