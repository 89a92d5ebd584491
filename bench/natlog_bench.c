// SPDX-License-Identifier: GPL-2.0-only
/*
 * natlog_bench: the NAT event log's path from struct nat_event to a TCP
 * collector, against raw libfixbuf encoding of the same records, in the
 * same run (bench/README.md, "NAT event log").
 *
 *   natlog_bench [EVENTS] [ROUNDS]     default 1000000 events, 5 rounds
 *
 * The events: NAT44 session creates and deletes (half each, every one a
 * distinct connection, deletes with start and counters), as the sources
 * deliver them. Stages, CPU seconds of the encoding thread, median of the
 * rounds:
 *   records   natlog_session_record() only: nat_event -> internal record
 *   encode    natlog_event() -> ipfix_encoder_add_nat_event() into messages
 *             of 16384 bytes (the TCP message size) handed to a no-op emit
 *   tcp       natlog_event() -> exporter_add_nat_event() -> the IPFIX
 *             encoder -> a TCP collector on loopback (a thread reading and
 *             discarding): the daemon's whole event path after the source
 *   spool     the same with spool = true (docs/nat-events.md "Delivery"):
 *             every event appended to the on-disk spool (in $TMPDIR or
 *             /tmp), read back, encoded and sent, the spool's position
 *             moved as the kernel takes each message; until the spool is
 *             empty
 *   raw       libfixbuf fBufAppend of the same records (the session
 *             template's IANA fields, pre-filled in its internal layout)
 *             into a buffer exporter of the same message size
 * It prints a markdown table: ns per event, events per second, and the
 * ratio of each to raw libfixbuf.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <fixbuf/public.h>

#include "benchutil.h"
#include "clock.h"
#include "export.h"
#include "ipfix.h"
#include "log.h"
#include "natlog.h"

#define MSG_LEN 16384

static double thread_cpu_s(void)
{
	return bench_clock_s(CLOCK_THREAD_CPUTIME_ID);
}

static void make_events(struct nat_event *ev, size_t n)
{
	memset(ev, 0, n * sizeof(*ev));
	for (size_t i = 0; i < n; i++) {
		struct nat_event *e = &ev[i];
		uint32_t c = htonl(0xc6120000u | (uint32_t)(i >> 15)); /* 198.18.x.y clients */

		e->kind = i & 1 ? XF_XLAT_KIND_DELETE : XF_XLAT_KIND_CREATE;
		e->source = XF_XLAT_SRC_CONNTRACK;
		e->zone_id = (uint16_t)(i % 3);
		e->orig.family = e->reply.family = XF_FAMILY_IPV4;
		e->orig.proto = e->reply.proto = 6;
		memcpy(e->orig.src_addr, &c, 4);
		inet_pton(AF_INET, "198.19.0.10", e->orig.dst_addr);
		e->orig.src_port = (uint16_t)(1024 + (i >> 1) % 60000);
		e->orig.dst_port = 80;
		inet_pton(AF_INET, "198.18.2.2", e->reply.src_addr);
		inet_pton(AF_INET, "198.18.9.1", e->reply.dst_addr);
		e->reply.src_port = 8080;
		e->reply.dst_port = e->orig.src_port;
		e->time_mono_ns = 1000000000ULL + i * 1000;
		if (e->kind == XF_XLAT_KIND_DELETE) {
			e->flags = NAT_EVENT_F_START | NAT_EVENT_F_ACCT;
			e->start_wall_ns = 1764140000ULL * 1000000000ULL;
			e->packets[0] = 10;
			e->packets[1] = 12;
			e->octets[0] = 1000;
			e->octets[1] = 15000;
		}
	}
}

/* --- records ------------------------------------------------------------ */

static uint64_t sink;

__attribute__((noinline)) static double stage_records(const struct nat_event *ev, size_t n)
{
	struct xf_clock clk;
	struct ipfix_natev_rec r;
	double t0;

	clock_sync(&clk);
	t0 = thread_cpu_s();
	for (size_t i = 0; i < n; i++) {
		natlog_session_record(&r, &ev[i], &clk);
		sink += r.u.session.post_src_port;
	}
	return thread_cpu_s() - t0;
}

/* --- encode --------------------------------------------------------------- */

static uint64_t emitted_bytes;

static void count_emit(void *ctx, const uint8_t *msg, size_t len, uint32_t records)
{
	(void)ctx;
	(void)msg;
	(void)records;
	emitted_bytes += len;
}

static void to_encoder(void *ctx, const struct ipfix_natev_rec *rec)
{
	if (ipfix_encoder_add_nat_event(ctx, rec) < 0)
		abort();
}

__attribute__((noinline)) static double stage_encode(const struct nat_event *ev, size_t n)
{
	struct ipfix_params params = {
		.observation_domain_id = 1,
		.enterprise_number = 32473,
		.max_message_len = MSG_LEN,
		.nat_events = true,
	};
	char err[256];
	struct ipfix_encoder *enc = ipfix_encoder_new(&params, count_emit, NULL, err, sizeof(err));
	struct natlog *nl;
	struct xf_clock clk;
	double t0, t;

	if (!enc) {
		fprintf(stderr, "encoder: %s\n", err);
		exit(1);
	}
	nl = natlog_new(to_encoder, enc);
	clock_sync(&clk);
	ipfix_encoder_add_templates(enc);
	t0 = thread_cpu_s();
	for (size_t i = 0; i < n; i++)
		natlog_event(nl, &ev[i], &clk);
	ipfix_encoder_flush(enc);
	t = thread_cpu_s() - t0;
	natlog_free(nl);
	ipfix_encoder_free(enc);
	return t;
}

/* --- tcp -------------------------------------------------------------------- */

struct reader {
	int lfd;
	uint64_t bytes;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	static uint8_t buf[1 << 16];
	int fd = accept(r->lfd, NULL, NULL);
	ssize_t got;

	if (fd < 0)
		return NULL;
	while ((got = read(fd, buf, sizeof(buf))) > 0)
		r->bytes += (uint64_t)got;
	close(fd);
	return NULL;
}

static void to_exporter(void *ctx, const struct ipfix_natev_rec *rec)
{
	exporter_add_nat_event(ctx, rec);
}

__attribute__((noinline)) static double stage_tcp(const struct nat_event *ev, size_t n,
						  const char *spool_dir, uint64_t *not_sent,
						  uint64_t *received)
{
	static struct xf_config cfg;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t slen = sizeof(sin);
	struct reader rd = { 0 };
	struct ipfix_natlog_stats ns;
	struct exporter *exp;
	struct natlog *nl;
	struct xf_clock clk;
	pthread_t th;
	char err[512];
	double t0, t;

	rd.lfd = socket(AF_INET, SOCK_STREAM, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (rd.lfd < 0 || bind(rd.lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(rd.lfd, 1) < 0 || getsockname(rd.lfd, (struct sockaddr *)&sin, &slen) < 0) {
		perror("listen");
		exit(1);
	}
	pthread_create(&th, NULL, reader_main, &rd);
	memset(&cfg, 0, sizeof(cfg));
	cfg.observation_domain_id = 1;
	cfg.enterprise_number = 32473;
	cfg.template_refresh = 600;
	cfg.n_collectors = 1;
	snprintf(cfg.collectors[0].url, sizeof(cfg.collectors[0].url), "tcp://127.0.0.1:%u",
		 ntohs(sin.sin_port));
	cfg.collectors[0].transport = XF_TRANSPORT_TCP;
	cfg.collectors[0].nat_events = true;
	cfg.collectors[0].no_flows = true;
	memcpy(&cfg.collectors[0].addr, &sin, sizeof(sin));
	cfg.collectors[0].addrlen = sizeof(sin);
	if (spool_dir) {
		cfg.collectors[0].spool = true;
		snprintf(cfg.spool_dir, sizeof(cfg.spool_dir), "%s", spool_dir);
		cfg.spool_max_bytes = UINT32_MAX;
	}
	exp = exporter_new(&cfg, err, sizeof(err));
	if (!exp) {
		fprintf(stderr, "exporter: %s\n", err);
		exit(1);
	}
	for (int i = 0; i < 200; i++) { /* connected: templates sent */
		exporter_tick(exp, clock_mono_ms());
		exporter_get_natlog_stats(exp, &ns);
		if (rd.bytes)
			break;
		usleep(5000);
	}
	nl = natlog_new(to_exporter, exp);
	clock_sync(&clk);
	t0 = thread_cpu_s();
	for (size_t i = 0; i < n; i++) {
		natlog_event(nl, &ev[i], &clk);
		/* the daemon's loop ticks (TCP writes what waits) every drain cycle */
		if ((i & 4095) == 4095)
			exporter_tick(exp, clock_mono_ms());
	}
	exporter_flush(exp);
	/* spooled: what the spool still holds goes as the daemon's loop would send it */
	while (spool_dir && exporter_waiting(exp)) {
		exporter_tick(exp, clock_mono_ms());
		exporter_flush(exp);
	}
	t = thread_cpu_s() - t0;
	exporter_get_natlog_stats(exp, &ns);
	*not_sent = ns.not_sent;
	natlog_free(nl);
	exporter_free(exp); /* drains the TCP queue, closes: the reader ends */
	pthread_join(th, NULL);
	close(rd.lfd);
	*received = rd.bytes;
	return t;
}

/* --- raw libfixbuf ------------------------------------------------------------ */

static fbInfoElementSpec_t raw_spec[] = {
	{ "observationTimeMilliseconds", 8, 0 },
	{ "flowStartMilliseconds", 8, 0 },
	{ "flowEndMilliseconds", 8, 0 },
	{ "initiatorOctets", 8, 0 },
	{ "responderOctets", 8, 0 },
	{ "initiatorPackets", 8, 0 },
	{ "responderPackets", 8, 0 },
	{ "sourceIPv4Address", 4, 0 },
	{ "destinationIPv4Address", 4, 0 },
	{ "postNATSourceIPv4Address", 4, 0 },
	{ "postNATDestinationIPv4Address", 4, 0 },
	{ "sourceTransportPort", 2, 0 },
	{ "destinationTransportPort", 2, 0 },
	{ "postNAPTSourceTransportPort", 2, 0 },
	{ "postNAPTDestinationTransportPort", 2, 0 },
	{ "ingressVRFID", 4, 0 },
	{ "protocolIdentifier", 1, 0 },
	{ "natEvent", 1, 0 },
	FB_IESPEC_NULL,
};

struct raw_rec {
	uint64_t time_ms, start_ms, end_ms, octets[2], packets[2];
	uint32_t src, dst, post_src, post_dst;
	uint16_t sport, dport, post_sport, post_dport;
	uint32_t vrf;
	uint8_t proto, nat_event;
} __attribute__((packed));

__attribute__((noinline)) static double stage_raw(const struct raw_rec *recs, size_t n)
{
	static uint8_t buf[MSG_LEN];
	fbInfoModel_t *model = fbInfoModelAlloc();
	fbSession_t *session = fbSessionAlloc(model);
	fbTemplate_t *tmpl = fbTemplateAlloc(model);
	GError *gerr = NULL;
	fbExporter_t *exp;
	fBuf_t *fbuf;
	double t0, t;

	if (!fbTemplateAppendSpecArray(tmpl, raw_spec, 0, &gerr) ||
	    fbTemplateGetIELenOfMemBuffer(tmpl) != sizeof(struct raw_rec) ||
	    !fbSessionAddTemplate(session, TRUE, 266, tmpl, &gerr)) {
		fprintf(stderr, "raw template: %s\n", gerr ? gerr->message : "size mismatch");
		exit(1);
	}
	fbSessionSetDomain(session, 1);
	tmpl = fbTemplateAlloc(model);
	fbTemplateAppendSpecArray(tmpl, raw_spec, 0, &gerr);
	fbSessionAddTemplate(session, FALSE, 266, tmpl, &gerr);
	exp = fbExporterAllocBuffer(buf, MSG_LEN);
	fbuf = fBufAllocForExport(session, exp);
	if (!fbSessionExportTemplates(session, &gerr) ||
	    !fBufSetInternalTemplate(fbuf, 266, &gerr) ||
	    !fBufSetExportTemplate(fbuf, 266, &gerr)) {
		fprintf(stderr, "raw setup: %s\n", gerr->message);
		exit(1);
	}
	t0 = thread_cpu_s();
	for (size_t i = 0; i < n; i++) {
		if (!fBufAppend(fbuf, (uint8_t *)&recs[i], sizeof(recs[i]), &gerr)) {
			fprintf(stderr, "fBufAppend: %s\n", gerr->message);
			exit(1);
		}
	}
	fBufEmit(fbuf, &gerr);
	t = thread_cpu_s() - t0;
	fBufFree(fbuf);
	fbInfoModelFree(model);
	return t;
}

static void make_raw(struct raw_rec *raw, const struct nat_event *ev, size_t n)
{
	struct xf_clock clk;
	struct ipfix_natev_rec r;

	clock_sync(&clk);
	for (size_t i = 0; i < n; i++) {
		const struct ipfix_natev_session_rec *s = &r.u.session;

		natlog_session_record(&r, &ev[i], &clk);
		raw[i] = (struct raw_rec){
			.time_ms = s->time_ms,
			.start_ms = s->start_ms,
			.end_ms = s->end_ms,
			.octets = { s->octets[0], s->octets[1] },
			.packets = { s->packets[0], s->packets[1] },
			.src = s->src_ip4,
			.dst = s->dst_ip4,
			.post_src = s->post_src_ip4,
			.post_dst = s->post_dst_ip4,
			.sport = s->src_port,
			.dport = s->dst_port,
			.post_sport = s->post_src_port,
			.post_dport = s->post_dst_port,
			.vrf = s->vrf,
			.proto = s->proto,
			.nat_event = s->nat_event,
		};
	}
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
	int rounds = argc > 2 ? atoi(argv[2]) : 5;
	struct nat_event *ev = calloc(n, sizeof(*ev));
	struct raw_rec *raw = calloc(n, sizeof(*raw));
	double t_rec[32], t_enc[32], t_tcp[32], t_spool[32], t_raw[32], rec, enc, tcp, spl, rw;
	uint64_t not_sent = 0, received = 0, spool_not_sent = 0, spool_received = 0;
	char dir[4096], cmd[4200];
	const char *tmp = getenv("TMPDIR");

	if (!ev || !raw || rounds < 1 || rounds > 32)
		return 1;
	log_init(true, LOG_LEVEL_WARN, "natlog_bench");
	make_events(ev, n);
	make_raw(raw, ev, n);
	for (int r = 0; r < rounds; r++) {
		uint64_t ns = 0;

		t_raw[r] = stage_raw(raw, n);
		t_rec[r] = stage_records(ev, n);
		t_enc[r] = stage_encode(ev, n);
		t_tcp[r] = stage_tcp(ev, n, NULL, &ns, &received);
		not_sent += ns;
		snprintf(dir, sizeof(dir), "%s/natlog_bench.XXXXXX", tmp ? tmp : "/tmp");
		if (!mkdtemp(dir)) {
			perror("mkdtemp");
			return 1;
		}
		t_spool[r] = stage_tcp(ev, n, dir, &ns, &spool_received);
		spool_not_sent += ns;
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
	rw = bench_median(t_raw, rounds);
	rec = bench_median(t_rec, rounds);
	enc = bench_median(t_enc, rounds);
	tcp = bench_median(t_tcp, rounds);
	spl = bench_median(t_spool, rounds);
	printf("NAT event log, %zu session events (creates and deletes), median of %d rounds,\n"
	       "CPU time of the encoding thread:\n\n",
	       n, rounds);
	printf("| stage | ns/event | events/s | vs raw libfixbuf |\n|---|---:|---:|---:|\n");
	printf("| raw libfixbuf fBufAppend (reference) | %.0f | %.2fM | 1.00 |\n", rw / n * 1e9,
	       n / rw / 1e6);
	printf("| nat_event -> record (natlog_session_record) | %.0f | %.2fM | %.2f |\n",
	       rec / n * 1e9, n / rec / 1e6, rw / rec);
	printf("| nat_event -> IPFIX messages (natlog + encoder) | %.0f | %.2fM | %.2f |\n",
	       enc / n * 1e9, n / enc / 1e6, rw / enc);
	printf("| nat_event -> TCP collector (natlog + exporter + socket) | %.0f | %.2fM | %.2f "
	       "|\n",
	       tcp / n * 1e9, n / tcp / 1e6, rw / tcp);
	printf("| nat_event -> on-disk spool -> TCP collector (spool = true) | %.0f | %.2fM | %.2f "
	       "|\n",
	       spl / n * 1e9, n / spl / 1e6, rw / spl);
	printf("\nTCP: events not sent (all rounds) %llu; the collector read %llu bytes in the "
	       "last "
	       "round (%.1f per event, templates and headers included)\n",
	       (unsigned long long)not_sent, (unsigned long long)received, (double)received / n);
	printf("Spool: events not sent (all rounds) %llu; the collector read %llu bytes in the "
	       "last round\n",
	       (unsigned long long)spool_not_sent, (unsigned long long)spool_received);
	free(ev);
	free(raw);
	return sink == 42 ? 2 : 0;
}
