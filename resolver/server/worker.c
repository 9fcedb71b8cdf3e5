/*
 * Worker lifecycle. Start: adopt the pre-bound sockets, run the loop in its
 * own thread. Reload: the main thread parks a new snapshot in the hand-over
 * slot and wakes the loop; the loop swaps it in between two callbacks, so a
 * query never sees half of a configuration. Stop: close listeners and
 * connections, cancel forwarded queries, let the loop run dry, and insist on
 * uv_loop_close() == 0 (a handle left open is a bug we want to see).
 */
#include "server/worker.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "upstream/tcp_pool.h"
#include "upstream/udp_pool.h"
#include "util/log.h"
#include "util/sockaddr.h"

#define ER_PROBE_TICK_MS 100 /* probe schedule resolution; probe waits are >= 100 ms */

static void upstream_table_free(upstream_table_t *t)
{
	probe_table_cancel(t);
	free(t->probes);
	free(t->health);
	free(t->first);
	free(t->rr_cursor);
	memset(t, 0, sizeof(*t));
}

static int upstream_table_build(upstream_table_t *t, worker_t *w, const config_t *c)
{
	size_t total = 0;
	for (size_t g = 0; g < c->n_groups; g++)
		total += c->groups[g].n_servers;
	t->health = calloc(total ? total : 1, sizeof(*t->health));
	t->first = calloc(c->n_groups ? c->n_groups : 1, sizeof(*t->first));
	t->rr_cursor = calloc(c->n_groups ? c->n_groups : 1, sizeof(*t->rr_cursor));
	if (!t->health || !t->first || !t->rr_cursor) {
		upstream_table_free(t);
		return UV_ENOMEM;
	}
	size_t next = 0;
	for (size_t g = 0; g < c->n_groups; g++) {
		t->first[g] = next;
		next += c->groups[g].n_servers;
	}
	for (size_t i = 0; i < total; i++)
		health_init(&t->health[i]);
	t->n_servers = total;
	if (probe_table_init(t, w, c) < 0) {
		upstream_table_free(t);
		return UV_ENOMEM;
	}
	return 0;
}

server_health_t *worker_health(worker_t *w, size_t group, size_t server)
{
	return &w->upstreams.health[w->upstreams.first[group] + server];
}

/* A reload must not forget what the worker learnt: a server that is down
 * stays down (and probed), an RTT estimate stays. Servers are matched by
 * group name and address, since indexes may change between snapshots. */
static void carry_health_over(const config_t *old, const upstream_table_t *from,
			      const config_t *next, upstream_table_t *to)
{
	for (size_t g = 0; g < next->n_groups; g++) {
		int og = config_group_index(old, next->groups[g].name);
		if (og < 0)
			continue;
		const config_group_t *a = &old->groups[og], *b = &next->groups[g];
		for (size_t s = 0; s < b->n_servers; s++) {
			for (size_t t = 0; t < a->n_servers; t++) {
				if (sockaddr_equal((const struct sockaddr *)&b->servers[s],
						   (const struct sockaddr *)&a->servers[t]))
					to->health[to->first[g] + s] =
						from->health[from->first[og] + t];
			}
		}
	}
}

static void take_handover(worker_t *w)
{
	pthread_mutex_lock(&w->handover_lock);
	config_t *next = w->handover;
	w->handover = NULL;
	pthread_mutex_unlock(&w->handover_lock);
	if (next == NULL)
		return;
	upstream_table_t table = { 0 };
	if (upstream_table_build(&table, w, next) < 0) {
		log_error("worker %u: out of memory applying the new configuration", w->index);
		config_unref(next);
		return;
	}
	carry_health_over(w->config, &w->upstreams, next, &table);
	upstream_table_free(&w->upstreams);
	w->upstreams = table;
	config_unref(w->config);
	w->config = next;
}

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
	forward_cancel_all(w);
	probe_table_cancel(&w->upstreams);
	tcp_pool_close(w->tcp_pool); /* no attempt holds a request any more */
	w->tcp_pool = NULL;
	udp_pool_close(w->udp_pool); /* nor a socket */
	w->udp_pool = NULL;
	tcp_conn_close_all(w);
	uv_close((uv_handle_t *)&w->probe_timer, NULL);
	uv_close((uv_handle_t *)&w->flush, NULL);
	uv_close((uv_handle_t *)&w->wakeup, NULL);
}

static void on_flush(uv_prepare_t *prepare)
{
	worker_t *w = prepare->data;
	for (size_t i = 0; i < w->n_listen; i++)
		udp_listener_flush(&w->udp[i]);
}

static void on_probe_timer(uv_timer_t *timer)
{
	probe_tick(timer->data);
}

static void on_wakeup(uv_async_t *async)
{
	worker_t *w = async->data;
	take_handover(w);
	if (atomic_load(&w->stop_requested))
		begin_stop(w);
}

int worker_init(worker_t *w, unsigned index, config_t *config, cache_t *cache,
		const int *udp_fds, const int *tcp_fds, size_t n_listen)
{
	memset(w, 0, sizeof(*w));
	w->index = index;
	w->cache = cache;
	w->inflight_buckets = calloc(ER_INFLIGHT_BUCKETS, sizeof(*w->inflight_buckets));
	if (w->inflight_buckets == NULL)
		return UV_ENOMEM;
	w->n_listen = n_listen;
	memcpy(w->udp_fds, udp_fds, n_listen * sizeof(int));
	memcpy(w->tcp_fds, tcp_fds, n_listen * sizeof(int));
	atomic_init(&w->stop_requested, false);
	pthread_mutex_init(&w->handover_lock, NULL);
	int rc = upstream_table_build(&w->upstreams, w, config);
	if (rc < 0)
		return rc;
	w->config = config_ref(config);
	return 0;
}

static void close_unadopted_fds(worker_t *w, size_t from)
{
	for (size_t i = from; i < w->n_listen; i++) {
		close(w->udp_fds[i]);
		close(w->tcp_fds[i]);
	}
}

static void run(void *arg)
{
	worker_t *w = arg;
	size_t started = 0;
	int rc = 0;
	for (; started < w->n_listen && rc == 0; started++) {
		rc = udp_listener_start(&w->udp[started], w, w->udp_fds[started]);
		int rc_tcp = tcp_listener_start(&w->tcp[started], w, w->tcp_fds[started]);
		if (rc == 0)
			rc = rc_tcp;
	}
	if (rc < 0) {
		log_error("worker %u: cannot use its sockets: %s", w->index, uv_strerror(rc));
		close_unadopted_fds(w, started);
		w->n_listen = started; /* begin_stop closes what was initialised */
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

int worker_start(worker_t *w)
{
	int rc = uv_loop_init(&w->loop);
	if (rc < 0)
		return rc;
	w->tcp_pool = tcp_pool_new(&w->loop, &w->stats, NULL);
	w->udp_pool = udp_pool_new(&w->loop, &w->stats);
	rc = w->tcp_pool && w->udp_pool ? uv_async_init(&w->loop, &w->wakeup, on_wakeup)
					: UV_ENOMEM;
	if (rc < 0) {
		tcp_pool_close(w->tcp_pool); /* nothing opened yet: freed at once */
		w->tcp_pool = NULL;
		udp_pool_close(w->udp_pool);
		w->udp_pool = NULL;
		uv_loop_close(&w->loop);
		return rc;
	}
	w->wakeup.data = w;
	uv_timer_init(&w->loop, &w->probe_timer); /* cannot fail for timers */
	w->probe_timer.data = w;
	uv_timer_start(&w->probe_timer, on_probe_timer, ER_PROBE_TICK_MS, ER_PROBE_TICK_MS);
	uv_prepare_init(&w->loop, &w->flush); /* cannot fail for prepare handles */
	w->flush.data = w;
	uv_prepare_start(&w->flush, on_flush);
	rc = uv_thread_create(&w->thread, run, w);
	if (rc < 0) {
		tcp_pool_close(w->tcp_pool);
		w->tcp_pool = NULL;
		udp_pool_close(w->udp_pool);
		w->udp_pool = NULL;
		uv_close((uv_handle_t *)&w->probe_timer, NULL);
		uv_close((uv_handle_t *)&w->flush, NULL);
		uv_close((uv_handle_t *)&w->wakeup, NULL);
		uv_run(&w->loop, UV_RUN_DEFAULT);
		uv_loop_close(&w->loop);
	}
	return rc;
}

void worker_stop_and_join(worker_t *w)
{
	atomic_store(&w->stop_requested, true);
	uv_async_send(&w->wakeup);
	uv_thread_join(&w->thread);
	pthread_mutex_lock(&w->handover_lock);
	config_unref(w->handover);
	w->handover = NULL;
	pthread_mutex_unlock(&w->handover_lock);
	pthread_mutex_destroy(&w->handover_lock);
	upstream_table_free(&w->upstreams);
	free(w->inflight_buckets);
	w->inflight_buckets = NULL;
	free(w->udp_recv_buf);
	w->udp_recv_buf = NULL;
	for (size_t i = 0; i < w->n_listen; i++)
		udp_listener_free(&w->udp[i]);
	config_unref(w->config);
	w->config = NULL;
}

void worker_swap_config(worker_t *w, config_t *config)
{
	pthread_mutex_lock(&w->handover_lock);
	config_unref(w->handover); /* an older snapshot nobody took yet */
	w->handover = config_ref(config);
	pthread_mutex_unlock(&w->handover_lock);
	uv_async_send(&w->wakeup);
}
