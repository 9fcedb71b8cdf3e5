/*
 * Internal to the control commands (control_cmd.c, control_show.c): the
 * command signature and the reply helpers.
 */
#ifndef ERDNS_OPS_CONTROL_IMPL_H
#define ERDNS_OPS_CONTROL_IMPL_H

#include "ops/control_cmd.h"

/* A command's reply: a JSON object, or (for output too large to hold as
 * cJSON nodes) its text already printed, without the final "\n". */
typedef struct control_reply {
	cJSON *json;
	char *text; /* malloc'd */
	size_t text_len;
} control_reply_t;

typedef void (*control_cmd_fn)(const control_env_t *env, const control_request_t *req,
			       uint64_t now_ms, control_reply_t *out);

/* {"ok":false,"error":...}; NULL when out of memory. */
cJSON *control_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* {"ok":true}, for the command to add to. */
cJSON *control_ok(void);

void control_cmd_upstreams(const control_env_t *env, const control_request_t *req,
			   uint64_t now_ms, control_reply_t *out);
void control_cmd_explain(const control_env_t *env, const control_request_t *req,
			 uint64_t now_ms, control_reply_t *out);
void control_cmd_cache_dump(const control_env_t *env, const control_request_t *req,
			    uint64_t now_ms, control_reply_t *out);

#endif
