/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Data records in wire format, written from a template description
 * (struct ipfix_template_desc) without libfixbuf's transcoder.
 *
 * A template is compiled once into a short list of steps: copy a run of
 * byte fields (addresses, MACs, single octets) as they are, or write one
 * host-order integer big-endian. Writing a record then runs the steps over
 * the internal record (the host-order layout ipfix_record_flow() and
 * ipfix_options_foreach() fill). Both encoders write every data record
 * (flow and options) with it: the bytes are the same in both protocols.
 */
#ifndef XF_IPFIX_WIRE_H
#define XF_IPFIX_WIRE_H

#include <endian.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "ipfix_template.h"

/* Big-endian stores for message and set headers. */
static inline void ipfix_put16(uint8_t *p, uint16_t v)
{
	v = htobe16(v);
	memcpy(p, &v, 2);
}

static inline void ipfix_put32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, 4);
}

/*
 * A message under construction: room for the header, then sets one after
 * another (IPFIX sets and NetFlow v9 flowsets share the 4-byte id + length
 * header). The caller owns buf and writes the message header.
 */
struct ipfix_sets {
	uint8_t *buf;
	size_t len;	  /* bytes used, header included */
	size_t set_start; /* offset of the open set's header */
	int set_id;	  /* the open set, -1 = none */
	size_t align;	  /* sets are padded to a multiple of this (IPFIX 1, NetFlow v9 4) */
};

/*
 * Whether n more bytes of set id keep the message within limit bytes once
 * padded: counting the padding of the open set if id closes it, a new
 * set's header, and the padding of the set the bytes end in. Adding only
 * what fits keeps the padded message within limit, however it is closed
 * next (ipfix_sets_close(), or a set opened by ipfix_sets_add()).
 */
bool ipfix_sets_fits(const struct ipfix_sets *s, int id, size_t n, size_t limit);

/* Close the open set, if any: pad it and write its length. */
void ipfix_sets_close(struct ipfix_sets *s);

/*
 * Room for n bytes in set id (the open set, or a new one after closing
 * it). The caller checked ipfix_sets_fits() against its limit.
 */
uint8_t *ipfix_sets_add(struct ipfix_sets *s, int id, size_t n);

enum ipfix_wire_kind {
	IPFIX_WIRE_COPY, /* len bytes as they are */
	IPFIX_WIRE_BE16,
	IPFIX_WIRE_BE32,
	IPFIX_WIRE_BE64,
};

struct ipfix_wire_step {
	uint16_t src; /* offset in the internal record */
	uint16_t len;
	uint8_t kind; /* enum ipfix_wire_kind */
};

struct ipfix_wire {
	uint16_t record_len; /* bytes one record takes on the wire */
	uint16_t n_steps;
	struct ipfix_wire_step steps[IPFIX_MAX_FIELDS];
};

/*
 * Compile d into w. Adjacent byte fields that are adjacent in the record
 * merge into one copy. Returns 0, or -EINVAL for an integer field of a
 * length other than 1, 2, 4 or 8 bytes.
 */
int ipfix_wire_compile(struct ipfix_wire *w, const struct ipfix_template_desc *d);

/* Write one record (w->record_len bytes at out) from the internal record rec. */
void ipfix_wire_write(const struct ipfix_wire *w, const uint8_t *rec, uint8_t *out);

#endif
