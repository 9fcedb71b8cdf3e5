/*
 * The order in which a group's servers are tried (SPEC 2.1), from their
 * health (upstream/health.h). Pure: the caller passes the clock (ms) and
 * randomness.
 */
#ifndef ERDNS_UPSTREAM_SELECT_H
#define ERDNS_UPSTREAM_SELECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "upstream/health.h"

#define ER_GROUP_MAX_SERVERS 32
/* Share of `fastest` selections that try a random other server first, so a
 * recovered or nearer server is noticed (Unbound uses a similar band). */
#define ER_EXPLORE_PERCENT 5

typedef enum { SELECT_FASTEST, SELECT_ORDERED, SELECT_ROUND_ROBIN } select_policy_t;


/*
 * Writes into order[] the indexes of the servers of a group in the order an
 * attempt should try them, and returns how many: usable servers only, by
 * policy (fastest: ascending srtt, unknown RTT counted as ER_RTT_UNKNOWN_MS,
 * with ER_EXPLORE_PERCENT of calls moving a random other usable server to
 * the front; ordered: configuration order; round-robin: starting at *cursor,
 * which is advanced). If no server is usable, all of them in policy order:
 * trying a down server beats failing without trying. random is any uniformly
 * random 32-bit value.
 */
size_t select_order(select_policy_t policy, const server_health_t *servers, size_t n,
		    uint32_t *cursor, uint32_t random, uint64_t now_ms, uint8_t *order);

/* Parses "fastest", "ordered", "round-robin". Returns 0 or -EINVAL. */
int select_policy_parse(const char *text, select_policy_t *out);
const char *select_policy_name(select_policy_t p);

#endif
