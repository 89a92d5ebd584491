/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Logging in the OpenBGPD style: to stderr in the foreground, to syslog
 * (and so the journal) as a daemon. log_warn appends strerror(errno);
 * fatal/fatalx log and exit(1).
 */
#ifndef XF_LOG_H
#define XF_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum log_level { LOG_LEVEL_ERR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* Route messages to stderr (foreground) or syslog; set the threshold. */
void log_init(bool foreground, enum log_level level, const char *ident);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parse "err", "warn", "info", "debug"; returns -1 when unknown. */
int log_level_parse(const char *name);
const char *log_level_name(enum log_level level);
/*
 * In syslog mode, also write warnings and errors to stderr: main.c turns
 * this on until the daemon detaches, so that a start that fails says why
 * on the terminal that started it.
 */
void log_copy_to_stderr(bool on);
/* Route libbpf (at debug, whatever its level) and glib (one level lower) messages here. */
void log_route_libraries(void);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

#endif
