/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Interface discovery: the interfaces present at start (if_nameindex) and
 * rtnetlink RTM_NEWLINK/RTM_DELLINK events afterwards, so that a pod veth
 * created later is attached and a vanished one forgotten.
 */
#ifndef XF_IFWATCH_H
#define XF_IFWATCH_H

#include <stdbool.h>
#include <stddef.h>

struct ifwatch;

/* present = false when the interface was deleted. name is valid during the call. */
typedef void (*ifwatch_cb)(void *ctx, int ifindex, const char *name, bool present);

struct ifwatch *ifwatch_open(ifwatch_cb cb, void *ctx, char *err, size_t err_len);
void ifwatch_free(struct ifwatch *w);
int ifwatch_fd(const struct ifwatch *w);
/* Report every interface present now (cb with present = true). */
int ifwatch_scan(struct ifwatch *w);
/* Handle pending link events without blocking; 0 or -errno. -ENOBUFS means
 * events were lost: the daemon rescans. */
int ifwatch_dispatch(struct ifwatch *w);

#endif
