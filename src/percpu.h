/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Counters the BPF programs keep in a BPF_MAP_TYPE_PERCPU_ARRAY of __u64
 * (one value per possible CPU, no atomics on the packet path), summed for
 * userspace: the flow counters (capture.c) and the NAT hook's (xlat_source.c).
 */
#ifndef XF_PERCPU_H
#define XF_PERCPU_H

#include <stdint.h>

/*
 * out[k] = the sum over the possible CPUs of key k's values, for each key k
 * in [first, end) of the per-CPU array map_fd. Returns 0, or the negative
 * errno of counting the CPUs or of the first lookup that failed (out[] from
 * that key on is left as it was).
 */
int percpu_sum(int map_fd, uint32_t first, uint32_t end, uint64_t *out);

#endif
