/*
 * A worker: one thread, one libuv loop, its own SO_REUSEPORT UDP and TCP
 * sockets on every listen address, its own upstream health table and
 * counters. Workers share nothing mutable but the configuration snapshot
 * (immutable, refcounted) and the hand-over slot used by reloads, so the
 * query path takes no locks and scales with cores.
 *
 * This header is internal to server/: listeners, the pipeline and the
 * forwarder all work on a worker_t.
 */
#ifndef ERDNS_SERVER_WORKER_H
#define ERDNS_SERVER_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cache/cache.h"
#include "config/config.h"
#include "server/stats.h"
#include "upstream/select.h"

#define ER_REPLY_MAX 65535 /* largest DNS message (RFC 1035 4.2.2 length prefix) */
#define ER_TCP_IDLE_MS 10000 /* SPEC 3, RFC 7766 6.2.3 */
#define ER_TCP_MAX_CONNS 256 /* per worker */
#define ER_TCP_MAX_INFLIGHT 32 /* per connection: reading pauses beyond */
#define ER_MAX_INFLIGHT 16384 /* per worker: forwarded queries awaiting upstreams */
#define ER_INFLIGHT_BUCKETS 4096 /* coalescing table; power of two */
#define ER_MAX_WAITERS 64 /* clients sharing one upstream query; more start another */

_Static_assert((ER_INFLIGHT_BUCKETS & (ER_INFLIGHT_BUCKETS - 1)) == 0, "power of two");

typedef struct worker worker_t;
typedef struct tcp_conn tcp_conn_t;

typedef struct udp_listener {
	uv_udp_t handle;
	worker_t *worker;
	struct udp_outbox *outbox; /* replies batched for sendmmsg */
} udp_listener_t;

typedef struct tcp_listener {
	uv_tcp_t handle;
	worker_t *worker;
} tcp_listener_t;

/* Where a reply goes. Copied into every forwarded query. */
typedef struct client {
	struct sockaddr_storage addr;
	udp_listener_t *udp; /* UDP: the socket that received the query */
	tcp_conn_t *conn; /* TCP: the connection (kept alive by tcp_conn_hold) */
} client_t;

typedef struct probe probe_t;

/* Upstream health for one configuration snapshot, per worker. */
typedef struct upstream_table {
	server_health_t *health; /* all groups' servers, group after group */
	probe_t *probes; /* one slot per server, parallel to health[] */
	size_t n_servers;
	size_t *first; /* index of group g's first server in health[] */
	uint32_t *rr_cursor; /* round-robin position per group */
} upstream_table_t;

typedef struct forward forward_t;
typedef struct waiter waiter_t;

struct worker {
	unsigned index;
	uv_thread_t thread;
	uv_loop_t loop;
	uv_async_t wakeup;
	uv_timer_t probe_timer;
	uv_prepare_t flush; /* sends the replies of a loop turn before it waits */
	atomic_bool stop_requested;
	pthread_mutex_t handover_lock;
	config_t *handover; /* a new snapshot waiting to be taken, under the lock */

	config_t *config; /* the snapshot new queries use (one reference) */
	upstream_table_t upstreams;
	struct tcp_pool *tcp_pool; /* upstream TCP connections, shared by attempts */
	struct udp_pool *udp_pool; /* upstream UDP sockets, one per attempt at a time */

	size_t n_listen;
	int udp_fds[ER_LISTEN_MAX], tcp_fds[ER_LISTEN_MAX];
	udp_listener_t udp[ER_LISTEN_MAX];
	uint8_t *udp_recv_buf; /* shared by the worker's UDP listeners (recvmmsg) */
	tcp_listener_t tcp[ER_LISTEN_MAX];

	tcp_conn_t *conns; /* open TCP connections, intrusive list */
	size_t n_conns;
	forward_t *inflight; /* forwarded queries, intrusive list */
	size_t n_inflight;
	forward_t **inflight_buckets; /* by question, for coalescing */
	cache_t *cache; /* shared by all workers; owned by the server */
	bool is_stopping;
	int exit_status; /* 0, or the uv_loop_close error */

	stats_t stats;
};

/* Prepares w (not started). Takes a reference to config. The fds are bound
 * sockets the worker adopts (it closes them). Returns 0 or a UV error. */
int worker_init(worker_t *w, unsigned index, config_t *config, cache_t *cache,
		const int *udp_fds, const int *tcp_fds, size_t n_listen);
/* Starts the worker's thread. */
int worker_start(worker_t *w);
/* Asks the worker to stop (thread-safe) and waits for its thread. */
void worker_stop_and_join(worker_t *w);
/* Hands a new snapshot to the worker (thread-safe; takes a reference). */
void worker_swap_config(worker_t *w, config_t *config);

/* The per-snapshot upstream table: health of server s of group g. */
server_health_t *worker_health(worker_t *w, size_t group, size_t server);

/* health probes (probe.c): every server marked down is asked ". NS" on
 * its probe schedule until it answers; queries never wait on it meanwhile. */
int probe_table_init(upstream_table_t *t, worker_t *w, const config_t *c);
/* Cancels probes in flight; their callbacks will not run. */
void probe_table_cancel(upstream_table_t *t);
void probe_tick(worker_t *w);

/* listeners (udp_listener.c, tcp_listener.c) */
int udp_listener_start(udp_listener_t *l, worker_t *w, int fd);
void udp_listener_close(udp_listener_t *l);
/* Frees what the listener allocated; after its handle is closed. */
void udp_listener_free(udp_listener_t *l);
/* Queues a reply; it is sent by the next udp_listener_flush (or at once
 * when the queue is full). */
void udp_listener_send(udp_listener_t *l, const struct sockaddr *to, const uint8_t *msg,
		       size_t len);
/* Sends the queued replies with one sendmmsg; the worker's prepare handle
 * calls it on every loop turn. */
void udp_listener_flush(udp_listener_t *l);
int tcp_listener_start(tcp_listener_t *l, worker_t *w, int fd);
void tcp_listener_close(tcp_listener_t *l);
void tcp_conn_close_all(worker_t *w);
/* A forwarded query keeps its connection's memory alive until released. */
void tcp_conn_hold(tcp_conn_t *c);
void tcp_conn_release(tcp_conn_t *c);
/* Sends a length-prefixed reply if the connection is still open. */
void tcp_conn_send(tcp_conn_t *c, const uint8_t *msg, size_t len);

/* pipeline (query.c) */
void query_receive(worker_t *w, const client_t *client, const uint8_t *pkt, size_t len);
/* Sends msg to the client over its transport. */
void query_reply(worker_t *w, const client_t *client, const uint8_t *msg, size_t len);

/* waiters (waiter.c): a client waiting for an upstream answer, with its
 * own copy of its query (ID, question case and EDNS size differ between
 * clients that share one upstream query). Holds its TCP connection. */
waiter_t *waiter_new(const client_t *client, const uint8_t *pkt, size_t len, const dns_query_t *q);
/* Answers every waiter of list with resp (rewritten per client: ID, case,
 * EDNS, truncation; RA=1, AA=0) and frees them. ede: ER_EDE_NONE or EDE 3. */
void waiters_answer(worker_t *w, waiter_t *list, const uint8_t *resp, size_t len, int ede);
/* Answers every waiter SERVFAIL (with ede unless ER_EDE_NONE) and frees them. */
void waiters_fail(worker_t *w, waiter_t *list, int ede);
/* Frees every waiter without answering (shutdown). */
void waiters_drop(waiter_t *list);
waiter_t *waiter_next(const waiter_t *wt);
void waiter_set_next(waiter_t *wt, waiter_t *next);

/* Whether q on chain may share an upstream query and use the cache: not
 * when the client's ECS option is passed upstream (`ecs: pass`), because
 * the answer then depends on the client's subnet. */
bool forward_is_shareable(const worker_t *w, const dns_query_t *q, uint32_t chain);

/* forwarding (forward.c): q points into pkt; both are copied. client NULL
 * is a prefetch (nobody waits; the answer only refreshes the cache). */
void forward_start(worker_t *w, const client_t *client, const uint8_t *pkt, size_t len,
		   const dns_query_t *q, uint32_t chain);
/* Cancels every forwarded query without replying (shutdown). */
void forward_cancel_all(worker_t *w);

#endif
