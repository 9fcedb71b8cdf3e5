/*
 * The configuration snapshot (SPEC 2). config_load parses the JSON file
 * (cJSON), walks it with the schema table of config/schema.c (unknown keys
 * and duplicate keys rejected), loads zones and resolv.conf files, compiles
 * the routes into a router, and returns one immutable, reference-counted
 * snapshot. Workers hold a reference for as long as any query uses it, so a
 * reload swaps snapshots without locks and without losing queries.
 *
 * The struct is visible, not opaque, because it is read-only after
 * config_load returns and every module reads a handful of its fields on the
 * query path; accessors would add calls without adding safety.
 */
#ifndef ERDNS_CONFIG_CONFIG_H
#define ERDNS_CONFIG_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "dns/zone.h"
#include "routing/er_audit.h"
#include "routing/prefixset.h"
#include "routing/router.h"
#include "upstream/select.h"
#include "util/log.h"
#include "util/netblock.h"
#include "util/ratelimit.h"

#define ER_CONFIG_DEFAULT_PATH "/etc/erdns/erdns.json"
#define ER_CHAIN_MAX 8 /* groups in one `via` chain */
#define ER_LISTEN_MAX 16
#define ER_CONFIG_ERR_MAX 512
#define ER_CLIENT_QPS_MAX 1000000 /* server.client_qps and client_burst */

typedef enum { TCP_MODE_FALLBACK, TCP_MODE_ALWAYS } tcp_mode_t;
typedef enum { ECS_STRIP, ECS_PASS, ECS_PREFIX } ecs_mode_t;

typedef struct config_group {
	char *name;
	size_t n_servers; /* 1..ER_GROUP_MAX_SERVERS */
	struct sockaddr_storage servers[ER_GROUP_MAX_SERVERS];
	select_policy_t select; /* default SELECT_FASTEST */
	uint32_t timeout_ms; /* default 1500 */
	uint32_t max_fails; /* default 3 */
	uint32_t probe_interval_ms; /* default 1000 */
	tcp_mode_t tcp; /* default TCP_MODE_FALLBACK */
	ecs_mode_t ecs; /* default ECS_STRIP */
	netblock_t ecs_prefix; /* when ecs == ECS_PREFIX */
	/* Each server's id in the server's health table (upstream/health_table.h),
	 * written by health_table_apply before the snapshot is shared. */
	uint16_t health_ids[ER_GROUP_MAX_SERVERS];
} config_group_t;

/* A `via` chain: groups tried in order. Equal chains share one index. */
typedef struct config_chain {
	size_t n_groups;
	uint16_t groups[ER_CHAIN_MAX]; /* indexes into config_t.groups */
	char *text; /* "hq,hq-eu,branch" */
	/* Some group of the chain has `ecs: pass`: a query with a client subnet
	 * on this chain is neither shared nor cached (SPEC 3). */
	bool may_pass_ecs;
} config_chain_t;

/* One imported Microsoft 365 list (an `m365` route): for `erdns check`, and
 * the ExpressRoute audit of the answers its names get (SPEC 2.2). */
typedef struct config_m365 {
	char *route; /* "routes[0]", "views[1].routes[2]" */
	uint32_t chain; /* the route's via */
	uint16_t route_slot; /* its (view, route) labels in the metrics */
	struct m365_import *import; /* owns the strings its rules' origins borrow */
	er_audit_policy_t audit;
	prefixset_t *prefixes; /* its selected ExpressRoute sets' `ips` (owned) */
	/* The outside answers' log line, one per second for this route: the
	 * snapshot's one mutable part (atomics shared by the workers; owned). */
	ratelimit_t *outside_log;
} config_m365_t;

/* One value of the (view, route) labels of erdns_answers_total (SPEC 4: a
 * route's label is its index in `routes`, with the view's name for view
 * routes). Rules carry their slot (rule_origin_t.route_slot). */
typedef struct config_route_slot {
	const char *view; /* the view's name (borrowed from the router), NULL: none */
	char route[21]; /* "0", "1", ..., "default", "local", "chaos", "none"; fits any size_t */
	int32_t m365; /* an m365 route's index in config_t.m365, else -1 */
} config_route_slot_t;

enum {
	ER_ROUTE_SLOT_LOCAL, /* answered from a local zone */
	ER_ROUTE_SLOT_CHAOS, /* CHAOS TXT: the routing check, id.server, ... */
	ER_ROUTE_SLOT_NONE, /* not routed: refused, malformed, not implemented */
	ER_ROUTE_SLOTS_FIXED
};

typedef struct config_cache {
	uint32_t max_mb; /* 64 */
	uint32_t min_ttl_s; /* 0 */
	uint32_t max_ttl_s; /* 86400 */
	uint32_t max_negative_ttl_s; /* 3600 */
	uint32_t serve_stale_s; /* 86400 */
	uint32_t fallback_ttl_s; /* 30 */
	bool prefetch; /* true */
} config_cache_t;

typedef struct config {
	atomic_uint refs;
	char *path;
	/* Set by the server before the snapshot is shared: the same number as
	 * the previous snapshot's while the chains keep their indexes, a new one
	 * when a reload renumbers them. Cache keys carry it (cache/cache.h). */
	uint32_t route_epoch;

	/* server */
	size_t n_listen; /* >= 1; default 127.0.0.1:53 */
	struct sockaddr_storage listen[ER_LISTEN_MAX];
	unsigned threads; /* resolved: 0 in the file means the number of CPUs */
	acl_t *allow; /* default 127.0.0.0/8, ::1/128 */
	char *user; /* NULL: no privilege drop */
	char *identity; /* default: gethostname() */
	uint32_t query_timeout_ms; /* default 3000 */
	/* Queries a second per client (IPv4 /32, IPv6 /64; server/ratelimit.h),
	 * 0: no limit (the default). The burst is client_qps when absent. */
	uint32_t client_qps;
	uint32_t client_burst;

	size_t n_groups;
	config_group_t *groups;
	size_t n_chains;
	config_chain_t *chains; /* route actions index this array */
	uint32_t default_chain;

	router_t *router;
	size_t n_route_slots;
	config_route_slot_t *route_slots;
	uint16_t *default_slots; /* [0]: the global default's, [1 + v]: view v's */
	zoneset_t *zones;
	size_t n_m365;
	config_m365_t *m365; /* freed after the router */

	config_cache_t cache;
	char *control_socket; /* default /run/erdns/control.sock */
	char *metrics_listen; /* NULL: off */
	log_level_t log_level; /* default info */
	bool log_queries; /* default false */
	char *query_file; /* NULL: stderr */
} config_t;

/*
 * Loads and validates path completely. Returns a snapshot with one reference,
 * or NULL with a one-line message in err ("FILE:LINE:COL: what; what to do",
 * "FILE: routes[2].via: unknown upstream group \"hqq\" (known: hq, branch)",
 * "ZONEFILE:LINE: ..."), without the "erdns: " prefix.
 */
config_t *config_load(const char *path, char *err, size_t errlen);

/* Takes another reference; returns c. Thread-safe. */
config_t *config_ref(config_t *c);
/* Drops a reference; the last one frees everything. NULL is ignored. */
void config_unref(config_t *c);

/* The m365 route whose own rule decided a query, for the ExpressRoute
 * audit: rule is an imported URL's rule (not an exception routed to the
 * default, a domains rule, or NULL for a default). NULL otherwise. Cheap:
 * a few compares, nothing when the config has no m365 route. */
const config_m365_t *config_m365_of(const config_t *c, const rule_t *rule);

/* Whether a and b audit alike: the same m365 routes in the same order, on
 * the same chains, with the same `audit` and the same prefixes. A reload
 * that changes any starts a new route epoch (server.c): verdicts cached
 * under the old prefixes must not be shown as the new list's. */
bool config_same_audit(const config_t *a, const config_t *b);

/* Index of the group called name, or -1. */
int config_group_index(const config_t *c, const char *name);

/* The one-screen summary of `erdns check`: listeners, groups with their
 * servers, rules per source and view, zones. */
void config_print_summary(const config_t *c, FILE *out);

#endif
