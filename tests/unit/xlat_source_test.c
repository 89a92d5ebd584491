// SPDX-License-Identifier: GPL-2.0-only
/*
 * xlat_source: the source selection. XF_NAT_OFF gives no source, no error
 * and success;
 * XF_NAT_AUTO takes the first source of fentry, kprobe, conntrack that this
 * kernel allows; each source before it must then fail when forced, with an
 * error naming it, and the chosen one must succeed when forced. On the CI
 * host (tracing refused) that is conntrack; in the VM tests (run there by
 * tests/vm/nat-scenarios.sh) fentry. The translations themselves are checked
 * by the VM tests, which can make the kernel translate.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "xlat_source.h"

static int failures;

#define CHECK(cond, ...)                                                                \
	do {                                                                            \
		if (!(cond)) {                                                          \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                   \
			fputc('\n', stderr);                                            \
			failures++;                                                     \
		}                                                                       \
	} while (0)

static void no_event(void *ctx, const struct xf_xlat_event *ev)
{
}

static void no_nat_event(void *ctx, const struct nat_event *ev)
{
}

#define ALL_KINDS                                                    \
	((1U << XF_XLAT_KIND_CREATE) | (1U << XF_XLAT_KIND_DELETE) | \
	 (1U << XF_XLAT_KIND_PORTS_EXHAUSTED) | (1U << XF_XLAT_KIND_TABLE_FULL))

/*
 * The NAT event hooks of the BPF modes are attached only while wanted: the
 * event callback wants all four kinds, the destroy callback DELETE alone.
 * Conntrack mode delivers all four while the event callback is set.
 * all: the kernel has every hook (Debian's 6.1 and 6.12 do: the VM tests).
 */
static void check_event_hooks(enum xf_nat_hook mode, bool all)
{
	struct xlat_source *h;
	char err[1024];
	uint32_t kinds;

	if (xlat_source_open(&h, mode, no_event, NULL, err, sizeof(err)) < 0) {
		CHECK(0, "%s: %s", config_nat_hook_name(mode), err);
		return;
	}
	CHECK(xlat_source_nat_event_kinds(h) == 0, "%s: kinds 0x%x before any callback",
	      config_nat_hook_name(mode), xlat_source_nat_event_kinds(h));
	xlat_source_set_nat_event_cb(h, no_nat_event, NULL);
	kinds = xlat_source_nat_event_kinds(h);
	if (mode == XF_NAT_CONNTRACK)
		CHECK(kinds == ALL_KINDS, "conntrack: kinds 0x%x, want 0x%x", kinds, ALL_KINDS);
	else if (all)
		CHECK(kinds == ALL_KINDS, "%s: kinds 0x%x, want 0x%x", config_nat_hook_name(mode),
		      kinds, ALL_KINDS);
	CHECK(xlat_source_poll(h) >= 0, "poll");
	xlat_source_set_nat_event_cb(h, NULL, NULL);
	CHECK(xlat_source_nat_event_kinds(h) == 0, "%s: kinds 0x%x after the callback went",
	      config_nat_hook_name(mode), xlat_source_nat_event_kinds(h));
	xlat_source_set_destroy_cb(h, no_event, NULL);
	kinds = xlat_source_nat_event_kinds(h);
	if (mode != XF_NAT_CONNTRACK && all)
		CHECK(kinds == 1U << XF_XLAT_KIND_DELETE, "%s: destroy callback: kinds 0x%x",
		      config_nat_hook_name(mode), kinds);
	xlat_source_set_destroy_cb(h, NULL, NULL);
	CHECK(xlat_source_nat_event_kinds(h) == 0, "%s: kinds 0x%x without callbacks",
	      config_nat_hook_name(mode), xlat_source_nat_event_kinds(h));
	xlat_source_free(h);
}

/* Names come from config.c's table: the ones the log lines and the VM tests use. */
static void check_names(void)
{
	CHECK(!strcmp(config_nat_hook_name(XF_NAT_AUTO), "auto"), "auto");
	CHECK(!strcmp(config_nat_hook_name(XF_NAT_FENTRY), "fentry"), "fentry");
	CHECK(!strcmp(config_nat_hook_name(XF_NAT_KPROBE), "kprobe"), "kprobe");
	CHECK(!strcmp(config_nat_hook_name(XF_NAT_CONNTRACK), "conntrack"), "conntrack");
	CHECK(!strcmp(config_nat_hook_name(XF_NAT_OFF), "off"), "off");
}

static void check_off(void)
{
	struct xlat_source *h = (struct xlat_source *)&h; /* must be overwritten */
	char err[256] = "untouched";

	CHECK(xlat_source_open(&h, XF_NAT_OFF, no_event, NULL, err, sizeof(err)) == 0,
	      "off failed");
	CHECK(h == NULL, "off gave a source");
	CHECK(err[0] == '\0', "off set an error: %s", err);
	xlat_source_free(NULL);
}

/* Returns the mode AUTO chose, or XF_NAT_OFF when none works. */
static enum xf_nat_hook check_auto(void)
{
	static const enum xf_nat_hook order[] = { XF_NAT_FENTRY, XF_NAT_KPROBE, XF_NAT_CONNTRACK };
	char err[1024], prefix[32];
	enum xf_nat_hook chosen;
	uint64_t cnt[XF_CNT_MAX];
	struct xlat_conntrack_stats st;
	struct xlat_source *h;
	int rc;

	h = (struct xlat_source *)&h;
	rc = xlat_source_open(&h, XF_NAT_AUTO, no_event, NULL, err, sizeof(err));
	CHECK((rc == 0) == (h != NULL), "rc %d with source %p", rc, (void *)h);
	if (rc < 0) {
		CHECK(rc > -4096, "rc %d is no errno", rc);
		/* every source refused: the error lists all three, in order */
		CHECK(strstr(err, "fentry: ") == err, "%s", err);
		CHECK(strstr(err, "; kprobe: ") != NULL, "%s", err);
		CHECK(strstr(err, "; conntrack: ") != NULL, "%s", err);
		return XF_NAT_OFF;
	}
	chosen = xlat_source_mode(h);
	printf("auto chose %s\n", config_nat_hook_name(chosen));
	CHECK(chosen == XF_NAT_FENTRY || chosen == XF_NAT_KPROBE || chosen == XF_NAT_CONNTRACK,
	      "mode %d", chosen);
	CHECK(xlat_source_fd(h) >= 0, "fd %d", xlat_source_fd(h));
	CHECK(xlat_source_poll(h) >= 0, "poll");
	CHECK(xlat_source_read_counters(h, cnt) == 0, "counters");
	/* nothing but the calls counter may move without translations to see */
	CHECK(cnt[XF_CNT_PACKETS] == 0 && cnt[XF_CNT_XLAT_RB_LOST] == 0 &&
		      cnt[XF_CNT_XLAT_UNSUPPORTED] == 0,
	      "counters %llu %llu %llu", (unsigned long long)cnt[XF_CNT_PACKETS],
	      (unsigned long long)cnt[XF_CNT_XLAT_RB_LOST],
	      (unsigned long long)cnt[XF_CNT_XLAT_UNSUPPORTED]);
	if (chosen == XF_NAT_CONNTRACK)
		for (int i = 0; i < XF_CNT_MAX; i++)
			CHECK(cnt[i] == 0, "conntrack counter %d = %llu", i,
			      (unsigned long long)cnt[i]);
	/* the conntrack source's own statistics; no NAT events asked for: plain delivery */
	rc = xlat_source_conntrack_stats(h, &st);
	if (chosen == XF_NAT_CONNTRACK)
		CHECK(rc == 0 && !st.reliable && st.creates == 0 && st.stats_polls == 0 &&
			      st.table_max > 0,
		      "conntrack stats: rc %d reliable %d creates %llu polls %llu max %llu", rc,
		      st.reliable, (unsigned long long)st.creates,
		      (unsigned long long)st.stats_polls, (unsigned long long)st.table_max);
	else
		CHECK(rc == -EOPNOTSUPP, "conntrack stats of the kernel hook: rc %d", rc);
	xlat_source_free(h);

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		h = (struct xlat_source *)&h;
		rc = xlat_source_open(&h, order[i], no_event, NULL, err, sizeof(err));
		if (order[i] == chosen) {
			CHECK(rc == 0 && h != NULL, "forced %s failed: %s",
			      config_nat_hook_name(chosen), err);
			if (h)
				CHECK(xlat_source_mode(h) == chosen, "mode %d",
				      xlat_source_mode(h));
			xlat_source_free(h);
			break;
		}
		/* skipped by auto: forcing it fails, and the error says which */
		snprintf(prefix, sizeof(prefix), "%s: ", config_nat_hook_name(order[i]));
		CHECK(rc < 0 && rc > -4096, "forced %s: rc %d, but auto skipped it",
		      config_nat_hook_name(order[i]), rc);
		CHECK(h == NULL, "forced %s failed but left a source",
		      config_nat_hook_name(order[i]));
		CHECK(strncmp(err, prefix, strlen(prefix)) == 0 && strlen(err) > strlen(prefix),
		      "error \"%s\"", err);
		if (rc == 0)
			xlat_source_free(h);
	}
	return chosen;
}

int main(int argc, char **argv)
{
	const char *want = argc > 1 ? argv[1] : NULL;
	enum xf_nat_hook chosen;

	log_init(true, LOG_LEVEL_INFO, "xlat_source_test");
	check_names();
	check_off();
	if (geteuid() != 0) {
		printf("SKIP: the source selection needs root (BPF, conntrack netlink)\n");
		return failures ? 1 : 77;
	}
	chosen = check_auto();
	/* the VM tests know what the kernel offers: xlat_source_test fentry */
	if (want)
		CHECK(!strcmp(config_nat_hook_name(chosen), want), "auto chose %s, want %s",
		      config_nat_hook_name(chosen), want);
	/* the event hooks of what works here; with "fentry" (the VM) both BPF modes */
	if (chosen == XF_NAT_FENTRY) {
		check_event_hooks(XF_NAT_FENTRY, want != NULL);
		check_event_hooks(XF_NAT_KPROBE, want != NULL);
	} else if (chosen != XF_NAT_OFF) {
		check_event_hooks(chosen, false);
	}
	if (failures)
		printf("%d failures\n", failures);
	return failures ? 1 : 0;
}
