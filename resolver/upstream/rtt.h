/*
 * Smoothed round-trip time per upstream server, RFC 6298 2.2-2.3 with
 * alpha = 1/8, beta = 1/4, K = 4, and the SPEC 2.1 timeout rule: an attempt
 * times out after srtt + 4 * rttvar, floor 50 ms, ceiling the group's
 * timeout_ms; a server without a sample gets 400 ms. A timeout doubles the
 * effective timeout (RFC 6298 5.5), up to the ceiling, until a sample arrives.
 * Pure: times are passed in, in microseconds.
 */
#ifndef ERDNS_UPSTREAM_RTT_H
#define ERDNS_UPSTREAM_RTT_H

#include <stdbool.h>
#include <stdint.h>

#define ER_RTT_FLOOR_MS 50
#define ER_RTT_UNKNOWN_MS 400

typedef struct rtt {
	uint32_t srtt_us;
	uint32_t rttvar_us;
	uint8_t backoff; /* timeouts since the last sample: timeout << backoff */
	bool has_sample;
} rtt_t;

void rtt_init(rtt_t *r);
/* Records a measured round trip. Clears the backoff. */
void rtt_update(rtt_t *r, uint32_t sample_us);
/* Records an attempt that timed out. */
void rtt_timed_out(rtt_t *r);
/* The timeout for the next attempt, in ms, within [ER_RTT_FLOOR_MS, ceiling_ms]. */
uint32_t rtt_timeout_ms(const rtt_t *r, uint32_t ceiling_ms);
/* Smoothed RTT in ms (rounded), or -1 without a sample. */
int32_t rtt_srtt_ms(const rtt_t *r);

#endif
