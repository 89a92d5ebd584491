/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Macros from system headers that cppcheck does not read (it skips system
 * includes), for scripts/static-analysis.sh only.
 */
/* libbpf's bpf.h/libbpf.h: a struct with its size set, then named fields */
#define LIBBPF_OPTS(TYPE, NAME, ...) struct TYPE NAME = { .sz = sizeof(struct TYPE), __VA_ARGS__ }
/* libbpf.h: a for loop over the object's programs */
#define bpf_object__for_each_program(pos, obj)                             \
	for ((pos) = bpf_object__next_program((obj), NULL); (pos) != NULL; \
	     (pos) = bpf_object__next_program((obj), (pos)))
