/*
 * The commands of the control socket (SPEC 1 `erdns ctl`, SPEC 4): one
 * request line in, one JSON object out. No libuv here: ops/control.c is
 * the socket; this file parses and runs requests against the server's
 * state, which the server lends through control_env_t, so the commands are
 * tested without a loop or a socket.
 *
 * Everything runs on the main thread, never on a worker: the cache and the
 * health table are thread-safe, the metrics are read with relaxed loads,
 * and the snapshot is the one the main thread itself swaps on reload.
 */
#ifndef ERDNS_OPS_CONTROL_CMD_H
#define ERDNS_OPS_CONTROL_CMD_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/cache.h"
#include "config/config.h"
#include "ops/metrics.h"
#include "upstream/health_table.h"

/* A request line, without its "\n" (SPEC: one line per connection). */
#define ER_CONTROL_LINE_MAX 4096
/* Words in a request: `flush --subtree NAME` is the longest. */
#define ER_CONTROL_ARGS_MAX 4
/* `cache-dump` stops here (and says so): 16.6 MB of JSON, ~0.3 s (test_control_cmd). */
#define ER_CONTROL_DUMP_MAX 100000

/* What the commands act on, lent by the server; every callback runs on the
 * main thread, during the command. */
typedef struct control_env {
	void *ctx; /* passed to every callback */
	/* The snapshot in force (borrowed until the next reload). */
	const config_t *(*config)(void *ctx);
	/* Worker i's counters, NULL past the last worker. */
	const metrics_t *(*worker_metrics)(void *ctx, unsigned i);
	/* Reloads as SIGHUP does. 0: msg says what changed and *changes holds
	 * the details (config/diff.h; caller frees); <0: msg is the error and
	 * the running configuration stays. */
	int (*reload)(void *ctx, char *msg, size_t len, cJSON **changes);
	/* Reopens the log files (logrotate). 0 or <0, msg says what happened. */
	int (*reopen)(void *ctx, char *msg, size_t len);
	/* Whether the workers serve DNS (SPEC 4 /health: "not serving"). */
	bool (*is_serving)(void *ctx);
	cache_t *cache;
	health_table_t *health;
	uint64_t started_ms; /* the clock of now_ms below, when the server started */
} control_env_t;

/* A parsed request: words of buf. */
typedef struct control_request {
	int argc;
	const char *argv[ER_CONTROL_ARGS_MAX];
	char buf[ER_CONTROL_LINE_MAX + 1];
} control_request_t;

/* Whether byte may appear in a request line: printable ASCII, space, tab. */
bool control_byte_is_valid(uint8_t byte);

/*
 * Splits line (len bytes, no "\n"; a trailing "\r" is dropped) into words.
 * Returns 0, or -EINVAL with a one-line reason in err (empty, too long,
 * bad bytes, too many words).
 */
int control_parse(const char *line, size_t len, control_request_t *out, char *err,
		  size_t errlen);

/*
 * Runs one request line and returns the reply: one JSON object and "\n",
 * malloc'd, *out_len bytes (caller frees). now_ms: the workers' clock
 * (uv_now). Unknown commands and bad arguments get {"ok":false,"error":..}.
 * NULL only when out of memory.
 */
char *control_run(const control_env_t *env, const char *line, size_t len, uint64_t now_ms,
		  size_t *out_len);

/* {"ok":false,"error":MSG}\n, malloc'd; NULL when out of memory. */
char *control_error_reply(const char *msg, size_t *out_len);

#endif
