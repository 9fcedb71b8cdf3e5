/*
 * Forwarding one client query along its route chain (SPEC 2.1, 2.2, 3).
 *
 * A forward_t walks the chain's groups in order; within a group it tries the
 * servers in the order select_order gives, one attempt at a time, each with
 * the RTT-derived timeout capped by the time left. Budgets: a group that is
 * not the last of its chain gets ER_GROUP_BUDGET_MS, so a silent first group
 * hands over to the next one within 1 s of the query's arrival (beating the
 * Windows client's own 1 s retry); the last group gets whatever is left of
 * query_timeout_ms, in at most ER_LAST_GROUP_ROUNDS passes. A server known
 * down (by any worker: upstream/health_table.h) is skipped at once.
 *
 * What each attempt's result does is SPEC 2.1's table (upstream/outcome.h):
 * a timeout or network error moves on and counts against the server; an
 * error rcode moves on, never counts against it, and that server is not
 * asked again by this query; any other answer is relayed. An attempt whose
 * timeout passes keeps listening while the next server is tried (up to
 * ER_MAX_ATTEMPTS at once); the first valid answer wins. Attempts per query
 * are therefore bounded by: each server of each non-last group once, and
 * ER_LAST_GROUP_ROUNDS passes over the last group, all within
 * query_timeout_ms.
 *
 * A chain that fails is answered from a stale entry (RFC 8767, EDE 3), else
 * SERVFAIL (EDE 22 or 23), and the failure is cached for the chain for
 * ER_CACHE_SERVFAIL_TTL_S (RFC 9520) so repeats stay off the upstreams.
 *
 * Identical questions on the same route share one forward_t (waiter.c
 * answers each client in its own terms). The answer is relayed whole
 * (CNAME chains included); from a later group than the first, every TTL is
 * lowered to fallback_ttl_s first, for the client and the cache alike
 * (SPEC 2.2). A forward keeps the snapshot it started under: its chain
 * index and cache key belong to that snapshot's route epoch.
 *
 * For a name an m365 route decided, every answer from the chain's first
 * group is judged by the ExpressRoute audit (server/audit.c) before the
 * table is consulted; under `audit: fallback` an outside answer is the
 * table's `outside` row and moves the query to the next group, within the
 * same budgets as any failover. The verdict is cached with the answer, so
 * cache hits report it without judging again.
 *
 * forward_t owns no libuv handle (the outbound layer owns its own), so it
 * can be freed the moment it finishes or is cancelled.
 */
#include "server/forward.h"

#include <stdlib.h>
#include <string.h>

#include "dns/dname.h"
#include "dns/reply.h"
#include "server/audit.h"
#include "server/waiter.h"
#include "upstream/outcome.h"
#include "upstream/select.h"
#include "util/log.h"
#include "util/sockaddr.h"

_Static_assert(ER_GROUP_MAX_SERVERS <= 32, "a query's excluded servers are a uint32_t mask");

typedef struct forward forward_t;

typedef struct attempt_slot {
	forward_t *fw;
	void *attempt; /* NULL: free */
	size_t chain_pos, server; /* which group of the chain, which server in it */
	bool is_slow; /* its timeout passed; already counted as a failure */
	uint32_t seq; /* start order within the query: the oldest gives way first */
} attempt_slot_t;

struct forwarder {
	forward_env_t env;
	config_t *config; /* the snapshot new queries use (one reference) */
	uint32_t *rr_cursor; /* round-robin position per group of config */
	forward_t *inflight; /* intrusive list */
	size_t n_inflight;
	forward_t *buckets[ER_INFLIGHT_BUCKETS]; /* by question, for coalescing */
};

struct forward {
	forwarder_t *owner;
	forward_t *prev, *next;
	forward_t *bucket_next; /* coalescing table chain */
	config_t *config; /* the snapshot this query started with (one reference) */
	waiter_t *waiters; /* clients to answer; none for a prefetch */
	unsigned n_waiters;
	uint32_t hash; /* of the question and route: coalescing key */
	bool is_shared; /* coalesced and cached (no client subnet passed on) */
	bool is_in_bucket; /* joinable: in the coalescing table */
	bool saw_timeout, saw_network_error;
	dns_query_t q; /* what is asked upstream; points into pkt */
	uint32_t chain;
	const config_m365_t *audit; /* the m365 route that decided it (of config), or NULL */
	size_t chain_pos;
	uint32_t excluded; /* servers of the current group not to ask again */
	uint8_t order[ER_GROUP_MAX_SERVERS];
	size_t order_n, order_i;
	unsigned rounds; /* passes over the current group */
	uint32_t n_started; /* attempts started so far: the next slot's seq */
	attempt_slot_t slots[ER_MAX_ATTEMPTS]; /* the current attempt and slow ones */
	attempt_slot_t *current; /* the attempt the walk waits on, or NULL */
	uint64_t deadline_ms, group_deadline_ms;
	size_t pkt_len;
	uint8_t pkt[];
};

static _Thread_local uint8_t reply_buf[ER_REPLY_MAX];

static void start_group(forward_t *fw);
static void try_next_server(forward_t *fw);

static uint64_t now_ms(const forwarder_t *f)
{
	return f->env.out.now_ms(f->env.out.ctx);
}

static metrics_t *stats_of(const forward_t *fw)
{
	return fw->owner->env.sink.stats;
}

static size_t group_index(const forward_t *fw, size_t chain_pos)
{
	return fw->config->chains[fw->chain].groups[chain_pos];
}

static const config_group_t *group_at(const forward_t *fw, size_t chain_pos)
{
	return &fw->config->groups[group_index(fw, chain_pos)];
}

static uint16_t slot_health_id(const attempt_slot_t *slot)
{
	return group_at(slot->fw, slot->chain_pos)->health_ids[slot->server];
}

static bool is_last_group(const forward_t *fw)
{
	return fw->chain_pos + 1 >= fw->config->chains[fw->chain].n_groups;
}

static bool has_attempts(const forward_t *fw)
{
	for (size_t i = 0; i < ER_MAX_ATTEMPTS; i++) {
		if (fw->slots[i].attempt)
			return true;
	}
	return false;
}

static void cancel_slot(forward_t *fw, attempt_slot_t *slot)
{
	const outbound_t *out = &fw->owner->env.out;
	out->cancel(out->ctx, slot->attempt);
	slot->attempt = NULL;
}

static void cancel_attempts(forward_t *fw)
{
	for (size_t i = 0; i < ER_MAX_ATTEMPTS; i++) {
		if (fw->slots[i].attempt)
			cancel_slot(fw, &fw->slots[i]);
	}
	fw->current = NULL;
}

/* --- the in-flight table ------------------------------------------------- */

static void bucket_remove(forward_t *fw)
{
	forward_t **link = &fw->owner->buckets[fw->hash & (ER_INFLIGHT_BUCKETS - 1)];
	while (*link && *link != fw)
		link = &(*link)->bucket_next;
	if (*link)
		*link = fw->bucket_next;
	fw->is_in_bucket = false;
}

/* Takes fw's waiters for delivery and takes fw out of the coalescing table
 * first, so that nothing delivery triggers can join a forward that is
 * finishing (its waiter would never be answered). */
static waiter_t *take_waiters(forward_t *fw)
{
	if (fw->is_in_bucket)
		bucket_remove(fw);
	waiter_t *list = fw->waiters;
	fw->waiters = NULL;
	fw->n_waiters = 0;
	return list;
}

/* Unlinks fw and frees it; its waiters must have been taken already. */
static void unlink_and_free(forward_t *fw)
{
	forwarder_t *f = fw->owner;
	if (fw->prev)
		fw->prev->next = fw->next;
	else
		f->inflight = fw->next;
	if (fw->next)
		fw->next->prev = fw->prev;
	f->n_inflight--;
	metrics_set(&f->env.sink.stats->inflight, f->n_inflight);
	if (fw->is_in_bucket)
		bucket_remove(fw);
	config_unref(fw->config);
	free(fw);
}

static cache_key_t key_of(const forward_t *fw)
{
	return cache_key_from_query(&fw->q, fw->chain, fw->config->route_epoch);
}

/* --- endings ------------------------------------------------------------- */

/* er: the answer's er_word_t; for a question off the m365 routes, n/a. */
static answer_info_t info_of(const forward_t *fw, int upstream, bool is_fallback,
			     cache_result_kind_t cache, er_word_t er)
{
	return (answer_info_t){ .config = fw->config, .chain = fw->chain, .upstream = upstream,
				.is_fallback = is_fallback, .cache = cache,
				.er = (uint8_t)(fw->audit ? er : ER_WORD_NA) };
}

/* RFC 9520: the chain failed; remember it for this question so that the
 * clients' retries do not reach the upstreams again at once. A stale entry
 * still servable is kept (cache_insert refuses to replace it). */
static void cache_failure(forward_t *fw)
{
	size_t len = reply_build_error(&fw->q, DNS_RCODE_SERVFAIL, ER_EDE_NONE, reply_buf,
				       sizeof(reply_buf));
	if (len == 0)
		return;
	cache_key_t key = key_of(fw);
	cache_insert_params_t ins = { .key = &key, .resp = reply_buf, .resp_len = len };
	(void)cache_insert(fw->owner->env.cache, &ins, now_ms(fw->owner));
}

/* The chain failed: an expired answer within serve_stale_s beats SERVFAIL
 * (RFC 8767), marked with EDE 3; otherwise SERVFAIL with EDE 22 or 23. A
 * fresh entry can be there too, stored meanwhile by another forward of the
 * same question (one started before a reload, or past ER_MAX_WAITERS): a
 * good answer is served as it is, a cached SERVFAIL is no answer. */
static bool answer_from_cache(forward_t *fw)
{
	forwarder_t *f = fw->owner;
	cache_key_t key = key_of(fw);
	cache_copy_t copy = { .out = reply_buf, .cap = sizeof(reply_buf), .want_stale = true };
	cache_result_t r = cache_lookup(f->env.cache, &key, now_ms(f), &copy);
	if (r == CACHE_MISS || copy.len == 0 ||
	    DNS_RCODE(wire_read_u16(reply_buf + 2)) == DNS_RCODE_SERVFAIL)
		return false;
	if (r == CACHE_STALE)
		metrics_add(&stats_of(fw)->stale_sent, fw->n_waiters);
	answer_info_t info =
		info_of(fw, -1, false, r == CACHE_STALE ? ER_CACHE_STALE : ER_CACHE_HIT,
			er_word_of(copy.is_fallback, copy.er_verdict));
	waiters_answer(&f->env.sink, take_waiters(fw), reply_buf, copy.len,
		       r == CACHE_STALE ? EDE_STALE_ANSWER : ER_EDE_NONE, &info);
	return true;
}

static void fail(forward_t *fw)
{
	forwarder_t *f = fw->owner;
	cancel_attempts(fw);
	if (fw->is_shared && fw->waiters && answer_from_cache(fw)) {
		unlink_and_free(fw);
		return;
	}
	if (fw->is_shared)
		cache_failure(fw);
	int ede = fw->saw_timeout	  ? EDE_NO_REACHABLE_AUTHORITY
		  : fw->saw_network_error ? EDE_NETWORK_ERROR
					  : ER_EDE_NONE;
	answer_info_t info = info_of(fw, -1, false, ER_CACHE_MISS, ER_WORD_UNKNOWN);
	waiters_fail(&f->env.sink, take_waiters(fw), ede, &info);
	unlink_and_free(fw);
}

/* Where a relayed answer came from. */
typedef struct relayed {
	int upstream; /* health id of the server */
	bool is_fallback; /* a later group than the chain's first */
	er_verdict_t verdict; /* the ExpressRoute audit's */
} relayed_t;

/* resp belongs to the attempt that just answered; an answer from a later
 * group is copied and its TTLs lowered to fallback_ttl_s (SPEC 2.2). */
static void relay(forward_t *fw, const uint8_t *resp, size_t len, const relayed_t *from)
{
	forwarder_t *f = fw->owner;
	bool is_fallback = from->is_fallback;
	metrics_add(&stats_of(fw)->chain_answers[metrics_chain_index(fw->chain)][is_fallback], 1);
	if (is_fallback && len <= sizeof(reply_buf)) {
		memcpy(reply_buf, resp, len);
		if (reply_cap_ttls(reply_buf, len, fw->config->cache.fallback_ttl_s) == 0)
			resp = reply_buf;
	}
	if (fw->is_shared) {
		cache_key_t key = key_of(fw);
		cache_insert_params_t ins = {
			.key = &key,
			.resp = resp,
			.resp_len = len,
			.is_fallback = is_fallback,
			.er_verdict = (uint8_t)from->verdict,
		};
		(void)cache_insert(f->env.cache, &ins, now_ms(f)); /* "not cacheable" is fine */
	}
	cancel_attempts(fw); /* not the one that answered: resp stays valid */
	answer_info_t info = info_of(fw, from->upstream, is_fallback, ER_CACHE_MISS,
				     er_word_of(is_fallback, from->verdict));
	waiters_answer(&f->env.sink, take_waiters(fw), resp, len, ER_EDE_NONE, &info);
	unlink_and_free(fw);
}

static void next_group(forward_t *fw)
{
	if (is_last_group(fw)) {
		fail(fw);
		return;
	}
	metrics_add(&stats_of(fw)->chain_failovers[metrics_chain_index(fw->chain)][fw->chain_pos], 1);
	fw->chain_pos++;
	fw->rounds = 0;
	fw->excluded = 0;
	metrics_add(&stats_of(fw)->failovers, 1);
	start_group(fw);
}

/* --- health -------------------------------------------------------------- */

static void log_transition(const forward_t *fw, uint16_t id, const char *what)
{
	char addr[ER_SOCKADDR_TEXT_MAX];
	sockaddr_format(health_table_addr(fw->owner->env.health, id), addr, sizeof(addr));
	log_info("upstream %s %s", addr, what);
}

static void record_failure(attempt_slot_t *slot, bool timed_out)
{
	forward_t *fw = slot->fw;
	forwarder_t *f = fw->owner;
	uint16_t id = slot_health_id(slot);
	if (health_table_on_failure(f->env.health, f->env.view, id, timed_out, now_ms(f))) {
		char addr[ER_SOCKADDR_TEXT_MAX];
		sockaddr_format(health_table_addr(f->env.health, id), addr, sizeof(addr));
		log_warn("upstream %s marked down after %u failures in a row", addr,
			 group_at(fw, slot->chain_pos)->max_fails);
		metrics_add(&stats_of(fw)->servers_down, 1);
		metrics_add(&stats_of(fw)->upstream[id].marked_down, 1);
	}
}

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

/* The health column of the outcome table. A timeout counts once per server
 * per query: a slow slot was counted when its timeout passed, and a
 * retransmission to a server already counted adds nothing. */
/* The per-address counters of an attempt's result (SPEC 4). */
static void count_outcome(forward_t *fw, uint16_t id, outcome_t outcome, const uint8_t *resp,
			  uint32_t rtt_us)
{
	metrics_t *m = stats_of(fw);
	static const uint8_t uperr[16] = {
		[DNS_RCODE_SERVFAIL] = ER_UPERR_SERVFAIL + 1, [DNS_RCODE_REFUSED] = ER_UPERR_REFUSED + 1,
		[DNS_RCODE_FORMERR] = ER_UPERR_FORMERR + 1, [DNS_RCODE_NOTIMP] = ER_UPERR_NOTIMP + 1,
	};
	switch (outcome) {
	case OUTCOME_ANSWER:
		metrics_upstream_rtt(m, id, rtt_us);
		break;
	case OUTCOME_ERROR_RCODE: {
		unsigned e = uperr[DNS_RCODE(wire_read_u16(resp + 2))];
		if (e > 0)
			metrics_add(&m->upstream[id].errors[e - 1], 1);
		break;
	}
	default:
		break;
	}
}

static void apply_health(attempt_slot_t *slot, outcome_t outcome, uint32_t rtt_us)
{
	forward_t *fw = slot->fw;
	forwarder_t *f = fw->owner;
	uint16_t id = slot_health_id(slot);
	bool marked_up = false;
	switch (outcome_rule(outcome)->health) {
	case HEALTH_FAILURE:
		if (!slot->is_slow && !already_counted(fw, slot))
			record_failure(slot, outcome == OUTCOME_TIMEOUT);
		return;
	case HEALTH_ALIVE:
		marked_up = health_table_on_alive(f->env.health, id);
		break;
	case HEALTH_ALIVE_RTT:
		marked_up = health_table_on_success(f->env.health, f->env.view, id, rtt_us);
		break;
	}
	if (marked_up) {
		log_transition(fw, id, "is answering again: marked up");
		metrics_add(&stats_of(fw)->servers_up, 1);
		metrics_add(&stats_of(fw)->upstream[id].marked_up, 1);
	}
}

/* --- attempts ------------------------------------------------------------ */

/* The current attempt's timeout passed: count it, and go on to the next
 * server while this one keeps listening. */
static void on_attempt_slow(void *owner)
{
	attempt_slot_t *slot = owner;
	forward_t *fw = slot->fw;
	fw->saw_timeout = true;
	metrics_add(&stats_of(fw)->upstream[slot_health_id(slot)].timeouts, 1);
	if (!already_counted(fw, slot))
		record_failure(slot, true);
	slot->is_slow = true;
	if (fw->current == slot) {
		fw->current = NULL;
		try_next_server(fw);
	}
}

/* The ExpressRoute audit of an answer from the chain's first group (SPEC
 * 2.2): its verdict, and under `audit: fallback` an outside answer becomes
 * the outcome table's `outside` row. */
static er_verdict_t audit_of(forward_t *fw, const attempt_slot_t *slot, const uint8_t *resp,
			     size_t len, outcome_t *outcome)
{
	if (fw->audit == NULL || slot->chain_pos != 0 || *outcome != OUTCOME_ANSWER)
		return ER_VERDICT_UNJUDGED;
	audit_answer_t a = {
		.route = fw->audit,
		.q = &fw->q,
		.resp = resp,
		.len = len,
		.upstream = (const struct sockaddr *)&group_at(fw, 0)->servers[slot->server],
		.stats = stats_of(fw),
		.now_ms = now_ms(fw->owner),
	};
	er_verdict_t v = audit_answer(&a);
	*outcome = outcome_audit(*outcome, v, fw->audit->audit);
	return v;
}

static void on_attempt_done(void *owner, int status, const uint8_t *resp, size_t len,
			    uint32_t rtt_us)
{
	attempt_slot_t *slot = owner;
	forward_t *fw = slot->fw;
	slot->attempt = NULL;
	if (fw->current == slot)
		fw->current = NULL;
	outcome_t outcome = outcome_classify(status, resp, len);
	er_verdict_t verdict = audit_of(fw, slot, resp, len, &outcome);
	if (outcome == OUTCOME_TIMEOUT && !slot->is_slow) /* a slow one was counted */
		metrics_add(&stats_of(fw)->upstream[slot_health_id(slot)].timeouts, 1);
	count_outcome(fw, slot_health_id(slot), outcome, resp, rtt_us);
	apply_health(slot, outcome, rtt_us);
	switch (outcome_rule(outcome)->query) {
	case QUERY_RELAY:
		if (slot->is_slow)
			metrics_add(&stats_of(fw)->late_answers, 1);
		relay(fw, resp, len,
		      &(relayed_t){ .upstream = slot_health_id(slot),
				    .is_fallback = slot->chain_pos > 0,
				    .verdict = verdict });
		return;
	case QUERY_NEXT_GROUP:
		/* A late answer from a group the walk has left changes nothing:
		 * the group it is asking now stands. */
		if (slot->chain_pos == fw->chain_pos && !is_last_group(fw)) {
			fw->current = NULL; /* this group's other attempts may linger */
			next_group(fw);
			return;
		}
		break;
	case QUERY_NEXT_SERVER_ONCE:
		metrics_add(&stats_of(fw)->upstream_servfail, 1);
		if (slot->chain_pos == fw->chain_pos)
			fw->excluded |= 1u << slot->server;
		break;
	case QUERY_NEXT_SERVER:
		if (outcome == OUTCOME_TIMEOUT)
			fw->saw_timeout = true;
		else
			fw->saw_network_error = true;
		break;
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
	attempt_slot_t *oldest = NULL;
	for (size_t i = 0; i < ER_MAX_ATTEMPTS; i++) {
		attempt_slot_t *s = &fw->slots[i];
		if (s->attempt == NULL)
			return s;
		if (s != fw->current && (oldest == NULL || s->seq < oldest->seq))
			oldest = s;
	}
	cancel_slot(fw, oldest); /* at most one slot is current: never NULL */
	return oldest;
}

/* Whether the last group deserves another pass: time is left, passes are
 * left, and some server of it may still be asked. */
static bool may_pass_again(const forward_t *fw)
{
	const config_group_t *g = group_at(fw, fw->chain_pos);
	uint32_t all = g->n_servers >= 32 ? UINT32_MAX : (1u << g->n_servers) - 1;
	return fw->rounds < ER_LAST_GROUP_ROUNDS && (fw->excluded & all) != all;
}

static void start_attempt(forward_t *fw, attempt_slot_t *slot, uint64_t now)
{
	forwarder_t *f = fw->owner;
	const config_group_t *g = group_at(fw, fw->chain_pos);
	uint16_t id = g->health_ids[slot->server];
	uint32_t timeout = rtt_timeout_ms(health_view_rtt(f->env.view, id), g->timeout_ms);
	if (health_table_is_down(f->env.health, id))
		health_table_on_trial(f->env.health, id, now);
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
	};
	slot->attempt = f->env.out.start(f->env.out.ctx, &params, on_attempt_done, slot);
	if (slot->attempt)
		metrics_add(&f->env.sink.stats->upstream[id].queries, 1);
}

static void try_next_server(forward_t *fw)
{
	uint64_t now = now_ms(fw->owner);
	while (now < fw->deadline_ms && fw->order_i < fw->order_n &&
	       now < fw->group_deadline_ms) {
		attempt_slot_t *slot = free_slot(fw);
		*slot = (attempt_slot_t){ .fw = fw, .chain_pos = fw->chain_pos,
					  .server = fw->order[fw->order_i++], .seq = fw->n_started++ };
		start_attempt(fw, slot, now);
		if (slot->attempt) {
			fw->current = slot;
			return;
		}
		/* Not even sent (no socket, no memory): this machine's trouble,
		 * not the server's, so not counted against it; with descriptors
		 * exhausted that would mark every server down at once. */
		fw->saw_network_error = true;
	}
	if (now >= fw->deadline_ms)
		fail(fw);
	else if (!is_last_group(fw))
		next_group(fw);
	else if (now < fw->group_deadline_ms && may_pass_again(fw))
		start_group(fw); /* another pass, with backed-off timeouts */
	else if (!has_attempts(fw)) /* else: slow attempts may still answer */
		fail(fw);
}

/* Queries never wait on a server marked down: the prober (probe.c) finds
 * out when it is back. The last group keeps its down servers when nothing
 * else is left (trying beats failing); earlier groups skip them at once
 * (SPEC 2.1). Servers that answered this query with an error rcode are not
 * asked again. */
static void filter_order(forward_t *fw, const server_health_t *health)
{
	size_t kept = 0, up = 0;
	for (size_t i = 0; i < fw->order_n; i++) {
		uint8_t s = fw->order[i];
		if (!(fw->excluded & (1u << s)) && !health[s].is_down)
			up++;
	}
	bool keep_down = up == 0 && is_last_group(fw);
	for (size_t i = 0; i < fw->order_n; i++) {
		uint8_t s = fw->order[i];
		if (!(fw->excluded & (1u << s)) && (keep_down || !health[s].is_down))
			fw->order[kept++] = s;
	}
	fw->order_n = kept;
}

static void start_group(forward_t *fw)
{
	forwarder_t *f = fw->owner;
	const config_group_t *g = group_at(fw, fw->chain_pos);
	uint64_t now = now_ms(f);
	fw->rounds++;
	fw->group_deadline_ms = is_last_group(fw) ? fw->deadline_ms : now + ER_GROUP_BUDGET_MS;
	if (fw->group_deadline_ms > fw->deadline_ms)
		fw->group_deadline_ms = fw->deadline_ms;

	server_health_t health[ER_GROUP_MAX_SERVERS];
	health_view_fill(f->env.view, g->health_ids, g->n_servers, health);
	uint32_t scratch_cursor = 0, *cursor = &scratch_cursor;
	if (fw->config == f->config)
		cursor = &f->rr_cursor[group_index(fw, fw->chain_pos)];
	fw->order_n = select_order(g->select, health, g->n_servers, cursor, f->env.random(),
				   now, fw->order);
	fw->order_i = 0;
	filter_order(fw, health);
	try_next_server(fw);
}

/* --- coalescing ---------------------------------------------------------- */

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

/* A question as the in-flight table knows it. Two questions share one
 * upstream query only when the same m365 route (or none) audits both: the
 * verdict, and under `audit: fallback` the answer itself, depend on it. */
typedef struct question {
	const dns_query_t *q;
	uint32_t chain;
	const config_m365_t *audit;
	uint32_t hash; /* question_hash, 0 when not shared */
} question_t;

static bool same_question(const forward_t *fw, const question_t *k)
{
	const dns_query_t *q = k->q;
	return fw->chain == k->chain && fw->audit == k->audit && fw->q.qtype == q->qtype &&
	       fw->q.qclass == q->qclass &&
	       fw->q.edns_do == q->edns_do &&
	       (fw->q.flags & DNS_FLAG_CD) == (q->flags & DNS_FLAG_CD) &&
	       dname_equal(fw->q.qname, q->qname);
}

/* An identical question on the same route, started under the current
 * snapshot (never one from before a reload), with room for a waiter. */
static forward_t *find_inflight(forwarder_t *f, const question_t *k)
{
	for (forward_t *fw = f->buckets[k->hash & (ER_INFLIGHT_BUCKETS - 1)]; fw;
	     fw = fw->bucket_next) {
		if (fw->hash == k->hash && fw->config == f->config &&
		    fw->n_waiters < ER_MAX_WAITERS && same_question(fw, k))
			return fw;
	}
	return NULL;
}

bool forward_is_shareable(const config_t *c, const dns_query_t *q, uint32_t chain)
{
	return q->ecs == NULL || !c->chains[chain].may_pass_ecs;
}

static bool join_inflight(forwarder_t *f, const client_t *client, const query_meta_t *meta,
			  const uint8_t *pkt, size_t len, const question_t *k)
{
	forward_t *fw = find_inflight(f, k);
	if (fw == NULL)
		return false;
	if (client) {
		waiter_t *wt = waiter_new(client, pkt, len, k->q, meta);
		if (wt == NULL)
			return true; /* dropped: out of memory */
		waiter_set_next(wt, fw->waiters);
		fw->waiters = wt;
		fw->n_waiters++;
		metrics_add(&f->env.sink.stats->coalesced, 1);
	}
	return true; /* a prefetch of a question in flight is already done */
}

static forward_t *forward_new(forwarder_t *f, const uint8_t *pkt, size_t len,
			      const question_t *k)
{
	const dns_query_t *q = k->q;
	forward_t *fw = malloc(sizeof(*fw) + len);
	if (fw == NULL)
		return NULL;
	memset(fw, 0, sizeof(*fw));
	memcpy(fw->pkt, pkt, len);
	fw->pkt_len = len;
	fw->q = *q;
	fw->q.qname = fw->pkt + (q->qname - pkt); /* q points into pkt: rebase */
	fw->q.ecs = q->ecs ? fw->pkt + (q->ecs - pkt) : NULL;
	fw->owner = f;
	fw->config = config_ref(f->config);
	fw->chain = k->chain;
	fw->audit = k->audit;
	fw->hash = k->hash;
	fw->deadline_ms = now_ms(f) + f->config->query_timeout_ms;
	return fw;
}

static void track(forwarder_t *f, forward_t *fw)
{
	fw->next = f->inflight;
	if (f->inflight)
		f->inflight->prev = fw;
	f->inflight = fw;
	f->n_inflight++;
	metrics_set(&f->env.sink.stats->inflight, f->n_inflight);
	if (fw->is_shared) {
		forward_t **bucket = &f->buckets[fw->hash & (ER_INFLIGHT_BUCKETS - 1)];
		fw->bucket_next = *bucket;
		*bucket = fw;
		fw->is_in_bucket = true;
	}
}

void forward_start(forwarder_t *f, const client_t *client, const query_meta_t *meta,
		   const uint8_t *pkt, size_t len, const dns_query_t *q, uint32_t chain)
{
	metrics_t *stats = f->env.sink.stats;
	bool shared = forward_is_shareable(f->config, q, chain);
	question_t k = { .q = q, .chain = chain,
			 .audit = config_m365_of(f->config, meta ? meta->rule : NULL),
			 .hash = shared ? question_hash(q, chain) : 0 };
	if (shared && join_inflight(f, client, meta, pkt, len, &k))
		return;
	if (f->n_inflight >= f->env.max_inflight) {
		metrics_add(&stats->overload_dropped, 1);
		return;
	}
	forward_t *fw = forward_new(f, pkt, len, &k);
	waiter_t *wt = client ? waiter_new(client, pkt, len, q, meta) : NULL;
	if (fw == NULL || (client && wt == NULL)) {
		metrics_add(&stats->overload_dropped, 1);
		if (fw)
			config_unref(fw->config);
		free(fw);
		waiters_drop(wt);
		return;
	}
	fw->waiters = wt;
	fw->n_waiters = wt ? 1 : 0;
	fw->is_shared = shared;
	track(f, fw);
	metrics_add(&stats->forwarded, 1);
	if (client == NULL)
		metrics_add(&stats->prefetches, 1);
	start_group(fw);
}

void forward_cancel_all(forwarder_t *f)
{
	while (f->inflight) {
		forward_t *fw = f->inflight;
		cancel_attempts(fw);
		waiters_drop(take_waiters(fw));
		unlink_and_free(fw);
	}
}

/* --- the forwarder ------------------------------------------------------- */

forwarder_t *forwarder_new(const forward_env_t *env, config_t *config)
{
	forwarder_t *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->env = *env;
	if (forwarder_set_config(f, config) < 0) {
		forwarder_free(f);
		return NULL;
	}
	return f;
}

void forwarder_free(forwarder_t *f)
{
	if (f == NULL)
		return;
	forward_cancel_all(f);
	free(f->rr_cursor);
	config_unref(f->config);
	free(f);
}

int forwarder_set_config(forwarder_t *f, config_t *config)
{
	uint32_t *cursor = calloc(config->n_groups ? config->n_groups : 1, sizeof(*cursor));
	if (cursor == NULL)
		return -1;
	free(f->rr_cursor);
	f->rr_cursor = cursor;
	config_unref(f->config);
	f->config = config_ref(config);
	return 0;
}

size_t forwarder_inflight(const forwarder_t *f)
{
	return f->n_inflight;
}

int forwarder_preferred_server(const forwarder_t *f, size_t gi, uint64_t now)
{
	const config_group_t *g = &f->config->groups[gi];
	server_health_t health[ER_GROUP_MAX_SERVERS];
	health_view_fill(f->env.view, g->health_ids, g->n_servers, health);
	uint8_t order[ER_GROUP_MAX_SERVERS];
	uint32_t cursor = f->rr_cursor[gi];
	/* UINT32_MAX: a random value that never explores, so the answer is the
	 * server the policy prefers, not a coin toss. */
	size_t n = select_order(g->select, health, g->n_servers, &cursor, UINT32_MAX, now, order);
	return n > 0 ? order[0] : -1;
}
