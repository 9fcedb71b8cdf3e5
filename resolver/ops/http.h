/*
 * The HTTP endpoint of SPEC 4 on metrics.listen: GET /metrics (Prometheus
 * text 0.0.4, ops/exposition.h) and GET /health (ops/health.h) for a load
 * balancer or an anycast announcer. libmicrohttpd serves it on a thread of
 * its own (one epoll loop), so no DNS worker ever runs HTTP code; the
 * server lends it what a request reads through http_hooks_t.
 *
 * Lifecycle, as the server uses it: http_new binds and listens (before the
 * privileges drop, so a bind error stops erdns before anything runs),
 * http_start starts serving once the workers run, http_free stops (joins
 * the HTTP thread) before the workers and their counters are freed.
 */
#ifndef ERDNS_OPS_HTTP_H
#define ERDNS_OPS_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "ops/exposition.h"

typedef struct http http_t;

/* What a request reads, lent by the server; called on the HTTP thread. */
typedef struct http_hooks {
	/*
	 * Fills *src for one request: the snapshot in force with a reference
	 * the request holds until release (a reload may swap it meanwhile),
	 * the workers' tables, health table, cache, reload counters and times.
	 * *is_serving: the workers run and no stop has begun.
	 */
	void (*acquire)(void *ctx, metrics_source_t *src, bool *is_serving);
	/* Drops what acquire took (the snapshot's reference). */
	void (*release)(void *ctx, metrics_source_t *src);
	void *ctx;
} http_hooks_t;

/*
 * Parses listen ("IP:PORT" or "[IPv6]:PORT"), binds and listens. hooks is
 * copied. Returns an endpoint that does not serve yet, or NULL with a
 * one-line message in err ("cannot listen on metrics.listen 127.0.0.1:9253:
 * Address already in use").
 */
http_t *http_new(const char *listen, const http_hooks_t *hooks, char *err, size_t errlen);
/* Starts the HTTP thread. 0, or -errno (then http_free). */
int http_start(http_t *h);
/* Stops serving: closes every connection and joins the HTTP thread; no hook
 * runs after it returns. Frees h. NULL is ignored. */
void http_free(http_t *h);

#endif
