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
 * bytes; together 139 to 181 bytes, plus up to 2x slack in the record array
 * after a peak (freed records are reused, the array is not shrunk).
 *
 * A key belongs to one record. If two records claim the same key (the same
 * tuples in two conntrack zones, or chained NAT on one host) the newer claim
 * wins; removing a record only drops the keys that still point to it.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <netinet/in.h>

#include "xlat.h"

/* A conntrack DESTROY does not drop the record at once: flows drained just
 * after the connection closed (its last FIN/ACK packets) must still find it.
 * The daemon raises it (xlat_table_set_remove_grace) to cover its idle
 * timeout, since it joins translations when a flow is exported. */
#define XLAT_REMOVE_GRACE_MS 2000

#define XLAT_MIN_SLOTS 64u
#define XLAT_SLOT_EMPTY UINT32_MAX
#define XLAT_MAX_RECORDS (1u << 30) /* ref = index << 2 | role in 32 bits */

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
	uint64_t last_seen_ms; /* next free record index while not in use */
	uint64_t remove_at_ms; /* REC_DYING: 0 until armed by the next expire */
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

struct xlat_table {
	struct xlat_slot *slots;
	uint32_t mask; /* slots - 1, slots a power of two */
	uint32_t used; /* occupied slots */

	struct xlat_record *recs;
	uint32_t n_recs; /* high-water mark of recs[] */
	uint32_t cap_recs;
	uint32_t free_head; /* UINT32_MAX = none */
	uint32_t live;	    /* records in use */

	uint64_t timeout_ms;
	uint64_t remove_grace_ms;
	uint64_t seed;
};

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (!p)
		abort();
	return p;
}

static void *xreallocarray(void *old, size_t n, size_t size)
{
	void *p = reallocarray(old, n, size);

	if (!p)
		abort();
	return p;
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

	tab->slots = xreallocarray(NULL, nslots, sizeof(*tab->slots));
	memset(tab->slots, 0xff, (size_t)nslots * sizeof(*tab->slots));
	tab->mask = nslots - 1;
	/* Keys are unique already: re-place without comparing. */
	for (uint32_t i = 0; i < old_n; i++)
		if (old[i].ref != XLAT_SLOT_EMPTY)
			index_place(tab->slots, tab->mask, old[i].ref, old[i].hash);
	free(old);
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

static uint32_t record_alloc(struct xlat_table *tab)
{
	uint32_t idx;

	if (tab->free_head != UINT32_MAX) {
		idx = tab->free_head;
		tab->free_head = (uint32_t)tab->recs[idx].last_seen_ms;
	} else {
		if (tab->n_recs == tab->cap_recs) {
			uint32_t cap = tab->cap_recs ? tab->cap_recs * 2 : 64;

			if (cap > XLAT_MAX_RECORDS)
				abort();
			tab->recs = xreallocarray(tab->recs, cap, sizeof(*tab->recs));
			tab->cap_recs = cap;
		}
		idx = tab->n_recs++;
	}
	memset(&tab->recs[idx], 0, sizeof(tab->recs[idx]));
	tab->recs[idx].flags = REC_IN_USE;
	tab->live++;
	return idx;
}

static void record_free(struct xlat_table *tab, uint32_t idx)
{
	record_unindex(tab, idx);
	memset(&tab->recs[idx], 0, sizeof(tab->recs[idx]));
	tab->recs[idx].last_seen_ms = tab->free_head;
	tab->free_head = idx;
	tab->live--;
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

struct xlat_table *xlat_table_new(uint64_t timeout_ms)
{
	struct xlat_table *tab = xcalloc(1, sizeof(*tab));

	tab->timeout_ms = timeout_ms;
	tab->remove_grace_ms = XLAT_REMOVE_GRACE_MS;
	tab->free_head = UINT32_MAX;
	tab->slots = xreallocarray(NULL, XLAT_MIN_SLOTS, sizeof(*tab->slots));
	memset(tab->slots, 0xff, XLAT_MIN_SLOTS * sizeof(*tab->slots));
	tab->mask = XLAT_MIN_SLOTS - 1;
	if (getrandom(&tab->seed, sizeof(tab->seed), GRND_NONBLOCK) != sizeof(tab->seed))
		tab->seed = (uint64_t)(uintptr_t)tab ^ 0x2545f4914f6cdd1dULL;
	return tab;
}

void xlat_table_set_remove_grace(struct xlat_table *tab, uint64_t grace_ms)
{
	tab->remove_grace_ms = grace_ms;
}

void xlat_table_free(struct xlat_table *tab)
{
	if (!tab)
		return;
	free(tab->slots);
	free(tab->recs);
	free(tab);
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
		fresh.last_seen_ms = now_ms;
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
	r->last_seen_ms = now_ms;
	/* A new connection reusing the tuples of a dying one revives it. */
	r->flags &= (uint8_t)~REC_DYING;
	r->remove_at_ms = 0;
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
	 * no clock, and the caller's last one may be stale.
	 */
	if (!(tab->recs[idx].flags & REC_DYING)) {
		tab->recs[idx].flags |= REC_DYING;
		tab->recs[idx].remove_at_ms = 0;
	}
}

static void fill_addr(uint8_t dst[16], const uint8_t src[16])
{
	memcpy(dst, src, 16);
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
	for (uint32_t i = 0; i < tab->n_recs; i++) {
		struct xlat_record *r = &tab->recs[i];

		if (!(r->flags & REC_IN_USE))
			continue;
		if (r->flags & REC_DYING) {
			if (r->remove_at_ms == 0)
				r->remove_at_ms = now_ms + tab->remove_grace_ms;
			else if (now_ms >= r->remove_at_ms)
				record_free(tab, i);
			continue;
		}
		if (now_ms >= r->last_seen_ms && now_ms - r->last_seen_ms >= tab->timeout_ms)
			record_free(tab, i);
	}
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
