/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Unit test of src/order.c, the datapath order controller: when it
 * measures the other order, what it keeps, and what it does when the
 * readings cannot say.
 */
#include <stdlib.h>

#include "order.h"
#include "testutil.h"

/* A node whose packets cost slots_ns (slots first) or ring_ns (ring first). */
struct node {
	struct order_reading r;
	uint64_t now_ms;
	uint64_t slots_ns, ring_ns; /* program time of a packet */
	uint64_t daemon_ns[2];	    /* the daemon's CPU a packet, by order */
};

/*
 * One window of ms at rate packets a second in the controller's current
 * order, every XF_COST_EVERY-th (64th) packet timed. Returns whether the
 * order changed.
 */
static bool run(struct order_ctl *o, struct node *n, uint64_t ms, uint64_t rate)
{
	int ring = order_ctl_ring(o);
	uint64_t packets = rate * ms / 1000, timed = packets / 64;

	n->now_ms += ms;
	n->r.packets += packets;
	n->r.cost_samples[ring] += timed;
	n->r.cost_ns[ring] += timed * (ring ? n->ring_ns : n->slots_ns);
	n->r.cpu_ns += packets * n->daemon_ns[ring];
	return order_ctl_step(o, n->now_ms, &n->r);
}

static struct order_ctl *start(struct node *n)
{
	struct order_ctl *o = order_ctl_new(60, n->now_ms);

	order_ctl_step(o, n->now_ms, &n->r); /* the first reading starts the first window */
	return o;
}

/* A million flows: ring first costs less in total; the controller keeps it. */
static void test_picks_ring_when_cheaper(void)
{
	struct node n = {
		.now_ms = 5000, .slots_ns = 620, .ring_ns = 260, .daemon_ns = { 120, 150 }
	};
	struct order_ctl *o = start(&n);
	struct order_stats st;

	/* quiet: slots first, nothing measured */
	CHECK(!run(o, &n, 1000, 100));
	CHECK(!order_ctl_ring(o));
	/* traffic: the first window of it measures slots first, then ring first is tried */
	CHECK(run(o, &n, 1000, 200000));
	CHECK(order_ctl_ring(o));
	order_ctl_stats(o, &st);
	CHECK(st.probing);
	CHECK_U64(st.probes, 1);
	CHECK_U64(st.cost_ns[0], 620 + 120);
	CHECK_U64(st.cost_ns[1], 0);
	/* the ring window: 410 < 90% of 740, kept (a choice: reported, no change) */
	CHECK(run(o, &n, 1000, 200000));
	CHECK(order_ctl_ring(o));
	order_ctl_stats(o, &st);
	CHECK(!st.probing);
	CHECK_U64(st.cost_ns[1], 260 + 150);
	CHECK_U64(st.switches, 1);
	CHECK_U64(st.rate, 200000);
	/* steady traffic: no new measurement before probe_interval (60 s) */
	for (int i = 0; i < 59; i++)
		CHECK(!run(o, &n, 1000, 200000));
	CHECK(order_ctl_ring(o));
	/* at 60 s slots first is measured again, and loses again */
	CHECK(run(o, &n, 1000, 200000));
	CHECK(!order_ctl_ring(o));
	CHECK(run(o, &n, 1000, 200000));
	CHECK(order_ctl_ring(o));
	order_ctl_stats(o, &st);
	CHECK_U64(st.probes, 2);
	CHECK_U64(st.switches, 3);
	order_ctl_free(o);
}

/* Few flows: slots first is cheaper once the daemon's share is counted. */
static void test_keeps_slots_when_cheaper(void)
{
	struct node n = { .slots_ns = 300, .ring_ns = 290, .daemon_ns = { 10, 80 } };
	struct order_ctl *o = start(&n);
	struct order_stats st;

	CHECK(run(o, &n, 1000, 50000)); /* try ring first */
	CHECK(run(o, &n, 1000, 50000)); /* 370 > 310: back to slots first */
	CHECK(!order_ctl_ring(o));
	order_ctl_stats(o, &st);
	CHECK_U64(st.cost_ns[0], 310);
	CHECK_U64(st.cost_ns[1], 370);
	CHECK_U64(st.switches, 2);
	order_ctl_free(o);
}

/* Ring first must win by ORDER_MARGIN_PCT: 5% cheaper is not enough. */
static void test_margin(void)
{
	struct node n = { .slots_ns = 400, .ring_ns = 380, .daemon_ns = { 0, 0 } };
	struct order_ctl *o = start(&n);

	CHECK(run(o, &n, 1000, 100000));
	CHECK(run(o, &n, 1000, 100000));
	CHECK(!order_ctl_ring(o));
	order_ctl_free(o);
	/* 11% cheaper is */
	n = (struct node){ .slots_ns = 400, .ring_ns = 356 };
	o = start(&n);
	CHECK(run(o, &n, 1000, 100000));
	CHECK(run(o, &n, 1000, 100000));
	CHECK(order_ctl_ring(o));
	order_ctl_free(o);
}

/*
 * The packet rate doubling or halving since the choice measures again, at
 * most every 10 s; traffic going quiet returns to slots first at once, and
 * traffic coming back is measured at once.
 */
static void test_rate_changes(void)
{
	struct node n = { .slots_ns = 600, .ring_ns = 250, .daemon_ns = { 100, 100 } };
	struct order_ctl *o = start(&n);
	struct order_stats st;

	CHECK(run(o, &n, 1000, 100000));
	CHECK(run(o, &n, 1000, 100000)); /* ring first kept */
	/* doubled 1 s after the measurement: not yet (10 s apart at least) */
	CHECK(!run(o, &n, 1000, 250000));
	for (int i = 0; i < 7; i++)
		CHECK(!run(o, &n, 1000, 250000));
	/* 10 s after the last measurement, still 2.5x the chosen rate: measure */
	CHECK(run(o, &n, 1000, 250000));
	CHECK(!order_ctl_ring(o));
	CHECK(run(o, &n, 1000, 250000));
	CHECK(order_ctl_ring(o));
	order_ctl_stats(o, &st);
	CHECK_U64(st.probes, 2);
	/* quiet: slots first, no measurement */
	CHECK(run(o, &n, 1000, 5000));
	CHECK(!order_ctl_ring(o));
	order_ctl_stats(o, &st);
	CHECK_U64(st.probes, 2);
	/* traffic again: measured at once (3 s after the last measurement) */
	CHECK(run(o, &n, 1000, 100000));
	CHECK(order_ctl_ring(o));
	order_ctl_stats(o, &st);
	CHECK(st.probing);
	CHECK_U64(st.probes, 3);
	order_ctl_free(o);
}

/*
 * Windows: shorter than ORDER_WINDOW_MS is no window (the cycle is fed on);
 * a probe whose window went quiet, or that timed no packet, keeps slots first.
 */
static void test_windows_and_unknowns(void)
{
	struct node n = { .slots_ns = 600, .ring_ns = 250 };
	struct order_ctl *o = start(&n);
	struct order_stats st;

	CHECK(!order_ctl_due(o, n.now_ms + ORDER_WINDOW_MS - 1));
	CHECK(order_ctl_due(o, n.now_ms + ORDER_WINDOW_MS));
	/* 100 ms cycles: ten of them make a window */
	for (int i = 0; i < 9; i++)
		CHECK(!run(o, &n, 100, 100000));
	CHECK(run(o, &n, 100, 100000));
	CHECK(order_ctl_ring(o));
	/* the probe window goes quiet: no cost for ring first, slots first */
	CHECK(run(o, &n, 1000, 1000));
	CHECK(!order_ctl_ring(o));
	order_ctl_stats(o, &st);
	CHECK_U64(st.cost_ns[1], 0);
	CHECK_U64(st.rate, 1000);
	order_ctl_free(o);

	/* no packet timed in the probe window (the programs not in auto order): slots first */
	n = (struct node){ .slots_ns = 600, .ring_ns = 250 };
	o = start(&n);
	CHECK(run(o, &n, 1000, 100000));
	n.now_ms += 1000;
	n.r.packets += 100000;
	CHECK(order_ctl_step(o, n.now_ms, &n.r));
	CHECK(!order_ctl_ring(o));
	order_ctl_free(o);
}

int main(void)
{
	RUN(test_picks_ring_when_cheaper);
	RUN(test_keeps_slots_when_cheaper);
	RUN(test_margin);
	RUN(test_rate_changes);
	RUN(test_windows_and_unknowns);
	return tu_finish();
}
