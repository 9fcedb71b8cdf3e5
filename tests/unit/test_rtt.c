/*
 * RFC 6298 estimator: first sample, smoothing, variance, clamps, backoff and
 * arithmetic at the edges of uint32_t. Expected values are worked out by
 * hand from the RFC formulas with round-to-nearest division.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "upstream/rtt.h"

static void test_no_sample(void **state)
{
	(void)state;
	rtt_t r;

	rtt_init(&r);
	assert_false(r.has_sample);
	assert_int_equal(rtt_srtt_ms(&r), -1);
	assert_int_equal(rtt_timeout_ms(&r, 1500), ER_RTT_UNKNOWN_MS);
	/* A group ceiling below 400 ms wins. */
	assert_int_equal(rtt_timeout_ms(&r, 300), 300);
	assert_int_equal(rtt_timeout_ms(&r, ER_RTT_FLOOR_MS), ER_RTT_FLOOR_MS);
}

static void test_first_sample(void **state)
{
	(void)state;
	rtt_t r;

	rtt_init(&r);
	rtt_update(&r, 20000);
	assert_true(r.has_sample);
	assert_int_equal(r.srtt_us, 20000);
	assert_int_equal(r.rttvar_us, 10000);
	assert_int_equal(rtt_srtt_ms(&r), 20);
	/* 20 ms + 4 * 10 ms */
	assert_int_equal(rtt_timeout_ms(&r, 1500), 60);
}

static void test_second_sample(void **state)
{
	(void)state;
	rtt_t r;

	rtt_init(&r);
	rtt_update(&r, 20000);
	rtt_update(&r, 36000);
	/* RTTVAR = 3/4 * 10000 + 1/4 * |20000 - 36000| = 11500 (old SRTT) */
	assert_int_equal(r.rttvar_us, 11500);
	/* SRTT = 7/8 * 20000 + 1/8 * 36000 = 22000 */
	assert_int_equal(r.srtt_us, 22000);
	/* 22000 + 46000 us = 68 ms */
	assert_int_equal(rtt_timeout_ms(&r, 1500), 68);
}

static void test_converges_to_steady_rtt(void **state)
{
	(void)state;
	rtt_t r;

	rtt_init(&r);
	rtt_update(&r, 200000);
	for (int i = 0; i < 200; i++)
		rtt_update(&r, 30000);
	/* Integer rounding leaves a bias of a few microseconds, no more. */
	assert_in_range(r.srtt_us, 30000 - 4, 30000 + 4);
	assert_true(r.rttvar_us <= 8);
	assert_int_equal(rtt_srtt_ms(&r), 30);
	/* rttvar is gone, so the RTO is ~30 ms, raised to the floor */
	assert_int_equal(rtt_timeout_ms(&r, 1500), ER_RTT_FLOOR_MS);
	/* and a slower steady RTT shows through unclamped */
	for (int i = 0; i < 200; i++)
		rtt_update(&r, 90000);
	assert_in_range(rtt_timeout_ms(&r, 1500), 90, 91);
}

static void test_jitter_grows_variance(void **state)
{
	(void)state;
	rtt_t steady, jittery;

	rtt_init(&steady);
	rtt_init(&jittery);
	for (int i = 0; i < 100; i++) {
		rtt_update(&steady, 100000);
		rtt_update(&jittery, i % 2 ? 50000 : 150000);
	}
	assert_true(steady.rttvar_us < 10);
	/* alternating +-50 ms around ~100 ms keeps RTTVAR near 50 ms */
	assert_in_range(jittery.rttvar_us, 40000, 60000);
	assert_true(rtt_timeout_ms(&jittery, 5000) > rtt_timeout_ms(&steady, 5000) + 150);
}

static void test_floor_clamp(void **state)
{
	(void)state;
	rtt_t r;

	rtt_init(&r);
	for (int i = 0; i < 50; i++)
		rtt_update(&r, 300); /* a LAN resolver, 0.3 ms */
	assert_int_equal(rtt_srtt_ms(&r), 0);
	assert_int_equal(rtt_timeout_ms(&r, 1500), ER_RTT_FLOOR_MS);
}

static void test_ceiling_clamp(void **state)
{
	(void)state;
	rtt_t r;

	rtt_init(&r);
	rtt_update(&r, 2000000); /* 2 s + 4 * 1 s = 6 s */
	assert_int_equal(rtt_timeout_ms(&r, 1500), 1500);
	assert_int_equal(rtt_timeout_ms(&r, 10000), 6000);
	/* A ceiling below the floor is the hard limit, and never 0. */
	assert_int_equal(rtt_timeout_ms(&r, 20), 20);
	assert_int_equal(rtt_timeout_ms(&r, 0), 1);
}

static void test_backoff_doubles_and_resets(void **state)
{
	(void)state;
	rtt_t r;

	rtt_init(&r);
	rtt_update(&r, 20000); /* 60 ms */
	rtt_timed_out(&r);
	assert_int_equal(rtt_timeout_ms(&r, 1500), 120);
	rtt_timed_out(&r);
	assert_int_equal(rtt_timeout_ms(&r, 1500), 240);
	rtt_timed_out(&r);
	assert_int_equal(rtt_timeout_ms(&r, 1500), 480);
	rtt_timed_out(&r);
	assert_int_equal(rtt_timeout_ms(&r, 1500), 960);
	rtt_timed_out(&r);
	assert_int_equal(rtt_timeout_ms(&r, 1500), 1500);

	rtt_update(&r, 20000);
	assert_int_equal(r.backoff, 0);
	assert_true(rtt_timeout_ms(&r, 1500) <= 60);
}

static void test_backoff_without_sample(void **state)
{
	(void)state;
	rtt_t r;

	rtt_init(&r);
	rtt_timed_out(&r);
	assert_int_equal(rtt_timeout_ms(&r, 1500), 800);
	rtt_timed_out(&r);
	assert_int_equal(rtt_timeout_ms(&r, 1500), 1500);
	/* A small ceiling caps the doubled value too. */
	rtt_init(&r);
	rtt_timed_out(&r);
	assert_int_equal(rtt_timeout_ms(&r, 300), 300);
}

static void test_backoff_saturates(void **state)
{
	(void)state;
	rtt_t r;

	rtt_init(&r);
	for (int i = 0; i < 1000; i++)
		rtt_timed_out(&r);
	assert_true(r.backoff > 0 && r.backoff < 32);
	assert_int_equal(rtt_timeout_ms(&r, UINT32_MAX), (uint32_t)ER_RTT_UNKNOWN_MS << r.backoff);
	assert_int_equal(rtt_timeout_ms(&r, 1500), 1500);
}

static void test_huge_samples_no_overflow(void **state)
{
	(void)state;
	rtt_t r;

	rtt_init(&r);
	rtt_update(&r, UINT32_MAX);
	assert_int_equal(r.srtt_us, UINT32_MAX);
	for (int i = 0; i < 10; i++)
		rtt_update(&r, UINT32_MAX);
	assert_int_equal(r.srtt_us, UINT32_MAX);
	assert_true(r.rttvar_us <= UINT32_MAX / 2 + 1);
	assert_int_equal(rtt_srtt_ms(&r), (int32_t)((UINT32_MAX + 500ull) / 1000));
	uint64_t base = ((uint64_t)r.srtt_us + 4ull * r.rttvar_us + 999) / 1000;
	assert_int_equal(rtt_timeout_ms(&r, UINT32_MAX), base);
	for (int i = 0; i < 40; i++)
		rtt_timed_out(&r);
	assert_int_equal(rtt_timeout_ms(&r, UINT32_MAX), base << r.backoff);
	assert_int_equal(rtt_timeout_ms(&r, 1500), 1500);

	/* Alternating extremes: the variance stays within 32 bits. */
	rtt_init(&r);
	for (int i = 0; i < 100; i++)
		rtt_update(&r, i % 2 ? 0 : UINT32_MAX);
	assert_true(r.srtt_us > 0 && r.srtt_us < UINT32_MAX);
	assert_true(r.rttvar_us > UINT32_MAX / 4);
	assert_int_equal(rtt_timeout_ms(&r, 1500), 1500);
	rtt_update(&r, 0);
	assert_true(rtt_timeout_ms(&r, UINT32_MAX) >= ER_RTT_FLOOR_MS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_sample),
		cmocka_unit_test(test_first_sample),
		cmocka_unit_test(test_second_sample),
		cmocka_unit_test(test_converges_to_steady_rtt),
		cmocka_unit_test(test_jitter_grows_variance),
		cmocka_unit_test(test_floor_clamp),
		cmocka_unit_test(test_ceiling_clamp),
		cmocka_unit_test(test_backoff_doubles_and_resets),
		cmocka_unit_test(test_backoff_without_sample),
		cmocka_unit_test(test_backoff_saturates),
		cmocka_unit_test(test_huge_samples_no_overflow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
