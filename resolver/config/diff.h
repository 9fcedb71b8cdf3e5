/*
 * What a reload changes (SPEC 3 reload, `erdns ctl reload`): the server
 * reports it to the operator who asked, and logs it for SIGHUP. Pure: two
 * snapshots in, a JSON object out; nothing is applied here.
 */
#ifndef ERDNS_CONFIG_DIFF_H
#define ERDNS_CONFIG_DIFF_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"

/* Same listen addresses in the same order (else a restart is needed). */
bool config_same_listeners(const config_t *a, const config_t *b);
/* Same chains at the same indexes: the route epoch may stay (cache keys
 * carry chain indexes, cache/cache.h). */
bool config_same_chains(const config_t *a, const config_t *b);

/*
 * The changes from old to next, as an object (caller frees with
 * cJSON_Delete; NULL when out of memory):
 *   "groups":   { "added": [NAME...], "removed": [...], "changed": [...] }
 *   "rules":    [ { "scope": "global" | "view NAME", "domains": N,
 *                   "m365": N, "was_domains": N, "was_m365": N } ... ]
 *               (every scope of next, then scopes only old had, at 0)
 *   "zones":    { "count": N, "added": [APEX...], "removed": [...] }
 *   "chains":   { "count": N, "renumbered": BOOL }
 *   "restart_needed": [ "server.listen", "server.threads", "control.socket" ]
 *               (the keys that changed but only take effect at a restart)
 */
cJSON *config_diff(const config_t *old, const config_t *next);

/* One line for the log from a config_diff object, e.g. "groups +1 -0 ~1,
 * 7 rules (was 6), 2 zones, routes renumbered; restart needed for
 * server.listen". */
void config_diff_summary(const cJSON *diff, char *buf, size_t len);

#endif
