// SPDX-License-Identifier: GPL-2.0-only
/*
 * Traffic for bench/e2e.sh: FLOWS distinct IPv4 UDP flows of PACKETS packets
 * each, sent round-robin (so every flow stays active for the whole run) as
 * raw Ethernet frames on an AF_PACKET socket, at most RATE packets a second.
 * Sources 198.18.128.0/17, destinations 198.19.0.0/16: the benchmark range,
 * never routed anywhere; the receiving namespace does not forward, so the
 * frames are seen by the observers on its interface and dropped silently.
 *
 *   flowgen -i IFNAME -d DST_MAC [-f FLOWS] [-p PACKETS] [-s IP_LEN] [-r RATE] [-P DPORT]
 * Prints "packets=N ip_bytes=M seconds=S cpu_ns=C" when done. C is the
 * process's CPU time (CLOCK_PROCESS_CPUTIME_ID: the scheduler's runtime,
 * host steal excluded), which holds the veth receive path too: the frames
 * are received in the softirq that sendmmsg() runs on this CPU, so TC
 * programs and packet sockets on the peer run in flowgen's time
 * (bench/observer_cpu.sh).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"

#define BATCH 64

static void build(uint8_t *f, const uint8_t *dmac, const uint8_t *smac, uint32_t flow,
		  uint16_t ip_len, uint16_t dport)
{
	struct ethhdr *eth = (struct ethhdr *)f;
	struct iphdr *ip = (struct iphdr *)(eth + 1);
	struct udphdr *udp = (struct udphdr *)(ip + 1);

	memcpy(eth->h_dest, dmac, ETH_ALEN);
	memcpy(eth->h_source, smac, ETH_ALEN);
	eth->h_proto = htons(ETH_P_IP);
	memset(ip, 0, sizeof(*ip));
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->tot_len = htons(ip_len);
	ip->saddr = htonl(0xc6128000u | (flow >> 10));	 /* 198.18.128.0/17 */
	ip->daddr = htonl(0xc6130000u | (flow & 0x3ff)); /* 198.19.0.0/16 */
	ip->check = bench_csum16(ip, sizeof(*ip));
	udp->source = htons((uint16_t)(10000 + (flow % 50000)));
	udp->dest = htons(dport);
	udp->len = htons((uint16_t)(ip_len - sizeof(*ip)));
	udp->check = 0;
}

int main(int argc, char **argv)
{
	const char *ifname = NULL, *dst = NULL;
	uint32_t flows = 10000, packets = 10, rate = 100000;
	uint16_t ip_len = 100, dport = 9;
	uint8_t dmac[6], smac[6] = { 0x02, 0x58, 0x46, 0, 0, 1 };
	static uint8_t frames[BATCH][1600];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_halen = ETH_ALEN };
	uint64_t sent = 0, total;
	struct timespec cpu;
	double t0;
	int opt, fd;

	while ((opt = getopt(argc, argv, "i:d:f:p:s:r:P:")) != -1) {
		switch (opt) {
		case 'i': ifname = optarg; break;
		case 'd': dst = optarg; break;
		case 'f': flows = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'p': packets = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 's': ip_len = (uint16_t)strtoul(optarg, NULL, 0); break;
		case 'r': rate = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'P': dport = (uint16_t)strtoul(optarg, NULL, 0); break;
		default: goto usage;
		}
	}
	if (!ifname || !dst || !flows || flows > (1u << 22) || !packets || !rate || ip_len < 28 ||
	    ip_len > 1500 ||
	    sscanf(dst, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &dmac[0], &dmac[1], &dmac[2], &dmac[3],
		   &dmac[4], &dmac[5]) != 6)
		goto usage;
	fd = socket(AF_PACKET, SOCK_RAW, 0); /* protocol 0: send only, capture nothing */
	if (fd < 0) {
		perror("socket(AF_PACKET)");
		return 1;
	}
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	if (!sll.sll_ifindex) {
		fprintf(stderr, "no interface %s\n", ifname);
		return 1;
	}
	memcpy(sll.sll_addr, dmac, 6);
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < BATCH; i++) {
		iov[i].iov_base = frames[i];
		iov[i].iov_len = ETH_HLEN + ip_len;
		memset(frames[i], 0, sizeof(frames[i]));
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		msgs[i].msg_hdr.msg_name = &sll;
		msgs[i].msg_hdr.msg_namelen = sizeof(sll);
	}
	total = (uint64_t)flows * packets;
	t0 = bench_wall_s();
	while (sent < total) {
		unsigned int n = total - sent < BATCH ? (unsigned int)(total - sent) : BATCH;
		int k;

		for (unsigned int i = 0; i < n; i++)
			build(frames[i], dmac, smac, (uint32_t)((sent + i) % flows), ip_len, dport);
		k = sendmmsg(fd, msgs, n, 0);
		if (k < 0) {
			if (errno == ENOBUFS || errno == EAGAIN) {
				usleep(100);
				continue;
			}
			perror("sendmmsg");
			return 1;
		}
		sent += (unsigned int)k;
		/* pace: never ahead of rate */
		double ahead = (double)sent / rate - (bench_wall_s() - t0);

		if (ahead > 0)
			usleep((useconds_t)(ahead * 1e6));
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
	printf("packets=%llu ip_bytes=%llu seconds=%.3f cpu_ns=%llu\n", (unsigned long long)sent,
	       (unsigned long long)sent * ip_len, bench_wall_s() - t0,
	       (unsigned long long)cpu.tv_sec * 1000000000ULL + (unsigned long long)cpu.tv_nsec);
	close(fd);
	return 0;
usage:
	fprintf(stderr,
		"usage: %s -i IFNAME -d DST_MAC [-f FLOWS<=4194304] [-p PACKETS] "
		"[-s IP_LEN] [-r RATE] [-P DPORT]\n",
		argv[0]);
	return 2;
}
