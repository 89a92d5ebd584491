// SPDX-License-Identifier: GPL-2.0-only
/*
 * The translation table. One record per conntrack connection (keyed by its
 * original tuple O), reachable through an open-addressing index under each of
 * the four tuples the connection's packets can carry:
 *
 *   role      tuple    direction  relative to NAT   fills xlat_info
 *   ORIG      O        forward    before            pre = O, post = rev(R), PRE
 *   ORIG_NAT  rev(R)   forward    after             pre = O, post = rev(R), POST
 *   REPLY     R        reply      before            pre = R, post = rev(O), PRE
 *   REPLY_NAT rev(O)   reply      after             pre = R, post = rev(O), POST
 *
 * Memory per connection on x86-64: the record is 96 bytes; the index holds
 * 4 slots of 8 bytes at a load factor between 3/8 and 3/4, so 43 to 85
 * bytes; together 139 to 181 bytes. The record array grows by doubling up
 * to max_translations and is not shrunk (freed records are reused), so the
 * table never holds more than max * 96 bytes of records plus the index for
 * 4 * max keys (xlat_table_max_bytes()).
 *
 * The bound: with the kernel hook nothing says a connection ended, so every
 * translation waits for its timeout; a SYN flood through a DNAT would add one
 * per SYN. At max_translations a new translation first evicts one: a
 * removed one (its connection is gone, it only waits out its grace), oldest
 * removal first, else the least recently seen. Records sit on one of two
 * lists, so eviction and expiry take the head instead of a walk:
 *   seen   live records, least recently seen first (a refresh moves a record
 *          to the tail): expiry stops at the first one seen within the timeout
 *   dying  removed records, in the order they were removed (and so of their
 *          deadlines): expiry stops at the first one within its grace
 *
 * A key belongs to one record. If two records claim the same key (the same
 * tuples in two conntrack zones, or chained NAT on one host) the newer claim
 * wins; removing a record only drops the keys that still point to it.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <netinet/in.h>

#include <glib.h>

#include "xlat.h"

/* A conntrack DESTROY does not drop the record at once: flows drained just
 * after the connection closed (its last FIN/ACK packets) must still find it.
 * The daemon raises it (xlat_table_set_remove_grace) to cover its idle
 * timeout, since it joins translations when a flow is exported. */
#define XLAT_REMOVE_GRACE_MS 2000

#define XLAT_MIN_SLOTS 64u
#define XLAT_SLOT_EMPTY UINT32_MAX
#define XLAT_NIL UINT32_MAX /* no record: list ends, empty free list */

enum xlat_role {
	ROLE_ORIG = 0,	    /* O */
	ROLE_ORIG_NAT = 1,  /* rev(R) */
	ROLE_REPLY = 2,	    /* R */
	ROLE_REPLY_NAT = 3, /* rev(O) */
	ROLE_COUNT = 4,
};

#define REC_IN_USE 0x01
#define REC_DYING 0x02 /* xlat_table_remove()d; removed after the grace */

/* Lookup key: what a packet's headers say. 40 bytes, no holes. */
struct xlat_key {
	uint8_t src[16];
	uint8_t dst[16];
	uint16_t sport;
	uint16_t dport;
	uint8_t family;
	uint8_t proto;
	uint8_t pad[2];
};

/* One connection: O = orig_*, R = reply_*. 96 bytes. */
struct xlat_record {
	uint8_t orig_src[16];
	uint8_t orig_dst[16];
	uint8_t reply_src[16];
	uint8_t reply_dst[16];
	uint64_t time_ms; /* last seen; REC_DYING: when it goes, 0 until the next expire */
	uint32_t prev;	  /* on tab->seen or tab->dying; next: also the free list */
	uint32_t next;
	uint16_t orig_sport;
	uint16_t orig_dport;
	uint16_t reply_sport;
	uint16_t reply_dport;
	uint16_t zone_id;
	uint8_t family;
	uint8_t proto;
	uint8_t flags;
	uint8_t pad[3];
};

_Static_assert(sizeof(struct xlat_key) == 40, "xlat_key has holes");
_Static_assert(sizeof(struct xlat_record) == 96, "xlat_record grew");

/* Index slot: the hash is kept so probing and resizing never rebuild keys. */
struct xlat_slot {
	uint32_t ref; /* record index << 2 | role, XLAT_SLOT_EMPTY */
	uint32_t hash;
};

struct xlat_list {
	uint32_t head, tail; /* XLAT_NIL when empty */
};

struct xlat_table {
	struct xlat_slot *slots;
	uint32_t mask; /* slots - 1, slots a power of two */
	uint32_t used; /* occupied slots */

	struct xlat_record *recs;
	uint32_t n_recs; /* high-water mark of recs[] */
	uint32_t cap_recs;
	uint32_t free_head; /* XLAT_NIL = none */
	uint32_t live;	    /* records in use: on seen or on dying */
	uint32_t max;	    /* bound of live */
	struct xlat_list seen;
	struct xlat_list dying;

	uint64_t timeout_ms;
	uint64_t remove_grace_ms;
	uint64_t seed;
	uint64_t evicted;
};

static void list_unlink(struct xlat_table *tab, struct xlat_list *l, uint32_t idx)
{
	struct xlat_record *r = &tab->recs[idx];

	if (r->prev != XLAT_NIL)
		tab->recs[r->prev].next = r->next;
	else
		l->head = r->next;
	if (r->next != XLAT_NIL)
		tab->recs[r->next].prev = r->prev;
	else
		l->tail = r->prev;
	r->prev = r->next = XLAT_NIL;
}

static void list_append(struct xlat_table *tab, struct xlat_list *l, uint32_t idx)
{
	struct xlat_record *r = &tab->recs[idx];

	r->prev = l->tail;
	r->next = XLAT_NIL;
	if (l->tail != XLAT_NIL)
		tab->recs[l->tail].next = idx;
	else
		l->head = idx;
	l->tail = idx;
}

/*
 * Seeded multiply-xorshift over the five 64-bit words of the key. The
 * per-table random seed keeps remote peers, who choose ports and addresses,
 * from aiming all their connections at one probe chain.
 */
static uint32_t key_hash(const struct xlat_table *tab, const struct xlat_key *k)
{
	uint64_t w[5], h = tab->seed;

	memcpy(w, k, sizeof(w));
	for (int i = 0; i < 5; i++) {
		h ^= w[i];
		h *= 0x9e3779b97f4a7c15ULL;
		h ^= h >> 29;
	}
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 32;
	return (uint32_t)h;
}

static void set_addr(uint8_t dst[16], const uint8_t src[16], uint8_t family)
{
	/* IPv4 keeps bytes 4..15 zero even if a producer left garbage there. */
	if (family == XF_FAMILY_IPV4) {
		memset(dst, 0, 16);
		memcpy(dst, src, 4);
	} else {
		memcpy(dst, src, 16);
	}
}

static void key_set(struct xlat_key *k, uint8_t family, uint8_t proto, const uint8_t *src,
		    const uint8_t *dst, uint16_t sport, uint16_t dport)
{
	memset(k, 0, sizeof(*k));
	k->family = family;
	k->proto = proto;
	set_addr(k->src, src, family);
	set_addr(k->dst, dst, family);
	/* ICMP (and other portless protocols) match on addresses alone. */
	if (flow_proto_has_ports(proto)) {
		k->sport = sport;
		k->dport = dport;
	}
}

static void record_key(const struct xlat_record *r, enum xlat_role role, struct xlat_key *k)
{
	switch (role) {
	case ROLE_ORIG:
		key_set(k, r->family, r->proto, r->orig_src, r->orig_dst, r->orig_sport,
			r->orig_dport);
		break;
	case ROLE_ORIG_NAT:
		key_set(k, r->family, r->proto, r->reply_dst, r->reply_src, r->reply_dport,
			r->reply_sport);
		break;
	case ROLE_REPLY:
		key_set(k, r->family, r->proto, r->reply_src, r->reply_dst, r->reply_sport,
			r->reply_dport);
		break;
	default:
		key_set(k, r->family, r->proto, r->orig_dst, r->orig_src, r->orig_dport,
			r->orig_sport);
		break;
	}
}

static bool key_eq(const struct xlat_key *a, const struct xlat_key *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

static uint32_t slot_ref(uint32_t idx, enum xlat_role role)
{
	return idx << 2 | (uint32_t)role;
}

static bool slot_matches(const struct xlat_table *tab, const struct xlat_slot *s,
			 const struct xlat_key *k, uint32_t hash)
{
	struct xlat_key other;

	if (s->hash != hash)
		return false;
	record_key(&tab->recs[s->ref >> 2], (enum xlat_role)(s->ref & 3), &other);
	return key_eq(&other, k);
}

/* Slot index holding key, or -1. */
static long index_find(const struct xlat_table *tab, const struct xlat_key *k, uint32_t hash)
{
	uint32_t i = hash & tab->mask;

	while (tab->slots[i].ref != XLAT_SLOT_EMPTY) {
		if (slot_matches(tab, &tab->slots[i], k, hash))
			return i;
		i = (i + 1) & tab->mask;
	}
	return -1;
}

static void index_place(struct xlat_slot *slots, uint32_t mask, uint32_t ref, uint32_t hash)
{
	uint32_t i = hash & mask;

	while (slots[i].ref != XLAT_SLOT_EMPTY)
		i = (i + 1) & mask;
	slots[i].ref = ref;
	slots[i].hash = hash;
}

static void index_resize(struct xlat_table *tab, uint32_t nslots)
{
	struct xlat_slot *old = tab->slots;
	uint32_t old_n = tab->mask + 1;

	tab->slots = g_new(struct xlat_slot, nslots);
	memset(tab->slots, 0xff, (size_t)nslots * sizeof(*tab->slots));
	tab->mask = nslots - 1;
	/* Keys are unique already: re-place without comparing. */
	for (uint32_t i = 0; i < old_n; i++)
		if (old[i].ref != XLAT_SLOT_EMPTY)
			index_place(tab->slots, tab->mask, old[i].ref, old[i].hash);
	g_free(old);
}

/* Point key at ref; a key another record held now belongs to this one. */
static void index_insert(struct xlat_table *tab, const struct xlat_key *k, uint32_t ref)
{
	uint32_t hash = key_hash(tab, k);
	long pos = index_find(tab, k, hash);

	if (pos >= 0) {
		tab->slots[pos].ref = ref;
		return;
	}
	if ((uint64_t)(tab->used + 1) * 4 > (uint64_t)(tab->mask + 1) * 3)
		index_resize(tab, (tab->mask + 1) * 2);
	index_place(tab->slots, tab->mask, ref, hash);
	tab->used++;
}

/* Linear-probing deletion with backward shift: no tombstones. */
static void index_delete_at(struct xlat_table *tab, uint32_t i)
{
	uint32_t j = i;

	for (;;) {
		j = (j + 1) & tab->mask;
		if (tab->slots[j].ref == XLAT_SLOT_EMPTY)
			break;
		uint32_t home = tab->slots[j].hash & tab->mask;
		/* Move j back to i unless its home lies cyclically in (i, j]. */
		bool stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
		if (!stays) {
			tab->slots[i] = tab->slots[j];
			i = j;
		}
	}
	tab->slots[i].ref = XLAT_SLOT_EMPTY;
	tab->used--;
}

static void index_delete(struct xlat_table *tab, const struct xlat_key *k, uint32_t ref)
{
	long pos = index_find(tab, k, key_hash(tab, k));

	if (pos >= 0 && tab->slots[pos].ref == ref)
		index_delete_at(tab, (uint32_t)pos);
}

/*
 * The distinct keys of a record, as a bit mask of roles. Zero for an
 * untranslated connection (O == rev(R)): nothing to enrich.
 */
static unsigned record_keys(const struct xlat_record *r, struct xlat_key keys[ROLE_COUNT])
{
	unsigned mask = 0;

	for (int role = 0; role < ROLE_COUNT; role++)
		record_key(r, (enum xlat_role)role, &keys[role]);
	if (key_eq(&keys[ROLE_ORIG], &keys[ROLE_ORIG_NAT]))
		return 0;
	for (int role = 0; role < ROLE_COUNT; role++) {
		bool dup = false;

		for (int prev = 0; prev < role; prev++)
			if ((mask & 1u << prev) && key_eq(&keys[prev], &keys[role]))
				dup = true;
		if (!dup)
			mask |= 1u << role;
	}
	return mask;
}

static void record_index(struct xlat_table *tab, uint32_t idx)
{
	struct xlat_key keys[ROLE_COUNT];
	unsigned mask = record_keys(&tab->recs[idx], keys);

	for (int role = 0; role < ROLE_COUNT; role++)
		if (mask & 1u << role)
			index_insert(tab, &keys[role], slot_ref(idx, (enum xlat_role)role));
}

static void record_unindex(struct xlat_table *tab, uint32_t idx)
{
	struct xlat_key keys[ROLE_COUNT];
	unsigned mask = record_keys(&tab->recs[idx], keys);

	for (int role = 0; role < ROLE_COUNT; role++)
		if (mask & 1u << role)
			index_delete(tab, &keys[role], slot_ref(idx, (enum xlat_role)role));
}

static struct xlat_list *record_list(struct xlat_table *tab, uint32_t idx)
{
	return tab->recs[idx].flags & REC_DYING ? &tab->dying : &tab->seen;
}

static void record_free(struct xlat_table *tab, uint32_t idx)
{
	record_unindex(tab, idx);
	list_unlink(tab, record_list(tab, idx), idx);
	memset(&tab->recs[idx], 0, sizeof(tab->recs[idx]));
	tab->recs[idx].next = tab->free_head;
	tab->free_head = idx;
	tab->live--;
}

/* Make room for one more record: drop a removed one, else the least recently seen. */
static void evict_one(struct xlat_table *tab)
{
	uint32_t idx = tab->dying.head != XLAT_NIL ? tab->dying.head : tab->seen.head;

	record_free(tab, idx);
	tab->evicted++;
}

/*
 * A zeroed record, in use, at the tail of the seen list; the caller fills
 * and indexes it. Evicts first when the table is full.
 */
static uint32_t record_alloc(struct xlat_table *tab)
{
	uint32_t idx;

	while (tab->live >= tab->max)
		evict_one(tab);
	if (tab->free_head != XLAT_NIL) {
		idx = tab->free_head;
		tab->free_head = tab->recs[idx].next;
	} else {
		if (tab->n_recs == tab->cap_recs) {
			/* live < max and nothing free: n_recs == live < max */
			uint64_t cap = tab->cap_recs ? (uint64_t)tab->cap_recs * 2 : 64;

			if (cap > tab->max)
				cap = tab->max;
			tab->recs = g_renew(struct xlat_record, tab->recs, cap);
			tab->cap_recs = (uint32_t)cap;
		}
		idx = tab->n_recs++;
	}
	memset(&tab->recs[idx], 0, sizeof(tab->recs[idx]));
	tab->recs[idx].flags = REC_IN_USE;
	list_append(tab, &tab->seen, idx);
	tab->live++;
	return idx;
}

/* Copy the event's tuples into r (normalized as lookups are). */
static void record_set(struct xlat_record *r, const struct xf_xlat_event *ev)
{
	struct xlat_key o, rp;

	key_set(&o, ev->orig.family, ev->orig.proto, ev->orig.src_addr, ev->orig.dst_addr,
		ev->orig.src_port, ev->orig.dst_port);
	key_set(&rp, ev->orig.family, ev->orig.proto, ev->reply.src_addr, ev->reply.dst_addr,
		ev->reply.src_port, ev->reply.dst_port);
	memcpy(r->orig_src, o.src, 16);
	memcpy(r->orig_dst, o.dst, 16);
	memcpy(r->reply_src, rp.src, 16);
	memcpy(r->reply_dst, rp.dst, 16);
	r->orig_sport = o.sport;
	r->orig_dport = o.dport;
	r->reply_sport = rp.sport;
	r->reply_dport = rp.dport;
	r->family = o.family;
	r->proto = o.proto;
}

static bool record_same_tuples(const struct xlat_record *a, const struct xlat_record *b)
{
	return a->family == b->family && a->proto == b->proto &&
	       memcmp(a->orig_src, b->orig_src, 16) == 0 &&
	       memcmp(a->orig_dst, b->orig_dst, 16) == 0 &&
	       memcmp(a->reply_src, b->reply_src, 16) == 0 &&
	       memcmp(a->reply_dst, b->reply_dst, 16) == 0 && a->orig_sport == b->orig_sport &&
	       a->orig_dport == b->orig_dport && a->reply_sport == b->reply_sport &&
	       a->reply_dport == b->reply_dport;
}

/* The record whose original tuple is O, or UINT32_MAX. */
static uint32_t record_find_orig(const struct xlat_table *tab, const struct xlat_key *o)
{
	long pos = index_find(tab, o, key_hash(tab, o));

	if (pos < 0 || (tab->slots[pos].ref & 3) != ROLE_ORIG)
		return UINT32_MAX;
	return tab->slots[pos].ref >> 2;
}

struct xlat_table *xlat_table_new(uint64_t timeout_ms, uint32_t max_translations)
{
	struct xlat_table *tab = g_new0(struct xlat_table, 1);

	tab->timeout_ms = timeout_ms;
	tab->remove_grace_ms = XLAT_REMOVE_GRACE_MS;
	tab->free_head = XLAT_NIL;
	tab->seen.head = tab->seen.tail = XLAT_NIL;
	tab->dying.head = tab->dying.tail = XLAT_NIL;
	xlat_table_set_max(tab, max_translations);
	tab->slots = g_new(struct xlat_slot, XLAT_MIN_SLOTS);
	memset(tab->slots, 0xff, XLAT_MIN_SLOTS * sizeof(*tab->slots));
	tab->mask = XLAT_MIN_SLOTS - 1;
	if (getrandom(&tab->seed, sizeof(tab->seed), GRND_NONBLOCK) != sizeof(tab->seed))
		tab->seed = (uint64_t)(uintptr_t)tab ^ 0x2545f4914f6cdd1dULL;
	return tab;
}

void xlat_table_set_timeout(struct xlat_table *tab, uint64_t timeout_ms)
{
	tab->timeout_ms = timeout_ms;
}

void xlat_table_set_remove_grace(struct xlat_table *tab, uint64_t grace_ms)
{
	tab->remove_grace_ms = grace_ms;
}

void xlat_table_set_max(struct xlat_table *tab, uint32_t max_translations)
{
	if (max_translations < 1)
		max_translations = 1;
	if (max_translations > XLAT_MAX_TRANSLATIONS)
		max_translations = XLAT_MAX_TRANSLATIONS;
	tab->max = max_translations;
	while (tab->live > tab->max)
		evict_one(tab);
}

void xlat_table_free(struct xlat_table *tab)
{
	if (!tab)
		return;
	g_free(tab->slots);
	g_free(tab->recs);
	g_free(tab);
}

void xlat_table_update(struct xlat_table *tab, const struct xf_xlat_event *ev, uint64_t now_ms)
{
	struct xlat_record fresh = { 0 };
	struct xlat_key keys[ROLE_COUNT];
	uint32_t idx;
	bool translated;

	if ((ev->orig.family != XF_FAMILY_IPV4 && ev->orig.family != XF_FAMILY_IPV6) ||
	    ev->reply.family != ev->orig.family || ev->reply.proto != ev->orig.proto)
		return;
	record_set(&fresh, ev);
	translated = record_keys(&fresh, keys) != 0;
	idx = record_find_orig(tab, &keys[ROLE_ORIG]);

	if (idx == UINT32_MAX) {
		if (!translated)
			return;
		idx = record_alloc(tab);
		fresh.flags = REC_IN_USE;
		fresh.zone_id = ev->zone_id;
		fresh.time_ms = now_ms;
		fresh.prev = tab->recs[idx].prev;
		fresh.next = tab->recs[idx].next;
		tab->recs[idx] = fresh;
		record_index(tab, idx);
		return;
	}

	struct xlat_record *r = &tab->recs[idx];

	if (!record_same_tuples(r, &fresh)) {
		/* The same O now translates differently (or not at all). */
		record_unindex(tab, idx);
		if (!translated) {
			record_free(tab, idx);
			return;
		}
		record_set(r, ev);
		record_index(tab, idx);
	}
	/* Same tuples in another zone: last one wins (docs/nat.md). */
	r->zone_id = ev->zone_id;
	/* Most recently seen; a new connection reusing the tuples of a dying one revives it. */
	list_unlink(tab, record_list(tab, idx), idx);
	r->flags &= (uint8_t)~REC_DYING;
	r->time_ms = now_ms;
	list_append(tab, &tab->seen, idx);
}

void xlat_table_remove(struct xlat_table *tab, const struct xf_tuple *orig)
{
	struct xlat_key o;
	uint32_t idx;

	key_set(&o, orig->family, orig->proto, orig->src_addr, orig->dst_addr, orig->src_port,
		orig->dst_port);
	idx = record_find_orig(tab, &o);
	if (idx == UINT32_MAX)
		return;
	/*
	 * The grace runs from the next xlat_table_expire(): this function has
	 * no clock, and the caller's last one may be stale. Until then the
	 * record waits unarmed (time 0) at the tail of the dying list.
	 */
	if (!(tab->recs[idx].flags & REC_DYING)) {
		list_unlink(tab, &tab->seen, idx);
		tab->recs[idx].flags |= REC_DYING;
		tab->recs[idx].time_ms = 0;
		list_append(tab, &tab->dying, idx);
	}
}

static void fill_addr(uint8_t dst[16], const uint8_t src[16])
{
	memcpy(dst, src, 16);
}

void xlat_table_prefetch(const struct xlat_table *tab, const struct xf_flow_key *key)
{
	struct xlat_key k;

	key_set(&k, key->family, key->proto, key->src_addr, key->dst_addr, key->src_port,
		key->dst_port);
	__builtin_prefetch(&tab->slots[key_hash(tab, &k) & tab->mask]);
}

bool xlat_table_lookup(const struct xlat_table *tab, const struct xf_flow_key *key,
		       struct xlat_info *out)
{
	struct xlat_key k;
	const struct xlat_record *r;
	enum xlat_role role;
	long pos;

	/* ICMP keys carry type/code in dst_port: key_set drops it. */
	key_set(&k, key->family, key->proto, key->src_addr, key->dst_addr, key->src_port,
		key->dst_port);
	pos = index_find(tab, &k, key_hash(tab, &k));
	if (pos < 0)
		return false;
	r = &tab->recs[tab->slots[pos].ref >> 2];
	role = (enum xlat_role)(tab->slots[pos].ref & 3);

	memset(out, 0, sizeof(*out));
	if (role == ROLE_ORIG || role == ROLE_ORIG_NAT) {
		/* forward: O before NAT, rev(R) after */
		fill_addr(out->pre_src, r->orig_src);
		fill_addr(out->pre_dst, r->orig_dst);
		out->pre_sport = r->orig_sport;
		out->pre_dport = r->orig_dport;
		fill_addr(out->post_src, r->reply_dst);
		fill_addr(out->post_dst, r->reply_src);
		out->post_sport = r->reply_dport;
		out->post_dport = r->reply_sport;
	} else {
		/* reply: R before NAT, rev(O) after */
		fill_addr(out->pre_src, r->reply_src);
		fill_addr(out->pre_dst, r->reply_dst);
		out->pre_sport = r->reply_sport;
		out->pre_dport = r->reply_dport;
		fill_addr(out->post_src, r->orig_dst);
		fill_addr(out->post_dst, r->orig_src);
		out->post_sport = r->orig_dport;
		out->post_dport = r->orig_sport;
	}
	out->observed = (role == ROLE_ORIG || role == ROLE_REPLY) ? XLAT_OBSERVED_PRE
								  : XLAT_OBSERVED_POST;
	/* The connection's translation (O against rev(R)), whatever the direction. */
	if (memcmp(r->orig_src, r->reply_dst, 16) != 0 || r->orig_sport != r->reply_dport)
		out->type |= XLAT_TYPE_SNAT;
	if (memcmp(r->orig_dst, r->reply_src, 16) != 0 || r->orig_dport != r->reply_sport)
		out->type |= XLAT_TYPE_DNAT;
	out->zone_id = r->zone_id;
	return true;
}

void xlat_table_expire(struct xlat_table *tab, uint64_t now_ms)
{
	uint32_t idx;

	/*
	 * Arm the removals since the last pass: they are the unarmed tail of
	 * the dying list, so the list stays in deadline order.
	 */
	for (idx = tab->dying.tail; idx != XLAT_NIL && tab->recs[idx].time_ms == 0;
	     idx = tab->recs[idx].prev)
		tab->recs[idx].time_ms = now_ms + tab->remove_grace_ms;
	while ((idx = tab->dying.head) != XLAT_NIL && tab->recs[idx].time_ms != 0 &&
	       now_ms >= tab->recs[idx].time_ms)
		record_free(tab, idx);
	/* Least recently seen first: stop at the first one seen within the timeout. */
	while ((idx = tab->seen.head) != XLAT_NIL && now_ms >= tab->recs[idx].time_ms &&
	       now_ms - tab->recs[idx].time_ms >= tab->timeout_ms)
		record_free(tab, idx);
	/*
	 * Give memory back after a peak: halve while the smaller index would be
	 * at most 3/8 full, half the growth threshold, so it does not flap.
	 */
	uint32_t nslots = tab->mask + 1;

	while (nslots > XLAT_MIN_SLOTS && (uint64_t)tab->used * 8 <= (uint64_t)(nslots / 2) * 3)
		nslots /= 2;
	if (nslots != tab->mask + 1)
		index_resize(tab, nslots);
}

size_t xlat_table_size(const struct xlat_table *tab)
{
	return tab->live;
}

static uint64_t table_bytes(uint64_t recs, uint64_t slots)
{
	return sizeof(struct xlat_table) + recs * sizeof(struct xlat_record) +
	       slots * sizeof(struct xlat_slot);
}

void xlat_table_get_stats(const struct xlat_table *tab, struct xlat_table_stats *out)
{
	out->translations = tab->live;
	out->evicted = tab->evicted;
	out->bytes = table_bytes(tab->cap_recs, (uint64_t)tab->mask + 1);
}

uint64_t xlat_table_max_bytes(uint32_t max_translations)
{
	/* The index grows past 3/4 full: the smallest power of two above 4/3 of 4 keys a record. */
	uint64_t keys = (uint64_t)max_translations * ROLE_COUNT, slots = XLAT_MIN_SLOTS;

	while (keys * 4 > slots * 3)
		slots *= 2;
	return table_bytes(max_translations, slots);
}
