/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Capabilities after setup. Loading BPF programs needs CAP_BPF, CAP_PERFMON
 * (tracing programs), CAP_NET_ADMIN and, on some kernels, CAP_SYS_ADMIN.
 * Once the programs are loaded and the sockets open, the daemon keeps only
 * CAP_NET_ADMIN: attaching the loaded TC programs to an interface that
 * appears later and re-dumping the conntrack table are netlink operations
 * on descriptors it already holds. Everything else is dropped, including
 * from the bounding set, so nothing can regain it.
 */
#ifndef XF_PRIVDROP_H
#define XF_PRIVDROP_H

#include <stddef.h>

/*
 * Drop to CAP_NET_ADMIN and set no_new_privs. 0, or -errno with the step
 * that failed in err ("capset: Operation not permitted"). Not an error when
 * the process never had the capabilities. The drop is checked: capabilities
 * still held after capset(2) are an error (-EPERM).
 */
int privdrop_after_setup(char *err, size_t err_len);

/* The capabilities kept, as text for logs and docs ("cap_net_admin"). */
const char *privdrop_kept(void);

#endif
