/*
 * Name rules: every pattern form, shExpMatch globs and their edge cases, each
 * precedence rule of SPEC 2.2 (deeper anchor, exact > glob > subtree/below,
 * domains over m365 at equal rank), the two Microsoft 'Routing with
 * ExpressRoute' tables, conflicts, malformed patterns, and a counted
 * workload showing lookup cost follows labels, not rules.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dns/dname.h"
#include "routing/ruleset.h"

enum { ACT_DEFAULT = 0, ACT_ER = 1, ACT_B = 2, ACT_C = 3 };

static rule_origin_t dom(uint32_t line)
{
	return (rule_origin_t){ .kind = RULE_ORIGIN_DOMAINS, .file = "routes.json",
				.line = line, .col = 5, .m365_set_id = -1 };
}

static rule_origin_t m365(int32_t set_id)
{
	return (rule_origin_t){ .kind = RULE_ORIGIN_M365, .file = "endpoints.json",
				.m365_set_id = set_id, .detail = "Exchange/Optimize" };
}

static void add_ok(ruleset_t *rs, const char *pattern, uint32_t action, rule_origin_t origin)
{
	char err[512];
	int ret = ruleset_add(rs, pattern, action, &origin, err, sizeof(err));
	if (ret != 0)
		fail_msg("adding \"%s\": %d %s", pattern, ret, err);
}

static const rule_t *find(const ruleset_t *rs, const char *name)
{
	uint8_t wire[ER_DNAME_MAX];
	assert_true(dname_from_text(name, wire) > 0);
	return ruleset_lookup(rs, wire);
}

/* The deciding action, or -1 when no rule matches. */
static long act(const ruleset_t *rs, const char *name)
{
	const rule_t *r = find(rs, name);
	return r ? (long)r->action : -1;
}

static size_t cost(const ruleset_t *rs, const char *name)
{
	uint8_t wire[ER_DNAME_MAX];
	assert_true(dname_from_text(name, wire) > 0);
	return ruleset_lookup_cost(rs, wire);
}

static void test_glob_match(void **state)
{
	(void)state;
	assert_true(glob_match("*cdn.onenote.net", "cdn.onenote.net"));
	assert_true(glob_match("*cdn.onenote.net", "xcdn.onenote.net"));
	assert_true(glob_match("*cdn.onenote.net", "a.b.cdn.onenote.net"));
	assert_false(glob_match("*cdn.onenote.net", "onenote.net"));
	assert_false(glob_match("*cdn.onenote.net", "cdn.onenote.net.evil.com"));
	assert_true(glob_match("autodiscover.*.onmicrosoft.com",
			       "autodiscover.contoso.onmicrosoft.com"));
	assert_true(glob_match("autodiscover.*.onmicrosoft.com",
			       "autodiscover.a.b.onmicrosoft.com"));
	assert_false(glob_match("autodiscover.*.onmicrosoft.com", "autodiscover.onmicrosoft.com"));
	assert_false(glob_match("autodiscover.*.onmicrosoft.com", "x.contoso.onmicrosoft.com"));
	assert_true(glob_match("*-files.sharepoint.com", "contoso-files.sharepoint.com"));
	assert_true(glob_match("*-files.sharepoint.com", "-files.sharepoint.com"));
	assert_false(glob_match("*-files.sharepoint.com", "files.sharepoint.com"));
	/* Case-insensitive on both sides. */
	assert_true(glob_match("*CDN.OneNote.net", "XCdn.onenote.NET"));
	/* Stars at the ends, doubled stars, empty strings. */
	assert_true(glob_match("*", ""));
	assert_true(glob_match("*", "anything.at.all"));
	assert_true(glob_match("", ""));
	assert_false(glob_match("", "a"));
	assert_false(glob_match("a", ""));
	assert_true(glob_match("abc*", "abc"));
	assert_true(glob_match("a**c", "ac"));
	assert_true(glob_match("a*b*c", "aXbYc"));
	assert_false(glob_match("a*b*c", "acb"));
	assert_true(glob_match("*a", "ba"));
	assert_false(glob_match("*a", "ab"));
	/* Needs backtracking past a false start. */
	assert_true(glob_match("*ab*ab", "xabyabab"));
	assert_true(glob_match("*aab", "aaaab"));
	/* No '?' or classes: literal characters. */
	assert_false(glob_match("a?c", "abc"));
	assert_true(glob_match("a?c", "a?c"));
}

/* Exponential for a recursive matcher; quadratic at worst here. */
static void test_glob_pathological(void **state)
{
	(void)state;
	char text[4097];
	memset(text, 'a', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	assert_false(glob_match("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", text));
	assert_true(glob_match("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*", text));
}

static void test_forms(void **state)
{
	(void)state;
	ruleset_t *rs = ruleset_new();
	assert_non_null(rs);
	add_ok(rs, "example.com", 1, dom(1));
	add_ok(rs, "*.example.org", 2, dom(2));
	add_ok(rs, "=host.example.net", 3, dom(3));
	add_ok(rs, "*cdn.example.io", 4, m365(42));

	assert_int_equal(act(rs, "example.com"), 1);
	assert_int_equal(act(rs, "www.example.com"), 1);
	assert_int_equal(act(rs, "a.b.c.example.com"), 1);
	assert_int_equal(act(rs, "notexample.com"), -1);
	assert_int_equal(act(rs, "com"), -1);

	assert_int_equal(act(rs, "example.org"), -1);
	assert_int_equal(act(rs, "www.example.org"), 2);
	assert_int_equal(act(rs, "a.b.example.org"), 2);

	assert_int_equal(act(rs, "host.example.net"), 3);
	assert_int_equal(act(rs, "a.host.example.net"), -1);
	assert_int_equal(act(rs, "example.net"), -1);

	assert_int_equal(act(rs, "cdn.example.io"), 4);
	assert_int_equal(act(rs, "x.ycdn.example.io"), 4);
	assert_int_equal(act(rs, "example.io"), -1);

	const rule_t *r = find(rs, "host.example.net");
	assert_int_equal(r->kind, RULE_EXACT);
	assert_string_equal(r->pattern, "=host.example.net");
	assert_string_equal(r->origin.file, "routes.json");
	assert_int_equal(r->origin.line, 3);
	r = find(rs, "a.cdn.example.io");
	assert_int_equal(r->kind, RULE_GLOB);
	assert_int_equal(r->origin.kind, RULE_ORIGIN_M365);
	assert_int_equal(r->origin.m365_set_id, 42);
	assert_string_equal(r->origin.detail, "Exchange/Optimize");
	assert_int_equal(find(rs, "www.example.org")->kind, RULE_BELOW);
	assert_int_equal(find(rs, "example.com")->kind, RULE_SUBTREE);

	assert_int_equal(ruleset_count(rs), 4);
	assert_int_equal(ruleset_count_kind(rs, RULE_SUBTREE), 1);
	assert_int_equal(ruleset_count_kind(rs, RULE_BELOW), 1);
	assert_int_equal(ruleset_count_kind(rs, RULE_EXACT), 1);
	assert_int_equal(ruleset_count_kind(rs, RULE_GLOB), 1);
	ruleset_free(rs);
}

static void test_microsoft_globs(void **state)
{
	(void)state;
	ruleset_t *rs = ruleset_new();
	add_ok(rs, "*cdn.onenote.net", ACT_ER, m365(1));
	add_ok(rs, "autodiscover.*.onmicrosoft.com", ACT_ER, m365(2));
	add_ok(rs, "*-files.sharepoint.com", ACT_ER, m365(3));

	assert_int_equal(act(rs, "cdn.onenote.net"), ACT_ER);
	assert_int_equal(act(rs, "xcdn.onenote.net"), ACT_ER);
	assert_int_equal(act(rs, "onenote.net"), -1);
	assert_int_equal(act(rs, "www.onenote.net"), -1);
	assert_int_equal(act(rs, "autodiscover.contoso.onmicrosoft.com"), ACT_ER);
	assert_int_equal(act(rs, "autodiscover.a.b.onmicrosoft.com"), ACT_ER);
	assert_int_equal(act(rs, "autodiscover.onmicrosoft.com"), -1);
	assert_int_equal(act(rs, "contoso.onmicrosoft.com"), -1);
	assert_int_equal(act(rs, "contoso-files.sharepoint.com"), ACT_ER);
	assert_int_equal(act(rs, "contoso-my.sharepoint.com"), -1);
	assert_int_equal(act(rs, "sharepoint.com"), -1);
	ruleset_free(rs);
}

static void test_case_insensitive(void **state)
{
	(void)state;
	ruleset_t *rs = ruleset_new();
	add_ok(rs, "WWW.Example.COM.", 1, dom(1));
	add_ok(rs, "*CDN.OneNote.NET", 2, dom(2));
	add_ok(rs, "=Host.Example.ORG", 3, dom(3));

	assert_int_equal(act(rs, "www.example.com"), 1);
	assert_int_equal(act(rs, "A.WwW.eXaMpLe.CoM."), 1);
	assert_int_equal(act(rs, "XCDN.onenote.net"), 2);
	assert_int_equal(act(rs, "HOST.EXAMPLE.ORG"), 3);
	assert_string_equal(find(rs, "www.EXAMPLE.com")->pattern, "www.example.com");
	assert_string_equal(find(rs, "xcdn.onenote.net")->pattern, "*cdn.onenote.net");
	/* The same pattern in another case is the same rule. */
	add_ok(rs, "www.example.com", 1, dom(4));
	assert_int_equal(ruleset_count(rs), 3);
	ruleset_free(rs);
}

static void test_deeper_anchor_wins(void **state)
{
	(void)state;
	ruleset_t *rs = ruleset_new();
	add_ok(rs, "example.com", 1, dom(1));
	add_ok(rs, "*.a.example.com", 2, dom(2));
	add_ok(rs, "=deep.b.example.com", 3, dom(3));
	add_ok(rs, "*x.c.example.com", 4, dom(4));

	assert_int_equal(act(rs, "x.a.example.com"), 2);
	/* "*.a" does not cover a itself: the shallower anchor decides. */
	assert_int_equal(act(rs, "a.example.com"), 1);
	assert_int_equal(act(rs, "deep.b.example.com"), 3);
	assert_int_equal(act(rs, "x.deep.b.example.com"), 1);
	assert_int_equal(act(rs, "yx.c.example.com"), 4);
	/* Anchor c.example.com has a glob, but it does not match: go on. */
	assert_int_equal(act(rs, "y.c.example.com"), 1);
	ruleset_free(rs);
}

static void test_rank_at_one_anchor(void **state)
{
	(void)state;
	ruleset_t *rs = ruleset_new();
	add_ok(rs, "onenote.net", 1, dom(1));
	add_ok(rs, "*cdn.onenote.net", 2, dom(2));
	add_ok(rs, "=onenote.net", 3, dom(3));

	assert_int_equal(act(rs, "onenote.net"), 3); /* exact > subtree */
	assert_int_equal(act(rs, "xcdn.onenote.net"), 2); /* glob > subtree */
	assert_int_equal(act(rs, "www.onenote.net"), 1);
	/* An exact rule for the glob's name sits at a deeper anchor. */
	add_ok(rs, "=cdn.onenote.net", 4, dom(4));
	assert_int_equal(act(rs, "cdn.onenote.net"), 4);
	assert_int_equal(act(rs, "a.cdn.onenote.net"), 2);
	ruleset_free(rs);

	/* glob > "*." at the same anchor */
	rs = ruleset_new();
	add_ok(rs, "*.sharepoint.com", 1, dom(1));
	add_ok(rs, "*-files.sharepoint.com", 2, dom(2));
	assert_int_equal(act(rs, "contoso-files.sharepoint.com"), 2);
	assert_int_equal(act(rs, "contoso.sharepoint.com"), 1);
	assert_int_equal(act(rs, "sharepoint.com"), -1);
	ruleset_free(rs);
}

static void test_best_glob(void **state)
{
	(void)state;
	ruleset_t *rs = ruleset_new();
	add_ok(rs, "*x*.example.com", 1, dom(1));
	add_ok(rs, "*xy*.example.com", 2, dom(2));
	/* Most literal characters wins, whatever the order of adding. */
	assert_int_equal(act(rs, "axyb.example.com"), 2);
	assert_int_equal(act(rs, "axb.example.com"), 1);
	/* Equal literals: the earliest added. */
	add_ok(rs, "a*.example.org", 3, dom(3));
	add_ok(rs, "*b.example.org", 4, dom(4));
	assert_int_equal(act(rs, "ab.example.org"), 3);
	/* Equal literals, domains over m365 even when m365 came first. */
	add_ok(rs, "a*.example.net", 5, m365(1));
	add_ok(rs, "*b.example.net", 6, dom(5));
	assert_int_equal(act(rs, "ab.example.net"), 6);
	assert_int_equal(act(rs, "ac.example.net"), 5);
	ruleset_free(rs);
}

static void test_domains_beats_m365(void **state)
{
	(void)state;
	ruleset_t *rs = ruleset_new();
	/* m365 first, so insertion order cannot be what decides. */
	add_ok(rs, "*.office.com", 1, m365(10));
	add_ok(rs, "*.office.com", 2, dom(1));
	add_ok(rs, "=outlook.com", 1, m365(11));
	add_ok(rs, "=outlook.com", 2, dom(2));
	add_ok(rs, "*cdn.live.com", 1, m365(12));
	add_ok(rs, "*cdn.live.com", 2, dom(3));
	assert_int_equal(ruleset_count(rs), 6);

	assert_int_equal(act(rs, "www.office.com"), 2);
	assert_int_equal(act(rs, "outlook.com"), 2);
	assert_int_equal(act(rs, "xcdn.live.com"), 2);
	assert_int_equal(find(rs, "xcdn.live.com")->origin.kind, RULE_ORIGIN_DOMAINS);

	/* A domains subtree beats an m365 "*." at the same anchor too. */
	add_ok(rs, "*.example.com", 1, m365(13));
	add_ok(rs, "example.com", 2, dom(4));
	assert_int_equal(act(rs, "www.example.com"), 2);
	assert_int_equal(act(rs, "example.com"), 2);

	/* A deeper m365 rule beats a shallower domains rule. */
	add_ok(rs, "microsoft.com", ACT_DEFAULT, dom(5));
	add_ok(rs, "=login.microsoft.com", ACT_ER, m365(14));
	add_ok(rs, "*.graph.microsoft.com", ACT_ER, m365(15));
	assert_int_equal(act(rs, "login.microsoft.com"), ACT_ER);
	assert_int_equal(act(rs, "v1.graph.microsoft.com"), ACT_ER);
	assert_int_equal(act(rs, "graph.microsoft.com"), ACT_DEFAULT);
	assert_int_equal(act(rs, "www.microsoft.com"), ACT_DEFAULT);
	ruleset_free(rs);
}

/* ruleset_rule_text: the source's own text when the origin carries one
 * (an m365 URL), else the pattern in the domains syntax, '=' included. */
static void test_rule_text(void **state)
{
	(void)state;
	ruleset_t *rs = ruleset_new();
	rule_origin_t o = m365(12);
	o.text = "Teams.Microsoft.com";
	add_ok(rs, "=teams.microsoft.com", ACT_ER, o);
	add_ok(rs, "=host.example.com", ACT_B, dom(1));
	add_ok(rs, "*.below.example.com", ACT_B, dom(2));
	const rule_t *r = find(rs, "teams.microsoft.com");
	assert_string_equal(r->pattern, "=teams.microsoft.com"); /* matching syntax kept */
	assert_string_equal(ruleset_rule_text(r), "Teams.Microsoft.com");
	assert_string_equal(ruleset_rule_text(find(rs, "host.example.com")), "=host.example.com");
	assert_string_equal(ruleset_rule_text(find(rs, "a.below.example.com")),
			    "*.below.example.com");
	ruleset_free(rs);
}

/* ExpressRoute wildcard with an internet-only name beneath it. */
static void test_officeapps_exception(void **state)
{
	(void)state;
	ruleset_t *rs = ruleset_new();
	add_ok(rs, "*.officeapps.live.com", ACT_ER, m365(1));
	add_ok(rs, "=cdn.odc.officeapps.live.com", ACT_DEFAULT, m365(2));

	assert_int_equal(act(rs, "cdn.odc.officeapps.live.com"), ACT_DEFAULT);
	assert_int_equal(act(rs, "excel.officeapps.live.com"), ACT_ER);
	assert_int_equal(act(rs, "odc.officeapps.live.com"), ACT_ER);
	assert_int_equal(act(rs, "x.cdn.odc.officeapps.live.com"), ACT_ER);
	assert_int_equal(act(rs, "officeapps.live.com"), -1);
	ruleset_free(rs);
}

/* Internet-only wildcard with ExpressRoute names beneath it. */
static void test_office_com_table(void **state)
{
	(void)state;
	ruleset_t *rs = ruleset_new();
	add_ok(rs, "*.office.com", ACT_B, dom(1));
	add_ok(rs, "outlook.office.com", ACT_ER, m365(1));
	add_ok(rs, "*.outlook.office.com", ACT_ER, m365(1));

	assert_int_equal(act(rs, "outlook.office.com"), ACT_ER);
	assert_int_equal(act(rs, "attachments.outlook.office.com"), ACT_ER);
	assert_int_equal(act(rs, "www.office.com"), ACT_B);
	assert_int_equal(act(rs, "outlook2.office.com"), ACT_B);
	assert_int_equal(act(rs, "office.com"), -1);
	ruleset_free(rs);
}

static void expect_conflict(ruleset_t *rs, const char *pattern, uint32_t action,
			    const char *place)
{
	char err[512];
	rule_origin_t o = dom(99);
	assert_int_equal(ruleset_add(rs, pattern, action, &o, err, sizeof(err)), -EEXIST);
	if (!strstr(err, place))
		fail_msg("\"%s\": message \"%s\" does not name %s", pattern, err, place);
}

static void test_conflicts(void **state)
{
	(void)state;
	ruleset_t *rs = ruleset_new();
	add_ok(rs, "example.com", 1, dom(3));
	expect_conflict(rs, "Example.COM.", 2, "\"example.com\" at routes.json:3:5");
	expect_conflict(rs, "*.example.com", 2, "\"example.com\" at routes.json:3:5");
	add_ok(rs, "*.example.org", 1, dom(7));
	expect_conflict(rs, "example.org", 2, "\"*.example.org\" at routes.json:7:5");
	add_ok(rs, "*cdn.example.net", 1, dom(8));
	expect_conflict(rs, "*CDN.example.net", 2, "\"*cdn.example.net\" at routes.json:8:5");
	add_ok(rs, "=h.example.net", 1, dom(9));
	expect_conflict(rs, "=h.example.net.", 2, "\"=h.example.net\" at routes.json:9:5");
	assert_int_equal(ruleset_count(rs), 4);

	/* Same action: accepted, not duplicated. */
	add_ok(rs, "example.com", 1, dom(10));
	add_ok(rs, "*.example.com", 1, dom(11));
	add_ok(rs, "*cdn.example.net", 1, dom(12));
	assert_int_equal(ruleset_count(rs), 5);
	/* An exact exception under a subtree is no conflict. */
	add_ok(rs, "=www.example.com", 2, dom(13));
	add_ok(rs, "=example.com", 2, dom(14));
	assert_int_equal(act(rs, "example.com"), 2);

	/* domains vs m365: no conflict, domains wins. */
	add_ok(rs, "example.com", 3, m365(1));
	assert_int_equal(act(rs, "www2.example.com"), 1);
	/* m365 vs m365: the first wins silently. */
	add_ok(rs, "*.m.example", 4, m365(2));
	add_ok(rs, "*.m.example", 5, m365(3));
	add_ok(rs, "m.example", 6, m365(4));
	assert_int_equal(act(rs, "x.m.example"), 4);
	assert_int_equal(find(rs, "x.m.example")->origin.m365_set_id, 2);
	assert_int_equal(ruleset_count(rs), 10);

	/* Unknown places still produce a message. */
	char err[512];
	rule_origin_t o = { .kind = RULE_ORIGIN_DOMAINS, .m365_set_id = -1 };
	assert_int_equal(ruleset_add(rs, "x.y", 1, &o, err, sizeof(err)), 0);
	assert_int_equal(ruleset_add(rs, "x.y", 2, &o, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "\"x.y\""));
	ruleset_free(rs);
}

static void test_malformed(void **state)
{
	(void)state;
	char long_label[80], long_name[300], ok_name[300];
	memset(long_label, 'a', 64);
	strcpy(long_label + 64, ".com");
	/* 63 labels of "abc." + "com" = 255 characters: wire form 257 bytes. */
	for (int i = 0; i < 63; i++)
		memcpy(long_name + 4 * i, "abc.", 4);
	strcpy(long_name + 252, "com");
	/* 63 labels of "abc." + "c" = 253 characters: the longest legal name. */
	for (int i = 0; i < 63; i++)
		memcpy(ok_name + 4 * i, "abc.", 4);
	strcpy(ok_name + 252, "c");

	const char *const bad[] = {
		"", ".", "..", "a..b", ".a.com", "*", "**", "foo*", "x.*", "*.*", "*.", "=",
		"=*.x.com", "=a*.x.com", "a b.com", "a\tb.com", " x.com", "x.com ", "\\.com",
		"caf\xc3\xa9.com", long_label, long_name, "*..com", "*.x..com",
	};
	ruleset_t *rs = ruleset_new();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char err[512] = "";
		rule_origin_t o = dom(1);
		if (ruleset_add(rs, bad[i], 1, &o, err, sizeof(err)) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_true(strlen(err) > 0);
	}
	assert_int_equal(ruleset_count(rs), 0);
	rule_origin_t o = dom(1);
	assert_int_equal(ruleset_add(rs, NULL, 1, &o, NULL, 0), -EINVAL);
	o.kind = (rule_origin_kind_t)7;
	assert_int_equal(ruleset_add(rs, "x.com", 1, &o, NULL, 0), -EINVAL);

	/* Limits themselves are fine; so is a glob anchored at a TLD. */
	long_label[63] = '\0';
	add_ok(rs, long_label, 1, dom(2));
	add_ok(rs, ok_name, 2, dom(3));
	add_ok(rs, "*x.com", 3, dom(4));
	add_ok(rs, "a.*.b", 4, dom(5));
	assert_int_equal(act(rs, ok_name), 2);
	assert_int_equal(act(rs, "yx.com"), 3);
	assert_int_equal(act(rs, "a.q.b"), 4);
	ruleset_free(rs);
}

static void test_odd_names(void **state)
{
	(void)state;
	ruleset_t *rs = ruleset_new();
	add_ok(rs, "com", 1, dom(1));
	uint8_t root[1] = { 0 };
	assert_null(ruleset_lookup(rs, root));
	assert_int_equal(ruleset_lookup_cost(rs, root), 0);
	/* A compression pointer is not a name. */
	const uint8_t pointer[] = { 3, 'w', 'w', 'w', 0xc0, 0x0c };
	assert_null(ruleset_lookup(rs, pointer));
	/* Binary label bytes are escaped in the glob text; nothing breaks. */
	add_ok(rs, "*z.org", 2, dom(2));
	const uint8_t bin[] = { 2, 0x00, 'z', 3, 'o', 'r', 'g', 0 };
	assert_int_equal(ruleset_lookup(rs, bin)->action, 2);
	assert_null(ruleset_lookup(NULL, root));
	ruleset_free(rs);
	ruleset_free(NULL);
}

/* Rule pointers handed out stay valid while the table grows. */
static void test_pointers_survive_growth(void **state)
{
	(void)state;
	ruleset_t *rs = ruleset_new();
	char pat[64];
	add_ok(rs, "keep.example", 7, dom(1));
	const rule_t *before = find(rs, "keep.example");
	for (int i = 0; i < 5000; i++) {
		snprintf(pat, sizeof(pat), "n%d.example", i);
		add_ok(rs, pat, 1, dom(2));
	}
	assert_ptr_equal(find(rs, "keep.example"), before);
	assert_string_equal(before->pattern, "keep.example");
	ruleset_free(rs);
}

#define WORKLOAD_RULES 100000

static void generate_pattern(int i, char *buf, size_t len)
{
	switch (i % 4) {
	case 0:
		snprintf(buf, len, "host%d.zone%d.com", i, i % 997);
		break;
	case 1:
		snprintf(buf, len, "*.svc%d.zone%d.net", i, i % 997);
		break;
	case 2:
		snprintf(buf, len, "=h%d.zone%d.org", i, i % 997);
		break;
	default:
		snprintf(buf, len, "*cdn%d.zone%d.io", i, i % 997);
		break;
	}
}

static ruleset_t *load_rules(int n)
{
	ruleset_t *rs = ruleset_new();
	char pat[128];
	assert_non_null(rs);
	for (int i = 0; i < n; i++) {
		generate_pattern(i, pat, sizeof(pat));
		add_ok(rs, pat, (uint32_t)(i % 5), i % 3 ? dom((uint32_t)i) : m365(i));
	}
	return rs;
}

/* "l1.l2. ... .lk" plus a suffix: unmatched names and names under rules. */
static void make_name(char *buf, size_t len, int k, const char *suffix)
{
	size_t o = 0;
	for (int i = 0; i < k; i++)
		o += (size_t)snprintf(buf + o, len - o, "l%d.", i);
	snprintf(buf + o, len - o, "%s", suffix);
}

static void test_workload(void **state)
{
	(void)state;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ruleset_t *big = load_rules(WORKLOAD_RULES);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("loaded %d rules in %.1f ms\n", WORKLOAD_RULES,
	       (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	ruleset_t *small = load_rules(10);
	assert_int_equal(ruleset_count(big), WORKLOAD_RULES);
	assert_int_equal(ruleset_count_kind(big, RULE_GLOB), WORKLOAD_RULES / 4);

	/* Spot checks that every form is found among 100k. */
	assert_int_equal(act(big, "a.host40000.zone120.com"), 40000 % 5);
	assert_int_equal(act(big, "x.y.svc40001.zone121.net"), 40001 % 5);
	assert_int_equal(act(big, "h40002.zone122.org"), 40002 % 5);
	assert_int_equal(act(big, "a.h40002.zone122.org"), -1);
	assert_int_equal(act(big, "xcdn40003.zone123.io"), 40003 % 5);
	assert_int_equal(act(big, "svc40001.zone121.net"), -1);

	char name[ER_DNAME_TEXT_MAX];
	static const char *const suffixes[] = { "nomatch.test", "host8.zone8.com",
						"svc9.zone9.net", "zone3.io" };
	for (int k = 1; k <= 40; k++) {
		for (size_t s = 0; s < sizeof(suffixes) / sizeof(suffixes[0]); s++) {
			make_name(name, sizeof(name), k, suffixes[s]);
			size_t labels = (size_t)k + (s == 0 ? 2 : 3);
			size_t c_big = cost(big, name), c_small = cost(small, name);
			assert_true(c_big <= labels + 1);
			assert_true(c_small <= labels + 1);
			assert_int_equal(c_big, c_small);
		}
	}
	/* Unmatched names probe every label exactly once. */
	assert_int_equal(cost(big, "a.b.c.d.nomatch.test"), 6);
	ruleset_free(small);
	ruleset_free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_glob_match),
		cmocka_unit_test(test_glob_pathological),
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_microsoft_globs),
		cmocka_unit_test(test_case_insensitive),
		cmocka_unit_test(test_deeper_anchor_wins),
		cmocka_unit_test(test_rank_at_one_anchor),
		cmocka_unit_test(test_best_glob),
		cmocka_unit_test(test_domains_beats_m365),
		cmocka_unit_test(test_rule_text),
		cmocka_unit_test(test_officeapps_exception),
		cmocka_unit_test(test_office_com_table),
		cmocka_unit_test(test_conflicts),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_odd_names),
		cmocka_unit_test(test_pointers_survive_growth),
		cmocka_unit_test(test_workload),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
