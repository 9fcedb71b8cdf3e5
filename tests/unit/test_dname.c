/*
 * Tests for dns/dname.c: text <-> wire conversion (escapes, the 63/255
 * limits), wire length scanning, and the case-insensitive comparisons the
 * router and the cache depend on. Names at the limits are generated rather
 * than spelled out, so the boundaries are exact.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "dns/dname.h"

/* from_text must succeed; returns the wire length. */
static size_t wire(const char *text, uint8_t out[ER_DNAME_MAX])
{
	size_t len = dname_from_text(text, out);
	assert_int_not_equal(len, 0);
	assert_int_equal(dname_wire_len(out, ER_DNAME_MAX), len);
	return len;
}

/* A name of labels of the given lengths, filled with 'a'. */
static void make_text(char *out, const size_t *labels, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (i)
			out[o++] = '.';
		memset(out + o, 'a', labels[i]);
		o += labels[i];
	}
	out[o] = '\0';
}

static void test_from_text(void **state)
{
	(void)state;
	uint8_t w[ER_DNAME_MAX];
	assert_int_equal(wire("www.Example.com", w), 17);
	assert_memory_equal(w, "\003www\007Example\003com", 17);
	assert_int_equal(wire("www.Example.com.", w), 17);
	assert_int_equal(wire(".", w), 1);
	assert_int_equal(w[0], 0);
	assert_int_equal(wire("a", w), 3);
	assert_memory_equal(w, "\001a", 3);
}

static void test_from_text_escapes(void **state)
{
	(void)state;
	uint8_t w[ER_DNAME_MAX];
	assert_int_equal(wire("a\\.b.c", w), 7);
	assert_memory_equal(w, "\003a.b\001c", 7);
	assert_int_equal(wire("\\065bc", w), 5);
	assert_memory_equal(w, "\003Abc", 5);
	assert_int_equal(wire("\\000\\255", w), 4);
	assert_memory_equal(w, "\002\000\377", 4);
	assert_int_equal(wire("a\\\\b", w), 5);
	assert_memory_equal(w, "\003a\\b", 5);
	/* An escaped byte counts once toward the 63-byte limit. */
	char text[300] = "";
	for (int i = 0; i < 63; i++)
		strcat(text, "\\046");
	assert_int_equal(wire(text, w), 65);
	strcat(text, "x");
	assert_int_equal(dname_from_text(text, w), 0);
}

static void test_from_text_invalid(void **state)
{
	(void)state;
	uint8_t w[ER_DNAME_MAX];
	static const char *const bad[] = {
		"",	"..",	".a",	  "a..b",   "a.b..", "\\",
		"a\\",	"\\256", "\\25",  "\\1a",   "\\999",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(dname_from_text(bad[i], w), 0);
}

static void test_limits(void **state)
{
	(void)state;
	uint8_t w[ER_DNAME_MAX];
	char text[400];
	size_t l63[] = { 63 };
	make_text(text, l63, 1);
	assert_int_equal(wire(text, w), 65);
	size_t l64[] = { 64 };
	make_text(text, l64, 1);
	assert_int_equal(dname_from_text(text, w), 0);
	/* 3 * 64 + 62 + 1 = 255: the longest legal name. */
	size_t max[] = { 63, 63, 63, 61 };
	make_text(text, max, 4);
	assert_int_equal(wire(text, w), 255);
	strcat(text, ".");
	assert_int_equal(wire(text, w), 255);
	size_t over[] = { 63, 63, 63, 62 };
	make_text(text, over, 4);
	assert_int_equal(dname_from_text(text, w), 0);
	/* 127 one-byte labels: 254 + 1. */
	size_t ones[127];
	for (size_t i = 0; i < 127; i++)
		ones[i] = 1;
	make_text(text, ones, 127);
	assert_int_equal(wire(text, w), 255);
	assert_int_equal(dname_label_count(w), 127);
	size_t ones128[128];
	for (size_t i = 0; i < 128; i++)
		ones128[i] = 1;
	make_text(text, ones128, 128);
	assert_int_equal(dname_from_text(text, w), 0);
}

static void round_trip(const char *text, const char *expect)
{
	uint8_t w[ER_DNAME_MAX], w2[ER_DNAME_MAX];
	char out[ER_DNAME_TEXT_MAX];
	size_t len = wire(text, w);
	dname_to_text(w, out);
	assert_string_equal(out, expect);
	assert_int_equal(wire(out, w2), len);
	assert_memory_equal(w, w2, len);
}

static void test_to_text(void **state)
{
	(void)state;
	round_trip("www.Example.com.", "www.Example.com");
	round_trip(".", ".");
	round_trip("a\\.b.c", "a\\.b.c");
	round_trip("a\\\\b", "a\\\\b");
	round_trip("\\000\\032x\\127\\255", "\\000\\032x\\127\\255");
	round_trip("a\\ b", "a\\032b");
	round_trip("q\\\"\\;\\(\\)", "q\\\"\\;\\(\\)");
	round_trip("_ldap._tcp.dc._msdcs.corp", "_ldap._tcp.dc._msdcs.corp");
}

/* The worst case for the text buffer: 4 x 63 bytes, each \DDD. */
static void test_to_text_worst_case(void **state)
{
	(void)state;
	uint8_t w[ER_DNAME_MAX];
	size_t o = 0;
	for (int l = 0; l < 4; l++) {
		size_t n = l < 3 ? 63 : 61;
		w[o++] = (uint8_t)n;
		memset(w + o, 0xff, n);
		o += n;
	}
	w[o++] = 0;
	assert_int_equal(o, 255);
	char out[ER_DNAME_TEXT_MAX];
	dname_to_text(w, out);
	assert_int_equal(strlen(out), 250 * 4 + 3);
	uint8_t back[ER_DNAME_MAX];
	assert_int_equal(wire(out, back), 255);
	assert_memory_equal(back, w, 255);
}

static void test_wire_len(void **state)
{
	(void)state;
	const uint8_t name[] = "\003www\007example\003com";
	assert_int_equal(dname_wire_len(name, sizeof(name)), 17);
	for (size_t max = 0; max < 17; max++)
		assert_int_equal(dname_wire_len(name, max), 0);
	const uint8_t ptr[] = "\003www\300\014";
	assert_int_equal(dname_wire_len(ptr, sizeof(ptr)), 0);
	const uint8_t reserved[] = "\100abc";
	assert_int_equal(dname_wire_len(reserved, sizeof(reserved)), 0);
	uint8_t big[300];
	memset(big, 'a', sizeof(big));
	for (size_t i = 0; i < 256; i += 64)
		big[i] = 63;
	big[256] = 0; /* 4 * 64 + 1 = 257 */
	assert_int_equal(dname_wire_len(big, sizeof(big)), 0);
}

static void test_equal(void **state)
{
	(void)state;
	uint8_t a[ER_DNAME_MAX], b[ER_DNAME_MAX];
	wire("WWW.example.COM", a);
	wire("www.EXAMPLE.com.", b);
	assert_true(dname_equal(a, b));
	wire("www.example.co", b);
	assert_false(dname_equal(a, b));
	wire("ab.c", a);
	wire("a.bc", b);
	assert_false(dname_equal(a, b));
	wire(".", a);
	wire(".", b);
	assert_true(dname_equal(a, b));
	wire("a", b);
	assert_false(dname_equal(a, b));
	/* Only ASCII folds (RFC 4343): 0xC0 and 0xE0 stay distinct. */
	wire("\\192", a);
	wire("\\224", b);
	assert_false(dname_equal(a, b));
	/* '@' (0x40) and '`' (0x60) are not letters. */
	wire("@", a);
	wire("`", b);
	assert_false(dname_equal(a, b));
}

static void test_to_lower(void **state)
{
	(void)state;
	uint8_t w[ER_DNAME_MAX];
	size_t len = wire("MiXeD.\\192Z@[.COM", w);
	dname_to_lower(w);
	assert_int_equal(dname_wire_len(w, ER_DNAME_MAX), len);
	assert_memory_equal(w, "\005mixed\004\300z@[\003com", len);
}

static void test_subdomain(void **state)
{
	(void)state;
	uint8_t n[ER_DNAME_MAX], apex[ER_DNAME_MAX];
	wire("www.Outlook.Office.com", n);
	assert_int_equal(dname_label_count(n), 4);
	wire("office.COM", apex);
	assert_true(dname_is_subdomain(n, apex));
	assert_true(dname_is_subdomain(apex, apex));
	assert_false(dname_is_subdomain(apex, n));
	wire(".", apex);
	assert_int_equal(dname_label_count(apex), 0);
	assert_true(dname_is_subdomain(n, apex));
	wire("ice.com", apex);
	assert_false(dname_is_subdomain(n, apex));
	wire("outlook.office365.com", apex);
	assert_false(dname_is_subdomain(n, apex));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_from_text),
		cmocka_unit_test(test_from_text_escapes),
		cmocka_unit_test(test_from_text_invalid),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_to_text),
		cmocka_unit_test(test_to_text_worst_case),
		cmocka_unit_test(test_wire_len),
		cmocka_unit_test(test_equal),
		cmocka_unit_test(test_to_lower),
		cmocka_unit_test(test_subdomain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
