/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * xlatflowd configuration: the libconfig file (/etc/xlatflow/xlatflowd.conf)
 * merged with command-line overrides, validated into one struct xf_config.
 * Every error names file:line (or the command-line option) and the field.
 */
#ifndef XF_CONFIG_H
#define XF_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#define XF_CONFIG_DEFAULT_PATH "/etc/xlatflow/xlatflowd.conf"
#define XF_MAX_COLLECTORS 16
#define XF_MAX_PATTERNS 64
/* UDP pacing defaults: bench/README.md, "Collector socket buffers" */
#define XF_DEFAULT_RATE 200000
#define XF_DEFAULT_BURST 400

enum xf_transport { XF_TRANSPORT_UDP = 0, XF_TRANSPORT_TCP };
/*
 * How a collector group shares the records among its members (templates
 * and options records go to every member in every mode):
 * mirror: every member gets every record (a plain collector is a group of one);
 * round-robin: each record to the next member that is up;
 * hash: all records of one connection to one member (pool.h).
 */
enum xf_pool_mode { XF_POOL_MIRROR = 0, XF_POOL_ROUND_ROBIN, XF_POOL_HASH };
enum xf_export_protocol { XF_PROTO_IPFIX = 0, XF_PROTO_NETFLOW9 };
enum xf_nat_hook {
	XF_NAT_AUTO = 0,
	XF_NAT_FENTRY,
	XF_NAT_KPROBE,
	XF_NAT_CONNTRACK,
	XF_NAT_OFF,
};

/*
 * The order in which the TC programs count a packet (docs/datapath.md):
 * auto measures both and keeps the cheaper (order.h); slots: into its
 * flow's slot, to the ring buffer past full slots; ring: to the ring
 * buffer, into the slots past a full ring.
 */
enum xf_datapath_order { XF_DATAPATH_AUTO = 0, XF_DATAPATH_SLOTS, XF_DATAPATH_RING };

struct xf_collector_config {
	char url[256]; /* as written: "udp://127.0.0.1:4739" */
	enum xf_transport transport;
	enum xf_export_protocol protocol;
	char host[200]; /* host part, brackets removed for IPv6 */
	char port[8];
	struct sockaddr_storage addr; /* resolved at validation time */
	socklen_t addrlen;
	uint16_t mtu; /* UDP: largest IPFIX message incl. IP/UDP headers */
	/*
	 * UDP pacing (TCP has flow control and ignores both): at most rate
	 * records a second, at most burst records at once (a datagram counts
	 * its records, or 1 when it carries none); rate 0: unpaced.
	 */
	uint32_t rate;
	uint32_t burst;
	bool no_flows;	 /* flows = false: send no flow records (zero: the default, flows) */
	bool nat_events; /* send the NAT event log (default false), docs/nat-events.md */
	/*
	 * TCP only: records to this collector go through the on-disk spool
	 * (spool_dir): kept while it is down and across a restart, sent once.
	 */
	bool spool;
	int pool; /* its group: index in xf_config.pools */
};

/* A collector group ("collectors" entry with members, or one plain collector). */
struct xf_pool_config {
	enum xf_pool_mode mode;
	int first; /* its members: collectors[first .. first + n_members) */
	int n_members;
};

struct xf_config {
	char path[4096]; /* file the config came from ("" = built-in defaults) */

	/* interfaces: exact names or fnmatch(3) patterns */
	char *include[XF_MAX_PATTERNS];
	int n_include;
	char *exclude[XF_MAX_PATTERNS];
	int n_exclude;

	struct xf_collector_config collectors[XF_MAX_COLLECTORS];
	int n_collectors;
	struct xf_pool_config pools[XF_MAX_COLLECTORS];
	int n_pools;

	/* "auto": derived from /etc/machine-id by identity_domain_id() */
	bool observation_domain_auto;
	uint32_t observation_domain_id;
	uint32_t active_timeout;   /* seconds */
	uint32_t idle_timeout;	   /* seconds */
	uint32_t max_flows;	   /* userspace flow cache bound */
	uint32_t kernel_max_flows; /* flows per drain interval: BPF flow slots */
	uint32_t ringbuf_size;	   /* bytes, power of two */
	enum xf_datapath_order datapath_order;
	uint32_t datapath_probe_interval;   /* auto: seconds between measurements, at most */
	uint32_t drain_interval_ms;	    /* map drain / cache scan period */
	uint32_t template_refresh;	    /* seconds between UDP template resends */
	uint32_t template_refresh_messages; /* also every N messages (UDP), 0 = off */
	uint32_t sampling;		    /* 1 = every packet */
	enum xf_nat_hook nat_hook;
	uint32_t enterprise_number;   /* PEN of the xlatflow elements */
	bool zone_as_vrf;	      /* copy zone id into ingressVRFID (IE 234) */
	uint32_t xlat_timeout;	      /* seconds a translation is kept unseen */
	uint32_t max_translations;    /* translation table bound (LRU eviction) */
	uint32_t nat_table_threshold; /* NAT events: percent of nf_conntrack_max, 0 = off */
	uint32_t stats_interval;      /* seconds between the counters' log lines, 0 = off */
	int log_level;		      /* enum log_level */
	char pidfile[4096];
	bool allow_capabilities_kept; /* run on when the capability drop fails */
	char spool_dir[4096];	      /* one subdirectory per spooled collector; "" none */
	uint32_t spool_max_bytes;     /* bound of each collector's spool */
	char metrics_listen[64];      /* "ADDR:PORT" of the metrics endpoint; "" = none */
	bool foreground;
	bool verbose;
};

/* Fill *cfg with the built-in defaults. */
void config_defaults(struct xf_config *cfg);

/*
 * Parse the libconfig file at path into cfg (which holds defaults or earlier
 * values). On error print "path:line: message" to err_buf and return
 * -EINVAL (or -errno for an unreadable file); cfg is then unusable.
 */
int config_load_file(struct xf_config *cfg, const char *path, char *err_buf, size_t err_len);

/* Parse the built-in default configuration text (used by --demo). */
int config_load_string(struct xf_config *cfg, const char *text, const char *name, char *err_buf,
		       size_t err_len);

/*
 * Add a collector from a URL ("udp://HOST:PORT", "tcp://[v6]:PORT"), with
 * the collector keys as parameters if wanted:
 * "udp://HOST:PORT?protocol=netflow9&mtu=9000&rate=100000&burst=400".
 */
int config_add_collector(struct xf_config *cfg, const char *url, const char *where, char *err_buf,
			 size_t err_len);

/* Add an interface include pattern. */
int config_add_interface(struct xf_config *cfg, const char *pattern, char *err_buf, size_t err_len);

/* Drop all interface patterns / collectors (command line replaces file). */
void config_clear_interfaces(struct xf_config *cfg);
void config_clear_collectors(struct xf_config *cfg);

/* Cross-field checks after file and command line are merged. */
int config_validate(const struct xf_config *cfg, char *err_buf, size_t err_len);

/* Does interface name match include and not exclude? */
bool config_interface_wanted(const struct xf_config *cfg, const char *ifname);

/* Print the effective configuration in the file's own syntax. */
void config_print(const struct xf_config *cfg, FILE *out);

/* Release memory owned by cfg (patterns); cfg may be reused after. */
void config_release(struct xf_config *cfg);

/*
 * The command-line options that set a configuration key. config.c's key
 * table declares each once, with the key's type and range: --help,
 * getopt_long() and config_set_option() all read it.
 */
struct config_option {
	const char *name; /* the long option: "active-timeout" for --active-timeout */
	const char *arg;  /* its argument as --help names it: "SEC"; NULL: a flag (sets true) */
	const char *help; /* NULL for a choice: config_option_help() lists the names */
};

/* Option i = 0, 1, ... (in the order of the key table), or NULL past the last. */
const struct config_option *config_option(size_t i);

/*
 * Option i's --help text into buf: its help, or its choices
 * ("auto|fentry|..."), and the key's default: "... (default 60)".
 */
void config_option_help(size_t i, char *buf, size_t len);

/*
 * Set option i's key from its command-line argument, through the file's
 * checks (type, range, names); an error names the option:
 * "--active-timeout: '0' must be in 1..86400". Returns 0 or -EINVAL.
 */
int config_set_option(struct xf_config *cfg, size_t i, const char *arg, char *err_buf,
		      size_t err_len);

/*
 * The keys a reload cannot change (they size or choose what was loaded into
 * the kernel, or only matter at start-up): their names that differ between
 * running and next, joined by ", ", into buf ("" when none). Returns how
 * many differ.
 */
int config_restart_changes(const struct xf_config *running, const struct xf_config *next, char *buf,
			   size_t len);
/* Copy the values of those keys from running into next (a reload keeps them). */
void config_keep_restart_keys(struct xf_config *next, const struct xf_config *running);
/* Is key (a name of the key table) one of those? */
bool config_key_needs_restart(const char *key);

/* "auto", "fentry", "kprobe", "conntrack", "off" ("?" out of range). */
/*
 * A listening address as metrics_listen takes it: "A.B.C.D:PORT" or
 * "[IPv6]:PORT", numeric, port 1..65535. 0, or -EINVAL.
 */
int config_parse_listen(const char *str, struct sockaddr_storage *ss, socklen_t *len);

const char *config_nat_hook_name(enum xf_nat_hook hook);
/* The enum xf_nat_hook of a name, or -1 when it is none. */
int config_nat_hook_parse(const char *name);
/* "ipfix" or "netflow9". */
const char *config_protocol_name(enum xf_export_protocol proto);
/* "mirror", "round-robin" or "hash". */
const char *config_pool_mode_name(enum xf_pool_mode mode);

#endif
