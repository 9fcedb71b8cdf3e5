/*
 * Forwarding client queries along their route chains (SPEC 2.1, 2.2, 3):
 * one forwarder per worker thread, over an injected outbound layer, clock
 * and reply sink (forward_env_t), so that tests/unit/test_forward.c drives
 * every rule without sockets.
 */
#ifndef ERDNS_SERVER_FORWARD_H
#define ERDNS_SERVER_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/cache.h"
#include "config/config.h"
#include "server/client.h"
#include "server/outbound.h"
#include "upstream/health_table.h"

/* The Windows DNS client re-asks after 1 s; 200 ms is left for the next
 * group to answer before that. */
#define ER_GROUP_BUDGET_MS 800
/* Passes over the last group's servers while query time is left: a lost
 * datagram deserves another try, but a synchronous failure must not spin. */
#define ER_LAST_GROUP_ROUNDS 4
/* Attempts of one query open at once: the current one and slow ones still
 * listening for a late answer. */
#define ER_MAX_ATTEMPTS 6
#define ER_MAX_INFLIGHT_DEFAULT 16384 /* per worker: forwarded queries awaiting upstreams */
#define ER_INFLIGHT_BUCKETS 4096 /* coalescing table; power of two */
#define ER_MAX_WAITERS 64 /* clients sharing one upstream query; more start another */

_Static_assert(ER_GROUP_BUDGET_MS < 1000, "failover must beat the client's 1 s retry");
_Static_assert((ER_INFLIGHT_BUCKETS & (ER_INFLIGHT_BUCKETS - 1)) == 0, "power of two");

typedef struct forwarder forwarder_t;

typedef struct forward_env {
	outbound_t out;
	reply_sink_t sink;
	uint32_t (*random)(void); /* uniformly random 32-bit values */
	cache_t *cache; /* shared by the workers; borrowed */
	health_table_t *health; /* shared by the workers; borrowed */
	health_view_t *view; /* this worker's; borrowed */
	size_t max_inflight; /* forwarded queries at once; beyond, dropped */
} forward_env_t;

/* A forwarder for new queries under config (takes a reference). env is
 * copied. NULL on allocation failure. */
forwarder_t *forwarder_new(const forward_env_t *env, config_t *config);
/* Cancels every forwarded query without replying, then frees. NULL ok. */
void forwarder_free(forwarder_t *f);
/* Queries from now on use config (takes a reference). Forwards started
 * before keep their own snapshot: they are answered, but never cached
 * under the new one, and no new query joins them (SPEC 3, reload). */
int forwarder_set_config(forwarder_t *f, config_t *config);
size_t forwarder_inflight(const forwarder_t *f);
/* The server of group gi the next query would ask first (no exploration),
 * or -1; for the CHAOS routing check. */
int forwarder_preferred_server(const forwarder_t *f, size_t gi, uint64_t now_ms);

/*
 * Whether q on chain may share an upstream query and the cache: not when
 * the client's ECS option may be passed upstream by any group of the chain
 * (`ecs: pass`), because the answer then depends on the client's subnet.
 */
bool forward_is_shareable(const config_t *c, const dns_query_t *q, uint32_t chain);

/* Forwards q (pointing into pkt; both copied) on chain of the forwarder's
 * config; meta (copied; may be NULL) says how it was routed, for the query
 * events and the ExpressRoute audit (meta->rule: an m365 route's rule is
 * audited; without meta nothing is). client NULL is a prefetch: nobody
 * waits, the answer refreshes the cache. */
void forward_start(forwarder_t *f, const client_t *client, const query_meta_t *meta,
		   const uint8_t *pkt, size_t len, const dns_query_t *q, uint32_t chain);
/* Cancels every forwarded query without replying (shutdown). */
void forward_cancel_all(forwarder_t *f);

#endif
