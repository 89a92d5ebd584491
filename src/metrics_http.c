// SPDX-License-Identifier: GPL-2.0-only
/*
 * The metrics endpoint on libmicrohttpd (metrics_http.h), in its external
 * polling mode with epoll: MHD keeps its own epoll set of the listening
 * socket and the connections, and hands us that one fd.
 *
 * Why a library and not a hand-written accept()/read() loop: request
 * parsing (partial reads, pipelining, header limits, HEAD, chunking),
 * connection limits per host and in all, idle timeouts and error replies
 * are the part of an HTTP server that goes wrong, and libmicrohttpd
 * (Debian's libmicrohttpd12) has done them for years, fuzzed and
 * maintained. The socket is bound here, so a bad address fails with a
 * message that names it.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "config.h"
#include "errbuf.h"
#include "log.h"
#include "metrics_http.h"

/* A scraper, a probe or two and someone with curl; more wait in the backlog. */
#define METRICS_MAX_CONNECTIONS 8
#define METRICS_MAX_PER_IP 4
/* seconds a connection may stay idle */
#define METRICS_TIMEOUT_S 10

struct metrics_http {
	struct MHD_Daemon *mhd;
	int epoll_fd; /* MHD's */
	metrics_fill_fn fill;
	void *ctx;
};

/* libmicrohttpd's messages (a client that misbehaves, a refused connection): debug. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	log_vmsg(LOG_LEVEL_DEBUG, fmt, ap);
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status,
			     const char *content_type, GString *body)
{
	struct MHD_Response *resp;
	enum MHD_Result rc;
	size_t len = body->len;

	/* the response owns the buffer from here (MHD_RESPMEM_MUST_FREE: free()) */
	resp = MHD_create_response_from_buffer(len, g_string_free(body, FALSE),
					       MHD_RESPMEM_MUST_FREE);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	rc = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **req)
{
	static int headers_seen;
	struct metrics_http *m = cls;
	struct metrics_snapshot s;
	GString *body;
	const char *text = "text/plain; charset=utf-8";
	unsigned int status = MHD_HTTP_OK;

	/* The first call has the headers only, then come the body's parts; answer on the last. */
	if (!*req) {
		*req = &headers_seen;
		return MHD_YES;
	}
	if (*upload_size) {
		/* a body (POST, PUT): skipped; the last call, without data, refuses it below */
		*upload_size = 0;
		return MHD_YES;
	}
	body = g_string_new(NULL);
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
		g_string_append(body, "only GET and HEAD\n");
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, text, body);
	}
	if (strcmp(url, "/metrics") == 0) {
		memset(&s, 0, sizeof(s));
		m->fill(m->ctx, &s);
		metrics_render(&s, body);
		metrics_snapshot_clear(&s);
		return reply(conn, status, "text/plain; version=0.0.4; charset=utf-8", body);
	}
	if (strcmp(url, "/healthz") == 0) {
		/* the loop answered: the process is alive and not stuck */
		g_string_append(body, "ok\n");
		return reply(conn, status, text, body);
	}
	if (strcmp(url, "/readyz") == 0) {
		memset(&s, 0, sizeof(s));
		m->fill(m->ctx, &s);
		if (metrics_ready(&s, body))
			g_string_append(body, "ready\n");
		else
			status = MHD_HTTP_SERVICE_UNAVAILABLE;
		metrics_snapshot_clear(&s);
		return reply(conn, status, text, body);
	}
	g_string_append(body, "not found: /metrics, /healthz, /readyz\n");
	return reply(conn, MHD_HTTP_NOT_FOUND, text, body);
}

/* A listening TCP socket on listen, or -1 with err filled. */
static int listen_socket(const char *listen_addr, char *err, size_t err_len)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;

	if (config_parse_listen(listen_addr, &ss, &len) < 0) {
		errbuf_set(err, err_len, -EINVAL, "metrics_listen %s: not ADDRESS:PORT",
			   listen_addr);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		errbuf_set(err, err_len, -errno, "metrics_listen %s: socket: %s", listen_addr,
			   strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 16) < 0) {
		errbuf_set(err, err_len, -errno, "metrics_listen %s: %s: %s", listen_addr,
			   errno == EADDRINUSE || errno == EADDRNOTAVAIL || errno == EACCES
				   ? "bind"
				   : "listen",
			   strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

struct metrics_http *metrics_http_open(const char *listen_addr, metrics_fill_fn fill, void *ctx,
				       char *err, size_t err_len)
{
	struct metrics_http *m;
	const union MHD_DaemonInfo *info;
	int fd = listen_socket(listen_addr, err, err_len);

	if (fd < 0)
		return NULL;
	m = g_new0(struct metrics_http, 1);
	m->fill = fill;
	m->ctx = ctx;
	/* no MHD_USE_INTERNAL_POLLING_THREAD: it runs only inside metrics_http_run() */
	m->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, m,
				  MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
				  (unsigned int)METRICS_MAX_CONNECTIONS,
				  MHD_OPTION_PER_IP_CONNECTION_LIMIT,
				  (unsigned int)METRICS_MAX_PER_IP, MHD_OPTION_CONNECTION_TIMEOUT,
				  (unsigned int)METRICS_TIMEOUT_S, MHD_OPTION_EXTERNAL_LOGGER,
				  mhd_log, NULL, MHD_OPTION_END);
	if (!m->mhd) {
		errbuf_set(err, err_len, -EINVAL, "metrics_listen %s: libmicrohttpd did not start",
			   listen_addr);
		close(fd);
		g_free(m);
		return NULL;
	}
	info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	m->epoll_fd = info ? info->epoll_fd : -1;
	if (m->epoll_fd < 0) {
		errbuf_set(err, err_len, -EINVAL,
			   "metrics_listen %s: libmicrohttpd has no epoll fd", listen_addr);
		metrics_http_free(m);
		return NULL;
	}
	log_info("metrics: http://%s/metrics (also /healthz, /readyz)", listen_addr);
	return m;
}

void metrics_http_free(struct metrics_http *m)
{
	if (!m)
		return;
	if (m->mhd)
		MHD_stop_daemon(m->mhd); /* closes the listening socket too */
	g_free(m);
}

int metrics_http_fd(const struct metrics_http *m)
{
	return m->epoll_fd;
}

void metrics_http_run(struct metrics_http *m)
{
	MHD_run(m->mhd);
}
