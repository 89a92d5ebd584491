// SPDX-License-Identifier: GPL-2.0-only
/*
 * The NAT translation source: which one runs, and the loader of the kernel
 * hook. The fentry and kprobe programs live in one object (bpf/nat.bpf.c);
 * we load only the one we want by turning off autoload of the other, so a
 * kernel that refuses one can still run the other. Conntrack netlink is the
 * last resort: it works wherever conntrack does, but costs a netlink message
 * per connection event instead of a map lookup per packet.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "errbuf.h"
#include "log.h"
#include "nat.skel.h"
#include "xlat_source.h"

struct xlat_source {
	enum xf_nat_hook mode;
	xlat_conntrack_cb cb;
	void *ctx;
	struct nat_bpf *skel;
	struct bpf_link *link;
	struct ring_buffer *rb;
	struct xlat_conntrack *conntrack;
};

static int ringbuf_event(void *ctx, void *data, size_t size)
{
	struct xlat_source *src = ctx;
	struct xf_xlat_event ev;

	/* The ring buffer slot is released when we return: hand the callback a
	 * copy. Only xf_xlat_event records are sent; skip anything shorter. */
	if (size < sizeof(ev))
		return 0;
	memcpy(&ev, data, sizeof(ev));
	src->cb(src->ctx, &ev);
	return 0;
}

static void bpf_release(struct xlat_source *src)
{
	ring_buffer__free(src->rb);
	src->rb = NULL;
	bpf_link__destroy(src->link);
	src->link = NULL;
	nat_bpf__destroy(src->skel);
	src->skel = NULL;
}

/*
 * Load and attach one of the two BPF programs. On failure fill why with
 * "step: reason" and return -errno; src holds no BPF state then.
 */
static int bpf_start(struct xlat_source *src, enum xf_nat_hook mode, char *why, size_t len)
{
	struct bpf_program *prog, *other;
	int rc;

	src->skel = nat_bpf__open();
	if (!src->skel)
		return errbuf_set(why, len, -errno, "open: %s", strerror(errno));
	if (mode == XF_NAT_FENTRY) {
		prog = src->skel->progs.xf_nat_fentry;
		other = src->skel->progs.xf_nat_kprobe;
	} else {
		prog = src->skel->progs.xf_nat_kprobe;
		other = src->skel->progs.xf_nat_fentry;
	}
	bpf_program__set_autoload(other, false);

	rc = nat_bpf__load(src->skel);
	if (rc) {
		/* ESRCH/ENOENT: the target is not in any kernel or module BTF, which
		 * in practice means nf_nat.ko is not loaded (no NAT rules yet). */
		if (rc == -ESRCH || rc == -ENOENT)
			errbuf_set(why, len, rc,
				   "BPF_PROG_LOAD: nf_nat_manip_pkt not found (%s; nf_nat not "
				   "loaded?)",
				   strerror(-rc));
		else
			errbuf_set(why, len, rc, "BPF_PROG_LOAD: %s", strerror(-rc));
		goto fail;
	}

	src->link = bpf_program__attach(prog);
	if (!src->link) {
		/* ENOENT: no such kprobe target, or no kprobe support at all */
		rc = errbuf_set(why, len, -errno, "attach: %s%s", strerror(errno),
				errno == ENOENT ? " (nf_nat not loaded or no kprobe support?)"
						: "");
		goto fail;
	}

	src->rb = ring_buffer__new(bpf_map__fd(src->skel->maps.xlat_events), ringbuf_event, src,
				   NULL);
	if (!src->rb) {
		rc = errbuf_set(why, len, -errno, "ring buffer: %s", strerror(errno));
		goto fail;
	}
	src->mode = mode;
	return 0;

fail:
	bpf_release(src);
	return rc;
}

static int conntrack_start(struct xlat_source *src, char *why, size_t len)
{
	src->conntrack = xlat_conntrack_open(src->cb, src->ctx, why, len);
	if (!src->conntrack)
		return -errno; /* why says which step failed */
	src->mode = XF_NAT_CONNTRACK;
	return 0;
}

static int start(struct xlat_source *src, enum xf_nat_hook mode, char *why, size_t len)
{
	why[0] = '\0';
	if (mode == XF_NAT_CONNTRACK)
		return conntrack_start(src, why, len);
	return bpf_start(src, mode, why, len);
}

int xlat_source_open(struct xlat_source **out, enum xf_nat_hook mode, xlat_conntrack_cb cb,
		     void *ctx, char *err, size_t len)
{
	static const enum xf_nat_hook order[] = { XF_NAT_FENTRY, XF_NAT_KPROBE, XF_NAT_CONNTRACK };
	struct xlat_source *src;
	char why[256];
	size_t used = 0;
	int rc = 0;

	*out = NULL;
	if (err && len)
		err[0] = '\0';
	if (mode == XF_NAT_OFF)
		return 0;

	src = calloc(1, sizeof(*src));
	if (!src)
		abort();
	src->cb = cb;
	src->ctx = ctx;

	if (mode != XF_NAT_AUTO) {
		rc = start(src, mode, why, sizeof(why));
		if (rc < 0)
			errbuf_set(err, len, rc, "%s: %s", config_nat_hook_name(mode), why);
	} else {
		for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
			rc = start(src, order[i], why, sizeof(why));
			if (rc == 0)
				break;
			log_info("NAT translations: %s unavailable: %s",
				 config_nat_hook_name(order[i]), why);
			/* all reasons, in order, if nothing works */
			if (err && used < len) {
				int n = snprintf(err + used, len - used, "%s%s: %s",
						 used ? "; " : "", config_nat_hook_name(order[i]),
						 why);
				used += n > 0 ? (size_t)n : 0;
			}
		}
	}
	if (rc < 0) {
		free(src);
		return rc;
	}
	log_info("NAT translations: %s", config_nat_hook_name(src->mode));
	*out = src;
	return 0;
}

void xlat_source_set_nat_event_cb(struct xlat_source *src, nat_event_cb cb, void *ctx)
{
	if (src->mode != XF_NAT_CONNTRACK)
		return;
	/* DELETEs without them lack start times and counters: docs/nat.md */
	if (cb)
		xlat_conntrack_enable_extensions();
	xlat_conntrack_set_nat_event_cb(src->conntrack, cb, ctx);
}

int xlat_source_conntrack_stats(const struct xlat_source *src, struct xlat_conntrack_stats *out)
{
	if (src->mode != XF_NAT_CONNTRACK)
		return -EOPNOTSUPP;
	xlat_conntrack_get_stats(src->conntrack, out);
	return 0;
}

void xlat_source_set_destroy_cb(struct xlat_source *src, xlat_conntrack_cb cb, void *ctx)
{
	if (src->mode == XF_NAT_CONNTRACK)
		xlat_conntrack_set_destroy_cb(src->conntrack, cb, ctx);
}

enum xf_nat_hook xlat_source_mode(const struct xlat_source *src)
{
	return src->mode;
}

int xlat_source_fd(struct xlat_source *src)
{
	if (src->mode == XF_NAT_CONNTRACK)
		return xlat_conntrack_fd(src->conntrack);
	return ring_buffer__epoll_fd(src->rb);
}

int xlat_source_poll(struct xlat_source *src)
{
	if (src->mode == XF_NAT_CONNTRACK)
		return xlat_conntrack_dispatch(src->conntrack);
	return ring_buffer__consume(src->rb);
}

int xlat_source_read_counters(struct xlat_source *src, uint64_t out[XF_CNT_MAX])
{
	int ncpus, fd, ret = 0;
	uint64_t *vals;

	memset(out, 0, sizeof(uint64_t) * XF_CNT_MAX);
	if (src->mode == XF_NAT_CONNTRACK) {
		struct xlat_conntrack_stats st;

		xlat_conntrack_get_stats(src->conntrack, &st);
		out[XF_CNT_XLAT_CALLS] = st.events;
		out[XF_CNT_XLAT_EVENTS] = st.reported;
		out[XF_CNT_XLAT_RB_LOST] = st.lost_events;
		out[XF_CNT_XLAT_UNSUPPORTED] = st.unsupported;
		return 0;
	}

	ncpus = libbpf_num_possible_cpus();
	if (ncpus < 0)
		return ncpus;
	vals = calloc(ncpus, sizeof(*vals));
	if (!vals)
		abort();
	fd = bpf_map__fd(src->skel->maps.nat_counters);
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

void xlat_source_free(struct xlat_source *src)
{
	if (!src)
		return;
	bpf_release(src);
	xlat_conntrack_free(src->conntrack);
	free(src);
}
