// SPDX-License-Identifier: GPL-2.0-only
/*
 * Without libFuzzer (plain gcc build, make check): run a fuzz target once
 * on every file of the corpus directories given as arguments, or of
 * $abs_top_srcdir/tests/fuzz/corpus/NAME for a program named
 * fuzz_NAME_replay. A failing input aborts with its name printed first.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* A target may ask to be skipped (77) before the first input, e.g. without root. */
int fuzz_init(void) __attribute__((weak));

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	size_t n;

	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	buf = malloc(1 << 20);
	if (!buf)
		abort();
	n = fread(buf, 1, 1 << 20, f);
	fclose(f);
	fprintf(stderr, "input %s (%zu bytes)\n", path, n);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

static int run_dir(const char *dir)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, alphasort), count = 0;

	if (n < 0) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char path[4096];

		if (ents[i]->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
			if (run_file(path) < 0)
				return -1;
			count++;
		}
		free(ents[i]);
	}
	free(ents);
	return count;
}

int main(int argc, char **argv)
{
	char dflt[4096], name[256];
	const char *top = getenv("abs_top_srcdir"), *base = strrchr(argv[0], '/');
	int total = 0, rc;

	if (fuzz_init && (rc = fuzz_init()) != 0)
		return rc;
	if (argc < 2) {
		/* fuzz_NAME_replay -> corpus/NAME */
		base = base ? base + 1 : argv[0];
		if (strncmp(base, "fuzz_", 5) != 0 || !strstr(base, "_replay")) {
			fprintf(stderr, "usage: %s CORPUS_DIR...\n", argv[0]);
			return 2;
		}
		snprintf(name, sizeof(name), "%.*s", (int)(strstr(base, "_replay") - base - 5),
			 base + 5);
		snprintf(dflt, sizeof(dflt), "%s/tests/fuzz/corpus/%s", top ? top : ".", name);
		argv[1] = dflt;
		argc = 2;
	}
	for (int i = 1; i < argc; i++) {
		if ((rc = run_dir(argv[i])) < 0)
			return 1;
		total += rc;
	}
	if (total == 0) {
		fprintf(stderr, "no inputs\n");
		return 1;
	}
	printf("%d inputs, no failure\n", total);
	return 0;
}
