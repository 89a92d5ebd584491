/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A bounded, append-only, crash-safe record spool on disk (one directory per
 * TCP collector whose records must not be lost; docs/nat-events.md,
 * "Delivery"). Records are opaque bytes; the spool keeps their order.
 *
 * Files: segments NNNNNNNNNNNNNNNN.seg (the hex number is the logical offset
 * of the segment's first byte) and "position", the logical offset up to
 * which every record was sent, replaced atomically (write a temporary file,
 * rename it over). A record is a 12-byte header (magic, length, CRC32C of
 * length and payload) and its payload. A SIGKILL in the middle of an append
 * leaves a torn last record: spool_open() finds it by its length or its
 * checksum and cuts the segment there. A damaged record elsewhere is skipped
 * (the reader looks for the next header whose checksum holds) and counted.
 *
 * The reader is a cursor separate from the acknowledged position:
 * spool_read() moves the cursor, spool_ack() moves the position (after the
 * records were handed to the kernel completely), spool_rewind() puts the
 * cursor back on the position (a lost connection: what was read but not
 * acknowledged is read again). Segments wholly before the position are
 * deleted.
 *
 * The bound: the segment files together never exceed max_bytes; an append
 * that does not fit is refused and counted (lost_full). Up to one segment
 * (max_bytes / 16) may hold records already acknowledged.
 *
 * Appends are buffered in memory until spool_flush() (or the next
 * spool_read() that needs them, or a full buffer): written with one write()
 * each, they survive the daemon's death; spool_sync() also makes them and
 * the position survive the machine's (fdatasync).
 */
#ifndef XF_SPOOL_H
#define XF_SPOOL_H

#include <stddef.h>
#include <stdint.h>

struct spool;

/* The largest payload of one record. */
#define SPOOL_MAX_RECORD 65535
/* The smallest bound spool_open() accepts (the segment size's floor times 4). */
#define SPOOL_MIN_BYTES (256u * 1024)

/* A place in the spool: a logical byte offset and the records before it. */
struct spool_mark {
	uint64_t off;
	uint64_t records; /* counted from the position spool_open() found */
};

struct spool_stats {
	uint64_t appended;     /* records appended since open */
	uint64_t acked;	       /* records acknowledged since open */
	uint64_t pending;      /* records in the spool not acknowledged */
	uint64_t bytes;	       /* bytes of the segment files */
	uint64_t lost_full;    /* appends refused: max_bytes reached */
	uint64_t lost_io;      /* appends lost to a write error (disk full, I/O error) */
	uint64_t lost_corrupt; /* damaged records skipped or cut (a torn tail counts 1) */
};

/*
 * Open (create) the spool in dir (created, mode 0700, with missing
 * parents), bounded by max_bytes (>= SPOOL_MIN_BYTES). Recovers after a
 * crash: cuts a torn tail, deletes segments before the position, counts
 * the records still to send. Returns 0 and *out, or a negative errno with
 * err filled (naming the file). The spool owns its files; one process at a
 * time (an exclusive flock on the directory: -EBUSY when held).
 */
int spool_open(const char *dir, uint64_t max_bytes, struct spool **out, char *err, size_t err_len);
/* Write what is buffered and close; spool_free(NULL) is a no-op. */
void spool_free(struct spool *sp);

/*
 * Append one record of len bytes (1..SPOOL_MAX_RECORD). Returns 0, or
 * -ENOSPC when it does not fit the bound (counted in lost_full), -EINVAL
 * for a bad length. A later write error is counted in lost_io.
 */
int spool_append(struct spool *sp, const void *rec, size_t len);

/* Write the buffered appends (one write()). Returns 0 or a negative errno. */
int spool_flush(struct spool *sp);

/* spool_flush(), then fdatasync the segment being written. */
int spool_sync(struct spool *sp);

/*
 * The record at the cursor: copies it to buf (cap >= SPOOL_MAX_RECORD is
 * always enough), sets *len and *end (the mark just after it) and moves the
 * cursor. Returns 1, 0 when the cursor is at the end, or a negative errno
 * (a read error; the cursor stays).
 */
int spool_read(struct spool *sp, void *buf, size_t cap, size_t *len, struct spool_mark *end);

/*
 * Every record before end was sent: store the position (atomically),
 * delete segments wholly before it. A mark at or before the position is
 * ignored. Returns 0 or a negative errno (the position file could not be
 * written; the records will be sent again after a restart).
 */
int spool_ack(struct spool *sp, const struct spool_mark *end);

/* Move the cursor back to the position: read again what was not acknowledged. */
void spool_rewind(struct spool *sp);

/* Records between the cursor and the end (not read yet). */
uint64_t spool_unread(const struct spool *sp);

void spool_get_stats(const struct spool *sp, struct spool_stats *out);

/* CRC32C (Castagnoli), as the records use it; exposed for the tests. */
uint32_t spool_crc32c(uint32_t crc, const void *data, size_t len);
/* The same from a table, never the CPU's instruction (the tests compare both). */
uint32_t spool_crc32c_table(uint32_t crc, const void *data, size_t len);

#endif
