/*
 * A worker: one thread, one libuv loop, its own SO_REUSEPORT UDP and TCP
 * sockets on every listen address, its own forwarder, socket pools and
 * counters. Workers share the configuration snapshot (immutable,
 * refcounted), the cache, the upstream health table and the client rate
 * limit's buckets, which are the server's; the query path takes no lock but
 * the cache stripe's.
 *
 * worker_t is opaque: the listeners, the pipeline and the server use the
 * functions below.
 */
#ifndef ERDNS_SERVER_WORKER_H
#define ERDNS_SERVER_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cache/cache.h"
#include "config/config.h"
#include "ops/metrics.h"
#include "upstream/health_table.h"

typedef struct worker worker_t;
struct forwarder;
struct querylog;
struct ratelimit_table;

/* What every worker of a server shares; borrowed for the worker's life. */
typedef struct worker_shared {
	cache_t *cache;
	health_table_t *health;
	size_t max_inflight; /* forwarded queries per worker */
	/* The query log (ops/querylog.h), whose lane `index` is this worker's;
	 * NULL: none (tests). */
	struct querylog *querylog;
	/* The client rate limit's buckets (server/ratelimit.h), used while the
	 * snapshot's client_qps is above 0; NULL: no limit (tests). */
	struct ratelimit_table *client_limit;
} worker_shared_t;

/*
 * A worker (not started) for config (takes a reference). The fds are bound
 * sockets it adopts: they are the worker's from this call on, also on
 * failure (closed then). Worker 0 also runs the server's health prober.
 * NULL on failure.
 */
worker_t *worker_new(unsigned index, config_t *config, const worker_shared_t *shared,
		     const int *udp_fds, const int *tcp_fds, size_t n_listen);
/* Starts the worker's thread. 0 or a UV error (then worker_free). */
int worker_start(worker_t *w);
/* Asks a started worker to stop (thread-safe) and waits for its thread. */
void worker_stop_and_join(worker_t *w);
/* Frees a worker that was never started or has been joined. NULL ok. */
void worker_free(worker_t *w);
/* 0, or the error its loop closed with. */
int worker_exit_status(const worker_t *w);

/* Hands a new snapshot to the worker (thread-safe; takes a reference). */
void worker_swap_config(worker_t *w, config_t *config);
/* Waits until the worker serves config, at most timeout_ms. True if it does. */
bool worker_wait_config(worker_t *w, const config_t *config, unsigned timeout_ms);

/* For the listeners and the pipeline, on the worker's own thread. */
uv_loop_t *worker_loop(worker_t *w);
metrics_t *worker_stats(worker_t *w);
const config_t *worker_config(const worker_t *w);
cache_t *worker_cache(worker_t *w);
struct forwarder *worker_forwarder(worker_t *w);
health_view_t *worker_health_view(worker_t *w);
struct querylog *worker_querylog(worker_t *w);
struct ratelimit_table *worker_client_limit(worker_t *w);
unsigned worker_index(const worker_t *w);
bool worker_is_stopping(const worker_t *w);
/* Sends the UDP replies held so far in this loop turn (the prepare handle
 * does it at the end of every turn). */
void worker_flush_replies(worker_t *w);

#endif
