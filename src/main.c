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
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <systemd/sd-daemon.h>

#include "clock.h"
#include "config.h"
#include "identity.h"
#include "log.h"
#include "metrics_http.h"
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
	const char **key_args; /* by config_option() index; NULL: not given */
	size_t n_key_options;
	bool foreground, check_config, verbose;
};

/* getopt_long() values past the short options; a key's is OPT_KEY + its index. */
enum { OPT_CHECK = 256, OPT_KEY = 512 };

/*
 * The options that set no configuration key, in --help order; the key
 * table's (config_option()) come after the first N_BEFORE_KEYS.
 */
static const struct cli_option {
	const char *name;
	int val;	 /* the short option, or OPT_CHECK */
	const char *arg; /* NULL: takes none */
	const char *help;
} cli_options[] = {
	{ "config", 'c', "FILE", "configuration file (default " XF_CONFIG_DEFAULT_PATH ")" },
	{ "interface", 'i', "NAME",
	  "capture on NAME (pattern; repeatable; replaces the file's list)" },
	{ "collector", 'C', "URL",
	  "udp://HOST:PORT or tcp://HOST:PORT (repeatable; replaces the file's)\n"
	  "and ?protocol=ipfix|netflow9&mtu=N&rate=N&burst=N if wanted\n"
	  "(default ipfix, mtu 1500, rate 200000, burst 400)" },
	{ "foreground", 'f', NULL, "stay in the foreground, log to stderr" },
	{ "check-config", OPT_CHECK, NULL, "validate the configuration, print it, exit" },
	{ "verbose", 'v', NULL, "more logging (debug)" },
	{ "version", 'V', NULL, "print the version" },
	{ "help", 'h', NULL, "this help" },
};
#define N_CLI_OPTIONS (sizeof(cli_options) / sizeof(cli_options[0]))
#define N_BEFORE_KEYS 3 /* --config, --interface, --collector */

static bool has_short(int val)
{
	return val > 0 && val < 256;
}

/* One option; a help text's further lines ("\n") are indented under its first. */
static void usage_line(FILE *out, int val, const char *name, const char *arg, const char *help)
{
	char flag[8] = "", left[64];
	const char *nl;

	if (has_short(val))
		snprintf(flag, sizeof(flag), "-%c,", val);
	snprintf(left, sizeof(left), "  %-4s--%s%s%s", flag, name, arg ? " " : "", arg ? arg : "");
	fprintf(out, "%-30s ", left);
	while ((nl = strchr(help, '\n'))) {
		fprintf(out, "%.*s\n%-30s ", (int)(nl - help), help, "");
		help = nl + 1;
	}
	fprintf(out, "%s\n", help);
}

static void usage(FILE *out)
{
	const struct config_option *opt;
	char help[256];

	fputs("usage: xlatflowd [options]\n", out);
	for (size_t i = 0; i < N_CLI_OPTIONS; i++) {
		if (i == N_BEFORE_KEYS)
			for (size_t k = 0; (opt = config_option(k)); k++) {
				config_option_help(k, help, sizeof(help));
				usage_line(out, 0, opt->name, opt->arg, help);
			}
		usage_line(out, cli_options[i].val, cli_options[i].name, cli_options[i].arg,
			   cli_options[i].help);
	}
	fputs("Options override the configuration file; the defaults shown are the daemon's own.\n"
	      "Signals: SIGHUP reloads, SIGTERM stops, SIGUSR1 logs the counters.\n"
	      "See xlatflowd(8) and xlatflowd.conf(5).\n",
	      out);
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
	for (size_t i = 0; i < cli->n_key_options; i++)
		if (cli->key_args[i] &&
		    (rc = config_set_option(cfg, i, cli->key_args[i], err, err_len)) < 0)
			return rc;
	if (cli->verbose)
		cfg->log_level = LOG_LEVEL_DEBUG;
	cfg->foreground = cli->foreground;
	cfg->verbose = cli->verbose;
	rc = config_validate(cfg, err, err_len);
	if (rc == 0 && cfg->observation_domain_auto)
		rc = identity_domain_id(IDENTITY_MACHINE_ID_PATH, &cfg->observation_domain_id, err,
					err_len);
	return rc;
}

/* getopt_long()'s table and short options: ours, then the key table's. */
static struct option *long_options(size_t n_keys, char *shortopts)
{
	struct option *opts = g_new0(struct option, N_CLI_OPTIONS + n_keys + 1);
	size_t n = 0;

	for (size_t i = 0; i < N_CLI_OPTIONS; i++) {
		const struct cli_option *o = &cli_options[i];

		opts[n++] = (struct option){ o->name, o->arg ? required_argument : no_argument,
					     NULL, o->val };
		if (has_short(o->val)) {
			*shortopts++ = (char)o->val;
			if (o->arg)
				*shortopts++ = ':';
		}
	}
	*shortopts = '\0';
	for (size_t k = 0; k < n_keys; k++)
		opts[n++] =
			(struct option){ config_option(k)->name,
					 config_option(k)->arg ? required_argument : no_argument,
					 NULL, OPT_KEY + (int)k };
	return opts;
}

static int parse_args(int argc, char **argv, struct cli *cli)
{
	char shortopts[2 * N_CLI_OPTIONS + 1];
	struct option *opts;
	size_t n_keys = 0;
	int c, rc = 0;

	memset(cli, 0, sizeof(*cli));
	cli->config_path = XF_CONFIG_DEFAULT_PATH;
	while (config_option(n_keys))
		n_keys++;
	cli->key_args = g_new0(const char *, n_keys ? n_keys : 1);
	cli->n_key_options = n_keys;
	opts = long_options(n_keys, shortopts);
	while (rc == 0 && (c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
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
		case 'f': cli->foreground = true; break;
		case OPT_CHECK: cli->check_config = true; break;
		case 'v': cli->verbose = true; break;
		case 'V': printf("xlatflowd %s\n", PACKAGE_VERSION); exit(0);
		case 'h': usage(stdout); exit(0);
		default:
			/* checked, parsed and range-checked in build_config() */
			if (c >= OPT_KEY && (size_t)(c - OPT_KEY) < n_keys) {
				/* a flag (--zone-as-vrf) sets its key to true */
				cli->key_args[c - OPT_KEY] = optarg ? optarg : "true";
				break;
			}
			usage(stderr);
			rc = -EINVAL;
		}
	}
	g_free(opts);
	if (rc == 0 && optind < argc) {
		fprintf(stderr, "xlatflowd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		rc = -EINVAL;
	}
	return rc;
}

/* The pid written in an existing pid file, or -1. */
static long pidfile_read(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	char *end;
	long pid;

	if (n <= 0)
		return -1;
	buf[n] = '\0';
	pid = strtol(buf, &end, 10);
	return end != buf && pid > 0 ? pid : -1;
}

static int pidfile_write(int fd)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());

	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n)
		return -errno;
	return 0;
}

/*
 * Open, lock and fill the pid file before anything is loaded, so that a
 * second instance stops before it touches the first one's interfaces. The
 * lock (flock: it belongs to the open file, so the daemon keeps it across
 * the fork) lasts as long as the daemon. O_NOFOLLOW and the checks after:
 * a root daemon never writes through a symbolic link, or into a file that is
 * not its own plain file. The fd, or -1 after logging why.
 */
static int pidfile_lock(const char *path)
{
	struct stat fst, pst;
	int fd, rc;

	/* a stopping instance may unlink the file between our open and lock */
	for (int tries = 0; tries < 10; tries++) {
		fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0644);
		if (fd < 0) {
			if (errno == ELOOP)
				log_warnx("pid file %s is a symbolic link; not following it", path);
			else
				log_warn("pid file %s", path);
			return -1;
		}
		if (fstat(fd, &fst) < 0 || !S_ISREG(fst.st_mode) || fst.st_nlink != 1) {
			log_warnx("pid file %s is not a regular file with one link", path);
			goto fail;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			if (errno == EWOULDBLOCK)
				log_warnx("pid file %s is locked by xlatflowd pid %ld, which is "
					  "running; not starting a second instance",
					  path, pidfile_read(fd));
			else
				log_warn("pid file %s: flock", path);
			goto fail;
		}
		if (stat(path, &pst) == 0 && pst.st_dev == fst.st_dev && pst.st_ino == fst.st_ino)
			break;
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		log_warnx("pid file %s keeps being replaced; not starting", path);
		return -1;
	}
	if ((rc = pidfile_write(fd)) < 0) {
		log_warnx("pid file %s: %s", path, strerror(-rc));
		unlink(path);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

/* The signals the event loop handles; blocked from before setup on. */
static void loop_signals(sigset_t *mask)
{
	sigemptyset(mask);
	sigaddset(mask, SIGTERM);
	sigaddset(mask, SIGINT);
	sigaddset(mask, SIGHUP);
	sigaddset(mask, SIGUSR1); /* its default action would kill the daemon */
}

/*
 * daemon(3), except for two things. The starting process (the pid its caller
 * knows) exits only when the daemon has written its own pid into the pid
 * file (daemon_ready()), or has died: whoever reads the pid file after it
 * returned (systemd's Type=forking, an init script, a test) finds the
 * daemon's pid, never the starting process's. And a signal sent to the
 * starting process meanwhile is passed on to the daemon instead of being
 * lost with it: a SIGTERM then still stops the daemon cleanly. In the
 * daemon, *ready is the pipe end daemon_ready() closes.
 */
static int daemonize(const sigset_t *mask, int *ready)
{
	sigset_t pending;
	int fd, pfd[2];
	pid_t pid;
	char byte;

	if (pipe(pfd) < 0)
		return -errno;
	fcntl(pfd[0], F_SETFD, FD_CLOEXEC);
	fcntl(pfd[1], F_SETFD, FD_CLOEXEC);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -errno;
	}
	if (pid > 0) {
		ssize_t n;

		close(pfd[1]);
		do
			n = read(pfd[0], &byte, 1);
		while (n < 0 && errno == EINTR);
		if (sigpending(&pending) == 0)
			for (int sig = 1; sig < NSIG; sig++)
				if (sigismember(mask, sig) == 1 && sigismember(&pending, sig) == 1)
					kill(pid, sig);
		/* no byte: the daemon died before it was ready */
		_exit(n == 1 ? 0 : 1);
	}
	close(pfd[0]);
	*ready = pfd[1];
	if (setsid() < 0 || chdir("/") < 0)
		return -errno;
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (int i = 0; i <= 2; i++)
		if (dup2(fd, i) < 0)
			return -errno;
	if (fd > 2)
		close(fd);
	return 0;
}

/* The daemon is set up and its pid file holds its pid: the starting process may exit. */
static void daemon_ready(int *ready)
{
	if (*ready < 0)
		return;
	if (write(*ready, "1", 1) != 1)
		log_warn("telling the starting process");
	close(*ready);
	*ready = -1;
}

static int timer_arm(int tfd, uint32_t ms)
{
	struct itimerspec its = {
		.it_interval = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L },
		.it_value = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L },
	};

	return timerfd_settime(tfd, 0, &its, NULL);
}

static int epoll_add(int ep, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };

	if (fd >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		log_warn("epoll_ctl");
		return -1;
	}
	return 0;
}

#define TAG_SIGNAL 100
#define TAG_TIMER 101
#define TAG_PACE 102
#define TAG_METRICS 103

/*
 * At SIGTERM, cached flows leave at the collectors' pace for at most this
 * long; what is left then goes at once. systemd's stop timeout
 * (TimeoutStopSec=30s in etc/xlatflowd.service) leaves 10 s beyond it for
 * the last drain, the unpaced rest and the TCP queues (2 s).
 */
#define SHUTDOWN_PACED_MS 20000
/* While stopping, TCP queues are written at least this often. */
#define SHUTDOWN_POLL_MS 20

/* The pacing timer: one shot at CLOCK_MONOTONIC at_ns; 0 disarms. */
static void pace_arm(int pfd, uint64_t at_ns, uint64_t *armed)
{
	struct itimerspec its = {
		.it_value = { .tv_sec = (time_t)(at_ns / 1000000000ULL),
			      .tv_nsec = (long)(at_ns % 1000000000ULL) },
	};

	if (at_ns == *armed)
		return;
	if (timerfd_settime(pfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		log_warn("timerfd");
	*armed = at_ns;
}

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

/*
 * SIGTERM or SIGINT: the kernel is drained one last time and the loop goes
 * on, exporting cached flows at the collectors' pace, until they are all
 * sent, SHUTDOWN_PACED_MS passed, or a second SIGTERM/SIGINT says not to
 * wait: then the rest goes at once.
 */
static void shutdown_begin(struct pipeline *p, int ep, int tfd, uint32_t signo)
{
	struct itimerspec off = { 0 };
	int fd = pipeline_fd(p, PIPE_FD_FLOW_EVENTS);

	sd_notify(0, "STOPPING=1");
	log_info("%s: exporting cached flows and exiting (a second signal sends them at once)",
		 strsignal((int)signo));
	timerfd_settime(tfd, 0, &off, NULL);
	/* nothing reads the ring buffer any more: its events must not wake the loop */
	if (fd >= 0)
		epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	pipeline_shutdown_begin(p);
}

/*
 * metrics_http's view of the pipeline. ctx is run()'s pipeline pointer:
 * the endpoint is opened before the pipeline exists, and answers only
 * inside the event loop, once it does.
 */
static void fill_metrics(void *ctx, struct metrics_snapshot *s)
{
	pipeline_metrics(*(struct pipeline **)ctx, s);
}

static int run(struct cli *cli, struct xf_config *cfg)
{
	struct pipeline *p = NULL;
	struct metrics_http *metrics = NULL;
	char err[1024];
	sigset_t mask;
	int ep = -1, sfd = -1, tfd = -1, pfd = -1, pidfd = -1, ready = -1, rc, status = 1;
	bool running = true, at_once = false;
	uint64_t armed = 0, deadline = 0;

	/*
	 * Before any setup: a stop signal that arrives while the programs are
	 * loaded and attached waits, pending, for the event loop, which then
	 * stops as on any SIGTERM (filters detached, exit 0). Its default
	 * action would kill the daemon between the attach and the loop and
	 * leave the filters behind. SIGPIPE: a collector that closes its TCP
	 * connection is an EPIPE to handle, not a reason to die.
	 */
	loop_signals(&mask);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	/*
	 * The first line the daemon prints, after the block: a stop signal
	 * that kills it outright (before the block) finds nothing printed and
	 * nothing set up (tests/fault/startup.sh). Before the block, a SIGTERM
	 * between two writes of this line left half a line and a dead daemon.
	 */
	if (cfg->observation_domain_auto)
		log_info("observation domain %u (from %s)", cfg->observation_domain_id,
			 IDENTITY_MACHINE_ID_PATH);

	if (!cfg->foreground && cfg->pidfile[0] && (pidfd = pidfile_lock(cfg->pidfile)) < 0)
		goto out;
	/*
	 * Bound first: a port in use stops the start before any program is
	 * loaded or attached, and before the capabilities go and the fork.
	 */
	if (cfg->metrics_listen[0]) {
		metrics =
			metrics_http_open(cfg->metrics_listen, fill_metrics, &p, err, sizeof(err));
		if (!metrics) {
			log_warnx("%s", err);
			goto out;
		}
	}
	p = pipeline_new(cfg, err, sizeof(err));
	if (!p) {
		log_warnx("%s", err);
		/* libbpf's own account (the verifier log, say) is at debug */
		if (strstr(err, "BPF") && log_get_level() < LOG_LEVEL_DEBUG)
			log_warnx("(-v or log_level \"debug\" also shows libbpf's messages)");
		goto out;
	}
	pipeline_scan_interfaces(p);

	/* Before the fork, so that a refused drop fails the start visibly. */
	if ((rc = privdrop_after_setup(err, sizeof(err))) < 0) {
		if (!cfg->allow_capabilities_kept) {
			log_warnx("dropping capabilities failed (%s); stopping. Set "
				  "allow_capabilities_kept = true to run with them",
				  err);
			goto out;
		}
		log_warnx("dropping capabilities failed (%s); running with them "
			  "(allow_capabilities_kept = true)",
			  err);
	}

	/*
	 * Fork before the signalfd and the epoll set exist: a signalfd wakes
	 * only the epoll sets of the process that added it, so the daemon's
	 * own must be made after the fork.
	 */
	if (!cfg->foreground) {
		if ((rc = daemonize(&mask, &ready)) < 0) {
			log_warnx("detaching: %s", strerror(-rc));
			goto out;
		}
		log_copy_to_stderr(false);
		if (pidfd >= 0 && (rc = pidfile_write(pidfd)) < 0)
			log_warnx("pid file %s: %s", cfg->pidfile, strerror(-rc));
	}

	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	pfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || tfd < 0 || pfd < 0 || ep < 0) {
		log_warn("signalfd/timerfd/epoll");
		goto out;
	}
	timer_arm(tfd, pipeline_drain_interval_ms(p));
	if (epoll_add(ep, sfd, TAG_SIGNAL) < 0 || epoll_add(ep, tfd, TAG_TIMER) < 0 ||
	    epoll_add(ep, pfd, TAG_PACE) < 0 ||
	    (metrics && epoll_add(ep, metrics_http_fd(metrics), TAG_METRICS) < 0))
		goto out;
	for (int i = 0; i < PIPE_FD_MAX; i++)
		if (epoll_add(ep, pipeline_fd(p, i), (uint64_t)i) < 0)
			goto out;

	pipeline_log_summary(p);
	sd_notify(0, "READY=1");
	daemon_ready(&ready);

	for (;;) {
		struct epoll_event evs[8];
		int n = epoll_wait(ep, evs, 8, -1);
		uint64_t next;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_warn("epoll_wait");
			break;
		}
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64, ticks;

			if (tag == TAG_TIMER || tag == TAG_PACE) {
				if (read(tag == TAG_TIMER ? tfd : pfd, &ticks, sizeof(ticks)) < 0 &&
				    errno != EAGAIN)
					log_warn("timerfd");
				if (tag == TAG_PACE)
					armed = 0; /* fired: a one-shot timer is disarmed */
				if (!running)
					continue;
				if (tag == TAG_TIMER) {
					pipeline_cycle(p);
					/* connection timeouts: at most a drain interval late */
					if (metrics)
						metrics_http_run(metrics);
				} else {
					pipeline_pace(p);
				}
			} else if (tag == TAG_METRICS) {
				metrics_http_run(metrics);
			} else if (tag == TAG_SIGNAL) {
				struct signalfd_siginfo si;

				while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo == SIGHUP && running) {
						reload(cli, p, tfd);
					} else if (si.ssi_signo == SIGUSR1) {
						pipeline_log_stats(p, "SIGUSR1");
					} else if ((si.ssi_signo == SIGTERM ||
						    si.ssi_signo == SIGINT) &&
						   running) {
						shutdown_begin(p, ep, tfd, si.ssi_signo);
						running = false;
						deadline = clock_mono_ns() +
							   SHUTDOWN_PACED_MS * 1000000ULL;
					} else if (si.ssi_signo == SIGTERM ||
						   si.ssi_signo == SIGINT) {
						log_info("%s again: sending the rest at once",
							 strsignal((int)si.ssi_signo));
						at_once = true;
					}
				}
			} else if (running || tag != PIPE_FD_FLOW_EVENTS) {
				pipeline_handle_fd(p, (enum pipeline_fd)tag);
			}
		}
		if (running) {
			pace_arm(pfd, pipeline_next_send_ns(p), &armed);
			continue;
		}
		if (at_once)
			break;
		if (clock_mono_ns() >= deadline) {
			log_warnx("shutdown: still exporting after %d s", SHUTDOWN_PACED_MS / 1000);
			break;
		}
		if (pipeline_shutdown_step(p))
			break;
		/* the next datagrams' turn, and a look at TCP queues every few ms */
		next = pipeline_next_send_ns(p);
		if (!next || next > clock_mono_ns() + SHUTDOWN_POLL_MS * 1000000ULL)
			next = clock_mono_ns() + SHUTDOWN_POLL_MS * 1000000ULL;
		pace_arm(pfd, next, &armed);
	}
	if (!running)
		status = 0; /* stopped by a signal, not by an error */
	else
		pipeline_shutdown_begin(p); /* an error ended the loop: export what is cached */
	pipeline_shutdown_finish(p);
out:
	/* a start that failed after the fork: the starting process exits 1 */
	if (ready >= 0)
		close(ready);
	/* Every exit after setup goes through here: pipeline_free detaches. */
	metrics_http_free(metrics);
	pipeline_free(p);
	if (pidfd >= 0) {
		unlink(cfg->pidfile);
		close(pidfd);
	}
	if (ep >= 0)
		close(ep);
	if (sfd >= 0)
		close(sfd);
	if (tfd >= 0)
		close(tfd);
	if (pfd >= 0)
		close(pfd);
	return status;
}

int main(int argc, char **argv)
{
	struct cli cli;
	struct xf_config cfg;
	char err[1024];
	int rc;

	if (parse_args(argc, argv, &cli) < 0) {
		rc = 2;
		goto out;
	}
	log_init(true, cli.verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO, "xlatflowd");
	if (build_config(&cli, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "xlatflowd: %s\n", err);
		rc = 1;
		goto out;
	}
	if (cli.check_config) {
		config_print(&cfg, stdout);
		rc = 0;
	} else {
		log_init(cfg.foreground, cfg.log_level, "xlatflowd");
		/* until it detaches, a daemon's start-up errors also go to the terminal */
		log_copy_to_stderr(!cfg.foreground);
		log_route_libraries();
		rc = run(&cli, &cfg);
	}
	config_release(&cfg);
out:
	g_free(cli.key_args);
	return rc;
}
