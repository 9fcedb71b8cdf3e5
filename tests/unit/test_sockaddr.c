/*
 * Address text forms: every accepted shape, the default port, formatting
 * round trips, and the inputs that must be refused (host names, ports 0 and
 * above 65535, junk around the address, inet_aton's legacy shorthands).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "util/sockaddr.h"

static void check_parse(const char *text, uint16_t def, int family, const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;
	char buf[ER_SOCKADDR_TEXT_MAX];

	assert_int_equal(sockaddr_parse(text, def, &ss), 0);
	assert_int_equal(ss.ss_family, family);
	sockaddr_format_ip((struct sockaddr *)&ss, buf, sizeof(buf));
	assert_string_equal(buf, ip);
	assert_int_equal(sockaddr_port((struct sockaddr *)&ss), port);
}

static void test_forms(void **state)
{
	(void)state;
	check_parse("192.0.2.1", 53, AF_INET, "192.0.2.1", 53);
	check_parse("192.0.2.1:5353", 53, AF_INET, "192.0.2.1", 5353);
	check_parse("[2001:db8::1]:853", 53, AF_INET6, "2001:db8::1", 853);
	check_parse("[2001:db8::1]", 53, AF_INET6, "2001:db8::1", 53);
	check_parse("2001:db8::1", 53, AF_INET6, "2001:db8::1", 53);
	check_parse("::1", 5300, AF_INET6, "::1", 5300);
	check_parse("::ffff:10.0.0.1", 53, AF_INET6, "::ffff:10.0.0.1", 53);
	check_parse("0.0.0.0:65535", 53, AF_INET, "0.0.0.0", 65535);
	check_parse("10.0.0.1:1", 53, AF_INET, "10.0.0.1", 1);
}

static void test_rejects(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "localhost", "dns.example.com", "dns.example.com:53", "10.0.0.1:0",
		"10.0.0.1:65536", "10.0.0.1:99999999999", "10.0.0.1:", "10.0.0.1:+53",
		"10.0.0.1:0x35", "10.0.0.1: 53", " 10.0.0.1", "10.0.0.1 ", "10.1", "0x7f.0.0.1",
		"256.0.0.1", "[10.0.0.1]:53", "[::1", "[::1]53", "[::1]:", "[::1]:0",
		"[::1]:70000", "2001:db8::1:53:xyz", "fe80::1%eth0", ":::", "[]:53",
		"1.2.3.4:53:53", "[::1]:53x",
	};
	struct sockaddr_storage ss;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (sockaddr_parse(bad[i], 53, &ss) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	assert_int_equal(sockaddr_parse(NULL, 53, &ss), -EINVAL);
}

static void test_format(void **state)
{
	(void)state;
	struct sockaddr_storage ss;
	char buf[ER_SOCKADDR_TEXT_MAX];

	assert_int_equal(sockaddr_parse("192.0.2.1:53", 0, &ss), 0);
	sockaddr_format((struct sockaddr *)&ss, buf, sizeof(buf));
	assert_string_equal(buf, "192.0.2.1:53");
	assert_int_equal(sockaddr_len((struct sockaddr *)&ss), sizeof(struct sockaddr_in));

	assert_int_equal(sockaddr_parse("2001:db8::53", 5353, &ss), 0);
	sockaddr_format((struct sockaddr *)&ss, buf, sizeof(buf));
	assert_string_equal(buf, "[2001:db8::53]:5353");
	assert_int_equal(sockaddr_len((struct sockaddr *)&ss), sizeof(struct sockaddr_in6));

	/* The longest form fits ER_SOCKADDR_TEXT_MAX. */
	assert_int_equal(sockaddr_parse("[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535",
					53, &ss),
			 0);
	sockaddr_format((struct sockaddr *)&ss, buf, sizeof(buf));
	assert_string_equal(buf, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");

	/* Truncation still terminates. */
	char small[6];
	sockaddr_format((struct sockaddr *)&ss, small, sizeof(small));
	assert_string_equal(small, "[ffff");
}

static void test_equal(void **state)
{
	(void)state;
	struct sockaddr_storage a, b;

	assert_int_equal(sockaddr_parse("10.0.0.1:53", 0, &a), 0);
	assert_int_equal(sockaddr_parse("10.0.0.1", 53, &b), 0);
	assert_true(sockaddr_equal((struct sockaddr *)&a, (struct sockaddr *)&b));
	assert_int_equal(sockaddr_parse("10.0.0.1:54", 0, &b), 0);
	assert_false(sockaddr_equal((struct sockaddr *)&a, (struct sockaddr *)&b));
	assert_int_equal(sockaddr_parse("10.0.0.2:53", 0, &b), 0);
	assert_false(sockaddr_equal((struct sockaddr *)&a, (struct sockaddr *)&b));
	/* A mapped address is a different socket address, not the same one. */
	assert_int_equal(sockaddr_parse("[::ffff:10.0.0.1]:53", 0, &b), 0);
	assert_false(sockaddr_equal((struct sockaddr *)&a, (struct sockaddr *)&b));

	assert_int_equal(sockaddr_parse("[::1]:53", 0, &a), 0);
	assert_int_equal(sockaddr_parse("[0:0::1]:53", 0, &b), 0);
	assert_true(sockaddr_equal((struct sockaddr *)&a, (struct sockaddr *)&b));
}

static void test_unknown_family(void **state)
{
	(void)state;
	struct sockaddr_storage ss;
	char buf[ER_SOCKADDR_TEXT_MAX];

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	assert_int_equal(sockaddr_len((struct sockaddr *)&ss), 0);
	assert_int_equal(sockaddr_port((struct sockaddr *)&ss), 0);
	sockaddr_format((struct sockaddr *)&ss, buf, sizeof(buf));
	assert_string_equal(buf, "?");
	assert_false(sockaddr_equal((struct sockaddr *)&ss, (struct sockaddr *)&ss));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_equal),
		cmocka_unit_test(test_unknown_family),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
