/*
 * The per-query pipeline (query.c): listener -> ACL -> client rate limit
 * -> CHAOS -> local zone -> route -> cache -> forwarder.
 */
#ifndef ERDNS_SERVER_QUERY_H
#define ERDNS_SERVER_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "server/client.h"
#include "server/worker.h"

/* A query of len bytes from client; pkt is valid during the call. */
void query_receive(worker_t *w, const client_t *client, const uint8_t *pkt, size_t len);
/* Sends msg to the client over its transport (a reply_sink_t's send). */
void query_reply(void *worker, const client_t *client, const uint8_t *msg, size_t len);
/* Counts an answered query and logs it (a reply_sink_t's done). */
void query_record(void *worker, const query_event_t *ev);

#endif
