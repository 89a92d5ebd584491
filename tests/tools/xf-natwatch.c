// SPDX-License-Identifier: GPL-2.0-only
/*
 * xf-natwatch: run the NAT translation source (src/xlat_source.c) alone and
 * print every translation as one JSON line on stdout, for the VM tests.
 *
 *   xf-natwatch --mode auto|fentry|kprobe|conntrack [--events] [--destroy]
 *               [--count N] [--timeout SEC]
 *
 * Lines have "kind": "seen" (the flow enrichment's translations), with
 * --events also "create", "delete", "ports_exhausted", "table_full" (the NAT
 * event log's struct nat_event), with --destroy "destroy" (what the
 * daemon's translation table is told to forget). ts_ns is CLOCK_MONOTONIC,
 * wall_ns the same instant on CLOCK_REALTIME (converted when printed).
 *
 * stderr gets "xf-natwatch: mode <name>" once the source is attached (tests
 * wait for it before sending traffic), with --events "xf-natwatch: events
 * KIND..." (the kinds attached), and "xf-natwatch: counters ..." at exit.
 * Exit status: 0 when --count events arrived (or, without --count, on
 * timeout/signal), 1 when the timeout hit first, 2 on usage or load errors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "xlat_source.h"

static volatile sig_atomic_t stop;
static unsigned long seen;

static void on_signal(int sig)
{
	stop = 1;
}

static const char *proto_name(uint8_t proto, char *buf, size_t len)
{
	switch (proto) {
	case 1: return "icmp";
	case 6: return "tcp";
	case 17: return "udp";
	case 58: return "icmpv6";
	case 132: return "sctp";
	case 136: return "udplite";
	}
	snprintf(buf, len, "%u", proto);
	return buf;
}

static const char *source_name(uint8_t source)
{
	switch (source) {
	case XF_XLAT_SRC_FENTRY: return "fentry";
	case XF_XLAT_SRC_KPROBE: return "kprobe";
	case XF_XLAT_SRC_CONNTRACK: return "conntrack";
	}
	return "unknown";
}

/* "198.18.1.2:40000->198.19.0.10:80" or "[2001:db8:1::2]:40000->[...]:80" */
static void tuple_text(const struct xf_tuple *t, char *buf, size_t len)
{
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	int af = t->family == XF_FAMILY_IPV6 ? AF_INET6 : AF_INET;
	const char *fmt = af == AF_INET6 ? "[%s]:%u->[%s]:%u" : "%s:%u->%s:%u";

	inet_ntop(af, t->src_addr, src, sizeof(src));
	inet_ntop(af, t->dst_addr, dst, sizeof(dst));
	snprintf(buf, len, fmt, src, t->src_port, dst, t->dst_port);
}

static const char *kind_name(uint8_t kind)
{
	switch (kind) {
	case XF_XLAT_KIND_SEEN: return "seen";
	case XF_XLAT_KIND_CREATE: return "create";
	case XF_XLAT_KIND_DELETE: return "delete";
	case XF_XLAT_KIND_PORTS_EXHAUSTED: return "ports_exhausted";
	case XF_XLAT_KIND_TABLE_FULL: return "table_full";
	}
	return "unknown";
}

/* CLOCK_REALTIME - CLOCK_MONOTONIC now, to print event times as wall clock */
static int64_t wall_offset_ns(void)
{
	struct xf_clock clk;

	clock_sync(&clk);
	return clk.offset_ns;
}

/* The fields every line has, without the closing brace. */
static void print_common(const char *kind, uint8_t source, const struct xf_tuple *o,
			 const struct xf_tuple *r, uint16_t zone, uint64_t ts_ns)
{
	char orig[128], reply[128], pbuf[8];

	tuple_text(o, orig, sizeof(orig));
	tuple_text(r, reply, sizeof(reply));
	printf("{\"kind\":\"%s\",\"source\":\"%s\",\"family\":%u,\"proto\":\"%s\","
	       "\"zone\":%u,\"orig\":\"%s\",\"reply\":\"%s\",\"reply_family\":%u,"
	       "\"reply_proto\":%u,\"ts_ns\":%" PRIu64 ",\"wall_ns\":%" PRId64,
	       kind, source_name(source), o->family, proto_name(o->proto, pbuf, sizeof(pbuf)), zone,
	       orig, reply, r->family, r->proto, ts_ns, (int64_t)ts_ns + wall_offset_ns());
}

static void print_event(void *ctx, const struct xf_xlat_event *ev)
{
	print_common(ctx ? "destroy" : kind_name(ev->kind), ev->source, &ev->orig, &ev->reply,
		     ev->zone_id, ev->ts_ns);
	printf("}\n");
	fflush(stdout);
	seen++;
}

static void print_nat_event(void *ctx, const struct nat_event *ev)
{
	print_common(kind_name(ev->kind), ev->source, &ev->orig, &ev->reply, ev->zone_id,
		     ev->time_mono_ns);
	printf(",\"flags\":%u,\"count\":%" PRIu64, ev->flags, ev->count);
	if (ev->kind == XF_XLAT_KIND_DELETE)
		printf(",\"start_wall_ns\":%" PRIu64 ",\"packets\":[%" PRIu64 ",%" PRIu64
		       "],\"octets\":[%" PRIu64 ",%" PRIu64 "]",
		       ev->start_wall_ns, ev->packets[0], ev->packets[1], ev->octets[0],
		       ev->octets[1]);
	printf("}\n");
	fflush(stdout);
	seen++;
}

static void usage(void)
{
	fprintf(stderr, "usage: xf-natwatch --mode auto|fentry|kprobe|conntrack [--count N] "
			"[--timeout SEC] [--events] [--destroy] [-v]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "count", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "events", no_argument, NULL, 'e' },
		{ "destroy", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	enum xf_nat_hook mode = XF_NAT_AUTO;
	unsigned long count = 0;
	double timeout = 0;
	uint64_t deadline = 0, cnt[XF_CNT_MAX];
	struct epoll_event epev = { .events = EPOLLIN };
	struct xlat_source *h;
	char err[512];
	int c, ep, rc = 0, verbose = 0, events = 0, destroy = 0;

	while ((c = getopt_long(argc, argv, "m:c:t:ved", opts, NULL)) != -1) {
		switch (c) {
		case 'm': {
			/* the daemon's names; "off" would watch nothing */
			int m = config_nat_hook_parse(optarg);

			if (m < 0 || m == XF_NAT_OFF)
				usage();
			mode = (enum xf_nat_hook)m;
			break;
		}
		case 'c': count = strtoul(optarg, NULL, 10); break;
		case 't': timeout = strtod(optarg, NULL); break;
		case 'v': verbose = 1; break;
		case 'e': events = 1; break;
		case 'd': destroy = 1; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();

	log_init(true, verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO, "xf-natwatch");
	log_route_libraries();
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (xlat_source_open(&h, mode, print_event, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "xf-natwatch: %s\n", err);
		return 2;
	}
	if (destroy)
		xlat_source_set_destroy_cb(h, print_event, &destroy);
	if (events) {
		uint32_t kinds;

		xlat_source_set_nat_event_cb(h, print_nat_event, NULL);
		kinds = xlat_source_nat_event_kinds(h);
		fprintf(stderr, "xf-natwatch: events");
		for (uint8_t k = XF_XLAT_KIND_CREATE; k <= XF_XLAT_KIND_TABLE_FULL; k++)
			if (kinds & (1U << k))
				fprintf(stderr, " %s", kind_name(k));
		fprintf(stderr, "\n");
	}
	fprintf(stderr, "xf-natwatch: mode %s\n", config_nat_hook_name(xlat_source_mode(h)));

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, xlat_source_fd(h), &epev) < 0) {
		fprintf(stderr, "xf-natwatch: epoll: %s\n", strerror(errno));
		xlat_source_free(h);
		return 2;
	}
	if (timeout > 0)
		deadline = clock_mono_ms() + (uint64_t)(timeout * 1000);

	while (!stop && (!count || seen < count)) {
		int wait_ms = 200, n;

		if (deadline) {
			uint64_t now = clock_mono_ms();

			if (now >= deadline) {
				rc = count ? 1 : 0;
				break;
			}
			if (deadline - now < (uint64_t)wait_ms)
				wait_ms = (int)(deadline - now);
		}
		n = epoll_wait(ep, &epev, 1, wait_ms);
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "xf-natwatch: epoll_wait: %s\n", strerror(errno));
			rc = 2;
			break;
		}
		if (n > 0 && xlat_source_poll(h) < 0) {
			fprintf(stderr, "xf-natwatch: poll failed\n");
			rc = 2;
			break;
		}
	}
	/* events still queued when --count or the deadline hit */
	if (rc != 2 && (!count || seen < count))
		xlat_source_poll(h);
	if (count && seen >= count)
		rc = 0;

	if (xlat_source_read_counters(h, cnt) == 0)
		fprintf(stderr,
			"xf-natwatch: counters calls=%" PRIu64 " events=%" PRIu64
			" rb_lost=%" PRIu64 " unsupported=%" PRIu64 " printed=%lu misses=%" PRIu64
			" map_full=%" PRIu64 " create=%" PRIu64 " delete=%" PRIu64
			" ports_exhausted=%" PRIu64 " table_full=%" PRIu64 " lost_create=%" PRIu64
			" lost_delete=%" PRIu64 " lost_ports_exhausted=%" PRIu64
			" lost_table_full=%" PRIu64 "\n",
			cnt[XF_CNT_XLAT_CALLS], cnt[XF_CNT_XLAT_EVENTS], cnt[XF_CNT_XLAT_RB_LOST],
			cnt[XF_CNT_XLAT_UNSUPPORTED], seen, cnt[XF_CNT_XLAT_MISSES],
			cnt[XF_CNT_XLAT_MAP_FULL], cnt[XF_CNT_NATEV_CREATE],
			cnt[XF_CNT_NATEV_DELETE], cnt[XF_CNT_NATEV_PORTS_EXHAUSTED],
			cnt[XF_CNT_NATEV_TABLE_FULL], cnt[XF_CNT_NATEV_LOST_CREATE],
			cnt[XF_CNT_NATEV_LOST_DELETE], cnt[XF_CNT_NATEV_LOST_PORTS_EXHAUSTED],
			cnt[XF_CNT_NATEV_LOST_TABLE_FULL]);
	close(ep);
	xlat_source_free(h);
	return rc;
}
