/*
 * RFC 6298 round-trip estimator, in integer microseconds.
 *
 * The smoothing gains are the RFC's alpha = 1/8 and beta = 1/4, so both
 * updates are convex combinations of values that fit in 32 bits: with 64-bit
 * intermediates the results fit back into uint32_t for any sample, however
 * large. Divisions round to nearest rather than truncate, which keeps the
 * steady-state bias of SRTT at a few microseconds instead of up to 7.
 *
 * The RFC's 1 s minimum RTO (2.4) is meant for TCP over the Internet; a DNS
 * forwarder talking to resolvers a few ms away uses SPEC 2.1's 50 ms floor
 * and the group's timeout_ms as ceiling. Backoff (RFC 6298 5.5) doubles the
 * timeout per timeout since the last sample; it saturates at 6 doublings
 * (400 ms << 6 is already 25.6 s, beyond any sane per-attempt ceiling) so the
 * shift can never overflow. Rejected: storing srtt in ms (a LAN resolver
 * answers in well under 1 ms, and ms resolution would make them all tie).
 */
#include "upstream/rtt.h"

#define ER_RTT_BACKOFF_MAX 6
#define US_PER_MS 1000u

_Static_assert(ER_RTT_FLOOR_MS <= ER_RTT_UNKNOWN_MS, "floor above the no-sample timeout");
_Static_assert(ER_RTT_BACKOFF_MAX < 32, "backoff shift must fit in 64 bits");

void rtt_init(rtt_t *r)
{
	*r = (rtt_t){ .has_sample = false };
}

static uint32_t div_round(uint64_t num, uint64_t den)
{
	return (uint32_t)((num + den / 2) / den);
}

void rtt_update(rtt_t *r, uint32_t sample_us)
{
	if (!r->has_sample) {
		/* RFC 6298 2.2 */
		r->srtt_us = sample_us;
		r->rttvar_us = div_round(sample_us, 2);
		r->has_sample = true;
	} else {
		/* RFC 6298 2.3: RTTVAR first, using the old SRTT. */
		uint64_t diff = r->srtt_us > sample_us ? (uint64_t)r->srtt_us - sample_us
						       : (uint64_t)sample_us - r->srtt_us;
		r->rttvar_us = div_round(3 * (uint64_t)r->rttvar_us + diff, 4);
		r->srtt_us = div_round(7 * (uint64_t)r->srtt_us + sample_us, 8);
	}
	r->backoff = 0;
}

void rtt_timed_out(rtt_t *r)
{
	if (r->backoff < ER_RTT_BACKOFF_MAX)
		r->backoff++;
}

static uint64_t clamp_u64(uint64_t v, uint64_t lo, uint64_t hi)
{
	if (v < lo)
		return lo;
	return v > hi ? hi : v;
}

uint32_t rtt_timeout_ms(const rtt_t *r, uint32_t ceiling_ms)
{
	/*
	 * A ceiling below the floor wins: timeout_ms is the user's hard limit
	 * for one attempt. It is at least 1 so a timer is never zero.
	 */
	uint64_t hi = ceiling_ms ? ceiling_ms : 1;
	uint64_t lo = ER_RTT_FLOOR_MS < hi ? ER_RTT_FLOOR_MS : hi;
	uint64_t base;

	if (r->has_sample) {
		uint64_t rto_us = (uint64_t)r->srtt_us + 4 * (uint64_t)r->rttvar_us;
		base = (rto_us + US_PER_MS - 1) / US_PER_MS; /* never cut an RTO short */
	} else {
		base = ER_RTT_UNKNOWN_MS;
	}
	base = clamp_u64(base, lo, hi);
	unsigned shift = r->backoff < ER_RTT_BACKOFF_MAX ? r->backoff : ER_RTT_BACKOFF_MAX;
	return (uint32_t)clamp_u64(base << shift, lo, hi);
}

int32_t rtt_srtt_ms(const rtt_t *r)
{
	if (!r->has_sample)
		return -1;
	return (int32_t)div_round(r->srtt_us, US_PER_MS);
}
