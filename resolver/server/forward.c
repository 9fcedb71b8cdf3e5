/*
 * Forwarding one client query along its route chain (SPEC 2.1, 2.2, 3).
 *
 * A forward_t walks the chain's groups in order; within a group it tries the
 * servers in the order select_order gives, one attempt at a time, each with
 * the RTT-derived timeout capped by the time left. Budgets: a group that is
 * not the last of its chain gets ER_GROUP_BUDGET_MS, so a silent first group
 * hands over to the next one within 1 s of the query's arrival (beating the
 * Windows client's own 1 s retry); the last group gets whatever is left of
 * query_timeout_ms. A server known down is skipped at once (select_order).
 * An attempt whose timeout passes keeps listening while the next server is
 * tried (up to ER_MAX_ATTEMPTS at once); the first valid answer wins.
 *
 * Identical questions on the same route share one forward_t (waiter.c
 * answers each client in its own terms); the answer is cached, and when the
 * whole chain fails a stale cached answer beats SERVFAIL (RFC 8767).
 *
 * The answer that ends the walk is relayed whole (CNAME chains included),
 * rewritten only where the client must see its own ID, question case and
 * EDNS size. forward_t owns no libuv handle (the attempt owns its own), so
 * it can be freed the moment it finishes or is cancelled.
 */
#include <stdlib.h>
#include <string.h>

#include "dns/dname.h"
#include "dns/reply.h"
#include "server/worker.h"
#include "upstream/attempt.h"
#include "util/log.h"
#include "util/random.h"
#include "util/sockaddr.h"

/* The Windows DNS client re-asks after 1 s; 200 ms is left for the next
 * group to answer before that. */
#define ER_GROUP_BUDGET_MS 800
/* Passes over the last group's servers while query time is left: a lost
 * datagram deserves another try, but a synchronous failure must not spin. */
#define ER_LAST_GROUP_ROUNDS 4

_Static_assert(ER_GROUP_BUDGET_MS < 1000, "failover must beat the client's 1 s retry");

/* Attempts stay open after their timeout (attempt.c on_slow): an answer
 * that is merely late still wins over trying yet another server. */
#define ER_MAX_ATTEMPTS 6

typedef struct attempt_slot {
	forward_t *fw;
	attempt_t *attempt; /* NULL: free */
	size_t chain_pos, server; /* which group of the chain, which server in it */
	bool is_slow; /* its timeout passed; already counted as a failure */
} attempt_slot_t;

struct forward {
	worker_t *worker;
	forward_t *prev, *next;
	forward_t *bucket_next; /* coalescing table chain */
	config_t *config; /* the snapshot this query started with (one reference) */
	waiter_t *waiters; /* clients to answer; none for a prefetch */
	unsigned n_waiters;
	uint32_t hash; /* of the question and route: coalescing key */
	bool is_shared; /* coalesced and cached (not with ECS passed through) */
	bool is_in_bucket; /* joinable: in the coalescing table */
	dns_query_t q; /* what is asked upstream; points into pkt */
	uint32_t chain;
	size_t chain_pos;
	uint8_t order[ER_GROUP_MAX_SERVERS];
	size_t order_n, order_i;
	unsigned rounds; /* passes over the current group */
	attempt_slot_t slots[ER_MAX_ATTEMPTS]; /* the current attempt and slow ones */
	attempt_slot_t *current; /* the attempt the walk waits on, or NULL */
	uint64_t deadline_ms, group_deadline_ms;
	bool saw_timeout, saw_network_error;
	size_t pkt_len;
	uint8_t pkt[];
};

static _Thread_local uint8_t reply_buf[ER_REPLY_MAX];

static void start_group(forward_t *fw);
static void try_next_server(forward_t *fw);

static const config_group_t *current_group(const forward_t *fw)
{
	const config_chain_t *chain = &fw->config->chains[fw->chain];
	return &fw->config->groups[chain->groups[fw->chain_pos]];
}

static size_t current_group_index(const forward_t *fw)
{
	return fw->config->chains[fw->chain].groups[fw->chain_pos];
}

static const config_group_t *slot_group(const attempt_slot_t *slot)
{
	const forward_t *fw = slot->fw;
	return &fw->config->groups[fw->config->chains[fw->chain].groups[slot->chain_pos]];
}

/* Health entries belong to the worker's current snapshot; a query that
 * started under an older one after a reload leaves health alone. */
static server_health_t *slot_health(const attempt_slot_t *slot)
{
	const forward_t *fw = slot->fw;
	if (fw->config != fw->worker->config)
		return NULL;
	size_t group = fw->config->chains[fw->chain].groups[slot->chain_pos];
	return worker_health(fw->worker, group, slot->server);
}

static bool has_attempts(const forward_t *fw)
{
	for (size_t i = 0; i < ER_MAX_ATTEMPTS; i++) {
		if (fw->slots[i].attempt)
			return true;
	}
	return false;
}

static void cancel_attempts(forward_t *fw)
{
	for (size_t i = 0; i < ER_MAX_ATTEMPTS; i++) {
		if (fw->slots[i].attempt) {
			attempt_cancel(fw->slots[i].attempt);
			fw->slots[i].attempt = NULL;
		}
	}
	fw->current = NULL;
}

static void bucket_remove(forward_t *fw)
{
	forward_t **link = &fw->worker->inflight_buckets[fw->hash & (ER_INFLIGHT_BUCKETS - 1)];
	while (*link && *link != fw)
		link = &(*link)->bucket_next;
	if (*link)
		*link = fw->bucket_next;
}

/* Takes fw's waiters for delivery and takes fw out of the coalescing table
 * first, so that nothing delivery triggers can join a forward that is
 * finishing (its waiter would never be answered). */
static waiter_t *take_waiters(forward_t *fw)
{
	if (fw->is_in_bucket) {
		bucket_remove(fw);
		fw->is_in_bucket = false;
	}
	waiter_t *list = fw->waiters;
	fw->waiters = NULL;
	fw->n_waiters = 0;
	return list;
}

/* Unlinks fw from the worker's lists and frees it; its waiters must have
 * been taken (answered or dropped) already. */
static void unlink_and_free(forward_t *fw)
{
	worker_t *w = fw->worker;
	if (fw->prev)
		fw->prev->next = fw->next;
	else
		w->inflight = fw->next;
	if (fw->next)
		fw->next->prev = fw->prev;
	w->n_inflight--;
	if (fw->is_in_bucket)
		bucket_remove(fw);
	config_unref(fw->config);
	free(fw);
}

static cache_key_t key_of(const forward_t *fw)
{
	return cache_key_from_query(&fw->q, fw->chain);
}

/* The chain failed: an expired answer within serve_stale_s beats SERVFAIL
 * (RFC 8767), marked with EDE 3; otherwise SERVFAIL with EDE 22 or 23. */
static void fail(forward_t *fw)
{
	worker_t *w = fw->worker;
	cancel_attempts(fw);
	if (fw->is_shared && fw->waiters) {
		cache_key_t key = key_of(fw);
		cache_copy_t copy = { .out = reply_buf, .cap = sizeof(reply_buf), .want_stale = true };
		if (cache_lookup(w->cache, &key, uv_now(&w->loop), &copy) != CACHE_MISS &&
		    copy.len > 0) {
			w->stats.stale_sent += fw->n_waiters;
			waiters_answer(w, take_waiters(fw), reply_buf, copy.len, EDE_STALE_ANSWER);
			unlink_and_free(fw);
			return;
		}
	}
	int ede = fw->saw_timeout		 ? EDE_NO_REACHABLE_AUTHORITY
		  : fw->saw_network_error ? EDE_NETWORK_ERROR
					 : ER_EDE_NONE;
	waiters_fail(w, take_waiters(fw), ede);
	unlink_and_free(fw);
}

static void relay(forward_t *fw, const uint8_t *resp, size_t len, bool is_fallback)
{
	worker_t *w = fw->worker;
	cancel_attempts(fw); /* resp belongs to the attempt that just answered */
	if (fw->is_shared) {
		cache_key_t key = key_of(fw);
		cache_insert_params_t ins = {
			.key = &key,
			.resp = resp,
			.resp_len = len,
			.is_fallback = is_fallback,
		};
		cache_insert(w->cache, &ins, uv_now(&w->loop)); /* "not cacheable" is fine */
	}
	waiters_answer(w, take_waiters(fw), resp, len, ER_EDE_NONE);
	unlink_and_free(fw);
}

static bool is_last_group(const forward_t *fw)
{
	return fw->chain_pos + 1 >= fw->config->chains[fw->chain].n_groups;
}

static void next_group(forward_t *fw)
{
	const config_chain_t *chain = &fw->config->chains[fw->chain];
	if (fw->chain_pos + 1 >= chain->n_groups) {
		fail(fw);
		return;
	}
	fw->chain_pos++;
	fw->rounds = 0;
	fw->worker->stats.failovers++;
	start_group(fw);
}

static void try_next_server(forward_t *fw);

static void log_server(const attempt_slot_t *slot, const char *fmt, unsigned n)
{
	const config_group_t *g = slot_group(slot);
	char addr[ER_SOCKADDR_TEXT_MAX];
	sockaddr_format((const struct sockaddr *)&g->servers[slot->server], addr, sizeof(addr));
	if (fmt[0] == 'm')
		log_warn("upstream %s (group %s) %s %u failures", addr, g->name, fmt, n);
	else
		log_info("upstream %s (group %s) %s", addr, g->name, fmt);
}

static void record_failure(attempt_slot_t *slot, bool timed_out)
{
	server_health_t *h = slot_health(slot);
	const config_group_t *g = slot_group(slot);
	if (h && health_on_failure(h, timed_out, g->max_fails, g->probe_interval_ms,
				   uv_now(&slot->fw->worker->loop))) {
		log_server(slot, "marked down after", h->consecutive_fails);
		slot->fw->worker->stats.servers_down++;
	}
}

static void record_success(attempt_slot_t *slot, uint32_t rtt_us)
{
	server_health_t *h = slot_health(slot);
	if (h && health_on_success(h, rtt_us)) {
		log_server(slot, "is answering again", 0);
		slot->fw->worker->stats.servers_up++;
	}
}

/* The current attempt's timeout passed: count it, and go on to the next
 * server while this one keeps listening. */
/* Whether this query already counted a timeout against slot's server: a
 * retransmission to the same server (the last group's next pass) must not
 * count twice, or one slow query could mark a server down on its own. */
static bool already_counted(const forward_t *fw, const attempt_slot_t *slot)
{
	for (size_t i = 0; i < ER_MAX_ATTEMPTS; i++) {
		const attempt_slot_t *o = &fw->slots[i];
		if (o != slot && o->attempt && o->is_slow && o->chain_pos == slot->chain_pos &&
		    o->server == slot->server)
			return true;
	}
	return false;
}

static void on_attempt_slow(void *owner)
{
	attempt_slot_t *slot = owner;
	forward_t *fw = slot->fw;
	fw->saw_timeout = true;
	if (!already_counted(fw, slot))
		record_failure(slot, true);
	slot->is_slow = true;
	if (fw->current == slot) {
		fw->current = NULL;
		try_next_server(fw);
	}
}

static void on_attempt_done(void *owner, int status, const uint8_t *resp, size_t len,
			    uint32_t rtt_us)
{
	attempt_slot_t *slot = owner;
	forward_t *fw = slot->fw;
	slot->attempt = NULL;
	bool was_current = fw->current == slot;
	if (was_current)
		fw->current = NULL;
	if (status == 0) {
		unsigned rcode = DNS_RCODE(wire_read_u16(resp + 2));
		if (rcode != DNS_RCODE_SERVFAIL && rcode != DNS_RCODE_REFUSED) {
			if (slot->is_slow)
				fw->worker->stats.late_answers++;
			record_success(slot, rtt_us);
			relay(fw, resp, len, slot->chain_pos > 0);
			return;
		}
		/* Another server of the group may well answer (SPEC 2.1). */
		fw->worker->stats.upstream_servfail++;
		record_failure(slot, false);
	} else if (!slot->is_slow) { /* a slow one was counted already */
		if (status == UV_ETIMEDOUT)
			fw->saw_timeout = true;
		else
			fw->saw_network_error = true;
		record_failure(slot, status == UV_ETIMEDOUT);
	}
	if (fw->current == NULL)
		try_next_server(fw);
}

/* SPEC 2.1 `ecs`: strip (default: client subnets never leave the branch),
 * pass the client's own option if it is well-formed, or announce a fixed
 * prefix (the HQ egress subnet). Returns the option length, 0 for none. */
static size_t ecs_option_for(const forward_t *fw, const config_group_t *g, uint8_t *out,
			     size_t cap)
{
	switch (g->ecs) {
	case ECS_PASS:
		if (!reply_ecs_is_valid(fw->q.ecs, fw->q.ecs_len) || fw->q.ecs_len > cap)
			return 0;
		memcpy(out, fw->q.ecs, fw->q.ecs_len);
		return fw->q.ecs_len;
	case ECS_PREFIX:
		return reply_build_ecs_option(g->ecs_prefix.family, g->ecs_prefix.addr,
					      g->ecs_prefix.prefix_len, out, cap);
	case ECS_STRIP:
	default:
		return 0;
	}
}

/* A free slot; when all are taken, the oldest slow attempt gives way. */
static attempt_slot_t *free_slot(forward_t *fw)
{
	for (size_t i = 0; i < ER_MAX_ATTEMPTS; i++) {
		if (fw->slots[i].attempt == NULL)
			return &fw->slots[i];
	}
	for (size_t i = 0; i < ER_MAX_ATTEMPTS; i++) {
		if (&fw->slots[i] != fw->current) {
			attempt_cancel(fw->slots[i].attempt);
			fw->slots[i].attempt = NULL;
			return &fw->slots[i];
		}
	}
	return NULL; /* not reached: at most one slot is current */
}

/* Nothing left to try: wait for slow attempts still listening, else fail. */
static void out_of_servers(forward_t *fw)
{
	if (!has_attempts(fw))
		fail(fw);
}

static void try_next_server(forward_t *fw)
{
	worker_t *w = fw->worker;
	uint64_t now = uv_now(&w->loop);
	if (now >= fw->deadline_ms) {
		fail(fw);
		return;
	}
	if (fw->order_i >= fw->order_n || now >= fw->group_deadline_ms) {
		if (is_last_group(fw) && fw->rounds < ER_LAST_GROUP_ROUNDS) {
			start_group(fw); /* another pass, with backed-off timeouts */
			return;
		}
		if (is_last_group(fw)) {
			out_of_servers(fw);
			return;
		}
		next_group(fw);
		return;
	}
	const config_group_t *g = current_group(fw);
	attempt_slot_t *slot = free_slot(fw);
	*slot = (attempt_slot_t){ .fw = fw, .chain_pos = fw->chain_pos,
				  .server = fw->order[fw->order_i++] };
	server_health_t *h = slot_health(slot);
	uint32_t timeout = g->timeout_ms;
	if (h) {
		timeout = rtt_timeout_ms(&h->rtt, g->timeout_ms);
		health_on_trial_started(h, now);
	}
	if (timeout > fw->group_deadline_ms - now)
		timeout = (uint32_t)(fw->group_deadline_ms - now);
	if (timeout == 0)
		timeout = 1;
	uint8_t ecs[32];
	size_t ecs_len = ecs_option_for(fw, g, ecs, sizeof(ecs));
	uint64_t left = fw->deadline_ms - now;
	attempt_params_t params = {
		.server = (const struct sockaddr *)&g->servers[slot->server],
		.query = &fw->q,
		.timeout_ms = timeout,
		.linger_ms = left > timeout ? (uint32_t)(left - timeout) : 0,
		.on_slow = on_attempt_slow,
		.tcp_only = g->tcp == TCP_MODE_ALWAYS,
		.option = ecs_len ? ecs : NULL,
		.option_len = ecs_len,
		.stats = &w->stats,
		.tcp_pool = w->tcp_pool,
		.udp_pool = w->udp_pool,
	};
	slot->attempt = attempt_start(&w->loop, &params, on_attempt_done, slot);
	if (slot->attempt == NULL) {
		fw->saw_network_error = true;
		record_failure(slot, false);
		try_next_server(fw); /* bounded: order_i advanced */
		return;
	}
	fw->current = slot;
}

/* Queries never wait on a server marked down: probes (probe.c) find out
 * when it is back. select_order still offers trial-due servers and, when
 * none is usable, every server; the last group keeps that fallback (trying
 * beats failing), earlier groups are skipped at once (SPEC 2.1). */
static void drop_down_servers(forward_t *fw, const server_health_t *health)
{
	size_t kept = 0;
	for (size_t i = 0; i < fw->order_n; i++) {
		if (!health[fw->order[i]].is_down)
			fw->order[kept++] = fw->order[i];
	}
	if (kept > 0 || !is_last_group(fw))
		fw->order_n = kept;
}

static void start_group(forward_t *fw)
{
	worker_t *w = fw->worker;
	const config_group_t *g = current_group(fw);
	uint64_t now = uv_now(&w->loop);
	fw->rounds++;
	fw->group_deadline_ms = is_last_group(fw) ? fw->deadline_ms : now + ER_GROUP_BUDGET_MS;
	if (fw->group_deadline_ms > fw->deadline_ms)
		fw->group_deadline_ms = fw->deadline_ms;

	server_health_t fresh[ER_GROUP_MAX_SERVERS];
	const server_health_t *health = NULL;
	uint32_t scratch_cursor = 0, *cursor = &scratch_cursor;
	size_t gi = current_group_index(fw);
	if (fw->config == w->config) {
		health = worker_health(w, gi, 0);
		cursor = &w->upstreams.rr_cursor[gi];
	} else {
		for (size_t i = 0; i < g->n_servers; i++)
			health_init(&fresh[i]);
		health = fresh;
	}
	fw->order_n = select_order(g->select, health, g->n_servers, cursor, random_u32(), now,
				   fw->order);
	fw->order_i = 0;
	drop_down_servers(fw, health);
	try_next_server(fw);
}

/* FNV-1a over the case-folded question and the route: which forwards may
 * share one upstream query (equality is checked in full afterwards). */
static uint32_t question_hash(const dns_query_t *q, uint32_t chain)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < q->qname_len; i++) {
		uint8_t c = q->qname[i];
		h = (h ^ (uint8_t)(c >= 'A' && c <= 'Z' ? c + 32 : c)) * 16777619u;
	}
	uint32_t rest[] = { q->qtype, q->qclass, chain, q->edns_do, (q->flags & DNS_FLAG_CD) != 0 };
	for (size_t i = 0; i < sizeof(rest) / sizeof(rest[0]); i++)
		h = (h ^ rest[i]) * 16777619u;
	return h;
}

static bool same_question(const forward_t *fw, const dns_query_t *q, uint32_t chain)
{
	return fw->chain == chain && fw->q.qtype == q->qtype && fw->q.qclass == q->qclass &&
	       fw->q.edns_do == q->edns_do &&
	       (fw->q.flags & DNS_FLAG_CD) == (q->flags & DNS_FLAG_CD) &&
	       dname_equal(fw->q.qname, q->qname);
}

/* An identical question on the same route already asked upstream, under
 * the current snapshot, with room for one more waiter. */
static forward_t *find_inflight(worker_t *w, const dns_query_t *q, uint32_t chain,
				uint32_t hash)
{
	for (forward_t *fw = w->inflight_buckets[hash & (ER_INFLIGHT_BUCKETS - 1)]; fw;
	     fw = fw->bucket_next) {
		if (fw->hash == hash && fw->config == w->config &&
		    fw->n_waiters < ER_MAX_WAITERS && same_question(fw, q, chain))
			return fw;
	}
	return NULL;
}

bool forward_is_shareable(const worker_t *w, const dns_query_t *q, uint32_t chain)
{
	const config_chain_t *c = &w->config->chains[chain];
	return !(q->ecs && w->config->groups[c->groups[0]].ecs == ECS_PASS);
}

static bool join_inflight(worker_t *w, const client_t *client, const uint8_t *pkt, size_t len,
			  const dns_query_t *q, uint32_t chain, uint32_t hash)
{
	forward_t *fw = find_inflight(w, q, chain, hash);
	if (fw == NULL)
		return false;
	if (client) {
		waiter_t *wt = waiter_new(client, pkt, len, q);
		if (wt == NULL)
			return true; /* dropped: out of memory */
		waiter_set_next(wt, fw->waiters);
		fw->waiters = wt;
		fw->n_waiters++;
		w->stats.coalesced++;
	}
	return true; /* a prefetch of a question in flight is already done */
}

static forward_t *forward_new(worker_t *w, const uint8_t *pkt, size_t len, const dns_query_t *q,
			      uint32_t chain)
{
	forward_t *fw = malloc(sizeof(*fw) + len);
	if (fw == NULL)
		return NULL;
	memset(fw, 0, sizeof(*fw));
	memcpy(fw->pkt, pkt, len);
	fw->pkt_len = len;
	fw->q = *q;
	fw->q.qname = fw->pkt + (q->qname - pkt); /* q points into pkt: rebase */
	fw->q.ecs = q->ecs ? fw->pkt + (q->ecs - pkt) : NULL;
	fw->worker = w;
	fw->config = config_ref(w->config);
	fw->chain = chain;
	fw->deadline_ms = uv_now(&w->loop) + w->config->query_timeout_ms;
	return fw;
}

static void track(worker_t *w, forward_t *fw)
{
	fw->next = w->inflight;
	if (w->inflight)
		w->inflight->prev = fw;
	w->inflight = fw;
	w->n_inflight++;
	if (fw->is_shared) {
		forward_t **bucket = &w->inflight_buckets[fw->hash & (ER_INFLIGHT_BUCKETS - 1)];
		fw->bucket_next = *bucket;
		*bucket = fw;
		fw->is_in_bucket = true;
	}
}

void forward_start(worker_t *w, const client_t *client, const uint8_t *pkt, size_t len,
		   const dns_query_t *q, uint32_t chain)
{
	bool shared = forward_is_shareable(w, q, chain);
	uint32_t hash = shared ? question_hash(q, chain) : 0;
	if (shared && join_inflight(w, client, pkt, len, q, chain, hash))
		return;
	if (w->n_inflight >= ER_MAX_INFLIGHT) {
		w->stats.overload_dropped++;
		return;
	}
	forward_t *fw = forward_new(w, pkt, len, q, chain);
	waiter_t *wt = client ? waiter_new(client, pkt, len, q) : NULL;
	if (fw == NULL || (client && wt == NULL)) {
		w->stats.overload_dropped++;
		if (fw)
			config_unref(fw->config);
		free(fw);
		waiters_drop(wt);
		return;
	}
	fw->waiters = wt;
	fw->n_waiters = wt ? 1 : 0;
	fw->is_shared = shared;
	fw->hash = hash;
	track(w, fw);
	w->stats.forwarded++;
	if (client == NULL)
		w->stats.prefetches++;
	start_group(fw);
}

void forward_cancel_all(worker_t *w)
{
	while (w->inflight) {
		forward_t *fw = w->inflight;
		cancel_attempts(fw);
		waiters_drop(take_waiters(fw));
		unlink_and_free(fw);
	}
}
