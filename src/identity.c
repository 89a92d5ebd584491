// SPDX-License-Identifier: GPL-2.0-only
/* The observation domain from the machine id (identity.h). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "errbuf.h"
#include "identity.h"

#define IDENTITY_MESSAGE "xlatflow observation domain"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int identity_domain_id(const char *path, uint32_t *id, char *err, size_t err_len)
{
	char buf[64];
	uint8_t key[16];
	gchar *mac;
	ssize_t n;
	size_t len;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errbuf_set(err, err_len, -errno,
				  "observation_domain_id \"auto\": cannot read %s: %s; set "
				  "observation_domain_id to a number instead",
				  path, strerror(errno));
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		rc = errbuf_set(err, err_len, -errno,
				"observation_domain_id \"auto\": cannot read %s: %s", path,
				strerror(errno));
	close(fd);
	if (rc)
		return rc;
	buf[n] = '\0';
	len = strcspn(buf, "\n");
	/* systemd writes "uninitialized" until the first boot completes */
	if (len != 32 || (buf[len] != '\n' && buf[len] != '\0') ||
	    (buf[len] == '\n' && buf[len + 1] != '\0'))
		goto bad;
	for (int i = 0; i < 16; i++) {
		int hi = hexval(buf[2 * i]), lo = hexval(buf[2 * i + 1]);

		if (hi < 0 || lo < 0)
			goto bad;
		key[i] = (uint8_t)(hi << 4 | lo);
	}
	mac = g_compute_hmac_for_data(G_CHECKSUM_SHA256, key, sizeof(key),
				      (const guchar *)IDENTITY_MESSAGE, strlen(IDENTITY_MESSAGE));
	mac[8] = '\0';
	*id = (uint32_t)strtoul(mac, NULL, 16);
	g_free(mac);
	if (*id == 0)
		*id = 1;
	return 0;
bad:
	for (size_t i = 0; i < len && i < 40; i++)
		if (!isprint((unsigned char)buf[i]))
			buf[i] = '?';
	if (len > 40)
		strcpy(buf + 40, "...");
	else
		buf[len] = '\0';
	return errbuf_set(
		err, err_len, -EINVAL,
		"observation_domain_id \"auto\": %s does not hold a machine id (32 "
		"hexadecimal digits, machine-id(5)) but \"%s\"; run systemd-machine-id-setup, "
		"or set observation_domain_id to a number instead",
		path, buf);
}
