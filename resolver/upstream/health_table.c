/*
 * The shared shell around the health state machine (health_table.h).
 *
 * Each address has one entry with a mutex over its server_health_t; every
 * transition (failure, success after failures, trial) takes it, and then
 * publishes is_down, the trial time and the failure count in atomics that
 * the query path reads without locking. The common case, an answer from a
 * server with no failures, writes nothing shared: the view's own RTT
 * estimator takes the sample, and the entry is touched only when its
 * failure count is not zero. Rejected: a lock per RTT sample (a shared
 * cache line written by every core on every miss), and a table per worker
 * (the defect this replaces: each worker learnt about a dead server on its
 * own and probed it on its own).
 *
 * Entries are allocated one by one and never move or go away while the
 * table lives; the slot array is fixed, so readers need no lock to find an
 * entry: `size` is published with release order after the entry is built.
 */
#include "upstream/health_table.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/sockaddr.h"

#include "util/cacheline.h"

typedef struct health_entry {
	pthread_mutex_t lock;
	server_health_t state; /* under lock */
	health_policy_t policy; /* under lock */
	uint32_t rtt_version; /* under lock: bumped when state.rtt is published */
	int64_t last_change_ms; /* under lock: wall clock of the last transition */
	atomic_bool is_down;
	atomic_bool is_in_use; /* named by the newest applied config */
	atomic_uint consecutive_fails;
	_Atomic uint64_t next_probe_ms;
	struct sockaddr_storage addr; /* immutable */
} health_entry_t;

struct health_table {
	pthread_mutex_t grow_lock; /* apply runs on one thread; views read size */
	atomic_size_t size;
	health_entry_t *entries[ER_HEALTH_MAX_ADDRS];
};

typedef struct view_slot {
	rtt_t rtt;
	uint32_t adopted_version;
	bool has_samples; /* since the last sync */
} view_slot_t;

struct health_view {
	health_table_t *table;
	view_slot_t slots[ER_HEALTH_MAX_ADDRS];
};

health_table_t *health_table_new(void)
{
	health_table_t *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	pthread_mutex_init(&t->grow_lock, NULL);
	atomic_init(&t->size, 0);
	return t;
}

void health_table_free(health_table_t *t)
{
	if (t == NULL)
		return;
	size_t n = atomic_load(&t->size);
	for (size_t i = 0; i < n; i++) {
		pthread_mutex_destroy(&t->entries[i]->lock);
		free(t->entries[i]);
	}
	pthread_mutex_destroy(&t->grow_lock);
	free(t);
}

/* Copies the state machine's fields the query path reads. Under e->lock. */
static void publish(health_entry_t *e)
{
	atomic_store_explicit(&e->next_probe_ms, e->state.next_probe_ms, memory_order_relaxed);
	atomic_store_explicit(&e->consecutive_fails, e->state.consecutive_fails,
			      memory_order_relaxed);
	atomic_store_explicit(&e->is_down, e->state.is_down, memory_order_release);
}

/* Under e->lock, on an up/down transition (rare: never on the common path). */
static void note_transition(health_entry_t *e)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	e->last_change_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int find(const health_table_t *t, const struct sockaddr *addr)
{
	size_t n = atomic_load(&t->size);
	for (size_t i = 0; i < n; i++) {
		if (sockaddr_equal((const struct sockaddr *)&t->entries[i]->addr, addr))
			return (int)i;
	}
	return -1;
}

static int add(health_table_t *t, const struct sockaddr *addr)
{
	size_t n = atomic_load(&t->size);
	if (n >= ER_HEALTH_MAX_ADDRS)
		return -ENOSPC;
	health_entry_t *e = aligned_alloc(ER_CACHE_LINE,
					  (sizeof(*e) + ER_CACHE_LINE - 1) / ER_CACHE_LINE *
						  ER_CACHE_LINE);
	if (e == NULL)
		return -ENOMEM;
	memset(e, 0, sizeof(*e));
	pthread_mutex_init(&e->lock, NULL);
	health_init(&e->state);
	memcpy(&e->addr, addr, sockaddr_len(addr));
	publish(e);
	t->entries[n] = e;
	atomic_store_explicit(&t->size, n + 1, memory_order_release);
	return (int)n;
}

static void set_policy(health_entry_t *e, const config_group_t *g)
{
	pthread_mutex_lock(&e->lock);
	e->policy = (health_policy_t){
		.max_fails = g->max_fails,
		.probe_interval_ms = g->probe_interval_ms,
		.timeout_ms = g->timeout_ms,
		.tcp_only = g->tcp == TCP_MODE_ALWAYS,
	};
	pthread_mutex_unlock(&e->lock);
	atomic_store(&e->is_in_use, true);
}

int health_table_apply(health_table_t *t, config_t *c, char *err, size_t errlen)
{
	pthread_mutex_lock(&t->grow_lock);
	bool named[ER_HEALTH_MAX_ADDRS] = { false };
	int rc = 0;
	for (size_t g = 0; g < c->n_groups && rc == 0; g++) {
		config_group_t *grp = &c->groups[g];
		for (size_t s = 0; s < grp->n_servers; s++) {
			const struct sockaddr *addr = (const struct sockaddr *)&grp->servers[s];
			int id = find(t, addr);
			if (id < 0)
				id = add(t, addr);
			if (id < 0) {
				rc = id;
				snprintf(err, errlen,
					 "more than %d distinct upstream addresses since erdns "
					 "started; restart erdns to apply this configuration",
					 ER_HEALTH_MAX_ADDRS);
				break;
			}
			grp->health_ids[s] = (uint16_t)id;
			if (!named[id]) /* the first group naming it sets its probe */
				set_policy(t->entries[id], grp);
			named[id] = true;
		}
	}
	if (rc == 0) {
		size_t n = atomic_load(&t->size);
		for (size_t i = 0; i < n; i++)
			atomic_store(&t->entries[i]->is_in_use, named[i]);
	}
	pthread_mutex_unlock(&t->grow_lock);
	return rc;
}

size_t health_table_size(const health_table_t *t)
{
	return atomic_load_explicit(&((health_table_t *)t)->size, memory_order_acquire);
}

const struct sockaddr *health_table_addr(const health_table_t *t, uint16_t id)
{
	return (const struct sockaddr *)&t->entries[id]->addr;
}

bool health_table_is_down(const health_table_t *t, uint16_t id)
{
	return atomic_load_explicit(&t->entries[id]->is_down, memory_order_acquire);
}

bool health_table_on_failure(health_table_t *t, health_view_t *v, uint16_t id,
			     bool timed_out, uint64_t now_ms)
{
	health_entry_t *e = t->entries[id];
	if (timed_out && v)
		rtt_timed_out(&v->slots[id].rtt);
	pthread_mutex_lock(&e->lock);
	bool marked = health_on_failure(&e->state, timed_out, e->policy.max_fails,
					e->policy.probe_interval_ms, now_ms);
	if (marked)
		note_transition(e);
	publish(e);
	pthread_mutex_unlock(&e->lock);
	return marked;
}

/* Whether an answer changes shared state: only after failures. */
static bool has_failures(const health_entry_t *e)
{
	return atomic_load_explicit(&((health_entry_t *)e)->consecutive_fails,
				    memory_order_relaxed) != 0 ||
	       atomic_load_explicit(&((health_entry_t *)e)->is_down, memory_order_relaxed);
}

bool health_table_on_alive(health_table_t *t, uint16_t id)
{
	health_entry_t *e = t->entries[id];
	if (!has_failures(e))
		return false;
	pthread_mutex_lock(&e->lock);
	bool marked_up = health_on_alive(&e->state);
	if (marked_up)
		note_transition(e);
	publish(e);
	pthread_mutex_unlock(&e->lock);
	return marked_up;
}

bool health_table_on_success(health_table_t *t, health_view_t *v, uint16_t id, uint32_t rtt_us)
{
	if (v) {
		rtt_update(&v->slots[id].rtt, rtt_us);
		v->slots[id].has_samples = true;
	}
	return health_table_on_alive(t, id);
}

void health_table_on_trial(health_table_t *t, uint16_t id, uint64_t now_ms)
{
	health_entry_t *e = t->entries[id];
	pthread_mutex_lock(&e->lock);
	health_on_trial_started(&e->state, now_ms);
	publish(e);
	pthread_mutex_unlock(&e->lock);
}

bool health_table_take_probe(health_table_t *t, uint16_t id, uint64_t now_ms,
			     health_policy_t *policy)
{
	health_entry_t *e = t->entries[id];
	if (!atomic_load(&e->is_in_use) || !health_table_is_down(t, id) ||
	    now_ms < atomic_load_explicit(&e->next_probe_ms, memory_order_relaxed))
		return false;
	pthread_mutex_lock(&e->lock);
	bool due = e->state.is_down && now_ms >= e->state.next_probe_ms;
	if (due) {
		health_on_trial_started(&e->state, now_ms);
		publish(e);
		*policy = e->policy;
	}
	pthread_mutex_unlock(&e->lock);
	return due;
}

void health_table_info(const health_table_t *t, uint16_t id, health_info_t *out)
{
	health_entry_t *e = t->entries[id];
	pthread_mutex_lock(&e->lock);
	*out = (health_info_t){
		.rtt = e->state.rtt,
		.consecutive_fails = e->state.consecutive_fails,
		.is_down = e->state.is_down,
		.is_in_use = atomic_load(&e->is_in_use),
		.last_change_ms = e->last_change_ms,
	};
	pthread_mutex_unlock(&e->lock);
}

void health_table_fill(const health_table_t *t, const uint16_t *ids, size_t n,
		       server_health_t *out)
{
	for (size_t i = 0; i < n; i++) {
		health_entry_t *e = t->entries[ids[i]];
		pthread_mutex_lock(&e->lock);
		out[i] = e->state;
		pthread_mutex_unlock(&e->lock);
	}
}

health_view_t *health_view_new(health_table_t *t)
{
	health_view_t *v = calloc(1, sizeof(*v));
	if (v == NULL)
		return NULL;
	v->table = t;
	for (size_t i = 0; i < ER_HEALTH_MAX_ADDRS; i++)
		rtt_init(&v->slots[i].rtt);
	health_view_sync(v);
	return v;
}

void health_view_free(health_view_t *v)
{
	free(v);
}

void health_view_fill(const health_view_t *v, const uint16_t *ids, size_t n,
		      server_health_t *out)
{
	for (size_t i = 0; i < n; i++) {
		health_entry_t *e = v->table->entries[ids[i]];
		out[i] = (server_health_t){
			.rtt = v->slots[ids[i]].rtt,
			.is_down = atomic_load_explicit(&e->is_down, memory_order_acquire),
			.next_probe_ms =
				atomic_load_explicit(&e->next_probe_ms, memory_order_relaxed),
			.consecutive_fails =
				atomic_load_explicit(&e->consecutive_fails, memory_order_relaxed),
		};
	}
}

const rtt_t *health_view_rtt(const health_view_t *v, uint16_t id)
{
	return &v->slots[id].rtt;
}

/* Last writer wins: every published estimate already holds the adopted
 * one plus its own worker's newer samples, and all of them estimate the
 * same path, so the workers agree again within one period. */
static void sync_one(view_slot_t *s, health_entry_t *e)
{
	pthread_mutex_lock(&e->lock);
	if (s->has_samples) {
		e->state.rtt = s->rtt;
		e->rtt_version++;
		s->has_samples = false;
	} else if (s->adopted_version != e->rtt_version || e->state.rtt.backoff != s->rtt.backoff) {
		s->rtt = e->state.rtt;
	}
	s->adopted_version = e->rtt_version;
	pthread_mutex_unlock(&e->lock);
}

void health_view_sync(health_view_t *v)
{
	size_t n = health_table_size(v->table);
	for (size_t i = 0; i < n; i++)
		sync_one(&v->slots[i], v->table->entries[i]);
}
