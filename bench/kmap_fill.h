/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Benchmarks' stand-in for the TC programs: put n flows where the programs
 * would have counted them. flow(ctx, i, key, percpu) writes flow i: the key,
 * and the stats of every possible CPU (percpu[0..ncpus), zeroed before the
 * call).
 *   kmap_fill_slots  xlatflowd's flow slots of the current epoch, and their
 *                    flow_index entries (as the programs leave them)
 *   kmap_fill_hash   a per-CPU hash of struct xf_flow_key -> struct
 *                    xf_flow_stats (the benchmarks' reference transfer)
 */
#ifndef XF_BENCH_KMAP_FILL_H
#define XF_BENCH_KMAP_FILL_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "capture.h"
#include "xlatflow_shared.h"

typedef void (*kmap_flow_fn)(void *ctx, size_t i, struct xf_flow_key *key,
			     struct xf_flow_stats *percpu);

static inline void kmap_fill_hash(int fd, size_t n, kmap_flow_fn flow, void *ctx)
{
	enum { BATCH = 8192 };
	int ncpus = libbpf_num_possible_cpus();
	struct xf_flow_key *keys = calloc(BATCH, sizeof(*keys));
	struct xf_flow_stats *vals = calloc((size_t)BATCH * (size_t)ncpus, sizeof(*vals));
	LIBBPF_OPTS(bpf_map_batch_opts, opts);

	if (ncpus < 1 || !keys || !vals) {
		fprintf(stderr, "kmap_fill_hash: out of memory\n");
		exit(1);
	}
	for (size_t done = 0; done < n;) {
		uint32_t cnt = (uint32_t)(n - done < BATCH ? n - done : BATCH);

		memset(keys, 0, (size_t)cnt * sizeof(*keys));
		memset(vals, 0, (size_t)cnt * (size_t)ncpus * sizeof(*vals));
		for (uint32_t i = 0; i < cnt; i++)
			flow(ctx, done + i, &keys[i], &vals[(size_t)i * (size_t)ncpus]);
		if (bpf_map_update_batch(fd, keys, vals, &cnt, &opts)) {
			fprintf(stderr, "bpf_map_update_batch: %s\n", strerror(errno));
			exit(1);
		}
		done += cnt;
	}
	free(keys);
	free(vals);
}

static inline void kmap_fill_slots(struct capture *c, size_t n, kmap_flow_fn flow, void *ctx)
{
	enum { BATCH = 8192 };
	uint32_t epoch = capture_epoch(c);
	struct xf_flow_key *keys = calloc(BATCH, sizeof(*keys));
	uint64_t *refs = calloc(BATCH, sizeof(*refs));
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	struct capture_slots s;

	capture_slots(c, epoch & 1, &s);
	if (!keys || !refs) {
		fprintf(stderr, "kmap_fill_slots: out of memory\n");
		exit(1);
	}
	for (size_t done = 0; done < n;) {
		uint32_t cnt = (uint32_t)(n - done < BATCH ? n - done : BATCH);

		for (uint32_t i = 0; i < cnt; i++) {
			uint32_t idx = __atomic_fetch_add(s.used, 1, __ATOMIC_RELAXED);
			uint8_t *slot = s.base + (size_t)idx * s.stride;

			if (idx >= s.max) {
				fprintf(stderr, "kmap_fill_slots: %zu flows, %u slots\n", n, s.max);
				exit(1);
			}
			memset(slot, 0, s.stride);
			flow(ctx, done + i, (struct xf_flow_key *)slot,
			     (struct xf_flow_stats *)(slot + sizeof(struct xf_flow_key)));
			keys[i] = *(struct xf_flow_key *)slot;
			refs[i] = XF_REF(epoch, idx);
		}
		if (bpf_map_update_batch(capture_index_fd(c), keys, refs, &cnt, &opts)) {
			fprintf(stderr, "bpf_map_update_batch (flow_index): %s\n", strerror(errno));
			exit(1);
		}
		done += cnt;
	}
	free(keys);
	free(refs);
}

#endif
