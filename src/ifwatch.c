/* SPDX-License-Identifier: GPL-2.0-only */
#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>

#include "errbuf.h"
#include "ifwatch.h"
#include "log.h"

/*
 * A link message is about 1.5 KiB; its alternative names can take it to
 * 64 KiB (the kernel caps the property list there). The read buffer starts
 * small and grows to the size of a message that did not fit (that one is
 * lost, and the caller rescans), up to READ_BUF_MAX.
 */
#define READ_BUF_START (16 * 1024)
#define READ_BUF_MAX (1024 * 1024)
/* Interface storms (hundreds of veths) should not overflow the socket. */
#define RCVBUF_BYTES (4 << 20)
/* Reads spent discarding a queue after a loss, at most (a storm may go on). */
#define DISCARD_MAX 65536

struct ifwatch {
	struct mnl_socket *nl;
	ifwatch_cb cb;
	ifwatch_tc_cb tc_cb;
	void *ctx;
	char *buf;
	size_t buf_len;
};

struct ifwatch *ifwatch_open(ifwatch_cb cb, ifwatch_tc_cb tc_cb, void *ctx, char *err,
			     size_t err_len)
{
	struct ifwatch *w = g_new0(struct ifwatch, 1);
	unsigned int groups = RTMGRP_LINK | (tc_cb ? RTMGRP_TC : 0);
	int rcvbuf = RCVBUF_BYTES, fd;

	w->cb = cb;
	w->tc_cb = tc_cb;
	w->ctx = ctx;
	w->buf_len = READ_BUF_START;
	w->buf = g_malloc(w->buf_len);
	w->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!w->nl) {
		errbuf_set(err, err_len, -errno, "rtnetlink socket: %s", strerror(errno));
		goto fail;
	}
	if (mnl_socket_bind(w->nl, groups, MNL_SOCKET_AUTOPID) < 0) {
		errbuf_set(err, err_len, -errno, "rtnetlink bind: %s", strerror(errno));
		goto fail;
	}
	/*
	 * SO_RCVBUF is silently capped at net.core.rmem_max (208 KiB by
	 * default); with CAP_NET_ADMIN the force variant is not. Overflows
	 * still can happen: dispatch reports them and the daemon rescans.
	 */
	fd = mnl_socket_get_fd(w->nl);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	return w;
fail:
	ifwatch_free(w);
	return NULL;
}

void ifwatch_free(struct ifwatch *w)
{
	if (!w)
		return;
	if (w->nl)
		mnl_socket_close(w->nl);
	g_free(w->buf);
	g_free(w);
}

int ifwatch_fd(const struct ifwatch *w)
{
	return mnl_socket_get_fd(w->nl);
}

static int link_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;

	if (mnl_attr_get_type(attr) == IFLA_IFNAME && mnl_attr_validate(attr, MNL_TYPE_STRING) >= 0)
		tb[IFLA_IFNAME] = attr;
	return MNL_CB_OK;
}

/* The interface name of a link message, "" when it has none. */
static void link_attr_name(const struct nlmsghdr *nlh, char name[IF_NAMESIZE])
{
	const struct nlattr *tb[IFLA_MAX + 1] = { 0 };

	name[0] = '\0';
	mnl_attr_parse(nlh, sizeof(struct ifinfomsg), link_attr_cb, tb);
	if (tb[IFLA_IFNAME])
		g_strlcpy(name, mnl_attr_get_str(tb[IFLA_IFNAME]), IF_NAMESIZE);
}

/* Reads one whole datagram into *buf, grown to fit; the length or -errno. */
static ssize_t recv_whole(int fd, char **buf, size_t *len)
{
	ssize_t n = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC);

	if (n < 0)
		return -errno;
	if ((size_t)n > *len) {
		*len = (size_t)n;
		*buf = g_realloc(*buf, *len);
	}
	n = recv(fd, *buf, *len, 0);
	return n < 0 ? -errno : n;
}

struct link_list {
	GArray *index;	 /* of int */
	GPtrArray *name; /* of char * */
	bool interrupted;
};

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct link_list *list = data;
	const struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
	char name[IF_NAMESIZE];

	if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
		list->interrupted = true;
	if (nlh->nlmsg_type != RTM_NEWLINK || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifm)))
		return MNL_CB_OK;
	link_attr_name(nlh, name);
	if (!name[0])
		return MNL_CB_OK;
	g_array_append_val(list->index, ifm->ifi_index);
	g_ptr_array_add(list->name, g_strdup(name));
	return MNL_CB_OK;
}

/*
 * Every interface, by an RTM_GETLINK dump of our own: if_nameindex()'s list
 * ends early, without an error, at a link with many alternative names
 * (see the extension mask below), and a short list would make the daemon
 * forget interfaces that are there. 0 or -errno.
 */
static int dump_links(struct link_list *list)
{
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	size_t len = READ_BUF_START;
	char *buf = g_malloc(len);
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifm;
	unsigned int seq = 1, portid;
	int ret;

	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	/*
	 * Without an extension mask the kernel sizes each dump message for an
	 * ordinary link and silently ends the dump at one that does not fit
	 * (many alternative names); with one it sizes them for the largest.
	 */
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		ret = -errno;
		goto out;
	}
	for (;;) {
		ssize_t n = recv_whole(mnl_socket_get_fd(nl), &buf, &len);

		if (n == -EINTR)
			continue;
		if (n < 0) {
			ret = (int)n;
			goto out;
		}
		ret = mnl_cb_run(buf, (size_t)n, seq, portid, dump_cb, list);
		if (ret < 0) {
			ret = -errno;
			goto out;
		}
		if (ret == MNL_CB_STOP)
			break;
	}
	ret = 0;
out:
	if (nl)
		mnl_socket_close(nl);
	g_free(buf);
	return ret;
}

int ifwatch_scan(struct ifwatch *w)
{
	struct link_list list;
	int ret;

	/* A dump the kernel says was interrupted (links changed) may miss some: again. */
	for (int attempt = 0;; attempt++) {
		list.index = g_array_new(FALSE, FALSE, sizeof(int));
		list.name = g_ptr_array_new_with_free_func(g_free);
		list.interrupted = false;
		ret = dump_links(&list);
		if (!ret && list.interrupted)
			ret = -EINTR;
		if (ret != -EINTR || attempt == 4)
			break;
		g_array_free(list.index, TRUE);
		g_ptr_array_free(list.name, TRUE);
	}
	for (guint i = 0; !ret && i < list.index->len; i++)
		w->cb(w->ctx, g_array_index(list.index, int, i), g_ptr_array_index(list.name, i),
		      true);
	g_array_free(list.index, TRUE);
	g_ptr_array_free(list.name, TRUE);
	return ret;
}

static void link_msg(struct ifwatch *w, const struct nlmsghdr *nlh)
{
	struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
	char name[IF_NAMESIZE];

	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifm)))
		return;
	link_attr_name(nlh, name);
	if (name[0])
		w->cb(w->ctx, ifm->ifi_index, name, nlh->nlmsg_type == RTM_NEWLINK);
}

static void tc_msg(struct ifwatch *w, const struct nlmsghdr *nlh)
{
	const struct tcmsg *tcm = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*tcm)))
		return;
	w->tc_cb(w->ctx, nlh->nlmsg_type, tcm->tcm_ifindex, tcm->tcm_parent,
		 TC_H_MAJ(tcm->tcm_info) >> 16);
}

static int msg_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ifwatch *w = data;

	switch (nlh->nlmsg_type) {
	case RTM_NEWLINK:
	case RTM_DELLINK: link_msg(w, nlh); break;
	case RTM_DELQDISC:
	case RTM_NEWTFILTER:
	case RTM_DELTFILTER:
	case RTM_DELCHAIN:
		if (w->tc_cb)
			tc_msg(w, nlh);
		break;
	default: break;
	}
	return MNL_CB_OK;
}

/* After a loss: what is queued is older than the rescan that follows. */
static void discard_queue(struct ifwatch *w)
{
	for (int i = 0; i < DISCARD_MAX; i++) {
		ssize_t n = recv(ifwatch_fd(w), w->buf, w->buf_len, MSG_TRUNC);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0 && errno != EINTR && errno != ENOBUFS)
			return;
	}
}

int ifwatch_dispatch(struct ifwatch *w)
{
	for (;;) {
		/* MSG_TRUNC: a netlink socket returns the whole message's length */
		ssize_t n = recv(ifwatch_fd(w), w->buf, w->buf_len, MSG_TRUNC);
		int rc;

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			rc = -errno;
			discard_queue(w);
			return rc;
		}
		if ((size_t)n > w->buf_len) {
			log_warnx("rtnetlink: a %zd-byte message did not fit the %zu-byte read "
				  "buffer and is lost",
				  n, w->buf_len);
			if (w->buf_len < READ_BUF_MAX) {
				w->buf_len = MIN(((size_t)n + 4095) & ~(size_t)4095, READ_BUF_MAX);
				w->buf = g_realloc(w->buf, w->buf_len);
			}
			discard_queue(w);
			return -ENOSPC;
		}
		if (mnl_cb_run(w->buf, (size_t)n, 0, 0, msg_cb, w) < 0 && errno != ESRCH)
			log_debug("rtnetlink: %s", strerror(errno));
	}
}
