// SPDX-License-Identifier: GPL-2.0-only
/*
 * xf-ctgen: new connections at a set rate, for the conntrack tests and
 * bench/conntrack.sh. Sends N one-packet IPv4 UDP flows from SRC to DST
 * through a raw socket (IP_HDRINCL), each its own conntrack connection:
 * flow i has source port SPORT + i % 60000 and destination port
 * DPORT + i / 60000, so a DNAT that keeps the port gives every flow its own
 * reply tuple as well. Paced by the monotonic clock, batches of 64 per
 * sendmmsg().
 *
 *   xf-ctgen -s SRC -d DST -n N [-r RATE] [-S SPORT] [-P DPORT] [-o OFFSET]
 *
 * -o starts at flow OFFSET (a second run with new tuples). Prints
 * "sent=N seconds=S rate=R digest=X", X the sum over the flows of
 * tuple_digest_hash() (tests/tools/tuple_digest.h), as the conntrack probe
 * computes it from the events.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "tuple_digest.h"

#define BATCH 64
#define PORTS 60000
#define PAYLOAD 8

struct frame {
	struct iphdr ip;
	struct udphdr udp;
	uint8_t payload[PAYLOAD];
} __attribute__((packed));

static double now_s(void)
{
	return (double)clock_mono_ns() / 1e9;
}

static void usage(void)
{
	fprintf(stderr, "usage: xf-ctgen -s SRC -d DST -n N [-r RATE] [-S SPORT] [-P DPORT] "
			"[-o OFFSET]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct in_addr src = { 0 }, dst = { 0 };
	uint64_t n = 0, offset = 0, sent = 0, digest = 0;
	unsigned long sport = 1024, dport = 10000;
	double rate = 50000, t0, t;
	static struct frame frames[BATCH];
	struct sockaddr_in to = { .sin_family = AF_INET };
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	int opt, fd, one = 1;

	while ((opt = getopt(argc, argv, "s:d:n:r:S:P:o:")) != -1) {
		switch (opt) {
		case 's':
			if (inet_pton(AF_INET, optarg, &src) != 1)
				usage();
			break;
		case 'd':
			if (inet_pton(AF_INET, optarg, &dst) != 1)
				usage();
			break;
		case 'n': n = strtoull(optarg, NULL, 10); break;
		case 'r': rate = strtod(optarg, NULL); break;
		case 'S': sport = strtoul(optarg, NULL, 10); break;
		case 'P': dport = strtoul(optarg, NULL, 10); break;
		case 'o': offset = strtoull(optarg, NULL, 10); break;
		default: usage();
		}
	}
	if (!src.s_addr || !dst.s_addr || !n || rate <= 0 || sport + PORTS > 65536 ||
	    dport + (offset + n - 1) / PORTS > 65535)
		usage();

	fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	if (fd < 0 || setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof(one)) < 0) {
		perror("xf-ctgen: raw socket");
		return 1;
	}
	to.sin_addr = dst;
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < BATCH; i++) {
		struct frame *f = &frames[i];

		memset(f, 0, sizeof(*f));
		f->ip.version = 4;
		f->ip.ihl = 5;
		f->ip.ttl = 64;
		f->ip.protocol = IPPROTO_UDP;
		f->ip.tot_len = htons(sizeof(*f));
		f->ip.saddr = src.s_addr;
		f->ip.daddr = dst.s_addr;
		f->udp.len = htons(sizeof(f->udp) + PAYLOAD);
		memcpy(f->payload, "xlatflow", PAYLOAD);
		iov[i].iov_base = f;
		iov[i].iov_len = sizeof(*f);
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		msgs[i].msg_hdr.msg_name = &to;
		msgs[i].msg_hdr.msg_namelen = sizeof(to);
	}

	t0 = now_s();
	while (sent < n) {
		unsigned int batch = n - sent < BATCH ? (unsigned int)(n - sent) : BATCH;
		double ahead;
		int k;

		for (unsigned int i = 0; i < batch; i++) {
			uint64_t flow = offset + sent + i;
			uint16_t sp = (uint16_t)(sport + flow % PORTS);
			uint16_t dp = (uint16_t)(dport + flow / PORTS);

			/* the kernel fills the IP checksum and id; UDP checksum 0 is allowed */
			frames[i].udp.source = htons(sp);
			frames[i].udp.dest = htons(dp);
		}
		k = sendmmsg(fd, msgs, batch, 0);
		if (k < 0) {
			if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR) {
				usleep(100);
				continue;
			}
			perror("xf-ctgen: sendmmsg");
			return 1;
		}
		for (int i = 0; i < k; i++)
			digest += tuple_digest_hash((const uint8_t *)&src.s_addr,
						    (const uint8_t *)&dst.s_addr,
						    ntohs(frames[i].udp.source),
						    ntohs(frames[i].udp.dest), IPPROTO_UDP);
		sent += (unsigned int)k;
		/* pace: never ahead of the rate */
		ahead = (double)sent / rate - (now_s() - t0);
		if (ahead > 0.0002)
			usleep((useconds_t)(ahead * 1e6));
	}
	t = now_s() - t0;
	printf("sent=%" PRIu64 " seconds=%.3f rate=%.0f digest=%016" PRIx64 "\n", sent, t,
	       (double)sent / t, digest);
	close(fd);
	return 0;
}
