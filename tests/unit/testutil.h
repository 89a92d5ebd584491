/* SPDX-License-Identifier: GPL-2.0-only */
/* Minimal assertion helpers for the unit tests: report file:line, count failures. */
#ifndef XF_TESTUTIL_H
#define XF_TESTUTIL_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "testskip.h"

static int tu_failures;
static int tu_checks;

#define CHECK(cond)                                                                              \
	do {                                                                                     \
		tu_checks++;                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
			tu_failures++;                                                           \
		}                                                                                \
	} while (0)

#define CHECK_U64(a, b)                                                                           \
	do {                                                                                      \
		uint64_t _a = (uint64_t)(a), _b = (uint64_t)(b);                                  \
		tu_checks++;                                                                      \
		if (_a != _b) {                                                                   \
			fprintf(stderr, "%s:%d: %s == %" PRIu64 ", expected %s == %" PRIu64 "\n", \
				__FILE__, __LINE__, #a, _a, #b, _b);                              \
			tu_failures++;                                                            \
		}                                                                                 \
	} while (0)

#define CHECK_INT(a, b)                                                                           \
	do {                                                                                      \
		long long _a = (long long)(a), _b = (long long)(b);                               \
		tu_checks++;                                                                      \
		if (_a != _b) {                                                                   \
			fprintf(stderr, "%s:%d: %s == %lld, expected %lld\n", __FILE__, __LINE__, \
				#a, _a, _b);                                                      \
			tu_failures++;                                                            \
		}                                                                                 \
	} while (0)

#define CHECK_STR(a, b)                                                                     \
	do {                                                                                \
		const char *_a = (a), *_b = (b);                                            \
		tu_checks++;                                                                \
		if (strcmp(_a, _b) != 0) {                                                  \
			fprintf(stderr, "%s:%d: %s is \"%s\", expected \"%s\"\n", __FILE__, \
				__LINE__, #a, _a, _b);                                      \
			tu_failures++;                                                      \
		}                                                                           \
	} while (0)

#define RUN(test)                                                                 \
	do {                                                                      \
		int _before = tu_failures;                                        \
		test();                                                           \
		printf("%s %s\n", tu_failures == _before ? "ok" : "FAIL", #test); \
	} while (0)

static inline int tu_finish(void)
{
	printf("%d checks, %d failed\n", tu_checks, tu_failures);
	return tu_failures ? 1 : 0;
}

#endif
