/*
 * Views, then global rules, then defaults (SPEC 2.2). A view's rules are a
 * separate ruleset consulted before the global one, rather than merged into
 * a copy of it: merging would let a more specific global rule beat a view
 * rule by precedence, while the spec wants a pilot subnet's rules to win
 * outright; it would also copy the Microsoft list once per view.
 *
 * Views are few and matched by a linear ACL scan, first match wins, as the
 * operator wrote them. Nothing here changes after building, so concurrent
 * router_decide calls need no locking.
 */
#include "routing/router.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct view {
	char *name;
	acl_t *clients;
	ruleset_t *rules;
	uint32_t default_action; /* or ER_ROUTER_NO_DEFAULT */
};

struct router {
	ruleset_t *global;
	uint32_t default_action;
	struct view *views;
	size_t nviews, capviews;
};

router_t *router_new(uint32_t default_action)
{
	router_t *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->global = ruleset_new();
	if (!r->global) {
		free(r);
		return NULL;
	}
	r->default_action = default_action;
	return r;
}

void router_free(router_t *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nviews; i++) {
		free(r->views[i].name);
		acl_free(r->views[i].clients);
		ruleset_free(r->views[i].rules);
	}
	free(r->views);
	ruleset_free(r->global);
	free(r);
}

static int reserve_view(router_t *r)
{
	if (r->nviews < r->capviews)
		return 0;
	size_t cap = r->capviews ? r->capviews * 2 : 4;
	struct view *v = reallocarray(r->views, cap, sizeof(*v));
	if (!v)
		return -ENOMEM;
	r->views = v;
	r->capviews = cap;
	return 0;
}

int router_add_view(router_t *r, const char *name, acl_t *clients, uint32_t default_action)
{
	struct view v = { .clients = clients, .default_action = default_action };
	if (!r || !name) {
		acl_free(clients);
		return -EINVAL;
	}
	if (r->nviews >= INT32_MAX || reserve_view(r) < 0)
		goto fail;
	v.name = strdup(name);
	v.rules = ruleset_new();
	if (!v.name || !v.rules)
		goto fail;
	r->views[r->nviews] = v;
	return (int)r->nviews++;
fail:
	free(v.name);
	ruleset_free(v.rules);
	acl_free(clients);
	return -ENOMEM;
}

ruleset_t *router_rules(router_t *r, int view)
{
	if (!r)
		return NULL;
	if (view < 0)
		return r->global;
	return (size_t)view < r->nviews ? r->views[view].rules : NULL;
}

const ruleset_t *router_rules_const(const router_t *r, int view)
{
	return router_rules((router_t *)r, view);
}

size_t router_view_count(const router_t *r)
{
	return r ? r->nviews : 0;
}

const char *router_view_name(const router_t *r, size_t view)
{
	if (!r || view >= r->nviews)
		return NULL;
	return r->views[view].name;
}

static const struct view *find_view(const router_t *r, const struct sockaddr *client)
{
	if (!client)
		return NULL;
	for (size_t i = 0; i < r->nviews; i++) {
		if (acl_allows(r->views[i].clients, client))
			return &r->views[i];
	}
	return NULL;
}

void router_decide(const router_t *r, const uint8_t *qname, const struct sockaddr *client,
		   route_decision_t *out)
{
	const struct view *v = find_view(r, client);
	*out = (route_decision_t){ .view = v ? v->name : NULL,
				   .view_index = v ? (int)(v - r->views) : -1,
				   .action = r->default_action };
	if (v)
		out->rule = ruleset_lookup(v->rules, qname);
	if (!out->rule)
		out->rule = ruleset_lookup(r->global, qname);
	if (out->rule)
		out->action = out->rule->action;
	else if (v && v->default_action != ER_ROUTER_NO_DEFAULT)
		out->action = v->default_action;
}
