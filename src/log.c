/* SPDX-License-Identifier: GPL-2.0-only */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <bpf/libbpf.h>
#include <glib.h>

#include "log.h"

static bool log_foreground = true;
static enum log_level log_threshold = LOG_LEVEL_INFO;
/* Syslog mode only: also write warnings and errors to stderr (before the fork). */
static bool log_stderr_copy;

static const char *const level_names[] = { "err", "warn", "info", "debug" };

void log_init(bool foreground, enum log_level level, const char *ident)
{
	log_foreground = foreground;
	log_threshold = level;
	if (!foreground)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_copy_to_stderr(bool on)
{
	log_stderr_copy = on;
}

void log_set_level(enum log_level level)
{
	log_threshold = level;
}

enum log_level log_get_level(void)
{
	return log_threshold;
}

int log_level_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(name, level_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *log_level_name(enum log_level level)
{
	return level_names[level];
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	int saved = errno;

	if (level > log_threshold)
		return;
	if (log_foreground) {
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		fflush(stderr);
	} else {
		va_list copy;

		if (log_stderr_copy && level <= LOG_LEVEL_WARN) {
			va_copy(copy, ap);
			fputs("xlatflowd: ", stderr);
			vfprintf(stderr, fmt, copy);
			fputc('\n', stderr);
			fflush(stderr);
			va_end(copy);
		}
		vsyslog(prio[level], fmt, ap);
	}
	errno = saved;
}

static void log_with_errno(enum log_level level, const char *fmt, va_list ap)
{
	char buf[1024];
	int saved = errno;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	errno = saved;
	if (level > log_threshold)
		return;
	if (log_foreground) {
		fprintf(stderr, "%s: %s\n", buf, strerror(saved));
		fflush(stderr);
	} else {
		if (log_stderr_copy) {
			fprintf(stderr, "xlatflowd: %s: %s\n", buf, strerror(saved));
			fflush(stderr);
		}
		syslog(level == LOG_LEVEL_ERR ? LOG_ERR : LOG_WARNING, "%s: %s", buf,
		       strerror(saved));
	}
	errno = saved;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_with_errno(LOG_LEVEL_WARN, fmt, ap);
	va_end(ap);
}

void log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_WARN, fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_INFO, fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_DEBUG, fmt, ap);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_with_errno(LOG_LEVEL_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}

static void log_vmsg_str(enum log_level level, const char *msg)
{
	log_msg(level, "%s", msg);
}

/*
 * Everything libbpf says is debug, its warnings included. libbpf warns about
 * failures its caller expected and handles: the optional NAT hooks probed at
 * start-up ("permission error while running as root; try raising 'ulimit
 * -l'?" where the kernel refuses fentry), an interface that already has a
 * clsact qdisc ("Exclusivity flag on, cannot modify"). It cannot tell those
 * from real trouble; its callers can, and report every failure they act on
 * in one line of their own with the step and the errno. libbpf's text (the
 * verifier log among it) is the detail behind such a line: -v shows it.
 */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	enum log_level ours = LOG_LEVEL_DEBUG;
	char buf[1024];
	size_t n;

	(void)level;
	if (ours > log_threshold)
		return 0;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	log_vmsg_str(ours, buf);
	return 0;
}

static void glib_print(const gchar *domain, GLogLevelFlags flags, const gchar *msg, gpointer ud)
{
	enum log_level ours = LOG_LEVEL_DEBUG;

	if (flags & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
		ours = LOG_LEVEL_WARN;
	else if (flags & G_LOG_LEVEL_WARNING)
		ours = LOG_LEVEL_INFO;
	log_vmsg_str(ours, msg);
}

void log_route_libraries(void)
{
	libbpf_set_print(libbpf_print);
	g_log_set_default_handler(glib_print, NULL);
}
