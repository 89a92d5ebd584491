// SPDX-License-Identifier: GPL-2.0-only
/*
 * How long the conntrack source holds up an event loop while it dumps a big
 * table (bench/conntrack.sh fills one). Runs the source as the daemon does:
 * waits on its descriptor, calls xlat_conntrack_dispatch(), and times every
 * call (wall clock and this thread's CPU time) until START_DUMPS dumps have
 * completed with the refresh period REFRESH_MS. Then, as the reference, one
 * synchronous dump to the end in a single call (xlat_conntrack_resync: what
 * the source did inside one dispatch before dumps were sliced).
 *
 *   conntrack_stall [-e] [-d DUMPS] [-r REFRESH_MS]
 *   -e  with a NAT event callback (session tracking, statistics poll)
 *
 * Prints one line: translations=N dumps=N dispatches=N max_wall_ms=X
 * max_cpu_ms=X start_dump_ms=X sync_wall_ms=X sync_cpu_ms=X sessions=N
 * rss_kib=N (the longest dispatch, how long the sliced start dump took from
 * open to its end, the synchronous dump, sessions tracked, resident memory).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"
#include "log.h"
#include "xlat_conntrack.h"

static uint64_t translations;

static void on_xlat(void *ctx, const struct xf_xlat_event *ev)
{
	translations++;
}

static void on_nat_event(void *ctx, const struct nat_event *ev)
{
}

static double thread_cpu_ms(void)
{
	return bench_clock_s(CLOCK_THREAD_CPUTIME_ID) * 1e3;
}

int main(int argc, char **argv)
{
	struct xlat_conntrack_stats st;
	struct xlat_conntrack *c;
	struct pollfd pfd = { .events = POLLIN };
	unsigned long dumps = 2, refresh_ms = 1000, dispatches = 0;
	double max_wall = 0, max_cpu = 0, t0, start_dump = 0, w, u;
	bool events = false;
	char err[256];
	int opt, ret;

	while ((opt = getopt(argc, argv, "ed:r:")) != -1) {
		switch (opt) {
		case 'e': events = true; break;
		case 'd': dumps = strtoul(optarg, NULL, 10); break;
		case 'r': refresh_ms = strtoul(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: %s [-e] [-d DUMPS] [-r REFRESH_MS]\n", argv[0]);
			return 2;
		}
	}
	log_init(true, LOG_LEVEL_WARN, "conntrack_stall");
	c = xlat_conntrack_open(on_xlat, NULL, err, sizeof(err));
	if (!c) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (events)
		xlat_conntrack_set_nat_event_cb(c, on_nat_event, NULL);
	if (xlat_conntrack_set_refresh(c, refresh_ms) < 0)
		return 1;
	pfd.fd = xlat_conntrack_fd(c);
	t0 = bench_wall_s();
	do {
		if (poll(&pfd, 1, 5000) != 1) {
			fprintf(stderr, "nothing to do for 5 s\n");
			return 1;
		}
		w = bench_wall_s();
		u = thread_cpu_ms();
		ret = xlat_conntrack_dispatch(c);
		w = (bench_wall_s() - w) * 1e3;
		u = thread_cpu_ms() - u;
		if (ret < 0) {
			fprintf(stderr, "dispatch: %s\n", strerror(-ret));
			return 1;
		}
		dispatches++;
		max_wall = w > max_wall ? w : max_wall;
		max_cpu = u > max_cpu ? u : max_cpu;
		xlat_conntrack_get_stats(c, &st);
		if (st.dumps && !start_dump)
			start_dump = (bench_wall_s() - t0) * 1e3;
	} while (st.dumps < dumps);

	w = bench_wall_s();
	u = thread_cpu_ms();
	ret = xlat_conntrack_resync(c);
	w = (bench_wall_s() - w) * 1e3;
	u = thread_cpu_ms() - u;
	if (ret < 0) {
		fprintf(stderr, "resync: %s\n", strerror(-ret));
		return 1;
	}
	xlat_conntrack_get_stats(c, &st);
	printf("translations=%llu dumps=%lu dispatches=%lu max_wall_ms=%.1f max_cpu_ms=%.1f "
	       "start_dump_ms=%.0f sync_wall_ms=%.0f sync_cpu_ms=%.0f sessions=%llu rss_kib=%ld\n",
	       (unsigned long long)translations, dumps, dispatches, max_wall, max_cpu, start_dump,
	       w, u, (unsigned long long)st.sessions, bench_rss_bytes() / 1024);
	xlat_conntrack_free(c);
	return 0;
}
