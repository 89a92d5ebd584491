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

/* timeout_ms: a translation not refreshed for this long is dropped. */
struct xlat_table *xlat_table_new(uint64_t timeout_ms);
void xlat_table_free(struct xlat_table *tab);

/* Insert or refresh a translation; now_ms is CLOCK_MONOTONIC ms. */
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

void xlat_table_expire(struct xlat_table *tab, uint64_t now_ms);
size_t xlat_table_size(const struct xlat_table *tab);

#endif
