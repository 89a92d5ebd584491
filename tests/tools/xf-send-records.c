// SPDX-License-Identifier: GPL-2.0-only
/*
 * xf-send-records: drive the exporter (export.h) with fixed flow records,
 * for the end-to-end export tests.
 *
 *   xf-send-records --collector URL [--odid N] [--pen N] [--zone-as-vrf]
 *                   [--mtu N] [--refresh SEC] [--refresh-messages N]
 *                   [--netflow9] [--sampling N] [--rate N] [--burst N]
 *                   [--nat-events] [--no-flows]
 *                   [--spool DIR] [--spool-max BYTES]
 *
 * --rate and --burst pace every UDP collector (records/s, records; the
 * default 0 sends unpaced).
 * --netflow9 makes every collector a NetFlow v9 one (protocol = "netflow9").
 * --nat-events sets nat_events = true on every collector, --no-flows
 * flows = false.
 * --spool DIR gives every TCP collector spool = true with spool_dir DIR
 * (spool_max_bytes --spool-max, default 64 MiB).
 * URL is udp://ADDR:PORT or tcp://ADDR:PORT (ADDR numeric; [v6] allowed).
 * Commands come on stdin, one per line; between them the exporter ticks
 * every 100 ms (reconnects, template refresh):
 *   send a | send b     export record set a (4 records) or b (2 records)
 *   bulk N [FIRST]      export N IPv4 records with packets = FIRST..FIRST+N-1
 *                       (FIRST default 1)
 *   paced N             N IPv4 records of 1 packet and 100 octets each,
 *                       handed over as the exporter has room (as the
 *                       daemon's flow cache does), then sent to the end
 *                       at the collectors' pace; prints "paced N records
 *                       in S s" on stderr
 *   flush               exporter_flush()
 *   sleep MS            keep ticking for MS milliseconds
 *   stats               print exporter stats as one JSON line on stdout
 *   iface IDX NAME DESC exporter_set_interface() (DESC may contain spaces)
 *   metering            exporter_set_metering() with the fixed counters below
 *   options             exporter_send_options()
 *   natev               the NAT event set natev_set() below, through the
 *                       event log (src/natlog.c) and exporter_add_nat_event()
 *   natev N             N NAT44 session create records (ports 1..N)
 *   quit                (or end of input) flush, free the exporter, exit
 * The record sets are set_a() and set_b() below; the integration tests
 * check their exact values.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "export.h"
#include "log.h"
#include "natlog.h"

static void addr(uint8_t *dst, const char *text)
{
	memset(dst, 0, 16);
	if (inet_pton(strchr(text, ':') ? AF_INET6 : AF_INET, text, dst) != 1) {
		fprintf(stderr, "bad address %s\n", text);
		exit(1);
	}
}

static void mac(uint8_t *dst, uint8_t last)
{
	static const uint8_t base[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x00 };

	memcpy(dst, base, 6);
	dst[5] = last;
}

static void flow(struct flow_record *r, const char *src, uint16_t sport, const char *dst,
		 uint16_t dport, uint8_t proto, uint64_t packets, uint64_t octets,
		 uint64_t start_ms, uint64_t end_ms)
{
	memset(r, 0, sizeof(*r));
	addr(r->key.src_addr, src);
	addr(r->key.dst_addr, dst);
	r->key.family = strchr(src, ':') ? XF_FAMILY_IPV6 : XF_FAMILY_IPV4;
	r->key.src_port = sport;
	r->key.dst_port = dport;
	r->key.proto = proto;
	r->packets = packets;
	r->octets = octets;
	r->start_ms = start_ms;
	r->end_ms = end_ms;
	mac(r->src_mac, 0x01);
	mac(r->dst_mac, 0x02);
}

static void xlat(struct flow_record *r, const char *pre_src, uint16_t pre_sport,
		 const char *pre_dst, uint16_t pre_dport, const char *post_src, uint16_t post_sport,
		 const char *post_dst, uint16_t post_dport, uint16_t zone, uint8_t observed,
		 uint8_t type)
{
	r->has_xlat = true;
	addr(r->xlat.pre_src, pre_src);
	addr(r->xlat.pre_dst, pre_dst);
	addr(r->xlat.post_src, post_src);
	addr(r->xlat.post_dst, post_dst);
	r->xlat.pre_sport = pre_sport;
	r->xlat.pre_dport = pre_dport;
	r->xlat.post_sport = post_sport;
	r->xlat.post_dport = post_dport;
	r->xlat.zone_id = zone;
	r->xlat.observed = observed;
	r->xlat.type = type;
}

/* Record set a: plain TCP, NATed UDP, NATed IPv6 TCP, ICMP echo. */
static int set_a(struct flow_record *r)
{
	flow(&r[0], "198.18.0.1", 40001, "198.19.0.10", 443, 6, 10, 1500, 1764140000000ULL,
	     1764140001500ULL);
	r[0].tcp_flags = 0x1b; /* FIN SYN PSH ACK */
	r[0].key.ifindex = 3;
	r[0].key.direction = XF_DIR_INGRESS;
	r[0].end_reason = FLOW_END_IDLE;

	flow(&r[1], "198.18.0.2", 5353, "198.19.0.53", 53, 17, 2, 152, 1764140002000ULL,
	     1764140002250ULL);
	r[1].key.ifindex = 4;
	r[1].key.direction = XF_DIR_EGRESS;
	r[1].tos = 0x28;
	r[1].end_reason = FLOW_END_ACTIVE;
	xlat(&r[1], "198.18.0.2", 5353, "198.19.0.53", 53, "198.18.100.1", 61000, "198.18.200.53",
	     5353, 5, XLAT_OBSERVED_PRE, XLAT_TYPE_SNAT | XLAT_TYPE_DNAT);

	flow(&r[2], "2001:db8::1", 40002, "2001:db8::2", 80, 6, 5, 400, 1764140003000ULL,
	     1764140004000ULL);
	r[2].tcp_flags = 0x12; /* SYN ACK */
	r[2].key.ifindex = 5;
	r[2].key.vlan_id = 42;
	r[2].end_reason = FLOW_END_END_OF_FLOW;
	xlat(&r[2], "2001:db8::1", 40002, "2001:db8::2", 80, "2001:db8:100::1", 62000,
	     "2001:db8:200::2", 8080, 7, XLAT_OBSERVED_PRE, XLAT_TYPE_SNAT | XLAT_TYPE_DNAT);

	flow(&r[3], "198.18.0.3", 0, "198.19.0.10", 8 << 8, 1, 4, 336, 1764140005000ULL,
	     1764140008000ULL);
	r[3].key.ifindex = 3;
	r[3].end_reason = FLOW_END_FORCED;
	return 4;
}

/* Record set b: sent after a reconnect. */
static int set_b(struct flow_record *r)
{
	flow(&r[0], "198.18.1.1", 50000, "198.19.1.1", 22, 6, 7, 777, 1764140010000ULL,
	     1764140011000ULL);
	r[0].tcp_flags = 0x18; /* PSH ACK */
	r[0].key.ifindex = 3;
	r[0].end_reason = FLOW_END_IDLE;

	flow(&r[1], "2001:db8:1::5", 4500, "2001:db8:2::6", 4500, 17, 3, 333, 1764140012000ULL,
	     1764140013000ULL);
	r[1].key.ifindex = 6;
	r[1].key.direction = XF_DIR_EGRESS;
	r[1].end_reason = FLOW_END_LACK_OF_RESOURCES;
	xlat(&r[1], "2001:db8:aaaa::5", 1234, "2001:db8:2::6", 4500, "2001:db8:1::5", 4500,
	     "2001:db8:2::6", 4500, 9, XLAT_OBSERVED_POST, XLAT_TYPE_SNAT);
	return 2;
}

/* Metering counters the tests expect back: each field a distinct value. */
static void metering(struct ipfix_metering *m)
{
	memset(m, 0, sizeof(*m));
	m->observed_packets = 100000;
	m->non_ip_packets = 11;
	m->malformed_packets = 7;
	m->sampled_out_packets = 90000;
	m->map_full_packets = 300;
	m->lost_packets = 5;
	m->lost_octets = 4200;
	m->lost_translations = 2;
	m->unsupported_translations = 1;
	m->cache_evicted_flows = 3;
	m->evicted_translations = 4;
	m->filter_reattachments = 6;
}

static int parse_url(const char *url, struct xf_collector_config *cc)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *res;
	const char *hp, *colon;
	int rc;

	memset(cc, 0, sizeof(*cc));
	snprintf(cc->url, sizeof(cc->url), "%s", url);
	if (!strncmp(url, "udp://", 6)) {
		cc->transport = XF_TRANSPORT_UDP;
	} else if (!strncmp(url, "tcp://", 6)) {
		cc->transport = XF_TRANSPORT_TCP;
		hints.ai_socktype = SOCK_STREAM;
	} else {
		return -1;
	}
	hp = url + 6;
	colon = strrchr(hp, ':');
	if (!colon)
		return -1;
	if (hp[0] == '[')
		snprintf(cc->host, sizeof(cc->host), "%.*s", (int)(colon - hp - 2), hp + 1);
	else
		snprintf(cc->host, sizeof(cc->host), "%.*s", (int)(colon - hp), hp);
	snprintf(cc->port, sizeof(cc->port), "%s", colon + 1);
	rc = getaddrinfo(cc->host, cc->port, &hints, &res);
	if (rc)
		return -1;
	memcpy(&cc->addr, res->ai_addr, res->ai_addrlen);
	cc->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static void bulk_record(struct flow_record *r, unsigned long i)
{
	flow(r, "198.18.2.1", 1024 + i % 60000, "198.19.2.1", 9, 17, i, i * 100,
	     1764140020000ULL + i, 1764140030000ULL + i);
	r->end_reason = FLOW_END_IDLE;
}

/* Sleep until CLOCK_MONOTONIC at_ns (0: a millisecond). */
static void sleep_until(uint64_t at_ns)
{
	uint64_t now = clock_mono_ns();
	struct timespec ts;

	if (!at_ns)
		at_ns = now + 1000000;
	if (at_ns <= now)
		return;
	ts.tv_sec = (time_t)((at_ns - now) / 1000000000ULL);
	ts.tv_nsec = (long)((at_ns - now) % 1000000000ULL);
	nanosleep(&ts, NULL);
}

/* The daemon's loop in small: records as the exporter has room, sends at its pace. */
static void paced(struct exporter *exp, unsigned long n)
{
	uint64_t t0 = clock_mono_ns();
	unsigned long i = 1;
	struct flow_record r;

	while (i <= n) {
		uint64_t room = exporter_room(exp);

		for (; room && i <= n; room--, i++) {
			bulk_record(&r, i);
			r.packets = 1;
			r.octets = 100;
			exporter_add(exp, &r);
		}
		if (i > n)
			exporter_flush(exp);
		exporter_pace(exp);
		if (i <= n || exporter_waiting(exp))
			sleep_until(exporter_next_send_ns(exp));
	}
	while (exporter_waiting(exp)) {
		exporter_pace(exp);
		exporter_tick(exp, clock_mono_ms());
		if (exporter_waiting(exp))
			sleep_until(exporter_next_send_ns(exp));
	}
	fprintf(stderr, "paced %lu records in %.3f s\n", n, (double)(clock_mono_ns() - t0) / 1e9);
}

static void print_stats(struct exporter *exp)
{
	struct exporter_stats st;
	struct ipfix_natlog_stats ns;

	exporter_get_stats(exp, &st);
	exporter_get_natlog_stats(exp, &ns);
	printf("{\"messages\":%" PRIu64 ",\"records\":%" PRIu64 ",\"records_dropped\":%" PRIu64
	       ",\"packets_dropped\":%" PRIu64 ",\"octets_dropped\":%" PRIu64 ",\"bytes\":%" PRIu64
	       ",\"nat_events_exported\":%" PRIu64 ",\"nat_events_not_sent\":%" PRIu64 "}\n",
	       st.messages, st.records, st.records_dropped, st.packets_dropped, st.octets_dropped,
	       st.bytes, ns.exported, ns.not_sent);
	fflush(stdout);
}

/*
 * The NAT event set, at fixed wall-clock times (the monotonic clock is
 * offset so that mono 0 is 1764140000.000 s):
 *  1. NAT44 create 198.18.0.2:40000 -> 198.19.0.10:80 (zone 5), DNAT to
 *     198.18.1.2:8080, SNAT to 198.18.100.1:61000, at +1.250 s
 *  2. its delete at +3.500 s: started +1.250 s, 3/4 packets, 300/4000 octets
 *  3. NAT66 create 2001:db8::2:5000 -> 2001:db8:1::10:443, post-NAT
 *     2001:db8:100::1:6000 -> 2001:db8:2::20:8443 (UDP), at +2.000 s
 *  4. ports exhausted x3 towards 198.18.9.9:443 TCP from 198.18.100.1 at
 *     +4.100..4.300 s: one record, count 3, time +4.100 s
 *  5. table full x2 (zone 0), nf_conntrack_max 512: one record, count 2,
 *     time +4.500 s
 *  6. threshold 80%: fill 410 of 512 at +5.000 s (threshold 410 entries)
 */
#define NATEV_WALL_NS (1764140000ULL * 1000000000ULL)

static void natev_emit(void *ctx, const struct ipfix_natev_rec *rec)
{
	exporter_add_nat_event(ctx, rec);
}

static void natev_tuple(struct xf_tuple *t, int family, const char *src, uint16_t sp,
			const char *dst, uint16_t dp, uint8_t proto)
{
	memset(t, 0, sizeof(*t));
	inet_pton(family == XF_FAMILY_IPV4 ? AF_INET : AF_INET6, src, t->src_addr);
	inet_pton(family == XF_FAMILY_IPV4 ? AF_INET : AF_INET6, dst, t->dst_addr);
	t->src_port = sp;
	t->dst_port = dp;
	t->proto = proto;
	t->family = family;
}

static void natev_set(struct exporter *exp)
{
	struct natlog *nl = natlog_new(natev_emit, exp);
	struct xf_clock clk;
	struct nat_event ev;
	const uint64_t ms = 1000000;

	clock_set_offset(&clk, (int64_t)NATEV_WALL_NS);
	natlog_set_threshold(nl, 80);
	memset(&ev, 0, sizeof(ev));
	ev.kind = XF_XLAT_KIND_CREATE;
	ev.zone_id = 5;
	natev_tuple(&ev.orig, 4, "198.18.0.2", 40000, "198.19.0.10", 80, 6);
	natev_tuple(&ev.reply, 4, "198.18.1.2", 8080, "198.18.100.1", 61000, 6);
	ev.time_mono_ns = 1250 * ms;
	natlog_event(nl, &ev, &clk);

	ev.kind = XF_XLAT_KIND_DELETE;
	ev.time_mono_ns = 3500 * ms;
	ev.flags = NAT_EVENT_F_START | NAT_EVENT_F_ACCT;
	ev.start_wall_ns = NATEV_WALL_NS + 1250 * ms;
	ev.packets[0] = 3;
	ev.packets[1] = 4;
	ev.octets[0] = 300;
	ev.octets[1] = 4000;
	natlog_event(nl, &ev, &clk);

	memset(&ev, 0, sizeof(ev));
	ev.kind = XF_XLAT_KIND_CREATE;
	natev_tuple(&ev.orig, 6, "2001:db8::2", 5000, "2001:db8:1::10", 443, 17);
	natev_tuple(&ev.reply, 6, "2001:db8:2::20", 8443, "2001:db8:100::1", 6000, 17);
	ev.time_mono_ns = 2000 * ms;
	natlog_event(nl, &ev, &clk);

	for (int i = 0; i < 3; i++) {
		memset(&ev, 0, sizeof(ev));
		ev.kind = XF_XLAT_KIND_PORTS_EXHAUSTED;
		ev.count = 1;
		natev_tuple(&ev.orig, 4, "198.18.0.3", (uint16_t)(41000 + i), "198.18.9.9", 443, 6);
		natev_tuple(&ev.reply, 4, "198.18.9.9", 443, "198.18.100.1", 1024, 6);
		ev.time_mono_ns = (4100 + 100 * (uint64_t)i) * ms;
		natlog_event(nl, &ev, &clk);
	}
	natlog_table_fill(nl, 100, 512, 4000 * ms, &clk);
	for (int i = 0; i < 2; i++) {
		memset(&ev, 0, sizeof(ev));
		ev.kind = XF_XLAT_KIND_TABLE_FULL;
		ev.count = 1;
		natev_tuple(&ev.orig, 4, "198.18.0.4", 42000, "198.18.9.9", 443, 6);
		ev.time_mono_ns = (4500 + 10 * (uint64_t)i) * ms;
		natlog_event(nl, &ev, &clk);
	}
	natlog_flush(nl);
	natlog_table_fill(nl, 410, 512, 5000 * ms, &clk);
	natlog_free(nl);
}

/* N NAT44 session creates, source port i, one ms apart. */
static void natev_bulk(struct exporter *exp, unsigned long n)
{
	struct natlog *nl = natlog_new(natev_emit, exp);
	struct xf_clock clk;
	struct nat_event ev;

	clock_set_offset(&clk, (int64_t)NATEV_WALL_NS);
	memset(&ev, 0, sizeof(ev));
	ev.kind = XF_XLAT_KIND_CREATE;
	for (unsigned long i = 1; i <= n; i++) {
		natev_tuple(&ev.orig, 4, "198.18.0.2", (uint16_t)i, "198.19.0.10", 80, 6);
		natev_tuple(&ev.reply, 4, "198.18.1.2", 8080, "198.18.100.1", (uint16_t)i, 6);
		ev.time_mono_ns = i * 1000000ULL;
		natlog_event(nl, &ev, &clk);
	}
	natlog_free(nl);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "collector", required_argument, NULL, 'c' },
		{ "odid", required_argument, NULL, 'd' },
		{ "pen", required_argument, NULL, 'p' },
		{ "zone-as-vrf", no_argument, NULL, 'z' },
		{ "mtu", required_argument, NULL, 'm' },
		{ "refresh", required_argument, NULL, 'r' },
		{ "refresh-messages", required_argument, NULL, 'R' },
		{ "netflow9", no_argument, NULL, '9' },
		{ "sampling", required_argument, NULL, 's' },
		{ "rate", required_argument, NULL, 'a' },
		{ "burst", required_argument, NULL, 'b' },
		{ "nat-events", no_argument, NULL, 'n' },
		{ "no-flows", no_argument, NULL, 'F' },
		{ "spool", required_argument, NULL, 'S' },
		{ "spool-max", required_argument, NULL, 'M' },
		{ NULL, 0, NULL, 0 },
	};
	static struct xf_config cfg;
	struct exporter *exp;
	char err[512] = "", line[256];
	uint16_t mtu = 1500;
	uint32_t rate = 0, burst = 1;
	bool netflow9 = false, nat_events = false, no_flows = false;
	const char *spool_dir = NULL;
	int opt;

	cfg.observation_domain_id = 1;
	cfg.enterprise_number = 32473;
	cfg.template_refresh = 600;
	cfg.spool_max_bytes = 64u << 20;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			if (cfg.n_collectors >= XF_MAX_COLLECTORS ||
			    parse_url(optarg, &cfg.collectors[cfg.n_collectors]) < 0) {
				fprintf(stderr, "bad collector %s\n", optarg);
				return 1;
			}
			cfg.n_collectors++;
			break;
		case 'd': cfg.observation_domain_id = strtoul(optarg, NULL, 10); break;
		case 'p': cfg.enterprise_number = strtoul(optarg, NULL, 10); break;
		case 'z': cfg.zone_as_vrf = true; break;
		case 'm': mtu = strtoul(optarg, NULL, 10); break;
		case 'r': cfg.template_refresh = strtoul(optarg, NULL, 10); break;
		case 'R': cfg.template_refresh_messages = strtoul(optarg, NULL, 10); break;
		case '9': netflow9 = true; break;
		case 's': cfg.sampling = strtoul(optarg, NULL, 10); break;
		case 'a': rate = strtoul(optarg, NULL, 10); break;
		case 'b': burst = strtoul(optarg, NULL, 10); break;
		case 'n': nat_events = true; break;
		case 'F': no_flows = true; break;
		case 'S': spool_dir = optarg; break;
		case 'M': cfg.spool_max_bytes = strtoul(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: xf-send-records --collector URL [options]\n");
			return 1;
		}
	}
	if (!cfg.n_collectors) {
		fprintf(stderr, "xf-send-records: no --collector\n");
		return 1;
	}
	for (int i = 0; i < cfg.n_collectors; i++) {
		cfg.collectors[i].mtu = mtu;
		cfg.collectors[i].rate = rate;
		cfg.collectors[i].burst = burst;
		cfg.collectors[i].protocol = netflow9 ? XF_PROTO_NETFLOW9 : XF_PROTO_IPFIX;
		cfg.collectors[i].nat_events = nat_events;
		cfg.collectors[i].no_flows = no_flows;
		cfg.collectors[i].spool = spool_dir &&
					  cfg.collectors[i].transport == XF_TRANSPORT_TCP;
	}
	if (spool_dir)
		snprintf(cfg.spool_dir, sizeof(cfg.spool_dir), "%s", spool_dir);
	log_init(true, LOG_LEVEL_INFO, "xf-send-records");
	/* poll() watches fd 0: keep no lines hidden in a stdio buffer */
	setvbuf(stdin, NULL, _IONBF, 0);
	exp = exporter_new(&cfg, err, sizeof(err));
	if (!exp) {
		fprintf(stderr, "xf-send-records: %s\n", err);
		return 1;
	}

	for (;;) {
		struct pollfd pfd = { .fd = 0, .events = POLLIN };
		struct flow_record recs[8];
		unsigned long n;
		int k = 0;

		exporter_tick(exp, clock_mono_ms());
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if (!fgets(line, sizeof(line), stdin))
			break;
		line[strcspn(line, "\r\n")] = '\0';
		if (!strcmp(line, "send a")) {
			k = set_a(recs);
		} else if (!strcmp(line, "send b")) {
			k = set_b(recs);
		} else if (sscanf(line, "bulk %lu", &n) == 1) {
			unsigned long first = 1;

			if (sscanf(line, "bulk %lu %lu", &n, &first) < 2)
				first = 1;
			for (unsigned long i = first; i < first + n; i++) {
				bulk_record(&recs[0], i);
				exporter_add(exp, &recs[0]);
			}
		} else if (sscanf(line, "paced %lu", &n) == 1) {
			paced(exp, n);
		} else if (!strcmp(line, "flush")) {
			exporter_flush(exp);
		} else if (sscanf(line, "sleep %lu", &n) == 1) {
			uint64_t until = clock_mono_ms() + n;

			while (clock_mono_ms() < until) {
				exporter_tick(exp, clock_mono_ms());
				usleep(50000);
			}
		} else if (!strcmp(line, "stats")) {
			print_stats(exp);
		} else if (!strncmp(line, "iface ", 6)) {
			char name[64] = "";
			int pos = 0;

			if (sscanf(line + 6, "%lu %63s %n", &n, name, &pos) < 2) {
				fprintf(stderr, "xf-send-records: iface IDX NAME DESC\n");
				exporter_free(exp);
				return 1;
			}
			exporter_set_interface(exp, n, name, pos ? line + 6 + pos : "");
		} else if (!strcmp(line, "metering")) {
			struct ipfix_metering m;

			metering(&m);
			exporter_set_metering(exp, &m);
		} else if (!strcmp(line, "options")) {
			exporter_send_options(exp);
		} else if (!strcmp(line, "natev")) {
			natev_set(exp);
		} else if (sscanf(line, "natev %lu", &n) == 1) {
			natev_bulk(exp, n);
		} else if (!strcmp(line, "quit")) {
			break;
		} else if (line[0]) {
			fprintf(stderr, "xf-send-records: unknown command '%s'\n", line);
			exporter_free(exp);
			return 1;
		}
		for (int i = 0; i < k; i++)
			exporter_add(exp, &recs[i]);
	}
	exporter_flush(exp);
	exporter_tick(exp, clock_mono_ms());
	exporter_free(exp);
	return 0;
}
