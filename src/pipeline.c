/* SPDX-License-Identifier: GPL-2.0-only */
#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "capture.h"
#include "clock.h"
#include "config.h"
#include "drain.h"
#include "export.h"
#include "flowcache.h"
#include "ifwatch.h"
#include "log.h"
#include "metrics.h"
#include "natlog.h"
#include "order.h"
#include "pipeline.h"
#include "tc_hook.h"
#include "xlat.h"
#include "xlat_source.h"

/* interfaceDescription of the rows of the interface table options records */
#define IFACE_DESCRIPTION "monitored by xlatflowd (tc clsact ingress+egress)"

/* TCP connections send their last ACKs right after FIN/RST. */
#define FIN_GRACE_NS (2ULL * 1000000000ULL)

/*
 * Our TC filters can be removed by someone else (tc qdisc del, a CNI
 * plugin). rtnetlink tc events tell at once; this sweep of every attached
 * interface catches what no event told (events lost, a change we do not
 * recognise). Two filter queries an interface: about 6 ms of CPU for 500
 * (bench/README.md).
 */
#define HOOK_SWEEP_MS (30ULL * 1000)
/*
 * Filters removed again within this time of being put back: someone
 * removes them on purpose. Each such re-attachment waits twice as long
 * as the one before, from 1 s up to REATTACH_BACKOFF_MAX_MS; failures
 * to re-attach back off the same way.
 */
#define REATTACH_FIGHT_MS (60ULL * 1000)
#define REATTACH_BACKOFF_MIN_MS 1000U
#define REATTACH_BACKOFF_MAX_MS (300U * 1000)

struct pipeline {
	struct xf_config cfg;
	struct capture *capture;
	struct tc_hook *tc;	 /* attaches the capture's programs */
	struct drain *drain;	 /* reads what they counted */
	struct order_ctl *order; /* NULL unless datapath_order "auto" */
	struct xlat_source *nat; /* NULL: nat_hook "off" */
	struct xlat_table *xlat;
	struct natlog *natlog; /* NULL: no collector takes NAT events */
	struct flowcache *cache;
	struct exporter *exp;
	struct ifwatch *links;
	struct xf_clock clock;
	GHashTable *attached;	/* ifindex -> struct monitored (owned) */
	uint64_t drained_ns;	/* CLOCK_MONOTONIC when the last drain began */
	uint64_t start_wall_ms; /* systemInitTimeMilliseconds, kept across reloads */
	uint64_t sweep_ms;	/* next check of every attached interface's filters */
	uint64_t reattached;	/* filters put back after someone removed them */
	uint64_t stats_ms;	/* next periodic statistics line (monotonic ms); 0: off */
	/* for the metrics endpoint */
	uint64_t drains, drain_ns_sum, drain_ns_last;
	uint32_t slots_used;	  /* flows the last drain_flows() read */
	uint64_t merge_cpu_ns;	  /* datapath_order auto: CPU time draining and merging */
	struct monitored *last_m; /* on_drained()'s last interface (most flows share one) */
	int last_ifindex;
};

/* An interface the programs are attached to. */
struct monitored {
	char *name;
	bool seen;	      /* present in the rescan under way */
	bool check;	      /* our filters may be gone: look (tc event, sweep, rescan) */
	bool failing;	      /* the last re-attachment failed (logged once) */
	uint32_t backoff_ms;  /* how long the next re-attachment waits */
	uint64_t retry_ms;    /* no re-attachment before this (monotonic ms) */
	uint64_t reattach_ms; /* the last re-attachment */
	uint64_t packets[2];  /* drained into flows, by XF_DIR_* (metrics) */
	uint64_t octets[2];
};

static void monitored_free(gpointer data)
{
	struct monitored *m = data;

	g_free(m->name);
	g_free(m);
}

static struct monitored *monitored_get(const struct pipeline *p, int ifindex)
{
	return g_hash_table_lookup(p->attached, GINT_TO_POINTER(ifindex));
}

/* --- flow path ------------------------------------------------------------ */

/* The flow cache decided a record is due: join its translation, export it. */
static void on_flow_export(void *ctx, const struct xf_flow_key *key, const struct xf_flow_stats *st,
			   enum flow_end_reason reason)
{
	struct pipeline *p = ctx;
	struct flow_record rec;

	flow_record_fill(&rec, key, st, reason, &p->clock);
	rec.has_xlat = p->xlat && xlat_table_lookup(p->xlat, key, &rec.xlat);
	exporter_add(p->exp, &rec);
}

/* The cache names the record it exports next: its translation lookup's slot, fetched ahead. */
static void on_export_ahead(void *ctx, const struct xf_flow_key *key)
{
	struct pipeline *p = ctx;

	xlat_table_prefetch(p->xlat, key);
}

static void on_drained(void *ctx, const struct xf_flow_key *key, const struct xf_flow_stats *st)
{
	struct pipeline *p = ctx;
	struct monitored *m;

	flowcache_update(p->cache, key, st);
	/* the per-interface totals of the metrics endpoint */
	if (!p->last_m || p->last_ifindex != (int)key->ifindex) {
		p->last_m = monitored_get(p, (int)key->ifindex);
		p->last_ifindex = (int)key->ifindex;
	}
	m = p->last_m;
	if (m && key->direction <= XF_DIR_EGRESS) {
		m->packets[key->direction] += st->packets;
		m->octets[key->direction] += st->octets;
	}
}

/*
 * The ring buffer's events and the flow slots into the cache. With
 * datapath_order auto, the CPU time they take is what the order changes in
 * the daemon (the export costs the same in either order): the controller
 * reads it (order_tick).
 */
static void merge_events(struct pipeline *p)
{
	uint64_t t0 = p->order ? clock_thread_cpu_ns() : 0;

	drain_events(p->drain, on_drained, p);
	if (p->order)
		p->merge_cpu_ns += clock_thread_cpu_ns() - t0;
}

static int merge_flows(struct pipeline *p)
{
	uint64_t t0 = p->order ? clock_thread_cpu_ns() : 0;
	int rc = drain_flows(p->drain, on_drained, p);

	if (p->order)
		p->merge_cpu_ns += clock_thread_cpu_ns() - t0;
	return rc;
}

/* drain_flows() names the flow it will hand over a few slots ahead. */
static void on_drain_prefetch(void *ctx, const struct xf_flow_key *key)
{
	struct pipeline *p = ctx;

	flowcache_prefetch(p->cache, key);
}

/* --- NAT path ------------------------------------------------------------- */

static void on_xlat(void *ctx, const struct xf_xlat_event *ev)
{
	struct pipeline *p = ctx;

	xlat_table_update(p->xlat, ev, clock_mono_ms());
}

/* conntrack deleted the connection; its last flows still find it. */
static void on_xlat_destroy(void *ctx, const struct xf_xlat_event *ev)
{
	struct pipeline *p = ctx;

	xlat_table_remove(p->xlat, &ev->orig);
}

/* --- NAT event log --------------------------------------------------------- */

static void on_nat_event(void *ctx, const struct nat_event *ev)
{
	struct pipeline *p = ctx;

	natlog_event(p->natlog, ev, &p->clock);
}

static void on_natlog_record(void *ctx, const struct ipfix_natev_rec *rec)
{
	struct pipeline *p = ctx;

	exporter_add_nat_event(p->exp, rec);
}

/* A number from /proc/sys, 0 when it cannot be read. */
static uint64_t read_sysctl(const char *path)
{
	unsigned long long v = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return 0;
	if (fscanf(f, "%llu", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

/*
 * Once a cycle: the failure aggregates of past seconds, the table's fill
 * for the threshold and the table-full records (the conntrack source's
 * statistics poll, else /proc), the source's losses for the options records.
 */
static void natlog_cycle(struct pipeline *p)
{
	uint64_t nc[XF_CNT_MAX] = { 0 }, entries, max, lost = 0;
	struct xlat_conntrack_stats cs;
	struct natlog_stats ns;

	if (!p->natlog)
		return;
	if (xlat_source_conntrack_stats(p->nat, &cs) == 0) {
		entries = cs.table_entries;
		max = cs.table_max;
		lost = cs.lost_deletes + cs.lost_sessions;
	} else {
		entries = read_sysctl("/proc/sys/net/netfilter/nf_conntrack_count");
		max = read_sysctl("/proc/sys/net/netfilter/nf_conntrack_max");
		xlat_source_read_counters(p->nat, nc);
		for (int k = XF_XLAT_KIND_CREATE; k <= XF_XLAT_KIND_TABLE_FULL; k++)
			lost += nc[XF_CNT_NATEV_LOST(k)];
	}
	natlog_table_fill(p->natlog, entries, max, clock_mono_ns(), &p->clock);
	natlog_tick(p->natlog, clock_mono_ns(), &p->clock);
	natlog_get_stats(p->natlog, &ns);
	exporter_set_natlog_source(p->exp, lost, ns.recovered);
}

/* --- interfaces ----------------------------------------------------------- */

static void on_link(void *ctx, int ifindex, const char *name, bool present)
{
	struct pipeline *p = ctx;
	struct monitored *m = monitored_get(p, ifindex);
	bool wanted = present && config_interface_wanted(&p->cfg, name);
	int rc;

	if (m && !wanted) {
		/* gone, renamed out of the patterns, or dropped by a reload; a
		 * vanished interface detaches trivially and frees its record */
		if ((rc = tc_hook_detach(p->tc, ifindex)) < 0 && rc != -ENOENT)
			log_warnx("%s: detach: %s", m->name, strerror(-rc));
		log_info("interface %s (index %d) %s", m->name, ifindex,
			 present ? "no longer monitored" : "removed");
		p->last_m = NULL; /* on_drained()'s cache may point at it */
		g_hash_table_remove(p->attached, GINT_TO_POINTER(ifindex));
		exporter_set_interface(p->exp, (uint32_t)ifindex, NULL, NULL);
	} else if (!m && wanted) {
		rc = tc_hook_attach(p->tc, ifindex);
		if (rc < 0) {
			log_warnx("%s: cannot attach TC programs: %s", name, strerror(-rc));
			return;
		}
		log_info("interface %s (index %d) monitored", name, ifindex);
		m = g_new0(struct monitored, 1);
		m->name = g_strdup(name);
		m->seen = true;
		g_hash_table_insert(p->attached, GINT_TO_POINTER(ifindex), m);
		exporter_set_interface(p->exp, (uint32_t)ifindex, name, IFACE_DESCRIPTION);
	} else if (m) {
		m->seen = true;
		if (strcmp(m->name, name) != 0) {
			log_info("interface %s (index %d) renamed %s", m->name, ifindex, name);
			g_free(m->name);
			m->name = g_strdup(name);
			exporter_set_interface(p->exp, (uint32_t)ifindex, name, IFACE_DESCRIPTION);
		}
	}
}

/* A tc change on an attached interface that may have taken our filters: look at once. */
static void on_tc(void *ctx, int type, int ifindex, uint32_t parent, uint32_t priority)
{
	struct pipeline *p = ctx;
	struct monitored *m = monitored_get(p, ifindex);

	if (m && tc_hook_event_affects(p->tc, type, ifindex, parent, priority))
		m->check = true;
}

static uint32_t next_backoff(uint32_t backoff_ms)
{
	if (backoff_ms < REATTACH_BACKOFF_MIN_MS)
		return REATTACH_BACKOFF_MIN_MS;
	return backoff_ms >= REATTACH_BACKOFF_MAX_MS / 2 ? REATTACH_BACKOFF_MAX_MS : backoff_ms * 2;
}

/*
 * Put back the filters someone removed from one interface: logged once and
 * counted per re-attachment; backs off when they keep being removed or
 * cannot be put back.
 */
static void repair_hook(struct pipeline *p, int ifindex, struct monitored *m, uint64_t now)
{
	const int both = 1 << XF_DIR_INGRESS | 1 << XF_DIR_EGRESS;
	int rc = tc_hook_repair(p->tc, ifindex);
	char wait[128] = "";

	if (rc == 0 || rc == -ENODEV) {
		/* intact, or the interface is going away: its RTM_DELLINK follows */
		m->check = false;
		return;
	}
	if (rc < 0) {
		m->backoff_ms = next_backoff(m->backoff_ms);
		m->retry_ms = now + m->backoff_ms;
		if (!m->failing)
			log_warnx("interface %s (index %d): our TC filters were removed and cannot "
				  "be attached again: %s; retrying with back-off (up to %u s)",
				  m->name, ifindex, strerror(-rc), REATTACH_BACKOFF_MAX_MS / 1000);
		else
			log_debug("interface %s (index %d): re-attaching: %s; next try in %u s",
				  m->name, ifindex, strerror(-rc), m->backoff_ms / 1000);
		m->failing = true;
		return;
	}
	p->reattached++;
	m->check = false;
	m->failing = false;
	if (m->reattach_ms && now - m->reattach_ms < REATTACH_FIGHT_MS)
		m->backoff_ms = next_backoff(m->backoff_ms);
	else
		m->backoff_ms = 0;
	m->reattach_ms = now;
	m->retry_ms = now + m->backoff_ms;
	if (m->backoff_ms)
		g_snprintf(wait, sizeof(wait),
			   "; removed again within %llu s of the last one, so the next "
			   "re-attachment waits %u s",
			   REATTACH_FIGHT_MS / 1000, m->backoff_ms / 1000);
	log_warnx("interface %s (index %d): our TC %s had been removed by someone else; "
		  "attached again (re-attachment %" PRIu64 ")%s",
		  m->name, ifindex,
		  rc == both		     ? "ingress and egress filters"
		  : rc & 1 << XF_DIR_INGRESS ? "ingress filter"
					     : "egress filter",
		  p->reattached, wait);
}

/* Look at the filters of every interface marked for it whose back-off is over. */
static void check_hooks(struct pipeline *p, uint64_t now)
{
	GHashTableIter it;
	gpointer k, v;

	g_hash_table_iter_init(&it, p->attached);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		struct monitored *m = v;

		if (m->check && now >= m->retry_ms)
			repair_hook(p, GPOINTER_TO_INT(k), m, now);
	}
}

/*
 * The one rescan, at start, after a reload and after lost rtnetlink
 * events: reconcile the attached set with the kernel's interfaces both
 * ways. Vanished interfaces are forgotten (their state and interface table
 * row dropped), unwanted ones detached, wanted new ones attached, renamed
 * ones updated, and the filters of the ones that stay checked (tc events
 * may have been lost with the rest).
 */
static int rescan(struct pipeline *p)
{
	GHashTableIter it;
	gpointer k, v;
	GSList *gone = NULL;
	int rc;

	g_hash_table_iter_init(&it, p->attached);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		struct monitored *m = v;

		m->seen = false;
		m->check = true;
	}
	rc = ifwatch_scan(p->links); /* on_link for each: attach, detach, rename, seen */
	if (rc < 0) {
		/* without the list nothing can be called vanished */
		log_warnx("listing the interfaces: %s", strerror(-rc));
		return rc;
	}
	g_hash_table_iter_init(&it, p->attached);
	while (g_hash_table_iter_next(&it, &k, &v))
		if (!((struct monitored *)v)->seen)
			gone = g_slist_prepend(gone, k);
	for (GSList *l = gone; l; l = l->next) {
		int ifindex = GPOINTER_TO_INT(l->data);
		struct monitored *m = monitored_get(p, ifindex);
		char name[IF_NAMESIZE];

		/* Not in the list: gone, unless asking for that one index says otherwise. */
		if (if_indextoname((unsigned int)ifindex, name)) {
			log_warnx("interface %s (index %d) missing from the interface list", name,
				  ifindex);
			on_link(p, ifindex, name, true);
		} else {
			on_link(p, ifindex, m->name, false);
		}
	}
	g_slist_free(gone);
	check_hooks(p, clock_mono_ms());
	return 0;
}

/* --- lifecycle ------------------------------------------------------------ */

/* The metering statistics options records' counters from the kernel's and the NAT source's. */
static void metering_from(const struct pipeline *p, const uint64_t kc[XF_CNT_MAX],
			  const uint64_t nc[XF_CNT_MAX], struct ipfix_metering *m)
{
	struct flowcache_stats fs;

	flowcache_get_stats(p->cache, &fs);
	if (p->xlat) {
		struct xlat_table_stats xs;

		xlat_table_get_stats(p->xlat, &xs);
		m->evicted_translations = xs.evicted;
	}
	m->observed_packets = kc[XF_CNT_PACKETS];
	m->non_ip_packets = kc[XF_CNT_NON_IP];
	m->malformed_packets = kc[XF_CNT_MALFORMED];
	m->sampled_out_packets = kc[XF_CNT_SAMPLED_OUT];
	m->map_full_packets = kc[XF_CNT_MAP_FULL];
	m->lost_packets = kc[XF_CNT_RB_LOST_PACKETS];
	m->lost_octets = kc[XF_CNT_RB_LOST_OCTETS];
	m->lost_translations = nc[XF_CNT_XLAT_RB_LOST];
	m->unsupported_translations = nc[XF_CNT_XLAT_UNSUPPORTED];
	m->cache_evicted_flows = fs.evicted;
	m->filter_reattachments = p->reattached;
}

/* Kernel and cache counters for the metering statistics options records. */
static void report_metering(struct pipeline *p)
{
	uint64_t kc[XF_CNT_MAX] = { 0 }, nc[XF_CNT_MAX] = { 0 };
	struct ipfix_metering m = { 0 };

	if (capture_read_counters(p->capture, kc) < 0)
		return;
	if (p->nat)
		xlat_source_read_counters(p->nat, nc);
	metering_from(p, kc, nc, &m);
	exporter_set_metering(p->exp, &m);
}

/*
 * The counters of the metrics endpoint's snapshot (pipeline_metrics), so
 * that the log and the endpoint never disagree.
 */
void pipeline_log_stats(struct pipeline *p, const char *why)
{
	struct metrics_snapshot s = { 0 };
	const struct ipfix_metering *m = &s.metering;

	pipeline_metrics(p, &s);
	log_info("stats (%s): kernel: %" PRIu64 " packets observed, %" PRIu64 " lost (%" PRIu64
		 " octets; flow slots and ring buffer full), %" PRIu64
		 " past full flow slots (through the ring buffer), %" PRIu64
		 " sampled out, %" PRIu64 " not IP or malformed; %" PRIu64
		 " translations lost, %" PRIu64 " evicted; %" PRIu64
		 " flows evicted from a full cache; %" PRIu64 " TC filter re-attachments",
		 why, m->observed_packets, m->lost_packets, m->lost_octets, m->map_full_packets,
		 m->sampled_out_packets, m->non_ip_packets + m->malformed_packets,
		 m->lost_translations, m->evicted_translations, m->cache_evicted_flows,
		 m->filter_reattachments);
	if (p->order)
		log_info("stats (%s): datapath order: %s now, %" PRIu64 " changes, %" PRIu64
			 " measurements; a packet cost %" PRIu64 " ns slots first, %" PRIu64
			 " ns ring first when last measured (0: not yet); %" PRIu64
			 " packets to the flow slots past a full ring buffer",
			 why, s.order.ring ? "ring first" : "slots first", s.order.switches,
			 s.order.probes, s.order.cost_ns[0], s.order.cost_ns[1],
			 s.kernel[XF_CNT_RING_FULL_SLOTS]);
	else if (s.order.ring)
		log_info("stats (%s): datapath order: ring first (fixed); %" PRIu64
			 " packets to the flow slots past a full ring buffer",
			 why, s.kernel[XF_CNT_RING_FULL_SLOTS]);
	for (int i = 0; i < s.n_collectors; i++) {
		const struct metrics_collector *c = &s.collectors[i];

		log_info("stats (%s): collector %s: %" PRIu64 " flow records exported in %" PRIu64
			 " messages, %" PRIu64 " not sent (%" PRIu64 " packets, %" PRIu64
			 " octets dropped with them), %" PRIu64 " queued",
			 why, c->url, c->records, c->messages, c->not_sent_records,
			 c->not_sent_packets, c->not_sent_octets,
			 c->queued_records + c->backlog_records);
	}
	metrics_snapshot_clear(&s);
}

/* The next periodic statistics line: stats_interval from now, or never. */
static uint64_t next_stats_ms(const struct xf_config *cfg, uint64_t now)
{
	return cfg->stats_interval ? now + (uint64_t)cfg->stats_interval * 1000 : 0;
}

static gint ifindex_cmp(gconstpointer a, gconstpointer b)
{
	return GPOINTER_TO_INT(a) - GPOINTER_TO_INT(b);
}

/* The per-interface rows of the metrics snapshot, in ifindex order. */
static void metrics_interfaces(const struct pipeline *p, struct metrics_snapshot *s)
{
	GList *keys = g_list_sort(g_hash_table_get_keys(p->attached), ifindex_cmp);
	int n = 0;

	s->interfaces = g_new0(struct metrics_interface, g_hash_table_size(p->attached) + 1);
	for (GList *l = keys; l; l = l->next) {
		int ifindex = GPOINTER_TO_INT(l->data);
		const struct monitored *m = monitored_get(p, ifindex);
		struct metrics_interface *row = &s->interfaces[n++];

		g_strlcpy(row->name, m->name, sizeof(row->name));
		row->ifindex = (uint32_t)ifindex;
		row->attached = !m->failing;
		memcpy(row->packets, m->packets, sizeof(row->packets));
		memcpy(row->octets, m->octets, sizeof(row->octets));
	}
	s->n_interfaces = n;
	g_list_free(keys);
}

void pipeline_metrics(struct pipeline *p, struct metrics_snapshot *s)
{
	struct flowcache_stats fs;
	struct ipfix_metering m = { 0 };

	s->start_time_ms = p->start_wall_ms;
	s->sampling = p->cfg.sampling ? p->cfg.sampling : 1;
	capture_read_counters(p->capture, s->kernel);
	if (p->nat)
		xlat_source_read_counters(p->nat, s->nat);
	metering_from(p, s->kernel, s->nat, &m);
	s->metering = m;
	flowcache_get_stats(p->cache, &fs);
	s->cache_flows = flowcache_count(p->cache);
	s->cache_max_flows = p->cfg.max_flows;
	s->cache_created = fs.created;
	memcpy(s->cache_exported, fs.exported, sizeof(s->cache_exported));
	s->kernel_slots = p->cfg.kernel_max_flows;
	s->kernel_slots_used = p->slots_used;
	s->drains = p->drains;
	s->drain_ns_sum = p->drain_ns_sum;
	s->drain_ns_last = p->drain_ns_last;
	if (p->order)
		order_ctl_stats(p->order, &s->order);
	else
		s->order.ring = capture_ring_order(p->capture);
	s->nat_source = config_nat_hook_name(p->nat ? xlat_source_mode(p->nat) : XF_NAT_OFF);
	if (p->nat) {
		struct xlat_conntrack_stats cs;

		if (xlat_source_conntrack_stats(p->nat, &cs) == 0) {
			s->has_conntrack = true;
			s->ct_enobufs = cs.enobufs;
			s->ct_overruns = cs.overruns;
			s->ct_lost_events = cs.lost_events;
			s->ct_errors = cs.errors;
		}
	}
	if (p->xlat) {
		struct xlat_table_stats xs;

		xlat_table_get_stats(p->xlat, &xs);
		s->has_xlat = true;
		s->xlat_translations = xs.translations;
		s->xlat_max = p->cfg.max_translations;
		s->xlat_bytes = xs.bytes;
	}
	exporter_get_collectors(p->exp, s->collectors, &s->n_collectors);
	metrics_interfaces(p, s);
}

/* The exporter learns the start time and the interfaces (a reload keeps both). */
static void prime_exporter(struct pipeline *p, struct exporter *exp)
{
	GHashTableIter it;
	gpointer k, v;

	exporter_set_system_init_time(exp, p->start_wall_ms);
	g_hash_table_iter_init(&it, p->attached);
	while (g_hash_table_iter_next(&it, &k, &v))
		exporter_set_interface(exp, (uint32_t)GPOINTER_TO_INT(k),
				       ((const struct monitored *)v)->name, IFACE_DESCRIPTION);
}


static void cache_timeouts(const struct xf_config *cfg, struct flowcache_timeouts *t)
{
	t->active_ns = (uint64_t)cfg->active_timeout * 1000000000ULL;
	t->idle_ns = (uint64_t)cfg->idle_timeout * 1000000000ULL;
	t->fin_grace_ns = FIN_GRACE_NS < t->idle_ns ? FIN_GRACE_NS : t->idle_ns;
}

/*
 * How long a translation is kept after its last sighting: long enough that
 * a flow exported at its idle timeout still finds it.
 */
static uint64_t xlat_keep_ms(const struct xf_config *cfg)
{
	uint64_t keep = (uint64_t)cfg->xlat_timeout * 1000;
	uint64_t need = ((uint64_t)cfg->idle_timeout + 10) * 1000 + 2ULL * cfg->drain_interval_ms;

	return keep > need ? keep : need;
}

/*
 * A flow is exported at most idle_timeout (+ one drain) after its last
 * packet, and where a collector is paced, at most the time that collector
 * takes for a full cache later (max_flows / rate: 5 s at the defaults).
 */
static uint64_t xlat_grace_ms(const struct xf_config *cfg)
{
	uint64_t grace = ((uint64_t)cfg->idle_timeout + 2) * 1000 + 2ULL * cfg->drain_interval_ms;
	uint64_t held = 0;

	for (int i = 0; i < cfg->n_collectors; i++) {
		const struct xf_collector_config *cc = &cfg->collectors[i];
		uint64_t ms;

		if (cc->transport != XF_TRANSPORT_UDP || !cc->rate)
			continue;
		ms = (uint64_t)cfg->max_flows * 1000 / cc->rate;
		if (ms > held)
			held = ms;
	}
	return grace + held;
}

/* The exporter's room as flowcache_expire()'s budget. */
static uint32_t export_budget(const struct pipeline *p)
{
	uint64_t room = exporter_room(p->exp);

	return room > UINT32_MAX ? UINT32_MAX : (uint32_t)room;
}

/*
 * The pipeline keeps its own copy of the configuration; the interface
 * pattern strings are owned by the caller's struct, so they are duplicated.
 */
static void cfg_adopt(struct pipeline *p, const struct xf_config *cfg)
{
	p->cfg = *cfg;
	for (int i = 0; i < cfg->n_include; i++)
		p->cfg.include[i] = g_strdup(cfg->include[i]);
	for (int i = 0; i < cfg->n_exclude; i++)
		p->cfg.exclude[i] = g_strdup(cfg->exclude[i]);
}

static void cfg_release_patterns(struct pipeline *p)
{
	for (int i = 0; i < p->cfg.n_include; i++)
		g_free(p->cfg.include[i]);
	for (int i = 0; i < p->cfg.n_exclude; i++)
		g_free(p->cfg.exclude[i]);
	p->cfg.n_include = p->cfg.n_exclude = 0;
}

/* A tc hook for the capture's two programs. */
static struct tc_hook *new_tc_hook(const struct capture *c)
{
	struct tc_hook_prog prog[2];

	for (int dir = 0; dir < 2; dir++)
		prog[dir] = (struct tc_hook_prog){ .fd = capture_prog_fd(c, dir),
						   .id = capture_prog_id(c, dir),
						   .name = capture_prog_name(c, dir) };
	return tc_hook_new(prog);
}

struct pipeline *pipeline_new(const struct xf_config *cfg, char *err, size_t err_len)
{
	struct pipeline *p = g_new0(struct pipeline, 1);
	struct capture_opts copts = {
		.kernel_max_flows = cfg->kernel_max_flows,
		.ringbuf_size = cfg->ringbuf_size,
		.sampling = cfg->sampling,
		.flags = cfg->datapath_order == XF_DATAPATH_RING   ? CAPTURE_F_RING_FIRST
			 : cfg->datapath_order == XF_DATAPATH_AUTO ? CAPTURE_F_ORDER_AUTO
								   : 0,
	};
	struct flowcache_timeouts t;

	cfg_adopt(p, cfg);
	p->attached = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, monitored_free);
	p->sweep_ms = clock_mono_ms() + HOOK_SWEEP_MS;
	p->stats_ms = next_stats_ms(cfg, clock_mono_ms());
	clock_sync(&p->clock);
	p->start_wall_ms = clock_mono_to_wall_ms(&p->clock, clock_mono_ns());

	p->capture = capture_open(&copts, err, err_len);
	if (!p->capture)
		goto fail;
	p->tc = new_tc_hook(p->capture);
	p->drain = drain_new(p->capture);
	if (cfg->datapath_order == XF_DATAPATH_AUTO)
		p->order = order_ctl_new(cfg->datapath_probe_interval, clock_mono_ms());
	p->exp = exporter_new(cfg, err, err_len);
	if (!p->exp)
		goto fail;
	prime_exporter(p, p->exp);
	cache_timeouts(cfg, &t);
	p->cache = flowcache_new(cfg->max_flows, &t, on_flow_export, p);
	drain_set_prefetch(p->drain, on_drain_prefetch);
	/* No translation reaches on_xlat before the first poll: the table can come second. */
	if (xlat_source_open(&p->nat, cfg->nat_hook, on_xlat, p, err, err_len) < 0)
		goto fail;
	if (p->nat) {
		p->xlat = xlat_table_new(xlat_keep_ms(cfg), cfg->max_translations);
		xlat_table_set_remove_grace(p->xlat, xlat_grace_ms(cfg));
		xlat_source_set_destroy_cb(p->nat, on_xlat_destroy, p);
		flowcache_set_export_ahead(p->cache, on_export_ahead);
	}
	if (exporter_wants_nat_events(p->exp)) {
		if (p->nat) {
			p->natlog = natlog_new(on_natlog_record, p);
			natlog_set_threshold(p->natlog, cfg->nat_table_threshold);
			xlat_source_set_nat_event_cb(p->nat, on_nat_event, p);
		} else {
			log_warnx("a collector has nat_events = true but nat_hook is \"off\": "
				  "no NAT events");
		}
	}
	p->links = ifwatch_open(on_link, on_tc, p, err, err_len);
	if (!p->links)
		goto fail;
	return p;
fail:
	pipeline_free(p);
	return NULL;
}

void pipeline_free(struct pipeline *p)
{
	if (!p)
		return;
	ifwatch_free(p->links);
	xlat_source_free(p->nat);
	natlog_free(p->natlog);
	tc_hook_free(p->tc); /* detaches; before capture_free: it borrows the program fds */
	drain_free(p->drain);
	order_ctl_free(p->order);
	capture_free(p->capture);
	flowcache_free(p->cache);
	xlat_table_free(p->xlat);
	exporter_free(p->exp);
	if (p->attached)
		g_hash_table_destroy(p->attached);
	cfg_release_patterns(p);
	g_free(p);
}

int pipeline_scan_interfaces(struct pipeline *p)
{
	return rescan(p);
}

int pipeline_fd(const struct pipeline *p, enum pipeline_fd which)
{
	switch (which) {
	case PIPE_FD_FLOW_EVENTS: return drain_events_fd(p->drain);
	case PIPE_FD_NAT: return p->nat ? xlat_source_fd(p->nat) : -1;
	case PIPE_FD_LINKS: return ifwatch_fd(p->links);
	default: return -1;
	}
}

void pipeline_handle_fd(struct pipeline *p, enum pipeline_fd which)
{
	int rc;

	switch (which) {
	case PIPE_FD_FLOW_EVENTS: merge_events(p); break;
	case PIPE_FD_NAT: xlat_source_poll(p->nat); break;
	case PIPE_FD_LINKS:
		rc = ifwatch_dispatch(p->links);
		if (rc < 0) {
			/* ENOBUFS (overflow), ENOSPC (a message too large) or worse */
			log_warnx("rtnetlink: interface and tc events lost (%s), rescanning "
				  "interfaces",
				  strerror(-rc));
			rescan(p);
		} else {
			check_hooks(p, clock_mono_ms());
		}
		break;
	default: break;
	}
}

/* Each cycle: re-attachments whose back-off ended, and now and then a sweep of all. */
static void hooks_tick(struct pipeline *p, uint64_t now)
{
	if (now >= p->sweep_ms) {
		GHashTableIter it;
		gpointer k, v;

		g_hash_table_iter_init(&it, p->attached);
		while (g_hash_table_iter_next(&it, &k, &v))
			((struct monitored *)v)->check = true;
		p->sweep_ms = now + HOOK_SWEEP_MS;
	}
	check_hooks(p, now);
}

/*
 * datapath_order "auto": at the end of each of the controller's windows
 * (right after a drain, so that the daemon's work for the window's packets
 * falls in it), hand it the readings and apply its order.
 */
static void order_tick(struct pipeline *p)
{
	uint64_t kc[XF_CNT_MAX] = { 0 }, now = clock_mono_ms();
	struct order_reading r = { 0 };
	struct xf_order_cost oc;
	struct order_stats st;

	if (!order_ctl_due(p->order, now))
		return;
	if (capture_read_counters(p->capture, kc) < 0 ||
	    capture_read_order_cost(p->capture, &oc) < 0)
		return;
	r.packets = kc[XF_CNT_PACKETS] - kc[XF_CNT_SAMPLED_OUT];
	for (int o = 0; o < 2; o++) {
		r.cost_ns[o] = oc.ns[o];
		r.cost_samples[o] = oc.samples[o];
	}
	r.cpu_ns = p->merge_cpu_ns;
	if (!order_ctl_step(p->order, now, &r))
		return;
	order_ctl_stats(p->order, &st);
	capture_set_ring_order(p->capture, st.ring);
	if (st.probing)
		log_debug("datapath order: measuring %s for a window (%" PRIu64 " packets/s)",
			  st.ring ? "ring first" : "slots first", st.rate);
	else
		log_info("datapath order: %s (%" PRIu64 " packets/s; a packet cost %" PRIu64
			 " ns slots first, %" PRIu64 " ns ring first when last measured)",
			 st.ring ? "ring first" : "slots first", st.rate, st.cost_ns[0],
			 st.cost_ns[1]);
}

void pipeline_cycle(struct pipeline *p)
{
	int rc;

	/* Translations first, so flows expiring now find theirs. */
	if (p->nat)
		xlat_source_poll(p->nat);
	p->drained_ns = clock_mono_ns();
	merge_events(p);
	rc = merge_flows(p);
	if (rc < 0)
		log_warnx("draining the flow slots: %s", strerror(-rc));
	else
		p->slots_used = (uint32_t)rc;
	p->drain_ns_last = clock_mono_ns() - p->drained_ns;
	p->drain_ns_sum += p->drain_ns_last;
	p->drains++;
	if (p->order)
		order_tick(p);
	clock_sync(&p->clock);
	/* no more than paced collectors take: the rest waits here, due (pipeline_pace) */
	flowcache_expire(p->cache, clock_mono_ns(), export_budget(p));
	hooks_tick(p, clock_mono_ms());
	natlog_cycle(p);
	report_metering(p);
	exporter_flush(p->exp);
	exporter_tick(p->exp, clock_mono_ms());
	if (p->xlat)
		xlat_table_expire(p->xlat, clock_mono_ms());
	if (p->stats_ms && clock_mono_ms() >= p->stats_ms) {
		pipeline_log_stats(p, "periodic");
		p->stats_ms = next_stats_ms(&p->cfg, clock_mono_ms());
	}
}

void pipeline_pace(struct pipeline *p)
{
	uint32_t budget;

	exporter_pace(p->exp);
	/*
	 * What left the queues makes room for flows that waited, due, in the
	 * cache. Due as of the last drain: a flow that came due since may have
	 * packets still in the kernel, which the next cycle drains first.
	 */
	budget = export_budget(p);
	if (budget && flowcache_count(p->cache)) {
		/* records convert kernel times with the wall clock of now (clock.h) */
		clock_sync(&p->clock);
		flowcache_expire(p->cache, p->drained_ns, budget);
	}
}

uint64_t pipeline_next_send_ns(const struct pipeline *p)
{
	return exporter_next_send_ns(p->exp);
}

int pipeline_reconfigure(struct pipeline *p, const struct xf_config *cfg, char *err, size_t err_len)
{
	struct flowcache_timeouts t;
	char kept[256];
	int n;

	/* Collectors first: the only step that can fail, and it changes nothing then. */
	if (exporter_reconfigure(p->exp, cfg, err, err_len) < 0)
		return -EINVAL;
	/* config.c's key table says which keys these are */
	n = config_restart_changes(&p->cfg, cfg, kept, sizeof(kept));
	if (n)
		log_warnx("reload: %s take%s effect on restart only; the running value%s stay%s",
			  kept, n == 1 ? "s" : "", n == 1 ? "" : "s", n == 1 ? "s" : "");
	if (p->natlog)
		natlog_set_threshold(p->natlog, cfg->nat_table_threshold);
	else if (p->nat && exporter_wants_nat_events(p->exp))
		log_warnx("reload: NAT events start on restart only (no collector wanted them "
			  "at start)");

	cache_timeouts(cfg, &t);
	flowcache_set_timeouts(p->cache, &t);
	flowcache_set_max_flows(p->cache, cfg->max_flows);
	if (p->xlat) {
		xlat_table_set_timeout(p->xlat, xlat_keep_ms(cfg));
		xlat_table_set_remove_grace(p->xlat, xlat_grace_ms(cfg));
		xlat_table_set_max(p->xlat, cfg->max_translations);
	}
	if (cfg->stats_interval != p->cfg.stats_interval)
		p->stats_ms = next_stats_ms(cfg, clock_mono_ms());

	{
		/* what the loaded programs and maps were sized with stays */
		struct xf_config running = p->cfg;

		cfg_release_patterns(p);
		cfg_adopt(p, cfg);
		config_keep_restart_keys(&p->cfg, &running);
	}
	/* a global of the loaded programs, written through the skeleton: at once */
	capture_set_sampling(p->capture, cfg->sampling);
	rescan(p);
	return 0;
}

void pipeline_shutdown_begin(struct pipeline *p)
{
	int rc;

	/*
	 * Two drains: the first flips to the other map and empties the old one,
	 * the second empties what arrived meanwhile. Programs stay attached until
	 * pipeline_free, so packets after this point are not counted.
	 */
	if (p->nat)
		xlat_source_poll(p->nat);
	for (int i = 0; i < 2; i++) {
		drain_events(p->drain, on_drained, p);
		rc = drain_flows(p->drain, on_drained, p);
		if (rc < 0)
			log_warnx("draining the flow slots: %s", strerror(-rc));
	}
	drain_events(p->drain, on_drained, p);
	clock_sync(&p->clock);
	if (p->natlog) {
		natlog_cycle(p);
		natlog_flush(p->natlog);
	}
	/*
	 * The final totals are those of what was drained: packets the still
	 * attached programs count from now on are in no record.
	 */
	report_metering(p);
	log_info("exporting %u cached flows", flowcache_count(p->cache));
}

bool pipeline_shutdown_step(struct pipeline *p)
{
	exporter_pace(p->exp);
	if (flowcache_count(p->cache)) {
		clock_sync(&p->clock);
		flowcache_flush(p->cache, FLOW_END_FORCED, export_budget(p));
	}
	if (!flowcache_count(p->cache))
		exporter_flush(p->exp);
	/* TCP: writes what waits in its queue, reconnects */
	exporter_tick(p->exp, clock_mono_ms());
	return !flowcache_count(p->cache) && !exporter_waiting(p->exp);
}

void pipeline_shutdown_finish(struct pipeline *p)
{
	uint32_t left = flowcache_count(p->cache);
	uint64_t waiting;

	clock_sync(&p->clock);
	flowcache_flush(p->cache, FLOW_END_FORCED, UINT32_MAX);
	exporter_flush(p->exp);
	waiting = exporter_waiting(p->exp);
	if (left || waiting)
		log_warnx("sending the last %u cached flows and %" PRIu64 " queued records at "
			  "once, unpaced: a collector may lose some (its sequence numbers show it)",
			  left, waiting);
	/* the final totals (pipeline_shutdown_begin), so a collector sees what this run counted */
	exporter_send_options(p->exp);
	exporter_flush_all(p->exp);
	pipeline_log_stats(p, "exit");
}

void pipeline_log_summary(const struct pipeline *p)
{
	GHashTableIter it;
	gpointer k, v;
	GString *ifs = g_string_new(NULL);

	g_hash_table_iter_init(&it, p->attached);
	while (g_hash_table_iter_next(&it, &k, &v))
		g_string_append_printf(ifs, "%s%s", ifs->len ? ", " : "",
				       ((const struct monitored *)v)->name);
	log_info("%s %s: capture %s on %u interface(s) [%s]", PACKAGE_NAME, PACKAGE_VERSION,
		 tc_hook_attach_mode(p->tc), g_hash_table_size(p->attached), ifs->str);
	/* Patterns may name interfaces that come later (pod veths): wait, but say so. */
	if (g_hash_table_size(p->attached) == 0)
		log_warnx("no interface matches the configured patterns yet; waiting for one to "
			  "appear");
	log_info("NAT enrichment: %s",
		 config_nat_hook_name(p->nat ? xlat_source_mode(p->nat) : XF_NAT_OFF));
	for (int i = 0; i < p->cfg.n_collectors; i++)
		log_info("collector %s (%s, mtu %u)", p->cfg.collectors[i].url,
			 p->cfg.collectors[i].protocol == XF_PROTO_NETFLOW9 ? "netflow9" : "ipfix",
			 p->cfg.collectors[i].mtu);
	log_info("timeouts: active %us, idle %us; max_flows %u; sampling 1:%u",
		 p->cfg.active_timeout, p->cfg.idle_timeout, p->cfg.max_flows, p->cfg.sampling);
	g_string_free(ifs, TRUE);
}

uint32_t pipeline_drain_interval_ms(const struct pipeline *p)
{
	return p->cfg.drain_interval_ms;
}
