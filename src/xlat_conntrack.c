// SPDX-License-Identifier: GPL-2.0-only
/*
 * Conntrack netlink as a translation source and as the NAT event log's
 * source. Three netlink sockets:
 *   events  bound to the NEW/UPDATE/DESTROY groups: non-blocking, a large
 *           receive buffer, a socket filter that drops untranslated
 *           connections in the kernel, reliable delivery while NAT events
 *           are wanted;
 *   dumper  table dumps, read a slice per dispatch (the kernel produces the
 *           next part only as we read, so a dump never floods anything);
 *   query   the statistics requests, answered at once.
 * One epoll descriptor joins the event and dump sockets, a timerfd that
 * schedules the dumps, a timerfd for the statistics poll and an eventfd that
 * stays readable while work no socket announces is left (a sweep of the
 * session table, a dump pass still to ask for); that is the descriptor the
 * daemon waits on.
 *
 * Sessions: to send one CREATE and one DELETE per translated connection, and
 * to notice a CREATE that never came, the source keeps a set of the
 * connections it knows: 16 bytes each, a 64-bit hash of (original tuple,
 * zone, conntrack id) and a state. The periodic dump refreshes it and a
 * sweep forgets what the dumps no longer see.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/sock_diag.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>

#include <glib.h>
#include <libmnl/libmnl.h>

#include "clock.h"
#include "errbuf.h"
#include "flow.h"
#include "log.h"
#include "xlat_conntrack.h"

#ifndef NETLINK_BROADCAST_ERROR
#define NETLINK_BROADCAST_ERROR 4
#endif
#ifndef NETLINK_NO_ENOBUFS
#define NETLINK_NO_ENOBUFS 5
#endif
#ifndef SO_MEMINFO
#define SO_MEMINFO 55
#endif

/* Events are bursty (a SYN flood through a NAT makes one per packet). */
#define XLAT_CT_RCVBUF (16 * 1024 * 1024)
/* Dump replies pack many messages per datagram. */
#define XLAT_CT_BUF (64 * 1024)
/*
 * Time one dispatch may spend reading events, and again reading a dump:
 * what is left keeps the descriptor readable, so the caller's loop serves
 * its other work in between.
 */
#define XLAT_CT_SLICE_NS (2 * 1000000ULL)
/* Session table slots one dispatch sweeps. */
#define XLAT_CT_SWEEP_SLOTS 65536
/* A DELETE's tombstone: duplicates and stale dump entries within it are recognised. */
#define XLAT_CT_TOMBSTONE_S 10
/* Sweep at least this often while NAT events are wanted (tombstones). */
#define XLAT_CT_SWEEP_S 10
/*
 * Filtered dumps only up to this many connections. A filtered pass that
 * matches few connections walks the whole table inside one system call
 * (~0.3 us a connection: 300 ms for a million); an unfiltered one returns
 * a datagram every ~130 connections, so a slice stays a slice.
 */
#define XLAT_CT_FILTER_MAX 32768
/*
 * The table-full guard: reliable delivery keeps every undelivered DESTROY in
 * the conntrack table, so a reader that cannot keep up fills it and the host
 * drops new connections. Above HIGH percent full while our socket overruns,
 * reliable delivery is suspended; below LOW without overruns it resumes.
 */
#define XLAT_CT_GUARD_HIGH 95
#define XLAT_CT_GUARD_LOW 80
/* Smallest session table (slots). */
#define XLAT_CT_SESS_MIN 1024

/* What a message says about a connection. */
enum ct_origin { CT_EV_NEW, CT_EV_UPDATE, CT_EV_DESTROY, CT_DUMP };

enum sess_state {
	SESS_EMPTY = 0,
	SESS_LIVE,	  /* CREATE sent (or recovered) */
	SESS_PREEXISTING, /* in the start dump: older than the source, no CREATE */
	SESS_UNCONFIRMED, /* seen in a dump or an UPDATE, its NEW not (yet) */
	SESS_DEAD,	  /* DELETE sent; gen is the second it was sent */
};

struct sess {
	uint64_t key;	/* 0: empty slot */
	uint32_t gen;	/* dump generation last seen; for DEAD, mono seconds */
	uint32_t state; /* enum sess_state */
};

/* Open addressing, linear probing, backward-shift deletion. */
struct sess_table {
	struct sess *slot;
	uint32_t mask;
	uint32_t used;
};

#define CTM_STATUS 0x1
#define CTM_ID 0x2
#define CTM_START 0x4
#define CTM_STOP 0x8
#define CTM_ACCT 0x10

/* One parsed ctnetlink conntrack message. */
struct ct_msg {
	struct xf_tuple orig, reply;
	uint64_t start_ns, stop_ns; /* wall clock */
	uint64_t packets[2], octets[2];
	uint32_t status, id;
	uint16_t zone;
	uint8_t has; /* CTM_* */
};

/* conntrack's per-CPU counters we follow, in this order. */
enum {
	KST_INSERT_FAILED,
	KST_DROP,
	KST_EARLY_DROP,
	KST_SEARCH_RESTART,
	KST_CLASH,
	KST_CHAIN,
	KST_N
};

static const uint16_t kst_attr[KST_N] = {
	CTA_STATS_INSERT_FAILED,  CTA_STATS_DROP,	   CTA_STATS_EARLY_DROP,
	CTA_STATS_SEARCH_RESTART, CTA_STATS_CLASH_RESOLVE, CTA_STATS_CHAIN_TOOLONG,
};

struct xlat_conntrack {
	struct mnl_socket *events;
	struct mnl_socket *dumper;
	struct mnl_socket *query;
	int refresh_fd, stats_fd, work_fd, epoll_fd;
	bool work_flag; /* work_fd is readable */
	uint32_t seq;
	uint64_t refresh_ms;
	struct xf_clock clock;
	int callbacks; /* made in the current dispatch */

	/* dumps */
	bool resync_due;
	int dump_pass;	/* 0: none running; 1: SRC_NAT; 2: DST_NAT only; 3: unfiltered */
	bool dump_sent; /* the pass's request is sent */
	uint32_t dump_seq;
	bool dump_filter; /* the kernel can filter dumps by status (CTA_STATUS_MASK) */
	bool dump_unfiltered_reply;
	uint32_t gen;	   /* dump generation: started dumps */
	uint32_t gen_done; /* last completed */
	bool seeding;	   /* the running dump records pre-existing connections */
	bool seed_pending; /* the next dump does */

	/* event delivery */
	bool reliable_wanted, reliable_on, guard_tripped;
	unsigned int guard_high, guard_low; /* percent of nf_conntrack_max */
	uint32_t drops_seen;		    /* SK_MEMINFO_DROPS at the last look */
	uint64_t overruns_at_tick;

	/* NAT events */
	nat_event_cb nat_cb;
	void *nat_ctx;
	struct sess_table sessions;
	uint32_t sess_dead; /* tombstones among sessions.used */
	bool sweeping, sweep_sessions, sweep_due;
	bool drained_since_dump; /* the event queue was read empty since the last dump ended */
	uint32_t sweep_pos, sweep_gen, sweep_now_s, last_sweep_s, sweep_due_s;
	uint64_t overruns_at_sweep;

	/* conntrack statistics: previous per-CPU values, for increases */
	uint32_t *kst_prev; /* [cpu * KST_N + i] */
	uint32_t *kst_cur;
	uint8_t *kst_seen;
	unsigned int kst_cpus;
	bool kst_primed;
	uint64_t stats_failures;

	xlat_conntrack_cb cb;
	void *ctx;
	xlat_conntrack_cb destroy_cb;
	void *destroy_ctx;

	struct xlat_conntrack_stats stats;
	char buf[XLAT_CT_BUF];
};

static uint32_t mono_s(void)
{
	return (uint32_t)(clock_mono_ns() / 1000000000ULL);
}

/* --- message parsing ------------------------------------------------------ */

struct attr_tb {
	const struct nlattr **tb;
	unsigned int max;
};

static int put_attr(const struct nlattr *a, void *data)
{
	struct attr_tb *t = data;
	uint16_t type = mnl_attr_get_type(a);

	if (type <= t->max)
		t->tb[type] = a;
	return MNL_CB_OK;
}

static int parse_nested(const struct nlattr *nest, const struct nlattr **tb, unsigned int max)
{
	struct attr_tb t = { tb, max };

	memset(tb, 0, (max + 1) * sizeof(*tb));
	return mnl_attr_parse_nested(nest, put_attr, &t) < 0 ? -EINVAL : 0;
}

static bool attr_len(const struct nlattr *a, uint16_t len)
{
	return a && mnl_attr_get_payload_len(a) == len;
}

static uint16_t attr_be16(const struct nlattr *a)
{
	return ntohs(mnl_attr_get_u16(a));
}

static uint32_t attr_be32(const struct nlattr *a)
{
	return ntohl(mnl_attr_get_u32(a));
}

static uint64_t attr_be64(const struct nlattr *a)
{
	return be64toh(mnl_attr_get_u64(a));
}

/* CTA_TUPLE_ORIG or _REPLY into t; *zone set from CTA_TUPLE_ZONE when present. */
static int parse_tuple(const struct nlattr *nest, int family, struct xf_tuple *t, int *zone)
{
	const struct nlattr *tb[CTA_TUPLE_MAX + 1], *ip[CTA_IP_MAX + 1], *pr[CTA_PROTO_MAX + 1];
	uint16_t alen = family == AF_INET6 ? 16 : 4;
	int src = family == AF_INET6 ? CTA_IP_V6_SRC : CTA_IP_V4_SRC;
	int dst = family == AF_INET6 ? CTA_IP_V6_DST : CTA_IP_V4_DST;

	memset(t, 0, sizeof(*t));
	if (!nest || parse_nested(nest, tb, CTA_TUPLE_MAX) < 0 || !tb[CTA_TUPLE_IP] ||
	    !tb[CTA_TUPLE_PROTO] || parse_nested(tb[CTA_TUPLE_IP], ip, CTA_IP_MAX) < 0 ||
	    parse_nested(tb[CTA_TUPLE_PROTO], pr, CTA_PROTO_MAX) < 0)
		return -EINVAL;
	if (!attr_len(ip[src], alen) || !attr_len(ip[dst], alen) || !attr_len(pr[CTA_PROTO_NUM], 1))
		return -EINVAL;
	t->family = family == AF_INET6 ? XF_FAMILY_IPV6 : XF_FAMILY_IPV4;
	memcpy(t->src_addr, mnl_attr_get_payload(ip[src]), alen);
	memcpy(t->dst_addr, mnl_attr_get_payload(ip[dst]), alen);
	t->proto = mnl_attr_get_u8(pr[CTA_PROTO_NUM]);
	/* ICMP id/type/code are not ports: 0, as the kernel hook reports them. */
	if (flow_proto_has_ports(t->proto) && attr_len(pr[CTA_PROTO_SRC_PORT], 2) &&
	    attr_len(pr[CTA_PROTO_DST_PORT], 2)) {
		t->src_port = attr_be16(pr[CTA_PROTO_SRC_PORT]);
		t->dst_port = attr_be16(pr[CTA_PROTO_DST_PORT]);
	}
	if (zone && attr_len(tb[CTA_TUPLE_ZONE], 2))
		*zone = attr_be16(tb[CTA_TUPLE_ZONE]);
	return 0;
}

/* CTA_COUNTERS_ORIG / _REPLY: 64-bit counters, or the 32-bit ones of old kernels. */
static bool parse_counters(const struct nlattr *nest, uint64_t *packets, uint64_t *octets)
{
	const struct nlattr *tb[CTA_COUNTERS_MAX + 1];

	if (!nest || parse_nested(nest, tb, CTA_COUNTERS_MAX) < 0)
		return false;
	if (attr_len(tb[CTA_COUNTERS_PACKETS], 8) && attr_len(tb[CTA_COUNTERS_BYTES], 8)) {
		*packets = attr_be64(tb[CTA_COUNTERS_PACKETS]);
		*octets = attr_be64(tb[CTA_COUNTERS_BYTES]);
		return true;
	}
	if (attr_len(tb[CTA_COUNTERS32_PACKETS], 4) && attr_len(tb[CTA_COUNTERS32_BYTES], 4)) {
		*packets = attr_be32(tb[CTA_COUNTERS32_PACKETS]);
		*octets = attr_be32(tb[CTA_COUNTERS32_BYTES]);
		return true;
	}
	return false;
}

/* -EINVAL when attributes are missing, -EAFNOSUPPORT for other families. */
static int parse_ct(const struct nlmsghdr *nlh, struct ct_msg *m)
{
	const struct nlattr *tb[CTA_MAX + 1], *ts[CTA_TIMESTAMP_MAX + 1];
	const struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);
	struct attr_tb t = { tb, CTA_MAX };
	int family, zone = 0;

	memset(m, 0, sizeof(*m));
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*nfg))
		return -EINVAL;
	family = nfg->nfgen_family;
	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;
	memset(tb, 0, sizeof(tb));
	if (mnl_attr_parse(nlh, sizeof(*nfg), put_attr, &t) < 0)
		return -EINVAL;
	if (parse_tuple(tb[CTA_TUPLE_ORIG], family, &m->orig, &zone) < 0 ||
	    parse_tuple(tb[CTA_TUPLE_REPLY], family, &m->reply, NULL) < 0)
		return -EINVAL;
	/* CTA_ZONE, else the direction-specific zone of the original tuple */
	m->zone = attr_len(tb[CTA_ZONE], 2) ? attr_be16(tb[CTA_ZONE]) : (uint16_t)zone;
	if (attr_len(tb[CTA_STATUS], 4)) {
		m->status = attr_be32(tb[CTA_STATUS]);
		m->has |= CTM_STATUS;
	}
	if (attr_len(tb[CTA_ID], 4)) {
		m->id = attr_be32(tb[CTA_ID]);
		m->has |= CTM_ID;
	}
	if (tb[CTA_TIMESTAMP] && parse_nested(tb[CTA_TIMESTAMP], ts, CTA_TIMESTAMP_MAX) == 0) {
		if (attr_len(ts[CTA_TIMESTAMP_START], 8)) {
			m->start_ns = attr_be64(ts[CTA_TIMESTAMP_START]);
			m->has |= CTM_START;
		}
		if (attr_len(ts[CTA_TIMESTAMP_STOP], 8)) {
			m->stop_ns = attr_be64(ts[CTA_TIMESTAMP_STOP]);
			m->has |= CTM_STOP;
		}
	}
	if (parse_counters(tb[CTA_COUNTERS_ORIG], &m->packets[0], &m->octets[0]) &&
	    parse_counters(tb[CTA_COUNTERS_REPLY], &m->packets[1], &m->octets[1]))
		m->has |= CTM_ACCT;
	return 0;
}

/* O == rev(R): the connection was not translated. */
static bool untranslated(const struct ct_msg *m)
{
	const struct xf_tuple *o = &m->orig, *r = &m->reply;

	return memcmp(o->src_addr, r->dst_addr, 16) == 0 &&
	       memcmp(o->dst_addr, r->src_addr, 16) == 0 && o->src_port == r->dst_port &&
	       o->dst_port == r->src_port;
}

/* --- the session set --------------------------------------------------------- */

static uint64_t mix64(uint64_t h, uint64_t v)
{
	h ^= v * 0x9e3779b97f4a7c15ULL;
	h = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ULL;
	h = (h ^ (h >> 32)) * 0x94d049bb133111ebULL;
	return h ^ (h >> 31);
}

/*
 * A connection's identity: original tuple, zone and conntrack's id (a keyed
 * hash of the connection's address in the kernel), so two connections that
 * reuse one tuple one after the other are two sessions.
 */
static uint64_t sess_key(const struct ct_msg *m)
{
	const struct xf_tuple *o = &m->orig;
	uint64_t w[4], h = 0x58464c4f57ULL;

	memcpy(w, o->src_addr, 16);
	memcpy(w + 2, o->dst_addr, 16);
	for (int i = 0; i < 4; i++)
		h = mix64(h, w[i]);
	h = mix64(h, (uint64_t)o->src_port | (uint64_t)o->dst_port << 16 |
			     (uint64_t)o->proto << 32 | (uint64_t)o->family << 40);
	h = mix64(h, (uint64_t)m->zone | (uint64_t)m->id << 16);
	return h ? h : 1;
}

static void sess_alloc(struct sess_table *t, uint32_t slots)
{
	t->slot = g_new0(struct sess, slots);
	t->mask = slots - 1;
	t->used = 0;
}

static struct sess *sess_find(const struct sess_table *t, uint64_t key)
{
	for (uint32_t i = (uint32_t)key & t->mask;; i = (i + 1) & t->mask) {
		if (t->slot[i].key == key)
			return &t->slot[i];
		if (!t->slot[i].key)
			return NULL;
	}
}

static void sess_resize(struct sess_table *t, uint32_t slots)
{
	struct sess *old = t->slot;
	uint32_t n = t->mask + 1;

	sess_alloc(t, slots);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t j;

		if (!old[i].key)
			continue;
		for (j = (uint32_t)old[i].key & t->mask; t->slot[j].key; j = (j + 1) & t->mask)
			;
		t->slot[j] = old[i];
		t->used++;
	}
	g_free(old);
}

/* The slot of a new key (not present); grows at 3/4 full. */
static struct sess *sess_insert(struct xlat_conntrack *c, uint64_t key)
{
	struct sess_table *t = &c->sessions;
	uint32_t i;

	if ((t->used + 1) * 4ULL > (t->mask + 1) * 3ULL) {
		sess_resize(t, (t->mask + 1) * 2);
		c->sweep_pos = 0; /* positions moved: a running sweep starts over */
	}
	for (i = (uint32_t)key & t->mask; t->slot[i].key; i = (i + 1) & t->mask)
		;
	t->slot[i].key = key;
	t->used++;
	return &t->slot[i];
}

/* Remove slot i, shifting the rest of its cluster back (no tombstone slots). */
static void sess_remove_at(struct sess_table *t, uint32_t i)
{
	uint32_t j = i;

	for (;;) {
		uint32_t home;

		t->slot[i].key = 0;
		for (;;) {
			j = (j + 1) & t->mask;
			if (!t->slot[j].key) {
				t->used--;
				return;
			}
			home = (uint32_t)t->slot[j].key & t->mask;
			/* j may move to i only if its home is not in (i, j] */
			if (i <= j ? (i >= home || home > j) : (i >= home && home > j))
				break;
		}
		t->slot[i] = t->slot[j];
		i = j;
	}
}

/* --- NAT events -------------------------------------------------------------- */

static uint64_t wall_to_mono(const struct xlat_conntrack *c, uint64_t wall_ns)
{
	int64_t mono = (int64_t)wall_ns - c->clock.offset_ns;

	return mono > 0 ? (uint64_t)mono : 0;
}

static void emit(struct xlat_conntrack *c, const struct nat_event *ev)
{
	c->nat_cb(c->nat_ctx, ev);
	c->callbacks++;
}

static void session_event(struct xlat_conntrack *c, const struct ct_msg *m, uint8_t kind,
			  bool recovered)
{
	struct nat_event ev = { 0 };

	ev.kind = kind;
	ev.source = XF_XLAT_SRC_CONNTRACK;
	ev.zone_id = m->zone;
	ev.orig = m->orig;
	ev.reply = m->reply;
	ev.time_mono_ns = clock_mono_ns();
	if (m->has & CTM_START) {
		ev.start_wall_ns = m->start_ns;
		ev.flags |= NAT_EVENT_F_START;
	}
	if (kind == XF_XLAT_KIND_CREATE) {
		c->stats.creates++;
		if (recovered) {
			/* the connection's start is when it was created */
			if (m->has & CTM_START)
				ev.time_mono_ns = wall_to_mono(c, m->start_ns);
			ev.flags |= NAT_EVENT_F_RECOVERED;
			c->stats.recovered_creates++;
		}
	} else {
		c->stats.deletes++;
		/* conntrack's stop time: when it expired, not when the GC noticed */
		if (m->has & CTM_STOP)
			ev.time_mono_ns = wall_to_mono(c, m->stop_ns);
		if (m->has & CTM_ACCT) {
			memcpy(ev.packets, m->packets, sizeof(ev.packets));
			memcpy(ev.octets, m->octets, sizeof(ev.octets));
			ev.flags |= NAT_EVENT_F_ACCT;
		}
	}
	emit(c, &ev);
}

static void failure_event(struct xlat_conntrack *c, uint8_t kind, uint64_t count)
{
	struct nat_event ev = { 0 };

	ev.kind = kind;
	ev.source = XF_XLAT_SRC_CONNTRACK;
	ev.time_mono_ns = clock_mono_ns();
	ev.count = count;
	emit(c, &ev);
}

/*
 * One translated connection as the session set sees it. Events arrive in
 * the kernel's order; dump entries may be older than events already read
 * (the kernel fills dump datagrams ahead of our reads), which is why a
 * DELETE leaves a tombstone and a dump entry only ever adds knowledge.
 */
static void session_msg(struct xlat_conntrack *c, const struct ct_msg *m, enum ct_origin what)
{
	uint64_t key = sess_key(m);
	struct sess *s = sess_find(&c->sessions, key);
	uint32_t state = s ? s->state : SESS_EMPTY;

	switch (what) {
	case CT_EV_NEW:
		if (state == SESS_LIVE) {
			/* a NEW sent again with the next event (another listener missed it) */
			c->stats.duplicates++;
			s->gen = c->gen;
			return;
		}
		/* a DEAD key is a new connection that reuses the old one's identity */
		if (!s)
			s = sess_insert(c, key);
		else if (state == SESS_DEAD)
			c->sess_dead--;
		s->state = SESS_LIVE;
		s->gen = c->gen;
		session_event(c, m, XF_XLAT_KIND_CREATE, false);
		return;
	case CT_EV_UPDATE:
		if (state == SESS_EMPTY || state == SESS_DEAD) {
			/* its NEW was lost: wait for the DELETE or the next dump, which carry the start */
			if (!s)
				s = sess_insert(c, key);
			else
				c->sess_dead--;
			s->state = SESS_UNCONFIRMED;
		}
		s->gen = c->gen;
		return;
	case CT_DUMP:
		if (state == SESS_EMPTY) {
			s = sess_insert(c, key);
			s->state = c->seeding ? SESS_PREEXISTING : SESS_UNCONFIRMED;
			s->gen = c->gen;
		} else if (state == SESS_UNCONFIRMED && s->gen < c->gen && c->drained_since_dump) {
			/*
			 * A whole dump period without its NEW, and not waiting
			 * in our queue either (read empty since): not coming.
			 */
			s->state = SESS_LIVE;
			s->gen = c->gen;
			session_event(c, m, XF_XLAT_KIND_CREATE, true);
		} else if (state != SESS_DEAD) {
			s->gen = c->gen;
		}
		return;
	case CT_EV_DESTROY:
		if (state == SESS_DEAD) {
			c->stats.duplicates++;
			return;
		}
		if (state == SESS_EMPTY || state == SESS_UNCONFIRMED) {
			/* NEW lost: the DELETE carries the start time */
			if (!s)
				s = sess_insert(c, key);
			session_event(c, m, XF_XLAT_KIND_CREATE, true);
		}
		s->state = SESS_DEAD;
		s->gen = mono_s();
		c->sess_dead++;
		session_event(c, m, XF_XLAT_KIND_DELETE, false);
		return;
	}
}

/* --- one message ------------------------------------------------------------- */

static void handle_ct(struct xlat_conntrack *c, const struct nlmsghdr *nlh, bool from_dump)
{
	struct xf_xlat_event ev;
	enum ct_origin what;
	struct ct_msg m;
	int ret;

	if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_CTNETLINK)
		return;
	switch (NFNL_MSG_TYPE(nlh->nlmsg_type)) {
	case IPCTNL_MSG_CT_NEW:
		/* a NEW event has NLM_F_CREATE; an UPDATE, and a dump entry, none */
		what = from_dump			   ? CT_DUMP
		       : (nlh->nlmsg_flags & NLM_F_CREATE) ? CT_EV_NEW
							   : CT_EV_UPDATE;
		break;
	case IPCTNL_MSG_CT_DELETE: what = CT_EV_DESTROY; break;
	default: return;
	}
	ret = parse_ct(nlh, &m);
	if (ret == -EINVAL) {
		c->stats.errors++;
		return;
	}
	if (ret == -EAFNOSUPPORT) {
		c->stats.ignored++;
		c->stats.unsupported++;
		return;
	}
	/* The socket filter already did this for events; dumps need it. */
	if (((m.has & CTM_STATUS) && !(m.status & IPS_NAT_MASK)) || untranslated(&m)) {
		c->stats.ignored++;
		return;
	}

	memset(&ev, 0, sizeof(ev));
	ev.orig = m.orig;
	ev.reply = m.reply;
	ev.zone_id = m.zone;
	ev.ts_ns = clock_mono_ns();
	ev.source = XF_XLAT_SRC_CONNTRACK;
	if (what == CT_EV_DESTROY) {
		ev.kind = XF_XLAT_KIND_DELETE;
		if (c->destroy_cb) {
			c->destroy_cb(c->destroy_ctx, &ev);
			c->stats.destroyed++;
			c->callbacks++;
		}
	} else {
		ev.kind = XF_XLAT_KIND_SEEN;
		c->cb(c->ctx, &ev);
		c->stats.reported++;
		c->callbacks++;
	}
	if (c->nat_cb)
		session_msg(c, &m, what);
}

static int handle_event(const struct nlmsghdr *nlh, void *data)
{
	struct xlat_conntrack *c = data;

	c->stats.events++;
	handle_ct(c, nlh, false);
	return MNL_CB_OK;
}

static int handle_dump(const struct nlmsghdr *nlh, void *data)
{
	struct xlat_conntrack *c = data;

	if (!(nlh->nlmsg_flags & NLM_F_DUMP_FILTERED))
		c->dump_unfiltered_reply = true;
	handle_ct(c, nlh, true);
	return MNL_CB_OK;
}

/* --- sockets ----------------------------------------------------------------- */

/*
 * Drop events of untranslated connections in the kernel: on a busy host
 * they are most of the traffic and would only fill the receive buffer.
 * The program finds CTA_STATUS after the nfgenmsg header and keeps the
 * message when IPS_SRC_NAT or IPS_DST_NAT is set, or when it cannot tell.
 * A message the filter drops is not a delivery failure: reliable delivery
 * never holds a connection back for it.
 */
static int attach_nat_filter(int fd)
{
	struct sock_filter code[] = {
		/* A = offset of the attributes, X = CTA_STATUS */
		BPF_STMT(BPF_LD | BPF_IMM, NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg))),
		BPF_STMT(BPF_LDX | BPF_IMM, CTA_STATUS),
		/* A = offset of that attribute, 0 if absent */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_NLATTR),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 3, 0),
		BPF_STMT(BPF_MISC | BPF_TAX, 0),
		/* A = status (big endian on the wire, BPF loads are too) */
		BPF_STMT(BPF_LD | BPF_W | BPF_IND, sizeof(struct nlattr)),
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, IPS_NAT_MASK, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0xffffffff),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };

	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog));
}

static void set_rcvbuf(int fd)
{
	int size = XLAT_CT_RCVBUF;

	/* FORCE ignores net.core.rmem_max but needs CAP_NET_ADMIN. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) == 0)
		return;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) < 0)
		log_warn("conntrack netlink: SO_RCVBUF");
}

/* Messages the kernel dropped on fd (netlink_overrun counts them, reliable or not). */
static int read_drops(int fd, uint32_t *drops)
{
	uint32_t mem[SK_MEMINFO_VARS] = { 0 };
	socklen_t len = sizeof(mem);

	if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &len) < 0)
		return -errno;
	if (len < (SK_MEMINFO_DROPS + 1) * sizeof(uint32_t))
		return -EOPNOTSUPP;
	*drops = mem[SK_MEMINFO_DROPS];
	return 0;
}

/* Count what the event socket lost since the last look, by whether it comes back. */
static void account_drops(struct xlat_conntrack *c)
{
	uint32_t drops, delta;

	if (read_drops(mnl_socket_get_fd(c->events), &drops) < 0)
		return;
	delta = drops - c->drops_seen;
	c->drops_seen = drops;
	if (!delta)
		return;
	c->stats.overruns += delta;
	/* reliable: the kernel sends them again (DESTROY) or with the next event */
	if (!c->reliable_on)
		c->stats.lost_events += delta;
}

static int apply_reliable(struct xlat_conntrack *c, bool on)
{
	int fd = mnl_socket_get_fd(c->events), v = on;

	account_drops(c); /* drops so far belong to the old mode */
	if (setsockopt(fd, SOL_NETLINK, NETLINK_BROADCAST_ERROR, &v, sizeof(v)) < 0 ||
	    setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &v, sizeof(v)) < 0)
		return -errno;
	c->reliable_on = on;
	c->stats.reliable = on;
	return 0;
}

static struct nlmsghdr *put_request(char *buf, uint8_t type, uint16_t flags, uint32_t seq)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfh;

	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = seq;
	nfh = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfh));
	nfh->nfgen_family = AF_UNSPEC; /* IPv4 and IPv6 */
	nfh->version = NFNETLINK_V0;
	nfh->res_id = 0;
	return nlh;
}

/* A request on the query socket, cb over the replies until the answer is complete. */
static int query(struct xlat_conntrack *c, uint8_t type, uint16_t flags, mnl_cb_t cb)
{
	char req[MNL_SOCKET_BUFFER_SIZE];
	uint32_t seq = ++c->seq;
	uint32_t portid = mnl_socket_get_portid(c->query);
	struct nlmsghdr *nlh = put_request(req, type, flags, seq);
	ssize_t n;
	int ret;

	if (mnl_socket_sendto(c->query, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		n = mnl_socket_recvfrom(c->query, c->buf, sizeof(c->buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		ret = mnl_cb_run(c->buf, (size_t)n, seq, portid, cb, c);
		if (ret == MNL_CB_ERROR)
			return errno ? -errno : -EIO;
		if (ret == MNL_CB_STOP)
			return 0;
		/* A non-dump reply is one datagram without NLMSG_DONE. */
		if (!(flags & NLM_F_DUMP))
			return 0;
	}
}

/* --- dumps -------------------------------------------------------------------- */

/*
 * Pass 1 asks for connections with IPS_SRC_NAT, pass 2 for those with
 * IPS_DST_NAT but not IPS_SRC_NAT: together every translated connection
 * once, and the kernel never serialises the untranslated ones. A kernel
 * without status filters (before 5.19) gets one unfiltered pass (3).
 */
static int dump_send(struct xlat_conntrack *c, int pass)
{
	char req[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;

	c->dump_seq = ++c->seq;
	nlh = put_request(req, IPCTNL_MSG_CT_GET, NLM_F_DUMP, c->dump_seq);
	if (pass == 1) {
		mnl_attr_put_u32(nlh, CTA_STATUS, htonl(IPS_SRC_NAT));
		mnl_attr_put_u32(nlh, CTA_STATUS_MASK, htonl(IPS_SRC_NAT));
	} else if (pass == 2) {
		mnl_attr_put_u32(nlh, CTA_STATUS, htonl(IPS_DST_NAT));
		mnl_attr_put_u32(nlh, CTA_STATUS_MASK, htonl(IPS_SRC_NAT | IPS_DST_NAT));
	}
	c->dump_unfiltered_reply = false;
	c->dump_pass = pass;
	/* the kernel fills the first datagram here: a walk of the hash */
	if (mnl_socket_sendto(c->dumper, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	c->dump_sent = true;
	return 0;
}

static int handle_stats_global(const struct nlmsghdr *nlh, void *data);

/*
 * A new dump: its first pass is asked for by the next dump_read(). Filtered
 * (two passes, only translated connections serialised) while the table is
 * small, else one unfiltered pass (see XLAT_CT_FILTER_MAX).
 */
static void dump_start(struct xlat_conntrack *c)
{
	bool filter = c->dump_filter;

	c->resync_due = false;
	c->gen++;
	c->seeding = c->seed_pending;
	c->seed_pending = false;
	if (filter && query(c, IPCTNL_MSG_CT_GET_STATS, 0, handle_stats_global) == 0)
		filter = c->stats.table_entries <= XLAT_CT_FILTER_MAX;
	c->dump_pass = filter ? 1 : 3;
	c->dump_sent = false;
}

static void dump_done(struct xlat_conntrack *c)
{
	c->dump_pass = 0;
	c->gen_done = c->gen;
	c->seeding = false;
	c->stats.dumps++;
	/* sessions are judged once the events queued meanwhile are read */
	c->drained_since_dump = false;
	if (c->nat_cb && !c->sweep_due) {
		c->sweep_due = true;
		c->sweep_due_s = mono_s();
	}
}

/* The end of one pass: the next one (sent by the next read), or the dump is complete. */
static void dump_pass_done(struct xlat_conntrack *c)
{
	if (c->dump_pass == 1 && c->dump_unfiltered_reply) {
		/* the kernel ignored the filter: pass 1 was the whole table */
		c->dump_filter = false;
		dump_done(c);
	} else if (c->dump_pass == 1) {
		c->dump_pass = 2;
		c->dump_sent = false;
	} else {
		dump_done(c);
	}
}

/*
 * Read the running dump until the pass ends or the slice is used; a pass
 * not yet asked for is asked for first. Every request and the first read
 * of a pass walk the kernel's hash buckets until a datagram fills, all of
 * them in a sparse table (~10 ms for 262144 buckets): so one pass per call.
 * Returns 0 or -errno.
 */
static int dump_read(struct xlat_conntrack *c, uint64_t deadline)
{
	int fd = mnl_socket_get_fd(c->dumper);
	uint32_t portid = mnl_socket_get_portid(c->dumper);
	ssize_t n;
	int ret;

	if (c->dump_pass && !c->dump_sent) {
		ret = dump_send(c, c->dump_pass);
		if (ret < 0)
			goto fail;
	}
	while (c->dump_pass && clock_mono_ns() < deadline) {
		n = recv(fd, c->buf, sizeof(c->buf), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			ret = -errno;
			goto fail;
		}
		errno = 0;
		ret = mnl_cb_run(c->buf, (size_t)n, c->dump_seq, portid, handle_dump, c);
		if (ret == MNL_CB_ERROR) {
			ret = errno ? -errno : -EIO;
			if (c->dump_pass != 3 && (ret == -EINVAL || ret == -EOPNOTSUPP)) {
				/* no status filters in this kernel: one unfiltered pass */
				log_info("conntrack netlink: the kernel does not filter dumps by "
					 "status; dumping the whole table");
				c->dump_filter = false;
				c->dump_pass = 3;
				c->dump_sent = false;
				return 0;
			}
			goto fail;
		}
		if (ret == MNL_CB_STOP) {
			dump_pass_done(c);
			return 0;
		}
	}
	return 0;
fail:
	/* retried at the next refresh; what it already reported stays */
	log_warnx("conntrack netlink: table dump: %s", strerror(-ret));
	c->dump_pass = 0;
	c->seeding = false;
	return ret;
}

int xlat_conntrack_resync(struct xlat_conntrack *c)
{
	struct pollfd pfd = { .fd = mnl_socket_get_fd(c->dumper), .events = POLLIN };
	int before = c->callbacks, ret;

	if (!c->dump_pass)
		dump_start(c);
	while (c->dump_pass) {
		/* wait for the kernel's next datagram, unless a pass is still to ask for */
		if (c->dump_sent) {
			ret = poll(&pfd, 1, 5000);
			if (ret < 0 && errno != EINTR)
				return -errno;
			if (ret == 0)
				return -ETIMEDOUT;
		}
		ret = dump_read(c, UINT64_MAX);
		if (ret < 0)
			return ret;
	}
	return c->callbacks - before;
}

/* --- the sweep ------------------------------------------------------------------ */

/*
 * Keep the descriptor readable while there is work no socket or timer will
 * announce: a sweep under way, a dump pass still to ask for, a dump due.
 * An eventfd is readable while its counter is not zero.
 */
static void work_update(struct xlat_conntrack *c)
{
	bool pending = c->sweeping || (c->dump_pass && !c->dump_sent) ||
		       (c->resync_due && !c->dump_pass) ||
		       (c->sweep_due && c->drained_since_dump && !c->dump_pass);
	uint64_t v = 1;

	if (pending == c->work_flag)
		return;
	if (pending ? write(c->work_fd, &v, sizeof(v)) < 0
		    : read(c->work_fd, &v, sizeof(v)) < 0 && errno != EAGAIN) {
		log_warn("conntrack netlink: eventfd");
		return;
	}
	c->work_flag = pending;
}

static void sweep_start(struct xlat_conntrack *c, bool sessions)
{
	c->sweep_due = false;
	c->sweeping = true;
	c->sweep_pos = 0;
	c->sweep_gen = c->gen_done;
	c->sweep_now_s = mono_s();
	c->last_sweep_s = c->sweep_now_s;
	/*
	 * After an overrun under reliable delivery the kernel is still sending
	 * DESTROYs again: a connection missing from the dumps may have one on
	 * the way. Only tombstones go until a period passes without overruns.
	 */
	c->sweep_sessions = sessions &&
			    !(c->reliable_on && c->stats.overruns != c->overruns_at_sweep);
	c->overruns_at_sweep = c->stats.overruns;
}

/*
 * A sweep is due after each dump and every XLAT_CT_SWEEP_S. It judges
 * sessions only when every event queued before the dump ended has been
 * read (a DESTROY waiting in our queue is not a lost one); a reader that
 * stays behind gets tombstone-only sweeps, so tombstones still go.
 */
static void sweep_maybe(struct xlat_conntrack *c)
{
	uint32_t now = mono_s();

	if (!c->nat_cb || c->sweeping || c->dump_pass)
		return;
	if (!c->sweep_due && now - c->last_sweep_s >= XLAT_CT_SWEEP_S) {
		c->sweep_due = true;
		c->sweep_due_s = now;
	}
	if (!c->sweep_due)
		return;
	if (c->drained_since_dump)
		sweep_start(c, true);
	else if (now - c->sweep_due_s >= XLAT_CT_SWEEP_S)
		sweep_start(c, false);
}

/*
 * Forget what the dumps no longer see. A live connection is in every dump,
 * and one created since a dump began has had an event since: an entry
 * neither seen nor evented since the dump before last began (gen + 2 <=
 * done) ended without its DESTROY reaching us. Two dumps, not one, so a
 * connection a dump missed (the kernel's hash resized under it) stays.
 * Tombstones go after XLAT_CT_TOMBSTONE_S.
 */
static bool sweep_drop(const struct xlat_conntrack *c, const struct sess *s)
{
	uint32_t done = c->sweep_gen;

	if (s->state == SESS_DEAD)
		return c->sweep_now_s - s->gen >= XLAT_CT_TOMBSTONE_S;
	return c->sweep_sessions && done >= 2 && s->gen + 2 <= done;
}

static void sweep_slice(struct xlat_conntrack *c)
{
	struct sess_table *t = &c->sessions;
	uint32_t end = c->sweep_pos + XLAT_CT_SWEEP_SLOTS;

	if (end > t->mask + 1)
		end = t->mask + 1;
	while (c->sweep_pos < end) {
		struct sess *s = &t->slot[c->sweep_pos];

		if (!s->key || !sweep_drop(c, s)) {
			c->sweep_pos++;
			continue;
		}
		if (s->state == SESS_LIVE)
			c->stats.lost_deletes++;
		else if (s->state == SESS_PREEXISTING)
			c->stats.untracked_deletes++;
		else if (s->state == SESS_UNCONFIRMED)
			c->stats.lost_sessions++;
		else
			c->sess_dead--;
		/* the cluster shifts back into this slot: look at it again */
		sess_remove_at(t, c->sweep_pos);
	}
	if (c->sweep_pos <= t->mask)
		return;
	c->sweeping = false;
	/*
	 * Give memory back after a peak, but keep room for what conntrack
	 * holds now: the next dump would grow it again.
	 */
	if ((t->mask + 1) > XLAT_CT_SESS_MIN && t->used * 8ULL < t->mask + 1ULL &&
	    c->stats.table_entries * 8 < t->mask + 1ULL) {
		uint32_t slots = XLAT_CT_SESS_MIN;

		while (slots < t->used * 4ULL || slots < c->stats.table_entries * 2)
			slots *= 2;
		sess_resize(t, slots);
	}
}

/* --- conntrack statistics -------------------------------------------------------- */

static int handle_stats_cpu(const struct nlmsghdr *nlh, void *data)
{
	struct xlat_conntrack *c = data;
	const struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[CTA_STATS_MAX + 1];
	struct attr_tb t = { tb, CTA_STATS_MAX };
	unsigned int cpu;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*nfg))
		return MNL_CB_OK;
	cpu = ntohs(nfg->res_id);
	if (cpu >= c->kst_cpus) {
		unsigned int n = cpu + 1;

		c->kst_prev = g_renew(uint32_t, c->kst_prev, n * KST_N);
		c->kst_cur = g_renew(uint32_t, c->kst_cur, n * KST_N);
		c->kst_seen = g_renew(uint8_t, c->kst_seen, n);
		memset(c->kst_seen + c->kst_cpus, 0, n - c->kst_cpus);
		c->kst_cpus = n;
	}
	memset(tb, 0, sizeof(tb));
	if (mnl_attr_parse(nlh, sizeof(*nfg), put_attr, &t) < 0)
		return MNL_CB_OK;
	for (int i = 0; i < KST_N; i++)
		c->kst_cur[cpu * KST_N + i] =
			attr_len(tb[kst_attr[i]], 4) ? attr_be32(tb[kst_attr[i]]) : 0;
	c->kst_seen[cpu] |= 2; /* answered in this poll */
	return MNL_CB_OK;
}

static int handle_stats_global(const struct nlmsghdr *nlh, void *data)
{
	struct xlat_conntrack *c = data;
	const struct nlattr *tb[CTA_STATS_GLOBAL_MAX + 1];
	struct attr_tb t = { tb, CTA_STATS_GLOBAL_MAX };

	memset(tb, 0, sizeof(tb));
	if (mnl_attr_parse(nlh, sizeof(struct nfgenmsg), put_attr, &t) < 0)
		return MNL_CB_OK;
	if (attr_len(tb[CTA_STATS_GLOBAL_ENTRIES], 4))
		c->stats.table_entries = attr_be32(tb[CTA_STATS_GLOBAL_ENTRIES]);
	if (attr_len(tb[CTA_STATS_GLOBAL_MAX_ENTRIES], 4))
		c->stats.table_max = attr_be32(tb[CTA_STATS_GLOBAL_MAX_ENTRIES]);
	return MNL_CB_OK;
}

/*
 * Reliable delivery must not take the host down: when the table is nearly
 * full while our socket overruns, the DESTROYs waiting for us are part of
 * why; let the kernel drop them (and resync by dumps) until it recovers.
 */
static void guard(struct xlat_conntrack *c)
{
	uint64_t entries = c->stats.table_entries, max = c->stats.table_max;
	bool overrun = c->stats.overruns != c->overruns_at_tick;

	c->overruns_at_tick = c->stats.overruns;
	if (!c->reliable_wanted || !max)
		return;
	if (c->reliable_on && overrun && entries * 100 >= max * c->guard_high) {
		if (apply_reliable(c, false) == 0) {
			c->guard_tripped = true;
			c->stats.reliable_suspended++;
			log_warnx("conntrack netlink: the conntrack table is %" PRIu64 "%% full "
				  "(%" PRIu64 "/%" PRIu64 ") and events are not read fast enough: "
				  "reliable delivery suspended, events may be lost",
				  entries * 100 / max, entries, max);
		}
	} else if (c->guard_tripped && !overrun && entries * 100 < max * c->guard_low) {
		if (apply_reliable(c, true) == 0) {
			c->guard_tripped = false;
			log_warnx("conntrack netlink: reliable delivery resumed (table %" PRIu64
				  "/%" PRIu64 ")",
				  entries, max);
		}
	}
}

/*
 * conntrack's counters are per CPU and 32 bits: increases are taken per
 * CPU, modulo 2^32, and summed. The first poll only sets the baseline.
 */
static void poll_stats(struct xlat_conntrack *c)
{
	uint64_t inc[KST_N] = { 0 };
	uint64_t *total[KST_N] = { &c->stats.insert_failed, &c->stats.drop,
				   &c->stats.early_drop,    &c->stats.search_restart,
				   &c->stats.clash_resolve, &c->stats.chaintoolong };
	int ret;

	ret = query(c, IPCTNL_MSG_CT_GET_STATS_CPU, NLM_F_DUMP, handle_stats_cpu);
	if (ret == 0)
		ret = query(c, IPCTNL_MSG_CT_GET_STATS, 0, handle_stats_global);
	if (ret < 0) {
		/* every second otherwise: once, and counted */
		if (c->stats_failures++ == 0)
			log_warnx("conntrack netlink: statistics: %s; further failures are "
				  "only counted",
				  strerror(-ret));
		return;
	}
	c->stats.stats_polls++;
	for (unsigned int cpu = 0; cpu < c->kst_cpus; cpu++) {
		uint32_t *cur = c->kst_cur + cpu * KST_N, *prev = c->kst_prev + cpu * KST_N;

		if (!(c->kst_seen[cpu] & 2))
			continue;
		if (c->kst_seen[cpu] & 1)
			for (int i = 0; i < KST_N; i++)
				inc[i] += (uint32_t)(cur[i] - prev[i]);
		memcpy(prev, cur, KST_N * sizeof(uint32_t));
		c->kst_seen[cpu] = 1;
	}
	for (int i = 0; i < KST_N; i++)
		*total[i] += inc[i];
	/*
	 * A failed insertion drops its packet (and counts a drop too): with NAT,
	 * no free port. A drop that is no failed insertion is conntrack refusing
	 * a new connection, in practice a full table.
	 */
	if (c->nat_cb && c->kst_primed) {
		uint64_t full = inc[KST_DROP] > inc[KST_INSERT_FAILED]
					? inc[KST_DROP] - inc[KST_INSERT_FAILED]
					: 0;

		if (inc[KST_INSERT_FAILED]) {
			c->stats.ports_exhausted += inc[KST_INSERT_FAILED];
			failure_event(c, XF_XLAT_KIND_PORTS_EXHAUSTED, inc[KST_INSERT_FAILED]);
		}
		if (full) {
			c->stats.table_full += full;
			failure_event(c, XF_XLAT_KIND_TABLE_FULL, full);
		}
	}
	c->kst_primed = true;
	guard(c);
}

/* --- setup ------------------------------------------------------------------------ */

static int arm_timer(int fd, uint64_t first_ns, uint64_t interval_ms)
{
	struct itimerspec its = { 0 };

	its.it_value.tv_sec = (time_t)(first_ns / 1000000000ULL);
	its.it_value.tv_nsec = (long)(first_ns % 1000000000ULL);
	its.it_interval.tv_sec = (time_t)(interval_ms / 1000);
	its.it_interval.tv_nsec = (long)(interval_ms % 1000) * 1000000L;
	/* it_value 0 disarms: refresh off and nothing pending. */
	return timerfd_settime(fd, 0, &its, NULL) < 0 ? -errno : 0;
}

int xlat_conntrack_set_refresh(struct xlat_conntrack *c, uint64_t interval_ms)
{
	c->refresh_ms = interval_ms;
	/* Keep a pending start dump pending; otherwise start a new period. */
	return arm_timer(c->refresh_fd, c->resync_due ? 1 : interval_ms * 1000000ULL, interval_ms);
}

void xlat_conntrack_set_destroy_cb(struct xlat_conntrack *c, xlat_conntrack_cb cb, void *ctx)
{
	c->destroy_cb = cb;
	c->destroy_ctx = ctx;
}

int xlat_conntrack_set_reliable(struct xlat_conntrack *c, bool on)
{
	int ret;

	c->reliable_wanted = on;
	c->guard_tripped = false;
	ret = apply_reliable(c, on);
	if (ret < 0)
		log_warnx("conntrack netlink: %s reliable event delivery: %s",
			  on ? "cannot turn on" : "cannot turn off", strerror(-ret));
	return ret;
}

static int host_bits(void);

int xlat_conntrack_set_guard(struct xlat_conntrack *c, unsigned int high_pct, unsigned int low_pct)
{
	if (!low_pct || low_pct >= high_pct || high_pct > 100)
		return -EINVAL;
	c->guard_high = high_pct;
	c->guard_low = low_pct;
	return 0;
}

void xlat_conntrack_set_nat_event_cb(struct xlat_conntrack *c, nat_event_cb cb, void *ctx)
{
	bool was = c->nat_cb != NULL;
	int ret;

	c->nat_cb = cb;
	c->nat_ctx = ctx;
	if (cb && !was) {
		uint32_t slots = XLAT_CT_SESS_MIN;

		/*
		 * Room for what the table holds now, so the start dump does not
		 * rehash (40 ms at a million sessions) on its way.
		 */
		if (query(c, IPCTNL_MSG_CT_GET_STATS, 0, handle_stats_global) == 0)
			while (slots < c->stats.table_entries * 2 && slots < (1U << 30))
				slots *= 2;
		sess_alloc(&c->sessions, slots);
		/* the first dump from now on records who was there before */
		c->seed_pending = !c->gen_done;
		c->kst_primed = false;
		if (c->kst_seen)
			memset(c->kst_seen, 0, c->kst_cpus);
		c->last_sweep_s = mono_s();
		arm_timer(c->stats_fd, 1, XLAT_CONNTRACK_STATS_MS);
		xlat_conntrack_set_reliable(c, true);
		ret = host_bits();
		c->stats.host = ret > 0 ? (uint32_t)ret : 0;
		if (!(c->stats.host & XLAT_CT_HOST_TIMESTAMP))
			log_info("conntrack netlink: net.netfilter.nf_conntrack_timestamp is 0: "
				 "DELETE events carry no start time, lost CREATEs no time");
		if (!(c->stats.host & XLAT_CT_HOST_ACCT))
			log_info("conntrack netlink: net.netfilter.nf_conntrack_acct is 0: "
				 "DELETE events carry no packet and octet counts");
	} else if (!cb && was) {
		g_free(c->sessions.slot);
		memset(&c->sessions, 0, sizeof(c->sessions));
		c->sess_dead = 0;
		c->sweeping = false;
		work_update(c);
		arm_timer(c->stats_fd, 0, 0);
		xlat_conntrack_set_reliable(c, false);
	}
}

/* /proc/sys/net/netfilter/NAME as a number, or -errno. */
static long sysctl_read(const char *name)
{
	char path[128], val[32] = "";
	long v;
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/sys/net/netfilter/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, val, sizeof(val) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	v = strtol(val, NULL, 10);
	return v < 0 ? -EINVAL : v;
}

static int sysctl_write_one(const char *name)
{
	char path[128];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "/proc/sys/net/netfilter/%s", name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, "1\n", 2) != 2)
		ret = -errno;
	close(fd);
	return ret;
}

/* Set NAME to 1 if it is 0; true when it is 1 afterwards. */
static bool ensure_sysctl(const char *name, const char *why)
{
	long v = sysctl_read(name);
	int ret;

	if (v < 0) {
		log_warnx("conntrack netlink: net.netfilter.%s: %s", name, strerror((int)-v));
		return false;
	}
	if (v)
		return true;
	ret = sysctl_write_one(name);
	if (ret < 0) {
		log_warnx("conntrack netlink: cannot set net.netfilter.%s=1 (%s): %s", name,
			  strerror(-ret), why);
		return false;
	}
	log_info("conntrack netlink: set net.netfilter.%s=1 (was 0): %s", name, why);
	return true;
}

/* XLAT_CT_HOST_* as the sysctls are now, or -errno. */
static int host_bits(void)
{
	long events = sysctl_read("nf_conntrack_events");
	long tstamp = sysctl_read("nf_conntrack_timestamp");
	long acct = sysctl_read("nf_conntrack_acct");

	if (events < 0)
		return (int)events;
	return (events ? XLAT_CT_HOST_EVENTS : 0) | (tstamp > 0 ? XLAT_CT_HOST_TIMESTAMP : 0) |
	       (acct > 0 ? XLAT_CT_HOST_ACCT : 0);
}

int xlat_conntrack_enable_extensions(void)
{
	int host = host_bits();

	if (host < 0)
		return host;
	if (!(host & XLAT_CT_HOST_EVENTS))
		log_warnx("conntrack netlink: net.netfilter.nf_conntrack_events is 0: conntrack "
			  "sends no events; NAT sessions are known only from table dumps");
	if (ensure_sysctl("nf_conntrack_timestamp", "DELETE events carry the start time"))
		host |= XLAT_CT_HOST_TIMESTAMP;
	if (ensure_sysctl("nf_conntrack_acct", "DELETE events carry packets and octets"))
		host |= XLAT_CT_HOST_ACCT;
	return host;
}

static int add_fd(int ep, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

struct xlat_conntrack *xlat_conntrack_open(xlat_conntrack_cb cb, void *ctx, char *err, size_t len)
{
	struct xlat_conntrack *c = g_new0(struct xlat_conntrack, 1);
	const char *step;
	int ret;

	c->cb = cb;
	c->ctx = ctx;
	c->refresh_fd = c->stats_fd = c->work_fd = c->epoll_fd = -1;
	c->refresh_ms = XLAT_CONNTRACK_REFRESH_MS;
	c->dump_filter = true;
	c->guard_high = XLAT_CT_GUARD_HIGH;
	c->guard_low = XLAT_CT_GUARD_LOW;
	clock_sync(&c->clock);

	step = "socket";
	c->events = mnl_socket_open(NETLINK_NETFILTER);
	c->dumper = mnl_socket_open(NETLINK_NETFILTER);
	c->query = mnl_socket_open(NETLINK_NETFILTER);
	if (!c->events || !c->dumper || !c->query)
		goto fail;
	/* Subscribe before the first dump so nothing falls between the two. */
	step = "bind";
	if (mnl_socket_bind(c->events,
			    NF_NETLINK_CONNTRACK_NEW | NF_NETLINK_CONNTRACK_UPDATE |
				    NF_NETLINK_CONNTRACK_DESTROY,
			    MNL_SOCKET_AUTOPID) < 0)
		goto fail;
	if (mnl_socket_bind(c->dumper, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_bind(c->query, 0, MNL_SOCKET_AUTOPID) < 0)
		goto fail;
	set_rcvbuf(mnl_socket_get_fd(c->events));
	if (attach_nat_filter(mnl_socket_get_fd(c->events)) < 0)
		log_warn("conntrack netlink: socket filter (untranslated events reach userspace)");
	read_drops(mnl_socket_get_fd(c->events), &c->drops_seen);

	/* Ask for the global counters: fails here, not later, without ctnetlink. */
	step = "IPCTNL_MSG_CT_GET_STATS";
	ret = query(c, IPCTNL_MSG_CT_GET_STATS, 0, handle_stats_global);
	if (ret < 0) {
		errno = -ret;
		goto fail;
	}

	step = "timerfd";
	c->refresh_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	c->stats_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (c->refresh_fd < 0 || c->stats_fd < 0)
		goto fail;
	step = "eventfd";
	c->work_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->work_fd < 0)
		goto fail;
	step = "epoll";
	c->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (c->epoll_fd < 0 || add_fd(c->epoll_fd, mnl_socket_get_fd(c->events)) < 0 ||
	    add_fd(c->epoll_fd, mnl_socket_get_fd(c->dumper)) < 0 ||
	    add_fd(c->epoll_fd, c->refresh_fd) < 0 || add_fd(c->epoll_fd, c->stats_fd) < 0 ||
	    add_fd(c->epoll_fd, c->work_fd) < 0)
		goto fail;
	/* Fire at once: the first dispatch starts the start dump. */
	c->resync_due = true;
	step = "timerfd_settime";
	ret = arm_timer(c->refresh_fd, 1, c->refresh_ms);
	if (ret < 0) {
		errno = -ret;
		goto fail;
	}
	return c;

fail:
	ret = errbuf_set(err, len, -errno, "conntrack netlink: %s: %s", step, strerror(errno));
	xlat_conntrack_free(c);
	errno = -ret; /* closing the sockets must not change why */
	return NULL;
}

int xlat_conntrack_fd(struct xlat_conntrack *c)
{
	return c->epoll_fd;
}

/* Events until the socket is empty or the slice is used. */
static int events_read(struct xlat_conntrack *c, uint64_t deadline)
{
	int fd = mnl_socket_get_fd(c->events);
	ssize_t n;
	int ret;

	for (unsigned int i = 0;; i++) {
		/* one clock read per 16 messages: a message costs microseconds */
		if (i % 16 == 0 && clock_mono_ns() >= deadline)
			break;
		n = recv(fd, c->buf, sizeof(c->buf), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				c->drained_since_dump = true;
				break;
			}
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				/* Events were lost (unreliable delivery); a dump brings the table back. */
				if (c->stats.enobufs++ == 0)
					log_warnx("conntrack netlink: event overrun (ENOBUFS): "
						  "resyncing with a table dump; further overruns "
						  "are only counted");
				c->resync_due = true;
				continue;
			}
			return -errno;
		}
		ret = mnl_cb_run(c->buf, (size_t)n, 0, 0, handle_event, c);
		if (ret == MNL_CB_ERROR)
			c->stats.errors++;
	}
	return 0;
}

int xlat_conntrack_dispatch(struct xlat_conntrack *c)
{
	uint64_t start = clock_mono_ns(), cpu = clock_thread_cpu_ns(), expirations, took;
	int ret;

	c->callbacks = 0;
	clock_sync(&c->clock);
	ret = events_read(c, start + XLAT_CT_SLICE_NS);
	if (ret < 0)
		goto out;
	account_drops(c);
	if (read(c->refresh_fd, &expirations, sizeof(expirations)) == sizeof(expirations))
		c->resync_due = true;
	if (read(c->stats_fd, &expirations, sizeof(expirations)) == sizeof(expirations) &&
	    c->nat_cb) {
		poll_stats(c);
	}
	sweep_maybe(c);
	if (c->sweeping)
		sweep_slice(c);
	/* A failed dump is retried at the next refresh. */
	if (c->resync_due && !c->dump_pass && !c->sweeping)
		dump_start(c);
	if (c->dump_pass)
		dump_read(c, clock_mono_ns() + XLAT_CT_SLICE_NS);
	ret = c->callbacks;
out:
	work_update(c);
	if (c->nat_cb)
		c->stats.sessions = c->sessions.used - c->sess_dead;
	took = clock_mono_ns() - start;
	if (took > c->stats.dispatch_max_ns)
		c->stats.dispatch_max_ns = took;
	took = clock_thread_cpu_ns() - cpu;
	if (took > c->stats.dispatch_max_cpu_ns)
		c->stats.dispatch_max_cpu_ns = took;
	return ret;
}

void xlat_conntrack_get_stats(const struct xlat_conntrack *c, struct xlat_conntrack_stats *out)
{
	*out = c->stats;
}

void xlat_conntrack_free(struct xlat_conntrack *c)
{
	if (!c)
		return;
	if (c->epoll_fd >= 0)
		close(c->epoll_fd);
	if (c->refresh_fd >= 0)
		close(c->refresh_fd);
	if (c->stats_fd >= 0)
		close(c->stats_fd);
	if (c->work_fd >= 0)
		close(c->work_fd);
	if (c->events)
		mnl_socket_close(c->events);
	if (c->dumper)
		mnl_socket_close(c->dumper);
	if (c->query)
		mnl_socket_close(c->query);
	g_free(c->sessions.slot);
	g_free(c->kst_prev);
	g_free(c->kst_cur);
	g_free(c->kst_seen);
	g_free(c);
}
