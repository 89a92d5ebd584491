/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit test of src/clock.c: conversion, and a stepped offset keeps durations. */
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "testutil.h"

static void test_conversion(void)
{
	struct xf_clock c;

	clock_set_offset(&c, 1700000000000000000LL);
	CHECK_U64(clock_mono_to_wall_ms(&c, 5000000), 1700000000005ULL);
	CHECK_U64(clock_mono_to_wall_ms(&c, 5999999), 1700000000005ULL);
	/* stepped back by one hour: both ends move together */
	clock_set_offset(&c, 1700000000000000000LL - 3600000000000LL);
	CHECK_U64(clock_mono_to_wall_ms(&c, 7000000000ULL) -
			  clock_mono_to_wall_ms(&c, 5000000000ULL),
		  2000);
}

static void test_sync_matches_realtime(void)
{
	struct xf_clock c;
	struct timespec ts;
	uint64_t wall_ms, conv;

	clock_sync(&c);
	clock_gettime(CLOCK_REALTIME, &ts);
	wall_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	conv = clock_mono_to_wall_ms(&c, clock_mono_ns());
	CHECK(conv + 5 >= wall_ms && conv <= wall_ms + 5);
}

int main(void)
{
	RUN(test_conversion);
	RUN(test_sync_matches_realtime);
	return tu_finish();
}
