/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * How a test says what it did not check. A whole test exits 77 only when the
 * machine lacks what it needs (for the BPF tests: root's CAP_BPF and
 * CAP_NET_ADMIN, tu_bpf_capable()); a load or verifier failure with those is
 * a failure. A sub-check that cannot run calls tu_skip_check(), which
 * prints "SKIP-CHECK: CHECK: REASON": tests/skip-check-driver counts it as
 * a skip, and in CI it fails the run unless tests/allowed-skips lists
 * "TEST: CHECK" with its reason.
 */
#ifndef XF_TESTSKIP_H
#define XF_TESTSKIP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

/* CHECK names the sub-check (no colon in it), the rest says why. */
static inline void __attribute__((format(printf, 2, 3)))
tu_skip_check(const char *check, const char *fmt, ...)
{
	va_list ap;

	printf("SKIP-CHECK: %s: ", check);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/*
 * May this process load and attach TC programs and run them with
 * BPF_PROG_TEST_RUN: CAP_BPF and CAP_NET_ADMIN, or CAP_SYS_ADMIN (kernels
 * before CAP_BPF), in its effective set.
 */
static inline bool tu_bpf_capable(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = { 0 };
	uint64_t eff;

	if (syscall(SYS_capget, &hdr, data) < 0)
		return false;
	eff = (uint64_t)data[0].effective | ((uint64_t)data[1].effective << 32);
#ifndef CAP_BPF
#define CAP_BPF 39
#endif
	return (eff & (1ULL << CAP_SYS_ADMIN)) ||
	       ((eff & (1ULL << CAP_BPF)) && (eff & (1ULL << CAP_NET_ADMIN)));
}

#endif
