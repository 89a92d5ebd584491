/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The opt-in metrics endpoint (metrics_listen): GET /metrics (Prometheus
 * text format, metrics.h), /healthz (the process answers) and /readyz
 * (metrics_ready()). HTTP is libmicrohttpd's, run from the daemon's own
 * event loop (no thread of its own): metrics_http_fd() goes into the
 * loop's epoll set and metrics_http_run() is called when it is readable
 * and once per drain cycle (connection timeouts). Every request is
 * answered inside metrics_http_run(), in the daemon's thread, from a fresh
 * snapshot: nothing is shared, so nothing is locked.
 */
#ifndef XF_METRICS_HTTP_H
#define XF_METRICS_HTTP_H

#include <stddef.h>

#include "metrics.h"

struct metrics_http;

/* Fill *s with the current counters (the endpoint clears it after use). */
typedef void (*metrics_fill_fn)(void *ctx, struct metrics_snapshot *s);

/*
 * Listen on listen ("ADDR:PORT", config_parse_listen()). Returns NULL
 * with err filled ("metrics_listen 127.0.0.1:9477: bind: Address already
 * in use") when the socket or the server cannot be made.
 */
struct metrics_http *metrics_http_open(const char *listen, metrics_fill_fn fill, void *ctx,
				       char *err, size_t err_len);
/* Close the socket and every connection; NULL is a no-op. */
void metrics_http_free(struct metrics_http *m);

/* An fd to wait on for EPOLLIN (owned by m). */
int metrics_http_fd(const struct metrics_http *m);
/* Accept, read, answer and time out connections, without blocking. */
void metrics_http_run(struct metrics_http *m);

#endif
