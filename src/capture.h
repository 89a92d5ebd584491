/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * capture: loads bpf/flow.bpf.c (xf_tc_ingress, xf_tc_egress) with its maps,
 * maps the flow table into this process and owns the epoch and the
 * counters. tc_hook.h attaches the programs to interfaces; drain.h reads
 * the flows they count.
 *
 * Not thread-safe: one thread owns a struct capture.
 */
#ifndef XF_CAPTURE_H
#define XF_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xlatflow_shared.h"

struct capture;

/*
 * Read the precise clock on every packet. By default established flows use
 * the coarse clock (last tick, 1-4 ms behind) for last_ns, which saves about
 * 20 ns per packet; first_ns is always precise (see bpf/flow.bpf.c).
 */
#define CAPTURE_F_PRECISE_TIME 0x2
/*
 * Every packet to the flow_events ring buffer first; the flow slots take
 * what the ring cannot hold (datapath_order "ring", bpf/flow.bpf.c).
 */
#define CAPTURE_F_RING_FIRST 0x4
/*
 * Either order, as capture_set_ring_order() says (slots first until then),
 * and the programs time every XF_COST_EVERY-th packet into order_cost
 * (datapath_order "auto"; order.h chooses).
 */
#define CAPTURE_F_ORDER_AUTO 0x8

struct capture_opts {
	uint32_t kernel_max_flows; /* slots of each epoch's flow table; 0 = 65536 */
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

/*
 * Unload the programs and free the maps; NULL is a no-op. Free the tc_hook
 * and the drain made from this capture first.
 */
void capture_free(struct capture *c);

/**
 * Read the XF_CNT_* counters, summed over CPUs, into out.
 * Returns 0 or a negative errno.
 */
int capture_read_counters(struct capture *c, uint64_t out[XF_CNT_MAX]);

/* Effective settings after rounding and defaults. */
uint32_t capture_sampling(const struct capture *c);
/* Change the sampling rate of the loaded programs (reload); 0 or 1 = all. */
void capture_set_sampling(struct capture *c, uint32_t sampling);
uint32_t capture_max_flows(const struct capture *c);

/*
 * The program of one direction (XF_DIR_INGRESS or XF_DIR_EGRESS): its fd
 * (owned by the capture; for tc_hook.h, and BPF_PROG_TEST_RUN in tests and
 * benchmarks), the kernel's id for it, and its name as the kernel keeps it
 * (owned by the capture).
 */
int capture_prog_fd(const struct capture *c, int direction);
uint32_t capture_prog_id(const struct capture *c, int direction);
const char *capture_prog_name(const struct capture *c, int direction);

/* --- The maps, for a reader (drain.h). fds are owned by the capture. --- */

/*
 * The flow table of one epoch parity (see xlatflow_shared.h), mapped
 * read-write into this process: slots[0, max) are its slots, list[0,
 * *used) the positions the programs took this epoch, in the order they
 * took them (*used is the programs' slots_used[which], never above max).
 * table_fd and list_fd are the maps' (both parities; owned by the capture).
 */
struct capture_slots {
	int table_fd;
	int list_fd;
	struct xf_flow_slot *slots;
	uint32_t *list;
	uint32_t max;
	uint32_t *used;
};

void capture_slots(const struct capture *c, unsigned int which, struct capture_slots *out);
/*
 * The flow table's hash seed (XF_SEED_WORDS words, owned by the capture):
 * a flow's home slot is xf_flow_home(xf_flow_hash(key, seed), max).
 */
const uint32_t *capture_hash_seed(const struct capture *c);
/* fd of the flow_events ring buffer map. */
int capture_events_map_fd(const struct capture *c);
uint32_t capture_epoch(const struct capture *c);
/* Publish a new epoch to the programs (a store to the mmapped .bss). */
void capture_set_epoch(struct capture *c, uint32_t epoch);
uint32_t capture_flags(const struct capture *c);

/* Whether the programs run the ring-first order now. */
bool capture_ring_order(const struct capture *c);
/* CAPTURE_F_ORDER_AUTO: run the ring-first order (true) or slots first; else a no-op. */
void capture_set_ring_order(struct capture *c, bool ring);
/*
 * The timed packets' program time and count by order, summed over CPUs
 * (CAPTURE_F_ORDER_AUTO; zero otherwise). Returns 0 or a negative errno.
 */
int capture_read_order_cost(struct capture *c, struct xf_order_cost *out);

#endif /* XF_CAPTURE_H */
