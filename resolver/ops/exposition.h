/*
 * The Prometheus text exposition (format 0.0.4) of erdns's metrics (SPEC 4):
 * the workers' counters summed, the health table's up/down gauges, the
 * cache's statistics, the reload counters and the age of each imported
 * Microsoft 365 list. Runs on the HTTP thread; reads the workers' tables
 * with relaxed loads (ops/metrics.h).
 */
#ifndef ERDNS_OPS_EXPOSITION_H
#define ERDNS_OPS_EXPOSITION_H

#include <stddef.h>
#include <stdint.h>

#include "cache/cache.h"
#include "config/config.h"
#include "ops/metrics.h"
#include "upstream/health_table.h"

typedef struct metrics_source {
	const config_t *config; /* the snapshot in force; its labels name the cells */
	const metrics_t *const *workers;
	size_t n_workers;
	const health_table_t *health;
	cache_t *cache;
	uint64_t reloads_ok, reloads_failed;
	double last_reload_ok_s; /* Unix time of the last good load (start or reload) */
	double start_time_s; /* Unix time erdns started */
	double now_s; /* Unix time of the scrape (list ages) */
} metrics_source_t;

/* Renders every family. Returns a NUL-terminated text the caller frees and
 * its length in *len, or NULL when out of memory. */
char *metrics_render(const metrics_source_t *src, size_t *len);

/* The version the M365 refresh job recorded beside list (LIST.version, its
 * first line, at most cap - 1 characters), or "" when there is none. */
void metrics_m365_version(const char *list, char *out, size_t cap);

#endif
