/*
 * A set of IPv4 and IPv6 prefixes with longest-prefix match, each prefix
 * remembering which Microsoft 365 endpoint sets list it: the matcher of the
 * ExpressRoute audit (SPEC 2.2). Built once at config load (prefixset_add
 * for every prefix, then prefixset_finish), read-only afterwards and shared
 * by every worker without locks. Pure: no I/O.
 */
#ifndef ERDNS_ROUTING_PREFIXSET_H
#define ERDNS_ROUTING_PREFIXSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/netblock.h"

typedef struct prefixset prefixset_t;

/* A prefix of the set and the endpoint sets that list it. */
typedef struct prefix_hit {
	netblock_t prefix;
	const int32_t *set_ids; /* ascending, no duplicates; valid while the set lives */
	size_t n_set_ids;	/* >= 1 */
} prefix_hit_t;

/* An empty set, open for prefixset_add. NULL on allocation failure. */
prefixset_t *prefixset_new(void);
/* NULL is ignored. */
void prefixset_free(prefixset_t *ps);

/* Adds nb (host bits beyond its length must be zero, as netblock_parse
 * makes them) as listed by endpoint set set_id; the same prefix again only
 * adds the set id. Returns 0, -ENOMEM, or -EINVAL after prefixset_finish. */
int prefixset_add(prefixset_t *ps, const netblock_t *nb, int32_t set_id);
/* Sorts and indexes what was added; the set is read-only from then on.
 * Returns 0 or -ENOMEM (the set is then unusable: free it). */
int prefixset_finish(prefixset_t *ps);

/* Distinct prefixes of family (AF_INET or AF_INET6). */
size_t prefixset_count(const prefixset_t *ps, int family);
/* Prefix i (0..count-1) of family in address order; false past the end. */
bool prefixset_get(const prefixset_t *ps, int family, size_t i, prefix_hit_t *out);

/* The longest prefix of family containing addr (4 or 16 bytes, network
 * order), into out unless it is NULL; false when none does. Thread-safe
 * after prefixset_finish. */
bool prefixset_match(const prefixset_t *ps, int family, const uint8_t *addr, prefix_hit_t *out);
/* For an address outside the set, a hint at where it should have been: the
 * prefix of family whose network shares the most leading bits with addr;
 * false when family has no prefix at all. */
bool prefixset_nearest(const prefixset_t *ps, int family, const uint8_t *addr, prefix_hit_t *out);

/* Same prefixes listed by the same set ids (a reload compares lists). */
bool prefixset_equal(const prefixset_t *a, const prefixset_t *b);

#endif
