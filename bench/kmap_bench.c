// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kernel side scaling and memory (src/capture.c, src/drain.c, src/tc_hook.c):
 *   memory   bytes per flow of the flow maps (the flow table of both
 *            epochs and its slot lists): the kernel's own count (memlock in /proc/self/fdinfo)
 *            over max_entries, next to a per-CPU hash of the same size (the
 *            reference transfer: two of them, double-buffered)
 *   drain    drain_flows() of a table holding N flows (1k -> max), CPU time
 *            per flow, next to a bpf_map_lookup_and_delete_batch loop over a
 *            per-CPU hash holding the same flows (the transfer a flows map
 *            read by system calls costs); the fixed cost of each (drain's
 *            epoch flip and wait, the hash's walk of every bucket) is
 *            measured with no flow and taken out
 *   attach   tc_hook_attach() on 2 -> 500 veth interfaces created in a
 *            network namespace of our own: time per interface as the count
 *            grows, process RSS and kernel slab growth per interface
 *   sweep    the daemon's periodic check of every attached interface
 *            (tc_hook_repair() finding both filters intact), CPU time per
 *            interface, next to the same two questions asked with libbpf's
 *            bpf_tc_query() (a netlink socket opened and closed per call)
 *
 *   kmap_bench [-A] [-m MAX_FLOWS] [-i INTERFACES] [-d DRAIN_DATA] [-a ATTACH_DATA]
 * -A: the attach and sweep parts only.
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
#include "tc_hook.h"
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

static int percpu_hash_new(uint32_t max)
{
	int fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_HASH, "ref_flows", sizeof(struct xf_flow_key),
				sizeof(struct xf_flow_stats), max, NULL);

	if (fd < 0) {
		fprintf(stderr, "bpf_map_create(per-CPU hash, %u): %s\n", max, strerror(errno));
		exit(1);
	}
	return fd;
}

static void bench_memory(void)
{
	static const uint32_t sizes[] = { 65536, 1048576 };
	int ncpus = libbpf_num_possible_cpus();
	const double payload = (double)(sizeof(struct xf_flow_key) + sizeof(struct xf_flow_stats));

	printf("### Kernel flow maps: memory per flow\n\n");
	printf("%d possible CPUs; struct xf_flow_key %zu bytes, struct xf_flow_stats %zu bytes, "
	       "a slot %zu bytes (shared by all CPUs). All maps are allocated in full at load. "
	       "Reference: the same flows in per-CPU hashes (key -> per-CPU stats), two for the "
	       "double buffer.\n\n",
	       ncpus, sizeof(struct xf_flow_key), sizeof(struct xf_flow_stats),
	       sizeof(struct xf_flow_slot));
	printf("| max flows | flow_table (2 epochs) | flow_list | bytes per flow (kernel) | "
	       "per-CPU hash x2, bytes per flow | xlatflow / per-CPU hash x2 | "
	       "kernel / payload |\n");
	printf("|---:|---:|---:|---:|---:|---:|---:|\n");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct capture *c = open_capture(sizes[i]);
		struct capture_slots s0;
		int ref = percpu_hash_new(sizes[i]);
		long mt, ml, mr;

		capture_slots(c, 0, &s0);
		mt = fdinfo_memlock(s0.table_fd);
		ml = fdinfo_memlock(s0.list_fd);
		mr = 2 * fdinfo_memlock(ref);
		printf("| %u | %.1f MiB | %.2f MiB | %.0f | %.0f | %.2f | %.2f |\n", sizes[i],
		       (double)mt / 1048576.0, (double)ml / 1048576.0, (double)(mt + ml) / sizes[i],
		       (double)mr / sizes[i], (double)(mt + ml) / (double)mr,
		       (double)(mt + ml) / sizes[i] / payload);
		close(ref);
		capture_free(c);
	}
	printf("\nkernel / payload: bytes per flow over key + one CPU's stats (%.0f bytes).\n\n",
	       payload);
}

/* --- drain ------------------------------------------------------------------ */

static uint64_t drained;

static void on_drained(void *ctx, const struct xf_flow_key *key, const struct xf_flow_stats *merged)
{
	(void)ctx;
	(void)key;
	(void)merged;
	drained++;
}

/* Flow i: 198.18.0.0 -> i, TCP 1024 -> 80, one packet of 100 bytes on each of *ctx CPUs. */
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

/* The reference: lookup-and-delete batches of a per-CPU hash, no merging. */
static double hash_drain(int fd, uint32_t n, int ncpus)
{
	struct xf_flow_key *keys = calloc(FILL_BATCH, sizeof(*keys));
	struct xf_flow_stats *vals = calloc((size_t)FILL_BATCH * ncpus, sizeof(*vals));
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	uint32_t total = 0, batch = 0;
	bool first = true;
	double t0 = bench_cpu_s();

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
	t0 = bench_cpu_s() - t0;
	if (total != n) {
		fprintf(stderr, "per-CPU hash drain got %u of %u\n", total, n);
		exit(1);
	}
	free(keys);
	free(vals);
	return t0;
}

/*
 * Best of 3 of drain_flows() (CPU time) on a table holding n flows, or as
 * many as fit (*placed: a flow with no free slot in its XF_PROBES).
 */
static double time_drain(struct capture *c, struct drain *d, uint32_t n, uint32_t *placed)
{
	double best = 1e9;
	int one = 1;

	for (int rep = 0; rep < (n <= 10000 ? 15 : 3); rep++) {
		size_t in = 0;
		double t0;

		/* drain_flows flips the epoch and drains the slots in use before the flip */
		if (n)
			in = kmap_fill_slots(c, n, fill_flow, &one, UINT32_MAX);
		*placed = (uint32_t)in;
		drained = 0;
		t0 = bench_cpu_s();
		if (drain_flows(d, on_drained, NULL) < 0) {
			fprintf(stderr, "drain_flows failed\n");
			exit(1);
		}
		t0 = bench_cpu_s() - t0;
		if (drained != in) {
			fprintf(stderr, "drained %llu of %zu flows\n", (unsigned long long)drained,
				in);
			exit(1);
		}
		if (t0 < best)
			best = t0;
	}
	return best;
}

static double time_hash(int fd, uint32_t n, int ncpus)
{
	double best = 1e9;

	for (int rep = 0; rep < 3; rep++) {
		double t;

		if (n)
			kmap_fill_hash(fd, n, fill_flow, &ncpus);
		t = hash_drain(fd, n, ncpus);
		if (t < best)
			best = t;
	}
	return best;
}

static void bench_drain(uint32_t max, FILE *df)
{
	struct capture *c = open_capture(max);
	struct drain *d = drain_new(c);
	int ref = percpu_hash_new(max);
	int ncpus = libbpf_num_possible_cpus();
	double empty, hash_empty, first_per = 0;
	uint32_t placed;

	time_drain(c, d, 0, &placed); /* warm: the drain state, the slot pages */
	empty = time_drain(c, d, 0, &placed);
	hash_empty = time_hash(ref, 0, ncpus);

	printf("### Kernel flow transfer (drain), 1k -> %u flows\n\n", max);
	printf("Maps of %u flows; CPU time of this thread (system time included), best of 3 "
	       "(15 up to 10k flows). "
	       "drain_flows() reads the old epoch's slots in place through mmap(), in the "
	       "order its list names them (hash order in the table); the "
	       "reference is the transfer by system calls it replaced: a "
	       "bpf_map_lookup_and_delete_batch loop (4096 keys a call) over a per-CPU hash "
	       "holding the same flows. Fixed costs measured with no flow and taken out of "
	       "ns/flow: %.3f ms for drain_flows (epoch flip, membarrier), %.3f ms for the "
	       "hash (it walks every bucket).\n\n",
	       max, empty * 1e3, hash_empty * 1e3);
	printf("The flows are placed from userspace without the programs' limit of %d probes "
	       "(at max flows the programs would send about 8%% of them to the ring buffer); "
	       "the drain reads the same slots either way.\n\n",
	       XF_PROBES);
	printf("| flows | drain_flows ms | ns/flow | per-CPU hash batch ms | ns/flow | "
	       "drain / hash | drain ns/flow vs 1k |\n|---:|---:|---:|---:|---:|---:|---:|\n");
	/* 1k, 10k, ... and last exactly max */
	for (uint32_t n = max < 1000 ? max : 1000;; n = (uint64_t)n * 10 > max ? max : n * 10) {
		double t = time_drain(c, d, n, &placed), raw = time_hash(ref, placed, ncpus);
		double per = (t - empty) / placed * 1e9, rper = (raw - hash_empty) / placed * 1e9;

		if (!first_per)
			first_per = per;
		printf("| %u | %.2f | %.1f | %.2f | %.0f | %.3f | %.2f |\n", placed, t * 1e3, per,
		       raw * 1e3, rper, per / rper, per / first_per);
		if (df)
			fprintf(df, "%u %.1f %.1f\n", placed, per, rper);
		if (n >= max)
			break;
	}
	printf("\n");
	close(ref);
	drain_free(d);
	capture_free(c);
}

/* --- attach ----------------------------------------------------------------- */

/*
 * Our filters on idx[0..n-1], each the only one of its hook: the kernel
 * gave them handle 1 and priority 0xc000 (auto), which bpf_tc_query needs.
 */
static bool query_all(const int *idx, int n, const uint32_t prog_id[2])
{
	bool all = true;

	for (int i = 0; i < n; i++)
		for (int dir = 0; dir < 2; dir++) {
			LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = idx[i],
				    .attach_point = dir == XF_DIR_INGRESS ? BPF_TC_INGRESS
									  : BPF_TC_EGRESS);
			LIBBPF_OPTS(bpf_tc_opts, q, .handle = 1, .priority = 0xc000);

			all &= bpf_tc_query(&hook, &q) == 0 && q.prog_id == prog_id[dir];
		}
	return all;
}

static void bench_sweep(struct tc_hook *h, const int *idx, int n, const uint32_t prog_id[2])
{
	double ours[5], ref[5], t0;
	int intact = 0;
	bool ref_ok = true;

	for (int r = 0; r < 5; r++) {
		t0 = bench_cpu_s();
		for (int i = 0; i < n; i++)
			intact += tc_hook_repair(h, idx[i]) == 0;
		ours[r] = (bench_cpu_s() - t0) / n * 1e6;
		t0 = bench_cpu_s();
		ref_ok &= query_all(idx, n, prog_id);
		ref[r] = (bench_cpu_s() - t0) / n * 1e6;
	}
	qsort(ours, 5, sizeof(double), bench_cmp_double);
	qsort(ref, 5, sizeof(double), bench_cmp_double);
	printf("### Sweep: checking the filters of %d attached interfaces (median of 5)\n\n", n);
	printf("| check | CPU us per interface | %d interfaces, ms | share of one CPU every 30 s "
	       "/ every 1 s |\n|---|---:|---:|---:|\n",
	       n);
	printf("| tc_hook_repair (both intact: %s) | %.1f | %.1f | %.3f%% / %.2f%% |\n",
	       intact == 5 * n ? "yes" : "NO", ours[2], ours[2] * n / 1e3,
	       ours[2] * n / 1e6 / 30 * 100, ours[2] * n / 1e6 * 100);
	if (ref_ok)
		printf("| 2 x bpf_tc_query (reference) | %.1f | %.1f | %.3f%% / %.2f%% |\n", ref[2],
		       ref[2] * n / 1e3, ref[2] * n / 1e6 / 30 * 100, ref[2] * n / 1e6 * 100);
	else
		printf("\n(reference skipped: the filters are not at handle 1, priority 0xc000)\n");
}

static void bench_attach(int n_if, FILE *af)
{
	static const int marks[] = { 2, 10, 50, 100, 250, 500, 1000 };
	char name[IFNAMSIZ];
	struct tc_hook_prog prog[2];
	uint32_t prog_id[2];
	struct tc_hook *h;
	struct capture *c;
	int *idx = calloc((size_t)n_if, sizeof(int));
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
	for (int dir = 0; dir < 2; dir++) {
		prog[dir] = (struct tc_hook_prog){ .fd = capture_prog_fd(c, dir),
						   .id = capture_prog_id(c, dir),
						   .name = capture_prog_name(c, dir) };
		prog_id[dir] = prog[dir].id;
	}
	h = tc_hook_new(prog);
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
			int rc;

			snprintf(name, sizeof(name), "xfb%d%c", done / 2, done % 2 ? 'b' : 'a');
			idx[done] = (int)if_nametoindex(name);
			rc = idx[done] ? tc_hook_attach(h, idx[done]) : -ENODEV;
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
	bench_sweep(h, idx, done, prog_id);
	t0 = bench_wall_s();
	tc_hook_free(h); /* detaches every interface */
	printf("\ntc_hook_free (detach all %d): %.3f ms per interface. Slab is machine-wide: "
	       "approximate.\n\n",
	       done, (bench_wall_s() - t0) / done * 1e3);
	capture_free(c);
	free(idx);
}

int main(int argc, char **argv)
{
	uint32_t max = 1000000;
	int n_if = 500, opt;
	bool attach_only = false;
	FILE *df = NULL, *af = NULL;

	while ((opt = getopt(argc, argv, "Am:i:d:a:")) != -1) {
		switch (opt) {
		case 'A': attach_only = true; break;
		case 'm': max = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'i': n_if = atoi(optarg); break;
		case 'd': df = fopen(optarg, "w"); break;
		case 'a': af = fopen(optarg, "w"); break;
		default:
			fprintf(stderr,
				"usage: %s [-A] [-m MAX_FLOWS] [-i INTERFACES] [-d DRAIN_DATA] "
				"[-a ATTACH_DATA]\n",
				argv[0]);
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
	if (!attach_only) {
		bench_memory();
		bench_drain(max, df);
	}
	bench_attach(n_if, af);
	if (df)
		fclose(df);
	if (af)
		fclose(af);
	return 0;
}
