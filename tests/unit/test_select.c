/*
 * Health state machine and try-order policies. Time is a plain counter in
 * ms; "random" values are chosen by the test so every expectation is exact.
 * select.c explores when random % 100 < ER_EXPLORE_PERCENT and picks the
 * explored server with (random / 100) % (usable - 1).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "upstream/select.h"

/* A random value that never explores. */
#define NO_EXPLORE 99u

static void init_all(server_health_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		health_init(&s[i]);
}

static void fail_n(server_health_t *h, int times, uint32_t max_fails, uint64_t now)
{
	for (int i = 0; i < times; i++)
		health_on_failure(h, true, max_fails, 1000, now);
}

static void assert_order(const uint8_t *got, size_t got_n, const uint8_t *want, size_t want_n)
{
	assert_int_equal(got_n, want_n);
	assert_memory_equal(got, want, want_n);
}

#define ASSERT_ORDER(got, got_n, ...)                                                    \
	do {                                                                             \
		const uint8_t want_[] = { __VA_ARGS__ };                                 \
		assert_order((got), (got_n), want_, sizeof(want_));                      \
	} while (0)

static void test_policy_parse_and_name(void **state)
{
	(void)state;
	select_policy_t p = SELECT_ORDERED;

	assert_int_equal(select_policy_parse("fastest", &p), 0);
	assert_int_equal(p, SELECT_FASTEST);
	assert_int_equal(select_policy_parse("ordered", &p), 0);
	assert_int_equal(p, SELECT_ORDERED);
	assert_int_equal(select_policy_parse("round-robin", &p), 0);
	assert_int_equal(p, SELECT_ROUND_ROBIN);
	assert_int_equal(select_policy_parse("roundrobin", &p), -EINVAL);
	assert_int_equal(select_policy_parse("", &p), -EINVAL);
	assert_int_equal(select_policy_parse("Fastest", &p), -EINVAL);
	assert_int_equal(select_policy_parse(NULL, &p), -EINVAL);
	assert_int_equal(p, SELECT_ROUND_ROBIN); /* untouched on failure */
	assert_string_equal(select_policy_name(SELECT_FASTEST), "fastest");
	assert_string_equal(select_policy_name(SELECT_ORDERED), "ordered");
	assert_string_equal(select_policy_name(SELECT_ROUND_ROBIN), "round-robin");
}

static void test_ordered_keeps_config_order(void **state)
{
	(void)state;
	server_health_t s[3];
	uint8_t order[3];

	init_all(s, 3);
	health_on_success(&s[0], 90000);
	health_on_success(&s[2], 1000);
	for (uint32_t r = 0; r < 200; r++) {
		size_t k = select_order(SELECT_ORDERED, s, 3, NULL, r, 0, order);
		ASSERT_ORDER(order, k, 0, 1, 2);
	}
}

static void test_fastest_sorts_by_srtt(void **state)
{
	(void)state;
	server_health_t s[4];
	uint8_t order[4];

	init_all(s, 4);
	health_on_success(&s[0], 120000);
	health_on_success(&s[1], 5000);
	/* s[2] has no sample: counted as 400 ms */
	health_on_success(&s[3], 5000); /* ties with s[1]: config order */
	size_t k = select_order(SELECT_FASTEST, s, 4, NULL, NO_EXPLORE, 0, order);
	ASSERT_ORDER(order, k, 1, 3, 0, 2);

	health_on_success(&s[0], 500000); /* smoothed to ~167 ms, still < 400 */
	k = select_order(SELECT_FASTEST, s, 4, NULL, NO_EXPLORE, 0, order);
	ASSERT_ORDER(order, k, 1, 3, 0, 2);
}

static void test_fastest_notices_change(void **state)
{
	(void)state;
	server_health_t s[2];
	uint8_t order[2];

	init_all(s, 2);
	health_on_success(&s[0], 40000);
	health_on_success(&s[1], 20000);
	size_t k = select_order(SELECT_FASTEST, s, 2, NULL, NO_EXPLORE, 0, order);
	ASSERT_ORDER(order, k, 1, 0);

	/* s[1] slows down; s[0] gets faster (e.g. seen through exploration). */
	int rounds = 0;

	while (order[0] == 1) {
		health_on_success(&s[1], 60000);
		health_on_success(&s[0], 10000);
		k = select_order(SELECT_FASTEST, s, 2, NULL, NO_EXPLORE, 0, order);
		assert_int_equal(k, 2);
		assert_true(++rounds < 10);
	}
	ASSERT_ORDER(order, k, 0, 1);
	assert_true(rtt_srtt_ms(&s[0].rtt) < rtt_srtt_ms(&s[1].rtt));
}

static void test_exploration_rate(void **state)
{
	(void)state;
	server_health_t s[3];
	uint8_t order[3];
	unsigned explored = 0, front[3] = { 0 };

	init_all(s, 3);
	health_on_success(&s[0], 30000);
	health_on_success(&s[1], 10000);
	health_on_success(&s[2], 20000);
	for (uint32_t r = 0; r < 10000; r++) {
		size_t k = select_order(SELECT_FASTEST, s, 3, NULL, r, 0, order);

		assert_int_equal(k, 3);
		front[order[0]]++;
		if (order[0] != 1) {
			explored++;
			/* the rest keeps its RTT order */
			assert_int_equal(order[1], 1);
		}
	}
	/* r % 100 < 5 for exactly 5 of every 100 consecutive values */
	assert_int_equal(explored, 10000 * ER_EXPLORE_PERCENT / 100);
	/* (r / 100) % 2 splits them evenly between the two others */
	assert_int_equal(front[0], explored / 2);
	assert_int_equal(front[2], explored / 2);

	/* Spread-out values from a 32-bit LCG explore at about the same rate. */
	uint32_t x = 12345;

	explored = 0;
	for (int i = 0; i < 10000; i++) {
		x = x * 1664525u + 1013904223u;
		select_order(SELECT_FASTEST, s, 3, NULL, x, 0, order);
		explored += order[0] != 1;
	}
	assert_in_range(explored, 400, 600);
}

static void test_no_exploration_with_one_usable(void **state)
{
	(void)state;
	server_health_t s[2];
	uint8_t order[2];

	init_all(s, 2);
	health_on_success(&s[0], 10000);
	health_on_success(&s[1], 20000);
	fail_n(&s[0], 3, 3, 0);
	assert_true(s[0].is_down);
	for (uint32_t r = 0; r < 10000; r++) {
		size_t k = select_order(SELECT_FASTEST, s, 2, NULL, r, 500, order);
		ASSERT_ORDER(order, k, 1);
	}
	/* and a single-server group never moves anything */
	for (uint32_t r = 0; r < 1000; r++) {
		size_t k = select_order(SELECT_FASTEST, &s[1], 1, NULL, r, 500, order);
		ASSERT_ORDER(order, k, 0);
	}
}

static void test_ordered_returns_to_first_after_trial(void **state)
{
	(void)state;
	server_health_t s[3];
	uint8_t order[3];
	uint64_t now = 10000;

	init_all(s, 3);
	fail_n(&s[0], 3, 3, now);
	size_t k = select_order(SELECT_ORDERED, s, 3, NULL, NO_EXPLORE, now, order);
	ASSERT_ORDER(order, k, 1, 2);

	now = s[0].next_probe_ms - 1;
	k = select_order(SELECT_ORDERED, s, 3, NULL, NO_EXPLORE, now, order);
	ASSERT_ORDER(order, k, 1, 2);

	now++; /* trial due: server 0 is tried first again */
	k = select_order(SELECT_ORDERED, s, 3, NULL, NO_EXPLORE, now, order);
	ASSERT_ORDER(order, k, 0, 1, 2);
	assert_true(health_on_success(&s[0], 15000));

	now += 100000;
	k = select_order(SELECT_ORDERED, s, 3, NULL, NO_EXPLORE, now, order);
	ASSERT_ORDER(order, k, 0, 1, 2);
}

static void test_all_down_returns_all(void **state)
{
	(void)state;
	server_health_t s[3];
	uint8_t order[3];
	uint32_t cursor = 1;

	init_all(s, 3);
	health_on_success(&s[0], 50000);
	health_on_success(&s[1], 40000);
	health_on_success(&s[2], 10000);
	/* down at 0, 400, 800 ms: trials due at 1000, 1400, 1800 ms */
	for (int i = 0; i < 3; i++)
		fail_n(&s[i], 3, 3, (uint64_t)i * 400);
	size_t k = select_order(SELECT_ORDERED, s, 3, NULL, NO_EXPLORE, 900, order);
	ASSERT_ORDER(order, k, 0, 1, 2);
	k = select_order(SELECT_FASTEST, s, 3, NULL, NO_EXPLORE, 900, order);
	ASSERT_ORDER(order, k, 2, 1, 0);
	k = select_order(SELECT_ROUND_ROBIN, s, 3, &cursor, NO_EXPLORE, 900, order);
	ASSERT_ORDER(order, k, 1, 2, 0);
	assert_int_equal(cursor, 2);

	/* once some trials are due, only those are tried */
	k = select_order(SELECT_ORDERED, s, 3, NULL, NO_EXPLORE, 1000, order);
	ASSERT_ORDER(order, k, 0);
	k = select_order(SELECT_ORDERED, s, 3, NULL, NO_EXPLORE, 1400, order);
	ASSERT_ORDER(order, k, 0, 1);
	k = select_order(SELECT_FASTEST, s, 3, NULL, NO_EXPLORE, 1400, order);
	ASSERT_ORDER(order, k, 1, 0);
}

static void test_round_robin_cursor(void **state)
{
	(void)state;
	server_health_t s[3];
	uint8_t order[3];
	uint32_t cursor = 0;

	init_all(s, 3);
	size_t k = select_order(SELECT_ROUND_ROBIN, s, 3, &cursor, NO_EXPLORE, 0, order);
	ASSERT_ORDER(order, k, 0, 1, 2);
	k = select_order(SELECT_ROUND_ROBIN, s, 3, &cursor, NO_EXPLORE, 0, order);
	ASSERT_ORDER(order, k, 1, 2, 0);
	k = select_order(SELECT_ROUND_ROBIN, s, 3, &cursor, NO_EXPLORE, 0, order);
	ASSERT_ORDER(order, k, 2, 0, 1);
	k = select_order(SELECT_ROUND_ROBIN, s, 3, &cursor, NO_EXPLORE, 0, order);
	ASSERT_ORDER(order, k, 0, 1, 2);
	assert_int_equal(cursor, 4);

	/* a down server drops out; the rotation goes on */
	fail_n(&s[1], 3, 3, 0);
	k = select_order(SELECT_ROUND_ROBIN, s, 3, &cursor, NO_EXPLORE, 0, order);
	ASSERT_ORDER(order, k, 2, 0);
	k = select_order(SELECT_ROUND_ROBIN, s, 3, &cursor, NO_EXPLORE, 0, order);
	ASSERT_ORDER(order, k, 2, 0);
	k = select_order(SELECT_ROUND_ROBIN, s, 3, &cursor, NO_EXPLORE, 0, order);
	ASSERT_ORDER(order, k, 0, 2);
	assert_int_equal(cursor, 7);

	/* wrap-around of the 32-bit cursor stays in range */
	cursor = UINT32_MAX;
	k = select_order(SELECT_ROUND_ROBIN, s, 3, &cursor, NO_EXPLORE, 0, order);
	assert_int_equal(k, 2);
	assert_int_equal(cursor, 0);
}

static void test_max_group(void **state)
{
	(void)state;
	server_health_t s[ER_GROUP_MAX_SERVERS];
	uint8_t order[ER_GROUP_MAX_SERVERS];

	init_all(s, ER_GROUP_MAX_SERVERS);
	for (size_t i = 0; i < ER_GROUP_MAX_SERVERS; i++)
		health_on_success(&s[i], (uint32_t)(ER_GROUP_MAX_SERVERS - i) * 1000);
	size_t k = select_order(SELECT_FASTEST, s, ER_GROUP_MAX_SERVERS, NULL, NO_EXPLORE, 0,
				order);
	assert_int_equal(k, ER_GROUP_MAX_SERVERS);
	for (size_t i = 0; i < k; i++)
		assert_int_equal(order[i], ER_GROUP_MAX_SERVERS - 1 - i);
	assert_int_equal(select_order(SELECT_FASTEST, s, 0, NULL, 0, 0, order), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_parse_and_name),
		cmocka_unit_test(test_ordered_keeps_config_order),
		cmocka_unit_test(test_fastest_sorts_by_srtt),
		cmocka_unit_test(test_fastest_notices_change),
		cmocka_unit_test(test_exploration_rate),
		cmocka_unit_test(test_no_exploration_with_one_usable),
		cmocka_unit_test(test_ordered_returns_to_first_after_trial),
		cmocka_unit_test(test_all_down_returns_all),
		cmocka_unit_test(test_round_robin_cursor),
		cmocka_unit_test(test_max_group),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
