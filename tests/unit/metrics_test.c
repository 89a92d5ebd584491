// SPDX-License-Identifier: GPL-2.0-only
/*
 * metrics.c: the Prometheus text rendering of a known snapshot. Exact
 * sample lines, label escaping, seconds written as exact decimals, every
 * sample preceded by its family's HELP and TYPE (once each), counters
 * named _total, and the readiness rule. (The integration test
 * tests/integration/metrics_prometheus.sh runs promtool on a live daemon's
 * output and lets prometheus scrape it.)
 */
#include <glib.h>

#include "metrics.h"
#include "testutil.h"

static struct metrics_interface rows[2];

static void fill(struct metrics_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->start_time_ms = 1765000000123ULL;
	s->sampling = 1;
	s->metering.observed_packets = 1234;
	s->kernel[XF_CNT_PACKETS] = 1234;
	s->kernel[XF_CNT_OCTETS] = 99999;
	s->metering.map_full_packets = 7;
	s->kernel[XF_CNT_RING_FULL_SLOTS] = 21;
	s->order = (struct order_stats){
		.ring = true, .probes = 5, .switches = 8, .cost_ns = { 640, 410 }
	};
	s->metering.sampled_out_packets = 34;
	s->metering.non_ip_packets = 10;
	s->metering.malformed_packets = 1;
	s->metering.lost_packets = 3;
	s->metering.lost_octets = 300;
	s->metering.cache_evicted_flows = 2;
	s->metering.evicted_translations = 5;
	s->cache_flows = 10;
	s->cache_max_flows = 1000000;
	s->cache_exported[1] = 40;
	s->cache_exported[5] = 2;
	s->kernel_slots = 65536;
	s->kernel_slots_used = 12;
	s->drains = 3;
	s->drain_ns_sum = 1500000;     /* 1.5 ms */
	s->drain_ns_last = 1000000007; /* 1 s + 7 ns */
	s->nat_source = "conntrack";
	s->nat[XF_CNT_XLAT_EVENTS] = 17;
	s->nat[XF_CNT_NATEV_LOST_TABLE_FULL] = 4;
	s->has_conntrack = true;
	s->ct_lost_events = 6;
	s->has_xlat = true;
	s->xlat_translations = 8;
	s->xlat_max = 786432;
	s->n_collectors = 2;
	snprintf(s->collectors[0].url, sizeof(s->collectors[0].url), "udp://127.0.0.1:4739");
	s->collectors[0].protocol = "ipfix";
	s->collectors[0].transport = "udp";
	s->collectors[0].up = true;
	s->collectors[0].records = 42;
	snprintf(s->collectors[1].url, sizeof(s->collectors[1].url), "tcp://[2001:db8::1]:4739");
	s->collectors[1].protocol = "netflow9";
	s->collectors[1].transport = "tcp";
	s->collectors[1].connections = 3;
	s->collectors[1].downs = 2;
	s->collectors[1].redirected = 13;
	s->collectors[0].taken_over = 13;
	s->collectors[1].not_sent_records = 9;
	s->collectors[1].backlog_records = 11;
	memset(rows, 0, sizeof(rows));
	snprintf(rows[0].name, sizeof(rows[0].name), "veth\"a\\b");
	rows[0].ifindex = 5;
	rows[0].attached = true;
	rows[0].packets[XF_DIR_INGRESS] = 100;
	rows[0].octets[XF_DIR_EGRESS] = 6400;
	snprintf(rows[1].name, sizeof(rows[1].name), "eth0");
	rows[1].ifindex = 2;
	s->interfaces = rows;
	s->n_interfaces = 2;
}

/* out has this exact line */
static bool has_line(const char *out, const char *line)
{
	gchar **lines = g_strsplit(out, "\n", -1);
	bool found = false;

	for (int i = 0; lines[i] && !found; i++)
		found = strcmp(lines[i], line) == 0;
	if (!found)
		fprintf(stderr, "missing line: %s\n", line);
	g_strfreev(lines);
	return found;
}

static void test_samples(void)
{
	struct metrics_snapshot s;
	GString *out = g_string_new(NULL);

	fill(&s);
	metrics_render(&s, out);
	CHECK(has_line(out->str, "xlatflow_build_info{version=\"" PACKAGE_VERSION "\"} 1"));
	CHECK(has_line(out->str, "xlatflow_start_time_seconds 1765000000.123"));
	CHECK(has_line(out->str, "xlatflow_observed_packets_total 1234"));
	CHECK(has_line(out->str, "xlatflow_observed_bytes_total 99999"));
	CHECK(has_line(out->str, "xlatflow_selected_packets_total 1200"));
	CHECK(has_line(out->str, "xlatflow_ignored_packets_total 11"));
	CHECK(has_line(out->str, "xlatflow_sampling_interval 1"));
	CHECK(has_line(out->str, "xlatflow_kernel_slots_full_packets_total 7"));
	CHECK(has_line(out->str, "xlatflow_lost_packets_total 3"));
	CHECK(has_line(out->str, "xlatflow_lost_bytes_total 300"));
	CHECK(has_line(out->str, "xlatflow_flow_cache_flows 10"));
	CHECK(has_line(out->str, "xlatflow_flows_exported_total{reason=\"idle\"} 40"));
	CHECK(has_line(out->str, "xlatflow_flows_exported_total{reason=\"lack_of_resources\"} 2"));
	CHECK(has_line(out->str, "xlatflow_flow_cache_evicted_flows_total 2"));
	CHECK(has_line(out->str, "xlatflow_kernel_flow_slots 65536"));
	CHECK(has_line(out->str, "xlatflow_ring_full_slot_packets_total 21"));
	CHECK(has_line(out->str, "xlatflow_datapath_ring_first 1"));
	CHECK(has_line(out->str, "xlatflow_datapath_order_changes_total 8"));
	CHECK(has_line(out->str, "xlatflow_datapath_order_measurements_total 5"));
	CHECK(has_line(out->str,
		       "xlatflow_datapath_packet_cost_seconds{order=\"slots\"} 0.000000640"));
	CHECK(has_line(out->str,
		       "xlatflow_datapath_packet_cost_seconds{order=\"ring\"} 0.000000410"));
	CHECK(has_line(out->str, "xlatflow_kernel_flow_slots_used 12"));
	CHECK(has_line(out->str, "xlatflow_drain_duration_seconds_sum 0.001500000"));
	CHECK(has_line(out->str, "xlatflow_drain_duration_seconds_count 3"));
	CHECK(has_line(out->str, "xlatflow_drain_last_duration_seconds 1.000000007"));
	CHECK(has_line(out->str, "xlatflow_nat_source_info{source=\"conntrack\"} 1"));
	CHECK(has_line(out->str, "xlatflow_nat_translations_total 17"));
	CHECK(has_line(out->str, "xlatflow_nat_events_lost_total{kind=\"table_full\"} 4"));
	CHECK(has_line(out->str, "xlatflow_conntrack_lost_events_total 6"));
	CHECK(has_line(out->str, "xlatflow_translation_table_entries 8"));
	CHECK(has_line(out->str, "xlatflow_translation_table_evicted_total 5"));
	CHECK(has_line(out->str, "xlatflow_collector_up{collector=\"udp://127.0.0.1:4739\","
				 "protocol=\"ipfix\",transport=\"udp\"} 1"));
	CHECK(has_line(
		out->str,
		"xlatflow_collector_exported_records_total{collector=\"udp://127.0.0.1:4739\","
		"protocol=\"ipfix\",transport=\"udp\"} 42"));
	CHECK(has_line(out->str, "xlatflow_collector_up{collector=\"tcp://[2001:db8::1]:4739\","
				 "protocol=\"netflow9\",transport=\"tcp\"} 0"));
	CHECK(has_line(out->str,
		       "xlatflow_collector_reconnects_total{collector=\"tcp://"
		       "[2001:db8::1]:4739\",protocol=\"netflow9\",transport=\"tcp\"} 2"));
	CHECK(has_line(out->str, "xlatflow_collector_reconnects_total{collector=\"udp://"
				 "127.0.0.1:4739\",protocol=\"ipfix\",transport=\"udp\"} 0"));
	CHECK(has_line(out->str,
		       "xlatflow_collector_backlog_records{collector=\"tcp://"
		       "[2001:db8::1]:4739\",protocol=\"netflow9\",transport=\"tcp\"} 11"));
	CHECK(has_line(out->str,
		       "xlatflow_collector_down_total{collector=\"tcp://"
		       "[2001:db8::1]:4739\",protocol=\"netflow9\",transport=\"tcp\"} 2"));
	CHECK(has_line(out->str,
		       "xlatflow_collector_redirected_records_total{collector=\"tcp://"
		       "[2001:db8::1]:4739\",protocol=\"netflow9\",transport=\"tcp\"} 13"));
	CHECK(has_line(out->str, "xlatflow_collector_taken_over_records_total{collector=\"udp://"
				 "127.0.0.1:4739\",protocol=\"ipfix\",transport=\"udp\"} 13"));
	/* a quote and a backslash in a label value are escaped */
	CHECK(has_line(out->str, "xlatflow_interface_packets_total{interface=\"veth\\\"a\\\\b\","
				 "ifindex=\"5\",direction=\"ingress\"} 100"));
	CHECK(has_line(out->str, "xlatflow_interface_bytes_total{interface=\"veth\\\"a\\\\b\","
				 "ifindex=\"5\",direction=\"egress\"} 6400"));
	CHECK(has_line(out->str,
		       "xlatflow_interface_attached{interface=\"eth0\",ifindex=\"2\"} 0"));
	g_string_free(out, TRUE);
}

/* Without conntrack and a translation table, their families are left out. */
static void test_optional_families(void)
{
	struct metrics_snapshot s;
	GString *out = g_string_new(NULL);

	fill(&s);
	s.has_conntrack = false;
	s.has_xlat = false;
	s.nat_source = "off";
	metrics_render(&s, out);
	CHECK(!strstr(out->str, "xlatflow_conntrack_"));
	CHECK(!strstr(out->str, "xlatflow_translation_table_"));
	CHECK(has_line(out->str, "xlatflow_nat_source_info{source=\"off\"} 1"));
	g_string_free(out, TRUE);
}

/*
 * The format's rules: every sample's family was announced just before by
 * one HELP and one TYPE line; no family twice; counters end in _total and
 * nothing else does; the text ends in a newline.
 */
static void test_format(void)
{
	struct metrics_snapshot s;
	GString *out = g_string_new(NULL);
	GHashTable *seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	gchar **lines;
	char fam[128] = "", type[16] = "";
	int samples = 0;

	fill(&s);
	metrics_render(&s, out);
	CHECK(out->len && out->str[out->len - 1] == '\n');
	lines = g_strsplit(out->str, "\n", -1);
	for (int i = 0; lines[i] && lines[i][0]; i++) {
		const char *l = lines[i];
		char name[128];

		if (g_str_has_prefix(l, "# HELP ")) {
			CHECK(sscanf(l, "# HELP %127s", fam) == 1);
			CHECK(!g_hash_table_contains(seen, fam));
			g_hash_table_add(seen, g_strdup(fam));
			CHECK(lines[i + 1] &&
			      sscanf(lines[i + 1], "# TYPE %127s %15s", name, type) == 2);
			CHECK_STR(name, fam);
			CHECK(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
			      strcmp(type, "summary") == 0);
			CHECK((strcmp(type, "counter") == 0) == g_str_has_suffix(fam, "_total"));
			i++;
			continue;
		}
		CHECK(l[0] != '#');
		CHECK(sscanf(l, "%127[a-z_]", name) == 1);
		if (strcmp(type, "summary") == 0)
			CHECK(g_str_has_prefix(name, fam) &&
			      (strcmp(name + strlen(fam), "_sum") == 0 ||
			       strcmp(name + strlen(fam), "_count") == 0));
		else
			CHECK_STR(name, fam);
		samples++;
	}
	CHECK(samples > 60);
	CHECK(g_hash_table_size(seen) > 50);
	g_strfreev(lines);
	g_hash_table_destroy(seen);
	g_string_free(out, TRUE);
}

static void test_ready(void)
{
	struct metrics_snapshot s;
	GString *why = g_string_new(NULL);

	fill(&s);
	CHECK(metrics_ready(&s, why));
	CHECK_STR(why->str, "");
	s.collectors[0].up = false;
	CHECK(!metrics_ready(&s, why));
	CHECK_STR(why->str, "no collector is up\n");
	g_string_truncate(why, 0);
	s.collectors[1].up = true;
	rows[0].attached = false;
	CHECK(!metrics_ready(&s, why));
	CHECK_STR(why->str, "the programs are attached to no interface\n");
	s.n_interfaces = 0;
	CHECK(!metrics_ready(&s, NULL));
	g_string_free(why, TRUE);
}

int main(void)
{
	RUN(test_samples);
	RUN(test_optional_families);
	RUN(test_format);
	RUN(test_ready);
	return tu_finish();
}
