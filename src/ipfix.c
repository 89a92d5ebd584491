// SPDX-License-Identifier: GPL-2.0-only
/*
 * IPFIX encoding. The templates are data (ipfix_template.h): at creation
 * each description becomes a libfixbuf template, every element checked
 * against libfixbuf's information model on the way, and a compiled record
 * writer (ipfix_wire.h).
 *
 * libfixbuf owns the information model (with our enterprise elements), the
 * templates and the RFC 5610 type records. It writes them into a memory
 * buffer exporter sized to the collector's message limit and runs in
 * manual mode: an append that does not fit fails with FB_ERROR_EOM, we emit
 * the message and append again to a fresh one, so no record is ever split
 * and no message exceeds the limit.
 *
 * Flow and options records, the hot path, do not go through libfixbuf's
 * transcoder (about 2500 instructions a record: it walks the template
 * element by element): each template is compiled once from its description
 * into a few copy and byte-swap steps (ipfix_wire.h), and data messages are
 * built here, header and sets, in a buffer of their own. A message holds
 * either libfixbuf's writes or flow records, never both; the one that is
 * open is emitted before the other kind is written, so order is kept. The
 * sequence number (RFC 7011 3.1: data records sent before this message,
 * options and type records included) is kept here for both kinds and
 * written into libfixbuf's messages as they are emitted.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <fixbuf/public.h>

#include "errbuf.h"
#include "ie_registry_fb.h"
#include "ipfix.h"
#include "ipfix_wire.h"

struct ipfix_encoder {
	fbInfoModel_t *model;
	fbSession_t *session; /* owned by fbuf once fbuf exists */
	fBuf_t *fbuf;
	fbExporter_t *exporter; /* owned by fbuf */
	uint8_t *buf;		/* libfixbuf's message */
	uint16_t buf_len;	/* the message limit, for both buffers */
	uint16_t type_tid;	/* RFC 5610 options template */
	uint32_t pen;
	uint32_t odid;
	bool zone_as_vrf;
	uint16_t tid[IPFIX_MAX_TEMPLATES]; /* of each template, in description order */
	bool options[IPFIX_MAX_TEMPLATES]; /* it is an options template */
	int n_templates;
	ipfix_emit_fn emit;
	void *ctx;
	bool has_content;    /* libfixbuf's message holds something */
	uint32_t fb_records; /* type records in it */
	uint32_t sequence;   /* data records sent before the next message */
	/*
	 * The data message (flow and options records): header, then one set
	 * per run of a template.
	 */
	struct ipfix_wire wire[IPFIX_MAX_TEMPLATES]; /* template tid[i] compiled */
	struct ipfix_sets data;			     /* .len 0: no message open */
	uint32_t records;			     /* flow records in the open message */
	uint32_t d_records;			     /* data records of any template in it */
};

static void set_err(char *err, size_t err_len, const char *what, GError *gerr)
{
	errbuf_set(err, err_len, 0, "%s: %s", what, gerr ? gerr->message : "failed");
	g_clear_error(&gerr);
}

/*
 * The table says what the element is; libfixbuf's information model writes
 * its templates and type records: they must agree. (The byte order of a
 * single octet is moot: libfixbuf marks IANA unsigned8 elements as not
 * byte-swapped, the registry's as swapped.)
 */
static bool element_check(fbInfoModel_t *model, const struct ipfix_template_desc *d,
			  const struct ipfix_field *f, char *err, size_t err_len)
{
	const fbInfoElement_t *ie = fbInfoModelGetElementByName(model, f->name);
	bool integer;

	if (!ie) {
		errbuf_set(err, err_len, 0,
			   "%s: element %s is not in libfixbuf's information model", d->name,
			   f->name);
		return false;
	}
	integer = (ie->flags & FB_IE_F_ENDIAN) != 0;
	if (ie->num == f->id && ie->ent == f->pen &&
	    (ie->len == FB_IE_VARLEN || ie->len == f->len) &&
	    (f->len == 1 || integer == f->integer))
		return true;
	errbuf_set(err, err_len, 0,
		   "%s: element %s is id %u, enterprise %u, %u bytes, %s in the template table but "
		   "id %u, enterprise %u, %u bytes, %s in libfixbuf's information model",
		   d->name, f->name, f->id, f->pen, f->len, f->integer ? "integer" : "bytes",
		   ie->num, ie->ent, ie->len, integer ? "integer" : "bytes");
	return false;
}

/*
 * libfixbuf's external template of d, added to the session. Its records
 * must be as long as the record writer's (record_len).
 */
static bool template_add(struct ipfix_encoder *enc, const struct ipfix_template_desc *d,
			 uint16_t record_len, char *err, size_t err_len)
{
	fbInfoElementSpec_t spec[IPFIX_MAX_FIELDS + 1];
	fbTemplate_t *tmpl;
	GError *gerr = NULL;

	for (int i = 0; i < d->n_fields; i++) {
		const struct ipfix_field *f = &d->fields[i];

		if (!element_check(enc->model, d, f, err, err_len))
			return false;
		spec[i] = (fbInfoElementSpec_t){ (char *)f->name, f->len, 0 };
	}
	spec[d->n_fields] = (fbInfoElementSpec_t)FB_IESPEC_NULL;
	tmpl = fbTemplateAlloc(enc->model);
	if (!fbTemplateAppendSpecArray(tmpl, spec, 0, &gerr)) {
		fbTemplateFreeUnused(tmpl);
		set_err(err, err_len, d->name, gerr);
		return false;
	}
	if (fbTemplateGetIELenOfMemBuffer(tmpl) != record_len) {
		errbuf_set(err, err_len, 0,
			   "%s: libfixbuf's template is %u bytes a record, ours %u", d->name,
			   fbTemplateGetIELenOfMemBuffer(tmpl), record_len);
		fbTemplateFreeUnused(tmpl);
		return false;
	}
	if (d->scope_count)
		fbTemplateSetOptionsScope(tmpl, d->scope_count);
	if (!fbSessionAddTemplate(enc->session, FALSE, d->tid, tmpl, &gerr)) {
		set_err(err, err_len, d->name, gerr);
		return false;
	}
	return true;
}

struct ipfix_encoder *ipfix_encoder_new(const struct ipfix_params *params, ipfix_emit_fn emit,
					void *ctx, char *err, size_t err_len)
{
	struct ipfix_template_desc desc[IPFIX_MAX_TEMPLATES];
	struct ipfix_encoder *enc;
	GError *gerr = NULL;
	int n;

	if (params->max_message_len < IPFIX_MIN_MESSAGE_LEN) {
		errbuf_set(err, err_len, 0, "IPFIX message limit %u is below the minimum %u",
			   params->max_message_len, IPFIX_MIN_MESSAGE_LEN);
		return NULL;
	}
	n = ipfix_describe_templates(params, false, desc, err, err_len);
	if (n < 0)
		return NULL;

	enc = g_new0(struct ipfix_encoder, 1);
	enc->emit = emit;
	enc->ctx = ctx;
	enc->pen = params->enterprise_number;
	enc->zone_as_vrf = params->zone_as_vrf;
	enc->odid = params->observation_domain_id;
	enc->buf_len = params->max_message_len;
	enc->buf = g_malloc0(enc->buf_len);
	enc->model = fbInfoModelAlloc();
	ie_registry_add_to_model(enc->model, enc->pen);
	enc->session = fbSessionAlloc(enc->model);

	/* External templates live in the observation domain: set it first. */
	fbSessionSetDomain(enc->session, params->observation_domain_id);
	enc->n_templates = n;
	for (int i = 0; i < n; i++) {
		if (ipfix_wire_compile(&enc->wire[i], &desc[i])) {
			errbuf_set(err, err_len, 0, "%s: cannot compile the record writer",
				   desc[i].name);
			goto fail;
		}
		if (!template_add(enc, &desc[i], enc->wire[i].record_len, err, err_len))
			goto fail;
		enc->tid[i] = desc[i].tid;
		enc->options[i] = desc[i].scope_count > 0;
	}
	/*
	 * RFC 5610 type records: "enabled" would describe every non-IANA
	 * element of the model (hundreds of CERT ones too), so only the
	 * template is added here and ipfix_encoder_add_templates() writes the
	 * records of our own elements.
	 */
	enc->type_tid =
		fbSessionSetMetadataExportElements(enc->session, FALSE, IPFIX_TID_IE_TYPE, &gerr);
	if (!enc->type_tid) {
		set_err(err, err_len, "RFC 5610 type template", gerr);
		goto fail;
	}

	enc->data = (struct ipfix_sets){ .buf = g_malloc0(enc->buf_len), .set_id = -1, .align = 1 };
	enc->exporter = fbExporterAllocBuffer(enc->buf, enc->buf_len);
	enc->fbuf = fBufAllocForExport(enc->session, enc->exporter);
	fBufSetAutomaticMode(enc->fbuf, FALSE);
	return enc;

fail:
	ipfix_encoder_free(enc);
	return NULL;
}

void ipfix_encoder_free(struct ipfix_encoder *enc)
{
	if (!enc)
		return;
	if (enc->fbuf)
		fBufFree(enc->fbuf); /* frees session and exporter */
	else if (enc->session)
		fbSessionFree(enc->session);
	if (enc->model)
		fbInfoModelFree(enc->model);
	g_free(enc->buf);
	g_free(enc->data.buf);
	g_free(enc);
}

/* libfixbuf's message (templates and type records), if any. */
static int fb_emit(struct ipfix_encoder *enc)
{
	GError *gerr = NULL;
	size_t len;

	if (!enc->has_content)
		return 0;
	if (!fBufEmit(enc->fbuf, &gerr)) {
		g_clear_error(&gerr);
		return -EIO;
	}
	len = fbExporterGetMsgLen(enc->exporter);
	/* our count, which includes the flow records libfixbuf never saw */
	ipfix_put32(enc->buf + 8, enc->sequence);
	enc->sequence += enc->fb_records;
	enc->emit(enc->ctx, enc->buf, len, 0);
	enc->fb_records = 0;
	enc->has_content = false;
	return 0;
}

/* The data message, if one is open: RFC 7011 3.1 header, emit. */
static void data_emit(struct ipfix_encoder *enc)
{
	struct ipfix_sets *m = &enc->data;

	if (!m->len)
		return;
	ipfix_sets_close(m);
	ipfix_put16(m->buf, 10);
	ipfix_put16(m->buf + 2, (uint16_t)m->len);
	ipfix_put32(m->buf + 4, (uint32_t)time(NULL));
	ipfix_put32(m->buf + 8, enc->sequence);
	ipfix_put32(m->buf + 12, enc->odid);
	enc->emit(enc->ctx, m->buf, m->len, enc->records);
	enc->sequence += enc->d_records;
	enc->records = 0;
	enc->d_records = 0;
	m->len = 0;
}

/*
 * Write one data record of template tid[index] from its internal record,
 * opening the message and the set as needed and emitting a full message
 * first. libfixbuf's message, if open, goes out before.
 */
static int data_write(struct ipfix_encoder *enc, size_t index, const void *rec)
{
	const struct ipfix_wire *w = &enc->wire[index];
	uint16_t tid = enc->tid[index];
	struct ipfix_sets *m = &enc->data;
	int rc = fb_emit(enc);

	if (rc)
		return rc;
	if (!m->len || !ipfix_sets_fits(m, tid, w->record_len, enc->buf_len)) {
		data_emit(enc);
		m->len = IPFIX_HEADER_LEN;
		/* checked on the empty message too: never write past the buffer */
		if (!ipfix_sets_fits(m, tid, w->record_len, enc->buf_len)) {
			m->len = 0;
			return -EMSGSIZE;
		}
	}
	ipfix_wire_write(w, rec, ipfix_sets_add(m, tid, w->record_len));
	enc->d_records++;
	return 0;
}

int ipfix_encoder_flush(struct ipfix_encoder *enc)
{
	data_emit(enc);
	return fb_emit(enc);
}

uint32_t ipfix_encoder_pending(const struct ipfix_encoder *enc)
{
	return enc->records;
}

/*
 * One write into libfixbuf's message. libfixbuf answers FB_ERROR_EOM when
 * the write does not fit, and also once when switching between template and
 * data sets (it keeps templates and data in separate messages): emit what
 * the message holds and write again. EOM on an empty message means the
 * write can never fit. An open flow record message goes out first.
 */
enum write_kind { WRITE_TEMPLATE, WRITE_TYPE_RECORD };

static int encoder_write(struct ipfix_encoder *enc, enum write_kind kind, uint16_t tid,
			 const void *arg)
{
	data_emit(enc);
	for (int attempt = 0; attempt < 3; attempt++) {
		GError *gerr = NULL;
		gboolean ok;
		int rc;

		switch (kind) {
		case WRITE_TEMPLATE: ok = fbSessionExportTemplate(enc->session, tid, &gerr); break;
		default:
			ok = fbInfoElementWriteOptionsRecord(enc->fbuf, arg, enc->type_tid,
							     enc->type_tid, &gerr);
			break;
		}
		if (ok) {
			enc->has_content = true;
			if (kind == WRITE_TYPE_RECORD)
				enc->fb_records++;
			return 0;
		}
		if (!g_error_matches(gerr, FB_ERROR_DOMAIN, FB_ERROR_EOM)) {
			g_clear_error(&gerr);
			return -EIO;
		}
		g_clear_error(&gerr);
		rc = fb_emit(enc);
		if (rc)
			return rc;
	}
	return -EMSGSIZE;
}

int ipfix_encoder_add_templates(struct ipfix_encoder *enc)
{
	int rc = 0;

	/* Type records first, so a collector can name our elements in the templates. */
	rc = encoder_write(enc, WRITE_TEMPLATE, enc->type_tid, NULL);
	for (int i = 0; !rc && i < IE_REGISTRY_COUNT; i++) {
		const fbInfoElement_t *ie = fbInfoModelGetElementByID(
			enc->model, ie_registry_elements[i].num, enc->pen);

		rc = encoder_write(enc, WRITE_TYPE_RECORD, 0, ie);
	}
	/*
	 * Data and options templates alternate so that every options
	 * template opens a set of its own: nfacctd (pmacct 1.7.7) loses its
	 * place after the first options template of a set (the 6-byte record
	 * header leaves the next one off a 4-byte boundary) and drops the rest.
	 * There are at least as many data templates as options templates.
	 */
	int data = 0;

	for (int i = 0; !rc && i < enc->n_templates; i++) {
		if (!enc->options[i])
			continue;
		rc = encoder_write(enc, WRITE_TEMPLATE, enc->tid[i], NULL);
		while (!rc && data < enc->n_templates && enc->options[data])
			data++;
		if (!rc && data < enc->n_templates)
			rc = encoder_write(enc, WRITE_TEMPLATE, enc->tid[data++], NULL);
	}
	for (; !rc && data < enc->n_templates; data++)
		if (!enc->options[data])
			rc = encoder_write(enc, WRITE_TEMPLATE, enc->tid[data], NULL);
	return rc;
}

/* The index of template tid, or -1. */
static int template_index(const struct ipfix_encoder *enc, uint16_t tid)
{
	for (int i = 0; i < enc->n_templates; i++)
		if (enc->tid[i] == tid)
			return i;
	return -1;
}

static int options_write(void *ctx, uint16_t tid, const void *rec)
{
	struct ipfix_encoder *enc = ctx;
	int i = template_index(enc, tid);

	if (i < 0)
		return -EINVAL;
	return data_write(enc, (size_t)i, rec);
}

int ipfix_encoder_add_options(struct ipfix_encoder *enc, const struct ipfix_options *opts)
{
	return ipfix_options_foreach(opts, enc->odid, options_write, enc);
}

int ipfix_encoder_add(struct ipfix_encoder *enc, const struct flow_record *rec)
{
	struct ipfix_flow_rec r;
	uint16_t tid = ipfix_record_flow(&r, rec, enc->zone_as_vrf);
	int rc;

	if (!tid)
		return -EINVAL;
	/* the flow templates are the first four, in tid order */
	rc = data_write(enc, tid - IPFIX_TID_IPV4, &r);
	if (!rc)
		enc->records++;
	return rc;
}

int ipfix_encoder_add_nat_event(struct ipfix_encoder *enc, const struct ipfix_natev_rec *rec)
{
	int i = template_index(enc, rec->tid);
	int rc;

	if (i < 0 || enc->options[i])
		return -EINVAL;
	rc = data_write(enc, (size_t)i, &rec->u);
	if (!rc)
		enc->records++;
	return rc;
}
