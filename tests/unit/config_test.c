// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit test for src/config.c: defaults, a full file against a golden print,
 * print -> parse -> print round trips, one input file per error with the
 * exact expected message, file permission checks, command-line additions,
 * the options of the key table and interface matching.
 *
 * Inputs live in $srcdir/tests/unit/config/. Each is copied (mode 0600, so
 * the ownership/mode check passes whatever the checkout's umask) into a
 * private temporary directory that is also the working directory, so
 * messages carry short, stable "name.conf:line" prefixes.
 */
#define _GNU_SOURCE /* asprintf */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "config.h"
#include "log.h"
#include "testutil.h"

static char datadir[8300], topdir[8200], tmpdir[] = "/tmp/xf-config-test.XXXXXX";

/* Whole file into a malloc'd string; NULL if unreadable. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;

	if (!f)
		return NULL;
	FILE *m = open_memstream(&buf, &len);
	int ch;

	while ((ch = fgetc(f)) != EOF)
		fputc(ch, m);
	fclose(m);
	fclose(f);
	return buf;
}

static char *printed(const struct xf_config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	config_print(cfg, m);
	fclose(m);
	return buf;
}

/* Copy $datadir/name (or $topdir/rel) to ./base with mode 0600. */
static void copy_in(const char *src, const char *dst)
{
	char *text = slurp(src);
	int fd;

	if (!text) {
		fprintf(stderr, "cannot read test input %s: %s\n", src, strerror(errno));
		exit(99);
	}
	unlink(dst);
	fd = open(dst, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || close(fd) < 0) {
		fprintf(stderr, "cannot write %s: %s\n", dst, strerror(errno));
		exit(99);
	}
	free(text);
}

static void copy_data(const char *name)
{
	char *src;

	if (asprintf(&src, "%s/%s", datadir, name) < 0)
		exit(99);
	copy_in(src, name);
	free(src);
}

static char *golden(const char *name)
{
	char *path, *text;

	if (asprintf(&path, "%s/%s", datadir, name) < 0)
		exit(99);
	text = slurp(path);
	if (!text) {
		fprintf(stderr, "cannot read golden file %s: %s\n", path, strerror(errno));
		exit(99);
	}
	free(path);
	return text;
}

/* Print -> parse -> print must give the same text. */
static void check_round_trip(const struct xf_config *cfg, const char *name)
{
	struct xf_config again;
	char err[1024] = "";
	char *first = printed(cfg), *second;
	int rc;

	config_defaults(&again);
	rc = config_load_string(&again, first, name, err, sizeof(err));
	CHECK_INT(rc, 0);
	if (rc)
		fprintf(stderr, "round trip of %s: %s\n", name, err);
	second = printed(&again);
	CHECK_STR(second, first);
	free(first);
	free(second);
	config_release(&again);
}

static void test_defaults(void)
{
	struct xf_config cfg;
	char err[1024] = "";
	char *out, *want;

	config_defaults(&cfg);
	CHECK_STR(cfg.path, "");
	CHECK_INT(cfg.n_include, 0);
	CHECK_INT(cfg.n_exclude, 1);
	CHECK_STR(cfg.exclude[0], "lo");
	CHECK_INT(cfg.n_collectors, 0);
	CHECK_INT(cfg.observation_domain_auto, true);
	CHECK_INT(cfg.active_timeout, 60);
	CHECK_INT(cfg.idle_timeout, 15);
	CHECK_INT(cfg.max_flows, 1000000);
	CHECK_INT(cfg.kernel_max_flows, 65536);
	CHECK_INT(cfg.ringbuf_size, 4194304);
	CHECK_INT(cfg.datapath_order, XF_DATAPATH_AUTO);
	CHECK_INT(cfg.datapath_probe_interval, 60);
	CHECK_INT(cfg.drain_interval_ms, 1000);
	CHECK_INT(cfg.template_refresh, 60);
	CHECK_INT(cfg.template_refresh_messages, 0);
	CHECK_INT(cfg.sampling, 1);
	CHECK_INT(cfg.nat_hook, XF_NAT_AUTO);
	CHECK_INT(cfg.enterprise_number, 32473);
	CHECK_INT(cfg.zone_as_vrf, false);
	CHECK_INT(cfg.xlat_timeout, 300);
	CHECK_INT(cfg.max_translations, 786432);
	CHECK_INT(cfg.stats_interval, 300);
	CHECK_INT(cfg.log_level, LOG_LEVEL_INFO);
	CHECK_STR(cfg.pidfile, "/run/xlatflowd.pid");
	CHECK_INT(cfg.foreground, false);
	CHECK_INT(cfg.verbose, false);

	/* Defaults alone have no collector, so they must not validate. */
	CHECK_INT(config_validate(&cfg, err, sizeof(err)), -EINVAL);
	CHECK_STR(err,
		  "configuration: no collector configured; set 'collectors' or use --collector");

	out = printed(&cfg);
	want = golden("defaults.golden");
	CHECK_STR(out, want);
	free(out);
	free(want);
	check_round_trip(&cfg, "");
	config_release(&cfg);
	config_release(&cfg); /* released twice: must be harmless */
	config_release(NULL);
}

static void test_full(void)
{
	struct xf_config cfg;
	char err[1024] = "";
	char *out, *want;
	int rc;

	copy_data("full.conf");
	config_defaults(&cfg);
	rc = config_load_file(&cfg, "full.conf", err, sizeof(err));
	CHECK_INT(rc, 0);
	if (rc) {
		fprintf(stderr, "full.conf: %s\n", err);
		config_release(&cfg);
		return;
	}
	CHECK_INT(config_validate(&cfg, err, sizeof(err)), 0);
	CHECK_STR(cfg.path, "full.conf");
	CHECK_INT(cfg.n_include, 3);
	CHECK_STR(cfg.include[2], "en[ops]*");
	CHECK_INT(cfg.n_exclude, 2);
	CHECK_INT(cfg.n_collectors, 3);
	CHECK_INT(cfg.collectors[0].transport, XF_TRANSPORT_UDP);
	CHECK_INT(cfg.collectors[0].mtu, 9000);
	CHECK_INT(cfg.collectors[0].rate, 50000);
	CHECK_INT(cfg.collectors[0].burst, 100);
	CHECK_STR(cfg.collectors[0].host, "127.0.0.1");
	CHECK_STR(cfg.collectors[0].port, "4739");
	CHECK_INT(cfg.collectors[0].addr.ss_family, AF_INET);
	CHECK_INT(cfg.collectors[0].addrlen, sizeof(struct sockaddr_in));
	CHECK_INT(ntohs(((struct sockaddr_in *)&cfg.collectors[0].addr)->sin_port), 4739);
	CHECK_INT(ntohl(((struct sockaddr_in *)&cfg.collectors[0].addr)->sin_addr.s_addr),
		  0x7f000001);
	CHECK_INT(cfg.collectors[1].transport, XF_TRANSPORT_TCP);
	CHECK_INT(cfg.collectors[1].protocol, XF_PROTO_IPFIX);
	CHECK_INT(cfg.collectors[1].mtu, 1500);
	CHECK_INT(cfg.collectors[1].rate, XF_DEFAULT_RATE);
	CHECK_INT(cfg.collectors[1].burst, XF_DEFAULT_BURST);
	CHECK_STR(cfg.collectors[1].host, "2001:db8::1");
	CHECK_INT(cfg.collectors[1].addr.ss_family, AF_INET6);
	CHECK_INT(cfg.collectors[1].addrlen, sizeof(struct sockaddr_in6));
	CHECK_INT(cfg.collectors[2].protocol, XF_PROTO_NETFLOW9);
	CHECK_INT(cfg.collectors[2].rate, 0);
	CHECK_INT(ntohs(((struct sockaddr_in6 *)&cfg.collectors[2].addr)->sin6_port), 2055);
	CHECK_INT(cfg.observation_domain_id, 4000000000u);
	CHECK_INT(cfg.observation_domain_auto, false);
	CHECK_INT(cfg.ringbuf_size, 0x1000000);
	CHECK_INT(cfg.datapath_order, XF_DATAPATH_SLOTS);
	CHECK_INT(cfg.datapath_probe_interval, 5);
	CHECK_INT(cfg.nat_hook, XF_NAT_CONNTRACK);
	CHECK_INT(cfg.zone_as_vrf, true);
	CHECK_INT(cfg.max_translations, 50000);
	CHECK_INT(cfg.log_level, LOG_LEVEL_DEBUG);
	CHECK_INT(cfg.allow_capabilities_kept, true);

	out = printed(&cfg);
	want = golden("full.golden");
	CHECK_STR(out, want);
	free(out);
	free(want);
	check_round_trip(&cfg, "full.conf");
	config_release(&cfg);
}

/* Collector groups: members in order, each in its group; printed as groups, round trip. */
static void test_pools(void)
{
	struct xf_config cfg;
	char err[1024] = "";
	char *out, *want;
	int rc;

	copy_data("pools.conf");
	config_defaults(&cfg);
	cfg.observation_domain_auto = false;
	rc = config_load_file(&cfg, "pools.conf", err, sizeof(err));
	CHECK_INT(rc, 0);
	if (rc)
		fprintf(stderr, "pools.conf: %s\n", err);
	CHECK_INT(config_validate(&cfg, err, sizeof(err)), 0);
	CHECK_INT(cfg.observation_domain_auto, true);
	CHECK_INT(cfg.n_collectors, 8);
	CHECK_INT(cfg.n_pools, 4);
	CHECK_INT(cfg.pools[0].mode, XF_POOL_MIRROR);
	CHECK_INT(cfg.pools[0].first, 0);
	CHECK_INT(cfg.pools[0].n_members, 1);
	CHECK_INT(cfg.pools[1].mode, XF_POOL_HASH);
	CHECK_INT(cfg.pools[1].first, 1);
	CHECK_INT(cfg.pools[1].n_members, 3);
	CHECK_INT(cfg.pools[2].mode, XF_POOL_ROUND_ROBIN);
	CHECK_INT(cfg.pools[2].first, 4);
	CHECK_INT(cfg.pools[2].n_members, 2);
	CHECK_INT(cfg.pools[3].mode, XF_POOL_MIRROR); /* the default mode */
	CHECK_INT(cfg.pools[3].n_members, 2);
	for (int i = 0; i < cfg.n_collectors; i++)
		CHECK_INT(cfg.collectors[i].pool, i == 0 ? 0 : i < 4 ? 1 : i < 6 ? 2 : 3);
	CHECK_STR(cfg.collectors[3].url, "udp://127.0.0.1:4803");
	CHECK_INT(cfg.collectors[3].rate, 1000); /* a member keeps its own pacing */
	CHECK_INT(cfg.collectors[3].burst, 10);
	CHECK_INT(cfg.collectors[1].transport, XF_TRANSPORT_TCP);
	CHECK_INT(cfg.collectors[4].addr.ss_family, AF_INET6);
	out = printed(&cfg);
	want = golden("pools.golden");
	CHECK_STR(out, want);
	free(out);
	free(want);
	check_round_trip(&cfg, "pools.conf");
	config_release(&cfg);

	/* --collector: one plain collector (a group of its own) each */
	config_defaults(&cfg);
	CHECK_INT(config_add_collector(&cfg, "udp://127.0.0.1:1", "--collector", err, sizeof(err)),
		  0);
	CHECK_INT(config_add_collector(&cfg, "udp://127.0.0.1:2", "--collector", err, sizeof(err)),
		  0);
	CHECK_INT(cfg.n_pools, 2);
	CHECK_INT(cfg.pools[1].first, 1);
	CHECK_INT(cfg.pools[1].n_members, 1);
	CHECK_INT(cfg.collectors[1].pool, 1);
	config_clear_collectors(&cfg);
	CHECK_INT(cfg.n_pools, 0);
	config_release(&cfg);
}

/* The shipped, commented etc/xlatflowd.conf must load, validate and print as recorded. */
static void test_shipped(void)
{
	struct xf_config cfg;
	char err[1024] = "";
	char *src, *out, *want;
	int rc;

	if (asprintf(&src, "%s/etc/xlatflowd.conf", topdir) < 0)
		exit(99);
	copy_in(src, "xlatflowd.conf");
	free(src);
	config_defaults(&cfg);
	rc = config_load_file(&cfg, "xlatflowd.conf", err, sizeof(err));
	CHECK_INT(rc, 0);
	if (rc)
		fprintf(stderr, "shipped config: %s\n", err);
	rc = config_validate(&cfg, err, sizeof(err));
	CHECK_INT(rc, 0);
	if (rc)
		fprintf(stderr, "shipped config: %s\n", err);
	out = printed(&cfg);
	want = golden("shipped.golden");
	CHECK_STR(out, want);
	free(out);
	free(want);
	config_release(&cfg);
}

/*
 * Every NAME.conf with a NAME.err: loading (and, if that succeeds,
 * validating) must fail with -EINVAL and exactly the recorded message.
 */
static void test_error_files(void)
{
	DIR *d = opendir(datadir);
	struct dirent *de;
	int cases = 0;

	if (!d) {
		fprintf(stderr, "cannot open %s: %s\n", datadir, strerror(errno));
		exit(99);
	}
	while ((de = readdir(d))) {
		char conf[512], errname[512], err[1024] = "";
		size_t n = strlen(de->d_name);
		struct xf_config cfg;
		char *want;
		int rc;

		if (n < 5 || strcmp(de->d_name + n - 4, ".err") != 0 || n > 400)
			continue;
		snprintf(errname, sizeof(errname), "%s", de->d_name);
		snprintf(conf, sizeof(conf), "%.*s.conf", (int)(n - 4), de->d_name);
		copy_data(conf);
		want = golden(errname);
		want[strcspn(want, "\n")] = '\0';

		config_defaults(&cfg);
		rc = config_load_file(&cfg, conf, err, sizeof(err));
		if (rc == 0)
			rc = config_validate(&cfg, err, sizeof(err));
		if (rc != -EINVAL || strcmp(err, want) != 0) {
			fprintf(stderr,
				"%s: rc %d, message\n  \"%s\"\nexpected -EINVAL and\n  \"%s\"\n",
				conf, rc, err, want);
			tu_failures++;
		}
		tu_checks++;
		cases++;
		free(want);
		config_release(&cfg);
	}
	closedir(d);
	/* Guard against a wrong $srcdir silently testing nothing. */
	CHECK(cases >= 35);
}

/* Every numeric key one below its minimum and one above its maximum. */
static void test_ranges(void)
{
	static const struct {
		const char *key;
		long long lo, hi;
	} keys[] = {
		{ "active_timeout", 1, 86400 },	      { "idle_timeout", 1, 86400 },
		{ "max_flows", 1, 100000000 },	      { "kernel_max_flows", 1024, 16777216 },
		{ "ringbuf_size", 4096, 1073741824 }, { "drain_interval_ms", 10, 60000 },
		{ "template_refresh", 1, 86400 },     { "template_refresh_messages", 0, 1000000 },
		{ "sampling", 1, 1000000 },	      { "enterprise_number", 1, 4294967295LL },
		{ "xlat_timeout", 1, 86400 },	      { "observation_domain_id", 0, 4294967295LL },
		{ "max_translations", 1, 100000000 }, { "datapath_probe_interval", 1, 86400 },
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		long long bad[2] = { keys[i].lo - 1, keys[i].hi + 1 };

		for (int j = 0; j < 2; j++) {
			struct xf_config cfg;
			char text[256], err[1024] = "", want[1024];
			int rc;

			/* The L suffix keeps libconfig from wrapping 4294967296. */
			snprintf(text, sizeof(text), "\n%s = %lldL;\n", keys[i].key, bad[j]);
			snprintf(want, sizeof(want),
				 "range:2: '%s' must be in %lld..%lld, not %lld", keys[i].key,
				 keys[i].lo, keys[i].hi, bad[j]);
			config_defaults(&cfg);
			rc = config_load_string(&cfg, text, "range", err, sizeof(err));
			CHECK_INT(rc, -EINVAL);
			CHECK_STR(err, want);
			config_release(&cfg);
		}
		/* And both bounds themselves are accepted. */
		for (int j = 0; j < 2; j++) {
			struct xf_config cfg;
			long long ok = j ? keys[i].hi : keys[i].lo;
			char text[256], err[1024] = "";
			const char *k = keys[i].key;

			snprintf(text, sizeof(text), "%s = %lldL;\n", k, ok);
			config_defaults(&cfg);
			CHECK_INT(config_load_string(&cfg, text, "range", err, sizeof(err)), 0);
			CHECK_STR(err, "");
			config_release(&cfg);
		}
	}
}

static void test_unresolvable(void)
{
	const char *host = "collector.example.invalid";
	struct addrinfo hints = { 0 }, *res = NULL;
	char text[256], err[1024] = "", want[1024];
	struct xf_config cfg;
	int gai;

	/*
	 * .invalid never resolves (RFC 6761), but whether the resolver says
	 * "not known" or "temporary failure" depends on the machine's DNS, so
	 * ask it first for the exact text to expect.
	 */
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICSERV;
	gai = getaddrinfo(host, "4739", &hints, &res);
	CHECK(gai != 0);
	if (gai == 0) {
		freeaddrinfo(res);
		return;
	}
	snprintf(text, sizeof(text), "collectors = (\n\t{ url = \"udp://%s:4739\"; }\n);\n", host);
	snprintf(want, sizeof(want), "demo:2: 'collectors[0].url': cannot resolve '%s': %s", host,
		 gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
	config_defaults(&cfg);
	CHECK_INT(config_load_string(&cfg, text, "demo", err, sizeof(err)), -EINVAL);
	CHECK_STR(err, want);

	err[0] = '\0';
	snprintf(want, sizeof(want), "--collector: cannot resolve '%s': %s", host,
		 gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
	snprintf(text, sizeof(text), "tcp://%s:4739", host);
	CHECK_INT(config_add_collector(&cfg, text, "--collector", err, sizeof(err)), -EINVAL);
	CHECK_STR(err, want);
	config_release(&cfg);
}

static void test_file_access(void)
{
	struct xf_config cfg;
	char err[1024] = "";

	config_defaults(&cfg);
	CHECK_INT(config_load_file(&cfg, "/nonexistent/xlatflowd.conf", err, sizeof(err)), -ENOENT);
	CHECK_STR(err, "cannot read /nonexistent/xlatflowd.conf: No such file or directory");

	CHECK_INT(config_load_file(&cfg, ".", err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "cannot read .: not a regular file");

	copy_data("full.conf");
	chmod("full.conf", 0666);
	CHECK_INT(config_load_file(&cfg, "full.conf", err, sizeof(err)), -EPERM);
	CHECK_STR(err, "refusing full.conf: writable by group or others (mode 0666); "
		       "fix with chmod go-w full.conf");
	chmod("full.conf", 0620);
	CHECK_INT(config_load_file(&cfg, "full.conf", err, sizeof(err)), -EPERM);
	CHECK_STR(err, "refusing full.conf: writable by group or others (mode 0620); "
		       "fix with chmod go-w full.conf");
	/* Readable by all is fine; only writability matters. */
	chmod("full.conf", 0644);
	CHECK_INT(config_load_file(&cfg, "full.conf", err, sizeof(err)), 0);
	config_release(&cfg);

	/* A file owned by someone else: only root can create one to test with. */
	if (geteuid() == 0) {
		config_defaults(&cfg);
		CHECK_INT(chown("full.conf", 4242, 4242), 0);
		CHECK_INT(config_load_file(&cfg, "full.conf", err, sizeof(err)), -EPERM);
		CHECK_STR(err, "refusing full.conf: owned by uid 4242, not by root or the current "
			       "user (uid 0)");
		config_release(&cfg);
	} else {
		tu_skip_check("foreign-owner check", "needs root to chown");
	}

	/* @include'd files are held to the same rules as the main file. */
	config_defaults(&cfg);
	{
		FILE *f = fopen("include.conf", "w");

		fputs("@include \"inc/part.conf\"\n", f);
		fclose(f);
		chmod("include.conf", 0600);
		mkdir("inc", 0700);
		f = fopen("inc/part.conf", "w");
		fputs("sampling = 7;\nidle_timout = 3;\n", f);
		fclose(f);
		chmod("inc/part.conf", 0600);
	}
	CHECK_INT(config_load_file(&cfg, "include.conf", err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "inc/part.conf:2: unknown key 'idle_timout'");
	CHECK_INT(cfg.sampling, 7);
	chmod("inc/part.conf", 0602);
	CHECK_INT(config_load_file(&cfg, "include.conf", err, sizeof(err)), -EPERM);
	CHECK_STR(err, "refusing inc/part.conf: writable by group or others (mode 0602); "
		       "fix with chmod go-w inc/part.conf");
	config_release(&cfg);
}

static void test_command_line(void)
{
	struct xf_config cfg;
	char err[1024] = "";
	const struct sockaddr_in6 *sin6;

	config_defaults(&cfg);
	CHECK_INT(config_add_collector(&cfg, "tcp://[::1]:4740", "--collector", err, sizeof(err)),
		  0);
	CHECK_INT(cfg.n_collectors, 1);
	CHECK_INT(cfg.collectors[0].transport, XF_TRANSPORT_TCP);
	CHECK_INT(cfg.collectors[0].protocol, XF_PROTO_IPFIX);
	CHECK_INT(cfg.collectors[0].mtu, 1500);
	CHECK_STR(cfg.collectors[0].url, "tcp://[::1]:4740");
	CHECK_STR(cfg.collectors[0].host, "::1");
	CHECK_STR(cfg.collectors[0].port, "4740");
	sin6 = (const struct sockaddr_in6 *)&cfg.collectors[0].addr;
	CHECK_INT(sin6->sin6_family, AF_INET6);
	CHECK_INT(ntohs(sin6->sin6_port), 4740);
	CHECK(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));

	CHECK_INT(config_add_collector(&cfg, "udp:/127.0.0.1:1", "--collector", err, sizeof(err)),
		  -EINVAL);
	CHECK_STR(err,
		  "--collector: bad URL \"udp:/127.0.0.1:1\": scheme must be udp:// or tcp://");
	CHECK_INT(cfg.n_collectors, 1);

	for (int i = 1; i < XF_MAX_COLLECTORS; i++)
		CHECK_INT(
			config_add_collector(&cfg, "udp://127.0.0.1:4739", "-c", err, sizeof(err)),
			0);
	CHECK_INT(config_add_collector(&cfg, "udp://127.0.0.1:4739", "-c", err, sizeof(err)),
		  -EINVAL);
	CHECK_STR(err, "-c: too many collectors (at most 16)");
	config_clear_collectors(&cfg);
	CHECK_INT(cfg.n_collectors, 0);

	CHECK_INT(config_add_interface(&cfg, "", err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "--interface: interface pattern must not be empty");
	CHECK_INT(config_add_interface(&cfg, "veth*", err, sizeof(err)), 0);
	CHECK_INT(cfg.n_include, 1);
	CHECK_INT(config_add_collector(&cfg, "udp://127.0.0.1:4739", "-c", err, sizeof(err)), 0);
	CHECK_INT(config_validate(&cfg, err, sizeof(err)), 0);

	/* Command line replaces what the file said. */
	copy_data("full.conf");
	CHECK_INT(config_load_file(&cfg, "full.conf", err, sizeof(err)), 0);
	CHECK_INT(cfg.n_include, 3);
	config_clear_interfaces(&cfg);
	CHECK_INT(cfg.n_include, 0);
	CHECK_INT(config_validate(&cfg, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "full.conf: no interface to capture on; set 'interfaces.include' or use "
		       "--interface");
	CHECK_INT(config_add_interface(&cfg, "br-*", err, sizeof(err)), 0);
	CHECK_INT(config_validate(&cfg, err, sizeof(err)), 0);
	CHECK(config_interface_wanted(&cfg, "br-lan"));
	CHECK(!config_interface_wanted(&cfg, "eth0"));
	config_release(&cfg);

	/*
	 * The file's idle_timeout exceeds the default active_timeout, but
	 * main.c's --active-timeout may still fix that: only validate judges.
	 */
	copy_data("bad-idle-gt-default-active.conf");
	config_defaults(&cfg);
	CHECK_INT(config_load_file(&cfg, "bad-idle-gt-default-active.conf", err, sizeof(err)), 0);
	cfg.active_timeout = 300;
	CHECK_INT(config_add_interface(&cfg, "eth0", err, sizeof(err)), 0);
	CHECK_INT(config_add_collector(&cfg, "udp://127.0.0.1:4739", "-c", err, sizeof(err)), 0);
	CHECK_INT(config_validate(&cfg, err, sizeof(err)), 0);
	cfg.active_timeout = 119;
	CHECK_INT(config_validate(&cfg, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "bad-idle-gt-default-active.conf: 'active_timeout' (119) must be >= "
		       "'idle_timeout' (120)");
	config_release(&cfg);

	CHECK_STR(config_nat_hook_name(XF_NAT_FENTRY), "fentry");
	CHECK_STR(config_nat_hook_name(XF_NAT_OFF), "off");
	CHECK_STR(config_protocol_name(XF_PROTO_NETFLOW9), "netflow9");
}

/* Option index of --name, or -1. */
static int option_index(const char *name)
{
	const struct config_option *opt;

	for (size_t i = 0; (opt = config_option(i)); i++)
		if (strcmp(opt->name, name) == 0)
			return (int)i;
	return -1;
}

/* Set --name to arg; returns config_set_option()'s result, message in err. */
static int set_opt(struct xf_config *cfg, const char *name, const char *arg, char *err,
		   size_t err_len)
{
	int i = option_index(name);

	if (i < 0) {
		fprintf(stderr, "no option --%s\n", name);
		tu_failures++;
		return -999;
	}
	err[0] = '\0';
	return config_set_option(cfg, (size_t)i, arg, err, err_len);
}

/* The options the key table declares: names, arguments, --help text. */
static void test_option_table(void)
{
	static const struct {
		const char *name, *arg, *help;
	} want[] = {
		{ "observation-domain", "ID",
		  "IPFIX observation domain id of every message, or auto (default auto)" },
		{ "active-timeout", "SEC", "export long flows every SEC seconds (default 60)" },
		{ "idle-timeout", "SEC", "export flows idle for SEC seconds (default 15)" },
		{ "max-flows", "N", "flow cache bound (default 1000000)" },
		{ "kernel-max-flows", "N",
		  "flows per drain interval in the kernel (flow slots) (default 65536)" },
		{ "datapath-order", "ORDER", "auto|slots|ring (default auto)" },
		{ "drain-interval", "MS", "kernel map drain period (default 1000)" },
		{ "sampling", "N", "keep 1 packet in N (default 1)" },
		{ "nat-hook", "MODE", "auto|fentry|kprobe|conntrack|off (default auto)" },
		/* a flag: no argument */
		{ "zone-as-vrf", NULL,
		  "also export the conntrack zone as ingressVRFID (IE 234) (default off)" },
		{ "stats-interval", "SEC",
		  "log the counters every SEC seconds, 0: off (default 300)" },
		{ "log-level", "LEVEL", "err|warn|info|debug (default info)" },
		{ "pidfile", "FILE", "pid file when daemonized (default /run/xlatflowd.pid)" },
		{ "metrics-listen", "ADDR",
		  "serve Prometheus metrics there (\"\": off) (default \"\")" },
	};
	size_t n = sizeof(want) / sizeof(want[0]);
	char help[256], err[1024];
	struct xf_config cfg;

	for (size_t i = 0; i < n; i++) {
		const struct config_option *opt = config_option(i);

		CHECK(opt != NULL);
		if (!opt)
			return;
		CHECK_STR(opt->name, want[i].name);
		CHECK_STR(opt->arg ? opt->arg : "(none)", want[i].arg ? want[i].arg : "(none)");
		config_option_help(i, help, sizeof(help));
		CHECK_STR(help, want[i].help);
	}
	CHECK(config_option(n) == NULL);
	config_option_help(n, help, sizeof(help));
	CHECK_STR(help, "");
	config_defaults(&cfg);
	CHECK_INT(config_set_option(&cfg, n, "1", err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "no command-line option 14");
	config_release(&cfg);
}

/*
 * Every numeric option through the command-line path: both bounds set the
 * key, one past either bound and junk are refused with the option named and
 * the key left as it was.
 */
static void test_option_numbers(void)
{
	static const struct {
		const char *name;
		size_t off;
		long long lo, hi;
	} opts[] = {
		{ "active-timeout", offsetof(struct xf_config, active_timeout), 1, 86400 },
		{ "idle-timeout", offsetof(struct xf_config, idle_timeout), 1, 86400 },
		{ "max-flows", offsetof(struct xf_config, max_flows), 1, 100000000 },
		{ "kernel-max-flows", offsetof(struct xf_config, kernel_max_flows), 1024,
		  16777216 },
		{ "drain-interval", offsetof(struct xf_config, drain_interval_ms), 10, 60000 },
		{ "sampling", offsetof(struct xf_config, sampling), 1, 1000000 },
		{ "observation-domain", offsetof(struct xf_config, observation_domain_id), 0,
		  4294967295LL },
		{ "stats-interval", offsetof(struct xf_config, stats_interval), 0, 86400 },
	};
	static const char *const junk[] = { "", "x", "1x", " 5", "+5", "0x10", "-", "5 ", "1.5" };

	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		struct xf_config cfg;
		uint32_t *field = (uint32_t *)((char *)&cfg + opts[i].off);
		char arg[64], err[1024], want[1024];
		long long bad[3] = { opts[i].lo - 1, opts[i].hi + 1, 99999999999999999LL };
		uint32_t before;

		config_defaults(&cfg);
		for (int j = 0; j < 2; j++) {
			long long ok = j ? opts[i].hi : opts[i].lo;

			snprintf(arg, sizeof(arg), "%lld", ok);
			CHECK_INT(set_opt(&cfg, opts[i].name, arg, err, sizeof(err)), 0);
			CHECK_STR(err, "");
			CHECK_INT(*field, ok);
		}
		before = *field;
		for (int j = 0; j < 3; j++) {
			snprintf(arg, sizeof(arg), "%lld", bad[j]);
			snprintf(want, sizeof(want), "--%s: '%s' must be in %lld..%lld",
				 opts[i].name, arg, opts[i].lo, opts[i].hi);
			CHECK_INT(set_opt(&cfg, opts[i].name, arg, err, sizeof(err)), -EINVAL);
			CHECK_STR(err, want);
			CHECK_INT(*field, before);
		}
		/* far beyond long long: refused by the range, not taken modulo 2^64 */
		snprintf(want, sizeof(want), "--%s: '99999999999999999999' must be in %lld..%lld",
			 opts[i].name, opts[i].lo, opts[i].hi);
		CHECK_INT(set_opt(&cfg, opts[i].name, "99999999999999999999", err, sizeof(err)),
			  -EINVAL);
		CHECK_STR(err, want);
		for (size_t j = 0; j < sizeof(junk) / sizeof(junk[0]); j++) {
			snprintf(want, sizeof(want), "--%s: '%s' must be an integer in %lld..%lld",
				 opts[i].name, junk[j], opts[i].lo, opts[i].hi);
			CHECK_INT(set_opt(&cfg, opts[i].name, junk[j], err, sizeof(err)), -EINVAL);
			CHECK_STR(err, want);
			CHECK_INT(*field, before);
		}
		config_release(&cfg);
	}
}

/* The choices and the path through the command-line path. */
static void test_option_strings(void)
{
	static const char *const hooks[] = { "auto", "fentry", "kprobe", "conntrack", "off" };
	static const char *const levels[] = { "err", "warn", "info", "debug" };
	struct xf_config cfg;
	char err[1024], longpath[5000];

	/* --observation-domain: a number replaces "auto", and "auto" a number */
	config_defaults(&cfg);
	CHECK_INT(set_opt(&cfg, "observation-domain", "7", err, sizeof(err)), 0);
	CHECK_INT(cfg.observation_domain_auto, false);
	CHECK_INT(cfg.observation_domain_id, 7);
	CHECK_INT(set_opt(&cfg, "observation-domain", "auto", err, sizeof(err)), 0);
	CHECK_INT(cfg.observation_domain_auto, true);
	config_release(&cfg);

	config_defaults(&cfg);
	for (int i = 0; i < 5; i++) {
		CHECK_INT(set_opt(&cfg, "nat-hook", hooks[i], err, sizeof(err)), 0);
		CHECK_INT(cfg.nat_hook, i);
		CHECK_STR(config_nat_hook_name(cfg.nat_hook), hooks[i]);
		CHECK_INT(config_nat_hook_parse(hooks[i]), i);
	}
	CHECK_INT(config_nat_hook_parse("bpf"), -1);
	CHECK_INT(set_opt(&cfg, "nat-hook", "bpf", err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "--nat-hook: 'bpf' must be one of auto, fentry, kprobe, conntrack, off");
	CHECK_INT(set_opt(&cfg, "nat-hook", "Fentry", err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "--nat-hook: 'Fentry' must be one of auto, fentry, kprobe, conntrack, off");
	CHECK_INT(cfg.nat_hook, XF_NAT_OFF);

	for (int i = 0; i < 3; i++) {
		static const char *const orders[] = { "auto", "slots", "ring" };

		CHECK_INT(set_opt(&cfg, "datapath-order", orders[i], err, sizeof(err)), 0);
		CHECK_INT(cfg.datapath_order, i);
	}
	CHECK_INT(set_opt(&cfg, "datapath-order", "fast", err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "--datapath-order: 'fast' must be one of auto, slots, ring");
	CHECK_INT(cfg.datapath_order, XF_DATAPATH_RING);
	CHECK_INT(config_load_string(&cfg, "datapath_order = true;", "order", err, sizeof(err)),
		  -EINVAL);
	CHECK(strstr(err, "order:1") && strstr(err, "datapath_order"));

	for (int i = 0; i < 4; i++) {
		CHECK_INT(set_opt(&cfg, "log-level", levels[i], err, sizeof(err)), 0);
		CHECK_INT(cfg.log_level, i);
	}
	CHECK_INT(set_opt(&cfg, "log-level", "loud", err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "--log-level: 'loud' must be one of err, warn, info, debug");
	CHECK_INT(set_opt(&cfg, "log-level", "", err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "--log-level: '' must be one of err, warn, info, debug");
	CHECK_INT(cfg.log_level, LOG_LEVEL_DEBUG);

	CHECK_INT(set_opt(&cfg, "pidfile", "/run/x.pid", err, sizeof(err)), 0);
	CHECK_STR(cfg.pidfile, "/run/x.pid");
	CHECK_INT(set_opt(&cfg, "pidfile", "", err, sizeof(err)), 0);
	CHECK_STR(cfg.pidfile, "");
	/* as in the file: a relative pid file would land in / after daemon(3) */
	CHECK_INT(set_opt(&cfg, "pidfile", "x.pid", err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "--pidfile: 'x.pid' must be an absolute path or \"\"");
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	CHECK_INT(set_opt(&cfg, "pidfile", longpath, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "--pidfile: longer than 4095 characters");
	CHECK_STR(cfg.pidfile, "");

	/* metrics_listen: numeric addresses only, IPv6 in brackets, a port */
	CHECK_STR(cfg.metrics_listen, "");
	CHECK_INT(set_opt(&cfg, "metrics-listen", "127.0.0.1:9477", err, sizeof(err)), 0);
	CHECK_STR(cfg.metrics_listen, "127.0.0.1:9477");
	CHECK_INT(set_opt(&cfg, "metrics-listen", "[::1]:65535", err, sizeof(err)), 0);
	CHECK_STR(cfg.metrics_listen, "[::1]:65535");
	CHECK_INT(set_opt(&cfg, "metrics-listen", "", err, sizeof(err)), 0);
	CHECK_STR(cfg.metrics_listen, "");
	{
		static const char *const bad[] = {
			"localhost:9477", "127.0.0.1", "127.0.0.1:0",	 "127.0.0.1:65536",
			"::1:9477",	  "[::1]9477", "[127.0.0.1]:80", "1.2.3.4:09477",
			":9477",	  "[::1]:",    "1.2.3.4:80x"
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			char want[256];

			CHECK_INT(set_opt(&cfg, "metrics-listen", bad[i], err, sizeof(err)),
				  -EINVAL);
			snprintf(want, sizeof(want),
				 "--metrics-listen: '%s' must be \"\" (off), \"ADDRESS:PORT\" or "
				 "\"[IPv6]:PORT\" (numeric, port 1..65535)",
				 bad[i]);
			CHECK_STR(err, want);
		}
	}
	CHECK_STR(cfg.metrics_listen, "");
	{
		struct sockaddr_storage ss;
		socklen_t len;

		CHECK_INT(config_parse_listen("198.18.0.1:9477", &ss, &len), 0);
		CHECK_INT(ss.ss_family, AF_INET);
		CHECK_INT(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9477);
		CHECK_INT(len, sizeof(struct sockaddr_in));
		CHECK_INT(config_parse_listen("[2001:db8::1]:80", &ss, &len), 0);
		CHECK_INT(ss.ss_family, AF_INET6);
		CHECK_INT(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 80);
		CHECK_INT(len, sizeof(struct sockaddr_in6));
	}
	config_release(&cfg);
}

/*
 * Collector URLs with parameters: the file's keys in the url, checked the
 * same way; a key both in the url and in the group must agree.
 */
static void test_url_params(void)
{
	static const struct {
		const char *url, *err;
	} bad[] = {
		{ "udp://127.0.0.1:2055?mtu=575",
		  "--collector: bad URL \"udp://127.0.0.1:2055?mtu=575\": 'mtu' must be an integer "
		  "in 576..65535, not '575'" },
		{ "udp://127.0.0.1:2055?mtu=1e3",
		  "--collector: bad URL \"udp://127.0.0.1:2055?mtu=1e3\": 'mtu' must be an integer "
		  "in 576..65535, not '1e3'" },
		{ "udp://127.0.0.1:2055?burst=0",
		  "--collector: bad URL \"udp://127.0.0.1:2055?burst=0\": 'burst' must be an "
		  "integer "
		  "in 1..10000000, not '0'" },
		{ "udp://127.0.0.1:2055?protocol=v9",
		  "--collector: bad URL \"udp://127.0.0.1:2055?protocol=v9\": 'protocol' must be "
		  "ipfix or netflow9, not 'v9'" },
		{ "udp://127.0.0.1:2055?proto=ipfix",
		  "--collector: bad URL \"udp://127.0.0.1:2055?proto=ipfix\": unknown parameter "
		  "'proto' (protocol, mtu, rate, burst)" },
		{ "udp://127.0.0.1:2055?mtu",
		  "--collector: bad URL \"udp://127.0.0.1:2055?mtu\": parameter 'mtu' must be "
		  "NAME=VALUE (protocol, mtu, rate, burst)" },
		{ "udp://127.0.0.1:2055?rate=1&rate=1",
		  "--collector: bad URL \"udp://127.0.0.1:2055?rate=1&rate=1\": parameter 'rate' "
		  "given twice" },
		{ "udp://127.0.0.1?mtu=1400",
		  "--collector: bad URL \"udp://127.0.0.1?mtu=1400\": missing :PORT" },
		/* 64 digits: refused whole, never cut to a prefix that parses */
		{ "udp://"
		  "127.0.0.1:1?mtu="
		  "1000000000000000000000000000000000000000000000000000000000000000",
		  "--collector: bad URL "
		  "\"udp://127.0.0.1:1?mtu=10000000000000000000000000000000000000"
		  "00000000000000000000000000\": parameter 'mtu' is too long" },
	};
	struct xf_config cfg;
	char err[1024] = "";

	config_defaults(&cfg);
	CHECK_INT(config_add_collector(&cfg, "udp://127.0.0.1:2055?protocol=netflow9&mtu=9000",
				       "--collector", err, sizeof(err)),
		  0);
	CHECK_INT(config_add_collector(&cfg, "udp://[::1]:4739?rate=0&burst=7&protocol=ipfix",
				       "--collector", err, sizeof(err)),
		  0);
	CHECK_INT(config_add_collector(&cfg, "tcp://127.0.0.1:4739?", "--collector", err,
				       sizeof(err)),
		  0);
	CHECK_INT(cfg.n_collectors, 3);
	CHECK_INT(cfg.collectors[0].protocol, XF_PROTO_NETFLOW9);
	CHECK_INT(cfg.collectors[0].mtu, 9000);
	CHECK_INT(cfg.collectors[0].rate, XF_DEFAULT_RATE);
	CHECK_STR(cfg.collectors[0].port, "2055");
	CHECK_STR(cfg.collectors[0].url, "udp://127.0.0.1:2055?protocol=netflow9&mtu=9000");
	CHECK_INT(cfg.collectors[1].protocol, XF_PROTO_IPFIX);
	CHECK_INT(cfg.collectors[1].rate, 0);
	CHECK_INT(cfg.collectors[1].burst, 7);
	CHECK_STR(cfg.collectors[1].host, "::1");
	CHECK_INT(cfg.collectors[2].transport, XF_TRANSPORT_TCP);
	CHECK_INT(cfg.collectors[2].mtu, 1500);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(config_add_collector(&cfg, bad[i].url, "--collector", err, sizeof(err)),
			  -EINVAL);
		CHECK_STR(err, bad[i].err);
	}
	CHECK_INT(cfg.n_collectors, 3);
	config_release(&cfg);

	/* in a file: the url's parameters and the group's keys must agree */
	config_defaults(&cfg);
	CHECK_INT(config_load_string(&cfg,
				     "collectors = ( { url = \"udp://127.0.0.1:1?mtu=1400\"; "
				     "mtu = 1400; rate = 5; } );",
				     "t.conf", err, sizeof(err)),
		  0);
	CHECK_INT(cfg.collectors[0].mtu, 1400);
	CHECK_INT(cfg.collectors[0].rate, 5);
	config_release(&cfg);
	config_defaults(&cfg);
	CHECK_INT(config_load_string(
			  &cfg,
			  "collectors = ( { url = \"udp://127.0.0.1:1?protocol=netflow9\"; "
			  "protocol = \"ipfix\"; } );",
			  "t.conf", err, sizeof(err)),
		  -EINVAL);
	CHECK_STR(err, "t.conf:1: 'collectors[0].url': the url's parameter 'protocol' and the key "
		       "'protocol' differ; give it once");
	config_release(&cfg);
}

/*
 * The keys a reload cannot change, as the key table marks them: named when
 * they differ, and kept by config_keep_restart_keys(); the others are not.
 */
static void test_restart_keys(void)
{
	struct xf_config running, next;
	char buf[256];

	config_defaults(&running);
	config_defaults(&next);
	CHECK_INT(config_restart_changes(&running, &next, buf, sizeof(buf)), 0);
	CHECK_STR(buf, "");
	next.nat_hook = XF_NAT_OFF;
	next.ringbuf_size = 8192;
	next.kernel_max_flows = 2048;
	next.datapath_order = XF_DATAPATH_RING;
	next.datapath_probe_interval = 10;
	snprintf(next.pidfile, sizeof(next.pidfile), "%s", "/run/other.pid");
	next.allow_capabilities_kept = true;
	next.sampling = 8;
	next.xlat_timeout = 20;
	next.stats_interval = 0;
	snprintf(next.metrics_listen, sizeof(next.metrics_listen), "%s", "127.0.0.1:9100");
	CHECK_INT(config_restart_changes(&running, &next, buf, sizeof(buf)), 8);
	CHECK_STR(buf, "kernel_max_flows, ringbuf_size, datapath_order, datapath_probe_interval, "
		       "nat_hook, pidfile, allow_capabilities_kept, metrics_listen");
	config_keep_restart_keys(&next, &running);
	CHECK_INT(config_restart_changes(&running, &next, buf, sizeof(buf)), 0);
	CHECK_INT(next.nat_hook, XF_NAT_AUTO);
	CHECK_INT(next.ringbuf_size, 4194304);
	CHECK_INT(next.kernel_max_flows, 65536);
	CHECK_INT(next.datapath_order, XF_DATAPATH_AUTO);
	CHECK_INT(next.datapath_probe_interval, 60);
	CHECK_STR(next.pidfile, "/run/xlatflowd.pid");
	CHECK_INT(next.allow_capabilities_kept, false);
	CHECK_STR(next.metrics_listen, "");
	/* applied by a reload */
	CHECK_INT(next.sampling, 8);
	CHECK_INT(next.xlat_timeout, 20);
	CHECK_INT(next.stats_interval, 0);
	CHECK(config_key_needs_restart("nat_hook"));
	CHECK(!config_key_needs_restart("sampling"));
	CHECK(!config_key_needs_restart("no_such_key"));
	config_release(&running);
	config_release(&next);
}

/* The command line overrides the file, and its values are checked the same way. */
static void test_option_over_file(void)
{
	struct xf_config cfg;
	char err[1024] = "";

	copy_data("full.conf");
	config_defaults(&cfg);
	CHECK_INT(config_load_file(&cfg, "full.conf", err, sizeof(err)), 0);
	CHECK_INT(cfg.sampling, 10);
	CHECK_INT(set_opt(&cfg, "sampling", "4", err, sizeof(err)), 0);
	CHECK_INT(cfg.sampling, 4);
	CHECK_INT(cfg.nat_hook, XF_NAT_CONNTRACK);
	CHECK_INT(set_opt(&cfg, "nat-hook", "off", err, sizeof(err)), 0);
	CHECK_INT(cfg.nat_hook, XF_NAT_OFF);
	/* the cross check still sees the merged values */
	CHECK_INT(set_opt(&cfg, "active-timeout", "5", err, sizeof(err)), 0);
	CHECK_INT(config_validate(&cfg, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "full.conf: 'active_timeout' (5) must be >= 'idle_timeout' (10)");
	config_release(&cfg);
}

static void test_interfaces(void)
{
	struct xf_config cfg;
	char err[1024] = "";

	config_defaults(&cfg);
	/* The default include list is empty: nothing is captured. */
	CHECK(!config_interface_wanted(&cfg, "eth0"));
	CHECK(!config_interface_wanted(&cfg, "lo"));

	CHECK_INT(
		config_load_string(&cfg,
				   "interfaces = { include = [ \"eth0\", \"veth*\", \"en[ps]?\" ];"
				   " exclude = [ \"lo\", \"veth9*\" ]; };",
				   "ifaces", err, sizeof(err)),
		0);
	CHECK(config_interface_wanted(&cfg, "eth0"));
	CHECK(!config_interface_wanted(&cfg, "eth1"));
	CHECK(!config_interface_wanted(&cfg, "eth00"));
	CHECK(config_interface_wanted(&cfg, "veth12ab"));
	CHECK(config_interface_wanted(&cfg, "veth"));
	CHECK(!config_interface_wanted(&cfg, "veth9"));
	CHECK(!config_interface_wanted(&cfg, "veth99"));
	CHECK(config_interface_wanted(&cfg, "ens3"));
	CHECK(config_interface_wanted(&cfg, "enp1"));
	CHECK(!config_interface_wanted(&cfg, "eno1"));
	CHECK(!config_interface_wanted(&cfg, "lo"));
	CHECK(!config_interface_wanted(&cfg, ""));

	/* Everything but loopback; an empty exclude list removes the default "lo". */
	CHECK_INT(config_load_string(&cfg, "interfaces = { include = [ \"*\" ]; };", "all", err,
				     sizeof(err)),
		  0);
	CHECK(config_interface_wanted(&cfg, "eth0"));
	CHECK(!config_interface_wanted(&cfg, "lo"));
	CHECK_INT(config_load_string(&cfg, "interfaces = { exclude = [ ]; };", "none", err,
				     sizeof(err)),
		  0);
	CHECK(config_interface_wanted(&cfg, "lo"));
	CHECK_INT(cfg.n_exclude, 0);
	config_release(&cfg);
}

/* Strings that need escaping survive the print -> parse round trip. */
static void test_escapes(void)
{
	struct xf_config cfg;
	char err[1024] = "";
	int rc;

	config_defaults(&cfg);
	rc = config_load_string(&cfg,
				"interfaces = { include = [ \"a\\\"b\", \"c\\\\*\" ]; };\n"
				"pidfile = \"/run/x\\\"y\";\n",
				"escapes", err, sizeof(err));
	CHECK_INT(rc, 0);
	CHECK_STR(cfg.include[0], "a\"b");
	CHECK_STR(cfg.include[1], "c\\*");
	CHECK_STR(cfg.pidfile, "/run/x\"y");
	check_round_trip(&cfg, "escapes");
	config_release(&cfg);
}

/* Read a file under the source tree; exits 99 if it is missing. */
static char *read_top(const char *rel)
{
	char *path, *text;

	if (asprintf(&path, "%s/%s", topdir, rel) < 0)
		exit(99);
	text = slurp(path);
	if (!text) {
		fprintf(stderr, "cannot read %s: %s\n", path, strerror(errno));
		exit(99);
	}
	free(path);
	return text;
}

/*
 * The documentation cannot drift from the code: every key config_print()
 * writes has its own entry in xlatflowd.conf(5), and the defaults the
 * shipped file shows in "#key = value;" comments are the real defaults
 * (uncommenting them all changes nothing).
 */
static void test_docs_match(void)
{
	struct xf_config cfg, plain;
	char err[1024] = "";
	char *man = read_top("man/xlatflowd.conf.5");
	char *shipped = read_top("etc/xlatflowd.conf");
	char *out = NULL, *line, *save = NULL, *uncommented, *a, *b;
	int keys = 0, rc;

	config_defaults(&cfg);
	out = printed(&cfg);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char key[64], entry[96], section[96];

		if (sscanf(line, " %63[a-z_] =", key) != 1)
			continue;
		snprintf(entry, sizeof(entry), "\n.B %s\n", key);
		snprintf(section, sizeof(section), "\n.SS \"%s (", key);
		if (!strstr(man, entry) && !strstr(man, section)) {
			fprintf(stderr, "xlatflowd.conf(5) has no entry \".B %s\"\n", key);
			tu_failures++;
		}
		keys++;
		tu_checks++;
	}
	CHECK_INT(keys, 29);
	free(out);
	config_release(&cfg);

	/* Uncomment "#key = ...;" lines (also indented ones), keep the rest. */
	uncommented = strdup(shipped);
	for (a = shipped, b = uncommented; *a; a++) {
		bool at_line_start = a == shipped || a[-1] == '\n' ||
				     (a[-1] == '\t' && (a - 1 == shipped || a[-2] == '\n'));

		if (*a == '#' && at_line_start && a[1] >= 'a' && a[1] <= 'z' && strchr(a, '=') &&
		    strchr(a, '=') < strchr(a, '\n'))
			continue;
		*b++ = *a;
	}
	*b = '\0';
	CHECK(strstr(uncommented, "\nactive_timeout = 60;\n") != NULL);
	CHECK(strstr(uncommented, "\texclude = [ \"lo\" ];\n") != NULL);

	config_defaults(&cfg);
	config_defaults(&plain);
	rc = config_load_string(&cfg, uncommented, "xlatflowd.conf", err, sizeof(err));
	CHECK_INT(rc, 0);
	if (rc)
		fprintf(stderr, "uncommented shipped config: %s\n", err);
	CHECK_INT(config_load_string(&plain, shipped, "xlatflowd.conf", err, sizeof(err)), 0);
	a = printed(&cfg);
	b = printed(&plain);
	CHECK_STR(a, b);
	free(a);
	free(b);
	config_release(&cfg);
	config_release(&plain);
	free(uncommented);
	free(man);
	free(shipped);
}

static void cleanup(void)
{
	char cmd[256];

	if (chdir("/") == 0) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdir);
	}
}

int main(void)
{
	const char *srcdir = getenv("srcdir");
	char cwd[4096];

	/* Resolve $srcdir before leaving the build directory. */
	if (!srcdir)
		srcdir = ".";
	if (!getcwd(cwd, sizeof(cwd)))
		return 99;
	if (srcdir[0] == '/')
		snprintf(topdir, sizeof(topdir), "%s", srcdir);
	else
		snprintf(topdir, sizeof(topdir), "%s/%s", cwd, srcdir);
	snprintf(datadir, sizeof(datadir), "%s/tests/unit/config", topdir);
	if (!mkdtemp(tmpdir) || chdir(tmpdir) < 0) {
		perror("temporary directory");
		return 99;
	}
	atexit(cleanup);
	log_init(true, LOG_LEVEL_WARN, "config_test");

	test_defaults();
	test_full();
	test_shipped();
	test_pools();
	test_error_files();
	test_ranges();
	test_unresolvable();
	test_file_access();
	test_command_line();
	test_option_table();
	test_option_numbers();
	test_option_strings();
	test_option_over_file();
	test_url_params();
	test_restart_keys();
	test_interfaces();
	test_escapes();
	test_docs_match();

	return tu_finish();
}
