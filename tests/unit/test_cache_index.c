/*
 * Tests for resolver/cache/index.c. The hash is the caller's, so these tests
 * choose it: items that share a home group, a tag, or both, probe chains
 * that wrap around the table's end, and removals from the middle of a
 * chain, checked against a plain array that says what must be found.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache/index.h"

typedef struct item {
	uint64_t hash;
	int key;
	bool is_in;
} item_t;

static bool item_is_key(const void *item, const void *ctx)
{
	return ((const item_t *)item)->key == *(const int *)ctx;
}

static uint64_t item_hash_of(const void *item)
{
	return ((const item_t *)item)->hash;
}

static item_t *find(cache_index_t *ix, const item_t *it)
{
	return cache_index_find(ix, it->hash, item_is_key, &it->key);
}

/* A hash with home group `home` and tag `tag` (the top byte). */
static uint64_t hash_of(uint64_t home, uint8_t tag, uint64_t salt)
{
	return ((uint64_t)tag << 56) | (salt << 20) | home;
}

/* Every item marked in is found as itself, every other is not found. */
static void check_all(cache_index_t *ix, item_t *items, size_t n)
{
	size_t in = 0;
	for (size_t i = 0; i < n; i++) {
		item_t *got = find(ix, &items[i]);
		if (items[i].is_in) {
			assert_ptr_equal(got, &items[i]);
			in++;
		} else {
			assert_null(got);
		}
	}
	assert_int_equal(ix->n_items, in);
}

static void test_init_rejects_bad_sizes(void **state)
{
	(void)state;
	cache_index_t ix;
	assert_int_equal(cache_index_init(&ix, 0), -EINVAL);
	assert_int_equal(cache_index_init(&ix, 12), -EINVAL);
	assert_int_equal(cache_index_init(&ix, 16), 0);
	assert_int_equal(cache_index_capacity(16), 16 * 7 * 4 / 5);
	assert_true(cache_index_table_bytes(16) >= (size_t)16 * 64);
	cache_index_free(&ix);
}

/* Same home and same tag: the tag lets every item through, the key test
 * tells them apart, and the chain spills into the following groups. */
static void test_one_home_one_tag_spills_over(void **state)
{
	(void)state;
	cache_index_t ix;
	assert_int_equal(cache_index_init(&ix, 8), 0);
	item_t items[30];
	for (int i = 0; i < 30; i++) {
		items[i] = (item_t){ .hash = hash_of(3, 0xab, 0), .key = i, .is_in = true };
		assert_int_equal(cache_index_insert(&ix, items[i].hash, &items[i]), 0);
	}
	check_all(&ix, items, 30);
	/* Remove from the home group and from the middle of the spill. */
	for (int i = 0; i < 30; i += 3) {
		assert_true(cache_index_remove(&ix, items[i].hash, &items[i]));
		items[i].is_in = false;
	}
	check_all(&ix, items, 30);
	assert_false(cache_index_remove(&ix, items[0].hash, &items[0]));
	cache_index_free(&ix);
}

/* A chain from the last group wraps to group 0; removing the items in
 * the home group leaves the wrapped ones findable. */
static void test_wraps_around_the_end(void **state)
{
	(void)state;
	cache_index_t ix;
	assert_int_equal(cache_index_init(&ix, 4), 0);
	item_t items[20];
	for (int i = 0; i < 20; i++) {
		items[i] = (item_t){ .hash = hash_of(3, (uint8_t)i, (uint64_t)i), .key = i,
				     .is_in = true };
		assert_int_equal(cache_index_insert(&ix, items[i].hash, &items[i]), 0);
	}
	check_all(&ix, items, 20);
	for (int i = 0; i < 7; i++) {
		assert_true(cache_index_remove(&ix, items[i].hash, &items[i]));
		items[i].is_in = false;
	}
	check_all(&ix, items, 20);
	cache_index_free(&ix);
}

/* Capacity is a hard limit; a resize re-homes every item; a resize that
 * would not hold them is refused and changes nothing. */
static void test_full_and_resize(void **state)
{
	(void)state;
	cache_index_t ix;
	assert_int_equal(cache_index_init(&ix, 2), 0);
	size_t cap = cache_index_capacity(2);
	item_t *items = calloc(cap + 1, sizeof(*items));
	assert_non_null(items);
	for (size_t i = 0; i < cap; i++) {
		items[i] = (item_t){ .hash = hash_of(i * 5, (uint8_t)(i * 7), i), .key = (int)i,
				     .is_in = true };
		assert_int_equal(cache_index_insert(&ix, items[i].hash, &items[i]), 0);
	}
	assert_true(cache_index_is_full(&ix));
	items[cap] = (item_t){ .hash = 1, .key = -1 };
	assert_int_equal(cache_index_insert(&ix, items[cap].hash, &items[cap]), -ENOSPC);
	assert_int_equal(cache_index_resize(&ix, 1, item_hash_of), -ENOSPC);
	assert_int_equal(ix.n_groups, 2);
	assert_int_equal(cache_index_resize(&ix, 3, item_hash_of), -EINVAL);
	assert_int_equal(cache_index_resize(&ix, 64, item_hash_of), 0);
	assert_int_equal(ix.n_groups, 64);
	assert_false(cache_index_is_full(&ix));
	check_all(&ix, items, cap + 1);
	cache_index_free(&ix);
	free(items);
}

/* More than 255 items probe past one group: its count sticks, and the
 * index stays correct through removing them all and adding them back. */
static void test_overflow_count_sticks(void **state)
{
	(void)state;
	cache_index_t ix;
	assert_int_equal(cache_index_init(&ix, 64), 0);
	enum { N = 300 };
	item_t *items = calloc(N, sizeof(*items));
	assert_non_null(items);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < N; i++) {
			items[i] = (item_t){ .hash = hash_of(5, (uint8_t)i, (uint64_t)i), .key = i,
					     .is_in = true };
			assert_int_equal(cache_index_insert(&ix, items[i].hash, &items[i]), 0);
		}
		check_all(&ix, items, N);
		for (int i = 0; i < N; i++) {
			assert_true(cache_index_remove(&ix, items[i].hash, &items[i]));
			items[i].is_in = false;
		}
		check_all(&ix, items, N);
	}
	cache_index_free(&ix);
	free(items);
}

/* Random inserts and removals over a small table with few homes, so
 * chains overlap, against the array as the model. */
static void test_random_against_model(void **state)
{
	(void)state;
	cache_index_t ix;
	assert_int_equal(cache_index_init(&ix, 16), 0);
	enum { N = 80, STEPS = 20000 };
	item_t items[N];
	uint32_t x = 12345;
	for (int i = 0; i < N; i++) {
		x = x * 1664525u + 1013904223u;
		/* 4 homes of 16 and 4 tags: heavy sharing of both. */
		uint64_t home = (uint64_t)((x >> 8) % 4) * 4;
		uint8_t tag = (uint8_t)((x >> 16) % 4);
		items[i] = (item_t){ .hash = hash_of(home, tag, (uint64_t)i), .key = i };
	}
	for (int step = 0; step < STEPS; step++) {
		x = x * 1664525u + 1013904223u;
		item_t *it = &items[(x >> 8) % N];
		if (it->is_in) {
			assert_true(cache_index_remove(&ix, it->hash, it));
			it->is_in = false;
		} else if (!cache_index_is_full(&ix)) {
			assert_int_equal(cache_index_insert(&ix, it->hash, it), 0);
			it->is_in = true;
		}
		if (step % 97 == 0)
			check_all(&ix, items, N);
	}
	check_all(&ix, items, N);
	cache_index_free(&ix);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_rejects_bad_sizes),
		cmocka_unit_test(test_one_home_one_tag_spills_over),
		cmocka_unit_test(test_wraps_around_the_end),
		cmocka_unit_test(test_full_and_resize),
		cmocka_unit_test(test_overflow_count_sticks),
		cmocka_unit_test(test_random_against_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
