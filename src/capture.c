// SPDX-License-Identifier: GPL-2.0-only
/*
 * Loading bpf/flow.bpf.c: sizing and loading its maps, mapping the flow
 * slots of both epoch parities into this process, the epoch, the sampling
 * rate and the counters. Attaching the programs is tc_hook.c's job,
 * reading the slots drain.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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
	uint32_t max_flows;
	int ncpus;
	size_t slots_len; /* bytes of each mapping */
	void *slots[2];	  /* flow_slots_0/1, mmapped */
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

static void capture_unmap_slots(struct capture *c)
{
	for (int i = 0; i < 2; i++) {
		if (c->slots[i])
			munmap(c->slots[i], c->slots_len);
		c->slots[i] = NULL;
	}
}

static struct bpf_program *capture_prog(const struct capture *c, int direction)
{
	return direction == XF_DIR_EGRESS ? c->skel->progs.xf_tc_egress
					  : c->skel->progs.xf_tc_ingress;
}

struct capture *capture_open(const struct capture_opts *o, char *err, size_t err_len)
{
	struct capture *c;
	uint32_t rb_size, page = (uint32_t)sysconf(_SC_PAGESIZE);
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
	c->ncpus = libbpf_num_possible_cpus();
	if (c->ncpus < 1) {
		ret = c->ncpus < 0 ? c->ncpus : -EINVAL;
		errbuf_set(err, err_len, ret, "counting the possible CPUs: %s", strerror(-ret));
		goto fail;
	}
	if ((ret = bpf_map__set_max_entries(c->skel->maps.flow_index, c->max_flows)) ||
	    (ret = bpf_map__set_max_entries(c->skel->maps.flow_slots_0, c->max_flows)) ||
	    (ret = bpf_map__set_max_entries(c->skel->maps.flow_slots_1, c->max_flows)) ||
	    (ret = bpf_map__set_value_size(c->skel->maps.flow_slots_0,
					   (uint32_t)XF_SLOT_SIZE(c->ncpus))) ||
	    (ret = bpf_map__set_value_size(c->skel->maps.flow_slots_1,
					   (uint32_t)XF_SLOT_SIZE(c->ncpus))) ||
	    (ret = bpf_map__set_max_entries(c->skel->maps.flow_events, rb_size))) {
		errbuf_set(err, err_len, ret, "sizing the flow maps: %s", strerror(-ret));
		goto fail;
	}
	c->skel->data->sampling = c->sampling;
	c->skel->rodata->precise_time = (c->flags & CAPTURE_F_PRECISE_TIME) ? 1 : 0;
	c->skel->rodata->nr_cpus = (uint32_t)c->ncpus;

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
	c->slots_len = XF_SLOT_SIZE(c->ncpus) * (size_t)c->max_flows;
	c->slots_len = (c->slots_len + page - 1) / page * page;
	for (int i = 0; i < 2; i++) {
		struct bpf_map *m = i ? c->skel->maps.flow_slots_1 : c->skel->maps.flow_slots_0;
		void *p = mmap(NULL, c->slots_len, PROT_READ | PROT_WRITE, MAP_SHARED,
			       bpf_map__fd(m), 0);

		if (p == MAP_FAILED) {
			ret = -errno;
			errbuf_set(err, err_len, ret, "mapping the flow slots (%zu bytes): %s",
				   c->slots_len, strerror(-ret));
			goto fail;
		}
		c->slots[i] = p;
	}
	return c;

fail:
	capture_unmap_slots(c);
	flow_bpf__destroy(c->skel);
	g_free(c);
	errno = -ret;
	return NULL;
}

void capture_free(struct capture *c)
{
	if (!c)
		return;
	capture_unmap_slots(c);
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
	out->fd = bpf_map__fd(which & 1 ? c->skel->maps.flow_slots_1 : c->skel->maps.flow_slots_0);
	out->base = c->slots[which & 1];
	out->stride = XF_SLOT_SIZE(c->ncpus);
	out->max = c->max_flows;
	out->ncpus = c->ncpus;
	out->used = &c->skel->bss->slots_used[which & 1];
}

int capture_index_fd(const struct capture *c)
{
	return bpf_map__fd(c->skel->maps.flow_index);
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
