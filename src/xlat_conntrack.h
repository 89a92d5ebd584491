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
 * Dumps are read a slice at a time, so a table of a million connections
 * never holds up the caller's event loop.
 *
 * With a NAT event callback (xlat_conntrack_set_nat_event_cb) it is also
 * the NAT event log's source (docs/nat.md, "NAT events from conntrack"):
 * one CREATE per translated connection, one DELETE with conntrack's start
 * time and counters, over conntrack's reliable event delivery; and
 * PORTS_EXHAUSTED / TABLE_FULL counted from conntrack's statistics.
 * The source sees the network namespace it was opened in.
 */
#ifndef XF_XLAT_CONNTRACK_H
#define XF_XLAT_CONNTRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nat_event.h"
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
/* Period of the statistics poll while NAT events are wanted. */
#define XLAT_CONNTRACK_STATS_MS 1000

/* struct xlat_conntrack_stats.host bits: what the kernel gives DELETE events. */
#define XLAT_CT_HOST_EVENTS 0x1	   /* net.netfilter.nf_conntrack_events != 0 */
#define XLAT_CT_HOST_TIMESTAMP 0x2 /* net.netfilter.nf_conntrack_timestamp = 1 */
#define XLAT_CT_HOST_ACCT 0x4	   /* net.netfilter.nf_conntrack_acct = 1 */

struct xlat_conntrack_stats {
	/* translations (flow enrichment) */
	uint64_t events;      /* NEW/UPDATE/DESTROY messages received */
	uint64_t reported;    /* translations passed to cb (events and dumps) */
	uint64_t destroyed;   /* translations passed to the destroy callback */
	uint64_t ignored;     /* untranslated or unsupported connections skipped */
	uint64_t unsupported; /* of them, neither IPv4 nor IPv6 */
	uint64_t dumps;	      /* table dumps completed */
	uint64_t errors;      /* unparsable messages */

	/* event delivery: what reached this socket, what did not */
	uint64_t enobufs;	     /* ENOBUFS reports (unreliable delivery): resynced by a dump */
	uint64_t overruns;	     /* messages the kernel could not queue on the event socket */
	uint64_t lost_events;	     /* of them, dropped while delivery was unreliable: gone */
	bool reliable;		     /* reliable delivery in effect now */
	uint64_t reliable_suspended; /* times the table-full guard turned it off */

	/* NAT events (only with a NAT event callback) */
	uint64_t creates;	    /* CREATE events, recovered ones included */
	uint64_t deletes;	    /* DELETE events */
	uint64_t recovered_creates; /* CREATEs rebuilt from a DELETE or a dump: NEW lost */
	uint64_t lost_deletes;	    /* sessions that ended without a DESTROY (no DELETE sent) */
	uint64_t untracked_deletes; /* pre-existing sessions that ended without a DESTROY */
	uint64_t lost_sessions;	    /* seen only in a dump, ended without any event */
	uint64_t duplicates;	    /* NEW or DESTROY delivered twice: ignored */
	uint64_t sessions;	    /* translated connections tracked now */
	uint64_t ports_exhausted;   /* sum of PORTS_EXHAUSTED counts */
	uint64_t table_full;	    /* sum of TABLE_FULL counts */

	/* conntrack's own statistics (last poll; increases since the poll began) */
	uint64_t table_entries; /* connections in the table (nf_conntrack_count) */
	uint64_t table_max;	/* nf_conntrack_max */
	uint64_t insert_failed, drop, early_drop, search_restart, clash_resolve, chaintoolong;
	uint64_t stats_polls;
	uint32_t host; /* XLAT_CT_HOST_* seen at the last check */

	uint64_t dispatch_max_ns;     /* longest xlat_conntrack_dispatch(), wall clock */
	uint64_t dispatch_max_cpu_ns; /* most CPU time one dispatch used (the stall without
				       * the waits for a CPU of a loaded host) */
};

/**
 * xlat_conntrack_open() - subscribe to conntrack events.
 * @cb, @ctx: called from xlat_conntrack_dispatch() for every translation.
 * @err, @len: on failure a one-line reason ("conntrack netlink: bind: ...").
 *
 * Needs CAP_NET_ADMIN. No callback runs inside this function: the initial
 * dump starts in the first xlat_conntrack_dispatch(), and the fd is
 * readable at once so an event loop calls it right away.
 * Returns a handle the caller frees with xlat_conntrack_free(), or NULL with
 * errno saying why.
 */
struct xlat_conntrack *xlat_conntrack_open(xlat_conntrack_cb cb, void *ctx, char *err, size_t len);

/*
 * Also report conntrack DESTROY events of translated connections to cb (the
 * daemon passes &ev->orig to xlat_table_remove(); ev->kind is
 * XF_XLAT_KIND_DELETE); NULL: ignore them, the table expires them.
 */
void xlat_conntrack_set_destroy_cb(struct xlat_conntrack *c, xlat_conntrack_cb cb, void *ctx);

/*
 * The NAT event log's callback: CREATE, DELETE, PORTS_EXHAUSTED and
 * TABLE_FULL events (struct nat_event, source XF_XLAT_SRC_CONNTRACK). Call
 * right after xlat_conntrack_open(), before the first dispatch: the start
 * dump then records the connections older than the source, which get a
 * DELETE but no CREATE. A non-NULL cb also turns on reliable event delivery
 * (xlat_conntrack_set_reliable), the tracking of translated connections and
 * the statistics poll every XLAT_CONNTRACK_STATS_MS; NULL turns them off
 * and the source behaves as a pure translation source.
 */
void xlat_conntrack_set_nat_event_cb(struct xlat_conntrack *c, nat_event_cb cb, void *ctx);

/*
 * Conntrack's reliable event delivery (NETLINK_BROADCAST_ERROR and
 * NETLINK_NO_ENOBUFS on the event socket, as conntrackd does): a DESTROY
 * the socket has no room for stays in the kernel and is sent again, and a
 * NEW or UPDATE travels with the connection's next event. Only meaningful
 * with a NAT event callback (which turns it on); false gives plain,
 * lossy events (overruns resynced by a dump). Returns 0 or -errno.
 */
int xlat_conntrack_set_reliable(struct xlat_conntrack *c, bool on);

/*
 * The table-full guard (docs/nat.md): reliable delivery is suspended when
 * the conntrack table is high_pct full while the event socket overruns, and
 * resumed below low_pct without overruns. Defaults 95 and 80. Returns 0, or
 * -EINVAL unless 0 < low_pct < high_pct <= 100.
 */
int xlat_conntrack_set_guard(struct xlat_conntrack *c, unsigned int high_pct, unsigned int low_pct);

/*
 * Make DELETE events complete: set net.netfilter.nf_conntrack_timestamp and
 * nf_conntrack_acct to 1 in the caller's network namespace where they are 0
 * (each change logged), and warn when nf_conntrack_events is 0 (no events
 * at all). Only connections created afterwards carry the extensions.
 * Returns XLAT_CT_HOST_* bits of what is on afterwards (negative errno when
 * /proc/sys cannot be read).
 */
int xlat_conntrack_enable_extensions(void);

/*
 * Re-report every translation each interval_ms (default
 * XLAT_CONNTRACK_REFRESH_MS; keep it well below the table's timeout).
 * 0 disables the periodic dump. Returns 0 or -errno.
 */
int xlat_conntrack_set_refresh(struct xlat_conntrack *c, uint64_t interval_ms);

/* A descriptor to wait on (EPOLLIN) before xlat_conntrack_dispatch(); owned by c. */
int xlat_conntrack_fd(struct xlat_conntrack *c);

/*
 * Handle what is pending, a bounded slice of it: received events, the
 * statistics poll when due, the next part of a running table dump. What is
 * left keeps the fd readable. Never blocks on events; returns the number of
 * callbacks made or -errno on a socket failure.
 */
int xlat_conntrack_dispatch(struct xlat_conntrack *c);

/*
 * Dump the table now, to the end, and report every translation (tests and
 * tools; the event loop uses the sliced dumps of dispatch). Returns
 * callbacks made or -errno.
 */
int xlat_conntrack_resync(struct xlat_conntrack *c);

void xlat_conntrack_get_stats(const struct xlat_conntrack *c, struct xlat_conntrack_stats *out);

/* Close the sockets; NULL is a no-op. */
void xlat_conntrack_free(struct xlat_conntrack *c);

#endif
