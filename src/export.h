/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The exporter: encodes flow records as IPFIX (libfixbuf) or NetFlow v9
 * (per collector, xf_collector_config.protocol) and sends them to every
 * configured collector over UDP or TCP. One encoder per collector (own
 * sequence numbers and template state). Beside the flows it sends options
 * records: exporting process and metering statistics, sampling, the
 * interface table (see docs/ipfix.md). UDP collectors are paced
 * (collector.h, docs/ipfix.md "Pacing"): the caller hands over no more
 * than exporter_room() and calls exporter_pace() at exporter_next_send_ns().
 */
#ifndef XF_EXPORT_H
#define XF_EXPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "flow.h"
#include "ipfix_template.h"
#include "metrics.h"

struct exporter;

/* Statistics of the exporting process, summed over collectors. */
struct exporter_stats {
	uint64_t messages;	  /* IPFIX messages sent */
	uint64_t records;	  /* data records sent */
	uint64_t records_dropped; /* records that could not be sent (collector down) */
	uint64_t packets_dropped; /* packets and octets those records counted */
	uint64_t octets_dropped;
	uint64_t bytes;
};

/*
 * Create an exporter for cfg's collectors. Connections are opened lazily
 * (TCP connects in the background with backoff); a collector that is down
 * is not an error here. Returns NULL and fills err on a setup error.
 * The exporter copies what it needs from cfg.
 */
struct exporter *exporter_new(const struct xf_config *cfg, char *err, size_t err_len);
/*
 * Send what waits (TCP: up to 2 s for all connections together) and free.
 * A paced queue is sent at once: call exporter_flush_all() in time instead.
 */
void exporter_free(struct exporter *exp);

/*
 * Apply a reloaded configuration in place. A collector whose settings
 * (URL, address, protocol, mtu) and encoding (observation domain,
 * enterprise number, zone_as_vrf) did not change keeps its connection,
 * queue, TCP backlog, sequence numbers and counters, and sends its options
 * records again with the next record; its rate, burst and template refresh
 * take the new values. New collectors start; removed ones send what they
 * can without waiting, and every record they still hold is counted as not
 * sent (and logged); their totals stay in exporter_get_stats(). Returns 0,
 * or -EINVAL with err filled and nothing changed.
 */
int exporter_reconfigure(struct exporter *exp, const struct xf_config *cfg, char *err,
			 size_t err_len);

/* Queue one record for every collector; full messages are sent at once. */
void exporter_add(struct exporter *exp, const struct flow_record *rec);

/*
 * Queue one NAT event record (src/natlog.c) for every collector with
 * nat_events = true, as exporter_add() does a flow record: UDP at once;
 * TCP at once while up, else into a bounded backlog (EXPORT_BACKLOG_RECORDS)
 * replayed in order, after the templates, on reconnect. Every record that
 * cannot be sent is counted (ipfix_natlog_stats.not_sent) and reported in
 * the collector's IPFIX_TID_NATLOG_STATS options record.
 */
void exporter_add_nat_event(struct exporter *exp, const struct ipfix_natev_rec *rec);

/* Some collector takes NAT events. */
bool exporter_wants_nat_events(const struct exporter *exp);

/* The source's losses and recoveries for the NAT event log's options records (totals). */
void exporter_set_natlog_source(struct exporter *exp, uint64_t source_lost, uint64_t recovered);

/* The NAT event log's delivery counters, summed over collectors. */
void exporter_get_natlog_stats(const struct exporter *exp, struct ipfix_natlog_stats *out);

/* Send all partially filled messages now. */
void exporter_flush(struct exporter *exp);

/*
 * Periodic work (call at least once a second): template and options refresh
 * on UDP, options refresh and reconnects with backoff on TCP. now_ms is
 * CLOCK_MONOTONIC milliseconds.
 */
void exporter_tick(struct exporter *exp, uint64_t now_ms);

void exporter_get_stats(const struct exporter *exp, struct exporter_stats *out);

/*
 * Each configured collector's counters (those its options records carry)
 * and transport state into out[0..*n) (XF_MAX_COLLECTORS rows), in the
 * configuration's order. Collectors a reload removed are not listed.
 */
void exporter_get_collectors(const struct exporter *exp, struct metrics_collector *out, int *n);

/*
 * Pacing (UDP collectors with a rate, collector.h): how many flow records
 * the exporter takes now without a paced queue overflowing, the smallest
 * room of its paced collectors (UINT64_MAX when none is paced). The flow
 * cache keeps due flows beyond it for later (flowcache_expire()'s budget).
 */
uint64_t exporter_room(const struct exporter *exp);

/* CLOCK_MONOTONIC ns at which exporter_pace() has datagrams to send; 0: none wait. */
uint64_t exporter_next_send_ns(const struct exporter *exp);

/* Paced collectors send what their token buckets allow now. */
void exporter_pace(struct exporter *exp);

/* Flow records sent to the transports but not yet on the wire (TCP: while up). */
uint64_t exporter_waiting(const struct exporter *exp);

/* Flush every message and send every queued datagram now, paced or not. */
void exporter_flush_all(struct exporter *exp);

/*
 * The metering process counters (kernel counters summed over CPUs, flow
 * cache evictions), totals since start. Copied; reported in the next options
 * records (with the templates and every template_refresh seconds). Call
 * once per drain cycle.
 */
void exporter_set_metering(struct exporter *exp, const struct ipfix_metering *metering);

/*
 * Add or replace an interface table row (interfaceName 82,
 * interfaceDescription 83 for ingressInterface ifindex); name NULL removes
 * it. Strings are copied and cut at IPFIX_IFNAME_LEN / IPFIX_IFDESCR_LEN.
 * An added or renamed row goes out with the next flow record; a removed row
 * is simply left out of later rounds (options data cannot be withdrawn).
 */
void exporter_set_interface(struct exporter *exp, uint32_t ifindex, const char *name,
			    const char *description);

/*
 * systemInitTimeMilliseconds (and the NetFlow v9 sysUptime origin):
 * wall-clock ms since the epoch. Default: when exporter_new() ran. A
 * daemon that recreates the exporter on reload passes its start time.
 */
void exporter_set_system_init_time(struct exporter *exp, uint64_t wall_ms_since_epoch);

/* Send the options records to every collector now (e.g. at shutdown). */
void exporter_send_options(struct exporter *exp);

#endif
