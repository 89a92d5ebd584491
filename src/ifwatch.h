/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Interface discovery: the interfaces present (if_nameindex) and rtnetlink
 * events afterwards: RTM_NEWLINK/RTM_DELLINK, so that a pod veth created
 * later is attached and a vanished one forgotten, and the tc changes
 * (RTNLGRP_TC) that may have taken our filters away.
 *
 * Events can be lost (the socket's receive buffer overflowed, a message
 * larger than the read buffer): ifwatch_dispatch() then says so and the
 * caller rescans. Everything acts in the network namespace ifwatch_open()
 * was called in.
 */
#ifndef XF_IFWATCH_H
#define XF_IFWATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ifwatch;

/* present = false when the interface was deleted. name is valid during the call. */
typedef void (*ifwatch_cb)(void *ctx, int ifindex, const char *name, bool present);

/*
 * A tc object changed: type is RTM_DELQDISC, RTM_NEWTFILTER, RTM_DELTFILTER
 * or RTM_DELCHAIN; parent and priority (the major of tcm_info) as the
 * kernel announced them (0 when the message has none).
 */
typedef void (*ifwatch_tc_cb)(void *ctx, int type, int ifindex, uint32_t parent, uint32_t priority);

/* tc_cb may be NULL: no tc events then. Returns NULL with err filled on failure. */
struct ifwatch *ifwatch_open(ifwatch_cb cb, ifwatch_tc_cb tc_cb, void *ctx, char *err,
			     size_t err_len);
void ifwatch_free(struct ifwatch *w);
int ifwatch_fd(const struct ifwatch *w);
/* Report every interface present now (cb with present = true). 0 or -errno. */
int ifwatch_scan(struct ifwatch *w);
/*
 * Handle pending events without blocking; 0 or -errno. A negative return
 * means events were lost (-ENOBUFS: the receive buffer overflowed;
 * -ENOSPC: a message did not fit the read buffer, which has grown for the
 * next one; anything else: a read error). The events still queued are then
 * discarded, as a rescan that follows is newer than all of them: the caller
 * must rescan (ifwatch_scan and whatever tc state it keeps).
 */
int ifwatch_dispatch(struct ifwatch *w);

#endif
