/*
 * Prefixes and ACLs (server.allow, views[].clients): parsing and its
 * refusals, allow and deny at prefix edges, IPv4-mapped clients against IPv4
 * prefixes, the empty ACL allowing nothing, and growth past the first
 * allocation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "util/netblock.h"
#include "util/sockaddr.h"

static struct sockaddr_storage addr_of(const char *text)
{
	struct sockaddr_storage ss;
	assert_int_equal(sockaddr_parse(text, 53, &ss), 0);
	return ss;
}

static bool allows(const acl_t *acl, const char *client)
{
	struct sockaddr_storage ss = addr_of(client);
	return acl_allows(acl, (struct sockaddr *)&ss);
}

static acl_t *acl_of(const char *const *blocks, size_t n)
{
	acl_t *acl = acl_new();
	assert_non_null(acl);
	for (size_t i = 0; i < n; i++) {
		netblock_t nb;
		assert_int_equal(netblock_parse(blocks[i], &nb), 0);
		assert_int_equal(acl_add(acl, &nb), 0);
	}
	return acl;
}

static void test_parse_format(void **state)
{
	(void)state;
	static const char *const cases[][2] = {
		{ "10.0.0.0/8", "10.0.0.0/8" },
		{ "192.0.2.1", "192.0.2.1/32" },
		{ "0.0.0.0/0", "0.0.0.0/0" },
		{ "2001:DB8::/32", "2001:db8::/32" },
		{ "::1", "::1/128" },
		{ "::/0", "::/0" },
		{ "192.0.2.128/25", "192.0.2.128/25" },
		{ "10.0.0.0/08", "10.0.0.0/8" },
	};
	char buf[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		netblock_t nb;
		assert_int_equal(netblock_parse(cases[i][0], &nb), 0);
		netblock_format(&nb, buf, sizeof(buf));
		assert_string_equal(buf, cases[i][1]);
	}
}

static void test_parse_rejects(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "/8", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.1/8", "192.0.2.129/25",
		"2001:db8::1/32", "10.0.0.0/8/8", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/ 8",
		"10.0.0.0 /8", "example.com/8", "10.0.0/8", "[::1]/128", "10.0.0.0/999999999999",
	};
	netblock_t nb;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (netblock_parse(bad[i], &nb) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	assert_int_equal(netblock_parse(NULL, &nb), -EINVAL);
}

static void test_allow_deny(void **state)
{
	(void)state;
	static const char *const blocks[] = { "10.0.0.0/8", "192.0.2.128/25", "2001:db8::/32",
					      "198.51.100.7" };
	acl_t *acl = acl_of(blocks, 4);

	assert_int_equal(acl_count(acl), 4);
	assert_true(allows(acl, "10.0.0.0"));
	assert_true(allows(acl, "10.255.255.255"));
	assert_false(allows(acl, "11.0.0.0"));
	assert_false(allows(acl, "9.255.255.255"));
	assert_true(allows(acl, "192.0.2.128"));
	assert_true(allows(acl, "192.0.2.255"));
	assert_false(allows(acl, "192.0.2.127"));
	assert_true(allows(acl, "198.51.100.7"));
	assert_false(allows(acl, "198.51.100.8"));
	assert_true(allows(acl, "2001:db8:ffff::1"));
	assert_false(allows(acl, "2001:db9::1"));
	assert_false(allows(acl, "::1"));
	acl_free(acl);
}

/* A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d: they must not
 * slip past an IPv4 ACL, nor be let in by an unrelated IPv6 prefix. */
static void test_v4_mapped(void **state)
{
	(void)state;
	static const char *const blocks[] = { "10.0.0.0/8", "2001:db8::/32" };
	acl_t *acl = acl_of(blocks, 2);

	assert_true(allows(acl, "::ffff:10.1.2.3"));
	assert_false(allows(acl, "::ffff:11.1.2.3"));
	/* Not mapped: the same low bits under another prefix. */
	assert_false(allows(acl, "::10.1.2.3"));
	assert_false(allows(acl, "64:ff9b::10.1.2.3"));
	acl_free(acl);

	/* The mapped prefix written in IPv6 covers IPv4 clients just the same. */
	static const char *const mapped[] = { "::ffff:10.0.0.0/104" };
	acl = acl_of(mapped, 1);
	assert_true(allows(acl, "10.9.9.9"));
	assert_true(allows(acl, "::ffff:10.9.9.9"));
	assert_false(allows(acl, "11.0.0.1"));
	acl_free(acl);

	/* Consequently "::/0" covers IPv4 clients too: on a dual-stack socket
	 * they arrive as ::ffff:a.b.c.d anyway, and the answer must not depend
	 * on the socket a client came in on. */
	static const char *const any6[] = { "::/0" };
	acl = acl_of(any6, 1);
	assert_true(allows(acl, "192.0.2.1"));
	assert_true(allows(acl, "::ffff:192.0.2.1"));
	acl_free(acl);
}

static void test_everything_and_nothing(void **state)
{
	(void)state;
	acl_t *acl = acl_new();

	assert_non_null(acl);
	assert_int_equal(acl_count(acl), 0);
	assert_null(acl_get(acl, 0));
	assert_false(allows(acl, "127.0.0.1"));
	assert_false(allows(acl, "::1"));
	assert_false(acl_allows(acl, NULL));
	acl_free(acl);
	acl_free(NULL);

	static const char *const all4[] = { "0.0.0.0/0" };
	acl = acl_of(all4, 1);
	assert_true(allows(acl, "203.0.113.9"));
	assert_true(allows(acl, "::ffff:203.0.113.9"));
	assert_false(allows(acl, "2001:db8::1"));
	acl_free(acl);
}

static void test_growth_and_get(void **state)
{
	(void)state;
	acl_t *acl = acl_new();
	char text[32], buf[64];

	for (int i = 0; i < 100; i++) {
		netblock_t nb;
		snprintf(text, sizeof(text), "172.16.%d.0/24", i);
		assert_int_equal(netblock_parse(text, &nb), 0);
		assert_int_equal(acl_add(acl, &nb), 0);
	}
	assert_int_equal(acl_count(acl), 100);
	netblock_format(acl_get(acl, 42), buf, sizeof(buf));
	assert_string_equal(buf, "172.16.42.0/24");
	assert_null(acl_get(acl, 100));
	assert_true(allows(acl, "172.16.99.1"));
	assert_false(allows(acl, "172.16.100.1"));
	acl_free(acl);
}

static void test_unknown_family(void **state)
{
	(void)state;
	static const char *const all[] = { "::/0", "0.0.0.0/0" };
	acl_t *acl = acl_of(all, 2);
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	assert_false(acl_allows(acl, (struct sockaddr *)&ss));
	acl_free(acl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_format),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_allow_deny),
		cmocka_unit_test(test_v4_mapped),
		cmocka_unit_test(test_everything_and_nothing),
		cmocka_unit_test(test_growth_and_get),
		cmocka_unit_test(test_unknown_family),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
