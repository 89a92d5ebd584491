/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * drain: reads what the TC programs counted. drain_flows() empties the
 * double-buffered flow table, drain_events() the ring buffer of packets
 * that found no free slot. Each flow or event reaches the callback
 * exactly once, so summing what the callbacks see loses nothing.
 *
 * A drain reads one capture's maps (capture.h) and keeps what reading
 * needs between calls: the ring buffer reader, the prefetch hook, whether
 * membarrier() works. Same threading rule as capture.h: the thread that
 * owns the capture.
 */
#ifndef XF_DRAIN_H
#define XF_DRAIN_H

#include "capture.h"

struct drain;

/*
 * A drain of c's flow slots and ring buffer. c is borrowed: it must outlive
 * the drain. Free it with drain_free(). Allocation failure aborts.
 */
struct drain *drain_new(struct capture *c);

/* NULL is a no-op. */
void drain_free(struct drain *d);

/*
 * Called once per drained flow (or per event). key and merged are only
 * valid during the call: copy what you keep. merged: the flow's counts in
 * the epoch, from all CPUs (one slot, or one ring buffer event).
 */
typedef void (*drain_cb)(void *ctx, const struct xf_flow_key *key,
			 const struct xf_flow_stats *merged);

/**
 * Flip flows_epoch, wait for programs still writing to the old table (an
 * RCU grace period through membarrier(); 5 ms where that is refused), then
 * call cb for every slot the old epoch took and empty it (drain_slots). A
 * flow may come twice in one drain (two slots, see xlatflow_shared.h):
 * callers add up by key. Returns the number of flows or -errno.
 */
int drain_flows(struct drain *d, drain_cb cb, void *ctx);

/**
 * Read and empty the slots of one epoch parity, in the order the programs
 * took them, without flipping or waiting:
 * which must be the parity of an epoch the programs have left, and none of
 * them may still run on it (drain_flows after its wait; tests and
 * benchmarks that flip the epoch between their own BPF_PROG_TEST_RUN
 * calls). Returns the number of flows.
 */
int drain_slots(struct drain *d, unsigned int which, drain_cb cb, void *ctx);

/*
 * Called for the flow DRAIN_PREFETCH_AHEAD flows ahead of the one handed to
 * drain_cb, with the same ctx: a chance to prefetch what the callback will
 * touch for that key (the flow cache's hash bucket). Optional.
 */
typedef void (*drain_prefetch_cb)(void *ctx, const struct xf_flow_key *key);
#define DRAIN_PREFETCH_AHEAD 8

/* Set (or clear with NULL) the prefetch callback of drain_flows/drain_slots. */
void drain_set_prefetch(struct drain *d, drain_prefetch_cb pf);

/*
 * The ring buffer's epoll fd (readable when events wait), or -errno; owned
 * by the drain. The ring buffer reader is made on first use (here or in
 * drain_events).
 */
int drain_events_fd(struct drain *d);

/**
 * Consume the flow_events waiting in the ring buffer without blocking,
 * calling cb for each (merged->packets is the packet's segment count).
 * Returns the number of events or -errno.
 */
int drain_events(struct drain *d, drain_cb cb, void *ctx);

#endif /* XF_DRAIN_H */
