// SPDX-License-Identifier: GPL-2.0-only
/*
 * The NAT event log (natlog.h). Conntrack tuples to RFC 8158 fields: for a
 * connection client C:cp -> service S:sp DNATed to backend B:bp and SNATed
 * to C':cp', orig = C:cp -> S:sp and reply = B:bp -> C':cp'
 * (xlatflow_shared.h), so pre-NAT is orig as it is and post-NAT is reply
 * turned around: source C':cp' = reply's destination, destination B:bp =
 * reply's source.
 */
#include <errno.h>
#include <string.h>

#include <glib.h>

#include "log.h"
#include "natlog.h"

/* What failures are aggregated by: one record per key and second. */
struct agg_key {
	uint64_t second; /* wall clock */
	uint8_t kind;	 /* XF_XLAT_KIND_PORTS_EXHAUSTED or _TABLE_FULL */
	uint8_t family;
	uint8_t proto;
	uint8_t pad;
	uint16_t zone;
	uint16_t dst_port;
	uint8_t post_src[16];
	uint8_t dst[16];
};

struct agg {
	struct agg_key key;
	uint64_t first_ms; /* the first failure's time */
	uint64_t count;
	uint64_t max_sessions; /* nf_conntrack_max when it failed (table full) */
};

struct natlog {
	natlog_emit_fn emit;
	void *ctx;
	GHashTable *aggs; /* struct agg, keyed by its key */
	unsigned int threshold_pct;
	bool above;	       /* the fill is at or above the threshold (event sent) */
	uint64_t max_sessions; /* nf_conntrack_max, last known */
	struct natlog_stats stats;
};

static guint agg_hash(gconstpointer p)
{
	const uint8_t *b = p;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < sizeof(struct agg_key); i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

static gboolean agg_equal(gconstpointer a, gconstpointer b)
{
	return memcmp(a, b, sizeof(struct agg_key)) == 0;
}

struct natlog *natlog_new(natlog_emit_fn emit, void *ctx)
{
	struct natlog *nl = g_new0(struct natlog, 1);

	nl->emit = emit;
	nl->ctx = ctx;
	nl->aggs = g_hash_table_new_full(agg_hash, agg_equal, NULL, g_free);
	return nl;
}

void natlog_free(struct natlog *nl)
{
	if (!nl)
		return;
	g_hash_table_destroy(nl->aggs);
	g_free(nl);
}

void natlog_set_threshold(struct natlog *nl, unsigned int percent)
{
	nl->threshold_pct = percent;
	nl->above = false;
}

static uint32_t ip4(const uint8_t *a)
{
	return (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
}

static uint32_t sat32(uint64_t v)
{
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

int natlog_session_record(struct ipfix_natev_rec *out, const struct nat_event *ev,
			  const struct xf_clock *clk)
{
	struct ipfix_natev_session_rec *r = &out->u.session;
	const struct xf_tuple *o = &ev->orig, *rp = &ev->reply;

	if (ev->kind != XF_XLAT_KIND_CREATE && ev->kind != XF_XLAT_KIND_DELETE)
		return -EINVAL;
	if (o->family != XF_FAMILY_IPV4 && o->family != XF_FAMILY_IPV6)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	r->time_ms = clock_mono_to_wall_ms(clk, ev->time_mono_ns);
	if (ev->flags & NAT_EVENT_F_START)
		r->start_ms = ev->start_wall_ns / 1000000ULL;
	else if (ev->kind == XF_XLAT_KIND_CREATE)
		r->start_ms = r->time_ms;
	if (ev->kind == XF_XLAT_KIND_DELETE)
		r->end_ms = r->time_ms;
	if (ev->kind == XF_XLAT_KIND_DELETE && (ev->flags & NAT_EVENT_F_ACCT)) {
		r->octets[0] = ev->octets[0];
		r->octets[1] = ev->octets[1];
		r->packets[0] = ev->packets[0];
		r->packets[1] = ev->packets[1];
	}
	if (o->family == XF_FAMILY_IPV4) {
		out->tid = IPFIX_TID_NAT44_SESSION;
		r->src_ip4 = ip4(o->src_addr);
		r->dst_ip4 = ip4(o->dst_addr);
		r->post_src_ip4 = ip4(rp->dst_addr);
		r->post_dst_ip4 = ip4(rp->src_addr);
	} else {
		out->tid = IPFIX_TID_NAT66_SESSION;
		memcpy(r->src_ip6, o->src_addr, 16);
		memcpy(r->dst_ip6, o->dst_addr, 16);
		memcpy(r->post_src_ip6, rp->dst_addr, 16);
		memcpy(r->post_dst_ip6, rp->src_addr, 16);
	}
	r->src_port = o->src_port;
	r->dst_port = o->dst_port;
	r->post_src_port = rp->dst_port;
	r->post_dst_port = rp->src_port;
	r->vrf = ev->zone_id;
	r->zone = ev->zone_id;
	r->proto = o->proto;
	r->nat_event = ev->kind == XF_XLAT_KIND_CREATE ? NATLOG_EV_SESSION_CREATE
						       : NATLOG_EV_SESSION_DELETE;
	return 0;
}

static void agg_emit(struct natlog *nl, const struct agg *a)
{
	struct ipfix_natev_rec rec;

	memset(&rec, 0, sizeof(rec));
	if (a->key.kind == XF_XLAT_KIND_TABLE_FULL) {
		struct ipfix_natev_quota_rec *q = &rec.u.quota;

		rec.tid = IPFIX_TID_NAT_QUOTA;
		q->time_ms = a->first_ms;
		q->nat_event = NATLOG_EV_QUOTA_EXCEEDED;
		q->quota_event = NATLOG_QUOTA_MAX_SESSIONS;
		q->max_sessions = sat32(a->max_sessions);
		q->dropped = a->count;
		q->vrf = a->key.zone;
		q->zone = a->key.zone;
		q->count = a->count;
	} else {
		struct ipfix_natev_ports_rec *r = &rec.u.ports;

		r->time_ms = a->first_ms;
		r->dropped = a->count;
		if (a->key.family == XF_FAMILY_IPV6) {
			rec.tid = IPFIX_TID_NAT66_PORTS;
			memcpy(r->post_src_ip6, a->key.post_src, 16);
			memcpy(r->dst_ip6, a->key.dst, 16);
		} else {
			/* conntrack statistics name no address: an IPv4 record of zeros */
			rec.tid = IPFIX_TID_NAT44_PORTS;
			r->post_src_ip4 = ip4(a->key.post_src);
			r->dst_ip4 = ip4(a->key.dst);
		}
		r->dst_port = a->key.dst_port;
		r->vrf = a->key.zone;
		r->proto = a->key.proto;
		r->nat_event = NATLOG_EV_PORTS_EXHAUSTED;
		r->zone = a->key.zone;
		r->count = a->count;
	}
	nl->stats.failure_records++;
	nl->emit(nl->ctx, &rec);
}

/* Emit (and drop) the aggregates of seconds before before_s (UINT64_MAX: all). */
static void aggs_emit(struct natlog *nl, uint64_t before_s)
{
	GHashTableIter it;
	gpointer value;
	GPtrArray *due = g_ptr_array_new();

	g_hash_table_iter_init(&it, nl->aggs);
	while (g_hash_table_iter_next(&it, NULL, &value)) {
		struct agg *a = value;

		if (a->key.second < before_s)
			g_ptr_array_add(due, a);
	}
	/* in time order, so a collector sees the seconds as they were */
	for (guint i = 0; i < due->len; i++) {
		guint first = i;
		gpointer t;

		for (guint j = i + 1; j < due->len; j++)
			if (((struct agg *)due->pdata[j])->first_ms <
			    ((struct agg *)due->pdata[first])->first_ms)
				first = j;
		t = due->pdata[i];
		due->pdata[i] = due->pdata[first];
		due->pdata[first] = t;
		agg_emit(nl, due->pdata[i]);
		g_hash_table_remove(nl->aggs, &((struct agg *)due->pdata[i])->key);
	}
	g_ptr_array_free(due, TRUE);
}

static void failure(struct natlog *nl, const struct nat_event *ev, const struct xf_clock *clk)
{
	struct agg_key key;
	struct agg *a;
	uint64_t ms = clock_mono_to_wall_ms(clk, ev->time_mono_ns);
	uint64_t count = ev->count ? ev->count : 1;

	memset(&key, 0, sizeof(key));
	key.second = ms / 1000;
	key.kind = ev->kind;
	key.zone = ev->zone_id;
	if (ev->kind == XF_XLAT_KIND_PORTS_EXHAUSTED) {
		/* the failed connection's reply tuple: post-NAT source is its destination */
		key.family = ev->reply.family ? ev->reply.family : ev->orig.family;
		key.proto = ev->orig.proto;
		memcpy(key.post_src, ev->reply.dst_addr, 16);
		memcpy(key.dst, ev->reply.src_addr, 16);
		key.dst_port = ev->reply.src_port;
		nl->stats.ports_exhausted += count;
	} else {
		nl->stats.table_full += count;
	}
	a = g_hash_table_lookup(nl->aggs, &key);
	if (!a) {
		if (g_hash_table_size(nl->aggs) >= NATLOG_MAX_AGGREGATES)
			aggs_emit(nl, UINT64_MAX);
		a = g_new0(struct agg, 1);
		a->key = key;
		a->first_ms = ms;
		g_hash_table_insert(nl->aggs, &a->key, a);
	}
	a->count += count;
	/* the limit the failure hit, not what it is when the second is over */
	a->max_sessions = nl->max_sessions;
}

void natlog_event(struct natlog *nl, const struct nat_event *ev, const struct xf_clock *clk)
{
	struct ipfix_natev_rec rec;

	switch (ev->kind) {
	case XF_XLAT_KIND_CREATE:
	case XF_XLAT_KIND_DELETE:
		if (natlog_session_record(&rec, ev, clk) < 0) {
			nl->stats.unsupported++;
			return;
		}
		if (ev->kind == XF_XLAT_KIND_CREATE) {
			nl->stats.creates++;
			if (ev->flags & NAT_EVENT_F_RECOVERED)
				nl->stats.recovered++;
		} else {
			nl->stats.deletes++;
		}
		nl->emit(nl->ctx, &rec);
		return;
	case XF_XLAT_KIND_PORTS_EXHAUSTED:
	case XF_XLAT_KIND_TABLE_FULL: failure(nl, ev, clk); return;
	default: nl->stats.unsupported++; return;
	}
}

void natlog_table_fill(struct natlog *nl, uint64_t entries, uint64_t max, uint64_t now_mono_ns,
		       const struct xf_clock *clk)
{
	struct ipfix_natev_rec rec;
	uint64_t threshold;

	if (max)
		nl->max_sessions = max;
	if (!nl->threshold_pct || !max)
		return;
	threshold = (max * nl->threshold_pct + 99) / 100;
	if (nl->above) {
		/* re-armed below 90% of the threshold, so a fill hovering at it sends one event */
		if (entries * 10 < threshold * 9)
			nl->above = false;
		return;
	}
	if (entries < threshold)
		return;
	nl->above = true;
	memset(&rec, 0, sizeof(rec));
	rec.tid = IPFIX_TID_NAT_QUOTA;
	rec.u.quota.time_ms = clock_mono_to_wall_ms(clk, now_mono_ns);
	rec.u.quota.nat_event = NATLOG_EV_THRESHOLD;
	rec.u.quota.threshold_event = NATLOG_THRESHOLD_MAPPING_HIGH;
	rec.u.quota.max_sessions = sat32(max);
	rec.u.quota.high_threshold = sat32(threshold);
	rec.u.quota.count = 1;
	nl->stats.thresholds++;
	log_info("NAT events: conntrack table at %llu of %llu entries (threshold %u%%)",
		 (unsigned long long)entries, (unsigned long long)max, nl->threshold_pct);
	nl->emit(nl->ctx, &rec);
}

void natlog_tick(struct natlog *nl, uint64_t now_mono_ns, const struct xf_clock *clk)
{
	if (g_hash_table_size(nl->aggs))
		aggs_emit(nl, clock_mono_to_wall_ms(clk, now_mono_ns) / 1000);
}

void natlog_flush(struct natlog *nl)
{
	aggs_emit(nl, UINT64_MAX);
}

void natlog_get_stats(const struct natlog *nl, struct natlog_stats *out)
{
	*out = nl->stats;
}
