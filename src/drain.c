// SPDX-License-Identifier: GPL-2.0-only
/*
 * Reading the flow slots and the flow_events ring buffer.
 *
 * Why the epoch: the programs update their CPU's part of a slot in place,
 * without locks. Reading and zeroing a slot while a program still writes
 * it would lose that program's increment, so we only touch the slots the
 * programs have stopped using: flip the epoch, wait until every program
 * that read the old epoch has returned (they run inside RCU read sections:
 * one grace period), then read the old slots in place, with no system call
 * per flow (see xlatflow_shared.h).
 */
#include <errno.h>
#include <linux/membarrier.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include <glib.h>

#include "drain.h"

/* Without membarrier(): how long programs that read the old epoch may still run. */
#define DRAIN_GRACE_NS (5 * 1000 * 1000)

struct drain {
	struct capture *c; /* borrowed */
	bool no_membarrier;
	drain_prefetch_cb prefetch;
	struct ring_buffer *rb; /* made on first use */
	drain_cb ev_cb;		/* set during drain_events() */
	void *ev_ctx;
	int ev_count;
};

struct drain *drain_new(struct capture *c)
{
	struct drain *d = g_new0(struct drain, 1);

	d->c = c;
	return d;
}

void drain_free(struct drain *d)
{
	if (!d)
		return;
	ring_buffer__free(d->rb);
	g_free(d);
}

bool drain_merge_percpu(const struct xf_flow_stats *percpu, int ncpus, struct xf_flow_stats *out)
{
	bool seen = false;

	memset(out, 0, sizeof(*out));
	for (int cpu = 0; cpu < ncpus; cpu++) {
		const struct xf_flow_stats *v = &percpu[cpu];

		/* CPUs that saw no packet of the flow left their part zero. */
		if (!v->packets)
			continue;
		out->packets += v->packets;
		out->octets += v->octets;
		out->tcp_flags |= v->tcp_flags;
		if (!seen || v->first_ns < out->first_ns)
			out->first_ns = v->first_ns;
		if (!seen || v->last_ns > out->last_ns) {
			out->last_ns = v->last_ns;
			memcpy(out->src_mac, v->src_mac, sizeof(out->src_mac));
			memcpy(out->dst_mac, v->dst_mac, sizeof(out->dst_mac));
			out->tos = v->tos;
		}
		seen = true;
	}
	return seen;
}

/*
 * Wait until no program runs on the epoch we just left. membarrier(GLOBAL)
 * is synchronize_rcu(), and TC programs run inside RCU read sections. Where
 * it is refused (nohz_full, a seccomp filter), sleep: the programs run for
 * microseconds.
 */
static void drain_wait_programs(struct drain *d)
{
	struct timespec grace = { .tv_sec = 0, .tv_nsec = DRAIN_GRACE_NS };

	if (!d->no_membarrier && syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) == 0)
		return;
	d->no_membarrier = true;
	while (nanosleep(&grace, &grace) && errno == EINTR)
		;
}

void drain_set_prefetch(struct drain *d, drain_prefetch_cb pf)
{
	d->prefetch = pf;
}

int drain_slots(struct drain *d, unsigned int which, drain_cb cb, void *ctx)
{
	struct capture_slots s;
	struct xf_flow_stats merged;
	uint32_t used;
	int n = 0;

	capture_slots(d->c, which, &s);
	used = __atomic_load_n(s.used, __ATOMIC_ACQUIRE);
	if (used > s.max)
		used = s.max;
	for (uint32_t i = 0; i < used; i++) {
		uint8_t *slot = s.base + (size_t)i * s.stride;
		struct xf_flow_stats *percpu;

		if (d->prefetch && i + DRAIN_PREFETCH_AHEAD < used)
			d->prefetch(ctx, (const struct xf_flow_key *)(slot + DRAIN_PREFETCH_AHEAD *
										     s.stride));
		percpu = (struct xf_flow_stats *)(slot + sizeof(struct xf_flow_key));
		/* A slot taken on a CPU that then found no stats part holds nothing. */
		if (drain_merge_percpu(percpu, s.ncpus, &merged)) {
			cb(ctx, (const struct xf_flow_key *)slot, &merged);
			n++;
		}
		memset(percpu, 0, (size_t)s.ncpus * sizeof(*percpu));
	}
	__atomic_store_n(s.used, 0, __ATOMIC_RELEASE);
	return n;
}

int drain_flows(struct drain *d, drain_cb cb, void *ctx)
{
	uint32_t old = capture_epoch(d->c);

	capture_set_epoch(d->c, old + 1);
	drain_wait_programs(d);
	return drain_slots(d, old & 1, cb, ctx);
}

static int drain_on_event(void *ctx, void *data, size_t size)
{
	struct drain *d = ctx;
	const struct xf_flow_event *ev = data;

	if (size < sizeof(*ev) || !d->ev_cb)
		return 0;
	d->ev_cb(d->ev_ctx, &ev->key, &ev->stats);
	d->ev_count++;
	return 0;
}

/* The ring buffer reader, made on first use. */
static int drain_rb_open(struct drain *d)
{
	if (!d->rb) {
		d->rb = ring_buffer__new(capture_events_map_fd(d->c), drain_on_event, d, NULL);
		if (!d->rb)
			return -errno;
	}
	return 0;
}

int drain_events_fd(struct drain *d)
{
	int ret;

	ret = drain_rb_open(d);
	if (ret)
		return ret;
	return ring_buffer__epoll_fd(d->rb);
}

int drain_events(struct drain *d, drain_cb cb, void *ctx)
{
	int ret;

	ret = drain_rb_open(d);
	if (ret)
		return ret;
	d->ev_cb = cb;
	d->ev_ctx = ctx;
	d->ev_count = 0;
	ret = ring_buffer__consume(d->rb);
	d->ev_cb = NULL;
	d->ev_ctx = NULL;
	return ret < 0 ? ret : d->ev_count;
}
