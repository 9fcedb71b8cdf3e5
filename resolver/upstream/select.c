/*
 * Try-order for one upstream group (SPEC 2.1), from the servers' health
 * (upstream/health.c keeps that state machine).
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
