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
 *
 * A TCP collector with spool = true takes every record through its on-disk
 * spool (spool.h, docs/nat-events.md "Delivery"): records are appended,
 * and read back, encoded and sent while the connection is up (after the
 * templates on each new connection); the spool's position moves past a
 * message's records when the kernel took the whole message. A lost
 * connection or a restart sends again what was read but not taken.
 *
 * Collector groups (xf_pool_config): the targets of a group share the
 * records, mirror (each gets all), round-robin or hash (pool.h); templates
 * and options records go to every member. A member that is down (TCP: not
 * connected; UDP: refused) gets no records: its share goes to the members
 * that are up, counted on both (collector_redirected, collector_taken_over
 * in its options records), and comes back when it is up again. When every
 * member is down, a record goes where it would have gone, which keeps it
 * (TCP backlog) or counts it as not sent.
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
#include "pool.h"
#include "spool.h"

/* Records kept per TCP collector while it is down. */
#define EXPORT_BACKLOG_RECORDS 16384
/* Bytes a TCP collector may have waiting in the send queue. */
#define EXPORT_TCP_QUEUE_BYTES (4u << 20)
/* IPFIX message size on TCP (no MTU to respect). */
#define EXPORT_TCP_MESSAGE_LEN 16384
#define EXPORT_DEFAULT_MTU 1500
/* How long exporter_free waits for TCP queues to drain. */
#define EXPORT_DRAIN_MS 2000
/* fdatasync of a spool at most this often (ms) */
#define EXPORT_SPOOL_SYNC_MS 1000

/*
 * A spooled record: what it is and the size of its layout, then the layout.
 * A spool written by a build with another layout is not misread: such a
 * record is counted as damaged.
 */
#define SPOOLED_FLOW 1	    /* struct flow_record */
#define SPOOLED_NAT_EVENT 2 /* struct ipfix_natev_rec */
#define SPOOLED_MAX                                                  \
	(sizeof(struct flow_record) > sizeof(struct ipfix_natev_rec) \
		 ? sizeof(struct flow_record)                        \
		 : sizeof(struct ipfix_natev_rec))
struct spooled_hdr {
	uint8_t kind;
	uint8_t pad;
	uint16_t size;
};

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
	int (*add_nat_event)(void *enc, const struct ipfix_natev_rec *rec);
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

static int ipfix_add_nat_event(void *enc, const struct ipfix_natev_rec *rec)
{
	return ipfix_encoder_add_nat_event(enc, rec);
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
	.add_nat_event = ipfix_add_nat_event,
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

static int nf9_add_nat_event(void *enc, const struct ipfix_natev_rec *rec)
{
	return netflow9_encoder_add_nat_event(enc, rec);
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
	.add_nat_event = nf9_add_nat_event,
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
	GQueue backlog;			  /* TCP: struct flow_record copies while down */
	bool flows;			  /* the collector takes flow records */
	bool nat_events;		  /* the collector takes the NAT event log */
	GQueue ev_backlog;		  /* TCP: struct ipfix_natev_rec copies while down */
	uint32_t open_events;		  /* NAT event records in the open message */
	struct ipfix_natlog_stats natlog; /* not_sent: events never encoded (backlog full) */
	struct collector_load open; /* packets and octets of the records in the open message */
	uint64_t backlog_dropped;   /* records never encoded: backlog full, not encodable */
	uint64_t backlog_dropped_packets;
	uint64_t backlog_dropped_octets;
	uint64_t encode_errors;
	struct spool *spool;	     /* TCP, spool = true: every record goes through it */
	char spool_path[4200];	     /* its directory */
	struct spool_mark open_mark; /* the end of the open message's last spooled record */
	bool open_spooled;	     /* the open message holds spooled records */
	uint64_t spool_sync_ms;	     /* last fdatasync */
	uint64_t spool_unreadable;   /* spooled records of an unknown kind or layout */
	uint64_t spool_errors;	     /* read or position errors (logged once) */
	uint64_t seed;		     /* pool_member_seed() of its URL */
	uint64_t checked_ms;	     /* when target_check_lost() last looked */
	uint64_t redirected;	     /* records of its share another member took */
	uint64_t taken_over;	     /* records of others' shares it took */
};

/* A collector group: its targets are targets[first .. first + n). */
struct export_pool {
	enum xf_pool_mode mode;
	int first;
	int n;
	uint32_t rr_next; /* round-robin: the next member's turn */
	uint64_t seeds[XF_MAX_COLLECTORS];
};

struct exporter {
	/* allocated one by one: each encoder keeps its target as its context */
	struct export_target *targets[XF_MAX_COLLECTORS];
	int n_targets;
	struct export_pool pools[XF_MAX_COLLECTORS];
	int n_pools;
	/* what the encoders were made with (exporter_reconfigure() compares) */
	uint32_t observation_domain_id;
	uint32_t enterprise_number;
	bool zone_as_vrf;
	char spool_dir[4096]; /* and its bound, for spooled collectors */
	uint32_t spool_max_bytes;
	struct exporter_stats retired; /* totals of collectors a reload removed */
	uint64_t system_init_ms;       /* wall clock */
	uint32_t sampling;
	struct ipfix_metering metering; /* as last set by the daemon */
	uint64_t natlog_source_lost;	/* exporter_set_natlog_source() */
	uint64_t natlog_recovered;
	GArray *interfaces; /* of struct ipfix_interface, by ifindex */
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
		.spooled = t->open_spooled,
		.mark = { t->open_mark.off, t->open_mark.records },
	};


	load.events = t->open_events;
	memset(&t->open, 0, sizeof(t->open));
	t->open_events = 0;
	t->open_spooled = false;
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

	/*
	 * Records its spool refused are in the not-sent counters of their kind;
	 * those lost in the spool (a torn or damaged record: its kind is not
	 * known) only in the spool's own.
	 */
	struct spool_stats ss = { 0 };

	if (t->spool)
		spool_get_stats(t->spool, &ss);

	collector_get_stats(t->coll, &cs);
	opts.exported_messages = cs.messages;
	opts.exported_records = cs.records;
	opts.exported_octets = cs.bytes;
	opts.not_sent_records = cs.records_dropped + t->backlog_dropped;
	opts.not_sent_packets = cs.packets_dropped + t->backlog_dropped_packets;
	opts.not_sent_octets = cs.octets_dropped + t->backlog_dropped_octets;
	collector_local_addr(t->coll, opts.exporter_addr);
	opts.collector_down = cs.downs;
	opts.collector_redirected = t->redirected;
	opts.collector_taken_over = t->taken_over;
	opts.nat_events = t->nat_events;
	opts.natlog.exported = cs.events;
	opts.natlog.not_sent = cs.events_dropped + t->natlog.not_sent;
	opts.natlog.source_lost = exp->natlog_source_lost;
	opts.natlog.recovered = exp->natlog_recovered;
	opts.spool.full = ss.lost_full;
	opts.spool.write_error = ss.lost_io;
	opts.spool.damaged = ss.lost_corrupt + t->spool_unreadable;
	opts.spool.pending = ss.pending;
	opts.spool.octets = ss.bytes;
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

static void target_encode_event(struct export_target *t, const struct ipfix_natev_rec *rec)
{
	int rc;

	if (t->templates_due)
		target_templates(t, clock_mono_ms());
	else if (t->options_due)
		target_options(t, clock_mono_ms());
	rc = t->ops->add_nat_event(t->enc, rec);
	if (rc < 0) {
		if (!t->encode_errors++)
			log_warnx("collector %s: cannot encode a NAT event record: %s",
				  collector_url(t->coll), strerror(-rc));
		t->natlog.not_sent++;
		return;
	}
	t->open_events++;
}

/* Messages the kernel took completely: their records leave the spool. */
static void target_ack(struct export_target *t)
{
	uint64_t m[2];
	struct spool_mark mark;
	int rc;

	if (!t->spool || !collector_take_sent_mark(t->coll, m))
		return;
	mark.off = m[0];
	mark.records = m[1];
	rc = spool_ack(t->spool, &mark);
	if (rc < 0 && !t->spool_errors++)
		log_warnx("collector %s: spool position: %s (records sent may be sent again "
			  "after a restart)",
			  collector_url(t->coll), strerror(-rc));
}

/*
 * Append one record of kind (SPOOLED_*); false when the spool refused it
 * (counted there by cause; the caller counts it as not sent).
 */
static bool spool_add(struct export_target *t, uint8_t kind, const void *rec, size_t len)
{
	uint8_t buf[sizeof(struct spooled_hdr) + SPOOLED_MAX];
	struct spooled_hdr h = { .kind = kind, .size = (uint16_t)len };

	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), rec, len);
	return spool_append(t->spool, buf, sizeof(h) + len) == 0;
}

/* Encode one spooled record; false when this build does not know its kind or layout. */
static bool spooled_encode(struct export_target *t, const uint8_t *buf, size_t len)
{
	struct spooled_hdr h;
	union {
		struct flow_record flow;
		struct ipfix_natev_rec event;
	} u;

	if (len < sizeof(h))
		return false;
	memcpy(&h, buf, sizeof(h));
	if (len != sizeof(h) + h.size)
		return false;
	if (h.kind == SPOOLED_FLOW && h.size == sizeof(u.flow)) {
		memcpy(&u.flow, buf + sizeof(h), sizeof(u.flow));
		target_encode(t, &u.flow);
		return true;
	}
	if (h.kind == SPOOLED_NAT_EVENT && h.size == sizeof(u.event)) {
		memcpy(&u.event, buf + sizeof(h), sizeof(u.event));
		target_encode_event(t, &u.event);
		return true;
	}
	return false;
}

static void target_lost(struct export_target *t);

/*
 * Connection up: read the spool on, encode and send, while the send queue
 * has room for two more messages (a spooled message is never refused by
 * the queue: it must not be skipped while later ones go out).
 */
static void target_pump(struct export_target *t)
{
	static uint8_t buf[SPOOL_MAX_RECORD];
	struct spool_mark mark;
	size_t len;
	int rc;

	while (t->encoder_live && collector_is_up(t->coll) &&
	       collector_queued_bytes(t->coll) + 2 * EXPORT_TCP_MESSAGE_LEN <=
		       EXPORT_TCP_QUEUE_BYTES) {
		rc = spool_read(t->spool, buf, sizeof(buf), &len, &mark);
		if (rc < 0 && !t->spool_errors++)
			log_warnx("collector %s: spool: read: %s", collector_url(t->coll),
				  strerror(-rc));
		if (rc <= 0)
			break;
		if (!spooled_encode(t, buf, len))
			t->spool_unreadable++;
		/* after the add: a message it emitted ends with the record before */
		t->open_mark = mark;
		t->open_spooled = true;
	}
	if (t->encoder_live && collector_is_up(t->coll) && t->ops->pending(t->enc))
		target_flush(t);
	/* the connection broke under a send: the open message dies with it */
	if (t->encoder_live && !collector_is_up(t->coll))
		target_lost(t);
	target_ack(t);
}

/*
 * The TCP connection went down: the open message belongs to it, so emit it
 * now, while the collector is down, which drops and counts its records.
 */
static void target_lost(struct export_target *t)
{
	target_ack(t);
	if (t->encoder_live) {
		target_flush(t);
		t->encoder_live = false;
	}
	t->open_spooled = false;
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

	struct ipfix_natev_rec *ev;

	t->encoder_live = true;
	target_templates(t, now_ms);
	if (t->spool) {
		/* what the last connection did not take completely, in order */
		spool_rewind(t->spool);
		target_pump(t);
	}
	while (collector_is_up(t->coll) && (ev = g_queue_pop_head(&t->ev_backlog))) {
		target_encode_event(t, ev);
		g_free(ev);
	}
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

	target_ack(t);
	if (ev & COLLECTOR_EV_LOST)
		target_lost(t);
	if (ev & COLLECTOR_EV_CONNECTED)
		target_connected(t, now_ms);
	if (ev & COLLECTOR_EV_PROBE) {
		/* UDP, refused before: templates first, and they tell whether it is back */
		target_templates(t, now_ms);
		target_flush(t);
	}
}

/*
 * TCP: at the start of each message look whether the collector went away,
 * so records go to the backlog (or, in a group, to another member) instead
 * of a dead socket. UDP: whether a refusal came back. throttled (a group
 * choosing a member, which asks every member for every record): at most
 * once a millisecond; the member chosen looks again, unthrottled, when it
 * starts its message.
 */
static void target_check_lost(struct export_target *t, bool throttled)
{
	uint64_t now_ms;

	if (t->ops->pending(t->enc))
		return;
	/* a group asks every member for every record: one system call a millisecond */
	now_ms = clock_mono_ms();
	if (throttled && now_ms == t->checked_ms)
		return;
	t->checked_ms = now_ms;
	if (!t->tcp)
		collector_check(t->coll, now_ms); /* a refusal: down, templates first */
	else if (t->encoder_live && !collector_check(t->coll, now_ms))
		target_lost(t);
}

/* Can the target take records now (a group sends a member that cannot none)? */
static bool target_up(struct export_target *t)
{
	target_check_lost(t, true);
	if (t->tcp)
		return t->encoder_live && collector_is_up(t->coll);
	return collector_is_up(t->coll);
}

static void target_check_live(struct export_target *t);

/* One flow record to one target. */
static void target_add(struct export_target *t, const struct flow_record *rec)
{
	if (!t->tcp) {
		target_encode(t, rec);
		return;
	}
	if (t->spool) {
		/* on disk as a whole struct: no stack bytes in the file */
		struct flow_record z;

		flow_record_copy_clean(&z, rec);
		/* refused: counted by the spool by cause, and as not sent */
		if (!spool_add(t, SPOOLED_FLOW, &z, sizeof(z)))
			count_unsent(t, rec);
		return; /* sent by exporter_flush() */
	}
	target_check_live(t);
	if (t->encoder_live && g_queue_is_empty(&t->backlog)) {
		target_encode(t, rec);
		if (!collector_is_up(t->coll))
			target_lost(t);
	} else {
		backlog_push(t, rec);
	}
}

/*
 * The member of a round-robin or hash group that takes a record with this
 * connection key (hash), among the members that take its kind (flow
 * records, or NAT events); NULL when none does.
 */
static struct export_target *pool_target(struct exporter *exp, struct export_pool *p, uint64_t key,
					 bool events)
{
	struct export_target **m = &exp->targets[p->first];
	uint32_t up = 0, takes = 0, turn;
	int home, pick;

	for (int i = 0; i < p->n; i++) {
		if (!(events ? m[i]->nat_events : m[i]->flows))
			continue;
		takes |= 1u << i;
		if (target_up(m[i]))
			up |= 1u << i;
	}
	if (!takes)
		return NULL;
	if (p->mode == XF_POOL_HASH) {
		home = pool_pick_hash(p->seeds, p->n, takes, key);
		/* none up: where it would have gone (it keeps it or counts it) */
		pick = !up || up & (1u << home) ? home : pool_pick_hash(p->seeds, p->n, up, key);
	} else {
		turn = p->rr_next;
		home = pool_pick_next(&turn, p->n, takes);
		pick = pool_pick_next(&p->rr_next, p->n, up ? up : takes);
	}
	if (pick != home) {
		m[home]->redirected++;
		m[pick]->taken_over++;
	}
	return m[pick];
}

/*
 * TCP, at the start of each message: whether the collector went away, so
 * records go to the backlog instead of a dead socket.
 */
static void target_check_live(struct export_target *t)
{
	if (t->encoder_live && !t->ops->pending(t->enc) &&
	    !collector_check(t->coll, clock_mono_ms()))
		target_lost(t);
}

/*
 * While a TCP collector without a spool is down, events wait in a bounded
 * backlog (with spool = true they go to the spool, exporter_add_nat_event()).
 */
static void ev_backlog_push(struct export_target *t, const struct ipfix_natev_rec *rec)
{
	if (g_queue_get_length(&t->ev_backlog) >= EXPORT_BACKLOG_RECORDS) {
		t->natlog.not_sent++;
		return;
	}
	g_queue_push_tail(&t->ev_backlog, g_memdup2(rec, sizeof(*rec)));
}

/* One NAT event to one target. */
static void target_add_event(struct export_target *t, const struct ipfix_natev_rec *rec)
{
	if (!t->tcp) {
		target_encode_event(t, rec);
		return;
	}
	if (t->spool) {
		if (!spool_add(t, SPOOLED_NAT_EVENT, rec, sizeof(*rec)))
			t->natlog.not_sent++;
		return; /* sent by exporter_flush() */
	}
	target_check_live(t);
	if (t->encoder_live && g_queue_is_empty(&t->ev_backlog)) {
		target_encode_event(t, rec);
		if (!collector_is_up(t->coll))
			target_lost(t);
	} else {
		ev_backlog_push(t, rec);
	}
}

/* An address of an internal record as a tuple holds it: IPv4 in bytes 0..3. */
static void natev_addr(uint8_t *out, uint32_t ip4, const uint8_t *ip6, bool v6)
{
	uint32_t be = htonl(ip4);

	memset(out, 0, 16);
	if (v6)
		memcpy(out, ip6, 16);
	else
		memcpy(out, &be, 4);
}

/*
 * The connection key of a NAT event (pool.h): a session's pre- and
 * post-NAT tuples give the key of its flow records; a failure (no free
 * port, table full) has no connection and is keyed on what it names.
 */
static uint64_t natev_key(const struct ipfix_natev_rec *rec)
{
	struct xf_tuple a = { 0 }, b = { 0 };

	if (rec->tid == IPFIX_TID_NAT44_SESSION || rec->tid == IPFIX_TID_NAT66_SESSION) {
		const struct ipfix_natev_session_rec *r = &rec->u.session;
		bool v6 = rec->tid == IPFIX_TID_NAT66_SESSION;

		a.family = b.family = v6 ? XF_FAMILY_IPV6 : XF_FAMILY_IPV4;
		a.proto = b.proto = r->proto;
		natev_addr(a.src_addr, r->src_ip4, r->src_ip6, v6);
		natev_addr(a.dst_addr, r->dst_ip4, r->dst_ip6, v6);
		natev_addr(b.src_addr, r->post_src_ip4, r->post_src_ip6, v6);
		natev_addr(b.dst_addr, r->post_dst_ip4, r->post_dst_ip6, v6);
		a.src_port = r->src_port;
		a.dst_port = r->dst_port;
		b.src_port = r->post_src_port;
		b.dst_port = r->post_dst_port;
	} else if (rec->tid == IPFIX_TID_NAT44_PORTS || rec->tid == IPFIX_TID_NAT66_PORTS) {
		const struct ipfix_natev_ports_rec *r = &rec->u.ports;
		bool v6 = rec->tid == IPFIX_TID_NAT66_PORTS;

		a.family = v6 ? XF_FAMILY_IPV6 : XF_FAMILY_IPV4;
		a.proto = r->proto;
		natev_addr(a.src_addr, r->post_src_ip4, r->post_src_ip6, v6);
		natev_addr(a.dst_addr, r->dst_ip4, r->dst_ip6, v6);
		a.dst_port = r->dst_port;
		b = a;
	}
	return pool_tuple_key(&a, &b);
}

void exporter_add_nat_event(struct exporter *exp, const struct ipfix_natev_rec *rec)
{
	for (int k = 0; k < exp->n_pools; k++) {
		struct export_pool *p = &exp->pools[k];
		struct export_target *t;

		if (p->mode == XF_POOL_MIRROR) {
			for (int i = 0; i < p->n; i++)
				if (exp->targets[p->first + i]->nat_events)
					target_add_event(exp->targets[p->first + i], rec);
			continue;
		}
		t = pool_target(exp, p, natev_key(rec), true);
		if (t)
			target_add_event(t, rec);
	}
}

void exporter_set_natlog_source(struct exporter *exp, uint64_t source_lost, uint64_t recovered)
{
	exp->natlog_source_lost = source_lost;
	exp->natlog_recovered = recovered;
}

bool exporter_wants_nat_events(const struct exporter *exp)
{
	for (int i = 0; i < exp->n_targets; i++)
		if (exp->targets[i]->nat_events)
			return true;
	return false;
}

void exporter_get_natlog_stats(const struct exporter *exp, struct ipfix_natlog_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < exp->n_targets; i++) {
		struct collector_stats cs;

		collector_get_stats(exp->targets[i]->coll, &cs);
		out->exported += cs.events;
		out->not_sent += cs.events_dropped + exp->targets[i]->natlog.not_sent;
	}
	out->source_lost = exp->natlog_source_lost;
	out->recovered = exp->natlog_recovered;
}

void exporter_add(struct exporter *exp, const struct flow_record *rec)
{
	for (int k = 0; k < exp->n_pools; k++) {
		struct export_pool *p = &exp->pools[k];
		struct export_target *t;

		if (p->mode == XF_POOL_MIRROR) {
			for (int i = 0; i < p->n; i++)
				if (exp->targets[p->first + i]->flows)
					target_add(exp->targets[p->first + i], rec);
			continue;
		}
		t = pool_target(exp, p, pool_flow_key(rec), false);
		if (t)
			target_add(t, rec);
	}
}

void exporter_flush(struct exporter *exp)
{
	for (int i = 0; i < exp->n_targets; i++) {
		struct export_target *t = exp->targets[i];

		if (t->spool) {
			/* on disk now (a SIGKILL keeps them), then sent as far as it goes */
			spool_flush(t->spool);
			target_pump(t);
		}
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
		if (t->spool) {
			target_pump(t); /* the queue made room */
			if (now_ms >= t->spool_sync_ms + EXPORT_SPOOL_SYNC_MS) {
				spool_sync(t->spool);
				t->spool_sync_ms = now_ms;
			}
		}
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
		m->downs = cs.downs;
		m->redirected = t->redirected;
		m->taken_over = t->taken_over;
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
		if (t->spool && collector_is_up(t->coll))
			n += spool_unread(t->spool);
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

/*
 * A collector's spool directory: spool_dir/URL, with "://" as "-" and any
 * other '/' as '_': "/var/lib/xlatflow/spool/tcp-192.0.2.1:4739".
 */
static void spool_path(char *buf, size_t len, const char *dir, const char *url)
{
	const char *rest = strstr(url, "://");
	size_t n = (size_t)snprintf(buf, len, "%s/%.*s-", dir, rest ? (int)(rest - url) : 0, url);

	for (const char *p = rest ? rest + 3 : url; *p && n + 1 < len; p++)
		buf[n++] = *p == '/' ? '_' : *p;
	buf[n < len ? n : len - 1] = '\0';
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
		.exporter_ipv6 = cc->addr.ss_family == AF_INET6,
		.nat_events = cc->nat_events,
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
	if (cc->spool)
		spool_path(t->spool_path, sizeof(t->spool_path), cfg->spool_dir, cc->url);
	t->coll = collector_new(cc, EXPORT_TCP_QUEUE_BYTES);
	t->templates_due = !t->tcp; /* UDP: before the first record */
	t->templates_ms = now_ms;
	t->options_ms = now_ms;
	t->flows = !cc->no_flows;
	t->nat_events = cc->nat_events;
	g_queue_init(&t->backlog);
	g_queue_init(&t->ev_backlog);
	return t;
}

/* Free a target; what it still holds is simply dropped (see target_retire). */
static void target_free(struct export_target *t)
{
	if (!t)
		return;
	g_queue_clear_full(&t->backlog, g_free);
	g_queue_clear_full(&t->ev_backlog, g_free);
	spool_free(t->spool);
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
	guint ev_backlog = g_queue_get_length(&t->ev_backlog);
	struct flow_record *rec;

	if (!t->tcp || t->encoder_live)
		target_flush(t);
	waiting = collector_waiting(t->coll);
	collector_discard(t->coll);
	while ((rec = g_queue_pop_head(&t->backlog))) {
		count_unsent(t, rec);
		g_free(rec);
	}
	if (ev_backlog)
		log_warnx("collector %s removed by the reload: %u NAT events not sent",
			  collector_url(t->coll), ev_backlog);
	if (waiting || backlog)
		log_warnx("collector %s removed by the reload: %" PRIu64 " records not sent "
			  "(%" PRIu64 " queued, %u waiting for the connection)",
			  collector_url(t->coll), waiting + backlog, waiting, backlog);
	target_ack(t);
	if (t->spool) {
		struct spool_stats ss;

		spool_get_stats(t->spool, &ss);
		if (ss.pending)
			log_warnx("collector %s removed by the reload: %" PRIu64
				  " records stay in its spool %s for when it comes back",
				  collector_url(t->coll), ss.pending, t->spool_path);
	}
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

	if (old->spool != cc->spool ||
	    (cc->spool && (strcmp(exp->spool_dir, cfg->spool_dir) != 0 ||
			   exp->spool_max_bytes != cfg->spool_max_bytes)))
		return false;
	return exp->observation_domain_id == cfg->observation_domain_id &&
	       exp->enterprise_number == cfg->enterprise_number &&
	       exp->zone_as_vrf == cfg->zone_as_vrf && strcmp(old->url, cc->url) == 0 &&
	       old->transport == cc->transport && old->protocol == cc->protocol &&
	       old->mtu == cc->mtu && old->nat_events == cc->nat_events &&
	       old->addrlen == cc->addrlen && memcmp(&old->addr, &cc->addr, cc->addrlen) == 0;
}

int exporter_reconfigure(struct exporter *exp, const struct xf_config *cfg, char *err,
			 size_t err_len)
{
	struct export_target *next[XF_MAX_COLLECTORS] = { 0 };
	bool kept[XF_MAX_COLLECTORS] = { false }, made[XF_MAX_COLLECTORS] = { false };
	struct xf_pool_config pools[XF_MAX_COLLECTORS];
	int heir[XF_MAX_COLLECTORS]; /* the replaced target whose spool target i takes over */
	uint64_t now_ms = clock_mono_ms();
	int n_pools;

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
	/* spools: one process, one owner; a replaced collector hands its own over */
	for (int i = 0; i < cfg->n_collectors; i++) {
		char why[4400];
		int rc;

		heir[i] = -1;
		if (!made[i] || !cfg->collectors[i].spool)
			continue;
		for (int j = 0; j < exp->n_targets && heir[i] < 0; j++)
			if (!kept[j] && exp->targets[j]->spool &&
			    strcmp(exp->targets[j]->spool_path, next[i]->spool_path) == 0)
				heir[i] = j;
		if (heir[i] >= 0)
			continue;
		rc = spool_open(next[i]->spool_path, cfg->spool_max_bytes, &next[i]->spool, why,
				sizeof(why));
		if (rc < 0) {
			errbuf_set(err, err_len, rc, "collector %s: %s", cfg->collectors[i].url,
				   why);
			goto fail;
		}
	}

	for (int i = 0; i < cfg->n_collectors; i++) {
		struct export_target *old;

		if (heir[i] < 0)
			continue;
		old = exp->targets[heir[i]];
		/* what its connection took completely leaves the spool first */
		if (old->encoder_live)
			target_flush(old);
		target_ack(old);
		next[i]->spool = old->spool;
		old->spool = NULL;
	}
	for (int j = 0; j < exp->n_targets; j++)
		if (!kept[j])
			target_retire(exp, exp->targets[j]);
	for (int i = 0; i < cfg->n_collectors; i++) {
		struct export_target *t = next[i];

		collector_set_pacing(t->coll, cfg->collectors[i].rate, cfg->collectors[i].burst);
		t->flows = !cfg->collectors[i].no_flows;
		t->refresh_s = cfg->template_refresh;
		t->refresh_messages = cfg->template_refresh_messages;
		/* sampling or the interface table may differ: tell the collector */
		if (!made[i])
			t->options_due = true;
		t->seed = pool_member_seed(cfg->collectors[i].url);
		exp->targets[i] = t;
	}
	exp->n_targets = cfg->n_collectors;
	/* a configuration made without groups (config.c always makes them): one per collector */
	n_pools = cfg->n_pools;
	for (int k = 0; k < n_pools; k++)
		pools[k] = cfg->pools[k];
	if (!n_pools)
		for (; n_pools < cfg->n_collectors; n_pools++)
			pools[n_pools] =
				(struct xf_pool_config){ .first = n_pools, .n_members = 1 };
	for (int k = 0; k < n_pools; k++) {
		struct export_pool *p = &exp->pools[k];
		const struct xf_pool_config *pc = &pools[k];

		if (k >= exp->n_pools || p->mode != pc->mode || p->n != pc->n_members)
			p->rr_next = 0;
		p->mode = pc->mode;
		p->first = pc->first;
		p->n = pc->n_members;
		for (int i = 0; i < p->n; i++)
			p->seeds[i] = exp->targets[p->first + i]->seed;
	}
	exp->n_pools = n_pools;
	exp->observation_domain_id = cfg->observation_domain_id;
	exp->enterprise_number = cfg->enterprise_number;
	exp->zone_as_vrf = cfg->zone_as_vrf;
	snprintf(exp->spool_dir, sizeof(exp->spool_dir), "%s", cfg->spool_dir);
	exp->spool_max_bytes = cfg->spool_max_bytes;
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
		guint ev_waiting = g_queue_get_length(&t->ev_backlog);

		target_ack(t);
		if (t->spool) {
			struct spool_stats ss;

			spool_get_stats(t->spool, &ss);
			if (ss.pending)
				log_info("collector %s: %" PRIu64 " records stay in the spool %s",
					 collector_url(t->coll), ss.pending, t->spool_path);
		}
		if (left || waiting || ev_waiting)
			log_warnx("collector %s: %zu bytes unsent, %u records and %u NAT events "
				  "waiting at exit",
				  collector_url(t->coll), left, waiting, ev_waiting);
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
