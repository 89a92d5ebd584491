/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The IPFIX encoder: turns flow records into IPFIX messages. libfixbuf
 * builds the templates (from the descriptions of ipfix_template.h) and the
 * RFC 5610 type records; flow and options records are written from
 * compiled templates (ipfix_wire.h). One encoder per collector (its own
 * libfixbuf session and sequence numbers, template state, observation
 * domain). Messages are built in memory and handed to
 * an emit callback; the encoder owns no socket.
 *
 * Every message is at most max_message_len bytes and a record never spans
 * two messages.
 */
#ifndef XF_IPFIX_H
#define XF_IPFIX_H

#include <stddef.h>
#include <stdint.h>

#include "flow.h"
#include "ipfix_template.h"

/* IPFIX message header (RFC 7011 3.1): 16 bytes. */
#define IPFIX_HEADER_LEN 16

struct ipfix_encoder;

/*
 * Create an encoder. Returns NULL and fills err on a libfixbuf setup error,
 * a template table that disagrees with libfixbuf's information model, or
 * when max_message_len < IPFIX_MIN_MESSAGE_LEN.
 */
struct ipfix_encoder *ipfix_encoder_new(const struct ipfix_params *params, ipfix_emit_fn emit,
					void *ctx, char *err, size_t err_len);
void ipfix_encoder_free(struct ipfix_encoder *enc);

/*
 * Append one record to the open message, emitting the message first when
 * the record does not fit. Returns 0 or a negative errno (-EINVAL for an
 * unknown address family, -EIO if libfixbuf fails to emit its open message).
 */
int ipfix_encoder_add(struct ipfix_encoder *enc, const struct flow_record *rec);

/*
 * Append the RFC 5610 type records and all templates. Template sets and
 * data sets go in separate messages, so the open message is emitted first
 * if it holds data, and the next data record starts a new one.
 */
int ipfix_encoder_add_templates(struct ipfix_encoder *enc);

/* Emit the open message if it holds anything. Returns 0 or -EIO. */
int ipfix_encoder_flush(struct ipfix_encoder *enc);

/* Data records in the open (not yet emitted) message. */
uint32_t ipfix_encoder_pending(const struct ipfix_encoder *enc);

/*
 * Append the options records (ipfix_options_foreach() says which, in which
 * order). Their templates go with ipfix_encoder_add_templates().
 */
int ipfix_encoder_add_options(struct ipfix_encoder *enc, const struct ipfix_options *opts);

/*
 * Append one NAT event record (params.nat_events, else -EINVAL); counted
 * in ipfix_encoder_pending() like a flow record.
 */
int ipfix_encoder_add_nat_event(struct ipfix_encoder *enc, const struct ipfix_natev_rec *rec);

#endif
