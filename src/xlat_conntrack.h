/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The conntrack-netlink translation source: the NAT hook's fallback where
 * tracing programs are refused. It listens to ctnetlink NEW/UPDATE/DESTROY
 * events of translated connections (IPS_SRC_NAT or IPS_DST_NAT) and reports
 * each one as the struct xf_xlat_event the kernel hook would have sent
 * (source XF_XLAT_SRC_CONNTRACK). See docs/nat.md.
 *
 * Like the kernel hook, which re-emits a translation every
 * XF_XLAT_REFRESH_NS while packets use it, this source re-reports every
 * translated connection by dumping the conntrack table: once at start (so
 * connections older than the daemon are known), every refresh interval
 * (ctnetlink sends no events for a quiet established connection, so without
 * this the table would expire it), and after an event overflow (ENOBUFS).
 * The source sees the network namespace it was opened in.
 */
#ifndef XF_XLAT_CONNTRACK_H
#define XF_XLAT_CONNTRACK_H

#include <stddef.h>
#include <stdint.h>

#include "xlatflow_shared.h"

/*
 * Receives one translation. The one callback type of every translation
 * source: xlat_source.h hands the kernel hook's events to the same type.
 * ev is only valid during the call.
 */
typedef void (*xlat_conntrack_cb)(void *ctx, const struct xf_xlat_event *ev);

struct xlat_conntrack;

/* Default period of the re-reporting dump: the kernel hook's refresh. */
#define XLAT_CONNTRACK_REFRESH_MS (XF_XLAT_REFRESH_NS / 1000000ULL)

struct xlat_conntrack_stats {
	uint64_t events;    /* NEW/UPDATE/DESTROY messages received */
	uint64_t reported;  /* translations passed to cb (events and dumps) */
	uint64_t destroyed; /* translations passed to the destroy callback */
	uint64_t ignored;   /* untranslated or unsupported connections skipped */
	uint64_t enobufs;   /* receive buffer overruns: events lost, resynced */
	uint64_t dumps;	    /* table dumps done */
	uint64_t errors;    /* unparsable messages */
};

/**
 * xlat_conntrack_open() - subscribe to conntrack events.
 * @cb, @ctx: called from xlat_conntrack_dispatch() for every translation.
 * @err, @len: on failure a one-line reason ("conntrack netlink: bind: ...").
 *
 * Needs CAP_NET_ADMIN. No callback runs inside this function: the initial
 * dump happens in the first xlat_conntrack_dispatch(), and the fd is
 * readable at once so an event loop calls it right away.
 * Returns a handle the caller frees with xlat_conntrack_free(), or NULL with
 * errno saying why.
 */
struct xlat_conntrack *xlat_conntrack_open(xlat_conntrack_cb cb, void *ctx, char *err, size_t len);

/*
 * Also report conntrack DESTROY events of translated connections to cb (the
 * daemon passes &ev->orig to xlat_table_remove()); NULL: ignore them, the
 * table expires them.
 */
void xlat_conntrack_set_destroy_cb(struct xlat_conntrack *c, xlat_conntrack_cb cb, void *ctx);

/*
 * Re-report every translation each interval_ms (default
 * XLAT_CONNTRACK_REFRESH_MS; keep it well below the table's timeout).
 * 0 disables the periodic dump. Returns 0 or -errno.
 */
int xlat_conntrack_set_refresh(struct xlat_conntrack *c, uint64_t interval_ms);

/* A descriptor to wait on (EPOLLIN) before xlat_conntrack_dispatch(); owned by c. */
int xlat_conntrack_fd(struct xlat_conntrack *c);

/*
 * Handle what is pending without blocking on events: received events, then
 * a table dump when one is due (start, refresh, overflow); the dump itself
 * reads until the kernel's end of dump. Returns the number of callbacks made
 * or -errno on a socket failure.
 */
int xlat_conntrack_dispatch(struct xlat_conntrack *c);

/* Dump the table now and report every translation. Returns callbacks made or -errno. */
int xlat_conntrack_resync(struct xlat_conntrack *c);

void xlat_conntrack_get_stats(const struct xlat_conntrack *c, struct xlat_conntrack_stats *out);

/* Close the sockets; NULL is a no-op. */
void xlat_conntrack_free(struct xlat_conntrack *c);

#endif
