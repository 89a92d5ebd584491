// SPDX-License-Identifier: GPL-2.0-only
/*
 * Loading bpf/flow.bpf.c: sizing and loading its maps, seeding the flow
 * table's hash, mapping the flow table and its slot lists into this
 * process, the epoch, the sampling rate and the counters. Attaching the programs is tc_hook.c's job,
 * reading the slots drain.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <glib.h>

#include "capture.h"
#include "errbuf.h"
#include "flow.skel.h"
#include "percpu.h"

#define CAPTURE_DEFAULT_MAX_FLOWS 65536
#define CAPTURE_DEFAULT_RINGBUF (256 * 1024)

struct capture {
	struct flow_bpf *skel;
	uint32_t prog_id[2];		     /* XF_DIR_* */
	char prog_name[2][BPF_OBJ_NAME_LEN]; /* the kernel's: tc filters are named after it */
	uint32_t max_flows;		     /* slots of one epoch's table */
	uint32_t seed[XF_SEED_WORDS];
	size_t table_len;	    /* bytes of the flow_table mapping */
	size_t list_len;	    /* bytes of the flow_list mapping */
	struct xf_flow_slot *table; /* flow_table, mmapped: 2 * max_flows slots */
	uint32_t *list;		    /* flow_list, mmapped: 2 * max_flows positions */
	uint32_t sampling;
	uint32_t flags;
};

static uint32_t round_up_pow2(uint32_t v)
{
	uint32_t p = 1;

	while (p < v && p < (1u << 31))
		p <<= 1;
	return p;
}

/* Linux's ENOTSUPP (524), which BPF_PROG_LOAD can return; not in userspace errno.h. */
#define XF_ENOTSUPP 524

/*
 * What a refused load most likely means, for the operator (docs/operation.md,
 * Troubleshooting): the capability or kernel feature missing, and where the
 * verifier log is.
 */
static void load_hint(int rc, char *buf, size_t len)
{
	struct utsname u;
	const char *rel = uname(&u) == 0 ? u.release : "?";

	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
		snprintf(buf, len,
			 "; the kernel (%s) has no BTF, /sys/kernel/btf/vmlinux is missing: "
			 "xlatflowd needs Linux 5.12 or later built with CONFIG_DEBUG_INFO_BTF",
			 rel);
		return;
	}
	switch (rc) {
	case -EPERM:
	case -EACCES:
		snprintf(buf, len,
			 "; the kernel (%s) refused: the daemon needs CAP_BPF and CAP_NET_ADMIN "
			 "(CAP_SYS_ADMIN where the kernel has no CAP_BPF), or the kernel is locked "
			 "down (dmesg | grep -i lockdown); -v shows the verifier log",
			 rel);
		break;
	case -EINVAL:
	case -E2BIG:
	case -XF_ENOTSUPP:
	case -EOPNOTSUPP:
		snprintf(buf, len,
			 "; the kernel (%s) lacks a BPF feature the programs use (ring buffer: "
			 "5.8, atomic fetch-and-add: 5.12; xlatflowd needs Linux 5.12 or later); "
			 "-v shows the verifier log",
			 rel);
		break;
	default: snprintf(buf, len, "; -v shows libbpf's account and the verifier log"); break;
	}
}

static void capture_unmap(struct capture *c)
{
	if (c->table)
		munmap(c->table, c->table_len);
	if (c->list)
		munmap(c->list, c->list_len);
	c->table = NULL;
	c->list = NULL;
}

static size_t page_round(size_t len, size_t page)
{
	return (len + page - 1) / page * page;
}

/* Map one of the flow maps read-write; 0 or -errno. */
static int capture_map(struct bpf_map *m, size_t len, void **out)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(m), 0);

	if (p == MAP_FAILED)
		return -errno;
	*out = p;
	return 0;
}

static struct bpf_program *capture_prog(const struct capture *c, int direction)
{
	return direction == XF_DIR_EGRESS ? c->skel->progs.xf_tc_egress
					  : c->skel->progs.xf_tc_ingress;
}

struct capture *capture_open(const struct capture_opts *o, char *err, size_t err_len)
{
	struct capture *c;
	uint32_t rb_size, list_chunks, page = (uint32_t)sysconf(_SC_PAGESIZE);
	struct bpf_prog_info info;
	uint32_t info_len;
	int ret;

	c = g_new0(struct capture, 1);
	c->max_flows = o->kernel_max_flows ? o->kernel_max_flows : CAPTURE_DEFAULT_MAX_FLOWS;
	c->sampling = o->sampling ? o->sampling : 1;
	c->flags = o->flags;
	rb_size = round_up_pow2(o->ringbuf_size ? o->ringbuf_size : CAPTURE_DEFAULT_RINGBUF);
	if (rb_size < page)
		rb_size = page;

	c->skel = flow_bpf__open();
	if (!c->skel) {
		ret = -errno;
		errbuf_set(err, err_len, ret, "opening the flow BPF object: %s", strerror(-ret));
		goto fail;
	}
	/* 2 * max_flows positions in chunks of XF_LIST_CHUNK */
	list_chunks = (2 * c->max_flows + XF_LIST_CHUNK - 1) / XF_LIST_CHUNK;
	if ((ret = bpf_map__set_max_entries(c->skel->maps.flow_table, 2 * c->max_flows)) ||
	    (ret = bpf_map__set_max_entries(c->skel->maps.flow_list, list_chunks)) ||
	    (ret = bpf_map__set_max_entries(c->skel->maps.flow_events, rb_size))) {
		errbuf_set(err, err_len, ret, "sizing the flow maps: %s", strerror(-ret));
		goto fail;
	}
	/* the flow table's hash seed: where flows collide must not be guessable */
	if (getrandom(c->seed, sizeof(c->seed), 0) != (ssize_t)sizeof(c->seed)) {
		ret = -errno;
		errbuf_set(err, err_len, ret, "seeding the flow table hash: %s", strerror(-ret));
		goto fail;
	}
	memcpy((void *)c->skel->rodata->hash_seed, c->seed, sizeof(c->seed));
	c->skel->rodata->table_slots = c->max_flows;
	c->skel->rodata->ring_wake_bytes = rb_size / 4;
	c->skel->data->sampling = c->sampling;
	c->skel->rodata->precise_time = (c->flags & CAPTURE_F_PRECISE_TIME) ? 1 : 0;
	c->skel->rodata->order_mode = (c->flags & CAPTURE_F_ORDER_AUTO)	  ? XF_ORDER_AUTO
				      : (c->flags & CAPTURE_F_RING_FIRST) ? XF_ORDER_RING
									  : XF_ORDER_SLOTS;

	ret = flow_bpf__load(c->skel);
	if (ret) {
		char hint[320];

		load_hint(ret, hint, sizeof(hint));
		errbuf_set(err, err_len, ret, "loading the flow BPF programs: %s%s", strerror(-ret),
			   hint);
		goto fail;
	}
	for (int dir = 0; dir < 2; dir++) {
		memset(&info, 0, sizeof(info));
		info_len = sizeof(info);
		ret = bpf_obj_get_info_by_fd(bpf_program__fd(capture_prog(c, dir)), &info,
					     &info_len);
		if (ret) {
			errbuf_set(err, err_len, ret, "reading BPF program info: %s",
				   strerror(-ret));
			goto fail;
		}
		c->prog_id[dir] = info.id;
		snprintf(c->prog_name[dir], sizeof(c->prog_name[dir]), "%s", info.name);
	}
	c->table_len = page_round(2 * (size_t)c->max_flows * sizeof(struct xf_flow_slot), page);
	c->list_len = page_round((size_t)list_chunks * sizeof(struct xf_flow_list_chunk), page);
	if ((ret = capture_map(c->skel->maps.flow_table, c->table_len, (void **)&c->table)) ||
	    (ret = capture_map(c->skel->maps.flow_list, c->list_len, (void **)&c->list))) {
		errbuf_set(err, err_len, ret, "mapping the flow table (%zu bytes): %s",
			   c->table_len + c->list_len, strerror(-ret));
		goto fail;
	}
	return c;

fail:
	capture_unmap(c);
	flow_bpf__destroy(c->skel);
	g_free(c);
	errno = -ret;
	return NULL;
}

void capture_free(struct capture *c)
{
	if (!c)
		return;
	capture_unmap(c);
	flow_bpf__destroy(c->skel);
	g_free(c);
}

int capture_read_counters(struct capture *c, uint64_t out[XF_CNT_MAX])
{
	return percpu_sum(bpf_map__fd(c->skel->maps.counters), 0, XF_CNT_MAX, out);
}

uint32_t capture_sampling(const struct capture *c)
{
	return c->sampling;
}

void capture_set_sampling(struct capture *c, uint32_t sampling)
{
	c->sampling = sampling ? sampling : 1;
	/* .data is mmapped: the programs see the new rate from their next packet */
	c->skel->data->sampling = c->sampling;
}

uint32_t capture_max_flows(const struct capture *c)
{
	return c->max_flows;
}

int capture_prog_fd(const struct capture *c, int direction)
{
	return bpf_program__fd(capture_prog(c, direction));
}

uint32_t capture_prog_id(const struct capture *c, int direction)
{
	return c->prog_id[direction == XF_DIR_EGRESS];
}

const char *capture_prog_name(const struct capture *c, int direction)
{
	return c->prog_name[direction == XF_DIR_EGRESS];
}

void capture_slots(const struct capture *c, unsigned int which, struct capture_slots *out)
{
	out->table_fd = bpf_map__fd(c->skel->maps.flow_table);
	out->list_fd = bpf_map__fd(c->skel->maps.flow_list);
	out->slots = c->table + (which & 1) * (size_t)c->max_flows;
	out->list = c->list + (which & 1) * (size_t)c->max_flows;
	out->max = c->max_flows;
	out->used = &c->skel->bss->slots_used[which & 1];
}

const uint32_t *capture_hash_seed(const struct capture *c)
{
	return c->seed;
}

int capture_events_map_fd(const struct capture *c)
{
	return bpf_map__fd(c->skel->maps.flow_events);
}

uint32_t capture_epoch(const struct capture *c)
{
	return __atomic_load_n(&c->skel->bss->flows_epoch, __ATOMIC_ACQUIRE);
}

void capture_set_epoch(struct capture *c, uint32_t epoch)
{
	__atomic_store_n(&c->skel->bss->flows_epoch, epoch, __ATOMIC_SEQ_CST);
}

uint32_t capture_flags(const struct capture *c)
{
	return c->flags;
}

bool capture_ring_order(const struct capture *c)
{
	if (c->flags & CAPTURE_F_ORDER_AUTO)
		return __atomic_load_n(&c->skel->bss->ring_order, __ATOMIC_RELAXED) != 0;
	return (c->flags & CAPTURE_F_RING_FIRST) != 0;
}

void capture_set_ring_order(struct capture *c, bool ring)
{
	/* .bss is mmapped: the programs take the new order from their next packet */
	if (c->flags & CAPTURE_F_ORDER_AUTO)
		__atomic_store_n(&c->skel->bss->ring_order, ring ? 1 : 0, __ATOMIC_RELAXED);
}

int capture_read_order_cost(struct capture *c, struct xf_order_cost *out)
{
	int ncpus = libbpf_num_possible_cpus();
	struct xf_order_cost *v;
	uint32_t zero = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	if (ncpus < 0)
		return ncpus;
	v = g_new0(struct xf_order_cost, ncpus);
	ret = bpf_map_lookup_elem(bpf_map__fd(c->skel->maps.order_cost), &zero, v);
	if (ret)
		ret = -errno;
	for (int cpu = 0; !ret && cpu < ncpus; cpu++)
		for (int o = 0; o < 2; o++) {
			out->ns[o] += v[cpu].ns[o];
			out->samples[o] += v[cpu].samples[o];
		}
	g_free(v);
	return ret;
}
