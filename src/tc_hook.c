// SPDX-License-Identifier: GPL-2.0-only
/*
 * Attaching a pair of BPF programs with tc clsact (cls_bpf, direct action).
 * Filters get kernel-chosen handles and priorities so we never collide with
 * someone else's; we remember them and remove exactly those. Filters a
 * killed xlatflowd left behind are removed when we attach. Filters someone
 * else removed (tc qdisc del, a CNI plugin) are put back by tc_hook_repair,
 * with new kernel-chosen priorities: our programs return TC_ACT_UNSPEC, so
 * wherever they land in the order they change no other filter's verdict.
 */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include <glib.h>
#include <libmnl/libmnl.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>

#include "log.h"
#include "tc_hook.h"
#include "xlatflow_shared.h"

/* One interface we attached to. Index 0 is ingress, 1 egress (XF_DIR_*). */
struct tc_link {
	int ifindex;
	uint32_t handle[2];
	uint32_t priority[2];
	bool created_qdisc;
};

struct tc_hook {
	/* Indexed by XF_DIR_*; the name as the kernel keeps it, 15 characters at most. */
	struct {
		int fd;
		uint32_t id;
		char name[BPF_OBJ_NAME_LEN];
	} prog[2];
	struct tc_link *links;
	size_t n_links;
	size_t cap_links;
	/* Queries go through one socket, opened at the first (see query_filter). */
	struct mnl_socket *nl;
	unsigned int nl_seq;
};

static const enum bpf_tc_attach_point tc_point[2] = { BPF_TC_INGRESS, BPF_TC_EGRESS };

struct tc_hook *tc_hook_new(const struct tc_hook_prog prog[2])
{
	struct tc_hook *h = g_new0(struct tc_hook, 1);

	for (int dir = 0; dir < 2; dir++) {
		h->prog[dir].fd = prog[dir].fd;
		h->prog[dir].id = prog[dir].id;
		snprintf(h->prog[dir].name, sizeof(h->prog[dir].name), "%s", prog[dir].name);
	}
	return h;
}

static struct tc_link *tc_link_find(const struct tc_hook *h, int ifindex)
{
	for (size_t i = 0; i < h->n_links; i++)
		if (h->links[i].ifindex == ifindex)
			return &h->links[i];
	return NULL;
}

/* Our programs read an Ethernet header at offset 0: refuse other framings. */
static int check_link_type(int ifindex)
{
	char name[IF_NAMESIZE];
	struct ifreq ifr;
	int fd, ret = 0;

	if (!if_indextoname((unsigned int)ifindex, name))
		return -ENODEV;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
		ret = -errno;
	else if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER &&
		 ifr.ifr_hwaddr.sa_family != ARPHRD_LOOPBACK)
		ret = -EOPNOTSUPP;
	close(fd);
	return ret;
}

/*
 * One request and its answer, on a socket kept open: the daemon's periodic
 * check of every interface (tc_hook_repair) then costs a send and a receive
 * per question instead of a socket's life each, as bpf_tc_query() would
 * (bench/README.md). The answer goes to cb, until cb or an ACK says stop;
 * an error answer is returned as -errno. nlh is in a buffer of
 * MNL_SOCKET_BUFFER_SIZE bytes, reused for the answer.
 */
static int nl_request(struct tc_hook *h, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	unsigned int seq;
	int ret;

	if (!h->nl) {
		/* The kernel answers before sendto returns; the timeout is a guard. */
		struct timeval tv = { .tv_sec = 2 };

		h->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
		if (!h->nl)
			return -errno;
		if (mnl_socket_bind(h->nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
		    setsockopt(mnl_socket_get_fd(h->nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) <
			    0) {
			ret = -errno;
			mnl_socket_close(h->nl);
			h->nl = NULL;
			return ret;
		}
	}
	seq = nlh->nlmsg_seq = ++h->nl_seq;
	if (mnl_socket_sendto(h->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	/* Answers with another seq (of a request given up on) are skipped. */
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(h->nl, nlh, MNL_SOCKET_BUFFER_SIZE);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		ret = mnl_cb_run(nlh, (size_t)n, seq, mnl_socket_get_portid(h->nl), cb, data);
		if (ret == MNL_CB_STOP)
			return 0;
		if (ret < 0 && errno != ESRCH)
			return -errno;
	}
}

static struct tcmsg *tc_request(char *buf, uint16_t type, int ifindex, uint32_t parent)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct tcmsg *tcm;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	tcm = mnl_nlmsg_put_extra_header(nlh, sizeof(*tcm));
	tcm->tcm_family = AF_UNSPEC;
	tcm->tcm_ifindex = ifindex;
	tcm->tcm_parent = parent;
	return tcm;
}

static uint32_t hook_parent(int dir)
{
	return TC_H_MAKE(TC_H_CLSACT, dir == XF_DIR_INGRESS ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS);
}

static int filter_reply_cb(const struct nlmsghdr *nlh, void *data)
{
	uint32_t *prog_id = data;
	const struct nlattr *attr, *opt;
	bool bpf = false;

	if (nlh->nlmsg_type != RTM_NEWTFILTER)
		return MNL_CB_OK;
	mnl_attr_for_each (attr, nlh, sizeof(struct tcmsg)) {
		if (mnl_attr_get_type(attr) == TCA_KIND)
			bpf = !strcmp(mnl_attr_get_str(attr), "bpf");
		if (mnl_attr_get_type(attr) != TCA_OPTIONS)
			continue;
		mnl_attr_for_each_nested (opt, attr)
			if (mnl_attr_get_type(opt) == TCA_BPF_ID)
				*prog_id = mnl_attr_get_u32(opt);
	}
	if (!bpf)
		*prog_id = 0;
	return MNL_CB_STOP;
}

/*
 * The program id of the filter at (handle, priority) on one hook, asked as
 * bpf_tc_query() asks. 0 in *prog_id when there is no such filter (nor
 * qdisc, nor interface) or it is no bpf filter; returns 0 or -errno.
 */
static int query_filter(struct tc_hook *h, int ifindex, int dir, uint32_t handle, uint32_t priority,
			uint32_t *prog_id)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct tcmsg *tcm = tc_request(buf, RTM_GETTFILTER, ifindex, hook_parent(dir));
	int ret;

	tcm->tcm_handle = handle;
	tcm->tcm_info = TC_H_MAKE(priority << 16, htons(ETH_P_ALL));
	mnl_attr_put_strz((struct nlmsghdr *)buf, TCA_KIND, "bpf");
	*prog_id = 0;
	ret = nl_request(h, (struct nlmsghdr *)buf, filter_reply_cb, prog_id);
	/* no filter there, no clsact qdisc, no interface */
	return ret == -ENOENT || ret == -EINVAL || ret == -ENODEV ? 0 : ret;
}

static int qdisc_reply_cb(const struct nlmsghdr *nlh, void *data)
{
	int *kind = data;
	const struct nlattr *attr;

	if (nlh->nlmsg_type != RTM_NEWQDISC)
		return MNL_CB_OK;
	mnl_attr_for_each (attr, nlh, sizeof(struct tcmsg))
		if (mnl_attr_get_type(attr) == TCA_KIND)
			*kind = strcmp(mnl_attr_get_str(attr), "clsact") ? -EBUSY : 1;
	return MNL_CB_OK; /* the ACK follows */
}

/*
 * The qdisc on the ingress hook of ifindex: 1 clsact, 0 none, -EBUSY the
 * legacy ingress qdisc, or -errno. That one has no egress hook, and the
 * kernel would put a filter meant for egress in its ingress block, where
 * xf_tc_egress would count ingress packets as egress.
 */
static int hook_qdisc(struct tc_hook *h, int ifindex)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	int kind = 0, ret;

	/*
	 * The qdisc is sent back only on NLM_F_ECHO (and to RTNLGRP_TC
	 * listeners too); the built-in placeholder left where one was deleted
	 * is not sent at all: the ACK ends the answer either way.
	 */
	tc_request(buf, RTM_GETQDISC, ifindex, TC_H_CLSACT);
	((struct nlmsghdr *)buf)->nlmsg_flags |= NLM_F_ECHO | NLM_F_ACK;
	ret = nl_request(h, (struct nlmsghdr *)buf, qdisc_reply_cb, &kind);
	/* none: no ingress queue ever (ENOENT), nothing to send (EINVAL) */
	if (ret == -ENOENT || ret == -EINVAL)
		return 0;
	return ret ? ret : kind;
}

/*
 * A clsact qdisc on ifindex: the one there, or a new one (*created). Asks
 * first rather than handling bpf_tc_hook_create's EEXIST, which libbpf logs
 * with the kernel's message for every interface that already has one.
 */
static int ensure_clsact(struct tc_hook *h, int ifindex, bool *created)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	int ret = hook_qdisc(h, ifindex);

	*created = false;
	if (ret)
		return ret > 0 ? 0 : ret;
	ret = bpf_tc_hook_create(&hook);
	if (ret == -EEXIST) /* made meanwhile */
		return hook_qdisc(h, ifindex) == 1 ? 0 : -EBUSY;
	*created = ret == 0;
	return ret;
}

/* 0 when the filter at (handle, priority) is gone or not ours, 1 when ours, -errno. */
static int filter_is_ours(struct tc_hook *h, int ifindex, int dir, uint32_t handle,
			  uint32_t priority)
{
	uint32_t id;
	int ret = query_filter(h, ifindex, dir, handle, priority, &id);

	if (ret)
		return ret;
	return id && id == h->prog[dir].id;
}

static int filter_remove(struct tc_hook *h, const struct tc_link *l, int dir)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = l->ifindex, .attach_point = tc_point[dir]);
	LIBBPF_OPTS(bpf_tc_opts, d, .handle = l->handle[dir], .priority = l->priority[dir]);
	int ret;

	ret = filter_is_ours(h, l->ifindex, dir, l->handle[dir], l->priority[dir]);
	if (ret <= 0)
		return ret;
	ret = bpf_tc_detach(&hook, &d);
	if (ret == -ENOENT || ret == -ENODEV)
		ret = 0;
	return ret;
}

static int count_msg_cb(const struct nlmsghdr *nlh, void *data)
{
	if (nlh->nlmsg_type == RTM_NEWTFILTER)
		(*(int *)data)++;
	return MNL_CB_OK;
}

/* Run cb on every filter under the clsact ingress or egress parent; 0 or -errno. */
static int dump_filters(int ifindex, int dir, mnl_cb_t cb, void *data)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	struct tcmsg *tcm;
	unsigned int seq = (unsigned int)time(NULL), portid;
	int ret;

	nl = mnl_socket_open(NETLINK_ROUTE);
	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETTFILTER;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	tcm = mnl_nlmsg_put_extra_header(nlh, sizeof(*tcm));
	tcm->tcm_family = AF_UNSPEC;
	tcm->tcm_ifindex = ifindex;
	tcm->tcm_parent = hook_parent(dir);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		ret = -errno;
		goto out;
	}
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));

		if (n < 0) {
			ret = -errno;
			goto out;
		}
		ret = mnl_cb_run(buf, (size_t)n, seq, portid, cb, data);
		if (ret < 0) {
			ret = -errno;
			goto out;
		}
		if (ret == MNL_CB_STOP)
			break;
	}
	ret = 0;
out:
	mnl_socket_close(nl);
	return ret;
}

/* Number of filters under the clsact ingress or egress parent, or -errno. */
static int count_filters(int ifindex, int dir)
{
	int count = 0, ret = dump_filters(ifindex, dir, count_msg_cb, &count);

	return ret < 0 ? ret : count;
}

/* Filters of an earlier xlatflowd on one hook: bpf filters running our programs. */
struct leftover_scan {
	const char *prog_name; /* the kernel's name of our program ("xf_tc_ingress") */
	uint32_t own_prog_id;
	int n;
	uint32_t handle[16];
	uint32_t priority[16];
	uint32_t prog_id[16];
};

static int leftover_msg_cb(const struct nlmsghdr *nlh, void *data)
{
	struct leftover_scan *scan = data;
	const struct tcmsg *tcm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *attr, *opt;
	const char *kind = NULL, *name = NULL;
	uint32_t id = 0;
	size_t len;

	if (nlh->nlmsg_type != RTM_NEWTFILTER || !tcm->tcm_handle)
		return MNL_CB_OK;
	mnl_attr_for_each (attr, nlh, sizeof(*tcm)) {
		if (mnl_attr_get_type(attr) == TCA_KIND)
			kind = mnl_attr_get_str(attr);
		if (mnl_attr_get_type(attr) != TCA_OPTIONS)
			continue;
		mnl_attr_for_each_nested (opt, attr) {
			if (mnl_attr_get_type(opt) == TCA_BPF_NAME)
				name = mnl_attr_get_str(opt);
			else if (mnl_attr_get_type(opt) == TCA_BPF_ID)
				id = mnl_attr_get_u32(opt);
		}
	}
	/* libbpf names the filter "<prog name>:[<prog id>]" */
	len = strlen(scan->prog_name);
	if (!kind || strcmp(kind, "bpf") || !name || strncmp(name, scan->prog_name, len) ||
	    name[len] != ':' || id == scan->own_prog_id || scan->n == 16)
		return MNL_CB_OK;
	scan->handle[scan->n] = tcm->tcm_handle;
	scan->priority[scan->n] = TC_H_MAJ(tcm->tcm_info) >> 16;
	scan->prog_id[scan->n] = id;
	scan->n++;
	return MNL_CB_OK;
}

/*
 * Is a BPF program still open in some process (a live xlatflowd, a test, a
 * benchmark)? Looks for "prog_id:\t<id>" in every /proc/PID/fdinfo entry.
 * Only called for filters that run one of our programs, which is rare.
 */
static bool prog_held_by_process(uint32_t prog_id)
{
	char want[32], path[600], buf[512];
	struct dirent *p, *f;
	DIR *proc, *fds;
	bool held = false;
	int wlen, fd;

	wlen = snprintf(want, sizeof(want), "prog_id:\t%u\n", prog_id);
	proc = opendir("/proc");
	if (!proc)
		return true; /* cannot tell: leave it alone */
	while (!held && (p = readdir(proc))) {
		if (p->d_name[0] < '1' || p->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fdinfo", p->d_name);
		fds = opendir(path);
		if (!fds && errno == EACCES) {
			/*
			 * After the capability drop a process with more capabilities
			 * than ours is opaque. If it is another xlatflowd it may hold
			 * the program: leave the filter. Other opaque processes (a
			 * sandbox's init) do not run our programs.
			 */
			snprintf(path, sizeof(path), "/proc/%s/comm", p->d_name);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd >= 0) {
				ssize_t n = read(fd, buf, sizeof(buf) - 1);

				close(fd);
				held = n >= 9 && memcmp(buf, "xlatflowd", 9) == 0;
			}
			continue;
		}
		if (!fds)
			continue;
		while (!held && (f = readdir(fds))) {
			ssize_t n;

			if (f->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/%s/fdinfo/%s", p->d_name, f->d_name);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			if (n <= 0)
				continue;
			buf[n] = '\0';
			held = memmem(buf, (size_t)n, want, (size_t)wlen) != NULL;
		}
		closedir(fds);
	}
	closedir(proc);
	return held;
}

/*
 * A daemon that was killed (SIGKILL, crash) leaves its filters behind; their
 * programs keep counting into maps nobody reads. Remove the filters running
 * one of our programs that no process holds any more (a live xlatflowd's,
 * or a test's, stay). Returns how many were removed.
 */
static int remove_leftovers(const struct tc_hook *h, int ifindex, int dir)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = tc_point[dir]);
	struct leftover_scan scan = {
		.prog_name = h->prog[dir].name,
		.own_prog_id = h->prog[dir].id,
	};
	int removed = 0;

	if (dump_filters(ifindex, dir, leftover_msg_cb, &scan) < 0)
		return 0;
	for (int i = 0; i < scan.n; i++) {
		LIBBPF_OPTS(bpf_tc_opts, d, .handle = scan.handle[i], .priority = scan.priority[i]);

		if (prog_held_by_process(scan.prog_id[i]))
			continue;
		if (bpf_tc_detach(&hook, &d) == 0) {
			log_warnx(
				"interface index %d: removed a leftover %s filter (program id %u) "
				"of an earlier xlatflowd",
				ifindex, scan.prog_name, scan.prog_id[i]);
			removed++;
		}
	}
	return removed;
}

/* Delete the clsact qdisc we created, unless someone else put filters in it. */
static int remove_qdisc(int ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	int n_in, n_eg, ret;

	n_in = count_filters(ifindex, XF_DIR_INGRESS);
	n_eg = count_filters(ifindex, XF_DIR_EGRESS);
	/* No qdisc or no interface any more: nothing to remove. */
	if (n_in == -EINVAL || n_in == -ENOENT || n_in == -ENODEV)
		return 0;
	if (n_in < 0)
		return n_in;
	if (n_eg < 0)
		return n_eg;
	if (n_in || n_eg)
		return 0;
	/* INGRESS|EGRESS deletes the qdisc; either bit alone would flush its filters. */
	ret = bpf_tc_hook_destroy(&hook);
	if (ret == -ENOENT || ret == -ENODEV || ret == -EINVAL)
		ret = 0;
	return ret;
}

int tc_hook_attach(struct tc_hook *h, int ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	struct tc_link l = { .ifindex = ifindex };
	int ret, dir;

	if (tc_link_find(h, ifindex)) {
		if (tc_hook_is_attached(h, ifindex))
			return 0;
		/*
		 * Stale: the interface went away (its index may now name a new
		 * one) or someone removed our filters. Forget it, attach anew.
		 */
		tc_hook_detach(h, ifindex);
	}
	ret = check_link_type(ifindex);
	if (ret)
		return ret;

	ret = ensure_clsact(h, ifindex, &l.created_qdisc);
	if (ret)
		return ret;

	for (dir = 0; dir < 2; dir++) {
		LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = h->prog[dir].fd);

		if (!l.created_qdisc)
			remove_leftovers(h, ifindex, dir);
		hook.attach_point = tc_point[dir];
		ret = bpf_tc_attach(&hook, &opts);
		if (ret)
			goto undo;
		l.handle[dir] = opts.handle;
		l.priority[dir] = opts.priority;
	}

	if (h->n_links == h->cap_links) {
		h->cap_links = h->cap_links ? h->cap_links * 2 : 4;
		h->links = g_renew(struct tc_link, h->links, h->cap_links);
	}
	h->links[h->n_links++] = l;
	return 0;

undo:
	while (--dir >= 0)
		filter_remove(h, &l, dir);
	if (l.created_qdisc)
		remove_qdisc(ifindex);
	return ret;
}

int tc_hook_detach(struct tc_hook *h, int ifindex)
{
	struct tc_link *l = tc_link_find(h, ifindex);
	int ret = 0, r;

	if (!l)
		return -ENOENT;
	for (int dir = 0; dir < 2; dir++) {
		r = filter_remove(h, l, dir);
		if (r && !ret)
			ret = r;
	}
	if (!ret && l->created_qdisc)
		ret = remove_qdisc(ifindex);
	*l = h->links[--h->n_links];
	return ret;
}

bool tc_hook_is_attached(struct tc_hook *h, int ifindex)
{
	const struct tc_link *l = tc_link_find(h, ifindex);

	if (!l)
		return false;
	for (int dir = 0; dir < 2; dir++)
		if (filter_is_ours(h, ifindex, dir, l->handle[dir], l->priority[dir]) != 1)
			return false;
	return true;
}

/* Attach prog[dir] again on a hook whose qdisc exists; records the new handle and priority. */
static int reattach_dir(struct tc_hook *h, struct tc_link *l, int dir, bool qdisc_was_there)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = l->ifindex, .attach_point = tc_point[dir]);
	LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = h->prog[dir].fd);
	int ret;

	if (qdisc_was_there)
		remove_leftovers(h, l->ifindex, dir);
	ret = bpf_tc_attach(&hook, &opts);
	if (ret)
		return ret;
	l->handle[dir] = opts.handle;
	l->priority[dir] = opts.priority;
	return 0;
}

int tc_hook_repair(struct tc_hook *h, int ifindex)
{
	const int both = 1 << XF_DIR_INGRESS | 1 << XF_DIR_EGRESS;
	struct tc_link *l = tc_link_find(h, ifindex);
	int missing = 0, done = 0, ret, dir;
	bool created = false;

	if (!l)
		return -ENOENT;
	for (dir = 0; dir < 2; dir++) {
		ret = filter_is_ours(h, ifindex, dir, l->handle[dir], l->priority[dir]);
		if (ret < 0)
			return ret;
		if (!ret)
			missing |= 1 << dir;
	}
	if (!missing)
		return 0;
	ret = check_link_type(ifindex);
	if (ret)
		return ret;
	/* One filter of ours left: its clsact is there. Both gone: perhaps with it. */
	if (missing == both) {
		ret = ensure_clsact(h, ifindex, &created);
		if (ret)
			return ret;
		if (created)
			l->created_qdisc = true;
	}
	for (dir = 0; dir < 2; dir++) {
		if (!(missing & 1 << dir))
			continue;
		/* What failed is still missing: the next repair tries it again. */
		ret = reattach_dir(h, l, dir, !created);
		if (ret)
			return ret;
		done |= 1 << dir;
	}
	return done;
}

bool tc_hook_event_affects(const struct tc_hook *h, int type, int ifindex, uint32_t parent,
			   uint32_t priority)
{
	const struct tc_link *l = tc_link_find(h, ifindex);

	if (!l)
		return false;
	/* the clsact qdisc (handle ffff:, parent ffff:fff1) and every filter in it */
	if (type == RTM_DELQDISC)
		return parent == TC_H_CLSACT;
	if (type != RTM_DELTFILTER && type != RTM_NEWTFILTER && type != RTM_DELCHAIN)
		return false;
	for (int dir = 0; dir < 2; dir++) {
		if (parent != hook_parent(dir))
			continue;
		/*
		 * A new filter matters only at our priority (a replace of ours;
		 * also our own attach, which the check finds intact). A removal
		 * at priority 0 is a whole chain.
		 */
		if (priority == l->priority[dir] || (type != RTM_NEWTFILTER && priority == 0))
			return true;
	}
	return false;
}

void tc_hook_free(struct tc_hook *h)
{
	if (!h)
		return;
	while (h->n_links) {
		int ifindex = h->links[h->n_links - 1].ifindex;
		int ret = tc_hook_detach(h, ifindex);

		if (ret)
			log_warnx("detaching flow capture from ifindex %d: %s", ifindex,
				  strerror(-ret));
	}
	g_free(h->links);
	if (h->nl)
		mnl_socket_close(h->nl);
	g_free(h);
}

const char *tc_hook_attach_mode(const struct tc_hook *h)
{
	return "tc clsact";
}
