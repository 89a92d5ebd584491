// SPDX-License-Identifier: GPL-2.0-only
/*
 * Data records in wire format from compiled template descriptions, and
 * the sets that hold them: see ipfix_wire.h. tests/unit/ipfix_test decodes what this writes with
 * libfixbuf's collector, tests/unit/netflow9_test with an RFC 3954 parser.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "ipfix_wire.h"

int ipfix_wire_compile(struct ipfix_wire *w, const struct ipfix_template_desc *d)
{
	memset(w, 0, sizeof(*w));
	for (int i = 0; i < d->n_fields; i++) {
		const struct ipfix_field *f = &d->fields[i];
		struct ipfix_wire_step *prev = w->n_steps ? &w->steps[w->n_steps - 1] : NULL;
		uint8_t kind = IPFIX_WIRE_COPY;

		if (f->integer && f->len == 2)
			kind = IPFIX_WIRE_BE16;
		else if (f->integer && f->len == 4)
			kind = IPFIX_WIRE_BE32;
		else if (f->integer && f->len == 8)
			kind = IPFIX_WIRE_BE64;
		else if (f->integer && f->len != 1)
			return -EINVAL;

		w->record_len += f->len;
		if (kind == IPFIX_WIRE_COPY && prev && prev->kind == IPFIX_WIRE_COPY &&
		    prev->src + prev->len == f->offset) {
			prev->len += f->len;
			continue;
		}
		w->steps[w->n_steps++] = (struct ipfix_wire_step){
			.src = f->offset,
			.len = f->len,
			.kind = kind,
		};
	}
	return 0;
}

void ipfix_wire_write(const struct ipfix_wire *w, const uint8_t *rec, uint8_t *out)
{
	for (int i = 0; i < w->n_steps; i++) {
		const struct ipfix_wire_step *s = &w->steps[i];
		const uint8_t *src = rec + s->src;
		uint64_t v8;
		uint32_t v4;
		uint16_t v2;

		switch (s->kind) {
		case IPFIX_WIRE_BE16:
			memcpy(&v2, src, 2);
			v2 = htobe16(v2);
			memcpy(out, &v2, 2);
			break;
		case IPFIX_WIRE_BE32:
			memcpy(&v4, src, 4);
			v4 = htobe32(v4);
			memcpy(out, &v4, 4);
			break;
		case IPFIX_WIRE_BE64:
			memcpy(&v8, src, 8);
			v8 = htobe64(v8);
			memcpy(out, &v8, 8);
			break;
		default: memcpy(out, src, s->len); break;
		}
		out += s->len;
	}
}

/* Bytes that pad a set of set_len bytes to the alignment. */
static size_t set_pad(const struct ipfix_sets *s, size_t set_len)
{
	return (s->align - set_len % s->align) % s->align;
}

bool ipfix_sets_fits(const struct ipfix_sets *s, int id, size_t n, size_t limit)
{
	size_t end, set_len;

	if (s->set_id == id) {
		end = s->len + n;
		set_len = s->len - s->set_start + n;
	} else {
		end = s->len + (s->set_id < 0 ? 0 : set_pad(s, s->len - s->set_start)) + 4 + n;
		set_len = 4 + n;
	}
	return end + set_pad(s, set_len) <= limit;
}

void ipfix_sets_close(struct ipfix_sets *s)
{
	if (s->set_id < 0)
		return;
	for (size_t pad = set_pad(s, s->len - s->set_start); pad; pad--)
		s->buf[s->len++] = 0;
	ipfix_put16(s->buf + s->set_start + 2, (uint16_t)(s->len - s->set_start));
	s->set_id = -1;
}

uint8_t *ipfix_sets_add(struct ipfix_sets *s, int id, size_t n)
{
	uint8_t *p;

	if (s->set_id != id) {
		ipfix_sets_close(s);
		s->set_start = s->len;
		s->set_id = id;
		ipfix_put16(s->buf + s->len, (uint16_t)id);
		s->len += 4;
	}
	p = s->buf + s->len;
	s->len += n;
	return p;
}
