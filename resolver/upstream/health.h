/*
 * The health of one upstream server address, as a pure state machine
 * (SPEC 2.1). Data plus `now` (ms): no clock, no lock, no socket; the
 * shared, thread-safe shell around it is upstream/health_table.h.
 *
 * Up until max_fails failures in a row, then down with a trial time. A down
 * server whose trial time has come is "usable" for one trial; if that trial
 * fails the wait doubles (from probe_interval_ms, capped at ER_PROBE_MAX_MS
 * = 30 s per SPEC 2.1), and any answer that shows the server alive marks it
 * up. The caller decides what a trial is (a background probe, or a query
 * when a group has nothing better); this file only keeps the times.
 */
#ifndef ERDNS_UPSTREAM_HEALTH_H
#define ERDNS_UPSTREAM_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include "upstream/rtt.h"

#define ER_PROBE_MAX_MS 30000

typedef struct server_health {
	rtt_t rtt;
	uint32_t consecutive_fails;
	bool is_down;
	uint64_t next_probe_ms; /* when down: earliest trial attempt */
	uint32_t probe_wait_ms; /* current backoff while down */
	bool is_trial_pending; /* a trial started and has not ended */
} server_health_t;

void health_init(server_health_t *h);
/* A valid answer after rtt_us: an RTT sample, and the server is alive.
 * Returns true if it was down. */
bool health_on_success(server_health_t *h, uint32_t rtt_us);
/* An answer that shows the server alive without being an RTT sample (an
 * error rcode: it may come after the server's own long upstream timeout).
 * Returns true if it was down. */
bool health_on_alive(server_health_t *h);
/* A timeout, network error or unusable answer. Returns true if this marked
 * the server down. While down, only the failure of a trial doubles the
 * wait: attempts sent before the server was marked down keep failing for a
 * while (with several workers, several of them), and each must not push
 * the next probe further out. */
bool health_on_failure(server_health_t *h, bool timed_out, uint32_t max_fails,
		       uint32_t probe_interval_ms, uint64_t now_ms);
/* A trial attempt to a down server is starting: no other trial until the
 * current probe wait has passed (so concurrent queries do not all pile on
 * a server that is probably still dead). No-op for an up server. */
void health_on_trial_started(server_health_t *h, uint64_t now_ms);
/* Usable now: up, or down with its trial time reached. */
bool health_is_usable(const server_health_t *h, uint64_t now_ms);

#endif
