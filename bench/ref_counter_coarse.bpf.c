// SPDX-License-Identifier: GPL-2.0-only
/*
 * The coarse-clock twin of bench/ref_counter.bpf.c: the same minimal counter
 * reading bpf_ktime_get_coarse_ns(), the clock of xf_tc_ingress's
 * established-flow path. Program ref_counter_coarse, map ref_flows.
 */
#define REF_COARSE 1
#include "ref_counter.bpf.c"
