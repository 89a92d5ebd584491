/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Compile-time checks of the kernel/user contract (bpf/xlatflow_shared.h):
 * the BPF programs are built by clang for another target, so the layouts
 * are pinned here and any drift fails the userspace build.
 */
#include <stddef.h>

#include "xlatflow_shared.h"

_Static_assert(sizeof(struct xf_flow_key) == 48, "xf_flow_key layout");
_Static_assert(offsetof(struct xf_flow_key, src_port) == 32, "xf_flow_key ports");
_Static_assert(offsetof(struct xf_flow_key, ifindex) == 36, "xf_flow_key ifindex");
_Static_assert(sizeof(struct xf_flow_stats) == 48, "xf_flow_stats layout");
_Static_assert(offsetof(struct xf_flow_stats, tcp_flags) == 44, "xf_flow_stats flags");
_Static_assert(sizeof(struct xf_flow_event) == 96, "xf_flow_event layout");
/* with the ring's 8-byte record header, one 64-byte cache line */
_Static_assert(sizeof(struct xf_flow_event4) == 56, "xf_flow_event4 layout");
/* drain.c expands it by stretches laid out as in the key and the stats */
_Static_assert(offsetof(struct xf_flow_event4, dst_port) == 30 &&
		       offsetof(struct xf_flow_event4, ifindex) == 32 &&
		       offsetof(struct xf_flow_key, dst_port) == 34 &&
		       offsetof(struct xf_flow_key, ifindex) == 36,
	       "xf_flow_event4 ports and ifindex as in the key");
_Static_assert(offsetof(struct xf_flow_event4, vlan_id) == 36 &&
		       offsetof(struct xf_flow_event4, proto) == 38 &&
		       offsetof(struct xf_flow_event4, direction) == 39 &&
		       offsetof(struct xf_flow_key, vlan_id) == 40 &&
		       offsetof(struct xf_flow_key, family) == 43 &&
		       offsetof(struct xf_flow_key, direction) == 44,
	       "xf_flow_event4 VLAN, protocol and direction word");
_Static_assert(offsetof(struct xf_flow_event4, src_mac) == 40 &&
		       offsetof(struct xf_flow_event4, pad) == 55 &&
		       offsetof(struct xf_flow_stats, src_mac) == 32 &&
		       offsetof(struct xf_flow_stats, pad) == 47,
	       "xf_flow_event4 MACs, flags, TOS as in the stats");
/* drain.c reads the flow table in place through mmap(): 104-byte slots, no padding */
_Static_assert(sizeof(struct xf_flow_slot) == 104, "xf_flow_slot layout");
_Static_assert(offsetof(struct xf_flow_slot, key) == 8 &&
		       offsetof(struct xf_flow_slot, stats) == 56,
	       "xf_flow_slot: tag, key, stats");
_Static_assert(sizeof(struct xf_flow_slot) % 8 == 0, "array maps store 8-byte multiples");
_Static_assert(offsetof(struct xf_flow_stats, tcp_flags) % 4 == 0,
	       "tcp_flags is half of an aligned word (the programs' atomic or)");
_Static_assert(sizeof(struct xf_flow_list_chunk) == 4 * XF_LIST_CHUNK,
	       "flow_list: positions back to back in the mapping");
_Static_assert(sizeof(struct xf_flow_key) == 4 * XF_SEED_WORDS, "one seed word per key word");
_Static_assert(XF_SLOT_TAG(0ULL) != XF_SLOT_EMPTY && XF_SLOT_TAG(~0ULL) != XF_SLOT_BUSY &&
		       XF_SLOT_TAG(1ULL) != XF_SLOT_BUSY,
	       "a ready tag is never EMPTY or BUSY");
_Static_assert(sizeof(struct xf_tuple) == 40, "xf_tuple layout");
_Static_assert(sizeof(struct xf_xlat_event) == 96, "xf_xlat_event layout");
_Static_assert(offsetof(struct xf_xlat_event, ts_ns) == 80, "xf_xlat_event ts");
_Static_assert(offsetof(struct xf_xlat_event, kind) == 91, "xf_xlat_event kind");
_Static_assert(sizeof(struct xf_xlat_session) == 152, "xf_xlat_session layout");
_Static_assert(offsetof(struct xf_xlat_session, packets) == 112, "xf_xlat_session counters");
_Static_assert(sizeof(struct xf_xlat_seen) == 48, "xf_xlat_seen layout");
_Static_assert(sizeof(struct xf_xlat_seen_set) == 48 * XF_CONN_WAYS, "xf_xlat_seen_set layout");
_Static_assert(XF_CNT_NATEV(XF_XLAT_KIND_TABLE_FULL) == XF_CNT_NATEV_TABLE_FULL &&
		       XF_CNT_NATEV_LOST(XF_XLAT_KIND_TABLE_FULL) == XF_CNT_NATEV_LOST_TABLE_FULL,
	       "NAT event counters follow the kinds");
