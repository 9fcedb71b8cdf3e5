/*
 * Microsoft 365 endpoint import (routing/m365*.c): every URL shape, each
 * filter, exceptions computed from the data, precedence against operator
 * (domains) rules, URLs flagged both ways, malformed files, the diff, and
 * the real Worldwide lists from ../shared/data (skipped when they are not
 * there, failed when CI is set: tests/unit/real_data.h).
 *
 * Fixture tests/fixtures/m365/small.json, default filter: sets 1, 2, 31, 12,
 * 46, 99 (an unknown service area) and 100 (no URLs) are selected; 8, 35 and
 * 91 are not. Expected: 10 rules (exact 4, *. 4, glob 2), 4 exceptions, 1 URL
 * flagged both ways (*.outlook.example.com: set 1 and set 8).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dns/dname.h"
#include "routing/m365.h"
#include "routing/pac.h"
#include "routing/ruleset.h"
#include "real_data.h"

enum { ACT_DEFAULT = 0, ACT_ER = 1, ACT_OPERATOR = 2 };

#define FIXTURE(name) ERDNS_FIXTURES "/m365/" name
#define REAL_2026     ERDNS_FIXTURES "/../../../shared/data/m365-endpoints-worldwide.json"
#define REAL_2022                                                                                  \
	ERDNS_FIXTURES "/../../../shared/data/m365-endpoints-worldwide-circa2022-with-ipv6.json"

/* A loaded list, its ruleset and its import. */
struct fx {
	m365_list_t *list;
	ruleset_t *rs;
	m365_import_t *imp;
};

static void fx_load(struct fx *f, const char *path)
{
	char err[512];
	memset(f, 0, sizeof(*f));
	int rc = m365_list_load(path, &f->list, err, sizeof(err));
	if (rc != 0)
		fail_msg("loading %s: %s", path, err);
	f->rs = ruleset_new();
	assert_non_null(f->rs);
}

static void fx_import(struct fx *f, m365_filter_t filter)
{
	char err[512];
	m365_import_args_t args = {.list = f->list,
				   .filter = filter,
				   .rules = f->rs,
				   .action = ACT_ER,
				   .default_action = ACT_DEFAULT};
	int rc = m365_import(&args, &f->imp, err, sizeof(err));
	if (rc != 0)
		fail_msg("import: %s", err);
}

static void fx_free(struct fx *f)
{
	ruleset_free(f->rs); /* before the import: its rules borrow the strings */
	m365_import_free(f->imp);
	m365_list_free(f->list);
}

static const rule_t *find(const ruleset_t *rs, const char *name)
{
	uint8_t wire[ER_DNAME_MAX];
	assert_true(dname_from_text(name, wire) > 0);
	return ruleset_lookup(rs, wire);
}

/* The deciding action, ACT_DEFAULT when no rule matches. */
static long act(const ruleset_t *rs, const char *name)
{
	const rule_t *r = find(rs, name);
	return r ? (long)r->action : ACT_DEFAULT;
}

/* ---- shapes ---- */

static void test_url_shapes(void **state)
{
	(void)state;
	char p[ER_DNAME_TEXT_MAX];
	assert_int_equal(m365_url_pattern("outlook.office.com", p, sizeof(p)), RULE_EXACT);
	assert_string_equal(p, "=outlook.office.com");
	assert_int_equal(m365_url_pattern("*.outlook.office.com", p, sizeof(p)), RULE_BELOW);
	assert_string_equal(p, "*.outlook.office.com");
	assert_int_equal(m365_url_pattern("*cdn.onenote.net", p, sizeof(p)), RULE_GLOB);
	assert_int_equal(m365_url_pattern("autodiscover.*.onmicrosoft.com", p, sizeof(p)),
			 RULE_GLOB);
	assert_int_equal(m365_url_pattern("*-files.sharepoint.com", p, sizeof(p)), RULE_GLOB);
	assert_int_equal(m365_url_pattern("*.*.x.com", p, sizeof(p)), RULE_GLOB);

	m365_url_probe("outlook.office.com", p, sizeof(p));
	assert_string_equal(p, "outlook.office.com");
	m365_url_probe("*.outlook.office.com", p, sizeof(p));
	assert_string_equal(p, "probe.outlook.office.com");
	m365_url_probe("*cdn.onenote.net", p, sizeof(p));
	assert_string_equal(p, "probecdn.onenote.net");
	m365_url_probe("autodiscover.*.onmicrosoft.com", p, sizeof(p));
	assert_string_equal(p, "autodiscover.probe.onmicrosoft.com");
	m365_url_probe("*-files.sharepoint.com", p, sizeof(p));
	assert_string_equal(p, "probe-files.sharepoint.com");
}

static void test_parse_fixture(void **state)
{
	(void)state;
	struct fx f;
	fx_load(&f, FIXTURE("small.json"));
	assert_int_equal(m365_list_count(f.list), 10);
	const m365_set_t *s = m365_list_set(f.list, 0);
	assert_int_equal(s->id, 1);
	assert_string_equal(s->area, "Exchange");
	assert_int_equal(s->area_bit, M365_AREA_EXCHANGE);
	assert_int_equal(s->category_bit, M365_CAT_OPTIMIZE);
	assert_true(s->is_expressroute && s->is_required);
	assert_int_equal(s->n_urls, 2);
	assert_string_equal(s->urls[1].text, "*.outlook.example.com");
	assert_int_equal(s->urls[1].line, 6);
	assert_int_equal(m365_list_set(f.list, 8)->area_bit, M365_AREA_OTHER); /* "Viva" */
	assert_int_equal(m365_list_set(f.list, 9)->n_urls, 0);
	assert_null(m365_list_set(f.list, 10));
	fx_free(&f);
}

static void test_default_import_shapes(void **state)
{
	(void)state;
	struct fx f;
	fx_load(&f, FIXTURE("small.json"));
	fx_import(&f, ER_M365_FILTER_DEFAULT);
	const m365_report_t *r = m365_import_report(f.imp);
	assert_int_equal(r->sets_read, 10);
	assert_int_equal(r->sets_selected, 7);
	assert_int_equal(r->rules_exact, 4);
	assert_int_equal(r->rules_below, 4);
	assert_int_equal(r->rules_glob, 2);
	assert_int_equal(r->exceptions, 4);
	assert_int_equal(r->both_ways, 1);

	/* host -> that name only */
	assert_int_equal(act(f.rs, "outlook.example.com"), ACT_ER);
	assert_int_equal(act(f.rs, "smtp.example.com"), ACT_ER);
	assert_int_equal(act(f.rs, "x.smtp.example.com"), ACT_DEFAULT);
	/* *.x -> strictly below, never x itself */
	assert_int_equal(act(f.rs, "a.b.outlook.example.com"), ACT_ER);
	assert_int_equal(act(f.rs, "sharepoint.example"), ACT_DEFAULT);
	assert_int_equal(act(f.rs, "contoso.sharepoint.example"), ACT_ER);
	/* '*' inside a label: any run, dots included */
	assert_int_equal(act(f.rs, "cdn.onenote.example.org"), ACT_ER);
	assert_int_equal(act(f.rs, "a.b-cdn.onenote.example.org"), ACT_ER);
	assert_int_equal(act(f.rs, "onenote.example.org"), ACT_DEFAULT);
	assert_int_equal(act(f.rs, "contoso-files.sharepoint.example"), ACT_ER);
	/* unselected sets route by default, unless an imported rule catches them */
	assert_int_equal(act(f.rs, "www.example.com"), ACT_DEFAULT);
	assert_int_equal(act(f.rs, "autodiscover.contoso.onexample.com"), ACT_DEFAULT);
	assert_int_equal(act(f.rs, "unrelated.example.org"), ACT_DEFAULT);
	/* an unknown service area is selected by an unfiltered import */
	assert_int_equal(act(f.rs, "viva.example.net"), ACT_ER);

	const rule_t *rule = find(f.rs, "mail.outlook.example.com");
	assert_int_equal(rule->origin.kind, RULE_ORIGIN_M365);
	assert_int_equal(rule->origin.m365_set_id, 1);
	assert_string_equal(rule->origin.detail, "Exchange/Optimize url=*.outlook.example.com");
	assert_string_equal(rule->origin.file, FIXTURE("small.json"));
	assert_int_equal(rule->origin.line, 6);
	fx_free(&f);
}

/* Imported rules read as Microsoft's list writes them (SPEC 3 `rule=`),
 * case and all, while the pattern keeps the '=' that makes a host exact.
 * The text belongs to the import: it outlives the list it came from. */
static void test_rule_text_is_the_url(void **state)
{
	(void)state;
	static const char *text =
	    "[{\"id\":12,\"serviceArea\":\"Skype\",\"category\":\"Allow\",\"expressRoute\":"
	    "true,\"required\":true,\"urls\":[\"Teams.Example.NET\",\"*.Teams.Example.NET\"]},"
	    " {\"id\":13,\"serviceArea\":\"Skype\",\"category\":\"Default\",\"expressRoute\":"
	    "false,\"required\":true,\"urls\":[\"cdn.teams.example.net\"]}]";
	char err[256];
	struct fx f = {.rs = ruleset_new()};
	assert_non_null(f.rs);
	assert_int_equal(m365_list_parse(text, "inline", &f.list, err, sizeof(err)), 0);
	fx_import(&f, ER_M365_FILTER_DEFAULT);
	m365_list_free(f.list);
	f.list = NULL;
	const rule_t *host = find(f.rs, "teams.example.net");
	assert_int_equal(host->kind, RULE_EXACT);
	assert_string_equal(host->pattern, "=teams.example.net");
	assert_string_equal(ruleset_rule_text(host), "Teams.Example.NET");
	assert_string_equal(ruleset_rule_text(find(f.rs, "a.teams.example.net")),
			    "*.Teams.Example.NET");
	const rule_t *exception = find(f.rs, "cdn.teams.example.net");
	assert_int_equal(exception->action, ACT_DEFAULT);
	assert_string_equal(ruleset_rule_text(exception), "cdn.teams.example.net");
	/* `erdns check` and explain name the catching rule as the list writes it */
	assert_string_equal(m365_import_exception(f.imp, 0),
			    "cdn.teams.example.net (set 13) under *.Teams.Example.NET (set 12)");
	assert_non_null(strstr(exception->origin.detail, "under *.Teams.Example.NET (m365:12)"));
	fx_free(&f);
}

/* ---- exceptions come from the data ---- */

static void test_exceptions(void **state)
{
	(void)state;
	struct fx f;
	fx_load(&f, FIXTURE("small.json"));
	fx_import(&f, ER_M365_FILTER_DEFAULT);
	/* exact name under an ER wildcard, from a non-ER set */
	assert_int_equal(act(f.rs, "x.officeapps.example.org"), ACT_ER);
	const rule_t *r = find(f.rs, "cdn.odc.officeapps.example.org");
	assert_non_null(r);
	assert_int_equal(r->action, ACT_DEFAULT);
	assert_int_equal(r->kind, RULE_EXACT);
	assert_int_equal(r->origin.m365_set_id, 91);
	assert_non_null(strstr(r->origin.detail, "exception"));
	assert_true(r->origin.is_exception); /* the query log's er=n/a */
	assert_false(find(f.rs, "x.officeapps.example.org")->origin.is_exception);
	assert_non_null(strstr(r->origin.detail, "*.officeapps.example.org (m365:46)"));
	/* the exception is exact: below it the wildcard applies again */
	assert_int_equal(act(f.rs, "a.cdn.odc.officeapps.example.org"), ACT_ER);
	/* "*." exception under a "*." wildcard */
	assert_int_equal(act(f.rs, "a.cdn.officeapps.example.org"), ACT_DEFAULT);
	assert_int_equal(act(f.rs, "cdn.officeapps.example.org"), ACT_ER);
	/* glob and exact exceptions under *.sharepoint.example */
	assert_int_equal(act(f.rs, "contoso-my.sharepoint.example"), ACT_DEFAULT);
	assert_int_equal(act(f.rs, "static.sharepoint.example"), ACT_DEFAULT);
	assert_int_equal(act(f.rs, "other.sharepoint.example"), ACT_ER);
	/* a left-out URL no imported rule catches makes no exception */
	assert_null(find(f.rs, "unrelated.example.org"));
	assert_null(find(f.rs, "www.example.com"));

	assert_string_equal(m365_import_exception(f.imp, 0),
			    "*-my.sharepoint.example (set 35) under *.sharepoint.example (set 31)");
	assert_null(m365_import_exception(f.imp, 4));
	fx_free(&f);
}

/* An ER name under an internet-only wildcard stays ER (the second table). */
static void test_er_name_under_internet_wildcard(void **state)
{
	(void)state;
	struct fx f;
	fx_load(&f, FIXTURE("small.json"));
	fx_import(&f, ER_M365_FILTER_DEFAULT);
	assert_int_equal(act(f.rs, "outlook.example.com"), ACT_ER); /* under *.example.com */
	assert_int_equal(act(f.rs, "other.example.com"), ACT_DEFAULT);
	fx_free(&f);
}

static void test_both_ways(void **state)
{
	(void)state;
	struct fx f;
	fx_load(&f, FIXTURE("small.json"));
	fx_import(&f, ER_M365_FILTER_DEFAULT);
	assert_string_equal(m365_import_both_ways(f.imp, 0),
			    "*.outlook.example.com (selected in set 1, left out in set 8)");
	assert_null(m365_import_both_ways(f.imp, 1));
	/* imported: the selected flag wins */
	const rule_t *r = find(f.rs, "a.outlook.example.com");
	assert_int_equal(r->action, ACT_ER);
	assert_int_equal(r->origin.m365_set_id, 1);
	fx_free(&f);
}

/* ---- filters ---- */

static void test_filter_expressroute_false(void **state)
{
	(void)state;
	struct fx f;
	fx_load(&f, FIXTURE("small.json"));
	fx_import(&f, (m365_filter_t){.is_expressroute = false});
	const m365_report_t *r = m365_import_report(f.imp);
	assert_int_equal(r->sets_selected, 10);
	assert_int_equal(r->exceptions, 0);
	assert_int_equal(r->both_ways, 0);
	assert_int_equal(act(f.rs, "www.example.com"), ACT_ER);
	assert_int_equal(act(f.rs, "cdn.odc.officeapps.example.org"), ACT_ER);
	fx_free(&f);
}

static void test_filter_service_areas_common_always(void **state)
{
	(void)state;
	struct fx f;
	fx_load(&f, FIXTURE("small.json"));
	fx_import(&f, (m365_filter_t){.is_expressroute = true, .areas = M365_AREA_EXCHANGE});
	const m365_report_t *r = m365_import_report(f.imp);
	assert_int_equal(r->sets_selected, 4); /* 1, 2 + Common 46, 100 */
	assert_int_equal(act(f.rs, "outlook.example.com"), ACT_ER);
	assert_int_equal(act(f.rs, "x.officeapps.example.org"), ACT_ER); /* Common */
	assert_int_equal(act(f.rs, "x.sharepoint.example"), ACT_DEFAULT);
	assert_int_equal(act(f.rs, "teams.example.net"), ACT_DEFAULT);
	assert_int_equal(act(f.rs, "viva.example.net"), ACT_DEFAULT); /* unknown area */
	assert_int_equal(r->exceptions, 2); /* set 91 only: *.sharepoint.example is out */
	assert_null(find(f.rs, "static.sharepoint.example"));
	fx_free(&f);
}

static void test_filter_categories(void **state)
{
	(void)state;
	struct fx f;
	fx_load(&f, FIXTURE("small.json"));
	fx_import(&f, (m365_filter_t){.is_expressroute = true, .categories = M365_CAT_OPTIMIZE});
	const m365_report_t *r = m365_import_report(f.imp);
	assert_int_equal(r->sets_selected, 3);			      /* 1, 31, 100 */
	assert_int_equal(act(f.rs, "smtp.example.com"), ACT_DEFAULT); /* Allow */
	assert_int_equal(act(f.rs, "x.officeapps.example.org"), ACT_DEFAULT);
	assert_int_equal(act(f.rs, "x.sharepoint.example"), ACT_ER);
	assert_int_equal(r->exceptions, 2); /* set 35 under *.sharepoint.example */
	fx_free(&f);
}

static void test_filter_required_only(void **state)
{
	(void)state;
	struct fx f;
	fx_load(&f, FIXTURE("small.json"));
	fx_import(&f, (m365_filter_t){.is_expressroute = true, .is_required_only = true});
	assert_int_equal(m365_import_report(f.imp)->sets_selected, 6);
	assert_int_equal(act(f.rs, "smtp.example.com"), ACT_DEFAULT);
	assert_int_equal(act(f.rs, "outlook.example.com"), ACT_ER);
	fx_free(&f);
}

static void test_filter_names(void **state)
{
	(void)state;
	unsigned bit;
	assert_int_equal(m365_area_parse("sharepoint", &bit), 0);
	assert_int_equal(bit, M365_AREA_SHAREPOINT);
	assert_int_equal(m365_area_parse("Teams", &bit), -EINVAL);
	assert_int_equal(m365_category_parse("Default", &bit), 0);
	assert_int_equal(bit, M365_CAT_DEFAULT);
	assert_int_equal(m365_category_parse("Optimise", &bit), -EINVAL);
}

/* ---- precedence with operator rules ---- */

static void add_domain(ruleset_t *rs, const char *pattern, uint32_t action)
{
	char err[256];
	rule_origin_t o = {.kind = RULE_ORIGIN_DOMAINS,
			   .file = "erdns.json",
			   .line = 3,
			   .col = 7,
			   .m365_set_id = -1};
	int rc = ruleset_add(rs, pattern, action, &o, err, sizeof(err));
	if (rc != 0)
		fail_msg("%s: %s", pattern, err);
}

static void test_operator_rules_win_at_equal_specificity(void **state)
{
	(void)state;
	struct fx f;
	fx_load(&f, FIXTURE("small.json"));
	add_domain(f.rs, "=outlook.example.com", ACT_OPERATOR); /* before the import */
	fx_import(&f, ER_M365_FILTER_DEFAULT);
	add_domain(f.rs, "*.sharepoint.example", ACT_OPERATOR); /* after it */
	add_domain(f.rs, "example.com", ACT_OPERATOR);
	add_domain(f.rs, "*cdn.onenote.example.org", ACT_OPERATOR);
	assert_int_equal(act(f.rs, "outlook.example.com"), ACT_OPERATOR);
	assert_int_equal(act(f.rs, "x.sharepoint.example"), ACT_OPERATOR);
	assert_int_equal(act(f.rs, "xcdn.onenote.example.org"), ACT_OPERATOR);
	/* a deeper m365 anchor still beats a shallower operator rule */
	assert_int_equal(act(f.rs, "smtp.example.com"), ACT_ER);
	assert_int_equal(act(f.rs, "a.outlook.example.com"), ACT_ER);
	assert_int_equal(act(f.rs, "www.example.com"), ACT_OPERATOR);
	/* glob beats "*." at one anchor, whatever the origin */
	assert_int_equal(act(f.rs, "x-files.sharepoint.example"), ACT_ER);
	/* an m365 exception still beats the operator's wildcard at its anchor */
	assert_int_equal(act(f.rs, "static.sharepoint.example"), ACT_DEFAULT);
	fx_free(&f);
}

/* ---- malformed files ---- */

static void expect_bad(const char *file, const char *needle)
{
	char err[512] = "";
	m365_list_t *l = NULL;
	int rc = m365_list_load(file, &l, err, sizeof(err));
	if (rc == 0) { /* a bad URL is found by the import */
		ruleset_t *rs = ruleset_new();
		m365_import_t *imp = NULL;
		m365_import_args_t a = {.list = l, .filter = ER_M365_FILTER_DEFAULT, .rules = rs};
		rc = m365_import(&a, &imp, err, sizeof(err));
		assert_null(imp);
		ruleset_free(rs);
		m365_list_free(l);
		l = NULL;
	}
	assert_int_equal(rc, -EINVAL);
	assert_null(l);
	if (strstr(err, needle) == NULL || strstr(err, file) == NULL)
		fail_msg("%s: [%s] not in [%s]", file, needle, err);
}

static void test_malformed(void **state)
{
	(void)state;
	expect_bad(FIXTURE("bad-syntax.json"), "bad-syntax.json:5:5: ");
	expect_bad(FIXTURE("bad-missing.json"), ":2:3: endpoint set [0]: missing \"expressRoute\"");
	expect_bad(FIXTURE("bad-object.json"), "expected an array of endpoint sets");
	expect_bad(FIXTURE("bad-empty.json"), "no endpoint sets");
	expect_bad(FIXTURE("bad-url.json"), ":3:45: endpoint set [0] (id 1): urls[1]");
	expect_bad(FIXTURE("bad-dupid.json"), "id 1 already used");
	expect_bad(FIXTURE("bad-type.json"), "\"expressRoute\" must be true or false");
	expect_bad(FIXTURE("bad-pattern.json"), ":3:32: endpoint set id 1: url \"a..example\"");

	char err[256];
	m365_list_t *l = NULL;
	assert_int_equal(m365_list_load(FIXTURE("does-not-exist.json"), &l, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "cannot read"));
	assert_int_equal(
	    m365_list_parse("[{\"id\": 1.5, \"serviceArea\": \"Common\", \"category\": "
			    "\"Allow\", \"expressRoute\": true, \"required\": true}]",
			    "t.json", &l, err, sizeof(err)),
	    -EINVAL);
	assert_non_null(strstr(err, "t.json:1:9: endpoint set [0]: \"id\" must be an integer"));
	/* ips are read now (the ExpressRoute audit): their type is checked too */
	assert_int_equal(
	    m365_list_parse("[{\"id\": 1, \"serviceArea\": \"Common\", \"category\": "
			    "\"Allow\", \"expressRoute\": true, \"required\": true, \"ips\": [7]}]",
			    "t.json", &l, err, sizeof(err)),
	    -EINVAL);
	assert_non_null(strstr(err, "t.json:1:106: endpoint set [0] (id 1): ips[0]: expected a"));
}

/* ---- diff ---- */

static void test_diff(void **state)
{
	(void)state;
	static const char *old_text =
	    "[{\"id\":1,\"serviceArea\":\"Exchange\",\"category\":\"Optimize\",\"expressRoute\":"
	    "true,"
	    "\"required\":true,\"urls\":[\"*.a.example\",\"keep.example\",\"gone.example\"]},"
	    " {\"id\":2,\"serviceArea\":\"Common\",\"category\":\"Default\",\"expressRoute\":false,"
	    "\"required\":true,\"urls\":[\"x.a.example\",\"net.example\"]}]";
	static const char *new_text =
	    "[{\"id\":1,\"serviceArea\":\"Exchange\",\"category\":\"Optimize\",\"expressRoute\":"
	    "true,"
	    "\"required\":true,\"urls\":[\"*.a.example\",\"keep.example\",\"net.example\"]},"
	    " {\"id\":3,\"serviceArea\":\"Common\",\"category\":\"Default\",\"expressRoute\":false,"
	    "\"required\":true,\"urls\":[\"new.example\"]}]";
	char err[256];
	m365_list_t *old = NULL, *new = NULL;
	assert_int_equal(m365_list_parse(old_text, "old", &old, err, sizeof(err)), 0);
	assert_int_equal(m365_list_parse(new_text, "new", &new, err, sizeof(err)), 0);
	m365_change_t *v = NULL;
	size_t n = 0;
	m365_filter_t f = ER_M365_FILTER_DEFAULT;
	assert_int_equal(m365_diff(old, new, &f, &v, &n, err, sizeof(err)), 0);
	/* gone.example removed (ER -> internet); net.example moved to ER; new.example
	 * added (internet); x.a.example removed, and with its exception gone it moves
	 * under *.a.example (internet -> ER) */
	assert_int_equal(n, 4);
	assert_string_equal(v[0].name, "gone.example");
	assert_true(v[0].is_in_old && !v[0].is_in_new && v[0].is_old_er && !v[0].is_new_er);
	assert_string_equal(v[1].name, "net.example");
	assert_true(v[1].is_in_old && v[1].is_in_new && !v[1].is_old_er && v[1].is_new_er);
	assert_string_equal(v[2].name, "new.example");
	assert_true(!v[2].is_in_old && v[2].is_in_new && !v[2].is_new_er);
	assert_string_equal(v[3].name, "x.a.example");
	assert_true(!v[3].is_old_er && v[3].is_new_er);
	assert_string_equal(v[3].old_rule, "x.a.example"); /* the URL, not the "=" pattern */
	assert_string_equal(v[3].new_rule, "*.a.example");
	m365_diff_free(v, n);

	assert_int_equal(m365_diff(old, old, &f, &v, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	assert_null(v);
	m365_list_free(old);
	m365_list_free(new);
}

/* ---- PAC order follows DNS precedence ---- */

static void test_ruleset_list_order(void **state)
{
	(void)state;
	struct fx f;
	fx_load(&f, FIXTURE("small.json"));
	fx_import(&f, ER_M365_FILTER_DEFAULT);
	const rule_t **rules = NULL;
	size_t n = 0;
	assert_int_equal(ruleset_list(f.rs, &rules, &n), 0);
	assert_int_equal(n, ruleset_count(f.rs));
	/* every exception comes before the wildcard it carves out of */
	size_t exc = n, wild = n, glob_exc = n;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(rules[i]->pattern, "=static.sharepoint.example") == 0)
			exc = i;
		if (strcmp(rules[i]->pattern, "*-my.sharepoint.example") == 0)
			glob_exc = i;
		if (strcmp(rules[i]->pattern, "*.sharepoint.example") == 0)
			wild = i;
	}
	assert_true(exc < wild && glob_exc < wild && wild < n);
	free(rules);
	fx_free(&f);
}

static void test_pac_proxy_check(void **state)
{
	(void)state;
	assert_int_equal(pac_proxy_check("PROXY proxy.example:8080"), 0);
	assert_int_equal(pac_proxy_check("PROXY a:1; DIRECT"), 0);
	assert_int_equal(pac_proxy_check("SOCKS5 [2001:db8::1]:1080"), 0);
	assert_int_equal(pac_proxy_check("DIRECT"), 0);
	assert_int_equal(pac_proxy_check(""), -EINVAL);
	assert_int_equal(pac_proxy_check("PROXY a\"; alert(1)"), -EINVAL);
	assert_int_equal(pac_proxy_check("PROXY nohostport"), -EINVAL);
	assert_int_equal(pac_proxy_check("proxy a:1"), -EINVAL);
}

/* ---- the real lists ---- */

static void test_real_2026(void **state)
{
	(void)state;
	require_real_data(REAL_2026);
	struct fx f;
	fx_load(&f, REAL_2026);
	fx_import(&f, ER_M365_FILTER_DEFAULT);
	const m365_report_t *r = m365_import_report(f.imp);
	assert_int_equal(r->sets_read, 63);
	assert_int_equal(r->sets_selected, 10);
	assert_int_equal(r->rules_exact, 34); /* 48 distinct ER URLs */
	assert_int_equal(r->rules_below, 14);
	assert_int_equal(r->rules_glob, 0);
	assert_int_equal(r->both_ways, 0);
	assert_int_equal(r->exceptions, 2);
	/* Microsoft's 'Routing with ExpressRoute' examples, from the data alone */
	assert_int_equal(act(f.rs, "cdn.odc.officeapps.live.com"), ACT_DEFAULT);
	assert_int_equal(act(f.rs, "cdn.uci.officeapps.live.com"), ACT_DEFAULT);
	assert_int_equal(act(f.rs, "ny.officeapps.live.com"), ACT_ER);
	assert_int_equal(act(f.rs, "outlook.office.com"), ACT_ER);
	assert_int_equal(act(f.rs, "www.office.com"), ACT_DEFAULT);
	assert_int_equal(act(f.rs, "contoso.sharepoint.com"), ACT_ER);
	assert_int_equal(act(f.rs, "autodiscover.contoso.onmicrosoft.com"), ACT_DEFAULT);
	fx_free(&f);

	fx_load(&f, REAL_2026); /* everything: exact, *. and both globs */
	fx_import(&f, (m365_filter_t){.is_expressroute = false});
	r = m365_import_report(f.imp);
	assert_int_equal(r->rules_exact + r->rules_below + r->rules_glob, 190);
	assert_int_equal(r->rules_glob, 2);
	assert_int_equal(r->rules_below, 70);
	assert_int_equal(act(f.rs, "autodiscover.contoso.onmicrosoft.com"), ACT_ER);
	assert_int_equal(act(f.rs, "xyzcdn.onenote.net"), ACT_ER);
	fx_free(&f);
}

static void test_real_2022(void **state)
{
	(void)state;
	require_real_data(REAL_2022);
	struct fx f;
	fx_load(&f, REAL_2022);
	fx_import(&f, ER_M365_FILTER_DEFAULT);
	const m365_report_t *r = m365_import_report(f.imp);
	assert_int_equal(r->sets_read, 107);
	assert_int_equal(r->both_ways, 1);
	assert_non_null(strstr(m365_import_both_ways(f.imp, 0), "*.outlook.office.com"));
	/* tenant-derived globs left out under an ER wildcard become exceptions */
	const rule_t *e = find(f.rs, "contoso-files.sharepoint.com");
	assert_non_null(e);
	assert_int_equal(e->kind, RULE_GLOB);
	assert_int_equal(e->action, ACT_DEFAULT);
	assert_int_equal(act(f.rs, "contoso.sharepoint.com"), ACT_ER);
	assert_int_equal(act(f.rs, "a.outlook.office.com"), ACT_ER); /* selected flag wins */
	fx_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_url_shapes),
	    cmocka_unit_test(test_parse_fixture),
	    cmocka_unit_test(test_default_import_shapes),
	    cmocka_unit_test(test_exceptions),
	    cmocka_unit_test(test_er_name_under_internet_wildcard),
	    cmocka_unit_test(test_both_ways),
	    cmocka_unit_test(test_rule_text_is_the_url),
	    cmocka_unit_test(test_filter_expressroute_false),
	    cmocka_unit_test(test_filter_service_areas_common_always),
	    cmocka_unit_test(test_filter_categories),
	    cmocka_unit_test(test_filter_required_only),
	    cmocka_unit_test(test_filter_names),
	    cmocka_unit_test(test_operator_rules_win_at_equal_specificity),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_diff),
	    cmocka_unit_test(test_ruleset_list_order),
	    cmocka_unit_test(test_pac_proxy_check),
	    cmocka_unit_test(test_real_2026),
	    cmocka_unit_test(test_real_2022),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
