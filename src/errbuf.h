/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The error buffer convention: a function that can fail takes
 * `char *err, size_t err_len`, writes one line saying why into it and
 * returns a negative errno (or NULL). errbuf_set() does both in one
 * statement, so a failure path reads `return errbuf_set(err, len, -EINVAL, ...)`.
 */
#ifndef XF_ERRBUF_H
#define XF_ERRBUF_H

#include <stddef.h>

/*
 * Format the message into err (truncated to len - 1 characters) and return
 * rc. err may be NULL or len 0: nothing is written. errno is preserved, so
 * a caller may still read it after the call.
 */
int errbuf_set(char *err, size_t len, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
