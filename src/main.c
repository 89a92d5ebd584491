/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * xlatflowd: command line, configuration, daemon life cycle and the event
 * loop. The data path itself is in pipeline.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "config.h"
#include "log.h"
#include "pipeline.h"
#include "privdrop.h"

/* Command-line settings, kept so that a SIGHUP reload applies them again. */
struct cli {
	const char *config_path;
	bool config_given;
	const char *interfaces[XF_MAX_PATTERNS];
	int n_interfaces;
	const char *collectors[XF_MAX_COLLECTORS];
	int n_collectors;
	const char *active_timeout, *idle_timeout, *nat_hook, *sampling, *max_flows;
	const char *kernel_max_flows, *drain_interval, *log_level, *pidfile;
	bool foreground, check_config, verbose;
};

enum {
	OPT_ACTIVE = 256,
	OPT_IDLE,
	OPT_NAT,
	OPT_SAMPLING,
	OPT_MAXFLOWS,
	OPT_KMAXFLOWS,
	OPT_DRAIN,
	OPT_LOGLEVEL,
	OPT_PIDFILE,
	OPT_CHECK,
};

static const struct option long_opts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "interface", required_argument, NULL, 'i' },
	{ "collector", required_argument, NULL, 'C' },
	{ "active-timeout", required_argument, NULL, OPT_ACTIVE },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE },
	{ "nat-hook", required_argument, NULL, OPT_NAT },
	{ "sampling", required_argument, NULL, OPT_SAMPLING },
	{ "max-flows", required_argument, NULL, OPT_MAXFLOWS },
	{ "kernel-max-flows", required_argument, NULL, OPT_KMAXFLOWS },
	{ "drain-interval", required_argument, NULL, OPT_DRAIN },
	{ "log-level", required_argument, NULL, OPT_LOGLEVEL },
	{ "pidfile", required_argument, NULL, OPT_PIDFILE },
	{ "foreground", no_argument, NULL, 'f' },
	{ "check-config", no_argument, NULL, OPT_CHECK },
	{ "verbose", no_argument, NULL, 'v' },
	{ "version", no_argument, NULL, 'V' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: xlatflowd [options]\n"
		"  -c, --config FILE          configuration file (default %s)\n"
		"  -i, --interface NAME       capture on NAME (pattern; repeatable; replaces the "
		"file's list)\n"
		"  -C, --collector URL        udp://HOST:PORT or tcp://HOST:PORT (repeatable; "
		"replaces the file's)\n"
		"      --active-timeout SEC   export long flows every SEC seconds\n"
		"      --idle-timeout SEC     export flows idle for SEC seconds\n"
		"      --nat-hook MODE        auto|fentry|kprobe|conntrack|off\n"
		"      --sampling N           keep 1 packet in N\n"
		"      --max-flows N          flow cache bound\n"
		"      --kernel-max-flows N   flows per drain interval in the kernel (flow slots)\n"
		"      --drain-interval MS    kernel map drain period\n"
		"      --log-level LEVEL      err|warn|info|debug\n"
		"      --pidfile FILE         pid file when daemonized\n"
		"  -f, --foreground           stay in the foreground, log to stderr\n"
		"      --check-config         validate the configuration, print it, exit\n"
		"  -v, --verbose              more logging (debug)\n"
		"  -V, --version              print the version\n"
		"  -h, --help                 this help\n",
		XF_CONFIG_DEFAULT_PATH);
}

/* Parse an unsigned option value into *out; "--opt: 'x' is not a number in lo..hi". */
static int parse_uint_opt(const char *opt, const char *val, uint32_t lo, uint32_t hi, uint32_t *out,
			  char *err, size_t err_len)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(val, &end, 10);
	if (errno || end == val || *end || val[0] == '-' || v < lo || v > hi) {
		snprintf(err, err_len, "%s: '%s' is not a number in %u..%u", opt, val, lo, hi);
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

/* defaults <- file <- command line; then cross checks. */
static int build_config(const struct cli *cli, struct xf_config *cfg, char *err, size_t err_len)
{
	int rc;

	config_defaults(cfg);
	if (cli->config_given || access(cli->config_path, F_OK) == 0 || cli->n_collectors == 0) {
		rc = config_load_file(cfg, cli->config_path, err, err_len);
		if (rc < 0)
			return rc;
	}
	if (cli->n_interfaces)
		config_clear_interfaces(cfg);
	for (int i = 0; i < cli->n_interfaces; i++)
		if ((rc = config_add_interface(cfg, cli->interfaces[i], err, err_len)) < 0)
			return rc;
	if (cli->n_collectors)
		config_clear_collectors(cfg);
	for (int i = 0; i < cli->n_collectors; i++)
		if ((rc = config_add_collector(cfg, cli->collectors[i], "--collector", err,
					       err_len)) < 0)
			return rc;
	if (cli->active_timeout &&
	    (rc = parse_uint_opt("--active-timeout", cli->active_timeout, 1, 86400,
				 &cfg->active_timeout, err, err_len)) < 0)
		return rc;
	if (cli->idle_timeout && (rc = parse_uint_opt("--idle-timeout", cli->idle_timeout, 1, 86400,
						      &cfg->idle_timeout, err, err_len)) < 0)
		return rc;
	if (cli->sampling && (rc = parse_uint_opt("--sampling", cli->sampling, 1, 1000000,
						  &cfg->sampling, err, err_len)) < 0)
		return rc;
	if (cli->max_flows && (rc = parse_uint_opt("--max-flows", cli->max_flows, 1, 100000000,
						   &cfg->max_flows, err, err_len)) < 0)
		return rc;
	if (cli->kernel_max_flows &&
	    (rc = parse_uint_opt("--kernel-max-flows", cli->kernel_max_flows, 1024, 16777216,
				 &cfg->kernel_max_flows, err, err_len)) < 0)
		return rc;
	if (cli->drain_interval &&
	    (rc = parse_uint_opt("--drain-interval", cli->drain_interval, 10, 60000,
				 &cfg->drain_interval_ms, err, err_len)) < 0)
		return rc;
	if (cli->nat_hook) {
		int found = -1;

		for (int m = XF_NAT_AUTO; m <= XF_NAT_OFF; m++)
			if (strcmp(cli->nat_hook, config_nat_hook_name(m)) == 0)
				found = m;
		if (found < 0) {
			snprintf(err, err_len,
				 "--nat-hook: '%s' is not one of auto, fentry, kprobe, conntrack, "
				 "off",
				 cli->nat_hook);
			return -EINVAL;
		}
		cfg->nat_hook = found;
	}
	if (cli->log_level) {
		int lvl = log_level_parse(cli->log_level);

		if (lvl < 0) {
			snprintf(err, err_len,
				 "--log-level: '%s' is not one of err, warn, info, debug",
				 cli->log_level);
			return -EINVAL;
		}
		cfg->log_level = lvl;
	}
	if (cli->verbose)
		cfg->log_level = LOG_LEVEL_DEBUG;
	if (cli->pidfile)
		snprintf(cfg->pidfile, sizeof(cfg->pidfile), "%s", cli->pidfile);
	cfg->foreground = cli->foreground;
	cfg->verbose = cli->verbose;
	return config_validate(cfg, err, err_len);
}

static int parse_args(int argc, char **argv, struct cli *cli)
{
	int c;

	memset(cli, 0, sizeof(*cli));
	cli->config_path = XF_CONFIG_DEFAULT_PATH;
	while ((c = getopt_long(argc, argv, "c:i:C:fvVh", long_opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			cli->config_path = optarg;
			cli->config_given = true;
			break;
		case 'i':
			if (cli->n_interfaces == XF_MAX_PATTERNS)
				fatalx("--interface: at most %d", XF_MAX_PATTERNS);
			cli->interfaces[cli->n_interfaces++] = optarg;
			break;
		case 'C':
			if (cli->n_collectors == XF_MAX_COLLECTORS)
				fatalx("--collector: at most %d", XF_MAX_COLLECTORS);
			cli->collectors[cli->n_collectors++] = optarg;
			break;
		case OPT_ACTIVE: cli->active_timeout = optarg; break;
		case OPT_IDLE: cli->idle_timeout = optarg; break;
		case OPT_NAT: cli->nat_hook = optarg; break;
		case OPT_SAMPLING: cli->sampling = optarg; break;
		case OPT_MAXFLOWS: cli->max_flows = optarg; break;
		case OPT_KMAXFLOWS: cli->kernel_max_flows = optarg; break;
		case OPT_DRAIN: cli->drain_interval = optarg; break;
		case OPT_LOGLEVEL: cli->log_level = optarg; break;
		case OPT_PIDFILE: cli->pidfile = optarg; break;
		case 'f': cli->foreground = true; break;
		case OPT_CHECK: cli->check_config = true; break;
		case 'v': cli->verbose = true; break;
		case 'V': printf("xlatflowd %s\n", PACKAGE_VERSION); exit(0);
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "xlatflowd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return -EINVAL;
	}
	return 0;
}

static int write_pidfile(const char *path)
{
	char buf[32];
	int fd, n;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (write(fd, buf, (size_t)n) != n) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	close(fd);
	return 0;
}

static int timer_arm(int tfd, uint32_t ms)
{
	struct itimerspec its = {
		.it_interval = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L },
		.it_value = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L },
	};

	return timerfd_settime(tfd, 0, &its, NULL);
}

static void epoll_add(int ep, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };

	if (fd >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		fatal("epoll_ctl");
}

#define TAG_SIGNAL 100
#define TAG_TIMER 101

static void reload(const struct cli *cli, struct pipeline *p, int tfd)
{
	struct xf_config cfg;
	char err[1024];

	sd_notify(0, "RELOADING=1");
	log_info("SIGHUP: reloading %s", cli->config_path);
	if (build_config(cli, &cfg, err, sizeof(err)) < 0) {
		log_warnx("reload rejected, the running configuration stays: %s", err);
	} else if (pipeline_reconfigure(p, &cfg, err, sizeof(err)) < 0) {
		log_warnx("reload rejected, the running configuration stays: %s", err);
	} else {
		log_set_level(cfg.log_level);
		timer_arm(tfd, cfg.drain_interval_ms);
		log_info("configuration reloaded");
		pipeline_log_summary(p);
	}
	config_release(&cfg);
	sd_notify(0, "READY=1");
}

static int run(const struct cli *cli, struct xf_config *cfg)
{
	struct pipeline *p;
	char err[1024];
	sigset_t mask;
	int ep, sfd, tfd, rc;
	bool running = true;

	p = pipeline_new(cfg, err, sizeof(err));
	if (!p) {
		log_warnx("%s", err);
		return 1;
	}
	pipeline_scan_interfaces(p);

	/*
	 * Fork before the signalfd and the epoll set exist: a signalfd wakes
	 * only the epoll sets of the process that added it, so the daemon's
	 * own must be made after the fork.
	 */
	if (!cfg->foreground) {
		if (daemon(0, 0) < 0)
			fatal("daemon");
		if (cfg->pidfile[0] && (rc = write_pidfile(cfg->pidfile)) < 0)
			log_warnx("pidfile %s: %s", cfg->pidfile, strerror(-rc));
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGPIPE);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || tfd < 0 || ep < 0)
		fatal("signalfd/timerfd/epoll");
	timer_arm(tfd, pipeline_drain_interval_ms(p));
	epoll_add(ep, sfd, TAG_SIGNAL);
	epoll_add(ep, tfd, TAG_TIMER);
	for (int i = 0; i < PIPE_FD_MAX; i++)
		epoll_add(ep, pipeline_fd(p, i), (uint64_t)i);

	if ((rc = privdrop_after_setup()) < 0)
		log_warnx("dropping capabilities: %s", strerror(-rc));
	pipeline_log_summary(p);
	sd_notify(0, "READY=1");

	while (running) {
		struct epoll_event evs[8];
		int n = epoll_wait(ep, evs, 8, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fatal("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;

			if (tag == TAG_TIMER) {
				uint64_t ticks;

				if (read(tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
					log_warn("timerfd");
				pipeline_cycle(p);
			} else if (tag == TAG_SIGNAL) {
				struct signalfd_siginfo si;

				while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo == SIGHUP) {
						reload(cli, p, tfd);
					} else if (si.ssi_signo == SIGTERM ||
						   si.ssi_signo == SIGINT) {
						log_info("%s: exporting cached flows and exiting",
							 strsignal((int)si.ssi_signo));
						running = false;
					}
				}
			} else {
				pipeline_handle_fd(p, (enum pipeline_fd)tag);
			}
		}
	}
	sd_notify(0, "STOPPING=1");
	pipeline_shutdown(p);
	pipeline_free(p);
	if (!cfg->foreground && cfg->pidfile[0])
		unlink(cfg->pidfile);
	close(ep);
	close(sfd);
	close(tfd);
	return 0;
}

int main(int argc, char **argv)
{
	struct cli cli;
	struct xf_config cfg;
	char err[1024];
	int rc;

	if (parse_args(argc, argv, &cli) < 0)
		return 2;
	log_init(true, cli.verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO, "xlatflowd");
	if (build_config(&cli, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "xlatflowd: %s\n", err);
		return 1;
	}
	if (cli.check_config) {
		config_print(&cfg, stdout);
		config_release(&cfg);
		return 0;
	}
	log_init(cfg.foreground, cfg.log_level, "xlatflowd");
	log_route_libraries();
	rc = run(&cli, &cfg);
	config_release(&cfg);
	return rc;
}
