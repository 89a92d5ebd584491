/* SPDX-License-Identifier: GPL-2.0-only */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <glib.h>

#include "flowcache.h"

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04

/* Entries live in chunks; an index is 1-based so that 0 means "none". */
#define CHUNK_SHIFT 12 /* 4096 entries (480 KiB): little slack past the last flow */
#define CHUNK_SIZE (1u << CHUNK_SHIFT)
#define NIL 0u

enum entry_list { LIST_OPEN = 0, LIST_ENDED = 1 };

/*
 * Three intrusive orderings, by 32-bit index instead of pointers to keep an
 * entry at 120 bytes:
 *  - hash chain (hnext, and in hprev's low bits the predecessor, or for the
 *    first entry of a chain its bucket), also the free list (hnext). Doubly
 *    linked so that expiring an entry unlinks it with stores only: no
 *    second walk of the chain, no key compares, no hash.
 *  - by last update (lru_*), on one of two lists: open flows (idle expiry
 *    scans from the head), and TCP flows that saw FIN or RST (the "ended"
 *    list: fin_grace expiry scans from its head). Eviction takes the older
 *    of the two heads.
 *  - age (age_*): every flow, in the order its record started, for the
 *    active timeout. An ended flow stays on it: a half-closed connection can
 *    go on for hours after its FIN.
 * The three flags live in hprev's top bits (indexes and buckets stay below
 * 2^29: the configuration caps max_flows at 10^8, buckets at twice that).
 *
 * An ended flow whose active timeout comes is reported and restarted in
 * place, empty (packets 0), so that its next packets still belong to an
 * ended flow and its last record still says end of flow; an empty entry
 * exports nothing and goes at fin_grace like any ended flow.
 */
#define F_IN_USE 0x80000000u
#define F_ENDED 0x40000000u /* on the ended list */
#define F_HEAD 0x20000000u  /* first of its chain: the low bits are its bucket */
#define HPREV_MASK (F_HEAD - 1)
#define HPREV_FLAGS (F_IN_USE | F_ENDED)
/* Entries and buckets (twice the flows at most) must fit below F_HEAD. */
#define MAX_FLOWS_LIMIT (1u << 27)

struct flow_entry {
	struct xf_flow_key key;
	struct xf_flow_stats st;
	uint32_t hnext;
	uint32_t hprev; /* predecessor in the chain, or F_HEAD | bucket; | F_IN_USE | F_ENDED */
	uint32_t lru_prev, lru_next;
	uint32_t age_prev, age_next;
};
_Static_assert(sizeof(struct flow_entry) <= 120, "flow_entry grew past its memory budget");

static inline void hprev_set(struct flow_entry *e, uint32_t prev)
{
	e->hprev = (e->hprev & HPREV_FLAGS) | prev;
}

static inline void head_set(struct flow_entry *e, uint32_t bucket)
{
	e->hprev = (e->hprev & HPREV_FLAGS) | F_HEAD | bucket;
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
	struct list_head_idx lru[2]; /* by enum entry_list */
	struct list_head_idx age;
	uint32_t empty; /* ended flows restarted by the active timeout, no packet since */
	struct flowcache_timeouts t;
	struct flowcache_stats stats;
	flowcache_export_cb cb;
	flowcache_ahead_cb ahead; /* or NULL */
	void *ctx;
	uint32_t bucket_shift; /* 64 - log2(n_buckets): buckets are the hash's top bits */
	uint64_t mult[13];     /* key_hash()'s random multipliers */
	/* flowcache_prefetch(): buckets of the last PF_RING keys it was given */
	uint32_t pf_ring[PF_RING];
	uint32_t pf_pos;
};

static inline struct flow_entry *E(const struct flowcache *fc, uint32_t idx)
{
	idx--;
	return &fc->chunks[idx >> CHUNK_SHIFT][idx & (CHUNK_SIZE - 1)];
}

/*
 * Vector multiply-shift over the key's twelve 32-bit words, with 13 random
 * 64-bit multipliers per cache (Dietzfelbinger; Thorup, "High Speed Hashing
 * for Integers and Strings", 2015): the top l bits of
 *   (a[0] + a[1] x[0] + ... + a[12] x[11]) mod 2^64
 * are strongly universal for l <= 33, so two distinct keys share one of the
 * 2^l buckets with probability 2^-l however they were chosen, as long as the
 * multipliers are unknown. Remote peers choose addresses and ports: with a
 * function they can evaluate (the former unkeyed multiply-xorshift) they
 * could put every flow in one chain. Buckets are the top bits. (SipHash-1-3,
 * measured too, costs 19 ns a hash here against 7.6 for this one.)
 */
static uint64_t key_hash(const struct flowcache *fc, const struct xf_flow_key *k)
{
	uint32_t x[12];
	uint64_t h = fc->mult[0];

	_Static_assert(sizeof(*k) == sizeof(x), "flow key is twelve 32-bit words");
	memcpy(x, k, sizeof(x));
	for (int i = 0; i < 12; i++)
		h += fc->mult[i + 1] * x[i];
	return h;
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

static inline struct list_head_idx *lru_of(struct flowcache *fc, const struct flow_entry *e)
{
	return &fc->lru[e->hprev & F_ENDED ? LIST_ENDED : LIST_OPEN];
}

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
	uint32_t shift = 64 - (uint32_t)__builtin_ctz(n_buckets);

	for (uint32_t i = 1; i <= fc->n_entries; i++) {
		struct flow_entry *e = E(fc, i);
		uint32_t slot;

		if (!(e->hprev & F_IN_USE))
			continue;
		slot = (uint32_t)(key_hash(fc, &e->key) >> shift);
		e->hnext = b[slot];
		head_set(e, slot);
		if (b[slot])
			hprev_set(E(fc, b[slot]), i);
		b[slot] = i;
	}
	g_free(fc->buckets);
	fc->buckets = b;
	fc->n_buckets = n_buckets;
	fc->bucket_shift = shift;
}

static uint32_t bucket_of(const struct flowcache *fc, const struct xf_flow_key *key)
{
	return (uint32_t)(key_hash(fc, key) >> fc->bucket_shift);
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

/*
 * Expiring from the head of the LRU (flush, the idle and fin_grace scans):
 * the entries and buckets ahead are DRAM misses in a large cache. Prefetch
 * the entry three ahead (read as the "next but one" entry one call later),
 * and what the next one's expiry writes: its bucket, or its predecessor in
 * the chain. The entry two ahead (prefetched one call ago) is named to the
 * export-ahead hook, so the callback's own lookup has two records' time to
 * arrive. A hint only.
 */
static inline void lru_head_prefetch(const struct flowcache *fc, const struct list_head_idx *l)
{
	uint32_t n1 = E(fc, l->head)->lru_next, n2, n3;
	const struct flow_entry *e1, *e2;

	if (!n1)
		return;
	e1 = E(fc, n1);
	if (e1->hprev & F_HEAD)
		__builtin_prefetch(&fc->buckets[e1->hprev & HPREV_MASK], 1);
	else
		__builtin_prefetch(E(fc, e1->hprev & HPREV_MASK), 1);
	n2 = e1->lru_next;
	if (!n2)
		return;
	e2 = E(fc, n2);
	if (fc->ahead && e2->st.packets)
		fc->ahead(fc->ctx, &e2->key);
	n3 = e2->lru_next;
	if (n3) {
		__builtin_prefetch(E(fc, n3), 1);
		__builtin_prefetch((const char *)E(fc, n3) + 64, 1);
	}
}

/*
 * Hand entry i's record to the callback (nothing for an empty one).
 * Returns the records handed over: 1, or 0 for an empty entry.
 */
static uint32_t entry_report(struct flowcache *fc, struct flow_entry *e,
			     enum flow_end_reason reason)
{
	if (e->st.packets == 0)
		return 0;
	fc->cb(fc->ctx, &e->key, &e->st, reason);
	fc->stats.exported[reason]++;
	if (reason == FLOW_END_LACK_OF_RESOURCES)
		fc->stats.evicted++;
	return 1;
}

/* Export entry i with reason and remove it from every structure. Returns entry_report's. */
static uint32_t entry_expire(struct flowcache *fc, uint32_t i, enum flow_end_reason reason)
{
	struct flow_entry *e = E(fc, i);
	uint32_t link = e->hprev & HPREV_MASK;
	uint32_t reported = entry_report(fc, e, reason);

	if (e->st.packets == 0)
		fc->empty--;

	if (e->hprev & F_HEAD) {
		fc->buckets[link] = e->hnext;
		if (e->hnext)
			head_set(E(fc, e->hnext), link);
	} else {
		E(fc, link)->hnext = e->hnext;
		if (e->hnext)
			hprev_set(E(fc, e->hnext), link);
	}
	lru_unlink(fc, lru_of(fc, e), i);
	age_unlink(fc, &fc->age, i);
	e->hprev = 0;
	e->hnext = fc->free_head;
	fc->free_head = i;
	fc->count--;
	return reported;
}

/*
 * The active timeout of an ended flow: report the interval, keep the entry
 * (and that it ended) with empty counters, its next interval starting now.
 */
static uint32_t entry_restart(struct flowcache *fc, uint32_t i, uint64_t now_ns)
{
	struct flow_entry *e = E(fc, i);
	uint32_t reported = entry_report(fc, e, FLOW_END_ACTIVE);

	if (reported)
		fc->empty++;
	e->st.packets = 0;
	e->st.octets = 0;
	e->st.tcp_flags = 0;
	e->st.first_ns = now_ns; /* the next packet's time replaces it */
	age_unlink(fc, &fc->age, i);
	age_append(fc, &fc->age, i);
	return reported;
}

/* When entry i's record is due for its end: idle_timeout, or fin_grace once it ended. */
static uint64_t end_due(const struct flowcache *fc, const struct flow_entry *e)
{
	return e->st.last_ns + (e->hprev & F_ENDED ? fc->t.fin_grace_ns : fc->t.idle_ns);
}

/* The reason entry e ends with when its end is due. */
static enum flow_end_reason end_reason(const struct flow_entry *e)
{
	return e->hprev & F_ENDED ? FLOW_END_END_OF_FLOW : FLOW_END_IDLE;
}

/* The least recently updated flow, open or ended (ties: the ended one). */
static uint32_t eviction_victim(const struct flowcache *fc)
{
	uint32_t o = fc->lru[LIST_OPEN].head, d = fc->lru[LIST_ENDED].head;

	if (!o || !d)
		return o ? o : d;
	return E(fc, d)->st.last_ns <= E(fc, o)->st.last_ns ? d : o;
}

/* --- public ------------------------------------------------------------- */

struct flowcache *flowcache_new(uint32_t max_flows, const struct flowcache_timeouts *t,
				flowcache_export_cb cb, void *ctx)
{
	struct flowcache *fc = g_new0(struct flowcache, 1);

	flowcache_set_max_flows(fc, max_flows);
	fc->t = *t;
	fc->cb = cb;
	fc->ctx = ctx;
	fc->n_buckets = 1024;
	fc->bucket_shift = 64 - 10;
	fc->buckets = g_new0(uint32_t, fc->n_buckets);
	/* as src/xlat.c: never blocks; before the pool is ready, a weaker seed */
	if (getrandom(fc->mult, sizeof(fc->mult), GRND_NONBLOCK) != sizeof(fc->mult)) {
		uint64_t x = (uint64_t)(uintptr_t)fc ^ (uint64_t)time(NULL) ^ 0x2545f4914f6cdd1dULL;

		for (int i = 0; i < 13; i++) { /* splitmix64 */
			uint64_t z = (x += 0x9e3779b97f4a7c15ULL);

			z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
			z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
			fc->mult[i] = z ^ (z >> 31);
		}
	}
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

void flowcache_set_export_ahead(struct flowcache *fc, flowcache_ahead_cb ahead)
{
	fc->ahead = ahead;
}

void flowcache_set_timeouts(struct flowcache *fc, const struct flowcache_timeouts *t)
{
	fc->t = *t;
}

void flowcache_set_max_flows(struct flowcache *fc, uint32_t max_flows)
{
	fc->max_flows = max_flows < 1		      ? 1
			: max_flows > MAX_FLOWS_LIMIT ? MAX_FLOWS_LIMIT
						      : max_flows;
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
	 * A SYN on a flow that ended is a new connection reusing the 5-tuple:
	 * the old one's record ends here, the new one gets its own. Unless
	 * the SYN came before the flow's last packet: the datapath order
	 * changed during the connection, and the drain read its later
	 * packets (with the FIN, from the ring buffer) before its earlier
	 * ones (from the flow slots).
	 */
	if (i && (E(fc, i)->hprev & F_ENDED) && (st->tcp_flags & TCP_SYN) &&
	    st->first_ns >= E(fc, i)->st.last_ns) {
		entry_expire(fc, i, FLOW_END_END_OF_FLOW);
		i = NIL;
	}
	/*
	 * Its end was due before this packet (idle, or FIN/RST and its grace):
	 * the flow ended, and only the exporter's pace kept it here
	 * (flowcache_expire()'s budget). Its record goes first; the packet
	 * starts a new flow.
	 */
	if (i && E(fc, i)->st.packets > 0 && st->first_ns >= end_due(fc, E(fc, i))) {
		entry_expire(fc, i, end_reason(E(fc, i)));
		i = NIL;
	}
	if (i) {
		e = E(fc, i);
		if (e->st.packets == 0) { /* restarted by the active timeout */
			e->st.first_ns = st->first_ns;
			fc->empty--;
		} else if (st->first_ns < e->st.first_ns) {
			e->st.first_ns = st->first_ns;
		}
		e->st.packets += st->packets;
		e->st.octets += st->octets;
		if (st->last_ns >= e->st.last_ns) {
			e->st.last_ns = st->last_ns;
			memcpy(e->st.src_mac, st->src_mac, 6);
			memcpy(e->st.dst_mac, st->dst_mac, 6);
			e->st.tos = st->tos;
		}
		e->st.tcp_flags |= st->tcp_flags;
		lru_unlink(fc, lru_of(fc, e), i);
		lru_append(fc, lru_of(fc, e), i);
	} else {
		bool moved = false;
		uint32_t victim;

		while (fc->count >= fc->max_flows && (victim = eviction_victim(fc))) {
			/*
			 * A flow whose end was due already ended; only the
			 * exporter's pace kept it here: it leaves as what it is.
			 */
			const struct flow_entry *v = E(fc, victim);

			entry_expire(fc, victim,
				     v->st.packets > 0 && st->first_ns >= end_due(fc, v)
					     ? end_reason(v)
					     : FLOW_END_LACK_OF_RESOURCES);
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
		e->hprev = F_IN_USE | F_HEAD | b;
		e->hnext = fc->buckets[b];
		if (e->hnext)
			hprev_set(E(fc, e->hnext), i);
		fc->buckets[b] = i;
		lru_append(fc, &fc->lru[LIST_OPEN], i);
		age_append(fc, &fc->age, i);
		fc->count++;
		fc->stats.created++;
	}
	if (!(e->hprev & F_ENDED) && key->proto == 6 && (e->st.tcp_flags & (TCP_FIN | TCP_RST))) {
		lru_unlink(fc, &fc->lru[LIST_OPEN], i);
		e->hprev |= F_ENDED;
		lru_append(fc, &fc->lru[LIST_ENDED], i);
	}
}

uint32_t flowcache_expire(struct flowcache *fc, uint64_t now_ns, uint32_t budget)
{
	uint32_t n = 0, restarted = NIL;

	/*
	 * Oldest due first, at most budget records. Each list is in the order
	 * its flows come due, to within one drain interval (the two LRU lists
	 * by last update: ended TCP flows fin_grace after their last packet,
	 * open ones idle_timeout after it; the age list by the start of the
	 * interval, for the active timeout), so the next due flow is one of
	 * the three heads and the scan stops at the first that is not due. An
	 * ended flow at its active timeout restarts in place at the tail;
	 * meeting it again ends the scan (only with an active timeout of 0).
	 */
	while (n < budget) {
		uint32_t d = fc->lru[LIST_ENDED].head, o = fc->lru[LIST_OPEN].head;
		uint32_t a = fc->age.head;
		uint64_t d_due = d ? E(fc, d)->st.last_ns + fc->t.fin_grace_ns : UINT64_MAX;
		uint64_t o_due = o ? E(fc, o)->st.last_ns + fc->t.idle_ns : UINT64_MAX;
		uint64_t a_due = a && a != restarted ? E(fc, a)->st.first_ns + fc->t.active_ns
						     : UINT64_MAX;

		if (d_due <= o_due && d_due <= a_due) {
			if (d_due > now_ns)
				break;
			lru_head_prefetch(fc, &fc->lru[LIST_ENDED]);
			n += entry_expire(fc, d, FLOW_END_END_OF_FLOW);
		} else if (o_due <= a_due) {
			if (o_due > now_ns)
				break;
			lru_head_prefetch(fc, &fc->lru[LIST_OPEN]);
			n += entry_expire(fc, o, FLOW_END_IDLE);
		} else {
			if (a_due > now_ns)
				break;
			if (E(fc, a)->hprev & F_ENDED) {
				n += entry_restart(fc, a, now_ns);
				if (!restarted)
					restarted = a;
			} else {
				n += entry_expire(fc, a, FLOW_END_ACTIVE);
			}
		}
	}
	return n;
}

uint32_t flowcache_flush(struct flowcache *fc, enum flow_end_reason reason, uint32_t budget)
{
	uint32_t n = 0;

	for (int l = LIST_OPEN; l <= LIST_ENDED; l++) {
		while (fc->lru[l].head && n < budget) {
			lru_head_prefetch(fc, &fc->lru[l]);
			n += entry_expire(fc, fc->lru[l].head, reason);
		}
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
	out->flows = fc->count - fc->empty;
}

void flowcache_chain_stats(const struct flowcache *fc, uint32_t *longest, uint64_t *compares)
{
	*longest = 0;
	*compares = 0;
	for (uint32_t b = 0; b < fc->n_buckets; b++) {
		uint32_t n = 0;

		for (uint32_t i = fc->buckets[b]; i; i = E(fc, i)->hnext)
			n++;
		if (n > *longest)
			*longest = n;
		*compares += (uint64_t)n * (n + 1) / 2;
	}
}
