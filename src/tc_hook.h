/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * tc_hook: attaches a pair of loaded BPF programs, one per direction, to
 * interfaces on the tc clsact hook, and removes the filters of the same
 * programs that a killed earlier xlatflowd left behind. It knows the
 * programs only by the fds, ids and names it is given (capture.h's).
 *
 * All functions act in the calling thread's network namespace and are not
 * thread-safe: one thread owns a struct tc_hook.
 */
#ifndef XF_TC_HOOK_H
#define XF_TC_HOOK_H

#include <stdbool.h>
#include <stdint.h>

struct tc_hook;

/* One program to attach; tc_hook_new() takes them indexed by XF_DIR_INGRESS / XF_DIR_EGRESS. */
struct tc_hook_prog {
	int fd;		  /* owned by the caller, open as long as the tc_hook lives */
	uint32_t id;	  /* the kernel's program id: tells our filters from others' */
	const char *name; /* the kernel's program name (copied): leftover filters are found by it */
};

/* A hook for prog[XF_DIR_INGRESS] and prog[XF_DIR_EGRESS], attached nowhere yet. */
struct tc_hook *tc_hook_new(const struct tc_hook_prog prog[2]);

/* Detach from every interface (a warning for each failure) and free; NULL is a no-op. */
void tc_hook_free(struct tc_hook *h);

/**
 * Attach the ingress and egress programs to the clsact hook of ifindex,
 * creating the clsact qdisc when there is none. Attaching twice is a no-op
 * while our filters are in place; if they vanished (interface deleted, its
 * index reused, filters removed by someone else) it attaches again.
 * Filters of the same program names that no process holds any more (a
 * killed xlatflowd's) are removed first, with a warning.
 * Only Ethernet-framed devices (and loopback) are supported: -EOPNOTSUPP
 * otherwise; -EBUSY when the legacy ingress qdisc holds the hook (it has no
 * egress side). Returns 0 or a negative errno.
 */
int tc_hook_attach(struct tc_hook *h, int ifindex);

/**
 * Remove the two filters tc_hook_attach() added (only if they still hold
 * our programs) and the clsact qdisc if we created it and it is now empty.
 * A vanished interface counts as detached. Returns 0, -ENOENT when ifindex
 * was not attached, or a negative errno.
 */
int tc_hook_detach(struct tc_hook *h, int ifindex);

/* True when both our filters are present on ifindex right now (asks the kernel). */
bool tc_hook_is_attached(struct tc_hook *h, int ifindex);

/**
 * Check that our two filters on an attached ifindex are still there and
 * still run our programs, and attach again the ones someone else removed
 * or replaced (tc qdisc del, tc filter del, a CNI plugin), creating the
 * clsact qdisc if it went too (removed again by tc_hook_detach when empty).
 * New filters get kernel-chosen handles and priorities as in
 * tc_hook_attach. Returns 0 when both were intact, a mask of
 * 1 << XF_DIR_* of the directions attached again, -ENOENT when ifindex is
 * not attached, -ENODEV when the interface is gone, -EBUSY when the legacy
 * ingress qdisc took clsact's place, or another negative errno (what was
 * not re-attached stays missing; call again later).
 */
int tc_hook_repair(struct tc_hook *h, int ifindex);

/**
 * Could an rtnetlink tc event (RTNLGRP_TC: type RTM_DELQDISC,
 * RTM_DELTFILTER, RTM_NEWTFILTER or RTM_DELCHAIN, with the tcmsg's
 * parent and priority) have removed or replaced one of our filters on
 * ifindex? True means: call tc_hook_repair(). Asks nothing of the kernel.
 */
bool tc_hook_event_affects(const struct tc_hook *h, int type, int ifindex, uint32_t parent,
			   uint32_t priority);

/* How the programs are attached, for the startup summary ("tc clsact"). Static string. */
const char *tc_hook_attach_mode(const struct tc_hook *h);

#endif /* XF_TC_HOOK_H */
