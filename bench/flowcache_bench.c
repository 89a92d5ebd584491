// SPDX-License-Identifier: GPL-2.0-only
/*
 * Flow cache scaling and memory, 1k -> 1M flows (src/flowcache.c):
 *   insert   flowcache_update of a new flow
 *   update   flowcache_update of a cached flow (the next drain cycle)
 *   expire   flowcache_expire with every flow idle (export callback no-op)
 *   bytes    heap growth per flow (mallinfo2: arena + mmapped blocks) and
 *            resident-set growth per flow (/proc/self/statm)
 * Ratios: cost at N over cost at the smallest N (flat = 1.00), bytes per
 * flow over the 96 bytes of payload a flow carries (key 48 + stats 48).
 *
 *   flowcache_bench [-m MAX_FLOWS] [-d DATAFILE]
 * DATAFILE gets "flows insert_ns update_ns expire_ns bytes_per_flow" lines
 * for bench/scaling.gp.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "benchutil.h"
#include "flowcache.h"

#define NS 1000000000ull

static uint64_t exported;

static void on_export(void *ctx, const struct xf_flow_key *key, const struct xf_flow_stats *st,
		      enum flow_end_reason reason)
{
	(void)ctx;
	(void)key;
	(void)st;
	(void)reason;
	exported++;
}

static size_t heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static void make_key(struct xf_flow_key *k, uint32_t i)
{
	uint32_t src = htonl(0xc6120000u | (i >> 8 & 0xffff)),
		 dst = htonl(0xc6130000u | (i & 0xff));

	memset(k, 0, sizeof(*k));
	memcpy(k->src_addr, &src, 4);
	memcpy(k->dst_addr, &dst, 4);
	k->src_port = (uint16_t)(1024 + i % 60000);
	k->dst_port = 443;
	k->ifindex = 2;
	k->proto = IPPROTO_TCP;
	k->family = XF_FAMILY_IPV4;
}

struct result {
	uint32_t flows;
	double insert_ns, update_ns, expire_ns;
	double heap_per_flow, rss_per_flow;
	long rss_total;
};

static void run(uint32_t n, struct result *r)
{
	struct flowcache_timeouts t = { .active_ns = 3600 * NS,
					.idle_ns = 60 * NS,
					.fin_grace_ns = NS };
	struct xf_flow_key *keys = malloc((size_t)n * sizeof(*keys));
	struct xf_flow_stats st = {
		.packets = 3, .octets = 300, .first_ns = NS, .last_ns = 2 * NS, .tcp_flags = 0x10
	};
	struct flowcache *fc;
	size_t heap0;
	long rss0;
	double t0;

	for (uint32_t i = 0; i < n; i++)
		make_key(&keys[i], i);
	malloc_trim(0);
	heap0 = heap_bytes();
	rss0 = bench_rss_bytes();
	fc = flowcache_new(n, &t, on_export, NULL);
	t0 = bench_cpu_s();
	for (uint32_t i = 0; i < n; i++)
		flowcache_update(fc, &keys[i], &st);
	r->insert_ns = (bench_cpu_s() - t0) / n * 1e9;
	r->heap_per_flow = (double)(heap_bytes() - heap0) / n;
	r->rss_per_flow = (double)(bench_rss_bytes() - rss0) / n;
	r->rss_total = bench_rss_bytes();

	st.first_ns = 3 * NS;
	st.last_ns = 4 * NS;
	t0 = bench_cpu_s();
	for (uint32_t i = 0; i < n; i++)
		flowcache_update(fc, &keys[i], &st);
	r->update_ns = (bench_cpu_s() - t0) / n * 1e9;

	exported = 0;
	t0 = bench_cpu_s();
	flowcache_expire(fc, 4 * NS + t.idle_ns, UINT32_MAX);
	r->expire_ns = (bench_cpu_s() - t0) / n * 1e9;
	if (exported != n) {
		fprintf(stderr, "expire exported %llu of %u flows\n", (unsigned long long)exported,
			n);
		exit(1);
	}
	r->flows = n;
	flowcache_free(fc);
	free(keys);
}

int main(int argc, char **argv)
{
	uint32_t max = 1000000;
	const char *datafile = NULL;
	struct result res[16];
	int nres = 0, opt;
	FILE *df = NULL;

	while ((opt = getopt(argc, argv, "m:d:")) != -1) {
		switch (opt) {
		case 'm': max = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'd': datafile = optarg; break;
		default:
			fprintf(stderr, "usage: %s [-m MAX_FLOWS] [-d DATAFILE]\n", argv[0]);
			return 2;
		}
	}
	for (uint32_t n = 1000; n <= max && nres < 16; n *= 10) {
		/* the smallest sizes are noisy: repeat them and keep the last */
		int reps = n < 100000 ? 5 : 1;

		for (int k = 0; k < reps; k++)
			run(n, &res[nres]);
		nres++;
	}
	if (datafile && !(df = fopen(datafile, "w"))) {
		perror(datafile);
		return 1;
	}
	printf("CPU time of one thread; struct flow_entry is 120 bytes, a flow's payload (key + "
	       "stats) 96.\n\n");
	printf("| flows | insert ns/flow | update ns/flow | expire ns/flow | insert vs 1k | "
	       "update vs 1k | expire vs 1k | heap bytes/flow | RSS bytes/flow | "
	       "heap / payload |\n");
	printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	for (int i = 0; i < nres; i++) {
		const struct result *r = &res[i];

		printf("| %u | %.0f | %.0f | %.0f | %.2f | %.2f | %.2f | %.0f | %.0f | %.2f |\n",
		       r->flows, r->insert_ns, r->update_ns, r->expire_ns,
		       r->insert_ns / res[0].insert_ns, r->update_ns / res[0].update_ns,
		       r->expire_ns / res[0].expire_ns, r->heap_per_flow, r->rss_per_flow,
		       r->heap_per_flow / 96.0);
		if (df)
			fprintf(df, "%u %.1f %.1f %.1f %.1f\n", r->flows, r->insert_ns,
				r->update_ns, r->expire_ns, r->heap_per_flow);
	}
	/* the bench's own key array (48 bytes a flow) is resident too: leave it out */
	printf("\nResident set of this process holding %u flows: %.1f MiB (not counting the "
	       "bench's own %.1f MiB key array).\n",
	       res[nres - 1].flows,
	       (double)(res[nres - 1].rss_total - (long)res[nres - 1].flows * 48) / 1048576.0,
	       res[nres - 1].flows * 48.0 / 1048576.0);
	printf("\n<!-- flowcache_bytes_per_flow=%.0f -->\n", res[nres - 1].heap_per_flow);
	if (df)
		fclose(df);
	return 0;
}
