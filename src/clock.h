/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Kernel packet times (bpf_ktime_get_ns, CLOCK_MONOTONIC) to IPFIX wall-clock
 * milliseconds. The offset between CLOCK_REALTIME and CLOCK_MONOTONIC is
 * sampled once per export cycle: both clocks run at the same NTP-disciplined
 * rate, so there is no drift, and a wall-clock step only changes the offset.
 * A record's start and end are converted with the same offset, so its
 * duration is always the true monotonic duration (never negative) even when
 * the wall clock is stepped between its first and last packet.
 */
#ifndef XF_CLOCK_H
#define XF_CLOCK_H

#include <stdint.h>

struct xf_clock {
	int64_t offset_ns; /* realtime - monotonic */
};

/* The clocks now: CLOCK_MONOTONIC in ns and ms, CLOCK_REALTIME in ms since
 * the epoch, and the calling thread's CPU time in ns. */
uint64_t clock_mono_ns(void);
uint64_t clock_mono_ms(void);
uint64_t clock_wall_ms(void);
uint64_t clock_thread_cpu_ns(void);
/* Re-sample the offset (call once per export cycle). */
void clock_sync(struct xf_clock *c);
/* Set the offset directly (tests). */
void clock_set_offset(struct xf_clock *c, int64_t offset_ns);
uint64_t clock_mono_to_wall_ms(const struct xf_clock *c, uint64_t mono_ns);

#endif
