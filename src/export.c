// SPDX-License-Identifier: GPL-2.0-only
/*
 * The exporter (export.h): for every configured collector one encoder
 * (IPFIX with its own libfixbuf session, or NetFlow v9) feeding one
 * transport.
 *
 * UDP: templates and options records go first and again every
 * template_refresh seconds and every template_refresh_messages data
 * messages. The transport paces them (collector.h); exporter_room() tells
 * the flow cache how many records the paced queues take now.
 * TCP: templates and options records go first on every new connection;
 * the options records again every template_refresh seconds. While the connection is
 * down, records wait in a bounded backlog (not encoded, so sequence numbers
 * stay in order) and are encoded after the templates once it is back.
 * Every record that cannot be sent is counted in records_dropped.
 * A reload changes the targets in place (exporter_reconfigure()).
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "clock.h"
#include "collector.h"
#include "errbuf.h"
#include "export.h"
#include "ipfix.h"
#include "log.h"
#include "netflow9.h"

/* Records kept per TCP collector while it is down. */
#define EXPORT_BACKLOG_RECORDS 16384
/* Bytes a TCP collector may have waiting in the send queue. */
#define EXPORT_TCP_QUEUE_BYTES (4u << 20)
/* IPFIX message size on TCP (no MTU to respect). */
#define EXPORT_TCP_MESSAGE_LEN 16384
#define EXPORT_DEFAULT_MTU 1500
/* How long exporter_free waits for TCP queues to drain. */
#define EXPORT_DRAIN_MS 2000

struct exporter;

/*
 * What the exporter asks of an encoder, one table per protocol, chosen when
 * the target is made. enc is the protocol's own encoder.
 */
struct encoder_ops {
	void *(*new)(const struct ipfix_params *params, uint64_t system_init_ms, ipfix_emit_fn emit,
		     void *ctx, char *err, size_t err_len);
	void (*free)(void *enc);
	int (*add)(void *enc, const struct flow_record *rec);
	int (*add_templates)(void *enc);
	int (*add_options)(void *enc, const struct ipfix_options *opts);
	int (*flush)(void *enc);
	uint32_t (*pending)(const void *enc);
	/* the origin of the protocol's uptime clock; NULL: it has none */
	void (*set_system_init)(void *enc, uint64_t system_init_ms);
};

static void *ipfix_new(const struct ipfix_params *params, uint64_t system_init_ms,
		       ipfix_emit_fn emit, void *ctx, char *err, size_t err_len)
{
	return ipfix_encoder_new(params, emit, ctx, err, err_len);
}

static void ipfix_free(void *enc)
{
	ipfix_encoder_free(enc);
}

static int ipfix_add(void *enc, const struct flow_record *rec)
{
	return ipfix_encoder_add(enc, rec);
}

static int ipfix_add_templates(void *enc)
{
	return ipfix_encoder_add_templates(enc);
}

static int ipfix_add_options(void *enc, const struct ipfix_options *opts)
{
	return ipfix_encoder_add_options(enc, opts);
}

static int ipfix_flush(void *enc)
{
	return ipfix_encoder_flush(enc);
}

static uint32_t ipfix_pending(const void *enc)
{
	return ipfix_encoder_pending(enc);
}

static const struct encoder_ops ipfix_ops = {
	.new = ipfix_new,
	.free = ipfix_free,
	.add = ipfix_add,
	.add_templates = ipfix_add_templates,
	.add_options = ipfix_add_options,
	.flush = ipfix_flush,
	.pending = ipfix_pending,
};

static void *nf9_new(const struct ipfix_params *params, uint64_t system_init_ms, ipfix_emit_fn emit,
		     void *ctx, char *err, size_t err_len)
{
	return netflow9_encoder_new(params, system_init_ms, emit, ctx, err, err_len);
}

static void nf9_free(void *enc)
{
	netflow9_encoder_free(enc);
}

static int nf9_add(void *enc, const struct flow_record *rec)
{
	return netflow9_encoder_add(enc, rec);
}

static int nf9_add_templates(void *enc)
{
	return netflow9_encoder_add_templates(enc);
}

static int nf9_add_options(void *enc, const struct ipfix_options *opts)
{
	return netflow9_encoder_add_options(enc, opts);
}

static int nf9_flush(void *enc)
{
	return netflow9_encoder_flush(enc);
}

static uint32_t nf9_pending(const void *enc)
{
	return netflow9_encoder_pending(enc);
}

static void nf9_set_system_init(void *enc, uint64_t system_init_ms)
{
	netflow9_encoder_set_system_init(enc, system_init_ms);
}

static const struct encoder_ops netflow9_ops = {
	.new = nf9_new,
	.free = nf9_free,
	.add = nf9_add,
	.add_templates = nf9_add_templates,
	.add_options = nf9_add_options,
	.flush = nf9_flush,
	.pending = nf9_pending,
	.set_system_init = nf9_set_system_init,
};

struct export_target {
	struct exporter *exp;
	struct collector *coll;
	const struct encoder_ops *ops; /* of the collector's protocol */
	void *enc;		       /* its encoder */
	bool tcp;
	bool templates_due;	/* send templates (and options) before the next record */
	bool options_due;	/* send the options records before the next record */
	uint64_t options_ms;	/* when options records were last sent */
	bool encoder_live;	/* TCP: the open message belongs to the current connection */
	uint64_t templates_ms;	/* when templates were last sent */
	uint32_t data_messages; /* data messages since templates */
	uint32_t refresh_s;
	uint32_t refresh_messages;
	GQueue backlog;		    /* TCP: struct flow_record copies while down */
	struct collector_load open; /* packets and octets of the records in the open message */
	uint64_t backlog_dropped;   /* records never encoded: backlog full, not encodable */
	uint64_t backlog_dropped_packets;
	uint64_t backlog_dropped_octets;
	uint64_t encode_errors;
};

struct exporter {
	/* allocated one by one: each encoder keeps its target as its context */
	struct export_target *targets[XF_MAX_COLLECTORS];
	int n_targets;
	/* what the encoders were made with (exporter_reconfigure() compares) */
	uint32_t observation_domain_id;
	uint32_t enterprise_number;
	bool zone_as_vrf;
	struct exporter_stats retired; /* totals of collectors a reload removed */
	uint64_t system_init_ms;       /* wall clock */
	uint32_t sampling;
	struct ipfix_metering metering; /* as last set by the daemon */
	GArray *interfaces;		/* of struct ipfix_interface, by ifindex */
};

/*
 * UDP: a datagram that could not be sent (the collector's port refused it:
 * down or restarting) means the templates may not have arrived either; send
 * them first again, or a collector that comes back could not decode
 * anything until the next refresh.
 */
static void target_check_sent(struct export_target *t)
{
	if (!t->tcp && collector_take_send_failed(t->coll))
		t->templates_due = true;
}

/* The open message, then the collector's pending datagrams. */
static int target_flush(struct export_target *t)
{
	int rc = t->ops->flush(t->enc);

	collector_flush(t->coll);
	target_check_sent(t);
	return rc;
}

/*
 * A finished message. The encoder emits the open message before it appends
 * the record that did not fit, so t->open holds exactly this message's sums.
 */
static void target_emit(void *ctx, const uint8_t *msg, size_t len, uint32_t records)
{
	struct export_target *t = ctx;
	struct collector_load load = {
		.records = records,
		.packets = t->open.packets,
		.octets = t->open.octets,
	};

	memset(&t->open, 0, sizeof(t->open));
	collector_send(t->coll, msg, len, &load, clock_mono_ms());
	target_check_sent(t);
	if (records && !t->tcp && t->refresh_messages && ++t->data_messages >= t->refresh_messages)
		t->templates_due = true;
}

/* The options records of this target, with its own exporting process counters. */
static void target_options(struct export_target *t, uint64_t now_ms)
{
	const struct exporter *exp = t->exp;
	struct collector_stats cs;
	struct ipfix_options opts = {
		.system_init_ms = exp->system_init_ms,
		.sampling = exp->sampling,
		.metering = exp->metering,
		.interfaces = (const struct ipfix_interface *)exp->interfaces->data,
		.n_interfaces = exp->interfaces->len,
	};

	collector_get_stats(t->coll, &cs);
	opts.exported_messages = cs.messages;
	opts.exported_records = cs.records;
	opts.exported_octets = cs.bytes;
	opts.not_sent_records = cs.records_dropped + t->backlog_dropped;
	opts.not_sent_packets = cs.packets_dropped + t->backlog_dropped_packets;
	opts.not_sent_octets = cs.octets_dropped + t->backlog_dropped_octets;
	if (t->ops->add_options(t->enc, &opts) < 0)
		log_warnx("collector %s: cannot encode options records", collector_url(t->coll));
	t->options_due = false;
	t->options_ms = now_ms;
}

static void target_templates(struct export_target *t, uint64_t now_ms)
{
	if (t->ops->add_templates(t->enc) < 0)
		log_warnx("collector %s: cannot encode templates", collector_url(t->coll));
	target_options(t, now_ms);
	t->templates_due = false;
	t->templates_ms = now_ms;
	t->data_messages = 0;
}

static void count_unsent(struct export_target *t, const struct flow_record *rec)
{
	t->backlog_dropped++;
	t->backlog_dropped_packets += rec->packets;
	t->backlog_dropped_octets += rec->octets;
}

static void target_encode(struct export_target *t, const struct flow_record *rec)
{
	int rc;

	if (t->templates_due)
		target_templates(t, clock_mono_ms());
	else if (t->options_due)
		target_options(t, clock_mono_ms());
	rc = t->ops->add(t->enc, rec);
	if (rc < 0) {
		/* not sendable (unknown family): counted, never silent */
		if (!t->encode_errors++)
			log_warnx("collector %s: cannot encode a flow record: %s",
				  collector_url(t->coll), strerror(-rc));
		count_unsent(t, rec);
		return;
	}
	t->open.packets += rec->packets;
	t->open.octets += rec->octets;
}

/*
 * The TCP connection went down: the open message belongs to it, so emit it
 * now, while the collector is down, which drops and counts its records.
 */
static void target_lost(struct export_target *t)
{
	if (t->encoder_live) {
		target_flush(t);
		t->encoder_live = false;
	}
}

static void backlog_push(struct export_target *t, const struct flow_record *rec)
{
	struct flow_record *copy;

	if (g_queue_get_length(&t->backlog) >= EXPORT_BACKLOG_RECORDS) {
		count_unsent(t, rec);
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
	target_flush(t);
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
		struct export_target *t = exp->targets[i];

		if (!t->tcp) {
			target_encode(t, rec);
			continue;
		}
		/*
		 * At the start of each message look whether the collector went
		 * away, so records go to the backlog instead of a dead socket.
		 */
		if (t->encoder_live && !t->ops->pending(t->enc) &&
		    !collector_check(t->coll, clock_mono_ms()))
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
		struct export_target *t = exp->targets[i];

		if (t->tcp && !t->encoder_live)
			continue;
		target_flush(t);
		if (t->tcp && !collector_is_up(t->coll))
			target_lost(t);
	}
}

void exporter_tick(struct exporter *exp, uint64_t now_ms)
{
	for (int i = 0; i < exp->n_targets; i++) {
		struct export_target *t = exp->targets[i];

		target_poll(t, now_ms);
		if (t->tcp) {
			/* options records only: the connection keeps the templates */
			if (t->encoder_live && collector_is_up(t->coll) && t->refresh_s &&
			    now_ms >= t->options_ms + (uint64_t)t->refresh_s * 1000) {
				target_options(t, now_ms);
				target_flush(t);
			}
			continue;
		}
		if (t->refresh_s && now_ms >= t->templates_ms + (uint64_t)t->refresh_s * 1000)
			t->templates_due = true;
		/* a due refresh goes out now, not only with the next record */
		if (t->templates_due) {
			target_templates(t, now_ms);
			target_flush(t);
		}
	}
}

void exporter_get_stats(const struct exporter *exp, struct exporter_stats *out)
{
	*out = exp->retired;
	for (int i = 0; i < exp->n_targets; i++) {
		const struct export_target *t = exp->targets[i];
		struct collector_stats cs;

		collector_get_stats(t->coll, &cs);
		out->messages += cs.messages;
		out->records += cs.records;
		out->records_dropped += cs.records_dropped + t->backlog_dropped;
		out->packets_dropped += cs.packets_dropped + t->backlog_dropped_packets;
		out->octets_dropped += cs.octets_dropped + t->backlog_dropped_octets;
		out->bytes += cs.bytes;
	}
}

void exporter_get_collectors(const struct exporter *exp, struct metrics_collector *out, int *n)
{
	for (int i = 0; i < exp->n_targets; i++) {
		const struct export_target *t = exp->targets[i];
		struct metrics_collector *m = &out[i];
		struct collector_stats cs;

		collector_get_stats(t->coll, &cs);
		memset(m, 0, sizeof(*m));
		g_strlcpy(m->url, collector_url(t->coll), sizeof(m->url));
		/* (as config.c names them; the exporter's tests link no config.c) */
		m->protocol = collector_config(t->coll)->protocol == XF_PROTO_NETFLOW9 ? "netflow9"
										       : "ipfix";
		m->transport = t->tcp ? "tcp" : "udp";
		m->up = collector_is_up(t->coll);
		/* the same sums target_options() puts in the options records */
		m->messages = cs.messages;
		m->records = cs.records;
		m->bytes = cs.bytes;
		m->not_sent_records = cs.records_dropped + t->backlog_dropped;
		m->not_sent_packets = cs.packets_dropped + t->backlog_dropped_packets;
		m->not_sent_octets = cs.octets_dropped + t->backlog_dropped_octets;
		m->queued_records = collector_waiting(t->coll);
		m->backlog_records = g_queue_get_length((GQueue *)&t->backlog);
		m->connections = cs.connects;
	}
	*n = exp->n_targets;
}

/* The open message counts against the queue it will go to. */
static uint64_t target_room(const struct export_target *t)
{
	uint64_t room = collector_room(t->coll);
	uint32_t open = t->ops->pending(t->enc);

	if (room == UINT64_MAX)
		return room;
	return room > open ? room - open : 0;
}

uint64_t exporter_room(const struct exporter *exp)
{
	uint64_t room = UINT64_MAX;

	for (int i = 0; i < exp->n_targets; i++) {
		uint64_t r = target_room(exp->targets[i]);

		if (r < room)
			room = r;
	}
	return room;
}

uint64_t exporter_next_send_ns(const struct exporter *exp)
{
	uint64_t next = 0;

	for (int i = 0; i < exp->n_targets; i++) {
		uint64_t at = collector_next_send_ns(exp->targets[i]->coll);

		if (at && (!next || at < next))
			next = at;
	}
	return next;
}

void exporter_pace(struct exporter *exp)
{
	for (int i = 0; i < exp->n_targets; i++) {
		struct export_target *t = exp->targets[i];

		if (t->tcp)
			continue;
		collector_flush(t->coll);
		target_check_sent(t);
	}
}

uint64_t exporter_waiting(const struct exporter *exp)
{
	uint64_t n = 0;

	for (int i = 0; i < exp->n_targets; i++) {
		const struct export_target *t = exp->targets[i];

		/* a TCP queue only empties while its connection is up */
		if (!t->tcp || collector_is_up(t->coll))
			n += collector_waiting(t->coll);
	}
	return n;
}

void exporter_flush_all(struct exporter *exp)
{
	exporter_flush(exp);
	for (int i = 0; i < exp->n_targets; i++) {
		struct export_target *t = exp->targets[i];

		collector_flush_all(t->coll);
		target_check_sent(t);
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

/* A new target for cc: encoder and transport (TCP connects in the background). */
static struct export_target *target_new(struct exporter *exp, const struct xf_config *cfg,
					const struct xf_collector_config *cc, char *err,
					size_t err_len)
{
	struct export_target *t;
	struct ipfix_params params = {
		.observation_domain_id = cfg->observation_domain_id,
		.enterprise_number = cfg->enterprise_number,
		.zone_as_vrf = cfg->zone_as_vrf,
		.max_message_len = message_len(cc),
	};
	uint64_t now_ms = clock_mono_ms();
	char why[256] = "";

	/* a v9 header has no length: over TCP a receiver cannot find messages */
	if (cc->protocol == XF_PROTO_NETFLOW9 && cc->transport == XF_TRANSPORT_TCP) {
		errbuf_set(err, err_len, 0, "collector %s: NetFlow v9 is UDP only", cc->url);
		return NULL;
	}
	t = g_new0(struct export_target, 1);
	t->exp = exp;
	t->ops = cc->protocol == XF_PROTO_NETFLOW9 ? &netflow9_ops : &ipfix_ops;
	t->enc = t->ops->new (&params, exp->system_init_ms, target_emit, t, why, sizeof(why));
	if (!t->enc) {
		errbuf_set(err, err_len, 0, "collector %s: %s", cc->url, why);
		g_free(t);
		return NULL;
	}
	t->tcp = cc->transport == XF_TRANSPORT_TCP;
	t->coll = collector_new(cc, EXPORT_TCP_QUEUE_BYTES);
	t->templates_due = !t->tcp; /* UDP: before the first record */
	t->templates_ms = now_ms;
	t->options_ms = now_ms;
	g_queue_init(&t->backlog);
	return t;
}

/* Free a target; what it still holds is simply dropped (see target_retire). */
static void target_free(struct export_target *t)
{
	if (!t)
		return;
	g_queue_clear_full(&t->backlog, g_free);
	t->ops->free(t->enc);
	collector_free(t->coll);
	g_free(t);
}

/*
 * A reload removed this collector. Nothing here waits: the open message
 * goes to the transport, which sends what it can at once (UDP: what the
 * pacing allows; TCP: what the socket takes); every record still waiting,
 * and a TCP backlog, is counted as not sent and logged. The target's
 * totals stay in the exporter's.
 */
static void target_retire(struct exporter *exp, struct export_target *t)
{
	struct exporter_stats st;
	struct collector_stats cs;
	uint64_t waiting;
	guint backlog = g_queue_get_length(&t->backlog);
	struct flow_record *rec;

	if (!t->tcp || t->encoder_live)
		target_flush(t);
	waiting = collector_waiting(t->coll);
	collector_discard(t->coll);
	while ((rec = g_queue_pop_head(&t->backlog))) {
		count_unsent(t, rec);
		g_free(rec);
	}
	if (waiting || backlog)
		log_warnx("collector %s removed by the reload: %" PRIu64 " records not sent "
			  "(%" PRIu64 " queued, %u waiting for the connection)",
			  collector_url(t->coll), waiting + backlog, waiting, backlog);
	collector_get_stats(t->coll, &cs);
	st = exp->retired;
	st.messages += cs.messages;
	st.records += cs.records;
	st.records_dropped += cs.records_dropped + t->backlog_dropped;
	st.packets_dropped += cs.packets_dropped + t->backlog_dropped_packets;
	st.octets_dropped += cs.octets_dropped + t->backlog_dropped_octets;
	st.bytes += cs.bytes;
	exp->retired = st;
	target_free(t);
}

/* A running target can go on for cc: the same collector, the same encoding. */
static bool target_keeps(const struct exporter *exp, const struct export_target *t,
			 const struct xf_config *cfg, const struct xf_collector_config *cc)
{
	const struct xf_collector_config *old = collector_config(t->coll);

	return exp->observation_domain_id == cfg->observation_domain_id &&
	       exp->enterprise_number == cfg->enterprise_number &&
	       exp->zone_as_vrf == cfg->zone_as_vrf && strcmp(old->url, cc->url) == 0 &&
	       old->transport == cc->transport && old->protocol == cc->protocol &&
	       old->mtu == cc->mtu && old->addrlen == cc->addrlen &&
	       memcmp(&old->addr, &cc->addr, cc->addrlen) == 0;
}

int exporter_reconfigure(struct exporter *exp, const struct xf_config *cfg, char *err,
			 size_t err_len)
{
	struct export_target *next[XF_MAX_COLLECTORS] = { 0 };
	bool kept[XF_MAX_COLLECTORS] = { false }, made[XF_MAX_COLLECTORS] = { false };
	uint64_t now_ms = clock_mono_ms();

	/* Everything that can fail comes first, so a failure changes nothing. */
	for (int i = 0; i < cfg->n_collectors; i++) {
		const struct xf_collector_config *cc = &cfg->collectors[i];

		for (int j = 0; j < exp->n_targets && !next[i]; j++) {
			if (!kept[j] && target_keeps(exp, exp->targets[j], cfg, cc)) {
				next[i] = exp->targets[j];
				kept[j] = true;
			}
		}
		if (next[i])
			continue;
		next[i] = target_new(exp, cfg, cc, err, err_len);
		if (!next[i])
			goto fail;
		made[i] = true;
	}

	for (int j = 0; j < exp->n_targets; j++)
		if (!kept[j])
			target_retire(exp, exp->targets[j]);
	for (int i = 0; i < cfg->n_collectors; i++) {
		struct export_target *t = next[i];

		collector_set_pacing(t->coll, cfg->collectors[i].rate, cfg->collectors[i].burst);
		t->refresh_s = cfg->template_refresh;
		t->refresh_messages = cfg->template_refresh_messages;
		/* sampling or the interface table may differ: tell the collector */
		if (!made[i])
			t->options_due = true;
		exp->targets[i] = t;
	}
	exp->n_targets = cfg->n_collectors;
	exp->observation_domain_id = cfg->observation_domain_id;
	exp->enterprise_number = cfg->enterprise_number;
	exp->zone_as_vrf = cfg->zone_as_vrf;
	exp->sampling = cfg->sampling ? cfg->sampling : 1;
	/* TCP: start connecting now, in the background */
	for (int i = 0; i < exp->n_targets; i++)
		if (made[i] && exp->targets[i]->tcp)
			target_poll(exp->targets[i], now_ms);
	return 0;

fail:
	for (int i = 0; i < cfg->n_collectors; i++)
		if (made[i])
			target_free(next[i]);
	return -EINVAL;
}

struct exporter *exporter_new(const struct xf_config *cfg, char *err, size_t err_len)
{
	struct exporter *exp = g_new0(struct exporter, 1);

	exp->system_init_ms = clock_wall_ms();
	exp->interfaces = g_array_new(FALSE, TRUE, sizeof(struct ipfix_interface));
	if (exporter_reconfigure(exp, cfg, err, err_len) < 0) {
		exporter_free(exp);
		return NULL;
	}
	return exp;
}

void exporter_free(struct exporter *exp)
{
	uint64_t deadline;

	if (!exp)
		return;
	exporter_flush_all(exp);
	/* one wait for all TCP queues together, not one per collector */
	deadline = clock_mono_ms() + EXPORT_DRAIN_MS;
	for (int i = 0; i < exp->n_targets; i++) {
		struct export_target *t = exp->targets[i];
		uint64_t now = clock_mono_ms();
		size_t left = collector_drain(t->coll, now < deadline ? (int)(deadline - now) : 0);
		guint waiting = g_queue_get_length(&t->backlog);

		if (left || waiting)
			log_warnx("collector %s: %zu bytes unsent and %u records waiting at exit",
				  collector_url(t->coll), left, waiting);
		target_free(t);
	}
	g_array_free(exp->interfaces, TRUE);
	g_free(exp);
}

void exporter_set_metering(struct exporter *exp, const struct ipfix_metering *metering)
{
	exp->metering = *metering;
}

void exporter_set_system_init_time(struct exporter *exp, uint64_t wall_ms_since_epoch)
{
	exp->system_init_ms = wall_ms_since_epoch;
	for (int i = 0; i < exp->n_targets; i++) {
		struct export_target *t = exp->targets[i];

		if (t->ops->set_system_init)
			t->ops->set_system_init(t->enc, wall_ms_since_epoch);
	}
}

/* NUL padded, not terminated when src fills len */
static void copy_padded(char *dst, size_t len, const char *src)
{
	memset(dst, 0, len);
	if (src)
		memcpy(dst, src, strnlen(src, len));
}

void exporter_set_interface(struct exporter *exp, uint32_t ifindex, const char *name,
			    const char *description)
{
	struct ipfix_interface row = { .ifindex = ifindex };
	GArray *a = exp->interfaces;
	guint i;

	for (i = 0; i < a->len; i++)
		if (g_array_index(a, struct ipfix_interface, i).ifindex >= ifindex)
			break;
	if (i < a->len && g_array_index(a, struct ipfix_interface, i).ifindex == ifindex)
		g_array_remove_index(a, i);
	if (!name)
		return;
	copy_padded(row.name, sizeof(row.name), name);
	copy_padded(row.description, sizeof(row.description), description);
	g_array_insert_val(a, i, row);
	/* a new name goes out with the next record, not only at the next refresh */
	for (int k = 0; k < exp->n_targets; k++)
		exp->targets[k]->options_due = true;
}

void exporter_send_options(struct exporter *exp)
{
	uint64_t now_ms = clock_mono_ms();

	for (int i = 0; i < exp->n_targets; i++) {
		struct export_target *t = exp->targets[i];

		if (t->tcp && !t->encoder_live)
			continue;
		target_options(t, now_ms);
		target_flush(t);
		if (t->tcp && !collector_is_up(t->coll))
			target_lost(t);
	}
}
