/*
 * resolvconf_read against the files in tests/fixtures/resolv.conf/ (never
 * the host's /etc/resolv.conf): comments of both kinds, ignored directives,
 * IPv4, IPv6, scope ids, our own listener skipped, duplicates dropped, the
 * max bound, and each error with its message.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>

#include "upstream/resolvconf.h"
#include "util/sockaddr.h"

#define FIX ERDNS_FIXTURES "/resolv.conf"

static void assert_addr(const struct sockaddr_storage *ss, const char *text)
{
	char buf[ER_SOCKADDR_TEXT_MAX];
	sockaddr_format((const struct sockaddr *)ss, buf, sizeof(buf));
	assert_string_equal(buf, text);
}

static void test_basic_file(void **state)
{
	(void)state;
	struct sockaddr_storage skip, out[8];
	size_t n = 99;
	char err[256] = "";
	assert_int_equal(sockaddr_parse("127.0.0.1:53", 53, &skip), 0);

	assert_int_equal(resolvconf_read(FIX "/basic.conf", &skip, 1, out, 8, &n, err, sizeof(err)),
			 0);
	/* 192.0.2.53 twice: once; 127.0.0.1 is our own listener: left out */
	assert_int_equal(n, 4);
	assert_addr(&out[0], "192.0.2.53:53");
	assert_addr(&out[1], "192.0.2.54:53"); /* tab separated, trailing comment */
	assert_addr(&out[2], "[2001:db8::53]:53");
	assert_addr(&out[3], "[fe80::1]:53");
	const struct sockaddr_in6 *ll = (const struct sockaddr_in6 *)&out[3];
	assert_int_equal(ll->sin6_scope_id, if_nametoindex("lo"));
	assert_int_equal(((const struct sockaddr_in6 *)&out[2])->sin6_scope_id, 0);
}

static void test_without_skip_list(void **state)
{
	(void)state;
	struct sockaddr_storage out[8];
	size_t n = 0;
	char err[256] = "";
	assert_int_equal(resolvconf_read(FIX "/basic.conf", NULL, 0, out, 8, &n, err, sizeof(err)),
			 0);
	assert_int_equal(n, 5);
	assert_addr(&out[4], "127.0.0.1:53");
}

/* A listener on another port is another address: not skipped. */
static void test_skip_compares_port(void **state)
{
	(void)state;
	struct sockaddr_storage skip, out[4];
	size_t n = 0;
	char err[256] = "";
	assert_int_equal(sockaddr_parse("127.0.0.1:5353", 53, &skip), 0);
	assert_int_equal(resolvconf_read(FIX "/self.conf", &skip, 1, out, 4, &n, err, sizeof(err)),
			 0);
	assert_int_equal(n, 1);
	assert_addr(&out[0], "127.0.0.1:53");
}

static void test_max_bounds_the_output(void **state)
{
	(void)state;
	struct sockaddr_storage out[2];
	size_t n = 0;
	char err[256] = "";
	assert_int_equal(resolvconf_read(FIX "/basic.conf", NULL, 0, out, 2, &n, err, sizeof(err)),
			 0);
	assert_int_equal(n, 2);
	assert_addr(&out[1], "192.0.2.54:53");
}

static void test_numeric_scope(void **state)
{
	(void)state;
	struct sockaddr_storage out[2];
	size_t n = 0;
	char err[256] = "";
	assert_int_equal(resolvconf_read(FIX "/scope.conf", NULL, 0, out, 2, &n, err, sizeof(err)),
			 0);
	assert_int_equal(n, 1);
	assert_int_equal(((const struct sockaddr_in6 *)&out[0])->sin6_scope_id, 3);
}

static void test_bad_line(void **state)
{
	(void)state;
	struct sockaddr_storage out[4];
	size_t n = 99;
	char err[256] = "";
	assert_int_equal(resolvconf_read(FIX "/bad.conf", NULL, 0, out, 4, &n, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(n, 0);
	assert_string_equal(err, FIX "/bad.conf:3: \"dns.example.net\" is not an IP address");

	assert_int_equal(resolvconf_read(FIX "/noaddr.conf", NULL, 0, out, 4, &n, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, FIX "/noaddr.conf:2: nameserver without an address");
}

static void test_empty_file_is_enoent(void **state)
{
	(void)state;
	struct sockaddr_storage out[4];
	size_t n = 99;
	char err[256] = "";
	assert_int_equal(resolvconf_read(FIX "/empty.conf", NULL, 0, out, 4, &n, err, sizeof(err)),
			 -ENOENT);
	assert_int_equal(n, 0);
	assert_string_equal(err, FIX "/empty.conf: no nameserver line");
}

static void test_only_self_is_enoent(void **state)
{
	(void)state;
	struct sockaddr_storage skip, out[4];
	size_t n = 99;
	char err[256] = "";
	assert_int_equal(sockaddr_parse("127.0.0.1", 53, &skip), 0);
	assert_int_equal(resolvconf_read(FIX "/self.conf", &skip, 1, out, 4, &n, err, sizeof(err)),
			 -ENOENT);
	assert_string_equal(err, FIX
			    "/self.conf: no usable nameserver (each one is this server itself)");
}

static void test_missing_file(void **state)
{
	(void)state;
	struct sockaddr_storage out[4];
	size_t n = 99;
	char err[256] = "";
	assert_int_equal(resolvconf_read(FIX "/nope.conf", NULL, 0, out, 4, &n, err, sizeof(err)),
			 -ENOENT);
	assert_int_equal(n, 0);
	assert_string_equal(err, FIX "/nope.conf: cannot read: No such file or directory");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basic_file),
	    cmocka_unit_test(test_without_skip_list),
	    cmocka_unit_test(test_skip_compares_port),
	    cmocka_unit_test(test_max_bounds_the_output),
	    cmocka_unit_test(test_numeric_scope),
	    cmocka_unit_test(test_bad_line),
	    cmocka_unit_test(test_empty_file_is_enoent),
	    cmocka_unit_test(test_only_self_is_enoent),
	    cmocka_unit_test(test_missing_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
