// SPDX-License-Identifier: GPL-2.0-only
/*
 * Load a BPF object with libbpf, attach every program by its section
 * (fentry/..., kprobe/...) and hold the links until SIGTERM or SIGINT.
 * bpftool 7.1 cannot attach tracing programs (no "autoattach"), so
 * bench/nat_vm.sh uses this to attach bench/ref_fentry.bpf.o.
 *
 *   bpf_attach OBJ      prints "bpf_attach: attached N" on stderr when ready
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	struct bpf_link *links[16];
	struct bpf_program *prog;
	struct bpf_object *obj;
	int n = 0, err;

	if (argc != 2) {
		fprintf(stderr, "usage: %s OBJ\n", argv[0]);
		return 2;
	}
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		fprintf(stderr, "bpf_attach: open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	err = bpf_object__load(obj);
	if (err) {
		fprintf(stderr, "bpf_attach: load %s: %s\n", argv[1], strerror(-err));
		return 1;
	}
	bpf_object__for_each_program (prog, obj) {
		if (n == 16)
			break;
		links[n] = bpf_program__attach(prog);
		if (!links[n]) {
			fprintf(stderr, "bpf_attach: attach %s: %s\n", bpf_program__name(prog),
				strerror(errno));
			return 1;
		}
		n++;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	fprintf(stderr, "bpf_attach: attached %d\n", n);
	while (!stop)
		pause();
	while (n--)
		bpf_link__destroy(links[n]);
	bpf_object__close(obj);
	return 0;
}
