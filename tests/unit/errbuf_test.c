/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit test of src/errbuf.c: the message, its truncation, no buffer, errno kept. */
#include <errno.h>
#include <string.h>

#include "errbuf.h"
#include "testutil.h"

static void test_message(void)
{
	char err[64] = "old";

	CHECK_INT(errbuf_set(err, sizeof(err), -EINVAL, "%s: '%s' must be in %u..%u", "--sampling",
			     "0", 1u, 1000000u),
		  -EINVAL);
	CHECK_STR(err, "--sampling: '0' must be in 1..1000000");
	/* rc is handed back whatever it is, 0 included */
	CHECK_INT(errbuf_set(err, sizeof(err), 0, "fine"), 0);
	CHECK_STR(err, "fine");
}

static void test_truncation(void)
{
	char err[8];

	memset(err, 'x', sizeof(err));
	CHECK_INT(errbuf_set(err, sizeof(err), -ENOENT, "%s", "conntrack netlink: bind"), -ENOENT);
	CHECK_STR(err, "conntra");
}

static void test_no_buffer(void)
{
	char err[4] = "abc";

	CHECK_INT(errbuf_set(NULL, 100, -EPERM, "dropped"), -EPERM);
	CHECK_INT(errbuf_set(err, 0, -EPERM, "dropped"), -EPERM);
	CHECK_STR(err, "abc");
}

/* A caller may format strerror(errno) and still read errno afterwards. */
static void test_errno_kept(void)
{
	char err[64];

	errno = EACCES;
	errbuf_set(err, sizeof(err), -errno, "open: %s", strerror(errno));
	CHECK_INT(errno, EACCES);
	CHECK_STR(err, "open: Permission denied");
}

int main(void)
{
	RUN(test_message);
	RUN(test_truncation);
	RUN(test_no_buffer);
	RUN(test_errno_kept);
	return tu_finish();
}
