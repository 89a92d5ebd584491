// SPDX-License-Identifier: GPL-2.0-only
/*
 * capture + tc_hook + drain on real traffic: two network namespaces joined
 * by a veth pair (198.18.0.0/24, 2001:db8::/64). The test enters namespace
 * A, attaches to its veth end, exchanges an exact number of UDP datagrams,
 * ICMP echoes and one TCP connection with a child in namespace B, and checks
 * what drain_flows() returns for both directions. Then the epoch flips
 * under traffic, and detaching must leave no filter (nor a qdisc we made).
 *
 * Needs root; exits 77 otherwise. The namespaces are deleted on every exit
 * path (atexit, signals, a watchdog alarm).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>

#include "capture.h"
#include "clock.h"
#include "drain.h"
#include "log.h"
#include "tc_hook.h"
#include "testutil.h"

#define A_V4 "198.18.0.1"
#define B_V4 "198.18.0.2"
#define A_V6 "2001:db8::1"
#define B_V6 "2001:db8::2"
#define UDP_ECHO_PORT 5000
#define TCP_SINK_PORT 5001

static const uint8_t mac_a[6] = { 0x02, 0, 0, 0, 0x0a, 0x01 };
static const uint8_t mac_b[6] = { 0x02, 0, 0, 0, 0x0b, 0x01 };

static char ns_a[32], ns_b[32], veth_a[IF_NAMESIZE], veth_b[IF_NAMESIZE];
static pid_t child = -1;
static pid_t owner;
static bool ns_made;

/* --- shell helpers and cleanup --------------------------------------------- */

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	if (st != 0)
		fprintf(stderr, "command failed (%d): %s\n", st, cmd);
	return st;
}

/* Output of a shell command (static buffer). */
static const char *sh_out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *sh_out(const char *fmt, ...)
{
	static char out[8192];
	char cmd[512];
	size_t n = 0;
	va_list ap;
	FILE *f;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	out[0] = '\0';
	f = popen(cmd, "r");
	if (!f)
		return out;
	while (n < sizeof(out) - 1) {
		size_t r = fread(out + n, 1, sizeof(out) - 1 - n, f);

		if (!r)
			break;
		n += r;
	}
	out[n] = '\0';
	pclose(f);
	return out;
}

static void cleanup(void)
{
	char cmd[128];

	if (getpid() != owner)
		return;
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		child = -1;
	}
	if (ns_made) {
		snprintf(cmd, sizeof(cmd),
			 "ip netns del %s 2>/dev/null; ip netns del %s 2>/dev/null", ns_a, ns_b);
		if (system(cmd) != 0)
			fprintf(stderr, "cleanup: %s failed\n", cmd);
		ns_made = false;
	}
}

static void on_signal(int sig)
{
	fprintf(stderr, "capture_test: signal %d, cleaning up\n", sig);
	cleanup();
	_exit(1);
}

static int enter_netns(const char *name)
{
	char path[128];
	int fd, ret;

	snprintf(path, sizeof(path), "/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = setns(fd, CLONE_NEWNET) ? -errno : 0;
	close(fd);
	return ret;
}

static int setup_netns(void)
{
	snprintf(ns_a, sizeof(ns_a), "xfcapA%d", (int)owner);
	snprintf(ns_b, sizeof(ns_b), "xfcapB%d", (int)owner);
	snprintf(veth_a, sizeof(veth_a), "xfa%d", (int)owner);
	snprintf(veth_b, sizeof(veth_b), "xfb%d", (int)owner);
	if (sh("ip netns add %s", ns_a))
		return -1;
	ns_made = true;
	if (sh("ip netns add %s", ns_b) ||
	    sh("ip link add %s netns %s type veth peer name %s netns %s", veth_a, ns_a, veth_b,
	       ns_b) ||
	    sh("ip -n %s link set %s address 02:00:00:00:0a:01", ns_a, veth_a) ||
	    sh("ip -n %s link set %s address 02:00:00:00:0b:01", ns_b, veth_b) ||
	    sh("ip -n %s addr add %s/24 dev %s", ns_a, A_V4, veth_a) ||
	    sh("ip -n %s addr add %s/24 dev %s", ns_b, B_V4, veth_b) ||
	    sh("ip -n %s addr add %s/64 dev %s nodad", ns_a, A_V6, veth_a) ||
	    sh("ip -n %s addr add %s/64 dev %s nodad", ns_b, B_V6, veth_b) ||
	    sh("ip -n %s link set lo up && ip -n %s link set lo up", ns_a, ns_b) ||
	    sh("ip -n %s link set %s up && ip -n %s link set %s up", ns_a, veth_a, ns_b, veth_b))
		return -1;
	return 0;
}

/* --- the peer in namespace B: UDP echo, TCP sink ---------------------------- */

static int bound_socket(int family, int type, const char *addr, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		inet_pton(AF_INET, addr, &sin->sin_addr);
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		inet_pton(AF_INET6, addr, &sin6->sin6_addr);
		len = sizeof(*sin6);
	}
	fd = socket(family, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void peer_main(int ready_fd)
{
	int u4, u6, t;
	char buf[65536];

	if (enter_netns(ns_b))
		_exit(2);
	u4 = bound_socket(AF_INET, SOCK_DGRAM, B_V4, UDP_ECHO_PORT);
	u6 = bound_socket(AF_INET6, SOCK_DGRAM, B_V6, UDP_ECHO_PORT);
	t = bound_socket(AF_INET, SOCK_STREAM, B_V4, TCP_SINK_PORT);
	if (u4 < 0 || u6 < 0 || t < 0 || listen(t, 4) < 0)
		_exit(3);
	if (write(ready_fd, "R", 1) != 1)
		_exit(4);
	close(ready_fd);
	for (;;) {
		struct pollfd p[3] = { { u4, POLLIN, 0 }, { u6, POLLIN, 0 }, { t, POLLIN, 0 } };

		if (poll(p, 3, -1) < 0)
			continue;
		for (int i = 0; i < 2; i++) {
			struct sockaddr_storage from;
			socklen_t fl = sizeof(from);
			ssize_t n;

			if (!(p[i].revents & POLLIN))
				continue;
			n = recvfrom(p[i].fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
			if (n >= 0)
				sendto(p[i].fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
		}
		if (p[2].revents & POLLIN) {
			int c = accept(t, NULL, NULL);

			/* Read to EOF, then close: the client sees our FIN. */
			while (c >= 0 && read(c, buf, sizeof(buf)) > 0)
				;
			if (c >= 0)
				close(c);
		}
	}
}

/* --- what xlatflowd's pipeline holds ------------------------------------------ */

/* The loaded programs, their tc hook and their drain. */
struct rig {
	struct capture *c;
	struct tc_hook *h;
	struct drain *d;
};

static int rig_open(struct rig *r, const struct capture_opts *o, char *err, size_t err_len)
{
	struct tc_hook_prog prog[2];

	r->c = capture_open(o, err, err_len);
	if (!r->c)
		return -errno;
	for (int dir = 0; dir < 2; dir++)
		prog[dir] = (struct tc_hook_prog){ .fd = capture_prog_fd(r->c, dir),
						   .id = capture_prog_id(r->c, dir),
						   .name = capture_prog_name(r->c, dir) };
	r->h = tc_hook_new(prog);
	r->d = drain_new(r->c);
	return 0;
}

/* As pipeline_free: tc_hook_free detaches what is still attached. */
static void rig_close(struct rig *r)
{
	tc_hook_free(r->h);
	drain_free(r->d);
	capture_free(r->c);
}

/* --- collecting drained flows ---------------------------------------------- */

struct flow {
	struct xf_flow_key key;
	struct xf_flow_stats st;
};

#define MAX_FLOWS 1024
static struct flow table[MAX_FLOWS];
static int n_table;
static uint64_t total_packets; /* every packet drained or received as an event */
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static void accumulate_unlocked(void *ctx, const struct xf_flow_key *key,
				const struct xf_flow_stats *st)
{
	struct flow *f = NULL;

	total_packets += st->packets;
	for (int i = 0; i < n_table; i++)
		if (memcmp(&table[i].key, key, sizeof(*key)) == 0)
			f = &table[i];
	if (!f && n_table < MAX_FLOWS) {
		f = &table[n_table++];
		f->key = *key;
		memset(&f->st, 0, sizeof(f->st));
	}
	if (f) {
		f->st.packets += st->packets;
		f->st.octets += st->octets;
		f->st.tcp_flags |= st->tcp_flags;
		if (!f->st.first_ns || st->first_ns < f->st.first_ns)
			f->st.first_ns = st->first_ns;
		if (st->last_ns >= f->st.last_ns) {
			f->st.last_ns = st->last_ns;
			memcpy(f->st.src_mac, st->src_mac, 6);
			memcpy(f->st.dst_mac, st->dst_mac, 6);
			f->st.tos = st->tos;
		}
	}
}

static void accumulate(void *ctx, const struct xf_flow_key *key, const struct xf_flow_stats *st)
{
	pthread_mutex_lock(&table_lock);
	accumulate_unlocked(ctx, key, st);
	pthread_mutex_unlock(&table_lock);
}

static int drain_all(struct drain *d)
{
	int n = drain_flows(d, accumulate, NULL), e;

	CHECK(n >= 0);
	e = drain_events(d, accumulate, NULL);
	CHECK(e >= 0);
	return n;
}

static struct xf_flow_key make_key(int family, uint8_t proto, const char *src, const char *dst,
				   uint16_t sport, uint16_t dport, int ifindex, int dir)
{
	struct xf_flow_key k;

	memset(&k, 0, sizeof(k));
	k.family = (uint8_t)family;
	k.proto = proto;
	inet_pton(family == 4 ? AF_INET : AF_INET6, src, k.src_addr);
	inet_pton(family == 4 ? AF_INET : AF_INET6, dst, k.dst_addr);
	k.src_port = sport;
	k.dst_port = dport;
	k.ifindex = (uint32_t)ifindex;
	k.direction = (uint8_t)dir;
	return k;
}

static const struct xf_flow_stats *find(const struct xf_flow_key *k)
{
	for (int i = 0; i < n_table; i++)
		if (memcmp(&table[i].key, k, sizeof(*k)) == 0)
			return &table[i].st;
	return NULL;
}

/* The flow k must have exactly packets/octets, with MACs of its direction. */
static void check_flow(const char *what, const struct xf_flow_key *k, uint64_t packets,
		       uint64_t octets)
{
	const struct xf_flow_stats *st = find(k);
	int fails = tu_failures;

	CHECK(st != NULL);
	if (st) {
		bool egress = k->direction == XF_DIR_EGRESS;

		CHECK_U64(st->packets, packets);
		CHECK_U64(st->octets, octets);
		CHECK(memcmp(st->src_mac, egress ? mac_a : mac_b, 6) == 0);
		CHECK(memcmp(st->dst_mac, egress ? mac_b : mac_a, 6) == 0);
		CHECK(st->first_ns && st->first_ns <= st->last_ns);
		CHECK_U64(st->tos, 0);
	}
	if (tu_failures != fails)
		fprintf(stderr, "  in flow: %s\n", what);
}

/* --- traffic from namespace A ----------------------------------------------- */

static bool wait_readable(int fd, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };

	return poll(&p, 1, ms) == 1;
}

static int connected_udp(int family, const char *src, uint16_t sport, const char *dst)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = bound_socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM, src, sport);

	if (fd < 0)
		return -1;
	memset(&ss, 0, sizeof(ss));
	if (family == 4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(UDP_ECHO_PORT);
		inet_pton(AF_INET, dst, &sin->sin_addr);
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(UDP_ECHO_PORT);
		inet_pton(AF_INET6, dst, &sin6->sin6_addr);
		len = sizeof(*sin6);
	}
	if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* n datagrams of size bytes, each echoed before the next: nothing can be dropped. */
static int udp_pingpong(int family, const char *src, uint16_t sport, const char *dst, int n,
			size_t size)
{
	char buf[2048];
	int fd = connected_udp(family, src, sport, dst), done = 0;

	if (fd < 0)
		return -1;
	memset(buf, 'x', sizeof(buf));
	for (int i = 0; i < n; i++) {
		if (send(fd, buf, size, 0) != (ssize_t)size)
			break;
		if (!wait_readable(fd, 3000) || recv(fd, buf, sizeof(buf), 0) != (ssize_t)size)
			break;
		done++;
	}
	close(fd);
	return done;
}

static uint16_t icmp_csum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (len & 1)
		s += (uint32_t)b[len - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* n ICMP echo requests with payload bytes each, waiting for every reply. */
static int ping(const char *dst, int n, size_t payload)
{
	struct sockaddr_in to = { .sin_family = AF_INET };
	uint8_t pkt[1500], in[1600];
	int fd, done = 0;

	inet_pton(AF_INET, dst, &to.sin_addr);
	fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
	if (fd < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		struct icmphdr *ic = (struct icmphdr *)pkt;
		size_t len = sizeof(*ic) + payload;
		bool got = false;
		uint16_t c;

		memset(pkt, 0, len);
		ic->type = ICMP_ECHO;
		ic->un.echo.id = htons(0x7801);
		ic->un.echo.sequence = htons((uint16_t)i);
		memset(pkt + sizeof(*ic), 0x5a, payload);
		c = icmp_csum(pkt, len);
		ic->checksum = htons(c);
		if (sendto(fd, pkt, len, 0, (struct sockaddr *)&to, sizeof(to)) != (ssize_t)len)
			break;
		/* A raw socket sees every ICMP packet: wait for our reply. */
		while (!got && wait_readable(fd, 3000)) {
			ssize_t r = recv(fd, in, sizeof(in), 0);
			size_t ihl;
			struct icmphdr *rep;

			if (r < 20)
				continue;
			ihl = (size_t)(in[0] & 0x0f) * 4;
			if ((size_t)r < ihl + sizeof(*rep))
				continue;
			rep = (struct icmphdr *)(in + ihl);
			got = rep->type == ICMP_ECHOREPLY && rep->un.echo.id == htons(0x7801) &&
			      rep->un.echo.sequence == htons((uint16_t)i);
		}
		if (!got)
			break;
		done++;
	}
	close(fd);
	return done;
}

/* One TCP connection: 1000 bytes, our FIN, then the peer's FIN. */
static int tcp_exchange(uint16_t sport)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(TCP_SINK_PORT) };
	char buf[1000];
	int fd = bound_socket(AF_INET, SOCK_STREAM, A_V4, sport), ret = -1;

	if (fd < 0)
		return -1;
	inet_pton(AF_INET, B_V4, &to.sin_addr);
	memset(buf, 't', sizeof(buf));
	if (connect(fd, (struct sockaddr *)&to, sizeof(to)) == 0 &&
	    write(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf) && shutdown(fd, SHUT_WR) == 0 &&
	    wait_readable(fd, 3000) && read(fd, buf, sizeof(buf)) == 0)
		ret = 0;
	close(fd);
	/* Let the last ACK leave. */
	usleep(100 * 1000);
	return ret;
}

/* --- epoch flips under traffic ---------------------------------------------- */

static volatile bool stop_drainer;
static volatile int drains_under_traffic; /* written by the drainer thread only */

static void *drainer(void *arg)
{
	struct drain *d = arg;

	while (!stop_drainer) {
		drain_all(d);
		drains_under_traffic++;
		usleep(1000);
	}
	return NULL;
}

/* --- the test -------------------------------------------------------------- */

#define RUN_WITH(test, ...)                                                       \
	do {                                                                      \
		int _before = tu_failures;                                        \
		test(__VA_ARGS__);                                                \
		printf("%s %s\n", tu_failures == _before ? "ok" : "FAIL", #test); \
	} while (0)

static bool tc_lists(const char *dev, const char *where, const char *needle)
{
	return strstr(sh_out("tc filter show dev %s %s 2>&1", dev, where), needle) != NULL;
}

static bool tc_empty(const char *dev, const char *where)
{
	const char *o = sh_out("tc filter show dev %s %s 2>&1", dev, where);

	if (*o)
		fprintf(stderr, "tc filter show dev %s %s:\n%s", dev, where, o);
	return *o == '\0';
}

static bool has_clsact(const char *dev)
{
	return strstr(sh_out("tc qdisc show dev %s", dev), "clsact") != NULL;
}

static void test_traffic(struct rig *r, int ifindex)
{
	struct xf_flow_key k;
	const struct xf_flow_stats *st;
	const int n4 = 50, n6 = 30, nping = 20;

	CHECK_U64(udp_pingpong(4, A_V4, 4000, B_V4, n4, 100), n4);
	CHECK_U64(udp_pingpong(6, A_V6, 4001, B_V6, n6, 200), n6);
	CHECK_U64(ping(B_V4, nping, 56), nping);
	CHECK_U64(tcp_exchange(4002), 0);
	drain_all(r->d);

	k = make_key(4, IPPROTO_UDP, A_V4, B_V4, 4000, UDP_ECHO_PORT, ifindex, XF_DIR_EGRESS);
	check_flow("udp4 egress", &k, n4, n4 * (20 + 8 + 100));
	k = make_key(4, IPPROTO_UDP, B_V4, A_V4, UDP_ECHO_PORT, 4000, ifindex, XF_DIR_INGRESS);
	check_flow("udp4 ingress", &k, n4, n4 * (20 + 8 + 100));
	k = make_key(6, IPPROTO_UDP, A_V6, B_V6, 4001, UDP_ECHO_PORT, ifindex, XF_DIR_EGRESS);
	check_flow("udp6 egress", &k, n6, n6 * (40 + 8 + 200));
	k = make_key(6, IPPROTO_UDP, B_V6, A_V6, UDP_ECHO_PORT, 4001, ifindex, XF_DIR_INGRESS);
	check_flow("udp6 ingress", &k, n6, n6 * (40 + 8 + 200));
	k = make_key(4, IPPROTO_ICMP, A_V4, B_V4, 0, 0x0800, ifindex, XF_DIR_EGRESS);
	check_flow("icmp echo request", &k, nping, nping * (20 + 8 + 56));
	k = make_key(4, IPPROTO_ICMP, B_V4, A_V4, 0, 0x0000, ifindex, XF_DIR_INGRESS);
	check_flow("icmp echo reply", &k, nping, nping * (20 + 8 + 56));

	/* TCP: segment counts depend on timing, the flags do not. */
	k = make_key(4, IPPROTO_TCP, A_V4, B_V4, 4002, TCP_SINK_PORT, ifindex, XF_DIR_EGRESS);
	st = find(&k);
	CHECK(st != NULL);
	if (st) {
		CHECK_U64(st->tcp_flags, 0x1b); /* SYN ACK PSH FIN */
		CHECK(st->packets >= 3 && st->octets >= 1000 + st->packets * 40);
	}
	k = make_key(4, IPPROTO_TCP, B_V4, A_V4, TCP_SINK_PORT, 4002, ifindex, XF_DIR_INGRESS);
	st = find(&k);
	CHECK(st != NULL);
	if (st) {
		CHECK_U64(st->tcp_flags, 0x13); /* SYN ACK FIN */
		CHECK(st->packets >= 2 && st->octets >= st->packets * 40);
	}
}

static void test_epoch_under_traffic(struct rig *r, int ifindex)
{
	struct xf_flow_key k;
	pthread_t th;
	const int per_round = 20000;
	uint64_t t0, n = 0;
	int rounds;

	stop_drainer = false;
	drains_under_traffic = 0;
	CHECK(pthread_create(&th, NULL, drainer, r->d) == 0);
	t0 = clock_mono_ms();
	/*
	 * Rounds of round trips until the drainer flipped the epoch at least 10
	 * times under them: on a loaded machine (make -j, VM tests beside) one
	 * round can take less time than 10 drains get the CPU for.
	 */
	for (rounds = 0; rounds < 10 && (rounds == 0 || drains_under_traffic < 10); rounds++) {
		CHECK_U64(udp_pingpong(4, A_V4, 4003, B_V4, per_round, 64), per_round);
		n += per_round;
	}
	stop_drainer = true;
	printf("%" PRIu64 " round trips in %" PRIu64 " ms (%d rounds)\n", n, clock_mono_ms() - t0,
	       rounds);
	pthread_join(th, NULL);
	/* Late updates to the map just drained land in the next-but-one drain. */
	drain_all(r->d);
	drain_all(r->d);
	printf("epoch flipped %d times under traffic\n", drains_under_traffic);
	CHECK(drains_under_traffic >= 10);
	k = make_key(4, IPPROTO_UDP, A_V4, B_V4, 4003, UDP_ECHO_PORT, ifindex, XF_DIR_EGRESS);
	check_flow("udp4 egress under flips", &k, n, n * (20 + 8 + 64));
	k = make_key(4, IPPROTO_UDP, B_V4, A_V4, UDP_ECHO_PORT, 4003, ifindex, XF_DIR_INGRESS);
	check_flow("udp4 ingress under flips", &k, n, n * (20 + 8 + 64));
}

/*
 * A second capture on the same interface is put in front of ours (the
 * kernel's automatic priority): both must still see every packet, and
 * removing it must leave ours and the qdisc in place.
 */
static void test_two_captures(struct rig *r, int ifindex)
{
	struct capture_opts o = { .kernel_max_flows = 1024 };
	const struct xf_flow_stats *st2;
	struct xf_flow_key k;
	struct rig rig2, *r2 = &rig2;
	char err[256];
	const int n = 25;

	CHECK_U64(rig_open(r2, &o, err, sizeof(err)), 0);
	if (!r2->c)
		return;
	CHECK_U64(tc_hook_attach(r2->h, ifindex), 0);
	CHECK_U64(udp_pingpong(4, A_V4, 4004, B_V4, n, 10), n);
	drain_all(r->d);

	/* r2's flows go to a table of their own. */
	pthread_mutex_lock(&table_lock);
	{
		struct flow saved[MAX_FLOWS];
		int saved_n = n_table;
		uint64_t saved_total = total_packets;

		memcpy(saved, table, sizeof(saved));
		n_table = 0;
		CHECK(drain_flows(r2->d, accumulate_unlocked, NULL) >= 0);
		CHECK(drain_flows(r2->d, accumulate_unlocked, NULL) >= 0);
		k = make_key(4, IPPROTO_UDP, A_V4, B_V4, 4004, UDP_ECHO_PORT, ifindex,
			     XF_DIR_EGRESS);
		st2 = find(&k);
		CHECK(st2 && st2->packets == (uint64_t)n);
		k = make_key(4, IPPROTO_UDP, B_V4, A_V4, UDP_ECHO_PORT, 4004, ifindex,
			     XF_DIR_INGRESS);
		st2 = find(&k);
		CHECK(st2 && st2->packets == (uint64_t)n);
		memcpy(table, saved, sizeof(saved));
		n_table = saved_n;
		total_packets = saved_total;
	}
	pthread_mutex_unlock(&table_lock);

	k = make_key(4, IPPROTO_UDP, A_V4, B_V4, 4004, UDP_ECHO_PORT, ifindex, XF_DIR_EGRESS);
	check_flow("udp4 egress behind a second capture", &k, n, n * (20 + 8 + 10));
	k = make_key(4, IPPROTO_UDP, B_V4, A_V4, UDP_ECHO_PORT, 4004, ifindex, XF_DIR_INGRESS);
	check_flow("udp4 ingress behind a second capture", &k, n, n * (20 + 8 + 10));

	CHECK_U64(tc_hook_detach(r2->h, ifindex), 0);
	CHECK(tc_hook_is_attached(r->h, ifindex));
	CHECK(has_clsact(veth_a));
	rig_close(r2);
	CHECK(tc_hook_is_attached(r->h, ifindex));
}

static void test_detach(struct rig *r, int ifindex)
{
	uint64_t cnt[XF_CNT_MAX];

	CHECK_U64(tc_hook_detach(r->h, ifindex), 0);
	CHECK(!tc_hook_is_attached(r->h, ifindex));
	CHECK(tc_empty(veth_a, "ingress"));
	CHECK(tc_empty(veth_a, "egress"));
	CHECK(!has_clsact(veth_a));
	CHECK_U64(tc_hook_detach(r->h, ifindex), -ENOENT);

	/* Nothing counts any more: every packet counted is in what we drained. */
	drain_all(r->d);
	drain_all(r->d);
	CHECK_U64(capture_read_counters(r->c, cnt), 0);
	CHECK_U64(cnt[XF_CNT_PACKETS],
		  total_packets + cnt[XF_CNT_SAMPLED_OUT] + cnt[XF_CNT_RB_LOST_PACKETS]);
	CHECK_U64(cnt[XF_CNT_MALFORMED], 0);
	printf("counters: %" PRIu64 " packets, %" PRIu64 " non-IP, %d flows\n",
	       (uint64_t)cnt[XF_CNT_PACKETS], (uint64_t)cnt[XF_CNT_NON_IP], n_table);
}

/* A clsact qdisc with someone else's filter: we add ours and take only ours away. */
static void test_foreign_filters(struct rig *r, int ifindex)
{
	CHECK_U64(sh("tc qdisc add dev %s clsact", veth_a), 0);
	CHECK_U64(sh("tc filter add dev %s ingress prio 7 protocol all u32 match u32 0 0", veth_a),
		  0);
	CHECK_U64(tc_hook_attach(r->h, ifindex), 0);
	CHECK(tc_hook_is_attached(r->h, ifindex));
	CHECK(tc_lists(veth_a, "ingress", "xf_tc_ingress"));
	CHECK_U64(tc_hook_detach(r->h, ifindex), 0);
	CHECK(tc_lists(veth_a, "ingress", "u32"));
	CHECK(!tc_lists(veth_a, "ingress", "xf_tc"));
	CHECK(tc_empty(veth_a, "egress"));
	CHECK(has_clsact(veth_a));
	CHECK_U64(sh("tc qdisc del dev %s clsact", veth_a), 0);

	/* Our qdisc, but someone added a filter after us: the qdisc stays. */
	CHECK_U64(tc_hook_attach(r->h, ifindex), 0);
	CHECK(has_clsact(veth_a));
	CHECK_U64(sh("tc filter add dev %s egress prio 9 protocol all u32 match u32 0 0", veth_a),
		  0);
	CHECK_U64(tc_hook_detach(r->h, ifindex), 0);
	CHECK(tc_empty(veth_a, "ingress"));
	CHECK(tc_lists(veth_a, "egress", "u32"));
	CHECK(!tc_lists(veth_a, "egress", "xf_tc"));
	CHECK(has_clsact(veth_a));
	CHECK_U64(sh("tc qdisc del dev %s clsact", veth_a), 0);

	/* Someone deleted our filter behind our back: not attached any more. */
	CHECK_U64(tc_hook_attach(r->h, ifindex), 0);
	CHECK_U64(sh("tc filter del dev %s ingress", veth_a), 0);
	CHECK(!tc_hook_is_attached(r->h, ifindex));
	CHECK_U64(tc_hook_detach(r->h, ifindex), 0);
	CHECK(tc_empty(veth_a, "egress"));
	CHECK(!has_clsact(veth_a));

	/* Only Ethernet framing: loopback is fine, and attaching twice is a no-op. */
	CHECK_U64(tc_hook_attach(r->h, ifindex), 0);
	CHECK_U64(tc_hook_attach(r->h, ifindex), 0);
	CHECK(tc_hook_is_attached(r->h, ifindex));
	CHECK_U64(tc_hook_attach(r->h, 999999), -ENODEV);
}

/* The priority of the first filter tc lists on one hook of dev (0 if none). */
static uint32_t tc_pref(const char *dev, const char *where)
{
	const char *o = strstr(sh_out("tc filter show dev %s %s 2>&1", dev, where), "pref ");
	unsigned int pref = 0;

	if (o)
		sscanf(o, "pref %u", &pref);
	return pref;
}

/*
 * Filters someone else removed are put back by tc_hook_repair, only the
 * missing ones, and traffic is counted again. Starts and ends attached.
 */
static void test_repair(struct rig *r, int ifindex)
{
	const int both = 1 << XF_DIR_INGRESS | 1 << XF_DIR_EGRESS, n = 11;
	struct xf_flow_key k;
	uint32_t pref_in, pref_eg;

	CHECK(tc_hook_is_attached(r->h, ifindex));
	CHECK_U64(tc_hook_repair(r->h, ifindex), 0);
	CHECK_U64(tc_hook_repair(r->h, 999999), -ENOENT);
	pref_in = tc_pref(veth_a, "ingress");
	pref_eg = tc_pref(veth_a, "egress");
	CHECK(pref_in && pref_eg);

	/* Which tc events concern our filters (pure bookkeeping, no kernel). */
	CHECK(tc_hook_event_affects(r->h, RTM_DELQDISC, ifindex, TC_H_CLSACT, 0));
	CHECK(!tc_hook_event_affects(r->h, RTM_DELQDISC, ifindex, TC_H_ROOT, 0));
	CHECK(!tc_hook_event_affects(r->h, RTM_DELQDISC, ifindex + 1000, TC_H_CLSACT, 0));
	CHECK(tc_hook_event_affects(r->h, RTM_DELTFILTER, ifindex,
				    TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS), pref_in));
	CHECK(tc_hook_event_affects(r->h, RTM_DELTFILTER, ifindex,
				    TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS), 0));
	CHECK(!tc_hook_event_affects(r->h, RTM_DELTFILTER, ifindex,
				     TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS), pref_in + 1));
	CHECK(tc_hook_event_affects(r->h, RTM_NEWTFILTER, ifindex,
				    TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS), pref_eg));
	CHECK(!tc_hook_event_affects(r->h, RTM_NEWTFILTER, ifindex,
				     TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS), 0));
	CHECK(!tc_hook_event_affects(r->h, RTM_NEWQDISC, ifindex, TC_H_CLSACT, 0));

	/* The qdisc went, with both filters: both come back, in a clsact of ours. */
	CHECK_U64(sh("tc qdisc del dev %s clsact", veth_a), 0);
	CHECK(!tc_hook_is_attached(r->h, ifindex));
	CHECK_U64(tc_hook_repair(r->h, ifindex), both);
	CHECK(tc_hook_is_attached(r->h, ifindex));
	CHECK_U64(tc_hook_repair(r->h, ifindex), 0);
	CHECK_U64(udp_pingpong(4, A_V4, 4005, B_V4, n, 30), n);
	drain_all(r->d);
	k = make_key(4, IPPROTO_UDP, A_V4, B_V4, 4005, UDP_ECHO_PORT, ifindex, XF_DIR_EGRESS);
	check_flow("udp4 egress after the qdisc was put back", &k, n, n * (20 + 8 + 30));
	k = make_key(4, IPPROTO_UDP, B_V4, A_V4, UDP_ECHO_PORT, 4005, ifindex, XF_DIR_INGRESS);
	check_flow("udp4 ingress after the qdisc was put back", &k, n, n * (20 + 8 + 30));

	/* One filter went: only it comes back; the other is left as it was. */
	pref_eg = tc_pref(veth_a, "egress");
	CHECK_U64(sh("tc filter del dev %s ingress", veth_a), 0);
	CHECK_U64(tc_hook_repair(r->h, ifindex), 1 << XF_DIR_INGRESS);
	CHECK_U64(tc_pref(veth_a, "egress"), pref_eg);
	CHECK(tc_lists(veth_a, "ingress", "xf_tc_ingress"));
	CHECK_U64(udp_pingpong(4, A_V4, 4006, B_V4, n, 30), n);
	drain_all(r->d);
	k = make_key(4, IPPROTO_UDP, B_V4, A_V4, UDP_ECHO_PORT, 4006, ifindex, XF_DIR_INGRESS);
	check_flow("udp4 ingress after its filter was put back", &k, n, n * (20 + 8 + 30));

	/*
	 * The interface refuses: the legacy ingress qdisc where clsact was (no
	 * egress hook: the kernel would put an egress filter in its ingress
	 * block). Nothing is attached; once it goes, both come back.
	 */
	CHECK_U64(sh("tc qdisc del dev %s clsact && tc qdisc add dev %s ingress", veth_a, veth_a),
		  0);
	CHECK_U64(tc_hook_repair(r->h, ifindex), -EBUSY);
	CHECK_U64(tc_hook_repair(r->h, ifindex), -EBUSY);
	CHECK(tc_empty(veth_a, "ingress"));
	CHECK_U64(sh("tc qdisc del dev %s ingress", veth_a), 0);
	CHECK_U64(tc_hook_repair(r->h, ifindex), both);
	CHECK(tc_hook_is_attached(r->h, ifindex));
	CHECK(has_clsact(veth_a));
}

/*
 * VLAN subinterfaces over the veth pair: veth offloads the tag, so our
 * programs on the veth see it in skb->vlan_tci (vlan_present), not in the
 * packet, on egress and on ingress alike.
 */
static void test_vlan_offload(struct rig *r, int ifindex)
{
	struct xf_flow_key k;
	const int n = 7;

	char cmd[128];

	snprintf(cmd, sizeof(cmd), "ip link add link %s name %s.100 type vlan id 100 2>/dev/null",
		 veth_a, veth_a);
	if (system(cmd) != 0) {
		fprintf(stderr, "FAIL: no 802.1Q in this kernel (%s)\n", cmd);
		CHECK(0);
		return;
	}
	if (sh("ip -n %s link add link %s name %s.100 type vlan id 100", ns_b, veth_b, veth_b) ||
	    sh("ip addr add 198.18.100.1/24 dev %s.100 && ip link set %s.100 up", veth_a, veth_a) ||
	    sh("ip -n %s addr add 198.18.100.2/24 dev %s.100 && ip -n %s link set %s.100 up", ns_b,
	       veth_b, ns_b, veth_b)) {
		CHECK(0);
		return;
	}
	CHECK_U64(ping("198.18.100.2", n, 56), n);
	drain_all(r->d);
	k = make_key(4, IPPROTO_ICMP, "198.18.100.1", "198.18.100.2", 0, 0x0800, ifindex,
		     XF_DIR_EGRESS);
	k.vlan_id = 100;
	check_flow("icmp echo on vlan 100, egress", &k, n, n * 84);
	k = make_key(4, IPPROTO_ICMP, "198.18.100.2", "198.18.100.1", 0, 0, ifindex,
		     XF_DIR_INGRESS);
	k.vlan_id = 100;
	check_flow("icmp echo reply on vlan 100, ingress", &k, n, n * 84);
	sh("ip link del %s.100", veth_a);
	sh("ip -n %s link del %s.100", ns_b, veth_b);
}

/* An interface deleted under us: detach succeeds, a re-created one is attached anew. */
static void test_vanished_interface(struct rig *r)
{
	char name[IF_NAMESIZE];
	int idx, idx2;

	snprintf(name, sizeof(name), "xfc%d", (int)owner);
	CHECK_U64(sh("ip link add xfc%d type veth peer name xfd%d", (int)owner, (int)owner), 0);
	idx = (int)if_nametoindex(name);
	CHECK(idx > 0);
	CHECK_U64(tc_hook_attach(r->h, idx), 0);
	CHECK(tc_hook_is_attached(r->h, idx));
	CHECK_U64(sh("ip link del xfc%d", (int)owner), 0);
	CHECK(!tc_hook_is_attached(r->h, idx));
	CHECK_U64(tc_hook_detach(r->h, idx), 0);

	/* Same again, but attach (not detach) after the interface came back. */
	CHECK_U64(sh("ip link add xfc%d index %d type veth peer name xfd%d", (int)owner, idx,
		     (int)owner),
		  0);
	CHECK_U64(tc_hook_attach(r->h, idx), 0);
	CHECK_U64(sh("ip link del xfc%d", (int)owner), 0);
	CHECK_U64(sh("ip link add xfc%d index %d type veth peer name xfd%d", (int)owner, idx,
		     (int)owner),
		  0);
	idx2 = (int)if_nametoindex(name);
	CHECK_U64(idx2, idx);
	CHECK(!tc_hook_is_attached(r->h, idx));
	CHECK_U64(tc_hook_attach(r->h, idx), 0);
	CHECK(tc_hook_is_attached(r->h, idx));
	CHECK(tc_lists(name, "ingress", "xf_tc_ingress"));
	CHECK_U64(tc_hook_detach(r->h, idx), 0);
	CHECK_U64(sh("ip link del xfc%d", (int)owner), 0);
}

int main(int argc, char **argv)
{
	struct capture_opts o = { .kernel_max_flows = 4096 };
	struct rig rig, *r = &rig;
	char err[256];
	int ready[2], ifindex;
	char byte;

	owner = getpid();
	log_init(true, LOG_LEVEL_WARN, "capture_test");
	if (geteuid() != 0 || !tu_bpf_capable()) {
		printf("SKIP: needs root with CAP_BPF and CAP_NET_ADMIN (network namespaces, "
		       "BPF)\n");
		return 77;
	}
	if (system("ip netns list >/dev/null 2>&1 && tc -V >/dev/null 2>&1") != 0) {
		printf("SKIP: needs iproute2 (ip, tc)\n");
		return 77;
	}
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGALRM, on_signal);
	alarm(180);

	if (setup_netns()) {
		fprintf(stderr, "cannot set up the namespaces\n");
		return 1;
	}
	if (pipe(ready))
		return 1;
	child = fork();
	if (child == 0) {
		close(ready[0]);
		peer_main(ready[1]);
		_exit(0);
	}
	close(ready[1]);
	if (read(ready[0], &byte, 1) != 1) {
		fprintf(stderr, "peer in %s did not start\n", ns_b);
		return 1;
	}
	if (enter_netns(ns_a)) {
		fprintf(stderr, "cannot enter %s\n", ns_a);
		return 1;
	}
	ifindex = (int)if_nametoindex(veth_a);
	CHECK(ifindex > 0);

	/* main() checked the capabilities: a load failure now is ours */
	if (rig_open(r, &o, err, sizeof(err))) {
		fprintf(stderr, "FAIL: %s\n", err);
		return 1;
	}
	CHECK_STR(tc_hook_attach_mode(r->h), "tc clsact");
	CHECK_U64(tc_hook_attach(r->h, ifindex), 0);
	CHECK(tc_hook_is_attached(r->h, ifindex));
	CHECK(tc_lists(veth_a, "ingress", "xf_tc_ingress"));
	CHECK(tc_lists(veth_a, "egress", "xf_tc_egress"));
	CHECK(has_clsact(veth_a));

	/*
	 * `capture_test vlan`: the VLAN check alone, in the VM
	 * (tests/vm/capture-vlan.test) on Debian's kernel, which has 802.1Q;
	 * the CI machines' kernel has not, so the host run leaves it out
	 * rather than skipping it.
	 */
	if (argc > 1 && strcmp(argv[1], "vlan") == 0) {
		RUN_WITH(test_vlan_offload, r, ifindex);
		rig_close(r);
		cleanup();
		return tu_finish();
	}
	printf("# test_vlan_offload runs in tests/vm/capture-vlan.test\n");
	RUN_WITH(test_traffic, r, ifindex);
	RUN_WITH(test_epoch_under_traffic, r, ifindex);
	RUN_WITH(test_two_captures, r, ifindex);
	RUN_WITH(test_detach, r, ifindex);
	RUN_WITH(test_foreign_filters, r, ifindex);
	RUN_WITH(test_repair, r, ifindex);
	RUN_WITH(test_vanished_interface, r);

	/* tc_hook_free detaches what is still attached. */
	rig_close(r);
	CHECK(tc_empty(veth_a, "ingress"));
	CHECK(tc_empty(veth_a, "egress"));
	CHECK(!has_clsact(veth_a));
	cleanup();
	return tu_finish();
}
