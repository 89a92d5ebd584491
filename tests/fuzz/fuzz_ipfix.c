// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fuzz target: the project's IPFIX decode path (tests/tools/xf-collect.c,
 * compiled in here with its main renamed) on arbitrary input: libfixbuf's
 * collection side, our template copy callback and the JSON printer of every
 * field type. The session first gets the exporter's own templates and
 * options templates (made by src/ipfix.c, as the daemon sends them); the
 * input is then a sequence of messages, split on each IPFIX header's length
 * field and fed one by one to the same session, as UDP datagrams of one
 * exporter would be. A fresh information model and session per input keep
 * inputs independent.
 *
 * Template sets in the input are turned into sets of an unknown template
 * (skipped by libfixbuf), because libfixbuf 2.4.1 itself crashes on
 * malformed templates, bugs not ours that ipfixDump shares (reproducers in
 * known/: a known element given an illegal length, alien elements, RFC
 * 5610 type record templates, an options template of id 0). So this target
 * fuzzes data sets against real templates, where xf-collect does its work.
 */
int xf_collect_main(int argc, char **argv);
#define main xf_collect_main
#include "../tools/xf-collect.c"
#undef main

#include <stdbool.h>

#include "fuzz.h"
#include "ipfix.h"

/* The exporter's messages with its templates, options templates and options records. */
static GPtrArray *templates; /* of GBytes */

static void on_emit(void *ctx, const uint8_t *msg, size_t len, uint32_t records)
{
	g_ptr_array_add(templates, g_bytes_new(msg, len));
}

static void make_templates(void)
{
	struct ipfix_params params = { .observation_domain_id = 1,
				       .enterprise_number = 32473,
				       .max_message_len = 65000 };
	struct ipfix_options opts = { .sampling = 1 };
	char err[256];
	struct ipfix_encoder *enc;

	templates = g_ptr_array_new();
	enc = ipfix_encoder_new(&params, on_emit, NULL, err, sizeof(err));
	if (!enc)
		FUZZ_FAIL("ipfix_encoder_new: %s", err);
	if (ipfix_encoder_add_templates(enc) < 0 || ipfix_encoder_add_options(enc, &opts) < 0 ||
	    ipfix_encoder_flush(enc) < 0 || !templates->len)
		FUZZ_FAIL("cannot make the exporter's templates");
	ipfix_encoder_free(enc);
}

/* Set IDs 2 and 3 (templates, options templates) become 65535 (no such template). */
static void neuter_templates(uint8_t *m, size_t len)
{
	size_t off = 16;

	while (off + 4 <= len) {
		size_t set_len = (size_t)(m[off + 2] << 8 | m[off + 3]);

		if (m[off] == 0 && (m[off + 1] == 2 || m[off + 1] == 3))
			m[off] = m[off + 1] = 0xff;
		if (set_len < 4)
			return;
		off += set_len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	static uint8_t *rec;
	struct options o = { .pen = 32473 };
	fbInfoModel_t *model;
	fBuf_t *fbuf;
	size_t off = 0;

	if (!devnull) {
		devnull = fopen("/dev/null", "w");
		rec = g_malloc(65536);
		if (!devnull)
			abort();
	}
	if (size > 65536)
		return 0;
	o.out = devnull;
	if (!templates)
		make_templates();
	model = fbInfoModelAlloc();
	ie_registry_add_to_model(model, o.pen);
	fbuf = fBufAllocForCollection(session_new(model), NULL);
	fBufSetAutomaticMode(fbuf, FALSE);
	for (guint i = 0; i < templates->len; i++) {
		gsize n;
		const void *m = g_bytes_get_data(g_ptr_array_index(templates, i), &n);

		/* libfixbuf reads the buffer only */
		fBufSetBuffer(fbuf, (uint8_t *)m, n);
		read_records(fbuf, &o, rec);
	}
	while (off < size) {
		size_t left = size - off, len = left;
		uint8_t *msg;

		if (left >= 4) {
			len = (size_t)data[off + 2] << 8 | data[off + 3];
			if (len < 4 || len > left)
				len = left;
		}
		/* an exact-size heap copy, so that reading past the message is caught */
		msg = g_memdup2(data + off, len);
		neuter_templates(msg, len);
		fBufSetBuffer(fbuf, msg, len);
		read_records(fbuf, &o, rec);
		g_free(msg);
		off += len;
	}
	fBufFree(fbuf);
	fbInfoModelFree(model);
	return 0;
}
