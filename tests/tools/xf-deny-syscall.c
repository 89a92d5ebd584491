// SPDX-License-Identifier: GPL-2.0-only
/*
 * xf-deny-syscall: run a command with one system call refused by the kernel.
 *
 *   xf-deny-syscall SYSCALL ERRNO COMMAND [ARG...]
 *
 * Installs a seccomp filter that makes SYSCALL (a name from the table below)
 * fail with ERRNO (a number, e.g. 1 for EPERM), or return 0 without doing
 * anything when ERRNO is 0, then execs COMMAND, which inherits the filter.
 * tests/fault/startup.sh uses it to make the daemon's capability drop fail
 * for real (capset refused, or faked), which nothing else does to a root
 * process.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define XF_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define XF_AUDIT_ARCH AUDIT_ARCH_AARCH64
#elif defined(__i386__)
#define XF_AUDIT_ARCH AUDIT_ARCH_I386
#else
#error "xf-deny-syscall: add this architecture's AUDIT_ARCH_*"
#endif

static const struct {
	const char *name;
	long nr;
} syscalls[] = {
	{ "capset", SYS_capset },
	{ "capget", SYS_capget },
	{ "prctl", SYS_prctl },
	{ "bpf", SYS_bpf },
};

int main(int argc, char **argv)
{
	long nr = -1;
	char *end;
	long err;

	if (argc < 4) {
		fprintf(stderr, "usage: %s SYSCALL ERRNO COMMAND [ARG...]\n", argv[0]);
		return 2;
	}
	for (size_t i = 0; i < sizeof(syscalls) / sizeof(syscalls[0]); i++)
		if (strcmp(argv[1], syscalls[i].name) == 0)
			nr = syscalls[i].nr;
	err = strtol(argv[2], &end, 10);
	if (nr < 0 || *end || end == argv[2] || err < 0 || err > 4095) {
		fprintf(stderr, "%s: unknown system call '%s' or bad errno '%s'\n", argv[0],
			argv[1], argv[2]);
		return 2;
	}

	struct sock_filter filter[] = {
		/* another ABI's numbers mean other calls: leave them alone */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, XF_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned int)nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K,
			 SECCOMP_RET_ERRNO | ((unsigned int)err & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(filter) / sizeof(filter[0]), .filter = filter };

	/* as root (CAP_SYS_ADMIN) no no_new_privs is needed, so the command's own setting is its own */
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
		fprintf(stderr, "%s: PR_SET_SECCOMP: %s\n", argv[0], strerror(errno));
		return 1;
	}
	execvp(argv[3], argv + 3);
	fprintf(stderr, "%s: %s: %s\n", argv[0], argv[3], strerror(errno));
	return 127;
}
