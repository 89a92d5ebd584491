/* SPDX-License-Identifier: GPL-2.0-only */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "errbuf.h"
#include "log.h"
#include "privdrop.h"

#define KEEP_MASK (1ULL << CAP_NET_ADMIN)

const char *privdrop_kept(void)
{
	return "cap_net_admin";
}

static int caps_get(struct __user_cap_data_struct data[2], uint64_t *permitted, uint64_t *effective)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };

	if (syscall(SYS_capget, &hdr, data) < 0)
		return -errno;
	*permitted = (uint64_t)data[0].permitted | ((uint64_t)data[1].permitted << 32);
	*effective = (uint64_t)data[0].effective | ((uint64_t)data[1].effective << 32);
	return 0;
}

int privdrop_after_setup(char *err, size_t err_len)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = { 0 };
	uint64_t have, eff;
	int cap, rc;

	/*
	 * No execve() can give back what is dropped here, whatever the
	 * bounding set: under the systemd unit (no CAP_SETPCAP) the bounding
	 * set cannot be changed below, and a setuid or file-capability program
	 * would otherwise regain capabilities.
	 */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return errbuf_set(err, err_len, -errno, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	if ((rc = caps_get(data, &have, &eff)) < 0)
		return errbuf_set(err, err_len, rc, "capget: %s", strerror(-rc));
	/* The bounding set first, while CAP_SETPCAP is still ours. */
	for (cap = 0; cap <= CAP_LAST_CAP; cap++) {
		if (KEEP_MASK & (1ULL << cap))
			continue;
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1 &&
		    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EPERM)
			return errbuf_set(err, err_len, -errno, "PR_CAPBSET_DROP %d: %s", cap,
					  strerror(errno));
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	have &= KEEP_MASK;
	data[0].permitted = data[0].effective = (uint32_t)have;
	data[1].permitted = data[1].effective = (uint32_t)(have >> 32);
	data[0].inheritable = data[1].inheritable = 0;
	if (syscall(SYS_capset, &hdr, data) < 0)
		return errbuf_set(err, err_len, -errno, "capset: %s", strerror(errno));
	/* Believe the kernel, not the return value (a filter may fake success). */
	if ((rc = caps_get(data, &have, &eff)) < 0)
		return errbuf_set(err, err_len, rc, "capget: %s", strerror(-rc));
	if ((have | eff) & ~KEEP_MASK)
		return errbuf_set(err, err_len, -EPERM,
				  "capabilities still held after capset: permitted %#llx, "
				  "effective %#llx",
				  (unsigned long long)have, (unsigned long long)eff);
	log_debug("capabilities dropped; kept: %s", have ? privdrop_kept() : "none");
	return 0;
}
