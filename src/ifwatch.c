/* SPDX-License-Identifier: GPL-2.0-only */
#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include "errbuf.h"
#include "ifwatch.h"
#include "log.h"

struct ifwatch {
	struct mnl_socket *nl;
	ifwatch_cb cb;
	void *ctx;
};

struct ifwatch *ifwatch_open(ifwatch_cb cb, void *ctx, char *err, size_t err_len)
{
	struct ifwatch *w = g_new0(struct ifwatch, 1);
	int rcvbuf = 4 << 20;

	w->cb = cb;
	w->ctx = ctx;
	w->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!w->nl) {
		errbuf_set(err, err_len, -errno, "rtnetlink socket: %s", strerror(errno));
		goto fail;
	}
	if (mnl_socket_bind(w->nl, RTMGRP_LINK, MNL_SOCKET_AUTOPID) < 0) {
		errbuf_set(err, err_len, -errno, "rtnetlink bind: %s", strerror(errno));
		goto fail;
	}
	/* Interface storms (hundreds of veths) should not overflow the socket;
	 * when they do, dispatch returns -ENOBUFS and the daemon rescans. */
	setsockopt(mnl_socket_get_fd(w->nl), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
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
	g_free(w);
}

int ifwatch_fd(const struct ifwatch *w)
{
	return mnl_socket_get_fd(w->nl);
}

int ifwatch_scan(struct ifwatch *w)
{
	struct if_nameindex *list = if_nameindex(), *p;

	if (!list)
		return -errno;
	for (p = list; p->if_index; p++)
		w->cb(w->ctx, (int)p->if_index, p->if_name, true);
	if_freenameindex(list);
	return 0;
}

static int link_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;

	if (mnl_attr_get_type(attr) == IFLA_IFNAME && mnl_attr_validate(attr, MNL_TYPE_STRING) >= 0)
		tb[IFLA_IFNAME] = attr;
	return MNL_CB_OK;
}

static int link_msg_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ifwatch *w = data;
	const struct nlattr *tb[IFLA_MAX + 1] = { 0 };
	struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
	char name[IF_NAMESIZE];

	if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK)
		return MNL_CB_OK;
	mnl_attr_parse(nlh, sizeof(*ifm), link_attr_cb, tb);
	if (!tb[IFLA_IFNAME])
		return MNL_CB_OK;
	g_strlcpy(name, mnl_attr_get_str(tb[IFLA_IFNAME]), sizeof(name));
	w->cb(w->ctx, ifm->ifi_index, name, nlh->nlmsg_type == RTM_NEWLINK);
	return MNL_CB_OK;
}

int ifwatch_dispatch(struct ifwatch *w)
{
	char buf[MNL_SOCKET_BUFFER_SIZE * 4];

	for (;;) {
		ssize_t n = mnl_socket_recvfrom(w->nl, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (mnl_cb_run(buf, (size_t)n, 0, 0, link_msg_cb, w) < 0 && errno != ESRCH)
			log_debug("rtnetlink: %s", strerror(errno));
	}
}
