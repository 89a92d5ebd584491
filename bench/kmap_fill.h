/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Benchmarks' stand-in for the TC programs: put n flows where the programs
 * would have counted them. flow(ctx, i, key, percpu) writes flow i: the key,
 * and its stats (percpu[0..ncpus) for the per-CPU hash, percpu[0] alone for
 * the flow table; zeroed before the call).
 *   kmap_fill_slots  xlatflowd's flow table of the current epoch, each flow
 *                    in the first free slot from its home, listed, as the
 *                    programs leave them. With probes = XF_PROBES a flow
 *                    that finds none is left out, as the programs would
 *                    send it to the ring buffer; with more, every flow has
 *                    a slot while one is free (what a drain reads is the
 *                    same). Returns the flows placed.
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

static inline size_t kmap_fill_slots(struct capture *c, size_t n, kmap_flow_fn flow, void *ctx,
				     uint32_t probes)
{
	const uint32_t *seed = capture_hash_seed(c);
	struct xf_flow_key key;
	struct xf_flow_stats st;
	struct capture_slots s;
	size_t placed = 0;

	capture_slots(c, capture_epoch(c) & 1, &s);
	for (size_t i = 0; i < n; i++) {
		uint64_t hash;
		uint32_t pos;

		memset(&key, 0, sizeof(key));
		memset(&st, 0, sizeof(st));
		flow(ctx, i, &key, &st);
		hash = xf_flow_hash(&key, seed);
		pos = xf_flow_home(hash, s.max);
		for (uint32_t p = 0; p < probes && p < s.max;
		     p++, pos = pos + 1 < s.max ? pos + 1 : 0) {
			struct xf_flow_slot *slot = &s.slots[pos];

			if (slot->tag != XF_SLOT_EMPTY)
				continue;
			slot->key = key;
			slot->stats = st;
			slot->tag = XF_SLOT_TAG(hash);
			s.list[(*s.used)++] = pos;
			placed++;
			break;
		}
	}
	return placed;
}

#endif
