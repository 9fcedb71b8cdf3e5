/*
 * The per-query pipeline, top to bottom (STYLE: listener -> ACL -> client
 * rate limit -> CHAOS -> local zone -> route -> cache -> forwarder ->
 * reply). Everything up to the route is answered synchronously from a
 * thread-local buffer; only forwarding allocates (the forward_t that
 * outlives this call).
 *
 * Every reply produces one query event (client.h): the answers family of
 * the metrics and the query log both read it, so they cannot disagree.
 * Answers from upstreams produce theirs when the forwarder delivers them
 * (query_record, the worker's reply sink).
 */
#include "server/query.h"

#include <stdio.h>
#include <string.h>

#include "config/describe.h"
#include "dns/chaos.h"
#include "dns/reply.h"
#include "ops/querylog.h"
#include "server/audit.h"
#include "server/forward.h"
#include "server/ratelimit.h"
#include "server/tcp_listener.h"
#include "server/udp_listener.h"
#include "util/sockaddr.h"

/* One query on its way through the pipeline. */
typedef struct pipeline {
	worker_t *w;
	const config_t *c; /* the worker's snapshot, for the whole query */
	metrics_t *m;
	const client_t *client;
	const dns_query_t *q;
	query_meta_t meta;
	er_word_t er; /* of a cached answer on an m365 route; n/a otherwise */
} pipeline_t;

static _Thread_local uint8_t out_buf[ER_REPLY_MAX];

void query_reply(void *worker, const client_t *client, const uint8_t *msg, size_t len)
{
	(void)worker;
	if (client == NULL) /* a prefetch: nobody to answer */
		return;
	if (client->conn)
		tcp_conn_send(client->conn, msg, len);
	else
		udp_listener_send(client->udp, (const struct sockaddr *)&client->addr, msg, len);
}

void query_record(void *worker, const query_event_t *ev)
{
	metrics_t *m = worker_stats(worker);
	unsigned route = metrics_route_index(ev->meta->route_slot);
	metrics_add(&m->answers[route][metrics_rcode_index(ev->rcode)][ev->cache], 1);
	/* received_ns is set only while log.queries is on (query_receive): this
	 * is the one branch a query pays for the query log when it is off. */
	if (ev->meta->received_ns != 0)
		querylog_submit(worker_querylog(worker), worker_index(worker), ev, uv_hrtime(), m);
}

/* Sends msg and records it with rcode: answered by erdns itself unless
 * the cache answered (chain is then the route's). */
static void reply_rcode(const pipeline_t *p, const uint8_t *msg, size_t len,
			cache_result_kind_t cache, uint32_t chain, unsigned rcode)
{
	query_reply(p->w, p->client, msg, len);
	query_event_t ev = {
		.client = p->client,
		.q = p->q,
		.config = p->c,
		.meta = &p->meta,
		.chain = chain,
		.is_routed = cache == ER_CACHE_HIT,
		.upstream = -1,
		.rcode = rcode,
		.cache = cache,
		.er = (uint8_t)p->er,
	};
	query_record(p->w, &ev);
}

static void reply(const pipeline_t *p, const uint8_t *msg, size_t len, cache_result_kind_t cache,
		  uint32_t chain)
{
	reply_rcode(p, msg, len, cache, chain, DNS_RCODE(wire_read_u16(msg + 2)));
}

/* rcode as sent: BADVERS's upper bits are in the OPT record (RFC 6891
 * 6.1.3), its header says NOERROR. */
static void reply_error_ede(pipeline_t *p, int rcode, int ede)
{
	size_t len = reply_build_error(p->q, rcode, ede, out_buf, sizeof(out_buf));
	if (len > 0)
		reply_rcode(p, out_buf, len, ER_CACHE_LOCAL, 0, (unsigned)rcode);
}

static void reply_error(pipeline_t *p, int rcode)
{
	reply_error_ede(p, rcode, ER_EDE_NONE);
}

/* RFC 8945 5.2.1: erdns holds no TSIG key, so a signed query gets NOTAUTH
 * and BADKEY, never an unsigned answer the client might accept. Forwarding
 * it unchanged (which RFC 8945 5.5 lets a forwarder do) cannot work here:
 * erdns asks upstreams with its own ID and EDNS, which breaks the MAC. */
static void reply_badkey(pipeline_t *p)
{
	size_t len = reply_build_tsig_badkey(p->q, out_buf, sizeof(out_buf));
	if (len > 0)
		reply(p, out_buf, len, ER_CACHE_LOCAL, 0);
}

/* The live view of the first group: which server a query would ask now,
 * and its RTT. Returns the length written. */
static size_t describe_upstream(const pipeline_t *p, const route_description_t *d, char *text,
				size_t len)
{
	size_t gi = d->chain->groups[0];
	int s = forwarder_preferred_server(worker_forwarder(p->w), gi, uv_now(worker_loop(p->w)));
	if (s < 0)
		return 0;
	const config_group_t *g = &p->c->groups[gi];
	char addr[ER_SOCKADDR_TEXT_MAX];
	sockaddr_format((const struct sockaddr *)&g->servers[s], addr, sizeof(addr));
	int32_t rtt = rtt_srtt_ms(health_view_rtt(worker_health_view(p->w), g->health_ids[s]));
	int n = rtt >= 0 ? snprintf(text, len, " upstream=%s rtt_ms=%d", addr, (int)rtt)
			 : snprintf(text, len, " upstream=%s rtt_ms=unknown", addr);
	return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
}

/* The routing check: the offline description, the live view of the first
 * group, and the ExpressRoute audit's word on what is cached. */
static void describe_live(const pipeline_t *p, char *text, size_t len)
{
	route_description_t d;
	describe_route(p->c, p->q->qname, (const struct sockaddr *)&p->client->addr, &d);
	size_t used = describe_route_text(p->c, &d, text, len);
	if (!d.is_local)
		used += describe_upstream(p, &d, text + used, len - used);
	er_word_t er = d.is_local ? ER_WORD_NA
				  : audit_cached_er(worker_cache(p->w), p->c, &d.decision, p->q->qname,
						    uv_now(worker_loop(p->w)));
	snprintf(text + used, len - used, " er=%s", er_word_name(er));
}

static void answer_chaos(pipeline_t *p)
{
	char text[2048];
	switch (chaos_classify(p->q->qname)) {
	case CHAOS_ID_SERVER:
	case CHAOS_HOSTNAME_BIND:
		snprintf(text, sizeof(text), "%s", p->c->identity);
		break;
	case CHAOS_VERSION_SERVER:
		snprintf(text, sizeof(text), "erdns %s", ERDNS_VERSION);
		break;
	case CHAOS_ROUTING:
		describe_live(p, text, sizeof(text));
		break;
	}
	metrics_add(&p->m->chaos_answers, 1);
	p->meta.route_slot = ER_ROUTE_SLOT_CHAOS;
	size_t len = reply_build_txt(p->q, text, out_buf, sizeof(out_buf));
	if (len > 0)
		reply(p, out_buf, len, ER_CACHE_LOCAL, 0);
}

static void answer_local(pipeline_t *p)
{
	static _Thread_local uint8_t zone_buf[ER_REPLY_MAX];
	p->meta.route_slot = ER_ROUTE_SLOT_LOCAL;
	size_t len = zoneset_answer(p->c->zones, p->q, zone_buf, sizeof(zone_buf));
	if (len == 0) {
		reply_error(p, DNS_RCODE_SERVFAIL);
		return;
	}
	size_t limit = reply_size_limit(p->q, p->client->conn != NULL);
	size_t out = reply_finalize(p->q, zone_buf, len, ER_EDE_NONE, limit, out_buf,
				    sizeof(out_buf));
	metrics_add(&p->m->local_answers, 1);
	if (out > 0)
		reply(p, out_buf, out, ER_CACHE_LOCAL, 0);
}

/* A fresh cached answer for this route; one in the last tenth of its TTL is
 * also refreshed in the background (prefetch), so popular names never
 * expire under their clients. `ecs: pass` queries bypass the cache. */
static bool answer_from_cache(pipeline_t *p, const uint8_t *pkt, size_t len, uint32_t chain)
{
	static _Thread_local uint8_t cache_buf[ER_REPLY_MAX];
	if (!forward_is_shareable(p->c, p->q, chain))
		return false;
	cache_key_t key = cache_key_from_query(p->q, chain, p->c->route_epoch);
	cache_copy_t copy = { .out = cache_buf, .cap = sizeof(cache_buf), .id = p->q->id };
	if (cache_lookup(worker_cache(p->w), &key, uv_now(worker_loop(p->w)), &copy) != CACHE_HIT)
		return false;
	size_t limit = reply_size_limit(p->q, p->client->conn != NULL);
	size_t out = reply_finalize_forwarded(p->q, cache_buf, copy.len, ER_EDE_NONE, limit,
					      out_buf, sizeof(out_buf));
	if (out == 0)
		return false;
	metrics_add(&p->m->cache_answers, 1);
	if (config_m365_of(p->c, p->meta.rule) != NULL)
		p->er = er_word_of(copy.is_fallback, copy.er_verdict);
	reply(p, out_buf, out, ER_CACHE_HIT, chain);
	/* with meta: a refreshed answer of an m365 route is judged again */
	if (copy.should_prefetch && p->c->cache.prefetch)
		forward_start(worker_forwarder(p->w), NULL, &p->meta, pkt, len, p->q, chain);
	return true;
}

/* Answers what needs no upstream; returns false when the query is to be
 * forwarded. */
static bool answer_locally(pipeline_t *p, wire_status_t st)
{
	switch (st) {
	case WIRE_FORMERR:
		metrics_add(&p->m->formerr_sent, 1);
		reply_error(p, DNS_RCODE_FORMERR);
		return true;
	case WIRE_NOTIMP:
		metrics_add(&p->m->notimp_sent, 1);
		reply_error(p, DNS_RCODE_NOTIMP);
		return true;
	case WIRE_BADVERS:
		reply_error(p, DNS_RCODE_BADVERS);
		return true;
	case WIRE_TSIG:
		reply_badkey(p);
		return true;
	default:
		break;
	}
	const dns_query_t *q = p->q;
	if (q->qclass == DNS_CLASS_CH && q->qtype == DNS_TYPE_TXT) {
		answer_chaos(p);
		return true;
	}
	/* A forwarder serves class IN, and ANY (RFC 1035 3.2.5: it matches IN
	 * data; upstreams and local zones answer it as such); zone transfers
	 * are not proxied. */
	if ((q->qclass != DNS_CLASS_IN && q->qclass != DNS_CLASS_ANY) ||
	    q->qtype == DNS_TYPE_AXFR || q->qtype == DNS_TYPE_IXFR) {
		metrics_add(&p->m->notimp_sent, 1);
		reply_error(p, DNS_RCODE_NOTIMP);
		return true;
	}
	if (p->c->zones && zoneset_find(p->c->zones, q->qname)) {
		answer_local(p);
		return true;
	}
	/* RD=0 asks for what this server holds itself, and erdns is the
	 * authority only for its local zones: the cache is not offered to
	 * non-recursive queries (as Unbound's `allow` does not), so nobody
	 * learns by snooping which names the branch's clients asked for. */
	if (!(q->flags & DNS_FLAG_RD)) {
		reply_error_ede(p, DNS_RCODE_REFUSED, EDE_NOT_AUTHORITATIVE);
		return true;
	}
	return false;
}

/*
 * server.client_qps (server/ratelimit.h). After the ACL, so a refused
 * client spends nothing; before everything else, CHAOS and local zones
 * included, because the limit protects the worker, not only the upstreams.
 * A client over its rate gets no reply at all, over UDP or TCP (as with
 * Unbound's ip-ratelimit and dnsdist's MaxQPSIPRule with Drop): a REFUSED
 * or TC=1 reply per query is the work the limit is there to save, and
 * over UDP it goes to a source that may be forged, which would make erdns
 * a reflector for whoever floods it. Not in the query log either: a flood
 * must not fill the disk.
 */
static bool is_within_client_limit(const pipeline_t *p, const struct sockaddr *from)
{
	ratelimit_table_t *limit = worker_client_limit(p->w);
	if (limit == NULL || ratelimit_admit(limit, from, p->c->client_qps, p->c->client_burst,
					     uv_now(worker_loop(p->w))))
		return true;
	metrics_add(&p->m->rate_limited, 1);
	return false;
}

void query_receive(worker_t *w, const client_t *client, const uint8_t *pkt, size_t len)
{
	dns_query_t q;
	pipeline_t p = { .w = w, .c = worker_config(w), .m = worker_stats(w), .client = client,
			 .q = &q, .meta = { .route_slot = ER_ROUTE_SLOT_NONE, .view_index = -1 } };
	wire_status_t st = wire_parse_query(pkt, len, &q);
	if (st == WIRE_DROP) {
		metrics_add(&p.m->malformed_dropped, 1);
		return;
	}
	if (p.c->log_queries)
		p.meta.received_ns = uv_hrtime();
	metrics_add(&p.m->queries[client->conn ? ER_TRANSPORT_TCP : ER_TRANSPORT_UDP]
				 [metrics_qtype_index(q.qtype)],
		    1);
	const struct sockaddr *from = (const struct sockaddr *)&client->addr;
	if (!acl_allows(p.c->allow, from)) {
		metrics_add(&p.m->refused_acl, 1);
		reply_error(&p, DNS_RCODE_REFUSED);
		return;
	}
	if (p.c->client_qps != 0 && !is_within_client_limit(&p, from))
		return;
	if (answer_locally(&p, st))
		return;
	route_decision_t d;
	router_decide(p.c->router, q.qname, from, &d);
	p.meta.view_index = d.view_index;
	p.meta.rule = d.rule;
	p.meta.route_slot = d.rule ? d.rule->origin.route_slot
				   : p.c->default_slots[d.view_index + 1];
	if (answer_from_cache(&p, pkt, len, d.action))
		return;
	forward_start(worker_forwarder(w), client, &p.meta, pkt, len, &q, d.action);
}
