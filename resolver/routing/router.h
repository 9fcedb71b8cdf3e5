/*
 * The routing decision of SPEC 2.2: views by client address, then global
 * rules, then the view's default, then the global default. Pure: no I/O.
 */
#ifndef ERDNS_ROUTING_ROUTER_H
#define ERDNS_ROUTING_ROUTER_H

#include <stdint.h>
#include <sys/socket.h>

#include "routing/ruleset.h"
#include "util/netblock.h"

#define ER_ROUTER_NO_DEFAULT UINT32_MAX

typedef struct router router_t;

typedef struct route_decision {
	const char *view; /* view name, NULL when the client is in no view */
	int view_index; /* the view's index, -1 when the client is in no view */
	const rule_t *rule; /* deciding rule, NULL when a default decided */
	uint32_t action; /* route-chain index */
} route_decision_t;

/* NULL on allocation failure. default_action is the global default. */
router_t *router_new(uint32_t default_action);
void router_free(router_t *r);

/* Adds a view in order; takes ownership of clients (also on failure).
 * default_action may be ER_ROUTER_NO_DEFAULT. Returns the view index >= 0 or
 * -ENOMEM. The name is copied. */
int router_add_view(router_t *r, const char *name, acl_t *clients, uint32_t default_action);

/* The ruleset of a view (index from router_add_view), or the global one for
 * view < 0. Callers add rules to it while building; read-only afterwards. */
ruleset_t *router_rules(router_t *r, int view);
const ruleset_t *router_rules_const(const router_t *r, int view);
size_t router_view_count(const router_t *r);
const char *router_view_name(const router_t *r, size_t view);

/* Decides the route of qname (wire form) for client (may be NULL: no view).
 * Thread-safe for concurrent readers. */
void router_decide(const router_t *r, const uint8_t *qname, const struct sockaddr *client,
		   route_decision_t *out);

#endif
