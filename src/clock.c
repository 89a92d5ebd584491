/* SPDX-License-Identifier: GPL-2.0-only */
#include <time.h>

#include "clock.h"

static uint64_t read_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t clock_mono_ns(void)
{
	return read_ns(CLOCK_MONOTONIC);
}

uint64_t clock_mono_ms(void)
{
	return read_ns(CLOCK_MONOTONIC) / 1000000ULL;
}

uint64_t clock_wall_ms(void)
{
	return read_ns(CLOCK_REALTIME) / 1000000ULL;
}

uint64_t clock_thread_cpu_ns(void)
{
	return read_ns(CLOCK_THREAD_CPUTIME_ID);
}

void clock_sync(struct xf_clock *c)
{
	int64_t best_gap = INT64_MAX, best = 0;

	/* Bracket the realtime read between two monotonic reads; keep the
	 * tightest of three samples so a preemption does not skew the offset. */
	for (int i = 0; i < 3; i++) {
		uint64_t m1 = read_ns(CLOCK_MONOTONIC);
		uint64_t r = read_ns(CLOCK_REALTIME);
		uint64_t m2 = read_ns(CLOCK_MONOTONIC);
		int64_t gap = (int64_t)(m2 - m1);

		if (gap < best_gap) {
			best_gap = gap;
			best = (int64_t)r - (int64_t)(m1 + (m2 - m1) / 2);
		}
	}
	c->offset_ns = best;
}

void clock_set_offset(struct xf_clock *c, int64_t offset_ns)
{
	c->offset_ns = offset_ns;
}

uint64_t clock_mono_to_wall_ms(const struct xf_clock *c, uint64_t mono_ns)
{
	return (uint64_t)((int64_t)mono_ns + c->offset_ns) / 1000000ULL;
}
