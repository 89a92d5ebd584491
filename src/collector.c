// SPDX-License-Identifier: GPL-2.0-only
/*
 * Collector transport: UDP datagrams or a TCP stream of IPFIX messages.
 * Nothing here blocks except collector_drain() at shutdown.
 */
#define _GNU_SOURCE /* sendmmsg */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <linux/errqueue.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>

#include "clock.h"
#include "collector.h"
#include "log.h"

/* A connect that has not finished after this long is abandoned. */
#define CONNECT_TIMEOUT_MS 10000
/* UDP datagrams queued before a sendmmsg() call. */
#define UDP_BATCH 64
/*
 * Segmentation offload (UDP_SEGMENT, Linux 4.18): consecutive datagrams of
 * one length (and a shorter last one) go down the stack as one buffer the
 * kernel or the NIC cuts into the same datagrams. At most the kernel's
 * UDP_MAX_SEGMENTS datagrams and, with headers, 64 KiB.
 */
#define GSO_MAX_SEGS 64
#define GSO_MAX_BYTES 63000
/* UDP probe: templates sent, then this long for a refusal to come back. */
#define PROBE_MS 200
/* Paced: after EAGAIN (socket buffer full), the next try this much later. */
#define UDP_BLOCKED_NS 2000000
#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

enum conn_state { CONN_DOWN, CONN_CONNECTING, CONN_UP };

/* A queued message; off bytes of it are already written. */
struct qmsg {
	size_t len;
	size_t off;
	struct collector_load load;
	uint8_t data[];
};

/* A UDP datagram waiting to be sent: bytes [off, off + len) of ubuf. */
struct udp_pending {
	size_t off;
	size_t len;
	struct collector_load load;
};

struct collector {
	struct xf_collector_config cc;
	bool tcp;
	int fd;
	enum conn_state state;
	uint64_t retry_at_ms; /* DOWN: next connect attempt */
	uint64_t connect_start_ms;
	uint32_t backoff_ms; /* wait after the next failure */
	GQueue queue;	     /* of struct qmsg, TCP only */
	size_t queued_bytes;
	size_t queue_limit;
	uint64_t queued_records; /* TCP: flow records in queue */
	bool warned_down;	 /* one warning per outage, not per attempt */
	struct collector_stats stats;
	/*
	 * UDP: the datagrams waiting, upend[uhead..n_upend), contiguous in
	 * ubuf from upend[uhead].off on. Unpaced: at most UDP_BATCH, all sent
	 * when the batch is full and by collector_flush(). Paced: up to
	 * pace_limit records, sent as the token bucket allows.
	 */
	uint8_t *ubuf;
	size_t ubuf_used, ubuf_cap;
	struct udp_pending *upend;
	int uhead, n_upend, upend_cap;
	uint64_t pace_queued; /* cost (pace_cost()) of the datagrams waiting */
	/* pacing: a token bucket of records, in records x 1e9 (ns resolution) */
	uint32_t rate, burst; /* records/s (0: unpaced), records */
	int64_t tokens;
	uint64_t tokens_ns; /* CLOCK_MONOTONIC ns of the last refill */
	uint64_t pace_limit;
	uint64_t blocked_ns; /* paced: the socket buffer was full; not before this again */
	bool warned_full;    /* paced queue overflowed: one warning until it is empty again */
	bool no_gso;	     /* the kernel refused UDP_SEGMENT for this socket: one by one */
	bool send_failed;    /* a datagram was not sent since collector_take_send_failed() */
	uint64_t probe_ms;   /* UDP, CONN_CONNECTING: when the probe templates went */
	uint8_t local[16];   /* getsockname() of the connected socket */
	bool has_local;
	bool have_mark; /* TCP: a spooled message was written since the last take */
	uint64_t sent_mark[2];
};

#define NS_PER_S 1000000000LL

static bool paced(const struct collector *c)
{
	return !c->tcp && c->rate;
}

/* What a datagram takes from the bucket: its records, templates and options 1. */
static uint64_t pace_cost(const struct collector_load *load)
{
	return load->records ? load->records : 1;
}

const char *collector_url(const struct collector *c)
{
	return c->cc.url;
}

const struct xf_collector_config *collector_config(const struct collector *c)
{
	return &c->cc;
}

bool collector_is_tcp(const struct collector *c)
{
	return c->tcp;
}

bool collector_is_up(const struct collector *c)
{
	return c->state == CONN_UP;
}

void collector_get_stats(const struct collector *c, struct collector_stats *out)
{
	*out = c->stats;
}

uint64_t collector_retry_in(const struct collector *c, uint64_t now_ms)
{
	if (c->state != CONN_DOWN || c->retry_at_ms <= now_ms)
		return 0;
	return c->retry_at_ms - now_ms;
}

static void count_dropped(struct collector *c, const struct collector_load *load)
{
	if (load->spooled)
		return; /* its spool sends it again */
	c->stats.records_dropped += load->records;
	c->stats.events_dropped += load->events;
	c->stats.packets_dropped += load->packets;
	c->stats.octets_dropped += load->octets;
}

static void drop_queue(struct collector *c)
{
	struct qmsg *m;

	while ((m = g_queue_pop_head(&c->queue))) {
		count_dropped(c, &m->load);
		g_free(m);
	}
	c->queued_bytes = 0;
	c->queued_records = 0;
}

static void close_fd(struct collector *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->has_local = false;
	memset(c->local, 0, sizeof(c->local));
}

static void take_local_addr(struct collector *c)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	memset(c->local, 0, sizeof(c->local));
	c->has_local = false;
	if (getsockname(c->fd, (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_INET)
		memcpy(c->local, &((struct sockaddr_in *)&ss)->sin_addr, 4);
	else if (ss.ss_family == AF_INET6)
		memcpy(c->local, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
	else
		return;
	c->has_local = true;
}

bool collector_local_addr(const struct collector *c, uint8_t addr[16])
{
	memcpy(addr, c->local, 16);
	return c->has_local;
}

/* One more time found down, and the wait before the next try doubles. */
static void backoff(struct collector *c, uint64_t now_ms)
{
	c->retry_at_ms = now_ms + c->backoff_ms;
	c->backoff_ms *= 2;
	if (c->backoff_ms > COLLECTOR_BACKOFF_MAX_MS)
		c->backoff_ms = COLLECTOR_BACKOFF_MAX_MS;
}

/* The connection (or connect attempt) failed: drop what waits, back off. */
static void conn_down(struct collector *c, uint64_t now_ms, const char *why, int err)
{
	bool was_up = c->state == CONN_UP;

	close_fd(c);
	drop_queue(c);
	c->state = CONN_DOWN;
	if (was_up || !c->warned_down) {
		c->stats.downs++; /* once an outage */
		log_warnx("collector %s: %s%s%s; retrying in %u s", c->cc.url, why, err ? ": " : "",
			  err ? strerror(err) : "", c->backoff_ms / 1000);
	} else {
		log_debug("collector %s: %s%s%s; retrying in %u s", c->cc.url, why, err ? ": " : "",
			  err ? strerror(err) : "", c->backoff_ms / 1000);
	}
	c->warned_down = true;
	backoff(c, now_ms);
}

static void conn_up(struct collector *c)
{
	c->state = CONN_UP;
	take_local_addr(c);
	c->backoff_ms = COLLECTOR_BACKOFF_MIN_MS;
	c->stats.connects++;
	if (c->tcp)
		log_info("collector %s: connected", c->cc.url);
	c->warned_down = false;
}

static int udp_open(struct collector *c)
{
	int fd = socket(c->cc.addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		return -errno;
	/*
	 * ICMP errors (port unreachable: the collector is down) also wait in
	 * the socket's error queue, where a send does not consume them
	 * (udp_take_error()).
	 */
	if (c->cc.addr.ss_family == AF_INET6)
		setsockopt(fd, SOL_IPV6, IPV6_RECVERR, &one, sizeof(one));
	else
		setsockopt(fd, SOL_IP, IP_RECVERR, &one, sizeof(one));
	/* connected: send() needs no address and reports ICMP errors */
	if (connect(fd, (const struct sockaddr *)&c->cc.addr, c->cc.addrlen) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	c->fd = fd;
	return 0;
}

/* TCP: start a connect; returns COLLECTOR_EV_CONNECTED if it finished at once. */
static int tcp_start(struct collector *c, uint64_t now_ms)
{
	int fd = socket(c->cc.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		conn_down(c, now_ms, "socket", errno);
		return 0;
	}
	c->fd = fd;
	c->connect_start_ms = now_ms;
	if (connect(fd, (const struct sockaddr *)&c->cc.addr, c->cc.addrlen) == 0) {
		conn_up(c);
		return COLLECTOR_EV_CONNECTED;
	}
	if (errno != EINPROGRESS) {
		conn_down(c, now_ms, "connect", errno);
		return 0;
	}
	c->state = CONN_CONNECTING;
	return 0;
}

/* TCP: did the pending connect finish? */
static int tcp_progress(struct collector *c, uint64_t now_ms)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
	int err = 0;
	socklen_t len = sizeof(err);

	if (poll(&pfd, 1, 0) <= 0) {
		if (now_ms - c->connect_start_ms >= CONNECT_TIMEOUT_MS)
			conn_down(c, now_ms, "connect", ETIMEDOUT);
		return 0;
	}
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		conn_down(c, now_ms, "connect", err);
		return 0;
	}
	conn_up(c);
	return COLLECTOR_EV_CONNECTED;
}

static void udp_check(struct collector *c);

bool collector_check(struct collector *c, uint64_t now_ms)
{
	uint8_t junk[512];
	ssize_t n;

	if (!c->tcp)
		udp_check(c);
	if (!c->tcp || c->state != CONN_UP)
		return c->state == CONN_UP;
	/* An IPFIX collector sends nothing: readable means closed (or junk to discard). */
	for (;;) {
		n = recv(c->fd, junk, sizeof(junk), MSG_DONTWAIT);
		if (n > 0)
			continue;
		if (n == 0) {
			conn_down(c, now_ms, "connection closed by collector", 0);
			return false;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return true;
		conn_down(c, now_ms, "connection lost", errno);
		return false;
	}
}

/* TCP: write queued messages until the socket is full. */
static void tcp_flush(struct collector *c, uint64_t now_ms)
{
	struct qmsg *m;

	while (c->state == CONN_UP && (m = g_queue_peek_head(&c->queue))) {
		ssize_t n =
			send(c->fd, m->data + m->off, m->len - m->off, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_down(c, now_ms, "send", errno);
			return;
		}
		m->off += n;
		c->queued_bytes -= n;
		if (m->off < m->len)
			return;
		c->stats.messages++;
		c->stats.records += m->load.records;
		c->stats.events += m->load.events;
		c->stats.bytes += m->len;
		c->queued_records -= m->load.records;
		if (m->load.spooled) {
			c->sent_mark[0] = m->load.mark[0];
			c->sent_mark[1] = m->load.mark[1];
			c->have_mark = true;
		}
		g_free(g_queue_pop_head(&c->queue));
	}
}

static void udp_datagram_sent(struct collector *c, const struct udp_pending *u)
{
	c->stats.messages++;
	c->stats.records += u->load.records;
	c->stats.events += u->load.events;
	c->stats.bytes += u->len;
	if (paced(c)) {
		c->pace_queued -= pace_cost(&u->load);
		c->tokens -= (int64_t)pace_cost(&u->load) * NS_PER_S;
	}
}

/* The datagrams before upend[uhead] are gone: reuse their room. */
static void udp_compact(struct collector *c)
{
	size_t off;

	if (c->uhead == c->n_upend) {
		c->uhead = c->n_upend = 0;
		c->ubuf_used = 0;
		c->warned_full = false; /* the next overflow is news again */
		return;
	}
	if (c->uhead < c->n_upend / 2)
		return; /* moving the rest costs more than the room it frees */
	off = c->upend[c->uhead].off;
	memmove(c->ubuf, c->ubuf + off, c->ubuf_used - off);
	c->ubuf_used -= off;
	c->n_upend -= c->uhead;
	memmove(c->upend, c->upend + c->uhead, (size_t)c->n_upend * sizeof(*c->upend));
	for (int i = 0; i < c->n_upend; i++)
		c->upend[i].off -= off;
	c->uhead = 0;
}

static bool udp_refused(int err)
{
	return err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH;
}

/*
 * A datagram was refused: the collector is down until a probe finds it
 * back. The datagram before the refusal was lost, perhaps with templates:
 * they go first again (collector_take_send_failed()).
 */
static void udp_down(struct collector *c, int err)
{
	uint64_t now_ms = clock_mono_ns() / 1000000;

	c->send_failed = true;
	if (c->state == CONN_UP) {
		c->stats.downs++;
		log_warnx("collector %s: datagrams refused (%s): down, probing in %u s", c->cc.url,
			  strerror(err), c->backoff_ms / 1000);
	}
	if (c->state != CONN_DOWN)
		backoff(c, now_ms);
	c->state = CONN_DOWN;
}

/*
 * Datagram upend[uhead] was not sent: it and every datagram waiting after
 * it are counted as not sent. They were encoded without the templates that
 * must now go first (collector_take_send_failed()), so a collector that is
 * back could not decode them anyway.
 */
static void udp_queue_failed(struct collector *c, int err)
{
	if (udp_refused(err))
		udp_down(c, err);
	if (!c->warned_down) {
		log_warnx("collector %s: send: %s", c->cc.url,
			  err ? strerror(err) : "datagram refused");
		c->warned_down = true;
	}
	for (int i = c->uhead; i < c->n_upend; i++)
		count_dropped(c, &c->upend[i].load);
	c->uhead = c->n_upend;
	c->pace_queued = 0;
	c->send_failed = true;
	udp_compact(c);
}

/*
 * The errors waiting in the socket's error queue (IP_RECVERR), all read:
 * the errno of the first, or 0 when there was none. Reading the last one
 * also clears the socket's pending error, so a refusal is reported once.
 */
static int udp_take_error(struct collector *c)
{
	int err = 0;

	for (;;) {
		union {
			char buf[512];
			struct cmsghdr align;
		} control;
		uint8_t byte;
		struct iovec iov = { .iov_base = &byte, .iov_len = sizeof(byte) };
		struct msghdr mh = { .msg_iov = &iov,
				     .msg_iovlen = 1,
				     .msg_control = control.buf,
				     .msg_controllen = sizeof(control.buf) };
		struct cmsghdr *cm;

		if (recvmsg(c->fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) {
			if (errno == EINTR)
				continue;
			return err;
		}
		for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			struct sock_extended_err ee;

			if (!((cm->cmsg_level == SOL_IP && cm->cmsg_type == IP_RECVERR) ||
			      (cm->cmsg_level == SOL_IPV6 && cm->cmsg_type == IPV6_RECVERR)))
				continue;
			memcpy(&ee, CMSG_DATA(cm), sizeof(ee));
			if (!err)
				err = (int)ee.ee_errno;
		}
		if (!err)
			err = ECONNREFUSED; /* an entry without its report: still an error */
	}
}

/* UDP: a refusal waiting in the error queue takes the collector down. */
static void udp_check(struct collector *c)
{
	int err;

	if (c->state != CONN_UP || c->fd < 0)
		return;
	err = udp_take_error(c);
	if (udp_refused(err))
		udp_down(c, err);
}

/* One sendmmsg() entry: datagrams [first, first + count) of the queue. */
struct udp_group {
	int first;
	int count;
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} control;
};

/*
 * Group datagrams [from, end), at most UDP_BATCH entries: a run of equal
 * lengths, and a shorter one to end it, becomes one entry with a
 * UDP_SEGMENT of that length. Returns the number of entries.
 */
static int udp_group(struct collector *c, int from, int end, struct udp_group *g,
		     struct mmsghdr *mm, struct iovec *iov)
{
	int n = 0;

	for (int k = from; k < end && n < UDP_BATCH; n++) {
		size_t seg = c->upend[k].len, total = seg;
		int count = 1;

		while (!c->no_gso && k + count < end && count < GSO_MAX_SEGS) {
			size_t next = c->upend[k + count].len;

			if (next > seg || total + next > GSO_MAX_BYTES)
				break;
			total += next;
			count++;
			if (next < seg) /* a shorter datagram ends the run */
				break;
		}
		g[n].first = k;
		g[n].count = count;
		iov[n].iov_base = c->ubuf + c->upend[k].off; /* the queue is contiguous */
		iov[n].iov_len = total;
		memset(&mm[n], 0, sizeof(mm[n]));
		mm[n].msg_hdr.msg_iov = &iov[n];
		mm[n].msg_hdr.msg_iovlen = 1;
		if (count > 1) {
			struct cmsghdr *cm;
			uint16_t gso = (uint16_t)seg;

			memset(&g[n].control, 0, sizeof(g[n].control));
			mm[n].msg_hdr.msg_control = g[n].control.buf;
			mm[n].msg_hdr.msg_controllen = sizeof(g[n].control.buf);
			cm = CMSG_FIRSTHDR(&mm[n].msg_hdr);
			cm->cmsg_level = SOL_UDP;
			cm->cmsg_type = UDP_SEGMENT;
			cm->cmsg_len = CMSG_LEN(sizeof(gso));
			memcpy(CMSG_DATA(cm), &gso, sizeof(gso));
		}
		k += count;
	}
	return n;
}

/* Errors with which the kernel refuses segmentation offload, not the datagrams. */
static bool gso_refused(int err)
{
	return err == EIO || err == EINVAL || err == EMSGSIZE || err == ENOPROTOOPT ||
	       err == EOPNOTSUPP;
}

/*
 * Send datagrams [uhead, end): groups of equal-length datagrams as one
 * segmentation offload send each (udp_group), up to UDP_BATCH entries a
 * sendmmsg() call.
 *
 * Why a datagram was not sent is read from an error, never guessed from
 * whether the socket is writable (its buffer may drain in between).
 * sendmmsg() returns the count sent and an errno only when its first entry
 * fails; an error that stops it later is lost, and a refusal (the socket's
 * pending ICMP error) is consumed by the send it stops. So after a short
 * count the socket's error queue (IP_RECVERR) decides: an error there is a
 * refusal, e.g. ECONNREFUSED, the collector's port is closed, and the queue
 * is dropped (udp_queue_failed). Without one, the next call starts at the
 * first unsent datagram and its own errno decides: EAGAIN, the socket
 * buffer is full (wait_full: waited for a little, 3 x 20 ms, then dropped;
 * else the rest waits for the bucket's next turn); any other error fails
 * the queue as well. Where the kernel refuses segmentation offload
 * (a route without checksum offload, an mtu above the route's), the
 * datagrams go one by one from then on.
 */
static void udp_send(struct collector *c, int end, bool wait_full)
{
	struct udp_group g[UDP_BATCH];
	struct mmsghdr mm[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	int waits = 0;

	while (c->uhead < end) {
		int ng = udp_group(c, c->uhead, end, g, mm, iov);
		int r = sendmmsg(c->fd, mm, (unsigned int)ng, MSG_DONTWAIT | MSG_NOSIGNAL);
		int err = r < 0 ? errno : 0;

		if (r > 0) {
			int last = g[r - 1].first + g[r - 1].count;

			for (int k = c->uhead; k < last; k++)
				udp_datagram_sent(c, &c->upend[k]);
			c->uhead = last;
			waits = 0;
			if (r < ng && (err = udp_take_error(c)) != 0) {
				udp_queue_failed(c, err);
				return;
			}
			c->warned_down = false;
			continue;
		}
		if (err == EINTR)
			continue;
		if (g[0].count > 1 && gso_refused(err)) {
			log_info("collector %s: UDP segmentation offload refused (%s): "
				 "datagrams go one by one",
				 c->cc.url, strerror(err));
			c->no_gso = true;
			continue;
		}
		if (err == EAGAIN || err == EWOULDBLOCK) {
			struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };

			if (!wait_full) {
				/* not at once again: a full buffer takes a while to drain */
				c->blocked_ns = clock_mono_ns() + UDP_BLOCKED_NS;
				break;
			}
			if (waits++ < 3) {
				poll(&pfd, 1, 20);
				continue;
			}
		}
		udp_take_error(c); /* what the refusal left queued: reported now */
		udp_queue_failed(c, err);
		return;
	}
	udp_compact(c);
}

static void pace_refill(struct collector *c, uint64_t now_ns)
{
	int64_t full = (int64_t)c->burst * NS_PER_S;
	uint64_t dt = now_ns - c->tokens_ns;
	/* an empty bucket, even one in debt by a datagram, is full after this */
	uint64_t fill_ns = (uint64_t)full / c->rate + NS_PER_S;

	if (dt > fill_ns) /* keeps the product in range: at most 1.1e17 */
		dt = fill_ns;
	c->tokens += (int64_t)dt * c->rate;
	if (c->tokens > full)
		c->tokens = full;
	c->tokens_ns = now_ns;
}

/*
 * Paced: the datagrams the bucket has tokens for. A datagram goes when the
 * tokens cover its cost, or, for one that costs more than the whole burst,
 * when the bucket is full; the tokens may then go below zero, so the rate
 * holds either way.
 */
static void udp_pace(struct collector *c)
{
	int64_t t, full = (int64_t)c->burst * NS_PER_S;
	int end = c->uhead;

	pace_refill(c, clock_mono_ns());
	for (t = c->tokens; end < c->n_upend; end++) {
		int64_t cost = (int64_t)pace_cost(&c->upend[end].load) * NS_PER_S;

		if (t < (cost < full ? cost : full))
			break;
		t -= cost;
	}
	if (end > c->uhead)
		udp_send(c, end, false);
}

void collector_flush(struct collector *c)
{
	if (c->tcp || c->fd < 0)
		return;
	if (paced(c))
		udp_pace(c);
	else
		udp_send(c, c->n_upend, true);
}

/* The bucket goes into debt: the rate holds again from the next datagram on. */
void collector_flush_all(struct collector *c)
{
	if (!c->tcp && c->fd >= 0)
		udp_send(c, c->n_upend, true);
}

uint64_t collector_next_send_ns(const struct collector *c)
{
	uint64_t want, head, full, at;
	int64_t need;

	if (!paced(c) || c->uhead == c->n_upend || c->fd < 0)
		return 0;
	/* half a burst at a time, not a wakeup per datagram */
	full = (uint64_t)c->burst;
	want = c->pace_queued < full / 2 ? c->pace_queued : full / 2;
	head = pace_cost(&c->upend[c->uhead].load);
	if (want < head)
		want = head < full ? head : full;
	/* tokens come at rate per second: rate tokens (x 1e9) per ns */
	need = (int64_t)want * NS_PER_S - c->tokens;
	at = c->tokens_ns;
	if (need > 0)
		at += ((uint64_t)need + c->rate - 1) / c->rate;
	return at > c->blocked_ns ? at : c->blocked_ns;
}

uint64_t collector_room(const struct collector *c)
{
	if (!paced(c))
		return UINT64_MAX;
	return c->pace_queued < c->pace_limit ? c->pace_limit - c->pace_queued : 0;
}

uint64_t collector_waiting(const struct collector *c)
{
	uint64_t n = 0;

	if (c->tcp)
		return c->queued_records;
	for (int i = c->uhead; i < c->n_upend; i++)
		n += c->upend[i].load.records;
	return n;
}

void collector_discard(struct collector *c)
{
	if (c->tcp) {
		drop_queue(c);
		return;
	}
	for (int i = c->uhead; i < c->n_upend; i++)
		count_dropped(c, &c->upend[i].load);
	c->uhead = c->n_upend;
	c->pace_queued = 0;
	udp_compact(c);
}

/* The paced queue's bound: 100 ms at the rate, and at least four bursts. */
static uint64_t pace_limit(uint32_t rate, uint32_t burst)
{
	uint64_t limit = rate / 10;

	return limit > 4ULL * burst ? limit : 4ULL * burst;
}

void collector_set_pacing(struct collector *c, uint32_t rate, uint32_t burst)
{
	if (c->tcp)
		return;
	if (paced(c) && !rate)
		collector_flush_all(c); /* unpaced from now on: nothing may wait */
	c->rate = rate;
	c->burst = burst ? burst : 1;
	c->cc.rate = rate;
	c->cc.burst = burst;
	c->pace_limit = pace_limit(rate, c->burst);
	if (c->tokens > (int64_t)c->burst * NS_PER_S)
		c->tokens = (int64_t)c->burst * NS_PER_S;
	c->pace_queued = 0;
	for (int i = c->uhead; rate && i < c->n_upend; i++)
		c->pace_queued += pace_cost(&c->upend[i].load);
}

bool collector_take_send_failed(struct collector *c)
{
	bool failed = c->send_failed;

	c->send_failed = false;
	return failed;
}

static void udp_enqueue(struct collector *c, const uint8_t *msg, size_t len,
			const struct collector_load *load)
{
	struct udp_pending *u;

	if (c->ubuf_used + len > c->ubuf_cap) {
		c->ubuf_cap = (c->ubuf_used + len) * 2;
		c->ubuf = g_realloc(c->ubuf, c->ubuf_cap);
	}
	if (c->n_upend == c->upend_cap) {
		c->upend_cap = c->upend_cap ? c->upend_cap * 2 : UDP_BATCH;
		c->upend = g_renew(struct udp_pending, c->upend, c->upend_cap);
	}
	u = &c->upend[c->n_upend++];
	u->off = c->ubuf_used;
	u->len = len;
	u->load = *load;
	memcpy(c->ubuf + c->ubuf_used, msg, len);
	c->ubuf_used += len;
}

static void udp_send_msg(struct collector *c, const uint8_t *msg, size_t len,
			 const struct collector_load *load)
{
	if (c->fd < 0) {
		count_dropped(c, load);
		c->send_failed = true;
		return;
	}
	if (!paced(c)) {
		udp_enqueue(c, msg, len, load);
		if (c->n_upend - c->uhead >= UDP_BATCH)
			udp_send(c, c->n_upend, true);
		return;
	}
	/*
	 * The caller keeps to collector_room(); what comes beyond it (flows
	 * evicted from a full cache, a reload) finds the queue full and is
	 * counted as not sent rather than sent faster than the collector takes.
	 */
	if (c->pace_queued + pace_cost(load) > c->pace_limit && c->pace_queued) {
		if (!c->warned_full)
			log_warnx("collector %s: paced queue full (%" PRIu64 " records at %u "
				  "records/s): records not sent",
				  c->cc.url, c->pace_queued, c->rate);
		c->warned_full = true;
		count_dropped(c, load);
		return;
	}
	udp_enqueue(c, msg, len, load);
	c->pace_queued += pace_cost(load);
}

void collector_send(struct collector *c, const uint8_t *msg, size_t len,
		    const struct collector_load *load, uint64_t now_ms)
{
	static const struct collector_load none;
	struct qmsg *m;

	if (!load)
		load = &none;
	if (!c->tcp) {
		udp_send_msg(c, msg, len, load);
		return;
	}
	if (c->state != CONN_UP || (c->queued_bytes + len > c->queue_limit && !load->spooled)) {
		count_dropped(c, load);
		return;
	}
	m = g_malloc(sizeof(*m) + len);
	m->len = len;
	m->off = 0;
	m->load = *load;
	memcpy(m->data, msg, len);
	g_queue_push_tail(&c->queue, m);
	c->queued_bytes += len;
	c->queued_records += load->records;
	tcp_flush(c, now_ms);
}

/*
 * UDP, refused: after the backoff, a probe (the caller sends templates);
 * PROBE_MS later, up again unless the error queue holds a refusal.
 */
static int udp_probe(struct collector *c, uint64_t now_ms)
{
	int err;

	udp_check(c);
	if (c->state == CONN_DOWN && now_ms >= c->retry_at_ms) {
		udp_take_error(c); /* what an earlier refusal left: not this probe's */
		c->state = CONN_CONNECTING;
		c->probe_ms = now_ms;
		return COLLECTOR_EV_PROBE;
	}
	if (c->state != CONN_CONNECTING || now_ms < c->probe_ms + PROBE_MS)
		return 0;
	err = udp_take_error(c);
	if (udp_refused(err)) {
		log_debug("collector %s: probe refused: %s", c->cc.url, strerror(err));
		c->state = CONN_DOWN;
		backoff(c, now_ms);
		return 0;
	}
	log_info("collector %s: datagrams accepted again", c->cc.url);
	c->state = CONN_UP;
	c->backoff_ms = COLLECTOR_BACKOFF_MIN_MS;
	c->warned_down = false;
	return 0;
}

size_t collector_queued_bytes(const struct collector *c)
{
	return c->queued_bytes;
}

bool collector_take_sent_mark(struct collector *c, uint64_t mark[2])
{
	if (!c->have_mark)
		return false;
	mark[0] = c->sent_mark[0];
	mark[1] = c->sent_mark[1];
	c->have_mark = false;
	return true;
}

int collector_poll(struct collector *c, uint64_t now_ms)
{
	int ev = 0;
	bool was_up = c->state == CONN_UP;

	if (!c->tcp) {
		if (c->fd < 0) {
			int rc = udp_open(c);

			if (rc == 0) {
				conn_up(c);
			} else if (!c->warned_down) {
				log_warnx("collector %s: %s", c->cc.url, strerror(-rc));
				c->warned_down = true;
			}
			return 0;
		}
		return udp_probe(c, now_ms);
	}
	switch (c->state) {
	case CONN_DOWN:
		if (now_ms >= c->retry_at_ms)
			ev |= tcp_start(c, now_ms);
		break;
	case CONN_CONNECTING: ev |= tcp_progress(c, now_ms); break;
	case CONN_UP:
		if (collector_check(c, now_ms))
			tcp_flush(c, now_ms);
		break;
	}
	if (was_up && c->state != CONN_UP)
		ev |= COLLECTOR_EV_LOST;
	return ev;
}

size_t collector_drain(struct collector *c, int timeout_ms)
{
	uint64_t waited = 0;

	collector_flush_all(c);
	while (c->tcp && c->state == CONN_UP && c->queued_bytes && (int)waited < timeout_ms) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };

		if (poll(&pfd, 1, 50) < 0 && errno != EINTR)
			break;
		waited += 50;
		tcp_flush(c, 0);
	}
	return c->queued_bytes;
}

struct collector *collector_new(const struct xf_collector_config *cc, size_t queue_limit)
{
	struct collector *c = g_new0(struct collector, 1);

	c->cc = *cc;
	c->tcp = cc->transport == XF_TRANSPORT_TCP;
	c->fd = -1;
	c->state = CONN_DOWN;
	c->backoff_ms = COLLECTOR_BACKOFF_MIN_MS;
	c->queue_limit = queue_limit;
	g_queue_init(&c->queue);
	c->tokens_ns = clock_mono_ns();
	collector_set_pacing(c, cc->rate, cc->burst);
	c->tokens = (int64_t)c->burst * NS_PER_S; /* a full bucket to start with */
	if (!c->tcp)
		collector_poll(c, 0);
	return c;
}

void collector_free(struct collector *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		collector_flush_all(c);
	drop_queue(c);
	collector_discard(c);
	close_fd(c);
	g_free(c->ubuf);
	g_free(c->upend);
	g_free(c);
}
