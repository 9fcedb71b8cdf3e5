/*
 * SPEC 2.1's table of what an upstream answer does, row by row: the
 * classification of every kind of attempt result, and each row's effect on
 * the query and on the server's health.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <uv.h>

#include "dns/wire.h"
#include "upstream/outcome.h"

/* A response header with the given rcode (QR=1, RA=1, one question). */
static void header(uint8_t *msg, unsigned rcode)
{
	uint8_t h[ER_DNS_HEADER_LEN] = { 0x12, 0x34, 0x81, (uint8_t)(0x80 | rcode), 0, 1 };
	for (size_t i = 0; i < sizeof(h); i++)
		msg[i] = h[i];
}

static outcome_t classify_rcode(unsigned rcode)
{
	uint8_t msg[ER_DNS_HEADER_LEN];
	header(msg, rcode);
	return outcome_classify(0, msg, sizeof(msg));
}

static void test_no_answer_rows(void **state)
{
	(void)state;
	assert_int_equal(outcome_classify(UV_ETIMEDOUT, NULL, 0), OUTCOME_TIMEOUT);
	assert_int_equal(outcome_classify(UV_ECONNREFUSED, NULL, 0), OUTCOME_NETWORK_ERROR);
	assert_int_equal(outcome_classify(-ECONNRESET, NULL, 0), OUTCOME_NETWORK_ERROR);
	assert_int_equal(outcome_classify(UV_ENETUNREACH, NULL, 0), OUTCOME_NETWORK_ERROR);
	assert_int_equal(outcome_classify(-EBADMSG, NULL, 0), OUTCOME_GARBAGE);
	uint8_t short_msg[4] = { 0 };
	assert_int_equal(outcome_classify(0, short_msg, sizeof(short_msg)), OUTCOME_GARBAGE);
	assert_int_equal(outcome_classify(0, NULL, 0), OUTCOME_GARBAGE);
	for (outcome_t o = OUTCOME_TIMEOUT; o <= OUTCOME_GARBAGE; o++) {
		assert_int_equal(outcome_rule(o)->query, QUERY_NEXT_SERVER);
		assert_int_equal(outcome_rule(o)->health, HEALTH_FAILURE);
	}
}

/* Regression (issue 9, defect 2): SERVFAIL counted as a failure, so one
 * name an HQ resolver could not resolve marked a healthy server down. */
static void test_error_rcodes_keep_server_alive(void **state)
{
	(void)state;
	const unsigned errors[] = { DNS_RCODE_SERVFAIL, DNS_RCODE_REFUSED, DNS_RCODE_FORMERR,
				    DNS_RCODE_NOTIMP };
	for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
		outcome_t o = classify_rcode(errors[i]);
		assert_int_equal(o, OUTCOME_ERROR_RCODE);
		assert_int_equal(outcome_rule(o)->query, QUERY_NEXT_SERVER_ONCE);
		assert_int_equal(outcome_rule(o)->health, HEALTH_ALIVE);
	}
}

static void test_answers_are_relayed(void **state)
{
	(void)state;
	const unsigned answers[] = { DNS_RCODE_NOERROR, DNS_RCODE_NXDOMAIN, 6 /* YXDOMAIN */,
				     9 /* NOTAUTH */ };
	for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
		outcome_t o = classify_rcode(answers[i]);
		assert_int_equal(o, OUTCOME_ANSWER);
		assert_int_equal(outcome_rule(o)->query, QUERY_RELAY);
		assert_int_equal(outcome_rule(o)->health, HEALTH_ALIVE_RTT);
	}
}

/* SPEC 2.1's `outside` row (the ExpressRoute audit, `audit: fallback`). */
static void test_outside_row(void **state)
{
	(void)state;
	outcome_t o = classify_rcode(DNS_RCODE_NOERROR);
	assert_int_equal(outcome_audit(o, ER_VERDICT_OUTSIDE, ER_AUDIT_FALLBACK), OUTCOME_OUTSIDE);
	assert_int_equal(outcome_rule(OUTCOME_OUTSIDE)->query, QUERY_NEXT_GROUP);
	assert_int_equal(outcome_rule(OUTCOME_OUTSIDE)->health, HEALTH_ALIVE);
	/* observed only, or not outside: relayed as usual */
	assert_int_equal(outcome_audit(o, ER_VERDICT_OUTSIDE, ER_AUDIT_OBSERVE), OUTCOME_ANSWER);
	assert_int_equal(outcome_audit(o, ER_VERDICT_INSIDE, ER_AUDIT_FALLBACK), OUTCOME_ANSWER);
	assert_int_equal(outcome_audit(o, ER_VERDICT_NONE, ER_AUDIT_FALLBACK), OUTCOME_ANSWER);
	assert_int_equal(outcome_audit(o, ER_VERDICT_UNJUDGED, ER_AUDIT_FALLBACK), OUTCOME_ANSWER);
	/* only an answer can be outside */
	assert_int_equal(outcome_audit(OUTCOME_ERROR_RCODE, ER_VERDICT_OUTSIDE, ER_AUDIT_FALLBACK),
			 OUTCOME_ERROR_RCODE);
}

static void test_every_row_named(void **state)
{
	(void)state;
	for (outcome_t o = 0; o < OUTCOME_COUNT; o++)
		assert_non_null(outcome_rule(o)->name);
	/* out of range reads as garbage, never past the table */
	assert_ptr_equal(outcome_rule(OUTCOME_COUNT), outcome_rule(OUTCOME_GARBAGE));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_answer_rows),
		cmocka_unit_test(test_error_rcodes_keep_server_alive),
		cmocka_unit_test(test_answers_are_relayed),
		cmocka_unit_test(test_outside_row),
		cmocka_unit_test(test_every_row_named),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
