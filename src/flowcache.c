/* SPDX-License-Identifier: GPL-2.0-only */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "flowcache.h"

#define TCP_FIN 0x01
#define TCP_RST 0x04

/* Entries live in chunks; an index is 1-based so that 0 means "none". */
#define CHUNK_SHIFT 12 /* 4096 entries (480 KiB): little slack past the last flow */
#define CHUNK_SIZE (1u << CHUNK_SHIFT)
#define NIL 0u

enum entry_list { LIST_AGE = 0, LIST_ENDED = 1 };

/*
 * Three intrusive orderings, by 32-bit index instead of pointers to keep an
 * entry at 120 bytes:
 *  - hash chain (hnext, and the predecessor in hprev's low bits), also the
 *    free list (hnext). Doubly linked so that expiring an entry unlinks it
 *    with stores only: no second walk of the chain, no key compares.
 *  - LRU by last update (lru_*): idle expiry and eviction scan from its head
 *  - age (age_*): creation order for the active timeout, or, once FIN/RST
 *    was seen, the order flows ended in (the "ended" list)
 * The two flags live in hprev's top bits (indexes stay below 2^30: the
 * configuration caps max_flows at 10^8).
 */
#define F_IN_USE 0x80000000u
#define F_ENDED 0x40000000u /* on the ended list */
#define HPREV_MASK (F_ENDED - 1)

struct flow_entry {
	struct xf_flow_key key;
	struct xf_flow_stats st;
	uint32_t hnext;
	uint32_t hprev; /* predecessor in the chain (0: head) | F_IN_USE | F_ENDED */
	uint32_t lru_prev, lru_next;
	uint32_t age_prev, age_next;
};
_Static_assert(sizeof(struct flow_entry) <= 120, "flow_entry grew past its memory budget");

static inline void hprev_set(struct flow_entry *e, uint32_t prev)
{
	e->hprev = (e->hprev & ~HPREV_MASK) | prev;
}

struct list_head_idx {
	uint32_t head, tail;
};

/* Keys flowcache_prefetch() remembers: drain.h's DRAIN_PREFETCH_AHEAD. */
#define PF_RING 8

struct flowcache {
	struct flow_entry **chunks;
	uint32_t n_chunks;
	uint32_t n_entries; /* allocated slots (used + free) */
	uint32_t free_head;
	uint32_t *buckets;
	uint32_t n_buckets; /* power of two */
	uint32_t count;
	uint32_t max_flows;
	struct list_head_idx lru;
	struct list_head_idx age[2];
	struct flowcache_timeouts t;
	struct flowcache_stats stats;
	flowcache_export_cb cb;
	void *ctx;
	/* flowcache_prefetch(): buckets of the last PF_RING keys it was given */
	uint32_t pf_ring[PF_RING];
	uint32_t pf_pos;
};

static inline struct flow_entry *E(const struct flowcache *fc, uint32_t idx)
{
	idx--;
	return &fc->chunks[idx >> CHUNK_SHIFT][idx & (CHUNK_SIZE - 1)];
}

static uint64_t key_hash(const struct xf_flow_key *k)
{
	uint64_t w[6], h = 0x9e3779b97f4a7c15ULL;

	_Static_assert(sizeof(*k) == sizeof(w), "flow key is six words");
	memcpy(w, k, sizeof(w));
	for (int i = 0; i < 6; i++) {
		h ^= w[i];
		h *= 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	h *= 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 29);
}

/* --- intrusive lists ---------------------------------------------------- */

#define LIST_FUNCS(name, prev, next)                                                         \
	static void name##_unlink(struct flowcache *fc, struct list_head_idx *l, uint32_t i) \
	{                                                                                    \
		struct flow_entry *e = E(fc, i);                                             \
		if (e->prev)                                                                 \
			E(fc, e->prev)->next = e->next;                                      \
		else                                                                         \
			l->head = e->next;                                                   \
		if (e->next)                                                                 \
			E(fc, e->next)->prev = e->prev;                                      \
		else                                                                         \
			l->tail = e->prev;                                                   \
		e->prev = e->next = NIL;                                                     \
	}                                                                                    \
	static void name##_append(struct flowcache *fc, struct list_head_idx *l, uint32_t i) \
	{                                                                                    \
		struct flow_entry *e = E(fc, i);                                             \
		e->prev = l->tail;                                                           \
		e->next = NIL;                                                               \
		if (l->tail)                                                                 \
			E(fc, l->tail)->next = i;                                            \
		else                                                                         \
			l->head = i;                                                         \
		l->tail = i;                                                                 \
	}

LIST_FUNCS(lru, lru_prev, lru_next)
LIST_FUNCS(age, age_prev, age_next)

/* --- allocation and hashing ---------------------------------------------- */

static uint32_t entry_alloc(struct flowcache *fc)
{
	uint32_t i;

	if (fc->free_head) {
		i = fc->free_head;
		fc->free_head = E(fc, i)->hnext;
		if (fc->free_head) /* the next one out, a miss in a large cache */
			__builtin_prefetch(E(fc, fc->free_head), 1);
		return i;
	}
	if ((fc->n_entries & (CHUNK_SIZE - 1)) == 0) {
		fc->chunks = g_renew(struct flow_entry *, fc->chunks, fc->n_chunks + 1);
		fc->chunks[fc->n_chunks++] = g_new(struct flow_entry, CHUNK_SIZE);
	}
	return ++fc->n_entries;
}

static void rehash(struct flowcache *fc, uint32_t n_buckets)
{
	uint32_t *b = g_new0(uint32_t, n_buckets);

	for (uint32_t i = 1; i <= fc->n_entries; i++) {
		struct flow_entry *e = E(fc, i);
		uint32_t slot;

		if (!(e->hprev & F_IN_USE))
			continue;
		slot = key_hash(&e->key) & (n_buckets - 1);
		e->hnext = b[slot];
		hprev_set(e, NIL);
		if (b[slot])
			hprev_set(E(fc, b[slot]), i);
		b[slot] = i;
	}
	g_free(fc->buckets);
	fc->buckets = b;
	fc->n_buckets = n_buckets;
}

static uint32_t bucket_of(const struct flowcache *fc, const struct xf_flow_key *key)
{
	return (uint32_t)key_hash(key) & (fc->n_buckets - 1);
}

/* The entry holding key, or NIL; *bucket is the key's bucket either way. */
static uint32_t find(const struct flowcache *fc, const struct xf_flow_key *key, uint32_t *bucket)
{
	uint32_t i;

	*bucket = bucket_of(fc, key);
	for (i = fc->buckets[*bucket]; i && memcmp(&E(fc, i)->key, key, sizeof(*key)) != 0;)
		i = E(fc, i)->hnext;
	return i;
}

/* Export entry i with reason and remove it from every structure. */
/*
 * Expiring from the head of the LRU (flush, the idle scan): the entries and
 * buckets ahead are DRAM misses in a large cache. Prefetch the entry two
 * ahead (read as the "next" entry one call later) and the hash bucket of
 * the next one, whose expiry will write it. A hint only.
 */
static inline void lru_head_prefetch(const struct flowcache *fc)
{
	uint32_t n1 = E(fc, fc->lru.head)->lru_next, n2;
	const struct flow_entry *e1;

	if (!n1)
		return;
	e1 = E(fc, n1);
	__builtin_prefetch(&fc->buckets[bucket_of(fc, &e1->key)], 1);
	n2 = e1->lru_next;
	if (n2) {
		__builtin_prefetch(E(fc, n2), 1);
		__builtin_prefetch((const char *)E(fc, n2) + 64, 1);
	}
}

/* Returns 1 when a record was exported (the entry counted packets), else 0. */
static uint32_t entry_expire(struct flowcache *fc, uint32_t i, enum flow_end_reason reason)
{
	struct flow_entry *e = E(fc, i);
	uint32_t prev = e->hprev & HPREV_MASK;
	uint32_t exported = e->st.packets > 0;

	if (exported)
		fc->cb(fc->ctx, &e->key, &e->st, reason);
	fc->stats.exported[reason]++;
	if (reason == FLOW_END_LACK_OF_RESOURCES)
		fc->stats.evicted++;

	if (prev)
		E(fc, prev)->hnext = e->hnext;
	else
		fc->buckets[bucket_of(fc, &e->key)] = e->hnext;
	if (e->hnext)
		hprev_set(E(fc, e->hnext), prev);
	lru_unlink(fc, &fc->lru, i);
	age_unlink(fc, &fc->age[e->hprev & F_ENDED ? LIST_ENDED : LIST_AGE], i);
	e->hprev = 0;
	e->hnext = fc->free_head;
	fc->free_head = i;
	fc->count--;
	return exported;
}

/* --- public ------------------------------------------------------------- */

struct flowcache *flowcache_new(uint32_t max_flows, const struct flowcache_timeouts *t,
				flowcache_export_cb cb, void *ctx)
{
	struct flowcache *fc = g_new0(struct flowcache, 1);

	fc->max_flows = max_flows ? max_flows : 1;
	fc->t = *t;
	fc->cb = cb;
	fc->ctx = ctx;
	fc->n_buckets = 1024;
	fc->buckets = g_new0(uint32_t, fc->n_buckets);
	return fc;
}

void flowcache_free(struct flowcache *fc)
{
	if (!fc)
		return;
	for (uint32_t c = 0; c < fc->n_chunks; c++)
		g_free(fc->chunks[c]);
	g_free(fc->chunks);
	g_free(fc->buckets);
	g_free(fc);
}

void flowcache_set_timeouts(struct flowcache *fc, const struct flowcache_timeouts *t)
{
	fc->t = *t;
}

void flowcache_set_max_flows(struct flowcache *fc, uint32_t max_flows)
{
	fc->max_flows = max_flows ? max_flows : 1;
}

/*
 * Keys come in the order flowcache_update() will see them, PF_RING (8)
 * ahead: prefetch this key's bucket, and the chain head of the key given
 * 4 calls ago (its bucket has arrived by now): find() reads both.
 */
void flowcache_prefetch(struct flowcache *fc, const struct xf_flow_key *key)
{
	uint32_t b = bucket_of(fc, key), b4, head;

	__builtin_prefetch(&fc->buckets[b]);
	b4 = fc->pf_ring[(fc->pf_pos - 4) % PF_RING];
	fc->pf_ring[fc->pf_pos++ % PF_RING] = b;
	/* buckets only grow (rehash), so an older index is still in range */
	if (b4 < fc->n_buckets && (head = fc->buckets[b4]) != 0) {
		__builtin_prefetch(E(fc, head));
		__builtin_prefetch((const char *)E(fc, head) + 64);
	}
}

void flowcache_update(struct flowcache *fc, const struct xf_flow_key *key,
		      const struct xf_flow_stats *st)
{
	uint32_t b, i;
	struct flow_entry *e;

	if (st->packets == 0)
		return;
	i = find(fc, key, &b);
	/*
	 * Idle for idle_timeout before this packet: the flow ended, and only
	 * the exporter's pace kept it here (flowcache_expire()'s budget). Its
	 * record goes first; the packet starts a new flow.
	 */
	if (i && st->first_ns >= E(fc, i)->st.last_ns + fc->t.idle_ns) {
		entry_expire(fc, i,
			     E(fc, i)->hprev & F_ENDED ? FLOW_END_END_OF_FLOW : FLOW_END_IDLE);
		i = NIL;
	}
	if (i) {
		e = E(fc, i);
		e->st.packets += st->packets;
		e->st.octets += st->octets;
		if (st->first_ns < e->st.first_ns)
			e->st.first_ns = st->first_ns;
		if (st->last_ns >= e->st.last_ns) {
			e->st.last_ns = st->last_ns;
			memcpy(e->st.src_mac, st->src_mac, 6);
			memcpy(e->st.dst_mac, st->dst_mac, 6);
			e->st.tos = st->tos;
			/* a late ACK: the ended list stays in the order flows are due */
			if (e->hprev & F_ENDED) {
				age_unlink(fc, &fc->age[LIST_ENDED], i);
				age_append(fc, &fc->age[LIST_ENDED], i);
			}
		}
		e->st.tcp_flags |= st->tcp_flags;
		lru_unlink(fc, &fc->lru, i);
		lru_append(fc, &fc->lru, i);
	} else {
		bool moved = false;

		while (fc->count >= fc->max_flows && fc->lru.head) {
			struct flow_entry *h = E(fc, fc->lru.head);
			/*
			 * A flow due already ended (idle, or FIN/RST and its
			 * grace); only the exporter's pace kept it here
			 * (flowcache_expire()'s budget): it leaves as what it is.
			 */
			bool ended = h->hprev & F_ENDED;
			enum flow_end_reason why = FLOW_END_LACK_OF_RESOURCES;

			if (ended && st->first_ns >= h->st.last_ns + fc->t.fin_grace_ns)
				why = FLOW_END_END_OF_FLOW;
			else if (st->first_ns >= h->st.last_ns + fc->t.idle_ns)
				why = FLOW_END_IDLE;
			entry_expire(fc, fc->lru.head, why);
			moved = true;
		}
		if (fc->count + 1 > fc->n_buckets) {
			rehash(fc, fc->n_buckets * 2);
			moved = true;
		}
		if (moved) /* a rehash moves every chain */
			b = bucket_of(fc, key);
		i = entry_alloc(fc);
		e = E(fc, i);
		memset(e, 0, sizeof(*e));
		e->key = *key;
		e->st = *st;
		/* the new head of its chain */
		e->hprev = F_IN_USE;
		e->hnext = fc->buckets[b];
		if (e->hnext)
			hprev_set(E(fc, e->hnext), i);
		fc->buckets[b] = i;
		lru_append(fc, &fc->lru, i);
		age_append(fc, &fc->age[LIST_AGE], i);
		fc->count++;
		fc->stats.created++;
	}
	if (!(e->hprev & F_ENDED) && key->proto == 6 && (e->st.tcp_flags & (TCP_FIN | TCP_RST))) {
		age_unlink(fc, &fc->age[LIST_AGE], i);
		e->hprev |= F_ENDED;
		age_append(fc, &fc->age[LIST_ENDED], i);
	}
}

/*
 * Idle and active flows due before `before` (and by now), oldest due first:
 * the LRU head (idle) and the age list's head (active) are each the next
 * due of their kind. At most budget records.
 */
static uint32_t expire_timed(struct flowcache *fc, uint64_t now_ns, uint64_t before,
			     uint32_t budget)
{
	uint32_t n = 0;

	while (n < budget) {
		uint32_t l = fc->lru.head, a = fc->age[LIST_AGE].head;
		uint64_t idle_due = l ? E(fc, l)->st.last_ns + fc->t.idle_ns : UINT64_MAX;
		uint64_t active_due = a ? E(fc, a)->st.first_ns + fc->t.active_ns : UINT64_MAX;

		if (idle_due <= active_due) {
			if (idle_due > now_ns || idle_due >= before)
				break;
			lru_head_prefetch(fc);
			n += entry_expire(fc, l,
					  E(fc, l)->hprev & F_ENDED ? FLOW_END_END_OF_FLOW
								    : FLOW_END_IDLE);
		} else {
			if (active_due > now_ns || active_due >= before)
				break;
			/* long-lived flows report an interval and start anew */
			n += entry_expire(fc, a, FLOW_END_ACTIVE);
		}
	}
	return n;
}

uint32_t flowcache_expire(struct flowcache *fc, uint64_t now_ns, uint32_t budget)
{
	uint32_t i, next, n = 0;

	/*
	 * Ended TCP flows, each due fin_grace after its last packet: the list
	 * is in the order of their last packets, to within a drain interval
	 * (a late ACK moves a flow to its end), so the first one not due ends
	 * the walk, and the walk costs what it exports, however often the
	 * exporter's pace calls. Before each one, the idle and active flows
	 * due earlier.
	 */
	for (i = fc->age[LIST_ENDED].head; i && n < budget; i = next) {
		uint64_t due = E(fc, i)->st.last_ns + fc->t.fin_grace_ns;

		if (now_ns < due)
			break;
		/*
		 * i itself is not among them: its idle time comes after its
		 * grace, and it is on no age list but this one. Entries after
		 * it may be, so its successor is read afterwards.
		 */
		n += expire_timed(fc, now_ns, due, budget - n);
		if (n >= budget)
			break;
		if (!(E(fc, i)->hprev & F_IN_USE)) {
			/* a grace longer than the idle timeout: start over */
			next = fc->age[LIST_ENDED].head;
			continue;
		}
		next = E(fc, i)->age_next;
		n += entry_expire(fc, i, FLOW_END_END_OF_FLOW);
	}
	if (n < budget)
		n += expire_timed(fc, now_ns, UINT64_MAX, budget - n);
	return n;
}

uint32_t flowcache_flush(struct flowcache *fc, enum flow_end_reason reason, uint32_t budget)
{
	uint32_t n = 0;

	while (fc->lru.head && n < budget) {
		lru_head_prefetch(fc);
		n += entry_expire(fc, fc->lru.head, reason);
	}
	return n;
}

uint32_t flowcache_count(const struct flowcache *fc)
{
	return fc->count;
}

void flowcache_get_stats(const struct flowcache *fc, struct flowcache_stats *out)
{
	*out = fc->stats;
	out->flows = fc->count;
}
