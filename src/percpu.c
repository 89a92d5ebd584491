// SPDX-License-Identifier: GPL-2.0-only
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <glib.h>

#include "percpu.h"

int percpu_sum(int map_fd, uint32_t first, uint32_t end, uint64_t *out)
{
	int ncpus = libbpf_num_possible_cpus();
	uint64_t *vals;
	int ret = 0;

	if (ncpus < 0)
		return ncpus;
	vals = g_new0(uint64_t, ncpus);
	for (uint32_t key = first; key < end; key++) {
		ret = bpf_map_lookup_elem(map_fd, &key, vals);
		if (ret)
			break;
		out[key] = 0;
		for (int cpu = 0; cpu < ncpus; cpu++)
			out[key] += vals[cpu];
	}
	g_free(vals);
	return ret;
}
