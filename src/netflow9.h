/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The NetFlow v9 encoder (RFC 3954), for collectors that speak only v9.
 * It has no template tables of its own and no libfixbuf:
 * ipfix_describe_templates() (ipfix_template.h) gives the IPFIX encoder's
 * templates as data (enterprise elements left out, the zone id in
 * ingressVRFID) and ipfix_record_flow() / ipfix_options_foreach() the
 * records, which are written field by field in network byte order.
 *
 * Message header: version 9, record count, sysUptime (ms since
 * system_init_ms), UNIX seconds, packet sequence number, source id (the
 * observation domain). Template records go in flowset 0, options
 * templates in flowset 1 (scope observationDomainId becomes scope type 1
 * "System", ingressInterface scope type 2 "Interface"), data in flowsets
 * named by template id, each padded to 4 bytes. Like the IPFIX encoder it
 * owns no socket: finished messages go to the emit callback, never longer
 * than max_message_len, never splitting a record.
 */
#ifndef XF_NETFLOW9_H
#define XF_NETFLOW9_H

#include <stddef.h>
#include <stdint.h>

#include "flow.h"
#include "ipfix_template.h"

#define NETFLOW9_VERSION 9
#define NETFLOW9_HEADER_LEN 20
#define NETFLOW9_FLOWSET_TEMPLATE 0
#define NETFLOW9_FLOWSET_OPTIONS 1
#define NETFLOW9_SCOPE_SYSTEM 1
#define NETFLOW9_SCOPE_INTERFACE 2

struct netflow9_encoder;

/*
 * Create an encoder (params as for the IPFIX encoder; enterprise_number
 * and zone_as_vrf are not used: v9 always sends the zone as ingressVRFID).
 * system_init_ms (wall clock) is the origin of sysUptime. Returns NULL and
 * fills err when max_message_len is below IPFIX_MIN_MESSAGE_LEN or a
 * template cannot be described.
 */
struct netflow9_encoder *netflow9_encoder_new(const struct ipfix_params *params,
					      uint64_t system_init_ms, ipfix_emit_fn emit,
					      void *ctx, char *err, size_t err_len);
void netflow9_encoder_free(struct netflow9_encoder *enc);

/* Move the sysUptime origin (wall-clock ms). */
void netflow9_encoder_set_system_init(struct netflow9_encoder *enc, uint64_t system_init_ms);

/* Append one flow record; emits the open message first when it does not fit. */
int netflow9_encoder_add(struct netflow9_encoder *enc, const struct flow_record *rec);

/* Append all templates (flow templates, then options templates). */
int netflow9_encoder_add_templates(struct netflow9_encoder *enc);

/* Append the options records (ipfix_options_foreach() says which, in which order). */
int netflow9_encoder_add_options(struct netflow9_encoder *enc, const struct ipfix_options *opts);

/* Emit the open message if it holds anything. */
int netflow9_encoder_flush(struct netflow9_encoder *enc);

/* Flow records in the open message. */
uint32_t netflow9_encoder_pending(const struct netflow9_encoder *enc);

/* Append one NAT event record (params.nat_events, else -EINVAL). */
int netflow9_encoder_add_nat_event(struct netflow9_encoder *enc, const struct ipfix_natev_rec *rec);

#endif
