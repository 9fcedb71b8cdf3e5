/*
 * Parsing and dispatch of control requests, and the commands that change
 * or count things (stats, reload, flush, reopen, health); the ones that
 * show tables are in control_show.c.
 *
 * A request is words separated by blanks; the command table says how many
 * arguments each takes, so a typo gets the usage line back instead of being
 * half understood. Replies are built as cJSON objects and printed once,
 * unformatted, on one line.
 */
#include "ops/control_impl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dname.h"
#include "ops/health.h"

/* --- parsing ------------------------------------------------------------- */

bool control_byte_is_valid(uint8_t byte)
{
	return (byte >= 0x20 && byte < 0x7f) || byte == '\t';
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

int control_parse(const char *line, size_t len, control_request_t *out, char *err,
		  size_t errlen)
{
	out->argc = 0;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len > ER_CONTROL_LINE_MAX) {
		snprintf(err, errlen, "request longer than %d bytes", ER_CONTROL_LINE_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		if (!control_byte_is_valid((uint8_t)line[i])) {
			snprintf(err, errlen, "request contains a non-printable byte (0x%02x)",
				 (uint8_t)line[i]);
			return -EINVAL;
		}
	}
	memcpy(out->buf, line, len);
	out->buf[len] = '\0';
	for (char *p = out->buf; *p;) {
		while (is_blank(*p))
			*p++ = '\0';
		if (*p == '\0')
			break;
		if (out->argc == ER_CONTROL_ARGS_MAX) {
			snprintf(err, errlen, "too many words in the request (at most %d)",
				 ER_CONTROL_ARGS_MAX);
			return -EINVAL;
		}
		out->argv[out->argc++] = p;
		while (*p && !is_blank(*p))
			p++;
	}
	if (out->argc == 0) {
		snprintf(err, errlen, "empty request");
		return -EINVAL;
	}
	return 0;
}

/* --- reply helpers ------------------------------------------------------- */

cJSON *control_fail(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddFalseToObject(o, "ok");
	cJSON_AddStringToObject(o, "error", msg);
	return o;
}

cJSON *control_ok(void)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddTrueToObject(o, "ok");
	return o;
}

/* text + "\n" in a new buffer; frees text. */
static char *with_newline(char *text, size_t *out_len)
{
	if (text == NULL)
		return NULL;
	size_t n = strlen(text);
	char *s = realloc(text, n + 2);
	if (s == NULL) {
		free(text);
		return NULL;
	}
	s[n] = '\n';
	s[n + 1] = '\0';
	*out_len = n + 1;
	return s;
}

char *control_error_reply(const char *msg, size_t *out_len)
{
	cJSON *o = control_fail("%s", msg);
	char *text = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	return with_newline(text, out_len);
}

/* --- stats --------------------------------------------------------------- */

static void add_u64(cJSON *o, const char *name, uint64_t v)
{
	cJSON_AddNumberToObject(o, name, (double)v); /* exact below 2^53 */
}

static cJSON *sum_counters(const control_env_t *env, unsigned *n_workers)
{
	cJSON *o = cJSON_CreateObject();
	uint64_t sum[] = {
#define ER_CTL_ZERO(name, help) 0,
		ER_METRICS_COUNTERS(ER_CTL_ZERO)
#undef ER_CTL_ZERO
	};
	uint64_t inflight = 0;
	const metrics_t *m;
	for (*n_workers = 0; (m = env->worker_metrics(env->ctx, *n_workers)); (*n_workers)++) {
		size_t k = 0;
#define ER_CTL_SUM(name, help) sum[k++] += metrics_read(&m->name);
		ER_METRICS_COUNTERS(ER_CTL_SUM)
#undef ER_CTL_SUM
		inflight += metrics_read(&m->inflight);
	}
	size_t k = 0;
#define ER_CTL_ADD(name, help) add_u64(o, #name, sum[k++]);
	ER_METRICS_COUNTERS(ER_CTL_ADD)
#undef ER_CTL_ADD
	add_u64(o, "inflight", inflight);
	return o;
}

static cJSON *cache_counters(cache_t *cache)
{
	cache_stats_t st;
	cache_get_stats(cache, &st);
	cJSON *o = cJSON_CreateObject();
	add_u64(o, "entries", st.entries);
	add_u64(o, "bytes", st.bytes);
	add_u64(o, "max_bytes", st.max_bytes);
	add_u64(o, "hits", st.hits);
	add_u64(o, "misses", st.misses);
	add_u64(o, "stale_hits", st.stale_hits);
	add_u64(o, "evictions", st.evictions);
	add_u64(o, "inserts", st.inserts);
	add_u64(o, "prefetches", st.prefetches);
	return o;
}

static void cmd_stats(const control_env_t *env, const control_request_t *req, uint64_t now_ms,
		      control_reply_t *out)
{
	(void)req;
	unsigned n_workers;
	cJSON *counters = sum_counters(env, &n_workers);
	out->json = control_ok();
	add_u64(out->json, "uptime_s",
		now_ms > env->started_ms ? (now_ms - env->started_ms) / 1000 : 0);
	add_u64(out->json, "workers", n_workers);
	cJSON_AddItemToObject(out->json, "counters", counters);
	cJSON_AddItemToObject(out->json, "cache", cache_counters(env->cache));
}

/* --- reload, reopen, health ---------------------------------------------- */

static void cmd_reload(const control_env_t *env, const control_request_t *req, uint64_t now_ms,
		       control_reply_t *out)
{
	(void)req;
	(void)now_ms;
	char msg[ER_CONFIG_ERR_MAX + 256];
	cJSON *changes = NULL;
	if (env->reload(env->ctx, msg, sizeof(msg), &changes) < 0) {
		out->json = control_fail("%s", msg);
		return;
	}
	out->json = control_ok();
	cJSON_AddStringToObject(out->json, "message", msg);
	cJSON_AddStringToObject(out->json, "config", env->config(env->ctx)->path);
	if (changes)
		cJSON_AddItemToObject(out->json, "changes", changes);
}

static void cmd_reopen(const control_env_t *env, const control_request_t *req, uint64_t now_ms,
		       control_reply_t *out)
{
	(void)req;
	(void)now_ms;
	char msg[512];
	if (env->reopen(env->ctx, msg, sizeof(msg)) < 0) {
		out->json = control_fail("%s", msg);
		return;
	}
	out->json = control_ok();
	cJSON_AddStringToObject(out->json, "message", msg);
}

static void cmd_health(const control_env_t *env, const control_request_t *req, uint64_t now_ms,
		       control_reply_t *out)
{
	(void)req;
	(void)now_ms;
	char reason[512];
	ops_health_t h = ops_health_check(env->config(env->ctx), env->health,
					  env->is_serving(env->ctx), reason, sizeof(reason));
	out->json = control_ok();
	cJSON_AddStringToObject(out->json, "status", ops_health_name(h));
	cJSON_AddStringToObject(out->json, "reason", reason);
}

/* --- flush --------------------------------------------------------------- */

static void cmd_flush(const control_env_t *env, const control_request_t *req, uint64_t now_ms,
		      control_reply_t *out)
{
	(void)now_ms;
	bool is_subtree = req->argc >= 2 && strcmp(req->argv[1], "--subtree") == 0;
	int n_names = req->argc - 1 - (is_subtree ? 1 : 0);
	if (n_names > 1 || (is_subtree && n_names != 1)) {
		out->json = control_fail("usage: flush [[--subtree] NAME]");
		return;
	}
	const char *name = n_names ? req->argv[req->argc - 1] : NULL;
	uint8_t wire[ER_DNAME_MAX];
	if (name && dname_from_text(name, wire) == 0) {
		out->json = control_fail("flush: \"%s\" is not a valid domain name", name);
		return;
	}
	size_t removed = name == NULL ? cache_flush_all(env->cache)
			 : is_subtree ? cache_flush_subtree(env->cache, wire)
				      : cache_flush_name(env->cache, wire);
	out->json = control_ok();
	cJSON_AddStringToObject(out->json, "scope",
				name == NULL ? "all" : is_subtree ? "subtree" : "name");
	if (name)
		cJSON_AddStringToObject(out->json, "name", name);
	add_u64(out->json, "removed", removed);
}

/* --- dispatch ------------------------------------------------------------ */

static const struct {
	const char *name;
	int min_args, max_args;
	const char *usage;
	control_cmd_fn run;
} commands[] = {
	{ "stats", 0, 0, "stats", cmd_stats },
	{ "reload", 0, 0, "reload", cmd_reload },
	{ "flush", 0, 2, "flush [[--subtree] NAME]", cmd_flush },
	{ "upstreams", 0, 0, "upstreams", control_cmd_upstreams },
	{ "explain", 1, 2, "explain NAME [IP]", control_cmd_explain },
	{ "cache-dump", 0, 0, "cache-dump", control_cmd_cache_dump },
	{ "health", 0, 0, "health", cmd_health },
	{ "reopen", 0, 0, "reopen", cmd_reopen },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void dispatch(const control_env_t *env, const control_request_t *req, uint64_t now_ms,
		     control_reply_t *out)
{
	for (size_t i = 0; i < N_COMMANDS; i++) {
		if (strcmp(req->argv[0], commands[i].name) != 0)
			continue;
		int n = req->argc - 1;
		if (n < commands[i].min_args || n > commands[i].max_args)
			out->json = control_fail("usage: %s", commands[i].usage);
		else
			commands[i].run(env, req, now_ms, out);
		return;
	}
	char known[256] = "";
	for (size_t i = 0; i < N_COMMANDS; i++) {
		strcat(known, i ? ", " : "");
		strcat(known, commands[i].name);
	}
	out->json = control_fail("unknown command \"%.64s\" (known: %s)", req->argv[0], known);
}

char *control_run(const control_env_t *env, const char *line, size_t len, uint64_t now_ms,
		  size_t *out_len)
{
	control_request_t *req = malloc(sizeof(*req));
	if (req == NULL)
		return NULL;
	char err[128];
	control_reply_t reply = { 0 };
	if (control_parse(line, len, req, err, sizeof(err)) < 0)
		reply.json = control_fail("%s", err);
	else
		dispatch(env, req, now_ms, &reply);
	free(req);
	char *text = reply.text;
	if (text == NULL && reply.json)
		text = cJSON_PrintUnformatted(reply.json);
	cJSON_Delete(reply.json);
	return with_newline(text, out_len);
}
