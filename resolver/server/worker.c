/*
 * Worker lifecycle. Start: adopt the pre-bound sockets, run the loop in its
 * own thread. Reload: the main thread parks a new snapshot in the hand-over
 * slot and wakes the loop; the loop swaps it in between two callbacks, so a
 * query never sees half of a configuration, and signals the main thread,
 * which reports the reload done only when every worker has swapped. Stop:
 * close listeners and connections, cancel forwarded queries, let the loop
 * run dry, and insist on uv_loop_close() == 0 (a handle left open is a bug
 * we want to see).
 *
 * Every part is built by worker_new and torn down by worker_free, which
 * accepts a worker built only in part (STYLE habit 4); the parts that live
 * on the loop (pools, forwarder, prober) are made by worker_start and
 * closed by begin_stop on the worker's own thread.
 */
#include "server/worker.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ops/querylog.h"
#include "server/forward.h"
#include "server/probe.h"
#include "server/query.h"
#include "server/tcp_listener.h"
#include "server/udp_listener.h"
#include "upstream/tcp_pool.h"
#include "upstream/udp_pool.h"
#include "util/log.h"
#include "util/random.h"

struct worker {
	unsigned index;
	uv_thread_t thread;
	uv_loop_t loop;
	uv_async_t wakeup;
	uv_timer_t tick; /* health sync, and the prober on worker 0 */
	uv_prepare_t flush; /* sends the replies of a loop turn before it waits */
	bool is_started, is_stopping;
	atomic_bool stop_requested;
	pthread_mutex_t handover_lock;
	pthread_cond_t swapped; /* signalled after each swap, under the lock */
	config_t *handover; /* a new snapshot waiting to be taken, under the lock */
	const config_t *serving; /* the snapshot in use, under the lock (for waiters) */
	/* Under the lock: the wakeup handle is closing, so other threads must
	 * not touch it any more (a worker whose sockets failed stops on its own,
	 * before anyone asks it to). */
	bool is_wakeup_closed;

	config_t *config; /* the snapshot new queries use (one reference) */
	worker_shared_t shared;
	health_view_t *view;
	forwarder_t *forwarder;
	prober_t *prober; /* worker 0 only */
	struct tcp_pool *tcp_pool; /* upstream TCP connections, shared by attempts */
	struct udp_pool *udp_pool; /* upstream UDP sockets, one per attempt at a time */

	size_t n_listen;
	int udp_fds[ER_LISTEN_MAX], tcp_fds[ER_LISTEN_MAX]; /* -1 once adopted */
	udp_listener_t udp[ER_LISTEN_MAX];
	tcp_listener_t tcp[ER_LISTEN_MAX];
	uint8_t *udp_recv_buf; /* shared by the worker's UDP listeners (recvmmsg) */
	tcp_conn_set_t *conns;
	int exit_status; /* 0, or the uv_loop_close error */

	metrics_t stats;
};

/* --- accessors ----------------------------------------------------------- */

uv_loop_t *worker_loop(worker_t *w)
{
	return &w->loop;
}

metrics_t *worker_stats(worker_t *w)
{
	return &w->stats;
}

const config_t *worker_config(const worker_t *w)
{
	return w->config;
}

cache_t *worker_cache(worker_t *w)
{
	return w->shared.cache;
}

forwarder_t *worker_forwarder(worker_t *w)
{
	return w->forwarder;
}

health_view_t *worker_health_view(worker_t *w)
{
	return w->view;
}

struct querylog *worker_querylog(worker_t *w)
{
	return w->shared.querylog;
}

struct ratelimit_table *worker_client_limit(worker_t *w)
{
	return w->shared.client_limit;
}

unsigned worker_index(const worker_t *w)
{
	return w->index;
}

bool worker_is_stopping(const worker_t *w)
{
	return w->is_stopping;
}

int worker_exit_status(const worker_t *w)
{
	return w->exit_status;
}

/* --- the outbound layer, for the forwarder and the prober ----------------- */

static void *outbound_start(void *ctx, const attempt_params_t *params, attempt_cb cb,
			    void *owner)
{
	worker_t *w = ctx;
	attempt_params_t p = *params;
	p.stats = &w->stats;
	p.tcp_pool = w->tcp_pool;
	p.udp_pool = w->udp_pool;
	return attempt_start(&w->loop, &p, cb, owner);
}

static void outbound_cancel(void *ctx, void *attempt)
{
	(void)ctx;
	attempt_cancel(attempt);
}

static uint64_t outbound_now(void *ctx)
{
	return uv_now(&((worker_t *)ctx)->loop);
}

/* --- reload -------------------------------------------------------------- */

static void take_handover(worker_t *w)
{
	pthread_mutex_lock(&w->handover_lock);
	config_t *next = w->handover;
	w->handover = NULL;
	pthread_mutex_unlock(&w->handover_lock);
	if (next == NULL)
		return;
	if (forwarder_set_config(w->forwarder, next) < 0) {
		log_error("worker %u: out of memory applying the new configuration", w->index);
		config_unref(next);
		return;
	}
	config_unref(w->config);
	w->config = next;
	pthread_mutex_lock(&w->handover_lock);
	w->serving = next;
	pthread_cond_broadcast(&w->swapped);
	pthread_mutex_unlock(&w->handover_lock);
}

void worker_swap_config(worker_t *w, config_t *config)
{
	pthread_mutex_lock(&w->handover_lock);
	config_unref(w->handover); /* an older snapshot nobody took yet */
	w->handover = config_ref(config);
	if (!w->is_wakeup_closed)
		uv_async_send(&w->wakeup);
	pthread_mutex_unlock(&w->handover_lock);
}

bool worker_wait_config(worker_t *w, const config_t *config, unsigned timeout_ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&w->handover_lock);
	int rc = 0;
	while (w->serving != config && rc == 0)
		rc = pthread_cond_timedwait(&w->swapped, &w->handover_lock, &until);
	bool is_serving = w->serving == config;
	pthread_mutex_unlock(&w->handover_lock);
	return is_serving;
}

/* --- the loop ------------------------------------------------------------ */

static void begin_stop(worker_t *w)
{
	if (w->is_stopping)
		return;
	w->is_stopping = true;
	for (size_t i = 0; i < w->n_listen; i++) {
		udp_listener_flush(&w->udp[i]); /* replies of this loop turn still go out */
		udp_listener_close(&w->udp[i]);
		tcp_listener_close(&w->tcp[i]);
	}
	forwarder_free(w->forwarder); /* cancels every forwarded query */
	w->forwarder = NULL;
	prober_free(w->prober);
	w->prober = NULL;
	tcp_pool_close(w->tcp_pool); /* no attempt holds a request any more */
	w->tcp_pool = NULL;
	udp_pool_close(w->udp_pool); /* nor a socket */
	w->udp_pool = NULL;
	tcp_conn_set_close_all(w->conns);
	uv_close((uv_handle_t *)&w->tick, NULL);
	uv_close((uv_handle_t *)&w->flush, NULL);
	pthread_mutex_lock(&w->handover_lock);
	w->is_wakeup_closed = true;
	pthread_mutex_unlock(&w->handover_lock);
	uv_close((uv_handle_t *)&w->wakeup, NULL);
}

void worker_flush_replies(worker_t *w)
{
	for (size_t i = 0; i < w->n_listen; i++)
		udp_listener_flush(&w->udp[i]);
}

static void on_flush(uv_prepare_t *prepare)
{
	worker_flush_replies(prepare->data);
}

static void on_tick(uv_timer_t *timer)
{
	worker_t *w = timer->data;
	health_view_sync(w->view);
	querylog_sync(w->shared.querylog, w->index, &w->stats);
	if (w->prober)
		prober_tick(w->prober);
}

static void on_wakeup(uv_async_t *async)
{
	worker_t *w = async->data;
	take_handover(w);
	if (atomic_load(&w->stop_requested))
		begin_stop(w);
}

/* Adopts the sockets; each listener owns its fds from the call on, so on a
 * failure only the later addresses' fds are closed here. */
static int start_listeners(worker_t *w)
{
	int rc = 0;
	for (size_t i = 0; i < w->n_listen; i++) {
		if (rc == 0)
			rc = udp_listener_start(&w->udp[i], w, w->udp_recv_buf, w->udp_fds[i]);
		else
			close(w->udp_fds[i]);
		w->udp_fds[i] = -1;
		if (rc == 0)
			rc = tcp_listener_start(&w->tcp[i], w, w->conns, w->tcp_fds[i]);
		else
			close(w->tcp_fds[i]);
		w->tcp_fds[i] = -1;
	}
	return rc;
}

static void run(void *arg)
{
	worker_t *w = arg;
	int rc = start_listeners(w);
	if (rc < 0) {
		log_error("worker %u: cannot use its sockets: %s", w->index, uv_strerror(rc));
		atomic_store(&w->stop_requested, true);
		begin_stop(w);
	}
	uv_run(&w->loop, UV_RUN_DEFAULT);
	rc = uv_loop_close(&w->loop);
	if (rc != 0) {
		log_error("worker %u: loop closed with handles still open: %s", w->index,
			  uv_strerror(rc));
		uv_print_all_handles(&w->loop, stderr);
		w->exit_status = rc;
	}
}

/* The parts that live on the loop. On failure, what was made is closed by
 * the caller through begin_stop and a run of the loop. */
static int start_loop_parts(worker_t *w)
{
	outbound_t out = { .start = outbound_start, .cancel = outbound_cancel,
			   .now_ms = outbound_now, .ctx = w };
	forward_env_t env = {
		.out = out,
		.sink = { .send = query_reply, .done = query_record, .ctx = w, .stats = &w->stats },
		.random = random_u32,
		.cache = w->shared.cache,
		.health = w->shared.health,
		.view = w->view,
		.max_inflight = w->shared.max_inflight,
	};
	uv_timer_init(&w->loop, &w->tick); /* cannot fail for timers */
	w->tick.data = w;
	uv_prepare_init(&w->loop, &w->flush); /* cannot fail for prepare handles */
	w->flush.data = w;
	w->tcp_pool = tcp_pool_new(&w->loop, &w->stats, NULL);
	w->udp_pool = udp_pool_new(&w->loop, &w->stats);
	w->forwarder = forwarder_new(&env, w->config);
	if (w->index == 0)
		w->prober = prober_new(&out, w->shared.health, w->view, &w->stats);
	if (!w->tcp_pool || !w->udp_pool || !w->forwarder || (w->index == 0 && !w->prober))
		return UV_ENOMEM;
	uv_timer_start(&w->tick, on_tick, ER_HEALTH_SYNC_MS, ER_HEALTH_SYNC_MS);
	uv_prepare_start(&w->flush, on_flush);
	return 0;
}

int worker_start(worker_t *w)
{
	int rc = uv_loop_init(&w->loop);
	if (rc < 0)
		return rc;
	rc = uv_async_init(&w->loop, &w->wakeup, on_wakeup);
	if (rc < 0) {
		uv_loop_close(&w->loop);
		return rc;
	}
	w->wakeup.data = w;
	rc = start_loop_parts(w);
	if (rc == 0)
		rc = uv_thread_create(&w->thread, run, w);
	if (rc < 0) {
		begin_stop(w);
		uv_run(&w->loop, UV_RUN_DEFAULT);
		uv_loop_close(&w->loop);
		return rc;
	}
	w->is_started = true;
	return 0;
}

void worker_stop_and_join(worker_t *w)
{
	if (!w->is_started)
		return;
	atomic_store(&w->stop_requested, true);
	pthread_mutex_lock(&w->handover_lock);
	if (!w->is_wakeup_closed)
		uv_async_send(&w->wakeup);
	pthread_mutex_unlock(&w->handover_lock);
	uv_thread_join(&w->thread);
	w->is_started = false;
}

/* --- construction -------------------------------------------------------- */

worker_t *worker_new(unsigned index, config_t *config, const worker_shared_t *shared,
		     const int *udp_fds, const int *tcp_fds, size_t n_listen)
{
	worker_t *w = calloc(1, sizeof(*w));
	if (w == NULL) {
		for (size_t i = 0; i < n_listen; i++) {
			close(udp_fds[i]);
			close(tcp_fds[i]);
		}
		return NULL;
	}
	w->index = index;
	w->shared = *shared;
	w->n_listen = n_listen;
	memcpy(w->udp_fds, udp_fds, n_listen * sizeof(int));
	memcpy(w->tcp_fds, tcp_fds, n_listen * sizeof(int));
	atomic_init(&w->stop_requested, false);
	pthread_mutex_init(&w->handover_lock, NULL);
	pthread_cond_init(&w->swapped, NULL);
	w->config = config_ref(config);
	w->serving = config;
	w->view = health_view_new(shared->health);
	w->udp_recv_buf = malloc(ER_UDP_RECV_BUF);
	w->conns = tcp_conn_set_new();
	if (!w->view || !w->udp_recv_buf || !w->conns) {
		worker_free(w);
		return NULL;
	}
	return w;
}

void worker_free(worker_t *w)
{
	if (w == NULL)
		return;
	for (size_t i = 0; i < w->n_listen; i++) {
		if (w->udp_fds[i] >= 0)
			close(w->udp_fds[i]); /* never adopted */
		if (w->tcp_fds[i] >= 0)
			close(w->tcp_fds[i]);
		udp_listener_free(&w->udp[i]);
	}
	config_unref(w->handover);
	config_unref(w->config);
	pthread_cond_destroy(&w->swapped);
	pthread_mutex_destroy(&w->handover_lock);
	health_view_free(w->view);
	free(w->udp_recv_buf);
	tcp_conn_set_free(w->conns);
	free(w);
}
