// SPDX-License-Identifier: GPL-2.0-only
/*
 * The record spool (src/spool.c): order, the bound, a torn tail after a
 * SIGKILL in the middle of an append, a damaged checksum, the position
 * across a restart.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "spool.h"
#include "testutil.h"

static char base_dir[] = "/tmp/xf-spool-test.XXXXXX";
static int dir_seq;

static void new_dir(char *buf, size_t len)
{
	snprintf(buf, len, "%s/s%d", base_dir, dir_seq++);
}

/* Record seq: its length and bytes follow from seq alone. */
static size_t rec_len(uint64_t seq, size_t max)
{
	return 8 + (size_t)((seq * 2654435761u) % (max - 8));
}

static void rec_make(uint8_t *buf, uint64_t seq, size_t len)
{
	memcpy(buf, &seq, 8);
	for (size_t i = 8; i < len; i++)
		buf[i] = (uint8_t)(seq * 31 + i);
}

/* The record's seq if it is intact, else UINT64_MAX (max 0: any length). */
static uint64_t rec_check(const uint8_t *buf, size_t len, size_t max)
{
	uint64_t seq;

	if (len < 8)
		return UINT64_MAX;
	memcpy(&seq, buf, 8);
	if (max && len != rec_len(seq, max))
		return UINT64_MAX;
	for (size_t i = 8; i < len; i++)
		if (buf[i] != (uint8_t)(seq * 31 + i))
			return UINT64_MAX;
	return seq;
}

/*
 * CRC32C check values (RFC 3720 B.4, iSCSI): 32 bytes of zeros, of 0xff,
 * ascending; "123456789" (the usual check value). The table and the CPU's
 * instruction give the same at every length and alignment.
 */
static void test_crc32c(void)
{
	uint8_t buf[300];

	memset(buf, 0, 32);
	CHECK_U64(spool_crc32c(0, buf, 32), 0x8A9136AA);
	CHECK_U64(spool_crc32c_table(0, buf, 32), 0x8A9136AA);
	memset(buf, 0xff, 32);
	CHECK_U64(spool_crc32c(0, buf, 32), 0x62A8AB43);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	CHECK_U64(spool_crc32c(0, buf, 32), 0x46DD794E);
	CHECK_U64(spool_crc32c(0, "123456789", 9), 0xE3069283);
	/* in two parts, as records are checksummed (length, then payload) */
	CHECK_U64(spool_crc32c(spool_crc32c(0, "1234", 4), "56789", 5), 0xE3069283);
	for (int i = 0; i < 300; i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	for (size_t off = 0; off < 9; off++)
		for (size_t len = 0; len + off <= 300; len += 13)
			if (spool_crc32c(5, buf + off, len) !=
			    spool_crc32c_table(5, buf + off, len)) {
				CHECK(!"CPU and table CRC32C differ");
				return;
			}
}

static struct spool *open_ok(const char *dir, uint64_t max)
{
	struct spool *sp = NULL;
	char err[256] = "";
	int rc = spool_open(dir, max, &sp, err, sizeof(err));

	if (rc)
		fprintf(stderr, "spool_open: %s\n", err);
	CHECK_INT(rc, 0);
	return sp;
}

static uint8_t rbuf[SPOOL_MAX_RECORD];

/* Append 20000 records, read them in order, across a reopen in the middle. */
static void test_order(void)
{
	char dir[256];
	struct spool *sp;
	struct spool_mark m = { 0 }, half = { 0 };
	struct spool_stats st;
	uint8_t buf[600];
	size_t len;
	uint64_t n = 20000, seq = 0;

	new_dir(dir, sizeof(dir));
	sp = open_ok(dir, 64u << 20);
	if (!sp)
		return;
	for (uint64_t i = 0; i < n; i++) {
		size_t l = rec_len(i, sizeof(buf));

		rec_make(buf, i, l);
		CHECK_INT(spool_append(sp, buf, l), 0);
	}
	CHECK_U64(spool_unread(sp), n);
	while (spool_read(sp, rbuf, sizeof(rbuf), &len, &m) == 1) {
		if (rec_check(rbuf, len, sizeof(buf)) != seq)
			break;
		if (++seq == n / 2)
			half = m;
	}
	CHECK_U64(seq, n);
	CHECK_U64(m.records, n);
	/* read everything, acknowledge half: a restart sends the second half */
	CHECK_INT(spool_ack(sp, &half), 0);
	spool_get_stats(sp, &st);
	CHECK_U64(st.pending, n / 2);
	CHECK_U64(st.acked, n / 2);
	spool_free(sp);

	sp = open_ok(dir, 64u << 20);
	if (!sp)
		return;
	spool_get_stats(sp, &st);
	CHECK_U64(st.pending, n / 2);
	CHECK_U64(st.lost_corrupt, 0);
	seq = n / 2;
	while (spool_read(sp, rbuf, sizeof(rbuf), &len, &m) == 1) {
		if (rec_check(rbuf, len, sizeof(buf)) != seq)
			break;
		seq++;
	}
	CHECK_U64(seq, n);
	/* a lost connection: read again from the position */
	spool_rewind(sp);
	CHECK_INT(spool_read(sp, rbuf, sizeof(rbuf), &len, &m), 1);
	CHECK_U64(rec_check(rbuf, len, sizeof(buf)), n / 2);
	spool_free(sp);
}

static uint64_t dir_bytes(const char *dir)
{
	char cmd[512];
	uint64_t total = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "cat %s/*.seg | wc -c", dir);
	f = popen(cmd, "r");
	if (f) {
		if (fscanf(f, "%" SCNu64, &total) != 1)
			total = 0;
		pclose(f);
	}
	return total;
}

/* The bound holds on disk; what does not fit is counted; acknowledging makes room. */
static void test_bound(void)
{
	char dir[256];
	struct spool *sp;
	struct spool_mark m;
	struct spool_stats st;
	uint8_t buf[1000];
	size_t len;
	uint64_t ok = 0, refused = 0, max = 1u << 20, seq = 0;

	new_dir(dir, sizeof(dir));
	sp = open_ok(dir, max);
	if (!sp)
		return;
	memset(buf, 0x5a, sizeof(buf));
	for (int i = 0; i < 2000; i++) {
		memcpy(buf, &ok, 8);
		if (spool_append(sp, buf, sizeof(buf)) == 0)
			ok++;
		else
			refused++;
	}
	CHECK(spool_flush(sp) == 0);
	spool_get_stats(sp, &st);
	/* 1 MiB of 1012-byte records, 16 segment headers: 1035 */
	CHECK_U64(ok, (max - 16 * 16) / 1012);
	CHECK_U64(refused, 2000 - ok);
	CHECK_U64(st.lost_full, refused);
	CHECK_U64(st.bytes, dir_bytes(dir));
	CHECK(st.bytes <= max);
	/* send and acknowledge half: the segments before it go, appends fit again */
	while (seq < ok / 2 && spool_read(sp, rbuf, sizeof(rbuf), &len, &m) == 1)
		seq++;
	CHECK_INT(spool_ack(sp, &m), 0);
	spool_get_stats(sp, &st);
	CHECK(st.bytes < max / 2 + max / 16 + 1012);
	CHECK_U64(st.bytes, dir_bytes(dir));
	CHECK_INT(spool_append(sp, buf, sizeof(buf)), 0);
	spool_free(sp);
}

static int seg_path(const char *dir, char *out, size_t len)
{
	char cmd[512];
	FILE *f;
	int rc = -1;

	snprintf(cmd, sizeof(cmd), "ls %s/*.seg | tail -1", dir);
	f = popen(cmd, "r");
	if (f && fgets(out, (int)len, f)) {
		out[strcspn(out, "\n")] = '\0';
		rc = 0;
	}
	if (f)
		pclose(f);
	return rc;
}

/* One flipped byte in a payload: that record is skipped and counted, the rest arrive. */
static void test_corrupt_crc(void)
{
	char dir[256], seg[512];
	struct spool *sp;
	struct spool_mark m;
	struct spool_stats st;
	uint8_t buf[100], b;
	size_t len;
	uint64_t got[8], n = 0;
	int fd;

	new_dir(dir, sizeof(dir));
	sp = open_ok(dir, 1u << 20);
	if (!sp)
		return;
	for (uint64_t i = 0; i < 5; i++) {
		rec_make(buf, i, sizeof(buf));
		CHECK_INT(spool_append(sp, buf, sizeof(buf)), 0);
	}
	spool_free(sp);
	CHECK_INT(seg_path(dir, seg, sizeof(seg)), 0);
	/* record 2: segment header 16, two records of 12 + 100, its header 12, byte 50 */
	fd = open(seg, O_RDWR);
	CHECK(fd >= 0);
	CHECK(pread(fd, &b, 1, 16 + 2 * 112 + 12 + 50) == 1);
	b ^= 0x01;
	CHECK(pwrite(fd, &b, 1, 16 + 2 * 112 + 12 + 50) == 1);
	close(fd);

	sp = open_ok(dir, 1u << 20);
	if (!sp)
		return;
	while (n < 8 && spool_read(sp, rbuf, sizeof(rbuf), &len, &m) == 1)
		got[n++] = rec_check(rbuf, len, 0);
	CHECK_U64(n, 4);
	CHECK_U64(got[0], 0);
	CHECK_U64(got[1], 1);
	CHECK_U64(got[2], 3);
	CHECK_U64(got[3], 4);
	spool_get_stats(sp, &st);
	CHECK_U64(st.lost_corrupt, 1);
	spool_free(sp);
}

/* A half-written record at the end (written by hand): cut at open, appends go on after it. */
static void test_torn_tail(void)
{
	char dir[256], seg[512];
	struct spool *sp;
	struct spool_mark m;
	struct spool_stats st;
	uint8_t buf[100];
	size_t len;
	uint64_t n = 0, seq[8];
	int fd;

	new_dir(dir, sizeof(dir));
	sp = open_ok(dir, 1u << 20);
	if (!sp)
		return;
	for (uint64_t i = 0; i < 3; i++) {
		rec_make(buf, i, sizeof(buf));
		CHECK_INT(spool_append(sp, buf, sizeof(buf)), 0);
	}
	spool_free(sp);
	CHECK_INT(seg_path(dir, seg, sizeof(seg)), 0);
	/* the first 60 bytes of a fourth record's header and payload */
	sp = open_ok(dir, 1u << 20);
	spool_free(sp);
	fd = open(seg, O_WRONLY | O_APPEND);
	{
		uint8_t torn[60];
		uint32_t magic = 0x31525358u, l = 100;

		rec_make(torn, 3, sizeof(torn));
		memcpy(torn, &magic, 4);
		memcpy(torn + 4, &l, 4);
		CHECK(write(fd, torn, sizeof(torn)) == (ssize_t)sizeof(torn));
	}
	close(fd);
	sp = open_ok(dir, 1u << 20);
	if (!sp)
		return;
	spool_get_stats(sp, &st);
	CHECK_U64(st.lost_corrupt, 1);
	CHECK_U64(st.pending, 3);
	rec_make(buf, 4, sizeof(buf));
	CHECK_INT(spool_append(sp, buf, sizeof(buf)), 0);
	while (n < 8 && spool_read(sp, rbuf, sizeof(rbuf), &len, &m) == 1)
		seq[n++] = rec_check(rbuf, len, 0);
	CHECK_U64(n, 4);
	CHECK_U64(seq[2], 2);
	CHECK_U64(seq[3], 4);
	spool_free(sp);
}

/*
 * The child appends records numbered from `next` (large ones, several per
 * write(), so the kill often lands inside a write), reads and acknowledges
 * some; it reports on a pipe "A<seq>" before and "D<seq>" after each
 * spool_ack(). SIGKILL at a random moment. Then: the records after the
 * position are exactly the next numbers in order, with no gap and no
 * duplicate, and the first one follows an acknowledgement the child made.
 */
static void kill_child(const char *dir, uint64_t next, int wfd)
{
	struct spool *sp;
	char err[256];
	static uint8_t buf[SPOOL_MAX_RECORD];
	struct spool_mark m;
	size_t len;

	if (spool_open(dir, 64u << 20, &sp, err, sizeof(err)) < 0)
		_exit(2);
	for (uint64_t seq = next;; seq++) {
		size_t l = rec_len(seq, 60000);

		rec_make(buf, seq, l);
		if (spool_append(sp, buf, l) < 0)
			_exit(3);
		if (seq % 4 == 0 && spool_flush(sp) < 0)
			_exit(4);
		if (seq % 50 == 0) {
			uint64_t last = UINT64_MAX;

			for (int k = 0; k < 20 && spool_read(sp, buf, sizeof(buf), &len, &m) == 1;
			     k++)
				last = rec_check(buf, len, 60000);
			if (last != UINT64_MAX) {
				char msg[32];
				int n = snprintf(msg, sizeof(msg), "A%020" PRIu64, last);

				if (write(wfd, msg, (size_t)n) != n)
					_exit(5);
				if (spool_ack(sp, &m) < 0)
					_exit(6);
				msg[0] = 'D';
				if (write(wfd, msg, (size_t)n) != n)
					_exit(5);
			}
		}
	}
}

static void test_sigkill(void)
{
	char dir[256];
	uint64_t next = 0, acked = UINT64_MAX, intent = UINT64_MAX;
	int rounds = 60, bad = 0, torn = 0;
	struct spool_stats st;

	new_dir(dir, sizeof(dir));
	srand((unsigned)time(NULL));
	for (int r = 0; r < rounds; r++) {
		int p[2], status;
		pid_t pid;
		char msg[22];
		struct spool *sp;
		struct spool_mark m;
		size_t len;
		uint64_t first = UINT64_MAX, expect;

		if (pipe(p) < 0)
			return;
		pid = fork();
		if (pid == 0) {
			close(p[0]);
			kill_child(dir, next, p[1]);
		}
		close(p[1]);
		usleep(2000 + (unsigned)(rand() % 15000));
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		while (read(p[0], msg, 21) == 21) {
			msg[21] = '\0';
			uint64_t v = strtoull(msg + 1, NULL, 10);

			if (msg[0] == 'A')
				intent = v;
			else
				acked = v;
		}
		close(p[0]);

		sp = open_ok(dir, 64u << 20);
		if (!sp)
			return;
		spool_get_stats(sp, &st);
		torn += (int)st.lost_corrupt;
		expect = UINT64_MAX;
		while (spool_read(sp, rbuf, sizeof(rbuf), &len, &m) == 1) {
			uint64_t seq = rec_check(rbuf, len, 60000);

			if (first == UINT64_MAX)
				first = seq;
			if (expect != UINT64_MAX && seq != expect)
				bad++;
			expect = seq + 1;
		}
		/* the first record follows the last acknowledgement (made or intended) */
		if (first != UINT64_MAX && acked != UINT64_MAX && first != acked + 1 &&
		    first != intent + 1) {
			fprintf(stderr,
				"round %d: first %" PRIu64 ", acked %" PRIu64 ", intended %" PRIu64
				"\n",
				r, first, acked, intent);
			bad++;
		}
		/* the open cut the tail: what follows is intact */
		{
			uint64_t at_open = st.lost_corrupt;

			spool_get_stats(sp, &st);
			CHECK_U64(st.lost_corrupt, at_open);
		}
		CHECK_INT(spool_ack(sp, &m), 0);
		if (expect != UINT64_MAX)
			next = expect;
		else if (acked != UINT64_MAX)
			next = acked + 1 > next ? acked + 1 : next;
		acked = intent = next ? next - 1 : UINT64_MAX;
		spool_free(sp);
	}
	CHECK_INT(bad, 0);
	printf("sigkill: %d rounds, %" PRIu64 " records, %d torn tails cut\n", rounds, next, torn);
}

int main(void)
{
	if (!mkdtemp(base_dir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_crc32c);
	RUN(test_order);
	RUN(test_bound);
	RUN(test_corrupt_crc);
	RUN(test_torn_tail);
	RUN(test_sigkill);
	if (!tu_failures) {
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", base_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", base_dir);
	}
	return tu_finish();
}
