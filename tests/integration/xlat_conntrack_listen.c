// SPDX-License-Identifier: GPL-2.0-only
/*
 * Probe of the conntrack source (src/xlat_conntrack.c), for
 * xlat_conntrack_test.sh, conntrack_events.sh, conntrack_rate.sh and
 * bench/conntrack.sh: runs the source in whatever network namespace it is
 * started in, prints every translation it delivers as one line, feeds them
 * to a translation table, and on SIGTERM prints the table's answer for each
 * flow given with -l. With -e it also prints the NAT events.
 *
 *   DUMP|EVENT|DESTROY zone=Z PROTO SRC:SPORT>DST:DPORT reply SRC:SPORT>DST:DPORT
 *   READY                      (after the start dump)
 *   NAT KIND zone=Z PROTO SRC:SPORT>DST:DPORT reply SRC:SPORT>DST:DPORT flags=F
 *       start=NS pkts=O/R bytes=O/R count=N time=WALL_SECONDS
 *   LOOKUP PROTO SRC:SPORT>DST:DPORT pre ... post ... observed=O type=T zone=Z | none
 *   STATS dumps=N enobufs=N errors=N
 *   NATSTATS name=value ...    (-e: every event-log counter of the source)
 *   DIGEST creates=N deletes=N recovered=N bad_recovered=N create_sum=X delete_sum=X   (-c)
 *       (bad_recovered: CREATEs flagged recovered without their start time)
 *
 * usage: xlat_conntrack_listen [-q] [-e] [-c] [-U] [-X] [-p pause_ms] [-r refresh_ms]
 *                              [-D deletes] [-G high,low] [-l proto,src,sport,dst,dport]...
 *   -q  do not print translations (floods); -e  NAT events; -c  NAT events
 *   as a digest only (tests/tools/tuple_digest.h); -U  unreliable delivery;
 *   -X  set the conntrack sysctls as the daemon does; -p  stop reading after
 *   READY until SIGUSR1 or pause_ms, so a flood overruns the socket;
 *   -r  refresh period (0 = off); -D  exit once this many DELETEs arrived;
 *   -G  the table-full guard's percentages (xlat_conntrack_set_guard).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "tuple_digest.h"
#include "xlat.h"
#include "xlat_conntrack.h"

#define MAX_LOOKUPS 32

static volatile sig_atomic_t stop, resume;
static const char *phase = "DUMP";
static struct xlat_table *table;
static bool quiet, digest;
static struct xf_clock wall;
static uint64_t creates, deletes, recovered, create_sum, delete_sum, want_deletes;
static uint64_t bad_recovered; /* recovered CREATEs not at their start time */

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

static void print_tuples(uint16_t zone, const struct xf_tuple *o, const struct xf_tuple *r)
{
	printf("zone=%u %s ", zone, proto_name(o->proto));
	print_pair(o->family, o->src_addr, o->src_port, o->dst_addr, o->dst_port);
	printf(" reply ");
	print_pair(r->family, r->src_addr, r->src_port, r->dst_addr, r->dst_port);
}

static void print_event(const char *kind, const struct xf_xlat_event *ev)
{
	static const uint8_t zero[sizeof(ev->pad)];

	if (quiet)
		return;
	/* What a consumer may rely on, checked on every event. */
	if (ev->source != XF_XLAT_SRC_CONNTRACK || ev->ts_ns == 0 ||
	    memcmp(ev->pad, zero, sizeof(ev->pad)) != 0 || ev->orig.proto != ev->reply.proto ||
	    ev->orig.family != ev->reply.family ||
	    ev->kind != (strcmp(kind, "DESTROY") ? XF_XLAT_KIND_SEEN : XF_XLAT_KIND_DELETE))
		printf("BAD source=%u ts=%llu kind=%u\n", ev->source, (unsigned long long)ev->ts_ns,
		       ev->kind);
	printf("%s ", kind);
	print_tuples(ev->zone_id, &ev->orig, &ev->reply);
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

static const char *kind_name(uint8_t kind)
{
	switch (kind) {
	case XF_XLAT_KIND_CREATE: return "CREATE";
	case XF_XLAT_KIND_DELETE: return "DELETE";
	case XF_XLAT_KIND_PORTS_EXHAUSTED: return "PORTS_EXHAUSTED";
	case XF_XLAT_KIND_TABLE_FULL: return "TABLE_FULL";
	}
	return "UNKNOWN";
}

static void on_nat_event(void *ctx, const struct nat_event *ev)
{
	uint64_t wall_ns = ev->time_mono_ns + (uint64_t)wall.offset_ns;

	if (ev->kind == XF_XLAT_KIND_CREATE || ev->kind == XF_XLAT_KIND_DELETE) {
		uint64_t h = tuple_digest_hash(ev->orig.src_addr, ev->orig.dst_addr,
					       ev->orig.src_port, ev->orig.dst_port,
					       ev->orig.proto);

		if (ev->kind == XF_XLAT_KIND_CREATE) {
			creates++;
			create_sum += h;
			if (ev->flags & NAT_EVENT_F_RECOVERED) {
				int64_t off = (int64_t)wall_ns - (int64_t)ev->start_wall_ns;

				/* at the connection's start (the clocks sampled apart: 1 ms) */
				recovered++;
				bad_recovered += !(ev->flags & NAT_EVENT_F_START) ||
						 off > 1000000 || off < -1000000;
			}
		} else {
			deletes++;
			delete_sum += h;
			if (want_deletes && deletes >= want_deletes)
				stop = 1;
		}
	}
	if (digest)
		return;
	printf("NAT %s ", kind_name(ev->kind));
	print_tuples(ev->zone_id, &ev->orig, &ev->reply);
	printf(" flags=%s%s%s%s source=%u start=%" PRIu64 " pkts=%" PRIu64 "/%" PRIu64
	       " bytes=%" PRIu64 "/%" PRIu64 " count=%" PRIu64 " time=%" PRIu64 ".%06" PRIu64 "\n",
	       ev->flags & NAT_EVENT_F_RECOVERED ? "R" : "",
	       ev->flags & NAT_EVENT_F_START ? "S" : "", ev->flags & NAT_EVENT_F_ACCT ? "A" : "",
	       ev->flags ? "" : "-", ev->source, ev->start_wall_ns, ev->packets[0], ev->packets[1],
	       ev->octets[0], ev->octets[1], ev->count, (uint64_t)(wall_ns / 1000000000ULL),
	       (uint64_t)(wall_ns % 1000000000ULL / 1000));
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

static void print_natstats(const struct xlat_conntrack_stats *st)
{
	printf("NATSTATS creates=%" PRIu64 " deletes=%" PRIu64 " recovered_creates=%" PRIu64
	       " lost_deletes=%" PRIu64 " untracked_deletes=%" PRIu64 " lost_sessions=%" PRIu64
	       " duplicates=%" PRIu64 " sessions=%" PRIu64 " overruns=%" PRIu64
	       " lost_events=%" PRIu64 " reliable=%d reliable_suspended=%" PRIu64
	       " ports_exhausted=%" PRIu64 " table_full=%" PRIu64 " table_entries=%" PRIu64
	       " table_max=%" PRIu64 " insert_failed=%" PRIu64 " drop=%" PRIu64
	       " early_drop=%" PRIu64 " stats_polls=%" PRIu64 " host=%u dispatch_max_us=%" PRIu64
	       " dispatch_max_cpu_us=%" PRIu64 "\n",
	       st->creates, st->deletes, st->recovered_creates, st->lost_deletes,
	       st->untracked_deletes, st->lost_sessions, st->duplicates, st->sessions, st->overruns,
	       st->lost_events, st->reliable, st->reliable_suspended, st->ports_exhausted,
	       st->table_full, st->table_entries, st->table_max, st->insert_failed, st->drop,
	       st->early_drop, st->stats_polls, st->host, st->dispatch_max_ns / 1000,
	       st->dispatch_max_cpu_ns / 1000);
}

int main(int argc, char **argv)
{
	struct xf_flow_key lookups[MAX_LOOKUPS];
	struct xlat_conntrack_stats st;
	struct xlat_conntrack *c;
	struct rusage ru;
	struct pollfd pfd;
	long refresh_ms = -1, pause_ms = 0;
	uint64_t t0, dumps = 1;
	int n_lookups = 0, opt, ret, host;
	bool events = false, unreliable = false, extensions = false;
	unsigned int guard_high = 0, guard_low = 0;
	char err[256] = "";

	while ((opt = getopt(argc, argv, "qecUXp:r:D:G:l:")) != -1) {
		switch (opt) {
		case 'q': quiet = true; break;
		case 'e': events = true; break;
		case 'c':
			events = true;
			digest = true;
			break;
		case 'U': unreliable = true; break;
		case 'X': extensions = true; break;
		case 'p': pause_ms = atol(optarg); break;
		case 'r': refresh_ms = atol(optarg); break;
		case 'D': want_deletes = strtoull(optarg, NULL, 10); break;
		case 'G':
			if (sscanf(optarg, "%u,%u", &guard_high, &guard_low) != 2) {
				fprintf(stderr, "bad -G %s\n", optarg);
				return 2;
			}
			break;
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
				"usage: %s [-q] [-e] [-c] [-U] [-X] [-p pause_ms] [-r refresh_ms] "
				"[-D deletes] [-G high%%,low%%] [-l proto,src,sport,dst,dport]\n",
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
	clock_sync(&wall);

	if (extensions) {
		host = xlat_conntrack_enable_extensions();
		if (host < 0) {
			fprintf(stderr, "enable_extensions: %s\n", strerror(-host));
			return 1;
		}
	}
	c = xlat_conntrack_open(on_xlat, NULL, err, sizeof(err));
	if (!c) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	xlat_conntrack_set_destroy_cb(c, on_destroy, NULL);
	if (events)
		xlat_conntrack_set_nat_event_cb(c, on_nat_event, NULL);
	if (unreliable && xlat_conntrack_set_reliable(c, false) < 0)
		return 1;
	if (guard_high && xlat_conntrack_set_guard(c, guard_high, guard_low) < 0) {
		fprintf(stderr, "bad guard %u,%u\n", guard_high, guard_low);
		return 2;
	}
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
	/* The start dump is read a slice per dispatch. */
	t0 = clock_mono_ns();
	do {
		ret = xlat_conntrack_dispatch(c);
		xlat_conntrack_get_stats(c, &st);
	} while (ret >= 0 && st.dumps == 0 && poll(&pfd, 1, 2000) == 1);
	if (ret < 0 || st.dumps != 1) {
		fprintf(stderr, "start dump failed: %d, dumps %llu\n", ret,
			(unsigned long long)st.dumps);
		return 1;
	}
	phase = "EVENT";
	fprintf(stderr, "start dump: %.1f ms\n", (double)(clock_mono_ns() - t0) / 1e6);
	printf("READY\n");
	for (long waited = 0; waited < pause_ms && !resume && !stop; waited += 10)
		usleep(10000);

	while (!stop) {
		ret = poll(&pfd, 1, 100);
		if (ret < 0 && errno != EINTR) {
			perror("poll");
			return 1;
		}
		clock_sync(&wall);
		if (ret > 0 && xlat_conntrack_dispatch(c) < 0) {
			fprintf(stderr, "dispatch failed\n");
			return 1;
		}
		/* tests wait for a dump to complete */
		xlat_conntrack_get_stats(c, &st);
		if (st.dumps != dumps) {
			dumps = st.dumps;
			fprintf(stderr, "dumps=%" PRIu64 "\n", dumps);
		}
	}
	for (int i = 0; i < n_lookups; i++)
		print_lookup(&lookups[i]);
	xlat_conntrack_get_stats(c, &st);
	printf("STATS dumps=%llu enobufs=%llu errors=%llu\n", (unsigned long long)st.dumps,
	       (unsigned long long)st.enobufs, (unsigned long long)st.errors);
	if (events)
		print_natstats(&st);
	if (digest)
		printf("DIGEST creates=%" PRIu64 " deletes=%" PRIu64 " recovered=%" PRIu64
		       " bad_recovered=%" PRIu64 " create_sum=%016" PRIx64 " delete_sum=%016" PRIx64
		       "\n",
		       creates, deletes, recovered, bad_recovered, create_sum, delete_sum);
	getrusage(RUSAGE_SELF, &ru);
	fprintf(stderr, "events=%llu reported=%llu destroyed=%llu ignored=%llu cpu_s=%.3f\n",
		(unsigned long long)st.events, (unsigned long long)st.reported,
		(unsigned long long)st.destroyed, (unsigned long long)st.ignored,
		(double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
			(double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	xlat_conntrack_free(c);
	xlat_conntrack_free(NULL);
	xlat_table_free(table);
	return 0;
}
