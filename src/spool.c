// SPDX-License-Identifier: GPL-2.0-only
/*
 * The record spool (spool.h). Logical offsets grow for ever: a segment
 * named B holds the bytes [B, B + its file size); its first SEG_HDR bytes
 * are the segment header, then records back to back. The next segment
 * starts where the last one ends. Nothing is ever written in place: records
 * are appended, the position file and new segments appear by rename().
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "errbuf.h"
#include "log.h"
#include "spool.h"

#define SEG_MAGIC "XFSPOOL1"
#define SEG_HDR 16	      /* magic, base (little-endian u64) */
#define REC_MAGIC 0x31525358u /* "XSR1" as little-endian bytes */
#define REC_HDR 12	      /* magic, payload length, CRC32C(length, payload): u32 LE each */
#define POS_MAGIC "XFSPPOS1"
#define POS_LEN 20 /* magic, offset (u64 LE), CRC32C of both (u32 LE) */
#define POS_FILE "position"
#define WBUF_CAP (256u * 1024)
#define RBUF_CAP (REC_HDR + SPOOL_MAX_RECORD + 64u * 1024)
#define SEG_MIN (64u * 1024)

struct segment {
	uint64_t base;
	uint64_t size; /* bytes in the file (written, not buffered) */
};

struct spool {
	char *dir;
	int dirfd; /* holds the flock */
	uint64_t max_bytes;
	uint64_t seg_max;
	GArray *segs; /* struct segment by base; the last one is written */
	int wfd;      /* the last segment */
	uint8_t *wbuf;
	size_t wlen;
	uint64_t wbuf_records;
	bool warned_io;
	/* reading: rbuf holds bytes [rbuf_off, rbuf_off + rbuf_len) of segment rseg */
	int rfd;
	uint64_t rseg;
	uint8_t *rbuf;
	uint64_t rbuf_off;
	size_t rbuf_len;
	struct spool_mark cursor;
	struct spool_mark pos;
	uint64_t total_records; /* records before the end (counted from pos at open) */
	uint64_t bytes;		/* segment files, buffered appends included */
	struct spool_stats stats;
};

/*
 * ---- CRC32C, reflected polynomial 0x82F63B78 (RFC 3720 B.4) ----
 * x86-64 with SSE4.2 has an instruction for it (about 20 times faster than
 * the table: every record is checksummed when written and when read back);
 * elsewhere, or without SSE4.2, a table of 256 entries.
 */

static uint32_t crc_table[256];

static void crc_init(void)
{
	static bool done;

	if (done)
		return;
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		crc_table[i] = c;
	}
	done = true;
}

static uint32_t crc_soft(uint32_t crc, const uint8_t *p, size_t len)
{
	crc_init();
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = crc;

	for (; len >= 8; len -= 8, p += 8) {
		uint64_t v;

		memcpy(&v, p, 8); /* little-endian, as the instruction wants it */
		c = __builtin_ia32_crc32di(c, v);
	}
	crc = (uint32_t)c;
	while (len--)
		crc = __builtin_ia32_crc32qi(crc, *p++);
	return crc;
}

static bool crc_has_hw(void)
{
	static int has = -1;

	if (has < 0) {
		__builtin_cpu_init();
		has = __builtin_cpu_supports("sse4.2") ? 1 : 0;
	}
	return has;
}
#endif

uint32_t spool_crc32c(uint32_t crc, const void *data, size_t len)
{
	crc = ~crc;
#if defined(__x86_64__)
	if (crc_has_hw())
		return ~crc_hw(crc, data, len);
#endif
	return ~crc_soft(crc, data, len);
}

/* The table's result, whatever the machine (for the tests). */
uint32_t spool_crc32c_table(uint32_t crc, const void *data, size_t len)
{
	return ~crc_soft(~crc, data, len);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* The checksum covers the length field too: a torn length cannot pass. */
static uint32_t record_crc(const uint8_t *len_field, const void *payload, size_t len)
{
	return spool_crc32c(spool_crc32c(0, len_field, 4), payload, len);
}

static struct segment *seg_at(const struct spool *sp, guint i)
{
	return &g_array_index(sp->segs, struct segment, i);
}

static struct segment *seg_last(const struct spool *sp)
{
	return seg_at(sp, sp->segs->len - 1);
}

static void seg_name(char *buf, size_t len, uint64_t base, const char *suffix)
{
	snprintf(buf, len, "%016" PRIx64 ".seg%s", base, suffix);
}

static uint64_t end_off(const struct spool *sp)
{
	const struct segment *s = seg_last(sp);

	return s->base + s->size + sp->wlen;
}

/* ---- the position file ---- */

static int position_write(struct spool *sp, uint64_t off)
{
	uint8_t buf[POS_LEN];
	int fd, rc = 0;

	memcpy(buf, POS_MAGIC, 8);
	put64(buf + 8, off);
	put32(buf + 16, spool_crc32c(0, buf, 16));
	fd = openat(sp->dirfd, POS_FILE ".tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
		rc = errno ? -errno : -EIO;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && renameat(sp->dirfd, POS_FILE ".tmp", sp->dirfd, POS_FILE) < 0)
		rc = -errno;
	return rc;
}

/* 1 and *off, 0 when there is none, -EBADMSG when it is damaged. */
static int position_read(struct spool *sp, uint64_t *off)
{
	uint8_t buf[POS_LEN + 1];
	int fd = openat(sp->dirfd, POS_FILE, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n != POS_LEN || memcmp(buf, POS_MAGIC, 8) ||
	    get32(buf + 16) != spool_crc32c(0, buf, 16))
		return -EBADMSG;
	*off = get64(buf + 8);
	return 1;
}

/* ---- reading records ---- */

/* Make rbuf hold [off, off + need) of segment i, or as much as the file has. */
static int rbuf_fill(struct spool *sp, guint i, uint64_t off, size_t need)
{
	const struct segment *s = seg_at(sp, i);
	ssize_t n;

	if (sp->rfd >= 0 && sp->rseg == s->base && off >= sp->rbuf_off &&
	    off + need <= sp->rbuf_off + sp->rbuf_len)
		return 0;
	if (sp->rfd < 0 || sp->rseg != s->base) {
		char name[64];

		if (sp->rfd >= 0)
			close(sp->rfd);
		seg_name(name, sizeof(name), s->base, "");
		sp->rfd = openat(sp->dirfd, name, O_RDONLY | O_CLOEXEC);
		if (sp->rfd < 0)
			return -errno;
		sp->rseg = s->base;
	}
	do
		n = pread(sp->rfd, sp->rbuf, RBUF_CAP, (off_t)(off - s->base));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		sp->rbuf_len = 0;
		return -errno;
	}
	sp->rbuf_off = off;
	sp->rbuf_len = (size_t)n;
	return 0;
}

/*
 * Is there a whole, intact record at off in segment i (limit: the end of
 * what the file holds)? Returns its payload length, 0 when not, or a
 * negative errno. The payload is at sp->rbuf + (off - sp->rbuf_off) + REC_HDR.
 */
static long record_at(struct spool *sp, guint i, uint64_t off, uint64_t limit)
{
	const uint8_t *h;
	uint32_t len;
	int rc;

	if (off + REC_HDR > limit)
		return 0;
	rc = rbuf_fill(sp, i, off, REC_HDR);
	if (rc < 0)
		return rc;
	if (off + REC_HDR > sp->rbuf_off + sp->rbuf_len)
		return 0;
	h = sp->rbuf + (off - sp->rbuf_off);
	len = get32(h + 4);
	if (get32(h) != REC_MAGIC || len == 0 || len > SPOOL_MAX_RECORD ||
	    off + REC_HDR + len > limit)
		return 0;
	rc = rbuf_fill(sp, i, off, REC_HDR + len);
	if (rc < 0)
		return rc;
	if (off + REC_HDR + len > sp->rbuf_off + sp->rbuf_len)
		return 0;
	h = sp->rbuf + (off - sp->rbuf_off);
	if (get32(h + 8) != record_crc(h + 4, h + REC_HDR, len))
		return 0;
	return len;
}

/* The next intact record after a damaged one at off, or limit when none is left. */
static int64_t resync(struct spool *sp, guint i, uint64_t off, uint64_t limit)
{
	for (uint64_t p = off + 1; p + REC_HDR <= limit; p++) {
		long n;

		if (rbuf_fill(sp, i, p, 4) == 0 && p + 4 <= sp->rbuf_off + sp->rbuf_len &&
		    get32(sp->rbuf + (p - sp->rbuf_off)) != REC_MAGIC)
			continue;
		n = record_at(sp, i, p, limit);
		if (n < 0)
			return n;
		if (n > 0)
			return (int64_t)p;
	}
	return (int64_t)limit;
}

int spool_read(struct spool *sp, void *buf, size_t cap, size_t *len, struct spool_mark *end)
{
	if (sp->wlen) {
		int rc = spool_flush(sp);

		if (rc < 0 && sp->wlen)
			return rc;
	}
	for (;;) {
		guint i;
		const struct segment *s = NULL;
		long n;

		for (i = 0; i < sp->segs->len; i++) {
			s = seg_at(sp, i);
			if (sp->cursor.off < s->base + s->size)
				break;
		}
		if (i == sp->segs->len) {
			/* the end: what the open scan counted is what there was */
			sp->total_records = sp->cursor.records;
			return 0;
		}
		if (sp->cursor.off < s->base + SEG_HDR)
			sp->cursor.off = s->base + SEG_HDR;
		if (sp->cursor.off >= s->base + s->size)
			continue;
		n = record_at(sp, i, sp->cursor.off, s->base + s->size);
		if (n < 0)
			return (int)n;
		if (n == 0) {
			int64_t next = resync(sp, i, sp->cursor.off, s->base + s->size);

			if (next < 0)
				return (int)next;
			log_warnx("spool %s: damaged record at offset %" PRIu64 " skipped", sp->dir,
				  sp->cursor.off);
			sp->stats.lost_corrupt++;
			sp->cursor.off = (uint64_t)next;
			continue;
		}
		if ((size_t)n > cap)
			return -EMSGSIZE;
		memcpy(buf, sp->rbuf + (sp->cursor.off - sp->rbuf_off) + REC_HDR, (size_t)n);
		*len = (size_t)n;
		sp->cursor.off += REC_HDR + (uint64_t)n;
		sp->cursor.records++;
		if (sp->total_records < sp->cursor.records)
			sp->total_records = sp->cursor.records;
		*end = sp->cursor;
		return 1;
	}
}

/* ---- writing ---- */

static int seg_create(struct spool *sp, uint64_t base)
{
	char tmp[64], name[64];
	uint8_t hdr[SEG_HDR];
	struct segment s = { .base = base, .size = SEG_HDR };
	int fd, rc = 0;

	seg_name(tmp, sizeof(tmp), base, ".tmp");
	seg_name(name, sizeof(name), base, "");
	memcpy(hdr, SEG_MAGIC, 8);
	put64(hdr + 8, base);
	fd = openat(sp->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, hdr, SEG_HDR) != SEG_HDR)
		rc = errno ? -errno : -EIO;
	/* a segment appears whole, header included, or not at all */
	if (!rc && renameat(sp->dirfd, tmp, sp->dirfd, name) < 0)
		rc = -errno;
	if (rc) {
		close(fd);
		unlinkat(sp->dirfd, tmp, 0);
		return rc;
	}
	if (sp->wfd >= 0)
		close(sp->wfd);
	sp->wfd = fd;
	g_array_append_val(sp->segs, s);
	sp->bytes += SEG_HDR;
	return 0;
}

int spool_flush(struct spool *sp)
{
	struct segment *s = seg_last(sp);
	size_t done = 0;

	while (done < sp->wlen) {
		ssize_t n =
			pwrite(sp->wfd, sp->wbuf + done, sp->wlen - done, (off_t)(s->size + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int err = n < 0 ? errno : EIO;

			/* take back a partial record: the next append starts clean */
			if (ftruncate(sp->wfd, (off_t)s->size) < 0)
				log_warn("spool %s: truncate after a failed write", sp->dir);
			if (!sp->warned_io)
				log_warnx("spool %s: %" PRIu64 " records lost: write: %s", sp->dir,
					  sp->wbuf_records, strerror(err));
			sp->warned_io = true;
			sp->stats.lost_io += sp->wbuf_records;
			sp->stats.appended -= sp->wbuf_records;
			sp->total_records -= sp->wbuf_records;
			sp->bytes -= sp->wlen;
			sp->rbuf_len = 0; /* it may hold bytes of the partial write */
			sp->wlen = 0;
			sp->wbuf_records = 0;
			return -err;
		}
		done += (size_t)n;
	}
	s->size += sp->wlen;
	sp->wlen = 0;
	sp->wbuf_records = 0;
	sp->warned_io = false;
	return 0;
}

int spool_sync(struct spool *sp)
{
	int rc = spool_flush(sp);

	if (fdatasync(sp->wfd) < 0 && !rc)
		rc = -errno;
	return rc;
}

int spool_append(struct spool *sp, const void *rec, size_t len)
{
	uint64_t need = REC_HDR + len;
	const struct segment *s = seg_last(sp);
	bool rotate;
	uint8_t *h;

	if (len == 0 || len > SPOOL_MAX_RECORD)
		return -EINVAL;
	rotate = s->size + sp->wlen > SEG_HDR && s->size + sp->wlen + need > sp->seg_max;
	if (sp->bytes + need + (rotate ? SEG_HDR : 0) > sp->max_bytes) {
		sp->stats.lost_full++;
		return -ENOSPC;
	}
	if (rotate) {
		int rc = spool_flush(sp);

		if (!rc)
			rc = seg_create(sp, s->base + s->size);
		if (rc < 0) {
			sp->stats.lost_io++;
			return rc;
		}
	}
	if (sp->wlen + need > WBUF_CAP && sp->wlen) {
		int rc = spool_flush(sp);

		if (rc < 0) {
			sp->stats.lost_io++;
			return rc;
		}
	}
	if (need > WBUF_CAP)
		return -EINVAL; /* not reached: SPOOL_MAX_RECORD fits */
	h = sp->wbuf + sp->wlen;
	put32(h, REC_MAGIC);
	put32(h + 4, (uint32_t)len);
	put32(h + 8, record_crc(h + 4, rec, len));
	memcpy(h + REC_HDR, rec, len);
	sp->wlen += need;
	sp->wbuf_records++;
	sp->bytes += need;
	sp->total_records++;
	sp->stats.appended++;
	return 0;
}

/* ---- position ---- */

static void drop_old_segments(struct spool *sp)
{
	while (sp->segs->len > 1) {
		const struct segment *s = seg_at(sp, 0);
		char name[64];

		if (s->base + s->size > sp->pos.off)
			break;
		seg_name(name, sizeof(name), s->base, "");
		if (unlinkat(sp->dirfd, name, 0) < 0 && errno != ENOENT) {
			log_warn("spool %s: delete %s", sp->dir, name);
			break;
		}
		if (sp->rfd >= 0 && sp->rseg == s->base) {
			close(sp->rfd);
			sp->rfd = -1;
		}
		sp->bytes -= s->size;
		g_array_remove_index(sp->segs, 0);
	}
}

int spool_ack(struct spool *sp, const struct spool_mark *end)
{
	int rc;

	if (end->off <= sp->pos.off)
		return 0;
	rc = position_write(sp, end->off);
	if (rc < 0)
		return rc;
	sp->stats.acked += end->records - sp->pos.records;
	sp->pos = *end;
	drop_old_segments(sp);
	return 0;
}

void spool_rewind(struct spool *sp)
{
	sp->cursor = sp->pos;
}

uint64_t spool_unread(const struct spool *sp)
{
	return sp->total_records > sp->cursor.records ? sp->total_records - sp->cursor.records : 0;
}

void spool_get_stats(const struct spool *sp, struct spool_stats *out)
{
	*out = sp->stats;
	out->pending = sp->total_records > sp->pos.records ? sp->total_records - sp->pos.records
							   : 0;
	out->bytes = sp->bytes;
}

/* ---- open and recovery ---- */

static int mkdirs(const char *dir)
{
	char path[4096];
	size_t n = strlen(dir);

	if (n >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, dir, n + 1);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static gint seg_cmp(gconstpointer a, gconstpointer b)
{
	const struct segment *x = a, *y = b;

	return x->base < y->base ? -1 : x->base > y->base;
}

/* The segments in the directory, with valid headers; *.tmp leftovers removed. */
static int list_segments(struct spool *sp, char *err, size_t err_len)
{
	DIR *d;
	struct dirent *de;
	int fd = dup(sp->dirfd);

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return errbuf_set(err, err_len, -errno, "spool %s: %s", sp->dir, strerror(errno));
	}
	while ((de = readdir(d))) {
		struct segment s;
		uint8_t hdr[SEG_HDR];
		struct stat st;
		char *endp;
		size_t nl = strlen(de->d_name);
		int sfd;

		if (nl > 4 && strcmp(de->d_name + nl - 4, ".tmp") == 0) {
			unlinkat(sp->dirfd, de->d_name, 0); /* a rename that never happened */
			continue;
		}
		if (nl != 20 || strcmp(de->d_name + 16, ".seg") != 0)
			continue;
		s.base = strtoull(de->d_name, &endp, 16);
		if (endp != de->d_name + 16)
			continue;
		sfd = openat(sp->dirfd, de->d_name, O_RDONLY | O_CLOEXEC);
		if (sfd < 0 || fstat(sfd, &st) < 0 || pread(sfd, hdr, SEG_HDR, 0) != SEG_HDR ||
		    memcmp(hdr, SEG_MAGIC, 8) || get64(hdr + 8) != s.base) {
			log_warnx("spool %s: %s is not a spool segment: removed", sp->dir,
				  de->d_name);
			if (sfd >= 0)
				close(sfd);
			unlinkat(sp->dirfd, de->d_name, 0);
			sp->stats.lost_corrupt++;
			continue;
		}
		close(sfd);
		s.size = (uint64_t)st.st_size;
		g_array_append_val(sp->segs, s);
	}
	closedir(d);
	g_array_sort(sp->segs, seg_cmp);
	return 0;
}

/*
 * Count the records from the position to the end; cut a torn tail of the
 * last segment (damage after which no intact record follows).
 */
static int scan(struct spool *sp, char *err, size_t err_len)
{
	uint64_t off = sp->pos.off, records = 0;

	for (guint i = 0; i < sp->segs->len; i++) {
		struct segment *s = seg_at(sp, i);
		uint64_t limit = s->base + s->size;
		bool last = i + 1 == sp->segs->len;

		if (off >= limit)
			continue;
		if (off < s->base + SEG_HDR)
			off = s->base + SEG_HDR;
		while (off < limit) {
			long n = record_at(sp, i, off, limit);
			int64_t next;

			if (n < 0)
				return errbuf_set(err, err_len, (int)n, "spool %s: read: %s",
						  sp->dir, strerror((int)-n));
			if (n > 0) {
				off += REC_HDR + (uint64_t)n;
				records++;
				continue;
			}
			next = resync(sp, i, off, limit);
			if (next < 0)
				return errbuf_set(err, err_len, (int)next, "spool %s: read: %s",
						  sp->dir, strerror((int)-next));
			if ((uint64_t)next < limit || !last) {
				off = (uint64_t)next; /* the reader skips and counts it */
				continue;
			}
			/* a torn tail: the append the crash interrupted */
			log_warnx("spool %s: torn record at offset %" PRIu64 " (%" PRIu64
				  " bytes) cut off",
				  sp->dir, off, limit - off);
			if (ftruncate(sp->wfd, (off_t)(off - s->base)) < 0)
				return errbuf_set(err, err_len, -errno, "spool %s: truncate: %s",
						  sp->dir, strerror(errno));
			sp->stats.lost_corrupt++;
			s->size = off - s->base;
			sp->bytes -= limit - off;
			sp->rbuf_len = 0; /* appends will write over what it holds */
			break;
		}
	}
	sp->total_records = records;
	return 0;
}

int spool_open(const char *dir, uint64_t max_bytes, struct spool **out, char *err, size_t err_len)
{
	struct spool *sp;
	uint64_t pos = 0;
	int rc;

	*out = NULL;
	if (max_bytes < SPOOL_MIN_BYTES)
		return errbuf_set(err, err_len, -EINVAL,
				  "spool %s: bound %" PRIu64 " bytes is below %u", dir, max_bytes,
				  SPOOL_MIN_BYTES);
	rc = mkdirs(dir);
	if (rc < 0)
		return errbuf_set(err, err_len, rc, "spool %s: create: %s", dir, strerror(-rc));
	sp = g_new0(struct spool, 1);
	sp->dir = g_strdup(dir);
	sp->max_bytes = max_bytes;
	sp->seg_max = MAX(max_bytes / 16, SEG_MIN);
	sp->segs = g_array_new(FALSE, FALSE, sizeof(struct segment));
	sp->wfd = sp->rfd = sp->dirfd = -1;
	sp->wbuf = g_malloc(WBUF_CAP);
	sp->rbuf = g_malloc(RBUF_CAP);
	sp->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->dirfd < 0) {
		rc = errbuf_set(err, err_len, -errno, "spool %s: %s", dir, strerror(errno));
		goto fail;
	}
	if (flock(sp->dirfd, LOCK_EX | LOCK_NB) < 0) {
		rc = errbuf_set(err, err_len, errno == EWOULDBLOCK ? -EBUSY : -errno,
				"spool %s: in use by another process", dir);
		goto fail;
	}
	rc = position_read(sp, &pos);
	if (rc < 0) {
		/* sending twice beats losing: start from the oldest record */
		log_warnx("spool %s: %s unreadable (%s): replaying from the oldest record", dir,
			  POS_FILE, strerror(-rc));
		pos = 0;
	}
	rc = list_segments(sp, err, err_len);
	if (rc < 0)
		goto fail;
	if (sp->segs->len == 0) {
		rc = seg_create(sp, pos);
		if (rc < 0) {
			errbuf_set(err, err_len, rc, "spool %s: create a segment: %s", dir,
				   strerror(-rc));
			goto fail;
		}
	} else {
		char name[64];

		seg_name(name, sizeof(name), seg_last(sp)->base, "");
		sp->wfd = openat(sp->dirfd, name, O_WRONLY | O_CLOEXEC);
		if (sp->wfd < 0) {
			rc = errbuf_set(err, err_len, -errno, "spool %s/%s: %s", dir, name,
					strerror(errno));
			goto fail;
		}
	}
	if (pos < seg_at(sp, 0)->base + SEG_HDR)
		pos = seg_at(sp, 0)->base + SEG_HDR;
	if (pos > end_off(sp))
		pos = end_off(sp);
	sp->pos.off = pos;
	sp->bytes = 0;
	for (guint i = 0; i < sp->segs->len; i++)
		sp->bytes += seg_at(sp, i)->size;
	rc = scan(sp, err, err_len);
	if (rc < 0)
		goto fail;
	drop_old_segments(sp);
	sp->cursor = sp->pos;
	if (sp->total_records)
		log_info("spool %s: %" PRIu64 " records to send (%" PRIu64 " bytes on disk)", dir,
			 sp->total_records, sp->bytes);
	*out = sp;
	return 0;

fail:
	spool_free(sp);
	return rc;
}

void spool_free(struct spool *sp)
{
	if (!sp)
		return;
	if (sp->wlen)
		spool_flush(sp);
	if (sp->wfd >= 0)
		close(sp->wfd);
	if (sp->rfd >= 0)
		close(sp->rfd);
	if (sp->dirfd >= 0)
		close(sp->dirfd);
	g_array_free(sp->segs, TRUE);
	g_free(sp->wbuf);
	g_free(sp->rbuf);
	g_free(sp->dir);
	g_free(sp);
}
