/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Data records in wire format, written from a template description
 * (struct ipfix_template_desc) without libfixbuf's transcoder.
 *
 * A template is compiled once into a short list of steps: copy a run of
 * byte fields (addresses, MACs, single octets) as they are, or write one
 * host-order integer big-endian. Writing a record then runs the steps over
 * the internal record (the host-order layout ipfix_record_flow() and
 * ipfix_record_options() fill). The IPFIX encoder uses it for flow
 * records, the NetFlow v9 encoder for every data record: the bytes are the
 * same in both protocols.
 */
#ifndef XF_IPFIX_WIRE_H
#define XF_IPFIX_WIRE_H

#include <endian.h>
#include <stdint.h>
#include <string.h>

#include "ipfix.h"

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
