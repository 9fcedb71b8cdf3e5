/*
 * SPEC 2.2 routing order: the first view whose clients match; that view's
 * rules outright (even against a more specific global rule); then global
 * rules; then the view's default; then the global default. Also clients in
 * no view, a NULL client, and ownership of the ACL on every path.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "dns/dname.h"
#include "routing/router.h"
#include "util/sockaddr.h"

enum { ACT_LOCAL = 0, ACT_ER = 1, ACT_PILOT = 2, ACT_LAB = 3, ACT_PILOT_DEFAULT = 4 };

static acl_t *acl_of(const char *block)
{
	acl_t *acl = acl_new();
	netblock_t nb;
	assert_non_null(acl);
	assert_int_equal(netblock_parse(block, &nb), 0);
	assert_int_equal(acl_add(acl, &nb), 0);
	return acl;
}

static void add_rule(router_t *r, int view, const char *pattern, uint32_t action)
{
	rule_origin_t o = { .kind = RULE_ORIGIN_DOMAINS, .file = "erdns.json", .line = 1,
			    .col = 1, .m365_set_id = -1 };
	char err[256];
	assert_int_equal(ruleset_add(router_rules(r, view), pattern, action, &o, err, sizeof(err)),
			 0);
}

static route_decision_t decide(const router_t *r, const char *name, const char *client)
{
	uint8_t wire[ER_DNAME_MAX];
	struct sockaddr_storage ss;
	route_decision_t d;
	assert_true(dname_from_text(name, wire) > 0);
	if (client)
		assert_int_equal(sockaddr_parse(client, 53, &ss), 0);
	router_decide(r, wire, client ? (struct sockaddr *)&ss : NULL, &d);
	return d;
}

/*
 * Global: office.com -> ER, =login.office.com -> ER, default LOCAL.
 * View "pilot" (10.1.0.0/16): *.office.com -> PILOT, default PILOT_DEFAULT.
 * View "lab" (10.0.0.0/8, also covering pilot): lab.test -> LAB, no default.
 */
static router_t *build(void)
{
	router_t *r = router_new(ACT_LOCAL);
	assert_non_null(r);
	add_rule(r, -1, "office.com", ACT_ER);
	add_rule(r, -1, "=login.office.com", ACT_ER);
	assert_int_equal(router_add_view(r, "pilot", acl_of("10.1.0.0/16"), ACT_PILOT_DEFAULT), 0);
	assert_int_equal(router_add_view(r, "lab", acl_of("10.0.0.0/8"), ER_ROUTER_NO_DEFAULT), 1);
	add_rule(r, 0, "*.office.com", ACT_PILOT);
	add_rule(r, 1, "lab.test", ACT_LAB);
	add_rule(r, 1, "office.com", ACT_LAB);
	return r;
}

static void test_no_view(void **state)
{
	(void)state;
	router_t *r = build();
	route_decision_t d = decide(r, "www.office.com", "192.0.2.1");
	assert_null(d.view);
	assert_int_equal(d.action, ACT_ER);
	assert_string_equal(d.rule->pattern, "office.com");

	d = decide(r, "example.org", "192.0.2.1");
	assert_null(d.view);
	assert_null(d.rule);
	assert_int_equal(d.action, ACT_LOCAL);
	router_free(r);
}

static void test_null_client(void **state)
{
	(void)state;
	router_t *r = build();
	route_decision_t d = decide(r, "login.office.com", NULL);
	assert_null(d.view);
	assert_int_equal(d.action, ACT_ER);
	d = decide(r, "lab.test", NULL);
	assert_null(d.view);
	assert_null(d.rule);
	assert_int_equal(d.action, ACT_LOCAL);
	router_free(r);
}

static void test_first_view_wins(void **state)
{
	(void)state;
	router_t *r = build();
	/* 10.1.2.3 is in both views: pilot comes first, so lab's rules are
	 * not consulted at all. */
	route_decision_t d = decide(r, "lab.test", "10.1.2.3");
	assert_string_equal(d.view, "pilot");
	assert_null(d.rule);
	assert_int_equal(d.action, ACT_PILOT_DEFAULT);

	d = decide(r, "lab.test", "10.2.0.1");
	assert_string_equal(d.view, "lab");
	assert_int_equal(d.action, ACT_LAB);
	/* Mapped addresses pick the same view. */
	d = decide(r, "lab.test", "::ffff:10.2.0.1");
	assert_string_equal(d.view, "lab");
	router_free(r);
}

static void test_view_rules_beat_global(void **state)
{
	(void)state;
	router_t *r = build();
	/* The global "=login.office.com" is more specific than the view's
	 * "*.office.com", but a matching view rule decides outright. */
	route_decision_t d = decide(r, "login.office.com", "10.1.0.9");
	assert_string_equal(d.view, "pilot");
	assert_int_equal(d.action, ACT_PILOT);
	assert_string_equal(d.rule->pattern, "*.office.com");
	/* Outside the view the global rule decides. */
	d = decide(r, "login.office.com", "10.9.0.9");
	assert_int_equal(d.action, ACT_LAB); /* lab's office.com */
	d = decide(r, "login.office.com", "172.16.0.1");
	assert_int_equal(d.action, ACT_ER);
	router_free(r);
}

static void test_fallthrough(void **state)
{
	(void)state;
	router_t *r = build();
	/* View rules miss (office.com itself is not below *.office.com):
	 * the global rules decide, and the view is still reported. */
	route_decision_t d = decide(r, "office.com", "10.1.0.9");
	assert_string_equal(d.view, "pilot");
	assert_int_equal(d.action, ACT_ER);
	assert_string_equal(d.rule->pattern, "office.com");
	/* No rule at all: the view default. */
	d = decide(r, "example.org", "10.1.0.9");
	assert_string_equal(d.view, "pilot");
	assert_null(d.rule);
	assert_int_equal(d.action, ACT_PILOT_DEFAULT);
	/* No rule and a view without a default: the global default. */
	d = decide(r, "example.org", "10.9.0.9");
	assert_string_equal(d.view, "lab");
	assert_null(d.rule);
	assert_int_equal(d.action, ACT_LOCAL);
	router_free(r);
}

static void test_accessors(void **state)
{
	(void)state;
	router_t *r = build();
	assert_int_equal(router_view_count(r), 2);
	assert_string_equal(router_view_name(r, 0), "pilot");
	assert_string_equal(router_view_name(r, 1), "lab");
	assert_null(router_view_name(r, 2));
	assert_null(router_rules(r, 2));
	assert_ptr_equal(router_rules_const(r, -1), router_rules(r, -1));
	assert_int_equal(ruleset_count(router_rules_const(r, 1)), 2);
	assert_int_equal(ruleset_count(router_rules_const(r, -1)), 2);
	router_free(r);
	router_free(NULL);
}

/* The ACL is the router's even when adding fails (LeakSanitizer checks). */
static void test_acl_ownership(void **state)
{
	(void)state;
	router_t *r = router_new(ACT_LOCAL);
	assert_int_equal(router_add_view(r, NULL, acl_of("10.0.0.0/8"), 0), -EINVAL);
	assert_int_equal(router_add_view(NULL, "x", acl_of("10.0.0.0/8"), 0), -EINVAL);
	/* A view without clients matches nobody. */
	assert_int_equal(router_add_view(r, "empty", acl_new(), ACT_ER), 0);
	route_decision_t d = decide(r, "a.b", "10.0.0.1");
	assert_null(d.view);
	assert_int_equal(d.action, ACT_LOCAL);
	router_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_view),
		cmocka_unit_test(test_null_client),
		cmocka_unit_test(test_first_view_wins),
		cmocka_unit_test(test_view_rules_beat_global),
		cmocka_unit_test(test_fallthrough),
		cmocka_unit_test(test_accessors),
		cmocka_unit_test(test_acl_ownership),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
