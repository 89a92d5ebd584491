/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The NAT translation source: the eBPF hook on nf_nat_manip_pkt (fentry or
 * kprobe, bpf/nat.bpf.c) or, where tracing programs are refused, conntrack
 * netlink events (src/xlat_conntrack.c). Every source delivers the same
 * struct xf_xlat_event to one callback.
 */
#ifndef XF_NATHOOK_H
#define XF_NATHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "xlatflow_shared.h"

struct nathook;

#ifndef XF_NATHOOK_CB_DEFINED
#define XF_NATHOOK_CB_DEFINED
/* ev is only valid during the call. Also declared by xlat_conntrack.h. */
typedef void (*nathook_cb)(void *ctx, const struct xf_xlat_event *ev);
#endif

/**
 * nathook_open() - start a translation source.
 * @mode: XF_NAT_AUTO tries fentry, then kprobe, then conntrack, logging
 *        (log_info) why each earlier one was skipped and which one is active.
 *        XF_NAT_FENTRY/KPROBE/CONNTRACK force one source. XF_NAT_OFF returns
 *        NULL and leaves err empty.
 * @cb, @ctx: called from nathook_poll() for every translation.
 * @err, @len: on failure a one-line reason ("fentry: BPF_PROG_LOAD: ...").
 *
 * Returns a handle the caller frees with nathook_free(), or NULL.
 */
struct nathook *nathook_open(enum xf_nat_hook mode, nathook_cb cb, void *ctx, char *err,
			     size_t len);

/*
 * Conntrack mode only: also report connections conntrack destroys (pass
 * &ev->orig to xlat_table_remove()). The BPF hooks see packets, not
 * connection ends, so there this is a no-op and translations expire by
 * timeout. Call right after nathook_open(), before the first nathook_poll().
 */
void nathook_set_destroy_cb(struct nathook *h, nathook_cb cb, void *ctx);

/* The active source: XF_NAT_FENTRY, XF_NAT_KPROBE or XF_NAT_CONNTRACK. */
enum xf_nat_hook nathook_mode(const struct nathook *h);

/* Name of a mode: "auto", "fentry", "kprobe", "conntrack", "off". */
const char *nathook_mode_name(enum xf_nat_hook mode);

/* A file descriptor to wait on (EPOLLIN) before nathook_poll(); owned by h. */
int nathook_fd(struct nathook *h);

/* Consume all pending translations, calling cb. Returns their number or -errno. */
int nathook_poll(struct nathook *h);

/*
 * Sum the hook's per-CPU counters into out (indices enum xf_counter; only
 * XF_CNT_XLAT_* are non-zero). All zero in conntrack mode. Returns 0 or -errno.
 */
int nathook_read_counters(struct nathook *h, uint64_t out[XF_CNT_MAX]);

/* Detach and release everything; NULL is a no-op. */
void nathook_free(struct nathook *h);

#endif
