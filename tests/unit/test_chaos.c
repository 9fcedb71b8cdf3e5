/*
 * Tests for dns/chaos.c: the four identity names in any case, and everything
 * else (including near misses) falling through to the routing check.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "dns/chaos.h"
#include "dns/dname.h"

static chaos_kind_t classify(const char *text)
{
	uint8_t wire[ER_DNAME_MAX];
	assert_int_not_equal(dname_from_text(text, wire), 0);
	return chaos_classify(wire);
}

static void test_identity_names(void **state)
{
	(void)state;
	assert_int_equal(classify("id.server"), CHAOS_ID_SERVER);
	assert_int_equal(classify("hostname.bind."), CHAOS_HOSTNAME_BIND);
	assert_int_equal(classify("version.server"), CHAOS_VERSION_SERVER);
	assert_int_equal(classify("version.bind"), CHAOS_VERSION_SERVER);
}

static void test_case_insensitive(void **state)
{
	(void)state;
	assert_int_equal(classify("ID.Server"), CHAOS_ID_SERVER);
	assert_int_equal(classify("HOSTNAME.BIND"), CHAOS_HOSTNAME_BIND);
	assert_int_equal(classify("VeRsIoN.sErVeR."), CHAOS_VERSION_SERVER);
	assert_int_equal(classify("Version.Bind"), CHAOS_VERSION_SERVER);
}

static void test_routing(void **state)
{
	(void)state;
	assert_int_equal(classify("outlook.office.com"), CHAOS_ROUTING);
	assert_int_equal(classify("."), CHAOS_ROUTING);
	assert_int_equal(classify("server"), CHAOS_ROUTING);
	assert_int_equal(classify("bind"), CHAOS_ROUTING);
	assert_int_equal(classify("x.id.server"), CHAOS_ROUTING);
	assert_int_equal(classify("id.server.com"), CHAOS_ROUTING);
	assert_int_equal(classify("ids.server"), CHAOS_ROUTING);
	assert_int_equal(classify("id.bind"), CHAOS_ROUTING);
	assert_int_equal(classify("authors.bind"), CHAOS_ROUTING);
	assert_int_equal(classify("hostname.server"), CHAOS_ROUTING);
	assert_int_equal(classify("version\\.bind"), CHAOS_ROUTING);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity_names),
		cmocka_unit_test(test_case_insensitive),
		cmocka_unit_test(test_routing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
