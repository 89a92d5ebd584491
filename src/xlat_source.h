/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The NAT translation source and its selection: the eBPF hooks
 * (bpf/nat.bpf.c, a fentry/fexit or a kprobe/kretprobe set) or, where
 * tracing programs are refused, conntrack netlink events
 * (src/xlat_conntrack.c). Every source delivers the same struct
 * xf_xlat_event to one callback, of the type xlat_conntrack.h declares,
 * and the NAT event log's struct nat_event to another (nat_event.h).
 */
#ifndef XF_XLAT_SOURCE_H
#define XF_XLAT_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "nat_event.h"
#include "xlat_conntrack.h"
#include "xlatflow_shared.h"

struct xlat_source;

/**
 * xlat_source_open() - start a translation source.
 * @out: the source, which the caller frees with xlat_source_free(); NULL
 *       when @mode is XF_NAT_OFF, and on failure.
 * @mode: XF_NAT_AUTO tries fentry, then kprobe, then conntrack, logging
 *        (log_info) why each earlier one was skipped and which one is active.
 *        XF_NAT_FENTRY/KPROBE/CONNTRACK force one source. XF_NAT_OFF starts
 *        nothing, returns 0 and leaves err empty.
 * @cb, @ctx: called from xlat_source_poll() for every translation.
 * @err, @len: on failure a one-line reason ("fentry: BPF_PROG_LOAD: ..."; for
 *        XF_NAT_AUTO the reasons of all three sources, in order).
 *
 * Returns 0 or a negative errno (for XF_NAT_AUTO, the last source's).
 */
int xlat_source_open(struct xlat_source **out, enum xf_nat_hook mode, xlat_conntrack_cb cb,
		     void *ctx, char *err, size_t len);

/*
 * Also report translated connections conntrack deletes (the caller passes
 * &ev->orig to xlat_table_remove()); NULL: none. Conntrack mode: DESTROY
 * events; the BPF modes attach their DELETE hook (nf_ct_helper_destroy)
 * for it. Call right after xlat_source_open(), before the first poll.
 */
void xlat_source_set_destroy_cb(struct xlat_source *s, xlat_conntrack_cb cb, void *ctx);

/*
 * The NAT event log's callback: CREATE, DELETE, PORTS_EXHAUSTED and
 * TABLE_FULL as struct nat_event; NULL for none. Conntrack mode:
 * CREATE/DELETE over reliable event delivery, failures from conntrack's
 * statistics (xlat_conntrack_set_nat_event_cb). Every mode sets the
 * net.netfilter.nf_conntrack_timestamp/_acct sysctls to 1 so DELETEs carry
 * start times and counters (xlat_conntrack_enable_extensions). The BPF
 * modes attach their event hooks only while a callback is set, so without
 * one they cost nothing; a kind whose kernel function is missing or
 * refused is logged once (log_warnx "NAT events: KIND unavailable: why")
 * and left out, see xlat_source_nat_event_kinds(). Call right after
 * xlat_source_open(), before the first poll.
 */
void xlat_source_set_nat_event_cb(struct xlat_source *s, nat_event_cb cb, void *ctx);

/*
 * The kinds the source delivers now, as bits (1U << XF_XLAT_KIND_*): in
 * the BPF modes those whose hooks are attached (DELETE also while only the
 * destroy callback wants it); in conntrack mode all four while a NAT event
 * callback is set.
 */
uint32_t xlat_source_nat_event_kinds(const struct xlat_source *s);

/*
 * Conntrack mode: the conntrack source's statistics (event losses by cause,
 * the table's fill and nf_conntrack_max for the threshold event).
 * Returns 0, or -EOPNOTSUPP for the kernel hooks.
 */
int xlat_source_conntrack_stats(const struct xlat_source *s, struct xlat_conntrack_stats *out);

/* The active source: XF_NAT_FENTRY, XF_NAT_KPROBE or XF_NAT_CONNTRACK. */
enum xf_nat_hook xlat_source_mode(const struct xlat_source *s);

/* A file descriptor to wait on (EPOLLIN) before xlat_source_poll(); owned by s. */
int xlat_source_fd(struct xlat_source *s);

/* Consume all pending translations, calling cb. Returns their number or -errno. */
int xlat_source_poll(struct xlat_source *s);

/*
 * Sum the source's counters into out (indices enum xf_counter; only
 * XF_CNT_XLAT_* and XF_CNT_NATEV_* are non-zero). BPF modes: the hooks'
 * per-CPU counters. Conntrack mode: CALLS = event messages received, EVENTS
 * = translations reported, RB_LOST = events the kernel dropped for good
 * (overruns while delivery was unreliable), UNSUPPORTED = connections of
 * other families. Returns 0 or -errno.
 */
int xlat_source_read_counters(struct xlat_source *s, uint64_t out[XF_CNT_MAX]);

/* Detach and release everything; NULL is a no-op. */
void xlat_source_free(struct xlat_source *s);

#endif
