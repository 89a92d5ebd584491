/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * capture: loads bpf/flow.bpf.c (xf_tc_ingress, xf_tc_egress) and attaches
 * it to interfaces on the tc clsact hook. The flows it counts are read with
 * drain.h.
 *
 * All functions act in the calling thread's network namespace and are not
 * thread-safe: one thread owns a struct capture.
 */
#ifndef XF_CAPTURE_H
#define XF_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xlatflow_shared.h"

struct capture;
struct drain_state;

/*
 * Read the precise clock on every packet. By default established flows use
 * the coarse clock (last tick, 1-4 ms behind) for last_ns, which saves about
 * 20 ns per packet; first_ns is always precise (see bpf/flow.bpf.c).
 */
#define CAPTURE_F_PRECISE_TIME 0x2

struct capture_opts {
	uint32_t kernel_max_flows; /* flows per epoch (slots, index entries); 0 = 65536 */
	uint32_t ringbuf_size;	   /* bytes, rounded up to a power of two >= page; 0 = 256 KiB */
	uint32_t sampling;	   /* keep 1 packet in N; 0 or 1 = all */
	uint32_t flags;		   /* CAPTURE_F_* */
};

/**
 * Open and load the BPF programs and maps (nothing is attached yet).
 * Returns a capture the caller frees with capture_free(), or NULL with
 * errno set and a message in err (err may be NULL).
 */
struct capture *capture_open(const struct capture_opts *o, char *err, size_t err_len);

/**
 * Attach xf_tc_ingress and xf_tc_egress to the clsact hook of ifindex,
 * creating the clsact qdisc when there is none. Attaching twice is a no-op
 * while our filters are in place; if they vanished (interface deleted, its
 * index reused, filters removed by someone else) it attaches again.
 * Only Ethernet-framed devices (and loopback) are supported: -EOPNOTSUPP
 * otherwise. Returns 0 or a negative errno.
 */
int capture_attach(struct capture *c, int ifindex);

/**
 * Remove the two filters capture_attach() added (only if they still hold
 * our programs) and the clsact qdisc if we created it and it is now empty.
 * A vanished interface counts as detached. Returns 0, -ENOENT when ifindex
 * was not attached, or a negative errno.
 */
int capture_detach(struct capture *c, int ifindex);

/* True when both our filters are present on ifindex right now (asks the kernel). */
bool capture_is_attached(const struct capture *c, int ifindex);

/* Detach from every interface and free everything; NULL is a no-op. */
void capture_free(struct capture *c);

/**
 * Read the XF_CNT_* counters, summed over CPUs, into out.
 * Returns 0 or a negative errno.
 */
int capture_read_counters(struct capture *c, uint64_t out[XF_CNT_MAX]);

/* How the programs are attached, for the startup summary ("tc clsact"). Static string. */
const char *capture_attach_mode(const struct capture *c);

/* Effective settings after rounding and defaults. */
uint32_t capture_sampling(const struct capture *c);
/* Change the sampling rate of the loaded programs (reload); 0 or 1 = all. */
void capture_set_sampling(struct capture *c, uint32_t sampling);
uint32_t capture_max_flows(const struct capture *c);

/**
 * Program fd for BPF_PROG_TEST_RUN in tests and benchmarks; direction is
 * XF_DIR_INGRESS or XF_DIR_EGRESS. Owned by the capture.
 */
int capture_prog_fd(const struct capture *c, int direction);

/* --- For drain.c only: the maps and the epoch. fds are owned by the capture. --- */

/*
 * The flow slots of one epoch parity (see xlatflow_shared.h), mapped
 * read-write into this process: slot i is at base + i * stride, a struct
 * xf_flow_key followed by ncpus struct xf_flow_stats. *used is the
 * programs' slots_used[which] (it passes max when the slots ran out); fd is
 * the array map's (owned by the capture).
 */
struct capture_slots {
	int fd;
	uint8_t *base;
	size_t stride;
	uint32_t max;
	int ncpus;
	uint32_t *used;
};

void capture_slots(const struct capture *c, unsigned int which, struct capture_slots *out);
/* fd of flow_index (struct xf_flow_key -> XF_REF(epoch, slot)). */
int capture_index_fd(const struct capture *c);
/* fd of the flow_events ring buffer map. */
int capture_events_map_fd(const struct capture *c);
uint32_t capture_epoch(const struct capture *c);
/* Publish a new epoch to the programs (a store to the mmapped .bss). */
void capture_set_epoch(struct capture *c, uint32_t epoch);
uint32_t capture_flags(const struct capture *c);
/* Slot where drain.c keeps its state; capture_free() calls drain_state_free() on it. */
struct drain_state **capture_drain_slot(struct capture *c);

#endif /* XF_CAPTURE_H */
