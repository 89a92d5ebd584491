/* SPDX-License-Identifier: GPL-2.0-only */
#include <errno.h>
#include <stdint.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "privdrop.h"

#define KEEP_MASK (1ULL << CAP_NET_ADMIN)

const char *privdrop_kept(void)
{
	return "cap_net_admin";
}

int privdrop_after_setup(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = { 0 };
	uint64_t have;
	int cap;

	if (syscall(SYS_capget, &hdr, data) < 0)
		return -errno;
	have = (uint64_t)data[0].permitted | ((uint64_t)data[1].permitted << 32);
	/* The bounding set first, while CAP_SETPCAP is still ours. */
	for (cap = 0; cap <= CAP_LAST_CAP; cap++) {
		if (KEEP_MASK & (1ULL << cap))
			continue;
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1 &&
		    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EPERM)
			return -errno;
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	have &= KEEP_MASK;
	data[0].permitted = data[0].effective = (uint32_t)have;
	data[1].permitted = data[1].effective = (uint32_t)(have >> 32);
	data[0].inheritable = data[1].inheritable = 0;
	if (syscall(SYS_capset, &hdr, data) < 0)
		return -errno;
	log_debug("capabilities dropped; kept: %s", have ? privdrop_kept() : "none");
	return 0;
}
