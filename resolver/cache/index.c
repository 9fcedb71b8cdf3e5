/*
 * The cache's hash index (index.h): 7-slot groups, one cache line each,
 * probed linearly from the hash's home group.
 *
 * Why not the chained buckets it replaced, measured with bench_cache's miss
 * workload (every name new, a full 64 MB cache of ~330k entries): perf put
 * half of a miss's cache time on two cold loads per chain step, the bucket
 * word and then each entry's hash, and as much again in the eviction's
 * unlink, which walks the victim's chain from its bucket. A group's tags
 * answer a miss from the one line, and a removal compares pointers.
 *
 * Deleting from an open-addressed table must not cut off items stored past
 * the deleted slot. Each group counts the items that probed past it
 * (F14's outbound-overflow count, in Folly's F14 hash table): a lookup
 * stops at a group whose count is zero, a removal lowers the counts along
 * its item's probe path, so no tombstones are needed. A count that reaches
 * 255 sticks there: lookups passing that group then always probe on.
 */
#include "cache/index.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/cacheline.h"

#define SLOTS 7
#define OVERFLOW_STUCK UINT8_MAX
/* Load limit: 4 items in 5 slots. */
#define LOAD_NUM 4
#define LOAD_DEN 5

struct cache_index_group {
	void *item[SLOTS]; /* NULL: free */
	uint8_t tag[SLOTS]; /* the top byte of the item's hash */
	uint8_t overflow; /* items whose probe passed this group (sticks at 255) */
};
_Static_assert(sizeof(struct cache_index_group) == ER_CACHE_LINE, "one group, one line");

static uint8_t tag_of(uint64_t hash)
{
	/* The low bits pick the group, bits 32 and up the cache's stripe: the
	 * top byte is free of both for any table below 2^56 groups. */
	return (uint8_t)(hash >> 56);
}

static size_t home_of(const cache_index_t *ix, uint64_t hash)
{
	return (size_t)hash & (ix->n_groups - 1);
}

static size_t next_group(const cache_index_t *ix, size_t g)
{
	return (g + 1) & (ix->n_groups - 1);
}

size_t cache_index_capacity(size_t n_groups)
{
	return n_groups * SLOTS * LOAD_NUM / LOAD_DEN;
}

size_t cache_index_table_bytes(size_t n_groups)
{
	/* aligned_alloc's chunk: the groups, plus up to a line of slack to
	 * align them and the chunk header inside it. */
	return n_groups * sizeof(cache_index_group_t) + ER_CACHE_LINE;
}

bool cache_index_is_full(const cache_index_t *ix)
{
	return ix->n_items >= cache_index_capacity(ix->n_groups);
}

static bool is_power_of_two(size_t n)
{
	return n != 0 && (n & (n - 1)) == 0;
}

static cache_index_group_t *groups_new(size_t n_groups)
{
	cache_index_group_t *g = aligned_alloc(ER_CACHE_LINE, n_groups * sizeof(*g));
	if (g != NULL)
		memset(g, 0, n_groups * sizeof(*g));
	return g;
}

int cache_index_init(cache_index_t *ix, size_t n_groups)
{
	memset(ix, 0, sizeof(*ix));
	if (!is_power_of_two(n_groups))
		return -EINVAL;
	ix->groups = groups_new(n_groups);
	if (ix->groups == NULL)
		return -ENOMEM;
	ix->n_groups = n_groups;
	return 0;
}

void cache_index_free(cache_index_t *ix)
{
	free(ix->groups);
	memset(ix, 0, sizeof(*ix));
}

void *cache_index_find(const cache_index_t *ix, uint64_t hash, cache_index_is_key is_key,
		       const void *ctx)
{
	uint8_t tag = tag_of(hash);
	size_t g = home_of(ix, hash);
	for (size_t probed = 0; probed < ix->n_groups; probed++) {
		const cache_index_group_t *grp = &ix->groups[g];
		for (int i = 0; i < SLOTS; i++) {
			if (grp->tag[i] == tag && grp->item[i] != NULL && is_key(grp->item[i], ctx))
				return grp->item[i];
		}
		if (grp->overflow == 0)
			return NULL;
		g = next_group(ix, g);
	}
	return NULL;
}

/* The index of a free slot of grp, or -1. */
static int free_slot(const cache_index_group_t *grp)
{
	for (int i = 0; i < SLOTS; i++) {
		if (grp->item[i] == NULL)
			return i;
	}
	return -1;
}

int cache_index_insert(cache_index_t *ix, uint64_t hash, void *item)
{
	if (cache_index_is_full(ix))
		return -ENOSPC;
	size_t g = home_of(ix, hash);
	/* Below capacity a free slot exists, so this ends within n_groups. */
	for (;;) {
		cache_index_group_t *grp = &ix->groups[g];
		int i = free_slot(grp);
		if (i >= 0) {
			grp->item[i] = item;
			grp->tag[i] = tag_of(hash);
			ix->n_items++;
			return 0;
		}
		if (grp->overflow != OVERFLOW_STUCK)
			grp->overflow++;
		g = next_group(ix, g);
	}
}

bool cache_index_remove(cache_index_t *ix, uint64_t hash, const void *item)
{
	size_t home = home_of(ix, hash);
	size_t g = home;
	size_t probed = 0;
	for (; probed < ix->n_groups; probed++) {
		cache_index_group_t *grp = &ix->groups[g];
		for (int i = 0; i < SLOTS; i++) {
			if (grp->item[i] == item) {
				grp->item[i] = NULL;
				grp->tag[i] = 0;
				goto found;
			}
		}
		if (grp->overflow == 0)
			return false;
		g = next_group(ix, g);
	}
	return false;
found:
	/* The groups it passed on the way in no longer have it beyond them. */
	for (g = home; probed > 0; probed--, g = next_group(ix, g)) {
		if (ix->groups[g].overflow != OVERFLOW_STUCK)
			ix->groups[g].overflow--;
	}
	ix->n_items--;
	return true;
}

int cache_index_resize(cache_index_t *ix, size_t n_groups, cache_index_hash_of hash_of)
{
	if (!is_power_of_two(n_groups))
		return -EINVAL;
	if (ix->n_items > cache_index_capacity(n_groups))
		return -ENOSPC;
	cache_index_t bigger;
	int rc = cache_index_init(&bigger, n_groups);
	if (rc < 0)
		return rc;
	for (size_t g = 0; g < ix->n_groups; g++) {
		for (int i = 0; i < SLOTS; i++) {
			void *item = ix->groups[g].item[i];
			if (item != NULL)
				(void)cache_index_insert(&bigger, hash_of(item), item);
		}
	}
	free(ix->groups);
	*ix = bigger;
	return 0;
}
