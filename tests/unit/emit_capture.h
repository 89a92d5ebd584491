/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Test helper shared by the encoder tests: an emit callback that keeps a
 * copy of every message an encoder produced, for decoding afterwards.
 */
#ifndef XF_EMIT_CAPTURE_H
#define XF_EMIT_CAPTURE_H

#include <stdint.h>
#include <stdlib.h>

#include <glib.h>

struct capture {
	uint8_t *msg[4096];
	size_t len[4096];
	uint32_t records[4096];
	int n;
};

static void capture_emit(void *ctx, const uint8_t *msg, size_t len, uint32_t records)
{
	struct capture *c = ctx;

	if (c->n >= 4096)
		abort();
	c->msg[c->n] = g_memdup2(msg, len);
	c->len[c->n] = len;
	c->records[c->n] = records;
	c->n++;
}

static void capture_free(struct capture *c)
{
	for (int i = 0; i < c->n; i++)
		g_free(c->msg[i]);
	c->n = 0;
}

#endif
