/*
 * The per-address health state machine (health.h). Kept apart from the
 * shared table so that every transition is tested with plain data and a
 * counter for a clock (tests/unit/test_health.c).
 */
#include "upstream/health.h"

void health_init(server_health_t *h)
{
	*h = (server_health_t){ .is_down = false };
	rtt_init(&h->rtt);
}

bool health_on_alive(server_health_t *h)
{
	bool was_down = h->is_down;

	h->consecutive_fails = 0;
	h->is_down = false;
	h->probe_wait_ms = 0;
	h->next_probe_ms = 0;
	h->is_trial_pending = false;
	return was_down;
}

bool health_on_success(server_health_t *h, uint32_t rtt_us)
{
	rtt_update(&h->rtt, rtt_us);
	return health_on_alive(h);
}

bool health_on_failure(server_health_t *h, bool timed_out, uint32_t max_fails,
		       uint32_t probe_interval_ms, uint64_t now_ms)
{
	if (timed_out)
		rtt_timed_out(&h->rtt);
	if (h->consecutive_fails < UINT32_MAX)
		h->consecutive_fails++;

	if (h->is_down) {
		if (!h->is_trial_pending)
			return false;
		/* A failed trial: wait twice as long before the next one. */
		h->is_trial_pending = false;
		uint64_t wait = 2 * (uint64_t)h->probe_wait_ms;
		h->probe_wait_ms = wait > ER_PROBE_MAX_MS ? ER_PROBE_MAX_MS : (uint32_t)wait;
		h->next_probe_ms = now_ms + h->probe_wait_ms;
		return false;
	}
	if (h->consecutive_fails < (max_fails ? max_fails : 1))
		return false;

	/* A zero interval would never double; over the cap it would shrink. */
	if (probe_interval_ms == 0)
		probe_interval_ms = 1;
	if (probe_interval_ms > ER_PROBE_MAX_MS)
		probe_interval_ms = ER_PROBE_MAX_MS;
	h->is_down = true;
	h->probe_wait_ms = probe_interval_ms;
	h->next_probe_ms = now_ms + probe_interval_ms;
	return true;
}

void health_on_trial_started(server_health_t *h, uint64_t now_ms)
{
	if (h->is_down) {
		h->next_probe_ms = now_ms + h->probe_wait_ms;
		h->is_trial_pending = true;
	}
}

bool health_is_usable(const server_health_t *h, uint64_t now_ms)
{
	return !h->is_down || now_ms >= h->next_probe_ms;
}
