/*
 * Active health probes (probe.c): one prober for the whole server, on one
 * worker's loop, asks every address marked down ". NS" on its probe
 * schedule until it answers. Queries never wait on it.
 */
#ifndef ERDNS_SERVER_PROBE_H
#define ERDNS_SERVER_PROBE_H

#include "server/outbound.h"
#include "ops/metrics.h"
#include "upstream/health_table.h"

typedef struct prober prober_t;

/* Borrows every argument; NULL on allocation failure. */
prober_t *prober_new(const outbound_t *out, health_table_t *health, health_view_t *view,
		     metrics_t *stats);
/* Starts a probe for every address whose probe time has come. */
void prober_tick(prober_t *p);
/* Cancels probes in flight (their callbacks will not run) and frees. */
void prober_free(prober_t *p);

#endif
