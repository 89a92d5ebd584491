// SPDX-License-Identifier: GPL-2.0-only
/*
 * The NAT translation source: which one runs, and the loader of the kernel
 * hooks. All programs live in one object (bpf/nat.bpf.c), a fentry/fexit
 * set and a kprobe/kretprobe set; we load the set of the chosen mode by
 * turning off autoload of the other, so a kernel that refuses one can still
 * run the other. Conntrack netlink is the last resort: it works wherever
 * conntrack does, but costs a netlink message per connection event instead
 * of a map lookup per packet.
 *
 * Within a set, the flow enrichment's hooks (nf_nat_manip_pkt and
 * nf_conntrack_free) are the source: without them the mode fails. The NAT
 * event log's hooks are each optional: one whose kernel function is missing
 * or refused makes its kind unavailable, nothing else. They are loaded with
 * the rest but attached only while someone wants their events (a loaded,
 * unattached program costs nothing), see docs/nat.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <glib.h>

#include "errbuf.h"
#include "log.h"
#include "nat.skel.h"
#include "percpu.h"
#include "xlat_source.h"

/*
 * The "already reported" table: one entry per tracked connection at most,
 * XF_CONN_WAYS per set, a power of two of sets (bpf/nat.bpf.c).
 */
#define CONN_SET_BITS_MIN 8U  /* 1024 entries */
#define CONN_SET_BITS_MAX 18U /* 1M entries, 48 MiB */
#define CONNS_DEFAULT 65536U

/* The kernel functions the programs attach to, one hook each. */
enum hook_id {
	HOOK_MANIP,  /* flow enrichment: SEEN */
	HOOK_FREE,   /* flow enrichment: forgets freed connections */
	HOOK_CREATE, /* NAT events, one kind each */
	HOOK_DELETE,
	HOOK_CLASH,
	HOOK_ALLOC,
	HOOK_MAX,
};

static const struct {
	const char *target;
	uint8_t kind; /* what it reports; SEEN for the enrichment's hooks */
} hook_info[HOOK_MAX] = {
	[HOOK_MANIP] = { "nf_nat_manip_pkt", XF_XLAT_KIND_SEEN },
	[HOOK_FREE] = { "nf_conntrack_free", XF_XLAT_KIND_SEEN },
	[HOOK_CREATE] = { "__nf_conntrack_confirm", XF_XLAT_KIND_CREATE },
	[HOOK_DELETE] = { "nf_ct_helper_destroy", XF_XLAT_KIND_DELETE },
	[HOOK_CLASH] = { "nf_ct_resolve_clash", XF_XLAT_KIND_PORTS_EXHAUSTED },
	[HOOK_ALLOC] = { "__nf_conntrack_alloc", XF_XLAT_KIND_TABLE_FULL },
};

/*
 * One hook's programs in the active mode: prog[0] alone (fentry, fexit,
 * kprobe), or a kretprobe in prog[0] with the kprobe that stashes its
 * arguments in prog[1]. Attached return first, detached entry first, so a
 * return never waits for an entry that was not stashed.
 */
struct hook {
	struct bpf_program *prog[2];
	struct bpf_link *link[2];
	bool loaded;
	char why[160]; /* why it is not loaded */
};

struct xlat_source {
	enum xf_nat_hook mode;
	xlat_conntrack_cb cb;
	void *ctx;
	xlat_conntrack_cb destroy_cb;
	void *destroy_ctx;
	nat_event_cb event_cb;
	void *event_ctx;
	bool told_unavailable; /* the missing kinds were logged */
	struct nat_bpf *skel;
	struct hook hooks[HOOK_MAX];
	struct ring_buffer *rb;
	struct xlat_conntrack *conntrack;
};

static const char *kind_name(uint8_t kind)
{
	switch (kind) {
	case XF_XLAT_KIND_CREATE: return "CREATE";
	case XF_XLAT_KIND_DELETE: return "DELETE";
	case XF_XLAT_KIND_PORTS_EXHAUSTED: return "PORTS_EXHAUSTED";
	case XF_XLAT_KIND_TABLE_FULL: return "TABLE_FULL";
	}
	return "SEEN";
}

static void to_nat_event(struct nat_event *out, const struct xf_xlat_event *ev,
			 const struct xf_xlat_session *s)
{
	memset(out, 0, sizeof(*out));
	out->kind = ev->kind;
	out->source = ev->source;
	out->zone_id = ev->zone_id;
	out->orig = ev->orig;
	out->reply = ev->reply;
	out->time_mono_ns = ev->ts_ns;
	if (ev->kind == XF_XLAT_KIND_PORTS_EXHAUSTED || ev->kind == XF_XLAT_KIND_TABLE_FULL)
		out->count = 1; /* one dropped packet each */
	if (!s)
		return;
	if (s->flags & XF_SESSION_F_TSTAMP) {
		out->flags |= NAT_EVENT_F_START;
		out->start_wall_ns = s->start_wall_ns;
	}
	if (s->flags & XF_SESSION_F_ACCT) {
		out->flags |= NAT_EVENT_F_ACCT;
		memcpy(out->packets, s->packets, sizeof(out->packets));
		memcpy(out->octets, s->octets, sizeof(out->octets));
	}
}

/* One ring buffer record: a struct xf_xlat_event, or for DELETE a struct xf_xlat_session. */
static int ringbuf_event(void *ctx, void *data, size_t size)
{
	struct xlat_source *src = ctx;
	struct xf_xlat_session s;
	struct nat_event nev;

	/* The ring buffer slot is released when we return: hand out copies. */
	if (size < sizeof(s.ev))
		return 0;
	memcpy(&s.ev, data, sizeof(s.ev));
	switch (s.ev.kind) {
	case XF_XLAT_KIND_SEEN: src->cb(src->ctx, &s.ev); break;
	case XF_XLAT_KIND_DELETE:
		if (size < sizeof(s))
			return 0;
		memcpy(&s, data, sizeof(s));
		if (src->destroy_cb)
			src->destroy_cb(src->destroy_ctx, &s.ev);
		if (src->event_cb) {
			to_nat_event(&nev, &s.ev, &s);
			src->event_cb(src->event_ctx, &nev);
		}
		break;
	case XF_XLAT_KIND_CREATE:
	case XF_XLAT_KIND_PORTS_EXHAUSTED:
	case XF_XLAT_KIND_TABLE_FULL:
		if (src->event_cb) {
			to_nat_event(&nev, &s.ev, NULL);
			src->event_cb(src->event_ctx, &nev);
		}
		break;
	default: break;
	}
	return 0;
}

static void hook_detach(struct hook *h)
{
	for (int i = 1; i >= 0; i--) {
		bpf_link__destroy(h->link[i]);
		h->link[i] = NULL;
	}
}

static int hook_attach(struct hook *h)
{
	if (h->link[0])
		return 0;
	for (int i = 0; i < 2 && h->prog[i]; i++) {
		h->link[i] = bpf_program__attach(h->prog[i]);
		if (!h->link[i]) {
			int rc = -errno;

			hook_detach(h);
			return rc;
		}
	}
	return 0;
}

static void bpf_release(struct xlat_source *src)
{
	ring_buffer__free(src->rb);
	src->rb = NULL;
	for (int i = 0; i < HOOK_MAX; i++)
		hook_detach(&src->hooks[i]);
	nat_bpf__destroy(src->skel);
	src->skel = NULL;
}

/* The programs of hook id in mode, from the skeleton. */
static void hook_progs(struct nat_bpf *skel, enum xf_nat_hook mode, enum hook_id id,
		       struct bpf_program *out[2])
{
	const bool f = mode == XF_NAT_FENTRY;

	out[1] = NULL;
	switch (id) {
	case HOOK_MANIP: out[0] = f ? skel->progs.xf_nat_fentry : skel->progs.xf_nat_kprobe; break;
	case HOOK_FREE: out[0] = f ? skel->progs.xf_free_fentry : skel->progs.xf_free_kprobe; break;
	case HOOK_CREATE:
		out[0] = f ? skel->progs.xf_create_fexit : skel->progs.xf_create_kretprobe;
		out[1] = f ? NULL : skel->progs.xf_create_kprobe;
		break;
	case HOOK_DELETE:
		out[0] = f ? skel->progs.xf_delete_fentry : skel->progs.xf_delete_kprobe;
		break;
	case HOOK_CLASH:
		out[0] = f ? skel->progs.xf_clash_fexit : skel->progs.xf_clash_kretprobe;
		out[1] = f ? NULL : skel->progs.xf_clash_kprobe;
		break;
	case HOOK_ALLOC:
		out[0] = f ? skel->progs.xf_alloc_fexit : skel->progs.xf_alloc_kretprobe;
		out[1] = f ? NULL : skel->progs.xf_alloc_kprobe;
		break;
	default: out[0] = NULL; break;
	}
}

/*
 * Which event hook targets the running kernel has (modules included):
 * sets present[id]. A function missing from /proc/kallsyms cannot be
 * traced, and trying would fail the whole object's load.
 */
static void find_targets(bool present[HOOK_MAX])
{
	char line[512], name[256];
	FILE *f = fopen("/proc/kallsyms", "re");

	if (!f) {
		/* let the load decide */
		for (int i = 0; i < HOOK_MAX; i++)
			present[i] = true;
		return;
	}
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %*s %255s", name) == 1)
			for (int i = HOOK_CREATE; i < HOOK_MAX; i++)
				if (!strcmp(name, hook_info[i].target))
					present[i] = true;
	fclose(f);
}

/*
 * log2 of the number of sets of the "already reported" table: room for
 * nf_conntrack_max connections (the most conntrack can track at once),
 * within CONN_SET_BITS_MIN..MAX.
 */
static uint32_t conn_set_bits(void)
{
	unsigned long max = 0;
	uint32_t bits = CONN_SET_BITS_MIN;
	FILE *f = fopen("/proc/sys/net/netfilter/nf_conntrack_max", "re");

	if (!f || fscanf(f, "%lu", &max) != 1)
		max = CONNS_DEFAULT;
	if (f)
		fclose(f);
	while (bits < CONN_SET_BITS_MAX && ((unsigned long)XF_CONN_WAYS << bits) < max)
		bits++;
	return bits;
}

/*
 * Open the skeleton with the programs of mode; with_events false leaves
 * out every NAT event hook. Fills the hooks' programs and why a missing
 * target's hook is not loaded.
 */
static int bpf_open(struct xlat_source *src, enum xf_nat_hook mode, bool with_events,
		    const bool present[HOOK_MAX], char *why, size_t len)
{
	struct bpf_program *p, *keep[2];
	uint32_t bits;
	int rc;

	src->skel = nat_bpf__open();
	if (!src->skel)
		return errbuf_set(why, len, -errno, "open: %s", strerror(errno));
	bits = conn_set_bits();
	src->skel->rodata->conn_set_bits = bits;
	rc = bpf_map__set_max_entries(src->skel->maps.xlat_conns, 1U << bits);
	if (rc)
		return errbuf_set(why, len, rc, "map size: %s", strerror(-rc));
	bpf_object__for_each_program (p, src->skel->obj)
		bpf_program__set_autoload(p, false);
	for (int i = 0; i < HOOK_MAX; i++) {
		struct hook *h = &src->hooks[i];

		hook_progs(src->skel, mode, i, keep);
		h->prog[0] = keep[0];
		h->prog[1] = keep[1];
		h->loaded = false;
		if (i >= HOOK_CREATE && !with_events)
			continue;
		if (i >= HOOK_CREATE && !present[i]) {
			snprintf(h->why, sizeof(h->why), "%s not in /proc/kallsyms",
				 hook_info[i].target);
			continue;
		}
		for (int j = 0; j < 2 && keep[j]; j++)
			bpf_program__set_autoload(keep[j], true);
		h->loaded = true;
	}
	return 0;
}

static int bpf_load_error(int rc, char *why, size_t len)
{
	/* ESRCH/ENOENT: the target is not in any kernel or module BTF, which
	 * in practice means nf_nat.ko is not loaded (no NAT rules yet). */
	if (rc == -ESRCH || rc == -ENOENT)
		return errbuf_set(why, len, rc,
				  "BPF_PROG_LOAD: nf_nat_manip_pkt not found (%s; nf_nat not "
				  "loaded?)",
				  strerror(-rc));
	/* the kernel refuses tracing programs: capability, lockdown, a sandbox */
	if (rc == -EPERM || rc == -EACCES)
		return errbuf_set(why, len, rc,
				  "BPF_PROG_LOAD: %s (tracing programs need CAP_PERFMON and "
				  "CAP_BPF, and a kernel that allows them: no lockdown, kprobes "
				  "built in)",
				  strerror(-rc));
	return errbuf_set(why, len, rc, "BPF_PROG_LOAD: %s", strerror(-rc));
}

/*
 * Load the programs of mode and attach the flow enrichment's. On failure
 * fill why with "step: reason" and return -errno; src holds no BPF state
 * then.
 */
static int bpf_start(struct xlat_source *src, enum xf_nat_hook mode, char *why, size_t len)
{
	bool present[HOOK_MAX] = { false };
	char first[160] = "";
	int rc;

	find_targets(present);
	rc = bpf_open(src, mode, true, present, why, len);
	if (rc == 0)
		rc = nat_bpf__load(src->skel);
	if (rc) {
		/*
		 * A kernel that refuses one of the event hooks must not cost the
		 * translations: try again with the enrichment's hooks alone, and
		 * keep the first reason for the event kinds.
		 */
		snprintf(first, sizeof(first), "BPF_PROG_LOAD: %s", strerror(-rc));
		bpf_release(src);
		rc = bpf_open(src, mode, false, present, why, len);
		if (rc == 0)
			rc = nat_bpf__load(src->skel);
		if (rc) {
			bpf_load_error(rc, why, len);
			goto fail;
		}
		for (int i = HOOK_CREATE; i < HOOK_MAX; i++)
			if (present[i])
				snprintf(src->hooks[i].why, sizeof(src->hooks[i].why), "%s", first);
	}

	for (int i = HOOK_MANIP; i <= HOOK_FREE; i++) {
		rc = hook_attach(&src->hooks[i]);
		if (rc < 0) {
			/* ENOENT: no such kprobe target, or no kprobe support at all */
			errbuf_set(
				why, len, rc, "attach %s: %s%s", hook_info[i].target, strerror(-rc),
				rc == -ENOENT ? " (nf_nat not loaded or no kprobe support?)" : "");
			goto fail;
		}
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

	src = g_new0(struct xlat_source, 1);
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
		g_free(src);
		return rc;
	}
	log_info("NAT translations: %s", config_nat_hook_name(src->mode));
	*out = src;
	return 0;
}

/*
 * Attach the event hooks someone wants now (DELETE: the event log or the
 * translation table; the others: the event log), detach the rest.
 */
static void bpf_update_hooks(struct xlat_source *src)
{
	for (int i = HOOK_CREATE; i < HOOK_MAX; i++) {
		struct hook *h = &src->hooks[i];
		bool want = src->event_cb || (i == HOOK_DELETE && src->destroy_cb);
		int rc;

		if (!want) {
			hook_detach(h);
			continue;
		}
		if (!h->loaded)
			continue;
		rc = hook_attach(h);
		if (rc < 0) {
			h->loaded = false;
			snprintf(h->why, sizeof(h->why), "attach %s: %s", hook_info[i].target,
				 strerror(-rc));
			log_warnx("NAT events: %s unavailable: %s", kind_name(hook_info[i].kind),
				  h->why);
		}
	}
	if (src->event_cb && !src->told_unavailable) {
		src->told_unavailable = true;
		for (int i = HOOK_CREATE; i < HOOK_MAX; i++)
			if (!src->hooks[i].loaded)
				log_warnx("NAT events: %s unavailable: %s",
					  kind_name(hook_info[i].kind), src->hooks[i].why);
	}
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
	src->destroy_cb = cb;
	src->destroy_ctx = ctx;
	if (src->mode == XF_NAT_CONNTRACK)
		xlat_conntrack_set_destroy_cb(src->conntrack, cb, ctx);
	else
		bpf_update_hooks(src);
}

void xlat_source_set_nat_event_cb(struct xlat_source *src, nat_event_cb cb, void *ctx)
{
	src->event_cb = cb;
	src->event_ctx = ctx;
	/* DELETEs without them lack start times and counters: docs/nat.md */
	if (cb)
		xlat_conntrack_enable_extensions();
	if (src->mode == XF_NAT_CONNTRACK)
		xlat_conntrack_set_nat_event_cb(src->conntrack, cb, ctx);
	else
		bpf_update_hooks(src);
}

uint32_t xlat_source_nat_event_kinds(const struct xlat_source *src)
{
	uint32_t kinds = 0;

	if (src->mode == XF_NAT_CONNTRACK)
		return src->event_cb ? (1U << XF_XLAT_KIND_CREATE) | (1U << XF_XLAT_KIND_DELETE) |
					       (1U << XF_XLAT_KIND_PORTS_EXHAUSTED) |
					       (1U << XF_XLAT_KIND_TABLE_FULL)
				     : 0;
	for (int i = HOOK_CREATE; i < HOOK_MAX; i++)
		if (src->hooks[i].link[0] && (src->event_cb || i == HOOK_DELETE))
			kinds |= 1U << hook_info[i].kind;
	return kinds;
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

	return percpu_sum(bpf_map__fd(src->skel->maps.nat_counters), XF_CNT_XLAT_CALLS, XF_CNT_MAX,
			  out);
}

void xlat_source_free(struct xlat_source *src)
{
	if (!src)
		return;
	bpf_release(src);
	xlat_conntrack_free(src->conntrack);
	g_free(src);
}
