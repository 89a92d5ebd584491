/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * One entry of the NAT event log (docs/nat-events.md), as every translation
 * source reports it: the kernel hooks (bpf/nat.bpf.c through
 * src/xlat_source.c) and conntrack netlink (src/xlat_conntrack.c). The
 * event log (src/natlog.c) turns them into RFC 8158 records.
 *
 * kind is XF_XLAT_KIND_CREATE, _DELETE, _PORTS_EXHAUSTED or _TABLE_FULL
 * (bpf/xlatflow_shared.h, which also says what orig and reply hold for each).
 */
#ifndef XF_NAT_EVENT_H
#define XF_NAT_EVENT_H

#include <stdint.h>

#include "xlatflow_shared.h"

#define NAT_EVENT_F_START 0x1 /* start_wall_ns known (conntrack timestamps) */
#define NAT_EVENT_F_ACCT 0x2  /* packets and octets known (conntrack accounting) */
/*
 * A CREATE the source rebuilt because the kernel's NEW never reached it
 * (conntrack netlink: recovered from the connection's DELETE or from a table
 * dump); time_mono_ns is the connection's start when F_START is set, else
 * when the source noticed.
 */
#define NAT_EVENT_F_RECOVERED 0x4

struct nat_event {
	uint8_t kind;	/* XF_XLAT_KIND_* */
	uint8_t source; /* XF_XLAT_SRC_* */
	uint16_t zone_id;
	uint32_t flags; /* NAT_EVENT_F_* */
	struct xf_tuple orig;
	struct xf_tuple reply;
	uint64_t time_mono_ns;	/* when it happened, CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	uint64_t start_wall_ns; /* DELETE: when the connection started, wall clock */
	uint64_t packets[2];	/* DELETE: [0] original direction, [1] reply */
	uint64_t octets[2];
	/*
	 * Failures: how many dropped packets this event stands for (1 from the
	 * kernel hooks; a counter's increase when a source can only count).
	 */
	uint64_t count;
};

/* ev is only valid during the call. */
typedef void (*nat_event_cb)(void *ctx, const struct nat_event *ev);

#endif /* XF_NAT_EVENT_H */
