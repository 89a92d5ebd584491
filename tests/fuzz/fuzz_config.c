// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fuzz target: the configuration parser and validator on arbitrary text
 * (config_load_string + config_validate + config_print, as the daemon runs
 * them on a file). Checked beyond "no crash": every error message names the
 * file ("fuzz.conf:LINE: ..." or "fuzz.conf: ...") and is NUL-terminated
 * inside the buffer; a configuration that loads prints without failing.
 *
 * Collector host names are resolved with getaddrinfo: this file interposes
 * it to numeric hosts only, so fuzzing never sends a DNS query (run.sh also
 * runs it in an empty network namespace). Inputs with @include are skipped:
 * libconfig would open whatever path they name.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"

typedef int (*getaddrinfo_fn)(const char *, const char *, const struct addrinfo *,
			      struct addrinfo **);

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		struct addrinfo **res)
{
	static getaddrinfo_fn real;
	struct addrinfo h = { 0 };

	if (!real)
		real = (getaddrinfo_fn)dlsym(RTLD_NEXT, "getaddrinfo");
	if (hints)
		h = *hints;
	h.ai_flags |= AI_NUMERICHOST | AI_NUMERICSERV;
	return real(node, service, &h, res);
}

static FILE *devnull;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xf_config cfg;
	char err[1024];
	char *text;
	int rc;

	if (!devnull && !(devnull = fopen("/dev/null", "w")))
		abort();
	if (size > 65536 || memmem(data, size, "@include", 8))
		return 0;
	text = malloc(size + 1);
	if (!text)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';

	config_defaults(&cfg);
	memset(err, 'X', sizeof(err));
	rc = config_load_string(&cfg, text, "fuzz.conf", err, sizeof(err));
	if (rc == 0) {
		memset(err, 'X', sizeof(err));
		rc = config_validate(&cfg, err, sizeof(err));
		if (rc == 0)
			config_print(&cfg, devnull);
	}
	if (rc > 0)
		FUZZ_FAIL("returned %d: neither 0 nor a negative errno", rc);
	if (rc < 0) {
		if (!memchr(err, '\0', sizeof(err)))
			FUZZ_FAIL("error message not terminated");
		if (strncmp(err, "fuzz.conf", 9) != 0)
			FUZZ_FAIL("error message does not name the file: '%s'", err);
	}
	config_release(&cfg);
	free(text);
	return 0;
}
