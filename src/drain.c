// SPDX-License-Identifier: GPL-2.0-only
/*
 * Reading the flows maps and the flow_events ring buffer.
 *
 * Why the epoch: the programs update a per-CPU value in place after a
 * lookup, without locks. Deleting an entry while a program holds its value
 * would lose that program's increment, so we only delete from the map the
 * programs have stopped using: flip the epoch, wait until every program
 * that read the old epoch has returned (they run for microseconds, inside
 * an RCU read section), then empty the old map.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "drain.h"

/* How long programs that read the old epoch may still be running. */
#define DRAIN_GRACE_NS (5 * 1000 * 1000)
#define DRAIN_BATCH 256
#ifndef ENOTSUPP
#define ENOTSUPP 524 /* kernel-internal "not supported", seen by userspace as is */
#endif

_Static_assert(sizeof(struct xf_flow_stats) % 8 == 0,
	       "per-CPU values are 8-byte strided: xf_flow_stats must be too");

struct drain_state {
	int ncpus;
	bool no_batch;
	uint32_t batch; /* keys per batch call */
	struct xf_flow_key *keys;
	struct xf_flow_stats *vals; /* batch * ncpus */
	struct ring_buffer *rb;
	drain_cb ev_cb; /* set during drain_events() */
	void *ev_ctx;
	int ev_count;
};

static void drain_alloc_batch(struct drain_state *d, uint32_t batch)
{
	free(d->keys);
	free(d->vals);
	d->batch = batch;
	d->keys = calloc(batch, sizeof(*d->keys));
	d->vals = calloc((size_t)batch * (size_t)d->ncpus, sizeof(*d->vals));
	if (!d->keys || !d->vals)
		abort();
}

static int drain_state_get(struct capture *c, struct drain_state **out)
{
	struct drain_state **slot = capture_drain_slot(c);
	struct drain_state *d = *slot;
	int ncpus;

	if (!d) {
		ncpus = libbpf_num_possible_cpus();
		if (ncpus < 0)
			return ncpus;
		d = calloc(1, sizeof(*d));
		if (!d)
			abort();
		d->ncpus = ncpus;
		d->no_batch = capture_flags(c) & CAPTURE_F_NO_BATCH;
		drain_alloc_batch(d, DRAIN_BATCH);
		*slot = d;
	}
	*out = d;
	return 0;
}

void drain_state_free(struct drain_state *d)
{
	if (!d)
		return;
	ring_buffer__free(d->rb);
	free(d->keys);
	free(d->vals);
	free(d);
}

bool drain_merge_percpu(const struct xf_flow_stats *percpu, int ncpus, struct xf_flow_stats *out)
{
	bool seen = false;

	memset(out, 0, sizeof(*out));
	for (int cpu = 0; cpu < ncpus; cpu++) {
		const struct xf_flow_stats *v = &percpu[cpu];

		/* Other CPUs' slots of an entry one CPU created are all zero. */
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

static void drain_emit(struct drain_state *d, const struct xf_flow_key *key,
		       const struct xf_flow_stats *percpu, drain_cb cb, void *ctx, int *n)
{
	struct xf_flow_stats merged;

	if (!drain_merge_percpu(percpu, d->ncpus, &merged))
		return;
	cb(ctx, key, &merged);
	(*n)++;
}

static bool drain_batch_unsupported(int err)
{
	return err == -EINVAL || err == -EOPNOTSUPP || err == -ENOTSUPP || err == -ENOSYS;
}

/*
 * Returns the number of flows, -EOPNOTSUPP when the kernel has no batch
 * lookup-and-delete for this map (before anything was deleted), or -errno.
 */
static int drain_map_batch(struct drain_state *d, int fd, drain_cb cb, void *ctx)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	uint32_t in = 0, out = 0;
	bool first = true;
	int n = 0, ret;

	for (;;) {
		uint32_t count = d->batch;

		ret = bpf_map_lookup_and_delete_batch(fd, first ? NULL : &in, &out, d->keys,
						      d->vals, &count, &opts);
		if (ret && ret != -ENOENT) {
			/* A hash bucket holds more keys than the buffer: grow it, retry. */
			if (ret == -ENOSPC && count == 0 && d->batch < (1u << 20)) {
				drain_alloc_batch(d, d->batch * 2);
				continue;
			}
			if (first && drain_batch_unsupported(ret))
				return -EOPNOTSUPP;
			return ret;
		}
		for (uint32_t i = 0; i < count; i++)
			drain_emit(d, &d->keys[i], &d->vals[(size_t)i * (size_t)d->ncpus], cb, ctx,
				   &n);
		if (ret == -ENOENT)
			return n;
		in = out;
		first = false;
	}
}

static int drain_map_iter(struct drain_state *d, int fd, drain_cb cb, void *ctx)
{
	struct xf_flow_key cur, next;
	bool have, use_lad = true;
	int n = 0, ret;

	have = bpf_map_get_next_key(fd, NULL, &cur) == 0;
	while (have) {
		/* Find the successor before deleting cur. */
		have = bpf_map_get_next_key(fd, &cur, &next) == 0;
		ret = -EOPNOTSUPP;
		if (use_lad) {
			ret = bpf_map_lookup_and_delete_elem(fd, &cur, d->vals);
			if (ret && ret != -ENOENT)
				use_lad = false; /* kernels before 5.14: not for hash maps */
		}
		if (!use_lad) {
			ret = bpf_map_lookup_elem(fd, &cur, d->vals);
			if (!ret)
				bpf_map_delete_elem(fd, &cur);
		}
		if (!ret)
			drain_emit(d, &cur, d->vals, cb, ctx, &n);
		else if (ret != -ENOENT)
			return ret;
		cur = next;
	}
	return n;
}

int drain_flows(struct capture *c, drain_cb cb, void *ctx)
{
	struct timespec grace = { .tv_sec = 0, .tv_nsec = DRAIN_GRACE_NS };
	struct drain_state *d = NULL;
	uint32_t old;
	int ret, fd;

	ret = drain_state_get(c, &d);
	if (ret)
		return ret;
	old = capture_epoch(c);
	capture_set_epoch(c, old + 1);
	while (nanosleep(&grace, &grace) && errno == EINTR)
		;
	fd = capture_flows_fd(c, old & 1);
	if (!d->no_batch) {
		ret = drain_map_batch(d, fd, cb, ctx);
		if (ret != -EOPNOTSUPP)
			return ret;
		d->no_batch = true;
	}
	return drain_map_iter(d, fd, cb, ctx);
}

static int drain_on_event(void *ctx, void *data, size_t size)
{
	struct drain_state *d = ctx;
	const struct xf_flow_event *ev = data;

	if (size < sizeof(*ev) || !d->ev_cb)
		return 0;
	d->ev_cb(d->ev_ctx, &ev->key, &ev->stats);
	d->ev_count++;
	return 0;
}

static int drain_rb_get(struct capture *c, struct drain_state **out)
{
	struct drain_state *d = NULL;
	int ret;

	ret = drain_state_get(c, &d);
	if (ret)
		return ret;
	if (!d->rb) {
		d->rb = ring_buffer__new(capture_events_map_fd(c), drain_on_event, d, NULL);
		if (!d->rb)
			return -errno;
	}
	*out = d;
	return 0;
}

int drain_events_fd(struct capture *c)
{
	struct drain_state *d = NULL;
	int ret;

	ret = drain_rb_get(c, &d);
	if (ret)
		return ret;
	return ring_buffer__epoll_fd(d->rb);
}

int drain_events(struct capture *c, drain_cb cb, void *ctx)
{
	struct drain_state *d = NULL;
	int ret;

	ret = drain_rb_get(c, &d);
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
