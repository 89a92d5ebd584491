// SPDX-License-Identifier: GPL-2.0-only
/*
 * xlatflowd configuration: libconfig file -> struct xf_config.
 *
 * Scalar keys are described once in key_table[]; parsing, the unknown-key
 * check and config_print() all walk that table, so a new key cannot be
 * parsed but forgotten in the printed (round-trippable) output. A key with
 * a command-line option declares it there too: main.c builds getopt_long()'s
 * table and --help from it, and config_set_option() runs the argument
 * through the same checks as the file's value.
 * Every error names "file:line" (or the command-line option) and the key.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <glib.h>
#include <libconfig.h>

#include "config.h"
#include "errbuf.h"
#include "log.h"

enum key_type { KEY_U32, KEY_BOOL, KEY_ENUM, KEY_PATH, KEY_LISTEN };

/* Names of an enumeration's values: choice(i) for i = 0, 1, ... until NULL. */
typedef const char *(*choice_fn)(int i);

/*
 * One key: its type, its field, its range or its names and, for the keys the
 * command line can also set, its option (opt.name NULL: none).
 */
struct key_desc {
	const char *name;
	enum key_type type;
	size_t off;   /* offset in struct xf_config */
	uint32_t min; /* KEY_U32 only */
	uint32_t max;
	bool pow2;
	choice_fn choice; /* KEY_ENUM only; the field is an int */
	/* KEY_U32: the string "auto" is also taken and sets this bool (offset + 1; 0: none) */
	size_t auto_off1;
	/*
	 * A reload keeps the running value (config_keep_restart_keys()): the
	 * key sizes or chooses what was loaded into the kernel, which the
	 * daemon can no longer do once it dropped its capabilities, or it only
	 * matters at start-up.
	 */
	bool restart;
	struct config_option opt;
};

/*
 * The one table of NAT mode names: the nat_hook key, --nat-hook and its
 * --help line, config_print(), and the source's log lines
 * ("NAT translations: fentry") all read it.
 */
static const char *const nat_hook_names[] = {
	[XF_NAT_AUTO] = "auto",		  [XF_NAT_FENTRY] = "fentry", [XF_NAT_KPROBE] = "kprobe",
	[XF_NAT_CONNTRACK] = "conntrack", [XF_NAT_OFF] = "off",
};
#define N_NAT_HOOKS (sizeof(nat_hook_names) / sizeof(nat_hook_names[0]))
/* KEY_ENUM stores an int; nat_hook is an enum xf_nat_hook. */
_Static_assert(sizeof(enum xf_nat_hook) == sizeof(int), "nat_hook is not int-sized");

static const char *const datapath_order_names[] = {
	[XF_DATAPATH_AUTO] = "auto",
	[XF_DATAPATH_SLOTS] = "slots",
	[XF_DATAPATH_RING] = "ring",
};
#define N_DATAPATH_ORDERS (sizeof(datapath_order_names) / sizeof(datapath_order_names[0]))
_Static_assert(sizeof(enum xf_datapath_order) == sizeof(int), "datapath_order is not int-sized");

static const char *const protocol_names[] = {
	[XF_PROTO_IPFIX] = "ipfix",
	[XF_PROTO_NETFLOW9] = "netflow9",
};
#define N_PROTOCOLS (sizeof(protocol_names) / sizeof(protocol_names[0]))

static const char *const pool_mode_names[] = {
	[XF_POOL_MIRROR] = "mirror",
	[XF_POOL_ROUND_ROBIN] = "round-robin",
	[XF_POOL_HASH] = "hash",
};
#define N_POOL_MODES (sizeof(pool_mode_names) / sizeof(pool_mode_names[0]))

static const char *nat_hook_choice(int i)
{
	return i >= 0 && (size_t)i < N_NAT_HOOKS ? nat_hook_names[i] : NULL;
}

static const char *datapath_order_choice(int i)
{
	return i >= 0 && (size_t)i < N_DATAPATH_ORDERS ? datapath_order_names[i] : NULL;
}

static const char *protocol_choice(int i)
{
	return i >= 0 && (size_t)i < N_PROTOCOLS ? protocol_names[i] : NULL;
}

static const char *pool_mode_choice(int i)
{
	return i >= 0 && (size_t)i < N_POOL_MODES ? pool_mode_names[i] : NULL;
}

/* log.c owns the level names. */
static const char *log_level_choice(int i)
{
	return i >= LOG_LEVEL_ERR && i <= LOG_LEVEL_DEBUG ? log_level_name(i) : NULL;
}

/* (clang-format would break the designated initializers of the macros apart) */
/* clang-format off */
#define KEY(n, t) .name = #n, .type = t, .off = offsetof(struct xf_config, n)
#define U32(n, lo, hi) KEY(n, KEY_U32), .min = lo, .max = hi
/* --NAME ARG also sets the key; help is its --help line (for a choice, NULL: the names) */
#define OPT(o, a, h) .opt = { .name = o, .arg = a, .help = h }
/* the key also takes "auto", which sets bool field b */
#define AUTO(b) .auto_off1 = offsetof(struct xf_config, b) + 1
/* clang-format on */

/* In the order config_print() writes them (the order of the shipped file). */
static const struct key_desc key_table[] = {
	{ U32(observation_domain_id, 0, UINT32_MAX), AUTO(observation_domain_auto),
	  OPT("observation-domain", "ID",
	      "IPFIX observation domain id of every message, or auto") },
	{ U32(active_timeout, 1, 86400),
	  OPT("active-timeout", "SEC", "export long flows every SEC seconds") },
	{ U32(idle_timeout, 1, 86400),
	  OPT("idle-timeout", "SEC", "export flows idle for SEC seconds") },
	{ U32(max_flows, 1, 100000000), OPT("max-flows", "N", "flow cache bound") },
	{ U32(kernel_max_flows, 1024, 16777216), .restart = true,
	  OPT("kernel-max-flows", "N", "flows per drain interval in the kernel (flow slots)") },
	{ U32(ringbuf_size, 4096, 1073741824), .pow2 = true, .restart = true },
	{ KEY(datapath_order, KEY_ENUM), .choice = datapath_order_choice, .restart = true,
	  OPT("datapath-order", "ORDER", NULL) },
	{ U32(datapath_probe_interval, 1, 86400), .restart = true },
	{ U32(drain_interval_ms, 10, 60000),
	  OPT("drain-interval", "MS", "kernel map drain period") },
	{ U32(template_refresh, 1, 86400) },
	{ U32(template_refresh_messages, 0, 1000000) },
	{ U32(sampling, 1, 1000000), OPT("sampling", "N", "keep 1 packet in N") },
	{ KEY(nat_hook, KEY_ENUM), .choice = nat_hook_choice, .restart = true,
	  OPT("nat-hook", "MODE", NULL) },
	{ U32(enterprise_number, 1, UINT32_MAX) },
	{ KEY(zone_as_vrf, KEY_BOOL),
	  OPT("zone-as-vrf", NULL, "also export the conntrack zone as ingressVRFID (IE 234)") },
	{ U32(xlat_timeout, 1, 86400) },
	{ U32(max_translations, 1, 100000000) }, /* XLAT_MAX_TRANSLATIONS */
	{ U32(stats_interval, 0, 86400),
	  OPT("stats-interval", "SEC", "log the counters every SEC seconds, 0: off") },
	{ U32(nat_table_threshold, 0, 100) },
	{ KEY(log_level, KEY_ENUM), .choice = log_level_choice, OPT("log-level", "LEVEL", NULL) },
	{ KEY(pidfile, KEY_PATH), .restart = true,
	  OPT("pidfile", "FILE", "pid file when daemonized") },
	{ KEY(allow_capabilities_kept, KEY_BOOL), .restart = true },
	{ KEY(spool_dir, KEY_PATH) },
	{ U32(spool_max_bytes, 1048576, UINT32_MAX) }, /* >= SPOOL_MIN_BYTES */
	/* main.c binds it once, before the programs are loaded */
	{ KEY(metrics_listen, KEY_LISTEN), .restart = true,
	  OPT("metrics-listen", "ADDR", "serve Prometheus metrics there (\"\": off)") },
};

#define N_KEYS (sizeof(key_table) / sizeof(key_table[0]))

#define DEFAULT_MTU 1500
#define MIN_MTU 576
#define MAX_MTU 65535
#define MAX_RATE 100000000
#define MAX_BURST 10000000

/* State of one load: where messages go and which name stands for the file. */
struct loader {
	struct xf_config *cfg;
	const char *name; /* path or string name, for settings without a file */
	char *err;
	size_t err_len;
};

static const char *setting_file(const struct loader *ld, const config_setting_t *s)
{
	const char *f = config_setting_source_file(s);

	return f ? f : ld->name;
}

/* "file:line" of a setting, into buf. */
static const char *where(const struct loader *ld, const config_setting_t *s, char *buf, size_t len)
{
	snprintf(buf, len, "%s:%u", setting_file(ld, s), config_setting_source_line(s));
	return buf;
}

static void free_patterns(char **v, int *n)
{
	for (int i = 0; i < *n; i++) {
		g_free(v[i]);
		v[i] = NULL;
	}
	*n = 0;
}

void config_defaults(struct xf_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->exclude[cfg->n_exclude++] = g_strdup("lo");
	cfg->observation_domain_auto = true; /* identity.h: from /etc/machine-id */
	cfg->observation_domain_id = 0;
	cfg->active_timeout = 60;
	cfg->idle_timeout = 15;
	cfg->max_flows = 1000000;
	cfg->kernel_max_flows = 65536;
	cfg->ringbuf_size = 4194304;
	cfg->datapath_order = XF_DATAPATH_AUTO;
	cfg->datapath_probe_interval = 60;
	cfg->drain_interval_ms = 1000;
	cfg->template_refresh = 60;
	cfg->template_refresh_messages = 0;
	cfg->sampling = 1;
	cfg->nat_hook = XF_NAT_AUTO;
	cfg->enterprise_number = 32473;
	cfg->zone_as_vrf = false;
	cfg->xlat_timeout = 300;
	/* 3 * 2^18: its index of 4 keys a translation fits 2^22 slots; 104 MiB at most */
	cfg->max_translations = 786432;
	cfg->stats_interval = 300;
	cfg->log_level = LOG_LEVEL_INFO;
	snprintf(cfg->pidfile, sizeof(cfg->pidfile), "%s", "/run/xlatflowd.pid");
	/* the systemd unit's StateDirectory=xlatflow */
	snprintf(cfg->spool_dir, sizeof(cfg->spool_dir), "%s", "/var/lib/xlatflow/spool");
	cfg->spool_max_bytes = 64u << 20;
}

void config_release(struct xf_config *cfg)
{
	if (!cfg)
		return;
	free_patterns(cfg->include, &cfg->n_include);
	free_patterns(cfg->exclude, &cfg->n_exclude);
}

void config_clear_interfaces(struct xf_config *cfg)
{
	free_patterns(cfg->include, &cfg->n_include);
}

void config_clear_collectors(struct xf_config *cfg)
{
	memset(cfg->collectors, 0, sizeof(cfg->collectors));
	cfg->n_collectors = 0;
	memset(cfg->pools, 0, sizeof(cfg->pools));
	cfg->n_pools = 0;
}

/* Index of name among the choices, or -1. */
static int choice_index(choice_fn choice, const char *name)
{
	for (int i = 0; choice(i); i++)
		if (strcmp(name, choice(i)) == 0)
			return i;
	return -1;
}

/* The choices joined by sep: "auto, fentry, ..." or "auto|fentry|...". */
static void choice_list(choice_fn choice, const char *sep, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; choice(i) && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? sep : "", choice(i));
}

const char *config_nat_hook_name(enum xf_nat_hook hook)
{
	const char *name = nat_hook_choice((int)hook);

	return name ? name : "?";
}

int config_nat_hook_parse(const char *name)
{
	return choice_index(nat_hook_choice, name);
}

const char *config_protocol_name(enum xf_export_protocol proto)
{
	const char *name = protocol_choice((int)proto);

	return name ? name : "?";
}

const char *config_pool_mode_name(enum xf_pool_mode mode)
{
	const char *name = pool_mode_choice((int)mode);

	return name ? name : "?";
}

/* ---- collectors ---- */

/*
 * A collector's keys besides its url: from its group in the file, or from
 * the url's parameters ("?protocol=netflow9&mtu=9000"). set: given there.
 */
enum coll_key { CK_PROTOCOL, CK_MTU, CK_RATE, CK_BURST, CK_MAX };

struct coll_keys {
	long long v[CK_MAX]; /* CK_PROTOCOL: enum xf_export_protocol */
	bool set[CK_MAX];
};

static const struct {
	const char *name;
	long long min, max;
} coll_key_desc[CK_MAX] = {
	[CK_PROTOCOL] = { "protocol", 0, 0 },
	[CK_MTU] = { "mtu", MIN_MTU, MAX_MTU },
	[CK_RATE] = { "rate", 0, MAX_RATE },
	[CK_BURST] = { "burst", 1, MAX_BURST },
};

static int coll_key_index(const char *name, size_t len)
{
	for (int k = 0; k < CK_MAX; k++)
		if (strlen(coll_key_desc[k].name) == len &&
		    strncmp(name, coll_key_desc[k].name, len) == 0)
			return k;
	return -1;
}

/*
 * The url's parameters, "protocol=netflow9&mtu=9000", into keys, checked
 * as the file's keys are; an error says which parameter and why.
 */
static int parse_url_params(const char *query, struct coll_keys *keys, char *why, size_t why_len)
{
	const char *p = query;

	while (*p) {
		const char *amp = strchr(p, '&'), *eq;
		size_t len = amp ? (size_t)(amp - p) : strlen(p), nlen;
		char val[64];
		char *end;
		long long v;
		int k;

		eq = memchr(p, '=', len);
		if (!eq || eq == p)
			return errbuf_set(why, why_len, -EINVAL,
					  "parameter '%.*s' must be NAME=VALUE (protocol, mtu, "
					  "rate, burst)",
					  (int)len, p);
		nlen = (size_t)(eq - p);
		k = coll_key_index(p, nlen);
		if (k < 0)
			return errbuf_set(why, why_len, -EINVAL,
					  "unknown parameter '%.*s' (protocol, mtu, rate, burst)",
					  (int)nlen, p);
		if (keys->set[k])
			return errbuf_set(why, why_len, -EINVAL, "parameter '%s' given twice",
					  coll_key_desc[k].name);
		if (len - nlen - 1 >= sizeof(val))
			return errbuf_set(why, why_len, -EINVAL, "parameter '%s' is too long",
					  coll_key_desc[k].name);
		snprintf(val, sizeof(val), "%.*s", (int)(len - nlen - 1), eq + 1);
		if (k == CK_PROTOCOL) {
			int proto = choice_index(protocol_choice, val);

			if (proto < 0)
				return errbuf_set(why, why_len, -EINVAL,
						  "'protocol' must be ipfix or netflow9, not '%s'",
						  val);
			v = proto;
		} else {
			errno = 0;
			v = strtoll(val, &end, 10);
			if (val[0] < '0' || val[0] > '9' || *end != '\0' || errno ||
			    v < coll_key_desc[k].min || v > coll_key_desc[k].max)
				return errbuf_set(why, why_len, -EINVAL,
						  "'%s' must be an integer in %lld..%lld, not '%s'",
						  coll_key_desc[k].name, coll_key_desc[k].min,
						  coll_key_desc[k].max, val);
		}
		keys->v[k] = v;
		keys->set[k] = true;
		p += len;
		if (*p == '&')
			p++;
	}
	return 0;
}

/*
 * Split "udp://HOST:PORT" / "tcp://[V6]:PORT", and its parameters
 * ("?protocol=netflow9&mtu=9000") into c and keys. On error, a
 * description (without location) goes to why.
 */
static int parse_url(struct xf_collector_config *c, struct coll_keys *keys, const char *url,
		     char *why, size_t why_len)
{
	const char *p, *host, *host_end, *port;
	char base[sizeof(c->url)], *query;
	size_t hlen;
	char *end;
	unsigned long portnum;
	int rc;

	if (strlen(url) >= sizeof(c->url))
		return errbuf_set(why, why_len, -EINVAL, "longer than %zu characters",
				  sizeof(c->url) - 1);
	snprintf(base, sizeof(base), "%s", url);
	query = strchr(base, '?');
	if (query) {
		*query++ = '\0';
		if ((rc = parse_url_params(query, keys, why, why_len)) < 0)
			return rc;
	}
	url = base;
	if (strncmp(url, "udp://", 6) == 0) {
		c->transport = XF_TRANSPORT_UDP;
	} else if (strncmp(url, "tcp://", 6) == 0) {
		c->transport = XF_TRANSPORT_TCP;
	} else {
		return errbuf_set(why, why_len, -EINVAL, "scheme must be udp:// or tcp://");
	}
	p = url + 6;
	if (*p == '[') {
		host = p + 1;
		host_end = strchr(host, ']');
		if (!host_end)
			return errbuf_set(why, why_len, -EINVAL, "missing ']' after IPv6 address");
		p = host_end + 1;
		if (*p != ':')
			return errbuf_set(why, why_len, -EINVAL, "missing :PORT");
	} else {
		host = p;
		host_end = strchr(host, ':');
		if (!host_end)
			return errbuf_set(why, why_len, -EINVAL, "missing :PORT");
		if (strchr(host_end + 1, ':'))
			return errbuf_set(
				why, why_len, -EINVAL,
				"IPv6 address must be in brackets, e.g. udp://[2001:db8::1]:4739");
		p = host_end;
	}
	hlen = (size_t)(host_end - host);
	if (hlen == 0)
		return errbuf_set(why, why_len, -EINVAL, "missing host");
	if (hlen >= sizeof(c->host))
		return errbuf_set(why, why_len, -EINVAL, "host name too long");
	port = p + 1;
	if (*port == '\0')
		return errbuf_set(why, why_len, -EINVAL, "missing :PORT");
	errno = 0;
	portnum = strtoul(port, &end, 10);
	if (*port < '0' || *port > '9' || *end != '\0' || errno || portnum < 1 || portnum > 65535)
		return errbuf_set(why, why_len, -EINVAL, "port must be a number in 1..65535");

	memcpy(c->host, host, hlen);
	c->host[hlen] = '\0';
	snprintf(c->port, sizeof(c->port), "%lu", portnum);
	return 0;
}

static int resolve(struct xf_collector_config *c, char *why, size_t why_len)
{
	struct addrinfo hints = { 0 }, *res = NULL;
	int rc;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = c->transport == XF_TRANSPORT_TCP ? SOCK_STREAM : SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(c->host, c->port, &hints, &res);
	if (rc != 0)
		return errbuf_set(why, why_len, -EINVAL, "cannot resolve '%s': %s", c->host,
				  rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
	memcpy(&c->addr, res->ai_addr, res->ai_addrlen);
	c->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/*
 * Parse, resolve and append one collector. prefix names where it came from
 * ("file:line: 'collectors[0].url'" or "--collector"). file: the keys its
 * group set (NULL: none); a key both there and in the url's parameters
 * must have one value.
 */
static int add_collector(struct xf_config *cfg, const char *url, const struct coll_keys *file,
			 bool flows, bool nat_events, int pool, const char *prefix, char *err,
			 size_t err_len)
{
	struct xf_collector_config c = { 0 };
	struct coll_keys keys = {
		.v = { [CK_PROTOCOL] = XF_PROTO_IPFIX,
		       [CK_MTU] = DEFAULT_MTU,
		       [CK_RATE] = XF_DEFAULT_RATE,
		       [CK_BURST] = XF_DEFAULT_BURST },
	};
	char why[512];
	int rc;

	if (cfg->n_collectors >= XF_MAX_COLLECTORS)
		return errbuf_set(err, err_len, -EINVAL, "%s: too many collectors (at most %d)",
				  prefix, XF_MAX_COLLECTORS);
	rc = parse_url(&c, &keys, url, why, sizeof(why));
	if (rc)
		return errbuf_set(err, err_len, rc, "%s: bad URL \"%s\": %s", prefix, url, why);
	for (int k = 0; file && k < CK_MAX; k++) {
		if (!file->set[k])
			continue;
		if (keys.set[k] && keys.v[k] != file->v[k])
			return errbuf_set(err, err_len, -EINVAL,
					  "%s: the url's parameter '%s' and the key '%s' differ; "
					  "give it once",
					  prefix, coll_key_desc[k].name, coll_key_desc[k].name);
		keys.v[k] = file->v[k];
	}
	snprintf(c.url, sizeof(c.url), "%s", url);
	c.protocol = (enum xf_export_protocol)keys.v[CK_PROTOCOL];
	c.mtu = (uint16_t)keys.v[CK_MTU];
	c.rate = (uint32_t)keys.v[CK_RATE];
	c.burst = (uint32_t)keys.v[CK_BURST];
	c.no_flows = !flows;
	c.nat_events = nat_events;
	rc = resolve(&c, why, sizeof(why));
	if (rc)
		return errbuf_set(err, err_len, rc, "%s: %s", prefix, why);
	c.pool = pool < 0 ? cfg->n_pools : pool;
	if (pool < 0)
		cfg->pools[cfg->n_pools++] = (struct xf_pool_config){
			.mode = XF_POOL_MIRROR,
			.first = cfg->n_collectors,
		};
	cfg->pools[c.pool].n_members++;
	cfg->collectors[cfg->n_collectors++] = c;
	return 0;
}

int config_add_collector(struct xf_config *cfg, const char *url, const char *where_, char *err_buf,
			 size_t err_len)
{
	return add_collector(cfg, url, NULL, true, false, -1, where_, err_buf, err_len);
}

/* ---- interfaces ---- */

static int add_pattern(char **v, int *n, const char *pattern, const char *prefix, char *err,
		       size_t err_len)
{
	if (pattern[0] == '\0')
		return errbuf_set(err, err_len, -EINVAL, "%s: interface pattern must not be empty",
				  prefix);
	if (*n >= XF_MAX_PATTERNS)
		return errbuf_set(err, err_len, -EINVAL,
				  "%s: too many interface patterns (at most %d)", prefix,
				  XF_MAX_PATTERNS);
	v[(*n)++] = g_strdup(pattern);
	return 0;
}

int config_add_interface(struct xf_config *cfg, const char *pattern, char *err_buf, size_t err_len)
{
	return add_pattern(cfg->include, &cfg->n_include, pattern, "--interface", err_buf, err_len);
}

bool config_interface_wanted(const struct xf_config *cfg, const char *ifname)
{
	bool inc = false;

	for (int i = 0; i < cfg->n_include && !inc; i++)
		inc = fnmatch(cfg->include[i], ifname, 0) == 0;
	if (!inc)
		return false;
	for (int i = 0; i < cfg->n_exclude; i++)
		if (fnmatch(cfg->exclude[i], ifname, 0) == 0)
			return false;
	return true;
}

/* ---- values: one check per type, for the file and the command line ---- */

/*
 * Where a value comes from, which decides how its error reads: a file
 * setting, "file:line: 'key' must be ..., not VALUE", or a command-line
 * option, "--option: 'VALUE' must be ...".
 */
struct origin {
	const char *where; /* "file:line"; NULL on the command line */
	const char *name;  /* the key in the file, "--option" on the command line */
	char *err;
	size_t err_len;
};

/* A value is refused: it "must be" what fmt says. shown: 10, "bpf" (file) or the argument. */
static int bad_value(const struct origin *o, const char *shown, const char *hint, const char *fmt,
		     ...) __attribute__((format(printf, 4, 5)));

static int bad_value(const struct origin *o, const char *shown, const char *hint, const char *fmt,
		     ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (o->where)
		return errbuf_set(o->err, o->err_len, -EINVAL, "%s: '%s' must be %s, not %s%s",
				  o->where, o->name, what, shown, hint);
	return errbuf_set(o->err, o->err_len, -EINVAL, "%s: '%s' must be %s%s", o->name, shown,
			  what, hint);
}

/* wrapped: libconfig 1.5 read a plain integer above INT32_MAX as a negative one. */
static int check_range(const struct origin *o, long long v, long long min, long long max,
		       const char *shown, bool wrapped)
{
	if (v >= min && v <= max)
		return 0;
	return bad_value(o, shown,
			 wrapped && max > INT32_MAX
				 ? " (write values above 2147483647 with an L suffix, e.g. "
				   "4000000000L)"
				 : "",
			 "in %lld..%lld", min, max);
}

static void *key_field(struct xf_config *cfg, const struct key_desc *k)
{
	return (char *)cfg + k->off;
}

static int set_u32(const struct origin *o, const struct key_desc *k, struct xf_config *cfg,
		   long long v, const char *shown, bool wrapped)
{
	int rc = check_range(o, v, k->min, k->max, shown, wrapped);

	if (rc)
		return rc;
	if (k->pow2 && (v & (v - 1)))
		return bad_value(o, shown, "", "a power of two");
	*(uint32_t *)key_field(cfg, k) = (uint32_t)v;
	if (k->auto_off1) /* a number replaces "auto" */
		*(bool *)((char *)cfg + k->auto_off1 - 1) = false;
	return 0;
}

static int check_choice(const struct origin *o, choice_fn choice, const char *str,
			const char *shown, int *idx)
{
	char list[256];

	*idx = choice_index(choice, str);
	if (*idx >= 0)
		return 0;
	choice_list(choice, ", ", list, sizeof(list));
	return bad_value(o, shown, "", "one of %s", list);
}

static int set_enum(const struct origin *o, const struct key_desc *k, struct xf_config *cfg,
		    const char *str, const char *shown)
{
	int idx, rc = check_choice(o, k->choice, str, shown, &idx);

	if (rc)
		return rc;
	*(int *)key_field(cfg, k) = idx;
	return 0;
}

/* The path keys (pidfile, spool_dir) are all as long as pidfile. */
_Static_assert(sizeof(((struct xf_config *)0)->spool_dir) ==
		       sizeof(((struct xf_config *)0)->pidfile),
	       "path keys differ in size");
static int set_path(const struct origin *o, const struct key_desc *k, struct xf_config *cfg,
		    const char *str, const char *shown)
{
	if (str[0] != '\0' && str[0] != '/')
		return bad_value(o, shown, "", "an absolute path or \"\"");
	if (strlen(str) >= sizeof(cfg->pidfile)) {
		if (o->where)
			return errbuf_set(o->err, o->err_len, -EINVAL, "%s: '%s' is too long",
					  o->where, o->name);
		return errbuf_set(o->err, o->err_len, -EINVAL, "%s: longer than %zu characters",
				  o->name, sizeof(cfg->pidfile) - 1);
	}
	snprintf(key_field(cfg, k), sizeof(cfg->pidfile), "%s", str);
	return 0;
}

int config_parse_listen(const char *str, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 2], *end;
	const char *colon = strrchr(str, ':');
	unsigned long port;
	bool v6 = str[0] == '[';
	size_t hlen;

	memset(ss, 0, sizeof(*ss));
	if (!colon || colon == str)
		return -EINVAL;
	hlen = (size_t)(colon - str);
	if (v6) {
		/* [IPv6]:PORT */
		if (hlen < 3 || str[hlen - 1] != ']')
			return -EINVAL;
		str++;
		hlen -= 2;
	}
	if (hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, str, hlen);
	host[hlen] = '\0';
	if (colon[1] < '1' || colon[1] > '9')
		return -EINVAL;
	port = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || port > 65535)
		return -EINVAL;
	if (v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return -EINVAL;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return -EINVAL;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
	}
	return 0;
}

/* metrics_listen: "" (off), "IPv4:PORT" or "[IPv6]:PORT", numeric only. */
static int set_listen(const struct origin *o, const struct key_desc *k, struct xf_config *cfg,
		      const char *str, const char *shown)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (str[0] != '\0' &&
	    (strlen(str) >= sizeof(cfg->metrics_listen) || config_parse_listen(str, &ss, &len) < 0))
		return bad_value(o, shown, "",
				 "\"\" (off), \"ADDRESS:PORT\" or \"[IPv6]:PORT\" (numeric, port "
				 "1..65535)");
	snprintf(key_field(cfg, k), sizeof(cfg->metrics_listen), "%s", str);
	return 0;
}

/* ---- file parsing ---- */

static const char *type_word(int type)
{
	switch (type) {
	case CONFIG_TYPE_GROUP: return "a group";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64: return "an integer";
	case CONFIG_TYPE_FLOAT: return "a float";
	case CONFIG_TYPE_STRING: return "a string";
	case CONFIG_TYPE_BOOL: return "a boolean";
	case CONFIG_TYPE_ARRAY: return "an array";
	case CONFIG_TYPE_LIST: return "a list";
	default: return "?";
	}
}

static int type_error(struct loader *ld, const config_setting_t *s, const char *key,
		      const char *want)
{
	char w[4200];

	return errbuf_set(ld->err, ld->err_len, -EINVAL, "%s: '%s' must be %s, not %s",
			  where(ld, s, w, sizeof(w)), key, want, type_word(config_setting_type(s)));
}

/* Read an integer setting into *out, checking type and [min, max]. */
static int get_int(struct loader *ld, const config_setting_t *s, const char *key, long long min,
		   long long max, long long *out)
{
	char w[4200], shown[32];
	struct origin o = { where(ld, s, w, sizeof(w)), key, ld->err, ld->err_len };
	int type = config_setting_type(s);

	if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
		return type_error(ld, s, key, "an integer");
	*out = config_setting_get_int64(s);
	snprintf(shown, sizeof(shown), "%lld", *out);
	return check_range(&o, *out, min, max, shown, type == CONFIG_TYPE_INT && *out < 0);
}

static int parse_key(struct loader *ld, const struct key_desc *k, const config_setting_t *s)
{
	char w[4200], shown[4200];
	struct origin o = { where(ld, s, w, sizeof(w)), k->name, ld->err, ld->err_len };
	int type = config_setting_type(s);
	const char *str;
	long long v;

	switch (k->type) {
	case KEY_U32:
		if (k->auto_off1 && type == CONFIG_TYPE_STRING) {
			str = config_setting_get_string(s);
			snprintf(shown, sizeof(shown), "\"%s\"", str);
			if (strcmp(str, "auto"))
				return bad_value(&o, shown, "", "an integer in %u..%u or \"auto\"",
						 k->min, k->max);
			*(bool *)((char *)ld->cfg + k->auto_off1 - 1) = true;
			return 0;
		}
		if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
			return type_error(ld, s, k->name,
					  k->auto_off1 ? "an integer or \"auto\"" : "an integer");
		v = config_setting_get_int64(s);
		snprintf(shown, sizeof(shown), "%lld", v);
		return set_u32(&o, k, ld->cfg, v, shown, type == CONFIG_TYPE_INT && v < 0);
	case KEY_BOOL:
		if (type != CONFIG_TYPE_BOOL)
			return type_error(ld, s, k->name, "true or false");
		*(bool *)key_field(ld->cfg, k) = config_setting_get_bool(s);
		return 0;
	case KEY_ENUM:
	case KEY_PATH:
	case KEY_LISTEN:
		if (type != CONFIG_TYPE_STRING)
			return type_error(ld, s, k->name, "a string");
		str = config_setting_get_string(s);
		snprintf(shown, sizeof(shown), "\"%s\"", str);
		if (k->type == KEY_ENUM)
			return set_enum(&o, k, ld->cfg, str, shown);
		if (k->type == KEY_LISTEN)
			return set_listen(&o, k, ld->cfg, str, shown);
		return set_path(&o, k, ld->cfg, str, shown);
	}
	return -EINVAL;
}

static int unknown_key(struct loader *ld, const config_setting_t *s, const char *parent)
{
	char w[4200];

	return errbuf_set(ld->err, ld->err_len, -EINVAL, "%s: unknown key '%s%s'",
			  where(ld, s, w, sizeof(w)), parent, config_setting_name(s));
}

/* interfaces.include / interfaces.exclude: an array (or list) of strings. */
static int parse_patterns(struct loader *ld, const config_setting_t *s, const char *key, char **v,
			  int *n)
{
	int type = config_setting_type(s), len = config_setting_length(s);
	char prefix[4400], w[4200];

	if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
		return type_error(ld, s, key, "an array of strings");
	free_patterns(v, n); /* the file replaces the defaults wholesale */
	for (int i = 0; i < len; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned int)i);

		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return type_error(ld, e, key, "an array of strings");
		snprintf(prefix, sizeof(prefix), "%s: '%s[%d]'", where(ld, e, w, sizeof(w)), key,
			 i);
		if (add_pattern(v, n, config_setting_get_string(e), prefix, ld->err, ld->err_len))
			return -EINVAL;
	}
	return 0;
}

static int parse_interfaces(struct loader *ld, const config_setting_t *grp)
{
	int rc;

	if (config_setting_type(grp) != CONFIG_TYPE_GROUP)
		return type_error(ld, grp, "interfaces",
				  "a group { include = [...]; exclude = [...]; }");
	for (int i = 0; i < config_setting_length(grp); i++) {
		const config_setting_t *s = config_setting_get_elem(grp, (unsigned int)i);
		const char *name = config_setting_name(s);

		if (strcmp(name, "include") == 0)
			rc = parse_patterns(ld, s, "interfaces.include", ld->cfg->include,
					    &ld->cfg->n_include);
		else if (strcmp(name, "exclude") == 0)
			rc = parse_patterns(ld, s, "interfaces.exclude", ld->cfg->exclude,
					    &ld->cfg->n_exclude);
		else
			rc = unknown_key(ld, s, "interfaces.");
		if (rc)
			return rc;
	}
	return 0;
}

/*
 * One collector, key its name ("collectors[0]", "collectors[1].members[2]"),
 * pool its group (-1: a plain collector, a group of its own).
 */
static int parse_collector(struct loader *ld, const config_setting_t *grp, const char *key,
			   int pool)
{
	const config_setting_t *url = NULL;
	struct coll_keys keys = { 0 };
	bool flows = true, nat_events = false;
	const config_setting_t *spool = NULL;
	char prefix[4400], w[4200];
	int rc;

	if (config_setting_type(grp) != CONFIG_TYPE_GROUP)
		return type_error(ld, grp, key, "a group { url = \"udp://HOST:PORT\"; }");
	for (int i = 0; i < config_setting_length(grp); i++) {
		const config_setting_t *s = config_setting_get_elem(grp, (unsigned int)i);
		const char *name = config_setting_name(s);
		char sub[160];

		snprintf(sub, sizeof(sub), "%s.%s", key, name);
		if (strcmp(name, "url") == 0) {
			if (config_setting_type(s) != CONFIG_TYPE_STRING)
				return type_error(ld, s, sub, "a string");
			url = s;
		} else if (strcmp(name, "protocol") == 0) {
			struct origin o = { where(ld, s, w, sizeof(w)), sub, ld->err, ld->err_len };
			const char *protocol;
			char shown[4200];
			int proto;

			if (config_setting_type(s) != CONFIG_TYPE_STRING)
				return type_error(ld, s, sub, "a string");
			protocol = config_setting_get_string(s);
			snprintf(shown, sizeof(shown), "\"%s\"", protocol);
			rc = check_choice(&o, protocol_choice, protocol, shown, &proto);
			if (rc)
				return rc;
			keys.v[CK_PROTOCOL] = proto;
			keys.set[CK_PROTOCOL] = true;
		} else if (coll_key_index(name, strlen(name)) > CK_PROTOCOL) {
			int k = coll_key_index(name, strlen(name));

			rc = get_int(ld, s, sub, coll_key_desc[k].min, coll_key_desc[k].max,
				     &keys.v[k]);
			if (rc)
				return rc;
			keys.set[k] = true;
		} else if (strcmp(name, "flows") == 0 || strcmp(name, "nat_events") == 0) {
			if (config_setting_type(s) != CONFIG_TYPE_BOOL)
				return type_error(ld, s, sub, "true or false");
			*(name[0] == 'f' ? &flows : &nat_events) = config_setting_get_bool(s);
		} else if (strcmp(name, "spool") == 0) {
			if (config_setting_type(s) != CONFIG_TYPE_BOOL)
				return type_error(ld, s, sub, "true or false");
			spool = s;
		} else {
			snprintf(sub, sizeof(sub), "%s.", key);
			return unknown_key(ld, s, sub);
		}
	}
	if (!url)
		return errbuf_set(ld->err, ld->err_len, -EINVAL, "%s: '%s.url' is missing",
				  where(ld, grp, w, sizeof(w)), key);
	if (!flows && !nat_events)
		return errbuf_set(ld->err, ld->err_len, -EINVAL,
				  "%s: '%s': flows = false and nat_events = false: the collector "
				  "would receive nothing",
				  where(ld, grp, w, sizeof(w)), key);
	snprintf(prefix, sizeof(prefix), "%s: '%s.url'", where(ld, url, w, sizeof(w)), key);
	rc = add_collector(ld->cfg, config_setting_get_string(url), &keys, flows, nat_events, pool,
			   prefix, ld->err, ld->err_len);
	if (rc || !spool || !config_setting_get_bool(spool))
		return rc;
	/* UDP has no connection to tell when a collector took a record */
	if (ld->cfg->collectors[ld->cfg->n_collectors - 1].transport != XF_TRANSPORT_TCP)
		return errbuf_set(ld->err, ld->err_len, -EINVAL,
				  "%s: '%s.spool' needs a tcp:// url",
				  where(ld, spool, w, sizeof(w)), key);
	ld->cfg->collectors[ld->cfg->n_collectors - 1].spool = true;
	return 0;
}

/*
 * A collector group: { mode = "hash"; members = ( { url = ...; }, ... ); }.
 * Each member is a collector of its own (protocol, mtu, pacing).
 */
static int parse_pool(struct loader *ld, const config_setting_t *grp, const char *key)
{
	struct xf_config *cfg = ld->cfg;
	const config_setting_t *members = config_setting_get_member(grp, "members");
	int mode = XF_POOL_MIRROR, pool = cfg->n_pools, rc;
	char w[4200], sub[160];

	for (int i = 0; i < config_setting_length(grp); i++) {
		const config_setting_t *s = config_setting_get_elem(grp, (unsigned int)i);
		const char *name = config_setting_name(s);

		snprintf(sub, sizeof(sub), "%s.%s", key, name);
		if (strcmp(name, "mode") == 0) {
			struct origin o = { where(ld, s, w, sizeof(w)), sub, ld->err, ld->err_len };
			char shown[4200];

			if (config_setting_type(s) != CONFIG_TYPE_STRING)
				return type_error(ld, s, sub, "a string");
			snprintf(shown, sizeof(shown), "\"%s\"", config_setting_get_string(s));
			rc = check_choice(&o, pool_mode_choice, config_setting_get_string(s), shown,
					  &mode);
			if (rc)
				return rc;
		} else if (strcmp(name, "url") == 0) {
			return errbuf_set(ld->err, ld->err_len, -EINVAL,
					  "%s: '%s' is a group with 'members': its collectors "
					  "each have their own 'url' there",
					  where(ld, s, w, sizeof(w)), key);
		} else if (strcmp(name, "members") != 0) {
			snprintf(sub, sizeof(sub), "%s.", key);
			return unknown_key(ld, s, sub);
		}
	}
	snprintf(sub, sizeof(sub), "%s.members", key);
	if (config_setting_type(members) != CONFIG_TYPE_LIST)
		return type_error(ld, members, sub, "a list ( { url = ...; }, ... )");
	if (config_setting_length(members) == 0)
		return errbuf_set(ld->err, ld->err_len, -EINVAL, "%s: '%s' is empty",
				  where(ld, members, w, sizeof(w)), sub);
	if (cfg->n_collectors + config_setting_length(members) > XF_MAX_COLLECTORS)
		return errbuf_set(ld->err, ld->err_len, -EINVAL,
				  "%s: '%s': too many collectors (at most %d, members of groups "
				  "included)",
				  where(ld, members, w, sizeof(w)), sub, XF_MAX_COLLECTORS);
	cfg->pools[cfg->n_pools++] = (struct xf_pool_config){
		.mode = (enum xf_pool_mode)mode,
		.first = cfg->n_collectors,
	};
	for (int i = 0; i < config_setting_length(members); i++) {
		char mkey[200];

		snprintf(mkey, sizeof(mkey), "%s[%d]", sub, i);
		rc = parse_collector(ld, config_setting_get_elem(members, (unsigned int)i), mkey,
				     pool);
		if (rc)
			return rc;
	}
	return 0;
}

static int parse_collectors(struct loader *ld, const config_setting_t *list)
{
	int rc;

	if (config_setting_type(list) != CONFIG_TYPE_LIST)
		return type_error(ld, list, "collectors", "a list ( { url = ...; }, ... )");
	config_clear_collectors(ld->cfg);
	for (int i = 0; i < config_setting_length(list); i++) {
		const config_setting_t *e = config_setting_get_elem(list, (unsigned int)i);
		char key[64];

		snprintf(key, sizeof(key), "collectors[%d]", i);
		if (config_setting_type(e) == CONFIG_TYPE_GROUP &&
		    config_setting_get_member(e, "members"))
			rc = parse_pool(ld, e, key);
		else
			rc = parse_collector(ld, e, key, -1);
		if (rc)
			return rc;
	}
	return 0;
}

/*
 * Cross-field checks (active_timeout >= idle_timeout) are left to
 * config_validate(): the command line may still change either value.
 */
static int parse_root(struct loader *ld, const config_setting_t *root)
{
	int rc;

	for (int i = 0; i < config_setting_length(root); i++) {
		const config_setting_t *s = config_setting_get_elem(root, (unsigned int)i);
		const char *name = config_setting_name(s);
		size_t k;

		if (strcmp(name, "interfaces") == 0) {
			rc = parse_interfaces(ld, s);
		} else if (strcmp(name, "collectors") == 0) {
			rc = parse_collectors(ld, s);
		} else {
			for (k = 0; k < N_KEYS; k++)
				if (strcmp(name, key_table[k].name) == 0)
					break;
			rc = k < N_KEYS ? parse_key(ld, &key_table[k], s) : unknown_key(ld, s, "");
		}
		if (rc)
			return rc;
	}
	return 0;
}

/*
 * Files pulled in with @include are read by libconfig itself; hold them to
 * the same ownership and mode rules as the main file.
 */
static int check_perms(const char *path, const struct stat *st, char *err, size_t err_len)
{
	uid_t me = geteuid();

	if (st->st_uid != 0 && st->st_uid != me)
		return errbuf_set(
			err, err_len, -EPERM,
			"refusing %s: owned by uid %u, not by root or the current user (uid %u)",
			path, (unsigned int)st->st_uid, (unsigned int)me);
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return errbuf_set(err, err_len, -EPERM,
				  "refusing %s: writable by group or others (mode %04o); "
				  "fix with chmod go-w %s",
				  path, (unsigned int)(st->st_mode & 07777), path);
	return 0;
}

static int load(struct xf_config *cfg, FILE *f, const char *text, const char *name, char *err,
		size_t err_len)
{
	struct loader ld = { .cfg = cfg, .name = name, .err = err, .err_len = err_len };
	config_t lc;
	struct stat st;
	char incdir[4096];
	int rc, ok;

	config_init(&lc);
	/*
	 * @include "x.conf" is relative to the main file's directory, not to
	 * the daemon's working directory (libconfig 1.5 then also prefixes
	 * absolute names, so those cannot be used).
	 */
	if (f) {
		const char *slash = strrchr(name, '/');

		if (slash) {
			size_t n = (size_t)(slash - name);

			if (n >= sizeof(incdir))
				n = sizeof(incdir) - 1;
			memcpy(incdir, name, n);
			incdir[n] = '\0';
			if (n == 0)
				strcpy(incdir, "/");
			config_set_include_dir(&lc, incdir);
		}
	}
	ok = f ? config_read(&lc, f) : config_read_string(&lc, text);
	if (!ok) {
		rc = errbuf_set(err, err_len, -EINVAL, "%s:%d: %s",
				config_error_file(&lc) ? config_error_file(&lc) : name,
				config_error_line(&lc), config_error_text(&lc));
		goto out;
	}
	for (unsigned int i = 0; f && lc.filenames && i < lc.num_filenames; i++) {
		if (stat(lc.filenames[i], &st) < 0) {
			rc = errbuf_set(err, err_len, -errno, "cannot read %s: %s", lc.filenames[i],
					strerror(errno));
			goto out;
		}
		rc = check_perms(lc.filenames[i], &st, err, err_len);
		if (rc)
			goto out;
	}
	rc = parse_root(&ld, config_root_setting(&lc));
out:
	config_destroy(&lc);
	return rc;
}

int config_load_file(struct xf_config *cfg, const char *path, char *err_buf, size_t err_len)
{
	struct stat st;
	FILE *f;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errbuf_set(err_buf, err_len, -errno, "cannot read %s: %s", path,
				  strerror(errno));
	/* fstat the descriptor we read from, so the file checked is the file parsed. */
	if (fstat(fd, &st) < 0) {
		rc = errbuf_set(err_buf, err_len, -errno, "cannot read %s: %s", path,
				strerror(errno));
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return errbuf_set(err_buf, err_len, -EINVAL, "cannot read %s: not a regular file",
				  path);
	}
	rc = check_perms(path, &st, err_buf, err_len);
	if (rc) {
		close(fd);
		return rc;
	}
	f = fdopen(fd, "r");
	if (!f) {
		rc = errbuf_set(err_buf, err_len, -errno, "cannot read %s: %s", path,
				strerror(errno));
		close(fd);
		return rc;
	}
	if (strlen(path) >= sizeof(cfg->path)) {
		fclose(f);
		return errbuf_set(err_buf, err_len, -ENAMETOOLONG, "%s: path too long", path);
	}
	snprintf(cfg->path, sizeof(cfg->path), "%s", path);
	rc = load(cfg, f, NULL, path, err_buf, err_len);
	fclose(f);
	return rc;
}

int config_load_string(struct xf_config *cfg, const char *text, const char *name, char *err_buf,
		       size_t err_len)
{
	snprintf(cfg->path, sizeof(cfg->path), "%s", name);
	return load(cfg, NULL, text, name, err_buf, err_len);
}

int config_validate(const struct xf_config *cfg, char *err_buf, size_t err_len)
{
	const char *src = cfg->path[0] ? cfg->path : "configuration";

	if (cfg->active_timeout < cfg->idle_timeout)
		return errbuf_set(err_buf, err_len, -EINVAL,
				  "%s: 'active_timeout' (%u) must be >= 'idle_timeout' (%u)", src,
				  cfg->active_timeout, cfg->idle_timeout);
	if (cfg->n_collectors == 0)
		return errbuf_set(
			err_buf, err_len, -EINVAL,
			"%s: no collector configured; set 'collectors' or use --collector", src);
	if (cfg->n_include == 0)
		return errbuf_set(err_buf, err_len, -EINVAL,
				  "%s: no interface to capture on; set 'interfaces.include' or use "
				  "--interface",
				  src);
	for (int i = 0; i < cfg->n_include; i++)
		if (!cfg->include[i] || !cfg->include[i][0])
			return errbuf_set(err_buf, err_len, -EINVAL,
					  "%s: 'interfaces.include[%d]' is empty", src, i);
	for (int i = 0; i < cfg->n_exclude; i++)
		if (!cfg->exclude[i] || !cfg->exclude[i][0])
			return errbuf_set(err_buf, err_len, -EINVAL,
					  "%s: 'interfaces.exclude[%d]' is empty", src, i);
	/* A NetFlow v9 header has no length: a TCP receiver could not frame it. */
	for (int i = 0; i < cfg->n_collectors; i++)
		if (cfg->collectors[i].protocol == XF_PROTO_NETFLOW9 &&
		    cfg->collectors[i].transport == XF_TRANSPORT_TCP)
			return errbuf_set(
				err_buf, err_len, -EINVAL,
				"%s: 'collectors[%d]' (%s): protocol \"netflow9\" needs a udp:// "
				"url (NetFlow v9 messages carry no length to frame them on TCP)",
				src, i, cfg->collectors[i].url);
	for (int i = 0; i < cfg->n_collectors; i++)
		if (cfg->collectors[i].spool && !cfg->spool_dir[0])
			return errbuf_set(err_buf, err_len, -EINVAL,
					  "%s: 'collectors[%d]' (%s): spool = true needs a "
					  "'spool_dir'",
					  src, i, cfg->collectors[i].url);
	return 0;
}

/* ---- printing ---- */

/* A libconfig string literal: escape what the scanner would interpret. */
static void print_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(out, "\\x%02x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

static void print_patterns(FILE *out, const char *key, char *const *v, int n)
{
	fprintf(out, "\t%s = [", key);
	for (int i = 0; i < n; i++) {
		fputs(i ? ", " : " ", out);
		print_string(out, v[i]);
	}
	fputs(" ];\n", out);
}

static void print_addr(FILE *out, const struct xf_collector_config *c)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned int port = 0;

	if (c->addr.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&c->addr;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		port = ntohs(sin->sin_port);
		fprintf(out, "%s:%u", host, port);
	} else if (c->addr.ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&c->addr;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		port = ntohs(sin6->sin6_port);
		fprintf(out, "[%s]:%u", host, port);
	} else {
		fputs("unresolved", out);
	}
}

static void print_collector(FILE *out, const struct xf_collector_config *c, const char *indent,
			    bool more)
{
	fprintf(out, "%s{ url = ", indent);
	print_string(out, c->url);
	fprintf(out, "; protocol = \"%s\"; mtu = %u; rate = %u; burst = %u;",
		config_protocol_name(c->protocol), c->mtu, c->rate, c->burst);
	/* the defaults left out, so files without them print as before */
	if (c->no_flows)
		fputs(" flows = false;", out);
	if (c->nat_events)
		fputs(" nat_events = true;", out);
	if (c->spool)
		fputs(" spool = true;", out);
	fprintf(out, " }%s # ", more ? "," : "");
	print_addr(out, c);
	fputc('\n', out);
}

void config_print(const struct xf_config *cfg, FILE *out)
{
	fprintf(out, "# xlatflowd effective configuration (from %s)\n",
		cfg->path[0] ? cfg->path : "built-in defaults");
	fputs("interfaces = {\n", out);
	print_patterns(out, "include", cfg->include, cfg->n_include);
	print_patterns(out, "exclude", cfg->exclude, cfg->n_exclude);
	fputs("};\n", out);

	fputs("collectors = (\n", out);
	for (int p = 0; p < cfg->n_pools; p++) {
		const struct xf_pool_config *pool = &cfg->pools[p];
		/* a group of one that mirrors is a plain collector */
		bool group = pool->mode != XF_POOL_MIRROR || pool->n_members > 1;

		if (group)
			fprintf(out, "\t{ mode = \"%s\"; members = (\n",
				config_pool_mode_name(pool->mode));
		for (int m = 0; m < pool->n_members; m++)
			print_collector(out, &cfg->collectors[pool->first + m],
					group ? "\t\t" : "\t",
					group ? m + 1 < pool->n_members : p + 1 < cfg->n_pools);
		if (group)
			fprintf(out, "\t); }%s\n", p + 1 < cfg->n_pools ? "," : "");
	}
	fputs(");\n", out);

	for (size_t k = 0; k < N_KEYS; k++) {
		const struct key_desc *d = &key_table[k];
		const char *field = (const char *)cfg + d->off;
		uint32_t v;

		fprintf(out, "%s = ", d->name);
		switch (d->type) {
		case KEY_U32:
			if (d->auto_off1 && *(const bool *)((const char *)cfg + d->auto_off1 - 1)) {
				/* resolved (never 0) by the daemon: show this node's value */
				v = *(const uint32_t *)field;
				if (v)
					fprintf(out, "\"auto\"; # %u on this node\n", v);
				else
					fputs("\"auto\";\n", out);
				break;
			}
			v = *(const uint32_t *)field;
			/* libconfig 1.5 reads plain integers as 32-bit signed. */
			fprintf(out, "%u%s;\n", v, v > INT32_MAX ? "L" : "");
			break;
		case KEY_BOOL:
			fprintf(out, "%s;\n", *(const bool *)field ? "true" : "false");
			break;
		case KEY_ENUM: {
			const char *name = d->choice(*(const int *)field);

			fprintf(out, "\"%s\";\n", name ? name : "?");
			break;
		}
		case KEY_PATH:
		case KEY_LISTEN:
			print_string(out, field);
			fputs(";\n", out);
			break;
		}
	}
}

/* ---- command line: the keys of the table that have an option ---- */

static const struct key_desc *option_key(size_t i)
{
	for (size_t k = 0; k < N_KEYS; k++)
		if (key_table[k].opt.name && i-- == 0)
			return &key_table[k];
	return NULL;
}

const struct config_option *config_option(size_t i)
{
	const struct key_desc *k = option_key(i);

	return k ? &k->opt : NULL;
}

/* A key's value as --help shows it: 60, auto, /run/xlatflowd.pid, "" (none). */
static void key_value(const struct key_desc *k, const struct xf_config *cfg, char *buf, size_t len)
{
	const char *field = (const char *)cfg + k->off;
	const char *name;

	switch (k->type) {
	case KEY_U32:
		if (k->auto_off1 && *(const bool *)((const char *)cfg + k->auto_off1 - 1))
			snprintf(buf, len, "%s", "auto");
		else
			snprintf(buf, len, "%u", *(const uint32_t *)field);
		break;
	case KEY_BOOL: snprintf(buf, len, "%s", *(const bool *)field ? "on" : "off"); break;
	case KEY_ENUM:
		name = k->choice(*(const int *)field);
		snprintf(buf, len, "%s", name ? name : "?");
		break;
	case KEY_PATH:
	case KEY_LISTEN: snprintf(buf, len, "%s", field[0] ? field : "\"\""); break;
	}
}

void config_option_help(size_t i, char *buf, size_t len)
{
	const struct key_desc *k = option_key(i);
	struct xf_config def;
	char text[256], value[128];

	if (!k) {
		snprintf(buf, len, "%s", "");
		return;
	}
	if (k->type == KEY_ENUM)
		choice_list(k->choice, "|", text, sizeof(text));
	else
		snprintf(text, sizeof(text), "%s", k->opt.help);
	config_defaults(&def);
	key_value(k, &def, value, sizeof(value));
	config_release(&def);
	snprintf(buf, len, "%s (default %s)", text, value);
}

int config_restart_changes(const struct xf_config *running, const struct xf_config *next, char *buf,
			   size_t len)
{
	size_t off = 0;
	int n = 0;

	if (len)
		buf[0] = '\0';
	for (size_t k = 0; k < N_KEYS; k++) {
		const struct key_desc *d = &key_table[k];
		char a[128], b[128];

		if (!d->restart)
			continue;
		key_value(d, running, a, sizeof(a));
		key_value(d, next, b, sizeof(b));
		if (strcmp(a, b) == 0)
			continue;
		if (off < len)
			off += (size_t)snprintf(buf + off, len - off, "%s%s", n ? ", " : "",
						d->name);
		n++;
	}
	return n;
}

void config_keep_restart_keys(struct xf_config *next, const struct xf_config *running)
{
	static const size_t size[] = {
		[KEY_U32] = sizeof(uint32_t),
		[KEY_BOOL] = sizeof(bool),
		[KEY_ENUM] = sizeof(int),
		[KEY_PATH] = sizeof(running->pidfile), /* every path key's (set_path) */
		[KEY_LISTEN] = sizeof(running->metrics_listen),
	};

	for (size_t k = 0; k < N_KEYS; k++)
		if (key_table[k].restart)
			memcpy((char *)next + key_table[k].off,
			       (const char *)running + key_table[k].off, size[key_table[k].type]);
}

bool config_key_needs_restart(const char *key)
{
	for (size_t k = 0; k < N_KEYS; k++)
		if (strcmp(key_table[k].name, key) == 0)
			return key_table[k].restart;
	return false;
}

/*
 * A number as the command line writes it: decimal digits, perhaps a minus
 * (which the range check then refuses with the range). Out of range for
 * long long saturates, which the range check refuses too.
 */
static int parse_number(const struct origin *o, const struct key_desc *k, const char *arg,
			long long *v)
{
	const char *digits = arg[0] == '-' ? arg + 1 : arg;
	char *end;

	*v = strtoll(arg, &end, 10);
	if (*digits < '0' || *digits > '9' || *end != '\0')
		return bad_value(o, arg, "", "an integer in %u..%u", k->min, k->max);
	return 0;
}

int config_set_option(struct xf_config *cfg, size_t i, const char *arg, char *err, size_t err_len)
{
	const struct key_desc *k = option_key(i);
	char name[64];
	struct origin o = { NULL, name, err, err_len };
	long long v;
	int rc;

	if (!k)
		return errbuf_set(err, err_len, -EINVAL, "no command-line option %zu", i);
	snprintf(name, sizeof(name), "--%s", k->opt.name);
	switch (k->type) {
	case KEY_U32:
		if (k->auto_off1 && strcmp(arg, "auto") == 0) {
			*(bool *)((char *)cfg + k->auto_off1 - 1) = true;
			return 0;
		}
		rc = parse_number(&o, k, arg, &v);
		return rc ? rc : set_u32(&o, k, cfg, v, arg, false);
	case KEY_ENUM: return set_enum(&o, k, cfg, arg, arg);
	case KEY_PATH: return set_path(&o, k, cfg, arg, arg);
	case KEY_LISTEN: return set_listen(&o, k, cfg, arg, arg);
	case KEY_BOOL:
		/* a flag: main.c passes "true" when it is given */
		if (strcmp(arg, "true") != 0 && strcmp(arg, "false") != 0)
			return bad_value(&o, arg, "", "true or false");
		*(bool *)key_field(cfg, k) = strcmp(arg, "true") == 0;
		return 0;
	}
	return errbuf_set(err, err_len, -EINVAL, "%s: no command-line form", name);
}
