/*
 * config_diff (diff.h). Groups are compared by name and by every key that
 * changes how they are asked; rules are counted per scope (the global
 * routes, each view) and source (`domains`, `m365`), as `erdns check`
 * counts them; zones by apex. Rejected: a rule-by-rule diff (an M365 list
 * holds hundreds of rules; `erdns m365 diff` is the tool for that).
 */
#include "config/diff.h"

#include <stdio.h>
#include <string.h>

#include "util/sockaddr.h"
#include "util/str.h"

bool config_same_listeners(const config_t *a, const config_t *b)
{
	if (a->n_listen != b->n_listen)
		return false;
	for (size_t i = 0; i < a->n_listen; i++) {
		if (!sockaddr_equal((const struct sockaddr *)&a->listen[i],
				    (const struct sockaddr *)&b->listen[i]))
			return false;
	}
	return true;
}

bool config_same_chains(const config_t *a, const config_t *b)
{
	if (a->n_chains != b->n_chains)
		return false;
	for (size_t i = 0; i < a->n_chains; i++) {
		if (strcmp(a->chains[i].text, b->chains[i].text) != 0)
			return false;
	}
	return true;
}

/* Member by member: the struct has padding, so memcmp could differ. */
static bool same_netblock(const netblock_t *a, const netblock_t *b)
{
	return a->family == b->family && a->prefix_len == b->prefix_len &&
	       memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

static bool same_group(const config_group_t *a, const config_group_t *b)
{
	if (a->n_servers != b->n_servers || a->select != b->select ||
	    a->timeout_ms != b->timeout_ms || a->max_fails != b->max_fails ||
	    a->probe_interval_ms != b->probe_interval_ms || a->tcp != b->tcp || a->ecs != b->ecs)
		return false;
	if (a->ecs == ECS_PREFIX && !same_netblock(&a->ecs_prefix, &b->ecs_prefix))
		return false;
	for (size_t s = 0; s < a->n_servers; s++) {
		if (!sockaddr_equal((const struct sockaddr *)&a->servers[s],
				    (const struct sockaddr *)&b->servers[s]))
			return false;
	}
	return true;
}

static cJSON *diff_groups(const config_t *old, const config_t *next)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *added = cJSON_AddArrayToObject(o, "added");
	cJSON *removed = cJSON_AddArrayToObject(o, "removed");
	cJSON *changed = cJSON_AddArrayToObject(o, "changed");
	for (size_t i = 0; i < next->n_groups; i++) {
		const config_group_t *g = &next->groups[i];
		int was = config_group_index(old, g->name);
		if (was < 0)
			cJSON_AddItemToArray(added, cJSON_CreateString(g->name));
		else if (!same_group(&old->groups[was], g))
			cJSON_AddItemToArray(changed, cJSON_CreateString(g->name));
	}
	for (size_t i = 0; i < old->n_groups; i++) {
		if (config_group_index(next, old->groups[i].name) < 0)
			cJSON_AddItemToArray(removed, cJSON_CreateString(old->groups[i].name));
	}
	return o;
}

/* The view index of name in c, -1 for "global" (name NULL), -2 when c has
 * no such view. */
static int view_index(const config_t *c, const char *name)
{
	if (name == NULL)
		return -1;
	for (size_t v = 0; v < router_view_count(c->router); v++) {
		if (strcmp(router_view_name(c->router, v), name) == 0)
			return (int)v;
	}
	return -2;
}

static void count_rules(const config_t *c, int view, size_t *domains, size_t *m365)
{
	*domains = *m365 = 0;
	if (view < -1)
		return;
	const ruleset_t *rs = router_rules_const(c->router, view);
	*domains = ruleset_count_origin(rs, RULE_ORIGIN_DOMAINS);
	*m365 = ruleset_count_origin(rs, RULE_ORIGIN_M365);
}

/* One scope's row: the view name (NULL: the global routes) in both. */
static void add_rule_row(cJSON *rows, const config_t *old, const config_t *next,
			 const char *view)
{
	size_t d, m, was_d, was_m;
	count_rules(next, view_index(next, view), &d, &m);
	count_rules(old, view_index(old, view), &was_d, &was_m);
	char scope[160];
	snprintf(scope, sizeof(scope), "%s%s", view ? "view " : "global", view ? view : "");
	cJSON *row = cJSON_CreateObject();
	cJSON_AddStringToObject(row, "scope", scope);
	cJSON_AddNumberToObject(row, "domains", (double)d);
	cJSON_AddNumberToObject(row, "m365", (double)m);
	cJSON_AddNumberToObject(row, "was_domains", (double)was_d);
	cJSON_AddNumberToObject(row, "was_m365", (double)was_m);
	cJSON_AddItemToArray(rows, row);
}

static cJSON *diff_rules(const config_t *old, const config_t *next)
{
	cJSON *rows = cJSON_CreateArray();
	add_rule_row(rows, old, next, NULL);
	for (size_t v = 0; v < router_view_count(next->router); v++)
		add_rule_row(rows, old, next, router_view_name(next->router, v));
	for (size_t v = 0; v < router_view_count(old->router); v++) {
		const char *name = router_view_name(old->router, v);
		if (view_index(next, name) == -2)
			add_rule_row(rows, old, next, name);
	}
	return rows;
}

static bool has_zone(const config_t *c, const char *apex)
{
	for (size_t i = 0; i < zoneset_count(c->zones); i++) {
		if (strcmp(zoneset_apex_text(c->zones, i), apex) == 0)
			return true;
	}
	return false;
}

/* Apexes of a that b lacks, into arr. */
static void zones_missing(const config_t *a, const config_t *b, cJSON *arr)
{
	for (size_t i = 0; i < zoneset_count(a->zones); i++) {
		const char *apex = zoneset_apex_text(a->zones, i);
		if (!has_zone(b, apex))
			cJSON_AddItemToArray(arr, cJSON_CreateString(apex));
	}
}

static cJSON *diff_zones(const config_t *old, const config_t *next)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "count", (double)zoneset_count(next->zones));
	zones_missing(next, old, cJSON_AddArrayToObject(o, "added"));
	zones_missing(old, next, cJSON_AddArrayToObject(o, "removed"));
	return o;
}

static cJSON *restart_needed(const config_t *old, const config_t *next)
{
	cJSON *arr = cJSON_CreateArray();
	if (!config_same_listeners(old, next))
		cJSON_AddItemToArray(arr, cJSON_CreateString("server.listen"));
	if (old->threads != next->threads)
		cJSON_AddItemToArray(arr, cJSON_CreateString("server.threads"));
	if (!str_same(old->control_socket, next->control_socket))
		cJSON_AddItemToArray(arr, cJSON_CreateString("control.socket"));
	if (!str_same(old->metrics_listen, next->metrics_listen))
		cJSON_AddItemToArray(arr, cJSON_CreateString("metrics.listen"));
	return arr;
}

cJSON *config_diff(const config_t *old, const config_t *next)
{
	cJSON *o = cJSON_CreateObject();
	if (o == NULL)
		return NULL;
	cJSON_AddItemToObject(o, "groups", diff_groups(old, next));
	cJSON_AddItemToObject(o, "rules", diff_rules(old, next));
	cJSON_AddItemToObject(o, "zones", diff_zones(old, next));
	cJSON *chains = cJSON_AddObjectToObject(o, "chains");
	cJSON_AddNumberToObject(chains, "count", (double)next->n_chains);
	cJSON_AddBoolToObject(chains, "renumbered", !config_same_chains(old, next));
	cJSON_AddItemToObject(o, "restart_needed", restart_needed(old, next));
	/* cJSON's adders ignore NULL items: one check at the end finds a part
	 * that could not be allocated (a row lost inside one would show as a
	 * smaller list, which is all an out-of-memory report could say). */
	if (cJSON_GetArraySize(o) != 5 || !cJSON_GetObjectItem(chains, "renumbered")) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static int count_of(const cJSON *o, const char *obj, const char *arr)
{
	return cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(o, obj), arr));
}

static double sum_rules(const cJSON *diff, const char *field)
{
	double n = 0;
	const cJSON *row;
	cJSON_ArrayForEach(row, cJSON_GetObjectItem(diff, "rules"))
		n += cJSON_GetNumberValue(cJSON_GetObjectItem(row, field));
	return n;
}

void config_diff_summary(const cJSON *diff, char *buf, size_t len)
{
	double rules = sum_rules(diff, "domains") + sum_rules(diff, "m365");
	double was = sum_rules(diff, "was_domains") + sum_rules(diff, "was_m365");
	const cJSON *chains = cJSON_GetObjectItem(diff, "chains");
	int n = snprintf(buf, len, "groups +%d -%d ~%d, %.0f rules (was %.0f), %.0f zones, %s",
			 count_of(diff, "groups", "added"), count_of(diff, "groups", "removed"),
			 count_of(diff, "groups", "changed"), rules, was,
			 cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(diff, "zones"),
								  "count")),
			 cJSON_IsTrue(cJSON_GetObjectItem(chains, "renumbered"))
				 ? "routes renumbered"
				 : "route chains unchanged");
	const cJSON *item;
	const char *sep = "; restart needed for ";
	cJSON_ArrayForEach(item, cJSON_GetObjectItem(diff, "restart_needed"))
	{
		if (n < 0 || (size_t)n >= len)
			return;
		n += snprintf(buf + n, len - (size_t)n, "%s%s", sep, cJSON_GetStringValue(item));
		sep = ", ";
	}
}
