// SPDX-License-Identifier: GPL-2.0-only
/*
 * Reading the flow table and the flow_events ring buffer.
 *
 * Why the epoch: the programs update the slots in place, without locks.
 * Reading and emptying a slot while a program still adds to it would lose
 * that packet, so we only touch the table the programs have stopped using:
 * flip the epoch, wait until every program that read the old epoch has
 * returned (they run inside RCU read sections: one grace period), then read
 * the old table's slots in place, in the order the programs listed them,
 * with no system call per flow (see xlatflow_shared.h).
 */
#include <errno.h>
#include <linux/membarrier.h>
#include <stddef.h>
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
	/*
	 * Events read from the ring, not yet handed to ev_cb: their keys were
	 * given to the prefetch callback, DRAIN_PREFETCH_AHEAD events before
	 * their turn (a copy: the ring's space is the kernel's again as soon
	 * as drain_on_event returns).
	 */
	struct xf_flow_event ev_win[DRAIN_PREFETCH_AHEAD];
	unsigned int ev_first, ev_len;
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

/*
 * The slots are spread over the table in hash order, so each is a likely
 * cache miss: prefetch the slot this many list entries ahead (twice the
 * prefetch hook's distance, so its key is there when the hook reads it).
 */
#define DRAIN_SLOT_AHEAD (2 * DRAIN_PREFETCH_AHEAD)

int drain_slots(struct drain *d, unsigned int which, drain_cb cb, void *ctx)
{
	struct capture_slots s;
	uint32_t used;
	int n = 0;

	capture_slots(d->c, which, &s);
	used = __atomic_load_n(s.used, __ATOMIC_ACQUIRE);
	if (used > s.max)
		used = s.max; /* cannot happen: a position is taken once per epoch */
	for (uint32_t i = 0; i < used; i++) {
		struct xf_flow_slot *slot;
		uint32_t pos = s.list[i];

		if (i + DRAIN_SLOT_AHEAD < used && s.list[i + DRAIN_SLOT_AHEAD] < s.max) {
			/* every cache line of the 104-byte slot: two or three */
			const char *ahead = (const char *)&s.slots[s.list[i + DRAIN_SLOT_AHEAD]];

			__builtin_prefetch(ahead, 1);
			__builtin_prefetch(ahead + 56, 1);
			__builtin_prefetch(ahead + sizeof(struct xf_flow_slot) - 1, 1);
		}
		if (d->prefetch && i + DRAIN_PREFETCH_AHEAD < used &&
		    s.list[i + DRAIN_PREFETCH_AHEAD] < s.max)
			d->prefetch(ctx, &s.slots[s.list[i + DRAIN_PREFETCH_AHEAD]].key);
		if (pos >= s.max)
			continue;
		slot = &s.slots[pos];
		/* every listed slot is ready: its program has returned */
		if (slot->tag != XF_SLOT_EMPTY && slot->tag != XF_SLOT_BUSY) {
			cb(ctx, &slot->key, &slot->stats);
			n++;
		}
		slot->tag = XF_SLOT_EMPTY;
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

/* Hand the oldest event of the window to ev_cb. */
static void drain_ev_pop(struct drain *d)
{
	const struct xf_flow_event *ev = &d->ev_win[d->ev_first];

	d->ev_first = (d->ev_first + 1) % DRAIN_PREFETCH_AHEAD;
	d->ev_len--;
	d->ev_cb(d->ev_ctx, &ev->key, &ev->stats);
	d->ev_count++;
}

/*
 * The full event of an IPv4 packet's compact one: the key exactly as the
 * programs write it into a slot (the parser's: addresses in bytes 0..3,
 * every other byte of the key zero), so that the cache merges both by key.
 * Written in 8-byte words: the flow cache hashes and compares the key by
 * words right after, and a word loaded from narrower stores still in the
 * store buffer waits for them (a store-forwarding stall per event: the
 * first version, field by field, cost the daemon 15-20 ns a packet).
 * The compact event keeps the key's order: ports and ifindex are key bytes
 * 32..39, MACs, TCP flags and TOS stats bytes 32..47, at one stretch each.
 */
static void drain_ev_put(void *base, size_t word, uint64_t v)
{
	memcpy((char *)base + 8 * word, &v, 8);
}

static void drain_ev_expand(const struct xf_flow_event4 *e, struct xf_flow_event *ev)
{
	uint32_t src, dst, vpd; /* VLAN id, protocol, direction */
	uint64_t ports_ifindex, tail[2];

	memcpy(&src, e->src_addr, 4);
	memcpy(&dst, e->dst_addr, 4);
	memcpy(&vpd, &e->vlan_id, 4);
	memcpy(&ports_ifindex, (const char *)e + offsetof(struct xf_flow_event4, src_port), 8);
	memcpy(tail, (const char *)e + offsetof(struct xf_flow_event4, src_mac), 16);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	drain_ev_put(&ev->key, 0, src);
	drain_ev_put(&ev->key, 2, dst);
	drain_ev_put(&ev->key, 5,
		     (vpd & 0xffffffu) | (uint64_t)XF_FAMILY_IPV4 << 24 |
			     (uint64_t)(vpd >> 24) << 32);
#else
	drain_ev_put(&ev->key, 0, (uint64_t)src << 32);
	drain_ev_put(&ev->key, 2, (uint64_t)dst << 32);
	drain_ev_put(&ev->key, 5,
		     (uint64_t)(vpd & 0xffffff00u) << 32 | (uint64_t)XF_FAMILY_IPV4 << 32 |
			     (uint64_t)(vpd & 0xffu) << 24);
#endif
	drain_ev_put(&ev->key, 1, 0);
	drain_ev_put(&ev->key, 3, 0);
	drain_ev_put(&ev->key, 4, ports_ifindex);
	drain_ev_put(&ev->stats, 0, e->packets);
	drain_ev_put(&ev->stats, 1, e->octets);
	drain_ev_put(&ev->stats, 2, e->ns);
	drain_ev_put(&ev->stats, 3, e->ns);
	drain_ev_put(&ev->stats, 4, tail[0]);
	drain_ev_put(&ev->stats, 5, tail[1]);
}

/* The event in a record of size bytes: data itself, or the compact one expanded into buf. */
static const struct xf_flow_event *drain_ev_read(const void *data, size_t size,
						 struct xf_flow_event *buf)
{
	if (size != sizeof(struct xf_flow_event4))
		return data;
	drain_ev_expand(data, buf);
	return buf;
}

/*
 * Each event's flow is a likely cache miss in the callback (ring first,
 * every packet is an event): name its key to the prefetch callback, keep
 * the event, and hand over the one DRAIN_PREFETCH_AHEAD events older, as
 * drain_slots does. drain_events hands over what is left. The order of the
 * events is kept.
 */
static int drain_on_event(void *ctx, void *data, size_t size)
{
	struct drain *d = ctx;
	struct xf_flow_event full, *slot;
	const struct xf_flow_event *ev;

	if (!d->ev_cb || (size != sizeof(struct xf_flow_event4) && size < sizeof(*ev)))
		return 0;
	if (!d->prefetch) {
		ev = drain_ev_read(data, size, &full);
		d->ev_cb(d->ev_ctx, &ev->key, &ev->stats);
		d->ev_count++;
		return 0;
	}
	if (d->ev_len == DRAIN_PREFETCH_AHEAD)
		drain_ev_pop(d);
	slot = &d->ev_win[(d->ev_first + d->ev_len++) % DRAIN_PREFETCH_AHEAD];
	ev = drain_ev_read(data, size, slot);
	if (ev != slot)
		*slot = *ev;
	d->prefetch(d->ev_ctx, &slot->key);
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
	while (d->ev_len)
		drain_ev_pop(d);
	d->ev_cb = NULL;
	d->ev_ctx = NULL;
	return ret < 0 ? ret : d->ev_count;
}
