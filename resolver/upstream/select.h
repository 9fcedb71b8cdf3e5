/*
 * Per-server health and the order in which a group's servers are tried
 * (SPEC 2.1). Pure: the caller passes the clock (ms) and randomness.
 *
 * Health: max_fails failed attempts in a row mark a server down. A down
 * server is skipped at once; it becomes eligible for one trial attempt every
 * probe interval (doubling from probe_interval_ms up to 30 s while it keeps
 * failing), and any valid answer marks it up again.
 */
#ifndef ERDNS_UPSTREAM_SELECT_H
#define ERDNS_UPSTREAM_SELECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "upstream/rtt.h"

#define ER_PROBE_MAX_MS 30000
#define ER_GROUP_MAX_SERVERS 32
/* Share of `fastest` selections that try a random other server first, so a
 * recovered or nearer server is noticed (Unbound uses a similar band). */
#define ER_EXPLORE_PERCENT 5

typedef enum { SELECT_FASTEST, SELECT_ORDERED, SELECT_ROUND_ROBIN } select_policy_t;

typedef struct server_health {
	rtt_t rtt;
	uint32_t consecutive_fails;
	bool is_down;
	uint64_t next_probe_ms; /* when down: earliest trial attempt */
	uint32_t probe_wait_ms; /* current backoff while down */
} server_health_t;

void health_init(server_health_t *h);
/* A valid answer after rtt_us. Marks the server up. Returns true if it was down. */
bool health_on_success(server_health_t *h, uint32_t rtt_us);
/* A timeout, network error, SERVFAIL or REFUSED. Returns true if this marked
 * the server down. */
bool health_on_failure(server_health_t *h, bool timed_out, uint32_t max_fails,
		       uint32_t probe_interval_ms, uint64_t now_ms);
/* A trial attempt to a down server is starting: no other trial until the
 * current probe wait has passed (so concurrent queries do not all pile on
 * a server that is probably still dead). No-op for an up server. */
void health_on_trial_started(server_health_t *h, uint64_t now_ms);
/* Usable now: up, or down with its trial time reached. */
bool health_is_usable(const server_health_t *h, uint64_t now_ms);

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
