/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Per-node identity: the IPFIX observation domain of observation_domain_id
 * = "auto", derived from the node's machine id (machine-id(5)), so every
 * node of a fleet exports its own domain without per-node configuration
 * and keeps it across restarts and reinstalls of the daemon.
 *
 * The id is the first 32 bits (big-endian) of
 * HMAC-SHA256(key = the 16 bytes of the machine id,
 *             message = "xlatflow observation domain"),
 * 1 when those are 0 (0 stays free for hand-set values). The keyed hash
 * follows systemd's advice not to expose the machine id itself
 * (sd_id128_get_machine_app_specific). docs/collectors.md gives the
 * collision odds and a shell line to compute it.
 */
#ifndef XF_IDENTITY_H
#define XF_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#define IDENTITY_MACHINE_ID_PATH "/etc/machine-id"

/*
 * Read the machine id at path (32 hexadecimal digits and a newline) and
 * derive the observation domain into *id. Returns 0, or a negative errno
 * with err naming the file and what is wrong with it.
 */
int identity_domain_id(const char *path, uint32_t *id, char *err, size_t err_len);

#endif
