/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * One collector's transport: a connected UDP socket, or a TCP connection
 * opened without blocking and reopened with exponential backoff (1 s, 2 s,
 * ... 60 s). Whole IPFIX messages go in; a message is either written
 * completely or counted as dropped, with its records.
 *
 * TCP: what the socket does not take at once waits in a bounded queue and
 * is written by collector_poll(). When the connection is lost, the queued
 * messages (and the rest of a partly written one) are dropped and counted:
 * a new connection must start with templates, which the caller sends when
 * collector_poll() reports COLLECTOR_EV_CONNECTED.
 *
 * UDP pacing (xf_collector_config rate and burst; rate 0: unpaced): a
 * token bucket of records. A collector's socket buffer at the kernel's
 * default holds about 92 datagrams (bench/README.md): datagrams sent
 * faster than it reads are lost there, where only its sequence numbers
 * show it. Paced datagrams wait in a bounded queue (100 ms at the rate,
 * at least four bursts) and leave as tokens come, never more than a burst
 * at once (segmentation offload runs included); the caller asks
 * collector_room() before it hands over more, and wakes at
 * collector_next_send_ns() to call collector_flush().
 */
#ifndef XF_COLLECTOR_H
#define XF_COLLECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct collector;

struct collector_stats {
	uint64_t messages;	  /* messages written completely */
	uint64_t records;	  /* data records in them */
	uint64_t records_dropped; /* records in messages that could not be sent */
	uint64_t packets_dropped; /* packets and octets those records counted */
	uint64_t octets_dropped;
	uint64_t bytes;		 /* bytes of those messages */
	uint64_t connects;	 /* TCP connections established */
	uint64_t events;	 /* of the records sent, NAT event records */
	uint64_t events_dropped; /* of the records dropped, NAT event records */
	uint64_t downs;		 /* times found down: TCP lost or not connected, UDP refused */
};

/* collector_poll() result bits */
#define COLLECTOR_EV_CONNECTED 0x01 /* a new TCP connection is up: send templates first */
#define COLLECTOR_EV_LOST 0x02	    /* the TCP connection was lost */
#define COLLECTOR_EV_PROBE 0x04	    /* UDP, down: send templates now to see if it is back */

#define COLLECTOR_BACKOFF_MIN_MS 1000
#define COLLECTOR_BACKOFF_MAX_MS 60000

/*
 * Create the transport for cc (copied). UDP: the socket is opened now; a
 * failure is retried by collector_poll(). TCP: the first connect starts at
 * the first collector_poll(). queue_limit bounds the TCP send queue in
 * bytes. Never fails (allocation failure aborts).
 */
struct collector *collector_new(const struct xf_collector_config *cc, size_t queue_limit);
void collector_free(struct collector *c);

/* The URL as configured, for log messages. */
const char *collector_url(const struct collector *c);
/* The settings it runs with (owned by c). */
const struct xf_collector_config *collector_config(const struct collector *c);
bool collector_is_tcp(const struct collector *c);

/*
 * UDP: a socket is open and no datagram was refused since the last probe.
 * TCP: the connection is established.
 *
 * A UDP collector whose datagram was refused (ECONNREFUSED, EHOSTUNREACH,
 * ENETUNREACH reported through IP_RECVERR) is down for the backoff (1 s,
 * 2 s, ... 60 s); then collector_poll() reports COLLECTOR_EV_PROBE, the
 * caller sends templates, and the next poll at least PROBE_MS later finds
 * it up unless those were refused too. Sending to a down UDP collector
 * still works as before (a group sends it nothing but the probes).
 */
bool collector_is_up(const struct collector *c);

/*
 * The local address of the socket that sends to c (getsockname() after
 * connect), into addr[16]: IPv4 in bytes 0..3, network byte order. false
 * (and zeros) while there is no connected socket.
 */
bool collector_local_addr(const struct collector *c, uint8_t addr[16]);

/* What a message carries, for the drop counters. */
struct collector_load {
	uint32_t records; /* flow and NAT event records (0 for templates and options) */
	uint32_t events;  /* of them, NAT event records */
	uint64_t packets; /* their packetDeltaCount sum */
	uint64_t octets;  /* their octetDeltaCount sum */
	/*
	 * TCP: the message carries records of an on-disk spool (export.c),
	 * which sends them again after a lost connection: dropping it is not
	 * counted, the queue bound does not refuse it while the connection is
	 * up (the caller keeps to collector_queued_bytes()), and once it is
	 * written completely, mark is what collector_take_sent_mark() returns.
	 */
	bool spooled;
	uint64_t mark[2];
};

/*
 * Send one whole message carrying load (may be NULL: nothing countable).
 * UDP unpaced: one datagram, handed to the kernel with the rest of its
 * burst, up to 64 at a time (sendmmsg), at the latest by
 * collector_flush(). UDP paced: queued; dropped when the queue is full.
 * TCP: written now, or queued while the socket is busy; dropped when the
 * connection is not up or the queue is full. Drops are counted in
 * records_dropped.
 */
void collector_send(struct collector *c, const uint8_t *msg, size_t len,
		    const struct collector_load *load, uint64_t now_ms);

/*
 * UDP unpaced: send the datagrams collector_send() holds. UDP paced: send
 * those the token bucket allows now; the rest wait. TCP: nothing.
 */
void collector_flush(struct collector *c);

/* UDP: send every waiting datagram now, paced or not (shutdown, reload). */
void collector_flush_all(struct collector *c);

/*
 * UDP paced: CLOCK_MONOTONIC ns at which collector_flush() can send about
 * half a burst (or all that waits, if less); may be in the past. 0 when
 * nothing waits or the collector is not paced.
 */
uint64_t collector_next_send_ns(const struct collector *c);

/*
 * UDP paced: records (counted as pacing counts them) the queue takes
 * before it is full. UINT64_MAX when not paced (TCP, rate 0).
 */
uint64_t collector_room(const struct collector *c);

/* TCP: bytes in the send queue. */
size_t collector_queued_bytes(const struct collector *c);

/*
 * TCP: the mark of the last spooled message written completely (the
 * kernel took all of its bytes) since the last call. Returns false when
 * none was.
 */
bool collector_take_sent_mark(struct collector *c, uint64_t mark[2]);

/* Flow records waiting: in the UDP queue, or in the TCP send queue. */
uint64_t collector_waiting(const struct collector *c);

/* Count every waiting message as not sent and drop it (a removed collector). */
void collector_discard(struct collector *c);

/* Change the pacing of a running collector (reload); TCP: nothing. */
void collector_set_pacing(struct collector *c, uint32_t rate, uint32_t burst);

/*
 * UDP: whether a datagram could not be sent (socket missing, refused, or
 * its socket buffer stayed full while unpaced) since the last call;
 * clears it. After that, templates must go first again: a collector that
 * restarted has none. A datagram that fails takes every datagram waiting
 * after it with it.
 */
bool collector_take_send_failed(struct collector *c);

/*
 * TCP: look (without blocking) whether the peer closed the connection and
 * take it down if so. UDP: whether a refusal (ICMP unreachable) came back
 * and take it down if so. Returns collector_is_up(). Cheap: one recv()
 * call.
 */
bool collector_check(struct collector *c, uint64_t now_ms);

/*
 * Periodic work: progress a pending connect, start one when the backoff
 * expired, write queued messages, notice a closed peer. now_ms is
 * CLOCK_MONOTONIC milliseconds. Returns COLLECTOR_EV_* bits.
 */
int collector_poll(struct collector *c, uint64_t now_ms);

/*
 * Send what UDP holds at once, and wait up to timeout_ms for the TCP send
 * queue to empty (used at shutdown). Returns the number of bytes still
 * queued.
 */
size_t collector_drain(struct collector *c, int timeout_ms);

/* Milliseconds from now until the next connect attempt (0 when not waiting). */
uint64_t collector_retry_in(const struct collector *c, uint64_t now_ms);

void collector_get_stats(const struct collector *c, struct collector_stats *out);

#endif
