/*
 * Tests for util/spsc_ring.c: records of every size in order across many
 * wrap-arounds of a small ring, a full ring refusing, a record too long for
 * the consumer skipped, the quarter-full hint. Single-threaded: the
 * producer/consumer hand-off under two threads is exercised by
 * test_querylog (a writer thread draining) and the integration tests.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "util/spsc_ring.h"

static void test_ring_order_wrap_and_full(void **state)
{
	(void)state;
	spsc_ring_t *r = spsc_ring_new(256);
	assert_non_null(r);
	assert_null(spsc_ring_new(100)); /* not a power of two */
	uint8_t in[64], out[64];
	uint32_t next_in = 0, next_out = 0;
	/* records of 1..37 bytes through a 256-byte ring, many times round */
	for (int round = 0; round < 500; round++) {
		for (;;) {
			uint32_t len = 1 + next_in % 37;
			memset(in, (int)(next_in & 0xff), len);
			if (!spsc_ring_push(r, in, len, NULL))
				break;
			next_in++;
		}
		assert_true(spsc_ring_used(r) > 256 - (ER_SPSC_RING_HEADER + 37));
		for (int k = 0; k < 1 + round % 7; k++) { /* 1..7 of the 6..60 held */
			size_t len = spsc_ring_pop(r, out, sizeof(out), NULL);
			if (len == 0)
				break;
			assert_int_equal(len, 1 + next_out % 37);
			for (size_t i = 0; i < len; i++)
				assert_int_equal(out[i], next_out & 0xff);
			next_out++;
		}
	}
	while (spsc_ring_pop(r, out, sizeof(out), NULL) > 0)
		next_out++;
	assert_int_equal(next_out, next_in);
	assert_int_equal(spsc_ring_used(r), 0);
	/* a record longer than the consumer's buffer is skipped, not returned */
	uint64_t skipped = 0;
	memset(in, 7, sizeof(in));
	assert_true(spsc_ring_push(r, in, 40, NULL));
	assert_true(spsc_ring_push(r, in, 8, NULL));
	assert_int_equal(spsc_ring_pop(r, out, 16, &skipped), 8);
	assert_int_equal(skipped, 1);
	bool is_filling = true;
	assert_true(spsc_ring_push(r, in, 8, &is_filling));
	assert_false(is_filling);
	assert_true(spsc_ring_push(r, in, 60, &is_filling));
	assert_true(is_filling); /* past a quarter */
	spsc_ring_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_order_wrap_and_full),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
