/*
 * Clients waiting for one upstream answer. Identical questions on the same
 * route share one upstream query (SPEC 3: no thundering herd at expiry, and
 * no birthday attack on our own outstanding queries), but each client gets
 * the answer in its own terms: its ID, its question's case, its EDNS size.
 * So a waiter keeps its own copy of its query packet.
 */
#include <stdlib.h>
#include <string.h>

#include "server/waiter.h"

#include "dns/reply.h"
#include "server/tcp_listener.h"


struct waiter {
	waiter_t *next;
	client_t client;
	query_meta_t meta;
	dns_query_t q; /* points into pkt */
	size_t pkt_len;
	uint8_t pkt[];
};

static _Thread_local uint8_t waiter_buf[ER_REPLY_MAX];

waiter_t *waiter_new(const client_t *client, const uint8_t *pkt, size_t len, const dns_query_t *q,
		     const query_meta_t *meta)
{
	waiter_t *wt = malloc(sizeof(*wt) + len);
	if (wt == NULL)
		return NULL;
	wt->next = NULL;
	wt->client = *client;
	wt->meta = meta ? *meta : (query_meta_t){ .route_slot = ER_ROUTE_SLOT_NONE, .view_index = -1 };
	memcpy(wt->pkt, pkt, len);
	wt->pkt_len = len;
	wt->q = *q;
	wt->q.qname = wt->pkt + (q->qname - pkt); /* q points into pkt: rebase */
	wt->q.ecs = q->ecs ? wt->pkt + (q->ecs - pkt) : NULL;
	if (client->conn)
		tcp_conn_hold(client->conn);
	return wt;
}

waiter_t *waiter_next(const waiter_t *wt)
{
	return wt->next;
}

void waiter_set_next(waiter_t *wt, waiter_t *next)
{
	wt->next = next;
}

static void waiter_free(waiter_t *wt)
{
	if (wt->client.conn)
		tcp_conn_release(wt->client.conn);
	free(wt);
}

void waiters_drop(waiter_t *list)
{
	while (list) {
		waiter_t *next = list->next;
		waiter_free(list);
		list = next;
	}
}

static void record(const reply_sink_t *sink, const waiter_t *wt, const uint8_t *reply,
		   const answer_info_t *info)
{
	if (sink->done == NULL || info == NULL)
		return;
	query_event_t ev = {
		.client = &wt->client,
		.q = &wt->q,
		.config = info->config,
		.meta = &wt->meta,
		.chain = info->chain,
		.is_routed = true,
		.is_fallback = info->is_fallback,
		.upstream = info->upstream,
		.rcode = DNS_RCODE(wire_read_u16(reply + 2)),
		.cache = info->cache,
		.er = info->er,
	};
	sink->done(sink->ctx, &ev);
}

static void answer_one(const reply_sink_t *sink, waiter_t *wt, const uint8_t *resp, size_t len,
		       int ede, const answer_info_t *info)
{
	size_t limit = reply_size_limit(&wt->q, wt->client.conn != NULL);
	size_t out = reply_finalize_forwarded(&wt->q, resp, len, ede, limit, waiter_buf,
					      sizeof(waiter_buf));
	if (out == 0) {
		metrics_add(&sink->stats->servfail_sent, 1);
		out = reply_build_error(&wt->q, DNS_RCODE_SERVFAIL, ER_EDE_NONE, waiter_buf,
					sizeof(waiter_buf));
	} else if ((wire_read_u16(waiter_buf + 2) & DNS_FLAG_TC) &&
		   !(wire_read_u16(resp + 2) & DNS_FLAG_TC)) {
		metrics_add(&sink->stats->truncated_sent, 1);
	}
	if (out > 0) {
		sink->send(sink->ctx, &wt->client, waiter_buf, out);
		record(sink, wt, waiter_buf, info);
	}
}

void waiters_answer(const reply_sink_t *sink, waiter_t *list, const uint8_t *resp, size_t len,
		    int ede, const answer_info_t *info)
{
	while (list) {
		waiter_t *next = list->next;
		answer_one(sink, list, resp, len, ede, info);
		waiter_free(list);
		list = next;
	}
}

void waiters_fail(const reply_sink_t *sink, waiter_t *list, int ede, const answer_info_t *info)
{
	while (list) {
		waiter_t *next = list->next;
		metrics_add(&sink->stats->servfail_sent, 1);
		size_t out = reply_build_error(&list->q, DNS_RCODE_SERVFAIL, ede, waiter_buf,
					       sizeof(waiter_buf));
		if (out > 0) {
			sink->send(sink->ctx, &list->client, waiter_buf, out);
			record(sink, list, waiter_buf, info);
		}
		waiter_free(list);
		list = next;
	}
}
