// SPDX-License-Identifier: GPL-2.0-only
/*
 * Prometheus text format (exposition format 0.0.4): per family one
 * "# HELP" and one "# TYPE" line, then its samples; counters end in
 * _total, units are in the names (seconds, bytes). Label values are
 * escaped (backslash, double quote, newline).
 */
#include <inttypes.h>
#include <stddef.h>

#include "metrics.h"

/* flowEndReason 1..5 (RFC 5102), as label values */
static const char *const end_reasons[6] = { NULL,	   "idle",   "active",
					    "end_of_flow", "forced", "lack_of_resources" };

/* NAT event kinds, in XF_XLAT_KIND_CREATE order */
static const char *const nat_event_kinds[4] = { "create", "delete", "ports_exhausted",
						"table_full" };

static void family(GString *out, const char *name, const char *type, const char *help)
{
	g_string_append_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void label_value(GString *out, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			g_string_append_c(out, '\\');
		if (*v == '\n') {
			g_string_append(out, "\\n");
			continue;
		}
		g_string_append_c(out, *v);
	}
}

/*
 * One sample. labels: NULL, or "name", value, "name", value, ..., NULL;
 * the values are escaped.
 */
static void sample_u64(GString *out, const char *name, uint64_t v, const char *const *labels)
{
	g_string_append(out, name);
	if (labels && labels[0]) {
		g_string_append_c(out, '{');
		for (int i = 0; labels[i]; i += 2) {
			g_string_append_printf(out, "%s%s=\"", i ? "," : "", labels[i]);
			label_value(out, labels[i + 1]);
			g_string_append_c(out, '"');
		}
		g_string_append_c(out, '}');
	}
	g_string_append_printf(out, " %" PRIu64 "\n", v);
}

/* A family with one unlabelled sample. */
static void single(GString *out, const char *name, const char *type, const char *help, uint64_t v)
{
	family(out, name, type, help);
	sample_u64(out, name, v, NULL);
}

/* Seconds from nanoseconds or milliseconds, exactly as decimals (no float rounding). */
static void sample_seconds(GString *out, const char *name, uint64_t v, uint64_t per_second,
			   int digits)
{
	g_string_append_printf(out, "%s %" PRIu64 ".%0*" PRIu64 "\n", name, v / per_second, digits,
			       v % per_second);
}

static void render_process(const struct metrics_snapshot *s, GString *out)
{
	const char *build[] = { "version", PACKAGE_VERSION, NULL };

	family(out, "xlatflow_build_info", "gauge", "Always 1; the version label is xlatflowd's.");
	sample_u64(out, "xlatflow_build_info", 1, build);
	family(out, "xlatflow_start_time_seconds", "gauge",
	       "When the exporting process started, seconds since the epoch "
	       "(systemInitTimeMilliseconds).");
	sample_seconds(out, "xlatflow_start_time_seconds", s->start_time_ms, 1000, 3);
	single(out, "xlatflow_sampling_interval", "gauge",
	       "One packet in this many is counted (samplingInterval; 1: every packet).",
	       s->sampling);
}

/* What the metering statistics options records carry, and the kernel's totals. */
static void render_metering(const struct metrics_snapshot *s, GString *out)
{
	const struct ipfix_metering *m = &s->metering;

	single(out, "xlatflow_observed_packets_total", "counter",
	       "IP packets the TC programs saw, before sampling (selectorIdTotalPktsObserved).",
	       m->observed_packets);
	single(out, "xlatflow_selected_packets_total", "counter",
	       "Of them, the packets sampling kept (selectorIdTotalPktsSelected).",
	       m->observed_packets >= m->sampled_out_packets
		       ? m->observed_packets - m->sampled_out_packets
		       : 0);
	single(out, "xlatflow_observed_bytes_total", "counter",
	       "IP bytes (header and payload) of the packets the TC programs saw.",
	       s->kernel[XF_CNT_OCTETS]);
	single(out, "xlatflow_non_ip_packets_total", "counter",
	       "Packets that are not IPv4 or IPv6 (ARP, LLDP, ...): in no flow.",
	       m->non_ip_packets);
	single(out, "xlatflow_malformed_packets_total", "counter",
	       "Packets with truncated or invalid headers: in no flow.", m->malformed_packets);
	single(out, "xlatflow_ignored_packets_total", "counter",
	       "Non-IP and malformed packets together (ignoredPacketTotalCount).",
	       m->non_ip_packets + m->malformed_packets);
	single(out, "xlatflow_sampled_out_packets_total", "counter", "Packets skipped by sampling.",
	       m->sampled_out_packets);
	single(out, "xlatflow_kernel_slots_full_packets_total", "counter",
	       "Packets that found no free kernel flow slot and went through the ring buffer "
	       "(kernel_max_flows reached in one drain interval).",
	       m->map_full_packets);
	single(out, "xlatflow_ring_full_slot_packets_total", "counter",
	       "Ring-first order: packets the full ring buffer passed to the kernel flow slots "
	       "(the daemon did not keep up with the ring).",
	       s->kernel[XF_CNT_RING_FULL_SLOTS]);
	single(out, "xlatflow_lost_packets_total", "counter",
	       "Packets lost: no flow slot and the ring buffer full (droppedPacketTotalCount).",
	       m->lost_packets);
	single(out, "xlatflow_lost_bytes_total", "counter",
	       "IP bytes of the lost packets (droppedOctetTotalCount).", m->lost_octets);
	single(out, "xlatflow_filter_reattachments_total", "counter",
	       "TC filters put back after someone else removed them.", m->filter_reattachments);
}

static void render_cache(const struct metrics_snapshot *s, GString *out)
{
	single(out, "xlatflow_flow_cache_flows", "gauge",
	       "Flows in the cache with packets not yet exported.", s->cache_flows);
	single(out, "xlatflow_flow_cache_max_flows", "gauge", "The flow cache bound (max_flows).",
	       s->cache_max_flows);
	single(out, "xlatflow_flow_cache_created_flows_total", "counter",
	       "Flows the cache started.", s->cache_created);
	family(out, "xlatflow_flows_exported_total", "counter",
	       "Flow records the cache handed to the exporter, by flowEndReason.");
	for (int r = 1; r <= 5; r++) {
		const char *l[] = { "reason", end_reasons[r], NULL };

		sample_u64(out, "xlatflow_flows_exported_total", s->cache_exported[r], l);
	}
	single(out, "xlatflow_flow_cache_evicted_flows_total", "counter",
	       "Flows exported early because the cache was full (flowEndReason 5).",
	       s->metering.cache_evicted_flows);
	single(out, "xlatflow_kernel_flow_slots", "gauge",
	       "Flow slots the kernel holds per drain interval (kernel_max_flows).",
	       s->kernel_slots);
	single(out, "xlatflow_kernel_flow_slots_used", "gauge", "Flow slots the last drain read.",
	       s->kernel_slots_used);
	single(out, "xlatflow_datapath_ring_first", "gauge",
	       "1 while the TC programs send each packet to the ring buffer first, 0 while they "
	       "count it into its flow slot first (datapath_order).",
	       s->order.ring ? 1 : 0);
	single(out, "xlatflow_datapath_order_changes_total", "counter",
	       "Changes of the datapath order, measurement windows included (datapath_order "
	       "auto).",
	       s->order.switches);
	single(out, "xlatflow_datapath_order_measurements_total", "counter",
	       "Windows run in the other datapath order to measure it (datapath_order auto).",
	       s->order.probes);
	family(out, "xlatflow_datapath_packet_cost_seconds", "gauge",
	       "Cost of a packet in each datapath order when last measured: program time plus "
	       "the daemon's CPU time merging it, per packet; 0 until measured (datapath_order "
	       "auto).");
	sample_seconds(out, "xlatflow_datapath_packet_cost_seconds{order=\"slots\"}",
		       s->order.cost_ns[0], 1000000000ULL, 9);
	sample_seconds(out, "xlatflow_datapath_packet_cost_seconds{order=\"ring\"}",
		       s->order.cost_ns[1], 1000000000ULL, 9);
	family(out, "xlatflow_drain_duration_seconds", "summary",
	       "Time the drain cycles took (flip, grace period, reading the slots and the ring "
	       "buffer).");
	sample_seconds(out, "xlatflow_drain_duration_seconds_sum", s->drain_ns_sum, 1000000000ULL,
		       9);
	sample_u64(out, "xlatflow_drain_duration_seconds_count", s->drains, NULL);
	family(out, "xlatflow_drain_last_duration_seconds", "gauge",
	       "Time the last drain cycle took.");
	sample_seconds(out, "xlatflow_drain_last_duration_seconds", s->drain_ns_last, 1000000000ULL,
		       9);
}

static void render_nat(const struct metrics_snapshot *s, GString *out)
{
	const char *src[] = { "source", s->nat_source, NULL };

	family(out, "xlatflow_nat_source_info", "gauge",
	       "Always 1; the source label is the NAT translation source in use.");
	sample_u64(out, "xlatflow_nat_source_info", 1, src);
	single(out, "xlatflow_nat_translations_total", "counter",
	       "Translation reports the NAT source delivered (new connections, changes, and "
	       "every translated connection again each 10 s).",
	       s->nat[XF_CNT_XLAT_EVENTS]);
	single(out, "xlatflow_nat_lost_translations_total", "counter",
	       "Translations lost on the way from the kernel (ring buffer full, or conntrack "
	       "events dropped while delivery was unreliable).",
	       s->metering.lost_translations);
	single(out, "xlatflow_nat_unsupported_translations_total", "counter",
	       "Translations of connections that are neither IPv4 nor IPv6.",
	       s->metering.unsupported_translations);
	single(out, "xlatflow_nat_hook_calls_total", "counter",
	       "NAT hook calls that took the slow path (new connection, change, refresh); "
	       "conntrack mode: event messages received.",
	       s->nat[XF_CNT_XLAT_CALLS]);
	single(out, "xlatflow_nat_hook_misses_total", "counter",
	       "NAT hook packets whose connection was not in its reported table.",
	       s->nat[XF_CNT_XLAT_MISSES]);
	single(out, "xlatflow_nat_hook_table_full_total", "counter",
	       "Reported-table entries taken from a connection still tracked (table full).",
	       s->nat[XF_CNT_XLAT_MAP_FULL]);
	family(out, "xlatflow_nat_events_total", "counter", "NAT events the source sent, by kind.");
	for (int k = 0; k < 4; k++) {
		const char *l[] = { "kind", nat_event_kinds[k], NULL };

		sample_u64(out, "xlatflow_nat_events_total", s->nat[XF_CNT_NATEV_CREATE + k], l);
	}
	family(out, "xlatflow_nat_events_lost_total", "counter",
	       "NAT events lost (ring buffer full), by kind.");
	for (int k = 0; k < 4; k++) {
		const char *l[] = { "kind", nat_event_kinds[k], NULL };

		sample_u64(out, "xlatflow_nat_events_lost_total",
			   s->nat[XF_CNT_NATEV_LOST_CREATE + k], l);
	}
	if (s->has_conntrack) {
		single(out, "xlatflow_conntrack_enobufs_total", "counter",
		       "ENOBUFS reports on the conntrack event socket (each resynchronised by a "
		       "dump).",
		       s->ct_enobufs);
		single(out, "xlatflow_conntrack_overruns_total", "counter",
		       "Conntrack messages the kernel could not queue on the event socket.",
		       s->ct_overruns);
		single(out, "xlatflow_conntrack_lost_events_total", "counter",
		       "Of them, dropped while delivery was unreliable: gone.", s->ct_lost_events);
		single(out, "xlatflow_conntrack_errors_total", "counter",
		       "Conntrack messages that could not be parsed.", s->ct_errors);
	}
	if (s->has_xlat) {
		single(out, "xlatflow_translation_table_entries", "gauge",
		       "Translations held in the table.", s->xlat_translations);
		single(out, "xlatflow_translation_table_max_entries", "gauge",
		       "The translation table bound (max_translations).", s->xlat_max);
		single(out, "xlatflow_translation_table_bytes", "gauge",
		       "Heap the translation table holds.", s->xlat_bytes);
		single(out, "xlatflow_translation_table_evicted_total", "counter",
		       "Translations dropped before their time to stay within max_translations.",
		       s->metering.evicted_translations);
	}
}

/* The collector's labels into l (7 entries). */
static void collector_labels(const struct metrics_collector *c, const char **l)
{
	l[0] = "collector";
	l[1] = c->url;
	l[2] = "protocol";
	l[3] = c->protocol;
	l[4] = "transport";
	l[5] = c->transport;
	l[6] = NULL;
}

/* One family with one sample per collector; field is the offset of a uint64_t. */
static void per_collector(const struct metrics_snapshot *s, GString *out, const char *name,
			  const char *type, const char *help, size_t field)
{
	family(out, name, type, help);
	for (int i = 0; i < s->n_collectors; i++) {
		const struct metrics_collector *c = &s->collectors[i];
		const char *l[7];

		collector_labels(c, l);
		sample_u64(out, name, *(const uint64_t *)((const char *)c + field), l);
	}
}

#define COLLECTOR_FIELD(f) offsetof(struct metrics_collector, f)

static void render_collectors(const struct metrics_snapshot *s, GString *out)
{
	family(out, "xlatflow_collector_up", "gauge",
	       "1 when the collector's transport is up (UDP: socket open and datagrams not "
	       "refused; TCP: connected).");
	for (int i = 0; i < s->n_collectors; i++) {
		const char *l[7];

		collector_labels(&s->collectors[i], l);
		sample_u64(out, "xlatflow_collector_up", s->collectors[i].up, l);
	}
	per_collector(s, out, "xlatflow_collector_exported_messages_total", "counter",
		      "Messages sent to the collector (exportedMessageTotalCount).",
		      COLLECTOR_FIELD(messages));
	per_collector(s, out, "xlatflow_collector_exported_records_total", "counter",
		      "Flow records sent to the collector (exportedFlowRecordTotalCount).",
		      COLLECTOR_FIELD(records));
	per_collector(s, out, "xlatflow_collector_exported_bytes_total", "counter",
		      "Bytes of the messages sent to the collector (exportedOctetTotalCount).",
		      COLLECTOR_FIELD(bytes));
	per_collector(
		s, out, "xlatflow_collector_not_sent_records_total", "counter",
		"Flow records that could not be sent to the collector (notSentFlowTotalCount).",
		COLLECTOR_FIELD(not_sent_records));
	per_collector(s, out, "xlatflow_collector_not_sent_packets_total", "counter",
		      "Packets the not sent records counted (notSentPacketTotalCount).",
		      COLLECTOR_FIELD(not_sent_packets));
	per_collector(s, out, "xlatflow_collector_not_sent_bytes_total", "counter",
		      "Bytes the not sent records counted (notSentOctetTotalCount).",
		      COLLECTOR_FIELD(not_sent_octets));
	per_collector(s, out, "xlatflow_collector_queued_records", "gauge",
		      "Flow records waiting in the UDP pacing queue or the TCP send queue.",
		      COLLECTOR_FIELD(queued_records));
	per_collector(s, out, "xlatflow_collector_backlog_records", "gauge",
		      "TCP: flow records kept while the connection is down.",
		      COLLECTOR_FIELD(backlog_records));
	per_collector(s, out, "xlatflow_collector_connections_total", "counter",
		      "TCP connections established to the collector.",
		      COLLECTOR_FIELD(connections));
	family(out, "xlatflow_collector_reconnects_total", "counter",
	       "TCP connections established after the first one.");
	for (int i = 0; i < s->n_collectors; i++) {
		const struct metrics_collector *c = &s->collectors[i];
		const char *l[7];

		collector_labels(c, l);
		sample_u64(out, "xlatflow_collector_reconnects_total",
			   c->connections ? c->connections - 1 : 0, l);
	}
	per_collector(s, out, "xlatflow_collector_down_total", "counter",
		      "Times the collector was found down: TCP connection lost or not established, "
		      "UDP datagrams refused (xlatCollectorDownTotalCount).",
		      COLLECTOR_FIELD(downs));
	per_collector(s, out, "xlatflow_collector_redirected_records_total", "counter",
		      "Collector groups: flow records of this member's share another member took "
		      "while it was down (xlatCollectorRedirectedFlowTotalCount).",
		      COLLECTOR_FIELD(redirected));
	per_collector(s, out, "xlatflow_collector_taken_over_records_total", "counter",
		      "Collector groups: flow records of other members' shares this member took "
		      "(xlatCollectorTakenOverFlowTotalCount).",
		      COLLECTOR_FIELD(taken_over));
}

static void render_interfaces(const struct metrics_snapshot *s, GString *out)
{
	static const char *const dirs[2] = {
		[XF_DIR_INGRESS] = "ingress", [XF_DIR_EGRESS] = "egress"
	};

	family(out, "xlatflow_interface_attached", "gauge",
	       "1 while the TC programs are attached to the interface; 0 while our filters are "
	       "missing and putting them back fails.");
	for (int i = 0; i < s->n_interfaces; i++) {
		const struct metrics_interface *m = &s->interfaces[i];
		char idx[16];
		const char *l[] = { "interface", m->name, "ifindex", idx, NULL };

		g_snprintf(idx, sizeof(idx), "%u", m->ifindex);
		sample_u64(out, "xlatflow_interface_attached", m->attached, l);
	}
	for (int what = 0; what < 2; what++) {
		const char *name = what ? "xlatflow_interface_bytes_total"
					: "xlatflow_interface_packets_total";

		family(out, name, "counter",
		       what ? "IP bytes of the packets counted into flows, by interface and "
			      "direction (after sampling)."
			    : "Packets counted into flows, by interface and direction (after "
			      "sampling).");
		for (int i = 0; i < s->n_interfaces; i++) {
			const struct metrics_interface *m = &s->interfaces[i];
			char idx[16];

			g_snprintf(idx, sizeof(idx), "%u", m->ifindex);
			for (int d = 0; d < 2; d++) {
				const char *l[] = { "interface", m->name, "ifindex", idx,
						    "direction", dirs[d], NULL };

				sample_u64(out, name, what ? m->octets[d] : m->packets[d], l);
			}
		}
	}
}

void metrics_render(const struct metrics_snapshot *s, GString *out)
{
	render_process(s, out);
	render_metering(s, out);
	render_cache(s, out);
	render_nat(s, out);
	render_collectors(s, out);
	render_interfaces(s, out);
}

bool metrics_ready(const struct metrics_snapshot *s, GString *why)
{
	bool attached = false, up = false;

	for (int i = 0; i < s->n_interfaces; i++)
		attached |= s->interfaces[i].attached;
	for (int i = 0; i < s->n_collectors; i++)
		up |= s->collectors[i].up;
	if (why && !attached)
		g_string_append(why, "the programs are attached to no interface\n");
	if (why && !up)
		g_string_append(why, "no collector is up\n");
	return attached && up;
}

void metrics_snapshot_clear(struct metrics_snapshot *s)
{
	g_free(s->interfaces);
	s->interfaces = NULL;
	s->n_interfaces = 0;
}
