/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * order: chooses the datapath order of datapath_order "auto" by measuring
 * both on the traffic the node has (docs/datapath.md, "datapath_order").
 *
 * Slots first, a packet costs its program a random access to its flow's
 * slot and the daemon nothing until the drain; ring first, it costs the
 * program a sequential write to the shared ring (whose reservation lock
 * every CPU takes) and the daemon one merge. Which is cheaper depends on
 * how many flows, how many CPUs send at once and how fast the daemon's CPU
 * is, so it is measured: a packet's cost is the timed packets' mean program
 * time plus the daemon's CPU time a packet reading the slots and the ring
 * into its flow cache (the export costs the same in either order), per
 * window of about a second.
 *
 * The controller runs the slots-first order until it has a reason to try
 * the other (traffic first reaching ORDER_MIN_RATE, the packet rate
 * doubling or halving since the last choice, or probe_interval passing),
 * then runs the other order for one window and keeps the order whose
 * window cost less, ring first only when it was at least ORDER_MARGIN_PCT
 * cheaper. Below ORDER_MIN_RATE packets a second it runs slots first: the
 * cost is small either way, and slots first never wakes the daemon.
 *
 * Pure logic, no I/O: the pipeline feeds it readings and applies its order.
 */
#ifndef XF_ORDER_H
#define XF_ORDER_H

#include <stdbool.h>
#include <stdint.h>

/* Packets a second under which the order is slots first, and not measured. */
#define ORDER_MIN_RATE 10000
/* Ring first is kept only when it costs this much less a packet (percent). */
#define ORDER_MARGIN_PCT 10
/* A measuring window: at least this long, in whole pipeline cycles. */
#define ORDER_WINDOW_MS 1000

/* Cumulative readings, taken at the end of a pipeline cycle. */
struct order_reading {
	uint64_t packets;	  /* packets the programs recorded (not sampled out) */
	uint64_t cost_ns[2];	  /* timed packets' program time: [0] slots first, [1] ring first */
	uint64_t cost_samples[2]; /* timed packets, by order */
	uint64_t cpu_ns; /* the daemon's CPU time reading the slots and ring into its cache */
};

struct order_stats {
	bool ring;	     /* the order now: ring first */
	bool probing;	     /* run to measure it, for one window */
	uint64_t probes;     /* windows run in the other order to measure it */
	uint64_t switches;   /* changes of order (probes included) */
	uint64_t cost_ns[2]; /* last measured cost of a packet, by order; 0: not yet */
	uint64_t rate;	     /* packets a second in the last window */
};

struct order_ctl;

/* probe_interval_s: at most this long between two measurements of the other order. */
struct order_ctl *order_ctl_new(uint32_t probe_interval_s, uint64_t now_ms);
void order_ctl_free(struct order_ctl *o);

/* Whether a window ends at now_ms: order_ctl_step() wants a reading. */
bool order_ctl_due(const struct order_ctl *o, uint64_t now_ms);

/*
 * End the window at now_ms with the reading r (the first call only starts
 * one). Returns true when the order changes or a measurement ends (a
 * choice to report): apply order_ctl_ring().
 */
bool order_ctl_step(struct order_ctl *o, uint64_t now_ms, const struct order_reading *r);

bool order_ctl_ring(const struct order_ctl *o);
void order_ctl_stats(const struct order_ctl *o, struct order_stats *s);

#endif /* XF_ORDER_H */
