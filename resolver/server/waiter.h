/*
 * Clients waiting for one upstream answer (waiter.c). Each keeps its own
 * copy of its query, because the ID, the question's case and the EDNS size
 * differ between clients that share one upstream query. A waiter holds its
 * TCP connection (tcp_conn_hold) until it is answered or dropped.
 */
#ifndef ERDNS_SERVER_WAITER_H
#define ERDNS_SERVER_WAITER_H

#include "dns/wire.h"
#include "server/client.h"

typedef struct waiter waiter_t;

/* What the waiters' answer was and where it came from, for the query events. */
typedef struct answer_info {
	const config_t *config; /* the forward's snapshot */
	uint32_t chain;
	int upstream; /* health id of the server that answered, -1: none */
	bool is_fallback;
	cache_result_kind_t cache; /* MISS, or STALE, or HIT (another forward's) */
	uint8_t er; /* er_word_t (routing/er_audit.h): the `er` of the query events */
} answer_info_t;

/* q points into pkt; both are copied, and so is meta (NULL: nothing known,
 * a prefetch). NULL on allocation failure. */
waiter_t *waiter_new(const client_t *client, const uint8_t *pkt, size_t len, const dns_query_t *q,
		     const query_meta_t *meta);
waiter_t *waiter_next(const waiter_t *wt);
void waiter_set_next(waiter_t *wt, waiter_t *next);
/* Answers every waiter of list with resp (rewritten per client: ID, case,
 * EDNS, truncation; RA=1, AA=0) and frees them. ede: ER_EDE_NONE or EDE 3. */
void waiters_answer(const reply_sink_t *sink, waiter_t *list, const uint8_t *resp, size_t len,
		    int ede, const answer_info_t *info);
/* Answers every waiter SERVFAIL (with ede unless ER_EDE_NONE) and frees them. */
void waiters_fail(const reply_sink_t *sink, waiter_t *list, int ede, const answer_info_t *info);
/* Frees every waiter without answering (shutdown). */
void waiters_drop(waiter_t *list);

#endif
