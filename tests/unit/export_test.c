// SPDX-License-Identifier: GPL-2.0-only
/*
 * src/export.c and src/collector.c over loopback sockets the test owns:
 * templates before data and their UDP refresh (by messages and by time),
 * drops counted when a UDP collector is unreachable, UDP bursts sent 16
 * datagrams a call and a port closing in the middle of one, TCP reconnect with the
 * backlog sent after fresh templates, the 1..60 s backoff, a full TCP send
 * queue, two collectors with sessions of their own, NetFlow v9 packets
 * (UDP only), and when the options records go out (with the templates,
 * after an interface change, every template_refresh seconds on TCP).
 * Pacing: never faster than rate and burst, the exporter's room, and a
 * full socket buffer that drains between two calls is not a refusal. A
 * reload in place keeps sessions, backlog and counters.
 */
#define _GNU_SOURCE /* unshare */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "collector.h"
#include "export.h"
#include "ie_registry.h"
#include "ipfix.h"
#include "log.h"
#include "pool.h"
#include "spool.h"
#include "testutil.h"

#define ODID 99

/*
 * export_test links with -Wl,--wrap=poll: collector.c's poll() comes here.
 * When armed, the first poll() for POLLOUT runs drain_cmd first: the socket
 * buffer drains between the call that found it full and this poll(), the
 * race of a busy machine made certain.
 */
int __real_poll(struct pollfd *fds, nfds_t n, int timeout);
int __wrap_poll(struct pollfd *fds, nfds_t n, int timeout);
static const char *drain_cmd;
static int drain_polls;

int __wrap_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	if (drain_cmd && n == 1 && (fds[0].events & POLLOUT)) {
		drain_polls++;
		if (system(drain_cmd) != 0)
			fprintf(stderr, "%s failed\n", drain_cmd);
		drain_cmd = NULL;
	}
	return __real_poll(fds, n, timeout);
}

/* What one IPFIX message holds, from its header and set headers. */
struct msg_info {
	uint16_t len;
	uint32_t seq;
	uint32_t odid;
	int n_sets;
	uint16_t set_id[16];
};

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool parse_msg(const uint8_t *p, size_t len, struct msg_info *m)
{
	size_t off = IPFIX_HEADER_LEN;

	memset(m, 0, sizeof(*m));
	if (len < IPFIX_HEADER_LEN || rd16(p) != 10 || rd16(p + 2) != len)
		return false;
	m->len = len;
	m->seq = rd32(p + 8);
	m->odid = rd32(p + 12);
	while (off + 4 <= len && m->n_sets < 16) {
		uint16_t set_len = rd16(p + off + 2);

		if (set_len < 4 || off + set_len > len)
			return false;
		m->set_id[m->n_sets++] = rd16(p + off);
		off += set_len;
	}
	return off == len;
}

static bool has_set(const struct msg_info *m, uint16_t id)
{
	for (int i = 0; i < m->n_sets; i++)
		if (m->set_id[i] == id)
			return true;
	return false;
}

/* Kinds of message, as a letter: T templates, R type records, O options records only, D data. */
static char msg_kind(const struct msg_info *m)
{
	bool options_only = m->n_sets > 0;

	if (has_set(m, 2) || has_set(m, 3))
		return 'T';
	if (has_set(m, IPFIX_TID_IE_TYPE))
		return 'R';
	for (int i = 0; i < m->n_sets; i++)
		if (m->set_id[i] < IPFIX_TID_EXPORTER || m->set_id[i] > IPFIX_TID_SELECTOR)
			options_only = false;
	return options_only ? 'O' : 'D';
}

static int udp_listener(struct sockaddr_in *sin)
{
	socklen_t len = sizeof(*sin);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);

	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)sin, sizeof(*sin)) < 0 ||
	    getsockname(fd, (struct sockaddr *)sin, &len) < 0)
		abort();
	return fd;
}

static int tcp_listener(struct sockaddr_in *sin)
{
	socklen_t len = sizeof(*sin);
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)sin, sizeof(*sin)) < 0 ||
	    getsockname(fd, (struct sockaddr *)sin, &len) < 0 || listen(fd, 4) < 0)
		abort();
	return fd;
}

static void add_collector(struct xf_config *cfg, enum xf_transport tr,
			  const struct sockaddr_in *sin)
{
	struct xf_collector_config *cc = &cfg->collectors[cfg->n_collectors++];

	memset(cc, 0, sizeof(*cc));
	snprintf(cc->url, sizeof(cc->url), "%s://127.0.0.1:%u",
		 tr == XF_TRANSPORT_TCP ? "tcp" : "udp", ntohs(sin->sin_port));
	cc->transport = tr;
	cc->protocol = XF_PROTO_IPFIX;
	memcpy(&cc->addr, sin, sizeof(*sin));
	cc->addrlen = sizeof(*sin);
	cc->mtu = 1500;
}

static void base_config(struct xf_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->observation_domain_id = ODID;
	cfg->enterprise_number = IPFIX_DEFAULT_PEN;
}

static void record(struct flow_record *r, uint64_t packets)
{
	memset(r, 0, sizeof(*r));
	r->key.family = XF_FAMILY_IPV4;
	r->key.proto = 17;
	inet_pton(AF_INET, "198.18.0.1", r->key.src_addr);
	inet_pton(AF_INET, "198.19.0.1", r->key.dst_addr);
	r->key.src_port = 1000;
	r->key.dst_port = 2000;
	r->packets = packets;
	r->octets = packets * 100;
	r->end_reason = FLOW_END_IDLE;
}

/* Read every datagram waiting on fd; kinds gets one letter per message. */
static int read_udp(int fd, char *kinds, size_t max, struct msg_info *infos)
{
	uint8_t buf[65536];
	int n = 0;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t len;

		if (poll(&pfd, 1, 200) <= 0)
			break;
		len = recv(fd, buf, sizeof(buf), 0);
		if (len <= 0)
			break;
		if ((size_t)n + 1 >= max)
			abort();
		CHECK(parse_msg(buf, len, &infos[n]));
		CHECK(len <= 1500 - 28);
		kinds[n] = msg_kind(&infos[n]);
		n++;
	}
	kinds[n] = '\0';
	return n;
}

static void test_udp_templates_and_refresh(void)
{
	struct sockaddr_in sin;
	int fd = udp_listener(&sin);
	struct xf_config cfg;
	struct exporter *exp;
	struct exporter_stats st;
	struct msg_info info[64];
	char kinds[64], err[256] = "";
	struct flow_record r;

	base_config(&cfg);
	cfg.template_refresh = 30;
	cfg.template_refresh_messages = 2;
	add_collector(&cfg, XF_TRANSPORT_UDP, &sin);
	exp = exporter_new(&cfg, err, sizeof(err));
	CHECK(exp != NULL);
	if (!exp)
		return;
	/* five data messages of one record each */
	for (int i = 1; i <= 5; i++) {
		record(&r, i);
		exporter_add(exp, &r);
		exporter_flush(exp);
	}
	read_udp(fd, kinds, sizeof(kinds), info);
	/*
	 * T = type records' options template, R = type records (four messages
	 * at this MTU), T = flow and options templates, D = options records
	 * and data; templates again after two data messages
	 */
	CHECK_STR(kinds, "TRRRRTDDTRRRRTDDTRRRRTD");
	for (int i = 0; kinds[i]; i++)
		CHECK_U64(info[i].odid, ODID);
	exporter_get_stats(exp, &st);
	CHECK_U64(st.records, 5);
	CHECK_U64(st.records_dropped, 0);
	CHECK_U64(st.messages, 23);

	/* nothing due before 30 s, templates alone at 30 s */
	exporter_tick(exp, clock_mono_ms() + 29000);
	read_udp(fd, kinds, sizeof(kinds), info);
	CHECK_STR(kinds, "");
	exporter_tick(exp, clock_mono_ms() + 30000);
	read_udp(fd, kinds, sizeof(kinds), info);
	CHECK_STR(kinds, "TRRRRTO");
	exporter_free(exp);
	close(fd);
}

static void test_udp_unreachable(void)
{
	struct sockaddr_in sin;
	int fd = udp_listener(&sin);
	struct xf_config cfg;
	struct exporter *exp;
	struct exporter_stats st;
	char err[256] = "";
	struct flow_record r;

	close(fd); /* nobody listens: ICMP port unreachable */
	base_config(&cfg);
	add_collector(&cfg, XF_TRANSPORT_UDP, &sin);
	exp = exporter_new(&cfg, err, sizeof(err));
	for (int i = 1; i <= 10; i++) {
		record(&r, i);
		exporter_add(exp, &r);
		exporter_flush(exp);
	}
	exporter_get_stats(exp, &st);
	/* every record is either sent or counted as dropped */
	CHECK_U64(st.records + st.records_dropped, 10);
	CHECK(st.records_dropped >= 4);
	/* record i counts i packets and 100 * i octets, one record per message */
	CHECK_U64(st.octets_dropped, 100 * st.packets_dropped);
	CHECK(st.packets_dropped >= st.records_dropped * (st.records_dropped + 1) / 2);
	CHECK(st.packets_dropped <= 55);
	exporter_free(exp);
}

static int accept_wait(int lfd)
{
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };

	if (poll(&pfd, 1, 2000) <= 0)
		return -1;
	return accept(lfd, NULL, NULL);
}

/* Read whole IPFIX messages from a TCP stream until it is quiet. */
static int read_tcp(int fd, char *kinds, size_t max)
{
	uint8_t buf[65536];
	size_t have = 0;
	int n = 0;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t len;

		if (poll(&pfd, 1, 200) <= 0)
			break;
		len = recv(fd, buf + have, sizeof(buf) - have, 0);
		if (len <= 0)
			break;
		have += len;
		while (have >= 4 && have >= rd16(buf + 2)) {
			struct msg_info m;
			size_t mlen = rd16(buf + 2);

			CHECK(parse_msg(buf, mlen, &m));
			if ((size_t)n + 1 >= max)
				abort();
			kinds[n++] = msg_kind(&m);
			memmove(buf, buf + mlen, have - mlen);
			have -= mlen;
		}
	}
	kinds[n] = '\0';
	return n;
}

/*
 * A burst: datagrams go to the kernel 16 at a time (sendmmsg) and the rest
 * with exporter_flush(); every record arrives once, in order. Then the
 * collector's port closes in the middle of a burst: the datagram that was
 * refused and the rest of its burst are counted as not sent, and when the
 * port is open again the first datagram is the templates.
 */
/*
 * Every datagram the exporter counted arrived as a message of its own:
 * templates first, then data messages in order (each sequence number above
 * the one before).
 */
static void check_burst_received(int fd, const struct exporter_stats *st, struct msg_info *info)
{
	char kinds[256];
	int n = read_udp(fd, kinds, sizeof(kinds), info);

	CHECK_U64(n, st->messages);
	CHECK(strncmp(kinds, "TRRRRTD", 7) == 0);
	for (int i = 7; i < n; i++)
		CHECK(kinds[i] == 'D' && info[i].seq > info[i - 1].seq);
}

static void test_udp_burst(void)
{
	struct sockaddr_in sin;
	int fd = udp_listener(&sin);
	struct xf_config cfg;
	struct exporter *exp;
	struct exporter_stats st, st2;
	struct msg_info *info = calloc(256, sizeof(*info));
	char kinds[256], err[256] = "";
	struct flow_record r;
	int rcvbuf = 4 << 20;

	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	base_config(&cfg);
	add_collector(&cfg, XF_TRANSPORT_UDP, &sin);
	exp = exporter_new(&cfg, err, sizeof(err));
	CHECK(exp != NULL);
	if (!exp || !info)
		return;
	for (int i = 1; i <= 3000; i++) {
		record(&r, i);
		exporter_add(exp, &r);
	}
	exporter_get_stats(exp, &st);
	/* whole batches of 64 so far, the rest waits for the flush */
	CHECK(st.messages >= 64 && st.messages % 64 == 0);
	CHECK(st.records < 3000);
	exporter_flush(exp);
	exporter_get_stats(exp, &st);
	CHECK_U64(st.records, 3000);
	CHECK_U64(st.records_dropped, 0);
	check_burst_received(fd, &st, info);

	/* the port closes: the next burst fails (ICMP port unreachable) */
	close(fd);
	for (int round = 0; round < 3; round++) {
		for (int i = 1; i <= 400; i++) {
			record(&r, i);
			exporter_add(exp, &r);
		}
		exporter_flush(exp);
	}
	exporter_get_stats(exp, &st2);
	CHECK_U64(st2.records - st.records + st2.records_dropped, 1200);
	CHECK(st2.records_dropped > 0);
	CHECK_U64(st2.packets_dropped, st2.octets_dropped / 100);
	/* the port is back: templates come before the first record */
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	CHECK(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	record(&r, 7);
	exporter_add(exp, &r);
	exporter_flush(exp);
	read_udp(fd, kinds, sizeof(kinds), info);
	CHECK_STR(kinds, "TRRRRTD");
	exporter_free(exp);
	close(fd);
	free(info);
}

/* In a network namespace of our own, lo up with this mtu. 0 or -errno. */
static int netns_lo_mtu(int mtu)
{
	struct ifreq ifr;
	int fd, rc = 0;

	if (unshare(CLONE_NEWNET))
		return -errno;
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	ifr.ifr_mtu = mtu;
	if (fd < 0 || ioctl(fd, SIOCSIFMTU, &ifr))
		rc = -errno;
	ifr.ifr_flags = IFF_UP;
	if (!rc && ioctl(fd, SIOCSIFFLAGS, &ifr))
		rc = -errno;
	close(fd);
	return rc;
}

/*
 * The kernel refuses segmentation offload where a datagram is larger than
 * the route's mtu (EINVAL): here lo's mtu is 1400 and messages are up to
 * 1472 bytes. The burst must go out one datagram at a time (fragmented by
 * the kernel) with nothing dropped. In a child: the namespace is its own.
 */
static void test_udp_gso_refused(void)
{
	pid_t pid;
	int status = -1;

	if (geteuid() != 0) {
		tu_skip_check("test_udp_gso_refused", "needs root (a network namespace)");
		return;
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		struct msg_info *info = calloc(256, sizeof(*info));
		struct sockaddr_in sin;
		struct xf_config cfg;
		struct exporter *exp;
		struct exporter_stats st;
		struct flow_record r;
		char err[256] = "";
		int fd, rcvbuf = 4 << 20;

		CHECK_INT(netns_lo_mtu(1400), 0);
		fd = udp_listener(&sin);
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
		base_config(&cfg);
		add_collector(&cfg, XF_TRANSPORT_UDP, &sin);
		exp = exporter_new(&cfg, err, sizeof(err));
		CHECK(exp != NULL && info != NULL);
		if (!exp || !info)
			_exit(1);
		for (int i = 1; i <= 3000; i++) {
			record(&r, i);
			exporter_add(exp, &r);
		}
		exporter_flush(exp);
		exporter_get_stats(exp, &st);
		CHECK_U64(st.records, 3000);
		CHECK_U64(st.records_dropped, 0);
		check_burst_received(fd, &st, info);
		exporter_free(exp);
		_exit(tu_failures ? 1 : 0);
	}
	CHECK(pid > 0);
	if (pid > 0)
		waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_tcp_reconnect(void)
{
	struct sockaddr_in sin;
	int lfd = tcp_listener(&sin), conn;
	struct xf_config cfg;
	struct exporter *exp;
	struct exporter_stats st;
	char kinds[64], err[256] = "";
	struct flow_record r;
	uint64_t now;

	base_config(&cfg);
	add_collector(&cfg, XF_TRANSPORT_TCP, &sin);
	exp = exporter_new(&cfg, err, sizeof(err));
	exporter_tick(exp, clock_mono_ms());
	conn = accept_wait(lfd);
	CHECK(conn >= 0);
	for (int i = 1; i <= 3; i++) {
		record(&r, i);
		exporter_add(exp, &r);
	}
	exporter_flush(exp);
	read_tcp(conn, kinds, sizeof(kinds));
	CHECK_STR(kinds, "TRTOD");

	/* collector goes away: the next records wait, nothing is dropped */
	close(conn);
	usleep(50000);
	for (int i = 4; i <= 5; i++) {
		record(&r, i);
		exporter_add(exp, &r);
	}
	exporter_flush(exp);
	exporter_get_stats(exp, &st);
	CHECK_U64(st.records, 3);
	CHECK_U64(st.records_dropped, 0);

	/* not before the 1 s backoff */
	now = clock_mono_ms();
	exporter_tick(exp, now + 500);
	{
		struct pollfd pfd = { .fd = lfd, .events = POLLIN };

		CHECK_U64(poll(&pfd, 1, 100), 0);
	}
	exporter_tick(exp, now + 1000);
	conn = accept_wait(lfd);
	CHECK(conn >= 0);
	exporter_tick(exp, now + 1001); /* a connect may finish only now */
	read_tcp(conn, kinds, sizeof(kinds));
	/* templates again first, then the two records that waited */
	CHECK_STR(kinds, "TRTD");
	exporter_get_stats(exp, &st);
	CHECK_U64(st.records, 5);
	CHECK_U64(st.records_dropped, 0);
	exporter_free(exp);
	close(conn);
	close(lfd);
}

static void test_tcp_backoff(void)
{
	struct sockaddr_in sin;
	int lfd = tcp_listener(&sin);
	struct xf_config cfg;
	struct collector *c;
	uint64_t now = 1000000;
	const uint32_t want[] = { 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000 };

	close(lfd); /* connection refused */
	base_config(&cfg);
	add_collector(&cfg, XF_TRANSPORT_TCP, &sin);
	c = collector_new(&cfg.collectors[0], 1 << 20);
	CHECK(!collector_is_up(c));
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		int ev = collector_poll(c, now);

		/* a non-blocking connect may report the refusal on the next poll */
		if (!collector_retry_in(c, now))
			ev |= collector_poll(c, now);
		CHECK_U64(ev, 0);
		CHECK_U64(collector_retry_in(c, now), want[i]);
		/* nothing happens before the time */
		collector_poll(c, now + want[i] - 1);
		CHECK_U64(collector_retry_in(c, now + want[i] - 1), 1);
		now += want[i];
	}
	collector_free(c);
}

static void test_tcp_queue_full(void)
{
	struct sockaddr_in sin;
	int lfd = tcp_listener(&sin), conn;
	struct xf_config cfg;
	struct collector *c;
	struct collector_stats st;
	static uint8_t msg[8192];
	struct collector_load load = { .records = 1, .packets = 3, .octets = 300 };
	int ev = 0;

	base_config(&cfg);
	add_collector(&cfg, XF_TRANSPORT_TCP, &sin);
	c = collector_new(&cfg.collectors[0], 64 * 1024);
	for (int i = 0; i < 10 && !(ev & COLLECTOR_EV_CONNECTED); i++) {
		ev |= collector_poll(c, i);
		usleep(10000);
	}
	CHECK(ev & COLLECTOR_EV_CONNECTED);
	conn = accept_wait(lfd);
	/* the peer reads nothing: socket buffers fill, then the 64 KiB queue */
	msg[0] = 0;
	msg[1] = 10;
	msg[2] = sizeof(msg) >> 8;
	msg[3] = sizeof(msg) & 0xff;
	for (int i = 0; i < 4000; i++)
		collector_send(c, msg, sizeof(msg), &load, 0);
	collector_get_stats(c, &st);
	CHECK(st.records_dropped > 0);
	CHECK(st.records < 4000);
	/* sent + dropped + at most 8 queued messages (64 KiB / 8 KiB) */
	CHECK(st.records + st.records_dropped >= 4000 - 8);
	CHECK(st.records + st.records_dropped <= 4000);
	/* what the dropped records counted */
	CHECK_U64(st.packets_dropped, 3 * st.records_dropped);
	CHECK_U64(st.octets_dropped, 300 * st.records_dropped);
	collector_free(c);
	close(conn);
	close(lfd);
}

static void test_two_collectors(void)
{
	struct sockaddr_in a, b;
	int fa = udp_listener(&a), fb = udp_listener(&b);
	struct xf_config cfg;
	struct exporter *exp;
	struct exporter_stats st;
	struct msg_info ia[32], ib[32];
	char ka[32], kb[32], err[256] = "";
	struct flow_record r;

	base_config(&cfg);
	add_collector(&cfg, XF_TRANSPORT_UDP, &a);
	add_collector(&cfg, XF_TRANSPORT_UDP, &b);
	exp = exporter_new(&cfg, err, sizeof(err));
	for (int i = 1; i <= 4; i++) {
		record(&r, i);
		exporter_add(exp, &r);
	}
	exporter_flush(exp);
	read_udp(fa, ka, sizeof(ka), ia);
	read_udp(fb, kb, sizeof(kb), ib);
	CHECK_STR(ka, "TRRRRTD");
	CHECK_STR(kb, "TRRRRTD");
	/*
	 * each session counts its own records: the type records, then the
	 * exporter, metering and sampling options records, then data
	 */
	CHECK_U64(ia[5].seq, IE_REGISTRY_COUNT);
	CHECK_U64(ib[5].seq, IE_REGISTRY_COUNT);
	exporter_get_stats(exp, &st);
	CHECK_U64(st.records, 8); /* summed over collectors */
	exporter_free(exp);
	close(fa);
	close(fb);
}

/*
 * A NetFlow v9 collector: every datagram is a v9 packet (version 9, source
 * id = observation domain, sequence +1 per packet, count = records in
 * it); templates (flowset 0) and options templates (flowset 1) come before
 * any data flowset, and again after template_refresh_messages.
 */
static void test_netflow9_udp(void)
{
	struct sockaddr_in sin;
	int fd = udp_listener(&sin);
	struct xf_config cfg;
	struct exporter *exp;
	struct exporter_stats st;
	struct flow_record r;
	char kinds[32], err[256] = "";
	uint8_t buf[2048];
	int n = 0;

	base_config(&cfg);
	cfg.template_refresh = 30;
	cfg.template_refresh_messages = 2;
	add_collector(&cfg, XF_TRANSPORT_UDP, &sin);
	cfg.collectors[0].protocol = XF_PROTO_NETFLOW9;
	exp = exporter_new(&cfg, err, sizeof(err));
	CHECK(exp != NULL);
	if (!exp)
		return;
	for (int i = 1; i <= 3; i++) {
		record(&r, i);
		exporter_add(exp, &r);
		exporter_flush(exp);
	}
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t len;
		size_t off = 20;
		int records = 0;
		bool tmpl = false, data = false;

		if (poll(&pfd, 1, 200) <= 0)
			break;
		len = recv(fd, buf, sizeof(buf), 0);
		CHECK(len >= 20 && len <= 1500 - 28);
		CHECK_U64(rd16(buf), 9);
		CHECK_U64(rd32(buf + 12), n);
		CHECK_U64(rd32(buf + 16), ODID);
		while (off + 4 <= (size_t)len) {
			uint16_t id = rd16(buf + off), slen = rd16(buf + off + 2);

			CHECK(slen >= 4 && slen % 4 == 0 && off + slen <= (size_t)len);
			if (slen < 4)
				break;
			if (id <= 1) {
				tmpl = true;
				/* count template records: walk them */
				for (size_t p = off + 4; p + 4 <= off + slen;) {
					uint16_t tid = rd16(buf + p), nf = rd16(buf + p + 2);

					if (tid < 256)
						break; /* padding */
					records++;
					p += id == 0 ? 4 + 4 * nf : 6 + nf + rd16(buf + p + 4);
				}
			} else if (id == IPFIX_TID_IPV4) {
				data = true;
				records++; /* one flow per data message here */
			} else {
				data = true;
				records++; /* exporter, metering, sampling, selector: one each */
			}
			off += slen;
		}
		CHECK(off == (size_t)len);
		CHECK_U64(rd16(buf + 2), records);
		if ((size_t)n + 1 < sizeof(kinds))
			kinds[n] = tmpl ? (data ? 'B' : 'T') : 'D';
		n++;
	}
	kinds[n < 31 ? n : 31] = '\0';
	/*
	 * v9 mixes flowsets freely: B = templates, options records and the
	 * first record in one packet; templates again after two data packets
	 */
	CHECK_STR(kinds, "BDB");
	exporter_get_stats(exp, &st);
	CHECK_U64(st.records, 3);
	CHECK_U64(st.messages, 3);
	exporter_free(exp);
	close(fd);

	/* v9 has no message length, so no TCP */
	cfg.collectors[0].transport = XF_TRANSPORT_TCP;
	CHECK(exporter_new(&cfg, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "NetFlow v9 is UDP only") != NULL);
	exporter_free(NULL);
}

/*
 * Options records: with the templates, again with the next record after an
 * interface was added or renamed, and not otherwise; the interface rows
 * only while an interface is known.
 */
static void test_options_on_change(void)
{
	struct sockaddr_in sin;
	int fd = udp_listener(&sin);
	struct xf_config cfg;
	struct exporter *exp;
	struct msg_info info[32];
	char kinds[32], err[256] = "";
	struct flow_record r;
	int n;

	base_config(&cfg);
	cfg.template_refresh = 30;
	add_collector(&cfg, XF_TRANSPORT_UDP, &sin);
	exp = exporter_new(&cfg, err, sizeof(err));
	CHECK(exp != NULL);
	if (!exp)
		return;
	record(&r, 1);
	exporter_add(exp, &r);
	exporter_flush(exp);
	n = read_udp(fd, kinds, sizeof(kinds), info);
	CHECK_STR(kinds, "TRRRRTD");
	CHECK_U64(n, 7);
	if (n == 7) {
		CHECK(has_set(&info[6], IPFIX_TID_EXPORTER));
		CHECK(has_set(&info[6], IPFIX_TID_METERING));
		CHECK(has_set(&info[6], IPFIX_TID_SAMPLING));
		CHECK(has_set(&info[6], IPFIX_TID_SELECTOR));
		CHECK(!has_set(&info[6], IPFIX_TID_INTERFACE));
		CHECK(has_set(&info[6], IPFIX_TID_IPV4));
	}

	exporter_set_interface(exp, 3, "eth0", "uplink");
	exporter_add(exp, &r);
	exporter_flush(exp);
	n = read_udp(fd, kinds, sizeof(kinds), info);
	CHECK_STR(kinds, "D");
	if (n == 1) {
		CHECK(has_set(&info[0], IPFIX_TID_INTERFACE));
		CHECK(has_set(&info[0], IPFIX_TID_EXPORTER));
	}

	exporter_add(exp, &r);
	exporter_flush(exp);
	n = read_udp(fd, kinds, sizeof(kinds), info);
	CHECK_STR(kinds, "D");
	if (n == 1)
		CHECK(!has_set(&info[0], IPFIX_TID_EXPORTER) && info[0].n_sets == 1);

	/* a removed row cannot be withdrawn: nothing is sent for it... */
	exporter_set_interface(exp, 3, NULL, NULL);
	exporter_add(exp, &r);
	exporter_flush(exp);
	n = read_udp(fd, kinds, sizeof(kinds), info);
	CHECK_STR(kinds, "D");
	if (n == 1)
		CHECK(info[0].n_sets == 1);

	/* ...and the next round has no row for it (exporter_send_options: now, alone) */
	exporter_send_options(exp);
	n = read_udp(fd, kinds, sizeof(kinds), info);
	CHECK_STR(kinds, "O");
	if (n == 1)
		CHECK(has_set(&info[0], IPFIX_TID_EXPORTER) &&
		      !has_set(&info[0], IPFIX_TID_INTERFACE));
	exporter_free(exp);
	close(fd);
}

/* TCP: the options records again every template_refresh seconds, templates not. */
static void test_tcp_options_refresh(void)
{
	struct sockaddr_in sin;
	int lfd = tcp_listener(&sin), conn;
	struct xf_config cfg;
	struct exporter *exp;
	char kinds[64], err[256] = "";
	struct flow_record r;

	base_config(&cfg);
	cfg.template_refresh = 30;
	add_collector(&cfg, XF_TRANSPORT_TCP, &sin);
	exp = exporter_new(&cfg, err, sizeof(err));
	exporter_tick(exp, clock_mono_ms());
	conn = accept_wait(lfd);
	CHECK(conn >= 0);
	record(&r, 1);
	exporter_add(exp, &r);
	exporter_flush(exp);
	read_tcp(conn, kinds, sizeof(kinds));
	CHECK_STR(kinds, "TRTOD");
	exporter_tick(exp, clock_mono_ms() + 29000);
	read_tcp(conn, kinds, sizeof(kinds));
	CHECK_STR(kinds, "");
	exporter_tick(exp, clock_mono_ms() + 30500);
	read_tcp(conn, kinds, sizeof(kinds));
	CHECK_STR(kinds, "O");
	exporter_free(exp);
	close(conn);
	close(lfd);
}

/*
 * A full socket buffer is not a refusal. In a network namespace of our own,
 * a tbf qdisc on lo holds the datagrams (1 kbit/s), so the socket's send
 * buffer fills and sendmmsg() stops short with EAGAIN. The buffer drains
 * (the qdisc goes) before the exporter's next poll(): the exporter used to
 * poll for POLLOUT with no timeout right after the short call, found the
 * socket writable, took the EAGAIN for a refusal and dropped the rest of
 * the burst (up to 63 datagrams) as not sent. Datagrams of rising lengths,
 * so none go as one segmentation offload send (unpaced collector).
 */
static void test_udp_full_is_not_refused(void)
{
	pid_t pid;
	int status = -1;

	if (geteuid() != 0 || system("tc -V >/dev/null 2>&1") != 0) {
		printf("skip test_udp_full_is_not_refused: needs root (a network namespace) "
		       "and tc (iproute2)\n");
		return;
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		static uint8_t msg[2000];
		struct collector_load load = { .records = 1, .packets = 1, .octets = 100 };
		struct collector_stats st;
		struct sockaddr_in sin;
		struct xf_config cfg;
		struct collector *c;
		int fd;

		CHECK_INT(netns_lo_mtu(65536), 0);
		CHECK_INT(system("tc qdisc add dev lo root tbf rate 1kbit burst 2000 "
				 "limit 100000000"),
			  0);
		fd = udp_listener(&sin);
		base_config(&cfg);
		add_collector(&cfg, XF_TRANSPORT_UDP, &sin);
		c = collector_new(&cfg.collectors[0], 1 << 20);
		drain_cmd = "tc qdisc del dev lo root";
		for (int i = 0; i < 200; i++) {
			size_t len = 1000 + (size_t)i;

			msg[0] = 0;
			msg[1] = 10;
			msg[2] = (uint8_t)(len >> 8);
			msg[3] = (uint8_t)len;
			collector_send(c, msg, len, &load, 0);
		}
		collector_flush(c);
		collector_get_stats(c, &st);
		/* the buffer did fill: the poll() that drains it was reached */
		CHECK_INT(drain_polls, 1);
		CHECK_U64(st.records_dropped, 0);
		CHECK_U64(st.messages, 200);
		CHECK_U64(st.records, 200);
		CHECK(!collector_take_send_failed(c));
		collector_free(c);
		close(fd);
		_exit(tu_failures ? 1 : 0);
	}
	CHECK(pid > 0);
	if (pid > 0)
		waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static double now_s(void)
{
	return (double)clock_mono_ns() / 1e9;
}

/*
 * A paced collector never sends faster than its bucket: by any moment t
 * after the start at most burst + rate x t records left (the collector
 * counts them when the kernel took them). The exporter takes no more than
 * its room; every record arrives, in order; the datagrams of one wakeup
 * (offload runs included) stay within the burst.
 */
static void test_udp_paced(void)
{
	struct sockaddr_in sin;
	int fd = udp_listener(&sin), rcvbuf = 4 << 20;
	struct xf_config cfg;
	struct exporter *exp;
	struct exporter_stats st;
	struct msg_info *info = calloc(1024, sizeof(*info));
	char *kinds = calloc(1024, 1), err[256] = "";
	struct flow_record r;
	const uint32_t rate = 20000, burst = 200, total = 4000;
	uint32_t added = 0, max_sent_at_once = 0;
	double t0;
	int n;

	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	base_config(&cfg);
	add_collector(&cfg, XF_TRANSPORT_UDP, &sin);
	cfg.collectors[0].rate = rate;
	cfg.collectors[0].burst = burst;
	exp = exporter_new(&cfg, err, sizeof(err));
	CHECK(exp != NULL && info && kinds);
	if (!exp || !info || !kinds)
		return;
	/* the queue holds 100 ms at the rate (more than 4 bursts): the room */
	CHECK_U64(exporter_room(exp), rate / 10);
	CHECK_U64(exporter_next_send_ns(exp), 0);
	t0 = now_s();
	while (added < total || exporter_waiting(exp)) {
		uint64_t room = exporter_room(exp), before, next;
		struct timespec ts;

		for (; room && added < total; room--) {
			record(&r, ++added);
			exporter_add(exp, &r);
		}
		if (added == total)
			exporter_flush(exp);
		exporter_get_stats(exp, &st);
		before = st.records;
		exporter_pace(exp);
		exporter_get_stats(exp, &st);
		if (st.records - before > max_sent_at_once)
			max_sent_at_once = (uint32_t)(st.records - before);
		/* never ahead of the bucket */
		CHECK(st.records <= burst + (uint64_t)(rate * (now_s() - t0)) + 1);
		CHECK(st.records_dropped == 0);
		next = exporter_next_send_ns(exp);
		if (!next)
			continue;
		ts.tv_sec = 0;
		ts.tv_nsec = 200000; /* 0.2 ms: the test wakes more often than it needs */
		nanosleep(&ts, NULL);
	}
	exporter_get_stats(exp, &st);
	CHECK_U64(st.records, total);
	CHECK_U64(st.records_dropped, 0);
	/* 4000 records at 20000/s after a 200-record burst: 0.19 s at least */
	CHECK(now_s() - t0 >= (double)(total - burst) / rate);
	CHECK(max_sent_at_once <= burst);
	n = read_udp(fd, kinds, 1024, info);
	CHECK_U64(n, st.messages);
	CHECK(strncmp(kinds, "TRRRRTD", 7) == 0);
	for (int i = 7; i < n; i++)
		CHECK(kinds[i] == 'D' && info[i].seq > info[i - 1].seq);
	exporter_free(exp);
	close(fd);
	free(info);
	free(kinds);
}

/*
 * A burst smaller than a datagram's records: each datagram goes when the
 * bucket is full and leaves it in debt, so the rate still holds.
 */
static void test_udp_paced_small_burst(void)
{
	struct sockaddr_in sin;
	int fd = udp_listener(&sin), rcvbuf = 4 << 20;
	struct xf_config cfg;
	struct exporter *exp;
	struct exporter_stats st;
	char err[256] = "";
	struct flow_record r;
	double t0;

	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	base_config(&cfg);
	add_collector(&cfg, XF_TRANSPORT_UDP, &sin);
	cfg.collectors[0].rate = 10000;
	cfg.collectors[0].burst = 5;
	exp = exporter_new(&cfg, err, sizeof(err));
	for (int i = 1; i <= 500; i++) {
		record(&r, 1);
		exporter_add(exp, &r);
	}
	exporter_flush(exp);
	t0 = now_s();
	while (exporter_waiting(exp)) {
		struct timespec ts = { .tv_nsec = 200000 };

		exporter_pace(exp);
		exporter_get_stats(exp, &st);
		/* a datagram carries up to 19 records: burst + one datagram + rate x t */
		CHECK(st.records <= 5 + 19 + (uint64_t)(10000 * (now_s() - t0)) + 1);
		nanosleep(&ts, NULL);
	}
	exporter_get_stats(exp, &st);
	CHECK_U64(st.records, 500);
	CHECK_U64(st.records_dropped, 0);
	CHECK(now_s() - t0 >= (500.0 - 5 - 19) / 10000);
	exporter_free(exp);
	close(fd);
}

/*
 * Beyond its room a paced queue counts records as not sent (flows evicted
 * from a full cache take that way) instead of sending them faster.
 */
static void test_udp_paced_queue_full(void)
{
	struct sockaddr_in sin;
	int fd = udp_listener(&sin);
	struct xf_config cfg;
	struct exporter *exp;
	struct exporter_stats st;
	char err[256] = "";
	struct flow_record r;

	base_config(&cfg);
	add_collector(&cfg, XF_TRANSPORT_UDP, &sin);
	cfg.collectors[0].rate = 1000;
	cfg.collectors[0].burst = 100; /* a queue of 400 records */
	exp = exporter_new(&cfg, err, sizeof(err));
	for (int i = 1; i <= 2000; i++) {
		record(&r, 1);
		exporter_add(exp, &r);
	}
	exporter_flush(exp);
	exporter_get_stats(exp, &st);
	CHECK(st.records_dropped > 0);
	CHECK(st.records <= 100);
	CHECK(st.records + st.records_dropped + exporter_waiting(exp) == 2000);
	CHECK(exporter_waiting(exp) <= 400);
	CHECK_U64(st.packets_dropped, st.records_dropped);
	exporter_free(exp);
	close(fd);
}

/*
 * A reload in place: an unchanged UDP collector goes on with its sequence
 * numbers (no templates again, the options records with the next record),
 * an unchanged TCP collector that is down keeps its backlog and sends it
 * after the templates once up, the counters go on; a removed collector's
 * backlog is counted as not sent, a new one starts with templates; a
 * reload that cannot be applied changes nothing.
 */
static void test_reconfigure(void)
{
	struct sockaddr_in su, st_, su2;
	int fu = udp_listener(&su), lt = tcp_listener(&st_), fu2 = udp_listener(&su2), conn;
	struct xf_config cfg, cfg2, bad;
	struct exporter *exp;
	struct exporter_stats st;
	struct msg_info info[64];
	char kinds[64], err[256] = "";
	struct flow_record r;
	uint32_t seq;
	uint64_t now;
	int n;

	close(lt); /* the TCP collector is down */
	base_config(&cfg);
	add_collector(&cfg, XF_TRANSPORT_UDP, &su);
	add_collector(&cfg, XF_TRANSPORT_TCP, &st_);
	exp = exporter_new(&cfg, err, sizeof(err));
	CHECK(exp != NULL);
	if (!exp)
		return;
	for (int i = 1; i <= 3; i++) {
		record(&r, i);
		exporter_add(exp, &r);
		exporter_flush(exp);
	}
	n = read_udp(fu, kinds, sizeof(kinds), info);
	CHECK_STR(kinds, "TRRRRTDDD");
	seq = n == 9 ? info[8].seq : 0;

	/* the same collectors, another refresh setting: both kept */
	cfg.template_refresh_messages = 100;
	CHECK_INT(exporter_reconfigure(exp, &cfg, err, sizeof(err)), 0);
	exporter_get_stats(exp, &st);
	CHECK_U64(st.records, 3);
	CHECK_U64(st.records_dropped, 0);
	record(&r, 4);
	exporter_add(exp, &r);
	exporter_flush(exp);
	n = read_udp(fu, kinds, sizeof(kinds), info);
	CHECK_STR(kinds, "D");
	if (n == 1) {
		CHECK(has_set(&info[0], IPFIX_TID_EXPORTER)); /* options again, no templates */
		CHECK_U64(info[0].seq, seq + 1);	      /* the session goes on */
	}

	/* the TCP collector comes up: templates, then the 4 records that waited */
	lt = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	{
		int one = 1;

		setsockopt(lt, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	}
	CHECK(bind(lt, (struct sockaddr *)&st_, sizeof(st_)) == 0 && listen(lt, 4) == 0);
	now = clock_mono_ms();
	/* past any backoff; a refused connect may be seen by the next tick only */
	for (int i = 1; i <= 4; i++)
		exporter_tick(exp, now + 61000 * (uint64_t)i);
	now += 4 * 61000;
	conn = accept_wait(lt);
	CHECK(conn >= 0);
	exporter_tick(exp, now + 1); /* a connect may finish only now */
	read_tcp(conn, kinds, sizeof(kinds));
	CHECK_STR(kinds, "TRTD");
	exporter_get_stats(exp, &st);
	CHECK_U64(st.records, 8);
	close(conn);
	usleep(50000);

	/* TCP removed while down again (a record waits), UDP replaced by another */
	record(&r, 5);
	exporter_add(exp, &r);
	exporter_flush(exp);
	exporter_get_stats(exp, &st);
	CHECK_U64(st.records, 9); /* UDP took it; TCP: closed, so it waits */
	base_config(&cfg2);
	add_collector(&cfg2, XF_TRANSPORT_UDP, &su2);
	bad = cfg2;
	bad.collectors[0].protocol = XF_PROTO_NETFLOW9;
	bad.collectors[0].transport = XF_TRANSPORT_TCP;
	CHECK_INT(exporter_reconfigure(exp, &bad, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "NetFlow v9 is UDP only") != NULL);
	exporter_get_stats(exp, &st);
	CHECK_U64(st.records, 9);
	CHECK_U64(st.records_dropped, 0);

	CHECK_INT(exporter_reconfigure(exp, &cfg2, err, sizeof(err)), 0);
	exporter_get_stats(exp, &st);
	CHECK_U64(st.records, 9);	  /* the removed collectors' totals stay */
	CHECK_U64(st.records_dropped, 1); /* the record that waited for TCP */
	CHECK_U64(st.packets_dropped, 5);
	record(&r, 6);
	exporter_add(exp, &r);
	exporter_flush(exp);
	read_udp(fu2, kinds, sizeof(kinds), info);
	CHECK_STR(kinds, "TRRRRTD");
	read_udp(fu, kinds, sizeof(kinds), info);
	CHECK_STR(kinds, "D"); /* record 5, before the reload; nothing after it */
	exporter_get_stats(exp, &st);
	CHECK_U64(st.records, 10);
	exporter_free(exp);
	close(lt);
	close(fu);
	close(fu2);
}

/* n UDP collectors as one group of mode. */
static void group_config(struct xf_config *cfg, enum xf_pool_mode mode, const struct sockaddr_in *s,
			 int n)
{
	base_config(cfg);
	for (int i = 0; i < n; i++) {
		add_collector(cfg, XF_TRANSPORT_UDP, &s[i]);
		cfg->collectors[i].pool = 0;
	}
	cfg->pools[0] = (struct xf_pool_config){ .mode = mode, .first = 0, .n_members = n };
	cfg->n_pools = 1;
}

/* Reply direction of record(): the same connection. */
static void reply_record(struct flow_record *r, uint64_t packets)
{
	record(r, packets);
	inet_pton(AF_INET, "198.19.0.1", r->key.src_addr);
	inet_pton(AF_INET, "198.18.0.1", r->key.dst_addr);
	r->key.src_port = 2000;
	r->key.dst_port = 1000;
}

/* Only member `want` of fds got data messages; returns what it got. */
static void check_only_data(int *fds, int n, int want, const char *what)
{
	struct msg_info info[32];
	char kinds[32];

	for (int i = 0; i < n; i++) {
		read_udp(fds[i], kinds, sizeof(kinds), info);
		if ((strchr(kinds, 'D') != NULL) != (i == want)) {
			fprintf(stderr,
				"%s: member %d got \"%s\", member %d should have the data\n", what,
				i, kinds, want);
			CHECK(false);
		}
	}
}

/*
 * Groups over UDP: round-robin gives each member its turn; hash sends both
 * directions of a connection to the member pool.h picks for it; when that
 * member's port refuses, the connection moves to the member that scores
 * next, and back after the probe finds the member listening again.
 */
static void test_groups(void)
{
	struct sockaddr_in s[3];
	int fd[3];
	struct xf_config cfg;
	struct exporter *exp;
	struct exporter_stats st;
	struct msg_info info[32];
	char kinds[32], err[256] = "";
	struct flow_record r;
	uint64_t seeds[3], key;
	int home, next;

	for (int i = 0; i < 3; i++)
		fd[i] = udp_listener(&s[i]);

	group_config(&cfg, XF_POOL_ROUND_ROBIN, s, 3);
	exp = exporter_new(&cfg, err, sizeof(err));
	for (int i = 1; i <= 3; i++) {
		record(&r, i);
		exporter_add(exp, &r);
	}
	exporter_flush(exp);
	for (int i = 0; i < 3; i++) {
		read_udp(fd[i], kinds, sizeof(kinds), info);
		CHECK_STR(kinds, "TRRRRTD"); /* templates and options to each, one record each */
	}
	exporter_free(exp);
	for (int i = 0; i < 3; i++)
		read_udp(fd[i], kinds, sizeof(kinds), info); /* the options at exit */

	group_config(&cfg, XF_POOL_HASH, s, 3);
	exp = exporter_new(&cfg, err, sizeof(err));
	for (int i = 0; i < 3; i++)
		seeds[i] = pool_member_seed(cfg.collectors[i].url);
	record(&r, 1);
	key = pool_flow_key(&r);
	home = pool_pick_hash(seeds, 3, 0x7, key);
	next = pool_pick_hash(seeds, 3, 0x7 & ~(1u << home), key);
	for (int i = 1; i <= 5; i++) {
		record(&r, i);
		exporter_add(exp, &r);
		reply_record(&r, i);
		exporter_add(exp, &r);
	}
	exporter_flush(exp);
	check_only_data(fd, 3, home, "hash, all up");

	/* home stops listening: what it is sent now is refused, then it is down */
	close(fd[home]);
	record(&r, 1);
	exporter_add(exp, &r);
	exporter_flush(exp);
	usleep(50000); /* the ICMP refusal comes back */
	exporter_tick(exp, clock_mono_ms());
	for (int i = 1; i <= 5; i++) {
		record(&r, i);
		exporter_add(exp, &r);
		reply_record(&r, i);
		exporter_add(exp, &r);
	}
	exporter_flush(exp);
	fd[home] = -1;
	for (int i = 0; i < 3; i++) {
		if (i == home)
			continue;
		read_udp(fd[i], kinds, sizeof(kinds), info);
		CHECK((strchr(kinds, 'D') != NULL) == (i == next));
	}
	/*
	 * the record sent before the refusal came back left as a datagram the
	 * kernel took: counted as sent, lost at the closed port (UDP cannot
	 * know); the refusal then took the member down before anything else
	 * was sent to it, so nothing was refused
	 */
	exporter_get_stats(exp, &st);
	CHECK_U64(st.records, 21);
	CHECK_U64(st.records_dropped, 0);

	/* listening again: after the backoff (1 s) the probe, then its share again */
	{
		struct sockaddr_in again = s[home];
		int one = 1;

		fd[home] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		setsockopt(fd[home], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		CHECK(bind(fd[home], (struct sockaddr *)&again, sizeof(again)) == 0);
	}
	usleep(1100000);
	exporter_tick(exp, clock_mono_ms()); /* probe: templates */
	usleep(250000);
	exporter_tick(exp, clock_mono_ms()); /* no refusal: up */
	read_udp(fd[home], kinds, sizeof(kinds), info);
	CHECK(kinds[0] == 'T' && strchr(kinds, 'D') == NULL);
	for (int i = 1; i <= 5; i++) {
		reply_record(&r, i);
		exporter_add(exp, &r);
	}
	exporter_flush(exp);
	check_only_data(fd, 3, home, "hash, back up");
	exporter_get_stats(exp, &st);
	CHECK_U64(st.records_dropped, 0);
	CHECK_U64(st.records, 26);
	exporter_free(exp);
	for (int i = 0; i < 3; i++)
		close(fd[i]);
}

/*
 * spool = true across a reload that replaces the collector's target (its
 * mtu changed): the new target takes the spool over (one owner: a second
 * open would be refused), records spooled before and after the reload
 * while the collector is down are all sent once it listens, and the spool
 * is empty afterwards, also for the next process.
 */
static void test_tcp_spool_reload(void)
{
	struct sockaddr_in sin;
	int lfd = tcp_listener(&sin), conn;
	struct xf_config cfg, cfg2;
	struct exporter *exp;
	struct exporter_stats st;
	struct spool *sp = NULL;
	struct spool_stats ss;
	char kinds[256], err[256] = "", dir[] = "/tmp/xf-export-spool.XXXXXX", cmd[300];
	struct flow_record r;
	uint64_t now;

	close(lfd); /* the collector is down: connection refused */
	if (!mkdtemp(dir))
		abort();
	base_config(&cfg);
	add_collector(&cfg, XF_TRANSPORT_TCP, &sin);
	cfg.collectors[0].spool = true;
	snprintf(cfg.spool_dir, sizeof(cfg.spool_dir), "%s", dir);
	cfg.spool_max_bytes = 1u << 20;
	exp = exporter_new(&cfg, err, sizeof(err));
	CHECK(exp != NULL);
	if (!exp)
		return;
	for (int i = 1; i <= 10; i++) {
		record(&r, i);
		exporter_add(exp, &r);
	}
	exporter_flush(exp);
	cfg2 = cfg;
	cfg2.collectors[0].mtu = 1400;
	CHECK_INT(exporter_reconfigure(exp, &cfg2, err, sizeof(err)), 0);
	for (int i = 11; i <= 20; i++) {
		record(&r, i);
		exporter_add(exp, &r);
	}
	exporter_flush(exp);
	exporter_get_stats(exp, &st);
	CHECK_U64(st.records, 0);
	CHECK_U64(st.records_dropped, 0);

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	{
		int one = 1;

		setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	}
	CHECK(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == 0 && listen(lfd, 4) == 0);
	/* a refused connect may still be in progress: tick on until one is accepted */
	now = clock_mono_ms();
	conn = -1;
	for (int k = 1; k <= 10 && conn < 0; k++) {
		struct pollfd pfd = { .fd = lfd, .events = POLLIN };

		now += 2000;
		exporter_tick(exp, now);
		if (poll(&pfd, 1, 100) > 0)
			conn = accept(lfd, NULL, NULL);
	}
	CHECK(conn >= 0);
	exporter_tick(exp, now + 1);
	exporter_flush(exp);
	if (conn >= 0)
		read_tcp(conn, kinds, sizeof(kinds));
	exporter_tick(exp, now + 2);
	exporter_get_stats(exp, &st);
	CHECK_U64(st.records, 20);
	CHECK_U64(st.records_dropped, 0);
	exporter_free(exp);
	if (conn >= 0)
		close(conn);
	close(lfd);

	/* what the next process finds: nothing left to send */
	snprintf(cmd, sizeof(cmd), "%s/tcp-127.0.0.1:%u", dir, ntohs(sin.sin_port));
	CHECK_INT(spool_open(cmd, 1u << 20, &sp, err, sizeof(err)), 0);
	if (sp) {
		spool_get_stats(sp, &ss);
		CHECK_U64(ss.pending, 0);
		spool_free(sp);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

int main(void)
{
	log_init(true, LOG_LEVEL_ERR, "export_test");
	RUN(test_udp_templates_and_refresh);
	RUN(test_udp_unreachable);
	RUN(test_udp_burst);
	RUN(test_udp_gso_refused);
	RUN(test_tcp_reconnect);
	RUN(test_tcp_backoff);
	RUN(test_tcp_queue_full);
	RUN(test_two_collectors);
	RUN(test_netflow9_udp);
	RUN(test_options_on_change);
	RUN(test_tcp_options_refresh);
	RUN(test_udp_full_is_not_refused);
	RUN(test_udp_paced);
	RUN(test_udp_paced_small_burst);
	RUN(test_udp_paced_queue_full);
	RUN(test_reconfigure);
	RUN(test_groups);
	RUN(test_tcp_spool_reload);
	return tu_finish();
}
