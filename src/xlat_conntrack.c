// SPDX-License-Identifier: GPL-2.0-only
/*
 * Conntrack netlink as a translation source. Two netlink sockets: one bound
 * to the NEW/UPDATE/DESTROY multicast groups (non-blocking, large receive
 * buffer, a socket filter that drops untranslated connections in the
 * kernel), one for table dumps, so a dump reply never interleaves with
 * events. One epoll descriptor joins the event socket and a timerfd that
 * schedules the dumps; that is the descriptor the daemon waits on.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/filter.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>

#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "errbuf.h"
#include "flow.h"
#include "log.h"
#include "xlat_conntrack.h"

/* Events are bursty (a SYN flood through a NAT makes one per packet). */
#define XLAT_CT_RCVBUF (16 * 1024 * 1024)
/* Dump replies pack many messages per datagram. */
#define XLAT_CT_DUMP_BUF (64 * 1024)
/* Datagrams per dispatch, so one busy source cannot starve the event loop. */
#define XLAT_CT_MAX_READS 4096

struct xlat_conntrack {
	struct mnl_socket *events; /* multicast groups */
	struct mnl_socket *dumper; /* request/response */
	int timer_fd;
	int epoll_fd;
	uint32_t dump_seq;
	uint64_t refresh_ms;
	bool resync_due;
	int callbacks; /* made in the current dispatch */

	xlat_conntrack_cb cb;
	void *ctx;
	xlat_conntrack_cb destroy_cb;
	void *destroy_ctx;

	struct xlat_conntrack_stats stats;
	char buf[XLAT_CT_DUMP_BUF];
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Attribute ids of one direction's tuple. */
struct tuple_attrs {
	enum nf_conntrack_attr l3, l4, v4_src, v4_dst, v6_src, v6_dst, sport, dport;
};

static const struct tuple_attrs orig_attrs = {
	ATTR_L3PROTO,  ATTR_L4PROTO,  ATTR_IPV4_SRC, ATTR_IPV4_DST,
	ATTR_IPV6_SRC, ATTR_IPV6_DST, ATTR_PORT_SRC, ATTR_PORT_DST,
};

static const struct tuple_attrs reply_attrs = {
	ATTR_REPL_L3PROTO,  ATTR_REPL_L4PROTO,	ATTR_REPL_IPV4_SRC, ATTR_REPL_IPV4_DST,
	ATTR_REPL_IPV6_SRC, ATTR_REPL_IPV6_DST, ATTR_REPL_PORT_SRC, ATTR_REPL_PORT_DST,
};

/* Fill t from ct; -EINVAL when attributes are missing, -EAFNOSUPPORT for other families. */
static int tuple_from_ct(const struct nf_conntrack *ct, const struct tuple_attrs *a,
			 struct xf_tuple *t)
{
	memset(t, 0, sizeof(*t));
	if (!nfct_attr_is_set(ct, a->l3) || !nfct_attr_is_set(ct, a->l4))
		return -EINVAL;
	t->proto = nfct_get_attr_u8(ct, a->l4);
	switch (nfct_get_attr_u8(ct, a->l3)) {
	case AF_INET:
		if (!nfct_attr_is_set(ct, a->v4_src) || !nfct_attr_is_set(ct, a->v4_dst))
			return -EINVAL;
		t->family = XF_FAMILY_IPV4;
		memcpy(t->src_addr, nfct_get_attr(ct, a->v4_src), 4);
		memcpy(t->dst_addr, nfct_get_attr(ct, a->v4_dst), 4);
		break;
	case AF_INET6:
		if (!nfct_attr_is_set(ct, a->v6_src) || !nfct_attr_is_set(ct, a->v6_dst))
			return -EINVAL;
		t->family = XF_FAMILY_IPV6;
		memcpy(t->src_addr, nfct_get_attr(ct, a->v6_src), 16);
		memcpy(t->dst_addr, nfct_get_attr(ct, a->v6_dst), 16);
		break;
	default: return -EAFNOSUPPORT;
	}
	/* ICMP id/type/code are not ports: 0, as the kernel hook reports them. */
	if (flow_proto_has_ports(t->proto) && nfct_attr_is_set(ct, a->sport) &&
	    nfct_attr_is_set(ct, a->dport)) {
		t->src_port = ntohs(nfct_get_attr_u16(ct, a->sport));
		t->dst_port = ntohs(nfct_get_attr_u16(ct, a->dport));
	}
	return 0;
}

/* O == rev(R): the connection was not translated. */
static bool untranslated(const struct xf_xlat_event *ev)
{
	const struct xf_tuple *o = &ev->orig, *r = &ev->reply;

	return memcmp(o->src_addr, r->dst_addr, 16) == 0 &&
	       memcmp(o->dst_addr, r->src_addr, 16) == 0 && o->src_port == r->dst_port &&
	       o->dst_port == r->src_port;
}

static int event_from_ct(const struct nf_conntrack *ct, struct xf_xlat_event *ev)
{
	int ret;

	memset(ev, 0, sizeof(*ev));
	ret = tuple_from_ct(ct, &orig_attrs, &ev->orig);
	if (ret == 0)
		ret = tuple_from_ct(ct, &reply_attrs, &ev->reply);
	if (ret)
		return ret;
	if (nfct_attr_is_set(ct, ATTR_ZONE))
		ev->zone_id = nfct_get_attr_u16(ct, ATTR_ZONE);
	else if (nfct_attr_is_set(ct, ATTR_ORIG_ZONE)) /* directional zone */
		ev->zone_id = nfct_get_attr_u16(ct, ATTR_ORIG_ZONE);
	ev->ts_ns = now_ns();
	ev->source = XF_XLAT_SRC_CONNTRACK;
	return 0;
}

/* One ctnetlink message, from an event or a dump. */
static int handle_msg(const struct nlmsghdr *nlh, void *data)
{
	struct xlat_conntrack *c = data;
	struct xf_xlat_event ev;
	struct nf_conntrack *ct;
	bool destroy;
	int ret;

	if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_CTNETLINK)
		return MNL_CB_OK;
	destroy = NFNL_MSG_TYPE(nlh->nlmsg_type) == IPCTNL_MSG_CT_DELETE;

	ct = nfct_new();
	if (!ct)
		abort();
	if (nfct_nlmsg_parse(nlh, ct) < 0) {
		c->stats.errors++;
		goto out;
	}
	/* The socket filter already did this for events; dumps need it. */
	if (nfct_attr_is_set(ct, ATTR_STATUS) &&
	    !(nfct_get_attr_u32(ct, ATTR_STATUS) & IPS_NAT_MASK)) {
		c->stats.ignored++;
		goto out;
	}
	ret = event_from_ct(ct, &ev);
	if (ret == -EINVAL)
		c->stats.errors++;
	if (ret || untranslated(&ev)) {
		c->stats.ignored += ret != -EINVAL;
		goto out;
	}
	if (destroy) {
		if (c->destroy_cb) {
			c->destroy_cb(c->destroy_ctx, &ev);
			c->stats.destroyed++;
			c->callbacks++;
		}
	} else {
		c->cb(c->ctx, &ev);
		c->stats.reported++;
		c->callbacks++;
	}
out:
	nfct_destroy(ct);
	return MNL_CB_OK;
}

static int handle_event(const struct nlmsghdr *nlh, void *data)
{
	struct xlat_conntrack *c = data;

	c->stats.events++;
	return handle_msg(nlh, data);
}

/*
 * Drop events of untranslated connections in the kernel: on a busy host
 * they are most of the traffic and would only fill the receive buffer.
 * The program finds CTA_STATUS after the nfgenmsg header and keeps the
 * message when IPS_SRC_NAT or IPS_DST_NAT is set, or when it cannot tell.
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

/* Send a request on the dump socket and run cb over the replies until done. */
static int request(struct xlat_conntrack *c, uint8_t type, uint16_t flags, mnl_cb_t cb)
{
	uint32_t seq = ++c->dump_seq;
	uint32_t portid = mnl_socket_get_portid(c->dumper);
	struct nlmsghdr *nlh = put_request(c->buf, type, flags, seq);
	ssize_t n;
	int ret;

	if (mnl_socket_sendto(c->dumper, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		n = mnl_socket_recvfrom(c->dumper, c->buf, sizeof(c->buf));
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

static int handle_stats(const struct nlmsghdr *nlh, void *data)
{
	return MNL_CB_OK;
}

int xlat_conntrack_resync(struct xlat_conntrack *c)
{
	int before = c->callbacks, ret;

	c->resync_due = false;
	ret = request(c, IPCTNL_MSG_CT_GET, NLM_F_DUMP, handle_msg);
	if (ret < 0) {
		log_warnx("conntrack netlink: table dump: %s", strerror(-ret));
		return ret;
	}
	c->stats.dumps++;
	return c->callbacks - before;
}

static int arm_timer(struct xlat_conntrack *c, uint64_t first_ns)
{
	struct itimerspec its = { 0 };

	its.it_value.tv_sec = (time_t)(first_ns / 1000000000ULL);
	its.it_value.tv_nsec = (long)(first_ns % 1000000000ULL);
	its.it_interval.tv_sec = (time_t)(c->refresh_ms / 1000);
	its.it_interval.tv_nsec = (long)(c->refresh_ms % 1000) * 1000000L;
	/* it_value 0 disarms: refresh off and nothing pending. */
	return timerfd_settime(c->timer_fd, 0, &its, NULL) < 0 ? -errno : 0;
}

int xlat_conntrack_set_refresh(struct xlat_conntrack *c, uint64_t interval_ms)
{
	c->refresh_ms = interval_ms;
	/* Keep a pending start dump pending; otherwise start a new period. */
	return arm_timer(c, c->resync_due ? 1 : interval_ms * 1000000ULL);
}

void xlat_conntrack_set_destroy_cb(struct xlat_conntrack *c, xlat_conntrack_cb cb, void *ctx)
{
	c->destroy_cb = cb;
	c->destroy_ctx = ctx;
}

struct xlat_conntrack *xlat_conntrack_open(xlat_conntrack_cb cb, void *ctx, char *err, size_t len)
{
	struct xlat_conntrack *c = calloc(1, sizeof(*c));
	struct epoll_event ev = { .events = EPOLLIN };
	const char *step;
	int ret;

	if (!c)
		abort();
	c->cb = cb;
	c->ctx = ctx;
	c->timer_fd = -1;
	c->epoll_fd = -1;
	c->refresh_ms = XLAT_CONNTRACK_REFRESH_MS;

	step = "socket";
	c->events = mnl_socket_open(NETLINK_NETFILTER);
	c->dumper = mnl_socket_open(NETLINK_NETFILTER);
	if (!c->events || !c->dumper)
		goto fail;
	/* Subscribe before the first dump so nothing falls between the two. */
	step = "bind";
	if (mnl_socket_bind(c->events,
			    NF_NETLINK_CONNTRACK_NEW | NF_NETLINK_CONNTRACK_UPDATE |
				    NF_NETLINK_CONNTRACK_DESTROY,
			    MNL_SOCKET_AUTOPID) < 0)
		goto fail;
	if (mnl_socket_bind(c->dumper, 0, MNL_SOCKET_AUTOPID) < 0)
		goto fail;
	set_rcvbuf(mnl_socket_get_fd(c->events));
	if (attach_nat_filter(mnl_socket_get_fd(c->events)) < 0)
		log_warn("conntrack netlink: socket filter (untranslated events reach userspace)");

	/* Ask for the global counters: fails here, not later, without ctnetlink. */
	step = "IPCTNL_MSG_CT_GET_STATS";
	ret = request(c, IPCTNL_MSG_CT_GET_STATS, 0, handle_stats);
	if (ret < 0) {
		errno = -ret;
		goto fail;
	}

	step = "timerfd";
	c->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (c->timer_fd < 0)
		goto fail;
	step = "epoll";
	c->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (c->epoll_fd < 0)
		goto fail;
	ev.data.fd = mnl_socket_get_fd(c->events);
	if (epoll_ctl(c->epoll_fd, EPOLL_CTL_ADD, ev.data.fd, &ev) < 0)
		goto fail;
	ev.data.fd = c->timer_fd;
	if (epoll_ctl(c->epoll_fd, EPOLL_CTL_ADD, c->timer_fd, &ev) < 0)
		goto fail;
	/* Fire at once: the first dispatch does the start dump. */
	c->resync_due = true;
	step = "timerfd_settime";
	ret = arm_timer(c, 1);
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

int xlat_conntrack_dispatch(struct xlat_conntrack *c)
{
	int fd = mnl_socket_get_fd(c->events);
	uint64_t expirations;
	ssize_t n;
	int ret;

	c->callbacks = 0;
	for (int i = 0; i < XLAT_CT_MAX_READS; i++) {
		n = recv(fd, c->buf, sizeof(c->buf), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				/* Events were lost; a dump brings the table back. */
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
	if (read(c->timer_fd, &expirations, sizeof(expirations)) == sizeof(expirations))
		c->resync_due = true;
	/* A failed dump is retried at the next refresh. */
	if (c->resync_due) {
		ret = xlat_conntrack_resync(c);
		if (ret < 0)
			return ret;
	}
	return c->callbacks;
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
	if (c->timer_fd >= 0)
		close(c->timer_fd);
	if (c->events)
		mnl_socket_close(c->events);
	if (c->dumper)
		mnl_socket_close(c->dumper);
	free(c);
}
