/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The IPFIX encoder: turns flow records into IPFIX messages with libfixbuf.
 * One encoder per collector (its own libfixbuf session: sequence numbers,
 * template state, observation domain). Messages are built in memory and
 * handed to an emit callback; the encoder owns no socket.
 *
 * Every message is at most max_message_len bytes and a record never spans
 * two messages.
 */
#ifndef XF_IPFIX_H
#define XF_IPFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow.h"

/* Template ids on the wire, the same in every observation domain. */
#define IPFIX_TID_IPV4 256     /* IPv4 flow */
#define IPFIX_TID_IPV6 257     /* IPv6 flow */
#define IPFIX_TID_IPV4_NAT 258 /* IPv4 flow with its translation */
#define IPFIX_TID_IPV6_NAT 259 /* IPv6 flow with its translation */
#define IPFIX_TID_IE_TYPE 260  /* RFC 5610 information element type records */

/* RFC 5612 documentation PEN: the default enterprise number. */
#define IPFIX_DEFAULT_PEN 32473

/* IPFIX message header (RFC 7011 3.1): 16 bytes. */
#define IPFIX_HEADER_LEN 16
/* Smallest message size the encoder accepts (the largest template must fit). */
#define IPFIX_MIN_MESSAGE_LEN 512

struct ipfix_encoder;

struct ipfix_params {
	uint32_t observation_domain_id;
	uint32_t enterprise_number; /* PEN of the xlatflow elements */
	bool zone_as_vrf;           /* also put the zone id in ingressVRFID (234) */
	uint16_t max_message_len;   /* whole IPFIX message, header included */
};

/*
 * Called with each finished message. msg is valid only during the call.
 * records counts the data records in it (0 for a template-only message).
 * The callback must not call back into the encoder.
 */
typedef void (*ipfix_emit_fn)(void *ctx, const uint8_t *msg, size_t len, uint32_t records);

/*
 * Create an encoder. Returns NULL and fills err on a libfixbuf setup error
 * or when max_message_len < IPFIX_MIN_MESSAGE_LEN.
 */
struct ipfix_encoder *ipfix_encoder_new(const struct ipfix_params *params, ipfix_emit_fn emit,
					void *ctx, char *err, size_t err_len);
void ipfix_encoder_free(struct ipfix_encoder *enc);

/*
 * Append one record to the open message, emitting the message first when
 * the record does not fit. Returns 0 or a negative errno (-EINVAL for an
 * unknown address family, -EIO on a libfixbuf error, -EMSGSIZE if it can
 * never fit).
 */
int ipfix_encoder_add(struct ipfix_encoder *enc, const struct flow_record *rec);

/*
 * Append the RFC 5610 type records and all templates. libfixbuf keeps
 * template sets and data sets in separate messages, so the open message is
 * emitted first if it holds data, and the next data record starts a new one.
 */
int ipfix_encoder_add_templates(struct ipfix_encoder *enc);

/* Emit the open message if it holds anything. Returns 0 or -EIO. */
int ipfix_encoder_flush(struct ipfix_encoder *enc);

/* Data records in the open (not yet emitted) message. */
uint32_t ipfix_encoder_pending(const struct ipfix_encoder *enc);

/* Template id a record is encoded with (IPFIX_TID_*), 0 if it cannot be. */
uint16_t ipfix_template_for(const struct flow_record *rec);

#endif
