// SPDX-License-Identifier: GPL-2.0-only
/*
 * Loader of the NAT translation source. The fentry and kprobe programs live
 * in one object (bpf/nat.bpf.c); we load only the one we want by turning off
 * autoload of the other, so a kernel that refuses one can still run the
 * other. Conntrack netlink is the last resort: it works wherever conntrack
 * does, but costs a netlink message per connection event instead of a map
 * lookup per packet.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "nat.skel.h"
#include "nathook.h"
#include "xlat_conntrack.h"

struct nathook {
	enum xf_nat_hook mode;
	nathook_cb cb;
	void *ctx;
	struct nat_bpf *skel;
	struct bpf_link *link;
	struct ring_buffer *rb;
	struct xlat_conntrack *conntrack;
};

const char *nathook_mode_name(enum xf_nat_hook mode)
{
	switch (mode) {
	case XF_NAT_AUTO: return "auto";
	case XF_NAT_FENTRY: return "fentry";
	case XF_NAT_KPROBE: return "kprobe";
	case XF_NAT_CONNTRACK: return "conntrack";
	case XF_NAT_OFF: return "off";
	}
	return "unknown";
}

static int ringbuf_event(void *ctx, void *data, size_t size)
{
	struct nathook *h = ctx;
	struct xf_xlat_event ev;

	/* The ring buffer slot is released when we return: hand the callback a
	 * copy. Only xf_xlat_event records are sent; skip anything shorter. */
	if (size < sizeof(ev))
		return 0;
	memcpy(&ev, data, sizeof(ev));
	h->cb(h->ctx, &ev);
	return 0;
}

static void bpf_release(struct nathook *h)
{
	ring_buffer__free(h->rb);
	h->rb = NULL;
	bpf_link__destroy(h->link);
	h->link = NULL;
	nat_bpf__destroy(h->skel);
	h->skel = NULL;
}

/*
 * Load and attach one of the two BPF programs. On failure fill why with
 * "step: reason" and return -errno; h holds no BPF state then.
 */
static int bpf_start(struct nathook *h, enum xf_nat_hook mode, char *why, size_t len)
{
	struct bpf_program *prog, *other;
	int err;

	h->skel = nat_bpf__open();
	if (!h->skel) {
		err = -errno;
		snprintf(why, len, "open: %s", strerror(-err));
		return err;
	}
	if (mode == XF_NAT_FENTRY) {
		prog = h->skel->progs.xf_nat_fentry;
		other = h->skel->progs.xf_nat_kprobe;
	} else {
		prog = h->skel->progs.xf_nat_kprobe;
		other = h->skel->progs.xf_nat_fentry;
	}
	bpf_program__set_autoload(other, false);

	err = nat_bpf__load(h->skel);
	if (err) {
		/* ESRCH/ENOENT: the target is not in any kernel or module BTF, which
		 * in practice means nf_nat.ko is not loaded (no NAT rules yet). */
		if (err == -ESRCH || err == -ENOENT)
			snprintf(why, len,
				 "BPF_PROG_LOAD: nf_nat_manip_pkt not found (%s; nf_nat not "
				 "loaded?)",
				 strerror(-err));
		else
			snprintf(why, len, "BPF_PROG_LOAD: %s", strerror(-err));
		goto fail;
	}

	h->link = bpf_program__attach(prog);
	if (!h->link) {
		err = -errno;
		/* ENOENT: no such kprobe target, or no kprobe support at all */
		snprintf(why, len, "attach: %s%s", strerror(-err),
			 err == -ENOENT ? " (nf_nat not loaded or no kprobe support?)" : "");
		goto fail;
	}

	h->rb = ring_buffer__new(bpf_map__fd(h->skel->maps.xlat_events), ringbuf_event, h, NULL);
	if (!h->rb) {
		err = -errno;
		snprintf(why, len, "ring buffer: %s", strerror(-err));
		goto fail;
	}
	h->mode = mode;
	return 0;

fail:
	bpf_release(h);
	return err;
}

static int conntrack_start(struct nathook *h, char *why, size_t len)
{
	h->conntrack = xlat_conntrack_open(h->cb, h->ctx, why, len);
	if (!h->conntrack) {
		if (!why[0])
			snprintf(why, len, "cannot open conntrack netlink");
		return -1;
	}
	h->mode = XF_NAT_CONNTRACK;
	return 0;
}

static int start(struct nathook *h, enum xf_nat_hook mode, char *why, size_t len)
{
	why[0] = '\0';
	if (mode == XF_NAT_CONNTRACK)
		return conntrack_start(h, why, len);
	return bpf_start(h, mode, why, len);
}

struct nathook *nathook_open(enum xf_nat_hook mode, nathook_cb cb, void *ctx, char *err, size_t len)
{
	static const enum xf_nat_hook order[] = { XF_NAT_FENTRY, XF_NAT_KPROBE, XF_NAT_CONNTRACK };
	struct nathook *h;
	char why[256];
	size_t used = 0;

	if (len)
		err[0] = '\0';
	if (mode == XF_NAT_OFF)
		return NULL;

	h = calloc(1, sizeof(*h));
	if (!h)
		abort();
	h->cb = cb;
	h->ctx = ctx;

	if (mode != XF_NAT_AUTO) {
		if (start(h, mode, why, sizeof(why)) == 0) {
			log_info("NAT translations: %s", nathook_mode_name(mode));
			return h;
		}
		snprintf(err, len, "%s: %s", nathook_mode_name(mode), why);
		free(h);
		return NULL;
	}

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (start(h, order[i], why, sizeof(why)) == 0) {
			log_info("NAT translations: %s", nathook_mode_name(order[i]));
			return h;
		}
		log_info("NAT translations: %s unavailable: %s", nathook_mode_name(order[i]), why);
		/* all reasons, in order, if nothing works */
		if (used < len) {
			int n = snprintf(err + used, len - used, "%s%s: %s", used ? "; " : "",
					 nathook_mode_name(order[i]), why);
			used += n > 0 ? (size_t)n : 0;
		}
	}
	free(h);
	return NULL;
}

void nathook_set_destroy_cb(struct nathook *h, nathook_cb cb, void *ctx)
{
	if (h->mode == XF_NAT_CONNTRACK)
		xlat_conntrack_set_destroy_cb(h->conntrack, cb, ctx);
}

enum xf_nat_hook nathook_mode(const struct nathook *h)
{
	return h->mode;
}

int nathook_fd(struct nathook *h)
{
	if (h->mode == XF_NAT_CONNTRACK)
		return xlat_conntrack_fd(h->conntrack);
	return ring_buffer__epoll_fd(h->rb);
}

int nathook_poll(struct nathook *h)
{
	if (h->mode == XF_NAT_CONNTRACK)
		return xlat_conntrack_dispatch(h->conntrack);
	return ring_buffer__consume(h->rb);
}

int nathook_read_counters(struct nathook *h, uint64_t out[XF_CNT_MAX])
{
	int ncpus, fd, ret = 0;
	uint64_t *vals;

	memset(out, 0, sizeof(uint64_t) * XF_CNT_MAX);
	if (h->mode == XF_NAT_CONNTRACK)
		return 0;

	ncpus = libbpf_num_possible_cpus();
	if (ncpus < 0)
		return ncpus;
	vals = calloc(ncpus, sizeof(*vals));
	if (!vals)
		abort();
	fd = bpf_map__fd(h->skel->maps.nat_counters);
	for (uint32_t idx = XF_CNT_XLAT_CALLS; idx <= XF_CNT_XLAT_UNSUPPORTED; idx++) {
		if (bpf_map_lookup_elem(fd, &idx, vals)) {
			ret = -errno;
			break;
		}
		for (int cpu = 0; cpu < ncpus; cpu++)
			out[idx] += vals[cpu];
	}
	free(vals);
	return ret;
}

void nathook_free(struct nathook *h)
{
	if (!h)
		return;
	bpf_release(h);
	xlat_conntrack_free(h->conntrack);
	free(h);
}
