/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The daemon's counters in the Prometheus text exposition format (0.0.4),
 * for the opt-in metrics endpoint (metrics_http.h). A snapshot is plain
 * data: the pipeline fills one (pipeline_metrics()) and metrics_render()
 * writes it, so what is exported is tested without a daemon. Every
 * metric is listed in docs/metrics.md.
 */
#ifndef XF_METRICS_H
#define XF_METRICS_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "config.h"
#include "ipfix_template.h"
#include "order.h"
#include "xlatflow_shared.h"

/* One collector, as its options records count it, plus the transport's state. */
struct metrics_collector {
	char url[256];
	const char *protocol;  /* "ipfix", "netflow9" (static storage) */
	const char *transport; /* "udp", "tcp" */
	bool up;	       /* UDP: socket open, not refused; TCP: connected */
	uint64_t messages;     /* exportedMessageTotalCount */
	uint64_t records;      /* exportedFlowRecordTotalCount */
	uint64_t bytes;	       /* exportedOctetTotalCount */
	uint64_t not_sent_records;
	uint64_t not_sent_packets;
	uint64_t not_sent_octets;
	uint64_t queued_records;  /* waiting in the UDP pacing or TCP send queue */
	uint64_t backlog_records; /* TCP: kept, not encoded, while the connection is down */
	uint64_t connections;	  /* TCP connections established */
	uint64_t downs;		  /* xlatCollectorDownTotalCount */
	uint64_t redirected;	  /* xlatCollectorRedirectedFlowTotalCount (groups) */
	uint64_t taken_over;	  /* xlatCollectorTakenOverFlowTotalCount (groups) */
};

/* One interface the programs are attached to. */
struct metrics_interface {
	char name[IF_NAMESIZE];
	uint32_t ifindex;
	bool attached;	     /* false: our filters were removed and putting them back fails */
	uint64_t packets[2]; /* by XF_DIR_*: packets drained into flows (after sampling) */
	uint64_t octets[2];
};

struct metrics_snapshot {
	uint64_t start_time_ms; /* systemInitTimeMilliseconds */
	uint32_t sampling;
	struct ipfix_metering metering; /* what the metering options records carry */
	uint64_t kernel[XF_CNT_MAX];	/* capture counters, summed over CPUs */

	/* flow cache */
	uint64_t cache_flows;
	uint32_t cache_max_flows;
	uint64_t cache_created;
	uint64_t cache_exported[6]; /* by flowEndReason 1..5 */

	/* kernel flow slots */
	uint32_t kernel_slots;	    /* kernel_max_flows */
	uint32_t kernel_slots_used; /* flows the last drain read */

	/* the datapath order (order.h; only ring is set unless datapath_order "auto") */
	struct order_stats order;

	/* drains */
	uint64_t drains;
	uint64_t drain_ns_sum;
	uint64_t drain_ns_last;

	/* NAT: source and translation table */
	const char *nat_source; /* "fentry", "kprobe", "conntrack", "off" */
	uint64_t nat[XF_CNT_MAX];
	bool has_conntrack; /* conntrack-mode delivery counters below are valid */
	uint64_t ct_enobufs, ct_overruns, ct_lost_events, ct_errors;
	bool has_xlat;
	uint64_t xlat_translations;
	uint32_t xlat_max;
	uint64_t xlat_bytes;

	struct metrics_collector collectors[XF_MAX_COLLECTORS];
	int n_collectors;

	struct metrics_interface
		*interfaces; /* g_new()ed, n_interfaces; metrics_snapshot_clear() */
	int n_interfaces;
};

/* Free what the snapshot holds (the interface rows). */
void metrics_snapshot_clear(struct metrics_snapshot *s);

/* Append the snapshot to out in the text format, each family with HELP and TYPE. */
void metrics_render(const struct metrics_snapshot *s, GString *out);

/*
 * Ready for traffic (Kubernetes readinessProbe): the programs are attached
 * to at least one interface and at least one collector is up. why (may be
 * NULL) says what is missing.
 */
bool metrics_ready(const struct metrics_snapshot *s, GString *why);

#endif
