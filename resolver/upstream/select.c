/*
 * Server health and try-order for one upstream group (SPEC 2.1).
 *
 * Health is a small state machine per server: up until max_fails failures in
 * a row, then down with a trial time. A down server whose trial time has come
 * is "usable" again; if that trial fails the wait doubles (from
 * probe_interval_ms, capped at ER_PROBE_MAX_MS = 30 s per SPEC 2.1), and the
 * first valid answer marks it up. The caller decides what a trial is (a real
 * query or a background probe); this file only keeps the times.
 *
 * Ordering filters the usable servers and then applies the policy. Groups
 * are tiny (ER_GROUP_MAX_SERVERS), so `fastest` is a stable insertion sort on
 * srtt in microseconds; ties keep configuration order so the result is
 * deterministic. Exploration moves one other usable server to the front for
 * ER_EXPLORE_PERCENT of the random values: without it a server that was slow
 * once would never get a new sample. The low digits of `random` decide
 * whether to explore and the remaining ones whom, so one random value serves
 * both. Rejected: weighted random choice by 1/srtt (as some resolvers do) -
 * harder to test exactly and it spreads load onto a far server for no gain.
 *
 * When nothing is usable all servers are returned in policy order: failing a
 * query without trying is worse than trying a server believed down.
 */
#include "upstream/select.h"

#include <errno.h>
#include <string.h>

_Static_assert(ER_GROUP_MAX_SERVERS <= 256, "order[] holds uint8_t indexes");
_Static_assert(ER_EXPLORE_PERCENT >= 0 && ER_EXPLORE_PERCENT <= 100, "a percentage");

void health_init(server_health_t *h)
{
	*h = (server_health_t){ .is_down = false };
	rtt_init(&h->rtt);
}

bool health_on_success(server_health_t *h, uint32_t rtt_us)
{
	bool was_down = h->is_down;

	rtt_update(&h->rtt, rtt_us);
	h->consecutive_fails = 0;
	h->is_down = false;
	h->probe_wait_ms = 0;
	h->next_probe_ms = 0;
	return was_down;
}

bool health_on_failure(server_health_t *h, bool timed_out, uint32_t max_fails,
		       uint32_t probe_interval_ms, uint64_t now_ms)
{
	if (timed_out)
		rtt_timed_out(&h->rtt);
	if (h->consecutive_fails < UINT32_MAX)
		h->consecutive_fails++;

	if (h->is_down) {
		/* A failed trial: wait twice as long before the next one. */
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

bool health_is_usable(const server_health_t *h, uint64_t now_ms)
{
	return !h->is_down || now_ms >= h->next_probe_ms;
}

static uint64_t effective_rtt_us(const server_health_t *h)
{
	return h->rtt.has_sample ? h->rtt.srtt_us : (uint64_t)ER_RTT_UNKNOWN_MS * 1000;
}

/* Stable: a server moves only past strictly slower ones. */
static void sort_by_rtt(const server_health_t *servers, uint8_t *order, size_t k)
{
	for (size_t i = 1; i < k; i++) {
		uint8_t cur = order[i];
		uint64_t key = effective_rtt_us(&servers[cur]);
		size_t j = i;

		while (j > 0 && effective_rtt_us(&servers[order[j - 1]]) > key) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = cur;
	}
}

static void explore(uint8_t *order, size_t k, uint32_t random)
{
	if (k < 2 || random % 100 >= ER_EXPLORE_PERCENT)
		return;
	size_t pick = 1 + (random / 100) % (k - 1);
	uint8_t chosen = order[pick];

	memmove(order + 1, order, pick);
	order[0] = chosen;
}

/* Candidates in configuration order, or in rotation for round-robin. */
static size_t collect(const server_health_t *servers, size_t n, size_t start,
		      bool usable_only, uint64_t now_ms, uint8_t *order)
{
	size_t k = 0;

	for (size_t j = 0; j < n; j++) {
		size_t idx = (start + j) % n;

		if (!usable_only || health_is_usable(&servers[idx], now_ms))
			order[k++] = (uint8_t)idx;
	}
	return k;
}

size_t select_order(select_policy_t policy, const server_health_t *servers, size_t n,
		    uint32_t *cursor, uint32_t random, uint64_t now_ms, uint8_t *order)
{
	if (n == 0)
		return 0;
	if (n > ER_GROUP_MAX_SERVERS)
		n = ER_GROUP_MAX_SERVERS;

	size_t start = 0;

	if (policy == SELECT_ROUND_ROBIN && cursor) {
		start = *cursor % n;
		(*cursor)++;
	}
	size_t k = collect(servers, n, start, true, now_ms, order);

	if (k == 0)
		k = collect(servers, n, start, false, now_ms, order);
	if (policy == SELECT_FASTEST) {
		sort_by_rtt(servers, order, k);
		explore(order, k, random);
	}
	return k;
}

static const char *const policy_names[] = {
	[SELECT_FASTEST] = "fastest",
	[SELECT_ORDERED] = "ordered",
	[SELECT_ROUND_ROBIN] = "round-robin",
};

int select_policy_parse(const char *text, select_policy_t *out)
{
	if (!text)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(policy_names) / sizeof(policy_names[0]); i++) {
		if (strcmp(text, policy_names[i]) == 0) {
			*out = (select_policy_t)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *select_policy_name(select_policy_t p)
{
	if ((size_t)p >= sizeof(policy_names) / sizeof(policy_names[0]))
		return "unknown";
	return policy_names[p];
}

void health_on_trial_started(server_health_t *h, uint64_t now_ms)
{
	if (h->is_down)
		h->next_probe_ms = now_ms + h->probe_wait_ms;
}
