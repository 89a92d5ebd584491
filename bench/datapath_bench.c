// SPDX-License-Identifier: GPL-2.0-only
/*
 * Datapath cost per packet: BPF_PROG_TEST_RUN of xf_tc_ingress (loaded by
 * capture_open(), every feature on, datapath_order auto as the daemon's
 * default, running slots first) on fixed packets, next to two reference
 * TC programs built in bench/ and loaded here with plain libbpf:
 *   ref_empty           return TC_ACT_OK (the test-run floor)
 *   ref_counter         Ethernet/IPv4/L4 ports + one per-CPU hash
 *                       lookup/update, the precise clock
 *   ref_counter_coarse  the same with the coarse clock (as xf_tc_ingress's
 *                       established-flow path)
 *
 * test_run with repeat runs the same skb again and again, so after the first
 * run the flow exists: every "established" row measures the lookup-and-update
 * path. The insert path cannot be repeated that way; it is measured as
 * repeat=1 over many distinct packets (one syscall each, the kernel times
 * only the program run), and the lookup in a loaded table by pre-filling the
 * map with other flows before the run ("pre-filled" rows).
 *
 *   datapath_bench [-r REPEAT] [-n ROUNDS] [-d BPF_OBJ_DIR] [-O slots|auto]
 *
 * -O: xf_tc_ingress's datapath order (default auto, the daemon's default,
 * running slots first; slots: the fixed order, without auto's per-packet
 * load and test and its timing of every 64th packet).
 *
 * Prints a Markdown table; needs root (BPF). Exit 77 without it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "benchutil.h"
#include "capture.h"
#include "drain.h"
#include "kmap_fill.h"
#include "log.h"
#include "xlatflow_shared.h"

#ifndef BENCH_BPF_DIR
#define BENCH_BPF_DIR "bench"
#endif

#define PKT_MAX 256
/*
 * Of the 65536 entries both maps have: 75 %, a load xlatflow's open-addressing
 * table is meant for (a flow with no free slot in XF_PROBES goes to the ring
 * buffer; at 92 % that is 5 % of them).
 */
#define PREFILL 49152
#define NEWFLOW_COUNT 20000

struct pkt {
	uint8_t data[PKT_MAX];
	uint32_t len;
};

/* --- packet builders --------------------------------------------------- */

static uint8_t *put_eth(struct pkt *p, uint16_t proto, int vlan)
{
	static const uint8_t dst[6] = { 0x02, 0, 0, 0, 0, 2 }, src[6] = { 0x02, 0, 0, 0, 0, 1 };
	uint8_t *b = p->data;

	memcpy(b, dst, 6);
	memcpy(b + 6, src, 6);
	b += 12;
	if (vlan) {
		*(uint16_t *)b = htons(ETH_P_8021Q);
		*(uint16_t *)(b + 2) = htons((uint16_t)vlan);
		b += 4;
	}
	*(uint16_t *)b = htons(proto);
	return b + 2;
}

/* IPv4 198.18.0.1:sport -> 198.18.1.1:80, TCP ACK with payload, or ICMP echo. */
static void build_ipv4(struct pkt *p, uint8_t proto, uint16_t sport, int vlan, uint32_t payload)
{
	uint8_t *l3 = put_eth(p, ETH_P_IP, vlan);
	struct iphdr *ip = (struct iphdr *)l3;
	uint32_t l4len = proto == IPPROTO_TCP ? sizeof(struct tcphdr) : 8;

	memset(ip, 0, sizeof(*ip));
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = proto;
	ip->tot_len = htons((uint16_t)(sizeof(*ip) + l4len + payload));
	inet_pton(AF_INET, "198.18.0.1", &ip->saddr);
	inet_pton(AF_INET, "198.18.1.1", &ip->daddr);
	ip->check = bench_csum16(ip, sizeof(*ip));
	uint8_t *l4 = l3 + sizeof(*ip);

	memset(l4, 0, l4len + payload);
	if (proto == IPPROTO_TCP) {
		struct tcphdr *th = (struct tcphdr *)l4;

		th->source = htons(sport);
		th->dest = htons(80);
		th->doff = 5;
		th->ack = 1;
		th->window = htons(512);
	} else {
		l4[0] = 8; /* echo request */
		*(uint16_t *)(l4 + 4) = htons(sport);
	}
	p->len = (uint32_t)(l4 + l4len + payload - p->data);
}

static void build_ipv6_tcp(struct pkt *p, uint16_t sport, uint32_t payload)
{
	uint8_t *l3 = put_eth(p, ETH_P_IPV6, 0);
	struct ipv6hdr *ip6 = (struct ipv6hdr *)l3;
	struct tcphdr *th = (struct tcphdr *)(ip6 + 1);

	memset(ip6, 0, sizeof(*ip6));
	ip6->version = 6;
	ip6->hop_limit = 64;
	ip6->nexthdr = IPPROTO_TCP;
	ip6->payload_len = htons((uint16_t)(sizeof(*th) + payload));
	inet_pton(AF_INET6, "2001:db8::1", &ip6->saddr);
	inet_pton(AF_INET6, "2001:db8:1::1", &ip6->daddr);
	memset(th, 0, sizeof(*th) + payload);
	th->source = htons(sport);
	th->dest = htons(443);
	th->doff = 5;
	th->ack = 1;
	p->len = (uint32_t)((uint8_t *)(th + 1) + payload - p->data);
}

/* --- programs ------------------------------------------------------------ */

struct prog {
	const char *name;
	int fd;
	int map_fd; /* the flow map the pre-filled rows fill */
	size_t key_size;
	size_t value_size; /* per CPU */
	struct bpf_object *obj;
	struct capture *cap; /* xlatflow's (map_fd -1): the flows are in its flow table */
	struct drain *drain; /* cap's */
};

static int load_ref(struct prog *pr, const char *dir, const char *file, const char *name,
		    const char *map)
{
	char path[512];
	struct bpf_program *bp;
	struct bpf_map *m;
	int err;

	snprintf(path, sizeof(path), "%s/%s.bpf.o", dir, file);
	pr->name = name;
	pr->obj = bpf_object__open_file(path, NULL);
	if (!pr->obj) {
		fprintf(stderr, "open %s: %s\n", path, strerror(errno));
		return -errno;
	}
	err = bpf_object__load(pr->obj);
	if (err) {
		fprintf(stderr, "load %s: %s\n", path, strerror(-err));
		return err;
	}
	bp = bpf_object__find_program_by_name(pr->obj, name);
	if (!bp)
		return -ENOENT;
	pr->fd = bpf_program__fd(bp);
	pr->map_fd = -1;
	if (map) {
		m = bpf_object__find_map_by_name(pr->obj, map);
		if (!m)
			return -ENOENT;
		pr->map_fd = bpf_map__fd(m);
		pr->key_size = bpf_map__key_size(m);
		pr->value_size = bpf_map__value_size(m);
	}
	return 0;
}

/* Average ns per run of REPEAT runs of prog on p, or 0 on error. */
static double run_repeat(const struct prog *pr, const struct pkt *p, uint32_t repeat)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->data, .data_size_in = p->len,
		    .repeat = repeat);
	int err = bpf_prog_test_run_opts(pr->fd, &o);

	if (err) {
		fprintf(stderr, "test_run %s: %s\n", pr->name, strerror(-err));
		return 0;
	}
	return o.duration;
}

/*
 * Insert path: repeat=1 over n distinct packets (source port varies). The
 * kernel's duration has 1 ns resolution per call, so the sum is exact enough.
 */
static double run_new_flows(const struct prog *pr, struct pkt *p, int n, uint16_t base)
{
	uint64_t total = 0;

	for (int i = 0; i < n; i++) {
		struct tcphdr *th = (struct tcphdr *)(p->data + ETH_HLEN + sizeof(struct iphdr));
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->data, .data_size_in = p->len,
			    .repeat = 1);

		th->source = htons((uint16_t)(base + i));
		if (bpf_prog_test_run_opts(pr->fd, &o))
			return 0;
		total += o.duration;
	}
	return (double)total / n;
}

static void map_clear(int fd, size_t key_size)
{
	uint8_t key[128], next[128];

	while (!bpf_map_get_next_key(fd, NULL, next)) {
		memcpy(key, next, key_size);
		bpf_map_delete_elem(fd, key);
	}
}

static void drop_flow(void *ctx, const struct xf_flow_key *key, const struct xf_flow_stats *st)
{
	(void)ctx;
	(void)key;
	(void)st;
}

static bool has_flows(const struct prog *pr)
{
	return pr->map_fd >= 0 || pr->cap;
}

/* Forget every flow: xlatflow's by draining its table. */
static void prog_clear(const struct prog *pr)
{
	if (pr->map_fd >= 0)
		map_clear(pr->map_fd, pr->key_size);
	if (pr->drain && drain_flows(pr->drain, drop_flow, NULL) < 0) {
		fprintf(stderr, "drain_flows failed\n");
		exit(1);
	}
}

/* Flow i of the pre-fill: source 100.64.x.y never used by the bench packets. */
static void prefill_key(uint8_t *key, size_t key_size, int i)
{
	uint32_t r = (uint32_t)i * 2654435761u;

	memset(key, 0, key_size);
	key[0] = 100;
	key[1] = 64;
	memcpy(key + 4, &r, 4);
	memcpy(key + 8, &i, 4);
}

static void prefill_slot(void *ctx, size_t i, struct xf_flow_key *key, struct xf_flow_stats *percpu)
{
	(void)ctx;
	prefill_key((uint8_t *)key, sizeof(*key), (int)i);
	percpu[0].packets = 1;
}

/* Fill a flow map with n flows that never match the bench packets. */
static int map_prefill(const struct prog *pr, int n)
{
	int ncpus = libbpf_num_possible_cpus();
	uint8_t *vals;
	uint8_t key[128];
	int err = 0;

	if (pr->cap) {
		/* as the programs would: some flows find no slot in XF_PROBES */
		size_t in = kmap_fill_slots(pr->cap, (size_t)n, prefill_slot, NULL, XF_PROBES);

		fprintf(stderr, "pre-fill: %zu of %d flows in xlatflow's table\n", in, n);
		return 0;
	}
	vals = calloc((size_t)ncpus, (pr->value_size + 7) & ~7ul);
	for (int i = 0; i < n && !err; i++) {
		prefill_key(key, pr->key_size, i);
		err = bpf_map_update_elem(pr->map_fd, key, vals, BPF_NOEXIST);
	}
	free(vals);
	return err;
}

struct prog_info_sz {
	uint32_t xlated, jited;
};

static struct prog_info_sz prog_sizes(int fd)
{
	struct bpf_prog_info info = {};
	uint32_t len = sizeof(info);
	struct prog_info_sz s = { 0, 0 };

	if (!bpf_obj_get_info_by_fd(fd, &info, &len)) {
		s.xlated = info.xlated_prog_len / 8;
		s.jited = info.jited_prog_len;
	}
	return s;
}

enum { P_XF, P_COUNTER, P_COARSE, P_EMPTY, P_N };

struct bench_case {
	const char *name;
	struct pkt pkt;
	bool prefill;
	bool newflow;
	bool counter_applies; /* ref_counter parses this packet (Ethernet + IPv4) */
	double ns[P_N];
};

int main(int argc, char **argv)
{
	uint32_t repeat = 1000000;
	int rounds = 5;
	const char *dir = getenv("BENCH_BPF_DIR") ? getenv("BENCH_BPF_DIR") : BENCH_BPF_DIR;
	/* the daemon's default order, auto (slots first here: what it keeps at these flows) */
	struct capture_opts copts = { .flags = CAPTURE_F_ORDER_AUTO };
	struct prog progs[P_N] = { 0 };
	struct bench_case cases[7];
	struct capture *cap;
	char err[256];
	cpu_set_t cpus;
	int opt, nc = 0;

	while ((opt = getopt(argc, argv, "r:n:d:O:")) != -1) {
		switch (opt) {
		case 'r': repeat = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'n': rounds = atoi(optarg); break;
		case 'd': dir = optarg; break;
		case 'O':
			if (strcmp(optarg, "slots") && strcmp(optarg, "auto")) {
				fprintf(stderr, "-O: slots or auto\n");
				return 2;
			}
			copts.flags = strcmp(optarg, "auto") ? 0 : CAPTURE_F_ORDER_AUTO;
			break;
		default:
			fprintf(stderr,
				"usage: %s [-r REPEAT] [-n ROUNDS] [-d BPF_OBJ_DIR] [-O "
				"slots|auto]\n",
				argv[0]);
			return 2;
		}
	}
	if (rounds < 1 || rounds > 99 || !repeat)
		return 2;
	if (geteuid() != 0) {
		printf("SKIP: datapath_bench needs root (BPF)\n");
		return 77;
	}
	log_init(true, LOG_LEVEL_WARN, "datapath_bench");
	/* Per-CPU maps: keep every run on one CPU so one slot holds the flow. */
	CPU_ZERO(&cpus);
	CPU_SET(0, &cpus);
	sched_setaffinity(0, sizeof(cpus), &cpus);

	copts.kernel_max_flows = 65536;
	copts.sampling = 1;
	cap = capture_open(&copts, err, sizeof(err));
	if (!cap) {
		fprintf(stderr, "capture_open: %s\n", err);
		return 1;
	}
	progs[P_XF].name = "xf_tc_ingress";
	progs[P_XF].fd = capture_prog_fd(cap, XF_DIR_INGRESS);
	progs[P_XF].map_fd = -1;
	progs[P_XF].key_size = sizeof(struct xf_flow_key);
	progs[P_XF].cap = cap;
	progs[P_XF].drain = drain_new(cap);
	if (load_ref(&progs[P_COUNTER], dir, "ref_counter", "ref_counter", "ref_flows") ||
	    load_ref(&progs[P_COARSE], dir, "ref_counter_coarse", "ref_counter_coarse",
		     "ref_flows") ||
	    load_ref(&progs[P_EMPTY], dir, "ref_empty", "ref_empty", NULL))
		return 1;

	memset(cases, 0, sizeof(cases));
	cases[nc].name = "IPv4 TCP, established, 1 flow in map";
	build_ipv4(&cases[nc].pkt, IPPROTO_TCP, 40000, 0, 46);
	cases[nc++].counter_applies = true;
	cases[nc].name = "IPv4 TCP, established, 48k flows in map";
	build_ipv4(&cases[nc].pkt, IPPROTO_TCP, 40001, 0, 46);
	cases[nc].prefill = true;
	cases[nc++].counter_applies = true;
	cases[nc].name = "IPv4 ICMP echo, established";
	build_ipv4(&cases[nc].pkt, IPPROTO_ICMP, 7, 0, 56);
	cases[nc++].counter_applies = true;
	cases[nc].name = "IPv6 TCP, established";
	build_ipv6_tcp(&cases[nc++].pkt, 40002, 46);
	cases[nc].name = "802.1Q IPv4 TCP, established";
	build_ipv4(&cases[nc++].pkt, IPPROTO_TCP, 40003, 100, 46);
	cases[nc].name = "IPv4 TCP, new flow (insert), repeat=1";
	build_ipv4(&cases[nc].pkt, IPPROTO_TCP, 1, 0, 46);
	cases[nc].newflow = true;
	cases[nc++].counter_applies = true;

	for (int c = 0; c < nc; c++) {
		struct bench_case *bc = &cases[c];
		double samples[P_N][100];

		uint64_t full0[XF_CNT_MAX], full1[XF_CNT_MAX];

		for (int p = 0; p < P_N; p++) {
			if (!has_flows(&progs[p]))
				continue;
			prog_clear(&progs[p]);
			if (bc->prefill && map_prefill(&progs[p], PREFILL)) {
				fprintf(stderr, "prefill %s failed\n", progs[p].name);
				return 1;
			}
		}
		capture_read_counters(cap, full0);
		/* Interleave the programs round by round so drift hits all alike. */
		for (int r = 0; r < rounds; r++) {
			for (int p = 0; p < P_N; p++) {
				if (bc->newflow) {
					if (has_flows(&progs[p]))
						prog_clear(&progs[p]);
					samples[p][r] = run_new_flows(&progs[p], &bc->pkt,
								      NEWFLOW_COUNT, 1024);
				} else {
					samples[p][r] = run_repeat(&progs[p], &bc->pkt, repeat);
				}
			}
		}
		for (int p = 0; p < P_N; p++)
			bc->ns[p] = bench_median(samples[p], rounds);
		capture_read_counters(cap, full1);
		/* a row must measure the table path, not the ring buffer's */
		if (full1[XF_CNT_MAP_FULL] != full0[XF_CNT_MAP_FULL])
			fprintf(stderr, "%s: %llu packets found no slot (map full)\n", bc->name,
				(unsigned long long)(full1[XF_CNT_MAP_FULL] -
						     full0[XF_CNT_MAP_FULL]));
	}

	struct prog_info_sz sz[P_N];

	for (int p = 0; p < P_N; p++)
		sz[p] = prog_sizes(progs[p].fd);
	printf("BPF_PROG_TEST_RUN, repeat %u (new flow: %d packets x repeat 1), median of %d "
	       "rounds, "
	       "pinned to CPU 0; xf_tc_ingress datapath order %s.\n\n",
	       repeat, NEWFLOW_COUNT, rounds,
	       copts.flags & CAPTURE_F_ORDER_AUTO ? "auto (slots first)" : "slots");
	printf("| packet | xf_tc_ingress ns | ref_counter ns | ref_counter_coarse ns | "
	       "ref_empty ns | xlatflow / ref_counter | xlatflow / ref_counter_coarse | "
	       "xlatflow / ref_empty | (xlatflow - empty) / (coarse counter - empty) |\n");
	printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	for (int c = 0; c < nc; c++) {
		const struct bench_case *bc = &cases[c];
		double xf = bc->ns[P_XF], rc = bc->ns[P_COUNTER], rq = bc->ns[P_COARSE],
		       re = bc->ns[P_EMPTY];

		if (bc->counter_applies)
			printf("| %s | %.1f | %.1f | %.1f | %.1f | %.2f | **%.2f** | %.2f | %.2f "
			       "|\n",
			       bc->name, xf, rc, rq, re, xf / rc, xf / rq, xf / re,
			       rq > re ? (xf - re) / (rq - re) : 0.0);
		else
			printf("| %s | %.1f | n/a (IPv4 only) | n/a | %.1f | %.2f vs IPv4 row | - "
			       "| "
			       "%.2f | - |\n",
			       bc->name, xf, re, xf / cases[0].ns[P_XF], xf / re);
	}
	printf("\nProgram size (xlated insns / JITed bytes): xf_tc_ingress %u / %u, "
	       "ref_counter %u / %u, ref_counter_coarse %u / %u, ref_empty %u / %u.\n",
	       sz[P_XF].xlated, sz[P_XF].jited, sz[P_COUNTER].xlated, sz[P_COUNTER].jited,
	       sz[P_COARSE].xlated, sz[P_COARSE].jited, sz[P_EMPTY].xlated, sz[P_EMPTY].jited);
	/* machine-readable lines for run.sh */
	printf("\n<!-- datapath_ratio_ipv4_established=%.3f -->\n",
	       cases[0].ns[P_XF] / cases[0].ns[P_COUNTER]);
	printf("<!-- datapath_ratio_coarse_ipv4_established=%.3f -->\n",
	       cases[0].ns[P_XF] / cases[0].ns[P_COARSE]);

	bpf_object__close(progs[P_COUNTER].obj);
	bpf_object__close(progs[P_COARSE].obj);
	bpf_object__close(progs[P_EMPTY].obj);
	drain_free(progs[P_XF].drain);
	capture_free(cap);
	return 0;
}
