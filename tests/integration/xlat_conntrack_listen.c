// SPDX-License-Identifier: GPL-2.0-only
/*
 * Helper of xlat_conntrack_test.sh: runs the conntrack translation source
 * (in whatever network namespace it is started in), prints every event it
 * delivers as one line, feeds them to a translation table, and on SIGTERM
 * prints the table's answer for each flow given with -l.
 *
 *   DUMP|EVENT|DESTROY zone=Z PROTO SRC:SPORT>DST:DPORT reply SRC:SPORT>DST:DPORT
 *   READY                      (after the start dump)
 *   LOOKUP PROTO SRC:SPORT>DST:DPORT pre ... post ... observed=O type=T zone=Z | none
 *   STATS dumps=N enobufs=N errors=N
 *
 * usage: xlat_conntrack_listen [-q] [-p pause_ms] [-r refresh_ms]
 *                              [-l proto,src,sport,dst,dport]...
 *   -q  do not print events (floods); -p  stop reading after READY until
 *   SIGUSR1 or pause_ms, so a flood overruns the socket; -r  refresh period
 *   (0 = off).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "xlat.h"
#include "xlat_conntrack.h"

#define MAX_LOOKUPS 32

static volatile sig_atomic_t stop, resume;
static const char *phase = "DUMP";
static struct xlat_table *table;
static bool quiet;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		resume = 1;
	else
		stop = 1;
}

static const char *proto_name(uint8_t proto)
{
	static char num[8];

	switch (proto) {
	case IPPROTO_TCP: return "tcp";
	case IPPROTO_UDP: return "udp";
	case IPPROTO_ICMP: return "icmp";
	case IPPROTO_ICMPV6: return "icmpv6";
	default: snprintf(num, sizeof(num), "%u", proto); return num;
	}
}

static int proto_parse(const char *name)
{
	if (!strcmp(name, "tcp"))
		return IPPROTO_TCP;
	if (!strcmp(name, "udp"))
		return IPPROTO_UDP;
	if (!strcmp(name, "icmp"))
		return IPPROTO_ICMP;
	if (!strcmp(name, "icmpv6"))
		return IPPROTO_ICMPV6;
	return -1;
}

static void endpoint(char *out, size_t len, uint8_t family, const uint8_t *addr, uint16_t port)
{
	char a[INET6_ADDRSTRLEN];

	if (family == XF_FAMILY_IPV6) {
		inet_ntop(AF_INET6, addr, a, sizeof(a));
		snprintf(out, len, "[%s]:%u", a, port);
	} else {
		inet_ntop(AF_INET, addr, a, sizeof(a));
		snprintf(out, len, "%s:%u", a, port);
	}
}

static void print_pair(uint8_t family, const uint8_t *src, uint16_t sport, const uint8_t *dst,
		       uint16_t dport)
{
	char s[64], d[64];

	endpoint(s, sizeof(s), family, src, sport);
	endpoint(d, sizeof(d), family, dst, dport);
	printf("%s>%s", s, d);
}

static void print_event(const char *kind, const struct xf_xlat_event *ev)
{
	static const uint8_t zero[5];

	if (quiet)
		return;
	/* What a consumer may rely on, checked on every event. */
	if (ev->source != XF_XLAT_SRC_CONNTRACK || ev->ts_ns == 0 ||
	    memcmp(ev->pad, zero, sizeof(ev->pad)) != 0 || ev->orig.proto != ev->reply.proto ||
	    ev->orig.family != ev->reply.family)
		printf("BAD source=%u ts=%llu\n", ev->source, (unsigned long long)ev->ts_ns);
	printf("%s zone=%u %s ", kind, ev->zone_id, proto_name(ev->orig.proto));
	print_pair(ev->orig.family, ev->orig.src_addr, ev->orig.src_port, ev->orig.dst_addr,
		   ev->orig.dst_port);
	printf(" reply ");
	print_pair(ev->reply.family, ev->reply.src_addr, ev->reply.src_port, ev->reply.dst_addr,
		   ev->reply.dst_port);
	printf("\n");
}

static void on_xlat(void *ctx, const struct xf_xlat_event *ev)
{
	print_event(phase, ev);
	xlat_table_update(table, ev, ev->ts_ns / 1000000);
}

static void on_destroy(void *ctx, const struct xf_xlat_event *ev)
{
	print_event("DESTROY", ev);
	xlat_table_remove(table, &ev->orig);
}

static int parse_lookup(const char *spec, struct xf_flow_key *k)
{
	char buf[256], *f[5], *save = NULL;
	int proto, n = 0;

	snprintf(buf, sizeof(buf), "%s", spec);
	for (char *t = strtok_r(buf, ",", &save); t && n < 5; t = strtok_r(NULL, ",", &save))
		f[n++] = t;
	if (n != 5 || (proto = proto_parse(f[0])) < 0)
		return -EINVAL;
	memset(k, 0, sizeof(*k));
	k->proto = (uint8_t)proto;
	k->family = strchr(f[1], ':') ? XF_FAMILY_IPV6 : XF_FAMILY_IPV4;
	int af = k->family == XF_FAMILY_IPV6 ? AF_INET6 : AF_INET;

	if (inet_pton(af, f[1], k->src_addr) != 1 || inet_pton(af, f[3], k->dst_addr) != 1)
		return -EINVAL;
	k->src_port = (uint16_t)atoi(f[2]);
	k->dst_port = (uint16_t)atoi(f[4]);
	return 0;
}

static void print_lookup(const struct xf_flow_key *k)
{
	struct xlat_info xi;

	printf("LOOKUP %s ", proto_name(k->proto));
	print_pair(k->family, k->src_addr, k->src_port, k->dst_addr, k->dst_port);
	if (!xlat_table_lookup(table, k, &xi)) {
		printf(" none\n");
		return;
	}
	printf(" pre ");
	print_pair(k->family, xi.pre_src, xi.pre_sport, xi.pre_dst, xi.pre_dport);
	printf(" post ");
	print_pair(k->family, xi.post_src, xi.post_sport, xi.post_dst, xi.post_dport);
	printf(" observed=%u type=%u zone=%u\n", xi.observed, xi.type, xi.zone_id);
}

int main(int argc, char **argv)
{
	struct xf_flow_key lookups[MAX_LOOKUPS];
	struct xlat_conntrack_stats st;
	struct xlat_conntrack *c;
	struct pollfd pfd;
	long refresh_ms = -1, pause_ms = 0;
	int n_lookups = 0, opt, ret;
	char err[256] = "";

	while ((opt = getopt(argc, argv, "qp:r:l:")) != -1) {
		switch (opt) {
		case 'q': quiet = true; break;
		case 'p': pause_ms = atol(optarg); break;
		case 'r': refresh_ms = atol(optarg); break;
		case 'l':
			if (n_lookups == MAX_LOOKUPS ||
			    parse_lookup(optarg, &lookups[n_lookups]) < 0) {
				fprintf(stderr, "bad -l %s\n", optarg);
				return 2;
			}
			n_lookups++;
			break;
		default:
			fprintf(stderr,
				"usage: %s [-q] [-p pause_ms] [-r refresh_ms] "
				"[-l proto,src,sport,dst,dport]\n",
				argv[0]);
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	log_init(true, LOG_LEVEL_INFO, "xlat_conntrack_listen");
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGUSR1, on_signal);
	table = xlat_table_new(600000, XLAT_MAX_TRANSLATIONS);

	c = xlat_conntrack_open(on_xlat, NULL, err, sizeof(err));
	if (!c) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	xlat_conntrack_set_destroy_cb(c, on_destroy, NULL);
	if (refresh_ms >= 0 && xlat_conntrack_set_refresh(c, (uint64_t)refresh_ms) < 0) {
		fprintf(stderr, "set_refresh failed\n");
		return 1;
	}

	pfd.fd = xlat_conntrack_fd(c);
	pfd.events = POLLIN;
	/* The fd must be readable at once: the start dump is due. */
	if (poll(&pfd, 1, 2000) != 1) {
		fprintf(stderr, "fd not readable after open\n");
		return 1;
	}
	ret = xlat_conntrack_dispatch(c);
	xlat_conntrack_get_stats(c, &st);
	if (ret < 0 || st.dumps != 1) {
		fprintf(stderr, "start dump failed: %d, dumps %llu\n", ret,
			(unsigned long long)st.dumps);
		return 1;
	}
	phase = "EVENT";
	printf("READY\n");
	for (long waited = 0; waited < pause_ms && !resume && !stop; waited += 10)
		usleep(10000);

	while (!stop) {
		ret = poll(&pfd, 1, 100);
		if (ret < 0 && errno != EINTR) {
			perror("poll");
			return 1;
		}
		if (ret > 0 && xlat_conntrack_dispatch(c) < 0) {
			fprintf(stderr, "dispatch failed\n");
			return 1;
		}
	}
	for (int i = 0; i < n_lookups; i++)
		print_lookup(&lookups[i]);
	xlat_conntrack_get_stats(c, &st);
	printf("STATS dumps=%llu enobufs=%llu errors=%llu\n", (unsigned long long)st.dumps,
	       (unsigned long long)st.enobufs, (unsigned long long)st.errors);
	fprintf(stderr, "events=%llu reported=%llu destroyed=%llu ignored=%llu\n",
		(unsigned long long)st.events, (unsigned long long)st.reported,
		(unsigned long long)st.destroyed, (unsigned long long)st.ignored);
	xlat_conntrack_free(c);
	xlat_conntrack_free(NULL);
	xlat_table_free(table);
	return 0;
}
