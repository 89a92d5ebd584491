// SPDX-License-Identifier: GPL-2.0-only
/*
 * Loading bpf/flow.bpf.c and attaching it with tc clsact (cls_bpf, direct
 * action). Filters get kernel-chosen handles and priorities so we never
 * collide with someone else's; we remember them and remove exactly those.
 * Filters a killed xlatflowd left behind are removed when we attach.
 */
#define _GNU_SOURCE /* memmem */
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
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <libmnl/libmnl.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>

#include "capture.h"
#include "drain.h"
#include "flow.skel.h"
#include "log.h"

_Static_assert(sizeof(struct xf_flow_key) == 48, "xf_flow_key layout");
_Static_assert(sizeof(struct xf_flow_stats) == 48, "xf_flow_stats layout");
_Static_assert(sizeof(struct xf_flow_event) == 96, "xf_flow_event layout");

#define CAPTURE_DEFAULT_MAX_FLOWS 65536
#define CAPTURE_DEFAULT_RINGBUF (256 * 1024)

/* One interface we attached to. Index 0 is ingress, 1 egress (XF_DIR_*). */
struct capture_link {
	int ifindex;
	uint32_t handle[2];
	uint32_t priority[2];
	bool created_qdisc;
};

struct capture {
	struct flow_bpf *skel;
	struct capture_link *links;
	size_t n_links;
	size_t cap_links;
	uint32_t prog_id[2];
	uint32_t max_flows;
	int ncpus;
	size_t slots_len; /* bytes of each mapping */
	void *slots[2];	  /* flow_slots_0/1, mmapped */
	uint32_t sampling;
	uint32_t flags;
	struct drain_state *drain;
};

static const enum bpf_tc_attach_point tc_point[2] = { BPF_TC_INGRESS, BPF_TC_EGRESS };

static uint32_t round_up_pow2(uint32_t v)
{
	uint32_t p = 1;

	while (p < v && p < (1u << 31))
		p <<= 1;
	return p;
}

static void capture_unmap_slots(struct capture *c)
{
	for (int i = 0; i < 2; i++) {
		if (c->slots[i])
			munmap(c->slots[i], c->slots_len);
		c->slots[i] = NULL;
	}
}

static struct bpf_program *capture_prog(const struct capture *c, int direction)
{
	return direction == XF_DIR_EGRESS ? c->skel->progs.xf_tc_egress
					  : c->skel->progs.xf_tc_ingress;
}

struct capture *capture_open(const struct capture_opts *o, char *err, size_t err_len)
{
	struct capture *c;
	uint32_t rb_size, page = (uint32_t)sysconf(_SC_PAGESIZE);
	struct bpf_prog_info info;
	uint32_t info_len;
	int ret;

	c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	c->max_flows = o->kernel_max_flows ? o->kernel_max_flows : CAPTURE_DEFAULT_MAX_FLOWS;
	c->sampling = o->sampling ? o->sampling : 1;
	c->flags = o->flags;
	rb_size = round_up_pow2(o->ringbuf_size ? o->ringbuf_size : CAPTURE_DEFAULT_RINGBUF);
	if (rb_size < page)
		rb_size = page;

	c->skel = flow_bpf__open();
	if (!c->skel) {
		ret = -errno;
		if (err)
			snprintf(err, err_len, "opening the flow BPF object: %s", strerror(-ret));
		goto fail;
	}
	c->ncpus = libbpf_num_possible_cpus();
	if (c->ncpus < 1) {
		ret = c->ncpus < 0 ? c->ncpus : -EINVAL;
		if (err)
			snprintf(err, err_len, "counting the possible CPUs: %s", strerror(-ret));
		goto fail;
	}
	if ((ret = bpf_map__set_max_entries(c->skel->maps.flow_index, c->max_flows)) ||
	    (ret = bpf_map__set_max_entries(c->skel->maps.flow_slots_0, c->max_flows)) ||
	    (ret = bpf_map__set_max_entries(c->skel->maps.flow_slots_1, c->max_flows)) ||
	    (ret = bpf_map__set_value_size(c->skel->maps.flow_slots_0,
					   (uint32_t)XF_SLOT_SIZE(c->ncpus))) ||
	    (ret = bpf_map__set_value_size(c->skel->maps.flow_slots_1,
					   (uint32_t)XF_SLOT_SIZE(c->ncpus))) ||
	    (ret = bpf_map__set_max_entries(c->skel->maps.flow_events, rb_size))) {
		if (err)
			snprintf(err, err_len, "sizing the flow maps: %s", strerror(-ret));
		goto fail;
	}
	c->skel->data->sampling = c->sampling;
	c->skel->rodata->precise_time = (c->flags & CAPTURE_F_PRECISE_TIME) ? 1 : 0;
	c->skel->rodata->nr_cpus = (uint32_t)c->ncpus;

	ret = flow_bpf__load(c->skel);
	if (ret) {
		if (err)
			snprintf(err, err_len, "loading the flow BPF programs: %s", strerror(-ret));
		goto fail;
	}
	for (int dir = 0; dir < 2; dir++) {
		memset(&info, 0, sizeof(info));
		info_len = sizeof(info);
		ret = bpf_obj_get_info_by_fd(bpf_program__fd(capture_prog(c, dir)), &info,
					     &info_len);
		if (ret) {
			if (err)
				snprintf(err, err_len, "reading BPF program info: %s",
					 strerror(-ret));
			goto fail;
		}
		c->prog_id[dir] = info.id;
	}
	c->slots_len = XF_SLOT_SIZE(c->ncpus) * (size_t)c->max_flows;
	c->slots_len = (c->slots_len + page - 1) / page * page;
	for (int i = 0; i < 2; i++) {
		struct bpf_map *m = i ? c->skel->maps.flow_slots_1 : c->skel->maps.flow_slots_0;
		void *p = mmap(NULL, c->slots_len, PROT_READ | PROT_WRITE, MAP_SHARED,
			       bpf_map__fd(m), 0);

		if (p == MAP_FAILED) {
			ret = -errno;
			if (err)
				snprintf(err, err_len, "mapping the flow slots (%zu bytes): %s",
					 c->slots_len, strerror(-ret));
			goto fail;
		}
		c->slots[i] = p;
	}
	return c;

fail:
	capture_unmap_slots(c);
	flow_bpf__destroy(c->skel);
	free(c);
	errno = -ret;
	return NULL;
}

static struct capture_link *capture_find(const struct capture *c, int ifindex)
{
	for (size_t i = 0; i < c->n_links; i++)
		if (c->links[i].ifindex == ifindex)
			return &c->links[i];
	return NULL;
}

/* Our programs read an Ethernet header at offset 0: refuse other framings. */
static int capture_check_link_type(int ifindex)
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

/* 0 when the filter at (handle, priority) is gone or not ours, 1 when ours, -errno. */
static int capture_filter_is_ours(const struct capture *c, int ifindex, int dir, uint32_t handle,
				  uint32_t priority)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = tc_point[dir]);
	LIBBPF_OPTS(bpf_tc_opts, q, .handle = handle, .priority = priority);
	int ret;

	ret = bpf_tc_query(&hook, &q);
	if (ret == -ENOENT || ret == -ENODEV || ret == -EINVAL)
		return 0;
	if (ret)
		return ret;
	return q.prog_id == c->prog_id[dir];
}

static int capture_filter_remove(const struct capture *c, const struct capture_link *l, int dir)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = l->ifindex, .attach_point = tc_point[dir]);
	LIBBPF_OPTS(bpf_tc_opts, d, .handle = l->handle[dir], .priority = l->priority[dir]);
	int ret;

	ret = capture_filter_is_ours(c, l->ifindex, dir, l->handle[dir], l->priority[dir]);
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
static int capture_dump_filters(int ifindex, int dir, mnl_cb_t cb, void *data)
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
	tcm->tcm_parent =
		TC_H_MAKE(TC_H_CLSACT, dir == XF_DIR_INGRESS ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS);
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
static int capture_count_filters(int ifindex, int dir)
{
	int count = 0, ret = capture_dump_filters(ifindex, dir, count_msg_cb, &count);

	return ret < 0 ? ret : count;
}

/* Filters of an earlier xlatflowd on one hook: bpf filters running our programs. */
struct orphan_scan {
	const char *prog_name; /* "xf_tc_ingress" or "xf_tc_egress" */
	uint32_t own_prog_id;
	int n;
	uint32_t handle[16];
	uint32_t priority[16];
	uint32_t prog_id[16];
};

static int orphan_msg_cb(const struct nlmsghdr *nlh, void *data)
{
	struct orphan_scan *scan = data;
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
static int capture_remove_orphans(const struct capture *c, int ifindex, int dir)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = tc_point[dir]);
	struct orphan_scan scan = {
		.prog_name = dir == XF_DIR_INGRESS ? "xf_tc_ingress" : "xf_tc_egress",
		.own_prog_id = c->prog_id[dir],
	};
	int removed = 0;

	if (capture_dump_filters(ifindex, dir, orphan_msg_cb, &scan) < 0)
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
static int capture_remove_qdisc(int ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	int n_in, n_eg, ret;

	n_in = capture_count_filters(ifindex, XF_DIR_INGRESS);
	n_eg = capture_count_filters(ifindex, XF_DIR_EGRESS);
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

int capture_attach(struct capture *c, int ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	struct capture_link l = { .ifindex = ifindex };
	int ret, dir;

	if (capture_find(c, ifindex)) {
		if (capture_is_attached(c, ifindex))
			return 0;
		/*
		 * Stale: the interface went away (its index may now name a new
		 * one) or someone removed our filters. Forget it, attach anew.
		 */
		capture_detach(c, ifindex);
	}
	ret = capture_check_link_type(ifindex);
	if (ret)
		return ret;

	ret = bpf_tc_hook_create(&hook);
	if (ret && ret != -EEXIST)
		return ret;
	l.created_qdisc = ret == 0;

	for (dir = 0; dir < 2; dir++) {
		LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = bpf_program__fd(capture_prog(c, dir)));

		if (!l.created_qdisc)
			capture_remove_orphans(c, ifindex, dir);
		hook.attach_point = tc_point[dir];
		ret = bpf_tc_attach(&hook, &opts);
		if (ret)
			goto undo;
		l.handle[dir] = opts.handle;
		l.priority[dir] = opts.priority;
	}

	if (c->n_links == c->cap_links) {
		c->cap_links = c->cap_links ? c->cap_links * 2 : 4;
		c->links = realloc(c->links, c->cap_links * sizeof(*c->links));
		if (!c->links)
			abort();
	}
	c->links[c->n_links++] = l;
	return 0;

undo:
	while (--dir >= 0)
		capture_filter_remove(c, &l, dir);
	if (l.created_qdisc)
		capture_remove_qdisc(ifindex);
	return ret;
}

int capture_detach(struct capture *c, int ifindex)
{
	struct capture_link *l = capture_find(c, ifindex);
	int ret = 0, r;

	if (!l)
		return -ENOENT;
	for (int dir = 0; dir < 2; dir++) {
		r = capture_filter_remove(c, l, dir);
		if (r && !ret)
			ret = r;
	}
	if (!ret && l->created_qdisc)
		ret = capture_remove_qdisc(ifindex);
	*l = c->links[--c->n_links];
	return ret;
}

bool capture_is_attached(const struct capture *c, int ifindex)
{
	const struct capture_link *l = capture_find(c, ifindex);

	if (!l)
		return false;
	for (int dir = 0; dir < 2; dir++)
		if (capture_filter_is_ours(c, ifindex, dir, l->handle[dir], l->priority[dir]) != 1)
			return false;
	return true;
}

void capture_free(struct capture *c)
{
	if (!c)
		return;
	while (c->n_links) {
		int ifindex = c->links[c->n_links - 1].ifindex;
		int ret = capture_detach(c, ifindex);

		if (ret)
			log_warnx("detaching flow capture from ifindex %d: %s", ifindex,
				  strerror(-ret));
	}
	drain_state_free(c->drain);
	capture_unmap_slots(c);
	flow_bpf__destroy(c->skel);
	free(c->links);
	free(c);
}

int capture_read_counters(struct capture *c, uint64_t out[XF_CNT_MAX])
{
	int ncpus = libbpf_num_possible_cpus();
	int fd = bpf_map__fd(c->skel->maps.counters);
	uint64_t *vals;
	int ret = 0;

	if (ncpus < 0)
		return ncpus;
	vals = calloc((size_t)ncpus, sizeof(*vals));
	if (!vals)
		abort();
	for (uint32_t i = 0; i < XF_CNT_MAX; i++) {
		ret = bpf_map_lookup_elem(fd, &i, vals);
		if (ret)
			break;
		out[i] = 0;
		for (int cpu = 0; cpu < ncpus; cpu++)
			out[i] += vals[cpu];
	}
	free(vals);
	return ret;
}

const char *capture_attach_mode(const struct capture *c)
{
	return "tc clsact";
}

uint32_t capture_sampling(const struct capture *c)
{
	return c->sampling;
}

void capture_set_sampling(struct capture *c, uint32_t sampling)
{
	c->sampling = sampling ? sampling : 1;
	/* .data is mmapped: the programs see the new rate from their next packet */
	c->skel->data->sampling = c->sampling;
}

uint32_t capture_max_flows(const struct capture *c)
{
	return c->max_flows;
}

int capture_prog_fd(const struct capture *c, int direction)
{
	return bpf_program__fd(capture_prog(c, direction));
}

void capture_slots(const struct capture *c, unsigned int which, struct capture_slots *out)
{
	out->fd = bpf_map__fd(which & 1 ? c->skel->maps.flow_slots_1 : c->skel->maps.flow_slots_0);
	out->base = c->slots[which & 1];
	out->stride = XF_SLOT_SIZE(c->ncpus);
	out->max = c->max_flows;
	out->ncpus = c->ncpus;
	out->used = &c->skel->bss->slots_used[which & 1];
}

int capture_index_fd(const struct capture *c)
{
	return bpf_map__fd(c->skel->maps.flow_index);
}

int capture_events_map_fd(const struct capture *c)
{
	return bpf_map__fd(c->skel->maps.flow_events);
}

uint32_t capture_epoch(const struct capture *c)
{
	return __atomic_load_n(&c->skel->bss->flows_epoch, __ATOMIC_ACQUIRE);
}

void capture_set_epoch(struct capture *c, uint32_t epoch)
{
	__atomic_store_n(&c->skel->bss->flows_epoch, epoch, __ATOMIC_SEQ_CST);
}

uint32_t capture_flags(const struct capture *c)
{
	return c->flags;
}

struct drain_state **capture_drain_slot(struct capture *c)
{
	return &c->drain;
}
