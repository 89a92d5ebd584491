// SPDX-License-Identifier: GPL-2.0-only
/*
 * xf-collect: a small IPFIX collector on libfixbuf's collecting side, used
 * by the tests to read what standard collectors cannot show.
 *
 *   xf-collect --udp PORT | --tcp PORT [--bind ADDR] [--count N]
 *              [--timeout SEC] [--out FILE] [--pen PEN]
 *
 * Prints every data record and options record as one JSON object per line:
 * "template_id", "observation_domain", "set" ("data" or "options"), then
 * each field under its IANA name, or for enterprise elements the name from
 * the xlatflow registry (PEN --pen, default 32473) or from RFC 5610 type
 * records, else "e<PEN>_<id>". Addresses and MACs are text, integers are
 * numbers, other octet arrays hex. RFC 5610 type records are printed as
 * options records with their fields and teach xf-collect the element.
 *
 * Exits 0 after N data records (--count) or at --timeout without --count,
 * 2 when --timeout expires before --count records, 1 on errors.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fixbuf/public.h>

#include "ie_registry_fb.h"

static volatile sig_atomic_t stop_reason; /* 0 running, 1 timeout, 2 signal */

/* No SA_RESTART: the signal interrupts a blocking accept/recv/read. */
static void on_signal(int sig)
{
	stop_reason = sig == SIGALRM ? 1 : 2;
}

struct options {
	bool udp;
	const char *port;
	const char *bind_addr;
	unsigned long count;
	uint32_t pen;
	FILE *out;
};

static unsigned long seen; /* data records printed */

/* RFC 5610 type records, decoded into fbInfoElementOptRec_t. */
static fbInfoElementSpec_t type_spec[] = {
	{ "privateEnterpriseNumber", 4, 0 },
	{ "informationElementId", 2, 0 },
	{ "informationElementDataType", 1, 0 },
	{ "informationElementSemantics", 1, 0 },
	{ "informationElementUnits", 2, 0 },
	{ "paddingOctets", 6, 0 },
	{ "informationElementRangeBegin", 8, 0 },
	{ "informationElementRangeEnd", 8, 0 },
	{ "informationElementName", FB_IE_VARLEN, 0 },
	{ "informationElementDescription", FB_IE_VARLEN, 0 },
	FB_IESPEC_NULL,
};

/* Template context marking RFC 5610 type record templates. */
static int type_record_mark;

/*
 * How a data template's records are printed, worked out once (the names
 * and types looked up, the JSON keys written) rather than per record:
 * printing is what limits how many records a second this collector takes.
 * Rebuilt when an RFC 5610 type record named more elements (model_gen).
 */
struct plan_field {
	char key[160]; /* ,"name": */
	uint16_t key_len;
	uint16_t len; /* ie->len (FB_IE_VARLEN for varfields) */
	uint8_t type; /* the type printed by */
	uint8_t kind; /* PF_VALUE, PF_SKIP (padding), PF_NULL (lists) */
	size_t off;   /* in the internal record */
};
enum { PF_VALUE, PF_SKIP, PF_NULL };

struct plan {
	unsigned int gen; /* model_gen it was made for; 0: not yet */
	int n;
	struct plan_field *f;
};
static unsigned int model_gen = 1;

static void plan_free(void *tmpl_ctx, void *app_ctx)
{
	struct plan *pl = tmpl_ctx;

	(void)app_ctx;
	g_free(pl->f);
	g_free(pl);
}

/*
 * Decode every template as it arrived: an internal copy under the same id,
 * or for RFC 5610 type records the fbInfoElementOptRec_t layout.
 */
static void template_arrived(fbSession_t *session, uint16_t tid, fbTemplate_t *tmpl, void *app_ctx,
			     void **tmpl_ctx, fbTemplateCtxFree_fn *free_fn)
{
	fbInfoModel_t *model = fbSessionGetInfoModel(session);
	fbTemplate_t *copy = fbTemplateAlloc(model);
	uint32_t n = fbTemplateCountElements(tmpl);
	GError *err = NULL;

	if (fbInfoModelTypeInfoRecord(tmpl)) {
		*tmpl_ctx = &type_record_mark;
		if (!fbTemplateAppendSpecArray(copy, type_spec, 0, &err)) {
			fprintf(stderr, "xf-collect: type template: %s\n", err->message);
			g_clear_error(&err);
			fbTemplateFreeUnused(copy);
			return;
		}
		fbTemplateSetOptionsScope(copy, 2);
		goto add;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (!fbTemplateAppend(copy, fbTemplateGetIndexedIE(tmpl, i), &err)) {
			fprintf(stderr, "xf-collect: template %u: %s\n", tid, err->message);
			g_clear_error(&err);
			fbTemplateFreeUnused(copy);
			return;
		}
	}
	if (fbTemplateGetOptionsScope(tmpl))
		fbTemplateSetOptionsScope(copy, fbTemplateGetOptionsScope(tmpl));
	*tmpl_ctx = g_new0(struct plan, 1);
	*free_fn = plan_free;
add:
	if (!fbSessionAddTemplate(session, TRUE, tid, copy, &err)) {
		fprintf(stderr, "xf-collect: template %u: %s\n", tid, err->message);
		g_clear_error(&err);
	}
}

/* One output line, built in memory and written with one fwrite(). */
struct line {
	char *p;
	size_t len, cap;
};

static void grow(struct line *l, size_t n)
{
	l->cap = (l->len + n) * 2;
	l->p = g_realloc(l->p, l->cap);
}

static inline void put(struct line *l, const void *s, size_t n)
{
	if (l->len + n > l->cap)
		grow(l, n);
	memcpy(l->p + l->len, s, n);
	l->len += n;
}

/* One character: most of what a line is made of, without a memcpy() call. */
static inline void put_c(struct line *l, char c)
{
	if (l->len + 1 > l->cap)
		grow(l, 1);
	l->p[l->len++] = c;
}

static void put_str(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

static void put_u64(struct line *l, uint64_t v)
{
	static const char pairs[] = "00010203040506070809101112131415161718192021222324"
				    "25262728293031323334353637383940414243444546474849"
				    "50515253545556575859606162636465666768697071727374"
				    "75767778798081828384858687888990919293949596979899";
	char buf[24], *e = buf + sizeof(buf), *q = e;

	/* two digits a division: timestamps have 13 */
	while (v >= 100) {
		unsigned int r = (unsigned int)(v % 100);

		v /= 100;
		*--q = pairs[2 * r + 1];
		*--q = pairs[2 * r];
	}
	if (v >= 10) {
		*--q = pairs[2 * v + 1];
		*--q = pairs[2 * v];
	} else {
		*--q = (char)('0' + v);
	}
	put(l, q, (size_t)(e - q));
}

static void put_hex(struct line *l, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		put_c(l, digits[p[i] >> 4]);
		put_c(l, digits[p[i] & 15]);
	}
}

static void json_string(struct line *l, const uint8_t *s, size_t len)
{
	put_c(l, '"');
	for (size_t i = 0; i < len; i++) {
		char esc[8];

		if (s[i] == '"' || s[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)s[i];
			put(l, esc, 2);
		} else if (s[i] < 0x20 || s[i] >= 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", s[i]);
			put_str(l, esc);
		} else {
			put_c(l, (char)s[i]);
		}
	}
	put_c(l, '"');
}

static uint64_t read_uint(const uint8_t *p, uint16_t len)
{
	uint8_t v8;
	uint16_t v16;
	uint32_t v32;
	uint64_t v64 = 0;

	switch (len) {
	case 1: memcpy(&v8, p, 1); return v8;
	case 2: memcpy(&v16, p, 2); return v16;
	case 4: memcpy(&v32, p, 4); return v32;
	case 8: memcpy(&v64, p, 8); return v64;
	default:
		/* reduced-length fields of odd sizes: host order integer of len bytes */
		memcpy(&v64, p, len < 8 ? len : 8);
		return v64;
	}
}

static void print_field(struct line *l, uint8_t type, uint16_t len, const uint8_t *p)
{
	char text[INET6_ADDRSTRLEN + 2];

	if (len == FB_IE_VARLEN) {
		fbVarfield_t vf;

		memcpy(&vf, p, sizeof(vf));
		if (type == FB_STRING) {
			json_string(l, vf.buf, vf.len);
		} else {
			put_c(l, '"');
			put_hex(l, vf.buf, vf.len);
			put_c(l, '"');
		}
		return;
	}
	switch (type) {
	case FB_UINT_8:
	case FB_UINT_16:
	case FB_UINT_32:
	case FB_UINT_64:
	case FB_DT_SEC:
	case FB_DT_MILSEC:
	case FB_DT_MICROSEC:
	case FB_DT_NANOSEC:
	case FB_BOOL: put_u64(l, read_uint(p, len)); return;
	case FB_INT_8:
	case FB_INT_16:
	case FB_INT_32:
	case FB_INT_64: {
		uint64_t v = read_uint(p, len);
		int shift = 64 - 8 * (len < 8 ? len : 8);
		int64_t sv = (int64_t)(v << shift) >> shift;

		if (sv < 0) {
			put_c(l, '-');
			put_u64(l, -(uint64_t)sv);
		} else {
			put_u64(l, (uint64_t)sv);
		}
		return;
	}
	case FB_FLOAT_32: {
		float f;

		memcpy(&f, p, 4);
		snprintf(text, sizeof(text), "%.9g", f);
		put_str(l, text);
		return;
	}
	case FB_FLOAT_64: {
		double d;

		memcpy(&d, p, 8);
		snprintf(text, sizeof(text), "%.17g", d);
		put_str(l, text);
		return;
	}
	case FB_IP4_ADDR: {
		uint32_t a;

		/* by hand: glibc's inet_ntop() formats IPv4 with sprintf() */
		memcpy(&a, p, 4);
		put_c(l, '"');
		for (int shift = 24; shift >= 0; shift -= 8) {
			put_u64(l, (a >> shift) & 0xff);
			put_c(l, shift ? '.' : '"');
		}
		return;
	}
	case FB_IP6_ADDR:
		inet_ntop(AF_INET6, p, text, sizeof(text));
		put_c(l, '"');
		put_str(l, text);
		put_c(l, '"');
		return;
	case FB_MAC_ADDR:
		put_c(l, '"');
		for (int i = 0; i < 6; i++) {
			put_hex(l, p + i, 1);
			put_c(l, i < 5 ? ':' : '"');
		}
		return;
	case FB_STRING: json_string(l, p, strnlen((const char *)p, len)); return;
	default:
		put_c(l, '"');
		put_hex(l, p, len);
		put_c(l, '"');
		return;
	}
}

/* Size of a field in libfixbuf's internal record layout. */
static size_t field_size(const fbInfoElement_t *ie)
{
	if (ie->type == FB_BASIC_LIST)
		return sizeof(fbBasicList_t);
	if (ie->type == FB_SUB_TMPL_LIST)
		return sizeof(fbSubTemplateList_t);
	if (ie->type == FB_SUB_TMPL_MULTI_LIST)
		return sizeof(fbSubTemplateMultiList_t);
	if (ie->len == FB_IE_VARLEN)
		return sizeof(fbVarfield_t);
	return ie->len;
}

static void plan_make(struct plan *pl, fbInfoModel_t *model, fbTemplate_t *tmpl)
{
	uint32_t n = fbTemplateCountElements(tmpl);
	size_t off = 0;

	g_free(pl->f);
	pl->f = g_new0(struct plan_field, n);
	pl->n = (int)n;
	for (uint32_t i = 0; i < n; i++) {
		const fbInfoElement_t *ie = fbTemplateGetIndexedIE(tmpl, i);
		const fbInfoElement_t *canon = fbInfoModelGetElementByID(model, ie->num, ie->ent);
		const char *name = canon ? canon->ref.name : NULL;
		struct plan_field *f = &pl->f[i];

		f->off = off;
		f->len = ie->len;
		f->type = ie->type;
		off += field_size(ie);
		if (name && !strcmp(name, "paddingOctets")) {
			f->kind = PF_SKIP;
			continue;
		}
		if (!name || name[0] == '_')
			snprintf(f->key, sizeof(f->key), ",\"e%" PRIu32 "_%u\":", ie->ent, ie->num);
		else
			snprintf(f->key, sizeof(f->key), ",\"%s\":", name);
		f->key_len = (uint16_t)strlen(f->key);
		if (ie->type == FB_BASIC_LIST || ie->type == FB_SUB_TMPL_LIST ||
		    ie->type == FB_SUB_TMPL_MULTI_LIST)
			f->kind = PF_NULL;
		/* an element named by RFC 5610 after its template came: use its type */
		else if (name && name[0] != '_')
			f->type = canon->type;
	}
	pl->gen = model_gen;
}

static void print_record(FILE *out, fbInfoModel_t *model, struct plan *pl, fbTemplate_t *tmpl,
			 uint16_t tid, uint32_t domain, const uint8_t *rec)
{
	static struct line l;

	if (pl->gen != model_gen)
		plan_make(pl, model, tmpl);
	l.len = 0;
	put_str(&l, "{\"template_id\":");
	put_u64(&l, tid);
	put_str(&l, ",\"observation_domain\":");
	put_u64(&l, domain);
	put_str(&l, fbTemplateGetOptionsScope(tmpl) ? ",\"set\":\"options\"" : ",\"set\":\"data\"");
	for (int i = 0; i < pl->n; i++) {
		const struct plan_field *f = &pl->f[i];

		if (f->kind == PF_SKIP)
			continue;
		put(&l, f->key, f->key_len);
		if (f->kind == PF_NULL)
			put(&l, "null", 4);
		else
			print_field(&l, f->type, f->len, rec + f->off);
	}
	put(&l, "}\n", 2);
	fwrite(l.p, 1, l.len, out);
}

static void print_type_record(FILE *out, uint16_t tid, uint32_t domain,
			      const fbInfoElementOptRec_t *tr)
{
	struct line l = { 0 };

	fprintf(out,
		"{\"template_id\":%u,\"observation_domain\":%" PRIu32 ",\"set\":\"options\","
		"\"privateEnterpriseNumber\":%" PRIu32 ",\"informationElementId\":%u,"
		"\"informationElementDataType\":%u,\"informationElementSemantics\":%u,"
		"\"informationElementUnits\":%u,\"informationElementName\":",
		tid, domain, tr->ie_pen, tr->ie_id, tr->ie_type, tr->ie_semantic, tr->ie_units);
	json_string(&l, tr->ie_name.buf, tr->ie_name.len);
	put_str(&l, ",\"informationElementDescription\":");
	json_string(&l, tr->ie_desc.buf, tr->ie_desc.len);
	put(&l, "}\n", 2);
	fwrite(l.p, 1, l.len, out);
	g_free(l.p);
}

static void usage(void)
{
	fprintf(stderr, "usage: xf-collect --udp PORT | --tcp PORT [--bind ADDR] [--count N]\n"
			"                  [--timeout SEC] [--out FILE] [--pen PEN]\n");
	exit(1);
}

/*
 * Read records from fbuf until it runs dry (UDP: end of the datagram; TCP:
 * end of the connection) or we are done.
 */
static void read_records(fBuf_t *fbuf, const struct options *o, uint8_t *rec)
{
	GError *err = NULL;

	while (!stop_reason && (!o->count || seen < o->count)) {
		uint16_t tid;
		fbTemplate_t *tmpl = fBufNextCollectionTemplate(fbuf, &tid, &err);
		fbSession_t *s = fBufGetSession(fbuf);
		fbTemplate_t *itmpl;
		size_t len = 65536;

		if (!tmpl)
			break;
		itmpl = fbSessionGetTemplate(s, TRUE, tid, NULL);
		if (!itmpl || !fBufSetInternalTemplate(fbuf, tid, &err) ||
		    !fBufNext(fbuf, rec, &len, &err))
			break;
		if (fbTemplateGetContext(tmpl) == &type_record_mark) {
			/* learn the element, print the type record */
			fbInfoElementOptRec_t *tr = (fbInfoElementOptRec_t *)rec;

			fbInfoElementAddOptRecElement(fbSessionGetInfoModel(s), tr);
			model_gen++; /* every plan looks its names up again */
			print_type_record(o->out, tid, fbSessionGetDomain(s), tr);
			continue;
		}
		if (!fbTemplateGetContext(tmpl))
			continue; /* its copy failed (logged in template_arrived) */
		print_record(o->out, fbSessionGetInfoModel(s), fbTemplateGetContext(tmpl), itmpl,
			     tid, fbSessionGetDomain(s), rec);
		if (!fbTemplateGetOptionsScope(tmpl))
			seen++;
	}
	if (err) {
		if (getenv("XF_COLLECT_DEBUG"))
			fprintf(stderr, "xf-collect: debug: %s (%d)\n", err->message, err->code);
		if (!stop_reason && !g_error_matches(err, FB_ERROR_DOMAIN, FB_ERROR_EOM) &&
		    !g_error_matches(err, FB_ERROR_DOMAIN, FB_ERROR_EOF) &&
		    !g_error_matches(err, FB_ERROR_DOMAIN, FB_ERROR_BUFSZ))
			fprintf(stderr, "xf-collect: %s\n", err->message);
		g_clear_error(&err);
	}
}

static fbSession_t *session_new(fbInfoModel_t *model)
{
	fbSession_t *session = fbSessionAlloc(model);

	fbSessionAddNewTemplateCallback(session, template_arrived, NULL);
	return session;
}

static int listen_socket(const struct options *o)
{
	struct addrinfo hints = {
		.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
		.ai_socktype = o->udp ? SOCK_DGRAM : SOCK_STREAM,
	};
	struct addrinfo *res;
	int fd, one = 1, rc;

	rc = getaddrinfo(o->bind_addr, o->port, &hints, &res);
	if (rc) {
		fprintf(stderr, "xf-collect: %s:%s: %s\n", o->bind_addr, o->port, gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, 0);
	/* restartable at once on the same port (tests kill and restart us) */
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) < 0 ||
	    (!o->udp && listen(fd, 4) < 0)) {
		fprintf(stderr, "xf-collect: listen on %s:%s: %s\n", o->bind_addr, o->port,
			strerror(errno));
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	return fd;
}

/*
 * UDP: each datagram is one IPFIX message, decoded from memory. The output
 * is written out whenever no datagram waits: a write per record would make
 * this collector lose datagrams at a rate nfcapd takes (its socket buffer
 * is the kernel's default, as a user's collector's).
 */
static void serve_udp(int fd, fbInfoModel_t *model, const struct options *o, uint8_t *rec)
{
	fBuf_t *fbuf = fBufAllocForCollection(session_new(model), NULL);
	uint8_t *msg = g_malloc(65536);

	fBufSetAutomaticMode(fbuf, FALSE);
	while (!stop_reason && (!o->count || seen < o->count)) {
		ssize_t n = recv(fd, msg, 65536, MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			fflush(o->out);
			n = recv(fd, msg, 65536, 0);
		}
		if (n < 0) {
			if (errno != EINTR)
				fprintf(stderr, "xf-collect: recv: %s\n", strerror(errno));
			continue;
		}
		fBufSetBuffer(fbuf, msg, n);
		read_records(fbuf, o, rec);
	}
	fBufFree(fbuf);
	g_free(msg);
}

/* TCP: one connection at a time, read as an IPFIX message stream. */
static void serve_tcp(int fd, fbInfoModel_t *model, const struct options *o, uint8_t *rec)
{
	while (!stop_reason && (!o->count || seen < o->count)) {
		int conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		FILE *fp;
		fBuf_t *fbuf;

		if (conn < 0) {
			if (errno != EINTR)
				fprintf(stderr, "xf-collect: accept: %s\n", strerror(errno));
			continue;
		}
		fprintf(stderr, "xf-collect: connection\n");
		fflush(o->out);
		fp = fdopen(conn, "r");
		fbuf = fBufAllocForCollection(session_new(model), fbCollectorAllocFP(NULL, fp));
		fBufSetAutomaticMode(fbuf, TRUE);
		read_records(fbuf, o, rec);
		fflush(o->out);
		fBufFree(fbuf);
		fclose(fp);
		fprintf(stderr, "xf-collect: connection closed\n");
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "udp", required_argument, NULL, 'u' },
		{ "tcp", required_argument, NULL, 't' },
		{ "bind", required_argument, NULL, 'b' },
		{ "count", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "out", required_argument, NULL, 'o' },
		{ "pen", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	struct options o = { .bind_addr = "127.0.0.1", .pen = 32473, .out = stdout };
	unsigned long timeout = 0;
	struct sigaction sa = { .sa_handler = on_signal };
	fbInfoModel_t *model;
	uint8_t *rec = g_malloc(65536);
	int opt, fd, rc = 0;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'u':
		case 't':
			if (o.port)
				usage();
			o.port = optarg;
			o.udp = opt == 'u';
			break;
		case 'b': o.bind_addr = optarg; break;
		case 'c': o.count = strtoul(optarg, NULL, 10); break;
		case 'T': timeout = strtoul(optarg, NULL, 10); break;
		case 'o':
			o.out = fopen(optarg, "w");
			if (!o.out) {
				perror(optarg);
				return 1;
			}
			break;
		case 'p': o.pen = strtoul(optarg, NULL, 10); break;
		default: usage();
		}
	}
	if (!o.port || optind != argc)
		usage();

	/* UDP writes out when idle (serve_udp); TCP line by line, as tests watch it */
	if (o.udp)
		setvbuf(o.out, NULL, _IOFBF, 1 << 20);
	else
		setvbuf(o.out, NULL, _IOLBF, 0);
	fd = listen_socket(&o);
	if (fd < 0)
		return 1;
	model = fbInfoModelAlloc();
	ie_registry_add_to_model(model, o.pen);
	sigaction(SIGALRM, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (timeout)
		alarm(timeout);
	fprintf(stderr, "xf-collect: listening on %s %s:%s\n", o.udp ? "udp" : "tcp", o.bind_addr,
		o.port);
	if (o.udp)
		serve_udp(fd, model, &o, rec);
	else
		serve_tcp(fd, model, &o, rec);
	close(fd);

	if (o.count && seen < o.count) {
		fprintf(stderr, "xf-collect: %s after %lu of %lu records\n",
			stop_reason == 1 ? "timeout" : "stopped", seen, o.count);
		rc = 2;
	}
	if (o.out != stdout)
		fclose(o.out);
	fbInfoModelFree(model);
	g_free(rec);
	return rc;
}
