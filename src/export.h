/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The exporter: encodes flow records as IPFIX (libfixbuf) and sends them to
 * every configured collector over UDP or TCP. One libfixbuf session per
 * collector (own sequence numbers and template state).
 */
#ifndef XF_EXPORT_H
#define XF_EXPORT_H

#include <stdint.h>

#include "config.h"
#include "flow.h"

struct exporter;

/* Statistics of the exporting process, summed over collectors. */
struct exporter_stats {
	uint64_t messages;        /* IPFIX messages sent */
	uint64_t records;         /* data records sent */
	uint64_t records_dropped; /* records that could not be sent (collector down) */
	uint64_t bytes;
};

/*
 * Create an exporter for cfg's collectors. Connections are opened lazily
 * (TCP connects in the background with backoff); a collector that is down
 * is not an error here. Returns NULL and fills err on a setup error.
 * The exporter copies what it needs from cfg.
 */
struct exporter *exporter_new(const struct xf_config *cfg, char *err, size_t err_len);
void exporter_free(struct exporter *exp);

/* Queue one record for every collector; full messages are sent at once. */
void exporter_add(struct exporter *exp, const struct flow_record *rec);

/* Send all partially filled messages now. */
void exporter_flush(struct exporter *exp);

/*
 * Periodic work (call at least once a second): template refresh on UDP,
 * TCP reconnects with backoff. now_ms is CLOCK_MONOTONIC milliseconds.
 */
void exporter_tick(struct exporter *exp, uint64_t now_ms);

void exporter_get_stats(const struct exporter *exp, struct exporter_stats *out);

#endif
