/*
 * Upstream health shared by every worker thread, keyed by server address
 * (SPEC 2.1: health and RTT belong to the address, not to a worker thread
 * or a group). Owned by the server; every worker reads and updates it
 * through its own health_view_t.
 *
 * What is shared at once: up/down, failure counts and trial times (a server
 * marked down by one worker is skipped by all from that moment). What is
 * merged: RTT. Each view keeps an RFC 6298 estimator per address fed by its
 * own worker's samples, and health_view_sync (every ER_HEALTH_SYNC_MS)
 * publishes it when it took samples and adopts the address's estimate
 * otherwise, so every worker ranks servers alike within 100 ms.
 *
 * Ids: health_table_apply gives every server address of a snapshot an id
 * and writes it into the snapshot's groups (config_group_t.health_ids).
 * Entries are never freed while the table lives, so a query still running
 * under an older snapshot reports to the right address after a reload; an
 * address a reload drops keeps its state and is no longer probed.
 */
#ifndef ERDNS_UPSTREAM_HEALTH_TABLE_H
#define ERDNS_UPSTREAM_HEALTH_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/config.h"
#include "upstream/health.h"

/* Distinct upstream addresses over the life of the process; a reload that
 * would exceed it fails with a message that says to restart. */
#define ER_HEALTH_MAX_ADDRS 1024
/* SPEC 2.1: RTT estimates "merged at least every 100 ms". */
#define ER_HEALTH_SYNC_MS 100

_Static_assert(ER_HEALTH_MAX_ADDRS <= UINT16_MAX, "ids are uint16_t");

typedef struct health_table health_table_t;
typedef struct health_view health_view_t;

/* What one address is probed with, from the first group that names it. */
typedef struct health_policy {
	uint32_t max_fails;
	uint32_t probe_interval_ms;
	uint32_t timeout_ms;
	bool tcp_only;
} health_policy_t;

/* Returns NULL on allocation failure. */
health_table_t *health_table_new(void);
/* Frees the table; every view must have been freed. NULL is ignored. */
void health_table_free(health_table_t *t);

/*
 * Before c is handed to any worker (main thread): gives every server of
 * every group of c an id, written to c->groups[g].health_ids[s], creating
 * entries for new addresses (up, no RTT) and keeping the state of known
 * ones; entries c does not name stop being probed. One address listed by
 * two groups gets one id (config_load has checked that their max_fails and
 * probe_interval_ms agree). Returns 0, or -ENOSPC with a message in err.
 */
int health_table_apply(health_table_t *t, config_t *c, char *err, size_t errlen);

/* Number of ids handed out so far: ids are 0 .. size - 1. */
size_t health_table_size(const health_table_t *t);
/* The address of id (for logs and the prober). */
const struct sockaddr *health_table_addr(const health_table_t *t, uint16_t id);
bool health_table_is_down(const health_table_t *t, uint16_t id);

/*
 * A failed attempt (timeout, network error, unusable answer). Returns true
 * when this call marked the address down: exactly one caller sees that per
 * transition, so it logs and counts it.
 */
bool health_table_on_failure(health_table_t *t, health_view_t *v, uint16_t id,
			     bool timed_out, uint64_t now_ms);
/* A valid answer after rtt_us. Returns true when this call marked it up. */
bool health_table_on_success(health_table_t *t, health_view_t *v, uint16_t id,
			     uint32_t rtt_us);
/* An answer showing the server alive, no RTT sample (an error rcode).
 * Returns true when this call marked it up. */
bool health_table_on_alive(health_table_t *t, uint16_t id);
/* A query is trying id although it is down (nothing better in its group):
 * the next trial waits a whole probe interval. */
void health_table_on_trial(health_table_t *t, uint16_t id, uint64_t now_ms);

/*
 * For the prober: true when id is named by the current config, down, and
 * its trial time has come; then the trial is recorded as started (no other
 * trial for a probe interval) and *policy filled.
 */
bool health_table_take_probe(health_table_t *t, uint16_t id, uint64_t now_ms,
			     health_policy_t *policy);

/* What the control socket shows of one address (`erdns ctl upstreams`). */
typedef struct health_info {
	rtt_t rtt; /* the shared estimate, as last merged from the workers' views */
	uint32_t consecutive_fails;
	bool is_down;
	bool is_in_use; /* named by the newest applied config */
	/* Wall clock (Unix time, ms) of the last up/down transition; 0: never.
	 * Wall clock, not `now`: people compare it with their own logs. */
	int64_t last_change_ms;
} health_info_t;

/* A consistent copy of id's state, taken under its lock. Any thread. */
void health_table_info(const health_table_t *t, uint16_t id, health_info_t *out);

/* The health of n addresses as select_order wants it, all from the table
 * (RTT too: the merged estimate, not a worker's), for a thread that has no
 * view: which server would a query pick now (`erdns ctl explain`). */
void health_table_fill(const health_table_t *t, const uint16_t *ids, size_t n,
		       server_health_t *out);

/* One per worker thread. NULL on allocation failure. */
health_view_t *health_view_new(health_table_t *t);
void health_view_free(health_view_t *v);
/*
 * The health of n addresses as select_order wants it: up/down and trial
 * times from the table as they are now, RTT from this view.
 */
void health_view_fill(const health_view_t *v, const uint16_t *ids, size_t n,
		      server_health_t *out);
/* This view's RTT estimate for id. */
const rtt_t *health_view_rtt(const health_view_t *v, uint16_t id);
/* Publishes the RTT estimates this view sampled since the last sync and
 * adopts the table's for the others. Call every ER_HEALTH_SYNC_MS. */
void health_view_sync(health_view_t *v);

#endif
