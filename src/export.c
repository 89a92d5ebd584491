// SPDX-License-Identifier: GPL-2.0-only
/*
 * The exporter (export.h): for every configured collector one IPFIX encoder
 * (its own libfixbuf session) feeding one transport.
 *
 * UDP: templates go first and again every template_refresh seconds and
 * every template_refresh_messages data messages.
 * TCP: templates go first on every new connection. While the connection is
 * down, records wait in a bounded backlog (not encoded, so sequence numbers
 * stay in order) and are encoded after the templates once it is back.
 * Every record that cannot be sent is counted in records_dropped.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <glib.h>

#include "collector.h"
#include "export.h"
#include "ipfix.h"
#include "log.h"

/* Records kept per TCP collector while it is down. */
#define EXPORT_BACKLOG_RECORDS 16384
/* Bytes a TCP collector may have waiting in the send queue. */
#define EXPORT_TCP_QUEUE_BYTES (4u << 20)
/* IPFIX message size on TCP (no MTU to respect). */
#define EXPORT_TCP_MESSAGE_LEN 16384
#define EXPORT_DEFAULT_MTU 1500
/* How long exporter_free waits for TCP queues to drain. */
#define EXPORT_DRAIN_MS 2000

struct export_target {
	struct collector *coll;
	struct ipfix_encoder *enc;
	bool tcp;
	bool templates_due;      /* send templates before the next record */
	bool encoder_live;       /* TCP: the open message belongs to the current connection */
	uint64_t templates_ms;   /* when templates were last sent */
	uint32_t data_messages;  /* data messages since templates */
	uint32_t refresh_s;
	uint32_t refresh_messages;
	GQueue backlog;          /* TCP: struct flow_record copies while down */
	uint64_t backlog_dropped;
	uint64_t encode_errors;
};

struct exporter {
	struct export_target targets[XF_MAX_COLLECTORS];
	int n_targets;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void target_emit(void *ctx, const uint8_t *msg, size_t len, uint32_t records)
{
	struct export_target *t = ctx;

	collector_send(t->coll, msg, len, records, mono_ms());
	if (records && !t->tcp && t->refresh_messages && ++t->data_messages >= t->refresh_messages)
		t->templates_due = true;
}

static void target_templates(struct export_target *t, uint64_t now_ms)
{
	if (ipfix_encoder_add_templates(t->enc) < 0)
		log_warnx("collector %s: cannot encode templates", collector_url(t->coll));
	t->templates_due = false;
	t->templates_ms = now_ms;
	t->data_messages = 0;
}

static void target_encode(struct export_target *t, const struct flow_record *rec)
{
	int rc;

	if (t->templates_due)
		target_templates(t, mono_ms());
	rc = ipfix_encoder_add(t->enc, rec);
	if (rc < 0) {
		/* not sendable (unknown family): counted, never silent */
		if (!t->encode_errors++)
			log_warnx("collector %s: cannot encode a flow record: %s",
				  collector_url(t->coll), strerror(-rc));
		t->backlog_dropped++;
	}
}

/*
 * The TCP connection went down: the open message belongs to it, so emit it
 * now, while the collector is down, which drops and counts its records.
 */
static void target_lost(struct export_target *t)
{
	if (t->encoder_live) {
		ipfix_encoder_flush(t->enc);
		t->encoder_live = false;
	}
}

static void backlog_push(struct export_target *t, const struct flow_record *rec)
{
	struct flow_record *copy;

	if (g_queue_get_length(&t->backlog) >= EXPORT_BACKLOG_RECORDS) {
		t->backlog_dropped++;
		return;
	}
	copy = g_new(struct flow_record, 1);
	*copy = *rec;
	g_queue_push_tail(&t->backlog, copy);
}

/* TCP connection up: templates first, then what waited. */
static void target_connected(struct export_target *t, uint64_t now_ms)
{
	struct flow_record *rec;

	t->encoder_live = true;
	target_templates(t, now_ms);
	while (collector_is_up(t->coll) && (rec = g_queue_pop_head(&t->backlog))) {
		target_encode(t, rec);
		g_free(rec);
	}
	ipfix_encoder_flush(t->enc);
	if (!collector_is_up(t->coll))
		target_lost(t);
}

static void target_poll(struct export_target *t, uint64_t now_ms)
{
	int ev = collector_poll(t->coll, now_ms);

	if (ev & COLLECTOR_EV_LOST)
		target_lost(t);
	if (ev & COLLECTOR_EV_CONNECTED)
		target_connected(t, now_ms);
}

void exporter_add(struct exporter *exp, const struct flow_record *rec)
{
	for (int i = 0; i < exp->n_targets; i++) {
		struct export_target *t = &exp->targets[i];

		if (!t->tcp) {
			target_encode(t, rec);
			continue;
		}
		/*
		 * At the start of each message look whether the collector went
		 * away, so records go to the backlog instead of a dead socket.
		 */
		if (t->encoder_live && !ipfix_encoder_pending(t->enc) &&
		    !collector_check(t->coll, mono_ms()))
			target_lost(t);
		if (t->encoder_live && g_queue_is_empty(&t->backlog)) {
			target_encode(t, rec);
			if (!collector_is_up(t->coll))
				target_lost(t);
		} else {
			backlog_push(t, rec);
		}
	}
}

void exporter_flush(struct exporter *exp)
{
	for (int i = 0; i < exp->n_targets; i++) {
		struct export_target *t = &exp->targets[i];

		if (t->tcp && !t->encoder_live)
			continue;
		ipfix_encoder_flush(t->enc);
		if (t->tcp && !collector_is_up(t->coll))
			target_lost(t);
	}
}

void exporter_tick(struct exporter *exp, uint64_t now_ms)
{
	for (int i = 0; i < exp->n_targets; i++) {
		struct export_target *t = &exp->targets[i];

		target_poll(t, now_ms);
		if (t->tcp)
			continue;
		if (t->refresh_s && now_ms >= t->templates_ms + (uint64_t)t->refresh_s * 1000)
			t->templates_due = true;
		/* a due refresh goes out now, not only with the next record */
		if (t->templates_due) {
			target_templates(t, now_ms);
			ipfix_encoder_flush(t->enc);
		}
	}
}

void exporter_get_stats(const struct exporter *exp, struct exporter_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < exp->n_targets; i++) {
		const struct export_target *t = &exp->targets[i];
		struct collector_stats cs;

		collector_get_stats(t->coll, &cs);
		out->messages += cs.messages;
		out->records += cs.records;
		out->records_dropped += cs.records_dropped + t->backlog_dropped;
		out->bytes += cs.bytes;
	}
}

static uint16_t message_len(const struct xf_collector_config *cc)
{
	uint32_t mtu = cc->mtu ? cc->mtu : EXPORT_DEFAULT_MTU;
	uint32_t headers = cc->addr.ss_family == AF_INET6 ? 40 + 8 : 20 + 8;

	if (cc->transport == XF_TRANSPORT_TCP)
		return EXPORT_TCP_MESSAGE_LEN;
	return mtu > headers ? mtu - headers : 0;
}

struct exporter *exporter_new(const struct xf_config *cfg, char *err, size_t err_len)
{
	struct exporter *exp = g_new0(struct exporter, 1);
	uint64_t now_ms = mono_ms();

	for (int i = 0; i < cfg->n_collectors; i++) {
		const struct xf_collector_config *cc = &cfg->collectors[i];
		struct export_target *t = &exp->targets[i];
		struct ipfix_params params = {
			.observation_domain_id = cfg->observation_domain_id,
			.enterprise_number = cfg->enterprise_number,
			.zone_as_vrf = cfg->zone_as_vrf,
			.max_message_len = message_len(cc),
		};
		char why[256] = "";

		if (cc->protocol != XF_PROTO_IPFIX) {
			snprintf(err, err_len, "collector %s: only IPFIX export is implemented",
				 cc->url);
			goto fail;
		}
		t->enc = ipfix_encoder_new(&params, target_emit, t, why, sizeof(why));
		if (!t->enc) {
			snprintf(err, err_len, "collector %s: %s", cc->url, why);
			goto fail;
		}
		exp->n_targets = i + 1;
		t->tcp = cc->transport == XF_TRANSPORT_TCP;
		t->coll = collector_new(cc, EXPORT_TCP_QUEUE_BYTES);
		t->refresh_s = cfg->template_refresh;
		t->refresh_messages = cfg->template_refresh_messages;
		t->templates_due = !t->tcp; /* UDP: before the first record */
		t->templates_ms = now_ms;
		g_queue_init(&t->backlog);
		/* TCP: start connecting now, in the background */
		if (t->tcp)
			target_poll(t, now_ms);
	}
	return exp;

fail:
	exporter_free(exp);
	return NULL;
}

void exporter_free(struct exporter *exp)
{
	if (!exp)
		return;
	exporter_flush(exp);
	for (int i = 0; i < exp->n_targets; i++) {
		struct export_target *t = &exp->targets[i];
		size_t left = collector_drain(t->coll, EXPORT_DRAIN_MS);
		guint waiting = g_queue_get_length(&t->backlog);

		if (left || waiting)
			log_warnx("collector %s: %zu bytes unsent and %u records waiting at exit",
				  collector_url(t->coll), left, waiting);
		g_queue_clear_full(&t->backlog, g_free);
		ipfix_encoder_free(t->enc);
		collector_free(t->coll);
	}
	g_free(exp);
}
