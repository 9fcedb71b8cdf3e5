/*
 * Tests for routing/m365_prefixes.c: which sets' `ips` become the
 * ExpressRoute audit's prefixes (the URL filter, and the set's own
 * expressRoute flag always), bad prefixes with their place, and the real
 * Worldwide lists from ../shared/data (skipped when absent, failed when CI
 * is set: tests/unit/real_data.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "routing/m365.h"
#include "real_data.h"

#define FIXTURE(name) ERDNS_FIXTURES "/m365/" name
#define REAL_2026     ERDNS_FIXTURES "/../../../shared/data/m365-endpoints-worldwide.json"
#define REAL_2022                                                                                  \
	ERDNS_FIXTURES "/../../../shared/data/m365-endpoints-worldwide-circa2022-with-ipv6.json"

static m365_list_t *load(const char *path)
{
	char err[512];
	m365_list_t *l = NULL;
	if (m365_list_load(path, &l, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	return l;
}

static prefixset_t *prefixes(const m365_list_t *l, m365_filter_t f)
{
	char err[512];
	prefixset_t *ps = NULL;
	if (m365_prefixes(l, &f, &ps, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	return ps;
}

/* The set id listing the prefix that addr falls in, -1 for none. */
static int set_of(const prefixset_t *ps, const char *addr)
{
	uint8_t a[16];
	int family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	assert_int_equal(inet_pton(family, addr, a), 1);
	prefix_hit_t hit;
	return prefixset_match(ps, family, a, &hit) ? hit.set_ids[0] : -1;
}

/* small.json: set 1 (Exchange, ER) lists 192.0.2.0/24, set 100 (Common, ER)
 * 198.51.100.0/24. */
static void test_fixture_filters(void **state)
{
	(void)state;
	m365_list_t *l = load(FIXTURE("small.json"));
	prefixset_t *ps = prefixes(l, ER_M365_FILTER_DEFAULT);
	assert_int_equal(prefixset_count(ps, AF_INET), 2);
	assert_int_equal(prefixset_count(ps, AF_INET6), 0);
	assert_int_equal(set_of(ps, "192.0.2.7"), 1);
	assert_int_equal(set_of(ps, "198.51.100.200"), 100);
	assert_int_equal(set_of(ps, "203.0.113.1"), -1);
	prefixset_free(ps);

	/* SharePoint only: set 1 left out, Common (100) always in */
	ps = prefixes(l, (m365_filter_t){.is_expressroute = true, .areas = M365_AREA_SHAREPOINT});
	assert_int_equal(set_of(ps, "192.0.2.7"), -1);
	assert_int_equal(set_of(ps, "198.51.100.200"), 100);
	prefixset_free(ps);
	m365_list_free(l);
}

/* With "expressroute": false the names of every set are imported, but only
 * the flagged sets' prefixes are carried by Microsoft peering. */
static void test_only_flagged_sets(void **state)
{
	(void)state;
	char err[512];
	m365_list_t *l = NULL;
	assert_int_equal(
	    m365_list_parse(
		"[{\"id\": 1, \"serviceArea\": \"Exchange\", \"category\": \"Optimize\", "
		"\"expressRoute\": true, \"required\": true, \"ips\": [\"10.1.0.0/16\", "
		"\"2603:1006::/40\"]},\n"
		" {\"id\": 2, \"serviceArea\": \"Exchange\", \"category\": \"Default\", "
		"\"expressRoute\": false, \"required\": true, \"ips\": [\"not a prefix\", "
		"\"10.2.0.0/16\"]}]",
		"t.json", &l, err, sizeof(err)),
	    0);
	prefixset_t *ps = prefixes(l, (m365_filter_t){.is_expressroute = false});
	assert_int_equal(set_of(ps, "10.1.2.3"), 1);
	assert_int_equal(set_of(ps, "10.2.2.3"), -1);
	assert_int_equal(set_of(ps, "2603:1006::1"), 1);
	assert_int_equal(prefixset_count(ps, AF_INET6), 1);
	prefixset_free(ps);
	m365_list_free(l);
}

static void test_bad_prefix(void **state)
{
	(void)state;
	char err[512] = "";
	m365_list_t *l = load(FIXTURE("bad-ip.json"));
	prefixset_t *ps = (prefixset_t *)1;
	m365_filter_t f = ER_M365_FILTER_DEFAULT;
	assert_int_equal(m365_prefixes(l, &f, &ps, err, sizeof(err)), -EINVAL);
	assert_null(ps);
	if (strstr(err, "bad-ip.json:3:59: endpoint set id 1: ips \"192.0.2.1/24\": not an "
			"address prefix") == NULL)
		fail_msg("%s", err);
	m365_list_free(l);
}

/* The data README: 10 sets flagged expressRoute, 34 distinct IPv4
 * prefixes, no IPv6 (fetched with NoIPv6=true or trimmed upstream). */
static void test_real_2026(void **state)
{
	(void)state;
	require_real_data(REAL_2026);
	m365_list_t *l = load(REAL_2026);
	prefixset_t *ps = prefixes(l, ER_M365_FILTER_DEFAULT);
	assert_int_equal(prefixset_count(ps, AF_INET), 34);
	assert_int_equal(prefixset_count(ps, AF_INET6), 0);
	assert_int_equal(set_of(ps, "13.107.6.152"), 1); /* Exchange Optimize */
	assert_int_equal(set_of(ps, "52.96.1.1"), 1);
	assert_int_equal(set_of(ps, "8.8.8.8"), -1);
	prefixset_free(ps);
	m365_list_free(l);
}

static void test_real_2022(void **state)
{
	(void)state;
	require_real_data(REAL_2022);
	m365_list_t *l = load(REAL_2022);
	prefixset_t *ps = prefixes(l, ER_M365_FILTER_DEFAULT);
	assert_true(prefixset_count(ps, AF_INET) > 0);
	assert_true(prefixset_count(ps, AF_INET6) > 0);
	assert_int_equal(set_of(ps, "2603:1006::1"), 1);
	prefixset_free(ps);
	m365_list_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fixture_filters), cmocka_unit_test(test_only_flagged_sets),
	    cmocka_unit_test(test_bad_prefix),	    cmocka_unit_test(test_real_2026),
	    cmocka_unit_test(test_real_2022),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
