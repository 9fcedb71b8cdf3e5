/*
 * The cache's hash index: 64-bit hash -> entry pointer, for one stripe
 * (called under its lock; no locking here).
 *
 * Open addressing over 64-byte groups of 7 slots (pointer + 8-bit tag from
 * the hash's top byte) and a count of items that probed past the group.
 * Promises: a lookup reads its home group's one cache line and dereferences
 * only items whose tag matches (1 in 256 for another key), so a miss costs
 * one cold line instead of a bucket and a chain of entries; a removal finds
 * the slot by pointer without touching other entries. Items are never
 * moved except by a resize, so a found pointer stays valid until removed.
 *
 * The caller keeps the load at or below cache_index_capacity (inserting
 * into a full index fails) and owns the items; the index only stores
 * pointers.
 */
#ifndef ERDNS_CACHE_INDEX_H
#define ERDNS_CACHE_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cache_index_group cache_index_group_t;

typedef struct cache_index {
	cache_index_group_t *groups;
	size_t n_groups; /* a power of two */
	size_t n_items;
} cache_index_t;

/* Does item hold the key the caller looks for (ctx)? */
typedef bool (*cache_index_is_key)(const void *item, const void *ctx);
/* An item's hash, as it was inserted (a resize re-homes by it). */
typedef uint64_t (*cache_index_hash_of)(const void *item);

/* An empty index of n_groups (a power of two); 0 or -ENOMEM / -EINVAL. */
int cache_index_init(cache_index_t *ix, size_t n_groups);
/* Frees the groups, not the items. */
void cache_index_free(cache_index_t *ix);

/* Items the index takes at n_groups: 80 % of its slots, which keeps
 * probing to about one group. */
size_t cache_index_capacity(size_t n_groups);
/* Bytes of n_groups' table as malloc holds them, for the memory bound. */
size_t cache_index_table_bytes(size_t n_groups);
bool cache_index_is_full(const cache_index_t *ix);

/* The first item under hash for which is_key(item, ctx) holds, or NULL. */
void *cache_index_find(const cache_index_t *ix, uint64_t hash, cache_index_is_key is_key,
		       const void *ctx);
/* Adds item under hash; -ENOSPC when the index is full. */
int cache_index_insert(cache_index_t *ix, uint64_t hash, void *item);
/* Removes item, stored under hash; false if it is not there. */
bool cache_index_remove(cache_index_t *ix, uint64_t hash, const void *item);
/* Moves every item to a table of n_groups; 0, or -ENOMEM / -ENOSPC with
 * the index unchanged. */
int cache_index_resize(cache_index_t *ix, size_t n_groups, cache_index_hash_of hash_of);

#endif
