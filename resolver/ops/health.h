/*
 * The health verdict of a running server (SPEC 4 `GET /health`, `erdns ctl
 * health`), as one pure rule over the configuration snapshot and the shared
 * upstream health, so the HTTP endpoint and the control socket can never
 * disagree:
 *
 *   down      the server is not serving, or no group of the default chain
 *             has a reachable server (its answers cannot flow at all);
 *   degraded  some route chain has no reachable server in its first group
 *             (answers may still come from a later group, off the preferred
 *             path, or the chain fails);
 *   ok        otherwise.
 *
 * A server is reachable when the health table does not hold it down. A
 * degraded instance should be less preferred, not withdrawn: when the
 * ExpressRoute path fails for a whole site every instance degrades at once,
 * and all of them must keep answering.
 */
#ifndef ERDNS_OPS_HEALTH_H
#define ERDNS_OPS_HEALTH_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "upstream/health_table.h"

typedef enum { OPS_HEALTH_OK, OPS_HEALTH_DEGRADED, OPS_HEALTH_DOWN } ops_health_t;

/*
 * The verdict for c (whose health ids t has applied). reason gets one line
 * saying why ("" when ok), e.g. "no reachable server in group hq, first of
 * chain hq,branch (and 1 more chain)"; truncated to len - 1.
 */
ops_health_t ops_health_check(const config_t *c, const health_table_t *t, bool is_serving,
			      char *reason, size_t len);

/* "ok", "degraded", "down": the first word of the /health body. */
const char *ops_health_name(ops_health_t h);

#endif
