// SPDX-License-Identifier: GPL-2.0-only
/*
 * The datapath order controller (order.h): measure, compare, keep the
 * cheaper order.
 */
#include <glib.h>

#include "order.h"

/* Rate-triggered measurements at most this often (probe_interval still applies). */
#define ORDER_MIN_GAP_MS 10000

struct order_ctl {
	uint64_t probe_interval_ms;
	bool started;
	uint64_t start_ms;	    /* the window's start */
	struct order_reading start; /* the reading there */
	bool ring;		    /* the order now */
	bool probing;		    /* this window runs the other order, to measure it */
	uint64_t settled_cost; /* the window before the probe: cost of the order probed against */
	uint64_t next_probe_ms;
	uint64_t last_probe_ms; /* 0: never */
	uint64_t base_rate;	/* packets a second when the order was last chosen; 0: quiet */
	struct order_stats st;
};

struct order_ctl *order_ctl_new(uint32_t probe_interval_s, uint64_t now_ms)
{
	struct order_ctl *o = g_new0(struct order_ctl, 1);

	o->probe_interval_ms = (uint64_t)probe_interval_s * 1000;
	o->start_ms = now_ms;
	o->next_probe_ms = now_ms + o->probe_interval_ms;
	return o;
}

void order_ctl_free(struct order_ctl *o)
{
	g_free(o);
}

bool order_ctl_due(const struct order_ctl *o, uint64_t now_ms)
{
	return !o->started || now_ms - o->start_ms >= ORDER_WINDOW_MS;
}

/*
 * The window's cost of a packet in ns in order ring (the timed packets'
 * mean program time plus the daemon's CPU a packet), and its rate. 0 when
 * the window cannot say: too few packets, or none timed.
 */
static uint64_t window_cost(const struct order_reading *a, const struct order_reading *b, int ring,
			    uint64_t ms, uint64_t *rate)
{
	uint64_t packets = b->packets - a->packets;
	uint64_t samples = b->cost_samples[ring] - a->cost_samples[ring];
	uint64_t ns = b->cost_ns[ring] - a->cost_ns[ring];
	uint64_t cpu = b->cpu_ns - a->cpu_ns;

	*rate = ms ? packets * 1000 / ms : 0;
	if (*rate < ORDER_MIN_RATE || samples == 0)
		return 0;
	return ns / samples + cpu / packets;
}

/* Whether the settled order should be measured against the other one now. */
static bool want_probe(const struct order_ctl *o, uint64_t now_ms, uint64_t rate)
{
	bool gap = o->last_probe_ms == 0 || now_ms - o->last_probe_ms >= ORDER_MIN_GAP_MS;

	/* traffic starting, or again after a quiet window */
	if (now_ms >= o->next_probe_ms || o->base_rate == 0)
		return true;
	return gap && (rate >= 2 * o->base_rate || 2 * rate <= o->base_rate);
}

bool order_ctl_step(struct order_ctl *o, uint64_t now_ms, const struct order_reading *r)
{
	bool was = o->ring, measured = o->probing;
	uint64_t rate, cost;

	if (!o->started) {
		o->started = true;
		o->start = *r;
		o->start_ms = now_ms;
		return false;
	}
	if (!order_ctl_due(o, now_ms))
		return false;
	cost = window_cost(&o->start, r, o->ring, now_ms - o->start_ms, &rate);
	o->start = *r;
	o->start_ms = now_ms;
	o->st.rate = rate;
	if (cost)
		o->st.cost_ns[o->ring] = cost;

	if (o->probing) {
		/* keep ring first only if it measured ORDER_MARGIN_PCT cheaper */
		uint64_t ring_cost = o->ring ? cost : o->settled_cost;
		uint64_t slots_cost = o->ring ? o->settled_cost : cost;

		o->probing = false;
		o->ring = ring_cost && slots_cost &&
			  ring_cost * 100 < slots_cost * (100 - ORDER_MARGIN_PCT);
		o->base_rate = rate;
		o->next_probe_ms = now_ms + o->probe_interval_ms;
	} else if (rate < ORDER_MIN_RATE) {
		/* quiet: slots first, and measure again when traffic comes */
		o->ring = false;
		o->base_rate = 0;
	} else if (cost && want_probe(o, now_ms, rate)) {
		o->probing = true;
		o->settled_cost = cost;
		o->ring = !o->ring;
		o->last_probe_ms = now_ms;
		o->st.probes++;
	}
	if (o->ring != was)
		o->st.switches++;
	return o->ring != was || measured;
}

bool order_ctl_ring(const struct order_ctl *o)
{
	return o->ring;
}

void order_ctl_stats(const struct order_ctl *o, struct order_stats *s)
{
	*s = o->st;
	s->ring = o->ring;
	s->probing = o->probing;
}
