// SPDX-License-Identifier: GPL-2.0-only
/*
 * xf-send-records: drive the exporter (export.h) with fixed flow records,
 * for the end-to-end export tests.
 *
 *   xf-send-records --collector URL [--odid N] [--pen N] [--zone-as-vrf]
 *                   [--mtu N] [--refresh SEC] [--refresh-messages N]
 *                   [--netflow9] [--sampling N] [--rate N] [--burst N]
 *
 * --rate and --burst pace every UDP collector (records/s, records; the
 * default 0 sends unpaced).
 * --netflow9 makes every collector a NetFlow v9 one (protocol = "netflow9").
 * URL is udp://ADDR:PORT or tcp://ADDR:PORT (ADDR numeric; [v6] allowed).
 * Commands come on stdin, one per line; between them the exporter ticks
 * every 100 ms (reconnects, template refresh):
 *   send a | send b     export record set a (4 records) or b (2 records)
 *   bulk N              export N IPv4 records with packets = 1..N
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

	exporter_get_stats(exp, &st);
	printf("{\"messages\":%" PRIu64 ",\"records\":%" PRIu64 ",\"records_dropped\":%" PRIu64
	       ",\"packets_dropped\":%" PRIu64 ",\"octets_dropped\":%" PRIu64 ",\"bytes\":%" PRIu64
	       "}\n",
	       st.messages, st.records, st.records_dropped, st.packets_dropped, st.octets_dropped,
	       st.bytes);
	fflush(stdout);
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
		{ NULL, 0, NULL, 0 },
	};
	static struct xf_config cfg;
	struct exporter *exp;
	char err[512] = "", line[256];
	uint16_t mtu = 1500;
	uint32_t rate = 0, burst = 1;
	bool netflow9 = false;
	int opt;

	cfg.observation_domain_id = 1;
	cfg.enterprise_number = 32473;
	cfg.template_refresh = 600;
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
	}
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
			for (unsigned long i = 1; i <= n; i++) {
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
