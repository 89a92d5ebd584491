/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The data path wired together: capture (TC programs) -> drain -> flow cache
 * -> (translation join) -> exporter, plus the NAT hook feeding the
 * translation table and the interface set the programs are attached to.
 * main.c owns the event loop and calls in here.
 */
#ifndef XF_PIPELINE_H
#define XF_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "metrics.h"

struct pipeline;

/* Loads the BPF programs, opens the NAT hook and the collectors. cfg is copied. */
struct pipeline *pipeline_new(const struct xf_config *cfg, char *err, size_t err_len);
/* Stops everything: detaches, frees. Call pipeline_shutdown first to export. */
void pipeline_free(struct pipeline *p);

/* Attach to every interface present that the config wants. */
int pipeline_scan_interfaces(struct pipeline *p);

/* File descriptors to wait on, and what to call when one is readable. */
enum pipeline_fd { PIPE_FD_FLOW_EVENTS, PIPE_FD_NAT, PIPE_FD_LINKS, PIPE_FD_MAX };
int pipeline_fd(const struct pipeline *p, enum pipeline_fd which); /* -1 when unused */
void pipeline_handle_fd(struct pipeline *p, enum pipeline_fd which);

/* One export cycle: drain the kernel maps, expire, send. */
void pipeline_cycle(struct pipeline *p);

/*
 * Paced collectors (collector.h): send what their pace allows now, and
 * hand them the due flows that waited in the cache for room. Call at
 * pipeline_next_send_ns().
 */
void pipeline_pace(struct pipeline *p);

/* CLOCK_MONOTONIC ns of the next pipeline_pace() (may be past); 0: none needed. */
uint64_t pipeline_next_send_ns(const struct pipeline *p);

/*
 * Apply a new validated configuration without losing cached flows; the
 * collectors are changed in place (exporter_reconfigure()).
 */
int pipeline_reconfigure(struct pipeline *p, const struct xf_config *cfg, char *err,
			 size_t err_len);

/*
 * Shutdown, in three steps so the daemon's loop keeps running in between:
 * pipeline_shutdown_begin() drains the kernel one last time;
 * pipeline_shutdown_step() exports cached flows (flowEndReason forced) at
 * the paced collectors' pace and returns true once every flow is on the
 * wire (call it at pipeline_next_send_ns(), and every few ms while TCP
 * queues drain); pipeline_shutdown_finish() sends whatever is left at once,
 * unpaced, then the final options records.
 */
void pipeline_shutdown_begin(struct pipeline *p);
bool pipeline_shutdown_step(struct pipeline *p);
void pipeline_shutdown_finish(struct pipeline *p);

/*
 * The counters for the metrics endpoint, read now (the kernel's summed
 * over CPUs); s is zeroed by the caller, its rows are freed with
 * metrics_snapshot_clear().
 */
void pipeline_metrics(struct pipeline *p, struct metrics_snapshot *s);

/*
 * Log the counters, totals since start (at info): the kernel's (packets
 * observed, lost, past full flow slots, translations lost) and, one line
 * each, every collector's (flow records exported, not sent, queued), as
 * pipeline_metrics() reads them. why
 * says what asked: "SIGUSR1", "periodic" (every stats_interval seconds,
 * from pipeline_cycle()), "exit".
 */
void pipeline_log_stats(struct pipeline *p, const char *why);

/* Print the startup summary (version, hooks, interfaces, collectors). */
void pipeline_log_summary(const struct pipeline *p);

uint32_t pipeline_drain_interval_ms(const struct pipeline *p);

#endif
