// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kernel side scaling and memory (src/capture.c, src/drain.c):
 *   memory   bytes per flow of the flows maps: the kernel's own count
 *            (memlock in /proc/self/fdinfo) over max_entries, next to the
 *            computed per-CPU value * possible CPUs + key + hash element
 *   drain    drain_flows() of a map holding N flows (1k -> max), per flow,
 *            next to a plain bpf_map_lookup_and_delete_batch loop over the
 *            same map (the floor); drain's fixed 5 ms wait for programs still
 *            running on the old map is measured on an empty map and taken out
 *   attach   capture_attach() on 2 -> 500 veth interfaces created in a
 *            network namespace of our own: time per interface as the count
 *            grows, process RSS and kernel slab growth per interface
 *
 *   kmap_bench [-m MAX_FLOWS] [-i INTERFACES] [-d DRAIN_DATA] [-a ATTACH_DATA]
 * Root only (exit 77 otherwise).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "benchutil.h"
#include "capture.h"
#include "drain.h"
#include "kmap_fill.h"
#include "log.h"
#include "xlatflow_shared.h"

#define FILL_BATCH 8192

static long fdinfo_memlock(int fd)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "memlock: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

static long meminfo_kb(const char *field)
{
	char line[256];
	size_t len = strlen(field);
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, len) && line[len] == ':') {
			v = atol(line + len + 1);
			break;
		}
	fclose(f);
	return v;
}

static struct capture *open_capture(uint32_t max_flows)
{
	struct capture_opts o = { .kernel_max_flows = max_flows, .sampling = 1 };
	char err[256];
	struct capture *c = capture_open(&o, err, sizeof(err));

	if (!c) {
		fprintf(stderr, "capture_open(%u): %s\n", max_flows, err);
		exit(1);
	}
	return c;
}

/* --- memory ---------------------------------------------------------------- */

static void bench_memory(void)
{
	static const uint32_t sizes[] = { 65536, 1048576 };
	int ncpus = libbpf_num_possible_cpus();

	printf("### Kernel flow maps: memory per flow\n\n");
	printf("%d possible CPUs; struct xf_flow_key %zu bytes, struct xf_flow_stats %zu bytes per "
	       "CPU. Preallocated per-CPU hash: all max_entries are allocated at load.\n\n",
	       ncpus, sizeof(struct xf_flow_key), sizeof(struct xf_flow_stats));
	printf("| max_entries per map | memlock flows_0 | bytes per entry (kernel) | computed "
	       "bytes per entry | both maps (double buffer) | kernel / payload |\n");
	printf("|---:|---:|---:|---:|---:|---:|\n");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct capture *c = open_capture(sizes[i]);
		long m0 = fdinfo_memlock(capture_flows_fd(c, 0));
		long m1 = fdinfo_memlock(capture_flows_fd(c, 1));
		/*
		 * htab_elem: hash node (16) + hash (4) + padding, then the key
		 * rounded to 8, then a pointer to the per-CPU value; plus one
		 * 16-byte bucket per entry (buckets = roundup_pow_of_two(n)) and
		 * the per-CPU value rounded to 8 on every possible CPU.
		 */
		double computed = 24.0 + 8 + sizeof(struct xf_flow_key) + 8 + 16.0 +
				  (double)ncpus * ((sizeof(struct xf_flow_stats) + 7) & ~7ul);

		printf("| %u | %.1f MiB | %.0f | %.0f | %.1f MiB | %.2f |\n", sizes[i],
		       (double)m0 / 1048576.0, (double)m0 / sizes[i], computed,
		       (double)(m0 + m1) / 1048576.0,
		       (double)m0 / sizes[i] /
			       (double)(sizeof(struct xf_flow_key) + sizeof(struct xf_flow_stats)));
		capture_free(c);
	}
	printf("\nkernel / payload: bytes per entry over key + one CPU's stats (%zu bytes). "
	       "With two maps, each flow slot costs twice that.\n\n",
	       sizeof(struct xf_flow_key) + sizeof(struct xf_flow_stats));
}

/* --- drain ------------------------------------------------------------------ */

static uint64_t drained;

static void on_drained(void *ctx, const struct xf_flow_key *key,
		       const struct xf_flow_stats *merged)
{
	(void)ctx;
	(void)key;
	(void)merged;
	drained++;
}

/* Flow i: 198.18.0.0 -> i, TCP 1024 -> 80, one packet of 100 bytes on every CPU. */
static void fill_flow(void *ctx, size_t i, struct xf_flow_key *key, struct xf_flow_stats *percpu)
{
	uint32_t id = (uint32_t)i;
	int ncpus = *(const int *)ctx;

	key->src_addr[0] = 198;
	key->src_addr[1] = 18;
	memcpy(key->dst_addr, &id, 4);
	key->src_port = 1024;
	key->dst_port = 80;
	key->proto = 6;
	key->family = XF_FAMILY_IPV4;
	for (int cpu = 0; cpu < ncpus; cpu++) {
		percpu[cpu].packets = 1;
		percpu[cpu].octets = 100;
		percpu[cpu].first_ns = percpu[cpu].last_ns = 1000;
	}
}

static void fill(int fd, uint32_t n, int ncpus)
{
	kmap_fill(fd, n, fill_flow, &ncpus);
}

/* The floor: lookup-and-delete batches with no merging, no epoch flip. */
static double raw_drain(int fd, uint32_t n, int ncpus)
{
	struct xf_flow_key *keys = calloc(FILL_BATCH, sizeof(*keys));
	struct xf_flow_stats *vals = calloc((size_t)FILL_BATCH * ncpus, sizeof(*vals));
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	uint32_t total = 0, batch = 0;
	bool first = true;
	double t0 = bench_wall_s();

	for (;;) {
		uint32_t cnt = 4096;
		int err = bpf_map_lookup_and_delete_batch(fd, first ? NULL : &batch, &batch, keys,
							  vals, &cnt, &opts);

		first = false;
		total += cnt;
		if (err) {
			if (errno != ENOENT) {
				fprintf(stderr, "lookup_and_delete_batch: %s\n", strerror(errno));
				exit(1);
			}
			break;
		}
	}
	t0 = bench_wall_s() - t0;
	if (total != n) {
		fprintf(stderr, "raw drain got %u of %u\n", total, n);
		exit(1);
	}
	free(keys);
	free(vals);
	return t0;
}

/* Best of 3 of drain_flows() on a map holding n flows. */
static double time_drain(struct capture *c, uint32_t n, int ncpus)
{
	double best = 1e9;

	for (int rep = 0; rep < 3; rep++) {
		/* drain_flows flips the epoch and drains the map in use before the flip */
		int fd = capture_flows_fd(c, capture_epoch(c) & 1);
		double t0;

		if (n)
			fill(fd, n, ncpus);
		drained = 0;
		t0 = bench_wall_s();
		if (drain_flows(c, on_drained, NULL) < 0) {
			fprintf(stderr, "drain_flows failed\n");
			exit(1);
		}
		t0 = bench_wall_s() - t0;
		if (drained != n) {
			fprintf(stderr, "drained %llu of %u flows\n", (unsigned long long)drained, n);
			exit(1);
		}
		if (t0 < best)
			best = t0;
	}
	return best;
}

static double time_raw(struct capture *c, uint32_t n, int ncpus)
{
	int fd = capture_flows_fd(c, capture_epoch(c) & 1);
	double best = 1e9;

	for (int rep = 0; rep < 3; rep++) {
		double t;

		if (n)
			fill(fd, n, ncpus);
		t = raw_drain(fd, n, ncpus);
		if (t < best)
			best = t;
	}
	return best;
}

static void bench_drain(uint32_t max, FILE *df)
{
	struct capture *c = open_capture(max);
	int ncpus = libbpf_num_possible_cpus();
	double empty = time_drain(c, 0, ncpus), raw_empty = time_raw(c, 0, ncpus);
	double first_per = 0;

	printf("### Kernel map drain, 1k -> %u flows\n\n", max);
	printf("Maps of %u entries. Reference: a bare bpf_map_lookup_and_delete_batch loop "
	       "(4096 keys a call) on the same map. Both walk every bucket, so an empty map "
	       "costs %.2f ms in drain_flows() (with its wait for programs still on the old map) "
	       "and %.2f ms raw; ns/flow is (time - empty time) / flows. Best of 3.\n\n",
	       max, empty * 1e3, raw_empty * 1e3);
	printf("| flows | drain_flows ms | ns/flow | raw batch ms | raw ns/flow | drain / raw | "
	       "ns/flow vs 1k |\n|---:|---:|---:|---:|---:|---:|---:|\n");
	for (uint32_t n = 1000; n <= max; n *= 10) {
		double t = time_drain(c, n, ncpus), raw = time_raw(c, n, ncpus);
		double per = (t - empty) / n * 1e9, rper = (raw - raw_empty) / n * 1e9;

		if (!first_per)
			first_per = per;
		printf("| %u | %.2f | %.0f | %.2f | %.0f | %.2f | %.2f |\n", n, t * 1e3, per,
		       raw * 1e3, rper, per / rper, per / first_per);
		if (df)
			fprintf(df, "%u %.1f %.1f\n", n, per, rper);
		if (n == max)
			break;
		if ((uint64_t)n * 10 > max)
			n = max / 10; /* end exactly at max */
	}
	printf("\n");
	capture_free(c);
}

/* --- attach ----------------------------------------------------------------- */

static void bench_attach(int n_if, FILE *af)
{
	static const int marks[] = { 2, 10, 50, 100, 250, 500, 1000 };
	char name[IFNAMSIZ];
	struct capture *c;
	FILE *ip;
	long rss0, slab0;
	double t_prev = 0, total = 0, t0;
	int done = 0;

	if (unshare(CLONE_NEWNET)) {
		printf("attach: unshare(CLONE_NEWNET): %s, skipped\n\n", strerror(errno));
		return;
	}
	/* veth pairs inside our own namespace: gone when the process exits */
	ip = popen("ip -batch -", "w");
	if (!ip)
		exit(1);
	for (int i = 0; i < n_if / 2; i++)
		fprintf(ip, "link add xfb%da type veth peer name xfb%db\n", i, i);
	if (pclose(ip)) {
		fprintf(stderr, "ip -batch failed\n");
		exit(1);
	}
	c = open_capture(0);
	rss0 = (bench_rss_bytes() / 1024);
	slab0 = meminfo_kb("Slab");
	printf("### Attach to 2 -> %d veth interfaces (one network namespace)\n\n", n_if);
	printf("| interfaces | attach ms per interface (last step) | vs first step | "
	       "cumulative ms | process RSS KiB per interface | kernel slab KiB per "
	       "interface |\n|---:|---:|---:|---:|---:|---:|\n");
	double first = 0;

	for (size_t m = 0; m < sizeof(marks) / sizeof(marks[0]) && marks[m] <= n_if; m++) {
		int start = done;

		t0 = bench_wall_s();
		for (; done < marks[m]; done++) {
			int idx, rc;

			snprintf(name, sizeof(name), "xfb%d%c", done / 2, done % 2 ? 'b' : 'a');
			idx = (int)if_nametoindex(name);
			rc = idx ? capture_attach(c, idx) : -ENODEV;
			if (rc) {
				fprintf(stderr, "attach %s: %s\n", name, strerror(-rc));
				exit(1);
			}
		}
		t_prev = (bench_wall_s() - t0) / (done - start) * 1e3;
		total += t_prev * (done - start);
		if (!first)
			first = t_prev;
		printf("| %d | %.3f | %.2f | %.1f | %.1f | %.1f |\n", done, t_prev, t_prev / first,
		       total, (double)((bench_rss_bytes() / 1024) - rss0) / done,
		       (double)(meminfo_kb("Slab") - slab0) / done);
		if (af)
			fprintf(af, "%d %.4f\n", done, t_prev);
	}
	t0 = bench_wall_s();
	capture_free(c); /* detaches every interface */
	printf("\ncapture_free (detach all %d): %.3f ms per interface. Slab is machine-wide: "
	       "approximate.\n\n", done, (bench_wall_s() - t0) / done * 1e3);
}

int main(int argc, char **argv)
{
	uint32_t max = 1000000;
	int n_if = 500, opt;
	FILE *df = NULL, *af = NULL;

	while ((opt = getopt(argc, argv, "m:i:d:a:")) != -1) {
		switch (opt) {
		case 'm': max = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'i': n_if = atoi(optarg); break;
		case 'd': df = fopen(optarg, "w"); break;
		case 'a': af = fopen(optarg, "w"); break;
		default:
			fprintf(stderr, "usage: %s [-m MAX_FLOWS] [-i INTERFACES] [-d DRAIN_DATA] "
				"[-a ATTACH_DATA]\n", argv[0]);
			return 2;
		}
	}
	if (geteuid() != 0) {
		printf("SKIP: kmap_bench needs root (BPF, network namespace)\n");
		return 77;
	}
	if (max < 1000 || n_if < 2 || n_if > 1000)
		return 2;
	log_init(true, LOG_LEVEL_WARN, "kmap_bench");
	bench_memory();
	bench_drain(max, df);
	bench_attach(n_if, af);
	if (df)
		fclose(df);
	if (af)
		fclose(af);
	return 0;
}
