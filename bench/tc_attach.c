// SPDX-License-Identifier: GPL-2.0-only
/*
 * Load a TC BPF object with libbpf, attach its first program on an
 * interface's ingress (clsact, direct action) and hold it until SIGTERM or
 * SIGINT; then count what its hash maps hold, detach and exit.
 * bench/observer_cpu.sh uses this to run bench/ref_counter*.bpf.o alone on
 * a hook, with a map large enough for every flow of the run: the objects'
 * 65536 entries would fill at 1M flows, and a counter that fails its
 * inserts looks cheaper than one that does not.
 *
 *   tc_attach OBJ IFNAME [MAX_ENTRIES]
 * MAX_ENTRIES: max_entries of every hash map, set before load. Prints
 * "tc_attach: attached" on stderr when ready and, at exit, on stdout
 * "packets=N flows=M": the first __u64 of every value (ref_val.packets)
 * summed over all CPUs and all entries, and the entries, of all hash maps.
 */
#include <errno.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int is_hash(enum bpf_map_type t)
{
	return t == BPF_MAP_TYPE_HASH || t == BPF_MAP_TYPE_PERCPU_HASH ||
	       t == BPF_MAP_TYPE_LRU_HASH || t == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

static int is_percpu(enum bpf_map_type t)
{
	return t == BPF_MAP_TYPE_PERCPU_HASH || t == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

/*
 * Add the first __u64 of each value of MAP (each CPU's copy for a per-CPU
 * map) to *packets and its entries to *flows. The traffic has stopped, so
 * the walk with get_next_key sees a map that does not change.
 */
static int map_sum(const struct bpf_map *map, unsigned long long *packets,
		   unsigned long long *flows)
{
	enum bpf_map_type type = bpf_map__type(map);
	size_t ksize = bpf_map__key_size(map), vsize = bpf_map__value_size(map);
	int ncpu = is_percpu(type) ? libbpf_num_possible_cpus() : 1;
	int fd = bpf_map__fd(map), err = 0;
	unsigned char *key, *next, *val;
	void *prev = NULL;

	if (ncpu < 1)
		return ncpu;
	if (is_percpu(type))
		vsize = (vsize + 7) / 8 * 8; /* the kernel copies each CPU's value 8-byte aligned */
	key = calloc(1, ksize);
	next = calloc(1, ksize);
	val = calloc((size_t)ncpu, vsize);
	if (!key || !next || !val)
		abort();
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		if (bpf_map_lookup_elem(fd, next, val)) {
			err = -errno;
			goto out;
		}
		for (int c = 0; c < ncpu; c++) {
			unsigned long long p;

			memcpy(&p, val + (size_t)c * vsize, sizeof(p));
			*packets += p;
		}
		(*flows)++;
		memcpy(key, next, ksize);
		prev = key;
	}
	if (errno != ENOENT)
		err = -errno;
out:
	free(key);
	free(next);
	free(val);
	return err;
}

int main(int argc, char **argv)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .attach_point = BPF_TC_INGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts);
	unsigned long long packets = 0, flows = 0;
	unsigned long max_entries = 0;
	struct bpf_program *prog;
	struct bpf_object *obj;
	struct bpf_map *map;
	int err, created = 0, rc = 1;

	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: %s OBJ IFNAME [MAX_ENTRIES]\n", argv[0]);
		return 2;
	}
	hook.ifindex = (int)if_nametoindex(argv[2]);
	if (!hook.ifindex) {
		fprintf(stderr, "tc_attach: no interface %s\n", argv[2]);
		return 1;
	}
	if (argc == 4) {
		max_entries = strtoul(argv[3], NULL, 0);
		if (!max_entries || max_entries > 1ul << 30) {
			fprintf(stderr, "tc_attach: bad MAX_ENTRIES %s\n", argv[3]);
			return 2;
		}
	}
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		fprintf(stderr, "tc_attach: open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	bpf_object__for_each_map (map, obj) {
		if (max_entries && is_hash(bpf_map__type(map)) &&
		    bpf_map__set_max_entries(map, (__u32)max_entries)) {
			fprintf(stderr, "tc_attach: max_entries of %s\n", bpf_map__name(map));
			goto out;
		}
	}
	err = bpf_object__load(obj);
	if (err) {
		fprintf(stderr, "tc_attach: load %s: %s\n", argv[1], strerror(-err));
		goto out;
	}
	prog = bpf_object__next_program(obj, NULL);
	if (!prog) {
		fprintf(stderr, "tc_attach: no program in %s\n", argv[1]);
		goto out;
	}
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST) {
		fprintf(stderr, "tc_attach: clsact on %s: %s\n", argv[2], strerror(-err));
		goto out;
	}
	created = !err;
	opts.prog_fd = bpf_program__fd(prog);
	err = bpf_tc_attach(&hook, &opts);
	if (err) {
		fprintf(stderr, "tc_attach: attach %s: %s\n", bpf_program__name(prog),
			strerror(-err));
		goto out;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	fprintf(stderr, "tc_attach: attached\n");
	while (!stop)
		pause();

	/* detach first: nothing counts any more while the maps are read */
	{
		DECLARE_LIBBPF_OPTS(bpf_tc_opts, del, .handle = opts.handle,
				    .priority = opts.priority);

		err = bpf_tc_detach(&hook, &del);
		if (err)
			fprintf(stderr, "tc_attach: detach: %s\n", strerror(-err));
	}
	bpf_object__for_each_map (map, obj) {
		if (is_hash(bpf_map__type(map)) && map_sum(map, &packets, &flows)) {
			fprintf(stderr, "tc_attach: reading %s failed\n", bpf_map__name(map));
			goto out;
		}
	}
	printf("packets=%llu flows=%llu\n", packets, flows);
	rc = err ? 1 : 0;
out:
	/* the clsact qdisc goes only if this program made it */
	if (created) {
		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		bpf_tc_hook_destroy(&hook);
	}
	bpf_object__close(obj);
	return rc;
}
