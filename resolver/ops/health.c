/*
 * The /health rule (health.h). Pure: reads the snapshot and the table's
 * published up/down flags, takes no lock and keeps no state, so it can be
 * called from any thread as often as a load balancer polls.
 */
#include "ops/health.h"

#include <stdio.h>

static bool group_is_reachable(const config_t *c, size_t gi, const health_table_t *t)
{
	const config_group_t *g = &c->groups[gi];
	for (size_t s = 0; s < g->n_servers; s++) {
		if (!health_table_is_down(t, g->health_ids[s]))
			return true;
	}
	return false;
}

static bool chain_is_reachable(const config_t *c, const config_chain_t *chain,
			       const health_table_t *t)
{
	for (size_t i = 0; i < chain->n_groups; i++) {
		if (group_is_reachable(c, chain->groups[i], t))
			return true;
	}
	return false;
}

/* Chains whose first group has no reachable server: the first of them is
 * named in the reason, the others counted. */
static ops_health_t check_first_groups(const config_t *c, const health_table_t *t,
				       char *reason, size_t len)
{
	const config_chain_t *first = NULL;
	size_t n_more = 0;
	for (size_t i = 0; i < c->n_chains; i++) {
		if (group_is_reachable(c, c->chains[i].groups[0], t))
			continue;
		if (first == NULL)
			first = &c->chains[i];
		else
			n_more++;
	}
	if (first == NULL)
		return OPS_HEALTH_OK;
	int n = snprintf(reason, len, "no reachable server in group %s, first of chain %s",
			 c->groups[first->groups[0]].name, first->text);
	if (n_more > 0 && n >= 0 && (size_t)n < len)
		snprintf(reason + n, len - (size_t)n, " (and %zu more chain%s)", n_more,
			 n_more == 1 ? "" : "s");
	return OPS_HEALTH_DEGRADED;
}

ops_health_t ops_health_check(const config_t *c, const health_table_t *t, bool is_serving,
			      char *reason, size_t len)
{
	if (len > 0)
		reason[0] = '\0';
	if (!is_serving) {
		snprintf(reason, len, "not serving");
		return OPS_HEALTH_DOWN;
	}
	const config_chain_t *def = &c->chains[c->default_chain];
	if (!chain_is_reachable(c, def, t)) {
		snprintf(reason, len, "no reachable server in any group of the default chain %s",
			 def->text);
		return OPS_HEALTH_DOWN;
	}
	return check_first_groups(c, t, reason, len);
}

const char *ops_health_name(ops_health_t h)
{
	switch (h) {
	case OPS_HEALTH_OK:
		return "ok";
	case OPS_HEALTH_DEGRADED:
		return "degraded";
	case OPS_HEALTH_DOWN:
		return "down";
	}
	return "down";
}
