/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The NAT event log (docs/nat-events.md): turns the translation sources'
 * struct nat_event (nat_event.h) into RFC 8158 records (struct
 * ipfix_natev_rec, ipfix_template.h) for the collectors that want them.
 *
 * Session create and delete become one record each, at once. Failures are
 * aggregated: NAT ports exhausted per wall-clock second, post-NAT address,
 * destination, protocol and zone; conntrack table full per second and
 * zone; each record says how many failures it stands for. The threshold
 * event goes out when the conntrack table's fill crosses the configured
 * share of nf_conntrack_max upwards (natlog_table_fill()).
 *
 * natEvent values are IANA's (RFC 8158 section 4.1):
 */
#ifndef XF_NATLOG_H
#define XF_NATLOG_H

#include <stdbool.h>
#include <stdint.h>

#include "clock.h"
#include "ipfix_template.h"
#include "nat_event.h"

#define NATLOG_EV_SESSION_CREATE 4 /* NAT44 session create (also NAT66, see the docs) */
#define NATLOG_EV_SESSION_DELETE 5 /* NAT44 session delete (also NAT66) */
#define NATLOG_EV_PORTS_EXHAUSTED 12
#define NATLOG_EV_QUOTA_EXCEEDED 13
#define NATLOG_EV_THRESHOLD 18
/* natQuotaExceededEvent (466): maximum session entries */
#define NATLOG_QUOTA_MAX_SESSIONS 1
/* natThresholdEvent (467): address and port mapping high threshold */
#define NATLOG_THRESHOLD_MAPPING_HIGH 3

/* Distinct failure aggregates kept per second at most; more go out at once. */
#define NATLOG_MAX_AGGREGATES 4096

struct natlog;

/* Receives each finished record; rec is valid only during the call. */
typedef void (*natlog_emit_fn)(void *ctx, const struct ipfix_natev_rec *rec);

struct natlog_stats {
	uint64_t creates;	  /* session create records */
	uint64_t deletes;	  /* session delete records */
	uint64_t recovered;	  /* of the creates, rebuilt by the source (NEW lost) */
	uint64_t ports_exhausted; /* failures (dropped packets) */
	uint64_t table_full;	  /* failures (dropped packets) */
	uint64_t failure_records; /* records the failures were aggregated into */
	uint64_t thresholds;	  /* threshold records */
	uint64_t unsupported;	  /* events of no known kind or family: not exported */
};

/* A new event log sending its records to emit. Allocation failure aborts. */
struct natlog *natlog_new(natlog_emit_fn emit, void *ctx);
/* Emits nothing (call natlog_flush() first); NULL is a no-op. */
void natlog_free(struct natlog *nl);

/* nat_table_threshold: percent of nf_conntrack_max, 0 = no threshold events. */
void natlog_set_threshold(struct natlog *nl, unsigned int percent);

/*
 * One event of a source. Times convert from CLOCK_MONOTONIC with clk
 * (synced by the caller once per cycle).
 */
void natlog_event(struct natlog *nl, const struct nat_event *ev, const struct xf_clock *clk);

/*
 * The conntrack table's fill: entries now, nf_conntrack_max. Remembers max
 * for the table-full records and emits the threshold record when entries
 * reach the threshold (again once they fell below 90% of it).
 */
void natlog_table_fill(struct natlog *nl, uint64_t entries, uint64_t max, uint64_t now_mono_ns,
		       const struct xf_clock *clk);

/* Emit the failure aggregates of seconds before the one of now_mono_ns. */
void natlog_tick(struct natlog *nl, uint64_t now_mono_ns, const struct xf_clock *clk);

/* Emit every aggregate now (shutdown). */
void natlog_flush(struct natlog *nl);

void natlog_get_stats(const struct natlog *nl, struct natlog_stats *out);

/*
 * The session record of a CREATE or DELETE (natlog_event() without the
 * log: tests and the benchmark). Returns 0, or -EINVAL for another kind or
 * an unknown family.
 */
int natlog_session_record(struct ipfix_natev_rec *out, const struct nat_event *ev,
			  const struct xf_clock *clk);

#endif
