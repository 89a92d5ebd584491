// SPDX-License-Identifier: GPL-2.0-only
/*
 * NetFlow v9 encoding (RFC 3954) from the template descriptions both
 * encoders share (ipfix_template.h). A message is built in one buffer: the
 * header, then flowsets; a flowset stays open while records of the same
 * template (or template records of the same kind) follow, and is padded to
 * a 4-byte boundary when it is closed.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "clock.h"
#include "errbuf.h"
#include "ipfix_wire.h"
#include "netflow9.h"

/* RFC 3954 5.3: flowsets are padded to a 32-bit boundary */
#define FLOWSET_ALIGN 4

struct netflow9_encoder {
	struct ipfix_template_desc tmpl[IPFIX_MAX_TEMPLATES];
	struct ipfix_wire wire[IPFIX_MAX_TEMPLATES]; /* tmpl[i] compiled */
	int n_tmpl;
	uint32_t source_id;
	uint64_t system_init_ms;
	uint32_t sequence;     /* export packets sent */
	struct ipfix_sets msg; /* flowsets padded to 4 bytes */
	size_t buf_len;
	uint16_t count;	  /* records (of any kind) in the message */
	uint32_t records; /* flow records in the message */
	ipfix_emit_fn emit;
	void *ctx;
};

static const struct ipfix_template_desc *desc_find(const struct netflow9_encoder *enc, uint16_t tid)
{
	for (int i = 0; i < enc->n_tmpl; i++)
		if (enc->tmpl[i].tid == tid)
			return &enc->tmpl[i];
	return NULL;
}

static int encoder_emit(struct netflow9_encoder *enc)
{
	uint64_t now = clock_wall_ms();

	if (!enc->count)
		return 0;
	ipfix_sets_close(&enc->msg);
	ipfix_put16(enc->msg.buf, NETFLOW9_VERSION);
	ipfix_put16(enc->msg.buf + 2, enc->count);
	ipfix_put32(enc->msg.buf + 4, (uint32_t)(now - enc->system_init_ms));
	ipfix_put32(enc->msg.buf + 8, now / 1000);
	ipfix_put32(enc->msg.buf + 12, enc->sequence++);
	ipfix_put32(enc->msg.buf + 16, enc->source_id);
	enc->emit(enc->ctx, enc->msg.buf, enc->msg.len, enc->records);
	enc->msg.len = NETFLOW9_HEADER_LEN;
	enc->count = 0;
	enc->records = 0;
	return 0;
}

/*
 * Make room for len bytes in flowset set_id (opening it if needed),
 * emitting the message first if they do not fit. Returns where to write,
 * or NULL if they can never fit.
 */
static uint8_t *reserve(struct netflow9_encoder *enc, int set_id, size_t len)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		if (ipfix_sets_fits(&enc->msg, set_id, len, enc->buf_len)) {
			enc->count++;
			return ipfix_sets_add(&enc->msg, set_id, len);
		}
		if (!enc->count)
			return NULL;
		encoder_emit(enc);
	}
	return NULL;
}

static bool is_options(const struct ipfix_template_desc *d)
{
	return d->scope_count > 0;
}

/* v9 scopes are types of their own, not information elements. */
static uint16_t scope_type(uint16_t ie)
{
	return ie == 10 ? NETFLOW9_SCOPE_INTERFACE : NETFLOW9_SCOPE_SYSTEM;
}

static int add_template(struct netflow9_encoder *enc, const struct ipfix_template_desc *d)
{
	uint8_t *p;

	if (!is_options(d)) {
		p = reserve(enc, NETFLOW9_FLOWSET_TEMPLATE, 4 + 4 * d->n_fields);
		if (!p)
			return -EMSGSIZE;
		ipfix_put16(p, d->tid);
		ipfix_put16(p + 2, d->n_fields);
		p += 4;
	} else {
		/*
		 * One options template per flowset: nfacctd (pmacct 1.7.7)
		 * misreads a second options template record in a flowset (whose
		 * 6-byte header leaves it off a 4-byte boundary).
		 */
		ipfix_sets_close(&enc->msg);
		p = reserve(enc, NETFLOW9_FLOWSET_OPTIONS, 6 + 4 * d->n_fields);
		if (!p)
			return -EMSGSIZE;
		ipfix_put16(p, d->tid);
		ipfix_put16(p + 2, 4 * d->scope_count);
		ipfix_put16(p + 4, 4 * (d->n_fields - d->scope_count));
		p += 6;
	}
	for (int i = 0; i < d->n_fields; i++, p += 4) {
		const struct ipfix_field *f = &d->fields[i];

		ipfix_put16(p, i < d->scope_count ? scope_type(f->id) : f->id);
		ipfix_put16(p + 2, f->len);
	}
	return 0;
}

/* One data record from its internal record: integers to network byte order. */
static int add_data(struct netflow9_encoder *enc, const struct ipfix_template_desc *d,
		    const uint8_t *rec, bool flow)
{
	uint8_t *p = reserve(enc, d->tid, d->record_len);

	if (!p)
		return -EMSGSIZE;
	ipfix_wire_write(&enc->wire[d - enc->tmpl], rec, p);
	if (flow)
		enc->records++;
	return 0;
}

struct netflow9_encoder *netflow9_encoder_new(const struct ipfix_params *params,
					      uint64_t system_init_ms, ipfix_emit_fn emit,
					      void *ctx, char *err, size_t err_len)
{
	struct netflow9_encoder *enc;
	int n;

	if (params->max_message_len < IPFIX_MIN_MESSAGE_LEN) {
		errbuf_set(err, err_len, 0, "NetFlow v9 message limit %u is below the minimum %u",
			   params->max_message_len, IPFIX_MIN_MESSAGE_LEN);
		return NULL;
	}
	enc = g_new0(struct netflow9_encoder, 1);
	n = ipfix_describe_templates(params, true, enc->tmpl, err, err_len);
	if (n < 0) {
		g_free(enc);
		return NULL;
	}
	for (int i = 0; i < n; i++) {
		const struct ipfix_sets empty = {
			.len = NETFLOW9_HEADER_LEN,
			.set_id = -1,
			.align = FLOWSET_ALIGN,
		};

		/* a template and its record each fit an empty message (6: an options template) */
		if (!ipfix_sets_fits(&empty, NETFLOW9_FLOWSET_OPTIONS,
				     6 + 4 * enc->tmpl[i].n_fields, params->max_message_len) ||
		    !ipfix_sets_fits(&empty, enc->tmpl[i].tid, enc->tmpl[i].record_len,
				     params->max_message_len)) {
			errbuf_set(err, err_len, 0, "template %u does not fit %u bytes",
				   enc->tmpl[i].tid, params->max_message_len);
			g_free(enc);
			return NULL;
		}
		if (ipfix_wire_compile(&enc->wire[i], &enc->tmpl[i])) {
			errbuf_set(err, err_len, 0,
				   "template %u: integer field of unsupported length",
				   enc->tmpl[i].tid);
			g_free(enc);
			return NULL;
		}
	}
	enc->n_tmpl = n;
	enc->source_id = params->observation_domain_id;
	enc->system_init_ms = system_init_ms;
	enc->buf_len = params->max_message_len;
	enc->msg = (struct ipfix_sets){
		.buf = g_malloc0(enc->buf_len),
		.len = NETFLOW9_HEADER_LEN,
		.set_id = -1,
		.align = FLOWSET_ALIGN,
	};
	enc->emit = emit;
	enc->ctx = ctx;
	return enc;
}

void netflow9_encoder_free(struct netflow9_encoder *enc)
{
	if (!enc)
		return;
	g_free(enc->msg.buf);
	g_free(enc);
}

void netflow9_encoder_set_system_init(struct netflow9_encoder *enc, uint64_t system_init_ms)
{
	enc->system_init_ms = system_init_ms;
}

int netflow9_encoder_add(struct netflow9_encoder *enc, const struct flow_record *rec)
{
	struct ipfix_flow_rec r;
	const struct ipfix_template_desc *d;
	uint16_t tid = ipfix_record_flow(&r, rec, true);

	if (!tid || !(d = desc_find(enc, tid)))
		return -EINVAL;
	return add_data(enc, d, (const uint8_t *)&r, true);
}

int netflow9_encoder_add_templates(struct netflow9_encoder *enc)
{
	int rc = 0;

	for (int i = 0; !rc && i < enc->n_tmpl; i++)
		rc = add_template(enc, &enc->tmpl[i]);
	return rc;
}

static int add_options_record(void *ctx, uint16_t tid, const void *rec)
{
	struct netflow9_encoder *enc = ctx;
	const struct ipfix_template_desc *d = desc_find(enc, tid);

	return d ? add_data(enc, d, rec, false) : -EINVAL;
}

int netflow9_encoder_add_options(struct netflow9_encoder *enc, const struct ipfix_options *opts)
{
	return ipfix_options_foreach(opts, enc->source_id, add_options_record, enc);
}

int netflow9_encoder_flush(struct netflow9_encoder *enc)
{
	return encoder_emit(enc);
}

uint32_t netflow9_encoder_pending(const struct netflow9_encoder *enc)
{
	return enc->records;
}

int netflow9_encoder_add_nat_event(struct netflow9_encoder *enc, const struct ipfix_natev_rec *rec)
{
	const struct ipfix_template_desc *d = desc_find(enc, rec->tid);

	if (!d || is_options(d))
		return -EINVAL;
	return add_data(enc, d, (const uint8_t *)&rec->u, true);
}
