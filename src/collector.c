// SPDX-License-Identifier: GPL-2.0-only
/*
 * Collector transport: UDP datagrams or a TCP stream of IPFIX messages.
 * Nothing here blocks except collector_drain() at shutdown.
 */
#define _GNU_SOURCE /* sendmmsg */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>

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

/* A UDP datagram waiting for the next sendmmsg(): bytes [off, off + len) of ubuf. */
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
	bool warned_down; /* one warning per outage, not per attempt */
	struct collector_stats stats;
	/* UDP: datagrams of the current burst, sent UDP_BATCH at a time */
	uint8_t *ubuf;
	size_t ubuf_used, ubuf_cap;
	struct udp_pending upend[UDP_BATCH];
	int n_upend;
	bool no_gso;	  /* the kernel refused UDP_SEGMENT for this socket: one by one */
	bool send_failed; /* a datagram was not sent since collector_take_send_failed() */
};

const char *collector_url(const struct collector *c)
{
	return c->cc.url;
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
	c->stats.records_dropped += load->records;
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
}

static void close_fd(struct collector *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* The connection (or connect attempt) failed: drop what waits, back off. */
static void conn_down(struct collector *c, uint64_t now_ms, const char *why, int err)
{
	bool was_up = c->state == CONN_UP;

	close_fd(c);
	drop_queue(c);
	c->state = CONN_DOWN;
	c->retry_at_ms = now_ms + c->backoff_ms;
	if (was_up || !c->warned_down)
		log_warnx("collector %s: %s%s%s; retrying in %u s", c->cc.url, why, err ? ": " : "",
			  err ? strerror(err) : "", c->backoff_ms / 1000);
	else
		log_debug("collector %s: %s%s%s; retrying in %u s", c->cc.url, why, err ? ": " : "",
			  err ? strerror(err) : "", c->backoff_ms / 1000);
	c->warned_down = true;
	c->backoff_ms *= 2;
	if (c->backoff_ms > COLLECTOR_BACKOFF_MAX_MS)
		c->backoff_ms = COLLECTOR_BACKOFF_MAX_MS;
}

static void conn_up(struct collector *c)
{
	c->state = CONN_UP;
	c->backoff_ms = COLLECTOR_BACKOFF_MIN_MS;
	c->stats.connects++;
	if (c->tcp)
		log_info("collector %s: connected", c->cc.url);
	c->warned_down = false;
}

static int udp_open(struct collector *c)
{
	int fd = socket(c->cc.addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
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

bool collector_check(struct collector *c, uint64_t now_ms)
{
	uint8_t junk[512];
	ssize_t n;

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
		c->stats.bytes += m->len;
		g_free(g_queue_pop_head(&c->queue));
	}
}

static void udp_datagram_sent(struct collector *c, const struct udp_pending *u)
{
	c->stats.messages++;
	c->stats.records += u->load.records;
	c->stats.bytes += u->len;
}

/*
 * Datagram i of the burst was not sent: it and the rest of the burst are
 * counted as not sent. The rest were encoded without the templates that
 * must now go first (collector_take_send_failed()), so a collector that is
 * back could not decode them anyway.
 */
static void udp_burst_failed(struct collector *c, int i, int err)
{
	if (!c->warned_down) {
		log_warnx("collector %s: send: %s", c->cc.url,
			  err ? strerror(err) : "datagram refused");
		c->warned_down = true;
	}
	for (; i < c->n_upend; i++)
		count_dropped(c, &c->upend[i].load);
	c->send_failed = true;
}

/* One sendmmsg() entry: datagrams [first, first + count) of the burst. */
struct udp_group {
	int first;
	int count;
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} control;
};

/*
 * Group the datagrams from `from` on: a run of equal lengths, and a shorter
 * one to end it, becomes one entry with a UDP_SEGMENT of that length.
 * Returns the number of entries.
 */
static int udp_group(struct collector *c, int from, struct udp_group *g, struct mmsghdr *mm,
		     struct iovec *iov)
{
	int n = 0;

	for (int k = from; k < c->n_upend; n++) {
		size_t seg = c->upend[k].len, total = seg;
		int count = 1;

		while (!c->no_gso && k + count < c->n_upend && count < GSO_MAX_SEGS) {
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
		iov[n].iov_base = c->ubuf + c->upend[k].off; /* the burst is contiguous */
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
 * Send the burst: groups of equal-length datagrams as one segmentation
 * offload send each (udp_group), all groups in one sendmmsg(). A full
 * socket buffer (EAGAIN) is waited for a little rather than dropped at
 * once. sendmmsg() returns the count sent and keeps the errno only when the
 * first entry fails; after a short count, a socket that is writable means
 * the next datagram was refused (e.g. ECONNREFUSED: the collector's port is
 * closed), while an offload entry is simply sent again first, to learn its
 * errno. Where the kernel refuses segmentation offload (a route without
 * checksum offload, an mtu above the route's), the datagrams go one by one
 * from then on.
 */
static void udp_flush(struct collector *c)
{
	struct udp_group g[UDP_BATCH];
	struct mmsghdr mm[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	int i = 0, ng, waits = 0;
	bool done = false;

	if (!c->n_upend)
		return;
	ng = udp_group(c, 0, g, mm, iov);
	while (i < ng) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
		int r = sendmmsg(c->fd, &mm[i], (unsigned int)(ng - i),
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		int err = r < 0 ? errno : 0;

		if (r > 0) {
			for (int k = g[i].first; k < g[i + r - 1].first + g[i + r - 1].count; k++)
				udp_datagram_sent(c, &c->upend[k]);
			i += r;
			waits = 0;
			if (i == ng) {
				done = true;
				break;
			}
			/* an offload entry's errno decides (offload refused?): send it first */
			if (g[i].count > 1)
				continue;
			if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLOUT)) {
				udp_burst_failed(c, g[i].first, 0);
				break;
			}
			err = EAGAIN;
		}
		if (g[i].count > 1 && gso_refused(err)) {
			log_info("collector %s: UDP segmentation offload refused (%s): "
				 "datagrams go one by one",
				 c->cc.url, strerror(err));
			c->no_gso = true;
			ng = udp_group(c, g[i].first, g, mm, iov);
			i = 0;
			continue;
		}
		if ((err == EAGAIN || err == EWOULDBLOCK || err == EINTR) && waits++ < 3) {
			poll(&pfd, 1, 20);
			continue;
		}
		udp_burst_failed(c, g[i].first, err);
		break;
	}
	if (done)
		c->warned_down = false;
	c->n_upend = 0;
	c->ubuf_used = 0;
}

void collector_flush(struct collector *c)
{
	if (!c->tcp)
		udp_flush(c);
}

bool collector_take_send_failed(struct collector *c)
{
	bool failed = c->send_failed;

	c->send_failed = false;
	return failed;
}

void collector_send(struct collector *c, const uint8_t *msg, size_t len,
		    const struct collector_load *load, uint64_t now_ms)
{
	static const struct collector_load none;
	struct qmsg *m;

	if (!load)
		load = &none;
	if (!c->tcp) {
		struct udp_pending *u;

		if (c->fd < 0) {
			count_dropped(c, load);
			c->send_failed = true;
			return;
		}
		if (c->ubuf_used + len > c->ubuf_cap) {
			c->ubuf_cap = (c->ubuf_used + len) * 2;
			c->ubuf = g_realloc(c->ubuf, c->ubuf_cap);
		}
		u = &c->upend[c->n_upend++];
		u->off = c->ubuf_used;
		u->len = len;
		u->load = *load;
		memcpy(c->ubuf + c->ubuf_used, msg, len);
		c->ubuf_used += len;
		if (c->n_upend == UDP_BATCH)
			udp_flush(c);
		return;
	}
	if (c->state != CONN_UP || c->queued_bytes + len > c->queue_limit) {
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
	tcp_flush(c, now_ms);
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
		}
		return 0;
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

	collector_flush(c);
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
	if (!c->tcp)
		collector_poll(c, 0);
	return c;
}

void collector_free(struct collector *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		collector_flush(c);
	drop_queue(c);
	close_fd(c);
	g_free(c->ubuf);
	g_free(c);
}
