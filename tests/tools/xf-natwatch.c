// SPDX-License-Identifier: GPL-2.0-only
/*
 * xf-natwatch: run the NAT translation source (src/xlat_source.c) alone and
 * print every translation as one JSON line on stdout, for the VM tests.
 *
 *   xf-natwatch --mode auto|fentry|kprobe|conntrack [--count N] [--timeout SEC]
 *
 * stderr gets "xf-natwatch: mode <name>" once the source is attached (tests
 * wait for it before sending traffic) and "xf-natwatch: counters ..." at exit.
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
#include <time.h>
#include <unistd.h>

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

static void print_event(void *ctx, const struct xf_xlat_event *ev)
{
	char orig[128], reply[128], pbuf[8];

	tuple_text(&ev->orig, orig, sizeof(orig));
	tuple_text(&ev->reply, reply, sizeof(reply));
	printf("{\"source\":\"%s\",\"family\":%u,\"proto\":\"%s\",\"zone\":%u,"
	       "\"orig\":\"%s\",\"reply\":\"%s\",\"reply_family\":%u,\"reply_proto\":%u,"
	       "\"ts_ns\":%" PRIu64 "}\n",
	       source_name(ev->source), ev->orig.family,
	       proto_name(ev->orig.proto, pbuf, sizeof(pbuf)), ev->zone_id, orig, reply,
	       ev->reply.family, ev->reply.proto, (uint64_t)ev->ts_ns);
	fflush(stdout);
	seen++;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(void)
{
	fprintf(stderr, "usage: xf-natwatch --mode auto|fentry|kprobe|conntrack [--count N] "
			"[--timeout SEC] [-v]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "count", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	enum xf_nat_hook mode = XF_NAT_AUTO;
	unsigned long count = 0;
	double timeout = 0;
	uint64_t deadline = 0, cnt[XF_CNT_MAX];
	struct epoll_event epev = { .events = EPOLLIN };
	struct xlat_source *h;
	char err[512];
	int c, ep, rc = 0, verbose = 0;

	while ((c = getopt_long(argc, argv, "m:c:t:v", opts, NULL)) != -1) {
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
	fprintf(stderr, "xf-natwatch: mode %s\n", config_nat_hook_name(xlat_source_mode(h)));

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, xlat_source_fd(h), &epev) < 0) {
		fprintf(stderr, "xf-natwatch: epoll: %s\n", strerror(errno));
		xlat_source_free(h);
		return 2;
	}
	if (timeout > 0)
		deadline = now_ms() + (uint64_t)(timeout * 1000);

	while (!stop && (!count || seen < count)) {
		int wait_ms = 200, n;

		if (deadline) {
			uint64_t now = now_ms();

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
			" rb_lost=%" PRIu64 " unsupported=%" PRIu64 " printed=%lu\n",
			cnt[XF_CNT_XLAT_CALLS], cnt[XF_CNT_XLAT_EVENTS], cnt[XF_CNT_XLAT_RB_LOST],
			cnt[XF_CNT_XLAT_UNSUPPORTED], seen);
	close(ep);
	xlat_source_free(h);
	return rc;
}
