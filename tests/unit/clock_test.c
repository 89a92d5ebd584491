/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit test of src/clock.c: conversion, a stepped offset keeps durations, the readers. */
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

static uint64_t read_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The millisecond readers lie between two direct reads of their clock. */
static void test_now_ms(void)
{
	uint64_t before, ms, after;

	before = read_ms(CLOCK_MONOTONIC);
	ms = clock_mono_ms();
	after = read_ms(CLOCK_MONOTONIC);
	CHECK(before <= ms && ms <= after);
	before = clock_mono_ns() / 1000000;
	ms = clock_mono_ms();
	CHECK(before <= ms && ms <= clock_mono_ns() / 1000000);
	before = read_ms(CLOCK_REALTIME);
	ms = clock_wall_ms();
	after = read_ms(CLOCK_REALTIME);
	CHECK(before <= ms && ms <= after);
	/* since 2020-09-13 (1600000000 s): milliseconds, not seconds or ns */
	CHECK(ms > 1600000000000ULL && ms < 1600000000000000ULL);
}

/* The thread's CPU time grows while it spins, and only by what it spent. */
static void test_thread_cpu(void)
{
	/* the monotonic interval encloses the CPU-time one: m0 first, m1 last */
	uint64_t m0 = clock_mono_ns(), t0 = clock_thread_cpu_ns(), t1, m1;
	volatile uint64_t x = 0;

	do
		for (int i = 0; i < 100000; i++)
			x += (uint64_t)i;
	while ((t1 = clock_thread_cpu_ns()) - t0 < 2000000);
	m1 = clock_mono_ns();
	CHECK(t1 > t0 && t1 - t0 <= m1 - m0);
}

int main(void)
{
	RUN(test_conversion);
	RUN(test_sync_matches_realtime);
	RUN(test_now_ms);
	RUN(test_thread_cpu);
	return tu_finish();
}
